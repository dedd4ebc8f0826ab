#include "test.h"

#include <sodium.h>
#include <stdlib.h>

int test_failures_in_case;

int
test_main(const char *suite, const struct test_case *cases, size_t n, int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;

	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium failed to initialise\n", suite);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (filter && !strstr(cases[i].name, filter))
			continue;
		test_failures_in_case = 0;
		cases[i].fn();
		if (test_failures_in_case) {
			printf("FAIL %s.%s\n", suite, cases[i].name);
			failed++;
		} else {
			printf("ok   %s.%s\n", suite, cases[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
