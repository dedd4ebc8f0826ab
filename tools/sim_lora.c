/*
 * apagon-drill sim --radio lora (docs/drills.md, "The LoRa channel"): every node runs
 * the production flooding engine (node/lora_flood.c, the one node/transport_lora.c
 * drives) over its own acceptance path and in-memory store, on one shared radio
 * channel, on virtual time, event by event:
 *
 *   - positions: uniform in the area, or moving (random waypoint, sim_mobility.h);
 *   - the channel's physics is firmware/host/chan_model.c, the channel simulator's:
 *     log-distance path loss gives RSSI and SNR; a frame is heard only at or above
 *     the SF's demodulation floor; a frame overlapping it at a receiver destroys it
 *     unless it is capture_db weaker; a node that transmits hears nothing (half
 *     duplex);
 *   - airtime from the datasheet formula (firmware/airtime.c);
 *   - each node's modem: listen before talk (a frame heard above the floor makes the
 *     channel busy once its preamble has been on air for two symbols, the time of
 *     channel activity detection; random backoff of 1..2^min(tries,5) slots of 16 symbols, the
 *     frame dropped after 16 busy tries, as firmware/modem.c does), and the EU868
 *     duty-cycle limiter of firmware/duty.c (g3, 10 % over a sliding hour), which
 *     refuses a frame that would break it; the node then holds until the limiter's
 *     stated wait (at most a minute), as node/transport_lora.c does;
 *   - the node's airtime shares (ROUTINE to half the budget, PRIORITY to 70 %,
 *     IMMEDIATE to 90 %, FLASH all), passed to lora_flood_output as its lowest
 *     precedence, the rule of docs/lora.md.
 *
 * The engine reads each bundle's ends from its header (ends_cb), as the transport
 * does, and so learns routes; it orders relays by the SNR handed to it per frame.
 * Receipts (--receipts) flood back like any new bundle. Not modelled: clock skew,
 * fading (the path loss is fixed for a distance), the store walk's one-second delay
 * before a new bundle is offered.
 */
#include "sim_core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../firmware/airtime.h"
#include "../firmware/duty.h"
#include "../firmware/host/chan_model.h"
#include "../firmware/proto/rnode.h"
#include "../mesh/bundle.h"
#include "../mesh/mesh.h"
#include "../mesh/store.h"
#include "../node/lora_air.h"
#include "../node/lora_flood.h"
#include "sim_mobility.h"

#define LBT_MAX_TRIES   16
#define HOLD_MAX_MS     60000
#define EU868_G3_HZ     869525000u

enum { EV_WAKE, EV_TXEND, EV_MSG };

struct ev {
	uint64_t t;
	int kind, node;
	uint32_t arg;                   /* WAKE: generation; TXEND: tx slot; MSG: message */
	uint64_t seq;                   /* ties in time order of scheduling */
};

struct ltx {
	uint32_t id;
	int from;
	uint64_t start, end;
	int len;
	uint8_t frame[LORA_FRAME_MAX];
};

struct lnode {
	struct lora_flood *fl;
	struct duty duty;
	int band;
	uint32_t gen;
	uint64_t busy_until, hold_until;
	/* the frame handed to the modem, waiting for a free channel */
	uint8_t frame[LORA_FRAME_MAX];
	int flen, tries;
	double x, y;
	struct lctx { struct sim *s; int i; } cb;
};

struct lsim {
	struct sim *s;
	struct lnode *nd;
	struct radio_config rc;
	struct chan_model ch;
	double noise, floor;
	struct mob *mob;
	uint64_t pos_at;
	struct ev *heap;
	size_t nheap, capheap;
	uint64_t seq;
	struct ltx *tx;                 /* frames on air or recently so */
	size_t ntx, captx;
	uint32_t next_id;
	uint64_t air_max;               /* the longest frame's airtime */
	uint64_t cad_ms;                /* channel activity detection: two symbols */
	struct chan_counts {
		uint64_t frames, bytes, heard, collisions, below_floor, half_duplex, lbt_busy,
		    tx_failed, duty_refusals;
		uint32_t duty_used_max;
	} c;
};

/* ---------------- the event queue (a binary heap) ---------------- */

static int
ev_less(const struct ev *a, const struct ev *b)
{
	return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static int
push(struct lsim *l, uint64_t t, int kind, int node, uint32_t arg)
{
	size_t i;

	if (mesh_grow((void **)&l->heap, &l->capheap, l->nheap + 1, sizeof *l->heap, 4096) != 0)
		return -1;
	i = l->nheap++;
	l->heap[i] = (struct ev){ .t = t, .kind = kind, .node = node, .arg = arg, .seq = l->seq++ };
	while (i > 0 && ev_less(&l->heap[i], &l->heap[(i - 1) / 2])) {
		struct ev tmp = l->heap[i];

		l->heap[i] = l->heap[(i - 1) / 2];
		l->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct ev
pop(struct lsim *l)
{
	struct ev top = l->heap[0];
	size_t i = 0;

	l->heap[0] = l->heap[--l->nheap];
	for (;;) {
		size_t a = 2 * i + 1, b = a + 1, m = i;

		if (a < l->nheap && ev_less(&l->heap[a], &l->heap[m]))
			m = a;
		if (b < l->nheap && ev_less(&l->heap[b], &l->heap[m]))
			m = b;
		if (m == i)
			break;
		struct ev tmp = l->heap[i];

		l->heap[i] = l->heap[m];
		l->heap[m] = tmp;
		i = m;
	}
	return top;
}

/* Wake node i at t; an earlier pending wake-up is superseded. */
static int
wake(struct lsim *l, int i, uint64_t t)
{
	return push(l, t, EV_WAKE, i, ++l->nd[i].gen);
}

/* ---------------- the channel ---------------- */

static void
positions(struct lsim *l, uint64_t t)
{
	if (!l->mob || t < l->pos_at + 1000)
		return;
	for (int i = 0; i < l->s->p.nodes; i++)
		mob_position(l->mob, i, t - (uint64_t)SIM_T0 * 1000, &l->nd[i].x, &l->nd[i].y);
	l->pos_at = t;
}

/* Received power at b of a frame from a, dBm. */
static double
power(const struct lsim *l, int a, int b)
{
	double dx = l->nd[a].x - l->nd[b].x, dy = l->nd[a].y - l->nd[b].y;

	return l->rc.power_dbm - chan_path_loss_db(&l->ch, sqrt(dx * dx + dy * dy));
}

/* The latest end of a frame node i hears above the floor at t (0: channel free).
 * Channel activity detection needs the frame's preamble on air for cad_ms first: two
 * nodes that start within that window both find the channel free. */
static uint64_t
sensed_until(const struct lsim *l, int i, uint64_t t)
{
	uint64_t until = 0;

	for (size_t k = 0; k < l->ntx; k++) {
		const struct ltx *x = &l->tx[k];

		if (x->start + l->cad_ms <= t && x->end > t && x->from != i && x->end > until &&
		    power(l, x->from, i) - l->noise >= l->floor)
			until = x->end;
	}
	return until;
}

/* A frame ends: every node in range that was not sending and that no overlapping
 * frame drowned hands it to its engine. */
static void
tx_end(struct lsim *l, const struct ltx *x)
{
	struct sim *s = l->s;

	for (int r = 0; r < s->p.nodes; r++) {
		double p, snr;
		int ok = 1;

		if (r == x->from)
			continue;
		p = power(l, x->from, r);
		snr = p - l->noise;
		if (snr < l->floor) {
			l->c.below_floor++;
			continue;
		}
		for (size_t k = 0; k < l->ntx && ok; k++) {
			const struct ltx *o = &l->tx[k];

			if (o == x || o->end <= x->start || o->start >= x->end)
				continue;
			if (o->from == r) {
				l->c.half_duplex++;
				ok = 0;
			} else if (chan_collides(&l->ch, p, power(l, o->from, r))) {
				l->c.collisions++;
				ok = 0;
			}
		}
		if (!ok)
			continue;
		l->c.heard++;
		s->cur_node = r;
		lora_flood_input(l->nd[r].fl, x->frame, (size_t)x->len,
		    (int)lround(snr * 4 > 127 ? 127 : snr * 4), x->end);
		/* A receipt the delivery wrote: new in the store, so flooded, as the
		 * transport's store walk would find it. */
		if (s->n[r].hook.rcpt_len) {
			struct sim_hook *hk = &s->n[r].hook;
			struct bundle b;

			if (bundle_decode(&b, hk->rcpt, hk->rcpt_len, &s->nk) == MESH_OK)
				lora_flood_offer(l->nd[r].fl, hk->rcpt, hk->rcpt_len, b.h.precedence,
				    1, x->end);
			hk->rcpt_len = 0;
		}
		/* The engine may want to answer now (a node with a frame waiting for the
		 * channel keeps its backoff). */
		if (l->nd[r].flen == 0 && l->nd[r].busy_until <= x->end)
			wake(l, r, x->end);
	}
}

/* ---------------- a node ---------------- */

/* The lowest precedence the airtime budget still allows (docs/lora.md). */
static int
budget_floor(struct lnode *n, uint64_t t)
{
	uint32_t used = duty_used_ms(&n->duty, n->band, t), budget = duty_budget_ms(&n->duty,
	    n->band);
	static const unsigned share_pct[] = { 50, 70, 90 };
	int minp = 0;

	while (minp < 3 && (uint64_t)used * 100 >= (uint64_t)budget * share_pct[minp])
		minp++;
	return minp;
}

static int
node_wake(struct lsim *l, int i, uint64_t t)
{
	struct lnode *n = &l->nd[i];
	uint32_t air, wait;
	int prec;

	if (n->busy_until > t)
		return wake(l, i, n->busy_until);
	if (n->hold_until > t)
		return wake(l, i, n->hold_until);
	if (n->flen == 0) {
		int64_t to;

		n->flen = lora_flood_output(n->fl, t, budget_floor(n, t), n->frame, &prec);
		if (n->flen <= 0) {
			n->flen = 0;
			/* Due but nothing came out: held back by the airtime shares; look
			 * again a tenth of a slot later rather than spin. */
			to = lora_flood_timeout(n->fl, t);
			return to < 0 ? 0 : wake(l, i, t + (uint64_t)(to > 0 ? to :
			    (int64_t)l->air_max / 10 + 1));
		}
		n->tries = 0;
		air = lora_airtime_ms(&l->rc, (size_t)n->flen);
		if ((wait = duty_check(&n->duty, n->band, air, t)) != 0) {
			duty_refused(&n->duty, n->band);
			l->c.duty_refusals++;
			n->flen = 0;
			n->hold_until = t + (wait < HOLD_MAX_MS ? wait : HOLD_MAX_MS);
			return wake(l, i, n->hold_until);
		}
	}
	/* Listen before talk. */
	positions(l, t);
	if (sensed_until(l, i, t) != 0) {
		double sym_ms = (double)(1u << l->rc.sf) * 1000.0 / (double)l->rc.bw_hz;
		unsigned span = 1u << (n->tries < 5 ? n->tries : 5);

		l->c.lbt_busy++;
		if (++n->tries >= LBT_MAX_TRIES) {
			l->c.tx_failed++;
			n->flen = 0;
			return wake(l, i, t + 1);
		}
		return wake(l, i, t + (uint64_t)((double)(1 + sim_rnd(l->s) % span) * 16 * sym_ms) + 1);
	}
	air = lora_airtime_ms(&l->rc, (size_t)n->flen);
	duty_book(&n->duty, n->band, air, t);
	{
		uint32_t used = duty_used_ms(&n->duty, n->band, t);

		if (used > l->c.duty_used_max)
			l->c.duty_used_max = used;
	}
	if (mesh_grow((void **)&l->tx, &l->captx, l->ntx + 1, sizeof *l->tx, 256) != 0)
		return -1;
	l->tx[l->ntx] = (struct ltx){ .id = ++l->next_id, .from = i, .start = t, .end = t + air,
	    .len = n->flen };
	memcpy(l->tx[l->ntx].frame, n->frame, (size_t)n->flen);
	if (push(l, t + air, EV_TXEND, i, l->next_id) != 0)
		return -1;
	l->ntx++;
	l->c.frames++;
	l->c.bytes += (uint64_t)n->flen;
	n->busy_until = t + air;
	n->flen = 0;
	return wake(l, i, n->busy_until);
}

/* The engine's acceptance path: the node's own store, as node/lora_glue.c does it. */
static int
accept_cb(void *ctx, const uint8_t *buf, size_t len, int *prec)
{
	struct lctx *c = ctx;
	struct sim *s = c->s;
	struct accept_ctx *ax = &s->n[c->i].ax;
	struct accept_result res;
	struct bundle b;
	struct sim_msg *m;
	int rc;

	*prec = 0;
	if (accept_begin(ax) != MESH_OK)
		return -1;
	rc = accept_bundle(ax, buf, len, (int64_t)(s->now / 1000), &res);
	if (accept_commit(ax) != MESH_OK)
		return -1;
	if (rc == MESH_EDUPLICATE)
		return LORA_ACCEPT_HELD;
	if (rc == MESH_EUNKNOWN)
		return LORA_ACCEPT_LATER;
	if (rc != MESH_OK)
		return -1;
	if (bundle_decode(&b, buf, len, &s->nk) == MESH_OK)
		*prec = b.h.precedence;
	s->accepted++;
	if ((m = sim_find_msg(s, res.id)) != NULL && m->to == c->i) {
		int64_t *got = s->flood_pass ? &m->flood_got_ms : &m->got_ms;

		if (!s->flood_pass)
			m->recv_count++;
		if (*got < 0)
			*got = (int64_t)(s->now - (uint64_t)SIM_T0 * 1000);
	}
	return res.for_me ? LORA_ACCEPT_MINE : LORA_ACCEPT_NEW;
}

/* The bundle's ends from its header, as node/transport_lora.c reads them (messages
 * and receipts; certificates and the like are flooded). */
static int
ends_cb(void *ctx, const uint8_t *buf, size_t len, uint8_t from[LORA_NODEID],
    uint8_t to[LORA_NODEID])
{
	struct lctx *c = ctx;
	struct bundle b;

	if (bundle_decode(&b, buf, len, &c->s->nk) != MESH_OK || !bundle_type_sealed(b.h.type))
		return -1;
	memcpy(from, b.h.sender, LORA_NODEID);
	memcpy(to, b.h.recipient, LORA_NODEID);
	return memcmp(to, bundle_broadcast_id, LORA_NODEID) != 0;
}

/* Forget frames that can no longer overlap one still on air (their own end, and so
 * their TXEND, is past). */
static void
prune(struct lsim *l, uint64_t t)
{
	size_t k = 0;

	for (size_t i = 0; i < l->ntx; i++)
		if (l->tx[i].end + l->air_max >= t) {
			if (k != i)
				l->tx[k] = l->tx[i];
			k++;
		}
	l->ntx = k;
}

static struct ltx *
tx_by_id(struct lsim *l, uint32_t id)
{
	for (size_t i = 0; i < l->ntx; i++)
		if (l->tx[i].id == id)
			return &l->tx[i];
	return NULL;
}

struct held_ctx {
	struct lora_flood *fl;
	uint64_t now;
};

static int
remember(void *ctx, const struct stored_bundle *sb)
{
	struct held_ctx *h = ctx;

	lora_flood_offer(h->fl, sb->raw, sb->raw_len, sb->precedence, 0, h->now);
	return 0;
}

/* ---------------- one pass ---------------- */

struct pass_out {
	struct chan_counts c;
	struct lora_flood_stats st;     /* summed over the nodes */
	uint64_t events;
};

static int
one_pass(struct sim *s, int naive, struct pass_out *po)
{
	struct lsim l;
	uint8_t key[32], netkey[32] = { 0 };
	uint64_t t0 = (uint64_t)SIM_T0 * 1000, end = t0 + (uint64_t)s->p.minutes * 60000;
	int rc = -1;

	memset(&l, 0, sizeof l);
	memset(po, 0, sizeof *po);
	l.s = s;
	s->flood_pass = naive;
	chan_model_defaults(&l.ch);
	l.rc.freq_hz = EU868_G3_HZ;
	l.rc.bw_hz = s->p.bw_hz;
	l.rc.sf = (uint8_t)s->p.sf;
	l.rc.cr = (uint8_t)s->p.cr;
	l.rc.preamble = 16;
	l.rc.power_dbm = (int8_t)s->p.power_dbm;
	l.rc.crc = 1;
	l.noise = chan_noise_dbm(&l.ch, l.rc.bw_hz);
	l.floor = chan_snr_floor(l.rc.sf);
	l.air_max = lora_airtime_ms(&l.rc, LORA_FRAME_MAX);
	l.cad_ms = (2000ull << l.rc.sf) / l.rc.bw_hz + 1;
	if (l.air_max == 0) {
		fprintf(stderr, "apagon-drill sim: no airtime for SF%d, %u Hz, 4/%d: check "
		    "--sf, --bw and --cr\n", s->p.sf, s->p.bw_hz, s->p.cr);
		return -1;
	}
	/* The air key: from a network key of the run's own (any fixed 32 bytes do; the
	 * engine only MACs fragments with it). */
	memcpy(netkey, s->nk.network_id, sizeof netkey < sizeof s->nk.network_id ?
	    sizeof netkey : sizeof s->nk.network_id);
	lora_air_key(key, netkey);
	if ((l.nd = calloc((size_t)s->p.nodes, sizeof *l.nd)) == NULL)
		return -1;
	if (s->p.mobility) {
		struct mob_params mp;

		sim_mob_params(s, &mp);
		if ((l.mob = mob_new(&mp)) == NULL)
			goto out;
	}
	{
		/* Static positions come from their own seeded stream, the same each pass. */
		uint64_t keep = s->rng;

		s->rng = s->p.seed * 0xD1B54A32D192ED03ull + 7;
		for (int i = 0; i < s->p.nodes; i++) {
			l.nd[i].x = sim_rnd01(s) * s->p.area_m;
			l.nd[i].y = sim_rnd01(s) * s->p.area_m;
		}
		s->rng = keep ^ (uint64_t)naive;
	}
	l.pos_at = 0;
	positions(&l, t0 + 1000);
	for (int i = 0; i < s->p.nodes; i++) {
		struct lnode *n = &l.nd[i];
		struct lora_flood_params fp;

		memset(&fp, 0, sizeof fp);
		/* As node/transport_lora.c configures the engine. */
		fp.hop_limit = 7;
		fp.suppress_k = 1;
		fp.slot_ms = (uint32_t)l.air_max;
		fp.digest_ms = naive ? 0 : 100 * fp.slot_ms;
		fp.retries_own = 2;
		fp.retries_relay = 1;
		fp.cache_max = 512;
		fp.naive = naive;
		fp.seed = (uint32_t)(s->p.seed * 7919 + (uint64_t)i + 1);
		fp.accept = accept_cb;
		fp.ends = ends_cb;
		n->cb.s = s;
		n->cb.i = i;
		fp.ctx = &n->cb;
		if (lora_flood_new(&n->fl, &fp, key, t0) != 0)
			goto out;
		duty_init(&n->duty);
		duty_set_region(&n->duty, APG_REGION_EU868);
		if ((n->band = duty_band_of(&n->duty, l.rc.freq_hz, l.rc.bw_hz)) < 0) {
			fprintf(stderr, "apagon-drill sim: a %u Hz channel does not fit EU868's "
			    "g3 sub-band; use --bw 250000 or less\n", l.rc.bw_hz);
			goto out;
		}
		/* What the node holds at start (the senders' CERTs) is remembered, not sent,
		 * as the transport's first walk of the store does. */
		{
			struct held_ctx h = { n->fl, t0 };

			if (store_each_bundle(s->n[i].st, SIM_T0, remember, &h) < 0)
				goto out;
		}
		if (wake(&l, i, t0 + 1) != 0)
			goto out;
	}
	for (size_t k = 0; k < s->nm; k++)
		if (push(&l, t0 + s->m[k].at_ms, EV_MSG, s->m[k].from, (uint32_t)k) != 0)
			goto out;
	while (l.nheap > 0) {
		struct ev e = pop(&l);

		if (e.t >= end)
			break;
		s->now = e.t;
		po->events++;
		if (e.kind == EV_WAKE) {
			if (e.arg != l.nd[e.node].gen)
				continue;
			if (node_wake(&l, e.node, e.t) != 0)
				goto out;
		} else if (e.kind == EV_TXEND) {
			struct ltx *x = tx_by_id(&l, e.arg);

			positions(&l, e.t);
			if (x)
				tx_end(&l, x);
			prune(&l, e.t);
		} else {
			struct sim_msg *m = &s->m[e.arg];
			struct bundle b;

			if (sim_store_into(s, m->from, m->raw, m->len, (int64_t)(e.t / 1000), 1) != 0) {
				fprintf(stderr, "apagon-drill sim: a sender refused its own message\n");
				goto out;
			}
			if (bundle_decode(&b, m->raw, m->len, &s->nk) != MESH_OK ||
			    lora_flood_offer(l.nd[m->from].fl, m->raw, m->len, b.h.precedence, 1,
			    e.t) < 0) {
				fprintf(stderr, "apagon-drill sim: a message does not fit the LoRa "
				    "bearer\n");
				goto out;
			}
			if (wake(&l, m->from, e.t) != 0)
				goto out;
		}
	}
	po->c = l.c;
	/* The engine's counters are all uint64_t: summed field by field. */
	_Static_assert(sizeof(struct lora_flood_stats) % sizeof(uint64_t) == 0,
	    "lora_flood_stats holds counters only");
	for (int i = 0; i < s->p.nodes; i++) {
		const uint64_t *from = (const uint64_t *)(const void *)lora_flood_stats(l.nd[i].fl);
		uint64_t *to = (uint64_t *)(void *)&po->st;

		for (size_t k = 0; k < sizeof po->st / sizeof *to; k++)
			to[k] += from[k];
	}
	rc = 0;
out:
	for (int i = 0; l.nd && i < s->p.nodes; i++)
		lora_flood_free(l.nd[i].fl);
	free(l.nd);
	free(l.heap);
	free(l.tx);
	mob_free(l.mob);
	s->flood_pass = 0;
	return rc;
}

static void
pass_json(cJSON *o, const struct pass_out *po)
{
	const struct {
		const char *name;
		uint64_t v;
	} f[] = {
		{ "frames", po->c.frames }, { "bytes", po->c.bytes },
		{ "frames_heard", po->c.heard }, { "lost_to_collisions", po->c.collisions },
		{ "lost_while_sending", po->c.half_duplex }, { "lbt_busy", po->c.lbt_busy },
		{ "tx_failed_busy", po->c.tx_failed }, { "duty_refusals", po->c.duty_refusals },
		{ "duty_used_max_ms", po->c.duty_used_max }, { "relays", po->st.relays },
		{ "suppressed", po->st.suppressed }, { "retries", po->st.retries },
		{ "implicit_acks", po->st.implicit_acks }, { "digests_out", po->st.digests_out },
		{ "requests_out", po->st.requests_out }, { "answers", po->st.answers },
		{ "bundles_accepted", po->st.bundles_in }, { "events", po->events },
	};

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		cJSON_AddNumberToObject(o, f[i].name, (double)f[i].v);
}

int
sim_lora(struct sim *s, cJSON *info, size_t *lost, double *duty_max, double *f_duty_max,
    int64_t *w_managed, int64_t *w_flood)
{
	struct pass_out po;
	struct radio_config rc = { .bw_hz = s->p.bw_hz, .sf = (uint8_t)s->p.sf,
	    .cr = (uint8_t)s->p.cr, .preamble = 16, .crc = 1 };
	struct chan_model ch;
	int64_t t = drill_mono_ms();
	double reach;

	chan_model_defaults(&ch);
	/* The distance at which a frame meets the floor, for the record. */
	reach = pow(10, (s->p.power_dbm - chan_noise_dbm(&ch, rc.bw_hz) - chan_snr_floor(rc.sf) -
	    ch.ref_loss_db - ch.extra_loss_db) / (10 * ch.n));
	cJSON_AddNumberToObject(info, "sf", s->p.sf);
	cJSON_AddNumberToObject(info, "bw_hz", s->p.bw_hz);
	cJSON_AddNumberToObject(info, "cr", s->p.cr);
	cJSON_AddNumberToObject(info, "tx_power_dbm", s->p.power_dbm);
	cJSON_AddNumberToObject(info, "frequency_hz", EU868_G3_HZ);
	cJSON_AddNumberToObject(info, "airtime_255_bytes_ms", lora_airtime_ms(&rc, 255));
	cJSON_AddNumberToObject(info, "area_m", s->p.area_m);
	cJSON_AddNumberToObject(info, "range_m", round(reach));
	cJSON_AddStringToObject(info, "positions", s->p.mobility == 2 ? "random waypoint, "
	    "vehicles" : s->p.mobility ? "random waypoint, walkers" : "static, uniform");
	cJSON_AddNumberToObject(info, "duty_cycle_limit", 0.1);
	if (one_pass(s, 0, &po) != 0)
		return -1;
	*w_managed = drill_mono_ms() - t;
	*lost = sim_lost(s);
	s->frames = po.c.frames;
	s->bytes = po.c.bytes;
	*duty_max = po.c.duty_used_max / (double)DUTY_WINDOW_MS;
	pass_json(cJSON_AddObjectToObject(info, "managed"), &po);
	if (!s->p.compare)
		return 0;
	t = drill_mono_ms();
	if (sim_stores_fresh(s) != 0 || one_pass(s, 1, &po) != 0)
		return -1;
	*w_flood = drill_mono_ms() - t;
	s->f_frames = po.c.frames;
	s->f_bytes = po.c.bytes;
	*f_duty_max = po.c.duty_used_max / (double)DUTY_WINDOW_MS;
	pass_json(cJSON_AddObjectToObject(info, "naive"), &po);
	return 0;
}
