/*
 * Harness: the sync messages that travel inside data frames once a link session is
 * open (mesh/session.c: session_parse and the handlers behind session_input_plain).
 *
 * Each run builds two fresh in-memory stores (each holding its own CERT bundle), runs
 * a genuine handshake and first reconciliation between an initiator and a responder,
 * starts a second round, and then feeds the input as the decrypted plaintext of one
 * data frame to both sides. Both then answer, and their answers are exchanged for a
 * few turns, so what the input provokes is carried through.
 *
 * Invariants: session_parse reports only messages that lie inside the input with
 * consistent counts; no crash or overread; both sessions stay open (a bad message is
 * counted, never fatal).
 */
#include "fuzz.h"
#include "fuzz_net.h"

#include "../../mesh/accept.h"
#include "../../mesh/riblt.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

/* Move frames both ways until neither side has anything to say (bounded). */
static void
fuzz_shuttle(struct session *a, struct session *b, uint64_t now_ms, int rounds)
{
	static uint8_t buf[4096];

	for (int r = 0; r < rounds; r++) {
		size_t len;
		int moved = 0;

		while ((len = session_output(a, buf, sizeof buf, now_ms))) {
			session_input(b, buf, len, now_ms);
			moved = 1;
		}
		while ((len = session_output(b, buf, sizeof buf, now_ms))) {
			session_input(a, buf, len, now_ms);
			moved = 1;
		}
		if (!moved)
			break;
	}
}

static struct fuzz_side member, peer;

struct span {
	const uint8_t *lo, *hi;
	int n;
};

static int
check_msg(void *ctx, const struct session_msg *m)
{
	struct span *sp = ctx;
	size_t unit = 0;

	FUZZ_CHECK(m->type >= SMSG_PING && m->type <= SMSG_ACK);
	switch (m->type) {
	case SMSG_PING:   unit = 0; break;
	case SMSG_SYMBOLS: unit = RIBLT_SYMBOL; FUZZ_CHECK(m->count >= 1); break;
	case SMSG_MORE:   unit = 0; break;
	case SMSG_RESULT: unit = 8; break;
	case SMSG_BUNDLE: unit = 1; FUZZ_CHECK(m->count >= APAGON_BUNDLE_MIN); break;
	case SMSG_ACK:    unit = RIBLT_ID; FUZZ_CHECK(m->count >= 1); break;
	}
	if (unit && m->count) {
		FUZZ_CHECK(m->body != NULL);
		FUZZ_CHECK(m->body >= sp->lo && m->body + m->count * unit <= sp->hi);
	}
	sp->n++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t now = (uint64_t)FUZZ_NOW * 1000;
	struct session *i, *r;
	struct span sp;
	uint8_t *in = fuzz_dup(data, size);
	int rc;

	sp.lo = in;
	sp.hi = in + size;
	sp.n = 0;
	rc = session_parse(in, size, check_msg, &sp);
	FUZZ_CHECK(rc == MESH_OK || rc == MESH_EDECODE);
	FUZZ_CHECK(size >= (size_t)sp.n * 3);

	fuzz_side_open(&member, 0);
	fuzz_side_open(&peer, 1);
	i = fuzz_session(&member, 1, now);
	r = fuzz_session(&peer, 0, now);
	fuzz_shuttle(i, r, now, 16);
	FUZZ_CHECK(session_state(i) == SESSION_OPEN && session_state(r) == SESSION_OPEN);
	session_resync(i, now);

	rc = session_input_plain(r, in, size, now);
	FUZZ_CHECK(rc != SESSION_ECLOSED);
	rc = session_input_plain(i, in, size, now);
	FUZZ_CHECK(rc != SESSION_ECLOSED);
	fuzz_shuttle(i, r, now, 8);
	session_tick(i, now + 20000);
	session_tick(r, now + 20000);
	fuzz_shuttle(i, r, now + 20000, 8);
	FUZZ_CHECK(session_state(i) == SESSION_OPEN && session_state(r) == SESSION_OPEN);
	session_free(i);
	session_free(r);
	free(in);
	return 0;
}
