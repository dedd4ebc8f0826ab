/*
 * Link sessions: the key schedule and the three-frame handshake (docs/protocol.md,
 * 15.2). The comments here say why the code does what it does.
 */
#include "session_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- key schedule ---------------- */

static void
transcript(uint8_t th[APAGON_HASH], const uint8_t *data, size_t len)
{
	uint8_t out[APAGON_HASH];

	crypto_hash_ctx2(out, sizeof out, APAGON_CTX_LINK_TRANSCRIPT, th, APAGON_HASH, data, len,
	    NULL, 0);
	memcpy(th, out, APAGON_HASH);
	sodium_memzero(out, sizeof out);
}

static void
kdf(uint8_t out[APAGON_KEY], const char *ctx, uint8_t label, const uint8_t th[APAGON_HASH],
    const uint8_t *key, size_t keylen)
{
	crypto_hash_ctx2(out, APAGON_KEY, ctx, &label, 1, th, APAGON_HASH, key, keylen);
}

/* The network's link key: only members hold the network key it comes from. */
void
sess_link_psk(uint8_t psk[APAGON_KEY], const struct netkeys *nk)
{
	uint8_t k[2 * APAGON_KEY];

	memcpy(k, nk->hp_key, APAGON_KEY);
	memcpy(k + APAGON_KEY, nk->tag_key, APAGON_KEY);
	crypto_hash_ctx(psk, APAGON_KEY, APAGON_CTX_LINK_PSK, nk->network_id, APAGON_HASH, k, sizeof k);
	sodium_memzero(k, sizeof k);
}

/* hs_secret from the DH result and the network key, bound to the transcript so far. */
static int
handshake_secret(struct session *s, const uint8_t peer_e[APAGON_DH_PK])
{
	uint8_t ikm[APAGON_KEY * 2];
	int rc;

	rc = crypto_dh_shared(ikm, s->e_sk, peer_e);
	/* Forward secrecy: the ephemeral secret is never needed again. */
	sodium_memzero(s->e_sk, sizeof s->e_sk);
	if (rc != 0) {
		sodium_memzero(ikm, sizeof ikm);
		return MESH_EDECRYPT;
	}
	memcpy(ikm + APAGON_KEY, s->psk, APAGON_KEY);
	crypto_hash_ctx(s->hs_secret, APAGON_KEY, APAGON_CTX_LINK_HS_KEY, s->th, APAGON_HASH, ikm,
	    sizeof ikm);
	sodium_memzero(ikm, sizeof ikm);
	return MESH_OK;
}

/* Traffic keys from the whole transcript; hs_secret is wiped. */
static void
traffic_keys(struct session *s)
{
	uint8_t master[APAGON_KEY], i2r[APAGON_KEY], r2i[APAGON_KEY];

	kdf(master, APAGON_CTX_LINK_TRAFFIC, 'M', s->th, s->hs_secret, APAGON_KEY);
	kdf(i2r, APAGON_CTX_LINK_TRAFFIC, 'i', s->th, master, APAGON_KEY);
	kdf(r2i, APAGON_CTX_LINK_TRAFFIC, 'r', s->th, master, APAGON_KEY);
	crypto_hash_ctx(s->riblt_key, RIBLT_KEY, APAGON_CTX_LINK_RIBLT, s->th, APAGON_HASH, master,
	    APAGON_KEY);
	memcpy(s->k_tx, s->cfg.initiator ? i2r : r2i, APAGON_KEY);
	memcpy(s->k_rx, s->cfg.initiator ? r2i : i2r, APAGON_KEY);
	sodium_memzero(master, sizeof master);
	sodium_memzero(i2r, sizeof i2r);
	sodium_memzero(r2i, sizeof r2i);
	sodium_memzero(s->hs_secret, sizeof s->hs_secret);
}
/* ---------------- handshake ---------------- */

static int
revoked_cb(void *ctx, const uint8_t subject[APAGON_SIGN_PK], const uint8_t issuer[APAGON_SIGN_PK])
{
	struct session *s = ctx;
	struct store *st = s->cfg.ax->st;

	if (store_is_revoked(st, subject, NULL) <= 0)
		return 0;
	return store_is_revoked(st, subject, issuer) > 0 ||
	    store_is_revoked(st, subject, s->cfg.ax->nk->authority_pk) > 0;
}

/* Encrypted body of HS2/HS3: chain length, chain, signature by the leaf over
 * role || transcript-with-chain. Updates s->th past the chain and the signature. */
static int
seal_identity(struct session *s, uint8_t *out, size_t cap, size_t *outlen, uint8_t role,
    const uint8_t key[APAGON_KEY], const uint8_t *ad, size_t adlen)
{
	uint8_t body[HS_BODY_MAX];
	int clen = chain_encode(body + 2, APAGON_CHAIN_MAX, s->cfg.chain);
	size_t blen;

	if (clen < 0)
		return clen;
	body[0] = (uint8_t)(clen >> 8);
	body[1] = (uint8_t)clen;
	transcript(s->th, body + 2, (size_t)clen);
	crypto_sign_ctx(body + 2 + clen, APAGON_CTX_LINK_SIG, &role, 1, s->th, APAGON_HASH,
	    s->cfg.sk);
	transcript(s->th, body + 2 + clen, APAGON_SIG);
	blen = 2 + (size_t)clen + APAGON_SIG;
	if (blen + APAGON_TAG > cap)
		return MESH_EINVAL;
	crypto_aead_seal(out, body, blen, ad, adlen, key);
	*outlen = blen + APAGON_TAG;
	return MESH_OK;
}

/* Open and check the peer's identity body: decrypt, decode the chain, verify it
 * against the network and our revocations, check the signature. */
static int
open_identity(struct session *s, const uint8_t *c, size_t clen, uint8_t role,
    const uint8_t key[APAGON_KEY], const uint8_t *ad, size_t adlen, uint64_t now_ms)
{
	uint8_t body[HS_BODY_MAX], th[APAGON_HASH];
	struct chain ch;
	struct wire w;
	const uint8_t *chain_bytes, *sig;
	size_t blen, chlen;
	const struct cert *leaf;
	int rc;

	if (clen < APAGON_TAG + 2 + APAGON_SIG || clen - APAGON_TAG > sizeof body)
		return MESH_EDECODE;
	blen = clen - APAGON_TAG;
	if (crypto_aead_open(body, c, clen, ad, adlen, key) != 0)
		return MESH_EDECRYPT;
	wire_reader(&w, body, blen);
	chlen = wire_get_u16(&w);
	chain_bytes = wire_get_ref(&w, chlen);
	sig = wire_get_ref(&w, APAGON_SIG);
	if (!wire_ok(&w) || wire_left(&w) != 0 || !chain_bytes || !sig)
		return MESH_EDECODE;
	if (chain_decode(&ch, chain_bytes, chlen) != MESH_OK)
		return MESH_ECHAIN;
	leaf = &ch.c[ch.n - 1];
	if (memcmp(leaf->subject, s->cfg.pk, APAGON_SIGN_PK) == 0)
		return SESSION_EPEER;
	rc = chain_verify(&ch, s->cfg.ax->nk->network_id, s->cfg.ax->nk->authority_pk,
	    (uint32_t)(now_ms / 1000), s->cfg.ax->skew, revoked_cb, s);
	if (rc != MESH_OK)
		return rc;
	memcpy(th, s->th, APAGON_HASH);
	transcript(th, chain_bytes, chlen);
	if (crypto_verify_ctx(sig, APAGON_CTX_LINK_SIG, &role, 1, th, APAGON_HASH, leaf->subject) != 0)
		return MESH_ESIGNATURE;
	transcript(th, sig, APAGON_SIG);
	memcpy(s->th, th, APAGON_HASH);
	memcpy(s->peer_pk, leaf->subject, APAGON_SIGN_PK);
	s->peer_chain = ch;
	s->peer_known = 1;
	return MESH_OK;
}

int
sess_on_hs1(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t mac[16], k2[APAGON_KEY], *out;
	size_t clen;
	int rc;

	if (s->cfg.initiator || len != HS1_LEN || f[1] != HS_VERSION)
		return MESH_EDECODE;
	crypto_hash_ctx(mac, sizeof mac, APAGON_CTX_LINK_HELLO, f, 2 + APAGON_DH_PK, s->psk,
	    APAGON_KEY);
	if (sodium_memcmp(mac, f + 2 + APAGON_DH_PK, sizeof mac) != 0)
		return MESH_ENETWORK;
	if (s->hs != HS_WAIT_HS1) {
		/* The same HS1 again: our HS2 was lost; send the same bytes back. A new one
		 * before we are open means the initiator started over. Once open, neither
		 * changes anything (a restarted peer opens a new session). */
		if (memcmp(f, s->hs1, HS1_LEN) == 0) {
			if (s->hs == HS_WAIT_HS3)
				s->hs_send = FR_HS2;
			return MESH_OK;
		}
		if (s->hs != HS_WAIT_HS3)
			return MESH_EDUPLICATE;
	}
	memcpy(s->hs1, f, HS1_LEN);
	memset(s->th, 0, sizeof s->th);
	transcript(s->th, f, HS1_LEN);
	crypto_dh_keygen(s->e_pk, s->e_sk);
	transcript(s->th, s->e_pk, APAGON_DH_PK);
	if ((rc = handshake_secret(s, f + 2)) != MESH_OK)
		return rc;
	kdf(k2, APAGON_CTX_LINK_HS_KEY, 'R', s->th, s->hs_secret, APAGON_KEY);
	free(s->hs2);
	if (!(s->hs2 = out = malloc(1 + APAGON_DH_PK + HS_BODY_MAX + APAGON_TAG))) {
		sodium_memzero(k2, sizeof k2);
		return MESH_ENOMEM;
	}
	out[0] = FR_HS2;
	memcpy(out + 1, s->e_pk, APAGON_DH_PK);
	rc = seal_identity(s, out + 1 + APAGON_DH_PK, HS_BODY_MAX + APAGON_TAG, &clen, 'R', k2,
	    out, 1 + APAGON_DH_PK);
	sodium_memzero(k2, sizeof k2);
	if (rc != MESH_OK)
		return rc;
	s->hs2_len = 1 + APAGON_DH_PK + clen;
	s->hs = HS_WAIT_HS3;
	s->hs_send = FR_HS2;
	(void)now_ms;
	return MESH_OK;
}

int
sess_on_hs2(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t k[APAGON_KEY], th_save[APAGON_HASH], *out;
	size_t clen;
	int rc;

	if (!s->cfg.initiator || len < 1 + APAGON_DH_PK)
		return MESH_EDECODE;
	if (s->hs != HS_WAIT_HS2)
		return MESH_EDUPLICATE;
	/* Work on a copy of the transcript: a forged HS2 must not disturb the real one. */
	memcpy(th_save, s->th, sizeof th_save);
	memset(s->th, 0, sizeof s->th);
	transcript(s->th, s->hs1, HS1_LEN);
	transcript(s->th, f + 1, APAGON_DH_PK);
	{
		uint8_t esk[APAGON_DH_SK];

		/* handshake_secret wipes e_sk; keep it until this HS2 proves genuine. */
		memcpy(esk, s->e_sk, sizeof esk);
		rc = handshake_secret(s, f + 1);
		memcpy(s->e_sk, esk, sizeof esk);
		sodium_memzero(esk, sizeof esk);
	}
	if (rc != MESH_OK)
		goto bad;
	kdf(k, APAGON_CTX_LINK_HS_KEY, 'R', s->th, s->hs_secret, APAGON_KEY);
	rc = open_identity(s, f + 1 + APAGON_DH_PK, len - 1 - APAGON_DH_PK, 'R', k, f,
	    1 + APAGON_DH_PK, now_ms);
	sodium_memzero(k, sizeof k);
	if (rc == MESH_EDECRYPT || rc == MESH_EDECODE)
		goto bad;       /* not from the responder we talk to: ignore it */
	if (rc != MESH_OK) {
		/* It decrypted, so its sender holds the network key and answered our HS1,
		 * but its identity is unacceptable (revoked, expired, not from this
		 * authority, ourselves). Anyone with the network key who sees an HS1 can
		 * answer it: closing here would let a revoked member stop every handshake
		 * it can observe. Ignore it and keep waiting for the genuine answer; the
		 * reason is kept for the close at hs_timeout_ms. */
		s->hs_refused = rc;
		s->st.hs_refused++;
		goto bad;
	}
	sodium_memzero(s->e_sk, sizeof s->e_sk);
	kdf(k, APAGON_CTX_LINK_HS_KEY, 'I', s->th, s->hs_secret, APAGON_KEY);
	free(s->hs3);
	if (!(s->hs3 = out = malloc(1 + HS_BODY_MAX + APAGON_TAG))) {
		sodium_memzero(k, sizeof k);
		sess_close_with(s, MESH_ENOMEM);
		return MESH_ENOMEM;
	}
	out[0] = FR_HS3;
	rc = seal_identity(s, out + 1, HS_BODY_MAX + APAGON_TAG, &clen, 'I', k, out, 1);
	sodium_memzero(k, sizeof k);
	if (rc != MESH_OK) {
		sess_close_with(s, rc);
		return rc;
	}
	s->hs3_len = 1 + clen;
	traffic_keys(s);
	s->hs = HS_CONFIRM;
	s->hs_send = FR_HS3;
	s->hs_retry_cur = s->cfg.hs_retry_ms;
	s->hs_retry_at = now_ms + s->hs_retry_cur;
	return MESH_OK;
bad:
	sodium_memzero(s->hs_secret, sizeof s->hs_secret);
	memcpy(s->th, th_save, sizeof th_save);
	s->peer_known = 0;
	return rc;
}

void
sess_open_session(struct session *s, uint64_t now_ms)
{
	s->state = SESSION_OPEN;
	s->hs = HS_DONE;
	s->hs_send = 0;
	s->last_rx = now_ms;
	sess_push_for_peer(s, now_ms);
	if (s->cfg.initiator)
		sess_start_round(s, now_ms);         /* reconcile at once */
}

int
sess_on_hs3(struct session *s, const uint8_t *f, size_t len, uint64_t now_ms)
{
	uint8_t k[APAGON_KEY];
	int rc;

	if (s->cfg.initiator || len < 1)
		return MESH_EDECODE;
	if (s->hs == HS_DONE) {
		/* Our first data frame was lost and the initiator repeats HS3: answer it. */
		if (s->hs3 && len == s->hs3_len && memcmp(f, s->hs3, len) == 0) {
			s->need_ping = 1;
			return MESH_OK;
		}
		return MESH_EDUPLICATE;
	}
	if (s->hs != HS_WAIT_HS3)
		return MESH_EDECODE;
	kdf(k, APAGON_CTX_LINK_HS_KEY, 'I', s->th, s->hs_secret, APAGON_KEY);
	{
		uint8_t th_save[APAGON_HASH];

		memcpy(th_save, s->th, sizeof th_save);
		rc = open_identity(s, f + 1, len - 1, 'I', k, f, 1, now_ms);
		if (rc != MESH_OK)
			memcpy(s->th, th_save, sizeof th_save);
	}
	sodium_memzero(k, sizeof k);
	if (rc == MESH_EDECRYPT || rc == MESH_EDECODE)
		return rc;
	if (rc != MESH_OK) {
		/* The initiator of this handshake is unacceptable. It may not be the peer
		 * this session is for (on a shared bearer a member with the network key can
		 * inject an HS1 of its own), so do not close: a genuine HS1 restarts the
		 * handshake, and hs_timeout_ms closes it with this reason otherwise. */
		s->hs_refused = rc;
		s->st.hs_refused++;
		return rc;
	}
	free(s->hs3);
	if ((s->hs3 = malloc(len))) {
		memcpy(s->hs3, f, len);
		s->hs3_len = len;
	}
	traffic_keys(s);
	free(s->hs2);
	s->hs2 = NULL;
	sess_open_session(s, now_ms);
	/* Key confirmation for the initiator: our first data frame. */
	s->need_ping = 1;
	return MESH_OK;
}
