/*
 * Random waypoint (sim_mobility.h).
 */
#include "sim_mobility.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../mesh/mesh.h"

struct leg {
	uint64_t rng;
	double x0, y0, x1, y1;          /* from, to */
	uint64_t t0, t1, t2;            /* leaves x0, arrives x1, leaves x1 (ms) */
};

struct mob {
	struct mob_params p;
	struct leg *leg;
};

static double
urand(uint64_t *s)
{
	/* splitmix64, one stream a node */
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

/* The next leg from where the last one ended. */
static void
next_leg(const struct mob_params *p, struct leg *l)
{
	double dx, dy, v;

	l->x0 = l->x1;
	l->y0 = l->y1;
	l->t0 = l->t2;
	l->x1 = urand(&l->rng) * p->area_m;
	l->y1 = urand(&l->rng) * p->area_m;
	v = p->speed_min + urand(&l->rng) * (p->speed_max - p->speed_min);
	dx = l->x1 - l->x0;
	dy = l->y1 - l->y0;
	l->t1 = l->t0 + (uint64_t)(sqrt(dx * dx + dy * dy) / v * 1000.0) + 1;
	l->t2 = l->t1 + (uint64_t)(urand(&l->rng) * p->pause_max_s * 1000.0);
}

struct mob *
mob_new(const struct mob_params *p)
{
	struct mob *m;

	if (p->nodes < 1 || !(p->area_m > 0) || !(p->speed_min > 0) ||
	    p->speed_max < p->speed_min || p->pause_max_s < 0)
		return NULL;
	if ((m = calloc(1, sizeof *m)) == NULL ||
	    (m->leg = calloc((size_t)p->nodes, sizeof *m->leg)) == NULL) {
		free(m);
		return NULL;
	}
	m->p = *p;
	for (int i = 0; i < p->nodes; i++) {
		struct leg *l = &m->leg[i];

		l->rng = p->seed * 0x2545F4914F6CDD1Dull + (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
		l->x1 = urand(&l->rng) * p->area_m;
		l->y1 = urand(&l->rng) * p->area_m;
		/* A first pause of random length, so nodes do not all set off at once. */
		l->t2 = (uint64_t)(urand(&l->rng) * p->pause_max_s * 1000.0);
		l->t1 = 0;
		next_leg(p, l);
	}
	return m;
}

void
mob_free(struct mob *m)
{
	if (m)
		free(m->leg);
	free(m);
}

void
mob_position(struct mob *m, int i, uint64_t t, double *x, double *y)
{
	struct leg *l = &m->leg[i];

	while (t >= l->t2)
		next_leg(&m->p, l);
	if (t < l->t0) {                /* the first pause */
		*x = l->x0;
		*y = l->y0;
	} else if (t < l->t1) {
		double f = (double)(t - l->t0) / (double)(l->t1 - l->t0);

		*x = l->x0 + f * (l->x1 - l->x0);
		*y = l->y0 + f * (l->y1 - l->y0);
	} else {
		*x = l->x1;
		*y = l->y1;
	}
}

/* ---------------- contacts, sampled every second on a grid of range-sized cells ---------------- */

#define STEP_MS 1000

struct open_c {
	int a, b;
	uint64_t since;
	int seen;
};

static int
cmp_pair(const void *x, const void *y)
{
	const struct open_c *a = x, *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

static int
push(struct trace *t, size_t *cap, uint64_t s, uint64_t e, int a, int b)
{
	if (t->n == TRACE_CONTACTS_MAX)
		return -1;
	if (mesh_grow((void **)&t->c, cap, t->n + 1, sizeof *t->c, 1024) != 0)
		return -1;
	t->c[t->n++] = (struct trace_contact){ .start_ms = s, .end_ms = e, .a = a, .b = b };
	return 0;
}

static int
cell(double v, double range, int side)
{
	int c = (int)(v / range);

	return c < 0 ? 0 : c >= side ? side - 1 : c;
}

int
mob_contacts(const struct mob_params *p, uint64_t span_ms, struct trace *out)
{
	struct mob *m = mob_new(p);
	int side = (int)ceil(p->area_m / p->range_m), rc = -1;
	size_t ncell, cap = 0, nopen = 0, capopen = 0, nnow = 0, capnow = 0;
	int *head = NULL, *next = NULL;
	double *x = NULL, *y = NULL;
	struct open_c *open = NULL, *now = NULL;

	memset(out, 0, sizeof *out);
	if (!m || side < 1 || side > 4096)
		goto done;
	ncell = (size_t)side * (size_t)side;
	if ((head = malloc(ncell * sizeof *head)) == NULL ||
	    (next = malloc((size_t)p->nodes * sizeof *next)) == NULL ||
	    (x = malloc((size_t)p->nodes * sizeof *x)) == NULL ||
	    (y = malloc((size_t)p->nodes * sizeof *y)) == NULL)
		goto done;
	out->nodes = p->nodes;
	out->end_ms = span_ms;
	for (uint64_t t = 0; t < span_ms; t += STEP_MS) {
		size_t k = 0, j = 0, keep = 0;

		/* Bucket everyone into cells, then list the pairs within range (a < b). */
		for (size_t c = 0; c < ncell; c++)
			head[c] = -1;
		for (int i = 0; i < p->nodes; i++) {
			int cx, cy;

			mob_position(m, i, t, &x[i], &y[i]);
			cx = cell(x[i], p->range_m, side);
			cy = cell(y[i], p->range_m, side);
			next[i] = head[cy * side + cx];
			head[cy * side + cx] = i;
		}
		nnow = 0;
		for (int i = 0; i < p->nodes; i++) {
			int cx = cell(x[i], p->range_m, side), cy = cell(y[i], p->range_m, side);

			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int ux = cx + dx, uy = cy + dy;

					if (ux < 0 || uy < 0 || ux >= side || uy >= side)
						continue;
					for (int o = head[uy * side + ux]; o >= 0; o = next[o]) {
						double ddx = x[o] - x[i], ddy = y[o] - y[i];

						if (o <= i || ddx * ddx + ddy * ddy > p->range_m * p->range_m)
							continue;
						if (mesh_grow((void **)&now, &capnow, nnow + 1,
						    sizeof *now, 1024) != 0)
							goto done;
						now[nnow++] = (struct open_c){ .a = i, .b = o, .since = t };
					}
				}
		}
		qsort(now, nnow, sizeof *now, cmp_pair);
		/* Merge with the contacts open so far (both sorted): those gone end now. */
		if (capopen < nopen + nnow) {
			struct open_c *v = realloc(open, (nopen + nnow + 1) * sizeof *v);

			if (!v)
				goto done;
			open = v;
			capopen = nopen + nnow + 1;
		}
		for (k = 0, j = 0; k < nopen || j < nnow;) {
			int c = k == nopen ? 1 : j == nnow ? -1 : cmp_pair(&open[k], &now[j]);

			if (c < 0) {
				if (push(out, &cap, open[k].since, t, open[k].a, open[k].b) != 0)
					goto done;
				k++;
			} else if (c == 0) {
				now[j].since = open[k].since;
				k++;
				j++;
			} else {
				j++;
			}
		}
		for (j = 0; j < nnow; j++)
			open[keep++] = now[j];
		nopen = keep;
	}
	for (size_t k = 0; k < nopen; k++)
		if (push(out, &cap, open[k].since, span_ms, open[k].a, open[k].b) != 0)
			goto done;
	trace_sort(out);
	rc = 0;
done:
	if (rc != 0)
		trace_free(out);
	free(head);
	free(next);
	free(x);
	free(y);
	free(open);
	free(now);
	mob_free(m);
	return rc;
}
