/*
 * The network's PKI records: certificates and chains, prekey records, revocations and
 * receipts. Every decoder here reads through the wire cursor and rejects trailing bytes.
 */
#include "cert.h"
#include "mesh.h"
#include "wire.h"

#include <sodium.h>
#include <string.h>

int
name_valid(const char *s, size_t max, int empty_ok)
{
	size_t n = strlen(s);
	const unsigned char *p = (const unsigned char *)s;

	if (n > max || (n == 0 && !empty_ok))
		return 0;
	/* Well-formed UTF-8 as RFC 3629 section 4 defines it (no overlongs, no
	 * surrogates, nothing above U+10FFFF), and no C0/C1 controls or DEL, so a name
	 * can neither hide as another nor drive a terminal. */
	for (size_t i = 0; i < n;) {
		unsigned c = p[i], lo = 0x80, hi = 0xbf;
		size_t k;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return 0;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (i + k >= n)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (size_t j = 2; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
		if (c == 0xc2 && p[i + 1] < 0xa0)   /* C1 controls U+0080..U+009F */
			return 0;
		i += k + 1;
	}
	return 1;
}

/* Everything but the signature. Returns the length or -1. */
static int
cert_tbs(uint8_t *out, size_t cap, const struct cert *c)
{
	struct wire w;
	size_t nl = strlen(c->name), ul = strlen(c->unit);

	if (nl == 0 || nl > APAGON_NAME_MAX || ul > APAGON_NAME_MAX)
		return -1;
	wire_writer(&w, out, cap);
	wire_put_u8(&w, 1);
	wire_put_u8(&w, c->role);
	wire_put_bytes(&w, c->subject, APAGON_SIGN_PK);
	wire_put_bytes(&w, c->issuer, APAGON_SIGN_PK);
	wire_put_u32(&w, c->not_before);
	wire_put_u32(&w, c->not_after);
	wire_put_str(&w, c->name);
	wire_put_str(&w, c->unit);
	return wire_ok(&w) ? (int)w.off : -1;
}

void
cert_sign(struct cert *c, const uint8_t network_id[APAGON_HASH],
    const uint8_t issuer_sk[APAGON_SIGN_SK])
{
	uint8_t tbs[APAGON_CERT_MAX];
	int n = cert_tbs(tbs, sizeof tbs, c);

	if (n < 0) {
		memset(c->sig, 0, sizeof c->sig);
		return;
	}
	crypto_sign_ctx(c->sig, APAGON_CTX_CERT_SIG, network_id, APAGON_HASH, tbs, (size_t)n,
	    issuer_sk);
}

static int
cert_verify_sig(const struct cert *c, const uint8_t network_id[APAGON_HASH])
{
	uint8_t tbs[APAGON_CERT_MAX];
	int n = cert_tbs(tbs, sizeof tbs, c);

	if (n < 0)
		return MESH_ECHAIN;
	return crypto_verify_ctx(c->sig, APAGON_CTX_CERT_SIG, network_id, APAGON_HASH, tbs,
	    (size_t)n, c->issuer) == 0 ? MESH_OK : MESH_ECHAIN;
}

int
cert_encode(uint8_t *out, size_t cap, const struct cert *c)
{
	int n = cert_tbs(out, cap, c);

	if (n < 0 || (size_t)n + APAGON_SIG > cap)
		return MESH_EINVAL;
	memcpy(out + n, c->sig, APAGON_SIG);
	return n + APAGON_SIG;
}

int
cert_decode(struct cert *c, const uint8_t *buf, size_t len)
{
	struct wire w;

	memset(c, 0, sizeof *c);
	wire_reader(&w, buf, len);
	if (wire_get_u8(&w) != 1)
		return MESH_EDECODE;
	c->role = wire_get_u8(&w);
	wire_get_bytes(&w, c->subject, APAGON_SIGN_PK);
	wire_get_bytes(&w, c->issuer, APAGON_SIGN_PK);
	c->not_before = wire_get_u32(&w);
	c->not_after = wire_get_u32(&w);
	wire_get_str(&w, c->name, APAGON_NAME_MAX);
	wire_get_str(&w, c->unit, APAGON_NAME_MAX);
	wire_get_bytes(&w, c->sig, APAGON_SIG);
	if (!wire_ok(&w) || wire_left(&w) != 0)
		return MESH_EDECODE;
	if (c->role > ROLE_ENROLLER || !name_valid(c->name, APAGON_NAME_MAX, 0) ||
	    !name_valid(c->unit, APAGON_NAME_MAX, 1) || c->not_after < c->not_before)
		return MESH_EDECODE;
	return MESH_OK;
}

int
chain_encode(uint8_t *out, size_t cap, const struct chain *ch)
{
	struct wire w;

	if (ch->n < 1 || ch->n > 2)
		return MESH_EINVAL;
	wire_writer(&w, out, cap);
	wire_put_u8(&w, (uint8_t)ch->n);
	for (int i = 0; i < ch->n; i++) {
		uint8_t tmp[APAGON_CERT_MAX];
		int n = cert_encode(tmp, sizeof tmp, &ch->c[i]);

		if (n < 0)
			return MESH_EINVAL;
		wire_put_u16(&w, (uint16_t)n);
		wire_put_bytes(&w, tmp, (size_t)n);
	}
	return wire_ok(&w) ? (int)w.off : MESH_EINVAL;
}

int
chain_decode(struct chain *ch, const uint8_t *buf, size_t len)
{
	struct wire w;

	memset(ch, 0, sizeof *ch);
	wire_reader(&w, buf, len);
	ch->n = wire_get_u8(&w);
	if (ch->n < 1 || ch->n > 2)
		return MESH_EDECODE;
	for (int i = 0; i < ch->n; i++) {
		uint16_t n = wire_get_u16(&w);
		const uint8_t *p = wire_get_ref(&w, n);

		if (!p || cert_decode(&ch->c[i], p, n) != MESH_OK)
			return MESH_EDECODE;
	}
	return wire_ok(&w) && wire_left(&w) == 0 ? MESH_OK : MESH_EDECODE;
}

/*
 * Validity with skew: a certificate is accepted from `skew` seconds before not-before
 * to `skew` seconds after not-after, because members' clocks drift in a blackout.
 */
static int
cert_current(const struct cert *c, uint32_t now, uint32_t skew)
{
	uint64_t t = now;

	if (t + skew < c->not_before)
		return MESH_ECHAIN;
	if (t > (uint64_t)c->not_after + skew)
		return MESH_EEXPIRED;
	return MESH_OK;
}

int
chain_verify(const struct chain *ch, const uint8_t network_id[APAGON_HASH],
    const uint8_t authority_pk[APAGON_SIGN_PK], uint32_t now, uint32_t skew,
    revoked_fn revoked, void *ctx)
{
	const struct cert *root, *leaf;
	int rc;

	if (ch->n < 1 || ch->n > 2)
		return MESH_ECHAIN;
	root = &ch->c[0];
	leaf = &ch->c[ch->n - 1];
	if (sodium_memcmp(root->issuer, authority_pk, APAGON_SIGN_PK) != 0)
		return MESH_ECHAIN;
	if (ch->n == 2) {
		/* authority -> enroller -> member, inside the enroller's own unit. */
		if (root->role != ROLE_ENROLLER || leaf->role != ROLE_MEMBER)
			return MESH_ECHAIN;
		if (memcmp(leaf->issuer, root->subject, APAGON_SIGN_PK) != 0)
			return MESH_ECHAIN;
		if (strcmp(leaf->unit, root->unit) != 0)
			return MESH_ECHAIN;
		/* A member's validity cannot outlast its enroller's. */
		if (leaf->not_after > root->not_after || leaf->not_before < root->not_before)
			return MESH_ECHAIN;
	}
	for (int i = 0; i < ch->n; i++) {
		if ((rc = cert_verify_sig(&ch->c[i], network_id)) != MESH_OK)
			return rc;
	}
	for (int i = 0; i < ch->n; i++) {
		if ((rc = cert_current(&ch->c[i], now, skew)) != MESH_OK)
			return rc;
	}
	if (revoked) {
		for (int i = 0; i < ch->n; i++)
			if (revoked(ctx, ch->c[i].subject, ch->c[i].issuer))
				return MESH_EREVOKED;
	}
	return MESH_OK;
}

int
prekey_encode(uint8_t out[APAGON_PREKEY_REC], const struct prekey_rec *p)
{
	struct wire w;

	wire_writer(&w, out, APAGON_PREKEY_REC);
	wire_put_u32(&w, p->serial);
	wire_put_bytes(&w, p->pk, APAGON_DH_PK);
	wire_put_u32(&w, p->not_after);
	return wire_ok(&w) ? APAGON_PREKEY_REC : MESH_EINVAL;
}

int
prekey_decode(struct prekey_rec *p, const uint8_t *buf, size_t len)
{
	struct wire w;

	wire_reader(&w, buf, len);
	p->serial = wire_get_u32(&w);
	wire_get_bytes(&w, p->pk, APAGON_DH_PK);
	p->not_after = wire_get_u32(&w);
	return wire_ok(&w) && wire_left(&w) == 0 ? MESH_OK : MESH_EDECODE;
}

int
revocation_encode(uint8_t *out, size_t cap, const struct revocation *r)
{
	struct wire w;
	size_t n = strlen(r->reason);

	if (n > APAGON_NAME_MAX)
		return MESH_EINVAL;
	wire_writer(&w, out, cap);
	wire_put_bytes(&w, r->subject, APAGON_SIGN_PK);
	wire_put_u32(&w, r->revoked_at);
	wire_put_str(&w, r->reason);
	return wire_ok(&w) ? (int)w.off : MESH_EINVAL;
}

int
revocation_decode(struct revocation *r, const uint8_t *buf, size_t len)
{
	struct wire w;

	memset(r, 0, sizeof *r);
	wire_reader(&w, buf, len);
	wire_get_bytes(&w, r->subject, APAGON_SIGN_PK);
	r->revoked_at = wire_get_u32(&w);
	wire_get_str(&w, r->reason, APAGON_NAME_MAX);
	if (!wire_ok(&w) || wire_left(&w) != 0 || !name_valid(r->reason, APAGON_NAME_MAX, 1))
		return MESH_EDECODE;
	return MESH_OK;
}

int
receipt_encode(uint8_t *out, size_t cap, const uint8_t (*ids)[APAGON_HASH], int n)
{
	struct wire w;

	if (n < 1 || n > APAGON_RECEIPT_MAX_IDS)
		return MESH_EINVAL;
	wire_writer(&w, out, cap);
	wire_put_u8(&w, (uint8_t)n);
	for (int i = 0; i < n; i++)
		wire_put_bytes(&w, ids[i], APAGON_HASH);
	return wire_ok(&w) ? (int)w.off : MESH_EINVAL;
}

int
receipt_decode(uint8_t (*ids)[APAGON_HASH], int max, const uint8_t *buf, size_t len)
{
	struct wire w;
	int n;

	wire_reader(&w, buf, len);
	n = wire_get_u8(&w);
	if (n < 1 || n > APAGON_RECEIPT_MAX_IDS || n > max)
		return MESH_EDECODE;
	for (int i = 0; i < n; i++)
		wire_get_bytes(&w, ids[i], APAGON_HASH);
	return wire_ok(&w) && wire_left(&w) == 0 ? n : MESH_EDECODE;
}
