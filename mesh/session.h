/*
 * Link sessions: one pairwise link between two members of a network, sans-I/O.
 *
 * A session is driven the way STYLE.md's core is: feed it every frame that arrives
 * (session_input), ask it for frames to send until it has none (session_output), and
 * call session_tick() when session_timeout() says so. It never reads the clock, never
 * touches the network and never logs: time comes in as now_ms, results go out as
 * frames, counters (session_stats) and the session state.
 *
 * What runs over it (docs/protocol.md, section 15, has the byte diagrams and the reasoning):
 *
 *   1. a mutual handshake (SIGMA-I shape, three frames): ephemeral X25519 both ways,
 *      certificate chains and signatures over the transcript, encrypted under keys
 *      from the DH and the network key; forward-secret traffic keys per direction;
 *   2. encrypted, authenticated data frames (ChaCha20-Poly1305, explicit 64-bit
 *      counter, replay window);
 *   3. set reconciliation of bundle IDs with a rateless IBLT (mesh/riblt.h), started
 *      by the initiator after the handshake and again every resync_ms;
 *   4. the bundles each side lacks, highest precedence first, through the acceptance
 *      path (mesh/accept.h); pushes of bundles stored later (session_notify);
 *   5. rate limits on what is taken in, per peer and per sender (mesh/ratelimit.h): a
 *      bundle over a limit is deferred (neither accepted nor acknowledged), so the
 *      peer offers it again on a later round.
 *
 * Everything that comes from the peer is untrusted: every frame is bounds-checked, a
 * bad frame is counted and dropped, never fatal. Only the handshake outcome, the idle
 * timeout and a refused peer close a session.
 */
#ifndef APAGON_SESSION_H
#define APAGON_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "accept.h"
#include "bundle.h"
#include "cert.h"
#include "mesh.h"
#include "ratelimit.h"
#include "riblt.h"

/* MQTT's practical limit; the smallest frame we agree to work with. */
#define SESSION_MAX_FRAME       65536
#define SESSION_MIN_FRAME       512
/* Acknowledgements waiting to go out alone, at most: more than this many go at once. */
#define SESSION_ACK_BATCH       32
/* Bytes a data frame adds around its messages: type, counter, tag. */
#define SESSION_FRAME_OVERHEAD  (1 + 8 + 16)
/* A responder begins a new round (a snapshot of its whole store) at most once a frame
 * and at most once in this long, unless the last round is over. */
#define SESSION_ROUND_GAP_MS    1000
/* Hard bounds on one reconciliation, against a hostile or broken peer. */
#define SESSION_MAX_SYMBOLS     (1u << 18)

/* Errors of this layer, beyond MESH_E*. */
enum session_err {
	SESSION_ETIMEOUT = -40,         /* handshake or link went silent */
	SESSION_EPEER = -41,            /* the peer is ourselves, or its chain has no leaf */
	SESSION_ECLOSED = -42,          /* the session is closed */
};

/* session_strerror covers MESH_E* too. */
const char *session_strerror(int err);

enum session_state {
	SESSION_HANDSHAKE = 0,
	SESSION_OPEN = 1,
	SESSION_CLOSED = 2,
};

/*
 * Where a session finds the bundles it offers. The production path reads the store
 * (the default when session_config.source is NULL); tests and benchmarks may plug a
 * synthetic set.
 */
struct session_source {
	/* Call fn for every bundle to offer (full ID, precedence, type); fn returns
	 * non-zero to stop. now_s: Unix seconds. Returns 0 or a negative MESH_E*. */
	int (*each)(void *ctx, int64_t now_s,
	    int (*fn)(void *fctx, const uint8_t id[APAGON_HASH], int prec, int type), void *fctx);
	/* The wire bytes of one bundle, valid until the next call; MESH_ENOTFOUND when
	 * it is gone. */
	int (*get)(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t **raw, size_t *len);
	void *ctx;
};

struct session_config {
	int initiator;                          /* 1 on the side that opened the link */
	struct accept_ctx *ax;                  /* store + netkeys + delivery, borrowed */
	const uint8_t *pk;                      /* our Ed25519 identity, borrowed */
	const uint8_t *sk;
	const struct chain *chain;              /* our certificate chain, borrowed */
	size_t max_frame;                       /* 0: SESSION_MAX_FRAME */
	uint32_t resync_ms;                     /* 0: 60 s between reconciliations */
	uint32_t keepalive_ms;                  /* 0: 15 s */
	uint32_t idle_ms;                       /* 0: 60 s of silence closes */
	uint32_t hs_retry_ms;                   /* 0: 1 s, doubling */
	uint32_t hs_timeout_ms;                 /* 0: 30 s to complete the handshake */
	uint32_t round_timeout_ms;              /* 0: 10 s for one reconciliation */
	/* How long acknowledgements may wait for a frame that goes anyway, before one
	 * goes for them alone (also at SESSION_ACK_BATCH of them). 0: never wait. */
	uint32_t ack_delay_ms;
	const struct session_source *source;    /* NULL: the store in ax */
	/* Per-peer limit on the bundles taken from this link; zero fields: defaults. */
	struct ratelimit_params peer_limit;
	/* Per-sender limits, shared by all the node's sessions; borrowed. NULL: none. */
	struct ratelimit *senders;
	/* Optional. `received`: a bundle was accepted and committed (after the commit).
	 * `acked`: the peer (peer_pk, proven by the handshake) says it holds a bundle we
	 * sent it (after its commit). */
	void (*received)(void *cb_ctx, const uint8_t id[APAGON_HASH], int prec);
	void (*acked)(void *cb_ctx, const uint8_t id[APAGON_HASH],
	    const uint8_t peer_pk[APAGON_SIGN_PK]);
	void *cb_ctx;
};

struct session_stats {
	uint64_t bytes_in, bytes_out;           /* every frame */
	uint64_t frames_in, frames_out;
	uint64_t hs_bytes_in, hs_bytes_out;     /* handshake frames */
	uint64_t sync_bytes_in, sync_bytes_out; /* reconciliation messages, with the
	                                           frame overhead of frames carrying them */
	uint64_t round_trips;                   /* reconciliation exchanges */
	uint64_t rounds;                        /* reconciliations completed */
	uint64_t rounds_failed;                 /* timed out or refused */
	uint64_t rounds_refused;                /* responder: a new round asked for too
	                                           soon (each costs a snapshot of the
	                                           store), ignored */
	uint64_t symbols_in, symbols_out;
	uint64_t last_diff;                     /* differences found by the last round */
	uint64_t bundles_in;                    /* accepted and committed */
	uint64_t bundles_dup;                   /* already held */
	uint64_t bundles_refused;               /* refused by the acceptance path */
	uint64_t bundles_out;                   /* sent */
	uint64_t bundles_acked;                 /* the peer committed them */
	uint64_t bundles_too_big;               /* do not fit in max_frame */
	uint64_t bundles_pushed;                /* sent at the start, for the peer itself */
	uint64_t push_failed;                   /* the start's push could not read the store */
	uint64_t bad_frames;                    /* undecryptable, malformed, unexpected */
	uint64_t hs_refused;                    /* HS2/HS3 that decrypted but carried an
	                                           unacceptable identity: ignored, the
	                                           handshake waits for the genuine one */
	uint64_t replayed;                      /* counter already seen or too old */
	uint64_t bad_messages;                  /* well-framed but out of place */
	uint64_t bundles_deferred_peer;         /* over this link's rate limit */
	uint64_t bundles_deferred_sender;       /* over their signer's rate limit */
	uint64_t ids_known;                     /* bundle IDs the session tracks now (a
	                                           gauge: bounded by what either side
	                                           holds, never by what a peer claims) */
};

struct session;

/* A new session. *out is NULL on failure (MESH_EINVAL, MESH_ENOMEM). */
int session_new(struct session **out, const struct session_config *cfg, uint64_t now_ms);
/* Free, wiping every key. NULL is fine. */
void session_free(struct session *);

/* Feed one frame from the peer. Returns MESH_OK, or a negative code saying why the
 * frame was dropped (counted; the session goes on) or SESSION_ECLOSED. MESH_ESTORE
 * when the store failed: nothing of that frame was accepted. */
int session_input(struct session *, const uint8_t *frame, size_t len, uint64_t now_ms);

/* The next frame to send, at most min(cap, max_frame) bytes: its length, or 0 if
 * there is nothing to send now. */
size_t session_output(struct session *, uint8_t *buf, size_t cap, uint64_t now_ms);

/* Milliseconds until session_tick() is due (0: now), or -1 when closed. */
int64_t session_timeout(const struct session *, uint64_t now_ms);
/* Run the timers: handshake retries, keepalive, idle, reconciliation. */
void session_tick(struct session *, uint64_t now_ms);

/* A bundle stored locally after the session started: push it, in precedence order.
 * Safe in any state; it is sent once the session is open. */
int session_notify(struct session *, const uint8_t id[APAGON_HASH], int precedence);

/* Ask for a reconciliation now (initiator only; the responder's call is ignored). */
void session_resync(struct session *, uint64_t now_ms);

enum session_state session_state(const struct session *);
/* Why the session closed (0 while not closed). */
int session_error(const struct session *);
/* Why the last handshake answer with an unacceptable identity was refused (0: none). */
int session_refused(const struct session *);
/* The peer's Ed25519 key once authenticated, else NULL. */
const uint8_t *session_peer(const struct session *);
/* The certificate chain the peer proved in the handshake, else NULL: what a later
 * revocation is checked against (accept_chain_revoked), whether or not the peer's
 * certificate was ever stored. */
const struct chain *session_peer_chain(const struct session *);
const struct session_stats *session_stats(const struct session *);

/* ---- the message layer, exposed for fuzzing and tests ---- */

enum session_msg_type {
	SMSG_PING = 1,
	SMSG_SYMBOLS = 2,
	SMSG_MORE = 3,
	SMSG_RESULT = 4,
	SMSG_BUNDLE = 5,
	SMSG_ACK = 6,
};

/* One decoded message; pointers borrow the parsed buffer. */
struct session_msg {
	int type;
	uint32_t round;
	uint32_t start, total, have;            /* SYMBOLS: start; MORE: have, total */
	int flags;                              /* SYMBOLS: 1 = end of batch; RESULT: 1 =
	                                           final part, 2 = decoder gave up */
	const uint8_t *body;                    /* symbols (21 each), prefixes (8 each),
	                                           short IDs (16 each) or a bundle */
	size_t count;                           /* items in body (bundle: its length) */
};

/*
 * Parse the plaintext of one data frame into messages, calling fn for each in order
 * (fn returns non-zero to stop). No side effects. MESH_OK, or MESH_EDECODE at the
 * first malformed message (messages before it were already reported).
 */
int session_parse(const uint8_t *plain, size_t len,
    int (*fn)(void *ctx, const struct session_msg *m), void *ctx);

/*
 * Feed the plaintext of a data frame to an open session, as if it had arrived
 * decrypted: for the fuzzer and the tests. Same result codes as session_input.
 */
int session_input_plain(struct session *, const uint8_t *plain, size_t len, uint64_t now_ms);

#endif
