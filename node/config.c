/*
 * The config parser (config.h): line at a time, table-driven by section kind, every
 * error with its file and line. No I/O except in conf_load.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

enum conf_type {
	CONF_STRING,            /* printable, no control characters */
	CONF_HOST,              /* a host name or address: printable ASCII, no spaces */
	CONF_INT,               /* decimal in [min, max] */
	CONF_PATH,              /* a file name; relative to the config's directory */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	int required;
	long min, max;
};

struct conf_kind {
	const char *name;
	const struct conf_key *keys;
};

/* [mqtt NAME]: docs/mqtt.md. Keepalive bounds: under 5 s a LoRa-backhauled broker
 * link flaps; past an hour a dead broker goes unnoticed for too long. */
static const struct conf_key mqtt_keys[] = {
	{ "host", CONF_HOST, 1, 0, 0 },
	{ "port", CONF_INT, 0, 1, 65535 },
	{ "username", CONF_STRING, 0, 0, 0 },
	{ "password-file", CONF_PATH, 0, 0, 0 },
	{ "tls-ca", CONF_PATH, 0, 0, 0 },
	{ "keepalive", CONF_INT, 0, 5, 3600 },
	{ NULL, CONF_STRING, 0, 0, 0 },
};

/* [bluetooth NAME]: docs/bluetooth.md. LE PSMs 0x0080..0x00FF are the dynamic range
 * (Core Specification Vol 3 Part A 4.22); max-links stays under the piconet's seven;
 * rotate-after (seconds a link is held while another member waits): under 10 s a link
 * barely finishes its handshake, past a day nobody else gets a turn; peers: up to 8
 * addresses dialed without discovery. */
static const struct conf_key bluetooth_keys[] = {
	{ "adapter", CONF_HOST, 0, 0, 0 },
	{ "psm", CONF_INT, 0, 0x80, 0xff },
	{ "max-links", CONF_INT, 0, 1, 7 },
	{ "rotate-after", CONF_INT, 0, 10, 86400 },
	{ "peers", CONF_STRING, 0, 0, 0 },
	{ NULL, CONF_STRING, 0, 0, 0 },
};

/* [lora NAME]: docs/lora.md. region and preset are checked by the transport against
 * its tables (it names the file and line); frequency in Hz within 150 MHz..960 MHz,
 * the SX1262's range; tx-power as the chip allows (-9..22 dBm); slot-ms only for a
 * simulated channel on a time scale. */
static const struct conf_key lora_keys[] = {
	{ "device", CONF_PATH, 1, 0, 0 },
	{ "region", CONF_STRING, 0, 0, 0 },
	{ "preset", CONF_STRING, 0, 0, 0 },
	{ "frequency", CONF_INT, 0, 150000000, 960000000 },
	{ "tx-power", CONF_INT, 0, 0, 22 },
	{ "hop-limit", CONF_INT, 0, 1, 15 },
	{ "slot-ms", CONF_INT, 0, 1, 60000 },
	{ "sender-rate", CONF_INT, 0, 1, 6000 },        /* bundles a minute per sender */
	{ "sender-burst", CONF_INT, 0, 1, 10000 },
	{ "time-scale", CONF_STRING, 0, 0, 0 },         /* simulated channel only */
	{ NULL, CONF_STRING, 0, 0, 0 },
};

/* One row per section kind; a transport for a new bearer adds its row here. */
static const struct conf_kind conf_kinds[] = {
	{ "mqtt", mqtt_keys },
	{ "bluetooth", bluetooth_keys },
	{ "lora", lora_keys },
};
#define NKINDS (sizeof conf_kinds / sizeof conf_kinds[0])

struct conf_kv {
	const struct conf_key *key;
	char val[CONF_VAL_MAX + 1];
	int line;
};

struct conf_section {
	const struct conf *conf;
	const struct conf_kind *kind;
	char name[CONF_NAME_MAX + 1];
	int line;
	int nkv;
	struct conf_kv kv[CONF_KEYS_MAX];
};

struct conf {
	char base[4096];        /* directory of the file, for relative paths */
	int n;
	struct conf_section s[CONF_SECTIONS_MAX];
};

/* The parser's state: where errors go and how many there were. */
struct parse {
	const char *file;
	int line;
	char *err;
	size_t errcap, errlen;
	int nerr;
};

static void perr(struct parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(struct parse *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (++p->nerr > CONF_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!p->err || p->errlen + 1 >= p->errcap)
		return;
	if (p->nerr == CONF_ERRORS_MAX)
		n = snprintf(p->err + p->errlen, p->errcap - p->errlen,
		    "%s: too many errors; stopped listing them\n", p->file);
	else
		n = snprintf(p->err + p->errlen, p->errcap - p->errlen, "%s:%d: %s\n", p->file,
		    line, msg);
	if (n > 0)
		p->errlen += (size_t)n < p->errcap - p->errlen ? (size_t)n : p->errcap - p->errlen - 1;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim spaces and tabs at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		*--e = '\0';
	return s;
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static void
list_kinds(char *out, size_t cap)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NKINDS && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
		    conf_kinds[i].name);
}

static void
list_keys(const struct conf_kind *k, char *out, size_t cap)
{
	size_t len = 0;

	out[0] = '\0';
	for (const struct conf_key *key = k->keys; key->name && len < cap; key++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s",
		    key == k->keys ? "" : ", ", key->name);
}

/* "[kind name]": returns the new section, or NULL (error reported). */
static struct conf_section *
parse_header(struct parse *p, struct conf *c, char *s)
{
	const struct conf_kind *kind = NULL;
	struct conf_section *sec;
	char *end = strchr(s, ']'), *name, list[128];

	if (!end || *trim(end + 1) != '\0') {
		perr(p, p->line, "a section header must be '[kind name]' alone on its line");
		return NULL;
	}
	*end = '\0';
	s = trim(s + 1);
	for (name = s; *name && !is_space(*name); name++)
		;
	if (*name)
		*name++ = '\0';
	name = trim(name);
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(conf_kinds[i].name, s) == 0)
			kind = &conf_kinds[i];
	list_kinds(list, sizeof list);
	if (!kind) {
		perr(p, p->line, "unknown section kind '%.40s'; expected one of %s", s, list);
		return NULL;
	}
	if (!name_ok(name)) {
		perr(p, p->line, "[%s%s%.40s] needs a name of 1..%d letters, digits, '-', '_' "
		    "or '.', as in [%s site1]", s, *name ? " " : "", name, CONF_NAME_MAX, s);
		return NULL;
	}
	for (int i = 0; i < c->n; i++) {
		if (c->s[i].kind == kind && strcmp(c->s[i].name, name) == 0) {
			perr(p, p->line, "[%s %s] is defined twice (first on line %d)", s, name,
			    c->s[i].line);
			return NULL;
		}
	}
	if (c->n >= CONF_SECTIONS_MAX) {
		perr(p, p->line, "too many sections (at most %d)", CONF_SECTIONS_MAX);
		return NULL;
	}
	sec = &c->s[c->n++];
	memset(sec, 0, sizeof *sec);
	sec->conf = c;
	sec->kind = kind;
	sec->line = p->line;
	memcpy(sec->name, name, strlen(name) + 1);
	return sec;
}

/* Check a value against its key's type. 0 or -1 (error reported). */
static int
check_value(struct parse *p, const struct conf_section *sec, const struct conf_key *k,
    const char *v)
{
	const unsigned char *u = (const unsigned char *)v;

	if (*v == '\0') {
		perr(p, p->line, "'%s' in [%s %s] has an empty value", k->name, sec->kind->name,
		    sec->name);
		return -1;
	}
	if (strlen(v) > CONF_VAL_MAX) {
		perr(p, p->line, "the value of '%s' is longer than %d bytes", k->name, CONF_VAL_MAX);
		return -1;
	}
	for (; *u; u++) {
		if (*u < 0x20 || *u == 0x7f || (k->type == CONF_HOST && (*u == ' ' || *u > 0x7e))) {
			perr(p, p->line, "'%s' in [%s %s]: %s", k->name, sec->kind->name,
			    sec->name, k->type == CONF_HOST ?
			    "a host name or address, without spaces" :
			    "control characters are not allowed");
			return -1;
		}
	}
	if (k->type == CONF_INT) {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || *end || end == v || v[0] == '+' || v[0] == '-' || n < k->min ||
		    n > k->max) {
			perr(p, p->line, "'%s' in [%s %s] must be a number from %ld to %ld, not "
			    "'%.40s'", k->name, sec->kind->name, sec->name, k->min, k->max, v);
			return -1;
		}
	}
	return 0;
}

/* Cut a trailing comment: '#' or ';' at the start of s or after a space or tab
 * (s starts right after '=' or is the whole line). */
static void
cut_comment(char *s)
{
	for (char *q = s; *q; q++) {
		if ((*q == '#' || *q == ';') && (q == s || is_space(q[-1]))) {
			*q = '\0';
			return;
		}
	}
}

static void
parse_line(struct parse *p, struct conf *c, struct conf_section **cur, int *skip, char *s)
{
	const struct conf_key *key = NULL;
	struct conf_section *sec = *cur;
	char *eq, *k, *v, list[256];

	s = trim(s);
	if (*s == '\0' || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		cut_comment(s);
		*cur = parse_header(p, c, s);
		*skip = *cur == NULL;   /* keys under a bad header: one error is enough */
		return;
	}
	if (*skip)
		return;
	if ((eq = strchr(s, '=')) == NULL) {
		perr(p, p->line, "expected 'key = value' or a section header '[kind name]'");
		return;
	}
	*eq = '\0';
	k = trim(s);
	cut_comment(eq + 1);
	v = trim(eq + 1);
	if (!sec) {
		perr(p, p->line, "'%.40s' comes before any section; put settings under a header "
		    "such as [mqtt site1]", k);
		return;
	}
	for (const struct conf_key *q = sec->kind->keys; q->name; q++)
		if (strcmp(q->name, k) == 0)
			key = q;
	if (!key) {
		list_keys(sec->kind, list, sizeof list);
		perr(p, p->line, "unknown key '%.40s' in [%s %s]; expected one of %s", k,
		    sec->kind->name, sec->name, list);
		return;
	}
	for (int i = 0; i < sec->nkv; i++) {
		if (sec->kv[i].key == key) {
			perr(p, p->line, "'%s' is set twice in [%s %s] (first on line %d)",
			    key->name, sec->kind->name, sec->name, sec->kv[i].line);
			return;
		}
	}
	if (check_value(p, sec, key, v) != 0 || sec->nkv >= CONF_KEYS_MAX)
		return;
	sec->kv[sec->nkv].key = key;
	sec->kv[sec->nkv].line = p->line;
	memcpy(sec->kv[sec->nkv].val, v, strlen(v) + 1);
	sec->nkv++;
}

int
conf_parse(struct conf **out, const char *file, const char *text, size_t len,
    char *err, size_t errcap)
{
	struct parse p = { file, 0, err, errcap, 0, 0 };
	struct conf_section *cur = NULL;
	struct conf *c;
	char line[CONF_LINE_MAX + 1];
	size_t i = 0;
	int skip = 0;

	*out = NULL;
	if (err && errcap)
		err[0] = '\0';
	if ((c = calloc(1, sizeof *c)) == NULL)
		return -ENOMEM;
	while (i < len) {
		size_t n = 0;
		int nul = 0, long_line = 0;

		p.line++;
		for (; i < len && text[i] != '\n'; i++) {
			if (text[i] == '\0')
				nul = 1;
			if (n < CONF_LINE_MAX)
				line[n++] = text[i];
			else
				long_line = 1;
		}
		i++;                    /* past the newline */
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		if (nul) {
			perr(&p, p.line, "a NUL byte; the file must be text");
			continue;
		}
		if (long_line) {
			perr(&p, p.line, "the line is longer than %d bytes", CONF_LINE_MAX);
			continue;
		}
		parse_line(&p, c, &cur, &skip, line);
	}
	for (int s = 0; s < c->n; s++) {
		const struct conf_section *sec = &c->s[s];

		for (const struct conf_key *k = sec->kind->keys; k->name; k++)
			if (k->required && conf_get(sec, k->name) == NULL)
				perr(&p, sec->line, "[%s %s] needs '%s'", sec->kind->name, sec->name,
				    k->name);
	}
	if (p.nerr > 0) {
		free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

int
conf_load(struct conf **out, const char *path, int *missing, char *err, size_t errcap)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *slash;
	int rc;

	*out = NULL;
	if (missing)
		*missing = 0;
	if (err && errcap)
		err[0] = '\0';
	rc = node_read_file(path, &buf, &len, CONF_FILE_MAX);
	if (rc == NODE_SYS_ERR(ENOENT)) {
		if (missing)
			*missing = 1;
		rc = conf_parse(out, path, "", 0, err, errcap);
	} else if (rc != 0) {
		rc = rc <= -1000 ? -(-1000 - rc) : -EIO;
		if (err && errcap)
			snprintf(err, errcap, "%s: cannot read: %s\n", path, strerror(-rc));
		return rc;
	} else {
		rc = conf_parse(out, path, (const char *)buf, len, err, errcap);
	}
	free(buf);
	if (rc != 0)
		return rc;
	if ((slash = strrchr(path, '/')) != NULL) {
		size_t n = (size_t)(slash - path);

		if (n >= sizeof (*out)->base) {
			conf_free(*out);
			*out = NULL;
			return -ENAMETOOLONG;
		}
		memcpy((*out)->base, path, n);
		(*out)->base[n ? n : 1] = '\0';
		if (n == 0)
			(*out)->base[0] = '/';
	} else {
		memcpy((*out)->base, ".", 2);
	}
	return 0;
}

void
conf_free(struct conf *c)
{
	free(c);
}

int
conf_count(const struct conf *c)
{
	return c ? c->n : 0;
}

const struct conf_section *
conf_at(const struct conf *c, int i)
{
	return c && i >= 0 && i < c->n ? &c->s[i] : NULL;
}

const char *conf_kind(const struct conf_section *s) { return s->kind->name; }
const char *conf_name(const struct conf_section *s) { return s->name; }
int conf_line(const struct conf_section *s) { return s->line; }

const char *
conf_get(const struct conf_section *s, const char *key)
{
	for (int i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key->name, key) == 0)
			return s->kv[i].val;
	return NULL;
}

long
conf_get_int(const struct conf_section *s, const char *key, long def)
{
	const char *v = conf_get(s, key);

	return v ? strtol(v, NULL, 10) : def;
}

int
conf_get_path(const struct conf_section *s, const char *key, char *out, size_t cap)
{
	const char *v = conf_get(s, key);
	int n;

	if (!v)
		return -ENOENT;
	if (v[0] == '/' || s->conf->base[0] == '\0')
		n = snprintf(out, cap, "%s", v);
	else
		n = snprintf(out, cap, "%s/%s", s->conf->base, v);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int
conf_same(const struct conf_section *a, const struct conf_section *b)
{
	char pa[4096], pb[4096];

	if (a->kind != b->kind || strcmp(a->name, b->name) != 0 || a->nkv != b->nkv)
		return 0;
	for (int i = 0; i < a->nkv; i++) {
		const char *v = conf_get(b, a->kv[i].key->name);

		if (!v || strcmp(v, a->kv[i].val) != 0)
			return 0;
		/* The same relative path under another directory is another file. */
		if (a->kv[i].key->type == CONF_PATH &&
		    (conf_get_path(a, a->kv[i].key->name, pa, sizeof pa) != 0 ||
		    conf_get_path(b, a->kv[i].key->name, pb, sizeof pb) != 0 ||
		    strcmp(pa, pb) != 0))
			return 0;
	}
	return 1;
}
