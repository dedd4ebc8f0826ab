/*
 * Playing a scenario on real processes (drill.h, docs/drills.md).
 *
 *   setup      an authority and every member enrolled through the apagon CLI, as a
 *              ministry's IT office does; mosquitto brokers with their own config
 *              files on free loopback ports, bridged through the drill's relays;
 *              one apagond per node, linked to its brokers
 *   formation  until every node holds every other member's prekey (so that a send is
 *              never refused for want of one), or 90 s
 *   play       the scenario clock runs: sends through each node's control socket,
 *              faults as the timeline says, live events followed on subscriptions
 *   settle     after the timeline, until every message that can still arrive has
 *              arrived, or the scenario's settle time is up
 *   collect    inbox, outbox and status of every node that is up, then stop
 *
 * One thread, one poll(): subscriptions, relays and timers. Requests to a node are
 * short synchronous calls on a second connection; an answer never takes long, since
 * the daemon answers inside its own loop.
 */
#include "drill.h"
#include "../node/control.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define FORMATION_MAX_MS   90000
#define START_MAX_MS       20000
#define RPC_TIMEOUT_MS     10000
#define SAMPLE_EVERY_MS    2000
#define ROSTER_EVERY_MS    1000

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

int64_t
drill_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
clock_ms(const struct drill *d)
{
	return drill_mono_ms() - d->wall0_ms;
}

static void
say(const struct drill *d, const char *fmt, ...)
{
	va_list ap;

	if (d->quiet)
		return;
	if (d->tty)
		fputs("\r\033[K", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* ---------------- child processes ---------------- */

/* Start argv with stdout and stderr appended to log (or to a pipe when out != NULL),
 * in its own process group so a Ctrl-C reaches the drill alone, which then stops
 * everything it started; killed with the drill if the drill dies first. */
static pid_t
spawn(char *const argv[], const char *log, int *out)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if (out && pipe(pfd) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		if (out) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		/* Whatever happens to the drill, nothing it started outlives it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		if (out) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
			fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
			if (fd >= 0) {
				dup2(fd, 2);
				close(fd);
			}
		} else if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		unsetenv("APAGON_PASSPHRASE");
		unsetenv("APAGON_DIR");
		execv(argv[0], argv);
		fprintf(stderr, "apagon-drill: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		*out = pfd[0];
	}
	return pid;
}

/* Run the apagon CLI to the end. Its stdout in *outp (malloc'd, NUL-terminated) when
 * outp is set; stderr to the setup log. The exit status, or -1. */
static int
cli(struct drill *d, char **outp, const char *a0, ...)
{
	char *argv[24], log[DRILL_PATH_MAX + 16], *buf = NULL;
	size_t len = 0, cap = 0;
	va_list ap;
	int argc = 0, fd = -1, st;
	pid_t pid;

	argv[argc++] = d->apagon;
	argv[argc++] = (char *)a0;
	va_start(ap, a0);
	while (argc < 23 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(log, sizeof log, "%s/run/setup.log", d->out);
	if ((pid = spawn(argv, log, &fd)) < 0)
		return -1;
	for (;;) {
		ssize_t k;

		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);

			if (!nb)
				break;
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (buf)
		buf[len] = '\0';
	if (outp)
		*outp = buf;
	else
		free(buf);
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Is anything accepting on 127.0.0.1:port? */
static int
port_open(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---------------- brokers ---------------- */

static int
broker_start(struct drill *d, int site)
{
	struct drill_broker *b = &d->broker[site];
	char *argv[] = { d->mosquitto, "-c", b->conf, NULL };
	int64_t until = drill_mono_ms() + 10000;

	if ((b->pid = spawn(argv, b->log, NULL)) < 0)
		return -1;
	while (drill_mono_ms() < until) {
		if (port_open(b->port)) {
			b->up = 1;
			return 0;
		}
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = 0;
			return -1;
		}
		sleep_ms(50);
	}
	return -1;
}

static void
broker_kill(struct drill_broker *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
	}
	b->pid = 0;
	b->up = 0;
}

/* site's broker config: its listener, and one bridge per [bridge site X] through the
 * relay of that bridge. The bridge forwards every topic both ways: the brokers serve
 * this drill alone, and bridges form a tree (the parser refuses cycles). */
static int
broker_config(struct drill *d, int site, const int *relay_port)
{
	const struct scenario *s = d->s;
	struct drill_broker *b = &d->broker[site];
	FILE *f;

	snprintf(b->conf, sizeof b->conf, "%s/run/broker-%s.conf", d->out, s->site[site].name);
	snprintf(b->log, sizeof b->log, "%s/run/broker-%s.log", d->out, s->site[site].name);
	if ((f = fopen(b->conf, "w")) == NULL)
		return -1;
	fprintf(f, "# apagon-drill: the broker of site %s\nlistener %d 127.0.0.1\n"
	    "allow_anonymous true\npersistence false\n", s->site[site].name, b->port);
	for (int i = 0; i < s->nbridges; i++) {
		if (s->bridge[i].a != site)
			continue;
		fprintf(f, "\n# [bridge %s %s], through the drill's relay (cut by a partition)\n"
		    "connection drill-%s-%s\naddress 127.0.0.1:%d\ntopic # both 0\n"
		    "cleansession true\nrestart_timeout 1\n", s->site[site].name,
		    s->site[s->bridge[i].b].name, s->site[site].name,
		    s->site[s->bridge[i].b].name, relay_port[i]);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* ---------------- nodes ---------------- */

static void
node_close_fds(struct drill_node *n)
{
	if (n->sub_fd >= 0)
		close(n->sub_fd);
	if (n->rpc_fd >= 0)
		close(n->rpc_fd);
	n->sub_fd = n->rpc_fd = -1;
	n->inlen = 0;
}

static int
node_start(struct drill *d, int i)
{
	struct drill_node *n = &d->node[i];
	char *argv[] = { d->apagond, "--dir", n->dir, NULL };

	node_close_fds(n);
	if ((n->pid = spawn(argv, n->log, NULL)) < 0)
		return -1;
	n->state = DP_STARTING;
	n->start_ms = drill_mono_ms();
	n->starts++;
	return 0;
}

/* Fold the counters of an incarnation that ended into the totals. */
static void
node_fold(struct drill_node *n)
{
	n->tx_frames += n->cur_tx_frames;
	n->tx_bytes += n->cur_tx_bytes;
	n->rx_frames += n->cur_rx_frames;
	n->rx_bytes += n->cur_rx_bytes;
	n->cur_tx_frames = n->cur_tx_bytes = n->cur_rx_frames = n->cur_rx_bytes = 0;
}

static void
node_kill(struct drill *d, int i, int sig)
{
	struct drill_node *n = &d->node[i];

	if (n->pid > 0) {
		kill(n->pid, sig);
		waitpid(n->pid, NULL, 0);
	}
	n->pid = 0;
	n->state = DP_DOWN;
	node_close_fds(n);
	node_fold(n);
}

/* One request, one answer: the "result" object (caller frees), or NULL with the
 * error's message in err. */
static cJSON *
rpc(struct drill *d, int i, const char *method, cJSON *params, char *err, size_t errcap)
{
	struct drill_node *n = &d->node[i];
	cJSON *req = cJSON_CreateObject(), *resp, *res = NULL;
	char *line, buf[1 << 16], *acc = NULL;
	size_t acclen = 0;
	int64_t until;
	int attempt;

	cJSON_AddStringToObject(req, "jsonrpc", "2.0");
	cJSON_AddStringToObject(req, "method", method);
	cJSON_AddItemToObject(req, "params", params ? params : cJSON_CreateObject());
	cJSON_AddNumberToObject(req, "id", 1);
	line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	snprintf(err, errcap, "no answer");
	if (!line)
		return NULL;
	for (attempt = 0; attempt < 2 && !res; attempt++) {
		size_t llen = strlen(line), off = 0;
		int bad = 0;

		if (n->rpc_fd < 0 && (n->rpc_fd = control_dial(n->dir)) < 0) {
			snprintf(err, errcap, "the node's control socket does not answer");
			break;
		}
		while (off < llen + 1) {
			ssize_t k = send(n->rpc_fd, off < llen ? line + off : "\n",
			    off < llen ? llen - off : 1, MSG_NOSIGNAL);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				bad = 1;
				break;
			}
			off += (size_t)k;
		}
		until = drill_mono_ms() + RPC_TIMEOUT_MS;
		free(acc);
		acc = NULL;
		acclen = 0;
		while (!bad) {
			struct pollfd pfd = { n->rpc_fd, POLLIN, 0 };
			int64_t left = until - drill_mono_ms();
			ssize_t k;
			char *nl, *na;

			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
				bad = 1;
				break;
			}
			if ((k = recv(n->rpc_fd, buf, sizeof buf, 0)) <= 0) {
				bad = 1;
				break;
			}
			if ((na = realloc(acc, acclen + (size_t)k + 1)) == NULL) {
				bad = 1;
				break;
			}
			acc = na;
			memcpy(acc + acclen, buf, (size_t)k);
			acclen += (size_t)k;
			acc[acclen] = '\0';
			if ((nl = memchr(acc, '\n', acclen)) == NULL)
				continue;
			*nl = '\0';
			if ((resp = cJSON_Parse(acc)) == NULL) {
				bad = 1;
				break;
			}
			if ((res = cJSON_DetachItemFromObject(resp, "result")) == NULL) {
				cJSON *e = cJSON_GetObjectItem(resp, "error");
				cJSON *m = e ? cJSON_GetObjectItem(e, "message") : NULL;

				snprintf(err, errcap, "%s", cJSON_IsString(m) ? m->valuestring :
				    "an error without a message");
				cJSON_Delete(resp);
				free(acc);
				free(line);
				return NULL;
			}
			cJSON_Delete(resp);
			break;
		}
		if (bad) {
			close(n->rpc_fd);
			n->rpc_fd = -1;
			snprintf(err, errcap, "the node did not answer (its daemon is down or busy)");
		}
	}
	free(acc);
	free(line);
	return res;
}

static int
subscribe(struct drill *d, int i)
{
	struct drill_node *n = &d->node[i];
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"subscribe\",\"id\":0}\n";

	if ((n->sub_fd = control_dial(n->dir)) < 0)
		return -1;
	if (send(n->sub_fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
		close(n->sub_fd);
		n->sub_fd = -1;
		return -1;
	}
	fcntl(n->sub_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

/* ---------------- messages ---------------- */

static struct drill_msg *
msg_by_id(struct drill *d, const char *id)
{
	for (size_t i = 0; i < d->nmsg; i++)
		if (d->msg[i].state == DM_ACCEPTED && strcmp(d->msg[i].id, id) == 0)
			return &d->msg[i];
	return NULL;
}

/* The drill's tag "[drill N]" at the start of a text names its message. */
static struct drill_msg *
msg_by_text(struct drill *d, const char *text)
{
	unsigned long k;
	char *end;

	if (!text || strncmp(text, "[drill ", 7) != 0)
		return NULL;
	k = strtoul(text + 7, &end, 10);
	if (*end != ']' || k == 0 || k > d->nmsg)
		return NULL;
	return &d->msg[k - 1];
}

static int
node_index(const struct drill *d, const char *name)
{
	for (int i = 0; i < d->s->nnodes; i++)
		if (strcmp(d->s->node[i].name, name) == 0)
			return i;
	return -1;
}

/* One event from node i's subscription. */
static void
on_event(struct drill *d, int i, const char *line)
{
	cJSON *ev = cJSON_Parse(line), *p;
	const cJSON *method, *id, *text, *state;
	struct drill_msg *m;
	int64_t now = clock_ms(d);

	if (!ev)
		return;
	method = cJSON_GetObjectItem(ev, "method");
	p = cJSON_GetObjectItem(ev, "params");
	if (!cJSON_IsString(method) || !cJSON_IsObject(p))
		goto out;
	id = cJSON_GetObjectItem(p, "id");
	if (strcmp(method->valuestring, "message.received") == 0) {
		const cJSON *from = cJSON_GetObjectItem(p, "from");

		text = cJSON_GetObjectItem(p, "text");
		m = cJSON_IsString(id) ? msg_by_id(d, id->valuestring) : NULL;
		if (!m && cJSON_IsString(text))
			m = msg_by_text(d, text->valuestring);
		if (!m || m->plan.to != i) {
			d->unknown_received++;
			goto out;
		}
		m->recv_events++;
		if (m->recv_ms < 0)
			m->recv_ms = now;
		/* Accepted from a member this node already knew revoked, sent after the
		 * revocation was issued: the refusal failed. */
		if (cJSON_IsString(from)) {
			int f = node_index(d, from->valuestring);

			if (f >= 0 && m->after_revocation && d->node[i].knows_ms[f] >= 0 &&
			    d->node[i].knows_ms[f] <= now)
				m->violation = 1;
		}
	} else if (strcmp(method->valuestring, "message.state") == 0) {
		state = cJSON_GetObjectItem(p, "state");
		m = cJSON_IsString(id) ? msg_by_id(d, id->valuestring) : NULL;
		if (m && m->plan.from == i && cJSON_IsString(state) &&
		    strcmp(state->valuestring, "delivered") == 0 && m->receipt_ms < 0)
			m->receipt_ms = now;
	}
out:
	cJSON_Delete(ev);
}

static void
read_events(struct drill *d, int i)
{
	struct drill_node *n = &d->node[i];
	char buf[1 << 16];
	ssize_t k;
	size_t start = 0;

	k = recv(n->sub_fd, buf, sizeof buf, 0);
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
		close(n->sub_fd);
		n->sub_fd = -1;
		n->inlen = 0;
		return;
	}
	if (k < 0)
		return;
	if (n->inlen + (size_t)k + 1 > n->incap) {
		size_t cap = n->incap ? n->incap : 65536;
		char *nb;

		while (cap < n->inlen + (size_t)k + 1)
			cap *= 2;
		if ((nb = realloc(n->in, cap)) == NULL)
			return;
		n->in = nb;
		n->incap = cap;
	}
	memcpy(n->in + n->inlen, buf, (size_t)k);
	n->inlen += (size_t)k;
	for (size_t j = 0; j < n->inlen; j++) {
		if (n->in[j] != '\n')
			continue;
		n->in[j] = '\0';
		on_event(d, i, n->in + start);
		start = j + 1;
	}
	memmove(n->in, n->in + start, n->inlen - start);
	n->inlen -= start;
}

static void
do_send(struct drill *d, struct drill_msg *m, size_t k)
{
	const struct scenario *s = d->s;
	const struct scn_traffic *t = &s->traffic[m->plan.traffic];
	char text[SCN_TEXT_MAX + 64], err[256];
	cJSON *p, *r;

	if (d->node[m->plan.from].state != DP_UP) {
		m->state = DM_NOT_SENT;
		snprintf(m->why, sizeof m->why, "%s was down", s->node[m->plan.from].name);
		return;
	}
	snprintf(m->tag, sizeof m->tag, "[drill %zu]", k + 1);
	if (t->text[0])
		snprintf(text, sizeof text, "%s %s", m->tag, t->text);
	else
		snprintf(text, sizeof text, "%s %s from %s to %s", m->tag,
		    scenario_prec_name(m->plan.prec), s->node[m->plan.from].name,
		    s->node[m->plan.to].name);
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "to", s->node[m->plan.to].name);
	cJSON_AddStringToObject(p, "text", text);
	cJSON_AddStringToObject(p, "precedence", scenario_prec_name(m->plan.prec));
	m->after_revocation = d->node[m->plan.from].revoked_ms >= 0;
	if ((r = rpc(d, m->plan.from, "send", p, err, sizeof err)) == NULL) {
		m->state = DM_REFUSED;
		snprintf(m->why, sizeof m->why, "%s", err);
		return;
	}
	{
		const cJSON *id = cJSON_GetObjectItem(r, "id");

		if (cJSON_IsString(id))
			snprintf(m->id, sizeof m->id, "%s", id->valuestring);
	}
	cJSON_Delete(r);
	m->state = DM_ACCEPTED;
	m->sent_ms = clock_ms(d);
}

/* ---------------- sampling ---------------- */

/* The node's link counters, summed over its links. */
static void
sample_status(struct drill *d, int i)
{
	struct drill_node *n = &d->node[i];
	char err[256];
	cJSON *r = rpc(d, i, "status", NULL, err, sizeof err), *links, *l;
	uint64_t tf = 0, tb = 0, rf = 0, rb = 0;

	if (!r)
		return;
	links = cJSON_GetObjectItem(r, "links");
	cJSON_ArrayForEach(l, links) {
		cJSON *c = cJSON_GetObjectItem(l, "counters");
		cJSON *v;

		if (!c)
			continue;
		if ((v = cJSON_GetObjectItem(c, "tx_frames")) && cJSON_IsNumber(v))
			tf += (uint64_t)v->valuedouble;
		if ((v = cJSON_GetObjectItem(c, "tx_bytes")) && cJSON_IsNumber(v))
			tb += (uint64_t)v->valuedouble;
		if ((v = cJSON_GetObjectItem(c, "rx_frames")) && cJSON_IsNumber(v))
			rf += (uint64_t)v->valuedouble;
		if ((v = cJSON_GetObjectItem(c, "rx_bytes")) && cJSON_IsNumber(v))
			rb += (uint64_t)v->valuedouble;
	}
	n->cur_tx_frames = tf;
	n->cur_tx_bytes = tb;
	n->cur_rx_frames = rf;
	n->cur_rx_bytes = rb;
	cJSON_Delete(r);
}

/* The node's roster, read by the CLI straight from its store, as an officer would:
 * which members it knows revoked, and how many prekeys it holds. */
static void
sample_roster(struct drill *d, int i, int64_t now)
{
	struct drill_node *n = &d->node[i];
	char *out = NULL;
	cJSON *r, *m;
	int prekeys = 0;

	if (cli(d, &out, "--dir", n->dir, "--json", "roster", NULL) != 0 || !out) {
		free(out);
		return;
	}
	if ((r = cJSON_Parse(out)) != NULL) {
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(r, "members")) {
			const cJSON *name = cJSON_GetObjectItem(m, "name");
			int k = cJSON_IsString(name) ? node_index(d, name->valuestring) : -1;

			if (k < 0 || k == i)
				continue;
			if (cJSON_IsTrue(cJSON_GetObjectItem(m, "has_prekey")))
				prekeys++;
			if (cJSON_IsTrue(cJSON_GetObjectItem(m, "revoked")) && n->knows_ms[k] < 0)
				n->knows_ms[k] = now;
		}
		cJSON_Delete(r);
	}
	n->prekeys = prekeys;
	free(out);
}

/* ---------------- faults ---------------- */

static void
logf_fault(struct drill *d, int f, int ok, const char *fmt, ...)
{
	struct drill_fault_log *l = &d->flog[d->nflog++];
	va_list ap;

	l->fault = f;
	l->at_ms = clock_ms(d);
	l->ok = ok;
	va_start(ap, fmt);
	vsnprintf(l->what, sizeof l->what, fmt, ap);
	va_end(ap);
	say(d, "[%4llds] %s %s\n", (long long)(l->at_ms / 1000), ok ? "fault:" : "FAULT FAILED:",
	    l->what);
}

static void
apply_fault(struct drill *d, int fi)
{
	const struct scenario *s = d->s;
	const struct scn_fault *f = &s->fault[fi];
	const char *sn = f->a < s->nsites ? s->site[f->a].name : "";

	switch (f->kind) {
	case SCN_BROKER_DOWN:
		broker_kill(&d->broker[f->a]);
		logf_fault(d, fi, 1, "the broker of %s killed (kill -9)", sn);
		break;
	case SCN_BROKER_UP:
		if (broker_start(d, f->a) == 0)
			logf_fault(d, fi, 1, "the broker of %s restarted", sn);
		else
			logf_fault(d, fi, 0, "the broker of %s did not restart (see %s)", sn,
			    d->broker[f->a].log);
		break;
	case SCN_SITE_DARK:
		broker_kill(&d->broker[f->a]);
		for (int i = 0; i < s->nnodes; i++)
			if (s->node[i].site == f->a) {
				node_kill(d, i, SIGKILL);
				d->node[i].killed = 1;
			}
		d->dark[f->a] = 1;
		logf_fault(d, fi, 1, "site %s dark: its broker and its nodes killed (kill -9)", sn);
		break;
	case SCN_SITE_BACK: {
		int ok = broker_start(d, f->a) == 0;

		for (int i = 0; i < s->nnodes; i++)
			if (s->node[i].site == f->a) {
				ok &= node_start(d, i) == 0;
				d->node[i].killed = 0;
			}
		d->dark[f->a] = 0;
		logf_fault(d, fi, ok, "site %s back: broker and nodes started", sn);
		break;
	}
	case SCN_PARTITION:
	case SCN_HEAL:
		for (int b = 0; b < s->nbridges; b++)
			if ((s->bridge[b].a == f->a && s->bridge[b].b == f->b) ||
			    (s->bridge[b].a == f->b && s->bridge[b].b == f->a))
				relay_cut(d->relay[b], f->kind == SCN_PARTITION);
		logf_fault(d, fi, 1, "bridge %s-%s %s", s->site[f->a].name, s->site[f->b].name,
		    f->kind == SCN_PARTITION ? "cut (partition)" : "restored (heal)");
		break;
	case SCN_KILL:
		node_kill(d, f->a, SIGKILL);
		d->node[f->a].killed = 1;
		logf_fault(d, fi, 1, "node %s killed (kill -9)", s->node[f->a].name);
		break;
	case SCN_RESTART:
		d->node[f->a].killed = 0;
		logf_fault(d, fi, node_start(d, f->a) == 0, "node %s restarted",
		    s->node[f->a].name);
		break;
	case SCN_REVOKE: {
		char path[DRILL_PATH_MAX + 64], hq[DRILL_PATH_MAX + 16], err[256];
		cJSON *p, *r;
		int rc;

		snprintf(hq, sizeof hq, "%s/run/hq", d->out);
		snprintf(path, sizeof path, "%s/run/revoke-%s.apg", d->out, s->node[f->a].name);
		rc = cli(d, NULL, "admin", "--dir", hq, "revoke", "--id", s->node[f->a].name,
		    "--out", path, "--reason", "device lost (drill)", NULL);
		if (rc != 0) {
			logf_fault(d, fi, 0, "apagon admin revoke %s failed (exit %d; see "
			    "run/setup.log)", s->node[f->a].name, rc);
			break;
		}
		d->node[f->a].revoked_ms = clock_ms(d);
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "path", path);
		if ((r = rpc(d, f->b, "import", p, err, sizeof err)) == NULL) {
			logf_fault(d, fi, 0, "revocation of %s written, but %s did not import it: "
			    "%s", s->node[f->a].name, s->node[f->b].name, err);
			break;
		}
		cJSON_Delete(r);
		logf_fault(d, fi, 1, "%s revoked by the authority; the revocation imported at %s",
		    s->node[f->a].name, s->node[f->b].name);
		break;
	}
	}
}

/* ---------------- the loop ---------------- */

/* Reap children; a node that exits unasked is a crash, reported. */
static void
reap(struct drill *d)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < d->s->nnodes; i++)
			if (d->node[i].pid == pid) {
				d->node[i].pid = 0;
				d->node[i].state = DP_DOWN;
				d->node[i].crashes++;
				node_close_fds(&d->node[i]);
				node_fold(&d->node[i]);
				say(d, "[%4llds] node %s exited unasked (%s %d); see %s\n",
				    (long long)(clock_ms(d) / 1000), d->s->node[i].name,
				    WIFSIGNALED(st) ? "signal" : "status",
				    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), d->node[i].log);
			}
		for (int i = 0; i < d->s->nsites; i++)
			if (d->broker[i].pid == pid) {
				d->broker[i].pid = 0;
				d->broker[i].up = 0;
			}
	}
}

/* Nodes that are starting: up once both their connections are made. */
static void
check_starting(struct drill *d)
{
	for (int i = 0; i < d->s->nnodes; i++) {
		struct drill_node *n = &d->node[i];

		if (n->state != DP_STARTING)
			continue;
		if (subscribe(d, i) == 0) {
			n->state = DP_UP;
			continue;
		}
		if (drill_mono_ms() - n->start_ms > START_MAX_MS) {
			say(d, "node %s did not open its control socket in %d s; see %s\n",
			    d->s->node[i].name, START_MAX_MS / 1000, n->log);
			node_kill(d, i, SIGKILL);
			n->crashes++;
		}
	}
}

static int
all_up(const struct drill *d)
{
	for (int i = 0; i < d->s->nnodes; i++)
		if (d->node[i].state != DP_UP)
			return 0;
	return 1;
}

/* One turn: poll the subscriptions and relays for at most ms, then handle them. */
static void
turn(struct drill *d, int ms)
{
	struct pollfd pfd[SCN_NODES_MAX + SCN_BRIDGES_MAX * 20];
	int owner[SCN_NODES_MAX], np = 0, rstart[SCN_BRIDGES_MAX], rn[SCN_BRIDGES_MAX];
	int nn = 0;

	for (int i = 0; i < d->s->nnodes; i++)
		if (d->node[i].sub_fd >= 0) {
			pfd[np].fd = d->node[i].sub_fd;
			pfd[np].events = POLLIN;
			pfd[np].revents = 0;
			owner[np++] = i;
		}
	nn = np;
	for (int b = 0; b < d->s->nbridges; b++) {
		rstart[b] = np;
		rn[b] = relay_pollfds(d->relay[b], pfd + np,
		    (int)(sizeof pfd / sizeof pfd[0]) - np);
		np += rn[b];
	}
	if (poll(pfd, (nfds_t)np, ms) > 0) {
		for (int k = 0; k < nn; k++)
			if (pfd[k].revents)
				read_events(d, owner[k]);
		for (int b = 0; b < d->s->nbridges; b++)
			relay_ready(d->relay[b], pfd + rstart[b], rn[b]);
	} else {
		for (int b = 0; b < d->s->nbridges; b++)
			relay_ready(d->relay[b], pfd + rstart[b], 0);
	}
	reap(d);
	check_starting(d);
	/* A subscription lost while the node runs (never expected): make a new one. */
	for (int i = 0; i < d->s->nnodes; i++)
		if (d->node[i].state == DP_UP && d->node[i].sub_fd < 0)
			subscribe(d, i);
}

/* Can message m still arrive? Both ends up (or coming back later in the timeline
 * is not known here: only what is up now counts) and neither cut by a revocation. */
static int
waiting_for(const struct drill *d, const struct drill_msg *m)
{
	if (m->state != DM_ACCEPTED || m->recv_ms >= 0)
		return 0;
	if (d->node[m->plan.to].state == DP_DOWN || d->node[m->plan.to].killed)
		return 0;
	if (d->node[m->plan.to].revoked_ms >= 0 || d->node[m->plan.from].revoked_ms >= 0)
		return 0;
	return 1;
}

static void
progress(struct drill *d, int64_t now, int force)
{
	static int64_t last;
	size_t sent = 0, got = 0, flight = 0;
	int faults = 0;

	if (d->quiet || (!force && now - last < (d->tty ? 1000 : 10000)))
		return;
	last = now;
	for (size_t i = 0; i < d->nmsg; i++) {
		sent += d->msg[i].state == DM_ACCEPTED;
		got += d->msg[i].recv_ms >= 0;
		flight += waiting_for(d, &d->msg[i]);
	}
	faults = d->nflog;
	if (d->tty)
		printf("\r\033[K");
	printf("[%4llds/%us] sent %zu/%zu  delivered %zu  in flight %zu  faults %d/%d%s%s",
	    (long long)(now / 1000), (unsigned)(d->s->duration_ms / 1000), sent, d->nmsg, got,
	    flight, faults, d->s->nfaults, faults ? "  last: " : "",
	    faults ? d->flog[faults - 1].what : "");
	if (!d->tty)
		printf("\n");
	fflush(stdout);
}

/* ---------------- setup ---------------- */

static int
mkdirs(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int
enrol(struct drill *d)
{
	const struct scenario *s = d->s;
	char hq[DRILL_PATH_MAX + 16];
	int rc;

	snprintf(hq, sizeof hq, "%s/run/hq", d->out);
	rc = cli(d, NULL, "admin", "--dir", hq, "init", "--network",
	    s->name[0] ? s->name : "apagon drill", "--no-passphrase", NULL);
	if (rc != 0) {
		fprintf(stderr, "apagon-drill: apagon admin init failed (exit %d). See %s/run/"
		    "setup.log\n", rc, d->out);
		return -1;
	}
	for (int i = 0; i < s->nnodes; i++) {
		struct drill_node *n = &d->node[i];
		char req[DRILL_PATH_MAX + 16], enr[DRILL_PATH_MAX + 16];
		const char *name = s->node[i].name;

		snprintf(req, sizeof req, "%s.req", n->dir);
		snprintf(enr, sizeof enr, "%s.enr", n->dir);
		if ((rc = cli(d, NULL, "--dir", n->dir, "--no-passphrase", "init", "--name", name,
		    NULL)) != 0 ||
		    (rc = cli(d, NULL, "--dir", n->dir, "request", "--out", req, NULL)) != 0 ||
		    (rc = cli(d, NULL, "admin", "--dir", hq, "enroll", "--request", req, "--out",
		    enr, "--unit", s->node[i].unit, "--role",
		    s->node[i].enroller ? "enroller" : "member", NULL)) != 0 ||
		    (rc = cli(d, NULL, "--dir", n->dir, "import", enr, NULL)) != 0) {
			fprintf(stderr, "apagon-drill: enrolling %s failed (exit %d). See %s/run/"
			    "setup.log\n", name, rc, d->out);
			return -1;
		}
	}
	return 0;
}

static int
setup(struct drill *d)
{
	const struct scenario *s = d->s;
	char path[DRILL_PATH_MAX + 32];
	int relay_port[SCN_BRIDGES_MAX];

	snprintf(path, sizeof path, "%s/run", d->out);
	if (mkdirs(d->out) < 0 || mkdirs(path) < 0) {
		fprintf(stderr, "apagon-drill: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < s->nnodes; i++) {
		struct drill_node *n = &d->node[i];
		struct sockaddr_un sa;

		n->sub_fd = n->rpc_fd = -1;
		n->revoked_ms = -1;
		for (int k = 0; k < SCN_NODES_MAX; k++)
			n->knows_ms[k] = -1;
		snprintf(n->dir, sizeof n->dir, "%s/run/%s", d->out, s->node[i].name);
		snprintf(n->log, sizeof n->log, "%s/run/%s.log", d->out, s->node[i].name);
		if (strlen(n->dir) + sizeof "/control.sock" > sizeof sa.sun_path) {
			fprintf(stderr, "apagon-drill: %s is too long a path for a control socket "
			    "(at most %zu bytes). Use a shorter --out\n", n->dir,
			    sizeof sa.sun_path - sizeof "/control.sock");
			return -1;
		}
	}
	say(d, "setup: an authority and %d members, enrolled with %s\n", s->nnodes, d->apagon);
	if (enrol(d) != 0)
		return -1;

	/* Ports first: a relay must know its target broker's port. */
	for (int i = 0; i < s->nsites; i++)
		if (s->site[i].broker && (d->broker[i].port = free_port()) < 0)
			return -1;
	for (int b = 0; b < s->nbridges; b++) {
		if ((d->relay[b] = relay_open(d->broker[s->bridge[b].b].port,
		    &relay_port[b])) == NULL) {
			fprintf(stderr, "apagon-drill: cannot open a relay port: %s\n",
			    strerror(errno));
			return -1;
		}
	}
	for (int i = 0; i < s->nsites; i++) {
		if (!s->site[i].broker)
			continue;
		if (broker_config(d, i, relay_port) != 0) {
			fprintf(stderr, "apagon-drill: cannot write the broker config of %s\n",
			    s->site[i].name);
			return -1;
		}
		if (broker_start(d, i) != 0) {
			fprintf(stderr, "apagon-drill: the broker of %s did not start; see %s\n",
			    s->site[i].name, d->broker[i].log);
			return -1;
		}
	}
	say(d, "setup: %d brokers on loopback, %d bridges through the drill's relays\n",
	    s->nsites, s->nbridges);

	for (int i = 0; i < s->nnodes; i++) {
		FILE *f;

		snprintf(path, sizeof path, "%s/apagon.conf", d->node[i].dir);
		if ((f = fopen(path, "w")) == NULL)
			return -1;
		fprintf(f, "# apagon-drill: the links of %s\n", s->node[i].name);
		for (int k = 0; k < s->nsites; k++)
			if (s->node[i].brokers & (1u << k))
				fprintf(f, "[mqtt %s]\nhost = 127.0.0.1\nport = %d\nkeepalive = 10\n\n",
				    s->site[k].name, d->broker[k].port);
		fclose(f);
		if (node_start(d, i) != 0)
			return -1;
	}
	return 0;
}

/* Until every node holds a prekey of every other member. */
static void
formation(struct drill *d)
{
	const struct scenario *s = d->s;
	int64_t t0 = drill_mono_ms(), last = 0;
	int need = s->nnodes * (s->nnodes - 1);

	for (;;) {
		int have = 0;

		d->wall0_ms = t0;
		turn(d, 200);
		if (stop_flag)
			return;
		if (drill_mono_ms() - last < 1000)
			continue;
		last = drill_mono_ms();
		for (int i = 0; i < s->nnodes; i++) {
			if (d->node[i].state == DP_UP)
				sample_roster(d, i, 0);
			have += d->node[i].prekeys;
		}
		if (!d->quiet) {
			say(d, "mesh forming: %d of %d prekeys known, %ds", have, need,
			    (int)((drill_mono_ms() - t0) / 1000));
			if (!d->tty)
				printf("\n");
		}
		if (have >= need && all_up(d)) {
			d->formed = 1;
			break;
		}
		if (drill_mono_ms() - t0 > FORMATION_MAX_MS) {
			say(d, "mesh formation incomplete after %d s: %d of %d prekeys known; sends "
			    "to members not yet known will be refused and reported\n",
			    FORMATION_MAX_MS / 1000, have, need);
			break;
		}
	}
	d->formation_ms = drill_mono_ms() - t0;
	if (d->formed)
		say(d, "mesh formed in %.1f s: every node knows every member's prekey\n",
		    d->formation_ms / 1000.0);
}

static void
collect(struct drill *d)
{
	const struct scenario *s = d->s;
	char err[256];

	for (int i = 0; i < s->nnodes; i++) {
		cJSON *r, *m;

		d->node[i].alive_end = d->node[i].state == DP_UP;
		if (d->node[i].state != DP_UP)
			continue;
		sample_status(d, i);
		if ((r = rpc(d, i, "inbox", NULL, err, sizeof err)) != NULL) {
			cJSON_ArrayForEach(m, cJSON_GetObjectItem(r, "messages")) {
				const cJSON *id = cJSON_GetObjectItem(m, "id");
				const cJSON *text = cJSON_GetObjectItem(m, "text");
				struct drill_msg *dm = cJSON_IsString(id) ?
				    msg_by_id(d, id->valuestring) : NULL;

				if (!dm && cJSON_IsString(text))
					dm = msg_by_text(d, text->valuestring);
				if (!dm || dm->plan.to != i)
					continue;
				dm->in_inbox++;
				if (dm->recv_ms < 0)
					dm->seen_late = 1;
			}
			cJSON_Delete(r);
		}
		if ((r = rpc(d, i, "outbox", NULL, err, sizeof err)) != NULL) {
			cJSON_ArrayForEach(m, cJSON_GetObjectItem(r, "messages")) {
				const cJSON *id = cJSON_GetObjectItem(m, "id");
				const cJSON *st = cJSON_GetObjectItem(m, "state");
				struct drill_msg *dm = cJSON_IsString(id) ?
				    msg_by_id(d, id->valuestring) : NULL;
				static const char *const words[] = { "queued", "sent", "delivered",
				    "expired" };

				if (!dm || dm->plan.from != i || !cJSON_IsString(st))
					continue;
				for (int w = 0; w < 4; w++)
					if (strcmp(st->valuestring, words[w]) == 0)
						dm->outbox_state = w + 1;
			}
			cJSON_Delete(r);
		}
	}
	for (int b = 0; b < s->nbridges; b++)
		d->relay_bytes += relay_bytes(d->relay[b]);
}

/* Each node's acceptance counters, read by the CLI from its store once the daemons
 * are stopped (also for nodes that ended the drill dead). */
static void
read_counters(struct drill *d)
{
	for (int i = 0; i < d->s->nnodes; i++) {
		char *out = NULL;
		cJSON *r, *c, *v;

		d->node[i].refused_revoked = d->node[i].accepted_total = -1;
		if (cli(d, &out, "--dir", d->node[i].dir, "--json", "counters", NULL) == 0 && out &&
		    (r = cJSON_Parse(out)) != NULL) {
			c = cJSON_GetObjectItem(r, "counters");
			v = cJSON_GetObjectItem(c, "rejected.revoked");
			d->node[i].refused_revoked = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
			v = cJSON_GetObjectItem(c, "accepted");
			d->node[i].accepted_total = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
			cJSON_Delete(r);
		}
		free(out);
	}
}

static void
teardown(struct drill *d)
{
	const struct scenario *s = d->s;
	int64_t until;

	for (int i = 0; i < s->nnodes; i++)
		if (d->node[i].pid > 0)
			kill(d->node[i].pid, SIGTERM);
	until = drill_mono_ms() + 5000;
	for (int i = 0; i < s->nnodes; i++) {
		struct drill_node *n = &d->node[i];

		while (n->pid > 0 && drill_mono_ms() < until) {
			if (waitpid(n->pid, NULL, WNOHANG) == n->pid)
				n->pid = 0;
			else
				sleep_ms(20);
		}
		if (n->pid > 0)
			node_kill(d, i, SIGKILL);
		n->pid = 0;
		node_close_fds(n);
		free(n->in);
		n->in = NULL;
	}
	for (int i = 0; i < s->nsites; i++)
		broker_kill(&d->broker[i]);
	for (int b = 0; b < s->nbridges; b++) {
		relay_close(d->relay[b]);
		d->relay[b] = NULL;
	}
}

int
drill_run(struct drill *d)
{
	const struct scenario *s = d->s;
	struct scn_msg *plan;
	struct sigaction sa;
	size_t n, next = 0;
	int nextf = 0, rc = -1;
	int64_t t_setup = drill_mono_ms(), last_sample = 0, last_roster = 0, now, end;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (scenario_messages(s, &plan, &n) != 0)
		return -1;
	if ((d->msg = calloc(n ? n : 1, sizeof *d->msg)) == NULL) {
		free(plan);
		return -1;
	}
	d->nmsg = n;
	for (size_t i = 0; i < n; i++) {
		d->msg[i].plan = plan[i];
		d->msg[i].recv_ms = d->msg[i].receipt_ms = -1;
	}
	free(plan);

	if (setup(d) != 0)
		goto out;
	d->setup_ms = drill_mono_ms() - t_setup;
	formation(d);
	if (stop_flag)
		goto interrupted;
	for (int i = 0; i < s->nnodes; i++)
		sample_status(d, i);

	say(d, "play: %s, %u s, %zu messages, %d faults\n", s->name[0] ? s->name : "drill",
	    (unsigned)(s->duration_ms / 1000), d->nmsg, s->nfaults);
	d->wall0_ms = drill_mono_ms();
	end = (int64_t)s->duration_ms + s->settle_ms;
	for (;;) {
		int64_t wait = 200;

		now = clock_ms(d);
		while (nextf < s->nfaults && s->fault[nextf].at_ms <= now)
			apply_fault(d, nextf++);
		/* Sends are due in order; a sender that is still starting holds its own. */
		for (size_t k = next; k < d->nmsg && d->msg[k].plan.at_ms <= now; k++) {
			struct drill_msg *m = &d->msg[k];

			if (m->state != DM_PLANNED)
				continue;
			if (d->node[m->plan.from].state == DP_STARTING &&
			    now - (int64_t)m->plan.at_ms < START_MAX_MS)
				continue;
			do_send(d, m, k);
		}
		while (next < d->nmsg && d->msg[next].state != DM_PLANNED)
			next++;
		now = clock_ms(d);
		if (now - last_sample >= SAMPLE_EVERY_MS) {
			last_sample = now;
			for (int i = 0; i < s->nnodes; i++)
				if (d->node[i].state == DP_UP)
					sample_status(d, i);
		}
		if (now - last_roster >= ROSTER_EVERY_MS) {
			int any = 0;

			for (int i = 0; i < s->nnodes; i++)
				any |= d->node[i].revoked_ms >= 0;
			last_roster = now;
			for (int i = 0; any && i < s->nnodes; i++)
				if (d->node[i].state == DP_UP)
					sample_roster(d, i, clock_ms(d));
		}
		progress(d, now, 0);
		if (stop_flag)
			goto interrupted;
		if (now >= (int64_t)s->duration_ms && nextf == s->nfaults && next == d->nmsg) {
			size_t waiting = 0;
			int starting = 0;

			for (size_t k = 0; k < d->nmsg; k++)
				waiting += waiting_for(d, &d->msg[k]);
			for (int i = 0; i < s->nnodes; i++)
				starting |= d->node[i].state == DP_STARTING;
			if (d->played_ms == 0)
				d->played_ms = now;
			if ((waiting == 0 && !starting) || now >= end)
				break;
		}
		if (next < d->nmsg && (int64_t)d->msg[next].plan.at_ms - now < wait)
			wait = (int64_t)d->msg[next].plan.at_ms - now;
		if (nextf < s->nfaults && (int64_t)s->fault[nextf].at_ms - now < wait)
			wait = (int64_t)s->fault[nextf].at_ms - now;
		turn(d, wait < 0 ? 0 : (int)wait);
	}
	/* Receipts and last events still on their way: a short drain. */
	for (int64_t t = drill_mono_ms() + 1000; drill_mono_ms() < t;)
		turn(d, 100);
	d->end_ms = clock_ms(d);
	d->settled_ms = d->end_ms - d->played_ms;
	progress(d, d->end_ms, 1);
	if (d->tty && !d->quiet)
		printf("\n");
	collect(d);
	rc = 0;
	goto out;
interrupted:
	d->interrupted = 1;
	d->end_ms = clock_ms(d);
	say(d, "\ninterrupted: stopping the nodes and brokers\n");
	collect(d);
	rc = 0;
out:
	teardown(d);
	if (rc == 0)
		read_counters(d);
	return rc;
}
