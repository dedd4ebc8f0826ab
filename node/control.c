/* The control socket: clients, framing and JSON-RPC envelopes (control.h). */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "node.h"

#include <sodium.h>

struct control_client {
	int fd;
	int subscribed;
	int no_text;            /* subscribed without message texts (subscribe {"text": false}) */
	int closing;            /* drop once the output is flushed (or now if it cannot be) */
	int answered;           /* got a reply this turn: it waits for the daemon's commit */
	char *in;
	size_t inlen;
	char *out;
	size_t outlen, outcap, outoff;
};

struct control {
	int fd;
	char path[sizeof ((struct sockaddr_un *)0)->sun_path];
	control_call_fn call;
	void *ctx;
	struct control_client *c[CONTROL_CLIENTS];
	int polled[CONTROL_CLIENTS + 1];        /* which client each pollfd was, -1 listener */
	int npolled;
	struct control_stats st;
};

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int
control_open(struct control **out, const char *path, control_call_fn call, void *ctx)
{
	struct sockaddr_un sa;
	struct control *c;
	mode_t old;
	int fd, rc;

	*out = NULL;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	/* Somebody answering there is another daemon on this directory. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return -ENOMEM;
	c->call = call;
	c->ctx = ctx;
	memcpy(c->path, path, strlen(path) + 1);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		rc = -errno;
		free(c);
		return rc;
	}
	/* Never a moment where the socket exists with looser permissions. */
	old = umask(0177);
	rc = bind(c->fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(c->fd, 16) < 0) {
		rc = -errno;
		close(c->fd);
		unlink(path);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void
client_free(struct control *c, int i)
{
	struct control_client *cl = c->c[i];

	if (!cl)
		return;
	close(cl->fd);
	node_free_wiped(cl->in);        /* requests and events carry message texts */
	node_free_wiped(cl->out);
	free(cl);
	c->c[i] = NULL;
}

void
control_close(struct control *c)
{
	if (!c)
		return;
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		client_free(c, i);
	close(c->fd);
	unlink(c->path);
	free(c);
}

/* Queue one line for a client. A reply is always let through when nothing is
 * waiting; otherwise the bound applies and a client past it is dropped. 0 or -1. */
static int
client_queue(struct control *c, struct control_client *cl, const char *line, int is_reply)
{
	size_t len = strlen(line), need;

	if (cl->closing)
		return -1;
	if (cl->outoff > 0 && cl->outoff == cl->outlen)
		cl->outoff = cl->outlen = 0;
	if (cl->outlen - cl->outoff + len + 1 > CONTROL_OUT_MAX &&
	    !(is_reply && cl->outlen == cl->outoff)) {
		c->st.dropped_overflow++;
		cl->closing = 2;        /* drop without flushing: it is not reading */
		return -1;
	}
	need = cl->outlen + len + 1;
	if (need > cl->outcap) {
		size_t cap = cl->outcap ? cl->outcap : 4096;
		char *p;

		if (cl->outoff > 0) {
			memmove(cl->out, cl->out + cl->outoff, cl->outlen - cl->outoff);
			cl->outlen -= cl->outoff;
			sodium_memzero(cl->out + cl->outlen, cl->outoff);
			cl->outoff = 0;
			need = cl->outlen + len + 1;
		}
		while (cap < need)
			cap *= 2;
		if (cap > cl->outcap) {
			/* Not realloc: the old block is wiped before it is freed. */
			if ((p = malloc(cap)) == NULL) {
				cl->closing = 2;
				return -1;
			}
			if (cl->outlen)
				memcpy(p, cl->out, cl->outlen);
			node_free_wiped(cl->out);
			cl->out = p;
			cl->outcap = cap;
		}
	}
	memcpy(cl->out + cl->outlen, line, len);
	cl->out[cl->outlen + len] = '\n';
	cl->outlen += len + 1;
	return 0;
}

static void
client_flush(struct control_client *cl)
{
	while (cl->outoff < cl->outlen) {
		ssize_t n = send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff,
		    MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cl->closing = 2;
			return;
		}
		sodium_memzero(cl->out + cl->outoff, (size_t)n);        /* sent: wiped */
		cl->outoff += (size_t)n;
	}
	cl->outoff = cl->outlen = 0;
}

static void
send_json(struct control *c, struct control_client *cl, cJSON *msg, int is_reply)
{
	char *s = cJSON_PrintUnformatted(msg);

	if (s) {
		client_queue(c, cl, s, is_reply);
		cJSON_free(s);
	}
}

static void
reply_error(struct control *c, struct control_client *cl, const cJSON *id, int code,
    const char *msg, cJSON *data)
{
	cJSON *r = cJSON_CreateObject(), *e = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "jsonrpc", "2.0");
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (data)
		cJSON_AddItemToObject(e, "data", data);
	cJSON_AddItemToObject(r, "error", e);
	cJSON_AddItemToObject(r, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
	send_json(c, cl, r, 1);
	cJSON_Delete(r);
}

/* Garbage: say why (best effort), then drop the client. */
static void
drop_garbage(struct control *c, struct control_client *cl, int code, const char *why)
{
	reply_error(c, cl, NULL, code, why, NULL);
	c->st.dropped_garbage++;
	if (!cl->closing)
		cl->closing = 1;
}

static void
handle_line(struct control *c, struct control_client *cl, const char *line, size_t len)
{
	const cJSON *v, *method, *params, *id;
	cJSON *req, *result, *data = NULL;
	char msg[512];
	int code = RPC_INTERNAL_ERROR;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	if ((req = cJSON_ParseWithLength(line, len)) == NULL) {
		drop_garbage(c, cl, RPC_PARSE_ERROR, "parse error: not JSON");
		return;
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
	method = cJSON_GetObjectItemCaseSensitive(req, "method");
	params = cJSON_GetObjectItemCaseSensitive(req, "params");
	id = cJSON_GetObjectItemCaseSensitive(req, "id");
	if (!cJSON_IsObject(req) || !cJSON_IsString(v) || strcmp(v->valuestring, "2.0") != 0 ||
	    !cJSON_IsString(method) || (params && !cJSON_IsObject(params) &&
	    !cJSON_IsArray(params)) || (id && !cJSON_IsString(id) && !cJSON_IsNumber(id) &&
	    !cJSON_IsNull(id))) {
		drop_garbage(c, cl, RPC_INVALID_REQUEST, "invalid request: expected "
		    "{\"jsonrpc\":\"2.0\",\"method\":...,\"params\":{...},\"id\":...}");
		cJSON_Delete(req);
		return;
	}
	c->st.requests++;
	cl->answered = 1;
	msg[0] = '\0';
	result = c->call(c->ctx, cl, method->valuestring, params, &code, msg, sizeof msg, &data);
	if (id) {                       /* no id: a notification, which gets no answer */
		if (result) {
			cJSON *r = cJSON_CreateObject();

			cJSON_AddStringToObject(r, "jsonrpc", "2.0");
			cJSON_AddItemToObject(r, "result", result);
			cJSON_AddItemToObject(r, "id", cJSON_Duplicate(id, 1));
			send_json(c, cl, r, 1);
			cJSON_Delete(r);
			result = NULL;
		} else {
			reply_error(c, cl, id, code, msg[0] ? msg : "failed", data);
			data = NULL;
		}
	}
	cJSON_Delete(result);
	cJSON_Delete(data);
	cJSON_Delete(req);
}

static void
client_read(struct control *c, struct control_client *cl)
{
	char buf[64 << 10];
	ssize_t n;
	size_t start = 0;

	n = recv(cl->fd, buf, sizeof buf, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
		cl->closing = 2;
		return;
	}
	if (n < 0)
		return;
	if (cl->inlen + (size_t)n > CONTROL_LINE_MAX) {
		/* Is there a newline in reach? Otherwise the line is too long. */
		if (memchr(buf, '\n', (size_t)n) == NULL || cl->inlen > CONTROL_LINE_MAX) {
			sodium_memzero(buf, (size_t)n);
			c->st.dropped_toolong++;
			drop_garbage(c, cl, RPC_INVALID_REQUEST, "request line too long");
			return;
		}
	}
	{
		/* Not realloc: the old block is wiped before it is freed. */
		char *p = malloc(cl->inlen + (size_t)n);

		if (!p) {
			sodium_memzero(buf, (size_t)n);
			cl->closing = 2;
			return;
		}
		if (cl->inlen)
			memcpy(p, cl->in, cl->inlen);
		node_free_wiped(cl->in);
		cl->in = p;
	}
	memcpy(cl->in + cl->inlen, buf, (size_t)n);
	sodium_memzero(buf, (size_t)n);
	cl->inlen += (size_t)n;
	for (size_t i = 0; i < cl->inlen && !cl->closing; i++) {
		if (cl->in[i] != '\n')
			continue;
		if (i - start > CONTROL_LINE_MAX) {
			c->st.dropped_toolong++;
			drop_garbage(c, cl, RPC_INVALID_REQUEST, "request line too long");
			return;
		}
		handle_line(c, cl, cl->in + start, i - start);
		start = i + 1;
	}
	if (cl->closing)
		return;
	memmove(cl->in, cl->in + start, cl->inlen - start);
	sodium_memzero(cl->in + cl->inlen - start, start);      /* handled lines: wiped */
	cl->inlen -= start;
	if (cl->inlen > CONTROL_LINE_MAX) {
		c->st.dropped_toolong++;
		drop_garbage(c, cl, RPC_INVALID_REQUEST, "request line too long");
	}
}

static void
accept_clients(struct control *c)
{
	for (;;) {
		int fd = accept(c->fd, NULL, NULL), slot = -1;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		for (int i = 0; i < CONTROL_CLIENTS; i++)
			if (!c->c[i]) {
				slot = i;
				break;
			}
		if (slot < 0 || set_nonblock(fd) != 0 ||
		    (c->c[slot] = calloc(1, sizeof *c->c[slot])) == NULL) {
			c->st.refused_full++;
			close(fd);
			continue;
		}
		c->c[slot]->fd = fd;
		c->st.accepted++;
	}
}

int
control_pollfds(struct control *c, struct pollfd *pfds, int max)
{
	int n = 0;

	c->npolled = 0;
	if (max < 1)
		return 0;
	pfds[n].fd = c->fd;
	pfds[n].events = POLLIN;
	pfds[n].revents = 0;
	c->polled[n++] = -1;
	for (int i = 0; i < CONTROL_CLIENTS && n < max; i++) {
		struct control_client *cl = c->c[i];

		if (!cl)
			continue;
		pfds[n].fd = cl->fd;
		pfds[n].events = cl->closing ? 0 : POLLIN;
		if (cl->outoff < cl->outlen)
			pfds[n].events |= POLLOUT;
		pfds[n].revents = 0;
		c->polled[n++] = i;
	}
	c->npolled = n;
	return n;
}

void
control_ready(struct control *c, const struct pollfd *pfds, int n)
{
	for (int k = 0; k < n && k < c->npolled; k++) {
		int i = c->polled[k];
		struct control_client *cl;

		if (i < 0) {
			if (pfds[k].revents & POLLIN)
				accept_clients(c);
			continue;
		}
		if ((cl = c->c[i]) == NULL)
			continue;
		if (pfds[k].revents & POLLIN)
			client_read(c, cl);
		else if (pfds[k].revents & (POLLHUP | POLLERR | POLLNVAL))
			cl->closing = 2;
	}
	c->npolled = 0;
}

void
control_flush(struct control *c)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *cl = c->c[i];

		if (!cl)
			continue;
		cl->answered = 0;
		if (cl->closing != 2)
			client_flush(cl);
		if (cl->closing == 2 || (cl->closing == 1 && cl->outoff == cl->outlen))
			client_free(c, i);
	}
}

void
control_discard(struct control *c)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *cl = c->c[i];

		if (cl && cl->answered) {
			log_warnx("control: the store's commit failed; dropping a client "
			    "whose answers were not durable");
			client_free(c, i);
		}
	}
}

static void
notify(struct control *c, const char *method, cJSON *params, int only, int no_text)
{
	cJSON *msg = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddStringToObject(msg, "method", method);
	cJSON_AddItemToObject(msg, "params", params ? params : cJSON_CreateObject());
	s = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
	if (!s)
		return;
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *cl = c->c[i];

		if (!cl || !cl->subscribed || cl->closing || (only && cl->no_text != no_text))
			continue;
		if (client_queue(c, cl, s, 0) == 0)
			c->st.notifications++;
	}
	cJSON_free(s);
	/* Sent, and clients dropped for overflow freed, at the next control_flush(). */
}

void
control_notify(struct control *c, const char *method, cJSON *params)
{
	notify(c, method, params, 0, 0);
}

void
control_notify_texts(struct control *c, const char *method, cJSON *params, int with_text)
{
	notify(c, method, params, 1, !with_text);
}

void
control_json_wipe(void)
{
	cJSON_Hooks h = { malloc, node_free_wiped };

	cJSON_InitHooks(&h);
}

int
control_listening(const struct control *c)
{
	return control_listening_texts(c, 0) || control_listening_texts(c, 1);
}

int
control_listening_texts(const struct control *c, int with_text)
{
	for (int i = 0; c && i < CONTROL_CLIENTS; i++)
		if (c->c[i] && c->c[i]->subscribed && !c->c[i]->closing &&
		    c->c[i]->no_text == !with_text)
			return 1;
	return 0;
}

void
control_subscribe(struct control_client *cl, int with_text)
{
	cl->subscribed = 1;
	cl->no_text = !with_text;
}

void
control_get_stats(const struct control *c, struct control_stats *st)
{
	*st = c->st;
	st->clients = st->subscribers = 0;
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		if (!c->c[i])
			continue;
		st->clients++;
		st->subscribers += c->c[i]->subscribed;
	}
}

int
control_dial(const char *dir)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/" CONTROL_SOCKET, dir) >=
	    sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
