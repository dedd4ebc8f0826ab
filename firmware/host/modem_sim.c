/*
 * apagon-modem-sim: the modem firmware's host build. The portable core
 * (firmware/modem.c) and the real SX1262 driver (firmware/sx126x.c) run against a host
 * HAL whose SPI bus leads to a chip model (sx126x_model.c); the model's antenna is a
 * unix socket to the channel simulator (apagon-channel). The host side of the serial
 * line is a pseudo-terminal.
 *
 *	apagon-modem-sim --name NAME [--channel SOCKET] [--link PATH] [--time-scale F]
 *	                 [--pos X,Y] [--rnode [--rnode-max-dbm N]]
 *
 * --rnode runs a board with stock RNode firmware instead of ours (rnode_stock.h):
 * the same radio, driver and channel, RNode's command set only, no duty limiter.
 *
 * Prints "pty PATH" on stdout once the pseudo-terminal is ready; --link also makes
 * PATH a symlink to it. See docs/modem.md "Host build".
 */
#define _XOPEN_SOURCE 700  /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../modem.h"
#include "../sx126x.h"
#include "chan_proto.h"
#include "rnode_stock.h"
#include "sx126x_model.h"

struct host {
	int pty;          /* master side */
	int keep_slave;   /* our own slave fd, so the master never sees a hangup */
	int chan;         /* -1 without a channel */
	double scale;     /* real seconds per virtual second */
	struct timespec t0;
	struct sx_model chip;
	const char *name;
};

static volatile sig_atomic_t stop, reboot;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		reboot = 1;
	else
		stop = 1;
}

static uint64_t
virt_us(const struct host *h)
{
	struct timespec ts;
	double real;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	real = (double)(ts.tv_sec - h->t0.tv_sec) * 1e6 + (double)(ts.tv_nsec - h->t0.tv_nsec) / 1e3;
	return (uint64_t)(real / h->scale);
}

/* ---- HAL ---- */

static uint64_t
h_now_ms(void *ctx)
{
	return virt_us(ctx) / 1000;
}

static size_t
h_uart_read(void *ctx, uint8_t *buf, size_t cap)
{
	struct host *h = ctx;
	ssize_t n = read(h->pty, buf, cap);

	return n > 0 ? (size_t)n : 0;
}

static size_t
h_uart_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct host *h = ctx;
	ssize_t n = write(h->pty, buf, len);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		/* Nobody can ever read this: drop it rather than spin. */
		return len;
	}
	return n > 0 ? (size_t)n : 0;
}

static void
h_spi(void *ctx, const uint8_t *tx, uint8_t *rx, size_t len)
{
	struct host *h = ctx;

	sx_model_spi(&h->chip, tx, rx, len, virt_us(h));
}

static int
h_busy(void *ctx)
{
	(void)ctx;
	return 0;
}

static int
h_dio1(void *ctx)
{
	struct host *h = ctx;

	sx_model_tick(&h->chip, virt_us(h));
	return sx_model_dio1(&h->chip);
}

static void
h_reset(void *ctx)
{
	struct host *h = ctx;

	sx_model_reset(&h->chip);
}

static void
h_delay(void *ctx, uint32_t ms)
{
	struct host *h = ctx;
	struct timespec ts;
	double s = ms / 1000.0 * h->scale;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void
chan_input(struct host *h)
{
	struct chan_msg msg;
	ssize_t n;

	while ((n = recv(h->chan, &msg, sizeof msg, MSG_DONTWAIT)) > 0) {
		if ((size_t)n != sizeof msg)
			continue;
		if (msg.type == CHAN_ONAIR)
			sx_model_onair(&h->chip, msg.id, msg.freq_hz, msg.bw_hz, msg.sf, msg.rssi_dbm,
			    msg.snr_db4, msg.airtime_us, virt_us(h));
		else if (msg.type == CHAN_RXEND)
			sx_model_rxend(&h->chip, msg.id, msg.status == 0, msg.data,
			    msg.len > 255 ? 255 : msg.len, virt_us(h));
	}
	if (n == 0) {
		fprintf(stderr, "apagon-modem-sim %s: the channel simulator went away; radio is deaf now\n",
		    h->name);
		close(h->chan);
		h->chan = -1;
	}
}

static void
h_idle(void *ctx, uint32_t max_ms)
{
	struct host *h = ctx;
	struct pollfd p[2];
	uint64_t chip = sx_model_next_us(&h->chip, virt_us(h));
	double wait_ms = max_ms;
	int nfds = 1;

	if (chip != UINT64_MAX && chip / 1000.0 < wait_ms)
		wait_ms = chip / 1000.0;
	wait_ms *= h->scale;
	p[0].fd = h->pty;
	p[0].events = POLLIN;
	if (h->chan >= 0) {
		p[1].fd = h->chan;
		p[1].events = POLLIN;
		nfds = 2;
	}
	if (poll(p, (nfds_t)nfds, (int)(wait_ms + 0.999)) > 0 && nfds == 2 && p[1].revents)
		chan_input(h);
	sx_model_tick(&h->chip, virt_us(h));
}

static const struct hal_ops host_ops = {
	.now_ms = h_now_ms,
	.uart_read = h_uart_read,
	.uart_write = h_uart_write,
	.spi_transfer = h_spi,
	.radio_busy = h_busy,
	.radio_dio1 = h_dio1,
	.radio_reset = h_reset,
	.delay_ms = h_delay,
	.idle = h_idle,
};

static const struct hal_info host_info = {
	.name = "host-sim",
	.platform = APG_PLATFORM_HOST,  /* not an RNode platform: a host simulation */
	.mcu = APG_MCU_HOST,
	.tcxo_mv = 1800,
	.dio2_rf_switch = 1,
	.dcdc = 1,
	.max_dbm = 22,
};

/* A board flashed with RNode firmware reports RNode's platform and MCU bytes. */
static const struct hal_info rnode_info = {
	.name = "host-sim-rnode",
	.platform = RNODE_PLATFORM_ESP32,
	.mcu = RNODE_MCU_ESP32,
	.tcxo_mv = 1800,
	.dio2_rf_switch = 1,
	.dcdc = 1,
	.max_dbm = 22,
};

/* The chip starts a transmission: hand it to the channel. */
static void
link_tx(void *ctx, uint32_t freq_hz, uint32_t bw_hz, uint8_t sf, uint8_t cr, int8_t power_dbm,
    uint32_t airtime_us, const uint8_t *data, size_t len)
{
	struct host *h = ctx;
	struct chan_msg msg;

	if (h->chan < 0)
		return;
	memset(&msg, 0, sizeof msg);
	msg.type = CHAN_TX;
	msg.freq_hz = freq_hz;
	msg.bw_hz = bw_hz;
	msg.sf = sf;
	msg.cr = cr;
	msg.power_dbm = power_dbm;
	msg.airtime_us = airtime_us;
	msg.len = (uint16_t)len;
	memcpy(msg.data, data, len);
	if (send(h->chan, &msg, sizeof msg, MSG_NOSIGNAL) != (ssize_t)sizeof msg)
		fprintf(stderr, "apagon-modem-sim %s: sending to the channel: %s\n", h->name,
		    strerror(errno));
}

static int
chan_connect(struct host *h, const char *path, int has_pos, double x, double y)
{
	struct sockaddr_un sa;
	struct chan_msg msg;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ssize_t n;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "apagon-modem-sim: --channel %s: path too long. Use a shorter path.\n", path);
		close(fd);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "apagon-modem-sim: --channel %s: %s. Start apagon-channel first.\n",
		    path, strerror(errno));
		close(fd);
		return -1;
	}
	memset(&msg, 0, sizeof msg);
	msg.type = CHAN_HELLO;
	snprintf(msg.name, sizeof msg.name, "%s", h->name);
	msg.has_pos = (uint8_t)has_pos;
	msg.x = x;
	msg.y = y;
	if (send(fd, &msg, sizeof msg, MSG_NOSIGNAL) != (ssize_t)sizeof msg ||
	    (n = recv(fd, &msg, sizeof msg, 0)) != (ssize_t)sizeof msg || msg.type != CHAN_WELCOME) {
		fprintf(stderr, "apagon-modem-sim: --channel %s: no welcome from the channel\n", path);
		close(fd);
		return -1;
	}
	if (msg.status) {
		msg.data[sizeof msg.data - 1] = 0;
		fprintf(stderr, "apagon-modem-sim: the channel refused %s: %s\n", h->name,
		    (char *)msg.data);
		close(fd);
		return -1;
	}
	h->chan = fd;
	return 0;
}

static int
open_pty(struct host *h, const char *link)
{
	struct termios t;
	const char *slave;
	int fd = posix_openpt(O_RDWR | O_NOCTTY);

	if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0 || !(slave = ptsname(fd))) {
		perror("apagon-modem-sim: posix_openpt");
		return -1;
	}
	h->keep_slave = open(slave, O_RDWR | O_NOCTTY);
	if (h->keep_slave < 0 || tcgetattr(h->keep_slave, &t) < 0) {
		perror("apagon-modem-sim: opening the pty slave");
		return -1;
	}
	/* A serial line carries binary KISS: no echo, no line discipline. */
	cfmakeraw(&t);
	tcsetattr(h->keep_slave, TCSANOW, &t);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	h->pty = fd;
	if (link) {
		unlink(link);
		if (symlink(slave, link) < 0) {
			fprintf(stderr, "apagon-modem-sim: --link %s: %s\n", link, strerror(errno));
			return -1;
		}
	}
	printf("pty %s\n", slave);
	fflush(stdout);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: apagon-modem-sim --name NAME [--channel SOCKET] [--link PATH]\n"
	    "                        [--time-scale F] [--pos X,Y]\n"
	    "                        [--rnode [--rnode-max-dbm N] [--rnode-freq-offset HZ]]\n"
	    "\n"
	    "The modem firmware's host build on a pseudo-terminal. Speaks KISS/RNode on the\n"
	    "pty (docs/modem.md); its simulated SX1262 joins the radio channel served by\n"
	    "apagon-channel at SOCKET, where NAME's position comes from the channel's config\n"
	    "(or from --pos, in metres).\n"
	    "\n"
	    "  --link PATH       also make PATH a symlink to the pty\n"
	    "  --time-scale F    real seconds per simulated second (default 1; 0.1 runs the\n"
	    "                    radio and the modem's clock ten times faster). Use the same\n"
	    "                    value for every modem and the channel.\n"
	    "  --rnode           behave as a board running stock RNode firmware: RNode's\n"
	    "                    command set only, no regions, no duty-cycle limiter\n"
	    "  --rnode-max-dbm N with --rnode: the board's TX power ceiling (default 22,\n"
	    "                    an SX1262); higher requests are clamped and reported\n"
	    "  --rnode-freq-offset HZ  with --rnode: report the frequency HZ off what was\n"
	    "                    set, as an SX127x reports its synthesizer's value\n"
	    "With --rnode, SIGUSR1 restarts the board: its settings are lost and it says\n"
	    "RESET on the line, as an RNode board does when it reboots.\n"
	    "Prints \"pty PATH\" on stdout when ready. SIGTERM/SIGINT stop it.\n");
}

int
main(int argc, char **argv)
{
	static struct host h;
	static struct modem m;
	static struct sx126x sx;
	static struct rnode_stock rs;
	const char *chan = NULL, *link = NULL;
	double x = 0, y = 0;
	int has_pos = 0, stock = 0, max_dbm = 22;
	long freq_offset = 0;
	struct sxm_link l = { link_tx, &h };
	struct hal hal = { &host_ops, &h, &host_info };
	struct radio radio;

	h.scale = 1.0;
	h.chan = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--rnode")) {
			stock = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "apagon-modem-sim: %s needs a value. See --help.\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--name"))
			h.name = v;
		else if (!strcmp(a, "--channel"))
			chan = v;
		else if (!strcmp(a, "--link"))
			link = v;
		else if (!strcmp(a, "--time-scale")) {
			h.scale = strtod(v, NULL);
			if (!(h.scale > 0)) {
				fprintf(stderr, "apagon-modem-sim: --time-scale %s: not a positive number\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--pos")) {
			if (sscanf(v, "%lf,%lf", &x, &y) != 2) {
				fprintf(stderr, "apagon-modem-sim: --pos %s: expected X,Y in metres\n", v);
				return 2;
			}
			has_pos = 1;
		} else if (!strcmp(a, "--rnode-freq-offset")) {
			freq_offset = strtol(v, NULL, 10);
			if (freq_offset < -100000 || freq_offset > 100000) {
				fprintf(stderr, "apagon-modem-sim: --rnode-freq-offset %s: expected -100000..100000 Hz\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--rnode-max-dbm")) {
			max_dbm = atoi(v);
			if (max_dbm < -9 || max_dbm > 22) {
				fprintf(stderr, "apagon-modem-sim: --rnode-max-dbm %s: expected -9..22\n", v);
				return 2;
			}
		} else {
			fprintf(stderr, "apagon-modem-sim: unknown option %s. See --help.\n", a);
			return 2;
		}
	}
	if (!h.name) {
		fprintf(stderr, "apagon-modem-sim: --name is required. See --help.\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &h.t0);
	sx_model_init(&h.chip, &l);
	if (chan && chan_connect(&h, chan, has_pos, x, y) < 0)
		return 1;
	if (open_pty(&h, link) < 0)
		return 1;
	if (stock)
		hal.info = &rnode_info;
	radio = sx126x_radio(&sx, &hal);
	if (stock) {
		int ok = rnode_stock_init(&rs, &hal, &radio, (int8_t)max_dbm) == 0;

		rs.freq_report_offset = (int32_t)freq_offset;
		if (!ok)
			fprintf(stderr, "apagon-modem-sim %s: radio init failed; serving the pty anyway\n",
			    h.name);
		while (!stop) {
			if (reboot) {
				/* A board that restarts: settings gone, RESET on the line. */
				reboot = 0;
				rnode_stock_init(&rs, &hal, &radio, (int8_t)max_dbm);
				rs.freq_report_offset = (int32_t)freq_offset;
			}
			rnode_stock_poll(&rs);
		}
	} else if (modem_init(&m, &hal, &radio) != 0)
		fprintf(stderr, "apagon-modem-sim %s: radio init failed; serving the pty anyway\n", h.name);
	while (!stop && !stock)
		modem_poll(&m);
	if (link)
		unlink(link);
	return 0;
}
