/*
 * The acceptance path (accept.h). Every check names its reason; nothing is written
 * before all checks pass, and what is written commits with the batch or not at all.
 */
#include "accept.h"
#include "mesh.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int64_t
accept_expiry(uint32_t created, uint32_t life, int64_t now, uint32_t skew)
{
	int64_t residence = now + life;
	int64_t deadline = (int64_t)created + life + skew;

	/* A creation time ahead of our clock by more than the skew is not believed:
	 * the bundle may then live its lifetime here, counted from its arrival. */
	if ((int64_t)created > now + skew)
		return residence;
	return deadline < residence ? deadline : residence;
}

static void
forget_senders(struct accept_ctx *ax)
{
	memset(ax->cache, 0, sizeof ax->cache);
	ax->cache_next = 0;
	ax->cache_version_ok = 0;
}

int
accept_begin(struct accept_ctx *ax)
{
	int64_t v = 0;
	int ok;

	/* Senders verified in earlier batches stay known: their chains' signatures do
	 * not change, and validity and revocation are still checked for every bundle.
	 * Unless another connection (another process) wrote to the store since: it may
	 * have brought a renewal or a revocation this context did not apply itself. A
	 * chain per batch was a signature check per bundle for large bundles, which
	 * come two to a frame. */
	ok = store_data_version(ax->st, &v) == MESH_OK;
	if (!ok || !ax->cache_version_ok || v != ax->cache_version)
		forget_senders(ax);
	ax->cache_version = v;
	ax->cache_version_ok = ok;
	memset(ax->pending, 0, sizeof ax->pending);
	if (ax->batch_end)
		ax->batch_end(ax->deliver_ctx, 0);
	return store_begin(ax->st);
}

int
accept_flush(struct accept_ctx *ax)
{
	char name[48];
	int rc;

	if (ax->batch_end && (rc = ax->batch_end(ax->deliver_ctx, 1)) != MESH_OK)
		return rc;
	for (int i = 0; i < (int)(sizeof ax->pending / sizeof ax->pending[0]); i++) {
		if (!ax->pending[i])
			continue;
		if (i == 0)
			strcpy(name, "accepted");
		else
			snprintf(name, sizeof name, "rejected.%s", mesh_reason_name(-i));
		if ((rc = store_counter_add(ax->st, name, ax->pending[i])) != MESH_OK)
			return rc;
		ax->pending[i] = 0;
	}
	return MESH_OK;
}

int
accept_commit(struct accept_ctx *ax)
{
	int rc = accept_flush(ax);

	return rc == MESH_OK ? store_commit(ax->st) : rc;
}

void
accept_rollback(struct accept_ctx *ax)
{
	forget_senders(ax);
	memset(ax->pending, 0, sizeof ax->pending);
	if (ax->batch_end)
		ax->batch_end(ax->deliver_ctx, 0);
	store_rollback(ax->st);
}

/* A public bundle's record, decoded as part of step 2. */
union body {
	struct chain chain;
	struct prekey_rec prekey;
	struct revocation rev;
};

static int
decode_body(const struct bundle *b, union body *u)
{
	switch (b->h.type) {
	case BUNDLE_CERT:
		return chain_decode(&u->chain, b->pub, b->pub_len);
	case BUNDLE_PREKEY:
		return prekey_decode(&u->prekey, b->pub, b->pub_len);
	case BUNDLE_REVOKE:
		return revocation_decode(&u->rev, b->pub, b->pub_len);
	}
	return MESH_OK;
}

struct keyid_search {
	const struct bundle *b;
	const struct netkeys *nk;
	uint8_t pk[APAGON_SIGN_PK];
	uint8_t chain[APAGON_CHAIN_MAX];
	size_t chain_len;
	int candidates;
	int found;
};

static int
try_member(void *ctx, const struct member *m)
{
	struct keyid_search *ks = ctx;

	ks->candidates++;
	if (m->chain_len > sizeof ks->chain)
		return 0;
	if (bundle_verify(ks->b, ks->nk, m->pk) == MESH_OK) {
		memcpy(ks->pk, m->pk, APAGON_SIGN_PK);
		memcpy(ks->chain, m->chain, m->chain_len);
		ks->chain_len = m->chain_len;
		ks->found = 1;
		return 1;
	}
	return 0;
}

/* A sender whose chain verified earlier in this batch, still inside its validity. */
static struct accept_sender *
cached_sender(struct accept_ctx *ax, const uint8_t key_id[APAGON_KEYID], int64_t now)
{
	for (int i = 0; i < ACCEPT_CACHE; i++) {
		struct accept_sender *c = &ax->cache[i];

		if (c->used && memcmp(c->key_id, key_id, APAGON_KEYID) == 0 &&
		    now >= c->verified_at && now <= c->valid_until)
			return c;
	}
	return NULL;
}

static void
remember_sender(struct accept_ctx *ax, const uint8_t pk[APAGON_SIGN_PK], const struct chain *ch,
    int64_t now)
{
	struct accept_sender *c = &ax->cache[ax->cache_next];
	int64_t until = INT64_MAX;

	ax->cache_next = (ax->cache_next + 1) % ACCEPT_CACHE;
	for (int i = 0; i < ch->n; i++)
		if ((int64_t)ch->c[i].not_after + ax->skew < until)
			until = (int64_t)ch->c[i].not_after + ax->skew;
	crypto_key_id(c->key_id, pk);
	memcpy(c->pk, pk, APAGON_SIGN_PK);
	c->ch = *ch;
	c->verified_at = now;
	c->valid_until = until;
	c->used = 1;
}

/*
 * Step 4 for a bundle this process has just signed itself (ax->own_signed): the signer
 * is my_pk, and verifying our own fresh signature again would prove nothing new. Only
 * the signature is taken on trust; the chain, validity and revocation checks of steps
 * 5 and 6 still run on our stored certificate. MESH_ENOTFOUND when this shortcut does
 * not apply (not our key ID, no stored certificate): the caller verifies as usual.
 */
static int
own_sender(struct accept_ctx *ax, const struct bundle *b, int64_t now, uint8_t pk[APAGON_SIGN_PK],
    struct chain *ch, int *cached)
{
	struct accept_sender *c;
	struct member m;
	uint8_t kid[APAGON_KEYID];
	int rc;

	if (!ax->my_pk || b->h.type == BUNDLE_CERT)
		return MESH_ENOTFOUND;
	crypto_key_id(kid, ax->my_pk);
	if (memcmp(kid, b->h.sender, APAGON_KEYID) != 0)
		return MESH_ENOTFOUND;
	if ((c = cached_sender(ax, kid, now)) && memcmp(c->pk, ax->my_pk, APAGON_SIGN_PK) == 0) {
		memcpy(pk, c->pk, APAGON_SIGN_PK);
		*ch = c->ch;
		*cached = 1;
		return MESH_OK;
	}
	if ((rc = store_get_member(ax->st, ax->my_pk, &m)) != MESH_OK)
		return rc == MESH_ENOTFOUND ? MESH_ENOTFOUND : rc;
	if (m.chain_len > APAGON_CHAIN_MAX || chain_decode(ch, m.chain, m.chain_len) != MESH_OK)
		return MESH_ECHAIN;
	memcpy(pk, ax->my_pk, APAGON_SIGN_PK);
	return MESH_OK;
}

/*
 * Step 4: who signed it? A CERT bundle names its sender in its own body; the authority
 * is known from the network; everyone else must have a certificate in the store.
 * Returns MESH_OK with pk (and ch unless authority), MESH_EUNKNOWN or MESH_ESIGNATURE.
 * *cached is set when the chain already verified in this batch.
 */
static int
sender_and_signature(struct accept_ctx *ax, const struct bundle *b, const union body *u,
    int64_t now, uint8_t pk[APAGON_SIGN_PK], struct chain *ch, int *is_authority, int *cached)
{
	struct keyid_search ks;
	struct accept_sender *c;
	uint8_t kid[APAGON_KEYID];
	int rc;

	*is_authority = 0;
	*cached = 0;
	if (b->h.type == BUNDLE_CERT) {
		const struct cert *leaf = &u->chain.c[u->chain.n - 1];

		crypto_key_id(kid, leaf->subject);
		if (memcmp(kid, b->h.sender, APAGON_KEYID) != 0)
			return MESH_ESIGNATURE;
		if (bundle_verify(b, ax->nk, leaf->subject) != MESH_OK)
			return MESH_ESIGNATURE;
		memcpy(pk, leaf->subject, APAGON_SIGN_PK);
		*ch = u->chain;
		return MESH_OK;
	}
	crypto_key_id(kid, ax->nk->authority_pk);
	if (memcmp(kid, b->h.sender, APAGON_KEYID) == 0) {
		if (bundle_verify(b, ax->nk, ax->nk->authority_pk) != MESH_OK)
			return MESH_ESIGNATURE;
		memcpy(pk, ax->nk->authority_pk, APAGON_SIGN_PK);
		*is_authority = 1;
		return MESH_OK;
	}
	if (ax->own_signed && (rc = own_sender(ax, b, now, pk, ch, cached)) != MESH_ENOTFOUND)
		return rc;
	if ((c = cached_sender(ax, b->h.sender, now)) && bundle_verify(b, ax->nk, c->pk) == MESH_OK) {
		memcpy(pk, c->pk, APAGON_SIGN_PK);
		*ch = c->ch;
		*cached = 1;
		return MESH_OK;
	}
	memset(&ks, 0, sizeof ks);
	ks.b = b;
	ks.nk = ax->nk;
	rc = store_members_by_keyid(ax->st, b->h.sender, try_member, &ks);
	if (rc < 0 && rc != MESH_ENOTFOUND)
		return rc;
	if (!ks.found)
		return ks.candidates ? MESH_ESIGNATURE : MESH_EUNKNOWN;
	memcpy(pk, ks.pk, APAGON_SIGN_PK);
	if (chain_decode(ch, ks.chain, ks.chain_len) != MESH_OK)
		return MESH_ECHAIN;
	return MESH_OK;
}

int
accept_chain_revoked(struct store *st, const uint8_t authority_pk[APAGON_SIGN_PK],
    const struct chain *ch)
{
	for (int i = 0; i < ch->n; i++) {
		const struct cert *c = &ch->c[i];

		/* One lookup in the usual case, where nobody revoked the key at all. */
		if (store_is_revoked(st, c->subject, NULL) <= 0)
			continue;
		if (store_is_revoked(st, c->subject, c->issuer) > 0 ||
		    store_is_revoked(st, c->subject, authority_pk) > 0)
			return 1;
	}
	return 0;
}

/* The effect of a public bundle, once stored. Checks were done before any write. */
static int
apply_public(struct accept_ctx *ax, const struct bundle *b, const union body *u,
    const uint8_t sender_pk[APAGON_SIGN_PK], int64_t now)
{
	struct member m, old;
	int rc;

	switch (b->h.type) {
	case BUNDLE_CERT:
		forget_senders(ax);
		for (int i = 0; i < u->chain.n; i++) {
			const struct cert *c = &u->chain.c[i];
			struct chain sub = { .n = i + 1 };
			uint8_t enc[APAGON_CHAIN_MAX];
			int n;

			memcpy(sub.c, u->chain.c, sizeof(struct cert) * (size_t)(i + 1));
			if ((n = chain_encode(enc, sizeof enc, &sub)) < 0)
				return n;
			memset(&m, 0, sizeof m);
			memcpy(m.pk, c->subject, APAGON_SIGN_PK);
			crypto_key_id(m.key_id, c->subject);
			memcpy(m.issuer, c->issuer, APAGON_SIGN_PK);
			m.role = c->role;
			memcpy(m.name, c->name, sizeof m.name);
			memcpy(m.unit, c->unit, sizeof m.unit);
			m.not_before = c->not_before;
			m.not_after = c->not_after;
			m.first_seen = now;
			m.chain = enc;
			m.chain_len = (size_t)n;
			/* The certificate issued last wins: a renewal (or a re-enrolment after
			 * an enroller's revocation) is never undone by an older one arriving
			 * late, whatever either's end date. */
			if (store_get_member(ax->st, m.pk, &old) == MESH_OK && old.not_before > m.not_before)
				continue;
			if ((rc = store_put_member(ax->st, &m)) != MESH_OK)
				return rc;
		}
		return MESH_OK;
	case BUNDLE_PREKEY: {
		struct peer_prekey p;

		memcpy(p.owner, sender_pk, APAGON_SIGN_PK);
		p.serial = u->prekey.serial;
		memcpy(p.pk, u->prekey.pk, APAGON_DH_PK);
		p.not_after = u->prekey.not_after;
		return store_put_peer_prekey(ax->st, &p);
	}
	case BUNDLE_REVOKE:
		forget_senders(ax);
		return store_put_revocation(ax->st, u->rev.subject, sender_pk, u->rev.revoked_at,
		    u->rev.reason);
	}
	return MESH_OK;
}

/*
 * A receipt tells every relay that its recipient has the bundles it lists: drop our
 * copies (keeping tombstones). Only bundles addressed to the receipt's signer, so no
 * member can make relays forget traffic meant for someone else.
 */
static int
only_member(void *ctx, const struct member *m)
{
	(void)m;
	(*(int *)ctx)++;
	return 0;
}

static int
purge_acknowledged(struct accept_ctx *ax, const struct bundle *b)
{
	uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
	struct stored_bundle sb;
	int n, rc, holders = 0;

	if ((n = bundle_receipt_ids(b, ids, APAGON_RECEIPT_MAX_IDS)) < 0)
		return MESH_OK;         /* decode already vouched for it */
	/* Bundles name their recipient by a 6-byte key ID. If a second member ever
	 * shared the signer's (a ground collision), purge nothing rather than guess. */
	if (store_members_by_keyid(ax->st, b->h.sender, only_member, &holders) < 0 || holders != 1)
		return MESH_OK;
	for (int i = 0; i < n; i++) {
		if (store_get_bundle(ax->st, ids[i], &sb) != MESH_OK || sb.type != BUNDLE_MSG ||
		    memcmp(sb.recipient, b->h.sender, APAGON_KEYID) != 0)
			continue;
		if ((rc = store_purge_bundle(ax->st, ids[i])) != MESH_OK && rc != MESH_ENOTFOUND)
			return rc;
	}
	return MESH_OK;
}

struct name_check {
	const uint8_t *pk;
	int others;
};

static int
count_other_keys(void *ctx, const struct member *m)
{
	struct name_check *nc = ctx;

	/* Any unit: sending by name does not look at units either. */
	if (memcmp(m->pk, nc->pk, APAGON_SIGN_PK) != 0)
		nc->others++;
	return 0;
}

/* Steps 1-6: everything that needs no write. */
static int
check(struct accept_ctx *ax, struct bundle *b, union body *u, const uint8_t *buf, size_t len,
    const uint8_t *id, int64_t now, struct accept_result *res)
{
	struct chain ch;
	struct member old;
	int is_authority, cached, held, rc;

	/* 1 size, 2 decode, 3 network */
	if (len < APAGON_BUNDLE_MIN || len > APAGON_MAX_BUNDLE)
		return MESH_ESIZE;
	if ((rc = id ? bundle_decode_known(b, buf, len, ax->nk, id) :
	    bundle_decode(b, buf, len, ax->nk)) != MESH_OK)
		return rc;
	memcpy(res->id, b->id, APAGON_HASH);
	res->type = b->h.type;
	res->precedence = b->h.precedence;

	/* 4 duplicate: a bundle held, or tombstoned, is refused before any public-key
	 * work. Its ID covers every signed byte, so it is the bundle we hold, whatever
	 * its copy's signature bytes or hop count; nothing of it is stored or forwarded.
	 * Copies are the common case in a flooding mesh. */
	if ((held = store_has_bundle(ax->st, b->id)) < 0)
		return held;
	if (held)
		return MESH_EDUPLICATE;
	if (decode_body(b, u) != MESH_OK)
		return MESH_EDECODE;

	/* 5 signature */
	rc = sender_and_signature(ax, b, u, now, res->sender_pk, &ch, &is_authority, &cached);
	if (rc != MESH_OK)
		return rc;

	/* 6 certificate chain and validity, then the bundle's own lifetime */
	if (is_authority) {
		if (b->h.type != BUNDLE_REVOKE)
			return MESH_ECHAIN;     /* the authority only ever revokes */
	} else {
		if (!cached) {
			rc = chain_verify(&ch, ax->nk->network_id, ax->nk->authority_pk,
			    (uint32_t)now, ax->skew, NULL, NULL);
			if (rc != MESH_OK)
				return rc;
		}
		if (b->h.type == BUNDLE_REVOKE) {
			/* Only an enroller revokes, and only what it issued itself. */
			if (ch.c[ch.n - 1].role != ROLE_ENROLLER)
				return MESH_ECHAIN;
			if (store_get_member(ax->st, u->rev.subject, &old) == MESH_OK &&
			    memcmp(old.issuer, res->sender_pk, APAGON_SIGN_PK) != 0)
				return MESH_ECHAIN;
		}
	}
	res->expires_at = accept_expiry(b->h.created, lifetime_seconds(b->h.lifetime), now, ax->skew);
	if (res->expires_at <= now)
		return MESH_EEXPIRED;

	/* 7 revocation: once known, a revoked key is refused outright, whatever creation
	 * time it claims, because a thief can write any time it likes. */
	if (!is_authority) {
		if (accept_chain_revoked(ax->st, ax->nk->authority_pk, &ch))
			return MESH_EREVOKED;
		if (!cached && b->h.type != BUNDLE_CERT)
			remember_sender(ax, res->sender_pk, &ch, now);
	}
	res->for_me = ax->my_pk && bundle_type_sealed(b->h.type) &&
	    memcmp(res->sender_pk, ax->my_pk, APAGON_SIGN_PK) != 0;
	if (res->for_me) {
		uint8_t mine[APAGON_KEYID];

		crypto_key_id(mine, ax->my_pk);
		res->for_me = memcmp(mine, b->h.recipient, APAGON_KEYID) == 0;
	}
	if (b->h.type == BUNDLE_CERT) {
		const struct cert *leaf = &ch.c[ch.n - 1];
		struct name_check nc = { leaf->subject, 0 };

		if (store_each_member(ax->st, leaf->name, count_other_keys, &nc) >= 0 && nc.others)
			res->key_conflict = 1;
	}
	return MESH_OK;
}

static void
count(struct accept_ctx *ax, int reason)
{
	if (reason <= 0 && -reason < (int)(sizeof ax->pending / sizeof ax->pending[0]))
		ax->pending[-reason]++;
}

static int accept_one(struct accept_ctx *ax, const uint8_t *buf, size_t len,
    const uint8_t *id, int64_t now, struct accept_result *res);

int
accept_bundle(struct accept_ctx *ax, const uint8_t *buf, size_t len, int64_t now,
    struct accept_result *res)
{
	return accept_one(ax, buf, len, NULL, now, res);
}

int
accept_bundle_known(struct accept_ctx *ax, const uint8_t *buf, size_t len,
    const uint8_t id[APAGON_HASH], int64_t now, struct accept_result *res)
{
	if (id == NULL) {
		memset(res, 0, sizeof *res);
		res->type = -1;
		return res->reason = MESH_EINVAL;
	}
	return accept_one(ax, buf, len, id, now, res);
}

static int
accept_one(struct accept_ctx *ax, const uint8_t *buf, size_t len, const uint8_t *id,
    int64_t now, struct accept_result *res)
{
	struct bundle b;
	union body u;
	struct stored_bundle sb;
	int rc, savepoint;

	memset(res, 0, sizeof *res);
	res->type = -1;
	if ((rc = check(ax, &b, &u, buf, len, id, now, res)) != MESH_OK)
		goto out;

	/* 8 quota */
	if ((rc = store_make_room(ax->st, res->sender_pk, b.h.precedence, res->expires_at,
	    len)) != MESH_OK)
		goto out;

	/* A plain relayed bundle is one row; anything with side effects gets a savepoint,
	 * so a failure part-way leaves nothing behind. */
	savepoint = b.h.type != BUNDLE_MSG || res->for_me;
	if (savepoint && (rc = store_savepoint(ax->st)) != MESH_OK)
		goto out;
	memset(&sb, 0, sizeof sb);
	memcpy(sb.id, b.id, APAGON_HASH);
	sb.type = b.h.type;
	sb.precedence = b.h.precedence;
	memcpy(sb.sender_pk, res->sender_pk, APAGON_SIGN_PK);
	memcpy(sb.recipient, b.h.recipient, APAGON_KEYID);
	sb.created = b.h.created;
	sb.stored_at = now;
	sb.expires_at = res->expires_at;
	sb.own = ax->own;
	sb.pinned = ax->own && b.h.type == BUNDLE_MSG;
	sb.raw = buf;
	sb.raw_len = len;
	/* A message or receipt for us is delivered before its row is written: taken in
	 * whole, it needs only a tombstone, and writing the row to delete it again in
	 * the same transaction was most of the store's work per message. An own bundle
	 * (a note to self) keeps its row: it is written first, pinned, as before. */
	if (ax->own && (rc = store_put_bundle(ax->st, &sb)) != MESH_OK)
		goto undo;
	if ((rc = apply_public(ax, &b, &u, res->sender_pk, now)) != MESH_OK)
		goto undo;
	if (res->for_me && ax->deliver) {
		res->local = ax->deliver(ax->deliver_ctx, &b, res->sender_pk, now, res);
		if (res->local == MESH_ESTORE || res->local == MESH_ENOMEM) {
			rc = res->local;
			goto undo;
		}
	}
	if (!ax->own && (rc = res->consumed ? store_put_tombstone(ax->st, b.id, res->expires_at) :
	    store_put_bundle(ax->st, &sb)) != MESH_OK)
		goto undo;
	/* After delivery, so the final recipient of a receipt checks it first. */
	if (b.h.type == BUNDLE_RECEIPT && (rc = purge_acknowledged(ax, &b)) != MESH_OK)
		goto undo;
	if (savepoint && (rc = store_release(ax->st)) != MESH_OK)
		goto undo;
	goto out;
undo:
	if (savepoint)
		store_rollback_to(ax->st);
out:
	count(ax, rc);
	return res->reason = rc;
}

int
accept_find_sender(struct accept_ctx *ax, const struct bundle *b,
    uint8_t pk[APAGON_SIGN_PK], struct chain *ch, int *is_authority)
{
	union body u;
	int cached;

	if (decode_body(b, &u) != MESH_OK)
		return MESH_EDECODE;
	return sender_and_signature(ax, b, &u, INT64_MIN, pk, ch, is_authority, &cached);
}
