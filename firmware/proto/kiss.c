/*
 * KISS framing (firmware/proto/kiss.h). One decoder for the firmware and for node/.
 */
#include "kiss.h"

void
kiss_decoder_init(struct kiss_decoder *d, uint8_t *buf, size_t cap)
{
	d->buf = buf;
	d->cap = cap;
	d->len = 0;
	d->in_frame = 0;
	d->escape = 0;
	d->discard = 0;
	d->complete = 0;
	d->frames = 0;
	d->overflows = 0;
	d->bad_escapes = 0;
}

static void
put(struct kiss_decoder *d, uint8_t b)
{
	if (d->len >= d->cap) {
		d->discard = 1;
		d->overflows++;
		return;
	}
	d->buf[d->len++] = b;
}

int
kiss_decode_byte(struct kiss_decoder *d, uint8_t b)
{
	if (d->complete) {
		/* The body returned last time is no longer the caller's. */
		d->complete = 0;
		d->len = 0;
	}
	if (b == KISS_FEND) {
		int done = d->in_frame && !d->discard && !d->escape && d->len > 0;

		/* A FEND right after FESC breaks the frame: the escape never completed. */
		if (d->in_frame && !d->discard && d->escape)
			d->bad_escapes++;
		d->in_frame = 1;
		d->escape = 0;
		d->discard = 0;
		if (done) {
			d->frames++;
			d->complete = 1;
			return 1;
		}
		d->len = 0;
		return 0;
	}
	if (!d->in_frame)
		return 0;
	if (d->discard)
		return 0;
	if (d->escape) {
		d->escape = 0;
		if (b == KISS_TFEND)
			put(d, KISS_FEND);
		else if (b == KISS_TFESC)
			put(d, KISS_FESC);
		else {
			d->discard = 1;
			d->bad_escapes++;
		}
		return 0;
	}
	if (b == KISS_FESC) {
		d->escape = 1;
		return 0;
	}
	put(d, b);
	return 0;
}

int
kiss_decode(struct kiss_decoder *d, const uint8_t *in, size_t len, size_t *used)
{
	for (size_t i = 0; i < len; i++) {
		if (kiss_decode_byte(d, in[i])) {
			*used = i + 1;
			return 1;
		}
	}
	*used = len;
	return 0;
}

static size_t
put_escaped(uint8_t *out, size_t cap, size_t o, uint8_t b)
{
	if (b == KISS_FEND || b == KISS_FESC) {
		if (o + 2 > cap)
			return 0;
		out[o] = KISS_FESC;
		out[o + 1] = b == KISS_FEND ? KISS_TFEND : KISS_TFESC;
		return o + 2;
	}
	if (o + 1 > cap)
		return 0;
	out[o] = b;
	return o + 1;
}

size_t
kiss_encode(uint8_t *out, size_t cap, uint8_t cmd, const uint8_t *arg, size_t len)
{
	size_t o = 0;

	if (cap < 3)
		return 0;
	out[o++] = KISS_FEND;
	if (!(o = put_escaped(out, cap, o, cmd)))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!(o = put_escaped(out, cap, o, arg[i])))
			return 0;
	if (o + 1 > cap)
		return 0;
	out[o++] = KISS_FEND;
	return o;
}
