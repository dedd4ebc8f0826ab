/*
 * Broadcast bearers and the daemon (lora_glue.h). What node/sessions.c does for a
 * bundle a session received, done here for one bundle heard on air: the acceptance
 * path inside the turn's group transaction (made durable by the daemon's commit
 * before the transport relays anything: relays wait a backoff, hence a later turn),
 * then the same notifications: other sessions, revocations, subscribers.
 */
#include "lora_glue.h"

#include <errno.h>
#include <string.h>

#include "../mesh/accept.h"
#include "daemon_internal.h"
#include "log.h"

int
lora_glue_bundle(void *ctx, struct transport *t, const uint8_t *buf, size_t len, int *prec)
{
	struct daemon *d = ctx;
	struct accept_ctx *ax = &d->n->ax;
	struct accept_result res;
	struct bundle b;
	int rc;

	*prec = 0;
	if (accept_begin(ax) != MESH_OK)
		return -EIO;
	rc = accept_bundle(ax, buf, len, node_now(), &res);
	if (rc == MESH_ESTORE || rc == MESH_ENOMEM) {
		accept_rollback(ax);
		log_warnx("%s: the store failed; the bundle heard was not kept: %s", t->name,
		    store_errmsg(node_store(d->n)));
		return -EIO;
	}
	if (accept_commit(ax) != MESH_OK) {
		accept_rollback(ax);
		return -EIO;
	}
	if (res.reason == MESH_EDUPLICATE)
		return TRANSPORT_BUNDLE_HELD;
	if (res.reason == MESH_EUNKNOWN)
		return -EAGAIN;
	if (res.reason != MESH_OK) {
		log_debug("%s: bundle refused: %s", t->name, mesh_strerror(res.reason));
		return -EPERM;
	}
	if (bundle_decode(&b, buf, len, ax->nk) == MESH_OK) {
		*prec = b.h.precedence;
		/* On air a message may overtake its sender's prekey: the deliveries that wait
		 * for one are tried again now, not at the next housekeeping. */
		if (b.h.type == BUNDLE_PREKEY && accept_begin(ax) == MESH_OK) {
			if (node_retry_pending(d->n, node_now()) == MESH_OK &&
			    accept_commit(ax) == MESH_OK)
				daemon_msgs_changed(d);
			else
				accept_rollback(ax);
		}
	}
	sessions_notify_all(d, res.id, *prec, NULL);
	sessions_revocations_changed(d);
	d->resync_wanted = 1;
	daemon_msg_changed(d, res.id, 1);
	return res.for_me ? TRANSPORT_BUNDLE_MINE : TRANSPORT_BUNDLE_NEW;
}

struct each {
	void (*fn)(void *, const uint8_t *, size_t, int, int);
	void *fctx;
};

static int
each_one(void *ctx, const struct stored_bundle *sb)
{
	struct each *e = ctx;

	e->fn(e->fctx, sb->raw, sb->raw_len, sb->precedence,
	    (sb->own ? TRANSPORT_BUNDLE_OWN : 0) | (sb->pinned ? TRANSPORT_BUNDLE_PENDING : 0));
	return 0;
}

void
lora_glue_each_bundle(void *ctx, struct transport *t,
    void (*fn)(void *fctx, const uint8_t *buf, size_t len, int prec, int flags), void *fctx)
{
	struct daemon *d = ctx;
	struct each e = { fn, fctx };

	if (store_each_bundle(node_store(d->n), node_now(), each_one, &e) < 0)
		log_warnx("%s: cannot read the store: %s", t->name, store_errmsg(node_store(d->n)));
}
