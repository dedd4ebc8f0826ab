/*
 * firmware/sx126x.h: SX1261/SX1262 LoRa driver at SPI command level, behind the radio
 * operations table (firmware/radio.h). All chip access goes through the board's HAL
 * (firmware/hal.h): spi_transfer with NSS, BUSY and DIO1 pin reads, reset.
 *
 *	static struct sx126x sx;
 *	struct radio r = sx126x_radio(&sx, &hal);
 */
#ifndef APAGON_FW_SX126X_H
#define APAGON_FW_SX126X_H

#include <stdint.h>

#include "hal.h"
#include "radio.h"

struct sx126x {
	const struct hal *hal;
	struct radio_config cfg;   /* last applied */
	uint8_t configured;
	uint32_t busy_timeouts;    /* BUSY stuck high */
	uint16_t last_irq;         /* for tests and diagnostics */
	uint16_t errors;           /* last GetDeviceErrors */
};

/* Bind a driver instance to a board; returns the radio handle for modem_init. */
struct radio sx126x_radio(struct sx126x *sx, const struct hal *hal);

extern const struct radio_ops sx126x_ops;

/* SetModulationParams bandwidth code for bw_hz, or -1 (datasheet table 13-48). */
int sx126x_bw_code(uint32_t bw_hz);

#endif
