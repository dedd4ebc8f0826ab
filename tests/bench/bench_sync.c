/*
 * Reconciliation cost of the link session (make bench). Two members whose sets hold
 * 100,000 bundle IDs each and differ in 100 (50 on each side) open a real session
 * (mesh/session.c: handshake, encrypted frames, RIBLT rounds), and we count every
 * byte of the reconciliation: the SYMBOLS, MORE and RESULT messages with the frame
 * overhead (type, counter, tag) of the frames that carry them. The bundles themselves
 * and the handshake are left out (the handshake is printed on its own line).
 *
 *   bench.sync_bytes_vs_bound   reconciliation bytes / (100 differences x 16 bytes), the
 *                               cost of naming each difference once by its short ID
 *   bench.sync_roundtrips       answers the initiator waited for (median)
 *   bench.sync_symbols_per_diff coded symbols sent / differences
 *   bench.sync_handshake_bytes  the three handshake frames, both ways
 *   bench.sync_zero_diff_bytes  a later round when nothing differs
 *
 * The sets are synthetic (the session takes its IDs from a session_source, which in
 * production is the store): building 200,000 signed bundles would measure SQLite, not
 * the protocol. Everything on the wire is produced by the production session code.
 */
#include "../../crypto/crypto.h"
#include "../../mesh/accept.h"
#include "../../mesh/cert.h"
#include "../../mesh/session.h"
#include "../../mesh/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSET    100000
#define NDIFF   100
#define TRIALS  7
#define T0S     1790000000u

struct idset {
	uint8_t (*id)[APAGON_HASH];
	size_t n;
};

static int
set_each(void *ctx, int64_t now_s, int (*fn)(void *, const uint8_t *, int, int), void *fctx)
{
	struct idset *s = ctx;

	(void)now_s;
	for (size_t i = 0; i < s->n; i++)
		if (fn(fctx, s->id[i], 0, 0))
			break;
	return 0;
}

static int
set_get(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t **raw, size_t *len)
{
	(void)ctx;
	(void)id;
	(void)raw;
	(void)len;
	return MESH_ENOTFOUND;  /* no bundle moves: only the reconciliation is measured */
}

struct party {
	uint8_t pk[APAGON_SIGN_PK], sk[APAGON_SIGN_SK];
	struct chain ch;
	struct store *st;
	struct accept_ctx ax;
	struct idset set;
	struct session_source src;
};

static struct netkeys nk;
static uint8_t auth_pk[APAGON_SIGN_PK], auth_sk[APAGON_SIGN_SK];

static void
member_init(struct party *m, const char *name)
{
	struct cert *c = &m->ch.c[0];

	memset(m, 0, sizeof *m);
	crypto_sign_keygen(m->pk, m->sk);
	m->ch.n = 1;
	c->role = ROLE_MEMBER;
	memcpy(c->subject, m->pk, APAGON_SIGN_PK);
	memcpy(c->issuer, auth_pk, APAGON_SIGN_PK);
	c->not_before = T0S - 86400;
	c->not_after = T0S + 365 * 86400;
	strcpy(c->name, name);
	strcpy(c->unit, "bench");
	cert_sign(c, nk.network_id, auth_sk);
	if (store_open(&m->st, ":memory:") != MESH_OK) {
		fprintf(stderr, "bench_sync: cannot open a store\n");
		exit(1);
	}
	m->ax.st = m->st;
	m->ax.nk = &nk;
	m->ax.skew = 3600;
	m->ax.my_pk = m->pk;
	m->set.id = malloc(sizeof *m->set.id * (NSET + NDIFF));
	m->src.each = set_each;
	m->src.get = set_get;
	m->src.ctx = &m->set;
}

static struct session *
open_session(struct party *m, int initiator, uint64_t now)
{
	struct session_config c;
	struct session *s;

	memset(&c, 0, sizeof c);
	c.initiator = initiator;
	c.ax = &m->ax;
	c.pk = m->pk;
	c.sk = m->sk;
	c.chain = &m->ch;
	c.source = &m->src;
	if (session_new(&s, &c, now) != MESH_OK) {
		fprintf(stderr, "bench_sync: session_new failed\n");
		exit(1);
	}
	return s;
}

/* One side speaks until it has nothing to say, then the other: one flight each. */
static void
shuttle(struct session *a, struct session *b, uint64_t now, int flights)
{
	static uint8_t buf[SESSION_MAX_FRAME];

	for (int f = 0; f < flights; f++) {
		struct session *from = f % 2 ? b : a, *to = f % 2 ? a : b;
		size_t len;

		while ((len = session_output(from, buf, sizeof buf, now)))
			session_input(to, buf, len, now);
	}
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct party A, B;

/* A and B share NSET - NDIFF / 2 random IDs and hold NDIFF / 2 of their own each. */
static void
make_sets(void)
{
	A.set.n = B.set.n = 0;
	for (size_t k = 0; k < NSET - NDIFF / 2; k++) {
		randombytes_buf(A.set.id[A.set.n], APAGON_HASH);
		memcpy(B.set.id[B.set.n++], A.set.id[A.set.n++], APAGON_HASH);
	}
	for (size_t k = 0; k < NDIFF / 2; k++) {
		randombytes_buf(A.set.id[A.set.n++], APAGON_HASH);
		randombytes_buf(B.set.id[B.set.n++], APAGON_HASH);
	}
}

int
main(void)
{
	double ratio[TRIALS], rtt[TRIALS], spd[TRIALS], sum = 0, worst = 0, secs = 0;
	uint64_t hs_bytes = 0, zero_bytes = 0, one_sided_rtt = 0;
	uint8_t netkey[APAGON_KEY];

	if (crypto_init() != 0)
		return 1;
	crypto_sign_keygen(auth_pk, auth_sk);
	randombytes_buf(netkey, sizeof netkey);
	netkeys_derive(&nk, auth_pk, netkey);
	member_init(&A, "a");
	member_init(&B, "b");
	for (int t = 0; t < TRIALS; t++) {
		uint64_t now = (uint64_t)T0S * 1000;
		struct session *i, *r;
		const struct session_stats *si, *sr;
		uint64_t bytes, before;
		struct timespec t0, t1;

		make_sets();
		i = open_session(&A, 1, now);
		r = open_session(&B, 0, now);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		shuttle(i, r, now, 64);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		si = session_stats(i);
		sr = session_stats(r);
		if (session_state(i) != SESSION_OPEN || si->rounds != 1 || sr->last_diff != NDIFF) {
			fprintf(stderr, "bench_sync: round did not complete (rounds %llu, diff %llu)\n",
			    (unsigned long long)si->rounds, (unsigned long long)sr->last_diff);
			return 1;
		}
		bytes = si->sync_bytes_out + sr->sync_bytes_out;
		ratio[t] = (double)bytes / (NDIFF * 16.0);
		rtt[t] = (double)si->round_trips;
		spd[t] = (double)si->symbols_out / NDIFF;
		sum += ratio[t];
		if (ratio[t] > worst)
			worst = ratio[t];
		hs_bytes = si->hs_bytes_out + sr->hs_bytes_out;
		/* A second round once the sets agree: what a periodic re-sync costs. */
		memcpy(B.set.id, A.set.id, sizeof *A.set.id * A.set.n);
		B.set.n = A.set.n;
		before = si->sync_bytes_out + sr->sync_bytes_out;
		session_resync(i, now + 1000);
		shuttle(i, r, now + 1000, 16);
		zero_bytes = si->sync_bytes_out + sr->sync_bytes_out - before;
		session_free(i);
		session_free(r);
	}
	/* The same count of differences, all on one side: a node back after a while
	 * away, as in the Bluetooth bench. Measured for round trips. */
	{
		uint64_t now = (uint64_t)T0S * 1000;
		struct session *i1, *r1;

		make_sets();
		B.set.n = A.set.n - NDIFF;
		memcpy(B.set.id, A.set.id, sizeof *A.set.id * B.set.n);
		i1 = open_session(&A, 1, now);
		r1 = open_session(&B, 0, now);
		shuttle(i1, r1, now, 64);
		if (session_state(i1) != SESSION_OPEN || session_stats(i1)->rounds != 1 ||
		    session_stats(r1)->last_diff != NDIFF) {
			fprintf(stderr, "bench_sync: one-sided round did not complete\n");
			return 1;
		}
		one_sided_rtt = session_stats(i1)->round_trips;
		session_free(i1);
		session_free(r1);
	}
	qsort(rtt, TRIALS, sizeof rtt[0], cmp_dbl);
	qsort(spd, TRIALS, sizeof spd[0], cmp_dbl);
	printf("bench.sync_bytes_vs_bound %.2f\n", sum / TRIALS);
	printf("bench.sync_bytes_vs_bound_worst %.2f\n", worst);
	printf("bench.sync_roundtrips %.0f\n", rtt[TRIALS / 2]);
	printf("bench.sync_symbols_per_diff %.2f\n", spd[TRIALS / 2]);
	printf("bench.sync_roundtrips_one_sided %llu\n", (unsigned long long)one_sided_rtt);
	printf("bench.sync_handshake_bytes %llu\n", (unsigned long long)hs_bytes);
	printf("bench.sync_zero_diff_bytes %llu\n", (unsigned long long)zero_bytes);
	printf("bench.sync_ms_100k %.0f\n", secs / TRIALS * 1000);
	store_close(A.st);
	store_close(B.st);
	free(A.set.id);
	free(B.set.id);
	return 0;
}
