/*
 * Harness: crypto_keyfile_open with the fixed passphrase.
 *
 * Key files name their own Argon2id cost (crypto/keyfile.c: opslimit at bytes 24..31,
 * memlimit at 32..39, big-endian), and a fuzzer that asks for 1 GiB per input gets
 * nowhere. So the harness only opens an input when that cannot be expensive:
 *   - it is at most APAGON_KEYFILE_MAX bytes, and
 *   - it is not a passphrase-sealed file (byte 5 not 1 or 2, or shorter than the
 *     header, or a secret length that is refused before any hashing), or its limits
 *     are exactly crypto_pwhash_OPSLIMIT_MIN / MEMLIMIT_MIN, or they are outside the
 *     range derive() accepts (then it refuses before hashing).
 * Everything else returns early.
 *
 * Invariants: the secret fits the caller's buffer; a clear file re-seals (KEYFILE_NONE
 * is deterministic) to exactly the input; a sealed file opens only to the length its
 * header states.
 */
#include "fuzz.h"

#define KF_HDR 64

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* 1 if crypto_keyfile_open would run Argon2id with more than the minimum cost. */
static int
expensive(const uint8_t *data, size_t size)
{
	uint64_t ops, mem;
	size_t n;

	if (size < KF_HDR || memcmp(data, "APGK", 4) != 0 || data[4] != 1)
		return 0;
	if (data[5] != KEYFILE_INTERACTIVE && data[5] != KEYFILE_MODERATE)
		return 0;
	n = (size_t)data[6] << 8 | data[7];
	if (n == 0 || n > 128 || size != KF_HDR + n + crypto_secretbox_MACBYTES)
		return 0;
	ops = be64(data + 24);
	mem = be64(data + 32);
	if (ops == crypto_pwhash_OPSLIMIT_MIN && mem == crypto_pwhash_MEMLIMIT_MIN)
		return 0;
	if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE ||
	    mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
		return 0;       /* refused before hashing */
	return 1;
}

static void
check(const uint8_t *data, size_t size, size_t cap)
{
	uint8_t *secret = malloc(cap), again[APAGON_KEYFILE_MAX];
	size_t slen = 12345, alen;
	int was_clear = -1, rc;

	if (!secret)
		abort();
	rc = crypto_keyfile_open(secret, cap, &slen, &was_clear, data, size, FUZZ_PASSPHRASE);

	FUZZ_CHECK(rc == CRYPTO_OK || rc == CRYPTO_EPASS || rc == CRYPTO_EFORMAT ||
	    rc == CRYPTO_ENOMEM);
	FUZZ_CHECK(was_clear == 0 || was_clear == 1);
	if (rc != CRYPTO_OK) {
		FUZZ_CHECK(slen == 0 && was_clear == 0);
		free(secret);
		return;
	}
	FUZZ_CHECK(slen >= 1 && slen <= cap && slen <= 128);
	FUZZ_CHECK(size >= KF_HDR && slen == ((size_t)data[6] << 8 | data[7]));
	FUZZ_CHECK(was_clear == (data[5] == KEYFILE_NONE));
	if (was_clear) {
		FUZZ_CHECK(crypto_keyfile_seal(again, &alen, secret, slen, NULL, KEYFILE_NONE) ==
		    CRYPTO_OK);
		FUZZ_CHECK(alen == size);
		/* Bytes 8..63 (salt, limits, nonce) mean nothing in a clear file and are not
		 * checked on open; the sealer writes zeros there. */
#ifdef FUZZ_STRICT_CANONICAL
		FUZZ_CHECK(memcmp(again, data, size) == 0);
#else
		FUZZ_CHECK(memcmp(again, data, 8) == 0);
		FUZZ_CHECK(memcmp(again + KF_HDR, data + KF_HDR, size - KF_HDR) == 0);
#endif
	} else {
		FUZZ_CHECK(size == KF_HDR + slen + crypto_secretbox_MACBYTES);
	}
	free(secret);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_keys();
	if (size > APAGON_KEYFILE_MAX || expensive(data, size))
		return 0;
	check(data, size, 128);
	/* A caller with a smaller buffer (a 32-byte seed): refused, never overrun. */
	check(data, size, 32);
	return 0;
}
