/*
 * Link sessions for a node: the glue between a struct node and mesh/session.h.
 * The session borrows the node's acceptance context, identity and chain, so the node
 * must outlive every session made here.
 */
#ifndef APAGON_LINK_H
#define APAGON_LINK_H

#include <stdint.h>

#include "node.h"
#include "../mesh/session.h"

/*
 * A new session on one link of node n. tmpl (may be NULL) supplies the timers,
 * max_frame and callbacks; its ax, pk, sk, chain and initiator fields are ignored.
 * NODE_ENOTENROLLED before enrollment; *out is NULL on failure.
 */
int node_link_session(struct node *n, int initiator, const struct session_config *tmpl,
    uint64_t now_ms, struct session **out);

/* A bundle reached a peer's store (the session's `acked` callback). Our message:
 * counted in the outbox ("sent to N peers"). A message or receipt we carried for
 * that peer: dropped, with a tombstone (it reached the node it was for). */
void node_link_acked(struct node *n, const uint8_t id[APAGON_HASH],
    const uint8_t peer_pk[APAGON_SIGN_PK]);

#endif
