/*
 * The node-side duty-cycle limiter for boards on RNode firmware (lora_rnode.h).
 */
#include "lora_rnode.h"

#include <string.h>

#include "../firmware/airtime.h"

void
lora_rnode_limiter_init(struct lora_rnode_limiter *lim, uint8_t region, size_t max_frame)
{
	memset(lim, 0, sizeof *lim);
	duty_init(&lim->duty);
	duty_set_region(&lim->duty, region);
	lim->band = -1;
	lim->max_frame = max_frame;
}

uint16_t
lora_rnode_preamble(uint8_t sf, uint32_t bw_hz)
{
	uint32_t sym_us, pre;

	if (!bw_hz || sf > 12)
		return LORA_RNODE_PRE_MIN;
	sym_us = (uint32_t)(((uint64_t)1000000 << sf) / bw_hz);
	pre = (LORA_RNODE_PRE_MS * 1000 + sym_us - 1) / sym_us;
	return (uint16_t)(pre < LORA_RNODE_PRE_MIN ? LORA_RNODE_PRE_MIN : pre);
}

int
lora_rnode_limiter_channel(struct lora_rnode_limiter *lim, uint32_t freq_hz, uint32_t bw_hz,
    uint8_t sf, uint8_t cr, int power_dbm)
{
	int b = duty_band_of(&lim->duty, freq_hz, bw_hz);

	lim->band = -1;
	if (b < 0)
		return -1;
	if (power_dbm > lim->duty.bands[b].max_dbm)
		return -2;
	memset(&lim->rc, 0, sizeof lim->rc);
	lim->rc.freq_hz = freq_hz;
	lim->rc.bw_hz = bw_hz;
	lim->rc.sf = sf;
	lim->rc.cr = cr;
	lim->rc.preamble = lora_rnode_preamble(sf, bw_hz);
	lim->rc.power_dbm = (int8_t)power_dbm;
	lim->rc.crc = 1;
	lim->band = b;
	return b;
}

void
lora_rnode_limiter_preamble(struct lora_rnode_limiter *lim, uint16_t symbols)
{
	if (symbols > lim->rc.preamble)
		lim->rc.preamble = symbols;
}

uint32_t
lora_rnode_airtime_ms(const struct lora_rnode_limiter *lim, size_t len)
{
	if (len <= LORA_RNODE_SINGLE)
		return lora_airtime_ms(&lim->rc, len + LORA_RNODE_HEADER);
	return lora_airtime_ms(&lim->rc, LORA_RNODE_SINGLE + LORA_RNODE_HEADER) +
	    lora_airtime_ms(&lim->rc, len - LORA_RNODE_SINGLE + LORA_RNODE_HEADER);
}

uint32_t
lora_rnode_limiter_wait(struct lora_rnode_limiter *lim, uint64_t now_ms)
{
	uint32_t w;

	if (lim->band < 0)
		return UINT32_MAX;
	w = duty_check(&lim->duty, lim->band, lora_rnode_airtime_ms(lim, lim->max_frame), now_ms);
	if (w) {
		lim->holds++;
		duty_refused(&lim->duty, lim->band);
	}
	return w;
}

uint32_t
lora_rnode_limiter_book(struct lora_rnode_limiter *lim, size_t len, uint64_t now_ms)
{
	uint32_t ms, used;

	if (lim->band < 0)
		return 0;
	ms = lora_rnode_airtime_ms(lim, len);
	duty_book(&lim->duty, lim->band, ms, now_ms);
	used = duty_used_ms(&lim->duty, lim->band, now_ms);
	if (used > lim->max_used_ms)
		lim->max_used_ms = used;
	return ms;
}

uint32_t
lora_rnode_limiter_used(struct lora_rnode_limiter *lim, uint64_t now_ms)
{
	return lim->band < 0 ? 0 : duty_used_ms(&lim->duty, lim->band, now_ms);
}

uint32_t
lora_rnode_limiter_budget(const struct lora_rnode_limiter *lim)
{
	return lim->band < 0 ? 0 : duty_budget_ms(&lim->duty, lim->band);
}
