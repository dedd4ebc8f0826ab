/*
 * Harness: cert_decode and chain_decode on the whole input, then chain_verify against
 * the fixed authority (it must not crash whatever it is given).
 *
 * Round trip: whatever decodes is encoded again. That encoding must decode to the same
 * structure and encode to the same bytes (idempotence), always. It must also equal the
 * input, unless the input carries a name or unit with an embedded NUL, which the
 * decoders accept and the encoder cannot reproduce (a known laxity, see
 * tests/fuzz/README.md); with -DFUZZ_STRICT_CANONICAL even that aborts.
 */
#include "fuzz.h"

/* Bytes n of name/unit fields as the input wrote them, for the NUL exception. */
static int
cert_has_nul_name(const uint8_t *p, size_t len)
{
	size_t off = 74, n;

	for (int f = 0; f < 2; f++) {
		if (off >= len)
			return 0;
		n = p[off];
		if (off + 1 + n > len)
			return 0;
		if (memchr(p + off + 1, 0, n))
			return 1;
		off += 1 + n;
	}
	return 0;
}

static int
chain_has_nul_name(const uint8_t *p, size_t len)
{
	size_t off = 1;

	if (len < 1)
		return 0;
	for (int i = 0; i < p[0] && i < 2; i++) {
		size_t n;

		if (off + 2 > len)
			return 0;
		n = (size_t)p[off] << 8 | p[off + 1];
		off += 2;
		if (off + n > len)
			return 0;
		if (cert_has_nul_name(p + off, n))
			return 1;
		off += n;
	}
	return 0;
}

/* Field by field: bytes after a name's NUL are not part of the certificate. */
static int
cert_eq(const struct cert *a, const struct cert *b)
{
	return a->role == b->role && memcmp(a->subject, b->subject, APAGON_SIGN_PK) == 0 &&
	    memcmp(a->issuer, b->issuer, APAGON_SIGN_PK) == 0 &&
	    a->not_before == b->not_before && a->not_after == b->not_after &&
	    strcmp(a->name, b->name) == 0 && strcmp(a->unit, b->unit) == 0 &&
	    memcmp(a->sig, b->sig, APAGON_SIG) == 0;
}

static int
canonical_exception(int has_nul)
{
#ifdef FUZZ_STRICT_CANONICAL
	(void)has_nul;
	return 0;
#else
	return has_nul;
#endif
}

static void
check_cert(const struct cert *c, const uint8_t *data, size_t size)
{
	uint8_t out[APAGON_CERT_MAX], again[APAGON_CERT_MAX];
	struct cert c2;
	int n, m;

	FUZZ_CHECK(c->role <= ROLE_ENROLLER);
	FUZZ_CHECK(c->not_before <= c->not_after);
	FUZZ_CHECK(name_valid(c->name, APAGON_NAME_MAX, 0));
	FUZZ_CHECK(name_valid(c->unit, APAGON_NAME_MAX, 1));
	n = cert_encode(out, sizeof out, c);
	FUZZ_CHECK(n > 0 && (size_t)n <= size);
	FUZZ_CHECK(cert_decode(&c2, out, (size_t)n) == MESH_OK);
	FUZZ_CHECK(cert_eq(c, &c2));
	m = cert_encode(again, sizeof again, &c2);
	FUZZ_CHECK(m == n && memcmp(out, again, (size_t)n) == 0);
	if (!canonical_exception(cert_has_nul_name(data, size)))
		FUZZ_CHECK((size_t)n == size && memcmp(out, data, size) == 0);
}

static void
check_chain(const struct chain *ch, const uint8_t *data, size_t size,
    const struct fuzz_keys *k)
{
	uint8_t out[APAGON_CHAIN_MAX], again[APAGON_CHAIN_MAX];
	struct chain ch2;
	int n, m, rc;

	FUZZ_CHECK(ch->n == 1 || ch->n == 2);
	n = chain_encode(out, sizeof out, ch);
	FUZZ_CHECK(n > 0 && (size_t)n <= size);
	FUZZ_CHECK(chain_decode(&ch2, out, (size_t)n) == MESH_OK);
	FUZZ_CHECK(ch2.n == ch->n);
	for (int i = 0; i < ch->n; i++)
		FUZZ_CHECK(cert_eq(&ch->c[i], &ch2.c[i]));
	m = chain_encode(again, sizeof again, &ch2);
	FUZZ_CHECK(m == n && memcmp(out, again, (size_t)n) == 0);
	if (!canonical_exception(chain_has_nul_name(data, size)))
		FUZZ_CHECK((size_t)n == size && memcmp(out, data, size) == 0);

	rc = chain_verify(ch, k->nk.network_id, k->authority_pk, FUZZ_NOW, FUZZ_SKEW,
	    fuzz_revoked, NULL);
	FUZZ_CHECK(rc == MESH_OK || rc == MESH_ECHAIN || rc == MESH_EEXPIRED ||
	    rc == MESH_EREVOKED);
	/* Verifying is pure: the same answer twice, with or without the callback. */
	FUZZ_CHECK(chain_verify(ch, k->nk.network_id, k->authority_pk, FUZZ_NOW, FUZZ_SKEW,
	    fuzz_revoked, NULL) == rc);
	rc = chain_verify(ch, k->nk.network_id, k->authority_pk, FUZZ_NOW, FUZZ_SKEW, NULL, NULL);
	FUZZ_CHECK(rc != MESH_EREVOKED);
	/* Any time at all, with the widest skew: must not overflow. */
	(void)chain_verify(ch, k->nk.network_id, k->authority_pk, UINT32_MAX, UINT32_MAX,
	    NULL, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_keys *k = fuzz_keys();
	struct cert c;
	struct chain ch;
	int rc;

	rc = cert_decode(&c, data, size);
	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	if (rc == MESH_OK)
		check_cert(&c, data, size);

	rc = chain_decode(&ch, data, size);
	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	if (rc == MESH_OK)
		check_chain(&ch, data, size, k);
	return 0;
}
