/*
 * LoRa time on air (firmware/airtime.h; SX1261/2 datasheet 6.1.4).
 */
#include "airtime.h"

int
lora_ldro(uint8_t sf, uint32_t bw_hz)
{
	/* Tsym >= 16.38 ms  <=>  2^SF * 1e5 >= 1638 * BW (both sides in units of 10 us). */
	if (sf > 12 || bw_hz == 0)
		return 0;
	return (uint64_t)(1u << sf) * 100000u >= (uint64_t)1638 * bw_hz;
}

uint32_t
lora_symbols_x4(const struct radio_config *cfg, size_t len)
{
	uint32_t sf = cfg->sf, cr = cfg->cr - 4;
	int32_t bits, den, blocks;
	uint32_t fixed_x4;

	if (sf < 5 || sf > 12 || cfg->cr < 5 || cfg->cr > 8 || cfg->bw_hz == 0 || len > 255)
		return 0;
	bits = 8 * (int32_t)len + (cfg->crc ? 16 : 0) - 4 * (int32_t)sf + (cfg->implicit ? 0 : 20);
	if (sf >= 7) {
		bits += 8;
		den = 4 * ((int32_t)sf - 2 * lora_ldro((uint8_t)sf, cfg->bw_hz));
		fixed_x4 = 4 * (uint32_t)cfg->preamble + 17 + 32;  /* + 4.25 + 8 */
	} else {
		den = 4 * (int32_t)sf;
		fixed_x4 = 4 * (uint32_t)cfg->preamble + 25 + 32;  /* + 6.25 + 8 */
	}
	if (bits < 0)
		bits = 0;
	blocks = (bits + den - 1) / den;
	return fixed_x4 + 4 * (uint32_t)blocks * (cr + 4);
}

uint32_t
lora_airtime_us(const struct radio_config *cfg, size_t len)
{
	uint32_t n4 = lora_symbols_x4(cfg, len);

	if (!n4)
		return 0;
	/* Tsym * Nsym in us = 2^SF * 1e6 / BW * n4 / 4, rounded up. */
	uint64_t num = (uint64_t)n4 * ((uint64_t)1 << cfg->sf) * 1000000u;
	uint64_t den = 4 * (uint64_t)cfg->bw_hz;

	return (uint32_t)((num + den - 1) / den);
}

uint32_t
lora_airtime_ms(const struct radio_config *cfg, size_t len)
{
	return (lora_airtime_us(cfg, len) + 999) / 1000;
}
