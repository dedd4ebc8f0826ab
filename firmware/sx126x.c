/*
 * SX1261/SX1262 driver at SPI command level (firmware/sx126x.h). Every number below
 * comes from the Semtech SX1261/2 datasheet rev 2.1; the section is quoted with it.
 */
#include "sx126x.h"

#include <stddef.h>
#include <string.h>

#include "airtime.h"
#include "sx126x_regs.h"

/* BUSY stays high at most ~3.5 ms after a calibration (table 8-1, 13.1.12); allow
 * more before calling the chip absent. */
#define BUSY_TIMEOUT_MS 20

#define DIO1_IRQS (SX126X_IRQ_TX_DONE | SX126X_IRQ_RX_DONE | SX126X_IRQ_CRC_ERR | \
	SX126X_IRQ_HEADER_ERR | SX126X_IRQ_CAD_DONE | SX126X_IRQ_CAD_DETECTED | SX126X_IRQ_TIMEOUT)

static int
wait_busy(struct sx126x *sx)
{
	const struct hal *h = sx->hal;
	uint64_t start;

	if (!h->ops->radio_busy(h->ctx))
		return 0;
	start = h->ops->now_ms(h->ctx);
	while (h->ops->radio_busy(h->ctx)) {
		if (h->ops->now_ms(h->ctx) - start > BUSY_TIMEOUT_MS) {
			sx->busy_timeouts++;
			return RADIO_ETIMEDOUT;
		}
	}
	return 0;
}

/* One command: opcode and arguments out, `rx` (same length, may be NULL) in. */
static int
xfer(struct sx126x *sx, const uint8_t *tx, uint8_t *rx, size_t n)
{
	int r = wait_busy(sx);

	if (r)
		return r;
	sx->hal->ops->spi_transfer(sx->hal->ctx, tx, rx, n);
	return 0;
}

static int
cmd1(struct sx126x *sx, uint8_t op, uint8_t a)
{
	uint8_t b[2] = { op, a };

	return xfer(sx, b, NULL, 2);
}

static int
write_reg(struct sx126x *sx, uint16_t addr, const uint8_t *data, size_t n)
{
	uint8_t b[3 + 8];

	if (n > 8)
		return RADIO_EINVAL;
	b[0] = SX126X_WRITE_REGISTER;
	b[1] = (uint8_t)(addr >> 8);
	b[2] = (uint8_t)addr;
	memcpy(b + 3, data, n);
	return xfer(sx, b, NULL, 3 + n);
}

static int
read_reg(struct sx126x *sx, uint16_t addr, uint8_t *data, size_t n)
{
	uint8_t tx[4 + 8] = { 0 }, rx[4 + 8];
	int r;

	if (n > 8)
		return RADIO_EINVAL;
	/* ReadRegister: opcode, address, one NOP for the status, then data (13.2.2). */
	tx[0] = SX126X_READ_REGISTER;
	tx[1] = (uint8_t)(addr >> 8);
	tx[2] = (uint8_t)addr;
	if ((r = xfer(sx, tx, rx, 4 + n)))
		return r;
	memcpy(data, rx + 4, n);
	return 0;
}

static int
clear_irq(struct sx126x *sx, uint16_t mask)
{
	uint8_t b[3] = { SX126X_CLEAR_IRQ_STATUS, (uint8_t)(mask >> 8), (uint8_t)mask };

	return xfer(sx, b, NULL, 3);
}

int
sx126x_bw_code(uint32_t bw_hz)
{
	/* Table 13-48; RNode's rounded figures are accepted too. */
	switch (bw_hz) {
	case 7800: case 7810: return 0x00;
	case 10400: case 10420: return 0x08;
	case 15600: case 15630: return 0x01;
	case 20800: case 20830: return 0x09;
	case 31250: return 0x02;
	case 41700: case 41670: return 0x0A;
	case 62500: return 0x03;
	case 125000: return 0x04;
	case 250000: return 0x05;
	case 500000: return 0x06;
	default: return -1;
	}
}

/* SetDIO3AsTcxoCtrl voltage code (13.3.6, table 13-35). */
static uint8_t
tcxo_code(uint16_t mv)
{
	static const uint16_t v[] = { 1600, 1700, 1800, 2200, 2400, 2700, 3000, 3300 };

	for (uint8_t i = 0; i < 8; i++)
		if (mv <= v[i])
			return i;
	return 7;
}

static int
sx_init(void *ctx)
{
	struct sx126x *sx = ctx;
	const struct hal *h = sx->hal;
	const struct hal_info *info = h->info;
	uint8_t st[2] = { SX126X_GET_STATUS, 0 }, rs[2];
	uint8_t pt[3] = { SX126X_GET_PACKET_TYPE, 0, 0 }, rp[3];
	int r;

	sx->configured = 0;
	h->ops->radio_reset(h->ctx);
	/* Power-on/reset to STDBY_RC: BUSY high for up to a few ms (table 8-1). */
	h->ops->delay_ms(h->ctx, 5);
	if ((r = cmd1(sx, SX126X_SET_STANDBY, SX126X_STDBY_RC)))
		return r;
	if (info && info->tcxo_mv) {
		/* TCXO from DIO3, 5 ms start-up: delay in 15.625 us steps = 320 (13.3.6). */
		uint8_t b[5] = { SX126X_SET_DIO3_TCXO, tcxo_code(info->tcxo_mv), 0x00, 0x01, 0x40 };

		if ((r = xfer(sx, b, NULL, sizeof b)))
			return r;
	}
	/* Calibrate every block (13.1.12): RC64k, RC13M, PLL, ADC pulse/bulk N/P, image. */
	if ((r = cmd1(sx, SX126X_CALIBRATE, 0x7F)))
		return r;
	if ((r = wait_busy(sx)))
		return r;
	if (info && info->tcxo_mv) {
		/* The TCXO start-up is flagged XOSC_START_ERR during calibration (13.3.6). */
		uint8_t b[3] = { SX126X_CLEAR_DEVICE_ERRORS, 0, 0 };

		if ((r = xfer(sx, b, NULL, 3)))
			return r;
	}
	/* DC-DC when the board has the inductor, LDO otherwise (13.1.14). */
	if ((r = cmd1(sx, SX126X_SET_REGULATOR_MODE, info && info->dcdc ? 1 : 0)))
		return r;
	if (info && info->dio2_rf_switch && (r = cmd1(sx, SX126X_SET_DIO2_RF_SWITCH, 1)))
		return r;
	if ((r = cmd1(sx, SX126X_SET_PACKET_TYPE, SX126X_PACKET_TYPE_LORA)))
		return r;
	{
		/* TX and RX both from buffer address 0: one frame at a time (13.4.8). */
		uint8_t b[3] = { SX126X_SET_BUFFER_BASE_ADDRESS, 0, 0 };

		if ((r = xfer(sx, b, NULL, 3)))
			return r;
	}
	{
		/* SX1262 high-power PA for up to +22 dBm: paDutyCycle 4, hpMax 7,
		 * deviceSel 0 (SX1262), paLut 1 (13.1.14, table 13-21). */
		uint8_t b[5] = { SX126X_SET_PA_CONFIG, 0x04, 0x07, 0x00, 0x01 };

		if ((r = xfer(sx, b, NULL, 5)))
			return r;
	}
	{
		/* Over-current protection 140 mA for the SX1262 PA: 0x38 x 2.5 mA (12.1). */
		uint8_t ocp = 0x38;

		if ((r = write_reg(sx, SX126X_REG_OCP, &ocp, 1)))
			return r;
	}
	{
		/* Every IRQ we handle, all of them routed to DIO1 (13.3.1). */
		uint8_t b[9] = { SX126X_SET_DIO_IRQ_PARAMS, DIO1_IRQS >> 8, DIO1_IRQS & 0xff,
			DIO1_IRQS >> 8, DIO1_IRQS & 0xff, 0, 0, 0, 0 };

		if ((r = xfer(sx, b, NULL, 9)))
			return r;
	}
	if ((r = clear_irq(sx, SX126X_IRQ_ALL)))
		return r;
	/* Presence check: a chip in standby that reads back the LoRa packet type. With
	 * no chip on the bus MISO reads all zeros or all ones. */
	if ((r = xfer(sx, st, rs, 2)) || (r = xfer(sx, pt, rp, 3)))
		return r;
	if (((rs[1] >> 4) & 7) != SX126X_MODE_STBY_RC || rp[2] != SX126X_PACKET_TYPE_LORA)
		return RADIO_ECHIP;
	return 0;
}

static int
calibrate_image(struct sx126x *sx, uint32_t f)
{
	/* Image calibration per band (9.2.1, table 9-2). */
	uint8_t b[3] = { SX126X_CALIBRATE_IMAGE, 0, 0 };

	if (f > 900000000u) {
		b[1] = 0xE1; b[2] = 0xE9;
	} else if (f > 850000000u) {
		b[1] = 0xD7; b[2] = 0xDB;
	} else if (f > 770000000u) {
		b[1] = 0xC1; b[2] = 0xC5;
	} else if (f > 460000000u) {
		b[1] = 0x75; b[2] = 0x81;
	} else {
		b[1] = 0x6B; b[2] = 0x6F;
	}
	return xfer(sx, b, NULL, 3);
}

static int
packet_params(struct sx126x *sx, const struct radio_config *c, uint8_t len)
{
	/* PreambleLength (2), HeaderType, PayloadLength, CRCType, InvertIQ (13.4.6.2). */
	uint8_t b[7] = { SX126X_SET_PACKET_PARAMS, (uint8_t)(c->preamble >> 8),
		(uint8_t)c->preamble, c->implicit ? 1 : 0, len, c->crc ? 1 : 0, 0 };

	return xfer(sx, b, NULL, 7);
}

static int
sx_configure(void *ctx, const struct radio_config *c)
{
	struct sx126x *sx = ctx;
	int bw = sx126x_bw_code(c->bw_hz), r;
	uint32_t frf;
	uint8_t reg;

	if (bw < 0 || c->sf < 5 || c->sf > 12 || c->cr < 5 || c->cr > 8 ||
	    c->freq_hz < 150000000u || c->freq_hz > 960000000u ||
	    c->power_dbm < -9 || c->power_dbm > 22 || c->preamble < 1)
		return RADIO_EINVAL;
	if ((r = calibrate_image(sx, c->freq_hz)))
		return r;
	/* RfFreq = f * 2^25 / Fxtal (13.4.1). */
	frf = (uint32_t)(((uint64_t)c->freq_hz << 25) / SX126X_XTAL_HZ);
	{
		uint8_t b[5] = { SX126X_SET_RF_FREQUENCY, (uint8_t)(frf >> 24), (uint8_t)(frf >> 16),
			(uint8_t)(frf >> 8), (uint8_t)frf };

		if ((r = xfer(sx, b, NULL, 5)))
			return r;
	}
	{
		/* SF, BW, CR (1..4 = 4/5..4/8), LowDataRateOptimize (13.4.5.2). */
		uint8_t b[5] = { SX126X_SET_MODULATION_PARAMS, c->sf, (uint8_t)bw,
			(uint8_t)(c->cr - 4), (uint8_t)lora_ldro(c->sf, c->bw_hz) };

		if ((r = xfer(sx, b, NULL, 5)))
			return r;
	}
	if ((r = packet_params(sx, c, 255)))
		return r;
	{
		/* LoRa sync word 0xXY is written as 0xX4 0xY4 (12.1, 0x0740). */
		uint8_t sw[2] = { (uint8_t)((c->sync_word & 0xF0) | 0x04),
			(uint8_t)(((c->sync_word & 0x0F) << 4) | 0x04) };

		if ((r = write_reg(sx, SX126X_REG_LORA_SYNC_WORD, sw, 2)))
			return r;
	}
	{
		/* Power in dBm, ramp 200 us (0x04) (13.4.4). */
		uint8_t b[3] = { SX126X_SET_TX_PARAMS, (uint8_t)c->power_dbm, 0x04 };

		if ((r = xfer(sx, b, NULL, 3)))
			return r;
	}
	/* Errata 15.1: bit 2 of 0x0889 cleared at 500 kHz, set at every other BW. */
	if ((r = read_reg(sx, SX126X_REG_TX_MODULATION, &reg, 1)))
		return r;
	reg = c->bw_hz == 500000 ? (uint8_t)(reg & ~0x04) : (uint8_t)(reg | 0x04);
	if ((r = write_reg(sx, SX126X_REG_TX_MODULATION, &reg, 1)))
		return r;
	sx->cfg = *c;
	sx->configured = 1;
	return 0;
}

static int
sx_tx(void *ctx, const uint8_t *buf, size_t len)
{
	struct sx126x *sx = ctx;
	uint8_t b[2 + 255];
	uint32_t t;
	int r;

	if (!sx->configured)
		return RADIO_ESTATE;
	if (len == 0 || len > 255)
		return RADIO_EINVAL;
	if ((r = packet_params(sx, &sx->cfg, (uint8_t)len)))
		return r;
	/* WriteBuffer: opcode, offset, data (13.2.3). */
	b[0] = SX126X_WRITE_BUFFER;
	b[1] = 0;
	memcpy(b + 2, buf, len);
	if ((r = xfer(sx, b, NULL, 2 + len)))
		return r;
	if ((r = clear_irq(sx, SX126X_IRQ_ALL)))
		return r;
	/* TX timeout: twice the airtime, in steps of 15.625 us (13.1.4). */
	t = lora_airtime_us(&sx->cfg, len);
	t = t > 0x7FFFFFFFu / 128 ? 0xFFFFFF : t * 2 * 64 / 1000;
	if (t > 0xFFFFFF)
		t = 0xFFFFFF;
	{
		uint8_t c[4] = { SX126X_SET_TX, (uint8_t)(t >> 16), (uint8_t)(t >> 8), (uint8_t)t };

		return xfer(sx, c, NULL, 4);
	}
}

static int
sx_rx(void *ctx)
{
	struct sx126x *sx = ctx;
	/* Timeout 0xFFFFFF: continuous receive, stays in RX after each frame (13.1.5). */
	uint8_t c[4] = { SX126X_SET_RX, 0xFF, 0xFF, 0xFF };
	int r;

	if (!sx->configured)
		return RADIO_ESTATE;
	if ((r = packet_params(sx, &sx->cfg, 255)) || (r = clear_irq(sx, SX126X_IRQ_ALL)))
		return r;
	return xfer(sx, c, NULL, 4);
}

static int
sx_cad(void *ctx)
{
	struct sx126x *sx = ctx;
	/* cadDetPeak by SF from Semtech AN1200.48 (2 symbols); cadDetMin 10. */
	static const uint8_t peak[13] = { 0, 0, 0, 0, 0, 20, 20, 22, 22, 23, 24, 25, 28 };
	uint8_t sf = sx->cfg.sf;
	uint8_t b[8], c[1] = { SX126X_SET_CAD };
	int r;

	if (!sx->configured || sf < 5 || sf > 12)
		return RADIO_ESTATE;
	/* cadSymbolNum (0x01: 2 symbols, 0x02: 4), cadDetPeak, cadDetMin, cadExitMode
	 * CAD_ONLY, cadTimeout (13.4.7). */
	b[0] = SX126X_SET_CAD_PARAMS;
	b[1] = sf < 7 ? 0x02 : 0x01;
	b[2] = peak[sf];
	b[3] = 10;
	b[4] = 0x00;
	b[5] = b[6] = b[7] = 0;
	if ((r = xfer(sx, b, NULL, 8)) || (r = clear_irq(sx, SX126X_IRQ_ALL)))
		return r;
	return xfer(sx, c, NULL, 1);
}

static int
sx_standby(void *ctx)
{
	return cmd1(ctx, SX126X_SET_STANDBY, SX126X_STDBY_RC);
}

static int
sx_irq(void *ctx, struct radio_event *ev, uint8_t *buf, size_t cap)
{
	struct sx126x *sx = ctx;
	const struct hal *h = sx->hal;
	uint8_t tx[4] = { SX126X_GET_IRQ_STATUS, 0, 0, 0 }, rx[4];
	uint16_t irq;
	int r;

	memset(ev, 0, sizeof *ev);
	if (!h->ops->radio_dio1(h->ctx))
		return 0;
	/* GetIrqStatus: opcode, status, IRQ MSB, LSB (13.3.3). */
	if ((r = xfer(sx, tx, rx, 4)))
		return r;
	irq = (uint16_t)(rx[2] << 8 | rx[3]);
	sx->last_irq = irq;
	if ((r = clear_irq(sx, irq ? irq : SX126X_IRQ_ALL)))
		return r;
	if (irq & SX126X_IRQ_TX_DONE) {
		ev->type = RADIO_EV_TX_DONE;
		return 1;
	}
	if (irq & SX126X_IRQ_CAD_DONE) {
		ev->type = RADIO_EV_CAD_DONE;
		ev->cad_busy = (irq & SX126X_IRQ_CAD_DETECTED) != 0;
		return 1;
	}
	if ((irq & SX126X_IRQ_RX_DONE) && !(irq & (SX126X_IRQ_CRC_ERR | SX126X_IRQ_HEADER_ERR))) {
		uint8_t bs[4] = { SX126X_GET_RX_BUFFER_STATUS, 0, 0, 0 }, bsr[4];
		uint8_t ps[5] = { SX126X_GET_PACKET_STATUS, 0, 0, 0, 0 }, psr[5];
		uint8_t rb[3 + 255] = { SX126X_READ_BUFFER }, rbr[3 + 255];
		size_t len;

		/* GetRxBufferStatus: status, PayloadLengthRx, RxStartBufferPointer
		 * (13.5.2). */
		if ((r = xfer(sx, bs, bsr, 4)))
			return r;
		len = bsr[2];
		if (len > cap)
			len = cap;
		/* ReadBuffer: opcode, offset, NOP (status), data (13.2.4). */
		rb[1] = bsr[3];
		if ((r = xfer(sx, rb, rbr, 3 + len)))
			return r;
		memcpy(buf, rbr + 3, len);
		/* GetPacketStatus, LoRa: RssiPkt, SnrPkt, SignalRssiPkt (13.5.3):
		 * RSSI = -RssiPkt/2 dBm, SNR = SnrPkt/4 dB (two's complement). */
		if ((r = xfer(sx, ps, psr, 5)))
			return r;
		ev->type = RADIO_EV_RX_DONE;
		ev->len = (uint16_t)len;
		ev->rssi_dbm = (int16_t)-(psr[2] / 2);
		ev->snr_db4 = (int8_t)psr[3];
		return 1;
	}
	if (irq & (SX126X_IRQ_RX_DONE | SX126X_IRQ_CRC_ERR | SX126X_IRQ_HEADER_ERR)) {
		ev->type = RADIO_EV_RX_ERROR;
		return 1;
	}
	if (irq & SX126X_IRQ_TIMEOUT) {
		ev->type = RADIO_EV_TIMEOUT;
		return 1;
	}
	return 0;
}

static int
sx_rssi(void *ctx, int16_t *dbm)
{
	struct sx126x *sx = ctx;
	/* GetRssiInst: opcode, status, RssiInst; RSSI = -RssiInst/2 dBm (13.5.4). */
	uint8_t tx[3] = { SX126X_GET_RSSI_INST, 0, 0 }, rx[3];
	int r;

	if ((r = xfer(sx, tx, rx, 3)))
		return r;
	*dbm = (int16_t)-(rx[2] / 2);
	return 0;
}

const struct radio_ops sx126x_ops = {
	.name = "sx1262",
	.init = sx_init,
	.configure = sx_configure,
	.tx = sx_tx,
	.rx = sx_rx,
	.cad = sx_cad,
	.standby = sx_standby,
	.irq = sx_irq,
	.rssi = sx_rssi,
};

struct radio
sx126x_radio(struct sx126x *sx, const struct hal *hal)
{
	struct radio r = { &sx126x_ops, sx };

	memset(sx, 0, sizeof *sx);
	sx->hal = hal;
	return r;
}
