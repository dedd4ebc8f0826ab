/*
 * Rateless IBLT (riblt.h). The index generator follows the paper's section 4 and
 * github.com/yangl1996/riblt (mapping.go): with u uniform in [0, 1), the gap from
 * index i to the next is ceil((i + 1.5) * ((1 - u)^(-1/2) - 1)), which makes index j
 * appear with probability 1/(1 + j/2). u comes from a 64-bit multiplicative generator,
 * and (1 - u)^(-1/2) = 2^32 / sqrt(r) for the generator's output r. We compute the
 * square root on integers, so the core needs no libm.
 */
#include "riblt.h"
#include "mesh.h"

#include "../crypto/crypto.h"

#include <stdlib.h>
#include <string.h>

#define RIBLT_MULT UINT64_C(0xda942042e4dd58b5)

void
riblt_hash(uint32_t *sum, uint64_t *seed, const uint8_t id[RIBLT_ID],
    const uint8_t key[RIBLT_KEY])
{
	uint8_t h[16];
	uint64_t s = 0;

	crypto_hash_ctx(h, sizeof h, APAGON_CTX_RIBLT, id, RIBLT_ID, key, RIBLT_KEY);
	*sum = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	for (int i = 0; i < 8; i++)
		s = s << 8 | h[4 + i];
	*seed = s;
}

void
riblt_item_rewind(struct riblt_item *it)
{
	it->prng = it->seed;
	it->next = 0;
}

void
riblt_item_init(struct riblt_item *it, const uint8_t id[RIBLT_ID], const uint8_t key[RIBLT_KEY])
{
	memcpy(it->id, id, RIBLT_ID);
	riblt_hash(&it->sum, &it->seed, id, key);
	riblt_item_rewind(it);
}

/* floor(sqrt(x)), digit by digit. */
static uint64_t
isqrt64(uint64_t x)
{
	uint64_t res = 0, one = UINT64_C(1) << 62;

	while (one > x)
		one >>= 2;
	while (one) {
		if (x >= res + one) {
			x -= res + one;
			res = (res >> 1) + one;
		} else {
			res >>= 1;
		}
		one >>= 2;
	}
	return res;
}

void
riblt_item_advance(struct riblt_item *it)
{
	uint64_t r, s, step;
	double root, gap;

	if (it->next >= RIBLT_INDEX_END)
		return;
	r = it->prng * RIBLT_MULT;
	it->prng = r;
	/* sqrt(r + 1) to well within a part in 2^32: the integer root plus a linear
	 * correction for the remainder. */
	s = isqrt64(r);
	root = (double)s + ((double)(r - s * s) + 1.0) / (2.0 * (double)s + 1.0);
	gap = ((double)it->next + 1.5) * (4294967296.0 / root - 1.0);
	if (gap >= (double)RIBLT_INDEX_END) {
		it->next = RIBLT_INDEX_END;
		return;
	}
	step = (uint64_t)gap;
	if ((double)step < gap)
		step++;
	if (step == 0)          /* r within rounding of 2^64: never map twice to one index */
		step = 1;
	it->next += step;
	if (it->next > RIBLT_INDEX_END)
		it->next = RIBLT_INDEX_END;
}

void
riblt_symbol_apply(struct riblt_symbol *s, const uint8_t id[RIBLT_ID], uint32_t sum, int sign)
{
	for (int i = 0; i < RIBLT_ID; i++)
		s->id[i] ^= id[i];
	s->sum ^= sum;
	s->count = (uint8_t)(s->count + sign);
}

int
riblt_symbol_zero(const struct riblt_symbol *s)
{
	uint8_t acc = s->count;

	for (int i = 0; i < RIBLT_ID; i++)
		acc |= s->id[i];
	return acc == 0 && s->sum == 0;
}

void
riblt_symbol_put(struct wire *w, const struct riblt_symbol *s)
{
	wire_put_bytes(w, s->id, RIBLT_ID);
	wire_put_u32(w, s->sum);
	wire_put_u8(w, s->count);
}

void
riblt_symbol_get(struct wire *w, struct riblt_symbol *s)
{
	wire_get_bytes(w, s->id, RIBLT_ID);
	s->sum = wire_get_u32(w);
	s->count = wire_get_u8(w);
}

void
riblt_encoder_init(struct riblt_encoder *e, struct riblt_item *items, size_t n)
{
	e->items = items;
	e->n = n;
	e->pos = 0;
	for (size_t i = 0; i < n; i++)
		riblt_item_rewind(&items[i]);
}

int
riblt_encoder_symbols(struct riblt_encoder *e, uint64_t start, size_t count,
    struct riblt_symbol *out)
{
	uint64_t end = start + count;

	if (start >= RIBLT_INDEX_END || count > RIBLT_INDEX_END - start)
		return MESH_EINVAL;
	memset(out, 0, sizeof *out * count);
	if (start < e->pos) {
		for (size_t i = 0; i < e->n; i++)
			riblt_item_rewind(&e->items[i]);
	}
	for (size_t i = 0; i < e->n; i++) {
		struct riblt_item *it = &e->items[i];

		while (it->next < start)
			riblt_item_advance(it);
		while (it->next < end) {
			riblt_symbol_apply(&out[it->next - start], it->id, it->sum, 1);
			riblt_item_advance(it);
		}
	}
	e->pos = end;
	return MESH_OK;
}

void
riblt_decoder_init(struct riblt_decoder *d, const uint8_t key[RIBLT_KEY],
    struct riblt_encoder *local, size_t max_decoded)
{
	memset(d, 0, sizeof *d);
	memcpy(d->key, key, RIBLT_KEY);
	d->local = local;
	d->max_decoded = max_decoded;
	if (local && local->pos != 0)
		riblt_encoder_init(local, local->items, local->n);
}

void
riblt_decoder_free(struct riblt_decoder *d)
{
	free(d->res);
	free(d->dec);
	free(d->sign);
	free(d->stack);
	memset(d, 0, sizeof *d);
}

static int
push(struct riblt_decoder *d, uint64_t i)
{
	if (mesh_grow((void **)&d->stack, &d->capstack, d->nstack + 1, sizeof *d->stack, 64) != 0)
		return -1;
	d->stack[d->nstack++] = (uint32_t)i;
	return 0;
}

/* Peel pure symbols until none is left on the stack. */
static int
peel(struct riblt_decoder *d)
{
	while (d->nstack) {
		struct riblt_symbol *s = &d->res[d->stack[--d->nstack]];
		struct riblt_item it;
		int sign;

		if (s->count != 1 && s->count != 255)
			continue;
		riblt_hash(&it.sum, &it.seed, s->id, d->key);
		if (it.sum != s->sum)
			continue;
		sign = s->count == 1 ? 1 : -1;
		/* Honest peeling empties a symbol for every item it yields, so it never
		 * yields more items than there are symbols; crafted symbols can make an
		 * item peel back and forth forever. */
		if (d->ndec >= d->n || (d->max_decoded && d->ndec >= d->max_decoded))
			return MESH_EINVAL;
		memcpy(it.id, s->id, RIBLT_ID);
		riblt_item_rewind(&it);
		/* s points into res and changes below: it.id holds the copy. */
		while (it.next < d->n) {
			riblt_symbol_apply(&d->res[it.next], it.id, it.sum, -sign);
			if (push(d, it.next) != 0)
				return MESH_ENOMEM;
			riblt_item_advance(&it);
		}
		if (mesh_grow((void **)&d->dec, &d->capdec, d->ndec + 1, sizeof *d->dec, 64) != 0)
			return MESH_ENOMEM;
		{
			size_t capsign = d->capdec;
			int8_t *ns = realloc(d->sign, capsign);

			if (!ns)
				return MESH_ENOMEM;
			d->sign = ns;
		}
		d->dec[d->ndec] = it;
		d->sign[d->ndec++] = (int8_t)sign;
	}
	return MESH_OK;
}

int
riblt_decoder_add(struct riblt_decoder *d, const struct riblt_symbol *sym, size_t count)
{
	size_t start = d->n, end;
	int rc;

	if (d->failed)
		return MESH_EINVAL;
	if (count == 0)
		return MESH_OK;
	end = start + count;
	if (end >= UINT32_MAX || end >= RIBLT_INDEX_END) {
		d->failed = 1;
		return MESH_EINVAL;
	}
	if (mesh_grow((void **)&d->res, &d->cap, end, sizeof *d->res, 64) != 0) {
		d->failed = 1;
		return MESH_ENOMEM;
	}
	if (d->local) {
		if ((rc = riblt_encoder_symbols(d->local, start, count, &d->res[start])) != MESH_OK) {
			d->failed = 1;
			return rc;
		}
	} else {
		memset(&d->res[start], 0, sizeof *d->res * count);
	}
	/* residual = theirs - ours */
	for (size_t j = 0; j < count; j++) {
		struct riblt_symbol *r = &d->res[start + j];

		for (int i = 0; i < RIBLT_ID; i++)
			r->id[i] ^= sym[j].id[i];
		r->sum ^= sym[j].sum;
		r->count = (uint8_t)(sym[j].count - r->count);
	}
	/* Before anything is peeled from them, new symbols are independent samples of
	 * the whole difference: count the empty ones for the estimator. */
	for (size_t i = start ? start : 1; i < end; i++)
		d->raw_empty += riblt_symbol_zero(&d->res[i]);
	/* Items peeled earlier leave the new symbols too. */
	for (size_t k = 0; k < d->ndec; k++) {
		struct riblt_item *it = &d->dec[k];

		while (it->next < end) {
			riblt_symbol_apply(&d->res[it->next], it->id, it->sum, -d->sign[k]);
			riblt_item_advance(it);
		}
	}
	d->n = end;
	for (size_t i = start; i < end; i++) {
		if (push(d, i) != 0) {
			d->failed = 1;
			return MESH_ENOMEM;
		}
	}
	if ((rc = peel(d)) != MESH_OK) {
		d->failed = 1;
		d->nstack = 0;
		return rc;
	}
	return MESH_OK;
}

int
riblt_decoder_done(const struct riblt_decoder *d)
{
	return !d->failed && d->n > 0 && riblt_symbol_zero(&d->res[0]);
}

/* q^k by squaring, for 0 < q < 1. */
static double
powu(double q, uint64_t k)
{
	double r = 1.0;

	while (k) {
		if (k & 1)
			r *= q;
		q *= q;
		k >>= 1;
	}
	return r;
}

/* Expected number of empty symbols among [1, n) with d differences left. */
static double
expected_empty(size_t n, uint64_t dd)
{
	double e = 0;

	for (size_t i = 1; i < n; i++)
		e += powu((double)i / (double)(i + 2), dd);
	return e;
}

double
riblt_decoder_estimate(const struct riblt_decoder *d)
{
	size_t empty = d->raw_empty;
	uint64_t lo = 0, hi = 1;

	if (d->n < 2 || empty == 0)
		return -1;
	/* expected_empty falls as d grows: bisect for the d that expects what we saw. */
	while (expected_empty(d->n, hi) > (double)empty && hi < (UINT64_C(1) << 40))
		hi *= 2;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (expected_empty(d->n, mid) > (double)empty)
			lo = mid;
		else
			hi = mid;
	}
	return (double)hi;
}
