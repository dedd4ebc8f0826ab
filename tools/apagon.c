/*
 * apagon: the command-line tool. main(), the verb table, help texts, argument parsing,
 * passphrases and the helpers every verb shares. The verbs live in apagon_node.c
 * (a member's node) and apagon_admin.c (the authority and enrollers).
 */
#include "apagon.h"
#include "../node/control.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define CLI_PATH_MAX 4096
#define CLI_PASS_MAX 1024

static const char usage_main[] =
"usage: apagon [global options] COMMAND [options] [arguments]\n"
"\n"
"apagon is an offline mesh messenger. Members of one network carry messages for each\n"
"other as files (exports) on USB sticks or any other way; every message is signed and\n"
"end-to-end encrypted, and a receipt travels back the same way.\n"
"\n"
"Member commands:\n"
"  init            create a node: your identity key, sealed under a passphrase\n"
"  request         write an enrollment request to take to your enroller\n"
"  import FILE     import an enrollment file, an export or a revocation file\n"
"  export          write everything this node carries into one file\n"
"  send            queue a message for a member\n"
"  inbox           show received messages\n"
"  outbox          show sent messages and whether they were delivered\n"
"  roster          list the members this node knows\n"
"  safety-number   show the safety number you share with a member, and confirm it\n"
"  counters        show how many bundles were accepted and refused, and why\n"
"\n"
"With a daemon (apagond) serving the directory, send, inbox, outbox, import and export\n"
"go through it, and these need one:\n"
"  status          the daemon: its links, brokers, counters and messages\n"
"  peers           the peers the daemon's links found, and their sync sessions\n"
"  watch           follow messages and peers live until interrupted\n"
"\n"
"Authority and enroller commands (run \"apagon admin --help\"):\n"
"  admin init      create the authority of a new network\n"
"  admin enroll    issue a certificate for an enrollment request\n"
"  admin revoke    revoke a member's key\n"
"\n"
"Global options, given before the command:\n"
"  --dir DIR               the node's (or authority's) directory. Default:\n"
"                          $APAGON_DIR, else $XDG_DATA_HOME/apagon,\n"
"                          else ~/.local/share/apagon\n"
"  --json                  print one JSON document on stdout instead of text\n"
"  --passphrase-file FILE  read the passphrase from the first line of FILE\n"
"  --no-passphrase         init: store the key unprotected (unattended relays only)\n"
"  -h, --help              show this help; \"apagon COMMAND --help\" for one command\n"
"\n"
"Passphrases come from --passphrase-file, else $APAGON_PASSPHRASE, else a prompt\n"
"when stdin is a terminal. Key files written with --no-passphrase need none.\n"
"APAGON_FAKE_TIME=SECONDS makes apagon believe the clock reads that Unix time.\n"
"\n"
"A first exchange, with an authority in ./hq and members in ./alice and ./bob:\n"
"  apagon admin --dir hq init --network \"Field Unit\"\n"
"  apagon --dir alice init --name alice\n"
"  apagon --dir alice request --out alice.req\n"
"  apagon admin --dir hq enroll --request alice.req --out alice.enr\n"
"  apagon --dir alice import alice.enr\n"
"  (the same for bob, then bob exports and alice imports bob's export)\n"
"  apagon --dir alice send --to bob --precedence flash \"Meet at the bridge\"\n"
"  apagon --dir alice export --out to-bob.apg\n"
"  apagon --dir bob import to-bob.apg && apagon --dir bob inbox\n"
"\n"
"Exit status: 0 success, 1 failure, 2 usage error.\n";

static const char usage_init[] =
"usage: apagon [--dir DIR] init --name NAME [--no-passphrase]\n"
"\n"
"Create a node in DIR: a fresh identity key, sealed under your passphrase (Argon2id),\n"
"and an empty store. Then write an enrollment request with \"apagon request\".\n"
"\n"
"Options:\n"
"  --name NAME       your name as the network will show it (1..64 bytes of UTF-8)\n"
"  --no-passphrase   store the identity key unprotected. Only for an unattended\n"
"                    relay: anyone who copies the directory can act as this node.\n"
"\n"
"The passphrase comes from --passphrase-file, $APAGON_PASSPHRASE or a prompt\n"
"(asked twice).\n";

static const char usage_request[] =
"usage: apagon [--dir DIR] request --out FILE\n"
"\n"
"Write this node's enrollment request: its public key and name, signed by the key.\n"
"Take the file to your enroller or the network authority, who runs\n"
"\"apagon admin enroll\" and hands you back an enrollment file; import that file.\n"
"\n"
"Options:\n"
"  --out FILE   where to write the request\n";

static const char usage_import[] =
"usage: apagon [--dir DIR] import FILE\n"
"\n"
"Import a file made by apagon. The kind is detected from its contents:\n"
"  an enrollment file   joins this node to the network (your own only)\n"
"  an export            certificates, prekeys, messages and receipts of other members\n"
"  a revocation file    revokes a member\n"
"Each bundle is checked (network, signature, certificate, revocation, quota) and one\n"
"line is printed for each refused bundle with the reason. Bundles that pass are\n"
"kept even when others are refused; importing a file twice is harmless.\n"
"Exit status 1 when anything was refused.\n";

static const char usage_export[] =
"usage: apagon [--dir DIR] export --out FILE\n"
"\n"
"Write every live bundle this node holds into FILE (mode 0600): certificates (yours\n"
"first), revocations and prekeys, then messages, receipts and what you carry for\n"
"others, highest precedence first. Carry the file to another member, who imports it.\n"
"\n"
"Options:\n"
"  --out FILE   where to write the export\n";

static const char usage_send[] =
"usage: apagon [--dir DIR] send --to NAME|ID [--precedence P] [--lifetime DUR] TEXT\n"
"\n"
"Seal TEXT for one member and queue it; the next export carries it. Several TEXT\n"
"arguments are joined with spaces; TEXT \"-\" reads the text from stdin. Put \"--\"\n"
"before a text that starts with \"-\".\n"
"\n"
"Options:\n"
"  --to NAME|ID        the recipient: a name from \"apagon roster\", or a key ID\n"
"                      (at least 6 hex digits) when several members share a name\n"
"  --precedence P      flash, immediate, priority or routine (default routine).\n"
"                      Higher precedence travels first and is evicted last.\n"
"  --lifetime DUR      how long the message may travel: 90 (seconds), 30m, 2h, 7d,\n"
"                      1w; at most 63w (default 7d)\n"
"\n"
"The recipient's prekey must be known: import an export from them first.\n";

static const char usage_inbox[] =
"usage: apagon [--dir DIR] inbox\n"
"\n"
"Show received messages, oldest first: precedence, sender name and key ID, when it\n"
"was written (sender's clock, UTC), whether the sender's signature and certificate\n"
"were verified, and the text. New messages are marked \"new\" once.\n";

static const char usage_outbox[] =
"usage: apagon [--dir DIR] outbox\n"
"\n"
"Show the messages you sent, oldest first, with their state:\n"
"  queued               not yet handed to any peer or export\n"
"  sent to N peers      N peers took custody (over a link), no receipt yet\n"
"  exported (N times)   carried away in N export files, no receipt yet\n"
"  delivered            the recipient's receipt came back\n"
"  expired: REASON      the lifetime ended before a receipt came back\n"
"With --json, \"state\" is one of queued, sent, delivered, expired;\n"
"\"sent_count\" counts the peers and \"exported\" the export files.\n";

static const char usage_roster[] =
"usage: apagon [--dir DIR] roster\n"
"\n"
"List the members this node knows: name, unit, role, key ID and status (you,\n"
"verified after comparing safety numbers, revoked, no prekey yet). When several keys\n"
"carry the same name, apagon says so and never replaces one by another: compare\n"
"safety numbers and address them by key ID.\n";

static const char usage_safety[] =
"usage: apagon [--dir DIR] safety-number NAME|ID [--verify | --unverify]\n"
"\n"
"Show the 60-digit safety number you share with a member, in 12 groups of 5. Read it\n"
"out to each other in person (or over a trusted channel): if both screens show the\n"
"same digits, nobody substituted a key between you.\n"
"\n"
"Options:\n"
"  --verify     mark the member verified (do this only after comparing)\n"
"  --unverify   clear that mark\n";

static const char usage_counters[] =
"usage: apagon [--dir DIR] counters\n"
"\n"
"Show this node's counters: bundles accepted, and refused per reason\n"
"(rejected.signature, rejected.network, ...).\n";

static const char usage_help[] =
"usage: apagon help [COMMAND]\n"
"\n"
"Show the overview, or the help of one command (\"apagon help send\",\n"
"\"apagon help admin enroll\").\n";

struct verb {
	const char *name;
	int (*fn)(struct cli *, int, char **);
	const char *usage;
};

static const char usage_status[] =
"usage: apagon [--dir DIR] [--json] status\n"
"\n"
"Show the daemon serving DIR: the node and its network, each link (state, broker,\n"
"peers, frames in and out, and how many publishes were refused, by reason), the\n"
"messages waiting, and the control socket's clients. Needs a running apagond.\n";

static const char usage_peers[] =
"usage: apagon [--dir DIR] [--json] peers\n"
"\n"
"List the peers the daemon's links found: link, peer, sync session (handshake, open),\n"
"the member it proved to be, when it was last heard, and frames in and out. Needs a\n"
"running apagond.\n";

static const char usage_watch[] =
"usage: apagon [--dir DIR] [--json] watch [--no-text]\n"
"\n"
"Follow the daemon's live events until interrupted (Ctrl-C): messages received,\n"
"changes of state of sent messages (sent, delivered, expired), peers up and down.\n"
"With --json, one JSON object per line, with its \"event\" name. Messages that\n"
"arrive while nobody watches wait in the inbox. Needs a running apagond.\n"
"\n"
"  --no-text   say who sent each message, and when, but not its text (the daemon\n"
"              does not open it for this watcher): for a notifier or a status\n"
"              screen; read the texts with apagon inbox\n";

static const struct verb verbs[] = {
	{ "init",          cmd_init,     usage_init },
	{ "request",       cmd_request,  usage_request },
	{ "import",        ctl_import,   usage_import },
	{ "export",        ctl_export,   usage_export },
	{ "send",          ctl_send,     usage_send },
	{ "inbox",         ctl_inbox,    usage_inbox },
	{ "outbox",        ctl_outbox,   usage_outbox },
	{ "roster",        cmd_roster,   usage_roster },
	{ "safety-number", cmd_safety,   usage_safety },
	{ "counters",      cmd_counters, usage_counters },
	{ "status",        cmd_status,   usage_status },
	{ "peers",         cmd_peers,    usage_peers },
	{ "watch",         cmd_watch,    usage_watch },
	{ "admin",         cmd_admin,    NULL },
};

static char passbuf[CLI_PASS_MAX];
static char passbuf2[CLI_PASS_MAX];

/* ---------------- messages ---------------- */

static void
json_error(struct cli *c, const char *msg)
{
	struct json j;

	if (!c->json || c->json_written)
		return;
	json_start(&j, stdout);
	json_obj(&j, NULL);
	json_str(&j, "error", msg);
	json_end(&j);
	json_finish(&j);
	c->json_written = 1;
}

int
cli_err(struct cli *c, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "apagon: %s\n", msg);
	json_error(c, msg);
	return CLI_FAIL;
}

int
cli_usage_err(struct cli *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->verb) {
		fprintf(stderr, "apagon: %s: %s\n", c->verb, msg);
		fprintf(stderr, "Run \"apagon %s --help\" for its options.\n", c->verb);
	} else {
		fprintf(stderr, "apagon: %s\n", msg);
		fprintf(stderr, "Run \"apagon --help\" for the commands and options.\n");
	}
	json_error(c, msg);
	return CLI_USAGE;
}

void
cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("apagon: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------- argument parsing ---------------- */

/*
 * Match argv[*i] against an option that takes a value, as "--opt VALUE" or
 * "--opt=VALUE". 1: matched (*val set, *i advanced past the value), 0: not this
 * option, -1: the value is missing (usage error printed).
 */
static int
opt_value(struct cli *c, int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		cli_usage_err(c, "option %s needs a value", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

int
cli_opt_global(struct cli *c, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	int r;

	if (strcmp(a, "--json") == 0) {
		c->json = 1;
		return 1;
	}
	if (strcmp(a, "--no-passphrase") == 0) {
		c->no_passphrase = 1;
		return 1;
	}
	if ((r = opt_value(c, argc, argv, i, "--dir", &c->dir)) != 0)
		return r;
	return opt_value(c, argc, argv, i, "--passphrase-file", &c->passfile);
}

int
cli_is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int
cli_parse(struct cli *c, int argc, char **argv, const struct cli_opt *opts,
    const char **pos, int maxpos, int *npos)
{
	int only_pos = 0;

	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r = 0;

		if (!only_pos && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				only_pos = 1;
				continue;
			}
			if (cli_is_help(a)) {
				fputs(c->usage, stdout);
				return CLI_HELP;
			}
			if ((r = cli_opt_global(c, argc, argv, &i)) < 0)
				return CLI_USAGE;
			for (const struct cli_opt *o = opts; r == 0 && o && o->name; o++) {
				if (o->flag) {
					if (strcmp(a, o->name) == 0) {
						*o->flag = 1;
						r = 1;
					}
				} else if ((r = opt_value(c, argc, argv, &i, o->name, o->val)) < 0) {
					return CLI_USAGE;
				}
			}
			if (r == 0)
				return cli_usage_err(c, "unknown option %s", a);
			continue;
		}
		if (*npos >= maxpos)
			return maxpos == 0 ? cli_usage_err(c, "takes no arguments (got \"%s\")", a) :
			    cli_usage_err(c, "too many arguments (from \"%s\")", a);
		pos[(*npos)++] = a;
	}
	return CLI_OK;
}

/* ---------------- files and directories ---------------- */

const char *
cli_dir(struct cli *c)
{
	static char buf[CLI_PATH_MAX];
	const char *e;

	if (c->dir && *c->dir)
		return c->dir;
	if ((e = getenv("APAGON_DIR")) && *e)
		return e;
	/* The XDG base directory spec says to ignore a relative XDG_DATA_HOME. */
	if ((e = getenv("XDG_DATA_HOME")) && e[0] == '/') {
		snprintf(buf, sizeof buf, "%s/apagon", e);
		return buf;
	}
	if ((e = getenv("HOME")) && *e) {
		snprintf(buf, sizeof buf, "%s/.local/share/apagon", e);
		return buf;
	}
	cli_err(c, "%s: no data directory: HOME is not set. Pass --dir DIR or set APAGON_DIR",
	    c->verb);
	return NULL;
}

int
cli_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int
cli_mkdir(struct cli *c, const char *dir)
{
	char path[CLI_PATH_MAX];
	struct stat st;
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof path)
		return cli_err(c, "%s: directory name \"%s\" is empty or too long. Pick another --dir",
		    c->verb, dir);
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return cli_err(c, "%s: cannot create directory %s: %s. Check the path and "
			    "its permissions", c->verb, path, strerror(errno));
		*p = save;
		if (save == '\0')
			break;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return cli_err(c, "%s: %s exists but is not a directory. Pick another --dir",
		    c->verb, dir);
	return CLI_OK;
}

int
cli_read(struct cli *c, const char *path, size_t max, uint8_t **buf, size_t *len)
{
	int rc = node_read_file(path, buf, len, max);

	if (rc == 0)
		return CLI_OK;
	*buf = NULL;
	if (!cli_exists(path))
		return cli_err(c, "%s: cannot read %s: no such file. Check the name", c->verb, path);
	return cli_err(c, "%s: cannot read %s: %s. Check that it is a readable file of at most "
	    "%zu bytes", c->verb, path, node_strerror(rc), max);
}

int
cli_write(struct cli *c, const char *path, const uint8_t *buf, size_t len, int mode)
{
	int rc = node_write_file(path, buf, len, mode);

	if (rc == 0)
		return CLI_OK;
	return cli_err(c, "%s: cannot write %s: %s. Check that its directory exists and is "
	    "writable", c->verb, path, node_strerror(rc));
}

int
cli_keyfile_clear(const char *path)
{
	uint8_t h[6];
	ssize_t n;
	int fd;

	/* docs/protocol.md, "Key file": "APGK", version 1, then the strength byte. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, h, sizeof h);
	close(fd);
	return n == (ssize_t)sizeof h && memcmp(h, "APGK", 4) == 0 && h[4] == 1 &&
	    h[5] == KEYFILE_NONE;
}

/* ---------------- passphrases ---------------- */

static volatile sig_atomic_t prompt_signal;

static void
on_prompt_signal(int sig)
{
	prompt_signal = sig;
}

/*
 * Read one line from /dev/tty with echo off. 0, -1 on error, or the signal number
 * that interrupted it (the terminal is restored first either way).
 */
static int
tty_read(const char *prompt, char *buf, size_t cap)
{
	struct sigaction sa, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	struct termios t, saved;
	size_t n = 0;
	int fd, rc = 0, echo_off = 0;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_prompt_signal;      /* no SA_RESTART: read() returns EINTR */
	sigemptyset(&sa.sa_mask);
	prompt_signal = 0;
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	if (tcgetattr(fd, &saved) == 0) {
		t = saved;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		t.c_lflag |= ICANON;
		echo_off = tcsetattr(fd, TCSAFLUSH, &t) == 0;
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
		rc = -1;
	while (rc == 0) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR && !prompt_signal)
			continue;
		if (r <= 0 || ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &saved);
	if (write(fd, "\n", 1) < 0)
		rc = -1;
	close(fd);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (prompt_signal)
		return prompt_signal;
	return rc;
}

/* The first line of a passphrase file, without its line ending. */
static int
read_passfile(struct cli *c, const char *path, char *buf, size_t cap)
{
	struct stat st;
	ssize_t n;
	char *nl;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_err(c, "%s: cannot read passphrase file %s: %s. Check --passphrase-file",
		    c->verb, path, strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		cli_warn("passphrase file %s can be read by other users; chmod 600 it", path);
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return cli_err(c, "%s: cannot read passphrase file %s: %s. Check --passphrase-file",
		    c->verb, path, strerror(errno));
	buf[n] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	else if ((size_t)n == cap - 1)
		return cli_err(c, "%s: passphrase file %s: the first line is longer than %zu bytes. "
		    "Use a shorter passphrase", c->verb, path, cap - 2);
	n = (ssize_t)strlen(buf);
	if (n > 0 && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
	return CLI_OK;
}

const char *
cli_passphrase(struct cli *c, const char *what, int confirm)
{
	char prompt[512];
	const char *e;
	int r;

	if (c->passfile) {
		if (read_passfile(c, c->passfile, passbuf, sizeof passbuf) != CLI_OK)
			goto fail;
	} else if ((e = getenv("APAGON_PASSPHRASE")) && *e) {
		if (strlen(e) >= sizeof passbuf) {
			cli_err(c, "%s: APAGON_PASSPHRASE is longer than %zu bytes. Use a shorter "
			    "passphrase", c->verb, sizeof passbuf - 1);
			goto fail;
		}
		memcpy(passbuf, e, strlen(e) + 1);
	} else if (isatty(STDIN_FILENO)) {
		snprintf(prompt, sizeof prompt, "%s for %s: ",
		    confirm ? "New passphrase" : "Passphrase", what);
		if ((r = tty_read(prompt, passbuf, sizeof passbuf)) != 0)
			goto tty_fail;
		if (confirm && passbuf[0]) {
			if ((r = tty_read("Repeat the passphrase: ", passbuf2, sizeof passbuf2)) != 0)
				goto tty_fail;
			if (strcmp(passbuf, passbuf2) != 0) {
				cli_err(c, "%s: the two passphrases differ. Run the command again",
				    c->verb);
				goto fail;
			}
		}
	} else {
		cli_err(c, "%s: no passphrase for %s, and stdin is not a terminal to ask on: "
		    "set APAGON_PASSPHRASE, pass --passphrase-file FILE, or use --no-passphrase "
		    "for an unattended relay", c->verb, what);
		goto fail;
	}
	if (passbuf[0] == '\0') {
		cli_err(c, "%s: the passphrase for %s is empty. Give a passphrase, or use "
		    "--no-passphrase for an unattended relay", c->verb, what);
		goto fail;
	}
	sodium_memzero(passbuf2, sizeof passbuf2);
	return passbuf;

tty_fail:
	if (r > 0) {
		cli_wipe_passphrase();
		signal(r, SIG_DFL);
		raise(r);
	}
	cli_err(c, "%s: cannot read a passphrase from the terminal. Set APAGON_PASSPHRASE or "
	    "pass --passphrase-file FILE", c->verb);
fail:
	cli_wipe_passphrase();
	return NULL;
}

void
cli_wipe_passphrase(void)
{
	sodium_memzero(passbuf, sizeof passbuf);
	sodium_memzero(passbuf2, sizeof passbuf2);
}

/* ---------------- opening a node ---------------- */

int
cli_open_node(struct cli *c, struct node **out, const char **dirp)
{
	char key[CLI_PATH_MAX], what[CLI_PATH_MAX + 16];
	const char *dir, *pass = NULL;
	int rc;

	*out = NULL;
	if ((dir = cli_dir(c)) == NULL)
		return CLI_FAIL;
	if (dirp)
		*dirp = dir;
	snprintf(key, sizeof key, "%s/identity.key", dir);
	if (!cli_exists(key)) {
		snprintf(key, sizeof key, "%s/authority.key", dir);
		if (cli_exists(key))
			return cli_err(c, "%s: %s holds a network authority, not a node. Use "
			    "\"apagon admin --dir %s ...\" for it, or pick a node with --dir",
			    c->verb, dir, dir);
		return cli_err(c, "%s: no node in %s (no identity.key). Create one with: "
		    "apagon --dir %s init --name NAME", c->verb, dir, dir);
	}
	snprintf(what, sizeof what, "the node in %s", dir);
	if (!cli_keyfile_clear(key)) {
		if (c->no_passphrase)
			return cli_err(c, "%s: the key of the node in %s is sealed under a "
			    "passphrase, but --no-passphrase was given. Drop --no-passphrase and set "
			    "APAGON_PASSPHRASE or pass --passphrase-file FILE", c->verb, dir);
		if ((pass = cli_passphrase(c, what, 0)) == NULL)
			return CLI_FAIL;
	}
	rc = node_open(out, dir, pass);
	cli_wipe_passphrase();
	if (rc == NODE_CRYPTO_ERR(CRYPTO_EPASS))
		return cli_err(c, "%s: cannot unlock the node in %s: wrong passphrase (or "
		    "identity.key was altered). Check the passphrase and try again", c->verb, dir);
	if (rc != 0) {
		*out = NULL;
		return cli_err(c, "%s: cannot open the node in %s: %s. Check that the directory "
		    "holds an apagon node and is readable and writable", c->verb, dir,
		    node_strerror(rc));
	}
	if ((rc = node_maintain(*out, node_now())) != 0)
		cli_warn("housekeeping in %s failed: %s; carrying on", dir, node_strerror(rc));
	return CLI_OK;
}

/* ---------------- formatting ---------------- */

const char *
cli_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%d %H:%MZ", &tm) == 0)
		snprintf(buf, cap, "-");
	return buf;
}

const char *
cli_date(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, cap, "-");
	return buf;
}

void
cli_key_id(char *out, const uint8_t pk[APAGON_SIGN_PK])
{
	uint8_t id[APAGON_KEYID];

	crypto_key_id(id, pk);
	node_hex(out, id, sizeof id);
}

const char *
cli_prec_upper(int prec)
{
	switch (prec) {
	case PREC_FLASH:     return "FLASH";
	case PREC_IMMEDIATE: return "IMMEDIATE";
	case PREC_PRIORITY:  return "PRIORITY";
	case PREC_ROUTINE:   return "ROUTINE";
	}
	return "?";
}

const char *
cli_plural(int n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void
cli_print_text(FILE *f, const char *text, int indent)
{
	const unsigned char *s = (const unsigned char *)text;

	fprintf(f, "%*s", indent, "");
	while (*s) {
		size_t n = json_utf8_len(s);

		if (*s == '\n') {
			fprintf(f, "\n%*s", indent, "");
			s++;
		} else if (*s == '\t' || (*s >= 0x20 && *s < 0x7f)) {
			fputc(*s++, f);
		} else if (n >= 2 && !(s[0] == 0xc2 && s[1] < 0xa0)) {
			/* Valid UTF-8 outside the C1 controls (U+0080..U+009F: some terminals
			 * take U+009B as CSI, so a peer could drive the terminal). */
			fwrite(s, 1, n, f);
			s += n;
		} else {
			fprintf(f, "\\x%02x", *s++);
		}
	}
	fputc('\n', f);
}

int
cli_parse_duration(const char *s, uint32_t *out)
{
	/* lifetime codes count at most 63 weeks (mesh/bundle.h). */
	const uint64_t max = 63ULL * 7 * 86400;
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -1;
	}
	if (p == s)
		return -1;
	switch (*p) {
	case '\0': mul = 1; break;
	case 's':  mul = 1; break;
	case 'm':  mul = 60; break;
	case 'h':  mul = 3600; break;
	case 'd':  mul = 86400; break;
	case 'w':  mul = 7 * 86400; break;
	default:   return -1;
	}
	if (*p && p[1] != '\0')
		return -1;
	v *= mul;
	if (v == 0 || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* ---------------- main ---------------- */

static const struct verb *
find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* "apagon help [COMMAND]" */
static int
cmd_help(struct cli *c, int argc, char **argv)
{
	const struct verb *v;

	if (argc >= 2 && cli_is_help(argv[1])) {
		fputs(usage_help, stdout);
		return CLI_OK;
	}
	if (argc < 2) {
		fputs(usage_main, stdout);
		return CLI_OK;
	}
	if ((v = find_verb(argv[1])) == NULL)
		return cli_usage_err(c, "no command \"%s\"", argv[1]);
	if (v->fn == cmd_admin) {
		/* "apagon help admin [VERB]" is "apagon admin [VERB] --help". */
		char help[] = "--help";
		char *args[3] = { argv[1], argc >= 3 ? argv[2] : help, help };
		return cmd_admin(c, argc >= 3 ? 3 : 2, args);
	}
	fputs(v->usage, stdout);
	return CLI_OK;
}

int
main(int argc, char **argv)
{
	struct cli c;
	const struct verb *v;
	int i, r, rc;

	memset(&c, 0, sizeof c);
	if (crypto_init() != 0) {
		fprintf(stderr, "apagon: start: libsodium could not initialise. Check that the "
		    "system has a working random source (/dev/urandom)\n");
		return CLI_FAIL;
	}
	control_json_wipe();    /* requests, answers and events carry message texts */
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (cli_is_help(argv[i])) {
			fputs(usage_main, stdout);
			return CLI_OK;
		}
		if ((r = cli_opt_global(&c, argc, argv, &i)) < 0)
			return CLI_USAGE;
		if (r == 0)
			return cli_usage_err(&c, "unknown option %s", argv[i]);
	}
	if (i >= argc) {
		fputs(usage_main, stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		rc = cmd_help(&c, argc - i, argv + i);
	} else if ((v = find_verb(argv[i])) == NULL) {
		return cli_usage_err(&c, "unknown command \"%s\"", argv[i]);
	} else {
		c.verb = v->name;
		c.usage = v->usage;
		rc = v->fn(&c, argc - i, argv + i);
	}
	if (rc == CLI_HELP)
		rc = CLI_OK;
	cli_wipe_passphrase();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "apagon: writing the output: %s. Check the disk or pipe stdout "
		    "goes to\n", strerror(errno));
		return CLI_FAIL;
	}
	return rc;
}
