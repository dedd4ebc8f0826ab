/*
 * The store's message records: what we received (inbox) and what we sent (outbox),
 * with the outbox's delivery state.
 */
#include "store.h"

#include <string.h>

#include "mesh.h"
#include "store_internal.h"

/* The reason a struct msg_rec can give back, with its terminator. */
#define REASON_CAP (sizeof ((struct msg_rec *)0)->reason)

/* ---- messages ---- */

/* The record without its text (message_texts holds that). */
static int
put_msg_row(struct store *s, const struct msg_rec *m)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = stmt_acquire(s, Q_PUT_MSG)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, m->bundle_id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, m->dir) ||
	    sqlite3_bind_int(st, 3, m->state) ||
	    stmt_bind_blob(st, 4, m->peer_pk, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 5, m->precedence) ||
	    sqlite3_bind_int64(st, 6, m->created) ||
	    sqlite3_bind_int64(st, 7, m->local_time) ||
	    sqlite3_bind_int64(st, 8, m->expires_at) ||
	    sqlite3_bind_int(st, 9, m->sent_count) ||
	    sqlite3_bind_int64(st, 10, m->delivered_at) ||
	    stmt_bind_field(st, 11, m->reason, sizeof m->reason - 1) ||
	    sqlite3_bind_int(st, 13, m->exported))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_MSG, st);
	return rc;
}

static int
put_msg_text(struct store *s, const struct msg_rec *m)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = stmt_acquire(s, Q_PUT_MSG_TEXT)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, m->bundle_id, APAGON_HASH) ||
	    stmt_bind_blob(st, 2, m->sealed_text, m->sealed_len))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_MSG_TEXT, st);
	return rc;
}

int
store_put_msg(struct store *s, const struct msg_rec *m)
{
	int rc;

	if (m == NULL || (m->sealed_text == NULL && m->sealed_len))
		return MESH_EINVAL;
	if ((rc = store_op_begin(s)) != MESH_OK)
		return rc;
	rc = put_msg_row(s, m);
	if (rc == MESH_OK)
		rc = put_msg_text(s, m);
	return store_op_end(s, rc);
}

/* Fill m from the columns before sealed_text, as MSG_COLS orders them. */
static void
row_msg_brief(sqlite3_stmt *st, struct msg_rec *m)
{
	stmt_col_bytes(st, 0, m->bundle_id, sizeof m->bundle_id);
	m->dir = sqlite3_column_int(st, 1);
	m->state = sqlite3_column_int(st, 2);
	stmt_col_bytes(st, 3, m->peer_pk, sizeof m->peer_pk);
	m->precedence = sqlite3_column_int(st, 4);
	m->created = (uint32_t)sqlite3_column_int64(st, 5);
	m->local_time = sqlite3_column_int64(st, 6);
	m->expires_at = sqlite3_column_int64(st, 7);
	m->sent_count = sqlite3_column_int(st, 8);
	m->delivered_at = sqlite3_column_int64(st, 9);
	stmt_col_field(st, 10, m->reason, sizeof m->reason);
}

/* Fill m from a MSG_COLS row; sealed_text points into the row. */
static void
row_msg(sqlite3_stmt *st, struct msg_rec *m)
{
	row_msg_brief(st, m);
	m->sealed_text = stmt_col_ref(st, 11, &m->sealed_len);
	m->exported = sqlite3_column_int(st, 12);
}

/* One record by ID: Q_GET_MSG with its text copied out, or Q_GET_MSG_BRIEF without. */
static int
get_msg(struct store *s, enum query q, const uint8_t bundle_id[APAGON_HASH], struct msg_rec *m)
{
	struct msg_rec tmp;
	sqlite3_stmt *st;
	int rc;

	if (bundle_id == NULL || m == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, q)) == NULL)
		return MESH_ESTORE;
	if ((rc = stmt_get(s, st, bundle_id, APAGON_HASH)) == MESH_OK) {
		memset(&tmp, 0, sizeof tmp);
		if (q == Q_GET_MSG_BRIEF) {
			row_msg_brief(st, &tmp);
		} else {
			row_msg(st, &tmp);
			tmp.sealed_text = store_buf_copy(&s->text, tmp.sealed_text, tmp.sealed_len);
			if (tmp.sealed_text == NULL)
				rc = MESH_ENOMEM;
		}
		if (rc == MESH_OK)
			*m = tmp;
	}
	stmt_release(s, q, st);
	return rc;
}

int
store_get_msg(struct store *s, const uint8_t bundle_id[APAGON_HASH], struct msg_rec *m)
{
	return get_msg(s, Q_GET_MSG, bundle_id, m);
}

int
store_get_msg_brief(struct store *s, const uint8_t bundle_id[APAGON_HASH], struct msg_rec *m)
{
	return get_msg(s, Q_GET_MSG_BRIEF, bundle_id, m);
}

int
store_each_msg(struct store *s, int dir, int (*fn)(void *, const struct msg_rec *), void *ctx)
{
	struct msg_rec m;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_EACH_MSG)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int(st, 1, dir)) {
		rc = store_fail(s);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_msg(st, &m);
		if ((rc = fn(ctx, &m)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? MESH_OK : store_fail(s);
out:
	stmt_release(s, Q_EACH_MSG, st);
	return rc;
}

/* Copy reason into field, cut to fit and terminated. */
static void
reason_field(char field[REASON_CAP], const char *reason)
{
	size_t n = strnlen(reason, REASON_CAP - 1);

	memcpy(field, reason, n);
	field[n] = '\0';
}

int
store_msg_set_state(struct store *s, const uint8_t bundle_id[APAGON_HASH], int state,
    int64_t when, const char *reason)
{
	char field[REASON_CAP];
	sqlite3_stmt *st;
	int rc;

	if (bundle_id == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_MSG_SET_STATE)) == NULL)
		return MESH_ESTORE;
	/* Keep the stored reason within what struct msg_rec can give back. */
	if (reason)
		reason_field(field, reason);
	if (stmt_bind_blob(st, 1, bundle_id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, state) ||
	    sqlite3_bind_int64(st, 3, when) ||
	    stmt_bind_text(st, 4, reason ? field : NULL) ||
	    sqlite3_bind_int(st, 5, OUT_DELIVERED))
		rc = store_fail(s);
	else
		rc = stmt_run_changed(s, st);
	stmt_release(s, Q_MSG_SET_STATE, st);
	return rc;
}

int
store_msg_add_sent(struct store *s, const uint8_t bundle_id[APAGON_HASH], int peers,
    int exports)
{
	sqlite3_stmt *st;
	int rc;

	if (bundle_id == NULL || peers < 0 || exports < 0)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_MSG_ADD_SENT)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, bundle_id, APAGON_HASH) ||
	    sqlite3_bind_int(st, 2, peers) ||
	    sqlite3_bind_int(st, 3, OUT_QUEUED) ||
	    sqlite3_bind_int(st, 4, OUT_SENT) ||
	    sqlite3_bind_int(st, 5, exports))
		rc = store_fail(s);
	else
		rc = stmt_run_changed(s, st);
	stmt_release(s, Q_MSG_ADD_SENT, st);
	return rc;
}

int
store_msg_expire(struct store *s, int64_t now, const char *reason)
{
	char field[REASON_CAP];
	sqlite3_stmt *st;
	int rc;

	reason_field(field, reason ? reason : "");
	if ((st = stmt_acquire(s, Q_MSG_EXPIRE)) == NULL)
		return MESH_ESTORE;
	if (sqlite3_bind_int64(st, 1, now) ||
	    stmt_bind_text(st, 2, field) ||
	    sqlite3_bind_int(st, 3, OUT_EXPIRED) ||
	    sqlite3_bind_int(st, 4, MSG_OUT) ||
	    sqlite3_bind_int(st, 5, OUT_QUEUED) ||
	    sqlite3_bind_int(st, 6, OUT_SENT))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_MSG_EXPIRE, st);
	return rc;
}

/* ---- receipts owed ---- */

int
store_put_receipt_due(struct store *s, const struct receipt_due *r)
{
	sqlite3_stmt *st;
	int rc;

	if (r == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_PUT_RECEIPT_DUE)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, r->bundle_id, APAGON_HASH) ||
	    stmt_bind_blob(st, 2, r->used.owner, APAGON_SIGN_PK) ||
	    sqlite3_bind_int(st, 3, r->precedence) ||
	    sqlite3_bind_int(st, 4, r->lifetime) ||
	    sqlite3_bind_int64(st, 5, r->used.serial) ||
	    stmt_bind_blob(st, 6, r->used.pk, APAGON_DH_PK) ||
	    sqlite3_bind_int64(st, 7, r->used.not_after) ||
	    sqlite3_bind_int64(st, 8, r->since))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_PUT_RECEIPT_DUE, st);
	return rc;
}

int
store_each_receipt_due(struct store *s, int (*fn)(void *, const struct receipt_due *), void *ctx)
{
	struct receipt_due r;
	sqlite3_stmt *st;
	int rc;

	if (fn == NULL)
		return MESH_EINVAL;
	if ((st = stmt_acquire(s, Q_EACH_RECEIPT_DUE)) == NULL)
		return MESH_ESTORE;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof r);
		stmt_col_bytes(st, 0, r.bundle_id, sizeof r.bundle_id);
		stmt_col_bytes(st, 1, r.used.owner, sizeof r.used.owner);
		r.precedence = sqlite3_column_int(st, 2);
		r.lifetime = (uint8_t)sqlite3_column_int(st, 3);
		r.used.serial = (uint32_t)sqlite3_column_int64(st, 4);
		stmt_col_bytes(st, 5, r.used.pk, sizeof r.used.pk);
		r.used.not_after = (uint32_t)sqlite3_column_int64(st, 6);
		r.since = sqlite3_column_int64(st, 7);
		if ((rc = fn(ctx, &r)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? MESH_OK : store_fail(s);
out:
	stmt_release(s, Q_EACH_RECEIPT_DUE, st);
	return rc;
}

int
store_del_receipt_due(struct store *s, const uint8_t bundle_id[APAGON_HASH])
{
	sqlite3_stmt *st;
	int rc;

	if ((st = stmt_acquire(s, Q_DEL_RECEIPT_DUE)) == NULL)
		return MESH_ESTORE;
	if (stmt_bind_blob(st, 1, bundle_id, APAGON_HASH))
		rc = store_fail(s);
	else
		rc = stmt_run(s, st);
	stmt_release(s, Q_DEL_RECEIPT_DUE, st);
	return rc;
}
