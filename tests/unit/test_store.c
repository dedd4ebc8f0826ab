/*
 * The store: opening, schema migration, meta and counters, bundles, tombstones, expiry
 * and transactions, against real SQLite files in a temporary directory.
 */
#include "../test.h"
#include "store_fixture.h"

static void
test_open_reopen(void)
{
	struct store *s = open_named("reopen.db");
	uint8_t val[16];
	size_t len = 0;
	char path[256];

	CHECK(s != NULL);
	CHECK_EQ(store_meta_set(s, "network", (const uint8_t *)"alpha", 5), MESH_OK);
	CHECK_EQ(store_counter_add(s, "quota", 3), MESH_OK);
	store_close(s);

	CHECK_EQ(sql_int("reopen.db", "PRAGMA user_version"), STORE_SCHEMA_VERSION);

	s = open_named("reopen.db");
	CHECK(s != NULL);
	CHECK_EQ(store_meta_get(s, "network", val, sizeof val, &len), MESH_OK);
	CHECK_EQ(len, 5);
	CHECK(memcmp(val, "alpha", 5) == 0);
	CHECK(strcmp(store_errmsg(s), "") != 0);
	store_close(s);
	store_close(NULL);

	/* Refuses a NULL path and leaves *out NULL. */
	s = (struct store *)&len;
	CHECK_EQ(store_open(&s, NULL), MESH_EINVAL);
	CHECK(s == NULL);

	/* The file really is in WAL mode. */
	path_of(path, sizeof path, "reopen.db");
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
		CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
		CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
		CHECK(strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

/* Turn a version-3 file's messages back into version 2's: the texts in the rows. */
static int
collect_due(void *ctx, const struct receipt_due *r)
{
	struct { struct receipt_due *r; int n; } *c = ctx;

	if (c->n < 4)
		c->r[c->n] = *r;
	c->n++;
	return 0;
}

/* Each released schema's way back, so older files can be made for the migrations. */
#define V4_TO_V3 "DROP TABLE receipts_due;"
#define V3_TO_V2 V4_TO_V3 \
	"ALTER TABLE messages ADD COLUMN sealed_text BLOB NOT NULL DEFAULT x'';" \
	"UPDATE messages SET sealed_text = (SELECT t.sealed_text FROM message_texts t " \
	"  WHERE t.bundle_id = messages.bundle_id);" \
	"DROP TABLE message_texts;"

/* A version-3 file (receipts written with the batch, none owed) is migrated in place;
 * what is owed is kept once per message, by sender and oldest first, until deleted,
 * across a reopen. */
static void
test_migrate_from_v3_and_receipts_due(void)
{
	struct store *s = open_named("v3.db");
	struct receipt_due r, got[4];
	struct { struct receipt_due *r; int n; } c = { got, 0 };
	char path[256];
	sqlite3 *db = NULL;

	store_close(s);
	path_of(path, sizeof path, "v3.db");
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, V4_TO_V3 "PRAGMA user_version = 3;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(sql_int("v3.db", "SELECT count(*) FROM sqlite_schema WHERE name = 'receipts_due'"), 0);
	s = open_named("v3.db");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(sql_int("v3.db", "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	for (int i = 0; i < 3; i++) {
		memset(&r, 0, sizeof r);
		fill(r.bundle_id, sizeof r.bundle_id, (uint8_t)(40 + i));
		fill(r.used.owner, sizeof r.used.owner, (uint8_t)(i == 1 ? 2 : 1));
		fill(r.used.pk, sizeof r.used.pk, (uint8_t)(60 + i));
		r.used.serial = 500u + (uint32_t)i;
		r.used.not_after = 4000000000u;
		r.precedence = i;
		r.lifetime = (uint8_t)(3 + i);
		r.since = 1000 - i;
		CHECK_EQ(store_put_receipt_due(s, &r), MESH_OK);
	}
	r.since = 1;                    /* the same message again: ignored */
	CHECK_EQ(store_put_receipt_due(s, &r), MESH_OK);
	store_close(s);
	s = open_named("v3.db");
	CHECK_EQ(store_each_receipt_due(s, collect_due, &c), MESH_OK);
	CHECK_EQ(c.n, 3);
	/* Sender 1's two (oldest first: 42 before 40), then sender 2's. */
	CHECK_EQ(got[0].bundle_id[0], 42);
	CHECK_EQ(got[0].since, 998);
	CHECK_EQ(got[0].used.serial, 502u);
	CHECK_EQ(got[0].used.not_after, 4000000000u);
	CHECK_EQ(got[0].used.pk[0], 62);
	CHECK_EQ(got[0].precedence, 2);
	CHECK_EQ(got[0].lifetime, 5);
	CHECK_EQ(got[1].bundle_id[0], 40);
	CHECK_EQ(got[2].bundle_id[0], 41);
	CHECK_EQ(got[2].used.owner[0], 2);
	CHECK_EQ(store_del_receipt_due(s, got[1].bundle_id), MESH_OK);
	c.n = 0;
	CHECK_EQ(store_each_receipt_due(s, collect_due, &c), MESH_OK);
	CHECK_EQ(c.n, 2);
	store_close(s);
}

/* A version-2 file (texts in the message rows) is migrated in place, texts kept. */
static void
test_migrate_from_v2(void)
{
	struct store *s = open_named("v2.db");
	struct msg_rec m, got;
	uint8_t sealed[3][40];
	char path[256];
	sqlite3 *db = NULL;

	for (int i = 0; i < 3; i++) {
		memset(&m, 0, sizeof m);
		fill(m.bundle_id, sizeof m.bundle_id, (uint8_t)(20 + i));
		memset(sealed[i], 0x30 + i, sizeof sealed[i]);
		m.dir = i ? MSG_IN : MSG_OUT;
		m.state = i ? IN_UNREAD : OUT_SENT;
		m.exported = i;
		m.sealed_text = sealed[i];
		m.sealed_len = sizeof sealed[i] - (size_t)i;
		CHECK_EQ(store_put_msg(s, &m), MESH_OK);
	}
	store_close(s);
	path_of(path, sizeof path, "v2.db");
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, V3_TO_V2 "PRAGMA user_version = 2;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(sql_int("v2.db", "PRAGMA user_version"), 2);
	CHECK_EQ(sql_int("v2.db", "SELECT count(*) FROM pragma_table_info('messages') "
	    "WHERE name = 'sealed_text'"), 1);

	s = open_named("v2.db");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(sql_int("v2.db", "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CHECK_EQ(sql_int("v2.db", "SELECT count(*) FROM pragma_table_info('messages') "
	    "WHERE name = 'sealed_text'"), 0);
	CHECK_EQ(sql_int("v2.db", "SELECT count(*) FROM message_texts"), 3);
	for (int i = 0; i < 3; i++) {
		fill(m.bundle_id, sizeof m.bundle_id, (uint8_t)(20 + i));
		CHECK_EQ(store_get_msg(s, m.bundle_id, &got), MESH_OK);
		CHECK_EQ(got.exported, i);
		CHECK_EQ(got.sealed_len, sizeof sealed[i] - (size_t)i);
		CHECK(memcmp(got.sealed_text, sealed[i], got.sealed_len) == 0);
	}
	/* A change of state leaves the text alone. */
	fill(m.bundle_id, sizeof m.bundle_id, 20);
	CHECK_EQ(store_msg_set_state(s, m.bundle_id, OUT_DELIVERED, 99, NULL), MESH_OK);
	CHECK_EQ(store_get_msg(s, m.bundle_id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	CHECK(memcmp(got.sealed_text, sealed[0], got.sealed_len) == 0);
	store_close(s);
}

/* A version-1 file (exports and peers in one count) is migrated in place. */
static void
test_migrate_from_v1(void)
{
	struct store *s = open_named("v1.db");
	struct msg_rec m, got;
	uint8_t sealed[4] = { 1, 2, 3, 4 };
	char path[256];
	sqlite3 *db = NULL;

	memset(&m, 0, sizeof m);
	fill(m.bundle_id, sizeof m.bundle_id, 7);
	m.dir = MSG_OUT;
	m.state = OUT_SENT;
	m.sent_count = 3;
	m.sealed_text = sealed;
	m.sealed_len = sizeof sealed;
	CHECK_EQ(store_put_msg(s, &m), MESH_OK);
	store_close(s);
	/* Turn the file back into version 1. */
	path_of(path, sizeof path, "v1.db");
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db, V3_TO_V2 "ALTER TABLE messages DROP COLUMN exported;"
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(sql_int("v1.db", "PRAGMA user_version"), 1);

	s = open_named("v1.db");
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(sql_int("v1.db", "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CHECK_EQ(store_get_msg(s, m.bundle_id, &got), MESH_OK);
	CHECK_EQ(got.exported, 3);      /* before version 2 every hand-off was an export */
	CHECK_EQ(got.sent_count, 0);
	CHECK_EQ(got.sealed_len, sizeof sealed);
	store_close(s);
}

static void
test_newer_schema(void)
{
	struct store *s = open_named("newer.db");
	char path[256];
	sqlite3 *db = NULL;
	char *q;
	FILE *f;

	store_close(s);
	path_of(path, sizeof path, "newer.db");
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	q = sqlite3_mprintf("PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
	CHECK_EQ(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_free(q);
	sqlite3_close(db);

	s = (struct store *)path;
	CHECK_EQ(store_open(&s, path), MESH_ESCHEMA);
	CHECK(s == NULL);
	/* Refusing must not have touched the version. */
	CHECK_EQ(sql_int("newer.db", "PRAGMA user_version"), STORE_SCHEMA_VERSION + 1);

	/* A file that is not a database at all. */
	path_of(path, sizeof path, "garbage.db");
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		for (int i = 0; i < 512; i++)
			fputs("not a database ", f);
		fclose(f);
	}
	s = (struct store *)path;
	CHECK_EQ(store_open(&s, path), MESH_ESTORE);
	CHECK(s == NULL);
}

static void
test_meta(void)
{
	struct store *s = open_named("meta.db");
	uint8_t val[8], big[100];
	size_t len = 0;

	memset(big, 0xab, sizeof big);
	CHECK_EQ(store_meta_get(s, "missing", val, sizeof val, &len), MESH_ENOTFOUND);
	CHECK_EQ(store_meta_set(s, "k", big, sizeof big), MESH_OK);
	memset(val, 0, sizeof val);
	CHECK_EQ(store_meta_get(s, "k", val, sizeof val, &len), MESH_OK);
	CHECK_EQ(len, sizeof big);      /* the stored size, not what was copied */
	CHECK(val[0] == 0xab && val[7] == 0xab);

	CHECK_EQ(store_meta_set(s, "k", (const uint8_t *)"xy", 2), MESH_OK);
	CHECK_EQ(store_meta_get(s, "k", val, sizeof val, &len), MESH_OK);
	CHECK_EQ(len, 2);
	CHECK(memcmp(val, "xy", 2) == 0);

	/* Zero-length values are values, not absences. */
	CHECK_EQ(store_meta_set(s, "empty", NULL, 0), MESH_OK);
	len = 99;
	CHECK_EQ(store_meta_get(s, "empty", val, sizeof val, &len), MESH_OK);
	CHECK_EQ(len, 0);
	/* Size probe with no buffer. */
	CHECK_EQ(store_meta_get(s, "k", NULL, 0, &len), MESH_OK);
	CHECK_EQ(len, 2);
	store_close(s);
}

struct counter_log {
	char names[8][32];
	int64_t values[8];
	int n;
};

static void
log_counter(void *ctx, const char *name, int64_t v)
{
	struct counter_log *log = ctx;

	if (log->n < 8) {
		snprintf(log->names[log->n], sizeof log->names[0], "%s", name);
		log->values[log->n] = v;
	}
	log->n++;
}

static void
test_counters(void)
{
	struct store *s = open_named("counters.db");
	struct counter_log log = { 0 };

	CHECK_EQ(store_counters(s, log_counter, &log), MESH_OK);
	CHECK_EQ(log.n, 0);
	CHECK_EQ(store_counter_add(s, "signature", 1), MESH_OK);
	CHECK_EQ(store_counter_add(s, "duplicate", 5), MESH_OK);
	CHECK_EQ(store_counter_add(s, "signature", 2), MESH_OK);
	CHECK_EQ(store_counter_add(s, "expired", 1), MESH_OK);
	CHECK_EQ(store_counter_add(s, "duplicate", -1), MESH_OK);
	CHECK_EQ(store_counters(s, log_counter, &log), MESH_OK);
	CHECK_EQ(log.n, 3);
	CHECK(strcmp(log.names[0], "duplicate") == 0);
	CHECK_EQ(log.values[0], 4);
	CHECK(strcmp(log.names[1], "expired") == 0);
	CHECK_EQ(log.values[1], 1);
	CHECK(strcmp(log.names[2], "signature") == 0);
	CHECK_EQ(log.values[2], 3);
	store_close(s);
}

static void
test_bundle_put_get(void)
{
	struct store *s = open_named("bundles.db");
	uint8_t raw[300], raw2[10], id[APAGON_HASH];
	struct stored_bundle sb, got, got2;
	int64_t total = -1, mine = -1;

	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (uint8_t)i;
	memset(raw2, 0x77, sizeof raw2);
	mk_bundle(&sb, 1, 0xa1, BUNDLE_MSG, PREC_PRIORITY, 5000, raw, sizeof raw);
	sb.own = 1;
	sb.pinned = 1;
	sb.created = 0xfffffff0u;

	CHECK_EQ(has(s, 1), 0);
	CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	CHECK_EQ(has(s, 1), 1);
	CHECK_EQ(store_put_bundle(s, &sb), MESH_EDUPLICATE);

	fill(id, sizeof id, 1);
	memset(&got, 0, sizeof got);
	CHECK_EQ(store_get_bundle(s, id, &got), MESH_OK);
	CHECK(memcmp(got.id, sb.id, sizeof sb.id) == 0);
	CHECK(memcmp(got.sender_pk, sb.sender_pk, sizeof sb.sender_pk) == 0);
	CHECK(memcmp(got.recipient, sb.recipient, sizeof sb.recipient) == 0);
	CHECK_EQ(got.type, BUNDLE_MSG);
	CHECK_EQ(got.precedence, PREC_PRIORITY);
	CHECK_EQ(got.created, 0xfffffff0u);
	CHECK_EQ(got.stored_at, sb.stored_at);
	CHECK_EQ(got.expires_at, 5000);
	CHECK_EQ(got.own, 1);
	CHECK_EQ(got.pinned, 1);
	CHECK_EQ(got.raw_len, sizeof raw);
	CHECK(got.raw != raw && memcmp(got.raw, raw, sizeof raw) == 0);

	/* A second bundle; the first raw pointer may be reused, the new one is right. */
	mk_bundle(&sb, 2, 0xa2, BUNDLE_RECEIPT, PREC_ROUTINE, 6000, raw2, sizeof raw2);
	CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	fill(id, sizeof id, 2);
	CHECK_EQ(store_get_bundle(s, id, &got2), MESH_OK);
	CHECK_EQ(got2.raw_len, sizeof raw2);
	CHECK(memcmp(got2.raw, raw2, sizeof raw2) == 0);

	fill(id, sizeof id, 9);
	CHECK_EQ(store_get_bundle(s, id, &got), MESH_ENOTFOUND);

	CHECK_EQ(store_usage(s, NULL, &total, NULL), MESH_OK);
	CHECK_EQ(total, sizeof raw + sizeof raw2);
	fill(id, sizeof id, 0xa1);
	CHECK_EQ(store_usage(s, id, &total, &mine), MESH_OK);
	CHECK_EQ(mine, sizeof raw);
	fill(id, sizeof id, 0x55);
	CHECK_EQ(store_usage(s, id, &total, &mine), MESH_OK);
	CHECK_EQ(mine, 0);

	/* Unpin. */
	fill(id, sizeof id, 1);
	CHECK_EQ(store_unpin_bundle(s, id), MESH_OK);
	CHECK_EQ(store_get_bundle(s, id, &got), MESH_OK);
	CHECK_EQ(got.pinned, 0);
	fill(id, sizeof id, 9);
	CHECK_EQ(store_unpin_bundle(s, id), MESH_ENOTFOUND);
	store_close(s);

	/* Survives a reopen. */
	s = open_named("bundles.db");
	fill(id, sizeof id, 1);
	CHECK_EQ(store_get_bundle(s, id, &got), MESH_OK);
	CHECK_EQ(got.raw_len, sizeof raw);
	CHECK(memcmp(got.raw, raw, sizeof raw) == 0);
	store_close(s);
}

static void
test_tombstone(void)
{
	struct store *s = open_named("tomb.db");
	uint8_t raw[20] = { 1, 2, 3 }, id[APAGON_HASH];
	struct stored_bundle sb, got;
	int removed = -1;

	mk_bundle(&sb, 7, 0xb1, BUNDLE_MSG, PREC_ROUTINE, 2000, raw, sizeof raw);
	CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	fill(id, sizeof id, 7);
	CHECK_EQ(store_purge_bundle(s, id), MESH_OK);
	CHECK_EQ(store_get_bundle(s, id, &got), MESH_ENOTFOUND);
	CHECK_EQ(has(s, 7), 1);
	CHECK_EQ(store_put_bundle(s, &sb), MESH_EDUPLICATE);
	CHECK_EQ(store_purge_bundle(s, id), MESH_ENOTFOUND);
	fill(id, sizeof id, 8);
	CHECK_EQ(store_purge_bundle(s, id), MESH_ENOTFOUND);
	CHECK_EQ(has(s, 8), 0);

	/* The tombstone lives until the bundle's own expiry. */
	CHECK_EQ(store_gc(s, 1999, &removed), MESH_OK);
	CHECK_EQ(removed, 0);
	CHECK_EQ(has(s, 7), 1);
	CHECK_EQ(store_gc(s, 2000, &removed), MESH_OK);
	CHECK_EQ(removed, 0);     /* tombstones are not counted */
	CHECK_EQ(has(s, 7), 0);
	CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);

	/* Purge inside a rolled-back transaction leaves the bundle. */
	fill(id, sizeof id, 7);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_purge_bundle(s, id), MESH_OK);
	store_rollback(s);
	CHECK_EQ(store_get_bundle(s, id, &got), MESH_OK);
	store_close(s);
}

static void
test_gc(void)
{
	struct store *s = open_named("gc.db");
	uint8_t raw[10] = { 0 }, id[APAGON_HASH];
	struct stored_bundle sb;
	int removed = -1;

	for (uint8_t t = 1; t <= 5; t++) {
		mk_bundle(&sb, t, 0xc1, BUNDLE_MSG, PREC_ROUTINE, 100 * t, raw, sizeof raw);
		sb.pinned = (t == 2);   /* pinned own bundles expire like any other */
		CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	}
	fill(id, sizeof id, 5);
	CHECK_EQ(store_purge_bundle(s, id), MESH_OK);   /* tombstone until 500 */

	CHECK_EQ(store_gc(s, 99, &removed), MESH_OK);
	CHECK_EQ(removed, 0);
	CHECK_EQ(store_gc(s, 300, &removed), MESH_OK);
	CHECK_EQ(removed, 3);
	CHECK_EQ(has(s, 1), 0);
	CHECK_EQ(has(s, 2), 0);
	CHECK_EQ(has(s, 3), 0);
	CHECK_EQ(has(s, 4), 1);
	CHECK_EQ(has(s, 5), 1);
	CHECK_EQ(store_gc(s, 1000, NULL), MESH_OK);
	CHECK_EQ(has(s, 4), 0);
	CHECK_EQ(has(s, 5), 0);
	store_close(s);
}

struct seen {
	uint8_t tags[32];
	int n;
	int stop_at;
	struct store *s;
	int nested;
};

static int
collect(void *ctx, const struct stored_bundle *sb)
{
	struct seen *seen = ctx;

	CHECK_EQ(sb->raw_len, 3);
	CHECK(sb->raw[0] == sb->id[0] && sb->raw[2] == sb->id[0]);
	if (seen->n < 32)
		seen->tags[seen->n] = sb->id[0];
	seen->n++;
	if (seen->stop_at && seen->n == seen->stop_at)
		return 42;
	return 0;
}

static int
collect_brief(void *ctx, const struct stored_bundle *sb)
{
	struct seen *seen = ctx;

	CHECK(sb->raw == NULL);
	CHECK_EQ(sb->raw_len, 0);
	if (seen->n < 32)
		seen->tags[seen->n] = sb->id[0];
	seen->n++;
	return 0;
}

static int
nested_collect(void *ctx, const struct stored_bundle *sb)
{
	struct seen *seen = ctx, inner = { .n = 0 };
	struct stored_bundle got;
	uint8_t tag = sb->id[0];

	/* Re-entering the same query and a get while iterating must work. */
	CHECK_EQ(store_each_bundle(seen->s, 0, collect, &inner), MESH_OK);
	seen->nested += inner.n;
	CHECK_EQ(store_get_bundle(seen->s, sb->id, &got), MESH_OK);
	CHECK(got.id[0] == tag && sb->id[0] == tag);
	CHECK(sb->raw[0] == tag);
	return collect(ctx, sb);
}

static void
test_each_bundle(void)
{
	struct store *s = open_named("each.db");
	static const struct {
		uint8_t tag;
		int prec;
		int64_t stored_at, expires_at;
	} rows[] = {
		{ 1, PREC_ROUTINE, 10, 1000 },
		{ 2, PREC_FLASH, 30, 1000 },
		{ 3, PREC_PRIORITY, 20, 1000 },
		{ 4, PREC_FLASH, 20, 1000 },
		{ 5, PREC_PRIORITY, 20, 1000 },   /* same stored_at as 3: rowid order */
		{ 6, PREC_FLASH, 5, 100 },        /* expired at now = 100 */
		{ 7, PREC_ROUTINE, 5, 1000 },
	};
	static const uint8_t want[] = { 4, 2, 3, 5, 7, 1 };
	struct seen seen = { .n = 0 };
	struct stored_bundle sb;
	uint8_t raw[7][3];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(raw[i], rows[i].tag, 3);
		mk_bundle(&sb, rows[i].tag, 0xd1, BUNDLE_MSG, rows[i].prec, rows[i].expires_at,
		    raw[i], 3);
		sb.stored_at = rows[i].stored_at;
		CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	}
	CHECK_EQ(store_each_bundle(s, 100, collect, &seen), MESH_OK);
	CHECK_EQ(seen.n, (int)sizeof want);
	CHECK(memcmp(seen.tags, want, sizeof want) == 0);

	memset(&seen, 0, sizeof seen);
	seen.stop_at = 2;
	CHECK_EQ(store_each_bundle(s, 100, collect, &seen), 42);
	CHECK_EQ(seen.n, 2);

	/* The brief walk: the same bundles in the same order, without their bytes. */
	memset(&seen, 0, sizeof seen);
	CHECK_EQ(store_each_bundle_brief(s, 100, collect_brief, &seen), MESH_OK);
	CHECK_EQ(seen.n, (int)sizeof want);
	CHECK(memcmp(seen.tags, want, sizeof want) == 0);

	/* The statement is usable again after an early stop, and nested use works. */
	memset(&seen, 0, sizeof seen);
	seen.s = s;
	CHECK_EQ(store_each_bundle(s, 100, nested_collect, &seen), MESH_OK);
	CHECK_EQ(seen.n, 6);
	CHECK_EQ(seen.nested, 6 * 7);
	CHECK(memcmp(seen.tags, want, sizeof want) == 0);
	store_close(s);
}

static void
test_transactions(void)
{
	struct store *s = open_named("tx.db");
	uint8_t val[4];
	size_t len;

	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_meta_set(s, "a", (const uint8_t *)"1", 1), MESH_OK);
	store_rollback(s);
	CHECK_EQ(store_meta_get(s, "a", val, sizeof val, &len), MESH_ENOTFOUND);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_begin(s), MESH_ESTORE);    /* no nesting */
	CHECK(strlen(store_errmsg(s)) > 0);
	CHECK_EQ(store_meta_set(s, "a", (const uint8_t *)"2", 1), MESH_OK);
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK_EQ(store_commit(s), MESH_ESTORE);
	store_rollback(s);                        /* harmless outside a transaction */
	CHECK_EQ(store_meta_get(s, "a", val, sizeof val, &len), MESH_OK);
	CHECK(val[0] == '2');
	store_close(s);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_open_reopen),
		TEST(test_migrate_from_v1),
		TEST(test_migrate_from_v2),
		TEST(test_migrate_from_v3_and_receipts_due),
		TEST(test_newer_schema),
		TEST(test_meta),
		TEST(test_counters),
		TEST(test_bundle_put_get),
		TEST(test_tombstone),
		TEST(test_gc),
		TEST(test_each_bundle),
		TEST(test_transactions),
	};
	int rc;

	if (setup() != 0)
		return 1;
	rc = test_main("store", cases, sizeof cases / sizeof cases[0], argc, argv);
	teardown();
	return rc;
}
