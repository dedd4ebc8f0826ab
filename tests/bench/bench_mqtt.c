/*
 * The node over a real broker (make bench): a mosquitto on a free loopback port and
 * real apagond processes, against raw libmosquitto clients on the same broker in the
 * same run, with the same payload size (a 140-byte text) and QoS (0, what the MQTT
 * transport publishes at).
 *
 *   bench.mqtt_latency_vs_raw     median send -> message.received, alice's daemon to
 *                                 bob's (control socket in, control socket out), /
 *                                 median raw publish -> on_message
 *   bench.mqtt_throughput_vs_raw  messages per second delivered to bob's subscriber
 *                                 while alice's daemon is fed sends back to back, /
 *                                 raw messages per second delivered publisher -> subscriber
 *   node.rss_kb_100k              VmRSS of an apagond whose store holds 100,000 bundles
 *                                 (a relay's: four members' messages for bob), link up
 *
 * The absolute figures are printed too (*_us, *_per_s), with what explains them:
 *
 *   bench.store_commit_us         median durable commit (WAL, synchronous = FULL) of one
 *                                 small transaction in the same directory, same run
 *   bench.mqtt_latency_floor_us   2 commits (alice's before send answers, bob's before
 *                                 custody) + the raw latency: no durable node beats it
 *   bench.mqtt_latency_floor_vs_raw  that floor / the raw latency
 *   bench.crypto_us_per_msg       raw libsodium: sign + seal + verify + open, one bundle (signed
 *                                 over its BLAKE2b, as bundles are)
 *   bench.mqtt_throughput_crypto_ceiling_vs_raw  1e6 / crypto_us_per_msg / raw rate:
 *                                 the best throughput ratio any node that signs and
 *                                 verifies every bundle on one core could reach
 *   bench.mqtt_pipelined_msgs_per_s  throughput when alice's client keeps PIPE_WINDOW
 *                                 sends in flight: the daemon commits a turn's sends
 *                                 together (group commit). It runs after the sustained
 *                                 phase has spent alice's per-sender burst at bob (1,000
 *                                 bundles), so it shows the per-sender rate limit
 *                                 (mesh/ratelimit.h: 20 a second sustained) at work
 *
 * Skipped with a note on stderr when mosquitto or apagond is missing.
 */
#define _GNU_SOURCE
#include "../../node/node_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEXT_LEN   140
#define LAT_N      100
#define RAW_LAT_N  1000
#define TPUT_N     1000
#define RAW_TPUT_N 50000
#define RAW_WINDOW 1000
#define RSS_N      100000
#define RSS_SENDERS 4
#define COMMIT_N   50
#define PIPE_N     2000
#define PIPE_WINDOW 32

static double send_rpc_us, pipe_rate;
static char tmp[4096];
static char apagond[4096];
static const char *mosquitto_bin;
static pid_t pids[8];
static int npids;

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_mqtt: %s\n", what);
	for (int i = 0; i < npids; i++)
		kill(pids[i], SIGKILL);
	exit(1);
}

static pid_t
spawn(const char *log, char *const argv[])
{
	pid_t p = fork();

	if (p < 0)
		die("fork");
	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	pids[npids++] = p;
	return p;
}

static void
stop(pid_t p)
{
	kill(p, SIGTERM);
	waitpid(p, NULL, 0);
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) != 0)
		die("no free port");
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---------------- the raw baseline: two libmosquitto clients ---------------- */

struct raw {
	int subscribed;
	long received;
	double last_rx;
};

static void
raw_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *q)
{
	(void)m; (void)mid; (void)n; (void)q;
	((struct raw *)obj)->subscribed = 1;
}

static void
raw_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct raw *r = obj;

	(void)m; (void)msg;
	r->received++;
	r->last_rx = secs();
}

/* One turn of a poll() loop over both clients, as apagond drives libmosquitto. */
static void
pump(struct mosquitto *a, struct mosquitto *b, int timeout_ms)
{
	struct mosquitto *m[2] = { a, b };
	struct pollfd p[2];

	for (int i = 0; i < 2; i++) {
		p[i].fd = mosquitto_socket(m[i]);
		p[i].events = POLLIN | (mosquitto_want_write(m[i]) ? POLLOUT : 0);
		p[i].revents = 0;
	}
	poll(p, 2, timeout_ms);
	for (int i = 0; i < 2; i++) {
		if (p[i].revents & POLLIN)
			mosquitto_loop_read(m[i], 64);
		if (mosquitto_want_write(m[i]))
			mosquitto_loop_write(m[i], 64);
		mosquitto_loop_misc(m[i]);
	}
}

static void
bench_raw(int port, double *lat_us, double *per_s)
{
	static double lat[RAW_LAT_N];
	struct raw rpub = { 0 }, rsub = { 0 };
	struct mosquitto *pub = mosquitto_new(NULL, true, &rpub);
	struct mosquitto *sub = mosquitto_new(NULL, true, &rsub);
	uint8_t payload[TEXT_LEN];
	double t0, deadline;
	long sent = 0;

	randombytes_buf(payload, sizeof payload);
	if (!pub || !sub || mosquitto_connect(pub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
	    mosquitto_connect(sub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
		die("raw clients cannot connect");
	mosquitto_subscribe_callback_set(sub, raw_on_subscribe);
	mosquitto_message_callback_set(sub, raw_on_message);
	mosquitto_subscribe(sub, NULL, "bench/raw", 0);
	for (deadline = secs() + 5; !rsub.subscribed && secs() < deadline;)
		pump(pub, sub, 10);
	if (!rsub.subscribed)
		die("raw subscriber never subscribed");

	for (int i = 0; i < RAW_LAT_N; i++) {
		long want = rsub.received + 1;

		t0 = secs();
		mosquitto_publish(pub, NULL, "bench/raw", sizeof payload, payload, 0, false);
		for (deadline = t0 + 2; rsub.received < want && secs() < deadline;)
			pump(pub, sub, 100);
		lat[i] = (rsub.last_rx - t0) * 1e6;
	}
	*lat_us = median(lat, RAW_LAT_N);

	/* Sustained: at most RAW_WINDOW in flight, so nothing is lost to queue limits. */
	rsub.received = 0;
	t0 = secs();
	while (rsub.received < RAW_TPUT_N && secs() < t0 + 30) {
		while (sent < RAW_TPUT_N && sent - rsub.received < RAW_WINDOW) {
			mosquitto_publish(pub, NULL, "bench/raw", sizeof payload, payload, 0, false);
			sent++;
		}
		pump(pub, sub, 100);
	}
	*per_s = (double)rsub.received / (rsub.last_rx - t0);
	mosquitto_destroy(pub);
	mosquitto_destroy(sub);
}

/* ---------------- apagond through its control socket ---------------- */

struct ctl {
	int fd;
	char buf[1 << 20];
	size_t len;
};

static int
ctl_open(struct ctl *c, const char *dir)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double deadline = secs() + 10;

	snprintf(a.sun_path, sizeof a.sun_path, "%s/control.sock", dir);
	c->len = 0;
	while (secs() < deadline) {
		if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0)
			return 0;
		close(c->fd);
		usleep(50000);
	}
	return -1;
}

/* The next line (NUL-terminated in place, valid until the next call), or NULL. */
static char *
ctl_line(struct ctl *c, int timeout_ms)
{
	static char line[1 << 20];
	double deadline = secs() + timeout_ms / 1000.0;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { c->fd, POLLIN, 0 };
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			memcpy(line, c->buf, l);
			line[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return line;
		}
		if (secs() >= deadline || c->len == sizeof c->buf)
			return NULL;
		if (poll(&p, 1, (int)((deadline - secs()) * 1000) + 1) <= 0)
			continue;
		if ((n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len)) <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

static void
ctl_send(struct ctl *c, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = write(c->fd, s + off, len - off);

		if (n <= 0)
			die("control socket write");
		off += (size_t)n;
	}
}

/* A request and its answer (notifications in between are skipped). */
static char *
ctl_call(struct ctl *c, const char *method, const char *params)
{
	char req[1024];
	char *l;

	snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}\n",
	    method, params);
	ctl_send(c, req);
	while ((l = ctl_line(c, 10000)) != NULL)
		if (strstr(l, "\"id\":1"))
			return l;
	die("no answer on the control socket");
	return NULL;
}

static void
send_text(struct ctl *a, const char *text)
{
	char p[512];

	snprintf(p, sizeof p, "{\"to\":\"bob\",\"text\":\"%s\",\"precedence\":\"routine\"}", text);
	if (!strstr(ctl_call(a, "send", p), "\"result\""))
		die("send refused");
}

static void
text_of(char *out, const char *tag, int i)
{
	int n = snprintf(out, TEXT_LEN + 1, "%s %06d ", tag, i);

	memset(out + n, 'x', (size_t)(TEXT_LEN - n));
	out[TEXT_LEN] = '\0';
}

static void
bench_node(double *lat_us, double *per_s)
{
	static double lat[LAT_N], rpc[LAT_N];
	struct ctl *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	char text[TEXT_LEN + 1], dir_a[4200], dir_b[4200];
	double t0, deadline, t_last = 0;
	long got = 0;
	char *l;

	snprintf(dir_a, sizeof dir_a, "%s/alice", tmp);
	snprintf(dir_b, sizeof dir_b, "%s/bob", tmp);
	if (!a || !b || ctl_open(a, dir_a) != 0 || ctl_open(b, dir_b) != 0)
		die("no control socket");
	for (deadline = secs() + 20; secs() < deadline; usleep(100000))
		if (strstr(ctl_call(a, "peers", "{}"), "\"session\":\"open\""))
			break;
	if (secs() >= deadline)
		die("alice and bob never opened a session");
	ctl_call(b, "subscribe", "{}");

	/* A first message, not timed: both sides learn each other's prekeys in use. */
	text_of(text, "warm", 0);
	send_text(a, text);
	while ((l = ctl_line(b, 20000)) && !strstr(l, "message.received"))
		;
	if (!l)
		die("the warm-up message never arrived");

	for (int i = 0; i < LAT_N; i++) {
		text_of(text, "lat", i);
		t0 = secs();
		send_text(a, text);
		rpc[i] = (secs() - t0) * 1e6;
		while ((l = ctl_line(b, 20000)) && !(strstr(l, "message.received") && strstr(l, text)))
			;
		if (!l)
			die("a latency message never arrived");
		lat[i] = (secs() - t0) * 1e6;
	}
	*lat_us = median(lat, LAT_N);
	send_rpc_us = median(rpc, LAT_N);

	/* Sustained: sends back to back, bob's subscriber counts what arrives. */
	t0 = secs();
	for (int i = 0; i < TPUT_N; i++) {
		text_of(text, "tput", i);
		send_text(a, text);
		while ((l = ctl_line(b, 0)) != NULL)
			if (strstr(l, "message.received")) {
				got++;
				t_last = secs();
			}
	}
	while (got < TPUT_N && (l = ctl_line(b, 30000)) != NULL)
		if (strstr(l, "message.received")) {
			got++;
			t_last = secs();
		}
	*per_s = (double)got / (t_last - t0);

	/* Pipelined: PIPE_WINDOW sends written before their answers are read. */
	got = 0;
	t0 = secs();
	for (int i = 0; i < PIPE_N; i += PIPE_WINDOW) {
		int w = PIPE_N - i < PIPE_WINDOW ? PIPE_N - i : PIPE_WINDOW, answers = 0;
		char req[1024];

		for (int j = 0; j < w; j++) {
			text_of(text, "pipe", i + j);
			snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"send\","
			    "\"params\":{\"to\":\"bob\",\"text\":\"%s\",\"precedence\":\"routine\"}}\n",
			    text);
			ctl_send(a, req);
		}
		while (answers < w && (l = ctl_line(a, 10000)) != NULL) {
			if (!strstr(l, "\"id\":1"))
				continue;
			if (!strstr(l, "\"result\""))
				die("pipelined send refused");
			answers++;
		}
		if (answers < w)
			die("no answer to a pipelined send");
		while ((l = ctl_line(b, 0)) != NULL)
			if (strstr(l, "message.received")) {
				got++;
				t_last = secs();
			}
	}
	while (got < PIPE_N && (l = ctl_line(b, 30000)) != NULL)
		if (strstr(l, "message.received")) {
			got++;
			t_last = secs();
		}
	pipe_rate = (double)got / (t_last - t0);
	close(a->fd);
	close(b->fd);
	free(a);
	free(b);
}

/* Median time of one small durable transaction in `dir`, through the store's own
 * settings: the floor under every step that must commit before it answers. */
static double
bench_commit(const char *dir)
{
	static double t[COMMIT_N];
	char path[4200];
	struct store *st;
	uint8_t v[64];

	snprintf(path, sizeof path, "%s/commit.db", dir);
	if (store_open(&st, path) != MESH_OK)
		die("cannot open a store for the commit benchmark");
	for (int i = 0; i < COMMIT_N; i++) {
		double t0 = secs();

		randombytes_buf(v, sizeof v);
		if (store_begin(st) != MESH_OK || store_meta_set(st, "bench", v, sizeof v) != MESH_OK ||
		    store_commit(st) != MESH_OK)
			die("commit benchmark failed");
		t[i] = (secs() - t0) * 1e6;
	}
	store_close(st);
	return median(t, COMMIT_N);
}

/*
 * The cryptography alone: microseconds per message for what every bundle must have
 * done to it, with raw libsodium and no store or network: the sender's Ed25519
 * signature and AEAD seal, the receiver's verification and AEAD open, on a bundle the
 * size of a 140-byte text's. 1e6 / this is a ceiling on messages per second that no
 * node signing and verifying every bundle on one core of this machine can pass.
 */
static double
bench_crypto_us(void)
{
	enum { N = 2000, BUNDLE = 247 };
	static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t m[BUNDLE], c[BUNDLE + 16], sig[crypto_sign_BYTES], digest[32];
	uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = { 0 };
	unsigned long long clen, mlen;
	double t0;

	crypto_sign_keypair(pk, sk);
	randombytes_buf(key, sizeof key);
	randombytes_buf(m, sizeof m);
	t0 = secs();
	for (int i = 0; i < N; i++) {
		m[0] = (uint8_t)i;
		crypto_aead_chacha20poly1305_ietf_encrypt(c, &clen, m, TEXT_LEN, NULL, 0, NULL,
		    nonce, key);
		crypto_generichash(digest, sizeof digest, m, sizeof m, NULL, 0);
		crypto_sign_detached(sig, NULL, digest, sizeof digest, sk);
		crypto_generichash(digest, sizeof digest, m, sizeof m, NULL, 0);
		if (crypto_sign_verify_detached(sig, digest, sizeof digest, pk) != 0 ||
		    crypto_aead_chacha20poly1305_ietf_decrypt(m + 16, &mlen, NULL, c, clen, NULL, 0,
		    nonce, key) != 0)
			die("crypto baseline");
	}
	return (secs() - t0) * 1e6 / N;
}

/* ---------------- setup, in process, through the node API ---------------- */

static struct node *
make_node(struct issuer *is, const char *name, int64_t now)
{
	uint8_t req[APAGON_REQUEST_MAX], file[APAGON_ENROLLMENT_MAX];
	char dir[4200];
	struct node *n;
	int rlen, flen;

	snprintf(dir, sizeof dir, "%s/%s", tmp, name);
	if (node_init(dir, name, NULL, KEYFILE_NONE) != 0 || node_open(&n, dir, NULL) != 0)
		die("node_init");
	rlen = node_request(n, req, sizeof req);
	flen = issuer_enroll(is, req, (size_t)rlen, ROLE_MEMBER, "Bench", 0, now, file,
	    sizeof file, NULL);
	if (flen <= 0 || node_import(n, file, (size_t)flen, now, NULL, NULL, NULL) != 0)
		die("enroll");
	return n;
}

static void
carry(struct node *from, struct node *to, int64_t now)
{
	uint8_t *buf;
	size_t len;

	if (node_export(from, now, NULL, &buf, &len, NULL) != 0 ||
	    node_import(to, buf, len, now, NULL, NULL, NULL) != 0)
		die("carry");
	free(buf);
}

/* n messages from alice to bob into carol's store, as a relay holds them. */
static void
fill_relay(struct node *alice, struct node *bob, struct node *carol, int n, int64_t now)
{
	uint8_t raw[400], text[TEXT_LEN], sk[32];
	struct own_prekey mine;
	struct peer_prekey theirs;
	struct seal_keys k;
	struct bundle_hdr h;
	const uint8_t *shared;
	struct accept_result res;
	int len;

	randombytes_buf(text, sizeof text);
	if (node_own_prekey(alice, -1, &mine, sk) != 0 ||
	    store_peer_prekey_current(node_store(alice), node_pk(bob), now, &theirs) != 0 ||
	    node_dh(alice, mine.serial, sk, theirs.pk, &shared) != 0)
		die("prekeys");
	memset(&k, 0, sizeof k);
	k.sender_pk = node_pk(alice);
	k.recipient_pk = node_pk(bob);
	k.my_prekey_sk = sk;
	k.sender_prekey_pk = mine.pk;
	k.recipient_prekey_pk = theirs.pk;
	k.shared = shared;
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_MSG;
	memcpy(h.sender, alice->key_id, 6);
	memcpy(h.recipient, bob->key_id, 6);
	h.sender_prekey = (uint8_t)mine.serial;
	h.recipient_prekey = (uint8_t)theirs.serial;
	h.created = (uint32_t)now;
	h.lifetime = lifetime_code(7 * 86400);
	if (accept_begin(&carol->ax) != 0)
		die("accept_begin");
	for (int i = 0; i < n; i++) {
		memcpy(text, &i, sizeof i);
		bundle_hdr_salt(&h);
		len = bundle_build_sealed(raw, sizeof raw, &h, text, sizeof text, &k,
		    node_netkeys(alice), alice->sk);
		if (len <= 0 || accept_bundle(&carol->ax, raw, (size_t)len, now, &res) != MESH_OK ||
		    res.reason != MESH_OK) {
			fprintf(stderr, "bench_mqtt: bundle %d: %s\n", i, mesh_strerror(res.reason));
			die("accept");
		}
	}
	if (accept_commit(&carol->ax) != 0)
		die("accept_commit");
	sodium_memzero(sk, sizeof sk);
}

static long
vmrss_kb(pid_t p)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)p);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
write_conf(const char *name, int port)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s/apagon.conf", tmp, name);
	if ((f = fopen(path, "w")) == NULL)
		die("apagon.conf");
	fprintf(f, "[mqtt lan]\nhost = 127.0.0.1\nport = %d\n", port);
	fclose(f);
}

static pid_t
start_daemon(const char *name)
{
	char dir[4200], log[4200];
	char *argv[] = { apagond, "--dir", dir, NULL };

	snprintf(dir, sizeof dir, "%s/%s", tmp, name);
	snprintf(log, sizeof log, "%s/%s.log", tmp, name);
	return spawn(log, argv);
}

int
main(int argc, char **argv)
{
	char conf[4200], log[4200], *slash, cmd[4300];
	char *mq_argv[] = { NULL, "-c", conf, NULL };
	double raw_lat, raw_rate, lat, rate, commit_us, crypto_us;
	struct node *alice, *bob, *carol, *sender;
	struct issuer *is;
	struct ctl *c;
	pid_t broker, pa, pb, pc;
	int64_t now = (int64_t)time(NULL);
	long rss_idle, rss;
	int port;
	FILE *f;

	(void)argc;
	mosquitto_bin = getenv("MOSQUITTO") ? getenv("MOSQUITTO") : "/usr/sbin/mosquitto";
	snprintf(apagond, sizeof apagond, "%s", argv[0]);
	if ((slash = strrchr(apagond, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(apagond, sizeof apagond, ".");
	snprintf(apagond + strlen(apagond), sizeof apagond - strlen(apagond), "/../apagond");
	if (access(mosquitto_bin, X_OK) != 0 || access(apagond, X_OK) != 0) {
		fprintf(stderr, "bench_mqtt: skipped (needs %s and %s)\n", mosquitto_bin, apagond);
		return 0;
	}
	snprintf(tmp, sizeof tmp, "%s/apagon-bench-mqtt-XXXXXX",
	    getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (crypto_init() != 0 || !mkdtemp(tmp))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();

	port = free_port();
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", tmp);
	snprintf(log, sizeof log, "%s/mosquitto.log", tmp);
	if ((f = fopen(conf, "w")) == NULL)
		die("mosquitto.conf");
	fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port);
	fclose(f);
	mq_argv[0] = (char *)mosquitto_bin;
	broker = spawn(log, mq_argv);
	usleep(300000);

	/* Three members: alice sends to bob; carol is the relay that holds 100,000. */
	snprintf(cmd, sizeof cmd, "%s/admin", tmp);
	if (authority_init(cmd, "Bench", NULL, KEYFILE_NONE) != 0 || issuer_open(&is, cmd, NULL) != 0)
		die("authority");
	alice = make_node(is, "alice", now);
	bob = make_node(is, "bob", now);
	carol = make_node(is, "carol", now);
	carry(bob, alice, now);
	carry(alice, bob, now);
	carry(bob, carol, now);
	/* Four senders: one sender's share of a store is capped (NODE_QUOTA_SENDER). */
	for (int i = 0; i < RSS_SENDERS; i++) {
		char name[16];

		snprintf(name, sizeof name, "sender%d", i);
		sender = make_node(is, name, now);
		carry(bob, sender, now);
		carry(sender, carol, now);
		fill_relay(sender, bob, carol, RSS_N / RSS_SENDERS, now);
		node_close(sender);
	}
	node_close(alice);
	node_close(bob);
	node_close(carol);
	issuer_close(is);

	bench_raw(port, &raw_lat, &raw_rate);
	commit_us = bench_commit(tmp);
	crypto_us = bench_crypto_us();

	write_conf("alice", port);
	write_conf("bob", port);
	pa = start_daemon("alice");
	pb = start_daemon("bob");
	bench_node(&lat, &rate);
	stop(pa);
	stop(pb);

	printf("bench.mqtt_latency_vs_raw %.2f\n", lat / raw_lat);
	printf("bench.mqtt_latency_us %.0f\n", lat);
	printf("bench.mqtt_raw_latency_us %.0f\n", raw_lat);
	printf("bench.mqtt_send_rpc_us %.0f\n", send_rpc_us);
	printf("bench.mqtt_throughput_vs_raw %.4f\n", rate / raw_rate);
	printf("bench.mqtt_msgs_per_s %.0f\n", rate);
	printf("bench.mqtt_raw_msgs_per_s %.0f\n", raw_rate);
	printf("bench.mqtt_pipelined_msgs_per_s %.0f\n", pipe_rate);
	printf("bench.mqtt_pipelined_vs_raw %.4f\n", pipe_rate / raw_rate);
	printf("bench.store_commit_us %.0f\n", commit_us);
	printf("bench.mqtt_latency_floor_us %.0f\n", 2 * commit_us + raw_lat);
	printf("bench.mqtt_latency_vs_floor %.2f\n", lat / (2 * commit_us + raw_lat));
	printf("bench.mqtt_latency_floor_vs_raw %.2f\n", (2 * commit_us + raw_lat) / raw_lat);
	printf("bench.crypto_us_per_msg %.1f\n", crypto_us);
	printf("bench.mqtt_throughput_crypto_ceiling_vs_raw %.4f\n", 1e6 / crypto_us / raw_rate);
	fflush(stdout);

	/* carol's daemon on her 100,000 bundles, link up. */
	write_conf("carol", port);
	pc = start_daemon("carol");
	if ((c = calloc(1, sizeof *c)) == NULL || ctl_open(c, strcat(strcpy(cmd, tmp), "/carol")) != 0)
		die("carol's daemon did not start");
	ctl_call(c, "status", "{}");
	sleep(2);
	rss_idle = vmrss_kb(pc);
	ctl_call(c, "status", "{}");
	rss = vmrss_kb(pc);
	close(c->fd);
	free(c);
	printf("node.rss_kb_100k %ld\n", rss > rss_idle ? rss : rss_idle);
	stop(pc);
	stop(broker);

	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_mqtt: could not remove %s\n", tmp);
	mosquitto_lib_cleanup();
	return 0;
}
