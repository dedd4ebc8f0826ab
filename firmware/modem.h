/*
 * firmware/modem.h: the portable modem core, the entry points a board's main() calls.
 *
 * The core speaks KISS/RNode to the host over the board's UART (firmware/proto/),
 * drives a radio through its operations table (firmware/radio.h), and enforces the
 * law before every transmission: a region must be set, the channel must lie in one of
 * the region's sub-bands, the band's one-hour duty cycle and power limit must allow the
 * frame (firmware/duty.h), and the channel must be free (CAD, listen before talk).
 * Frames wait in a precedence queue (firmware/txq.h). No malloc, no stdio: the board
 * allocates `struct modem` statically (about 6 KiB).
 *
 *	static struct modem modem;
 *	modem_init(&modem, &hal, &radio);
 *	for (;;)
 *		modem_poll(&modem);
 */
#ifndef APAGON_FW_MODEM_H
#define APAGON_FW_MODEM_H

#include <stddef.h>
#include <stdint.h>

#include "duty.h"
#include "hal.h"
#include "proto/kiss.h"
#include "proto/rnode.h"
#include "radio.h"
#include "txq.h"

#define MODEM_FW_MAJOR 1
#define MODEM_FW_MINOR 52   /* RNode hosts require 1.52 or later */

#define MODEM_UART_OUT 1024  /* serial output ring */
#define MODEM_LBT_MAX_TRIES 16

enum modem_state {
	MODEM_OFF = 0,    /* radio off (RADIO_STATE 0): no RX, no TX */
	MODEM_RX,         /* continuous receive */
	MODEM_CAD,        /* listening before talking */
	MODEM_BACKOFF,    /* channel was busy: wait, then CAD again */
	MODEM_TX,         /* transmitting */
};

struct modem {
	const struct hal *hal;
	struct radio radio;
	struct radio_config cfg;
	uint8_t radio_on;        /* host asked RADIO_STATE on */
	uint8_t radio_ok;        /* radio init and configure succeeded */
	enum modem_state state;
	uint64_t deadline_ms;    /* BACKOFF end, TX/CAD watchdog */
	unsigned lbt_tries;
	uint32_t tx_airtime_ms;  /* of the frame on air */
	int tx_band;
	uint8_t tx_prec;
	uint32_t rng;

	struct kiss_decoder kiss;
	uint8_t kiss_buf[260];   /* command + precedence + 255-byte frame, with margin */
	uint8_t uart_out[MODEM_UART_OUT];
	size_t out_head, out_len;
	uint8_t rx_buf[256];

	struct txq txq;
	struct duty duty;
	struct load_window tx_load, rx_load;

	uint64_t last_noise_ms;
	int16_t noise_dbm;
	int16_t last_rssi;
	int8_t last_snr4;
	uint32_t stat[APG_STAT_MAX];
};

/* Bring the core up: reset and initialise the radio (left off until the host turns it
 * on), start the serial decoder. Returns 0, or a negative RADIO_E* code if the radio
 * did not come up; the core still answers the host then (RADIO_STATE on fails with
 * ERROR_INITRADIO), so a board should call modem_poll either way. */
int modem_init(struct modem *m, const struct hal *hal, const struct radio *radio);

/* Do everything that is due: read serial input and answer commands, handle radio
 * interrupts, start queued transmissions, flush serial output. Never blocks longer than
 * the radio's BUSY time; when idle it calls the board's idle(ctx, ms) hook with the
 * time until something is due (if the board has one). */
void modem_poll(struct modem *m);

/* Milliseconds until modem_poll has timed work to do (0: now; UINT32_MAX: none). */
uint32_t modem_timeout_ms(const struct modem *m);

#endif
