/*
 * A member's verbs that change things: init, request, import, export, send; and the
 * helpers the views share (resolving a member by name or key ID). Each verb opens the
 * node (which runs node_maintain()), does one thing through node/node.h and prints
 * text or, with --json, one JSON document.
 */
#include "apagon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Biggest file import reads: a full store's export fits comfortably. */
#define CLI_IMPORT_MAX (256u << 20)

const char *
cli_role_name(int role)
{
	return role == ROLE_ENROLLER ? "enroller" : role == ROLE_MEMBER ? "member" : "?";
}

int
cli_need_enrolled(struct cli *c, struct node *n, const char *dir)
{
	if (node_netkeys(n) != NULL)
		return CLI_OK;
	return cli_err(c, "%s: the node in %s is not enrolled in a network yet. Write a request "
	    "(apagon --dir %s request --out FILE), have an enroller enroll it, then import the "
	    "enrollment file", c->verb, dir, dir);
}

/* ---------------- resolving a member ---------------- */

struct candidate {
	char name[APAGON_NAME_MAX + 1];
	char unit[APAGON_NAME_MAX + 1];
	uint8_t pk[APAGON_SIGN_PK];
	uint8_t key_id[APAGON_KEYID];
	int64_t first_seen;
};

struct candidates {
	struct candidate c[32];
	int n, more;
};

static void
collect_candidate(void *ctx, const struct member *m)
{
	struct candidates *cs = ctx;
	struct candidate *k;

	if (cs->n >= (int)(sizeof cs->c / sizeof cs->c[0])) {
		cs->more++;
		return;
	}
	k = &cs->c[cs->n++];
	snprintf(k->name, sizeof k->name, "%s", m->name);
	snprintf(k->unit, sizeof k->unit, "%s", m->unit);
	memcpy(k->pk, m->pk, sizeof k->pk);
	memcpy(k->key_id, m->key_id, sizeof k->key_id);
	k->first_seen = m->first_seen;
}

/*
 * Resolve NAME or a hex key ID. On a shared name, list every candidate and tell the
 * user how to pick one: `pick` is the command with "KEYID" where the ID goes.
 */
int
cli_resolve(struct cli *c, struct node *n, const char *who,
    uint8_t pk[APAGON_SIGN_PK], const char *pick)
{
	struct candidates *cs;
	char id[2 * APAGON_KEYID + 1], when[32];
	int rc;

	if ((cs = calloc(1, sizeof *cs)) == NULL)
		return cli_err(c, "%s: out of memory. Close other programs and try again", c->verb);
	rc = node_resolve(n, who, pk, collect_candidate, cs);
	if (rc == 0) {
		free(cs);
		return CLI_OK;
	}
	if (rc == MESH_EAMBIGUOUS) {
		if (c->json) {
			struct json j;
			char msg[256];

			snprintf(msg, sizeof msg, "\"%s\" matches %d members; pick one by key ID",
			    who, cs->n + cs->more);
			json_start(&j, stdout);
			json_obj(&j, NULL);
			json_str(&j, "error", msg);
			json_arr(&j, "candidates");
			for (int i = 0; i < cs->n; i++) {
				json_obj(&j, NULL);
				json_str(&j, "name", cs->c[i].name);
				json_str(&j, "unit", cs->c[i].unit);
				json_hex(&j, "key_id", cs->c[i].key_id, APAGON_KEYID);
				json_hex(&j, "pk", cs->c[i].pk, APAGON_SIGN_PK);
				json_int(&j, "first_seen", cs->c[i].first_seen);
				json_end(&j);
			}
			json_end(&j);
			json_end(&j);
			json_finish(&j);
			c->json_written = 1;
		}
		cli_err(c, "%s: \"%s\" matches %d members (a name shared by several keys). "
		    "Compare safety numbers, then pick one by key ID: %s", c->verb, who,
		    cs->n + cs->more, pick);
		for (int i = 0; i < cs->n; i++) {
			node_hex(id, cs->c[i].key_id, APAGON_KEYID);
			fprintf(stderr, "  %-16s unit %-12s key ID %s  first seen %s\n",
			    cs->c[i].name, cs->c[i].unit[0] ? cs->c[i].unit : "-", id,
			    cli_time(cs->c[i].first_seen, when, sizeof when));
		}
		if (cs->more)
			fprintf(stderr, "  ... and %d more\n", cs->more);
		free(cs);
		return CLI_FAIL;
	}
	free(cs);
	if (rc == MESH_ENOTFOUND)
		return cli_err(c, "%s: no member matches \"%s\". List the members you know with "
		    "\"apagon roster\"; to reach someone new, import an export that carries their "
		    "certificate (a key ID needs at least 6 hex digits)", c->verb, who);
	return cli_err(c, "%s: cannot look up \"%s\": %s. Check the name or key ID", c->verb,
	    who, node_strerror(rc));
}

/* The member's name for messages, or `fallback`. */
void
cli_member_name(struct node *n, const uint8_t pk[APAGON_SIGN_PK], char *out,
    size_t cap, const char *fallback, int *verified)
{
	struct member m;

	if (store_get_member(node_store(n), pk, &m) == MESH_OK) {
		snprintf(out, cap, "%s", m.name);
		if (verified)
			*verified = m.verified;
	} else {
		snprintf(out, cap, "%s", fallback);
		if (verified)
			*verified = 0;
	}
}

/* ---------------- init ---------------- */

int
cmd_init(struct cli *c, int argc, char **argv)
{
	const char *name = NULL, *dir, *pass = NULL;
	const struct cli_opt opts[] = { { "--name", &name, NULL }, { NULL, NULL, NULL } };
	char path[4096], what[4200], id[2 * APAGON_KEYID + 1];
	struct node *n = NULL;
	int rc, npos;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if (!name)
		return cli_usage_err(c, "--name NAME is required");
	if (!name_valid(name, APAGON_NAME_MAX, 0))
		return cli_usage_err(c, "the name must be 1..%d bytes of printable UTF-8 without "
		    "control characters", APAGON_NAME_MAX);
	if ((dir = cli_dir(c)) == NULL)
		return CLI_FAIL;
	snprintf(path, sizeof path, "%s/identity.key", dir);
	if (cli_exists(path))
		return cli_err(c, "init: %s already holds a node (identity.key). Keep using it, or "
		    "pick another directory with --dir", dir);
	snprintf(path, sizeof path, "%s/authority.key", dir);
	if (cli_exists(path))
		return cli_err(c, "init: %s holds a network authority. Keep members and the "
		    "authority apart: pick another directory with --dir", dir);
	if (cli_mkdir(c, dir) != CLI_OK)
		return CLI_FAIL;
	snprintf(what, sizeof what, "the new node \"%s\" in %s", name, dir);
	if (!c->no_passphrase && (pass = cli_passphrase(c, what, 1)) == NULL)
		return CLI_FAIL;
	rc = node_init(dir, name, pass, c->no_passphrase ? KEYFILE_NONE : KEYFILE_INTERACTIVE);
	if (rc == NODE_SYS_ERR(EEXIST)) {
		rc = cli_err(c, "init: %s already holds a node. Keep using it, or pick another "
		    "directory with --dir", dir);
		goto out;
	}
	if (rc != 0) {
		rc = cli_err(c, "init: cannot create a node in %s: %s. Check that the directory is "
		    "writable", dir, node_strerror(rc));
		goto out;
	}
	if (c->no_passphrase)
		cli_warn("the identity key in %s is stored unprotected (--no-passphrase): anyone "
		    "who can read that directory can act as \"%s\". Use this only for an "
		    "unattended relay", dir, name);
	/* Open it once: shows the key ID and lets housekeeping make the first prekey. */
	if ((rc = node_open(&n, dir, pass)) != 0) {
		rc = cli_err(c, "init: the node was created in %s but does not open: %s. Run "
		    "\"apagon --dir %s roster\" to check it", dir, node_strerror(rc), dir);
		goto out;
	}
	if ((rc = node_maintain(n, node_now())) != 0)
		cli_warn("housekeeping in %s failed: %s; carrying on", dir, node_strerror(rc));
	cli_key_id(id, node_pk(n));
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "name", name);
		json_str(&j, "dir", dir);
		json_str(&j, "key_id", id);
		json_hex(&j, "pk", node_pk(n), APAGON_SIGN_PK);
		json_bool(&j, "protected", !c->no_passphrase);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Created node \"%s\" in %s.\n", name, dir);
		printf("Key ID: %s\n", id);
		printf("Next, write an enrollment request and take it to your enroller:\n");
		printf("  apagon --dir %s request --out %s.req\n", dir, name);
	}
	rc = CLI_OK;
out:
	cli_wipe_passphrase();
	if (n)
		node_close(n);
	return rc;
}

/* ---------------- request ---------------- */

int
cmd_request(struct cli *c, int argc, char **argv)
{
	const char *out = NULL, *dir;
	const struct cli_opt opts[] = { { "--out", &out, NULL }, { NULL, NULL, NULL } };
	uint8_t buf[APAGON_REQUEST_MAX];
	char id[2 * APAGON_KEYID + 1];
	struct node *n = NULL;
	int rc, npos, len;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if (!out)
		return cli_usage_err(c, "--out FILE is required");
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	if ((len = node_request(n, buf, sizeof buf)) < 0) {
		rc = cli_err(c, "request: cannot build the request: %s. Check the node in %s",
		    node_strerror(len), dir);
		goto out;
	}
	/* A request holds only public data: 0644 so it can be copied around freely. */
	if ((rc = cli_write(c, out, buf, (size_t)len, 0644)) != CLI_OK)
		goto out;
	cli_key_id(id, node_pk(n));
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "file", out);
		json_str(&j, "name", node_name(n));
		json_str(&j, "key_id", id);
		json_int(&j, "bytes", len);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		if (node_network_name(n))
			printf("Note: this node is already enrolled in \"%s\"; a new request is only "
			    "needed to renew or change the enrollment.\n", node_network_name(n));
		printf("Wrote the enrollment request of \"%s\" (key ID %s) to %s.\n",
		    node_name(n), id, out);
		printf("Take it to your enroller or network authority, who runs:\n");
		printf("  apagon admin --dir ADMIN enroll --request %s --out %s.enr\n", out,
		    node_name(n));
		printf("then import the enrollment file they hand back:\n");
		printf("  apagon --dir %s import %s.enr\n", dir, node_name(n));
	}
out:
	if (n)
		node_close(n);
	return rc;
}

/* ---------------- import ---------------- */

struct seen_item {
	int index, reason, type, key_conflict;
	uint8_t id[APAGON_HASH];
	char what[160];
};

struct seen {
	struct seen_item *v;
	size_t n, cap;
	int oom;
};

static void
on_import_item(void *ctx, const struct import_item *it)
{
	struct seen *s = ctx;
	struct seen_item *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct seen_item *v = realloc(s->v, cap * sizeof *v);

		if (v == NULL) {
			s->oom = 1;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	e->index = it->index;
	e->reason = it->reason;
	e->type = it->type;
	e->key_conflict = it->key_conflict;
	memcpy(e->id, it->id, sizeof e->id);
	snprintf(e->what, sizeof e->what, "%s", it->what ? it->what : "");
}

static const char *
item_type_name(int type)
{
	if (type == -2)
		return "enrollment";
	if (type < 0)
		return "unreadable";
	return bundle_type_name(type);
}

static void
print_enrolled(struct node *n, const char *dir)
{
	const struct chain *ch = node_chain(n);
	const struct cert *leaf;
	char id[2 * APAGON_KEYID + 1], until[32];

	if (!ch || ch->n < 1)
		return;
	leaf = &ch->c[ch->n - 1];
	cli_key_id(id, leaf->subject);
	printf("Enrolled in network \"%s\" as \"%s\" (unit %s, %s, key ID %s), valid until %s.\n",
	    node_network_name(n) ? node_network_name(n) : "?", leaf->name,
	    leaf->unit[0] ? leaf->unit : "-", cli_role_name(leaf->role), id,
	    cli_time(leaf->not_after, until, sizeof until));
	printf("Next, export your certificate and prekey for the other members:\n");
	printf("  apagon --dir %s export --out %s.apg\n", dir, leaf->name);
}

int
cmd_import(struct cli *c, int argc, char **argv)
{
	const char *pos[1], *dir, *file;
	struct import_summary sum;
	struct seen seen = { NULL, 0, 0, 0 };
	struct node *n = NULL;
	uint8_t *buf = NULL;
	size_t len;
	enum file_kind kind;
	int rc, npos, irc, enrolled = 0;

	if ((rc = cli_parse(c, argc, argv, NULL, pos, 1, &npos)) != CLI_OK)
		return rc;
	if (npos != 1)
		return cli_usage_err(c, "FILE is required");
	file = pos[0];
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	if ((rc = cli_read(c, file, CLI_IMPORT_MAX, &buf, &len)) != CLI_OK)
		goto out;
	switch ((kind = file_detect(buf, len))) {
	case FILE_REQUEST:
		rc = cli_err(c, "import: %s is an enrollment request; it goes to an enroller, who "
		    "runs: apagon admin --dir ADMIN enroll --request %s --out FILE", file, file);
		goto out;
	case FILE_UNKNOWN:
		rc = cli_err(c, "import: %s is not an apagon file (no enrollment, export or "
		    "revocation header). Check that you picked the right file", file);
		goto out;
	case FILE_BUNDLES:
		if ((rc = cli_need_enrolled(c, n, dir)) != CLI_OK)
			goto out;
		break;
	case FILE_ENROLLMENT:
		break;
	}
	memset(&sum, 0, sizeof sum);
	irc = node_import(n, buf, len, node_now(), on_import_item, &seen, &sum);
	for (size_t i = 0; i < seen.n; i++)
		if (seen.v[i].type == -2 && seen.v[i].reason == MESH_OK)
			enrolled = 1;

	if (c->json && (irc == 0 || seen.n > 0)) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "file", file);
		json_bool(&j, "ok", irc == 0);
		if (irc != 0)
			json_str(&j, "error", node_strerror(irc));
		json_int(&j, "accepted", sum.accepted);
		json_int(&j, "duplicates", sum.duplicates);
		json_int(&j, "rejected", sum.rejected);
		json_int(&j, "new_messages", sum.delivered);
		json_int(&j, "receipts", sum.receipts);
		if (enrolled && node_network_name(n))
			json_str(&j, "enrolled_in", node_network_name(n));
		json_arr(&j, "items");
		for (size_t i = 0; i < seen.n; i++) {
			const struct seen_item *e = &seen.v[i];

			json_obj(&j, NULL);
			json_int(&j, "index", e->index);
			json_str(&j, "type", item_type_name(e->type));
			if (e->type >= 0)
				json_hex(&j, "id", e->id, APAGON_HASH);
			json_str(&j, "reason", mesh_reason_name(e->reason));
			json_str(&j, "what", e->what);
			json_bool(&j, "key_conflict", e->key_conflict);
			json_end(&j);
		}
		json_end(&j);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else if (!c->json) {
		for (size_t i = 0; i < seen.n; i++) {
			const struct seen_item *e = &seen.v[i];

			if (e->reason != MESH_OK && e->reason != MESH_EDUPLICATE && e->type != -2)
				printf("refused #%d (%s): %s: %s\n", e->index,
				    e->what[0] ? e->what : item_type_name(e->type),
				    mesh_reason_name(e->reason), node_strerror(e->reason));
			if (e->key_conflict && e->reason == MESH_OK)
				printf("warning: #%d (%s): a second key now answers to the name of a "
				    "member you know. Compare safety numbers with each of them (apagon "
				    "roster, then apagon safety-number KEYID) and send to them by key "
				    "ID\n", e->index, e->what[0] ? e->what : item_type_name(e->type));
		}
		if (enrolled)
			print_enrolled(n, dir);
		/* An enrollment file says "Enrolled ..." above; counts are for bundle files. */
		if (kind == FILE_BUNDLES && (irc == 0 || seen.n > 0))
			printf("%s: %d accepted, %d %s, %d refused; %d new %s, %d %s\n", file,
			    sum.accepted, sum.duplicates,
			    cli_plural(sum.duplicates, "duplicate", "duplicates"), sum.rejected,
			    sum.delivered, cli_plural(sum.delivered, "message", "messages"),
			    sum.receipts, cli_plural(sum.receipts, "receipt", "receipts"));
	}
	if (seen.oom)
		cli_warn("out of memory while listing items; some refused bundles are not shown");
	if (irc == 0) {
		rc = CLI_OK;
	} else if (kind == FILE_ENROLLMENT) {
		rc = cli_err(c, "import: the enrollment file %s was refused: %s. It must be made "
		    "from this node's own request (apagon request) by an enroller of the network; "
		    "ask your enroller for the right file", file, node_strerror(irc));
	} else if (sum.rejected > 0) {
		rc = cli_err(c, "import: %d of the bundles in %s %s refused (first reason: %s). "
		    "The others were kept; ask the sender for a fresh export, and see \"apagon "
		    "counters\"", sum.rejected, file, cli_plural(sum.rejected, "was", "were"),
		    node_strerror(irc));
	} else {
		rc = cli_err(c, "import: %s: %s. Check that the file is complete and meant for "
		    "this node and network", file, node_strerror(irc));
	}
out:
	free(seen.v);
	free(buf);
	if (n)
		node_close(n);
	return rc;
}

/* ---------------- export ---------------- */

int
cmd_export(struct cli *c, int argc, char **argv)
{
	const char *out = NULL, *dir;
	const struct cli_opt opts[] = { { "--out", &out, NULL }, { NULL, NULL, NULL } };
	struct node *n = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc, npos, count = 0;

	if ((rc = cli_parse(c, argc, argv, opts, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if (!out)
		return cli_usage_err(c, "--out FILE is required");
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	if ((rc = cli_need_enrolled(c, n, dir)) != CLI_OK)
		goto out;
	/* Exports carry the network's traffic: node_export writes them mode 0600. */
	if ((rc = node_export(n, node_now(), out, &buf, &len, &count)) != 0) {
		rc = cli_err(c, "export: cannot write %s: %s. Check that its directory exists and "
		    "is writable, and the node in %s", out, node_strerror(rc), dir);
		goto out;
	}
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "file", out);
		json_int(&j, "bundles", count);
		json_int(&j, "bytes", (int64_t)len);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Exported %d %s (%zu bytes) to %s.\n", count,
		    cli_plural(count, "bundle", "bundles"), len, out);
		printf("Carry it to another member, who runs: apagon import %s\n", out);
	}
out:
	free(buf);
	if (n)
		node_close(n);
	return rc;
}

/* ---------------- send ---------------- */

/* Read the message text from stdin, without one trailing newline. */
static int
read_stdin_text(struct cli *c, char **out)
{
	size_t n = 0, cap = APAGON_MAX_TEXT + 2;
	char *buf = malloc(cap);
	ssize_t r;

	if (!buf)
		return cli_err(c, "send: out of memory. Close other programs and try again");
	while (n < cap - 1 && (r = read(STDIN_FILENO, buf + n, cap - 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			node_free_wiped(buf);
			return cli_err(c, "send: cannot read the text from stdin: %s. Pass the text "
			    "as an argument instead", strerror(errno));
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (strlen(buf) != n) {
		node_free_wiped(buf);
		return cli_err(c, "send: the text on stdin contains a NUL byte. Send text, not "
		    "binary data");
	}
	*out = buf;
	return CLI_OK;
}

static void
format_duration(uint32_t s, char *buf, size_t cap)
{
	if (s % (7 * 86400) == 0 && s >= 14 * 86400)
		snprintf(buf, cap, "%uw", s / (7 * 86400));
	else if (s % 86400 == 0)
		snprintf(buf, cap, "%ud", s / 86400);
	else if (s % 3600 == 0)
		snprintf(buf, cap, "%uh", s / 3600);
	else if (s % 60 == 0)
		snprintf(buf, cap, "%um", s / 60);
	else
		snprintf(buf, cap, "%us", s);
}

int
cmd_send(struct cli *c, int argc, char **argv)
{
	const char *to = NULL, *prec_s = NULL, *life_s = NULL, *dir;
	const struct cli_opt opts[] = {
		{ "--to", &to, NULL },
		{ "--precedence", &prec_s, NULL },
		{ "--lifetime", &life_s, NULL },
		{ NULL, NULL, NULL },
	};
	const char *pos[256];
	uint8_t pk[APAGON_SIGN_PK], id[APAGON_HASH];
	char idhex[2 * APAGON_HASH + 1], kid[2 * APAGON_KEYID + 1];
	char name[APAGON_NAME_MAX + 1], life[32], pick[300];
	struct node *n = NULL;
	char *text = NULL;
	uint32_t lifetime = NODE_DEFAULT_LIFETIME;
	int rc, npos, prec = PREC_ROUTINE;

	if ((rc = cli_parse(c, argc, argv, opts, pos, 256, &npos)) != CLI_OK)
		return rc;
	if (!to)
		return cli_usage_err(c, "--to NAME|ID is required");
	if (prec_s && (prec = precedence_parse(prec_s)) < 0)
		return cli_usage_err(c, "unknown precedence \"%s\": use flash, immediate, priority "
		    "or routine", prec_s);
	if (life_s && cli_parse_duration(life_s, &lifetime) != 0)
		return cli_usage_err(c, "bad lifetime \"%s\": use seconds or a number with m, h, d "
		    "or w (30m, 2h, 7d, 1w), at most 63w", life_s);
	if (npos == 0)
		return cli_usage_err(c, "TEXT is required (or \"-\" to read it from stdin)");
	if (npos == 1 && strcmp(pos[0], "-") == 0) {
		if ((rc = read_stdin_text(c, &text)) != CLI_OK)
			return rc;
	} else {
		size_t total = 1;

		for (int i = 0; i < npos; i++)
			total += strlen(pos[i]) + 1;
		if ((text = malloc(total)) == NULL)
			return cli_err(c, "send: out of memory. Close other programs and try again");
		text[0] = '\0';
		for (int i = 0; i < npos; i++) {
			if (i)
				strcat(text, " ");
			strcat(text, pos[i]);
		}
	}
	if (text[0] == '\0') {
		node_free_wiped(text);
		return cli_usage_err(c, "the text is empty");
	}
	if (strlen(text) > APAGON_MAX_TEXT) {
		rc = cli_err(c, "send: the text is longer than one message holds (%d bytes). "
		    "Split it into several messages", (int)APAGON_MAX_TEXT);
		node_free_wiped(text);
		return rc;
	}
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		goto out;
	if ((rc = cli_need_enrolled(c, n, dir)) != CLI_OK)
		goto out;
	snprintf(pick, sizeof pick, "apagon send --to KEYID%s%s ...",
	    prec_s ? " --precedence " : "", prec_s ? prec_s : "");
	if ((rc = cli_resolve(c, n, to, pk, pick)) != CLI_OK)
		goto out;
	cli_member_name(n, pk, name, sizeof name, to, NULL);
	cli_key_id(kid, pk);
	rc = node_send(n, pk, prec, text, lifetime, node_now(), id);
	if (rc == NODE_ESELF) {
		rc = cli_err(c, "send: %s (%s) is this node's own key. Send to another member",
		    name, kid);
		goto out;
	}
	if (rc == MESH_ENOPREKEY) {
		rc = cli_err(c, "send: no prekey known for %s (%s) yet, so nothing can be sealed "
		    "for them: import an export from that member first", name, kid);
		goto out;
	}
	if (rc != 0) {
		rc = cli_err(c, "send: cannot queue the message for %s (%s): %s. Check \"apagon "
		    "roster\" for their status", name, kid, node_strerror(rc));
		goto out;
	}
	node_hex(idhex, id, sizeof id);
	format_duration(lifetime, life, sizeof life);
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "id", idhex);
		json_str(&j, "to", name);
		json_str(&j, "to_key", kid);
		json_str(&j, "precedence", precedence_name(prec));
		json_int(&j, "lifetime", lifetime);
		json_str(&j, "state", "queued");
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Message %s to %s (%s): queued\n", idhex, name, kid);
		printf("%s, lifetime %s. Export to carry it: apagon --dir %s export --out FILE\n",
		    cli_prec_upper(prec), life, dir);
	}
	rc = CLI_OK;
out:
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	if (n)
		node_close(n);
	return rc;
}
