/*
 * The store's quotas and usage figures: per sender and in total, exact across
 * connections, rollbacks, savepoints and every kind of delete, against real SQLite
 * files in a temporary directory.
 */
#include "../test.h"
#include "store_fixture.h"

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

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_quota_sender),
		TEST(test_quota_total),
		TEST(test_quota_protected),
		TEST(test_quota_rank),
		TEST(test_usage_two_handles),
		TEST(test_usage_rollback),
		TEST(test_usage_savepoint),
		TEST(test_usage_deletes),
		TEST(test_quota_nothing_evicted),
		TEST(test_usage_many_senders),
	};
	int rc;

	if (setup() != 0)
		return 1;
	rc = test_main("quota", cases, sizeof cases / sizeof cases[0], argc, argv);
	teardown();
	return rc;
}
