/* node/config.c: the apagon.conf parser — contract forms, comments, and errors that
 * name the file and line. */
#include "../test.h"

#include <errno.h>

#include "../../node/config.h"

static struct conf *
parse(const char *text, char *err, size_t cap, int *rc)
{
	struct conf *c = NULL;

	*rc = conf_parse(&c, "apagon.conf", text, strlen(text), err, cap);
	return c;
}

static void
test_contract_forms(void)
{
	char err[1024];
	int rc;
	struct conf *c = parse("# sites\n; and more\n[mqtt site1]\nhost = 127.0.0.1\n"
	    "port = 1883\n\n[mqtt site2]\nhost = broker.lan   # trailing\nusername = relay\n"
	    "password-file = mqtt.pass\ntls-ca = /etc/ca.pem\nkeepalive = 30\n", err,
	    sizeof err, &rc);

	CHECK_EQ(rc, 0);
	CHECK(c != NULL);
	CHECK_EQ(conf_count(c), 2);
	CHECK(strcmp(conf_kind(conf_at(c, 0)), "mqtt") == 0);
	CHECK(strcmp(conf_name(conf_at(c, 1)), "site2") == 0);
	CHECK(strcmp(conf_get(conf_at(c, 1), "host"), "broker.lan") == 0);
	CHECK_EQ(conf_get_int(conf_at(c, 0), "port", 0), 1883);
	CHECK_EQ(conf_get_int(conf_at(c, 0), "keepalive", 42), 42);
	CHECK(conf_get(conf_at(c, 0), "username") == NULL);
	CHECK_EQ(conf_line(conf_at(c, 1)), 7);
	CHECK(!conf_same(conf_at(c, 0), conf_at(c, 1)));
	conf_free(c);
}

static void
test_errors_name_file_and_line(void)
{
	char err[2048];
	int rc;
	struct conf *c = parse("[mqtt site1]\nhost = 127.0.0.1\n\n\n\n\nprot = 1883\n", err,
	    sizeof err, &rc);

	CHECK(c == NULL);
	CHECK_EQ(rc, -EINVAL);
	CHECK(strstr(err, "apagon.conf:7: unknown key 'prot' in [mqtt site1]; expected one of "
	    "host, port, username, password-file, tls-ca, keepalive") != NULL);

	c = parse("[serial radio]\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:1: unknown section kind 'serial'") != NULL);
	c = parse("[lora radio]\nregion = EU868\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:1: [lora radio] needs 'device'") != NULL);
	c = parse("host = x\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:1: 'host' comes before any section") != NULL);
	c = parse("[mqtt a]\nhost = x\n[mqtt a]\nhost = y\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:3: [mqtt a] is defined twice (first on line 1)"));
	c = parse("[mqtt a]\nport = 99999\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:2: 'port' in [mqtt a] must be a number from 1 to 65535"));
	CHECK(strstr(err, "apagon.conf:1: [mqtt a] needs 'host'") != NULL);
	c = parse("[mqtt a]\nhost = x\nhost = y\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:3: 'host' is set twice"));
	c = parse("[mqtt a]\nhost =;x\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:2: 'host' in [mqtt a] has an empty value"));
	c = parse("[mqtt]\n", err, sizeof err, &rc);
	CHECK(c == NULL && strstr(err, "apagon.conf:1: [mqtt] needs a name"));
}

static void
test_every_error_listed(void)
{
	char err[2048];
	int rc, lines = 0;
	struct conf *c = parse("[mqtt a]\nprot = 1\nhots = 2\n[serial b]\n", err,
	    sizeof err, &rc);

	CHECK(c == NULL);
	for (const char *p = err; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	CHECK_EQ(lines, 4);             /* prot, hots, serial, and host missing */
}

static void
test_empty_and_crlf(void)
{
	char err[256];
	int rc;
	struct conf *c = parse("", err, sizeof err, &rc);

	CHECK_EQ(rc, 0);
	CHECK_EQ(conf_count(c), 0);
	conf_free(c);
	c = parse("[mqtt a]\r\nhost = h\r\n", err, sizeof err, &rc);
	CHECK_EQ(rc, 0);
	CHECK(c && strcmp(conf_get(conf_at(c, 0), "host"), "h") == 0);
	conf_free(c);
}

int
main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(test_contract_forms),
		TEST(test_errors_name_file_and_line),
		TEST(test_every_error_listed),
		TEST(test_empty_and_crlf),
	};

	return test_main("config", cases, sizeof cases / sizeof cases[0], argc, argv);
}
