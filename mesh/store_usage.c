/*
 * The per-sender byte map behind the store's quota checks (store_internal.h).
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "mesh.h"

/* About 30 senders before the first growth; a relay may see ~10k. */
#define USAGE_MAP_MIN 64

_Static_assert(APAGON_SIGN_PK % 8 == 0, "the key is hashed in 64-bit words");

/*
 * Keys are Ed25519 public keys, close to random already, but tests and odd keys may
 * share long runs of bytes: fold every word in and mix (the multiplier is 2^64 / phi,
 * as in Fibonacci hashing).
 */
static uint64_t
hash_pk(const uint8_t pk[APAGON_SIGN_PK])
{
	uint64_t h = 0, w;

	for (size_t i = 0; i < APAGON_SIGN_PK; i += 8) {
		memcpy(&w, pk + i, sizeof w);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 32;
	}
	return h;
}

/* pk's slot, or the empty slot where it would go. The map must not be full. */
static struct usage_slot *
find(const struct usage_map *m, const uint8_t pk[APAGON_SIGN_PK])
{
	size_t mask = m->cap - 1, i = (size_t)hash_pk(pk) & mask;

	for (;; i = (i + 1) & mask) {
		struct usage_slot *e = &m->slot[i];

		if (!e->used || memcmp(e->pk, pk, APAGON_SIGN_PK) == 0)
			return e;
	}
}

static int
grow(struct usage_map *m)
{
	struct usage_map bigger;

	bigger.cap = m->cap ? m->cap * 2 : USAGE_MAP_MIN;
	bigger.n = m->n;
	if (bigger.cap < m->cap || bigger.cap > SIZE_MAX / sizeof *bigger.slot)
		return MESH_ENOMEM;
	if ((bigger.slot = calloc(bigger.cap, sizeof *bigger.slot)) == NULL)
		return MESH_ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i].used)
			*find(&bigger, m->slot[i].pk) = m->slot[i];
	free(m->slot);
	*m = bigger;
	return MESH_OK;
}

void
usage_map_clear(struct usage_map *m)
{
	if (m->cap)
		memset(m->slot, 0, m->cap * sizeof *m->slot);
	m->n = 0;
}

void
usage_map_free(struct usage_map *m)
{
	free(m->slot);
	memset(m, 0, sizeof *m);
}

int64_t
usage_map_get(const struct usage_map *m, const uint8_t pk[APAGON_SIGN_PK])
{
	const struct usage_slot *e;

	if (m->cap == 0)
		return 0;
	e = find(m, pk);
	return e->used ? e->bytes : 0;
}

int
usage_map_add(struct usage_map *m, const uint8_t pk[APAGON_SIGN_PK], int64_t delta)
{
	struct usage_slot *e = m->cap ? find(m, pk) : NULL;

	if (e && e->used) {
		e->bytes += delta;
		return MESH_OK;
	}
	if ((m->n + 1) * 2 > m->cap) {
		if (grow(m) != MESH_OK)
			return MESH_ENOMEM;
		e = find(m, pk);
	}
	memcpy(e->pk, pk, APAGON_SIGN_PK);
	e->bytes = delta;
	e->used = 1;
	m->n++;
	return MESH_OK;
}
