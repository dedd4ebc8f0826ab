/*
 * A tiny streaming JSON writer for --json. Output is compact, one document per run.
 * Strings are escaped per RFC 8259 section 7: quote, backslash and every control
 * character; bytes that are not valid UTF-8 become U+FFFD, since message texts come
 * from other people and JSON must be valid Unicode.
 */
#include "apagon.h"

#include <inttypes.h>
#include <string.h>

void
json_start(struct json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
}

void
json_finish(struct json *j)
{
	fputc('\n', j->f);
}

size_t
json_utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and anything past U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void
put_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s < 0x20 || *s == 0x7f) {
			switch (*s) {
			case '\n': fputs("\\n", f); break;
			case '\t': fputs("\\t", f); break;
			case '\r': fputs("\\r", f); break;
			default:   fprintf(f, "\\u%04x", *s); break;
			}
			s++;
		} else if ((n = json_utf8_len(s)) == 0) {
			fputs("\\ufffd", f);
			s++;
		} else {
			fwrite(s, 1, n, f);
			s += n;
		}
	}
	fputc('"', f);
}

/* Comma and key before a value at the current level. */
static void
prefix(struct json *j, const char *key)
{
	if (j->count[j->depth]++ > 0)
		fputc(',', j->f);
	if (key) {
		put_string(j->f, key);
		fputc(':', j->f);
	}
}

/* Callers nest a few levels at most; JSON_MAX_DEPTH is far above what any verb uses. */
static void
open_level(struct json *j, const char *key, char open, char close)
{
	prefix(j, key);
	fputc(open, j->f);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->count[j->depth] = 0;
	j->close[j->depth] = close;
}

void
json_obj(struct json *j, const char *key)
{
	open_level(j, key, '{', '}');
}

void
json_arr(struct json *j, const char *key)
{
	open_level(j, key, '[', ']');
}

void
json_end(struct json *j)
{
	if (j->depth == 0)
		return;
	fputc(j->close[j->depth], j->f);
	j->depth--;
}

void
json_str(struct json *j, const char *key, const char *val)
{
	prefix(j, key);
	if (val)
		put_string(j->f, val);
	else
		fputs("null", j->f);
}

void
json_int(struct json *j, const char *key, int64_t val)
{
	prefix(j, key);
	fprintf(j->f, "%" PRId64, val);
}

void
json_bool(struct json *j, const char *key, int val)
{
	prefix(j, key);
	fputs(val ? "true" : "false", j->f);
}

void
json_hex(struct json *j, const char *key, const uint8_t *buf, size_t len)
{
	prefix(j, key);
	fputc('"', j->f);
	for (size_t i = 0; i < len; i++)
		fprintf(j->f, "%02x", buf[i]);
	fputc('"', j->f);
}
