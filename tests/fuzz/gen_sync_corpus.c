/*
 * Write the seed corpora of fuzz_handshake and fuzz_sync from real sessions and the
 * real message layout, deterministically.
 *
 *   /tmp/gen_sync [tests/fuzz/corpus]
 *
 * Build it by hand from the top of the tree (the Makefile does not know it: run it only
 * when the session formats or fuzz.h change):
 *
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -o /tmp/gen_sync \
 *       tests/fuzz/gen_sync_corpus.c crypto/[a-z]*.c mesh/[a-z]*.c -lsodium -lsqlite3
 *
 * As in gen_corpus.c, libsodium's random source is a ChaCha20 stream under a fixed key
 * (tests/test_rng.h), so every ephemeral key, and so every byte written, is the same on every
 * run. The two-member network is fuzz_net.h's, as in the harnesses.
 *
 * fuzz_handshake seeds: a mode byte (bit 0: the target is an initiator; bit 1: the
 * responder first answers a genuine HELLO), then records of a 2-byte length and a
 * frame. fuzz_sync seeds: the plaintext of one data frame.
 */
#include "fuzz.h"
#include "fuzz_net.h"
#include "../test_rng.h"

#include "../../mesh/accept.h"
#include "../../mesh/riblt.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

#include <errno.h>
#include <sys/stat.h>

/* ---- output ---- */

static const char *root = "tests/fuzz/corpus";
static int written;

static void
put(const char *harness, const char *name, const uint8_t *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, harness);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
	if (!(f = fopen(path, "wb")) || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	written++;
}

/* A growing byte string. */
struct bytes {
	uint8_t b[16384];
	size_t n;
};

static void
add(struct bytes *s, const void *p, size_t len)
{
	if (s->n + len > sizeof s->b)
		abort();
	memcpy(s->b + s->n, p, len);
	s->n += len;
}

static void
add_u8(struct bytes *s, unsigned v)
{
	uint8_t b = (uint8_t)v;

	add(s, &b, 1);
}

static void
add_u16(struct bytes *s, unsigned v)
{
	add_u8(s, v >> 8);
	add_u8(s, v);
}

static void
add_u32(struct bytes *s, uint32_t v)
{
	add_u16(s, v >> 16);
	add_u16(s, v & 0xffff);
}

static void
record(struct bytes *s, const uint8_t *f, size_t len)
{
	add_u16(s, (unsigned)len);
	add(s, f, len);
}

/* ---- a genuine handshake, frame by frame ---- */

struct frame {
	uint8_t b[4096];
	size_t n;
};

static struct frame hs1, hs2, hs3, data1;

static void
record_handshake(void)
{
	struct fuzz_side member, peer;
	struct session *i, *r;
	uint64_t now = (uint64_t)FUZZ_NOW * 1000;

	memset(&member, 0, sizeof member);
	memset(&peer, 0, sizeof peer);
	fuzz_side_open(&member, 0);
	fuzz_side_open(&peer, 1);
	i = fuzz_session(&member, 1, now);
	r = fuzz_session(&peer, 0, now);
	hs1.n = session_output(i, hs1.b, sizeof hs1.b, now);
	if (!hs1.n || session_input(r, hs1.b, hs1.n, now) != MESH_OK)
		abort();
	hs2.n = session_output(r, hs2.b, sizeof hs2.b, now);
	if (!hs2.n || session_input(i, hs2.b, hs2.n, now) != MESH_OK)
		abort();
	hs3.n = session_output(i, hs3.b, sizeof hs3.b, now);
	if (!hs3.n || session_input(r, hs3.b, hs3.n, now) != MESH_OK)
		abort();
	data1.n = session_output(r, data1.b, sizeof data1.b, now);
	if (!data1.n || session_input(i, data1.b, data1.n, now) != MESH_OK)
		abort();
	if (session_state(i) != SESSION_OPEN || session_state(r) != SESSION_OPEN)
		abort();
	session_free(i);
	session_free(r);
	store_close(member.st);
	store_close(peer.st);
}

static void
handshake_seeds(void)
{
	struct bytes s;
	struct frame f;

	record_handshake();
	memset(&s, 0, sizeof s);
	add_u8(&s, 0);
	put("fuzz_handshake", "responder-nothing", s.b, s.n);
	record(&s, hs1.b, hs1.n);
	put("fuzz_handshake", "responder-hello", s.b, s.n);
	record(&s, hs3.b, hs3.n);
	put("fuzz_handshake", "responder-hello-stale-hs3", s.b, s.n);
	record(&s, hs1.b, hs1.n);
	put("fuzz_handshake", "responder-hello-hs3-hello", s.b, s.n);

	s.n = 0;
	add_u8(&s, 2);
	record(&s, hs3.b, hs3.n);
	record(&s, data1.b, data1.n);
	put("fuzz_handshake", "responder-real-hello-stale-hs3-data", s.b, s.n);

	s.n = 0;
	add_u8(&s, 1);
	record(&s, hs2.b, hs2.n);
	put("fuzz_handshake", "initiator-stale-hs2", s.b, s.n);
	record(&s, data1.b, data1.n);
	put("fuzz_handshake", "initiator-stale-hs2-data", s.b, s.n);

	s.n = 0;
	add_u8(&s, 1);
	record(&s, hs2.b, 40);
	record(&s, hs1.b, hs1.n);
	record(&s, hs3.b, hs3.n);
	put("fuzz_handshake", "initiator-cut-hs2-wrong-frames", s.b, s.n);

	f = hs1;
	f.b[f.n - 1] ^= 1;
	s.n = 0;
	add_u8(&s, 0);
	record(&s, f.b, f.n);
	put("fuzz_handshake", "responder-hello-bad-mac", s.b, s.n);
	f = hs1;
	f.b[1] = 2;
	s.n = 0;
	add_u8(&s, 0);
	record(&s, f.b, f.n);
	put("fuzz_handshake", "responder-hello-version2", s.b, s.n);

	s.n = 0;
	add_u8(&s, 0);
	record(&s, data1.b, data1.n);
	record(&s, (const uint8_t *)"", 0);
	record(&s, (const uint8_t *)"\x04\x00", 2);
	record(&s, (const uint8_t *)"\x03", 1);
	put("fuzz_handshake", "responder-junk-types", s.b, s.n);
}

/* ---- sync plaintexts ---- */

static void
msg(struct bytes *s, int type, const struct bytes *body)
{
	add_u8(s, (unsigned)type);
	add_u16(s, (unsigned)body->n);
	add(s, body->b, body->n);
}

static void
symbols_body(struct bytes *b, uint32_t round, uint32_t start, int last, size_t n)
{
	static const uint8_t key[RIBLT_KEY] = "fuzz riblt key";
	struct riblt_item items[3];
	struct riblt_encoder e;
	struct riblt_symbol sym[64];
	uint8_t id[RIBLT_ID], wbuf[64 * RIBLT_SYMBOL];
	struct wire w;

	for (int i = 0; i < 3; i++) {
		memset(id, 0x11 * (i + 1), sizeof id);
		riblt_item_init(&items[i], id, key);
	}
	riblt_encoder_init(&e, items, 3);
	riblt_encoder_symbols(&e, start, n, sym);
	wire_writer(&w, wbuf, sizeof wbuf);
	for (size_t i = 0; i < n; i++)
		riblt_symbol_put(&w, &sym[i]);
	b->n = 0;
	add_u32(b, round);
	add_u32(b, start);
	add_u8(b, (unsigned)last);
	add(b, wbuf, n * RIBLT_SYMBOL);
}

static void
sync_seeds(void)
{
	struct fuzz_side member, peer;
	uint8_t cert[APAGON_CHAIN_MAX + APAGON_BUNDLE_MIN + APAGON_TAG];
	struct bytes s, b;
	int clen;

	memset(&member, 0, sizeof member);
	memset(&peer, 0, sizeof peer);
	fuzz_side_open(&member, 0);
	fuzz_side_open(&peer, 1);
	put("fuzz_sync", "empty", NULL, 0);

	memset(&s, 0, sizeof s);
	memset(&b, 0, sizeof b);
	msg(&s, SMSG_PING, &b);
	put("fuzz_sync", "ping", s.b, s.n);

	s.n = 0;
	symbols_body(&b, 2, 0, 1, 16);
	msg(&s, SMSG_SYMBOLS, &b);
	put("fuzz_sync", "symbols-round2", s.b, s.n);
	s.n = 0;
	symbols_body(&b, 2, 5, 1, 3);
	msg(&s, SMSG_SYMBOLS, &b);
	put("fuzz_sync", "symbols-gap", s.b, s.n);
	s.n = 0;
	symbols_body(&b, 7, 0, 0, 40);
	msg(&s, SMSG_SYMBOLS, &b);
	symbols_body(&b, 7, 40, 1, 8);
	msg(&s, SMSG_SYMBOLS, &b);
	put("fuzz_sync", "symbols-two-batches", s.b, s.n);

	s.n = 0;
	b.n = 0;
	add_u32(&b, 2);
	add_u32(&b, 0);
	add_u32(&b, 32);
	msg(&s, SMSG_MORE, &b);
	put("fuzz_sync", "more-round2", s.b, s.n);

	s.n = 0;
	b.n = 0;
	add_u32(&b, 2);
	add_u8(&b, 1);
	add_u32(&b, 2);
	add(&b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	add(&b, peer.pk, 8);
	msg(&s, SMSG_RESULT, &b);
	put("fuzz_sync", "result-round2", s.b, s.n);
	s.n = 0;
	b.n = 0;
	add_u32(&b, 2);
	add_u8(&b, 2);
	add_u32(&b, 0);
	msg(&s, SMSG_RESULT, &b);
	put("fuzz_sync", "result-failed", s.b, s.n);

	s.n = 0;
	b.n = 0;
	add(&b, member.pk, 16);
	add(&b, peer.pk, 16);
	msg(&s, SMSG_ACK, &b);
	put("fuzz_sync", "ack-2", s.b, s.n);

	clen = fuzz_cert_bundle(&member, cert, sizeof cert);
	s.n = 0;
	b.n = 0;
	add(&b, cert, (size_t)clen);
	msg(&s, SMSG_BUNDLE, &b);
	put("fuzz_sync", "bundle-cert", s.b, s.n);
	{
		struct bytes t = s;

		t.b[3 + 40] ^= 0x40;
		put("fuzz_sync", "bundle-cert-flipped", t.b, t.n);
	}
	b.n = 0;
	msg(&s, SMSG_PING, &b);
	symbols_body(&b, 2, 0, 1, 4);
	msg(&s, SMSG_SYMBOLS, &b);
	b.n = 0;
	add(&b, peer.pk, 16);
	msg(&s, SMSG_ACK, &b);
	put("fuzz_sync", "mixed", s.b, s.n);

	put("fuzz_sync", "bad-type", (const uint8_t *)"\x09\x00\x00", 3);
	put("fuzz_sync", "cut-header", (const uint8_t *)"\x02\x00", 2);
	put("fuzz_sync", "length-past-end", (const uint8_t *)"\x05\x01\x00\x00", 4);
	put("fuzz_sync", "symbols-bad-length", (const uint8_t *)"\x02\x00\x0a"
	    "\x00\x00\x00\x02\x00\x00\x00\x00\x01\xff", 13);
	store_close(member.st);
	store_close(peer.st);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		root = argv[1];
	test_rng_use("apagon sync corpus");
	(void)fuzz_keys();
	handshake_seeds();
	sync_seeds();
	printf("%d seed files written under %s\n", written, root);
	return 0;
}
