/*
 * What users look at: inbox and outbox (decrypted in memory, on demand), the roster,
 * name resolution and safety numbers.
 */
#include "node_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

const char *
node_msg_state(const struct msg_rec *m, char *buf, size_t cap)
{
	switch (m->state) {
	case OUT_QUEUED:
		snprintf(buf, cap, "queued");
		break;
	case OUT_SENT: {
		char exp[32] = "";

		if (m->exported == 1)
			snprintf(exp, sizeof exp, "exported");
		else if (m->exported > 1)
			snprintf(exp, sizeof exp, "exported %d times", m->exported);
		if (m->sent_count > 0)
			snprintf(buf, cap, "sent to %d peer%s%s%s", m->sent_count,
			    m->sent_count == 1 ? "" : "s", exp[0] ? ", " : "", exp);
		else
			snprintf(buf, cap, "%s", exp[0] ? exp : "sent");
		break;
	}
	case OUT_DELIVERED:
		snprintf(buf, cap, "delivered");
		break;
	case OUT_EXPIRED:
		snprintf(buf, cap, "expired: %s", m->reason[0] ? m->reason : "lifetime ended");
		break;
	case IN_UNREAD:
		snprintf(buf, cap, "unread");
		break;
	case IN_READ:
		snprintf(buf, cap, "read");
		break;
	default:
		snprintf(buf, cap, "unknown state %d", m->state);
	}
	return buf;
}

struct msg_walk {
	struct node *n;
	void (*fn)(void *, const struct node_msg *);
	void *ctx;
	uint8_t (*unread)[APAGON_HASH];
	int nunread, capunread;
	int err;
};

static int
show_msg(void *ctx, const struct msg_rec *rec)
{
	struct msg_walk *mw = ctx;
	struct node_msg nm;
	struct member m;
	char *text = NULL;
	size_t tcap;

	memset(&nm, 0, sizeof nm);
	nm.rec = rec;
	if (store_get_member(mw->n->st, rec->peer_pk, &m) == MESH_OK) {
		nm.peer_name = m.name;
		nm.key_verified = m.verified;
	} else {
		nm.peer_name = "?";
	}
	tcap = rec->sealed_len >= APAGON_LOCAL_OVERHEAD ? rec->sealed_len - APAGON_LOCAL_OVERHEAD + 1 : 0;
	if (tcap && (text = (char *)node_plain_get(mw->n, tcap)) != NULL) {
		if (crypto_local_open((uint8_t *)text, rec->sealed_text, rec->sealed_len,
		    mw->n->local_key) == 0) {
			text[tcap - 1] = '\0';
			nm.text = text;
		}
	}
	mw->fn(mw->ctx, &nm);
	node_plain_put(mw->n, (uint8_t *)text, tcap);    /* wiped: it never outlives the callback */
	if (rec->state == IN_UNREAD) {
		if (mw->nunread == mw->capunread) {
			int nc = mw->capunread ? 2 * mw->capunread : 16;
			void *p = realloc(mw->unread, sizeof *mw->unread * (size_t)nc);

			if (!p)
				return mw->err = MESH_ENOMEM;
			mw->unread = p;
			mw->capunread = nc;
		}
		memcpy(mw->unread[mw->nunread++], rec->bundle_id, APAGON_HASH);
	}
	return 0;
}

static int
walk(struct node *n, int dir, void (*fn)(void *, const struct node_msg *), void *ctx)
{
	struct msg_walk mw = { .n = n, .fn = fn, .ctx = ctx };
	int rc = store_each_msg(n->st, dir, show_msg, &mw);

	if (rc >= 0 && mw.err)
		rc = mw.err;
	for (int i = 0; rc >= 0 && i < mw.nunread; i++)
		rc = store_msg_set_state(n->st, mw.unread[i], IN_READ, 0, NULL);
	free(mw.unread);
	return rc < 0 ? rc : MESH_OK;
}

int
node_inbox(struct node *n, void (*fn)(void *, const struct node_msg *), void *ctx)
{
	return walk(n, MSG_IN, fn, ctx);
}

int
node_outbox(struct node *n, void (*fn)(void *, const struct node_msg *), void *ctx)
{
	return walk(n, MSG_OUT, fn, ctx);
}

/* Revoked, or issued by someone revoked: the acceptance path's own rule. */
static int
member_revoked(struct node *n, const struct member *m)
{
	struct chain ch;

	if (!n->enrolled || chain_decode(&ch, m->chain, m->chain_len) != MESH_OK)
		return 0;
	return accept_chain_revoked(n->st, n->nk.authority_pk, &ch);
}

int
node_member_revoked(struct node *n, const uint8_t pk[APAGON_SIGN_PK])
{
	struct member m;

	return store_get_member(n->st, pk, &m) == MESH_OK && member_revoked(n, &m);
}

int
node_peer_revoked(struct node *n, const struct session *s)
{
	const uint8_t *pk = session_peer(s);
	const struct chain *ch = session_peer_chain(s);

	if (!pk)
		return 0;
	/* The stored certificate may be newer than the one the peer showed, and the
	 * shown chain is there even when nothing was stored: either revoked is enough. */
	return node_member_revoked(n, pk) ||
	    (ch && n->enrolled && accept_chain_revoked(n->st, n->nk.authority_pk, ch));
}

struct roster_walk {
	struct node *n;
	void (*fn)(void *, const struct node_member *);
	void *ctx;
};

static int
count_member(void *ctx, const struct member *m)
{
	(void)m;
	(*(int *)ctx)++;
	return 0;
}

static int
roster_one(void *ctx, const struct member *m)
{
	struct roster_walk *rw = ctx;
	struct node_member nm;
	struct peer_prekey pp;
	char name[APAGON_NAME_MAX + 1];
	int same = 0;

	memcpy(name, m->name, sizeof name);
	memset(&nm, 0, sizeof nm);
	nm.m = m;
	nm.revoked = member_revoked(rw->n, m);
	nm.is_me = memcmp(m->pk, rw->n->pk, APAGON_SIGN_PK) == 0;
	nm.has_prekey = store_peer_prekey_current(rw->n->st, m->pk, node_now(), &pp) == MESH_OK;
	store_each_member(rw->n->st, name, count_member, &same);
	nm.name_shared = same > 1;
	rw->fn(rw->ctx, &nm);
	return 0;
}

int
node_roster(struct node *n, void (*fn)(void *, const struct node_member *), void *ctx)
{
	struct roster_walk rw = { n, fn, ctx };
	int rc = store_each_member(n->st, NULL, roster_one, &rw);

	return rc < 0 ? rc : MESH_OK;
}

int
node_hex_matches(const char *who, const uint8_t pk[APAGON_SIGN_PK])
{
	char kid[2 * APAGON_KEYID + 1], full[2 * APAGON_SIGN_PK + 1];
	uint8_t id[APAGON_KEYID];
	size_t len = strlen(who);
	char low[2 * APAGON_SIGN_PK + 1];

	if (len < 6 || len > 2 * APAGON_SIGN_PK)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)who[i]))
			return 0;
		low[i] = (char)tolower((unsigned char)who[i]);
	}
	low[len] = '\0';
	crypto_key_id(id, pk);
	node_hex(kid, id, sizeof id);
	node_hex(full, pk, APAGON_SIGN_PK);
	/* A prefix of the key ID users see, or of the full key. */
	return (len <= 2 * APAGON_KEYID && strncmp(kid, low, len) == 0) ||
	    strncmp(full, low, len) == 0;
}

struct resolve {
	const char *who;
	uint8_t pk[APAGON_SIGN_PK];
	int found;
	void (*fn)(void *, const struct member *);
	void *ctx;
	int by_hex;
};

static int
resolve_one(void *ctx, const struct member *m)
{
	struct resolve *r = ctx;

	if (r->by_hex && !node_hex_matches(r->who, m->pk))
		return 0;
	if (r->found++ == 0)
		memcpy(r->pk, m->pk, APAGON_SIGN_PK);
	return 0;
}

static int
list_one(void *ctx, const struct member *m)
{
	struct resolve *r = ctx;

	if (!r->by_hex || node_hex_matches(r->who, m->pk))
		r->fn(r->ctx, m);
	return 0;
}

int
node_resolve_in(struct store *st, const char *who, uint8_t pk[APAGON_SIGN_PK],
    void (*fn)(void *, const struct member *), void *ctx)
{
	struct resolve r = { .who = who, .fn = fn, .ctx = ctx };
	int rc;

	if ((rc = store_each_member(st, who, resolve_one, &r)) < 0)
		return rc;
	if (r.found == 0) {
		r.by_hex = 1;
		if ((rc = store_each_member(st, NULL, resolve_one, &r)) < 0)
			return rc;
	}
	if (r.found == 0)
		return MESH_ENOTFOUND;
	if (r.found > 1) {
		if (fn)
			store_each_member(st, r.by_hex ? NULL : who, list_one, &r);
		return MESH_EAMBIGUOUS;
	}
	memcpy(pk, r.pk, APAGON_SIGN_PK);
	return MESH_OK;
}

int
node_resolve(struct node *n, const char *who, uint8_t pk[APAGON_SIGN_PK],
    void (*fn)(void *, const struct member *), void *ctx)
{
	return node_resolve_in(n->st, who, pk, fn, ctx);
}

int
node_safety_number(struct node *n, const uint8_t pk[APAGON_SIGN_PK],
    char out[APAGON_SAFETY_DIGITS + 1])
{
	if (!n->enrolled)
		return NODE_ENOTENROLLED;
	crypto_safety_number(out, n->nk.network_id, n->pk, pk);
	return MESH_OK;
}

int
node_set_verified(struct node *n, const uint8_t pk[APAGON_SIGN_PK], int verified)
{
	return store_set_verified(n->st, pk, verified);
}

int
node_counters(struct node *n, void (*fn)(void *, const char *, int64_t), void *ctx)
{
	int rc = store_counters(n->st, fn, ctx);

	return rc < 0 ? rc : MESH_OK;
}
