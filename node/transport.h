/*
 * Transports: how whole frames move between this node and its peers over one bearer
 * (an MQTT broker, later Bluetooth and LoRa). Each bearer is an ops table plus an
 * instance with a context pointer, as SQLite's VFS and curl's connection filters
 * (../shared/STYLE.md). The event loop (daemon.c) only calls through the table: it
 * never asks which kind of transport it holds.
 *
 * A transport finds its peers itself (MQTT: from announcements) and reports them
 * through the events the daemon installs before open():
 *   peer_up     a peer can now be sent frames; the daemon hangs its link (the sync
 *               session, node/link.h) on peer->link
 *   frame       one whole frame from a peer, already checked to come through this
 *               network's transport key; the bytes are valid during the call only
 *   peer_down   the peer is gone; the daemon drops peer->link. The peer is freed by
 *               the transport right after the call returns.
 * Events may fire inside ready() and close(), never elsewhere.
 *
 * Transports keep themselves alive: a lost broker is retried with backoff inside
 * ready(), so one broken link never takes the node down. Times are monotonic
 * milliseconds (daemon_now_ms()); functions return 0 or -errno.
 */
#ifndef APAGON_TRANSPORT_H
#define APAGON_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

struct conf_section;
struct transport;

#define TRANSPORT_ADDR_MAX 32
#define TRANSPORT_NAME_MAX 64

/* A peer reachable through one transport. Owned by the transport. */
struct transport_peer {
	struct transport *t;
	uint8_t addr[TRANSPORT_ADDR_MAX];       /* the transport's address (MQTT: token) */
	size_t addr_len;
	char label[TRANSPORT_NAME_MAX + 24];    /* "site1/3fa2c1d0", for logs and peers */
	int initiator;                          /* this end opens the session: a
	                                           tie-break both ends agree on */
	int64_t up_at;                          /* wall clock, Unix seconds */
	uint64_t last_ms;                       /* last heard from */
	uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
	void *link;                             /* the daemon's: session state */
	struct transport_peer *next;
};

struct transport_events {
	void *ctx;
	void (*peer_up)(void *ctx, struct transport_peer *);
	void (*peer_down)(void *ctx, struct transport_peer *);
	void (*frame)(void *ctx, struct transport_peer *, const uint8_t *buf, size_t len);
	/* Broadcast bearers (LoRa), which carry bundles rather than pairwise sessions:
	 * `bundle` runs one received bundle through the node's acceptance path and
	 * returns TRANSPORT_BUNDLE_* (or < 0: refused; -EAGAIN: not now, e.g. the
	 * sender's certificate has not arrived yet), with *prec its precedence.
	 * `each_bundle` calls fn for every live bundle the node holds, highest
	 * precedence first; flags: TRANSPORT_BUNDLE_OWN, _PENDING (own, no receipt yet). */
	int (*bundle)(void *ctx, struct transport *, const uint8_t *buf, size_t len, int *prec);
	void (*each_bundle)(void *ctx, struct transport *,
	    void (*fn)(void *fctx, const uint8_t *buf, size_t len, int prec, int flags),
	    void *fctx);
};

#define TRANSPORT_BUNDLE_HELD   0       /* already held: valid, nothing new */
#define TRANSPORT_BUNDLE_NEW    1       /* accepted and stored */
#define TRANSPORT_BUNDLE_MINE   2       /* accepted, addressed to this node */
#define TRANSPORT_BUNDLE_OWN     1      /* each_bundle flags */
#define TRANSPORT_BUNDLE_PENDING 2
#define TRANSPORT_BUNDLE_TRANSIT 4      /* another member's message or receipt:
                                           it may still be on its way */

/* What a transport says about itself in "status". */
struct transport_info {
	const char *state;              /* "connected", "connecting", "waiting", ... */
	char endpoint[300];             /* "127.0.0.1:1883 (tls)" */
	char detail[160];               /* last error, topic prefix, ... */
	int64_t up_since;               /* wall clock, 0 when down */
	int64_t retry_in_ms;            /* -1 unless waiting to retry */
	int peers;
};

struct transport_ops {
	const char *name;               /* the config section kind: "mqtt" */
	/* Read the section and start (connecting may go on in ready()). */
	int   (*open)(struct transport *, const struct conf_section *);
	/* The fd to poll and its events, or -1 when none right now. */
	int   (*pollfd)(const struct transport *, short *events);
	/* Run I/O and timers. revents is 0 when only the timeout passed. */
	int   (*ready)(struct transport *, short revents, uint64_t now_ms);
	/* Milliseconds until ready() must run even without I/O, or -1. */
	int64_t (*timeout)(const struct transport *, uint64_t now_ms);
	/* Queue one frame for a peer. -ENOTCONN while down, -EMSGSIZE when too big. */
	int   (*send)(struct transport *, const struct transport_peer *, const uint8_t *, size_t);
	/* Optional: the largest frame send() would take for this peer now (0: none until
	 * its queue drains). The sessions ask no more of a peer's session than this, so
	 * a full queue holds frames back instead of refusing them. NULL: no limit. */
	size_t (*room)(const struct transport *, const struct transport_peer *);
	/* Say goodbye where the bearer can, free everything; peer_down for each peer. */
	void  (*close)(struct transport *);
	void  (*info)(const struct transport *, struct transport_info *);
	/* The first of the current peers (a list through ->next). */
	struct transport_peer *(*peers)(const struct transport *);
	/* Each counter: received, rejected by reason, sent, reconnects. */
	void  (*stats)(const struct transport *, void (*fn)(void *, const char *, int64_t), void *);
};

/* The instance. The daemon fills everything above `ctx` before open(). */
struct transport {
	const struct transport_ops *ops;
	char name[TRANSPORT_NAME_MAX];          /* "mqtt site1" */
	char section[TRANSPORT_NAME_MAX];       /* "site1" */
	struct transport_events ev;
	const uint8_t *network_key;             /* APAGON_KEY bytes; the daemon's, secret */
	char error[200];                        /* open() may say here why it failed, in
	                                           words that name what to fix */
	void *ctx;                              /* the transport's own state */
};

static inline struct transport_peer *
transport_peers(const struct transport *t)
{
	return t->ops->peers(t);
}

/* The ops for a config section kind ("mqtt"), or NULL. */
const struct transport_ops *transport_find(const char *kind);

extern const struct transport_ops transport_mqtt_ops;
extern const struct transport_ops transport_bt_ops;      /* "bluetooth" */
extern const struct transport_ops transport_lora_ops;    /* "lora" */

/* Maximum frame a transport must carry: mesh/session.h's SESSION_MAX_FRAME. */
#define TRANSPORT_MAX_FRAME 65536

#endif
