/*
 * Group commit (store_group_begin): the daemon's one transaction per loop turn. Each
 * caller's store_begin()/store_commit() nests inside it; only store_group_commit()
 * makes anything durable, and a caller's rollback undoes only its own part.
 */
#include "../test.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../mesh/mesh.h"
#include "../../mesh/store.h"

static char tmpdir[] = "/tmp/apagon-group-XXXXXX";
static char dbpath[256];

static int
has(struct store *s, const char *key)
{
	uint8_t v[8];
	size_t len;

	return store_meta_get(s, key, v, sizeof v, &len) == MESH_OK;
}

/* A second connection sees only what is committed. */
static int
committed(const char *key)
{
	struct store *o = NULL;
	int r;

	if (store_open(&o, dbpath) != MESH_OK)
		return -1;
	r = has(o, key);
	store_close(o);
	return r;
}

static void
test_group_nests(void)
{
	struct store *s = NULL;

	CHECK_EQ(store_open(&s, dbpath), MESH_OK);
	CHECK_EQ(store_group_begin(s), MESH_OK);
	CHECK_EQ(store_group_begin(s), MESH_EINVAL);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_meta_set(s, "a", (const uint8_t *)"1", 1), MESH_OK);
	CHECK_EQ(store_commit(s), MESH_OK);
	/* A caller's commit inside the group is not durable yet. */
	CHECK_EQ(committed("a"), 0);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_meta_set(s, "b", (const uint8_t *)"1", 1), MESH_OK);
	store_rollback(s);
	/* Its rollback undid only its own part. */
	CHECK(has(s, "a"));
	CHECK(!has(s, "b"));
	CHECK_EQ(store_group_commit(s), MESH_OK);
	CHECK_EQ(committed("a"), 1);
	CHECK_EQ(committed("b"), 0);
	/* After the group, store_begin() is a transaction of its own again. */
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_meta_set(s, "c", (const uint8_t *)"1", 1), MESH_OK);
	CHECK_EQ(store_commit(s), MESH_OK);
	CHECK_EQ(committed("c"), 1);
	store_close(s);
}

static void
test_group_rollback(void)
{
	struct store *s = NULL;

	CHECK_EQ(store_open(&s, dbpath), MESH_OK);
	CHECK_EQ(store_group_begin(s), MESH_OK);
	CHECK_EQ(store_begin(s), MESH_OK);
	CHECK_EQ(store_meta_set(s, "d", (const uint8_t *)"1", 1), MESH_OK);
	CHECK_EQ(store_commit(s), MESH_OK);
	store_group_rollback(s);
	CHECK(!has(s, "d"));
	CHECK_EQ(committed("d"), 0);
	store_close(s);
}

/*
 * The group's transaction begins at its first statement: a turn that never touches
 * the store holds no write lock and commits nothing (the daemon begins a group at
 * every wake-up, most of them for a socket ready for more output).
 */
static void
test_group_lazy(void)
{
	struct store *s = NULL, *o = NULL;

	CHECK_EQ(store_open(&s, dbpath), MESH_OK);
	CHECK_EQ(store_open(&o, dbpath), MESH_OK);
	CHECK_EQ(store_group_begin(s), MESH_OK);
	/* No lock yet: another connection writes at once (it would wait for the busy
	 * timeout, then fail, behind a BEGIN IMMEDIATE). */
	CHECK_EQ(store_meta_set(o, "f", (const uint8_t *)"1", 1), MESH_OK);
	CHECK_EQ(store_group_commit(s), MESH_OK);
	/* The first statement opens it; what follows is in it, and durable at the end. */
	CHECK_EQ(store_group_begin(s), MESH_OK);
	CHECK(has(s, "f"));
	CHECK_EQ(store_meta_set(s, "g", (const uint8_t *)"1", 1), MESH_OK);
	CHECK_EQ(committed("g"), 0);
	CHECK_EQ(store_group_commit(s), MESH_OK);
	CHECK_EQ(committed("g"), 1);
	store_close(o);
	store_close(s);
}

/*
 * Nothing of the store leaves its directory: the statement journal a nested
 * transaction needs once it grows past SQLite's spill size (64 KiB) stays in memory,
 * not in a temporary file under /var/tmp or $SQLITE_TMPDIR, where pages of the store
 * (member names, message metadata) would outlive the process in freed blocks of
 * another file system, and each commit would pay for the extra writes.
 */
static void
test_group_no_temp_files(void)
{
	char tdir[256], key[16];
	uint8_t v[1024];
	struct store *s = NULL;
	char evbuf[4096];
	int fd, wd;
	ssize_t n;

	/* main() pointed SQLITE_TMPDIR here before SQLite first initialised. */
	snprintf(tdir, sizeof tdir, "%s/sqlite-tmp", tmpdir);
	fd = inotify_init1(IN_NONBLOCK);
	CHECK(fd >= 0);
	wd = inotify_add_watch(fd, tdir, IN_CREATE);
	CHECK(wd >= 0);

	CHECK_EQ(store_open(&s, dbpath), MESH_OK);
	memset(v, 'x', sizeof v);
	CHECK_EQ(store_begin(s), MESH_OK);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "t%03d", i);
		CHECK_EQ(store_meta_set(s, key, v, sizeof v), MESH_OK);
	}
	CHECK_EQ(store_commit(s), MESH_OK);
	/* Rewrite every page of them inside a nested transaction: ~200 KiB journaled. */
	memset(v, 'y', sizeof v);
	CHECK_EQ(store_group_begin(s), MESH_OK);
	CHECK_EQ(store_begin(s), MESH_OK);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "t%03d", i);
		CHECK_EQ(store_meta_set(s, key, v, sizeof v), MESH_OK);
	}
	store_rollback(s);
	CHECK_EQ(store_group_commit(s), MESH_OK);
	store_close(s);

	n = read(fd, evbuf, sizeof evbuf);
	CHECK(n < 0);           /* no IN_CREATE event: no temporary file was made */
	close(fd);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_group_nests),
		TEST(test_group_rollback),
		TEST(test_group_lazy),
		TEST(test_group_no_temp_files),
	};
	char cmd[300];
	int rc;

	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(dbpath, sizeof dbpath, "%s/store.db", tmpdir);
	snprintf(cmd, sizeof cmd, "%s/sqlite-tmp", tmpdir);
	if (mkdir(cmd, 0700) != 0 || setenv("SQLITE_TMPDIR", cmd, 1) != 0)
		return 1;
	rc = test_main("group", cases, sizeof cases / sizeof cases[0], argc, argv);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
