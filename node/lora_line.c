/*
 * The LoRa transport's serial line (lora_line.h): the modem is opened non-blocking in
 * raw mode, checked (DETECT), configured and read back (a mismatch is refused, never
 * papered over); a board that does not answer apagon's REGION is driven with RNode's
 * own command set. Frames heard go to the flood, transmission results and the
 * modem's counters to the transport's books. A modem that goes silent, closes, or
 * sends garbage is closed, counted and reopened with backoff.
 */
#include "lora_line.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lora_air.h"
#include "log.h"

#define RETRY_MAX_MS     (60 * 1000)
#define REPLY_MS         3000           /* a configuration step's answer */
#define GARBAGE_MAX      32             /* bad frames in a row: reset the line */
#define RESTART_DOUBTS   (2 * LORA_IDS_MAX) /* two digests' worth */
#define REGION_WAIT_MS   1000           /* no REGION answer: RNode firmware */
#define ALOCK_WAIT_MS    1000           /* no airtime-lock answer: an older RNode */

void
lora_line_cmd(struct lora *l, uint8_t cmd, const uint8_t *arg, size_t len)
{
	size_t n;

	if (l->fd < 0)
		return;
	if (l->wlen + KISS_ENCODED_MAX(len + 1) > sizeof l->wbuf)
		return;                 /* the modem is not reading: the silence check acts */
	n = kiss_encode(l->wbuf + l->wlen, sizeof l->wbuf - l->wlen, cmd, arg, len);
	l->wlen += n;
}

void
lora_line_flush(struct lora *l)
{
	while (l->fd >= 0 && l->wlen > 0) {
		ssize_t n = write(l->fd, l->wbuf, l->wlen);

		if (n <= 0)
			return;
		memmove(l->wbuf, l->wbuf + n, l->wlen - (size_t)n);
		l->wlen -= (size_t)n;
	}
}

void
lora_line_close(struct lora *l)
{
	if (l->fd >= 0) {
		uint8_t b = 0;

		if (l->state == L_UP || l->state == L_NOREGION) {
			lora_line_cmd(l, RNODE_CMD_LEAVE, &b, 0);
			lora_line_flush(l);
		}
		close(l->fd);
	}
	l->fd = -1;
	l->wlen = 0;
	l->inflight = 0;
}

void
lora_line_reset(struct lora *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->last_error, sizeof l->last_error, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: %s; reopening in %llu s", l->t->name, l->device, l->last_error,
	    (unsigned long long)(l->backoff_ms / 1000));
	lora_line_close(l);
	l->n.resets++;
	l->state = L_WAITING;
	l->up_since = 0;
	l->retry_ms = l->now_ms + l->backoff_ms;
	l->backoff_ms = l->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : l->backoff_ms * 2;
}

void
lora_line_config(struct lora *l)
{
	uint8_t a[4];

	l->step_deadline = l->now_ms + REPLY_MS;
	switch (l->step) {
	case S_DETECT:
		/* What Reticulum asks too: which firmware, which board. */
		a[0] = RNODE_DETECT_REQ;
		lora_line_cmd(l, RNODE_CMD_DETECT, a, 1);
		a[0] = 0;
		lora_line_cmd(l, RNODE_CMD_FW_VERSION, a, 1);
		lora_line_cmd(l, RNODE_CMD_PLATFORM, a, 1);
		lora_line_cmd(l, RNODE_CMD_MCU, a, 1);
		break;
	case S_REGION:
		a[0] = l->reg->code;
		lora_line_cmd(l, APG_CMD_REGION, a, 1);
		l->step_deadline = l->now_ms + REGION_WAIT_MS;
		break;
	case S_FREQ:
		rnode_put_u32(a, l->freq);
		lora_line_cmd(l, RNODE_CMD_FREQUENCY, a, 4);
		break;
	case S_BW:
		rnode_put_u32(a, l->pre->bw);
		lora_line_cmd(l, RNODE_CMD_BANDWIDTH, a, 4);
		break;
	case S_SF:
		a[0] = l->pre->sf;
		lora_line_cmd(l, RNODE_CMD_SF, a, 1);
		break;
	case S_CR:
		a[0] = l->pre->cr;
		lora_line_cmd(l, RNODE_CMD_CR, a, 1);
		break;
	case S_POWER:
		a[0] = (uint8_t)l->power;
		lora_line_cmd(l, RNODE_CMD_TXPOWER, a, 1);
		break;
	case S_PREAMBLE:
		rnode_put_u16(a, PREAMBLE);
		lora_line_cmd(l, APG_CMD_PREAMBLE, a, 2);
		break;
	case S_ALOCK:
		/* RNode's long-term lock covers the last hour, like the law: the band's duty
		 * cycle, in 1/100 % as RNode counts it. */
		rnode_put_u16(a, l->lim.duty.bands[l->lim.band].duty_bp);
		lora_line_cmd(l, RNODE_CMD_LT_ALOCK, a, 2);
		l->step_deadline = l->now_ms + ALOCK_WAIT_MS;
		break;
	case S_RADIO:
		a[0] = RNODE_RADIO_ON;
		lora_line_cmd(l, RNODE_CMD_RADIO_STATE, a, 1);
		break;
	}
}

void
lora_line_open(struct lora *l)
{
	struct termios tio;
	int fd = open(l->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	l->n.opens++;
	if (fd < 0) {
		l->n.open_failures++;
		lora_line_reset(l, "cannot open the modem: %s", strerror(errno));
		return;
	}
	/* Raw 8N1; the speed matters only on a real UART (115200, RNode's). */
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		cfsetispeed(&tio, B115200);
		cfsetospeed(&tio, B115200);
		tio.c_cflag |= CLOCAL | CREAD;
		/* VMIN 1: with O_NONBLOCK an empty line reads as EAGAIN, so 0 means the
		 * other end is gone (VMIN 0 would return 0 for "nothing yet"). */
		tio.c_cc[VMIN] = 1;
		tio.c_cc[VTIME] = 0;
		tcsetattr(fd, TCSANOW, &tio);
	}
	l->fd = fd;
	kiss_decoder_init(&l->kd, l->kbuf, sizeof l->kbuf);
	l->kd_bad_seen = 0;
	l->garbage_run = 0;
	l->state = L_CONFIG;
	l->step = S_DETECT;
	l->stock = 0;
	l->alock = 0;
	l->stat_tx_known = 0;
	l->fw_ver[0] = l->fw_ver[1] = l->platform = l->mcu = 0;
	l->last_rx_ms = l->now_ms;
	/* A FEND first: whatever half frame the modem holds from before ends here. */
	l->wbuf[0] = KISS_FEND;
	l->wlen = 1;
	lora_line_config(l);
}

/* ---------------- frames from the modem ---------------- */

static void
garbage(struct lora *l)
{
	l->n.garbage_frames++;
	if (++l->garbage_run >= GARBAGE_MAX)
		lora_line_reset(l, "the modem sends garbage (%d bad frames in a row)", l->garbage_run);
}

/* The node's clock in the modem's time: a simulated channel may run faster. */
uint64_t
lora_line_modem_now(const struct lora *l)
{
	return (uint64_t)((double)l->now_ms / l->time_scale);
}

/* The next configuration step for the firmware found: apagon's sets the preamble,
 * RNode's sets its airtime lock instead. */
void
lora_line_next_step(struct lora *l)
{
	l->step++;
	if (l->step == S_PREAMBLE && l->stock)
		l->step++;
	if (l->step == S_ALOCK && !l->stock)
		l->step++;
}

/* No answer to REGION: the board runs RNode firmware. The node takes the law on
 * itself: the channel must lie in a sub-band of the region, at or under its power. */
void
lora_line_use_rnode(struct lora *l)
{
	const struct duty_band *band;
	int b;

	l->stock = 1;
	b = lora_rnode_limiter_channel(&l->lim, l->freq, l->pre->bw, l->pre->sf, l->pre->cr,
	    l->power);
	if (b == -1) {
		l->n.mismatches++;
		lora_line_reset(l, "the channel %.3f MHz +- %lu kHz lies in no %s sub-band, and this board "
		    "runs RNode firmware, which would send there anyway: refused (set a "
		    "frequency inside one sub-band, docs/lora.md)", l->freq / 1e6,
		    (unsigned long)(l->pre->bw / 2000), l->reg->name);
		return;
	}
	if (b == -2) {
		band = &l->lim.duty.bands[duty_band_of(&l->lim.duty, l->freq, l->pre->bw)];
		l->n.mismatches++;
		lora_line_reset(l, "tx-power %d dBm is above the %s band's %d dBm: refused (lower tx-power "
		    "in apagon.conf)", l->power, band->name, band->max_dbm);
		return;
	}
	band = &l->lim.duty.bands[b];
	log_info("%s: %s runs RNode firmware %u.%u (platform 0x%02x, mcu 0x%02x): apagon "
	    "enforces the %s duty cycle itself (band %s, %u.%02u %%)", l->t->name, l->device,
	    l->fw_ver[0], l->fw_ver[1], l->platform, l->mcu, l->reg->name, band->name,
	    band->duty_bp / 100, band->duty_bp % 100);
	l->step = S_FREQ;
	lora_line_config(l);
}

/* A setting's answer during configuration: the value in use must be ours. 1 if the
 * frame was the answer awaited. */
static int
config_reply(struct lora *l, uint8_t cmd, const uint8_t *arg, size_t len)
{
	static const uint8_t step_cmd[] = {
		[S_DETECT] = RNODE_CMD_DETECT, [S_REGION] = APG_CMD_REGION,
		[S_FREQ] = RNODE_CMD_FREQUENCY, [S_BW] = RNODE_CMD_BANDWIDTH,
		[S_SF] = RNODE_CMD_SF, [S_CR] = RNODE_CMD_CR, [S_POWER] = RNODE_CMD_TXPOWER,
		[S_PREAMBLE] = APG_CMD_PREAMBLE, [S_ALOCK] = RNODE_CMD_LT_ALOCK,
		[S_RADIO] = RNODE_CMD_RADIO_STATE,
	};
	uint32_t want = 0, got = 0;
	const char *what = "";

	if (l->step >= S_DONE || cmd != step_cmd[l->step])
		return 0;
	switch (l->step) {
	case S_DETECT:
		if (len != 1 || arg[0] != RNODE_DETECT_RESP) {
			garbage(l);
			return 0;
		}
		l->step = l->reg ? S_REGION : S_DONE;
		if (!l->reg) {
			l->state = L_NOREGION;
			l->up_since = time(NULL);
			l->backoff_ms = RETRY_MIN_MS;
			log_warnx("%s: no region in apagon.conf: listening only, never "
			    "transmitting; set 'region = EU868' (docs/lora.md)", l->t->name);
			return 1;
		}
		lora_line_config(l);
		return 1;
	case S_REGION:   what = "region"; want = l->reg->code; break;
	case S_FREQ:     what = "frequency (Hz)"; want = l->freq; break;
	case S_BW:       what = "bandwidth (Hz)"; want = l->pre->bw; break;
	case S_SF:       what = "spreading factor"; want = l->pre->sf; break;
	case S_CR:       what = "coding rate (4/x)"; want = l->pre->cr; break;
	case S_POWER:    what = "TX power (dBm)"; want = (uint32_t)l->power; break;
	case S_PREAMBLE: what = "preamble (symbols)"; want = PREAMBLE; break;
	case S_ALOCK:
		what = "long-term airtime lock (1/100 %)";
		want = l->lim.duty.bands[l->lim.band].duty_bp;
		break;
	case S_RADIO:    what = "radio state"; want = RNODE_RADIO_ON; break;
	}
	if (len == 4)
		got = rnode_get_u32(arg);
	else if (len == 2)
		got = rnode_get_u16(arg);
	else if (len == 1)
		got = arg[0];
	else {
		garbage(l);
		return 0;
	}
	/* Two tolerances, both from RNode firmware: an SX127x reports the synthesizer's
	 * frequency (a step off at most), and the airtime lock goes through a float. */
	if (l->stock && l->step == S_FREQ && got != want &&
	    (got > want ? got - want : want - got) <= LORA_RNODE_FREQ_STEP &&
	    duty_band_of(&l->lim.duty, got, l->pre->bw) == l->lim.band)
		got = want;             /* and still inside the same sub-band */
	if (l->step == S_ALOCK && got != want && (got + 1 == want || got == want + 1))
		got = want;
	if (l->step == S_ALOCK && got == want)
		l->alock = 1;
	if (got != want) {
		l->n.mismatches++;
		lora_line_reset(l, "the modem reports %s %lu where apagon.conf needs %lu: refused "
		    "(check the preset, region, frequency and tx-power)", what,
		    (unsigned long)got, (unsigned long)want);
		return 1;
	}
	lora_line_next_step(l);
	if (l->step < S_DONE) {
		lora_line_config(l);
		return 1;
	}
	l->state = L_UP;
	l->up_since = time(NULL);
	l->backoff_ms = RETRY_MIN_MS;
	l->first_scan = 1;
	l->doubts_left = RESTART_DOUBTS;
	l->scan_ms = 0;
	l->last_error[0] = '\0';
	log_info("%s: modem up on %s: %s %.3f MHz SF%u BW%lu kHz CR4/%u %d dBm%s", l->t->name,
	    l->device, l->reg->name, l->freq / 1e6, l->pre->sf,
	    (unsigned long)(l->pre->bw / 1000), l->pre->cr, l->power,
	    !l->stock ? "" : l->alock ? " (RNode firmware: node-side duty limiter, board "
	    "airtime lock set)" : " (RNode firmware without airtime lock: the node-side duty "
	    "limiter is the only fence)");
	return 1;
}

static void
on_error(struct lora *l, const uint8_t *arg, size_t len)
{
	if (len < 1) {
		garbage(l);
		return;
	}
	l->n.modem_errors++;
	switch (arg[0]) {
	case APG_ERROR_DUTY_CYCLE: {
		uint32_t ms = len >= 5 ? rnode_get_u32(arg + 1) : 60000;

		/* The frame is dropped; nothing more until the band has room (the wait is in
		 * the modem's time; a minute at most before we look again). */
		l->n.duty_refusals++;
		l->hold_until = l->now_ms + (ms > 60000 ? 60000 : ms);
		l->inflight = 0;
		break;
	}
	case RNODE_ERROR_QUEUE_FULL:
		l->n.queue_full++;
		l->inflight = 0;
		break;
	case RNODE_ERROR_TXFAILED:
	case RNODE_ERROR_MODEM_TIMEOUT:
	case APG_ERROR_RADIO_OFF:
		l->n.tx_failed++;
		l->inflight = 0;
		break;
	case APG_ERROR_NO_REGION:
		l->n.no_region++;
		l->inflight = 0;
		break;
	default:
		break;
	}
}

static void
on_frame(struct lora *l, const uint8_t *body, size_t len)
{
	uint8_t cmd = body[0];
	const uint8_t *arg = body + 1;
	size_t alen = len - 1;

	l->last_rx_ms = l->now_ms;
	if (cmd == RNODE_CMD_ERROR) {
		l->garbage_run = 0;
		on_error(l, arg, alen);
		return;
	}
	/* What the board says of itself, whenever it comes. */
	if (cmd == RNODE_CMD_FW_VERSION && alen == 2) {
		memcpy(l->fw_ver, arg, 2);
		return;
	}
	if ((cmd == RNODE_CMD_PLATFORM || cmd == RNODE_CMD_MCU) && alen == 1) {
		*(cmd == RNODE_CMD_PLATFORM ? &l->platform : &l->mcu) = arg[0];
		return;
	}
	/* RNode boards say RESET when they boot. Once the board has answered DETECT, that
	 * means it restarted and lost what it was told: start over. (Before, it is the
	 * boot message still waiting in the line.) */
	if (cmd == RNODE_CMD_RESET && alen == 1 && arg[0] == RNODE_RESET_BYTE) {
		if (l->state == L_UP || l->state == L_NOREGION ||
		    (l->state == L_CONFIG && l->step > S_DETECT))
			lora_line_reset(l, "the modem restarted and forgot its settings; configuring it again");
		return;
	}
	if (l->state == L_CONFIG) {
		/* Only the awaited answer shows the line is sane: noise that happens to
		 * frame still counts towards a reset. */
		if (config_reply(l, cmd, arg, alen))
			l->garbage_run = 0;
		return;
	}
	switch (cmd) {
	case RNODE_CMD_STAT_SNR:
		if (alen != 1) {
			garbage(l);
			return;
		}
		l->snr_x4 = (int8_t)arg[0];
		break;
	case RNODE_CMD_DATA:
		if (l->stock && alen > LORA_FRAME_MAX && alen <= 508) {
			l->n.frames_rx++;       /* another RNode user's long frame: not ours */
			break;
		}
		if (alen < 1 || alen > LORA_FRAME_MAX) {
			garbage(l);
			return;
		}
		l->n.frames_rx++;
		if (l->fl)
			lora_flood_input(l->fl, arg, alen, l->snr_x4, l->now_ms);
		l->snr_x4 = 0;
		break;
	case APG_CMD_TX_DONE:
		if (alen != 5) {
			garbage(l);
			return;
		}
		l->n.airtime_ms += rnode_get_u32(arg + 1);
		l->inflight = 0;
		break;
	case APG_CMD_DUTY: {
		uint32_t used = 0, budget = 0, total = 0;
		double worst = -1;
		int have = 0;

		if (alen % APG_DUTY_RECORD != 0) {
			garbage(l);
			return;
		}
		/* Our band is the one we transmit in (airtime since boot); a modem that
		 * has not sent yet tells nothing, and the share stays open. If several
		 * bands carry airtime (the channel changed), the nearest its limit. */
		for (size_t i = 0; i + APG_DUTY_RECORD <= alen; i += APG_DUTY_RECORD) {
			uint32_t u = rnode_get_u32(arg + i + 3), b = rnode_get_u32(arg + i + 7);
			uint32_t tot = rnode_get_u32(arg + i + 11);
			double r = b ? (double)u / b : 1;

			if (tot == 0 && u == 0)
				continue;
			if (!have || r > worst || (r == worst && tot > total)) {
				have = 1;
				worst = r;
				used = u;
				budget = b;
				total = tot;
			}
		}
		l->duty_used = used;
		l->duty_budget = budget;
		break;
	}
	case RNODE_CMD_STAT_TX:
		if (alen != 4) {
			garbage(l);
			return;
		}
		/* RNode firmware says nothing when a frame has left: its frame count does. */
		l->stat_tx = rnode_get_u32(arg);
		if (l->stock && l->inflight && l->stat_tx_known && l->stat_tx != l->stat_tx_seen) {
			l->inflight = 0;
			l->n.airtime_ms += l->inflight_ms;
		}
		l->stat_tx_seen = l->stat_tx;
		l->stat_tx_known = 1;
		break;
	case RNODE_CMD_STAT_CHTM:
		if (alen < 8) {
			garbage(l);
			return;
		}
		l->chtm_short = rnode_get_u16(arg);
		l->chtm_long = rnode_get_u16(arg + 2);
		break;
	case RNODE_CMD_STAT_PHYPRM:
		if (alen < 10) {
			garbage(l);
			return;
		}
		/* The preamble the board chose: the airtime booked is never less. */
		if (l->stock)
			lora_rnode_limiter_preamble(&l->lim, rnode_get_u16(arg + 4));
		break;
	case APG_CMD_STATS:
		if (alen % 5 != 0) {
			garbage(l);
			return;
		}
		for (size_t i = 0; i + 5 <= alen; i += 5)
			if (arg[i] < APG_STAT_MAX)
				l->modem_stat[arg[i]] = rnode_get_u32(arg + i + 1);
		break;
	default:
		break;                  /* READY, STAT_RSSI, answers we did not wait for */
	}
	l->garbage_run = 0;
}

void
lora_line_read(struct lora *l)
{
	uint8_t buf[512];

	for (int rounds = 0; rounds < 16 && l->fd >= 0; rounds++) {
		ssize_t n = read(l->fd, buf, sizeof buf);
		size_t off = 0;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			lora_line_reset(l, "the modem went away (%s)", n == 0 ? "end of file" : strerror(errno));
			return;
		}
		if (n < 0)
			return;
		while (off < (size_t)n && l->fd >= 0) {
			size_t used;
			uint32_t bad;

			if (kiss_decode(&l->kd, buf + off, (size_t)n - off, &used) && l->kd.len > 0)
				on_frame(l, l->kd.buf, l->kd.len);
			off += used;
			bad = l->kd.overflows + l->kd.bad_escapes;
			if (bad != l->kd_bad_seen) {
				l->n.kiss_errors += bad - l->kd_bad_seen;
				l->kd_bad_seen = bad;
				garbage(l);
			}
		}
	}
}

