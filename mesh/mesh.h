/*
 * mesh/: the sans-I/O core. Wire formats, the acceptance path and the SQLite store.
 * It never touches the network, never reads the clock (time comes in as `now`, in
 * Unix seconds) and never logs: it returns MESH_E* codes and bumps counters.
 */
#ifndef APAGON_MESH_H
#define APAGON_MESH_H

#include <stddef.h>

/*
 * Error codes. The first block doubles as the acceptance path's rejection reasons
 * (docs/protocol.md, "Acceptance"): each has a short name, used as the counter name
 * in the store and in the CLI's output.
 */
enum mesh_err {
	MESH_OK = 0,
	MESH_ESIZE = -1,        /* "size": shorter than a bundle can be, or over the limit */
	MESH_EDECODE = -2,      /* "decode": fields out of range, bad version, bad lengths */
	MESH_ENETWORK = -3,     /* "network": the network tag is not ours */
	MESH_ESIGNATURE = -4,   /* "signature": the sender's signature does not verify */
	MESH_EUNKNOWN = -5,     /* "unknown-sender": no certificate for the sender's key */
	MESH_ECHAIN = -6,       /* "certificate": chain broken, forged, or out of policy */
	MESH_EEXPIRED = -7,     /* "expired": certificate or bundle lifetime is over */
	MESH_EREVOKED = -8,     /* "revoked": the sender or an issuer is revoked */
	MESH_EQUOTA = -9,       /* "quota": no room for this sender or in total */
	MESH_EDUPLICATE = -10,  /* "duplicate": already held (or already delivered) */

	MESH_ESTORE = -20,      /* SQLite failed; nothing was committed */
	MESH_ENOMEM = -21,
	MESH_EINVAL = -22,      /* bad argument from the caller */
	MESH_ENOTFOUND = -23,   /* no such record */
	MESH_EAMBIGUOUS = -24,  /* a name matches more than one member */
	MESH_ENOPREKEY = -25,   /* no usable prekey for the recipient yet */
	MESH_EDECRYPT = -26,    /* a bundle addressed to us does not open */
	MESH_ESCHEMA = -27,     /* the store was written by a newer apagon */
	MESH_ETOOBIG = -28,     /* the text does not fit in one bundle */
};

/* Human text for a MESH_E* code. Never NULL. */
const char *mesh_strerror(int err);

/* Short, stable name of a rejection reason ("signature", "quota", ...). */
const char *mesh_reason_name(int err);

/* Make room for `need` elements of `size` bytes in the array *p of capacity *cap,
 * doubling from `first`: 0, or -1 when out of memory or the size would overflow (then
 * *p and *cap are unchanged). */
int mesh_grow(void **p, size_t *cap, size_t need, size_t size, size_t first);

#endif
