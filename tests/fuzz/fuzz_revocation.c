/*
 * Harness: the small fixed records, each decoded from the whole input and, when it
 * decodes, encoded again:
 *   revocation_decode   must round-trip byte for byte, unless the reason has an
 *                       embedded NUL (a known laxity; -DFUZZ_STRICT_CANONICAL aborts);
 *   prekey_decode       exactly 40 bytes, always byte for byte;
 *   receipt_decode      1..32 IDs, always byte for byte, and never more than `max`.
 */
#include "fuzz.h"

static void
check_revocation(const uint8_t *data, size_t size)
{
	struct revocation r, r2;
	uint8_t out[APAGON_REVOCATION_MAX];
	int rc = revocation_decode(&r, data, size), n;
	int has_nul;

	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	if (rc != MESH_OK)
		return;
	FUZZ_CHECK(size >= 37 && size == 37 + (size_t)data[36]);
	FUZZ_CHECK(name_valid(r.reason, APAGON_NAME_MAX, 1));
	n = revocation_encode(out, sizeof out, &r);
	FUZZ_CHECK(n > 0 && (size_t)n <= size);
	FUZZ_CHECK(revocation_decode(&r2, out, (size_t)n) == MESH_OK);
	FUZZ_CHECK(memcmp(r.subject, r2.subject, APAGON_SIGN_PK) == 0);
	FUZZ_CHECK(r.revoked_at == r2.revoked_at && strcmp(r.reason, r2.reason) == 0);
	has_nul = memchr(data + 37, 0, data[36]) != NULL;
#ifdef FUZZ_STRICT_CANONICAL
	has_nul = 0;
#endif
	if (!has_nul)
		FUZZ_CHECK((size_t)n == size && memcmp(out, data, size) == 0);
}

static void
check_prekey(const uint8_t *data, size_t size)
{
	struct prekey_rec p;
	uint8_t out[APAGON_PREKEY_REC];
	int rc = prekey_decode(&p, data, size);

	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	FUZZ_CHECK((rc == MESH_OK) == (size == APAGON_PREKEY_REC));
	if (rc != MESH_OK)
		return;
	FUZZ_CHECK(prekey_encode(out, &p) == APAGON_PREKEY_REC);
	FUZZ_CHECK(memcmp(out, data, APAGON_PREKEY_REC) == 0);
}

static void
check_receipt(const uint8_t *data, size_t size)
{
	uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
	uint8_t out[1 + APAGON_RECEIPT_MAX_IDS * APAGON_HASH];
	int n = receipt_decode(ids, APAGON_RECEIPT_MAX_IDS, data, size), m, small;

	FUZZ_CHECK(n == MESH_EDECODE || (n >= 1 && n <= APAGON_RECEIPT_MAX_IDS));
	if (n < 0)
		return;
	FUZZ_CHECK(size == 1 + (size_t)n * APAGON_HASH && data[0] == n);
	m = receipt_encode(out, sizeof out, (const uint8_t (*)[APAGON_HASH])ids, n);
	FUZZ_CHECK(m == (int)size && memcmp(out, data, size) == 0);
	/* A smaller array: the decoder must refuse rather than write past it. */
	small = n > 1 ? n - 1 : 1;
	{
		uint8_t (*few)[APAGON_HASH] = malloc((size_t)small * APAGON_HASH);
		int r;

		if (!few)
			abort();
		r = receipt_decode(few, small, data, size);
		FUZZ_CHECK(r == (n <= small ? n : MESH_EDECODE));
		free(few);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_keys();
	check_revocation(data, size);
	check_prekey(data, size);
	check_receipt(data, size);
	return 0;
}
