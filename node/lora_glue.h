/*
 * The daemon's side of broadcast bearers (transport.h's `bundle` and `each_bundle`
 * events): a bundle heard on LoRa enters the store through the same acceptance path
 * as one from a link session, and reaches the node's other links the same way.
 */
#ifndef APAGON_LORA_GLUE_H
#define APAGON_LORA_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

/* ev.bundle: ctx is the struct daemon. TRANSPORT_BUNDLE_*, -EAGAIN (sender not known
 * yet), -EPERM (refused: the reason is counted by the acceptance path), -EIO (store). */
int lora_glue_bundle(void *ctx, struct transport *t, const uint8_t *buf, size_t len,
    int *prec);

/* ev.each_bundle: every live bundle of the store, highest precedence first. */
void lora_glue_each_bundle(void *ctx, struct transport *t,
    void (*fn)(void *fctx, const uint8_t *buf, size_t len, int prec, int flags), void *fctx);

#endif
