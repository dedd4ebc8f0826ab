/*
 * The contact-trace parser (sim_trace.h): bounds-checked, every error with file and
 * line.
 */
#include "sim_trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mesh/mesh.h"

/* An "up" waiting for its "down": open addressing on the node pair. */
struct open_pair {
	uint64_t key;                   /* (a << 32 | b) + 1 with a < b; 0: free */
	uint64_t since_ms;
};

struct parser {
	struct trace *t;
	size_t cap;
	struct open_pair *open;
	size_t open_cap, open_n;
	const char *file;
	int line, max_nodes;
	char *err;
	size_t errlen;
};

static int
fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct parser *p, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (p->line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, p->line, what);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->file, what);
	return -1;
}

/* Seconds, "123" or "123.456", into milliseconds. */
static int
parse_seconds(struct parser *p, const char *s, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0;
	int digits = 0, fdigits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		whole = whole * 10 + (uint64_t)(*s - '0');
		if (whole > TRACE_SECONDS_MAX)
			return fail(p, "a time is at most %d seconds", TRACE_SECONDS_MAX);
	}
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, fdigits++) {
			if (fdigits == 3)
				return fail(p, "a time has at most three decimals (milliseconds)");
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
	if (digits == 0 || *s)
		return fail(p, "expected a time in seconds, like 12 or 12.5");
	for (; fdigits < 3; fdigits++)
		frac *= 10;
	*ms = whole * 1000 + frac;
	if (*ms > (uint64_t)TRACE_SECONDS_MAX * 1000)
		return fail(p, "a time is at most %d seconds", TRACE_SECONDS_MAX);
	return 0;
}

static int
parse_node(struct parser *p, const char *s, int *node)
{
	long v = 0;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		v = v * 10 + (*s - '0');
		if (v >= p->max_nodes)
			return fail(p, "node numbers go from 0 to %d", p->max_nodes - 1);
	}
	if (digits == 0 || *s)
		return fail(p, "expected a node number, like 0 or 17");
	*node = (int)v;
	return 0;
}

static int
add(struct parser *p, uint64_t start, uint64_t end, int a, int b)
{
	struct trace *t = p->t;

	if (t->n == TRACE_CONTACTS_MAX)
		return fail(p, "more than %d contacts", TRACE_CONTACTS_MAX);
	if (mesh_grow((void **)&t->c, &p->cap, t->n + 1, sizeof *t->c, 256) != 0)
		return fail(p, "out of memory");
	t->c[t->n].start_ms = start;
	t->c[t->n].end_ms = end;
	t->c[t->n].a = a;
	t->c[t->n].b = b;
	t->n++;
	if (a >= t->nodes)
		t->nodes = a + 1;
	if (b >= t->nodes)
		t->nodes = b + 1;
	return 0;
}

static uint64_t
pair_key(int a, int b)
{
	return a < b ? ((uint64_t)a << 32 | (uint64_t)b) + 1 : ((uint64_t)b << 32 | (uint64_t)a) + 1;
}

/* The slot of key, or the free slot where it would go. */
static struct open_pair *
slot(struct parser *p, uint64_t key)
{
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (p->open_cap - 1);

	while (p->open[i].key && p->open[i].key != key)
		i = (i + 1) & (p->open_cap - 1);
	return &p->open[i];
}

static int
grow_open(struct parser *p)
{
	struct open_pair *old = p->open;
	size_t n = p->open_cap, cap = n ? 2 * n : 64;

	if ((p->open = calloc(cap, sizeof *p->open)) == NULL) {
		p->open = old;
		return fail(p, "out of memory");
	}
	p->open_cap = cap;
	for (size_t i = 0; i < n; i++)
		if (old[i].key)
			*slot(p, old[i].key) = old[i];
	free(old);
	return 0;
}

/* Remove a slot's entry, re-placing the run after it (linear probing). */
static void
unslot(struct parser *p, struct open_pair *e)
{
	size_t i = (size_t)(e - p->open);

	e->key = 0;
	p->open_n--;
	for (i = (i + 1) & (p->open_cap - 1); p->open[i].key; i = (i + 1) & (p->open_cap - 1)) {
		struct open_pair moved = p->open[i];

		p->open[i].key = 0;
		*slot(p, moved.key) = moved;
	}
}

static int
conn_event(struct parser *p, uint64_t at, int a, int b, const char *what)
{
	struct open_pair *e;
	uint64_t key = pair_key(a, b);

	if ((p->open_n + 1) * 2 > p->open_cap && grow_open(p) != 0)
		return -1;
	e = slot(p, key);
	if (strcmp(what, "up") == 0) {
		if (e->key)
			return fail(p, "nodes %d and %d are already in contact (no \"down\" since "
			    "their \"up\")", a, b);
		e->key = key;
		e->since_ms = at;
		p->open_n++;
		return 0;
	}
	if (strcmp(what, "down") != 0)
		return fail(p, "expected \"up\" or \"down\" after CONN A B, not \"%.20s\"", what);
	if (!e->key)
		return fail(p, "\"down\" for nodes %d and %d, which are not in contact", a, b);
	if (at > e->since_ms && add(p, e->since_ms, at, a, b) != 0)
		return -1;
	unslot(p, e);
	return 0;
}

static int
cmp_contact(const void *x, const void *y)
{
	const struct trace_contact *a = x, *b = y;

	if (a->start_ms != b->start_ms)
		return a->start_ms < b->start_ms ? -1 : 1;
	if (a->end_ms != b->end_ms)
		return a->end_ms < b->end_ms ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

static int
one_line(struct parser *p, char *buf, uint64_t *last_conn)
{
	char *w[6], *save = NULL, *tok;
	int nw = 0, a, b;
	uint64_t t0, t1;

	for (tok = strtok_r(buf, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (nw == 6)
			return fail(p, "too many fields: expected START END A B, or TIME CONN A B "
			    "up|down");
		w[nw++] = tok;
	}
	if (nw == 0)
		return 0;
	if (nw == 5 && strcmp(w[1], "CONN") == 0) {
		if (parse_seconds(p, w[0], &t0) || parse_node(p, w[2], &a) ||
		    parse_node(p, w[3], &b))
			return -1;
		if (a == b)
			return fail(p, "a node cannot be in contact with itself");
		if (t0 < *last_conn)
			return fail(p, "CONN events go in time order (this one is before the "
			    "one above)");
		*last_conn = t0;
		if (t0 > p->t->end_ms)
			p->t->end_ms = t0;
		return conn_event(p, t0, a, b, w[4]);
	}
	if (nw != 4)
		return fail(p, "expected START END A B, or TIME CONN A B up|down");
	if (parse_seconds(p, w[0], &t0) || parse_seconds(p, w[1], &t1) ||
	    parse_node(p, w[2], &a) || parse_node(p, w[3], &b))
		return -1;
	if (a == b)
		return fail(p, "a node cannot be in contact with itself");
	if (t1 <= t0)
		return fail(p, "a contact ends after it starts (END > START)");
	if (t1 > p->t->end_ms)
		p->t->end_ms = t1;
	return add(p, t0, t1, a, b);
}

int
trace_parse(struct trace *t, const char *file, const char *text, size_t len, int max_nodes,
    char *err, size_t errlen)
{
	struct parser p;
	char buf[TRACE_LINE_MAX + 2];
	uint64_t last_conn = 0;
	size_t pos = 0;
	int rc = 0;

	memset(t, 0, sizeof *t);
	memset(&p, 0, sizeof p);
	p.t = t;
	p.file = file;
	p.max_nodes = max_nodes;
	p.err = err;
	p.errlen = errlen;
	if (len > TRACE_FILE_MAX)
		rc = fail(&p, "larger than %u MiB", TRACE_FILE_MAX >> 20);
	while (rc == 0 && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *hash;

		p.line++;
		if (n > TRACE_LINE_MAX) {
			rc = fail(&p, "a line is at most %d bytes", TRACE_LINE_MAX);
			break;
		}
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + (nl != NULL);
		if (strlen(buf) != n) {
			rc = fail(&p, "a NUL byte: this is not a text file");
			break;
		}
		if ((hash = strchr(buf, '#')) != NULL)
			*hash = '\0';
		rc = one_line(&p, buf, &last_conn);
	}
	/* Contacts still up at the end last until the latest time in the file. */
	for (size_t i = 0; rc == 0 && i < p.open_cap; i++) {
		struct open_pair *e = &p.open[i];
		int a = (int)((e->key - 1) >> 32), b = (int)((e->key - 1) & 0xffffffffu);

		if (e->key && e->since_ms < t->end_ms)
			rc = add(&p, e->since_ms, t->end_ms, a, b);
	}
	free(p.open);
	p.line = 0;
	if (rc == 0 && t->n == 0)
		rc = fail(&p, "no contact in the file: expected lines START END A B, or TIME "
		    "CONN A B up|down");
	if (rc != 0) {
		trace_free(t);
		return -1;
	}
	trace_sort(t);
	return 0;
}

void
trace_sort(struct trace *t)
{
	qsort(t->c, t->n, sizeof *t->c, cmp_contact);
}

void
trace_free(struct trace *t)
{
	free(t->c);
	memset(t, 0, sizeof *t);
}
