/*
 * SX1262 model at SPI command level (firmware/host/sx126x_model.h). Host build only.
 */
#include "sx126x_model.h"

#include <string.h>

#include "../airtime.h"
#include "../sx126x_regs.h"

/* Demodulation SNR floor per SF in quarter dB (datasheet table 6-1 margins: SF5
 * -2.5 dB .. SF12 -20 dB). */
static const int8_t snr_floor4[13] = { 0, 0, 0, 0, 0, -10, -20, -30, -40, -50, -60, -70, -80 };

static const uint32_t bw_of_code[16] = {
	[0x00] = 7810, [0x08] = 10420, [0x01] = 15630, [0x09] = 20830, [0x02] = 31250,
	[0x0A] = 41670, [0x03] = 62500, [0x04] = 125000, [0x05] = 250000, [0x06] = 500000,
};

void
sx_model_reset(struct sx_model *m)
{
	struct sxm_link link = m->link;

	memset(m, 0, sizeof *m);
	m->link = link;
	m->mode = SXM_STBY_RC;
	m->packet_type = SX126X_PACKET_TYPE_GFSK;
	m->preamble = 8;
	m->sf = 7;
	m->bw_code = 0x04;
	m->cr = 1;
	m->noise_dbm = -120;
	/* Power-on register values the driver reads back (chapter 12). */
	m->regs[SX126X_REG_LORA_SYNC_WORD] = 0x14;
	m->regs[SX126X_REG_LORA_SYNC_WORD + 1] = 0x24;
	m->regs[SX126X_REG_OCP] = 0x18;
}

void
sx_model_init(struct sx_model *m, const struct sxm_link *link)
{
	memset(m, 0, sizeof *m);
	if (link)
		m->link = *link;
	sx_model_reset(m);
}

static uint8_t
status(const struct sx_model *m)
{
	static const uint8_t mode_bits[] = {
		[SXM_STBY_RC] = SX126X_MODE_STBY_RC, [SXM_STBY_XOSC] = SX126X_MODE_STBY_XOSC,
		[SXM_FS] = SX126X_MODE_FS, [SXM_RX] = SX126X_MODE_RX, [SXM_TX] = SX126X_MODE_TX,
		[SXM_CAD] = SX126X_MODE_RX, [SXM_SLEEP] = 0,
	};

	return (uint8_t)(mode_bits[m->mode] << 4 | (m->cmd_status & 7) << 1);
}

uint32_t
sx_model_freq_hz(const struct sx_model *m)
{
	return (uint32_t)(((uint64_t)m->frf * SX126X_XTAL_HZ + (1u << 24)) >> 25);
}

uint32_t
sx_model_bw_hz(const struct sx_model *m)
{
	return bw_of_code[m->bw_code & 15];
}

static struct radio_config
cfg_of(const struct sx_model *m, size_t len)
{
	struct radio_config c;

	memset(&c, 0, sizeof c);
	c.freq_hz = sx_model_freq_hz(m);
	c.bw_hz = sx_model_bw_hz(m);
	c.sf = m->sf;
	c.cr = (uint8_t)(m->cr + 4);
	c.preamble = m->preamble;
	c.crc = m->crc_on;
	c.implicit = m->implicit;
	(void)len;
	return c;
}

static void
raise_irq(struct sx_model *m, uint16_t bits)
{
	m->irq |= bits & m->irq_mask;
}

/* Does the current RX/CAD channel match a frame's? */
static int
same_channel(const struct sx_model *m, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf)
{
	uint32_t f = sx_model_freq_hz(m);
	uint32_t d = f > freq_hz ? f - freq_hz : freq_hz - f;

	/* Within a quarter of the bandwidth: the LoRa demodulator's offset tolerance. */
	return sf == m->sf && bw_hz == sx_model_bw_hz(m) && d <= bw_hz / 4;
}

static void
enter_rx(struct sx_model *m)
{
	m->mode = SXM_RX;
	m->rx_epoch++;
}

/* Argument count of each opcode the model knows, -1 for unknown. Reads give the
 * number of bytes the host must clock (including NOPs) as a minimum. */
static int
min_len(uint8_t op)
{
	switch (op) {
	case SX126X_SET_STANDBY: case SX126X_SET_REGULATOR_MODE: case SX126X_CALIBRATE:
	case SX126X_SET_PACKET_TYPE: case SX126X_SET_DIO2_RF_SWITCH: case SX126X_SET_SLEEP:
	case SX126X_SET_LORA_SYMB_TIMEOUT:
		return 2;
	case SX126X_SET_CAD: case SX126X_SET_FS:
		return 1;
	case SX126X_GET_STATUS:
		return 2;
	case SX126X_CALIBRATE_IMAGE: case SX126X_SET_TX_PARAMS: case SX126X_CLEAR_IRQ_STATUS:
	case SX126X_SET_BUFFER_BASE_ADDRESS: case SX126X_CLEAR_DEVICE_ERRORS:
	case SX126X_GET_PACKET_TYPE: case SX126X_GET_RSSI_INST:
		return 3;
	case SX126X_SET_TX: case SX126X_SET_RX: case SX126X_GET_IRQ_STATUS:
	case SX126X_GET_RX_BUFFER_STATUS: case SX126X_GET_DEVICE_ERRORS:
		return 4;
	case SX126X_SET_RF_FREQUENCY: case SX126X_SET_PA_CONFIG: case SX126X_SET_DIO3_TCXO:
	case SX126X_GET_PACKET_STATUS:
		return 5;
	case SX126X_SET_MODULATION_PARAMS:
		return 5;  /* LoRa: SF, BW, CR, LDRO */
	case SX126X_SET_PACKET_PARAMS:
		return 7;  /* LoRa: preamble(2), header, length, CRC, IQ */
	case SX126X_SET_CAD_PARAMS:
		return 8;
	case SX126X_SET_DIO_IRQ_PARAMS:
		return 9;
	case SX126X_WRITE_REGISTER:
		return 4;
	case SX126X_READ_REGISTER:
		return 5;
	case SX126X_WRITE_BUFFER:
		return 3;
	case SX126X_READ_BUFFER:
		return 4;
	default:
		return -1;
	}
}

static int
standby_only(struct sx_model *m)
{
	if (m->mode == SXM_STBY_RC || m->mode == SXM_STBY_XOSC)
		return 1;
	/* Datasheet: these commands are accepted in standby only (13.4). */
	m->cmd_status = 0x5;  /* failure to execute */
	m->bad_commands++;
	return 0;
}

void
sx_model_spi(struct sx_model *m, const uint8_t *tx, uint8_t *rx, size_t n, uint64_t now_us)
{
	uint8_t out[300];
	uint8_t op;
	int need;

	if (n == 0)
		return;
	if (n > sizeof out)
		n = sizeof out;
	sx_model_tick(m, now_us);
	memset(out, 0, n);
	op = tx[0];
	need = min_len(op);
	m->spi_commands++;
	if (m->mode == SXM_SLEEP && op != SX126X_GET_STATUS)
		m->mode = SXM_STBY_RC;  /* NSS falling edge wakes the chip (13.1.1) */
	if (need < 0 || n < (size_t)need) {
		m->cmd_status = 0x5;
		m->bad_commands++;
		goto out;
	}
	m->cmd_status = 0x1;  /* RFU/ok; 0x2 = data available for the reads below */
	switch (op) {
	case SX126X_SET_STANDBY:
		m->mode = tx[1] ? SXM_STBY_XOSC : SXM_STBY_RC;
		break;
	case SX126X_SET_SLEEP:
		m->mode = SXM_SLEEP;
		break;
	case SX126X_SET_FS:
		m->mode = SXM_FS;
		break;
	case SX126X_SET_REGULATOR_MODE:
		m->regulator = tx[1];
		break;
	case SX126X_CALIBRATE:
	case SX126X_CALIBRATE_IMAGE:
		if (!standby_only(m))
			break;
		break;
	case SX126X_SET_DIO2_RF_SWITCH:
		m->dio2_rf_switch = tx[1];
		break;
	case SX126X_SET_DIO3_TCXO:
		m->tcxo = tx[1];
		break;
	case SX126X_SET_PA_CONFIG:
		memcpy(m->pa, tx + 1, 4);
		break;
	case SX126X_SET_PACKET_TYPE:
		if (standby_only(m))
			m->packet_type = tx[1];
		break;
	case SX126X_GET_PACKET_TYPE:
		m->cmd_status = 0x2;
		out[2] = m->packet_type;
		break;
	case SX126X_SET_RF_FREQUENCY:
		m->frf = (uint32_t)tx[1] << 24 | (uint32_t)tx[2] << 16 | (uint32_t)tx[3] << 8 | tx[4];
		break;
	case SX126X_SET_MODULATION_PARAMS:
		if (m->packet_type != SX126X_PACKET_TYPE_LORA || tx[1] < 5 || tx[1] > 12 ||
		    !bw_of_code[tx[2] & 15] || tx[2] > 0x0A || tx[3] < 1 || tx[3] > 4) {
			m->cmd_status = 0x5;
			m->bad_commands++;
			break;
		}
		m->sf = tx[1];
		m->bw_code = tx[2];
		m->cr = tx[3];
		m->ldro = tx[4];
		break;
	case SX126X_SET_PACKET_PARAMS:
		m->preamble = (uint16_t)(tx[1] << 8 | tx[2]);
		m->implicit = tx[3];
		m->payload_len = tx[4];
		m->crc_on = tx[5];
		m->invert_iq = tx[6];
		break;
	case SX126X_SET_TX_PARAMS:
		m->power_dbm = (int8_t)tx[1];
		m->ramp = tx[2];
		break;
	case SX126X_SET_BUFFER_BASE_ADDRESS:
		m->tx_base = tx[1];
		m->rx_base = tx[2];
		break;
	case SX126X_SET_DIO_IRQ_PARAMS:
		m->irq_mask = (uint16_t)(tx[1] << 8 | tx[2]);
		m->dio1_mask = (uint16_t)(tx[3] << 8 | tx[4]);
		break;
	case SX126X_GET_IRQ_STATUS:
		m->cmd_status = 0x2;
		out[2] = (uint8_t)(m->irq >> 8);
		out[3] = (uint8_t)m->irq;
		break;
	case SX126X_CLEAR_IRQ_STATUS:
		m->irq &= (uint16_t)~(tx[1] << 8 | tx[2]);
		break;
	case SX126X_GET_DEVICE_ERRORS:
		m->cmd_status = 0x2;
		out[2] = (uint8_t)(m->errors >> 8);
		out[3] = (uint8_t)m->errors;
		break;
	case SX126X_CLEAR_DEVICE_ERRORS:
		m->errors = 0;
		break;
	case SX126X_GET_STATUS:
		break;
	case SX126X_GET_RSSI_INST: {
		/* Strongest frame on air on our channel, else the noise floor. */
		int16_t p = m->noise_dbm;

		for (unsigned i = 0; i < SXM_MAX_ONAIR; i++)
			if (m->onair[i].id && m->onair[i].end_us > now_us &&
			    same_channel(m, m->onair[i].freq_hz, m->onair[i].bw_hz, m->onair[i].sf) &&
			    m->onair[i].rssi_dbm > p)
				p = m->onair[i].rssi_dbm;
		m->cmd_status = 0x2;
		out[2] = (uint8_t)(p > 0 ? 0 : p < -127 ? 254 : -2 * p);
		break;
	}
	case SX126X_GET_RX_BUFFER_STATUS:
		m->cmd_status = 0x2;
		out[2] = m->rx_len;
		out[3] = m->rx_start;
		break;
	case SX126X_GET_PACKET_STATUS:
		m->cmd_status = 0x2;
		out[2] = m->rssi_pkt;
		out[3] = m->snr_pkt;
		out[4] = m->rssi_pkt;
		break;
	case SX126X_WRITE_REGISTER: {
		uint16_t a = (uint16_t)(tx[1] << 8 | tx[2]);

		for (size_t i = 3; i < n; i++, a++)
			m->regs[a & 0xFFF] = tx[i];
		break;
	}
	case SX126X_READ_REGISTER: {
		uint16_t a = (uint16_t)(tx[1] << 8 | tx[2]);

		m->cmd_status = 0x2;
		for (size_t i = 4; i < n; i++, a++)
			out[i] = m->regs[a & 0xFFF];
		break;
	}
	case SX126X_WRITE_BUFFER: {
		uint8_t a = tx[1];

		for (size_t i = 2; i < n; i++, a++)
			m->buf[a] = tx[i];
		break;
	}
	case SX126X_READ_BUFFER: {
		uint8_t a = tx[1];

		m->cmd_status = 0x2;
		for (size_t i = 3; i < n; i++, a++)
			out[i] = m->buf[a];
		break;
	}
	case SX126X_SET_LORA_SYMB_TIMEOUT:
		break;
	case SX126X_SET_CAD_PARAMS:
		m->cad_symbols = tx[1];
		m->cad_peak = tx[2];
		m->cad_min = tx[3];
		m->cad_exit = tx[4];
		break;
	case SX126X_SET_TX: {
		uint32_t timeout = (uint32_t)tx[1] << 16 | (uint32_t)tx[2] << 8 | tx[3];
		struct radio_config c = cfg_of(m, m->payload_len);
		uint32_t air = lora_airtime_us(&c, m->payload_len);
		uint8_t frame[256];

		if (m->packet_type != SX126X_PACKET_TYPE_LORA || m->mode == SXM_TX || !air) {
			m->cmd_status = 0x5;
			m->bad_commands++;
			break;
		}
		m->mode = SXM_TX;
		m->tx_timeout = 0;
		m->tx_end_us = now_us + air;
		/* Timeout in steps of 15.625 us; 0 means none (13.1.4). */
		if (timeout && (uint64_t)timeout * 15625 / 1000 < air) {
			m->tx_timeout = 1;
			m->tx_end_us = now_us + (uint64_t)timeout * 15625 / 1000;
		}
		for (unsigned i = 0; i < m->payload_len; i++)
			frame[i] = m->buf[(uint8_t)(m->tx_base + i)];
		m->frames_sent++;
		if (m->link.tx && !m->tx_timeout)
			m->link.tx(m->link.ctx, c.freq_hz, c.bw_hz, m->sf, (uint8_t)(m->cr + 4),
			    m->power_dbm, air, frame, m->payload_len);
		break;
	}
	case SX126X_SET_RX:
		if (m->packet_type != SX126X_PACKET_TYPE_LORA) {
			m->cmd_status = 0x5;
			m->bad_commands++;
			break;
		}
		/* Only continuous RX (0xFFFFFF) is modelled; other timeouts act the same. */
		enter_rx(m);
		break;
	case SX126X_SET_CAD: {
		uint32_t sym_us = (uint32_t)(((uint64_t)1 << m->sf) * 1000000u / sx_model_bw_hz(m));
		unsigned syms = 1u << (m->cad_symbols > 4 ? 4 : m->cad_symbols);

		if (m->packet_type != SX126X_PACKET_TYPE_LORA) {
			m->cmd_status = 0x5;
			m->bad_commands++;
			break;
		}
		m->mode = SXM_CAD;
		m->cad_start_us = now_us;
		/* The symbols listened to, then about half a symbol of processing. */
		m->cad_end_us = now_us + syms * sym_us + sym_us / 2;
		break;
	}
	}
out:
	out[0] = status(m);
	if (n > 1 && (op == SX126X_GET_STATUS || op == SX126X_GET_IRQ_STATUS ||
	    op == SX126X_GET_PACKET_TYPE || op == SX126X_GET_RSSI_INST ||
	    op == SX126X_GET_RX_BUFFER_STATUS || op == SX126X_GET_PACKET_STATUS ||
	    op == SX126X_GET_DEVICE_ERRORS || op == SX126X_READ_BUFFER))
		out[1] = status(m);
	if (op == SX126X_READ_REGISTER && n > 3)
		out[3] = status(m);
	if (rx)
		memcpy(rx, out, n);
}

int
sx_model_dio1(const struct sx_model *m)
{
	return (m->irq & m->dio1_mask) != 0;
}

void
sx_model_tick(struct sx_model *m, uint64_t now_us)
{
	if (m->mode == SXM_TX && now_us >= m->tx_end_us) {
		/* TX ends in STDBY_RC, the default fallback mode (13.1.15). */
		m->mode = SXM_STBY_RC;
		raise_irq(m, m->tx_timeout ? SX126X_IRQ_TIMEOUT : SX126X_IRQ_TX_DONE);
	}
	if (m->mode == SXM_CAD && now_us >= m->cad_end_us) {
		int busy = 0;

		for (unsigned i = 0; i < SXM_MAX_ONAIR; i++) {
			const struct sxm_onair *o = &m->onair[i];

			/* Any part of the frame inside the listening window, heard above
			 * the SF's floor. */
			if (o->id && o->end_us > m->cad_start_us &&
			    same_channel(m, o->freq_hz, o->bw_hz, o->sf) &&
			    o->snr_db4 >= snr_floor4[o->sf])
				busy = 1;
		}
		m->mode = SXM_STBY_RC;  /* cadExitMode CAD_ONLY */
		raise_irq(m, (uint16_t)(SX126X_IRQ_CAD_DONE | (busy ? SX126X_IRQ_CAD_DETECTED : 0)));
	}
	/* Forget frames long gone (kept a second for CAD windows that began earlier). */
	for (unsigned i = 0; i < SXM_MAX_ONAIR; i++)
		if (m->onair[i].id && m->onair[i].end_us + 1000000 < now_us)
			m->onair[i].id = 0;
}

uint64_t
sx_model_next_us(const struct sx_model *m, uint64_t now_us)
{
	uint64_t t = UINT64_MAX;

	if (m->mode == SXM_TX)
		t = m->tx_end_us;
	if (m->mode == SXM_CAD)
		t = m->cad_end_us;
	if (t == UINT64_MAX)
		return t;
	return t > now_us ? t - now_us : 0;
}

void
sx_model_onair(struct sx_model *m, uint32_t id, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf,
    int16_t rssi_dbm, int8_t snr_db4, uint32_t airtime_us, uint64_t now_us)
{
	struct sxm_onair *slot = NULL;

	sx_model_tick(m, now_us);
	for (unsigned i = 0; i < SXM_MAX_ONAIR; i++) {
		if (!m->onair[i].id) {
			slot = &m->onair[i];
			break;
		}
		if (!slot || m->onair[i].end_us < slot->end_us)
			slot = &m->onair[i];
	}
	if (sf > 12)
		sf = 12;
	slot->id = id ? id : 1;
	slot->end_us = now_us + airtime_us;
	slot->freq_hz = freq_hz;
	slot->bw_hz = bw_hz;
	slot->sf = sf;
	slot->rssi_dbm = rssi_dbm;
	slot->snr_db4 = snr_db4;
	slot->heard = m->mode == SXM_RX && same_channel(m, freq_hz, bw_hz, sf);
	slot->rx_epoch = m->rx_epoch;
}

void
sx_model_rxend(struct sx_model *m, uint32_t id, int ok, const uint8_t *data, size_t len,
    uint64_t now_us)
{
	struct sxm_onair *o = NULL;

	sx_model_tick(m, now_us);
	for (unsigned i = 0; i < SXM_MAX_ONAIR; i++)
		if (m->onair[i].id == id)
			o = &m->onair[i];
	/* Heard from its preamble to its end in one unbroken RX session, or missed. */
	if (!o || !o->heard || m->mode != SXM_RX || o->rx_epoch != m->rx_epoch ||
	    o->snr_db4 < snr_floor4[o->sf]) {
		m->frames_missed++;
		return;
	}
	o->heard = 0;
	if (!ok) {
		/* A collision garbles the frame: the header or payload CRC fails. */
		raise_irq(m, SX126X_IRQ_HEADER_ERR);
		return;
	}
	if (len > 255)
		len = 255;
	for (size_t i = 0; i < len; i++)
		m->buf[(uint8_t)(m->rx_base + i)] = data[i];
	m->rx_len = (uint8_t)len;
	m->rx_start = m->rx_base;
	/* GetPacketStatus encodings (13.5.3): RssiPkt = -2 x dBm, SnrPkt = 4 x dB. */
	m->rssi_pkt = (uint8_t)(o->rssi_dbm > 0 ? 0 : o->rssi_dbm < -127 ? 254 : -2 * o->rssi_dbm);
	m->snr_pkt = (uint8_t)o->snr_db4;
	m->frames_received++;
	raise_irq(m, SX126X_IRQ_RX_DONE);
}
