/*
 * Rateless invertible Bloom lookup tables (Yang, Gilad, Alizadeh, "Practical Rateless
 * Set Reconciliation", SIGCOMM 2024) over 16-byte short bundle IDs.
 *
 * An encoder turns a set into an endless stream of coded symbols; a decoder that holds
 * its own set subtracts its own symbols from the peer's and peels the result into the
 * symmetric difference. About 1.35 to 1.7 symbols per difference are enough, whatever
 * the size of the sets, and nobody needs to know the difference in advance.
 *
 * Every item maps to symbol 0 and then to a sparse, item-specific sequence of indices:
 * index i is hit with probability 1/(1 + i/2), the gaps growing about like sqrt(i)
 * (the paper's section 4; the same generator as github.com/yangl1996/riblt,
 * mapping.go). The per-item randomness and a 32-bit checksum both come from a keyed
 * BLAKE2b of the ID (context APAGON_CTX_RIBLT), so an outsider who does not know the
 * key cannot craft IDs whose checksums collide or whose mappings line up.
 *
 * Coded symbol on the wire, 21 bytes:
 *
 *    0                         16          20   21
 *   +---------------------------+-----------+----+
 *   | XOR of short IDs (16)     | XOR sums  | cnt|
 *   +---------------------------+-----------+----+
 *
 *   sums: XOR of each ID's 32-bit keyed checksum, big-endian.
 *   cnt:  number of IDs mod 256. After subtraction, 1 means "only the peer has it",
 *         255 (-1) "only we have it".
 *
 * No I/O, no clock, no allocation except the arrays owned by the decoder.
 */
#ifndef APAGON_RIBLT_H
#define APAGON_RIBLT_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define RIBLT_ID        16
#define RIBLT_KEY       32
#define RIBLT_SYMBOL    21      /* bytes of one coded symbol on the wire */
/* Indices from here on are never produced: an item whose next index would be this far
 * out simply stops contributing (the stream is never that long in practice). */
#define RIBLT_INDEX_END (UINT64_C(1) << 40)

struct riblt_symbol {
	uint8_t id[RIBLT_ID];
	uint32_t sum;
	uint8_t count;
};

/* One set member with its position in its index sequence. */
struct riblt_item {
	uint8_t id[RIBLT_ID];
	uint32_t sum;           /* keyed checksum */
	uint64_t seed;          /* start of the index generator */
	uint64_t prng;          /* generator state */
	uint64_t next;          /* next symbol index this item adds to */
};

/* Checksum and generator seed of an ID under key. */
void riblt_hash(uint32_t *sum, uint64_t *seed, const uint8_t id[RIBLT_ID],
    const uint8_t key[RIBLT_KEY]);

/* Prepare one item: hash it and rewind its index sequence to symbol 0. */
void riblt_item_init(struct riblt_item *it, const uint8_t id[RIBLT_ID],
    const uint8_t key[RIBLT_KEY]);

/* Rewind an item to symbol 0. */
void riblt_item_rewind(struct riblt_item *it);

/* Move an item to its next index. */
void riblt_item_advance(struct riblt_item *it);

/*
 * An encoder over a caller-owned array of items (all made with the same key). It
 * produces any range of symbols; ranges asked in increasing, contiguous order cost
 * only the new mappings, an earlier range rewinds every item first.
 */
struct riblt_encoder {
	struct riblt_item *items;
	size_t n;
	uint64_t pos;           /* every item's next index is >= pos */
};

void riblt_encoder_init(struct riblt_encoder *e, struct riblt_item *items, size_t n);

/* Fill out[0..count) with symbols start..start+count-1. MESH_EINVAL if the range
 * reaches RIBLT_INDEX_END. */
int riblt_encoder_symbols(struct riblt_encoder *e, uint64_t start, size_t count,
    struct riblt_symbol *out);

/* XOR / add item (sign +1) or remove it (sign -1) into a symbol. */
void riblt_symbol_apply(struct riblt_symbol *s, const uint8_t id[RIBLT_ID], uint32_t sum,
    int sign);

/* 1 if every field is zero. */
int riblt_symbol_zero(const struct riblt_symbol *s);

void riblt_symbol_put(struct wire *w, const struct riblt_symbol *s);
void riblt_symbol_get(struct wire *w, struct riblt_symbol *s);

/*
 * The decoder. It owns the residual symbols (peer's minus ours) and the items peeled
 * so far; `local` is our own encoder, borrowed for the decoder's lifetime and advanced
 * by it.
 */
struct riblt_decoder {
	uint8_t key[RIBLT_KEY];
	struct riblt_encoder *local;
	struct riblt_symbol *res;       /* residual symbols [0, n) */
	size_t n, cap;
	struct riblt_item *dec;         /* peeled items, positioned at n */
	int8_t *sign;                   /* +1: only the peer has it; -1: only we have it */
	size_t ndec, capdec;
	size_t max_decoded;             /* refuse to peel more than this (hostile input) */
	size_t raw_empty;               /* symbols past 0 that were empty before peeling */
	uint32_t *stack;                /* symbols to re-examine */
	size_t nstack, capstack;
	int failed;                     /* ran out of memory or over max_decoded */
};

/* max_decoded bounds what a hostile peer can make us peel (0: no bound). */
void riblt_decoder_init(struct riblt_decoder *d, const uint8_t key[RIBLT_KEY],
    struct riblt_encoder *local, size_t max_decoded);
void riblt_decoder_free(struct riblt_decoder *d);

/*
 * Add the peer's symbols n..n+count-1 (they must follow on from what was added) and
 * peel. MESH_ENOMEM, or MESH_EINVAL when more than max_decoded items would come out
 * or the index range ends; the decoder is then failed for good.
 */
int riblt_decoder_add(struct riblt_decoder *d, const struct riblt_symbol *sym, size_t count);

/* 1 when the difference is complete: residual symbol 0 is empty. */
int riblt_decoder_done(const struct riblt_decoder *d);

/*
 * An estimate of the size of the whole difference, from the number of symbols that
 * were empty before any peeling (index i is empty with probability (1-p_i)^d,
 * p_i = 1/(1+i/2), so d is the value whose expected count of empty symbols matches
 * the observed one). -1 when no symbol past symbol 0 was empty yet, so the data only
 * says "many".
 */
double riblt_decoder_estimate(const struct riblt_decoder *d);

#endif
