/*
 * A member's views: inbox, outbox, roster, safety-number, counters. They read the
 * node (inbox marks messages read; safety-number --verify sets the mark) and print
 * text or, with --json, one JSON document.
 */
#include "apagon.h"

#include <stdlib.h>
#include <string.h>

/* ---------------- inbox and outbox ---------------- */

struct listing {
	struct cli *c;
	struct json j;
	int count;
};

static void
on_inbox(void *ctx, const struct node_msg *m)
{
	struct listing *l = ctx;
	const struct msg_rec *r = m->rec;
	char kid[2 * APAGON_KEYID + 1], when[32];

	cli_key_id(kid, r->peer_pk);
	l->count++;
	if (l->c->json) {
		json_obj(&l->j, NULL);
		json_hex(&l->j, "id", r->bundle_id, APAGON_HASH);
		json_str(&l->j, "from", m->peer_name);
		json_str(&l->j, "from_key", kid);
		json_str(&l->j, "precedence", precedence_name(r->precedence));
		json_int(&l->j, "created", r->created);
		json_int(&l->j, "received", r->local_time);
		json_int(&l->j, "expires", r->expires_at);
		json_bool(&l->j, "signature_checked", 1);
		json_bool(&l->j, "key_verified", m->key_verified);
		json_bool(&l->j, "new", r->state == IN_UNREAD);
		json_str(&l->j, "text", m->text);
		json_end(&l->j);
		return;
	}
	if (l->count > 1)
		putchar('\n');
	printf("%s from %s (%s), signature checked, %s, written %s%s\n",
	    cli_prec_upper(r->precedence), m->peer_name, kid,
	    m->key_verified ? "key verified in person" : "key not yet compared in person",
	    cli_time(r->created, when, sizeof when), r->state == IN_UNREAD ? ", new" : "");
	if (m->text)
		cli_print_text(stdout, m->text, 4);
	else
		printf("    (the text cannot be read on this node)\n");
}

static const char *
out_state_word(int state)
{
	switch (state) {
	case OUT_QUEUED:    return "queued";
	case OUT_SENT:      return "sent";
	case OUT_DELIVERED: return "delivered";
	case OUT_EXPIRED:   return "expired";
	}
	return "unknown";
}

static void
on_outbox(void *ctx, const struct node_msg *m)
{
	struct listing *l = ctx;
	const struct msg_rec *r = m->rec;
	char kid[2 * APAGON_KEYID + 1], when[32], state[96], idhex[2 * APAGON_HASH + 1];

	cli_key_id(kid, r->peer_pk);
	node_hex(idhex, r->bundle_id, APAGON_HASH);
	node_msg_state(r, state, sizeof state);
	l->count++;
	if (l->c->json) {
		json_obj(&l->j, NULL);
		json_str(&l->j, "id", idhex);
		json_str(&l->j, "to", m->peer_name);
		json_str(&l->j, "to_key", kid);
		json_str(&l->j, "precedence", precedence_name(r->precedence));
		json_int(&l->j, "created", r->created);
		json_int(&l->j, "queued", r->local_time);
		json_int(&l->j, "expires", r->expires_at);
		json_str(&l->j, "state", out_state_word(r->state));
		json_str(&l->j, "state_text", state);
		json_int(&l->j, "sent_count", r->sent_count);
		json_int(&l->j, "exported", r->exported);
		if (r->state == OUT_DELIVERED)
			json_int(&l->j, "delivered", r->delivered_at);
		if (r->state == OUT_EXPIRED)
			json_str(&l->j, "reason", r->reason);
		json_str(&l->j, "text", m->text);
		json_end(&l->j);
		return;
	}
	if (l->count > 1)
		putchar('\n');
	idhex[16] = '\0';
	printf("[%s] %s to %s (%s), written %s, id %s\n", state, cli_prec_upper(r->precedence),
	    m->peer_name, kid, cli_time(r->created, when, sizeof when), idhex);
	if (m->text)
		cli_print_text(stdout, m->text, 4);
	else
		printf("    (the text cannot be read on this node)\n");
}

static int
list_messages(struct cli *c, int argc, char **argv, int out)
{
	struct listing l;
	struct node *n = NULL;
	const char *dir;
	int rc, npos;

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	memset(&l, 0, sizeof l);
	l.c = c;
	if (c->json) {
		json_start(&l.j, stdout);
		json_obj(&l.j, NULL);
		json_arr(&l.j, "messages");
	}
	rc = out ? node_outbox(n, on_outbox, &l) : node_inbox(n, on_inbox, &l);
	if (c->json) {
		json_end(&l.j);
		if (rc != 0)
			json_str(&l.j, "error", node_strerror(rc));
		json_end(&l.j);
		json_finish(&l.j);
		c->json_written = 1;
	} else if (rc == 0 && l.count == 0) {
		printf(out ? "The outbox is empty. Send with: apagon send --to NAME TEXT\n" :
		    "The inbox is empty. Messages arrive when you import other members' exports.\n");
	}
	if (rc != 0)
		rc = cli_err(c, "%s: cannot list the messages: %s. Check the node in %s", c->verb,
		    node_strerror(rc), dir);
	if (n)
		node_close(n);
	return rc;
}

int
cmd_inbox(struct cli *c, int argc, char **argv)
{
	return list_messages(c, argc, argv, 0);
}

int
cmd_outbox(struct cli *c, int argc, char **argv)
{
	return list_messages(c, argc, argv, 1);
}

/* ---------------- roster ---------------- */

struct roster_entry {
	struct member m;                /* chain pointer cleared */
	int revoked, is_me, has_prekey, name_shared;
};

struct roster {
	struct roster_entry *v;
	size_t n, cap;
	int oom;
};

static void
on_member(void *ctx, const struct node_member *nm)
{
	struct roster *r = ctx;
	struct roster_entry *e;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 32;
		struct roster_entry *v = realloc(r->v, cap * sizeof *v);

		if (!v) {
			r->oom = 1;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	e = &r->v[r->n++];
	e->m = *nm->m;
	e->m.chain = NULL;
	e->m.chain_len = 0;
	e->revoked = nm->revoked;
	e->is_me = nm->is_me;
	e->has_prekey = nm->has_prekey;
	e->name_shared = nm->name_shared;
}

/* Append ", word" (or "word" first) to a status line, never past cap. */
static void
status_add(char *buf, size_t cap, const char *word)
{
	size_t off = strlen(buf);

	if (off + 1 < cap)
		snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", word);
}

static void
roster_status(const struct roster_entry *e, int64_t now, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (e->is_me)
		status_add(buf, cap, "you");
	if (e->revoked)
		status_add(buf, cap, "REVOKED");
	if (e->m.not_after && (int64_t)e->m.not_after < now)
		status_add(buf, cap, "certificate expired");
	if (e->m.verified)
		status_add(buf, cap, "verified");
	if (!e->is_me && !e->has_prekey)
		status_add(buf, cap, "no prekey yet");
	if (e->name_shared)
		status_add(buf, cap, "NAME SHARED BY SEVERAL KEYS");
	if (!buf[0])
		snprintf(buf, cap, "-");
}

int
cmd_roster(struct cli *c, int argc, char **argv)
{
	struct roster r = { NULL, 0, 0, 0 };
	struct node *n = NULL;
	const char *dir;
	int rc, npos, wname = 4, wunit = 4, shared = 0;
	int64_t now = node_now();

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	if ((rc = node_roster(n, on_member, &r)) != 0) {
		rc = cli_err(c, "roster: cannot list the members: %s. Check the node in %s",
		    node_strerror(rc), dir);
		goto out;
	}
	if (r.oom)
		cli_warn("out of memory: the roster below is incomplete");
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "network", node_network_name(n));
		json_arr(&j, "members");
		for (size_t i = 0; i < r.n; i++) {
			const struct roster_entry *e = &r.v[i];

			json_obj(&j, NULL);
			json_str(&j, "name", e->m.name);
			json_str(&j, "unit", e->m.unit);
			json_str(&j, "role", cli_role_name(e->m.role));
			json_hex(&j, "key_id", e->m.key_id, APAGON_KEYID);
			json_hex(&j, "pk", e->m.pk, APAGON_SIGN_PK);
			json_int(&j, "first_seen", e->m.first_seen);
			json_int(&j, "not_before", e->m.not_before);
			json_int(&j, "not_after", e->m.not_after);
			json_bool(&j, "me", e->is_me);
			json_bool(&j, "revoked", e->revoked);
			json_bool(&j, "verified", e->m.verified);
			json_bool(&j, "has_prekey", e->has_prekey);
			json_bool(&j, "name_shared", e->name_shared);
			json_end(&j);
		}
		json_end(&j);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
		goto out;
	}
	if (node_network_name(n))
		printf("Network \"%s\", %zu %s known.\n", node_network_name(n), r.n,
		    cli_plural((int)r.n, "member", "members"));
	else
		printf("This node is not enrolled yet.\n");
	if (r.n == 0) {
		printf("No members known yet. Import an export from another member.\n");
		goto out;
	}
	for (size_t i = 0; i < r.n; i++) {
		int ln = (int)strlen(r.v[i].m.name), lu = (int)strlen(r.v[i].m.unit);

		wname = ln > wname ? ln : wname;
		wunit = lu > wunit ? lu : wunit;
		shared |= r.v[i].name_shared;
	}
	printf("%-*s  %-*s  %-8s  %-12s  %s\n", wname, "NAME", wunit, "UNIT", "ROLE", "KEY ID",
	    "STATUS");
	for (size_t i = 0; i < r.n; i++) {
		const struct roster_entry *e = &r.v[i];
		char kid[2 * APAGON_KEYID + 1], status[160];

		node_hex(kid, e->m.key_id, APAGON_KEYID);
		roster_status(e, now, status, sizeof status);
		printf("%-*s  %-*s  %-8s  %-12s  %s\n", wname, e->m.name, wunit,
		    e->m.unit[0] ? e->m.unit : "-", cli_role_name(e->m.role), kid, status);
	}
	if (shared)
		printf("warning: a name shared by several keys: apagon never replaces one by "
		    "another. Compare safety numbers with each (apagon safety-number KEYID) and "
		    "send to them by key ID.\n");
out:
	free(r.v);
	if (n)
		node_close(n);
	return rc;
}

/* ---------------- safety-number ---------------- */

int
cmd_safety(struct cli *c, int argc, char **argv)
{
	int verify = 0, unverify = 0;
	const struct cli_opt opts[] = {
		{ "--verify", NULL, &verify },
		{ "--unverify", NULL, &unverify },
		{ NULL, NULL, NULL },
	};
	const char *pos[1], *dir;
	uint8_t pk[APAGON_SIGN_PK];
	char digits[APAGON_SAFETY_DIGITS + 1], grouped[APAGON_SAFETY_DIGITS * 2];
	char name[APAGON_NAME_MAX + 1], kid[2 * APAGON_KEYID + 1], pick[128];
	struct node *n = NULL;
	int rc, npos, verified = 0;
	size_t g = 0;

	if ((rc = cli_parse(c, argc, argv, opts, pos, 1, &npos)) != CLI_OK)
		return rc;
	if (npos != 1)
		return cli_usage_err(c, "NAME or key ID is required");
	if (verify && unverify)
		return cli_usage_err(c, "--verify and --unverify exclude each other");
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	if ((rc = cli_need_enrolled(c, n, dir)) != CLI_OK)
		goto out;
	snprintf(pick, sizeof pick, "apagon safety-number KEYID%s",
	    verify ? " --verify" : unverify ? " --unverify" : "");
	if ((rc = cli_resolve(c, n, pos[0], pk, pick)) != CLI_OK)
		goto out;
	cli_key_id(kid, pk);
	if ((rc = node_safety_number(n, pk, digits)) != 0) {
		rc = cli_err(c, "safety-number: cannot compute it for %s: %s. Check \"apagon "
		    "roster\"", kid, node_strerror(rc));
		goto out;
	}
	if ((verify || unverify) && (rc = node_set_verified(n, pk, verify)) != 0) {
		rc = cli_err(c, "safety-number: cannot mark %s %s: %s. Try again", kid,
		    verify ? "verified" : "unverified", node_strerror(rc));
		goto out;
	}
	cli_member_name(n, pk, name, sizeof name, pos[0], &verified);
	for (int i = 0; i < APAGON_SAFETY_DIGITS; i++) {
		if (i && i % 5 == 0)
			grouped[g++] = ' ';
		grouped[g++] = digits[i];
	}
	grouped[g] = '\0';
	if (c->json) {
		struct json j;

		json_start(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "name", name);
		json_str(&j, "key_id", kid);
		json_str(&j, "safety_number", digits);
		json_str(&j, "grouped", grouped);
		json_bool(&j, "verified", verified);
		json_end(&j);
		json_finish(&j);
		c->json_written = 1;
	} else {
		printf("Safety number with %s (%s):\n", name, kid);
		printf("  %s\n", grouped);
		if (verify)
			printf("Marked %s (%s) verified.\n", name, kid);
		else if (unverify)
			printf("Cleared the verified mark of %s (%s).\n", name, kid);
		else if (verified)
			printf("%s is marked verified.\n", name);
		else
			printf("Compare it with %s in person; if every digit matches, run:\n"
			    "  apagon --dir %s safety-number %s --verify\n", name, dir, kid);
	}
out:
	if (n)
		node_close(n);
	return rc;
}

/* ---------------- counters ---------------- */

static void
on_counter(void *ctx, const char *name, int64_t val)
{
	struct listing *l = ctx;

	l->count++;
	if (l->c->json)
		json_int(&l->j, name, val);
	else
		printf("%-32s %lld\n", name, (long long)val);
}

int
cmd_counters(struct cli *c, int argc, char **argv)
{
	struct listing l;
	struct node *n = NULL;
	const char *dir;
	int rc, npos;

	if ((rc = cli_parse(c, argc, argv, NULL, NULL, 0, &npos)) != CLI_OK)
		return rc;
	if ((rc = cli_open_node(c, &n, &dir)) != CLI_OK)
		return rc;
	memset(&l, 0, sizeof l);
	l.c = c;
	if (c->json) {
		json_start(&l.j, stdout);
		json_obj(&l.j, NULL);
		json_obj(&l.j, "counters");
	}
	rc = node_counters(n, on_counter, &l);
	if (c->json) {
		json_end(&l.j);
		if (rc != 0)
			json_str(&l.j, "error", node_strerror(rc));
		json_end(&l.j);
		json_finish(&l.j);
		c->json_written = 1;
	} else if (rc == 0 && l.count == 0) {
		printf("No counters yet: nothing was imported.\n");
	}
	if (rc != 0)
		rc = cli_err(c, "counters: cannot read them: %s. Check the node in %s",
		    node_strerror(rc), dir);
	if (n)
		node_close(n);
	return rc;
}
