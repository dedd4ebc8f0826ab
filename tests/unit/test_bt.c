/*
 * The Bluetooth transport's parts that need no kernel (docs/bluetooth.md): the
 * length-prefixed framing, the discovery tokens and their advertising structure,
 * the connection manager's policy, and the transport's behaviour where the kernel
 * has no Bluetooth at all (this build host: EAFNOSUPPORT). What needs the kernel runs
 * in the VM (tests/integration/bluetooth_vm.sh).
 */
#include "../test.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/socket.h>

#include <sodium.h>

#include "../../node/bt_frame.h"
#include "../../node/bt_policy.h"
#include "../../node/bt_token.h"
#include "../../node/config.h"
#include "../../node/transport.h"

/* ---------------- framing ---------------- */

struct got {
	int n;
	size_t len[8];
	uint8_t first[8];
};

static void
on_frame(void *ctx, const uint8_t *f, size_t len)
{
	struct got *g = ctx;

	if (g->n < 8) {
		g->len[g->n] = len;
		g->first[g->n] = f[0];
	}
	g->n++;
}

/* Two frames (3 bytes and 300 bytes) as a stream. */
static size_t
two_frames(uint8_t *out)
{
	size_t n = 0;

	bt_frame_header(out, 3);
	memcpy(out + BT_FRAME_HDR, "abc", 3);
	n = BT_FRAME_HDR + 3;
	bt_frame_header(out + n, 300);
	memset(out + n + BT_FRAME_HDR, 'z', 300);
	return n + BT_FRAME_HDR + 300;
}

static void
test_frame_whole_and_bytewise(void)
{
	uint8_t s[400];
	size_t n = two_frames(s);
	struct bt_rx a = { 0 }, b = { 0 };
	struct got ga = { 0 }, gb = { 0 };

	CHECK_EQ(bt_rx_feed(&a, s, n, on_frame, &ga), BT_FRAME_OK);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(bt_rx_feed(&b, s + i, 1, on_frame, &gb), BT_FRAME_OK);
	CHECK_EQ(ga.n, 2);
	CHECK_EQ(gb.n, 2);
	CHECK_EQ(ga.len[0], 3);
	CHECK_EQ(ga.len[1], 300);
	CHECK_EQ(gb.len[1], 300);
	CHECK_EQ(ga.first[0], 'a');
	CHECK_EQ(gb.first[1], 'z');
	CHECK_EQ(bt_rx_pending(&a), 0);
	bt_rx_free(&a);
	bt_rx_free(&b);
}

static void
test_frame_partial_is_never_passed_up(void)
{
	uint8_t s[400];
	size_t n = two_frames(s);
	struct bt_rx rx = { 0 };
	struct got g = { 0 };

	/* The link drops 10 bytes into the second frame. */
	CHECK_EQ(bt_rx_feed(&rx, s, BT_FRAME_HDR + 3 + BT_FRAME_HDR + 10, on_frame, &g), 0);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(bt_rx_pending(&rx), BT_FRAME_HDR + 10);
	(void)n;
	bt_rx_free(&rx);
}

static void
test_frame_refuses_bad_headers(void)
{
	uint8_t bad_kind[] = { 0x47, 0x45, 0x54, 0x20, 'x' };        /* "GET x" */
	uint8_t zero[] = { 1, 0, 0, 0 };
	uint8_t big[] = { 1, 0x01, 0x00, 0x01 };                      /* 65537 */
	uint8_t max[] = { 1, 0x01, 0x00, 0x00 };                      /* 65536: fine */
	struct bt_rx rx = { 0 };
	struct got g = { 0 };

	CHECK_EQ(bt_rx_feed(&rx, bad_kind, sizeof bad_kind, on_frame, &g), BT_FRAME_EKIND);
	/* Sticky: nothing more from this stream. */
	CHECK_EQ(bt_rx_feed(&rx, zero, sizeof zero, on_frame, &g), BT_FRAME_EDEAD);
	bt_rx_free(&rx);
	CHECK_EQ(bt_rx_feed(&rx, zero, sizeof zero, on_frame, &g), BT_FRAME_ELEN);
	bt_rx_free(&rx);
	CHECK_EQ(bt_rx_feed(&rx, big, sizeof big, on_frame, &g), BT_FRAME_ELEN);
	bt_rx_free(&rx);
	CHECK_EQ(bt_rx_feed(&rx, max, sizeof max, on_frame, &g), BT_FRAME_OK);
	CHECK_EQ(bt_rx_pending(&rx), BT_FRAME_HDR);
	bt_rx_free(&rx);
	CHECK_EQ(g.n, 0);
	CHECK(strcmp(bt_frame_strerror(BT_FRAME_ELEN), "frame length out of range") == 0);
}

static void
test_frame_largest(void)
{
	size_t n = BT_FRAME_HDR + BT_FRAME_MAX;
	uint8_t *s = malloc(n);
	struct bt_rx rx = { 0 };
	struct got g = { 0 };

	if (!s)
		return;
	bt_frame_header(s, BT_FRAME_MAX);
	memset(s + BT_FRAME_HDR, 7, BT_FRAME_MAX);
	/* In cuts of 8192, as SDUs of our receive MTU arrive. */
	for (size_t off = 0; off < n; off += 8192)
		CHECK_EQ(bt_rx_feed(&rx, s + off, n - off < 8192 ? n - off : 8192, on_frame, &g), 0);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.len[0], BT_FRAME_MAX);
	bt_rx_free(&rx);
	free(s);
}

/* ---------------- tokens ---------------- */

static const uint8_t key_a[APAGON_KEY] = { 1, 2, 3 };
static const uint8_t key_b[APAGON_KEY] = { 9, 9, 9 };
#define T0 1790000000
#define BT_TOKEN_VECTOR "0001020304050607d1b5676027e2c2e2"

/* The send queue's room: a whole largest frame with its header, or nothing (the
 * transport's send() refuses exactly what room() says does not fit). The link's own
 * queue (BT_TX_MAX) takes a second frame while the first is in flight, and no third:
 * the session chooses what goes next, by precedence, at most one frame ahead. */
static void
test_frame_tx_room(void)
{
	const size_t whole = BT_FRAME_HDR + BT_FRAME_MAX;

	CHECK_EQ(bt_tx_room(0, 1 << 20), BT_FRAME_MAX);
	CHECK_EQ(bt_tx_room((1 << 20) - whole, 1 << 20), BT_FRAME_MAX);
	CHECK_EQ(bt_tx_room((1 << 20) - whole + 1, 1 << 20), 0);
	CHECK_EQ(bt_tx_room((1 << 20) - 1000, 1 << 20), 0);
	CHECK_EQ(bt_tx_room(1 << 20, 1 << 20), 0);
	CHECK_EQ(bt_tx_room((1 << 20) + 5, 1 << 20), 0);
	CHECK_EQ(bt_tx_room(0, whole - 1), 0);
	/* The link: empty, one frame queued, and a little more than one. */
	CHECK_EQ(bt_tx_room(0, BT_TX_MAX), BT_FRAME_MAX);
	CHECK_EQ(bt_tx_room(whole, BT_TX_MAX), BT_FRAME_MAX);
	CHECK_EQ(bt_tx_room(whole + 1, BT_TX_MAX), 0);
	CHECK_EQ(bt_tx_room(2 * whole, BT_TX_MAX), 0);
}

/* How a refused send waits: with more than half the socket's buffer free the kernel
 * calls the socket writable, so a refusal then is the LE channel out of the peer's
 * credits (a timer, not EPOLLOUT); with half or less free, or when the free space or
 * the buffer's size is not known, EPOLLOUT. 212992 is Linux's default wmem. And how
 * often a link that waits for credits tries again. */
static void
test_frame_tx_wait(void)
{
	CHECK_EQ(bt_tx_wait_kind(212992, 212992), BT_WAIT_CREDITS);
	CHECK_EQ(bt_tx_wait_kind(106497, 212992), BT_WAIT_CREDITS);
	CHECK_EQ(bt_tx_wait_kind(106496, 212992), BT_WAIT_WRITABLE);
	CHECK_EQ(bt_tx_wait_kind(0, 212992), BT_WAIT_WRITABLE);
	/* An odd size: writable while used < 2 (5 >> 1), that is free > 3. */
	CHECK_EQ(bt_tx_wait_kind(4, 5), BT_WAIT_CREDITS);
	CHECK_EQ(bt_tx_wait_kind(3, 5), BT_WAIT_WRITABLE);
	CHECK_EQ(bt_tx_wait_kind(-1, 212992), BT_WAIT_WRITABLE);
	CHECK_EQ(bt_tx_wait_kind(5000, 0), BT_WAIT_WRITABLE);
	CHECK_EQ(bt_tx_wait_kind(5000, -1), BT_WAIT_WRITABLE);
	/* The tries while waiting: every 2 ms for the first 32 ms, then a sixteenth of
	 * the wait so far, at most 100 ms (a peer that never grants credits). */
	CHECK_EQ(bt_tx_retry_ms(0), BT_TX_RETRY_MS);
	CHECK_EQ(bt_tx_retry_ms(31), 2);
	CHECK_EQ(bt_tx_retry_ms(48), 3);
	CHECK_EQ(bt_tx_retry_ms(160), 10);
	CHECK_EQ(bt_tx_retry_ms(1600), 100);
	CHECK_EQ(bt_tx_retry_ms(1601), 100);
	CHECK_EQ(bt_tx_retry_ms(UINT64_MAX), BT_TX_RETRY_MAX_MS);
}

static void
test_token_checks_and_rotates(void)
{
	uint8_t salt[BT_TOKEN_SALT] = { 5, 6, 7, 8, 9, 10, 11, 12 }, salt2[BT_TOKEN_SALT] = { 0 };
	uint8_t t1[BT_TOKEN_LEN], t2[BT_TOKEN_LEN], t3[BT_TOKEN_LEN];
	uint64_t e = bt_token_epoch(T0);

	CHECK_EQ(bt_token_epoch(T0 + BT_TOKEN_EPOCH_S) - e, 1);
	CHECK_EQ(bt_token_epoch(-5), 0);
	bt_token_make(t1, key_a, e, salt);
	CHECK(bt_token_check(t1, key_a, T0));
	/* A neighbouring epoch is accepted (clocks drift); two away is not. */
	CHECK(bt_token_check(t1, key_a, T0 + BT_TOKEN_EPOCH_S));
	CHECK(bt_token_check(t1, key_a, T0 - BT_TOKEN_EPOCH_S));
	CHECK(!bt_token_check(t1, key_a, T0 + 2 * BT_TOKEN_EPOCH_S));
	CHECK(!bt_token_check(t1, key_a, T0 - 2 * BT_TOKEN_EPOCH_S));
	/* Another network's key does not accept it. */
	CHECK(!bt_token_check(t1, key_b, T0));
	/* Which epoch matched: the scanner's clock ahead (the token is of its previous
	 * epoch), the same, behind (its next). */
	{
		int d = 7;

		CHECK(bt_token_match(t1, key_a, T0 + BT_TOKEN_EPOCH_S, &d) && d == -1);
		CHECK(bt_token_match(t1, key_a, T0, &d) && d == 0);
		CHECK(bt_token_match(t1, key_a, T0 - BT_TOKEN_EPOCH_S, &d) && d == 1);
		d = 7;
		CHECK(!bt_token_match(t1, key_a, T0 + 2 * BT_TOKEN_EPOCH_S, &d) && d == 7);
	}
	/* Next epoch, same salt: the tag changes. Another salt: everything changes. */
	bt_token_make(t2, key_a, e + 1, salt);
	CHECK(memcmp(t1 + BT_TOKEN_SALT, t2 + BT_TOKEN_SALT, BT_TOKEN_LEN - BT_TOKEN_SALT) != 0);
	bt_token_make(t3, key_a, e, salt2);
	CHECK(memcmp(t1, t3, BT_TOKEN_LEN) != 0);
	/* One flipped bit anywhere refuses it. */
	for (int i = 0; i < BT_TOKEN_LEN; i++) {
		memcpy(t2, t1, sizeof t2);
		t2[i] ^= 0x10;
		CHECK(!bt_token_check(t2, key_a, T0));
	}
}

static void
test_token_vector(void)
{
	/* Pinned, so a change to the derivation is a deliberate one (docs/protocol.md). */
	static const uint8_t salt[BT_TOKEN_SALT] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	uint8_t key[APAGON_KEY], t[BT_TOKEN_LEN];
	char hex[2 * BT_TOKEN_LEN + 1];

	for (int i = 0; i < APAGON_KEY; i++)
		key[i] = (uint8_t)i;
	bt_token_make(t, key, 1988888, salt);
	sodium_bin2hex(hex, sizeof hex, t, sizeof t);
	CHECK(strncmp(hex, "0001020304050607", 16) == 0);
	CHECK(strcmp(hex, BT_TOKEN_VECTOR) == 0);
	if (strcmp(hex, BT_TOKEN_VECTOR) != 0)
		fprintf(stderr, "    token vector now %s\n", hex);
}

static void
test_adv_build_and_find(void)
{
	uint8_t tok[BT_TOKEN_LEN], got[BT_TOKEN_LEN], ad[BT_ADV_LEN], eir[64];
	size_t n = 0;

	for (int i = 0; i < BT_TOKEN_LEN; i++)
		tok[i] = (uint8_t)(0xa0 + i);
	bt_adv_build(ad, tok);
	CHECK_EQ(ad[0], BT_ADV_LEN - 1);
	CHECK_EQ(ad[1], 0xff);
	/* Among other structures, as a scan reports them: flags, then ours, then a name. */
	eir[n++] = 2;
	eir[n++] = 0x01;
	eir[n++] = 0x06;
	memcpy(eir + n, ad, sizeof ad);
	n += sizeof ad;
	eir[n++] = 3;
	eir[n++] = 0x09;
	eir[n++] = 'h';
	eir[n++] = 'i';
	CHECK_EQ(bt_adv_find(eir, n, got), 1);
	CHECK(memcmp(got, tok, sizeof tok) == 0);
	/* Without ours. */
	CHECK_EQ(bt_adv_find(eir, 3, got), 0);
	/* A length running past the end. */
	CHECK_EQ(bt_adv_find(eir, n - 1, got), -1);
	/* Another company's manufacturer data is not ours. */
	eir[3 + 2] = 0x4c;
	CHECK_EQ(bt_adv_find(eir, n, got), 0);
	/* Zero-length structure ends the significant part. */
	CHECK_EQ(bt_adv_find((const uint8_t *)"\0\xff\xff", 3, got), 0);
	CHECK_EQ(bt_adv_find(NULL, 0, got), 0);
}

/* ---------------- the connection manager ---------------- */

static struct bt_addr
addr(int last)
{
	struct bt_addr a = { { (uint8_t)last, 0, 0, 0, 0xaa, 0 }, 1 };

	return a;
}

static void
test_addr_text(void)
{
	struct bt_addr a = addr(0x23), b;
	char s[18];

	bt_addr_str(s, &a);
	CHECK(strcmp(s, "00:AA:00:00:00:23") == 0);
	CHECK_EQ(bt_addr_parse(&b, "00:aa:00:00:00:23"), 0);
	CHECK(bt_addr_cmp(&a, &b) == 0);
	CHECK_EQ(bt_addr_parse(&b, "00:AA:00:00:00"), -1);
	CHECK_EQ(bt_addr_parse(&b, "00:AA:00:00:00:2G"), -1);
	CHECK_EQ(bt_addr_parse(&b, "00:AA:00:00:00:230"), -1);
	CHECK(bt_addr_cmp(&(struct bt_addr){ { 0, 0, 0, 0, 0, 1 }, 1 },
	    &(struct bt_addr){ { 0xff, 0, 0, 0, 0, 0 }, 1 }) > 0);
}

static void
test_policy_lower_dials(void)
{
	struct bt_policy pol;
	struct bt_addr self = addr(5), lo = addr(1), hi = addr(9);
	const struct bt_peer *p;

	bt_policy_init(&pol, NULL, &self);
	bt_policy_seen(&pol, &lo, 0, 1000);
	CHECK(bt_policy_next_dial(&pol, 1000) == NULL);         /* lo dials us */
	bt_policy_seen(&pol, &hi, 0, 1000);
	p = bt_policy_next_dial(&pol, 1000);
	CHECK(p && bt_addr_cmp(&p->a, &hi) == 0);
	/* Our own advertisement, heard back, is no peer. */
	bt_policy_seen(&pol, &self, 0, 1000);
	CHECK_EQ(pol.n, 2);
	/* A configured peer is dialed even when its address is lower. */
	bt_policy_seen(&pol, &lo, 1, 1000);
	bt_policy_dialing(&pol, &hi, 1000);
	p = bt_policy_next_dial(&pol, 1000);
	CHECK(p && bt_addr_cmp(&p->a, &lo) == 0);
}

static void
test_policy_cap_and_rotation(void)
{
	struct bt_policy pol;
	struct bt_policy_params pp = { .max_links = 2, .rotate_ms = 60000, .idle_ms = 30000,
		.forget_ms = 120000 };
	struct bt_addr self = addr(1), a = addr(2), b = addr(3), c = addr(4);
	const struct bt_peer *p;
	const char *why = NULL;

	bt_policy_init(&pol, &pp, &self);
	bt_policy_seen(&pol, &a, 0, 1);
	bt_policy_seen(&pol, &b, 0, 1);
	bt_policy_seen(&pol, &c, 0, 1);
	for (int i = 0; i < 2; i++) {
		p = bt_policy_next_dial(&pol, 10);
		CHECK(p != NULL);
		if (p) {
			struct bt_addr x = p->a;

			bt_policy_dialing(&pol, &x, 10);
			bt_policy_up(&pol, &x, 1, 20);
		}
	}
	CHECK_EQ(bt_policy_links(&pol), 2);
	/* The cap: no third dial, no incoming either. */
	CHECK(bt_policy_next_dial(&pol, 30) == NULL);
	CHECK_EQ(bt_policy_accept(&pol, &(struct bt_addr){ { 0x77, 0, 0, 0, 0, 0 }, 1 }, 30),
	    BT_REFUSE_FULL);
	/* Before rotate_ms nothing is dropped, even with a peer waiting. */
	bt_policy_rx(&pol, &a, 59000);
	bt_policy_rx(&pol, &b, 59000);
	CHECK(bt_policy_pick_drop(&pol, 59000, &why) == NULL);
	/* After it, the oldest link yields to the waiting peer. */
	bt_policy_rx(&pol, &a, 60020);
	bt_policy_rx(&pol, &b, 60020);
	p = bt_policy_pick_drop(&pol, 60020, &why);
	CHECK(p != NULL && strcmp(why, "rotation") == 0);
	if (p) {
		struct bt_addr x = p->a;

		bt_policy_down(&pol, &x, 0, 60020);
	}
	/* The closed link's connection lingers in the kernel for a few seconds: its slot
	 * is not given away at once (the controller would hold one more than the cap). */
	CHECK(bt_policy_next_dial(&pol, 60030) == NULL);
	CHECK(bt_policy_timeout(&pol, 60030) <= 5000 - 10);
	/* Then the peer that waited is dialed next (least recently linked). */
	p = bt_policy_next_dial(&pol, 60030 + 5000);
	CHECK(p && bt_addr_cmp(&p->a, &c) == 0);
	/* Nobody waiting: no rotation. */
	bt_policy_dialing(&pol, &c, 60030);
	bt_policy_up(&pol, &c, 1, 60040);
	bt_policy_rx(&pol, &a, 200000);
	bt_policy_rx(&pol, &b, 200000);
	bt_policy_rx(&pol, &c, 200000);
	CHECK_EQ(bt_policy_links(&pol), 2);
	CHECK(bt_policy_pick_drop(&pol, 200000, &why) == NULL);
}

static void
test_policy_idle_and_backoff(void)
{
	struct bt_policy pol;
	struct bt_policy_params pp = { .idle_ms = 30000, .retry_min_ms = 1000 };
	struct bt_addr self = addr(1), a = addr(2);
	const struct bt_peer *p;
	const char *why = NULL;

	bt_policy_init(&pol, &pp, &self);
	bt_policy_seen(&pol, &a, 0, 0);
	bt_policy_dialing(&pol, &a, 0);
	bt_policy_up(&pol, &a, 1, 0);
	CHECK(bt_policy_pick_drop(&pol, 29999, &why) == NULL);
	p = bt_policy_pick_drop(&pol, 30000, &why);
	CHECK(p != NULL && strcmp(why, "idle") == 0);
	CHECK(bt_policy_timeout(&pol, 1000) >= 0);
	/* A link that ended: not dialed again until heard again. */
	bt_policy_down(&pol, &a, 0, 30000);
	CHECK(bt_policy_next_dial(&pol, 40000) == NULL);
	bt_policy_seen(&pol, &a, 0, 40000);
	CHECK(bt_policy_next_dial(&pol, 40000) != NULL);
	/* Failed dials back off, doubling, and are counted until a link comes up. */
	CHECK_EQ(pol.peer[0].fails, 0);
	bt_policy_dialing(&pol, &a, 41000);
	bt_policy_down(&pol, &a, 1, 41000);
	CHECK_EQ(pol.peer[0].fails, 1);
	bt_policy_seen(&pol, &a, 0, 41500);
	CHECK(bt_policy_next_dial(&pol, 41500) == NULL);
	CHECK(bt_policy_next_dial(&pol, 42000) != NULL);
	bt_policy_dialing(&pol, &a, 42000);
	bt_policy_down(&pol, &a, 1, 42000);
	CHECK_EQ(pol.peer[0].fails, 2);
	bt_policy_seen(&pol, &a, 0, 43000);
	CHECK(bt_policy_next_dial(&pol, 43500) == NULL);
	CHECK(bt_policy_next_dial(&pol, 44000) != NULL);
	/* Unseen for long: forgotten, not dialed. */
	CHECK(bt_policy_next_dial(&pol, 43000 + 26 * 1000) == NULL);
}

/* With one slot, a link that ended holds it for linger_ms: the kernel keeps the
 * connection that long after its last channel closed. A link coming up again resets
 * the count of failed dials. */
static void
test_policy_linger(void)
{
	struct bt_policy pol;
	struct bt_policy_params pp = { .max_links = 1, .linger_ms = 4000, .retry_min_ms = 1000 };
	struct bt_addr self = addr(1), a = addr(2), b = addr(3);
	const struct bt_peer *p;

	bt_policy_init(&pol, &pp, &self);
	bt_policy_seen(&pol, &a, 1, 1000);
	bt_policy_seen(&pol, &b, 1, 1000);
	bt_policy_dialing(&pol, &a, 1000);
	bt_policy_down(&pol, &a, 1, 2000);
	CHECK(bt_policy_peer(&pol, &a) != NULL && bt_policy_peer(&pol, &a)->fails == 1);
	/* b waits, but a's attempt may still hold the controller. */
	CHECK(bt_policy_next_dial(&pol, 2000) == NULL);
	CHECK(bt_policy_next_dial(&pol, 5999) == NULL);
	CHECK_EQ(bt_policy_timeout(&pol, 2000), 4000);
	p = bt_policy_next_dial(&pol, 6000);
	CHECK(p && bt_addr_cmp(&p->a, &b) == 0);
	/* Below the cap a lingering link costs nothing. */
	pp.max_links = 2;
	bt_policy_init(&pol, &pp, &self);
	bt_policy_seen(&pol, &a, 1, 1000);
	bt_policy_seen(&pol, &b, 1, 1000);
	bt_policy_dialing(&pol, &a, 1000);
	bt_policy_up(&pol, &a, 1, 1500);
	bt_policy_down(&pol, &a, 0, 2000);
	p = bt_policy_next_dial(&pol, 2000);
	CHECK(p && bt_addr_cmp(&p->a, &b) == 0);
	/* A failed dial, then a link: the count starts again. */
	bt_policy_dialing(&pol, &b, 2000);
	bt_policy_down(&pol, &b, 1, 2500);
	bt_policy_dialing(&pol, &b, 9000);
	bt_policy_up(&pol, &b, 1, 9500);
	CHECK(bt_policy_peer(&pol, &b) != NULL && bt_policy_peer(&pol, &b)->fails == 0);
	b = addr(9);
	CHECK(bt_policy_peer(&pol, &b) == NULL);
}

static void
test_policy_redundant_links(void)
{
	struct bt_policy pol;
	struct bt_addr self = addr(5), lo = addr(1), hi = addr(9);

	bt_policy_init(&pol, NULL, &self);
	/* We dialed lo (configured) while lo dialed us: lo's dial is the one kept. */
	bt_policy_seen(&pol, &lo, 1, 0);
	bt_policy_dialing(&pol, &lo, 0);
	CHECK_EQ(bt_policy_accept(&pol, &lo, 10), BT_ACCEPT_REPLACE);
	/* We dialed hi while hi dialed us: ours is kept, hi's refused. */
	bt_policy_seen(&pol, &hi, 1, 0);
	bt_policy_dialing(&pol, &hi, 0);
	CHECK_EQ(bt_policy_accept(&pol, &hi, 10), BT_REFUSE_DUP);
	/* An accepted link, then the same peer again: refused. */
	bt_policy_down(&pol, &hi, 0, 20);
	CHECK_EQ(bt_policy_accept(&pol, &hi, 30), BT_ACCEPT);
	bt_policy_up(&pol, &hi, 0, 30);
	CHECK_EQ(bt_policy_accept(&pol, &hi, 40), BT_REFUSE_DUP);
}

/* The transport of the next dial on a dual-mode adapter, or -1 if none is due. */
static int
next_via(const struct bt_policy *pol, uint64_t now, const char **why)
{
	const struct bt_peer *p = bt_policy_next_dial(pol, now);

	return p ? (int)bt_policy_dial_via(p, 1, 1, why) : -1;
}

/* A configured peer on a dual-mode adapter: LE first; after a failed dial the other
 * transport; a transport that brought a link up is kept. */
static void
test_policy_dial_via(void)
{
	struct bt_policy pol;
	struct bt_addr self = addr(5), peer = addr(9), found = addr(7), br = addr(9);
	const char *why = "";

	br.type = 0;                    /* BDADDR_BREDR */
	bt_policy_init(&pol, NULL, &self);
	bt_policy_seen(&pol, &peer, 1, 1000);
	CHECK_EQ(next_via(&pol, 1000, &why), BT_VIA_LE);
	CHECK(strcmp(why, "first dial") == 0);
	/* The LE dial fails (no answer): the next goes over BR/EDR. */
	bt_policy_dialing(&pol, &peer, 1000);
	bt_policy_down(&pol, &peer, 1, 31000);
	CHECK_EQ(next_via(&pol, 40000, &why), BT_VIA_BREDR);
	CHECK(strcmp(why, "the last dial over LE failed") == 0);
	/* An adapter with one transport uses it, whatever failed. */
	CHECK_EQ(bt_policy_dial_via(&pol.peer[0], 1, 0, &why), BT_VIA_LE);
	CHECK(strcmp(why, "the adapter has no BR/EDR") == 0);
	CHECK_EQ(bt_policy_dial_via(&pol.peer[0], 0, 1, &why), BT_VIA_BREDR);
	/* The BR/EDR dial fails too: LE again (alternating). */
	bt_policy_dialing(&pol, &br, 40000);
	bt_policy_down(&pol, &br, 1, 41000);
	CHECK_EQ(next_via(&pol, 60000, &why), BT_VIA_LE);
	CHECK(strcmp(why, "the last dial over BR/EDR failed") == 0);
	/* ... then BR/EDR, which comes up and ends normally: BR/EDR is kept. */
	bt_policy_dialing(&pol, &peer, 60000);
	bt_policy_down(&pol, &peer, 1, 61000);
	CHECK_EQ(next_via(&pol, 70000, &why), BT_VIA_BREDR);
	bt_policy_dialing(&pol, &br, 70000);
	bt_policy_up(&pol, &br, 1, 71000);
	bt_policy_down(&pol, &br, 0, 80000);
	CHECK_EQ(next_via(&pol, 90000, &why), BT_VIA_BREDR);
	CHECK(strcmp(why, "the last link was over BR/EDR") == 0);
	/* The peer then linked to us over LE: LE is what works now. */
	bt_policy_up(&pol, &peer, 0, 90000);
	bt_policy_down(&pol, &peer, 0, 95000);
	CHECK_EQ(next_via(&pol, 100000, &why), BT_VIA_LE);
	/* A discovered peer advertised over LE: LE, even after a failed dial. */
	bt_policy_seen(&pol, &found, 0, 100000);
	bt_policy_dialing(&pol, &found, 100000);
	bt_policy_down(&pol, &found, 1, 101000);
	bt_policy_seen(&pol, &found, 0, 110000);
	CHECK_EQ(pol.n, 2);
	CHECK(pol.peer[1].via_failed);
	CHECK_EQ(bt_policy_dial_via(&pol.peer[1], 1, 1, &why), BT_VIA_LE);
}

static void
test_policy_table_full(void)
{
	struct bt_policy pol;
	struct bt_addr self = addr(0);

	bt_policy_init(&pol, NULL, &self);
	for (int i = 1; i <= BT_POLICY_PEERS + 10; i++) {
		struct bt_addr a = { { (uint8_t)i, (uint8_t)(i >> 8), 0, 0, 0, 0x11 }, 1 };

		bt_policy_seen(&pol, &a, 0, (uint64_t)i);
	}
	CHECK_EQ(pol.n, BT_POLICY_PEERS);
}

/* ---------------- no Bluetooth in the kernel ---------------- */

static int
no_bluetooth_here(void)
{
	int fd = socket(31 /* AF_BLUETOOTH */, SOCK_SEQPACKET, 0);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EAFNOSUPPORT;
}

static void
test_transport_waits_without_kernel_support(void)
{
	static const char text[] = "[bluetooth radio]\nadapter = hci0\n";
	struct conf *c = NULL;
	struct transport t;
	struct transport_info ti;
	uint8_t key[APAGON_KEY] = { 1 };
	short ev = 0;

	if (!no_bluetooth_here()) {
		fprintf(stderr, "    (this kernel has Bluetooth: the EAFNOSUPPORT case is not run)\n");
		return;
	}
	CHECK_EQ(conf_parse(&c, "apagon.conf", text, sizeof text - 1, NULL, 0), 0);
	if (!c)
		return;
	memset(&t, 0, sizeof t);
	t.ops = transport_find("bluetooth");
	CHECK(t.ops == &transport_bt_ops);
	snprintf(t.name, sizeof t.name, "bluetooth radio");
	snprintf(t.section, sizeof t.section, "radio");
	t.network_key = key;
	CHECK_EQ(t.ops->open(&t, conf_at(c, 0)), 0);
	CHECK_EQ(t.ops->ready(&t, 0, 1000), 0);
	t.ops->info(&t, &ti);
	CHECK(strcmp(ti.state, "waiting") == 0);
	CHECK(strstr(ti.detail, "no Bluetooth support") != NULL);
	CHECK(ti.retry_in_ms > 0);
	CHECK_EQ(t.ops->pollfd(&t, &ev), -1);
	CHECK(t.ops->timeout(&t, 1000) > 0);
	CHECK(t.ops->peers(&t) == NULL);
	CHECK_EQ(t.ops->send(&t, NULL, (const uint8_t *)"x", 1), -ENOTCONN);
	/* Retried later, still waiting, the node unharmed. */
	CHECK_EQ(t.ops->ready(&t, 0, 1000 + 31000), 0);
	t.ops->info(&t, &ti);
	CHECK(strcmp(ti.state, "waiting") == 0);
	t.ops->close(&t);
	conf_free(c);
}

static void
test_config_section(void)
{
	static const char good[] = "[bluetooth radio]\nadapter = hci1\npsm = 0x81\n";
	static const char ok2[] = "[bluetooth radio]\nadapter = hci1\npsm = 129\nmax-links = 3\n"
	    "peers = 00:AA:01:01:00:01\n";
	static const char bad[] = "[bluetooth radio]\nadapter = hci1\nmax-links = 9\n";
	static const char rot[] = "[bluetooth radio]\nmax-links = 1\nrotate-after = 45\n";
	static const char rot_low[] = "[bluetooth radio]\nadapter = hci1\n\nrotate-after = 5\n";
	static const char rot_high[] = "[bluetooth radio]\nrotate-after = 86401\n";
	struct conf *c = NULL;
	char err[512];

	/* The parser takes decimal only: 0x81 is refused with file and line. */
	CHECK(conf_parse(&c, "apagon.conf", good, sizeof good - 1, err, sizeof err) != 0);
	CHECK(strncmp(err, "apagon.conf:3:", 14) == 0);
	CHECK_EQ(conf_parse(&c, "apagon.conf", ok2, sizeof ok2 - 1, err, sizeof err), 0);
	if (c) {
		CHECK_EQ(conf_get_int(conf_at(c, 0), "psm", 0), 129);
		CHECK_EQ(conf_get_int(conf_at(c, 0), "max-links", 0), 3);
		conf_free(c);
	}
	c = NULL;
	CHECK(conf_parse(&c, "apagon.conf", bad, sizeof bad - 1, err, sizeof err) != 0);
	CHECK(strncmp(err, "apagon.conf:3:", 14) == 0);
	/* rotate-after: seconds, 10 to a day. */
	c = NULL;
	CHECK_EQ(conf_parse(&c, "apagon.conf", rot, sizeof rot - 1, err, sizeof err), 0);
	if (c) {
		CHECK_EQ(conf_get_int(conf_at(c, 0), "rotate-after", 300), 45);
		conf_free(c);
	}
	c = NULL;
	CHECK(conf_parse(&c, "apagon.conf", rot_low, sizeof rot_low - 1, err, sizeof err) != 0);
	CHECK(strncmp(err, "apagon.conf:4:", 14) == 0);
	CHECK(strstr(err, "rotate-after") != NULL);
	c = NULL;
	CHECK(conf_parse(&c, "apagon.conf", rot_high, sizeof rot_high - 1, err, sizeof err) != 0);
	CHECK(strncmp(err, "apagon.conf:2:", 14) == 0);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_frame_whole_and_bytewise),
		TEST(test_frame_partial_is_never_passed_up),
		TEST(test_frame_refuses_bad_headers),
		TEST(test_frame_largest),
		TEST(test_frame_tx_room),
		TEST(test_frame_tx_wait),
		TEST(test_token_checks_and_rotates),
		TEST(test_token_vector),
		TEST(test_adv_build_and_find),
		TEST(test_addr_text),
		TEST(test_policy_lower_dials),
		TEST(test_policy_cap_and_rotation),
		TEST(test_policy_idle_and_backoff),
		TEST(test_policy_linger),
		TEST(test_policy_redundant_links),
		TEST(test_policy_dial_via),
		TEST(test_policy_table_full),
		TEST(test_transport_waits_without_kernel_support),
		TEST(test_config_section),
	};

	if (sodium_init() < 0)
		return 1;
	return test_main("bt", cases, sizeof cases / sizeof cases[0], argc, argv);
}
