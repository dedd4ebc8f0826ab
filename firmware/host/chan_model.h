/*
 * firmware/host/chan_model.h: the radio channel's physics, without sockets or clocks,
 * shared by the channel simulator (channel.c, apagon-channel) and apagon-drill's
 * in-process simulation (tools/sim_lora.c). Host build only. docs/modem.md, "Channel
 * simulator", has the model:
 *
 *   - path loss, log-distance: ref_loss_db + 10 n log10(d / 1 m) + extra_loss_db
 *     (d at least 1 m); received power = TX power - path loss - per-link losses;
 *   - noise floor = -174 dBm/Hz + 10 log10(BW) + noise figure; SNR = power - noise;
 *   - demodulation floor by SF: SF5 -2.5 dB ... SF12 -20 dB, 2.5 dB a step;
 *   - collision: an overlapping frame on the same channel destroys the wanted one
 *     unless the wanted one is capture_db stronger (INFINITY: no capture);
 *   - loss_percent: random loss of frames otherwise received.
 */
#ifndef APAGON_CHAN_MODEL_H
#define APAGON_CHAN_MODEL_H

#include <stdint.h>

struct chan_model {
	double n;                       /* path-loss exponent (default 3.0) */
	double ref_loss_db;             /* at 1 m (default 40) */
	double noise_figure_db;         /* receiver (default 6) */
	double extra_loss_db;           /* on every link (default 0) */
	double loss_percent;            /* random loss (default 0) */
	double capture_db;              /* capture margin (default 6; INFINITY: off) */
};

void chan_model_defaults(struct chan_model *m);

/* One setting by its config name (path_loss_exponent, ref_loss_db, noise_figure_db,
 * extra_loss_db, loss_percent, capture_db; "off" for capture_db). 0, or -1 for an
 * unknown name. */
int chan_model_set(struct chan_model *m, const char *name, const char *value);

/* The SF's demodulation floor in dB (0 outside SF5..12). */
double chan_snr_floor(uint8_t sf);

/* Path loss in dB over a distance in metres, extra_loss_db included. */
double chan_path_loss_db(const struct chan_model *m, double dist_m);

/* Thermal noise plus noise figure over a bandwidth, dBm. */
double chan_noise_dbm(const struct chan_model *m, uint32_t bw_hz);

/* The chip's packet RSSI for a signal of p_dbm: signal plus noise, dBm. */
double chan_packet_rssi_dbm(const struct chan_model *m, double p_dbm, uint32_t bw_hz);

/* 1 if a frame heard at wanted_dbm is destroyed by an overlapping one at other_dbm. */
int chan_collides(const struct chan_model *m, double wanted_dbm, double other_dbm);

#endif
