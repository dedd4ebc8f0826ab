/*
 * apagon-channel: the simulated radio channel shared by simulated modems
 * (apagon-modem-sim --channel SOCKET). Host build only.
 *
 *	apagon-channel --socket PATH --config FILE [--time-scale F] [--seed N]
 *
 * SIGHUP re-reads FILE: positions, links and settings change mid-run (partitions).
 * The model (docs/modem.md "Channel simulator"; the physics is chan_model.c, which
 * apagon-drill sim shares):
 *   - received power = TX power - (ref_loss_db + 10 n log10(d / 1 m)) - extra losses,
 *     with node positions in metres from the config file (log-distance path loss);
 *   - noise floor = -174 dBm/Hz + 10 log10(BW) + noise figure; SNR = power - noise;
 *   - a frame is received only if its SNR is at or above the SF's demodulation floor
 *     (SF5 -2.5 dB, SF6 -5, SF7 -7.5, SF8 -10, SF9 -12.5, SF10 -15, SF11 -17.5,
 *     SF12 -20), and only by radios listening on the same frequency, BW and SF;
 *   - two frames on the same channel that overlap in time at a receiver collide: the
 *     wanted frame survives only if it is capture_db stronger than every overlapping
 *     one (capture effect; "capture_db off" disables capture);
 *   - a transmitting radio hears nothing (half duplex, enforced by the chip model);
 *   - extra loss: global extra_loss_db, per-link loss or "off", random loss_percent.
 * Hidden terminals follow from geometry: two senders out of each other's range both
 * hear the channel free, and collide at a receiver between them.
 *
 * Log lines on stdout, one per event:
 *	tx SENDER id=N len=L airtime_us=A
 *	rx RECEIVER from=SENDER id=N ok|collision|lost rssi=R snr=S
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "chan_model.h"
#include "chan_proto.h"

#define MAX_NODES   256
#define MAX_LINKS   1024
#define MAX_CLIENTS 256
#define MAX_TX      4096
#define GRACE_US    3000   /* real time allowed for an overlapping TX message to arrive */

struct node {
	char name[32];
	double x, y;
};

struct link {
	int a, b;
	double loss_db;     /* INFINITY: no link at all */
};

struct client {
	int fd;
	int node;           /* index into nodes, -1 before HELLO */
};

struct tx {
	uint32_t id;
	int sender;         /* client index */
	int node;
	uint64_t start, end;  /* real us */
	uint32_t freq_hz, bw_hz, airtime_us;
	uint8_t sf, cr;
	int8_t power_dbm;
	uint16_t len;
	uint8_t data[256];
	uint8_t done;
};

static struct {
	struct chan_model m;
	struct node nodes[MAX_NODES];
	int nnodes;
	struct link links[MAX_LINKS];
	int nlinks;
	struct client clients[MAX_CLIENTS];
	struct tx txs[MAX_TX];
	uint32_t next_id;
	double scale;
	uint64_t rng;
	struct timespec t0;
	unsigned long n_tx, n_ok, n_collision, n_lost, n_floor;
} ch;

static volatile sig_atomic_t stop, reload;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		stop = 1;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(ts.tv_sec - ch.t0.tv_sec) * 1000000u +
	    (uint64_t)((ts.tv_nsec - ch.t0.tv_nsec) / 1000);
}

static double
rnd01(void)
{
	/* splitmix64: reproducible with --seed. */
	uint64_t z = (ch.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static int
find_node(const char *name)
{
	for (int i = 0; i < ch.nnodes; i++)
		if (!strcmp(ch.nodes[i].name, name))
			return i;
	return -1;
}

static int
config_error(const char *file, int line, const char *what)
{
	fprintf(stderr, "apagon-channel: %s:%d: %s\n", file, line, what);
	return -1;
}

static void
defaults(void)
{
	chan_model_defaults(&ch.m);
	ch.nlinks = 0;
}

/* Read the config: settings and links start from the defaults each time; a node
 * already known (from an earlier read or a --pos join) keeps its index and takes the
 * new position. On a re-read (SIGHUP) that fails, the caller restores the old state. */
static int
load_config(const char *file)
{
	FILE *f = fopen(file, "r");
	char buf[512];
	int line = 0;
	static unsigned char seen[MAX_NODES];

	if (!f) {
		fprintf(stderr, "apagon-channel: %s: %s\n", file, strerror(errno));
		return -1;
	}
	defaults();
	memset(seen, 0, sizeof seen);
	while (fgets(buf, sizeof buf, f)) {
		char *hash = strchr(buf, '#'), key[64], a[64], b[64], c[64];
		int n;

		line++;
		if (hash)
			*hash = 0;
		n = sscanf(buf, "%63s %63s %63s %63s", key, a, b, c);
		if (n <= 0)
			continue;
		if (!strcmp(key, "node")) {
			struct node *nd;

			int idx;

			if (n != 4)
				return fclose(f), config_error(file, line, "expected: node NAME X Y");
			if (strlen(a) >= sizeof nd->name)
				return fclose(f), config_error(file, line, "node name longer than 31 bytes");
			idx = find_node(a);
			if (idx >= 0 && seen[idx])
				return fclose(f), config_error(file, line, "node defined twice");
			if (idx < 0) {
				if (ch.nnodes == MAX_NODES)
					return fclose(f), config_error(file, line, "too many nodes");
				idx = ch.nnodes++;
			}
			seen[idx] = 1;
			nd = &ch.nodes[idx];
			strcpy(nd->name, a);
			nd->x = strtod(b, NULL);
			nd->y = strtod(c, NULL);
		} else if (!strcmp(key, "link")) {
			int ia = find_node(a), ib = find_node(b);

			if (n != 4)
				return fclose(f), config_error(file, line, "expected: link A B LOSS_DB|off");
			if (ia < 0 || ib < 0)
				return fclose(f), config_error(file, line, "link names a node not defined above");
			if (ch.nlinks == MAX_LINKS)
				return fclose(f), config_error(file, line, "too many links");
			ch.links[ch.nlinks].a = ia;
			ch.links[ch.nlinks].b = ib;
			ch.links[ch.nlinks].loss_db = !strcmp(c, "off") ? INFINITY : strtod(c, NULL);
			ch.nlinks++;
		} else if (n == 2) {
			if (chan_model_set(&ch.m, key, a) != 0)
				return fclose(f), config_error(file, line, "unknown setting");
		} else {
			return fclose(f), config_error(file, line, "unknown line");
		}
	}
	fclose(f);
	return 0;
}

/* Power (dBm) of a transmission from node a heard at node b. */
static double
rx_power(int a, int b, int8_t power_dbm)
{
	double dx = ch.nodes[a].x - ch.nodes[b].x, dy = ch.nodes[a].y - ch.nodes[b].y;
	double loss = chan_path_loss_db(&ch.m, sqrt(dx * dx + dy * dy));

	for (int i = 0; i < ch.nlinks; i++)
		if ((ch.links[i].a == a && ch.links[i].b == b) || (ch.links[i].a == b && ch.links[i].b == a))
			loss += ch.links[i].loss_db;
	return power_dbm - loss;
}

static void
send_msg(int ci, const struct chan_msg *m)
{
	if (ch.clients[ci].fd >= 0 &&
	    send(ch.clients[ci].fd, m, sizeof *m, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof *m)
		fprintf(stderr, "apagon-channel: to %s: %s\n", ch.nodes[ch.clients[ci].node].name,
		    strerror(errno));
}

static int
same_channel(const struct tx *a, const struct tx *b)
{
	return a->freq_hz == b->freq_hz && a->bw_hz == b->bw_hz && a->sf == b->sf;
}

static void
start_tx(int ci, const struct chan_msg *m)
{
	struct tx *t = NULL;
	uint64_t now = now_us();

	for (int i = 0; i < MAX_TX; i++)
		if (!ch.txs[i].id || (ch.txs[i].done && ch.txs[i].end + 60000000u < now)) {
			t = &ch.txs[i];
			break;
		}
	if (!t) {
		fprintf(stderr, "apagon-channel: too many frames on air; dropping one from %s\n",
		    ch.nodes[ch.clients[ci].node].name);
		return;
	}
	memset(t, 0, sizeof *t);
	t->id = ++ch.next_id;
	t->sender = ci;
	t->node = ch.clients[ci].node;
	t->start = now;
	t->end = now + (uint64_t)(m->airtime_us * ch.scale);
	t->freq_hz = m->freq_hz;
	t->bw_hz = m->bw_hz;
	t->sf = m->sf;
	t->cr = m->cr;
	t->power_dbm = m->power_dbm;
	t->airtime_us = m->airtime_us;
	t->len = m->len > 255 ? 255 : m->len;
	memcpy(t->data, m->data, t->len);
	ch.n_tx++;
	printf("tx %s id=%u len=%u airtime_us=%u\n", ch.nodes[t->node].name, t->id, t->len, t->airtime_us);
	for (int r = 0; r < MAX_CLIENTS; r++) {
		struct chan_msg o;
		double p, snr;

		if (r == ci || ch.clients[r].fd < 0 || ch.clients[r].node < 0)
			continue;
		p = rx_power(t->node, ch.clients[r].node, t->power_dbm);
		snr = p - chan_noise_dbm(&ch.m, t->bw_hz);
		if (snr < chan_snr_floor(t->sf))
			continue;
		memset(&o, 0, sizeof o);
		o.type = CHAN_ONAIR;
		o.id = t->id;
		o.freq_hz = t->freq_hz;
		o.bw_hz = t->bw_hz;
		o.sf = t->sf;
		o.airtime_us = t->airtime_us;
		/* The chip's packet RSSI measures signal plus noise. */
		o.rssi_dbm = (int16_t)lround(chan_packet_rssi_dbm(&ch.m, p, t->bw_hz));
		o.snr_db4 = (int8_t)(snr * 4 > 127 ? 127 : lround(snr * 4));
		send_msg(r, &o);
	}
}

static void
end_tx(struct tx *t)
{
	t->done = 1;
	for (int r = 0; r < MAX_CLIENTS; r++) {
		struct chan_msg o;
		double p, snr;
		const char *verdict = "ok";
		int rn = ch.clients[r].node;

		if (r == t->sender || ch.clients[r].fd < 0 || rn < 0)
			continue;
		p = rx_power(t->node, rn, t->power_dbm);
		snr = p - chan_noise_dbm(&ch.m, t->bw_hz);
		if (snr < chan_snr_floor(t->sf)) {
			ch.n_floor++;
			continue;
		}
		memset(&o, 0, sizeof o);
		o.type = CHAN_RXEND;
		o.id = t->id;
		for (int i = 0; i < MAX_TX; i++) {
			const struct tx *g = &ch.txs[i];

			if (!g->id || g == t || g->node == rn || !same_channel(g, t) ||
			    g->start >= t->end || g->end <= t->start)
				continue;
			if (chan_collides(&ch.m, p, rx_power(g->node, rn, g->power_dbm)))
				o.status = 1;
		}
		if (o.status) {
			verdict = "collision";
			ch.n_collision++;
		} else if (ch.m.loss_percent > 0 && rnd01() * 100 < ch.m.loss_percent) {
			verdict = "lost";
			o.status = 1;
			ch.n_lost++;
		} else {
			ch.n_ok++;
		}
		o.len = t->len;
		memcpy(o.data, t->data, t->len);
		printf("rx %s from=%s id=%u %s rssi=%.1f snr=%.1f\n", ch.nodes[rn].name,
		    ch.nodes[t->node].name, t->id, verdict, p, snr);
		send_msg(r, &o);
	}
}

static void
hello(int ci, const struct chan_msg *m)
{
	struct chan_msg w;
	char name[32];
	int nd;

	memcpy(name, m->name, sizeof name - 1);
	name[sizeof name - 1] = 0;
	memset(&w, 0, sizeof w);
	w.type = CHAN_WELCOME;
	nd = find_node(name);
	if (nd < 0 && m->has_pos && ch.nnodes < MAX_NODES && name[0]) {
		nd = ch.nnodes++;
		snprintf(ch.nodes[nd].name, sizeof ch.nodes[nd].name, "%s", name);
		ch.nodes[nd].x = m->x;
		ch.nodes[nd].y = m->y;
	} else if (nd >= 0 && m->has_pos) {
		ch.nodes[nd].x = m->x;
		ch.nodes[nd].y = m->y;
	}
	for (int i = 0; nd >= 0 && i < MAX_CLIENTS; i++)
		if (i != ci && ch.clients[i].fd >= 0 && ch.clients[i].node == nd) {
			w.status = 1;
			snprintf((char *)w.data, sizeof w.data, "a modem named %s is already on the channel", name);
		}
	if (nd < 0) {
		w.status = 1;
		snprintf((char *)w.data, sizeof w.data,
		    "no node %s in the channel config; add \"node %s X Y\" or pass --pos", name, name);
	}
	send_msg(ci, &w);
	if (w.status) {
		close(ch.clients[ci].fd);
		ch.clients[ci].fd = -1;
		return;
	}
	ch.clients[ci].node = nd;
	printf("join %s x=%.1f y=%.1f\n", ch.nodes[nd].name, ch.nodes[nd].x, ch.nodes[nd].y);
}

/* SIGHUP: read the config again (links and positions change mid-run: partitions,
 * moves). A broken file leaves everything as it was. */
static void
reread(const char *config)
{
	static struct node nodes[MAX_NODES];
	static struct link links[MAX_LINKS];
	struct chan_model saved = ch.m;
	int nn = ch.nnodes, nl = ch.nlinks;

	if (!config)
		return;
	memcpy(nodes, ch.nodes, sizeof nodes);
	memcpy(links, ch.links, sizeof links);
	if (load_config(config) == 0) {
		printf("reload %s\n", config);
		return;
	}
	memcpy(ch.nodes, nodes, sizeof nodes);
	memcpy(ch.links, links, sizeof links);
	ch.nnodes = nn;
	ch.nlinks = nl;
	ch.m = saved;
	printf("reload %s failed; keeping the previous model\n", config);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: apagon-channel --socket PATH --config FILE [--time-scale F] [--seed N]\n"
	    "\n"
	    "The simulated LoRa channel that apagon-modem-sim processes join (--channel PATH).\n"
	    "Config lines (# starts a comment):\n"
	    "  node NAME X Y              a radio's position in metres\n"
	    "  link A B LOSS_DB|off       extra loss on one pair, or no link at all\n"
	    "  path_loss_exponent N       log-distance exponent (default 3.0)\n"
	    "  ref_loss_db DB             path loss at 1 m (default 40)\n"
	    "  noise_figure_db DB         receiver noise figure (default 6)\n"
	    "  extra_loss_db DB           added to every link (default 0)\n"
	    "  loss_percent P             random loss of received frames (default 0)\n"
	    "  capture_db DB|off          capture margin (default 6)\n"
	    "--time-scale F: real seconds per simulated second, as given to every modem.\n"
	    "SIGHUP reads the config again (positions and links; e.g. to cut a link mid-run).\n"
	    "Logs one line per event on stdout (tx, rx ok/collision/lost, join, leave).\n");
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *config = NULL;
	struct sockaddr_un sa;
	int lfd;

	defaults();
	ch.scale = 1.0;
	ch.rng = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "apagon-channel: %s needs a value. See --help.\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--socket"))
			sock = v;
		else if (!strcmp(a, "--config"))
			config = v;
		else if (!strcmp(a, "--time-scale"))
			ch.scale = strtod(v, NULL);
		else if (!strcmp(a, "--seed"))
			ch.rng = strtoull(v, NULL, 0);
		else {
			fprintf(stderr, "apagon-channel: unknown option %s. See --help.\n", a);
			return 2;
		}
	}
	if (!sock || !(ch.scale > 0)) {
		fprintf(stderr, "apagon-channel: --socket is required and --time-scale must be positive. See --help.\n");
		return 2;
	}
	if (config && load_config(config) < 0)
		return 1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		ch.clients[i].fd = -1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &ch.t0);

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	/* Bound and listening under a temporary name, then renamed: a modem that finds
	 * the socket's path can always connect (no window between bind and listen). */
	if (strlen(sock) + 4 >= sizeof sa.sun_path) {
		fprintf(stderr, "apagon-channel: --socket %s: path too long\n", sock);
		return 1;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s.new", sock);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 64) < 0 ||
	    rename(sa.sun_path, sock) < 0) {
		fprintf(stderr, "apagon-channel: --socket %s: %s\n", sock, strerror(errno));
		return 1;
	}
	printf("listening %s\n", sock);

	while (!stop) {
		struct pollfd p[1 + MAX_CLIENTS];

		if (reload) {
			reload = 0;
			reread(config);
		}
		int map[1 + MAX_CLIENTS], np = 1, timeout = 1000;
		uint64_t now = now_us();

		/* Frames whose end (plus grace) has come. */
		for (int i = 0; i < MAX_TX; i++) {
			struct tx *t = &ch.txs[i];

			if (!t->id || t->done)
				continue;
			if (now >= t->end + GRACE_US)
				end_tx(t);
			else if ((int)((t->end + GRACE_US - now) / 1000 + 1) < timeout)
				timeout = (int)((t->end + GRACE_US - now) / 1000 + 1);
		}
		p[0].fd = lfd;
		p[0].events = POLLIN;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (ch.clients[i].fd >= 0) {
				p[np].fd = ch.clients[i].fd;
				p[np].events = POLLIN;
				map[np++] = i;
			}
		if (poll(p, (nfds_t)np, timeout) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);
			int slot = -1;

			for (int i = 0; i < MAX_CLIENTS && fd >= 0; i++)
				if (ch.clients[i].fd < 0) {
					slot = i;
					break;
				}
			if (slot < 0 && fd >= 0) {
				close(fd);
			} else if (fd >= 0) {
				ch.clients[slot].fd = fd;
				ch.clients[slot].node = -1;
			}
		}
		for (int k = 1; k < np; k++) {
			int ci = map[k];
			struct chan_msg m;
			ssize_t n;

			if (!p[k].revents)
				continue;
			n = recv(ch.clients[ci].fd, &m, sizeof m, MSG_DONTWAIT);
			if (n <= 0) {
				if (ch.clients[ci].node >= 0)
					printf("leave %s\n", ch.nodes[ch.clients[ci].node].name);
				close(ch.clients[ci].fd);
				ch.clients[ci].fd = -1;
				continue;
			}
			if ((size_t)n != sizeof m)
				continue;
			if (m.type == CHAN_HELLO && ch.clients[ci].node < 0)
				hello(ci, &m);
			else if (m.type == CHAN_TX && ch.clients[ci].node >= 0)
				start_tx(ci, &m);
		}
	}
	printf("channel: %lu tx, %lu received, %lu collisions, %lu lost, %lu below floor\n",
	    ch.n_tx, ch.n_ok, ch.n_collision, ch.n_lost, ch.n_floor);
	unlink(sock);
	return 0;
}
