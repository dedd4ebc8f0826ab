/*
 * Private to the store (store.c, store_usage.c); not part of its contract, which is
 * store.h.
 *
 * The bytes held per sender, kept in memory so that a bundle insert costs one row and
 * no bookkeeping in SQLite. store.c decides when the figures are right (it loads them
 * from the bundles table and applies its own inserts and deletes); this map only holds
 * them.
 */
#ifndef APAGON_STORE_INTERNAL_H
#define APAGON_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

struct usage_slot {
	uint8_t pk[APAGON_SIGN_PK];
	int64_t bytes;
	int used;
};

/*
 * Open addressing with linear probing, keyed by the sender's public key, never more
 * than half full. Entries are never removed one by one (a sender whose bundles all
 * went keeps a zero), so probing needs no tombstones; the whole map is cleared when
 * the figures are loaded again.
 */
struct usage_map {
	struct usage_slot *slot;
	size_t cap;             /* 0 or a power of two */
	size_t n;               /* slots in use */
};

/* Empty the map, keeping its memory. */
void usage_map_clear(struct usage_map *);
/* Free the map's memory; it is left empty and usable. */
void usage_map_free(struct usage_map *);
/* The bytes recorded for pk, 0 if it has none. */
int64_t usage_map_get(const struct usage_map *, const uint8_t pk[APAGON_SIGN_PK]);
/* Add delta to pk's bytes, adding pk if new. MESH_ENOMEM leaves the map unchanged. */
int usage_map_add(struct usage_map *, const uint8_t pk[APAGON_SIGN_PK], int64_t delta);

#endif
