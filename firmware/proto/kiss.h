/*
 * firmware/proto/kiss.h: KISS framing, shared by the modem firmware and node/.
 *
 * A frame on the serial line is
 *
 *	FEND | escaped(body) | FEND          FEND = 0xC0
 *
 * where escaping replaces 0xC0 by FESC TFEND (0xDB 0xDC) and 0xDB by FESC TFESC
 * (0xDB 0xDD). The first body byte is the command (firmware/proto/rnode.h), the rest its
 * argument. Back-to-back FENDs are idle fill and yield no frame. See docs/modem.md.
 *
 * Freestanding: no allocation, no stdio. The decoder writes into a buffer the caller
 * owns and never past its end.
 */
#ifndef APAGON_KISS_H
#define APAGON_KISS_H

#include <stddef.h>
#include <stdint.h>

#define KISS_FEND  0xC0
#define KISS_FESC  0xDB
#define KISS_TFEND 0xDC
#define KISS_TFESC 0xDD

/* Worst-case encoded size of a body of n bytes: every byte escaped, two FENDs. */
#define KISS_ENCODED_MAX(n) (2 * (size_t)(n) + 2)

struct kiss_decoder {
	uint8_t *buf;           /* the caller's buffer for one decoded body */
	size_t cap;             /* its size: longer bodies are dropped whole */
	size_t len;             /* bytes of the body so far */
	uint8_t in_frame;       /* an opening FEND was seen */
	uint8_t escape;         /* the previous byte was FESC */
	uint8_t discard;        /* this frame is broken: skip to the next FEND */
	uint8_t complete;       /* buf holds a body returned by the last call */
	/* Counters, never reset by the decoder. */
	uint32_t frames;        /* good frames returned */
	uint32_t overflows;     /* frames dropped for exceeding cap */
	uint32_t bad_escapes;   /* frames dropped for FESC followed by neither TFEND nor TFESC */
};

/* Start decoding into buf[0..cap). cap must be at least 1. */
void kiss_decoder_init(struct kiss_decoder *d, uint8_t *buf, size_t cap);

/* Feed one byte. Returns 1 when it completes a frame: the body is d->buf[0..d->len),
 * valid until the next call. Returns 0 otherwise (also for dropped frames, which only
 * bump a counter). Bytes before the first FEND are ignored. */
int kiss_decode_byte(struct kiss_decoder *d, uint8_t b);

/* Feed up to `len` bytes, stopping right after the first one that completes a frame.
 * Returns 1 if a frame completed (body in d->buf, d->len), 0 if all bytes were
 * consumed without one; *used is set to the bytes consumed in both cases. */
int kiss_decode(struct kiss_decoder *d, const uint8_t *in, size_t len, size_t *used);

/* Encode one frame (command byte, then `len` argument bytes) into out[0..cap).
 * Returns the encoded length, or 0 if it does not fit (nothing useful is written). */
size_t kiss_encode(uint8_t *out, size_t cap, uint8_t cmd, const uint8_t *arg, size_t len);

#endif
