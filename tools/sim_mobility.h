/*
 * Random-waypoint mobility for apagon-drill sim (docs/drills.md, "Mobility"): each
 * node starts at a uniform random point of a square area, walks in a straight line
 * to another uniform random point at a speed drawn uniformly from [speed_min,
 * speed_max], pauses there for a time drawn uniformly from [0, pause_max_s], and
 * goes on (Johnson and Maltz's model, as the ONE simulator and ns-3 have it). Each
 * node draws from its own seeded generator, so where a node is at a time does not
 * depend on which other nodes were asked about.
 *
 * Two uses: positions over time for the LoRa channel (mob_position), and contacts
 * (mob_contacts): two nodes are in contact while they are within range_m of each
 * other, sampled every second.
 */
#ifndef APAGON_SIM_MOBILITY_H
#define APAGON_SIM_MOBILITY_H

#include <stdint.h>

#include "sim_trace.h"

struct mob_params {
	int nodes;
	double area_m;                  /* side of the square */
	double speed_min, speed_max;    /* m/s, speed_min > 0 (no slow decay to zero) */
	double pause_max_s;
	double range_m;                 /* contact range, for mob_contacts */
	uint64_t seed;
};

struct mob;

/* A new model; NULL if out of memory or the parameters make no sense. */
struct mob *mob_new(const struct mob_params *p);
void mob_free(struct mob *m);

/* Where node i is at t_ms. Times asked of one node must not go backwards. */
void mob_position(struct mob *m, int i, uint64_t t_ms, double *x, double *y);

/* The contacts over [0, span_ms), as a trace (sorted). 0, or -1 when out of memory
 * or over TRACE_CONTACTS_MAX. */
int mob_contacts(const struct mob_params *p, uint64_t span_ms, struct trace *out);

#endif
