/*
 * Link sessions for a node (link.h).
 */
#include "link.h"
#include "node_internal.h"

#include <string.h>

static void
acked_default(void *ctx, const uint8_t id[APAGON_HASH])
{
	node_link_acked(ctx, id);
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

void
node_link_acked(struct node *n, const uint8_t id[APAGON_HASH])
{
	struct msg_rec rec;

	if (store_get_msg_brief(n->st, id, &rec) != MESH_OK || rec.dir != MSG_OUT)
		return;
	store_msg_add_sent(n->st, id, 1, 0);
}
