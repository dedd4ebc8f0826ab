/*
 * The SQLite store. Every query is a prepared statement made once at open and kept in
 * struct store; the SQL text never contains data, only ?-parameters.
 *
 * Pointers handed out in out-structs (raw, chain, sealed_text) point either into a
 * per-kind scratch buffer owned by the store (get functions: valid until the next
 * store call) or straight at the statement's column (iterations: valid inside the
 * callback only).
 */
#include "store.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
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
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
    "one migration per schema version");

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
	Q_EACH_BUNDLE,
	Q_TOMBSTONE,
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
	Q_GET_MSG,
	Q_EACH_MSG,
	Q_MSG_SET_STATE,
	Q_MSG_ADD_SENT,
	Q_MSG_EXPIRE,
	Q_COUNT
};

#define BUNDLE_COLS \
	"id, type, precedence, sender_pk, recipient, created, stored_at, expires_at, " \
	"own, pinned, raw"
#define MEMBER_COLS \
	"pk, key_id, issuer, role, name, unit, not_before, not_after, first_seen, " \
	"verified, chain"
#define MSG_COLS \
	"bundle_id, dir, state, peer_pk, precedence, created, local_time, expires_at, " \
	"sent_count, delivered_at, reason, sealed_text"

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
	[Q_EACH_BUNDLE] =
	    "SELECT " BUNDLE_COLS " FROM bundles WHERE expires_at > ?1 "
	    "ORDER BY precedence DESC, stored_at ASC, rowid ASC",
	[Q_TOMBSTONE] =
	    "INSERT OR REPLACE INTO tombstones(id, expires_at) "
	    "SELECT id, expires_at FROM bundles WHERE id = ?1",
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
	    "INSERT INTO messages(" MSG_COLS ") "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[Q_GET_MSG] = "SELECT " MSG_COLS " FROM messages WHERE bundle_id = ?1",
	[Q_EACH_MSG] =
	    "SELECT " MSG_COLS " FROM messages WHERE dir = ?1 ORDER BY local_time, rowid",
	[Q_MSG_SET_STATE] =
	    "UPDATE messages SET state = ?2, "
	    "delivered_at = CASE WHEN ?2 = ?5 THEN ?3 ELSE delivered_at END, "
	    "reason = COALESCE(?4, reason) WHERE bundle_id = ?1",
	[Q_MSG_ADD_SENT] =
	    "UPDATE messages SET sent_count = sent_count + ?2, "
	    "state = CASE WHEN state = ?3 AND ?2 > 0 THEN ?4 ELSE state END "
	    "WHERE bundle_id = ?1",
	[Q_MSG_EXPIRE] =
	    "UPDATE messages SET state = ?3, reason = ?2 "
	    "WHERE dir = ?4 AND state IN (?5, ?6) AND expires_at <= ?1",
};

/* A scratch buffer that only grows; what get functions hand out lives here. */
struct buf {
	uint8_t *p;
	size_t cap;
};

/* A bundle chosen for eviction by store_make_room(). */
struct victim {
	uint8_t id[APAGON_HASH];
	int64_t size;
};

struct store {
	sqlite3 *db;
	struct store_quota quota;
	sqlite3_stmt *stmt[Q_COUNT];
	struct buf raw, chain, text;
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
	struct victim *victim;
	size_t nvictim, victim_cap;
	char errmsg[256];
};

static const uint8_t empty_blob[1];

static void
set_errmsg(struct store *s, const char *msg)
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
static int
fail(struct store *s)
{
	set_errmsg(s, sqlite3_errmsg(s->db));
	s->usage_loaded = 0;
	return MESH_ESTORE;
}

/* Copy n bytes into b and return where they are; NULL if out of memory. */
static const uint8_t *
buf_copy(struct buf *b, const void *src, size_t n)
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

/*
 * The cached statement for q, or a fresh one when the cached one is busy because a
 * callback of an iteration over the same query called back into the store.
 */
static sqlite3_stmt *
acquire(struct store *s, enum query q)
{
	sqlite3_stmt *st = s->stmt[q];

	if (!sqlite3_stmt_busy(st))
		return st;
	if (sqlite3_prepare_v2(s->db, sql[q], -1, &st, NULL) != SQLITE_OK) {
		fail(s);
		return NULL;
	}
	return st;
}

static void
release(struct store *s, enum query q, sqlite3_stmt *st)
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
static int
bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	if (n > INT_MAX)
		return SQLITE_TOOBIG;
	/* A NULL pointer would bind SQL NULL, not an empty blob. */
	if (n == 0)
		return sqlite3_bind_zeroblob(st, i, 0);
	return sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

/* Bind a fixed char[cap] field, which need not be terminated. */
static int
bind_field(sqlite3_stmt *st, int i, const char *str, size_t cap)
{
	return sqlite3_bind_text(st, i, str, (int)strnlen(str, cap), SQLITE_STATIC);
}

static int
bind_text(sqlite3_stmt *st, int i, const char *str)
{
	if (str == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, str, -1, SQLITE_STATIC);
}

/* Copy a fixed-size blob column; a short or missing value is zero-padded. */
static void
col_bytes(sqlite3_stmt *st, int i, uint8_t *dst, size_t n)
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
static void
col_field(sqlite3_stmt *st, int i, char *dst, size_t cap)
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
static const uint8_t *
col_ref(sqlite3_stmt *st, int i, size_t *len)
{
	const uint8_t *p = sqlite3_column_blob(st, i);

	*len = (size_t)sqlite3_column_bytes(st, i);
	return p ? p : empty_blob;
}

/* Step a statement that returns no rows. A PRIMARY KEY/UNIQUE clash is a duplicate. */
static int
run(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return MESH_OK;
	rc = sqlite3_extended_errcode(s->db);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
		set_errmsg(s, sqlite3_errmsg(s->db));
		return MESH_EDUPLICATE;
	}
	return fail(s);
}

/* Run a statement without parameters, such as BEGIN or RELEASE. */
static int
run_plain(struct store *s, enum query q)
{
	sqlite3_stmt *st = acquire(s, q);
	int rc;

	if (st == NULL)
		return MESH_ESTORE;
	rc = run(s, st);
	release(s, q, st);
	return rc;
}

/* Step a one-row, one-integer query (EXISTS, SUM). */
static int
run_int(struct store *s, sqlite3_stmt *st, int64_t *v)
{
	if (sqlite3_step(st) != SQLITE_ROW)
		return fail(s);
	*v = sqlite3_column_int64(st, 0);
	return MESH_OK;
}

/*
 * Multi-statement operations run under a savepoint: atomic on their own, and nested
 * inside the caller's transaction when there is one.
 */
static int
op_begin(struct store *s)
{
	/* A savepoint outside any transaction opens a deferred one, not store_begin()'s. */
	if (sqlite3_get_autocommit(s->db))
		s->write_locked = 0;
	return run_plain(s, Q_SAVEPOINT);
}

/* Roll back and release the innermost savepoint. Rollbacks are rare: reload usage. */
static void
op_undo(struct store *s)
{
	run_plain(s, Q_ROLLBACK_TO);
	run_plain(s, Q_RELEASE);
	s->usage_loaded = 0;
}

static int
op_end(struct store *s, int rc)
{
	if (rc == MESH_OK) {
		rc = run_plain(s, Q_RELEASE);
		if (rc == MESH_OK)
			return MESH_OK;
	}
	op_undo(s);
	return rc;
}

/* ---- open, close, transactions ---- */

static int
exec(struct store *s, const char *text)
{
	if (sqlite3_exec(s->db, text, NULL, NULL, NULL) != SQLITE_OK)
		return fail(s);
	return MESH_OK;
}

static int
user_version(struct store *s, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return fail(s);
	rc = run_int(s, st, v);
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
		return fail(s);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = fail(s);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	/* An in-memory database (tests) reports "memory" and cannot do WAL. */
	if (mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0))
		rc = MESH_OK;
	else
		set_errmsg(s, "cannot switch the journal to WAL mode");
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
		set_errmsg(s, "store schema is newer than this program");
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
		set_errmsg(s, "store schema is newer than this program");
		rc = MESH_ESCHEMA;
		goto out;
	}
	for (; v < STORE_SCHEMA_VERSION; v++)
		if ((rc = exec(s, migrations[v])) != MESH_OK)
			goto out;
	if ((rc = user_version(s, &v)) != MESH_OK)
		goto out;
	if (v != STORE_SCHEMA_VERSION) {
		set_errmsg(s, "migration left a wrong user_version");
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
		rc = fail(s);
		goto out;
	}
	if ((rc = set_journal_wal(s)) != MESH_OK)
		goto out;
	if ((rc = exec(s, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; "
	    "PRAGMA foreign_keys = ON;")) != MESH_OK)
		goto out;
	if ((rc = migrate(s)) != MESH_OK)
		goto out;
	for (int q = 0; q < Q_COUNT; q++) {
		if (sqlite3_prepare_v3(s->db, sql[q], -1, SQLITE_PREPARE_PERSISTENT,
		    &s->stmt[q], NULL) != SQLITE_OK) {
			rc = fail(s);
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

/* ---- usage figures (see struct store) ---- */

static int
data_version(struct store *s, int64_t *v)
{
	sqlite3_stmt *st = acquire(s, Q_DATA_VERSION);
	int rc;

	if (st == NULL)
		return MESH_ESTORE;
	rc = run_int(s, st, v);
	release(s, Q_DATA_VERSION, st);
	return rc;
}

/* Mark the figures stale if another connection committed since they were right. */
static int
usage_check_version(struct store *s)
{
	int64_t v;
	int rc;

	if (!s->usage_loaded)
		return MESH_OK;
	if ((rc = data_version(s, &v)) != MESH_OK)
		return rc;
	if (v != s->data_version)
		s->usage_loaded = 0;
	return MESH_OK;
}

static int
usage_load(struct store *s)
{
	uint8_t pk[APAGON_SIGN_PK];
	sqlite3_stmt *st;
	int64_t v, bytes;
	int rc;

	/* The version first: outside a transaction, a commit landing between the two
	 * costs a needless reload later, never a wrong figure. */
	if ((rc = data_version(s, &v)) != MESH_OK)
		return rc;
	if ((st = acquire(s, Q_USAGE_LOAD)) == NULL)
		return MESH_ESTORE;
	usage_map_clear(&s->usage);
	s->usage_total = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_bytes(st, 0, pk, sizeof pk);
		bytes = sqlite3_column_int64(st, 1);
		if (usage_map_add(&s->usage, pk, bytes) != MESH_OK) {
			rc = MESH_ENOMEM;
			goto out;
		}
		s->usage_total += bytes;
	}
	if (rc != SQLITE_DONE) {
		rc = fail(s);
		goto out;
	}
	s->data_version = v;
	s->usage_loaded = 1;
	rc = MESH_OK;
out:
	release(s, Q_USAGE_LOAD, st);
	return rc;
}

/* Make the figures right for what this connection sees now. */
static int
usage_ensure(struct store *s)
{
	int rc;

	/* Under store_begin()'s write lock nobody else commits; it checked already. */
	if (!s->write_locked || sqlite3_get_autocommit(s->db))
		if ((rc = usage_check_version(s)) != MESH_OK)
			return rc;
	return s->usage_loaded ? MESH_OK : usage_load(s);
}

/* Account for a bundle row of ours inserted (delta > 0) or deleted (delta < 0). */
static void
usage_account(struct store *s, const uint8_t sender_pk[APAGON_SIGN_PK], int64_t delta)
{
	if (!s->usage_loaded)
		return;
	if (usage_map_add(&s->usage, sender_pk, delta) != MESH_OK) {
		s->usage_loaded = 0;
		return;
	}
	s->usage_total += delta;
}

/* ---- transactions ---- */

int
store_begin(struct store *s)
{
	int rc;

	if ((rc = run_plain(s, Q_BEGIN)) != MESH_OK)
		return rc;
	s->write_locked = 1;
	/* Another connection may have committed since we last looked. A failure here
	 * only means loading the figures again. */
	if (usage_check_version(s) != MESH_OK)
		s->usage_loaded = 0;
	return MESH_OK;
}

int
store_commit(struct store *s)
{
	s->write_locked = 0;
	return run_plain(s, Q_COMMIT);
}

void
store_rollback(struct store *s)
{
	s->write_locked = 0;
	if (!sqlite3_get_autocommit(s->db)) {
		run_plain(s, Q_ROLLBACK);
		s->usage_loaded = 0;
	}
}

/* Savepoints share one name: SQLite releases or rolls back the innermost of that name. */
int
store_savepoint(struct store *s)
{
	return op_begin(s);
}

int
store_release(struct store *s)
{
	return run_plain(s, Q_RELEASE);
}

void
store_rollback_to(struct store *s)
{
	op_undo(s);
}

/* ---- meta ---- */

int
store_meta_set(struct store *s, const char *key, const uint8_t *val, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (key == NULL || (val == NULL && len))
		return MESH_EINVAL;
	if ((st = acquire(s, Q_META_SET)) == NULL)
		return MESH_ESTORE;
	if (bind_text(st, 1, key) || bind_blob(st, 2, val, len))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_META_SET, st);
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
	if ((st = acquire(s, Q_META_GET)) == NULL)
		return MESH_ESTORE;
	if (bind_text(st, 1, key)) {
		rc = fail(s);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = MESH_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = fail(s);
		goto out;
	}
	p = col_ref(st, 0, &n);
	if (n && cap)
		memcpy(val, p, n < cap ? n : cap);
	if (len)
		*len = n;
	rc = MESH_OK;
out:
	release(s, Q_META_GET, st);
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
	if ((st = acquire(s, Q_COUNTER_ADD)) == NULL)
		return MESH_ESTORE;
	if (bind_text(st, 1, name) || sqlite3_bind_int64(st, 2, delta))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_COUNTER_ADD, st);
	return rc;
}

int
store_counters(struct store *s, void (*fn)(void *, const char *, int64_t), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_COUNTERS)) == NULL)
		return MESH_ESTORE;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		fn(ctx, name ? name : "", sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE ? MESH_OK : fail(s);
	release(s, Q_COUNTERS, st);
	return rc;
}

/* ---- bundles ---- */

void
store_set_quota(struct store *s, const struct store_quota *q)
{
	if (q)
		s->quota = *q;
	else
		memset(&s->quota, 0, sizeof s->quota);
}

int
store_has_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	sqlite3_stmt *st;
	int64_t v = 0;
	int rc;

	if (id == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_HAS_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, id, APAGON_HASH))
		rc = fail(s);
	else
		rc = run_int(s, st, &v);
	release(s, Q_HAS_BUNDLE, st);
	return rc == MESH_OK ? (v != 0) : rc;
}

int
store_usage(struct store *s, const uint8_t sender_pk[APAGON_SIGN_PK], int64_t *total,
    int64_t *sender)
{
	int rc;

	if ((rc = usage_ensure(s)) != MESH_OK)
		return rc;
	if (total)
		*total = s->usage_total;
	if (sender)
		*sender = sender_pk ? usage_map_get(&s->usage, sender_pk) : 0;
	return MESH_OK;
}

/*
 * Step a bound DELETE ... RETURNING sender_pk, size to the end, taking each deleted
 * row's bytes off the usage figures. *n (may be NULL) gets the number of rows.
 */
static int
delete_rows(struct store *s, sqlite3_stmt *st, int *n)
{
	uint8_t pk[APAGON_SIGN_PK];
	int rc, rows = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_bytes(st, 0, pk, sizeof pk);
		usage_account(s, pk, -sqlite3_column_int64(st, 1));
		rows++;
	}
	if (rc != SQLITE_DONE)
		return fail(s);
	if (n)
		*n = rows;
	return MESH_OK;
}

/* Delete one bundle row (no tombstone). MESH_ENOTFOUND if it is not held. */
static int
delete_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	sqlite3_stmt *st;
	int rc, n = 0;

	if ((st = acquire(s, Q_DELETE_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, id, APAGON_HASH))
		rc = fail(s);
	else if ((rc = delete_rows(s, st, &n)) == MESH_OK && n == 0)
		rc = MESH_ENOTFOUND;
	release(s, Q_DELETE_BUNDLE, st);
	return rc;
}

/*
 * Add victims from q (Q_VICTIMS_SENDER or Q_VICTIMS_ANY), in eviction order, until
 * `need` bytes would be freed; *freed grows by what they hold. The first `skip`
 * bundles of sender_pk are passed over: the per-sender pass took them already, and
 * they come first among that sender's bundles in either query. MESH_EQUOTA if the
 * evictable bundles run out first.
 */
static int
pick_victims(struct store *s, enum query q, const uint8_t sender_pk[APAGON_SIGN_PK],
    int precedence, int64_t expires_at, int64_t need, size_t skip, int64_t *freed)
{
	struct victim *v;
	sqlite3_stmt *st;
	int rc;

	if ((st = acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, sender_pk, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 2, precedence) ||
	    sqlite3_bind_int64(st, 3, expires_at) ||
	    sqlite3_bind_int(st, 4, BUNDLE_CERT) ||
	    sqlite3_bind_int(st, 5, BUNDLE_PREKEY) ||
	    sqlite3_bind_int(st, 6, BUNDLE_REVOKE)) {
		rc = fail(s);
		goto out;
	}
	while (need > 0) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			rc = rc == SQLITE_DONE ? MESH_EQUOTA : fail(s);
			goto out;
		}
		if (skip && sqlite3_column_int(st, 2)) {
			skip--;
			continue;
		}
		if (s->nvictim == s->victim_cap) {
			size_t cap = s->victim_cap ? s->victim_cap * 2 : 16;

			if (cap > SIZE_MAX / sizeof *v ||
			    (v = realloc(s->victim, cap * sizeof *v)) == NULL) {
				rc = MESH_ENOMEM;
				goto out;
			}
			s->victim = v;
			s->victim_cap = cap;
		}
		v = &s->victim[s->nvictim++];
		col_bytes(st, 0, v->id, sizeof v->id);
		v->size = sqlite3_column_int64(st, 1);
		need -= v->size;
		*freed += v->size;
	}
	rc = MESH_OK;
out:
	release(s, q, st);
	return rc;
}

int
store_make_room(struct store *s, const uint8_t sender_pk[APAGON_SIGN_PK], int precedence,
    int64_t expires_at, size_t size)
{
	int64_t total, mine, freed = 0, n = (int64_t)size;
	const int64_t qt = s->quota.total_bytes, qs = s->quota.per_sender_bytes;
	int rc;

	if (sender_pk == NULL || size > INT64_MAX)
		return MESH_EINVAL;
	/* Evictions must be undone with the caller's transaction if the put fails. */
	if (sqlite3_get_autocommit(s->db)) {
		set_errmsg(s, "store_make_room outside a transaction");
		return MESH_EINVAL;
	}
	if ((qt > 0 && n > qt) || (qs > 0 && n > qs))
		return MESH_EQUOTA;
	if (qt <= 0 && qs <= 0)
		return MESH_OK;
	if ((rc = usage_ensure(s)) != MESH_OK)
		return rc;
	total = s->usage_total;
	mine = usage_map_get(&s->usage, sender_pk);
	if ((qs <= 0 || mine + n <= qs) && (qt <= 0 || total + n <= qt))
		return MESH_OK;

	/*
	 * Choose every victim before deleting any: the sender's own first while it is over
	 * its quota, then anyone's while the store is. No room means nothing is touched.
	 */
	s->nvictim = 0;
	if (qs > 0 && mine + n > qs &&
	    (rc = pick_victims(s, Q_VICTIMS_SENDER, sender_pk, precedence, expires_at,
	    mine + n - qs, 0, &freed)) != MESH_OK)
		return rc;
	if (qt > 0 && total - freed + n > qt &&
	    (rc = pick_victims(s, Q_VICTIMS_ANY, sender_pk, precedence, expires_at,
	    total - freed + n - qt, s->nvictim, &freed)) != MESH_OK)
		return rc;

	/* Only SQLite failing part-way can leave some deleted: undo them then. */
	if ((rc = op_begin(s)) != MESH_OK)
		return rc;
	for (size_t i = 0; i < s->nvictim && rc == MESH_OK; i++)
		rc = delete_bundle(s, s->victim[i].id);
	return op_end(s, rc);
}

/* Insert one bundle row, unless it is held or tombstoned. */
static int
put_row(struct store *s, const struct stored_bundle *sb)
{
	sqlite3_stmt *st;
	int64_t tombstoned = 0;
	int rc;

	/* A tombstoned ID was delivered already: a replay, not a new bundle. */
	if ((st = acquire(s, Q_TOMBSTONED)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, sb->id, APAGON_HASH))
		rc = fail(s);
	else
		rc = run_int(s, st, &tombstoned);
	release(s, Q_TOMBSTONED, st);
	if (rc != MESH_OK)
		return rc;
	if (tombstoned)
		return MESH_EDUPLICATE;

	if ((st = acquire(s, Q_PUT_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, sb->id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, sb->type) ||
	    sqlite3_bind_int(st, 3, sb->precedence) ||
	    bind_blob(st, 4, sb->sender_pk, APAGON_SIGN_PK) ||
	    bind_blob(st, 5, sb->recipient, APAGON_KEYID) ||
	    sqlite3_bind_int64(st, 6, sb->created) ||
	    sqlite3_bind_int64(st, 7, sb->stored_at) ||
	    sqlite3_bind_int64(st, 8, sb->expires_at) ||
	    sqlite3_bind_int(st, 9, sb->own != 0) ||
	    sqlite3_bind_int(st, 10, sb->pinned != 0) ||
	    sqlite3_bind_int64(st, 11, (int64_t)sb->raw_len) ||
	    bind_blob(st, 12, sb->raw, sb->raw_len))
		rc = fail(s);
	else if ((rc = run(s, st)) == MESH_OK)
		usage_account(s, sb->sender_pk, (int64_t)sb->raw_len);
	release(s, Q_PUT_BUNDLE, st);
	return rc;
}

int
store_put_bundle(struct store *s, const struct stored_bundle *sb)
{
	int rc, end;

	if (sb == NULL || (sb->raw == NULL && sb->raw_len) || sb->raw_len > INT64_MAX)
		return MESH_EINVAL;
	if (!sqlite3_get_autocommit(s->db))
		return put_row(s, sb);
	/* Alone, the tombstone check and the insert need a transaction of their own, or
	 * another connection could purge the bundle in between. */
	if ((rc = op_begin(s)) != MESH_OK)
		return rc;
	rc = put_row(s, sb);
	/* A duplicate wrote nothing: no need to roll back. */
	end = op_end(s, rc == MESH_EDUPLICATE ? MESH_OK : rc);
	return end != MESH_OK ? end : rc;
}

/* Fill sb from a BUNDLE_COLS row; raw points into the row. */
static void
row_bundle(sqlite3_stmt *st, struct stored_bundle *sb)
{
	col_bytes(st, 0, sb->id, sizeof sb->id);
	sb->type = (uint8_t)sqlite3_column_int(st, 1);
	sb->precedence = (uint8_t)sqlite3_column_int(st, 2);
	col_bytes(st, 3, sb->sender_pk, sizeof sb->sender_pk);
	col_bytes(st, 4, sb->recipient, sizeof sb->recipient);
	sb->created = (uint32_t)sqlite3_column_int64(st, 5);
	sb->stored_at = sqlite3_column_int64(st, 6);
	sb->expires_at = sqlite3_column_int64(st, 7);
	sb->own = sqlite3_column_int(st, 8);
	sb->pinned = sqlite3_column_int(st, 9);
	sb->raw = col_ref(st, 10, &sb->raw_len);
}

int
store_get_bundle(struct store *s, const uint8_t id[APAGON_HASH], struct stored_bundle *sb)
{
	struct stored_bundle tmp;
	sqlite3_stmt *st;
	int rc;

	if (id == NULL || sb == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_GET_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, id, APAGON_HASH)) {
		rc = fail(s);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = MESH_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = fail(s);
		goto out;
	}
	row_bundle(st, &tmp);
	if ((tmp.raw = buf_copy(&s->raw, tmp.raw, tmp.raw_len)) == NULL) {
		rc = MESH_ENOMEM;
		goto out;
	}
	*sb = tmp;
	rc = MESH_OK;
out:
	release(s, Q_GET_BUNDLE, st);
	return rc;
}

int
store_each_bundle(struct store *s, int64_t now,
    int (*fn)(void *, const struct stored_bundle *), void *ctx)
{
	struct stored_bundle sb;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_EACH_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, now)) {
		rc = fail(s);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_bundle(st, &sb);
		if ((rc = fn(ctx, &sb)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? MESH_OK : fail(s);
out:
	release(s, Q_EACH_BUNDLE, st);
	return rc;
}

/* Run a one-blob-parameter statement; MESH_ENOTFOUND if it changed no row. */
static int
run_on_id(struct store *s, enum query q, const uint8_t *id, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, id, len))
		rc = fail(s);
	else if ((rc = run(s, st)) == MESH_OK && sqlite3_changes(s->db) == 0)
		rc = MESH_ENOTFOUND;
	release(s, q, st);
	return rc;
}

int
store_purge_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	int rc;

	if (id == NULL)
		return MESH_EINVAL;
	if ((rc = op_begin(s)) != MESH_OK)
		return rc;
	rc = run_on_id(s, Q_TOMBSTONE, id, APAGON_HASH);
	if (rc == MESH_OK)
		rc = delete_bundle(s, id);
	return op_end(s, rc);
}

int
store_unpin_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	if (id == NULL)
		return MESH_EINVAL;
	return run_on_id(s, Q_UNPIN, id, APAGON_HASH);
}

/* Run a statement whose only parameter is ?1 = v; *changes gets the rows changed. */
static int
run_on_int(struct store *s, enum query q, int64_t v, int *changes)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, v))
		rc = fail(s);
	else if ((rc = run(s, st)) == MESH_OK && changes)
		*changes = sqlite3_changes(s->db);
	release(s, q, st);
	return rc;
}

int
store_gc(struct store *s, int64_t now, int *removed)
{
	sqlite3_stmt *st;
	int n = 0, rc;

	if ((rc = op_begin(s)) != MESH_OK)
		return rc;
	if ((st = acquire(s, Q_GC_BUNDLES)) == NULL)
		rc = MESH_ESTORE;
	else if (sqlite3_bind_int64(st, 1, now))
		rc = fail(s);
	else
		rc = delete_rows(s, st, &n);
	release(s, Q_GC_BUNDLES, st);
	if (rc == MESH_OK)
		rc = run_on_int(s, Q_GC_TOMBSTONES, now, NULL);
	if ((rc = op_end(s, rc)) == MESH_OK && removed)
		*removed = n;
	return rc;
}

/* ---- members ---- */

int
store_put_member(struct store *s, const struct member *m)
{
	sqlite3_stmt *st;
	int rc;

	if (m == NULL || (m->chain == NULL && m->chain_len))
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PUT_MEMBER)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, m->pk, APAGON_SIGN_PK) ||
	    bind_blob(st, 2, m->key_id, APAGON_KEYID) ||
	    bind_blob(st, 3, m->issuer, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 4, m->role) ||
	    bind_field(st, 5, m->name, sizeof m->name - 1) ||
	    bind_field(st, 6, m->unit, sizeof m->unit - 1) ||
	    sqlite3_bind_int64(st, 7, m->not_before) ||
	    sqlite3_bind_int64(st, 8, m->not_after) ||
	    sqlite3_bind_int64(st, 9, m->first_seen) ||
	    sqlite3_bind_int(st, 10, m->verified) ||
	    bind_blob(st, 11, m->chain, m->chain_len))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_PUT_MEMBER, st);
	return rc;
}

/* Fill m from a MEMBER_COLS row; chain points into the row. */
static void
row_member(sqlite3_stmt *st, struct member *m)
{
	col_bytes(st, 0, m->pk, sizeof m->pk);
	col_bytes(st, 1, m->key_id, sizeof m->key_id);
	col_bytes(st, 2, m->issuer, sizeof m->issuer);
	m->role = sqlite3_column_int(st, 3);
	col_field(st, 4, m->name, sizeof m->name);
	col_field(st, 5, m->unit, sizeof m->unit);
	m->not_before = (uint32_t)sqlite3_column_int64(st, 6);
	m->not_after = (uint32_t)sqlite3_column_int64(st, 7);
	m->first_seen = sqlite3_column_int64(st, 8);
	m->verified = sqlite3_column_int(st, 9);
	m->chain = col_ref(st, 10, &m->chain_len);
}

int
store_get_member(struct store *s, const uint8_t pk[APAGON_SIGN_PK], struct member *m)
{
	struct member tmp;
	sqlite3_stmt *st;
	int rc;

	if (pk == NULL || m == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_GET_MEMBER)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, pk, APAGON_SIGN_PK)) {
		rc = fail(s);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = MESH_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = fail(s);
		goto out;
	}
	row_member(st, &tmp);
	if ((tmp.chain = buf_copy(&s->chain, tmp.chain, tmp.chain_len)) == NULL) {
		rc = MESH_ENOMEM;
		goto out;
	}
	*m = tmp;
	rc = MESH_OK;
out:
	release(s, Q_GET_MEMBER, st);
	return rc;
}

/* Call fn for each row of an already-bound member query; releases st. */
static int
each_member(struct store *s, enum query q, sqlite3_stmt *st,
    int (*fn)(void *, const struct member *), void *ctx)
{
	struct member m;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_member(st, &m);
		if ((rc = fn(ctx, &m)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? MESH_OK : fail(s);
out:
	release(s, q, st);
	return rc;
}

int
store_members_by_keyid(struct store *s, const uint8_t key_id[APAGON_KEYID],
    int (*fn)(void *, const struct member *), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (key_id == NULL || fn == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_MEMBERS_BY_KEYID)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, key_id, APAGON_KEYID)) {
		rc = fail(s);
		release(s, Q_MEMBERS_BY_KEYID, st);
		return rc;
	}
	return each_member(s, Q_MEMBERS_BY_KEYID, st, fn, ctx);
}

int
store_each_member(struct store *s, const char *name,
    int (*fn)(void *, const struct member *), void *ctx)
{
	enum query q = name ? Q_MEMBERS_BY_NAME : Q_MEMBERS_ALL;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (name && bind_text(st, 1, name)) {
		rc = fail(s);
		release(s, q, st);
		return rc;
	}
	return each_member(s, q, st, fn, ctx);
}

int
store_set_verified(struct store *s, const uint8_t pk[APAGON_SIGN_PK], int verified)
{
	sqlite3_stmt *st;
	int rc;

	if (pk == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_SET_VERIFIED)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, pk, APAGON_SIGN_PK) || sqlite3_bind_int(st, 2, verified))
		rc = fail(s);
	else if ((rc = run(s, st)) == MESH_OK && sqlite3_changes(s->db) == 0)
		rc = MESH_ENOTFOUND;
	release(s, Q_SET_VERIFIED, st);
	return rc;
}

/* ---- revocations ---- */

int
store_put_revocation(struct store *s, const uint8_t subject[APAGON_SIGN_PK],
    const uint8_t revoker[APAGON_SIGN_PK], uint32_t revoked_at, const char *reason)
{
	sqlite3_stmt *st;
	int rc;

	if (subject == NULL || revoker == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PUT_REVOCATION)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, subject, APAGON_SIGN_PK) ||
	    bind_blob(st, 2, revoker, APAGON_SIGN_PK) ||
	    sqlite3_bind_int64(st, 3, revoked_at) ||
	    bind_text(st, 4, reason ? reason : ""))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_PUT_REVOCATION, st);
	return rc;
}

int
store_is_revoked(struct store *s, const uint8_t subject[APAGON_SIGN_PK],
    const uint8_t revoker[APAGON_SIGN_PK])
{
	enum query q = revoker ? Q_REVOKED_BY : Q_REVOKED_ANY;
	sqlite3_stmt *st;
	int64_t v = 0;
	int rc;

	if (subject == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, subject, APAGON_SIGN_PK) ||
	    (revoker && bind_blob(st, 2, revoker, APAGON_SIGN_PK)))
		rc = fail(s);
	else
		rc = run_int(s, st, &v);
	release(s, q, st);
	return rc == MESH_OK ? (v != 0) : rc;
}

/* ---- peer prekeys ---- */

int
store_put_peer_prekey(struct store *s, const struct peer_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PUT_PEER_PREKEY)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, p->owner, APAGON_SIGN_PK) ||
	    sqlite3_bind_int64(st, 2, p->serial) ||
	    bind_blob(st, 3, p->pk, APAGON_DH_PK) ||
	    sqlite3_bind_int64(st, 4, p->not_after))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_PUT_PEER_PREKEY, st);
	return rc;
}

/* Step a bound peer prekey query once into p; releases st. */
static int
one_peer_prekey(struct store *s, enum query q, sqlite3_stmt *st, struct peer_prekey *p)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		col_bytes(st, 0, p->owner, sizeof p->owner);
		p->serial = (uint32_t)sqlite3_column_int64(st, 1);
		col_bytes(st, 2, p->pk, sizeof p->pk);
		p->not_after = (uint32_t)sqlite3_column_int64(st, 3);
		rc = MESH_OK;
	} else if (rc == SQLITE_DONE) {
		rc = MESH_ENOTFOUND;
	} else {
		rc = fail(s);
	}
	release(s, q, st);
	return rc;
}

int
store_peer_prekey_current(struct store *s, const uint8_t owner[APAGON_SIGN_PK], int64_t now,
    struct peer_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (owner == NULL || p == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PEER_PREKEY_CURRENT)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, owner, APAGON_SIGN_PK) || sqlite3_bind_int64(st, 2, now)) {
		rc = fail(s);
		release(s, Q_PEER_PREKEY_CURRENT, st);
		return rc;
	}
	return one_peer_prekey(s, Q_PEER_PREKEY_CURRENT, st, p);
}

int
store_peer_prekey_by_serial8(struct store *s, const uint8_t owner[APAGON_SIGN_PK],
    uint8_t serial8, struct peer_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (owner == NULL || p == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PEER_PREKEY_SERIAL8)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, owner, APAGON_SIGN_PK) || sqlite3_bind_int(st, 2, serial8)) {
		rc = fail(s);
		release(s, Q_PEER_PREKEY_SERIAL8, st);
		return rc;
	}
	return one_peer_prekey(s, Q_PEER_PREKEY_SERIAL8, st, p);
}

/* ---- own prekeys ---- */

int
store_put_own_prekey(struct store *s, const struct own_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PUT_OWN_PREKEY)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, p->serial) ||
	    bind_blob(st, 2, p->pk, APAGON_DH_PK) ||
	    bind_blob(st, 3, p->sealed_sk, sizeof p->sealed_sk) ||
	    sqlite3_bind_int64(st, 4, p->created) ||
	    sqlite3_bind_int64(st, 5, p->retired_at))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_PUT_OWN_PREKEY, st);
	return rc;
}

/* Step a bound own prekey query once into p; releases st. */
static int
one_own_prekey(struct store *s, enum query q, sqlite3_stmt *st, struct own_prekey *p)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		p->serial = (uint32_t)sqlite3_column_int64(st, 0);
		col_bytes(st, 1, p->pk, sizeof p->pk);
		col_bytes(st, 2, p->sealed_sk, sizeof p->sealed_sk);
		p->created = sqlite3_column_int64(st, 3);
		p->retired_at = sqlite3_column_int64(st, 4);
		rc = MESH_OK;
	} else if (rc == SQLITE_DONE) {
		rc = MESH_ENOTFOUND;
	} else {
		rc = fail(s);
	}
	release(s, q, st);
	return rc;
}

int
store_own_prekey_current(struct store *s, struct own_prekey *p)
{
	sqlite3_stmt *st;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_OWN_PREKEY_CURRENT)) == NULL)
		return MESH_ESTORE;
	return one_own_prekey(s, Q_OWN_PREKEY_CURRENT, st, p);
}

int
store_own_prekey_by_serial8(struct store *s, uint8_t serial8, struct own_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_OWN_PREKEY_SERIAL8)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int(st, 1, serial8)) {
		rc = fail(s);
		release(s, Q_OWN_PREKEY_SERIAL8, st);
		return rc;
	}
	return one_own_prekey(s, Q_OWN_PREKEY_SERIAL8, st, p);
}

int
store_retire_own_prekeys(struct store *s, int64_t now)
{
	return run_on_int(s, Q_RETIRE_OWN_PREKEYS, now, NULL);
}

int
store_delete_old_prekeys(struct store *s, int64_t cutoff, int *deleted)
{
	int n = 0, rc;

	if ((rc = run_on_int(s, Q_DELETE_OLD_PREKEYS, cutoff, &n)) != MESH_OK)
		return rc;
	/*
	 * secure_delete zeroes the freed cells in the new page images, but older images
	 * still hold the secret in the WAL; a TRUNCATE checkpoint copies the zeroed pages
	 * into the database and empties the WAL. Inside a transaction the delete is not
	 * committed yet, so the checkpoint is the caller's to run after COMMIT.
	 */
	if (sqlite3_get_autocommit(s->db)) {
		sqlite3_stmt *st = acquire(s, Q_CHECKPOINT);

		if (st == NULL)
			return MESH_ESTORE;
		if (sqlite3_step(st) != SQLITE_ROW)
			rc = fail(s);
		else if (sqlite3_column_int(st, 0) != 0) {
			set_errmsg(s, "WAL checkpoint blocked by a reader");
			rc = MESH_ESTORE;
		}
		release(s, Q_CHECKPOINT, st);
	}
	if (rc == MESH_OK && deleted)
		*deleted = n;
	return rc;
}

/* ---- messages ---- */

int
store_put_msg(struct store *s, const struct msg_rec *m)
{
	sqlite3_stmt *st;
	int rc;

	if (m == NULL || (m->sealed_text == NULL && m->sealed_len))
		return MESH_EINVAL;
	if ((st = acquire(s, Q_PUT_MSG)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, m->bundle_id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, m->dir) ||
	    sqlite3_bind_int(st, 3, m->state) ||
	    bind_blob(st, 4, m->peer_pk, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 5, m->precedence) ||
	    sqlite3_bind_int64(st, 6, m->created) ||
	    sqlite3_bind_int64(st, 7, m->local_time) ||
	    sqlite3_bind_int64(st, 8, m->expires_at) ||
	    sqlite3_bind_int(st, 9, m->sent_count) ||
	    sqlite3_bind_int64(st, 10, m->delivered_at) ||
	    bind_field(st, 11, m->reason, sizeof m->reason - 1) ||
	    bind_blob(st, 12, m->sealed_text, m->sealed_len))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_PUT_MSG, st);
	return rc;
}

/* Fill m from a MSG_COLS row; sealed_text points into the row. */
static void
row_msg(sqlite3_stmt *st, struct msg_rec *m)
{
	col_bytes(st, 0, m->bundle_id, sizeof m->bundle_id);
	m->dir = sqlite3_column_int(st, 1);
	m->state = sqlite3_column_int(st, 2);
	col_bytes(st, 3, m->peer_pk, sizeof m->peer_pk);
	m->precedence = sqlite3_column_int(st, 4);
	m->created = (uint32_t)sqlite3_column_int64(st, 5);
	m->local_time = sqlite3_column_int64(st, 6);
	m->expires_at = sqlite3_column_int64(st, 7);
	m->sent_count = sqlite3_column_int(st, 8);
	m->delivered_at = sqlite3_column_int64(st, 9);
	col_field(st, 10, m->reason, sizeof m->reason);
	m->sealed_text = col_ref(st, 11, &m->sealed_len);
}

int
store_get_msg(struct store *s, const uint8_t bundle_id[APAGON_HASH], struct msg_rec *m)
{
	struct msg_rec tmp;
	sqlite3_stmt *st;
	int rc;

	if (bundle_id == NULL || m == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_GET_MSG)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, bundle_id, APAGON_HASH)) {
		rc = fail(s);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = MESH_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = fail(s);
		goto out;
	}
	row_msg(st, &tmp);
	if ((tmp.sealed_text = buf_copy(&s->text, tmp.sealed_text, tmp.sealed_len)) == NULL) {
		rc = MESH_ENOMEM;
		goto out;
	}
	*m = tmp;
	rc = MESH_OK;
out:
	release(s, Q_GET_MSG, st);
	return rc;
}

int
store_each_msg(struct store *s, int dir, int (*fn)(void *, const struct msg_rec *), void *ctx)
{
	struct msg_rec m;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_EACH_MSG)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int(st, 1, dir)) {
		rc = fail(s);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_msg(st, &m);
		if ((rc = fn(ctx, &m)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? MESH_OK : fail(s);
out:
	release(s, Q_EACH_MSG, st);
	return rc;
}

int
store_msg_set_state(struct store *s, const uint8_t bundle_id[APAGON_HASH], int state,
    int64_t when, const char *reason)
{
	char field[sizeof ((struct msg_rec *)0)->reason];
	sqlite3_stmt *st;
	int rc;

	if (bundle_id == NULL)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_MSG_SET_STATE)) == NULL)
		return MESH_ESTORE;
	/* Keep the stored reason within what struct msg_rec can give back. */
	if (reason) {
		size_t n = strnlen(reason, sizeof field - 1);

		memcpy(field, reason, n);
		field[n] = '\0';
	}
	if (bind_blob(st, 1, bundle_id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, state) ||
	    sqlite3_bind_int64(st, 3, when) ||
	    bind_text(st, 4, reason ? field : NULL) ||
	    sqlite3_bind_int(st, 5, OUT_DELIVERED))
		rc = fail(s);
	else if ((rc = run(s, st)) == MESH_OK && sqlite3_changes(s->db) == 0)
		rc = MESH_ENOTFOUND;
	release(s, Q_MSG_SET_STATE, st);
	return rc;
}

int
store_msg_add_sent(struct store *s, const uint8_t bundle_id[APAGON_HASH], int n)
{
	sqlite3_stmt *st;
	int rc;

	if (bundle_id == NULL || n < 0)
		return MESH_EINVAL;
	if ((st = acquire(s, Q_MSG_ADD_SENT)) == NULL)
		return MESH_ESTORE;
	if (bind_blob(st, 1, bundle_id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, n) ||
	    sqlite3_bind_int(st, 3, OUT_QUEUED) ||
	    sqlite3_bind_int(st, 4, OUT_SENT))
		rc = fail(s);
	else if ((rc = run(s, st)) == MESH_OK && sqlite3_changes(s->db) == 0)
		rc = MESH_ENOTFOUND;
	release(s, Q_MSG_ADD_SENT, st);
	return rc;
}

int
store_msg_expire(struct store *s, int64_t now, const char *reason)
{
	char field[sizeof ((struct msg_rec *)0)->reason];
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (reason == NULL)
		reason = "";
	n = strnlen(reason, sizeof field - 1);
	memcpy(field, reason, n);
	field[n] = '\0';
	if ((st = acquire(s, Q_MSG_EXPIRE)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, now) ||
	    bind_text(st, 2, field) ||
	    sqlite3_bind_int(st, 3, OUT_EXPIRED) ||
	    sqlite3_bind_int(st, 4, MSG_OUT) ||
	    sqlite3_bind_int(st, 5, OUT_QUEUED) ||
	    sqlite3_bind_int(st, 6, OUT_SENT))
		rc = fail(s);
	else
		rc = run(s, st);
	release(s, Q_MSG_EXPIRE, st);
	return rc;
}
