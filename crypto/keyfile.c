/*
 * Key files: a secret sealed under a passphrase with Argon2id (crypto_pwhash) and
 * XSalsa20-Poly1305 (crypto_secretbox). Layout (docs/protocol.md, "Key file"):
 *
 *   0  4  magic "APGK"
 *   4  1  version (1)
 *   5  1  strength: 0 clear (--no-passphrase), 1 interactive, 2 moderate
 *   6  2  secret length, big-endian
 *   8  16 Argon2id salt
 *   24 8  opslimit, big-endian
 *   32 8  memlimit, big-endian
 *   40 24 secretbox nonce
 *   64 .. secretbox(secret) (length + 16), or the secret itself when clear
 *
 * The Argon2id parameters are read from the file, so stronger settings can be adopted
 * later without breaking old files. Altering them only yields a wrong key.
 */
#include "crypto.h"

#include <sodium.h>
#include <string.h>

#define KF_HDR 64
#define KF_MAX_SECRET 128

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int
derive(uint8_t key[crypto_secretbox_KEYBYTES], const char *pass, const uint8_t salt[16],
    uint64_t ops, uint64_t mem)
{
	/* Refuse absurd limits from a tampered file before asking for the memory. */
	if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE ||
	    mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
		return CRYPTO_EFORMAT;
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, strlen(pass), salt,
	    ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return CRYPTO_ENOMEM;
	return CRYPTO_OK;
}

int
crypto_keyfile_seal(uint8_t *out, size_t *outlen, const uint8_t *secret, size_t slen,
    const char *passphrase, enum keyfile_strength strength)
{
	uint8_t key[crypto_secretbox_KEYBYTES];
	uint64_t ops, mem;
	int rc;

	*outlen = 0;
	if (slen == 0 || slen > KF_MAX_SECRET)
		return CRYPTO_EINVAL;
	memset(out, 0, KF_HDR);
	memcpy(out, "APGK", 4);
	out[4] = 1;
	out[5] = (uint8_t)strength;
	out[6] = (uint8_t)(slen >> 8);
	out[7] = (uint8_t)slen;
	if (strength == KEYFILE_NONE) {
		memcpy(out + KF_HDR, secret, slen);
		*outlen = KF_HDR + slen;
		return CRYPTO_OK;
	}
	if (!passphrase)
		return CRYPTO_EINVAL;
	if (strength == KEYFILE_MODERATE) {
		ops = crypto_pwhash_OPSLIMIT_MODERATE;
		mem = crypto_pwhash_MEMLIMIT_MODERATE;
	} else {
		ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	}
	randombytes_buf(out + 8, 16);
	put_be64(out + 24, ops);
	put_be64(out + 32, mem);
	randombytes_buf(out + 40, crypto_secretbox_NONCEBYTES);
	if ((rc = derive(key, passphrase, out + 8, ops, mem)) != 0)
		return rc;
	crypto_secretbox_easy(out + KF_HDR, secret, slen, out + 40, key);
	sodium_memzero(key, sizeof key);
	*outlen = KF_HDR + slen + crypto_secretbox_MACBYTES;
	return CRYPTO_OK;
}

int
crypto_keyfile_open(uint8_t *secret, size_t cap, size_t *slen, int *was_clear,
    const uint8_t *in, size_t inlen, const char *passphrase)
{
	uint8_t key[crypto_secretbox_KEYBYTES];
	size_t n;
	int rc;

	*slen = 0;
	*was_clear = 0;
	if (inlen < KF_HDR || memcmp(in, "APGK", 4) != 0 || in[4] != 1 || in[5] > KEYFILE_MODERATE)
		return CRYPTO_EFORMAT;
	n = (size_t)in[6] << 8 | in[7];
	if (n == 0 || n > KF_MAX_SECRET || n > cap)
		return CRYPTO_EFORMAT;
	if (in[5] == KEYFILE_NONE) {
		static const uint8_t zero[KF_HDR - 8];

		/* One encoding per key: the unused header bytes must be zero. */
		if (inlen != KF_HDR + n || memcmp(in + 8, zero, sizeof zero) != 0)
			return CRYPTO_EFORMAT;
		memcpy(secret, in + KF_HDR, n);
		*slen = n;
		*was_clear = 1;
		return CRYPTO_OK;
	}
	if (inlen != KF_HDR + n + crypto_secretbox_MACBYTES)
		return CRYPTO_EFORMAT;
	if (!passphrase)
		return CRYPTO_EPASS;
	if ((rc = derive(key, passphrase, in + 8, get_be64(in + 24), get_be64(in + 32))) != 0)
		return rc;
	rc = crypto_secretbox_open_easy(secret, in + KF_HDR, n + crypto_secretbox_MACBYTES,
	    in + 40, key) == 0 ? CRYPTO_OK : CRYPTO_EPASS;
	sodium_memzero(key, sizeof key);
	if (rc == CRYPTO_OK)
		*slen = n;
	return rc;
}
