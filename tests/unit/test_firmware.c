/*
 * The modem firmware's portable core on the host: KISS codec, command shapes, LoRa
 * airtime against values worked out by hand from the SX1261/2 datasheet formula,
 * the EU868 duty-cycle limiter, the precedence queue, the SX1262 driver against the
 * chip model (firmware/host/sx126x_model.c), and the core end to end on a fake clock.
 */
#include <stdlib.h>

#include "../../firmware/airtime.h"
#include "../../firmware/duty.h"
#include "../../firmware/host/sx126x_model.h"
#include "../../firmware/modem.h"
#include "../../firmware/proto/kiss.h"
#include "../../firmware/proto/rnode.h"
#include "../../firmware/sx126x.h"
#include "../../firmware/sx126x_regs.h"
#include "../../firmware/txq.h"
#include "../test.h"

/* ---- KISS ---- */

static void
test_kiss_roundtrip(void)
{
	uint8_t arg[300], enc[700], dbuf[300];
	struct kiss_decoder d;
	size_t n, used;

	for (size_t i = 0; i < sizeof arg; i++)
		arg[i] = (uint8_t)(i * 7 + (i % 3 == 0 ? KISS_FEND : i % 5 == 0 ? KISS_FESC : 0));
	n = kiss_encode(enc, sizeof enc, 0x00, arg, 255);
	CHECK(n > 255 + 3);
	CHECK_EQ(enc[0], KISS_FEND);
	CHECK_EQ(enc[n - 1], KISS_FEND);
	for (size_t i = 1; i + 1 < n; i++)
		CHECK(enc[i] != KISS_FEND);
	/* Whole. */
	kiss_decoder_init(&d, dbuf, sizeof dbuf);
	CHECK_EQ(kiss_decode(&d, enc, n, &used), 1);
	CHECK_EQ(used, n);
	CHECK_EQ(d.len, 256);
	CHECK_EQ(d.buf[0], 0x00);
	CHECK(memcmp(d.buf + 1, arg, 255) == 0);
	/* Byte by byte gives the same. */
	kiss_decoder_init(&d, dbuf, sizeof dbuf);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(kiss_decode_byte(&d, enc[i]), i == n - 1);
	CHECK_EQ(d.len, 256);
	CHECK(memcmp(d.buf + 1, arg, 255) == 0);
	CHECK_EQ(d.frames, 1);
}

static void
test_kiss_escapes(void)
{
	const uint8_t arg[2] = { KISS_FEND, KISS_FESC };
	const uint8_t want[] = { KISS_FEND, 0x00, KISS_FESC, KISS_TFEND, KISS_FESC, KISS_TFESC, KISS_FEND };
	uint8_t enc[16];

	CHECK_EQ(kiss_encode(enc, sizeof enc, 0x00, arg, 2), sizeof want);
	CHECK(memcmp(enc, want, sizeof want) == 0);
	/* Too small a buffer: 0, never a partial frame. */
	CHECK_EQ(kiss_encode(enc, 6, 0x00, arg, 2), 0);
	CHECK_EQ(kiss_encode(enc, 2, 0x00, NULL, 0), 0);
}

static void
test_kiss_errors(void)
{
	uint8_t dbuf[8];
	struct kiss_decoder d;
	size_t used;
	/* Noise before the first FEND, empty frames, an overlong frame, a bad escape, an
	 * escape cut by FEND, then a good frame: only the good one comes out. */
	const uint8_t in[] = { 0x11, 0x22, KISS_FEND, KISS_FEND, KISS_FEND,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, KISS_FEND,
		0x05, KISS_FESC, 0x41, 0x42, KISS_FEND,
		0x05, KISS_FESC, KISS_FEND,
		0x08, 0x73, KISS_FEND };
	int frames = 0;
	size_t off = 0;

	kiss_decoder_init(&d, dbuf, sizeof dbuf);
	while (off < sizeof in) {
		if (kiss_decode(&d, in + off, sizeof in - off, &used)) {
			frames++;
			CHECK_EQ(d.len, 2);
			CHECK_EQ(d.buf[0], 0x08);
			CHECK_EQ(d.buf[1], 0x73);
		}
		off += used;
	}
	CHECK_EQ(frames, 1);
	CHECK_EQ(d.overflows, 1);
	CHECK_EQ(d.bad_escapes, 2);
	/* The decoder recovers: the next frame decodes too. */
	CHECK_EQ(kiss_decode_byte(&d, 0x06), 0);
	CHECK_EQ(kiss_decode_byte(&d, 0x01), 0);
	CHECK_EQ(kiss_decode_byte(&d, KISS_FEND), 1);
	CHECK_EQ(d.len, 2);
	CHECK_EQ(d.buf[0], 0x06);
}

static void
test_rnode_parse(void)
{
	struct rnode_cmd c;
	const uint8_t freq[] = { RNODE_CMD_FREQUENCY, 0x33, 0xd3, 0xe6, 0x08 };
	const uint8_t shortfreq[] = { RNODE_CMD_FREQUENCY, 0x33, 0xd3 };
	const uint8_t prec[] = { APG_CMD_DATA_PREC, 3, 'x' };
	const uint8_t badprec[] = { APG_CMD_DATA_PREC, 4, 'x' };
	const uint8_t nodata[] = { RNODE_CMD_DATA };
	uint8_t big[258] = { RNODE_CMD_DATA };

	CHECK_EQ(rnode_parse_host(freq, sizeof freq, &c), 0);
	CHECK_EQ(c.value, 869525000);
	CHECK_EQ(rnode_parse_host(shortfreq, sizeof shortfreq, &c), -1);
	CHECK_EQ(rnode_parse_host(prec, sizeof prec, &c), 0);
	CHECK_EQ(c.value, 3);
	CHECK_EQ(rnode_parse_host(badprec, sizeof badprec, &c), -1);
	CHECK_EQ(rnode_parse_host(nodata, sizeof nodata, &c), -1);
	CHECK_EQ(rnode_parse_host(big, 256, &c), 0);
	CHECK_EQ(rnode_parse_host(big, 257, &c), -1);
	CHECK_EQ(rnode_parse_host(big, 0, &c), -1);
	/* The modem's direction. */
	{
		const uint8_t ver[] = { RNODE_CMD_FW_VERSION, 1, 52 };
		const uint8_t chtm[] = { RNODE_CMD_STAT_CHTM, 0, 1, 0, 2, 0, 3, 0, 4, 9, 9 };
		const uint8_t err[] = { RNODE_CMD_ERROR, APG_ERROR_DUTY_CYCLE, 0, 0, 1, 0 };
		const uint8_t stats[] = { APG_CMD_STATS, 1, 0, 0, 0, 7, 2 };

		CHECK_EQ(rnode_parse_modem(ver, sizeof ver, &c), 0);
		CHECK_EQ(rnode_parse_modem(ver, 2, &c), -1);
		CHECK_EQ(rnode_parse_modem(freq, sizeof freq, &c), 0);
		CHECK_EQ(c.value, 869525000);
		CHECK_EQ(rnode_parse_modem(chtm, sizeof chtm, &c), 0);
		CHECK_EQ(rnode_parse_modem(chtm, 8, &c), -1);
		CHECK_EQ(rnode_parse_modem(err, sizeof err, &c), 0);
		CHECK_EQ(c.value, APG_ERROR_DUTY_CYCLE);
		CHECK_EQ(rnode_parse_modem(err, 1, &c), -1);
		CHECK_EQ(rnode_parse_modem(stats, 6, &c), 0);
		CHECK_EQ(rnode_parse_modem(stats, 7, &c), -1);
		CHECK_EQ(rnode_parse_modem(nodata, sizeof nodata, &c), -1);
	}
	CHECK_EQ(rnode_rssi_byte(-157), 0);
	CHECK_EQ(rnode_rssi_byte(-200), 0);
	CHECK_EQ(rnode_rssi_byte(-57), 100);
}

/* ---- airtime ---- */

static struct radio_config
lora(uint8_t sf, uint32_t bw, uint8_t cr, uint16_t pre)
{
	struct radio_config c;

	memset(&c, 0, sizeof c);
	c.freq_hz = 868100000;
	c.sf = sf;
	c.bw_hz = bw;
	c.cr = cr;
	c.preamble = pre;
	c.crc = 1;
	return c;
}

static void
test_airtime(void)
{
	struct radio_config c;

	/* SF12/125 kHz, 4/5, 8 preamble, 51 bytes, CRC, explicit, LDRO on:
	 * bits 408+16-48+8+20 = 404, /40 -> 11 blocks x 5 = 55 symbols;
	 * 8 + 4.25 + 8 + 55 = 75.25 symbols x 32.768 ms = 2465.792 ms. */
	c = lora(12, 125000, 5, 8);
	CHECK_EQ(lora_symbols_x4(&c, 51), 301);
	CHECK_EQ(lora_airtime_us(&c, 51), 2465792);
	CHECK_EQ(lora_airtime_ms(&c, 51), 2466);
	/* SF7/125, 51 bytes: 424/28 -> 16 x 5 = 80; 100.25 x 1.024 ms = 102.656 ms. */
	c = lora(7, 125000, 5, 8);
	CHECK_EQ(lora_airtime_us(&c, 51), 102656);
	/* Long-fast (SF11/250, 4/5, 16 preamble), 247 bytes: 1976/44 -> 45 x 5 = 225;
	 * 16 + 4.25 + 8 + 225 = 253.25 x 8.192 ms = 2074.624 ms. */
	c = lora(11, 250000, 5, 16);
	CHECK_EQ(lora_airtime_us(&c, 247), 2074624);
	/* SF5/500, 10 bytes: 96/20 -> 5 x 5 = 25; 8 + 6.25 + 8 + 25 = 47.25 x 64 us. */
	c = lora(5, 500000, 5, 8);
	CHECK_EQ(lora_airtime_us(&c, 10), 3024);
	/* Coding rate 4/8 and implicit header, no CRC: SF9/125, 20 bytes:
	 * 160-36+8 = 132/36 -> 4 x 8 = 32; 8 + 4.25 + 8 + 32 = 52.25 x 4.096 ms. */
	c = lora(9, 125000, 8, 8);
	c.crc = 0;
	c.implicit = 1;
	CHECK_EQ(lora_airtime_us(&c, 20), 214016);
	/* LDRO is required from 16.38 ms symbols. */
	CHECK_EQ(lora_ldro(11, 125000), 1);
	CHECK_EQ(lora_ldro(10, 125000), 0);
	CHECK_EQ(lora_ldro(12, 250000), 1);
	CHECK_EQ(lora_ldro(11, 250000), 0);
	/* Out of range. */
	c = lora(13, 125000, 5, 8);
	CHECK_EQ(lora_airtime_us(&c, 10), 0);
	c = lora(7, 125000, 9, 8);
	CHECK_EQ(lora_airtime_us(&c, 10), 0);
}

/* ---- duty cycle ---- */

static void
test_duty_bands(void)
{
	struct duty d;

	duty_init(&d);
	/* No region: no band, and nothing may go. */
	CHECK_EQ(duty_band_of(&d, 869525000, 250000), -1);
	CHECK_EQ(duty_check(&d, 0, 1, 0), UINT32_MAX);
	CHECK_EQ(duty_set_region(&d, APG_REGION_EU868), 0);
	CHECK_EQ(duty_band_of(&d, 869525000, 250000), 4);   /* g3: 869.4 - 869.65 */
	CHECK_EQ(duty_budget_ms(&d, 4), 360000);             /* 10 % of an hour */
	CHECK_EQ(duty_band_of(&d, 868100000, 125000), 2);   /* g1 */
	CHECK_EQ(duty_budget_ms(&d, 2), 36000);              /* 1 % */
	CHECK_EQ(duty_band_of(&d, 868950000, 250000), 3);   /* g2 */
	CHECK_EQ(duty_budget_ms(&d, 3), 3600);               /* 0.1 % */
	/* Straddling a band edge or in a gap: nowhere. */
	CHECK_EQ(duty_band_of(&d, 868550000, 125000), -1);
	CHECK_EQ(duty_band_of(&d, 869300000, 125000), -1);
	CHECK_EQ(duty_band_of(&d, 869550000, 500000), -1);
	CHECK_EQ(duty_band_of(&d, 915000000, 125000), -1);
	CHECK_EQ(duty_set_region(&d, 77), -1);
	CHECK_EQ(d.region, APG_REGION_NONE);
}

static void
test_duty_window(void)
{
	struct duty d;
	uint64_t t0 = 5 * 3600000ull + 1234;  /* any time after boot */
	uint32_t w;

	duty_init(&d);
	duty_set_region(&d, APG_REGION_EU868);
	/* g1, 1 %: 36 s per hour. */
	CHECK_EQ(duty_check(&d, 2, 36000, t0), 0);
	CHECK_EQ(duty_check(&d, 2, 36001, t0), UINT32_MAX);
	duty_book(&d, 2, 20000, t0);
	duty_book(&d, 2, 15000, t0 + 30 * 60000);
	CHECK_EQ(duty_used_ms(&d, 2, t0 + 30 * 60000), 35000);
	CHECK_EQ(duty_check(&d, 2, 1000, t0 + 30 * 60000), 0);
	w = duty_check(&d, 2, 1001, t0 + 30 * 60000);
	/* The 20 s booked at t0 leave the window no earlier than an hour after t0. */
	CHECK(w != 0 && w != UINT32_MAX);
	CHECK(t0 + 30 * 60000 + w >= t0 + 3600000);
	CHECK(t0 + 30 * 60000 + w <= t0 + 3660000);
	/* Just before that time it is still refused, at that time it is allowed. */
	CHECK(duty_check(&d, 2, 1001, t0 + 30 * 60000 + w - 1) != 0);
	CHECK_EQ(duty_check(&d, 2, 1001, t0 + 30 * 60000 + w), 0);
	CHECK_EQ(duty_used_ms(&d, 2, t0 + 30 * 60000 + w), 15000);
	/* Never exceeded: book greedily every second for two hours and check every
	 * one-hour window afterwards. */
	{
		static uint32_t per_sec[7200];
		struct duty e;
		uint64_t base = 1000000;

		duty_init(&e);
		duty_set_region(&e, APG_REGION_EU868);
		memset(per_sec, 0, sizeof per_sec);
		for (unsigned s = 0; s < 7200; s++) {
			uint64_t t = base + s * 1000ull;

			if (duty_check(&e, 2, 400, t) == 0) {
				duty_book(&e, 2, 400, t);
				per_sec[s] = 400;
			} else {
				duty_refused(&e, 2);
			}
		}
		for (unsigned s = 0; s + 3600 <= 7200; s++) {
			uint32_t sum = 0;

			for (unsigned k = s; k < s + 3600; k++)
				sum += per_sec[k];
			CHECK(sum <= 36000);
		}
		CHECK(e.use[2].refusals > 0);
		CHECK_EQ(e.use[2].total_ms, 36000 * 2);
	}
}

/* ---- TX queue ---- */

static void
test_txq_precedence(void)
{
	struct txq q;
	uint8_t b[1], ev = 0xff;
	const struct txq_slot *s;

	txq_init(&q);
	for (uint8_t i = 0; i < 3; i++) {
		b[0] = i;
		CHECK_EQ(txq_push(&q, APG_PREC_ROUTINE, b, 1, NULL), 0);
	}
	b[0] = 100;
	CHECK_EQ(txq_push(&q, APG_PREC_FLASH, b, 1, NULL), 0);
	b[0] = 50;
	CHECK_EQ(txq_push(&q, APG_PREC_PRIORITY, b, 1, NULL), 0);
	s = txq_peek(&q);
	CHECK_EQ(s->data[0], 100);
	txq_pop(&q, s);
	s = txq_peek(&q);
	CHECK_EQ(s->data[0], 50);
	txq_pop(&q, s);
	for (uint8_t i = 0; i < 3; i++) {
		s = txq_peek(&q);
		CHECK_EQ(s->data[0], i);   /* FIFO within a precedence */
		txq_pop(&q, s);
	}
	CHECK(txq_peek(&q) == NULL);
	/* Full of ROUTINE: FLASH evicts the newest ROUTINE and goes first. */
	for (uint8_t i = 0; i < TXQ_SLOTS; i++) {
		b[0] = i;
		CHECK_EQ(txq_push(&q, APG_PREC_ROUTINE, b, 1, NULL), 0);
	}
	b[0] = 99;
	CHECK_EQ(txq_push(&q, APG_PREC_ROUTINE, b, 1, NULL), -1);
	CHECK_EQ(txq_push(&q, APG_PREC_FLASH, b, 1, &ev), 1);
	CHECK_EQ(ev, APG_PREC_ROUTINE);
	CHECK_EQ(q.count, TXQ_SLOTS);
	CHECK_EQ(txq_peek(&q)->data[0], 99);
	for (unsigned i = 0; i < TXQ_SLOTS; i++) {
		s = txq_peek(&q);
		CHECK(s->data[0] != TXQ_SLOTS - 1);  /* the evicted one */
		txq_pop(&q, s);
	}
	/* Full of FLASH: ROUTINE is refused. */
	for (uint8_t i = 0; i < TXQ_SLOTS; i++)
		CHECK_EQ(txq_push(&q, APG_PREC_FLASH, b, 1, NULL), 0);
	CHECK_EQ(txq_push(&q, APG_PREC_ROUTINE, b, 1, NULL), -1);
	CHECK_EQ(txq_push(&q, APG_PREC_FLASH, b, 0, NULL), -1);
}

/* ---- the driver against the chip model, on a fake board ---- */

struct fake {
	uint64_t ms;
	struct sx_model chip;
	int dead;             /* SPI returns zeros: no chip */
	int stuck_busy;
	uint8_t in[2048];
	size_t in_len, in_off;
	uint8_t out[8192];
	size_t out_len;
	/* Frames the chip put on the air. */
	int sent;
	uint8_t last[256];
	size_t last_len;
	uint32_t last_air;
};

static uint64_t f_now(void *c) { return ((struct fake *)c)->ms; }

static size_t
f_read(void *c, uint8_t *b, size_t cap)
{
	struct fake *f = c;
	size_t n = f->in_len - f->in_off;

	if (n > cap)
		n = cap;
	memcpy(b, f->in + f->in_off, n);
	f->in_off += n;
	return n;
}

static size_t
f_write(void *c, const uint8_t *b, size_t n)
{
	struct fake *f = c;

	if (n > sizeof f->out - f->out_len)
		n = sizeof f->out - f->out_len;
	memcpy(f->out + f->out_len, b, n);
	f->out_len += n;
	return n;
}

static void
f_spi(void *c, const uint8_t *tx, uint8_t *rx, size_t n)
{
	struct fake *f = c;

	if (f->dead) {
		if (rx)
			memset(rx, 0, n);
		return;
	}
	sx_model_spi(&f->chip, tx, rx, n, f->ms * 1000);
}

static int
f_busy(void *c)
{
	struct fake *f = c;

	if (f->stuck_busy) {
		f->ms++;  /* time passes while the driver polls */
		return 1;
	}
	return 0;
}

static int
f_dio1(void *c)
{
	struct fake *f = c;

	sx_model_tick(&f->chip, f->ms * 1000);
	return sx_model_dio1(&f->chip);
}

static void f_reset(void *c) { sx_model_reset(&((struct fake *)c)->chip); }
static void f_delay(void *c, uint32_t ms) { ((struct fake *)c)->ms += ms; }

static const struct hal_ops fake_ops = {
	.now_ms = f_now, .uart_read = f_read, .uart_write = f_write, .spi_transfer = f_spi,
	.radio_busy = f_busy, .radio_dio1 = f_dio1, .radio_reset = f_reset, .delay_ms = f_delay,
};
static const struct hal_info fake_info = {
	.name = "test", .platform = 0xF0, .mcu = 0xF0, .tcxo_mv = 1800, .dio2_rf_switch = 1,
	.dcdc = 1, .max_dbm = 22,
};

static void
f_link_tx(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr, int8_t power_dbm,
    uint32_t airtime_us, const uint8_t *data, size_t len)
{
	struct fake *f = ctx;

	(void)freq_hz; (void)bw_hz; (void)sf; (void)cr; (void)power_dbm;
	f->sent++;
	memcpy(f->last, data, len);
	f->last_len = len;
	f->last_air = airtime_us;
}

static struct fake *
fake_new(void)
{
	struct fake *f = calloc(1, sizeof *f);
	struct sxm_link l = { f_link_tx, f };

	f->ms = 1000;
	sx_model_init(&f->chip, &l);
	return f;
}

static void
test_sx126x_init_configure(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);
	struct radio_config c = lora(11, 250000, 5, 16);

	c.freq_hz = 869525000;
	c.power_dbm = 14;
	c.sync_word = 0x12;
	CHECK_EQ(r.ops->init(r.ctx), 0);
	CHECK_EQ(f->chip.packet_type, SX126X_PACKET_TYPE_LORA);
	CHECK_EQ(f->chip.tcxo, 2);              /* 1.8 V */
	CHECK_EQ(f->chip.dio2_rf_switch, 1);
	CHECK_EQ(f->chip.regulator, 1);
	CHECK_EQ(f->chip.pa[0], 0x04);
	CHECK_EQ(f->chip.pa[1], 0x07);
	CHECK_EQ(f->chip.regs[SX126X_REG_OCP], 0x38);
	CHECK(f->chip.dio1_mask & SX126X_IRQ_RX_DONE);
	CHECK_EQ(f->chip.bad_commands, 0);
	CHECK_EQ(r.ops->configure(r.ctx, &c), 0);
	/* 869.525 MHz * 2^25 / 32 MHz = 911,763,046.4 -> 911763046. */
	CHECK_EQ(f->chip.frf, 911763046);
	CHECK_EQ(sx_model_freq_hz(&f->chip), 869525000);
	CHECK_EQ(f->chip.sf, 11);
	CHECK_EQ(f->chip.bw_code, 0x05);
	CHECK_EQ(f->chip.cr, 1);
	CHECK_EQ(f->chip.ldro, 0);
	CHECK_EQ(f->chip.preamble, 16);
	CHECK_EQ(f->chip.crc_on, 1);
	CHECK_EQ(f->chip.power_dbm, 14);
	CHECK_EQ(f->chip.regs[SX126X_REG_LORA_SYNC_WORD], 0x14);
	CHECK_EQ(f->chip.regs[SX126X_REG_LORA_SYNC_WORD + 1], 0x24);
	CHECK(f->chip.regs[SX126X_REG_TX_MODULATION] & 0x04);
	/* SF12 at 125 kHz needs LDRO; 500 kHz clears the errata bit. */
	c = lora(12, 125000, 8, 8);
	c.freq_hz = 868100000;
	CHECK_EQ(r.ops->configure(r.ctx, &c), 0);
	CHECK_EQ(f->chip.ldro, 1);
	CHECK_EQ(f->chip.cr, 4);
	c = lora(7, 500000, 5, 8);
	c.freq_hz = 868100000;
	CHECK_EQ(r.ops->configure(r.ctx, &c), 0);
	CHECK(!(f->chip.regs[SX126X_REG_TX_MODULATION] & 0x04));
	c.bw_hz = 300000;
	CHECK_EQ(r.ops->configure(r.ctx, &c), RADIO_EINVAL);
	CHECK_EQ(f->chip.bad_commands, 0);
	free(f);
}

static void
test_sx126x_absent(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);

	f->dead = 1;
	CHECK_EQ(r.ops->init(r.ctx), RADIO_ECHIP);
	f->dead = 0;
	f->stuck_busy = 1;
	CHECK_EQ(r.ops->init(r.ctx), RADIO_ETIMEDOUT);
	CHECK(sx.busy_timeouts > 0);
	free(f);
}

static void
test_sx126x_tx_rx_cad(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);
	struct radio_config c = lora(7, 125000, 5, 8);
	struct radio_event ev;
	uint8_t buf[256], payload[51];

	c.freq_hz = 868100000;
	c.power_dbm = 14;
	c.sync_word = 0x12;
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i ^ 0xC0);
	CHECK_EQ(r.ops->init(r.ctx), 0);
	CHECK_EQ(r.ops->configure(r.ctx, &c), 0);
	/* TX: the frame leaves with the datasheet airtime; TxDone after it, not before. */
	CHECK_EQ(r.ops->tx(r.ctx, payload, sizeof payload), 0);
	CHECK_EQ(f->sent, 1);
	CHECK_EQ(f->last_len, sizeof payload);
	CHECK(memcmp(f->last, payload, sizeof payload) == 0);
	CHECK_EQ(f->last_air, 102656);
	CHECK_EQ(f->chip.mode, SXM_TX);
	f->ms += 100;
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 0);
	f->ms += 3;
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 1);
	CHECK_EQ(ev.type, RADIO_EV_TX_DONE);
	CHECK_EQ(f->chip.mode, SXM_STBY_RC);
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 0);  /* cleared */
	/* RX: a frame heard from start to end. */
	CHECK_EQ(r.ops->rx(r.ctx), 0);
	sx_model_onair(&f->chip, 7, 868100000, 125000, 7, -97, -13, 50000, f->ms * 1000);
	f->ms += 50;
	sx_model_rxend(&f->chip, 7, 1, payload, 20, f->ms * 1000);
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 1);
	CHECK_EQ(ev.type, RADIO_EV_RX_DONE);
	CHECK_EQ(ev.len, 20);
	CHECK(memcmp(buf, payload, 20) == 0);
	CHECK_EQ(ev.rssi_dbm, -97);
	CHECK_EQ(ev.snr_db4, -13);
	CHECK_EQ(f->chip.mode, SXM_RX);   /* continuous */
	/* A collided frame: an RX error, no data. */
	sx_model_onair(&f->chip, 8, 868100000, 125000, 7, -90, 20, 50000, f->ms * 1000);
	f->ms += 50;
	sx_model_rxend(&f->chip, 8, 0, payload, 20, f->ms * 1000);
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 1);
	CHECK_EQ(ev.type, RADIO_EV_RX_ERROR);
	/* Another SF is not heard at all. */
	sx_model_onair(&f->chip, 9, 868100000, 125000, 9, -90, 20, 50000, f->ms * 1000);
	f->ms += 50;
	sx_model_rxend(&f->chip, 9, 1, payload, 20, f->ms * 1000);
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 0);
	/* CAD on a quiet channel, then with a frame on air. */
	f->ms += 2000;
	CHECK_EQ(r.ops->standby(r.ctx), 0);
	CHECK_EQ(r.ops->cad(r.ctx), 0);
	f->ms += 10;
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 1);
	CHECK_EQ(ev.type, RADIO_EV_CAD_DONE);
	CHECK_EQ(ev.cad_busy, 0);
	sx_model_onair(&f->chip, 10, 868100000, 125000, 7, -100, -20, 80000, f->ms * 1000);
	CHECK_EQ(r.ops->cad(r.ctx), 0);
	f->ms += 10;
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 1);
	CHECK_EQ(ev.type, RADIO_EV_CAD_DONE);
	CHECK_EQ(ev.cad_busy, 1);
	/* Below the SF7 floor (-7.5 dB): CAD does not see it. */
	f->ms += 2000;
	sx_model_onair(&f->chip, 11, 868100000, 125000, 7, -120, -40, 80000, f->ms * 1000);
	CHECK_EQ(r.ops->cad(r.ctx), 0);
	f->ms += 10;
	CHECK_EQ(r.ops->irq(r.ctx, &ev, buf, sizeof buf), 1);
	CHECK_EQ(ev.cad_busy, 0);
	CHECK_EQ(f->chip.bad_commands, 0);
	free(f);
}

/* ---- the core, end to end on the fake board ---- */

static void
host_send(struct fake *f, uint8_t cmd, const uint8_t *arg, size_t len)
{
	f->in_len += kiss_encode(f->in + f->in_len, sizeof f->in - f->in_len, cmd, arg, len);
}

static void
run(struct modem *m, struct fake *f, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		modem_poll(m);
		f->ms++;
	}
}

/* Count reply frames with command `cmd` in the output so far; the argument of the
 * last one in *arg (up to 64 bytes). */
static int
replies(struct fake *f, uint8_t cmd, uint8_t *arg, size_t *len)
{
	uint8_t body[300];
	struct kiss_decoder d;
	int n = 0;

	kiss_decoder_init(&d, body, sizeof body);
	for (size_t i = 0; i < f->out_len; i++)
		if (kiss_decode_byte(&d, f->out[i]) && d.buf[0] == cmd) {
			n++;
			if (arg) {
				*len = d.len - 1 > 64 ? 64 : d.len - 1;
				memcpy(arg, d.buf + 1, *len);
			}
		}
	return n;
}

static void
configure(struct fake *f, uint32_t freq, uint32_t bw, uint8_t sf, int region)
{
	uint8_t b[4];

	if (region >= 0) {
		b[0] = (uint8_t)region;
		host_send(f, APG_CMD_REGION, b, 1);
	}
	rnode_put_u32(b, freq);
	host_send(f, RNODE_CMD_FREQUENCY, b, 4);
	rnode_put_u32(b, bw);
	host_send(f, RNODE_CMD_BANDWIDTH, b, 4);
	b[0] = sf;
	host_send(f, RNODE_CMD_SF, b, 1);
	b[0] = 1;
	host_send(f, RNODE_CMD_RADIO_STATE, b, 1);
}

static void
test_modem_detect_and_readback(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	static struct modem m;
	static struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);
	uint8_t arg[64], b[4] = { RNODE_DETECT_REQ };
	size_t len;

	CHECK_EQ(modem_init(&m, &hal, &r), 0);
	host_send(f, RNODE_CMD_DETECT, b, 1);
	b[0] = 0;
	host_send(f, RNODE_CMD_FW_VERSION, b, 1);
	configure(f, 869525000, 250000, 11, APG_REGION_EU868);
	run(&m, f, 20);
	CHECK_EQ(replies(f, RNODE_CMD_DETECT, arg, &len), 1);
	CHECK_EQ(arg[0], RNODE_DETECT_RESP);
	CHECK_EQ(replies(f, RNODE_CMD_FW_VERSION, arg, &len), 1);
	CHECK_EQ(len, 2);
	CHECK_EQ(replies(f, RNODE_CMD_FREQUENCY, arg, &len), 1);
	CHECK_EQ(rnode_get_u32(arg), 869525000);
	CHECK_EQ(replies(f, RNODE_CMD_BANDWIDTH, arg, &len), 1);
	CHECK_EQ(rnode_get_u32(arg), 250000);
	CHECK_EQ(replies(f, RNODE_CMD_RADIO_STATE, arg, &len), 1);
	CHECK_EQ(arg[0], 1);
	CHECK_EQ(f->chip.mode, SXM_RX);
	CHECK_EQ(sx_model_freq_hz(&f->chip), 869525000);
	/* A wrong-length FREQUENCY is an error, not a crash or a silent change. */
	host_send(f, RNODE_CMD_FREQUENCY, b, 2);
	run(&m, f, 5);
	CHECK_EQ(replies(f, RNODE_CMD_ERROR, arg, &len), 1);
	CHECK_EQ(arg[0], APG_ERROR_BAD_COMMAND);
	CHECK_EQ(m.stat[APG_STAT_BAD_COMMANDS], 1);
	free(f);
}

static void
test_modem_no_region_no_tx(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	static struct modem m;
	static struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);
	uint8_t arg[64], data[20] = "no region, no TX";
	size_t len;

	CHECK_EQ(modem_init(&m, &hal, &r), 0);
	configure(f, 869525000, 250000, 11, -1);
	host_send(f, RNODE_CMD_DATA, data, sizeof data);
	run(&m, f, 3000);
	CHECK_EQ(f->sent, 0);
	CHECK_EQ(f->chip.frames_sent, 0);
	CHECK_EQ(replies(f, RNODE_CMD_ERROR, arg, &len), 1);
	CHECK_EQ(arg[0], APG_ERROR_NO_REGION);
	CHECK_EQ(m.stat[APG_STAT_NO_REGION_REFUSALS], 1);
	/* A channel outside every EU868 band is refused too. */
	arg[0] = APG_REGION_EU868;
	host_send(f, APG_CMD_REGION, arg, 1);
	rnode_put_u32(arg, 869300000);
	host_send(f, RNODE_CMD_FREQUENCY, arg, 4);
	host_send(f, RNODE_CMD_DATA, data, sizeof data);
	run(&m, f, 3000);
	CHECK_EQ(f->sent, 0);
	CHECK_EQ(replies(f, RNODE_CMD_ERROR, arg, &len), 2);
	CHECK_EQ(arg[0], APG_ERROR_FREQ_NOT_ALLOWED);
	free(f);
}

static void
test_modem_flash_first_and_duty(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	static struct modem m;
	static struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);
	uint8_t arg[64], data[1 + 200];
	size_t len;
	int order[4], n = 0, last_sent = 0;

	CHECK_EQ(modem_init(&m, &hal, &r), 0);
	/* g2 (0.1 %: 3.6 s per hour) at SF11/250: a 200-byte frame is 1.7 s on air. */
	configure(f, 868950000, 250000, 11, APG_REGION_EU868);
	run(&m, f, 5);
	/* Three ROUTINE, then a FLASH once the first of them is on air. */
	for (int i = 0; i < 3; i++) {
		memset(data, 'r', sizeof data);
		data[1] = (uint8_t)i;
		host_send(f, RNODE_CMD_DATA, data + 1, 200);
	}
	for (int i = 0; i < 20000 && n < 4; i++) {
		if (n == 1 && data[1] != 9) {
			/* The first ROUTINE is on air: now a FLASH arrives. */
			data[0] = APG_PREC_FLASH;
			data[1] = 9;
			host_send(f, APG_CMD_DATA_PREC, data, 201);
		}
		run(&m, f, 1);
		if (f->sent != last_sent) {
			last_sent = f->sent;
			order[n++] = f->last[0];
		}
	}
	/* The FLASH goes right after the ROUTINE on air, before the two queued ones.
	 * Then the 3.6 s budget is spent: those two are refused. */
	CHECK_EQ(f->sent, 2);
	CHECK_EQ(order[0], 0);
	CHECK_EQ(order[1], 9);
	CHECK_EQ(m.stat[APG_STAT_TX_FRAMES], 2);
	CHECK_EQ(m.stat[APG_STAT_DUTY_REFUSALS], 2);
	CHECK(m.stat[APG_STAT_TX_AIRTIME_MS] <= 3600);
	CHECK_EQ(replies(f, RNODE_CMD_ERROR, arg, &len), 2);
	CHECK_EQ(arg[0], APG_ERROR_DUTY_CYCLE);
	CHECK(rnode_get_u32(arg + 1) > 3000000);  /* about an hour to wait */
	CHECK_EQ(replies(f, APG_CMD_TX_DONE, arg, &len), 2);
	CHECK_EQ(arg[0], APG_PREC_FLASH);
	free(f);
}

static void
test_modem_listen_before_talk(void)
{
	struct fake *f = fake_new();
	struct hal hal = { &fake_ops, f, &fake_info };
	static struct modem m;
	static struct sx126x sx;
	struct radio r = sx126x_radio(&sx, &hal);
	uint8_t data[30] = "wait for the channel";
	uint64_t busy_until, sent_at = 0;

	CHECK_EQ(modem_init(&m, &hal, &r), 0);
	configure(f, 869525000, 250000, 11, APG_REGION_EU868);
	run(&m, f, 10);
	/* Another radio's 1.5 s frame is on the air, heard well above the SF11 floor. */
	sx_model_onair(&f->chip, 77, 869525000, 250000, 11, -90, 40, 1500000, f->ms * 1000);
	busy_until = f->ms + 1500;
	host_send(f, RNODE_CMD_DATA, data, sizeof data);
	for (int i = 0; i < 5000 && !f->sent; i++) {
		run(&m, f, 1);
		if (f->sent)
			sent_at = f->ms;
	}
	CHECK_EQ(f->sent, 1);
	CHECK(m.stat[APG_STAT_LBT_BUSY] >= 1);
	CHECK(sent_at >= busy_until);
	free(f);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_kiss_roundtrip),
		TEST(test_kiss_escapes),
		TEST(test_kiss_errors),
		TEST(test_rnode_parse),
		TEST(test_airtime),
		TEST(test_duty_bands),
		TEST(test_duty_window),
		TEST(test_txq_precedence),
		TEST(test_sx126x_init_configure),
		TEST(test_sx126x_absent),
		TEST(test_sx126x_tx_rx_cad),
		TEST(test_modem_detect_and_readback),
		TEST(test_modem_no_region_no_tx),
		TEST(test_modem_flash_first_and_duty),
		TEST(test_modem_listen_before_talk),
	};

	return test_main("firmware", cases, sizeof cases / sizeof cases[0], argc, argv);
}
