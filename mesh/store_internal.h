/*
 * Private to the store; not part of its contract, which is store.h. The store is one
 * file per role:
 *
 *   store.c          open, close, migrations, the statement cache, transactions and
 *                    savepoints, meta, counters, and the helpers below
 *   store_bundles.c  bundles, tombstones, quota and eviction, gc, the usage figures
 *   store_members.c  members, revocations, peer and own prekeys
 *   store_msgs.c     inbox and outbox records
 *   store_usage.c    the per-sender byte map
 */
#ifndef APAGON_STORE_INTERNAL_H
#define APAGON_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "store.h"

/* ---- the per-sender byte map (store_usage.c) ---- */

/*
 * The bytes held per sender, kept in memory so that a bundle insert costs one row and
 * no bookkeeping in SQLite. store_bundles.c decides when the figures are right (it
 * loads them from the bundles table and applies its own inserts and deletes); this map
 * only holds them.
 */
struct usage_slot {
	uint8_t pk[APAGON_SIGN_PK];
	int64_t bytes;
	int used;
};

/*
 * Open addressing with linear probing, keyed by the sender's public key, never more
 * than half full. Entries are never removed one by one (a sender whose bundles all
 * went keeps a zero), so probing needs no tombstones; the whole map is cleared when
 * the figures are loaded again.
 */
struct usage_map {
	struct usage_slot *slot;
	size_t cap;             /* 0 or a power of two */
	size_t n;               /* slots in use */
};

/* Empty the map, keeping its memory. */
void usage_map_clear(struct usage_map *);
/* Free the map's memory; it is left empty and usable. */
void usage_map_free(struct usage_map *);
/* The bytes recorded for pk, 0 if it has none. */
int64_t usage_map_get(const struct usage_map *, const uint8_t pk[APAGON_SIGN_PK]);
/* Add delta to pk's bytes, adding pk if new. MESH_ENOMEM leaves the map unchanged. */
int usage_map_add(struct usage_map *, const uint8_t pk[APAGON_SIGN_PK], int64_t delta);

/* ---- the store ---- */

/* Every query the store runs; the SQL text of each is in store.c. */
enum query {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_SAVEPOINT,
	Q_RELEASE,
	Q_ROLLBACK_TO,
	Q_META_SET,
	Q_META_GET,
	Q_COUNTER_ADD,
	Q_COUNTERS,
	Q_DATA_VERSION,
	Q_HAS_BUNDLE,
	Q_USAGE_LOAD,
	Q_VICTIMS_SENDER,
	Q_VICTIMS_ANY,
	Q_DELETE_BUNDLE,
	Q_TOMBSTONED,
	Q_PUT_BUNDLE,
	Q_GET_BUNDLE,
	Q_GET_BUNDLE_BRIEF,
	Q_EACH_BUNDLE,
	Q_EACH_BUNDLE_BRIEF,
	Q_TOMBSTONE,
	Q_PUT_TOMBSTONE,
	Q_UNPIN,
	Q_GC_BUNDLES,
	Q_GC_TOMBSTONES,
	Q_PUT_MEMBER,
	Q_GET_MEMBER,
	Q_MEMBERS_BY_KEYID,
	Q_MEMBERS_ALL,
	Q_MEMBERS_BY_NAME,
	Q_SET_VERIFIED,
	Q_PUT_REVOCATION,
	Q_REVOKED_ANY,
	Q_REVOKED_BY,
	Q_PUT_PEER_PREKEY,
	Q_PEER_PREKEY_CURRENT,
	Q_PEER_PREKEY_SERIAL8,
	Q_PUT_OWN_PREKEY,
	Q_OWN_PREKEY_CURRENT,
	Q_OWN_PREKEY_SERIAL8,
	Q_RETIRE_OWN_PREKEYS,
	Q_DELETE_OLD_PREKEYS,
	Q_CHECKPOINT,
	Q_PUT_MSG,
	Q_PUT_MSG_TEXT,
	Q_GET_MSG,
	Q_GET_MSG_BRIEF,
	Q_EACH_MSG,
	Q_MSG_SET_STATE,
	Q_MSG_ADD_SENT,
	Q_MSG_EXPIRE,
	Q_PUT_RECEIPT_DUE,
	Q_EACH_RECEIPT_DUE,
	Q_DEL_RECEIPT_DUE,
	Q_COUNT
};

/* A scratch buffer that only grows; what get functions hand out lives here. */
struct store_buf {
	uint8_t *p;
	size_t cap;
};

/* A bundle chosen for eviction by store_make_room() (store_bundles.c). */
struct victim;

struct store {
	sqlite3 *db;
	struct store_quota quota;
	sqlite3_stmt *stmt[Q_COUNT];
	struct store_buf raw, chain, text;
	/*
	 * Bytes held, overall and per sender, as this connection sees the bundles table.
	 * Loaded by one scan when first needed and again whenever they may be wrong:
	 * another connection committed (data_version moved), or a rollback undid writes
	 * of ours, or SQLite failed part-way. In between, our own inserts and deletes
	 * keep them up to date.
	 */
	struct usage_map usage;
	int64_t usage_total;
	int usage_loaded;               /* 0: stale, load before use */
	int64_t data_version;           /* PRAGMA data_version the figures are right for */
	int write_locked;               /* in store_begin()'s transaction: no other writer */
	int group;                      /* in store_group_begin()'s: store_begin() nests */
	int group_open;                 /* the group's BEGIN has run: at its first statement */
	struct victim *victim;
	size_t nvictim, victim_cap;
	char errmsg[256];
};

/* ---- errors and scratch buffers (store.c) ---- */

/* Set the message store_errmsg() gives, truncated to fit. */
void store_set_errmsg(struct store *, const char *msg);
/*
 * Remember SQLite's message now: a later ROLLBACK would overwrite it. Some errors
 * (IOERR, FULL, NOMEM, BUSY) make SQLite roll the whole transaction back, so the usage
 * figures can no longer be trusted. Returns MESH_ESTORE.
 */
int store_fail(struct store *);
/* Copy n bytes into b and return where they are; NULL if out of memory. */
const uint8_t *store_buf_copy(struct store_buf *b, const void *src, size_t n);

/* ---- statements (store.c) ---- */

/*
 * The cached statement for q, or a fresh one when the cached one is busy because a
 * callback of an iteration over the same query called back into the store. NULL
 * (after store_fail()) if it cannot be prepared. Give it back with stmt_release().
 */
sqlite3_stmt *stmt_acquire(struct store *, enum query q);
/* Reset and unbind a cached statement, or finalize a fresh one; st may be NULL. */
void stmt_release(struct store *, enum query q, sqlite3_stmt *st);

/* Bind a blob the caller keeps alive until the statement is released. */
int stmt_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
/* Bind a fixed char[cap] field, which need not be terminated. */
int stmt_bind_field(sqlite3_stmt *st, int i, const char *str, size_t cap);
/* Bind a terminated string, or SQL NULL for a NULL pointer. */
int stmt_bind_text(sqlite3_stmt *st, int i, const char *str);

/* Copy a fixed-size blob column; a short or missing value is zero-padded. */
void stmt_col_bytes(sqlite3_stmt *st, int i, uint8_t *dst, size_t n);
/* Copy a text column into char[cap], always terminated. */
void stmt_col_field(sqlite3_stmt *st, int i, char *dst, size_t cap);
/* A blob column by reference: valid until the statement steps or is released. */
const uint8_t *stmt_col_ref(sqlite3_stmt *st, int i, size_t *len);

/* Step a statement that returns no rows. A PRIMARY KEY/UNIQUE clash is a duplicate. */
int stmt_run(struct store *, sqlite3_stmt *st);
/* stmt_run() for a statement that must change a row: MESH_ENOTFOUND if none changed. */
int stmt_run_changed(struct store *, sqlite3_stmt *st);
/* Run a statement without parameters, such as BEGIN or RELEASE. */
int stmt_run_plain(struct store *, enum query q);
/* Step a one-row, one-integer query (EXISTS, SUM). */
int stmt_run_int(struct store *, sqlite3_stmt *st, int64_t *v);
/* Run a statement whose only parameter is ?1 = v; *changes gets the rows changed. */
int stmt_run_on_int(struct store *, enum query q, int64_t v, int *changes);
/* Step a query of at most one row onto it: MESH_OK, or MESH_ENOTFOUND if it has none. */
int stmt_step_row(struct store *, sqlite3_stmt *st);
/* Bind the blob key ?1 and stmt_step_row(): the get functions' lookup. */
int stmt_get(struct store *, sqlite3_stmt *st, const void *key, size_t len);

/* ---- operations (store.c) ---- */

/*
 * Multi-statement operations run under a savepoint: atomic on their own, and nested
 * inside the caller's transaction when there is one. store_op_end() releases the
 * savepoint if rc is MESH_OK and rolls it back otherwise; it returns the outcome.
 */
int store_op_begin(struct store *);
/* Roll back and release the innermost savepoint. Rollbacks are rare: reload usage. */
void store_op_undo(struct store *);
int store_op_end(struct store *, int rc);

/* ---- usage figures (store_bundles.c; see struct store) ---- */

/* Mark the figures stale if another connection committed since they were right. */
int usage_check_version(struct store *);

#endif
