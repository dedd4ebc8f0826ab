/*
 * Harness: the simulated stock-RNode board (firmware/host/rnode_stock.c), the other
 * firmware the node drives. The input is a byte stream from the host, as it would
 * arrive on the board's UART; the board runs on a fake clock over the real SX1262
 * driver and the chip model.
 *
 * Whatever the commands: no memory error (ASan), nothing on air before frequency,
 * bandwidth, spreading factor and TX power were all set (RNode's radio lock), no frame
 * longer than 255 bytes, no TX power above the board's ceiling, and the board's own
 * frame count never ahead of what reached the air.
 */
#include "fuzz.h"

#include "../../firmware/host/rnode_stock.h"
#include "../../firmware/host/sx126x_model.h"
#include "../../firmware/proto/rnode.h"
#include "../../firmware/sx126x.h"

struct fboard {
	uint64_t ms;
	struct sx_model chip;
	const uint8_t *in;
	size_t in_len, in_off;
	int sent, bad;
};

static uint64_t b_now(void *c) { return ((struct fboard *)c)->ms; }

static size_t
b_read(void *c, uint8_t *b, size_t cap)
{
	struct fboard *f = c;
	size_t n = f->in_len - f->in_off;

	if (n > cap)
		n = cap;
	if (n > 1 + (f->ms % 29))
		n = 1 + (f->ms % 29);
	memcpy(b, f->in + f->in_off, n);
	f->in_off += n;
	return n;
}

static size_t b_write(void *c, const uint8_t *b, size_t n) { (void)c; (void)b; return n; }

static void
b_spi(void *c, const uint8_t *tx, uint8_t *rx, size_t n)
{
	struct fboard *f = c;

	sx_model_spi(&f->chip, tx, rx, n, f->ms * 1000);
}

static int b_busy(void *c) { (void)c; return 0; }

static int
b_dio1(void *c)
{
	struct fboard *f = c;

	sx_model_tick(&f->chip, f->ms * 1000);
	return sx_model_dio1(&f->chip);
}

static void b_reset(void *c) { sx_model_reset(&((struct fboard *)c)->chip); }
static void b_delay(void *c, uint32_t ms) { ((struct fboard *)c)->ms += ms; }

static const struct hal_ops board_ops = {
	.now_ms = b_now, .uart_read = b_read, .uart_write = b_write, .spi_transfer = b_spi,
	.radio_busy = b_busy, .radio_dio1 = b_dio1, .radio_reset = b_reset, .delay_ms = b_delay,
};
static const struct hal_info board_info = { .name = "fuzz-rnode", .max_dbm = 22 };

static void
b_tx(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr, int8_t power_dbm,
    uint32_t airtime_us, const uint8_t *data, size_t len)
{
	struct fboard *f = ctx;

	(void)freq_hz; (void)bw_hz; (void)sf; (void)cr; (void)airtime_us; (void)data;
	f->sent++;
	if (len < 2 || len > 255 || power_dbm > 10)
		f->bad++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fboard f;
	static struct rnode_stock r;
	static struct sx126x sx;
	struct sxm_link l = { b_tx, &f };
	struct hal hal = { &board_ops, &f, &board_info };
	struct radio radio;
	int ever_unlocked = 0;

	if (size > 4096)
		return 0;
	memset(&f, 0, sizeof f);
	f.ms = 1000;
	f.in = data;
	f.in_len = size;
	sx_model_init(&f.chip, &l);
	radio = sx126x_radio(&sx, &hal);
	FUZZ_CHECK(rnode_stock_init(&r, &hal, &radio, 10) == 0);
	for (unsigned i = 0; i < 1000 + size; i++) {
		rnode_stock_poll(&r);
		f.ms += 11;
		if (r.freq && r.bw && r.sf && r.txp != 0xFF)
			ever_unlocked = 1;
		FUZZ_CHECK(r.txp == 0xFF || r.txp <= 10);
	}
	if (!ever_unlocked)
		FUZZ_CHECK(f.sent == 0);
	FUZZ_CHECK(f.bad == 0);
	FUZZ_CHECK(r.stat_tx <= (uint32_t)f.sent);
	return 0;
}
