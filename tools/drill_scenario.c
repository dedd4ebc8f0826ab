/*
 * The scenario parser (drill_scenario.h, docs/drills.md). A line at a time, like
 * wireguard-tools' config parser: each line is cut into words (a "quoted text" is one
 * word), then read by the section it sits in. Cross-references (a node's site, a
 * fault's bridge) are checked as they are met, since sections must be declared before
 * they are named; the timeline is then replayed in time order to catch a restart of a
 * node that is running and the like, naming the offending line.
 */
#include "drill_scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS_MAX 24

enum sect { S_NONE, S_DRILL, S_SITE, S_NODE, S_BRIDGE, S_TRAFFIC, S_TIMELINE };

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

static const char *const prec_names[SCN_NPREC] = {
	"flash", "immediate", "priority", "routine",
};

static const char *const fault_names[SCN_NFAULT] = {
	"broker-down", "broker-up", "site-dark", "site-back", "partition", "heal",
	"kill", "restart", "revoke",
};

const char *
scenario_prec_name(int prec)
{
	return prec >= 0 && prec < SCN_NPREC ? prec_names[prec] : "?";
}

const char *
scenario_fault_name(int kind)
{
	return kind >= 0 && kind < SCN_NFAULT ? fault_names[kind] : "?";
}

static int
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (p->errcap == 0)
		return -1;
	if (p->line > 0)
		n = snprintf(p->err, p->errcap, "%s:%d: ", p->file, p->line);
	else
		n = snprintf(p->err, p->errcap, "%s: ", p->file);
	if (n < 0 || (size_t)n >= p->errcap)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errcap - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---------------- words ---------------- */

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Cut one line into words; a comment starts at # or ; outside quotes. */
static int
split(struct parser *p, const char *l, size_t len)
{
	size_t i = 0;

	p->nwords = 0;
	for (;;) {
		size_t n = 0;
		char *w;

		while (i < len && is_space(l[i]))
			i++;
		if (i >= len || l[i] == '#' || l[i] == ';')
			return 0;
		if (p->nwords == WORDS_MAX)
			return fail(p, "too many words on one line (at most %d)", WORDS_MAX);
		w = p->words[p->nwords];
		p->quoted[p->nwords] = 0;
		if (l[i] == '"') {
			i++;
			while (i < len && l[i] != '"') {
				if ((unsigned char)l[i] < 0x20)
					return fail(p, "a control character inside quotes");
				w[n++] = l[i++];
			}
			if (i >= len)
				return fail(p, "the quote opened here is never closed. End the text "
				    "with \"");
			i++;
			if (i < len && !is_space(l[i]) && l[i] != '#' && l[i] != ';')
				return fail(p, "put a space after the closing quote");
			p->quoted[p->nwords] = 1;
		} else {
			while (i < len && !is_space(l[i])) {
				if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f)
					return fail(p, "a control character; the file must be plain text");
				if (l[i] == '"')
					return fail(p, "a quote inside a word; quote the whole text");
				w[n++] = l[i++];
			}
		}
		w[n] = '\0';
		p->nwords++;
	}
}

/* Copy a string already checked to fit (snprintf would warn of truncation). */
static void
copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SCN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static int
need_name(struct parser *p, const char *what, const char *s)
{
	if (!valid_name(s))
		return fail(p, "\"%.40s\" is not a valid %s name: use 1..%d of a-z, 0-9, - and _",
		    s, what, SCN_NAME_MAX);
	return 0;
}

/* Printable UTF-8-ish text: no control bytes, bounded length. */
static int
valid_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * A duration: "90s", "2m", "1m30s", "500ms", "1h", or a bare number of seconds.
 * 0 and *ms on success.
 */
static int
parse_time(const char *s, uint32_t *ms)
{
	uint64_t total = 0;
	int any = 0;

	if (!*s)
		return -1;
	while (*s) {
		uint64_t v = 0, mul;
		int digits = 0;

		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (uint64_t)(*s++ - '0');
			if (++digits > 7)
				return -1;
		}
		if (!digits)
			return -1;
		if (s[0] == 'm' && s[1] == 's') {
			mul = 1;
			s += 2;
		} else if (*s == 'h') {
			mul = 3600000;
			s++;
		} else if (*s == 'm') {
			mul = 60000;
			s++;
		} else if (*s == 's') {
			mul = 1000;
			s++;
		} else if (*s == '\0' && !any) {
			mul = 1000;
		} else {
			return -1;
		}
		total += v * mul;
		if (total > 24ull * 3600000)
			return -1;
		any = 1;
	}
	*ms = (uint32_t)total;
	return 0;
}

static int
need_time(struct parser *p, const char *what, const char *s, uint32_t *ms)
{
	if (parse_time(s, ms) != 0)
		return fail(p, "\"%.40s\" is not a time for %s: write 90s, 2m, 1m30s, 500ms or "
		    "1h", s, what);
	return 0;
}

static int
find_site(const struct scenario *s, const char *name)
{
	for (int i = 0; i < s->nsites; i++)
		if (strcmp(s->site[i].name, name) == 0)
			return i;
	return -1;
}

static int
find_node(const struct scenario *s, const char *name)
{
	for (int i = 0; i < s->nnodes; i++)
		if (strcmp(s->node[i].name, name) == 0)
			return i;
	return -1;
}

static int
need_site(struct parser *p, const char *name, int *idx)
{
	if ((*idx = find_site(p->s, name)) < 0)
		return fail(p, "no site \"%.40s\": declare [site %.40s] above this line",
		    name, name);
	return 0;
}

static int
need_node(struct parser *p, const char *name, int *idx)
{
	if ((*idx = find_node(p->s, name)) < 0)
		return fail(p, "no node \"%.40s\": declare [node %.40s] above this line",
		    name, name);
	return 0;
}

static int
find_bridge(const struct scenario *s, int a, int b)
{
	for (int i = 0; i < s->nbridges; i++)
		if ((s->bridge[i].a == a && s->bridge[i].b == b) ||
		    (s->bridge[i].a == b && s->bridge[i].b == a))
			return i;
	return -1;
}

static int
not_yet(struct parser *p, const char *what)
{
	return fail(p, "%s links are not supported yet: the node has no %s transport. "
	    "Remove this part of the scenario for now (docs/drills.md, \"Radios\")", what, what);
}

/* ---------------- sections ---------------- */

static int
section(struct parser *p, const char *l, size_t len)
{
	struct scenario *s = p->s;
	const char *kind;
	size_t end = len;

	while (end > 0 && l[end - 1] != ']')
		end--;
	if (end == 0)
		return fail(p, "a section header ends with ]");
	for (size_t i = end; i < len; i++) {
		if (l[i] == '#' || l[i] == ';')
			break;
		if (!is_space(l[i]))
			return fail(p, "text after the section header's ]");
	}
	if (split(p, l + 1, end - 2) != 0)
		return -1;
	if (p->nwords == 0)
		return fail(p, "an empty section header: write [drill], [site NAME], "
		    "[node NAME], [bridge SITE SITE], [traffic] or [timeline]");
	for (int i = 0; i < p->nwords; i++)
		if (p->quoted[i])
			return fail(p, "no quotes in a section header");
	kind = p->words[0];
	if (strcmp(kind, "lora") == 0)
		return not_yet(p, "LoRa");
	if (strcmp(kind, "bluetooth") == 0)
		return not_yet(p, "Bluetooth");
	if (strcmp(kind, "drill") == 0 || strcmp(kind, "traffic") == 0 ||
	    strcmp(kind, "timeline") == 0) {
		if (p->nwords != 1)
			return fail(p, "[%s] takes no name", kind);
		if (kind[0] == 'd') {
			if (p->seen_drill)
				return fail(p, "a second [drill] section; merge them");
			p->seen_drill = 1;
			p->sect = S_DRILL;
		} else {
			p->sect = kind[0] == 't' && kind[1] == 'r' ? S_TRAFFIC : S_TIMELINE;
		}
		return 0;
	}
	if (strcmp(kind, "site") == 0) {
		if (p->nwords != 2)
			return fail(p, "write [site NAME]");
		if (need_name(p, "site", p->words[1]) != 0)
			return -1;
		if (find_site(s, p->words[1]) >= 0)
			return fail(p, "site \"%s\" is declared twice", p->words[1]);
		if (s->nsites == SCN_SITES_MAX)
			return fail(p, "too many sites (at most %d)", SCN_SITES_MAX);
		p->cur = s->nsites++;
		memset(&s->site[p->cur], 0, sizeof s->site[p->cur]);
		copy(s->site[p->cur].name, sizeof s->site[p->cur].name, p->words[1]);
		s->site[p->cur].broker = 1;
		s->site[p->cur].line = p->line;
		p->sect = S_SITE;
		return 0;
	}
	if (strcmp(kind, "node") == 0) {
		if (p->nwords != 2)
			return fail(p, "write [node NAME]");
		if (need_name(p, "node", p->words[1]) != 0)
			return -1;
		if (find_node(s, p->words[1]) >= 0)
			return fail(p, "node \"%s\" is declared twice", p->words[1]);
		if (s->nnodes == SCN_NODES_MAX)
			return fail(p, "too many nodes (at most %d)", SCN_NODES_MAX);
		p->cur = s->nnodes++;
		memset(&s->node[p->cur], 0, sizeof s->node[p->cur]);
		copy(s->node[p->cur].name, sizeof s->node[p->cur].name, p->words[1]);
		s->node[p->cur].site = -1;
		s->node[p->cur].line = p->line;
		p->sect = S_NODE;
		return 0;
	}
	if (strcmp(kind, "bridge") == 0) {
		int a, b;

		if (p->nwords != 3)
			return fail(p, "write [bridge SITE SITE]");
		if (need_site(p, p->words[1], &a) != 0 || need_site(p, p->words[2], &b) != 0)
			return -1;
		if (a == b)
			return fail(p, "a bridge joins two different sites");
		if (!s->site[a].broker || !s->site[b].broker)
			return fail(p, "site \"%s\" has no broker (broker = no) to bridge",
			    s->site[a].broker ? s->site[b].name : s->site[a].name);
		if (find_bridge(s, a, b) >= 0)
			return fail(p, "sites %s and %s are already bridged", p->words[1],
			    p->words[2]);
		if (s->nbridges == SCN_BRIDGES_MAX)
			return fail(p, "too many bridges (at most %d)", SCN_BRIDGES_MAX);
		/* mosquitto bridges forward without loop detection across several brokers:
		 * a cycle would circulate every publish forever. Joining two sites already
		 * joined through others closes a cycle. */
		{
			int comp[SCN_SITES_MAX];

			for (int i = 0; i < s->nsites; i++)
				comp[i] = i;
			for (int k = 0; k < s->nbridges; k++) {
				int ca = comp[s->bridge[k].a], cb = comp[s->bridge[k].b];

				for (int i = 0; i < s->nsites; i++)
					if (comp[i] == cb)
						comp[i] = ca;
			}
			if (comp[a] == comp[b])
				return fail(p, "sites %s and %s are already joined through other "
				    "bridges; bridges must form a tree (a cycle would loop every "
				    "message between the brokers)", p->words[1], p->words[2]);
		}
		s->bridge[s->nbridges].a = a;
		s->bridge[s->nbridges].b = b;
		s->bridge[s->nbridges].line = p->line;
		s->nbridges++;
		p->sect = S_BRIDGE;
		return 0;
	}
	return fail(p, "unknown section [%.40s]: expected drill, site, node, bridge, traffic "
	    "or timeline", kind);
}

/* ---------------- key = value ---------------- */

static int
keyvalue(struct parser *p, const char *l, size_t len)
{
	struct scenario *s = p->s;
	const char *eq = memchr(l, '=', len);
	char key[64];
	size_t klen;
	const char *v;

	if (!eq)
		return fail(p, "expected \"key = value\" in this section");
	klen = (size_t)(eq - l);
	while (klen > 0 && is_space(l[klen - 1]))
		klen--;
	if (klen == 0 || klen >= sizeof key)
		return fail(p, "a key before the =");
	memcpy(key, l, klen);
	key[klen] = '\0';
	for (size_t i = 0; i < klen; i++)
		if (is_space(key[i]))
			return fail(p, "one key before the =, without spaces");
	if (split(p, eq + 1, len - (size_t)(eq + 1 - l)) != 0)
		return -1;
	if (p->nwords == 0)
		return fail(p, "\"%s\" has no value", key);
	v = p->words[0];

	if (p->sect == S_DRILL) {
		if (strcmp(key, "name") == 0) {
			/* The name may be several words, quoted or not: join them. */
			char buf[SCN_TITLE_MAX + 2] = "";
			size_t n = 0;

			for (int i = 0; i < p->nwords; i++) {
				size_t wl = strlen(p->words[i]);

				if (n + wl + (i > 0) > SCN_TITLE_MAX)
					return fail(p, "the drill's name is longer than %d bytes",
					    SCN_TITLE_MAX);
				if (i > 0)
					buf[n++] = ' ';
				memcpy(buf + n, p->words[i], wl);
				n += wl;
				buf[n] = '\0';
			}
			memcpy(s->name, buf, n + 1);
			return 0;
		}
		if (p->nwords != 1)
			return fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "duration") == 0) {
			if (need_time(p, "duration", v, &s->duration_ms) != 0)
				return -1;
			if (s->duration_ms < 1000 || s->duration_ms > SCN_DURATION_MAX)
				return fail(p, "duration is 1s to 1h");
			return 0;
		}
		if (strcmp(key, "settle") == 0) {
			if (need_time(p, "settle", v, &s->settle_ms) != 0)
				return -1;
			if (s->settle_ms > SCN_SETTLE_MAX)
				return fail(p, "settle is at most 10m");
			return 0;
		}
		return fail(p, "unknown key \"%.40s\" in [drill]: expected name, duration or "
		    "settle", key);
	}
	if (p->sect == S_SITE) {
		struct scn_site *st = &s->site[p->cur];

		if (strcmp(key, "title") == 0) {
			if (p->nwords != 1 || !valid_text(v, SCN_TITLE_MAX))
				return fail(p, "title is one quoted text of at most %d bytes",
				    SCN_TITLE_MAX);
			copy(st->title, sizeof st->title, v);
			return 0;
		}
		if (p->nwords != 1)
			return fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "broker") == 0) {
			if (strcmp(v, "yes") == 0)
				st->broker = 1;
			else if (strcmp(v, "no") == 0)
				st->broker = 0;
			else
				return fail(p, "broker is yes or no");
			return 0;
		}
		if (strcmp(key, "lora") == 0)
			return not_yet(p, "LoRa");
		if (strcmp(key, "bluetooth") == 0)
			return not_yet(p, "Bluetooth");
		return fail(p, "unknown key \"%.40s\" in [site]: expected title or broker", key);
	}
	if (p->sect == S_NODE) {
		struct scn_node *nd = &s->node[p->cur];

		if (strcmp(key, "brokers") == 0) {
			nd->brokers = 0;
			for (int i = 0; i < p->nwords; i++) {
				char *w = p->words[i];
				size_t wl = strlen(w);
				int si;

				if (wl > 0 && w[wl - 1] == ',')
					w[--wl] = '\0';
				if (wl == 0)
					continue;
				if (need_site(p, w, &si) != 0)
					return -1;
				if (!s->site[si].broker)
					return fail(p, "site \"%s\" has no broker (broker = no)", w);
				nd->brokers |= 1u << si;
			}
			if (!nd->brokers)
				return fail(p, "brokers lists one site or more");
			return 0;
		}
		if (p->nwords != 1)
			return fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "site") == 0) {
			if (need_site(p, v, &nd->site) != 0)
				return -1;
			return 0;
		}
		if (strcmp(key, "unit") == 0) {
			if (!valid_text(v, SCN_UNIT_MAX) || !*v)
				return fail(p, "unit is 1..%d printable bytes", SCN_UNIT_MAX);
			copy(nd->unit, sizeof nd->unit, v);
			return 0;
		}
		if (strcmp(key, "role") == 0) {
			if (strcmp(v, "member") == 0)
				nd->enroller = 0;
			else if (strcmp(v, "enroller") == 0)
				nd->enroller = 1;
			else
				return fail(p, "role is member or enroller");
			return 0;
		}
		if (strcmp(key, "lora") == 0 || strcmp(key, "radio") == 0)
			return not_yet(p, "LoRa");
		if (strcmp(key, "bluetooth") == 0)
			return not_yet(p, "Bluetooth");
		return fail(p, "unknown key \"%.40s\" in [node]: expected site, unit, role or "
		    "brokers", key);
	}
	return fail(p, "[bridge] takes no keys");
}

/* ---------------- traffic ---------------- */

static int
who(struct parser *p, const char *w, struct scn_who *out)
{
	if (strcmp(w, "*") == 0) {
		out->kind = SCN_WHO_ALL;
		out->idx = 0;
		return 0;
	}
	if (strncmp(w, "site:", 5) == 0) {
		out->kind = SCN_WHO_SITE;
		return need_site(p, w + 5, &out->idx);
	}
	out->kind = SCN_WHO_NODE;
	return need_node(p, w, &out->idx);
}

static int
traffic(struct parser *p)
{
	struct scenario *s = p->s;
	struct scn_traffic t;
	int i = 0;

	memset(&t, 0, sizeof t);
	t.line = p->line;
	if (p->nwords < 1)
		return 0;
	if (strcmp(p->words[0], "at") == 0) {
		if (p->nwords < 2 || need_time(p, "at", p->words[1], &t.at_ms) != 0)
			return p->nwords < 2 ? fail(p, "at TIME FROM -> TO PRECEDENCE") : -1;
		i = 2;
	} else if (strcmp(p->words[0], "every") == 0) {
		if (p->nwords < 2 || need_time(p, "every", p->words[1], &t.every_ms) != 0)
			return p->nwords < 2 ? fail(p, "every PERIOD [from TIME] [to TIME] "
			    "FROM -> TO PRECEDENCE") : -1;
		if (t.every_ms < 100 || t.every_ms > SCN_DURATION_MAX)
			return fail(p, "the period is 100ms to 1h");
		i = 2;
		t.until_ms = SCN_DURATION_MAX;     /* capped to the duration at the end */
		if (i + 1 < p->nwords && strcmp(p->words[i], "from") == 0 && !p->quoted[i]) {
			if (need_time(p, "from", p->words[i + 1], &t.at_ms) != 0)
				return -1;
			i += 2;
		}
		if (i + 1 < p->nwords && strcmp(p->words[i], "to") == 0 && !p->quoted[i]) {
			if (need_time(p, "to", p->words[i + 1], &t.until_ms) != 0)
				return -1;
			i += 2;
		}
		if (t.until_ms < t.at_ms)
			return fail(p, "\"to\" comes before \"from\"");
	} else {
		return fail(p, "a traffic line starts with \"at TIME\" or \"every PERIOD\"");
	}
	if (i + 4 > p->nwords || strcmp(p->words[i + 1], "->") != 0 || p->quoted[i + 1])
		return fail(p, "expected FROM -> TO PRECEDENCE after the time (FROM and TO: a "
		    "node, site:NAME or *)");
	if (p->quoted[i] || p->quoted[i + 2] || p->quoted[i + 3])
		return fail(p, "only the message text is quoted");
	if (who(p, p->words[i], &t.from) != 0 || who(p, p->words[i + 2], &t.to) != 0)
		return -1;
	for (t.prec = 0; t.prec < SCN_NPREC; t.prec++)
		if (strcmp(p->words[i + 3], prec_names[t.prec]) == 0)
			break;
	if (t.prec == SCN_NPREC)
		return fail(p, "unknown precedence \"%.40s\": use flash, immediate, priority or "
		    "routine", p->words[i + 3]);
	i += 4;
	if (i < p->nwords) {
		if (!p->quoted[i] || i + 1 != p->nwords)
			return fail(p, "after the precedence only a \"quoted text\" may follow");
		if (!valid_text(p->words[i], SCN_TEXT_MAX) || !p->words[i][0])
			return fail(p, "the text is 1..%d printable bytes", SCN_TEXT_MAX);
		copy(t.text, sizeof t.text, p->words[i]);
	}
	if (t.from.kind == SCN_WHO_NODE && t.to.kind == SCN_WHO_NODE && t.from.idx == t.to.idx)
		return fail(p, "a node sending to itself");
	if (s->ntraffic == SCN_TRAFFIC_MAX)
		return fail(p, "too many traffic lines (at most %d)", SCN_TRAFFIC_MAX);
	s->traffic[s->ntraffic++] = t;
	return 0;
}

/* ---------------- timeline ---------------- */

static int
timeline(struct parser *p)
{
	struct scenario *s = p->s;
	struct scn_fault f;
	const char *what;
	int k, args;

	memset(&f, 0, sizeof f);
	f.line = p->line;
	f.b = -1;
	if (p->nwords < 3 || strcmp(p->words[0], "at") != 0)
		return fail(p, "a timeline line is \"at TIME WHAT ARGS\", e.g. \"at 30s "
		    "broker-down interior\"");
	for (int i = 0; i < p->nwords; i++)
		if (p->quoted[i])
			return fail(p, "no quotes in the timeline");
	if (need_time(p, "at", p->words[1], &f.at_ms) != 0)
		return -1;
	what = p->words[2];
	if (strncmp(what, "lora", 4) == 0 || strncmp(what, "radio", 5) == 0)
		return not_yet(p, "LoRa");
	if (strncmp(what, "bluetooth", 9) == 0)
		return not_yet(p, "Bluetooth");
	for (k = 0; k < SCN_NFAULT; k++)
		if (strcmp(what, fault_names[k]) == 0)
			break;
	if (k == SCN_NFAULT)
		return fail(p, "unknown event \"%.40s\": expected broker-down, broker-up, "
		    "site-dark, site-back, partition, heal, kill, restart or revoke", what);
	f.kind = k;
	args = p->nwords - 3;
	switch (k) {
	case SCN_BROKER_DOWN:
	case SCN_BROKER_UP:
	case SCN_SITE_DARK:
	case SCN_SITE_BACK:
		if (args != 1)
			return fail(p, "write \"at TIME %s SITE\"", what);
		if (need_site(p, p->words[3], &f.a) != 0)
			return -1;
		if (k <= SCN_BROKER_UP && !s->site[f.a].broker)
			return fail(p, "site \"%s\" has no broker", p->words[3]);
		break;
	case SCN_PARTITION:
	case SCN_HEAL:
		if (args != 2)
			return fail(p, "write \"at TIME %s SITE SITE\"", what);
		if (need_site(p, p->words[3], &f.a) != 0 || need_site(p, p->words[4], &f.b) != 0)
			return -1;
		if (find_bridge(s, f.a, f.b) < 0)
			return fail(p, "no [bridge %s %s] to cut or heal", p->words[3], p->words[4]);
		break;
	case SCN_KILL:
	case SCN_RESTART:
		if (args != 1)
			return fail(p, "write \"at TIME %s NODE\"", what);
		if (need_node(p, p->words[3], &f.a) != 0)
			return -1;
		break;
	case SCN_REVOKE:
		if (args != 3 || strcmp(p->words[4], "via") != 0)
			return fail(p, "write \"at TIME revoke NODE via NODE\" (the second node "
			    "imports the revocation)");
		if (need_node(p, p->words[3], &f.a) != 0 || need_node(p, p->words[5], &f.b) != 0)
			return -1;
		if (f.a == f.b)
			return fail(p, "the revocation must be imported at another node");
		break;
	}
	if (s->nfaults == SCN_FAULTS_MAX)
		return fail(p, "too many timeline lines (at most %d)", SCN_FAULTS_MAX);
	s->fault[s->nfaults++] = f;
	return 0;
}

/* ---------------- whole file ---------------- */

static int
cmp_fault(const void *a, const void *b)
{
	const struct scn_fault *x = a, *y = b;

	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	return x->line - y->line;
}

/* Replay the timeline in order: every fault must make sense in the state it meets. */
static int
check_timeline(struct parser *p)
{
	struct scenario *s = p->s;
	int broker_down[SCN_SITES_MAX] = { 0 }, dark[SCN_SITES_MAX] = { 0 };
	int dead[SCN_NODES_MAX] = { 0 }, revoked[SCN_NODES_MAX] = { 0 };
	int cut[SCN_BRIDGES_MAX] = { 0 };

	qsort(s->fault, (size_t)s->nfaults, sizeof s->fault[0], cmp_fault);
	for (int i = 0; i < s->nfaults; i++) {
		const struct scn_fault *f = &s->fault[i];
		const char *sn = f->a >= 0 && f->a < s->nsites ? s->site[f->a].name : "";
		const char *nn = f->a >= 0 && f->a < s->nnodes ? s->node[f->a].name : "";

		p->line = f->line;
		if (f->at_ms > s->duration_ms)
			return fail(p, "this comes after the drill's duration (%us)",
			    (unsigned)(s->duration_ms / 1000));
		switch (f->kind) {
		case SCN_BROKER_DOWN:
			if (broker_down[f->a] || dark[f->a])
				return fail(p, "the broker of %s is already down here", sn);
			broker_down[f->a] = 1;
			break;
		case SCN_BROKER_UP:
			if (!broker_down[f->a])
				return fail(p, "the broker of %s is not down here (broker-up follows "
				    "broker-down)", sn);
			broker_down[f->a] = 0;
			break;
		case SCN_SITE_DARK:
			if (dark[f->a])
				return fail(p, "site %s is already dark here", sn);
			for (int n = 0; n < s->nnodes; n++)
				if (s->node[n].site == f->a && dead[n])
					return fail(p, "node %s of site %s is killed here; restart it "
					    "before the site goes dark", s->node[n].name, sn);
			if (broker_down[f->a])
				return fail(p, "the broker of %s is down here; bring it up before the "
				    "site goes dark", sn);
			dark[f->a] = 1;
			break;
		case SCN_SITE_BACK:
			if (!dark[f->a])
				return fail(p, "site %s is not dark here (site-back follows site-dark)",
				    sn);
			dark[f->a] = 0;
			break;
		case SCN_PARTITION:
		case SCN_HEAL: {
			int b = find_bridge(s, f->a, f->b);

			if (f->kind == SCN_PARTITION && cut[b])
				return fail(p, "that bridge is already cut here");
			if (f->kind == SCN_HEAL && !cut[b])
				return fail(p, "that bridge is not cut here (heal follows partition)");
			cut[b] = f->kind == SCN_PARTITION;
			break;
		}
		case SCN_KILL:
		case SCN_RESTART:
			if (dark[s->node[f->a].site])
				return fail(p, "node %s's site is dark here", nn);
			if (f->kind == SCN_KILL && dead[f->a])
				return fail(p, "node %s is already killed here", nn);
			if (f->kind == SCN_RESTART && !dead[f->a])
				return fail(p, "node %s is running here (restart follows kill)", nn);
			dead[f->a] = f->kind == SCN_KILL;
			break;
		case SCN_REVOKE:
			if (revoked[f->a])
				return fail(p, "node %s is already revoked here", nn);
			if (dead[f->b] || dark[s->node[f->b].site])
				return fail(p, "node %s, which is to import the revocation, is down "
				    "here", s->node[f->b].name);
			revoked[f->a] = 1;
			break;
		}
	}
	p->line = 0;
	return 0;
}

static int
finish(struct parser *p)
{
	struct scenario *s = p->s;
	size_t n;
	struct scn_msg *m;

	p->line = 0;
	if (!p->seen_drill)
		return fail(p, "no [drill] section: start the file with [drill] and "
		    "duration = TIME");
	if (s->duration_ms == 0)
		return fail(p, "[drill] needs duration = TIME (1s to 1h)");
	if (s->nnodes < 2)
		return fail(p, "a drill needs two nodes or more");
	for (int i = 0; i < s->nnodes; i++) {
		struct scn_node *nd = &s->node[i];

		p->line = nd->line;
		if (nd->site < 0)
			return fail(p, "node %s needs site = SITE", nd->name);
		if (!nd->brokers) {
			if (!s->site[nd->site].broker)
				return fail(p, "node %s can reach no broker: its site has broker = "
				    "no. Add brokers = SITE", nd->name);
			nd->brokers = 1u << nd->site;
		}
		if (!nd->unit[0])
			copy(nd->unit, sizeof nd->unit, s->site[nd->site].name);
	}
	for (int i = 0; i < s->ntraffic; i++) {
		struct scn_traffic *t = &s->traffic[i];

		p->line = t->line;
		if (t->at_ms > s->duration_ms)
			return fail(p, "this traffic starts after the drill's duration (%us)",
			    (unsigned)(s->duration_ms / 1000));
		if (t->every_ms && t->until_ms > s->duration_ms)
			t->until_ms = s->duration_ms;
	}
	p->line = 0;
	if (check_timeline(p) != 0)
		return -1;
	if (scenario_messages(s, &m, &n) != 0)
		return fail(p, "out of memory expanding the traffic");
	free(m);
	if (n > SCN_MESSAGES_MAX)
		return fail(p, "the traffic adds up to more than %d messages; send less often",
		    SCN_MESSAGES_MAX);
	return 0;
}

int
scenario_parse(struct scenario **out, const char *file, const char *text, size_t len,
    char *err, size_t errcap)
{
	struct parser *p;
	size_t at = 0;
	int rc = -1;

	*out = NULL;
	if (errcap)
		err[0] = '\0';
	if ((p = calloc(1, sizeof *p)) == NULL || (p->s = calloc(1, sizeof *p->s)) == NULL) {
		if (p)
			free(p);
		snprintf(err, errcap, "%s: out of memory", file);
		return -1;
	}
	p->file = file;
	p->err = err;
	p->errcap = errcap;
	p->s->settle_ms = 30000;
	if (len > SCN_FILE_MAX) {
		fail(p, "the file is larger than %u bytes", SCN_FILE_MAX);
		goto out;
	}
	while (at < len) {
		const char *l = text + at, *nl = memchr(l, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - l) : len - at;

		at += ll + (nl != NULL);
		p->line++;
		if (memchr(l, '\0', ll)) {
			fail(p, "a NUL byte: the scenario must be a text file");
			goto out;
		}
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll > SCN_LINE_MAX) {
			fail(p, "the line is longer than %d bytes", SCN_LINE_MAX);
			goto out;
		}
		while (ll > 0 && is_space(*l)) {
			l++;
			ll--;
		}
		while (ll > 0 && is_space(l[ll - 1]))
			ll--;
		if (ll == 0 || l[0] == '#' || l[0] == ';')
			continue;
		if (l[0] == '[') {
			if (section(p, l, ll) != 0)
				goto out;
			continue;
		}
		switch (p->sect) {
		case S_NONE:
			fail(p, "this line is outside any section: start with [drill]");
			goto out;
		case S_DRILL:
		case S_SITE:
		case S_NODE:
		case S_BRIDGE:
			if (keyvalue(p, l, ll) != 0)
				goto out;
			break;
		case S_TRAFFIC:
			if (split(p, l, ll) != 0 || traffic(p) != 0)
				goto out;
			break;
		case S_TIMELINE:
			if (split(p, l, ll) != 0 || timeline(p) != 0)
				goto out;
			break;
		}
	}
	if (finish(p) != 0)
		goto out;
	*out = p->s;
	p->s = NULL;
	rc = 0;
out:
	free(p->s);
	free(p);
	return rc;
}

void
scenario_free(struct scenario *s)
{
	free(s);
}

/* ---------------- expansion ---------------- */

static int
in_group(const struct scenario *s, const struct scn_who *w, int node)
{
	switch (w->kind) {
	case SCN_WHO_NODE:
		return w->idx == node;
	case SCN_WHO_SITE:
		return s->node[node].site == w->idx;
	default:
		return 1;
	}
}

static int
cmp_msg(const void *a, const void *b)
{
	const struct scn_msg *x = a, *y = b;

	if (x->at_ms != y->at_ms)
		return x->at_ms < y->at_ms ? -1 : 1;
	if (x->traffic != y->traffic)
		return x->traffic - y->traffic;
	if (x->from != y->from)
		return x->from - y->from;
	return x->to - y->to;
}

int
scenario_messages(const struct scenario *s, struct scn_msg **out, size_t *n)
{
	struct scn_msg *v = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	*n = 0;
	for (int i = 0; i < s->ntraffic; i++) {
		const struct scn_traffic *t = &s->traffic[i];
		uint32_t at = t->at_ms;

		for (;;) {
			for (int f = 0; f < s->nnodes; f++) {
				if (!in_group(s, &t->from, f))
					continue;
				for (int r = 0; r < s->nnodes; r++) {
					if (r == f || !in_group(s, &t->to, r))
						continue;
					if (len > SCN_MESSAGES_MAX) {   /* the caller refuses this */
						*out = v;
						*n = len;
						return 0;
					}
					if (len == cap) {
						size_t nc = cap ? cap * 2 : 64;
						struct scn_msg *nv = realloc(v, nc * sizeof *nv);

						if (!nv) {
							free(v);
							return -1;
						}
						v = nv;
						cap = nc;
					}
					v[len].at_ms = at;
					v[len].from = f;
					v[len].to = r;
					v[len].prec = t->prec;
					v[len].traffic = i;
					len++;
				}
			}
			if (!t->every_ms || (uint64_t)at + t->every_ms > t->until_ms)
				break;
			at += t->every_ms;
		}
	}
	if (len)
		qsort(v, len, sizeof *v, cmp_msg);
	*out = v;
	*n = len;
	return 0;
}

/* ---------------- writing back ---------------- */

struct wbuf {
	char *buf;
	size_t cap, len;
};

static void
wr(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->len < w->cap ? w->buf + w->len : NULL,
	    w->len < w->cap ? w->cap - w->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len += (size_t)n;
}

static void
wr_who(struct wbuf *w, const struct scenario *s, const struct scn_who *x)
{
	if (x->kind == SCN_WHO_ALL)
		wr(w, "*");
	else if (x->kind == SCN_WHO_SITE)
		wr(w, "site:%s", s->site[x->idx].name);
	else
		wr(w, "%s", s->node[x->idx].name);
}

size_t
scenario_write(const struct scenario *s, char *buf, size_t cap)
{
	struct wbuf w = { buf, cap, 0 };

	if (cap)
		buf[0] = '\0';
	wr(&w, "[drill]\n");
	if (s->name[0])
		wr(&w, "name = \"%s\"\n", s->name);
	wr(&w, "duration = %ums\nsettle = %ums\n", (unsigned)s->duration_ms,
	    (unsigned)s->settle_ms);
	for (int i = 0; i < s->nsites; i++) {
		wr(&w, "\n[site %s]\nbroker = %s\n", s->site[i].name,
		    s->site[i].broker ? "yes" : "no");
		if (s->site[i].title[0])
			wr(&w, "title = \"%s\"\n", s->site[i].title);
	}
	for (int i = 0; i < s->nnodes; i++) {
		const struct scn_node *nd = &s->node[i];

		wr(&w, "\n[node %s]\nsite = %s\nunit = \"%s\"\nrole = %s\nbrokers =", nd->name,
		    s->site[nd->site].name, nd->unit, nd->enroller ? "enroller" : "member");
		for (int k = 0; k < s->nsites; k++)
			if (nd->brokers & (1u << k))
				wr(&w, " %s", s->site[k].name);
		wr(&w, "\n");
	}
	for (int i = 0; i < s->nbridges; i++)
		wr(&w, "\n[bridge %s %s]\n", s->site[s->bridge[i].a].name,
		    s->site[s->bridge[i].b].name);
	wr(&w, "\n[traffic]\n");
	for (int i = 0; i < s->ntraffic; i++) {
		const struct scn_traffic *t = &s->traffic[i];

		if (t->every_ms)
			wr(&w, "every %ums from %ums to %ums ", (unsigned)t->every_ms,
			    (unsigned)t->at_ms, (unsigned)t->until_ms);
		else
			wr(&w, "at %ums ", (unsigned)t->at_ms);
		wr_who(&w, s, &t->from);
		wr(&w, " -> ");
		wr_who(&w, s, &t->to);
		wr(&w, " %s", prec_names[t->prec]);
		if (t->text[0])
			wr(&w, " \"%s\"", t->text);
		wr(&w, "\n");
	}
	wr(&w, "\n[timeline]\n");
	for (int i = 0; i < s->nfaults; i++) {
		const struct scn_fault *f = &s->fault[i];

		wr(&w, "at %ums %s ", (unsigned)f->at_ms, fault_names[f->kind]);
		switch (f->kind) {
		case SCN_PARTITION:
		case SCN_HEAL:
			wr(&w, "%s %s\n", s->site[f->a].name, s->site[f->b].name);
			break;
		case SCN_KILL:
		case SCN_RESTART:
			wr(&w, "%s\n", s->node[f->a].name);
			break;
		case SCN_REVOKE:
			wr(&w, "%s via %s\n", s->node[f->a].name, s->node[f->b].name);
			break;
		default:
			wr(&w, "%s\n", s->site[f->a].name);
		}
	}
	return w.len;
}

int
scenario_same(const struct scenario *x, const struct scenario *y)
{
	if (strcmp(x->name, y->name) != 0 || x->duration_ms != y->duration_ms ||
	    x->settle_ms != y->settle_ms || x->nsites != y->nsites ||
	    x->nnodes != y->nnodes || x->nbridges != y->nbridges ||
	    x->ntraffic != y->ntraffic || x->nfaults != y->nfaults)
		return 0;
	for (int i = 0; i < x->nsites; i++)
		if (strcmp(x->site[i].name, y->site[i].name) != 0 ||
		    strcmp(x->site[i].title, y->site[i].title) != 0 ||
		    x->site[i].broker != y->site[i].broker)
			return 0;
	for (int i = 0; i < x->nnodes; i++)
		if (strcmp(x->node[i].name, y->node[i].name) != 0 ||
		    strcmp(x->node[i].unit, y->node[i].unit) != 0 ||
		    x->node[i].site != y->node[i].site ||
		    x->node[i].enroller != y->node[i].enroller ||
		    x->node[i].brokers != y->node[i].brokers)
			return 0;
	for (int i = 0; i < x->nbridges; i++)
		if (x->bridge[i].a != y->bridge[i].a || x->bridge[i].b != y->bridge[i].b)
			return 0;
	for (int i = 0; i < x->ntraffic; i++) {
		const struct scn_traffic *a = &x->traffic[i], *b = &y->traffic[i];

		if (a->at_ms != b->at_ms || a->every_ms != b->every_ms ||
		    (a->every_ms && a->until_ms != b->until_ms) ||
		    a->from.kind != b->from.kind || a->from.idx != b->from.idx ||
		    a->to.kind != b->to.kind || a->to.idx != b->to.idx ||
		    a->prec != b->prec || strcmp(a->text, b->text) != 0)
			return 0;
	}
	for (int i = 0; i < x->nfaults; i++) {
		const struct scn_fault *a = &x->fault[i], *b = &y->fault[i];

		if (a->at_ms != b->at_ms || a->kind != b->kind || a->a != b->a ||
		    (a->b != b->b && a->kind >= SCN_PARTITION))
			return 0;
	}
	return 1;
}
