/*
 * Harness: the link handshake of mesh/session.c, against a fresh session each run.
 *
 * Input: byte 0 picks the target. Bit 0 set: an initiator, whose HELLO has gone out;
 * clear: a responder, which with bit 1 set has first answered a genuine HELLO from a
 * real initiator (so a forged HS3 meets a real handshake state). Then records, each a
 * 2-byte big-endian length and a frame, fed to the target one by one; whatever the
 * target answers is drained and dropped, and its timers run between records.
 *
 * Invariants: no crash or overread (ASan), and the target never opens nor learns a
 * peer: nobody without the other side's ephemeral secret and identity key can finish
 * a handshake, whatever bytes they send.
 */
#include "fuzz.h"

#include "../../mesh/accept.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

/* ---- a fixed two-member network over in-memory stores (fuzz.h's cast) ---- */

struct fuzz_side {
	struct store *st;
	struct accept_ctx ax;
	struct chain ch;
	const uint8_t *pk, *sk;
};

static void
fuzz_member_chain(struct chain *ch, const uint8_t pk[APAGON_SIGN_PK], const char *name)
{
	const struct fuzz_keys *k = fuzz_keys();
	struct cert *c = &ch->c[0];

	memset(ch, 0, sizeof *ch);
	ch->n = 1;
	c->role = ROLE_MEMBER;
	memcpy(c->subject, pk, APAGON_SIGN_PK);
	memcpy(c->issuer, k->authority_pk, APAGON_SIGN_PK);
	c->not_before = FUZZ_NOW - 86400;
	c->not_after = FUZZ_NOW + 365 * 86400;
	strcpy(c->name, name);
	strcpy(c->unit, FUZZ_UNIT);
	cert_sign(c, k->nk.network_id, k->authority_sk);
}

/* The side's CERT bundle, stored through the acceptance path, so a reconciliation
 * between the two sides has something to move. */
static int
fuzz_cert_bundle(const struct fuzz_side *s, uint8_t *out, size_t cap)
{
	const struct fuzz_keys *k = fuzz_keys();
	uint8_t body[APAGON_CHAIN_MAX];
	struct bundle_hdr h;
	int blen, len;

	memset(&h, 0, sizeof h);
	h.type = BUNDLE_CERT;
	h.precedence = PREC_ROUTINE;
	crypto_key_id(h.sender, s->pk);
	memcpy(h.recipient, bundle_broadcast_id, APAGON_KEYID);
	h.created = FUZZ_NOW;
	h.lifetime = lifetime_code(30 * 86400);
	memcpy(h.salt, s->pk, APAGON_SALT);
	if ((blen = chain_encode(body, sizeof body, &s->ch)) < 0 ||
	    (len = bundle_build_public(out, cap, &h, body, (size_t)blen, &k->nk, s->sk)) < 0)
		abort();
	return len;
}

static void
fuzz_own_cert(struct fuzz_side *s)
{
	uint8_t out[APAGON_CHAIN_MAX + APAGON_BUNDLE_MIN + APAGON_TAG];
	struct accept_result res;
	int len = fuzz_cert_bundle(s, out, sizeof out);

	if (accept_begin(&s->ax) != MESH_OK)
		abort();
	accept_bundle(&s->ax, out, (size_t)len, FUZZ_NOW, &res);
	if (res.reason != MESH_OK || accept_commit(&s->ax) != MESH_OK)
		abort();
}

/* Open (or reopen, empty) the side's store and fill in its acceptance context. */
static void
fuzz_side_open(struct fuzz_side *s, int peer)
{
	const struct fuzz_keys *k = fuzz_keys();

	if (s->st)
		store_close(s->st);
	if (store_open(&s->st, ":memory:") != MESH_OK) {
		fprintf(stderr, "fuzz: cannot open an in-memory store\n");
		abort();
	}
	memset(&s->ax, 0, sizeof s->ax);
	s->ax.st = s->st;
	s->ax.nk = &k->nk;
	s->ax.skew = FUZZ_SKEW;
	s->pk = peer ? k->peer_pk : k->member_pk;
	s->sk = peer ? k->peer_sk : k->member_sk;
	s->ax.my_pk = s->pk;
	fuzz_member_chain(&s->ch, s->pk, peer ? "peer" : "member");
	fuzz_own_cert(s);
}

static struct session *
fuzz_session(struct fuzz_side *s, int initiator, uint64_t now_ms)
{
	struct session_config c;
	struct session *ss;

	memset(&c, 0, sizeof c);
	c.initiator = initiator;
	c.ax = &s->ax;
	c.pk = s->pk;
	c.sk = s->sk;
	c.chain = &s->ch;
	c.max_frame = 4096;
	if (session_new(&ss, &c, now_ms) != MESH_OK)
		abort();
	return ss;
}

static struct fuzz_side member, peer;

static void
drain(struct session *s, uint64_t now_ms)
{
	static uint8_t buf[4096];

	for (int i = 0; i < 16 && session_output(s, buf, sizeof buf, now_ms); i++)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t hello[4096];
	uint64_t now = (uint64_t)FUZZ_NOW * 1000;
	struct session *t, *real = NULL;
	uint8_t *in;
	struct wire w;
	int mode;

	if (!ready) {
		fuzz_side_open(&member, 0);
		fuzz_side_open(&peer, 1);
		ready = 1;
	}
	if (size < 1)
		return 0;
	in = fuzz_dup(data, size);
	mode = in[0];
	if (mode & 1) {
		t = fuzz_session(&member, 1, now);
		drain(t, now);
	} else {
		t = fuzz_session(&peer, 0, now);
		if (mode & 2) {
			size_t len;

			real = fuzz_session(&member, 1, now);
			len = session_output(real, hello, sizeof hello, now);
			FUZZ_CHECK(len > 0);
			FUZZ_CHECK(session_input(t, hello, len, now) == MESH_OK);
			drain(t, now);
		}
	}
	wire_reader(&w, in + 1, size - 1);
	for (int k = 0; wire_left(&w) >= 2; k++) {
		size_t len = wire_get_u16(&w);
		const uint8_t *p;

		if (len > wire_left(&w))
			len = wire_left(&w);
		p = wire_get_ref(&w, len);
		session_input(t, p, len, now);
		drain(t, now);
		now += 250;
		if (session_timeout(t, now) == 0)
			session_tick(t, now);
		FUZZ_CHECK(session_state(t) != SESSION_OPEN);
		FUZZ_CHECK(session_peer(t) == NULL);
	}
	FUZZ_CHECK(session_stats(t)->bundles_in == 0);
	session_free(t);
	session_free(real);
	free(in);
	return 0;
}
