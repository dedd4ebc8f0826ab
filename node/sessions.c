/*
 * A sync session (mesh/session.h, through node/link.h) on every transport peer.
 * Transports deliver whole frames; this file feeds them to the peer's session, runs
 * its timers, and sends what it has to say back through the same transport.
 *
 * Bundles stored here reach every other open session at once (session_notify), so
 * a node on two brokers relays between them; a bundle a peer committed, or one we
 * received, asks for a reconciliation soon, which is how receipts made in the same
 * commit travel back without waiting for the periodic one.
 */
#include "daemon_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link.h"
#include "log.h"

/* A closed session (refused, timed out) restarts after this, doubling. */
#define SESSION_RETRY_MIN_MS 2000
#define SESSION_RETRY_MAX_MS (5 * 60 * 1000)
/* Reconciliation every so often even when nothing seems new; cheap: its cost
 * follows the differences, not the store. */
#define SESSION_RESYNC_MS    15000
/* At most one triggered reconciliation per this interval. */
#define SESSION_RESYNC_DEBOUNCE_MS 500
/* Acknowledgements wait this long for a frame that goes anyway (protocol.md 15.3). */
#define SESSION_ACK_DELAY_MS 250

/*
 * Sessions take Unix time in milliseconds: they check certificate validity with it
 * (now_ms / 1000). APAGON_FAKE_TIME shifts it like node_now() while it keeps
 * running, so timers still advance. Our own retry timers stay monotonic.
 */
static uint64_t
session_clock(void)
{
	struct timespec ts;
	int64_t shift;

	clock_gettime(CLOCK_REALTIME, &ts);
	shift = node_now() - (int64_t)ts.tv_sec;
	return (uint64_t)((int64_t)ts.tv_sec + shift) * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct peer_link {
	struct daemon *d;
	struct transport_peer *p;
	struct session *s;
	uint64_t retry_ms, backoff_ms;
	int announced;                  /* "session open" logged */
	int refusal_logged;             /* an unacceptable handshake answer logged */
};

static void
on_received(void *ctx, const uint8_t id[APAGON_HASH], int prec)
{
	struct peer_link *pl = ctx;

	sessions_notify_all(pl->d, id, prec, pl->p);
	sessions_revocations_changed(pl->d);
	pl->d->resync_wanted = 1;
	daemon_msg_changed(pl->d, id, 1);
}

static void
on_acked(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t peer_pk[APAGON_SIGN_PK])
{
	struct peer_link *pl = ctx;

	node_link_acked(pl->d->n, id, peer_pk);
	pl->d->resync_wanted = 1;
	daemon_msg_changed(pl->d, id, 0);       /* only our own record can change */
}

static void
start_session(struct peer_link *pl, uint64_t now)
{
	struct session_config tmpl;
	int rc;

	memset(&tmpl, 0, sizeof tmpl);
	tmpl.max_frame = TRANSPORT_MAX_FRAME;
	tmpl.resync_ms = SESSION_RESYNC_MS;
	tmpl.ack_delay_ms = SESSION_ACK_DELAY_MS;
	tmpl.received = on_received;
	tmpl.acked = on_acked;
	tmpl.cb_ctx = pl;
	tmpl.senders = &pl->d->senders;
	pl->announced = 0;
	pl->refusal_logged = 0;
	if ((rc = node_link_session(pl->d->n, pl->p->initiator, &tmpl, session_clock(),
	    &pl->s)) != 0) {
		log_warnx("%s: peer %s: cannot start a session: %s", pl->p->t->name, pl->p->label,
		    node_strerror(rc));
		pl->s = NULL;
		pl->retry_ms = now + pl->backoff_ms;
	}
}

void
sessions_peer_up(struct daemon *d, struct transport_peer *p, uint64_t now)
{
	struct peer_link *pl = calloc(1, sizeof *pl);

	p->link = pl;
	if (!pl)
		return;
	pl->d = d;
	pl->p = p;
	pl->backoff_ms = SESSION_RETRY_MIN_MS;
	start_session(pl, now);
}

void
sessions_peer_down(struct daemon *d, struct transport_peer *p)
{
	struct peer_link *pl = p->link;

	(void)d;
	if (!pl)
		return;
	session_free(pl->s);
	free(pl);
	p->link = NULL;
}

const char *
sessions_state(const struct transport_peer *p)
{
	const struct peer_link *pl = p->link;

	if (!pl || !pl->s)
		return "none";
	switch (session_state(pl->s)) {
	case SESSION_HANDSHAKE: return "handshake";
	case SESSION_OPEN:      return "open";
	case SESSION_CLOSED:    return "closed";
	}
	return "?";
}

const uint8_t *
sessions_peer_pk(const struct transport_peer *p)
{
	const struct peer_link *pl = p->link;

	return pl && pl->s ? session_peer(pl->s) : NULL;
}

const struct session_stats *
sessions_stats(const struct transport_peer *p)
{
	const struct peer_link *pl = p->link;

	return pl && pl->s ? session_stats(pl->s) : NULL;
}

/*
 * Send everything the session has to say now. A send can end the link (the
 * Bluetooth transport finds the connection reset while writing): the transport then
 * reports the peer down at once, which frees pl and its session. The peer itself
 * stays allocated until the transport's next turn, so whether pl is still its link
 * is read from the peer after every send, and nothing of pl is touched once it is not.
 */
static void
flush(struct peer_link *pl)
{
	static uint8_t buf[TRANSPORT_MAX_FRAME];
	struct transport_peer *p = pl->p;
	struct transport *t = p->t;
	size_t n;

	while (p->link == pl && pl->s) {
		size_t cap = sizeof buf;
		int rc;

		/* A transport whose queue is full takes nothing more: the session keeps
		 * what it would say (bundles, results) until the queue drains and the
		 * daemon's next turn comes here again. */
		if (t->ops->room) {
			size_t room = t->ops->room(t, p);

			if (room < SESSION_MIN_FRAME)
				break;
			if (room < cap)
				cap = room;
		}
		if ((n = session_output(pl->s, buf, cap, session_clock())) == 0)
			break;
		rc = t->ops->send(t, p, buf, n);

		/* A lost frame is the session's to retry; the broker holds nothing. */
		if (rc != 0 && rc != -ENOTCONN)
			log_debug("%s: peer %s: send: %s", t->name, p->label, strerror(-rc));
	}
}

void
sessions_frame(struct daemon *d, struct transport_peer *p, const uint8_t *buf, size_t len,
    uint64_t now)
{
	struct peer_link *pl = p->link;
	int rc;

	(void)now;              /* sessions run on session_clock() */
	if (!pl || !pl->s) {
		d->n_.frames_unhandled++;
		return;
	}
	rc = session_input(pl->s, buf, len, session_clock());
	if (rc == MESH_ESTORE)
		log_warnx("%s: peer %s: the store failed; nothing of that frame was kept: %s",
		    p->t->name, p->label, store_errmsg(node_store(d->n)));
	/* No flush: acks go out from sessions_run(), after the daemon's commit. */
}

/* Call fn for every peer_link of every open link. */
static void
each_peer(struct daemon *d, void (*fn)(struct peer_link *, void *), void *ctx)
{
	for (int i = 0; i < d->nlinks; i++) {
		struct daemon_link *l = d->links[i];

		if (!l->open)
			continue;
		for (struct transport_peer *p = transport_peers(&l->t); p; p = p->next)
			if (p->link)
				fn(p->link, ctx);
	}
}

struct notify {
	const uint8_t *id;
	int prec;
	const struct transport_peer *except;
};

static void
notify_one(struct peer_link *pl, void *ctx)
{
	struct notify *nt = ctx;

	if (pl->s && pl->p != nt->except)
		session_notify(pl->s, nt->id, nt->prec);
}

void
sessions_notify_all(struct daemon *d, const uint8_t id[APAGON_HASH], int prec,
    const struct transport_peer *except)
{
	struct notify nt = { id, prec, except };

	each_peer(d, notify_one, &nt);
}

struct timeout {
	uint64_t now;
	int64_t min;
};

static void
timeout_one(struct peer_link *pl, void *ctx)
{
	struct timeout *to = ctx;
	int64_t t;

	if (pl->s)
		t = session_timeout(pl->s, session_clock());
	else
		t = pl->retry_ms > to->now ? (int64_t)(pl->retry_ms - to->now) : 0;
	if (t >= 0 && (to->min < 0 || t < to->min))
		to->min = t;
}

int64_t
sessions_timeout(struct daemon *d, uint64_t now)
{
	struct timeout to = { now, -1 };

	each_peer(d, timeout_one, &to);
	if (d->resync_wanted) {
		int64_t t = d->resync_ms > now ? (int64_t)(d->resync_ms - now) : 0;

		if (to.min < 0 || t < to.min)
			to.min = t;
	}
	return to.min;
}

static void
run_one(struct peer_link *pl, void *ctx)
{
	uint64_t now = *(const uint64_t *)ctx;

	if (!pl->s) {
		if (now >= pl->retry_ms)
			start_session(pl, now);
		if (!pl->s)
			return;
	}
	if (session_timeout(pl->s, session_clock()) == 0)
		session_tick(pl->s, session_clock());
	switch (session_state(pl->s)) {
	case SESSION_OPEN:
		if (!pl->announced) {
			char kid[2 * APAGON_KEYID + 1] = "?";
			const uint8_t *pk = session_peer(pl->s);
			uint8_t id[APAGON_KEYID];

			if (pk) {
				crypto_key_id(id, pk);
				node_hex(kid, id, sizeof id);
			}
			log_info("%s: peer %s: session open with member %s", pl->p->t->name,
			    pl->p->label, kid);
			pl->announced = 1;
			pl->backoff_ms = SESSION_RETRY_MIN_MS;
		}
		break;
	case SESSION_CLOSED:
		log_warnx("%s: peer %s: session closed: %s; a new one in %llu s", pl->p->t->name,
		    pl->p->label, session_strerror(session_error(pl->s)),
		    (unsigned long long)(pl->backoff_ms / 1000));
		session_free(pl->s);
		pl->s = NULL;
		pl->retry_ms = now + pl->backoff_ms;
		pl->backoff_ms = pl->backoff_ms * 2 > SESSION_RETRY_MAX_MS ? SESSION_RETRY_MAX_MS :
		    pl->backoff_ms * 2;
		return;
	case SESSION_HANDSHAKE:
		/* Say at once, and once per session, that an answer was refused: the
		 * session itself waits for a genuine one until its handshake timeout. */
		if (session_refused(pl->s) && !pl->refusal_logged) {
			log_warnx("%s: peer %s: handshake answer refused: %s; waiting for an "
			    "acceptable one", pl->p->t->name, pl->p->label,
			    session_strerror(session_refused(pl->s)));
			pl->refusal_logged = 1;
		}
		break;
	}
	flush(pl);
}

static void
reset_one(struct peer_link *pl, void *ctx)
{
	uint64_t now = *(const uint64_t *)ctx;

	if (!pl->s)
		return;
	session_free(pl->s);
	pl->s = NULL;
	pl->retry_ms = now;
}

void
sessions_reset_all(struct daemon *d, uint64_t now)
{
	each_peer(d, reset_one, &now);
}

void
sessions_revocations_changed(struct daemon *d)
{
	d->revoke_check = 1;
}

/*
 * The handshake checks revocations once; a session that is already open would go on
 * carrying a member revoked since. Close it, and let the retry's handshake refuse.
 */
static void
revoke_one(struct peer_link *pl, void *ctx)
{
	uint64_t now = *(const uint64_t *)ctx;
	const uint8_t *pk;
	char kid[2 * APAGON_KEYID + 1];
	uint8_t id[APAGON_KEYID];

	if (!pl->s || (pk = session_peer(pl->s)) == NULL || !node_peer_revoked(pl->d->n, pl->s))
		return;
	crypto_key_id(id, pk);
	node_hex(kid, id, sizeof id);
	log_warnx("%s: peer %s: member %s is revoked; session closed", pl->p->t->name,
	    pl->p->label, kid);
	pl->d->n_.sessions_revoked++;
	session_free(pl->s);
	pl->s = NULL;
	pl->retry_ms = now + pl->backoff_ms;
	pl->backoff_ms = pl->backoff_ms * 2 > SESSION_RETRY_MAX_MS ? SESSION_RETRY_MAX_MS :
	    pl->backoff_ms * 2;
}

static void
resync_one(struct peer_link *pl, void *ctx)
{
	if (pl->s && session_state(pl->s) == SESSION_OPEN)
		session_resync(pl->s, session_clock());
	(void)ctx;
}

void
sessions_run(struct daemon *d, uint64_t now)
{
	/* Before anything is flushed: a revoked peer gets nothing more from us. */
	if (d->revoke_check) {
		d->revoke_check = 0;
		each_peer(d, revoke_one, &now);
	}
	if (d->resync_wanted && now >= d->resync_ms) {
		d->resync_wanted = 0;
		d->resync_ms = now + SESSION_RESYNC_DEBOUNCE_MS;
		each_peer(d, resync_one, &now);
	}
	each_peer(d, run_one, &now);
}
