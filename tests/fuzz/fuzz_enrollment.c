/*
 * Harness: the files that travel by hand. file_detect, then request_decode and
 * enrollment_decode on the whole input whatever the magic says (each must refuse the
 * others' files on its own).
 *
 *   - file_detect agrees with the magic and version bytes;
 *   - a request that decodes (self-signature checked) has a valid name and its fields
 *     sit where the layout puts them;
 *   - an enrollment that decodes is encoded again with enrollment_encode: the encoding
 *     decodes to the same thing and re-encodes to the same bytes, and equals the input
 *     unless a name has an embedded NUL (known laxity, -DFUZZ_STRICT_CANONICAL aborts);
 *     its chain is then checked with chain_verify under the network it names.
 */
#include "fuzz.h"

static void
check_detect(const uint8_t *data, size_t size)
{
	enum file_kind kind = file_detect(data, size);
	enum file_kind want = FILE_UNKNOWN;

	if (size >= 5 && data[4] == 1) {
		if (memcmp(data, "APGQ", 4) == 0)
			want = FILE_REQUEST;
		else if (memcmp(data, "APGE", 4) == 0)
			want = FILE_ENROLLMENT;
		else if (memcmp(data, "APGB", 4) == 0)
			want = FILE_BUNDLES;
	}
	FUZZ_CHECK(kind == want);
}

static void
check_request(const uint8_t *data, size_t size)
{
	struct enroll_request r;
	int rc = request_decode(&r, data, size);

	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE || rc == MESH_ESIGNATURE);
	if (rc == MESH_EDECODE)
		return;
	FUZZ_CHECK(file_detect(data, size) == FILE_REQUEST);
	FUZZ_CHECK(size >= 38 && size == 5 + 32 + 1 + (size_t)data[37] + APAGON_SIG);
	FUZZ_CHECK(memcmp(r.pk, data + 5, APAGON_SIGN_PK) == 0);
	FUZZ_CHECK(memcmp(r.sig, data + size - APAGON_SIG, APAGON_SIG) == 0);
	FUZZ_CHECK(name_valid(r.name, APAGON_NAME_MAX, 0));
}

static int
name_has_nul(const uint8_t *p, size_t len, size_t off)
{
	return off < len && off + 1 + p[off] <= len && memchr(p + off + 1, 0, p[off]) != NULL;
}

/* 1 if the enrollment's network name or a certificate name/unit has a NUL in it. */
static int
enrollment_has_nul(const uint8_t *p, size_t len)
{
	size_t off;

	if (name_has_nul(p, len, 5))
		return 1;
	off = 5 + 1 + (size_t)p[5] + 64;        /* the chain */
	if (off >= len)
		return 0;
	off++;
	for (int i = 0; i < p[off - 1] && i < 2; i++) {
		size_t n, c;

		if (off + 2 > len)
			return 0;
		n = (size_t)p[off] << 8 | p[off + 1];
		c = off + 2;
		if (c + n > len)
			return 0;
		if (name_has_nul(p, c + n, c + 74))
			return 1;
		if (c + 74 < c + n && name_has_nul(p, c + n, c + 75 + p[c + 74]))
			return 1;
		off = c + n;
	}
	return 0;
}

static int
cert_eq(const struct cert *a, const struct cert *b)
{
	return a->role == b->role && memcmp(a->subject, b->subject, APAGON_SIGN_PK) == 0 &&
	    memcmp(a->issuer, b->issuer, APAGON_SIGN_PK) == 0 &&
	    a->not_before == b->not_before && a->not_after == b->not_after &&
	    strcmp(a->name, b->name) == 0 && strcmp(a->unit, b->unit) == 0 &&
	    memcmp(a->sig, b->sig, APAGON_SIG) == 0;
}

static void
check_enrollment(const uint8_t *data, size_t size)
{
	struct enrollment e, e2;
	struct netkeys nk;
	uint8_t out[APAGON_ENROLLMENT_MAX], again[APAGON_ENROLLMENT_MAX];
	int rc = enrollment_decode(&e, data, size), n, m, has_nul;

	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	if (rc != MESH_OK)
		return;
	FUZZ_CHECK(file_detect(data, size) == FILE_ENROLLMENT);
	FUZZ_CHECK(name_valid(e.net.name, APAGON_NAME_MAX, 0));
	FUZZ_CHECK(e.chain.n == 1 || e.chain.n == 2);

	n = enrollment_encode(out, sizeof out, &e);
	FUZZ_CHECK(n > 0 && (size_t)n <= size);
	FUZZ_CHECK(enrollment_decode(&e2, out, (size_t)n) == MESH_OK);
	FUZZ_CHECK(strcmp(e.net.name, e2.net.name) == 0);
	FUZZ_CHECK(memcmp(e.net.authority_pk, e2.net.authority_pk, APAGON_SIGN_PK) == 0);
	FUZZ_CHECK(memcmp(e.net.network_key, e2.net.network_key, APAGON_KEY) == 0);
	FUZZ_CHECK(e.chain.n == e2.chain.n);
	for (int i = 0; i < e.chain.n; i++)
		FUZZ_CHECK(cert_eq(&e.chain.c[i], &e2.chain.c[i]));
	m = enrollment_encode(again, sizeof again, &e2);
	FUZZ_CHECK(m == n && memcmp(out, again, (size_t)n) == 0);
	has_nul = enrollment_has_nul(data, size);
#ifdef FUZZ_STRICT_CANONICAL
	has_nul = 0;
#endif
	if (!has_nul)
		FUZZ_CHECK((size_t)n == size && memcmp(out, data, size) == 0);

	/* What `apagon join` does next: derive the network and check the chain. */
	netkeys_derive(&nk, e.net.authority_pk, e.net.network_key);
	rc = chain_verify(&e.chain, nk.network_id, nk.authority_pk, FUZZ_NOW, FUZZ_SKEW,
	    fuzz_revoked, NULL);
	FUZZ_CHECK(rc == MESH_OK || rc == MESH_ECHAIN || rc == MESH_EEXPIRED ||
	    rc == MESH_EREVOKED);
	netkeys_wipe(&nk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_keys();
	check_detect(data, size);
	check_request(data, size);
	check_enrollment(data, size);
	return 0;
}
