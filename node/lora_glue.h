/*
 * The daemon's side of broadcast bearers (transport.h's `bundle` and `each_bundle`
 * events): a bundle heard on LoRa enters the store through the same acceptance path
 * as one from a link session, and reaches the node's other links the same way.
 */
#ifndef APAGON_LORA_GLUE_H
#define APAGON_LORA_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include "../mesh/ratelimit.h"
#include "transport.h"

/* A per-sender limit on what a broadcast bearer takes in (docs/lora.md "Rate limit"):
 * the token buckets of mesh/ratelimit.h, the mechanism link sessions use, with the
 * bearer's own rates. A bundle over its sender's limit is dropped before its signature
 * is checked, counted, and logged (at most one line every 10 s). */
struct lora_sender_limit {
	struct ratelimit rl;
	int64_t dropped;                /* bundles dropped over their sender's limit */
	int64_t unlogged;               /* of those, not yet in a log line */
	uint64_t last_log_ms;
};

/* The transport's limit table, or NULL when `t` is not a LoRa transport. Defined in
 * transport_lora.c. */
struct lora_sender_limit *transport_lora_limit(struct transport *t);

/* ev.bundle: ctx is the struct daemon. TRANSPORT_BUNDLE_*, -EAGAIN (sender not known
 * yet), -EBUSY (over its sender's rate limit: not now), -EPERM (refused: the reason is
 * counted by the acceptance path), -EIO (store). */
int lora_glue_bundle(void *ctx, struct transport *t, const uint8_t *buf, size_t len,
    int *prec);

/* ev.each_bundle: every live bundle of the store, highest precedence first. */
void lora_glue_each_bundle(void *ctx, struct transport *t,
    void (*fn)(void *fctx, const uint8_t *buf, size_t len, int prec, int flags), void *fctx);

#endif
