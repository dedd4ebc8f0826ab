/*
 * Corpus replay: a plain main() for a libFuzzer harness, built with gcc + ASan/UBSan,
 * so `make test` runs every seed and every crash ever found as a regression test
 * (the idea of SQLite's fuzzcheck).
 *
 *   build/fuzz/replay_fuzz_NAME tests/fuzz/corpus/fuzz_NAME [more dirs or files]
 *
 * Each argument is a file or a directory; a directory contributes its regular files
 * (not subdirectories, not dot files), in name order. Each file is copied into a heap
 * buffer of exactly its size and handed to LLVMFuzzerTestOneInput. A crash or a failed
 * invariant aborts the process, which tests/run.sh reports as a failure. Otherwise the
 * last line is `N passed, 0 failed`. No file at all is a failure: an empty or missing
 * corpus must not pass silently.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static int failures;

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the whole file into a buffer of exactly its size. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 4096;
			if (!(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	/* Trim to the exact size so an overread of even one byte hits the redzone. */
	uint8_t *exact = fuzz_dup(buf, n);
	free(buf);
	*len = n;
	return exact;
}

static int
run_file(const char *path)
{
	size_t len;
	uint8_t *buf = slurp(path, &len);

	if (!buf) {
		printf("FAIL %s: cannot read: %s\n", path, strerror(errno));
		failures++;
		return 0;
	}
	fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 1;
}

/* Replay the regular files of one directory in name order. Returns how many ran. */
static int
run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ran = 0;

	if (!d) {
		printf("FAIL %s: cannot open: %s\n", dir, strerror(errno));
		failures++;
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			if (!(nn = realloc(names, cap * sizeof *names)))
				abort();
			names = nn;
		}
		if (!(names[n++] = strdup(e->d_name)))
			abort();
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		size_t plen = strlen(dir) + 1 + strlen(names[i]) + 1;
		char *path = malloc(plen);
		struct stat st;

		if (!path)
			abort();
		snprintf(path, plen, "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			ran += run_file(path);
		free(path);
		free(names[i]);
	}
	free(names);
	return ran;
}

int
main(int argc, char **argv)
{
	int passed = 0;

	/* Lines out before a crash takes the process down. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		printf("0 passed, 1 failed\n");
		return 2;
	}
	/* Make the fixed keys before the first input, as libFuzzer's first run would. */
	(void)fuzz_keys();
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			printf("FAIL %s: %s\n", argv[i], strerror(errno));
			failures++;
		} else if (S_ISDIR(st.st_mode)) {
			passed += run_dir(argv[i]);
		} else {
			passed += run_file(argv[i]);
		}
	}
	if (passed == 0 && failures == 0) {
		printf("FAIL no corpus files found in the arguments (an empty corpus is an error)\n");
		failures++;
	}
	printf("%d passed, %d failed\n", passed, failures);
	return failures ? 1 : 0;
}
