/*
 * What the store's unit tests share: a temporary directory of real SQLite files,
 * synthetic bundles and a way to read a value straight from a file. Include after
 * test.h, once per test program.
 */
#ifndef APAGON_STORE_FIXTURE_H
#define APAGON_STORE_FIXTURE_H

#include <dirent.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../mesh/bundle.h"
#include "../../mesh/mesh.h"
#include "../../mesh/store.h"

static char tmpdir[] __attribute__((unused)) = "/tmp/apagon-store-XXXXXX";

static inline void
path_of(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static inline struct store *
open_named(const char *name)
{
	struct store *s = NULL;
	char path[256];
	int rc;

	path_of(path, sizeof path, name);
	rc = store_open(&s, path);
	CHECK_EQ(rc, MESH_OK);
	return s;
}

static inline void
fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

/* A bundle whose ID is (tag, tag, ...), from sender (sender, ...). */
static inline void
mk_bundle(struct stored_bundle *sb, uint8_t tag, uint8_t sender, int type, int prec,
    int64_t expires_at, const uint8_t *raw, size_t raw_len)
{
	memset(sb, 0, sizeof *sb);
	fill(sb->id, sizeof sb->id, tag);
	fill(sb->sender_pk, sizeof sb->sender_pk, sender);
	fill(sb->recipient, sizeof sb->recipient, 0xee);
	sb->type = (uint8_t)type;
	sb->precedence = (uint8_t)prec;
	sb->created = 1000;
	sb->stored_at = 1000 + tag;
	sb->expires_at = expires_at;
	sb->raw = raw;
	sb->raw_len = raw_len;
}

static inline int
has(struct store *s, uint8_t tag)
{
	uint8_t id[APAGON_HASH];

	fill(id, sizeof id, tag);
	return store_has_bundle(s, id);
}

/* Put a bundle of `size` bytes through make_room + put in one transaction. */
static inline int
admit(struct store *s, uint8_t tag, uint8_t sender, int type, int prec, int64_t exp,
    size_t size)
{
	static uint8_t raw[4096];
	struct stored_bundle sb;
	int rc;

	memset(raw, tag, size);
	mk_bundle(&sb, tag, sender, type, prec, exp, raw, size);
	if ((rc = store_begin(s)) != MESH_OK)
		return rc;
	rc = store_make_room(s, sb.sender_pk, prec, exp, size);
	if (rc == MESH_OK)
		rc = store_put_bundle(s, &sb);
	if (rc == MESH_OK)
		rc = store_commit(s);
	else
		store_rollback(s);
	return rc;
}

static inline int64_t
sql_int(const char *name, const char *query)
{
	char path[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	path_of(path, sizeof path, name);
	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, query, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}


static inline int
setup(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

static inline void
teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}


#endif
