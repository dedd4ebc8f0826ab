/*
 * Files that travel by hand: enrollment requests, enrollment files and bundle files
 * (exports, revocations). Each starts with a 4-byte magic and a version byte, so
 * `apagon import` can tell them apart (docs/protocol.md, "Files").
 *
 * Request:     "APGQ" 01 | subject key(32) | name len(1) | name | signature(64)
 *              (self-signed: proves the requester holds the key)
 * Enrollment:  "APGE" 01 | network name len(1) | name | authority key(32) |
 *              network key(32) | chain (see cert.h)
 * Bundle file: "APGB" 01 | { length(2) | bundle }*   until the end of the file
 */
#ifndef APAGON_FILES_H
#define APAGON_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "wire.h"

enum file_kind {
	FILE_UNKNOWN = 0,
	FILE_REQUEST,
	FILE_ENROLLMENT,
	FILE_BUNDLES,
};

/* What kind of apagon file this is, from its magic and version. */
enum file_kind file_detect(const uint8_t *buf, size_t len);

struct enroll_request {
	uint8_t pk[APAGON_SIGN_PK];
	char name[APAGON_NAME_MAX + 1];
	uint8_t sig[APAGON_SIG];
};
#define APAGON_REQUEST_MAX (5 + 32 + 1 + APAGON_NAME_MAX + 64)

/* Sign (with the subject's key) and encode. Returns the length or MESH_EINVAL. */
int request_encode(uint8_t *out, size_t cap, struct enroll_request *r,
    const uint8_t sk[APAGON_SIGN_SK]);
/* Decode and check the self-signature: MESH_OK, MESH_EDECODE or MESH_ESIGNATURE. */
int request_decode(struct enroll_request *r, const uint8_t *buf, size_t len);

struct network_desc {
	char name[APAGON_NAME_MAX + 1];
	uint8_t authority_pk[APAGON_SIGN_PK];
	uint8_t network_key[APAGON_KEY];        /* secret: members only */
};

struct enrollment {
	struct network_desc net;
	struct chain chain;
};
#define APAGON_ENROLLMENT_MAX (5 + 1 + APAGON_NAME_MAX + 64 + APAGON_CHAIN_MAX)

int enrollment_encode(uint8_t *out, size_t cap, const struct enrollment *e);
/* Structure only; the caller verifies the chain against e->net. */
int enrollment_decode(struct enrollment *e, const uint8_t *buf, size_t len);

#define APAGON_BUNDLEFILE_HDR 5
/* Write the 5-byte bundle-file header. */
void bundlefile_header(uint8_t out[APAGON_BUNDLEFILE_HDR]);
/* Start reading a bundle file: MESH_OK or MESH_EDECODE (wrong magic). */
int bundlefile_reader(struct wire *w, const uint8_t *buf, size_t len);
/*
 * Next bundle: 1 with *p and *len set, 0 at a clean end, MESH_EDECODE if the file is cut
 * inside a record (everything before it is still usable).
 */
int bundlefile_next(struct wire *w, const uint8_t **p, size_t *len);

#endif
