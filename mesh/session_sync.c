/*
 * Link sessions: what a session knows about each bundle ID, the send queue in
 * precedence order, snapshots of our set and rateless set reconciliation
 * (docs/protocol.md, 15.4).
 */
#include "session_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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

struct ent *
sess_map_find(const struct idmap *m, const uint8_t id[RIBLT_ID])
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = map_slot(m, id); m->e[i].used; i = (i + 1) & (m->cap - 1))
		if (memcmp(m->e[i].id, id, RIBLT_ID) == 0)
			return &m->e[i];
	return NULL;
}

struct ent *
sess_map_get(struct idmap *m, const uint8_t *id, int full)
{
	struct ent *e;
	size_t i;

	if ((e = sess_map_find(m, id))) {
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

	if (mesh_grow((void **)&s->heap, &s->capheap, s->nheap + 1, sizeof *s->heap, 16) != 0)
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

void
sess_q_pop(struct session *s)
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

int
sess_rank_of(int prec, int type)
{
	int pub = type == BUNDLE_CERT || type == BUNDLE_REVOKE || type == BUNDLE_PREKEY;

	return (prec & 3) * 2 + pub;
}

/* Queue a bundle for the peer unless it has it or it is queued already. */
int
sess_enqueue(struct session *s, const uint8_t id[APAGON_HASH], int rank)
{
	struct ent *e = sess_map_get(&s->map, id, 1);

	if (!e)
		return MESH_ENOMEM;
	if (e->flags & (F_PEER_HAS | F_QUEUED))
		return MESH_OK;
	/* Pushed at the start and on its way: the first round finds the peer still
	 * lacks it (its snapshot came first); sending it twice would cost the link. */
	if ((e->flags & (F_PUSHED | F_INFLIGHT)) == (F_PUSHED | F_INFLIGHT))
		return MESH_OK;
	e->flags |= F_QUEUED;
	return q_push(s, id, rank);
}

/* ---------------- the first push ---------------- */

struct push_for {
	struct session *s;
	uint8_t kid[APAGON_KEYID];
	int err;
};

static int
push_one(void *ctx, const struct stored_bundle *sb)
{
	struct push_for *p = ctx;
	struct msg_rec rec;
	struct ent *e;

	if (!sb->own || !bundle_type_sealed(sb->type) ||
	    memcmp(sb->recipient, p->kid, APAGON_KEYID) != 0)
		return 0;
	/* Our own message that a peer already took: perhaps this one, whose receipt is
	 * on its way back. Reconciliation decides, after the receipt has had its turn.
	 * (A message only written into export files is pushed: a file that reached the
	 * peer costs one duplicate, and files are the slow way.) */
	if (sb->type == BUNDLE_MSG &&
	    store_get_msg_brief(p->s->cfg.ax->st, sb->id, &rec) == MESH_OK &&
	    rec.dir == MSG_OUT && (rec.sent_count > 0 || rec.state == OUT_DELIVERED))
		return 0;
	if ((p->err = sess_enqueue(p->s, sb->id, sess_rank_of(sb->precedence, sb->type))) != MESH_OK)
		return 1;
	if ((e = sess_map_find(&p->s->map, sb->id)) != NULL && (e->flags & F_QUEUED) &&
	    !(e->flags & F_PUSHED)) {
		e->flags |= F_PUSHED;
		p->s->pushed = 1;
		p->s->st.bundles_pushed++;
	}
	return 0;
}

/*
 * Our own messages and receipts sealed to the peer itself go out as soon as the
 * session opens, before reconciliation has said what the peer lacks: the peer is
 * where they are going, and it cannot hold what no peer has taken from us yet (a
 * receipt goes from our store once its recipient has it, node_link_acked). Left to
 * reconciliation: our messages that some peer already took (that peer may be this
 * one, its receipt still on the way) and relay copies (the recipient may have had the
 * message from elsewhere; the receipt that says so comes with reconciliation).
 * Reconciliation then finds everything else; it does not queue a pushed bundle again
 * while it is in flight. Only with the store as the source (it knows each bundle's
 * recipient).
 */
void
sess_push_for_peer(struct session *s, uint64_t now_ms)
{
	struct push_for p = { s, { 0 }, MESH_OK };

	if (s->src != &s->store_src)
		return;
	crypto_key_id(p.kid, s->peer_pk);
	if (store_each_bundle_brief(s->cfg.ax->st, (int64_t)(now_ms / 1000), push_one, &p) < 0 ||
	    p.err != MESH_OK)
		s->st.push_failed++;
}

void
sess_push_settled(struct session *s)
{
	if (!s->pushed)
		return;
	for (size_t i = 0; i < s->map.cap; i++)
		s->map.e[i].flags &= (uint8_t)~F_PUSHED;
	s->pushed = 0;
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

	if (mesh_grow((void **)&c->r, &c->cap, c->n + 1, sizeof *c->r, 16) != 0) {
		c->err = MESH_ENOMEM;
		return 1;
	}
	memcpy(c->r[c->n].id, id, APAGON_HASH);
	c->r[c->n++].rank = (uint8_t)sess_rank_of(prec, type);
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	return memcmp(((const struct rec *)a)->id, ((const struct rec *)b)->id, APAGON_HASH);
}

void
sess_snap_free(struct snap *sn)
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

	sess_snap_free(sn);
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
		sess_snap_free(sn);
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
		if ((rc = sess_enqueue(s, sn->full[i], sn->rank[i])) != MESH_OK)
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

int
sess_store_src_each(void *ctx, int64_t now_s, int (*fn)(void *, const uint8_t *, int, int), void *fctx)
{
	struct store_each se = { fn, fctx };
	int rc = store_each_bundle_brief(ctx, now_s, store_each_adapter, &se);

	return rc < 0 ? rc : MESH_OK;
}

int
sess_store_src_get(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t **raw, size_t *len)
{
	struct stored_bundle sb;
	int rc = store_get_bundle(ctx, id, &sb);

	if (rc != MESH_OK)
		return rc;
	*raw = sb.raw;
	*len = sb.raw_len;
	return MESH_OK;
}
/* ---------------- reconciliation ---------------- */

void
sess_start_round(struct session *s, uint64_t now_ms)
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
	/* Symbol 0 holds every item, so its count (the residual one, plus the signs
	 * of what was peeled) is how many more items one side holds than the other,
	 * modulo 256: a floor on the differences, known from the first batch on. A
	 * peer that gained a hundred bundles while away is then asked for enough at
	 * once, not in six growing steps of a round trip each. */
	if (d->n > 0) {
		unsigned c = d->res[0].count;
		uint64_t least;

		for (size_t i = 0; i < d->ndec; i++)
			c += (unsigned)(int)d->sign[i];
		c &= 0xff;
		least = (uint64_t)((double)(c < 128 ? c : 256 - c) * 1.45) + 8;
		if (c != 0 && least > target)
			target = least;
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
	sess_snap_free(&s->snap);
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
				struct ent *e = sess_map_find(&s->map, id);

				if (e && (e->flags & F_HELD))
					continue;
				if (mesh_grow((void **)&s->wants, &s->wants_cap, s->nwants + 1, PREFIX, 16) != 0)
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
	sess_push_settled(s);
	d_reset(s);
}

int
sess_on_symbols(struct session *s, const struct session_msg *m, uint64_t now_ms)
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
		/* A new round snapshots the whole store: a peer may not ask for that more
		 * than once a frame, nor more often than SESSION_ROUND_GAP_MS while the
		 * last round is still running and young. An honest initiator waits for our
		 * RESULT or its round timeout before it begins another. */
		if (!s->round_ok || (s->round_began && s->d_active &&
		    now_ms < s->round_began + s->cfg.round_timeout_ms / 2) ||
		    (s->round_began && now_ms < s->round_began + SESSION_ROUND_GAP_MS)) {
			s->st.rounds_refused++;
			return MESH_OK;
		}
		s->round_ok = 0;
		s->round_began = now_ms;
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

int
sess_on_more(struct session *s, const struct session_msg *m, uint64_t now_ms)
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

int
sess_on_result(struct session *s, const struct session_msg *m, uint64_t now_ms)
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
		sess_push_settled(s);
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
		sess_snap_free(&s->snap);
	}
	return MESH_OK;
}

int
sess_on_ack(struct session *s, const struct session_msg *m)
{
	for (size_t i = 0; i < m->count; i++) {
		/* Only IDs we know can be acknowledged: an ACK for anything else tells us
		 * nothing, and must not make the peer's claims a cost in our memory. */
		struct ent *e = sess_map_find(&s->map, m->body + i * RIBLT_ID);

		if (!e)
			continue;
		if ((e->flags & F_INFLIGHT) && (e->flags & F_FULL)) {
			s->st.bundles_acked++;
			if (s->cfg.acked && s->peer_known)
				s->cfg.acked(s->cfg.cb_ctx, e->id, s->peer_pk);
		}
		e->flags = (uint8_t)((e->flags & ~F_INFLIGHT) | F_PEER_HAS);
	}
	return MESH_OK;
}
