/*
 * Messages: sending, delivery of what is addressed to us (and the receipts that go
 * back), import and export of bundle files, and the inbox and outbox as users see them.
 */
#include "node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Keep the user's copy of a text, sealed under the local key. */
static int
put_record(struct node *n, const uint8_t id[APAGON_HASH], int dir, int state,
    const uint8_t peer[APAGON_SIGN_PK], int precedence, uint32_t created, int64_t now,
    int64_t expires_at, const uint8_t *text, size_t tlen)
{
	struct msg_rec m;
	uint8_t *sealed;
	int rc;

	if (!(sealed = malloc(tlen + APAGON_LOCAL_OVERHEAD)))
		return MESH_ENOMEM;
	crypto_local_seal(sealed, text, tlen, n->local_key);
	memset(&m, 0, sizeof m);
	memcpy(m.bundle_id, id, APAGON_HASH);
	m.dir = dir;
	m.state = state;
	memcpy(m.peer_pk, peer, APAGON_SIGN_PK);
	m.precedence = precedence;
	m.created = created;
	m.local_time = now;
	m.expires_at = expires_at;
	m.sealed_text = sealed;
	m.sealed_len = tlen + APAGON_LOCAL_OVERHEAD;
	rc = store_put_msg(n->st, &m);
	free(sealed);
	return rc;
}

/* Build and store a sealed bundle of ours to `to_pk`: a text (MSG), or for a RECEIPT
 * the IDs it acknowledges (m holds mlen / 32 of them) and when they were delivered. */
static int
seal_and_store(struct node *n, int type, const uint8_t to_pk[APAGON_SIGN_PK], int precedence,
    uint8_t lifetime, const uint8_t *m, size_t mlen, const struct peer_prekey *theirs,
    int64_t now, int64_t delivered, struct accept_result *res)
{
	struct own_prekey mine;
	uint8_t sk[APAGON_DH_SK], *buf;
	struct bundle_hdr h;
	struct seal_keys k;
	int len, rc;

	if ((rc = node_own_prekey(n, -1, &mine, sk)) != MESH_OK)
		return rc;
	memset(&h, 0, sizeof h);
	h.type = (uint8_t)type;
	h.precedence = (uint8_t)precedence;
	memcpy(h.sender, n->key_id, APAGON_KEYID);
	crypto_key_id(h.recipient, to_pk);
	h.sender_prekey = (uint8_t)mine.serial;
	h.recipient_prekey = (uint8_t)theirs->serial;
	h.created = (uint32_t)now;
	h.lifetime = lifetime;
	bundle_hdr_salt(&h);
	memset(&k, 0, sizeof k);
	k.sender_pk = n->pk;
	k.recipient_pk = to_pk;
	k.my_prekey_sk = sk;
	k.sender_prekey_pk = mine.pk;
	k.recipient_prekey_pk = theirs->pk;
	if ((rc = node_dh(n, mine.serial, sk, theirs->pk, &k.shared)) != MESH_OK) {
		sodium_memzero(sk, sizeof sk);
		return MESH_ENOPREKEY;
	}
	if (!(buf = malloc(mlen + APAGON_SEALED_OVERHEAD + 8))) {
		sodium_memzero(sk, sizeof sk);
		return MESH_ENOMEM;
	}
	if (type == BUNDLE_RECEIPT)
		len = bundle_build_receipt(buf, mlen + APAGON_SEALED_OVERHEAD + 8, &h,
		    (const uint8_t (*)[APAGON_HASH])m, (int)(mlen / APAGON_HASH), (uint32_t)delivered, &k,
		    &n->nk, n->sk);
	else
		len = bundle_build_sealed(buf, mlen + APAGON_SEALED_OVERHEAD, &h, m, mlen, &k,
		    &n->nk, n->sk);
	sodium_memzero(sk, sizeof sk);
	rc = len < 0 ? len : node_accept_own(n, buf, (size_t)len, now, res);
	free(buf);
	return rc;
}

int
node_send(struct node *n, const uint8_t to_pk[APAGON_SIGN_PK], int precedence,
    const char *text, uint32_t lifetime, int64_t now, uint8_t id[APAGON_HASH])
{
	struct accept_result res;
	struct peer_prekey theirs;
	struct member m;
	size_t tlen = strlen(text);
	int rc;

	if (!n->enrolled)
		return NODE_ENOTENROLLED;
	if (memcmp(to_pk, n->pk, APAGON_SIGN_PK) == 0)
		return NODE_ESELF;
	if (precedence < PREC_ROUTINE || precedence > PREC_FLASH)
		return MESH_EINVAL;
	if (tlen > APAGON_MAX_TEXT)
		return MESH_ETOOBIG;
	if ((rc = store_get_member(n->st, to_pk, &m)) != MESH_OK)
		return rc;
	if (node_member_revoked(n, to_pk))
		return MESH_EREVOKED;
	if ((rc = store_peer_prekey_current(n->st, to_pk, now, &theirs)) != MESH_OK)
		return rc == MESH_ENOTFOUND ? MESH_ENOPREKEY : rc;
	if ((rc = accept_begin(&n->ax)) != MESH_OK)
		return rc;
	rc = seal_and_store(n, BUNDLE_MSG, to_pk, precedence,
	    lifetime_code(lifetime ? lifetime : NODE_DEFAULT_LIFETIME), (const uint8_t *)text, tlen,
	    &theirs, now, now, &res);
	if (rc == MESH_OK)
		rc = put_record(n, res.id, MSG_OUT, OUT_QUEUED, to_pk, precedence, (uint32_t)now, now,
		    res.expires_at, (const uint8_t *)text, tlen);
	if (rc == MESH_OK)
		rc = accept_commit(&n->ax);
	if (rc != MESH_OK) {
		accept_rollback(&n->ax);
		return rc;
	}
	if (id)
		memcpy(id, res.id, APAGON_HASH);
	return MESH_OK;
}

/* A receipt sealed back to `sender_pk`, naming `count` messages we took in from it,
 * the first of them at `delivered`. Its ID in id (may be NULL). */
static int
send_receipt(struct node *n, const uint8_t sender_pk[APAGON_SIGN_PK],
    const uint8_t (*ids)[APAGON_HASH], int count, int precedence, uint8_t lifetime,
    const struct peer_prekey *used, int64_t now, int64_t delivered, uint8_t *id)
{
	struct accept_result res;
	struct peer_prekey theirs;
	int rc;

	if (store_peer_prekey_current(n->st, sender_pk, now, &theirs) != MESH_OK)
		theirs = *used;
	rc = seal_and_store(n, BUNDLE_RECEIPT, sender_pk, precedence, lifetime,
	    (const uint8_t *)ids, (size_t)count * APAGON_HASH, &theirs, now, delivered, &res);
	if (rc == MESH_OK && id)
		memcpy(id, res.id, APAGON_HASH);
	return rc;
}

/* The receipt for a message we just took in: queued until its batch commits, or made
 * at once when the queue is full. */
static int
queue_receipt(struct node *n, const struct bundle *b, const uint8_t sender_pk[APAGON_SIGN_PK],
    const struct peer_prekey *used, int64_t now)
{
	if (n->nrq == NODE_RECEIPT_QUEUE)
		return send_receipt(n, sender_pk, (const uint8_t (*)[APAGON_HASH])b->id, 1,
		    b->h.precedence, b->h.lifetime, used, now, now, NULL);
	memcpy(n->rq[n->nrq].id, b->id, APAGON_HASH);
	n->rq[n->nrq].used = *used;
	memcpy(n->rq[n->nrq].used.owner, sender_pk, APAGON_SIGN_PK);
	n->rq[n->nrq].precedence = b->h.precedence;
	n->rq[n->nrq].lifetime = b->h.lifetime;
	n->nrq++;
	if (now > n->rq_now)
		n->rq_now = now;
	return MESH_OK;
}

/* The receipts owed, as read from the store, grouped by sender, oldest first. */
struct owed {
	struct receipt_due *r;
	int n, cap;
};

static int
collect_owed(void *ctx, const struct receipt_due *r)
{
	struct owed *o = ctx;

	if (o->n == o->cap) {
		int cap = o->cap ? 2 * o->cap : 64;
		struct receipt_due *p = realloc(o->r, (size_t)cap * sizeof *p);

		if (!p)
			return MESH_ENOMEM;
		o->r = p;
		o->cap = cap;
	}
	o->r[o->n++] = *r;
	return 0;
}

/*
 * Write the receipts owed: one per sender for up to APAGON_RECEIPT_MAX_IDS messages,
 * at the highest precedence and longest lifetime among them, sealed to the sender's
 * newest prekey (or the one the oldest message came under). They are written when
 * `all` is set, when no message has come to owe one for receipt_delay seconds (a
 * transfer has paused), or, for a sender's group, when its oldest message has waited
 * NODE_RECEIPT_MAX_WAIT times that (traffic that never pauses); the others wait.
 * Every row names a message held in the inbox: node_batch_end() records it only then,
 * in the transaction that stored the message, and inbox records are never deleted.
 * Runs inside the caller's transaction.
 */
static int
write_receipts(struct node *n, int64_t now, int all, struct node_receipts_made *made)
{
	uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH], rid[APAGON_HASH];
	struct owed o = { NULL, 0, 0 };
	int64_t quiet_at = n->last_owed + n->receipt_delay,
	    wait = (int64_t)n->receipt_delay * NODE_RECEIPT_MAX_WAIT;
	int rc, i = 0;

	if ((rc = store_each_receipt_due(n->st, collect_owed, &o)) != MESH_OK)
		goto out;
	n->ndue = 0;
	n->due_at = 0;
	n->first_owed = 0;
	while (i < o.n) {
		const struct receipt_due *first = &o.r[i];
		int j = i, count = 0, precedence = PREC_ROUTINE;
		uint8_t lifetime = 0;

		while (j < o.n && j - i < APAGON_RECEIPT_MAX_IDS &&
		    memcmp(o.r[j].used.owner, first->used.owner, APAGON_SIGN_PK) == 0)
			j++;
		if (!all && now < quiet_at && now < first->since + wait) {
			/* Not yet: messages are still coming. */
			int64_t at = quiet_at < first->since + wait ? quiet_at : first->since + wait;

			n->ndue += j - i;
			if (!n->due_at || at < n->due_at)
				n->due_at = at;
			if (!n->first_owed || first->since < n->first_owed)
				n->first_owed = first->since;
			i = j;
			continue;
		}
		for (int k = i; k < j; k++) {
			memcpy(ids[count++], o.r[k].bundle_id, APAGON_HASH);
			if (o.r[k].precedence > precedence)
				precedence = o.r[k].precedence;
			if (lifetime_seconds(o.r[k].lifetime) > lifetime_seconds(lifetime))
				lifetime = o.r[k].lifetime;
			if ((rc = store_del_receipt_due(n->st, o.r[k].bundle_id)) != MESH_OK)
				goto out;
		}
		rc = send_receipt(n, first->used.owner, (const uint8_t (*)[APAGON_HASH])ids, count,
		    precedence, lifetime, &first->used, now, first->since, rid);
		if (rc == MESH_ESTORE || rc == MESH_ENOMEM)
			goto out;
		/* Otherwise, as for a single message: it stays in the inbox without one. */
		if (rc != MESH_OK)
			store_counter_add(n->st, "receipt.failed", 1);
		else if (made) {
			if (made->kept < NODE_RECEIPTS_MADE_MAX) {
				memcpy(made->id[made->kept], rid, APAGON_HASH);
				made->precedence[made->kept++] = precedence;
			}
			made->n++;
		}
		i = j;
	}
	rc = MESH_OK;
out:
	free(o.r);
	return rc;
}

/*
 * The batch's messages now owe a receipt: recorded in the store inside the batch's
 * transaction, just before it commits, so the receipt is owed exactly when the
 * messages it will name are held. Written at once (receipt_delay 0), or later by
 * node_receipts_flush() so that one receipt names many messages.
 */
int
node_batch_end(void *ctx, int commit)
{
	struct node *n = ctx;
	struct receipt_due r;
	struct msg_rec rec;
	int rc = MESH_OK, added = 0;

	for (int i = 0; commit && i < n->nrq; i++) {
		if (store_get_msg_brief(n->st, n->rq[i].id, &rec) != MESH_OK || rec.dir != MSG_IN ||
		    memcmp(rec.peer_pk, n->rq[i].used.owner, APAGON_SIGN_PK) != 0)
			continue;
		memset(&r, 0, sizeof r);
		memcpy(r.bundle_id, n->rq[i].id, APAGON_HASH);
		r.used = n->rq[i].used;
		r.precedence = n->rq[i].precedence;
		r.lifetime = n->rq[i].lifetime;
		r.since = n->rq_now;
		if ((rc = store_put_receipt_due(n->st, &r)) != MESH_OK)
			break;
		added++;
	}
	if (rc == MESH_OK && added) {
		int64_t wait = (int64_t)n->receipt_delay * NODE_RECEIPT_MAX_WAIT;

		if (!n->ndue || !n->first_owed)
			n->first_owed = n->rq_now;
		n->ndue += added;
		n->last_owed = n->rq_now;
		/* The next look: when this quiet would end, or the oldest has waited long
		 * enough, whichever comes first. */
		n->due_at = n->last_owed + n->receipt_delay;
		if (n->first_owed + wait < n->due_at)
			n->due_at = n->first_owed + wait;
		if (n->receipt_delay == 0)
			rc = write_receipts(n, n->rq_now, 1, NULL);
	}
	n->nrq = 0;
	n->rq_now = 0;
	return rc;
}

void
node_set_receipt_delay(struct node *n, int seconds)
{
	n->receipt_delay = seconds > 0 ? seconds : 0;
}

int64_t
node_receipts_due_at(const struct node *n)
{
	return n->ndue > 0 ? n->due_at : 0;
}

int
node_receipts_flush(struct node *n, int64_t now, int all, struct node_receipts_made *made)
{
	int rc;

	if (made)
		memset(made, 0, sizeof *made);
	if ((rc = accept_begin(&n->ax)) != MESH_OK)
		return rc;
	if ((rc = write_receipts(n, now, all, made)) == MESH_OK &&
	    (rc = accept_commit(&n->ax)) == MESH_OK)
		return MESH_OK;
	accept_rollback(&n->ax);
	/* What is owed is still in the store: look again in a second. */
	if (n->ndue < 1)
		n->ndue = 1;
	n->due_at = now + 1;
	if (made)
		memset(made, 0, sizeof *made);
	return rc;
}

/* A receipt addressed to us, whose sealed part opened: mark our messages delivered
 * and drop their copies. */
static int
take_receipt(struct node *n, const struct bundle *b, const uint8_t sender_pk[APAGON_SIGN_PK],
    const uint8_t sealed[4], int64_t now)
{
	uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
	int64_t at = (int64_t)((uint32_t)sealed[0] << 24 | (uint32_t)sealed[1] << 16 |
	    (uint32_t)sealed[2] << 8 | sealed[3]), when;
	struct msg_rec rec;
	int count, done = 0, rc;

	if ((count = bundle_receipt_ids(b, ids, APAGON_RECEIPT_MAX_IDS)) < 0)
		return count;
	for (int i = 0; i < count; i++) {
		if (store_get_msg_brief(n->st, ids[i], &rec) != MESH_OK || rec.dir != MSG_OUT ||
		    memcmp(rec.peer_pk, sender_pk, APAGON_SIGN_PK) != 0 || rec.state == OUT_DELIVERED)
			continue;
		/* The recipient's own word for when, unless its clock is implausible. */
		when = at < rec.local_time - n->ax.skew || at > now + n->ax.skew ? now : at;
		if ((rc = store_msg_set_state(n->st, ids[i], OUT_DELIVERED, when, NULL)) != MESH_OK)
			return rc;
		rc = store_purge_bundle(n->st, ids[i]);        /* pinned or not */
		if (rc != MESH_OK && rc != MESH_ENOTFOUND)
			return rc;
		done++;
	}
	/* The receipt reached its destination; a tombstone keeps replays out. */
	rc = store_purge_bundle(n->st, b->id);
	if (rc != MESH_OK && rc != MESH_ENOTFOUND)
		return rc;
	return done;
}

int
node_deliver(void *ctx, const struct bundle *b, const uint8_t sender_pk[APAGON_SIGN_PK],
    int64_t now, struct accept_result *res)
{
	struct node *n = ctx;
	struct own_prekey mine;
	struct peer_prekey theirs;
	struct seal_keys k;
	uint8_t sk[APAGON_DH_SK], *m;
	size_t mlen = bundle_plain_len(b);
	int rc;

	/* Our prekey may be gone (forward secrecy); then nobody can open it any more. */
	if ((rc = node_own_prekey(n, b->h.recipient_prekey, &mine, sk)) != MESH_OK)
		return rc == MESH_ENOTFOUND ? MESH_EDECRYPT : rc;
	if (store_peer_prekey_by_serial8(n->st, sender_pk, b->h.sender_prekey, &theirs) != MESH_OK) {
		/* The sender's prekey has not reached us yet: try again when it does. */
		sodium_memzero(sk, sizeof sk);
		store_meta_set(n->st, "pending_delivery", (const uint8_t *)"1", 1);
		return MESH_ENOPREKEY;
	}
	memset(&k, 0, sizeof k);
	k.sender_pk = sender_pk;
	k.recipient_pk = n->pk;
	k.my_prekey_sk = sk;
	k.sender_prekey_pk = theirs.pk;
	k.recipient_prekey_pk = mine.pk;
	if (node_dh(n, mine.serial, sk, theirs.pk, &k.shared) != MESH_OK) {
		sodium_memzero(sk, sizeof sk);
		return MESH_EDECRYPT;
	}
	if (!(m = node_plain_get(n, mlen + 1))) {
		sodium_memzero(sk, sizeof sk);
		return MESH_ENOMEM;
	}
	rc = bundle_open(m, b, &k, &n->nk);
	sodium_memzero(sk, sizeof sk);
	if (rc == MESH_OK && b->h.type == BUNDLE_MSG) {
		rc = put_record(n, b->id, MSG_IN, IN_UNREAD, sender_pk, b->h.precedence, b->h.created,
		    now, res->expires_at, m, mlen);
		if (rc == MESH_OK)
			rc = queue_receipt(n, b, sender_pk, &theirs, now);
		/* Delivered: the bundle has no one left to reach. A tombstone keeps
		 * replays out until it would have expired (accept.c writes it when the
		 * bundle came in just now and has no row: res->consumed). */
		if (rc == MESH_OK && (rc = store_purge_bundle(n->st, b->id)) == MESH_ENOTFOUND)
			rc = MESH_OK;   /* no row, or a receipt made at once already dropped it */
		res->consumed = rc == MESH_OK;
	} else if (rc == MESH_OK) {
		rc = take_receipt(n, b, sender_pk, m, now);
		res->consumed = rc >= 0;
	}
	node_plain_put(n, m, mlen + 1);   /* wipes the plaintext */
	return rc;
}

struct pending {
	uint8_t (*raw)[APAGON_MAX_BUNDLE];
	size_t *len;
	int n, cap;
	int skip;               /* waiting bundles to pass over: earlier pages */
	const struct node *node;
};

static int
collect_pending(void *ctx, const struct stored_bundle *sb)
{
	struct pending *p = ctx;
	struct msg_rec rec;

	if (sb->own || !bundle_type_sealed(sb->type) ||
	    memcmp(sb->recipient, p->node->key_id, APAGON_KEYID) != 0)
		return 0;
	if (sb->type == BUNDLE_MSG && store_get_msg_brief(p->node->st, sb->id, &rec) == MESH_OK)
		return 0;
	if (p->skip > 0) {
		p->skip--;
		return 0;
	}
	if (p->n == p->cap)
		return 1;       /* the next page */
	memcpy(p->raw[p->n], sb->raw, sb->raw_len);
	p->len[p->n++] = sb->raw_len;
	return 0;
}

/* One waiting bundle, tried again: 1 if it is no longer waiting, 0 if it still is,
 * or a negative MESH_E* when the store failed. */
static int
try_pending(struct node *n, const uint8_t *raw, size_t len, int64_t now)
{
	uint8_t pk[APAGON_SIGN_PK];
	struct accept_result res;
	struct stored_bundle sb;
	struct msg_rec rec;
	struct bundle b;
	struct chain ch;
	int is_auth, rc;

	if (bundle_decode(&b, raw, len, &n->nk) != MESH_OK ||
	    accept_find_sender(&n->ax, &b, pk, &ch, &is_auth) != MESH_OK)
		return 0;
	if (store_get_bundle(n->st, b.id, &sb) != MESH_OK)
		return 1;
	memset(&res, 0, sizeof res);
	memcpy(res.id, b.id, APAGON_HASH);
	res.expires_at = sb.expires_at;
	if ((rc = store_savepoint(n->st)) != MESH_OK)
		return rc;
	rc = node_deliver(n, &b, pk, now, &res);
	if (rc == MESH_ESTORE) {
		store_rollback_to(n->st);
		return rc;
	}
	if (rc < 0 && rc != MESH_ENOPREKEY) {
		store_rollback_to(n->st);
		return 0;
	}
	if ((rc = store_release(n->st)) != MESH_OK)
		return rc;
	/* Still waiting if collect_pending would take it again. */
	if (store_has_bundle(n->st, b.id) <= 0)
		return 1;
	if (b.h.type == BUNDLE_MSG && store_get_msg_brief(n->st, b.id, &rec) == MESH_OK)
		return 1;
	return 0;
}

int
node_retry_pending(struct node *n, int64_t now)
{
	struct pending p = { .cap = 64, .node = n };
	uint8_t flag;
	size_t flen;
	int rc, skip = 0;

	if (store_meta_get(n->st, "pending_delivery", &flag, 1, &flen) != MESH_OK || flen != 1 ||
	    flag != '1')
		return MESH_OK;
	p.raw = malloc(sizeof *p.raw * (size_t)p.cap);
	p.len = malloc(sizeof *p.len * (size_t)p.cap);
	if (!p.raw || !p.len) {
		rc = MESH_ENOMEM;
		goto out;
	}
	store_meta_set(n->st, "pending_delivery", (const uint8_t *)"0", 1);
	/*
	 * Page through everything that waits, 64 bundles at a time. What still waits
	 * after its try (no prekey yet, or never openable) is passed over by the next
	 * page, so bundles that can never be opened cannot hold back the others.
	 */
	for (;;) {
		int more;

		p.n = 0;
		p.skip = skip;
		if ((rc = store_each_bundle(n->st, now, collect_pending, &p)) < 0)
			goto out;
		more = rc > 0;
		for (int i = 0; i < p.n; i++) {
			if ((rc = try_pending(n, p.raw[i], p.len[i], now)) < 0)
				goto out;
			skip += rc == 0;
		}
		if (!more)
			break;
	}
	rc = MESH_OK;
out:
	free(p.raw);
	free(p.len);
	return rc;
}
