/*
 * firmware/airtime.h: LoRa time on air, from the SX1261/2 datasheet (section 6.1.4,
 * "LoRa Time-on-Air"):
 *
 *	Tsym = 2^SF / BW
 *	SF5, SF6:  Nsym = Npre + 6.25 + 8 + ceil(max(8*PL + CRC - 4*SF + HDR, 0) / (4*SF)) * (CR+4)
 *	SF7..SF12: Nsym = Npre + 4.25 + 8 + ceil(max(8*PL + CRC - 4*SF + 8 + HDR, 0)
 *	                                       / (4*(SF - 2*LDRO))) * (CR+4)
 *	ToA = Tsym * Nsym
 *
 * with PL the payload bytes, CRC 16 bits when on, HDR 20 symbols-worth of bits for the
 * explicit header (0 implicit), CR 1..4 for 4/5..4/8, and LDRO (low data rate
 * optimisation) on when Tsym >= 16.38 ms, as the datasheet requires for SF11/SF12 at
 * 125 kHz and below. Integer arithmetic only (no FPU needed on the board).
 */
#ifndef APAGON_FW_AIRTIME_H
#define APAGON_FW_AIRTIME_H

#include <stddef.h>
#include <stdint.h>

#include "radio.h"

/* 1 if low data rate optimisation is required: symbol time of 16.38 ms or more. */
int lora_ldro(uint8_t sf, uint32_t bw_hz);

/* Symbols on air, times four (the datasheet's quarter symbols), for `len` payload
 * bytes. 0 for parameters out of range. */
uint32_t lora_symbols_x4(const struct radio_config *cfg, size_t len);

/* Time on air in microseconds of a frame of `len` payload bytes; 0 when cfg is out of
 * range (SF outside 5..12, CR outside 5..8, BW 0). */
uint32_t lora_airtime_us(const struct radio_config *cfg, size_t len);

/* The same, rounded up to whole milliseconds (what the duty-cycle limiter books). */
uint32_t lora_airtime_ms(const struct radio_config *cfg, size_t len);

#endif
