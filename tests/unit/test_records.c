/*
 * The store's records: members, revocations, prekeys and messages, against real SQLite
 * files in a temporary directory.
 */
#include "../test.h"
#include "store_fixture.h"

static void
mk_member(struct member *m, uint8_t tag, const char *name, int64_t first_seen,
    const uint8_t *chain, size_t chain_len)
{
	memset(m, 0, sizeof *m);
	fill(m->pk, sizeof m->pk, tag);
	fill(m->key_id, sizeof m->key_id, tag);
	fill(m->issuer, sizeof m->issuer, 0x01);
	m->role = 2;
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->unit, sizeof m->unit, "unit-%u", tag);
	m->not_before = 100;
	m->not_after = 0xfffffffeu;
	m->first_seen = first_seen;
	m->chain = chain;
	m->chain_len = chain_len;
}

struct member_log {
	uint8_t tags[16];
	int n;
	size_t chain_len[16];
};

static int
log_member(void *ctx, const struct member *m)
{
	struct member_log *log = ctx;

	if (log->n < 16) {
		log->tags[log->n] = m->pk[0];
		log->chain_len[log->n] = m->chain_len;
	}
	CHECK(m->chain_len == 0 || m->chain[0] == m->pk[0]);
	log->n++;
	return 0;
}

static void
test_members(void)
{
	struct store *s = open_named("members.db");
	uint8_t chain1[50], chain2[80], chain3[20], pk[APAGON_SIGN_PK];
	struct member m, got;
	struct member_log log = { .n = 0 };

	memset(chain1, 0x10, sizeof chain1);
	memset(chain2, 0x10, sizeof chain2);
	memset(chain3, 0x30, sizeof chain3);
	mk_member(&m, 0x10, "alice", 500, chain1, sizeof chain1);
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	fill(pk, sizeof pk, 0x10);
	CHECK_EQ(store_set_verified(s, pk, 1), MESH_OK);

	/* Refresh: new chain and name; first_seen and verified are kept. */
	mk_member(&m, 0x10, "alice", 900, chain2, sizeof chain2);
	m.verified = 0;
	m.not_after = 12345;
	snprintf(m.unit, sizeof m.unit, "%s", "moved");
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_OK);
	CHECK_EQ(got.first_seen, 500);
	CHECK_EQ(got.verified, 1);
	CHECK_EQ(got.not_after, 12345);
	CHECK_EQ(got.role, 2);
	CHECK(strcmp(got.name, "alice") == 0);
	CHECK(strcmp(got.unit, "moved") == 0);
	CHECK_EQ(got.chain_len, sizeof chain2);
	CHECK(memcmp(got.chain, chain2, sizeof chain2) == 0);
	CHECK(memcmp(got.issuer, m.issuer, sizeof m.issuer) == 0);
	CHECK(memcmp(got.key_id, m.key_id, sizeof m.key_id) == 0);

	/* A new member takes first_seen and verified as given. */
	mk_member(&m, 0x30, "bob", 300, chain3, sizeof chain3);
	m.verified = 1;
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	mk_member(&m, 0x20, "alice", 100, NULL, 0);   /* a second "alice", seen earlier */
	memset(m.name, 'x', sizeof m.name);          /* unterminated: cut at 64 */
	memcpy(m.name, "alice", 6);
	CHECK_EQ(store_put_member(s, &m), MESH_OK);
	mk_member(&m, 0x40, "Alice", 50, NULL, 0);    /* case matters */
	/* Same key ID as bob, by a (theoretical) collision. */
	fill(m.key_id, sizeof m.key_id, 0x30);
	CHECK_EQ(store_put_member(s, &m), MESH_OK);

	fill(pk, sizeof pk, 0x30);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_OK);
	CHECK_EQ(got.verified, 1);
	CHECK_EQ(got.first_seen, 300);
	fill(pk, sizeof pk, 0x20);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_OK);
	CHECK_EQ(got.chain_len, 0);
	CHECK_EQ(got.verified, 0);
	fill(pk, sizeof pk, 0x99);
	CHECK_EQ(store_get_member(s, pk, &got), MESH_ENOTFOUND);
	CHECK_EQ(store_set_verified(s, pk, 1), MESH_ENOTFOUND);

	CHECK_EQ(store_each_member(s, "alice", log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 2);
	CHECK_EQ(log.tags[0], 0x20);   /* seen first */
	CHECK_EQ(log.tags[1], 0x10);
	CHECK_EQ(log.chain_len[1], sizeof chain2);

	memset(&log, 0, sizeof log);
	CHECK_EQ(store_each_member(s, NULL, log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 4);
	CHECK_EQ(log.tags[0], 0x40);   /* "Alice" sorts before "alice" (binary) */
	CHECK_EQ(log.tags[1], 0x20);
	CHECK_EQ(log.tags[2], 0x10);
	CHECK_EQ(log.tags[3], 0x30);

	memset(&log, 0, sizeof log);
	CHECK_EQ(store_each_member(s, "nobody", log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 0);

	memset(&log, 0, sizeof log);
	fill(pk, sizeof pk, 0x30);
	CHECK_EQ(store_members_by_keyid(s, pk, log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 2);
	CHECK_EQ(log.tags[0], 0x40);
	CHECK_EQ(log.tags[1], 0x30);
	memset(&log, 0, sizeof log);
	fill(pk, sizeof pk, 0x10);
	CHECK_EQ(store_members_by_keyid(s, pk, log_member, &log), MESH_OK);
	CHECK_EQ(log.n, 1);
	store_close(s);
}

static void
test_revocations(void)
{
	struct store *s = open_named("revoke.db");
	uint8_t a[APAGON_SIGN_PK], b[APAGON_SIGN_PK], ca[APAGON_SIGN_PK], ca2[APAGON_SIGN_PK];

	fill(a, sizeof a, 0xa);
	fill(b, sizeof b, 0xb);
	fill(ca, sizeof ca, 0xc);
	fill(ca2, sizeof ca2, 0xd);
	CHECK_EQ(store_is_revoked(s, a, NULL), 0);
	CHECK_EQ(store_put_revocation(s, a, ca, 1000, "key lost"), MESH_OK);
	CHECK_EQ(store_put_revocation(s, a, ca, 2000, "again"), MESH_OK);   /* idempotent */
	CHECK_EQ(store_put_revocation(s, b, ca2, 1000, NULL), MESH_OK);
	CHECK_EQ(store_is_revoked(s, a, NULL), 1);
	CHECK_EQ(store_is_revoked(s, a, ca), 1);
	CHECK_EQ(store_is_revoked(s, a, ca2), 0);
	CHECK_EQ(store_is_revoked(s, b, ca2), 1);
	CHECK_EQ(store_is_revoked(s, ca, NULL), 0);
	CHECK_EQ(sql_int("revoke.db", "SELECT revoked_at FROM revocations WHERE reason = 'key lost'"),
	    1000);
	store_close(s);
}

static void
test_peer_prekeys(void)
{
	struct store *s = open_named("peerpk.db");
	struct peer_prekey p, got;
	uint8_t owner[APAGON_SIGN_PK], other[APAGON_SIGN_PK];
	static const struct {
		uint32_t serial, not_after;
	} rows[] = { { 1, 1000 }, { 2, 2000 }, { 258, 3000 }, { 3, 500 } };

	fill(owner, sizeof owner, 0x51);
	fill(other, sizeof other, 0x52);
	CHECK_EQ(store_peer_prekey_current(s, owner, 0, &got), MESH_ENOTFOUND);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(&p, 0, sizeof p);
		memcpy(p.owner, owner, sizeof owner);
		p.serial = rows[i].serial;
		fill(p.pk, sizeof p.pk, (uint8_t)(rows[i].serial + 1));
		p.not_after = rows[i].not_after;
		CHECK_EQ(store_put_peer_prekey(s, &p), MESH_OK);
	}
	/* Same serial again: a refresh, not an error. */
	CHECK_EQ(store_put_peer_prekey(s, &p), MESH_OK);
	memcpy(p.owner, other, sizeof other);
	p.serial = 999;
	p.not_after = 99999;
	CHECK_EQ(store_put_peer_prekey(s, &p), MESH_OK);

	CHECK_EQ(store_peer_prekey_current(s, owner, 100, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	CHECK(memcmp(got.owner, owner, sizeof owner) == 0);
	CHECK_EQ(got.pk[0], (uint8_t)259);
	CHECK_EQ(got.not_after, 3000);
	CHECK_EQ(store_peer_prekey_current(s, owner, 2999, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	CHECK_EQ(store_peer_prekey_current(s, owner, 3000, &got), MESH_ENOTFOUND);

	/* 258 & 255 == 2: the higher serial wins over 2. */
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 2, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 1);
	CHECK_EQ(got.pk[0], 2);
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 3, &got), MESH_OK);  /* expired too */
	CHECK_EQ(got.serial, 3);
	CHECK_EQ(store_peer_prekey_by_serial8(s, owner, 4, &got), MESH_ENOTFOUND);
	CHECK_EQ(store_peer_prekey_by_serial8(s, other, 999 & 255, &got), MESH_OK);
	CHECK_EQ(got.serial, 999);
	store_close(s);
}

/* Read a whole file; NULL with *len 0 if it does not exist. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
	}
	fclose(f);
	return buf;
}

static int
contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	for (size_t i = 0; hay && i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return 1;
	return 0;
}

/* 1 if the bytes are anywhere in the database or its WAL. */
static int
on_disk(const char *name, const uint8_t *secret, size_t n)
{
	char path[256], wal[300];
	uint8_t *a, *b;
	size_t alen, blen;
	int found;

	path_of(path, sizeof path, name);
	snprintf(wal, sizeof wal, "%s-wal", path);
	a = slurp(path, &alen);
	b = slurp(wal, &blen);
	found = contains(a, alen, secret, n) || contains(b, blen, secret, n);
	free(a);
	free(b);
	return found;
}

static void
test_own_prekeys(void)
{
	struct store *s = open_named("ownpk.db");
	struct own_prekey p[4], got;
	int deleted = -1;

	CHECK_EQ(store_own_prekey_current(s, &got), MESH_ENOTFOUND);
	for (int i = 0; i < 4; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].serial = (uint32_t[]){ 1, 2, 257, 3 }[i];
		randombytes_buf(p[i].pk, sizeof p[i].pk);
		randombytes_buf(p[i].sealed_sk, sizeof p[i].sealed_sk);
		p[i].created = 100 * (i + 1);
		CHECK_EQ(store_put_own_prekey(s, &p[i]), MESH_OK);
	}
	CHECK_EQ(store_put_own_prekey(s, &p[0]), MESH_EDUPLICATE);

	CHECK_EQ(store_own_prekey_current(s, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);
	CHECK(memcmp(got.pk, p[2].pk, sizeof got.pk) == 0);
	CHECK(memcmp(got.sealed_sk, p[2].sealed_sk, sizeof got.sealed_sk) == 0);
	CHECK_EQ(got.created, 300);
	CHECK_EQ(got.retired_at, 0);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);
	CHECK_EQ(store_own_prekey_by_serial8(s, 2, &got), MESH_OK);
	CHECK_EQ(got.serial, 2);
	CHECK(memcmp(got.sealed_sk, p[1].sealed_sk, sizeof got.sealed_sk) == 0);
	CHECK_EQ(store_own_prekey_by_serial8(s, 9, &got), MESH_ENOTFOUND);

	/* Retire all but 257, once: a second retire keeps the first timestamp. */
	CHECK_EQ(store_retire_own_prekeys(s, 1000), MESH_OK);
	CHECK_EQ(store_retire_own_prekeys(s, 2000), MESH_OK);
	CHECK_EQ(store_own_prekey_by_serial8(s, 3, &got), MESH_OK);
	CHECK_EQ(got.retired_at, 1000);
	CHECK_EQ(store_own_prekey_current(s, &got), MESH_OK);
	CHECK_EQ(got.retired_at, 0);

	/* A newer prekey arrives; the next retire catches 257 at 3000. */
	memset(&got, 0, sizeof got);
	got.serial = 258;
	randombytes_buf(got.sealed_sk, sizeof got.sealed_sk);
	CHECK_EQ(store_put_own_prekey(s, &got), MESH_OK);
	CHECK_EQ(store_retire_own_prekeys(s, 3000), MESH_OK);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);
	CHECK_EQ(got.retired_at, 3000);

	/* The secrets are on disk (DB or WAL) until deleted. */
	for (int i = 0; i < 4; i++)
		CHECK(on_disk("ownpk.db", p[i].sealed_sk, sizeof p[i].sealed_sk));

	CHECK_EQ(store_delete_old_prekeys(s, 999, &deleted), MESH_OK);
	CHECK_EQ(deleted, 0);
	CHECK_EQ(store_delete_old_prekeys(s, 1000, &deleted), MESH_OK);
	CHECK_EQ(deleted, 3);
	CHECK_EQ(store_own_prekey_by_serial8(s, 3, &got), MESH_ENOTFOUND);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(got.serial, 257);

	/* Gone from every byte of the database and the WAL, with the store still open. */
	CHECK(!on_disk("ownpk.db", p[0].sealed_sk, sizeof p[0].sealed_sk));
	CHECK(!on_disk("ownpk.db", p[1].sealed_sk, sizeof p[1].sealed_sk));
	CHECK(!on_disk("ownpk.db", p[3].sealed_sk, sizeof p[3].sealed_sk));
	CHECK(on_disk("ownpk.db", p[2].sealed_sk, sizeof p[2].sealed_sk));

	/* Inside a transaction the delete happens (and rolls back), no checkpoint. */
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_delete_old_prekeys(s, 5000, &deleted), MESH_OK);
	CHECK_EQ(deleted, 1);
	store_rollback(s);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_OK);
	CHECK_EQ(store_delete_old_prekeys(s, 5000, NULL), MESH_OK);
	CHECK_EQ(store_own_prekey_by_serial8(s, 1, &got), MESH_ENOTFOUND);
	CHECK(!on_disk("ownpk.db", p[2].sealed_sk, sizeof p[2].sealed_sk));
	CHECK_EQ(store_own_prekey_current(s, &got), MESH_OK);
	CHECK_EQ(got.serial, 258);
	store_close(s);
}

static void
mk_msg(struct msg_rec *m, uint8_t tag, int dir, int state, int64_t local_time,
    int64_t expires_at, const uint8_t *text, size_t len)
{
	memset(m, 0, sizeof *m);
	fill(m->bundle_id, sizeof m->bundle_id, tag);
	fill(m->peer_pk, sizeof m->peer_pk, (uint8_t)(tag + 0x80));
	m->dir = dir;
	m->state = state;
	m->precedence = PREC_IMMEDIATE;
	m->created = 77;
	m->local_time = local_time;
	m->expires_at = expires_at;
	m->sealed_text = text;
	m->sealed_len = len;
}

struct msg_log {
	uint8_t tags[16];
	int n;
};

static int
log_msg(void *ctx, const struct msg_rec *m)
{
	struct msg_log *log = ctx;

	if (log->n < 16)
		log->tags[log->n] = m->bundle_id[0];
	CHECK_EQ(m->sealed_len, 5);
	CHECK(m->sealed_text[0] == m->bundle_id[0]);
	log->n++;
	return 0;
}

static void
test_messages(void)
{
	struct store *s = open_named("msgs.db");
	uint8_t text[8][5], id[APAGON_HASH];
	static const struct {
		uint8_t tag;
		int dir, state;
		int64_t local_time, expires_at;
	} rows[] = {
		{ 1, MSG_OUT, OUT_QUEUED, 300, 1000 },
		{ 2, MSG_OUT, OUT_QUEUED, 100, 2000 },
		{ 3, MSG_IN, IN_UNREAD, 200, 1000 },
		{ 4, MSG_OUT, OUT_SENT, 300, 500 },
		{ 5, MSG_IN, IN_UNREAD, 50, 1000 },
		{ 6, MSG_OUT, OUT_DELIVERED, 10, 100 },
	};
	struct msg_log log = { .n = 0 };
	struct msg_rec m, got;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(text[i], rows[i].tag, 5);
		mk_msg(&m, rows[i].tag, rows[i].dir, rows[i].state, rows[i].local_time,
		    rows[i].expires_at, text[i], 5);
		CHECK_EQ(store_put_msg(s, &m), MESH_OK);
	}
	CHECK_EQ(store_put_msg(s, &m), MESH_EDUPLICATE);

	fill(id, sizeof id, 1);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.dir, MSG_OUT);
	CHECK_EQ(got.state, OUT_QUEUED);
	CHECK_EQ(got.precedence, PREC_IMMEDIATE);
	CHECK_EQ(got.created, 77);
	CHECK_EQ(got.local_time, 300);
	CHECK_EQ(got.expires_at, 1000);
	CHECK_EQ(got.sent_count, 0);
	CHECK_EQ(got.peer_pk[0], 0x81);
	CHECK_EQ(got.sealed_len, 5);
	CHECK(memcmp(got.sealed_text, text[0], 5) == 0);
	CHECK(strcmp(got.reason, "") == 0);
	{
		/* The brief read: every column before the text, none of the text. */
		struct msg_rec brief;

		memset(&brief, 0xa5, sizeof brief);
		CHECK_EQ(store_get_msg_brief(s, id, &brief), MESH_OK);
		CHECK(memcmp(brief.bundle_id, got.bundle_id, sizeof got.bundle_id) == 0);
		CHECK_EQ(brief.dir, got.dir);
		CHECK_EQ(brief.state, got.state);
		CHECK_EQ(brief.precedence, got.precedence);
		CHECK_EQ(brief.created, got.created);
		CHECK_EQ(brief.local_time, got.local_time);
		CHECK_EQ(brief.expires_at, got.expires_at);
		CHECK_EQ(brief.sent_count, got.sent_count);
		CHECK(memcmp(brief.peer_pk, got.peer_pk, sizeof got.peer_pk) == 0);
		CHECK(strcmp(brief.reason, got.reason) == 0);
		CHECK(brief.sealed_text == NULL);
		CHECK_EQ(brief.sealed_len, 0);
		fill(id, sizeof id, 0x42);
		CHECK_EQ(store_get_msg_brief(s, id, &brief), MESH_ENOTFOUND);
	}
	fill(id, sizeof id, 0x42);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_ENOTFOUND);

	CHECK_EQ(store_each_msg(s, MSG_OUT, log_msg, &log), MESH_OK);
	CHECK_EQ(log.n, 4);
	CHECK(memcmp(log.tags, (uint8_t[]){ 6, 2, 1, 4 }, 4) == 0);
	memset(&log, 0, sizeof log);
	CHECK_EQ(store_each_msg(s, MSG_IN, log_msg, &log), MESH_OK);
	CHECK_EQ(log.n, 2);
	CHECK(memcmp(log.tags, (uint8_t[]){ 5, 3 }, 2) == 0);

	/* add_sent: QUEUED -> SENT, counts add up; other states unchanged. */
	fill(id, sizeof id, 1);
	CHECK_EQ(store_msg_add_sent(s, id, 2, 0), MESH_OK);
	CHECK_EQ(store_msg_add_sent(s, id, 1, 0), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.sent_count, 3);
	CHECK_EQ(got.exported, 0);
	CHECK_EQ(got.state, OUT_SENT);
	CHECK_EQ(store_msg_add_sent(s, id, 0, 2), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.sent_count, 3);
	CHECK_EQ(got.exported, 2);
	fill(id, sizeof id, 6);
	CHECK_EQ(store_msg_add_sent(s, id, 1, 0), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	CHECK_EQ(got.sent_count, 1);
	fill(id, sizeof id, 0x42);
	CHECK_EQ(store_msg_add_sent(s, id, 1, 0), MESH_ENOTFOUND);

	/* set_state: delivered stamps delivered_at; reason only when given. */
	fill(id, sizeof id, 1);
	CHECK_EQ(store_msg_set_state(s, id, OUT_DELIVERED, 4242, NULL), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	CHECK_EQ(got.delivered_at, 4242);
	CHECK(strcmp(got.reason, "") == 0);
	fill(id, sizeof id, 3);
	CHECK_EQ(store_msg_set_state(s, id, IN_READ, 5000, "opened"), MESH_OK);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, IN_READ);
	CHECK_EQ(got.delivered_at, 0);
	CHECK(strcmp(got.reason, "opened") == 0);
	fill(id, sizeof id, 0x42);
	CHECK_EQ(store_msg_set_state(s, id, IN_READ, 0, NULL), MESH_ENOTFOUND);

	/* expire: only outbox QUEUED/SENT with expires_at <= now. */
	CHECK_EQ(store_msg_expire(s, 999, "lifetime over"), MESH_OK);
	fill(id, sizeof id, 4);                 /* SENT, expired at 500 */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_EXPIRED);
	CHECK(strcmp(got.reason, "lifetime over") == 0);
	fill(id, sizeof id, 2);                 /* QUEUED, until 2000 */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_QUEUED);
	fill(id, sizeof id, 6);                 /* DELIVERED stays delivered */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_DELIVERED);
	fill(id, sizeof id, 5);                 /* inbox is never expired */
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, IN_UNREAD);
	CHECK_EQ(store_msg_expire(s, 2000, "lifetime over"), MESH_OK);
	fill(id, sizeof id, 2);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.state, OUT_EXPIRED);
	store_close(s);

	/* Persisted. */
	s = open_named("msgs.db");
	fill(id, sizeof id, 1);
	CHECK_EQ(store_get_msg(s, id, &got), MESH_OK);
	CHECK_EQ(got.delivered_at, 4242);
	CHECK(memcmp(got.sealed_text, text[0], 5) == 0);
	store_close(s);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_members),
		TEST(test_revocations),
		TEST(test_peer_prekeys),
		TEST(test_own_prekeys),
		TEST(test_messages),
	};
	int rc;

	if (setup() != 0)
		return 1;
	rc = test_main("records", cases, sizeof cases / sizeof cases[0], argc, argv);
	teardown();
	return rc;
}
