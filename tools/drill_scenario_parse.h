/*
 * The scenario parser's insides, shared by its files (drill_scenario.c: lines, words,
 * sections and keys, the whole file; drill_scenario_timeline.c: timeline lines and
 * their replay in time order). Not for anything else: the API is drill_scenario.h.
 */
#ifndef APAGON_DRILL_SCENARIO_PARSE_H
#define APAGON_DRILL_SCENARIO_PARSE_H

#include "drill_scenario.h"

#define WORDS_MAX 24

enum sect { S_NONE, S_DRILL, S_LORA, S_SITE, S_NODE, S_BRIDGE, S_TRAFFIC, S_TIMELINE };

struct parser {
	struct scenario *s;
	const char *file;
	int line;
	enum sect sect;
	int cur;                        /* site or node being filled */
	int seen_drill;
	char *err;
	size_t errcap;
	char words[WORDS_MAX][SCN_LINE_MAX + 1];
	int quoted[WORDS_MAX];
	int nwords;
};

/* The error "file:LINE: what" in p->err; returns -1. */
int scn_fail(struct parser *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int scn_need_time(struct parser *, const char *what, const char *s, uint32_t *ms);
int scn_need_site(struct parser *, const char *name, int *idx);
int scn_need_node(struct parser *, const char *name, int *idx);
int scn_find_bridge(const struct scenario *, int a, int b);

/* drill_scenario_timeline.c: one timeline line (words in p), and the replay of the
 * whole timeline in time order once the file is read. 0 or -1. */
int scn_timeline(struct parser *);
int scn_check_timeline(struct parser *);

#endif
