/*
 * Deliveries that wait (a message that arrived before its sender's prekey) are retried
 * by housekeeping. Bundles addressed to us that can never be opened (garbage under a
 * valid signature) must not keep the others waiting: the retry used to look only at
 * the first 64 undelivered bundles, so 64 such bundles from one member blocked every
 * later delivery until they expired.
 */
#include "../test.h"
#include "../test_rng.h"
#include "../../node/node_internal.h"
#include "nodes.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#define T0 1790000000LL

static char dir[64];
static struct issuer *auth;

/* A bundle file of the records of `exp`, without its PREKEY bundles when skip_prekey. */
static size_t
filter(const struct node *n, const uint8_t *exp, size_t elen, uint8_t *out, int skip_prekey)
{
	struct wire w;
	const uint8_t *p;
	size_t plen, o = APAGON_BUNDLEFILE_HDR;
	struct bundle b;

	bundlefile_header(out);
	CHECK_EQ(bundlefile_reader(&w, exp, elen), MESH_OK);
	while (bundlefile_next(&w, &p, &plen) == 1) {
		if (bundle_decode(&b, p, plen, &n->nk) == MESH_OK && skip_prekey &&
		    b.h.type == BUNDLE_PREKEY)
			continue;
		out[o++] = (uint8_t)(plen >> 8);
		out[o++] = (uint8_t)plen;
		memcpy(out + o, p, plen);
		o += plen;
	}
	return o;
}

static int
run(int nbogus)
{
	struct node *mal, *bob, *carol;
	uint8_t *buf, *file;
	size_t len, flen;
	uint8_t cid[APAGON_HASH];
	struct msg_rec rec;
	char cmd[128];
	int delivered;

	strcpy(dir, "/tmp/apagon-pending-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ(authority_init(test_path(dir, "admin"), "Test Ministry", NULL, KEYFILE_NONE), 0);
	CHECK_EQ(issuer_open(&auth, test_path(dir, "admin"), NULL), 0);
	mal = test_enrol(dir, auth, "mallory", ROLE_MEMBER, "Interior", 0, T0);
	bob = test_enrol(dir, auth, "bob", ROLE_MEMBER, "Interior", 0, T0);
	carol = test_enrol(dir, auth, "carol", ROLE_MEMBER, "Interior", 0, T0);
	test_carry(mal, bob, T0);
	test_carry(bob, mal, T0);
	test_carry(bob, carol, T0);

	/* mallory: nbogus FLASH messages to bob that no key opens, validly signed. */
	file = malloc(1 << 22);
	flen = APAGON_BUNDLEFILE_HDR;
	bundlefile_header(file);
	{
		struct own_prekey mine;
		struct peer_prekey theirs;
		uint8_t sk[APAGON_DH_SK], shared[32], out[512];

		CHECK_EQ(node_own_prekey(mal, -1, &mine, sk), 0);
		CHECK_EQ(store_peer_prekey_current(mal->st, bob->pk, T0, &theirs), 0);
		for (int i = 0; i < nbogus; i++) {
			struct bundle_hdr h;
			struct seal_keys k;
			int bl;

			memset(&h, 0, sizeof h);
			h.type = BUNDLE_MSG;
			h.precedence = PREC_FLASH;
			memcpy(h.sender, mal->key_id, APAGON_KEYID);
			crypto_key_id(h.recipient, bob->pk);
			h.sender_prekey = (uint8_t)mine.serial;
			h.recipient_prekey = (uint8_t)theirs.serial;
			h.created = (uint32_t)T0;
			h.lifetime = lifetime_code(30 * 86400);
			bundle_hdr_salt(&h);
			randombytes_buf(shared, sizeof shared);
			memset(&k, 0, sizeof k);
			k.sender_pk = mal->pk;
			k.recipient_pk = bob->pk;
			k.sender_prekey_pk = mine.pk;
			k.recipient_prekey_pk = theirs.pk;
			k.shared = shared;
			bl = bundle_build_sealed(out, sizeof out, &h, (const uint8_t *)"x", 1, &k,
			    &mal->nk, mal->sk);
			CHECK(bl > 0);
			file[flen++] = (uint8_t)(bl >> 8);
			file[flen++] = (uint8_t)bl;
			memcpy(file + flen, out, (size_t)bl);
			flen += (size_t)bl;
		}
	}
	node_import(bob, file, flen, T0, NULL, NULL, NULL);

	/* carol's message reaches bob before carol's prekey does. */
	CHECK_EQ(node_send(carol, bob->pk, PREC_ROUTINE, "hello bob", 0, T0, cid), 0);
	CHECK_EQ(node_export(carol, T0, NULL, &buf, &len, NULL), 0);
	flen = filter(carol, buf, len, file, 1);
	node_import(bob, file, flen, T0 + 1, NULL, NULL, NULL);
	CHECK(store_get_msg(bob->st, cid, &rec) != MESH_OK);     /* waits: no prekey */
	/* Now the prekey arrives, and housekeeping retries what waits. */
	node_import(bob, buf, len, T0 + 2, NULL, NULL, NULL);
	free(buf);
	for (int r = 0; r < 5; r++)
		CHECK_EQ(node_maintain(bob, T0 + 60 + r * 60), 0);
	delivered = store_get_msg(bob->st, cid, &rec) == MESH_OK;
	printf("# %d undecryptable bundles ahead: carol's message %s\n", nbogus,
	    delivered ? "delivered" : "not delivered");
	node_close(mal);
	node_close(bob);
	node_close(carol);
	issuer_close(auth);
	free(file);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	return delivered;
}

static void
test_pending_not_starved(void)
{
	CHECK_EQ(run(63), 1);
	CHECK_EQ(run(64), 1);
	CHECK_EQ(run(300), 1);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = { TEST(test_pending_not_starved) };

	test_rng_use("apagon test_pending seed");
	return test_main("pending", cases, sizeof cases / sizeof cases[0], argc, argv);
}
