/*
 * The Bluetooth connection manager's policy (docs/bluetooth.md): which peers to
 * dial, which incoming connections to take, and which links to drop. Plain C with no
 * I/O and no clock (time comes in as now_ms), so tests/unit/test_bt.c drives it
 * directly; node/transport_bt.c does what it says.
 *
 * The rules:
 *   - a cap on concurrent links (dialing + up), below the piconet limit of seven
 *     active peripherals per central and well below what phones and small boards
 *     manage in practice;
 *   - of two discovered peers, the one with the lower address dials, so a pair
 *     never opens two links to each other; configured peers are dialed regardless,
 *     and when both ends dialed, the link dialed by the lower address is kept and
 *     the other is redundant and dropped;
 *   - peers are dialed least recently linked first; when the cap is reached and
 *     another peer is waiting, the link up longest (past rotate_ms) is closed, so
 *     everyone in reach gets a turn (store-and-forward needs contact, not
 *     permanence);
 *   - a link that ended holds its slot for linger_ms more: the kernel drops the
 *     connection under it only 2 s after its last channel closed (4 s if the peer
 *     made it), so dialing at once would ask the controller for one connection
 *     more than the cap allows;
 *   - a link silent for idle_ms is dropped (a session sends keepalives), which also
 *     bounds how long a stranger who never completes a handshake holds a slot;
 *   - a failed dial backs off, doubling, per peer, and a peer whose link ended or
 *     failed is dialed again only once it advertises again;
 *   - a dual-mode adapter dials a configured peer over LE first, and after a dial
 *     that failed over one transport, tries the other (the peer may have no LE);
 *     a transport that brought a link up is used again (bt_policy_dial_via).
 */
#ifndef APAGON_BT_POLICY_H
#define APAGON_BT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define BT_POLICY_PEERS 64              /* peers remembered */

struct bt_addr {
	uint8_t b[6];                   /* as on the wire: least significant byte first */
	uint8_t type;                   /* BDADDR_BREDR, BDADDR_LE_PUBLIC, _RANDOM */
};

struct bt_policy_params {
	int max_links;                  /* 1..7 */
	uint64_t rotate_ms;             /* a link older than this yields to a waiting peer */
	uint64_t linger_ms;             /* an ended link still holds its slot this long */
	uint64_t idle_ms;               /* a link silent this long is dropped */
	uint64_t forget_ms;             /* a peer unseen this long is no longer dialed */
	uint64_t retry_min_ms, retry_max_ms;
};

enum bt_peer_state { BT_PEER_IDLE, BT_PEER_DIALING, BT_PEER_UP };

/* The transport of a dial or link. */
enum bt_via { BT_VIA_LE = 0, BT_VIA_BREDR = 1 };

struct bt_peer {
	struct bt_addr a;
	enum bt_peer_state state;
	int configured;                 /* from the config's `peers`: always dialed */
	int dialed_by_us;               /* the current link's direction */
	uint64_t seen_ms;               /* last valid token heard; 0: never */
	uint64_t up_ms;                 /* when the current link came up */
	uint64_t last_rx_ms;            /* last bytes on the current link */
	uint64_t last_link_ms;          /* when a link with it last ended; 0: never */
	uint64_t retry_ms, backoff_ms;  /* dialing: not before retry_ms */
	enum bt_via via;                /* transport of the last dial or link */
	int via_failed;                 /* the last dial, over via, never came up */
	int fails;                      /* failed dials since the last link (0: none) */
};

struct bt_policy {
	struct bt_policy_params p;
	struct bt_addr self;
	struct bt_peer peer[BT_POLICY_PEERS];
	int n;
};

enum bt_accept {
	BT_ACCEPT = 0,                  /* take it */
	BT_ACCEPT_REPLACE = 1,          /* take it; close our own dial to the same peer */
	BT_REFUSE_FULL = -1,            /* at the cap */
	BT_REFUSE_DUP = -2,             /* a link with it exists and is the one to keep */
};

/* Defaults for the zero fields of p. */
void bt_policy_init(struct bt_policy *, const struct bt_policy_params *p,
    const struct bt_addr *self);

/* Compare two addresses as numbers (most significant byte first): <0, 0, >0. */
int bt_addr_cmp(const struct bt_addr *, const struct bt_addr *);
/* "AA:BB:CC:DD:EE:FF" into out (18 bytes). */
void bt_addr_str(char out[18], const struct bt_addr *);
/* Parse "AA:BB:CC:DD:EE:FF"; 0 or -1. type is left as given. */
int bt_addr_parse(struct bt_addr *, const char *s);

/* A peer advertised a valid token at now (configured: 1 for a `peers` entry). */
void bt_policy_seen(struct bt_policy *, const struct bt_addr *, int configured, uint64_t now);

/* The entry for this address, or NULL. */
const struct bt_peer *bt_policy_peer(const struct bt_policy *, const struct bt_addr *);

/* Links counted against the cap (dialing + up). */
int bt_policy_links(const struct bt_policy *);

/* The next peer to dial, or NULL: under the cap, seen recently (or configured), not
 * linked, past its backoff, ours to dial; least recently linked first. */
const struct bt_peer *bt_policy_next_dial(const struct bt_policy *, uint64_t now);

/* Which transport the next dial to p goes over, for an adapter with LE (le) and
 * BR/EDR (bredr); why: a few words saying why. An adapter with one transport uses
 * it; a discovered peer (it advertised over LE) is dialed over LE; a configured
 * peer on a dual-mode adapter over the transport of its last dial or link, or the
 * other one if that dial failed; LE if there was none. */
enum bt_via bt_policy_dial_via(const struct bt_peer *p, int le, int bredr, const char **why);

/* a's type says the transport: BDADDR_BREDR (0) for BR/EDR, else LE. */
void bt_policy_dialing(struct bt_policy *, const struct bt_addr *, uint64_t now);
/* A link is up (dialed_by_us: our dial completed; else we accepted it). */
void bt_policy_up(struct bt_policy *, const struct bt_addr *, int dialed_by_us, uint64_t now);
/* Bytes arrived on the link with this peer. */
void bt_policy_rx(struct bt_policy *, const struct bt_addr *, uint64_t now);
/* The link ended; failed: a dial that never came up (backs off: the peer's retry_ms
 * says when it is dialed next, fails how many dials in a row failed). */
void bt_policy_down(struct bt_policy *, const struct bt_addr *, int failed, uint64_t now);

/* Should an incoming connection from this address be taken? */
enum bt_accept bt_policy_accept(struct bt_policy *, const struct bt_addr *, uint64_t now);

/* A link to drop now (idle, or yielding its turn), or NULL. why: "idle", "rotation". */
const struct bt_peer *bt_policy_pick_drop(const struct bt_policy *, uint64_t now,
    const char **why);

/* Milliseconds until the policy may want something done (dial, drop), or -1. */
int64_t bt_policy_timeout(const struct bt_policy *, uint64_t now);

#endif
