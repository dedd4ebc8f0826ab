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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "../firmware/airtime.h"
#include "../mesh/bundle.h"
#include "../mesh/mesh.h"
#include "lora_air.h"
#include "lora_line.h"
#include "log.h"

#define POLL_MS          5000           /* counters and duty: also the liveness check */
#define SILENT_MS        15000          /* no frame at all for this long: modem dead */
#define SCAN_MS          1000           /* look for new bundles in the store */
#define SENDER_RATE      6              /* bundles a minute per sender, by default */
#define SENDER_BURST     20

/* Meshtastic's modem presets (docs/lora.md has the table). */
static const struct preset presets[] = {
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
static const struct region regions[] = {
	{ "EU868", APG_REGION_EU868, 869525000 },
};

static const char *const lstate_names[] = { "waiting", "configuring", "up", "listening" };

/* A frame's time on air with this preset (explicit header, CRC on, our preamble). */
static uint32_t
airtime_ms(const struct preset *p, size_t len)
{
	struct radio_config c = { .bw_hz = p->bw, .sf = p->sf, .cr = p->cr,
	    .preamble = PREAMBLE, .crc = 1 };

	return lora_airtime_ms(&c, len);
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
		return LORA_ACCEPT_LATER;
	if (rc == -EBUSY)
		return LORA_ACCEPT_LIMITED;
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
	uint64_t mt = lora_line_modem_now(l);
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
	lora_line_cmd(l, RNODE_CMD_DATA, frame, (size_t)len);
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
	lora_line_cmd(l, APG_CMD_DATA_PREC, frame, (size_t)len + 1);
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
		/* A bundle over its sender's rate is held off for one token's refill. */
		l->limited_ms = rate > 0 ? (uint32_t)(60000 / rate) : 0;
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
	fp.limited_ms = l->limited_ms;
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
	lora_line_open(l);
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
		lora_line_reset(l, "the modem went away (hangup)");
		return 0;
	}
	if (l->state == L_WAITING) {
		if (now >= l->retry_ms)
			lora_line_open(l);
		if (l->fd < 0)
			return 0;
	}
	lora_line_read(l);
	if (l->fd < 0)
		return 0;
	if (l->state == L_CONFIG && now >= l->step_deadline) {
		if (l->step == S_REGION && !l->stock) {
			lora_line_use_rnode(l);
		} else if (l->step == S_ALOCK) {
			lora_line_next_step(l);           /* an RNode without airtime locks */
			lora_line_config(l);
		} else {
			lora_line_reset(l, "the modem did not answer (configuration step %d)", l->step);
			return 0;
		}
		if (l->fd < 0)
			return 0;
	}
	if ((l->state == L_UP || l->state == L_NOREGION) && now - l->last_rx_ms > SILENT_MS) {
		l->n.silent++;
		lora_line_reset(l, "the modem fell silent for %d s", SILENT_MS / 1000);
		return 0;
	}
	if (l->state == L_UP || l->state == L_NOREGION) {
		if (now >= l->poll_ms) {
			uint8_t z = 0;

			l->poll_ms = now + POLL_MS;
			if (l->stock) {
				lora_line_cmd(l, RNODE_CMD_STAT_TX, &z, 1);
				lora_line_cmd(l, RNODE_CMD_STAT_RX, &z, 1);
			} else {
				lora_line_cmd(l, APG_CMD_DUTY, NULL, 0);
				lora_line_cmd(l, APG_CMD_STATS, NULL, 0);
			}
		}
		if (l->stock && l->inflight && now >= l->stat_ask_ms) {
			uint8_t z = 0;

			lora_line_cmd(l, RNODE_CMD_STAT_TX, &z, 1);
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
	lora_line_flush(l);
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
	lora_line_close(l);
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
