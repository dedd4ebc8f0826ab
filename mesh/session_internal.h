/*
 * Inside a link session (session.h): the state every part of it shares, and the
 * functions one part calls in another. session.c has the lifecycle, the message layer,
 * data frames, bundle transfer, output and timers; session_hs.c the key schedule and
 * the handshake; session_sync.c the ID map, the send queue and set reconciliation.
 * Not for use outside mesh/session*.c.
 */
#ifndef APAGON_SESSION_INTERNAL_H
#define APAGON_SESSION_INTERNAL_H

#include "session.h"
#include "wire.h"

#include <sodium.h>

/* Frame types (first byte, in the clear). */
#define FR_HS1   0x01
#define FR_HS2   0x02
#define FR_HS3   0x03
#define FR_DATA  0x10

#define HS_VERSION 1
#define HS1_LEN  (1 + 1 + APAGON_DH_PK + 16)
#define HS_BODY_MAX (2 + APAGON_CHAIN_MAX + APAGON_SIG)
#define MSG_HDR  3
#define NONCE    crypto_aead_chacha20poly1305_ietf_NPUBBYTES
#define PREFIX   8

/* Handshake steps. */
enum {
	HS_WAIT_HS1,            /* responder: nothing yet */
	HS_WAIT_HS2,            /* initiator: HS1 sent */
	HS_WAIT_HS3,            /* responder: HS2 sent */
	HS_CONFIRM,             /* initiator: HS3 sent, keys ready, waiting for the first
	                           data frame that proves the responder has them too */
	HS_DONE,
};

/* What the session knows about one bundle ID (keyed by its first 16 bytes). */
#define F_QUEUED   0x01         /* in the send queue */
#define F_INFLIGHT 0x02         /* sent, no ACK yet */
#define F_PEER_HAS 0x04         /* acknowledged by the peer, or received from it */
#define F_HELD     0x08         /* we hold it (or refuse it for good): offer it */
#define F_FULL     0x10         /* id[16..31] known */
#define F_PUSHED   0x20         /* sent at the start, for the peer itself: until the
                                   first round has settled, not queued again while
                                   in flight */

struct ent {
	uint8_t id[APAGON_HASH];
	uint8_t flags;
	uint8_t used;
};

struct idmap {
	struct ent *e;
	size_t cap, n;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

struct qent {
	uint8_t id[APAGON_HASH];
	uint8_t rank;           /* precedence * 2 + public type: higher goes first */
	uint64_t seq;
};

/* One side's set for a reconciliation, sorted by ID, without duplicates. */
struct snap {
	struct riblt_item *items;
	uint8_t (*full)[APAGON_HASH];
	uint8_t *rank;
	size_t n, cap;
	struct riblt_encoder enc;
	int ready;
};

#define PEND_MAX 32

struct session {
	struct session_config cfg;
	struct session_source store_src;
	const struct session_source *src;
	int state, err;

	/* handshake */
	int hs;
	uint8_t psk[APAGON_KEY];
	uint8_t e_pk[APAGON_DH_PK], e_sk[APAGON_DH_SK];
	uint8_t th[APAGON_HASH];
	uint8_t hs_secret[APAGON_KEY];
	uint8_t hs1[HS1_LEN];
	uint8_t *hs2, *hs3;
	size_t hs2_len, hs3_len;
	int hs_send;            /* 0, or the handshake frame to (re)send */
	uint64_t hs_retry_at, hs_retry_cur, hs_deadline;
	uint8_t peer_pk[APAGON_SIGN_PK];
	int peer_known;
	int hs_refused;         /* why the last unacceptable identity was refused, or 0 */
	struct chain peer_chain;        /* as verified in the handshake */

	/* traffic */
	uint8_t k_tx[APAGON_KEY], k_rx[APAGON_KEY];
	uint8_t riblt_key[RIBLT_KEY];
	uint64_t tx_ctr, rx_max, rx_bits;
	int rx_any;
	uint64_t last_rx, last_tx;
	uint8_t *ptx;           /* plaintext scratch, max_frame bytes */

	/* control messages waiting for output */
	int need_ping;
	int more_pending;
	uint32_t more_round, more_have, more_total;
	uint8_t (*wants)[PREFIX];
	size_t nwants, wants_off, wants_cap;
	int result_pending, result_fail;
	uint32_t result_round, result_diff;
	uint8_t (*acks)[RIBLT_ID];
	size_t nacks, acks_cap;
	uint64_t ack_due;       /* the oldest waiting acknowledgement goes by then */
	/* The queue's head that did not fit in the last frame's room, and its length:
	 * not read from the store again while the room is still too small. */
	uint8_t nofit_id[APAGON_HASH];
	size_t nofit_len;
	uint64_t now_in;        /* the time of the frame being handled */

	/* reconciliation: initiator encodes, responder decodes */
	uint32_t round;
	int round_active;       /* initiator: waiting for the responder's answer */
	uint64_t round_deadline, next_round_at;
	uint32_t sym_next, sym_end;
	int d_active;           /* responder: decoder running for `round` */
	uint64_t round_began;   /* responder: when the current round's snapshot was made */
	int round_ok;           /* responder: this frame may still begin a round */
	struct riblt_decoder dec;
	struct snap snap;
	uint64_t last_diff;
	int have_last_diff;
	int pushed;             /* bundles pushed at the start still carry F_PUSHED */

	/* bundles */
	struct qent *heap;
	size_t nheap, capheap;
	uint64_t seq;
	struct idmap map;
	struct {
		uint8_t *raw;
		size_t len;
	} pend[PEND_MAX];
	int npend;

	/* rate limit on what this peer delivers (ratelimit.h) */
	struct ratelimit_params peer_p;
	struct rl_pair peer_b;

	struct session_stats st;
};

/* ---------------- small helpers ---------------- */

static inline void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* session.c */
void sess_close_with(struct session *s, int err);

/* session_hs.c */
void sess_link_psk(uint8_t psk[APAGON_KEY], const struct netkeys *nk);
int sess_on_hs1(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms);
int sess_on_hs2(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms);
int sess_on_hs3(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms);
void sess_open_session(struct session *s, uint64_t now_ms);

/* session_sync.c */
int sess_enqueue(struct session *s, const uint8_t id[APAGON_HASH], int rank);
/* At the start: queue what we hold for the peer itself (sealed to its key ID). */
void sess_push_for_peer(struct session *s, uint64_t now_ms);
/* The first round has queued what it found: pushed bundles are ordinary again. */
void sess_push_settled(struct session *s);
struct ent *sess_map_find(const struct idmap *m, const uint8_t id[RIBLT_ID]);
struct ent *sess_map_get(struct idmap *m, const uint8_t *id, int full);
int sess_on_ack(struct session *s, const struct session_msg *m);
int sess_on_more(struct session *s, const struct session_msg *m, uint64_t now_ms);
int sess_on_result(struct session *s, const struct session_msg *m, uint64_t now_ms);
int sess_on_symbols(struct session *s, const struct session_msg *m, uint64_t now_ms);
void sess_q_pop(struct session *s);
int sess_rank_of(int prec, int type);
void sess_snap_free(struct snap *sn);
void sess_start_round(struct session *s, uint64_t now_ms);
int sess_store_src_each(void *ctx, int64_t now_s, int (*fn)(void *, const uint8_t *, int, int), void *fctx);
int sess_store_src_get(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t **raw, size_t *len);

#endif
