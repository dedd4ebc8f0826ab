/*
 * The acceptance path against hostile input, end to end through real nodes on real
 * SQLite files: every refused bundle names its reason and leaves the store untouched.
 */
#include "../test.h"

#include "../../node/node_internal.h"
#include "nodes.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define T0 1790000000LL         /* a fixed "now": November 2026 */

struct world {
	char dir[64];
	struct issuer *auth;
	struct node *alice, *bob;
};

static char *
path_in(const struct world *w, const char *name)
{
	return test_path(w->dir, name);
}

/* Enrol a new node `name` through the authority (or another issuer). */
static struct node *
enrol(struct world *w, struct issuer *is, const char *name, int role, const char *unit,
    int days, int64_t now)
{
	return test_enrol(w->dir, is, name, role, unit, days, now);
}

/* from's export into to. */
static int
carry(struct node *from, struct node *to, int64_t now)
{
	return test_carry(from, to, now);
}

static void
world_up(struct world *w)
{
	memset(w, 0, sizeof *w);
	strcpy(w->dir, "/tmp/apagon-accept-XXXXXX");
	CHECK(mkdtemp(w->dir) != NULL);
	CHECK_EQ(authority_init(path_in(w, "admin"), "Test Ministry", NULL, KEYFILE_NONE), 0);
	CHECK_EQ(issuer_open(&w->auth, path_in(w, "admin"), NULL), 0);
	w->alice = enrol(w, w->auth, "alice", ROLE_MEMBER, "Interior", 0, T0);
	w->bob = enrol(w, w->auth, "bob", ROLE_MEMBER, "Interior", 0, T0);
	CHECK_EQ(carry(w->alice, w->bob, T0), 0);
	CHECK_EQ(carry(w->bob, w->alice, T0), 0);
}

static void
world_down(struct world *w)
{
	char cmd[128];

	node_close(w->alice);
	node_close(w->bob);
	issuer_close(w->auth);
	snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
	CHECK_EQ(system(cmd), 0);
}

/* A copy of a held bundle's wire bytes. */
static size_t
raw_of(struct node *n, const uint8_t id[APAGON_HASH], uint8_t *out)
{
	struct stored_bundle sb;

	CHECK_EQ(store_get_bundle(node_store(n), id, &sb), 0);
	memcpy(out, sb.raw, sb.raw_len);
	return sb.raw_len;
}

/* A bundle file holding the given records. */
struct bfile {
	uint8_t *buf;
	size_t len, cap;
};

static void
bfile_add(struct bfile *f, const uint8_t *p, size_t len)
{
	if (!f->buf) {
		f->cap = 1 << 16;
		f->buf = malloc(f->cap);
		bundlefile_header(f->buf);
		f->len = APAGON_BUNDLEFILE_HDR;
	}
	while (f->len + 2 + len > f->cap)
		f->buf = realloc(f->buf, f->cap *= 2);
	f->buf[f->len++] = (uint8_t)(len >> 8);
	f->buf[f->len++] = (uint8_t)len;
	memcpy(f->buf + f->len, p, len);
	f->len += len;
}

/* Every one-bit change of raw[0..len), in order, into f. */
static void
add_bit_flips(struct bfile *f, const uint8_t *raw, size_t len)
{
	uint8_t bad[APAGON_MAX_BUNDLE];

	for (size_t byte = 0; byte < len; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, raw, len);
			bad[byte] ^= (uint8_t)(1 << bit);
			bfile_add(f, bad, len);
		}
	}
}

struct reasons {
	int n;
	int reason[4096];
};

static void
note_item(void *ctx, const struct import_item *it)
{
	struct reasons *r = ctx;

	if (it->index - 1 < 4096)
		r->reason[it->index - 1] = it->reason;
	if (it->index > r->n)
		r->n = it->index;
}

static int64_t
held_bytes(struct node *n)
{
	int64_t total = -1;

	CHECK_EQ(store_usage(node_store(n), NULL, &total, NULL), 0);
	return total;
}

/* Import one record into n and return its reason. */
static int
import_one(struct node *n, const uint8_t *p, size_t len, int64_t now)
{
	struct bfile f = { 0 };
	struct reasons r = { 0 };

	bfile_add(&f, p, len);
	node_import(n, f.buf, f.len, now, note_item, &r, NULL);
	free(f.buf);
	CHECK_EQ(r.n, 1);
	return r.reason[0];
}

static void
test_every_bit_flip_refused(void)
{
	struct world w;
	uint8_t id[APAGON_HASH], raw[512];
	struct bfile f = { 0 };
	struct reasons *r = calloc(1, sizeof *r);
	size_t len;
	int64_t before;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "Generator 2 is down.", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_OK);
	before = held_bytes(w.bob);
	add_bit_flips(&f, raw, len);
	node_import(w.bob, f.buf, f.len, T0, note_item, r, NULL);
	CHECK_EQ(r->n, (int)len * 8);
	for (int i = 0; i < r->n; i++) {
		/* The ID covers every signed byte, not the hop count (byte 0) nor the
		 * signature's last 40 bytes (its first 24 make the header's mask, so a flip
		 * there changes the unmasked header): with those flipped it is still the
		 * bundle bob holds, a duplicate, refused before any signature check. Every
		 * other flip makes another bundle, which must be refused. */
		int same_id = i < 8 || i / 8 >= (int)len - APAGON_SIG + 24;

		if (same_id)
			CHECK_EQ(r->reason[i], MESH_EDUPLICATE);
		else if (r->reason[i] == MESH_OK || r->reason[i] == MESH_EDUPLICATE) {
			fprintf(stderr, "    flip %d (byte %d) gave %s\n", i, i / 8,
			    mesh_reason_name(r->reason[i]));
			CHECK(0);
		}
	}
	CHECK_EQ(held_bytes(w.bob), before);
	free(f.buf);
	free(r);
	world_down(&w);
}

/*
 * A node skips verifying its own signature only on bundles it has just built
 * (node_accept_own). Its own bundle coming back over a link or in a file is verified
 * like any other, the shortcut never covers another sender, and the chain checks
 * still apply to its own bundles.
 */
static void
test_own_signature_shortcut_is_narrow(void)
{
	struct world w;
	struct node *dave;
	uint8_t id[APAGON_HASH], id2[APAGON_HASH], raw[512], bad[512];
	struct accept_result res;
	struct bfile f = { 0 };
	struct reasons *r = calloc(1, sizeof *r);
	size_t len, len2;
	int64_t before;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "Own bundle.", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_OK);     /* it is validly signed */

	/* Every changed copy of alice's own bundle, handed back to alice, is refused. */
	before = held_bytes(w.alice);
	add_bit_flips(&f, raw, len);
	node_import(w.alice, f.buf, f.len, T0, note_item, r, NULL);
	CHECK_EQ(r->n, (int)len * 8);
	for (int i = 8; i < r->n; i++) {        /* the first byte is the hop count */
		/* alice holds her own bundle: a copy whose flip leaves the ID alone (the
		 * signature's last 40 bytes) is that bundle, a duplicate, not stored. */
		if (i / 8 >= (int)len - APAGON_SIG + 24)
			CHECK_EQ(r->reason[i], MESH_EDUPLICATE);
		else
			CHECK(r->reason[i] != MESH_OK && r->reason[i] != MESH_EDUPLICATE);
	}
	CHECK_EQ(held_bytes(w.alice), before);

	/* The shortcut switched on by mistake still verifies anyone else's bundle: a
	 * changed signature from bob is refused. */
	CHECK_EQ(node_send(w.bob, node_pk(w.alice), PREC_ROUTINE, "Bob's.", 0, T0, id2), 0);
	len2 = raw_of(w.bob, id2, bad);
	bad[len2 - 1] ^= 0x01;
	CHECK_EQ(accept_begin(&w.alice->ax), 0);
	w.alice->ax.own_signed = 1;
	CHECK_EQ(accept_bundle(&w.alice->ax, bad, len2, T0, &res), MESH_ESIGNATURE);
	w.alice->ax.own_signed = 0;
	CHECK_EQ(accept_commit(&w.alice->ax), 0);
	CHECK_EQ(store_has_bundle(node_store(w.alice), id2), 0);

	/* A node whose own certificate has run out cannot store its own new bundles. */
	dave = enrol(&w, w.auth, "dave", ROLE_MEMBER, "Interior", 1, T0);
	CHECK_EQ(carry(w.bob, dave, T0), 0);
	CHECK_EQ(node_send(dave, node_pk(w.bob), PREC_ROUTINE, "late", 0, T0 + 3 * 86400, id2),
	    MESH_EEXPIRED);
	node_close(dave);
	free(f.buf);
	free(r);
	world_down(&w);
}

static void
test_every_truncation_refused(void)
{
	struct world w;
	uint8_t id[APAGON_HASH], raw[512];
	struct bfile f = { 0 };
	struct reasons *r = calloc(1, sizeof *r);
	size_t len;
	int64_t before;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_FLASH, "Evacuate floor 3.", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	before = held_bytes(w.bob);
	for (size_t cut = 0; cut < len; cut++)
		bfile_add(&f, raw, cut);
	node_import(w.bob, f.buf, f.len, T0, note_item, r, NULL);
	CHECK_EQ(r->n, (int)len);
	for (int i = 0; i < r->n; i++) {
		CHECK(r->reason[i] != MESH_OK && r->reason[i] != MESH_EDUPLICATE);
		if (i < APAGON_BUNDLE_MIN)
			CHECK_EQ(r->reason[i], MESH_ESIZE);
	}
	CHECK_EQ(held_bytes(w.bob), before);
	free(f.buf);
	free(r);
	world_down(&w);
}

static void
test_other_network_refused(void)
{
	struct world w, w2;
	uint8_t id[APAGON_HASH], raw[512];
	size_t len;
	int64_t before;

	world_up(&w);
	world_up(&w2);
	CHECK_EQ(node_send(w2.alice, node_pk(w2.bob), PREC_ROUTINE, "other network", 0, T0, id), 0);
	len = raw_of(w2.alice, id, raw);
	before = held_bytes(w.bob);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_ENETWORK);
	/* A whole export from the other network: every bundle refused as foreign. */
	{
		uint8_t *buf;
		size_t blen;
		struct reasons r = { 0 };

		CHECK_EQ(node_export(w2.alice, T0, NULL, &buf, &blen, NULL), 0);
		CHECK_EQ(node_import(w.bob, buf, blen, T0, note_item, &r, NULL), MESH_ENETWORK);
		for (int i = 0; i < r.n; i++)
			CHECK_EQ(r.reason[i], MESH_ENETWORK);
		free(buf);
	}
	CHECK_EQ(held_bytes(w.bob), before);
	world_down(&w2);
	world_down(&w);
}

/* A CERT bundle for `subject` with chain ch, signed by subject_sk, under w's network. */
static size_t
cert_bundle(struct world *w, const struct chain *ch, const uint8_t *subject_pk,
    const uint8_t *subject_sk, uint8_t *out)
{
	uint8_t body[APAGON_CHAIN_MAX];
	struct bundle_hdr h;
	int blen, n;

	blen = chain_encode(body, sizeof body, ch);
	CHECK(blen > 0);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_CERT;
	h.precedence = PREC_IMMEDIATE;
	crypto_key_id(h.sender, subject_pk);
	h.created = (uint32_t)T0;
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	n = bundle_build_public(out, 1024, &h, body, (size_t)blen, node_netkeys(w->alice), subject_sk);
	CHECK(n > 0);
	return (size_t)n;
}

static void
fill_cert(struct cert *c, const uint8_t *subject, const uint8_t *issuer, int role,
    const char *name, const char *unit)
{
	memset(c, 0, sizeof *c);
	c->role = (uint8_t)role;
	memcpy(c->subject, subject, 32);
	memcpy(c->issuer, issuer, 32);
	c->not_before = (uint32_t)T0;
	c->not_after = (uint32_t)T0 + 86400 * 30;
	strcpy(c->name, name);
	strcpy(c->unit, unit);
}

static void
test_forged_certificates_refused(void)
{
	struct world w;
	uint8_t fpk[32], fsk[64], raw[1024];
	struct chain ch;
	size_t len;
	int64_t before;

	world_up(&w);
	before = held_bytes(w.bob);
	crypto_sign_keygen(fpk, fsk);

	/* An insider (alice) signs a certificate for a made-up minister. */
	ch.n = 1;
	fill_cert(&ch.c[0], fpk, node_pk(w.alice), ROLE_MEMBER, "minister", "Interior");
	cert_sign(&ch.c[0], node_netkeys(w.alice)->network_id, w.alice->sk);
	len = cert_bundle(&w, &ch, fpk, fsk, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_ECHAIN);

	/* A certificate that names the authority as issuer but is signed by someone else. */
	fill_cert(&ch.c[0], fpk, node_netkeys(w.alice)->authority_pk, ROLE_MEMBER, "minister", "Interior");
	cert_sign(&ch.c[0], node_netkeys(w.alice)->network_id, fsk);
	len = cert_bundle(&w, &ch, fpk, fsk, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_ECHAIN);

	/* A member certificate posing as an enroller for another member. */
	{
		const struct chain *ac = node_chain(w.alice);

		ch.n = 2;
		ch.c[0] = ac->c[0];
		fill_cert(&ch.c[1], fpk, node_pk(w.alice), ROLE_MEMBER, "minister", "Interior");
		cert_sign(&ch.c[1], node_netkeys(w.alice)->network_id, w.alice->sk);
		len = cert_bundle(&w, &ch, fpk, fsk, raw);
		CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_ECHAIN);
	}
	/* A certificate name too long for the format is refused at decode. */
	{
		uint8_t body[APAGON_CHAIN_MAX];
		int blen;

		ch.n = 1;
		fill_cert(&ch.c[0], fpk, fpk, ROLE_MEMBER, "x", "Interior");
		blen = chain_encode(body, sizeof body, &ch);
		CHECK(blen > 80);
		body[3 + 74] = 200;     /* name length byte inside the first certificate */
		{
			struct bundle_hdr h;
			int n;

			memset(&h, 0, sizeof h);
			h.type = BUNDLE_CERT;
			crypto_key_id(h.sender, fpk);
			h.created = (uint32_t)T0;
			h.lifetime = lifetime_code(3600);
			bundle_hdr_salt(&h);
			n = bundle_build_public(raw, sizeof raw, &h, body, (size_t)blen,
			    node_netkeys(w.alice), fsk);
			CHECK_EQ(import_one(w.bob, raw, (size_t)n, T0), MESH_EDECODE);
		}
	}
	CHECK_EQ(held_bytes(w.bob), before);
	world_down(&w);
}

static void
test_enroller_bound_to_unit(void)
{
	struct world w;
	struct node *hr;
	struct issuer *enr = NULL;
	uint8_t fpk[32], fsk[64], raw[1024], req[APAGON_REQUEST_MAX], file[APAGON_ENROLLMENT_MAX];
	struct chain ch;
	struct node *tmp;
	size_t len;
	int rlen;

	world_up(&w);
	hr = enrol(&w, w.auth, "hr-office", ROLE_ENROLLER, "HR", 0, T0);
	CHECK_EQ(carry(hr, w.bob, T0), 0);
	CHECK_EQ(issuer_open(&enr, path_in(&w, "hr-office"), NULL), 0);

	/* Through the tool: an enroller can't issue for another unit, nor an enroller. */
	CHECK_EQ(node_init(path_in(&w, "eve"), "eve", NULL, KEYFILE_NONE), 0);
	CHECK_EQ(node_open(&tmp, path_in(&w, "eve"), NULL), 0);
	rlen = node_request(tmp, req, sizeof req);
	CHECK_EQ(issuer_enroll(enr, req, (size_t)rlen, ROLE_MEMBER, "Defence", 0, T0, file,
	    sizeof file, NULL), MESH_ECHAIN);
	CHECK_EQ(issuer_enroll(enr, req, (size_t)rlen, ROLE_ENROLLER, NULL, 0, T0, file,
	    sizeof file, NULL), MESH_ECHAIN);
	CHECK(issuer_enroll(enr, req, (size_t)rlen, ROLE_MEMBER, NULL, 0, T0, file, sizeof file,
	    NULL) > 0);
	node_close(tmp);

	/* By hand: a chain where the enroller signed a member of Defence. */
	crypto_sign_keygen(fpk, fsk);
	ch = *node_chain(hr);
	ch.n = 2;
	fill_cert(&ch.c[1], fpk, node_pk(hr), ROLE_MEMBER, "general", "Defence");
	cert_sign(&ch.c[1], node_netkeys(w.alice)->network_id, hr->sk);
	len = cert_bundle(&w, &ch, fpk, fsk, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_ECHAIN);
	/* The same chain inside HR is fine. */
	strcpy(ch.c[1].unit, "HR");
	cert_sign(&ch.c[1], node_netkeys(w.alice)->network_id, hr->sk);
	len = cert_bundle(&w, &ch, fpk, fsk, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_OK);
	issuer_close(enr);
	node_close(hr);
	world_down(&w);
}

static void
test_expired_certificate_refused(void)
{
	struct world w;
	struct node *dave;
	uint8_t *buf;
	size_t len;
	struct reasons r = { 0 };

	world_up(&w);
	dave = enrol(&w, w.auth, "dave", ROLE_MEMBER, "Interior", 1, T0);
	CHECK_EQ(node_export(dave, T0, NULL, &buf, &len, NULL), 0);
	/* Three days later, beyond the one-hour skew allowance. */
	CHECK_EQ(node_import(w.bob, buf, len, T0 + 3 * 86400, note_item, &r, NULL), MESH_EEXPIRED);
	CHECK(r.n >= 1);
	CHECK_EQ(r.reason[0], MESH_EEXPIRED);
	free(buf);
	node_close(dave);
	world_down(&w);
}

/*
 * The senders verified in one batch stay known in the next (accept_begin), so a
 * revocation that another process writes into the store in between must still stop
 * the sender's next bundle.
 */
static void
test_sender_cache_sees_other_writers(void)
{
	struct world w;
	struct node *bob2 = NULL;
	uint8_t id1[APAGON_HASH], id2[APAGON_HASH], raw[512], *rev;
	size_t len, revlen;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "one", 0, T0, id1), 0);
	len = raw_of(w.alice, id1, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_OK);      /* alice now known */
	CHECK_EQ(node_open(&bob2, path_in(&w, "bob"), NULL), 0);
	CHECK_EQ(issuer_revoke(w.auth, node_pk(w.alice), "laptop lost", T0 + 60, &rev, &revlen), 0);
	CHECK_EQ(node_import(bob2, rev, revlen, T0 + 60, NULL, NULL, NULL), 0);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "two", 0, T0 + 120, id2), 0);
	len = raw_of(w.alice, id2, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0 + 120), MESH_EREVOKED);
	free(rev);
	node_close(bob2);
	world_down(&w);
}

static void
test_revoked_sender_refused(void)
{
	struct world w;
	uint8_t id1[APAGON_HASH], id2[APAGON_HASH], raw[512], *rev;
	size_t len, revlen;
	int count = 0;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "before", 0, T0, id1), 0);
	CHECK_EQ(carry(w.alice, w.bob, T0), 0);
	CHECK_EQ(issuer_revoke(w.auth, node_pk(w.alice), "laptop lost", T0 + 60, &rev, &revlen), 0);
	CHECK_EQ(node_import(w.bob, rev, revlen, T0 + 60, NULL, NULL, NULL), 0);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "after", 0, T0 + 120, id2), 0);
	len = raw_of(w.alice, id2, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0 + 120), MESH_EREVOKED);
	/* Nothing stored is lost: the message from before the revocation stays. */
	{
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.bob), id1, &m), 0);
		CHECK_EQ(store_get_msg(node_store(w.bob), id2, &m), MESH_ENOTFOUND);
	}
	/* And bob will not send to a revoked member. */
	CHECK_EQ(node_send(w.bob, node_pk(w.alice), PREC_ROUTINE, "x", 0, T0 + 130, id2), MESH_EREVOKED);
	/* The revocation is idempotent: a replay is a duplicate. */
	CHECK_EQ(node_import(w.bob, rev, revlen, T0 + 60, NULL, NULL, NULL), 0);
	(void)count;
	free(rev);
	world_down(&w);
}

static void
test_replay_is_duplicate(void)
{
	struct world w;
	uint8_t id[APAGON_HASH], raw[512];
	size_t len;
	int64_t before;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "once", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_OK);
	/* Delivered at once: the inbox has it, the store keeps no row of the bundle,
	 * only its tombstone. */
	{
		struct stored_bundle sb;
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.bob), id, &m), 0);
		CHECK_EQ(m.dir, MSG_IN);
		CHECK_EQ(store_get_bundle(node_store(w.bob), id, &sb), MESH_ENOTFOUND);
		CHECK_EQ(store_has_bundle(node_store(w.bob), id), 1);
	}
	before = held_bytes(w.bob);
	CHECK_EQ(import_one(w.bob, raw, len, T0 + 5), MESH_EDUPLICATE);
	raw[0] = 7;     /* more hops, same bundle */
	CHECK_EQ(import_one(w.bob, raw, len, T0 + 5), MESH_EDUPLICATE);
	CHECK_EQ(held_bytes(w.bob), before);
	world_down(&w);
}

static void
test_prekey_signed_by_wrong_key(void)
{
	struct world w;
	uint8_t body[APAGON_PREKEY_REC], raw[512], msk[64], mpk[32];
	struct prekey_rec rec;
	struct bundle_hdr h;
	int n;
	int64_t before;

	world_up(&w);
	before = held_bytes(w.bob);
	crypto_sign_keygen(mpk, msk);
	rec.serial = 99;
	crypto_dh_keygen(rec.pk, msk + 32 /* scratch, overwritten below */);
	crypto_sign_keygen(mpk, msk);
	rec.not_after = (uint32_t)T0 + 86400;
	prekey_encode(body, &rec);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_PREKEY;
	crypto_key_id(h.sender, node_pk(w.alice));     /* claims to be alice's */
	h.created = (uint32_t)T0;
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	n = bundle_build_public(raw, sizeof raw, &h, body, sizeof body, node_netkeys(w.alice), msk);
	CHECK(n > 0);
	CHECK_EQ(import_one(w.bob, raw, (size_t)n, T0), MESH_ESIGNATURE);
	CHECK_EQ(held_bytes(w.bob), before);
	{
		struct peer_prekey pp;

		CHECK_EQ(store_peer_prekey_by_serial8(node_store(w.bob), node_pk(w.alice), 99, &pp),
		    MESH_ENOTFOUND);
	}
	world_down(&w);
}

static void
test_oversized_lengths_refused(void)
{
	struct world w;
	uint8_t *big = calloc(1, APAGON_MAX_BUNDLE + 100);
	struct reasons r = { 0 };
	uint8_t file[64];
	int64_t before;

	world_up(&w);
	before = held_bytes(w.bob);
	CHECK_EQ(import_one(w.bob, big, APAGON_MAX_BUNDLE + 1, T0), MESH_ESIZE);
	/* A record length that runs past the end of the file. */
	bundlefile_header(file);
	file[5] = 0xff;
	file[6] = 0xff;
	memset(file + 7, 0, sizeof file - 7);
	CHECK_EQ(node_import(w.bob, file, sizeof file, T0, note_item, &r, NULL), MESH_EDECODE);
	CHECK_EQ(r.n, 1);
	CHECK_EQ(r.reason[0], MESH_EDECODE);
	/* Text too long for one bundle is refused before anything is stored. */
	{
		char *text = malloc(APAGON_MAX_TEXT + 2);
		uint8_t id[APAGON_HASH];

		memset(text, 'a', APAGON_MAX_TEXT + 1);
		text[APAGON_MAX_TEXT + 1] = '\0';
		CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, text, 0, T0, id), MESH_ETOOBIG);
		free(text);
	}
	CHECK_EQ(held_bytes(w.bob), before);
	free(big);
	world_down(&w);
}

static void
test_unknown_sender_refused(void)
{
	struct world w;
	struct node *carol;
	uint8_t id[APAGON_HASH], raw[512];
	size_t len;

	world_up(&w);
	carol = enrol(&w, w.auth, "carol", ROLE_MEMBER, "Interior", 0, T0);
	CHECK_EQ(carry(w.bob, carol, T0), 0);
	CHECK_EQ(node_send(carol, node_pk(w.bob), PREC_ROUTINE, "hi", 0, T0, id), 0);
	len = raw_of(carol, id, raw);
	/* bob has never seen carol's certificate. */
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_EUNKNOWN);
	/* Once he has, the same bundle goes in. */
	CHECK(carry(carol, w.bob, T0) == 0);
	{
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.bob), id, &m), 0);
	}
	node_close(carol);
	world_down(&w);
}

static void
test_forward_secrecy(void)
{
	struct world w;
	uint8_t id[APAGON_HASH], raw[512], idsk[32];
	struct bundle b;
	struct own_prekey p;
	struct peer_prekey ap;
	struct seal_keys k;
	uint8_t m[512], sk[32];
	size_t len;
	int opened = 0, found = 0;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "secret plan", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(import_one(w.bob, raw, len, T0), MESH_OK);
	CHECK_EQ(bundle_decode(&b, raw, len, node_netkeys(w.bob)), 0);
	CHECK_EQ(store_peer_prekey_by_serial8(node_store(w.bob), node_pk(w.alice), b.h.sender_prekey,
	    &ap), 0);
	memset(&k, 0, sizeof k);
	k.sender_pk = node_pk(w.alice);
	k.recipient_pk = node_pk(w.bob);
	k.sender_prekey_pk = ap.pk;
	k.my_prekey_sk = sk;

	/* While the prekey lives, it opens. */
	CHECK_EQ(node_own_prekey(w.bob, b.h.recipient_prekey, &p, sk), 0);
	k.recipient_prekey_pk = p.pk;
	CHECK_EQ(bundle_open(m, &b, &k, node_netkeys(w.bob)), 0);

	/* A week later the prekey rotates; after the grace period its secret is deleted. */
	CHECK_EQ(node_maintain(w.bob, T0 + NODE_PREKEY_PERIOD + 10), 0);
	CHECK_EQ(node_own_prekey(w.bob, b.h.recipient_prekey, &p, sk), 0);
	CHECK_EQ(node_maintain(w.bob, T0 + NODE_PREKEY_PERIOD + NODE_PREKEY_GRACE + 20), 0);
	CHECK_EQ(node_own_prekey(w.bob, b.h.recipient_prekey, &p, sk), MESH_ENOTFOUND);

	/* No secret bob still holds opens it: not his prekeys, not his identity key. */
	for (int s = 0; s < 256; s++) {
		if (node_own_prekey(w.bob, s, &p, sk) != MESH_OK)
			continue;
		found++;
		k.recipient_prekey_pk = p.pk;
		opened += bundle_open(m, &b, &k, node_netkeys(w.bob)) == MESH_OK;
	}
	CHECK(found >= 1);
	CHECK_EQ(crypto_sign_ed25519_sk_to_curve25519(idsk, w.bob->sk), 0);
	memcpy(sk, idsk, 32);
	opened += bundle_open(m, &b, &k, node_netkeys(w.bob)) == MESH_OK;
	CHECK_EQ(opened, 0);
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(idsk, sizeof idsk);
	/* The user's own copy in the inbox stays readable. */
	{
		struct msg_rec rec;

		CHECK_EQ(store_get_msg(node_store(w.bob), id, &rec), 0);
	}
	world_down(&w);
}


static void
test_quota_by_precedence(void)
{
	struct world w;
	uint8_t id[APAGON_HASH], raw[8][512], flash[512];
	size_t len[8], flen;
	struct store_quota q;
	int64_t used;

	world_up(&w);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "routine traffic", 0, T0 + i, id), 0);
		len[i] = raw_of(w.alice, id, raw[i]);
	}
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_FLASH, "flash traffic", 0, T0, id), 0);
	flen = raw_of(w.alice, id, flash);
	/* carol relays for bob; her store is tight: room for what she holds plus two. */
	{
		struct node *carol = enrol(&w, w.auth, "carol", ROLE_MEMBER, "Interior", 0, T0);

		CHECK_EQ(carry(w.alice, carol, T0), 0);   /* alice's cert, prekey and 9 messages */
		CHECK_EQ(store_usage(node_store(carol), NULL, &used, NULL), 0);
		/* Empty the messages out by expiry, keep the certificates. */
		CHECK_EQ(node_maintain(carol, T0 + 8 * 86400), 0);
		CHECK_EQ(store_usage(node_store(carol), NULL, &used, NULL), 0);
		q.total_bytes = used + (int64_t)len[0] + (int64_t)len[1];
		q.per_sender_bytes = 0;
		store_set_quota(node_store(carol), &q);
		CHECK_EQ(import_one(carol, raw[0], len[0], T0), MESH_OK);
		CHECK_EQ(import_one(carol, raw[1], len[1], T0), MESH_OK);
		/* Full: another ROUTINE finds nothing below it to evict. */
		CHECK_EQ(import_one(carol, raw[2], len[2], T0), MESH_EQUOTA);
		/* A FLASH evicts the ROUTINE bundle that expires soonest. */
		CHECK_EQ(import_one(carol, flash, flen, T0), MESH_OK);
		{
			struct bundle b0, b1;

			CHECK_EQ(bundle_decode(&b0, raw[0], len[0], node_netkeys(carol)), 0);
			CHECK_EQ(bundle_decode(&b1, raw[1], len[1], node_netkeys(carol)), 0);
			CHECK_EQ(store_has_bundle(node_store(carol), b0.id), 0);   /* created first */
			CHECK_EQ(store_has_bundle(node_store(carol), b1.id), 1);
		}
		/* The refusal was counted under its own name. */
		{
			struct reasons r = { 0 };
			struct bfile f = { 0 };

			bfile_add(&f, raw[3], len[3]);
			CHECK_EQ(node_import(carol, f.buf, f.len, T0, note_item, &r, NULL), MESH_EQUOTA);
			free(f.buf);
		}
		node_close(carol);
	}
	/* alice's own undelivered messages are pinned: a tiny quota never evicts them. */
	q.total_bytes = 1;
	q.per_sender_bytes = 1;
	store_set_quota(node_store(w.alice), &q);
	CHECK_EQ(store_begin(node_store(w.alice)), 0);
	CHECK_EQ(store_make_room(node_store(w.alice), node_pk(w.alice), PREC_FLASH, T0 + 99999999, 10),
	    MESH_EQUOTA);
	store_rollback(node_store(w.alice));
	{
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.alice), id, &m), 0);
		CHECK_EQ(store_has_bundle(node_store(w.alice), id), 1);
	}
	world_down(&w);
}

static void
test_clock_skew(void)
{
	const uint32_t day = 86400, skew = APAGON_DEFAULT_SKEW;

	/* Sender's clock right, bundle two hours in transit: the sender's deadline
	 * (plus the allowance) comes before a full lifetime from arrival. */
	CHECK_EQ(accept_expiry((uint32_t)T0, day, T0 + 7200, skew), T0 + day + skew);
	/* Just created: a full lifetime from arrival is the earlier bound. */
	CHECK_EQ(accept_expiry((uint32_t)T0, day, T0 + 100, skew), T0 + 100 + day);
	/* Sender's clock a year ahead: not believed; one lifetime from arrival. */
	CHECK_EQ(accept_expiry((uint32_t)T0 + 365 * day, day, T0, skew), T0 + day);
	/* Sender's clock half an hour behind: within the allowance. */
	CHECK(accept_expiry((uint32_t)T0 - 1800, 3600, T0, skew) > T0);
	/* A bundle whose life ended two days ago by its sender's clock is gone. */
	CHECK(accept_expiry((uint32_t)T0 - 3 * day, day, T0, skew) <= T0);
	/* Never longer than one lifetime from arrival, whatever the sender claims. */
	for (int64_t off = -7 * 86400; off <= 7 * 86400; off += 3600)
		CHECK(accept_expiry((uint32_t)(T0 + off), day, T0, skew) <= T0 + day);
}

static void
test_outbox_expires_in_words(void)
{
	struct world w;
	uint8_t id[APAGON_HASH];
	struct msg_rec m;
	char words[96];

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_PRIORITY, "short-lived", 3600, T0, id), 0);
	CHECK_EQ(store_get_msg(node_store(w.alice), id, &m), 0);
	CHECK(strcmp(node_msg_state(&m, words, sizeof words), "queued") == 0);
	CHECK_EQ(node_maintain(w.alice, T0 + 2 * 3600 + APAGON_DEFAULT_SKEW), 0);
	CHECK_EQ(store_get_msg(node_store(w.alice), id, &m), 0);
	CHECK_EQ(m.state, OUT_EXPIRED);
	node_msg_state(&m, words, sizeof words);
	CHECK(strncmp(words, "expired: ", 9) == 0);
	/* Its bundle is gone from the store: nothing carries it any more. */
	CHECK_EQ(store_has_bundle(node_store(w.alice), id), 0);
	world_down(&w);
}

static void
test_receipt_purges_relay_copies(void)
{
	struct world w;
	struct node *carol, *dave;
	uint8_t id[APAGON_HASH], raw[512], sk[32];
	struct stored_bundle sb;
	struct own_prekey mine;
	struct peer_prekey theirs;
	struct seal_keys k;
	struct bundle_hdr h;
	size_t len;
	int n;

	world_up(&w);
	carol = enrol(&w, w.auth, "carol", ROLE_MEMBER, "Interior", 0, T0);
	dave = enrol(&w, w.auth, "dave", ROLE_MEMBER, "Interior", 0, T0);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "via relays", 0, T0, id), 0);
	CHECK_EQ(carry(w.alice, carol, T0), 0);
	CHECK_EQ(carry(w.alice, dave, T0), 0);
	CHECK_EQ(store_get_bundle(node_store(carol), id, &sb), 0);

	/* dave, a member but not the recipient, forges a receipt for bob's message. */
	CHECK_EQ(node_own_prekey(dave, -1, &mine, sk), 0);
	CHECK_EQ(store_peer_prekey_current(node_store(dave), node_pk(w.alice), T0, &theirs), 0);
	memset(&k, 0, sizeof k);
	k.sender_pk = node_pk(dave);
	k.recipient_pk = node_pk(w.alice);
	k.my_prekey_sk = sk;
	k.sender_prekey_pk = mine.pk;
	k.recipient_prekey_pk = theirs.pk;
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_RECEIPT;
	memcpy(h.sender, dave->key_id, APAGON_KEYID);
	crypto_key_id(h.recipient, node_pk(w.alice));
	h.sender_prekey = (uint8_t)mine.serial;
	h.recipient_prekey = (uint8_t)theirs.serial;
	h.created = (uint32_t)T0;
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	n = bundle_build_receipt(raw, sizeof raw, &h, (const uint8_t (*)[APAGON_HASH])id, 1,
	    (uint32_t)T0, &k, node_netkeys(dave), dave->sk);
	CHECK(n > 0);
	sodium_memzero(sk, sizeof sk);
	CHECK_EQ(carry(dave, carol, T0), 0);
	CHECK_EQ(import_one(carol, raw, (size_t)n, T0), MESH_OK);
	CHECK_EQ(store_get_bundle(node_store(carol), id, &sb), 0);      /* still held */
	/* Nor does alice believe it. */
	CHECK_EQ(carry(dave, w.alice, T0), 0);
	CHECK_EQ(import_one(w.alice, raw, (size_t)n, T0), MESH_OK);
	{
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.alice), id, &m), 0);
		CHECK(m.state != OUT_DELIVERED);
	}

	/* bob's real receipt, carried through carol, drops her copy on the way. */
	CHECK_EQ(carry(carol, w.bob, T0 + 10), 0);
	CHECK_EQ(carry(w.bob, carol, T0 + 20), 0);
	CHECK_EQ(store_get_bundle(node_store(carol), id, &sb), MESH_ENOTFOUND);
	CHECK_EQ(store_has_bundle(node_store(carol), id), 1);  /* tombstone: no replay */
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(import_one(carol, raw, len, T0 + 30), MESH_EDUPLICATE);
	CHECK_EQ(carry(carol, w.alice, T0 + 40), 0);
	{
		struct msg_rec m;

		CHECK_EQ(store_get_msg(node_store(w.alice), id, &m), 0);
		CHECK_EQ(m.state, OUT_DELIVERED);
	}
	node_close(carol);
	node_close(dave);
	world_down(&w);
}

static int
count_own_receipts(void *ctx, const struct stored_bundle *sb)
{
	*(int *)ctx += sb->own && sb->type == BUNDLE_RECEIPT;
	return 0;
}

static int
own_receipts(struct node *n, int64_t now)
{
	int count = 0;

	CHECK(store_each_bundle(node_store(n), now, count_own_receipts, &count) >= 0);
	return count;
}

/* alice sends `count` messages; bob takes them in one batch (one file). Returns the
 * number of receipts bob made for them, after checking alice shows every one of them
 * delivered once bob's bundles come back to her. */
static int
batch_of(struct world *w, int count, int64_t now)
{
	uint8_t (*id)[APAGON_HASH] = calloc((size_t)count, APAGON_HASH);
	struct msg_rec m;
	char text[32];
	int before = own_receipts(w->bob, now), made, delivered = 0;

	for (int i = 0; i < count; i++) {
		snprintf(text, sizeof text, "Report %d.", i);
		CHECK_EQ(node_send(w->alice, node_pk(w->bob), i % 3 == 2 ? PREC_FLASH : PREC_ROUTINE,
		    text, 0, now, id[i]), 0);
	}
	CHECK_EQ(carry(w->alice, w->bob, now + 1), 0);
	for (int i = 0; i < count; i++)     /* in bob's inbox at once, not after any wait */
		CHECK_EQ(store_get_msg(node_store(w->bob), id[i], &m), 0);
	made = own_receipts(w->bob, now + 1) - before;
	CHECK_EQ(carry(w->bob, w->alice, now + 2), 0);
	for (int i = 0; i < count; i++) {
		CHECK_EQ(store_get_msg(node_store(w->alice), id[i], &m), 0);
		delivered += m.state == OUT_DELIVERED;
	}
	CHECK_EQ(delivered, count);
	free(id);
	return made;
}

/* Messages from one sender taken in together get one receipt per
 * APAGON_RECEIPT_MAX_IDS of them, and every one becomes delivered at the sender. */
static void
test_receipts_batched(void)
{
	struct world w;
	struct accept_result res;
	struct msg_rec m;
	uint8_t id[APAGON_HASH], raw[512];
	size_t len;

	world_up(&w);
	/* A batch that rolls back leaves no receipt behind, and none for the next batch. */
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_ROUTINE, "Lost.", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(accept_begin(&w.bob->ax), 0);
	CHECK_EQ(accept_bundle(&w.bob->ax, raw, len, T0, &res), MESH_OK);
	CHECK_EQ(w.bob->nrq, 1);
	accept_rollback(&w.bob->ax);
	CHECK_EQ(w.bob->nrq, 0);
	CHECK_EQ(store_get_msg(node_store(w.bob), id, &m), MESH_ENOTFOUND);
	CHECK_EQ(own_receipts(w.bob, T0), 0);
	CHECK_EQ(accept_begin(&w.bob->ax), 0);
	CHECK_EQ(accept_commit(&w.bob->ax), 0);
	CHECK_EQ(own_receipts(w.bob, T0), 0);
	/* "Lost." comes again in alice's next file, with the next message: one receipt. */
	CHECK_EQ(batch_of(&w, 1, T0), 1);
	CHECK_EQ(store_get_msg(node_store(w.alice), id, &m), 0);
	CHECK_EQ(m.state, OUT_DELIVERED);
	CHECK_EQ(batch_of(&w, 1, T0 + 5), 1);   /* a lone message still gets its receipt */
	CHECK_EQ(batch_of(&w, 5, T0 + 10), 1);
	CHECK_EQ(batch_of(&w, APAGON_RECEIPT_MAX_IDS + 8, T0 + 20), 2);
	world_down(&w);
}

static void
test_forged_authority_is_a_signature_failure(void)
{
	struct world w;
	uint8_t body[APAGON_REVOCATION_MAX], raw[512], mpk[32], msk[64];
	struct revocation rev;
	struct bundle_hdr h;
	int blen, n;

	world_up(&w);
	crypto_sign_keygen(mpk, msk);
	memset(&rev, 0, sizeof rev);
	memcpy(rev.subject, node_pk(w.bob), 32);
	rev.revoked_at = (uint32_t)T0;
	blen = revocation_encode(body, sizeof body, &rev);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_REVOKE;
	h.precedence = PREC_FLASH;
	crypto_key_id(h.sender, node_netkeys(w.alice)->authority_pk);  /* claims the authority */
	h.created = (uint32_t)T0;
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	n = bundle_build_public(raw, sizeof raw, &h, body, (size_t)blen, node_netkeys(w.alice), msk);
	CHECK_EQ(import_one(w.alice, raw, (size_t)n, T0), MESH_ESIGNATURE);
	CHECK_EQ(store_is_revoked(node_store(w.alice), node_pk(w.bob), NULL), 0);
	world_down(&w);
}

static void
test_revoked_enroller_takes_its_members(void)
{
	struct world w;
	struct node *hr, *eve;
	struct issuer *enr;
	uint8_t req[APAGON_REQUEST_MAX], file[APAGON_ENROLLMENT_MAX], id[APAGON_HASH], *rev;
	size_t revlen;
	int rlen, flen;

	world_up(&w);
	hr = enrol(&w, w.auth, "hr-office", ROLE_ENROLLER, "HR", 0, T0);
	node_close(hr);
	CHECK_EQ(issuer_open(&enr, path_in(&w, "hr-office"), NULL), 0);
	CHECK_EQ(node_init(path_in(&w, "eve"), "eve", NULL, KEYFILE_NONE), 0);
	CHECK_EQ(node_open(&eve, path_in(&w, "eve"), NULL), 0);
	rlen = node_request(eve, req, sizeof req);
	flen = issuer_enroll(enr, req, (size_t)rlen, ROLE_MEMBER, NULL, 0, T0, file, sizeof file, NULL);
	CHECK(flen > 0);
	CHECK_EQ(node_import(eve, file, (size_t)flen, T0, NULL, NULL, NULL), 0);
	issuer_close(enr);
	CHECK_EQ(carry(eve, w.alice, T0), 0);
	CHECK_EQ(carry(w.alice, eve, T0), 0);
	CHECK_EQ(node_send(w.alice, node_pk(eve), PREC_ROUTINE, "hello eve", 0, T0, id), 0);

	/* The authority revokes the HR enroller: eve's chain is revoked with it. */
	hr = NULL;
	CHECK_EQ(node_open(&hr, path_in(&w, "hr-office"), NULL), 0);
	CHECK_EQ(issuer_revoke(w.auth, node_pk(hr), "office compromised", T0 + 60, &rev, &revlen), 0);
	node_close(hr);
	CHECK_EQ(node_import(w.alice, rev, revlen, T0 + 60, NULL, NULL, NULL), 0);
	CHECK_EQ(node_member_revoked(w.alice, node_pk(eve)), 1);
	CHECK_EQ(node_member_revoked(w.alice, node_pk(w.bob)), 0);
	CHECK_EQ(node_send(w.alice, node_pk(eve), PREC_ROUTINE, "again", 0, T0 + 70, id), MESH_EREVOKED);
	free(rev);
	node_close(eve);
	world_down(&w);
}

static void
test_certificate_issued_last_wins(void)
{
	struct world w;
	struct node *dave;
	uint8_t *old_export, req[APAGON_REQUEST_MAX], file[APAGON_ENROLLMENT_MAX];
	size_t old_len;
	struct member m;
	uint32_t renewed;
	int rlen, flen;

	world_up(&w);
	dave = enrol(&w, w.auth, "dave", ROLE_MEMBER, "Interior", 30, T0);
	CHECK_EQ(node_export(dave, T0, NULL, &old_export, &old_len, NULL), 0);
	/* Renewed for a year, ten days later. */
	rlen = node_request(dave, req, sizeof req);
	flen = issuer_enroll(w.auth, req, (size_t)rlen, ROLE_MEMBER, "Interior", 365, T0 + 10 * 86400,
	    file, sizeof file, NULL);
	CHECK_EQ(node_import(dave, file, (size_t)flen, T0 + 10 * 86400, NULL, NULL, NULL), 0);
	CHECK_EQ(carry(dave, w.bob, T0 + 10 * 86400), 0);
	CHECK_EQ(store_get_member(node_store(w.bob), node_pk(dave), &m), 0);
	renewed = m.not_after;
	CHECK(renewed > (uint32_t)T0 + 300 * 86400);
	/* The old export arrives late: its certificate must not win. */
	node_import(w.bob, old_export, old_len, T0 + 11 * 86400, NULL, NULL, NULL);
	CHECK_EQ(store_get_member(node_store(w.bob), node_pk(dave), &m), 0);
	CHECK_EQ(m.not_after, renewed);
	/* A later re-enrolment wins even when it ends sooner. */
	flen = issuer_enroll(w.auth, req, (size_t)rlen, ROLE_MEMBER, "Interior", 20, T0 + 20 * 86400,
	    file, sizeof file, NULL);
	CHECK_EQ(node_import(dave, file, (size_t)flen, T0 + 20 * 86400, NULL, NULL, NULL), 0);
	CHECK_EQ(carry(dave, w.bob, T0 + 20 * 86400), 0);
	CHECK_EQ(store_get_member(node_store(w.bob), node_pk(dave), &m), 0);
	CHECK_EQ(m.not_after, (uint32_t)(T0 + 40 * 86400));
	free(old_export);
	node_close(dave);
	world_down(&w);
}

/*
 * bundle_decode_known() and accept_bundle_known() take the ID a session's first
 * decode computed instead of hashing the body again: the same result as the full
 * decode, and the same acceptance, with the checks still all run.
 */
static void
test_known_id_same_as_decode(void)
{
	struct world w;
	uint8_t id[APAGON_HASH], raw[512];
	struct bundle b, k;
	struct accept_result res;
	size_t len;

	world_up(&w);
	CHECK_EQ(node_send(w.alice, node_pk(w.bob), PREC_FLASH, "known id", 0, T0, id), 0);
	len = raw_of(w.alice, id, raw);
	CHECK_EQ(bundle_decode(&b, raw, len, node_netkeys(w.bob)), MESH_OK);
	CHECK_EQ(bundle_decode_known(&k, raw, len, node_netkeys(w.bob), b.id), MESH_OK);
	CHECK(memcmp(&b, &k, sizeof b) == 0);
	CHECK_EQ(bundle_decode_known(&k, raw, len, node_netkeys(w.bob), NULL), MESH_EINVAL);

	CHECK_EQ(accept_begin(&w.bob->ax), 0);
	CHECK_EQ(accept_bundle_known(&w.bob->ax, raw, len, NULL, T0, &res), MESH_EINVAL);
	/* The signature is still checked (it is not covered by the ID). */
	raw[len - 1] ^= 1;
	CHECK_EQ(accept_bundle_known(&w.bob->ax, raw, len, b.id, T0, &res), MESH_ESIGNATURE);
	raw[len - 1] ^= 1;
	CHECK_EQ(accept_bundle_known(&w.bob->ax, raw, len, b.id, T0, &res), MESH_OK);
	CHECK(memcmp(res.id, id, APAGON_HASH) == 0);
	CHECK_EQ(res.precedence, PREC_FLASH);
	CHECK(res.for_me);
	CHECK_EQ(accept_bundle_known(&w.bob->ax, raw, len, b.id, T0, &res), MESH_EDUPLICATE);
	CHECK_EQ(accept_commit(&w.bob->ax), 0);
	world_down(&w);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_every_bit_flip_refused),
		TEST(test_own_signature_shortcut_is_narrow),
		TEST(test_every_truncation_refused),
		TEST(test_other_network_refused),
		TEST(test_forged_certificates_refused),
		TEST(test_enroller_bound_to_unit),
		TEST(test_expired_certificate_refused),
		TEST(test_revoked_sender_refused),
		TEST(test_sender_cache_sees_other_writers),
		TEST(test_replay_is_duplicate),
		TEST(test_prekey_signed_by_wrong_key),
		TEST(test_oversized_lengths_refused),
		TEST(test_unknown_sender_refused),
		TEST(test_forward_secrecy),
		TEST(test_quota_by_precedence),
		TEST(test_clock_skew),
		TEST(test_outbox_expires_in_words),
		TEST(test_receipt_purges_relay_copies),
		TEST(test_receipts_batched),
		TEST(test_forged_authority_is_a_signature_failure),
		TEST(test_revoked_enroller_takes_its_members),
		TEST(test_certificate_issued_last_wins),
		TEST(test_known_id_same_as_decode),
	};

	return test_main("accept", cases, sizeof cases / sizeof cases[0], argc, argv);
}
