/*
 * The acceptance path: the one door through which every bundle enters a store, from
 * a file today and from every link later. Checks run in this order, and the first
 * failure names the reason (docs/protocol.md, "Acceptance"):
 *
 *   1 size   2 decode   3 network   4 duplicate   5 signature
 *   6 certificate chain and validity   7 revocation   8 quota
 *
 * Step 2 reads only the version before step 3, because the other header fields are
 * masked under the network's key. A bundle already held (or tombstoned) is a
 * duplicate before any public-key work: its ID covers all its signed bytes, and
 * nothing of it is stored or forwarded.
 *
 * A bundle is accepted only when the transaction holding it commits: callers group
 * bundles between accept_begin() and accept_commit(), and each bundle runs inside its
 * own SAVEPOINT, so one bad bundle never undoes its neighbours.
 */
#ifndef APAGON_ACCEPT_H
#define APAGON_ACCEPT_H

#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "cert.h"
#include "mesh.h"
#include "store.h"

/* Default clock-skew allowance: one hour (docs/protocol.md, "Time"). */
#define APAGON_DEFAULT_SKEW 3600

struct accept_result;

/*
 * Called for a verified MSG or RECEIPT addressed to this node, inside the transaction.
 * It may write to the store (inbox record, receipt). A negative return is recorded in
 * the result's `local` field; the bundle itself stays accepted, since it is valid
 * network traffic. A hook that took the bundle in whole (nothing left to do with it
 * later) sets res->consumed: then no row is written for it, only its tombstone.
 * Otherwise the row is written after the hook returns, in the same savepoint; the
 * hook must not rely on the row (for an own bundle, ax->own, it is written first).
 */
typedef int (*deliver_fn)(void *ctx, const struct bundle *b,
    const uint8_t sender_pk[APAGON_SIGN_PK], int64_t now, struct accept_result *res);

/*
 * Called with commit=1 by accept_flush() (so by accept_commit()) inside the open
 * transaction, before the counters are written, and with commit=0 by accept_begin()
 * and accept_rollback(). The node uses it to make the batch's receipts, which then
 * commit together with the messages they name, or not at all. A negative return
 * fails the flush (and the commit).
 */
typedef int (*batch_end_fn)(void *ctx, int commit);

#define ACCEPT_CACHE 16

struct accept_ctx {
	struct store *st;
	const struct netkeys *nk;
	uint32_t skew;                          /* seconds of clock skew tolerated */
	const uint8_t *my_pk;                   /* NULL for a node that only relays */
	deliver_fn deliver;
	void *deliver_ctx;
	batch_end_fn batch_end;                 /* optional; gets deliver_ctx */
	int own;                                /* set while the node stores its own bundles */
	/* Set only around accept_bundle() on a bundle this process has just built and signed
	 * with the key my_pk: step 4 then takes my_pk as the signer without checking the
	 * signature again (every other check still runs). Never set for bundles that came
	 * from a link, a file or another process. Ignored for CERT bundles and for any
	 * bundle whose sender key ID is not my_pk's. */
	int own_signed;

	/* Private to accept.c. Senders whose chains verified (cleared by every CERT or
	 * REVOKE applied, by a rollback, and by accept_begin when another connection
	 * wrote to the store since the last batch), and counters not yet written. */
	struct accept_sender {
		uint8_t key_id[APAGON_KEYID];
		uint8_t pk[APAGON_SIGN_PK];
		struct chain ch;
		int64_t verified_at, valid_until;
		int used;
	} cache[ACCEPT_CACHE];
	int cache_next;
	int64_t cache_version;                  /* the store's data_version they hold for */
	int cache_version_ok;
	int64_t pending[MESH_EDUPLICATE * -1 + 1]; /* [0] accepted, [-reason] rejected */
};

struct accept_result {
	int reason;                             /* MESH_OK or the rejection reason */
	uint8_t id[APAGON_HASH];                /* valid once decoded */
	int type;                               /* bundle type, -1 before decode */
	int precedence;                         /* valid once decoded */
	uint8_t sender_pk[APAGON_SIGN_PK];      /* valid from the signature step on */
	int for_me;                             /* addressed to this node */
	int local;                              /* deliver hook's result (0 if not run) */
	int consumed;                           /* the hook took it in whole: no row, a tombstone */
	int key_conflict;                       /* CERT: a different key already has this name */
	int64_t expires_at;
};

/* Open the transaction for a batch. */
int accept_begin(struct accept_ctx *ax);
/* Commit: only now are the batch's bundles accepted. MESH_ESTORE if the commit failed,
 * in which case none of them is. */
int accept_commit(struct accept_ctx *ax);
/* Write the batch's counters into the open transaction (accept_commit does it too;
 * callers that commit the store themselves call this first). */
int accept_flush(struct accept_ctx *ax);
void accept_rollback(struct accept_ctx *ax);

/*
 * Run one bundle through the checks and, if it passes, store it and apply its effect
 * (member, prekey, revocation, delivery). Each rejection bumps the counter
 * "rejected.<reason>"; each acceptance "accepted". Returns res->reason.
 * MESH_ESTORE means SQLite failed: the caller should roll back the batch.
 */
int accept_bundle(struct accept_ctx *ax, const uint8_t *buf, size_t len, int64_t now,
    struct accept_result *res);
/* The same for bytes the caller has just decoded itself: `id` is the ID
 * bundle_decode() gave for exactly these bytes (see bundle_decode_known). */
int accept_bundle_known(struct accept_ctx *ax, const uint8_t *buf, size_t len,
    const uint8_t id[APAGON_HASH], int64_t now, struct accept_result *res);

/* 1 if any link of the chain is revoked by its issuer or by the authority. */
int accept_chain_revoked(struct store *st, const uint8_t authority_pk[APAGON_SIGN_PK],
    const struct chain *ch);

/*
 * When a bundle from `created` with lifetime `life` (seconds) received at `now` stops
 * being kept here. Clocks are not trusted: the sender's deadline counts only within
 * `skew` of our clock, and no node keeps a bundle longer than its lifetime from the
 * moment it arrived (docs/protocol.md, "Time").
 */
int64_t accept_expiry(uint32_t created, uint32_t life, int64_t now, uint32_t skew);

/* Look up the sender of a decoded bundle: its key and, unless it is the authority,
 * its chain. For tests and tools. */
int accept_find_sender(struct accept_ctx *ax, const struct bundle *b,
    uint8_t pk[APAGON_SIGN_PK], struct chain *ch, int *is_authority);

#endif
