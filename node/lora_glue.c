/*
 * Broadcast bearers and the daemon (lora_glue.h). What node/sessions.c does for a
 * bundle a session received, done here for one bundle heard on air: the acceptance
 * path inside the turn's group transaction (made durable by the daemon's commit
 * before the transport relays anything: relays wait a backoff, hence a later turn),
 * then the same notifications: other sessions, revocations, subscribers.
 */
#include "lora_glue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../mesh/accept.h"
#include "daemon_internal.h"
#include "log.h"

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Charge the bundle's sender before any signature is checked: 1 charged, 0 not limited
 * (public bundles, as on link sessions, or a header that does not decode: the
 * acceptance path refuses those), -1 over the limit: drop. The header's sender is not
 * verified yet, so the charge is refunded unless the bundle turns out new and good:
 * forged bundles cannot drain another member's bucket. */
static int
limit_take(struct lora_sender_limit *sl, struct transport *t, const struct netkeys *nk,
    const uint8_t *buf, size_t len, uint8_t sender[APAGON_KEYID])
{
	struct bundle b;
	uint64_t now = mono_ms();
	char hex[2 * APAGON_KEYID + 1];

	if (bundle_decode(&b, buf, len, nk) != MESH_OK || !bundle_type_sealed(b.h.type))
		return 0;
	memcpy(sender, b.h.sender, APAGON_KEYID);
	if (ratelimit_sender_take(&sl->rl, sender, b.h.precedence, len, now))
		return 1;
	sl->dropped++;
	sl->unlogged++;
	if (now - sl->last_log_ms >= 10000 || sl->last_log_ms == 0) {
		for (int i = 0; i < APAGON_KEYID; i++)
			snprintf(hex + 2 * i, 3, "%02x", sender[i]);
		log_warnx("%s: sender %s is over its rate limit (%u bundles a minute, burst %u): "
		    "%lld bundle(s) dropped unchecked, %lld in all; raise sender-rate in "
		    "apagon.conf only if this member really needs more airtime", t->name, hex,
		    sl->rl.p.bundles_per_min, sl->rl.p.bundles_burst, (long long)sl->unlogged,
		    (long long)sl->dropped);
		sl->unlogged = 0;
		sl->last_log_ms = now;
	}
	return -1;
}

/* The acceptance path for one bundle heard: TRANSPORT_BUNDLE_* or -errno. */
static int
glue_accept(struct daemon *d, struct transport *t, const uint8_t *buf, size_t len, int *prec)
{
	struct accept_ctx *ax = &d->n->ax;
	struct accept_result res;
	struct bundle b;
	int rc;

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

int
lora_glue_bundle(void *ctx, struct transport *t, const uint8_t *buf, size_t len, int *prec)
{
	struct daemon *d = ctx;
	struct accept_ctx *ax = &d->n->ax;
	struct lora_sender_limit *sl = transport_lora_limit(t);
	uint8_t sender[APAGON_KEYID];
	int rc, charged = 0;

	*prec = 0;
	if (sl && (charged = limit_take(sl, t, ax->nk, buf, len, sender)) < 0)
		return -EBUSY;
	rc = glue_accept(d, t, buf, len, prec);
	if (charged && rc != TRANSPORT_BUNDLE_NEW && rc != TRANSPORT_BUNDLE_MINE)
		ratelimit_sender_refund(&sl->rl, sender, len);
	return rc;
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
	    (sb->own ? TRANSPORT_BUNDLE_OWN : 0) | (sb->pinned ? TRANSPORT_BUNDLE_PENDING : 0) |
	    (!sb->own && (sb->type == BUNDLE_MSG || sb->type == BUNDLE_RECEIPT) ?
	    TRANSPORT_BUNDLE_TRANSIT : 0));
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
