/*
 * A test fixture: one sealed 1:1 MSG bundle of random text, from a fresh sender to
 * a fresh recipient, built by the real mesh/bundle.c code. For the LoRa unit tests
 * and bench (the air overhead, the header a transport can read).
 */
#ifndef APAGON_TESTS_SEALED_MSG_H
#define APAGON_TESTS_SEALED_MSG_H

#include <string.h>

#include <sodium.h>

#include "../crypto/crypto.h"
#include "../mesh/bundle.h"

/* Writes the bundle to out (cap bytes) and the ends' key IDs to hdr->sender and
 * hdr->recipient. Returns its length, or a negative MESH_E*. */
static inline int
sealed_msg(uint8_t *out, size_t cap, size_t textlen, const struct netkeys *nk,
    struct bundle_hdr *h)
{
	uint8_t apk[32], ask[64], bpk[32], bsk[64], appk[32], apsk[32], bppk[32], bpsk[32];
	uint8_t text[1024];
	struct seal_keys ks;
	int len;

	if (textlen > sizeof text)
		return -1;
	crypto_sign_keygen(apk, ask);
	crypto_sign_keygen(bpk, bsk);
	crypto_dh_keygen(appk, apsk);
	crypto_dh_keygen(bppk, bpsk);
	randombytes_buf(text, textlen);
	memset(h, 0, sizeof *h);
	h->type = BUNDLE_MSG;
	crypto_key_id(h->sender, apk);
	crypto_key_id(h->recipient, bpk);
	h->created = 1767225600u;
	h->lifetime = lifetime_code(86400);
	bundle_hdr_salt(h);
	memset(&ks, 0, sizeof ks);
	ks.sender_pk = apk;
	ks.recipient_pk = bpk;
	ks.my_prekey_sk = apsk;
	ks.sender_prekey_pk = appk;
	ks.recipient_prekey_pk = bppk;
	len = bundle_build_sealed(out, cap, h, text, textlen, &ks, nk, ask);
	sodium_memzero(ask, sizeof ask);
	sodium_memzero(bsk, sizeof bsk);
	sodium_memzero(apsk, sizeof apsk);
	sodium_memzero(bpsk, sizeof bpsk);
	return len;
}

#endif
