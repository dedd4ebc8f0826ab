/*
 * Drill scenarios (docs/drills.md): the parser of the human-written file that
 * apagon-drill plays. One line at a time, no I/O: the caller reads the file and
 * hands over its bytes; errors name the file and the line ("file:LINE: what. what to
 * do"), as config errors do everywhere in apagon.
 */
#ifndef APAGON_DRILL_SCENARIO_H
#define APAGON_DRILL_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#define SCN_FILE_MAX      (256u << 10)
#define SCN_LINE_MAX      1024
#define SCN_NAME_MAX      31            /* sites and nodes: [a-z0-9_-], 1..31 */
#define SCN_TITLE_MAX     64
#define SCN_UNIT_MAX      32
#define SCN_TEXT_MAX      120           /* leaves room for the drill's tag in 140+ */
#define SCN_SITES_MAX     16
#define SCN_NODES_MAX     64
#define SCN_BRIDGES_MAX   32
#define SCN_TRAFFIC_MAX   256
#define SCN_FAULTS_MAX    128
#define SCN_MESSAGES_MAX  20000         /* after expanding "every" lines and groups */
#define SCN_DURATION_MAX  (3600u * 1000)
#define SCN_SETTLE_MAX    (600u * 1000)
#define SCN_LORA_MAX      4             /* LoRa channels ([lora NAME]) */
#define SCN_POS_MAX       1000000       /* radio positions: |x|, |y| in metres */
#define SCN_PRESET_MAX    15
#define SCN_ADAPTER_MAX   15            /* "hci0" */

enum scn_prec { SCN_FLASH, SCN_IMMEDIATE, SCN_PRIORITY, SCN_ROUTINE, SCN_NPREC };

enum scn_who_kind { SCN_WHO_NODE, SCN_WHO_SITE, SCN_WHO_ALL };

enum scn_fault_kind {
	SCN_BROKER_DOWN, SCN_BROKER_UP,         /* a: site */
	SCN_SITE_DARK, SCN_SITE_BACK,           /* a: site (its broker and its nodes) */
	SCN_PARTITION, SCN_HEAL,                /* a, b: sites joined by a bridge */
	SCN_KILL, SCN_RESTART,                  /* a: node (kill -9, then start again) */
	SCN_REVOKE,                             /* a: node revoked, b: node it is imported at */
	SCN_RADIO_DOWN, SCN_RADIO_UP,           /* a: node whose LoRa modem is killed/started */
	SCN_NFAULT
};

struct scn_site {
	char name[SCN_NAME_MAX + 1];
	char title[SCN_TITLE_MAX + 1];
	int broker;                     /* 1: the site has a broker */
	int line;
};

/* A LoRa channel: one simulated radio channel (apagon-channel) that the radios of
 * the nodes naming it share, all on the same region, preset and frequency. */
struct scn_lora {
	char name[SCN_NAME_MAX + 1];
	char region[8];                         /* "EU868" */
	char preset[SCN_PRESET_MAX + 1];        /* a preset of docs/lora.md */
	uint32_t freq_hz;                       /* 0: the region's default channel */
	int tx_power;                           /* dBm */
	int extra_loss_db;                      /* added to every path, 0..200 */
	int loss_percent;                       /* frames lost at random, 0..100 */
	int line;
};

struct scn_node {
	char name[SCN_NAME_MAX + 1];
	char unit[SCN_UNIT_MAX + 1];
	int site;
	int enroller;                   /* enrolled with --role enroller */
	uint32_t brokers;               /* bit i: a link to site i's broker */
	int lora;                       /* its radio's channel, or -1: no radio */
	int32_t x_m, y_m;               /* the radio's position, metres */
	int lora_line;
	char bluetooth[SCN_ADAPTER_MAX + 1];    /* its Bluetooth adapter, or "" */
	int bt_line;
	int line;
};

struct scn_bridge {
	int a, b;                       /* sites; a's broker carries the bridge */
	int line;
};

struct scn_who {
	int kind;                       /* enum scn_who_kind */
	int idx;                        /* node or site index */
};

struct scn_traffic {
	uint32_t at_ms;                 /* first send */
	uint32_t every_ms;              /* 0: once */
	uint32_t until_ms;              /* last possible send (every) */
	struct scn_who from, to;
	int prec;
	char text[SCN_TEXT_MAX + 1];    /* "" : the drill writes one */
	int line;
};

struct scn_fault {
	uint32_t at_ms;
	int kind;
	int a, b;
	int line;
};

struct scenario {
	char name[SCN_TITLE_MAX + 1];
	uint32_t duration_ms, settle_ms;
	int nsites, nnodes, nbridges, ntraffic, nfaults, nlora;
	struct scn_lora lora[SCN_LORA_MAX];
	struct scn_site site[SCN_SITES_MAX];
	struct scn_node node[SCN_NODES_MAX];
	struct scn_bridge bridge[SCN_BRIDGES_MAX];
	struct scn_traffic traffic[SCN_TRAFFIC_MAX];
	struct scn_fault fault[SCN_FAULTS_MAX];  /* sorted by time, file order kept */
};

/* One message of the expanded traffic schedule. */
struct scn_msg {
	uint32_t at_ms;
	int from, to;                   /* nodes */
	int prec;
	int traffic;                    /* index of its [traffic] line */
};

/*
 * Parse `len` bytes of `text` (not NUL-terminated) named `file`. 0 and *out (free
 * with scenario_free) on success; -1 with *out NULL and a message in err, every line
 * of it starting "file:LINE: " (or "file: " for the file as a whole).
 */
int scenario_parse(struct scenario **out, const char *file, const char *text, size_t len,
    char *err, size_t errcap);
void scenario_free(struct scenario *);

/*
 * The schedule: every message the traffic lines produce, sorted by time (file order
 * among equals). *out is malloc'd (NULL when there are none). 0 or -1 (no memory).
 */
int scenario_messages(const struct scenario *, struct scn_msg **out, size_t *n);

/*
 * Write the scenario back as text that parses to the same scenario (line numbers
 * aside). Returns the length it needs; writes at most cap bytes, NUL-terminated.
 */
size_t scenario_write(const struct scenario *, char *buf, size_t cap);

/* 1 if the two scenarios are the same, line numbers aside. */
int scenario_same(const struct scenario *, const struct scenario *);

const char *scenario_prec_name(int prec);       /* "flash" ... */
const char *scenario_fault_name(int kind);      /* "broker-down" ... */

/* The index of the node called name, or -1. */
int scenario_find_node(const struct scenario *, const char *name);

/* The line of the first node with a Bluetooth adapter, or 0 when none has one. */
int scenario_bluetooth_line(const struct scenario *);

#endif
