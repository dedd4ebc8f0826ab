/*
 * firmware/host/rnode_stock.h: a board running stock RNode firmware, for the host
 * simulation only (apagon-modem-sim --rnode).
 *
 * It answers what RNode_Firmware answers and nothing else (facts from
 * markqvist/RNode_Firmware Framing.h, Config.h, Utilities.h, RNode_Firmware.ino; our
 * own code): DETECT, FW_VERSION, PLATFORM, MCU, FREQUENCY, BANDWIDTH, TXPOWER, SF, CR,
 * RADIO_STATE, READY, STAT_RX/TX, ST_ALOCK/LT_ALOCK, DATA; it reports RSSI and SNR
 * before each frame, channel time (STAT_CHTM) and PHY parameters (STAT_PHYPRM) on its
 * own, and says RESET at boot. apagon's commands (0xA0..) are ignored. It has no
 * regions and no duty-cycle limiter: only the two airtime locks the host may set.
 *
 * On air, as RNode firmware does, every frame carries a one-byte header (a random
 * sequence nibble and a split flag); a payload over 254 bytes goes out as two frames.
 * The preamble is the firmware's own choice: at least 18 symbols, 24 ms.
 *
 * It drives the same radio table (the real SX1262 driver and chip model) and HAL as
 * the apagon modem core, so only the firmware behaviour differs.
 */
#ifndef APAGON_FW_RNODE_STOCK_H
#define APAGON_FW_RNODE_STOCK_H

#include <stddef.h>
#include <stdint.h>

#include "../hal.h"
#include "../proto/kiss.h"
#include "../radio.h"

#define RNS_QUEUE     8              /* frames waiting for the channel */
#define RNS_MTU       508            /* RNode's MTU: two frames of 254 */
#define RNS_BINS      480            /* 7.5 s bins over one hour (Config.h) */
#define RNS_BIN_MS    7500u

struct rnode_stock {
	const struct hal *hal;
	struct radio radio;
	int radio_ok, online;
	int8_t max_dbm;                 /* the board's TX power ceiling */
	int32_t freq_report_offset;     /* Hz: an SX127x reports its synthesizer's value */
	uint8_t version[2];

	/* Host settings; 0 / 0xFF: not set (the radio stays locked). */
	uint32_t freq, bw;
	int txp;
	uint8_t sf, cr;
	uint16_t st_alock, lt_alock;    /* 1/100 %; 0: no lock */
	struct radio_config cfg;

	struct kiss_decoder kd;
	uint8_t kbuf[RNS_MTU + 16];
	uint8_t out[4096];
	size_t out_len;

	struct {
		uint16_t len;
		uint8_t data[RNS_MTU];
	} q[RNS_QUEUE];
	unsigned qhead, qcount;
	enum { RNS_RX, RNS_CAD, RNS_BACKOFF, RNS_TX } state;
	uint64_t deadline_ms;
	uint8_t txbuf[255];
	size_t tx_rest_off, tx_rest_len;  /* second half of a split frame */
	uint8_t tx_header;

	uint8_t rxbuf[255];
	uint8_t pbuf[RNS_MTU];
	size_t plen;
	uint8_t seq;                    /* 0xFF: no split frame pending */

	uint32_t bins[RNS_BINS];        /* own airtime per bin, ms */
	uint64_t bin_at;                /* index of the newest bin, absolute */
	uint64_t last_stats_ms;
	uint32_t stat_rx, stat_tx;
	uint32_t rng;
};

/* Bring the board up (radio init), say RESET on the serial line. */
int rnode_stock_init(struct rnode_stock *r, const struct hal *hal, const struct radio *radio,
    int8_t max_dbm);

/* One turn: serial input, radio events, the queue; idles through the HAL when idle. */
void rnode_stock_poll(struct rnode_stock *r);

#endif
