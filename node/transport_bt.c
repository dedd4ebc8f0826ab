/*
 * The Bluetooth transport (docs/bluetooth.md): pairwise links over BlueZ, the Linux
 * kernel's Bluetooth stack, through libbluetooth and the kernel's management socket.
 *
 *   links       L2CAP LE credit-based channels (SOCK_SEQPACKET, PSM 0x0081 by
 *               default) where the adapter has LE; L2CAP over BR/EDR (PSM 0x1081)
 *               where it has only BR/EDR, and a dual-mode adapter listens there too
 *               for such peers. Frames are length-prefixed (bt_frame.h).
 *   discovery   LE advertising and scanning through the management socket
 *               (HCI_CHANNEL_CONTROL): we advertise a rotating token derived from
 *               the network key (bt_token.h) and dial advertisers whose token checks.
 *               BR/EDR-only adapters reach only the addresses in `peers`.
 *   policy      bt_policy.h: a cap on links, the lower address dials, rotation,
 *               idle and redundant links dropped.
 *
 * The management socket's half (settings, advertising, discovery) is node/bt_mgmt.c;
 * both share struct bt through bt_link.h.
 *
 * The transport has many sockets (management, listener, one per link) and the
 * daemon polls one fd per transport, so they all sit in an epoll set whose fd is
 * the one we hand out.
 *
 * Where the kernel has no Bluetooth (EAFNOSUPPORT), the adapter is missing or
 * powered off, the link says so in one log line, shows "waiting" with the reason
 * in status, and tries again every BT_RETRY_MS; the node's other links go on.
 */
#define _GNU_SOURCE             /* accept4() */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>
#include <bluetooth/l2cap.h>

#include <sodium.h>

#include "bt_link.h"
#include "config.h"
#include "log.h"
#include "node.h"

static const char *const state_names[] = { "waiting", "up" };

/* With APAGON_BT_TRACE set, one line per frame, stamped with the boot clock (the
 * one /proc/uptime shows): where a transfer's time goes (tests/bluetooth/init.sh). */
static void
trace(const struct bt *b, const char *what, size_t len)
{
	struct timespec ts;

	if (!b->trace)
		return;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	log_info("%s: trace %ld.%03ld %s %zu", b->t->name, (long)ts.tv_sec,
	    ts.tv_nsec / 1000000, what, len);
}

/* ---------------- waiting and retrying ---------------- */

/* Say why we wait, once per reason: a daemon left running on a machine without
 * Bluetooth must not fill its log. */
static void
wait_for_retry(struct bt *b, const char *why)
{
	snprintf(b->last_error, sizeof b->last_error, "%s", why);
	b->state = BT_WAITING;
	b->up_since = 0;
	b->retry_ms = b->now_ms + BT_RETRY_MS;
	if (strcmp(b->logged, why) != 0) {
		log_warnx("%s: %s; other links keep running, trying again every %d s", b->t->name,
		    why, BT_RETRY_MS / 1000);
		snprintf(b->logged, sizeof b->logged, "%s", why);
	}
}

/* ---------------- links ---------------- */

static void
epoll_set(struct bt *b, int fd, void *tag, uint32_t events, int op)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = tag;
	epoll_ctl(b->epfd, op, fd, &ev);
}

static void
peer_unlink(struct bt *b, struct transport_peer *p)
{
	for (struct transport_peer **pp = &b->peers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			b->npeers--;
			return;
		}
	}
}

/* End a link: tell the daemon, tell the policy; freed later (conns_reap). */
static void
conn_down(struct bt_conn *c, const char *why)
{
	struct bt *b = c->b;
	char as[18];

	if (c->dead)
		return;
	c->dead = 1;
	bt_addr_str(as, &c->a);
	if (bt_rx_pending(&c->rx) > 0) {
		/* Half a frame: dropped whole; the session asks again for what it lacks. */
		b->n.partial_dropped++;
	}
	if (c->redundant) {
		log_debug("%s: our redundant dial to %s closed (%s)", b->t->name, as, why);
		if (c->fd >= 0) {
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
		}
		return;
	}
	if (c->up) {
		b->n.disconnects++;
		log_info("%s: link with %s closed: %s", b->t->name, as, why);
		peer_unlink(b, &c->peer);
		if (b->t->ev.peer_down)
			b->t->ev.peer_down(b->t->ev.ctx, &c->peer);
	}
	bt_policy_down(&b->pol, &c->a, !c->up && c->dialed_by_us, b->now_ms);
	if (!c->up && c->dialed_by_us) {
		const struct bt_peer *p = bt_policy_peer(&b->pol, &c->a);
		uint64_t in = p && p->retry_ms > b->now_ms ? p->retry_ms - b->now_ms : 0;
		unsigned long long in_s = (unsigned long long)((in + 999) / 1000);

		/* The first failure in a row is worth a line; the retries are not. */
		b->n.dial_failures++;
		if (p && p->fails == 1)
			log_info("%s: dial %s failed: %s; trying again in %llu s, then less "
			    "often (up to %d min); other links keep running", b->t->name, as, why,
			    in_s, BT_RETRY_MAX_MS / 60000);
		else
			log_debug("%s: dial %s failed again (%d in a row): %s; next in %llu s",
			    b->t->name, as, p ? p->fails : 0, why, in_s);
	}
	b->readvertise = 1;
	if (c->fd >= 0) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

static void
conns_reap(struct bt *b)
{
	for (struct bt_conn **cp = &b->conns; *cp;) {
		struct bt_conn *c = *cp;

		if (!c->dead) {
			cp = &c->next;
			continue;
		}
		*cp = c->next;
		bt_rx_free(&c->rx);
		free(c->tx);
		free(c);
	}
}

static struct bt_conn *
conn_find(struct bt *b, const struct bt_addr *a)
{
	for (struct bt_conn *c = b->conns; c; c = c->next)
		if (!c->dead && !c->redundant && memcmp(c->a.b, a->b, 6) == 0)
			return c;
	return NULL;
}

static void
conn_up(struct bt_conn *c)
{
	struct bt *b = c->b;
	struct l2cap_options lo;
	socklen_t sl = sizeof lo;
	uint16_t mtu = 0;
	char as[18];

	c->up = 1;
	/* The peer's receive MTU bounds one SDU we send. */
	sl = sizeof mtu;
	if (c->le && getsockopt(c->fd, SOL_BLUETOOTH, BT_SNDMTU, &mtu, &sl) == 0 && mtu > 0) {
		c->omtu = mtu;
	} else {
		sl = sizeof lo;
		memset(&lo, 0, sizeof lo);
		c->omtu = getsockopt(c->fd, SOL_L2CAP, L2CAP_OPTIONS, &lo, &sl) == 0 && lo.omtu ?
		    lo.omtu : 672;
	}
	bt_policy_up(&b->pol, &c->a, c->dialed_by_us, b->now_ms);
	if (!c->dialed_by_us)
		b->readvertise = 1;
	bt_addr_str(as, &c->a);
	c->peer.t = b->t;
	memcpy(c->peer.addr, c->a.b, 6);
	c->peer.addr[6] = c->a.type;
	c->peer.addr_len = 7;
	snprintf(c->peer.label, sizeof c->peer.label, "%s/%s", b->t->section, as);
	c->peer.initiator = c->dialed_by_us;
	c->peer.up_at = (int64_t)time(NULL);
	c->peer.last_ms = b->now_ms;
	c->peer.next = b->peers;
	b->peers = &c->peer;
	b->npeers++;
	log_info("%s: link with %s up (%s, %s, MTU %zu)", b->t->name, as,
	    c->dialed_by_us ? "dialed" : "accepted", c->le ? "LE" : "BR/EDR", c->omtu);
	trace(b, "up", c->omtu);
	sl = sizeof c->sndbuf;
	if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &c->sndbuf, &sl) < 0)
		c->sndbuf = 0;          /* then every wait is on EPOLLOUT */
	c->want_out = c->tx_len > c->tx_off;
	epoll_set(b, c->fd, c, EPOLLIN | (c->want_out ? EPOLLOUT : 0), EPOLL_CTL_MOD);
	if (b->t->ev.peer_up)
		b->t->ev.peer_up(b->t->ev.ctx, &c->peer);
}

static struct bt_conn *
conn_new(struct bt *b, int fd, const struct bt_addr *a, int dialed)
{
	struct bt_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->kind = K_CONN;
	c->b = b;
	c->fd = fd;
	c->a = *a;
	c->dialed_by_us = dialed;
	c->le = a->type != BDADDR_BREDR;
	c->next = b->conns;
	b->conns = c;
	return c;
}

/* An L2CAP socket bound to our adapter, non-blocking, with our receive MTU; le: an
 * LE socket, else BR/EDR. */
static int
l2cap_socket(struct bt *b, int psm, int le)
{
	struct sockaddr_l2 sa;
	uint16_t mtu = BT_IMTU;
	int fd;

	fd = socket(AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, BTPROTO_L2CAP);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof sa);
	sa.l2_family = AF_BLUETOOTH;
	sa.l2_psm = htobs((uint16_t)psm);
	memcpy(&sa.l2_bdaddr, b->self.b, 6);
	sa.l2_bdaddr_type = le ? BDADDR_LE_PUBLIC : BDADDR_BREDR;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	/* After bind: the kernel takes BT_RCVMTU only once the socket knows it is LE. */
	if (le) {
		setsockopt(fd, SOL_BLUETOOTH, BT_RCVMTU, &mtu, sizeof mtu);
	} else {
		struct l2cap_options lo;
		socklen_t sl = sizeof lo;

		if (getsockopt(fd, SOL_L2CAP, L2CAP_OPTIONS, &lo, &sl) == 0) {
			lo.imtu = BT_IMTU;
			setsockopt(fd, SOL_L2CAP, L2CAP_OPTIONS, &lo, sizeof lo);
		}
	}
	return fd;
}

static void
dial(struct bt *b, const struct bt_peer *p)
{
	struct sockaddr_l2 sa;
	struct bt_conn *c;
	struct bt_addr a = p->a;
	const char *why;
	int fd, bredr = (b->settings & MGMT_SETTING_BREDR) != 0;
	enum bt_via via = bt_policy_dial_via(p, b->le, bredr, &why);
	char as[18], how[40];

	/* A configured peer that did not answer over LE may have no LE: a dual-mode
	 * adapter tries BR/EDR next (bt_policy_dial_via). */
	if (via == BT_VIA_BREDR)
		a.type = BDADDR_BREDR;
	else if (a.type == BDADDR_BREDR)
		a.type = BDADDR_LE_PUBLIC;
	b->n.dials++;
	bt_addr_str(as, &a);
	snprintf(how, sizeof how, via == BT_VIA_BREDR ? "BR/EDR L2CAP (PSM 0x%04x)" :
	    "LE (PSM 0x%04x)", via == BT_VIA_BREDR ? BT_PSM_BREDR : b->psm);
	if (b->le && bredr && p->configured && (via == BT_VIA_BREDR || p->via_failed))
		log_info("%s: dialing %s over %s: %s", b->t->name, as, how, why);
	else
		log_debug("%s: dialing %s over %s: %s", b->t->name, as, how, why);
	bt_policy_dialing(&b->pol, &a, b->now_ms);
	if ((fd = l2cap_socket(b, 0, a.type != BDADDR_BREDR)) < 0) {
		b->n.dial_failures++;
		bt_policy_down(&b->pol, &a, 1, b->now_ms);
		return;
	}
	if ((c = conn_new(b, fd, &a, 1)) == NULL) {
		close(fd);
		bt_policy_down(&b->pol, &a, 1, b->now_ms);
		return;
	}
	c->dial_deadline_ms = b->now_ms + BT_DIAL_MS;
	memset(&sa, 0, sizeof sa);
	sa.l2_family = AF_BLUETOOTH;
	sa.l2_psm = htobs((uint16_t)(a.type != BDADDR_BREDR ? b->psm : BT_PSM_BREDR));
	memcpy(&sa.l2_bdaddr, a.b, 6);
	sa.l2_bdaddr_type = a.type;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		conn_down(c, strerror(errno));
		return;
	}
	epoll_set(b, fd, c, EPOLLOUT, EPOLL_CTL_ADD);
	c->want_out = 1;
	/* The kernel connects over LE only once discovery has stopped; discovery starts
	 * again when no LE dial is pending (bt_ready). */
	if (c->le && b->discovering)
		bt_stop_discovery(b);
}

int
bt_le_dial_pending(const struct bt *b)
{
	for (const struct bt_conn *c = b->conns; c; c = c->next)
		if (!c->dead && !c->up && c->le)
			return 1;
	return 0;
}

static void
on_accept(struct bt *b, int lfd)
{
	for (int i = 0; i < 8; i++) {
		struct sockaddr_l2 sa;
		socklen_t sl = sizeof sa;
		struct bt_addr a;
		struct bt_conn *c, *old;
		int fd;

		memset(&sa, 0, sizeof sa);
		fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_debug("%s: accept: %s", b->t->name, strerror(errno));
			return;
		}
		memcpy(a.b, &sa.l2_bdaddr, 6);
		a.type = sa.l2_bdaddr_type;
		switch (bt_policy_accept(&b->pol, &a, b->now_ms)) {
		case BT_REFUSE_FULL:
			b->n.refused_full++;
			close(fd);
			continue;
		case BT_REFUSE_DUP:
			b->n.refused_dup++;
			close(fd);
			continue;
		case BT_ACCEPT_REPLACE:
			b->n.dropped_redundant++;
			if ((old = conn_find(b, &a)) != NULL && old->up) {
				conn_down(old, "redundant: the peer's own dial is kept");
			} else if (old) {
				/* Still dialing: left to finish and closed then, not torn down
				 * in the middle of the kernel's connection setup. */
				old->redundant = 1;
			}
			break;
		case BT_ACCEPT:
			break;
		}
		if ((c = conn_new(b, fd, &a, 0)) == NULL) {
			close(fd);
			continue;
		}
		b->n.accepted++;
		epoll_set(b, fd, c, EPOLLIN, EPOLL_CTL_ADD);
		conn_up(c);
	}
}

static void
on_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct bt_conn *c = ctx;
	struct bt *b = c->b;

	if (c->dead)
		return;
	c->peer.rx_frames++;
	c->peer.rx_bytes += len;
	b->n.rx_frames++;
	trace(b, "rx", len);
	if (b->t->ev.frame)
		b->t->ev.frame(b->t->ev.ctx, &c->peer, frame, len);
}

/* Register (on) or drop (off) our interest in the socket becoming writable. */
static void
out_wanted(struct bt_conn *c, int on)
{
	if (c->want_out == on)
		return;
	epoll_set(c->b, c->fd, c, EPOLLIN | (on ? EPOLLOUT : 0), EPOLL_CTL_MOD);
	c->want_out = on;
}

/* The free space of the socket's send buffer, or -1 if the kernel does not say. */
static long
sndbuf_free(const struct bt_conn *c)
{
	int v;

	return ioctl(c->fd, TIOCOUTQ, &v) == 0 ? v : -1;
}

static void
flush_tx(struct bt_conn *c)
{
	struct bt *b = c->b;
	int moved = 0;

	while (!c->dead && c->tx_off < c->tx_len) {
		size_t n = c->tx_len - c->tx_off;
		ssize_t w;

		if (n > c->omtu)
			n = c->omtu;
		w = send(c->fd, c->tx + c->tx_off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			conn_down(c, strerror(errno));
			return;
		}
		c->tx_off += (size_t)w;
		b->n.tx_bytes += w;
		moved = 1;
	}
	if (c->dead)
		return;
	c->tx_retry_ms = 0;
	if (c->tx_off == c->tx_len) {
		c->tx_off = c->tx_len = 0;
		c->tx_wait_since_ms = 0;
		out_wanted(c, 0);
	} else if (bt_tx_wait_kind(sndbuf_free(c), c->sndbuf) == BT_WAIT_CREDITS) {
		/* Not EPOLLOUT: see bt_tx_wait_kind(). A wait begins at the first refusal
		 * after anything went; its tries space out as it lasts (bt_tx_retry_ms()). */
		out_wanted(c, 0);
		if (moved || !c->tx_wait_since_ms) {
			c->tx_wait_since_ms = b->now_ms;
			b->n.tx_credit_waits++;
		}
		c->tx_retry_ms = b->now_ms + bt_tx_retry_ms(b->now_ms - c->tx_wait_since_ms);
	} else {
		c->tx_wait_since_ms = 0;
		out_wanted(c, 1);
	}
}

static void
on_conn(struct bt_conn *c, uint32_t events)
{
	struct bt *b = c->b;
	uint8_t buf[BT_IMTU];

	if (!c->up) {
		int err = 0;
		socklen_t sl = sizeof err;

		/* The dial finished, one way or the other. */
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (c->redundant) {
			conn_down(c, err ? strerror(err) : "the peer's own dial is kept");
			return;
		}
		if (err == ECONNREFUSED) {
			char why[160];

			/* The controller answered, the L2CAP connection was refused. */
			snprintf(why, sizeof why, "refused (%s): its adapter is in reach, but "
			    "nothing listens on PSM 0x%04x there (is apagond running?)",
			    strerror(err), c->le ? b->psm : BT_PSM_BREDR);
			conn_down(c, why);
			return;
		}
		if (err) {
			conn_down(c, strerror(err));
			return;
		}
		c->want_out = 0;
		conn_up(c);
		flush_tx(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int i = 0; i < 64 && !c->dead; i++) {
			ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
			int rc;

			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				conn_down(c, strerror(errno));
				return;
			}
			if (r == 0) {
				conn_down(c, "the peer closed it");
				return;
			}
			b->n.rx_bytes += r;
			c->peer.last_ms = b->now_ms;
			bt_policy_rx(&b->pol, &c->a, b->now_ms);
			if ((rc = bt_rx_feed(&c->rx, buf, (size_t)r, on_frame, c)) != BT_FRAME_OK) {
				char why[96];

				b->n.rej_framing++;
				snprintf(why, sizeof why, "refused a garbled stream: %s",
				    bt_frame_strerror(rc));
				conn_down(c, why);
				return;
			}
		}
	}
	if (!c->dead && (events & EPOLLOUT))
		flush_tx(c);
}

/* ---------------- up and down ---------------- */

void
bt_go_down(struct bt *b, const char *why)
{
	for (struct bt_conn *c = b->conns; c; c = c->next)
		conn_down(c, why);
	if (b->lfd >= 0) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->lfd, NULL);
		close(b->lfd);
		b->lfd = -1;
	}
	if (b->lfd_bredr >= 0) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->lfd_bredr, NULL);
		close(b->lfd_bredr);
		b->lfd_bredr = -1;
	}
	if (b->mgmt >= 0) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->mgmt, NULL);
		close(b->mgmt);
		b->mgmt = -1;
	}
	b->adv_ok = b->discovering = 0;
	bt_adapter_register(b, 0);
	wait_for_retry(b, why);
}

static void
try_up(struct bt *b)
{
	struct hci_dev_info di;
	struct sockaddr_hci sh;
	char why[160], as[18];
	int fd, rc;

	b->n.attempts++;
	/* Is there Bluetooth in this kernel at all? */
	if ((fd = socket(AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_CLOEXEC, BTPROTO_L2CAP)) < 0) {
		if (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)
			snprintf(why, sizeof why, "this kernel has no Bluetooth support (%s)",
			    strerror(errno));
		else
			snprintf(why, sizeof why, "cannot open a Bluetooth socket: %s",
			    strerror(errno));
		wait_for_retry(b, why);
		return;
	}
	close(fd);
	if ((b->dev_id = hci_devid(b->adapter)) < 0) {
		snprintf(why, sizeof why, "adapter %s not found", b->adapter);
		wait_for_retry(b, why);
		return;
	}
	if (hci_devinfo(b->dev_id, &di) < 0) {
		snprintf(why, sizeof why, "adapter %s: %s", b->adapter, strerror(errno));
		wait_for_retry(b, why);
		return;
	}
	if (!hci_test_bit(HCI_UP, &di.flags)) {
		snprintf(why, sizeof why, "adapter %s is powered off", b->adapter);
		wait_for_retry(b, why);
		return;
	}
	memcpy(b->self.b, &di.bdaddr, 6);
	b->self.type = BDADDR_LE_PUBLIC;

	b->mgmt = socket(AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, BTPROTO_HCI);
	memset(&sh, 0, sizeof sh);
	sh.hci_family = AF_BLUETOOTH;
	sh.hci_dev = HCI_DEV_NONE;
	sh.hci_channel = HCI_CHANNEL_CONTROL;
	if (b->mgmt < 0 || bind(b->mgmt, (struct sockaddr *)&sh, sizeof sh) < 0) {
		snprintf(why, sizeof why, "adapter %s: cannot open the management socket: %s",
		    b->adapter, strerror(errno));
		bt_go_down(b, why);
		return;
	}
	if ((rc = bt_read_settings(b, &b->settings)) != 0) {
		snprintf(why, sizeof why, "adapter %s: cannot read its settings: %s", b->adapter,
		    strerror(-rc));
		bt_go_down(b, why);
		return;
	}
	if (!(b->settings & MGMT_SETTING_POWERED)) {
		snprintf(why, sizeof why, "adapter %s is powered off", b->adapter);
		bt_go_down(b, why);
		return;
	}
	b->le = (b->settings & MGMT_SETTING_LE) != 0;
	if (!b->le && !(b->settings & MGMT_SETTING_BREDR)) {
		snprintf(why, sizeof why, "adapter %s has neither LE nor BR/EDR enabled", b->adapter);
		bt_go_down(b, why);
		return;
	}
	b->self.type = b->le ? BDADDR_LE_PUBLIC : BDADDR_BREDR;
	if ((b->lfd = l2cap_socket(b, b->le ? b->psm : BT_PSM_BREDR, b->le)) < 0 ||
	    listen(b->lfd, 4) < 0) {
		snprintf(why, sizeof why, "adapter %s: cannot listen on PSM 0x%04x: %s", b->adapter,
		    b->le ? b->psm : BT_PSM_BREDR, strerror(b->lfd < 0 ? -b->lfd : errno));
		if (b->lfd >= 0)
			close(b->lfd);
		b->lfd = -1;
		bt_go_down(b, why);
		return;
	}
	epoll_set(b, b->mgmt, &b->mgmt_kind, EPOLLIN, EPOLL_CTL_ADD);
	epoll_set(b, b->lfd, &b->listen_kind, EPOLLIN, EPOLL_CTL_ADD);
	/* A dual-mode adapter also takes BR/EDR links, from peers whose adapters have
	 * no LE (they dial their configured peers over BR/EDR). Without it, LE alone. */
	if (b->le && (b->settings & MGMT_SETTING_BREDR)) {
		if ((b->lfd_bredr = l2cap_socket(b, BT_PSM_BREDR, 0)) >= 0 &&
		    listen(b->lfd_bredr, 4) == 0) {
			epoll_set(b, b->lfd_bredr, &b->listen_bredr_kind, EPOLLIN, EPOLL_CTL_ADD);
		} else {
			log_warnx("%s: adapter %s: cannot listen on BR/EDR PSM 0x%04x: %s; "
			    "peers without LE cannot reach us", b->t->name, b->adapter,
			    BT_PSM_BREDR, strerror(b->lfd_bredr < 0 ? -b->lfd_bredr : errno));
			if (b->lfd_bredr >= 0)
				close(b->lfd_bredr);
			b->lfd_bredr = -1;
		}
	}

	bt_policy_init(&b->pol, &(struct bt_policy_params){ .max_links = b->max_links,
	    .rotate_ms = b->rotate_ms }, &b->self);
	for (int i = 0; i < b->nstatics; i++) {
		struct bt_addr a = b->statics[i];

		a.type = b->le ? BDADDR_LE_PUBLIC : BDADDR_BREDR;
		bt_policy_seen(&b->pol, &a, 1, b->now_ms);
	}
	b->state = BT_UP;
	bt_adapter_register(b, 1);
	b->up_since = (int64_t)time(NULL);
	b->last_error[0] = '\0';
	b->logged[0] = '\0';
	if (b->le) {
		b->adv_ok = 1;
		bt_advertise(b, 1);
		bt_start_discovery(b);
	}
	bt_addr_str(as, &b->self);
	log_info("%s: adapter %s (%s) up: %s, PSM 0x%04x%s%s", b->t->name, b->adapter, as,
	    b->le ? "LE credit-based channels" : "BR/EDR L2CAP",
	    b->le ? b->psm : BT_PSM_BREDR,
	    b->le ? ", advertising a rotating token" : ", configured peers only",
	    b->lfd_bredr >= 0 ? "; BR/EDR L2CAP on PSM 0x1081 for peers without LE" : "");
}

/* ---------------- the ops ---------------- */

static void bt_close(struct transport *t);

/* `peers = AA:BB:CC:DD:EE:FF, ...`: addresses dialed without discovery. */
static int
parse_statics(struct bt *b, const char *list)
{
	char buf[CONF_VAL_MAX + 1], *save = NULL;

	snprintf(buf, sizeof buf, "%s", list);
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (b->nstatics == (int)(sizeof b->statics / sizeof b->statics[0]))
			return -E2BIG;
		if (bt_addr_parse(&b->statics[b->nstatics], tok) != 0)
			return -EINVAL;
		b->nstatics++;
	}
	return 0;
}

static int
bt_open(struct transport *t, const struct conf_section *s)
{
	struct bt *b;
	const char *v;
	int rc;

	if (!t->network_key)
		return -ENOKEY;
	if ((b = calloc(1, sizeof *b)) == NULL)
		return -ENOMEM;
	t->ctx = b;
	b->t = t;
	b->mgmt = b->lfd = b->lfd_bredr = b->dev_id = b->epfd = -1;
	b->mgmt_kind = K_MGMT;
	b->listen_kind = K_LISTEN;
	b->listen_bredr_kind = K_LISTEN_BREDR;
	v = conf_get(s, "adapter");
	if (v && strlen(v) >= sizeof b->adapter) {
		log_warnx("%s (%s line %d): adapter: a name like hci0 is expected", t->name,
		    CONF_FILE, conf_line(s));
		bt_close(t);
		return -EINVAL;
	}
	snprintf(b->adapter, sizeof b->adapter, "%s", v ? v : "hci0");
	b->psm = (int)conf_get_int(s, "psm", BT_PSM_LE);
	b->max_links = (int)conf_get_int(s, "max-links", 4);
	b->rotate_ms = (uint64_t)conf_get_int(s, "rotate-after", 300) * 1000;
	if ((v = conf_get(s, "peers")) != NULL && (rc = parse_statics(b, v)) != 0) {
		log_warnx("%s (%s line %d): peers: expected addresses like AA:BB:CC:DD:EE:FF, "
		    "at most 8", t->name, CONF_FILE, conf_line(s));
		bt_close(t);
		return rc;
	}
	if ((b->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		rc = -errno;
		bt_close(t);
		return rc;
	}
	b->state = BT_WAITING;
	b->retry_ms = 0;                /* try on the first ready() */
	b->trace = getenv("APAGON_BT_TRACE") != NULL;
	return 0;
}

static int
bt_pollfd(const struct transport *t, short *events)
{
	const struct bt *b = t->ctx;

	if (b->state != BT_UP)
		return -1;
	*events = POLLIN;
	return b->epfd;
}

static int
bt_ready(struct transport *t, short revents, uint64_t now_ms)
{
	struct bt *b = t->ctx;
	struct epoll_event evs[BT_EVENTS];
	const struct bt_peer *p;
	const char *why;
	int n;

	(void)revents;
	b->now_ms = now_ms;
	if (b->state == BT_WAITING) {
		if (now_ms >= b->retry_ms)
			try_up(b);
		if (b->state != BT_UP)
			return 0;
	}
	for (int round = 0; round < 4 && b->state == BT_UP; round++) {
		if ((n = epoll_wait(b->epfd, evs, BT_EVENTS, 0)) <= 0)
			break;
		for (int i = 0; i < n && b->state == BT_UP; i++) {
			enum bt_kind *k = evs[i].data.ptr;

			if (*k == K_MGMT)
				bt_on_mgmt(b);
			else if (*k == K_LISTEN)
				on_accept(b, b->lfd);
			else if (*k == K_LISTEN_BREDR)
				on_accept(b, b->lfd_bredr);
			else if (!((struct bt_conn *)k)->dead)
				on_conn((struct bt_conn *)k, evs[i].events);
		}
		if (n < BT_EVENTS)
			break;
	}
	if (b->state == BT_UP) {
		for (struct bt_conn *c = b->conns; c; c = c->next)
			if (!c->dead && c->up && c->tx_retry_ms && now_ms >= c->tx_retry_ms)
				flush_tx(c);
		for (struct bt_conn *c = b->conns; c; c = c->next)
			if (!c->dead && !c->up && now_ms >= c->dial_deadline_ms)
				conn_down(c, "no answer");
		while ((p = bt_policy_pick_drop(&b->pol, now_ms, &why)) != NULL) {
			struct bt_conn *c = conn_find(b, &p->a);

			if (!c) {
				bt_policy_down(&b->pol, &p->a, 0, now_ms);
				continue;
			}
			if (strcmp(why, "idle") == 0) {
				b->n.dropped_idle++;
				conn_down(c, "idle");
			} else {
				b->n.dropped_rotation++;
				conn_down(c, "rotation: another member waits for a turn");
			}
		}
		while ((p = bt_policy_next_dial(&b->pol, now_ms)) != NULL)
			dial(b, p);
		if (b->le && bt_token_epoch(node_now()) != b->epoch)
			bt_advertise(b, 1);
		else if (b->le && b->readvertise)
			bt_advertise(b, 0);
		b->readvertise = 0;
		if (b->le && !b->discovering && now_ms >= b->scan_ms && !bt_le_dial_pending(b))
			bt_start_discovery(b);
	}
	conns_reap(b);
	return 0;
}

static int64_t
bt_timeout(const struct transport *t, uint64_t now_ms)
{
	const struct bt *b = t->ctx;
	int64_t to, e;

	if (b->state == BT_WAITING)
		return b->retry_ms > now_ms ? (int64_t)(b->retry_ms - now_ms) : 0;
	to = bt_policy_timeout(&b->pol, now_ms);
	for (const struct bt_conn *c = b->conns; c; c = c->next) {
		if (!c->dead && c->up && c->tx_retry_ms) {
			e = c->tx_retry_ms > now_ms ? (int64_t)(c->tx_retry_ms - now_ms) : 0;
			if (to < 0 || e < to)
				to = e;
		}
		if (!c->dead && !c->up) {
			e = c->dial_deadline_ms > now_ms ? (int64_t)(c->dial_deadline_ms - now_ms) : 0;
			if (to < 0 || e < to)
				to = e;
		}
	}
	if (b->le) {
		/* The next epoch's token, and the next discovery run. */
		int64_t wall = node_now();

		e = (int64_t)((bt_token_epoch(wall) + 1) * BT_TOKEN_EPOCH_S - (uint64_t)wall) * 1000;
		if (to < 0 || e < to)
			to = e;
		if (!b->discovering && !bt_le_dial_pending(b)) {
			e = b->scan_ms > now_ms ? (int64_t)(b->scan_ms - now_ms) : 0;
			if (to < 0 || e < to)
				to = e;
		}
	}
	return to;
}

static int
bt_send(struct transport *t, const struct transport_peer *p, const uint8_t *buf, size_t len)
{
	struct bt *b = t->ctx;
	struct bt_conn *c = NULL;
	uint8_t *nb;

	if (b->state != BT_UP)
		return -ENOTCONN;
	if (len == 0 || len > BT_FRAME_MAX)
		return -EMSGSIZE;
	for (struct bt_conn *q = b->conns; q; q = q->next)
		if (&q->peer == p && !q->dead && q->up)
			c = q;
	if (!c)
		return -ENOTCONN;
	if (len > bt_tx_room(c->tx_len - c->tx_off, BT_TX_MAX)) {
		b->n.tx_full++;
		return -ENOBUFS;
	}
	if (c->tx_off > 0) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	if ((nb = realloc(c->tx, c->tx_len + BT_FRAME_HDR + len)) == NULL)
		return -ENOMEM;
	c->tx = nb;
	bt_frame_header(c->tx + c->tx_len, len);
	memcpy(c->tx + c->tx_len + BT_FRAME_HDR, buf, len);
	c->tx_len += BT_FRAME_HDR + len;
	c->peer.tx_frames++;
	c->peer.tx_bytes += len;
	b->n.tx_frames++;
	trace(b, "tx", len);
	flush_tx(c);
	return 0;
}

static size_t
bt_room(const struct transport *t, const struct transport_peer *p)
{
	const struct bt *b = t->ctx;

	for (const struct bt_conn *c = b && b->state == BT_UP ? b->conns : NULL; c; c = c->next)
		if (&c->peer == p && !c->dead && c->up)
			return bt_tx_room(c->tx_len - c->tx_off, BT_TX_MAX);
	return SIZE_MAX;        /* down: send() says so, as before */
}

static void
bt_close(struct transport *t)
{
	struct bt *b = t->ctx;

	if (!b)
		return;
	if (b->state == BT_UP && b->mgmt >= 0 && b->le) {
		uint8_t inst = BT_ADV_INSTANCE;

		bt_mgmt_send(b, MGMT_OP_REMOVE_ADVERTISING, &inst, 1);
	}
	for (struct bt_conn *c = b->conns; c; c = c->next)
		conn_down(c, "closing");
	conns_reap(b);
	bt_adapter_register(b, 0);
	if (b->lfd >= 0)
		close(b->lfd);
	if (b->lfd_bredr >= 0)
		close(b->lfd_bredr);
	if (b->mgmt >= 0)
		close(b->mgmt);
	if (b->epfd >= 0)
		close(b->epfd);
	sodium_memzero(b->salt, sizeof b->salt);
	free(b);
	t->ctx = NULL;
}

static void
bt_info(const struct transport *t, struct transport_info *ti)
{
	const struct bt *b = t->ctx;
	char as[18];

	memset(ti, 0, sizeof *ti);
	ti->state = state_names[b->state];
	if (b->state == BT_UP) {
		bt_addr_str(as, &b->self);
		snprintf(ti->endpoint, sizeof ti->endpoint, "%s %s (%s, PSM 0x%04x)", b->adapter,
		    as, b->le ? "LE" : "BR/EDR", b->le ? b->psm : BT_PSM_BREDR);
		snprintf(ti->detail, sizeof ti->detail, "%d of %d links; %s", b->npeers,
		    b->pol.p.max_links, b->le ? (b->adv_ok ? "advertising, scanning" :
		    "scanning; advertising refused") : "configured peers only");
	} else {
		snprintf(ti->endpoint, sizeof ti->endpoint, "%s", b->adapter);
		snprintf(ti->detail, sizeof ti->detail, "%s", b->last_error);
	}
	ti->up_since = b->up_since;
	ti->retry_in_ms = b->state == BT_WAITING && b->retry_ms > b->now_ms ?
	    (int64_t)(b->retry_ms - b->now_ms) : -1;
	ti->peers = b->npeers;
}

static struct transport_peer *
bt_peers(const struct transport *t)
{
	return ((const struct bt *)t->ctx)->peers;
}

static void
bt_stats(const struct transport *t, void (*fn)(void *, const char *, int64_t), void *ctx)
{
	const struct bt *b = t->ctx;

	fn(ctx, "rx_frames", b->n.rx_frames);
	fn(ctx, "rx_bytes", b->n.rx_bytes);
	fn(ctx, "tx_frames", b->n.tx_frames);
	fn(ctx, "tx_bytes", b->n.tx_bytes);
	fn(ctx, "adverts_seen", b->n.adv_seen);
	fn(ctx, "adverts_ours", b->n.adv_ours);
	fn(ctx, "adverts_foreign", b->n.adv_foreign);
	fn(ctx, "adverts_own_adapters", b->n.adv_self);
	fn(ctx, "rejected.advert_malformed", b->n.adv_bad);
	fn(ctx, "rejected.mgmt_malformed", b->n.mgmt_bad);
	fn(ctx, "rejected.framing", b->n.rej_framing);
	fn(ctx, "rejected.links_full", b->n.refused_full);
	fn(ctx, "rejected.duplicate_link", b->n.refused_dup);
	fn(ctx, "dials", b->n.dials);
	fn(ctx, "dial_failures", b->n.dial_failures);
	fn(ctx, "accepted", b->n.accepted);
	fn(ctx, "dropped.idle", b->n.dropped_idle);
	fn(ctx, "dropped.rotation", b->n.dropped_rotation);
	fn(ctx, "dropped.redundant", b->n.dropped_redundant);
	fn(ctx, "partial_frames_dropped", b->n.partial_dropped);
	fn(ctx, "tx_queue_full", b->n.tx_full);
	fn(ctx, "tx_credit_waits", b->n.tx_credit_waits);
	fn(ctx, "disconnects", b->n.disconnects);
	fn(ctx, "adapter_lost", b->n.adapter_lost);
	fn(ctx, "token_rotations", b->n.token_rotations);
	fn(ctx, "bring_up_attempts", b->n.attempts);
}

const struct transport_ops transport_bt_ops = {
	.name = "bluetooth",
	.open = bt_open,
	.pollfd = bt_pollfd,
	.ready = bt_ready,
	.timeout = bt_timeout,
	.send = bt_send,
	.room = bt_room,
	.close = bt_close,
	.info = bt_info,
	.peers = bt_peers,
	.stats = bt_stats,
};
