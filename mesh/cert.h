/*
 * Certificates, chains, prekey records, revocations: the network's PKI.
 *
 * These records travel inside public bundles, sealed to the network (bundle.h).
 *
 * Certificate (docs/protocol.md, "Certificate"):
 *
 *   0  1   version (1)
 *   1  1   role: 0 member, 1 enroller
 *   2  32  subject Ed25519 key
 *   34 32  issuer Ed25519 key (the authority, or an enroller)
 *   66 4   not-before, Unix seconds
 *   70 4   not-after, Unix seconds
 *   74 1   name length n (1..64)
 *   75 n   name, UTF-8
 *   .  1   unit length u (0..64)
 *   .  u   unit, UTF-8
 *   .  64  issuer's signature over ctx "apagon/v1/certificate" || network ID || bytes 0..
 *
 * Chain: 1 byte count (1 or 2), then per certificate a 2-byte length and the
 * certificate, root-most first: [member] or [enroller, member] or [enroller].
 */
#ifndef APAGON_CERT_H
#define APAGON_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

#define APAGON_NAME_MAX  64
#define APAGON_CERT_MAX  (75 + APAGON_NAME_MAX + 1 + APAGON_NAME_MAX + APAGON_SIG)
#define APAGON_CHAIN_MAX (1 + 2 * (2 + APAGON_CERT_MAX))

enum cert_role {
	ROLE_MEMBER = 0,
	ROLE_ENROLLER = 1,
};

struct cert {
	uint8_t role;
	uint8_t subject[APAGON_SIGN_PK];
	uint8_t issuer[APAGON_SIGN_PK];
	uint32_t not_before, not_after;
	char name[APAGON_NAME_MAX + 1];
	char unit[APAGON_NAME_MAX + 1];
	uint8_t sig[APAGON_SIG];
};

struct chain {
	int n;                  /* 1 or 2 */
	struct cert c[2];       /* c[n-1] is the leaf */
};

/* 1 if s is 1..max bytes (0..max when empty_ok) of printable UTF-8 with no controls. */
int name_valid(const char *s, size_t max, int empty_ok);

/* Sign c in place with the issuer's secret key (c->issuer must match it). */
void cert_sign(struct cert *c, const uint8_t network_id[APAGON_HASH],
    const uint8_t issuer_sk[APAGON_SIGN_SK]);
/* Encode with signature. Returns the length or MESH_EINVAL if cap is short. */
int cert_encode(uint8_t *out, size_t cap, const struct cert *c);
/* MESH_OK, or MESH_EDECODE for anything malformed. */
int cert_decode(struct cert *c, const uint8_t *buf, size_t len);

int chain_encode(uint8_t *out, size_t cap, const struct chain *ch);
int chain_decode(struct chain *ch, const uint8_t *buf, size_t len);

/* Answers "is this key revoked, and by an issuer entitled to do so?" for chain_verify. */
typedef int (*revoked_fn)(void *ctx, const uint8_t subject[APAGON_SIGN_PK],
    const uint8_t issuer[APAGON_SIGN_PK]);

/*
 * Check a chain against the network: signatures up to the authority, the shape
 * (authority -> [enroller ->] leaf, an enroller only for its own unit, no enroller
 * under an enroller), validity at `now` within `skew` seconds, and revocation of
 * every link through `revoked` (may be NULL).
 * Returns MESH_OK, MESH_ECHAIN, MESH_EEXPIRED or MESH_EREVOKED.
 */
int chain_verify(const struct chain *ch, const uint8_t network_id[APAGON_HASH],
    const uint8_t authority_pk[APAGON_SIGN_PK], uint32_t now, uint32_t skew,
    revoked_fn revoked, void *ctx);

/* Prekey record, the record of a PREKEY bundle: serial(4) || X25519 key(32) || not-after(4). */
#define APAGON_PREKEY_REC 40
struct prekey_rec {
	uint32_t serial;
	uint8_t pk[APAGON_DH_PK];
	uint32_t not_after;
};
int prekey_encode(uint8_t out[APAGON_PREKEY_REC], const struct prekey_rec *p);
int prekey_decode(struct prekey_rec *p, const uint8_t *buf, size_t len);

/* Revocation, the record of a REVOKE bundle whose sender is the revoker:
 * subject key(32) || revoked-at(4) || reason length(1) || reason (0..64). */
struct revocation {
	uint8_t subject[APAGON_SIGN_PK];
	uint32_t revoked_at;
	char reason[APAGON_NAME_MAX + 1];
};
#define APAGON_REVOCATION_MAX (32 + 4 + 1 + APAGON_NAME_MAX)
int revocation_encode(uint8_t *out, size_t cap, const struct revocation *r);
int revocation_decode(struct revocation *r, const uint8_t *buf, size_t len);

/* The ID list at the head of a RECEIPT body: count(1, 1..32) || count x bundle ID(32). */
#define APAGON_RECEIPT_MAX_IDS 32
int receipt_encode(uint8_t *out, size_t cap, const uint8_t (*ids)[APAGON_HASH], int n);
/* Returns the number of IDs (>= 1) or MESH_EDECODE. */
int receipt_decode(uint8_t (*ids)[APAGON_HASH], int max, const uint8_t *buf, size_t len);

#endif
