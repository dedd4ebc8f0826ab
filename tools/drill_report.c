/*
 * The after-action report (drill.h, docs/drills.md "What is measured"): every figure
 * comes from what the run recorded: the send answers, the events on the nodes'
 * subscriptions, their inboxes and outboxes at the end, and their status counters.
 *
 *   metrics.json   the figures, for machines (tests read it)
 *   report.md      the same for people, with the timeline as it was applied
 *   report.html    with SVG charts drawn here: delivery over time against the fault
 *                  timeline, latency by precedence, each message's latency
 *   messages.csv   one line per planned message: what became of it
 */
#include "drill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *const prec_color[SCN_NPREC] = {
	"#d62728", "#ff7f0e", "#1f77b4", "#7f7f7f",
};

/* Frames one radio's transmissions met at another, from the channel's log. */
struct pair {
	int from, to;                   /* nodes */
	uint64_t ok, collision, lost;
};

#define PAIRS_MAX (SCN_NODES_MAX * 8)

struct lora_stats {
	uint64_t frames, airtime_us;    /* frames put on air by its radios */
	uint64_t node_frames[SCN_NODES_MAX], node_us[SCN_NODES_MAX];   /* per sender */
	struct pair pair[PAIRS_MAX];
	int npairs;
	int log_read;                   /* its log could be read */
};

/* The kinds of link the traffic is split by (a link's kind in the node's status). */
static const char *const link_kinds[3] = { "mqtt", "lora", "bluetooth" };

struct stats {
	size_t planned, accepted, not_sent, refused, expected, delivered_expected;
	size_t delivered, cut, lost, duplicates, violations, receipts, late_seen;
	uint64_t tx_frames, tx_bytes, rx_frames, rx_bytes;
	uint64_t kind_tx[3][2];         /* [mqtt, lora, bluetooth][frames, bytes] */
	int radios, bt_adapters;
	double duty_max, duty_limit;    /* fractions of the hour; NAN without radios */
	int duty_node;                  /* the radio with duty_max */
	uint64_t duty_refusals;
	struct lora_stats lora[SCN_LORA_MAX];
	int crashes;
	double *lat;                    /* latencies of the delivered (ms) */
	size_t nlat;
	double *plat[SCN_NPREC];
	size_t nplat[SCN_NPREC], psent[SCN_NPREC], pdelivered[SCN_NPREC];
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array; NAN when empty. */
static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return NAN;
	k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return v[k - 1];
}

static int
delivered(const struct drill_msg *m)
{
	return m->recv_ms >= 0 || m->in_inbox > 0;
}

/* The scenario time at which an end of m was revoked first, or -1. */
static int64_t
revoked_at(const struct drill *d, const struct drill_msg *m)
{
	int64_t a = d->node[m->plan.from].revoked_ms, b = d->node[m->plan.to].revoked_ms;

	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* The channel's log: "tx SENDER id=N len=L airtime_us=A" and
 * "rx RECEIVER from=SENDER id=N ok|collision|lost rssi=R snr=S", one per event. */
static void
read_channel_log(const struct drill *d, int c, struct lora_stats *ls)
{
	FILE *f = fopen(d->chan[c].log, "r");
	char line[512], a[64], b[64], what[16];
	unsigned long air;

	memset(ls, 0, sizeof *ls);
	if (!f)
		return;
	ls->log_read = 1;
	while (fgets(line, sizeof line, f)) {
		int from, to, k;
		struct pair *p = NULL;

		if (sscanf(line, "tx %63s id=%*u len=%*u airtime_us=%lu", a, &air) == 2) {
			ls->frames++;
			ls->airtime_us += air;
			if ((from = scenario_find_node(d->s, a)) >= 0) {
				ls->node_frames[from]++;
				ls->node_us[from] += air;
			}
			continue;
		}
		if (sscanf(line, "rx %63s from=%63s id=%*u %15s", a, b, what) != 3)
			continue;
		if ((to = scenario_find_node(d->s, a)) < 0 ||
		    (from = scenario_find_node(d->s, b)) < 0)
			continue;
		for (k = 0; k < ls->npairs; k++)
			if (ls->pair[k].from == from && ls->pair[k].to == to)
				p = &ls->pair[k];
		if (!p && ls->npairs < PAIRS_MAX) {
			p = &ls->pair[ls->npairs++];
			p->from = from;
			p->to = to;
		}
		if (!p)
			continue;
		if (strcmp(what, "ok") == 0)
			p->ok++;
		else if (strcmp(what, "collision") == 0)
			p->collision++;
		else
			p->lost++;
	}
	fclose(f);
}

static int
compute(struct drill *d, struct stats *st)
{
	memset(st, 0, sizeof *st);
	st->lat = calloc(d->nmsg + 1, sizeof *st->lat);
	for (int p = 0; p < SCN_NPREC; p++)
		st->plat[p] = calloc(d->nmsg + 1, sizeof *st->plat[p]);
	if (!st->lat || !st->plat[0] || !st->plat[1] || !st->plat[2] || !st->plat[3])
		return -1;
	for (size_t i = 0; i < d->nmsg; i++) {
		struct drill_msg *m = &d->msg[i];
		const struct drill_node *from = &d->node[m->plan.from], *to = &d->node[m->plan.to];
		int64_t rev = revoked_at(d, m);
		int p = m->plan.prec;

		st->planned++;
		if (m->state == DM_NOT_SENT)
			st->not_sent++;
		if (m->state == DM_REFUSED)
			st->refused++;
		if (m->state != DM_ACCEPTED)
			continue;
		st->accepted++;
		st->psent[p]++;
		/* A revocation cuts its member off: what had not arrived by then is not owed. */
		m->revoked_cut = rev >= 0 && !(m->recv_ms >= 0 && m->recv_ms < rev);
		m->expected = !m->revoked_cut && from->alive_end && to->alive_end;
		/* Lost: accepted, then gone. The recipient showed it and its inbox no longer
		 * holds it; or the sender's outbox no longer holds it and it never arrived. */
		m->lost = (to->alive_end && m->recv_events > 0 && m->in_inbox == 0) ||
		    (from->alive_end && m->outbox_state == 0 && !delivered(m));
		st->cut += m->revoked_cut;
		st->expected += m->expected;
		st->lost += m->lost;
		st->violations += m->violation;
		st->late_seen += m->seen_late;
		st->receipts += m->receipt_ms >= 0 || m->outbox_state == 3;
		{
			int dup = m->recv_events > m->in_inbox ? m->recv_events : m->in_inbox;

			st->duplicates += dup > 1 ? (size_t)(dup - 1) : 0;
		}
		if (!delivered(m))
			continue;
		st->delivered++;
		st->pdelivered[p]++;
		st->delivered_expected += m->expected;
		if (m->recv_ms >= 0) {
			double l = (double)(m->recv_ms - m->sent_ms);

			st->lat[st->nlat++] = l < 0 ? 0 : l;
			st->plat[p][st->nplat[p]++] = l < 0 ? 0 : l;
		}
	}
	qsort(st->lat, st->nlat, sizeof *st->lat, cmp_double);
	for (int p = 0; p < SCN_NPREC; p++)
		qsort(st->plat[p], st->nplat[p], sizeof *st->plat[p], cmp_double);
	for (int i = 0; i < d->s->nnodes; i++) {
		const struct drill_node *n = &d->node[i];

		st->tx_frames += n->tx_frames + n->cur_tx_frames;
		st->tx_bytes += n->tx_bytes + n->cur_tx_bytes;
		st->rx_frames += n->rx_frames + n->cur_rx_frames;
		st->rx_bytes += n->rx_bytes + n->cur_rx_bytes;
		st->crashes += n->crashes;
		st->bt_adapters += d->s->node[i].bluetooth[0] != 0;
		for (int k = 0; k < n->nlinks; k++) {
			int kind;

			for (kind = 0; kind < 3; kind++)
				if (strcmp(n->link[k].kind, link_kinds[kind]) == 0)
					break;
			if (kind == 3)
				continue;
			st->kind_tx[kind][0] += n->link[k].done[0] + n->link[k].cur[0];
			st->kind_tx[kind][1] += n->link[k].done[1] + n->link[k].cur[1];
		}
	}
	/* The duty cycle, from the modems' own books: the most any radio used of the
	 * sliding hour, against its band's legal share of the hour. */
	st->duty_max = st->duty_limit = NAN;
	st->duty_node = -1;
	for (int i = 0; i < d->s->nnodes; i++) {
		const struct drill_radio *r = &d->node[i].radio;
		double u = r->used_max_ms / 3600000.0;

		if (d->s->node[i].lora < 0)
			continue;
		st->radios++;
		st->duty_refusals += r->done[RM_REFUSALS] + r->cur[RM_REFUSALS];
		if (r->budget_ms && (isnan(st->duty_limit) ||
		    r->budget_ms / 3600000.0 < st->duty_limit))
			st->duty_limit = r->budget_ms / 3600000.0;
		if (isnan(st->duty_max) || u > st->duty_max) {
			st->duty_max = u;
			st->duty_node = i;
		}
	}
	for (int c = 0; c < d->s->nlora; c++)
		read_channel_log(d, c, &st->lora[c]);
	return 0;
}

static void
stats_free(struct stats *st)
{
	free(st->lat);
	for (int p = 0; p < SCN_NPREC; p++)
		free(st->plat[p]);
}

static void
add_num_or_null(cJSON *o, const char *k, double v)
{
	if (isnan(v))
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, round(v * 10) / 10);
}

static double
ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/* ---------------- metrics.json ---------------- */

static cJSON *
metrics_json(const struct drill *d, const struct stats *st)
{
	const struct scenario *s = d->s;
	cJSON *j = cJSON_CreateObject(), *o, *a;

	cJSON_AddStringToObject(j, "scenario", d->scenario_path);
	cJSON_AddStringToObject(j, "name", s->name);
	cJSON_AddStringToObject(j, "mode", "run");
	add_num_or_null(j, "delivery_ratio", ratio((double)st->delivered_expected,
	    (double)st->expected));
	add_num_or_null(j, "latency_p50_ms", pct(st->lat, st->nlat, 50));
	add_num_or_null(j, "latency_p95_ms", pct(st->lat, st->nlat, 95));
	o = cJSON_AddObjectToObject(j, "latency_by_precedence");
	for (int p = 0; p < SCN_NPREC; p++) {
		cJSON *q = cJSON_AddObjectToObject(o, scenario_prec_name(p));

		cJSON_AddNumberToObject(q, "sent", (double)st->psent[p]);
		cJSON_AddNumberToObject(q, "delivered", (double)st->pdelivered[p]);
		add_num_or_null(q, "p50_ms", pct(st->plat[p], st->nplat[p], 50));
		add_num_or_null(q, "p95_ms", pct(st->plat[p], st->nplat[p], 95));
		add_num_or_null(q, "max_ms", st->nplat[p] ? st->plat[p][st->nplat[p] - 1] : NAN);
	}
	add_num_or_null(j, "tx_per_delivered", ratio((double)st->tx_frames,
	    (double)st->delivered));
	add_num_or_null(j, "bytes_per_delivered", ratio((double)st->tx_bytes,
	    (double)st->delivered));
	cJSON_AddNumberToObject(j, "duplicates_shown", (double)st->duplicates);
	cJSON_AddNumberToObject(j, "lost_accepted", (double)st->lost);
	if (st->radios && !isnan(st->duty_max)) {
		cJSON_AddNumberToObject(j, "duty_cycle_max", round(st->duty_max * 1e6) / 1e6);
		if (isnan(st->duty_limit))
			cJSON_AddNullToObject(j, "duty_cycle_limit");
		else
			cJSON_AddNumberToObject(j, "duty_cycle_limit",
			    round(st->duty_limit * 1e6) / 1e6);
		cJSON_AddStringToObject(j, "duty_cycle_note", "the largest share of the sliding "
		    "hour any radio spent transmitting in its sub-band, from the modems' own "
		    "duty-cycle books (summed over a modem's restarts), against the band's legal "
		    "share (duty_cycle_limit)");
	} else {
		cJSON_AddNullToObject(j, "duty_cycle_max");
		cJSON_AddNullToObject(j, "duty_cycle_limit");
		cJSON_AddStringToObject(j, "duty_cycle_note", "no LoRa radio in this drill, so no "
		    "airtime was spent and none is reported");
	}
	cJSON_AddNumberToObject(j, "revoked_accepted", (double)st->violations);
	{
		int64_t refused = 0;

		for (int i = 0; i < s->nnodes; i++)
			refused += d->node[i].refused_revoked > 0 ? d->node[i].refused_revoked : 0;
		cJSON_AddNumberToObject(j, "revoked_refused", (double)refused);
	}

	o = cJSON_AddObjectToObject(j, "messages");
	cJSON_AddNumberToObject(o, "planned", (double)st->planned);
	cJSON_AddNumberToObject(o, "accepted", (double)st->accepted);
	cJSON_AddNumberToObject(o, "not_sent_sender_down", (double)st->not_sent);
	cJSON_AddNumberToObject(o, "refused_by_sender", (double)st->refused);
	cJSON_AddNumberToObject(o, "expected", (double)st->expected);
	cJSON_AddNumberToObject(o, "delivered_expected", (double)st->delivered_expected);
	cJSON_AddNumberToObject(o, "delivered", (double)st->delivered);
	cJSON_AddNumberToObject(o, "cut_by_revocation", (double)st->cut);
	cJSON_AddNumberToObject(o, "seen_only_in_inbox", (double)st->late_seen);
	cJSON_AddNumberToObject(o, "receipts", (double)st->receipts);
	cJSON_AddNumberToObject(o, "unknown_received", d->unknown_received);

	o = cJSON_AddObjectToObject(j, "traffic");
	cJSON_AddNumberToObject(o, "tx_frames", (double)st->tx_frames);
	cJSON_AddNumberToObject(o, "tx_bytes", (double)st->tx_bytes);
	cJSON_AddNumberToObject(o, "rx_frames", (double)st->rx_frames);
	cJSON_AddNumberToObject(o, "rx_bytes", (double)st->rx_bytes);
	cJSON_AddNumberToObject(o, "bridge_bytes", (double)d->relay_bytes);
	{
		for (int k = 0; k < 3; k++) {
			cJSON *q = cJSON_AddObjectToObject(o, link_kinds[k]);

			cJSON_AddNumberToObject(q, "tx_frames", (double)st->kind_tx[k][0]);
			cJSON_AddNumberToObject(q, "tx_bytes", (double)st->kind_tx[k][1]);
		}
	}
	if (s->nlora) {
		cJSON *lo = cJSON_AddObjectToObject(j, "lora"), *arr;

		cJSON_AddNumberToObject(lo, "duty_refusals", (double)st->duty_refusals);
		arr = cJSON_AddArrayToObject(lo, "channels");
		for (int c = 0; c < s->nlora; c++) {
			const struct lora_stats *ls = &st->lora[c];
			cJSON *x = cJSON_CreateObject(), *pa;

			cJSON_AddStringToObject(x, "name", s->lora[c].name);
			cJSON_AddStringToObject(x, "region", s->lora[c].region);
			cJSON_AddStringToObject(x, "preset", s->lora[c].preset);
			cJSON_AddNumberToObject(x, "frames_on_air", (double)ls->frames);
			cJSON_AddNumberToObject(x, "airtime_s", round(ls->airtime_us / 1e5) / 10);
			pa = cJSON_AddArrayToObject(x, "heard");
			for (int k = 0; k < ls->npairs; k++) {
				cJSON *y = cJSON_CreateObject();

				cJSON_AddStringToObject(y, "from", s->node[ls->pair[k].from].name);
				cJSON_AddStringToObject(y, "to", s->node[ls->pair[k].to].name);
				cJSON_AddNumberToObject(y, "ok", (double)ls->pair[k].ok);
				cJSON_AddNumberToObject(y, "collision", (double)ls->pair[k].collision);
				cJSON_AddNumberToObject(y, "lost", (double)ls->pair[k].lost);
				cJSON_AddItemToArray(pa, y);
			}
			cJSON_AddItemToArray(arr, x);
		}
		arr = cJSON_AddArrayToObject(lo, "radios");
		for (int i = 0; i < s->nnodes; i++) {
			const struct drill_radio *r = &d->node[i].radio;
			cJSON *x;

			if (s->node[i].lora < 0)
				continue;
			x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "node", s->node[i].name);
			cJSON_AddStringToObject(x, "channel", s->lora[s->node[i].lora].name);
			cJSON_AddNumberToObject(x, "x_m", s->node[i].x_m);
			cJSON_AddNumberToObject(x, "y_m", s->node[i].y_m);
			cJSON_AddNumberToObject(x, "starts", r->starts);
			cJSON_AddNumberToObject(x, "modem_tx_frames",
			    (double)(r->done[RM_TX_FRAMES] + r->cur[RM_TX_FRAMES]));
			cJSON_AddNumberToObject(x, "airtime_ms",
			    (double)(r->done[RM_AIRTIME] + r->cur[RM_AIRTIME]));
			cJSON_AddNumberToObject(x, "duty_used_ms", (double)r->used_max_ms);
			cJSON_AddNumberToObject(x, "duty_budget_ms", (double)r->budget_ms);
			cJSON_AddNumberToObject(x, "duty_refusals",
			    (double)(r->done[RM_REFUSALS] + r->cur[RM_REFUSALS]));
			/* The channel's own count of what this radio put on air: a check on the
			 * modem's figures, which the drill reads late (see docs/drills.md). */
			cJSON_AddNumberToObject(x, "channel_tx_frames",
			    (double)st->lora[s->node[i].lora].node_frames[i]);
			cJSON_AddNumberToObject(x, "channel_airtime_ms",
			    round(st->lora[s->node[i].lora].node_us[i] / 1000.0));
			cJSON_AddItemToArray(arr, x);
		}
	}

	o = cJSON_AddObjectToObject(j, "timing");
	cJSON_AddNumberToObject(o, "setup_s", round(d->setup_ms / 100.0) / 10);
	cJSON_AddNumberToObject(o, "formation_s", round(d->formation_ms / 100.0) / 10);
	cJSON_AddBoolToObject(o, "formed", d->formed);
	cJSON_AddNumberToObject(o, "duration_s", s->duration_ms / 1000.0);
	cJSON_AddNumberToObject(o, "settle_s", round(d->settled_ms / 100.0) / 10);
	cJSON_AddNumberToObject(o, "end_s", round(d->end_ms / 100.0) / 10);
	cJSON_AddBoolToObject(o, "interrupted", d->interrupted);

	a = cJSON_AddArrayToObject(j, "faults");
	for (int i = 0; i < d->nflog; i++) {
		const struct drill_fault_log *l = &d->flog[i];
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "kind", scenario_fault_name(s->fault[l->fault].kind));
		cJSON_AddNumberToObject(f, "planned_s", s->fault[l->fault].at_ms / 1000.0);
		cJSON_AddNumberToObject(f, "applied_s", round(l->at_ms / 100.0) / 10);
		cJSON_AddStringToObject(f, "what", l->what);
		cJSON_AddBoolToObject(f, "ok", l->ok);
		cJSON_AddItemToArray(a, f);
	}
	a = cJSON_AddArrayToObject(j, "nodes");
	for (int i = 0; i < s->nnodes; i++) {
		const struct drill_node *n = &d->node[i];
		cJSON *x = cJSON_CreateObject();

		cJSON_AddStringToObject(x, "name", s->node[i].name);
		cJSON_AddStringToObject(x, "site", s->site[s->node[i].site].name);
		cJSON_AddNumberToObject(x, "starts", n->starts);
		cJSON_AddNumberToObject(x, "crashes", n->crashes);
		cJSON_AddBoolToObject(x, "alive_at_end", n->alive_end);
		cJSON_AddBoolToObject(x, "revoked", n->revoked_ms >= 0);
		cJSON_AddNumberToObject(x, "tx_frames", (double)(n->tx_frames + n->cur_tx_frames));
		cJSON_AddNumberToObject(x, "tx_bytes", (double)(n->tx_bytes + n->cur_tx_bytes));
		cJSON_AddNumberToObject(x, "bundles_accepted", (double)n->accepted_total);
		cJSON_AddNumberToObject(x, "refused_revoked", (double)n->refused_revoked);
		{
			cJSON *la = cJSON_AddArrayToObject(x, "links");

			for (int k = 0; k < n->nlinks; k++) {
				const struct drill_link *l = &n->link[k];
				cJSON *y = cJSON_CreateObject();

				cJSON_AddStringToObject(y, "kind", l->kind);
				cJSON_AddStringToObject(y, "name", l->name);
				cJSON_AddNumberToObject(y, "tx_frames", (double)(l->done[0] + l->cur[0]));
				cJSON_AddNumberToObject(y, "tx_bytes", (double)(l->done[1] + l->cur[1]));
				cJSON_AddNumberToObject(y, "rx_frames", (double)(l->done[2] + l->cur[2]));
				cJSON_AddNumberToObject(y, "rx_bytes", (double)(l->done[3] + l->cur[3]));
				cJSON_AddItemToArray(la, y);
			}
		}
		cJSON_AddItemToArray(a, x);
	}
	cJSON_AddNumberToObject(j, "node_crashes", st->crashes);
	return j;
}

/* Messages that did not arrive or went wrong, one line each, for the report. */
static void
md_problems(FILE *f, const struct drill *d)
{
	const struct scenario *s = d->s;
	int shown = 0;

	for (size_t i = 0; i < d->nmsg && shown < 40; i++) {
		const struct drill_msg *m = &d->msg[i];
		const char *what = NULL;

		if (m->state == DM_REFUSED)
			what = "refused by its sender's node";
		else if (m->state == DM_NOT_SENT)
			what = "not sent";
		else if (m->state != DM_ACCEPTED)
			continue;
		else if (m->lost)
			what = "LOST after acceptance";
		else if (m->violation)
			what = "ACCEPTED from a revoked member";
		else if (m->expected && !delivered(m))
			what = "not delivered";
		else if (m->revoked_cut && !delivered(m))
			what = "cut off by the revocation (not owed)";
		if (!what)
			continue;
		fprintf(f, "| %.1f s | %s → %s | %s | %s%s%s |\n", m->plan.at_ms / 1000.0,
		    s->node[m->plan.from].name, s->node[m->plan.to].name,
		    scenario_prec_name(m->plan.prec), what, m->why[0] ? ": " : "", m->why);
		shown++;
	}
	if (!shown)
		fprintf(f, "| | | | none |\n");
}

static void
fmt_ms(char *buf, size_t cap, double v)
{
	if (isnan(v))
		snprintf(buf, cap, "–");
	else if (v < 1000)
		snprintf(buf, cap, "%.0f ms", v);
	else
		snprintf(buf, cap, "%.1f s", v / 1000);
}

/* The LoRa section: each radio's modem books, each channel's frames by pair. */
static void
md_lora(FILE *f, const struct drill *d, const struct stats *st)
{
	const struct scenario *s = d->s;

	fprintf(f, "## LoRa\n\nEach radio is a simulated modem (the firmware's host build) on "
	    "a simulated channel, in real time: the airtime and duty-cycle figures are the "
	    "modems' own books, read by their nodes every 5 s and by the drill every 2 s, so "
	    "they miss up to the last 7 s of a modem killed -9 and of the drill's end. The "
	    "last column is the channel's own count of what each radio put on air.\n\n"
	    "| radio | channel | position | modem starts | frames sent | airtime | duty used "
	    "(sliding hour) | band budget per hour | refusals | on the channel's log |\n"
	    "|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < s->nnodes; i++) {
		const struct drill_radio *r = &d->node[i].radio;

		if (s->node[i].lora < 0)
			continue;
		const struct lora_stats *ls = &st->lora[s->node[i].lora];

		fprintf(f, "| %s | %s | %ld m, %ld m | %d | %llu | %.1f s | %.1f s (%.3f %%) | "
		    "%.0f s | %llu | %llu frames, %.1f s |\n", s->node[i].name,
		    s->lora[s->node[i].lora].name,
		    (long)s->node[i].x_m, (long)s->node[i].y_m, r->starts,
		    (unsigned long long)(r->done[RM_TX_FRAMES] + r->cur[RM_TX_FRAMES]),
		    (r->done[RM_AIRTIME] + r->cur[RM_AIRTIME]) / 1000.0, r->used_max_ms / 1000.0,
		    r->used_max_ms / 36000.0, r->budget_ms / 1000.0,
		    (unsigned long long)(r->done[RM_REFUSALS] + r->cur[RM_REFUSALS]),
		    (unsigned long long)ls->node_frames[i], ls->node_us[i] / 1e6);
	}
	for (int c = 0; c < s->nlora; c++) {
		const struct lora_stats *ls = &st->lora[c];

		fprintf(f, "\nChannel %s (%s, %s): ", s->lora[c].name, s->lora[c].region,
		    s->lora[c].preset);
		if (!ls->log_read) {
			fprintf(f, "its log could not be read.\n");
			continue;
		}
		fprintf(f, "%llu frames on air, %.1f s of airtime in all. What each radio "
		    "heard of each other's frames (below the demodulation floor nothing is "
		    "heard):\n\n| from | to | received | collided | lost at random |\n"
		    "|---|---|---|---|---|\n", (unsigned long long)ls->frames,
		    ls->airtime_us / 1e6);
		for (int k = 0; k < ls->npairs; k++)
			fprintf(f, "| %s | %s | %llu | %llu | %llu |\n", s->node[ls->pair[k].from].name,
			    s->node[ls->pair[k].to].name, (unsigned long long)ls->pair[k].ok,
			    (unsigned long long)ls->pair[k].collision,
			    (unsigned long long)ls->pair[k].lost);
		if (!ls->npairs)
			fprintf(f, "| | | nothing heard | | |\n");
	}
	fputs("\n", f);
}

static int
write_md(const struct drill *d, const struct stats *st, const char *path)
{
	const struct scenario *s = d->s;
	FILE *f = fopen(path, "w");
	char a[32], b[32], c[32];

	if (!f)
		return -1;
	fprintf(f, "# After-action report: %s\n\n", s->name[0] ? s->name : "drill");
	fprintf(f, "Scenario `%s`: %d sites, %d nodes, %d bridges, %d LoRa radios, %d Bluetooth "
	    "adapters; %u s of timeline, then up to %u s to settle. Every process was real: "
	    "apagond per node, mosquitto per site with a broker, members enrolled with `apagon "
	    "admin`%s%s.%s\n\n",
	    d->scenario_path, s->nsites, s->nnodes, s->nbridges, st->radios, st->bt_adapters,
	    (unsigned)(s->duration_ms / 1000), (unsigned)(s->settle_ms / 1000),
	    st->radios ? "; each radio a simulated modem (the firmware's host build) on a "
	    "simulated channel" : "", st->bt_adapters ? "; Bluetooth links on the kernel's "
	    "Bluetooth stack, one adapter per node" : "",
	    d->interrupted ? " **The run was interrupted.**" : "");
	fprintf(f, "## Summary\n\n| figure | value |\n|---|---|\n");
	if (st->expected)
		fprintf(f, "| delivery ratio (owed messages delivered) | %.3f (%zu of %zu) |\n",
		    (double)st->delivered_expected / (double)st->expected, st->delivered_expected,
		    st->expected);
	else
		fprintf(f, "| delivery ratio | – (no message was owed) |\n");
	fmt_ms(a, sizeof a, pct(st->lat, st->nlat, 50));
	fmt_ms(b, sizeof b, pct(st->lat, st->nlat, 95));
	fprintf(f, "| latency p50 / p95 | %s / %s |\n", a, b);
	fprintf(f, "| frames sent per delivered message | %.1f |\n",
	    st->delivered ? (double)st->tx_frames / (double)st->delivered : 0.0);
	fprintf(f, "| bytes sent per delivered message | %.0f |\n",
	    st->delivered ? (double)st->tx_bytes / (double)st->delivered : 0.0);
	fprintf(f, "| duplicates shown to a user | %zu |\n", st->duplicates);
	fprintf(f, "| accepted messages lost | %zu |\n", st->lost);
	fprintf(f, "| revoked member's messages accepted after the revocation arrived | %zu |\n",
	    st->violations);
	{
		int64_t refused = 0;

		for (int i = 0; i < s->nnodes; i++)
			refused += d->node[i].refused_revoked > 0 ? d->node[i].refused_revoked : 0;
		fprintf(f, "| bundles refused as revoked (the nodes' counters) | %lld |\n",
		    (long long)refused);
	}
	if (st->radios && !isnan(st->duty_max)) {
		fprintf(f, "| LoRa duty cycle, most used by a radio (its modem's books) | "
		    "%.3f %% of the hour (%s)", st->duty_max * 100, s->node[st->duty_node].name);
		if (!isnan(st->duty_limit))
			fprintf(f, "; legal limit %.1f %%", st->duty_limit * 100);
		fprintf(f, " |\n");
	} else {
		fprintf(f, "| LoRa duty cycle | – (no LoRa radio in this drill) |\n");
	}
	fprintf(f, "| node crashes (exits nobody asked for) | %d |\n\n", st->crashes);

	fprintf(f, "## Messages\n\n%zu planned; %zu accepted by their sender's node, %zu not "
	    "sent (sender down), %zu refused by the sender's node; %zu delivered, %zu of them "
	    "receipted back to the sender; %zu cut off by a revocation; %zu seen only in the "
	    "final inbox (their event was missed while the drill's subscription was down).\n\n",
	    st->planned, st->accepted, st->not_sent, st->refused, st->delivered, st->receipts,
	    st->cut, st->late_seen);
	fprintf(f, "| precedence | sent | delivered | p50 | p95 | max |\n|---|---|---|---|---|---|\n");
	for (int p = 0; p < SCN_NPREC; p++) {
		fmt_ms(a, sizeof a, pct(st->plat[p], st->nplat[p], 50));
		fmt_ms(b, sizeof b, pct(st->plat[p], st->nplat[p], 95));
		fmt_ms(c, sizeof c, st->nplat[p] ? st->plat[p][st->nplat[p] - 1] : NAN);
		fprintf(f, "| %s | %zu | %zu | %s | %s | %s |\n", scenario_prec_name(p),
		    st->psent[p], st->pdelivered[p], a, b, c);
	}
	fprintf(f, "\n## Timeline as applied\n\nThe last column: after a repair, how long "
	    "until the first message sent before it arrived anywhere (a hint of how fast the "
	    "mesh resumes, not proof of cause).\n\n| planned | applied | what | first held "
	    "message through |\n|---|---|---|---|\n");
	for (int i = 0; i < d->nflog; i++) {
		int kind = s->fault[d->flog[i].fault].kind;
		int64_t at = d->flog[i].at_ms, best = -1;

		if (kind == SCN_BROKER_UP || kind == SCN_SITE_BACK || kind == SCN_HEAL ||
		    kind == SCN_RESTART)
			for (size_t k = 0; k < d->nmsg; k++) {
				const struct drill_msg *m = &d->msg[k];

				if (m->state == DM_ACCEPTED && m->sent_ms < at && m->recv_ms >= at &&
				    (best < 0 || m->recv_ms - at < best))
					best = m->recv_ms - at;
			}
		fprintf(f, "| %.0f s | %.1f s | %s%s | ", s->fault[d->flog[i].fault].at_ms / 1000.0,
		    at / 1000.0, d->flog[i].ok ? "" : "FAILED: ", d->flog[i].what);
		if (best >= 0)
			fprintf(f, "%.1f s |\n", best / 1000.0);
		else
			fprintf(f, "– |\n");
	}
	if (!d->nflog)
		fprintf(f, "| | | no faults | |\n");
	fprintf(f, "\n## What did not go to plan\n\n| at | from → to | precedence | what |\n"
	    "|---|---|---|---|\n");
	md_problems(f, d);
	fprintf(f, "\n## Cost\n\n%llu frames and %llu bytes sent by the nodes' links (MQTT "
	    "publishes, LoRa and Bluetooth frames, counted by each node; a node killed with -9 "
	    "loses the counts since its last sample, every 2 s): MQTT %llu frames, %llu bytes; "
	    "LoRa %llu frames, %llu bytes; Bluetooth %llu frames, %llu bytes. %llu bytes "
	    "crossed the bridges between brokers.\n\n",
	    (unsigned long long)st->tx_frames, (unsigned long long)st->tx_bytes,
	    (unsigned long long)st->kind_tx[0][0], (unsigned long long)st->kind_tx[0][1],
	    (unsigned long long)st->kind_tx[1][0], (unsigned long long)st->kind_tx[1][1],
	    (unsigned long long)st->kind_tx[2][0], (unsigned long long)st->kind_tx[2][1],
	    (unsigned long long)d->relay_bytes);
	fprintf(f, "### Traffic per link\n\n| node | link | sent frames | sent bytes | "
	    "received frames | received bytes |\n|---|---|---|---|---|---|\n");
	for (int i = 0; i < s->nnodes; i++)
		for (int k = 0; k < d->node[i].nlinks; k++) {
			const struct drill_link *l = &d->node[i].link[k];

			fprintf(f, "| %s | %s %s | %llu | %llu | %llu | %llu |\n", s->node[i].name,
			    l->kind, l->name, (unsigned long long)(l->done[0] + l->cur[0]),
			    (unsigned long long)(l->done[1] + l->cur[1]),
			    (unsigned long long)(l->done[2] + l->cur[2]),
			    (unsigned long long)(l->done[3] + l->cur[3]));
		}
	fputs("\n", f);
	if (s->nlora)
		md_lora(f, d, st);
	fprintf(f, "## Setup\n\nSetup took %.1f s; the mesh %s in %.1f s (every node holding "
	    "every member's prekey). Logs, configs and node directories are in `run/`.\n",
	    d->setup_ms / 1000.0, d->formed ? "formed" : "had not fully formed",
	    d->formation_ms / 1000.0);
	return fclose(f) == 0 ? 0 : -1;
}

/* ---------------- report.html ---------------- */

#define W 880
#define H 280
#define ML 60
#define MR 20
#define MT 20
#define MB 40

static void
html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

static double
xpos(double t_ms, double span_ms)
{
	return ML + (W - ML - MR) * (t_ms / span_ms);
}

/* Shaded bands for faults that last (down..up), lines for the instant ones. */
static void
svg_faults(FILE *f, const struct drill *d, double span)
{
	const struct scenario *s = d->s;

	for (int i = 0; i < d->nflog; i++) {
		const struct scn_fault *a = &s->fault[d->flog[i].fault];
		int close_kind = -1;
		double x0 = xpos((double)d->flog[i].at_ms, span), x1 = xpos(span, span);
		char label[96];

		switch (a->kind) {
		case SCN_BROKER_DOWN: close_kind = SCN_BROKER_UP; break;
		case SCN_SITE_DARK:   close_kind = SCN_SITE_BACK; break;
		case SCN_PARTITION:   close_kind = SCN_HEAL; break;
		case SCN_KILL:        close_kind = SCN_RESTART; break;
		}
		if (a->kind == SCN_REVOKE) {
			fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#9467bd' "
			    "stroke-dasharray='4 3'/><text x='%.1f' y='%d' font-size='10' "
			    "fill='#9467bd'>revoke %s</text>\n", x0, x0, MT, H - MB, x0 + 3, MT + 10,
			    s->node[a->a].name);
			continue;
		}
		if (close_kind < 0)
			continue;
		for (int k = i + 1; k < d->nflog; k++) {
			const struct scn_fault *b = &s->fault[d->flog[k].fault];

			int same = close_kind == SCN_HEAL ?
			    ((b->a == a->a && b->b == a->b) || (b->a == a->b && b->b == a->a)) :
			    b->a == a->a;

			if (b->kind == close_kind && same) {
				x1 = xpos((double)d->flog[k].at_ms, span);
				break;
			}
		}
		if (a->kind == SCN_PARTITION)
			snprintf(label, sizeof label, "partition %s-%s", s->site[a->a].name,
			    s->site[a->b].name);
		else if (a->kind == SCN_KILL)
			snprintf(label, sizeof label, "%s killed", s->node[a->a].name);
		else
			snprintf(label, sizeof label, "%s %s", s->site[a->a].name,
			    a->kind == SCN_SITE_DARK ? "dark" : "broker down");
		fprintf(f, "<rect x='%.1f' y='%d' width='%.1f' height='%d' fill='#d62728' "
		    "fill-opacity='0.08' stroke='#d62728' stroke-opacity='0.3'/>"
		    "<text x='%.1f' y='%d' font-size='10' fill='#a00'>", x0, MT, x1 - x0,
		    H - MB - MT, x0 + 3, MT + 22 + 11 * (i % 6));
		html_escape(f, label);
		fputs("</text>\n", f);
	}
}

static void
svg_axes(FILE *f, double span, double ymax, const char *ylabel, int yseconds)
{
	fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>"
	    "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>\n", ML, H - MB, W - MR, H - MB,
	    ML, MT, ML, H - MB);
	for (int k = 0; k <= 5; k++) {
		double v = ymax * k / 5, y = H - MB - (H - MB - MT) * (double)k / 5;

		if (yseconds)
			fprintf(f, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.1f s"
			    "</text>", ML - 4, y + 3, v / 1000);
		else
			fprintf(f, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.0f"
			    "</text>", ML - 4, y + 3, v);
		fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/>\n", ML + 1,
		    W - MR, y, y);
	}
	for (int k = 0; k <= 10; k++) {
		double t = span * k / 10;

		fprintf(f, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%.0f s"
		    "</text>\n", xpos(t, span), H - MB + 14, t / 1000);
	}
	fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>scenario time"
	    "</text><text x='12' y='%d' font-size='11' transform='rotate(-90 12 %d)' "
	    "text-anchor='middle'>%s</text>\n", (W + ML) / 2, H - 6, (H - MB + MT) / 2,
	    (H - MB + MT) / 2, ylabel);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* A cumulative step line of the sorted times t[0..n). */
static void
svg_steps(FILE *f, const int64_t *t, size_t n, double span, double ymax, const char *color,
    const char *label, int row)
{
	double y0 = H - MB, scale = (H - MB - MT) / (ymax > 0 ? ymax : 1);

	fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='%d,%.1f", color,
	    ML, y0);
	for (size_t i = 0; i < n; i++) {
		double x = xpos((double)t[i], span);

		fprintf(f, " %.1f,%.1f %.1f,%.1f", x, y0 - scale * (double)i, x,
		    y0 - scale * (double)(i + 1));
	}
	fprintf(f, " %.1f,%.1f'/>\n", xpos(span, span), y0 - scale * (double)n);
	fprintf(f, "<rect x='%d' y='%d' width='12' height='3' fill='%s'/><text x='%d' y='%d' "
	    "font-size='11'>%s (%zu)</text>\n", W - MR - 190, MT + 6 + 14 * row, color,
	    W - MR - 174, MT + 10 + 14 * row, label, n);
}

/* The radios where the scenario puts them, a line for each pair that heard each
 * other, labelled with the frames received each way. */
static void
svg_lora_map(FILE *f, const struct drill *d, const struct stats *st)
{
	const struct scenario *s = d->s;
	double x0 = 0, x1 = 0, y0 = 0, y1 = 0, sc;
	int any = 0;

	for (int i = 0; i < s->nnodes; i++) {
		if (s->node[i].lora < 0)
			continue;
		if (!any || s->node[i].x_m < x0)
			x0 = s->node[i].x_m;
		if (!any || s->node[i].x_m > x1)
			x1 = s->node[i].x_m;
		if (!any || s->node[i].y_m < y0)
			y0 = s->node[i].y_m;
		if (!any || s->node[i].y_m > y1)
			y1 = s->node[i].y_m;
		any = 1;
	}
	/* Room for the labels: 160 px on either side, 50 above and below. */
	sc = (W - 320) / (x1 - x0 > 1 ? x1 - x0 : 1);
	if ((H - 100) / (y1 - y0 > 1 ? y1 - y0 : 1) < sc)
		sc = (H - 100) / (y1 - y0 > 1 ? y1 - y0 : 1);
#define MX(v) (W / 2.0 + ((v) - (x0 + x1) / 2) * sc)
#define MY(v) (H / 2.0 - ((v) - (y0 + y1) / 2) * sc)
	fputs("<h2>LoRa radios</h2>\n", f);
	fprintf(f, "<svg width='%d' height='%d' xmlns='http://www.w3.org/2000/svg'>\n", W, H);
	for (int c = 0; c < s->nlora; c++)
		for (int k = 0; k < st->lora[c].npairs; k++) {
			const struct pair *p = &st->lora[c].pair[k];
			const struct scn_node *a = &s->node[p->from], *b = &s->node[p->to];

			if (!p->ok && !p->collision && !p->lost)
				continue;
			/* Each direction on its own side of the line between the two. */
			fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#1f77b4' "
			    "stroke-opacity='0.5'/><text x='%.1f' y='%.1f' font-size='10' "
			    "text-anchor='middle' fill='#1f77b4'>", MX(a->x_m), MY(a->y_m),
			    MX(b->x_m), MY(b->y_m), (MX(a->x_m) + MX(b->x_m)) / 2,
			    (MY(a->y_m) + MY(b->y_m)) / 2 + (p->from < p->to ? -6 : 14));
			html_escape(f, a->name);
			fputs(" → ", f);
			html_escape(f, b->name);
			fprintf(f, ": %llu received, %llu collided, %llu lost</text>\n",
			    (unsigned long long)p->ok, (unsigned long long)p->collision,
			    (unsigned long long)p->lost);
		}
	for (int i = 0; i < s->nnodes; i++) {
		const struct drill_radio *r = &d->node[i].radio;

		if (s->node[i].lora < 0)
			continue;
		double cx = MX(s->node[i].x_m), cy = MY(s->node[i].y_m);

		fprintf(f, "<circle cx='%.1f' cy='%.1f' r='6' fill='#d62728'/><text x='%.1f' "
		    "y='%.1f' font-size='12' font-weight='bold' text-anchor='middle'>", cx, cy, cx,
		    cy - 24);
		html_escape(f, s->node[i].name);
		fprintf(f, "</text><text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>"
		    "%s, (%ld m, %ld m)</text><text x='%.1f' y='%.1f' font-size='10' "
		    "text-anchor='middle'>%.1f s on air, duty %.3f %%</text>\n", cx, cy - 12,
		    s->lora[s->node[i].lora].name, (long)s->node[i].x_m, (long)s->node[i].y_m,
		    cx, cy + 30, (r->done[RM_AIRTIME] + r->cur[RM_AIRTIME]) / 1000.0,
		    r->used_max_ms / 36000.0);
	}
#undef MX
#undef MY
	fputs("</svg>\n<p>Positions in metres as the scenario gives them; the lines are "
	    "the frames each radio received of the other's (from the channel's log).</p>\n", f);
}

static int
write_html(const struct drill *d, const struct stats *st, const char *path, const char *md)
{
	const struct scenario *s = d->s;
	FILE *f = fopen(path, "w"), *m;
	int64_t *ts = calloc(d->nmsg + 1, sizeof *ts), *tr = calloc(d->nmsg + 1, sizeof *tr);
	size_t ns = 0, nr = 0;
	double span = (double)(d->end_ms > 1000 ? d->end_ms : 1000), lmax = 1000;
	char line[1024];

	if (!f || !ts || !tr) {
		if (f)
			fclose(f);
		free(ts);
		free(tr);
		return -1;
	}
	for (size_t i = 0; i < d->nmsg; i++) {
		const struct drill_msg *x = &d->msg[i];

		if (x->state != DM_ACCEPTED)
			continue;
		ts[ns++] = x->sent_ms;
		if (x->recv_ms >= 0) {
			tr[nr++] = x->recv_ms;
			if ((double)(x->recv_ms - x->sent_ms) > lmax)
				lmax = (double)(x->recv_ms - x->sent_ms);
		}
	}
	qsort(ts, ns, sizeof *ts, cmp_i64);
	qsort(tr, nr, sizeof *tr, cmp_i64);

	fputs("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>", f);
	html_escape(f, s->name[0] ? s->name : "apagon drill");
	fputs("</title><style>body{font-family:sans-serif;max-width:920px;margin:2em auto;"
	    "color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:"
	    "2px 8px;font-size:13px}pre{white-space:pre-wrap}svg{background:#fff;border:1px "
	    "solid #ddd}</style></head><body>\n<h1>After-action report: ", f);
	html_escape(f, s->name[0] ? s->name : "drill");
	fputs("</h1>\n<h2>Delivery over time, against the fault timeline</h2>\n", f);
	fprintf(f, "<svg width='%d' height='%d' xmlns='http://www.w3.org/2000/svg'>\n", W, H);
	svg_axes(f, span, (double)(ns ? ns : 1), "messages (cumulative)", 0);
	svg_faults(f, d, span);
	svg_steps(f, ts, ns, span, (double)(ns ? ns : 1), "#7f7f7f", "accepted by sender", 0);
	svg_steps(f, tr, nr, span, (double)(ns ? ns : 1), "#2ca02c", "delivered (event)", 1);
	fputs("</svg>\n<p>Grey: messages accepted by their sender's node; green: messages "
	    "shown at their recipient. Shaded: faults in force; dashed: revocations.</p>\n", f);

	fputs("<h2>Latency by precedence</h2>\n", f);
	{
		double top = 1000;

		for (int p = 0; p < SCN_NPREC; p++) {
			double v = pct(st->plat[p], st->nplat[p], 95);

			if (!isnan(v) && v > top)
				top = v;
		}
		top *= 1.1;
		fprintf(f, "<svg width='%d' height='%d' xmlns='http://www.w3.org/2000/svg'>\n", W, H);
		fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>\n", ML, H - MB,
		    W - MR, H - MB);
		for (int k = 0; k <= 5; k++) {
			double y = H - MB - (H - MB - MT) * (double)k / 5;

			fprintf(f, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.1f s"
			    "</text><line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/>\n",
			    ML - 4, y + 3, top * k / 5 / 1000, ML + 1, W - MR, y, y);
		}
		for (int p = 0; p < SCN_NPREC; p++) {
			double gx = ML + 30 + p * (W - ML - MR - 40) / 4.0;
			double v50 = pct(st->plat[p], st->nplat[p], 50);
			double v95 = pct(st->plat[p], st->nplat[p], 95);
			double sc = (H - MB - MT) / top;

			if (!isnan(v50))
				fprintf(f, "<rect x='%.1f' y='%.1f' width='60' height='%.1f' fill='%s'/>"
				    "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>p50 "
				    "%.2f s</text>\n", gx, H - MB - sc * v50, sc * v50, prec_color[p],
				    gx + 30, H - MB - sc * v50 - 3, v50 / 1000);
			if (!isnan(v95))
				fprintf(f, "<rect x='%.1f' y='%.1f' width='60' height='%.1f' fill='%s' "
				    "fill-opacity='0.45'/><text x='%.1f' y='%.1f' font-size='10' "
				    "text-anchor='middle'>p95 %.2f s</text>\n", gx + 64,
				    H - MB - sc * v95, sc * v95, prec_color[p], gx + 94,
				    H - MB - sc * v95 - 3, v95 / 1000);
			fprintf(f, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%s "
			    "(%zu delivered)</text>\n", gx + 62, H - MB + 16, scenario_prec_name(p),
			    st->nplat[p]);
		}
		fputs("</svg>\n", f);
	}

	fputs("<h2>Each message's latency, by send time</h2>\n", f);
	fprintf(f, "<svg width='%d' height='%d' xmlns='http://www.w3.org/2000/svg'>\n", W, H);
	svg_axes(f, span, lmax * 1.05, "latency", 1);
	svg_faults(f, d, span);
	for (size_t i = 0; i < d->nmsg; i++) {
		const struct drill_msg *x = &d->msg[i];

		if (x->state != DM_ACCEPTED || x->recv_ms < 0)
			continue;
		fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'><title>%s %s→%s %.0f ms"
		    "</title></circle>\n", xpos((double)x->sent_ms, span),
		    H - MB - (H - MB - MT) * (double)(x->recv_ms - x->sent_ms) / (lmax * 1.05),
		    prec_color[x->plan.prec], scenario_prec_name(x->plan.prec),
		    s->node[x->plan.from].name, s->node[x->plan.to].name,
		    (double)(x->recv_ms - x->sent_ms));
	}
	for (int p = 0; p < SCN_NPREC; p++)
		fprintf(f, "<circle cx='%d' cy='%d' r='4' fill='%s'/><text x='%d' y='%d' "
		    "font-size='11'>%s</text>\n", W - MR - 100, MT + 8 + 14 * p, prec_color[p],
		    W - MR - 90, MT + 12 + 14 * p, scenario_prec_name(p));
	fputs("</svg>\n", f);
	if (s->nlora)
		svg_lora_map(f, d, st);
	fputs("<h2>The report</h2>\n<pre>", f);
	if ((m = fopen(md, "r")) != NULL) {
		while (fgets(line, sizeof line, m))
			html_escape(f, line);
		fclose(m);
	}
	fputs("</pre>\n</body></html>\n", f);
	free(ts);
	free(tr);
	return fclose(f) == 0 ? 0 : -1;
}

/* One line per planned message, for a closer look with a spreadsheet. */
static int
write_csv(const struct drill *d, const char *path)
{
	static const char *const states[] = { "planned", "not_sent", "refused", "accepted" };
	const struct scenario *s = d->s;
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "n,at_s,from,to,precedence,state,id,sent_ms,received_ms,latency_ms,"
	    "receipt_ms,owed,delivered,lost,duplicates,cut_by_revocation,why\n");
	for (size_t i = 0; i < d->nmsg; i++) {
		const struct drill_msg *m = &d->msg[i];
		int dup = m->recv_events > m->in_inbox ? m->recv_events : m->in_inbox;

		fprintf(f, "%zu,%.1f,%s,%s,%s,%s,%s,", i + 1, m->plan.at_ms / 1000.0,
		    s->node[m->plan.from].name, s->node[m->plan.to].name,
		    scenario_prec_name(m->plan.prec), states[m->state], m->id);
		if (m->state == DM_ACCEPTED)
			fprintf(f, "%lld,", (long long)m->sent_ms);
		else
			fputs(",", f);
		if (m->recv_ms >= 0)
			fprintf(f, "%lld,%lld,", (long long)m->recv_ms,
			    (long long)(m->recv_ms - m->sent_ms));
		else
			fputs(",,", f);
		if (m->receipt_ms >= 0)
			fprintf(f, "%lld,", (long long)m->receipt_ms);
		else
			fputs(",", f);
		fprintf(f, "%d,%d,%d,%d,%d,\"", m->expected, delivered(m), m->lost,
		    dup > 1 ? dup - 1 : 0, m->revoked_cut);
		for (const char *c = m->why; *c; c++) {
			if (*c == '"')
				fputc('"', f);          /* CSV doubles a quote */
			fputc(*c, f);
		}
		fputs("\"\n", f);
	}
	return fclose(f) == 0 ? 0 : -1;
}

int
drill_report(struct drill *d)
{
	struct stats st;
	char path[DRILL_PATH_MAX + 32], md[DRILL_PATH_MAX + 32], csv[DRILL_PATH_MAX + 32];
	char *txt;
	cJSON *j;
	FILE *f;
	int rc = -1;
	char a[32], b[32];

	if (compute(d, &st) != 0) {
		fprintf(stderr, "apagon-drill: out of memory\n");
		stats_free(&st);
		return -1;
	}
	j = metrics_json(d, &st);
	txt = cJSON_Print(j);
	snprintf(path, sizeof path, "%s/metrics.json", d->out);
	if (!txt || (f = fopen(path, "w")) == NULL || fputs(txt, f) < 0 ||
	    fputc('\n', f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "apagon-drill: cannot write %s\n", path);
		goto out;
	}
	snprintf(md, sizeof md, "%s/report.md", d->out);
	snprintf(path, sizeof path, "%s/report.html", d->out);
	snprintf(csv, sizeof csv, "%s/messages.csv", d->out);
	if (write_md(d, &st, md) != 0 || write_html(d, &st, path, md) != 0 ||
	    write_csv(d, csv) != 0) {
		fprintf(stderr, "apagon-drill: cannot write the reports in %s\n", d->out);
		goto out;
	}
	fmt_ms(a, sizeof a, pct(st.lat, st.nlat, 50));
	fmt_ms(b, sizeof b, pct(st.lat, st.nlat, 95));
	if (!d->quiet) {
		printf("\n== %s: results\n", d->s->name[0] ? d->s->name : "drill");
		if (st.expected)
			printf("  delivered        %zu of %zu owed messages (ratio %.3f); %zu sent "
			    "in all\n", st.delivered_expected, st.expected,
			    (double)st.delivered_expected / (double)st.expected, st.accepted);
		printf("  latency          p50 %s, p95 %s\n", a, b);
		for (int p = 0; p < SCN_NPREC; p++)
			if (st.nplat[p]) {
				fmt_ms(a, sizeof a, pct(st.plat[p], st.nplat[p], 50));
				fmt_ms(b, sizeof b, pct(st.plat[p], st.nplat[p], 95));
				printf("    %-10s     %zu delivered, p50 %s, p95 %s\n",
				    scenario_prec_name(p), st.nplat[p], a, b);
			}
		printf("  cost             %.1f frames, %.0f bytes per delivered message\n",
		    st.delivered ? (double)st.tx_frames / (double)st.delivered : 0.0,
		    st.delivered ? (double)st.tx_bytes / (double)st.delivered : 0.0);
		printf("  duplicates shown %zu; accepted and lost %zu; revoked member accepted "
		    "%zu; node crashes %d\n", st.duplicates, st.lost, st.violations, st.crashes);
		printf("  faults applied   %d of %d\n", d->nflog, d->s->nfaults);
		if (st.radios && !isnan(st.duty_max)) {
			uint64_t air = 0;

			for (int c = 0; c < d->s->nlora; c++)
				air += st.lora[c].airtime_us;
			printf("  LoRa             %llu frames sent by %d radios, %.1f s on air; "
			    "duty cycle at most %.3f %% of the hour",
			    (unsigned long long)st.kind_tx[1][0], st.radios, air / 1e6,
			    st.duty_max * 100);
			if (!isnan(st.duty_limit))
				printf(" (legal limit %.1f %%)", st.duty_limit * 100);
			printf("\n");
		}
		printf("  report           %s\n", path);
	}
	rc = 0;
out:
	cJSON_free(txt);
	cJSON_Delete(j);
	stats_free(&st);
	return rc;
}
