/* mesh/ codecs: the wire cursor, round trips, and canonical-form rules for names. */
#include "../test.h"

#include "../../mesh/bundle.h"
#include "../../mesh/cert.h"
#include "../../mesh/files.h"
#include "../../mesh/mesh.h"
#include "../../mesh/wire.h"

#include <sodium.h>

static void
test_cursor_never_overreads(void)
{
	uint8_t buf[5] = { 1, 2, 3, 4, 5 }, out[8];
	struct wire w;

	wire_reader(&w, buf, sizeof buf);
	CHECK_EQ(wire_get_u32(&w), 0x01020304);
	CHECK_EQ(wire_left(&w), 1);
	CHECK_EQ(wire_get_u16(&w), 0);          /* would overrun: error, zero */
	CHECK(!wire_ok(&w));
	CHECK_EQ(wire_get_u8(&w), 0);           /* sticky */
	CHECK_EQ(wire_left(&w), 0);
	memset(out, 0xaa, sizeof out);
	wire_get_bytes(&w, out, 4);
	CHECK_EQ(out[0], 0);
	CHECK(wire_get_ref(&w, 0) == NULL);

	wire_writer(&w, out, 3);
	wire_put_u16(&w, 0x0102);
	wire_put_u16(&w, 0x0304);               /* does not fit */
	CHECK(!wire_ok(&w));
	CHECK_EQ(out[0], 1);
	CHECK_EQ(out[1], 2);
}

static void
make_cert(struct cert *c, int role, const char *name, const char *unit, uint8_t sk[64])
{
	uint8_t pk[32];

	memset(c, 0, sizeof *c);
	crypto_sign_keygen(pk, sk);
	c->role = (uint8_t)role;
	memcpy(c->subject, pk, 32);
	memcpy(c->issuer, pk, 32);
	c->not_before = 100;
	c->not_after = 200;
	strcpy(c->name, name);
	strcpy(c->unit, unit);
}

static void
test_round_trips(void)
{
	uint8_t sk[64], buf[1024], netid[32] = { 9 };
	struct cert c, c2;
	struct chain ch, ch2;
	struct prekey_rec p = { 7, { 1, 2, 3 }, 99 }, p2;
	struct revocation r, r2;
	uint8_t ids[3][32], ids2[3][32];
	int n;

	make_cert(&c, ROLE_ENROLLER, "Ana María", "Defensa", sk);
	cert_sign(&c, netid, sk);
	n = cert_encode(buf, sizeof buf, &c);
	CHECK(n > 0);
	CHECK_EQ(cert_decode(&c2, buf, (size_t)n), 0);
	CHECK(memcmp(&c, &c2, sizeof c) == 0);
	for (int cut = 0; cut < n; cut++)
		CHECK_EQ(cert_decode(&c2, buf, (size_t)cut), MESH_EDECODE);

	ch.n = 2;
	ch.c[0] = c;
	make_cert(&ch.c[1], ROLE_MEMBER, "bob", "Defensa", sk);
	n = chain_encode(buf, sizeof buf, &ch);
	CHECK(n > 0);
	CHECK_EQ(chain_decode(&ch2, buf, (size_t)n), 0);
	CHECK(memcmp(&ch, &ch2, sizeof ch) == 0);
	buf[n] = 0;
	CHECK_EQ(chain_decode(&ch2, buf, (size_t)n + 1), MESH_EDECODE);   /* trailing byte */

	n = prekey_encode(buf, &p);
	CHECK_EQ(prekey_decode(&p2, buf, (size_t)n), 0);
	CHECK(memcmp(&p, &p2, sizeof p) == 0);

	memset(&r, 0, sizeof r);
	memset(r.subject, 5, 32);
	r.revoked_at = 12345;
	strcpy(r.reason, "laptop lost on the train");
	n = revocation_encode(buf, sizeof buf, &r);
	CHECK_EQ(revocation_decode(&r2, buf, (size_t)n), 0);
	CHECK(memcmp(&r, &r2, sizeof r) == 0);

	randombytes_buf(ids, sizeof ids);
	n = receipt_encode(buf, sizeof buf, (const uint8_t (*)[32])ids, 3);
	CHECK_EQ(receipt_decode(ids2, 3, buf, (size_t)n), 3);
	CHECK(memcmp(ids, ids2, sizeof ids) == 0);
	CHECK_EQ(receipt_decode(ids2, 2, buf, (size_t)n), MESH_EDECODE);  /* caller's room */
}

static void
test_names_are_canonical_utf8(void)
{
	CHECK(name_valid("alice", 64, 0));
	CHECK(name_valid("Ana María", 64, 0));
	CHECK(name_valid("Łódź 🚒", 64, 0));
	CHECK(!name_valid("", 64, 0));
	CHECK(name_valid("", 64, 1));
	CHECK(!name_valid("tab\there", 64, 0));
	CHECK(!name_valid("esc\x1b[2J", 64, 0));
	CHECK(!name_valid("c1\xc2\x85", 64, 0));        /* U+0085, a C1 control */
	CHECK(!name_valid("\xc0\xaf", 64, 0));          /* overlong '/' */
	CHECK(!name_valid("\xe0\x80\xaf", 64, 0));      /* overlong, 3 bytes */
	CHECK(!name_valid("\xed\xa0\x80", 64, 0));      /* UTF-16 surrogate */
	CHECK(!name_valid("\xf0\x80\x80\xaf", 64, 0));  /* overlong, 4 bytes */
	CHECK(!name_valid("\xf4\x90\x80\x80", 64, 0));  /* above U+10FFFF */
	CHECK(!name_valid("cut\xe2\x82", 64, 0));       /* truncated sequence */
	CHECK(!name_valid("12345", 4, 0));
}

/* A NUL inside a length-prefixed name would make two encodings mean one name. */
static void
test_embedded_nul_refused(void)
{
	uint8_t sk[64], buf[1024], netid[32] = { 1 };
	struct cert c, c2;
	struct enroll_request rq, rq2;
	struct revocation r, r2;
	int n, at;

	make_cert(&c, ROLE_MEMBER, "alice", "Interior", sk);
	cert_sign(&c, netid, sk);
	n = cert_encode(buf, sizeof buf, &c);
	/* "alice" becomes "al\0ce": same length, NUL inside. */
	at = 75 + 2;
	buf[at] = 0;
	CHECK_EQ(cert_decode(&c2, buf, (size_t)n), MESH_EDECODE);

	memset(&rq, 0, sizeof rq);
	crypto_sign_keygen(rq.pk, sk);
	memcpy(rq.pk, sk + 32, 32);
	strcpy(rq.name, "alice");
	n = request_encode(buf, sizeof buf, &rq, sk);
	CHECK(n > 0);
	CHECK_EQ(request_decode(&rq2, buf, (size_t)n), 0);
	/* A request whose signed name is "alice\0xyz" must not decode as "alice". */
	{
		uint8_t forged[256];
		struct wire w;
		uint8_t sig[64];

		wire_writer(&w, forged, sizeof forged);
		wire_put_bytes(&w, (const uint8_t *)"APGQ\x01", 5);
		wire_put_bytes(&w, rq.pk, 32);
		wire_put_u8(&w, 9);
		wire_put_bytes(&w, (const uint8_t *)"alice\0xyz", 9);
		crypto_sign_ctx(sig, APAGON_CTX_REQUEST_SIG, forged, w.off, NULL, 0, sk);
		wire_put_bytes(&w, sig, 64);
		CHECK_EQ(request_decode(&rq2, forged, w.off), MESH_EDECODE);
	}

	memset(&r, 0, sizeof r);
	strcpy(r.reason, "lost");
	n = revocation_encode(buf, sizeof buf, &r);
	buf[37 + 1] = 0;
	CHECK_EQ(revocation_decode(&r2, buf, (size_t)n), MESH_EDECODE);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_cursor_never_overreads),
		TEST(test_round_trips),
		TEST(test_names_are_canonical_utf8),
		TEST(test_embedded_nul_refused),
	};

	return test_main("codec", cases, sizeof cases / sizeof cases[0], argc, argv);
}
