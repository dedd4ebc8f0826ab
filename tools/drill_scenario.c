/*
 * The scenario parser (drill_scenario.h, docs/drills.md). A line at a time, like
 * wireguard-tools' config parser: each line is cut into words (a "quoted text" is one
 * word), then read by the section it sits in. Cross-references (a node's site, a
 * fault's bridge) are checked as they are met, since sections must be declared before
 * they are named; the timeline is then replayed in time order to catch a restart of a
 * node that is running and the like, naming the offending line
 * (drill_scenario_timeline.c). Expansion, writing back and comparing are in
 * drill_scenario_write.c.
 */
#include "drill_scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill_scenario_parse.h"

static const char *const prec_names[SCN_NPREC] = {
	"flash", "immediate", "priority", "routine",
};

static const char *const fault_names[SCN_NFAULT] = {
	"broker-down", "broker-up", "site-dark", "site-back", "partition", "heal",
	"kill", "restart", "revoke", "radio-down", "radio-up",
};

/* The LoRa presets and regions the node knows (docs/lora.md; node/transport_lora.c
 * refuses any other name when it opens the link: the parser says so first, with the
 * line). */
static const char *const lora_presets[] = {
	"short-turbo", "short-fast", "short-slow", "medium-fast", "medium-slow", "long-fast",
	"long-moderate", "long-slow", "very-long-slow",
};
#define LORA_PRESETS_LIST "short-turbo, short-fast, short-slow, medium-fast, " \
	"medium-slow, long-fast, long-moderate, long-slow or very-long-slow"

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

int
scenario_bluetooth_line(const struct scenario *s)
{
	for (int i = 0; i < s->nnodes; i++)
		if (s->node[i].bluetooth[0])
			return s->node[i].bt_line;
	return 0;
}

int
scn_fail(struct parser *p, const char *fmt, ...)
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
			return scn_fail(p, "too many words on one line (at most %d)", WORDS_MAX);
		w = p->words[p->nwords];
		p->quoted[p->nwords] = 0;
		if (l[i] == '"') {
			i++;
			while (i < len && l[i] != '"') {
				if ((unsigned char)l[i] < 0x20)
					return scn_fail(p, "a control character inside quotes");
				w[n++] = l[i++];
			}
			if (i >= len)
				return scn_fail(p, "the quote opened here is never closed. End the text "
				    "with \"");
			i++;
			if (i < len && !is_space(l[i]) && l[i] != '#' && l[i] != ';')
				return scn_fail(p, "put a space after the closing quote");
			p->quoted[p->nwords] = 1;
		} else {
			while (i < len && !is_space(l[i])) {
				if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f)
					return scn_fail(p, "a control character; the file must be plain text");
				if (l[i] == '"')
					return scn_fail(p, "a quote inside a word; quote the whole text");
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
		return scn_fail(p, "\"%.40s\" is not a valid %s name: use 1..%d of a-z, 0-9, - "
		    "and _", s, what, SCN_NAME_MAX);
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

int
scn_need_time(struct parser *p, const char *what, const char *s, uint32_t *ms)
{
	if (parse_time(s, ms) != 0)
		return scn_fail(p, "\"%.40s\" is not a time for %s: write 90s, 2m, 1m30s, 500ms or "
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

int
scenario_find_node(const struct scenario *s, const char *name)
{
	for (int i = 0; i < s->nnodes; i++)
		if (strcmp(s->node[i].name, name) == 0)
			return i;
	return -1;
}

int
scn_need_site(struct parser *p, const char *name, int *idx)
{
	if ((*idx = find_site(p->s, name)) < 0)
		return scn_fail(p, "no site \"%.40s\": declare [site %.40s] above this line",
		    name, name);
	return 0;
}

int
scn_need_node(struct parser *p, const char *name, int *idx)
{
	if ((*idx = scenario_find_node(p->s, name)) < 0)
		return scn_fail(p, "no node \"%.40s\": declare [node %.40s] above this line",
		    name, name);
	return 0;
}

int
scn_find_bridge(const struct scenario *s, int a, int b)
{
	for (int i = 0; i < s->nbridges; i++)
		if ((s->bridge[i].a == a && s->bridge[i].b == b) ||
		    (s->bridge[i].a == b && s->bridge[i].b == a))
			return i;
	return -1;
}

static int
find_lora(const struct scenario *s, const char *name)
{
	for (int i = 0; i < s->nlora; i++)
		if (strcmp(s->lora[i].name, name) == 0)
			return i;
	return -1;
}

/* A whole number in [lo, hi], with an optional unit suffix: "m" (x1) or "km"
 * (x1000) when metres is set. 0 or -1. */
static int
parse_int(const char *w, long lo, long hi, int metres, long *v)
{
	long x = 0, mul = 1;
	int neg = 0, digits = 0;

	if (*w == '-' || *w == '+')
		neg = *w++ == '-';
	while (*w >= '0' && *w <= '9') {
		x = x * 10 + (*w++ - '0');
		if (++digits > 10)
			return -1;
	}
	if (!digits)
		return -1;
	if (metres && strcmp(w, "km") == 0)
		mul = 1000;
	else if (!(metres && strcmp(w, "m") == 0) && *w)
		return -1;
	x = (neg ? -x : x) * mul;
	if (x < lo || x > hi)
		return -1;
	*v = x;
	return 0;
}

/* What used to be (or is not) a radio's place, with where it goes instead. */
static int
radio_hint(struct parser *p, const char *where)
{
	return scn_fail(p, "%s: a radio belongs to a node. In the [node] section of the laptop "
	    "or board that carries it, write lora = CHANNEL X Y (a [lora CHANNEL] declared "
	    "above, position in metres) or bluetooth = ADAPTER (docs/drills.md, \"Radios\")",
	    where);
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
		return scn_fail(p, "a section header ends with ]");
	for (size_t i = end; i < len; i++) {
		if (l[i] == '#' || l[i] == ';')
			break;
		if (!is_space(l[i]))
			return scn_fail(p, "text after the section header's ]");
	}
	if (split(p, l + 1, end - 2) != 0)
		return -1;
	if (p->nwords == 0)
		return scn_fail(p, "an empty section header: write [drill], [lora NAME], "
		    "[site NAME], [node NAME], [bridge SITE SITE], [traffic] or [timeline]");
	for (int i = 0; i < p->nwords; i++)
		if (p->quoted[i])
			return scn_fail(p, "no quotes in a section header");
	kind = p->words[0];
	if (strcmp(kind, "lora") == 0) {
		struct scn_lora *lr;

		if (p->nwords != 2)
			return scn_fail(p, "write [lora NAME] (a LoRa channel that radios join)");
		if (need_name(p, "LoRa channel", p->words[1]) != 0)
			return -1;
		if (find_lora(s, p->words[1]) >= 0)
			return scn_fail(p, "LoRa channel \"%s\" is declared twice", p->words[1]);
		if (s->nlora == SCN_LORA_MAX)
			return scn_fail(p, "too many LoRa channels (at most %d)", SCN_LORA_MAX);
		p->cur = s->nlora++;
		lr = &s->lora[p->cur];
		memset(lr, 0, sizeof *lr);
		copy(lr->name, sizeof lr->name, p->words[1]);
		copy(lr->region, sizeof lr->region, "EU868");
		copy(lr->preset, sizeof lr->preset, "long-fast");
		lr->tx_power = 14;
		lr->line = p->line;
		p->sect = S_LORA;
		return 0;
	}
	if (strcmp(kind, "bluetooth") == 0 || strcmp(kind, "radio") == 0)
		return radio_hint(p, "no such section");
	if (strcmp(kind, "drill") == 0 || strcmp(kind, "traffic") == 0 ||
	    strcmp(kind, "timeline") == 0) {
		if (p->nwords != 1)
			return scn_fail(p, "[%s] takes no name", kind);
		if (kind[0] == 'd') {
			if (p->seen_drill)
				return scn_fail(p, "a second [drill] section; merge them");
			p->seen_drill = 1;
			p->sect = S_DRILL;
		} else {
			p->sect = kind[0] == 't' && kind[1] == 'r' ? S_TRAFFIC : S_TIMELINE;
		}
		return 0;
	}
	if (strcmp(kind, "site") == 0) {
		if (p->nwords != 2)
			return scn_fail(p, "write [site NAME]");
		if (need_name(p, "site", p->words[1]) != 0)
			return -1;
		if (find_site(s, p->words[1]) >= 0)
			return scn_fail(p, "site \"%s\" is declared twice", p->words[1]);
		if (s->nsites == SCN_SITES_MAX)
			return scn_fail(p, "too many sites (at most %d)", SCN_SITES_MAX);
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
			return scn_fail(p, "write [node NAME]");
		if (need_name(p, "node", p->words[1]) != 0)
			return -1;
		if (scenario_find_node(s, p->words[1]) >= 0)
			return scn_fail(p, "node \"%s\" is declared twice", p->words[1]);
		if (s->nnodes == SCN_NODES_MAX)
			return scn_fail(p, "too many nodes (at most %d)", SCN_NODES_MAX);
		p->cur = s->nnodes++;
		memset(&s->node[p->cur], 0, sizeof s->node[p->cur]);
		copy(s->node[p->cur].name, sizeof s->node[p->cur].name, p->words[1]);
		s->node[p->cur].site = -1;
		s->node[p->cur].lora = -1;
		s->node[p->cur].line = p->line;
		p->sect = S_NODE;
		return 0;
	}
	if (strcmp(kind, "bridge") == 0) {
		int a, b;

		if (p->nwords != 3)
			return scn_fail(p, "write [bridge SITE SITE]");
		if (scn_need_site(p, p->words[1], &a) != 0 ||
		    scn_need_site(p, p->words[2], &b) != 0)
			return -1;
		if (a == b)
			return scn_fail(p, "a bridge joins two different sites");
		if (!s->site[a].broker || !s->site[b].broker)
			return scn_fail(p, "site \"%s\" has no broker (broker = no) to bridge",
			    s->site[a].broker ? s->site[b].name : s->site[a].name);
		if (scn_find_bridge(s, a, b) >= 0)
			return scn_fail(p, "sites %s and %s are already bridged", p->words[1],
			    p->words[2]);
		if (s->nbridges == SCN_BRIDGES_MAX)
			return scn_fail(p, "too many bridges (at most %d)", SCN_BRIDGES_MAX);
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
				return scn_fail(p, "sites %s and %s are already joined through other "
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
	return scn_fail(p, "unknown section [%.40s]: expected drill, lora, site, node, bridge, "
	    "traffic or timeline", kind);
}

/* ---------------- key = value ---------------- */

static int
keyvalue(struct parser *p, const char *l, size_t len)
{
	struct scenario *s = p->s;
	const char *eq = memchr(l, '=', len);
	char key[64];
	size_t klen;
	char *v;

	if (!eq)
		return scn_fail(p, "expected \"key = value\" in this section");
	klen = (size_t)(eq - l);
	while (klen > 0 && is_space(l[klen - 1]))
		klen--;
	if (klen == 0 || klen >= sizeof key)
		return scn_fail(p, "a key before the =");
	memcpy(key, l, klen);
	key[klen] = '\0';
	for (size_t i = 0; i < klen; i++)
		if (is_space(key[i]))
			return scn_fail(p, "one key before the =, without spaces");
	if (split(p, eq + 1, len - (size_t)(eq + 1 - l)) != 0)
		return -1;
	if (p->nwords == 0)
		return scn_fail(p, "\"%s\" has no value", key);
	v = p->words[0];

	if (p->sect == S_DRILL) {
		if (strcmp(key, "name") == 0) {
			/* The name may be several words, quoted or not: join them. */
			char buf[SCN_TITLE_MAX + 2] = "";
			size_t n = 0;

			for (int i = 0; i < p->nwords; i++) {
				size_t wl = strlen(p->words[i]);

				if (n + wl + (i > 0) > SCN_TITLE_MAX)
					return scn_fail(p, "the drill's name is longer than %d bytes",
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
			return scn_fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "duration") == 0) {
			if (scn_need_time(p, "duration", v, &s->duration_ms) != 0)
				return -1;
			if (s->duration_ms < 1000 || s->duration_ms > SCN_DURATION_MAX)
				return scn_fail(p, "duration is 1s to 1h");
			return 0;
		}
		if (strcmp(key, "settle") == 0) {
			if (scn_need_time(p, "settle", v, &s->settle_ms) != 0)
				return -1;
			if (s->settle_ms > SCN_SETTLE_MAX)
				return scn_fail(p, "settle is at most 10m");
			return 0;
		}
		return scn_fail(p, "unknown key \"%.40s\" in [drill]: expected name, duration or "
		    "settle", key);
	}
	if (p->sect == S_SITE) {
		struct scn_site *st = &s->site[p->cur];

		if (strcmp(key, "title") == 0) {
			if (p->nwords != 1 || !valid_text(v, SCN_TITLE_MAX))
				return scn_fail(p, "title is one quoted text of at most %d bytes",
				    SCN_TITLE_MAX);
			copy(st->title, sizeof st->title, v);
			return 0;
		}
		if (p->nwords != 1)
			return scn_fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "broker") == 0) {
			if (strcmp(v, "yes") == 0)
				st->broker = 1;
			else if (strcmp(v, "no") == 0)
				st->broker = 0;
			else
				return scn_fail(p, "broker is yes or no");
			return 0;
		}
		if (strcmp(key, "lora") == 0 || strcmp(key, "bluetooth") == 0 ||
		    strcmp(key, "radio") == 0)
			return radio_hint(p, "not in a [site]");
		return scn_fail(p, "unknown key \"%.40s\" in [site]: expected title or broker",
		    key);
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
				if (scn_need_site(p, w, &si) != 0)
					return -1;
				if (!s->site[si].broker)
					return scn_fail(p, "site \"%s\" has no broker (broker = no)", w);
				nd->brokers |= 1u << si;
			}
			if (!nd->brokers)
				return scn_fail(p, "brokers lists one site or more");
			return 0;
		}
		if (strcmp(key, "lora") == 0) {
			long x, y;
			char *xw;
			size_t xl;

			if (p->nwords != 3)
				return scn_fail(p, "write lora = CHANNEL X Y: a [lora CHANNEL] declared "
				    "above and the radio's position in metres, e.g. lora = valley "
				    "1200 -300");
			if (nd->lora >= 0)
				return scn_fail(p, "node %s already has a radio (one per node)", nd->name);
			if ((nd->lora = find_lora(s, v)) < 0)
				return scn_fail(p, "no LoRa channel \"%.40s\": declare [lora %.40s] above "
				    "this line", v, v);
			xw = p->words[1];
			xl = strlen(xw);
			if (xl > 0 && xw[xl - 1] == ',')
				xw[xl - 1] = '\0';
			if (parse_int(xw, -(long)SCN_POS_MAX, SCN_POS_MAX, 1, &x) != 0 ||
			    parse_int(p->words[2], -(long)SCN_POS_MAX, SCN_POS_MAX, 1, &y) != 0) {
				nd->lora = -1;
				return scn_fail(p, "the radio's position is X Y in whole metres (1200, "
				    "1200m or 2km), each within %d km of 0", SCN_POS_MAX / 1000);
			}
			nd->x_m = (int32_t)x;
			nd->y_m = (int32_t)y;
			nd->lora_line = p->line;
			return 0;
		}
		if (p->nwords != 1)
			return scn_fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "site") == 0) {
			if (scn_need_site(p, v, &nd->site) != 0)
				return -1;
			return 0;
		}
		if (strcmp(key, "unit") == 0) {
			if (!valid_text(v, SCN_UNIT_MAX) || !*v)
				return scn_fail(p, "unit is 1..%d printable bytes", SCN_UNIT_MAX);
			copy(nd->unit, sizeof nd->unit, v);
			return 0;
		}
		if (strcmp(key, "role") == 0) {
			if (strcmp(v, "member") == 0)
				nd->enroller = 0;
			else if (strcmp(v, "enroller") == 0)
				nd->enroller = 1;
			else
				return scn_fail(p, "role is member or enroller");
			return 0;
		}
		if (strcmp(key, "bluetooth") == 0) {
			size_t n = strlen(v);

			if (n < 4 || n > 6 || strncmp(v, "hci", 3) != 0 ||
			    strspn(v + 3, "0123456789") != n - 3)
				return scn_fail(p, "bluetooth is this node's adapter on the machine that "
				    "runs the drill: hci0, hci1, ...");
			if (nd->bluetooth[0])
				return scn_fail(p, "node %s already has a Bluetooth adapter", nd->name);
			for (int i = 0; i < s->nnodes; i++)
				if (strcmp(s->node[i].bluetooth, v) == 0)
					return scn_fail(p, "adapter %s is already node %s's; each node needs "
					    "its own", v, s->node[i].name);
			copy(nd->bluetooth, sizeof nd->bluetooth, v);
			nd->bt_line = p->line;
			return 0;
		}
		if (strcmp(key, "radio") == 0)
			return radio_hint(p, "no key \"radio\"");
		return scn_fail(p, "unknown key \"%.40s\" in [node]: expected site, unit, role, "
		    "brokers, lora or bluetooth", key);
	}
	if (p->sect == S_LORA) {
		struct scn_lora *lr = &s->lora[p->cur];
		long x;

		if (p->nwords != 1)
			return scn_fail(p, "\"%s\" takes one value", key);
		if (strcmp(key, "region") == 0) {
			if (strcmp(v, "EU868") != 0 && strcmp(v, "eu868") != 0)
				return scn_fail(p, "unknown region \"%.40s\": the modem knows EU868",
				    v);
			copy(lr->region, sizeof lr->region, "EU868");
			return 0;
		}
		if (strcmp(key, "preset") == 0) {
			for (size_t i = 0; i < sizeof lora_presets / sizeof lora_presets[0]; i++)
				if (strcmp(v, lora_presets[i]) == 0) {
					copy(lr->preset, sizeof lr->preset, v);
					return 0;
				}
			return scn_fail(p, "unknown preset \"%.40s\": use " LORA_PRESETS_LIST
			    " (docs/lora.md)", v);
		}
		if (strcmp(key, "frequency") == 0) {
			if (parse_int(v, 863000000, 870000000, 0, &x) != 0)
				return scn_fail(p, "frequency is in Hz inside EU868 (863000000 to "
				    "870000000), e.g. 869525000");
			lr->freq_hz = (uint32_t)x;
			return 0;
		}
		if (strcmp(key, "tx-power") == 0) {
			if (parse_int(v, -9, 22, 0, &x) != 0)
				return scn_fail(p, "tx-power is -9 to 22 (dBm)");
			lr->tx_power = (int)x;
			return 0;
		}
		if (strcmp(key, "extra-loss") == 0) {
			size_t n = strlen(v);

			if (n > 2 && strcmp(v + n - 2, "dB") == 0)
				v[n - 2] = '\0';
			if (parse_int(v, 0, 200, 0, &x) != 0)
				return scn_fail(p, "extra-loss is 0 to 200 (dB, added to every path)");
			lr->extra_loss_db = (int)x;
			return 0;
		}
		if (strcmp(key, "loss") == 0) {
			size_t n = strlen(v);

			if (n > 1 && v[n - 1] == '%')
				v[n - 1] = '\0';
			if (parse_int(v, 0, 100, 0, &x) != 0)
				return scn_fail(p, "loss is 0%% to 100%% (frames lost at random)");
			lr->loss_percent = (int)x;
			return 0;
		}
		return scn_fail(p, "unknown key \"%.40s\" in [lora]: expected region, preset, "
		    "frequency, tx-power, extra-loss or loss", key);
	}
	return scn_fail(p, "[bridge] takes no keys");
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
		return scn_need_site(p, w + 5, &out->idx);
	}
	out->kind = SCN_WHO_NODE;
	return scn_need_node(p, w, &out->idx);
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
		if (p->nwords < 2 || scn_need_time(p, "at", p->words[1], &t.at_ms) != 0)
			return p->nwords < 2 ? scn_fail(p, "at TIME FROM -> TO PRECEDENCE") : -1;
		i = 2;
	} else if (strcmp(p->words[0], "every") == 0) {
		if (p->nwords < 2 || scn_need_time(p, "every", p->words[1], &t.every_ms) != 0)
			return p->nwords < 2 ? scn_fail(p, "every PERIOD [from TIME] [to TIME] "
			    "FROM -> TO PRECEDENCE") : -1;
		if (t.every_ms < 100 || t.every_ms > SCN_DURATION_MAX)
			return scn_fail(p, "the period is 100ms to 1h");
		i = 2;
		t.until_ms = SCN_DURATION_MAX;     /* capped to the duration at the end */
		if (i + 1 < p->nwords && strcmp(p->words[i], "from") == 0 && !p->quoted[i]) {
			if (scn_need_time(p, "from", p->words[i + 1], &t.at_ms) != 0)
				return -1;
			i += 2;
		}
		if (i + 1 < p->nwords && strcmp(p->words[i], "to") == 0 && !p->quoted[i]) {
			if (scn_need_time(p, "to", p->words[i + 1], &t.until_ms) != 0)
				return -1;
			i += 2;
		}
		if (t.until_ms < t.at_ms)
			return scn_fail(p, "\"to\" comes before \"from\"");
	} else {
		return scn_fail(p, "a traffic line starts with \"at TIME\" or \"every PERIOD\"");
	}
	if (i + 4 > p->nwords || strcmp(p->words[i + 1], "->") != 0 || p->quoted[i + 1])
		return scn_fail(p, "expected FROM -> TO PRECEDENCE after the time (FROM and TO: a "
		    "node, site:NAME or *)");
	if (p->quoted[i] || p->quoted[i + 2] || p->quoted[i + 3])
		return scn_fail(p, "only the message text is quoted");
	if (who(p, p->words[i], &t.from) != 0 || who(p, p->words[i + 2], &t.to) != 0)
		return -1;
	for (t.prec = 0; t.prec < SCN_NPREC; t.prec++)
		if (strcmp(p->words[i + 3], prec_names[t.prec]) == 0)
			break;
	if (t.prec == SCN_NPREC)
		return scn_fail(p, "unknown precedence \"%.40s\": use flash, immediate, priority "
		    "or routine", p->words[i + 3]);
	i += 4;
	if (i < p->nwords) {
		if (!p->quoted[i] || i + 1 != p->nwords)
			return scn_fail(p, "after the precedence only a \"quoted text\" may follow");
		if (!valid_text(p->words[i], SCN_TEXT_MAX) || !p->words[i][0])
			return scn_fail(p, "the text is 1..%d printable bytes", SCN_TEXT_MAX);
		copy(t.text, sizeof t.text, p->words[i]);
	}
	if (t.from.kind == SCN_WHO_NODE && t.to.kind == SCN_WHO_NODE && t.from.idx == t.to.idx)
		return scn_fail(p, "a node sending to itself");
	if (s->ntraffic == SCN_TRAFFIC_MAX)
		return scn_fail(p, "too many traffic lines (at most %d)", SCN_TRAFFIC_MAX);
	s->traffic[s->ntraffic++] = t;
	return 0;
}

/* ---------------- whole file ---------------- */

static int
finish(struct parser *p)
{
	struct scenario *s = p->s;
	size_t n;
	struct scn_msg *m;

	p->line = 0;
	if (!p->seen_drill)
		return scn_fail(p, "no [drill] section: start the file with [drill] and "
		    "duration = TIME");
	if (s->duration_ms == 0)
		return scn_fail(p, "[drill] needs duration = TIME (1s to 1h)");
	if (s->nnodes < 2)
		return scn_fail(p, "a drill needs two nodes or more");
	for (int i = 0; i < s->nnodes; i++) {
		struct scn_node *nd = &s->node[i];

		p->line = nd->line;
		if (nd->site < 0)
			return scn_fail(p, "node %s needs site = SITE", nd->name);
		/* A node of a site without a broker may live on its radio alone. */
		if (!nd->brokers && s->site[nd->site].broker)
			nd->brokers = 1u << nd->site;
		if (!nd->brokers && nd->lora < 0 && !nd->bluetooth[0])
			return scn_fail(p, "node %s has no link: its site has broker = no. Add "
			    "brokers = SITE, lora = or bluetooth =", nd->name);
		if (!nd->unit[0])
			copy(nd->unit, sizeof nd->unit, s->site[nd->site].name);
	}
	for (int i = 0; i < s->nlora; i++) {
		const struct scn_lora *lr = &s->lora[i];
		int radios = 0;

		p->line = lr->line;
		for (int k = 0; k < s->nnodes; k++)
			radios += s->node[k].lora == i;
		if (radios < 2)
			return scn_fail(p, "LoRa channel %s has %d radio%s: a link needs two or more. "
			    "Give nodes lora = %s X Y", lr->name, radios, radios == 1 ? "" : "s",
			    lr->name);
		if (strcmp(lr->preset, "short-turbo") == 0 && lr->freq_hz == 0)
			return scn_fail(p, "short-turbo's 500 kHz does not fit EU868's default channel "
			    "(250 kHz wide): add frequency = 866500000 or choose short-fast "
			    "(docs/lora.md)");
	}
	for (int i = 0; i < s->ntraffic; i++) {
		struct scn_traffic *t = &s->traffic[i];

		p->line = t->line;
		if (t->at_ms > s->duration_ms)
			return scn_fail(p, "this traffic starts after the drill's duration (%us)",
			    (unsigned)(s->duration_ms / 1000));
		if (t->every_ms && t->until_ms > s->duration_ms)
			t->until_ms = s->duration_ms;
	}
	p->line = 0;
	if (scn_check_timeline(p) != 0)
		return -1;
	if (scenario_messages(s, &m, &n) != 0)
		return scn_fail(p, "out of memory expanding the traffic");
	free(m);
	if (n > SCN_MESSAGES_MAX)
		return scn_fail(p, "the traffic adds up to more than %d messages; send less often",
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
		scn_fail(p, "the file is larger than %u bytes", SCN_FILE_MAX);
		goto out;
	}
	while (at < len) {
		const char *l = text + at, *nl = memchr(l, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - l) : len - at;

		at += ll + (nl != NULL);
		p->line++;
		if (memchr(l, '\0', ll)) {
			scn_fail(p, "a NUL byte: the scenario must be a text file");
			goto out;
		}
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll > SCN_LINE_MAX) {
			scn_fail(p, "the line is longer than %d bytes", SCN_LINE_MAX);
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
			scn_fail(p, "this line is outside any section: start with [drill]");
			goto out;
		case S_DRILL:
		case S_SITE:
		case S_NODE:
		case S_BRIDGE:
		case S_LORA:
			if (keyvalue(p, l, ll) != 0)
				goto out;
			break;
		case S_TRAFFIC:
			if (split(p, l, ll) != 0 || traffic(p) != 0)
				goto out;
			break;
		case S_TIMELINE:
			if (split(p, l, ll) != 0 || scn_timeline(p) != 0)
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
