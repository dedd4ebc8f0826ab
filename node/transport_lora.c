/*
 * The LoRa transport (docs/lora.md): a serial modem speaking KISS-framed RNode
 * commands (firmware/proto/, the codec the firmware builds too), and managed flooding
 * of verified bundles on top (lora_flood.h, air format lora_air.h).
 *
 * LoRa is broadcast: there are no pairwise peers and no sessions here. Every bundle
 * heard goes through the daemon's acceptance path (ev.bundle) before it is stored or
 * relayed; new bundles of the node are found by walking its store (ev.each_bundle).
 *
 * The modem is kept alive from ready(): it is opened non-blocking in raw mode,
 * checked (DETECT), configured and read back (a mismatch is refused, never papered
 * over), polled for its counters; a modem that goes silent, closes, or sends garbage
 * is closed, counted and reopened with backoff, while the node runs on.
 *
 * A board on stock RNode firmware does not answer apagon's REGION: after a second of
 * silence the link drives it with RNode's command set alone, and the node is the
 * limiter the board lacks: the same sub-band table and sliding-hour books as our
 * firmware (firmware/duty.c, built into the node), the airtime of what the board
 * really sends (its one-byte header, its preamble: firmware/airtime.c), and the
 * board's long-term airtime lock set to the band's duty cycle as a second fence.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../firmware/airtime.h"
#include "../firmware/proto/kiss.h"
#include "../firmware/proto/rnode.h"
#include "../mesh/bundle.h"
#include "../mesh/mesh.h"
#include "config.h"
#include "lora_air.h"
#include "lora_flood.h"
#include "lora_glue.h"
#include "lora_rnode.h"
#include "log.h"

#define RETRY_MIN_MS     1000
#define RETRY_MAX_MS     (60 * 1000)
#define REPLY_MS         3000           /* a configuration step's answer */
#define POLL_MS          5000           /* counters and duty: also the liveness check */
#define SILENT_MS        15000          /* no frame at all for this long: modem dead */
#define GARBAGE_MAX      32             /* bad frames in a row: reset the line */
#define SCAN_MS          1000           /* look for new bundles in the store */
#define RESTART_DOUBTS   (2 * LORA_IDS_MAX) /* two digests' worth */
#define REGION_WAIT_MS   1000           /* no REGION answer: RNode firmware */
#define ALOCK_WAIT_MS    1000           /* no airtime-lock answer: an older RNode */
#define SENDER_RATE      6              /* bundles a minute per sender, by default */
#define SENDER_BURST     20

/* Meshtastic's modem presets (docs/lora.md has the table). */
static const struct preset {
	const char *name;
	uint8_t sf, cr;                 /* cr: 5..8 for 4/5..4/8 */
	uint32_t bw;
} presets[] = {
	{ "short-turbo", 7, 5, 500000 },
	{ "short-fast", 7, 5, 250000 },
	{ "short-slow", 8, 5, 250000 },
	{ "medium-fast", 9, 5, 250000 },
	{ "medium-slow", 10, 5, 250000 },
	{ "long-fast", 11, 5, 250000 },
	{ "long-moderate", 11, 8, 125000 },
	{ "long-slow", 12, 8, 125000 },
	{ "very-long-slow", 12, 8, 62500 },
};

/* Regions: the modem's code and the default channel. EU868: 869.525 MHz, the centre
 * of the g3 sub-band (869.4..869.65 MHz, 10 % duty, 27 dBm), where a 250 kHz channel
 * fits whole (ERC Rec 70-03 annex 1). */
static const struct region {
	const char *name;
	uint8_t code;
	uint32_t freq;
} regions[] = {
	{ "EU868", APG_REGION_EU868, 869525000 },
};

#define PREAMBLE 16

enum lstate { L_WAITING, L_CONFIG, L_UP, L_NOREGION };
static const char *const lstate_names[] = { "waiting", "configuring", "up", "listening" };

/* Configuration steps, in order: command, value, bytes. */
enum { S_DETECT, S_REGION, S_FREQ, S_BW, S_SF, S_CR, S_POWER, S_PREAMBLE, S_ALOCK, S_RADIO,
	S_DONE };

struct lora {
	struct transport *t;
	char device[CONF_VAL_MAX + 200];
	const struct preset *pre;
	const struct region *reg;       /* NULL: no region, never transmit */
	uint32_t freq;
	int power, hop_limit;
	uint32_t slot_ms;

	enum lstate state;
	int fd;
	int step;
	uint64_t step_deadline;
	uint64_t retry_ms, backoff_ms, now_ms;
	uint64_t last_rx_ms, poll_ms, scan_ms;
	int first_scan;
	int doubts_left;                /* first scan: transit bundles still to name in digests */
	int64_t up_since;
	char last_error[160];

	struct kiss_decoder kd;
	uint8_t kbuf[600];              /* RNode firmware passes up to 508 bytes */
	uint32_t kd_bad_seen;           /* decoder drops already counted */
	int garbage_run;
	uint8_t wbuf[4096];
	size_t wlen;

	uint8_t key[32];
	struct lora_flood *fl;
	int inflight;
	uint64_t inflight_deadline, hold_until;
	int snr_x4;
	uint32_t duty_used, duty_budget;
	uint32_t modem_stat[APG_STAT_MAX];

	/* A board on stock RNode firmware (stock = 1): what it said of itself, and the
	 * node's own limiter on the modem's clock (now / time_scale). */
	int stock;
	uint8_t fw_ver[2], platform, mcu;
	int alock;                      /* 1: the board took our long-term airtime lock */
	struct lora_rnode_limiter lim;  /* books kept across resets of the link */
	double time_scale;
	uint32_t inflight_ms;           /* booked airtime of the frame in the board */
	uint32_t stat_tx, stat_tx_seen;
	int stat_tx_known;
	uint64_t stat_ask_ms;
	uint16_t chtm_short, chtm_long; /* the board's own airtime books, 1/100 % */
	struct lora_sender_limit limit;

	struct {
		int64_t opens, resets, open_failures, mismatches, garbage_frames, kiss_errors;
		int64_t silent, modem_errors, duty_refusals, queue_full, tx_failed, no_region;
		int64_t frames_rx, frames_tx, bytes_tx, airtime_ms, tx_timeouts;
		int64_t offered, too_big;
	} n;
};

/* A frame's time on air with this preset (explicit header, CRC on, our preamble). */
static uint32_t
airtime_ms(const struct preset *p, size_t len)
{
	struct radio_config c = { .bw_hz = p->bw, .sf = p->sf, .cr = p->cr,
	    .preamble = PREAMBLE, .crc = 1 };

	return lora_airtime_ms(&c, len);
}

/* ---------------- the serial line ---------------- */

static void
send_cmd(struct lora *l, uint8_t cmd, const uint8_t *arg, size_t len)
{
	size_t n;

	if (l->fd < 0)
		return;
	if (l->wlen + KISS_ENCODED_MAX(len + 1) > sizeof l->wbuf)
		return;                 /* the modem is not reading: the silence check acts */
	n = kiss_encode(l->wbuf + l->wlen, sizeof l->wbuf - l->wlen, cmd, arg, len);
	l->wlen += n;
}

static void
flush_out(struct lora *l)
{
	while (l->fd >= 0 && l->wlen > 0) {
		ssize_t n = write(l->fd, l->wbuf, l->wlen);

		if (n <= 0)
			return;
		memmove(l->wbuf, l->wbuf + n, l->wlen - (size_t)n);
		l->wlen -= (size_t)n;
	}
}

static void
line_close(struct lora *l)
{
	if (l->fd >= 0) {
		uint8_t b = 0;

		if (l->state == L_UP || l->state == L_NOREGION) {
			send_cmd(l, RNODE_CMD_LEAVE, &b, 0);
			flush_out(l);
		}
		close(l->fd);
	}
	l->fd = -1;
	l->wlen = 0;
	l->inflight = 0;
}

/* Give up on the modem for now: close, and try again after a backoff. */
static void
reset(struct lora *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reset(struct lora *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->last_error, sizeof l->last_error, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: %s; reopening in %llu s", l->t->name, l->device, l->last_error,
	    (unsigned long long)(l->backoff_ms / 1000));
	line_close(l);
	l->n.resets++;
	l->state = L_WAITING;
	l->up_since = 0;
	l->retry_ms = l->now_ms + l->backoff_ms;
	l->backoff_ms = l->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : l->backoff_ms * 2;
}

static void
config_step(struct lora *l)
{
	uint8_t a[4];

	l->step_deadline = l->now_ms + REPLY_MS;
	switch (l->step) {
	case S_DETECT:
		/* What Reticulum asks too: which firmware, which board. */
		a[0] = RNODE_DETECT_REQ;
		send_cmd(l, RNODE_CMD_DETECT, a, 1);
		a[0] = 0;
		send_cmd(l, RNODE_CMD_FW_VERSION, a, 1);
		send_cmd(l, RNODE_CMD_PLATFORM, a, 1);
		send_cmd(l, RNODE_CMD_MCU, a, 1);
		break;
	case S_REGION:
		a[0] = l->reg->code;
		send_cmd(l, APG_CMD_REGION, a, 1);
		l->step_deadline = l->now_ms + REGION_WAIT_MS;
		break;
	case S_FREQ:
		rnode_put_u32(a, l->freq);
		send_cmd(l, RNODE_CMD_FREQUENCY, a, 4);
		break;
	case S_BW:
		rnode_put_u32(a, l->pre->bw);
		send_cmd(l, RNODE_CMD_BANDWIDTH, a, 4);
		break;
	case S_SF:
		a[0] = l->pre->sf;
		send_cmd(l, RNODE_CMD_SF, a, 1);
		break;
	case S_CR:
		a[0] = l->pre->cr;
		send_cmd(l, RNODE_CMD_CR, a, 1);
		break;
	case S_POWER:
		a[0] = (uint8_t)l->power;
		send_cmd(l, RNODE_CMD_TXPOWER, a, 1);
		break;
	case S_PREAMBLE:
		rnode_put_u16(a, PREAMBLE);
		send_cmd(l, APG_CMD_PREAMBLE, a, 2);
		break;
	case S_ALOCK:
		/* RNode's long-term lock covers the last hour, like the law: the band's duty
		 * cycle, in 1/100 % as RNode counts it. */
		rnode_put_u16(a, l->lim.duty.bands[l->lim.band].duty_bp);
		send_cmd(l, RNODE_CMD_LT_ALOCK, a, 2);
		l->step_deadline = l->now_ms + ALOCK_WAIT_MS;
		break;
	case S_RADIO:
		a[0] = RNODE_RADIO_ON;
		send_cmd(l, RNODE_CMD_RADIO_STATE, a, 1);
		break;
	}
}

static void
line_open(struct lora *l)
{
	struct termios tio;
	int fd = open(l->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	l->n.opens++;
	if (fd < 0) {
		l->n.open_failures++;
		reset(l, "cannot open the modem: %s", strerror(errno));
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
	config_step(l);
}

/* ---------------- frames from the modem ---------------- */

static void
garbage(struct lora *l)
{
	l->n.garbage_frames++;
	if (++l->garbage_run >= GARBAGE_MAX)
		reset(l, "the modem sends garbage (%d bad frames in a row)", l->garbage_run);
}

/* The node's clock in the modem's time: a simulated channel may run faster. */
static uint64_t
modem_now(const struct lora *l)
{
	return (uint64_t)((double)l->now_ms / l->time_scale);
}

/* The next configuration step for the firmware found: apagon's sets the preamble,
 * RNode's sets its airtime lock instead. */
static void
next_step(struct lora *l)
{
	l->step++;
	if (l->step == S_PREAMBLE && l->stock)
		l->step++;
	if (l->step == S_ALOCK && !l->stock)
		l->step++;
}

/* No answer to REGION: the board runs RNode firmware. The node takes the law on
 * itself: the channel must lie in a sub-band of the region, at or under its power. */
static void
use_rnode(struct lora *l)
{
	const struct duty_band *band;
	int b;

	l->stock = 1;
	b = lora_rnode_limiter_channel(&l->lim, l->freq, l->pre->bw, l->pre->sf, l->pre->cr,
	    l->power);
	if (b == -1) {
		l->n.mismatches++;
		reset(l, "the channel %.3f MHz +- %lu kHz lies in no %s sub-band, and this board "
		    "runs RNode firmware, which would send there anyway: refused (set a "
		    "frequency inside one sub-band, docs/lora.md)", l->freq / 1e6,
		    (unsigned long)(l->pre->bw / 2000), l->reg->name);
		return;
	}
	if (b == -2) {
		band = &l->lim.duty.bands[duty_band_of(&l->lim.duty, l->freq, l->pre->bw)];
		l->n.mismatches++;
		reset(l, "tx-power %d dBm is above the %s band's %d dBm: refused (lower tx-power "
		    "in apagon.conf)", l->power, band->name, band->max_dbm);
		return;
	}
	band = &l->lim.duty.bands[b];
	log_info("%s: %s runs RNode firmware %u.%u (platform 0x%02x, mcu 0x%02x): apagon "
	    "enforces the %s duty cycle itself (band %s, %u.%02u %%)", l->t->name, l->device,
	    l->fw_ver[0], l->fw_ver[1], l->platform, l->mcu, l->reg->name, band->name,
	    band->duty_bp / 100, band->duty_bp % 100);
	l->step = S_FREQ;
	config_step(l);
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
		config_step(l);
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
		reset(l, "the modem reports %s %lu where apagon.conf needs %lu: refused "
		    "(check the preset, region, frequency and tx-power)", what,
		    (unsigned long)got, (unsigned long)want);
		return 1;
	}
	next_step(l);
	if (l->step < S_DONE) {
		config_step(l);
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
			reset(l, "the modem restarted and forgot its settings; configuring it again");
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

static void
read_line(struct lora *l)
{
	uint8_t buf[512];

	for (int rounds = 0; rounds < 16 && l->fd >= 0; rounds++) {
		ssize_t n = read(l->fd, buf, sizeof buf);
		size_t off = 0;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			reset(l, "the modem went away (%s)", n == 0 ? "end of file" : strerror(errno));
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

/* ---------------- the store and the flood ---------------- */

/* The flood's routes (lora_flood.h, params.ends): who sent a bundle, to whom. Only
 * sealed types (messages, receipts) are read: the header's mask and the network tag
 * need only the network key, opening a public type's body needs the authority's. */
static int
ends_cb(void *ctx, const uint8_t *buf, size_t len, uint8_t from[LORA_NODEID],
    uint8_t to[LORA_NODEID])
{
	struct lora *l = ctx;
	static const uint8_t no_authority[APAGON_SIGN_PK];
	struct netkeys nk;
	struct bundle b;
	int rc;

	netkeys_derive(&nk, no_authority, l->t->network_key);
	rc = bundle_decode(&b, buf, len, &nk);
	netkeys_wipe(&nk);
	if (rc != MESH_OK || !bundle_type_sealed(b.h.type))
		return -1;
	memcpy(from, b.h.sender, LORA_NODEID);
	memcpy(to, b.h.recipient, LORA_NODEID);
	return memcmp(to, bundle_broadcast_id, LORA_NODEID) != 0;
}

static int
accept_cb(void *ctx, const uint8_t *b, size_t len, int *prec)
{
	struct lora *l = ctx;
	int rc;

	*prec = 0;
	if (!l->t->ev.bundle)
		return -1;
	rc = l->t->ev.bundle(l->t->ev.ctx, l->t, b, len, prec);
	if (rc == -EAGAIN)
		return -2;
	if (rc < 0)
		return -1;
	return rc == TRANSPORT_BUNDLE_MINE ? LORA_ACCEPT_MINE :
	    rc == TRANSPORT_BUNDLE_NEW ? LORA_ACCEPT_NEW : LORA_ACCEPT_HELD;
}

static void
scan_one(void *ctx, const uint8_t *b, size_t len, int prec, int flags)
{
	struct lora *l = ctx;
	int flood = !l->first_scan || (flags & TRANSPORT_BUNDLE_OWN) ? LORA_OFFER_SEND :
	    LORA_OFFER_KEEP;
	int rc;

	/* Held when the modem came up (the daemon or the modem restarted): another
	 * member's message or receipt may be one we were relaying, and the retries we
	 * owed it are gone. Name the highest-precedence ones in the next digests, so a
	 * neighbour that lacks one asks for it. */
	if (flood == LORA_OFFER_KEEP && (flags & TRANSPORT_BUNDLE_TRANSIT) && l->doubts_left > 0) {
		flood = LORA_OFFER_DOUBT;
		l->doubts_left--;
	}

	if (lora_air_frames(len) == 0) {
		l->n.too_big++;
		return;
	}
	rc = lora_flood_offer(l->fl, b, len, prec, flood, l->now_ms);
	if (rc == 1 && flood == LORA_OFFER_SEND)
		l->n.offered++;
}

static int
min_prec_allowed(const struct lora *l)
{
	/* Shares of the band's budget: ROUTINE up to half, PRIORITY to 70 %, IMMEDIATE
	 * to 90 %, FLASH all of it (the modem refuses past 100 %). */
	double r;

	if (!l->duty_budget)
		return 0;
	r = (double)l->duty_used / l->duty_budget;
	return r < 0.5 ? 0 : r < 0.7 ? 1 : r < 0.9 ? 2 : 3;
}

/* To a board on RNode firmware: the node's own limiter decides. A frame goes only if
 * the longest frame would still fit the band's budget over the sliding hour, so the
 * check never depends on which frame the flood picks; it is booked when handed over,
 * and the board keeps one frame at a time. */
static void
transmit_rnode(struct lora *l)
{
	uint8_t frame[LORA_FRAME_MAX];
	uint64_t mt = modem_now(l);
	uint32_t wait, ms;
	int len, prec;

	l->duty_used = lora_rnode_limiter_used(&l->lim, mt);
	l->duty_budget = lora_rnode_limiter_budget(&l->lim);
	if (lora_flood_timeout(l->fl, l->now_ms) != 0)
		return;                 /* nothing due */
	if ((wait = lora_rnode_limiter_wait(&l->lim, mt)) != 0) {
		double real = wait == UINT32_MAX ? 60000.0 : wait * l->time_scale;

		l->hold_until = l->now_ms + (uint64_t)(real > 60000.0 ? 60000.0 : real + 1);
		return;
	}
	if ((len = lora_flood_output(l->fl, l->now_ms, min_prec_allowed(l), frame, &prec)) <= 0)
		return;
	ms = lora_rnode_limiter_book(&l->lim, (size_t)len, mt);
	l->duty_used = lora_rnode_limiter_used(&l->lim, mt);
	send_cmd(l, RNODE_CMD_DATA, frame, (size_t)len);
	l->inflight = 1;
	l->inflight_ms = ms;
	l->inflight_deadline = l->now_ms + 20 * (uint64_t)l->slot_ms + 5000;
	l->stat_ask_ms = l->now_ms + (uint64_t)(ms * l->time_scale) + 20;
	l->n.frames_tx++;
	l->n.bytes_tx += len;
}

static void
transmit(struct lora *l)
{
	uint8_t frame[1 + LORA_FRAME_MAX];
	int len, prec, minp;

	if (l->state != L_UP || !l->reg || l->inflight || l->wlen > 0 ||
	    l->now_ms < l->hold_until)
		return;
	if (l->stock) {
		transmit_rnode(l);
		return;
	}
	minp = min_prec_allowed(l);
	if ((len = lora_flood_output(l->fl, l->now_ms, minp, frame + 1, &prec)) <= 0)
		return;
	frame[0] = (uint8_t)prec;
	send_cmd(l, APG_CMD_DATA_PREC, frame, (size_t)len + 1);
	l->inflight = 1;
	l->inflight_deadline = l->now_ms + 20 * (uint64_t)l->slot_ms + 5000;
	l->n.frames_tx++;
	l->n.bytes_tx += len;
}

/* ---------------- ops ---------------- */

static int
lora_open(struct transport *t, const struct conf_section *sec)
{
	struct lora_flood_params fp;
	const char *region = conf_get(sec, "region"), *preset = conf_get(sec, "preset");
	struct lora *l = calloc(1, sizeof *l);
	int rc;

	if (!l)
		return -ENOMEM;
	l->t = t;
	l->fd = -1;
	if ((rc = conf_get_path(sec, "device", l->device, sizeof l->device)) != 0) {
		snprintf(t->error, sizeof t->error, "'device' is needed");
		free(l);
		return rc;
	}
	if (!preset)
		preset = "long-fast";
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
		if (strcmp(presets[i].name, preset) == 0)
			l->pre = &presets[i];
	if (!l->pre) {
		snprintf(t->error, sizeof t->error, "unknown preset '%.30s'; expected short-fast, "
		    "short-slow, medium-fast, medium-slow, long-fast, long-moderate, long-slow or "
		    "very-long-slow", preset);
		free(l);
		return -EINVAL;
	}
	if (region) {
		for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++)
			if (strcasecmp(regions[i].name, region) == 0)
				l->reg = &regions[i];
		if (!l->reg) {
			snprintf(t->error, sizeof t->error, "unknown region '%.40s'; expected EU868",
			    region);
			free(l);
			return -EINVAL;
		}
	}
	l->freq = (uint32_t)conf_get_int(sec, "frequency", l->reg ? (long)l->reg->freq : 0);
	l->power = (int)conf_get_int(sec, "tx-power", 14);
	l->hop_limit = (int)conf_get_int(sec, "hop-limit", 7);
	l->slot_ms = (uint32_t)conf_get_int(sec, "slot-ms", (long)airtime_ms(l->pre, LORA_FRAME_MAX));
	l->time_scale = 1.0;
	if (conf_get(sec, "time-scale")) {
		const char *v = conf_get(sec, "time-scale");
		char *end;

		l->time_scale = strtod(v, &end);
		if (*end || !(l->time_scale > 0 && l->time_scale <= 1)) {
			snprintf(t->error, sizeof t->error, "time-scale '%.30s': expected a number "
			    "in (0, 1], the simulated channel's --time-scale", v);
			free(l);
			return -EINVAL;
		}
	}
	{
		struct ratelimit_params rp;
		long rate = conf_get_int(sec, "sender-rate", SENDER_RATE);
		long burst = conf_get_int(sec, "sender-burst", SENDER_BURST);

		rp.bundles_per_min = (uint32_t)rate;
		rp.bundles_burst = (uint32_t)burst;
		rp.bytes_per_min = (uint32_t)rate * 4096;
		rp.bytes_burst = (uint32_t)burst * 4096;
		ratelimit_init(&l->limit.rl, &rp);
	}
	lora_rnode_limiter_init(&l->lim, l->reg ? l->reg->code : APG_REGION_NONE, LORA_FRAME_MAX);
	lora_air_key(l->key, t->network_key);

	memset(&fp, 0, sizeof fp);
	fp.hop_limit = l->hop_limit;
	fp.suppress_k = 1;
	fp.slot_ms = l->slot_ms;
	fp.digest_ms = 100 * l->slot_ms;
	fp.retries_own = 2;
	fp.retries_relay = 1;
	fp.cache_max = 512;
	fp.seed = randombytes_random();
	fp.accept = accept_cb;
	fp.ends = ends_cb;
	fp.ctx = l;
	l->backoff_ms = RETRY_MIN_MS;
	l->state = L_WAITING;
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		l->now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	}
	if ((rc = lora_flood_new(&l->fl, &fp, l->key, l->now_ms)) != 0) {
		sodium_memzero(l->key, sizeof l->key);
		free(l);
		return rc;
	}
	t->ctx = l;
	line_open(l);
	return 0;
}

static int
lora_pollfd(const struct transport *t, short *events)
{
	const struct lora *l = t->ctx;

	*events = POLLIN | (l->wlen ? POLLOUT : 0);
	return l->fd;
}

static int
lora_ready(struct transport *t, short revents, uint64_t now)
{
	struct lora *l = t->ctx;

	l->now_ms = now;
	if (l->fd >= 0 && (revents & (POLLHUP | POLLERR | POLLNVAL)) && !(revents & POLLIN)) {
		reset(l, "the modem went away (hangup)");
		return 0;
	}
	if (l->state == L_WAITING) {
		if (now >= l->retry_ms)
			line_open(l);
		if (l->fd < 0)
			return 0;
	}
	read_line(l);
	if (l->fd < 0)
		return 0;
	if (l->state == L_CONFIG && now >= l->step_deadline) {
		if (l->step == S_REGION && !l->stock) {
			use_rnode(l);
		} else if (l->step == S_ALOCK) {
			next_step(l);           /* an RNode without airtime locks */
			config_step(l);
		} else {
			reset(l, "the modem did not answer (configuration step %d)", l->step);
			return 0;
		}
		if (l->fd < 0)
			return 0;
	}
	if ((l->state == L_UP || l->state == L_NOREGION) && now - l->last_rx_ms > SILENT_MS) {
		l->n.silent++;
		reset(l, "the modem fell silent for %d s", SILENT_MS / 1000);
		return 0;
	}
	if (l->state == L_UP || l->state == L_NOREGION) {
		if (now >= l->poll_ms) {
			uint8_t z = 0;

			l->poll_ms = now + POLL_MS;
			if (l->stock) {
				send_cmd(l, RNODE_CMD_STAT_TX, &z, 1);
				send_cmd(l, RNODE_CMD_STAT_RX, &z, 1);
			} else {
				send_cmd(l, APG_CMD_DUTY, NULL, 0);
				send_cmd(l, APG_CMD_STATS, NULL, 0);
			}
		}
		if (l->stock && l->inflight && now >= l->stat_ask_ms) {
			uint8_t z = 0;

			send_cmd(l, RNODE_CMD_STAT_TX, &z, 1);
			l->stat_ask_ms = now + 250;
		}
		if (now >= l->scan_ms && l->t->ev.each_bundle) {
			l->scan_ms = now + SCAN_MS;
			l->t->ev.each_bundle(l->t->ev.ctx, l->t, scan_one, l);
			l->first_scan = 0;
		}
		if (l->inflight && now >= l->inflight_deadline) {
			l->n.tx_timeouts++;
			l->inflight = 0;
		}
		transmit(l);
	}
	flush_out(l);
	return 0;
}

static int64_t
lora_timeout(const struct transport *t, uint64_t now)
{
	const struct lora *l = t->ctx;
	int64_t to;

	switch (l->state) {
	case L_WAITING:
		return l->retry_ms > now ? (int64_t)(l->retry_ms - now) : 0;
	case L_CONFIG:
		return l->step_deadline > now ? (int64_t)(l->step_deadline - now) : 0;
	default:
		break;
	}
	to = l->poll_ms > now ? (int64_t)(l->poll_ms - now) : 0;
	if (l->scan_ms <= now)
		return 0;
	if ((int64_t)(l->scan_ms - now) < to)
		to = (int64_t)(l->scan_ms - now);
	if (l->state == L_UP && !l->inflight && now >= l->hold_until) {
		int64_t f = lora_flood_timeout(l->fl, now);

		if (f >= 0 && f < to)
			to = f;
	} else if (l->inflight) {
		int64_t f = l->inflight_deadline > now ? (int64_t)(l->inflight_deadline - now) : 0;

		if (l->stock && (int64_t)(l->stat_ask_ms > now ? l->stat_ask_ms - now : 0) < f)
			f = l->stat_ask_ms > now ? (int64_t)(l->stat_ask_ms - now) : 0;
		if (f < to)
			to = f;
	} else if (l->hold_until > now && (int64_t)(l->hold_until - now) < to) {
		to = (int64_t)(l->hold_until - now);
	}
	return to;
}

static int
lora_send(struct transport *t, const struct transport_peer *p, const uint8_t *buf, size_t len)
{
	(void)t;
	(void)p;
	(void)buf;
	(void)len;
	return -ENOTCONN;       /* no pairwise peers on a broadcast bearer */
}

static void
lora_close(struct transport *t)
{
	struct lora *l = t->ctx;

	if (!l)
		return;
	line_close(l);
	lora_flood_free(l->fl);
	sodium_memzero(l->key, sizeof l->key);
	free(l);
	t->ctx = NULL;
}

static void
lora_info(const struct transport *t, struct transport_info *ti)
{
	const struct lora *l = t->ctx;

	memset(ti, 0, sizeof *ti);
	ti->state = lstate_names[l->state];
	snprintf(ti->endpoint, sizeof ti->endpoint, "%.290s", l->device);
	if (l->state == L_NOREGION)
		snprintf(ti->detail, sizeof ti->detail, "no region set: not transmitting");
	else if (l->state == L_UP)
		snprintf(ti->detail, sizeof ti->detail, "%s %.3f MHz SF%u BW%lu CR4/%u, %zu bundles%s",
		    l->reg->name, l->freq / 1e6, l->pre->sf, (unsigned long)(l->pre->bw / 1000),
		    l->pre->cr, lora_flood_size(l->fl),
		    l->stock ? ", RNode firmware: duty cycle enforced by apagon" : "");
	else
		snprintf(ti->detail, sizeof ti->detail, "%s", l->last_error);
	ti->up_since = l->up_since;
	ti->retry_in_ms = l->state == L_WAITING && l->retry_ms > l->now_ms ?
	    (int64_t)(l->retry_ms - l->now_ms) : -1;
	ti->peers = 0;
}

static struct transport_peer *
lora_peers(const struct transport *t)
{
	(void)t;
	return NULL;
}

static void
lora_stats(const struct transport *t, void (*fn)(void *, const char *, int64_t), void *ctx)
{
	const struct lora *l = t->ctx;
	const struct lora_flood_stats *s = lora_flood_stats(l->fl);
	static const char *const mnames[APG_STAT_MAX] = {
		[APG_STAT_RX_FRAMES] = "modem.rx_frames",
		[APG_STAT_RX_CRC_ERRORS] = "modem.rx_crc_errors",
		[APG_STAT_TX_FRAMES] = "modem.tx_frames",
		[APG_STAT_TX_AIRTIME_MS] = "modem.tx_airtime_ms",
		[APG_STAT_DUTY_REFUSALS] = "modem.duty_refusals",
		[APG_STAT_NO_REGION_REFUSALS] = "modem.no_region_refusals",
		[APG_STAT_LBT_BUSY] = "modem.lbt_busy",
		[APG_STAT_QUEUE_FULL] = "modem.queue_full",
		[APG_STAT_TX_FAILED] = "modem.tx_failed",
		[APG_STAT_CHANNEL_LOAD] = "modem.channel_load",
	};

	fn(ctx, "opens", l->n.opens);
	fn(ctx, "resets", l->n.resets);
	fn(ctx, "open_failures", l->n.open_failures);
	fn(ctx, "config_mismatches", l->n.mismatches);
	fn(ctx, "garbage_frames", l->n.garbage_frames);
	fn(ctx, "kiss_errors", l->n.kiss_errors);
	fn(ctx, "silent_resets", l->n.silent);
	fn(ctx, "modem_errors", l->n.modem_errors);
	fn(ctx, "duty_refusals", l->n.duty_refusals);
	fn(ctx, "queue_full", l->n.queue_full);
	fn(ctx, "tx_failed", l->n.tx_failed);
	fn(ctx, "tx_timeouts", l->n.tx_timeouts);
	fn(ctx, "budget_level", min_prec_allowed(l));
	fn(ctx, "rx_frames", l->n.frames_rx);
	fn(ctx, "tx_frames", l->n.frames_tx);
	fn(ctx, "tx_bytes", l->n.bytes_tx);
	fn(ctx, "tx_airtime_ms", l->n.airtime_ms);
	fn(ctx, "duty_used_ms", l->duty_used);
	fn(ctx, "duty_budget_ms", l->duty_budget);
	fn(ctx, "rnode_firmware", l->stock);
	fn(ctx, "rnode_airtime_lock", l->alock);
	fn(ctx, "duty_holds", (int64_t)l->lim.holds);
	fn(ctx, "duty_max_used_ms", l->lim.max_used_ms);
	fn(ctx, "rate_limited", l->limit.dropped);
	fn(ctx, "modem.airtime_short_bp", l->chtm_short);
	fn(ctx, "modem.airtime_long_bp", l->chtm_long);
	fn(ctx, "modem.stat_tx", l->stat_tx);
	fn(ctx, "bundles_offered", l->n.offered);
	fn(ctx, "bundles_too_big", l->n.too_big);
	fn(ctx, "bundles_in", (int64_t)s->bundles_in);
	fn(ctx, "bundles_held", (int64_t)s->bundles_held);
	fn(ctx, "rejected.refused", (int64_t)s->bundles_refused);
	fn(ctx, "rejected.short", (int64_t)s->bad_short);
	fn(ctx, "rejected.mac", (int64_t)s->bad_mac);
	fn(ctx, "rejected.format", (int64_t)s->bad_format);
	fn(ctx, "dup_heard", (int64_t)s->dup_heard);
	fn(ctx, "relays", (int64_t)s->relays);
	fn(ctx, "suppressed", (int64_t)s->suppressed);
	fn(ctx, "retries", (int64_t)s->retries);
	fn(ctx, "implicit_acks", (int64_t)s->implicit_acks);
	fn(ctx, "digests_out", (int64_t)s->digests_out);
	fn(ctx, "digests_in", (int64_t)s->digests_in);
	fn(ctx, "requests_out", (int64_t)s->requests_out);
	fn(ctx, "requests_in", (int64_t)s->requests_in);
	fn(ctx, "answers", (int64_t)s->answers);
	fn(ctx, "routed_out", (int64_t)s->routed_out);
	fn(ctx, "routed_relays", (int64_t)s->routed_relays);
	fn(ctx, "route_fallbacks", (int64_t)s->route_fallbacks);
	fn(ctx, "arrivals_repeated", (int64_t)s->arrivals_repeated);
	fn(ctx, "routes", (int64_t)s->routes);
	fn(ctx, "doubts", (int64_t)s->doubts);
	fn(ctx, "carry", (int64_t)s->carry);
	fn(ctx, "crowd", (int64_t)s->crowd);
	fn(ctx, "reassembly_timeouts", (int64_t)s->reasm_timeouts);
	for (int i = 1; i < APG_STAT_MAX; i++)
		if (mnames[i])
			fn(ctx, mnames[i], l->modem_stat[i]);
}

struct lora_sender_limit *
transport_lora_limit(struct transport *t)
{
	return t && t->ops == &transport_lora_ops && t->ctx ?
	    &((struct lora *)t->ctx)->limit : NULL;
}

const struct transport_ops transport_lora_ops = {
	.name = "lora",
	.open = lora_open,
	.pollfd = lora_pollfd,
	.ready = lora_ready,
	.timeout = lora_timeout,
	.send = lora_send,
	.close = lora_close,
	.info = lora_info,
	.peers = lora_peers,
	.stats = lora_stats,
};
