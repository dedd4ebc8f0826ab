/*
 * apagon-drill's parts (docs/drills.md): drill_main.c parses the command line,
 * drill_run.c plays a scenario on real processes, drill_radio.c starts its LoRa
 * channels and modems (and checks for Bluetooth), drill_relay.c carries bridges so
 * they can be cut, drill_report.c turns what was measured into metrics.json,
 * report.md and report.html. The scenario parser is drill_scenario.c.
 */
#ifndef APAGON_DRILL_H
#define APAGON_DRILL_H

#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
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

#define DRILL_LINKS_MAX (SCN_SITES_MAX + 2)      /* brokers, a radio, Bluetooth */

/* One link of a node (a section of its apagon.conf): its status counters, summed over
 * the node's restarts (done) plus the incarnation running now (cur). */
struct drill_link {
	char kind[16];                  /* "mqtt", "lora", "bluetooth" */
	char name[SCN_NAME_MAX + 1];    /* the section's name: a site, a LoRa channel, "bt" */
	uint64_t done[4], cur[4];       /* tx_frames, tx_bytes, rx_frames, rx_bytes */
};

/* A node's simulated LoRa modem (apagon-modem-sim) and its own counters, as the node
 * reads them from the firmware (DUTY and STATS answers) and shows them in its status.
 * A modem that restarts starts its books afresh: each incarnation's last figures are
 * folded into done when its counters are seen to start over. */
enum { RM_AIRTIME, RM_DUTY_USED, RM_REFUSALS, RM_TX_FRAMES, RM_N };
struct drill_radio {
	pid_t pid;
	int up;
	int starts, folds;              /* folds: the restarts already folded */
	char pty[DRILL_PATH_MAX], log[DRILL_PATH_MAX];
	uint64_t done[RM_N], cur[RM_N];
	uint64_t budget_ms;             /* the band's budget per hour (modem's DUTY) */
	uint64_t used_max_ms;           /* the largest sliding-hour figure seen */
};

/* A LoRa channel: one apagon-channel. Its log gives frames per radio pair. */
struct drill_channel {
	pid_t pid;
	char sock[DRILL_PATH_MAX], conf[DRILL_PATH_MAX], log[DRILL_PATH_MAX];
};

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
	struct drill_link link[DRILL_LINKS_MAX];
	int nlinks;
	struct drill_radio radio;       /* when the scenario gives it one */
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
	char channel_bin[DRILL_PATH_MAX], modem_bin[DRILL_PATH_MAX];
	int quiet, tty;

	struct drill_msg *msg;
	size_t nmsg;
	struct drill_node node[SCN_NODES_MAX];
	struct drill_broker broker[SCN_SITES_MAX];
	struct drill_relay *relay[SCN_BRIDGES_MAX];
	struct drill_channel chan[SCN_LORA_MAX];
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
int64_t drill_clock_ms(const struct drill *);   /* the scenario clock */
/* A line of progress on stdout (not with --quiet). */
void drill_say(const struct drill *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 0 if this machine can play the scenario's Bluetooth links (or it has none); else -1
 * with one line on stderr saying why and what to do. Starts nothing. */
int drill_bluetooth_check(const struct drill *);

/* drill_procs.c: the processes a drill starts. */
struct cJSON;
/* Start argv in its own process group (killed with the drill), stdout and stderr to
 * log, or stdout to a pipe (*out) when out is set. */
pid_t drill_spawn(char *const argv[], const char *log, int *out);
/* Until ready(arg) says 1 (0), *pid exits (*pid = 0, -1) or ms pass (-1). */
int drill_await(pid_t *pid, int (*ready)(const void *), const void *arg, int ms);
/* The apagon CLI, run to the end: its exit status, or -1; stdout in *outp. */
int drill_cli(struct drill *, char **outp, const char *a0, ...);
int drill_free_port(void);
void drill_sleep_ms(int ms);
int drill_broker_start(struct drill *, int site);
void drill_broker_kill(struct drill_broker *);
int drill_broker_config(struct drill *, int site, const int *relay_port);
void drill_node_close_fds(struct drill_node *);
int drill_node_start(struct drill *, int node);
void drill_node_fold(struct drill_node *);
void drill_node_kill(struct drill *, int node, int sig);
/* One request to node i, one answer: its "result" (caller frees), or NULL and why. */
struct cJSON *drill_rpc(struct drill *, int node, const char *method, struct cJSON *params,
    char *err, size_t errcap);
int drill_subscribe(struct drill *, int node);

/* drill_faults.c: apply the timeline's fault fi, logged in d->flog. */
void drill_apply_fault(struct drill *, int fi);

/* drill_radio.c: LoRa channels and modems, Bluetooth adapters (docs/drills.md). */
int drill_lora_setup(struct drill *);
void drill_lora_teardown(struct drill *);
int drill_radio_start(struct drill *, int node);
void drill_radio_kill(struct drill *, int node, int sig);
void drill_radio_conf(const struct drill *, int node, FILE *);
void drill_radio_sample(struct drill_radio *, const uint64_t v[RM_N], uint64_t budget_ms);
int drill_radio_reaped(struct drill *, pid_t);
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
	/* Contact sources other than the random model, and the LoRa channel
	 * (docs/drills.md, "Simulation"): */
	const char *trace;              /* contact-trace file (tools/sim_trace.h) */
	int mobility;                   /* 0 none, 1 walking, 2 vehicles (random waypoint) */
	double area_m, range_m;         /* mobility / LoRa area side; contact range */
	int lora;                       /* --radio lora */
	int receipts;                   /* --receipts: the deliver hook on */
	int sf, cr, power_dbm;          /* LoRa modulation (cr 5..8: 4/5..4/8) */
	uint32_t bw_hz;
	int nodes_set, minutes_set;     /* given on the command line */
};
/* Run it; metrics.json in out. 0 or -1 (with a message on stderr). */
int drill_sim(const struct sim_params *, const char *out);

/* drill_report.c: metrics.json, report.md, report.html in d->out; the summary on
 * stdout. 0 or -1 (with a message on stderr). */
int drill_report(struct drill *);

#endif
