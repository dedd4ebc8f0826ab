/*
 * crypto/: every cryptographic operation apagon performs, on top of libsodium only.
 *
 * This layer knows nothing of wire formats, the store or the network. It turns keys and
 * byte strings into other byte strings. Each derivation names its own context string
 * (see the APAGON_CTX_* list below and docs/protocol.md, "Key derivations").
 *
 * Conventions follow libsodium: output first, then input and its length, then nonce and
 * key. Functions return 0 or a negative CRYPTO_E* code.
 */
#ifndef APAGON_CRYPTO_H
#define APAGON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define APAGON_SIGN_PK    32
#define APAGON_SIGN_SEED  32
#define APAGON_SIGN_SK    64
#define APAGON_SIG        64
#define APAGON_DH_PK      32
#define APAGON_DH_SK      32
#define APAGON_KEY        32
#define APAGON_HASH       32
#define APAGON_KEYID      6
#define APAGON_TAG        16
#define APAGON_SALT       4
#define APAGON_SAFETY_DIGITS 60

/* Context strings: one per derivation, never reused for another purpose. */
#define APAGON_CTX_KEYID        "apagon/v1/key-id"
#define APAGON_CTX_NETWORK_ID   "apagon/v1/network-id"
#define APAGON_CTX_NETWORK_KEY  "apagon/v1/network-key"
#define APAGON_CTX_HP_KEY       "apagon/v1/header-protection"
#define APAGON_CTX_NETTAG_KEY   "apagon/v1/network-tag-key"
#define APAGON_CTX_NETTAG       "apagon/v1/network-tag"
#define APAGON_CTX_BODY_KEY     "apagon/v1/public-body-key"
#define APAGON_CTX_PUBLIC_BODY  "apagon/v1/public-body"
#define APAGON_CTX_MSG_KEY      "apagon/v1/message-key"
#define APAGON_CTX_LOCAL_KEY    "apagon/v1/local-storage"
#define APAGON_CTX_BUNDLE_ID    "apagon/v1/bundle-id"
#define APAGON_CTX_BUNDLE_SIG   "apagon/v1/bundle-signature"
#define APAGON_CTX_CERT_SIG     "apagon/v1/certificate"
#define APAGON_CTX_REQUEST_SIG  "apagon/v1/enrollment-request"
#define APAGON_CTX_SAFETY       "apagon/v1/safety-number"
/* Link sessions (mesh/session.c, docs/protocol.md section 15). */
#define APAGON_CTX_LINK_PSK       "apagon/v1/link-psk"
#define APAGON_CTX_LINK_HELLO     "apagon/v1/link-hello"
#define APAGON_CTX_LINK_TRANSCRIPT "apagon/v1/link-transcript"
#define APAGON_CTX_LINK_HS_KEY    "apagon/v1/link-handshake-key"
#define APAGON_CTX_LINK_SIG       "apagon/v1/link-signature"
#define APAGON_CTX_LINK_TRAFFIC   "apagon/v1/link-traffic-key"
#define APAGON_CTX_LINK_RIBLT     "apagon/v1/link-riblt-key"
#define APAGON_CTX_RIBLT          "apagon/v1/riblt-checksum"
/* The MQTT transport (node/transport_mqtt.c, docs/mqtt.md): topic names, the
 * transport key, and each message's single-use key under it. */
#define APAGON_CTX_MQTT_TOPIC   "apagon/v1/mqtt-topic"
#define APAGON_CTX_MQTT_KEY     "apagon/v1/mqtt-key"
#define APAGON_CTX_MQTT_MSG     "apagon/v1/mqtt-message-key"
/* The Bluetooth transport (node/bt_token.c, docs/bluetooth.md): discovery tokens. */
#define APAGON_CTX_BT_TOKEN     "apagon/v1/bluetooth-token"
/* The LoRa bearer (node/lora_air.c, docs/protocol.md section 18): the key that
 * authenticates fragments, digests and requests on air, the MAC under it, and the
 * short air ID of a bundle. */
#define APAGON_CTX_LORA_KEY     "apagon/v1/lora-key"
#define APAGON_CTX_LORA_MAC     "apagon/v1/lora-mac"
#define APAGON_CTX_LORA_ID      "apagon/v1/lora-air-id"

enum crypto_err {
	CRYPTO_OK = 0,
	CRYPTO_EINIT = -1,      /* libsodium could not initialise */
	CRYPTO_EPASS = -2,      /* wrong passphrase, or the key file was altered */
	CRYPTO_EFORMAT = -3,    /* not a key file of a version we know */
	CRYPTO_EVERIFY = -4,    /* signature does not verify */
	CRYPTO_EDECRYPT = -5,   /* AEAD tag does not verify */
	CRYPTO_ENOMEM = -6,     /* Argon2id could not get its memory */
	CRYPTO_EWEAKKEY = -7,   /* DH with a low-order point */
	CRYPTO_EINVAL = -8,     /* bad argument (length out of range) */
};

/* Human text for a CRYPTO_E* code. Never NULL. */
const char *crypto_strerror(int err);

/* Initialise libsodium. Safe to call more than once. */
int crypto_init(void);

/*
 * Context-separated hash: BLAKE2b(key?, len(ctx) || ctx || in), `outlen` 16..64 bytes.
 * `key` may be NULL (keylen 0). Every derivation in apagon goes through here.
 */
void crypto_hash_ctx(uint8_t *out, size_t outlen, const char *ctx,
    const uint8_t *in, size_t inlen, const uint8_t *key, size_t keylen);

/* Same, over two concatenated inputs (saves a copy for header || body). */
void crypto_hash_ctx2(uint8_t *out, size_t outlen, const char *ctx,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t *key, size_t keylen);

/* ---- signing identities (Ed25519) ---- */

/* A fresh Ed25519 key pair. sk holds seed || pk, as libsodium lays it out. */
void crypto_sign_keygen(uint8_t pk[APAGON_SIGN_PK], uint8_t sk[APAGON_SIGN_SK]);

/* Rebuild a key pair from its 32-byte seed. */
void crypto_sign_from_seed(uint8_t pk[APAGON_SIGN_PK], uint8_t sk[APAGON_SIGN_SK],
    const uint8_t seed[APAGON_SIGN_SEED]);

/* The 6-byte key ID that names a key on the wire. */
void crypto_key_id(uint8_t id[APAGON_KEYID], const uint8_t pk[APAGON_SIGN_PK]);

/* Detached Ed25519 signature over H(ctx) (32 bytes) || a || b. Either part may be empty. */
void crypto_sign_ctx(uint8_t sig[APAGON_SIG], const char *ctx,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t sk[APAGON_SIGN_SK]);

/* 0 if sig is a valid signature by pk over H(ctx) || a || b, else CRYPTO_EVERIFY. */
int crypto_verify_ctx(const uint8_t sig[APAGON_SIG], const char *ctx,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const uint8_t pk[APAGON_SIGN_PK]);

/* ---- prekeys (X25519) ---- */

void crypto_dh_keygen(uint8_t pk[APAGON_DH_PK], uint8_t sk[APAGON_DH_SK]);

/*
 * The single-use message key for one bundle:
 *   shared = X25519(my_sk, their_pk)
 *   key    = H(MSG_KEY, key=shared, transcript)
 * where the transcript binds both identities, both prekeys and the signed header, so
 * the key is fresh for every bundle (the header carries a random salt and the time).
 * Returns CRYPTO_EWEAKKEY for a low-order peer key.
 */
int crypto_message_key(uint8_t key[APAGON_KEY], const uint8_t my_sk[APAGON_DH_SK],
    const uint8_t their_pk[APAGON_DH_PK], const uint8_t *transcript, size_t tlen);

/*
 * The same in two halves, so a caller that seals many bundles between the same two
 * prekeys can keep the X25519 result (as secret as the prekeys themselves) in locked
 * memory and skip the scalar multiplication.
 */
int crypto_dh_shared(uint8_t shared[APAGON_KEY], const uint8_t my_sk[APAGON_DH_SK],
    const uint8_t their_pk[APAGON_DH_PK]);
void crypto_message_key_shared(uint8_t key[APAGON_KEY], const uint8_t shared[APAGON_KEY],
    const uint8_t *transcript, size_t tlen);

/*
 * AEAD (ChaCha20-Poly1305, IETF) under a single-use key, so the nonce is the constant
 * zero. c must hold mlen + APAGON_TAG bytes.
 */
void crypto_aead_seal(uint8_t *c, const uint8_t *m, size_t mlen,
    const uint8_t *ad, size_t adlen, const uint8_t key[APAGON_KEY]);
/* m receives clen - APAGON_TAG bytes. CRYPTO_EDECRYPT if the tag is wrong. */
int crypto_aead_open(uint8_t *m, const uint8_t *c, size_t clen,
    const uint8_t *ad, size_t adlen, const uint8_t key[APAGON_KEY]);

/* ---- header protection ---- */

/* 16 mask bytes from the header-protection key and a 24-byte sample of the signature. */
void crypto_hp_mask(uint8_t mask[16], const uint8_t sample[24], const uint8_t hp_key[APAGON_KEY]);

/* ---- local sealing (store contents, prekey secrets) ---- */

#define APAGON_LOCAL_NONCE 24
#define APAGON_LOCAL_OVERHEAD (APAGON_LOCAL_NONCE + 16)

/* out = nonce || secretbox(m). out must hold mlen + APAGON_LOCAL_OVERHEAD. */
void crypto_local_seal(uint8_t *out, const uint8_t *m, size_t mlen, const uint8_t key[APAGON_KEY]);
/* m receives inlen - APAGON_LOCAL_OVERHEAD bytes. */
int crypto_local_open(uint8_t *m, const uint8_t *in, size_t inlen, const uint8_t key[APAGON_KEY]);

/* ---- key files sealed under a passphrase (Argon2id + secretbox) ---- */

enum keyfile_strength {
	KEYFILE_NONE = 0,        /* --no-passphrase: secret stored in the clear */
	KEYFILE_INTERACTIVE = 1, /* Argon2id interactive limits: node identities */
	KEYFILE_MODERATE = 2,    /* Argon2id moderate limits: the network authority */
};

#define APAGON_KEYFILE_MAX 256

/*
 * Seal `secret` (at most 128 bytes) into a key file image. `out` must hold
 * APAGON_KEYFILE_MAX bytes; *outlen receives the size. With KEYFILE_NONE the passphrase
 * is ignored and the file says so in its header.
 */
int crypto_keyfile_seal(uint8_t *out, size_t *outlen, const uint8_t *secret, size_t slen,
    const char *passphrase, enum keyfile_strength strength);

/*
 * Open a key file image. secret receives up to `cap` bytes; *slen its length.
 * *was_clear is set when the file was written with --no-passphrase.
 * CRYPTO_EPASS on a wrong passphrase, CRYPTO_EFORMAT on a foreign file.
 */
int crypto_keyfile_open(uint8_t *secret, size_t cap, size_t *slen, int *was_clear,
    const uint8_t *in, size_t inlen, const char *passphrase);

/* ---- safety numbers ---- */

/*
 * A 60-digit number that two members compare in person. It is the same whichever of
 * the two computes it: each side's 30 digits come from 5200 iterations of a hash of the
 * network ID and its key, and the halves are ordered. out receives 60 digits and NUL.
 */
void crypto_safety_number(char out[APAGON_SAFETY_DIGITS + 1], const uint8_t network_id[APAGON_HASH],
    const uint8_t a_pk[APAGON_SIGN_PK], const uint8_t b_pk[APAGON_SIGN_PK]);

#endif
