/*
 * A tiny test runner in the spirit of Redis' testhelp.h.
 *
 * Each test file defines `static void test_x(void)` functions and registers them in
 * one array passed to test_main(). CHECK records a failure and carries on, so one run
 * shows every broken assertion. A run ends with the plain line `N passed, N failed`.
 */
#ifndef APAGON_TEST_H
#define APAGON_TEST_H

#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

extern int test_failures_in_case;

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, \
			    __LINE__, #cond);                                   \
			test_failures_in_case++;                                \
		}                                                               \
	} while (0)

#define CHECK_EQ(a, b)                                                          \
	do {                                                                    \
		long long _a = (long long)(a), _b = (long long)(b);             \
		if (_a != _b) {                                                 \
			fprintf(stderr, "    %s:%d: %s == %s failed: %lld != %lld\n", \
			    __FILE__, __LINE__, #a, #b, _a, _b);                \
			test_failures_in_case++;                                \
		}                                                               \
	} while (0)

#define TEST(fn) { #fn, fn }

/* Run every case whose name contains argv[1] (or all); print the summary line.
 * Returns the process exit status: 0 only if nothing failed. */
int test_main(const char *suite, const struct test_case *cases, size_t n, int argc, char **argv);

#endif
