/*
 * Link sessions (session.h): handshake, data frames, reconciliation, bundle transfer.
 * The wire formats and the reasoning behind each step are in docs/protocol.md, section 15;
 * the comments here say why the code does what it does.
 */
#include "session.h"
#include "wire.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Frame types (first byte, in the clear). */
#define FR_HS1   0x01
#define FR_HS2   0x02
#define FR_HS3   0x03
#define FR_DATA  0x10

#define HS_VERSION 1
#define HS1_LEN  (1 + 1 + APAGON_DH_PK + 16)
#define HS_BODY_MAX (2 + APAGON_CHAIN_MAX + APAGON_SIG)
#define MSG_HDR  3
#define NONCE    crypto_aead_chacha20poly1305_ietf_NPUBBYTES
#define PREFIX   8

/* Handshake steps. */
enum {
	HS_WAIT_HS1,            /* responder: nothing yet */
	HS_WAIT_HS2,            /* initiator: HS1 sent */
	HS_WAIT_HS3,            /* responder: HS2 sent */
	HS_CONFIRM,             /* initiator: HS3 sent, keys ready, waiting for the first
	                           data frame that proves the responder has them too */
	HS_DONE,
};

/* What the session knows about one bundle ID (keyed by its first 16 bytes). */
#define F_QUEUED   0x01         /* in the send queue */
#define F_INFLIGHT 0x02         /* sent, no ACK yet */
#define F_PEER_HAS 0x04         /* acknowledged by the peer, or received from it */
#define F_HELD     0x08         /* we hold it (or refuse it for good): offer it */
#define F_FULL     0x10         /* id[16..31] known */

struct ent {
	uint8_t id[APAGON_HASH];
	uint8_t flags;
	uint8_t used;
};

struct idmap {
	struct ent *e;
	size_t cap, n;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

struct qent {
	uint8_t id[APAGON_HASH];
	uint8_t rank;           /* precedence * 2 + public type: higher goes first */
	uint64_t seq;
};

/* One side's set for a reconciliation, sorted by ID, without duplicates. */
struct snap {
	struct riblt_item *items;
	uint8_t (*full)[APAGON_HASH];
	uint8_t *rank;
	size_t n, cap;
	struct riblt_encoder enc;
	int ready;
};

#define PEND_MAX 32

struct session {
	struct session_config cfg;
	struct session_source store_src;
	const struct session_source *src;
	int state, err;

	/* handshake */
	int hs;
	uint8_t psk[APAGON_KEY];
	uint8_t e_pk[APAGON_DH_PK], e_sk[APAGON_DH_SK];
	uint8_t th[APAGON_HASH];
	uint8_t hs_secret[APAGON_KEY];
	uint8_t hs1[HS1_LEN];
	uint8_t *hs2, *hs3;
	size_t hs2_len, hs3_len;
	int hs_send;            /* 0, or the handshake frame to (re)send */
	uint64_t hs_retry_at, hs_retry_cur, hs_deadline;
	uint8_t peer_pk[APAGON_SIGN_PK];
	int peer_known;

	/* traffic */
	uint8_t k_tx[APAGON_KEY], k_rx[APAGON_KEY];
	uint8_t riblt_key[RIBLT_KEY];
	uint64_t tx_ctr, rx_max, rx_bits;
	int rx_any;
	uint64_t last_rx, last_tx;
	uint8_t *ptx;           /* plaintext scratch, max_frame bytes */

	/* control messages waiting for output */
	int need_ping;
	int more_pending;
	uint32_t more_round, more_have, more_total;
	uint8_t (*wants)[PREFIX];
	size_t nwants, wants_off, wants_cap;
	int result_pending, result_fail;
	uint32_t result_round, result_diff;
	uint8_t (*acks)[RIBLT_ID];
	size_t nacks, acks_cap;

	/* reconciliation: initiator encodes, responder decodes */
	uint32_t round;
	int round_active;       /* initiator: waiting for the responder's answer */
	uint64_t round_deadline, next_round_at;
	uint32_t sym_next, sym_end;
	int d_active;           /* responder: decoder running for `round` */
	struct riblt_decoder dec;
	struct snap snap;
	uint64_t last_diff;
	int have_last_diff;

	/* bundles */
	struct qent *heap;
	size_t nheap, capheap;
	uint64_t seq;
	struct idmap map;
	struct {
		uint8_t *raw;
		size_t len;
	} pend[PEND_MAX];
	int npend;

	/* rate limit on what this peer delivers (ratelimit.h) */
	struct ratelimit_params peer_p;
	struct rl_pair peer_b;

	struct session_stats st;
};

const char *
session_strerror(int err)
{
	switch (err) {
	case SESSION_ETIMEOUT: return "link session timed out";
	case SESSION_EPEER:    return "peer is not acceptable (ourselves)";
	case SESSION_ECLOSED:  return "link session is closed";
	}
	return mesh_strerror(err);
}

/* ---------------- small helpers ---------------- */

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (!(np = realloc(*p, ncap * size)))
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* ---------------- ID map: open addressing, keyed hash ---------------- */

static size_t
map_slot(const struct idmap *m, const uint8_t id[RIBLT_ID])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	/* Keyed (SipHash), so a peer cannot pick IDs that pile up in one chain. */
	crypto_shorthash(h, id, RIBLT_ID, m->key);
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return (size_t)(v & (m->cap - 1));
}

static struct ent *
map_find(const struct idmap *m, const uint8_t id[RIBLT_ID])
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = map_slot(m, id); m->e[i].used; i = (i + 1) & (m->cap - 1))
		if (memcmp(m->e[i].id, id, RIBLT_ID) == 0)
			return &m->e[i];
	return NULL;
}

static struct ent *
map_get(struct idmap *m, const uint8_t *id, int full)
{
	struct ent *e;
	size_t i;

	if ((e = map_find(m, id))) {
		if (full && !(e->flags & F_FULL)) {
			memcpy(e->id, id, APAGON_HASH);
			e->flags |= F_FULL;
		}
		return e;
	}
	if ((m->n + 1) * 4 > m->cap * 3) {
		struct idmap nm = *m;

		nm.cap = m->cap ? m->cap * 2 : 256;
		nm.n = 0;
		if (!(nm.e = calloc(nm.cap, sizeof *nm.e)))
			return NULL;
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->e[j].used)
				continue;
			for (i = map_slot(&nm, m->e[j].id); nm.e[i].used; i = (i + 1) & (nm.cap - 1))
				;
			nm.e[i] = m->e[j];
			nm.n++;
		}
		free(m->e);
		*m = nm;
	}
	for (i = map_slot(m, id); m->e[i].used; i = (i + 1) & (m->cap - 1))
		;
	e = &m->e[i];
	memset(e, 0, sizeof *e);
	memcpy(e->id, id, full ? APAGON_HASH : RIBLT_ID);
	e->flags = full ? F_FULL : 0;
	e->used = 1;
	m->n++;
	return e;
}

/* ---------------- send queue: a heap by rank, then FIFO ---------------- */

static int
q_before(const struct qent *a, const struct qent *b)
{
	return a->rank != b->rank ? a->rank > b->rank : a->seq < b->seq;
}

static int
q_push(struct session *s, const uint8_t id[APAGON_HASH], int rank)
{
	size_t i;

	if (grow((void **)&s->heap, &s->capheap, s->nheap + 1, sizeof *s->heap) != 0)
		return MESH_ENOMEM;
	i = s->nheap++;
	memcpy(s->heap[i].id, id, APAGON_HASH);
	s->heap[i].rank = (uint8_t)rank;
	s->heap[i].seq = s->seq++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct qent t;

		if (!q_before(&s->heap[i], &s->heap[p]))
			break;
		t = s->heap[p];
		s->heap[p] = s->heap[i];
		s->heap[i] = t;
		i = p;
	}
	return MESH_OK;
}

static void
q_pop(struct session *s)
{
	size_t i = 0;

	s->heap[0] = s->heap[--s->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct qent t;

		if (l < s->nheap && q_before(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->nheap && q_before(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		t = s->heap[m];
		s->heap[m] = s->heap[i];
		s->heap[i] = t;
		i = m;
	}
}

static int
rank_of(int prec, int type)
{
	int pub = type == BUNDLE_CERT || type == BUNDLE_REVOKE || type == BUNDLE_PREKEY;

	return (prec & 3) * 2 + pub;
}

/* Queue a bundle for the peer unless it has it or it is queued already. */
static int
enqueue(struct session *s, const uint8_t id[APAGON_HASH], int rank)
{
	struct ent *e = map_get(&s->map, id, 1);

	if (!e)
		return MESH_ENOMEM;
	if (e->flags & (F_PEER_HAS | F_QUEUED))
		return MESH_OK;
	e->flags |= F_QUEUED;
	return q_push(s, id, rank);
}

/* ---------------- snapshots of our set ---------------- */

struct rec {
	uint8_t id[APAGON_HASH];
	uint8_t rank;
};

struct collect {
	struct rec *r;
	size_t n, cap;
	int err;
};

static int
collect_one(void *ctx, const uint8_t id[APAGON_HASH], int prec, int type)
{
	struct collect *c = ctx;

	if (grow((void **)&c->r, &c->cap, c->n + 1, sizeof *c->r) != 0) {
		c->err = MESH_ENOMEM;
		return 1;
	}
	memcpy(c->r[c->n].id, id, APAGON_HASH);
	c->r[c->n++].rank = (uint8_t)rank_of(prec, type);
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	return memcmp(((const struct rec *)a)->id, ((const struct rec *)b)->id, APAGON_HASH);
}

static void
snap_free(struct snap *sn)
{
	free(sn->items);
	free(sn->full);
	free(sn->rank);
	memset(sn, 0, sizeof *sn);
}

/* Our set as of now: what the source offers, plus what we know we hold or refuse
 * (tombstones of delivered bundles, duplicates), each once. */
static int
snap_build(struct session *s, uint64_t now_ms)
{
	struct collect c = { 0 };
	struct snap *sn = &s->snap;
	size_t k = 0;
	int rc;

	snap_free(sn);
	rc = s->src->each(s->src->ctx, (int64_t)(now_ms / 1000), collect_one, &c);
	if (rc < 0 || c.err) {
		free(c.r);
		return c.err ? c.err : rc;
	}
	for (size_t i = 0; i < s->map.cap; i++) {
		const struct ent *e = &s->map.e[i];

		if (e->used && (e->flags & F_HELD) && (e->flags & F_FULL) && collect_one(&c, e->id, 0, 0)) {
			free(c.r);
			return MESH_ENOMEM;
		}
	}
	if (c.n)
		qsort(c.r, c.n, sizeof *c.r, rec_cmp);
	sn->cap = c.n ? c.n : 1;
	sn->items = malloc(sizeof *sn->items * sn->cap);
	sn->full = malloc(sizeof *sn->full * sn->cap);
	sn->rank = malloc(sn->cap);
	if (!sn->items || !sn->full || !sn->rank) {
		free(c.r);
		snap_free(sn);
		return MESH_ENOMEM;
	}
	for (size_t i = 0; i < c.n; i++) {
		if (k && memcmp(sn->full[k - 1], c.r[i].id, APAGON_HASH) == 0) {
			if (c.r[i].rank > sn->rank[k - 1])
				sn->rank[k - 1] = c.r[i].rank;
			continue;
		}
		memcpy(sn->full[k], c.r[i].id, APAGON_HASH);
		sn->rank[k] = c.r[i].rank;
		riblt_item_init(&sn->items[k], c.r[i].id, s->riblt_key);
		k++;
	}
	free(c.r);
	sn->n = k;
	riblt_encoder_init(&sn->enc, sn->items, sn->n);
	sn->ready = 1;
	return MESH_OK;
}

/* Index of the first snapshot entry whose ID starts with the `len` bytes of p, or n. */
static size_t
snap_lower(const struct snap *sn, const uint8_t *p, size_t len)
{
	size_t lo = 0, hi = sn->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(sn->full[mid], p, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Queue every snapshot entry whose ID starts with p (len bytes). */
static int
snap_queue(struct session *s, const uint8_t *p, size_t len)
{
	struct snap *sn = &s->snap;
	int rc;

	for (size_t i = snap_lower(sn, p, len); i < sn->n && memcmp(sn->full[i], p, len) == 0; i++)
		if ((rc = enqueue(s, sn->full[i], sn->rank[i])) != MESH_OK)
			return rc;
	return MESH_OK;
}

/* ---------------- the store as a source ---------------- */

struct store_each {
	int (*fn)(void *, const uint8_t *, int, int);
	void *fctx;
};

static int
store_each_adapter(void *ctx, const struct stored_bundle *sb)
{
	struct store_each *se = ctx;

	return se->fn(se->fctx, sb->id, sb->precedence, sb->type);
}

static int
store_src_each(void *ctx, int64_t now_s, int (*fn)(void *, const uint8_t *, int, int), void *fctx)
{
	struct store_each se = { fn, fctx };
	int rc = store_each_bundle(ctx, now_s, store_each_adapter, &se);

	return rc < 0 ? rc : MESH_OK;
}

static int
store_src_get(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t **raw, size_t *len)
{
	struct stored_bundle sb;
	int rc = store_get_bundle(ctx, id, &sb);

	if (rc != MESH_OK)
		return rc;
	*raw = sb.raw;
	*len = sb.raw_len;
	return MESH_OK;
}

/* ---------------- key schedule ---------------- */

static void
transcript(uint8_t th[APAGON_HASH], const uint8_t *data, size_t len)
{
	uint8_t out[APAGON_HASH];

	crypto_hash_ctx2(out, sizeof out, APAGON_CTX_LINK_TRANSCRIPT, th, APAGON_HASH, data, len,
	    NULL, 0);
	memcpy(th, out, APAGON_HASH);
	sodium_memzero(out, sizeof out);
}

static void
kdf(uint8_t out[APAGON_KEY], const char *ctx, uint8_t label, const uint8_t th[APAGON_HASH],
    const uint8_t *key, size_t keylen)
{
	crypto_hash_ctx2(out, APAGON_KEY, ctx, &label, 1, th, APAGON_HASH, key, keylen);
}

/* The network's link key: only members hold the network key it comes from. */
static void
link_psk(uint8_t psk[APAGON_KEY], const struct netkeys *nk)
{
	uint8_t k[2 * APAGON_KEY];

	memcpy(k, nk->hp_key, APAGON_KEY);
	memcpy(k + APAGON_KEY, nk->tag_key, APAGON_KEY);
	crypto_hash_ctx(psk, APAGON_KEY, APAGON_CTX_LINK_PSK, nk->network_id, APAGON_HASH, k, sizeof k);
	sodium_memzero(k, sizeof k);
}

/* hs_secret from the DH result and the network key, bound to the transcript so far. */
static int
handshake_secret(struct session *s, const uint8_t peer_e[APAGON_DH_PK])
{
	uint8_t ikm[APAGON_KEY * 2];
	int rc;

	rc = crypto_dh_shared(ikm, s->e_sk, peer_e);
	/* Forward secrecy: the ephemeral secret is never needed again. */
	sodium_memzero(s->e_sk, sizeof s->e_sk);
	if (rc != 0) {
		sodium_memzero(ikm, sizeof ikm);
		return MESH_EDECRYPT;
	}
	memcpy(ikm + APAGON_KEY, s->psk, APAGON_KEY);
	crypto_hash_ctx(s->hs_secret, APAGON_KEY, APAGON_CTX_LINK_HS_KEY, s->th, APAGON_HASH, ikm,
	    sizeof ikm);
	sodium_memzero(ikm, sizeof ikm);
	return MESH_OK;
}

/* Traffic keys from the whole transcript; hs_secret is wiped. */
static void
traffic_keys(struct session *s)
{
	uint8_t master[APAGON_KEY], i2r[APAGON_KEY], r2i[APAGON_KEY];

	kdf(master, APAGON_CTX_LINK_TRAFFIC, 'M', s->th, s->hs_secret, APAGON_KEY);
	kdf(i2r, APAGON_CTX_LINK_TRAFFIC, 'i', s->th, master, APAGON_KEY);
	kdf(r2i, APAGON_CTX_LINK_TRAFFIC, 'r', s->th, master, APAGON_KEY);
	crypto_hash_ctx(s->riblt_key, RIBLT_KEY, APAGON_CTX_LINK_RIBLT, s->th, APAGON_HASH, master,
	    APAGON_KEY);
	memcpy(s->k_tx, s->cfg.initiator ? i2r : r2i, APAGON_KEY);
	memcpy(s->k_rx, s->cfg.initiator ? r2i : i2r, APAGON_KEY);
	sodium_memzero(master, sizeof master);
	sodium_memzero(i2r, sizeof i2r);
	sodium_memzero(r2i, sizeof r2i);
	sodium_memzero(s->hs_secret, sizeof s->hs_secret);
}

/* ---------------- lifecycle ---------------- */

static void
close_with(struct session *s, int err)
{
	if (s->state == SESSION_CLOSED)
		return;
	s->state = SESSION_CLOSED;
	s->err = err;
	sodium_memzero(s->e_sk, sizeof s->e_sk);
	sodium_memzero(s->hs_secret, sizeof s->hs_secret);
	sodium_memzero(s->k_tx, sizeof s->k_tx);
	sodium_memzero(s->k_rx, sizeof s->k_rx);
	if (!s->cfg.initiator && s->d_active) {
		riblt_decoder_free(&s->dec);
		s->d_active = 0;
	}
	snap_free(&s->snap);
}

static int
build_hs1(struct session *s)
{
	s->hs1[0] = FR_HS1;
	s->hs1[1] = HS_VERSION;
	memcpy(s->hs1 + 2, s->e_pk, APAGON_DH_PK);
	/* A member-only MAC: the responder stays silent to anyone without the network
	 * key, and spends no scalar multiplication on them. */
	crypto_hash_ctx(s->hs1 + 2 + APAGON_DH_PK, 16, APAGON_CTX_LINK_HELLO, s->hs1,
	    2 + APAGON_DH_PK, s->psk, APAGON_KEY);
	return MESH_OK;
}

int
session_new(struct session **out, const struct session_config *cfg, uint64_t now_ms)
{
	struct session *s;

	*out = NULL;
	if (!cfg || !cfg->ax || !cfg->ax->st || !cfg->ax->nk || !cfg->pk || !cfg->sk ||
	    !cfg->chain || cfg->chain->n < 1 || cfg->chain->n > 2)
		return MESH_EINVAL;
	if (cfg->max_frame && (cfg->max_frame < SESSION_MIN_FRAME || cfg->max_frame > (1u << 24)))
		return MESH_EINVAL;
	if (!(s = sodium_malloc(sizeof *s)))
		return MESH_ENOMEM;
	memset(s, 0, sizeof *s);
	s->cfg = *cfg;
	if (!s->cfg.max_frame)
		s->cfg.max_frame = SESSION_MAX_FRAME;
	if (!s->cfg.resync_ms)
		s->cfg.resync_ms = 60000;
	if (!s->cfg.keepalive_ms)
		s->cfg.keepalive_ms = 15000;
	if (!s->cfg.idle_ms)
		s->cfg.idle_ms = 60000;
	if (!s->cfg.hs_retry_ms)
		s->cfg.hs_retry_ms = 1000;
	if (!s->cfg.hs_timeout_ms)
		s->cfg.hs_timeout_ms = 30000;
	if (!s->cfg.round_timeout_ms)
		s->cfg.round_timeout_ms = 10000;
	ratelimit_params_resolve(&s->peer_p, &cfg->peer_limit, 1);
	s->store_src.each = store_src_each;
	s->store_src.get = store_src_get;
	s->store_src.ctx = cfg->ax->st;
	s->src = cfg->source ? cfg->source : &s->store_src;
	if (!(s->ptx = malloc(s->cfg.max_frame))) {
		sodium_free(s);
		return MESH_ENOMEM;
	}
	randombytes_buf(s->map.key, sizeof s->map.key);
	link_psk(s->psk, cfg->ax->nk);
	s->state = SESSION_HANDSHAKE;
	s->hs_deadline = now_ms + s->cfg.hs_timeout_ms;
	s->last_rx = s->last_tx = now_ms;
	if (cfg->initiator) {
		crypto_dh_keygen(s->e_pk, s->e_sk);
		build_hs1(s);
		s->hs = HS_WAIT_HS2;
		s->hs_send = FR_HS1;
		s->hs_retry_cur = s->cfg.hs_retry_ms;
		s->hs_retry_at = now_ms + s->hs_retry_cur;
	} else {
		s->hs = HS_WAIT_HS1;
	}
	*out = s;
	return MESH_OK;
}

void
session_free(struct session *s)
{
	if (!s)
		return;
	close_with(s, SESSION_ECLOSED);
	riblt_decoder_free(&s->dec);
	snap_free(&s->snap);
	free(s->hs2);
	free(s->hs3);
	free(s->ptx);
	free(s->wants);
	free(s->acks);
	free(s->heap);
	free(s->map.e);
	for (int i = 0; i < s->npend; i++)
		free(s->pend[i].raw);
	sodium_free(s);         /* wipes keys and transcript */
}

enum session_state session_state(const struct session *s) { return (enum session_state)s->state; }
int session_error(const struct session *s) { return s->err; }
const struct session_stats *session_stats(const struct session *s) { return &s->st; }

const uint8_t *
session_peer(const struct session *s)
{
	return s->peer_known ? s->peer_pk : NULL;
}

/* ---------------- handshake ---------------- */

static int
revoked_cb(void *ctx, const uint8_t subject[APAGON_SIGN_PK], const uint8_t issuer[APAGON_SIGN_PK])
{
	struct session *s = ctx;
	struct store *st = s->cfg.ax->st;

	if (store_is_revoked(st, subject, NULL) <= 0)
		return 0;
	return store_is_revoked(st, subject, issuer) > 0 ||
	    store_is_revoked(st, subject, s->cfg.ax->nk->authority_pk) > 0;
}

/* Encrypted body of HS2/HS3: chain length, chain, signature by the leaf over
 * role || transcript-with-chain. Updates s->th past the chain and the signature. */
static int
seal_identity(struct session *s, uint8_t *out, size_t cap, size_t *outlen, uint8_t role,
    const uint8_t key[APAGON_KEY], const uint8_t *ad, size_t adlen)
{
	uint8_t body[HS_BODY_MAX];
	int clen = chain_encode(body + 2, APAGON_CHAIN_MAX, s->cfg.chain);
	size_t blen;

	if (clen < 0)
		return clen;
	body[0] = (uint8_t)(clen >> 8);
	body[1] = (uint8_t)clen;
	transcript(s->th, body + 2, (size_t)clen);
	crypto_sign_ctx(body + 2 + clen, APAGON_CTX_LINK_SIG, &role, 1, s->th, APAGON_HASH,
	    s->cfg.sk);
	transcript(s->th, body + 2 + clen, APAGON_SIG);
	blen = 2 + (size_t)clen + APAGON_SIG;
	if (blen + APAGON_TAG > cap)
		return MESH_EINVAL;
	crypto_aead_seal(out, body, blen, ad, adlen, key);
	*outlen = blen + APAGON_TAG;
	return MESH_OK;
}

/* Open and check the peer's identity body: decrypt, decode the chain, verify it
 * against the network and our revocations, check the signature. */
static int
open_identity(struct session *s, const uint8_t *c, size_t clen, uint8_t role,
    const uint8_t key[APAGON_KEY], const uint8_t *ad, size_t adlen, uint64_t now_ms)
{
	uint8_t body[HS_BODY_MAX], th[APAGON_HASH];
	struct chain ch;
	struct wire w;
	const uint8_t *chain_bytes, *sig;
	size_t blen, chlen;
	const struct cert *leaf;
	int rc;

	if (clen < APAGON_TAG + 2 + APAGON_SIG || clen - APAGON_TAG > sizeof body)
		return MESH_EDECODE;
	blen = clen - APAGON_TAG;
	if (crypto_aead_open(body, c, clen, ad, adlen, key) != 0)
		return MESH_EDECRYPT;
	wire_reader(&w, body, blen);
	chlen = wire_get_u16(&w);
	chain_bytes = wire_get_ref(&w, chlen);
	sig = wire_get_ref(&w, APAGON_SIG);
	if (!wire_ok(&w) || wire_left(&w) != 0 || !chain_bytes || !sig)
		return MESH_EDECODE;
	if (chain_decode(&ch, chain_bytes, chlen) != MESH_OK)
		return MESH_ECHAIN;
	leaf = &ch.c[ch.n - 1];
	if (memcmp(leaf->subject, s->cfg.pk, APAGON_SIGN_PK) == 0)
		return SESSION_EPEER;
	rc = chain_verify(&ch, s->cfg.ax->nk->network_id, s->cfg.ax->nk->authority_pk,
	    (uint32_t)(now_ms / 1000), s->cfg.ax->skew, revoked_cb, s);
	if (rc != MESH_OK)
		return rc;
	memcpy(th, s->th, APAGON_HASH);
	transcript(th, chain_bytes, chlen);
	if (crypto_verify_ctx(sig, APAGON_CTX_LINK_SIG, &role, 1, th, APAGON_HASH, leaf->subject) != 0)
		return MESH_ESIGNATURE;
	transcript(th, sig, APAGON_SIG);
	memcpy(s->th, th, APAGON_HASH);
	memcpy(s->peer_pk, leaf->subject, APAGON_SIGN_PK);
	s->peer_known = 1;
	return MESH_OK;
}

static int
on_hs1(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t mac[16], k2[APAGON_KEY], *out;
	size_t clen;
	int rc;

	if (s->cfg.initiator || len != HS1_LEN || f[1] != HS_VERSION)
		return MESH_EDECODE;
	crypto_hash_ctx(mac, sizeof mac, APAGON_CTX_LINK_HELLO, f, 2 + APAGON_DH_PK, s->psk,
	    APAGON_KEY);
	if (sodium_memcmp(mac, f + 2 + APAGON_DH_PK, sizeof mac) != 0)
		return MESH_ENETWORK;
	if (s->hs != HS_WAIT_HS1) {
		/* The same HS1 again: our HS2 was lost; send the same bytes back. A new one
		 * before we are open means the initiator started over. Once open, neither
		 * changes anything (a restarted peer opens a new session). */
		if (memcmp(f, s->hs1, HS1_LEN) == 0) {
			if (s->hs == HS_WAIT_HS3)
				s->hs_send = FR_HS2;
			return MESH_OK;
		}
		if (s->hs != HS_WAIT_HS3)
			return MESH_EDUPLICATE;
	}
	memcpy(s->hs1, f, HS1_LEN);
	memset(s->th, 0, sizeof s->th);
	transcript(s->th, f, HS1_LEN);
	crypto_dh_keygen(s->e_pk, s->e_sk);
	transcript(s->th, s->e_pk, APAGON_DH_PK);
	if ((rc = handshake_secret(s, f + 2)) != MESH_OK)
		return rc;
	kdf(k2, APAGON_CTX_LINK_HS_KEY, 'R', s->th, s->hs_secret, APAGON_KEY);
	free(s->hs2);
	if (!(s->hs2 = out = malloc(1 + APAGON_DH_PK + HS_BODY_MAX + APAGON_TAG))) {
		sodium_memzero(k2, sizeof k2);
		return MESH_ENOMEM;
	}
	out[0] = FR_HS2;
	memcpy(out + 1, s->e_pk, APAGON_DH_PK);
	rc = seal_identity(s, out + 1 + APAGON_DH_PK, HS_BODY_MAX + APAGON_TAG, &clen, 'R', k2,
	    out, 1 + APAGON_DH_PK);
	sodium_memzero(k2, sizeof k2);
	if (rc != MESH_OK)
		return rc;
	s->hs2_len = 1 + APAGON_DH_PK + clen;
	s->hs = HS_WAIT_HS3;
	s->hs_send = FR_HS2;
	(void)now_ms;
	return MESH_OK;
}

static int
on_hs2(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t k[APAGON_KEY], th_save[APAGON_HASH], *out;
	size_t clen;
	int rc;

	if (!s->cfg.initiator || len < 1 + APAGON_DH_PK)
		return MESH_EDECODE;
	if (s->hs != HS_WAIT_HS2)
		return MESH_EDUPLICATE;
	/* Work on a copy of the transcript: a forged HS2 must not disturb the real one. */
	memcpy(th_save, s->th, sizeof th_save);
	memset(s->th, 0, sizeof s->th);
	transcript(s->th, s->hs1, HS1_LEN);
	transcript(s->th, f + 1, APAGON_DH_PK);
	{
		uint8_t esk[APAGON_DH_SK];

		/* handshake_secret wipes e_sk; keep it until this HS2 proves genuine. */
		memcpy(esk, s->e_sk, sizeof esk);
		rc = handshake_secret(s, f + 1);
		memcpy(s->e_sk, esk, sizeof esk);
		sodium_memzero(esk, sizeof esk);
	}
	if (rc != MESH_OK)
		goto bad;
	kdf(k, APAGON_CTX_LINK_HS_KEY, 'R', s->th, s->hs_secret, APAGON_KEY);
	rc = open_identity(s, f + 1 + APAGON_DH_PK, len - 1 - APAGON_DH_PK, 'R', k, f,
	    1 + APAGON_DH_PK, now_ms);
	sodium_memzero(k, sizeof k);
	if (rc == MESH_EDECRYPT || rc == MESH_EDECODE)
		goto bad;       /* not from the responder we talk to: ignore it */
	sodium_memzero(s->e_sk, sizeof s->e_sk);
	if (rc != MESH_OK) {
		close_with(s, rc);
		return rc;
	}
	kdf(k, APAGON_CTX_LINK_HS_KEY, 'I', s->th, s->hs_secret, APAGON_KEY);
	free(s->hs3);
	if (!(s->hs3 = out = malloc(1 + HS_BODY_MAX + APAGON_TAG))) {
		sodium_memzero(k, sizeof k);
		close_with(s, MESH_ENOMEM);
		return MESH_ENOMEM;
	}
	out[0] = FR_HS3;
	rc = seal_identity(s, out + 1, HS_BODY_MAX + APAGON_TAG, &clen, 'I', k, out, 1);
	sodium_memzero(k, sizeof k);
	if (rc != MESH_OK) {
		close_with(s, rc);
		return rc;
	}
	s->hs3_len = 1 + clen;
	traffic_keys(s);
	s->hs = HS_CONFIRM;
	s->hs_send = FR_HS3;
	s->hs_retry_cur = s->cfg.hs_retry_ms;
	s->hs_retry_at = now_ms + s->hs_retry_cur;
	return MESH_OK;
bad:
	sodium_memzero(s->hs_secret, sizeof s->hs_secret);
	memcpy(s->th, th_save, sizeof th_save);
	s->peer_known = 0;
	return rc;
}

static void start_round(struct session *s, uint64_t now_ms);

static void
open_session(struct session *s, uint64_t now_ms)
{
	s->state = SESSION_OPEN;
	s->hs = HS_DONE;
	s->hs_send = 0;
	s->last_rx = now_ms;
	if (s->cfg.initiator)
		start_round(s, now_ms);         /* reconcile at once */
}

static int
on_hs3(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t k[APAGON_KEY];
	int rc;

	if (s->cfg.initiator || len < 1)
		return MESH_EDECODE;
	if (s->hs == HS_DONE) {
		/* Our first data frame was lost and the initiator repeats HS3: answer it. */
		if (s->hs3 && len == s->hs3_len && memcmp(f, s->hs3, len) == 0) {
			s->need_ping = 1;
			return MESH_OK;
		}
		return MESH_EDUPLICATE;
	}
	if (s->hs != HS_WAIT_HS3)
		return MESH_EDECODE;
	kdf(k, APAGON_CTX_LINK_HS_KEY, 'I', s->th, s->hs_secret, APAGON_KEY);
	{
		uint8_t th_save[APAGON_HASH];

		memcpy(th_save, s->th, sizeof th_save);
		rc = open_identity(s, f + 1, len - 1, 'I', k, f, 1, now_ms);
		if (rc != MESH_OK)
			memcpy(s->th, th_save, sizeof th_save);
	}
	sodium_memzero(k, sizeof k);
	if (rc == MESH_EDECRYPT || rc == MESH_EDECODE)
		return rc;
	if (rc != MESH_OK) {
		close_with(s, rc);
		return rc;
	}
	free(s->hs3);
	if ((s->hs3 = malloc(len))) {
		memcpy(s->hs3, f, len);
		s->hs3_len = len;
	}
	traffic_keys(s);
	free(s->hs2);
	s->hs2 = NULL;
	open_session(s, now_ms);
	/* Key confirmation for the initiator: our first data frame. */
	s->need_ping = 1;
	return MESH_OK;
}

/* ---------------- reconciliation ---------------- */

static void
start_round(struct session *s, uint64_t now_ms)
{
	uint32_t first;

	if (snap_build(s, now_ms) != MESH_OK) {
		s->st.rounds_failed++;
		s->next_round_at = now_ms + s->cfg.resync_ms;
		return;
	}
	s->round++;
	s->round_active = 1;
	s->round_deadline = now_ms + s->cfg.round_timeout_ms;
	/* The first batch. Symbol 0 alone settles "no difference", the usual outcome of
	 * a periodic round once the previous round's differences have moved and new
	 * bundles were pushed as they came; so after a round with this peer, a few
	 * symbols. Before any round, a modest guess: the stream grows from there. */
	first = s->have_last_diff ? 4 : 16;
	s->sym_next = 0;
	s->sym_end = first;
}

/* How far the responder asks the stream to go after a batch that did not decode. */
static uint32_t
next_target(const struct riblt_decoder *d)
{
	double est = riblt_decoder_estimate(d);
	uint64_t n = d->n, grow = n / 2 < 16 ? 16 : n / 2, target = n + grow;

	if (est >= 0) {
		/* About 1.4 symbols per difference decode (the paper's figure for
		 * moderate d). */
		uint64_t need = (uint64_t)(est * 1.45) + 8;

		if (need < n + 8)
			need = n + 8;
		if (need < target)
			target = need;
	}
	if (target > SESSION_MAX_SYMBOLS)
		target = SESSION_MAX_SYMBOLS;
	return (uint32_t)target;
}

static void
d_reset(struct session *s)
{
	if (s->d_active)
		riblt_decoder_free(&s->dec);
	s->d_active = 0;
	snap_free(&s->snap);
}

/* The responder decoded the difference: ask for what we lack, queue what they lack. */
static void
d_finish(struct session *s, int failed)
{
	s->nwants = s->wants_off = 0;
	s->result_round = s->round;
	s->result_pending = 1;
	s->result_fail = failed;
	s->more_pending = 0;
	if (!failed) {
		for (size_t i = 0; i < s->dec.ndec; i++) {
			const uint8_t *id = s->dec.dec[i].id;

			if (s->dec.sign[i] > 0) {
				struct ent *e = map_find(&s->map, id);

				if (e && (e->flags & F_HELD))
					continue;
				if (grow((void **)&s->wants, &s->wants_cap, s->nwants + 1, PREFIX) != 0)
					break;
				memcpy(s->wants[s->nwants++], id, PREFIX);
			} else {
				snap_queue(s, id, RIBLT_ID);
			}
		}
		s->st.rounds++;
		s->st.last_diff = s->dec.ndec;
		s->result_diff = (uint32_t)s->dec.ndec;
	} else {
		s->st.rounds_failed++;
	}
	d_reset(s);
}

static int
on_symbols(struct session *s, const struct session_msg *m, uint64_t now_ms)
{
	struct riblt_symbol *sym;
	struct wire w;
	size_t skip, add;
	int rc;

	if (s->cfg.initiator)
		return MESH_EDECODE;
	s->st.symbols_in += m->count;
	if (m->round < s->round || (m->round == s->round && !s->d_active))
		return MESH_OK;         /* an old round, or one already answered */
	if (m->round > s->round) {
		d_reset(s);
		s->round = m->round;
		if ((rc = snap_build(s, now_ms)) != MESH_OK)
			return rc;
		riblt_decoder_init(&s->dec, s->riblt_key, &s->snap.enc, 2 * SESSION_MAX_SYMBOLS);
		s->d_active = 1;
	}
	if (m->start <= s->dec.n && m->start + m->count > s->dec.n) {
		skip = s->dec.n - m->start;
		add = m->count - skip;
		if (s->dec.n + add > SESSION_MAX_SYMBOLS) {
			d_finish(s, 1);
			return MESH_OK;
		}
		if (!(sym = malloc(sizeof *sym * add)))
			return MESH_ENOMEM;
		wire_reader(&w, m->body + skip * RIBLT_SYMBOL, add * RIBLT_SYMBOL);
		for (size_t i = 0; i < add; i++)
			riblt_symbol_get(&w, &sym[i]);
		rc = riblt_decoder_add(&s->dec, sym, add);
		free(sym);
		if (rc != MESH_OK) {
			d_finish(s, 1);
			return MESH_OK;
		}
	}
	if (riblt_decoder_done(&s->dec)) {
		d_finish(s, 0);
		return MESH_OK;
	}
	if (m->flags & 1) {
		s->more_pending = 1;
		s->more_round = s->round;
		s->more_have = (uint32_t)s->dec.n;
		s->more_total = next_target(&s->dec);
		if (s->more_total <= s->more_have) {
			d_finish(s, 1);
			return MESH_OK;
		}
	}
	return MESH_OK;
}

static int
on_more(struct session *s, const struct session_msg *m, uint64_t now_ms)
{
	if (!s->cfg.initiator)
		return MESH_EDECODE;
	if (!s->round_active || m->round != s->round)
		return MESH_OK;
	if (m->total <= m->have || m->total > SESSION_MAX_SYMBOLS)
		return MESH_EDECODE;
	s->st.round_trips++;
	s->sym_next = m->have;
	s->sym_end = m->total;
	s->round_deadline = now_ms + s->cfg.round_timeout_ms;
	return MESH_OK;
}

/* The responder reports how many differences it decoded; the initiator sizes its
 * next first batch on it. */
static void
note_diff(struct session *s, uint64_t d)
{
	s->last_diff = d;
	s->have_last_diff = 1;
}

static int
on_result(struct session *s, const struct session_msg *m, uint64_t now_ms)
{
	int rc;

	if (!s->cfg.initiator)
		return MESH_EDECODE;
	if (!s->round_active || m->round != s->round)
		return MESH_OK;
	for (size_t i = 0; i < m->count; i++)
		if ((rc = snap_queue(s, m->body + i * PREFIX, PREFIX)) != MESH_OK)
			return rc;
	s->round_deadline = now_ms + s->cfg.round_timeout_ms;
	if (m->flags & 3) {
		s->st.round_trips++;
		if (m->flags & 2) {
			s->st.rounds_failed++;
		} else {
			s->st.rounds++;
			s->st.last_diff = m->total;
			note_diff(s, m->total);
		}
		s->round_active = 0;
		s->sym_next = s->sym_end = 0;
		s->next_round_at = now_ms + s->cfg.resync_ms;
		snap_free(&s->snap);
	}
	return MESH_OK;
}

static int
on_ack(struct session *s, const struct session_msg *m)
{
	for (size_t i = 0; i < m->count; i++) {
		struct ent *e = map_get(&s->map, m->body + i * RIBLT_ID, 0);

		if (!e)
			return MESH_ENOMEM;
		if ((e->flags & F_INFLIGHT) && (e->flags & F_FULL)) {
			s->st.bundles_acked++;
			if (s->cfg.acked)
				s->cfg.acked(s->cfg.cb_ctx, e->id);
		}
		e->flags = (uint8_t)((e->flags & ~F_INFLIGHT) | F_PEER_HAS);
	}
	return MESH_OK;
}

/* ---------------- receiving bundles ---------------- */

struct inbundle {
	const uint8_t *raw;
	size_t len;
	int pass;
	int decoded, prec;
	uint8_t id[APAGON_HASH];
	uint8_t sender[APAGON_KEYID];           /* claimed: checked only by acceptance */
	int deferred;                           /* over a rate limit: not taken this time */
	int charged;                            /* to its sender's bucket */
	struct accept_result res;
};

/* Decode enough to order the batch (public types first) and to rate-limit it. */
static void
bundle_pass(const struct session *s, struct inbundle *in)
{
	struct bundle b;

	in->pass = 3;
	if (bundle_decode(&b, in->raw, in->len, s->cfg.ax->nk) != MESH_OK)
		return;
	in->decoded = 1;
	in->prec = b.h.precedence;
	memcpy(in->id, b.id, APAGON_HASH);
	memcpy(in->sender, b.h.sender, APAGON_KEYID);
	switch (b.h.type) {
	case BUNDLE_CERT:   in->pass = 0; break;
	case BUNDLE_REVOKE: in->pass = 1; break;
	case BUNDLE_PREKEY: in->pass = 2; break;
	}
}

/*
 * The rate limits (ratelimit.h), highest precedence first, so the FLASH of a frame is
 * charged before its ROUTINE. Certificates, revocations and prekeys are never limited
 * (pass < 3): they are small, and a member must not miss a revocation because someone
 * flooded. Bundles we hold already cost nothing to take, and are let through to be
 * acknowledged. The sender's bucket is charged on the signer the header claims; after
 * the commit, a bundle the acceptance path did not take is refunded, so forged
 * bundles cannot drain an honest member's share.
 */
static void
rate_gate(struct session *s, struct inbundle *in, size_t n, uint64_t now_ms)
{
	for (int prec = PREC_FLASH; prec >= PREC_ROUTINE; prec--) {
		for (size_t i = 0; i < n; i++) {
			if (in[i].pass != 3 || !in[i].decoded || in[i].prec != prec)
				continue;
			if (store_has_bundle(s->cfg.ax->st, in[i].id) > 0)
				continue;
			if (s->cfg.senders && !ratelimit_sender_take(s->cfg.senders, in[i].sender,
			    prec, in[i].len, now_ms)) {
				in[i].deferred = 1;
				s->st.bundles_deferred_sender++;
				continue;
			}
			if (!rl_pair_take(&s->peer_b, &s->peer_p, prec, in[i].len, now_ms)) {
				if (s->cfg.senders)
					ratelimit_sender_refund(s->cfg.senders, in[i].sender, in[i].len);
				in[i].deferred = 1;
				s->st.bundles_deferred_peer++;
				continue;
			}
			in[i].charged = s->cfg.senders != NULL;
		}
	}
}

static int
ack_push(struct session *s, const uint8_t id[RIBLT_ID])
{
	if (grow((void **)&s->acks, &s->acks_cap, s->nacks + 1, RIBLT_ID) != 0)
		return MESH_ENOMEM;
	memcpy(s->acks[s->nacks++], id, RIBLT_ID);
	return MESH_OK;
}

/* Refusals that will not change: remember the ID as held so it stops showing up as a
 * difference. An unknown sender may become known (its CERT may be on its way). */
static int
permanent_refusal(int reason)
{
	switch (reason) {
	case MESH_EDECODE: case MESH_ENETWORK: case MESH_ESIGNATURE: case MESH_ECHAIN:
	case MESH_EEXPIRED: case MESH_EREVOKED:
		return 1;
	}
	return 0;
}

static void
after_commit(struct session *s, const struct accept_result *r, const uint8_t *raw, size_t len,
    int from_peer)
{
	struct ent *e = NULL;

	if (r->type >= 0 && !(e = map_get(&s->map, r->id, 1)))
		return;
	if (e && from_peer)
		e->flags |= F_PEER_HAS;
	if (r->reason == MESH_OK || r->reason == MESH_EDUPLICATE) {
		if (r->reason == MESH_OK)
			s->st.bundles_in++;
		else
			s->st.bundles_dup++;
		if (e) {
			e->flags |= F_HELD;
			ack_push(s, r->id);
		}
		if (r->reason == MESH_OK && s->cfg.received) {
			struct bundle b;
			int prec = 0;

			if (bundle_decode(&b, raw, len, s->cfg.ax->nk) == MESH_OK)
				prec = b.h.precedence;
			s->cfg.received(s->cfg.cb_ctx, r->id, prec);
		}
		return;
	}
	if (from_peer)
		s->st.bundles_refused++;
	if (e && permanent_refusal(r->reason))
		e->flags |= F_HELD;
}

static void
pend_add(struct session *s, const uint8_t *raw, size_t len)
{
	if (s->npend == PEND_MAX)
		return;
	if (!(s->pend[s->npend].raw = malloc(len)))
		return;
	memcpy(s->pend[s->npend].raw, raw, len);
	s->pend[s->npend++].len = len;
}

static int
accept_batch(struct session *s, struct inbundle *in, size_t n, uint64_t now_ms)
{
	struct accept_ctx *ax = s->cfg.ax;
	struct accept_result pres[PEND_MAX];
	int64_t now = (int64_t)(now_ms / 1000);
	int rc, accepted = 0, npend = s->npend;

	rate_gate(s, in, n, now_ms);
	if ((rc = accept_begin(ax)) != MESH_OK)
		return MESH_ESTORE;
	for (int pass = 0; pass < 4; pass++) {
		for (size_t i = 0; i < n; i++) {
			if (in[i].pass != pass || in[i].deferred)
				continue;
			rc = accept_bundle(ax, in[i].raw, in[i].len, now, &in[i].res);
			if (rc == MESH_ESTORE || rc == MESH_ENOMEM) {
				accept_rollback(ax);
				return MESH_ESTORE;
			}
			accepted += rc == MESH_OK;
		}
	}
	/* Bundles whose sender was unknown get another go once something new is in. */
	for (int i = 0; i < npend; i++) {
		pres[i].reason = MESH_EUNKNOWN;
		if (!accepted)
			continue;
		rc = accept_bundle(ax, s->pend[i].raw, s->pend[i].len, now, &pres[i]);
		if (rc == MESH_ESTORE || rc == MESH_ENOMEM) {
			accept_rollback(ax);
			return MESH_ESTORE;
		}
	}
	if (accept_commit(ax) != MESH_OK) {
		accept_rollback(ax);
		return MESH_ESTORE;
	}
	/* Only now is anything received, and only now may it be acknowledged. */
	for (size_t i = 0; i < n; i++) {
		if (in[i].deferred)
			continue;       /* the peer keeps it: no ACK, offered again next round */
		if (in[i].charged && in[i].res.reason != MESH_OK)
			ratelimit_sender_refund(s->cfg.senders, in[i].sender, in[i].len);
		after_commit(s, &in[i].res, in[i].raw, in[i].len, 1);
		if (in[i].res.reason == MESH_EUNKNOWN)
			pend_add(s, in[i].raw, in[i].len);
	}
	for (int i = 0; i < npend; i++) {
		if (pres[i].reason != MESH_EUNKNOWN) {
			after_commit(s, &pres[i], s->pend[i].raw, s->pend[i].len, 0);
			free(s->pend[i].raw);
			s->pend[i].raw = NULL;
		}
	}
	{
		int k = 0;

		for (int i = 0; i < s->npend; i++)
			if (s->pend[i].raw)
				s->pend[k++] = s->pend[i];
		s->npend = k;
	}
	return MESH_OK;
}

/* ---------------- message layer ---------------- */

int
session_parse(const uint8_t *plain, size_t len, int (*fn)(void *, const struct session_msg *),
    void *ctx)
{
	struct wire w;

	wire_reader(&w, plain, len);
	while (wire_left(&w) > 0) {
		struct session_msg m;
		struct wire b;
		uint8_t type = wire_get_u8(&w);
		uint16_t blen = wire_get_u16(&w);
		const uint8_t *body = wire_get_ref(&w, blen);

		if (!wire_ok(&w) || (!body && blen))
			return MESH_EDECODE;
		memset(&m, 0, sizeof m);
		m.type = type;
		wire_reader(&b, body, blen);
		switch (type) {
		case SMSG_PING:
			if (blen != 0)
				return MESH_EDECODE;
			break;
		case SMSG_SYMBOLS:
			m.round = wire_get_u32(&b);
			m.start = wire_get_u32(&b);
			m.flags = wire_get_u8(&b);
			if (!wire_ok(&b) || wire_left(&b) == 0 || wire_left(&b) % RIBLT_SYMBOL ||
			    m.flags > 1)
				return MESH_EDECODE;
			m.count = wire_left(&b) / RIBLT_SYMBOL;
			m.body = wire_get_ref(&b, wire_left(&b));
			if ((uint64_t)m.start + m.count > SESSION_MAX_SYMBOLS)
				return MESH_EDECODE;
			break;
		case SMSG_MORE:
			m.round = wire_get_u32(&b);
			m.have = wire_get_u32(&b);
			m.total = wire_get_u32(&b);
			if (!wire_ok(&b) || wire_left(&b) != 0)
				return MESH_EDECODE;
			break;
		case SMSG_RESULT:
			m.round = wire_get_u32(&b);
			m.flags = wire_get_u8(&b);
			m.total = wire_get_u32(&b);
			if (!wire_ok(&b) || wire_left(&b) % PREFIX || m.flags > 2)
				return MESH_EDECODE;
			m.count = wire_left(&b) / PREFIX;
			m.body = m.count ? wire_get_ref(&b, wire_left(&b)) : NULL;
			break;
		case SMSG_BUNDLE:
			if (blen < APAGON_BUNDLE_MIN || blen > APAGON_MAX_BUNDLE)
				return MESH_EDECODE;
			m.body = body;
			m.count = blen;
			break;
		case SMSG_ACK:
			if (blen == 0 || blen % RIBLT_ID)
				return MESH_EDECODE;
			m.body = body;
			m.count = blen / RIBLT_ID;
			break;
		default:
			return MESH_EDECODE;
		}
		if (fn && fn(ctx, &m))
			return MESH_OK;
	}
	return wire_ok(&w) ? MESH_OK : MESH_EDECODE;
}

struct parsed {
	struct session_msg *m;
	size_t n, cap;
	int err;
};

static int
collect_msg(void *ctx, const struct session_msg *m)
{
	struct parsed *p = ctx;

	if (grow((void **)&p->m, &p->cap, p->n + 1, sizeof *p->m) != 0) {
		p->err = MESH_ENOMEM;
		return 1;
	}
	p->m[p->n++] = *m;
	return 0;
}

static int
handle_plain(struct session *s, const uint8_t *plain, size_t len, uint64_t now_ms)
{
	struct parsed p = { 0 };
	struct inbundle *in = NULL;
	size_t nin = 0;
	int rc;

	if ((rc = session_parse(plain, len, collect_msg, &p)) != MESH_OK || p.err) {
		free(p.m);
		s->st.bad_messages++;
		return p.err ? p.err : rc;
	}
	for (size_t i = 0; i < p.n; i++) {
		const struct session_msg *m = &p.m[i];

		switch (m->type) {
		case SMSG_SYMBOLS:
		case SMSG_MORE:
		case SMSG_RESULT:
			s->st.sync_bytes_in += MSG_HDR + (m->type == SMSG_SYMBOLS ?
			    9 + m->count * RIBLT_SYMBOL : m->type == SMSG_MORE ? 12 :
			    9 + m->count * PREFIX);
			break;
		}
		switch (m->type) {
		case SMSG_PING:
			rc = MESH_OK;
			break;
		case SMSG_SYMBOLS:
			rc = on_symbols(s, m, now_ms);
			break;
		case SMSG_MORE:
			rc = on_more(s, m, now_ms);
			break;
		case SMSG_RESULT:
			rc = on_result(s, m, now_ms);
			break;
		case SMSG_ACK:
			rc = on_ack(s, m);
			break;
		case SMSG_BUNDLE:
			if (!in && !(in = calloc(p.n, sizeof *in))) {
				rc = MESH_ENOMEM;
				break;
			}
			in[nin].raw = m->body;
			in[nin].len = m->count;
			bundle_pass(s, &in[nin]);
			nin++;
			rc = MESH_OK;
			break;
		default:
			rc = MESH_EDECODE;
		}
		if (rc == MESH_EDECODE)
			s->st.bad_messages++;
		else if (rc != MESH_OK)
			break;
		rc = MESH_OK;
	}
	if (rc == MESH_OK && nin)
		rc = accept_batch(s, in, nin, now_ms);
	free(in);
	free(p.m);
	return rc;
}

int
session_input_plain(struct session *s, const uint8_t *plain, size_t len, uint64_t now_ms)
{
	if (s->state != SESSION_OPEN)
		return SESSION_ECLOSED;
	s->last_rx = now_ms;
	return handle_plain(s, plain, len, now_ms);
}

/* ---------------- data frames ---------------- */

/* The replay window (RFC 6479's idea, 64 frames): frames may arrive out of order
 * within the window, never twice, never from before it. */
static int
window_check(const struct session *s, uint64_t ctr)
{
	if (!s->rx_any || ctr > s->rx_max)
		return 1;
	if (s->rx_max - ctr >= 64)
		return 0;
	return !(s->rx_bits >> (s->rx_max - ctr) & 1);
}

static void
window_mark(struct session *s, uint64_t ctr)
{
	if (!s->rx_any) {
		s->rx_any = 1;
		s->rx_max = ctr;
		s->rx_bits = 1;
	} else if (ctr > s->rx_max) {
		uint64_t shift = ctr - s->rx_max;

		s->rx_bits = shift >= 64 ? 0 : s->rx_bits << shift;
		s->rx_bits |= 1;
		s->rx_max = ctr;
	} else {
		s->rx_bits |= UINT64_C(1) << (s->rx_max - ctr);
	}
}

static int
on_data(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t nonce[NONCE] = { 0 };
	unsigned long long plen;
	uint64_t ctr;

	if (s->hs != HS_DONE && s->hs != HS_CONFIRM)
		return MESH_EDECODE;
	if (len < SESSION_FRAME_OVERHEAD || len - SESSION_FRAME_OVERHEAD > s->cfg.max_frame)
		return MESH_EDECODE;
	ctr = get_u64(f + 1);
	if (!window_check(s, ctr)) {
		s->st.replayed++;
		return MESH_EDUPLICATE;
	}
	memcpy(nonce + 4, f + 1, 8);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(s->ptx, &plen, NULL, f + 9, len - 9, f, 9,
	    nonce, s->k_rx) != 0)
		return MESH_EDECRYPT;
	window_mark(s, ctr);
	s->last_rx = now_ms;
	if (s->hs == HS_CONFIRM) {
		/* The responder has our keys: the handshake is over. */
		sodium_memzero(s->hs_secret, sizeof s->hs_secret);
		free(s->hs3);
		s->hs3 = NULL;
		open_session(s, now_ms);
	}
	return handle_plain(s, s->ptx, (size_t)plen, now_ms);
}

int
session_input(struct session *s, const uint8_t *frame, size_t len, uint64_t now_ms)
{
	int rc;

	if (s->state == SESSION_CLOSED)
		return SESSION_ECLOSED;
	s->st.bytes_in += len;
	s->st.frames_in++;
	if (len < 1) {
		s->st.bad_frames++;
		return MESH_EDECODE;
	}
	switch (frame[0]) {
	case FR_HS1:
		s->st.hs_bytes_in += len;
		rc = on_hs1(s, frame, len, now_ms);
		break;
	case FR_HS2:
		s->st.hs_bytes_in += len;
		rc = on_hs2(s, frame, len, now_ms);
		break;
	case FR_HS3:
		s->st.hs_bytes_in += len;
		rc = on_hs3(s, frame, len, now_ms);
		break;
	case FR_DATA:
		rc = on_data(s, frame, len, now_ms);
		if (rc == MESH_EDUPLICATE)
			return rc;
		break;
	default:
		rc = MESH_EDECODE;
	}
	if (rc != MESH_OK && rc != MESH_ESTORE && rc != MESH_ENOMEM && s->state != SESSION_CLOSED)
		s->st.bad_frames++;
	return rc;
}

/* ---------------- output ---------------- */

struct out {
	uint8_t *p;
	size_t off, cap;
	uint64_t sync;          /* bytes of reconciliation messages */
};

/* Room for a message body of up to `want` bytes; returns the body pointer or NULL. */
static uint8_t *
out_msg(struct out *o, uint8_t type, size_t blen)
{
	uint8_t *p;

	if (blen > 0xffff || o->cap - o->off < MSG_HDR + blen)
		return NULL;
	p = o->p + o->off;
	p[0] = type;
	p[1] = (uint8_t)(blen >> 8);
	p[2] = (uint8_t)blen;
	o->off += MSG_HDR + blen;
	return p + MSG_HDR;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
out_control(struct session *s, struct out *o)
{
	uint8_t *b;

	if (s->need_ping && out_msg(o, SMSG_PING, 0))
		s->need_ping = 0;
	if (s->more_pending && (b = out_msg(o, SMSG_MORE, 12))) {
		put_u32(b, s->more_round);
		put_u32(b + 4, s->more_have);
		put_u32(b + 8, s->more_total);
		s->more_pending = 0;
		o->sync += MSG_HDR + 12;
	}
	while (s->result_pending) {
		size_t room = o->cap - o->off, k, left = s->nwants - s->wants_off;

		if (room < MSG_HDR + 9)
			break;
		k = (room - MSG_HDR - 9) / PREFIX;
		if (k > (0xffff - 9) / PREFIX)
			k = (0xffff - 9) / PREFIX;
		if (k > left)
			k = left;
		if (k < left && k == 0)
			break;
		b = out_msg(o, SMSG_RESULT, 9 + k * PREFIX);
		put_u32(b, s->result_round);
		b[4] = (uint8_t)(k == left ? (s->result_fail ? 2 : 1) : 0);
		put_u32(b + 5, s->result_diff);
		if (k)
			memcpy(b + 9, s->wants[s->wants_off], k * PREFIX);
		s->wants_off += k;
		o->sync += MSG_HDR + 9 + k * PREFIX;
		if (k == left) {
			s->result_pending = 0;
			s->nwants = s->wants_off = 0;
		}
	}
	while (s->nacks) {
		size_t room = o->cap - o->off, k;

		if (room < MSG_HDR + RIBLT_ID)
			break;
		k = (room - MSG_HDR) / RIBLT_ID;
		if (k > 0xffff / RIBLT_ID)
			k = 0xffff / RIBLT_ID;
		if (k > s->nacks)
			k = s->nacks;
		b = out_msg(o, SMSG_ACK, k * RIBLT_ID);
		memcpy(b, s->acks[s->nacks - k], k * RIBLT_ID);
		s->nacks -= k;
	}
}

static void
out_symbols(struct session *s, struct out *o)
{
	struct riblt_symbol *sym;
	size_t room, k;
	uint8_t *b;
	struct wire w;

	if (!s->cfg.initiator || !s->round_active || s->sym_next >= s->sym_end || !s->snap.ready)
		return;
	room = o->cap - o->off;
	if (room < MSG_HDR + 9 + RIBLT_SYMBOL)
		return;
	k = (room - MSG_HDR - 9) / RIBLT_SYMBOL;
	if (k > (0xffff - 9) / RIBLT_SYMBOL)
		k = (0xffff - 9) / RIBLT_SYMBOL;
	if (k > s->sym_end - s->sym_next)
		k = s->sym_end - s->sym_next;
	if (!(sym = malloc(sizeof *sym * k)))
		return;
	if (riblt_encoder_symbols(&s->snap.enc, s->sym_next, k, sym) != MESH_OK) {
		free(sym);
		return;
	}
	b = out_msg(o, SMSG_SYMBOLS, 9 + k * RIBLT_SYMBOL);
	put_u32(b, s->round);
	put_u32(b + 4, s->sym_next);
	s->sym_next += (uint32_t)k;
	b[8] = s->sym_next == s->sym_end;
	wire_writer(&w, b + 9, k * RIBLT_SYMBOL);
	for (size_t i = 0; i < k; i++)
		riblt_symbol_put(&w, &sym[i]);
	free(sym);
	s->st.symbols_out += k;
	o->sync += MSG_HDR + 9 + k * RIBLT_SYMBOL;
}

static void
out_bundles(struct session *s, struct out *o)
{
	while (s->nheap) {
		struct qent q = s->heap[0];
		struct ent *e = map_find(&s->map, q.id);
		const uint8_t *raw;
		size_t len;
		uint8_t *b;

		if (e && (e->flags & F_PEER_HAS)) {
			e->flags &= (uint8_t)~F_QUEUED;
			q_pop(s);
			continue;
		}
		if (s->src->get(s->src->ctx, q.id, &raw, &len) != MESH_OK || len < APAGON_BUNDLE_MIN) {
			if (e)
				e->flags &= (uint8_t)~F_QUEUED;
			q_pop(s);
			continue;
		}
		if (MSG_HDR + len > s->cfg.max_frame - SESSION_FRAME_OVERHEAD) {
			s->st.bundles_too_big++;
			if (e)
				e->flags &= (uint8_t)~F_QUEUED;
			q_pop(s);
			continue;
		}
		if (!(b = out_msg(o, SMSG_BUNDLE, len)))
			return;         /* next frame; the queue keeps its order */
		memcpy(b, raw, len);
		if (e)
			e->flags = (uint8_t)((e->flags & ~F_QUEUED) | F_INFLIGHT);
		s->st.bundles_out++;
		q_pop(s);
	}
}

size_t
session_output(struct session *s, uint8_t *buf, size_t cap, uint64_t now_ms)
{
	uint8_t nonce[NONCE] = { 0 };
	unsigned long long clen;
	struct out o;

	if (s->state == SESSION_CLOSED)
		return 0;
	if (cap > s->cfg.max_frame)
		cap = s->cfg.max_frame;
	if (s->hs_send) {
		const uint8_t *f = s->hs_send == FR_HS1 ? s->hs1 : s->hs_send == FR_HS2 ? s->hs2 : s->hs3;
		size_t len = s->hs_send == FR_HS1 ? HS1_LEN : s->hs_send == FR_HS2 ? s->hs2_len : s->hs3_len;

		if (!f || len > cap)
			return 0;
		memcpy(buf, f, len);
		s->hs_send = 0;
		s->st.bytes_out += len;
		s->st.hs_bytes_out += len;
		s->st.frames_out++;
		s->last_tx = now_ms;
		return len;
	}
	if (s->state != SESSION_OPEN || cap < SESSION_FRAME_OVERHEAD + MSG_HDR)
		return 0;
	o.p = s->ptx;
	o.off = 0;
	o.cap = cap - SESSION_FRAME_OVERHEAD;
	o.sync = 0;
	out_control(s, &o);
	out_symbols(s, &o);
	out_bundles(s, &o);
	if (o.off == 0)
		return 0;
	buf[0] = FR_DATA;
	put_u64(buf + 1, s->tx_ctr);
	memcpy(nonce + 4, buf + 1, 8);
	crypto_aead_chacha20poly1305_ietf_encrypt(buf + 9, &clen, s->ptx, o.off, buf, 9, NULL, nonce,
	    s->k_tx);
	s->tx_ctr++;
	if (o.sync)
		s->st.sync_bytes_out += o.sync + SESSION_FRAME_OVERHEAD;
	s->st.bytes_out += 9 + clen;
	s->st.frames_out++;
	s->last_tx = now_ms;
	return 9 + (size_t)clen;
}

/* ---------------- timers ---------------- */

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int64_t
session_timeout(const struct session *s, uint64_t now_ms)
{
	uint64_t due;

	if (s->state == SESSION_CLOSED)
		return -1;
	if (s->state == SESSION_HANDSHAKE) {
		due = s->hs_deadline;
		if (s->hs == HS_WAIT_HS2 || s->hs == HS_CONFIRM)
			due = min_u64(due, s->hs_retry_at);
	} else {
		due = min_u64(s->last_rx + s->cfg.idle_ms, s->last_tx + s->cfg.keepalive_ms);
		if (s->cfg.initiator)
			due = min_u64(due, s->round_active ? s->round_deadline : s->next_round_at);
	}
	return due <= now_ms ? 0 : (int64_t)(due - now_ms);
}

void
session_tick(struct session *s, uint64_t now_ms)
{
	if (s->state == SESSION_CLOSED)
		return;
	if (s->state == SESSION_HANDSHAKE) {
		if (now_ms >= s->hs_deadline) {
			close_with(s, SESSION_ETIMEOUT);
			return;
		}
		if ((s->hs == HS_WAIT_HS2 || s->hs == HS_CONFIRM) && now_ms >= s->hs_retry_at) {
			s->hs_send = s->hs == HS_WAIT_HS2 ? FR_HS1 : FR_HS3;
			if (s->hs_retry_cur < 8 * (uint64_t)s->cfg.hs_retry_ms)
				s->hs_retry_cur *= 2;
			s->hs_retry_at = now_ms + s->hs_retry_cur;
		}
		return;
	}
	if (now_ms >= s->last_rx + s->cfg.idle_ms) {
		close_with(s, SESSION_ETIMEOUT);
		return;
	}
	if (now_ms >= s->last_tx + s->cfg.keepalive_ms)
		s->need_ping = 1;
	if (s->cfg.initiator) {
		if (s->round_active && now_ms >= s->round_deadline) {
			s->st.rounds_failed++;
			s->round_active = 0;
			start_round(s, now_ms);
		} else if (!s->round_active && now_ms >= s->next_round_at) {
			start_round(s, now_ms);
		}
	}
}

void
session_resync(struct session *s, uint64_t now_ms)
{
	if (s->state != SESSION_OPEN || !s->cfg.initiator || s->round_active)
		return;
	start_round(s, now_ms);
}

int
session_notify(struct session *s, const uint8_t id[APAGON_HASH], int precedence)
{
	const uint8_t *raw;
	size_t len;
	int type = BUNDLE_MSG;

	if (s->state == SESSION_CLOSED)
		return SESSION_ECLOSED;
	if (s->src->get(s->src->ctx, id, &raw, &len) == MESH_OK && len > 3) {
		struct bundle b;

		if (bundle_decode(&b, raw, len, s->cfg.ax->nk) == MESH_OK)
			type = b.h.type;
	}
	return enqueue(s, id, rank_of(precedence, type));
}
