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
#define LIMITED_MS  60000       /* default hold-off of a bundle over its sender's rate */
#define HELD_MAX    64          /* bundles held off at once */
#define WANTS_MAX   48
#define WANT_TRIES  3
#define REASM_AGE_SLOTS 200     /* a bundle's pieces arrive within this many slots */
#define ROUTES_MAX  128
#define ROUTE_SLACK 1           /* relays a ROUTED bundle may take beyond the shortest */
/* The carry score (0..256): how often our relays were carried on further. */
#define CARRY_PRIOR 128         /* before any evidence */
#define CARRY_SLOTS 8           /* backoff added at score 0, none at 256 */
#define CARRY_RETRY 160         /* below it, flooded relays are not retried */
#define ARRIVAL_REPEATS 2       /* a recipient's copy, sent again for repeats heard */
/* The relay backoff's other parts (relay_delay). */
#define SNR_SLOTS   12          /* added for a copy heard at SNR_HI_X4, none at SNR_LO_X4 */
#define SNR_LO_X4   (-80)       /* -20 dB: below every spreading factor's floor */
#define SNR_HI_X4   40          /* +10 dB: a near neighbour */
#define WIN_SLOTS   3           /* random part of the backoff, uncrowded */
#define WIN_MAX     16          /* ... and at most, however crowded */
#define CROWD_REF   40          /* copies per bundle x 16 up to which WIN_SLOTS holds */
#define CROWD_SLOTS 20          /* copies of a bundle are counted this long */
/* Longest relay backoff (of a neighbour as crowded as we are), airtime, margin. */
#define ACK_SLOTS(w16) (2 + SNR_SLOTS + CARRY_SLOTS + ((w16) + 15) / 16)
#define DIGEST_IDLE 8           /* intervals a quiet node skips in a row (16 when
                                   its neighbours' digests agree with it) */
#define DOUBT_DIGESTS 2         /* digests in a row that name a bundle doubted
                                   after the last try of a sender, a bridge or a
                                   ROUTED relay */
#define CARRY_DOUBT 200         /* from it, a relay not carried on after our last try
                                   is doubted (our own bundles always are) */

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
	int own;                        /* offered to be sent (ours or another link's) */
	int ends;                       /* params.ends: 1 from and to, 0 from only, -1 */
	uint8_t from[LORA_NODEID], to[LORA_NODEID];
	int routed;                     /* our copy goes out ROUTED, with send_left */
	int send_left;
	int scored;                     /* counted in the carry score already */
	int doubt_last;                 /* ours, or retried by a bridge (carry score at
	                                   least CARRY_DOUBT): doubt it if the last try
	                                   is not carried on either */
	int doubt;                      /* unacknowledged after its retries: digests that
	                                   are still to name it */
	int delivered;                  /* at its recipient (ours, or a copy heard with
	                                   no relays left) */
	int skipped;                    /* heard ROUTED, not ours to relay: a flooded
	                                   copy (the sender's fallback) is relayed */
	int copies;                     /* heard flooded first: copies heard so far,
	                                   the first included (0: not counted) */
	int mine;                       /* we are its recipient: our copy said so */
	int answers;                    /* ... and was sent again for a repeat heard */
	uint64_t first_at;              /* when the first copy was heard */
};

/* How far a node is, learnt from the hop counts of its bundles. */
struct route {
	uint8_t node[LORA_NODEID];
	int dist;                       /* 1: a neighbour; 0: unused slot */
	uint64_t used;
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
	struct {
		uint8_t id[LORA_AIRID];
		uint64_t until;         /* held off until then (0: free) */
	} held[HELD_MAX];               /* over their sender's rate */
	int held_next;
	uint64_t now;                   /* the latest time given to us */
	int nrefused, refused_next;
	struct want w[WANTS_MAX];
	struct route rt[ROUTES_MAX];
	uint64_t rt_clock;
	int carry;                      /* 0..256: how often our relays were carried on
	                                   (an implicit ack), a moving average */
	int crowd;                      /* copies heard per flooded bundle x 256, a
	                                   moving average: how many neighbours relay */
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
	f->st.carry = f->carry = CARRY_PRIOR;
	f->crowd = 256;
	f->st.crowd = 16;
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
is_refused(const struct lora_flood *f, const uint8_t id[LORA_AIRID], uint64_t now)
{
	for (int i = 0; i < f->nrefused; i++)
		if (memcmp(f->refused[i], id, LORA_AIRID) == 0)
			return 1;
	for (int i = 0; i < HELD_MAX; i++)
		if (now < f->held[i].until && memcmp(f->held[i].id, id, LORA_AIRID) == 0)
			return 1;
	return 0;
}

static struct route *
route_find(struct lora_flood *f, const uint8_t node[LORA_NODEID])
{
	for (int i = 0; i < ROUTES_MAX; i++)
		if (f->rt[i].dist && memcmp(f->rt[i].node, node, LORA_NODEID) == 0)
			return &f->rt[i];
	return NULL;
}

/* A copy of a bundle from `node`, heard `hops` relays after it left: the node is at
 * most hops + 1 away. The shortest distance heard counts (copies that went round
 * about arrive too); a route that fails is forgotten (route_forget) and learnt
 * again. */
static void
route_learn(struct lora_flood *f, const struct entry *e, int hops)
{
	struct route *r;

	if (e->ends < 0 || hops < 0 || hops >= LORA_HOPS_MAX)
		return;
	if ((r = route_find(f, e->from)) == NULL) {
		r = &f->rt[0];
		for (int i = 0; i < ROUTES_MAX && r->dist; i++)
			if (!f->rt[i].dist || f->rt[i].used < r->used)
				r = &f->rt[i];
		if (!r->dist)
			f->st.routes++;
		memcpy(r->node, e->from, LORA_NODEID);
		r->dist = hops + 1;
	}
	if (hops + 1 < r->dist)
		r->dist = hops + 1;
	r->used = ++f->rt_clock;
}

static void
route_forget(struct lora_flood *f, const uint8_t node[LORA_NODEID])
{
	struct route *r = route_find(f, node);

	if (r) {
		r->dist = 0;
		f->st.routes--;
	}
}

/* Hops from here to the bundle's recipient, or 0 if unknown or addressed to all. */
static int
dist_to(struct lora_flood *f, const struct entry *e)
{
	struct route *r;

	if (e->ends != 1 || (r = route_find(f, e->to)) == NULL)
		return 0;
	return r->dist;
}

static void
entry_ends(struct lora_flood *f, struct entry *e, const uint8_t *b, size_t len)
{
	int rc;

	e->ends = -1;
	if (!f->p.ends || f->p.naive)
		return;
	rc = f->p.ends(f->p.ctx, b, len, e->from, e->to);
	e->ends = rc == 1 ? 1 : rc == 0 ? 0 : -1;
}

int
lora_flood_known(const struct lora_flood *f, const uint8_t id[LORA_AIRID])
{
	return find(f, id) != NULL || is_refused(f, id, f->now);
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

/* A neighbour may lack e: name it in the next `digests` digests, the first soon. */
static void
doubt(struct lora_flood *f, struct entry *e, uint64_t now, int digests)
{
	e->doubt = digests;
	f->st.doubts++;
	if (f->p.digest_ms && f->digest_at > now + 4 * (uint64_t)f->p.slot_ms)
		f->digest_at = now + f->p.slot_ms + jitter(f, f->p.slot_ms * 3);
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
	entry_ends(f, e, b, len);
	if (flood == LORA_OFFER_DOUBT && !f->p.naive)
		doubt(f, e, now_ms, 1);
	if (flood == LORA_OFFER_SEND && e->raw && b[0] < f->p.hop_limit) {
		int d = dist_to(f, e);

		e->tx_at = now_ms ? now_ms : 1;         /* 0 means "not scheduled" */
		e->tries_left = f->p.naive ? 0 : f->p.retries_own;
		e->own = 1;
		/* The recipient's distance is known: only the nodes on the way relay. */
		if (d > 0 && d - 1 + ROUTE_SLACK <= LORA_ROUTED_MAX && len <= LORA_ROUTED_BUNDLE &&
		    b[0] <= LORA_ROUTED_MAX) {
			e->routed = 1;
			e->send_left = d - 1 + ROUTE_SLACK;
		}
	}
	return 1;
}

/*
 * The random part of the relay backoff, in sixteenths of a slot: WIN_SLOTS while
 * the node hears each flooded bundle up to CROWD_REF / 16 times (the first copy and a
 * relay or two), growing with the square of the copies heard beyond that, up to
 * WIN_MAX. Where many neighbours
 * relay, one frame's airtime after the first relay starts, every neighbour whose
 * timer fell into it has handed its frame to the modem, which waits for the channel
 * and sends it although the copy it then hears makes it useless; a window wide for
 * the crowd leaves few timers inside one airtime.
 */
static uint64_t
window16(const struct lora_flood *f)
{
	uint64_t w = WIN_SLOTS * 16, c = (uint64_t)f->crowd / 16;

	if (c > CROWD_REF)
		w = w * c * c / (CROWD_REF * CROWD_REF);
	return w > WIN_MAX * 16 ? WIN_MAX * 16 : w;
}

/*
 * The rebroadcast backoff, for a copy first heard at snr_x4 (quarter dB):
 *   - half a slot;
 *   - up to SNR_SLOTS more the stronger the copy was heard (SNR_LO_X4 .. SNR_HI_X4):
 *     a node far from the sender of the copy covers the most that copy did not, so
 *     it goes first, and a near one waits and is usually cancelled (Meshtastic's
 *     order within a contention window);
 *   - up to CARRY_SLOTS more the less often our relays were carried on (the carry
 *     score): a node whose relays usually lead somewhere (a bridge between parts of
 *     the network) goes early, a node at the edge, whose relays nobody takes
 *     further, waits. On its own the SNR order sends the network's edge nodes first
 *     (their neighbours are far too); the carry score holds them back;
 *   - a random part, window16.
 */
static uint64_t
relay_delay(struct lora_flood *f, int snr_x4)
{
	uint64_t s = f->p.slot_ms;
	int snr = snr_x4 < SNR_LO_X4 ? SNR_LO_X4 : snr_x4 > SNR_HI_X4 ? SNR_HI_X4 : snr_x4;

	return s / 2 + s * SNR_SLOTS * (uint64_t)(snr - SNR_LO_X4) / (SNR_HI_X4 - SNR_LO_X4) +
	    jitter(f, s * window16(f) / 16 + 1) +
	    s * CARRY_SLOTS * (uint64_t)(256 - f->carry) / 256;
}

/* Copies of flooded bundles heard within CROWD_SLOTS of the first, into the crowd
 * average (an eighth each). */
static void
crowd_count(struct lora_flood *f, struct entry *e, uint64_t now)
{
	if (!e->copies || now < e->first_at + (uint64_t)f->p.slot_ms * CROWD_SLOTS)
		return;
	f->crowd += (e->copies * 256 - f->crowd) / 8;
	f->st.crowd = (uint64_t)f->crowd / 16;
	e->copies = 0;
}

/* A copy of a bundle we know was heard, relayed `hops` times; `left` is what a
 * ROUTED copy carried, -1 for a flooded one. */
static void
heard_copy(struct lora_flood *f, struct entry *e, int hops, int left, int snr_x4,
    uint64_t now)
{
	int further;

	f->st.dup_heard++;
	if (f->p.naive)
		return;
	if (e->copies)
		e->copies++;
	route_learn(f, e, hops);
	/* Ours, and heard again on its way: the node that sent it did not hear our
	 * copy (lost at it). Say again that it has arrived, ROUTED with no relays left,
	 * before that node gives up on its retries. */
	if (e->mine && left != 0 && e->routed && e->send_left == 0 && !e->tx_at &&
	    e->answers < ARRIVAL_REPEATS) {
		e->answers++;
		e->tx_at = now + f->p.slot_ms / 2 + jitter(f, f->p.slot_ms + 1);
		e->next_frag = 0;
		e->heard = 0;
		e->suppressible = 0;
		e->tries_left = 0;
		f->st.arrivals_repeated++;
		return;
	}
	/* Heard ROUTED and left alone; now its sender floods it (no relay acknowledged
	 * the ROUTED copy): relay it like any flooded bundle. */
	if (e->skipped && left < 0 && !e->tx_at && e->raw && hops + 1 <= f->p.hop_limit) {
		e->skipped = 0;
		e->send_hops = hops + 1;
		e->tx_at = now + relay_delay(f, snr_x4);
		e->heard = 0;
		e->suppressible = 1;
		e->tries_left = f->p.retries_relay;
		return;
	}
	/* Relayed at least as far as ours would be: fewer relays left for a ROUTED
	 * copy, at least as many hops for a flooded one. The sender's own retry (fewer
	 * hops) says it has not heard a relay yet, so ours is still wanted. */
	further = e->routed && left >= 0 ? left <= e->send_left : hops >= e->send_hops;
	if (left == 0) {
		/* No relays left: the recipient's own copy, or the one its neighbour
		 * handed over. The bundle is where it was going: relay it no more,
		 * offer it in no digest. */
		further = 1;
		e->delivered = 1;
	}
	if (e->tx_at && e->next_frag == 0 && e->suppressible && further &&
	    ++e->heard >= f->p.suppress_k) {
		e->tx_at = 0;
		f->st.suppressed++;
	}
	if (further)
		e->doubt = 0;   /* a neighbour has it and took it on */
	if (e->ack_at && further) {
		e->ack_at = 0;
		f->st.implicit_acks++;
		if (!e->own)
			f->st.carry = f->carry += (256 - f->carry) / 4; /* carried on */
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

/* Hold an air ID off until `until` (over its sender's rate), in a ring of its own, so
 * a sender over its rate does not push out the bundles refused for good. */
static void
hold_off(struct lora_flood *f, const uint8_t id[LORA_AIRID], uint64_t until)
{
	memcpy(f->held[f->held_next].id, id, LORA_AIRID);
	f->held[f->held_next].until = until;
	f->held_next = (f->held_next + 1) % HELD_MAX;
}

/* A whole bundle heard for the first time; left: as heard ROUTED, or -1. */
static void
first_heard(struct lora_flood *f, const uint8_t *b, size_t len, int left, int snr_x4,
    uint64_t now)
{
	int prec = 0, rc = f->p.accept(f->p.ctx, b, len, &prec);
	struct entry *e;

	if (rc == LORA_ACCEPT_LATER) {
		f->st.bundles_later++;  /* heard again, or asked for after a digest */
		return;
	}
	if (rc < 0) {
		/* Refused for good; or, over its sender's rate limit, held off (not
		 * taken, not asked for) until the sender's share could have grown again:
		 * a member over its rate is slowed to it, not cut off. */
		uint8_t id[LORA_AIRID];
		int limited = rc == LORA_ACCEPT_LIMITED;

		if (limited)
			f->st.bundles_limited++;
		else
			f->st.bundles_refused++;
		lora_air_id(id, b, len);
		if (limited)
			hold_off(f, id, now + (f->p.limited_ms ? f->p.limited_ms : LIMITED_MS));
		else
			remember_refused(f, id);
		want_drop(f, id);
		return;
	}
	if ((e = add(f, b, len, prec)) == NULL)
		return;
	entry_ends(f, e, b, len);
	route_learn(f, e, b[0]);
	if (rc == LORA_ACCEPT_HELD) {
		f->st.bundles_held++;
		return;
	}
	f->st.bundles_in++;
	e->send_hops = b[0] + 1;
	if (left < 0 && !f->p.naive) {
		e->copies = 1;
		e->first_at = now;
	}
	if (!e->raw || e->send_hops > f->p.hop_limit)
		return;
	if (left >= 0) {
		/* ROUTED: relayed by a node at most `left` hops from the recipient, with
		 * one relay less; the recipient sends one copy, with none left, which
		 * acknowledges the previous hop and stops the others. */
		int d = dist_to(f, e);

		if (e->send_hops > LORA_ROUTED_MAX)
			return;
		if (rc == LORA_ACCEPT_MINE) {
			e->routed = 1;
			e->send_left = 0;
		} else if (d > 0 && d <= left) {
			e->routed = 1;
			e->send_left = left - 1;
			/* Nearer the recipient goes first: a node off the shortest way
			 * (within the slack) waits a few slots more and is usually
			 * cancelled by the one on it. */
			e->tx_at = now + f->p.slot_ms / 2 + jitter(f, f->p.slot_ms * 2 + 1) +
			    (uint64_t)f->p.slot_ms * 4 * (uint64_t)(d - left + ROUTE_SLACK > 0 ?
			    d - left + ROUTE_SLACK : 0);
		} else {
			e->skipped = 1;
			return;
		}
	}
	if (rc == LORA_ACCEPT_MINE && !f->p.naive) {
		/* Ours: one copy, with no relays left (ROUTED, if it fits), tells the
		 * neighbours it has arrived and acknowledges the previous hop. */
		e->delivered = 1;
		e->mine = 1;
		if (e->send_hops <= LORA_ROUTED_MAX && e->len <= LORA_ROUTED_BUNDLE) {
			e->routed = 1;
			e->send_left = 0;
		}
	}
	if (!e->tx_at)
		e->tx_at = now + (f->p.naive ? jitter(f, f->p.slot_ms * 2 + 1) :
		    relay_delay(f, snr_x4));
	if (e->tx_at == 0)
		e->tx_at = 1;
	e->suppressible = !f->p.naive;
	e->tries_left = rc == LORA_ACCEPT_MINE || f->p.naive ? 0 : f->p.retries_relay;
}

static void
on_bundle(struct lora_flood *f, const uint8_t *b, size_t len, int left, int snr_x4,
    uint64_t now)
{
	uint8_t id[LORA_AIRID];
	struct entry *e;

	lora_air_id(id, b, len);
	if ((e = find(f, id)) != NULL)
		heard_copy(f, e, b[0], left, snr_x4, now);
	else if (is_refused(f, id, now))
		f->st.dup_heard++;
	else
		first_heard(f, b, len, left, snr_x4, now);
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
				e->routed = 0;
				e->heard = 0;
				e->next_frag = 0;
				e->suppressible = 1;
				if (e->send_hops > LORA_HOPS_MAX)
					e->send_hops = LORA_HOPS_MAX;
				f->st.answers++;
			}
			continue;
		}
		if (e || is_refused(f, id, now))
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

	f->now = now;
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
	case LORA_K_BUNDLE:
	case LORA_K_ROUTED: {
		uint8_t b[LORA_FRAME_MAX];

		b[0] = (uint8_t)fr.hops;
		memcpy(b + 1, fr.data, fr.len);
		on_bundle(f, b, fr.len + 1, fr.kind == LORA_K_ROUTED ? fr.left : -1, snr_x4,
		    now);
		break;
	}
	case LORA_K_FRAG: {
		struct entry *e = find(f, fr.id);
		const uint8_t *b;
		size_t blen;
		int r;

		if (e || is_refused(f, fr.id, now)) {
			lora_reasm_forget(&f->rs, fr.id);
			if (e && fr.idx == 0)
				heard_copy(f, e, fr.hops, -1, snr_x4, now);
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
			on_bundle(f, b, blen, -1, snr_x4, now);
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

static int in_digests(const struct entry *e);

/* Timers that do not send by themselves: acks that never came. */
static void
run_timers(struct lora_flood *f, uint64_t now)
{
	for (size_t i = 0; i < f->n; i++) {
		struct entry *e = &f->e[i];

		crowd_count(f, e, now);
		if (!e->ack_at || now < e->ack_at)
			continue;
		e->ack_at = 0;
		/* Our own bundles are retried, and so are ROUTED relays: the route says
		 * a node is there to take them on. Other relays only by a node whose
		 * relays are usually carried on: at the edge, nobody is there. */
		if (e->tries_left > 0 && !e->tx_at &&
		    (e->own || e->routed || f->carry >= CARRY_RETRY)) {
			if (e->own && e->routed) {
				/* No relay on the way answered: the route is stale (or the
				 * frame was lost); flood it, and learn the route again. */
				e->routed = 0;
				route_forget(f, e->to);
				f->st.route_fallbacks++;
			}
			e->tries_left--;
			/* Our own bundle, or a bridge's relay (its score taken before
			 * this bundle's miss counts in it, below). */
			if (e->own || f->carry >= CARRY_DOUBT)
				e->doubt_last = 1;
			e->tx_at = now + jitter(f, f->p.slot_ms * 2) + 1;
			e->next_frag = 0;
			e->heard = 0;
			e->suppressible = 0;
			f->st.retries++;
		} else if (!e->own && e->routed && !e->tx_at) {
			/* A ROUTED relay, retried, and no node on the way took it: the
			 * frames were lost (hidden terminals) or the route is stale. It
			 * is no longer kept out of digests, and it is doubted: the next
			 * digest comes soon and names it, a neighbour that lacks it asks,
			 * and the answer goes out flooded. (Flooding it at once cost more
			 * frames for the same delivery in the bench's topologies.) The
			 * route is kept: collisions are the likelier cause, and the
			 * sender's own fallback forgets stale routes where they start. */
			e->routed = 0;
			f->st.route_fallbacks++;
			doubt(f, e, now, DOUBT_DIGESTS);
		} else if (in_digests(e) && (e->tries_left > 0 || e->doubt_last)) {
			/* Sent, maybe retried, and no one took it further: a neighbour
			 * may still lack it. Say so in digests, the first soon.
			 *  - Not retried (a relay at the edge, whose relays are seldom
			 *    carried on): one digest.
			 *  - Our own bundle, or retried by a bridge, whose relays are
			 *    nearly always carried on, and the last try not carried on
			 *    either: the neighbours very likely lost every try (hidden
			 *    terminals); two digests. Other nodes' misses after their
			 *    last try are mostly bundles every neighbour already has:
			 *    doubting them cost many digests in the dense simulation,
			 *    for no delivery. */
			doubt(f, e, now, e->tries_left > 0 ? 1 : DOUBT_DIGESTS);
		}
		if (!e->own && !e->scored) {
			/* Once per bundle: our relay was not carried on. */
			f->st.carry = f->carry -= f->carry / 4;
			e->scored = 1;
		}
	}
}

static int
listed(uint8_t (*ids)[LORA_AIRID], int n, const uint8_t id[LORA_AIRID])
{
	for (int i = 0; i < n; i++)
		if (memcmp(ids[i], id, LORA_AIRID) == 0)
			return 1;
	return 0;
}

/* ROUTED bundles go only the way to their recipient: digests do not spread them. */
static int
in_digests(const struct entry *e)
{
	return e->raw && !e->routed && !e->skipped && !e->delivered;
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
	f->now = now;
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
		len = best->routed ?
		    lora_air_encode_routed(out, best->raw, best->len, best->send_hops,
		    best->send_left) :
		    lora_air_encode(out, best->raw, best->len, best->send_hops, best->next_frag,
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
			if (best->routed && best->own)
				f->st.routed_out++;
			else if (best->routed)
				f->st.routed_relays++;
			best->suppressible = 0;
			/* Listen for a relay further on: the implicit ack. After the
			 * last try too: unacknowledged, the bundle is doubted
			 * (run_timers), as its retries may all have been lost at the
			 * next node. */
			if (!f->p.naive && !best->mine && best->send_hops < f->p.hop_limit)
				/* Longer than the longest relay backoff (relay_delay)
				 * plus the relay's own airtime. */
				best->ack_at = now + (uint64_t)f->p.slot_ms *
				    (ACK_SLOTS(window16(f)) + 2 * (uint64_t)best->frames) +
				    jitter(f, f->p.slot_ms * 2);
		}
		return len;
	}
	if (min_prec <= 0 && f->p.digest_ms && !f->p.naive && now >= f->digest_at && f->n > 0) {
		/* The next IDs after the cursor, in insertion order, wrapping around. */
		uint64_t cur = f->digest_cursor, first = 0, last_seq;
		int n = 0;

		f->digest_at = now + f->p.digest_ms / 2 + jitter(f, f->p.digest_ms / 2 + 1);
		/* Trickle (RFC 6206) in spirit: a node speaks up at once when it doubts
		 * that its neighbours hold something (sent, retried, never carried on);
		 * otherwise it stays quiet for up to DIGEST_IDLE intervals, twice that
		 * while its neighbours' digests name nothing it lacks. */
		{
			int doubts = 0;

			for (size_t i = 0; i < f->n; i++)
				doubts += f->e[i].doubt && in_digests(&f->e[i]);
			if (!doubts && f->digest_idle < (f->digests_consistent ? 2 * DIGEST_IDLE :
			    DIGEST_IDLE)) {
				f->digest_idle++;
				return 0;
			}
		}
		f->digest_idle = 0;
		f->digests_consistent = 0;
		last_seq = f->digest_seq;
		f->digest_seq = f->seq;
		/* What we doubt our neighbours have goes first, then what is new since
		 * the last digest, then the rest in turn. What is new but found no room
		 * stays new for the next digest. */
		for (size_t i = 0; i < f->n && n < LORA_IDS_MAX; i++)
			if (f->e[i].doubt) {
				f->e[i].doubt--;
				if (in_digests(&f->e[i]))
					memcpy(ids[n++], f->e[i].id, LORA_AIRID);
			}
		for (size_t i = 0; i < f->n; i++) {
			struct entry *e = &f->e[i];

			if (!in_digests(e) || e->seq <= last_seq || listed(ids, n, e->id))
				continue;
			if (n < LORA_IDS_MAX)
				memcpy(ids[n++], e->id, LORA_AIRID);
			else if (e->seq <= f->digest_seq)
				f->digest_seq = e->seq - 1;
		}
		while (n < LORA_IDS_MAX) {
			struct entry *next = NULL, *low = NULL;

			for (size_t i = 0; i < f->n; i++) {
				struct entry *e = &f->e[i];

				if (!in_digests(e))
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
			if (!listed(ids, n, next->id))
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
