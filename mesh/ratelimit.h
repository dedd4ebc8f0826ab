/*
 * Token buckets for the bundles a node takes in, sans-I/O: time comes in as now_ms.
 *
 * Two kinds of limit use them (docs/protocol.md, 15.5 "Rate limits"):
 *   - per peer: one pair of buckets (bundles, bytes) in each session, on what that
 *     link delivers;
 *   - per sender: one pair per signer (by key ID), in a table shared by every session
 *     of a node (struct ratelimit), so a member flooding through many relays is
 *     slowed as a whole.
 *
 * A bundle over a limit is deferred, not dropped: the session neither accepts nor
 * acknowledges it, so the peer keeps it and offers it again next round.
 *
 * FLASH and IMMEDIATE get a larger share: they may draw a bucket down to minus its
 * burst (a reserve as large as the burst that ROUTINE and PRIORITY never touch), so a
 * flood of low-precedence bundles cannot hold back a high-precedence one. Public
 * bundles (certificates, revocations, prekeys) are never limited; the caller skips
 * them.
 */
#ifndef APAGON_RATELIMIT_H
#define APAGON_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

/* Rates are per minute so that slow ones (a few bundles a minute) are exact. Zero in
 * any field means its default. */
struct ratelimit_params {
	uint32_t bundles_per_min, bundles_burst;
	uint32_t bytes_per_min, bytes_burst;
};

/* Defaults per peer (one link) and per sender (one signer, over all links). Sized so
 * that an ordinary backlog, a member's thousand messages queued while offline, passes
 * in one round, and only a sustained flood is slowed. */
#define RATELIMIT_PEER_BUNDLES_PER_MIN    6000          /* 100 a second */
#define RATELIMIT_PEER_BUNDLES_BURST      2000
#define RATELIMIT_PEER_BYTES_PER_MIN      (32u << 20)   /* about 560 KB a second */
#define RATELIMIT_PEER_BYTES_BURST        (32u << 20)
#define RATELIMIT_SENDER_BUNDLES_PER_MIN  1200          /* 20 a second */
#define RATELIMIT_SENDER_BUNDLES_BURST    1000
#define RATELIMIT_SENDER_BYTES_PER_MIN    (16u << 20)
#define RATELIMIT_SENDER_BYTES_BURST      (16u << 20)

/* Senders tracked at once; past that the one idle longest is forgotten (its buckets
 * had refilled by then, in all but a flood by more members than this). */
#define RATELIMIT_SENDERS 512

/* One bucket. Tokens are scaled by 60000 (ms per minute) so a per-minute rate refills
 * exactly `rate` scaled units per millisecond. Zeroed: full at first use. */
struct rl_bucket {
	int64_t level;
	uint64_t at;
	int primed;
};

/* A bundle count and a byte count, taken together or not at all. */
struct rl_pair {
	struct rl_bucket bundles, bytes;
};

/* The per-sender table. Zeroed, or set by ratelimit_init; no resources to free. */
struct ratelimit {
	struct ratelimit_params p;              /* as given; zero fields are defaults */
	struct rl_sender {
		uint8_t key_id[APAGON_KEYID];
		int used;
		uint64_t last;                  /* last charge, for eviction */
		struct rl_pair b;
	} s[RATELIMIT_SENDERS];
	uint64_t deferred;                      /* bundles deferred by sender limits */
};

/* Fill in defaults: per peer when `peer` is 1, per sender otherwise. */
void ratelimit_params_resolve(struct ratelimit_params *out, const struct ratelimit_params *in,
    int peer);

/* Take one bundle of `len` bytes at precedence `prec` from a pair of buckets: 1 if it
 * fits (and is now charged), 0 if it must wait (nothing charged). */
int rl_pair_take(struct rl_pair *b, const struct ratelimit_params *p, int prec, size_t len,
    uint64_t now_ms);
/* Give back what rl_pair_take charged (the bundle was not taken in after all). */
void rl_pair_refund(struct rl_pair *b, const struct ratelimit_params *p, size_t len);

/* A table with params `p` (NULL: defaults). */
void ratelimit_init(struct ratelimit *rl, const struct ratelimit_params *p);
/* Per sender: as rl_pair_take, for the signer with key ID `key_id`. */
int ratelimit_sender_take(struct ratelimit *rl, const uint8_t key_id[APAGON_KEYID], int prec,
    size_t len, uint64_t now_ms);
void ratelimit_sender_refund(struct ratelimit *rl, const uint8_t key_id[APAGON_KEYID],
    size_t len);

#endif
