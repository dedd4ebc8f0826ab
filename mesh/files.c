#include "files.h"
#include "mesh.h"

#include <string.h>

#define FILE_VERSION 1

static const char magic_request[4] = { 'A', 'P', 'G', 'Q' };
static const char magic_enroll[4] = { 'A', 'P', 'G', 'E' };
static const char magic_bundles[4] = { 'A', 'P', 'G', 'B' };

enum file_kind
file_detect(const uint8_t *buf, size_t len)
{
	if (len < 5 || buf[4] != FILE_VERSION)
		return FILE_UNKNOWN;
	if (memcmp(buf, magic_request, 4) == 0)
		return FILE_REQUEST;
	if (memcmp(buf, magic_enroll, 4) == 0)
		return FILE_ENROLLMENT;
	if (memcmp(buf, magic_bundles, 4) == 0)
		return FILE_BUNDLES;
	return FILE_UNKNOWN;
}

static void
put_magic(struct wire *w, const char magic[4])
{
	wire_put_bytes(w, (const uint8_t *)magic, 4);
	wire_put_u8(w, FILE_VERSION);
}

static int
get_magic(struct wire *w, const char magic[4])
{
	uint8_t m[4];

	wire_get_bytes(w, m, 4);
	return wire_ok(w) && memcmp(m, magic, 4) == 0 && wire_get_u8(w) == FILE_VERSION;
}

int
request_encode(uint8_t *out, size_t cap, struct enroll_request *r,
    const uint8_t sk[APAGON_SIGN_SK])
{
	struct wire w;
	size_t body;

	if (!name_valid(r->name, APAGON_NAME_MAX, 0))
		return MESH_EINVAL;
	wire_writer(&w, out, cap);
	put_magic(&w, magic_request);
	wire_put_bytes(&w, r->pk, APAGON_SIGN_PK);
	wire_put_str(&w, r->name);
	if (!wire_ok(&w))
		return MESH_EINVAL;
	body = w.off;
	crypto_sign_ctx(r->sig, APAGON_CTX_REQUEST_SIG, out, body, NULL, 0, sk);
	wire_put_bytes(&w, r->sig, APAGON_SIG);
	return wire_ok(&w) ? (int)w.off : MESH_EINVAL;
}

int
request_decode(struct enroll_request *r, const uint8_t *buf, size_t len)
{
	struct wire w;
	size_t body;

	memset(r, 0, sizeof *r);
	wire_reader(&w, buf, len);
	if (!get_magic(&w, magic_request))
		return MESH_EDECODE;
	wire_get_bytes(&w, r->pk, APAGON_SIGN_PK);
	wire_get_str(&w, r->name, APAGON_NAME_MAX);
	body = w.off;
	wire_get_bytes(&w, r->sig, APAGON_SIG);
	if (!wire_ok(&w) || wire_left(&w) != 0 || !name_valid(r->name, APAGON_NAME_MAX, 0))
		return MESH_EDECODE;
	if (crypto_verify_ctx(r->sig, APAGON_CTX_REQUEST_SIG, buf, body, NULL, 0, r->pk) != 0)
		return MESH_ESIGNATURE;
	return MESH_OK;
}

int
enrollment_encode(uint8_t *out, size_t cap, const struct enrollment *e)
{
	struct wire w;
	int n;

	if (!name_valid(e->net.name, APAGON_NAME_MAX, 0))
		return MESH_EINVAL;
	wire_writer(&w, out, cap);
	put_magic(&w, magic_enroll);
	wire_put_str(&w, e->net.name);
	wire_put_bytes(&w, e->net.authority_pk, APAGON_SIGN_PK);
	wire_put_bytes(&w, e->net.network_key, APAGON_KEY);
	if (!wire_ok(&w))
		return MESH_EINVAL;
	n = chain_encode(out + w.off, cap - w.off, &e->chain);
	if (n < 0)
		return n;
	return (int)w.off + n;
}

int
enrollment_decode(struct enrollment *e, const uint8_t *buf, size_t len)
{
	struct wire w;

	memset(e, 0, sizeof *e);
	wire_reader(&w, buf, len);
	if (!get_magic(&w, magic_enroll))
		return MESH_EDECODE;
	wire_get_str(&w, e->net.name, APAGON_NAME_MAX);
	wire_get_bytes(&w, e->net.authority_pk, APAGON_SIGN_PK);
	wire_get_bytes(&w, e->net.network_key, APAGON_KEY);
	if (!wire_ok(&w) || !name_valid(e->net.name, APAGON_NAME_MAX, 0))
		return MESH_EDECODE;
	return chain_decode(&e->chain, buf + w.off, len - w.off);
}

void
bundlefile_header(uint8_t out[APAGON_BUNDLEFILE_HDR])
{
	memcpy(out, magic_bundles, 4);
	out[4] = FILE_VERSION;
}

int
bundlefile_reader(struct wire *w, const uint8_t *buf, size_t len)
{
	wire_reader(w, buf, len);
	return get_magic(w, magic_bundles) ? MESH_OK : MESH_EDECODE;
}

int
bundlefile_next(struct wire *w, const uint8_t **p, size_t *len)
{
	uint16_t n;

	if (!wire_ok(w))
		return MESH_EDECODE;
	if (wire_left(w) == 0)
		return 0;
	n = wire_get_u16(w);
	*p = wire_get_ref(w, n);
	if (!*p) {
		*len = 0;
		return MESH_EDECODE;
	}
	*len = n;
	return 1;
}
