/*
 * Harness: conf_parse (node/config.h), the parser of DIR/apagon.conf.
 *
 * Invariants: on success every section has a kind, a valid name and only non-empty
 * values, and writing the sections back out as text parses again to the same
 * sections (conf_same); on failure *out is NULL and every error line starts with
 * "file:" so a user can find it.
 */
#include "fuzz.h"

#include "../../node/config.h"

static const char *const keys[] = {
	"host", "port", "username", "password-file", "tls-ca", "keepalive",
	"adapter", "psm", "max-links", "rotate-after", "peers",
	"device", "region", "preset", "frequency", "tx-power", "hop-limit", "slot-ms",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c = (struct conf *)1, *again = NULL;
	char err[4096], *text;
	size_t len = 0, cap;
	int rc;

	if (size > CONF_FILE_MAX)
		return 0;
	rc = conf_parse(&c, "fuzz.conf", (const char *)data, size, err, sizeof err);
	if (rc != 0) {
		FUZZ_CHECK(c == NULL);
		FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
		for (char *nl = strchr(err, '\n'); nl && nl[1]; nl = strchr(nl + 1, '\n'))
			FUZZ_CHECK(strncmp(nl + 1, "fuzz.conf:", 10) == 0);
		return 0;
	}
	FUZZ_CHECK(c != NULL && conf_count(c) <= CONF_SECTIONS_MAX);
	cap = (size_t)conf_count(c) * (CONF_NAME_MAX + 16 + CONF_KEYS_MAX * (CONF_VAL_MAX + 20)) + 1;
	if ((text = malloc(cap)) == NULL)
		abort();
	text[0] = '\0';
	for (int i = 0; i < conf_count(c); i++) {
		const struct conf_section *s = conf_at(c, i);

		FUZZ_CHECK(s && conf_kind(s)[0] && conf_name(s)[0]);
		FUZZ_CHECK(strlen(conf_name(s)) <= CONF_NAME_MAX);
		FUZZ_CHECK(conf_same(s, s));
		len += (size_t)snprintf(text + len, cap - len, "[%s %s]\n", conf_kind(s),
		    conf_name(s));
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			const char *v = conf_get(s, keys[k]);

			if (!v)
				continue;
			FUZZ_CHECK(v[0] != '\0' && strlen(v) <= CONF_VAL_MAX);
			len += (size_t)snprintf(text + len, cap - len, "%s = %s\n", keys[k], v);
		}
	}
	FUZZ_CHECK(len < cap);
	rc = conf_parse(&again, "again.conf", text, len, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "re-parse failed:\n%s\n---\n%s", err, text);
	FUZZ_CHECK(rc == 0 && conf_count(again) == conf_count(c));
	for (int i = 0; i < conf_count(c); i++)
		FUZZ_CHECK(conf_same(conf_at(c, i), conf_at(again, i)));
	free(text);
	conf_free(again);
	conf_free(c);
	return 0;
}
