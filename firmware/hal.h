/*
 * firmware/hal.h: what a board provides to the portable modem core.
 *
 * SHARED WITH firmware/board/: every board (RAK3172, the qemu mps2-an386 image, the
 * host simulation in firmware/host/) implements this one interface. Keep it stable;
 * an incompatible change needs every board updated in the same change.
 *
 * Shape: an ops table plus a context pointer, like LoRaMac-node's radio.h but with the
 * board's state passed in instead of living in globals. The core never calls malloc or
 * stdio; it only calls these functions. All of them are called from the main loop
 * (modem_poll), never from an interrupt handler.
 *
 * Board main(), in full:
 *
 *	static struct modem modem;
 *	static struct sx126x sx;
 *	static const struct hal hal = { &board_hal_ops, &board_state, &board_info };
 *	board_init(&board_state);
 *	struct radio radio = sx126x_radio(&sx, &hal);
 *	if (modem_init(&modem, &hal, &radio) != 0)
 *		... blink an error, keep serving the UART: modem_poll still answers ...
 *	for (;;)
 *		modem_poll(&modem);     (calls hal idle() itself when there is nothing to do)
 */
#ifndef APAGON_FW_HAL_H
#define APAGON_FW_HAL_H

#include <stddef.h>
#include <stdint.h>

struct hal_ops {
	/* Monotonic milliseconds since boot. Must never go backwards; 64 bits so the
	 * one-hour duty-cycle window never meets a wrap. Required. */
	uint64_t (*now_ms)(void *ctx);

	/* Non-blocking read from the host serial link: copy up to `cap` received bytes
	 * into `buf`, return how many (0: nothing waiting). Required. */
	size_t (*uart_read)(void *ctx, uint8_t *buf, size_t cap);

	/* Non-blocking write to the host serial link: queue up to `len` bytes, return how
	 * many were accepted (may be fewer, the core retries the rest later). Required. */
	size_t (*uart_write)(void *ctx, const uint8_t *buf, size_t len);

	/* One SX126x SPI transaction: assert NSS, clock out tx[0..len) while clocking in
	 * rx[0..len), release NSS. `rx` may be NULL (discard). The driver waits for BUSY
	 * low before calling it. Required. */
	void (*spi_transfer)(void *ctx, const uint8_t *tx, uint8_t *rx, size_t len);

	/* Level of the SX126x BUSY pin: 1 high (chip busy), 0 low. Required. */
	int (*radio_busy)(void *ctx);

	/* Level of the SX126x DIO1 pin (IRQ line): 1 high. Required. */
	int (*radio_dio1)(void *ctx);

	/* Pulse the SX126x NRESET pin low for at least 100 us, then release it.
	 * Required. */
	void (*radio_reset)(void *ctx);

	/* Busy-wait or sleep for `ms` milliseconds. Required. */
	void (*delay_ms)(void *ctx, uint32_t ms);

	/* Nothing to do for up to `max_ms`: the board may sleep (WFI) until an interrupt
	 * (UART byte, DIO1 edge, timer) or return at once. Optional (NULL). */
	void (*idle)(void *ctx, uint32_t max_ms);

	/* Antenna switch for boards that drive it from MCU pins instead of DIO2:
	 * mode 0 off, 1 receive, 2 transmit. Optional (NULL). */
	void (*antenna)(void *ctx, int mode);
};

/* Fixed facts about a board, reported over the serial protocol and used by the
 * SX126x driver at start-up. */
struct hal_info {
	const char *name;       /* "rak3172", "qemu-mps2-an386", "host-sim" */
	uint8_t platform;       /* RNode PLATFORM byte (firmware/proto/rnode.h) */
	uint8_t mcu;            /* RNode MCU byte */
	uint16_t tcxo_mv;       /* TCXO supply driven from DIO3 in millivolts, 0: crystal */
	uint8_t dio2_rf_switch; /* 1: DIO2 drives the RF switch (SetDIO2AsRfSwitchCtrl) */
	uint8_t dcdc;           /* 1: the board has the DC-DC inductor (SetRegulatorMode) */
	int8_t max_dbm;         /* highest TX power the board's PA path allows */
};

struct hal {
	const struct hal_ops *ops;
	void *ctx;
	const struct hal_info *info;
};

#endif
