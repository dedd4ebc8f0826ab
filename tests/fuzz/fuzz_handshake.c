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
#include "fuzz_net.h"

#include "../../mesh/accept.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

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
