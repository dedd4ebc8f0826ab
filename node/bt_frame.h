/*
 * Bluetooth link framing (docs/bluetooth.md, docs/protocol.md "Bluetooth"): session
 * frames over one L2CAP connection, as a byte stream. An L2CAP LE credit-based
 * channel keeps SDU boundaries, but an SDU is at most 65535 bytes and RFCOMM (the
 * BR/EDR fallback) has none, so frames carry their own length:
 *
 *   0      1                    4
 *   +------+--------------------+------------------------------+
 *   | kind | length (24-bit BE) | frame (length bytes)         |
 *   +------+--------------------+------------------------------+
 *   kind   0x01: one session frame (mesh/session.h); anything else is refused
 *   length 1 .. BT_FRAME_MAX (TRANSPORT_MAX_FRAME)
 *
 * The frame itself is a session frame: the handshake or AEAD-sealed data, so the
 * framing adds nothing to hide. The decoder is incremental: bytes may come in any
 * cut, and a stream fed byte by byte gives the same frames as one fed whole. The
 * first bad header ends the stream (the caller drops the connection); nothing of a
 * partial frame is ever passed up.
 */
#ifndef APAGON_BT_FRAME_H
#define APAGON_BT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

#define BT_FRAME_HDR       4
#define BT_FRAME_KIND_DATA 0x01
#define BT_FRAME_MAX       TRANSPORT_MAX_FRAME

enum bt_frame_err {
	BT_FRAME_OK = 0,
	BT_FRAME_EKIND = -1,            /* a header with an unknown kind */
	BT_FRAME_ELEN = -2,             /* a length of 0 or over BT_FRAME_MAX */
	BT_FRAME_ENOMEM = -3,
	BT_FRAME_EDEAD = -4,            /* fed again after an error */
};

const char *bt_frame_strerror(int err);

/* The receiving half of one connection. Zero it to start; bt_rx_free() at the end. */
struct bt_rx {
	uint8_t hdr[BT_FRAME_HDR];
	size_t hlen;                    /* header bytes held */
	uint8_t *buf;                   /* BT_FRAME_MAX bytes, allocated on first use */
	size_t need, got;               /* the frame being read */
	int err;                        /* sticky: the first error */
	uint64_t frames;                /* whole frames passed up */
};

/* Write the header for a frame of `len` bytes (1..BT_FRAME_MAX). */
void bt_frame_header(uint8_t hdr[BT_FRAME_HDR], size_t len);

/*
 * Feed `len` received bytes. fn is called once per whole frame, in order; the bytes
 * are valid during the call only. Returns BT_FRAME_OK, or the (sticky) error that
 * stopped it: no frame after a bad header is ever reported.
 */
int bt_rx_feed(struct bt_rx *rx, const uint8_t *data, size_t len,
    void (*fn)(void *ctx, const uint8_t *frame, size_t len), void *ctx);

/* Bytes of a partial frame held (header included): what a disconnect drops. */
size_t bt_rx_pending(const struct bt_rx *rx);

/* Bytes queued per link before send refuses: two whole frames. The session chooses
 * each frame by precedence when it makes it, so a FLASH bundle waits for at most the
 * frame in flight and one more (docs/protocol.md 17.2); a deeper queue held it behind
 * everything already queued (1 MiB was 10 s on a link of 100 kB/s). */
#define BT_TX_MAX          (2 * (BT_FRAME_HDR + BT_FRAME_MAX))

/* The frame a link's send queue takes next, when `queued` bytes wait in it and it
 * holds at most `max`: BT_FRAME_MAX while a whole largest frame (with its header)
 * still fits, else 0. All or nothing, so that what waits is always whole frames and
 * the session picks the next one only once the queue has room for it. */
size_t bt_tx_room(size_t queued, size_t max);

/*
 * How a link waits after the kernel refused a send (EAGAIN), given the free space of
 * its socket's send buffer (TIOCOUTQ on a Bluetooth socket) and the buffer's size.
 * With more than half the buffer free, the refusal is the LE channel waiting for the
 * peer's credits: the kernel then wakes an EPOLLOUT waiter for every packet the
 * controller takes and reports nothing writable until the credits come, so the link
 * tries again after BT_TX_RETRY_MS instead. Otherwise the buffer is full, and EPOLLOUT
 * wakes the waiter once half of it has drained. A free space that could not be read
 * (negative) waits on EPOLLOUT, as before.
 */
#define BT_TX_RETRY_MS 2
#define BT_TX_RETRY_MAX_MS 100
enum bt_tx_wait { BT_WAIT_WRITABLE, BT_WAIT_CREDITS };
enum bt_tx_wait bt_tx_wait_kind(long sndbuf_free, long sndbuf);

/* The pause before the next try when the link has waited `waited_ms` for credits:
 * BT_TX_RETRY_MS at first, then a sixteenth of the wait so far, at most
 * BT_TX_RETRY_MAX_MS. Credits normally come within one SDU's time on the air (tens
 * of ms on LE), and the next try is at most a sixteenth late; a peer that stops
 * granting them costs ten tries a second, not five hundred. */
uint64_t bt_tx_retry_ms(uint64_t waited_ms);

void bt_rx_free(struct bt_rx *rx);

#endif
