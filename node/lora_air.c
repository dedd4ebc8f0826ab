/*
 * The LoRa air format (lora_air.h, docs/protocol.md section 18). Every decoder reads
 * through mesh/wire.h's bounds-checked cursor; nothing from the air is trusted before
 * its length and its MAC are checked.
 */
#include "lora_air.h"

#include <string.h>

#include <sodium.h>

#include "../crypto/crypto.h"
#include "../mesh/wire.h"

const char *
lora_air_strerror(int err)
{
	switch (err) {
	case LORA_OK:       return "ok";
	case LORA_ESHORT:   return "frame too short";
	case LORA_EMAC:     return "bad MAC";
	case LORA_EFORMAT:  return "malformed frame";
	case LORA_ETOOBIG:  return "bundle too big for the LoRa bearer";
	}
	return "unknown error";
}

void
lora_air_key(uint8_t k[32], const uint8_t *network_key)
{
	crypto_hash_ctx(k, 32, APAGON_CTX_LORA_KEY, NULL, 0, network_key, APAGON_KEY);
}

void
lora_air_id(uint8_t id[LORA_AIRID], const uint8_t *bundle, size_t len)
{
	uint8_t h[16];

	crypto_hash_ctx(h, sizeof h, APAGON_CTX_LORA_ID, bundle + 1, len - 1, NULL, 0);
	memcpy(id, h, LORA_AIRID);
}

static void
mac(uint8_t out[LORA_MAC], const uint8_t *buf, size_t len, const uint8_t k[32])
{
	uint8_t h[16];

	crypto_hash_ctx(h, sizeof h, APAGON_CTX_LORA_MAC, buf, len, k, 32);
	memcpy(out, h, LORA_MAC);
}

int
lora_air_frames(size_t len)
{
	if (len < 2 || len > LORA_BUNDLE_MAX)
		return 0;
	if (len <= LORA_FRAME_MAX)
		return 1;
	return (int)((len - 1 + LORA_FRAG_PAYLOAD - 1) / LORA_FRAG_PAYLOAD);
}

int
lora_air_encode(uint8_t out[LORA_FRAME_MAX], const uint8_t *bundle, size_t len, int hops,
    int i, const uint8_t k[32])
{
	int n = lora_air_frames(len);
	size_t off, piece;
	struct wire w;

	if (n == 0)
		return LORA_ETOOBIG;
	if (i < 0 || i >= n)
		return LORA_EFORMAT;
	if (hops > LORA_HOPS_MAX)
		hops = LORA_HOPS_MAX;
	if (hops < 0)
		hops = 0;
	if (n == 1) {
		out[0] = (uint8_t)(LORA_K_BUNDLE << 6 | hops);
		memcpy(out + 1, bundle + 1, len - 1);
		return (int)len;
	}
	off = 1 + (size_t)i * LORA_FRAG_PAYLOAD;
	piece = len - off < LORA_FRAG_PAYLOAD ? len - off : LORA_FRAG_PAYLOAD;
	wire_writer(&w, out, LORA_FRAME_MAX);
	wire_put_u8(&w, (uint8_t)(LORA_K_FRAG << 6 | hops));
	{
		uint8_t id[LORA_AIRID];

		lora_air_id(id, bundle, len);
		wire_put_bytes(&w, id, sizeof id);
	}
	wire_put_u8(&w, (uint8_t)i);
	wire_put_u8(&w, (uint8_t)n);
	wire_put_bytes(&w, bundle + off, piece);
	mac(out + w.off, out, w.off, k);
	return (int)(w.off + LORA_MAC);
}

int
lora_air_encode_ids(uint8_t out[LORA_FRAME_MAX], int kind, const uint8_t (*ids)[LORA_AIRID],
    int n, const uint8_t k[32])
{
	size_t len;

	if ((kind != LORA_K_DIGEST && kind != LORA_K_REQUEST) || n < 1 || n > LORA_IDS_MAX)
		return LORA_EFORMAT;
	out[0] = (uint8_t)(kind << 6);
	memcpy(out + 1, ids, (size_t)n * LORA_AIRID);
	len = 1 + (size_t)n * LORA_AIRID;
	mac(out + len, out, len, k);
	return (int)(len + LORA_MAC);
}

int
lora_air_encode_routed(uint8_t out[LORA_FRAME_MAX], const uint8_t *bundle, size_t len,
    int hops, int left)
{
	if (len > LORA_ROUTED_BUNDLE)
		return LORA_ETOOBIG;
	if (len < 91 || hops < 0 || hops > LORA_ROUTED_MAX || left < 0 || left > LORA_ROUTED_MAX)
		return LORA_EFORMAT;
	out[0] = LORA_ROUTED_B0;
	out[1] = (uint8_t)(left << 4 | hops);
	memcpy(out + 2, bundle + 1, len - 1);
	return (int)len + 1;
}

/* Check the trailing MAC of a frame of `len` bytes (len > LORA_MAC). */
static int
mac_ok(const uint8_t *buf, size_t len, const uint8_t k[32])
{
	uint8_t m[LORA_MAC];

	mac(m, buf, len - LORA_MAC, k);
	return sodium_memcmp(m, buf + len - LORA_MAC, LORA_MAC) == 0;
}

int
lora_air_decode(struct lora_frame *f, const uint8_t *buf, size_t len, const uint8_t k[32])
{
	struct wire w;
	uint8_t b0;

	memset(f, 0, sizeof f[0]);
	if (len < 1 || len > LORA_FRAME_MAX)
		return len < 1 ? LORA_ESHORT : LORA_EFORMAT;
	wire_reader(&w, buf, len);
	b0 = wire_get_u8(&w);
	f->kind = b0 >> 6;
	f->hops = b0 & 0x3f;
	switch (f->kind) {
	case LORA_K_BUNDLE:
		/* The smallest bundle is 91 bytes (header and signature); anything shorter
		 * cannot be one and need not reach the acceptance path. */
		if (len < 91)
			return LORA_ESHORT;
		f->data = buf + 1;
		f->len = len - 1;
		lora_air_id(f->id, buf, len);
		return LORA_OK;
	case LORA_K_FRAG:
		if (len < LORA_FRAG_HDR + 1 + LORA_MAC)
			return LORA_ESHORT;
		if (!mac_ok(buf, len, k))
			return LORA_EMAC;
		wire_get_bytes(&w, f->id, LORA_AIRID);
		f->idx = wire_get_u8(&w);
		f->count = wire_get_u8(&w);
		f->len = len - LORA_FRAG_HDR - LORA_MAC;
		f->data = wire_get_ref(&w, f->len);
		if (!wire_ok(&w) || !f->data)
			return LORA_ESHORT;
		if (f->count < 2 || f->count > LORA_FRAGS_MAX || f->idx >= f->count)
			return LORA_EFORMAT;
		if (f->idx + 1 < f->count && f->len != LORA_FRAG_PAYLOAD)
			return LORA_EFORMAT;
		return LORA_OK;
	default:
		if (b0 == LORA_ROUTED_B0) {
			/* Like BUNDLE: no MAC, the bundle authenticates itself. */
			uint8_t lh;

			if (len < 92)
				return LORA_ESHORT;
			lh = wire_get_u8(&w);
			f->kind = LORA_K_ROUTED;
			f->left = lh >> 4;
			f->hops = lh & 0x0f;
			f->data = buf + 2;
			f->len = len - 2;
			lora_air_id(f->id, buf + 1, len - 1);
			return LORA_OK;
		}
		if (f->hops != 0)
			return LORA_EFORMAT;
		if (len < 1 + LORA_AIRID + LORA_MAC)
			return LORA_ESHORT;
		if ((len - 1 - LORA_MAC) % LORA_AIRID != 0 ||
		    (len - 1 - LORA_MAC) / LORA_AIRID > LORA_IDS_MAX)
			return LORA_EFORMAT;
		if (!mac_ok(buf, len, k))
			return LORA_EMAC;
		f->nids = (int)((len - 1 - LORA_MAC) / LORA_AIRID);
		f->len = (size_t)f->nids * LORA_AIRID;
		f->data = wire_get_ref(&w, f->len);
		return f->data ? LORA_OK : LORA_ESHORT;
	}
}

/* ---------------- reassembly ---------------- */

static struct lora_slot *
slot_find(struct lora_reasm *r, const uint8_t id[LORA_AIRID])
{
	for (int i = 0; i < LORA_REASM_SLOTS; i++)
		if (r->slot[i].used && memcmp(r->slot[i].id, id, LORA_AIRID) == 0)
			return &r->slot[i];
	return NULL;
}

void
lora_reasm_forget(struct lora_reasm *r, const uint8_t id[LORA_AIRID])
{
	struct lora_slot *s = slot_find(r, id);

	if (s)
		s->used = 0;
}

int
lora_reasm_add(struct lora_reasm *r, const struct lora_frame *f, uint64_t now_ms,
    uint64_t max_age_ms, const uint8_t **out, size_t *outlen)
{
	struct lora_slot *s = slot_find(r, f->id);
	size_t len;

	*out = NULL;
	*outlen = 0;
	if (f->kind != LORA_K_FRAG)
		return LORA_EFORMAT;
	for (int i = 0; i < LORA_REASM_SLOTS; i++) {
		struct lora_slot *o = &r->slot[i];

		if (o->used && o != s && now_ms - o->touched_ms > max_age_ms) {
			o->used = 0;
			r->timeouts++;
		}
	}
	if (s && s->count != f->count) {
		r->inconsistent++;
		s->used = 0;
		return LORA_EFORMAT;
	}
	if (!s) {
		struct lora_slot *oldest = NULL;

		for (int i = 0; i < LORA_REASM_SLOTS && !s; i++)
			if (!r->slot[i].used)
				s = &r->slot[i];
		if (!s) {
			for (int i = 0; i < LORA_REASM_SLOTS; i++)
				if (!oldest || r->slot[i].touched_ms < oldest->touched_ms)
					oldest = &r->slot[i];
			s = oldest;
			r->evicted++;
		}
		memset(s, 0, offsetof(struct lora_slot, buf));
		memcpy(s->id, f->id, LORA_AIRID);
		s->count = f->count;
		s->used = 1;
	}
	s->touched_ms = now_ms;
	if (!(s->got & (1u << f->idx))) {
		memcpy(s->buf + 1 + (size_t)f->idx * LORA_FRAG_PAYLOAD, f->data, f->len);
		s->got |= 1u << f->idx;
		s->have++;
		if (f->idx == f->count - 1)
			s->last_len = f->len;
	}
	if (f->hops > s->hops)
		s->hops = f->hops;
	if (s->have < s->count)
		return 0;
	len = 1 + (size_t)(s->count - 1) * LORA_FRAG_PAYLOAD + s->last_len;
	s->buf[0] = (uint8_t)s->hops;
	s->used = 0;
	/* The pieces are authenticated one by one; the whole must still hash to its ID,
	 * or two bundles' pieces were mixed under one colliding ID. */
	{
		uint8_t id[LORA_AIRID];

		lora_air_id(id, s->buf, len);
		if (memcmp(id, s->id, LORA_AIRID) != 0) {
			r->inconsistent++;
			return LORA_EFORMAT;
		}
	}
	*out = s->buf;
	*outlen = len;
	return 1;
}
