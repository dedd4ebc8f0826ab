/*
 * firmware/txq.h: the modem's transmit queue, ordered by precedence.
 *
 * The next frame out is always the oldest frame of the highest precedence queued
 * (FLASH > IMMEDIATE > PRIORITY > ROUTINE), so FLASH never waits behind ROUTINE. When
 * the queue is full, a frame of higher precedence than the lowest queued one evicts the
 * newest frame of that lowest precedence; otherwise it is refused.
 */
#ifndef APAGON_FW_TXQ_H
#define APAGON_FW_TXQ_H

#include <stddef.h>
#include <stdint.h>

#define TXQ_SLOTS   8
#define TXQ_MAX_LEN 255

struct txq_slot {
	uint8_t used;
	uint8_t prec;
	uint8_t len;
	uint32_t seq;
	uint8_t data[TXQ_MAX_LEN];
};

struct txq {
	struct txq_slot slot[TXQ_SLOTS];
	uint32_t next_seq;
	unsigned count;
};

void txq_init(struct txq *q);

/* Queue a frame (1..255 bytes, prec 0..3). Returns 0 if queued, 1 if queued by
 * evicting a lower-precedence frame (its precedence in *evicted_prec), -1 if refused
 * (full of frames of equal or higher precedence, or bad arguments). */
int txq_push(struct txq *q, uint8_t prec, const uint8_t *data, size_t len, uint8_t *evicted_prec);

/* The frame to send next, or NULL if empty. Stays queued until txq_pop(). */
const struct txq_slot *txq_peek(const struct txq *q);

/* Remove the frame txq_peek() returned. */
void txq_pop(struct txq *q, const struct txq_slot *s);

#endif
