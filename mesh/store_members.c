/*
 * The store's keys and who holds them: members and their certificate chains,
 * revocations, the prekeys peers published, and our own prekeys with their sealed
 * secrets.
 */
#include "store.h"

#include <string.h>

#include "mesh.h"
#include "store_internal.h"

/* ---- members ---- */

int
store_put_member(struct store *s, const struct member *m)
{
	sqlite3_stmt *st;
	int rc;

	if (m == NULL || (m->chain == NULL && m->chain_len))
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_PUT_MEMBER)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, m->pk, APAGON_SIGN_PK) ||
	    stmt_bind_blob(st, 2, m->key_id, APAGON_KEYID) ||
	    stmt_bind_blob(st, 3, m->issuer, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 4, m->role) ||
	    stmt_bind_field(st, 5, m->name, sizeof m->name - 1) ||
	    stmt_bind_field(st, 6, m->unit, sizeof m->unit - 1) ||
	    sqlite3_bind_int64(st, 7, m->not_before) ||
	    sqlite3_bind_int64(st, 8, m->not_after) ||
	    sqlite3_bind_int64(st, 9, m->first_seen) ||
	    sqlite3_bind_int(st, 10, m->verified) ||
	    stmt_bind_blob(st, 11, m->chain, m->chain_len))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_MEMBER, st);
	return rc;
}

/* Fill m from a MEMBER_COLS row; chain points into the row. */
static void
row_member(sqlite3_stmt *st, struct member *m)
{
	stmt_col_bytes(st, 0, m->pk, sizeof m->pk);
	stmt_col_bytes(st, 1, m->key_id, sizeof m->key_id);
	stmt_col_bytes(st, 2, m->issuer, sizeof m->issuer);
	m->role = sqlite3_column_int(st, 3);
	stmt_col_field(st, 4, m->name, sizeof m->name);
	stmt_col_field(st, 5, m->unit, sizeof m->unit);
	m->not_before = (uint32_t)sqlite3_column_int64(st, 6);
	m->not_after = (uint32_t)sqlite3_column_int64(st, 7);
	m->first_seen = sqlite3_column_int64(st, 8);
	m->verified = sqlite3_column_int(st, 9);
	m->chain = stmt_col_ref(st, 10, &m->chain_len);
}

int
store_get_member(struct store *s, const uint8_t pk[APAGON_SIGN_PK], struct member *m)
{
	struct member tmp;
	sqlite3_stmt *st;
	int rc;

	if (pk == NULL || m == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_GET_MEMBER)) == NULL)
		return MESH_ESTORE;
	if ((rc = stmt_get(s, st, pk, APAGON_SIGN_PK)) == MESH_OK) {
		row_member(st, &tmp);
		tmp.chain = store_buf_copy(&s->chain, tmp.chain, tmp.chain_len);
		if (tmp.chain == NULL)
			rc = MESH_ENOMEM;
		else
			*m = tmp;
	}
	stmt_release(s, Q_GET_MEMBER, st);
	return rc;
}

/* Call fn for each row of an already-bound member query. */
static int
each_member(struct store *s, sqlite3_stmt *st, int (*fn)(void *, const struct member *),
    void *ctx)
{
	struct member m;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_member(st, &m);
		if ((rc = fn(ctx, &m)) != 0)
			return rc;
	}
	return rc == SQLITE_DONE ? MESH_OK : store_fail(s);
}

int
store_members_by_keyid(struct store *s, const uint8_t key_id[APAGON_KEYID],
    int (*fn)(void *, const struct member *), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if (key_id == NULL || fn == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_MEMBERS_BY_KEYID)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, key_id, APAGON_KEYID))
		rc = store_fail(s);
	else
		rc = each_member(s, st, fn, ctx);
	stmt_release(s, Q_MEMBERS_BY_KEYID, st);
	return rc;
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
	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (name && stmt_bind_text(st, 1, name))
		rc = store_fail(s);
	else
		rc = each_member(s, st, fn, ctx);
	stmt_release(s, q, st);
	return rc;
}

int
store_set_verified(struct store *s, const uint8_t pk[APAGON_SIGN_PK], int verified)
{
	sqlite3_stmt *st;
	int rc;

	if (pk == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_SET_VERIFIED)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, pk, APAGON_SIGN_PK) || sqlite3_bind_int(st, 2, verified))
		rc = store_fail(s);
	else
		rc = stmt_run_changed(s, st);
	stmt_release(s, Q_SET_VERIFIED, st);
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
	if ((st = stmt_acquire(s, Q_PUT_REVOCATION)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, subject, APAGON_SIGN_PK) ||
	    stmt_bind_blob(st, 2, revoker, APAGON_SIGN_PK) ||
	    sqlite3_bind_int64(st, 3, revoked_at) ||
	    stmt_bind_text(st, 4, reason ? reason : ""))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_REVOCATION, st);
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
	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, subject, APAGON_SIGN_PK) ||
	    (revoker && stmt_bind_blob(st, 2, revoker, APAGON_SIGN_PK)))
		rc = store_fail(s);
	else
		rc = stmt_run_int(s, st, &v);
	stmt_release(s, q, st);
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
	if ((st = stmt_acquire(s, Q_PUT_PEER_PREKEY)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, p->owner, APAGON_SIGN_PK) ||
	    sqlite3_bind_int64(st, 2, p->serial) ||
	    stmt_bind_blob(st, 3, p->pk, APAGON_DH_PK) ||
	    sqlite3_bind_int64(st, 4, p->not_after))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_PEER_PREKEY, st);
	return rc;
}

/* Fill p from a peer prekey row. */
static void
row_peer_prekey(sqlite3_stmt *st, struct peer_prekey *p)
{
	stmt_col_bytes(st, 0, p->owner, sizeof p->owner);
	p->serial = (uint32_t)sqlite3_column_int64(st, 1);
	stmt_col_bytes(st, 2, p->pk, sizeof p->pk);
	p->not_after = (uint32_t)sqlite3_column_int64(st, 3);
}

int
store_peer_prekey_current(struct store *s, const uint8_t owner[APAGON_SIGN_PK], int64_t now,
    struct peer_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (owner == NULL || p == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_PEER_PREKEY_CURRENT)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, owner, APAGON_SIGN_PK) || sqlite3_bind_int64(st, 2, now))
		rc = store_fail(s);
	else if ((rc = stmt_step_row(s, st)) == MESH_OK)
		row_peer_prekey(st, p);
	stmt_release(s, Q_PEER_PREKEY_CURRENT, st);
	return rc;
}

int
store_peer_prekey_by_serial8(struct store *s, const uint8_t owner[APAGON_SIGN_PK],
    uint8_t serial8, struct peer_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (owner == NULL || p == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_PEER_PREKEY_SERIAL8)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, owner, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 2, serial8))
		rc = store_fail(s);
	else if ((rc = stmt_step_row(s, st)) == MESH_OK)
		row_peer_prekey(st, p);
	stmt_release(s, Q_PEER_PREKEY_SERIAL8, st);
	return rc;
}

/* ---- own prekeys ---- */

int
store_put_own_prekey(struct store *s, const struct own_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_PUT_OWN_PREKEY)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, p->serial) ||
	    stmt_bind_blob(st, 2, p->pk, APAGON_DH_PK) ||
	    stmt_bind_blob(st, 3, p->sealed_sk, sizeof p->sealed_sk) ||
	    sqlite3_bind_int64(st, 4, p->created) ||
	    sqlite3_bind_int64(st, 5, p->retired_at))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_OWN_PREKEY, st);
	return rc;
}

/* Fill p from an own prekey row. */
static void
row_own_prekey(sqlite3_stmt *st, struct own_prekey *p)
{
	p->serial = (uint32_t)sqlite3_column_int64(st, 0);
	stmt_col_bytes(st, 1, p->pk, sizeof p->pk);
	stmt_col_bytes(st, 2, p->sealed_sk, sizeof p->sealed_sk);
	p->created = sqlite3_column_int64(st, 3);
	p->retired_at = sqlite3_column_int64(st, 4);
}

int
store_own_prekey_current(struct store *s, struct own_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_OWN_PREKEY_CURRENT)) == NULL)
		return MESH_ESTORE;
	if ((rc = stmt_step_row(s, st)) == MESH_OK)
		row_own_prekey(st, p);
	stmt_release(s, Q_OWN_PREKEY_CURRENT, st);
	return rc;
}

int
store_own_prekey_by_serial8(struct store *s, uint8_t serial8, struct own_prekey *p)
{
	sqlite3_stmt *st;
	int rc;

	if (p == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_OWN_PREKEY_SERIAL8)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int(st, 1, serial8))
		rc = store_fail(s);
	else if ((rc = stmt_step_row(s, st)) == MESH_OK)
		row_own_prekey(st, p);
	stmt_release(s, Q_OWN_PREKEY_SERIAL8, st);
	return rc;
}

int
store_retire_own_prekeys(struct store *s, int64_t now)
{
	return stmt_run_on_int(s, Q_RETIRE_OWN_PREKEYS, now, NULL);
}

int
store_delete_old_prekeys(struct store *s, int64_t cutoff, int *deleted)
{
	int n = 0, rc;

	if ((rc = stmt_run_on_int(s, Q_DELETE_OLD_PREKEYS, cutoff, &n)) != MESH_OK)
		return rc;
	/*
	 * secure_delete zeroes the freed cells in the new page images, but older images
	 * still hold the secret in the WAL; a TRUNCATE checkpoint copies the zeroed pages
	 * into the database and empties the WAL. Inside a transaction the delete is not
	 * committed yet, so the checkpoint is the caller's to run after COMMIT.
	 */
	if (sqlite3_get_autocommit(s->db)) {
		sqlite3_stmt *st = stmt_acquire(s, Q_CHECKPOINT);

		if (st == NULL)
			return MESH_ESTORE;
		if (sqlite3_step(st) != SQLITE_ROW)
			rc = store_fail(s);
		else if (sqlite3_column_int(st, 0) != 0) {
			store_set_errmsg(s, "WAL checkpoint blocked by a reader");
			rc = MESH_ESTORE;
		}
		stmt_release(s, Q_CHECKPOINT, st);
	}
	if (rc == MESH_OK && deleted)
		*deleted = n;
	return rc;
}

