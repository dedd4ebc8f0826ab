/*
 * The LoRa air format (docs/protocol.md section 18, docs/lora.md): what one LoRa frame
 * of at most 255 bytes carries. Pure code: no I/O, no clock, no logging.
 *
 * Byte 0 holds the kind in its two high bits; the rest depends on the kind:
 *
 *   BUNDLE  (00)  a whole bundle of up to 255 bytes. Byte 0 replaces the bundle's own
 *                 hops byte (hops 0..63 in its low 6 bits), so the frame is exactly
 *                 as long as the bundle: a 140-byte text is 247 bytes on air.
 *
 *     0        1                                         len
 *     +--------+-----------------------------------------+
 *     |00 hops | bundle bytes 1..len-1 (tag, header, body, signature)
 *     +--------+-----------------------------------------+
 *
 *   FRAG    (01)  one piece of a longer bundle (bytes 1.. of it, cut in pieces of at
 *                 most LORA_FRAG_PAYLOAD), authenticated on its own:
 *
 *     0        1              5      6      7             n-8          n
 *     +--------+--------------+------+------+-------------+------------+
 *     |01 hops | air ID (4)   | idx  | count| piece       | MAC (8)    |
 *     +--------+--------------+------+------+-------------+------------+
 *
 *   DIGEST  (10)  air IDs of bundles the sender holds:  10 000000 | n x ID (4) | MAC (8)
 *   REQUEST (11)  air IDs the sender lacks:             11 000000 | n x ID (4) | MAC (8)
 *   ROUTED  (10 000001)  a whole bundle of up to 254 bytes sent toward its recipient:
 *                 only nodes at most `left` hops from the recipient relay it. One
 *                 byte longer than a BUNDLE frame:
 *
 *     0          1               2                                  len
 *     +----------+---------------+----------------------------------+
 *     | 10000001 | left(4) hops(4)| bundle bytes 1..len-2            |
 *     +----------+---------------+----------------------------------+
 *
 * MAC = first 8 bytes of H("apagon/v1/lora-mac", key = k_lora, frame bytes before the
 * MAC), k_lora = H("apagon/v1/lora-key", key = network key). A whole BUNDLE frame has
 * no MAC: the bundle's network tag and signature, checked by the acceptance path,
 * already authenticate it, and its hops byte is outside every signature by design.
 * air ID = first 4 bytes of H("apagon/v1/lora-air-id", bundle bytes 1..len-1): the
 * same for every copy whatever its hop count.
 */
#ifndef APAGON_LORA_AIR_H
#define APAGON_LORA_AIR_H

#include <stddef.h>
#include <stdint.h>

#define LORA_FRAME_MAX     255
#define LORA_MAC           8
#define LORA_AIRID         4
#define LORA_HOPS_MAX      63
#define LORA_FRAG_HDR      7
#define LORA_FRAG_PAYLOAD  (LORA_FRAME_MAX - LORA_FRAG_HDR - LORA_MAC)   /* 240 */
#define LORA_FRAGS_MAX     16
/* The largest bundle the bearer carries: its hops byte plus 16 full pieces. */
#define LORA_BUNDLE_MAX    (1 + LORA_FRAGS_MAX * LORA_FRAG_PAYLOAD)      /* 3841 */
/* IDs in one DIGEST or REQUEST frame (kept small: a digest is ~ a tenth of a bundle). */
#define LORA_IDS_MAX       12
/* A ROUTED frame: byte 0, then left and hops in 4 bits each, then the bundle. */
#define LORA_ROUTED_B0     0x81
#define LORA_ROUTED_MAX    15                   /* largest hops and left */
#define LORA_ROUTED_BUNDLE (LORA_FRAME_MAX - 1) /* largest bundle: 254 bytes */

enum lora_kind {
	LORA_K_BUNDLE = 0,
	LORA_K_FRAG = 1,
	LORA_K_DIGEST = 2,
	LORA_K_REQUEST = 3,
	LORA_K_ROUTED = 4,      /* decoded kind only: on air 10 000001 */
};

enum lora_air_err {
	LORA_OK = 0,
	LORA_ESHORT = -1,       /* shorter than its kind's smallest frame */
	LORA_EMAC = -2,         /* MAC does not verify: not from this network, or damaged */
	LORA_EFORMAT = -3,      /* a field out of range (idx >= count, count > 16, ...) */
	LORA_ETOOBIG = -4,      /* bundle larger than LORA_BUNDLE_MAX */
};

const char *lora_air_strerror(int err);

/* k_lora from the network key (APAGON_KEY bytes). Wipe it with sodium_memzero. */
void lora_air_key(uint8_t k[32], const uint8_t *network_key);

/* The air ID of a bundle of len >= 2 bytes. */
void lora_air_id(uint8_t id[LORA_AIRID], const uint8_t *bundle, size_t len);

/* Frames needed for a bundle: 1 if it fits whole, else the fragment count, or 0 if
 * it is too big (or shorter than 2 bytes). */
int lora_air_frames(size_t bundle_len);

/*
 * Frame `i` (0 .. lora_air_frames()-1) of a bundle, relayed with hop count `hops`
 * (saturated at 63). Returns its length (<= 255), or a negative LORA_E*.
 */
int lora_air_encode(uint8_t out[LORA_FRAME_MAX], const uint8_t *bundle, size_t len, int hops,
    int i, const uint8_t k[32]);

/*
 * A ROUTED frame of a bundle of 91..254 bytes, with its hop count and the relays it
 * may still take toward its recipient (both 0..15). Returns its length (bundle
 * length + 1) or LORA_EFORMAT / LORA_ETOOBIG.
 */
int lora_air_encode_routed(uint8_t out[LORA_FRAME_MAX], const uint8_t *bundle, size_t len,
    int hops, int left);

/* A DIGEST or REQUEST frame of n (1..LORA_IDS_MAX) IDs. Returns its length. */
int lora_air_encode_ids(uint8_t out[LORA_FRAME_MAX], int kind,
    const uint8_t (*ids)[LORA_AIRID], int n, const uint8_t k[32]);

/* One decoded frame; pointers borrow the input. */
struct lora_frame {
	int kind;
	int hops;
	int left;                       /* ROUTED: relays it may still take */
	const uint8_t *data;            /* BUNDLE, ROUTED: bundle bytes 1..; FRAG: the piece;
	                                   DIGEST/REQUEST: n x 4 ID bytes */
	size_t len;
	uint8_t id[LORA_AIRID];         /* BUNDLE, ROUTED (computed), FRAG (carried) */
	int idx, count;                 /* FRAG */
	int nids;                       /* DIGEST, REQUEST */
};

/* Parse and authenticate one received frame. LORA_OK or a negative LORA_E*. */
int lora_air_decode(struct lora_frame *f, const uint8_t *buf, size_t len, const uint8_t k[32]);

/* ---- reassembly of fragmented bundles ---- */

#define LORA_REASM_SLOTS 8

struct lora_reasm {
	struct lora_slot {
		uint8_t id[LORA_AIRID];
		int count, have, hops, used;
		uint32_t got;                   /* bitmap of pieces held */
		size_t last_len;                /* length of the last piece */
		uint64_t touched_ms;
		uint8_t buf[LORA_BUNDLE_MAX];
	} slot[LORA_REASM_SLOTS];
	uint64_t timeouts, evicted, inconsistent;
};

/*
 * Add a decoded FRAG. Returns 1 when the bundle is complete: *out points at it (hops
 * byte first, set from the fragments), *outlen its length, valid until the next call.
 * 0 while incomplete, LORA_EFORMAT for a piece that contradicts earlier ones (count,
 * a non-final piece shorter than full). Slots idle past max_age_ms are reused first;
 * when all are busy the oldest is dropped (counted).
 */
int lora_reasm_add(struct lora_reasm *r, const struct lora_frame *f, uint64_t now_ms,
    uint64_t max_age_ms, const uint8_t **out, size_t *outlen);

/* Drop any partial bundle with this ID (it arrived some other way). */
void lora_reasm_forget(struct lora_reasm *r, const uint8_t id[LORA_AIRID]);

#endif
