/*
 * The network authority's office and its delegates: issuing certificates into
 * enrollment files, and revoking them. The authority key lives in its own directory,
 * sealed with Argon2id at moderate cost, and is meant for an offline machine.
 */
#include "node_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define AUTHORITY_KEYFILE "authority.key"

/* Allocated with sodium_malloc, like struct node. */
struct issuer {
	int authority;
	struct node *node;              /* an enroller's own node */
	struct store *st;               /* the register of issued certificates */
	uint8_t pk[APAGON_SIGN_PK];
	uint8_t sk[APAGON_SIGN_SK];
	struct network_desc net;
	struct netkeys nk;
	const struct chain *chain;      /* the enroller's own chain; NULL for the authority */
};

static void
network_key(uint8_t key[APAGON_KEY], const uint8_t seed[APAGON_SIGN_SEED])
{
	crypto_hash_ctx(key, APAGON_KEY, APAGON_CTX_NETWORK_KEY, NULL, 0, seed, APAGON_SIGN_SEED);
}

int
authority_init(const char *dir, const char *name, const char *passphrase,
    enum keyfile_strength strength)
{
	uint8_t pk[APAGON_SIGN_PK];
	char path[NODE_PATH_MAX];
	struct store *st = NULL;
	int rc;

	if (!name_valid(name, APAGON_NAME_MAX, 0))
		return MESH_EINVAL;
	if ((rc = node_new_seed(dir, AUTHORITY_KEYFILE, passphrase, strength, pk)) != 0)
		return rc;
	if ((rc = node_path(path, sizeof path, dir, NODE_STORE)) != 0 ||
	    (rc = store_open(&st, path)) != MESH_OK)
		return rc;
	rc = store_meta_set(st, "network_name", (const uint8_t *)name, strlen(name));
	if (rc == MESH_OK)
		rc = store_meta_set(st, "authority_pk", pk, sizeof pk);
	store_close(st);
	return rc;
}

static int
open_authority(struct issuer *is, const char *dir, const char *passphrase)
{
	uint8_t seed[APAGON_SIGN_SEED];
	char dbpath[NODE_PATH_MAX];
	size_t nlen;
	int rc;

	if ((rc = node_open_seed(dir, AUTHORITY_KEYFILE, passphrase, seed)) != 0)
		return rc;
	crypto_sign_from_seed(is->pk, is->sk, seed);
	network_key(is->net.network_key, seed);
	sodium_memzero(seed, sizeof seed);
	memcpy(is->net.authority_pk, is->pk, APAGON_SIGN_PK);
	is->authority = 1;
	if ((rc = node_path(dbpath, sizeof dbpath, dir, NODE_STORE)) != 0 ||
	    (rc = store_open(&is->st, dbpath)) != MESH_OK)
		return rc;
	if ((rc = store_meta_get(is->st, "network_name", (uint8_t *)is->net.name, APAGON_NAME_MAX,
	    &nlen)) != MESH_OK)
		return rc;
	is->net.name[nlen] = '\0';
	netkeys_derive(&is->nk, is->net.authority_pk, is->net.network_key);
	return 0;
}

static int
open_enroller(struct issuer *is, const char *dir, const char *passphrase)
{
	const struct chain *ch;
	int rc;

	if ((rc = node_open(&is->node, dir, passphrase)) != 0)
		return rc;
	if (!(ch = node_chain(is->node)))
		return NODE_ENOTENROLLED;
	if (ch->c[ch->n - 1].role != ROLE_ENROLLER)
		return MESH_ECHAIN;
	is->chain = ch;
	is->st = node_store(is->node);
	memcpy(is->pk, is->node->pk, APAGON_SIGN_PK);
	memcpy(is->sk, is->node->sk, APAGON_SIGN_SK);
	is->net = is->node->enr.net;
	is->nk = is->node->nk;
	return 0;
}

int
issuer_open(struct issuer **out, const char *dir, const char *passphrase)
{
	char path[NODE_PATH_MAX];
	struct issuer *is;
	int rc;

	*out = NULL;
	if (!(is = sodium_malloc(sizeof *is)))
		return MESH_ENOMEM;
	memset(is, 0, sizeof *is);
	if ((rc = node_path(path, sizeof path, dir, AUTHORITY_KEYFILE)) != 0)
		goto fail;
	if (access(path, F_OK) == 0)
		rc = open_authority(is, dir, passphrase);
	else
		rc = open_enroller(is, dir, passphrase);
	if (rc != 0)
		goto fail;
	*out = is;
	return 0;
fail:
	issuer_close(is);
	return rc;
}

void
issuer_close(struct issuer *is)
{
	if (!is)
		return;
	if (is->node)
		node_close(is->node);
	else
		store_close(is->st);
	netkeys_wipe(&is->nk);
	sodium_free(is);
}

int
issuer_is_authority(const struct issuer *is)
{
	return is->authority;
}

const struct network_desc *
issuer_network(const struct issuer *is)
{
	return &is->net;
}

int
issuer_enroll(struct issuer *is, const uint8_t *req, size_t reqlen, int role,
    const char *unit, int days, int64_t now, uint8_t *out, size_t cap,
    struct cert *issued)
{
	struct enroll_request r;
	struct enrollment *e;
	struct member m;
	struct cert c;
	uint8_t enc[APAGON_CHAIN_MAX];
	int rc, len = 0, n;

	if ((rc = request_decode(&r, req, reqlen)) != MESH_OK)
		return rc;
	if (role != ROLE_MEMBER && role != ROLE_ENROLLER)
		return MESH_EINVAL;
	if (days <= 0)
		days = 365;
	if (days > NODE_CERT_MAX_DAYS)
		return MESH_EINVAL;
	/* Never re-enrol a key this office or the authority revoked. */
	if (store_is_revoked(is->st, r.pk, is->pk) > 0 ||
	    store_is_revoked(is->st, r.pk, is->net.authority_pk) > 0)
		return MESH_EREVOKED;
	memset(&c, 0, sizeof c);
	c.role = (uint8_t)role;
	memcpy(c.subject, r.pk, APAGON_SIGN_PK);
	memcpy(c.issuer, is->pk, APAGON_SIGN_PK);
	memcpy(c.name, r.name, sizeof c.name);
	c.not_before = (uint32_t)now;
	c.not_after = (uint32_t)(now + (int64_t)days * 86400);
	if (is->authority) {
		if (!unit)
			unit = "";
	} else {
		const struct cert *mine = &is->chain->c[is->chain->n - 1];

		/* An enroller enrols members of its own unit, within its own validity. */
		if (role != ROLE_MEMBER || (unit && strcmp(unit, mine->unit) != 0))
			return MESH_ECHAIN;
		unit = mine->unit;
		if (c.not_after > mine->not_after)
			c.not_after = mine->not_after;
		if (c.not_before < mine->not_before)
			c.not_before = mine->not_before;
	}
	if (!name_valid(unit, APAGON_NAME_MAX, 1))
		return MESH_EINVAL;
	strcpy(c.unit, unit);
	cert_sign(&c, is->nk.network_id, is->sk);

	if (!(e = sodium_malloc(sizeof *e)))
		return MESH_ENOMEM;
	memset(e, 0, sizeof *e);
	e->net = is->net;
	if (is->authority) {
		e->chain.n = 1;
		e->chain.c[0] = c;
	} else {
		e->chain.n = 2;
		e->chain.c[0] = is->chain->c[is->chain->n - 1];
		e->chain.c[1] = c;
	}
	rc = enrollment_encode(out, cap, e);
	if (rc >= 0) {
		len = rc;
		n = chain_encode(enc, sizeof enc, &e->chain);
		rc = n < 0 ? n : MESH_OK;
	}
	sodium_free(e);
	if (rc != MESH_OK)
		return rc;

	/* The register: who was issued what, for revocation by name later. */
	memset(&m, 0, sizeof m);
	memcpy(m.pk, c.subject, APAGON_SIGN_PK);
	crypto_key_id(m.key_id, c.subject);
	memcpy(m.issuer, c.issuer, APAGON_SIGN_PK);
	m.role = c.role;
	memcpy(m.name, c.name, sizeof m.name);
	memcpy(m.unit, c.unit, sizeof m.unit);
	m.not_before = c.not_before;
	m.not_after = c.not_after;
	m.first_seen = now;
	m.chain = enc;
	m.chain_len = (size_t)n;
	if ((rc = store_put_member(is->st, &m)) != MESH_OK)
		return rc;
	if (issued)
		*issued = c;
	return len;
}

int
issuer_revoke(struct issuer *is, const uint8_t subject[APAGON_SIGN_PK], const char *reason,
    int64_t now, uint8_t **buf, size_t *len)
{
	uint8_t body[APAGON_REVOCATION_MAX], *out;
	struct revocation rev;
	struct bundle_hdr h;
	struct member m;
	int blen, n, rc;

	*buf = NULL;
	*len = 0;
	if (!reason)
		reason = "";
	if (!name_valid(reason, APAGON_NAME_MAX, 1))
		return MESH_EINVAL;
	if (!is->authority) {
		/* An enroller revokes only the certificates it issued itself. */
		if (store_get_member(is->st, subject, &m) != MESH_OK ||
		    memcmp(m.issuer, is->pk, APAGON_SIGN_PK) != 0)
			return MESH_ECHAIN;
	}
	memset(&rev, 0, sizeof rev);
	memcpy(rev.subject, subject, APAGON_SIGN_PK);
	rev.revoked_at = (uint32_t)now;
	strcpy(rev.reason, reason);
	if ((blen = revocation_encode(body, sizeof body, &rev)) < 0)
		return blen;
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_REVOKE;
	h.precedence = PREC_FLASH;      /* revocations outrank all traffic */
	crypto_key_id(h.sender, is->pk);
	memcpy(h.recipient, bundle_broadcast_id, APAGON_KEYID);
	h.created = (uint32_t)now;
	h.lifetime = lifetime_code(63 * 7 * 86400);
	bundle_hdr_salt(&h);
	if (!(out = malloc(APAGON_BUNDLEFILE_HDR + 2 + APAGON_BUNDLE_MIN + APAGON_TAG + (size_t)blen)))
		return MESH_ENOMEM;
	bundlefile_header(out);
	n = bundle_build_public(out + APAGON_BUNDLEFILE_HDR + 2,
	    APAGON_BUNDLE_MIN + APAGON_TAG + (size_t)blen, &h, body, (size_t)blen, &is->nk, is->sk);
	if (n < 0) {
		free(out);
		return n;
	}
	out[APAGON_BUNDLEFILE_HDR] = (uint8_t)(n >> 8);
	out[APAGON_BUNDLEFILE_HDR + 1] = (uint8_t)n;
	if (is->node) {
		/* An enroller's node also holds it, so its own exports carry it on. */
		struct import_summary sum;

		rc = node_import(is->node, out, APAGON_BUNDLEFILE_HDR + 2 + (size_t)n, now, NULL, NULL, &sum);
	} else {
		rc = store_put_revocation(is->st, subject, is->pk, (uint32_t)now, reason);
	}
	if (rc != MESH_OK) {
		free(out);
		return rc;
	}
	*buf = out;
	*len = APAGON_BUNDLEFILE_HDR + 2 + (size_t)n;
	return MESH_OK;
}

int
issuer_resolve(struct issuer *is, const char *who, uint8_t pk[APAGON_SIGN_PK])
{
	return node_resolve_in(is->st, who, pk, NULL, NULL);
}
