/*
 * The rateless IBLT: decoding finds exactly the symmetric difference, at the cost the
 * paper reports, whatever order the symbols come in batches; hostile symbols never
 * crash the decoder or make it peel without bound.
 */
#include "../test.h"

#include "../../crypto/crypto.h"
#include "../../mesh/mesh.h"
#include "../../mesh/riblt.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rng(void)
{
	/* xorshift64*: fixed seed, so every run sees the same sets */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void
rand_id(uint8_t id[RIBLT_ID])
{
	for (int i = 0; i < RIBLT_ID; i += 8) {
		uint64_t v = rng();

		memcpy(id + i, &v, 8);
	}
}

static const uint8_t key[RIBLT_KEY] = { 7, 1, 2, 3 };

struct pair {
	struct riblt_item *a, *b;       /* a: the peer (encoder), b: us (decoder) */
	size_t na, nb;
	uint8_t (*only_a)[RIBLT_ID], (*only_b)[RIBLT_ID];
	size_t nonly_a, nonly_b;
};

static void
make_pair(struct pair *p, size_t common, size_t da, size_t db)
{
	uint8_t id[RIBLT_ID];

	memset(p, 0, sizeof *p);
	p->a = malloc(sizeof *p->a * (common + da + 1));
	p->b = malloc(sizeof *p->b * (common + db + 1));
	p->only_a = malloc(RIBLT_ID * (da + 1));
	p->only_b = malloc(RIBLT_ID * (db + 1));
	for (size_t i = 0; i < common; i++) {
		rand_id(id);
		riblt_item_init(&p->a[p->na++], id, key);
		p->b[p->nb++] = p->a[p->na - 1];
	}
	for (size_t i = 0; i < da; i++) {
		rand_id(id);
		riblt_item_init(&p->a[p->na++], id, key);
		memcpy(p->only_a[p->nonly_a++], id, RIBLT_ID);
	}
	for (size_t i = 0; i < db; i++) {
		rand_id(id);
		riblt_item_init(&p->b[p->nb++], id, key);
		memcpy(p->only_b[p->nonly_b++], id, RIBLT_ID);
	}
}

static void
free_pair(struct pair *p)
{
	free(p->a);
	free(p->b);
	free(p->only_a);
	free(p->only_b);
}

static int
in_list(uint8_t (*list)[RIBLT_ID], size_t n, const uint8_t id[RIBLT_ID])
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(list[i], id, RIBLT_ID) == 0)
			return 1;
	return 0;
}

/* Stream symbols in batches of `batch` until decoded; returns symbols used. */
static size_t
reconcile(struct pair *p, size_t batch, int check)
{
	struct riblt_encoder ea, eb;
	struct riblt_decoder d;
	struct riblt_symbol *s = malloc(sizeof *s * batch);
	size_t m = 0;

	riblt_encoder_init(&ea, p->a, p->na);
	riblt_encoder_init(&eb, p->b, p->nb);
	riblt_decoder_init(&d, key, &eb, 0);
	while (!riblt_decoder_done(&d) && m < 100000) {
		CHECK_EQ(riblt_encoder_symbols(&ea, m, batch, s), MESH_OK);
		CHECK_EQ(riblt_decoder_add(&d, s, batch), MESH_OK);
		m += batch;
	}
	CHECK(riblt_decoder_done(&d));
	if (check) {
		size_t pa = 0, pb = 0;

		CHECK_EQ(d.ndec, p->nonly_a + p->nonly_b);
		for (size_t i = 0; i < d.ndec; i++) {
			if (d.sign[i] > 0) {
				CHECK(in_list(p->only_a, p->nonly_a, d.dec[i].id));
				pa++;
			} else {
				CHECK(in_list(p->only_b, p->nonly_b, d.dec[i].id));
				pb++;
			}
		}
		CHECK_EQ(pa, p->nonly_a);
		CHECK_EQ(pb, p->nonly_b);
	}
	riblt_decoder_free(&d);
	free(s);
	return m;
}

static void
test_zero_difference_one_symbol(void)
{
	struct pair p;

	make_pair(&p, 500, 0, 0);
	CHECK_EQ(reconcile(&p, 1, 1), 1);
	free_pair(&p);
	make_pair(&p, 0, 0, 0);
	CHECK_EQ(reconcile(&p, 1, 1), 1);
	free_pair(&p);
}

static void
test_exact_difference(void)
{
	static const size_t cases[][3] = {
		{ 100, 1, 0 }, { 100, 0, 1 }, { 1000, 5, 5 }, { 1000, 37, 0 }, { 50, 0, 80 },
		{ 2000, 150, 150 }, { 0, 20, 20 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pair p;

		make_pair(&p, cases[i][0], cases[i][1], cases[i][2]);
		reconcile(&p, 1, 1);
		reconcile(&p, 7, 1);
		free_pair(&p);
	}
}

/* The paper: about 1.35 symbols per difference for large d, under 2 for small d. */
static void
test_overhead(void)
{
	size_t total = 0, d = 1000, runs = 3;

	for (size_t r = 0; r < runs; r++) {
		struct pair p;

		make_pair(&p, 2000, d / 2, d / 2);
		total += reconcile(&p, 1, 0);
		free_pair(&p);
	}
	printf("# riblt: %.3f symbols per difference at d=%zu\n", (double)total / (double)(runs * d),
	    d);
	CHECK(total < runs * d * 145 / 100);
	CHECK(total > runs * d * 120 / 100);

	total = 0;
	for (size_t r = 0; r < 20; r++) {
		struct pair p;

		make_pair(&p, 300, 5, 5);
		total += reconcile(&p, 1, 0);
		free_pair(&p);
	}
	printf("# riblt: %.3f symbols per difference at d=10\n", (double)total / 200.0);
	CHECK(total < 20 * 10 * 2);
}

/* Index i is hit with probability 1/(1+i/2). */
static void
test_mapping_density(void)
{
	enum { N = 20000, M = 64 };
	static unsigned hits[M];
	uint8_t id[RIBLT_ID];

	memset(hits, 0, sizeof hits);
	for (int k = 0; k < N; k++) {
		struct riblt_item it;
		uint64_t last = UINT64_MAX;

		rand_id(id);
		riblt_item_init(&it, id, key);
		while (it.next < M) {
			CHECK(it.next != last);
			last = it.next;
			hits[it.next]++;
			riblt_item_advance(&it);
		}
	}
	CHECK_EQ(hits[0], N);
	for (int i = 1; i < M; i++) {
		double want = N / (1.0 + i / 2.0), got = hits[i];

		if (got < want * 0.9 || got > want * 1.1) {
			fprintf(stderr, "    index %d: %u hits, expected %.0f\n", i, hits[i], want);
			CHECK(0);
		}
	}
}

/* Symbols by range equal symbols one by one; an earlier range rewinds. */
static void
test_encoder_ranges(void)
{
	struct pair p;
	struct riblt_encoder e;
	struct riblt_symbol all[40], part[40];

	make_pair(&p, 300, 0, 0);
	riblt_encoder_init(&e, p.a, p.na);
	CHECK_EQ(riblt_encoder_symbols(&e, 0, 40, all), MESH_OK);
	CHECK_EQ(riblt_encoder_symbols(&e, 10, 5, part), MESH_OK);
	CHECK(memcmp(part, all + 10, sizeof *part * 5) == 0);
	CHECK_EQ(riblt_encoder_symbols(&e, 15, 25, part), MESH_OK);
	CHECK(memcmp(part, all + 15, sizeof *part * 25) == 0);
	CHECK_EQ(riblt_encoder_symbols(&e, RIBLT_INDEX_END - 1, 2, part), MESH_EINVAL);
	free_pair(&p);
}

static void
test_symbol_wire(void)
{
	struct riblt_symbol s, t;
	uint8_t buf[RIBLT_SYMBOL + 1];
	struct wire w;

	rand_id(s.id);
	s.sum = 0xdeadbeef;
	s.count = 255;
	wire_writer(&w, buf, sizeof buf);
	riblt_symbol_put(&w, &s);
	CHECK(wire_ok(&w));
	CHECK_EQ(w.off, RIBLT_SYMBOL);
	wire_reader(&w, buf, RIBLT_SYMBOL);
	riblt_symbol_get(&w, &t);
	CHECK(wire_ok(&w));
	CHECK(memcmp(s.id, t.id, RIBLT_ID) == 0 && s.sum == t.sum && s.count == t.count);
	wire_reader(&w, buf, RIBLT_SYMBOL - 1);
	riblt_symbol_get(&w, &t);
	CHECK(!wire_ok(&w));
}

/* Pure-looking symbols crafted with the key, and random junk: bounded, no crash. */
static void
test_hostile_symbols(void)
{
	struct riblt_decoder d;
	struct riblt_symbol s[64];

	riblt_decoder_init(&d, key, NULL, 10);
	for (int i = 0; i < 64; i++) {
		uint64_t seed;

		rand_id(s[i].id);
		riblt_hash(&s[i].sum, &seed, s[i].id, key);
		s[i].count = 1;
	}
	CHECK(riblt_decoder_add(&d, s, 64) != MESH_OK);
	CHECK(d.failed);
	CHECK(d.ndec <= 10);
	CHECK(riblt_decoder_add(&d, s, 1) != MESH_OK);
	CHECK(!riblt_decoder_done(&d));
	riblt_decoder_free(&d);

	riblt_decoder_init(&d, key, NULL, 1000);
	for (int r = 0; r < 50; r++) {
		for (int i = 0; i < 64; i++) {
			rand_id(s[i].id);
			s[i].sum = (uint32_t)rng();
			s[i].count = (uint8_t)rng();
		}
		riblt_decoder_add(&d, s, 64);
	}
	CHECK(d.ndec <= 1000);
	riblt_decoder_free(&d);

	/* Symbols of another key's encoder, no bound given: crafted this way, an item
	 * can peel back and forth forever (found by fuzz_sync's seed symbols-round2). */
	{
		static const uint8_t other[RIBLT_KEY] = "another key";
		struct riblt_item items[3];
		struct riblt_encoder e;
		uint8_t id[RIBLT_ID];

		for (int i = 0; i < 3; i++) {
			memset(id, 0x11 * (i + 1), sizeof id);
			riblt_item_init(&items[i], id, other);
		}
		riblt_encoder_init(&e, items, 3);
		riblt_encoder_symbols(&e, 0, 16, s);
		riblt_decoder_init(&d, key, NULL, 0);
		riblt_decoder_add(&d, s, 16);
		CHECK(d.ndec <= d.n);
		riblt_decoder_free(&d);
	}
}

/* The estimator finds the right order of magnitude once empty symbols show up. */
static void
test_estimate(void)
{
	struct pair p;
	struct riblt_encoder ea, eb;
	struct riblt_decoder d;
	struct riblt_symbol s[400];
	double est;

	make_pair(&p, 1000, 100, 100);
	riblt_encoder_init(&ea, p.a, p.na);
	riblt_encoder_init(&eb, p.b, p.nb);
	riblt_decoder_init(&d, key, &eb, 0);
	CHECK_EQ(riblt_encoder_symbols(&ea, 0, 8, s), MESH_OK);
	CHECK_EQ(riblt_decoder_add(&d, s, 8), MESH_OK);
	CHECK(riblt_decoder_estimate(&d) < 0);     /* no empty symbol yet: "many" */
	CHECK_EQ(riblt_encoder_symbols(&ea, 8, 232, s), MESH_OK);
	CHECK_EQ(riblt_decoder_add(&d, s, 232), MESH_OK);
	est = riblt_decoder_estimate(&d);
	printf("# riblt: estimate %.0f differences (of 200, %zu peeled) after 240 symbols\n", est,
	    d.ndec);
	CHECK(est > 100 && est < 400);
	riblt_decoder_free(&d);
	free_pair(&p);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_zero_difference_one_symbol),
		TEST(test_exact_difference),
		TEST(test_overhead),
		TEST(test_mapping_density),
		TEST(test_encoder_ranges),
		TEST(test_symbol_wire),
		TEST(test_hostile_symbols),
		TEST(test_estimate),
	};

	if (crypto_init() != 0)
		return 1;
	return test_main("riblt", cases, sizeof cases / sizeof cases[0], argc, argv);
}
