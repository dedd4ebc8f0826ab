/* Bluetooth discovery tokens (bt_token.h). */
#include "bt_token.h"

#include <string.h>

#include <sodium.h>

#include "../mesh/wire.h"

uint64_t
bt_token_epoch(int64_t unix_s)
{
	return unix_s < 0 ? 0 : (uint64_t)unix_s / BT_TOKEN_EPOCH_S;
}

void
bt_token_make(uint8_t tok[BT_TOKEN_LEN], const uint8_t netkey[APAGON_KEY], uint64_t epoch,
    const uint8_t salt[BT_TOKEN_SALT])
{
	uint8_t in[8 + BT_TOKEN_SALT], h[16];

	for (int i = 0; i < 8; i++)
		in[i] = (uint8_t)(epoch >> (56 - 8 * i));
	memcpy(in + 8, salt, BT_TOKEN_SALT);
	crypto_hash_ctx(h, sizeof h, APAGON_CTX_BT_TOKEN, in, sizeof in, netkey, APAGON_KEY);
	memcpy(tok, salt, BT_TOKEN_SALT);
	memcpy(tok + BT_TOKEN_SALT, h, BT_TOKEN_LEN - BT_TOKEN_SALT);
	sodium_memzero(h, sizeof h);
}

int
bt_token_check(const uint8_t tok[BT_TOKEN_LEN], const uint8_t netkey[APAGON_KEY], int64_t now_s)
{
	int delta;

	return bt_token_match(tok, netkey, now_s, &delta);
}

int
bt_token_match(const uint8_t tok[BT_TOKEN_LEN], const uint8_t netkey[APAGON_KEY],
    int64_t now_s, int *delta)
{
	uint64_t e = bt_token_epoch(now_s);
	int ok = 0;

	for (uint64_t d = 0; d < 3; d++) {
		uint8_t want[BT_TOKEN_LEN];

		if (e + d < 1)
			continue;       /* epoch - 1 does not exist at epoch 0 */
		bt_token_make(want, netkey, e + d - 1, tok);
		if (sodium_memcmp(want + BT_TOKEN_SALT, tok + BT_TOKEN_SALT,
		    BT_TOKEN_LEN - BT_TOKEN_SALT) == 0) {
			ok = 1;
			*delta = (int)d - 1;
		}
	}
	return ok;
}

void
bt_adv_build(uint8_t out[BT_ADV_LEN], const uint8_t tok[BT_TOKEN_LEN])
{
	out[0] = BT_ADV_LEN - 1;
	out[1] = BT_AD_MANUFACTURER;
	out[2] = BT_AD_COMPANY & 0xff;  /* little-endian, as the Core Specification's
	                                   company identifiers */
	out[3] = BT_AD_COMPANY >> 8;
	memcpy(out + 4, tok, BT_TOKEN_LEN);
}

int
bt_adv_find(const uint8_t *data, size_t len, uint8_t tok[BT_TOKEN_LEN])
{
	struct wire w;
	int found = 0;

	wire_reader(&w, data, len);
	while (wire_left(&w) > 0) {
		uint8_t n = wire_get_u8(&w);
		const uint8_t *v;

		if (n == 0)
			break;          /* the significant part ends (Core Vol 3 Part C 11) */
		if ((v = wire_get_ref(&w, n)) == NULL || !wire_ok(&w))
			return -1;
		if (!found && n == BT_ADV_LEN - 1 && v[0] == BT_AD_MANUFACTURER &&
		    v[1] == (BT_AD_COMPANY & 0xff) && v[2] == (BT_AD_COMPANY >> 8)) {
			memcpy(tok, v + 3, BT_TOKEN_LEN);
			found = 1;
		}
	}
	return found;
}
