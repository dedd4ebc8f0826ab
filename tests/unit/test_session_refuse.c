/*
 * The link-session handshake refuses whoever must not get in, and a member cannot
 * use a session to make its peer do unbounded work: another network, a stolen network
 * key without a certificate, revoked and expired members (also when the certificate
 * was never stored), forged handshake answers, floods of ACKs and of reconciliation
 * rounds. Real nodes on real SQLite files (session_fixture.h).
 */
#include "../test.h"
#include "session_fixture.h"

/* ---- refusals ---- */

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

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_refuse_other_network),
		TEST(test_refuse_stolen_network_key),
		TEST(test_refuse_revoked),
		TEST(test_forged_handshake_answers),
		TEST(test_ack_flood_bounded),
		TEST(test_round_flood_bounded),
		TEST(test_revoked_peer_without_stored_cert),
		TEST(test_refuse_expired),
	};

	test_rng_use("apagon test_session_refuse seed");
	return test_main("session_refuse", cases, sizeof cases / sizeof cases[0], argc, argv);
}
