/*
 * A member's node: creating and unlocking it, its enrollment, and the housekeeping
 * that keeps its prekeys fresh and its store tidy.
 */
#include "node_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

int
node_path(char *out, size_t cap, const char *dir, const char *file)
{
	int n = snprintf(out, cap, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= cap ? NODE_SYS_ERR(ENAMETOOLONG) : 0;
}

static int
make_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return NODE_SYS_ERR(errno);
	return 0;
}

int
node_new_seed(const char *dir, const char *file, const char *passphrase,
    enum keyfile_strength strength, uint8_t pk[APAGON_SIGN_PK])
{
	uint8_t seed[APAGON_SIGN_SEED], sk[APAGON_SIGN_SK], image[APAGON_KEYFILE_MAX];
	char path[NODE_PATH_MAX];
	size_t ilen;
	int rc;

	if ((rc = make_dir(dir)) != 0 || (rc = node_path(path, sizeof path, dir, file)) != 0)
		return rc;
	if (access(path, F_OK) == 0)
		return NODE_SYS_ERR(EEXIST);
	randombytes_buf(seed, sizeof seed);
	crypto_sign_from_seed(pk, sk, seed);
	rc = crypto_keyfile_seal(image, &ilen, seed, sizeof seed, passphrase, strength);
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(sk, sizeof sk);
	if (rc != 0)
		return NODE_CRYPTO_ERR(rc);
	return node_write_file(path, image, ilen, 0600);
}

int
node_open_seed(const char *dir, const char *file, const char *passphrase,
    uint8_t seed[APAGON_SIGN_SEED])
{
	char path[NODE_PATH_MAX];
	uint8_t *image;
	size_t ilen, slen;
	int clear, rc;

	if ((rc = node_path(path, sizeof path, dir, file)) != 0 ||
	    (rc = node_read_file(path, &image, &ilen, APAGON_KEYFILE_MAX)) != 0)
		return rc;
	rc = crypto_keyfile_open(seed, APAGON_SIGN_SEED, &slen, &clear, image, ilen, passphrase);
	free(image);
	if (rc == 0 && slen != APAGON_SIGN_SEED)
		rc = CRYPTO_EFORMAT;
	if (rc != 0) {
		sodium_memzero(seed, APAGON_SIGN_SEED);
		return NODE_CRYPTO_ERR(rc);
	}
	return 0;
}

int
node_init(const char *dir, const char *name, const char *passphrase,
    enum keyfile_strength strength)
{
	uint8_t pk[APAGON_SIGN_PK];
	char path[NODE_PATH_MAX];
	struct store *st = NULL;
	int rc;

	if (!name_valid(name, APAGON_NAME_MAX, 0))
		return MESH_EINVAL;
	if ((rc = node_new_seed(dir, NODE_KEYFILE, passphrase, strength, pk)) != 0)
		return rc;
	if ((rc = node_path(path, sizeof path, dir, NODE_STORE)) != 0)
		return rc;
	if ((rc = store_open(&st, path)) != MESH_OK)
		return rc;
	rc = store_meta_set(st, "name", (const uint8_t *)name, strlen(name));
	store_close(st);
	return rc;
}

/* Load the sealed enrollment, if any, and derive the network keys from it. */
static int
load_enrollment(struct node *n)
{
	uint8_t sealed[APAGON_ENROLLMENT_MAX + APAGON_LOCAL_OVERHEAD];
	uint8_t *plain;
	size_t len;
	int rc;

	rc = store_meta_get(n->st, "enrollment", sealed, sizeof sealed, &len);
	if (rc == MESH_ENOTFOUND)
		return 0;
	if (rc != MESH_OK)
		return rc;
	if (len < APAGON_LOCAL_OVERHEAD || len > sizeof sealed)
		return MESH_EDECODE;
	if (!(plain = sodium_malloc(len)))
		return MESH_ENOMEM;
	rc = crypto_local_open(plain, sealed, len, n->local_key) == 0 ?
	    enrollment_decode(&n->enr, plain, len - APAGON_LOCAL_OVERHEAD) : MESH_EDECRYPT;
	sodium_free(plain);
	if (rc != MESH_OK)
		return rc;
	netkeys_derive(&n->nk, n->enr.net.authority_pk, n->enr.net.network_key);
	n->enrolled = 1;
	n->ax.nk = &n->nk;
	return 0;
}

int
node_open(struct node **out, const char *dir, const char *passphrase)
{
	uint8_t seed[APAGON_SIGN_SEED];
	char path[NODE_PATH_MAX];
	struct node *n;
	size_t nlen;
	int rc;

	*out = NULL;
	if (!(n = sodium_malloc(sizeof *n)))
		return MESH_ENOMEM;
	memset(n, 0, sizeof *n);
	if (strlen(dir) >= sizeof n->dir) {
		rc = NODE_SYS_ERR(ENAMETOOLONG);
		goto fail;
	}
	strcpy(n->dir, dir);
	if ((rc = node_open_seed(dir, NODE_KEYFILE, passphrase, seed)) != 0)
		goto fail;
	crypto_sign_from_seed(n->pk, n->sk, seed);
	crypto_key_id(n->key_id, n->pk);
	crypto_hash_ctx(n->local_key, APAGON_KEY, APAGON_CTX_LOCAL_KEY, NULL, 0, seed, sizeof seed);
	sodium_memzero(seed, sizeof seed);

	if ((rc = node_path(path, sizeof path, dir, NODE_STORE)) != 0 ||
	    (rc = store_open(&n->st, path)) != MESH_OK)
		goto fail;
	if ((rc = store_meta_get(n->st, "name", (uint8_t *)n->name, APAGON_NAME_MAX, &nlen)) != 0)
		goto fail;
	n->name[nlen] = '\0';
	store_set_quota(n->st, &(struct store_quota){ NODE_QUOTA_TOTAL, NODE_QUOTA_SENDER });
	n->ax.st = n->st;
	n->ax.skew = APAGON_DEFAULT_SKEW;
	n->ax.my_pk = n->pk;
	n->ax.deliver = node_deliver;
	n->ax.deliver_ctx = n;
	n->ax.batch_end = node_batch_end;
	if ((rc = load_enrollment(n)) != 0)
		goto fail;
	*out = n;
	return 0;
fail:
	node_close(n);
	return rc;
}

void
node_close(struct node *n)
{
	if (!n)
		return;
	store_close(n->st);
	netkeys_wipe(&n->nk);
	sodium_free(n);         /* zeroes the whole struct: keys, network key, local key */
}

uint8_t *
node_plain_get(struct node *n, size_t len)
{
	for (int i = 0; len <= NODE_PLAIN_MAX && i < NODE_PLAIN_SLOTS; i++)
		if (!n->plain_busy[i]) {
			n->plain_busy[i] = 1;
			return n->plain[i];
		}
	return sodium_malloc(len ? len : 1);
}

void
node_plain_put(struct node *n, uint8_t *p, size_t len)
{
	if (!p)
		return;
	for (int i = 0; i < NODE_PLAIN_SLOTS; i++)
		if (p == n->plain[i]) {
			sodium_memzero(p, len);
			n->plain_busy[i] = 0;
			return;
		}
	sodium_free(p);         /* wipes it */
}

struct store *node_store(struct node *n) { return n->st; }
const uint8_t *node_pk(const struct node *n) { return n->pk; }
const char *node_name(const struct node *n) { return n->name; }
const struct netkeys *node_netkeys(const struct node *n) { return n->enrolled ? &n->nk : NULL; }
const char *node_network_name(const struct node *n) { return n->enrolled ? n->enr.net.name : NULL; }
const struct chain *node_chain(const struct node *n) { return n->enrolled ? &n->enr.chain : NULL; }

int
node_request(struct node *n, uint8_t *out, size_t cap)
{
	struct enroll_request r;

	memset(&r, 0, sizeof r);
	memcpy(r.pk, n->pk, APAGON_SIGN_PK);
	memcpy(r.name, n->name, sizeof r.name);
	return request_encode(out, cap, &r, n->sk);
}

int
node_accept_own(struct node *n, const uint8_t *buf, size_t len, int64_t now,
    struct accept_result *res)
{
	int rc;

	/* buf was signed a moment ago with n->sk by our own code: acceptance need not
	 * verify that signature again, but runs every other check. */
	n->ax.own = n->ax.own_signed = 1;
	rc = accept_bundle(&n->ax, buf, len, now, res);
	n->ax.own = n->ax.own_signed = 0;
	return rc;
}

int
node_own_prekey(struct node *n, int serial8, struct own_prekey *p, uint8_t sk[APAGON_DH_SK])
{
	int rc = serial8 < 0 ? store_own_prekey_current(n->st, p) :
	    store_own_prekey_by_serial8(n->st, (uint8_t)serial8, p);

	if (rc != MESH_OK)
		return rc;
	if (crypto_local_open(sk, p->sealed_sk, sizeof p->sealed_sk, n->local_key) != 0)
		return MESH_EDECRYPT;
	return MESH_OK;
}

int
node_dh(struct node *n, uint32_t serial, const uint8_t sk[APAGON_DH_SK],
    const uint8_t peer[APAGON_DH_PK], const uint8_t **shared)
{
	int slot;

	for (int i = 0; i < (int)(sizeof n->dh / sizeof n->dh[0]); i++) {
		if (n->dh[i].used && n->dh[i].serial == serial &&
		    memcmp(n->dh[i].peer, peer, APAGON_DH_PK) == 0) {
			*shared = n->dh[i].shared;
			return MESH_OK;
		}
	}
	slot = n->dh_next;
	n->dh_next = (n->dh_next + 1) % (int)(sizeof n->dh / sizeof n->dh[0]);
	if (crypto_dh_shared(n->dh[slot].shared, sk, peer) != 0) {
		n->dh[slot].used = 0;
		return MESH_EDECRYPT;
	}
	n->dh[slot].serial = serial;
	memcpy(n->dh[slot].peer, peer, APAGON_DH_PK);
	n->dh[slot].used = 1;
	*shared = n->dh[slot].shared;
	return MESH_OK;
}

void
node_dh_forget(struct node *n)
{
	sodium_memzero(n->dh, sizeof n->dh);
	n->dh_next = 0;
}

/* Publish a public bundle (CERT, PREKEY) of ours into our own store. */
static int
publish(struct node *n, int type, const uint8_t *body, size_t blen, uint32_t lifetime,
    int64_t now, uint8_t id[APAGON_HASH])
{
	uint8_t buf[APAGON_BUNDLE_MIN + APAGON_TAG + APAGON_CHAIN_MAX];
	struct bundle_hdr h;
	struct accept_result res;
	int len;

	memset(&h, 0, sizeof h);
	h.type = (uint8_t)type;
	h.precedence = PREC_IMMEDIATE;
	memcpy(h.sender, n->key_id, APAGON_KEYID);
	memcpy(h.recipient, bundle_broadcast_id, APAGON_KEYID);
	h.created = (uint32_t)now;
	h.lifetime = lifetime_code(lifetime);
	bundle_hdr_salt(&h);
	if ((len = bundle_build_public(buf, sizeof buf, &h, body, blen, &n->nk, n->sk)) < 0)
		return len;
	node_accept_own(n, buf, (size_t)len, now, &res);
	if (res.reason != MESH_OK)
		return res.reason;
	if (id)
		memcpy(id, res.id, APAGON_HASH);
	return MESH_OK;
}

/* Seconds a bundle may live, capped by what a lifetime code can express. */
static uint32_t
cap_lifetime(int64_t secs)
{
	const int64_t max = 63LL * 7 * 86400;

	if (secs < 60)
		return 60;
	return (uint32_t)(secs > max ? max : secs);
}

/* A new prekey: sealed secret in the store, PREKEY bundle published. */
static int
rotate_prekey(struct node *n, int64_t now)
{
	struct own_prekey cur, p;
	struct prekey_rec rec;
	uint8_t sk[APAGON_DH_SK], body[APAGON_PREKEY_REC];
	int rc;

	memset(&p, 0, sizeof p);
	rc = store_own_prekey_current(n->st, &cur);
	if (rc == MESH_OK)
		p.serial = cur.serial + 1;
	else if (rc == MESH_ENOTFOUND)
		p.serial = 1;
	else
		return rc;
	crypto_dh_keygen(p.pk, sk);
	crypto_local_seal(p.sealed_sk, sk, sizeof sk, n->local_key);
	sodium_memzero(sk, sizeof sk);
	p.created = now;
	if ((rc = store_put_own_prekey(n->st, &p)) != MESH_OK ||
	    (rc = store_retire_own_prekeys(n->st, now)) != MESH_OK)
		return rc;
	rec.serial = p.serial;
	memcpy(rec.pk, p.pk, APAGON_DH_PK);
	rec.not_after = (uint32_t)(now + NODE_PREKEY_LIFETIME);
	prekey_encode(body, &rec);
	return publish(n, BUNDLE_PREKEY, body, sizeof body, NODE_PREKEY_LIFETIME, now, NULL);
}

/* Our CERT bundle must always be in the store, so every export carries it. */
static int
ensure_cert_bundle(struct node *n, int64_t now)
{
	uint8_t id[APAGON_HASH], body[APAGON_CHAIN_MAX];
	struct stored_bundle sb;
	size_t len;
	int blen, rc;

	rc = store_meta_get(n->st, "cert_bundle", id, sizeof id, &len);
	if (rc == MESH_OK && len == sizeof id && store_get_bundle(n->st, id, &sb) == MESH_OK &&
	    sb.expires_at > now + NODE_PREKEY_PERIOD)
		return MESH_OK;
	if ((blen = chain_encode(body, sizeof body, &n->enr.chain)) < 0)
		return blen;
	rc = publish(n, BUNDLE_CERT, body, (size_t)blen,
	    cap_lifetime((int64_t)n->enr.chain.c[n->enr.chain.n - 1].not_after - now), now, id);
	if (rc != MESH_OK)
		return rc;
	return store_meta_set(n->st, "cert_bundle", id, sizeof id);
}

int
node_maintain(struct node *n, int64_t now)
{
	struct own_prekey cur;
	int rc, frc;

	if ((rc = accept_begin(&n->ax)) != MESH_OK)
		return rc;
	if (n->enrolled) {
		if ((rc = ensure_cert_bundle(n, now)) != MESH_OK)
			goto fail;
		rc = store_own_prekey_current(n->st, &cur);
		if (rc == MESH_ENOTFOUND || (rc == MESH_OK && now - cur.created >= NODE_PREKEY_PERIOD))
			rc = rotate_prekey(n, now);
		if (rc != MESH_OK)
			goto fail;
		if ((rc = node_retry_pending(n, now)) != MESH_OK)
			goto fail;
	}
	if ((rc = store_msg_expire(n->st, now, "lifetime ended before a receipt came back")) != MESH_OK ||
	    (rc = store_gc(n->st, now, NULL)) != MESH_OK)
		goto fail;
	if ((rc = accept_commit(&n->ax)) != MESH_OK) {
		accept_rollback(&n->ax);
		return rc;
	}
	/* Outside the transaction, so the WAL can be checkpointed over the old secrets. */
	node_dh_forget(n);
	rc = store_delete_old_prekeys(n->st, now - NODE_PREKEY_GRACE, NULL);
	/* Receipts owed since before a restart, or waiting out their delay: after the
	 * old secrets are gone, so that nothing here can keep them. */
	frc = node_receipts_flush(n, now, 0, NULL);
	return rc != MESH_OK ? rc : frc;
fail:
	accept_rollback(&n->ax);
	return rc;
}

int
node_enroll(struct node *n, const uint8_t *buf, size_t len, int64_t now)
{
	struct enrollment *e;
	struct netkeys nk;
	uint8_t *sealed = NULL;
	int rc;

	if (!(e = sodium_malloc(sizeof *e)))
		return MESH_ENOMEM;
	if ((rc = enrollment_decode(e, buf, len)) != MESH_OK)
		goto out;
	if (memcmp(e->chain.c[e->chain.n - 1].subject, n->pk, APAGON_SIGN_PK) != 0) {
		rc = MESH_ECHAIN;       /* someone else's enrollment file */
		goto out;
	}
	if (n->enrolled && memcmp(n->enr.net.authority_pk, e->net.authority_pk, APAGON_SIGN_PK) != 0) {
		rc = MESH_ENETWORK;     /* a node belongs to one network */
		goto out;
	}
	netkeys_derive(&nk, e->net.authority_pk, e->net.network_key);
	rc = chain_verify(&e->chain, nk.network_id, nk.authority_pk, (uint32_t)now,
	    APAGON_DEFAULT_SKEW, NULL, NULL);
	netkeys_wipe(&nk);
	if (rc != MESH_OK)
		goto out;
	if (!(sealed = malloc(len + APAGON_LOCAL_OVERHEAD))) {
		rc = MESH_ENOMEM;
		goto out;
	}
	crypto_local_seal(sealed, buf, len, n->local_key);
	if ((rc = store_meta_set(n->st, "enrollment", sealed, len + APAGON_LOCAL_OVERHEAD)) != MESH_OK)
		goto out;
	/* A renewed certificate needs a fresh CERT bundle. */
	store_meta_set(n->st, "cert_bundle", (const uint8_t *)"", 0);
	n->enr = *e;
	netkeys_derive(&n->nk, n->enr.net.authority_pk, n->enr.net.network_key);
	n->enrolled = 1;
	n->ax.nk = &n->nk;
	rc = node_maintain(n, now);
out:
	free(sealed);
	sodium_free(e);
	return rc;
}
