/*
 * Harness: what the Bluetooth transport parses from the air (node/transport_bt.c):
 * the length-prefixed link framing (bt_rx_feed, node/bt_frame.h) and advertising
 * data, looked through for a discovery token (bt_adv_find, node/bt_token.h).
 *
 * Invariants:
 *   - the stream fed whole and fed in cuts (positions taken from the input) gives the
 *     same frames, the same lengths and bytes, and the same final error;
 *   - every frame passed up is 1..BT_FRAME_MAX bytes, and none after an error;
 *   - advertising data: 1 only with a token copied from inside the input, -1 only for
 *     a structure running past the end; a token found checks against the network key
 *     only if it was made with it (here: never, the input is random).
 */
#include "fuzz.h"

#include "../../node/bt_frame.h"
#include "../../node/bt_token.h"

struct digest {
	int n;
	size_t total;
	crypto_generichash_state h;
};

static void
on_frame(void *ctx, const uint8_t *f, size_t len)
{
	struct digest *d = ctx;
	uint8_t l[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
		(uint8_t)len };

	FUZZ_CHECK(len >= 1 && len <= BT_FRAME_MAX);
	d->n++;
	d->total += len;
	crypto_generichash_update(&d->h, l, sizeof l);
	crypto_generichash_update(&d->h, f, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bt_rx a, b;
	struct digest da, db;
	uint8_t ha[32], hb[32], tok[BT_TOKEN_LEN];
	size_t off = 0, step = 1;
	int ra, rb = BT_FRAME_OK, rc;

	if (sodium_init() < 0)
		abort();
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&da, 0, sizeof da);
	memset(&db, 0, sizeof db);
	crypto_generichash_init(&da.h, NULL, 0, sizeof ha);
	crypto_generichash_init(&db.h, NULL, 0, sizeof hb);

	ra = bt_rx_feed(&a, data, size, on_frame, &da);
	while (off < size && rb == BT_FRAME_OK) {
		size_t n = step < size - off ? step : size - off;

		rb = bt_rx_feed(&b, data + off, n, on_frame, &db);
		off += n;
		/* Cuts of 1..251 bytes, from the data itself. */
		step = 1 + data[off - 1] % 251;
	}
	FUZZ_CHECK(ra == rb);
	FUZZ_CHECK(da.n == db.n && da.total == db.total);
	crypto_generichash_final(&da.h, ha, sizeof ha);
	crypto_generichash_final(&db.h, hb, sizeof hb);
	FUZZ_CHECK(memcmp(ha, hb, sizeof ha) == 0);
	FUZZ_CHECK(a.frames == (uint64_t)da.n);
	if (ra != BT_FRAME_OK)
		FUZZ_CHECK(bt_rx_feed(&a, data, size, on_frame, &da) == BT_FRAME_EDEAD);
	else
		FUZZ_CHECK(bt_rx_pending(&a) < BT_FRAME_HDR + BT_FRAME_MAX);
	bt_rx_free(&a);
	bt_rx_free(&b);

	/* The same bytes as advertising data. */
	rc = bt_adv_find(data, size, tok);
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	if (rc == 1) {
		int inside = 0;

		for (size_t i = 0; i + BT_TOKEN_LEN <= size && !inside; i++)
			inside = memcmp(data + i, tok, BT_TOKEN_LEN) == 0;
		FUZZ_CHECK(inside);
		FUZZ_CHECK(!bt_token_check(tok, fuzz_keys()->network_key, FUZZ_NOW) ||
		    size >= BT_ADV_LEN);
	}
	return 0;
}
