/*
 * The channel's physics (chan_model.h), shared by apagon-channel and apagon-drill sim.
 */
#include "chan_model.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void
chan_model_defaults(struct chan_model *m)
{
	m->n = 3.0;
	m->ref_loss_db = 40;
	m->noise_figure_db = 6;
	m->extra_loss_db = 0;
	m->loss_percent = 0;
	m->capture_db = 6;
}

int
chan_model_set(struct chan_model *m, const char *name, const char *value)
{
	static const struct {
		const char *name;
		size_t off;
	} knob[] = {
		{ "path_loss_exponent", offsetof(struct chan_model, n) },
		{ "ref_loss_db", offsetof(struct chan_model, ref_loss_db) },
		{ "noise_figure_db", offsetof(struct chan_model, noise_figure_db) },
		{ "extra_loss_db", offsetof(struct chan_model, extra_loss_db) },
		{ "loss_percent", offsetof(struct chan_model, loss_percent) },
		{ "capture_db", offsetof(struct chan_model, capture_db) },
	};

	for (size_t i = 0; i < sizeof knob / sizeof knob[0]; i++)
		if (strcmp(name, knob[i].name) == 0) {
			double v = strcmp(name, "capture_db") == 0 && strcmp(value, "off") == 0 ?
			    INFINITY : strtod(value, NULL);

			*(double *)(void *)((char *)m + knob[i].off) = v;
			return 0;
		}
	return -1;
}

double
chan_snr_floor(uint8_t sf)
{
	return sf < 5 || sf > 12 ? 0 : -2.5 * (sf - 4);
}

double
chan_path_loss_db(const struct chan_model *m, double dist_m)
{
	return m->ref_loss_db + 10 * m->n * log10(dist_m < 1 ? 1 : dist_m) + m->extra_loss_db;
}

double
chan_noise_dbm(const struct chan_model *m, uint32_t bw_hz)
{
	return -174 + 10 * log10((double)bw_hz) + m->noise_figure_db;
}

double
chan_packet_rssi_dbm(const struct chan_model *m, double p_dbm, uint32_t bw_hz)
{
	return 10 * log10(pow(10, p_dbm / 10) + pow(10, chan_noise_dbm(m, bw_hz) / 10));
}

int
chan_collides(const struct chan_model *m, double wanted_dbm, double other_dbm)
{
	return other_dbm > wanted_dbm - m->capture_db;
}
