#include "wire.h"

#include <string.h>

void
wire_reader(struct wire *w, const uint8_t *buf, size_t len)
{
	w->buf = (uint8_t *)(uintptr_t)buf;
	w->len = len;
	w->off = 0;
	w->err = 0;
}

void
wire_writer(struct wire *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->len = cap;
	w->off = 0;
	w->err = 0;
}

/* Reserve n bytes at the cursor; NULL (and the sticky error) if they are not there. */
static uint8_t *
take(struct wire *w, size_t n)
{
	uint8_t *p;

	if (w->err || n > w->len - w->off) {
		w->err = 1;
		return NULL;
	}
	p = w->buf + w->off;
	w->off += n;
	return p;
}

uint8_t
wire_get_u8(struct wire *w)
{
	const uint8_t *p = take(w, 1);

	return p ? p[0] : 0;
}

uint16_t
wire_get_u16(struct wire *w)
{
	const uint8_t *p = take(w, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t
wire_get_u32(struct wire *w)
{
	const uint8_t *p = take(w, 4);

	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

void
wire_get_bytes(struct wire *w, uint8_t *dst, size_t n)
{
	const uint8_t *p = take(w, n);

	if (p)
		memcpy(dst, p, n);
	else if (n)
		memset(dst, 0, n);
}

const uint8_t *
wire_get_ref(struct wire *w, size_t n)
{
	return take(w, n);
}

void
wire_put_u8(struct wire *w, uint8_t v)
{
	uint8_t *p = take(w, 1);

	if (p)
		p[0] = v;
}

void
wire_put_u16(struct wire *w, uint16_t v)
{
	uint8_t *p = take(w, 2);

	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

void
wire_put_u32(struct wire *w, uint32_t v)
{
	uint8_t *p = take(w, 4);

	if (p) {
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	}
}

void
wire_put_bytes(struct wire *w, const uint8_t *src, size_t n)
{
	uint8_t *p = take(w, n);

	if (p && n)
		memcpy(p, src, n);
}

void
wire_get_str(struct wire *w, char *out, size_t max)
{
	uint8_t n = wire_get_u8(w);
	const uint8_t *p;

	out[0] = '\0';
	if (n > max) {
		w->err = 1;
		return;
	}
	if (!(p = take(w, n)))
		return;
	if (memchr(p, 0, n)) {
		w->err = 1;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

void
wire_put_str(struct wire *w, const char *s)
{
	size_t n = strlen(s);

	if (n > 255) {
		w->err = 1;
		return;
	}
	wire_put_u8(w, (uint8_t)n);
	wire_put_bytes(w, (const uint8_t *)s, n);
}
