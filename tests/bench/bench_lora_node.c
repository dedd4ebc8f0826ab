/*
 * The node side of the LoRa bearer (docs/lora.md), printed as `NAME VALUE`:
 *
 *   lora.overhead_bytes            bytes on air for a sealed 140-byte text, minus 140:
 *                                  a real bundle_build_sealed() bundle through the
 *                                  real air encoder (lora_air_encode)
 *   lora.tx_per_delivered_vs_flood transmissions per delivered message with managed
 *                                  flooding (node/lora_flood.c), divided by the same
 *                                  for naive flooding (every node relays every new
 *                                  bundle once), on the same 20-node topology and
 *                                  traffic, simulated in the same run
 *   lora.delivery_managed, lora.delivery_naive, lora.tx_managed, lora.tx_naive
 *   lora.managed.*                 where the managed frames go: the senders' own
 *                                  copies (first and retries), everyone else's
 *                                  bundle frames (relays, answers, recipients'
 *                                  copies), digests, requests; and the engines'
 *                                  counters (retries, answers, ROUTED sends, ...)
 *   lora.other_topologies.*        the same comparison on 7 more seeded topologies
 *                                  (each one's ratio and managed delivery, the mean
 *                                  ratio, the lowest delivery): how much the main
 *                                  figure owes to its one topology
 *
 * The simulation: 20 nodes at seeded random positions in 4 km x 4 km, each hearing
 * the others within 1.4 km (a connected graph is drawn); a frame takes airtime in
 * proportion to its length (one slot for 255 bytes); a node does not start while it
 * hears a frame (listen before talk), but hidden terminals collide: a receiver gets a
 * frame only if no other frame it can hear overlaps it and it is not sending itself.
 * 40 messages of 247 bytes (a 140-byte text) between random pairs, one every 25 slots;
 * delivered = accepted by its recipient before the end. Everything counted: relays,
 * retries, digests, requests, recipients' copies. The engines get the parameters
 * node/transport_lora.c gives them. Figures depend on the seeds only, not on the
 * machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../crypto/crypto.h"
#include "../../mesh/bundle.h"
#include "../../node/lora_air.h"
#include "../../node/lora_flood.h"
#include "../sealed_msg.h"

#define MAIN_SEED 20261129ULL

static double
overhead_bytes(void)
{
	uint8_t apk[32], ask[64], netkey[32], k[32], bundle[400], f[LORA_FRAME_MAX];
	struct netkeys nk;
	struct bundle_hdr h;
	int len, total = 0, frames;

	crypto_sign_keygen(apk, ask);
	randombytes_buf(netkey, sizeof netkey);
	netkeys_derive(&nk, apk, netkey);
	if ((len = sealed_msg(bundle, sizeof bundle, 140, &nk, &h)) <= 0)
		abort();
	lora_air_key(k, netkey);
	frames = lora_air_frames((size_t)len);
	for (int i = 0; i < frames; i++) {
		int n = lora_air_encode(f, bundle, (size_t)len, 0, i, k);

		if (n <= 0)
			abort();
		total += n;
	}
	netkeys_wipe(&nk);
	return total - 140;
}

/*
 * ---------------- the simulation ----------------
 *
 * Self-contained (lora_sim_*): a topology and traffic drawn from a seed, the flood
 * parameters, and the counts that come out. Nothing here prints.
 */

#define SIM_N        20
#define SIM_MSGS     40
#define SIM_MSG_LEN  247         /* a sealed 140-byte text */
#define SIM_SLOT_MS  200
#define SIM_RANGE_M  1400.0
#define SIM_AREA_M   4000.0
#define SIM_TICK_MS  5
#define SIM_GAP      25          /* slots between messages */
#define SIM_TAIL     400         /* slots after the last message */

struct lora_sim_topo {
	double x[SIM_N], y[SIM_N];
	int hears[SIM_N][SIM_N];
	int src[SIM_MSGS], dst[SIM_MSGS];       /* the traffic */
};

struct lora_sim_params {
	int naive;                      /* every node relays every new bundle once */
	int routes;                     /* give the engines the bundles' ends */
	int hop_limit, retries_own, retries_relay;
	uint32_t digest_slots;
};

struct lora_sim_counts {
	uint64_t frames;                /* everything sent */
	uint64_t src_frames;            /* a message's frames sent by its sender */
	uint64_t other_bundle_frames;   /* bundle frames sent by anyone else */
	uint64_t digest_frames, request_frames;
	int delivered;                  /* of SIM_MSGS */
	struct lora_flood_stats st;     /* the engines' counters, summed */
};

struct sim_tx {
	int from;
	uint64_t start, end;
	uint8_t frame[LORA_FRAME_MAX];
	int len;
};

struct sim {
	const struct lora_sim_topo *t;
	struct lora_flood *f[SIM_N];
	struct sim_cb { struct sim *s; int node; } cb[SIM_N];
	int got[SIM_MSGS];
	uint64_t busy_until[SIM_N];
	struct sim_tx *txs;
	size_t ntx, cap;
};

static unsigned long long sim_rng;

static double
urand(void)
{
	sim_rng = sim_rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(sim_rng >> 11) / 9007199254740992.0;
}

static double
dist2(const struct lora_sim_topo *t, int a, int b)
{
	double dx = t->x[a] - t->x[b], dy = t->y[a] - t->y[b];

	return dx * dx + dy * dy;
}

static int
connected(const struct lora_sim_topo *t)
{
	int seen[SIM_N] = { 1 }, stack[SIM_N], sp = 0, count = 1;

	stack[sp++] = 0;
	while (sp) {
		int u = stack[--sp];

		for (int v = 0; v < SIM_N; v++)
			if (t->hears[u][v] && !seen[v]) {
				seen[v] = 1;
				count++;
				stack[sp++] = v;
			}
	}
	return count == SIM_N;
}

/* Positions (redrawn until the graph is connected), then the traffic. */
static void
lora_sim_topology(struct lora_sim_topo *t, unsigned long long seed)
{
	sim_rng = seed;
	do {
		for (int i = 0; i < SIM_N; i++) {
			t->x[i] = urand() * SIM_AREA_M;
			t->y[i] = urand() * SIM_AREA_M;
		}
		for (int i = 0; i < SIM_N; i++)
			for (int j = 0; j < SIM_N; j++)
				t->hears[i][j] = i != j && dist2(t, i, j) <= SIM_RANGE_M * SIM_RANGE_M;
	} while (!connected(t));
	for (int m = 0; m < SIM_MSGS; m++) {
		t->src[m] = (int)(urand() * SIM_N);
		do
			t->dst[m] = (int)(urand() * SIM_N);
		while (t->dst[m] == t->src[m]);
	}
}

/* The message a (fake) bundle carries: its index in bytes 10..11. */
static int
msg_of(const uint8_t *b, size_t len)
{
	return len > 20 ? b[10] | b[11] << 8 : -1;
}

/* ... and in a frame: a BUNDLE frame is the bundle, a ROUTED one has a byte more. */
static int
msg_of_frame(const uint8_t *fr, int len)
{
	if (fr[0] == LORA_ROUTED_B0)
		return msg_of(fr + 1, (size_t)len - 1);
	return fr[0] >> 6 == LORA_K_BUNDLE ? msg_of(fr, (size_t)len) : -1;
}

static int
sim_accept(void *ctx, const uint8_t *b, size_t len, int *prec)
{
	struct sim_cb *c = ctx;
	int m = msg_of(b, len);

	*prec = 0;
	if (m < 0 || m >= SIM_MSGS)
		return -1;
	if (c->s->t->dst[m] == c->node) {
		c->s->got[m] = 1;
		return LORA_ACCEPT_MINE;
	}
	return LORA_ACCEPT_NEW;
}

/* The bundle's ends, as the transport reads them from the unmasked header. */
static int
sim_ends(void *ctx, const uint8_t *b, size_t len, uint8_t from[LORA_NODEID],
    uint8_t to[LORA_NODEID])
{
	struct sim_cb *c = ctx;
	int m = msg_of(b, len);

	if (m < 0 || m >= SIM_MSGS)
		return -1;
	memset(from, 0, LORA_NODEID);
	memset(to, 0, LORA_NODEID);
	from[0] = (uint8_t)(1 + c->s->t->src[m]);
	to[0] = (uint8_t)(1 + c->s->t->dst[m]);
	return 1;
}

/* log10, piecewise linear inside each decade: monotonic, which is all the SNR
 * needs (and no libm). */
static double
log10ish(double v)
{
	double r = 0;

	while (v >= 10) {
		v /= 10;
		r += 1;
	}
	while (v < 1) {
		v *= 10;
		r -= 1;
	}
	return r + (v - 1) / 9;
}

/* SNR in quarter dB from distance (log-distance, exponent 3): at the edge of range it
 * is long-fast's demodulation floor, -17.5 dB (docs/modem.md), 30 dB more at a tenth
 * of the range. */
static int
snr_x4(const struct lora_sim_topo *t, int a, int b)
{
	double d2 = dist2(t, a, b);
	double snr = -17.5 + 15.0 * log10ish(SIM_RANGE_M * SIM_RANGE_M / (d2 < 1 ? 1 : d2));

	return (int)(snr * 4);
}

static int
on_air_near(const struct sim *s, int node, uint64_t now)
{
	for (size_t i = 0; i < s->ntx; i++) {
		const struct sim_tx *x = &s->txs[i];

		if (x->end > now && x->start <= now && s->t->hears[x->from][node])
			return 1;
	}
	return 0;
}

static void
deliver(struct sim *s, const struct sim_tx *x)
{
	for (int r = 0; r < SIM_N; r++) {
		int ok = s->t->hears[x->from][r];

		for (size_t i = 0; ok && i < s->ntx; i++) {
			const struct sim_tx *o = &s->txs[i];

			if (o == x || o->end <= x->start || o->start >= x->end)
				continue;
			if (o->from == r || s->t->hears[o->from][r])
				ok = 0;         /* sending meanwhile, or a collision */
		}
		if (ok)
			lora_flood_input(s->f[r], x->frame, (size_t)x->len,
			    snr_x4(s->t, x->from, r), x->end);
	}
}

static void
count_frame(const struct sim *s, struct lora_sim_counts *c, const struct sim_tx *x)
{
	int m = msg_of_frame(x->frame, x->len);

	c->frames++;
	if (m >= 0 && m < SIM_MSGS)
		*(s->t->src[m] == x->from ? &c->src_frames : &c->other_bundle_frames) += 1;
	else if (x->frame[0] >> 6 == LORA_K_DIGEST)
		c->digest_frames++;
	else
		c->request_frames++;
}

static void
add_stats(struct lora_flood_stats *a, const struct lora_flood_stats *b)
{
	a->relays += b->relays;
	a->suppressed += b->suppressed;
	a->retries += b->retries;
	a->implicit_acks += b->implicit_acks;
	a->digests_out += b->digests_out;
	a->requests_out += b->requests_out;
	a->answers += b->answers;
	a->routed_out += b->routed_out;
	a->routed_relays += b->routed_relays;
	a->route_fallbacks += b->route_fallbacks;
}

/* One run of the traffic on the topology. 0, or -1 if out of memory. */
static int
lora_sim_run(const struct lora_sim_topo *t, const struct lora_sim_params *sp,
    struct lora_sim_counts *c)
{
	struct sim *s = calloc(1, sizeof *s);
	uint8_t k[32], netkey[32] = { 7 };
	uint64_t end = (uint64_t)(SIM_MSGS * SIM_GAP + SIM_TAIL) * SIM_SLOT_MS;
	int sent = 0, rc = 0;

	memset(c, 0, sizeof *c);
	if (!s)
		return -1;
	s->t = t;
	lora_air_key(k, netkey);
	for (int i = 0; i < SIM_N; i++) {
		struct lora_flood_params p;

		memset(&p, 0, sizeof p);
		p.hop_limit = sp->hop_limit;
		p.suppress_k = 1;
		p.slot_ms = SIM_SLOT_MS;
		p.digest_ms = sp->digest_slots * SIM_SLOT_MS;
		p.retries_own = sp->retries_own;
		p.retries_relay = sp->retries_relay;
		p.naive = sp->naive;
		p.seed = 1000 + (uint32_t)i;
		p.accept = sim_accept;
		p.ends = sp->routes ? sim_ends : NULL;
		s->cb[i].s = s;
		s->cb[i].node = i;
		p.ctx = &s->cb[i];
		if (lora_flood_new(&s->f[i], &p, k, 1) != 0) {
			rc = -1;
			goto out;
		}
	}
	for (uint64_t now = 1; now < end; now += SIM_TICK_MS) {
		if (sent < SIM_MSGS && now >= (uint64_t)(sent * SIM_GAP + 2) * SIM_SLOT_MS) {
			uint8_t b[SIM_MSG_LEN];

			for (size_t i = 0; i < sizeof b; i++)
				b[i] = (uint8_t)(i * 13 + sent * 7);
			b[0] = 0;
			b[10] = (uint8_t)sent;
			b[11] = (uint8_t)(sent >> 8);
			lora_flood_offer(s->f[t->src[sent]], b, sizeof b, 0, 1, now);
			sent++;
		}
		/* Frames that end now reach their receivers. */
		for (size_t i = 0; i < s->ntx; i++)
			if (s->txs[i].end > now - SIM_TICK_MS && s->txs[i].end <= now)
				deliver(s, &s->txs[i]);
		for (int n = 0; n < SIM_N; n++) {
			struct sim_tx x;
			int prec;

			if (s->busy_until[n] > now || on_air_near(s, n, now))
				continue;
			if ((x.len = lora_flood_output(s->f[n], now, 0, x.frame, &prec)) <= 0)
				continue;
			x.from = n;
			x.start = now;
			x.end = now + (uint64_t)SIM_SLOT_MS * (uint64_t)(x.len + 20) / 275 + 1;
			s->busy_until[n] = x.end;
			if (s->ntx == s->cap) {
				struct sim_tx *nt;

				s->cap = s->cap ? 2 * s->cap : 1024;
				if ((nt = realloc(s->txs, s->cap * sizeof *s->txs)) == NULL) {
					rc = -1;
					goto out;
				}
				s->txs = nt;
			}
			s->txs[s->ntx++] = x;
			count_frame(s, c, &x);
		}
		/* Forget transmissions long over (they can no longer overlap anything). */
		if (s->ntx > 512) {
			size_t k2 = 0;

			for (size_t i = 0; i < s->ntx; i++)
				if (s->txs[i].end + 4 * SIM_SLOT_MS > now)
					s->txs[k2++] = s->txs[i];
			s->ntx = k2;
		}
	}
	for (int m = 0; m < SIM_MSGS; m++)
		c->delivered += s->got[m];
out:
	for (int i = 0; i < SIM_N; i++) {
		if (!s->f[i])
			continue;
		add_stats(&c->st, lora_flood_stats(s->f[i]));
		lora_flood_free(s->f[i]);
	}
	free(s->txs);
	free(s);
	return rc;
}

/* ---------------- the figures ---------------- */

/* As node/transport_lora.c sets them (digests every 100 slots). */
static const struct lora_sim_params managed = { 0, 1, 7, 2, 1, 100 };
/* The same parameters: naive mode leaves out everything but one relay each. */
static const struct lora_sim_params naive = { 1, 0, 7, 2, 1, 100 };

/* Managed transmissions per delivered message over naive flooding's; -1 if either
 * delivered nothing. */
static double
ratio(const struct lora_sim_counts *m, const struct lora_sim_counts *n)
{
	if (!m->delivered || !n->delivered)
		return -1;
	return ((double)m->frames / m->delivered) / ((double)n->frames / n->delivered);
}

int
main(void)
{
	struct lora_sim_topo t;
	struct lora_sim_counts cm, cn;
	double sum = 0, dmin = 1;
	int others = 0;

	if (crypto_init() != 0)
		return 1;
	printf("lora.overhead_bytes %.0f\n", overhead_bytes());
	lora_sim_topology(&t, MAIN_SEED);
	if (lora_sim_run(&t, &naive, &cn) != 0 || lora_sim_run(&t, &managed, &cm) != 0)
		return 1;
	printf("lora.tx_naive %llu\n", (unsigned long long)cn.frames);
	printf("lora.delivery_naive %.3f\n", (double)cn.delivered / SIM_MSGS);
	printf("lora.tx_managed %llu\n", (unsigned long long)cm.frames);
	printf("lora.delivery_managed %.3f\n", (double)cm.delivered / SIM_MSGS);
	printf("lora.managed.tx_sender_copies %llu\n", (unsigned long long)cm.src_frames);
	printf("lora.managed.tx_other_bundle_frames %llu\n",
	    (unsigned long long)cm.other_bundle_frames);
	printf("lora.managed.tx_digests %llu\n", (unsigned long long)cm.digest_frames);
	printf("lora.managed.tx_requests %llu\n", (unsigned long long)cm.request_frames);
	printf("lora.managed.relays %llu\n", (unsigned long long)cm.st.relays);
	printf("lora.managed.routed_relays %llu\n", (unsigned long long)cm.st.routed_relays);
	printf("lora.managed.answers %llu\n", (unsigned long long)cm.st.answers);
	printf("lora.managed.retries %llu\n", (unsigned long long)cm.st.retries);
	printf("lora.managed.routed_sends %llu\n", (unsigned long long)cm.st.routed_out);
	printf("lora.managed.route_fallbacks %llu\n", (unsigned long long)cm.st.route_fallbacks);
	printf("lora.managed.suppressed %llu\n", (unsigned long long)cm.st.suppressed);
	for (unsigned long long seed = 1; seed <= 7; seed++) {
		struct lora_sim_topo o;
		struct lora_sim_counts om, on;
		double r;

		lora_sim_topology(&o, seed);
		if (lora_sim_run(&o, &naive, &on) != 0 || lora_sim_run(&o, &managed, &om) != 0)
			return 1;
		if ((r = ratio(&om, &on)) < 0)
			continue;
		printf("lora.other_topologies.%llu.ratio %.3f\n", seed, r);
		printf("lora.other_topologies.%llu.delivery_managed %.3f\n", seed,
		    (double)om.delivered / SIM_MSGS);
		sum += r;
		others++;
		if ((double)om.delivered / SIM_MSGS < dmin)
			dmin = (double)om.delivered / SIM_MSGS;
	}
	printf("lora.other_topologies.ratio_mean %.3f\n", others ? sum / others : -1.0);
	printf("lora.other_topologies.delivery_managed_min %.3f\n", dmin);
	printf("lora.tx_per_delivered_vs_flood %.3f\n", ratio(&cm, &cn));
	return 0;
}
