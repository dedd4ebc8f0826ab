/*
 * Link sessions for a node (link.h).
 */
#include "link.h"
#include "node_internal.h"

#include <string.h>

static void
acked_default(void *ctx, const uint8_t id[APAGON_HASH], const uint8_t peer_pk[APAGON_SIGN_PK])
{
	node_link_acked(ctx, id, peer_pk);
}

int
node_link_session(struct node *n, int initiator, const struct session_config *tmpl,
    uint64_t now_ms, struct session **out)
{
	struct session_config cfg;

	*out = NULL;
	if (!n->enrolled)
		return NODE_ENOTENROLLED;
	memset(&cfg, 0, sizeof cfg);
	if (tmpl)
		cfg = *tmpl;
	else {
		cfg.acked = acked_default;
		cfg.cb_ctx = n;
	}
	cfg.initiator = initiator;
	cfg.ax = &n->ax;
	cfg.pk = n->pk;
	cfg.sk = n->sk;
	cfg.chain = &n->enr.chain;
	return session_new(out, &cfg, now_ms);
}

struct keyid_count {
	uint8_t pk[APAGON_SIGN_PK];
	int same, others;
};

static int
count_keyid(void *ctx, const struct member *m)
{
	struct keyid_count *kc = ctx;

	if (memcmp(m->pk, kc->pk, APAGON_SIGN_PK) == 0)
		kc->same++;
	else
		kc->others++;
	return 0;
}

/*
 * The peer holds a bundle we sent it. Our own message: one more peer it was sent to.
 * A sealed bundle we carry for that very peer (a relayed message, a receipt we made
 * for it): it has reached the node it was for, so we let it go, keeping a tombstone.
 * Otherwise it would be offered to that peer again at every meeting until it
 * expires, since the peer keeps only a tombstone of it, and tombstones are not in
 * the reconciliation sets. Our own messages stay pinned until their receipt.
 */
void
node_link_acked(struct node *n, const uint8_t id[APAGON_HASH],
    const uint8_t peer_pk[APAGON_SIGN_PK])
{
	struct stored_bundle sb;
	struct msg_rec rec;
	struct keyid_count kc = { .same = 0 };
	uint8_t kid[APAGON_KEYID];

	if (store_get_msg_brief(n->st, id, &rec) == MESH_OK && rec.dir == MSG_OUT) {
		store_msg_add_sent(n->st, id, 1, 0);
		return;
	}
	if (peer_pk == NULL || store_get_bundle_brief(n->st, id, &sb) != MESH_OK ||
	    sb.pinned || !bundle_type_sealed(sb.type))
		return;
	crypto_key_id(kid, peer_pk);
	if (memcmp(sb.recipient, kid, APAGON_KEYID) != 0)
		return;
	/* Bundles name their recipient by a 6-byte key ID: if another member ever shared
	 * the peer's (a ground collision), it could make us drop that member's mail.
	 * Let go only when the peer is the one member we know with it. */
	memcpy(kc.pk, peer_pk, APAGON_SIGN_PK);
	if (store_members_by_keyid(n->st, kid, count_keyid, &kc) < 0 || kc.same != 1 ||
	    kc.others != 0)
		return;
	store_purge_bundle(n->st, id);
}
