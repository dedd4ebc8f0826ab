/*
 * Managed flooding (lora_flood.h). Linear tables: a node's LoRa cache holds a few
 * hundred bundles, and one frame per second is a busy channel.
 */
#include "lora_flood.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define REFUSED_MAX 64
#define WANTS_MAX   48
#define WANT_TRIES  3
#define REASM_AGE_SLOTS 200     /* a bundle's pieces arrive within this many slots */

struct entry {
	uint8_t id[LORA_AIRID];
	uint8_t *raw;
	size_t len;
	int prec;
	int frames;
	int send_hops;                  /* hop count our copy carries */
	int next_frag;                  /* pieces of the current transmission sent */
	uint64_t tx_at;                 /* scheduled (0: not) */
	int heard;                      /* copies heard while scheduled */
	int suppressible;               /* a relay or an answer: others' copies cancel it */
	int tries_left;                 /* retransmissions still allowed */
	uint64_t ack_at;                /* waiting for a relay until then (0: not) */
	uint64_t seq;                   /* insertion order */
	int confirmed;                  /* a neighbour was heard sending it after we had
	                                   it: our neighbourhood has it, no need to list
	                                   it in digests */
};

struct want {
	uint8_t id[LORA_AIRID];
	uint64_t req_at;
	int tries;
	int used;
};

struct lora_flood {
	struct lora_flood_params p;
	uint8_t key[32];
	struct entry *e;
	size_t n;
	uint64_t seq;
	uint8_t refused[REFUSED_MAX][LORA_AIRID];
	int nrefused, refused_next;
	struct want w[WANTS_MAX];
	uint64_t digest_at;
	uint64_t digest_cursor;         /* seq of the last ID put in a digest */
	uint64_t digest_seq;            /* f->seq when we last sent one */
	int digests_consistent;         /* heard since, naming nothing new to us */
	int digest_idle;                /* intervals skipped in a row */
	uint64_t rng;
	struct lora_reasm rs;
	struct lora_flood_stats st;
};

/* xorshift64*: backoff jitter needs speed and reproducibility (seeded), not secrecy. */
static uint32_t
rnd(struct lora_flood *f)
{
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return (uint32_t)((f->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [0, max_ms). */
static uint64_t
jitter(struct lora_flood *f, uint64_t max_ms)
{
	return max_ms ? rnd(f) % max_ms : 0;
}

int
lora_flood_new(struct lora_flood **out, const struct lora_flood_params *p,
    const uint8_t key[32], uint64_t now_ms)
{
	struct lora_flood *f = calloc(1, sizeof *f);

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->p = *p;
	if (f->p.hop_limit <= 0 || f->p.hop_limit > LORA_HOPS_MAX)
		f->p.hop_limit = 7;
	if (f->p.suppress_k <= 0)
		f->p.suppress_k = 1;
	if (f->p.slot_ms == 0)
		f->p.slot_ms = 1000;
	if (f->p.retries_own < 0)
		f->p.retries_own = 0;
	if (f->p.retries_relay < 0)
		f->p.retries_relay = 0;
	if (f->p.cache_max == 0)
		f->p.cache_max = 512;
	if ((f->e = calloc(f->p.cache_max, sizeof *f->e)) == NULL) {
		free(f);
		return -ENOMEM;
	}
	memcpy(f->key, key, 32);
	f->rng = (uint64_t)f->p.seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
	if (!f->rng)
		f->rng = 1;
	if (f->p.digest_ms)
		f->digest_at = now_ms + f->p.digest_ms / 2 + jitter(f, f->p.digest_ms);
	*out = f;
	return 0;
}

void
lora_flood_free(struct lora_flood *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->e[i].raw);
	free(f->e);
	sodium_memzero(f->key, sizeof f->key);
	free(f);
}

const struct lora_flood_stats *
lora_flood_stats(const struct lora_flood *f)
{
	return &f->st;
}

size_t
lora_flood_size(const struct lora_flood *f)
{
	return f->n;
}

static struct entry *
find(const struct lora_flood *f, const uint8_t id[LORA_AIRID])
{
	for (size_t i = 0; i < f->n; i++)
		if (memcmp(f->e[i].id, id, LORA_AIRID) == 0)
			return &f->e[i];
	return NULL;
}

static int
is_refused(const struct lora_flood *f, const uint8_t id[LORA_AIRID])
{
	for (int i = 0; i < f->nrefused; i++)
		if (memcmp(f->refused[i], id, LORA_AIRID) == 0)
			return 1;
	return 0;
}

int
lora_flood_known(const struct lora_flood *f, const uint8_t id[LORA_AIRID])
{
	return find(f, id) != NULL || is_refused(f, id);
}

static void
want_drop(struct lora_flood *f, const uint8_t id[LORA_AIRID])
{
	for (int i = 0; i < WANTS_MAX; i++)
		if (f->w[i].used && memcmp(f->w[i].id, id, LORA_AIRID) == 0)
			f->w[i].used = 0;
}

/* Room for one more entry: drop the oldest that is not being sent or awaited. */
static struct entry *
slot_new(struct lora_flood *f)
{
	size_t victim = f->n;

	if (f->n < f->p.cache_max)
		return &f->e[f->n++];
	for (size_t i = 0; i < f->n; i++) {
		const struct entry *e = &f->e[i];

		if (e->tx_at || e->ack_at)
			continue;
		if (victim == f->n || e->seq < f->e[victim].seq)
			victim = i;
	}
	if (victim == f->n)
		return NULL;
	free(f->e[victim].raw);
	f->st.evicted++;
	return &f->e[victim];
}

static struct entry *
add(struct lora_flood *f, const uint8_t *b, size_t len, int prec)
{
	struct entry *e = slot_new(f);

	if (!e)
		return NULL;
	memset(e, 0, sizeof *e);
	if ((e->raw = malloc(len)) == NULL) {
		e->len = 0;
		lora_air_id(e->id, b, len);
		return e;               /* known, but cannot be served */
	}
	memcpy(e->raw, b, len);
	e->len = len;
	lora_air_id(e->id, b, len);
	e->prec = prec & 3;
	e->frames = lora_air_frames(len);
	e->seq = ++f->seq;
	want_drop(f, e->id);
	return e;
}

int
lora_flood_offer(struct lora_flood *f, const uint8_t *b, size_t len, int prec, int flood,
    uint64_t now_ms)
{
	uint8_t id[LORA_AIRID];
	struct entry *e;

	if (lora_air_frames(len) == 0) {
		f->st.bundles_too_big++;
		return LORA_ETOOBIG;
	}
	lora_air_id(id, b, len);
	if (find(f, id))
		return 0;
	if ((e = add(f, b, len, prec)) == NULL)
		return -ENOMEM;
	e->send_hops = b[0];
	if (flood && e->raw && b[0] < f->p.hop_limit) {
		e->tx_at = now_ms ? now_ms : 1;         /* 0 means "not scheduled" */
		e->tries_left = f->p.naive ? 0 : f->p.retries_own;
	}
	return 1;
}

/* SNR-scaled backoff: a receiver at the edge of range (low SNR) waits least. */
static uint64_t
relay_delay(struct lora_flood *f, int snr_x4)
{
	int snr = snr_x4 / 4;
	uint64_t s = f->p.slot_ms;

	if (snr < -20)
		snr = -20;
	if (snr > 10)
		snr = 10;
	/* 0.5 .. 10.5 slots by SNR, plus 0 .. 3 slots of jitter: wide enough that the
	 * first relay is usually heard whole before the next timer runs out. */
	return s / 2 + s * (uint64_t)(snr + 20) / 3 + jitter(f, s * 3 + 1);
}

/* A copy of a bundle we know was heard, relayed `hops` times. */
static void
heard_copy(struct lora_flood *f, struct entry *e, int hops)
{
	f->st.dup_heard++;
	if (f->p.naive)
		return;
	if (!e->tx_at && !e->ack_at && hops > e->send_hops)
		e->confirmed = 1;       /* relayed on beyond us */
	/* Only a copy relayed as far as ours would be counts: the sender's own retry
	 * (fewer hops) says it has not heard a relay yet, so ours is still wanted. */
	if (e->tx_at && e->next_frag == 0 && e->suppressible && hops >= e->send_hops &&
	    ++e->heard >= f->p.suppress_k) {
		e->tx_at = 0;
		f->st.suppressed++;
	}
	if (e->ack_at && hops >= e->send_hops) {
		e->ack_at = 0;
		f->st.implicit_acks++;
	}
}

static void
remember_refused(struct lora_flood *f, const uint8_t id[LORA_AIRID])
{
	memcpy(f->refused[f->refused_next], id, LORA_AIRID);
	f->refused_next = (f->refused_next + 1) % REFUSED_MAX;
	if (f->nrefused < REFUSED_MAX)
		f->nrefused++;
}

/* A whole bundle heard for the first time. */
static void
first_heard(struct lora_flood *f, const uint8_t *b, size_t len, int snr_x4, uint64_t now)
{
	int prec = 0, rc = f->p.accept(f->p.ctx, b, len, &prec);
	struct entry *e;

	if (rc == LORA_ACCEPT_LATER) {
		f->st.bundles_later++;  /* heard again, or asked for after a digest */
		return;
	}
	if (rc < 0) {
		uint8_t id[LORA_AIRID];

		f->st.bundles_refused++;
		lora_air_id(id, b, len);
		remember_refused(f, id);
		want_drop(f, id);
		return;
	}
	if ((e = add(f, b, len, prec)) == NULL)
		return;
	if (rc == LORA_ACCEPT_HELD) {
		f->st.bundles_held++;
		return;
	}
	f->st.bundles_in++;
	e->send_hops = b[0] + 1;
	if (!e->raw || e->send_hops > f->p.hop_limit)
		return;
	e->tx_at = now + (f->p.naive ? jitter(f, f->p.slot_ms * 2 + 1) : relay_delay(f, snr_x4));
	if (e->tx_at == 0)
		e->tx_at = 1;
	e->suppressible = !f->p.naive;
	e->tries_left = rc == LORA_ACCEPT_MINE || f->p.naive ? 0 : f->p.retries_relay;
}

static void
on_bundle(struct lora_flood *f, const uint8_t *b, size_t len, int snr_x4, uint64_t now)
{
	uint8_t id[LORA_AIRID];
	struct entry *e;

	lora_air_id(id, b, len);
	if ((e = find(f, id)) != NULL)
		heard_copy(f, e, b[0]);
	else if (is_refused(f, id))
		f->st.dup_heard++;
	else
		first_heard(f, b, len, snr_x4, now);
}

static void
on_ids(struct lora_flood *f, const struct lora_frame *fr, uint64_t now)
{
	int news = 0;

	for (int i = 0; i < fr->nids; i++) {
		const uint8_t *id = fr->data + (size_t)i * LORA_AIRID;
		struct entry *e = find(f, id);

		if (fr->kind == LORA_K_REQUEST) {
			/* Another node asks for what we lack too: wait for the answer. */
			for (int j = 0; j < WANTS_MAX; j++)
				if (f->w[j].used && memcmp(f->w[j].id, id, LORA_AIRID) == 0)
					f->w[j].req_at = now + 6 * (uint64_t)f->p.slot_ms +
					    jitter(f, f->p.slot_ms * 2);
			if (e && e->raw && !e->tx_at) {
				e->tx_at = now + f->p.slot_ms / 2 + jitter(f, f->p.slot_ms * 2);
				e->heard = 0;
				e->next_frag = 0;
				e->suppressible = 1;
				if (e->send_hops > LORA_HOPS_MAX)
					e->send_hops = LORA_HOPS_MAX;
				f->st.answers++;
			}
			continue;
		}
		if (e || is_refused(f, id))
			continue;
		news = 1;
		{
			int j, freej = -1, have = 0;

			for (j = 0; j < WANTS_MAX; j++) {
				if (f->w[j].used && memcmp(f->w[j].id, id, LORA_AIRID) == 0)
					have = 1;
				else if (!f->w[j].used && freej < 0)
					freej = j;
			}
			if (have || freej < 0)
				continue;
			memcpy(f->w[freej].id, id, LORA_AIRID);
			f->w[freej].used = 1;
			f->w[freej].tries = 0;
			f->w[freej].req_at = now + f->p.slot_ms + jitter(f, f->p.slot_ms * 3);
		}
	}
	if (fr->kind == LORA_K_DIGEST && !news)
		f->digests_consistent++;
}

int
lora_flood_input(struct lora_flood *f, const uint8_t *buf, size_t len, int snr_x4,
    uint64_t now)
{
	struct lora_frame fr;
	int rc = lora_air_decode(&fr, buf, len, f->key);

	f->st.frames_in++;
	switch (rc) {
	case LORA_OK:
		break;
	case LORA_EMAC:
		f->st.bad_mac++;
		return rc;
	case LORA_ESHORT:
		f->st.bad_short++;
		return rc;
	default:
		f->st.bad_format++;
		return rc;
	}
	switch (fr.kind) {
	case LORA_K_BUNDLE: {
		uint8_t b[LORA_FRAME_MAX];

		b[0] = (uint8_t)fr.hops;
		memcpy(b + 1, fr.data, fr.len);
		on_bundle(f, b, fr.len + 1, snr_x4, now);
		break;
	}
	case LORA_K_FRAG: {
		struct entry *e = find(f, fr.id);
		const uint8_t *b;
		size_t blen;
		int r;

		if (e || is_refused(f, fr.id)) {
			lora_reasm_forget(&f->rs, fr.id);
			if (e && fr.idx == 0)
				heard_copy(f, e, fr.hops);
			break;
		}
		r = lora_reasm_add(&f->rs, &fr, now, (uint64_t)f->p.slot_ms * REASM_AGE_SLOTS,
		    &b, &blen);
		f->st.reasm_timeouts = f->rs.timeouts;
		f->st.reasm_inconsistent = f->rs.inconsistent;
		if (r < 0) {
			f->st.bad_format++;
			return r;
		}
		if (r == 1)
			on_bundle(f, b, blen, snr_x4, now);
		break;
	}
	case LORA_K_DIGEST:
		f->st.digests_in++;
		if (!f->p.naive)
			on_ids(f, &fr, now);
		break;
	case LORA_K_REQUEST:
		f->st.requests_in++;
		if (!f->p.naive)
			on_ids(f, &fr, now);
		break;
	}
	return LORA_OK;
}

/* Timers that do not send by themselves: acks that never came. */
static void
run_timers(struct lora_flood *f, uint64_t now)
{
	for (size_t i = 0; i < f->n; i++) {
		struct entry *e = &f->e[i];

		if (!e->ack_at || now < e->ack_at)
			continue;
		e->ack_at = 0;
		if (e->tries_left > 0 && !e->tx_at) {
			e->tries_left--;
			e->tx_at = now + jitter(f, f->p.slot_ms * 2) + 1;
			e->next_frag = 0;
			e->heard = 0;
			e->suppressible = 0;
			f->st.retries++;
		}
	}
}

/* The rank of what may go out: bundles by precedence, requests just above ROUTINE. */
#define RANK_BUNDLE(p) ((p) * 2)
#define RANK_REQUEST   1
#define RANK_DIGEST    (-1)

int
lora_flood_output(struct lora_flood *f, uint64_t now, int min_prec, uint8_t out[LORA_FRAME_MAX],
    int *prec)
{
	struct entry *best = NULL;
	int nreq = 0, len;
	uint8_t ids[LORA_IDS_MAX][LORA_AIRID];

	*prec = 0;
	run_timers(f, now);
	for (size_t i = 0; i < f->n; i++) {
		struct entry *e = &f->e[i];

		if (!e->tx_at || e->tx_at > now || e->prec < min_prec)
			continue;
		if (!best || e->prec > best->prec ||
		    (e->prec == best->prec && (e->next_frag > 0) > (best->next_frag > 0)) ||
		    (e->prec == best->prec && (e->next_frag > 0) == (best->next_frag > 0) &&
		    e->tx_at < best->tx_at))
			best = e;
	}
	if (min_prec <= 0 && !f->p.naive && (!best || RANK_BUNDLE(best->prec) < RANK_REQUEST)) {
		for (int j = 0; j < WANTS_MAX && nreq < LORA_IDS_MAX; j++) {
			struct want *w = &f->w[j];

			if (!w->used || w->req_at > now)
				continue;
			memcpy(ids[nreq++], w->id, LORA_AIRID);
			if (++w->tries >= WANT_TRIES)
				w->used = 0;
			else
				w->req_at = now + (uint64_t)f->p.slot_ms * (8u << w->tries) +
				    jitter(f, f->p.slot_ms * 4);
		}
		if (nreq) {
			f->st.requests_out++;
			f->st.frames_out++;
			return lora_air_encode_ids(out, LORA_K_REQUEST, (const uint8_t (*)[LORA_AIRID])ids,
			    nreq, f->key);
		}
	}
	if (best) {
		len = lora_air_encode(out, best->raw, best->len, best->send_hops, best->next_frag,
		    f->key);
		*prec = best->prec;
		if (len < 0) {
			best->tx_at = 0;
			return 0;
		}
		f->st.frames_out++;
		if (++best->next_frag >= best->frames) {
			best->next_frag = 0;
			best->tx_at = 0;
			if (best->suppressible)
				f->st.relays++;
			best->suppressible = 0;
			/* Listen for a relay further on: the implicit ack. */
			if (best->tries_left > 0 && best->send_hops < f->p.hop_limit)
				/* Longer than the longest relay backoff (relay_delay: 13.5
				 * slots) plus the relay's own airtime. */
				best->ack_at = now + (uint64_t)f->p.slot_ms * (15 + 2 * (uint64_t)best->frames) +
				    jitter(f, f->p.slot_ms * 2);
		}
		return len;
	}
	if (min_prec <= 0 && f->p.digest_ms && !f->p.naive && now >= f->digest_at && f->n > 0) {
		/* The next IDs after the cursor, in insertion order, wrapping around. */
		uint64_t cur = f->digest_cursor, first = 0;
		int n = 0;

		f->digest_at = now + f->p.digest_ms / 2 + jitter(f, f->p.digest_ms / 2 + 1);
		/* Trickle (RFC 6206) in spirit: stay quiet while neighbours' digests show
		 * nothing we lack and we learnt nothing to tell, up to 8 intervals. */
		{
			int unconfirmed = 0;

			for (size_t i = 0; i < f->n; i++)
				unconfirmed += f->e[i].raw && !f->e[i].confirmed &&
				    f->e[i].seq > f->digest_seq;
			/* Nothing new that the neighbourhood may lack: quiet for up to 8
			 * intervals, fewer if neighbours' digests were not heard. */
			if (!unconfirmed && f->digest_idle < (f->digests_consistent ? 8 : 4)) {
				f->digest_idle++;
				return 0;
			}
		}
		f->digest_idle = 0;
		f->digests_consistent = 0;
		f->digest_seq = f->seq;
		while (n < LORA_IDS_MAX) {
			struct entry *next = NULL, *low = NULL;

			for (size_t i = 0; i < f->n; i++) {
				struct entry *e = &f->e[i];

				if (!e->raw)
					continue;
				if (e->seq > cur && (!next || e->seq < next->seq))
					next = e;
				if (!low || e->seq < low->seq)
					low = e;
			}
			if (!next)
				next = low;
			if (!next || next->seq == first)
				break;
			if (!first)
				first = next->seq;
			memcpy(ids[n++], next->id, LORA_AIRID);
			cur = next->seq;
		}
		f->digest_cursor = cur;
		if (n == 0)
			return 0;
		f->st.digests_out++;
		f->st.frames_out++;
		return lora_air_encode_ids(out, LORA_K_DIGEST, (const uint8_t (*)[LORA_AIRID])ids, n,
		    f->key);
	}
	return 0;
}

static int64_t
tmin(int64_t a, uint64_t at, uint64_t now)
{
	int64_t t = at > now ? (int64_t)(at - now) : 0;

	return a < 0 || t < a ? t : a;
}

int64_t
lora_flood_timeout(const struct lora_flood *f, uint64_t now)
{
	int64_t t = -1;

	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].tx_at)
			t = tmin(t, f->e[i].tx_at, now);
		if (f->e[i].ack_at)
			t = tmin(t, f->e[i].ack_at, now);
	}
	for (int j = 0; j < WANTS_MAX; j++)
		if (f->w[j].used)
			t = tmin(t, f->w[j].req_at, now);
	if (f->p.digest_ms && f->n > 0)
		t = tmin(t, f->digest_at, now);
	return t;
}
