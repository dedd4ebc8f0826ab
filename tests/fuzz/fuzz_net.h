/*
 * A fixed two-member network over in-memory stores, shared by the session harnesses
 * (fuzz_handshake.c, fuzz_sync.c) and their seed generator (gen_sync_corpus.c): member
 * and peer of fuzz.h's cast, each with a one-link chain from the authority, its own
 * store holding its own CERT bundle, and a link session on demand.
 *
 * Static definitions: each of those files is its own program (the Makefile builds every
 * tests/fuzz/fuzz_*.c with its own main), so include it once per program.
 */
#ifndef APAGON_FUZZ_NET_H
#define APAGON_FUZZ_NET_H

#include "fuzz.h"

#include "../../mesh/accept.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

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

#endif
