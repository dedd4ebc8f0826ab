/*
 * apagon-drill's parts (docs/drills.md): drill_main.c parses the command line,
 * drill_run.c plays a scenario on real processes, drill_relay.c carries bridges so
 * they can be cut, drill_report.c turns what was measured into metrics.json,
 * report.md and report.html. The scenario parser is drill_scenario.c.
 */
#ifndef APAGON_DRILL_H
#define APAGON_DRILL_H

#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "drill_scenario.h"

#define DRILL_PATH_MAX 512
#define DRILL_OUT_MAX  256

/* What became of one planned message. */
enum drill_msg_state {
	DM_PLANNED,             /* its time has not come */
	DM_NOT_SENT,            /* the sender was down (why says so) */
	DM_REFUSED,             /* the sender's node refused the send (why) */
	DM_ACCEPTED,            /* the sender's node took it: it has an ID */
};

struct drill_msg {
	struct scn_msg plan;
	int state;
	char why[256];
	char id[2 * 32 + 1];            /* bundle ID, hex */
	char tag[32];                   /* "[drill 17]", in the text */
	int64_t sent_ms;                /* scenario clock when the send was accepted */
	int64_t recv_ms;                /* first message.received at the recipient, or -1 */
	int64_t receipt_ms;             /* first "delivered" state at the sender, or -1 */
	int recv_events;                /* message.received events at the recipient */
	int in_inbox;                   /* copies in the recipient's inbox at the end */
	int seen_late;                  /* in the inbox at the end without an event */
	int outbox_state;               /* 0 missing, 1 queued, 2 sent, 3 delivered, 4 expired */
	int after_revocation;           /* the sender's revocation was issued before */
	int revoked_cut;                /* an end was revoked before it was delivered */
	int expected;                   /* both ends alive at the end, not cut off */
	int lost;                       /* accepted and then gone (see drill_report.c) */
	int violation;                  /* refused member's bundle accepted by a node that knew */
};

enum drill_proc_state { DP_DOWN, DP_STARTING, DP_UP };

struct drill_node {
	char dir[DRILL_PATH_MAX];
	char log[DRILL_PATH_MAX];
	pid_t pid;
	int state;                      /* enum drill_proc_state */
	int64_t start_ms;               /* wall clock (ms) of the last start */
	int sub_fd, rpc_fd;
	char *in;                       /* the subscription's unread bytes */
	size_t inlen, incap;
	int killed;                     /* by the timeline: kill or site-dark */
	int crashes;                    /* exits the timeline did not cause */
	int starts;
	uint64_t tx_frames, tx_bytes, rx_frames, rx_bytes;      /* finished incarnations */
	uint64_t cur_tx_frames, cur_tx_bytes, cur_rx_frames, cur_rx_bytes;
	int64_t revoked_ms;             /* this member's revocation was issued, or -1 */
	int64_t knows_ms[SCN_NODES_MAX];/* when this node knew member i revoked, or -1 */
	int prekeys;                    /* members with a prekey in its roster */
	int alive_end;                  /* up when the drill collected the results */
	int64_t refused_revoked;        /* its store's counter rejected.revoked, at the end */
	int64_t accepted_total;         /* its store's counter accepted, at the end */
};

struct drill_broker {
	int port;
	pid_t pid;
	int up;
	char conf[DRILL_PATH_MAX], log[DRILL_PATH_MAX];
};

struct drill_relay;

struct drill_fault_log {
	int fault;                      /* index in scenario->fault */
	int64_t at_ms;                  /* when it was applied (scenario clock) */
	char what[160];                 /* what the drill did, or why it could not */
	int ok;
};

struct drill {
	const struct scenario *s;
	const char *scenario_path;
	char out[DRILL_OUT_MAX];        /* the output directory, absolute */
	char apagon[DRILL_PATH_MAX], apagond[DRILL_PATH_MAX], mosquitto[DRILL_PATH_MAX];
	int quiet, tty;

	struct drill_msg *msg;
	size_t nmsg;
	struct drill_node node[SCN_NODES_MAX];
	struct drill_broker broker[SCN_SITES_MAX];
	struct drill_relay *relay[SCN_BRIDGES_MAX];
	int dark[SCN_SITES_MAX];
	struct drill_fault_log flog[SCN_FAULTS_MAX];
	int nflog;

	int64_t wall0_ms;               /* wall clock at scenario time 0 */
	int64_t setup_ms, formation_ms, played_ms, settled_ms;
	int formed;                     /* every node knew every prekey before t=0 */
	int64_t end_ms;                 /* scenario clock when the run stopped */
	int unknown_received;           /* events for bundles the drill never sent */
	int interrupted;
	uint64_t relay_bytes;
};

/* drill_run.c: the whole run. 0 if the drill ran (whatever it measured), else -1. */
int drill_run(struct drill *);
int64_t drill_mono_ms(void);

/* drill_relay.c: a TCP relay from a loopback port to a broker, which a partition
 * cuts (open connections closed, new ones refused) and a heal restores. */
struct drill_relay *relay_open(int target_port, int *port);
void relay_close(struct drill_relay *);
void relay_cut(struct drill_relay *, int cut);
int relay_pollfds(struct drill_relay *, struct pollfd *, int max);
void relay_ready(struct drill_relay *, const struct pollfd *, int n);
uint64_t relay_bytes(const struct drill_relay *);

/* drill_sim.c: the in-process simulation on virtual time (docs/drills.md). */
struct sim_params {
	int nodes, cluster, senders, minutes, compare, quiet;
	size_t messages;
	double contact_every_s;         /* mean time between contacts a node starts */
	uint64_t contact_ms;            /* how long a contact lasts at most */
	uint64_t seed;
};
/* Run it; metrics.json in out. 0 or -1 (with a message on stderr). */
int drill_sim(const struct sim_params *, const char *out);

/* drill_report.c: metrics.json, report.md, report.html in d->out; the summary on
 * stdout. 0 or -1 (with a message on stderr). */
int drill_report(struct drill *);

#endif
