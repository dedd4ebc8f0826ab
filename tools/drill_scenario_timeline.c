/*
 * The scenario's timeline (drill_scenario.h, docs/drills.md "Timeline lines"): each
 * line read as it comes, then the whole timeline replayed in time order so that a
 * fault that makes no sense where it falls (a restart of a node that is running, a
 * heal of a bridge that is not cut) is refused with its line. Moved out of
 * drill_scenario.c as it was.
 */
#include "drill_scenario_parse.h"

#include <stdlib.h>
#include <string.h>

/* ---------------- timeline ---------------- */

int
scn_timeline(struct parser *p)
{
	struct scenario *s = p->s;
	struct scn_fault f;
	const char *what;
	int k, args;

	memset(&f, 0, sizeof f);
	f.line = p->line;
	f.b = -1;
	if (p->nwords < 3 || strcmp(p->words[0], "at") != 0)
		return scn_fail(p, "a timeline line is \"at TIME WHAT ARGS\", e.g. \"at 30s "
		    "broker-down interior\"");
	for (int i = 0; i < p->nwords; i++)
		if (p->quoted[i])
			return scn_fail(p, "no quotes in the timeline");
	if (scn_need_time(p, "at", p->words[1], &f.at_ms) != 0)
		return -1;
	what = p->words[2];
	for (k = 0; k < SCN_NFAULT; k++)
		if (strcmp(what, scenario_fault_name(k)) == 0)
			break;
	if (k == SCN_NFAULT)
		return scn_fail(p, "unknown event \"%.40s\": expected broker-down, broker-up, "
		    "site-dark, site-back, partition, heal, kill, restart, revoke, radio-down or "
		    "radio-up", what);
	f.kind = k;
	args = p->nwords - 3;
	switch (k) {
	case SCN_BROKER_DOWN:
	case SCN_BROKER_UP:
	case SCN_SITE_DARK:
	case SCN_SITE_BACK:
		if (args != 1)
			return scn_fail(p, "write \"at TIME %s SITE\"", what);
		if (scn_need_site(p, p->words[3], &f.a) != 0)
			return -1;
		if (k <= SCN_BROKER_UP && !s->site[f.a].broker)
			return scn_fail(p, "site \"%s\" has no broker", p->words[3]);
		break;
	case SCN_PARTITION:
	case SCN_HEAL:
		if (args != 2)
			return scn_fail(p, "write \"at TIME %s SITE SITE\"", what);
		if (scn_need_site(p, p->words[3], &f.a) != 0 ||
		    scn_need_site(p, p->words[4], &f.b) != 0)
			return -1;
		if (scn_find_bridge(s, f.a, f.b) < 0)
			return scn_fail(p, "no [bridge %s %s] to cut or heal", p->words[3],
			    p->words[4]);
		break;
	case SCN_KILL:
	case SCN_RESTART:
	case SCN_RADIO_DOWN:
	case SCN_RADIO_UP:
		if (args != 1)
			return scn_fail(p, "write \"at TIME %s NODE\"", what);
		if (scn_need_node(p, p->words[3], &f.a) != 0)
			return -1;
		if (k >= SCN_RADIO_DOWN && s->node[f.a].lora < 0)
			return scn_fail(p, "node %s has no radio: give it lora = CHANNEL X Y in its "
			    "[node] section", p->words[3]);
		break;
	case SCN_REVOKE:
		if (args != 3 || strcmp(p->words[4], "via") != 0)
			return scn_fail(p, "write \"at TIME revoke NODE via NODE\" (the second node "
			    "imports the revocation)");
		if (scn_need_node(p, p->words[3], &f.a) != 0 ||
		    scn_need_node(p, p->words[5], &f.b) != 0)
			return -1;
		if (f.a == f.b)
			return scn_fail(p, "the revocation must be imported at another node");
		break;
	}
	if (s->nfaults == SCN_FAULTS_MAX)
		return scn_fail(p, "too many timeline lines (at most %d)", SCN_FAULTS_MAX);
	s->fault[s->nfaults++] = f;
	return 0;
}


static int
cmp_fault(const void *a, const void *b)
{
	const struct scn_fault *x = a, *y = b;

	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	return x->line - y->line;
}

/* Replay the timeline in order: every fault must make sense in the state it meets. */
int
scn_check_timeline(struct parser *p)
{
	struct scenario *s = p->s;
	int broker_down[SCN_SITES_MAX] = { 0 }, dark[SCN_SITES_MAX] = { 0 };
	int dead[SCN_NODES_MAX] = { 0 }, revoked[SCN_NODES_MAX] = { 0 };
	int radio_down[SCN_NODES_MAX] = { 0 };
	int cut[SCN_BRIDGES_MAX] = { 0 };

	qsort(s->fault, (size_t)s->nfaults, sizeof s->fault[0], cmp_fault);
	for (int i = 0; i < s->nfaults; i++) {
		const struct scn_fault *f = &s->fault[i];
		const char *sn = f->a >= 0 && f->a < s->nsites ? s->site[f->a].name : "";
		const char *nn = f->a >= 0 && f->a < s->nnodes ? s->node[f->a].name : "";

		p->line = f->line;
		if (f->at_ms > s->duration_ms)
			return scn_fail(p, "this comes after the drill's duration (%us)",
			    (unsigned)(s->duration_ms / 1000));
		switch (f->kind) {
		case SCN_BROKER_DOWN:
			if (broker_down[f->a] || dark[f->a])
				return scn_fail(p, "the broker of %s is already down here", sn);
			broker_down[f->a] = 1;
			break;
		case SCN_BROKER_UP:
			if (!broker_down[f->a])
				return scn_fail(p, "the broker of %s is not down here (broker-up follows "
				    "broker-down)", sn);
			broker_down[f->a] = 0;
			break;
		case SCN_SITE_DARK:
			if (dark[f->a])
				return scn_fail(p, "site %s is already dark here", sn);
			for (int n = 0; n < s->nnodes; n++)
				if (s->node[n].site == f->a && (dead[n] || radio_down[n]))
					return scn_fail(p, dead[n] ? "node %s of site %s is killed here; "
					    "restart it before the site goes dark" : "the radio of %s "
					    "(site %s) is down here; bring it up (radio-up) before the "
					    "site goes dark", s->node[n].name, sn);
			if (broker_down[f->a])
				return scn_fail(p, "the broker of %s is down here; bring it up before the "
				    "site goes dark", sn);
			dark[f->a] = 1;
			break;
		case SCN_SITE_BACK:
			if (!dark[f->a])
				return scn_fail(p, "site %s is not dark here (site-back follows site-dark)",
				    sn);
			dark[f->a] = 0;
			break;
		case SCN_PARTITION:
		case SCN_HEAL: {
			int b = scn_find_bridge(s, f->a, f->b);

			if (f->kind == SCN_PARTITION && cut[b])
				return scn_fail(p, "that bridge is already cut here");
			if (f->kind == SCN_HEAL && !cut[b])
				return scn_fail(p, "that bridge is not cut here (heal follows partition)");
			cut[b] = f->kind == SCN_PARTITION;
			break;
		}
		case SCN_KILL:
		case SCN_RESTART:
			if (dark[s->node[f->a].site])
				return scn_fail(p, "node %s's site is dark here", nn);
			if (f->kind == SCN_KILL && dead[f->a])
				return scn_fail(p, "node %s is already killed here", nn);
			if (f->kind == SCN_RESTART && !dead[f->a])
				return scn_fail(p, "node %s is running here (restart follows kill)", nn);
			dead[f->a] = f->kind == SCN_KILL;
			break;
		case SCN_RADIO_DOWN:
		case SCN_RADIO_UP:
			if (dark[s->node[f->a].site])
				return scn_fail(p, "node %s's site is dark here (its radio with it)", nn);
			if (f->kind == SCN_RADIO_DOWN && radio_down[f->a])
				return scn_fail(p, "the radio of %s is already down here", nn);
			if (f->kind == SCN_RADIO_UP && !radio_down[f->a])
				return scn_fail(p, "the radio of %s is not down here (radio-up follows "
				    "radio-down)", nn);
			radio_down[f->a] = f->kind == SCN_RADIO_DOWN;
			break;
		case SCN_REVOKE:
			if (revoked[f->a])
				return scn_fail(p, "node %s is already revoked here", nn);
			if (dead[f->b] || dark[s->node[f->b].site])
				return scn_fail(p, "node %s, which is to import the revocation, is down "
				    "here", s->node[f->b].name);
			revoked[f->a] = 1;
			break;
		}
	}
	p->line = 0;
	return 0;
}
