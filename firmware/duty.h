/*
 * firmware/duty.h: the regional sub-band table and a hard duty-cycle limiter.
 *
 * EU868 follows ETSI EN 300 220-2 and ERC Recommendation 70-03 annex 1 (short range
 * devices, non-specific use), with the limits as duty cycle over one hour:
 *
 *	band  MHz              duty    max ERP
 *	h1.3  863.0 - 865.0    0.1 %   25 mW (14 dBm)
 *	h1.4  865.0 - 868.0    1 %     25 mW
 *	g1    868.0 - 868.6    1 %     25 mW
 *	g2    868.7 - 869.2    0.1 %   25 mW
 *	g3    869.4 - 869.65   10 %    500 mW (27 dBm)
 *	g4    869.7 - 870.0    1 %     25 mW
 *
 * A transmission is allowed only if its whole occupied bandwidth (centre +- BW/2) lies
 * inside one band. The window slides in one-minute buckets; a frame is booked in the
 * bucket where it starts and the sum runs over the current bucket and the 60 before it,
 * so the window the limiter sees is always at least one hour long: it can refuse a
 * little early, never let a transmission through late. With no region set nothing is
 * allowed at all.
 */
#ifndef APAGON_FW_DUTY_H
#define APAGON_FW_DUTY_H

#include <stdint.h>

#define DUTY_BUCKET_MS   60000u
#define DUTY_BUCKETS     61          /* current minute + the 60 before it */
#define DUTY_WINDOW_MS   3600000u
#define DUTY_MAX_BANDS   6

struct duty_band {
	uint8_t id;              /* 1.. within the region */
	const char *name;        /* "g3" */
	uint32_t lo_hz, hi_hz;   /* band edges */
	uint16_t duty_bp;        /* limit in 1/100 %: 10 = 0.1 %, 100 = 1 %, 1000 = 10 % */
	int8_t max_dbm;          /* power limit */
};

/* A region's bands; NULL and *n = 0 for APG_REGION_NONE or an unknown region. */
const struct duty_band *duty_region_bands(uint8_t region, unsigned *n);

struct duty_usage {
	uint32_t bucket_ms[DUTY_BUCKETS];
	uint64_t total_ms;       /* since boot */
	uint32_t refusals;
};

struct duty {
	uint8_t region;
	unsigned nbands;
	const struct duty_band *bands;
	uint64_t cur_bucket;     /* now_ms / DUTY_BUCKET_MS of the newest bucket */
	struct duty_usage use[DUTY_MAX_BANDS];
};

/* Start with no region: every check refuses. */
void duty_init(struct duty *d);

/* Select a region (APG_REGION_*). Usage already booked stays booked per band index.
 * Returns 0, or -1 for an unknown region (the region is then NONE). */
int duty_set_region(struct duty *d, uint8_t region);

/* The band index for a channel (centre freq_hz, bandwidth bw_hz), or -1 if the channel
 * lies in no band of the region. */
int duty_band_of(const struct duty *d, uint32_t freq_hz, uint32_t bw_hz);

/* Airtime booked in band `b` over the window ending at now_ms. */
uint32_t duty_used_ms(struct duty *d, int b, uint64_t now_ms);

/* The window budget of band `b` in ms (duty x one hour). */
uint32_t duty_budget_ms(const struct duty *d, int b);

/* May a frame of `airtime_ms` start now in band `b`? Returns 0 if yes; otherwise the
 * milliseconds until enough old airtime leaves the window (at least 1), or
 * UINT32_MAX if it never fits (longer than the whole budget). */
uint32_t duty_check(struct duty *d, int b, uint32_t airtime_ms, uint64_t now_ms);

/* Book a transmission of `airtime_ms` starting at now_ms in band `b`. */
void duty_book(struct duty *d, int b, uint32_t airtime_ms, uint64_t now_ms);

/* Count a refusal against band `b`. */
void duty_refused(struct duty *d, int b);

/* A plain rolling sum over the same bucket scheme, for channel-load statistics. */
struct load_window {
	uint64_t cur_bucket;
	uint32_t bucket_ms[DUTY_BUCKETS];
};
void load_add(struct load_window *w, uint32_t ms, uint64_t now_ms);
uint32_t load_sum(struct load_window *w, uint64_t now_ms, unsigned buckets);

#endif
