/*
 * The acceptance path (accept.h). Every check names its reason; nothing is written
 * before all checks pass, and what is written commits with the batch or not at all.
 */
#include "accept.h"
#include "mesh.h"

#include <sodium.h>
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

int
accept_begin(struct accept_ctx *ax)
{
	return store_begin(ax->st);
}

int
accept_commit(struct accept_ctx *ax)
{
	return store_commit(ax->st);
}

void
accept_rollback(struct accept_ctx *ax)
{
	store_rollback(ax->st);
}

/* A clear body, decoded as part of step 2. */
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
		return chain_decode(&u->chain, b->body, b->body_len);
	case BUNDLE_PREKEY:
		return prekey_decode(&u->prekey, b->body, b->body_len);
	case BUNDLE_REVOKE:
		return revocation_decode(&u->rev, b->body, b->body_len);
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

/*
 * Step 4: who signed it? A CERT bundle names its sender in its own body; the authority
 * is known from the network; everyone else must have a certificate in the store.
 * Returns MESH_OK with pk (and ch unless authority), MESH_EUNKNOWN or MESH_ESIGNATURE.
 */
static int
sender_and_signature(struct accept_ctx *ax, const struct bundle *b, const union body *u,
    uint8_t pk[APAGON_SIGN_PK], struct chain *ch, int *is_authority)
{
	struct keyid_search ks;
	uint8_t kid[APAGON_KEYID];
	int rc;

	*is_authority = 0;
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
	if (memcmp(kid, b->h.sender, APAGON_KEYID) == 0 &&
	    bundle_verify(b, ax->nk, ax->nk->authority_pk) == MESH_OK) {
		memcpy(pk, ax->nk->authority_pk, APAGON_SIGN_PK);
		*is_authority = 1;
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

/* Revoked by the authority, or by the certificate's own issuer. */
static int
link_revoked(void *ctx, const uint8_t subject[APAGON_SIGN_PK], const uint8_t issuer[APAGON_SIGN_PK])
{
	struct accept_ctx *ax = ctx;

	return store_is_revoked(ax->st, subject, issuer) > 0 ||
	    store_is_revoked(ax->st, subject, ax->nk->authority_pk) > 0;
}

/* The effect of a clear bundle, once stored. */
static int
apply_public(struct accept_ctx *ax, const struct bundle *b, const union body *u,
    const uint8_t sender_pk[APAGON_SIGN_PK], int is_authority, int64_t now)
{
	struct member m, old;
	int rc;

	switch (b->h.type) {
	case BUNDLE_CERT:
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
		/* An enroller may revoke only what it issued; the authority anything. */
		if (!is_authority && store_get_member(ax->st, u->rev.subject, &old) == MESH_OK &&
		    memcmp(old.issuer, sender_pk, APAGON_SIGN_PK) != 0)
			return MESH_ECHAIN;
		return store_put_revocation(ax->st, u->rev.subject, sender_pk, u->rev.revoked_at,
		    u->rev.reason);
	}
	return MESH_OK;
}

struct name_check {
	const uint8_t *pk;
	const char *unit;
	int others;
};

static int
count_other_keys(void *ctx, const struct member *m)
{
	struct name_check *nc = ctx;

	if (memcmp(m->pk, nc->pk, APAGON_SIGN_PK) != 0 && strcmp(m->unit, nc->unit) == 0)
		nc->others++;
	return 0;
}

/* Steps 1-6: everything that needs no write. */
static int
check(struct accept_ctx *ax, struct bundle *b, union body *u, const uint8_t *buf, size_t len,
    int64_t now, struct accept_result *res)
{
	struct chain ch;
	int is_authority, rc;

	/* 1 size, 2 decode, 3 network */
	if (len < APAGON_BUNDLE_MIN || len > APAGON_MAX_BUNDLE)
		return MESH_ESIZE;
	if ((rc = bundle_decode(b, buf, len, ax->nk)) != MESH_OK)
		return rc;
	memcpy(res->id, b->id, APAGON_HASH);
	res->type = b->h.type;
	if (decode_body(b, u) != MESH_OK)
		return MESH_EDECODE;

	/* 4 signature */
	if ((rc = sender_and_signature(ax, b, u, res->sender_pk, &ch, &is_authority)) != MESH_OK)
		return rc;

	/* 5 certificate chain and validity, then the bundle's own lifetime */
	if (is_authority) {
		if (b->h.type != BUNDLE_REVOKE)
			return MESH_ECHAIN;     /* the authority only ever revokes */
	} else {
		rc = chain_verify(&ch, ax->nk->network_id, ax->nk->authority_pk, (uint32_t)now,
		    ax->skew, NULL, NULL);
		if (rc != MESH_OK)
			return rc;
		if (b->h.type == BUNDLE_REVOKE && ch.c[ch.n - 1].role != ROLE_ENROLLER)
			return MESH_ECHAIN;
	}
	res->expires_at = accept_expiry(b->h.created, lifetime_seconds(b->h.lifetime), now, ax->skew);
	if (res->expires_at <= now)
		return MESH_EEXPIRED;

	/* 6 revocation: once known, a revoked key is refused outright, whatever creation
	 * time it claims, because a thief can write any time it likes. */
	if (!is_authority) {
		for (int i = 0; i < ch.n; i++)
			if (link_revoked(ax, ch.c[i].subject, ch.c[i].issuer))
				return MESH_EREVOKED;
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
		struct name_check nc = { leaf->subject, leaf->unit, 0 };

		if (store_each_member(ax->st, leaf->name, count_other_keys, &nc) >= 0 && nc.others)
			res->key_conflict = 1;
	}
	return MESH_OK;
}

int
accept_bundle(struct accept_ctx *ax, const uint8_t *buf, size_t len, int64_t now,
    struct accept_result *res)
{
	struct bundle b;
	union body u;
	struct stored_bundle sb;
	int held, rc, is_authority;

	memset(res, 0, sizeof *res);
	res->type = -1;
	rc = check(ax, &b, &u, buf, len, now, res);
	if (rc != MESH_OK)
		goto reject;

	if ((rc = store_savepoint(ax->st)) != MESH_OK)
		return res->reason = rc;

	/* 7 quota (a bundle already held costs nothing), 8 duplicate */
	if ((held = store_has_bundle(ax->st, b.id)) < 0) {
		rc = held;
		goto undo;
	}
	if (!held && (rc = store_make_room(ax->st, res->sender_pk, b.h.precedence,
	    res->expires_at, len)) != MESH_OK)
		goto undo;
	if (held) {
		rc = MESH_EDUPLICATE;
		goto undo;
	}

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
	if ((rc = store_put_bundle(ax->st, &sb)) != MESH_OK)
		goto undo;

	is_authority = memcmp(res->sender_pk, ax->nk->authority_pk, APAGON_SIGN_PK) == 0;
	if ((rc = apply_public(ax, &b, &u, res->sender_pk, is_authority, now)) != MESH_OK)
		goto undo;
	if (res->for_me && ax->deliver) {
		res->local = ax->deliver(ax->deliver_ctx, &b, res->sender_pk, now, res);
		if (res->local == MESH_ESTORE) {
			rc = MESH_ESTORE;
			goto undo;
		}
	}
	if ((rc = store_release(ax->st)) != MESH_OK)
		goto undo;
	store_counter_add(ax->st, "accepted", 1);
	return res->reason = MESH_OK;

undo:
	store_rollback_to(ax->st);
	if (rc == MESH_ESTORE || rc == MESH_ENOMEM)
		return res->reason = rc;
reject:
	{
		char name[48] = "rejected.";

		strncat(name, mesh_reason_name(rc), sizeof name - strlen(name) - 1);
		store_counter_add(ax->st, name, 1);
	}
	return res->reason = rc;
}

int
accept_find_sender(struct accept_ctx *ax, const struct bundle *b,
    uint8_t pk[APAGON_SIGN_PK], struct chain *ch, int *is_authority)
{
	union body u;

	if (decode_body(b, &u) != MESH_OK)
		return MESH_EDECODE;
	return sender_and_signature(ax, b, &u, pk, ch, is_authority);
}
