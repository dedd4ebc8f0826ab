/*
 * Link sessions end to end: real nodes on real SQLite files in a temp dir, sessions
 * joined by in-memory links (session_fixture.h), a fake clock and a seeded random
 * source. Bundles move highest precedence first; tampered and replayed frames and
 * garbage are refused and counted; per-sender and per-peer rate limits hold; and a
 * libsignal-style interaction test drives 2 to 5 nodes through random sends, link
 * flaps, drops, duplicates, reordering and replays, then checks that every message
 * arrived exactly once with its exact text. The handshake's refusals are in
 * test_session_refuse.c.
 */
#include "../test.h"
#include "session_fixture.h"

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
	/* The receipts came back: alice's outbox says delivered. bob may take the three
	 * in one batch and answer with one receipt naming them all. */
	run_clean(&sim, 4000, FRAME_CAP);
	CHECK(session_stats(sim.l[0].s[0])->bundles_in >= 1);
	CHECK(session_stats(sim.l[0].s[0])->bundles_acked >= 3);
	for (int i = 0; i < 3; i++) {
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.n[0]), e[i].id, &m), 0);
		CHECK_EQ(m.state, OUT_DELIVERED);
	}
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
	sim.tmpl.ack_delay_ms = 250;          /* the daemon's */
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

/* How many bundles of `type` addressed to `to` a node holds. */
struct held_count {
	uint8_t kid[APAGON_KEYID];
	int type, n;
};

static int
count_held(void *ctx, const struct stored_bundle *sb)
{
	struct held_count *h = ctx;

	h->n += sb->type == h->type && memcmp(sb->recipient, h->kid, APAGON_KEYID) == 0;
	return 0;
}

static int
held_for(struct node *n, struct node *to, int type)
{
	struct held_count h = { .type = type };

	crypto_key_id(h.kid, node_pk(to));
	CHECK_EQ(store_each_bundle_brief(node_store(n), T0, count_held, &h), 0);
	return h.n;
}

static int
count_due(void *ctx, const struct receipt_due *r)
{
	(void)r;
	++*(int *)ctx;
	return 0;
}

static int
owed(struct node *n)
{
	int c = 0;

	CHECK_EQ(store_each_receipt_due(node_store(n), count_due, &c), 0);
	return c;
}

/*
 * When a session opens, our own messages for the peer that no peer has taken yet go
 * out at once, before reconciliation: here two of alice's three messages for bob.
 * The third was taken by carol already, so bob may have it (and its receipt may be
 * on its way): reconciliation sends it. An export file that carries the two does not
 * count as a peer taking them: they are pushed all the same. Nothing crosses twice,
 * and everything arrives.
 */
static void
test_push_for_peer(void)
{
	struct world w;
	struct sim sim;
	struct expect e[4];

	world_up(&w, 3, 0);
	sim_init(&sim, &w);
	sim_add_link(&sim, 0, 1);       /* alice - bob */
	sim_add_link(&sim, 0, 2);       /* alice - carol */
	send_msg(&sim, &e[0], 0, 1, 0, 0);
	link_up(&sim, 1);
	run_clean(&sim, 4000, FRAME_CAP);
	link_down(&sim, 1);
	send_msg(&sim, &e[1], 0, 1, 0, 1);
	send_msg(&sim, &e[2], 0, 1, 2, 2);
	send_msg(&sim, &e[3], 0, 2, 0, 3);
	CHECK_EQ(node_export(w.n[0], (int64_t)(sim.now / 1000), path_in(&w, "out.apg"), NULL,
	    NULL, NULL), 0);
	for (int i = 1; i <= 2; i++) {
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.n[0]), e[i].id, &m), 0);
		CHECK_EQ(m.exported, 1);
		CHECK_EQ(m.sent_count, 0);
	}
	link_up(&sim, 0);
	run_clean(&sim, 6000, FRAME_CAP);
	CHECK_EQ(session_stats(sim.l[0].s[0])->bundles_pushed, 2);
	CHECK_EQ(session_stats(sim.l[0].s[1])->bundles_pushed, 0);
	CHECK_EQ(check_inboxes(&w, e, 3, 0), 0);
	CHECK_EQ(session_stats(sim.l[0].s[1])->bundles_dup, 0);
	CHECK_EQ(session_stats(sim.l[0].s[0])->push_failed, 0);
	sim_free(&sim);
	world_down(&w);
}

/*
 * With a receipt delay (the daemon's), messages bob takes in one at a time owe their
 * receipts, in his store, until none has come for the delay: then one receipt names
 * them all, and alice's outbox says delivered. Before, each batch wrote its own
 * receipt at once.
 */
static void
test_receipts_wait_and_join(void)
{
	struct world w;
	struct sim sim;
	struct expect e[3];
	struct msg_rec m;
	int64_t due, first;
	struct node_receipts_made made;

	world_up(&w, 2, 0);
	node_set_receipt_delay(w.n[1], 5);
	sim_init(&sim, &w);
	sim_add_link(&sim, 0, 1);
	link_up(&sim, 0);
	for (int i = 0; i < 3; i++) {
		send_msg(&sim, &e[i], 0, 1, i, i);
		run_clean(&sim, 1000, FRAME_CAP);
	}
	CHECK_EQ(check_inboxes(&w, e, 3, 1), 0);
	CHECK_EQ(owed(w.n[1]), 3);
	CHECK_EQ(held_for(w.n[1], w.n[0], BUNDLE_RECEIPT), 0);
	due = node_receipts_due_at(w.n[1]);
	CHECK(due > 0);
	/* Not yet: nothing written. */
	CHECK_EQ(node_receipts_flush(w.n[1], due - 1, 0, &made), 0);
	CHECK_EQ(made.n, 0);
	CHECK_EQ(owed(w.n[1]), 3);
	/* Due: one receipt for the three. */
	CHECK_EQ(node_receipts_flush(w.n[1], due, 0, &made), 0);
	CHECK_EQ(made.n, 1);
	CHECK_EQ(made.kept, 1);
	CHECK_EQ(owed(w.n[1]), 0);
	CHECK_EQ(node_receipts_due_at(w.n[1]), 0);
	CHECK_EQ(held_for(w.n[1], w.n[0], BUNDLE_RECEIPT), 1);
	/* Offered on the open session, as the daemon does: bob is the responder, so
	 * no round of his would find it before alice's next one. */
	CHECK_EQ(session_notify(sim.l[0].s[1], made.id[0], made.precedence[0]), 0);
	run_clean(&sim, 4000, FRAME_CAP);
	/* Delivered when bob took in the first of them, not when he wrote the receipt. */
	CHECK_EQ(store_get_msg(node_store(w.n[1]), e[0].id, &m), 0);
	first = m.local_time;
	CHECK(first < due - 5);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(store_get_msg(node_store(w.n[0]), e[i].id, &m), 0);
		CHECK_EQ(m.state, OUT_DELIVERED);
		CHECK_EQ(m.delivered_at, first);
	}
	sim_free(&sim);
	world_down(&w);
}

/* Frames both ways until quiet, the clock standing still. */
static void
settle(struct sim *sim)
{
	int moved = 1;

	while (moved) {
		moved = 0;
		pump(sim, FRAME_CAP);
		for (int d = 0; d < 2; d++)
			while (sim->l[0].up && sim->l[0].q[d].n) {
				deliver(sim, 0, d, 0, 0);
				moved = 1;
			}
	}
}

/*
 * With an ACK delay (the daemon's), bob's acknowledgement of a bundle waits for a
 * frame he sends anyway, and goes alone only when the delay is over: the session's
 * timer says when. A frame of his own bundles carries it at once.
 */
static void
test_acks_wait_and_ride(void)
{
	struct world w;
	struct sim sim;
	struct expect e[4];
	const struct session_stats *sa, *sb;
	int64_t t;

	world_up(&w, 2, 0);
	node_set_receipt_delay(w.n[1], 5);      /* no receipt to carry the ACKs */
	sim_init(&sim, &w);
	sim.tmpl.ack_delay_ms = 250;
	sim_add_link(&sim, 0, 1);
	send_msg(&sim, &e[0], 0, 1, 0, 0);
	link_up(&sim, 0);
	run_clean(&sim, 3000, FRAME_CAP);
	sa = session_stats(sim.l[0].s[0]);
	sb = session_stats(sim.l[0].s[1]);
	CHECK_EQ(sb->bundles_in, 1);
	CHECK_EQ(sa->bundles_acked, 1);

	/* Alone: held while the clock stands still, sent when the delay is over. (What
	 * the last tick queued, a PING, goes first.) */
	settle(&sim);
	send_msg(&sim, &e[1], 0, 1, 0, 1);
	settle(&sim);
	CHECK_EQ(sb->bundles_in, 2);
	CHECK_EQ(sa->bundles_acked, 1);
	t = session_timeout(sim.l[0].s[1], sim.now);
	CHECK(t > 0 && t <= 250);
	sim.now += (uint64_t)t - 1;
	settle(&sim);
	CHECK_EQ(sa->bundles_acked, 1);
	sim.now += 1;
	settle(&sim);
	CHECK_EQ(sa->bundles_acked, 2);

	/* Riding: bob's own message goes out, and the waiting ACK with it. */
	send_msg(&sim, &e[2], 0, 1, 0, 2);
	settle(&sim);
	CHECK_EQ(sb->bundles_in, 3);
	CHECK_EQ(sa->bundles_acked, 2);
	send_msg(&sim, &e[3], 1, 0, 0, 3);
	settle(&sim);
	CHECK_EQ(sa->bundles_acked, 3);
	CHECK_EQ(sa->bundles_in, 1);

	run_clean(&sim, 3000, FRAME_CAP);
	CHECK_EQ(check_inboxes(&w, e, 4, 1), 0);
	CHECK_EQ(sim.restarts, 0);
	sim_free(&sim);
	world_down(&w);
}

/*
 * Once the node a bundle is for acknowledges it, whoever carried it there lets it go:
 * bob's receipts for alice, once alice has them, are not offered to her at every
 * later meeting until they expire; and carol's relay copy of a message for bob is
 * dropped when bob acknowledges it.
 */
static void
test_delivered_copies_let_go(void)
{
	struct world w;
	struct sim sim;
	struct expect e[3];
	const struct session_stats *st;

	world_up(&w, 3, 0);
	sim_init(&sim, &w);
	sim_add_link(&sim, 0, 1);       /* alice - bob */
	sim_add_link(&sim, 2, 1);       /* carol - bob */
	sim_add_link(&sim, 0, 2);       /* alice - carol */
	for (int i = 0; i < 3; i++)
		send_msg(&sim, &e[i], 0, 1, i, i);
	/* carol takes a relay copy of alice's first message. */
	link_up(&sim, 2);
	run_clean(&sim, 4000, FRAME_CAP);
	link_down(&sim, 2);
	CHECK_EQ(held_for(w.n[2], w.n[1], BUNDLE_MSG), 3);

	/* alice meets bob: the messages cross, the receipts come back. */
	link_up(&sim, 0);
	run_clean(&sim, 6000, FRAME_CAP);
	for (int i = 0; i < 3; i++) {
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.n[0]), e[i].id, &m), 0);
		CHECK_EQ(m.state, OUT_DELIVERED);
	}
	CHECK_EQ(held_for(w.n[1], w.n[0], BUNDLE_RECEIPT), 0);
	link_down(&sim, 0);

	/* They meet again: nothing of that exchange crosses a second time. */
	link_up(&sim, 0);
	run_clean(&sim, 6000, FRAME_CAP);
	st = session_stats(sim.l[0].s[0]);
	CHECK_EQ(st->bundles_dup, 0);
	CHECK_EQ(st->bundles_in, 0);
	link_down(&sim, 0);

	/* carol meets bob: bob has her copies already (tombstones) and says so; carol
	 * drops them. */
	link_up(&sim, 1);
	run_clean(&sim, 6000, FRAME_CAP);
	CHECK_EQ(held_for(w.n[2], w.n[1], BUNDLE_MSG), 0);
	CHECK_EQ(check_inboxes(&w, e, 3, 1), 0);
	CHECK_EQ(sim.restarts, 0);
	sim_free(&sim);
	world_down(&w);
}

/*
 * node_link_acked's rule on its own: only the recipient's own acknowledgement lets a
 * carried copy go, never another member's, and not while a second member shares the
 * recipient's 6-byte key ID; the sender's own message stays pinned.
 */
static void
test_ack_lets_go_only_for_recipient(void)
{
	struct world w;
	struct sim sim;
	struct expect e;
	struct member m;
	struct stored_bundle sb;
	struct msg_rec rec;

	world_up(&w, 4, 0);
	sim_init(&sim, &w);
	send_msg(&sim, &e, 0, 1, PREC_ROUTINE, 0);
	carry(w.n[0], w.n[2], T0);
	carry(w.n[0], w.n[3], T0);
	CHECK_EQ(store_get_bundle_brief(node_store(w.n[2]), e.id, &sb), 0);

	/* alice is not its recipient: carol keeps it. */
	node_link_acked(w.n[2], e.id, node_pk(w.n[0]));
	CHECK_EQ(store_get_bundle_brief(node_store(w.n[2]), e.id, &sb), 0);
	/* A second member with bob's key ID (as if ground): carol keeps it. */
	CHECK_EQ(store_get_member(node_store(w.n[2]), node_pk(w.n[1]), &m), 0);
	m.pk[0] ^= 1;
	CHECK_EQ(store_put_member(node_store(w.n[2]), &m), 0);
	node_link_acked(w.n[2], e.id, node_pk(w.n[1]));
	CHECK_EQ(store_get_bundle_brief(node_store(w.n[2]), e.id, &sb), 0);
	/* dave knows bob alone: bob's word lets his copy go, a tombstone stays. */
	node_link_acked(w.n[3], e.id, node_pk(w.n[1]));
	CHECK_EQ(store_get_bundle_brief(node_store(w.n[3]), e.id, &sb), MESH_ENOTFOUND);
	CHECK_EQ(store_has_bundle(node_store(w.n[3]), e.id), 1);
	/* alice's own message: counted as sent, kept until its receipt. */
	node_link_acked(w.n[0], e.id, node_pk(w.n[1]));
	CHECK_EQ(store_get_bundle_brief(node_store(w.n[0]), e.id, &sb), 0);
	CHECK_EQ(store_get_msg_brief(node_store(w.n[0]), e.id, &rec), 0);
	CHECK_EQ(rec.sent_count, 1);
	sim_free(&sim);
	world_down(&w);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_handshake_and_sync),
		TEST(test_delivered_copies_let_go),
		TEST(test_ack_lets_go_only_for_recipient),
		TEST(test_receipts_wait_and_join),
		TEST(test_acks_wait_and_ride),
		TEST(test_push_for_peer),
		TEST(test_precedence_first),
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
