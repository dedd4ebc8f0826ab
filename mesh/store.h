/*
 * The store: one SQLite file per node, in WAL mode with synchronous=FULL, so a
 * COMMIT that returned is on disk. It holds ciphertext bundles and the public PKI,
 * plus local records (inbox/outbox) whose text is sealed under the node's local key
 * before it reaches this layer. Nothing decrypted is ever passed in here.
 *
 * Schema is versioned with PRAGMA user_version; store_open() migrates older files
 * forward and refuses newer ones (MESH_ESCHEMA).
 *
 * All times are Unix seconds supplied by the caller. All functions return MESH_OK or a
 * negative MESH_E*; out-params are untouched on failure unless said otherwise.
 */
#ifndef APAGON_STORE_H
#define APAGON_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

struct store;

#define STORE_SCHEMA_VERSION 4

/* Open (creating if needed) the store at path. *out is NULL on failure. */
int store_open(struct store **out, const char *path);
void store_close(struct store *);

/* The SQLite error text of the last failure, for logs. */
const char *store_errmsg(const struct store *);

/* Transactions. BEGIN IMMEDIATE / COMMIT / ROLLBACK. Commit is durable on return. */
int store_begin(struct store *);
int store_commit(struct store *);
void store_rollback(struct store *);
/*
 * Group commit: one outer transaction around many store_begin()/store_commit() pairs,
 * which become savepoints inside it (a store_rollback() undoes only its own part).
 * Nothing in the group is durable, so nothing may be acknowledged, until
 * store_group_commit() returns MESH_OK; on failure the whole group is rolled back.
 * The outer transaction begins at the group's first statement: a group that runs
 * none costs nothing. If it cannot begin (another process holds the write lock),
 * the rest of the group runs as separate transactions.
 */
int store_group_begin(struct store *);
int store_group_commit(struct store *);
void store_group_rollback(struct store *);
/* Nested savepoint inside a transaction: one bundle's writes, undone on their own. */
int store_savepoint(struct store *);
int store_release(struct store *);
void store_rollback_to(struct store *);     /* rolls back and releases the savepoint */

/* ---- key/value meta (blobs) ---- */
int store_meta_set(struct store *, const char *key, const uint8_t *val, size_t len);
/* Copies up to cap bytes; *len gets the stored size. MESH_ENOTFOUND if absent. */
int store_meta_get(struct store *, const char *key, uint8_t *val, size_t cap, size_t *len);

/* ---- counters (rejection reasons and the like) ---- */
int store_counter_add(struct store *, const char *name, int64_t delta);
/* Calls fn for each counter, in name order. */
int store_counters(struct store *, void (*fn)(void *, const char *, int64_t), void *ctx);

/* ---- bundles ---- */

struct stored_bundle {
	uint8_t id[APAGON_HASH];
	uint8_t type, precedence;
	uint8_t sender_pk[APAGON_SIGN_PK];
	uint8_t recipient[APAGON_KEYID];
	uint32_t created;
	int64_t stored_at, expires_at;
	int own;                /* 1 if this node created it */
	int pinned;             /* 1: own message still awaiting its receipt, never evicted */
	const uint8_t *raw;     /* wire bytes (hops included), valid until the next store call */
	size_t raw_len;
};

/* Quotas in bytes of raw bundles. 0 means unlimited. */
struct store_quota {
	int64_t total_bytes;
	int64_t per_sender_bytes;
};
void store_set_quota(struct store *, const struct store_quota *);

/* 1 if the ID is held or was purged after delivery or a receipt (tombstone), 0 if not,
 * <0 on error. */
int store_has_bundle(struct store *, const uint8_t id[APAGON_HASH]);

/*
 * Make room for a bundle of `size` bytes from sender_pk at `precedence` expiring at
 * expires_at, within the quotas. Evicts, lowest precedence first then soonest expiry,
 * only bundles that rank strictly below the newcomer (lower precedence, or same
 * precedence and sooner expiry), never pinned ones and never CERT/PREKEY/REVOKE.
 * Bundles of the same sender are evicted first when that sender is over its quota.
 * MESH_EQUOTA if no room can be made. Must run inside a transaction.
 */
int store_make_room(struct store *, const uint8_t sender_pk[APAGON_SIGN_PK], int precedence,
    int64_t expires_at, size_t size);

/* Insert a bundle (sb->raw/raw_len are copied). MESH_EDUPLICATE if the ID is held. */
int store_put_bundle(struct store *, const struct stored_bundle *sb);

/* Fetch one bundle; sb->raw stays valid until the next call on this store. */
int store_get_bundle(struct store *, const uint8_t id[APAGON_HASH], struct stored_bundle *sb);
/* The same without the bundle itself (sb->raw NULL, raw_len 0). */
int store_get_bundle_brief(struct store *, const uint8_t id[APAGON_HASH],
    struct stored_bundle *sb);

/*
 * Iterate over live bundles (expires_at > now), highest precedence first, then oldest
 * stored first. fn returns 0 to go on, non-zero to stop (that value is returned).
 */
int store_each_bundle(struct store *, int64_t now,
    int (*fn)(void *, const struct stored_bundle *), void *ctx);
/* The same without the bundles themselves (sb->raw NULL, raw_len 0): for the IDs and
 * ranks alone, without reading every bundle's bytes. */
int store_each_bundle_brief(struct store *, int64_t now,
    int (*fn)(void *, const struct stored_bundle *), void *ctx);

/*
 * Drop a bundle because it was delivered; keep a tombstone until expires_at so a
 * replay is still recognised as a duplicate.
 */
int store_purge_bundle(struct store *, const uint8_t id[APAGON_HASH]);

/* SQLite's data_version: it moves when another connection commits to the store
 * (not on this connection's own commits). */
int store_data_version(struct store *, int64_t *v);

/* A tombstone alone, until expires_at: for a bundle taken in whole without a row
 * (accept.c: delivered at once), so that a replay is recognised as a duplicate. */
int store_put_tombstone(struct store *, const uint8_t id[APAGON_HASH], int64_t expires_at);

/* Unpin an own bundle (its receipt arrived). */
int store_unpin_bundle(struct store *, const uint8_t id[APAGON_HASH]);

/*
 * Delete bundles and tombstones whose expires_at <= now. *removed (may be NULL) gets
 * the number of bundles removed. Own pinned bundles that expire are removed as well:
 * their outbox record is set to OUT_EXPIRED by the caller through store_msg_expire().
 */
int store_gc(struct store *, int64_t now, int *removed);

/* Total bytes of held bundles, overall and for one sender (NULL for overall only). */
int store_usage(struct store *, const uint8_t sender_pk[APAGON_SIGN_PK], int64_t *total,
    int64_t *sender);

/* ---- members (certificates) ---- */

struct member {
	uint8_t pk[APAGON_SIGN_PK];
	uint8_t key_id[APAGON_KEYID];
	uint8_t issuer[APAGON_SIGN_PK];
	int role;
	char name[65];
	char unit[65];
	uint32_t not_before, not_after;
	int64_t first_seen;
	int verified;           /* the user compared safety numbers */
	const uint8_t *chain;   /* encoded chain, valid until the next store call */
	size_t chain_len;
};

/* Insert or refresh a member (keyed by pk; first_seen and verified are kept). */
int store_put_member(struct store *, const struct member *m);
int store_get_member(struct store *, const uint8_t pk[APAGON_SIGN_PK], struct member *m);
/* Each member with this key ID (normally one). */
int store_members_by_keyid(struct store *, const uint8_t key_id[APAGON_KEYID],
    int (*fn)(void *, const struct member *), void *ctx);
/* Each member whose name equals `name` (case-sensitive), or all when name is NULL,
 * ordered by name then first_seen. */
int store_each_member(struct store *, const char *name,
    int (*fn)(void *, const struct member *), void *ctx);
int store_set_verified(struct store *, const uint8_t pk[APAGON_SIGN_PK], int verified);

/* ---- revocations ---- */
int store_put_revocation(struct store *, const uint8_t subject[APAGON_SIGN_PK],
    const uint8_t revoker[APAGON_SIGN_PK], uint32_t revoked_at, const char *reason);
/* 1 if subject is revoked by `revoker` (or by anyone when revoker is NULL), else 0. */
int store_is_revoked(struct store *, const uint8_t subject[APAGON_SIGN_PK],
    const uint8_t revoker[APAGON_SIGN_PK]);

/* ---- other members' prekeys ---- */
struct peer_prekey {
	uint8_t owner[APAGON_SIGN_PK];
	uint32_t serial;
	uint8_t pk[APAGON_DH_PK];
	uint32_t not_after;
};
int store_put_peer_prekey(struct store *, const struct peer_prekey *p);
/* The owner's highest-serial prekey with not_after > now. */
int store_peer_prekey_current(struct store *, const uint8_t owner[APAGON_SIGN_PK], int64_t now,
    struct peer_prekey *p);
/* The owner's prekey whose serial's low byte is `serial8` (highest serial if several). */
int store_peer_prekey_by_serial8(struct store *, const uint8_t owner[APAGON_SIGN_PK],
    uint8_t serial8, struct peer_prekey *p);

/* ---- this node's own prekeys (secret sealed by the caller) ---- */
struct own_prekey {
	uint32_t serial;
	uint8_t pk[APAGON_DH_PK];
	uint8_t sealed_sk[APAGON_DH_SK + APAGON_LOCAL_OVERHEAD];
	int64_t created;
	int64_t retired_at;     /* 0 while current */
};
int store_put_own_prekey(struct store *, const struct own_prekey *p);
/* The highest-serial own prekey. MESH_ENOTFOUND if none yet. */
int store_own_prekey_current(struct store *, struct own_prekey *p);
int store_own_prekey_by_serial8(struct store *, uint8_t serial8, struct own_prekey *p);
/* Mark all but the highest serial retired at `now` (if not already). */
int store_retire_own_prekeys(struct store *, int64_t now);
/*
 * Delete the secrets of own prekeys retired at or before `cutoff`, then checkpoint the
 * WAL (TRUNCATE) so the deleted pages are overwritten (secure_delete is on).
 * *deleted (may be NULL) receives the count.
 */
int store_delete_old_prekeys(struct store *, int64_t cutoff, int *deleted);

/* ---- local message records: inbox and outbox ---- */

enum msg_dir { MSG_IN = 0, MSG_OUT = 1 };
enum msg_state {
	OUT_QUEUED = 0,         /* stored, not yet handed to any peer or file */
	OUT_SENT = 1,           /* handed to sent_count peers or exports */
	OUT_DELIVERED = 2,      /* the recipient's receipt arrived */
	OUT_EXPIRED = 3,        /* lifetime ended without a receipt; see reason */
	IN_UNREAD = 10,
	IN_READ = 11,
};

struct msg_rec {
	uint8_t bundle_id[APAGON_HASH];
	int dir;
	int state;
	uint8_t peer_pk[APAGON_SIGN_PK];        /* sender (in) or recipient (out) */
	int precedence;
	uint32_t created;                       /* the sender's stamp */
	int64_t local_time;                     /* received (in) or queued (out), our clock */
	int64_t expires_at;
	int sent_count;                         /* peers that took custody (acked) */
	int exported;                           /* times it left in an export file */
	int64_t delivered_at;
	char reason[65];                        /* why it expired */
	const uint8_t *sealed_text;             /* crypto_local_seal() output */
	size_t sealed_len;
};

int store_put_msg(struct store *, const struct msg_rec *m);
int store_get_msg(struct store *, const uint8_t bundle_id[APAGON_HASH], struct msg_rec *m);
/* The same without the sealed text (NULL, length 0) and `exported` (0): a 30 kB text
 * is neither read nor copied. */
int store_get_msg_brief(struct store *, const uint8_t bundle_id[APAGON_HASH],
    struct msg_rec *m);
/* Each record of one direction, oldest first. sealed_text is valid inside fn only. */
int store_each_msg(struct store *, int dir, int (*fn)(void *, const struct msg_rec *), void *ctx);
int store_msg_set_state(struct store *, const uint8_t bundle_id[APAGON_HASH], int state,
    int64_t when, const char *reason);
/* sent_count += peers, exported += exports, and state QUEUED -> SENT if either > 0. */
int store_msg_add_sent(struct store *, const uint8_t bundle_id[APAGON_HASH], int peers,
    int exports);
/* Outbox records still QUEUED/SENT whose expires_at <= now become EXPIRED with reason. */
int store_msg_expire(struct store *, int64_t now, const char *reason);

/* ---- receipts owed (docs/protocol.md, 10.3) ---- */

/* A message taken in whose receipt is not written yet. */
struct receipt_due {
	uint8_t bundle_id[APAGON_HASH];
	struct peer_prekey used;        /* the sender's prekey it came under; owner = sender */
	int precedence;
	uint8_t lifetime;               /* the message's lifetime code */
	int64_t since;                  /* when it was taken in, our clock */
};
/* Recorded once per message (a second put of the same ID is ignored). */
int store_put_receipt_due(struct store *, const struct receipt_due *r);
/* Each one, by sender, oldest first. */
int store_each_receipt_due(struct store *, int (*fn)(void *, const struct receipt_due *),
    void *ctx);
int store_del_receipt_due(struct store *, const uint8_t bundle_id[APAGON_HASH]);

#endif
