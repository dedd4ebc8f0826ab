/*
 * Link sessions end to end: real nodes on real SQLite files in a temp dir, sessions
 * joined by in-memory links, a fake clock and a seeded random source. The handshake
 * refuses outsiders, revoked and expired members; tampered and replayed frames are
 * refused and counted; bundles move highest precedence first; and a libsignal-style
 * interaction test drives 2 to 5 nodes through random sends, link flaps, drops,
 * duplicates, reordering and replays, then checks that every message arrived exactly
 * once with its exact text.
 */
#include "../test.h"
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

static uint64_t pick_state = 88172645463325252u;

static uint32_t
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

static char *
path_in(const struct world *w, const char *name)
{
	return test_path(w->dir, name);
}

static struct node *
enrol(struct world *w, const char *name, int days, int64_t now)
{
	return test_enrol(w->dir, w->auth, name, ROLE_MEMBER, "Interior", days, now);
}

static void
carry(struct node *from, struct node *to, int64_t now)
{
	test_carry(from, to, now);
}

/* nn members who know each other's certificates and prekeys (a sneakernet round). */
static void
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

static void
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

static void
fq_clear(struct fq *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->f[i].p);
	q->n = 0;
}

static void
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

static void
on_acked(void *ctx, const uint8_t id[APAGON_HASH])
{
	struct endpoint *ep = ctx;

	node_link_acked(ep->sim->w->n[ep->node], id);
}

static void
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

static void
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

static void
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

static void
sim_add_link(struct sim *sim, int a, int b)
{
	sim->l[sim->nl].a = a;
	sim->l[sim->nl].b = b;
	sim->nl++;
}

static void
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
static void
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

static void
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
static void
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
static void
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
static void
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

static void
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
static int
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

static void
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

/* ---- tests ---- */

static void
test_handshake_and_sync(void)
{
	struct world w;
	struct sim sim;
	struct expect e[3];
	const struct session_stats *st;

	world_up(&w, 2, 0);
	sim_init(&sim, &w);
	sim_add_link(&sim, 0, 1);
	for (int i = 0; i < 3; i++)
		send_msg(&sim, &e[i], 0, 1, i, i);
	link_up(&sim, 0);
	CHECK(session_peer(sim.l[0].s[0]) == NULL);
	run_clean(&sim, 2000, FRAME_CAP);
	CHECK_EQ(session_state(sim.l[0].s[0]), SESSION_OPEN);
	CHECK_EQ(session_state(sim.l[0].s[1]), SESSION_OPEN);
	CHECK(session_peer(sim.l[0].s[0]) &&
	    memcmp(session_peer(sim.l[0].s[0]), node_pk(w.n[1]), APAGON_SIGN_PK) == 0);
	CHECK(session_peer(sim.l[0].s[1]) &&
	    memcmp(session_peer(sim.l[0].s[1]), node_pk(w.n[0]), APAGON_SIGN_PK) == 0);
	CHECK_EQ(check_inboxes(&w, e, 3, 1), 0);
	st = session_stats(sim.l[0].s[1]);
	CHECK(st->bundles_in >= 3);
	CHECK(st->rounds >= 1);
	CHECK_EQ(st->bad_frames, 0);
	CHECK_EQ(session_stats(sim.l[0].s[0])->bad_frames, 0);
	/* The receipts came back: alice's outbox says delivered. */
	run_clean(&sim, 4000, FRAME_CAP);
	CHECK(session_stats(sim.l[0].s[0])->bundles_in >= 3);
	CHECK(session_stats(sim.l[0].s[0])->bundles_acked >= 3);
	CHECK_EQ(sim.restarts, 0);
	sim_free(&sim);
	world_down(&w);
}

/* A FLASH bundle never waits behind ROUTINE ones: not in the first reconciliation,
 * and not when it is stored while ROUTINE pushes are queued. Small frames, so the
 * order across frames shows. */
static void
test_precedence_first(void)
{
	struct world w;
	struct sim sim;
	static struct expect e[130];
	static uint8_t buf[FRAME_CAP];
	size_t len;
	int pos = -1;

	world_up(&w, 2, 0);
	sim_init(&sim, &w);
	sim.tmpl.max_frame = 1024;
	sim_add_link(&sim, 0, 1);
	for (int i = 0; i < 60; i++)
		send_msg(&sim, &e[i], 0, 1, PREC_ROUTINE, i);
	send_msg(&sim, &e[60], 0, 1, PREC_FLASH, 60);
	sim.order_node = 1;
	link_up(&sim, 0);
	run_clean(&sim, 3000, FRAME_CAP);
	CHECK_EQ(check_inboxes(&w, e, 61, 1), 0);
	CHECK(sim.norder >= 61);
	CHECK(memcmp(sim.order[0], e[60].id, APAGON_HASH) == 0);    /* the FLASH first */

	/* Now with the session open: 60 ROUTINE pushes, one frame goes out, then a FLASH. */
	sim.norder = 0;
	for (int i = 61; i < 121; i++)
		send_msg(&sim, &e[i], 0, 1, PREC_ROUTINE, i);
	len = session_output(sim.l[0].s[0], buf, sizeof buf, sim.now);
	CHECK(len > 0 && len <= 1024);
	CHECK_EQ(session_input(sim.l[0].s[1], buf, len, sim.now), 0);
	{
		int before = sim.norder;

		send_msg(&sim, &e[121], 0, 1, PREC_FLASH, 121);
		/* Control messages (acknowledgements) may fill a frame; the next bundle to
		 * go out must be the FLASH. */
		for (int t = 0; t < 10 && sim.norder == before; t++) {
			len = session_output(sim.l[0].s[0], buf, sizeof buf, sim.now);
			CHECK_EQ(session_input(sim.l[0].s[1], buf, len, sim.now), 0);
		}
		for (int i = before; i < sim.norder; i++)
			if (memcmp(sim.order[i], e[121].id, APAGON_HASH) == 0)
				pos = i - before;
		CHECK_EQ(pos, 0);
	}
	run_clean(&sim, 3000, FRAME_CAP);
	CHECK_EQ(check_inboxes(&w, e, 122, 1), 0);
	sim_free(&sim);
	world_down(&w);
}

/* ---- rate limits ---- */

/* The buckets alone, on a fake clock: the burst, the FLASH/IMMEDIATE reserve, the
 * refill, refunds, and the byte count. */
static void
test_rate_buckets(void)
{
	struct ratelimit_params p;
	struct ratelimit_params in = { 60, 3, 6000, 1000 };     /* 1 a second, burst 3 */
	struct rl_pair b;
	static struct ratelimit rl;
	uint64_t now = 1000;
	uint8_t k1[APAGON_KEYID] = "flood", k2[APAGON_KEYID] = "quiet";

	memset(&b, 0, sizeof b);
	ratelimit_params_resolve(&p, &in, 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now), 1);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now), 0);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_PRIORITY, 10, now), 0);
	/* The reserve: as large as the burst, for FLASH and IMMEDIATE only. */
	CHECK_EQ(rl_pair_take(&b, &p, PREC_FLASH, 10, now), 1);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_IMMEDIATE, 10, now), 1);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_FLASH, 10, now), 1);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_FLASH, 10, now), 0);
	/* Three below zero: ROUTINE waits four seconds, one refill a second. */
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now + 3999), 0);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now + 4000), 1);
	rl_pair_refund(&b, &p, 10);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now + 4000), 1);
	/* Long idle refills to the burst, no further. */
	now += 1000000;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now), 1);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 10, now), 0);
	/* Bytes: a 1000-byte burst, 100 a second. */
	memset(&b, 0, sizeof b);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 900, now), 1);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 200, now), 0);
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 200, now + 1000), 1);
	/* Bigger than the burst: charged as the burst, so it passes once the bucket is
	 * full rather than never. */
	CHECK_EQ(rl_pair_take(&b, &p, PREC_ROUTINE, 5000, now + 100000), 1);

	/* Per sender: one member's flood does not touch another's share. */
	ratelimit_init(&rl, &in);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(ratelimit_sender_take(&rl, k1, PREC_ROUTINE, 10, now), 1);
	CHECK_EQ(ratelimit_sender_take(&rl, k1, PREC_ROUTINE, 10, now), 0);
	CHECK_EQ(ratelimit_sender_take(&rl, k2, PREC_ROUTINE, 10, now), 1);
	CHECK_EQ(rl.deferred, 1);
	ratelimit_sender_refund(&rl, k1, 10);
	CHECK_EQ(ratelimit_sender_take(&rl, k1, PREC_ROUTINE, 10, now), 1);
	/* A full table forgets the sender idle longest. */
	for (int i = 0; i < RATELIMIT_SENDERS + 10; i++) {
		uint8_t k[APAGON_KEYID] = { 0xee, (uint8_t)(i >> 8), (uint8_t)i };

		CHECK_EQ(ratelimit_sender_take(&rl, k, PREC_ROUTINE, 10, now + 1 + (uint64_t)i), 1);
	}
}

/* Messages from `from` to `to` among e[0..n) seen in the inboxes. */
static int
count_seen(struct world *w, struct expect *e, int n, int from)
{
	int c = 0;

	check_inboxes(w, e, n, 0);
	for (int i = 0; i < n; i++)
		c += e[i].from == from && e[i].seen;
	return c;
}

/*
 * Per sender. Alice floods ROUTINE to dave through two relays (carol and erin) while
 * bob sends a few through carol. Dave's one table of sender buckets, shared by both
 * links, takes bob's at once and slows alice as a whole; a FLASH alice sends mid-flood
 * overtakes her ROUTINE; and in the end everything arrives, exactly once.
 */
static void
test_rate_per_sender(void)
{
	enum { FLOOD = 200, QUIET = 5 };
	struct world w;
	struct sim sim;
	static struct expect e[FLOOD + QUIET + 1];
	static struct ratelimit rl;
	/* 2 a second, burst 20: small, so the test is short. */
	struct ratelimit_params sp = { 120, 20, 0, 0 };
	int n = 0, flash = -1, got;
	uint64_t deferred = 0;

	world_up(&w, 5, 0);
	sim_init(&sim, &w);
	ratelimit_init(&rl, &sp);
	sim.rl[3] = &rl;
	sim_add_link(&sim, 0, 2);
	sim_add_link(&sim, 0, 4);
	sim_add_link(&sim, 1, 2);
	sim_add_link(&sim, 2, 3);
	sim_add_link(&sim, 4, 3);
	for (int i = 0; i < FLOOD; i++, n++)
		send_msg(&sim, &e[n], 0, 3, PREC_ROUTINE, n);
	for (int i = 0; i < QUIET; i++, n++)
		send_msg(&sim, &e[n], 1, 3, i == QUIET - 1 ? PREC_FLASH : PREC_ROUTINE, n);
	sim.order_node = 3;
	for (int k = 0; k < sim.nl; k++)
		link_up(&sim, k);
	run_clean(&sim, 3000, FRAME_CAP);

	/* Bob's all in within the first rounds; alice's held to her share over both
	 * links together: the burst and a few seconds of refill. */
	CHECK_EQ(count_seen(&w, e, n, 1), QUIET);
	got = count_seen(&w, e, n, 0);
	CHECK(got >= 20);
	CHECK(got <= 20 + 2 * 4);
	for (int k = 3; k < 5; k++)
		deferred += session_stats(sim.l[k].s[1])->bundles_deferred_sender;
	CHECK(deferred > 0);
	CHECK(rl.deferred > 0);
	printf("# per sender: after 3 s, %d of bob's %d and %d of alice's %d; %llu deferred\n",
	    count_seen(&w, e, n, 1), QUIET, got, FLOOD, (unsigned long long)deferred);

	/* Mid-flood, alice sends a FLASH: it goes ahead of her ROUTINE still waiting. */
	sim.norder = 0;
	flash = n;
	send_msg(&sim, &e[n++], 0, 3, PREC_FLASH, flash);
	run_clean(&sim, 500, FRAME_CAP);
	check_inboxes(&w, e, n, 0);
	CHECK_EQ(e[flash].seen, 1);
	CHECK(count_seen(&w, e, n, 0) < FLOOD);
	CHECK(sim.norder >= 1 && memcmp(sim.order[0], e[flash].id, APAGON_HASH) == 0);

	/* Deferred, not dropped: given time, everything arrives, once. */
	run_clean(&sim, 150000, FRAME_CAP);
	CHECK_EQ(check_inboxes(&w, e, n, 1), 0);
	sim_free(&sim);
	world_down(&w);
}

/*
 * Per peer. A link that delivers more than its bucket allows is deferred: the
 * receiver neither takes nor acknowledges the rest, and they come on later rounds.
 */
static void
test_rate_per_peer(void)
{
	enum { N = 40 };
	struct world w;
	struct sim sim;
	static struct expect e[N + 1];
	const struct session_stats *st;
	int got;

	world_up(&w, 2, 0);
	sim_init(&sim, &w);
	/* 5 a second, burst 10. */
	sim.tmpl.peer_limit.bundles_per_min = 300;
	sim.tmpl.peer_limit.bundles_burst = 10;
	sim_add_link(&sim, 0, 1);
	for (int i = 0; i < N; i++)
		send_msg(&sim, &e[i], 0, 1, PREC_ROUTINE, i);
	link_up(&sim, 0);
	run_clean(&sim, 1000, FRAME_CAP);
	got = count_seen(&w, e, N, 0);
	CHECK(got >= 10);
	CHECK(got <= 10 + 5 * 2);
	st = session_stats(sim.l[0].s[1]);
	CHECK(st->bundles_deferred_peer > 0);
	printf("# per peer: after 1 s, %d of %d; %llu deferred\n", got, N,
	    (unsigned long long)st->bundles_deferred_peer);
	CHECK_EQ(st->bundles_deferred_sender, 0);
	CHECK_EQ(st->bundles_refused, 0);
	/* What was deferred was not acknowledged: the sender still has it to send. */
	CHECK(session_stats(sim.l[0].s[0])->bundles_acked <= (uint64_t)got);

	/* The FLASH reserve: it passes an empty bucket at once. */
	send_msg(&sim, &e[N], 0, 1, PREC_FLASH, N);
	run_clean(&sim, 300, FRAME_CAP);
	check_inboxes(&w, e, N + 1, 0);
	CHECK_EQ(e[N].seen, 1);

	run_clean(&sim, 30000, FRAME_CAP);
	CHECK_EQ(check_inboxes(&w, e, N + 1, 1), 0);
	CHECK_EQ(sim.restarts, 0);
	sim_free(&sim);
	world_down(&w);
}

/* Drive one pair of sessions until both settle; returns after `ms`. */
static void
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

static void
pair_new(struct node *ni, struct node *nr, uint64_t now, struct session **si, struct session **sr)
{
	struct session_config c;

	memset(&c, 0, sizeof c);
	c.hs_retry_ms = 300;
	c.hs_timeout_ms = 5000;
	CHECK_EQ(node_link_session(ni, 1, &c, now, si), 0);
	CHECK_EQ(node_link_session(nr, 0, &c, now, sr), 0);
}

static void
test_refuse_other_network(void)
{
	struct world w1, w2;
	struct session *a, *b;
	uint64_t now = (uint64_t)T0 * 1000;

	world_up(&w1, 2, 0);
	world_up(&w2, 2, 0);
	for (int dir = 0; dir < 2; dir++) {
		if (dir == 0)
			pair_new(w1.n[0], w2.n[1], now, &a, &b);
		else
			pair_new(w2.n[0], w1.n[1], now, &a, &b);
		drive_pair(a, b, &now, 10000);
		CHECK_EQ(session_state(a), SESSION_CLOSED);
		CHECK_EQ(session_error(a), SESSION_ETIMEOUT);
		CHECK(session_state(b) != SESSION_OPEN);
		CHECK(session_peer(a) == NULL && session_peer(b) == NULL);
		CHECK(session_stats(b)->bad_frames >= 1);       /* every HELLO refused */
		CHECK_EQ(session_stats(b)->hs_bytes_out, 0);    /* and never answered */
		session_free(a);
		session_free(b);
	}
	world_down(&w1);
	world_down(&w2);
}

/* Someone who holds the network key but no certificate from this authority: the
 * encrypted identity exchange runs, and the chain check refuses it. */
static void
test_refuse_stolen_network_key(void)
{
	struct world w1, w2;
	struct session *a, *b;
	struct session_config c;
	struct accept_ctx fake;
	uint64_t now = (uint64_t)T0 * 1000;

	world_up(&w1, 2, 0);
	world_up(&w2, 1, 0);
	fake = w2.n[0]->ax;
	fake.nk = &w1.n[0]->nk;         /* w1's network key, w2's certificate */
	for (int dir = 0; dir < 2; dir++) {
		memset(&c, 0, sizeof c);
		c.hs_timeout_ms = 5000;
		c.initiator = dir == 0;
		c.ax = &fake;
		c.pk = w2.n[0]->pk;
		c.sk = w2.n[0]->sk;
		c.chain = node_chain(w2.n[0]);
		CHECK_EQ(session_new(&a, &c, now), 0);
		CHECK_EQ(node_link_session(w1.n[1], dir != 0, NULL, now, &b), 0);
		/* The refused identity is ignored, not fatal (test_forged_handshake_answers):
		 * b never opens, and closes with the reason at its handshake timeout (30 s). */
		drive_pair(a, b, &now, 8000);
		CHECK(session_state(b) != SESSION_OPEN);
		CHECK(session_stats(b)->hs_refused > 0);
		drive_pair(a, b, &now, 30000);
		CHECK_EQ(session_state(b), SESSION_CLOSED);
		CHECK_EQ(session_error(b), MESH_ECHAIN);
		CHECK(session_state(a) != SESSION_OPEN);
		session_free(a);
		session_free(b);
	}
	world_down(&w1);
	world_down(&w2);
}

/* Anyone who holds the network key can answer an HS1 it sees on a shared bearer. A
 * revoked member's HS2 decrypts for alice but must not end her handshake: she ignores
 * it (hs_refused) and completes with carol's genuine answer. The same for the
 * responder: an HS3 with a revoked identity, after the revoked member's own HS1,
 * leaves carol waiting, and alice's HS1 then restarts and completes it. */
static void
test_forged_handshake_answers(void)
{
	struct world w;
	struct session *a, *c, *m;
	uint64_t now = (uint64_t)T0 * 1000;
	static uint8_t f1[FRAME_CAP], f2[FRAME_CAP], f3[FRAME_CAP];
	size_t l1, l2, l3;
	uint8_t *rev;
	size_t rlen;

	world_up(&w, 3, 0);
	CHECK_EQ(issuer_revoke(w.auth, node_pk(w.n[1]), "lost phone", T0, &rev, &rlen), 0);
	CHECK_EQ(node_import(w.n[0], rev, rlen, T0, NULL, NULL, NULL), 0);
	CHECK_EQ(node_import(w.n[2], rev, rlen, T0, NULL, NULL, NULL), 0);
	free(rev);

	/* Initiator side: bob (revoked) answers alice's HS1 first. */
	pair_new(w.n[0], w.n[2], now, &a, &c);
	CHECK_EQ(node_link_session(w.n[1], 0, NULL, now, &m), 0);
	l1 = session_output(a, f1, sizeof f1, now);
	CHECK(l1 > 0);
	session_input(m, f1, l1, now);
	l2 = session_output(m, f2, sizeof f2, now);
	CHECK(l2 > 0);
	session_input(a, f2, l2, now);
	CHECK(session_state(a) != SESSION_CLOSED);
	CHECK_EQ(session_stats(a)->hs_refused, 1);
	session_input(c, f1, l1, now);
	drive_pair(a, c, &now, 3000);
	CHECK_EQ(session_state(a), SESSION_OPEN);
	CHECK_EQ(session_state(c), SESSION_OPEN);
	session_free(a);
	session_free(c);
	session_free(m);

	/* Responder side: bob opens carol's session with his own HS1, and his HS3 is
	 * refused; alice's HS1 then completes it. */
	pair_new(w.n[0], w.n[2], now, &a, &c);
	CHECK_EQ(node_link_session(w.n[1], 1, NULL, now, &m), 0);
	l1 = session_output(m, f1, sizeof f1, now);
	session_input(c, f1, l1, now);
	l2 = session_output(c, f2, sizeof f2, now);
	session_input(m, f2, l2, now);
	l3 = session_output(m, f3, sizeof f3, now);
	CHECK(l1 > 0 && l2 > 0 && l3 > 0);
	session_input(c, f3, l3, now);
	CHECK(session_state(c) != SESSION_CLOSED);
	CHECK_EQ(session_stats(c)->hs_refused, 1);
	drive_pair(a, c, &now, 3000);
	CHECK_EQ(session_state(a), SESSION_OPEN);
	CHECK_EQ(session_state(c), SESSION_OPEN);
	CHECK(session_peer(c) && memcmp(session_peer(c), node_pk(w.n[0]), APAGON_SIGN_PK) == 0);
	session_free(a);
	session_free(c);
	session_free(m);
	world_down(&w);
}

/* ACKs name bundles we sent; an ACK for any other ID says nothing we can use. A peer
 * that sends ACKs for random IDs must not grow the session's memory: before the fix
 * each became an entry that lived as long as the session. */
static void
test_ack_flood_bounded(void)
{
	struct world w;
	struct session *a, *b;
	uint64_t now = (uint64_t)T0 * 1000;
	static uint8_t msg[3 + 4080];
	uint64_t before;

	world_up(&w, 2, 0);
	pair_new(w.n[0], w.n[1], now, &a, &b);
	drive_pair(a, b, &now, 2000);
	CHECK_EQ(session_state(b), SESSION_OPEN);
	before = session_stats(b)->ids_known;
	msg[0] = SMSG_ACK;
	msg[1] = 4080 >> 8;
	msg[2] = 4080 & 255;
	for (int f = 0; f < 200; f++) {         /* 51,000 IDs nobody ever sent */
		randombytes_buf(msg + 3, 4080);
		CHECK_EQ(session_input_plain(b, msg, sizeof msg, now), MESH_OK);
	}
	CHECK_EQ(session_state(b), SESSION_OPEN);
	CHECK_EQ(session_stats(b)->ids_known, before);
	session_free(a);
	session_free(b);
	world_down(&w);
}

/* Each new reconciliation round costs the responder a snapshot of its whole store. One
 * frame can carry about 1,800 SYMBOLS messages, each naming a new round: before the
 * fix each rebuilt the snapshot (151 s of CPU for one frame over 20,000 bundles in
 * review). Now one frame starts at most one round, and rounds start at least
 * SESSION_ROUND_GAP_MS apart unless the last one is over. */
static void
test_round_flood_bounded(void)
{
	struct world w;
	struct session *a, *b;
	uint64_t now = (uint64_t)T0 * 1000;
	static uint8_t msg[100 * 33];
	size_t off = 0;
	uint64_t refused0;

	world_up(&w, 2, 0);
	pair_new(w.n[0], w.n[1], now, &a, &b);
	drive_pair(a, b, &now, 2000);
	CHECK_EQ(session_state(b), SESSION_OPEN);
	refused0 = session_stats(b)->rounds_refused;
	for (uint32_t r = 1000; off + 33 <= sizeof msg; r++) {
		uint8_t *p = msg + off;

		p[0] = SMSG_SYMBOLS;
		p[1] = 0;
		p[2] = 30;
		p[3] = (uint8_t)(r >> 24);
		p[4] = (uint8_t)(r >> 16);
		p[5] = (uint8_t)(r >> 8);
		p[6] = (uint8_t)r;
		memset(p + 7, 0, 4);            /* start 0 */
		p[11] = 0;                      /* not the end of a batch */
		randombytes_buf(p + 12, 21);
		off += 33;
	}
	CHECK_EQ(session_input_plain(b, msg, off, now), MESH_OK);
	CHECK_EQ(session_stats(b)->rounds_refused - refused0, 99);
	/* The next frame, at once: its new round is refused too. */
	msg[6]++;
	CHECK_EQ(session_input_plain(b, msg, 33, now), MESH_OK);
	CHECK_EQ(session_stats(b)->rounds_refused - refused0, 100);
	CHECK_EQ(session_state(b), SESSION_OPEN);
	session_free(a);
	session_free(b);
	world_down(&w);
}

/* A revocation must close an open session with the revoked member even when its
 * certificate was never stored here (a modified client that withholds its CERT
 * bundle): the chain it proved in the handshake is what counts. */
static void
test_revoked_peer_without_stored_cert(void)
{
	struct world w;
	struct node *x;
	struct session *a, *b;
	uint64_t now = (uint64_t)T0 * 1000;
	uint8_t *rev;
	size_t rlen;

	world_up(&w, 1, 0);
	x = enrol(&w, "xavier", 0, T0);         /* never carried to alice */
	CHECK_EQ(store_gc(x->st, INT64_MAX / 2, NULL), 0);      /* and offers no CERT */
	pair_new(w.n[0], x, now, &a, &b);
	drive_pair(a, b, &now, 2000);
	CHECK_EQ(session_state(a), SESSION_OPEN);
	CHECK_EQ(node_peer_revoked(w.n[0], a), 0);
	CHECK_EQ(issuer_revoke(w.auth, node_pk(x), "lost laptop", T0, &rev, &rlen), 0);
	CHECK_EQ(node_import(w.n[0], rev, rlen, T0, NULL, NULL, NULL), 0);
	free(rev);
	CHECK_EQ(node_member_revoked(w.n[0], node_pk(x)), 0);   /* no member row */
	CHECK_EQ(node_peer_revoked(w.n[0], a), 1);
	session_free(a);
	session_free(b);
	node_close(x);
	world_down(&w);
}

static void
test_refuse_revoked(void)
{
	struct world w;
	struct session *a, *b;
	uint64_t now = (uint64_t)T0 * 1000;
	uint8_t *rev;
	size_t rlen;

	world_up(&w, 3, 0);
	CHECK_EQ(issuer_revoke(w.auth, node_pk(w.n[1]), "lost phone", T0, &rev, &rlen), 0);
	CHECK_EQ(node_import(w.n[0], rev, rlen, T0, NULL, NULL, NULL), 0);
	free(rev);
	/* alice knows bob is revoked: she refuses him whichever side opens. */
	for (int dir = 0; dir < 2; dir++) {
		if (dir == 0)
			pair_new(w.n[0], w.n[1], now, &a, &b);
		else
			pair_new(w.n[1], w.n[0], now, &b, &a);
		drive_pair(a, b, &now, 8000);
		CHECK_EQ(session_state(a), SESSION_CLOSED);
		CHECK_EQ(session_error(a), MESH_EREVOKED);
		CHECK(session_state(b) != SESSION_OPEN);
		session_free(a);
		session_free(b);
	}
	/* alice and carol still talk. */
	pair_new(w.n[0], w.n[2], now, &a, &b);
	drive_pair(a, b, &now, 2000);
	CHECK_EQ(session_state(a), SESSION_OPEN);
	CHECK_EQ(session_state(b), SESSION_OPEN);
	session_free(a);
	session_free(b);
	world_down(&w);
}

static void
test_refuse_expired(void)
{
	struct world w;
	struct session *a, *b;
	uint64_t now = (uint64_t)(T0 + 3 * 86400) * 1000;

	world_up(&w, 2, 1);     /* bob's certificate is valid for one day */
	pair_new(w.n[0], w.n[1], now, &a, &b);
	drive_pair(a, b, &now, 8000);
	CHECK_EQ(session_state(a), SESSION_CLOSED);
	CHECK_EQ(session_error(a), MESH_EEXPIRED);
	session_free(a);
	session_free(b);
	world_down(&w);
}

/* Every bit of a data frame matters; a replay is refused; neither is fatal. */
static void
test_tampered_and_replayed(void)
{
	struct world w;
	struct sim sim;
	struct expect e[4];
	struct simlink *l;
	uint64_t bad;

	world_up(&w, 2, 0);
	sim_init(&sim, &w);
	sim_add_link(&sim, 0, 1);
	link_up(&sim, 0);
	run_clean(&sim, 2000, FRAME_CAP);
	l = &sim.l[0];
	CHECK_EQ(session_state(l->s[1]), SESSION_OPEN);
	for (int i = 0; i < 4; i++)
		send_msg(&sim, &e[i], 0, 1, PREC_PRIORITY, i);
	pump(&sim, FRAME_CAP);
	CHECK(l->q[0].n >= 1);
	bad = session_stats(l->s[1])->bad_frames;
	{
		struct frame *f = &l->q[0].f[0];

		for (size_t byte = 0; byte < f->len; byte += (byte < 40 ? 1 : 37)) {
			f->p[byte] ^= 0x10;
			CHECK(session_input(l->s[1], f->p, f->len, sim.now) != MESH_OK);
			f->p[byte] ^= 0x10;
		}
		CHECK(session_input(l->s[1], f->p, f->len - 1, sim.now) != MESH_OK);
		CHECK(session_input(l->s[1], f->p, 5, sim.now) != MESH_OK);
	}
	CHECK(session_stats(l->s[1])->bad_frames + session_stats(l->s[1])->replayed > bad + 20);
	CHECK_EQ(session_stats(l->s[1])->bundles_in, 0);
	deliver(&sim, 0, 0, 0, 1);      /* genuine, and kept for a replay */
	CHECK_EQ(session_stats(l->s[1])->bundles_in, 4);
	bad = session_stats(l->s[1])->replayed;
	deliver(&sim, 0, 0, 0, 0);      /* the replay */
	CHECK_EQ(session_stats(l->s[1])->replayed, bad + 1);
	CHECK_EQ(session_state(l->s[1]), SESSION_OPEN);
	run_clean(&sim, 2000, FRAME_CAP);
	CHECK_EQ(check_inboxes(&w, e, 4, 1), 0);
	CHECK_EQ(sim.restarts, 0);
	sim_free(&sim);
	world_down(&w);
}

/* Handshake frames and garbage at every stage: counted, never fatal, never open. */
static void
test_garbage_frames(void)
{
	struct world w;
	struct session *a, *b;
	uint64_t now = (uint64_t)T0 * 1000;
	uint8_t junk[700];

	world_up(&w, 2, 0);
	pair_new(w.n[0], w.n[1], now, &a, &b);
	for (int t = 0; t < 200; t++) {
		size_t len = pick(sizeof junk);

		for (size_t i = 0; i < len; i++)
			junk[i] = (uint8_t)pick(256);
		if (len)
			junk[0] = (uint8_t)(t % 5 == 4 ? 0x10 : t % 5);
		session_input(a, junk, len, now);
		session_input(b, junk, len, now);
	}
	CHECK(session_state(a) == SESSION_HANDSHAKE && session_state(b) == SESSION_HANDSHAKE);
	CHECK(session_stats(b)->bad_frames >= 150);
	drive_pair(a, b, &now, 2000);
	CHECK_EQ(session_state(a), SESSION_OPEN);
	CHECK_EQ(session_state(b), SESSION_OPEN);
	CHECK_EQ(session_parse((const uint8_t *)"\x02\x00\x01\x00", 4, NULL, NULL), MESH_EDECODE);
	CHECK_EQ(session_parse((const uint8_t *)"\x01\x00\x00", 3, NULL, NULL), MESH_OK);
	CHECK_EQ(session_parse((const uint8_t *)"\x01\x00", 2, NULL, NULL), MESH_EDECODE);
	CHECK_EQ(session_input_plain(b, (const uint8_t *)"\x06\x00\x10", 3, now), MESH_EDECODE);
	session_free(a);
	session_free(b);
	world_down(&w);
}

/*
 * The interaction test. 2..5 nodes on a random connected graph of links; many random
 * steps of: send, link down/up, deliver in order, drop, duplicate, reorder, replay an
 * old frame, let time pass. Then all links come up healthy, and every message is
 * delivered exactly once with its exact text.
 */
static void
interaction_round(int nn, int steps, uint64_t seed)
{
	struct world w;
	struct sim sim;
	static struct expect e[256];
	int ne = 0, missing;

	pick_state = seed;
	world_up(&w, nn, 0);
	sim_init(&sim, &w);
	for (int i = 1; i < nn; i++)
		sim_add_link(&sim, (int)pick((uint32_t)i), i);       /* a random tree */
	for (int i = 0; i < nn && sim.nl < MAXL; i++) {
		int a = (int)pick((uint32_t)nn), b = (int)pick((uint32_t)nn);

		if (a != b && pick(2))
			sim_add_link(&sim, a < b ? a : b, a < b ? b : a);
	}
	for (int k = 0; k < sim.nl; k++)
		link_up(&sim, k);
	for (int step = 0; step < steps; step++) {
		int k = (int)pick((uint32_t)sim.nl), d = (int)pick(2);
		struct simlink *l = &sim.l[k];
		uint32_t r = pick(100);

		if (r < 6 && ne < 256) {
			int from = (int)pick((uint32_t)nn), to = (int)pick((uint32_t)nn - 1);

			to += to >= from;
			send_msg(&sim, &e[ne], from, to, (int)pick(4), ne);
			ne++;
		} else if (r < 8) {
			if (l->up)
				link_down(&sim, k);
			else
				link_up(&sim, k);
		} else if (r < 12) {
			pump(&sim, pick(2) ? FRAME_CAP : 2048);
		} else if (r < 50) {
			if (l->up && l->q[d].n)
				deliver(&sim, k, d, 0, 0);
		} else if (r < 58) {
			if (l->up && l->q[d].n) {               /* drop */
				free(l->q[d].f[0].p);
				memmove(&l->q[d].f[0], &l->q[d].f[1], sizeof l->q[d].f[0] *
				    (size_t)(l->q[d].n - 1));
				l->q[d].n--;
			}
		} else if (r < 63) {
			if (l->up && l->q[d].n)
				deliver(&sim, k, d, 0, 1);      /* duplicate */
		} else if (r < 70) {
			if (l->up && l->q[d].n)                 /* reorder */
				deliver(&sim, k, d, (int)pick((uint32_t)l->q[d].n), 0);
		} else if (r < 74) {
			if (l->up && l->nhist[d]) {             /* replay an old frame */
				struct frame *f = &l->hist[d][pick((uint32_t)l->nhist[d])];

				session_input(l->s[1 - d], f->p, f->len, sim.now);
			}
		} else if (r < 99 || pick(3)) {
			sim.now += pick(150);
			tick(&sim);
		} else {
			sim.now += 7000;        /* a long silence: idle links close, reopen */
			tick(&sim);
		}
	}
	for (int k = 0; k < sim.nl; k++)
		if (!sim.l[k].up)
			link_up(&sim, k);
	for (int t = 0; t < 12; t++) {
		run_clean(&sim, 4000, FRAME_CAP);
		if ((missing = check_inboxes(&w, e, ne, 0)) == 0)
			break;
	}
	CHECK_EQ(check_inboxes(&w, e, ne, 1), 0);
	sim_free(&sim);
	printf("# interaction: %d nodes, %d links, %d steps, %d messages; %llu session restarts, "
	    "%llu bad frames, %llu replays refused, %llu rounds, %llu bundles in, %llu dup\n",
	    nn, sim.nl, steps, ne, (unsigned long long)sim.restarts,
	    (unsigned long long)sim.sum.bad_frames, (unsigned long long)sim.sum.replayed,
	    (unsigned long long)sim.sum.rounds, (unsigned long long)sim.sum.bundles_in,
	    (unsigned long long)sim.sum.bundles_dup);
	CHECK(sim.sum.replayed + sim.sum.bad_frames > 0);
	CHECK(sim.restarts > 0);
	world_down(&w);
}

static void
test_interaction(void)
{
	interaction_round(2, 1500, 1);
	interaction_round(3, 2000, 2);
	interaction_round(4, 2500, 3);
	interaction_round(5, 3000, 4);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_handshake_and_sync),
		TEST(test_precedence_first),
		TEST(test_refuse_other_network),
		TEST(test_refuse_stolen_network_key),
		TEST(test_refuse_revoked),
		TEST(test_forged_handshake_answers),
		TEST(test_ack_flood_bounded),
		TEST(test_round_flood_bounded),
		TEST(test_revoked_peer_without_stored_cert),
		TEST(test_refuse_expired),
		TEST(test_tampered_and_replayed),
		TEST(test_garbage_frames),
		TEST(test_interaction),
		TEST(test_rate_buckets),
		TEST(test_rate_per_sender),
		TEST(test_rate_per_peer),
	};

	test_rng_use("apagon test_session seed");
	return test_main("session", cases, sizeof cases / sizeof cases[0], argc, argv);
}
