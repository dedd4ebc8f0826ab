/*
 * The UART receive ring every board keeps between its RX interrupt (the only writer
 * of head) and the main loop (the only writer of tail), and the HAL callbacks every
 * Cortex-M board answers the same way. Single producer, single consumer, no locks:
 * each index is written by one side only and read by the other.
 */
#ifndef APAGON_BOARD_RX_RING_H
#define APAGON_BOARD_RX_RING_H

#include <stddef.h>
#include <stdint.h>

#include "cortex_m.h"

#define RX_RING 512             /* a power of two, so the indexes may wrap */

struct rx_ring {
	volatile uint8_t buf[RX_RING];
	volatile uint32_t head;         /* written by the RX interrupt */
	volatile uint32_t tail;         /* written by the main loop */
	volatile uint32_t drops;        /* ring full, or the UART overran */
};

/* In the RX interrupt: keep one byte, or count it lost. */
static inline void
rx_ring_put(struct rx_ring *r, uint8_t b)
{
	if (r->head - r->tail < RX_RING)
		r->buf[r->head++ % RX_RING] = b;
	else
		r->drops++;
}

/* In the main loop: up to cap bytes, however many are there. */
static inline size_t
rx_ring_read(struct rx_ring *r, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (n < cap && r->tail != r->head)
		out[n++] = r->buf[r->tail++ % RX_RING];
	return n;
}

/* hal_ops.now_ms for every board: the SysTick count of common/startup.c. */
static inline uint64_t
board_now_ms(void *ctx)
{
	(void)ctx;
	return cm_now_ms();
}

#endif
