/*
 * A deterministic randombytes for test programs (test vectors, session tests, the fuzz
 * seed generators): libsodium's random source becomes a ChaCha20 stream under a fixed
 * key with a counter as nonce, so every salt, nonce and ephemeral key, and so every
 * byte such a program writes, is the same on every run.
 *
 * Call test_rng_use(key) before anything initialises libsodium. The key string is
 * copied into the 32-byte ChaCha20 key, zero-padded (at most 32 bytes are used);
 * test_rng_restart() starts the stream over. Static definitions: include it once per
 * program.
 */
#ifndef APAGON_TEST_RNG_H
#define APAGON_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

static uint8_t rng_key[crypto_stream_chacha20_KEYBYTES];
static uint64_t rng_ctr;

static const char *
rng_name(void)
{
	return "apagon-test-chacha20";
}

static void
rng_buf(void *const buf, const size_t size)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

	for (size_t i = 0; i < sizeof nonce; i++)
		nonce[i] = (uint8_t)(rng_ctr >> (8 * i));
	rng_ctr++;
	crypto_stream_chacha20(buf, size, nonce, rng_key);
}

static uint32_t
rng_random(void)
{
	uint32_t v;

	rng_buf(&v, sizeof v);
	return v;
}

static randombytes_implementation rng_impl = {
	.implementation_name = rng_name,
	.random = rng_random,
	.stir = NULL,
	.uniform = NULL,
	.buf = rng_buf,
	.close = NULL,
};

/* Start the stream over from its first block. */
static inline void
test_rng_restart(void)
{
	rng_ctr = 0;
}

/* Key the stream with `key` and install it; randombytes_set_implementation's result. */
static inline int
test_rng_use(const char *key)
{
	size_t n = strlen(key);

	if (n > sizeof rng_key)
		n = sizeof rng_key;
	memset(rng_key, 0, sizeof rng_key);
	memcpy(rng_key, key, n);
	rng_ctr = 0;
	return randombytes_set_implementation(&rng_impl);
}

#endif
