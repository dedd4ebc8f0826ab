/* What daemon.c (the loop) and rpc.c (the control methods) share. */
#ifndef APAGON_DAEMON_INTERNAL_H
#define APAGON_DAEMON_INTERNAL_H

#include "../mesh/ratelimit.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "node_internal.h"
#include "transport.h"

struct session_stats;

#define DAEMON_LINKS_MAX CONF_SECTIONS_MAX
#define LINK_RETRY_MIN_MS 1000
#define LINK_RETRY_MAX_MS (5 * 60 * 1000)

/* One configured link: a transport instance and its open/retry state. */
struct daemon_link {
	struct transport t;
	const struct conf_section *sec;         /* in d->conf */
	int open;
	uint64_t retry_ms, backoff_ms;
	char error[240];
	int pfd;                                /* index in this turn's pollfds, or -1 */
};

/* What we last told subscribers about each message, to notice changes. */
struct seen_msg {
	uint8_t id[APAGON_HASH];
	int dir, state, sent_count;
};

/* Messages known to have changed this turn; more than this means a full rescan. */
#define DAEMON_DIRTY_MAX 256
/* Receipts wait until no message has come to owe one for this long (at most five
 * times this), so that one receipt names many (docs/protocol.md, 10.3); while any
 * wait, the loop looks every 250 ms. */
#define DAEMON_RECEIPT_DELAY_S 2
#define DAEMON_RECEIPT_POLL_MS 250

struct daemon {
	struct node *n;
	char dir[NODE_PATH_MAX];
	char conf_path[NODE_PATH_MAX];
	struct conf *conf;
	struct control *ctl;
	struct daemon_link *links[DAEMON_LINKS_MAX];     /* heap: transports point in */
	int nlinks;
	int64_t started;
	uint64_t maintain_ms;
	int msgs_dirty;
	int resync_wanted;              /* something moved: reconcile soon */
	uint64_t resync_ms;             /* not before */
	int revoke_check;               /* a revocation may have come: recheck peers */
	struct seen_msg *seen;                  /* sorted by id */
	size_t nseen;
	struct dirty_msg {
		uint8_t id[APAGON_HASH];
		int unknown_if_absent;          /* no record: something else changed */
	} dirty[DAEMON_DIRTY_MAX];
	int ndirty;
	/* Per-sender rate limits shared by every session (zeroed: the defaults). */
	struct ratelimit senders;
	struct {
		int64_t frames_in, frames_unhandled, reloads, reload_failures;
		int64_t maintain_failures, sessions_revoked, commit_failures;
	} n_;
};

/* rpc.c: the control socket's methods. */
cJSON *rpc_call(void *ctx, struct control_client *client, const char *method,
    const cJSON *params, int *code, char *msg, size_t cap, cJSON **data);
/* A message as JSON (the CLI's --json shape); text decrypted in memory only. */
cJSON *rpc_msg_json(struct daemon *d, const struct msg_rec *r, int with_text);

/* daemon.c */
/* Open every configured link that is closed (after enrollment, for instance). */
void daemon_links_sync(struct daemon *d);
/* Note that messages may have changed: subscribers hear of it this turn (a rescan of
 * every record). */
void daemon_msgs_changed(struct daemon *d);
/* Cheaper: the record of bundle `id` may have changed, and nothing else. If there is
 * no such record and `unknown_if_absent`, fall back to daemon_msgs_changed() (a
 * receipt, say, changed records it names only inside its sealed part). */
void daemon_msg_changed(struct daemon *d, const uint8_t id[APAGON_HASH],
    int unknown_if_absent);

/* sessions.c: a sync session on every transport peer. */
void sessions_peer_up(struct daemon *d, struct transport_peer *p, uint64_t now);
void sessions_peer_down(struct daemon *d, struct transport_peer *p);
/* Feed a frame to the peer's session. What it answers waits for sessions_run(), which
 * the daemon calls only after committing the turn's store transaction. */
void sessions_frame(struct daemon *d, struct transport_peer *p, const uint8_t *buf,
    size_t len, uint64_t now);
/* Milliseconds until sessions_run() is due, or -1. */
int64_t sessions_timeout(struct daemon *d, uint64_t now);
/* Timers, restarts of closed sessions, and every frame the sessions have to send. */
void sessions_run(struct daemon *d, uint64_t now);
/* A bundle is newly stored here: offer it on every session but `except`'s (may be NULL). */
void sessions_notify_all(struct daemon *d, const uint8_t id[APAGON_HASH], int prec,
    const struct transport_peer *except);
/* The commit of this turn failed: what the sessions believe they hold is wrong.
 * Every session starts again from the store (a new handshake and reconciliation). */
void sessions_reset_all(struct daemon *d, uint64_t now);
/* Bundles were stored that may revoke a peer: open sessions with a member revoked
 * now are closed on the next sessions_run(); the handshake refuses them after that. */
void sessions_revocations_changed(struct daemon *d);
/* "none", "handshake", "open", "closed"; the authenticated peer key or NULL. */
const char *sessions_state(const struct transport_peer *p);
const uint8_t *sessions_peer_pk(const struct transport_peer *p);
const struct session_stats *sessions_stats(const struct transport_peer *p);

#endif
