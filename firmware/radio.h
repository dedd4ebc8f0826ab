/*
 * firmware/radio.h: the radio-operations table the modem core drives.
 *
 * In the shape of LoRaMac-node's radio.h, with a context pointer: the core holds a
 * `struct radio` (ops + ctx) and never knows which chip is behind it. The one real
 * driver is firmware/sx126x.c (SX1261/SX1262 at SPI command level).
 *
 * Every operation returns 0 or a negative RADIO_E* code and never blocks for longer
 * than the chip's BUSY time (a few hundred microseconds): TX, RX and CAD are started
 * here and finish later, reported by irq().
 */
#ifndef APAGON_FW_RADIO_H
#define APAGON_FW_RADIO_H

#include <stddef.h>
#include <stdint.h>

enum {
	RADIO_OK = 0,
	RADIO_EINVAL = -1,  /* a parameter out of the chip's range */
	RADIO_ETIMEDOUT = -2, /* BUSY stayed high: chip absent, unpowered or hung */
	RADIO_ECHIP = -3,   /* the chip reported an error (GetDeviceErrors) */
	RADIO_ESTATE = -4,  /* wrong state for this operation (e.g. tx while tx) */
};

/* LoRa modulation and packet parameters, in the units of the datasheet. */
struct radio_config {
	uint32_t freq_hz;   /* carrier, e.g. 869525000 */
	uint32_t bw_hz;     /* 7800 .. 500000 (SX126x LoRa bandwidths) */
	uint8_t sf;         /* spreading factor 5..12 */
	uint8_t cr;         /* coding rate denominator 5..8: 4/5 .. 4/8 */
	uint16_t preamble;  /* preamble symbols */
	int8_t power_dbm;   /* TX power at the chip's output */
	uint8_t crc;        /* 1: payload CRC on */
	uint8_t implicit;   /* 1: implicit header (fixed length) */
	uint8_t sync_word;  /* LoRa sync word byte, 0x12 private / 0x34 public */
};

enum radio_event_type {
	RADIO_EV_NONE = 0,
	RADIO_EV_TX_DONE,   /* a transmission ended */
	RADIO_EV_RX_DONE,   /* a frame arrived, CRC good: buf/len/rssi/snr valid */
	RADIO_EV_RX_ERROR,  /* a frame arrived with a bad CRC or header */
	RADIO_EV_TIMEOUT,   /* TX or RX timeout */
	RADIO_EV_CAD_DONE,  /* channel activity detection ended: `cad_busy` valid */
};

struct radio_event {
	enum radio_event_type type;
	uint16_t len;       /* RX_DONE: bytes copied to the caller's buffer */
	int16_t rssi_dbm;   /* RX_DONE: packet RSSI */
	int8_t snr_db4;     /* RX_DONE: packet SNR in quarter dB */
	uint8_t cad_busy;   /* CAD_DONE: 1 if LoRa activity was detected */
};

struct radio_ops {
	const char *name;
	/* Reset and bring the chip up (calibration, regulator, TCXO, RF switch), leave it
	 * in standby. */
	int (*init)(void *ctx);
	/* Apply frequency, modulation, packet parameters and power. In standby only. */
	int (*configure)(void *ctx, const struct radio_config *cfg);
	/* Start sending `len` bytes (1..255); TX_DONE follows. */
	int (*tx)(void *ctx, const uint8_t *buf, size_t len);
	/* Enter continuous receive. */
	int (*rx)(void *ctx);
	/* Start one channel activity detection; CAD_DONE follows, then the chip is in
	 * standby. */
	int (*cad)(void *ctx);
	/* Go to standby (aborts TX, RX or CAD). */
	int (*standby)(void *ctx);
	/* IRQ handling: if the chip has raised an interrupt, read and clear it and
	 * describe it in *ev; on RX_DONE copy at most `cap` payload bytes to `buf`.
	 * Returns 1 with *ev filled, 0 if nothing happened, or a negative error. */
	int (*irq)(void *ctx, struct radio_event *ev, uint8_t *buf, size_t cap);
	/* Instantaneous RSSI of the channel in dBm while receiving (channel load). */
	int (*rssi)(void *ctx, int16_t *dbm);
};

struct radio {
	const struct radio_ops *ops;
	void *ctx;
};

#endif
