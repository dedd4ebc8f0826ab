/*
 * Managed flooding of verified bundles over a broadcast bearer (docs/lora.md), sans
 * I/O: frames and the current time come in, frames to send and a timeout go out, so
 * the LoRa transport, the unit tests and the benchmark's 20-node simulation all drive
 * the same code.
 *
 * Policy, per bundle (air ID, lora_air.h):
 *   - a bundle heard for the first time goes through params.accept (the node's
 *     acceptance path: verify before store or forward); only an accepted one is
 *     rebroadcast, with its hop count plus one, never past hop_limit;
 *   - routes: every accepted bundle heard with hop count h says its sender is at
 *     most h + 1 hops away (params.ends names the sender). A bundle for a node whose
 *     distance d is known goes out ROUTED with d - 1 + 1 relays allowed; a node
 *     relays a ROUTED copy only if it is no further from the recipient than the
 *     relays left, so only the nodes on (or one hop off) the shortest way send it.
 *     Unacknowledged, the sender floods it instead and forgets the route;
 *   - a flooded rebroadcast waits a backoff that is shorter the weaker the copy was
 *     heard (far nodes first, as Meshtastic orders them) and the more often this
 *     node's relays were carried on (its carry score: bridges go first, edge nodes
 *     last), plus a random part that widens with the copies of each bundle the
 *     node hears (its crowd: many neighbours relaying); hearing suppress_k copies
 *     relayed at least as far as ours would be cancels it (the sender's own retry
 *     does not);
 *   - a node that transmitted a bundle listens for someone relaying it further (an
 *     implicit acknowledgement); without one it retransmits its own bundles up to
 *     `retries_own` times, relayed ones up to `retries_relay` times if its carry
 *     score is high (at the edge no one is there to relay);
 *   - the recipient sends one copy with no relays left: it acknowledges the
 *     previous hop and tells its neighbours to relay the bundle no more;
 *   - every digest_ms / 2 .. digest_ms a DIGEST may list up to 12 held air IDs
 *     (what it doubts its neighbours have first: sent, retried, never carried on;
 *     then what is new; then the rest in turn); without such doubts it is skipped
 *     up to 8 times in a row (16 while neighbours' digests agree: Trickle, RFC 6206,
 *     in spirit); a neighbour lacking one sends a REQUEST after a random backoff
 *     (put off if it hears another node ask for the same), and a holder answers by
 *     rebroadcasting the bundle (cancelled if another holder answers first);
 *   - output is precedence first: FLASH, IMMEDIATE, PRIORITY bundles, then requests,
 *     ROUTINE bundles, digests; the caller passes the lowest precedence its airtime
 *     budget still allows.
 */
#ifndef APAGON_LORA_FLOOD_H
#define APAGON_LORA_FLOOD_H

#include <stddef.h>
#include <stdint.h>

#include "lora_air.h"

#define LORA_NODEID 6           /* a node's key ID (APAGON_KEYID) */

/* What params.accept says about a bundle. */
#define LORA_ACCEPT_NEW     1       /* verified and stored: relay it */
#define LORA_ACCEPT_MINE    2       /* stored, addressed to this node: one copy only */
#define LORA_ACCEPT_HELD    0       /* already held (another link): do not relay */
#define LORA_ACCEPT_LATER   (-2)    /* not now (its sender's certificate is still on
                                       the way): forgotten, taken when heard again */
#define LORA_ACCEPT_LIMITED (-3)    /* over its sender's rate limit: held off for
                                       params.limited_ms, taken when heard after */
/* other < 0: refused by the acceptance path (not relayed, remembered) */

struct lora_flood_params {
	int hop_limit;                  /* relays after the sender, 1..63 (default 7) */
	int suppress_k;                 /* copies heard that cancel a rebroadcast (default 1) */
	uint32_t slot_ms;               /* contention slot: about one frame's airtime */
	uint32_t digest_ms;             /* between digests; 0: none (transport: 100 slots) */
	int retries_own;                /* retransmissions without an implicit ack
	                                   (0: none; the transport uses 2) */
	int retries_relay;              /* the same for relayed bundles (transport: 1) */
	int naive;                      /* baseline for benchmarks: every node relays
	                                   every new bundle once, nothing else */
	size_t cache_max;               /* bundles kept for relaying and requests (512) */
	uint32_t seed;                  /* backoff randomness */
	uint32_t limited_ms;            /* LORA_ACCEPT_LIMITED holds a bundle off this long
	                                   (0: 60 s) */
	/* The acceptance path. Called inside lora_flood_input for each bundle heard for
	 * the first time (hops byte first). Returns LORA_ACCEPT_* or < 0; *prec gets
	 * its precedence (0..3) when accepted. */
	int (*accept)(void *ctx, const uint8_t *bundle, size_t len, int *prec);
	/* Optional (NULL: flooding only): the sender's and recipient's key IDs of an
	 * accepted bundle, from its (unmasked) header. Returns 1 (from and to set), 0
	 * (from set; addressed to everyone) or < 0 (unknown). */
	int (*ends)(void *ctx, const uint8_t *bundle, size_t len, uint8_t from[LORA_NODEID],
	    uint8_t to[LORA_NODEID]);
	void *ctx;
};

struct lora_flood_stats {
	uint64_t frames_in, frames_out;
	uint64_t bad_short, bad_mac, bad_format;        /* rejected frames, by reason */
	uint64_t bundles_in;                            /* accepted new */
	uint64_t bundles_held;                          /* first heard but already held */
	uint64_t bundles_refused;                       /* refused by the acceptance path */
	uint64_t bundles_later;                         /* refused for now (LORA_ACCEPT_LATER) */
	uint64_t bundles_limited;                       /* held off (LORA_ACCEPT_LIMITED) */
	uint64_t bundles_too_big;                       /* offered but over LORA_BUNDLE_MAX */
	uint64_t dup_heard;                             /* copies of known bundles */
	uint64_t relays;                                /* rebroadcasts completed */
	uint64_t suppressed;                            /* rebroadcasts cancelled */
	uint64_t retries;                               /* retransmissions */
	uint64_t implicit_acks;                         /* a relay heard after ours */
	uint64_t digests_out, digests_in;
	uint64_t requests_out, requests_in, answers;    /* answers: bundles resent on request */
	uint64_t reasm_timeouts, reasm_inconsistent;
	uint64_t evicted;                               /* cache entries dropped */
	uint64_t routed_out;                            /* bundles of ours sent ROUTED */
	uint64_t routed_relays;                         /* other ROUTED frames: relays,
	                                                   their retries, recipients'
	                                                   copies */
	uint64_t route_fallbacks;                       /* ROUTED unacknowledged: flooded
	                                                   (ours), or doubted and named
	                                                   in a digest (a relay's) */
	uint64_t doubts;                                /* bundles doubted: to be named
	                                                   in the next digests */
	uint64_t arrivals_repeated;                     /* our arrival copy sent again:
	                                                   a repeat was heard */
	uint64_t routes;                                /* distances known */
	uint64_t carry;                                 /* carry score, 0..256 */
	uint64_t crowd;                                 /* copies heard per flooded
	                                                   bundle x 16 (16: one) */
};

struct lora_flood;

/* A new engine; params is copied (zero fields: defaults). *out NULL on -ENOMEM. */
int lora_flood_new(struct lora_flood **out, const struct lora_flood_params *p,
    const uint8_t key[32], uint64_t now_ms);
void lora_flood_free(struct lora_flood *);

/*
 * A bundle held locally. flood = LORA_OFFER_SEND: new here (our own, or from another
 * link), so send it now, in precedence order; LORA_OFFER_KEEP: only remember it (held
 * at start-up), to answer requests and leave out of ours; LORA_OFFER_DOUBT: remember
 * it and name it in the next digest, as if it had been sent and never carried on (held
 * at start-up while it may still be on its way: whatever retries the node owed it
 * before a restart are lost). Returns 1 if new to the engine, 0 if known, LORA_ETOOBIG.
 * The bytes are copied.
 */
#define LORA_OFFER_KEEP  0
#define LORA_OFFER_SEND  1
#define LORA_OFFER_DOUBT 2
int lora_flood_offer(struct lora_flood *, const uint8_t *bundle, size_t len, int prec,
    int flood, uint64_t now_ms);

/* 1 if the engine knows this air ID (held or refused). */
int lora_flood_known(const struct lora_flood *, const uint8_t id[LORA_AIRID]);

/* One frame heard on air, with its SNR in quarter dB as the modem reports it (it
 * orders relays: relay_delay). Returns LORA_OK or the frame's LORA_E* (counted). */
int lora_flood_input(struct lora_flood *, const uint8_t *frame, size_t len, int snr_x4,
    uint64_t now_ms);

/*
 * The next frame to send now whose precedence is at least min_prec (0: anything,
 * digests and requests included; they go only then): its length, with *prec its precedence; 0 if none
 * is due.
 */
int lora_flood_output(struct lora_flood *, uint64_t now_ms, int min_prec,
    uint8_t out[LORA_FRAME_MAX], int *prec);

/* Milliseconds until output may have something or a timer runs (0: now), or -1. */
int64_t lora_flood_timeout(const struct lora_flood *, uint64_t now_ms);

const struct lora_flood_stats *lora_flood_stats(const struct lora_flood *);
/* Bundles in the cache. */
size_t lora_flood_size(const struct lora_flood *);

#endif
