/* Bluetooth link framing (bt_frame.h). */
#include "bt_frame.h"

#include <stdlib.h>
#include <string.h>

#include "../mesh/wire.h"

const char *
bt_frame_strerror(int err)
{
	switch (err) {
	case BT_FRAME_OK:     return "ok";
	case BT_FRAME_EKIND:  return "unknown frame kind";
	case BT_FRAME_ELEN:   return "frame length out of range";
	case BT_FRAME_ENOMEM: return "out of memory";
	case BT_FRAME_EDEAD:  return "stream already refused";
	}
	return "unknown error";
}

void
bt_frame_header(uint8_t hdr[BT_FRAME_HDR], size_t len)
{
	hdr[0] = BT_FRAME_KIND_DATA;
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

/* Check a whole header; the frame length or a negative BT_FRAME_E*. */
static long
header_parse(const uint8_t hdr[BT_FRAME_HDR])
{
	struct wire w;
	uint32_t len;

	wire_reader(&w, hdr, BT_FRAME_HDR);
	if (wire_get_u8(&w) != BT_FRAME_KIND_DATA)
		return BT_FRAME_EKIND;
	len = (uint32_t)wire_get_u8(&w) << 16;
	len |= wire_get_u16(&w);
	if (!wire_ok(&w) || len == 0 || len > BT_FRAME_MAX)
		return BT_FRAME_ELEN;
	return (long)len;
}

int
bt_rx_feed(struct bt_rx *rx, const uint8_t *data, size_t len,
    void (*fn)(void *ctx, const uint8_t *frame, size_t len), void *ctx)
{
	size_t off = 0;

	if (rx->err)
		return BT_FRAME_EDEAD;
	while (off < len) {
		if (rx->hlen < BT_FRAME_HDR) {
			size_t n = BT_FRAME_HDR - rx->hlen;
			long flen;

			if (n > len - off)
				n = len - off;
			memcpy(rx->hdr + rx->hlen, data + off, n);
			rx->hlen += n;
			off += n;
			if (rx->hlen < BT_FRAME_HDR)
				break;
			if ((flen = header_parse(rx->hdr)) < 0)
				return rx->err = (int)flen;
			if (!rx->buf && (rx->buf = malloc(BT_FRAME_MAX)) == NULL)
				return rx->err = BT_FRAME_ENOMEM;
			rx->need = (size_t)flen;
			rx->got = 0;
		}
		{
			size_t n = rx->need - rx->got;

			if (n > len - off)
				n = len - off;
			memcpy(rx->buf + rx->got, data + off, n);
			rx->got += n;
			off += n;
		}
		if (rx->got == rx->need) {
			rx->hlen = 0;
			rx->frames++;
			if (fn)
				fn(ctx, rx->buf, rx->need);
		}
	}
	return BT_FRAME_OK;
}

size_t
bt_rx_pending(const struct bt_rx *rx)
{
	return rx->hlen + (rx->hlen == BT_FRAME_HDR ? rx->got : 0);
}

size_t
bt_tx_room(size_t queued, size_t max)
{
	if (queued > max || max - queued < BT_FRAME_HDR + BT_FRAME_MAX)
		return 0;
	return BT_FRAME_MAX;
}

enum bt_tx_wait
bt_tx_wait_kind(long sndbuf_free, long sndbuf)
{
	/* The kernel calls a socket writable while less than half its buffer is used
	 * (sock_writeable()): free > sndbuf - sndbuf / 2. */
	if (sndbuf_free < 0 || sndbuf <= 0 || sndbuf_free <= sndbuf - sndbuf / 2)
		return BT_WAIT_WRITABLE;
	return BT_WAIT_CREDITS;
}

uint64_t
bt_tx_retry_ms(uint64_t waited_ms)
{
	uint64_t d = waited_ms / 16;

	return d < BT_TX_RETRY_MS ? BT_TX_RETRY_MS : d > BT_TX_RETRY_MAX_MS ? BT_TX_RETRY_MAX_MS : d;
}

void
bt_rx_free(struct bt_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof *rx);
}
