/*
 * Harness: the modem's serial protocol, end to end. The input is a byte stream from
 * the host, as it would arrive on the modem's UART.
 *
 * 1. KISS decoding: byte by byte and in uneven chunks give the same frames; every
 *    frame re-encodes and decodes back to itself; the decoder never writes past its
 *    buffer (ASan).
 * 2. Command shapes: rnode_parse_host and rnode_parse_modem on every frame (the
 *    second is what node/ runs on the modem's replies).
 * 3. The modem core (firmware/modem.c + the SX1262 driver on the host chip model)
 *    fed the whole stream on a fake clock: whatever the commands, no band's booked
 *    airtime ever exceeds its one-hour budget, and nothing is transmitted without a
 *    region.
 */
#include "fuzz.h"
#include "fw_board.h"

#include "../../firmware/host/sx126x_model.h"
#include "../../firmware/modem.h"
#include "../../firmware/proto/kiss.h"
#include "../../firmware/proto/rnode.h"
#include "../../firmware/sx126x.h"

#define MAXF 64

struct frames {
	size_t n;
	size_t len[MAXF];
	uint8_t body[MAXF][260];
};

static void
decode_all(const uint8_t *in, size_t len, size_t chunk, struct frames *out)
{
	uint8_t *buf = malloc(260);
	struct kiss_decoder d;
	size_t off = 0, used;

	if (!buf)
		abort();
	out->n = 0;
	kiss_decoder_init(&d, buf, 260);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (kiss_decode(&d, in + off, n, &used) && out->n < MAXF) {
			FUZZ_CHECK(d.len >= 1 && d.len <= 260);
			out->len[out->n] = d.len;
			memcpy(out->body[out->n], d.buf, d.len);
			out->n++;
		}
		FUZZ_CHECK(used >= 1 && used <= n);
		off += used;
	}
	free(buf);
}

/* ---- a fake board for the core (fw_board.h) ---- */

static const struct hal_info board_info = { .name = "fuzz", .max_dbm = 22 };

static void
run_core(const uint8_t *in, size_t len)
{
	static struct fboard f;
	static struct modem m;
	static struct sx126x sx;
	struct sxm_link l = { b_tx, &f };
	struct hal hal = { &board_ops, &f, &board_info };
	struct radio r;
	int ever_region = 0;

	memset(&f, 0, sizeof f);
	f.ms = 1000;
	f.in = in;
	f.in_len = len;
	sx_model_init(&f.chip, &l);
	r = sx126x_radio(&sx, &hal);
	FUZZ_CHECK(modem_init(&m, &hal, &r) == 0);
	/* Long enough for every byte to arrive and a few frames to go on air. */
	for (unsigned i = 0; i < 1000 + len; i++) {
		modem_poll(&m);
		f.ms += 13;
		if (m.duty.region != APG_REGION_NONE)
			ever_region = 1;
		for (unsigned b = 0; b < m.duty.nbands; b++)
			FUZZ_CHECK(duty_used_ms(&m.duty, (int)b, f.ms) <= duty_budget_ms(&m.duty, (int)b));
	}
	if (!ever_region)
		FUZZ_CHECK(f.sent == 0);
	FUZZ_CHECK(m.stat[APG_STAT_TX_FRAMES] <= (uint32_t)f.sent);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct frames a, b, c;
	uint8_t enc[KISS_ENCODED_MAX(260)];

	decode_all(data, size, 1, &a);
	decode_all(data, size, size ? size : 1, &b);
	decode_all(data, size, 13, &c);
	FUZZ_CHECK(a.n == b.n && a.n == c.n);
	for (size_t i = 0; i < a.n; i++) {
		struct rnode_cmd cmd;
		struct frames r;
		size_t n;

		FUZZ_CHECK(a.len[i] == b.len[i] && memcmp(a.body[i], b.body[i], a.len[i]) == 0);
		FUZZ_CHECK(a.len[i] == c.len[i] && memcmp(a.body[i], c.body[i], a.len[i]) == 0);
		(void)rnode_parse_host(a.body[i], a.len[i], &cmd);
		if (rnode_parse_modem(a.body[i], a.len[i], &cmd) == 0)
			FUZZ_CHECK(cmd.cmd == a.body[i][0] && cmd.len == a.len[i] - 1);
		n = kiss_encode(enc, sizeof enc, a.body[i][0], a.body[i] + 1, a.len[i] - 1);
		FUZZ_CHECK(n >= a.len[i] + 2);
		decode_all(enc, n, 1, &r);
		FUZZ_CHECK(r.n == 1 && r.len[0] == a.len[i] && memcmp(r.body[0], a.body[i], a.len[i]) == 0);
	}
	if (size <= 4096)
		run_core(data, size);
	return 0;
}
