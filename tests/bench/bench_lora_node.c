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
 *
 * The simulation: 20 nodes at seeded random positions in 4 km x 4 km, each hearing
 * the others within 1.4 km (a connected graph is drawn); a frame takes airtime in
 * proportion to its length (one slot for 255 bytes); a node does not start while it
 * hears a frame (listen before talk), but hidden terminals collide: a receiver gets a
 * frame only if no other frame it can hear overlaps it and it is not sending itself.
 * 40 messages of 247 bytes (a 140-byte text) between random pairs, one every 25 slots;
 * delivered = accepted by its recipient before the end. Everything counted: relays,
 * retries, digests, requests. Figures depend on the seed only, not on the machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../crypto/crypto.h"
#include "../../mesh/bundle.h"
#include "../../node/lora_air.h"
#include "../../node/lora_flood.h"

#define N        20
#define MSGS     40
#define SLOT_MS  200
#define RANGE_M  1400.0
#define AREA_M   4000.0
#define TICK_MS  5
#define GAP      25             /* slots between messages */

static double
overhead_bytes(void)
{
	uint8_t apk[32], ask[64], bpk[32], bsk[64], appk[32], apsk[32], bppk[32], bpsk[32];
	uint8_t netkey[32], k[32], text[140], bundle[400], f[LORA_FRAME_MAX];
	struct netkeys nk;
	struct bundle_hdr h;
	struct seal_keys ks;
	int len, total = 0, frames;

	crypto_sign_keygen(apk, ask);
	crypto_sign_keygen(bpk, bsk);
	crypto_dh_keygen(appk, apsk);
	crypto_dh_keygen(bppk, bpsk);
	randombytes_buf(netkey, sizeof netkey);
	randombytes_buf(text, sizeof text);
	netkeys_derive(&nk, apk, netkey);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_MSG;
	crypto_key_id(h.sender, apk);
	crypto_key_id(h.recipient, bpk);
	h.created = 1767225600u;
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	memset(&ks, 0, sizeof ks);
	ks.sender_pk = apk;
	ks.recipient_pk = bpk;
	ks.my_prekey_sk = apsk;
	ks.sender_prekey_pk = appk;
	ks.recipient_prekey_pk = bppk;
	len = bundle_build_sealed(bundle, sizeof bundle, &h, text, sizeof text, &ks, &nk, ask);
	if (len <= 0)
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
	return total - (int)sizeof text;
}

/* ---------------- the 20-node simulation ---------------- */

struct tx {
	int from;
	uint64_t start, end;
	uint8_t frame[LORA_FRAME_MAX];
	int len;
};

struct sim {
	double x[N], y[N];
	int hears[N][N];
	struct lora_flood *f[N];
	struct cb { struct sim *s; int node; } cb[N];
	int dst[MSGS], src[MSGS];
	int got[MSGS];
	uint64_t busy_until[N];
	struct tx *txs;
	size_t ntx, cap;
	uint64_t frames;
};

static int
msg_of(const uint8_t *b, size_t len)
{
	return len > 20 ? b[10] | b[11] << 8 : -1;
}

static int
sim_accept(void *ctx, const uint8_t *b, size_t len, int *prec)
{
	struct cb *c = ctx;
	int m = msg_of(b, len);

	*prec = 0;
	if (m < 0 || m >= MSGS)
		return -1;
	if (c->s->dst[m] == c->node) {
		c->s->got[m] = 1;
		return LORA_ACCEPT_MINE;
	}
	return LORA_ACCEPT_NEW;
}

static unsigned long long rng_state;
static struct lora_flood_stats agg;

static double
urand(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double
dist2(const struct sim *s, int a, int b)
{
	double dx = s->x[a] - s->x[b], dy = s->y[a] - s->y[b];

	return dx * dx + dy * dy;
}

/* log10, piecewise linear inside each decade: monotonic, which is all the backoff
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

static int
connected(const struct sim *s)
{
	int seen[N] = { 1 }, stack[N], sp = 0, count = 1;

	stack[sp++] = 0;
	while (sp) {
		int u = stack[--sp];

		for (int v = 0; v < N; v++)
			if (s->hears[u][v] && !seen[v]) {
				seen[v] = 1;
				count++;
				stack[sp++] = v;
			}
	}
	return count == N;
}

static void
topology(struct sim *s, unsigned long long seed)
{
	rng_state = seed;
	do {
		for (int i = 0; i < N; i++) {
			s->x[i] = urand() * AREA_M;
			s->y[i] = urand() * AREA_M;
		}
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++)
				s->hears[i][j] = i != j && dist2(s, i, j) <= RANGE_M * RANGE_M;
	} while (!connected(s));
	for (int m = 0; m < MSGS; m++) {
		s->src[m] = (int)(urand() * N);
		do
			s->dst[m] = (int)(urand() * N);
		while (s->dst[m] == s->src[m]);
	}
}

/* SNR in quarter dB from distance (log-distance, exponent 3), for the backoff: at
 * the edge of range it is long-fast's demodulation floor, -17.5 dB (docs/modem.md),
 * 30 dB more at a tenth of the range. */
static int
snr_x4(const struct sim *s, int a, int b)
{
	double d2 = dist2(s, a, b);
	double snr = -17.5 + 15.0 * log10ish(RANGE_M * RANGE_M / (d2 < 1 ? 1 : d2));

	return (int)(snr * 4);
}

static int
on_air_near(const struct sim *s, int node, uint64_t now)
{
	for (size_t i = 0; i < s->ntx; i++) {
		const struct tx *t = &s->txs[i];

		if (t->end > now && t->start <= now && s->hears[t->from][node])
			return 1;
	}
	return 0;
}

static void
deliver(struct sim *s, const struct tx *t)
{
	for (int r = 0; r < N; r++) {
		int ok = s->hears[t->from][r];

		for (size_t i = 0; ok && i < s->ntx; i++) {
			const struct tx *o = &s->txs[i];

			if (o == t || o->end <= t->start || o->start >= t->end)
				continue;
			if (o->from == r || s->hears[o->from][r])
				ok = 0;         /* sending meanwhile, or a collision */
		}
		if (ok)
			lora_flood_input(s->f[r], t->frame, (size_t)t->len, snr_x4(s, t->from, r),
			    t->end);
	}
}

static void
run(struct sim *s, int naive, double *delivery, double *tx)
{
	uint8_t k[32], netkey[32] = { 7 };
	uint64_t end = (uint64_t)(MSGS * GAP + 400) * SLOT_MS;
	int sent = 0, delivered = 0;

	lora_air_key(k, netkey);
	memset(s->got, 0, sizeof s->got);
	memset(s->busy_until, 0, sizeof s->busy_until);
	s->ntx = 0;
	s->frames = 0;
	for (int i = 0; i < N; i++) {
		struct lora_flood_params p;

		memset(&p, 0, sizeof p);
		p.hop_limit = 7;
		p.suppress_k = 1;
		p.slot_ms = SLOT_MS;
		p.digest_ms = 100 * SLOT_MS;   /* as node/transport_lora.c */
		p.retries_own = 2;
		p.retries_relay = 1;
		p.naive = naive;
		p.seed = 1000 + (uint32_t)i;
		p.accept = sim_accept;
		s->cb[i].s = s;
		s->cb[i].node = i;
		p.ctx = &s->cb[i];
		if (lora_flood_new(&s->f[i], &p, k, 1) != 0)
			abort();
	}
	for (uint64_t now = 1; now < end; now += TICK_MS) {
		if (sent < MSGS && now >= (uint64_t)(sent * GAP + 2) * SLOT_MS) {
			uint8_t b[247];

			for (size_t i = 0; i < sizeof b; i++)
				b[i] = (uint8_t)(i * 13 + sent * 7);
			b[0] = 0;
			b[10] = (uint8_t)sent;
			b[11] = (uint8_t)(sent >> 8);
			lora_flood_offer(s->f[s->src[sent]], b, sizeof b, 0, 1, now);
			sent++;
		}
		/* Frames that end now reach their receivers. */
		for (size_t i = 0; i < s->ntx; i++)
			if (s->txs[i].end > now - TICK_MS && s->txs[i].end <= now)
				deliver(s, &s->txs[i]);
		for (int n = 0; n < N; n++) {
			struct tx t;
			int prec;

			if (s->busy_until[n] > now || on_air_near(s, n, now))
				continue;
			if ((t.len = lora_flood_output(s->f[n], now, 0, t.frame, &prec)) <= 0)
				continue;
			t.from = n;
			t.start = now;
			t.end = now + (uint64_t)SLOT_MS * (uint64_t)(t.len + 20) / 275 + 1;
			s->busy_until[n] = t.end;
			if (s->ntx == s->cap) {
				s->cap = s->cap ? 2 * s->cap : 1024;
				if ((s->txs = realloc(s->txs, s->cap * sizeof *s->txs)) == NULL)
					abort();
			}
			s->txs[s->ntx++] = t;
			s->frames++;
		}
		/* Forget transmissions long over (they can no longer overlap anything). */
		if (s->ntx > 512) {
			size_t k2 = 0;

			for (size_t i = 0; i < s->ntx; i++)
				if (s->txs[i].end + 4 * SLOT_MS > now)
					s->txs[k2++] = s->txs[i];
			s->ntx = k2;
		}
	}
	for (int m = 0; m < MSGS; m++)
		delivered += s->got[m];
	memset(&agg, 0, sizeof agg);
	for (int i = 0; i < N; i++) {
		const struct lora_flood_stats *st = lora_flood_stats(s->f[i]);

		agg.relays += st->relays;
		agg.suppressed += st->suppressed;
		agg.retries += st->retries;
		agg.implicit_acks += st->implicit_acks;
		agg.digests_out += st->digests_out;
		agg.requests_out += st->requests_out;
		agg.answers += st->answers;
		lora_flood_free(s->f[i]);
	}
	*delivery = (double)delivered / MSGS;
	*tx = (double)s->frames;
}

int
main(void)
{
	struct sim *s = calloc(1, sizeof *s);
	double dm, dn, tm, tn;

	if (!s || crypto_init() != 0)
		return 1;
	printf("lora.overhead_bytes %.0f\n", overhead_bytes());
	topology(s, 20261129ULL);
	run(s, 1, &dn, &tn);
	run(s, 0, &dm, &tm);
	printf("lora.tx_naive %.0f\n", tn);
	printf("lora.delivery_naive %.3f\n", dn);
	printf("lora.tx_managed %.0f\n", tm);
	printf("lora.delivery_managed %.3f\n", dm);
	if (getenv("BENCH_LORA_DEBUG"))
		fprintf(stderr, "managed: relays %llu suppressed %llu retries %llu acks %llu digests %llu requests %llu answers %llu\n",
		    (unsigned long long)agg.relays, (unsigned long long)agg.suppressed,
		    (unsigned long long)agg.retries, (unsigned long long)agg.implicit_acks,
		    (unsigned long long)agg.digests_out, (unsigned long long)agg.requests_out,
		    (unsigned long long)agg.answers);
	printf("lora.tx_per_delivered_vs_flood %.3f\n",
	    dm > 0 && dn > 0 ? (tm / (dm * MSGS)) / (tn / (dn * MSGS)) : -1.0);
	free(s->txs);
	free(s);
	return 0;
}
