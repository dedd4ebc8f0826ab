/*
 * Harness: trace_parse (tools/sim_trace.h), the contact-trace parser of apagon-drill
 * sim (docs/drills.md, "Contact traces").
 *
 * Invariants: on failure the trace is empty and the message starts with "fuzz.trace"
 * (the file, and the line where there is one); on success there is at least one
 * contact, every contact joins two different nodes below the limit, ends after it
 * starts, within TRACE_SECONDS_MAX and the trace's end, the contacts are sorted by
 * start, and `nodes` is the largest node number + 1.
 */
#include "fuzz.h"

#include "../../tools/sim_trace.h"

#define FUZZ_TRACE_NODES 1000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace t;
	char err[512];
	int top = -1;

	if (trace_parse(&t, "fuzz.trace", (const char *)data, size, FUZZ_TRACE_NODES, err,
	    sizeof err) != 0) {
		FUZZ_CHECK(t.c == NULL && t.n == 0);
		FUZZ_CHECK(strncmp(err, "fuzz.trace", 10) == 0);
		return 0;
	}
	FUZZ_CHECK(t.n >= 1 && t.c != NULL);
	FUZZ_CHECK(t.end_ms <= (uint64_t)TRACE_SECONDS_MAX * 1000);
	for (size_t i = 0; i < t.n; i++) {
		const struct trace_contact *c = &t.c[i];

		FUZZ_CHECK(c->a != c->b);
		FUZZ_CHECK(c->a >= 0 && c->a < FUZZ_TRACE_NODES);
		FUZZ_CHECK(c->b >= 0 && c->b < FUZZ_TRACE_NODES);
		FUZZ_CHECK(c->start_ms < c->end_ms && c->end_ms <= t.end_ms);
		FUZZ_CHECK(i == 0 || t.c[i - 1].start_ms <= c->start_ms);
		top = c->a > top ? c->a : top;
		top = c->b > top ? c->b : top;
	}
	FUZZ_CHECK(t.nodes == top + 1);
	trace_free(&t);
	return 0;
}
