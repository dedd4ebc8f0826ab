/*
 * For unit tests that build real nodes on real SQLite files in a scratch directory:
 * paths in it, enrolment through an issuer, and carrying one node's export to
 * another. Include after test.h and node/node.h.
 */
#ifndef APAGON_TEST_NODES_H
#define APAGON_TEST_NODES_H

#include <stdio.h>
#include <stdlib.h>

/* DIR/name, in one of four rotating buffers (so a call can take two paths). */
static inline char *
test_path(const char *dir, const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

/* A new node DIR/name, enrolled through `is` and holding its enrollment. */
static inline struct node *
test_enrol(const char *dir, struct issuer *is, const char *name, int role, const char *unit,
    int days, int64_t now)
{
	uint8_t req[APAGON_REQUEST_MAX], file[APAGON_ENROLLMENT_MAX];
	struct node *n = NULL;
	int rlen, flen;

	CHECK_EQ(node_init(test_path(dir, name), name, NULL, KEYFILE_NONE), 0);
	CHECK_EQ(node_open(&n, test_path(dir, name), NULL), 0);
	if (!n)
		return NULL;
	rlen = node_request(n, req, sizeof req);
	CHECK(rlen > 0);
	flen = issuer_enroll(is, req, (size_t)rlen, role, unit, days, now, file, sizeof file, NULL);
	CHECK(flen > 0);
	if (flen > 0)
		CHECK_EQ(node_import(n, file, (size_t)flen, now, NULL, NULL, NULL), 0);
	return n;
}

/* from's export imported into to; node_import's result. */
static inline int
test_carry(struct node *from, struct node *to, int64_t now)
{
	uint8_t *buf;
	size_t len;
	int rc;

	CHECK_EQ(node_export(from, now, NULL, &buf, &len, NULL), 0);
	rc = node_import(to, buf, len, now, NULL, NULL, NULL);
	free(buf);
	return rc;
}

#endif
