/* What the files of node/ share about a node; callers outside node/ see node.h only. */
#ifndef APAGON_NODE_INTERNAL_H
#define APAGON_NODE_INTERNAL_H

#include "node.h"
#include "../mesh/session.h"

#define NODE_KEYFILE   "identity.key"
#define NODE_STORE     "apagon.db"
#define NODE_PATH_MAX  4096
#define NODE_RECEIPT_QUEUE 64   /* messages per batch whose receipts can wait for its end */
#define NODE_RECEIPT_MAX_WAIT 5 /* receipts wait at most this many times their delay */
#define NODE_PLAIN_SLOTS 2      /* plaintext buffers inside struct node (node_plain_get) */
#define NODE_PLAIN_MAX   (APAGON_MAX_BUNDLE + 1)

/* Allocated with sodium_malloc: guarded, locked, and wiped by sodium_free. */
struct node {
	char dir[NODE_PATH_MAX];
	struct store *st;
	char name[APAGON_NAME_MAX + 1];
	uint8_t pk[APAGON_SIGN_PK];
	uint8_t sk[APAGON_SIGN_SK];
	uint8_t key_id[APAGON_KEYID];
	uint8_t local_key[APAGON_KEY];  /* seals local records; derived from the identity */
	int enrolled;
	struct enrollment enr;          /* holds the network key: secret */
	struct netkeys nk;
	struct accept_ctx ax;
	/* X25519 results between our prekey `serial` and a peer prekey, so a burst of
	 * bundles between the same two prekeys costs one scalar multiplication. Wiped
	 * whenever prekeys rotate or are deleted. */
	struct {
		uint32_t serial;
		uint8_t peer[APAGON_DH_PK];
		uint8_t shared[APAGON_KEY];
		int used;
	} dh[8];
	int dh_next;
	/* Messages taken in during the open acceptance batch, waiting for their receipt.
	 * When the batch commits, node_batch_end() records them as owed, inside the same
	 * transaction: a receipt is owed exactly when the messages it names are held. */
	struct {
		uint8_t id[APAGON_HASH];
		struct peer_prekey used;        /* sender's prekey it came under; owner = sender */
		uint8_t precedence, lifetime;
	} rq[NODE_RECEIPT_QUEUE];
	int nrq;
	int64_t rq_now;
	/* Receipts may wait: node_batch_end() records what is owed in the store
	 * (receipts_due, in the batch's transaction, so a restart loses none), and
	 * write_receipts() makes them once no message has come to owe one for
	 * receipt_delay seconds, or a sender's oldest has waited NODE_RECEIPT_MAX_WAIT
	 * times that: one receipt per sender for up to APAGON_RECEIPT_MAX_IDS messages.
	 * ndue and due_at track what is owed: the count, and when to look next (0:
	 * nothing owed, as far as this process knows); last_owed, when a message last
	 * came to owe one; first_owed, when the oldest still owed did. */
	int receipt_delay;
	int ndue;
	int64_t due_at;
	int64_t last_owed, first_owed;
	/* Plaintext buffers in this guarded, locked allocation (node_plain_get): a
	 * sodium_malloc per message maps, locks, protects and unmaps pages, a dozen
	 * system calls whose TLB flushes cost more than the message's signature check
	 * on an emulated CPU. */
	uint8_t plain[NODE_PLAIN_SLOTS][NODE_PLAIN_MAX];
	uint8_t plain_busy[NODE_PLAIN_SLOTS];
};

/* A buffer of len bytes for plaintext: a free slot inside struct node when len fits,
 * else sodium_malloc; NULL when out of memory. Give it back with node_plain_put(),
 * which wipes it. */
uint8_t *node_plain_get(struct node *n, size_t len);
void node_plain_put(struct node *n, uint8_t *p, size_t len);

/* The shared secret between our prekey (serial, sk) and a peer prekey, from the cache
 * or computed and cached. MESH_EDECRYPT for a low-order peer key. */
int node_dh(struct node *n, uint32_t serial, const uint8_t sk[APAGON_DH_SK],
    const uint8_t peer[APAGON_DH_PK], const uint8_t **shared);
void node_dh_forget(struct node *n);

/* Create DIR (0700) and a fresh Ed25519 seed sealed in DIR/file; fails if the file
 * exists. pk receives the public key. */
int node_new_seed(const char *dir, const char *file, const char *passphrase,
    enum keyfile_strength strength, uint8_t pk[APAGON_SIGN_PK]);
/* Unseal DIR/file into seed (wiped on failure). */
int node_open_seed(const char *dir, const char *file, const char *passphrase,
    uint8_t seed[APAGON_SIGN_SEED]);

/* Join dir and a file name. */
int node_path(char *out, size_t cap, const char *dir, const char *file);

/* Unseal own prekey `serial8`, or the current one when serial8 < 0. */
int node_own_prekey(struct node *n, int serial8, struct own_prekey *p, uint8_t sk[APAGON_DH_SK]);

/* Store a bundle this node built and signed in this process, a moment ago, through
 * the acceptance path inside the open transaction. Its signature is not verified
 * again (accept_ctx.own_signed); never pass it bytes from anywhere else. */
int node_accept_own(struct node *n, const uint8_t *buf, size_t len, int64_t now,
    struct accept_result *res);

/* The delivery hook for bundles addressed to us (messages.c). */
int node_deliver(void *ctx, const struct bundle *b, const uint8_t sender_pk[APAGON_SIGN_PK],
    int64_t now, struct accept_result *res);

/* The acceptance batch ends (accept_ctx.batch_end): on commit, make the receipts for
 * the messages taken in during it; otherwise forget them. */
int node_batch_end(void *ctx, int commit);

/* Accept an enrollment file for this node: verify, seal, publish cert and prekey. */
int node_enroll(struct node *n, const uint8_t *buf, size_t len, int64_t now);

/* Retry delivery of bundles for us that could not be opened when they arrived. */
int node_retry_pending(struct node *n, int64_t now);

/* Resolve a name or hex ID among the members of any store (node_resolve's engine). */
int node_resolve_in(struct store *st, const char *who, uint8_t pk[APAGON_SIGN_PK],
    void (*fn)(void *, const struct member *), void *ctx);

/* 1 if the member's key or an issuer above it is revoked (as acceptance judges it). */
int node_member_revoked(struct node *n, const uint8_t pk[APAGON_SIGN_PK]);
/* 1 if the peer of an open session is revoked: by its stored certificate, or by the
 * chain it proved in the handshake (a peer whose certificate we never stored). */
int node_peer_revoked(struct node *n, const struct session *s);

/* Does `who` look like a hex key ID or key prefix, and does it match pk? */
int node_hex_matches(const char *who, const uint8_t pk[APAGON_SIGN_PK]);

#endif
