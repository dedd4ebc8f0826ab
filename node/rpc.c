/*
 * The control socket's methods (control.h carries the envelopes). Results have the
 * shapes of the CLI's --json output, so "apagon --json inbox" prints the same document
 * with or without a daemon.
 *
 *   send {to, text, precedence?, lifetime?}   queue a message
 *   inbox, outbox                             the messages (inbox marks them read)
 *   import {path}, export {path}              files, paths absolute
 *   status, peers                             the daemon, its links and its peers
 *   subscribe {text?}                         events as notifications:
 *       message.received, message.state, peer.up, peer.down; with "text": false,
 *       message.received leaves the text out (and the daemon does not open it)
 */
#include "daemon_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "../mesh/session.h"

#define RPC_IMPORT_MAX (256u << 20)

static void
add_hex(cJSON *o, const char *key, const uint8_t *buf, size_t len)
{
	char h[2 * 64 + 1];

	if (len > 64)
		len = 64;
	node_hex(h, buf, len);
	cJSON_AddStringToObject(o, key, h);
}

static void
add_key_id(cJSON *o, const char *key, const uint8_t pk[APAGON_SIGN_PK])
{
	uint8_t id[APAGON_KEYID];

	crypto_key_id(id, pk);
	add_hex(o, key, id, sizeof id);
}

/* cJSON strings must be valid UTF-8 for the client; texts come from other people. */
static void
add_text(cJSON *o, const char *key, const char *s)
{
	if (!s) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	cJSON_AddStringToObject(o, key, s);
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

cJSON *
rpc_msg_json(struct daemon *d, const struct msg_rec *r, int with_text)
{
	cJSON *o = cJSON_CreateObject();
	struct member m;
	char *text = NULL, state[96];
	int known = store_get_member(node_store(d->n), r->peer_pk, &m) == MESH_OK;

	size_t tcap = r->sealed_len >= APAGON_LOCAL_OVERHEAD ?
	    r->sealed_len - APAGON_LOCAL_OVERHEAD + 1 : 0;

	if (with_text && tcap && (text = (char *)node_plain_get(d->n, tcap)) != NULL) {
		if (crypto_local_open((uint8_t *)text, r->sealed_text, r->sealed_len,
		    d->n->local_key) == 0) {
			text[tcap - 1] = '\0';
		} else {
			node_plain_put(d->n, (uint8_t *)text, tcap);
			text = NULL;
		}
	}
	add_hex(o, "id", r->bundle_id, APAGON_HASH);
	if (r->dir == MSG_IN) {
		cJSON_AddStringToObject(o, "from", known ? m.name : "?");
		add_key_id(o, "from_key", r->peer_pk);
		cJSON_AddStringToObject(o, "precedence", precedence_name(r->precedence));
		cJSON_AddNumberToObject(o, "created", r->created);
		cJSON_AddNumberToObject(o, "received", (double)r->local_time);
		cJSON_AddNumberToObject(o, "expires", (double)r->expires_at);
		cJSON_AddBoolToObject(o, "signature_checked", 1);
		cJSON_AddBoolToObject(o, "key_verified", known && m.verified);
		cJSON_AddBoolToObject(o, "new", r->state == IN_UNREAD);
	} else {
		cJSON_AddStringToObject(o, "to", known ? m.name : "?");
		add_key_id(o, "to_key", r->peer_pk);
		cJSON_AddStringToObject(o, "precedence", precedence_name(r->precedence));
		cJSON_AddNumberToObject(o, "created", r->created);
		cJSON_AddNumberToObject(o, "queued", (double)r->local_time);
		cJSON_AddNumberToObject(o, "expires", (double)r->expires_at);
		cJSON_AddStringToObject(o, "state", out_state_word(r->state));
		cJSON_AddStringToObject(o, "state_text", node_msg_state(r, state, sizeof state));
		cJSON_AddNumberToObject(o, "sent_count", r->sent_count);
		cJSON_AddNumberToObject(o, "exported", r->exported);
		if (r->state == OUT_DELIVERED)
			cJSON_AddNumberToObject(o, "delivered", (double)r->delivered_at);
		if (r->state == OUT_EXPIRED)
			cJSON_AddStringToObject(o, "reason", r->reason);
	}
	if (with_text)
		add_text(o, "text", text);
	node_plain_put(d->n, (uint8_t *)text, tcap);     /* wiped: it never outlives this call */
	return o;
}

/* ---------------- helpers for params ---------------- */

static const char *
param_str(const cJSON *params, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

#define FAIL(c, ...) do { *code = (c); snprintf(msg, cap, __VA_ARGS__); return NULL; } while (0)

/* ---------------- send ---------------- */

struct candidates {
	cJSON *arr;
	int n;
};

static void
add_candidate(void *ctx, const struct member *m)
{
	struct candidates *cs = ctx;
	cJSON *o;

	if (cs->n++ >= 32)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddStringToObject(o, "unit", m->unit);
	add_hex(o, "key_id", m->key_id, APAGON_KEYID);
	add_hex(o, "pk", m->pk, APAGON_SIGN_PK);
	cJSON_AddNumberToObject(o, "first_seen", (double)m->first_seen);
	cJSON_AddItemToArray(cs->arr, o);
}

static cJSON *
m_send(struct daemon *d, const cJSON *params, int *code, char *msg, size_t cap, cJSON **data)
{
	const char *to = param_str(params, "to"), *text = param_str(params, "text");
	const char *prec_s = param_str(params, "precedence");
	const cJSON *life = cJSON_GetObjectItemCaseSensitive(params, "lifetime");
	uint8_t pk[APAGON_SIGN_PK], id[APAGON_HASH];
	struct candidates cs;
	struct member m;
	uint32_t lifetime = NODE_DEFAULT_LIFETIME;
	int prec = PREC_ROUTINE, rc;
	cJSON *r;

	if (!to || !text || !*to || !*text)
		FAIL(RPC_INVALID_PARAMS, "send needs \"to\" and a non-empty \"text\"");
	if (strlen(text) > APAGON_MAX_TEXT)
		FAIL(RPC_INVALID_PARAMS, "the text is longer than one message holds (%d bytes). "
		    "Split it into several messages", (int)APAGON_MAX_TEXT);
	if (prec_s && (prec = precedence_parse(prec_s)) < 0)
		FAIL(RPC_INVALID_PARAMS, "unknown precedence \"%.32s\": use flash, immediate, "
		    "priority or routine", prec_s);
	if (life) {
		if (!cJSON_IsNumber(life) || life->valuedouble < 1 ||
		    life->valuedouble > 63.0 * 7 * 86400)
			FAIL(RPC_INVALID_PARAMS, "\"lifetime\" is a number of seconds, 1 to 63 weeks");
		lifetime = (uint32_t)life->valuedouble;
	}
	if (!node_netkeys(d->n))
		FAIL(RPC_FAILED, "%s", node_strerror(NODE_ENOTENROLLED));
	cs.arr = cJSON_CreateArray();
	cs.n = 0;
	rc = node_resolve(d->n, to, pk, add_candidate, &cs);
	if (rc == MESH_EAMBIGUOUS) {
		*data = cJSON_CreateObject();
		cJSON_AddItemToObject(*data, "candidates", cs.arr);
		FAIL(RPC_FAILED, "\"%.64s\" matches %d members (a name shared by several keys). "
		    "Compare safety numbers, then pick one by key ID", to, cs.n);
	}
	cJSON_Delete(cs.arr);
	if (rc == MESH_ENOTFOUND)
		FAIL(RPC_FAILED, "no member matches \"%.64s\". List the members you know with "
		    "\"apagon roster\"; to reach someone new, import an export that carries their "
		    "certificate", to);
	if (rc != 0)
		FAIL(RPC_FAILED, "cannot look up \"%.64s\": %s", to, node_strerror(rc));
	rc = node_send(d->n, pk, prec, text, lifetime, node_now(), id);
	if (rc == NODE_ESELF)
		FAIL(RPC_FAILED, "that is this node's own key. Send to another member");
	if (rc == MESH_ENOPREKEY)
		FAIL(RPC_FAILED, "no prekey known for the recipient yet, so nothing can be sealed "
		    "for them: import an export from that member first");
	if (rc != 0)
		FAIL(RPC_FAILED, "cannot queue the message: %s", node_strerror(rc));
	daemon_msg_changed(d, id, 0);
	sessions_notify_all(d, id, prec, NULL);
	r = cJSON_CreateObject();
	add_hex(r, "id", id, APAGON_HASH);
	cJSON_AddStringToObject(r, "to", store_get_member(node_store(d->n), pk, &m) == MESH_OK ?
	    m.name : to);
	add_key_id(r, "to_key", pk);
	cJSON_AddStringToObject(r, "precedence", precedence_name(prec));
	cJSON_AddNumberToObject(r, "lifetime", lifetime);
	cJSON_AddStringToObject(r, "state", "queued");
	return r;
}

/* ---------------- inbox, outbox ---------------- */

struct listing {
	struct daemon *d;
	cJSON *arr;
};

static void
list_one(void *ctx, const struct node_msg *nm)
{
	struct listing *l = ctx;

	cJSON_AddItemToArray(l->arr, rpc_msg_json(l->d, nm->rec, 1));
}

static cJSON *
m_list(struct daemon *d, int out, int *code, char *msg, size_t cap)
{
	struct listing l = { d, cJSON_CreateArray() };
	cJSON *r;
	int rc;

	rc = out ? node_outbox(d->n, list_one, &l) : node_inbox(d->n, list_one, &l);
	if (rc != 0) {
		cJSON_Delete(l.arr);
		FAIL(RPC_FAILED, "cannot list the messages: %s", node_strerror(rc));
	}
	if (!out)
		daemon_msgs_changed(d);         /* read marks */
	r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "messages", l.arr);
	return r;
}

/* ---------------- import, export ---------------- */

static const char *
item_type_name(int type)
{
	if (type == -2)
		return "enrollment";
	if (type < 0)
		return "unreadable";
	return bundle_type_name(type);
}

struct import_ctx {
	cJSON *arr;
	uint8_t (*fresh)[APAGON_HASH];  /* accepted: offered to the sessions after commit */
	size_t nfresh, capfresh;
};

static void
import_item(void *ctx, const struct import_item *it)
{
	struct import_ctx *ic = ctx;
	cJSON *arr = ic->arr, *o = cJSON_CreateObject();

	if (it->reason == MESH_OK && it->type >= 0) {
		if (ic->nfresh == ic->capfresh) {
			size_t cap = ic->capfresh ? 2 * ic->capfresh : 64;
			void *v = realloc(ic->fresh, cap * sizeof *ic->fresh);

			if (v) {
				ic->fresh = v;
				ic->capfresh = cap;
			}
		}
		if (ic->nfresh < ic->capfresh)
			memcpy(ic->fresh[ic->nfresh++], it->id, APAGON_HASH);
	}

	cJSON_AddNumberToObject(o, "index", it->index);
	cJSON_AddStringToObject(o, "type", item_type_name(it->type));
	if (it->type >= 0)
		add_hex(o, "id", it->id, APAGON_HASH);
	cJSON_AddStringToObject(o, "reason", mesh_reason_name(it->reason));
	cJSON_AddStringToObject(o, "what", it->what ? it->what : "");
	cJSON_AddBoolToObject(o, "key_conflict", it->key_conflict);
	cJSON_AddItemToArray(arr, o);
}

static cJSON *
m_import(struct daemon *d, const cJSON *params, int *code, char *msg, size_t cap)
{
	const char *path = param_str(params, "path");
	struct import_summary sum;
	uint8_t *buf = NULL;
	size_t len;
	int rc, was_enrolled = node_netkeys(d->n) != NULL;
	enum file_kind kind;
	cJSON *r, *items;

	if (!path || path[0] != '/')
		FAIL(RPC_INVALID_PARAMS, "import needs an absolute \"path\"");
	if ((rc = node_read_file(path, &buf, &len, RPC_IMPORT_MAX)) != 0)
		FAIL(RPC_FAILED, "cannot read %.200s: %s", path, node_strerror(rc));
	kind = file_detect(buf, len);
	if (kind == FILE_REQUEST || kind == FILE_UNKNOWN) {
		free(buf);
		FAIL(RPC_FAILED, kind == FILE_REQUEST ? "%.200s is an enrollment request; it goes "
		    "to an enroller" : "%.200s is not an apagon file (no enrollment, export or "
		    "revocation header)", path);
	}
	if (kind == FILE_BUNDLES && !was_enrolled) {
		free(buf);
		FAIL(RPC_FAILED, "%s", node_strerror(NODE_ENOTENROLLED));
	}
	memset(&sum, 0, sizeof sum);
	items = cJSON_CreateArray();
	{
		struct import_ctx ic = { items, NULL, 0, 0 };
		struct stored_bundle sb;

		rc = node_import(d->n, buf, len, node_now(), import_item, &ic, &sum);
		for (size_t i = 0; i < ic.nfresh; i++)
			if (store_get_bundle(node_store(d->n), ic.fresh[i], &sb) == MESH_OK)
				sessions_notify_all(d, ic.fresh[i], sb.precedence, NULL);
		free(ic.fresh);
	}
	free(buf);
	daemon_msgs_changed(d);
	if (sum.accepted > 0)
		sessions_revocations_changed(d);
	if (!was_enrolled && node_netkeys(d->n)) {
		log_info("enrolled in \"%s\"; opening the links", node_network_name(d->n));
		daemon_links_sync(d);
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "file", path);
	cJSON_AddBoolToObject(r, "ok", rc == 0);
	if (rc != 0)
		cJSON_AddStringToObject(r, "error", node_strerror(rc));
	cJSON_AddNumberToObject(r, "accepted", sum.accepted);
	cJSON_AddNumberToObject(r, "duplicates", sum.duplicates);
	cJSON_AddNumberToObject(r, "rejected", sum.rejected);
	cJSON_AddNumberToObject(r, "new_messages", sum.delivered);
	cJSON_AddNumberToObject(r, "receipts", sum.receipts);
	if (node_network_name(d->n))
		cJSON_AddStringToObject(r, "network", node_network_name(d->n));
	cJSON_AddItemToObject(r, "items", items);
	return r;
}

static cJSON *
m_export(struct daemon *d, const cJSON *params, int *code, char *msg, size_t cap)
{
	const char *path = param_str(params, "path");
	size_t len = 0;
	int rc, count = 0;
	cJSON *r;

	if (!path || path[0] != '/')
		FAIL(RPC_INVALID_PARAMS, "export needs an absolute \"path\"");
	if (!node_netkeys(d->n))
		FAIL(RPC_FAILED, "%s", node_strerror(NODE_ENOTENROLLED));
	if ((rc = node_export(d->n, node_now(), path, NULL, &len, &count)) != 0)
		FAIL(RPC_FAILED, "cannot write %.200s: %s", path, node_strerror(rc));
	daemon_msgs_changed(d);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "file", path);
	cJSON_AddNumberToObject(r, "bundles", count);
	cJSON_AddNumberToObject(r, "bytes", (double)len);
	return r;
}

/* ---------------- status, peers ---------------- */

static void
add_counter(void *ctx, const char *name, int64_t v)
{
	cJSON_AddNumberToObject((cJSON *)ctx, name, (double)v);
}

struct msg_counts {
	int inbox, unread, outbox, pending, delivered;
};

static int
count_msg(void *ctx, const struct msg_rec *r)
{
	struct msg_counts *mc = ctx;

	if (r->dir == MSG_IN) {
		mc->inbox++;
		mc->unread += r->state == IN_UNREAD;
	} else {
		mc->outbox++;
		mc->pending += r->state == OUT_QUEUED || r->state == OUT_SENT;
		mc->delivered += r->state == OUT_DELIVERED;
	}
	return 0;
}

static cJSON *
m_status(struct daemon *d)
{
	cJSON *r = cJSON_CreateObject(), *node = cJSON_CreateObject(), *links, *o, *c;
	struct control_stats cst;
	struct msg_counts mc;

	cJSON_AddStringToObject(node, "name", node_name(d->n));
	add_key_id(node, "key_id", node_pk(d->n));
	if (node_network_name(d->n))
		cJSON_AddStringToObject(node, "network", node_network_name(d->n));
	else
		cJSON_AddNullToObject(node, "network");
	cJSON_AddStringToObject(node, "dir", d->dir);
	cJSON_AddItemToObject(r, "node", node);
	cJSON_AddNumberToObject(r, "pid", (double)getpid());
	cJSON_AddNumberToObject(r, "started", (double)d->started);
	cJSON_AddNumberToObject(r, "uptime", (double)(node_now() - d->started));

	links = cJSON_AddArrayToObject(r, "links");
	for (int i = 0; i < d->nlinks; i++) {
		struct daemon_link *l = d->links[i];
		struct transport_info ti;

		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", l->open ? l->t.name : "");
		cJSON_AddStringToObject(o, "kind", conf_kind(l->sec));
		cJSON_AddStringToObject(o, "section", conf_name(l->sec));
		if (l->open) {
			l->t.ops->info(&l->t, &ti);
			cJSON_AddStringToObject(o, "state", ti.state);
			cJSON_AddStringToObject(o, "endpoint", ti.endpoint);
			cJSON_AddStringToObject(o, "detail", ti.detail);
			cJSON_AddNumberToObject(o, "up_since", (double)ti.up_since);
			cJSON_AddNumberToObject(o, "retry_in_ms", (double)ti.retry_in_ms);
			cJSON_AddNumberToObject(o, "peers", ti.peers);
			c = cJSON_AddObjectToObject(o, "counters");
			l->t.ops->stats(&l->t, add_counter, c);
		} else {
			char name[TRANSPORT_NAME_MAX];

			snprintf(name, sizeof name, "%s %s", conf_kind(l->sec), conf_name(l->sec));
			cJSON_ReplaceItemInObject(o, "name", cJSON_CreateString(name));
			cJSON_AddStringToObject(o, "state", "closed");
			cJSON_AddStringToObject(o, "detail", l->error);
			cJSON_AddNumberToObject(o, "peers", 0);
		}
		cJSON_AddItemToArray(links, o);
	}

	control_get_stats(d->ctl, &cst);
	o = cJSON_AddObjectToObject(r, "control");
	cJSON_AddNumberToObject(o, "clients", cst.clients);
	cJSON_AddNumberToObject(o, "subscribers", cst.subscribers);
	cJSON_AddNumberToObject(o, "requests", (double)cst.requests);
	cJSON_AddNumberToObject(o, "notifications", (double)cst.notifications);
	cJSON_AddNumberToObject(o, "dropped_overflow", (double)cst.dropped_overflow);
	cJSON_AddNumberToObject(o, "dropped_garbage", (double)cst.dropped_garbage);
	cJSON_AddNumberToObject(o, "dropped_too_long", (double)cst.dropped_toolong);
	cJSON_AddNumberToObject(o, "refused_full", (double)cst.refused_full);

	memset(&mc, 0, sizeof mc);
	store_each_msg(node_store(d->n), MSG_IN, count_msg, &mc);
	store_each_msg(node_store(d->n), MSG_OUT, count_msg, &mc);
	o = cJSON_AddObjectToObject(r, "messages");
	cJSON_AddNumberToObject(o, "inbox", mc.inbox);
	cJSON_AddNumberToObject(o, "unread", mc.unread);
	cJSON_AddNumberToObject(o, "outbox", mc.outbox);
	cJSON_AddNumberToObject(o, "pending", mc.pending);
	cJSON_AddNumberToObject(o, "delivered", mc.delivered);

	o = cJSON_AddObjectToObject(r, "daemon");
	cJSON_AddNumberToObject(o, "frames_in", (double)d->n_.frames_in);
	cJSON_AddNumberToObject(o, "frames_unhandled", (double)d->n_.frames_unhandled);
	cJSON_AddNumberToObject(o, "reloads", (double)d->n_.reloads);
	cJSON_AddNumberToObject(o, "reload_failures", (double)d->n_.reload_failures);
	cJSON_AddNumberToObject(o, "maintain_failures", (double)d->n_.maintain_failures);
	cJSON_AddNumberToObject(o, "sessions_revoked", (double)d->n_.sessions_revoked);
	cJSON_AddNumberToObject(o, "bundles_deferred_sender", (double)d->senders.deferred);
	return r;
}

/* Each peer of each link; transports own the list, so walk it through the link's
 * transport only while no event can fire (we are inside a request). */
static cJSON *
m_peers(struct daemon *d)
{
	cJSON *r = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(r, "peers");
	uint64_t now = daemon_now_ms();

	for (int i = 0; i < d->nlinks; i++) {
		struct daemon_link *l = d->links[i];

		if (!l->open)
			continue;
		for (struct transport_peer *p = transport_peers(&l->t); p; p = p->next) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "link", l->t.name);
			cJSON_AddStringToObject(o, "peer", p->label);
			cJSON_AddNumberToObject(o, "up_at", (double)p->up_at);
			cJSON_AddNumberToObject(o, "last_heard_ms", (double)(now - p->last_ms));
			cJSON_AddNumberToObject(o, "rx_frames", (double)p->rx_frames);
			cJSON_AddNumberToObject(o, "tx_frames", (double)p->tx_frames);
			cJSON_AddNumberToObject(o, "rx_bytes", (double)p->rx_bytes);
			cJSON_AddNumberToObject(o, "tx_bytes", (double)p->tx_bytes);
			cJSON_AddStringToObject(o, "session", sessions_state(p));
			if (sessions_peer_pk(p)) {
				const uint8_t *pk = sessions_peer_pk(p);
				struct member m;

				add_key_id(o, "member_key", pk);
				if (store_get_member(node_store(d->n), pk, &m) == MESH_OK)
					cJSON_AddStringToObject(o, "member", m.name);
			}
			if (sessions_stats(p)) {
				const struct session_stats *ss = sessions_stats(p);

				cJSON_AddNumberToObject(o, "bundles_in", (double)ss->bundles_in);
				cJSON_AddNumberToObject(o, "bundles_out", (double)ss->bundles_out);
				cJSON_AddNumberToObject(o, "sync_rounds", (double)ss->rounds);
				cJSON_AddNumberToObject(o, "bundles_dup", (double)ss->bundles_dup);
				cJSON_AddNumberToObject(o, "bundles_refused", (double)ss->bundles_refused);
				cJSON_AddNumberToObject(o, "bad_frames", (double)ss->bad_frames);
				cJSON_AddNumberToObject(o, "bad_messages", (double)ss->bad_messages);
				cJSON_AddNumberToObject(o, "replayed", (double)ss->replayed);
				cJSON_AddNumberToObject(o, "hs_refused", (double)ss->hs_refused);
				cJSON_AddNumberToObject(o, "bundles_deferred_peer",
				    (double)ss->bundles_deferred_peer);
				cJSON_AddNumberToObject(o, "bundles_deferred_sender",
				    (double)ss->bundles_deferred_sender);
			}
			cJSON_AddItemToArray(arr, o);
		}
	}
	return r;
}

/* ---------------- dispatch ---------------- */

cJSON *
rpc_call(void *ctx, struct control_client *client, const char *method, const cJSON *params,
    int *code, char *msg, size_t cap, cJSON **data)
{
	struct daemon *d = ctx;
	static const cJSON empty;

	if (!params || !cJSON_IsObject(params))
		params = &empty;
	if (strcmp(method, "status") == 0)
		return m_status(d);
	if (strcmp(method, "peers") == 0)
		return m_peers(d);
	if (strcmp(method, "send") == 0)
		return m_send(d, params, code, msg, cap, data);
	if (strcmp(method, "inbox") == 0)
		return m_list(d, 0, code, msg, cap);
	if (strcmp(method, "outbox") == 0)
		return m_list(d, 1, code, msg, cap);
	if (strcmp(method, "import") == 0)
		return m_import(d, params, code, msg, cap);
	if (strcmp(method, "export") == 0)
		return m_export(d, params, code, msg, cap);
	if (strcmp(method, "subscribe") == 0) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(params, "text");
		cJSON *r, *ev;

		if (t && !cJSON_IsBool(t))
			FAIL(RPC_INVALID_PARAMS, "subscribe: \"text\" must be true or false");
		r = cJSON_CreateObject();
		ev = cJSON_AddArrayToObject(r, "events");
		control_subscribe(client, !cJSON_IsFalse(t));
		cJSON_AddBoolToObject(r, "text", !cJSON_IsFalse(t));
		cJSON_AddItemToArray(ev, cJSON_CreateString("message.received"));
		cJSON_AddItemToArray(ev, cJSON_CreateString("message.state"));
		cJSON_AddItemToArray(ev, cJSON_CreateString("peer.up"));
		cJSON_AddItemToArray(ev, cJSON_CreateString("peer.down"));
		return r;
	}
	FAIL(RPC_METHOD_NOT_FOUND, "no method \"%.64s\"; expected one of send, inbox, outbox, "
	    "import, export, status, peers, subscribe", method);
}
