/*
 * The Bluetooth transport's insides (docs/bluetooth.md), shared by its two halves:
 * node/transport_bt.c, the links (L2CAP sockets, bring-up, the transport ops), and
 * node/bt_mgmt.c, the kernel's management socket (settings, advertising the token,
 * discovery). Nothing else includes this.
 */
#ifndef APAGON_BT_LINK_H
#define APAGON_BT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "bt_frame.h"
#include "bt_policy.h"
#include "bt_token.h"
#include "transport.h"

#define BT_RETRY_MS      (30 * 1000)
#define BT_RETRY_MAX_MS  (2 * 60 * 1000)  /* the policy's longest backoff */
#define BT_PSM_LE        0x0081         /* LE dynamic range 0x0080..0x00FF */
#define BT_PSM_BREDR     0x1081         /* BR/EDR dynamic: odd, bit 8 clear */
/* Our receive MTU: an SDU carries up to this much of the framed stream. The kernel
 * segments SDUs into PDUs of the ACL MTU, so bigger SDUs only save the 2-byte SDU
 * length each. Bigger ones failed too: with 32768 or 65535 on both ends, the test
 * VM's 6.1 kernel answered every send of a whole SDU with EAGAIN, blocking or not. */
#define BT_IMTU          8192
/* A dial that has not connected by then fails. Longer than the kernel's own LE
 * connection timeout (20 s), so that the kernel ends its attempt first: closing a
 * socket in the middle of the kernel's attempt and dialing again at once left the
 * 6.1 kernel's connection attempt stuck in the test VM. */
#define BT_DIAL_MS       (30 * 1000)
#define BT_SCAN_PAUSE_MS 1000           /* between two discovery runs */
#define BT_MGMT_TIMEOUT_MS 2000
#define BT_EVENTS        16

/* The management protocol (BlueZ doc/mgmt-api.txt): little-endian header
 * opcode (2) | index (2) | length (2), then the parameters. */
#define MGMT_HDR                 6
#define MGMT_OP_READ_INFO        0x0004
#define MGMT_OP_START_DISCOVERY  0x0023
#define MGMT_OP_STOP_DISCOVERY   0x0024
#define MGMT_OP_ADD_ADVERTISING  0x003E
#define MGMT_OP_REMOVE_ADVERTISING 0x003F
#define MGMT_EV_CMD_COMPLETE     0x0001
#define MGMT_EV_CMD_STATUS       0x0002
#define MGMT_EV_INDEX_REMOVED    0x0005
#define MGMT_EV_NEW_SETTINGS     0x0006
#define MGMT_EV_DEVICE_FOUND     0x0012
#define MGMT_EV_DISCOVERING      0x0013
#define MGMT_SETTING_POWERED     0x00000001
#define MGMT_SETTING_BREDR       0x00000080
#define MGMT_SETTING_LE          0x00000200
#define MGMT_ADV_FLAG_CONNECTABLE 0x00000001
#define MGMT_DISCOVER_LE         0x06   /* LE public and random */
#define BT_ADV_INSTANCE          1

enum bt_state { BT_WAITING, BT_UP };
enum bt_kind { K_MGMT, K_LISTEN, K_LISTEN_BREDR, K_CONN };

struct bt;

struct bt_conn {
	enum bt_kind kind;              /* first: epoll's data.ptr points here */
	struct bt *b;
	struct transport_peer peer;     /* reported while up */
	struct bt_addr a;
	int fd;
	int up, dialed_by_us, dead;
	/* A dial of ours made redundant by the peer's own dial, which was accepted:
	 * closed once the kernel has finished it, and the policy no longer tracks it. */
	int redundant;
	int le;                         /* an LE channel (else BR/EDR) */
	uint64_t dial_deadline_ms;
	size_t omtu;
	struct bt_rx rx;
	uint8_t *tx;
	size_t tx_len, tx_off;
	int want_out;                   /* EPOLLOUT registered */
	/* The queue waits for the peer's credits: sends are tried again then (0: not
	 * waiting; bt_tx_wait_kind() in bt_frame.h says why not EPOLLOUT). */
	uint64_t tx_retry_ms;
	uint64_t tx_wait_since_ms;      /* the first refusal of the current wait */
	int sndbuf;                     /* the socket's send buffer (SO_SNDBUF) */
	struct bt_conn *next;
};

struct bt {
	struct transport *t;
	char adapter[32];
	int psm, max_links;
	struct bt_addr statics[8];
	int nstatics;
	uint64_t rotate_ms;             /* rotate-after, in ms */

	enum bt_state state;
	uint64_t now_ms, retry_ms;
	char last_error[160], logged[160];
	int64_t up_since;

	int epfd;
	enum bt_kind mgmt_kind, listen_kind, listen_bredr_kind;
	/* lfd: our main listener (LE where the adapter has LE, else BR/EDR); lfd_bredr:
	 * a dual-mode adapter's BR/EDR listener, for peers whose adapters have no LE. */
	int mgmt, lfd, lfd_bredr, dev_id, le;
	struct bt_addr self;
	uint32_t settings;

	uint64_t epoch;
	uint8_t salt[BT_TOKEN_SALT];
	int adv_ok, discovering;
	int readvertise;                /* set the advertisement again (bt_advertise()) */
	uint64_t scan_ms;               /* when to start discovery again */

	int trace;                      /* APAGON_BT_TRACE: a log line per frame */

	struct bt_policy pol;
	struct bt_conn *conns;
	struct transport_peer *peers;   /* the up links, through peer.next */
	int npeers;

	struct {
		int64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
		int64_t adv_seen, adv_ours, adv_foreign, adv_bad, mgmt_bad, adv_self;
		int64_t dials, dial_failures, accepted, refused_full, refused_dup;
		int64_t dropped_idle, dropped_rotation, dropped_redundant;
		int64_t rej_framing, partial_dropped, tx_full, disconnects, tx_credit_waits;
		int64_t adapter_lost, token_rotations, attempts;
	} n;
};

/* node/bt_mgmt.c: the management socket. */
int bt_mgmt_send(struct bt *, uint16_t op, const uint8_t *param, size_t len);
/* Set our advertisement; rotate: a new epoch or a start (a fresh salt). */
void bt_advertise(struct bt *, int rotate);
/* The node's adapters that are up (on: 1 add, 0 remove); their tokens are ours. */
void bt_adapter_register(struct bt *, int on);
void bt_start_discovery(struct bt *);
/* End the discovery run now: the kernel makes an LE connection only once discovery
 * has stopped, so a dial would otherwise wait for the rest of the run (about 10 s). */
void bt_stop_discovery(struct bt *);
/* Read and handle what the management socket has. */
void bt_on_mgmt(struct bt *);
/* Ask for the controller's settings and wait for the answer (bring-up only). */
int bt_read_settings(struct bt *, uint32_t *settings);

/* node/transport_bt.c: close everything and wait to try again. */
void bt_go_down(struct bt *, const char *why);
/* An LE dial not finished yet: discovery waits for it. */
int bt_le_dial_pending(const struct bt *);

#endif
