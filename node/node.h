/*
 * node/: a member's node on disk, and the network authority's office.
 *
 * A node directory holds:
 *   identity.key   the Ed25519 identity seed, sealed under the passphrase
 *   apagon.db      the store (mesh/store.h): bundles, members, prekeys, messages
 * An authority directory holds:
 *   authority.key  the authority's Ed25519 seed, sealed (Argon2id moderate)
 *   apagon.db      a store used as the register of issued certificates
 *
 * This layer reads the clock and files; everything below it does not. The CLI (tools/)
 * and, later, the daemon are thin shells around these calls. Functions return 0 or a
 * negative MESH_E*, NODE_CRYPTO_ERR(CRYPTO_E*) or NODE_SYS_ERR(errno) code;
 * node_strerror() names all three.
 */
#ifndef APAGON_NODE_H
#define APAGON_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "../mesh/accept.h"
#include "../mesh/bundle.h"
#include "../mesh/cert.h"
#include "../mesh/files.h"
#include "../mesh/mesh.h"
#include "../mesh/store.h"

#define NODE_PREKEY_PERIOD   (7 * 86400)    /* rotate prekeys weekly */
#define NODE_PREKEY_GRACE    (14 * 86400)   /* keep a retired secret this long */
#define NODE_PREKEY_LIFETIME (NODE_PREKEY_PERIOD + NODE_PREKEY_GRACE)
#define NODE_DEFAULT_LIFETIME (7 * 86400)   /* messages */
/* Certificates may not outlive their revocation bundle, whose lifetime is the
 * longest a lifetime code expresses (63 weeks): so 441 days at most. */
#define NODE_CERT_MAX_DAYS   441
/* Store quotas (mesh/store.h): room for a week of heavy traffic on a small board,
 * and no single member may take more than a sixteenth of it. */
#define NODE_QUOTA_TOTAL     (256LL << 20)
#define NODE_QUOTA_SENDER    (16LL << 20)

/* Error text for any code this layer returns. */
const char *node_strerror(int err);

/* CRYPTO_E* and errno codes travel through node/ shifted away from MESH_E*. */
#define NODE_CRYPTO_ERR(e) ((e) - 100)
#define NODE_SYS_ERR(e)    (-1000 - (e))
#define NODE_ENOTENROLLED  (-900)   /* no enrollment file imported yet */
#define NODE_EWRONGFILE    (-901)   /* a request file where an import was expected */
#define NODE_ESELF         (-902)   /* sending to ourselves */

/* The current time, Unix seconds. APAGON_FAKE_TIME overrides it for tests. */
int64_t node_now(void);

/* Read a whole file (at most `max` bytes) into a malloc'd buffer. */
int node_read_file(const char *path, uint8_t **buf, size_t *len, size_t max);
/* Write a file atomically (temp file, fsync, rename) with the given mode. */
int node_write_file(const char *path, const uint8_t *buf, size_t len, int mode);

/* ---------------- a member's node ---------------- */

struct node;

/*
 * Create a node directory: a fresh identity sealed under `passphrase` (NULL with
 * strength KEYFILE_NONE) and an empty store remembering `name`. Fails if
 * the directory already holds an identity
 * (NODE_SYS_ERR(EEXIST)).
 */
int node_init(const char *dir, const char *name, const char *passphrase,
    enum keyfile_strength strength);

/* Open and unlock a node. *out is NULL on failure (CRYPTO_EPASS: wrong passphrase). */
int node_open(struct node **out, const char *dir, const char *passphrase);
/* Close and wipe every secret held in memory. */
void node_close(struct node *);

struct store *node_store(struct node *);
/* Identity and enrollment. network is NULL until an enrollment file was imported. */
const uint8_t *node_pk(const struct node *);
const char *node_name(const struct node *);
const struct netkeys *node_netkeys(const struct node *);       /* NULL if not enrolled */
const char *node_network_name(const struct node *);            /* NULL if not enrolled */
/* Own certificate chain, or NULL if not enrolled. */
const struct chain *node_chain(const struct node *);

/* Write the enrollment request for this node. Returns the length or an error. */
int node_request(struct node *, uint8_t *out, size_t cap);

/*
 * Housekeeping, run by every verb: re-publish our CERT bundle when it nears expiry,
 * rotate the prekey when it is older than NODE_PREKEY_PERIOD (publishing a PREKEY
 * bundle), retry deliveries that waited for a sender's prekey, delete retired prekey
 * secrets after NODE_PREKEY_GRACE, expire outbox messages, and garbage-collect
 * expired bundles.
 */
int node_maintain(struct node *, int64_t now);

/*
 * Receipts (docs/protocol.md, 10.3). A message taken in owes its sender a receipt;
 * with a delay of 0 (the default) it is written in the transaction that took the
 * message in. With a delay of `seconds`, it waits in the store so that one receipt
 * names up to 32 of a sender's messages: node_receipts_flush() writes them once no
 * message has come to owe one for that long, or a sender's oldest has waited five
 * times that (all of them if `all`), in a transaction of its own, and tells in
 * *made (may be NULL) how many receipts it wrote and the IDs of the first ones, for
 * the links to offer at once. node_receipts_due_at() says when the next one is due
 * (node clock), 0 when none is owed; node_maintain() writes those owed since before a
 * restart.
 */
#define NODE_RECEIPTS_MADE_MAX 16
struct node_receipts_made {
	int n;                                          /* receipts written */
	int kept;                                       /* the first ones, below */
	uint8_t id[NODE_RECEIPTS_MADE_MAX][APAGON_HASH];
	int precedence[NODE_RECEIPTS_MADE_MAX];
};
void node_set_receipt_delay(struct node *, int seconds);
int64_t node_receipts_due_at(const struct node *);
int node_receipts_flush(struct node *, int64_t now, int all, struct node_receipts_made *made);

/* One item of an import, reported as it is decided. */
struct import_item {
	int index;              /* 1-based position in the file */
	int reason;             /* MESH_OK or why it was refused */
	int type;               /* bundle type, or -1 (enrollment: -2) */
	uint8_t id[APAGON_HASH];
	const char *what;       /* short description: "message from alice", ... */
	int key_conflict;       /* a second key now answers to this member's name */
};

struct import_summary {
	int accepted, rejected, duplicates;
	int delivered;          /* messages for us now in the inbox */
	int receipts;           /* our messages now marked delivered */
};

/*
 * Import a file of any kind: an enrollment file (for this node), or a bundle file
 * (export, revocation). Every bundle goes through the acceptance path; the whole file
 * is committed at once. fn (may be NULL) sees every item. Returns 0 when everything
 * was accepted or already held, MESH_E* of the first refusal otherwise (the good
 * bundles are kept either way), or an error for the file as a whole.
 */
int node_import(struct node *, const uint8_t *buf, size_t len, int64_t now,
    void (*fn)(void *, const struct import_item *), void *ctx, struct import_summary *sum);

/*
 * Export every live bundle into a bundle file, public ones first so the file is
 * self-contained: own certificate, other certificates, revocations, prekeys, then
 * everything else, highest precedence first. With `path`, the file is
 * written there (mode 0600, atomically) before anything is marked; outbox messages
 * it carries then count as handed on once more. *buf is malloc'd (may be NULL if the
 * caller does not want it).
 */
int node_export(struct node *, int64_t now, const char *path, uint8_t **buf, size_t *len,
    int *count);

/* Resolve "name" or a hex key ID / key prefix (at least 6 hex digits) to a member.
 * MESH_EAMBIGUOUS lists candidates through fn (may be NULL). */
int node_resolve(struct node *, const char *who, uint8_t pk[APAGON_SIGN_PK],
    void (*fn)(void *, const struct member *), void *ctx);

/* Seal and store a text message. lifetime in seconds (0: default). */
int node_send(struct node *, const uint8_t to_pk[APAGON_SIGN_PK], int precedence,
    const char *text, uint32_t lifetime, int64_t now, uint8_t id[APAGON_HASH]);

/* A message as the user sees it; text is decrypted in memory only. */
struct node_msg {
	const struct msg_rec *rec;
	const char *peer_name;          /* from the roster; "?" if unknown */
	const char *text;               /* NUL-terminated, or NULL if it cannot be read */
	int key_verified;               /* the user compared safety numbers with the peer */
};
/* Every message in the inbox passed the acceptance path: its signature and the
 * sender's certificate chain were checked before it was stored. */

/* Each inbox / outbox message, oldest first. Marks inbox messages read. */
int node_inbox(struct node *, void (*fn)(void *, const struct node_msg *), void *ctx);
int node_outbox(struct node *, void (*fn)(void *, const struct node_msg *), void *ctx);

/* State of a message in words: "queued", "sent to 2 peers", "exported", "sent to 1 peer,
 * exported 2 times", "delivered", "expired: <reason>"; inbox: "unread", "read". buf
 * should hold 96 bytes. */
const char *node_msg_state(const struct msg_rec *m, char *buf, size_t cap);

/* Each member in the roster, with a revoked flag. */
struct node_member {
	const struct member *m;
	int revoked;
	int is_me;
	int has_prekey;
	int name_shared;        /* another key carries the same name (never silently replaced) */
};
int node_roster(struct node *, void (*fn)(void *, const struct node_member *), void *ctx);

/* Safety number between this node and pk. */
int node_safety_number(struct node *, const uint8_t pk[APAGON_SIGN_PK],
    char out[APAGON_SAFETY_DIGITS + 1]);

/* Mark a member verified (after comparing safety numbers) or not. */
int node_set_verified(struct node *, const uint8_t pk[APAGON_SIGN_PK], int verified);

/* Each counter (accepted, rejected.<reason>, ...). */
int node_counters(struct node *, void (*fn)(void *, const char *, int64_t), void *ctx);

/* Hex helpers: key IDs and bundle IDs as users see them. out must hold 2*len+1. */
void node_hex(char *out, const uint8_t *in, size_t len);

/* free() that first zeroes the whole block (glibc's malloc_usable_size): for heap
 * memory that held a message's text. */
void node_free_wiped(void *p);

/* ---------------- the network authority, and enrollers ---------------- */

struct issuer;

/* Create an authority directory for network `name`. */
int authority_init(const char *dir, const char *name, const char *passphrase,
    enum keyfile_strength strength);

/*
 * Open an issuer: either an authority directory (authority.key) or a node directory
 * whose node holds an enroller certificate. *out is NULL on failure.
 */
int issuer_open(struct issuer **out, const char *dir, const char *passphrase);
void issuer_close(struct issuer *);
int issuer_is_authority(const struct issuer *);
const struct network_desc *issuer_network(const struct issuer *);

/*
 * Issue a certificate for a request and encode the enrollment file into out. An
 * enroller may only issue members of its own unit (unit NULL means its own); the
 * authority issues members or enrollers of any unit. days: validity, 1..NODE_CERT_MAX_DAYS (0: 365).
 * Returns the file's length, or MESH_EINVAL (bad days/unit), MESH_ECHAIN (outside
 * the enroller's powers), MESH_EREVOKED (the key was revoked), a decode error.
 */
int issuer_enroll(struct issuer *, const uint8_t *req, size_t reqlen, int role,
    const char *unit, int days, int64_t now, uint8_t *out, size_t cap,
    struct cert *issued);

/*
 * Revoke a member: `who` is a request file's key, or NULL with `subject` set. Writes a
 * bundle file with one REVOKE bundle. *buf is malloc'd.
 */
int issuer_revoke(struct issuer *, const uint8_t subject[APAGON_SIGN_PK], const char *reason,
    int64_t now, uint8_t **buf, size_t *len);

/* Resolve a name or hex ID among the certificates this issuer has issued. */
int issuer_resolve(struct issuer *, const char *who, uint8_t pk[APAGON_SIGN_PK]);

#endif
