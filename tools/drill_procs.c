/*
 * The processes a drill starts (drill.h): children in their own process groups, the
 * apagon CLI run to the end, mosquitto brokers and their configs, apagond and its
 * control socket (one request at a time, and the subscription to its events).
 * Moved out of drill_run.c as it was.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define RPC_TIMEOUT_MS     10000

/* ---------------- child processes ---------------- */

/* Start argv with stdout and stderr appended to log (or to a pipe when out != NULL),
 * in its own process group so a Ctrl-C reaches the drill alone, which then stops
 * everything it started; killed with the drill if the drill dies first. */
pid_t
drill_spawn(char *const argv[], const char *log, int *out)
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
int
drill_cli(struct drill *d, char **outp, const char *a0, ...)
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
	if ((pid = drill_spawn(argv, log, &fd)) < 0)
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

int
drill_free_port(void)
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

void
drill_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---------------- brokers ---------------- */

int
drill_await(pid_t *pid, int (*ready)(const void *), const void *arg, int ms)
{
	int64_t until = drill_mono_ms() + ms;

	while (drill_mono_ms() < until) {
		if (ready(arg))
			return 0;
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return -1;
		}
		drill_sleep_ms(20);
	}
	return -1;
}

static int
broker_listening(const void *b)
{
	return port_open(((const struct drill_broker *)b)->port);
}

int
drill_broker_start(struct drill *d, int site)
{
	struct drill_broker *b = &d->broker[site];
	char *argv[] = { d->mosquitto, "-c", b->conf, NULL };

	if ((b->pid = drill_spawn(argv, b->log, NULL)) < 0)
		return -1;
	if (drill_await(&b->pid, broker_listening, b, 10000) != 0)
		return -1;
	b->up = 1;
	return 0;
}

void
drill_broker_kill(struct drill_broker *b)
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
int
drill_broker_config(struct drill *d, int site, const int *relay_port)
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

void
drill_node_close_fds(struct drill_node *n)
{
	if (n->sub_fd >= 0)
		close(n->sub_fd);
	if (n->rpc_fd >= 0)
		close(n->rpc_fd);
	n->sub_fd = n->rpc_fd = -1;
	n->inlen = 0;
}

int
drill_node_start(struct drill *d, int i)
{
	struct drill_node *n = &d->node[i];
	char *argv[] = { d->apagond, "--dir", n->dir, NULL };

	drill_node_close_fds(n);
	if ((n->pid = drill_spawn(argv, n->log, NULL)) < 0)
		return -1;
	n->state = DP_STARTING;
	n->start_ms = drill_mono_ms();
	n->starts++;
	return 0;
}

/* Fold the counters of an incarnation that ended into the totals. */
void
drill_node_fold(struct drill_node *n)
{
	n->tx_frames += n->cur_tx_frames;
	n->tx_bytes += n->cur_tx_bytes;
	n->rx_frames += n->cur_rx_frames;
	n->rx_bytes += n->cur_rx_bytes;
	n->cur_tx_frames = n->cur_tx_bytes = n->cur_rx_frames = n->cur_rx_bytes = 0;
	for (int k = 0; k < n->nlinks; k++)
		for (int c = 0; c < 4; c++) {
			n->link[k].done[c] += n->link[k].cur[c];
			n->link[k].cur[c] = 0;
		}
}

void
drill_node_kill(struct drill *d, int i, int sig)
{
	struct drill_node *n = &d->node[i];

	if (n->pid > 0) {
		kill(n->pid, sig);
		waitpid(n->pid, NULL, 0);
	}
	n->pid = 0;
	n->state = DP_DOWN;
	drill_node_close_fds(n);
	drill_node_fold(n);
}

/* One request, one answer: the "result" object (caller frees), or NULL with the
 * error's message in err. */
cJSON *
drill_rpc(struct drill *d, int i, const char *method, cJSON *params, char *err,
    size_t errcap)
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

int
drill_subscribe(struct drill *d, int i)
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
