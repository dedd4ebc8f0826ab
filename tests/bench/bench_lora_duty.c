/*
 * The duty-cycle law, measured from the air (make bench; issue 4):
 *
 *   lora.duty_violations   sliding one-hour windows in which a radio was on air longer
 *                          than its EU868 sub-band allows, summed over the runs below;
 *                          must be 0
 *   lora.duty_used_of_budget.BAND   the most on-air time seen in any hour / the budget
 *
 * The firmware's core (firmware/modem.c, its limiter firmware/duty.c, the real SX1262
 * driver) runs on a fake board (tests/fuzz/fw_board.h) on virtual time against the
 * chip model, and a greedy host offers a 200-byte DATA frame every 2 s for three
 * hours, far more than any band allows. What counts is not the limiter's own books
 * but what the chip model put on air: the start and airtime of every frame, checked
 * at each frame's end against every hour that ends there. A limiter that booked too
 * little, or forgot a frame, shows up here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../firmware/duty.h"
#include "../../firmware/modem.h"
#include "../../firmware/proto/kiss.h"
#include "../../firmware/proto/rnode.h"
#include "../../firmware/sx126x.h"
#include "../fuzz/fw_board.h"

#define HOUR_MS     3600000ull
#define RUN_MS      (3 * HOUR_MS)
#define OFFER_MS    2000
#define STEP_MS     2
#define MAX_TX      20000

struct air {
	struct fboard *f;
	uint64_t start_us[MAX_TX];
	uint32_t air_us[MAX_TX];
	int n;
};

static void
on_air(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr, int8_t power_dbm,
    uint32_t airtime_us, const uint8_t *data, size_t len)
{
	struct air *a = ctx;

	(void)freq_hz; (void)bw_hz; (void)sf; (void)cr; (void)power_dbm; (void)data; (void)len;
	a->f->sent++;
	if (a->n < MAX_TX) {
		a->start_us[a->n] = a->f->ms * 1000;
		a->air_us[a->n] = airtime_us;
		a->n++;
	}
}

/* On-air microseconds within (end - 1 h, end]. */
static uint64_t
air_in_hour(const struct air *a, uint64_t end_us)
{
	uint64_t from = end_us > HOUR_MS * 1000 ? end_us - HOUR_MS * 1000 : 0, sum = 0;

	for (int i = 0; i < a->n; i++) {
		uint64_t s = a->start_us[i], e = s + a->air_us[i];

		if (e <= from || s >= end_us)
			continue;
		sum += (e < end_us ? e : end_us) - (s > from ? s : from);
	}
	return sum;
}

static const struct hal_info bench_info = { .name = "bench", .max_dbm = 22 };

/* One band for three hours; returns the violations, *worst the highest hour/budget. */
static int
run_band(const char *name, uint32_t freq, uint32_t bw, uint8_t sf, uint32_t budget_ms,
    double *worst, uint32_t *refused)
{
	static struct fboard f;
	static struct modem m;
	static struct sx126x sx;
	static struct air a;
	static uint8_t in[4096];
	uint8_t b[4], data[200];
	struct sxm_link l = { on_air, &a };
	struct hal hal = { &board_ops, &f, &bench_info };
	struct radio r;
	size_t len = 0;
	int violations = 0, checked = 0;

	memset(&f, 0, sizeof f);
	memset(&a, 0, sizeof a);
	a.f = &f;
	f.ms = 1000;
	sx_model_init(&f.chip, &l);
	r = sx126x_radio(&sx, &hal);
	if (modem_init(&m, &hal, &r) != 0)
		abort();
	b[0] = APG_REGION_EU868;
	len += kiss_encode(in + len, sizeof in - len, APG_CMD_REGION, b, 1);
	rnode_put_u32(b, freq);
	len += kiss_encode(in + len, sizeof in - len, RNODE_CMD_FREQUENCY, b, 4);
	rnode_put_u32(b, bw);
	len += kiss_encode(in + len, sizeof in - len, RNODE_CMD_BANDWIDTH, b, 4);
	b[0] = sf;
	len += kiss_encode(in + len, sizeof in - len, RNODE_CMD_SF, b, 1);
	b[0] = 1;
	len += kiss_encode(in + len, sizeof in - len, RNODE_CMD_RADIO_STATE, b, 1);
	f.in = in;
	f.in_len = len;
	*worst = 0;
	for (uint64_t t = 0, next_offer = 0; t < RUN_MS; t += STEP_MS) {
		if (t >= next_offer && f.in_off == f.in_len) {
			/* The host's next frame: the old input is spent, start over. */
			memset(data, (int)(t / OFFER_MS), sizeof data);
			f.in_off = 0;
			f.in_len = kiss_encode(in, sizeof in, RNODE_CMD_DATA, data, sizeof data);
			next_offer = t + OFFER_MS;
		}
		modem_poll(&m);
		f.ms += STEP_MS;
		/* Frames that have ended (one radio: in order): every hour ending then
		 * must fit. */
		while (checked < a.n && a.start_us[checked] + a.air_us[checked] <= f.ms * 1000) {
			uint64_t end = a.start_us[checked] + a.air_us[checked];
			uint64_t used = air_in_hour(&a, end);
			double share = (double)used / 1000.0 / budget_ms;

			checked++;
			if (share > *worst)
				*worst = share;
			if (used > (uint64_t)budget_ms * 1000)
				violations++;
		}
	}
	*refused = m.stat[APG_STAT_DUTY_REFUSALS];
	printf("# %s: %d frames on air in 3 h (%d hours checked at frame ends), %u refused by "
	    "the limiter, offered %llu\n", name, a.n, checked, (unsigned)*refused,
	    (unsigned long long)(RUN_MS / OFFER_MS));
	return violations;
}

int
main(void)
{
	static const struct {
		const char *name;
		uint32_t freq, bw;
		uint8_t sf;
		uint32_t budget_ms;
	} bands[] = {
		{ "g1", 868100000, 125000, 9, 36000 },          /* 1 % */
		{ "g2", 868950000, 125000, 9, 3600 },           /* 0.1 % */
		{ "g3", 869525000, 250000, 9, 360000 },         /* 10 % */
	};
	int violations = 0;

	for (size_t i = 0; i < sizeof bands / sizeof bands[0]; i++) {
		double worst;
		uint32_t refused;

		violations += run_band(bands[i].name, bands[i].freq, bands[i].bw, bands[i].sf,
		    bands[i].budget_ms, &worst, &refused);
		printf("lora.duty_used_of_budget.%s %.3f\n", bands[i].name, worst);
		if (refused == 0)
			printf("# %s: the limiter refused nothing\n",
			    bands[i].name);
	}
	printf("lora.duty_violations %d\n", violations);
	return 0;
}
