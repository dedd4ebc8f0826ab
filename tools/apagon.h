/*
 * The apagon command-line tool: a thin shell around node/node.h.
 *
 *   apagon.c        main(), global options, verb table, help, passphrases, errors
 *   apagon_node.c   a member's verbs: init, request, import, export, send
 *   apagon_view.c   a member's views: inbox, outbox, roster, safety-number, counters
 *   apagon_admin.c  the authority's and enrollers' verbs: admin init, enroll, revoke
 *   apagon_json.c   a tiny streaming JSON writer for --json
 *   apagon_ctl.c    the same verbs through a running apagond; status, peers, watch
 *
 * Exit status: 0 success, 1 failure (one "apagon: <what>: <why>. <next>" line on
 * stderr), 2 usage error. Verbs return that status; none of them calls exit().
 */
#ifndef APAGON_CLI_H
#define APAGON_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "../mesh/mesh.h"
#include "../node/node.h"

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2
#define CLI_HELP  (-1)          /* cli_parse() printed --help: the verb returns 0 */

#define CLI_MAX_POS 8           /* positional arguments a verb may take */

/* ---- JSON (apagon_json.c) ---- */

#define JSON_MAX_DEPTH 16

/* A streaming writer. Keys are NULL inside arrays and for the top-level value. */
struct json {
	FILE *f;
	int depth;
	int count[JSON_MAX_DEPTH];      /* values written at each level, for commas */
	char close[JSON_MAX_DEPTH];     /* '}' or ']' for each open level */
};

void json_start(struct json *, FILE *f);
/* Ends the document with a newline. */
void json_finish(struct json *);
void json_obj(struct json *, const char *key);
void json_arr(struct json *, const char *key);
void json_end(struct json *);           /* closes the innermost object or array */
/* A string value; NULL writes null. Invalid UTF-8 becomes U+FFFD, so the output is
 * always valid JSON whatever a peer put in its message. */
void json_str(struct json *, const char *key, const char *val);
void json_int(struct json *, const char *key, int64_t val);
void json_bool(struct json *, const char *key, int val);
void json_hex(struct json *, const char *key, const uint8_t *buf, size_t len);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not valid. */
size_t json_utf8_len(const unsigned char *s);

/* ---- the invocation (apagon.c) ---- */

struct cli {
	const char *dir;                /* --dir, or NULL for the default */
	const char *passfile;           /* --passphrase-file */
	int json;                       /* --json */
	int no_passphrase;              /* --no-passphrase */
	int json_written;               /* a JSON document went to stdout already */
	const char *verb;               /* "send", "admin enroll": for messages */
	const char *usage;              /* the verb's help text */
};

/* One option of a verb. val != NULL: takes a value; flag != NULL: a switch. */
struct cli_opt {
	const char *name;               /* "--to" */
	const char **val;
	int *flag;
};

/*
 * Parse a verb's arguments (argv[0] is the verb): its own options, the global ones
 * (accepted after the verb too), --help/-h, "--" and positionals (at most maxpos).
 * Returns CLI_OK, CLI_USAGE (message printed) or CLI_HELP (usage printed).
 */
int cli_parse(struct cli *, int argc, char **argv, const struct cli_opt *opts,
    const char **pos, int maxpos, int *npos);

/*
 * Match a global option (--dir DIR, --json, --passphrase-file FILE, --no-passphrase) at
 * argv[*i], advancing *i past its value. 1: matched, 0: not one, -1: value missing
 * (usage error printed).
 */
int cli_opt_global(struct cli *, int argc, char **argv, int *i);
/* 1 for "-h" and "--help". */
int cli_is_help(const char *arg);

/* Print "apagon: <fmt>" on stderr (and {"error": ...} on stdout with --json).
 * Returns CLI_FAIL. */
int cli_err(struct cli *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error for the current verb. Returns CLI_USAGE. */
int cli_usage_err(struct cli *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "apagon: warning: <fmt>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The data directory: --dir, $APAGON_DIR, $XDG_DATA_HOME/apagon, ~/.local/share/apagon.
 * NULL (message printed) when none can be found. */
const char *cli_dir(struct cli *);
/* Create dir and its parents (0700). 0 or CLI_FAIL (message printed). */
int cli_mkdir(struct cli *, const char *dir);
/* 1 if path exists. */
int cli_exists(const char *path);

/*
 * The passphrase for `what` ("node in DIR"): --passphrase-file, $APAGON_PASSPHRASE, or a
 * prompt on /dev/tty when stdin is a terminal (asked twice when confirm). NULL with a
 * message printed when there is none. The buffer is wiped by cli_wipe_passphrase().
 */
const char *cli_passphrase(struct cli *, const char *what, int confirm);
void cli_wipe_passphrase(void);

/* 1 if the key file at path was written with --no-passphrase (KEYFILE_NONE). */
int cli_keyfile_clear(const char *path);

/* Open and unlock the node in the data directory, then run node_maintain(). */
int cli_open_node(struct cli *, struct node **out, const char **dir);

/* Read a whole file (message printed on failure). */
int cli_read(struct cli *, const char *path, size_t max, uint8_t **buf, size_t *len);
/* Write a file atomically (message printed on failure). */
int cli_write(struct cli *, const char *path, const uint8_t *buf, size_t len, int mode);

/* "2024-05-01 12:00Z" (UTC). buf must hold 32 bytes. */
const char *cli_time(int64_t t, char *buf, size_t cap);
/* "2024-05-01". */
const char *cli_date(int64_t t, char *buf, size_t cap);
/* A key's 12-digit hex key ID. out must hold 2 * APAGON_KEYID + 1. */
void cli_key_id(char *out, const uint8_t pk[APAGON_SIGN_PK]);
/* "FLASH", "ROUTINE", ... */
const char *cli_prec_upper(int prec);
/* Write text for a terminal: control characters other than newline and tab shown as
 * "\xNN", each line indented by `indent` spaces. */
void cli_print_text(FILE *f, const char *text, int indent);
/* "1 bundle" / "2 bundles" */
const char *cli_plural(int n, const char *one, const char *many);

/* ---- verbs ---- */

int cmd_init(struct cli *, int argc, char **argv);
int cmd_request(struct cli *, int argc, char **argv);
int cmd_import(struct cli *, int argc, char **argv);
int cmd_export(struct cli *, int argc, char **argv);
int cmd_send(struct cli *, int argc, char **argv);
int cmd_inbox(struct cli *, int argc, char **argv);
int cmd_outbox(struct cli *, int argc, char **argv);
int cmd_roster(struct cli *, int argc, char **argv);
int cmd_safety(struct cli *, int argc, char **argv);
int cmd_counters(struct cli *, int argc, char **argv);
int cmd_admin(struct cli *, int argc, char **argv);

/* ---- through a running daemon (apagon_ctl.c) ---- */

/* send, inbox, outbox, import, export: through the daemon serving the directory when
 * its control socket answers, else the cmd_* above on the directory itself. */
int ctl_send(struct cli *, int argc, char **argv);
int ctl_inbox(struct cli *, int argc, char **argv);
int ctl_outbox(struct cli *, int argc, char **argv);
int ctl_import(struct cli *, int argc, char **argv);
int ctl_export(struct cli *, int argc, char **argv);
/* Need a daemon: its state, its peers, and its live events until interrupted. */
int cmd_status(struct cli *, int argc, char **argv);
int cmd_peers(struct cli *, int argc, char **argv);
int cmd_watch(struct cli *, int argc, char **argv);

/* ---- shared by the node verbs and views (apagon_node.c) ---- */

const char *cli_role_name(int role);
/* CLI_OK if the node holds an enrollment, else CLI_FAIL with a message. */
int cli_need_enrolled(struct cli *, struct node *, const char *dir);
/*
 * Resolve NAME or a hex key ID with node_resolve(). On a name shared by several keys,
 * list every candidate (name, unit, key ID, first seen) and show `pick`, the command
 * to run with KEYID in place. CLI_OK or CLI_FAIL.
 */
int cli_resolve(struct cli *, struct node *, const char *who, uint8_t pk[APAGON_SIGN_PK],
    const char *pick);
/* The roster name of pk (or `fallback`), and its verified mark (may be NULL). */
void cli_member_name(struct node *, const uint8_t pk[APAGON_SIGN_PK], char *out, size_t cap,
    const char *fallback, int *verified);

/* Parse a lifetime: "90" (seconds), "30m", "2h", "7d", "1w". 0 on success. */
int cli_parse_duration(const char *s, uint32_t *out);

#endif
