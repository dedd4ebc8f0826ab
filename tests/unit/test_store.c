/*
 * The store against real SQLite files in a temporary directory.
 */
#include "../test.h"

#include <dirent.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../mesh/bundle.h"
#include "../../mesh/mesh.h"
#include "../../mesh/store.h"

static char tmpdir[] = "/tmp/apagon-store-XXXXXX";

static void
path_of(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static struct store *
open_named(const char *name)
{
	struct store *s = NULL;
	char path[256];
	int rc;

	path_of(path, sizeof path, name);
	rc = store_open(&s, path);
	CHECK_EQ(rc, MESH_OK);
	return s;
}

static void
fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

/* A bundle whose ID is (tag, tag, ...), from sender (sender, ...). */
static void
mk_bundle(struct stored_bundle *sb, uint8_t tag, uint8_t sender, int type, int prec,
    int64_t expires_at, const uint8_t *raw, size_t raw_len)
{
	memset(sb, 0, sizeof *sb);
	fill(sb->id, sizeof sb->id, tag);
	fill(sb->sender_pk, sizeof sb->sender_pk, sender);
	fill(sb->recipient, sizeof sb->recipient, 0xee);
	sb->type = (uint8_t)type;
	sb->precedence = (uint8_t)prec;
	sb->created = 1000;
	sb->stored_at = 1000 + tag;
	sb->expires_at = expires_at;
	sb->raw = raw;
	sb->raw_len = raw_len;
}

static int
has(struct store *s, uint8_t tag)
{
	uint8_t id[APAGON_HASH];

	fill(id, sizeof id, tag);
	return store_has_bundle(s, id);
}

/* Put a bundle of `size` bytes through make_room + put in one transaction. */
static int
admit(struct store *s, uint8_t tag, uint8_t sender, int type, int prec, int64_t exp,
    size_t size)
{
	static uint8_t raw[4096];
	struct stored_bundle sb;
	int rc;

	memset(raw, tag, size);
	mk_bundle(&sb, tag, sender, type, prec, exp, raw, size);
	if ((rc = store_begin(s)) != MESH_OK)
		return rc;
	rc = store_make_room(s, sb.sender_pk, prec, exp, size);
	if (rc == MESH_OK)
		rc = store_put_bundle(s, &sb);
	if (rc == MESH_OK)
		rc = store_commit(s);
	else
		store_rollback(s);
	return rc;
}

static int64_t
sql_int(const char *name, const char *query)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	path_of(path, sizeof path, name);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, query, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

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
	CHECK_EQ(sqlite3_exec(db, "ALTER TABLE messages DROP COLUMN exported;"
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
test_quota_sender(void)
{
	struct store *s = open_named("qsender.db");
	struct store_quota q = { .total_bytes = 0, .per_sender_bytes = 300 };
	int64_t total = 0, mine = 0;
	uint8_t pk[APAGON_SIGN_PK];

	/* Sender A: 3 x 100 bytes, at its quota. Sender B: one bundle, far below it. */
	CHECK_EQ(admit(s, 1, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 500, 100), MESH_OK);
	CHECK_EQ(admit(s, 2, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 300, 100), MESH_OK);
	CHECK_EQ(admit(s, 3, 0xa0, BUNDLE_MSG, PREC_PRIORITY, 100, 100), MESH_OK);
	CHECK_EQ(admit(s, 4, 0xb0, BUNDLE_MSG, PREC_ROUTINE, 50, 100), MESH_OK);
	store_set_quota(s, &q);

	/* A routine bundle of A expiring at 400 outranks only #2 (routine, 300). */
	CHECK_EQ(admit(s, 5, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 400, 100), MESH_OK);
	CHECK_EQ(has(s, 2), 0);
	CHECK_EQ(has(s, 1), 1);
	CHECK_EQ(has(s, 3), 1);
	CHECK_EQ(has(s, 4), 1);   /* another sender's bundle is never touched here */

	/* A flash bundle of 200 bytes: evicts the lowest first (#5 at 400, then #1 at 500). */
	CHECK_EQ(admit(s, 6, 0xa0, BUNDLE_MSG, PREC_FLASH, 100, 200), MESH_OK);
	CHECK_EQ(has(s, 5), 0);
	CHECK_EQ(has(s, 1), 0);
	CHECK_EQ(has(s, 3), 1);
	CHECK_EQ(has(s, 6), 1);
	fill(pk, sizeof pk, 0xa0);
	CHECK_EQ(store_usage(s, pk, &total, &mine), MESH_OK);
	CHECK_EQ(mine, 300);
	CHECK_EQ(total, 400);

	/* Too big for any sender's quota. */
	CHECK_EQ(admit(s, 7, 0xc0, BUNDLE_MSG, PREC_FLASH, 9999, 301), MESH_EQUOTA);
	/* Exactly the quota fits for a fresh sender. */
	CHECK_EQ(admit(s, 8, 0xc0, BUNDLE_MSG, PREC_ROUTINE, 10, 300), MESH_OK);
	store_close(s);
}

static void
test_quota_total(void)
{
	struct store *s = open_named("qtotal.db");
	struct store_quota q = { .total_bytes = 400, .per_sender_bytes = 0 };

	store_set_quota(s, &q);
	CHECK_EQ(admit(s, 1, 0x01, BUNDLE_MSG, PREC_PRIORITY, 100, 100), MESH_OK);
	CHECK_EQ(admit(s, 2, 0x02, BUNDLE_MSG, PREC_ROUTINE, 900, 100), MESH_OK);
	CHECK_EQ(admit(s, 3, 0x03, BUNDLE_MSG, PREC_ROUTINE, 200, 100), MESH_OK);
	CHECK_EQ(admit(s, 4, 0x04, BUNDLE_MSG, PREC_IMMEDIATE, 50, 100), MESH_OK);

	/* Full. A priority bundle: routine go first, soonest expiry first (#3 then #2). */
	CHECK_EQ(admit(s, 5, 0x05, BUNDLE_MSG, PREC_PRIORITY, 300, 100), MESH_OK);
	CHECK_EQ(has(s, 3), 0);
	CHECK_EQ(has(s, 2), 1);
	CHECK_EQ(admit(s, 6, 0x06, BUNDLE_MSG, PREC_PRIORITY, 300, 100), MESH_OK);
	CHECK_EQ(has(s, 2), 0);
	CHECK_EQ(has(s, 1), 1);

	/* Now #1 (prio, 100), #4 (imm, 50), #5 (prio, 300), #6 (prio, 300). A priority
	 * bundle expiring at 300 ranks equal to #5/#6 and above #1 only. */
	CHECK_EQ(admit(s, 7, 0x07, BUNDLE_MSG, PREC_PRIORITY, 300, 150), MESH_EQUOTA);
	CHECK_EQ(has(s, 1), 1);   /* rolled back */
	CHECK_EQ(admit(s, 7, 0x07, BUNDLE_MSG, PREC_PRIORITY, 300, 100), MESH_OK);
	CHECK_EQ(has(s, 1), 0);

	/* A routine newcomer cannot push out anything of higher precedence. */
	CHECK_EQ(admit(s, 8, 0x08, BUNDLE_MSG, PREC_ROUTINE, 99999, 1), MESH_EQUOTA);
	/* Evicted bundles leave no tombstone: they may come back. */
	CHECK_EQ(has(s, 2), 0);
	CHECK_EQ(has(s, 3), 0);
	q.total_bytes = 0;
	store_set_quota(s, &q);
	CHECK_EQ(admit(s, 3, 0x03, BUNDLE_MSG, PREC_ROUTINE, 200, 100), MESH_OK);

	/* Over the total quota by size alone. */
	q.total_bytes = 400;
	store_set_quota(s, &q);
	CHECK_EQ(admit(s, 9, 0x09, BUNDLE_MSG, PREC_FLASH, 99999, 401), MESH_EQUOTA);
	store_close(s);
}

static void
test_quota_protected(void)
{
	struct store *s = open_named("qprot.db");
	struct store_quota q = { .total_bytes = 500, .per_sender_bytes = 0 };
	uint8_t raw[100] = { 0 }, id[APAGON_HASH];
	struct stored_bundle sb;
	int64_t total = 0;

	store_set_quota(s, &q);
	mk_bundle(&sb, 1, 0x01, BUNDLE_MSG, PREC_ROUTINE, 10, raw, sizeof raw);
	sb.own = sb.pinned = 1;
	CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	CHECK_EQ(admit(s, 2, 0x02, BUNDLE_CERT, PREC_ROUTINE, 10, 100), MESH_OK);
	CHECK_EQ(admit(s, 3, 0x03, BUNDLE_PREKEY, PREC_ROUTINE, 10, 100), MESH_OK);
	CHECK_EQ(admit(s, 4, 0x04, BUNDLE_REVOKE, PREC_ROUTINE, 10, 100), MESH_OK);
	CHECK_EQ(admit(s, 5, 0x05, BUNDLE_RECEIPT, PREC_ROUTINE, 10, 100), MESH_OK);

	/* A flash newcomer of 200 bytes: only #5 is evictable, freeing 100 of 200. */
	CHECK_EQ(admit(s, 6, 0x06, BUNDLE_MSG, PREC_FLASH, 99999, 200), MESH_EQUOTA);
	for (uint8_t t = 1; t <= 5; t++)
		CHECK_EQ(has(s, t), 1);   /* the partial eviction was rolled back */
	CHECK_EQ(store_usage(s, NULL, &total, NULL), MESH_OK);
	CHECK_EQ(total, 500);

	/* 100 bytes fit by evicting #5. */
	CHECK_EQ(admit(s, 6, 0x06, BUNDLE_MSG, PREC_FLASH, 99999, 100), MESH_OK);
	CHECK_EQ(has(s, 5), 0);
	CHECK_EQ(admit(s, 7, 0x07, BUNDLE_MSG, PREC_FLASH, 99999, 100), MESH_EQUOTA);

	/* Once unpinned, the own bundle can go. */
	fill(id, sizeof id, 1);
	CHECK_EQ(store_unpin_bundle(s, id), MESH_OK);
	CHECK_EQ(admit(s, 7, 0x07, BUNDLE_MSG, PREC_FLASH, 99999, 100), MESH_OK);
	CHECK_EQ(has(s, 1), 0);
	CHECK_EQ(has(s, 2), 1);
	CHECK_EQ(has(s, 3), 1);
	CHECK_EQ(has(s, 4), 1);

	/* Outside a transaction make_room refuses. */
	fill(id, sizeof id, 0x08);
	CHECK_EQ(store_make_room(s, id, PREC_FLASH, 99999, 10), MESH_EINVAL);
	store_close(s);
}

static void
test_quota_rank(void)
{
	struct store *s = open_named("qrank.db");
	struct store_quota q = { .total_bytes = 200, .per_sender_bytes = 200 };

	store_set_quota(s, &q);
	CHECK_EQ(admit(s, 1, 0x01, BUNDLE_MSG, PREC_PRIORITY, 500, 100), MESH_OK);
	CHECK_EQ(admit(s, 2, 0x01, BUNDLE_MSG, PREC_PRIORITY, 600, 100), MESH_OK);

	/* Same precedence and same expiry: equal, not strictly lower. */
	CHECK_EQ(admit(s, 3, 0x01, BUNDLE_MSG, PREC_PRIORITY, 500, 100), MESH_EQUOTA);
	/* Sooner expiry: ranks lower than both. */
	CHECK_EQ(admit(s, 3, 0x01, BUNDLE_MSG, PREC_PRIORITY, 499, 100), MESH_EQUOTA);
	/* Lower precedence with later expiry: still lower. */
	CHECK_EQ(admit(s, 3, 0x01, BUNDLE_MSG, PREC_ROUTINE, 99999, 100), MESH_EQUOTA);
	/* Other sender, same story under the total quota. */
	CHECK_EQ(admit(s, 3, 0x02, BUNDLE_MSG, PREC_PRIORITY, 500, 50), MESH_EQUOTA);
	/* Strictly later expiry at the same precedence evicts #1 only. */
	CHECK_EQ(admit(s, 3, 0x02, BUNDLE_MSG, PREC_PRIORITY, 501, 100), MESH_OK);
	CHECK_EQ(has(s, 1), 0);
	CHECK_EQ(has(s, 2), 1);
	CHECK_EQ(has(s, 3), 1);
	store_close(s);
}

/* ---- usage figures: exact across connections, rollbacks and every kind of delete ---- */

/* Put a bundle of `size` bytes outside make_room (autocommit unless in a transaction). */
static int
put(struct store *s, uint8_t tag, uint8_t sender, int prec, int64_t exp, size_t size)
{
	static uint8_t raw[4096];
	struct stored_bundle sb;

	memset(raw, tag, size);
	mk_bundle(&sb, tag, sender, BUNDLE_MSG, prec, exp, raw, size);
	return store_put_bundle(s, &sb);
}

static int
purge(struct store *s, uint8_t tag)
{
	uint8_t id[APAGON_HASH];

	fill(id, sizeof id, tag);
	return store_purge_bundle(s, id);
}

/* store_usage() gives exactly these figures for the sender (v, v, ...). */
static int
usage_is(struct store *s, uint8_t sender, int64_t want_total, int64_t want_mine)
{
	uint8_t pk[APAGON_SIGN_PK];
	int64_t total = -1, mine = -1;
	int rc;

	fill(pk, sizeof pk, sender);
	rc = store_usage(s, pk, &total, &mine);
	if (rc != MESH_OK || total != want_total || mine != want_mine) {
		fprintf(stderr, "    usage: rc %d, total %lld, sender %02x %lld; want %lld, %lld\n",
		    rc, (long long)total, sender, (long long)mine, (long long)want_total,
		    (long long)want_mine);
		return 0;
	}
	return 1;
}

/* store_usage() agrees with SUM(size) read through a connection of its own, which
 * sees what is committed. */
static int
usage_exact(struct store *s, const char *name, uint8_t sender)
{
	uint8_t pk[APAGON_SIGN_PK];
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t total = -1, mine = -1;

	fill(pk, sizeof pk, sender);
	path_of(path, sizeof path, name);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT COALESCE(SUM(size), 0), "
	    "COALESCE(SUM(CASE WHEN sender_pk = ?1 THEN size END), 0) FROM bundles", -1, &st,
	    NULL) == SQLITE_OK &&
	    sqlite3_bind_blob(st, 1, pk, sizeof pk, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		total = sqlite3_column_int64(st, 0);
		mine = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return total >= 0 && usage_is(s, sender, total, mine);
}

static void
test_usage_two_handles(void)
{
	struct store *a = open_named("two.db"), *b = open_named("two.db");
	struct store_quota q = { .total_bytes = 0, .per_sender_bytes = 500 };
	uint8_t id[APAGON_HASH];
	int removed = -1;

	store_set_quota(a, &q);
	CHECK_EQ(admit(a, 1, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 1000, 100), MESH_OK);
	CHECK(usage_is(a, 0xa0, 100, 100));

	/* b commits between two transactions of a: a's BEGIN must notice, or it would
	 * count 100 + 200 <= 500 and let the bundle in. Nothing ranks below it. */
	CHECK_EQ(put(b, 2, 0xa0, PREC_ROUTINE, 2000, 300), MESH_OK);
	CHECK_EQ(admit(a, 3, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 500, 200), MESH_EQUOTA);
	CHECK_EQ(has(a, 3), 0);
	CHECK(usage_exact(a, "two.db", 0xa0));

	/* Outside any transaction, store_usage() notices on its own. */
	CHECK_EQ(put(b, 4, 0xb0, PREC_ROUTINE, 2000, 50), MESH_OK);
	CHECK(usage_exact(a, "two.db", 0xb0));
	CHECK(usage_exact(a, "two.db", 0xa0));

	/* Autocommit writes of both handles, interleaved. */
	CHECK_EQ(put(a, 5, 0xb0, PREC_ROUTINE, 900, 10), MESH_OK);
	CHECK_EQ(put(b, 6, 0xb0, PREC_ROUTINE, 2000, 20), MESH_OK);
	CHECK_EQ(put(a, 7, 0xb0, PREC_ROUTINE, 800, 30), MESH_OK);
	CHECK(usage_exact(a, "two.db", 0xb0));
	CHECK(usage_exact(b, "two.db", 0xb0));

	/* Deletes through b: purge, gc, and an eviction. */
	CHECK_EQ(purge(b, 6), MESH_OK);
	CHECK(usage_exact(a, "two.db", 0xb0));
	CHECK_EQ(store_gc(b, 1000, &removed), MESH_OK);
	CHECK_EQ(removed, 3);   /* #1, #5, #7 */
	CHECK(usage_exact(a, "two.db", 0xa0));
	CHECK(usage_exact(a, "two.db", 0xb0));
	store_set_quota(b, &q);
	CHECK_EQ(admit(b, 8, 0xa0, BUNDLE_MSG, PREC_FLASH, 3000, 400), MESH_OK);
	CHECK_EQ(has(b, 2), 0);
	CHECK(usage_exact(a, "two.db", 0xa0));
	CHECK(usage_exact(b, "two.db", 0xa0));

	/* A transaction opened by a savepoint, not by store_begin(), checks as well. */
	CHECK_EQ(put(b, 9, 0xc0, PREC_FLASH, 9999, 450), MESH_OK);
	CHECK_EQ(store_savepoint(a), MESH_OK);
	fill(id, sizeof id, 0xc0);
	CHECK_EQ(store_make_room(a, id, PREC_ROUTINE, 10, 100), MESH_EQUOTA);
	store_rollback_to(a);
	CHECK(usage_exact(a, "two.db", 0xc0));

	/* And a's own committed writes reach b. */
	CHECK_EQ(admit(a, 10, 0xc0, BUNDLE_MSG, PREC_ROUTINE, 9999, 50), MESH_OK);
	CHECK(usage_exact(b, "two.db", 0xc0));
	store_close(b);
	store_close(a);
}

static void
test_usage_rollback(void)
{
	struct store *s = open_named("urb.db");
	struct store_quota q = { .total_bytes = 300, .per_sender_bytes = 0 };
	uint8_t id[APAGON_HASH];

	CHECK_EQ(put(s, 1, 0xa0, PREC_ROUTINE, 1000, 100), MESH_OK);
	CHECK(usage_exact(s, "urb.db", 0xa0));

	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(put(s, 2, 0xa0, PREC_ROUTINE, 2000, 200), MESH_OK);
	CHECK_EQ(put(s, 3, 0xb0, PREC_ROUTINE, 2000, 300), MESH_OK);
	CHECK_EQ(put(s, 3, 0xb0, PREC_ROUTINE, 2000, 300), MESH_EDUPLICATE);
	CHECK(usage_is(s, 0xa0, 600, 300));
	CHECK_EQ(purge(s, 1), MESH_OK);
	CHECK(usage_is(s, 0xa0, 500, 200));
	store_rollback(s);
	CHECK(usage_is(s, 0xa0, 100, 100));
	CHECK(usage_exact(s, "urb.db", 0xa0));
	CHECK(usage_exact(s, "urb.db", 0xb0));

	/* Evictions undone by the caller's rollback. */
	store_set_quota(s, &q);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(put(s, 2, 0xa0, PREC_ROUTINE, 2000, 200), MESH_OK);
	fill(id, sizeof id, 0xb0);
	CHECK_EQ(store_make_room(s, id, PREC_FLASH, 9999, 200), MESH_OK);
	CHECK(usage_is(s, 0xa0, 0, 0));
	store_rollback(s);
	CHECK(usage_is(s, 0xa0, 100, 100));
	CHECK(usage_exact(s, "urb.db", 0xa0));

	/* A quota decision right after a rollback uses the restored figures. */
	CHECK_EQ(admit(s, 4, 0xb0, BUNDLE_MSG, PREC_ROUTINE, 10, 250), MESH_EQUOTA);
	CHECK_EQ(admit(s, 4, 0xb0, BUNDLE_MSG, PREC_ROUTINE, 10, 200), MESH_OK);
	CHECK(usage_exact(s, "urb.db", 0xb0));
	store_close(s);
}

static void
test_usage_savepoint(void)
{
	struct store *s = open_named("usp.db");

	CHECK_EQ(store_usage(s, NULL, NULL, NULL), MESH_OK);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(put(s, 1, 0xa0, PREC_ROUTINE, 1000, 100), MESH_OK);
	CHECK_EQ(store_savepoint(s), MESH_OK);
	CHECK_EQ(put(s, 2, 0xa0, PREC_ROUTINE, 1000, 200), MESH_OK);
	CHECK(usage_is(s, 0xa0, 300, 300));
	store_rollback_to(s);
	CHECK(usage_is(s, 0xa0, 100, 100));

	/* Nested: the inner one undone, the outer one kept. */
	CHECK_EQ(store_savepoint(s), MESH_OK);
	CHECK_EQ(put(s, 3, 0xb0, PREC_ROUTINE, 1000, 50), MESH_OK);
	CHECK_EQ(store_savepoint(s), MESH_OK);
	CHECK_EQ(put(s, 4, 0xb0, PREC_ROUTINE, 1000, 25), MESH_OK);
	CHECK(usage_is(s, 0xb0, 175, 75));
	store_rollback_to(s);
	CHECK(usage_is(s, 0xb0, 150, 50));
	CHECK_EQ(store_release(s), MESH_OK);
	CHECK(usage_is(s, 0xb0, 150, 50));
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK(usage_exact(s, "usp.db", 0xa0));
	CHECK(usage_exact(s, "usp.db", 0xb0));

	/* A purge undone by a savepoint. */
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_savepoint(s), MESH_OK);
	CHECK_EQ(purge(s, 1), MESH_OK);
	CHECK(usage_is(s, 0xa0, 50, 0));
	store_rollback_to(s);
	CHECK(usage_is(s, 0xa0, 150, 100));
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK(usage_exact(s, "usp.db", 0xa0));

	/* A savepoint outside any transaction is a transaction of its own. */
	CHECK_EQ(store_savepoint(s), MESH_OK);
	CHECK_EQ(put(s, 5, 0xa0, PREC_ROUTINE, 1000, 7), MESH_OK);
	store_rollback_to(s);
	CHECK(usage_exact(s, "usp.db", 0xa0));
	CHECK_EQ(store_savepoint(s), MESH_OK);
	CHECK_EQ(put(s, 5, 0xa0, PREC_ROUTINE, 1000, 7), MESH_OK);
	CHECK_EQ(store_release(s), MESH_OK);
	CHECK(usage_exact(s, "usp.db", 0xa0));
	CHECK(usage_is(s, 0xa0, 157, 107));
	store_close(s);
}

static void
test_usage_deletes(void)
{
	struct store *s = open_named("udel.db");
	struct store_quota q = { .total_bytes = 400, .per_sender_bytes = 250 };
	int removed = -1;

	CHECK_EQ(store_usage(s, NULL, NULL, NULL), MESH_OK);
	store_set_quota(s, &q);
	CHECK_EQ(admit(s, 1, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 100, 100), MESH_OK);
	CHECK_EQ(admit(s, 2, 0xa0, BUNDLE_MSG, PREC_ROUTINE, 300, 100), MESH_OK);
	CHECK_EQ(admit(s, 3, 0xb0, BUNDLE_MSG, PREC_ROUTINE, 200, 100), MESH_OK);
	CHECK_EQ(admit(s, 4, 0xb0, BUNDLE_MSG, PREC_ROUTINE, 400, 100), MESH_OK);
	CHECK(usage_exact(s, "udel.db", 0xa0));

	/* Both passes evict: A's own #1 for its quota, then the lowest left overall, #3,
	 * not #1 a second time. */
	CHECK_EQ(admit(s, 5, 0xa0, BUNDLE_MSG, PREC_PRIORITY, 1000, 150), MESH_OK);
	CHECK_EQ(has(s, 1), 0);
	CHECK_EQ(has(s, 2), 1);
	CHECK_EQ(has(s, 3), 0);
	CHECK_EQ(has(s, 4), 1);
	CHECK(usage_is(s, 0xa0, 350, 250));
	CHECK(usage_exact(s, "udel.db", 0xa0));
	CHECK(usage_exact(s, "udel.db", 0xb0));

	CHECK_EQ(purge(s, 4), MESH_OK);
	CHECK(usage_exact(s, "udel.db", 0xb0));
	CHECK_EQ(purge(s, 4), MESH_ENOTFOUND);
	CHECK(usage_is(s, 0xa0, 250, 250));
	/* Refused puts count nothing: tombstoned, then held. */
	CHECK_EQ(put(s, 4, 0xb0, PREC_ROUTINE, 400, 100), MESH_EDUPLICATE);
	CHECK_EQ(put(s, 2, 0xa0, PREC_ROUTINE, 300, 100), MESH_EDUPLICATE);
	CHECK(usage_is(s, 0xa0, 250, 250));
	CHECK(usage_exact(s, "udel.db", 0xb0));

	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_gc(s, 300, &removed), MESH_OK);
	CHECK_EQ(removed, 1);
	CHECK(usage_is(s, 0xa0, 150, 150));
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK(usage_exact(s, "udel.db", 0xa0));
	CHECK_EQ(store_gc(s, 300, &removed), MESH_OK);
	CHECK_EQ(removed, 0);
	CHECK_EQ(store_gc(s, 5000, &removed), MESH_OK);
	CHECK_EQ(removed, 1);
	CHECK(usage_is(s, 0xa0, 0, 0));
	CHECK(usage_exact(s, "udel.db", 0xa0));
	store_close(s);
}

static void
test_quota_nothing_evicted(void)
{
	struct store *s = open_named("qnone.db");
	struct store_quota q = { .total_bytes = 400, .per_sender_bytes = 200 };
	uint8_t raw[250] = { 0 }, pk[APAGON_SIGN_PK];
	struct stored_bundle sb;

	/* A: #1 routine 50 bytes, #2 flash 100. B: #3, 250 bytes, pinned. */
	mk_bundle(&sb, 3, 0xb0, BUNDLE_MSG, PREC_ROUTINE, 10, raw, sizeof raw);
	sb.own = sb.pinned = 1;
	CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	CHECK_EQ(put(s, 1, 0xa0, PREC_ROUTINE, 100, 50), MESH_OK);
	CHECK_EQ(put(s, 2, 0xa0, PREC_FLASH, 100, 100), MESH_OK);
	store_set_quota(s, &q);

	/*
	 * A priority bundle of A, 100 bytes: A's own pass can take #1 (50 of the 50 it
	 * needs), but the store is then still 50 over and nothing else ranks below. The
	 * refusal deletes nothing, so the caller may even commit.
	 */
	fill(pk, sizeof pk, 0xa0);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_make_room(s, pk, PREC_PRIORITY, 9999, 100), MESH_EQUOTA);
	CHECK_EQ(has(s, 1), 1);
	CHECK_EQ(has(s, 2), 1);
	CHECK_EQ(has(s, 3), 1);
	CHECK(usage_is(s, 0xa0, 400, 150));
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK_EQ(has(s, 1), 1);
	CHECK(usage_exact(s, "qnone.db", 0xa0));

	/* 50 bytes fit by evicting #1 alone. */
	CHECK_EQ(admit(s, 4, 0xa0, BUNDLE_MSG, PREC_PRIORITY, 9999, 50), MESH_OK);
	CHECK_EQ(has(s, 1), 0);
	CHECK(usage_exact(s, "qnone.db", 0xa0));
	store_close(s);
}

#define MANY_SENDERS 3000

static void
many_pk(uint8_t pk[APAGON_SIGN_PK], int i)
{
	fill(pk, APAGON_SIGN_PK, 0x5a);
	pk[0] = (uint8_t)i;
	pk[1] = (uint8_t)(i >> 8);
}

/* Every sender's figure, against what was put. */
static int
many_right(struct store *s)
{
	uint8_t pk[APAGON_SIGN_PK];
	int64_t total = 0, sum = 0, mine;

	for (int i = 0; i < MANY_SENDERS; i++) {
		many_pk(pk, i);
		if (store_usage(s, pk, &total, &mine) != MESH_OK || mine != 1 + i % 7)
			return 0;
		sum += 1 + i % 7;
	}
	return total == sum;
}

static void
test_usage_many_senders(void)
{
	struct store *s = open_named("many.db"), *other = open_named("many.db");
	static uint8_t raw[8];
	struct stored_bundle sb;

	/* Loaded while empty: the map grows with the inserts... */
	CHECK_EQ(store_usage(s, NULL, NULL, NULL), MESH_OK);
	CHECK_EQ(store_begin(s), MESH_OK);
	for (int i = 0; i < MANY_SENDERS; i++) {
		mk_bundle(&sb, 0, 0, BUNDLE_MSG, PREC_ROUTINE, 1000, raw, (size_t)(1 + i % 7));
		memcpy(sb.id, &i, sizeof i);
		many_pk(sb.sender_pk, i);
		CHECK_EQ(store_put_bundle(s, &sb), MESH_OK);
	}
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK(many_right(s));

	/* ...and on a reload, after another connection wrote. */
	CHECK_EQ(put(other, 0xff, 0x01, PREC_ROUTINE, 1000, 5), MESH_OK);
	CHECK(usage_exact(s, "many.db", 0x01));
	CHECK_EQ(purge(other, 0xff), MESH_OK);
	CHECK(many_right(s));
	store_close(other);
	store_close(s);
}

static void
mk_member(struct member *m, uint8_t tag, const char *name, int64_t first_seen,
    const uint8_t *chain, size_t chain_len)
{
	memset(m, 0, sizeof *m);
	fill(m->pk, sizeof m->pk, tag);
	fill(m->key_id, sizeof m->key_id, tag);
	fill(m->issuer, sizeof m->issuer, 0x01);
	m->role = 2;
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->unit, sizeof m->unit, "unit-%u", tag);
	m->not_before = 100;
	m->not_after = 0xfffffffeu;
	m->first_seen = first_seen;
	m->chain = chain;
	m->chain_len = chain_len;
}

struct member_log {
	uint8_t tags[16];
	int n;
	size_t chain_len[16];
};

static int
log_member(void *ctx, const struct member *m)
{
	struct member_log *log = ctx;

	if (log->n < 16) {
		log->tags[log->n] = m->pk[0];
		log->chain_len[log->n] = m->chain_len;
	}
	CHECK(m->chain_len == 0 || m->chain[0] == m->pk[0]);
	log->n++;
	return 0;
}

static void
test_members(void)
{
	struct store *s = open_named("members.db");
	uint8_t chain1[50], chain2[80], chain3[20], pk[APAGON_SIGN_PK];
	struct member m, got;
	struct member_log log = { .n = 0 };

	memset(chain1, 0x10, sizeof chain1);
	memset(chain2, 0x10, sizeof chain2);
	memset(chain3, 0x30, sizeof chain3);
	mk_member(&m, 0x10, "alice", 500, chain1, sizeof chain1);
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	fill(pk, sizeof pk, 0x10);
	CHECK_EQ(store_set_verified(s, pk, 1), MESH_OK);

	/* Refresh: new chain and name; first_seen and verified are kept. */
	mk_member(&m, 0x10, "alice", 900, chain2, sizeof chain2);
	m.verified = 0;
	m.not_after = 12345;
	snprintf(m.unit, sizeof m.unit, "%s", "moved");
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_OK);
	CHECK_EQ(got.first_seen, 500);
	CHECK_EQ(got.verified, 1);
	CHECK_EQ(got.not_after, 12345);
	CHECK_EQ(got.role, 2);
	CHECK(strcmp(got.name, "alice") == 0);
	CHECK(strcmp(got.unit, "moved") == 0);
	CHECK_EQ(got.chain_len, sizeof chain2);
	CHECK(memcmp(got.chain, chain2, sizeof chain2) == 0);
	CHECK(memcmp(got.issuer, m.issuer, sizeof m.issuer) == 0);
	CHECK(memcmp(got.key_id, m.key_id, sizeof m.key_id) == 0);

	/* A new member takes first_seen and verified as given. */
	mk_member(&m, 0x30, "bob", 300, chain3, sizeof chain3);
	m.verified = 1;
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	mk_member(&m, 0x20, "alice", 100, NULL, 0);   /* a second "alice", seen earlier */
	memset(m.name, 'x', sizeof m.name);          /* unterminated: cut at 64 */
	memcpy(m.name, "alice", 6);
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	mk_member(&m, 0x40, "Alice", 50, NULL, 0);    /* case matters */
	/* Same key ID as bob, by a (theoretical) collision. */
	fill(m.key_id, sizeof m.key_id, 0x30);
	CHECK_EQ(store_put_member(s, &m), MESH_OK);

	fill(pk, sizeof pk, 0x30);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_OK);
	CHECK_EQ(got.verified, 1);
	CHECK_EQ(got.first_seen, 300);
	fill(pk, sizeof pk, 0x20);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_OK);
	CHECK_EQ(got.chain_len, 0);
	CHECK_EQ(got.verified, 0);
	fill(pk, sizeof pk, 0x99);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_ENOTFOUND);
	CHECK_EQ(store_set_verified(s, pk, 1), MESH_ENOTFOUND);

	CHECK_EQ(store_each_member(s, "alice", log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 2);
	CHECK_EQ(log.tags[0], 0x20);   /* seen first */
	CHECK_EQ(log.tags[1], 0x10);
	CHECK_EQ(log.chain_len[1], sizeof chain2);

	memset(&log, 0, sizeof log);
	CHECK_EQ(store_each_member(s, NULL, log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 4);
	CHECK_EQ(log.tags[0], 0x40);   /* "Alice" sorts before "alice" (binary) */
	CHECK_EQ(log.tags[1], 0x20);
	CHECK_EQ(log.tags[2], 0x10);
	CHECK_EQ(log.tags[3], 0x30);

	memset(&log, 0, sizeof log);
	CHECK_EQ(store_each_member(s, "nobody", log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 0);

	memset(&log, 0, sizeof log);
	fill(pk, sizeof pk, 0x30);
	CHECK_EQ(store_members_by_keyid(s, pk, log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 2);
	CHECK_EQ(log.tags[0], 0x40);
	CHECK_EQ(log.tags[1], 0x30);
	memset(&log, 0, sizeof log);
	fill(pk, sizeof pk, 0x10);
	CHECK_EQ(store_members_by_keyid(s, pk, log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 1);
	store_close(s);
}

static void
test_revocations(void)
{
	struct store *s = open_named("revoke.db");
	uint8_t a[APAGON_SIGN_PK], b[APAGON_SIGN_PK], ca[APAGON_SIGN_PK], ca2[APAGON_SIGN_PK];

	fill(a, sizeof a, 0xa);
	fill(b, sizeof b, 0xb);
	fill(ca, sizeof ca, 0xc);
	fill(ca2, sizeof ca2, 0xd);
	CHECK_EQ(store_is_revoked(s, a, NULL), 0);
	CHECK_EQ(store_put_revocation(s, a, ca, 1000, "key lost"), MESH_OK);
	CHECK_EQ(store_put_revocation(s, a, ca, 2000, "again"), MESH_OK);   /* idempotent */
	CHECK_EQ(store_put_revocation(s, b, ca2, 1000, NULL), MESH_OK);
	CHECK_EQ(store_is_revoked(s, a, NULL), 1);
	CHECK_EQ(store_is_revoked(s, a, ca), 1);
	CHECK_EQ(store_is_revoked(s, a, ca2), 0);
	CHECK_EQ(store_is_revoked(s, b, ca2), 1);
	CHECK_EQ(store_is_revoked(s, ca, NULL), 0);
	CHECK_EQ(sql_int("revoke.db", "SELECT revoked_at FROM revocations WHERE reason = 'key lost'"),
	    1000);
	store_close(s);
}

static void
test_peer_prekeys(void)
{
	struct store *s = open_named("peerpk.db");
	struct peer_prekey p, got;
	uint8_t owner[APAGON_SIGN_PK], other[APAGON_SIGN_PK];
	static const struct {
		uint32_t serial, not_after;
	} rows[] = { { 1, 1000 }, { 2, 2000 }, { 258, 3000 }, { 3, 500 } };

	fill(owner, sizeof owner, 0x51);
	fill(other, sizeof other, 0x52);
	CHECK_EQ(store_peer_prekey_current(s, owner, 0, &got), MESH_ENOTFOUND);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(&p, 0, sizeof p);
		memcpy(p.owner, owner, sizeof owner);
		p.serial = rows[i].serial;
		fill(p.pk, sizeof p.pk, (uint8_t)(rows[i].serial + 1));
		p.not_after = rows[i].not_after;
		CHECK_EQ(store_put_peer_prekey(s, &p), MESH_OK);
	}
	/* Same serial again: a refresh, not an error. */
	CHECK_EQ(store_put_peer_prekey(s, &p), MESH_OK);
	memcpy(p.owner, other, sizeof other);
	p.serial = 999;
	p.not_after = 99999;
	CHECK_EQ(store_put_peer_prekey(s, &p), MESH_OK);

	CHECK_EQ(store_peer_prekey_current(s, owner, 100, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	CHECK(memcmp(got.owner, owner, sizeof owner) == 0);
	CHECK_EQ(got.pk[0], (uint8_t)259);
	CHECK_EQ(got.not_after, 3000);
	CHECK_EQ(store_peer_prekey_current(s, owner, 2999, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	CHECK_EQ(store_peer_prekey_current(s, owner, 3000, &got), MESH_ENOTFOUND);

	/* 258 & 255 == 2: the higher serial wins over 2. */
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 2, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 1);
	CHECK_EQ(got.pk[0], 2);
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 3, &got), MESH_OK);  /* expired too */
	CHECK_EQ(got.serial, 3);
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 4, &got), MESH_ENOTFOUND);
	CHECK_EQ(store_peer_prekey_by_serial8(s, other, 999 & 255, &got), MESH_OK);
	CHECK_EQ(got.serial, 999);
	store_close(s);
}

/* Read a whole file; NULL with *len 0 if it does not exist. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
	}
	fclose(f);
	return buf;
}

static int
contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	for (size_t i = 0; hay && i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return 1;
	return 0;
}

/* 1 if the bytes are anywhere in the database or its WAL. */
static int
on_disk(const char *name, const uint8_t *secret, size_t n)
{
	char path[256], wal[300];
	uint8_t *a, *b;
	size_t alen, blen;
	int found;

	path_of(path, sizeof path, name);
	snprintf(wal, sizeof wal, "%s-wal", path);
	a = slurp(path, &alen);
	b = slurp(wal, &blen);
	found = contains(a, alen, secret, n) || contains(b, blen, secret, n);
	free(a);
	free(b);
	return found;
}

static void
test_own_prekeys(void)
{
	struct store *s = open_named("ownpk.db");
	struct own_prekey p[4], got;
	int deleted = -1;

	CHECK_EQ(store_own_prekey_current(s, &got), MESH_ENOTFOUND);
	for (int i = 0; i < 4; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].serial = (uint32_t[]){ 1, 2, 257, 3 }[i];
		randombytes_buf(p[i].pk, sizeof p[i].pk);
		randombytes_buf(p[i].sealed_sk, sizeof p[i].sealed_sk);
		p[i].created = 100 * (i + 1);
		CHECK_EQ(store_put_own_prekey(s, &p[i]), MESH_OK);
	}
	CHECK_EQ(store_put_own_prekey(s, &p[0]), MESH_EDUPLICATE);

	CHECK_EQ(store_own_prekey_current(s, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);
	CHECK(memcmp(got.pk, p[2].pk, sizeof got.pk) == 0);
	CHECK(memcmp(got.sealed_sk, p[2].sealed_sk, sizeof got.sealed_sk) == 0);
	CHECK_EQ(got.created, 300);
	CHECK_EQ(got.retired_at, 0);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);
	CHECK_EQ(store_own_prekey_by_serial8(s, 2, &got), MESH_OK);
	CHECK_EQ(got.serial, 2);
	CHECK(memcmp(got.sealed_sk, p[1].sealed_sk, sizeof got.sealed_sk) == 0);
	CHECK_EQ(store_own_prekey_by_serial8(s, 9, &got), MESH_ENOTFOUND);

	/* Retire all but 257, once: a second retire keeps the first timestamp. */
	CHECK_EQ(store_retire_own_prekeys(s, 1000), MESH_OK);
	CHECK_EQ(store_retire_own_prekeys(s, 2000), MESH_OK);
	CHECK_EQ(store_own_prekey_by_serial8(s, 3, &got), MESH_OK);
	CHECK_EQ(got.retired_at, 1000);
	CHECK_EQ(store_own_prekey_current(s, &got), MESH_OK);
	CHECK_EQ(got.retired_at, 0);

	/* A newer prekey arrives; the next retire catches 257 at 3000. */
	memset(&got, 0, sizeof got);
	got.serial = 258;
	randombytes_buf(got.sealed_sk, sizeof got.sealed_sk);
	CHECK_EQ(store_put_own_prekey(s, &got), MESH_OK);
	CHECK_EQ(store_retire_own_prekeys(s, 3000), MESH_OK);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);
	CHECK_EQ(got.retired_at, 3000);

	/* The secrets are on disk (DB or WAL) until deleted. */
	for (int i = 0; i < 4; i++)
		CHECK(on_disk("ownpk.db", p[i].sealed_sk, sizeof p[i].sealed_sk));

	CHECK_EQ(store_delete_old_prekeys(s, 999, &deleted), MESH_OK);
	CHECK_EQ(deleted, 0);
	CHECK_EQ(store_delete_old_prekeys(s, 1000, &deleted), MESH_OK);
	CHECK_EQ(deleted, 3);
	CHECK_EQ(store_own_prekey_by_serial8(s, 3, &got), MESH_ENOTFOUND);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);

	/* Gone from every byte of the database and the WAL, with the store still open. */
	CHECK(!on_disk("ownpk.db", p[0].sealed_sk, sizeof p[0].sealed_sk));
	CHECK(!on_disk("ownpk.db", p[1].sealed_sk, sizeof p[1].sealed_sk));
	CHECK(!on_disk("ownpk.db", p[3].sealed_sk, sizeof p[3].sealed_sk));
	CHECK(on_disk("ownpk.db", p[2].sealed_sk, sizeof p[2].sealed_sk));

	/* Inside a transaction the delete happens (and rolls back), no checkpoint. */
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_delete_old_prekeys(s, 5000, &deleted), MESH_OK);
	CHECK_EQ(deleted, 1);
	store_rollback(s);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(store_delete_old_prekeys(s, 5000, NULL), MESH_OK);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_ENOTFOUND);
	CHECK(!on_disk("ownpk.db", p[2].sealed_sk, sizeof p[2].sealed_sk));
	CHECK_EQ(store_own_prekey_current(s, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	store_close(s);
}

static void
mk_msg(struct msg_rec *m, uint8_t tag, int dir, int state, int64_t local_time,
    int64_t expires_at, const uint8_t *text, size_t len)
{
	memset(m, 0, sizeof *m);
	fill(m->bundle_id, sizeof m->bundle_id, tag);
	fill(m->peer_pk, sizeof m->peer_pk, (uint8_t)(tag + 0x80));
	m->dir = dir;
	m->state = state;
	m->precedence = PREC_IMMEDIATE;
	m->created = 77;
	m->local_time = local_time;
	m->expires_at = expires_at;
	m->sealed_text = text;
	m->sealed_len = len;
}

struct msg_log {
	uint8_t tags[16];
	int n;
};

static int
log_msg(void *ctx, const struct msg_rec *m)
{
	struct msg_log *log = ctx;

	if (log->n < 16)
		log->tags[log->n] = m->bundle_id[0];
	CHECK_EQ(m->sealed_len, 5);
	CHECK(m->sealed_text[0] == m->bundle_id[0]);
	log->n++;
	return 0;
}

static void
test_messages(void)
{
	struct store *s = open_named("msgs.db");
	uint8_t text[8][5], id[APAGON_HASH];
	static const struct {
		uint8_t tag;
		int dir, state;
		int64_t local_time, expires_at;
	} rows[] = {
		{ 1, MSG_OUT, OUT_QUEUED, 300, 1000 },
		{ 2, MSG_OUT, OUT_QUEUED, 100, 2000 },
		{ 3, MSG_IN, IN_UNREAD, 200, 1000 },
		{ 4, MSG_OUT, OUT_SENT, 300, 500 },
		{ 5, MSG_IN, IN_UNREAD, 50, 1000 },
		{ 6, MSG_OUT, OUT_DELIVERED, 10, 100 },
	};
	struct msg_log log = { .n = 0 };
	struct msg_rec m, got;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(text[i], rows[i].tag, 5);
		mk_msg(&m, rows[i].tag, rows[i].dir, rows[i].state, rows[i].local_time,
		    rows[i].expires_at, text[i], 5);
		CHECK_EQ(store_put_msg(s, &m), MESH_OK);
	}
	CHECK_EQ(store_put_msg(s, &m), MESH_EDUPLICATE);

	fill(id, sizeof id, 1);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.dir, MSG_OUT);
	CHECK_EQ(got.state, OUT_QUEUED);
	CHECK_EQ(got.precedence, PREC_IMMEDIATE);
	CHECK_EQ(got.created, 77);
	CHECK_EQ(got.local_time, 300);
	CHECK_EQ(got.expires_at, 1000);
	CHECK_EQ(got.sent_count, 0);
	CHECK_EQ(got.peer_pk[0], 0x81);
	CHECK_EQ(got.sealed_len, 5);
	CHECK(memcmp(got.sealed_text, text[0], 5) == 0);
	CHECK(strcmp(got.reason, "") == 0);
	fill(id, sizeof id, 0x42);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_ENOTFOUND);

	CHECK_EQ(store_each_msg(s, MSG_OUT, log_msg, &log), MESH_OK);
	CHECK_EQ(log.n, 4);
	CHECK(memcmp(log.tags, (uint8_t[]){ 6, 2, 1, 4 }, 4) == 0);
	memset(&log, 0, sizeof log);
	CHECK_EQ(store_each_msg(s, MSG_IN, log_msg, &log), MESH_OK);
	CHECK_EQ(log.n, 2);
	CHECK(memcmp(log.tags, (uint8_t[]){ 5, 3 }, 2) == 0);

	/* add_sent: QUEUED -> SENT, counts add up; other states unchanged. */
	fill(id, sizeof id, 1);
	CHECK_EQ(store_msg_add_sent(s, id, 2, 0), MESH_OK);
	CHECK_EQ(store_msg_add_sent(s, id, 1, 0), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.sent_count, 3);
	CHECK_EQ(got.exported, 0);
	CHECK_EQ(got.state, OUT_SENT);
	CHECK_EQ(store_msg_add_sent(s, id, 0, 2), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.sent_count, 3);
	CHECK_EQ(got.exported, 2);
	fill(id, sizeof id, 6);
	CHECK_EQ(store_msg_add_sent(s, id, 1, 0), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	CHECK_EQ(got.sent_count, 1);
	fill(id, sizeof id, 0x42);
	CHECK_EQ(store_msg_add_sent(s, id, 1, 0), MESH_ENOTFOUND);

	/* set_state: delivered stamps delivered_at; reason only when given. */
	fill(id, sizeof id, 1);
	CHECK_EQ(store_msg_set_state(s, id, OUT_DELIVERED, 4242, NULL), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	CHECK_EQ(got.delivered_at, 4242);
	CHECK(strcmp(got.reason, "") == 0);
	fill(id, sizeof id, 3);
	CHECK_EQ(store_msg_set_state(s, id, IN_READ, 5000, "opened"), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, IN_READ);
	CHECK_EQ(got.delivered_at, 0);
	CHECK(strcmp(got.reason, "opened") == 0);
	fill(id, sizeof id, 0x42);
	CHECK_EQ(store_msg_set_state(s, id, IN_READ, 0, NULL), MESH_ENOTFOUND);

	/* expire: only outbox QUEUED/SENT with expires_at <= now. */
	CHECK_EQ(store_msg_expire(s, 999, "lifetime over"), MESH_OK);
	fill(id, sizeof id, 4);                 /* SENT, expired at 500 */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_EXPIRED);
	CHECK(strcmp(got.reason, "lifetime over") == 0);
	fill(id, sizeof id, 2);                 /* QUEUED, until 2000 */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_QUEUED);
	fill(id, sizeof id, 6);                 /* DELIVERED stays delivered */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	fill(id, sizeof id, 5);                 /* inbox is never expired */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, IN_UNREAD);
	CHECK_EQ(store_msg_expire(s, 2000, "lifetime over"), MESH_OK);
	fill(id, sizeof id, 2);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_EXPIRED);
	store_close(s);

	/* Persisted. */
	s = open_named("msgs.db");
	fill(id, sizeof id, 1);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.delivered_at, 4242);
	CHECK(memcmp(got.sealed_text, text[0], 5) == 0);
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

static int
setup(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

static void
teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_open_reopen),
		TEST(test_migrate_from_v1),
		TEST(test_newer_schema),
		TEST(test_meta),
		TEST(test_counters),
		TEST(test_transactions),
		TEST(test_bundle_put_get),
		TEST(test_tombstone),
		TEST(test_gc),
		TEST(test_each_bundle),
		TEST(test_quota_sender),
		TEST(test_quota_total),
		TEST(test_quota_protected),
		TEST(test_quota_rank),
		TEST(test_quota_nothing_evicted),
		TEST(test_usage_two_handles),
		TEST(test_usage_rollback),
		TEST(test_usage_savepoint),
		TEST(test_usage_deletes),
		TEST(test_usage_many_senders),
		TEST(test_members),
		TEST(test_revocations),
		TEST(test_peer_prekeys),
		TEST(test_own_prekeys),
		TEST(test_messages),
	};
	int rc;

	if (setup() != 0)
		return 1;
	rc = test_main("store", cases, sizeof cases / sizeof cases[0], argc, argv);
	teardown();
	return rc;
}
