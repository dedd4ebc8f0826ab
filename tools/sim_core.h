/*
 * apagon-drill sim's shared state (docs/drills.md, "Simulation"): the nodes (each the
 * production core: keys, certificate chain, in-memory SQLite store, acceptance path),
 * the planned messages and what became of them. drill_sim.c builds it and plays
 * pairwise contacts; sim_lora.c plays the LoRa channel on the same nodes and traffic.
 */
#ifndef APAGON_SIM_CORE_H
#define APAGON_SIM_CORE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "../crypto/crypto.h"
#include "../mesh/accept.h"
#include "../mesh/cert.h"
#include "drill.h"

#define SIM_T0          1790000000u     /* virtual Unix time at the start */

struct sim;

/* The deliver hook's context (--receipts): which node; the receipt it just wrote,
 * for the LoRa engine to flood once the frame that brought the message is done. */
struct sim_hook {
	struct sim *s;
	int i;
	uint8_t rcpt[1024];
	size_t rcpt_len;
};

struct sim_node {
	uint8_t pk[APAGON_SIGN_PK], sk[APAGON_SIGN_SK];
	uint8_t pre_pk[APAGON_DH_PK], pre_sk[APAGON_DH_SK];
	struct chain ch;
	struct store *st;
	struct accept_ctx ax;
	int cluster;
	uint8_t *held;                  /* flood mode: bitset of messages held */
	struct sim_hook hook;
};

struct sim_msg {
	uint8_t id[APAGON_HASH];
	int from, to, prec;             /* prec: enum scn_prec */
	uint64_t at_ms;
	int64_t got_ms, flood_got_ms;   /* virtual time at the recipient, or -1 */
	int64_t receipt_ms;             /* its receipt back at the sender, or -1 */
	int recv_count;                 /* received callbacks at the recipient */
	size_t len;
	uint8_t *raw;
};

struct sim_contact {
	uint64_t at_ms, dur_ms;         /* a meeting: from at_ms, for at most dur_ms */
	int a, b;
	int link;                       /* the contact it belongs to (its sessions stay
	                                   open between meetings), or -1: a one-off */
	uint8_t first, last;            /* the contact's first and last meeting */
};

/* The sessions of a contact that lasts over several meetings. */
struct sim_link {
	struct session *ss[2];
};

struct sim {
	struct sim_params p;
	struct sim_node *n;
	struct sim_msg *m;              /* sorted by ID once the traffic is made */
	size_t nm;
	struct sim_contact *c;
	size_t nc, capc;
	struct sim_link *links;         /* one per contact of a trace or of mobility */
	size_t nlinks;
	struct netkeys nk;
	uint8_t auth_pk[APAGON_SIGN_PK], auth_sk[APAGON_SIGN_SK];
	uint64_t rng;
	/* apagon */
	uint64_t frames, bytes, hs_bytes, sync_bytes, bundles_out, sessions, failed;
	uint64_t accepted, duplicates_in;
	uint64_t receipts_made, hook_errors;
	/* flood */
	uint64_t f_frames, f_bytes;
	int cur_node;                   /* whose session is calling back */
	int flood_pass;                 /* LoRa: the naive pass records flood_got_ms */
	uint64_t now;                   /* virtual ms (Unix epoch) */
};

uint64_t sim_rnd(struct sim *s);
double sim_rnd01(struct sim *s);
struct sim_msg *sim_find_msg(struct sim *s, const uint8_t id[APAGON_HASH]);
/* Every node's store (re)opened empty, holding the senders' CERT bundles. 0 or -1. */
int sim_stores_fresh(struct sim *s);
/* A bundle into node i's store through the acceptance path: 0, or the refusal. */
int sim_store_into(struct sim *s, int i, const uint8_t *buf, size_t len, int64_t now_s, int own);

struct mob_params;
/* --mobility's random-waypoint parameters. */
void sim_mob_params(const struct sim *s, struct mob_params *mp);

/* Messages delivered (got_ms set) that are not in their recipient's store. */
size_t sim_lost(struct sim *s);

/* sim_lora.c: play the traffic over the LoRa channel with managed flooding (frames,
 * bytes and got_ms in s), then with --compare naive flooding on fresh stores (f_frames,
 * f_bytes, flood_got_ms). Figures of the channel and the engines go into info; lost
 * is counted after the managed pass; the duty maxima are shares of an hour. 0 or -1. */
int sim_lora(struct sim *s, cJSON *info, size_t *lost, double *duty_max, double *f_duty_max,
    int64_t *w_managed, int64_t *w_flood);

#endif
