/*
 * The Bluetooth transport's management socket (bt_link.h, docs/bluetooth.md): the
 * kernel's HCI_CHANNEL_CONTROL, through which we read the controller's settings,
 * advertise the rotating token (bt_token.h) and run LE discovery, and learn that
 * the adapter went away or was powered off.
 */
#include "bt_link.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <sodium.h>

#include "log.h"
#include "node.h"

int
bt_mgmt_send(struct bt *b, uint16_t op, const uint8_t *param, size_t len)
{
	uint8_t buf[MGMT_HDR + 64];

	if (len > sizeof buf - MGMT_HDR)
		return -EMSGSIZE;
	buf[0] = (uint8_t)op;
	buf[1] = (uint8_t)(op >> 8);
	buf[2] = (uint8_t)b->dev_id;
	buf[3] = (uint8_t)(b->dev_id >> 8);
	buf[4] = (uint8_t)len;
	buf[5] = (uint8_t)(len >> 8);
	if (len)
		memcpy(buf + MGMT_HDR, param, len);
	if (write(b->mgmt, buf, MGMT_HDR + len) < 0)
		return -errno;
	return 0;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Advertise the current epoch's token; rotate: a new epoch or a start, so a fresh
 * salt. Without rotate the same advertisement is set again: a controller stops
 * advertising when a central connects to it, and the kernel does not start again on
 * its own while that link lasts, so we ask after every accepted link and every
 * link lost, to stay reachable by the other peers in range.
 */
void
bt_advertise(struct bt *b, int rotate)
{
	uint8_t tok[BT_TOKEN_LEN], p[11 + BT_ADV_LEN];

	if (rotate) {
		b->epoch = bt_token_epoch(node_now());
		randombytes_buf(b->salt, sizeof b->salt);
	}
	bt_token_make(tok, b->t->network_key, b->epoch, b->salt);
	p[0] = BT_ADV_INSTANCE;
	p[1] = MGMT_ADV_FLAG_CONNECTABLE;
	p[2] = p[3] = p[4] = 0;
	p[5] = p[6] = 0;                /* duration: default */
	p[7] = p[8] = 0;                /* timeout: none */
	p[9] = BT_ADV_LEN;
	p[10] = 0;                      /* no scan response */
	bt_adv_build(p + 11, tok);
	if (bt_mgmt_send(b, MGMT_OP_ADD_ADVERTISING, p, sizeof p) == 0 && rotate) {
		char hex[2 * BT_TOKEN_LEN + 1];

		b->n.token_rotations++;
		/* The token is public (anyone in range reads it); the log line lets a test
		 * compare what we set with what a scanner sees. */
		sodium_bin2hex(hex, sizeof hex, tok, sizeof tok);
		log_info("%s: advertising token %s (epoch %llu)", b->t->name, hex,
		    (unsigned long long)b->epoch);
	}
	sodium_memzero(tok, sizeof tok);
}

/*
 * The adapters this process's Bluetooth links are up on. A node with two adapters
 * (two [bluetooth] sections) hears its own other adapter's token, and must not dial
 * itself: the session would refuse the link, but it would hold a slot on both
 * adapters. One process is one node, so a list per process is the node's.
 */
static struct bt *node_adapters[8];

void
bt_adapter_register(struct bt *b, int on)
{
	for (size_t i = 0; i < sizeof node_adapters / sizeof node_adapters[0]; i++) {
		if (on && node_adapters[i] == NULL) {
			node_adapters[i] = b;
			return;
		}
		if (!on && node_adapters[i] == b)
			node_adapters[i] = NULL;
	}
}

static int
is_own_adapter(const struct bt_addr *a)
{
	for (size_t i = 0; i < sizeof node_adapters / sizeof node_adapters[0]; i++)
		if (node_adapters[i] && memcmp(node_adapters[i]->self.b, a->b, 6) == 0)
			return 1;
	return 0;
}

void
bt_start_discovery(struct bt *b)
{
	uint8_t type = MGMT_DISCOVER_LE;

	b->scan_ms = b->now_ms + 10 * 1000;     /* if no Discovering event comes */
	bt_mgmt_send(b, MGMT_OP_START_DISCOVERY, &type, 1);
}

void
bt_stop_discovery(struct bt *b)
{
	uint8_t type = MGMT_DISCOVER_LE;

	bt_mgmt_send(b, MGMT_OP_STOP_DISCOVERY, &type, 1);
}

static void
on_device_found(struct bt *b, const uint8_t *p, size_t len)
{
	struct bt_addr a;
	uint8_t tok[BT_TOKEN_LEN];
	size_t eir_len;
	int rc, delta = 0;

	/* address (6) | type (1) | rssi (1) | flags (4) | eir_len (2) | eir */
	if (len < 14 || (eir_len = le16(p + 12)) > len - 14) {
		b->n.mgmt_bad++;
		return;
	}
	b->n.adv_seen++;
	memcpy(a.b, p, 6);
	a.type = p[6];
	if ((rc = bt_adv_find(p + 14, eir_len, tok)) < 0) {
		b->n.adv_bad++;
		return;
	}
	if (rc == 0 || !bt_token_match(tok, b->t->network_key, node_now(), &delta)) {
		b->n.adv_foreign++;
		return;
	}
	if (is_own_adapter(&a)) {
		b->n.adv_self++;        /* our own other adapter */
		return;
	}
	b->n.adv_ours++;
	{
		static const char *const which[] = { "previous", "current", "next" };
		char as[18], hex[2 * BT_TOKEN_LEN + 1];

		bt_addr_str(as, &a);
		sodium_bin2hex(hex, sizeof hex, tok, sizeof tok);
		log_debug("%s: a member advertises at %s (token %s, %s epoch)", b->t->name, as,
		    hex, which[delta + 1]);
	}
	bt_policy_seen(&b->pol, &a, 0, b->now_ms);
}

static void
on_mgmt_event(struct bt *b, const uint8_t *buf, size_t len)
{
	uint16_t ev, idx, plen;
	const uint8_t *p = buf + MGMT_HDR;

	if (len < MGMT_HDR || (plen = le16(buf + 4)) != len - MGMT_HDR) {
		b->n.mgmt_bad++;
		return;
	}
	ev = le16(buf);
	idx = le16(buf + 2);
	if (idx != (uint16_t)b->dev_id)
		return;
	switch (ev) {
	case MGMT_EV_DEVICE_FOUND:
		on_device_found(b, p, plen);
		break;
	case MGMT_EV_DISCOVERING:
		if (plen >= 2) {
			b->discovering = p[1];
			if (!p[1])
				b->scan_ms = b->now_ms + BT_SCAN_PAUSE_MS;
			else if (bt_le_dial_pending(b))
				bt_stop_discovery(b);   /* started just before a dial */
		}
		break;
	case MGMT_EV_CMD_COMPLETE:
	case MGMT_EV_CMD_STATUS:
		if (plen >= 3 && p[2] != 0) {
			uint16_t op = le16(p);

			log_debug("%s: management command 0x%04x: status 0x%02x", b->t->name, op, p[2]);
			if (op == MGMT_OP_START_DISCOVERY) {
				/* Busy (a connection is being made, say): try again soon. */
				b->scan_ms = b->now_ms + 2 * BT_SCAN_PAUSE_MS;
			} else if (op == MGMT_OP_ADD_ADVERTISING && b->adv_ok) {
				b->adv_ok = 0;
				log_warnx("%s: %s refused our advertising (status 0x%02x): "
				    "reachable only by peers that dial us", b->t->name, b->adapter, p[2]);
			}
		} else if (plen >= 3 && le16(p) == MGMT_OP_ADD_ADVERTISING) {
			b->adv_ok = 1;
		}
		break;
	case MGMT_EV_INDEX_REMOVED:
		b->n.adapter_lost++;
		bt_go_down(b, "the adapter went away");
		break;
	case MGMT_EV_NEW_SETTINGS:
		if (plen >= 4 && !(le32(p) & MGMT_SETTING_POWERED)) {
			b->n.adapter_lost++;
			bt_go_down(b, "the adapter was powered off");
		}
		break;
	default:
		break;
	}
}

void
bt_on_mgmt(struct bt *b)
{
	uint8_t buf[MGMT_HDR + 1024];

	for (int i = 0; i < 64 && b->state == BT_UP; i++) {
		ssize_t r = recv(b->mgmt, buf, sizeof buf, MSG_DONTWAIT);

		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				bt_go_down(b, "the management socket failed");
			return;
		}
		on_mgmt_event(b, buf, (size_t)r);
	}
}

/* Ask for the controller's settings and wait for the answer (bring-up only). */
int
bt_read_settings(struct bt *b, uint32_t *settings)
{
	uint8_t buf[MGMT_HDR + 512];
	uint64_t until = b->now_ms + BT_MGMT_TIMEOUT_MS;
	int rc;

	if ((rc = bt_mgmt_send(b, MGMT_OP_READ_INFO, NULL, 0)) != 0)
		return rc;
	for (int i = 0; i < 32; i++) {
		struct pollfd pfd = { b->mgmt, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, (int)(until > b->now_ms ? until - b->now_ms : 0) + 1) <= 0)
			return -ETIMEDOUT;
		if ((r = recv(b->mgmt, buf, sizeof buf, MSG_DONTWAIT)) < 0)
			continue;
		/* Read Controller Information: address (6) | version (1) | manufacturer (2) |
		 * supported settings (4) | current settings (4) | ... */
		if (r >= MGMT_HDR + 3 + 17 && le16(buf) == MGMT_EV_CMD_COMPLETE &&
		    le16(buf + 2) == (uint16_t)b->dev_id &&
		    le16(buf + MGMT_HDR) == MGMT_OP_READ_INFO) {
			if (buf[MGMT_HDR + 2] != 0)
				return -EIO;
			*settings = le32(buf + MGMT_HDR + 3 + 13);
			return 0;
		}
	}
	return -ETIMEDOUT;
}
