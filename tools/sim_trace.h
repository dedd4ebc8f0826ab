/*
 * Contact traces for apagon-drill sim (docs/drills.md, "Contact traces"): which two
 * nodes are in contact, from when to when. Two line formats, mixed freely, with `#`
 * comments and blank lines:
 *
 *   START END A B          a contact from START to END seconds (START < END), as the
 *                          CRAWDAD / Haggle contact lists give them
 *   TIME CONN A B up|down  the ONE simulator's connection events; an "up" not taken
 *                          down is closed at the latest time in the file
 *
 * Times are seconds from the start of the run, with at most three decimals, at most
 * TRACE_SECONDS_MAX; nodes are numbers from 0 to max_nodes - 1. Every error names the
 * file and line. Pure: no I/O, so the fuzz harness (tests/fuzz/fuzz_trace.c) drives it.
 */
#ifndef APAGON_SIM_TRACE_H
#define APAGON_SIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_SECONDS_MAX   86400           /* one day, the longest simulation */
#define TRACE_CONTACTS_MAX  2000000
#define TRACE_LINE_MAX      256
#define TRACE_FILE_MAX      (64u << 20)

struct trace_contact {
	uint64_t start_ms, end_ms;
	int a, b;                       /* a != b */
};

struct trace {
	struct trace_contact *c;        /* sorted by start_ms, then end_ms, a, b */
	size_t n;
	int nodes;                      /* the largest node number + 1 */
	uint64_t end_ms;                /* the latest time in the file */
};

/* Parse text (len bytes, not NUL-terminated). 0 with *t filled (free with
 * trace_free), or -1 with a message "FILE:LINE: what" (or "FILE: what") in err and
 * *t empty. */
int trace_parse(struct trace *t, const char *file, const char *text, size_t len, int max_nodes,
    char *err, size_t errlen);
void trace_free(struct trace *t);
/* Sort the contacts as trace_parse leaves them. */
void trace_sort(struct trace *t);

#endif
