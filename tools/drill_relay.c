/*
 * Bridge relays (drill.h): a mosquitto bridge from site A's broker reaches site B's
 * through one of these, on a loopback port the drill owns, so a partition can cut the
 * link between the two brokers without touching either: open connections are closed
 * and new ones refused until the heal. Bytes are copied as they come, through a fixed
 * buffer per direction; a full buffer stops reading from that side (backpressure).
 */
#include "drill.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_CONNS 8
#define RELAY_BUF   (64 << 10)

struct relay_pipe {             /* one direction */
	char buf[RELAY_BUF];
	size_t len, off;
};

struct relay_conn {
	int fd[2];                      /* 0: the bridging broker, 1: the target broker */
	int connecting;                 /* fd[1]'s connect() is in progress */
	struct relay_pipe p[2];         /* p[i]: bytes read on fd[i], to write on fd[!i] */
};

struct drill_relay {
	int lfd, target_port, cut;
	struct relay_conn *c[RELAY_CONNS];
	int polled[1 + 2 * RELAY_CONNS];        /* -1 listener, else conn*2 + side */
	int npolled;
	uint64_t bytes;
};

static void
conn_close(struct drill_relay *r, int i)
{
	if (!r->c[i])
		return;
	close(r->c[i]->fd[0]);
	close(r->c[i]->fd[1]);
	free(r->c[i]);
	r->c[i] = NULL;
}

struct drill_relay *
relay_open(int target_port, int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	struct drill_relay *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->target_port = target_port;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(r->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(r->lfd, 8) < 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&sa, &sl) < 0) {
		if (r->lfd >= 0)
			close(r->lfd);
		free(r);
		return NULL;
	}
	*port = ntohs(sa.sin_port);
	return r;
}

void
relay_close(struct drill_relay *r)
{
	if (!r)
		return;
	for (int i = 0; i < RELAY_CONNS; i++)
		conn_close(r, i);
	close(r->lfd);
	free(r);
}

void
relay_cut(struct drill_relay *r, int cut)
{
	r->cut = cut;
	if (cut)
		for (int i = 0; i < RELAY_CONNS; i++)
			conn_close(r, i);
}

uint64_t
relay_bytes(const struct drill_relay *r)
{
	return r->bytes;
}

static void
accept_one(struct drill_relay *r)
{
	struct sockaddr_in sa;
	int fd, up, slot = -1;

	if ((fd = accept(r->lfd, NULL, NULL)) < 0)
		return;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return;
	}
	for (int i = 0; i < RELAY_CONNS; i++)
		if (!r->c[i]) {
			slot = i;
			break;
		}
	if (r->cut || slot < 0) {       /* the partition: the bridge sees a refusal */
		close(fd);
		return;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)r->target_port);
	if ((up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		close(fd);
		return;
	}
	if (connect(up, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		close(fd);
		close(up);
		return;
	}
	if ((r->c[slot] = calloc(1, sizeof *r->c[slot])) == NULL) {
		close(fd);
		close(up);
		return;
	}
	r->c[slot]->fd[0] = fd;
	r->c[slot]->fd[1] = up;
	r->c[slot]->connecting = 1;
}

int
relay_pollfds(struct drill_relay *r, struct pollfd *pfds, int max)
{
	int n = 0;

	r->npolled = 0;
	if (max < 1)
		return 0;
	pfds[n].fd = r->lfd;
	pfds[n].events = POLLIN;
	pfds[n].revents = 0;
	r->polled[n++] = -1;
	for (int i = 0; i < RELAY_CONNS && n + 2 <= max; i++) {
		struct relay_conn *c = r->c[i];

		if (!c)
			continue;
		for (int side = 0; side < 2; side++) {
			short ev = 0;

			if (side == 1 && c->connecting) {
				ev = POLLOUT;
			} else if (!c->connecting) {
				if (c->p[side].len < RELAY_BUF)
					ev |= POLLIN;
				if (c->p[!side].off < c->p[!side].len)
					ev |= POLLOUT;
			}
			pfds[n].fd = c->fd[side];
			pfds[n].events = ev;
			pfds[n].revents = 0;
			r->polled[n++] = i * 2 + side;
		}
	}
	r->npolled = n;
	return n;
}

/* Move what can be moved on one side; -1 when the connection is over. */
static int
pump(struct relay_conn *c, int side, short rev, uint64_t *bytes)
{
	struct relay_pipe *in = &c->p[side], *out = &c->p[!side];

	if (rev & POLLIN) {
		ssize_t k = read(c->fd[side], in->buf + in->len, RELAY_BUF - in->len);

		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (k > 0) {
			in->len += (size_t)k;
			*bytes += (uint64_t)k;
		}
	} else if (rev & (POLLHUP | POLLERR | POLLNVAL)) {
		return -1;
	}
	/* This side may write what the other side read. */
	while (out->off < out->len) {
		ssize_t k = send(c->fd[side], out->buf + out->off, out->len - out->off,
		    MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		out->off += (size_t)k;
	}
	if (out->off == out->len)
		out->off = out->len = 0;
	return 0;
}

void
relay_ready(struct drill_relay *r, const struct pollfd *pfds, int n)
{
	for (int k = 0; k < n && k < r->npolled; k++) {
		int who = r->polled[k], i, side;
		struct relay_conn *c;

		if (who < 0) {
			if (pfds[k].revents & POLLIN)
				accept_one(r);
			continue;
		}
		i = who / 2;
		side = who % 2;
		if ((c = r->c[i]) == NULL || pfds[k].revents == 0)
			continue;
		if (side == 1 && c->connecting) {
			int err = 0;
			socklen_t el = sizeof err;

			if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
				conn_close(r, i);       /* the target broker is down */
				continue;
			}
			c->connecting = 0;
			continue;
		}
		if (pump(c, side, pfds[k].revents, &r->bytes) != 0)
			conn_close(r, i);
	}
	/* Whatever was read this turn goes out now where the socket takes it. */
	for (int i = 0; i < RELAY_CONNS; i++) {
		struct relay_conn *c = r->c[i];

		if (!c || c->connecting)
			continue;
		if (pump(c, 0, 0, &r->bytes) != 0 || pump(c, 1, 0, &r->bytes) != 0)
			conn_close(r, i);
	}
	r->npolled = 0;
}
