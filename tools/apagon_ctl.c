/*
 * The CLI and a running daemon. When apagond serves the data directory (its
 * control.sock answers), send, inbox, outbox, import and export go through it, so
 * the daemon, which holds the store open and the links up, does the work at once;
 * without one they open the directory as before. status, peers and watch need a
 * daemon. The protocol is node/control.h's: newline-delimited JSON-RPC 2.0.
 */
#include "apagon.h"
#include "../node/control.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#define CTL_LINE_MAX (64u << 20)        /* an inbox answer can be big */

static volatile sig_atomic_t watch_stop;        /* apagon watch was interrupted */

/* ---------------- the connection ---------------- */

/* The daemon's socket for this invocation's directory, or -1. */
static int
ctl_open(struct cli *c)
{
	const char *dir = cli_dir(c);

	return dir ? control_dial(dir) : -1;
}

struct reader {
	int fd;
	char *buf;
	size_t len, cap;
};

/*
 * The next line from the daemon (malloc'd, NUL-terminated; free it with
 * node_free_wiped), or NULL at EOF. Lines carry message texts: what is handed out
 * is wiped from the buffer, and a buffer outgrown is wiped before it is freed.
 */
static char *
read_line(struct reader *r)
{
	for (;;) {
		char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - r->buf);
			char *line = malloc(l + 1);

			if (!line)
				return NULL;
			memcpy(line, r->buf, l);
			line[l] = '\0';
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			sodium_memzero(r->buf + r->len, l + 1);
			return line;
		}
		if (r->len == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 65536;
			char *p;

			if (cap > CTL_LINE_MAX || (p = malloc(cap)) == NULL)
				return NULL;
			if (r->len)
				memcpy(p, r->buf, r->len);
			node_free_wiped(r->buf);
			r->buf = p;
			r->cap = cap;
		}
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR && !watch_stop)
			continue;
		if (n <= 0)
			return NULL;
		r->len += (size_t)n;
	}
}

static int
write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One call: params is consumed. Returns the response object (caller frees) whose
 * "result" or "error" the caller reads, or NULL with a message printed.
 */
static cJSON *
ctl_call(struct cli *c, int fd, struct reader *r, const char *method, cJSON *params)
{
	cJSON *req = cJSON_CreateObject(), *resp;
	char *s, *line;
	int rc;

	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddStringToObject(req, "method", method);
	cJSON_AddItemToObject(req, "params", params ? params : cJSON_CreateObject());
	cJSON_AddNumberToObject(req, "id", 1);
	s = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!s) {
		cli_err(c, "%s: out of memory. Close other programs and try again", c->verb);
		return NULL;
	}
	rc = write_all(fd, s, strlen(s));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	cJSON_free(s);
	if (rc != 0)
		goto lost;
	/* Skip notifications (no id) until the answer. */
	while ((line = read_line(r)) != NULL) {
		resp = cJSON_Parse(line);
		node_free_wiped(line);
		if (resp && cJSON_GetObjectItemCaseSensitive(resp, "id") &&
		    (cJSON_GetObjectItemCaseSensitive(resp, "result") ||
		    cJSON_GetObjectItemCaseSensitive(resp, "error")))
			return resp;
		cJSON_Delete(resp);
	}
lost:
	cli_err(c, "%s: the daemon closed the control socket before answering. Check its log "
	    "(journalctl -u apagond) and try again", c->verb);
	return NULL;
}

/* The error of a response as "apagon: VERB: message". Returns CLI_FAIL. */
static int
ctl_error(struct cli *c, const cJSON *resp)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(resp, "error");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(e, "data");
	const cJSON *cands = cJSON_GetObjectItemCaseSensitive(data, "candidates"), *k;
	int rc;

	rc = cli_err(c, "%s: %s", c->verb, cJSON_IsString(m) ? m->valuestring :
	    "the daemon refused the request");
	cJSON_ArrayForEach(k, cands) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(k, "name");
		const cJSON *unit = cJSON_GetObjectItemCaseSensitive(k, "unit");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(k, "key_id");

		fprintf(stderr, "  %-16s unit %-12s key ID %s\n",
		    cJSON_IsString(name) ? name->valuestring : "?",
		    cJSON_IsString(unit) && unit->valuestring[0] ? unit->valuestring : "-",
		    cJSON_IsString(id) ? id->valuestring : "?");
	}
	return rc;
}

static void
print_json(struct cli *c, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		cJSON_free(s);
	}
	c->json_written = 1;
}

static const char *
jstr(const cJSON *o, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : def;
}

static int64_t
jint(const cJSON *o, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static int
jbool(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Run one method and hand its result to fn; the whole round trip in one place. */
static int
ctl_run(struct cli *c, int fd, const char *method, cJSON *params,
    int (*fn)(struct cli *, const cJSON *result, void *), void *ctx)
{
	struct reader r = { fd, NULL, 0, 0 };
	cJSON *resp = ctl_call(c, fd, &r, method, params);
	int rc;

	node_free_wiped(r.buf);
	close(fd);
	if (!resp)
		return CLI_FAIL;
	if (cJSON_GetObjectItemCaseSensitive(resp, "error"))
		rc = ctl_error(c, resp);
	else
		rc = fn(c, cJSON_GetObjectItemCaseSensitive(resp, "result"), ctx);
	cJSON_Delete(resp);
	return rc;
}

static const char *
prec_upper(const char *p)
{
	int prec = precedence_parse(p);

	return prec < 0 ? p : cli_prec_upper(prec);
}

/* ---------------- inbox, outbox ---------------- */

static int
show_inbox(struct cli *c, const cJSON *res, void *ctx)
{
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(res, "messages"), *m;
	int count = 0;
	char when[32];

	(void)ctx;
	if (c->json) {
		print_json(c, res);
		return CLI_OK;
	}
	cJSON_ArrayForEach(m, msgs) {
		if (count++)
			putchar('\n');
		printf("%s from %s (%s), signature checked, %s, written %s%s\n",
		    prec_upper(jstr(m, "precedence", "?")), jstr(m, "from", "?"),
		    jstr(m, "from_key", "?"), jbool(m, "key_verified") ?
		    "key verified in person" : "key not yet compared in person",
		    cli_time(jint(m, "created", 0), when, sizeof when), jbool(m, "new") ? ", new" : "");
		if (jstr(m, "text", NULL))
			cli_print_text(stdout, jstr(m, "text", ""), 4);
		else
			printf("    (the text cannot be read on this node)\n");
	}
	if (count == 0)
		printf("The inbox is empty. Messages arrive as the daemon syncs with its peers.\n");
	return CLI_OK;
}

static int
show_outbox(struct cli *c, const cJSON *res, void *ctx)
{
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(res, "messages"), *m;
	char when[32], idhex[17];
	int count = 0;

	(void)ctx;
	if (c->json) {
		print_json(c, res);
		return CLI_OK;
	}
	cJSON_ArrayForEach(m, msgs) {
		if (count++)
			putchar('\n');
		snprintf(idhex, sizeof idhex, "%s", jstr(m, "id", "?"));
		printf("[%s] %s to %s (%s), written %s, id %s\n", jstr(m, "state_text", "?"),
		    prec_upper(jstr(m, "precedence", "?")), jstr(m, "to", "?"),
		    jstr(m, "to_key", "?"), cli_time(jint(m, "created", 0), when, sizeof when),
		    idhex);
		if (jstr(m, "text", NULL))
			cli_print_text(stdout, jstr(m, "text", ""), 4);
		else
			printf("    (the text cannot be read on this node)\n");
	}
	if (count == 0)
		printf("The outbox is empty. Send with: apagon send --to NAME TEXT\n");
	return CLI_OK;
}

int
ctl_inbox(struct cli *c, int argc, char **argv)
{
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((fd = ctl_open(c)) < 0)
		return cmd_inbox(c, argc, argv);
	return ctl_run(c, fd, "inbox", NULL, show_inbox, NULL);
}

int
ctl_outbox(struct cli *c, int argc, char **argv)
{
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((fd = ctl_open(c)) < 0)
		return cmd_outbox(c, argc, argv);
	return ctl_run(c, fd, "outbox", NULL, show_outbox, NULL);
}

/* ---------------- send ---------------- */

static int
show_sent(struct cli *c, const cJSON *res, void *ctx)
{
	(void)ctx;
	if (c->json) {
		print_json(c, res);
		return CLI_OK;
	}
	printf("Message %s to %s (%s): queued\n", jstr(res, "id", "?"), jstr(res, "to", "?"),
	    jstr(res, "to_key", "?"));
	printf("%s, lifetime %llds. The daemon carries it to its peers.\n",
	    prec_upper(jstr(res, "precedence", "?")), (long long)jint(res, "lifetime", 0));
	return CLI_OK;
}

/* The text of "send": the positionals joined, or stdin for "-". NULL on error. */
static char *
send_text(struct cli *c, const char **pos, int npos)
{
	size_t total = 1, n = 0;
	char *text;

	if (npos == 1 && strcmp(pos[0], "-") == 0) {
		ssize_t r;

		if ((text = malloc(APAGON_MAX_TEXT + 2)) == NULL)
			return NULL;
		while (n < APAGON_MAX_TEXT + 1 &&
		    (r = read(STDIN_FILENO, text + n, APAGON_MAX_TEXT + 1 - n)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				cli_err(c, "send: cannot read the text from stdin: %s. Pass the text as "
				    "an argument instead", strerror(errno));
				node_free_wiped(text);
				return NULL;
			}
			n += (size_t)r;
		}
		text[n] = '\0';
		if (n > 0 && text[n - 1] == '\n')
			text[--n] = '\0';
		if (strlen(text) != n) {
			cli_err(c, "send: the text on stdin contains a NUL byte. Send text, not "
			    "binary data");
			node_free_wiped(text);
			return NULL;
		}
		return text;
	}
	for (int i = 0; i < npos; i++)
		total += strlen(pos[i]) + 1;
	if ((text = malloc(total)) == NULL)
		return NULL;
	text[0] = '\0';
	for (int i = 0; i < npos; i++) {
		if (i)
			strcat(text, " ");
		strcat(text, pos[i]);
	}
	return text;
}

int
ctl_send(struct cli *c, int argc, char **argv)
{
	const char *to = NULL, *prec_s = NULL, *life_s = NULL;
	const struct cli_opt opts[] = {
		{ "--to", &to, NULL },
		{ "--precedence", &prec_s, NULL },
		{ "--lifetime", &life_s, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[256];
	uint32_t lifetime = 0;
	cJSON *params;
	char *text;
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, opts, pos, 256, &npos)) != CLI_OK)
		return rc;
	/* Usage errors are the same with or without a daemon: let cmd_send say them. */
	if (!to || npos == 0 || (prec_s && precedence_parse(prec_s) < 0) ||
	    (life_s && cli_parse_duration(life_s, &lifetime) != 0) || (fd = ctl_open(c)) < 0)
		return cmd_send(c, argc, argv);
	if ((text = send_text(c, pos, npos)) == NULL) {
		close(fd);
		return CLI_FAIL;
	}
	if (text[0] == '\0') {
		node_free_wiped(text);
		close(fd);
		return cli_usage_err(c, "the text is empty");
	}
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "to", to);
	cJSON_AddStringToObject(params, "text", text);
	if (prec_s)
		cJSON_AddStringToObject(params, "precedence", prec_s);
	if (life_s)
		cJSON_AddNumberToObject(params, "lifetime", lifetime);
	sodium_memzero(text, strlen(text));
	node_free_wiped(text);
	return ctl_run(c, fd, "send", params, show_sent, NULL);
}

/* ---------------- import, export ---------------- */

/* path made absolute against the current directory (the daemon's is elsewhere). */
static int
absolute(struct cli *c, const char *path, char *out, size_t cap)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		if ((size_t)snprintf(out, cap, "%s", path) >= cap)
			return cli_err(c, "%s: the path %s is too long", c->verb, path);
		return CLI_OK;
	}
	if (!getcwd(cwd, sizeof cwd))
		return cli_err(c, "%s: cannot find the current directory: %s. Give an absolute "
		    "path", c->verb, strerror(errno));
	if ((size_t)snprintf(out, cap, "%s/%s", cwd, path) >= cap)
		return cli_err(c, "%s: the path %s is too long. Give a shorter one", c->verb, path);
	return CLI_OK;
}

static int
show_import(struct cli *c, const cJSON *res, void *ctx)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(res, "items"), *it;
	int rejected = (int)jint(res, "rejected", 0), enrolled = 0;

	(void)ctx;
	cJSON_ArrayForEach(it, items)
		if (strcmp(jstr(it, "type", ""), "enrollment") == 0 &&
		    strcmp(jstr(it, "reason", ""), "ok") == 0)
			enrolled = 1;
	if (c->json) {
		print_json(c, res);
	} else {
		cJSON_ArrayForEach(it, items) {
			const char *reason = jstr(it, "reason", "?"), *what = jstr(it, "what", "");

			if (strcmp(reason, "ok") != 0 && strcmp(reason, "duplicate") != 0 &&
			    strcmp(jstr(it, "type", ""), "enrollment") != 0)
				printf("refused #%lld (%s): %s\n", (long long)jint(it, "index", 0),
				    what[0] ? what : jstr(it, "type", "?"), reason);
		}
		if (enrolled)
			printf("Enrolled in network \"%s\".\n", jstr(res, "network", "?"));
		else
			printf("%s: %lld accepted, %lld %s, %d refused; %lld new %s, %lld %s\n",
			    jstr(res, "file", "?"), (long long)jint(res, "accepted", 0),
			    (long long)jint(res, "duplicates", 0),
			    cli_plural((int)jint(res, "duplicates", 0), "duplicate", "duplicates"),
			    rejected, (long long)jint(res, "new_messages", 0),
			    cli_plural((int)jint(res, "new_messages", 0), "message", "messages"),
			    (long long)jint(res, "receipts", 0),
			    cli_plural((int)jint(res, "receipts", 0), "receipt", "receipts"));
	}
	if (jbool(res, "ok"))
		return CLI_OK;
	if (rejected > 0)
		return cli_err(c, "import: %d of the bundles in %s %s refused (first reason: %s). "
		    "The others were kept; ask the sender for a fresh export, and see \"apagon "
		    "counters\"", rejected, jstr(res, "file", "?"), cli_plural(rejected, "was",
		    "were"), jstr(res, "error", "?"));
	return cli_err(c, "import: %s: %s. Check that the file is complete and meant for this "
	    "node and network", jstr(res, "file", "?"), jstr(res, "error", "?"));
}

int
ctl_import(struct cli *c, int argc, char **argv)
{
	const char *pos[1];
	char path[PATH_MAX];
	cJSON *params;
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, NULL, pos, 1, &npos)) != CLI_OK)
		return rc;
	if (npos != 1 || !cli_exists(pos[0]) || (fd = ctl_open(c)) < 0)
		return cmd_import(c, argc, argv);
	if ((rc = absolute(c, pos[0], path, sizeof path)) != CLI_OK) {
		close(fd);
		return rc;
	}
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "path", path);
	return ctl_run(c, fd, "import", params, show_import, NULL);
}

static int
show_export(struct cli *c, const cJSON *res, void *ctx)
{
	int count = (int)jint(res, "bundles", 0);

	(void)ctx;
	if (c->json) {
		print_json(c, res);
		return CLI_OK;
	}
	printf("Exported %d %s (%lld bytes) to %s.\n", count, cli_plural(count, "bundle", "bundles"),
	    (long long)jint(res, "bytes", 0), jstr(res, "file", "?"));
	printf("Carry it to another member, who runs: apagon import %s\n", jstr(res, "file", "?"));
	return CLI_OK;
}

int
ctl_export(struct cli *c, int argc, char **argv)
{
	const char *out = NULL;
	const struct cli_opt opts[] = { { "--out", &out, NULL }, { NULL, NULL, NULL } };
	char path[PATH_MAX];
	cJSON *params;
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if (!out || (fd = ctl_open(c)) < 0)
		return cmd_export(c, argc, argv);
	if ((rc = absolute(c, out, path, sizeof path)) != CLI_OK) {
		close(fd);
		return rc;
	}
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "path", path);
	return ctl_run(c, fd, "export", params, show_export, NULL);
}

/* ---------------- status, peers, watch ---------------- */

static int
need_daemon(struct cli *c, int *fd)
{
	const char *dir = cli_dir(c);

	if (!dir)
		return CLI_FAIL;
	if ((*fd = control_dial(dir)) < 0)
		return cli_err(c, "%s: no apagond is running for %s (its control.sock does not "
		    "answer). Start one with: apagond --dir %s", c->verb, dir, dir);
	return CLI_OK;
}

static void
age(int64_t secs, char *buf, size_t cap)
{
	if (secs < 120)
		snprintf(buf, cap, "%llds", (long long)secs);
	else if (secs < 7200)
		snprintf(buf, cap, "%lldm", (long long)secs / 60);
	else if (secs < 2 * 86400)
		snprintf(buf, cap, "%lldh", (long long)secs / 3600);
	else
		snprintf(buf, cap, "%lldd", (long long)secs / 86400);
}

static int
show_status(struct cli *c, const cJSON *res, void *ctx)
{
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(res, "node");
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(res, "links"), *l;
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(res, "messages");
	const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(res, "control");
	char up[32];

	(void)ctx;
	if (c->json) {
		print_json(c, res);
		return CLI_OK;
	}
	age(jint(res, "uptime", 0), up, sizeof up);
	printf("apagond serving \"%s\" (key ID %s) in %s, pid %lld, up %s\n",
	    jstr(node, "name", "?"), jstr(node, "key_id", "?"), jstr(node, "network", NULL) ?
	    jstr(node, "network", "?") : "no network yet (not enrolled)",
	    (long long)jint(res, "pid", 0), up);
	printf("messages: %lld in the inbox (%lld unread), %lld in the outbox (%lld on their "
	    "way, %lld delivered)\n", (long long)jint(msgs, "inbox", 0),
	    (long long)jint(msgs, "unread", 0), (long long)jint(msgs, "outbox", 0),
	    (long long)jint(msgs, "pending", 0), (long long)jint(msgs, "delivered", 0));
	if (cJSON_GetArraySize(links) == 0)
		printf("links: none configured (add a [mqtt NAME] section to apagon.conf)\n");
	else
		printf("links:\n");
	cJSON_ArrayForEach(l, links) {
		const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(l, "counters"), *k;
		int64_t rej = 0;

		printf("  %-16s %-10s %-24s %lld %s  %s\n", jstr(l, "name", "?"),
		    jstr(l, "state", "?"), jstr(l, "endpoint", "-"), (long long)jint(l, "peers", 0),
		    jint(l, "peers", 0) == 1 ? "peer " : "peers", jstr(l, "detail", ""));
		cJSON_ArrayForEach(k, cnt)
			if (strncmp(k->string, "rejected.", 9) == 0)
				rej += (int64_t)k->valuedouble;
		if (cnt)
			printf("  %-16s in %lld frames, out %lld frames, rejected %lld", "",
			    (long long)jint(cnt, "rx_frames", 0), (long long)jint(cnt, "tx_frames", 0),
			    (long long)rej);
		cJSON_ArrayForEach(k, cnt)
			if (strncmp(k->string, "rejected.", 9) == 0 && k->valuedouble > 0)
				printf(" %s=%lld", k->string + 9, (long long)k->valuedouble);
		if (cnt)
			printf(", reconnects %lld\n", (long long)jint(cnt, "disconnects", 0));
	}
	printf("control: %lld %s, %lld dropped (slow %lld, garbage %lld)\n",
	    (long long)jint(ctl, "clients", 0), jint(ctl, "clients", 0) == 1 ? "client" : "clients",
	    (long long)(jint(ctl, "dropped_overflow", 0) + jint(ctl, "dropped_garbage", 0)),
	    (long long)jint(ctl, "dropped_overflow", 0), (long long)jint(ctl, "dropped_garbage", 0));
	return CLI_OK;
}

static int
show_peers(struct cli *c, const cJSON *res, void *ctx)
{
	const cJSON *peers = cJSON_GetObjectItemCaseSensitive(res, "peers"), *p;
	char heard[32], who[96];

	(void)ctx;
	if (c->json) {
		print_json(c, res);
		return CLI_OK;
	}
	if (cJSON_GetArraySize(peers) == 0) {
		printf("No peers yet. Peers appear when other nodes reach the same broker.\n");
		return CLI_OK;
	}
	printf("%-16s %-16s %-10s %-28s %-8s %s\n", "LINK", "PEER", "SESSION", "MEMBER",
	    "HEARD", "FRAMES IN/OUT");
	cJSON_ArrayForEach(p, peers) {
		age(jint(p, "last_heard_ms", 0) / 1000, heard, sizeof heard);
		if (jstr(p, "member_key", NULL))
			snprintf(who, sizeof who, "%s (%s)", jstr(p, "member", "?"),
			    jstr(p, "member_key", "?"));
		else
			snprintf(who, sizeof who, "-");
		printf("%-16s %-16s %-10s %-28s %-8s %lld/%lld\n", jstr(p, "link", "?"),
		    jstr(p, "peer", "?"), jstr(p, "session", "?"), who, heard,
		    (long long)jint(p, "rx_frames", 0), (long long)jint(p, "tx_frames", 0));
	}
	return CLI_OK;
}

int
cmd_status(struct cli *c, int argc, char **argv)
{
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((rc = need_daemon(c, &fd)) != CLI_OK)
		return rc;
	return ctl_run(c, fd, "status", NULL, show_status, NULL);
}

int
cmd_peers(struct cli *c, int argc, char **argv)
{
	int fd, npos, rc;

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((rc = need_daemon(c, &fd)) != CLI_OK)
		return rc;
	return ctl_run(c, fd, "peers", NULL, show_peers, NULL);
}

static void
on_watch_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static void
show_event(struct cli *c, const char *method, const cJSON *p)
{
	char when[32];

	if (c->json) {
		cJSON *o = cJSON_Duplicate(p, 1);

		if (!o)
			return;
		cJSON_AddStringToObject(o, "event", method);
		print_json(c, o);
		cJSON_Delete(o);
		fflush(stdout);
		return;
	}
	cli_time(time(NULL), when, sizeof when);
	if (strcmp(method, "message.received") == 0) {
		printf("%s  message %s from %s (%s)\n", when, prec_upper(jstr(p, "precedence", "?")),
		    jstr(p, "from", "?"), jstr(p, "from_key", "?"));
		if (jstr(p, "text", NULL))
			cli_print_text(stdout, jstr(p, "text", ""), 4);
	} else if (strcmp(method, "message.state") == 0) {
		char idhex[17];

		snprintf(idhex, sizeof idhex, "%s", jstr(p, "id", "?"));
		printf("%s  message %s to %s: %s\n", when, idhex, jstr(p, "to", "?"),
		    jstr(p, "state_text", "?"));
	} else if (strcmp(method, "peer.up") == 0 || strcmp(method, "peer.down") == 0) {
		printf("%s  peer %s on %s %s\n", when, jstr(p, "peer", "?"), jstr(p, "link", "?"),
		    method[5] == 'u' ? "up" : "down");
	} else {
		printf("%s  %s\n", when, method);
	}
	fflush(stdout);
}

int
cmd_watch(struct cli *c, int argc, char **argv)
{
	struct reader r = { -1, NULL, 0, 0 };
	struct sigaction sa;
	int no_text = 0;
	const struct cli_opt opts[] = {
		{ "--no-text", NULL, &no_text },
		{ NULL, NULL, NULL },
	};
	static char outbuf[1 << 16];
	cJSON *resp, *params;
	char *line;
	int fd, npos, rc, own_buf;

	/* Events go out through a buffer of ours, wiped after each one: stdio's own
	 * would keep the last texts for as long as the watch runs. Before any output. */
	own_buf = setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf) == 0;
	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((rc = need_daemon(c, &fd)) != CLI_OK)
		return rc;
	r.fd = fd;
	params = cJSON_CreateObject();
	cJSON_AddBoolToObject(params, "text", !no_text);
	if ((resp = ctl_call(c, fd, &r, "subscribe", params)) == NULL) {
		close(fd);
		node_free_wiped(r.buf);
		return CLI_FAIL;
	}
	if (cJSON_GetObjectItemCaseSensitive(resp, "error")) {
		rc = ctl_error(c, resp);
		cJSON_Delete(resp);
		close(fd);
		node_free_wiped(r.buf);
		return rc;
	}
	cJSON_Delete(resp);
	if (!c->json)
		printf("Watching %s; Ctrl-C to stop.\n", cli_dir(c));
	fflush(stdout);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_watch_signal;        /* no SA_RESTART: read() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = CLI_OK;
	while (!watch_stop) {
		const cJSON *m, *p;
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (r.len == 0 && poll(&pfd, 1, -1) < 0)
			continue;       /* EINTR: the loop condition decides */
		if (watch_stop)
			break;
		if ((line = read_line(&r)) == NULL) {
			if (!watch_stop)
				rc = cli_err(c, "watch: the daemon closed the control socket (it stopped "
				    "or restarted). Run apagon watch again once it is back");
			break;
		}
		resp = cJSON_Parse(line);
		node_free_wiped(line);
		m = cJSON_GetObjectItemCaseSensitive(resp, "method");
		p = cJSON_GetObjectItemCaseSensitive(resp, "params");
		if (cJSON_IsString(m))
			show_event(c, m->valuestring, p);
		cJSON_Delete(resp);
		/* What was printed left stdout's buffer with the flush: wipe it. */
		if (own_buf)
			sodium_memzero(outbuf, sizeof outbuf);
	}
	node_free_wiped(r.buf);
	close(fd);
	c->json_written = 1;
	return rc;
}
