/*
 * Shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.c), the corpus replay
 * (tests/fuzz/replay.c) and the seed generator (tests/fuzz/gen_corpus.c).
 *
 * Every key here is fixed, derived from constant seeds, so that the seed corpus written
 * by gen_corpus.c is valid for the harnesses: bundles carry the right network tag,
 * signatures verify, sealed bundles open. Changing a seed invalidates the corpus; run
 * gen_corpus again (tests/fuzz/README.md).
 *
 * The cast of the fixed network:
 *   authority   signs certificates; also the sender of REVOKE seeds
 *   enroller    role 1, unit "north", issues the member in two-link chains
 *   member      the sender of every other seed bundle (fuzz_keys()->member_pk)
 *   peer        the recipient of sealed seed bundles
 * and one X25519 prekey each for member and peer.
 */
#ifndef APAGON_FUZZ_H
#define APAGON_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../crypto/crypto.h"
#include "../../mesh/bundle.h"
#include "../../mesh/cert.h"
#include "../../mesh/files.h"
#include "../../mesh/mesh.h"
#include "../../mesh/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The clock chain_verify sees: 2026-01-01T00:00:00Z, with ten minutes of skew. */
#define FUZZ_NOW  1767225600u
#define FUZZ_SKEW 600u

/* Passphrase for the key-file harness and the sealed key-file seeds. */
#define FUZZ_PASSPHRASE "fuzz passphrase"

/* The enroller's unit in two-link chains. */
#define FUZZ_UNIT "north"

/* Abort, with a message, when an invariant of a decoder does not hold. */
#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",        \
			    __FILE__, __LINE__, #cond);                         \
			abort();                                                \
		}                                                               \
	} while (0)

struct fuzz_keys {
	struct netkeys nk;
	uint8_t network_key[APAGON_KEY];
	uint8_t authority_pk[APAGON_SIGN_PK], authority_sk[APAGON_SIGN_SK];
	uint8_t enroller_pk[APAGON_SIGN_PK], enroller_sk[APAGON_SIGN_SK];
	uint8_t member_pk[APAGON_SIGN_PK], member_sk[APAGON_SIGN_SK];
	uint8_t peer_pk[APAGON_SIGN_PK], peer_sk[APAGON_SIGN_SK];
	uint8_t member_prekey_pk[APAGON_DH_PK], member_prekey_sk[APAGON_DH_SK];
	uint8_t peer_prekey_pk[APAGON_DH_PK], peer_prekey_sk[APAGON_DH_SK];
};

/* 32 bytes from a short label, zero-padded: readable, fixed, obviously not secret. */
static inline void
fuzz_seed(uint8_t out[32], const char *label)
{
	memset(out, 0, 32);
	memcpy(out, label, strlen(label) < 32 ? strlen(label) : 32);
}

/*
 * The fixed keys, made on first use (which also runs crypto_init once). Never fails:
 * a harness that cannot initialise libsodium aborts.
 */
static inline const struct fuzz_keys *
fuzz_keys(void)
{
	static struct fuzz_keys k;
	static int ready;
	uint8_t seed[32];

	if (ready)
		return &k;
	if (crypto_init() != CRYPTO_OK) {
		fprintf(stderr, "fuzz: crypto_init failed\n");
		abort();
	}
	fuzz_seed(seed, "apagon fuzz authority");
	crypto_sign_from_seed(k.authority_pk, k.authority_sk, seed);
	fuzz_seed(seed, "apagon fuzz enroller");
	crypto_sign_from_seed(k.enroller_pk, k.enroller_sk, seed);
	fuzz_seed(seed, "apagon fuzz member");
	crypto_sign_from_seed(k.member_pk, k.member_sk, seed);
	fuzz_seed(seed, "apagon fuzz peer");
	crypto_sign_from_seed(k.peer_pk, k.peer_sk, seed);
	fuzz_seed(k.member_prekey_sk, "apagon fuzz member prekey");
	crypto_scalarmult_base(k.member_prekey_pk, k.member_prekey_sk);
	fuzz_seed(k.peer_prekey_sk, "apagon fuzz peer prekey");
	crypto_scalarmult_base(k.peer_prekey_pk, k.peer_prekey_sk);
	fuzz_seed(k.network_key, "apagon fuzz network key");
	netkeys_derive(&k.nk, k.authority_pk, k.network_key);
	ready = 1;
	return &k;
}

/*
 * Recompute the 2-byte network tag of a bundle image in place (bytes 1..2), from its
 * created time and salt, the way mesh/bundle.c does. Harnesses use it to get mutated
 * inputs past the network check, which random mutation passes once in 65536 tries.
 * Must follow network_tag() in mesh/bundle.c.
 */
static inline void
fuzz_fix_tag(uint8_t *buf, size_t len, const struct netkeys *nk)
{
	uint8_t cs[8], h[16];

	if (len < APAGON_BUNDLE_HDR)
		return;
	memcpy(cs, buf + 18, 4);
	memcpy(cs + 4, buf + 23, 4);
	crypto_hash_ctx(h, sizeof h, APAGON_CTX_NETTAG, cs, 8, nk->tag_key, APAGON_KEY);
	buf[1] = h[0];
	buf[2] = h[1];
}

/* A copy of the input on the heap, exactly `size` bytes, so ASan sees any overread. */
static inline uint8_t *
fuzz_dup(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	if (!p)
		abort();
	if (size)
		memcpy(p, data, size);
	return p;
}

/* 1 if a name field decoded from n wire bytes lost bytes at an embedded NUL. */
static inline int
fuzz_name_truncated(const char *name, size_t wire_n)
{
	return strlen(name) != wire_n;
}

/* chain_verify's revocation callback: revoke any key whose first byte is 0xff. */
static inline int
fuzz_revoked(void *ctx, const uint8_t subject[APAGON_SIGN_PK], const uint8_t issuer[APAGON_SIGN_PK])
{
	(void)ctx;
	(void)issuer;
	return subject[0] == 0xff;
}

#endif
