/*
 * The timeline's faults as the drill applies them (drill.h, docs/drills.md
 * "Timeline lines"), each logged with what was done or why it could not be.
 * Moved out of drill_run.c as it was.
 */
#include "drill.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---------------- faults ---------------- */

static void
logf_fault(struct drill *d, int f, int ok, const char *fmt, ...)
{
	struct drill_fault_log *l = &d->flog[d->nflog++];
	va_list ap;

	l->fault = f;
	l->at_ms = drill_clock_ms(d);
	l->ok = ok;
	va_start(ap, fmt);
	vsnprintf(l->what, sizeof l->what, fmt, ap);
	va_end(ap);
	drill_say(d, "[%4llds] %s %s\n", (long long)(l->at_ms / 1000),
	    ok ? "fault:" : "FAULT FAILED:", l->what);
}

void
drill_apply_fault(struct drill *d, int fi)
{
	const struct scenario *s = d->s;
	const struct scn_fault *f = &s->fault[fi];
	const char *sn = f->a < s->nsites ? s->site[f->a].name : "";

	switch (f->kind) {
	case SCN_BROKER_DOWN:
		drill_broker_kill(&d->broker[f->a]);
		logf_fault(d, fi, 1, "the broker of %s killed (kill -9)", sn);
		break;
	case SCN_BROKER_UP:
		if (drill_broker_start(d, f->a) == 0)
			logf_fault(d, fi, 1, "the broker of %s restarted", sn);
		else
			logf_fault(d, fi, 0, "the broker of %s did not restart (see %s)", sn,
			    d->broker[f->a].log);
		break;
	case SCN_SITE_DARK: {
		int radios = 0;

		drill_broker_kill(&d->broker[f->a]);
		for (int i = 0; i < s->nnodes; i++)
			if (s->node[i].site == f->a) {
				drill_node_kill(d, i, SIGKILL);
				d->node[i].killed = 1;
				if (s->node[i].lora >= 0) {
					drill_radio_kill(d, i, SIGKILL);
					radios++;
				}
			}
		d->dark[f->a] = 1;
		logf_fault(d, fi, 1, "site %s dark: its broker, its nodes%s killed (kill -9)", sn,
		    radios ? " and their LoRa modems" : "");
		break;
	}
	case SCN_SITE_BACK: {
		int ok = !s->site[f->a].broker || drill_broker_start(d, f->a) == 0;

		for (int i = 0; i < s->nnodes; i++)
			if (s->node[i].site == f->a) {
				if (s->node[i].lora >= 0)
					ok &= drill_radio_start(d, i) == 0;
				ok &= drill_node_start(d, i) == 0;
				d->node[i].killed = 0;
			}
		d->dark[f->a] = 0;
		logf_fault(d, fi, ok, "site %s back: broker, modems and nodes started", sn);
		break;
	}
	case SCN_RADIO_DOWN:
		drill_radio_kill(d, f->a, SIGKILL);
		logf_fault(d, fi, 1, "the LoRa modem of %s killed (kill -9)", s->node[f->a].name);
		break;
	case SCN_RADIO_UP:
		logf_fault(d, fi, drill_radio_start(d, f->a) == 0, "the LoRa modem of %s started "
		    "again", s->node[f->a].name);
		break;
	case SCN_PARTITION:
	case SCN_HEAL:
		for (int b = 0; b < s->nbridges; b++)
			if ((s->bridge[b].a == f->a && s->bridge[b].b == f->b) ||
			    (s->bridge[b].a == f->b && s->bridge[b].b == f->a))
				relay_cut(d->relay[b], f->kind == SCN_PARTITION);
		logf_fault(d, fi, 1, "bridge %s-%s %s", s->site[f->a].name, s->site[f->b].name,
		    f->kind == SCN_PARTITION ? "cut (partition)" : "restored (heal)");
		break;
	case SCN_KILL:
		drill_node_kill(d, f->a, SIGKILL);
		d->node[f->a].killed = 1;
		logf_fault(d, fi, 1, "node %s killed (kill -9)", s->node[f->a].name);
		break;
	case SCN_RESTART:
		d->node[f->a].killed = 0;
		logf_fault(d, fi, drill_node_start(d, f->a) == 0, "node %s restarted",
		    s->node[f->a].name);
		break;
	case SCN_REVOKE: {
		char path[DRILL_PATH_MAX + 64], hq[DRILL_PATH_MAX + 16], err[256];
		cJSON *p, *r;
		int rc;

		snprintf(hq, sizeof hq, "%s/run/hq", d->out);
		snprintf(path, sizeof path, "%s/run/revoke-%s.apg", d->out, s->node[f->a].name);
		rc = drill_cli(d, NULL, "admin", "--dir", hq, "revoke", "--id", s->node[f->a].name,
		    "--out", path, "--reason", "device lost (drill)", NULL);
		if (rc != 0) {
			logf_fault(d, fi, 0, "apagon admin revoke %s failed (exit %d; see "
			    "run/setup.log)", s->node[f->a].name, rc);
			break;
		}
		d->node[f->a].revoked_ms = drill_clock_ms(d);
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "path", path);
		if ((r = drill_rpc(d, f->b, "import", p, err, sizeof err)) == NULL) {
			logf_fault(d, fi, 0, "revocation of %s written, but %s did not import it: "
			    "%s", s->node[f->a].name, s->node[f->b].name, err);
			break;
		}
		cJSON_Delete(r);
		logf_fault(d, fi, 1, "%s revoked by the authority; the revocation imported at %s",
		    s->node[f->a].name, s->node[f->b].name);
		break;
	}
	}
}
