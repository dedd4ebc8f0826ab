/*
 * The one bounds-checked cursor that every apagon decoder and encoder is built on.
 *
 * A reader never reads past its end: once a read would overrun, the cursor goes into
 * a sticky error state, every later read returns zeros, and wire_ok() says so. Decoders
 * therefore read a whole structure and check once, the way picohttpparser checks
 * its buffer end. A writer behaves the same way for overflows.
 */
#ifndef APAGON_WIRE_H
#define APAGON_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct wire {
	uint8_t *buf;           /* writer: destination; reader: source (never written) */
	size_t len;
	size_t off;
	int err;
};

/* Start reading `len` bytes at `buf`. */
void wire_reader(struct wire *w, const uint8_t *buf, size_t len);
/* Start writing into `cap` bytes at `buf`. */
void wire_writer(struct wire *w, uint8_t *buf, size_t cap);

/* 1 while no read or write has overrun. */
static inline int wire_ok(const struct wire *w) { return !w->err; }
/* Bytes left to read (0 after an error). */
static inline size_t wire_left(const struct wire *w) { return w->err ? 0 : w->len - w->off; }

uint8_t  wire_get_u8(struct wire *);
uint16_t wire_get_u16(struct wire *);            /* big-endian */
uint32_t wire_get_u32(struct wire *);            /* big-endian */
/* Copy n bytes out; on overrun dst is zero-filled. */
void     wire_get_bytes(struct wire *, uint8_t *dst, size_t n);
/* Borrow a pointer to the next n bytes, or NULL on overrun. */
const uint8_t *wire_get_ref(struct wire *, size_t n);

/*
 * A string: one length byte, then that many bytes, at most `max` and never a NUL
 * (so each name has one encoding). out receives it NUL-terminated; on any error
 * the cursor fails and out is "".
 */
void     wire_get_str(struct wire *, char *out, size_t max);
void     wire_put_str(struct wire *, const char *s);

void wire_put_u8(struct wire *, uint8_t);
void wire_put_u16(struct wire *, uint16_t);
void wire_put_u32(struct wire *, uint32_t);
void wire_put_bytes(struct wire *, const uint8_t *src, size_t n);

#endif
