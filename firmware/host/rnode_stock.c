/*
 * A board running stock RNode firmware, simulated (rnode_stock.h). Host build only.
 * Behaviour follows markqvist/RNode_Firmware; the code is our own.
 */
#include "rnode_stock.h"

#include <string.h>

#include "../airtime.h"
#include "../proto/rnode.h"

/* RNode_Firmware Config.h: preamble at least 18 symbols and 24 ms; version 1.85. */
#define PREAMBLE_MIN_SYMBOLS 18
#define PREAMBLE_TARGET_MS   24
#define HEADER_L             1
#define SINGLE_PAYLOAD       (255 - HEADER_L)
#define FLAG_SPLIT           0x01
#define SEQ_UNSET            0xFF

static uint64_t
now(const struct rnode_stock *r)
{
	return r->hal->ops->now_ms(r->hal->ctx);
}

static uint32_t
rnd(struct rnode_stock *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 17;
	r->rng ^= r->rng << 5;
	return r->rng;
}

static void
out(struct rnode_stock *r, uint8_t cmd, const uint8_t *arg, size_t len)
{
	size_t n = kiss_encode(r->out + r->out_len, sizeof r->out - r->out_len, cmd, arg, len);

	r->out_len += n;        /* 0 when full: dropped, as a full UART would */
}

static void
out_u8(struct rnode_stock *r, uint8_t cmd, uint8_t v)
{
	out(r, cmd, &v, 1);
}

static void
out_u32(struct rnode_stock *r, uint8_t cmd, uint32_t v)
{
	uint8_t b[4];

	rnode_put_u32(b, v);
	out(r, cmd, b, 4);
}

static int
flush(struct rnode_stock *r)
{
	size_t w;

	if (!r->out_len)
		return 0;
	w = r->hal->ops->uart_write(r->hal->ctx, r->out, r->out_len);
	if (w > r->out_len)
		w = r->out_len;
	memmove(r->out, r->out + w, r->out_len - w);
	r->out_len -= w;
	return w > 0;
}

/* ---- airtime books: 7.5 s bins over the hour, as the firmware keeps them ---- */

static void
bins_advance(struct rnode_stock *r, uint64_t t)
{
	uint64_t b = t / RNS_BIN_MS;

	if (b > r->bin_at) {
		uint64_t steps = b - r->bin_at;

		for (uint64_t i = 1; i <= steps && i <= RNS_BINS; i++)
			r->bins[(r->bin_at + i) % RNS_BINS] = 0;
		r->bin_at = b;
	}
}

/* Short-term airtime (the current and the previous bin) and long-term (the hour), in
 * 1/100 %. */
static void
airtime_bp(struct rnode_stock *r, uint64_t t, uint32_t *st, uint32_t *lt)
{
	uint64_t sum = 0;

	bins_advance(r, t);
	for (unsigned i = 0; i < RNS_BINS; i++)
		sum += r->bins[i];
	*st = (uint32_t)((uint64_t)(r->bins[r->bin_at % RNS_BINS] +
	    r->bins[(r->bin_at + RNS_BINS - 1) % RNS_BINS]) * 10000 / (2 * RNS_BIN_MS));
	*lt = (uint32_t)(sum * 10000 / (RNS_BINS * (uint64_t)RNS_BIN_MS));
}

static int
airtime_locked(struct rnode_stock *r, uint64_t t)
{
	uint32_t st, lt;

	airtime_bp(r, t, &st, &lt);
	return (r->st_alock && st >= r->st_alock) || (r->lt_alock && lt >= r->lt_alock);
}

static void
channel_stats(struct rnode_stock *r, uint64_t t)
{
	uint8_t b[11];
	uint32_t st, lt;
	int16_t dbm = -157;

	airtime_bp(r, t, &st, &lt);
	if (r->online)
		r->radio.ops->rssi(r->radio.ctx, &dbm);
	rnode_put_u16(b, (uint16_t)st);
	rnode_put_u16(b + 2, (uint16_t)lt);
	rnode_put_u16(b + 4, (uint16_t)st);     /* channel load: own airtime only here */
	rnode_put_u16(b + 6, (uint16_t)lt);
	b[8] = rnode_rssi_byte(dbm);
	b[9] = rnode_rssi_byte(dbm);
	b[10] = 0xFF;                           /* no interference detected */
	out(r, RNODE_CMD_STAT_CHTM, b, sizeof b);
}

/* ---- radio ---- */

static uint32_t
symbol_us(const struct rnode_stock *r)
{
	return r->bw ? (uint32_t)(((uint64_t)1000000 << r->sf) / r->bw) : 0;
}

static void
phy_stats(struct rnode_stock *r)
{
	uint8_t b[12];
	uint32_t sym = symbol_us(r), slot = sym * 12 / 1000;

	if (slot > 100)
		slot = 100;
	if (slot < 24)
		slot = 24;
	rnode_put_u16(b, (uint16_t)sym);
	rnode_put_u16(b + 2, (uint16_t)(sym ? 1000000 / sym : 0));
	rnode_put_u16(b + 4, r->cfg.preamble);
	rnode_put_u16(b + 6, (uint16_t)((r->cfg.preamble * sym + 999) / 1000));
	rnode_put_u16(b + 8, (uint16_t)slot);
	rnode_put_u16(b + 10, (uint16_t)(2 * slot));
	out(r, RNODE_CMD_STAT_PHYPRM, b, sizeof b);
}

static int
locked(const struct rnode_stock *r)
{
	return !(r->freq && r->bw && r->txp != 0xFF && r->sf);
}

static void
apply(struct rnode_stock *r)
{
	uint32_t sym = symbol_us(r);
	uint32_t pre = sym ? (PREAMBLE_TARGET_MS * 1000 + sym - 1) / sym : 0;

	r->cfg.freq_hz = r->freq;
	r->cfg.bw_hz = r->bw;
	r->cfg.sf = r->sf;
	r->cfg.cr = r->cr;
	r->cfg.power_dbm = (int8_t)r->txp;
	r->cfg.preamble = (uint16_t)(pre < PREAMBLE_MIN_SYMBOLS ? PREAMBLE_MIN_SYMBOLS : pre);
	r->cfg.crc = 1;
	r->cfg.implicit = 0;
	r->cfg.sync_word = 0x12;
	if (!r->online)
		return;
	if (r->radio.ops->standby(r->radio.ctx) || r->radio.ops->configure(r->radio.ctx, &r->cfg) ||
	    r->radio.ops->rx(r->radio.ctx)) {
		r->online = 0;
		out_u8(r, RNODE_CMD_ERROR, RNODE_ERROR_INITRADIO);
		return;
	}
	r->state = RNS_RX;
	phy_stats(r);
}

static void
start_radio(struct rnode_stock *r)
{
	if (r->online || locked(r) || !r->radio_ok)
		return;
	r->online = 1;
	apply(r);
}

/* ---- serial commands ---- */

static void
command(struct rnode_stock *r, const uint8_t *body, size_t len)
{
	uint8_t cmd = body[0];
	const uint8_t *a = body + 1;
	size_t n = len - 1;
	uint8_t b[2];

	switch (cmd) {
	case RNODE_CMD_DATA:
		if (n >= 1 && n <= RNS_MTU && r->qcount < RNS_QUEUE) {
			unsigned i = (r->qhead + r->qcount++) % RNS_QUEUE;

			r->q[i].len = (uint16_t)n;
			memcpy(r->q[i].data, a, n);
		}
		break;
	case RNODE_CMD_FREQUENCY:
	case RNODE_CMD_BANDWIDTH:
		if (n != 4)
			break;
		if (rnode_get_u32(a)) {
			if (cmd == RNODE_CMD_FREQUENCY)
				r->freq = rnode_get_u32(a);
			else
				r->bw = rnode_get_u32(a);
			apply(r);
		}
		out_u32(r, cmd, cmd == RNODE_CMD_FREQUENCY ?
		    (uint32_t)((int64_t)r->freq + (r->freq ? r->freq_report_offset : 0)) : r->bw);
		break;
	case RNODE_CMD_TXPOWER:
		if (n != 1)
			break;
		if (a[0] != RNODE_ASK_U8) {
			/* The firmware clamps to what the board can do, and says so. */
			r->txp = (int8_t)a[0] > r->max_dbm ? r->max_dbm : (int8_t)a[0];
			apply(r);
		}
		out_u8(r, cmd, (uint8_t)r->txp);
		break;
	case RNODE_CMD_SF:
	case RNODE_CMD_CR: {
		/* Clamped as the firmware does: SF 5..12, CR 5..8. */
		uint8_t *v = cmd == RNODE_CMD_SF ? &r->sf : &r->cr, hi = cmd == RNODE_CMD_SF ? 12 : 8;

		if (n != 1)
			break;
		if (a[0] != RNODE_ASK_U8) {
			*v = a[0] < 5 ? 5 : a[0] > hi ? hi : a[0];
			apply(r);
		}
		out_u8(r, cmd, *v);
		break;
	}
	case RNODE_CMD_RADIO_STATE:
		if (n != 1)
			break;
		if (a[0] == RNODE_RADIO_OFF) {
			r->radio.ops->standby(r->radio.ctx);
			r->online = 0;
		} else if (a[0] == RNODE_RADIO_ON) {
			start_radio(r);
			out_u8(r, cmd, (uint8_t)r->online);     /* the firmware says it twice */
		}
		out_u8(r, cmd, (uint8_t)r->online);
		break;
	case RNODE_CMD_ST_ALOCK:
	case RNODE_CMD_LT_ALOCK: {
		uint16_t at;

		if (n != 2)
			break;
		at = rnode_get_u16(a);
		if (at >= 10000)
			at = 0;
		if (cmd == RNODE_CMD_ST_ALOCK)
			r->st_alock = at;
		else
			r->lt_alock = at;
		rnode_put_u16(b, at);
		out(r, cmd, b, 2);
		break;
	}
	case RNODE_CMD_DETECT:
		if (n == 1 && a[0] == RNODE_DETECT_REQ)
			out_u8(r, cmd, RNODE_DETECT_RESP);
		break;
	case RNODE_CMD_FW_VERSION:
		out(r, cmd, r->version, 2);
		break;
	case RNODE_CMD_PLATFORM:
		out_u8(r, cmd, RNODE_PLATFORM_ESP32);
		break;
	case RNODE_CMD_MCU:
		out_u8(r, cmd, RNODE_MCU_ESP32);
		break;
	case RNODE_CMD_STAT_RX:
		out_u32(r, cmd, r->stat_rx);
		break;
	case RNODE_CMD_STAT_TX:
		out_u32(r, cmd, r->stat_tx);
		break;
	case RNODE_CMD_READY:
		out_u8(r, cmd, r->qcount < RNS_QUEUE ? 0x01 : 0x00);
		break;
	default:
		break;          /* LEAVE, and anything RNode firmware does not know */
	}
}

/* ---- the air ---- */

static void
tx_chunk(struct rnode_stock *r, const uint8_t *p, size_t n, uint64_t t)
{
	uint32_t ms;

	r->txbuf[0] = r->tx_header;
	memcpy(r->txbuf + 1, p, n);
	ms = lora_airtime_ms(&r->cfg, n + 1);
	if (r->radio.ops->tx(r->radio.ctx, r->txbuf, n + 1) != 0) {
		out_u8(r, RNODE_CMD_ERROR, RNODE_ERROR_TXFAILED);
		r->tx_rest_len = 0;
		r->state = RNS_RX;
		r->radio.ops->rx(r->radio.ctx);
		return;
	}
	bins_advance(r, t);
	r->bins[r->bin_at % RNS_BINS] += ms;
	r->state = RNS_TX;
	r->deadline_ms = t + ms + 1000;
}

static void
start_tx(struct rnode_stock *r, uint64_t t)
{
	const uint8_t *d = r->q[r->qhead].data;
	size_t len = r->q[r->qhead].len;

	r->tx_header = (uint8_t)(rnd(r) & 0xF0) | (len > SINGLE_PAYLOAD ? FLAG_SPLIT : 0);
	if (len > SINGLE_PAYLOAD) {
		r->tx_rest_off = SINGLE_PAYLOAD;
		r->tx_rest_len = len - SINGLE_PAYLOAD;
		len = SINGLE_PAYLOAD;
	} else {
		r->tx_rest_len = 0;
	}
	tx_chunk(r, d, len, t);
}

static void
rx_frame(struct rnode_stock *r, const uint8_t *buf, size_t len, int16_t rssi, int8_t snr4)
{
	uint8_t h, s;
	int ready = 0;

	if (len < 2)
		return;
	h = buf[0];
	s = h >> 4;
	buf++;
	len--;
	if (!(h & FLAG_SPLIT)) {
		memcpy(r->pbuf, buf, len);
		r->plen = len;
		r->seq = SEQ_UNSET;
		ready = 1;
	} else if (r->seq == s && r->plen + len <= sizeof r->pbuf) {
		memcpy(r->pbuf + r->plen, buf, len);
		r->plen += len;
		r->seq = SEQ_UNSET;
		ready = 1;
	} else {
		memcpy(r->pbuf, buf, len);      /* the first half of a split frame */
		r->plen = len;
		r->seq = s;
	}
	if (ready) {
		uint8_t snr = (uint8_t)snr4;

		r->stat_rx++;
		out_u8(r, RNODE_CMD_STAT_RSSI, rnode_rssi_byte(rssi));
		out(r, RNODE_CMD_STAT_SNR, &snr, 1);
		out(r, RNODE_CMD_DATA, r->pbuf, r->plen);
	}
}

static void
radio_event(struct rnode_stock *r, const struct radio_event *ev, uint64_t t)
{
	switch (ev->type) {
	case RADIO_EV_RX_DONE:
		rx_frame(r, r->rxbuf, ev->len, ev->rssi_dbm, ev->snr_db4);
		break;
	case RADIO_EV_CAD_DONE:
		if (r->state != RNS_CAD)
			break;
		if (!ev->cad_busy && r->qcount) {
			start_tx(r, t);
			break;
		}
		/* Carrier sensed: wait a random number of CSMA slots and listen again. */
		r->radio.ops->rx(r->radio.ctx);
		r->state = RNS_BACKOFF;
		r->deadline_ms = t + (1 + rnd(r) % 15) * 24;
		break;
	case RADIO_EV_TX_DONE:
	case RADIO_EV_TIMEOUT:
		if (r->state != RNS_TX)
			break;
		if (ev->type == RADIO_EV_TX_DONE && r->tx_rest_len) {
			size_t off = r->tx_rest_off, n = r->tx_rest_len;

			r->tx_rest_len = 0;
			tx_chunk(r, r->q[r->qhead].data + off, n, t);
			break;
		}
		if (ev->type == RADIO_EV_TX_DONE)
			r->stat_tx++;
		else
			out_u8(r, RNODE_CMD_ERROR, RNODE_ERROR_TXFAILED);
		r->qhead = (r->qhead + 1) % RNS_QUEUE;
		r->qcount--;
		r->state = RNS_RX;
		r->radio.ops->rx(r->radio.ctx);
		channel_stats(r, t);
		break;
	default:
		break;
	}
}

int
rnode_stock_init(struct rnode_stock *r, const struct hal *hal, const struct radio *radio,
    int8_t max_dbm)
{
	memset(r, 0, sizeof *r);
	r->hal = hal;
	r->radio = *radio;
	r->max_dbm = max_dbm;
	r->version[0] = 0x01;
	r->version[1] = 0x55;
	r->txp = 0xFF;
	r->cr = 5;
	r->seq = SEQ_UNSET;
	r->rng = (uint32_t)now(r) * 2654435761u + 7;
	for (const char *p = hal->info && hal->info->name ? hal->info->name : ""; *p; p++)
		r->rng = r->rng * 31 + (uint8_t)*p;
	if (!r->rng)
		r->rng = 1;
	kiss_decoder_init(&r->kd, r->kbuf, sizeof r->kbuf);
	r->radio_ok = r->radio.ops->init(r->radio.ctx) == 0;
	out_u8(r, RNODE_CMD_RESET, RNODE_RESET_BYTE);   /* ESP32 boards say this at boot */
	flush(r);
	return r->radio_ok ? 0 : -1;
}

void
rnode_stock_poll(struct rnode_stock *r)
{
	uint8_t in[64];
	size_t n, off = 0;
	int busy = 0, rc;
	struct radio_event ev;
	uint64_t t;

	n = r->hal->ops->uart_read(r->hal->ctx, in, sizeof in);
	if (n > sizeof in)
		n = sizeof in;
	while (off < n) {
		size_t used;

		if (kiss_decode(&r->kd, in + off, n - off, &used) && r->kd.len > 0)
			command(r, r->kd.buf, r->kd.len);
		off += used;
	}
	busy |= n > 0;
	t = now(r);
	if (r->radio_ok)
		while ((rc = r->radio.ops->irq(r->radio.ctx, &ev, r->rxbuf, sizeof r->rxbuf)) > 0) {
			radio_event(r, &ev, t);
			busy = 1;
		}
	if (r->online) {
		if ((r->state == RNS_CAD || r->state == RNS_TX) && t >= r->deadline_ms) {
			out_u8(r, RNODE_CMD_ERROR, RNODE_ERROR_MODEM_TIMEOUT);
			r->state = RNS_RX;
			r->radio.ops->rx(r->radio.ctx);
		}
		if (r->state == RNS_BACKOFF && t >= r->deadline_ms)
			r->state = RNS_RX;
		if (r->state == RNS_RX && r->qcount && !airtime_locked(r, t) &&
		    r->radio.ops->cad(r->radio.ctx) == 0) {
			r->state = RNS_CAD;
			r->deadline_ms = t + 1000;
			busy = 1;
		}
		if (t - r->last_stats_ms >= 1000) {
			r->last_stats_ms = t;
			channel_stats(r, t);
		}
	}
	busy |= flush(r);
	if (!busy && r->hal->ops->idle) {
		uint64_t w = 1000;

		if ((r->state == RNS_BACKOFF || r->state == RNS_CAD || r->state == RNS_TX) &&
		    r->deadline_ms > t && r->deadline_ms - t < w)
			w = r->deadline_ms - t;
		if (r->out_len)
			w = 1;
		r->hal->ops->idle(r->hal->ctx, (uint32_t)w);
	}
}
