/*
 * Test vectors (tests/vectors/apagon-v1.txt), made with a deterministic RNG so that an
 * independent implementation can check itself against them. This test rebuilds every
 * value and compares it with the file; APAGON_WRITE_VECTORS=1 rewrites the file.
 *
 * Where it can, the test recomputes values the way docs/protocol.md describes them,
 * not through the functions under test: the message-key transcript, the header mask,
 * the network tag and the bundle ID are all assembled here by hand.
 */
#include "../test.h"
#include "../test_rng.h"

#include "../../mesh/bundle.h"
#include "../../mesh/cert.h"
#include "../../mesh/mesh.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define VECTORS "tests/vectors/apagon-v1.txt"

/* ---- the vector file, built as text ---- */
static char out[65536];
static size_t outlen;

static void
put_hex(const char *name, const uint8_t *p, size_t n)
{
	outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, "%s = ", name);
	for (size_t i = 0; i < n; i++)
		outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, "%02x", p[i]);
	outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, "\n");
}

static void
put_str(const char *name, const char *s)
{
	outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, "%s = %s\n", name, s);
}

static void
put_comment(const char *s)
{
	outlen += (size_t)snprintf(out + outlen, sizeof out - outlen, "\n# %s\n", s);
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A member certificate of the vectors: role member, unit "Interior", valid 365 days
 * from 1790000000, signed by the authority. */
static void
member_cert(struct cert *c, const uint8_t pk[32], const char *name, const uint8_t *auth_pk,
    const uint8_t *auth_sk, const uint8_t network_id[32])
{
	memset(c, 0, sizeof *c);
	c->role = ROLE_MEMBER;
	memcpy(c->subject, pk, 32);
	memcpy(c->issuer, auth_pk, 32);
	c->not_before = 1790000000;
	c->not_after = 1790000000 + 365 * 86400;
	snprintf(c->name, sizeof c->name, "%s", name);
	strcpy(c->unit, "Interior");
	cert_sign(c, network_id, auth_sk);
}

/* T(th, x) of docs/protocol.md 15.2. */
static void
tr(uint8_t th[32], const uint8_t *x, size_t n)
{
	uint8_t o[32];

	crypto_hash_ctx2(o, 32, APAGON_CTX_LINK_TRANSCRIPT, th, 32, x, n, NULL, 0);
	memcpy(th, o, 32);
}

/* H_32(ctx, label || th, key). */
static void
kdf1(uint8_t dst[32], const char *ctx, char label, const uint8_t th[32], const uint8_t *key)
{
	uint8_t l = (uint8_t)label;

	crypto_hash_ctx2(dst, 32, ctx, &l, 1, th, 32, key, 32);
}

/* The `size` bytes the deterministic RNG's call number `ctr` gave: how the test learns
 * an ephemeral secret a session drew, without looking inside the session. */
static void
rng_replay(uint8_t *dst, size_t size, uint64_t ctr)
{
	uint64_t save = rng_ctr;

	rng_ctr = ctr;
	rng_buf(dst, size);
	rng_ctr = save;
}

/* Open an HS2/HS3 identity body by hand: clen (2) | chain | sig; checks the chain is
 * `want` and the signature by `pk` over role || T(th, chain); moves th past both. */
static void
hand_identity(const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
    const uint8_t key[32], uint8_t th[32], char role, const uint8_t *want, size_t wantlen,
    const uint8_t pk[32])
{
	uint8_t body[2 + APAGON_CHAIN_MAX + 64];
	unsigned long long blen;
	size_t chl;
	uint8_t r = (uint8_t)role;
	uint8_t zero[12] = { 0 };

	CHECK(clen - 16 <= sizeof body);
	if (clen - 16 > sizeof body)
		return;
	CHECK_EQ(crypto_aead_chacha20poly1305_ietf_decrypt(body, &blen, NULL, c, clen, ad, adlen,
	    zero, key), 0);
	chl = (size_t)body[0] << 8 | body[1];
	CHECK_EQ(chl, wantlen);
	CHECK_EQ(blen, 2 + chl + 64);
	CHECK(memcmp(body + 2, want, wantlen) == 0);
	tr(th, body + 2, chl);
	CHECK_EQ(crypto_verify_ctx(body + 2 + chl, APAGON_CTX_LINK_SIG, &r, 1, th, 32, pk), 0);
	tr(th, body + 2 + chl, 64);
}

/*
 * The link handshake (docs/protocol.md 15.2-15.3): alice initiates, bob answers, run
 * through the real sessions with the deterministic RNG; then every key is recomputed
 * by hand from the document and each frame is opened with it.
 */
static void
handshake_vectors(const struct netkeys *nk, const uint8_t *auth_pk, const uint8_t *auth_sk,
    const struct cert *alice, const uint8_t *a_pk, const uint8_t *a_sk,
    const uint8_t *b_pk, const uint8_t *b_sk)
{
	char dir[] = "/tmp/apagon-vectors-XXXXXX", path[64], cmd[96];
	uint8_t psk[32], k[64], mac[16], ei[32], er[32], epk[32], dh[32], th[32], th1[32];
	uint8_t hs_secret[32], k2[32], k3[32], master[32], ki2r[32], kr2i[32];
	uint8_t hs1[128], hs2[1024], hs3[1024], d1[256], plain[256], nonce[12] = { 0 };
	uint8_t cha[APAGON_CHAIN_MAX], chb[APAGON_CHAIN_MAX], certbuf[APAGON_CERT_MAX];
	struct chain ca = { .n = 1 }, cb = { .n = 1 };
	struct cert bob;
	struct store *sa = NULL, *sb = NULL;
	struct accept_ctx axa, axb;
	struct session_config cfa, cfb;
	struct session *A = NULL, *B = NULL;
	uint64_t now = 1790003600000ull, c0;
	unsigned long long plen;
	size_t n1, n2, n3, nd;
	int lena, lenb, blen;

	put_comment("Link session handshake (15.2): alice initiates, bob responds, at 1790003600");
	member_cert(&bob, b_pk, "bob", auth_pk, auth_sk, nk->network_id);
	blen = cert_encode(certbuf, sizeof certbuf, &bob);
	CHECK(blen > 0);
	put_hex("bob_cert", certbuf, (size_t)blen);
	ca.c[0] = *alice;
	cb.c[0] = bob;
	lena = chain_encode(cha, sizeof cha, &ca);
	lenb = chain_encode(chb, sizeof chb, &cb);
	CHECK(lena > 0 && lenb > 0);
	put_hex("bob_chain", chb, (size_t)lenb);

	memcpy(k, nk->hp_key, 32);
	memcpy(k + 32, nk->tag_key, 32);
	crypto_hash_ctx(psk, 32, APAGON_CTX_LINK_PSK, nk->network_id, 32, k, 64);
	put_hex("link_psk", psk, 32);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/a.db", dir);
	CHECK_EQ(store_open(&sa, path), MESH_OK);
	snprintf(path, sizeof path, "%s/b.db", dir);
	CHECK_EQ(store_open(&sb, path), MESH_OK);
	memset(&axa, 0, sizeof axa);
	axa.st = sa;
	axa.nk = nk;
	axa.skew = 3600;
	axb = axa;
	axb.st = sb;
	memset(&cfa, 0, sizeof cfa);
	cfa.initiator = 1;
	cfa.ax = &axa;
	cfa.pk = a_pk;
	cfa.sk = a_sk;
	cfa.chain = &ca;
	cfb = cfa;
	cfb.initiator = 0;
	cfb.ax = &axb;
	cfb.pk = b_pk;
	cfb.sk = b_sk;
	cfb.chain = &cb;

	/* session_new draws its ID-map key, then the initiator's ephemeral secret. */
	c0 = rng_ctr;
	CHECK_EQ(session_new(&A, &cfa, now), MESH_OK);
	rng_replay(ei, 32, c0 + 1);
	CHECK_EQ(session_new(&B, &cfb, now), MESH_OK);
	if (!A || !B)
		goto out;
	n1 = session_output(A, hs1, sizeof hs1, now);
	c0 = rng_ctr;
	CHECK_EQ(session_input(B, hs1, n1, now), MESH_OK);
	rng_replay(er, 32, c0);
	n2 = session_output(B, hs2, sizeof hs2, now);
	CHECK_EQ(session_input(A, hs2, n2, now), MESH_OK);
	n3 = session_output(A, hs3, sizeof hs3, now);
	CHECK_EQ(session_input(B, hs3, n3, now), MESH_OK);
	nd = session_output(B, d1, sizeof d1, now);
	CHECK_EQ(session_input(A, d1, nd, now), MESH_OK);
	CHECK_EQ(session_state(A), SESSION_OPEN);
	CHECK_EQ(session_state(B), SESSION_OPEN);
	put_hex("link_e_i_secret", ei, 32);
	put_hex("link_e_r_secret", er, 32);
	put_hex("link_hs1", hs1, n1);
	put_hex("link_hs2", hs2, n2);
	put_hex("link_hs3", hs3, n3);
	put_hex("link_first_data_r2i", d1, nd);

	/* By hand, from the document. */
	CHECK_EQ(n1, 50);
	CHECK(hs1[0] == 0x01 && hs1[1] == 1);
	crypto_scalarmult_curve25519_base(epk, ei);
	CHECK(memcmp(hs1 + 2, epk, 32) == 0);
	crypto_hash_ctx(mac, 16, APAGON_CTX_LINK_HELLO, hs1, 34, psk, 32);
	CHECK(memcmp(hs1 + 34, mac, 16) == 0);
	CHECK(n2 > 33 && hs2[0] == 0x02);
	crypto_scalarmult_curve25519_base(epk, er);
	CHECK(memcmp(hs2 + 1, epk, 32) == 0);
	memset(th, 0, sizeof th);
	tr(th, hs1, n1);
	tr(th, hs2 + 1, 32);
	memcpy(th1, th, 32);
	CHECK_EQ(crypto_scalarmult_curve25519(dh, ei, hs2 + 1), 0);
	memcpy(k, dh, 32);
	memcpy(k + 32, psk, 32);
	crypto_hash_ctx(hs_secret, 32, APAGON_CTX_LINK_HS_KEY, th1, 32, k, 64);
	kdf1(k2, APAGON_CTX_LINK_HS_KEY, 'R', th1, hs_secret);
	put_hex("link_th1", th1, 32);
	put_hex("link_hs_secret", hs_secret, 32);
	put_hex("link_k2", k2, 32);
	hand_identity(hs2 + 33, n2 - 33, hs2, 33, k2, th, 'R', chb, (size_t)lenb, b_pk);
	kdf1(k3, APAGON_CTX_LINK_HS_KEY, 'I', th, hs_secret);
	put_hex("link_k3", k3, 32);
	CHECK(n3 > 1 && hs3[0] == 0x03);
	hand_identity(hs3 + 1, n3 - 1, hs3, 1, k3, th, 'I', cha, (size_t)lena, a_pk);
	put_hex("link_th5", th, 32);
	kdf1(master, APAGON_CTX_LINK_TRAFFIC, 'M', th, hs_secret);
	kdf1(ki2r, APAGON_CTX_LINK_TRAFFIC, 'i', th, master);
	kdf1(kr2i, APAGON_CTX_LINK_TRAFFIC, 'r', th, master);
	put_hex("link_k_i2r", ki2r, 32);
	put_hex("link_k_r2i", kr2i, 32);
	/* bob's first data frame: 0x10 | counter | AEAD(k_r2i, 0^4 || counter, ad = 0..8). */
	CHECK(nd > 9 + 16 && d1[0] == 0x10);
	memcpy(nonce + 4, d1 + 1, 8);
	CHECK_EQ(crypto_aead_chacha20poly1305_ietf_decrypt(plain, &plen, NULL, d1 + 9, nd - 9, d1,
	    9, nonce, kr2i), 0);
	put_hex("link_first_data_r2i_plaintext", plain, (size_t)plen);
	/* It starts with a PING (type 1, empty), the key confirmation. */
	CHECK(plen >= 3 && plain[0] == 1 && plain[1] == 0 && plain[2] == 0);
out:
	session_free(A);
	session_free(B);
	store_close(sa);
	store_close(sb);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void
build_vectors(void)
{
	uint8_t auth_seed[32], auth_pk[32], auth_sk[64], netkey[32];
	uint8_t a_seed[32], a_pk[32], a_sk[64], a_id[6], b_seed[32], b_pk[32], b_sk[64], b_id[6];
	uint8_t a_ppk[32], a_psk[32], b_ppk[32], b_psk[32];
	uint8_t certbuf[APAGON_CERT_MAX], bundle[512], mkey[32], mask[16], id[32], tag[16];
	uint8_t transcript[32 + 4 * 32 + APAGON_SIGNED_HDR], hdr[APAGON_SIGNED_HDR], cs[8];
	uint8_t m[141], opened[141];
	struct netkeys nk;
	struct cert c;
	struct bundle_hdr h;
	struct bundle b;
	struct seal_keys k;
	char safety[61];
	int clen, blen;

	test_rng_restart();
	outlen = 0;
	outlen += (size_t)snprintf(out, sizeof out,
	    "# apagon protocol v1 test vectors. All values hex unless noted.\n"
	    "# Generated by tests/unit/test_vectors.c with a deterministic RNG; see\n"
	    "# docs/protocol.md for every layout and derivation used here.\n");

	put_comment("Network authority and network keys");
	randombytes_buf(auth_seed, 32);
	crypto_sign_from_seed(auth_pk, auth_sk, auth_seed);
	crypto_hash_ctx(netkey, 32, APAGON_CTX_NETWORK_KEY, NULL, 0, auth_seed, 32);
	netkeys_derive(&nk, auth_pk, netkey);
	put_hex("authority_seed", auth_seed, 32);
	put_hex("authority_pk", auth_pk, 32);
	put_hex("network_key", netkey, 32);
	put_hex("network_id", nk.network_id, 32);
	put_hex("hp_key", nk.hp_key, 32);
	put_hex("tag_key", nk.tag_key, 32);
	put_hex("body_key", nk.body_key, 32);

	put_comment("Members");
	randombytes_buf(a_seed, 32);
	crypto_sign_from_seed(a_pk, a_sk, a_seed);
	crypto_key_id(a_id, a_pk);
	randombytes_buf(b_seed, 32);
	crypto_sign_from_seed(b_pk, b_sk, b_seed);
	crypto_key_id(b_id, b_pk);
	put_hex("alice_seed", a_seed, 32);
	put_hex("alice_pk", a_pk, 32);
	put_hex("alice_key_id", a_id, 6);
	put_hex("bob_seed", b_seed, 32);
	put_hex("bob_pk", b_pk, 32);
	put_hex("bob_key_id", b_id, 6);

	put_comment("Alice's certificate, issued by the authority");
	member_cert(&c, a_pk, "alice", auth_pk, auth_sk, nk.network_id);
	clen = cert_encode(certbuf, sizeof certbuf, &c);
	CHECK(clen > 0);
	put_hex("alice_cert", certbuf, (size_t)clen);

	put_comment("Alice's CERT bundle: a public bundle, sealed to the network");
	{
		uint8_t chainbuf[APAGON_CHAIN_MAX], cb[APAGON_BUNDLE_MIN + APAGON_TAG + APAGON_CHAIN_MAX];
		uint8_t pk_hdr[APAGON_SIGNED_HDR], pkey[32], pre[32 + APAGON_SIGNED_HDR], ct[APAGON_CHAIN_MAX + 16];
		struct chain ch = { .n = 1 };
		struct bundle_hdr ph;
		struct bundle pb;
		int chlen, cblen;

		ch.c[0] = c;
		chlen = chain_encode(chainbuf, sizeof chainbuf, &ch);
		memset(&ph, 0, sizeof ph);
		ph.type = BUNDLE_CERT;
		ph.precedence = PREC_IMMEDIATE;
		memcpy(ph.sender, a_id, 6);
		ph.created = 1790000100;
		ph.lifetime = lifetime_code(30 * 86400);
		bundle_hdr_salt(&ph);
		cblen = bundle_build_public(cb, sizeof cb, &ph, chainbuf, (size_t)chlen, &nk, a_sk);
		CHECK_EQ(cblen, APAGON_BUNDLE_MIN + APAGON_TAG + chlen);
		put_hex("alice_chain", chainbuf, (size_t)chlen);
		CHECK_EQ(bundle_decode(&pb, cb, (size_t)cblen, &nk), 0);
		memcpy(pk_hdr, pb.signed_hdr, sizeof pk_hdr);
		put_hex("cert_bundle_signed_header", pk_hdr, sizeof pk_hdr);
		/* By hand: key = H(PUBLIC_BODY, key=body_key, network ID || signed header). */
		memcpy(pre, nk.network_id, 32);
		memcpy(pre + 32, pk_hdr, sizeof pk_hdr);
		crypto_hash_ctx(pkey, 32, APAGON_CTX_PUBLIC_BODY, pre, sizeof pre, nk.body_key, 32);
		put_hex("cert_bundle_body_key", pkey, 32);
		crypto_aead_seal(ct, chainbuf, (size_t)chlen, pk_hdr, sizeof pk_hdr, pkey);
		CHECK(memcmp(cb + 27, ct, (size_t)chlen + 16) == 0);
		put_hex("cert_bundle", cb, (size_t)cblen);
		CHECK_EQ(pb.pub_len, (size_t)chlen);
		CHECK(memcmp(pb.pub, chainbuf, (size_t)chlen) == 0);
	}

	put_comment("Prekeys (X25519)");
	randombytes_buf(a_psk, 32);
	crypto_scalarmult_base(a_ppk, a_psk);
	randombytes_buf(b_psk, 32);
	crypto_scalarmult_base(b_ppk, b_psk);
	put_hex("alice_prekey_sk", a_psk, 32);
	put_hex("alice_prekey_pk", a_ppk, 32);
	put_hex("bob_prekey_sk", b_psk, 32);
	put_hex("bob_prekey_pk", b_ppk, 32);

	put_comment("A 140-byte FLASH text from alice to bob (prekey serials 1 and 1)");
	memset(m, 0, sizeof m);
	memcpy(m, "FLASH: grid down in sectors 4-9. Crisis cell convenes 14:00 at the "
	    "interior ministry, room B2. Bring radios and spare batteries. Reply soon.", 140);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_MSG;
	h.precedence = PREC_FLASH;
	memcpy(h.sender, a_id, 6);
	memcpy(h.recipient, b_id, 6);
	h.sender_prekey = 1;
	h.recipient_prekey = 1;
	h.created = 1790003600;
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	memset(&k, 0, sizeof k);
	k.sender_pk = a_pk;
	k.recipient_pk = b_pk;
	k.my_prekey_sk = a_psk;
	k.sender_prekey_pk = a_ppk;
	k.recipient_prekey_pk = b_ppk;
	blen = bundle_build_sealed(bundle, sizeof bundle, &h, m, 140, &k, &nk, a_sk);
	CHECK_EQ(blen, 140 + APAGON_SEALED_OVERHEAD);
	CHECK(blen <= 255);
	put_str("plaintext_utf8", (const char *)m);
	put_hex("plaintext", m, 140);
	{
		char sz[16];

		snprintf(sz, sizeof sz, "%d", blen);
		put_str("bundle_len_decimal", sz);
	}

	/* By hand, from the spec: the unmasked signed header (wire bytes 1..26). */
	be32(cs, h.created);
	memcpy(cs + 4, h.salt, 4);
	crypto_hash_ctx(tag, 16, APAGON_CTX_NETTAG, cs, 8, nk.tag_key, 32);
	hdr[0] = tag[0];
	hdr[1] = tag[1];
	hdr[2] = (uint8_t)(1 << 6 | PREC_FLASH << 4 | BUNDLE_MSG);
	memcpy(hdr + 3, a_id, 6);
	memcpy(hdr + 9, b_id, 6);
	hdr[15] = 1;
	hdr[16] = 1;
	be32(hdr + 17, h.created);
	hdr[21] = h.lifetime;
	memcpy(hdr + 22, h.salt, 4);
	put_hex("signed_header", hdr, sizeof hdr);
	CHECK(memcmp(bundle + 1, hdr, 2) == 0);         /* tag is sent in the clear */
	CHECK(memcmp(bundle + 18, hdr + 17, 9) == 0);   /* created, lifetime, salt too */

	/* Message key: X25519(alice prekey, bob prekey), hashed with the transcript. */
	memcpy(transcript, nk.network_id, 32);
	memcpy(transcript + 32, a_pk, 32);
	memcpy(transcript + 64, b_pk, 32);
	memcpy(transcript + 96, a_ppk, 32);
	memcpy(transcript + 128, b_ppk, 32);
	memcpy(transcript + 160, hdr, sizeof hdr);
	CHECK_EQ(crypto_message_key(mkey, a_psk, b_ppk, transcript, sizeof transcript), 0);
	put_hex("message_key", mkey, 32);
	{
		uint8_t ct[140 + 16];

		crypto_aead_seal(ct, m, 140, hdr, sizeof hdr, mkey);
		CHECK(memcmp(bundle + 27, ct, sizeof ct) == 0);
		put_hex("ciphertext_and_tag", ct, sizeof ct);
	}
	/* Header protection: mask from the first 24 signature bytes. */
	crypto_hp_mask(mask, bundle + blen - 64, nk.hp_key);
	put_hex("hp_mask", mask, 16);
	CHECK_EQ(bundle[3], (uint8_t)(hdr[2] ^ (mask[0] & 0x3f)));
	for (int i = 0; i < 14; i++)
		CHECK_EQ(bundle[4 + i], (uint8_t)(hdr[3 + i] ^ mask[1 + i]));
	/* The ID over network ID || header || body; the signature over ctx-hash || ID. */
	{
		uint8_t pre[32 + APAGON_SIGNED_HDR];

		memcpy(pre, nk.network_id, 32);
		memcpy(pre + 32, hdr, sizeof hdr);
		crypto_hash_ctx2(id, 32, APAGON_CTX_BUNDLE_ID, pre, sizeof pre, bundle + 27, 156, NULL, 0);
		CHECK_EQ(crypto_verify_ctx(bundle + blen - 64, APAGON_CTX_BUNDLE_SIG, id, 32, NULL, 0,
		    a_pk), 0);
		CHECK(crypto_verify_ctx(bundle + blen - 64, APAGON_CTX_BUNDLE_SIG, pre, sizeof pre,
		    bundle + 27, 156, a_pk) != 0);      /* not over the bytes themselves */
	}
	put_hex("bundle", bundle, (size_t)blen);
	put_hex("bundle_id", id, 32);
	CHECK_EQ(bundle_decode(&b, bundle, (size_t)blen, &nk), 0);
	CHECK(memcmp(b.id, id, 32) == 0);
	CHECK_EQ(bundle_verify(&b, &nk, a_pk), 0);
	k.my_prekey_sk = b_psk;
	CHECK_EQ(bundle_open(opened, &b, &k, &nk), 0);
	CHECK(memcmp(opened, m, 140) == 0);

	put_comment("Safety number between alice and bob (decimal digits)");
	crypto_safety_number(safety, nk.network_id, a_pk, b_pk);
	put_str("safety_number", safety);

	handshake_vectors(&nk, auth_pk, auth_sk, &c, a_pk, a_sk, b_pk, b_sk);
	sodium_memzero(auth_sk, sizeof auth_sk);
}

static void
test_vectors_match_file(void)
{
	FILE *f;
	char *file;
	long n;

	build_vectors();
	if (getenv("APAGON_WRITE_VECTORS")) {
		CHECK((f = fopen(VECTORS, "w")) != NULL);
		if (f) {
			fwrite(out, 1, outlen, f);
			fclose(f);
		}
		return;
	}
	f = fopen(VECTORS, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	file = malloc((size_t)n + 1);
	CHECK(fread(file, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	CHECK_EQ(n, (long)outlen);
	CHECK(memcmp(file, out, outlen) == 0);
	free(file);
}

static void
test_vectors_deterministic(void)
{
	char first[sizeof out];
	size_t firstlen;

	build_vectors();
	memcpy(first, out, outlen);
	firstlen = outlen;
	build_vectors();
	CHECK_EQ(firstlen, outlen);
	CHECK(memcmp(first, out, outlen) == 0);
}

static void
test_lifetime_codes(void)
{
	CHECK_EQ(lifetime_seconds(lifetime_code(60)), 60);
	CHECK_EQ(lifetime_seconds(lifetime_code(61)), 120);
	CHECK_EQ(lifetime_seconds(lifetime_code(86400)), 86400);
	CHECK_EQ(lifetime_seconds(lifetime_code(7 * 86400)), 7 * 86400);
	CHECK_EQ(lifetime_seconds(lifetime_code(400 * 86400)), 58 * 7 * 86400);
	CHECK_EQ(lifetime_seconds(lifetime_code(900 * 86400)), 63 * 7 * 86400);
	for (uint32_t s = 1; s < 100000000; s = s * 3 + 7)
		CHECK(lifetime_seconds(lifetime_code(s)) >= s || s > 63u * 7 * 86400);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_vectors_match_file),
		TEST(test_vectors_deterministic),
		TEST(test_lifetime_codes),
	};

	test_rng_use("apagon test vectors, fixed key!");
	return test_main("vectors", cases, sizeof cases / sizeof cases[0], argc, argv);
}
