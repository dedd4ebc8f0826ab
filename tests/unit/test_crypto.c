/* crypto/: identities, key files, derivations, AEAD, header masks, safety numbers. */
#include "../test.h"

#include "../../crypto/crypto.h"

#include <sodium.h>
#include <stdlib.h>

static int
cmp_keys(const void *a, const void *b)
{
	return memcmp(a, b, APAGON_SIGN_PK);
}

static void
test_hundred_identities_distinct(void)
{
	uint8_t pks[100][APAGON_SIGN_PK], ids[100][APAGON_KEYID], sk[APAGON_SIGN_SK];

	for (int i = 0; i < 100; i++) {
		crypto_sign_keygen(pks[i], sk);
		crypto_key_id(ids[i], pks[i]);
	}
	sodium_memzero(sk, sizeof sk);
	qsort(pks, 100, sizeof pks[0], cmp_keys);
	for (int i = 1; i < 100; i++)
		CHECK(memcmp(pks[i - 1], pks[i], APAGON_SIGN_PK) != 0);
	for (int i = 0; i < 100; i++)
		for (int j = i + 1; j < 100; j++)
			CHECK(memcmp(ids[i], ids[j], APAGON_KEYID) != 0);
}

static void
test_keyfile_needs_passphrase(void)
{
	uint8_t secret[32], out[32], file[APAGON_KEYFILE_MAX];
	size_t flen, slen;
	int clear;

	randombytes_buf(secret, sizeof secret);
	CHECK_EQ(crypto_keyfile_seal(file, &flen, secret, sizeof secret, "correct horse",
	    KEYFILE_INTERACTIVE), 0);
	/* The secret is nowhere in the file. */
	for (size_t i = 0; i + 8 <= flen; i++)
		CHECK(memcmp(file + i, secret, 8) != 0);
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, "wrong horse"),
	    CRYPTO_EPASS);
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, NULL), CRYPTO_EPASS);
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, "correct horse"), 0);
	CHECK_EQ(slen, 32);
	CHECK_EQ(clear, 0);
	CHECK(memcmp(out, secret, 32) == 0);
	/* Any altered byte of the sealed part or its parameters fails closed. */
	file[flen - 1] ^= 1;
	CHECK(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, "correct horse") != 0);
	file[flen - 1] ^= 1;
	file[8] ^= 1;   /* salt */
	CHECK(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, "correct horse") != 0);
	file[8] ^= 1;
	file[0] = 'X';
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, "correct horse"),
	    CRYPTO_EFORMAT);
}

static void
test_keyfile_clear(void)
{
	uint8_t secret[32] = { 1, 2, 3 }, out[32], file[APAGON_KEYFILE_MAX];
	size_t flen, slen;
	int clear;

	CHECK_EQ(crypto_keyfile_seal(file, &flen, secret, sizeof secret, NULL, KEYFILE_NONE), 0);
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, NULL), 0);
	CHECK_EQ(clear, 1);
	CHECK(memcmp(out, secret, 32) == 0);
	/* Truncated and padded files are refused. */
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen - 1, NULL),
	    CRYPTO_EFORMAT);
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, 10, NULL), CRYPTO_EFORMAT);
	file[20] = 1;   /* an unused header byte */
	CHECK_EQ(crypto_keyfile_open(out, sizeof out, &slen, &clear, file, flen, NULL), CRYPTO_EFORMAT);
}

static void
test_contexts_separate(void)
{
	uint8_t a[32], b[32], key[32] = { 7 };

	crypto_hash_ctx(a, 32, APAGON_CTX_HP_KEY, NULL, 0, key, 32);
	crypto_hash_ctx(b, 32, APAGON_CTX_NETTAG_KEY, NULL, 0, key, 32);
	CHECK(memcmp(a, b, 32) != 0);
	/* ctx "ab" + input "c" differs from ctx "a" + input "bc": the length prefix. */
	crypto_hash_ctx(a, 32, "ab", (const uint8_t *)"c", 1, NULL, 0);
	crypto_hash_ctx(b, 32, "a", (const uint8_t *)"bc", 2, NULL, 0);
	CHECK(memcmp(a, b, 32) != 0);
}

static void
test_sign_verify_ctx(void)
{
	uint8_t pk[32], sk[64], sig[64], big[5000];

	crypto_sign_keygen(pk, sk);
	randombytes_buf(big, sizeof big);
	crypto_sign_ctx(sig, "ctx-a", big, 10, big + 10, sizeof big - 10, sk);
	CHECK_EQ(crypto_verify_ctx(sig, "ctx-a", big, 10, big + 10, sizeof big - 10, pk), 0);
	CHECK_EQ(crypto_verify_ctx(sig, "ctx-b", big, 10, big + 10, sizeof big - 10, pk), CRYPTO_EVERIFY);
	big[4000] ^= 1;
	CHECK_EQ(crypto_verify_ctx(sig, "ctx-a", big, 10, big + 10, sizeof big - 10, pk), CRYPTO_EVERIFY);
}

static void
test_message_key_agreement(void)
{
	uint8_t apk[32], ask[32], bpk[32], bsk[32], k1[32], k2[32], t[8] = "abcdefg";
	uint8_t zero[32] = { 0 }, m[20] = "hello, world", c[36], back[20];

	crypto_dh_keygen(apk, ask);
	crypto_dh_keygen(bpk, bsk);
	CHECK_EQ(crypto_message_key(k1, ask, bpk, t, sizeof t), 0);
	CHECK_EQ(crypto_message_key(k2, bsk, apk, t, sizeof t), 0);
	CHECK(memcmp(k1, k2, 32) == 0);
	t[0] ^= 1;
	CHECK_EQ(crypto_message_key(k2, bsk, apk, t, sizeof t), 0);
	CHECK(memcmp(k1, k2, 32) != 0);
	/* A low-order point is refused instead of giving a predictable key. */
	CHECK_EQ(crypto_message_key(k2, ask, zero, t, sizeof t), CRYPTO_EWEAKKEY);

	crypto_aead_seal(c, m, sizeof m, t, sizeof t, k1);
	CHECK_EQ(crypto_aead_open(back, c, sizeof c, t, sizeof t, k1), 0);
	CHECK(memcmp(back, m, sizeof m) == 0);
	c[3] ^= 0x80;
	CHECK_EQ(crypto_aead_open(back, c, sizeof c, t, sizeof t, k1), CRYPTO_EDECRYPT);
}

static void
test_local_seal(void)
{
	uint8_t key[32], m[50], c[50 + APAGON_LOCAL_OVERHEAD], c2[sizeof c], back[50];

	randombytes_buf(key, sizeof key);
	randombytes_buf(m, sizeof m);
	crypto_local_seal(c, m, sizeof m, key);
	crypto_local_seal(c2, m, sizeof m, key);
	CHECK(memcmp(c, c2, sizeof c) != 0);    /* fresh nonce every time */
	CHECK_EQ(crypto_local_open(back, c, sizeof c, key), 0);
	CHECK(memcmp(back, m, sizeof m) == 0);
	key[0] ^= 1;
	CHECK_EQ(crypto_local_open(back, c, sizeof c, key), CRYPTO_EDECRYPT);
}

static void
test_safety_number_symmetric(void)
{
	uint8_t net[32] = { 1 }, a[32], b[32], c[32], sk[64];
	char ab[61], ba[61], ac[61];

	crypto_sign_keygen(a, sk);
	crypto_sign_keygen(b, sk);
	crypto_sign_keygen(c, sk);
	crypto_safety_number(ab, net, a, b);
	crypto_safety_number(ba, net, b, a);
	crypto_safety_number(ac, net, a, c);
	CHECK(strcmp(ab, ba) == 0);
	CHECK(strcmp(ab, ac) != 0);
	CHECK_EQ(strlen(ab), 60);
	for (int i = 0; i < 60; i++)
		CHECK(ab[i] >= '0' && ab[i] <= '9');
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_hundred_identities_distinct),
		TEST(test_keyfile_needs_passphrase),
		TEST(test_keyfile_clear),
		TEST(test_contexts_separate),
		TEST(test_sign_verify_ctx),
		TEST(test_message_key_agreement),
		TEST(test_local_seal),
		TEST(test_safety_number_symmetric),
	};

	return test_main("crypto", cases, sizeof cases / sizeof cases[0], argc, argv);
}
