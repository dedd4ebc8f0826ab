/*
 * apagond's loop (daemon.h): links, the control socket, housekeeping and signals in
 * one poll(). The control methods are in rpc.c.
 */
#define _GNU_SOURCE             /* ppoll(): wait and take signals atomically */
#include "daemon_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <sodium.h>

#include "log.h"
#include "lora_glue.h"

static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_reload;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_reload = 1;
	else
		sig_stop = 1;
}

uint64_t
daemon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------- events from the transports ---------------- */

static cJSON *
peer_json(const struct transport_peer *p)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "link", p->t->name);
	cJSON_AddStringToObject(o, "peer", p->label);
	return o;
}

static void
on_peer_up(void *ctx, struct transport_peer *p)
{
	struct daemon *d = ctx;

	log_info("%s: peer %s up", p->t->name, p->label);
	sessions_peer_up(d, p, daemon_now_ms());
	control_notify(d->ctl, "peer.up", peer_json(p));
}

static void
on_peer_down(void *ctx, struct transport_peer *p)
{
	struct daemon *d = ctx;

	log_info("%s: peer %s down", p->t->name, p->label);
	sessions_peer_down(d, p);
	control_notify(d->ctl, "peer.down", peer_json(p));
}

static void
on_frame(void *ctx, struct transport_peer *p, const uint8_t *buf, size_t len)
{
	struct daemon *d = ctx;

	d->n_.frames_in++;
	sessions_frame(d, p, buf, len, daemon_now_ms());
}

/* ---------------- links ---------------- */

static void
link_try_open(struct daemon *d, struct daemon_link *l, uint64_t now)
{
	const struct transport_ops *ops = transport_find(conf_kind(l->sec));
	int rc;

	if (l->open || now < l->retry_ms)
		return;
	if (!node_netkeys(d->n)) {
		snprintf(l->error, sizeof l->error, "this node is not enrolled yet");
		l->retry_ms = UINT64_MAX;       /* daemon_links_sync() after enrollment */
		return;
	}
	memset(&l->t, 0, sizeof l->t);
	l->t.ops = ops;
	snprintf(l->t.name, sizeof l->t.name, "%s %s", conf_kind(l->sec), conf_name(l->sec));
	snprintf(l->t.section, sizeof l->t.section, "%s", conf_name(l->sec));
	l->t.ev.ctx = d;
	l->t.ev.peer_up = on_peer_up;
	l->t.ev.peer_down = on_peer_down;
	l->t.ev.frame = on_frame;
	l->t.ev.bundle = lora_glue_bundle;
	l->t.ev.each_bundle = lora_glue_each_bundle;
	l->t.network_key = d->n->enr.net.network_key;
	if (!ops) {
		rc = -ENOSYS;
	} else if ((rc = ops->open(&l->t, l->sec)) == 0) {
		l->open = 1;
		l->backoff_ms = LINK_RETRY_MIN_MS;
		l->error[0] = '\0';
		log_info("%s: link opened", l->t.name);
		return;
	}
	snprintf(l->error, sizeof l->error, "cannot open: %s",
	    l->t.error[0] ? l->t.error : strerror(-rc));
	l->retry_ms = now + l->backoff_ms;
	log_warnx("%s (%s line %d): %s; retrying in %llu s", l->t.name, CONF_FILE,
	    conf_line(l->sec), l->error, (unsigned long long)(l->backoff_ms / 1000));
	l->backoff_ms = l->backoff_ms * 2 > LINK_RETRY_MAX_MS ? LINK_RETRY_MAX_MS : l->backoff_ms * 2;
}

static void
link_close(struct daemon_link *l)
{
	if (l->open) {
		l->t.ops->close(&l->t);
		l->open = 0;
		log_info("%s: link closed", l->t.name);
	}
}

void
daemon_links_sync(struct daemon *d)
{
	for (int i = 0; i < d->nlinks; i++)
		if (!d->links[i]->open && d->links[i]->retry_ms == UINT64_MAX)
			d->links[i]->retry_ms = 0;
}

/*
 * Move to a new config: links whose section is unchanged keep running (and their
 * peers and sessions); changed or removed ones close; new ones open. Links live on
 * the heap because transports and their peers point at their instance.
 */
static void
links_apply(struct daemon *d, struct conf *nc)
{
	struct daemon_link *old[DAEMON_LINKS_MAX];
	int nold = d->nlinks, n = 0;

	memcpy(old, d->links, sizeof old);
	for (int i = 0; i < conf_count(nc); i++) {
		const struct conf_section *s = conf_at(nc, i);
		struct daemon_link *l = NULL;

		for (int j = 0; j < nold && !l; j++) {
			if (old[j] && conf_same(old[j]->sec, s)) {
				l = old[j];
				old[j] = NULL;
			}
		}
		if (!l) {
			if ((l = calloc(1, sizeof *l)) == NULL) {
				log_warnx("%s %s: out of memory; link left out", conf_kind(s),
				    conf_name(s));
				continue;
			}
			l->backoff_ms = LINK_RETRY_MIN_MS;
		}
		l->sec = s;
		d->links[n++] = l;
	}
	for (int j = 0; j < nold; j++) {
		if (old[j]) {
			link_close(old[j]);
			free(old[j]);
		}
	}
	d->nlinks = n;
}

static int
load_config(struct daemon *d, struct conf **out)
{
	char err[4096];
	int missing, rc;

	rc = conf_load(out, d->conf_path, &missing, err, sizeof err);
	if (rc != 0) {
		char *line = err, *nl;

		for (; *line; line = nl + 1) {
			if ((nl = strchr(line, '\n')) == NULL)
				nl = line + strlen(line) - 1;
			log_warnx("%.*s", (int)(nl - line), line);
			if (!nl[1])
				break;
		}
		return rc;
	}
	if (missing)
		log_info("no %s: no links configured", d->conf_path);
	return 0;
}

static void
reload(struct daemon *d)
{
	struct conf *nc;

	log_info("reloading %s", d->conf_path);
	if (load_config(d, &nc) != 0) {
		d->n_.reload_failures++;
		log_warnx("the new configuration is broken; keeping the old one");
		return;
	}
	d->n_.reloads++;
	links_apply(d, nc);
	conf_free(d->conf);
	d->conf = nc;
	log_info("configuration reloaded: %d %s", d->nlinks, d->nlinks == 1 ? "link" : "links");
}

/* ---------------- messages: what subscribers hear ---------------- */

struct scan {
	struct seen_msg *v;
	size_t n, cap;
	int oom;
};

static int
scan_one(void *ctx, const struct msg_rec *r)
{
	struct scan *s = ctx;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct seen_msg *v = realloc(s->v, cap * sizeof *v);

		if (!v) {
			s->oom = 1;
			return 1;
		}
		s->v = v;
		s->cap = cap;
	}
	memcpy(s->v[s->n].id, r->bundle_id, APAGON_HASH);
	s->v[s->n].dir = r->dir;
	s->v[s->n].state = r->state;
	s->v[s->n].sent_count = r->sent_count;
	s->n++;
	return 0;
}

static int
cmp_seen(const void *a, const void *b)
{
	return memcmp(((const struct seen_msg *)a)->id, ((const struct seen_msg *)b)->id,
	    APAGON_HASH);
}

void
daemon_msgs_changed(struct daemon *d)
{
	d->msgs_dirty = 1;
}

void
daemon_msg_changed(struct daemon *d, const uint8_t id[APAGON_HASH], int unknown_if_absent)
{
	if (d->ndirty == DAEMON_DIRTY_MAX) {
		d->msgs_dirty = 1;
		return;
	}
	memcpy(d->dirty[d->ndirty].id, id, APAGON_HASH);
	d->dirty[d->ndirty++].unknown_if_absent = unknown_if_absent;
}

static void
tell(struct daemon *d, const struct msg_rec *r)
{
	if (!control_listening(d->ctl))
		return;         /* nobody to tell: no event built (nor the text opened) */
	if (r->dir == MSG_IN) {
		/* The text is opened only for the clients that asked for texts. */
		for (int with_text = 1; with_text >= 0; with_text--)
			if (control_listening_texts(d->ctl, with_text))
				control_notify_texts(d->ctl, "message.received",
				    rpc_msg_json(d, r, with_text), with_text);
	} else
		control_notify(d->ctl, "message.state", rpc_msg_json(d, r, 0));
}

/*
 * The records named by daemon_msg_changed() only, instead of a rescan of the whole
 * table, which grew with the store and was most of the daemon's time per message.
 * 0 if done; -1 if a full rescan is needed.
 */
static int
scan_dirty(struct daemon *d)
{
	struct store *st = node_store(d->n);
	struct msg_rec r;
	int rc;

	for (int i = 0; i < d->ndirty; i++) {
		struct seen_msg e, *old;

		if ((rc = store_get_msg_brief(st, d->dirty[i].id, &r)) == MESH_ENOTFOUND &&
		    !d->dirty[i].unknown_if_absent)
			continue;
		if (rc != MESH_OK)
			return -1;
		memcpy(e.id, r.bundle_id, APAGON_HASH);
		e.dir = r.dir;
		e.state = r.state;
		e.sent_count = r.sent_count;
		old = d->nseen ? bsearch(&e, d->seen, d->nseen, sizeof e, cmp_seen) : NULL;
		if (old && (e.dir == MSG_IN || (old->state == e.state &&
		    old->sent_count == e.sent_count)))
			continue;
		if (old) {
			*old = e;
		} else {
			struct seen_msg *v = realloc(d->seen, (d->nseen + 1) * sizeof *v);
			size_t at = 0;

			if (!v)
				return -1;
			d->seen = v;
			while (at < d->nseen && cmp_seen(&d->seen[at], &e) < 0)
				at++;
			memmove(&d->seen[at + 1], &d->seen[at], (d->nseen - at) * sizeof e);
			d->seen[at] = e;
			d->nseen++;
		}
		/* An event only if someone hears it; the whole record (the sealed text,
		 * the export count) only if it shows in the event. */
		if (!control_listening(d->ctl))
			continue;
		if ((r.dir == MSG_IN && !control_listening_texts(d->ctl, 1)) ||
		    store_get_msg(st, e.id, &r) == MESH_OK)
			tell(d, &r);
	}
	d->ndirty = 0;
	return 0;
}

/* Compare the message records with what subscribers last heard; tell them news. */
static void
scan_messages(struct daemon *d, int notify)
{
	struct scan s = { NULL, 0, 0, 0 };
	struct store *st = node_store(d->n);
	struct seen_msg *order = NULL;

	if (notify && !d->msgs_dirty && scan_dirty(d) == 0)
		return;
	d->msgs_dirty = 0;
	d->ndirty = 0;
	if (store_each_msg(st, MSG_IN, scan_one, &s) < 0 || s.oom ||
	    store_each_msg(st, MSG_OUT, scan_one, &s) < 0 || s.oom) {
		free(s.v);
		return;
	}
	/* Tell news in the store's order (received, then stored: a FLASH committed
	 * ahead of ROUTINE ones in the same batch is heard first), not in ID order. */
	if (notify && s.n > 0 && (order = malloc(s.n * sizeof *order)) != NULL)
		memcpy(order, s.v, s.n * sizeof *order);
	if (s.n > 1)
		qsort(s.v, s.n, sizeof *s.v, cmp_seen);
	for (size_t i = 0; notify && i < s.n; i++) {
		const struct seen_msg *e = order ? &order[i] : &s.v[i], *old;
		struct msg_rec r;

		old = d->nseen ? bsearch(e, d->seen, d->nseen, sizeof *e, cmp_seen) : NULL;
		if (old && (e->dir == MSG_IN || (old->state == e->state &&
		    old->sent_count == e->sent_count)))
			continue;
		if (store_get_msg(st, e->id, &r) == MESH_OK)
			tell(d, &r);
	}
	free(order);
	free(d->seen);
	d->seen = s.v;
	d->nseen = s.n;
}

/* ---------------- open, run, close ---------------- */

int
daemon_open(struct daemon **out, struct node *n, const char *dir)
{
	struct daemon *d;
	char path[NODE_PATH_MAX];
	int rc;

	*out = NULL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return -ENOMEM;
	control_json_wipe();
	d->n = n;
	d->started = node_now();
	node_set_receipt_delay(n, DAEMON_RECEIPT_DELAY_S);
	if (snprintf(d->dir, sizeof d->dir, "%s", dir) >= (int)sizeof d->dir ||
	    node_path(d->conf_path, sizeof d->conf_path, dir, CONF_FILE) != 0 ||
	    node_path(path, sizeof path, dir, CONTROL_SOCKET) != 0) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if ((rc = load_config(d, &d->conf)) != 0)
		goto fail;
	if ((rc = control_open(&d->ctl, path, rpc_call, d)) != 0) {
		if (rc == -EADDRINUSE)
			log_warnx("%s: another apagond already serves %s", path, dir);
		else
			log_warnx("%s: cannot listen: %s", path, strerror(-rc));
		goto fail;
	}
	mosquitto_lib_init();
	links_apply(d, d->conf);
	scan_messages(d, 0);
	*out = d;
	return 0;
fail:
	conf_free(d->conf);
	free(d);
	return rc;
}

static void
housekeeping(struct daemon *d, uint64_t now)
{
	int rc;

	if ((rc = node_maintain(d->n, node_now())) != 0) {
		d->n_.maintain_failures++;
		log_warnx("housekeeping failed: %s; trying again later", node_strerror(rc));
	}
	d->maintain_ms = now + DAEMON_MAINTAIN_MS;
	daemon_msgs_changed(d);
}

/* The receipts owed that have waited long enough (all of them when `all`), offered
 * at once on every open session (the links' reconciliation would find them too, but
 * only at the initiator's next round). */
static void
receipts_flush(struct daemon *d, int all)
{
	struct node_receipts_made made;
	int rc = node_receipts_flush(d->n, node_now(), all, &made);

	if (rc != 0) {
		log_warnx("writing receipts failed: %s; trying again in a second",
		    node_strerror(rc));
		return;
	}
	for (int i = 0; i < made.kept; i++)
		sessions_notify_all(d, made.id[i], made.precedence[i], NULL);
	if (made.n > made.kept)
		d->resync_wanted = 1;
}

static int64_t
min_timeout(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/*
 * Group commit: every control request and every frame of one turn writes into one
 * transaction, made durable here with one fsync instead of one per message. Until
 * then nothing of it is acknowledged: replies wait in control.c, session output
 * (acks, custody) in the sessions until sessions_run(), news until scan_messages().
 */
static void
turn_commit(struct daemon *d)
{
	struct store *st = node_store(d->n);

	if (store_group_commit(st) == MESH_OK)
		return;
	d->n_.commit_failures++;
	log_warnx("the store's commit failed: %s; nothing of this turn was kept",
	    store_errmsg(st));
	control_discard(d->ctl);
	sessions_reset_all(d, daemon_now_ms());
	daemon_msgs_changed(d);
}

int
daemon_run(struct daemon *d)
{
	struct pollfd pfds[CONTROL_CLIENTS + 1 + DAEMON_LINKS_MAX];
	struct sigaction sa;
	sigset_t block, waitmask;
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	/* Signals arrive only inside ppoll(), so a flag set just before the wait is
	 * never slept through. */
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGHUP);

	log_info("serving %s (%d %s)", d->dir, d->nlinks, d->nlinks == 1 ? "link" : "links");
	housekeeping(d, daemon_now_ms());
	while (!sig_stop) {
		uint64_t now = daemon_now_ms();
		int64_t timeout = -1;
		int np, nctl, nready, grouped;

		if (sig_reload) {
			sig_reload = 0;
			reload(d);
		}
		if (now >= d->maintain_ms)
			housekeeping(d, now);
		timeout = (int64_t)(d->maintain_ms - now);
		if (node_receipts_due_at(d->n)) {
			if (node_now() >= node_receipts_due_at(d->n))
				receipts_flush(d, 0);
			if (node_receipts_due_at(d->n))
				timeout = min_timeout(timeout, DAEMON_RECEIPT_POLL_MS);
		}
		if (d->msgs_dirty || d->ndirty)
			scan_messages(d, 1);
		control_flush(d->ctl);

		nctl = control_pollfds(d->ctl, pfds, CONTROL_CLIENTS + 1);
		np = nctl;
		for (int i = 0; i < d->nlinks; i++) {
			struct daemon_link *l = d->links[i];
			short ev = 0;
			int fd;

			l->pfd = -1;
			if (!l->open) {
				link_try_open(d, l, now);
				if (!l->open) {
					if (l->retry_ms != UINT64_MAX)
						timeout = min_timeout(timeout, l->retry_ms > now ?
						    (int64_t)(l->retry_ms - now) : 0);
					continue;
				}
			}
			timeout = min_timeout(timeout, l->t.ops->timeout(&l->t, now));
			if ((fd = l->t.ops->pollfd(&l->t, &ev)) >= 0) {
				pfds[np].fd = fd;
				pfds[np].events = ev;
				pfds[np].revents = 0;
				l->pfd = np++;
			}
		}
		timeout = min_timeout(timeout, sessions_timeout(d, now));
		{
			struct timespec ts, *tsp = NULL;

			if (timeout >= 0) {
				ts.tv_sec = timeout / 1000;
				ts.tv_nsec = (timeout % 1000) * 1000000;
				tsp = &ts;
			}
			if ((nready = ppoll(pfds, (nfds_t)np, tsp, &waitmask)) < 0) {
				if (errno != EINTR)
					log_warn("poll");
				for (int i = 0; i < np; i++)
					pfds[i].revents = 0;
			}
		}
		now = daemon_now_ms();
		grouped = nready > 0 && store_group_begin(node_store(d->n)) == MESH_OK;
		control_ready(d->ctl, pfds, nctl);
		for (int i = 0; i < d->nlinks; i++) {
			struct daemon_link *l = d->links[i];

			if (l->open)
				l->t.ops->ready(&l->t, l->pfd >= 0 ? pfds[l->pfd].revents : 0, now);
		}
		if (grouped)
			turn_commit(d);
		sessions_run(d, daemon_now_ms());
		if (d->msgs_dirty || d->ndirty)
			scan_messages(d, 1);
		control_flush(d->ctl);
	}
	log_info("shutting down");
	/* What is owed is kept anyway; written now, it leaves with the next export. */
	if (node_receipts_due_at(d->n))
		receipts_flush(d, 1);
	return 0;
}

void
daemon_close(struct daemon *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->nlinks; i++) {
		link_close(d->links[i]);
		free(d->links[i]);
	}
	control_close(d->ctl);
	mosquitto_lib_cleanup();
	conf_free(d->conf);
	free(d->seen);
	free(d);
}
