/*
 * A fake board for the firmware harnesses (fuzz_kiss.c, fuzz_rnode_stock.c): a HAL on
 * a fake clock whose UART delivers the fuzz input in uneven reads and swallows every
 * answer, and whose SPI bus leads to the SX1262 chip model; what the chip puts on air
 * is counted. Header-only: each harness is one program.
 */
#ifndef APAGON_FUZZ_FW_BOARD_H
#define APAGON_FUZZ_FW_BOARD_H

#include "../../firmware/hal.h"
#include "../../firmware/host/sx126x_model.h"

struct fboard {
	uint64_t ms;
	struct sx_model chip;
	const uint8_t *in;
	size_t in_len, in_off;
	int sent;               /* frames on air */
	size_t max_len;         /* the longest */
	int max_dbm;            /* the strongest */
};

static uint64_t b_now(void *c) { return ((struct fboard *)c)->ms; }

static size_t
b_read(void *c, uint8_t *b, size_t cap)
{
	struct fboard *f = c;
	/* Uneven reads, as a UART delivers them. */
	size_t n = f->in_len - f->in_off;

	if (n > cap)
		n = cap;
	if (n > 1 + (f->ms % 37))
		n = 1 + (f->ms % 37);
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

static inline void
b_tx(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr, int8_t power_dbm,
    uint32_t airtime_us, const uint8_t *data, size_t len)
{
	struct fboard *f = ctx;

	(void)freq_hz; (void)bw_hz; (void)sf; (void)cr; (void)airtime_us; (void)data;
	if (f->sent == 0 || power_dbm > f->max_dbm)
		f->max_dbm = power_dbm;
	if (len > f->max_len)
		f->max_len = len;
	f->sent++;
}

#endif
