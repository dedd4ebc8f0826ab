/*
 * Bundles: the signed, end-to-end encrypted unit that apagon stores and gossips.
 *
 * Wire layout (docs/protocol.md, "Bundle"), all integers big-endian:
 *
 *    0      1      2      3      4 ...                    9
 *   +------+------+------+------+------------------------------+
 *   | hops | net tag     | vptt | sender key ID (6)        *   |
 *   +------+------+------+------+------------------------------+
 *   10                     15   16     17     18          21
 *   +--------------------------+------+------+-------------+
 *   | recipient key ID (6)  *  | spk* | rpk* | created     |
 *   +--------------------------+------+------+-------------+
 *   22     23          26   27                      end-64
 *   +------+-------------+-------------------------+------------------+
 *   | life | salt        | body                    | signature (64)   |
 *   +------+-------------+-------------------------+------------------+
 *
 *   vptt: version (2 bits, = 1) | precedence (2) | type (4).
 *   *: masked with header protection (the low 6 bits of vptt too).
 *   hops is the only field outside the signature; it is not masked either.
 *
 * The body is AEAD-sealed in every type. MSG: the text, to the recipient's prekey.
 * RECEIPT: n || n acknowledged IDs (clear, for relays) || the delivery time sealed back
 * to the original sender. The public types (CERT, PREKEY, REVOKE) are sealed to the
 * whole network under a per-bundle key derived from the network key: every member and
 * relay reads them, an outsider reads no names, units or keys.
 */
#ifndef APAGON_BUNDLE_H
#define APAGON_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

#define APAGON_BUNDLE_HDR       27          /* bytes before the body */
#define APAGON_SIGNED_HDR       26          /* header bytes under the signature */
#define APAGON_BUNDLE_MIN       (APAGON_BUNDLE_HDR + APAGON_SIG)
#define APAGON_MAX_BUNDLE       32768
#define APAGON_MAX_TEXT         (APAGON_MAX_BUNDLE - APAGON_BUNDLE_MIN - APAGON_TAG)
#define APAGON_BUNDLE_VERSION   1
#define APAGON_SEALED_OVERHEAD  (APAGON_BUNDLE_MIN + APAGON_TAG) /* 107 bytes */

enum bundle_type {
	BUNDLE_MSG = 0,         /* sealed text to one member */
	BUNDLE_RECEIPT = 1,     /* delivery receipt: clear ID list, sealed delivery time */
	BUNDLE_CERT = 2,        /* the sender's certificate chain, sealed to the network */
	BUNDLE_PREKEY = 3,      /* the sender's current prekey, sealed to the network */
	BUNDLE_REVOKE = 4,      /* a revocation by its sender, sealed to the network */
	BUNDLE_TYPE_MAX = 4,
};

/* Military message precedence, highest value first in every queue. */
enum precedence {
	PREC_ROUTINE = 0,
	PREC_PRIORITY = 1,
	PREC_IMMEDIATE = 2,
	PREC_FLASH = 3,
};

/* The ID that names "everyone": public bundles are addressed to it. */
extern const uint8_t bundle_broadcast_id[APAGON_KEYID];

/* What a member of one network knows about it (docs/protocol.md, "Network keys"). */
struct netkeys {
	uint8_t network_id[APAGON_HASH];   /* public: hash of the authority key */
	uint8_t authority_pk[APAGON_SIGN_PK];
	uint8_t hp_key[APAGON_KEY];        /* secret: header protection */
	uint8_t tag_key[APAGON_KEY];       /* secret: network tag */
	uint8_t body_key[APAGON_KEY];      /* secret: bodies of public bundles */
};

/* Derive a member's netkeys from the authority's public key and the network key. */
void netkeys_derive(struct netkeys *nk, const uint8_t authority_pk[APAGON_SIGN_PK],
    const uint8_t network_key[APAGON_KEY]);
/* Wipe the secret halves. */
void netkeys_wipe(struct netkeys *nk);

struct bundle_hdr {
	uint8_t type;                       /* enum bundle_type */
	uint8_t precedence;                 /* enum precedence */
	uint8_t sender[APAGON_KEYID];
	uint8_t recipient[APAGON_KEYID];
	uint8_t sender_prekey;              /* low byte of the sender's prekey serial */
	uint8_t recipient_prekey;           /* low byte of the recipient's prekey serial */
	uint32_t created;                   /* sender's clock, Unix seconds */
	uint8_t lifetime;                   /* lifetime code, see lifetime_seconds() */
	uint8_t salt[APAGON_SALT];          /* random; makes each message key fresh */
};

/* Largest record a public bundle may carry; a two-certificate chain is at most 541. */
#define APAGON_PUBLIC_MAX 1024

/* A decoded bundle. body points into the buffer passed to bundle_decode(). */
struct bundle {
	struct bundle_hdr h;
	uint8_t hops;
	uint8_t signed_hdr[APAGON_SIGNED_HDR];  /* unmasked header bytes 1..26 */
	const uint8_t *body;
	size_t body_len;
	uint8_t sig[APAGON_SIG];
	uint8_t id[APAGON_HASH];
	uint8_t pub[APAGON_PUBLIC_MAX];         /* public types: the opened record */
	size_t pub_len;
};

/*
 * Lifetime codes pack a unit and a count into one byte: bits 7-6 pick minutes, hours,
 * days or weeks; bits 5-0 count 1..63 of them. Code 0 is invalid.
 */
uint32_t lifetime_seconds(uint8_t code);
/* The smallest code whose lifetime is >= seconds (capped at 63 weeks). */
uint8_t lifetime_code(uint32_t seconds);

/* Fill salt with fresh randomness. */
void bundle_hdr_salt(struct bundle_hdr *h);

/*
 * Encode and sign a public bundle (CERT, PREKEY, REVOKE): `body` is the record, sealed
 * to the network. out must hold APAGON_BUNDLE_MIN + APAGON_TAG + blen bytes. Returns
 * the bundle size, or a negative MESH_E*.
 */
int bundle_build_public(uint8_t *out, size_t cap, const struct bundle_hdr *h,
    const uint8_t *body, size_t blen, const struct netkeys *nk,
    const uint8_t sender_sk[APAGON_SIGN_SK]);

/* The keys that seal one bundle from sender to recipient. */
struct seal_keys {
	const uint8_t *sender_pk;           /* Ed25519, 32 */
	const uint8_t *recipient_pk;        /* Ed25519, 32 */
	const uint8_t *my_prekey_sk;        /* X25519 secret of whoever runs the operation */
	const uint8_t *sender_prekey_pk;    /* X25519, 32 */
	const uint8_t *recipient_prekey_pk; /* X25519, 32 */
	const uint8_t *shared;              /* optional: X25519 of the two prekeys, cached */
};

/*
 * Encrypt the text `m` to the recipient's prekey and sign (MSG). my_prekey_sk is the
 * sender's. Returns the bundle size (mlen + APAGON_SEALED_OVERHEAD) or a negative MESH_E*.
 */
int bundle_build_sealed(uint8_t *out, size_t cap, const struct bundle_hdr *h,
    const uint8_t *m, size_t mlen, const struct seal_keys *k, const struct netkeys *nk,
    const uint8_t sender_sk[APAGON_SIGN_SK]);

/*
 * A delivery receipt (RECEIPT) for n bundle IDs, signed by their recipient and sealed
 * back to their sender. Body: n (1) || n IDs (clear, so relays can drop their copies)
 * || AEAD(delivered_at, 4 bytes) with the header and the ID list as associated data.
 */
int bundle_build_receipt(uint8_t *out, size_t cap, const struct bundle_hdr *h,
    const uint8_t (*ids)[APAGON_HASH], int n, uint32_t delivered_at,
    const struct seal_keys *k, const struct netkeys *nk, const uint8_t sender_sk[APAGON_SIGN_SK]);

/* The IDs a decoded RECEIPT acknowledges (its clear list). Returns their number. */
int bundle_receipt_ids(const struct bundle *b, uint8_t (*ids)[APAGON_HASH], int max);

/* Bytes bundle_open() will write for this sealed bundle. */
size_t bundle_plain_len(const struct bundle *b);

/*
 * Parse `len` bytes, remove header protection, check the network tag, compute the ID
 * and, for public types, open the record into b->pub. The signature is not checked
 * here. Returns MESH_OK, MESH_ESIZE, MESH_EDECODE (including a public body that does
 * not open) or MESH_ENETWORK. b->body points into buf.
 */
int bundle_decode(struct bundle *b, const uint8_t *buf, size_t len, const struct netkeys *nk);
/* The same, for bytes this process decoded a moment ago: `id` is the b->id that
 * bundle_decode() gave for exactly these bytes, taken instead of hashing the body
 * again (a 28 kB body costs a BLAKE2b pass each time). */
int bundle_decode_known(struct bundle *b, const uint8_t *buf, size_t len,
    const struct netkeys *nk, const uint8_t id[APAGON_HASH]);

/* MESH_OK if the bundle is signed by sender_pk, else MESH_ESIGNATURE. The signature
 * is over b->id, so b must come from bundle_decode(). */
int bundle_verify(const struct bundle *b, const struct netkeys *nk,
    const uint8_t sender_pk[APAGON_SIGN_PK]);

/*
 * Decrypt a sealed bundle addressed to us. my_prekey_sk is the recipient's. m receives
 * bundle_plain_len(b) bytes. MESH_EDECRYPT if it does not open.
 */
int bundle_open(uint8_t *m, const struct bundle *b, const struct seal_keys *k,
    const struct netkeys *nk);

/* 1 if the bundle type is sealed to one member (MSG, RECEIPT); public types are
 * sealed to the network. */
int bundle_type_sealed(uint8_t type);

/* Short names: "flash", "immediate", "priority", "routine"; and the reverse (-1 if none). */
const char *precedence_name(int prec);
int precedence_parse(const char *s);
const char *bundle_type_name(int type);

#endif
