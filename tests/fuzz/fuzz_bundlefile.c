/*
 * Harness: bundle files ("APGB" 01 { length(2) | bundle }*), as `apagon import` reads
 * them: bundlefile_reader, then bundlefile_next until the end or the first cut record,
 * and bundle_decode of each record with the fixed network keys.
 *
 * Invariants: every record lies inside the input, right after its 2-byte length and
 * right after the previous record; the records and their headers add up to the input
 * exactly when the walk ends cleanly; a cut file ends with MESH_EDECODE and stays
 * ended; a decoded bundle's body lies inside its record.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_keys *k = fuzz_keys();
	struct wire w;
	const uint8_t *p, *expect;
	size_t len;
	int rc, records = 0;

	rc = bundlefile_reader(&w, data, size);
	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	FUZZ_CHECK((rc == MESH_OK) == (file_detect(data, size) == FILE_BUNDLES));
	if (rc != MESH_OK)
		return 0;
	expect = data + APAGON_BUNDLEFILE_HDR;
	while ((rc = bundlefile_next(&w, &p, &len)) == 1) {
		struct bundle b;
		int drc;

		FUZZ_CHECK(p == expect + 2);
		FUZZ_CHECK(len == ((size_t)expect[0] << 8 | expect[1]));
		FUZZ_CHECK(p + len <= data + size);
		expect = p + len;
		records++;
		FUZZ_CHECK((size_t)records <= size / 2);

		drc = bundle_decode(&b, p, len, &k->nk);
		FUZZ_CHECK(drc == MESH_OK || drc == MESH_ESIZE || drc == MESH_EDECODE ||
		    drc == MESH_ENETWORK);
		if (drc == MESH_OK) {
			FUZZ_CHECK(b.body == p + APAGON_BUNDLE_HDR);
			FUZZ_CHECK(b.body_len + APAGON_BUNDLE_MIN == len);
			FUZZ_CHECK(b.h.type <= BUNDLE_TYPE_MAX);
			(void)bundle_verify(&b, &k->nk, k->member_pk);
		}
	}
	FUZZ_CHECK(rc == 0 || rc == MESH_EDECODE);
	if (rc == 0) {
		FUZZ_CHECK(expect == data + size);
	} else {
		FUZZ_CHECK(expect < data + size);
		/* Sticky: a cut file does not start yielding records again. */
		FUZZ_CHECK(bundlefile_next(&w, &p, &len) == MESH_EDECODE);
	}
	return 0;
}
