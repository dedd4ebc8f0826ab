/*
 * Link sessions (session.h): the lifecycle, the message layer, data frames, bundle
 * transfer, output and timers. The key schedule and handshake are in session_hs.c, the
 * ID map, send queue and reconciliation in session_sync.c. The wire formats and the
 * reasoning behind each step are in docs/protocol.md, section 15; the comments here
 * say why the code does what it does.
 */
#include "session_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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
/* ---------------- lifecycle ---------------- */

void
sess_close_with(struct session *s, int err)
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
	sess_snap_free(&s->snap);
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
	s->store_src.each = sess_store_src_each;
	s->store_src.get = sess_store_src_get;
	s->store_src.ctx = cfg->ax->st;
	s->src = cfg->source ? cfg->source : &s->store_src;
	if (!(s->ptx = malloc(s->cfg.max_frame))) {
		sodium_free(s);
		return MESH_ENOMEM;
	}
	randombytes_buf(s->map.key, sizeof s->map.key);
	sess_link_psk(s->psk, cfg->ax->nk);
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
	sess_close_with(s, SESSION_ECLOSED);
	riblt_decoder_free(&s->dec);
	sess_snap_free(&s->snap);
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
const struct session_stats *
session_stats(const struct session *s)
{
	/* The gauge is read here rather than kept up to date on every insert. */
	((struct session *)s)->st.ids_known = s->map.n;
	return &s->st;
}

const struct chain *
session_peer_chain(const struct session *s)
{
	return s->peer_known ? &s->peer_chain : NULL;
}

int
session_refused(const struct session *s)
{
	return s->hs_refused;
}

const uint8_t *
session_peer(const struct session *s)
{
	return s->peer_known ? s->peer_pk : NULL;
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
	if (mesh_grow((void **)&s->acks, &s->acks_cap, s->nacks + 1, RIBLT_ID, 16) != 0)
		return MESH_ENOMEM;
	if (s->nacks == 0)
		s->ack_due = s->now_in + s->cfg.ack_delay_ms;
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
after_commit(struct session *s, const struct accept_result *r, int from_peer)
{
	struct ent *e = NULL;

	if (r->type >= 0 && !(e = sess_map_get(&s->map, r->id, 1)))
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
		if (r->reason == MESH_OK && s->cfg.received)
			s->cfg.received(s->cfg.cb_ctx, r->id, r->precedence);
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
			/* bundle_pass() hashed these bytes for their ID already. */
			rc = in[i].decoded ?
			    accept_bundle_known(ax, in[i].raw, in[i].len, in[i].id, now, &in[i].res) :
			    accept_bundle(ax, in[i].raw, in[i].len, now, &in[i].res);
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
		after_commit(s, &in[i].res, 1);
		if (in[i].res.reason == MESH_EUNKNOWN)
			pend_add(s, in[i].raw, in[i].len);
	}
	for (int i = 0; i < npend; i++) {
		if (pres[i].reason != MESH_EUNKNOWN) {
			after_commit(s, &pres[i], 0);
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

	if (mesh_grow((void **)&p->m, &p->cap, p->n + 1, sizeof *p->m, 16) != 0) {
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

	s->now_in = now_ms;
	if ((rc = session_parse(plain, len, collect_msg, &p)) != MESH_OK || p.err) {
		free(p.m);
		s->st.bad_messages++;
		return p.err ? p.err : rc;
	}
	s->round_ok = 1;
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
			rc = sess_on_symbols(s, m, now_ms);
			break;
		case SMSG_MORE:
			rc = sess_on_more(s, m, now_ms);
			break;
		case SMSG_RESULT:
			rc = sess_on_result(s, m, now_ms);
			break;
		case SMSG_ACK:
			rc = sess_on_ack(s, m);
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
		sess_open_session(s, now_ms);
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
		rc = sess_on_hs1(s, frame, len, now_ms);
		break;
	case FR_HS2:
		s->st.hs_bytes_in += len;
		rc = sess_on_hs2(s, frame, len, now_ms);
		break;
	case FR_HS3:
		s->st.hs_bytes_in += len;
		rc = sess_on_hs3(s, frame, len, now_ms);
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
	int acks_due;           /* acknowledgements go even in a frame of their own */
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

static void out_acks(struct session *, struct out *);

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
	if (o->acks_due)
		out_acks(s, o);
}

/* As many waiting acknowledgements as the frame has room for. */
static void
out_acks(struct session *s, struct out *o)
{
	uint8_t *b;

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
		struct ent *e = sess_map_find(&s->map, q.id);
		const uint8_t *raw;
		size_t len;
		uint8_t *b;

		if (e && (e->flags & F_PEER_HAS)) {
			e->flags &= (uint8_t)~F_QUEUED;
			sess_q_pop(s);
			continue;
		}
		if (s->nofit_len && memcmp(q.id, s->nofit_id, APAGON_HASH) == 0 &&
		    o->cap - o->off < MSG_HDR + s->nofit_len)
			return;         /* next frame, as below, without reading it again */
		if (s->src->get(s->src->ctx, q.id, &raw, &len) != MESH_OK || len < APAGON_BUNDLE_MIN) {
			if (e)
				e->flags &= (uint8_t)~F_QUEUED;
			sess_q_pop(s);
			continue;
		}
		if (MSG_HDR + len > s->cfg.max_frame - SESSION_FRAME_OVERHEAD) {
			s->st.bundles_too_big++;
			if (e)
				e->flags &= (uint8_t)~F_QUEUED;
			sess_q_pop(s);
			continue;
		}
		if (!(b = out_msg(o, SMSG_BUNDLE, len))) {
			memcpy(s->nofit_id, q.id, APAGON_HASH);
			s->nofit_len = len;
			return;         /* next frame; the queue keeps its order */
		}
		memcpy(b, raw, len);
		if (e)
			e->flags = (uint8_t)((e->flags & ~F_QUEUED) | F_INFLIGHT);
		s->st.bundles_out++;
		sess_q_pop(s);
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
	o.acks_due = s->nacks && (now_ms >= s->ack_due || s->nacks >= SESSION_ACK_BATCH);
	out_control(s, &o);
	out_symbols(s, &o);
	out_bundles(s, &o);
	if (o.off == 0)
		return 0;
	/* A frame goes anyway: the acknowledgements waiting ride along. */
	out_acks(s, &o);
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
		/* Only a wait still to come: acknowledgements due already go with the next
		 * output, which a full transport's draining brings (no spinning until then). */
		if (s->nacks && s->ack_due > now_ms)
			due = min_u64(due, s->ack_due);
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
			/* An identity refused on the way is the better reason to give. */
			sess_close_with(s, s->hs_refused ? s->hs_refused : SESSION_ETIMEOUT);
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
		sess_close_with(s, SESSION_ETIMEOUT);
		return;
	}
	if (now_ms >= s->last_tx + s->cfg.keepalive_ms)
		s->need_ping = 1;
	if (s->cfg.initiator) {
		if (s->round_active && now_ms >= s->round_deadline) {
			s->st.rounds_failed++;
			s->round_active = 0;
			sess_start_round(s, now_ms);
		} else if (!s->round_active && now_ms >= s->next_round_at) {
			sess_start_round(s, now_ms);
		}
	}
}

void
session_resync(struct session *s, uint64_t now_ms)
{
	if (s->state != SESSION_OPEN || !s->cfg.initiator || s->round_active)
		return;
	sess_start_round(s, now_ms);
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
	return sess_enqueue(s, id, sess_rank_of(precedence, type));
}
