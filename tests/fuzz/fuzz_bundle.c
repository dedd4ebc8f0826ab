/*
 * Harness: bundle_decode, the first thing every received byte string goes through, then
 * what a node does with a bundle that decodes: bundle_verify, the clear bodies
 * (chain_decode, prekey_decode, revocation_decode) and, for sealed types, bundle_open and
 * receipt_decode with the fixed peer's prekey.
 *
 * Each input is decoded twice: as is, and with its network tag recomputed
 * (fuzz_fix_tag), so mutations of the created time or salt still reach the masked
 * header fields. Invariants checked (abort on violation):
 *   - the body lies inside the input: body == data + 27, body_len == len - 91;
 *   - type, precedence, lifetime and the body length are within the protocol's limits;
 *   - the unmasked signed header agrees with the decoded fields;
 *   - a bundle that verifies under a fixed key is rebuilt, byte for byte (hops aside),
 *     by bundle_build_public / bundle_build_sealed: Ed25519 and the message key are
 *     deterministic, so any difference is a decode/encode mismatch.
 */
#include "fuzz.h"

/* The fixed key that signed it, or NULL: seeds are signed by member or authority. */
static const uint8_t *
signer(const struct bundle *b, const struct fuzz_keys *k)
{
	if (bundle_verify(b, &k->nk, k->member_pk) == MESH_OK)
		return k->member_sk;
	if (bundle_verify(b, &k->nk, k->authority_pk) == MESH_OK)
		return k->authority_sk;
	return NULL;
}

static void
check_rebuild(const struct bundle *b, const uint8_t *data, size_t size, const uint8_t *m,
    size_t mlen, const struct seal_keys *sk, const uint8_t *sender_sk, const struct fuzz_keys *k)
{
	uint8_t *out = malloc(size);
	int n;

	if (!out)
		abort();
	if (m && b->h.type == BUNDLE_RECEIPT) {
		uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
		int count = bundle_receipt_ids(b, ids, APAGON_RECEIPT_MAX_IDS);
		uint32_t at;

		FUZZ_CHECK(count >= 1 && mlen == 4);
		at = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
		n = bundle_build_receipt(out, size, &b->h, (const uint8_t (*)[APAGON_HASH])ids, count,
		    at, sk, &k->nk, sender_sk);
	} else if (m)
		n = bundle_build_sealed(out, size, &b->h, m, mlen, sk, &k->nk, sender_sk);
	else
		n = bundle_build_public(out, size, &b->h, b->pub, b->pub_len, &k->nk, sender_sk);
	FUZZ_CHECK(n == (int)size);
	FUZZ_CHECK(out[0] == 0);
	FUZZ_CHECK(memcmp(out + 1, data + 1, size - 1) == 0);
	free(out);
}

static void
check_sealed(const struct bundle *b, const uint8_t *data, size_t size,
    const uint8_t *sender_sk, const struct fuzz_keys *k)
{
	/* The peer opens what the member sealed to it. */
	struct seal_keys open = {
		.sender_pk = k->member_pk,
		.recipient_pk = k->peer_pk,
		.my_prekey_sk = k->peer_prekey_sk,
		.sender_prekey_pk = k->member_prekey_pk,
		.recipient_prekey_pk = k->peer_prekey_pk,
	};
	struct seal_keys seal = open;
	size_t mlen = bundle_plain_len(b);
	uint8_t *m = malloc(mlen ? mlen : 1);

	if (!m)
		abort();
	if (bundle_open(m, b, &open, &k->nk) == MESH_OK) {
		if (b->h.type == BUNDLE_RECEIPT) {
			uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
			int n = bundle_receipt_ids(b, ids, APAGON_RECEIPT_MAX_IDS);

			/* decode guaranteed the shape: 1..32 clear IDs, 4 sealed bytes */
			FUZZ_CHECK(n >= 1 && n <= APAGON_RECEIPT_MAX_IDS && mlen == 4);
		}
		if (sender_sk == k->member_sk) {
			seal.my_prekey_sk = k->member_prekey_sk;
			check_rebuild(b, data, size, m, mlen, &seal, sender_sk, k);
		}
	}
	free(m);
}

static void
check_clear(const struct bundle *b, const uint8_t *data, size_t size,
    const uint8_t *sender_sk, const struct fuzz_keys *k)
{
	struct chain ch;
	struct prekey_rec pr;
	struct revocation rv;
	int rc;

	switch (b->h.type) {
	case BUNDLE_CERT:
		if (chain_decode(&ch, b->pub, b->pub_len) == MESH_OK) {
			FUZZ_CHECK(ch.n == 1 || ch.n == 2);
			rc = chain_verify(&ch, k->nk.network_id, k->nk.authority_pk, FUZZ_NOW,
			    FUZZ_SKEW, fuzz_revoked, NULL);
			FUZZ_CHECK(rc == MESH_OK || rc == MESH_ECHAIN || rc == MESH_EEXPIRED ||
			    rc == MESH_EREVOKED);
			/* A CERT bundle is signed by its own leaf. */
			(void)bundle_verify(b, &k->nk, ch.c[ch.n - 1].subject);
		}
		break;
	case BUNDLE_PREKEY:
		rc = prekey_decode(&pr, b->pub, b->pub_len);
		FUZZ_CHECK((rc == MESH_OK) == (b->pub_len == APAGON_PREKEY_REC));
		break;
	case BUNDLE_REVOKE:
		if (revocation_decode(&rv, b->pub, b->pub_len) == MESH_OK)
			FUZZ_CHECK(strlen(rv.reason) <= APAGON_NAME_MAX);
		break;
	default:
		break;
	}
	if (sender_sk)
		check_rebuild(b, data, size, NULL, 0, NULL, sender_sk, k);
}

static int
one(const uint8_t *data, size_t size, const struct fuzz_keys *k)
{
	struct bundle b;
	const uint8_t *sender_sk;
	int rc = bundle_decode(&b, data, size, &k->nk);

	FUZZ_CHECK(rc == MESH_OK || rc == MESH_ESIZE || rc == MESH_EDECODE ||
	    rc == MESH_ENETWORK);
	if (size < APAGON_BUNDLE_MIN || size > APAGON_MAX_BUNDLE)
		FUZZ_CHECK(rc == MESH_ESIZE);
	if (rc != MESH_OK)
		return rc;

	FUZZ_CHECK(b.body == data + APAGON_BUNDLE_HDR);
	FUZZ_CHECK(b.body_len == size - APAGON_BUNDLE_MIN);
	FUZZ_CHECK(b.body + b.body_len + APAGON_SIG == data + size);
	FUZZ_CHECK(memcmp(b.sig, data + size - APAGON_SIG, APAGON_SIG) == 0);
	FUZZ_CHECK(b.hops == data[0]);
	FUZZ_CHECK(b.h.type <= BUNDLE_TYPE_MAX);
	FUZZ_CHECK(b.h.precedence <= PREC_FLASH);
	FUZZ_CHECK((b.h.lifetime & 0x3f) != 0);
	FUZZ_CHECK(b.signed_hdr[2] ==
	    (APAGON_BUNDLE_VERSION << 6 | b.h.precedence << 4 | b.h.type));
	FUZZ_CHECK(memcmp(b.signed_hdr, data + 1, 2) == 0);         /* tag: not masked */
	FUZZ_CHECK(memcmp(b.signed_hdr + 17, data + 18, 9) == 0);   /* created..salt */
	FUZZ_CHECK(b.body_len >= APAGON_TAG + 1);
	if (!bundle_type_sealed(b.h.type))     /* public: the record opened */
		FUZZ_CHECK(b.pub_len == b.body_len - APAGON_TAG);
	(void)lifetime_seconds(b.h.lifetime);
	(void)bundle_type_name(b.h.type);
	(void)precedence_name(b.h.precedence);

	sender_sk = signer(&b, k);
	if (bundle_type_sealed(b.h.type))
		check_sealed(&b, data, size, sender_sk, k);
	else
		check_clear(&b, data, size, sender_sk, k);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_keys *k = fuzz_keys();
	uint8_t *fixed;

	if (one(data, size, k) != MESH_ENETWORK)
		return 0;
	/* Second chance with the right tag, to reach the masked fields. */
	fixed = fuzz_dup(data, size);
	fuzz_fix_tag(fixed, size, &k->nk);
	FUZZ_CHECK(one(fixed, size, k) != MESH_ENETWORK);
	free(fixed);
	return 0;
}
