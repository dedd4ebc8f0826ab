/*
 * Bundle encoding, header protection, signing, sealing and opening. The layout is in
 * bundle.h and docs/protocol.md; both must change together.
 */
#include "bundle.h"
#include "cert.h"
#include "mesh.h"
#include "wire.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

const uint8_t bundle_broadcast_id[APAGON_KEYID];

/* Offsets inside the wire header. */
#define OFF_HOPS    0
#define OFF_TAG     1
#define OFF_VPTT    3
#define OFF_MASKED  4           /* sender .. recipient prekey serial: 14 bytes */
#define MASKED_LEN  14
#define OFF_CREATED 18

void
netkeys_derive(struct netkeys *nk, const uint8_t authority_pk[APAGON_SIGN_PK],
    const uint8_t network_key[APAGON_KEY])
{
	memcpy(nk->authority_pk, authority_pk, APAGON_SIGN_PK);
	crypto_hash_ctx(nk->network_id, APAGON_HASH, APAGON_CTX_NETWORK_ID, authority_pk,
	    APAGON_SIGN_PK, NULL, 0);
	crypto_hash_ctx(nk->hp_key, APAGON_KEY, APAGON_CTX_HP_KEY, NULL, 0, network_key, APAGON_KEY);
	crypto_hash_ctx(nk->tag_key, APAGON_KEY, APAGON_CTX_NETTAG_KEY, NULL, 0, network_key,
	    APAGON_KEY);
	crypto_hash_ctx(nk->body_key, APAGON_KEY, APAGON_CTX_BODY_KEY, NULL, 0, network_key,
	    APAGON_KEY);
}

void
netkeys_wipe(struct netkeys *nk)
{
	sodium_memzero(nk->hp_key, sizeof nk->hp_key);
	sodium_memzero(nk->tag_key, sizeof nk->tag_key);
	sodium_memzero(nk->body_key, sizeof nk->body_key);
}

static const uint32_t lifetime_units[4] = { 60, 3600, 86400, 7 * 86400 };

uint32_t
lifetime_seconds(uint8_t code)
{
	return (code & 0x3f) * lifetime_units[code >> 6];
}

uint8_t
lifetime_code(uint32_t seconds)
{
	for (int u = 0; u < 4; u++) {
		uint32_t n = (seconds + lifetime_units[u] - 1) / lifetime_units[u];

		if (n == 0)
			n = 1;
		if (n <= 63)
			return (uint8_t)(u << 6 | n);
	}
	return 3 << 6 | 63;
}

void
bundle_hdr_salt(struct bundle_hdr *h)
{
	randombytes_buf(h->salt, sizeof h->salt);
}

int
bundle_type_sealed(uint8_t type)
{
	return type == BUNDLE_MSG || type == BUNDLE_RECEIPT;
}

/*
 * The network tag: two bytes that let a member drop another network's bundle before
 * any public-key work, yet tell an outsider nothing, because they change with every
 * bundle's salt and time.
 */
static void
network_tag(uint8_t tag[2], const uint8_t created_salt[8], const struct netkeys *nk)
{
	uint8_t h[16];

	crypto_hash_ctx(h, sizeof h, APAGON_CTX_NETTAG, created_salt, 8, nk->tag_key, APAGON_KEY);
	tag[0] = h[0];
	tag[1] = h[1];
}

/* Write header bytes 1..26 (unmasked) from h. */
static int
put_signed_hdr(uint8_t out[APAGON_SIGNED_HDR], const struct bundle_hdr *h, const struct netkeys *nk)
{
	struct wire w;
	uint8_t cs[8];

	if (h->type > BUNDLE_TYPE_MAX || h->precedence > PREC_FLASH || (h->lifetime & 0x3f) == 0)
		return MESH_EINVAL;
	wire_writer(&w, out, APAGON_SIGNED_HDR);
	wire_put_u16(&w, 0);    /* network tag, filled below */
	wire_put_u8(&w, (uint8_t)(APAGON_BUNDLE_VERSION << 6 | h->precedence << 4 | h->type));
	wire_put_bytes(&w, h->sender, APAGON_KEYID);
	wire_put_bytes(&w, h->recipient, APAGON_KEYID);
	wire_put_u8(&w, h->sender_prekey);
	wire_put_u8(&w, h->recipient_prekey);
	wire_put_u32(&w, h->created);
	wire_put_u8(&w, h->lifetime);
	wire_put_bytes(&w, h->salt, APAGON_SALT);
	memcpy(cs, out + OFF_CREATED - 1, 4);
	memcpy(cs + 4, h->salt, 4);
	network_tag(out, cs, nk);
	return wire_ok(&w) ? MESH_OK : MESH_EINVAL;
}

/* XOR header protection into wire header bytes 3..17 (its own inverse). */
static void
apply_mask(uint8_t *wirehdr, const uint8_t sig[APAGON_SIG], const struct netkeys *nk)
{
	uint8_t mask[16];

	crypto_hp_mask(mask, sig, nk->hp_key);
	wirehdr[OFF_VPTT] ^= mask[0] & 0x3f;
	for (int i = 0; i < MASKED_LEN; i++)
		wirehdr[OFF_MASKED + i] ^= mask[1 + i];
}

/* ID: H(BUNDLE_ID, network ID || unmasked signed header || body), the signed part. */
static void
bundle_id(uint8_t id[APAGON_HASH], const uint8_t *hdr, const uint8_t *body, size_t blen,
    const struct netkeys *nk)
{
	uint8_t pre[APAGON_HASH + APAGON_SIGNED_HDR];

	memcpy(pre, nk->network_id, APAGON_HASH);
	memcpy(pre + APAGON_HASH, hdr, APAGON_SIGNED_HDR);
	crypto_hash_ctx2(id, APAGON_HASH, APAGON_CTX_BUNDLE_ID, pre, sizeof pre, body, blen, NULL, 0);
}

/*
 * The signature is over the bundle's ID (4.7), which already covers the network ID,
 * the unmasked signed header and the body: the body is hashed once, by BLAKE2b, for
 * both, instead of again by Ed25519's SHA-512 (twice when signing).
 */
static void
bundle_sign(uint8_t sig[APAGON_SIG], const uint8_t *hdr, const uint8_t *body, size_t blen,
    const struct netkeys *nk, const uint8_t sk[APAGON_SIGN_SK])
{
	uint8_t id[APAGON_HASH];

	bundle_id(id, hdr, body, blen, nk);
	crypto_sign_ctx(sig, APAGON_CTX_BUNDLE_SIG, id, sizeof id, NULL, 0, sk);
}

/* Finish a bundle whose unmasked header is at out+1 and body at out+27. */
static int
finish(uint8_t *out, size_t blen, const struct netkeys *nk, const uint8_t sk[APAGON_SIGN_SK])
{
	uint8_t *sig = out + APAGON_BUNDLE_HDR + blen;

	out[OFF_HOPS] = 0;
	bundle_sign(sig, out + 1, out + APAGON_BUNDLE_HDR, blen, nk, sk);
	apply_mask(out, sig, nk);
	return (int)(APAGON_BUNDLE_HDR + blen + APAGON_SIG);
}

/* The single-use key of one public bundle: the network's body key over its header. */
static void
public_key(uint8_t key[APAGON_KEY], const uint8_t *hdr, const struct netkeys *nk)
{
	crypto_hash_ctx2(key, APAGON_KEY, APAGON_CTX_PUBLIC_BODY, nk->network_id, APAGON_HASH, hdr,
	    APAGON_SIGNED_HDR, nk->body_key, APAGON_KEY);
}

int
bundle_build_public(uint8_t *out, size_t cap, const struct bundle_hdr *h,
    const uint8_t *body, size_t blen, const struct netkeys *nk,
    const uint8_t sender_sk[APAGON_SIGN_SK])
{
	uint8_t key[APAGON_KEY];
	int rc;

	if (bundle_type_sealed(h->type))
		return MESH_EINVAL;
	if (blen == 0 || blen > APAGON_PUBLIC_MAX || cap < APAGON_BUNDLE_MIN + APAGON_TAG + blen)
		return MESH_ETOOBIG;
	if ((rc = put_signed_hdr(out + 1, h, nk)) != MESH_OK)
		return rc;
	public_key(key, out + 1, nk);
	/* body may alias out: seal through a copy of the record. */
	{
		uint8_t rec[APAGON_PUBLIC_MAX];

		memcpy(rec, body, blen);
		crypto_aead_seal(out + APAGON_BUNDLE_HDR, rec, blen, out + 1, APAGON_SIGNED_HDR, key);
	}
	sodium_memzero(key, sizeof key);
	return finish(out, blen + APAGON_TAG, nk, sender_sk);
}

/*
 * Transcript for the message key: both identities and both prekeys, then the signed
 * header (which holds the salt and time). Binding the identities means a member who
 * re-signs someone else's ciphertext under their own name gets a different key.
 */
#define TRANSCRIPT_LEN (APAGON_HASH + 2 * APAGON_SIGN_PK + 2 * APAGON_DH_PK + APAGON_SIGNED_HDR)
static void
transcript(uint8_t t[TRANSCRIPT_LEN], const uint8_t *hdr, const struct seal_keys *k,
    const struct netkeys *nk)
{
	uint8_t *p = t;

	memcpy(p, nk->network_id, APAGON_HASH), p += APAGON_HASH;
	memcpy(p, k->sender_pk, APAGON_SIGN_PK), p += APAGON_SIGN_PK;
	memcpy(p, k->recipient_pk, APAGON_SIGN_PK), p += APAGON_SIGN_PK;
	memcpy(p, k->sender_prekey_pk, APAGON_DH_PK), p += APAGON_DH_PK;
	memcpy(p, k->recipient_prekey_pk, APAGON_DH_PK), p += APAGON_DH_PK;
	memcpy(p, hdr, APAGON_SIGNED_HDR);
}

/*
 * Bytes of clear, signed data at the start of a sealed body. A receipt shows relays
 * which bundles it acknowledges, so they can drop their copies; the rest is sealed.
 */
static size_t
clear_prefix_len(uint8_t type, const uint8_t *body, size_t body_len)
{
	if (type != BUNDLE_RECEIPT || body_len < 1)
		return 0;
	return 1 + (size_t)body[0] * APAGON_HASH;
}

size_t
bundle_plain_len(const struct bundle *b)
{
	size_t pre = clear_prefix_len(b->h.type, b->body, b->body_len);

	if (!bundle_type_sealed(b->h.type) || b->body_len < pre + APAGON_TAG)
		return 0;
	return b->body_len - pre - APAGON_TAG;
}

/* The AEAD's associated data: the signed header, then any clear prefix. */
#define AD_MAX (APAGON_SIGNED_HDR + 1 + APAGON_RECEIPT_MAX_IDS * APAGON_HASH)

static int
build_sealed(uint8_t *out, size_t cap, const struct bundle_hdr *h, const uint8_t *clear,
    size_t clen, const uint8_t *m, size_t mlen, const struct seal_keys *k,
    const struct netkeys *nk, const uint8_t sender_sk[APAGON_SIGN_SK])
{
	uint8_t t[TRANSCRIPT_LEN], key[APAGON_KEY], ad[AD_MAX];
	uint8_t *hdr = out + 1;
	int rc;

	if (mlen > APAGON_MAX_TEXT || clen > AD_MAX - APAGON_SIGNED_HDR ||
	    cap < APAGON_SEALED_OVERHEAD + clen + mlen)
		return MESH_ETOOBIG;
	if ((rc = put_signed_hdr(hdr, h, nk)) != MESH_OK)
		return rc;
	transcript(t, hdr, k, nk);
	if (k->shared)
		crypto_message_key_shared(key, k->shared, t, sizeof t);
	else if (crypto_message_key(key, k->my_prekey_sk, k->recipient_prekey_pk, t, sizeof t) != 0)
		return MESH_ENOPREKEY;
	memcpy(ad, hdr, APAGON_SIGNED_HDR);
	if (clen)
		memcpy(ad + APAGON_SIGNED_HDR, clear, clen);
	if (clen)
		memcpy(out + APAGON_BUNDLE_HDR, clear, clen);
	crypto_aead_seal(out + APAGON_BUNDLE_HDR + clen, m, mlen, ad, APAGON_SIGNED_HDR + clen, key);
	sodium_memzero(key, sizeof key);
	return finish(out, clen + mlen + APAGON_TAG, nk, sender_sk);
}

int
bundle_build_sealed(uint8_t *out, size_t cap, const struct bundle_hdr *h,
    const uint8_t *m, size_t mlen, const struct seal_keys *k, const struct netkeys *nk,
    const uint8_t sender_sk[APAGON_SIGN_SK])
{
	if (h->type != BUNDLE_MSG)
		return MESH_EINVAL;
	return build_sealed(out, cap, h, NULL, 0, m, mlen, k, nk, sender_sk);
}

int
bundle_build_receipt(uint8_t *out, size_t cap, const struct bundle_hdr *h,
    const uint8_t (*ids)[APAGON_HASH], int n, uint32_t delivered_at,
    const struct seal_keys *k, const struct netkeys *nk, const uint8_t sender_sk[APAGON_SIGN_SK])
{
	uint8_t clear[1 + APAGON_RECEIPT_MAX_IDS * APAGON_HASH], m[4];
	int clen;

	if (h->type != BUNDLE_RECEIPT)
		return MESH_EINVAL;
	if ((clen = receipt_encode(clear, sizeof clear, ids, n)) < 0)
		return clen;
	m[0] = (uint8_t)(delivered_at >> 24);
	m[1] = (uint8_t)(delivered_at >> 16);
	m[2] = (uint8_t)(delivered_at >> 8);
	m[3] = (uint8_t)delivered_at;
	return build_sealed(out, cap, h, clear, (size_t)clen, m, sizeof m, k, nk, sender_sk);
}

int
bundle_receipt_ids(const struct bundle *b, uint8_t (*ids)[APAGON_HASH], int max)
{
	if (b->h.type != BUNDLE_RECEIPT)
		return MESH_EINVAL;
	return receipt_decode(ids, max, b->body, clear_prefix_len(b->h.type, b->body, b->body_len));
}

static int decode(struct bundle *b, const uint8_t *buf, size_t len, const struct netkeys *nk,
    const uint8_t *id);

int
bundle_decode(struct bundle *b, const uint8_t *buf, size_t len, const struct netkeys *nk)
{
	return decode(b, buf, len, nk, NULL);
}

int
bundle_decode_known(struct bundle *b, const uint8_t *buf, size_t len,
    const struct netkeys *nk, const uint8_t id[APAGON_HASH])
{
	return id ? decode(b, buf, len, nk, id) : MESH_EINVAL;
}

static int
decode(struct bundle *b, const uint8_t *buf, size_t len, const struct netkeys *nk,
    const uint8_t *id)
{
	uint8_t hdr[APAGON_BUNDLE_HDR], cs[8], tag[2];
	struct wire w;
	uint8_t vptt;

	if (len < APAGON_BUNDLE_MIN || len > APAGON_MAX_BUNDLE)
		return MESH_ESIZE;
	memset(b, 0, sizeof *b);
	wire_reader(&w, buf, len);
	wire_get_bytes(&w, hdr, sizeof hdr);
	b->body_len = len - APAGON_BUNDLE_MIN;
	b->body = wire_get_ref(&w, b->body_len);
	wire_get_bytes(&w, b->sig, APAGON_SIG);
	if (!wire_ok(&w) || wire_left(&w) != 0)
		return MESH_ESIZE;

	if (hdr[OFF_VPTT] >> 6 != APAGON_BUNDLE_VERSION)
		return MESH_EDECODE;
	/* The network check comes before the masked fields: they only mean anything
	 * under our own network's key. */
	memcpy(cs, hdr + OFF_CREATED, 4);
	memcpy(cs + 4, hdr + 23, 4);
	network_tag(tag, cs, nk);
	if (sodium_memcmp(tag, hdr + OFF_TAG, 2) != 0)
		return MESH_ENETWORK;

	apply_mask(hdr, b->sig, nk);
	memcpy(b->signed_hdr, hdr + 1, APAGON_SIGNED_HDR);
	b->hops = hdr[OFF_HOPS];

	wire_reader(&w, hdr + OFF_VPTT, APAGON_BUNDLE_HDR - OFF_VPTT);
	vptt = wire_get_u8(&w);
	b->h.type = vptt & 0x0f;
	b->h.precedence = (vptt >> 4) & 3;
	wire_get_bytes(&w, b->h.sender, APAGON_KEYID);
	wire_get_bytes(&w, b->h.recipient, APAGON_KEYID);
	b->h.sender_prekey = wire_get_u8(&w);
	b->h.recipient_prekey = wire_get_u8(&w);
	b->h.created = wire_get_u32(&w);
	b->h.lifetime = wire_get_u8(&w);
	wire_get_bytes(&w, b->h.salt, APAGON_SALT);
	if (!wire_ok(&w))
		return MESH_EDECODE;
	if (b->h.type > BUNDLE_TYPE_MAX ||
	    (b->h.lifetime & 0x3f) == 0)
		return MESH_EDECODE;
	if (b->body_len < APAGON_TAG + 1)
		return MESH_EDECODE;
	/* A receipt: 1..32 clear IDs, then exactly the sealed delivery time. */
	if (b->h.type == BUNDLE_RECEIPT && (b->body[0] < 1 || b->body[0] > APAGON_RECEIPT_MAX_IDS ||
	    b->body_len != clear_prefix_len(b->h.type, b->body, b->body_len) + 4 + APAGON_TAG))
		return MESH_EDECODE;

	if (id)
		memcpy(b->id, id, APAGON_HASH);
	else
		bundle_id(b->id, b->signed_hdr, b->body, b->body_len, nk);
	if (!bundle_type_sealed(b->h.type)) {
		uint8_t key[APAGON_KEY];
		int rc;

		if (b->body_len > APAGON_PUBLIC_MAX + APAGON_TAG)
			return MESH_EDECODE;
		public_key(key, b->signed_hdr, nk);
		rc = crypto_aead_open(b->pub, b->body, b->body_len, b->signed_hdr, APAGON_SIGNED_HDR,
		    key);
		sodium_memzero(key, sizeof key);
		if (rc != 0)
			return MESH_EDECODE;
		b->pub_len = b->body_len - APAGON_TAG;
	}
	return MESH_OK;
}

int
bundle_verify(const struct bundle *b, const struct netkeys *nk,
    const uint8_t sender_pk[APAGON_SIGN_PK])
{
	(void)nk;       /* b->id, from bundle_decode(), already covers the network ID */
	return crypto_verify_ctx(b->sig, APAGON_CTX_BUNDLE_SIG, b->id, APAGON_HASH, NULL, 0,
	    sender_pk) == 0 ? MESH_OK : MESH_ESIGNATURE;
}

int
bundle_open(uint8_t *m, const struct bundle *b, const struct seal_keys *k,
    const struct netkeys *nk)
{
	uint8_t t[TRANSCRIPT_LEN], key[APAGON_KEY], ad[AD_MAX];
	size_t pre = clear_prefix_len(b->h.type, b->body, b->body_len);
	int rc;

	if (!bundle_type_sealed(b->h.type) || b->body_len < pre + APAGON_TAG ||
	    pre > AD_MAX - APAGON_SIGNED_HDR)
		return MESH_EINVAL;
	transcript(t, b->signed_hdr, k, nk);
	/* The recipient computes X25519(recipient prekey secret, sender prekey). */
	if (k->shared)
		crypto_message_key_shared(key, k->shared, t, sizeof t);
	else if (crypto_message_key(key, k->my_prekey_sk, k->sender_prekey_pk, t, sizeof t) != 0)
		return MESH_EDECRYPT;
	memcpy(ad, b->signed_hdr, APAGON_SIGNED_HDR);
	if (pre)
		memcpy(ad + APAGON_SIGNED_HDR, b->body, pre);
	rc = crypto_aead_open(m, b->body + pre, b->body_len - pre, ad, APAGON_SIGNED_HDR + pre, key);
	sodium_memzero(key, sizeof key);
	return rc == 0 ? MESH_OK : MESH_EDECRYPT;
}

static const char *const prec_names[] = { "routine", "priority", "immediate", "flash" };
static const char *const type_names[] = { "message", "receipt", "certificate", "prekey", "revocation" };

const char *
precedence_name(int prec)
{
	return prec >= 0 && prec <= PREC_FLASH ? prec_names[prec] : "?";
}

int
precedence_parse(const char *s)
{
	for (int i = 0; i <= PREC_FLASH; i++)
		if (strcasecmp(s, prec_names[i]) == 0)
			return i;
	return -1;
}

const char *
bundle_type_name(int type)
{
	return type >= 0 && type <= BUNDLE_TYPE_MAX ? type_names[type] : "?";
}
