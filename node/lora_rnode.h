/*
 * node/lora_rnode.h: the node-side duty-cycle limiter for LoRa boards on stock RNode
 * firmware (docs/lora.md "RNode boards"). Pure: time comes in as an argument.
 *
 * Our own modem firmware enforces the region's law itself. RNode firmware has no
 * regions and no duty limiter, so the node keeps the books instead, with the modem's
 * own code built into the node: the sub-band table and the sliding-hour buckets of
 * firmware/duty.c, the datasheet airtime of firmware/airtime.c. What the board puts
 * on air is counted, not what the node hands it: RNode firmware (markqvist/
 * RNode_Firmware, Config.h and RNode_Firmware.ino) adds a one-byte header to every
 * frame, splits a payload over 254 bytes into two frames, and picks its own preamble
 * (at least 18 symbols and at least 24 ms).
 *
 * The gate asks whether the longest frame would still fit, so it holds whatever frame
 * the flood picks next; the frame is booked when it is handed to the board.
 */
#ifndef APAGON_LORA_RNODE_H
#define APAGON_LORA_RNODE_H

#include <stddef.h>
#include <stdint.h>

#include "../firmware/duty.h"
#include "../firmware/radio.h"

#define LORA_RNODE_HEADER     1           /* RNode's header byte before every frame */
#define LORA_RNODE_SINGLE     254         /* payload of one frame; more is split in two */
#define LORA_RNODE_PRE_MIN    18          /* preamble symbols, at least */
#define LORA_RNODE_PRE_MS     24          /* and at least this long */
/* An SX127x board reports the frequency its synthesizer holds, in steps of
 * 32 MHz / 2^19 = 61.04 Hz: the read-back may be off by one step. */
#define LORA_RNODE_FREQ_STEP  62

struct lora_rnode_limiter {
	struct duty duty;
	int band;                       /* -1 until a channel is set */
	struct radio_config rc;         /* what the board transmits with */
	size_t max_frame;               /* the longest frame the node hands over */
	uint32_t max_used_ms;           /* the most the window ever held, after a booking */
	uint64_t holds;                 /* frames held back by the gate */
};

/* Books for `region` (APG_REGION_*), empty; max_frame: the longest frame ever sent. */
void lora_rnode_limiter_init(struct lora_rnode_limiter *lim, uint8_t region, size_t max_frame);

/* The channel and modulation the board runs. Returns the band index, -1 if the
 * channel (centre +- bw/2) lies in no band of the region, -2 if power_dbm is above the
 * band's limit. The books are kept: a board that comes back does not start afresh. */
int lora_rnode_limiter_channel(struct lora_rnode_limiter *lim, uint32_t freq_hz,
    uint32_t bw_hz, uint8_t sf, uint8_t cr, int power_dbm);

/* The board reported its preamble (STAT_PHYPRM): airtime is never counted shorter. */
void lora_rnode_limiter_preamble(struct lora_rnode_limiter *lim, uint16_t symbols);

/* The preamble RNode firmware picks for sf/bw. */
uint16_t lora_rnode_preamble(uint8_t sf, uint32_t bw_hz);

/* Airtime in ms of a frame of `len` bytes as the board sends it. */
uint32_t lora_rnode_airtime_ms(const struct lora_rnode_limiter *lim, size_t len);

/* 0 if a frame may be handed over at now_ms (modem time); else the ms until one may
 * (UINT32_MAX: never), counted as a hold. */
uint32_t lora_rnode_limiter_wait(struct lora_rnode_limiter *lim, uint64_t now_ms);

/* Book a frame of `len` bytes handed over at now_ms; returns its airtime in ms. */
uint32_t lora_rnode_limiter_book(struct lora_rnode_limiter *lim, size_t len, uint64_t now_ms);

/* Airtime in the window ending at now_ms, and the window's budget, in ms. */
uint32_t lora_rnode_limiter_used(struct lora_rnode_limiter *lim, uint64_t now_ms);
uint32_t lora_rnode_limiter_budget(const struct lora_rnode_limiter *lim);

#endif
