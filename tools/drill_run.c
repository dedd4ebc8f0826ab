/*
 * Playing a scenario on real processes (drill.h, docs/drills.md).
 *
 *   setup      an authority and every member enrolled through the apagon CLI, as a
 *              ministry's IT office does; mosquitto brokers with their own config
 *              files on free loopback ports, bridged through the drill's relays;
 *              the LoRa channels and modems (drill_radio.c); one apagond per
 *              node, linked to its brokers and its radio
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
 * the daemon answers inside its own loop. The processes themselves (spawning, the
 * CLI, brokers, daemons, the control socket) are drill_procs.c's; the faults are
 * drill_faults.c's.
 */
#include "drill.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define FORMATION_MAX_MS   90000
#define START_MAX_MS       20000
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

int64_t
drill_clock_ms(const struct drill *d)
{
	return drill_mono_ms() - d->wall0_ms;
}

void
drill_say(const struct drill *d, const char *fmt, ...)
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


/* One event from node i's subscription. */
static void
on_event(struct drill *d, int i, const char *line)
{
	cJSON *ev = cJSON_Parse(line), *p;
	const cJSON *method, *id, *text, *state;
	struct drill_msg *m;
	int64_t now = drill_clock_ms(d);

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
			int f = scenario_find_node(d->s, from->valuestring);

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
	if ((r = drill_rpc(d, m->plan.from, "send", p, err, sizeof err)) == NULL) {
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
	m->sent_ms = drill_clock_ms(d);
}

/* ---------------- sampling ---------------- */

static uint64_t
counter(const cJSON *c, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(c, name);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

/* The slot of node n's link KIND NAME (a section of its apagon.conf), or NULL. */
static struct drill_link *
node_link(struct drill_node *n, const char *kind, const char *name)
{
	for (int k = 0; k < n->nlinks; k++)
		if (strcmp(n->link[k].kind, kind) == 0 && strcmp(n->link[k].name, name) == 0)
			return &n->link[k];
	/* A name cut short would never match again, and take a new slot every sample. */
	if (n->nlinks == DRILL_LINKS_MAX || strlen(kind) >= sizeof n->link[0].kind ||
	    strlen(name) >= sizeof n->link[0].name)
		return NULL;
	snprintf(n->link[n->nlinks].kind, sizeof n->link[0].kind, "%s", kind);
	snprintf(n->link[n->nlinks].name, sizeof n->link[0].name, "%s", name);
	return &n->link[n->nlinks++];
}

/* The node's link counters, summed over its links and kept per link; for a LoRa link
 * also the modem's own counters (airtime, duty-cycle books, refusals). */
static void
sample_status(struct drill *d, int i)
{
	struct drill_node *n = &d->node[i];
	char err[256];
	cJSON *r = drill_rpc(d, i, "status", NULL, err, sizeof err), *links, *l;
	uint64_t tf = 0, tb = 0, rf = 0, rb = 0;

	if (!r)
		return;
	links = cJSON_GetObjectItem(r, "links");
	cJSON_ArrayForEach(l, links) {
		cJSON *c = cJSON_GetObjectItem(l, "counters");
		const cJSON *kind = cJSON_GetObjectItem(l, "kind");
		const cJSON *sec = cJSON_GetObjectItem(l, "section");
		struct drill_link *dl;
		uint64_t v[4];

		if (!c)
			continue;
		v[0] = counter(c, "tx_frames");
		v[1] = counter(c, "tx_bytes");
		v[2] = counter(c, "rx_frames");
		v[3] = counter(c, "rx_bytes");
		tf += v[0];
		tb += v[1];
		rf += v[2];
		rb += v[3];
		if (!cJSON_IsString(kind) || !cJSON_IsString(sec) ||
		    (dl = node_link(n, kind->valuestring, sec->valuestring)) == NULL)
			continue;
		memcpy(dl->cur, v, sizeof v);
		if (strcmp(kind->valuestring, "lora") == 0 && d->s->node[i].lora >= 0) {
			uint64_t m[RM_N];

			m[RM_AIRTIME] = counter(c, "modem.tx_airtime_ms");
			m[RM_DUTY_USED] = counter(c, "duty_used_ms");
			m[RM_REFUSALS] = counter(c, "modem.duty_refusals");
			m[RM_TX_FRAMES] = counter(c, "modem.tx_frames");
			drill_radio_sample(&n->radio, m, counter(c, "duty_budget_ms"));
		}
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

	if (drill_cli(d, &out, "--dir", n->dir, "--json", "roster", NULL) != 0 || !out) {
		free(out);
		return;
	}
	if ((r = cJSON_Parse(out)) != NULL) {
		cJSON_ArrayForEach(m, cJSON_GetObjectItem(r, "members")) {
			const cJSON *name = cJSON_GetObjectItem(m, "name");
			int k = cJSON_IsString(name) ? scenario_find_node(d->s, name->valuestring) : -1;

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
				drill_node_close_fds(&d->node[i]);
				drill_node_fold(&d->node[i]);
				drill_say(d, "[%4llds] node %s exited unasked (%s %d); see %s\n",
				    (long long)(drill_clock_ms(d) / 1000), d->s->node[i].name,
				    WIFSIGNALED(st) ? "signal" : "status",
				    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), d->node[i].log);
			}
		for (int i = 0; i < d->s->nsites; i++)
			if (d->broker[i].pid == pid) {
				d->broker[i].pid = 0;
				d->broker[i].up = 0;
			}
		if (drill_radio_reaped(d, pid))
			drill_say(d, "[%4llds] a LoRa modem or channel exited unasked (see "
			    "run/*.modem.log, run/lora-*.log)\n",
			    (long long)(drill_clock_ms(d) / 1000));
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
		if (drill_subscribe(d, i) == 0) {
			n->state = DP_UP;
			continue;
		}
		if (drill_mono_ms() - n->start_ms > START_MAX_MS) {
			drill_say(d, "node %s did not open its control socket in %d s; see %s\n",
			    d->s->node[i].name, START_MAX_MS / 1000, n->log);
			drill_node_kill(d, i, SIGKILL);
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
			drill_subscribe(d, i);
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
	rc = drill_cli(d, NULL, "admin", "--dir", hq, "init", "--network",
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
		if ((rc = drill_cli(d, NULL, "--dir", n->dir, "--no-passphrase", "init", "--name",
		    name, NULL)) != 0 ||
		    (rc = drill_cli(d, NULL, "--dir", n->dir, "request", "--out", req,
		    NULL)) != 0 ||
		    (rc = drill_cli(d, NULL, "admin", "--dir", hq, "enroll", "--request", req,
		    "--out", enr, "--unit", s->node[i].unit, "--role",
		    s->node[i].enroller ? "enroller" : "member", NULL)) != 0 ||
		    (rc = drill_cli(d, NULL, "--dir", n->dir, "import", enr, NULL)) != 0) {
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
	drill_say(d, "setup: an authority and %d members, enrolled with %s\n", s->nnodes,
	    d->apagon);
	if (enrol(d) != 0)
		return -1;

	/* Ports first: a relay must know its target broker's port. */
	for (int i = 0; i < s->nsites; i++)
		if (s->site[i].broker && (d->broker[i].port = drill_free_port()) < 0)
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
		if (drill_broker_config(d, i, relay_port) != 0) {
			fprintf(stderr, "apagon-drill: cannot write the broker config of %s\n",
			    s->site[i].name);
			return -1;
		}
		if (drill_broker_start(d, i) != 0) {
			fprintf(stderr, "apagon-drill: the broker of %s did not start; see %s\n",
			    s->site[i].name, d->broker[i].log);
			return -1;
		}
	}
	{
		int brokers = 0;

		for (int i = 0; i < s->nsites; i++)
			brokers += s->site[i].broker;
		drill_say(d, "setup: %d brokers on loopback, %d bridges through the drill's "
		    "relays\n", brokers, s->nbridges);
	}
	if (s->nlora) {
		int radios = 0;

		if (drill_lora_setup(d) != 0)
			return -1;
		for (int i = 0; i < s->nnodes; i++)
			radios += s->node[i].lora >= 0;
		drill_say(d, "setup: %d LoRa channel%s (apagon-channel), %d simulated modems "
		    "(apagon-modem-sim), real time\n", s->nlora, s->nlora == 1 ? "" : "s", radios);
	}

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
		drill_radio_conf(d, i, f);
		fclose(f);
		if (drill_node_start(d, i) != 0)
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
			drill_say(d, "mesh forming: %d of %d prekeys known, %ds", have, need,
			    (int)((drill_mono_ms() - t0) / 1000));
			if (!d->tty)
				printf("\n");
		}
		if (have >= need && all_up(d)) {
			d->formed = 1;
			break;
		}
		if (drill_mono_ms() - t0 > FORMATION_MAX_MS) {
			drill_say(d, "mesh formation incomplete after %d s: %d of %d prekeys known; "
			    "sends to members not yet known will be refused and reported\n",
			    FORMATION_MAX_MS / 1000, have, need);
			break;
		}
	}
	d->formation_ms = drill_mono_ms() - t0;
	if (d->formed)
		drill_say(d, "mesh formed in %.1f s: every node knows every member's prekey\n",
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
		if ((r = drill_rpc(d, i, "inbox", NULL, err, sizeof err)) != NULL) {
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
		if ((r = drill_rpc(d, i, "outbox", NULL, err, sizeof err)) != NULL) {
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
		if (drill_cli(d, &out, "--dir", d->node[i].dir, "--json", "counters", NULL) == 0 &&
		    out && (r = cJSON_Parse(out)) != NULL) {
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
				drill_sleep_ms(20);
		}
		if (n->pid > 0)
			drill_node_kill(d, i, SIGKILL);
		n->pid = 0;
		drill_node_close_fds(n);
		free(n->in);
		n->in = NULL;
	}
	for (int i = 0; i < s->nsites; i++)
		drill_broker_kill(&d->broker[i]);
	drill_lora_teardown(d);
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

	drill_say(d, "play: %s, %u s, %zu messages, %d faults\n",
	    s->name[0] ? s->name : "drill", (unsigned)(s->duration_ms / 1000), d->nmsg,
	    s->nfaults);
	d->wall0_ms = drill_mono_ms();
	end = (int64_t)s->duration_ms + s->settle_ms;
	for (;;) {
		int64_t wait = 200;

		now = drill_clock_ms(d);
		while (nextf < s->nfaults && s->fault[nextf].at_ms <= now)
			drill_apply_fault(d, nextf++);
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
		now = drill_clock_ms(d);
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
					sample_roster(d, i, drill_clock_ms(d));
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
	d->end_ms = drill_clock_ms(d);
	d->settled_ms = d->end_ms - d->played_ms;
	progress(d, d->end_ms, 1);
	if (d->tty && !d->quiet)
		printf("\n");
	collect(d);
	rc = 0;
	goto out;
interrupted:
	d->interrupted = 1;
	d->end_ms = drill_clock_ms(d);
	drill_say(d, "\ninterrupted: stopping the nodes and brokers\n");
	collect(d);
	rc = 0;
out:
	teardown(d);
	if (rc == 0)
		read_counters(d);
	return rc;
}
