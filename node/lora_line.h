/*
 * Inside the LoRa transport (transport_lora.c): its state, shared by the code that
 * keeps the serial modem alive (lora_line.c: opening, configuring and reading back
 * the modem, KISS frames in and out, resets with backoff) and the code that floods
 * bundles over it (transport_lora.c). Not for other callers.
 */
#ifndef APAGON_LORA_LINE_H
#define APAGON_LORA_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "../firmware/proto/kiss.h"
#include "../firmware/proto/rnode.h"
#include "config.h"
#include "lora_flood.h"
#include "lora_glue.h"
#include "lora_rnode.h"
#include "transport.h"

#define RETRY_MIN_MS     1000
#define PREAMBLE         16

/* A Meshtastic modem preset (transport_lora.c has the table). */
struct preset {
	const char *name;
	uint8_t sf, cr;                 /* cr: 5..8 for 4/5..4/8 */
	uint32_t bw;
};

/* A region: the modem's code and the default channel. */
struct region {
	const char *name;
	uint8_t code;
	uint32_t freq;
};

enum lstate { L_WAITING, L_CONFIG, L_UP, L_NOREGION };

/* Configuration steps, in order: command, value, bytes. */
enum { S_DETECT, S_REGION, S_FREQ, S_BW, S_SF, S_CR, S_POWER, S_PREAMBLE, S_ALOCK, S_RADIO,
	S_DONE };

struct lora {
	struct transport *t;
	char device[CONF_VAL_MAX + 200];
	const struct preset *pre;
	const struct region *reg;       /* NULL: no region, never transmit */
	uint32_t freq;
	int power, hop_limit;
	uint32_t slot_ms;

	enum lstate state;
	int fd;
	int step;
	uint64_t step_deadline;
	uint64_t retry_ms, backoff_ms, now_ms;
	uint64_t last_rx_ms, poll_ms, scan_ms;
	int first_scan;
	int doubts_left;                /* first scan: transit bundles still to name in digests */
	int64_t up_since;
	char last_error[160];

	struct kiss_decoder kd;
	uint8_t kbuf[600];              /* RNode firmware passes up to 508 bytes */
	uint32_t kd_bad_seen;           /* decoder drops already counted */
	int garbage_run;
	uint8_t wbuf[4096];
	size_t wlen;

	uint8_t key[32];
	struct lora_flood *fl;
	int inflight;
	uint64_t inflight_deadline, hold_until;
	int snr_x4;
	uint32_t duty_used, duty_budget;
	uint32_t modem_stat[APG_STAT_MAX];

	/* A board on stock RNode firmware (stock = 1): what it said of itself, and the
	 * node's own limiter on the modem's clock (now / time_scale). */
	int stock;
	uint8_t fw_ver[2], platform, mcu;
	int alock;                      /* 1: the board took our long-term airtime lock */
	struct lora_rnode_limiter lim;  /* books kept across resets of the link */
	double time_scale;
	uint32_t inflight_ms;           /* booked airtime of the frame in the board */
	uint32_t stat_tx, stat_tx_seen;
	int stat_tx_known;
	uint64_t stat_ask_ms;
	uint16_t chtm_short, chtm_long; /* the board's own airtime books, 1/100 % */
	struct lora_sender_limit limit;
	uint32_t limited_ms;            /* a bundle over its sender's rate: held off */

	struct {
		int64_t opens, resets, open_failures, mismatches, garbage_frames, kiss_errors;
		int64_t silent, modem_errors, duty_refusals, queue_full, tx_failed, no_region;
		int64_t frames_rx, frames_tx, bytes_tx, airtime_ms, tx_timeouts;
		int64_t offered, too_big;
	} n;
};

/* The serial line (lora_line.c). */
void lora_line_cmd(struct lora *l, uint8_t cmd, const uint8_t *arg, size_t len);
void lora_line_flush(struct lora *l);
void lora_line_close(struct lora *l);
/* Give up on the modem for now: close, log why, and try again after a backoff. */
void lora_line_reset(struct lora *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lora_line_open(struct lora *l);
void lora_line_config(struct lora *l);
void lora_line_next_step(struct lora *l);
void lora_line_use_rnode(struct lora *l);
/* The node's clock in the modem's time: a simulated channel may run faster. */
uint64_t lora_line_modem_now(const struct lora *l);
/* Read what the modem sent, and act on each frame (configuration replies, frames
 * heard, transmission results, errors). */
void lora_line_read(struct lora *l);

#endif
