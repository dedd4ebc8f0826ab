/*
 * Safety numbers, after Signal's "numeric fingerprints": each side's 30 digits are an
 * iterated hash of (network ID, key), so a collision has to be ground through 5200
 * hashes per try, and the two halves are sorted so both members see the same number.
 */
#include "crypto.h"

#include <sodium.h>
#include <string.h>

#define SAFETY_ITERATIONS 5200

/* 30 digits: six 5-digit chunks, each a 40-bit big-endian integer mod 100000. */
static void
half(char out[31], const uint8_t network_id[APAGON_HASH], const uint8_t pk[APAGON_SIGN_PK])
{
	uint8_t h[APAGON_HASH];

	crypto_hash_ctx2(h, sizeof h, APAGON_CTX_SAFETY, network_id, APAGON_HASH, pk,
	    APAGON_SIGN_PK, NULL, 0);
	for (int i = 1; i < SAFETY_ITERATIONS; i++)
		crypto_hash_ctx2(h, sizeof h, APAGON_CTX_SAFETY, h, sizeof h, pk,
		    APAGON_SIGN_PK, NULL, 0);
	for (int c = 0; c < 6; c++) {
		uint64_t v = 0;

		for (int j = 0; j < 5; j++)
			v = v << 8 | h[c * 5 + j];
		v %= 100000;
		for (int d = 4; d >= 0; d--, v /= 10)
			out[c * 5 + d] = (char)('0' + v % 10);
	}
	out[30] = '\0';
}

void
crypto_safety_number(char out[APAGON_SAFETY_DIGITS + 1], const uint8_t network_id[APAGON_HASH],
    const uint8_t a_pk[APAGON_SIGN_PK], const uint8_t b_pk[APAGON_SIGN_PK])
{
	char a[31], b[31];

	half(a, network_id, a_pk);
	half(b, network_id, b_pk);
	if (strcmp(a, b) <= 0) {
		memcpy(out, a, 30);
		memcpy(out + 30, b, 30);
	} else {
		memcpy(out, b, 30);
		memcpy(out + 30, a, 30);
	}
	out[60] = '\0';
}
