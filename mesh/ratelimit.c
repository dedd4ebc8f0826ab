/*
 * Token buckets (ratelimit.h). The reasoning and the defaults are in
 * docs/protocol.md, 15.5 "Rate limits".
 */
#include "ratelimit.h"
#include "bundle.h"

#include <string.h>

/* Bucket units per token: a rate per minute refills `rate` units per millisecond. */
#define UNIT 60000

static uint32_t
or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

void
ratelimit_params_resolve(struct ratelimit_params *out, const struct ratelimit_params *in,
    int peer)
{
	struct ratelimit_params z = { 0 };

	if (!in)
		in = &z;
	out->bundles_per_min = or_default(in->bundles_per_min,
	    peer ? RATELIMIT_PEER_BUNDLES_PER_MIN : RATELIMIT_SENDER_BUNDLES_PER_MIN);
	out->bundles_burst = or_default(in->bundles_burst,
	    peer ? RATELIMIT_PEER_BUNDLES_BURST : RATELIMIT_SENDER_BUNDLES_BURST);
	out->bytes_per_min = or_default(in->bytes_per_min,
	    peer ? RATELIMIT_PEER_BYTES_PER_MIN : RATELIMIT_SENDER_BYTES_PER_MIN);
	out->bytes_burst = or_default(in->bytes_burst,
	    peer ? RATELIMIT_PEER_BYTES_BURST : RATELIMIT_SENDER_BYTES_BURST);
}

static void
refill(struct rl_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
	int64_t full = (int64_t)burst * UNIT;

	if (!b->primed || now_ms < b->at) {
		/* A clock stepped back refills nothing; it does not empty the bucket. */
		if (!b->primed)
			b->level = full;
		b->primed = 1;
		b->at = now_ms;
		return;
	}
	if (b->level < full) {
		uint64_t dt = now_ms - b->at, need = (uint64_t)(full - b->level);

		/* Divide first: a long idle time times the rate could overflow. */
		if (dt >= need / rate + 1)
			b->level = full;
		else
			b->level += (int64_t)(dt * rate);
		if (b->level > full)
			b->level = full;
	}
	b->at = now_ms;
}

/* Units a bundle costs: never more than the burst, so every bundle can pass at last. */
static int64_t
cost(uint64_t n, uint32_t burst)
{
	return (int64_t)(n < burst ? n : burst) * UNIT;
}

/* How low the level may go: FLASH and IMMEDIATE have a reserve as large as the burst. */
static int64_t
floor_of(int prec, uint32_t burst)
{
	return prec >= PREC_IMMEDIATE ? -(int64_t)burst * UNIT : 0;
}

int
rl_pair_take(struct rl_pair *b, const struct ratelimit_params *p, int prec, size_t len,
    uint64_t now_ms)
{
	int64_t cn = cost(1, p->bundles_burst), cb = cost(len, p->bytes_burst);

	refill(&b->bundles, p->bundles_per_min, p->bundles_burst, now_ms);
	refill(&b->bytes, p->bytes_per_min, p->bytes_burst, now_ms);
	if (b->bundles.level - cn < floor_of(prec, p->bundles_burst) ||
	    b->bytes.level - cb < floor_of(prec, p->bytes_burst))
		return 0;
	b->bundles.level -= cn;
	b->bytes.level -= cb;
	return 1;
}

void
rl_pair_refund(struct rl_pair *b, const struct ratelimit_params *p, size_t len)
{
	b->bundles.level += cost(1, p->bundles_burst);
	b->bytes.level += cost(len, p->bytes_burst);
	if (b->bundles.level > (int64_t)p->bundles_burst * UNIT)
		b->bundles.level = (int64_t)p->bundles_burst * UNIT;
	if (b->bytes.level > (int64_t)p->bytes_burst * UNIT)
		b->bytes.level = (int64_t)p->bytes_burst * UNIT;
}

void
ratelimit_init(struct ratelimit *rl, const struct ratelimit_params *p)
{
	memset(rl, 0, sizeof *rl);
	if (p)
		rl->p = *p;
}

static struct rl_sender *
find(struct ratelimit *rl, const uint8_t key_id[APAGON_KEYID])
{
	for (int i = 0; i < RATELIMIT_SENDERS; i++)
		if (rl->s[i].used && memcmp(rl->s[i].key_id, key_id, APAGON_KEYID) == 0)
			return &rl->s[i];
	return NULL;
}

int
ratelimit_sender_take(struct ratelimit *rl, const uint8_t key_id[APAGON_KEYID], int prec,
    size_t len, uint64_t now_ms)
{
	struct ratelimit_params p;
	struct rl_sender *e = find(rl, key_id);

	ratelimit_params_resolve(&p, &rl->p, 0);
	if (!e) {
		/* A new sender takes a free slot, else the one idle longest. */
		e = &rl->s[0];
		for (int i = 0; i < RATELIMIT_SENDERS && e->used; i++)
			if (!rl->s[i].used || rl->s[i].last < e->last)
				e = &rl->s[i];
		memset(e, 0, sizeof *e);
		memcpy(e->key_id, key_id, APAGON_KEYID);
		e->used = 1;
	}
	e->last = now_ms;
	if (!rl_pair_take(&e->b, &p, prec, len, now_ms)) {
		rl->deferred++;
		return 0;
	}
	return 1;
}

void
ratelimit_sender_refund(struct ratelimit *rl, const uint8_t key_id[APAGON_KEYID], size_t len)
{
	struct ratelimit_params p;
	struct rl_sender *e = find(rl, key_id);

	if (!e)
		return;
	ratelimit_params_resolve(&p, &rl->p, 0);
	rl_pair_refund(&e->b, &p, len);
}
