/*
 * A parsed scenario (drill_scenario.h): its traffic expanded into the schedule of
 * messages, written back as text, compared with another. Moved out of
 * drill_scenario.c as it was.
 */
#include "drill_scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- expansion ---------------- */

static int
in_group(const struct scenario *s, const struct scn_who *w, int node)
{
	switch (w->kind) {
	case SCN_WHO_NODE:
		return w->idx == node;
	case SCN_WHO_SITE:
		return s->node[node].site == w->idx;
	default:
		return 1;
	}
}

static int
cmp_msg(const void *a, const void *b)
{
	const struct scn_msg *x = a, *y = b;

	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	if (x->traffic != y->traffic)
		return x->traffic - y->traffic;
	if (x->from != y->from)
		return x->from - y->from;
	return x->to - y->to;
}

int
scenario_messages(const struct scenario *s, struct scn_msg **out, size_t *n)
{
	struct scn_msg *v = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	*n = 0;
	for (int i = 0; i < s->ntraffic; i++) {
		const struct scn_traffic *t = &s->traffic[i];
		uint32_t at = t->at_ms;

		for (;;) {
			for (int f = 0; f < s->nnodes; f++) {
				if (!in_group(s, &t->from, f))
					continue;
				for (int r = 0; r < s->nnodes; r++) {
					if (r == f || !in_group(s, &t->to, r))
						continue;
					if (len > SCN_MESSAGES_MAX) {   /* the caller refuses this */
						*out = v;
						*n = len;
						return 0;
					}
					if (len == cap) {
						size_t nc = cap ? cap * 2 : 64;
						struct scn_msg *nv = realloc(v, nc * sizeof *nv);

						if (!nv) {
							free(v);
							return -1;
						}
						v = nv;
						cap = nc;
					}
					v[len].at_ms = at;
					v[len].from = f;
					v[len].to = r;
					v[len].prec = t->prec;
					v[len].traffic = i;
					len++;
				}
			}
			if (!t->every_ms || (uint64_t)at + t->every_ms > t->until_ms)
				break;
			at += t->every_ms;
		}
	}
	if (len)
		qsort(v, len, sizeof *v, cmp_msg);
	*out = v;
	*n = len;
	return 0;
}

/* ---------------- writing back ---------------- */

struct wbuf {
	char *buf;
	size_t cap, len;
};

static void
wr(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->len < w->cap ? w->buf + w->len : NULL,
	    w->len < w->cap ? w->cap - w->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len += (size_t)n;
}

static void
wr_who(struct wbuf *w, const struct scenario *s, const struct scn_who *x)
{
	if (x->kind == SCN_WHO_ALL)
		wr(w, "*");
	else if (x->kind == SCN_WHO_SITE)
		wr(w, "site:%s", s->site[x->idx].name);
	else
		wr(w, "%s", s->node[x->idx].name);
}

size_t
scenario_write(const struct scenario *s, char *buf, size_t cap)
{
	struct wbuf w = { buf, cap, 0 };

	if (cap)
		buf[0] = '\0';
	wr(&w, "[drill]\n");
	if (s->name[0])
		wr(&w, "name = \"%s\"\n", s->name);
	wr(&w, "duration = %ums\nsettle = %ums\n", (unsigned)s->duration_ms,
	    (unsigned)s->settle_ms);
	for (int i = 0; i < s->nlora; i++) {
		const struct scn_lora *lr = &s->lora[i];

		wr(&w, "\n[lora %s]\nregion = %s\npreset = %s\ntx-power = %d\nextra-loss = %d\n"
		    "loss = %d%%\n", lr->name, lr->region, lr->preset, lr->tx_power,
		    lr->extra_loss_db, lr->loss_percent);
		if (lr->freq_hz)
			wr(&w, "frequency = %u\n", (unsigned)lr->freq_hz);
	}
	for (int i = 0; i < s->nsites; i++) {
		wr(&w, "\n[site %s]\nbroker = %s\n", s->site[i].name,
		    s->site[i].broker ? "yes" : "no");
		if (s->site[i].title[0])
			wr(&w, "title = \"%s\"\n", s->site[i].title);
	}
	for (int i = 0; i < s->nnodes; i++) {
		const struct scn_node *nd = &s->node[i];

		wr(&w, "\n[node %s]\nsite = %s\nunit = \"%s\"\nrole = %s\n", nd->name,
		    s->site[nd->site].name, nd->unit, nd->enroller ? "enroller" : "member");
		if (nd->brokers) {      /* none: a radio-only node of a site without broker */
			wr(&w, "brokers =");
			for (int k = 0; k < s->nsites; k++)
				if (nd->brokers & (1u << k))
					wr(&w, " %s", s->site[k].name);
			wr(&w, "\n");
		}
		if (nd->lora >= 0)
			wr(&w, "lora = %s %ld %ld\n", s->lora[nd->lora].name, (long)nd->x_m,
			    (long)nd->y_m);
		if (nd->bluetooth[0])
			wr(&w, "bluetooth = %s\n", nd->bluetooth);
	}
	for (int i = 0; i < s->nbridges; i++)
		wr(&w, "\n[bridge %s %s]\n", s->site[s->bridge[i].a].name,
		    s->site[s->bridge[i].b].name);
	wr(&w, "\n[traffic]\n");
	for (int i = 0; i < s->ntraffic; i++) {
		const struct scn_traffic *t = &s->traffic[i];

		if (t->every_ms)
			wr(&w, "every %ums from %ums to %ums ", (unsigned)t->every_ms,
			    (unsigned)t->at_ms, (unsigned)t->until_ms);
		else
			wr(&w, "at %ums ", (unsigned)t->at_ms);
		wr_who(&w, s, &t->from);
		wr(&w, " -> ");
		wr_who(&w, s, &t->to);
		wr(&w, " %s", scenario_prec_name(t->prec));
		if (t->text[0])
			wr(&w, " \"%s\"", t->text);
		wr(&w, "\n");
	}
	wr(&w, "\n[timeline]\n");
	for (int i = 0; i < s->nfaults; i++) {
		const struct scn_fault *f = &s->fault[i];

		wr(&w, "at %ums %s ", (unsigned)f->at_ms, scenario_fault_name(f->kind));
		switch (f->kind) {
		case SCN_PARTITION:
		case SCN_HEAL:
			wr(&w, "%s %s\n", s->site[f->a].name, s->site[f->b].name);
			break;
		case SCN_KILL:
		case SCN_RESTART:
		case SCN_RADIO_DOWN:
		case SCN_RADIO_UP:
			wr(&w, "%s\n", s->node[f->a].name);
			break;
		case SCN_REVOKE:
			wr(&w, "%s via %s\n", s->node[f->a].name, s->node[f->b].name);
			break;
		default:
			wr(&w, "%s\n", s->site[f->a].name);
		}
	}
	return w.len;
}

int
scenario_same(const struct scenario *x, const struct scenario *y)
{
	if (strcmp(x->name, y->name) != 0 || x->duration_ms != y->duration_ms ||
	    x->settle_ms != y->settle_ms || x->nsites != y->nsites ||
	    x->nnodes != y->nnodes || x->nbridges != y->nbridges ||
	    x->ntraffic != y->ntraffic || x->nfaults != y->nfaults || x->nlora != y->nlora)
		return 0;
	for (int i = 0; i < x->nlora; i++) {
		const struct scn_lora *a = &x->lora[i], *b = &y->lora[i];

		if (strcmp(a->name, b->name) != 0 || strcmp(a->region, b->region) != 0 ||
		    strcmp(a->preset, b->preset) != 0 || a->freq_hz != b->freq_hz ||
		    a->tx_power != b->tx_power || a->extra_loss_db != b->extra_loss_db ||
		    a->loss_percent != b->loss_percent)
			return 0;
	}
	for (int i = 0; i < x->nsites; i++)
		if (strcmp(x->site[i].name, y->site[i].name) != 0 ||
		    strcmp(x->site[i].title, y->site[i].title) != 0 ||
		    x->site[i].broker != y->site[i].broker)
			return 0;
	for (int i = 0; i < x->nnodes; i++)
		if (strcmp(x->node[i].name, y->node[i].name) != 0 ||
		    strcmp(x->node[i].unit, y->node[i].unit) != 0 ||
		    x->node[i].site != y->node[i].site ||
		    x->node[i].enroller != y->node[i].enroller ||
		    x->node[i].brokers != y->node[i].brokers ||
		    x->node[i].lora != y->node[i].lora ||
		    (x->node[i].lora >= 0 && (x->node[i].x_m != y->node[i].x_m ||
		    x->node[i].y_m != y->node[i].y_m)) ||
		    strcmp(x->node[i].bluetooth, y->node[i].bluetooth) != 0)
			return 0;
	for (int i = 0; i < x->nbridges; i++)
		if (x->bridge[i].a != y->bridge[i].a || x->bridge[i].b != y->bridge[i].b)
			return 0;
	for (int i = 0; i < x->ntraffic; i++) {
		const struct scn_traffic *a = &x->traffic[i], *b = &y->traffic[i];

		if (a->at_ms != b->at_ms || a->every_ms != b->every_ms ||
		    (a->every_ms && a->until_ms != b->until_ms) ||
		    a->from.kind != b->from.kind || a->from.idx != b->from.idx ||
		    a->to.kind != b->to.kind || a->to.idx != b->to.idx ||
		    a->prec != b->prec || strcmp(a->text, b->text) != 0)
			return 0;
	}
	for (int i = 0; i < x->nfaults; i++) {
		const struct scn_fault *a = &x->fault[i], *b = &y->fault[i];

		if (a->at_ms != b->at_ms || a->kind != b->kind || a->a != b->a ||
		    (a->b != b->b && (a->kind == SCN_PARTITION || a->kind == SCN_HEAL ||
		    a->kind == SCN_REVOKE)))
			return 0;
	}
	return 1;
}
