/*
 * apagond: the node daemon. Unlocks the node once, then serves it: the links of
 * DIR/apagon.conf, the control socket DIR/control.sock, housekeeping. See
 * node/daemon.h for the loop and docs/mqtt.md for the MQTT links.
 *
 *   apagond --dir DIR [--passphrase-file FILE | --no-passphrase] [-v]
 *   apagond --dir DIR --check
 *
 * Exit status: 0 clean stop (or a valid config with --check), 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "../node/config.h"
#include "../node/daemon.h"
#include "../node/log.h"
#include "../node/node.h"

#define PASS_MAX 1024

static const char usage[] =
"usage: apagond --dir DIR [--passphrase-file FILE | --no-passphrase] [-v]\n"
"       apagond --dir DIR --check\n"
"\n"
"Serve the apagon node in DIR: carry its messages over the links configured in\n"
"DIR/apagon.conf, and answer the apagon command line on DIR/control.sock (mode 0600).\n"
"The identity is unlocked once, at start, and wiped from memory on exit.\n"
"\n"
"Options:\n"
"  --dir DIR               the node's directory (default: $APAGON_DIR)\n"
"  --passphrase-file FILE  read the passphrase from the first line of FILE; else\n"
"                          $APAGON_PASSPHRASE, else a prompt when stdin is a terminal\n"
"  --no-passphrase         the identity key is stored unprotected (unattended relay)\n"
"  --check                 validate DIR/apagon.conf and exit: 0 if it is good, 1 with\n"
"                          one \"file:line: problem\" line per error\n"
"  -v, --verbose           log more\n"
"  -h, --help              show this help\n"
"\n"
"DIR/apagon.conf has one section per link:\n"
"  [mqtt site1]\n"
"  host = 127.0.0.1\n"
"  port = 1883\n"
"  # optional: username, password-file, tls-ca, keepalive\n"
"\n"
"Signals: SIGHUP reloads apagon.conf (a broken file is reported and the running\n"
"configuration kept); SIGTERM and SIGINT stop cleanly. Logs go to stderr.\n";

static char passbuf[PASS_MAX];

static int
read_passfile(const char *path)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warn("cannot read passphrase file %s", path);
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		log_warnx("passphrase file %s can be read by other users; chmod 600 it", path);
	n = read(fd, passbuf, sizeof passbuf - 1);
	close(fd);
	if (n < 0) {
		log_warn("cannot read passphrase file %s", path);
		return -1;
	}
	passbuf[n] = '\0';
	passbuf[strcspn(passbuf, "\r\n")] = '\0';
	return 0;
}

static int
read_tty(const char *dir)
{
	struct termios t, saved;
	size_t n = 0;
	int fd, echo_off = 0;
	char ch;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	if (tcgetattr(fd, &saved) == 0) {
		t = saved;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		echo_off = tcsetattr(fd, TCSAFLUSH, &t) == 0;
	}
	dprintf(fd, "Passphrase for the node in %s: ", dir);
	while (read(fd, &ch, 1) == 1 && ch != '\n')
		if (n + 1 < sizeof passbuf)
			passbuf[n++] = ch;
	passbuf[n] = '\0';
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &saved);
	dprintf(fd, "\n");
	close(fd);
	return 0;
}

/* 1 if the key file was written with --no-passphrase (docs/protocol.md, "Key file"). */
static int
keyfile_clear(const char *dir)
{
	char path[4096];
	uint8_t h[6];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/identity.key", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, h, sizeof h);
	close(fd);
	return n == (ssize_t)sizeof h && memcmp(h, "APGK", 4) == 0 && h[4] == 1 &&
	    h[5] == KEYFILE_NONE;
}

static int
check_config(const char *dir)
{
	char path[4096], err[8192];
	struct conf *c = NULL;
	int missing, rc;

	snprintf(path, sizeof path, "%s/%s", dir, CONF_FILE);
	rc = conf_load(&c, path, &missing, err, sizeof err);
	if (rc != 0) {
		fputs(err, stderr);
		return 1;
	}
	if (missing)
		printf("%s: no such file: no links configured\n", path);
	else
		printf("%s: ok, %d %s\n", path, conf_count(c), conf_count(c) == 1 ? "link" : "links");
	for (int i = 0; i < conf_count(c); i++)
		printf("  [%s %s] line %d\n", conf_kind(conf_at(c, i)), conf_name(conf_at(c, i)),
		    conf_line(conf_at(c, i)));
	conf_free(c);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = getenv("APAGON_DIR"), *passfile = NULL, *pass = NULL, *e;
	struct daemon *d = NULL;
	struct node *n = NULL;
	char path[4096];
	int check = 0, no_pass = 0, verbose = 0, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--check") == 0) {
			check = 1;
		} else if (strcmp(a, "--no-passphrase") == 0) {
			no_pass = 1;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			verbose++;
		} else if (strcmp(a, "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strncmp(a, "--dir=", 6) == 0) {
			dir = a + 6;
		} else if (strcmp(a, "--passphrase-file") == 0 && i + 1 < argc) {
			passfile = argv[++i];
		} else if (strncmp(a, "--passphrase-file=", 18) == 0) {
			passfile = a + 18;
		} else {
			fprintf(stderr, "apagond: unknown or incomplete option %s\n"
			    "Run \"apagond --help\" for the options.\n", a);
			return 2;
		}
	}
	if (!dir || !*dir) {
		fprintf(stderr, "apagond: no node directory: pass --dir DIR or set APAGON_DIR\n");
		return 2;
	}
	if (check)
		return check_config(dir);

	log_init("apagond", verbose);
	if (crypto_init() != 0)
		fatalx("libsodium could not initialise; check /dev/urandom");
	snprintf(path, sizeof path, "%s/identity.key", dir);
	if (access(path, F_OK) != 0)
		fatalx("no node in %s (no identity.key); create one with: apagon --dir %s init "
		    "--name NAME", dir, dir);
	if (!keyfile_clear(dir)) {
		if (no_pass)
			fatalx("the key of the node in %s is sealed under a passphrase, but "
			    "--no-passphrase was given", dir);
		if (passfile) {
			if (read_passfile(passfile) != 0)
				return 1;
		} else if ((e = getenv("APAGON_PASSPHRASE")) && *e) {
			snprintf(passbuf, sizeof passbuf, "%s", e);
		} else if (isatty(STDIN_FILENO)) {
			if (read_tty(dir) != 0)
				fatalx("cannot read a passphrase from the terminal");
		} else {
			fatalx("no passphrase for the node in %s: set APAGON_PASSPHRASE, pass "
			    "--passphrase-file FILE, or run it on a terminal", dir);
		}
		pass = passbuf;
	}
	rc = node_open(&n, dir, pass);
	sodium_memzero(passbuf, sizeof passbuf);
	if (rc == NODE_CRYPTO_ERR(CRYPTO_EPASS))
		fatalx("cannot unlock the node in %s: wrong passphrase", dir);
	if (rc != 0)
		fatalx("cannot open the node in %s: %s", dir, node_strerror(rc));
	if (!node_netkeys(n))
		log_warnx("the node in %s is not enrolled yet: links stay closed until an "
		    "enrollment file is imported (apagon --dir %s import FILE)", dir, dir);

	if ((rc = daemon_open(&d, n, dir)) != 0) {
		node_close(n);
		if (rc == -EINVAL)
			fatalx("%s/%s is broken (see above); fix it, check with apagond --dir %s "
			    "--check", dir, CONF_FILE, dir);
		fatalx("cannot start: %s", strerror(-rc));
	}
	rc = daemon_run(d);
	daemon_close(d);
	node_close(n);          /* wipes the identity, network and local keys */
	log_info("stopped");
	return rc == 0 ? 0 : 1;
}
