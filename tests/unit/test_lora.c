/*
 * The LoRa bearer's pure parts: the air format (node/lora_air.h) and the flooding
 * policy (node/lora_flood.h), on a fake clock with in-memory "radios".
 */
#include <stdlib.h>

#include <sodium.h>

#include "../../crypto/crypto.h"
#include "../../mesh/bundle.h"
#include "../../mesh/mesh.h"
#include "../../node/lora_air.h"
#include "../../node/lora_flood.h"
#include "../sealed_msg.h"
#include "../test.h"

static const uint8_t netkey[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

/* A fake bundle: only its length and bytes matter to the bearer. */
static void
fake_bundle(uint8_t *b, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
	b[0] = 0;       /* hops */
}

static void
test_air_single_frame(void)
{
	uint8_t k[32], b[247], f[LORA_FRAME_MAX];
	struct lora_frame fr;
	int n;

	lora_air_key(k, netkey);
	fake_bundle(b, sizeof b, 1);
	CHECK_EQ(lora_air_frames(247), 1);
	CHECK_EQ(lora_air_frames(255), 1);
	CHECK_EQ(lora_air_frames(256), 2);
	n = lora_air_encode(f, b, sizeof b, 3, 0, k);
	/* A 140-byte text's bundle (247 bytes) is 247 bytes on air: no added byte. */
	CHECK_EQ(n, 247);
	CHECK_EQ(f[0], 3);
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)n, k), LORA_OK);
	CHECK_EQ(fr.kind, LORA_K_BUNDLE);
	CHECK_EQ(fr.hops, 3);
	CHECK_EQ(fr.len, 246);
	CHECK(memcmp(fr.data, b + 1, 246) == 0);
	/* Hops saturate at 63; the air ID does not depend on them. */
	n = lora_air_encode(f, b, sizeof b, 200, 0, k);
	CHECK_EQ(f[0], 63);
	{
		uint8_t id1[4], id2[4];

		lora_air_id(id1, b, sizeof b);
		b[0] = 9;
		lora_air_id(id2, b, sizeof b);
		CHECK(memcmp(id1, id2, 4) == 0);
		CHECK(memcmp(fr.id, id1, 4) == 0);
	}
}

static void
test_air_fragments(void)
{
	uint8_t k[32], b[700], f[LORA_FRAME_MAX];
	struct lora_reasm *r = calloc(1, sizeof *r);
	const uint8_t *out = NULL;
	size_t outlen = 0;
	int n = lora_air_frames(sizeof b), rc = 0;

	lora_air_key(k, netkey);
	fake_bundle(b, sizeof b, 2);
	b[0] = 4;
	CHECK_EQ(n, 3);         /* 699 bytes in pieces of 240 */
	CHECK_EQ(lora_air_frames(LORA_BUNDLE_MAX), 16);
	CHECK_EQ(lora_air_frames(LORA_BUNDLE_MAX + 1), 0);
	CHECK_EQ(lora_air_encode(f, b, LORA_BUNDLE_MAX + 1, 0, 0, k), LORA_ETOOBIG);
	/* Out of order, with a duplicate: the bundle comes back whole, hops included. */
	for (int pass = 0; pass < 4; pass++) {
		static const int order[] = { 2, 0, 0, 1 };
		struct lora_frame fr;
		int len = lora_air_encode(f, b, sizeof b, 4, order[pass], k);

		CHECK(len > 0 && len <= LORA_FRAME_MAX);
		CHECK_EQ(lora_air_decode(&fr, f, (size_t)len, k), LORA_OK);
		CHECK_EQ(fr.kind, LORA_K_FRAG);
		CHECK_EQ(fr.idx, order[pass]);
		CHECK_EQ(fr.count, 3);
		rc = lora_reasm_add(r, &fr, 1000 + pass, 60000, &out, &outlen);
		CHECK_EQ(rc, pass == 3 ? 1 : 0);
	}
	CHECK_EQ(outlen, sizeof b);
	CHECK(out && memcmp(out, b, sizeof b) == 0);
	free(r);
}

static void
test_air_bad_frames(void)
{
	uint8_t k[32], other[32], b[600], f[LORA_FRAME_MAX], ids[2][4] = { { 1, 2, 3, 4 } };
	uint8_t other_key[32] = { 9 };
	struct lora_frame fr;
	int len;

	lora_air_key(k, netkey);
	lora_air_key(other, other_key);
	fake_bundle(b, sizeof b, 3);
	len = lora_air_encode(f, b, sizeof b, 0, 1, k);
	/* Another network's key: the MAC fails. */
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)len, other), LORA_EMAC);
	/* Any flipped bit fails it too, the hop count included. */
	for (int i = 0; i < len; i += 17) {
		f[i] ^= 0x10;
		CHECK(lora_air_decode(&fr, f, (size_t)len, k) != LORA_OK);
		f[i] ^= 0x10;
	}
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)len, k), LORA_OK);
	/* Truncated. */
	CHECK(lora_air_decode(&fr, f, 10, k) != LORA_OK);
	CHECK_EQ(lora_air_decode(&fr, f, 0, k), LORA_ESHORT);
	/* A whole-bundle frame too short to hold a bundle. */
	f[0] = 0;
	CHECK_EQ(lora_air_decode(&fr, f, 90, k), LORA_ESHORT);
	/* Digests: round trip, then a bad length and a bad MAC. */
	len = lora_air_encode_ids(f, LORA_K_DIGEST, (const uint8_t (*)[4])ids, 2, k);
	CHECK_EQ(len, 1 + 8 + 8);
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)len, k), LORA_OK);
	CHECK_EQ(fr.kind, LORA_K_DIGEST);
	CHECK_EQ(fr.nids, 2);
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)len - 1, k), LORA_EFORMAT);
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)len, other), LORA_EMAC);
	CHECK_EQ(lora_air_encode_ids(f, LORA_K_DIGEST, (const uint8_t (*)[4])ids, 0, k),
	    LORA_EFORMAT);
	/* A fragment whose pieces disagree with the count is dropped and counted. */
	{
		struct lora_reasm *r = calloc(1, sizeof *r);
		struct lora_frame a;
		const uint8_t *out;
		size_t outlen;
		uint8_t g[LORA_FRAME_MAX];

		len = lora_air_encode(g, b, sizeof b, 0, 0, k);
		CHECK_EQ(lora_air_decode(&a, g, (size_t)len, k), LORA_OK);
		CHECK_EQ(lora_reasm_add(r, &a, 1, 1000, &out, &outlen), 0);
		a.count = 5;
		CHECK_EQ(lora_reasm_add(r, &a, 2, 1000, &out, &outlen), LORA_EFORMAT);
		CHECK_EQ(r->inconsistent, 1);
		free(r);
	}
}

/* docs/protocol.md 18.5: network key 00 01 .. 1f, a 300-byte bundle whose byte i is
 * i mod 256 (hops 0), fragment 1 sent with hop count 2. Checked independently with
 * Python's hashlib.blake2b. */
static void
test_air_vectors(void)
{
	static const uint8_t want_k[32] = {
		0x3c, 0xaf, 0xe7, 0xab, 0x1f, 0xee, 0x76, 0x85, 0x91, 0x36, 0xca, 0x1e, 0x3c, 0x9d,
		0x59, 0x38, 0x78, 0x75, 0x2c, 0xe0, 0xa2, 0x54, 0xb3, 0xe5, 0xd1, 0x4a, 0x18, 0x77,
		0xe2, 0x6b, 0xb0, 0x95,
	};
	static const uint8_t want_hdr[7] = { 0x42, 0xcc, 0xcd, 0x54, 0x22, 0x01, 0x02 };
	static const uint8_t want_mac[8] = { 0x1d, 0x6f, 0x24, 0xe5, 0xf3, 0x7b, 0x77, 0x2b };
	static const uint8_t want_digest[13] = {
		0x80, 0xcc, 0xcd, 0x54, 0x22, 0xc4, 0xf2, 0xc6, 0xb4, 0xd1, 0xf7, 0x39, 0x7e,
	};
	uint8_t nk[32], k[32], b[300], f[LORA_FRAME_MAX], id[4];
	int n;

	for (int i = 0; i < 32; i++)
		nk[i] = (uint8_t)i;
	for (int i = 0; i < 300; i++)
		b[i] = (uint8_t)i;
	lora_air_key(k, nk);
	CHECK(memcmp(k, want_k, 32) == 0);
	lora_air_id(id, b, sizeof b);
	CHECK(memcmp(id, want_hdr + 1, 4) == 0);
	n = lora_air_encode(f, b, sizeof b, 2, 1, k);
	CHECK_EQ(n, 7 + 59 + 8);
	CHECK(memcmp(f, want_hdr, 7) == 0);
	CHECK(memcmp(f + n - 8, want_mac, 8) == 0);
	n = lora_air_encode_ids(f, LORA_K_DIGEST, (const uint8_t (*)[4])id, 1, k);
	CHECK_EQ(n, 13);
	CHECK(memcmp(f, want_digest, 13) == 0);
}

static void
test_air_routed(void)
{
	uint8_t k[32], b[255], f[LORA_FRAME_MAX], id[4];
	struct lora_frame fr;
	int n;

	lora_air_key(k, netkey);
	fake_bundle(b, 247, 2);
	lora_air_id(id, b, 247);
	/* One byte more than a BUNDLE frame: 0x81, then left and hops. */
	n = lora_air_encode_routed(f, b, 247, 3, 5);
	CHECK_EQ(n, 248);
	CHECK_EQ(f[0], 0x81);
	CHECK_EQ(f[1], 0x53);
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)n, k), LORA_OK);
	CHECK_EQ(fr.kind, LORA_K_ROUTED);
	CHECK_EQ(fr.hops, 3);
	CHECK_EQ(fr.left, 5);
	CHECK_EQ(fr.len, 246);
	CHECK(memcmp(fr.data, b + 1, 246) == 0);
	CHECK(memcmp(fr.id, id, 4) == 0);
	/* Limits: 254 bytes of bundle, 4 bits each for hops and left. */
	fake_bundle(b, 255, 3);
	CHECK_EQ(lora_air_encode_routed(f, b, 255, 0, 0), LORA_ETOOBIG);
	CHECK_EQ(lora_air_encode_routed(f, b, 254, 0, 0), 255);
	CHECK_EQ(lora_air_encode_routed(f, b, 200, 16, 0), LORA_EFORMAT);
	CHECK_EQ(lora_air_encode_routed(f, b, 200, 0, 16), LORA_EFORMAT);
	CHECK_EQ(lora_air_encode_routed(f, b, 90, 0, 0), LORA_EFORMAT);
	/* Shorter than the smallest bundle plus two: dropped before any parsing. */
	n = lora_air_encode_routed(f, b, 200, 1, 1);
	for (int len = 0; len < 92; len++)
		CHECK(lora_air_decode(&fr, f, (size_t)len, k) != LORA_OK);
	CHECK_EQ(lora_air_decode(&fr, f, 92, k), LORA_OK);
	/* The other low-bit values of kind 10 stay malformed. */
	f[0] = 0x82;
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)n, k), LORA_EFORMAT);
	f[0] = 0xc1;
	CHECK_EQ(lora_air_decode(&fr, f, (size_t)n, k), LORA_EFORMAT);
}

/* ---- flooding on a fake channel ---- */

#define NODES 5

struct sim {
	struct lora_flood *f[NODES];
	int hears[NODES][NODES];
	int accepted[NODES];
	int refuse[NODES];              /* this node's acceptance path refuses all */
	int limited[NODES];             /* ... says "over its sender's rate limit" this
	                                   many times more */
	int tx[NODES];
	int lose[NODES][NODES];         /* frames from i that j is still to miss */
	int routes;                     /* bytes 5 and 6 of a bundle: 1 + its ends */
	struct cb { struct sim *s; int node; } cb[NODES];
};

static int
sim_accept(void *ctx, const uint8_t *b, size_t len, int *prec)
{
	struct cb *c = ctx;

	(void)len;
	*prec = 0;
	if (c->s->refuse[c->node])
		return -1;
	if (c->s->limited[c->node] > 0) {
		c->s->limited[c->node]--;
		return LORA_ACCEPT_LIMITED;
	}
	c->s->accepted[c->node]++;
	return c->s->routes && b[6] == 1 + c->node ? LORA_ACCEPT_MINE : LORA_ACCEPT_NEW;
}

static int
sim_ends(void *ctx, const uint8_t *b, size_t len, uint8_t from[LORA_NODEID],
    uint8_t to[LORA_NODEID])
{
	(void)ctx;
	(void)len;
	memset(from, 0, LORA_NODEID);
	memset(to, 0, LORA_NODEID);
	from[0] = b[5];
	to[0] = b[6];
	return 1;
}

static void
sim_init(struct sim *s, const struct lora_flood_params *tmpl)
{
	uint8_t k[32];

	memset(s, 0, sizeof *s);
	s->routes = tmpl->ends != NULL;
	lora_air_key(k, netkey);
	for (int i = 0; i < NODES; i++) {
		struct lora_flood_params p = *tmpl;

		s->cb[i].s = s;
		s->cb[i].node = i;
		p.accept = sim_accept;
		p.ends = tmpl->ends ? sim_ends : NULL;
		p.ctx = &s->cb[i];
		p.seed = 100 + (uint32_t)i;
		CHECK_EQ(lora_flood_new(&s->f[i], &p, k, 0), 0);
	}
}

static void
sim_free(struct sim *s)
{
	for (int i = 0; i < NODES; i++)
		lora_flood_free(s->f[i]);
}

/* Run the fake clock in 10 ms steps; one frame per node per step at most, heard at
 * once by the nodes in range (no collisions here). */
static void
sim_run(struct sim *s, uint64_t from, uint64_t to)
{
	for (uint64_t now = from; now < to; now += 10) {
		for (int i = 0; i < NODES; i++) {
			uint8_t fr[LORA_FRAME_MAX];
			int prec, len = lora_flood_output(s->f[i], now, 0, fr, &prec);

			if (len <= 0)
				continue;
			s->tx[i]++;
			for (int j = 0; j < NODES; j++) {
				if (j == i || !s->hears[i][j])
					continue;
				if (s->lose[i][j] > 0) {
					s->lose[i][j]--;        /* a collision at j */
					continue;
				}
				lora_flood_input(s->f[j], fr, (size_t)len, 4 * 5, now);
			}
		}
	}
}

static void
test_flood_line(void)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t b[247];

	sim_init(s, &p);
	for (int i = 0; i + 1 < NODES; i++)
		s->hears[i][i + 1] = s->hears[i + 1][i] = 1;
	fake_bundle(b, sizeof b, 7);
	CHECK_EQ(lora_flood_offer(s->f[0], b, sizeof b, 3, 1, 0), 1);
	CHECK_EQ(lora_flood_offer(s->f[0], b, sizeof b, 3, 1, 0), 0);
	sim_run(s, 0, 20000);
	for (int i = 1; i < NODES; i++)
		CHECK_EQ(s->accepted[i], 1);
	/* Each node sends it once (the last one's copy is the next-to-last's ack),
	 * plus at most one retry at the end of the line, where no one relays further. */
	for (int i = 0; i < NODES - 1; i++)
		CHECK_EQ(s->tx[i], 1);
	CHECK(s->tx[NODES - 1] >= 1 && s->tx[NODES - 1] <= 2);
	sim_free(s);
	free(s);
}

static void
test_flood_suppression(void)
{
	/* A full mesh: everyone hears everyone. After the sender, one relay suffices;
	 * the others hear it and stay quiet. */
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .suppress_k = 1 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t b[247];
	int total = 0;

	sim_init(s, &p);
	for (int i = 0; i < NODES; i++)
		for (int j = 0; j < NODES; j++)
			s->hears[i][j] = i != j;
	fake_bundle(b, sizeof b, 8);
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 0);
	sim_run(s, 0, 20000);
	for (int i = 0; i < NODES; i++)
		total += s->tx[i];
	for (int i = 1; i < NODES; i++)
		CHECK_EQ(s->accepted[i], 1);
	CHECK_EQ(total, 2);
	{
		uint64_t supp = 0;

		for (int i = 1; i < NODES; i++)
			supp += lora_flood_stats(s->f[i])->suppressed;
		CHECK_EQ(supp, NODES - 2);
	}
	sim_free(s);
	free(s);
}

static void
test_flood_hop_limit_and_refusal(void)
{
	struct lora_flood_params p = { .hop_limit = 2, .slot_ms = 100 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t b[247];

	sim_init(s, &p);
	for (int i = 0; i + 1 < NODES; i++)
		s->hears[i][i + 1] = s->hears[i + 1][i] = 1;
	fake_bundle(b, sizeof b, 9);
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 0);
	sim_run(s, 0, 20000);
	/* Sender, relay 1, relay 2: node 3 hears it with two hops and stops there. */
	CHECK_EQ(s->accepted[1], 1);
	CHECK_EQ(s->accepted[2], 1);
	CHECK_EQ(s->accepted[3], 1);
	CHECK_EQ(s->accepted[4], 0);
	CHECK_EQ(s->tx[3], 0);
	sim_free(s);
	free(s);

	/* A node whose acceptance path refuses relays nothing. */
	s = calloc(1, sizeof *s);
	p.hop_limit = 7;
	sim_init(s, &p);
	for (int i = 0; i + 1 < NODES; i++)
		s->hears[i][i + 1] = s->hears[i + 1][i] = 1;
	s->refuse[2] = 1;
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 0);
	sim_run(s, 0, 20000);
	CHECK_EQ(s->accepted[1], 1);
	CHECK_EQ(s->accepted[3], 0);
	CHECK_EQ(s->tx[2], 0);
	CHECK_EQ(lora_flood_stats(s->f[2])->bundles_refused, 1);
	sim_free(s);
	free(s);
}

static void
test_flood_precedence_and_digest(void)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .digest_ms = 2000 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t r[600], fl[247], fr[LORA_FRAME_MAX];
	struct lora_frame d;
	int prec, len;

	sim_init(s, &p);
	fake_bundle(r, sizeof r, 10);
	fake_bundle(fl, sizeof fl, 11);
	/* A ROUTINE bundle of three pieces is under way; a FLASH overtakes it. */
	lora_flood_offer(s->f[0], r, sizeof r, 0, 1, 0);
	len = lora_flood_output(s->f[0], 1, 0, fr, &prec);
	CHECK(len > 0);
	CHECK_EQ(prec, 0);
	lora_flood_offer(s->f[0], fl, sizeof fl, 3, 1, 0);
	len = lora_flood_output(s->f[0], 1, 0, fr, &prec);
	CHECK_EQ(prec, 3);
	CHECK_EQ(len, 247);
	/* With the budget reserved for FLASH, the rest waits. */
	CHECK_EQ(lora_flood_output(s->f[0], 1, 3, fr, &prec), 0);
	len = lora_flood_output(s->f[0], 1, 0, fr, &prec);
	CHECK_EQ(prec, 0);
	CHECK(len > 0);

	/* A node that missed a bundle learns of it from a digest, asks, and gets it. */
	s->hears[0][1] = s->hears[1][0] = 1;
	fake_bundle(r, 247, 12);
	lora_flood_offer(s->f[0], r, 247, 0, 0, 0);     /* held, not flooded */
	sim_run(s, 10, 30000);
	CHECK(lora_flood_stats(s->f[0])->digests_out >= 1);
	CHECK(lora_flood_stats(s->f[1])->requests_out >= 1);
	CHECK(lora_flood_stats(s->f[0])->answers >= 1);
	CHECK(s->accepted[1] >= 1);
	{
		uint8_t id[4];

		lora_air_id(id, r, 247);
		CHECK(lora_flood_known(s->f[1], id));
	}
	(void)d;
	sim_free(s);
	free(s);
}

/*
 * A relay restarted while a bundle was on its way: the retries it owed are gone. Held
 * and offered with LORA_OFFER_DOUBT, the bundle is named in the next digest, so a
 * neighbour that missed it gets it within a few digest intervals; merely remembered
 * (LORA_OFFER_KEEP), it waits for the quiet node's idle digests, well past that.
 */
static void
test_flood_doubt_after_restart(void)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .digest_ms = 2000 };
	uint8_t r[247], id[4];

	fake_bundle(r, sizeof r, 13);
	lora_air_id(id, r, sizeof r);
	for (int doubt = 0; doubt <= 1; doubt++) {
		struct sim *s = calloc(1, sizeof *s);

		sim_init(s, &p);
		s->hears[0][1] = s->hears[1][0] = 1;
		CHECK_EQ(lora_flood_offer(s->f[0], r, sizeof r, 0,
		    doubt ? LORA_OFFER_DOUBT : LORA_OFFER_KEEP, 0), 1);
		sim_run(s, 10, 3 * 2000);
		CHECK_EQ(lora_flood_known(s->f[1], id), doubt);
		CHECK_EQ(s->accepted[1], doubt);
		/* Not flooded again: sent once, on request. */
		CHECK_EQ(lora_flood_stats(s->f[0])->answers, (uint64_t)doubt);
		CHECK_EQ(lora_flood_stats(s->f[1])->requests_out, (uint64_t)doubt);
		sim_free(s);
		free(s);
	}
}

/*
 * What node/transport_lora.c's params.ends relies on: a sealed bundle's header
 * (sender, recipient) comes out of bundle_decode with netkeys derived from the
 * network key alone, no authority key; the wrong network key gets nothing.
 */
static void
test_ends_without_authority(void)
{
	static const uint8_t no_authority[APAGON_SIGN_PK];
	uint8_t auth_pk[32], auth_sk[64], nkey[32], raw[400];
	struct netkeys nk, mine;
	struct bundle_hdr h;
	struct bundle b;
	int len;

	crypto_sign_keygen(auth_pk, auth_sk);
	randombytes_buf(nkey, sizeof nkey);
	netkeys_derive(&nk, auth_pk, nkey);
	len = sealed_msg(raw, sizeof raw, 140, &nk, &h);
	CHECK(len > 0);
	netkeys_derive(&mine, no_authority, nkey);
	CHECK_EQ(bundle_decode(&b, raw, (size_t)len, &mine), MESH_OK);
	CHECK(bundle_type_sealed(b.h.type));
	CHECK(memcmp(b.h.sender, h.sender, APAGON_KEYID) == 0);
	CHECK(memcmp(b.h.recipient, h.recipient, APAGON_KEYID) == 0);
	nkey[0] ^= 1;
	netkeys_derive(&mine, no_authority, nkey);
	CHECK(bundle_decode(&b, raw, (size_t)len, &mine) != MESH_OK);
	netkeys_wipe(&mine);
	netkeys_wipe(&nk);
}

/* A bundle from `from` to `to` for the routing tests (sim.routes). */
static void
routed_bundle(uint8_t *b, size_t len, uint8_t seed, int from, int to)
{
	fake_bundle(b, len, seed);
	b[5] = (uint8_t)(1 + from);
	b[6] = (uint8_t)(1 + to);
}

static void
test_flood_routes(void)
{
	/* A line 0-1-2-3 and a spur: node 4 hears node 1 only. */
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1, .ends = sim_ends };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t b1[247], b2[247];
	int tx[NODES];

	sim_init(s, &p);
	for (int i = 0; i + 1 < 4; i++)
		s->hears[i][i + 1] = s->hears[i + 1][i] = 1;
	s->hears[1][4] = s->hears[4][1] = 1;
	/* Node 3 writes to node 0, whose place nobody knows yet: flooded; everyone
	 * learns how far node 3 is. */
	routed_bundle(b1, sizeof b1, 20, 3, 0);
	lora_flood_offer(s->f[3], b1, sizeof b1, 0, 1, 0);
	sim_run(s, 0, 20000);
	CHECK_EQ(s->accepted[0], 1);
	CHECK_EQ(s->accepted[4], 1);
	CHECK_EQ(s->accepted[3], 0);    /* its own */
	CHECK_EQ(lora_flood_stats(s->f[0])->routed_out, 0);
	CHECK(lora_flood_stats(s->f[0])->routes >= 1);
	/* The answer goes ROUTED: only the nodes on the way send it, the spur does
	 * not, and node 3's own copy ends it. */
	memcpy(tx, s->tx, sizeof tx);
	routed_bundle(b2, sizeof b2, 21, 0, 3);
	lora_flood_offer(s->f[0], b2, sizeof b2, 0, 1, 20000);
	sim_run(s, 20000, 40000);
	CHECK_EQ(s->accepted[3], 1);
	CHECK_EQ(lora_flood_stats(s->f[0])->routed_out, 1);
	CHECK_EQ(lora_flood_stats(s->f[0])->route_fallbacks, 0);
	CHECK_EQ(s->tx[4] - tx[4], 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(s->tx[i] - tx[i], 1);
	/* Node 4 heard node 1's ROUTED copy and kept it, but offers it in no digest:
	 * it is on its way to one node only. */
	CHECK_EQ(s->accepted[4], 2);
	sim_free(s);
	free(s);
}

static void
test_flood_route_fallback(void)
{
	/* 0-1-2: node 0 learns node 2's distance, then node 1 restarts and knows no
	 * routes. The ROUTED copy finds no relay; unacknowledged, node 0 floods it. */
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1, .ends = sim_ends };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t b1[247], b2[247], k[32];

	sim_init(s, &p);
	s->hears[0][1] = s->hears[1][0] = s->hears[1][2] = s->hears[2][1] = 1;
	routed_bundle(b1, sizeof b1, 30, 2, 0);
	lora_flood_offer(s->f[2], b1, sizeof b1, 0, 1, 0);
	sim_run(s, 0, 20000);
	CHECK_EQ(s->accepted[0], 1);
	lora_flood_free(s->f[1]);
	lora_air_key(k, netkey);
	{
		struct lora_flood_params q = p;

		q.accept = sim_accept;
		q.ctx = &s->cb[1];
		q.seed = 77;
		CHECK_EQ(lora_flood_new(&s->f[1], &q, k, 20000), 0);
	}
	routed_bundle(b2, sizeof b2, 31, 0, 2);
	lora_flood_offer(s->f[0], b2, sizeof b2, 0, 1, 20000);
	sim_run(s, 20000, 50000);
	CHECK_EQ(lora_flood_stats(s->f[0])->routed_out, 1);
	CHECK_EQ(lora_flood_stats(s->f[0])->route_fallbacks, 1);
	CHECK_EQ(s->accepted[2], 1);
	sim_free(s);
	free(s);
}

/* A line 0-1-2-3 with digests every 50 to 100 slots; node 0 has learnt how far node 3
 * is (node 3 wrote to it). */
static struct sim *
routed_line(void)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1, .ends = sim_ends, .digest_ms = 5000 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t b[247];

	sim_init(s, &p);
	for (int i = 0; i + 1 < 4; i++)
		s->hears[i][i + 1] = s->hears[i + 1][i] = 1;
	routed_bundle(b, sizeof b, 40, 3, 0);
	lora_flood_offer(s->f[3], b, sizeof b, 0, 1, 0);
	sim_run(s, 0, 20000);
	CHECK_EQ(s->accepted[0], 1);
	return s;
}

/* On routed_line(), node 0 sends node 3 a bundle ROUTED at 20 s, and node 1's first
 * `lost` frames are lost at node 2; by `until` node 3 has it, node 1 having fallen
 * back once. */
static struct sim *
routed_lost_at_2(uint8_t seed, int lost, uint64_t until)
{
	struct sim *s = routed_line();
	uint8_t b[247];

	routed_bundle(b, sizeof b, seed, 0, 3);
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 20000);
	s->lose[1][2] = lost;
	sim_run(s, 20000, until);
	CHECK_EQ(s->accepted[3], 1);
	CHECK_EQ(lora_flood_stats(s->f[1])->route_fallbacks, 1);
	return s;
}

static void
test_flood_routed_relay_lost(void)
{
	/* 1. Node 0 sends node 3 a bundle ROUTED. Node 1's relay is lost at node 2
	 *    twice (a hidden terminal: node 3 was sending), but node 0 heard it, so
	 *    node 0's part is done. Node 1 sends it again; when that is lost too, it
	 *    names the bundle in its next digest, node 2 asks, node 1 answers. (Before,
	 *    a relay whose carry score was under 160 did not retry, and ROUTED bundles
	 *    were in no digest: the bundle stayed at node 1.)
	 * 2. Node 3's arrival copy is lost at node 2: node 2 sends again, node 3
	 *    answers the repeat, and node 2 does not fall back. */
	struct sim *s = routed_lost_at_2(41, 2, 60000);
	uint8_t b3[247];
	int tx[NODES];

	CHECK_EQ(lora_flood_stats(s->f[0])->routed_out, 1);
	CHECK_EQ(lora_flood_stats(s->f[0])->route_fallbacks, 0);
	CHECK_EQ(lora_flood_stats(s->f[1])->retries, 1);
	CHECK(lora_flood_stats(s->f[2])->requests_out >= 1);
	CHECK_EQ(lora_flood_stats(s->f[1])->answers, 1);
	sim_free(s);
	free(s);

	/* The same with node 1's first digest naming it lost as well: its next
	 * interval's digest names it again (before, one digest only, then the quiet
	 * node's idle ones, 20 s and more later here). */
	s = routed_lost_at_2(43, 3, 35000);
	sim_free(s);
	free(s);

	s = routed_line();
	memcpy(tx, s->tx, sizeof tx);
	routed_bundle(b3, sizeof b3, 42, 0, 3);
	lora_flood_offer(s->f[0], b3, sizeof b3, 0, 1, 20000);
	s->lose[3][2] = 1;
	sim_run(s, 20000, 26000);
	CHECK_EQ(s->accepted[3], 1);
	CHECK_EQ(lora_flood_stats(s->f[2])->retries, 1);
	CHECK_EQ(lora_flood_stats(s->f[2])->route_fallbacks, 0);
	CHECK_EQ(lora_flood_stats(s->f[3])->arrivals_repeated, 1);
	/* Node 2 sent it twice, node 3 answered twice; the others once each. */
	CHECK_EQ(s->tx[0] - tx[0], 1);
	CHECK_EQ(s->tx[1] - tx[1], 1);
	CHECK_EQ(s->tx[2] - tx[2], 2);
	CHECK_EQ(s->tx[3] - tx[3], 2);
	sim_free(s);
	free(s);
}

/* Whether node `node` of the simulation knows air ID `id`; the simulation is freed. */
static int
known_then_free(struct sim *s, int node, const uint8_t id[LORA_AIRID])
{
	int known = lora_flood_known(s->f[node], id);

	sim_free(s);
	free(s);
	return known;
}

/*
 * A bridge's relay and its retry are both lost at the next node (hidden terminals),
 * and nothing else carries the bundle on: the bridge doubts it and names it in its
 * digests until the neighbour asks. lost: frames from node 1 that node 2 misses
 * (the relay, the retry, then the first digest that names the bundle).
 * Line 0-1-2; node 1's relays are carried on (three warm-up bundles): it retries,
 * and it doubts what is not carried on after that.
 */
static int
relay_lost_known_by(int lost, uint64_t until)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1, .digest_ms = 5000 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t w[247], b[247], id[LORA_AIRID];

	sim_init(s, &p);
	s->hears[0][1] = s->hears[1][0] = s->hears[1][2] = s->hears[2][1] = 1;
	for (int i = 0; i < 3; i++) {
		fake_bundle(w, sizeof w, (uint8_t)(50 + i));
		lora_flood_offer(s->f[0], w, sizeof w, 0, 1, (uint64_t)i * 3000);
		sim_run(s, (uint64_t)i * 3000, (uint64_t)(i + 1) * 3000);
	}
	sim_run(s, 9000, 10000);
	CHECK_EQ(s->accepted[2], 3);
	CHECK(lora_flood_stats(s->f[1])->carry >= 200);
	fake_bundle(b, sizeof b, 60);
	lora_air_id(id, b, sizeof b);
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 10000);
	s->lose[1][2] = lost;
	sim_run(s, 10000, until);
	CHECK_EQ(lora_flood_stats(s->f[1])->retries, 1);
	CHECK(lora_flood_stats(s->f[1])->doubts >= 1);
	return known_then_free(s, 2, id);
}

/* Two nodes in reach of each other, and a fake bundle made from `seed` with its air ID
 * (b holds 247 bytes). */
static struct sim *
pair_with_bundle(const struct lora_flood_params *p, uint8_t seed, uint8_t b[247],
    uint8_t id[LORA_AIRID])
{
	struct sim *s = calloc(1, sizeof *s);

	sim_init(s, p);
	s->hears[0][1] = s->hears[1][0] = 1;
	fake_bundle(b, 247, seed);
	lora_air_id(id, b, 247);
	return s;
}

/*
 * A sender whose first copy and both retries are lost at its only neighbour (hidden
 * terminals: lora_multihop's n1, with n3 sending at the same time) doubts its own
 * bundle, whatever its carry score (128 here: no relays yet), and names it in its
 * next two digests. lost: frames from node 0 that node 1 misses.
 */
static int
own_lost_known_by(int lost, uint64_t until)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1, .digest_ms = 5000 };
	uint8_t b[247], id[LORA_AIRID];
	struct sim *s = pair_with_bundle(&p, 70, b, id);

	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 0);
	s->lose[0][1] = lost;
	sim_run(s, 0, until);
	CHECK_EQ(lora_flood_stats(s->f[0])->retries, 2);
	CHECK(lora_flood_stats(s->f[0])->carry < 200);
	return known_then_free(s, 1, id);
}

static void
test_flood_relay_lost_twice(void)
{
	/* Relay and retry lost: the doubt after the retry brings a digest within a few
	 * slots (before, the bundle waited for the quiet bridge's idle digests, one
	 * in 8 intervals: 22.5 s at the earliest here). */
	CHECK(relay_lost_known_by(2, 19000));
	/* The first digest naming it lost too: the next interval's digest names it
	 * again (before, the doubt was spent on one digest). */
	CHECK(relay_lost_known_by(3, 25000));
	/* The same for a sender's own bundle, all three tries lost: before, it
	 * waited for the sender's first digest (22.5 s at the earliest here). */
	CHECK(own_lost_known_by(3, 15000));
	CHECK(own_lost_known_by(4, 20000));
}

/*
 * A sender over its rate limit at a neighbour is slowed, not cut off: the neighbour
 * drops the bundle and will not take it again for params.limited_ms (no request for
 * it either), then takes it when it is heard again: here the sender's doubt digests
 * bring a request. Before, a bundle over the limit was remembered with the refused
 * ones, and that neighbour never took it (lora_multihop lost hidden-round messages
 * so).
 */
static void
test_flood_rate_limited_later(void)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 2,
	    .retries_relay = 1, .digest_ms = 5000, .limited_ms = 3000 };
	uint8_t b[247], id[LORA_AIRID];
	struct sim *s = pair_with_bundle(&p, 80, b, id);

	s->limited[1] = 1;              /* the first copy heard is over the limit */
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 0);
	sim_run(s, 0, 2000);
	/* Dropped and held off: the retries do not reach the acceptance path. */
	CHECK_EQ(s->accepted[1], 0);
	CHECK(!lora_flood_known(s->f[1], id) || lora_flood_stats(s->f[1])->bundles_refused == 0);
	sim_run(s, 2000, 30000);
	CHECK(lora_flood_known(s->f[1], id));
	CHECK_EQ(s->accepted[1], 1);
	CHECK_EQ(lora_flood_stats(s->f[1])->bundles_refused, 0);
	CHECK_EQ(lora_flood_stats(s->f[1])->bundles_limited, 1);

	/* Bundles held off do not push out one refused for good: after 70 of them
	 * (more than either list holds), a replay of the refused one is still known. */
	fake_bundle(b, sizeof b, 81);
	lora_air_id(id, b, sizeof b);
	s->refuse[1] = 1;
	lora_flood_offer(s->f[0], b, sizeof b, 0, 1, 30000);
	sim_run(s, 30000, 31000);
	CHECK_EQ(lora_flood_stats(s->f[1])->bundles_refused, 1);
	s->refuse[1] = 0;
	s->limited[1] = 1000;
	for (int i = 0; i < 70; i++) {
		uint8_t x[247];

		fake_bundle(x, sizeof x, (uint8_t)(100 + i));
		x[1] = 0xee;            /* not the same as any bundle above */
		lora_flood_offer(s->f[0], x, sizeof x, 0, 1, 31000 + (uint64_t)i * 100);
		sim_run(s, 31000 + (uint64_t)i * 100, 31000 + (uint64_t)(i + 1) * 100);
	}
	CHECK(lora_flood_stats(s->f[1])->bundles_limited >= 65);
	CHECK(lora_flood_known(s->f[1], id));
	sim_free(s);
	free(s);
}

/* The first copy of bundle `seed` as heard from a relay `hops` out, on engine f at
 * snr_x4; returns the engine's backoff for its own relay (ms), then cancels that relay
 * with a copy from further on, so the next call measures afresh. */
static int64_t
heard_backoff(struct lora_flood *f, const uint8_t k[32], uint8_t seed, int snr_x4,
    int copies, uint64_t now)
{
	uint8_t b[247], fr[LORA_FRAME_MAX];
	int64_t t;
	int n;

	fake_bundle(b, sizeof b, seed);
	n = lora_air_encode(fr, b, sizeof b, 0, 0, k);
	CHECK_EQ(lora_flood_input(f, fr, (size_t)n, snr_x4, now), LORA_OK);
	t = lora_flood_timeout(f, now);
	/* Copies relayed as far as ours would be: the relay is cancelled. */
	for (int i = 1; i < copies; i++) {
		n = lora_air_encode(fr, b, sizeof b, 1, 0, k);
		CHECK_EQ(lora_flood_input(f, fr, (size_t)n, snr_x4, now + (uint64_t)i), LORA_OK);
	}
	return t;
}

/* The engine's timers run (output asked for, whatever comes out is dropped). */
static void
tick(struct lora_flood *f, uint64_t now)
{
	uint8_t fr[LORA_FRAME_MAX];
	int prec;

	lora_flood_output(f, now, 0, fr, &prec);
}

static void
test_flood_order_and_crowd(void)
{
	struct lora_flood_params p = { .hop_limit = 7, .slot_ms = 100, .retries_own = 0,
	    .retries_relay = 0, .accept = sim_accept };
	struct sim *s = calloc(1, sizeof *s);
	struct lora_flood *far, *near;
	uint8_t k[32];
	int64_t lo = INT64_MAX, hi = 0;
	uint64_t now = 0;

	/* Order: a node that heard the sender weakly (-15 dB, far from it) relays
	 * before one that heard it strongly (+8 dB): 9 slots apart, more than the
	 * random part. The far node's copy then cancels the near node's relay. */
	lora_air_key(k, netkey);
	s->cb[0].s = s->cb[1].s = s;
	s->cb[1].node = 1;
	p.ctx = &s->cb[0];
	p.seed = 5;
	CHECK_EQ(lora_flood_new(&far, &p, k, 0), 0);
	p.ctx = &s->cb[1];
	p.seed = 6;
	CHECK_EQ(lora_flood_new(&near, &p, k, 0), 0);
	for (uint8_t b = 40; b < 60; b++, now += 100000) {
		int64_t tf, tn;

		/* The copies of the bundle before are counted by now. */
		tick(far, now);
		tf = heard_backoff(far, k, b, -15 * 4, 2, now);
		tn = heard_backoff(near, k, b, 8 * 4, 2, now);
		CHECK(tf >= 0 && tn >= 0);
		CHECK(tf + 5 * 100 < tn);
	}
	/* A node that hears each flooded bundle twice (the first copy and one relay)
	 * keeps the narrow window: its backoffs at one SNR lie within 3 slots. */
	CHECK(lora_flood_stats(far)->crowd >= 28 && lora_flood_stats(far)->crowd <= 32);
	for (uint8_t b = 60; b < 100; b++, now += 100000) {
		int64_t t;

		tick(far, now);
		t = heard_backoff(far, k, b, 0, 2, now);
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	CHECK(hi - lo <= 3 * 100 + 1);
	/* The same node among many relaying neighbours (six copies of every bundle
	 * heard): the crowd estimate rises and the random part widens, up to 16 slots;
	 * 40 backoffs then spread over more than the narrow window's 3 slots. */
	for (uint8_t b = 100; b < 140; b++, now += 100000) {
		tick(far, now);
		heard_backoff(far, k, b, 0, 6, now);
	}
	tick(far, now);
	CHECK(lora_flood_stats(far)->crowd > 80);
	lo = INT64_MAX;
	hi = 0;
	for (uint8_t b = 140; b < 180; b++, now += 100000) {
		int64_t t = heard_backoff(far, k, b, 0, 6, now);

		tick(far, now + 100000 - 1);
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	CHECK(hi - lo > 6 * 100);
	CHECK(hi - lo <= 16 * 100 + 1);
	lora_flood_free(far);
	lora_flood_free(near);
	free(s);
}

static void
test_flood_bad_input_counted(void)
{
	struct lora_flood_params p = { .slot_ms = 100 };
	struct sim *s = calloc(1, sizeof *s);
	uint8_t junk[200];

	sim_init(s, &p);
	for (int i = 0; i < 200; i++) {
		randombytes_buf(junk, sizeof junk);
		junk[0] |= 0x40;        /* a fragment, digest or request: MAC checked */
		lora_flood_input(s->f[0], junk, 1 + (size_t)(i % 199), 0, (uint64_t)i);
	}
	{
		const struct lora_flood_stats *st = lora_flood_stats(s->f[0]);

		CHECK_EQ(st->frames_in, 200);
		CHECK_EQ(st->bad_mac + st->bad_short + st->bad_format, 200);
		CHECK_EQ(s->accepted[0], 0);
	}
	sim_free(s);
	free(s);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_air_single_frame),
		TEST(test_air_fragments),
		TEST(test_air_bad_frames),
		TEST(test_air_vectors),
		TEST(test_air_routed),
		TEST(test_flood_line),
		TEST(test_flood_suppression),
		TEST(test_flood_hop_limit_and_refusal),
		TEST(test_flood_precedence_and_digest),
		TEST(test_flood_doubt_after_restart),
		TEST(test_flood_routes),
		TEST(test_flood_route_fallback),
		TEST(test_flood_routed_relay_lost),
		TEST(test_flood_relay_lost_twice),
		TEST(test_flood_rate_limited_later),
		TEST(test_ends_without_authority),
		TEST(test_flood_order_and_crowd),
		TEST(test_flood_bad_input_counted),
	};

	if (sodium_init() < 0)
		return 1;
	return test_main("lora", cases, sizeof cases / sizeof cases[0], argc, argv);
}
