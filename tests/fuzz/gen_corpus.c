/*
 * Write the seed corpus of every harness from the real encoders, deterministically.
 *
 *   /tmp/gen [tests/fuzz/corpus]
 *
 * Build it by hand, from the top of the tree, with the command in tests/fuzz/README.md
 * (the Makefile does not know it: it is run only when the formats or fuzz.h change).
 *
 * libsodium's random source is replaced (before sodium_init) by a ChaCha20 stream under
 * a fixed key with a counter as nonce (tests/test_rng.h), so every salt, nonce and generated key, and so
 * every byte written, is the same on every run. The network, its members and their
 * prekeys come from tests/fuzz/fuzz.h, which the harnesses share, so the seeds decode,
 * verify and open there. Files are overwritten by name; crash-* files are left alone.
 */
#include "fuzz.h"
#include "../test_rng.h"

#include <errno.h>
#include <sys/stat.h>

/* ---- output ---- */

static const char *root = "tests/fuzz/corpus";
static int written;

static void
put(const char *harness, const char *name, const uint8_t *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, harness);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
	if (!(f = fopen(path, "wb")) || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	written++;
}

static void
must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "gen_corpus: %s failed\n", what);
		exit(1);
	}
}

/* ---- PKI ---- */

static const struct fuzz_keys *K;

static void
make_cert(struct cert *c, uint8_t role, const uint8_t *subject, const uint8_t *issuer,
    const uint8_t *issuer_sk, uint32_t nb, uint32_t na, const char *name, const char *unit)
{
	memset(c, 0, sizeof *c);
	c->role = role;
	memcpy(c->subject, subject, APAGON_SIGN_PK);
	memcpy(c->issuer, issuer, APAGON_SIGN_PK);
	c->not_before = nb;
	c->not_after = na;
	snprintf(c->name, sizeof c->name, "%s", name);
	snprintf(c->unit, sizeof c->unit, "%s", unit);
	cert_sign(c, K->nk.network_id, issuer_sk);
}

#define YEAR (365u * 86400u)
#define NB   (FUZZ_NOW - YEAR)
#define NA   (FUZZ_NOW + YEAR)

static int
encode_chain(uint8_t *out, const struct chain *ch)
{
	int n = chain_encode(out, APAGON_CHAIN_MAX, ch);

	must(n > 0, "chain_encode");
	return n;
}

/* A chain in every shape the harnesses need; returns its encoding length. */
static struct chain ch_member, ch_enrolled, ch_enroller, ch_peer;

static void
make_chains(void)
{
	ch_member.n = 1;
	make_cert(&ch_member.c[0], ROLE_MEMBER, K->member_pk, K->authority_pk, K->authority_sk,
	    NB, NA, "alice", "");
	ch_enroller.n = 1;
	make_cert(&ch_enroller.c[0], ROLE_ENROLLER, K->enroller_pk, K->authority_pk,
	    K->authority_sk, NB, NA + YEAR, "north desk", FUZZ_UNIT);
	ch_enrolled.n = 2;
	ch_enrolled.c[0] = ch_enroller.c[0];
	make_cert(&ch_enrolled.c[1], ROLE_MEMBER, K->member_pk, K->enroller_pk, K->enroller_sk,
	    NB, NA, "alice", FUZZ_UNIT);
	ch_peer.n = 1;
	make_cert(&ch_peer.c[0], ROLE_MEMBER, K->peer_pk, K->authority_pk, K->authority_sk,
	    NB, NA, "Zoë Ødegård 東京", "север");
}

/* ---- bundles ---- */

static void
make_hdr(struct bundle_hdr *h, uint8_t type, uint8_t prec, const uint8_t *sender_pk,
    const uint8_t *recipient_pk)
{
	memset(h, 0, sizeof *h);
	h->type = type;
	h->precedence = prec;
	crypto_key_id(h->sender, sender_pk);
	if (recipient_pk)
		crypto_key_id(h->recipient, recipient_pk);
	else
		memcpy(h->recipient, bundle_broadcast_id, APAGON_KEYID);
	h->sender_prekey = 1;
	h->recipient_prekey = recipient_pk ? 2 : 0;
	h->created = FUZZ_NOW - 3600;
	h->lifetime = lifetime_code(7 * 86400);
	bundle_hdr_salt(h);
}

static int
clear_bundle(uint8_t *out, uint8_t type, const uint8_t *body, size_t blen,
    const uint8_t *sender_pk, const uint8_t *sender_sk, const struct netkeys *nk)
{
	struct bundle_hdr h;
	int n;

	make_hdr(&h, type, PREC_PRIORITY, sender_pk, NULL);
	n = bundle_build_public(out, APAGON_MAX_BUNDLE, &h, body, blen, nk, sender_sk);
	must(n > 0, "bundle_build_public");
	return n;
}

static int
sealed_bundle(uint8_t *out, uint8_t type, uint8_t prec, const uint8_t *m, size_t mlen,
    const struct netkeys *nk)
{
	struct bundle_hdr h;
	struct seal_keys sk = {
		.sender_pk = K->member_pk,
		.recipient_pk = K->peer_pk,
		.my_prekey_sk = K->member_prekey_sk,
		.sender_prekey_pk = K->member_prekey_pk,
		.recipient_prekey_pk = K->peer_prekey_pk,
	};
	int n;

	make_hdr(&h, type, prec, K->member_pk, K->peer_pk);
	if (type == BUNDLE_RECEIPT)     /* m holds the acknowledged IDs */
		n = bundle_build_receipt(out, APAGON_MAX_BUNDLE, &h, (const uint8_t (*)[APAGON_HASH])m,
		    (int)(mlen / APAGON_HASH), 1790000000, &sk, nk, K->member_sk);
	else
		n = bundle_build_sealed(out, APAGON_MAX_BUNDLE, &h, m, mlen, &sk, nk, K->member_sk);
	must(n > 0, "bundle_build_sealed");
	return n;
}

/* The bundles every bundle-carrying corpus starts from. */
struct seed {
	const char *name;
	uint8_t buf[4096];
	int len;
};
enum { S_CERT, S_CERT2, S_PREKEY, S_REVOKE, S_MSG, S_MSG_FLASH, S_RECEIPT, S_NSEEDS };
static struct seed seeds[S_NSEEDS];
static struct prekey_rec member_prekey;
static struct revocation revoke_enroller;

static void
make_bundles(void)
{
	uint8_t body[APAGON_CHAIN_MAX], text[600];
	uint8_t ids[3][APAGON_HASH];
	struct bundle b;
	int n;

	seeds[S_CERT].name = "cert-member";
	n = encode_chain(body, &ch_member);
	seeds[S_CERT].len = clear_bundle(seeds[S_CERT].buf, BUNDLE_CERT, body, (size_t)n,
	    K->member_pk, K->member_sk, &K->nk);

	seeds[S_CERT2].name = "cert-enrolled";
	n = encode_chain(body, &ch_enrolled);
	seeds[S_CERT2].len = clear_bundle(seeds[S_CERT2].buf, BUNDLE_CERT, body, (size_t)n,
	    K->member_pk, K->member_sk, &K->nk);

	seeds[S_PREKEY].name = "prekey";
	member_prekey.serial = 1;
	memcpy(member_prekey.pk, K->member_prekey_pk, APAGON_DH_PK);
	member_prekey.not_after = FUZZ_NOW + 30 * 86400;
	must(prekey_encode(body, &member_prekey) == APAGON_PREKEY_REC, "prekey_encode");
	seeds[S_PREKEY].len = clear_bundle(seeds[S_PREKEY].buf, BUNDLE_PREKEY, body,
	    APAGON_PREKEY_REC, K->member_pk, K->member_sk, &K->nk);

	seeds[S_REVOKE].name = "revoke";
	memcpy(revoke_enroller.subject, K->enroller_pk, APAGON_SIGN_PK);
	revoke_enroller.revoked_at = FUZZ_NOW - 60;
	snprintf(revoke_enroller.reason, sizeof revoke_enroller.reason, "device lost");
	n = revocation_encode(body, sizeof body, &revoke_enroller);
	must(n > 0, "revocation_encode");
	seeds[S_REVOKE].len = clear_bundle(seeds[S_REVOKE].buf, BUNDLE_REVOKE, body, (size_t)n,
	    K->authority_pk, K->authority_sk, &K->nk);

	seeds[S_MSG].name = "msg";
	seeds[S_MSG].len = sealed_bundle(seeds[S_MSG].buf, BUNDLE_MSG, PREC_ROUTINE,
	    (const uint8_t *)"hello from the north", 20, &K->nk);

	seeds[S_MSG_FLASH].name = "msg-flash";
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = (uint8_t)("FLASH: bridge out at km 42. "[i % 28]);
	seeds[S_MSG_FLASH].len = sealed_bundle(seeds[S_MSG_FLASH].buf, BUNDLE_MSG, PREC_FLASH,
	    text, sizeof text, &K->nk);

	seeds[S_RECEIPT].name = "receipt";
	must(bundle_decode(&b, seeds[S_MSG].buf, (size_t)seeds[S_MSG].len, &K->nk) == MESH_OK,
	    "bundle_decode msg");
	memcpy(ids[0], b.id, APAGON_HASH);
	must(bundle_decode(&b, seeds[S_MSG_FLASH].buf, (size_t)seeds[S_MSG_FLASH].len,
	    &K->nk) == MESH_OK, "bundle_decode flash");
	memcpy(ids[1], b.id, APAGON_HASH);
	randombytes_buf(ids[2], APAGON_HASH);
	seeds[S_RECEIPT].len = sealed_bundle(seeds[S_RECEIPT].buf, BUNDLE_RECEIPT,
	    PREC_IMMEDIATE, (const uint8_t *)ids, sizeof ids, &K->nk);
}

static void
gen_bundle(void)
{
	const char *h = "fuzz_bundle";
	uint8_t buf[4096] = { 0 }, zero[APAGON_BUNDLE_MIN] = { 0 };
	struct netkeys other;
	uint8_t other_key[APAGON_KEY];
	uint8_t one = 'x';
	int n;

	for (int i = 0; i < S_NSEEDS; i++)
		put(h, seeds[i].name, seeds[i].buf, (size_t)seeds[i].len);

	memcpy(buf, seeds[S_MSG].buf, (size_t)seeds[S_MSG].len);
	buf[0] = 5;                                     /* relayed five times */
	put(h, "msg-hops5", buf, (size_t)seeds[S_MSG].len);

	buf[0] = 0;
	buf[3] ^= 0xc0;                                 /* version 2 */
	put(h, "msg-version2", buf, (size_t)seeds[S_MSG].len);

	memcpy(buf, seeds[S_MSG].buf, (size_t)seeds[S_MSG].len);
	buf[seeds[S_MSG].len - 1] ^= 1;                 /* bad signature */
	put(h, "msg-badsig", buf, (size_t)seeds[S_MSG].len);

	put(h, "msg-truncated", seeds[S_MSG].buf, APAGON_BUNDLE_MIN - 1);
	put(h, "zeros-min", zero, sizeof zero);
	put(h, "empty", NULL, 0);

	n = sealed_bundle(buf, BUNDLE_MSG, PREC_ROUTINE, NULL, 0, &K->nk);
	put(h, "msg-empty-text", buf, (size_t)n);       /* body 16 bytes: too short */

	n = clear_bundle(buf, BUNDLE_PREKEY, &one, 1, K->member_pk, K->member_sk, &K->nk);
	put(h, "prekey-1byte-body", buf, (size_t)n);

	fuzz_seed(other_key, "some other network");
	netkeys_derive(&other, K->authority_pk, other_key);
	n = sealed_bundle(buf, BUNDLE_MSG, PREC_ROUTINE, (const uint8_t *)"hi", 2, &other);
	put(h, "msg-other-network", buf, (size_t)n);
}

/* ---- certificates ---- */

static void
gen_cert(void)
{
	const char *h = "fuzz_cert";
	uint8_t buf[APAGON_CHAIN_MAX + 8] = { 0 };
	struct chain ch;
	struct cert c;
	char name[APAGON_NAME_MAX + 1];
	int n;

	n = cert_encode(buf, sizeof buf, &ch_member.c[0]);
	put(h, "cert-member", buf, (size_t)n);
	n = cert_encode(buf, sizeof buf, &ch_enroller.c[0]);
	put(h, "cert-enroller", buf, (size_t)n);

	put(h, "chain-member", buf, (size_t)encode_chain(buf, &ch_member));
	put(h, "chain-enroller", buf, (size_t)encode_chain(buf, &ch_enroller));
	put(h, "chain-enrolled", buf, (size_t)encode_chain(buf, &ch_enrolled));
	put(h, "chain-utf8", buf, (size_t)encode_chain(buf, &ch_peer));

	ch = ch_member;                                 /* expired at FUZZ_NOW */
	make_cert(&ch.c[0], ROLE_MEMBER, K->member_pk, K->authority_pk, K->authority_sk,
	    NB - YEAR, NB, "alice", "");
	put(h, "chain-expired", buf, (size_t)encode_chain(buf, &ch));

	memset(name, 'n', APAGON_NAME_MAX);             /* longest name and unit */
	name[APAGON_NAME_MAX] = '\0';
	make_cert(&ch.c[0], ROLE_MEMBER, K->member_pk, K->authority_pk, K->authority_sk,
	    NB, NA, name, name);
	put(h, "chain-name64", buf, (size_t)encode_chain(buf, &ch));

	ch = ch_enrolled;                               /* member outlives its enroller */
	make_cert(&ch.c[1], ROLE_MEMBER, K->member_pk, K->enroller_pk, K->enroller_sk,
	    NB, NA + 2 * YEAR, "alice", FUZZ_UNIT);
	put(h, "chain-outlives-enroller", buf, (size_t)encode_chain(buf, &ch));

	ch = ch_enrolled;                               /* enroller outside its unit */
	make_cert(&ch.c[1], ROLE_MEMBER, K->member_pk, K->enroller_pk, K->enroller_sk,
	    NB, NA, "alice", "south");
	put(h, "chain-wrong-unit", buf, (size_t)encode_chain(buf, &ch));

	ch = ch_member;                                 /* a key that the callback revokes */
	for (;;) {
		uint8_t pk[APAGON_SIGN_PK], sk[APAGON_SIGN_SK];

		crypto_sign_keygen(pk, sk);
		if (pk[0] == 0xff) {
			make_cert(&ch.c[0], ROLE_MEMBER, pk, K->authority_pk, K->authority_sk,
			    NB, NA, "revoked", "");
			break;
		}
	}
	put(h, "chain-revoked", buf, (size_t)encode_chain(buf, &ch));

	n = encode_chain(buf, &ch_member);
	buf[n - 1] ^= 0x40;                             /* bad signature */
	put(h, "chain-badsig", buf, (size_t)n);

	n = encode_chain(buf, &ch_member);
	put(h, "chain-truncated", buf, (size_t)n - 10);
	buf[n] = 0;                                     /* trailing byte */
	put(h, "chain-trailing", buf, (size_t)n + 1);

	n = encode_chain(buf, &ch_enrolled);
	buf[0] = 3;                                     /* count 3 */
	put(h, "chain-count3", buf, (size_t)n);
	buf[0] = 0;
	put(h, "chain-count0", buf, (size_t)n);

	n = encode_chain(buf, &ch_member);
	buf[1] = 0xff;                                  /* cert length 0xff.. */
	put(h, "chain-oversized-length", buf, (size_t)n);

	c = ch_member.c[0];                             /* name "al\0ce": non-canonical */
	ch.n = 1;
	ch.c[0] = c;
	n = encode_chain(buf, &ch);
	must(memcmp(buf + 3 + 75, "alice", 5) == 0, "name offset");
	buf[3 + 75 + 2] = 0;
	put(h, "chain-nul-in-name", buf, (size_t)n);

	put(h, "empty", NULL, 0);
}

/* ---- revocations, prekeys, receipts ---- */

static void
gen_revocation(void)
{
	const char *h = "fuzz_revocation";
	uint8_t buf[1 + 33 * APAGON_HASH] = { 0 };
	uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
	struct revocation r;
	int n;

	n = revocation_encode(buf, sizeof buf, &revoke_enroller);
	put(h, "revocation", buf, (size_t)n);
	r = revoke_enroller;
	r.reason[0] = '\0';
	n = revocation_encode(buf, sizeof buf, &r);
	put(h, "revocation-no-reason", buf, (size_t)n);
	memset(r.reason, 'r', APAGON_NAME_MAX);
	r.reason[APAGON_NAME_MAX] = '\0';
	n = revocation_encode(buf, sizeof buf, &r);
	put(h, "revocation-reason64", buf, (size_t)n);
	buf[36] = APAGON_NAME_MAX + 1;                  /* length over the limit */
	put(h, "revocation-reason65", buf, (size_t)n);
	snprintf(r.reason, sizeof r.reason, "clé perdue — 鍵");
	n = revocation_encode(buf, sizeof buf, &r);
	put(h, "revocation-utf8", buf, (size_t)n);
	buf[37] = 0xc0;                                 /* invalid UTF-8 lead byte */
	put(h, "revocation-bad-utf8", buf, (size_t)n);
	buf[37] = 0x01;                                 /* control character */
	put(h, "revocation-control", buf, (size_t)n);

	n = prekey_encode(buf, &member_prekey);
	put(h, "prekey", buf, (size_t)n);
	put(h, "prekey-short", buf, (size_t)n - 1);

	randombytes_buf(ids, sizeof ids);
	n = receipt_encode(buf, sizeof buf, (const uint8_t (*)[APAGON_HASH])ids, 1);
	put(h, "receipt-1", buf, (size_t)n);
	n = receipt_encode(buf, sizeof buf, (const uint8_t (*)[APAGON_HASH])ids, 32);
	put(h, "receipt-32", buf, (size_t)n);
	buf[0] = 33;                                    /* one ID too many */
	memcpy(buf + n, ids[0], APAGON_HASH);
	put(h, "receipt-33", buf, (size_t)n + APAGON_HASH);
	buf[0] = 0;
	put(h, "receipt-0", buf, 1);
	buf[0] = 2;
	put(h, "receipt-cut", buf, 1 + APAGON_HASH + 7);

	put(h, "empty", NULL, 0);
}

/* ---- enrollment requests and files ---- */

static void
gen_enrollment(void)
{
	const char *h = "fuzz_enrollment";
	uint8_t buf[APAGON_ENROLLMENT_MAX + 8] = { 0 };
	struct enroll_request rq;
	struct enrollment e;
	int n;

	memset(&rq, 0, sizeof rq);
	memcpy(rq.pk, K->member_pk, APAGON_SIGN_PK);
	snprintf(rq.name, sizeof rq.name, "alice");
	n = request_encode(buf, sizeof buf, &rq, K->member_sk);
	must(n > 0, "request_encode");
	put(h, "request", buf, (size_t)n);
	buf[n - 5] ^= 0x10;
	put(h, "request-badsig", buf, (size_t)n);
	put(h, "request-truncated", buf, (size_t)n - 1);

	memcpy(rq.pk, K->peer_pk, APAGON_SIGN_PK);
	snprintf(rq.name, sizeof rq.name, "Zoë Ødegård 東京");
	n = request_encode(buf, sizeof buf, &rq, K->peer_sk);
	must(n > 0, "request_encode utf8");
	put(h, "request-utf8", buf, (size_t)n);

	memset(&e, 0, sizeof e);
	snprintf(e.net.name, sizeof e.net.name, "fuzz relief net");
	memcpy(e.net.authority_pk, K->authority_pk, APAGON_SIGN_PK);
	memcpy(e.net.network_key, K->network_key, APAGON_KEY);
	e.chain = ch_member;
	n = enrollment_encode(buf, sizeof buf, &e);
	must(n > 0, "enrollment_encode");
	put(h, "enrollment-member", buf, (size_t)n);
	put(h, "enrollment-truncated", buf, (size_t)n - 3);
	buf[n] = 0;
	put(h, "enrollment-trailing", buf, (size_t)n + 1);

	e.chain = ch_enrolled;
	n = enrollment_encode(buf, sizeof buf, &e);
	must(n > 0, "enrollment_encode enrolled");
	put(h, "enrollment-enrolled", buf, (size_t)n);
	buf[4] = 2;
	put(h, "enrollment-version2", buf, (size_t)n);
	buf[4] = 1;
	buf[5] = 0;                                     /* empty network name */
	put(h, "enrollment-empty-name", buf, (size_t)n);

	e.chain = ch_member;
	snprintf(e.net.name, sizeof e.net.name, "net");
	n = enrollment_encode(buf, sizeof buf, &e);
	buf[7] = 0;                                     /* "ne\0": non-canonical */
	put(h, "enrollment-nul-in-name", buf, (size_t)n);

	bundlefile_header(buf);
	put(h, "bundles-header", buf, APAGON_BUNDLEFILE_HDR);
	put(h, "unknown-magic", (const uint8_t *)"APGX\001", 5);
	put(h, "short", (const uint8_t *)"APG", 3);
	put(h, "empty", NULL, 0);
}

/* ---- bundle files ---- */

static size_t
append(uint8_t *file, size_t off, const uint8_t *b, size_t len)
{
	file[off] = (uint8_t)(len >> 8);
	file[off + 1] = (uint8_t)len;
	if (len)
		memcpy(file + off + 2, b, len);
	return off + 2 + len;
}

static void
gen_bundlefile(void)
{
	const char *h = "fuzz_bundlefile";
	static uint8_t file[8192];
	uint8_t junk[10];
	size_t off = APAGON_BUNDLEFILE_HDR, cut;

	bundlefile_header(file);
	put(h, "header-only", file, off);

	off = append(file, off, seeds[S_CERT].buf, (size_t)seeds[S_CERT].len);
	off = append(file, off, seeds[S_PREKEY].buf, (size_t)seeds[S_PREKEY].len);
	off = append(file, off, seeds[S_MSG].buf, (size_t)seeds[S_MSG].len);
	put(h, "export-3", file, off);
	off = append(file, off, seeds[S_REVOKE].buf, (size_t)seeds[S_REVOKE].len);
	off = append(file, off, seeds[S_RECEIPT].buf, (size_t)seeds[S_RECEIPT].len);
	off = append(file, off, seeds[S_CERT2].buf, (size_t)seeds[S_CERT2].len);
	put(h, "export-6", file, off);
	put(h, "export-cut-in-record", file, off - 20);
	cut = APAGON_BUNDLEFILE_HDR + 2 + (size_t)seeds[S_CERT].len + 1;
	put(h, "export-cut-in-length", file, cut);

	off = APAGON_BUNDLEFILE_HDR;
	off = append(file, off, seeds[S_REVOKE].buf, (size_t)seeds[S_REVOKE].len);
	off = append(file, off, NULL, 0);               /* empty record */
	randombytes_buf(junk, sizeof junk);
	off = append(file, off, junk, sizeof junk);     /* not a bundle */
	put(h, "revocation-and-junk", file, off);

	off = APAGON_BUNDLEFILE_HDR;
	file[off] = 0xff;                               /* 65535 bytes promised */
	file[off + 1] = 0xff;
	memcpy(file + off + 2, seeds[S_MSG].buf, 40);
	put(h, "oversized-length", file, off + 42);

	memcpy(file, "APGB\002", 5);
	put(h, "version2", file, 5);
	memcpy(file, "APGQ\001", 5);
	put(h, "request-magic", file, 5);
	put(h, "empty", NULL, 0);
}

/* ---- key files ---- */

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A sealed key file with the cheapest Argon2id limits, written by hand. */
static size_t
sealed_min(uint8_t *out, const uint8_t *secret, size_t slen, const char *pass)
{
	uint8_t key[crypto_secretbox_KEYBYTES];

	memset(out, 0, 64);
	memcpy(out, "APGK", 4);
	out[4] = 1;
	out[5] = KEYFILE_INTERACTIVE;
	out[6] = (uint8_t)(slen >> 8);
	out[7] = (uint8_t)slen;
	randombytes_buf(out + 8, 16);
	put_be64(out + 24, crypto_pwhash_OPSLIMIT_MIN);
	put_be64(out + 32, crypto_pwhash_MEMLIMIT_MIN);
	randombytes_buf(out + 40, crypto_secretbox_NONCEBYTES);
	must(crypto_pwhash(key, sizeof key, pass, strlen(pass), out + 8,
	    crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN,
	    crypto_pwhash_ALG_ARGON2ID13) == 0, "crypto_pwhash");
	crypto_secretbox_easy(out + 64, secret, slen, out + 40, key);
	return 64 + slen + crypto_secretbox_MACBYTES;
}

static void
gen_keyfile(void)
{
	const char *h = "fuzz_keyfile";
	uint8_t buf[APAGON_KEYFILE_MAX] = { 0 }, secret[128];
	size_t n;

	must(crypto_keyfile_seal(buf, &n, K->member_sk, APAGON_SIGN_SK, NULL, KEYFILE_NONE) == 0,
	    "keyfile_seal");
	put(h, "clear-64", buf, n);
	put(h, "clear-truncated", buf, n - 1);
	buf[n] = 0;
	put(h, "clear-trailing", buf, n + 1);
	buf[6] = 0;
	buf[7] = 0;
	put(h, "clear-len0", buf, 64);
	buf[7] = 129;
	put(h, "clear-len129", buf, 64 + 129);
	buf[7] = 64;
	buf[5] = 3;
	put(h, "strength3", buf, n);
	buf[5] = 0;
	buf[4] = 2;
	put(h, "version2", buf, n);

	randombytes_buf(secret, sizeof secret);
	must(crypto_keyfile_seal(buf, &n, secret, sizeof secret, NULL, KEYFILE_NONE) == 0,
	    "keyfile_seal 128");
	put(h, "clear-128", buf, n);
	must(crypto_keyfile_seal(buf, &n, secret, 32, NULL, KEYFILE_NONE) == 0, "keyfile_seal 32");
	put(h, "clear-32", buf, n);

	n = sealed_min(buf, K->member_sk, APAGON_SIGN_SK, FUZZ_PASSPHRASE);
	put(h, "sealed-min", buf, n);
	buf[5] = KEYFILE_MODERATE;
	put(h, "sealed-min-moderate", buf, n);          /* strength byte is only advisory */
	buf[5] = KEYFILE_INTERACTIVE;
	buf[70] ^= 1;
	put(h, "sealed-min-tampered", buf, n);
	n = sealed_min(buf, secret, 32, "not the passphrase");
	put(h, "sealed-min-wrong-pass", buf, n);
	put_be64(buf + 24, 0);                          /* opslimit 0: refused */
	put(h, "sealed-ops0", buf, n);
	put_be64(buf + 24, crypto_pwhash_OPSLIMIT_MIN);
	put_be64(buf + 32, UINT64_MAX);                 /* memlimit absurd: refused */
	put(h, "sealed-mem-huge", buf, n);
	put(h, "header-only", buf, 64);
	put(h, "empty", NULL, 0);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		root = argv[1];
	must(test_rng_use("apagon fuzz corpus rng key v1...") == 0, "randombytes_set_implementation");
	K = fuzz_keys();                /* runs crypto_init, after the RNG is replaced */
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		perror(root);
		return 1;
	}
	make_chains();
	make_bundles();
	gen_bundle();
	gen_cert();
	gen_revocation();
	gen_enrollment();
	gen_bundlefile();
	gen_keyfile();
	printf("gen_corpus: wrote %d files under %s\n", written, root);
	return 0;
}
