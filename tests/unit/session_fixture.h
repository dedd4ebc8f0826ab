/*
 * What the link-session tests share: a world of real nodes on real SQLite files in a
 * temp dir (an authority and its members), sessions joined by in-memory links with a
 * fake clock, and inboxes checked against what was sent. Include after test.h, once
 * per test program.
 */
#ifndef APAGON_SESSION_FIXTURE_H
#define APAGON_SESSION_FIXTURE_H

#include "../test_rng.h"

#include "../../node/link.h"
#include "../../node/node_internal.h"
#include "nodes.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define T0 1790000000LL         /* a fixed "now": November 2026 */
#define MAXN 5
#define MAXL 10
#define QMAX 64
#define HIST 8
#define FRAME_CAP (SESSION_MAX_FRAME + 64)

/* ---- seeded randomness: libsodium's source, and the test's own choices ---- */

static uint64_t pick_state __attribute__((unused)) = 88172645463325252u;

static inline uint32_t
pick(uint32_t n)
{
	pick_state ^= pick_state << 13;
	pick_state ^= pick_state >> 7;
	pick_state ^= pick_state << 17;
	return n ? (uint32_t)(pick_state % n) : 0;
}

/* ---- the world: an authority and its members ---- */

struct world {
	char dir[64];
	struct issuer *auth;
	struct node *n[MAXN];
	int nn;
};

static inline char *
path_in(const struct world *w, const char *name)
{
	return test_path(w->dir, name);
}

static inline struct node *
enrol(struct world *w, const char *name, int days, int64_t now)
{
	return test_enrol(w->dir, w->auth, name, ROLE_MEMBER, "Interior", days, now);
}

static inline void
carry(struct node *from, struct node *to, int64_t now)
{
	test_carry(from, to, now);
}

/* nn members who know each other's certificates and prekeys (a sneakernet round). */
static inline void
world_up(struct world *w, int nn, int days)
{
	static const char *names[MAXN] = { "alice", "bob", "carol", "dave", "erin" };

	memset(w, 0, sizeof *w);
	strcpy(w->dir, "/tmp/apagon-session-XXXXXX");
	CHECK(mkdtemp(w->dir) != NULL);
	CHECK_EQ(authority_init(path_in(w, "admin"), "Test Ministry", NULL, KEYFILE_NONE), 0);
	CHECK_EQ(issuer_open(&w->auth, path_in(w, "admin"), NULL), 0);
	w->nn = nn;
	for (int i = 0; i < nn; i++)
		w->n[i] = enrol(w, names[i], i == nn - 1 ? days : 0, T0);
	for (int i = 0; i < nn; i++)
		for (int j = 0; j < nn; j++)
			if (i != j)
				carry(w->n[i], w->n[j], T0);
}

static inline void
world_down(struct world *w)
{
	char cmd[128];

	for (int i = 0; i < w->nn; i++)
		node_close(w->n[i]);
	issuer_close(w->auth);
	snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
	CHECK_EQ(system(cmd), 0);
}

/* ---- in-memory links ---- */

struct frame {
	uint8_t *p;
	size_t len;
};

struct fq {
	struct frame f[QMAX];
	int n;
};

struct sim;

struct endpoint {
	struct sim *sim;
	int node, link;
};

struct simlink {
	int a, b;               /* node indices; a initiates */
	int up;
	struct session *s[2];   /* s[0] on a, s[1] on b */
	struct fq q[2];         /* q[0]: a -> b */
	struct frame hist[2][HIST];
	int nhist[2];
	struct endpoint ep[2];
};

struct sim {
	struct world *w;
	struct simlink l[MAXL];
	int nl;
	uint64_t now;
	struct session_config tmpl;
	struct ratelimit *rl[MAXN];     /* each node's per-sender limits, or NULL */
	uint64_t restarts;
	struct session_stats sum;       /* of every session freed */
	/* order in which a node received bundles (for the precedence test) */
	uint8_t order[512][APAGON_HASH];
	int norder, order_node;
};

static inline void
fq_clear(struct fq *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->f[i].p);
	q->n = 0;
}

static inline void
on_received(void *ctx, const uint8_t id[APAGON_HASH], int prec)
{
	struct endpoint *ep = ctx;
	struct sim *sim = ep->sim;

	if (ep->node == sim->order_node && sim->norder < 512)
		memcpy(sim->order[sim->norder++], id, APAGON_HASH);
	/* Relay at once on the node's other links, as the daemon does. */
	for (int k = 0; k < sim->nl; k++) {
		struct simlink *l = &sim->l[k];

		if (k == ep->link || !l->up)
			continue;
		if (l->a == ep->node)
			session_notify(l->s[0], id, prec);
		else if (l->b == ep->node)
			session_notify(l->s[1], id, prec);
	}
}

static inline void
on_acked(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t peer_pk[APAGON_SIGN_PK])
{
	struct endpoint *ep = ctx;

	node_link_acked(ep->sim->w->n[ep->node], id, peer_pk);
}

static inline void
link_up(struct sim *sim, int k)
{
	struct simlink *l = &sim->l[k];
	struct session_config c = sim->tmpl;

	for (int side = 0; side < 2; side++) {
		l->ep[side].sim = sim;
		l->ep[side].node = side ? l->b : l->a;
		l->ep[side].link = k;
		c.received = on_received;
		c.acked = on_acked;
		c.cb_ctx = &l->ep[side];
		c.senders = sim->rl[l->ep[side].node];
		CHECK_EQ(node_link_session(sim->w->n[l->ep[side].node], side == 0, &c, sim->now,
		    &l->s[side]), 0);
	}
	l->up = 1;
}

static inline void
link_down(struct sim *sim, int k)
{
	struct simlink *l = &sim->l[k];

	for (int side = 0; side < 2; side++) {
		const struct session_stats *st = session_stats(l->s[side]);

		sim->sum.bad_frames += st->bad_frames;
		sim->sum.replayed += st->replayed;
		sim->sum.rounds += st->rounds;
		sim->sum.bundles_in += st->bundles_in;
		sim->sum.bundles_dup += st->bundles_dup;
		sim->sum.bundles_deferred_peer += st->bundles_deferred_peer;
		sim->sum.bundles_deferred_sender += st->bundles_deferred_sender;
	}
	session_free(l->s[0]);
	session_free(l->s[1]);
	l->s[0] = l->s[1] = NULL;
	fq_clear(&l->q[0]);
	fq_clear(&l->q[1]);
	l->up = 0;
}

static inline void
sim_init(struct sim *sim, struct world *w)
{
	memset(sim, 0, sizeof *sim);
	sim->w = w;
	sim->now = (uint64_t)T0 * 1000;
	sim->order_node = -1;
	sim->tmpl.resync_ms = 3000;
	sim->tmpl.keepalive_ms = 1000;
	sim->tmpl.idle_ms = 6000;
	sim->tmpl.hs_retry_ms = 300;
	sim->tmpl.hs_timeout_ms = 8000;
	sim->tmpl.round_timeout_ms = 2000;
}

static inline void
sim_add_link(struct sim *sim, int a, int b)
{
	sim->l[sim->nl].a = a;
	sim->l[sim->nl].b = b;
	sim->nl++;
}

static inline void
sim_free(struct sim *sim)
{
	for (int k = 0; k < sim->nl; k++) {
		if (sim->l[k].up)
			link_down(sim, k);
		for (int d = 0; d < 2; d++)
			for (int i = 0; i < sim->l[k].nhist[d]; i++)
				free(sim->l[k].hist[d][i].p);
	}
}

/* Pull frames out of both ends of every live link. */
static inline void
pump(struct sim *sim, size_t cap)
{
	static uint8_t buf[FRAME_CAP];

	for (int k = 0; k < sim->nl; k++) {
		struct simlink *l = &sim->l[k];

		if (!l->up)
			continue;
		for (int d = 0; d < 2; d++) {
			size_t len;

			while (l->q[d].n < QMAX && (len = session_output(l->s[d], buf, cap, sim->now))) {
				struct frame *f = &l->q[d].f[l->q[d].n++];

				CHECK(len <= cap);
				f->p = malloc(len);
				memcpy(f->p, buf, len);
				f->len = len;
			}
		}
	}
}

static inline void
remember(struct simlink *l, int d, const struct frame *f)
{
	struct frame *h;

	if (l->nhist[d] == HIST) {
		free(l->hist[d][0].p);
		memmove(&l->hist[d][0], &l->hist[d][1], sizeof l->hist[d][0] * (HIST - 1));
		l->nhist[d]--;
	}
	h = &l->hist[d][l->nhist[d]++];
	h->p = malloc(f->len);
	memcpy(h->p, f->p, f->len);
	h->len = f->len;
}

/* Hand frame i of direction d to the other end; `keep`: leave a copy (duplicate). */
static inline void
deliver(struct sim *sim, int k, int d, int i, int keep)
{
	struct simlink *l = &sim->l[k];
	struct frame f = l->q[d].f[i];
	int rc;

	remember(l, d, &f);
	rc = session_input(l->s[1 - d], f.p, f.len, sim->now);
	CHECK(rc != MESH_ESTORE);
	if (keep)
		return;
	free(f.p);
	memmove(&l->q[d].f[i], &l->q[d].f[i + 1], sizeof f * (size_t)(l->q[d].n - i - 1));
	l->q[d].n--;
}

/* Run timers; a session that closed (idle, failed handshake) comes back, as the
 * daemon would reconnect. */
static inline void
tick(struct sim *sim)
{
	for (int k = 0; k < sim->nl; k++) {
		struct simlink *l = &sim->l[k];

		if (!l->up)
			continue;
		for (int d = 0; d < 2; d++)
			if (session_timeout(l->s[d], sim->now) == 0)
				session_tick(l->s[d], sim->now);
		if (session_state(l->s[0]) == SESSION_CLOSED || session_state(l->s[1]) == SESSION_CLOSED) {
			link_down(sim, k);
			link_up(sim, k);
			sim->restarts++;
		}
	}
}

/* Healthy links: deliver everything in order until quiet, advancing the clock. */
static inline void
run_clean(struct sim *sim, uint64_t ms, size_t cap)
{
	uint64_t end = sim->now + ms;

	while (sim->now < end) {
		int moved = 0;

		pump(sim, cap);
		for (int k = 0; k < sim->nl; k++)
			for (int d = 0; d < 2; d++)
				while (sim->l[k].up && sim->l[k].q[d].n) {
					deliver(sim, k, d, 0, 0);
					moved = 1;
				}
		if (!moved) {
			sim->now += 100;
			tick(sim);
		}
	}
}

/* ---- inboxes ---- */

struct expect {
	int from, to;
	char text[64];
	uint8_t id[APAGON_HASH];
	int seen;
};

struct inbox_check {
	struct world *w;
	int node;
	struct expect *e;
	int ne;
	int unexpected;
};

static inline void
inbox_fn(void *ctx, const struct node_msg *m)
{
	struct inbox_check *ic = ctx;

	for (int i = 0; i < ic->ne; i++) {
		struct expect *e = &ic->e[i];

		if (e->to == ic->node && m->text && strcmp(m->text, e->text) == 0 &&
		    memcmp(m->rec->peer_pk, node_pk(ic->w->n[e->from]), APAGON_SIGN_PK) == 0) {
			e->seen++;
			return;
		}
	}
	fprintf(stderr, "    unexpected inbox entry at node %d: %s\n", ic->node,
	    m->text ? m->text : "(unreadable)");
	ic->unexpected++;
}

/* Every expected message exactly once, nothing else. Returns the number missing. */
static inline int
check_inboxes(struct world *w, struct expect *e, int ne, int strict)
{
	int missing = 0;

	for (int i = 0; i < ne; i++)
		e[i].seen = 0;
	for (int j = 0; j < w->nn; j++) {
		struct inbox_check ic = { w, j, e, ne, 0 };

		CHECK_EQ(node_inbox(w->n[j], inbox_fn, &ic), 0);
		CHECK_EQ(ic.unexpected, 0);
	}
	for (int i = 0; i < ne; i++) {
		CHECK(e[i].seen <= 1);
		if (e[i].seen == 0) {
			missing++;
			if (strict)
				fprintf(stderr, "    missing: %d -> %d \"%s\"\n", e[i].from, e[i].to,
				    e[i].text);
		}
	}
	return missing;
}

static inline void
send_msg(struct sim *sim, struct expect *e, int from, int to, int prec, int seq)
{
	const uint8_t *id = e->id;

	e->from = from;
	e->to = to;
	snprintf(e->text, sizeof e->text, "msg %d from %d to %d, prec %d", seq, from, to, prec);
	CHECK_EQ(node_send(sim->w->n[from], node_pk(sim->w->n[to]), prec, e->text, 0,
	    (int64_t)(sim->now / 1000), e->id), 0);
	for (int k = 0; k < sim->nl; k++) {
		struct simlink *l = &sim->l[k];

		if (!l->up)
			continue;
		if (l->a == from)
			session_notify(l->s[0], id, prec);
		else if (l->b == from)
			session_notify(l->s[1], id, prec);
	}
}


/* Drive one pair of sessions until both settle; returns after `ms`. */
static inline void
drive_pair(struct session *a, struct session *b, uint64_t *now, uint64_t ms)
{
	static uint8_t buf[FRAME_CAP];
	uint64_t end = *now + ms;

	while (*now < end) {
		size_t len;
		int moved = 0;

		while ((len = session_output(a, buf, sizeof buf, *now))) {
			session_input(b, buf, len, *now);
			moved = 1;
		}
		while ((len = session_output(b, buf, sizeof buf, *now))) {
			session_input(a, buf, len, *now);
			moved = 1;
		}
		if (!moved) {
			*now += 100;
			if (session_timeout(a, *now) == 0)
				session_tick(a, *now);
			if (session_timeout(b, *now) == 0)
				session_tick(b, *now);
		}
	}
}

static inline void
pair_new(struct node *ni, struct node *nr, uint64_t now, struct session **si, struct session **sr)
{
	struct session_config c;

	memset(&c, 0, sizeof c);
	c.hs_retry_ms = 300;
	c.hs_timeout_ms = 5000;
	CHECK_EQ(node_link_session(ni, 1, &c, now, si), 0);
	CHECK_EQ(node_link_session(nr, 0, &c, now, sr), 0);
}


#endif
