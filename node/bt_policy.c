/* The Bluetooth connection manager's policy (bt_policy.h). */
#include "bt_policy.h"

#include <stdio.h>
#include <string.h>

#define DEF_MAX_LINKS   4
#define DEF_ROTATE_MS   (5 * 60 * 1000)
#define DEF_IDLE_MS     (60 * 1000)
/* The kernel disconnects an idle ACL 2 s after its last channel closed, 4 s when
 * the peer made it (HCI_DISCONN_TIMEOUT, doubled for incoming); with the emulated
 * CPU's delays, 5 s covers it. */
#define DEF_LINGER_MS   5000
/* Discovery runs last about 10 s and report each advertiser once: a peer missing
 * from two runs is gone. Dialing a peer that left only ties up the controller (an LE
 * controller creates one connection at a time and may stop advertising meanwhile). */
#define DEF_FORGET_MS   (25 * 1000)
#define DEF_RETRY_MIN   2000
#define DEF_RETRY_MAX   (2 * 60 * 1000)
/* BlueZ's BDADDR_BREDR: an address type naming the BR/EDR transport. */
#define ADDR_TYPE_BREDR 0
/* Bluetooth's piconet: one central, at most seven active peripherals. */
#define PICONET_MAX     7

void
bt_policy_init(struct bt_policy *pol, const struct bt_policy_params *p,
    const struct bt_addr *self)
{
	memset(pol, 0, sizeof *pol);
	if (p)
		pol->p = *p;
	if (pol->p.max_links <= 0)
		pol->p.max_links = DEF_MAX_LINKS;
	if (pol->p.max_links > PICONET_MAX)
		pol->p.max_links = PICONET_MAX;
	if (!pol->p.rotate_ms)
		pol->p.rotate_ms = DEF_ROTATE_MS;
	if (!pol->p.idle_ms)
		pol->p.idle_ms = DEF_IDLE_MS;
	if (!pol->p.linger_ms)
		pol->p.linger_ms = DEF_LINGER_MS;
	if (!pol->p.forget_ms)
		pol->p.forget_ms = DEF_FORGET_MS;
	if (!pol->p.retry_min_ms)
		pol->p.retry_min_ms = DEF_RETRY_MIN;
	if (!pol->p.retry_max_ms)
		pol->p.retry_max_ms = DEF_RETRY_MAX;
	if (self)
		pol->self = *self;
}

int
bt_addr_cmp(const struct bt_addr *a, const struct bt_addr *b)
{
	for (int i = 5; i >= 0; i--)
		if (a->b[i] != b->b[i])
			return a->b[i] < b->b[i] ? -1 : 1;
	return 0;
}

void
bt_addr_str(char out[18], const struct bt_addr *a)
{
	snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", a->b[5], a->b[4], a->b[3], a->b[2],
	    a->b[1], a->b[0]);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
bt_addr_parse(struct bt_addr *a, const char *s)
{
	uint8_t b[6];

	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hi < 0 ? -1 : hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || s[3 * i + 2] != (i == 5 ? '\0' : ':'))
			return -1;
		b[5 - i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(a->b, b, 6);
	return 0;
}

static struct bt_peer *
find(struct bt_policy *pol, const struct bt_addr *a)
{
	for (int i = 0; i < pol->n; i++)
		if (memcmp(pol->peer[i].a.b, a->b, 6) == 0)
			return &pol->peer[i];
	return NULL;
}

const struct bt_peer *
bt_policy_peer(const struct bt_policy *pol, const struct bt_addr *a)
{
	return find((struct bt_policy *)pol, a);
}

/* The entry for a, made if new; when the table is full the idle, unconfigured peer
 * seen longest ago makes room. NULL if every entry is busy. */
static struct bt_peer *
find_or_add(struct bt_policy *pol, const struct bt_addr *a)
{
	struct bt_peer *p = find(pol, a), *victim = NULL;

	if (p)
		return p;
	if (pol->n < BT_POLICY_PEERS) {
		p = &pol->peer[pol->n++];
	} else {
		for (int i = 0; i < pol->n; i++) {
			struct bt_peer *q = &pol->peer[i];

			if (q->state == BT_PEER_IDLE && !q->configured &&
			    (!victim || q->seen_ms < victim->seen_ms))
				victim = q;
		}
		if (!victim)
			return NULL;
		p = victim;
	}
	memset(p, 0, sizeof *p);
	p->a = *a;
	p->backoff_ms = pol->p.retry_min_ms;
	return p;
}

void
bt_policy_seen(struct bt_policy *pol, const struct bt_addr *a, int configured, uint64_t now)
{
	struct bt_peer *p;

	if (bt_addr_cmp(a, &pol->self) == 0)
		return;
	if ((p = find_or_add(pol, a)) == NULL)
		return;
	p->a.type = a->type;
	p->seen_ms = now;
	if (configured)
		p->configured = 1;
}

int
bt_policy_links(const struct bt_policy *pol)
{
	int n = 0;

	for (int i = 0; i < pol->n; i++)
		n += pol->peer[i].state != BT_PEER_IDLE;
	return n;
}

/* Ours to dial: configured, or discovered and we hold the lower address. */
static int
ours_to_dial(const struct bt_policy *pol, const struct bt_peer *p)
{
	return p->configured || bt_addr_cmp(&pol->self, &p->a) < 0;
}

/* A peer that wants a link and could get one if a slot were free. */
static int
waiting(const struct bt_policy *pol, const struct bt_peer *p, uint64_t now)
{
	return p->state == BT_PEER_IDLE && (p->configured || (p->seen_ms &&
	    now - p->seen_ms <= pol->p.forget_ms)) && now >= p->retry_ms;
}

/* Links that ended less than linger_ms ago: their connection may still be up. */
static int
lingering(const struct bt_policy *pol, uint64_t now)
{
	int n = 0;

	for (int i = 0; i < pol->n; i++) {
		const struct bt_peer *p = &pol->peer[i];

		n += p->state == BT_PEER_IDLE && p->last_link_ms &&
		    now < p->last_link_ms + pol->p.linger_ms;
	}
	return n;
}

const struct bt_peer *
bt_policy_next_dial(const struct bt_policy *pol, uint64_t now)
{
	const struct bt_peer *best = NULL;

	if (bt_policy_links(pol) + lingering(pol, now) >= pol->p.max_links)
		return NULL;
	for (int i = 0; i < pol->n; i++) {
		const struct bt_peer *p = &pol->peer[i];

		if (!waiting(pol, p, now) || !ours_to_dial(pol, p))
			continue;
		if (!best || p->last_link_ms < best->last_link_ms)
			best = p;
	}
	return best;
}

enum bt_via
bt_policy_dial_via(const struct bt_peer *p, int le, int bredr, const char **why)
{
	static const char *const failed[] = { "the last dial over LE failed",
	    "the last dial over BR/EDR failed" };
	static const char *const worked[] = { "the last link was over LE",
	    "the last link was over BR/EDR" };

	if (!le) {
		*why = "the adapter has no LE";
		return BT_VIA_BREDR;
	}
	if (!bredr) {
		*why = "the adapter has no BR/EDR";
		return BT_VIA_LE;
	}
	if (!p->configured) {
		*why = "it advertised over LE";
		return BT_VIA_LE;
	}
	if (p->via_failed) {
		*why = failed[p->via];
		return p->via == BT_VIA_LE ? BT_VIA_BREDR : BT_VIA_LE;
	}
	if (!p->last_link_ms) {
		*why = "first dial";
		return BT_VIA_LE;
	}
	*why = worked[p->via];
	return p->via;
}

void
bt_policy_dialing(struct bt_policy *pol, const struct bt_addr *a, uint64_t now)
{
	struct bt_peer *p = find_or_add(pol, a);

	if (!p)
		return;
	p->state = BT_PEER_DIALING;
	p->dialed_by_us = 1;
	p->last_rx_ms = now;
	p->via = a->type == ADDR_TYPE_BREDR ? BT_VIA_BREDR : BT_VIA_LE;
	p->via_failed = 0;
}

void
bt_policy_up(struct bt_policy *pol, const struct bt_addr *a, int dialed_by_us, uint64_t now)
{
	struct bt_peer *p = find_or_add(pol, a);

	if (!p)
		return;
	p->state = BT_PEER_UP;
	p->dialed_by_us = dialed_by_us;
	p->via = a->type == ADDR_TYPE_BREDR ? BT_VIA_BREDR : BT_VIA_LE;
	p->via_failed = 0;
	p->up_ms = now;
	p->last_rx_ms = now;
	p->backoff_ms = pol->p.retry_min_ms;
	p->fails = 0;
}

void
bt_policy_rx(struct bt_policy *pol, const struct bt_addr *a, uint64_t now)
{
	struct bt_peer *p = find(pol, a);

	if (p)
		p->last_rx_ms = now;
}

void
bt_policy_down(struct bt_policy *pol, const struct bt_addr *a, int failed, uint64_t now)
{
	struct bt_peer *p = find(pol, a);

	if (!p)
		return;
	p->state = BT_PEER_IDLE;
	p->last_link_ms = now;
	/* Dial again only once it is heard again: it may have left. */
	p->seen_ms = 0;
	if (failed) {
		p->fails++;
		p->via_failed = 1;
		p->retry_ms = now + p->backoff_ms;
		p->backoff_ms = p->backoff_ms * 2 > pol->p.retry_max_ms ? pol->p.retry_max_ms :
		    p->backoff_ms * 2;
	} else {
		/* A link that ended normally: give others a turn before dialing again. */
		p->retry_ms = now + pol->p.retry_min_ms;
	}
}

enum bt_accept
bt_policy_accept(struct bt_policy *pol, const struct bt_addr *a, uint64_t now)
{
	struct bt_peer *p = find(pol, a);

	(void)now;
	if (p && p->state != BT_PEER_IDLE) {
		/* Both ends dialed: keep the link the lower address dialed. */
		if (p->dialed_by_us && bt_addr_cmp(a, &pol->self) < 0)
			return BT_ACCEPT_REPLACE;
		return BT_REFUSE_DUP;
	}
	if (bt_policy_links(pol) >= pol->p.max_links)
		return BT_REFUSE_FULL;
	if (!p && find_or_add(pol, a) == NULL)
		return BT_REFUSE_FULL;
	return BT_ACCEPT;
}

const struct bt_peer *
bt_policy_pick_drop(const struct bt_policy *pol, uint64_t now, const char **why)
{
	const struct bt_peer *oldest = NULL;
	int someone_waits = 0;

	for (int i = 0; i < pol->n; i++) {
		const struct bt_peer *p = &pol->peer[i];

		if (p->state == BT_PEER_UP && now - p->last_rx_ms >= pol->p.idle_ms) {
			*why = "idle";
			return p;
		}
		if (p->state == BT_PEER_UP && (!oldest || p->up_ms < oldest->up_ms))
			oldest = p;
		if (waiting(pol, p, now))
			someone_waits = 1;
	}
	if (oldest && someone_waits && bt_policy_links(pol) >= pol->p.max_links &&
	    now - oldest->up_ms >= pol->p.rotate_ms) {
		*why = "rotation";
		return oldest;
	}
	return NULL;
}

int64_t
bt_policy_timeout(const struct bt_policy *pol, uint64_t now)
{
	int64_t t = -1;

	for (int i = 0; i < pol->n; i++) {
		const struct bt_peer *p = &pol->peer[i];
		uint64_t at;

		if (p->state == BT_PEER_UP)
			at = p->last_rx_ms + pol->p.idle_ms;
		else if (p->state == BT_PEER_IDLE && p->last_link_ms &&
		    now < p->last_link_ms + pol->p.linger_ms)
			at = p->last_link_ms + pol->p.linger_ms;
		else if (p->state == BT_PEER_IDLE && p->retry_ms > now &&
		    (p->configured || p->seen_ms))
			at = p->retry_ms;
		else
			continue;
		if (at < now)
			at = now;
		if (t < 0 || (int64_t)(at - now) < t)
			t = (int64_t)(at - now);
	}
	/* Rotation is checked at least every few seconds while links are up. */
	if (bt_policy_links(pol) > 0 && (t < 0 || t > 5000))
		t = 5000;
	return t;
}
