/*
 * firmware/host/sx126x_model.h: a small SX1262 model at the SPI command level, for
 * the host build only. The host HAL routes the driver's spi_transfer, BUSY and DIO1
 * reads here, so the real driver (firmware/sx126x.c) runs unchanged in the simulated
 * modem and in the unit tests.
 *
 * What it models: the opcodes the driver uses (datasheet chapter 13) with their
 * argument lengths and response layout (status byte, then data), chip modes, the data
 * buffer, IRQ status/mask/DIO1 routing, TX taking its time on air (or a TX timeout),
 * continuous RX, CAD over the frames currently on air, packet status. Frames leave and
 * arrive through a link (the channel simulator); the model never touches sockets.
 * What it does not: FSK, sleep/retention, real BUSY timing (BUSY is always low).
 */
#ifndef APAGON_SX126X_MODEL_H
#define APAGON_SX126X_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define SXM_MAX_ONAIR 32

enum sxm_mode { SXM_STBY_RC = 0, SXM_STBY_XOSC, SXM_FS, SXM_RX, SXM_TX, SXM_CAD, SXM_SLEEP };

/* A frame another radio is sending, as heard here. */
struct sxm_onair {
	uint32_t id;
	uint64_t end_us;
	uint32_t freq_hz, bw_hz;
	uint8_t sf;
	int16_t rssi_dbm;
	int8_t snr_db4;
	uint8_t heard;       /* we were receiving on its channel when it started */
	uint32_t rx_epoch;   /* our RX session it started in */
};

struct sxm_link {
	/* The chip starts sending: parameters and bytes for the channel. */
	void (*tx)(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr,
	    int8_t power_dbm, uint32_t airtime_us, const uint8_t *data, size_t len);
	void *ctx;
};

struct sx_model {
	enum sxm_mode mode;
	uint8_t packet_type;
	uint8_t buf[256];
	uint8_t tx_base, rx_base;
	uint32_t frf;
	uint8_t sf, bw_code, cr, ldro;
	uint16_t preamble;
	uint8_t implicit, payload_len, crc_on, invert_iq;
	int8_t power_dbm;
	uint8_t ramp, pa[4], regulator, dio2_rf_switch, tcxo;
	uint8_t cad_symbols, cad_peak, cad_min, cad_exit;
	uint16_t irq_mask, dio1_mask, irq;
	uint16_t errors;
	uint8_t cmd_status;     /* bits 3:1 of the status byte */
	uint8_t rx_len, rx_start;
	uint8_t rssi_pkt, snr_pkt, rssi_inst;
	uint64_t tx_end_us, cad_end_us, cad_start_us;
	uint8_t tx_timeout;     /* TX ends in a timeout rather than TxDone */
	uint32_t rx_epoch;
	uint8_t regs[0x1000];
	struct sxm_onair onair[SXM_MAX_ONAIR];
	struct sxm_link link;
	int16_t noise_dbm;
	/* Counters for tests. */
	uint32_t spi_commands, bad_commands, frames_sent, frames_received, frames_missed;
};

void sx_model_init(struct sx_model *m, const struct sxm_link *link);
/* After a reset pulse: everything back to power-on defaults, link kept. */
void sx_model_reset(struct sx_model *m);
/* One SPI transaction (NSS low .. high) at time now_us. */
void sx_model_spi(struct sx_model *m, const uint8_t *tx, uint8_t *rx, size_t n, uint64_t now_us);
/* Level of DIO1. */
int sx_model_dio1(const struct sx_model *m);
/* Let time pass: ends TX and CAD that are due. */
void sx_model_tick(struct sx_model *m, uint64_t now_us);
/* Microseconds until the next TX/CAD end, or UINT64_MAX. */
uint64_t sx_model_next_us(const struct sx_model *m, uint64_t now_us);

/* The channel: a frame starts arriving (rssi/snr as heard here). */
void sx_model_onair(struct sx_model *m, uint32_t id, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf,
    int16_t rssi_dbm, int8_t snr_db4, uint32_t airtime_us, uint64_t now_us);
/* The channel: frame `id` ended; ok = 0 if it was lost to a collision. */
void sx_model_rxend(struct sx_model *m, uint32_t id, int ok, const uint8_t *data, size_t len,
    uint64_t now_us);

/* Current channel as the chip is configured. */
uint32_t sx_model_freq_hz(const struct sx_model *m);
uint32_t sx_model_bw_hz(const struct sx_model *m);

#endif
