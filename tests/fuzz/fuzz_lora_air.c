/*
 * Harness: the LoRa air format (node/lora_air.h) and the flooding engine that reads
 * it (node/lora_flood.h), as frames heard from the air.
 *
 * Input: one flags byte (bit 0: recompute each frame's MAC under the fixed key, so
 * mutations get past the MAC check; bit 1: the acceptance path refuses), then frames,
 * each as u8 length || bytes. Checks:
 *   1. lora_air_decode never reads past the frame (ASan); a decoded DIGEST, REQUEST
 *      or ROUTED frame re-encodes to exactly the same bytes; a BUNDLE or ROUTED
 *      frame's air ID is that of the bundle it carries;
 *   2. the engine takes every frame: counters add up (each frame counted once as
 *      taken or rejected), bundles it hands to the acceptance path are 2..3841 bytes
 *      and hash to an ID the engine then knows, and whatever it sends in reply
 *      decodes under the same key. The bundles' ends (params.ends, for ROUTED
 *      sending) are read from their bytes 4..9 (sender) and 10..15 (recipient), so
 *      a bundle from one node teaches the route a later ROUTED frame to it follows.
 */
#include "fuzz.h"

#include "../../node/lora_air.h"
#include "../../node/lora_flood.h"

static const uint8_t fuzz_netkey[32] = { 0x4c, 0x6f, 0x52, 0x61 };

struct acc {
	int refuse;
	int calls;
};

static int
accept_cb(void *ctx, const uint8_t *b, size_t len, int *prec)
{
	struct acc *a = ctx;

	FUZZ_CHECK(len >= 2 && len <= LORA_BUNDLE_MAX);
	*prec = b[len - 1] & 3;
	a->calls++;
	return a->refuse ? -1 : (b[len - 1] & 4) ? LORA_ACCEPT_MINE : LORA_ACCEPT_NEW;
}

static int
ends_cb(void *ctx, const uint8_t *b, size_t len, uint8_t from[LORA_NODEID],
    uint8_t to[LORA_NODEID])
{
	(void)ctx;
	FUZZ_CHECK(len >= 2 && len <= LORA_BUNDLE_MAX);
	if (len < 16)
		return -1;
	memcpy(from, b + 4, LORA_NODEID);
	memcpy(to, b + 10, LORA_NODEID);
	return (b[len - 2] & 1) ? 0 : 1;
}

/* Recompute the MAC of a FRAG, DIGEST or REQUEST frame in place. */
static void
fix_mac(uint8_t *f, size_t len, const uint8_t k[32])
{
	uint8_t h[16];

	if ((f[0] >> 6) == LORA_K_BUNDLE || f[0] == LORA_ROUTED_B0 || len <= LORA_MAC)
		return;
	crypto_hash_ctx(h, sizeof h, APAGON_CTX_LORA_MAC, f, len - LORA_MAC, k, 32);
	memcpy(f + len - LORA_MAC, h, LORA_MAC);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lora_flood_params p;
	struct lora_flood *fl;
	struct acc a = { 0, 0 };
	uint8_t k[32];
	size_t off = 1;
	uint64_t now = 1, frames = 0;

	if (size < 1 || crypto_init() != 0)
		return 0;
	lora_air_key(k, fuzz_netkey);
	a.refuse = (data[0] & 2) != 0;
	memset(&p, 0, sizeof p);
	p.slot_ms = 50;
	p.digest_ms = 500;
	p.retries_own = 1;
	p.retries_relay = 1;
	p.cache_max = 32;
	p.accept = accept_cb;
	p.ends = ends_cb;
	p.ctx = &a;
	if (lora_flood_new(&fl, &p, k, now) != 0)
		return 0;
	while (off < size) {
		size_t len = data[off++];
		uint8_t *f;
		struct lora_frame fr;
		int rc;

		if (len > size - off)
			len = size - off;
		if ((f = malloc(len ? len : 1)) == NULL)
			abort();
		memcpy(f, data + off, len);
		off += len;
		if ((data[0] & 1) && len > 0)
			fix_mac(f, len, k);
		rc = lora_air_decode(&fr, f, len, k);
		if (rc == LORA_OK) {
			uint8_t re[LORA_FRAME_MAX];
			int n = -1;

			FUZZ_CHECK(fr.data != NULL && fr.data + fr.len <= f + len);
			if (fr.kind == LORA_K_DIGEST || fr.kind == LORA_K_REQUEST)
				n = lora_air_encode_ids(re, fr.kind,
				    (const uint8_t (*)[LORA_AIRID])fr.data, fr.nids, k);
			if (fr.kind == LORA_K_ROUTED) {
				uint8_t id[LORA_AIRID];

				/* f + 1: the bundle, its first byte (hops) ignored */
				n = lora_air_encode_routed(re, f + 1, len - 1, fr.hops, fr.left);
				lora_air_id(id, f + 1, len - 1);
				FUZZ_CHECK(memcmp(id, fr.id, LORA_AIRID) == 0);
			}
			if (n >= 0) {
				FUZZ_CHECK((size_t)n == len);
				FUZZ_CHECK(memcmp(re, f, len) == 0);
			}
			if (fr.kind == LORA_K_BUNDLE) {
				uint8_t id[LORA_AIRID];

				lora_air_id(id, f, len);
				FUZZ_CHECK(memcmp(id, fr.id, LORA_AIRID) == 0);
			}
		}
		lora_flood_input(fl, f, len, (int)(len % 80) - 40, now);
		frames++;
		free(f);
		now += 7;
		/* Let the engine answer now and then. */
		for (int i = 0; i < 3; i++) {
			uint8_t out[LORA_FRAME_MAX];
			int prec, n = lora_flood_output(fl, now, 0, out, &prec);
			struct lora_frame of;

			if (n <= 0)
				break;
			FUZZ_CHECK(n <= LORA_FRAME_MAX);
			FUZZ_CHECK(prec >= 0 && prec <= 3);
			FUZZ_CHECK(lora_air_decode(&of, out, (size_t)n, k) == LORA_OK);
			now += 60;
		}
	}
	{
		const struct lora_flood_stats *st = lora_flood_stats(fl);

		FUZZ_CHECK(st->frames_in == frames);
		FUZZ_CHECK(st->bad_short + st->bad_mac + st->bad_format <= frames);
		FUZZ_CHECK(st->bundles_in + st->bundles_held + st->bundles_refused +
		    st->bundles_later == (uint64_t)a.calls);
	}
	lora_flood_free(fl);
	return 0;
}
