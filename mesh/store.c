/*
 * The SQLite store. Every query is a prepared statement made once at open and kept in
 * struct store; the SQL text never contains data, only ?-parameters.
 *
 * This file opens the store and holds its schema, statements, transactions, meta and
 * counters; the records are in store_bundles.c, store_members.c and store_msgs.c (see
 * store_internal.h).
 *
 * Pointers handed out in out-structs (raw, chain, sealed_text) point either into a
 * per-kind scratch buffer owned by the store (get functions: valid until the next
 * store call) or straight at the statement's column (iterations: valid inside the
 * callback only).
 */
#include "store.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"
#include "store_internal.h"

/*
 * Migration i upgrades a file from user_version i to i + 1 and sets user_version
 * itself, inside the same transaction. Version 1 is the initial schema. Never edit a
 * released migration: add one.
 */
static const char *const migrations[] = {
	/* 0 -> 1: initial schema */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value BLOB NOT NULL);"
	"CREATE TABLE counters ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  value INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE bundles ("
	"  id BLOB PRIMARY KEY NOT NULL,"
	"  type INTEGER NOT NULL,"
	"  precedence INTEGER NOT NULL,"
	"  sender_pk BLOB NOT NULL,"
	"  recipient BLOB NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  stored_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  own INTEGER NOT NULL DEFAULT 0,"
	"  pinned INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER NOT NULL,"
	"  raw BLOB NOT NULL);"
	"CREATE INDEX bundles_rank ON bundles(precedence, expires_at);"
	"CREATE INDEX bundles_sender ON bundles(sender_pk, precedence, expires_at);"
	"CREATE INDEX bundles_expiry ON bundles(expires_at);"
	"CREATE TABLE tombstones ("
	"  id BLOB PRIMARY KEY NOT NULL,"
	"  expires_at INTEGER NOT NULL);"
	"CREATE INDEX tombstones_expiry ON tombstones(expires_at);"
	"CREATE TABLE members ("
	"  pk BLOB PRIMARY KEY NOT NULL,"
	"  key_id BLOB NOT NULL,"
	"  issuer BLOB NOT NULL,"
	"  role INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  unit TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  verified INTEGER NOT NULL DEFAULT 0,"
	"  chain BLOB NOT NULL);"
	"CREATE INDEX members_key_id ON members(key_id);"
	"CREATE INDEX members_name ON members(name, first_seen);"
	"CREATE TABLE revocations ("
	"  subject BLOB NOT NULL,"
	"  revoker BLOB NOT NULL,"
	"  revoked_at INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  PRIMARY KEY (subject, revoker));"
	"CREATE TABLE peer_prekeys ("
	"  owner BLOB NOT NULL,"
	"  serial INTEGER NOT NULL,"
	"  pk BLOB NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  PRIMARY KEY (owner, serial));"
	"CREATE TABLE own_prekeys ("
	"  serial INTEGER PRIMARY KEY NOT NULL,"
	"  pk BLOB NOT NULL,"
	"  sealed_sk BLOB NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  retired_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE messages ("
	"  bundle_id BLOB PRIMARY KEY NOT NULL,"
	"  dir INTEGER NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  peer_pk BLOB NOT NULL,"
	"  precedence INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  local_time INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  sent_count INTEGER NOT NULL DEFAULT 0,"
	"  delivered_at INTEGER NOT NULL DEFAULT 0,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  sealed_text BLOB NOT NULL);"
	"CREATE INDEX messages_dir ON messages(dir, local_time);"
	"CREATE INDEX messages_expiry ON messages(dir, state, expires_at);"
	"PRAGMA user_version = 1;",

	/* 1 -> 2: exports counted apart from peers, so the outbox can say which */
	"ALTER TABLE messages ADD COLUMN exported INTEGER NOT NULL DEFAULT 0;"
	"UPDATE messages SET exported = sent_count, sent_count = 0;"
	"PRAGMA user_version = 2;",

	/* 2 -> 3: the sealed texts in a table of their own, so that a change of state
	 * (sent, delivered) rewrites a small row, not the whole text with it */
	"CREATE TABLE message_texts ("
	"  bundle_id BLOB PRIMARY KEY NOT NULL,"
	"  sealed_text BLOB NOT NULL);"
	"INSERT INTO message_texts(bundle_id, sealed_text) SELECT bundle_id, sealed_text FROM messages;"
	"ALTER TABLE messages DROP COLUMN sealed_text;"
	"PRAGMA user_version = 3;",

	/* 3 -> 4: receipts owed for messages taken in, written a little later so that
	 * one receipt names many messages; kept here so a restart loses none */
	"CREATE TABLE receipts_due ("
	"  bundle_id BLOB PRIMARY KEY NOT NULL,"
	"  sender_pk BLOB NOT NULL,"
	"  precedence INTEGER NOT NULL,"
	"  lifetime INTEGER NOT NULL,"
	"  prekey_serial INTEGER NOT NULL,"
	"  prekey_pk BLOB NOT NULL,"
	"  prekey_not_after INTEGER NOT NULL,"
	"  since INTEGER NOT NULL);"
	"PRAGMA user_version = 4;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
    "one migration per schema version");

#define BUNDLE_COLS \
	"id, type, precedence, sender_pk, recipient, created, stored_at, expires_at, " \
	"own, pinned, raw"
#define MEMBER_COLS \
	"pk, key_id, issuer, role, name, unit, not_before, not_after, first_seen, " \
	"verified, chain"
/* A message record and its text (the text lives in message_texts: see migration 3). */
#define MSG_COLS \
	"m.bundle_id, m.dir, m.state, m.peer_pk, m.precedence, m.created, m.local_time, " \
	"m.expires_at, m.sent_count, m.delivered_at, m.reason, t.sealed_text, m.exported"
#define MSG_FROM \
	"messages m JOIN message_texts t ON t.bundle_id = m.bundle_id"

/*
 * Evictable: not pinned, not a public PKI bundle, and ranked strictly below ?2/?3; in
 * eviction order, which is a total order (rowid breaks ties), so the bundles of one
 * sender come out of both victim queries in the same order.
 */
#define EVICTABLE \
	"pinned = 0 AND type NOT IN (?4, ?5, ?6) AND " \
	"(precedence < ?2 OR (precedence = ?2 AND expires_at < ?3)) " \
	"ORDER BY precedence ASC, expires_at ASC, rowid ASC"

static const char *const sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT store_op",
	[Q_RELEASE] = "RELEASE store_op",
	[Q_ROLLBACK_TO] = "ROLLBACK TO store_op",
	[Q_META_SET] =
	    "INSERT INTO meta(key, value) VALUES (?1, ?2) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[Q_COUNTER_ADD] =
	    "INSERT INTO counters(name, value) VALUES (?1, ?2) "
	    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
	[Q_COUNTERS] = "SELECT name, value FROM counters ORDER BY name",
	/* Moves when another connection commits, not when this one does. */
	[Q_DATA_VERSION] = "PRAGMA data_version",
	[Q_HAS_BUNDLE] =
	    "SELECT EXISTS (SELECT 1 FROM bundles WHERE id = ?1) "
	    "OR EXISTS (SELECT 1 FROM tombstones WHERE id = ?1)",
	[Q_USAGE_LOAD] = "SELECT sender_pk, SUM(size) FROM bundles GROUP BY sender_pk",
	[Q_VICTIMS_SENDER] =
	    "SELECT id, size, sender_pk = ?1 FROM bundles WHERE sender_pk = ?1 AND " EVICTABLE,
	[Q_VICTIMS_ANY] =
	    "SELECT id, size, sender_pk = ?1 FROM bundles WHERE " EVICTABLE,
	/* Every delete of bundle rows says what went, for the in-memory usage figures. */
	[Q_DELETE_BUNDLE] = "DELETE FROM bundles WHERE id = ?1 RETURNING sender_pk, size",
	[Q_TOMBSTONED] = "SELECT EXISTS (SELECT 1 FROM tombstones WHERE id = ?1)",
	/*
	 * A held ID fails the primary key. Single-row VALUES on purpose: an INSERT ...
	 * SELECT may write several rows, so SQLite gives it a statement journal, which
	 * spills to a temporary file and cost more than the insert itself.
	 */
	[Q_PUT_BUNDLE] =
	    "INSERT INTO bundles(id, type, precedence, sender_pk, recipient, created, "
	    "stored_at, expires_at, own, pinned, size, raw) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[Q_GET_BUNDLE] = "SELECT " BUNDLE_COLS " FROM bundles WHERE id = ?1",
	[Q_GET_BUNDLE_BRIEF] =
	    "SELECT id, type, precedence, sender_pk, recipient, created, stored_at, expires_at, "
	    "own, pinned FROM bundles WHERE id = ?1",
	[Q_EACH_BUNDLE] =
	    "SELECT " BUNDLE_COLS " FROM bundles WHERE expires_at > ?1 "
	    "ORDER BY precedence DESC, stored_at ASC, rowid ASC",
	/* The same without raw, the last column: no overflow page is read. */
	[Q_EACH_BUNDLE_BRIEF] =
	    "SELECT id, type, precedence, sender_pk, recipient, created, stored_at, expires_at, "
	    "own, pinned FROM bundles WHERE expires_at > ?1 "
	    "ORDER BY precedence DESC, stored_at ASC, rowid ASC",
	[Q_TOMBSTONE] =
	    "INSERT OR REPLACE INTO tombstones(id, expires_at) "
	    "SELECT id, expires_at FROM bundles WHERE id = ?1",
	[Q_PUT_TOMBSTONE] =
	    "INSERT OR REPLACE INTO tombstones(id, expires_at) VALUES (?1, ?2)",
	[Q_UNPIN] = "UPDATE bundles SET pinned = 0 WHERE id = ?1",
	[Q_GC_BUNDLES] = "DELETE FROM bundles WHERE expires_at <= ?1 RETURNING sender_pk, size",
	[Q_GC_TOMBSTONES] = "DELETE FROM tombstones WHERE expires_at <= ?1",
	[Q_PUT_MEMBER] =
	    "INSERT INTO members(" MEMBER_COLS ") "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
	    "ON CONFLICT(pk) DO UPDATE SET key_id = excluded.key_id, "
	    "issuer = excluded.issuer, role = excluded.role, name = excluded.name, "
	    "unit = excluded.unit, not_before = excluded.not_before, "
	    "not_after = excluded.not_after, chain = excluded.chain",
	[Q_GET_MEMBER] = "SELECT " MEMBER_COLS " FROM members WHERE pk = ?1",
	[Q_MEMBERS_BY_KEYID] =
	    "SELECT " MEMBER_COLS " FROM members WHERE key_id = ?1 "
	    "ORDER BY first_seen, rowid",
	[Q_MEMBERS_ALL] =
	    "SELECT " MEMBER_COLS " FROM members ORDER BY name, first_seen, rowid",
	[Q_MEMBERS_BY_NAME] =
	    "SELECT " MEMBER_COLS " FROM members WHERE name = ?1 "
	    "ORDER BY first_seen, rowid",
	[Q_SET_VERIFIED] = "UPDATE members SET verified = ?2 WHERE pk = ?1",
	[Q_PUT_REVOCATION] =
	    "INSERT INTO revocations(subject, revoker, revoked_at, reason) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(subject, revoker) DO NOTHING",
	[Q_REVOKED_ANY] = "SELECT EXISTS (SELECT 1 FROM revocations WHERE subject = ?1)",
	[Q_REVOKED_BY] =
	    "SELECT EXISTS (SELECT 1 FROM revocations WHERE subject = ?1 AND revoker = ?2)",
	[Q_PUT_PEER_PREKEY] =
	    "INSERT INTO peer_prekeys(owner, serial, pk, not_after) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT(owner, serial) DO UPDATE SET pk = excluded.pk, "
	    "not_after = excluded.not_after",
	[Q_PEER_PREKEY_CURRENT] =
	    "SELECT owner, serial, pk, not_after FROM peer_prekeys "
	    "WHERE owner = ?1 AND not_after > ?2 ORDER BY serial DESC LIMIT 1",
	[Q_PEER_PREKEY_SERIAL8] =
	    "SELECT owner, serial, pk, not_after FROM peer_prekeys "
	    "WHERE owner = ?1 AND (serial & 255) = ?2 ORDER BY serial DESC LIMIT 1",
	[Q_PUT_OWN_PREKEY] =
	    "INSERT INTO own_prekeys(serial, pk, sealed_sk, created, retired_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_OWN_PREKEY_CURRENT] =
	    "SELECT serial, pk, sealed_sk, created, retired_at FROM own_prekeys "
	    "ORDER BY serial DESC LIMIT 1",
	[Q_OWN_PREKEY_SERIAL8] =
	    "SELECT serial, pk, sealed_sk, created, retired_at FROM own_prekeys "
	    "WHERE (serial & 255) = ?1 ORDER BY serial DESC LIMIT 1",
	[Q_RETIRE_OWN_PREKEYS] =
	    "UPDATE own_prekeys SET retired_at = ?1 WHERE retired_at = 0 "
	    "AND serial <> (SELECT MAX(serial) FROM own_prekeys)",
	[Q_DELETE_OLD_PREKEYS] =
	    "DELETE FROM own_prekeys WHERE retired_at <> 0 AND retired_at <= ?1",
	[Q_CHECKPOINT] = "PRAGMA wal_checkpoint(TRUNCATE)",
	[Q_PUT_MSG] =
	    "INSERT INTO messages(bundle_id, dir, state, peer_pk, precedence, created, "
	    "local_time, expires_at, sent_count, delivered_at, reason, exported) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13)",
	[Q_PUT_MSG_TEXT] = "INSERT INTO message_texts(bundle_id, sealed_text) VALUES (?1, ?2)",
	[Q_GET_MSG] = "SELECT " MSG_COLS " FROM " MSG_FROM " WHERE m.bundle_id = ?1",
	/* Without the sealed text: its table is not read. */
	[Q_GET_MSG_BRIEF] =
	    "SELECT bundle_id, dir, state, peer_pk, precedence, created, local_time, "
	    "expires_at, sent_count, delivered_at, reason FROM messages WHERE bundle_id = ?1",
	[Q_EACH_MSG] =
	    "SELECT " MSG_COLS " FROM " MSG_FROM " WHERE m.dir = ?1 ORDER BY m.local_time, m.rowid",
	[Q_MSG_SET_STATE] =
	    "UPDATE messages SET state = ?2, "
	    "delivered_at = CASE WHEN ?2 = ?5 THEN ?3 ELSE delivered_at END, "
	    "reason = COALESCE(?4, reason) WHERE bundle_id = ?1",
	[Q_MSG_ADD_SENT] =
	    "UPDATE messages SET sent_count = sent_count + ?2, exported = exported + ?5, "
	    "state = CASE WHEN state = ?3 AND ?2 + ?5 > 0 THEN ?4 ELSE state END "
	    "WHERE bundle_id = ?1",
	[Q_MSG_EXPIRE] =
	    "UPDATE messages SET state = ?3, reason = ?2 "
	    "WHERE dir = ?4 AND state IN (?5, ?6) AND expires_at <= ?1",
	[Q_PUT_RECEIPT_DUE] =
	    "INSERT OR IGNORE INTO receipts_due(bundle_id, sender_pk, precedence, lifetime, "
	    "prekey_serial, prekey_pk, prekey_not_after, since) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_EACH_RECEIPT_DUE] =
	    "SELECT bundle_id, sender_pk, precedence, lifetime, prekey_serial, prekey_pk, "
	    "prekey_not_after, since FROM receipts_due ORDER BY sender_pk, since, rowid",
	[Q_DEL_RECEIPT_DUE] = "DELETE FROM receipts_due WHERE bundle_id = ?1",
};


/* ---- errors, scratch buffers, statements ---- */

static const uint8_t empty_blob[1];

void
store_set_errmsg(struct store *s, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof s->errmsg)
		n = sizeof s->errmsg - 1;
	memcpy(s->errmsg, msg, n);
	s->errmsg[n] = '\0';
}

/*
 * Remember SQLite's message now: a later ROLLBACK would overwrite it. Some errors
 * (IOERR, FULL, NOMEM, BUSY) make SQLite roll the whole transaction back, so the usage
 * figures can no longer be trusted.
 */
int
store_fail(struct store *s)
{
	store_set_errmsg(s, sqlite3_errmsg(s->db));
	s->usage_loaded = 0;
	return MESH_ESTORE;
}

/* Copy n bytes into b and return where they are; NULL if out of memory. */
const uint8_t *
store_buf_copy(struct store_buf *b, const void *src, size_t n)
{
	if (n == 0)
		return empty_blob;
	if (n > b->cap) {
		uint8_t *p = realloc(b->p, n);

		if (p == NULL)
			return NULL;
		b->p = p;
		b->cap = n;
	}
	memcpy(b->p, src, n);
	return b->p;
}

static void group_open(struct store *s);

/*
 * The cached statement for q, or a fresh one when the cached one is busy because a
 * callback of an iteration over the same query called back into the store.
 */
sqlite3_stmt *
stmt_acquire(struct store *s, enum query q)
{
	sqlite3_stmt *st;

	/* A group's transaction begins with its first statement (store_group_begin). */
	if (s->group && !s->group_open && q != Q_BEGIN)
		group_open(s);
	st = s->stmt[q];
	if (!sqlite3_stmt_busy(st))
		return st;
	if (sqlite3_prepare_v2(s->db, sql[q], -1, &st, NULL) != SQLITE_OK) {
		store_fail(s);
		return NULL;
	}
	return st;
}

void
stmt_release(struct store *s, enum query q, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	if (st != s->stmt[q]) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bind a blob the caller keeps alive until the statement is released. */
int
stmt_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	if (n > INT_MAX)
		return SQLITE_TOOBIG;
	/* A NULL pointer would bind SQL NULL, not an empty blob. */
	if (n == 0)
		return sqlite3_bind_zeroblob(st, i, 0);
	return sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

/* Bind a fixed char[cap] field, which need not be terminated. */
int
stmt_bind_field(sqlite3_stmt *st, int i, const char *str, size_t cap)
{
	return sqlite3_bind_text(st, i, str, (int)strnlen(str, cap), SQLITE_STATIC);
}

int
stmt_bind_text(sqlite3_stmt *st, int i, const char *str)
{
	if (str == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, str, -1, SQLITE_STATIC);
}

/* Copy a fixed-size blob column; a short or missing value is zero-padded. */
void
stmt_col_bytes(sqlite3_stmt *st, int i, uint8_t *dst, size_t n)
{
	const void *p = sqlite3_column_blob(st, i);
	size_t len = (size_t)sqlite3_column_bytes(st, i);

	if (len > n)
		len = n;
	if (p && len)
		memcpy(dst, p, len);
	memset(dst + len, 0, n - len);
}

/* Copy a text column into char[cap], always terminated. */
void
stmt_col_field(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *p = sqlite3_column_text(st, i);
	size_t len = (size_t)sqlite3_column_bytes(st, i);

	if (p == NULL)
		len = 0;
	if (len > cap - 1)
		len = cap - 1;
	if (len)
		memcpy(dst, p, len);
	dst[len] = '\0';
}

/* A blob column by reference: valid until the statement steps or is released. */
const uint8_t *
stmt_col_ref(sqlite3_stmt *st, int i, size_t *len)
{
	const uint8_t *p = sqlite3_column_blob(st, i);

	*len = (size_t)sqlite3_column_bytes(st, i);
	return p ? p : empty_blob;
}

/* Step a statement that returns no rows. A PRIMARY KEY/UNIQUE clash is a duplicate. */
int
stmt_run(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return MESH_OK;
	rc = sqlite3_extended_errcode(s->db);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
		store_set_errmsg(s, sqlite3_errmsg(s->db));
		return MESH_EDUPLICATE;
	}
	return store_fail(s);
}

/* Run a statement without parameters, such as BEGIN or RELEASE. */
int
stmt_run_plain(struct store *s, enum query q)
{
	sqlite3_stmt *st = stmt_acquire(s, q);
	int rc;

	if (st == NULL)
		return MESH_ESTORE;
	rc = stmt_run(s, st);
	stmt_release(s, q, st);
	return rc;
}

/* Step a one-row, one-integer query (EXISTS, SUM). */
int
stmt_run_int(struct store *s, sqlite3_stmt *st, int64_t *v)
{
	if (sqlite3_step(st) != SQLITE_ROW)
		return store_fail(s);
	*v = sqlite3_column_int64(st, 0);
	return MESH_OK;
}

/* stmt_run() for an UPDATE or DELETE of one record: MESH_ENOTFOUND if none changed. */
int
stmt_run_changed(struct store *s, sqlite3_stmt *st)
{
	int rc;

	if ((rc = stmt_run(s, st)) == MESH_OK && sqlite3_changes(s->db) == 0)
		rc = MESH_ENOTFOUND;
	return rc;
}

/* Run a statement whose only parameter is ?1 = v; *changes gets the rows changed. */
int
stmt_run_on_int(struct store *s, enum query q, int64_t v, int *changes)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, v))
		rc = store_fail(s);
	else if ((rc = stmt_run(s, st)) == MESH_OK && changes)
		*changes = sqlite3_changes(s->db);
	stmt_release(s, q, st);
	return rc;
}

/* Step a query of at most one row onto it: MESH_OK, or MESH_ENOTFOUND if none. */
int
stmt_step_row(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return MESH_OK;
	if (rc == SQLITE_DONE)
		return MESH_ENOTFOUND;
	return store_fail(s);
}

/* Bind the blob key ?1 and step onto the one row it names. */
int
stmt_get(struct store *s, sqlite3_stmt *st, const void *key, size_t len)
{
	if (stmt_bind_blob(st, 1, key, len))
		return store_fail(s);
	return stmt_step_row(s, st);
}

/*
 * Multi-statement operations run under a savepoint: atomic on their own, and nested
 * inside the caller's transaction when there is one.
 */
int
store_op_begin(struct store *s)
{
	/* A savepoint outside any transaction opens a deferred one, not store_begin()'s. */
	if (sqlite3_get_autocommit(s->db))
		s->write_locked = 0;
	return stmt_run_plain(s, Q_SAVEPOINT);
}

/* Roll back and release the innermost savepoint. Rollbacks are rare: reload usage. */
void
store_op_undo(struct store *s)
{
	stmt_run_plain(s, Q_ROLLBACK_TO);
	stmt_run_plain(s, Q_RELEASE);
	s->usage_loaded = 0;
}

int
store_op_end(struct store *s, int rc)
{
	if (rc == MESH_OK) {
		rc = stmt_run_plain(s, Q_RELEASE);
		if (rc == MESH_OK)
			return MESH_OK;
	}
	store_op_undo(s);
	return rc;
}

/* ---- open, close, transactions ---- */

static int
exec(struct store *s, const char *text)
{
	if (sqlite3_exec(s->db, text, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(s);
	return MESH_OK;
}

static int
user_version(struct store *s, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return store_fail(s);
	rc = stmt_run_int(s, st, v);
	sqlite3_finalize(st);
	return rc;
}

static int
set_journal_wal(struct store *s)
{
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc = MESH_ESTORE;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
		return store_fail(s);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = store_fail(s);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	/* An in-memory database (tests) reports "memory" and cannot do WAL. */
	if (mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0))
		rc = MESH_OK;
	else
		store_set_errmsg(s, "cannot switch the journal to WAL mode");
out:
	sqlite3_finalize(st);
	return rc;
}

static int
migrate(struct store *s)
{
	int64_t v;
	int rc;

	if ((rc = user_version(s, &v)) != MESH_OK)
		return rc;
	if (v > STORE_SCHEMA_VERSION) {
		store_set_errmsg(s, "store schema is newer than this program");
		return MESH_ESCHEMA;
	}
	if (v == STORE_SCHEMA_VERSION)
		return MESH_OK;

	if ((rc = exec(s, "BEGIN IMMEDIATE")) != MESH_OK)
		return rc;
	/* Read again under the write lock: another process may have migrated. */
	if ((rc = user_version(s, &v)) != MESH_OK)
		goto out;
	if (v > STORE_SCHEMA_VERSION || v < 0) {
		store_set_errmsg(s, "store schema is newer than this program");
		rc = MESH_ESCHEMA;
		goto out;
	}
	for (; v < STORE_SCHEMA_VERSION; v++)
		if ((rc = exec(s, migrations[v])) != MESH_OK)
			goto out;
	if ((rc = user_version(s, &v)) != MESH_OK)
		goto out;
	if (v != STORE_SCHEMA_VERSION) {
		store_set_errmsg(s, "migration left a wrong user_version");
		rc = MESH_ESTORE;
		goto out;
	}
	rc = exec(s, "COMMIT");
out:
	if (rc != MESH_OK && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
store_open(struct store **out, const char *path)
{
	struct store *s = NULL;
	int rc;

	if (out == NULL)
		return MESH_EINVAL;
	*out = NULL;
	if (path == NULL)
		return MESH_EINVAL;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return MESH_ENOMEM;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL) != SQLITE_OK) {
		rc = MESH_ESTORE;
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK) {
		rc = store_fail(s);
		goto out;
	}
	if ((rc = set_journal_wal(s)) != MESH_OK)
		goto out;
	/* temp_store = MEMORY: statement journals and sorts stay in memory, so no page
	 * of the store is ever written outside its directory (tests/unit/test_group.c). */
	if ((rc = exec(s, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; "
	    "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")) != MESH_OK)
		goto out;
	if ((rc = migrate(s)) != MESH_OK)
		goto out;
	for (int q = 0; q < Q_COUNT; q++) {
		if (sqlite3_prepare_v3(s->db, sql[q], -1, SQLITE_PREPARE_PERSISTENT,
		    &s->stmt[q], NULL) != SQLITE_OK) {
			rc = store_fail(s);
			goto out;
		}
	}
	*out = s;
	s = NULL;
	rc = MESH_OK;
out:
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int q = 0; q < Q_COUNT; q++)
		sqlite3_finalize(s->stmt[q]);
	if (s->db && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(s->db);
	usage_map_free(&s->usage);
	free(s->victim);
	free(s->raw.p);
	free(s->chain.p);
	free(s->text.p);
	free(s);
}

const char *
store_errmsg(const struct store *s)
{
	if (s == NULL)
		return "no store";
	return s->errmsg[0] ? s->errmsg : "not an error";
}

/* ---- transactions ---- */

static int
begin_immediate(struct store *s)
{
	int rc;

	if ((rc = stmt_run_plain(s, Q_BEGIN)) != MESH_OK)
		return rc;
	s->write_locked = 1;
	/* Another connection may have committed since we last looked. A failure here
	 * only means loading the figures again. */
	if (usage_check_version(s) != MESH_OK)
		s->usage_loaded = 0;
	return MESH_OK;
}

/* Open the group's transaction, at its first statement. If it cannot be had (another
 * process holds the write lock past the busy timeout), the rest of the turn runs
 * without the group, each operation in a transaction of its own, as if
 * store_group_begin() had failed. */
static void
group_open(struct store *s)
{
	s->group_open = 1;
	if (begin_immediate(s) != MESH_OK)
		s->group = s->group_open = 0;
}

int
store_begin(struct store *s)
{
	if (s->group && !s->group_open)
		group_open(s);
	if (s->group)
		return stmt_run_plain(s, Q_SAVEPOINT);
	return begin_immediate(s);
}

int
store_commit(struct store *s)
{
	if (s->group)
		return stmt_run_plain(s, Q_RELEASE);
	s->write_locked = 0;
	return stmt_run_plain(s, Q_COMMIT);
}

void
store_rollback(struct store *s)
{
	if (s->group) {
		/* SQLite may have rolled the whole transaction back itself (SQLITE_FULL,
		 * SQLITE_IOERR); then store_group_commit() finds none and fails. */
		if (!sqlite3_get_autocommit(s->db))
			store_op_undo(s);
		s->usage_loaded = 0;
		return;
	}
	s->write_locked = 0;
	if (!sqlite3_get_autocommit(s->db)) {
		stmt_run_plain(s, Q_ROLLBACK);
		s->usage_loaded = 0;
	}
}

int
store_group_begin(struct store *s)
{
	if (s->group)
		return MESH_EINVAL;
	/* Nothing yet: the transaction begins at the group's first statement, so a turn
	 * that never touches the store (a socket ready for more output, a partial
	 * frame) costs no BEGIN IMMEDIATE and COMMIT, with their locks. */
	s->group = 1;
	s->group_open = 0;
	return MESH_OK;
}

int
store_group_commit(struct store *s)
{
	int rc, opened = s->group_open;

	s->group = s->group_open = 0;
	if (!opened)
		return MESH_OK;         /* nothing ran, or the turn ran without the group */
	/* No transaction left means SQLite undid it: nothing of the group is stored. */
	if (sqlite3_get_autocommit(s->db)) {
		s->write_locked = 0;
		s->usage_loaded = 0;
		snprintf(s->errmsg, sizeof s->errmsg, "the group's transaction was rolled back");
		return MESH_ESTORE;
	}
	if ((rc = store_commit(s)) != MESH_OK)
		store_rollback(s);
	return rc;
}

void
store_group_rollback(struct store *s)
{
	s->group = s->group_open = 0;
	store_rollback(s);
}

/* Savepoints share one name: SQLite releases or rolls back the innermost of that name. */
int
store_savepoint(struct store *s)
{
	return store_op_begin(s);
}

int
store_release(struct store *s)
{
	return stmt_run_plain(s, Q_RELEASE);
}

void
store_rollback_to(struct store *s)
{
	store_op_undo(s);
}

/* ---- meta ---- */

int
store_meta_set(struct store *s, const char *key, const uint8_t *val, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (key == NULL || (val == NULL && len))
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_META_SET)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_text(st, 1, key) || stmt_bind_blob(st, 2, val, len))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_META_SET, st);
	return rc;
}

int
store_meta_get(struct store *s, const char *key, uint8_t *val, size_t cap, size_t *len)
{
	sqlite3_stmt *st;
	const uint8_t *p;
	size_t n;
	int rc;

	if (key == NULL || (val == NULL && cap))
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_META_GET)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_text(st, 1, key))
		rc = store_fail(s);
	else if ((rc = stmt_step_row(s, st)) == MESH_OK) {
		p = stmt_col_ref(st, 0, &n);
		if (n && cap)
			memcpy(val, p, n < cap ? n : cap);
		if (len)
			*len = n;
	}
	stmt_release(s, Q_META_GET, st);
	return rc;
}

/* ---- counters ---- */

int
store_counter_add(struct store *s, const char *name, int64_t delta)
{
	sqlite3_stmt *st;
	int rc;

	if (name == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_COUNTER_ADD)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_text(st, 1, name) || sqlite3_bind_int64(st, 2, delta))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_COUNTER_ADD, st);
	return rc;
}

int
store_counters(struct store *s, void (*fn)(void *, const char *, int64_t), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_COUNTERS)) == NULL)
		return MESH_ESTORE;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		fn(ctx, name ? name : "", sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE ? MESH_OK : store_fail(s);
	stmt_release(s, Q_COUNTERS, st);
	return rc;
}

