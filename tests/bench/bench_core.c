/*
 * Core benchmarks (make bench). Each line is `NAME VALUE`; every ratio divides our
 * rate by a raw baseline measured in the same run on the same data:
 *
 *   bench.seal_vs_libsodium   bundle_build_sealed  / (crypto_sign + AEAD encrypt)
 *   bench.open_vs_libsodium   decode+verify+open   / (crypto_sign_verify + AEAD decrypt)
 *   bench.store_vs_sqlite     accept+store, with the measured crypto time taken out,
 *                             / a raw batched SQLite insert of the same rows
 *   bundle.overhead_bytes     bytes a 140-byte text grows by when sealed
 *
 * The *_cold_* lines are the same without the prekey shared-secret cache, i.e. one
 * X25519 per bundle: the cost of the first bundle between two prekeys.
 */
#include "../../node/node_internal.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0 1790000000LL

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const size_t sizes[] = { 140, 1024, 4096 };
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define ROUNDS 3000

struct party {
	uint8_t pk[32], sk[64], id[6];
	uint8_t ppk[32], psk[32];
};

static void
party(struct party *p)
{
	crypto_sign_keygen(p->pk, p->sk);
	crypto_key_id(p->id, p->pk);
	crypto_dh_keygen(p->ppk, p->psk);
}

static void
bench_crypto(void)
{
	static uint8_t m[4096], c[4096 + 16], bundle[4096 + 200], back[4096];
	uint8_t key[32], sig[64], netkey[32], shared[32], digest[32];
	struct party a, b;
	struct netkeys nk;
	struct bundle_hdr h;
	struct seal_keys ks, ko;
	struct bundle bd;
	double t, raw_seal = 0, raw_open = 0, our_seal = 0, our_open = 0, cold_seal = 0, cold_open = 0;
	int len = 0;

	party(&a);
	party(&b);
	randombytes_buf(netkey, sizeof netkey);
	netkeys_derive(&nk, a.pk, netkey);
	randombytes_buf(m, sizeof m);
	randombytes_buf(key, sizeof key);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_MSG;
	memcpy(h.sender, a.id, 6);
	memcpy(h.recipient, b.id, 6);
	h.created = (uint32_t)T0;
	h.lifetime = lifetime_code(86400);
	memset(&ks, 0, sizeof ks);
	ks.sender_pk = a.pk;
	ks.recipient_pk = b.pk;
	ks.my_prekey_sk = a.psk;
	ks.sender_prekey_pk = a.ppk;
	ks.recipient_prekey_pk = b.ppk;
	ko = ks;
	ko.my_prekey_sk = b.psk;
	crypto_dh_shared(shared, a.psk, b.ppk);

	for (size_t s = 0; s < NSIZES; s++) {
		size_t n = sizes[s];

		/* raw libsodium: what any signed + encrypted message costs at least, signed
		 * as ours are, over a BLAKE2b of the ciphertext (docs/protocol.md 4.7) */
		t = secs();
		for (int i = 0; i < ROUNDS; i++) {
			crypto_aead_chacha20poly1305_ietf_encrypt(c, NULL, m, n, m, 26, NULL,
			    (const uint8_t *)"0123456789ab", key);
			crypto_generichash(digest, sizeof digest, c, n + 16, NULL, 0);
			crypto_sign_detached(sig, NULL, digest, sizeof digest, a.sk);
		}
		raw_seal += secs() - t;
		t = secs();
		for (int i = 0; i < ROUNDS; i++) {
			crypto_generichash(digest, sizeof digest, c, n + 16, NULL, 0);
			if (crypto_sign_verify_detached(sig, digest, sizeof digest, a.pk) != 0 ||
			    crypto_aead_chacha20poly1305_ietf_decrypt(back, NULL, NULL, c, n + 16, m, 26,
			    (const uint8_t *)"0123456789ab", key) != 0)
				abort();
		}
		raw_open += secs() - t;

		/* ours, with the shared secret cached as a node does */
		ks.shared = shared;
		t = secs();
		for (int i = 0; i < ROUNDS; i++) {
			bundle_hdr_salt(&h);
			len = bundle_build_sealed(bundle, sizeof bundle, &h, m, n, &ks, &nk, a.sk);
		}
		our_seal += secs() - t;
		ko.shared = shared;
		t = secs();
		for (int i = 0; i < ROUNDS; i++) {
			if (bundle_decode(&bd, bundle, (size_t)len, &nk) != 0 ||
			    bundle_verify(&bd, &nk, a.pk) != 0 || bundle_open(back, &bd, &ko, &nk) != 0)
				abort();
		}
		our_open += secs() - t;

		/* ours, cold: one X25519 per bundle */
		ks.shared = NULL;
		t = secs();
		for (int i = 0; i < ROUNDS; i++) {
			bundle_hdr_salt(&h);
			len = bundle_build_sealed(bundle, sizeof bundle, &h, m, n, &ks, &nk, a.sk);
		}
		cold_seal += secs() - t;
		ko.shared = NULL;
		t = secs();
		for (int i = 0; i < ROUNDS; i++) {
			if (bundle_decode(&bd, bundle, (size_t)len, &nk) != 0 ||
			    bundle_verify(&bd, &nk, a.pk) != 0 || bundle_open(back, &bd, &ko, &nk) != 0)
				abort();
		}
		cold_open += secs() - t;
	}
	printf("bench.seal_vs_libsodium %.3f\n", raw_seal / our_seal);
	printf("bench.open_vs_libsodium %.3f\n", raw_open / our_open);
	printf("bench.seal_cold_vs_libsodium %.3f\n", raw_seal / cold_seal);
	printf("bench.open_cold_vs_libsodium %.3f\n", raw_open / cold_open);
	printf("bench.seal_per_s %.0f\n", ROUNDS * (double)NSIZES / our_seal);
	printf("bench.open_per_s %.0f\n", ROUNDS * (double)NSIZES / our_open);

	bundle_hdr_salt(&h);
	ks.shared = shared;
	len = bundle_build_sealed(bundle, sizeof bundle, &h, m, 140, &ks, &nk, a.sk);
	printf("bundle.overhead_bytes %d\n", len - 140);
	printf("bundle.text140_bytes %d\n", len);
	sodium_memzero(shared, sizeof shared);
}

/* ---- store ---- */

#define STORE_N 20000

static int
make_node(const char *dir, const char *name, struct node **n)
{
	if (node_init(dir, name, NULL, KEYFILE_NONE) != 0 || node_open(n, dir, NULL) != 0)
		return -1;
	return 0;
}

static int
enrol(struct issuer *is, struct node *n)
{
	uint8_t req[APAGON_REQUEST_MAX], file[APAGON_ENROLLMENT_MAX];
	int rlen = node_request(n, req, sizeof req);
	int flen = issuer_enroll(is, req, (size_t)rlen, ROLE_MEMBER, "Bench", 0, T0, file,
	    sizeof file, NULL);

	return flen > 0 ? node_import(n, file, (size_t)flen, T0, NULL, NULL, NULL) : -1;
}

static int
carry(struct node *from, struct node *to)
{
	uint8_t *buf;
	size_t len;
	int rc = node_export(from, T0, NULL, &buf, &len, NULL);

	if (rc == 0)
		rc = node_import(to, buf, len, T0, NULL, NULL, NULL);
	free(buf);
	return rc;
}

static double
raw_sqlite(const char *path, uint8_t (*raw)[300], const size_t *lens, const uint8_t (*ids)[32],
    const uint8_t *sender)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	double t;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		abort();
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE bundles (id BLOB PRIMARY KEY NOT NULL, type INTEGER NOT NULL,"
	    " precedence INTEGER NOT NULL, sender_pk BLOB NOT NULL, recipient BLOB NOT NULL,"
	    " created INTEGER NOT NULL, stored_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	    " own INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0,"
	    " size INTEGER NOT NULL, raw BLOB NOT NULL);"
	    "CREATE INDEX bundles_rank ON bundles(precedence, expires_at);"
	    "CREATE INDEX bundles_sender ON bundles(sender_pk, precedence, expires_at);"
	    "CREATE INDEX bundles_expiry ON bundles(expires_at);", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO bundles VALUES (?1,?2,?3,?4,?5,?6,?7,?8,0,0,?9,?10)",
	    -1, &st, NULL);
	t = secs();
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (int i = 0; i < STORE_N; i++) {
		sqlite3_bind_blob(st, 1, ids[i], 32, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, 0);
		sqlite3_bind_int(st, 3, 0);
		sqlite3_bind_blob(st, 4, sender, 32, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, raw[i] + 10, 6, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, T0);
		sqlite3_bind_int64(st, 7, T0);
		sqlite3_bind_int64(st, 8, T0 + 86400);
		sqlite3_bind_int64(st, 9, (int64_t)lens[i]);
		sqlite3_bind_blob(st, 10, raw[i], (int)lens[i], SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			abort();
		sqlite3_reset(st);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	t = secs() - t;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return t;
}

static void
bench_store(void)
{
	char dir[] = "/tmp/apagon-bench-XXXXXX", path[256], cmd[300];
	struct issuer *is;
	struct node *alice, *bob, *carol;
	uint8_t (*raw)[300] = malloc(sizeof *raw * STORE_N);
	uint8_t (*ids)[32] = malloc(sizeof *ids * STORE_N);
	size_t *lens = malloc(sizeof *lens * STORE_N);
	uint8_t text[140], sk[32];
	struct own_prekey mine;
	struct peer_prekey theirs;
	struct seal_keys k;
	struct bundle_hdr h;
	const uint8_t *shared;
	struct accept_result res;
	struct bundle b;
	struct member m;
	struct chain ch;
	double t_accept, t_crypto, t_raw;

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/admin", dir);
	if (authority_init(path, "Bench", NULL, KEYFILE_NONE) != 0 || issuer_open(&is, path, NULL) != 0)
		abort();
	snprintf(path, sizeof path, "%s/alice", dir);
	make_node(path, "alice", &alice);
	snprintf(path, sizeof path, "%s/bob", dir);
	make_node(path, "bob", &bob);
	snprintf(path, sizeof path, "%s/carol", dir);
	make_node(path, "carol", &carol);
	if (enrol(is, alice) || enrol(is, bob) || enrol(is, carol) || carry(bob, alice) ||
	    carry(alice, carol))
		abort();

	/* alice's bundles to bob, which carol will relay: the relay's acceptance path. */
	randombytes_buf(text, sizeof text);
	if (node_own_prekey(alice, -1, &mine, sk) != 0 ||
	    store_peer_prekey_current(node_store(alice), node_pk(bob), T0, &theirs) != 0 ||
	    node_dh(alice, mine.serial, sk, theirs.pk, &shared) != 0)
		abort();
	memset(&k, 0, sizeof k);
	k.sender_pk = node_pk(alice);
	k.recipient_pk = node_pk(bob);
	k.my_prekey_sk = sk;
	k.sender_prekey_pk = mine.pk;
	k.recipient_prekey_pk = theirs.pk;
	k.shared = shared;
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_MSG;
	memcpy(h.sender, alice->key_id, 6);
	memcpy(h.recipient, bob->key_id, 6);
	h.sender_prekey = (uint8_t)mine.serial;
	h.recipient_prekey = (uint8_t)theirs.serial;
	h.created = (uint32_t)T0;
	h.lifetime = lifetime_code(86400);
	for (int i = 0; i < STORE_N; i++) {
		/* Distinct texts: two bundles alike in text, time and 4-byte salt would be one
		 * bundle (same ID), which the store rightly keeps once. */
		memcpy(text, &i, sizeof i);
		bundle_hdr_salt(&h);
		lens[i] = (size_t)bundle_build_sealed(raw[i], 300, &h, text, sizeof text, &k,
		    node_netkeys(alice), alice->sk);
	}

	/* The crypto inside acceptance, measured alone on the same bundles: decoding
	 * (ID hash, network tag, header mask) and the signature of every bundle, and the
	 * sender's chain once per batch, as the acceptance path does it. */
	if (store_get_member(node_store(carol), node_pk(alice), &m) != 0 ||
	    chain_decode(&ch, m.chain, m.chain_len) != 0)
		abort();
	t_crypto = secs();
	if (chain_verify(&ch, node_netkeys(carol)->network_id, node_netkeys(carol)->authority_pk,
	    (uint32_t)T0, 3600, NULL, NULL) != 0)
		abort();
	for (int i = 0; i < STORE_N; i++) {
		if (bundle_decode(&b, raw[i], lens[i], node_netkeys(carol)) != 0 ||
		    bundle_verify(&b, node_netkeys(carol), node_pk(alice)) != 0)
			abort();
		memcpy(ids[i], b.id, 32);
	}
	t_crypto = secs() - t_crypto;

	t_accept = secs();
	if (accept_begin(&carol->ax) != 0)
		abort();
	for (int i = 0; i < STORE_N; i++)
		if (accept_bundle(&carol->ax, raw[i], lens[i], T0, &res) != MESH_OK)
			abort();
	if (accept_commit(&carol->ax) != 0)
		abort();
	t_accept = secs() - t_accept;

	snprintf(path, sizeof path, "%s/raw.db", dir);
	t_raw = raw_sqlite(path, raw, lens, (const uint8_t (*)[32])ids, node_pk(alice));

	printf("bench.store_vs_sqlite %.3f\n", t_raw / (t_accept - t_crypto));
	printf("bench.accept_per_s %.0f\n", STORE_N / t_accept);
	printf("bench.accept_crypto_share %.3f\n", t_crypto / t_accept);

	sodium_memzero(sk, sizeof sk);
	node_close(alice);
	node_close(bob);
	node_close(carol);
	issuer_close(is);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
	free(raw);
	free(ids);
	free(lens);
}

int
main(void)
{
	if (crypto_init() != 0)
		return 1;
	bench_crypto();
	bench_store();
	return 0;
}
