/*
 * The portable modem core (firmware/modem.h): serial commands in, radio operations
 * out, with the regional law checked before every transmission.
 */
#include "modem.h"

#include <string.h>

#include "airtime.h"

/* SX126x LoRa bandwidths (datasheet 13.4.5, SetModulationParams BW field). */
static const uint32_t lora_bws[] = {
	7810, 10420, 15630, 20830, 31250, 41670, 62500, 125000, 250000, 500000,
};

static uint64_t
now(const struct modem *m)
{
	return m->hal->ops->now_ms(m->hal->ctx);
}

/* xorshift32: backoff jitter only, nothing secret. */
static uint32_t
rnd(struct modem *m)
{
	uint32_t x = m->rng ? m->rng : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	m->rng = x;
	return x;
}

/* ---- serial output ---- */

static void
out_bytes(struct modem *m, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t at = (m->out_head + m->out_len) % MODEM_UART_OUT;

		m->uart_out[at] = p[i];
		m->out_len++;
	}
}

/* Queue one KISS frame to the host; dropped whole (and counted) if the ring is full. */
static void
out_frame(struct modem *m, uint8_t cmd, const uint8_t *arg, size_t len)
{
	uint8_t enc[KISS_ENCODED_MAX(1 + 256)];
	size_t n = kiss_encode(enc, sizeof enc, cmd, arg, len);

	if (!n || n > MODEM_UART_OUT - m->out_len) {
		m->stat[APG_STAT_UART_DROPS]++;
		return;
	}
	out_bytes(m, enc, n);
}

static void
out_u8(struct modem *m, uint8_t cmd, uint8_t v)
{
	out_frame(m, cmd, &v, 1);
}

static void
out_u32(struct modem *m, uint8_t cmd, uint32_t v)
{
	uint8_t b[4];

	rnode_put_u32(b, v);
	out_frame(m, cmd, b, 4);
}

static void
out_error(struct modem *m, uint8_t code, const uint8_t *detail, size_t n)
{
	uint8_t b[6];

	b[0] = code;
	if (n > sizeof b - 1)
		n = sizeof b - 1;
	if (n)
		memcpy(b + 1, detail, n);
	out_frame(m, RNODE_CMD_ERROR, b, 1 + n);
}

static int
flush(struct modem *m)
{
	int moved = 0;

	while (m->out_len) {
		size_t chunk = MODEM_UART_OUT - m->out_head;
		size_t w;

		if (chunk > m->out_len)
			chunk = m->out_len;
		w = m->hal->ops->uart_write(m->hal->ctx, m->uart_out + m->out_head, chunk);
		if (w == 0)
			break;
		if (w > chunk)
			w = chunk;
		m->out_head = (m->out_head + w) % MODEM_UART_OUT;
		m->out_len -= w;
		moved = 1;
	}
	return moved;
}

/* ---- radio state ---- */

static int
cfg_valid(const struct modem *m)
{
	return m->cfg.freq_hz != 0;
}

/* Apply the configuration and listen; radio off on failure. */
static void
radio_start(struct modem *m)
{
	const struct radio_ops *ops = m->radio.ops;

	if (!m->radio_ok || !cfg_valid(m) || ops->standby(m->radio.ctx) ||
	    ops->configure(m->radio.ctx, &m->cfg) || ops->rx(m->radio.ctx)) {
		m->stat[APG_STAT_RADIO_ERRORS]++;
		m->radio_on = 0;
		m->state = MODEM_OFF;
		if (m->radio_ok)
			ops->standby(m->radio.ctx);
		out_error(m, RNODE_ERROR_INITRADIO, NULL, 0);
		return;
	}
	if (m->hal->ops->antenna)
		m->hal->ops->antenna(m->hal->ctx, 1);
	m->state = MODEM_RX;
}

static void
radio_stop(struct modem *m)
{
	if (m->radio_ok)
		m->radio.ops->standby(m->radio.ctx);
	if (m->hal->ops->antenna)
		m->hal->ops->antenna(m->hal->ctx, 0);
	m->state = MODEM_OFF;
}

/* A parameter changed: reapply now unless a CAD or TX is under way (then after it). */
static void
reconfigure(struct modem *m)
{
	if (m->radio_on && (m->state == MODEM_RX || m->state == MODEM_BACKOFF))
		radio_start(m);
}

static void
back_to_rx(struct modem *m)
{
	if (!m->radio_on) {
		radio_stop(m);
		return;
	}
	/* Reapply the configuration too: it may have changed during TX or CAD. */
	radio_start(m);
}

/* ---- commands ---- */

static void
reply_state(struct modem *m)
{
	out_u8(m, RNODE_CMD_RADIO_STATE, m->radio_on ? RNODE_RADIO_ON : RNODE_RADIO_OFF);
}

static void
bad_command(struct modem *m, uint8_t cmd)
{
	m->stat[APG_STAT_BAD_COMMANDS]++;
	out_error(m, APG_ERROR_BAD_COMMAND, &cmd, 1);
}

static void
chtm(struct modem *m)
{
	uint64_t t = now(m);
	uint32_t short_den = DUTY_BUCKET_MS + (uint32_t)(t % DUTY_BUCKET_MS);
	uint32_t tx_s = load_sum(&m->tx_load, t, 2), tx_l = load_sum(&m->tx_load, t, DUTY_BUCKETS);
	uint32_t rx_s = load_sum(&m->rx_load, t, 2), rx_l = load_sum(&m->rx_load, t, DUTY_BUCKETS);
	uint8_t b[8];

	/* In 1/100 %, as RNode reports them. */
	rnode_put_u16(b, (uint16_t)((uint64_t)tx_s * 10000 / short_den));
	rnode_put_u16(b + 2, (uint16_t)((uint64_t)tx_l * 10000 / DUTY_WINDOW_MS));
	rnode_put_u16(b + 4, (uint16_t)((uint64_t)(tx_s + rx_s) * 10000 / short_den));
	rnode_put_u16(b + 6, (uint16_t)((uint64_t)(tx_l + rx_l) * 10000 / DUTY_WINDOW_MS));
	out_frame(m, RNODE_CMD_STAT_CHTM, b, sizeof b);
}

static void
stats(struct modem *m)
{
	uint8_t b[5 * (APG_STAT_MAX - 1)];
	size_t n = 0;
	uint64_t t = now(m);

	m->stat[APG_STAT_KISS_OVERFLOWS] = m->kiss.overflows;
	m->stat[APG_STAT_KISS_BAD_ESCAPES] = m->kiss.bad_escapes;
	m->stat[APG_STAT_LAST_RSSI] = rnode_rssi_byte(m->last_rssi);
	m->stat[APG_STAT_LAST_SNR] = (uint8_t)m->last_snr4;
	m->stat[APG_STAT_NOISE_FLOOR] = rnode_rssi_byte(m->noise_dbm);
	m->stat[APG_STAT_QUEUE_LEN] = m->txq.count;
	m->stat[APG_STAT_CHANNEL_LOAD] = (uint32_t)((uint64_t)(load_sum(&m->tx_load, t, DUTY_BUCKETS) +
	    load_sum(&m->rx_load, t, DUTY_BUCKETS)) * 10000 / DUTY_WINDOW_MS);
	for (unsigned id = 1; id < APG_STAT_MAX; id++) {
		b[n] = (uint8_t)id;
		rnode_put_u32(b + n + 1, m->stat[id]);
		n += 5;
	}
	out_frame(m, APG_CMD_STATS, b, n);
}

static void
duty_report(struct modem *m)
{
	uint8_t b[APG_DUTY_RECORD * DUTY_MAX_BANDS];
	size_t n = 0;
	uint64_t t = now(m);

	for (unsigned i = 0; i < m->duty.nbands; i++) {
		const struct duty_band *band = &m->duty.bands[i];
		uint32_t refusals = m->duty.use[i].refusals;

		b[n] = band->id;
		rnode_put_u16(b + n + 1, band->duty_bp);
		rnode_put_u32(b + n + 3, duty_used_ms(&m->duty, (int)i, t));
		rnode_put_u32(b + n + 7, duty_budget_ms(&m->duty, (int)i));
		rnode_put_u32(b + n + 11, (uint32_t)m->duty.use[i].total_ms);
		rnode_put_u16(b + n + 15, (uint16_t)(refusals > 0xffff ? 0xffff : refusals));
		n += APG_DUTY_RECORD;
	}
	out_frame(m, APG_CMD_DUTY, b, n);
}

static void
enqueue(struct modem *m, uint8_t prec, const uint8_t *data, size_t len)
{
	uint8_t ev;
	int r;

	if (m->duty.region == APG_REGION_NONE) {
		m->stat[APG_STAT_NO_REGION_REFUSALS]++;
		out_error(m, APG_ERROR_NO_REGION, NULL, 0);
		return;
	}
	if (!m->radio_on) {
		m->stat[APG_STAT_TX_FAILED]++;
		out_error(m, APG_ERROR_RADIO_OFF, NULL, 0);
		return;
	}
	r = txq_push(&m->txq, prec, data, len, &ev);
	if (r < 0) {
		m->stat[APG_STAT_QUEUE_FULL]++;
		out_error(m, RNODE_ERROR_QUEUE_FULL, &prec, 1);
	} else if (r > 0) {
		m->stat[APG_STAT_QUEUE_FULL]++;
		out_error(m, RNODE_ERROR_QUEUE_FULL, &ev, 1);
	}
}

static int
bw_valid(uint32_t bw)
{
	for (unsigned i = 0; i < sizeof lora_bws / sizeof lora_bws[0]; i++)
		if (lora_bws[i] == bw)
			return 1;
	/* RNode hosts write the rounded figures 7800, 10400, 15600, 20800, 41700. */
	return bw == 7800 || bw == 10400 || bw == 15600 || bw == 20800 || bw == 41700;
}

static void
command(struct modem *m, const uint8_t *body, size_t len)
{
	struct rnode_cmd c;
	const struct hal_info *info = m->hal->info;

	if (rnode_parse_host(body, len, &c) != 0) {
		bad_command(m, c.cmd);
		return;
	}
	switch (c.cmd) {
	case RNODE_CMD_DETECT:
		if (c.value == RNODE_DETECT_REQ)
			out_u8(m, RNODE_CMD_DETECT, RNODE_DETECT_RESP);
		break;
	case RNODE_CMD_FW_VERSION: {
		uint8_t v[2] = { MODEM_FW_MAJOR, MODEM_FW_MINOR };

		out_frame(m, RNODE_CMD_FW_VERSION, v, 2);
		break;
	}
	case RNODE_CMD_PLATFORM:
		out_u8(m, RNODE_CMD_PLATFORM, info ? info->platform : 0);
		break;
	case RNODE_CMD_MCU:
		out_u8(m, RNODE_CMD_MCU, info ? info->mcu : 0);
		break;
	case RNODE_CMD_FREQUENCY:
		/* SX1262 synthesiser range: 150..960 MHz (datasheet 13.4.1). */
		if (c.value && (c.value < 150000000u || c.value > 960000000u)) {
			bad_command(m, c.cmd);
		} else if (c.value && c.value != m->cfg.freq_hz) {
			m->cfg.freq_hz = c.value;
			reconfigure(m);
		}
		out_u32(m, RNODE_CMD_FREQUENCY, m->cfg.freq_hz);
		break;
	case RNODE_CMD_BANDWIDTH:
		if (c.value && !bw_valid(c.value)) {
			bad_command(m, c.cmd);
		} else if (c.value && c.value != m->cfg.bw_hz) {
			m->cfg.bw_hz = c.value;
			reconfigure(m);
		}
		out_u32(m, RNODE_CMD_BANDWIDTH, m->cfg.bw_hz);
		break;
	case RNODE_CMD_TXPOWER:
		if (c.value != RNODE_ASK_U8) {
			int8_t p = (int8_t)(uint8_t)c.value;
			int8_t max = info && info->max_dbm ? info->max_dbm : 22;

			/* SX1262 high-power PA: -9..+22 dBm (datasheet 13.4.4). */
			if (p < -9 || p > max) {
				bad_command(m, c.cmd);
			} else if (p != m->cfg.power_dbm) {
				m->cfg.power_dbm = p;
				reconfigure(m);
			}
		}
		out_u8(m, RNODE_CMD_TXPOWER, (uint8_t)m->cfg.power_dbm);
		break;
	case RNODE_CMD_SF:
		if (c.value != RNODE_ASK_U8) {
			if (c.value < 5 || c.value > 12)
				bad_command(m, c.cmd);
			else if (c.value != m->cfg.sf) {
				m->cfg.sf = (uint8_t)c.value;
				reconfigure(m);
			}
		}
		out_u8(m, RNODE_CMD_SF, m->cfg.sf);
		break;
	case RNODE_CMD_CR:
		if (c.value != RNODE_ASK_U8) {
			if (c.value < 5 || c.value > 8)
				bad_command(m, c.cmd);
			else if (c.value != m->cfg.cr) {
				m->cfg.cr = (uint8_t)c.value;
				reconfigure(m);
			}
		}
		out_u8(m, RNODE_CMD_CR, m->cfg.cr);
		break;
	case APG_CMD_PREAMBLE:
		if (c.value) {
			if (c.value < 6)
				bad_command(m, c.cmd);
			else if (c.value != m->cfg.preamble) {
				m->cfg.preamble = (uint16_t)c.value;
				reconfigure(m);
			}
		}
		{
			uint8_t b[2];

			rnode_put_u16(b, m->cfg.preamble);
			out_frame(m, APG_CMD_PREAMBLE, b, 2);
		}
		break;
	case RNODE_CMD_RADIO_STATE:
		if (c.value == RNODE_RADIO_ON && !m->radio_on) {
			m->radio_on = 1;
			radio_start(m);
		} else if (c.value == RNODE_RADIO_OFF && m->radio_on) {
			m->radio_on = 0;
			if (m->state != MODEM_TX)
				radio_stop(m);
		} else if (c.value != RNODE_ASK_U8 && c.value > RNODE_RADIO_ON) {
			bad_command(m, c.cmd);
		}
		reply_state(m);
		break;
	case RNODE_CMD_LEAVE:
		m->radio_on = 0;
		if (m->state != MODEM_TX)
			radio_stop(m);
		break;
	case APG_CMD_REGION:
		if (c.value != APG_REGION_ASK) {
			if (duty_set_region(&m->duty, (uint8_t)c.value) != 0)
				bad_command(m, c.cmd);
		}
		out_u8(m, APG_CMD_REGION, m->duty.region);
		break;
	case RNODE_CMD_DATA:
		enqueue(m, APG_PREC_ROUTINE, c.arg, c.len);
		break;
	case APG_CMD_DATA_PREC:
		enqueue(m, (uint8_t)c.value, c.arg + 1, c.len - 1);
		break;
	case RNODE_CMD_STAT_RX:
		out_u32(m, RNODE_CMD_STAT_RX, m->stat[APG_STAT_RX_FRAMES]);
		break;
	case RNODE_CMD_STAT_TX:
		out_u32(m, RNODE_CMD_STAT_TX, m->stat[APG_STAT_TX_FRAMES]);
		break;
	case RNODE_CMD_STAT_CHTM:
		chtm(m);
		break;
	case APG_CMD_STATS:
		stats(m);
		break;
	case APG_CMD_DUTY:
		duty_report(m);
		break;
	default:
		/* RNode firmware ignores commands it does not know; so do we (counted). */
		m->stat[APG_STAT_BAD_COMMANDS]++;
		break;
	}
}

/* ---- transmission ---- */

static uint32_t
symbol_ms(const struct modem *m)
{
	uint32_t us = (uint32_t)(((uint64_t)1 << m->cfg.sf) * 1000000u / m->cfg.bw_hz);

	return us / 1000 + 1;
}

/* Refuse the head frame for a legal reason: drop it and tell the host. */
static void
refuse(struct modem *m, const struct txq_slot *s, uint8_t code, const uint8_t *detail, size_t n)
{
	txq_pop(&m->txq, s);
	out_error(m, code, detail, n);
}

/* The head frame may go now if the law allows: 1 and band/airtime set, or 0 (refused). */
static int
lawful(struct modem *m, const struct txq_slot *s, int *band, uint32_t *airtime)
{
	uint32_t wait;

	if (m->duty.region == APG_REGION_NONE) {
		m->stat[APG_STAT_NO_REGION_REFUSALS]++;
		refuse(m, s, APG_ERROR_NO_REGION, NULL, 0);
		return 0;
	}
	*band = duty_band_of(&m->duty, m->cfg.freq_hz, m->cfg.bw_hz);
	if (*band < 0) {
		m->stat[APG_STAT_DUTY_REFUSALS]++;
		refuse(m, s, APG_ERROR_FREQ_NOT_ALLOWED, NULL, 0);
		return 0;
	}
	if (m->cfg.power_dbm > m->duty.bands[*band].max_dbm) {
		m->stat[APG_STAT_DUTY_REFUSALS]++;
		duty_refused(&m->duty, *band);
		refuse(m, s, APG_ERROR_POWER, NULL, 0);
		return 0;
	}
	*airtime = lora_airtime_ms(&m->cfg, s->len);
	wait = duty_check(&m->duty, *band, *airtime, now(m));
	if (wait) {
		uint8_t d[4];

		rnode_put_u32(d, wait);
		m->stat[APG_STAT_DUTY_REFUSALS]++;
		duty_refused(&m->duty, *band);
		refuse(m, s, APG_ERROR_DUTY_CYCLE, d, 4);
		return 0;
	}
	return 1;
}

static void
start_cad(struct modem *m)
{
	const struct txq_slot *s = txq_peek(&m->txq);
	int band;
	uint32_t airtime;

	if (!s || !lawful(m, s, &band, &airtime))
		return;
	if (m->radio.ops->standby(m->radio.ctx) || m->radio.ops->cad(m->radio.ctx)) {
		m->stat[APG_STAT_RADIO_ERRORS]++;
		back_to_rx(m);
		return;
	}
	m->state = MODEM_CAD;
	/* CAD lasts a few symbols; a missing CAD_DONE must not hang the modem. */
	m->deadline_ms = now(m) + 64 * (uint64_t)symbol_ms(m) + 100;
}

static void
start_tx(struct modem *m)
{
	const struct txq_slot *s = txq_peek(&m->txq);
	int band;
	uint32_t airtime;
	uint64_t t;

	/* The law is checked again: time has passed and the head may have changed. */
	if (!s || !lawful(m, s, &band, &airtime)) {
		back_to_rx(m);
		return;
	}
	t = now(m);
	if (m->hal->ops->antenna)
		m->hal->ops->antenna(m->hal->ctx, 2);
	if (m->radio.ops->tx(m->radio.ctx, s->data, s->len)) {
		m->stat[APG_STAT_RADIO_ERRORS]++;
		m->stat[APG_STAT_TX_FAILED]++;
		refuse(m, s, RNODE_ERROR_TXFAILED, NULL, 0);
		back_to_rx(m);
		return;
	}
	/* Booked when it starts, so nothing can slip past the limiter meanwhile. */
	duty_book(&m->duty, band, airtime, t);
	load_add(&m->tx_load, airtime, t);
	m->stat[APG_STAT_TX_BYTES] += s->len;
	m->tx_airtime_ms = airtime;
	m->tx_band = band;
	m->tx_prec = s->prec;
	txq_pop(&m->txq, s);
	m->state = MODEM_TX;
	m->lbt_tries = 0;
	m->deadline_ms = t + airtime + 1000;
}

static void
radio_event(struct modem *m, const struct radio_event *ev)
{
	uint64_t t = now(m);

	switch (ev->type) {
	case RADIO_EV_RX_DONE: {
		uint8_t snr = (uint8_t)ev->snr_db4;

		m->stat[APG_STAT_RX_FRAMES]++;
		m->stat[APG_STAT_RX_AIRTIME_MS] += lora_airtime_ms(&m->cfg, ev->len);
		load_add(&m->rx_load, lora_airtime_ms(&m->cfg, ev->len), t);
		m->last_rssi = ev->rssi_dbm;
		m->last_snr4 = ev->snr_db4;
		/* RNode order: RSSI and SNR of the frame, then the frame. */
		out_u8(m, RNODE_CMD_STAT_RSSI, rnode_rssi_byte(ev->rssi_dbm));
		out_frame(m, RNODE_CMD_STAT_SNR, &snr, 1);
		out_frame(m, RNODE_CMD_DATA, m->rx_buf, ev->len);
		break;
	}
	case RADIO_EV_RX_ERROR:
		m->stat[APG_STAT_RX_CRC_ERRORS]++;
		break;
	case RADIO_EV_CAD_DONE:
		if (m->state != MODEM_CAD)
			break;
		if (!ev->cad_busy) {
			start_tx(m);
			break;
		}
		m->stat[APG_STAT_LBT_BUSY]++;
		if (++m->lbt_tries >= MODEM_LBT_MAX_TRIES) {
			const struct txq_slot *s = txq_peek(&m->txq);

			m->lbt_tries = 0;
			m->stat[APG_STAT_TX_FAILED]++;
			if (s)
				refuse(m, s, RNODE_ERROR_TXFAILED, NULL, 0);
			back_to_rx(m);
			break;
		}
		back_to_rx(m);
		if (m->state == MODEM_RX) {
			/* Random backoff, growing with the busy count: 1..2^min(tries,5)
			 * slots of 16 symbols, so a short frame fits in one slot. */
			unsigned span = 1u << (m->lbt_tries < 5 ? m->lbt_tries : 5);

			m->state = MODEM_BACKOFF;
			m->deadline_ms = t + (1 + rnd(m) % span) * 16 * (uint64_t)symbol_ms(m);
		}
		break;
	case RADIO_EV_TX_DONE:
		if (m->state != MODEM_TX)
			break;
		m->stat[APG_STAT_TX_FRAMES]++;
		m->stat[APG_STAT_TX_AIRTIME_MS] += m->tx_airtime_ms;
		{
			uint8_t d[5];

			d[0] = m->tx_prec;
			rnode_put_u32(d + 1, m->tx_airtime_ms);
			out_frame(m, APG_CMD_TX_DONE, d, 5);
		}
		if (m->txq.count < TXQ_SLOTS)
			out_u8(m, RNODE_CMD_READY, 0x01);
		back_to_rx(m);
		break;
	case RADIO_EV_TIMEOUT:
		if (m->state == MODEM_TX) {
			m->stat[APG_STAT_TX_FAILED]++;
			out_error(m, RNODE_ERROR_TXFAILED, NULL, 0);
			back_to_rx(m);
		}
		break;
	case RADIO_EV_NONE:
		break;
	}
}

/* ---- entry points ---- */

int
modem_init(struct modem *m, const struct hal *hal, const struct radio *radio)
{
	int r;

	memset(m, 0, sizeof *m);
	m->hal = hal;
	m->radio = *radio;
	/* Until the host says otherwise: 125 kHz, SF7, 4/5, 16 symbols, CRC on, explicit
	 * header, private sync word; frequency unset, so the radio cannot be turned on. */
	m->cfg.bw_hz = 125000;
	m->cfg.sf = 7;
	m->cfg.cr = 5;
	m->cfg.preamble = 16;
	m->cfg.power_dbm = 14;
	m->cfg.crc = 1;
	m->cfg.sync_word = 0x12;
	m->noise_dbm = -157;
	m->last_rssi = -157;
	kiss_decoder_init(&m->kiss, m->kiss_buf, sizeof m->kiss_buf);
	txq_init(&m->txq);
	duty_init(&m->duty);
	m->rng = (uint32_t)now(m) * 2654435761u + 1;
	for (const char *p = hal->info && hal->info->name ? hal->info->name : ""; *p; p++)
		m->rng = m->rng * 31 + (uint8_t)*p;
	r = m->radio.ops->init(m->radio.ctx);
	if (r == 0) {
		m->radio_ok = 1;
	} else {
		m->stat[APG_STAT_RADIO_ERRORS]++;
	}
	m->state = MODEM_OFF;
	return r;
}

uint32_t
modem_timeout_ms(const struct modem *m)
{
	uint64_t t;

	if (m->out_len)
		return 1;
	if (m->state == MODEM_RX && m->txq.count)
		return 0;
	if (m->state == MODEM_BACKOFF || m->state == MODEM_CAD || m->state == MODEM_TX) {
		t = m->hal->ops->now_ms(m->hal->ctx);
		return m->deadline_ms > t ? (uint32_t)(m->deadline_ms - t) : 0;
	}
	return m->state == MODEM_RX ? 1000 : UINT32_MAX;
}

void
modem_poll(struct modem *m)
{
	uint8_t in[64];
	size_t n, off = 0;
	int busy = 0;
	struct radio_event ev;
	uint64_t t;

	/* Serial input: every complete frame is a command. */
	n = m->hal->ops->uart_read(m->hal->ctx, in, sizeof in);
	if (n > sizeof in)
		n = sizeof in;
	while (off < n) {
		size_t used;

		if (kiss_decode(&m->kiss, in + off, n - off, &used))
			command(m, m->kiss.buf, m->kiss.len);
		off += used;
	}
	busy |= n > 0;

	/* Radio interrupts. */
	if (m->radio_ok) {
		int r;

		while ((r = m->radio.ops->irq(m->radio.ctx, &ev, m->rx_buf, sizeof m->rx_buf)) > 0) {
			radio_event(m, &ev);
			busy = 1;
		}
		if (r < 0)
			m->stat[APG_STAT_RADIO_ERRORS]++;
	}

	/* Timers. */
	t = now(m);
	if ((m->state == MODEM_CAD || m->state == MODEM_TX) && t >= m->deadline_ms) {
		/* Watchdog: the chip never reported the end. */
		m->stat[APG_STAT_RADIO_ERRORS]++;
		if (m->state == MODEM_TX) {
			m->stat[APG_STAT_TX_FAILED]++;
			out_error(m, RNODE_ERROR_MODEM_TIMEOUT, NULL, 0);
		}
		back_to_rx(m);
	}
	if (m->state == MODEM_BACKOFF && t >= m->deadline_ms)
		m->state = MODEM_RX;

	/* Listen before talk for the head of the queue. */
	if (m->state == MODEM_RX && m->txq.count) {
		start_cad(m);
		busy = 1;
	}

	/* Noise floor, once a second while listening. */
	if (m->state == MODEM_RX && t - m->last_noise_ms >= 1000) {
		int16_t dbm;

		m->last_noise_ms = t;
		if (m->radio.ops->rssi(m->radio.ctx, &dbm) == 0)
			m->noise_dbm = dbm;
	}

	busy |= flush(m);
	if (!busy && m->hal->ops->idle) {
		uint32_t w = modem_timeout_ms(m);

		m->hal->ops->idle(m->hal->ctx, w > 1000 ? 1000 : w);
	}
}
