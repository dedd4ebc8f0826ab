/*
 * Group commit (store_group_begin): the daemon's one transaction per loop turn. Each
 * caller's store_begin()/store_commit() nests inside it; only store_group_commit()
 * makes anything durable, and a caller's rollback undoes only its own part.
 */
#include "../test.h"

#include <stdint.h>
#include <stdlib.h>
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

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_group_nests),
		TEST(test_group_rollback),
	};
	char cmd[300];
	int rc;

	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(dbpath, sizeof dbpath, "%s/store.db", tmpdir);
	rc = test_main("group", cases, sizeof cases / sizeof cases[0], argc, argv);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
