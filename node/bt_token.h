/*
 * Bluetooth discovery tokens (docs/bluetooth.md; docs/protocol.md "Bluetooth"):
 * what a node advertises so that members of its network find it without pairing,
 * while a stranger's scanner sees only random bytes.
 *
 *   0          8                     16
 *   +----------+---------------------+
 *   | salt (8) | tag (8)             |
 *   +----------+---------------------+
 *   epoch = floor(unix_seconds / BT_TOKEN_EPOCH_S)
 *   tag   = first 8 bytes of H(APAGON_CTX_BT_TOKEN, epoch (8, BE) || salt,
 *                              key = network key)
 *
 * A node draws a fresh random salt every epoch (and at start), so one device's
 * tokens are unlinkable across epochs, two devices of one network never show the
 * same bytes, and without the network key a token cannot be told from random or
 * tied to a network. A scanner accepts the epochs before and after its own too:
 * clocks drift in a blackout (no NTP, no GPS). A replayed token only makes us try
 * a connection, whose membership handshake then fails.
 *
 * The token rides in one advertising-data structure, manufacturer-specific data
 * under the Bluetooth SIG's company ID 0xFFFF (reserved for tests and internal use,
 * so it names no vendor):
 *
 *   0     1      2          4
 *   +-----+------+----------+------------+
 *   | 19  | 0xFF | FF FF    | token (16) |
 *   +-----+------+----------+------------+
 *   length, AD type, company ID (LE), token: 20 of the 31 bytes of legacy advertising
 */
#ifndef APAGON_BT_TOKEN_H
#define APAGON_BT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"

#define BT_TOKEN_LEN      16
#define BT_TOKEN_SALT     8
#define BT_TOKEN_EPOCH_S  (15 * 60)
#define BT_AD_MANUFACTURER 0xFF
#define BT_AD_COMPANY     0xFFFF
#define BT_ADV_LEN        (4 + BT_TOKEN_LEN)

/* The epoch of a Unix time (negative times count as epoch 0). */
uint64_t bt_token_epoch(int64_t unix_s);

/* The token for `epoch` with this salt. */
void bt_token_make(uint8_t tok[BT_TOKEN_LEN], const uint8_t netkey[APAGON_KEY],
    uint64_t epoch, const uint8_t salt[BT_TOKEN_SALT]);

/* 1 if tok was made with this network key in the epoch of now_s or one next to it;
 * else 0. Constant-time in the tag. */
int bt_token_check(const uint8_t tok[BT_TOKEN_LEN], const uint8_t netkey[APAGON_KEY],
    int64_t now_s);

/* The same, and which epoch matched in *delta: -1 the previous, 0 the current, 1 the
 * next (left alone when none did). All three are always computed. */
int bt_token_match(const uint8_t tok[BT_TOKEN_LEN], const uint8_t netkey[APAGON_KEY],
    int64_t now_s, int *delta);

/* Write the advertising data carrying tok: BT_ADV_LEN bytes. */
void bt_adv_build(uint8_t out[BT_ADV_LEN], const uint8_t tok[BT_TOKEN_LEN]);

/*
 * Look through received advertising data (a sequence of length-type-value AD
 * structures, as in mgmt's Device Found event) for our structure. 1 and tok filled
 * if found; 0 if the data is well-formed but holds none; -1 if malformed (a length
 * running past the end). Never reads outside data[0..len).
 */
int bt_adv_find(const uint8_t *data, size_t len, uint8_t tok[BT_TOKEN_LEN]);

#endif
