/*
 * Hashing, signatures, key agreement and AEAD: thin wrappers that fix apagon's choices
 * (BLAKE2b with context strings, Ed25519, X25519, ChaCha20-Poly1305) in one place.
 */
#include "crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

const char *
crypto_strerror(int err)
{
	switch (err) {
	case CRYPTO_OK:       return "success";
	case CRYPTO_EINIT:    return "libsodium could not initialise";
	case CRYPTO_EPASS:    return "wrong passphrase, or the key file was altered";
	case CRYPTO_EFORMAT:  return "not an apagon key file";
	case CRYPTO_EVERIFY:  return "signature does not verify";
	case CRYPTO_EDECRYPT: return "decryption failed: wrong key or altered ciphertext";
	case CRYPTO_ENOMEM:   return "not enough memory for Argon2id";
	case CRYPTO_EWEAKKEY: return "peer key is a low-order point";
	case CRYPTO_EINVAL:   return "invalid argument";
	}
	return "unknown crypto error";
}

int
crypto_init(void)
{
	return sodium_init() < 0 ? CRYPTO_EINIT : CRYPTO_OK;
}

/* Absorb len(ctx) || ctx first, so no context string is a prefix of another input. */
static void
hash_begin(crypto_generichash_state *st, size_t outlen, const char *ctx,
    const uint8_t *key, size_t keylen)
{
	size_t clen = strlen(ctx);
	uint8_t l = (uint8_t)clen;

	crypto_generichash_init(st, key, keylen, outlen);
	crypto_generichash_update(st, &l, 1);
	crypto_generichash_update(st, (const uint8_t *)ctx, clen);
}

void
crypto_hash_ctx2(uint8_t *out, size_t outlen, const char *ctx,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t *key, size_t keylen)
{
	crypto_generichash_state st;

	hash_begin(&st, outlen, ctx, key, keylen);
	if (alen)
		crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, outlen);
	sodium_memzero(&st, sizeof st);
}

void
crypto_hash_ctx(uint8_t *out, size_t outlen, const char *ctx,
    const uint8_t *in, size_t inlen, const uint8_t *key, size_t keylen)
{
	crypto_hash_ctx2(out, outlen, ctx, in, inlen, NULL, 0, key, keylen);
}

void
crypto_sign_keygen(uint8_t pk[APAGON_SIGN_PK], uint8_t sk[APAGON_SIGN_SK])
{
	crypto_sign_ed25519_keypair(pk, sk);
}

void
crypto_sign_from_seed(uint8_t pk[APAGON_SIGN_PK], uint8_t sk[APAGON_SIGN_SK],
    const uint8_t seed[APAGON_SIGN_SEED])
{
	crypto_sign_ed25519_seed_keypair(pk, sk, seed);
}

void
crypto_key_id(uint8_t id[APAGON_KEYID], const uint8_t pk[APAGON_SIGN_PK])
{
	uint8_t h[16];

	crypto_hash_ctx(h, sizeof h, APAGON_CTX_KEYID, pk, APAGON_SIGN_PK, NULL, 0);
	memcpy(id, h, APAGON_KEYID);
}

/*
 * Ed25519 signs the message itself (no pre-hash), so the signed message is the
 * concatenation ctx-hash || a || b. Hashing ctx||a||b first would let us stream, but
 * bundles are bounded (APAGON_MAX_BUNDLE), and pure Ed25519 keeps collision resistance
 * out of the signature's security argument.
 */
static size_t
sign_prefix(uint8_t prefix[APAGON_HASH], const char *ctx)
{
	crypto_hash_ctx(prefix, APAGON_HASH, ctx, NULL, 0, NULL, 0);
	return APAGON_HASH;
}

void
crypto_sign_ctx(uint8_t sig[APAGON_SIG], const char *ctx,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t sk[APAGON_SIGN_SK])
{
	uint8_t stackbuf[1024];
	uint8_t *m = stackbuf;
	size_t plen = APAGON_HASH, mlen = plen + alen + blen;

	if (mlen > sizeof stackbuf && !(m = malloc(mlen))) {
		memset(sig, 0, APAGON_SIG); /* cannot sign: an all-zero signature never verifies */
		return;
	}
	sign_prefix(m, ctx);
	if (alen)
		memcpy(m + plen, a, alen);
	if (blen)
		memcpy(m + plen + alen, b, blen);
	crypto_sign_ed25519_detached(sig, NULL, m, mlen, sk);
	if (m != stackbuf)
		free(m);
}

int
crypto_verify_ctx(const uint8_t sig[APAGON_SIG], const char *ctx,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t pk[APAGON_SIGN_PK])
{
	uint8_t stackbuf[1024];
	uint8_t *m = stackbuf;
	size_t plen = APAGON_HASH, mlen = plen + alen + blen;
	int rc;

	if (mlen > sizeof stackbuf && !(m = malloc(mlen)))
		return CRYPTO_ENOMEM;
	sign_prefix(m, ctx);
	if (alen)
		memcpy(m + plen, a, alen);
	if (blen)
		memcpy(m + plen + alen, b, blen);
	rc = crypto_sign_ed25519_verify_detached(sig, m, mlen, pk) == 0 ? CRYPTO_OK : CRYPTO_EVERIFY;
	if (m != stackbuf)
		free(m);
	return rc;
}

void
crypto_dh_keygen(uint8_t pk[APAGON_DH_PK], uint8_t sk[APAGON_DH_SK])
{
	crypto_box_curve25519xchacha20poly1305_keypair(pk, sk);
}

int
crypto_dh_shared(uint8_t shared[APAGON_KEY], const uint8_t my_sk[APAGON_DH_SK],
    const uint8_t their_pk[APAGON_DH_PK])
{
	if (crypto_scalarmult_curve25519(shared, my_sk, their_pk) != 0) {
		sodium_memzero(shared, APAGON_KEY);
		return CRYPTO_EWEAKKEY;
	}
	return CRYPTO_OK;
}

void
crypto_message_key_shared(uint8_t key[APAGON_KEY], const uint8_t shared[APAGON_KEY],
    const uint8_t *transcript, size_t tlen)
{
	crypto_hash_ctx(key, APAGON_KEY, APAGON_CTX_MSG_KEY, transcript, tlen, shared, APAGON_KEY);
}

int
crypto_message_key(uint8_t key[APAGON_KEY], const uint8_t my_sk[APAGON_DH_SK],
    const uint8_t their_pk[APAGON_DH_PK], const uint8_t *transcript, size_t tlen)
{
	uint8_t shared[APAGON_KEY];
	int rc;

	if ((rc = crypto_dh_shared(shared, my_sk, their_pk)) != CRYPTO_OK)
		return rc;
	crypto_message_key_shared(key, shared, transcript, tlen);
	sodium_memzero(shared, sizeof shared);
	return CRYPTO_OK;
}

/* Single-use keys: the nonce may be constant (RFC 8439 requires uniqueness per key). */
static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

void
crypto_aead_seal(uint8_t *c, const uint8_t *m, size_t mlen,
    const uint8_t *ad, size_t adlen, const uint8_t key[APAGON_KEY])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(c, NULL, m, mlen, ad, adlen, NULL, zero_nonce, key);
}

int
crypto_aead_open(uint8_t *m, const uint8_t *c, size_t clen,
    const uint8_t *ad, size_t adlen, const uint8_t key[APAGON_KEY])
{
	if (clen < APAGON_TAG)
		return CRYPTO_EINVAL;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen, ad, adlen,
	    zero_nonce, key) != 0)
		return CRYPTO_EDECRYPT;
	return CRYPTO_OK;
}

void
crypto_hp_mask(uint8_t mask[16], const uint8_t sample[24], const uint8_t hp_key[APAGON_KEY])
{
	crypto_stream_xchacha20(mask, 16, sample, hp_key);
}

void
crypto_local_seal(uint8_t *out, const uint8_t *m, size_t mlen, const uint8_t key[APAGON_KEY])
{
	randombytes_buf(out, APAGON_LOCAL_NONCE);
	crypto_secretbox_xchacha20poly1305_easy(out + APAGON_LOCAL_NONCE, m, mlen, out, key);
}

int
crypto_local_open(uint8_t *m, const uint8_t *in, size_t inlen, const uint8_t key[APAGON_KEY])
{
	if (inlen < APAGON_LOCAL_OVERHEAD)
		return CRYPTO_EINVAL;
	if (crypto_secretbox_xchacha20poly1305_open_easy(m, in + APAGON_LOCAL_NONCE,
	    inlen - APAGON_LOCAL_NONCE, in, key) != 0)
		return CRYPTO_EDECRYPT;
	return CRYPTO_OK;
}
