/*
 * The store's bundles: the held bundles and the tombstones of those delivered, the
 * quotas and eviction that make room, expiry (store_gc), and the usage figures the
 * quotas are checked against (see struct store in store_internal.h).
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "mesh.h"
#include "store_internal.h"

/* A bundle chosen for eviction by store_make_room(). */
struct victim {
	uint8_t id[APAGON_HASH];
	int64_t size;
};

/* ---- usage figures (see struct store) ---- */

static int
data_version(struct store *s, int64_t *v)
{
	sqlite3_stmt *st = stmt_acquire(s, Q_DATA_VERSION);
	int rc;

	if (st == NULL)
		return MESH_ESTORE;
	rc = stmt_run_int(s, st, v);
	stmt_release(s, Q_DATA_VERSION, st);
	return rc;
}

int
store_data_version(struct store *s, int64_t *v)
{
	return data_version(s, v);
}

/* Mark the figures stale if another connection committed since they were right. */
int
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
	if ((st = stmt_acquire(s, Q_USAGE_LOAD)) == NULL)
		return MESH_ESTORE;
	usage_map_clear(&s->usage);
	s->usage_total = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		stmt_col_bytes(st, 0, pk, sizeof pk);
		bytes = sqlite3_column_int64(st, 1);
		if (usage_map_add(&s->usage, pk, bytes) != MESH_OK) {
			rc = MESH_ENOMEM;
			goto out;
		}
		s->usage_total += bytes;
	}
	if (rc != SQLITE_DONE) {
		rc = store_fail(s);
		goto out;
	}
	s->data_version = v;
	s->usage_loaded = 1;
	rc = MESH_OK;
out:
	stmt_release(s, Q_USAGE_LOAD, st);
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

/* ---- bundles ---- */

void
store_set_quota(struct store *s, const struct store_quota *q)
{
	if (q)
		s->quota = *q;
	else
		memset(&s->quota, 0, sizeof s->quota);
}

/* Run an EXISTS query q on ?1 = id: 1 or 0, or a MESH_E* code. */
static int
id_exists(struct store *s, enum query q, const uint8_t id[APAGON_HASH])
{
	sqlite3_stmt *st;
	int64_t v = 0;
	int rc;

	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, id, APAGON_HASH))
		rc = store_fail(s);
	else
		rc = stmt_run_int(s, st, &v);
	stmt_release(s, q, st);
	return rc == MESH_OK ? (v != 0) : rc;
}

int
store_has_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	if (id == NULL)
		return MESH_EINVAL;
	return id_exists(s, Q_HAS_BUNDLE, id);
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
		stmt_col_bytes(st, 0, pk, sizeof pk);
		usage_account(s, pk, -sqlite3_column_int64(st, 1));
		rows++;
	}
	if (rc != SQLITE_DONE)
		return store_fail(s);
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

	if ((st = stmt_acquire(s, Q_DELETE_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, id, APAGON_HASH))
		rc = store_fail(s);
	else if ((rc = delete_rows(s, st, &n)) == MESH_OK && n == 0)
		rc = MESH_ENOTFOUND;
	stmt_release(s, Q_DELETE_BUNDLE, st);
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

	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, sender_pk, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 2, precedence) ||
	    sqlite3_bind_int64(st, 3, expires_at) ||
	    sqlite3_bind_int(st, 4, BUNDLE_CERT) ||
	    sqlite3_bind_int(st, 5, BUNDLE_PREKEY) ||
	    sqlite3_bind_int(st, 6, BUNDLE_REVOKE)) {
		rc = store_fail(s);
		goto out;
	}
	while (need > 0) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			rc = rc == SQLITE_DONE ? MESH_EQUOTA : store_fail(s);
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
		stmt_col_bytes(st, 0, v->id, sizeof v->id);
		v->size = sqlite3_column_int64(st, 1);
		need -= v->size;
		*freed += v->size;
	}
	rc = MESH_OK;
out:
	stmt_release(s, q, st);
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
		store_set_errmsg(s, "store_make_room outside a transaction");
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
	if ((rc = store_op_begin(s)) != MESH_OK)
		return rc;
	for (size_t i = 0; i < s->nvictim && rc == MESH_OK; i++)
		rc = delete_bundle(s, s->victim[i].id);
	return store_op_end(s, rc);
}

/* Insert one bundle row, unless it is held or tombstoned. */
static int
put_row(struct store *s, const struct stored_bundle *sb)
{
	sqlite3_stmt *st;
	int rc;

	/* A tombstoned ID was delivered already: a replay, not a new bundle. */
	if ((rc = id_exists(s, Q_TOMBSTONED, sb->id)) < 0)
		return rc;
	if (rc)
		return MESH_EDUPLICATE;

	if ((st = stmt_acquire(s, Q_PUT_BUNDLE)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, sb->id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, sb->type) ||
	    sqlite3_bind_int(st, 3, sb->precedence) ||
	    stmt_bind_blob(st, 4, sb->sender_pk, APAGON_SIGN_PK) ||
	    stmt_bind_blob(st, 5, sb->recipient, APAGON_KEYID) ||
	    sqlite3_bind_int64(st, 6, sb->created) ||
	    sqlite3_bind_int64(st, 7, sb->stored_at) ||
	    sqlite3_bind_int64(st, 8, sb->expires_at) ||
	    sqlite3_bind_int(st, 9, sb->own != 0) ||
	    sqlite3_bind_int(st, 10, sb->pinned != 0) ||
	    sqlite3_bind_int64(st, 11, (int64_t)sb->raw_len) ||
	    stmt_bind_blob(st, 12, sb->raw, sb->raw_len))
		rc = store_fail(s);
	else if ((rc = stmt_run(s, st)) == MESH_OK)
		usage_account(s, sb->sender_pk, (int64_t)sb->raw_len);
	stmt_release(s, Q_PUT_BUNDLE, st);
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
	if ((rc = store_op_begin(s)) != MESH_OK)
		return rc;
	rc = put_row(s, sb);
	/* A duplicate wrote nothing: no need to roll back. */
	end = store_op_end(s, rc == MESH_EDUPLICATE ? MESH_OK : rc);
	return end != MESH_OK ? end : rc;
}

/* Fill sb from a BUNDLE_COLS row; raw points into the row. */
static void
row_bundle_brief(sqlite3_stmt *st, struct stored_bundle *sb)
{
	stmt_col_bytes(st, 0, sb->id, sizeof sb->id);
	sb->type = (uint8_t)sqlite3_column_int(st, 1);
	sb->precedence = (uint8_t)sqlite3_column_int(st, 2);
	stmt_col_bytes(st, 3, sb->sender_pk, sizeof sb->sender_pk);
	stmt_col_bytes(st, 4, sb->recipient, sizeof sb->recipient);
	sb->created = (uint32_t)sqlite3_column_int64(st, 5);
	sb->stored_at = sqlite3_column_int64(st, 6);
	sb->expires_at = sqlite3_column_int64(st, 7);
	sb->own = sqlite3_column_int(st, 8);
	sb->pinned = sqlite3_column_int(st, 9);
}

static void
row_bundle(sqlite3_stmt *st, struct stored_bundle *sb)
{
	row_bundle_brief(st, sb);
	sb->raw = stmt_col_ref(st, 10, &sb->raw_len);
}

/* One bundle by ID: Q_GET_BUNDLE with its bytes copied out, or Q_GET_BUNDLE_BRIEF
 * without them. */
static int
get_bundle(struct store *s, enum query q, const uint8_t id[APAGON_HASH],
    struct stored_bundle *sb)
{
	struct stored_bundle tmp;
	sqlite3_stmt *st;
	int rc;

	if (id == NULL || sb == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	memset(&tmp, 0, sizeof tmp);
	if ((rc = stmt_get(s, st, id, APAGON_HASH)) == MESH_OK) {
		if (q == Q_GET_BUNDLE)
			row_bundle(st, &tmp);
		else
			row_bundle_brief(st, &tmp);
		if (q == Q_GET_BUNDLE &&
		    (tmp.raw = store_buf_copy(&s->raw, tmp.raw, tmp.raw_len)) == NULL)
			rc = MESH_ENOMEM;
		else
			*sb = tmp;
	}
	stmt_release(s, q, st);
	return rc;
}

int
store_get_bundle(struct store *s, const uint8_t id[APAGON_HASH], struct stored_bundle *sb)
{
	return get_bundle(s, Q_GET_BUNDLE, id, sb);
}

int
store_get_bundle_brief(struct store *s, const uint8_t id[APAGON_HASH], struct stored_bundle *sb)
{
	return get_bundle(s, Q_GET_BUNDLE_BRIEF, id, sb);
}

static int
each_bundle(struct store *s, enum query q, int64_t now,
    int (*fn)(void *, const struct stored_bundle *), void *ctx)
{
	struct stored_bundle sb;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, now)) {
		rc = store_fail(s);
		goto out;
	}
	memset(&sb, 0, sizeof sb);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (q == Q_EACH_BUNDLE)
			row_bundle(st, &sb);
		else
			row_bundle_brief(st, &sb);
		if ((rc = fn(ctx, &sb)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? MESH_OK : store_fail(s);
out:
	stmt_release(s, q, st);
	return rc;
}

int
store_each_bundle(struct store *s, int64_t now,
    int (*fn)(void *, const struct stored_bundle *), void *ctx)
{
	return each_bundle(s, Q_EACH_BUNDLE, now, fn, ctx);
}

int
store_each_bundle_brief(struct store *s, int64_t now,
    int (*fn)(void *, const struct stored_bundle *), void *ctx)
{
	return each_bundle(s, Q_EACH_BUNDLE_BRIEF, now, fn, ctx);
}

/* Run a one-blob-parameter statement; MESH_ENOTFOUND if it changed no row. */
static int
run_on_id(struct store *s, enum query q, const uint8_t *id, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, id, len))
		rc = store_fail(s);
	else
		rc = stmt_run_changed(s, st);
	stmt_release(s, q, st);
	return rc;
}

int
store_purge_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	int rc, end;

	if (id == NULL)
		return MESH_EINVAL;
	if ((rc = store_op_begin(s)) != MESH_OK)
		return rc;
	rc = run_on_id(s, Q_TOMBSTONE, id, APAGON_HASH);
	if (rc == MESH_OK)
		rc = delete_bundle(s, id);
	/* No row wrote nothing: no need to roll back. (A rollback also drops the usage
	 * figures, and reloading them reads every bundle row: a message delivered
	 * before its row was written, the usual case, cost that scan each time.) */
	end = store_op_end(s, rc == MESH_ENOTFOUND ? MESH_OK : rc);
	return end != MESH_OK ? end : rc;
}

int
store_put_tombstone(struct store *s, const uint8_t id[APAGON_HASH], int64_t expires_at)
{
	sqlite3_stmt *st;
	int rc;

	if (id == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_PUT_TOMBSTONE)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, id, APAGON_HASH) || sqlite3_bind_int64(st, 2, expires_at))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_TOMBSTONE, st);
	return rc;
}

int
store_unpin_bundle(struct store *s, const uint8_t id[APAGON_HASH])
{
	if (id == NULL)
		return MESH_EINVAL;
	return run_on_id(s, Q_UNPIN, id, APAGON_HASH);
}

int
store_gc(struct store *s, int64_t now, int *removed)
{
	sqlite3_stmt *st;
	int n = 0, rc;

	if ((rc = store_op_begin(s)) != MESH_OK)
		return rc;
	if ((st = stmt_acquire(s, Q_GC_BUNDLES)) == NULL)
		rc = MESH_ESTORE;
	else if (sqlite3_bind_int64(st, 1, now))
		rc = store_fail(s);
	else
		rc = delete_rows(s, st, &n);
	stmt_release(s, Q_GC_BUNDLES, st);
	if (rc == MESH_OK)
		rc = stmt_run_on_int(s, Q_GC_TOMBSTONES, now, NULL);
	if ((rc = store_op_end(s, rc)) == MESH_OK && removed)
		*removed = n;
	return rc;
}

