/*
 * Regional bands and the sliding-window duty-cycle limiter (firmware/duty.h).
 */
#include "duty.h"

#include <string.h>

#include "proto/rnode.h"

/* ETSI EN 300 220-2 / ERC REC 70-03 annex 1; see the table in duty.h. */
static const struct duty_band eu868[] = {
	{ 1, "h1.3", 863000000u, 865000000u, 10, 14 },
	{ 2, "h1.4", 865000000u, 868000000u, 100, 14 },
	{ 3, "g1", 868000000u, 868600000u, 100, 14 },
	{ 4, "g2", 868700000u, 869200000u, 10, 14 },
	{ 5, "g3", 869400000u, 869650000u, 1000, 27 },
	{ 6, "g4", 869700000u, 870000000u, 100, 14 },
};

const struct duty_band *
duty_region_bands(uint8_t region, unsigned *n)
{
	if (region == APG_REGION_EU868) {
		*n = sizeof eu868 / sizeof eu868[0];
		return eu868;
	}
	*n = 0;
	return NULL;
}

void
duty_init(struct duty *d)
{
	memset(d, 0, sizeof *d);
	d->region = APG_REGION_NONE;
}

int
duty_set_region(struct duty *d, uint8_t region)
{
	d->bands = duty_region_bands(region, &d->nbands);
	if (!d->bands) {
		d->region = APG_REGION_NONE;
		return region == APG_REGION_NONE ? 0 : -1;
	}
	d->region = region;
	return 0;
}

int
duty_band_of(const struct duty *d, uint32_t freq_hz, uint32_t bw_hz)
{
	uint32_t half = bw_hz / 2 + (bw_hz & 1);

	if (freq_hz < half)
		return -1;
	for (unsigned i = 0; i < d->nbands; i++) {
		const struct duty_band *b = &d->bands[i];

		if (freq_hz - half >= b->lo_hz && (uint64_t)freq_hz + half <= b->hi_hz)
			return (int)i;
	}
	return -1;
}

/* Move the window forward to now, zeroing the buckets that fall out of it. */
static void
advance(uint32_t *buckets, uint64_t *cur, uint64_t now_ms)
{
	uint64_t nb = now_ms / DUTY_BUCKET_MS;

	if (nb <= *cur)
		return;
	if (nb - *cur >= DUTY_BUCKETS) {
		memset(buckets, 0, DUTY_BUCKETS * sizeof buckets[0]);
	} else {
		for (uint64_t i = *cur + 1; i <= nb; i++)
			buckets[i % DUTY_BUCKETS] = 0;
	}
	*cur = nb;
}

static void
advance_all(struct duty *d, uint64_t now_ms)
{
	uint64_t nb = now_ms / DUTY_BUCKET_MS;

	if (nb <= d->cur_bucket)
		return;
	for (unsigned i = 0; i < DUTY_MAX_BANDS; i++) {
		uint64_t c = d->cur_bucket;

		advance(d->use[i].bucket_ms, &c, now_ms);
	}
	d->cur_bucket = nb;
}

uint32_t
duty_used_ms(struct duty *d, int b, uint64_t now_ms)
{
	uint32_t sum = 0;

	if (b < 0 || b >= DUTY_MAX_BANDS)
		return 0;
	advance_all(d, now_ms);
	for (unsigned i = 0; i < DUTY_BUCKETS; i++)
		sum += d->use[b].bucket_ms[i];
	return sum;
}

uint32_t
duty_budget_ms(const struct duty *d, int b)
{
	if (b < 0 || (unsigned)b >= d->nbands)
		return 0;
	/* duty_bp / 10000 of one hour. */
	return (uint32_t)((uint64_t)DUTY_WINDOW_MS * d->bands[b].duty_bp / 10000u);
}

uint32_t
duty_check(struct duty *d, int b, uint32_t airtime_ms, uint64_t now_ms)
{
	uint32_t budget, used, freed = 0;

	if (b < 0 || (unsigned)b >= d->nbands)
		return UINT32_MAX;
	budget = duty_budget_ms(d, b);
	if (airtime_ms > budget)
		return UINT32_MAX;
	used = duty_used_ms(d, b, now_ms);
	if (used + airtime_ms <= budget)
		return 0;
	/* Oldest bucket first: bucket cur-60+k leaves the window when the current bucket
	 * becomes cur+k+1, i.e. at ((cur + k + 1) * BUCKET) ms. */
	for (unsigned k = 0; k < DUTY_BUCKETS; k++) {
		uint64_t idx = d->cur_bucket + 1 + k;  /* == cur - 60 + k  (mod 61) */

		freed += d->use[b].bucket_ms[idx % DUTY_BUCKETS];
		if (used - freed + airtime_ms <= budget) {
			uint64_t at = (d->cur_bucket + k + 1) * DUTY_BUCKET_MS;

			return at > now_ms ? (uint32_t)(at - now_ms) : 1;
		}
	}
	return UINT32_MAX;
}

void
duty_book(struct duty *d, int b, uint32_t airtime_ms, uint64_t now_ms)
{
	if (b < 0 || b >= DUTY_MAX_BANDS)
		return;
	advance_all(d, now_ms);
	d->use[b].bucket_ms[d->cur_bucket % DUTY_BUCKETS] += airtime_ms;
	d->use[b].total_ms += airtime_ms;
}

void
duty_refused(struct duty *d, int b)
{
	if (b >= 0 && b < DUTY_MAX_BANDS)
		d->use[b].refusals++;
}

void
load_add(struct load_window *w, uint32_t ms, uint64_t now_ms)
{
	advance(w->bucket_ms, &w->cur_bucket, now_ms);
	w->bucket_ms[w->cur_bucket % DUTY_BUCKETS] += ms;
}

uint32_t
load_sum(struct load_window *w, uint64_t now_ms, unsigned buckets)
{
	uint32_t sum = 0;

	advance(w->bucket_ms, &w->cur_bucket, now_ms);
	if (buckets > DUTY_BUCKETS)
		buckets = DUTY_BUCKETS;
	for (unsigned k = 0; k < buckets; k++)
		sum += w->bucket_ms[(w->cur_bucket + DUTY_BUCKETS - k) % DUTY_BUCKETS];
	return sum;
}
