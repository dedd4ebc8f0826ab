/*
 * apagon-drill sim: many nodes in one process, on virtual time (docs/drills.md,
 * "Simulation"). Every node is the production sans-I/O core: its own SQLite store
 * (in memory), the acceptance path, and a real link session (mesh/session.c:
 * handshake, RIBLT reconciliation, transfer by precedence) for each contact. Nothing
 * here reads the clock for the model; the wall clock only times the run.
 *
 * The model. Nodes sit in clusters (a site, a team); each node starts a contact with
 * another node at exponential intervals, most often inside its own cluster. A contact
 * opens a session pair and runs it until it has nothing left to say, with a fixed
 * latency per exchange, within the contact's duration. Contacts are played one after
 * another in time order, which is exact for the store-and-forward model where a
 * contact moves what the two ends hold. Messages are sealed MSG bundles from random
 * senders to random recipients, created at random times in the first 60% of the run.
 *
 * --compare also plays naive flooding on the same contacts and traffic: at every
 * contact each end sends every message it holds (no reconciliation, no memory of the
 * peer), one bundle per frame. Both use frames of at most SIM_FRAME bytes (a radio's
 * frame, not MQTT's), so frame counts compare.
 *
 * Not modelled: delivery receipts (the deliver hook is off, so no RECEIPT bundles and
 * no purge), LoRa airtime and collisions (the node has no LoRa transport yet), clock
 * skew.
 */
#include "drill.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "../crypto/crypto.h"
#include "../mesh/accept.h"
#include "../mesh/bundle.h"
#include "../mesh/cert.h"
#include "../mesh/session.h"
#include "../mesh/store.h"

#define SIM_FRAME       512             /* bytes per frame, both modes */
#define SIM_HOP_MS      20              /* one exchange on a contact */
#define SIM_T0          1790000000u     /* virtual Unix time at the start */

struct sim_node {
	uint8_t pk[APAGON_SIGN_PK], sk[APAGON_SIGN_SK];
	uint8_t pre_pk[APAGON_DH_PK], pre_sk[APAGON_DH_SK];
	struct chain ch;
	struct store *st;
	struct accept_ctx ax;
	int cluster;
	uint8_t *held;                  /* flood mode: bitset of messages held */
};

struct sim_msg {
	uint8_t id[APAGON_HASH];
	int from, to, prec;             /* prec: enum scn_prec */
	uint64_t at_ms;
	int64_t got_ms, flood_got_ms;   /* virtual time at the recipient, or -1 */
	int recv_count;                 /* received callbacks at the recipient */
	size_t len;
	uint8_t *raw;
};

struct sim_contact {
	uint64_t at_ms;
	int a, b;
};

struct sim {
	struct sim_params p;
	struct sim_node *n;
	struct sim_msg *m;
	size_t nm;
	struct sim_contact *c;
	size_t nc, capc;
	struct netkeys nk;
	uint8_t auth_pk[APAGON_SIGN_PK], auth_sk[APAGON_SIGN_SK];
	uint64_t rng;
	/* apagon */
	uint64_t frames, bytes, hs_bytes, sync_bytes, bundles_out, sessions, failed;
	uint64_t accepted, duplicates_in;
	/* flood */
	uint64_t f_frames, f_bytes;
	int cur_node;                   /* whose session is calling back */
	uint64_t now;
};

/* xorshift64*: the model's randomness, seeded, independent of libsodium's. */
static uint64_t
rnd(struct sim *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

static double
rnd01(struct sim *s)
{
	return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct sim_msg *)a)->id, ((const struct sim_msg *)b)->id,
	    APAGON_HASH);
}

static struct sim_msg *
find_msg(struct sim *s, const uint8_t id[APAGON_HASH])
{
	struct sim_msg key;

	memcpy(key.id, id, APAGON_HASH);
	return bsearch(&key, s->m, s->nm, sizeof *s->m, cmp_id);
}

static void
on_received(void *ctx, const uint8_t id[APAGON_HASH], int prec)
{
	struct sim *s = ctx;
	struct sim_msg *m = find_msg(s, id);

	(void)prec;
	s->accepted++;
	if (m && m->to == s->cur_node) {
		m->recv_count++;
		if (m->got_ms < 0)
			m->got_ms = (int64_t)(s->now - (uint64_t)SIM_T0 * 1000);
	}
}

/* ---------------- setup ---------------- */

static int
node_setup(struct sim *s, int i)
{
	struct sim_node *n = &s->n[i];
	struct cert *c = &n->ch.c[0];

	crypto_sign_keygen(n->pk, n->sk);
	crypto_dh_keygen(n->pre_pk, n->pre_sk);
	n->ch.n = 1;
	c->role = ROLE_MEMBER;
	memcpy(c->subject, n->pk, APAGON_SIGN_PK);
	memcpy(c->issuer, s->auth_pk, APAGON_SIGN_PK);
	c->not_before = SIM_T0 - 86400;
	c->not_after = SIM_T0 + 365 * 86400;
	snprintf(c->name, sizeof c->name, "n%d", i);
	snprintf(c->unit, sizeof c->unit, "c%d", n->cluster);
	cert_sign(c, s->nk.network_id, s->auth_sk);
	if (store_open(&n->st, ":memory:") != MESH_OK)
		return -1;
	n->ax.st = n->st;
	n->ax.nk = &s->nk;
	n->ax.skew = APAGON_DEFAULT_SKEW;
	n->ax.my_pk = n->pk;
	return 0;
}

/* A public CERT bundle for node i, as a node publishes its own. */
static int
cert_bundle(struct sim *s, int i, uint8_t *out, size_t cap)
{
	uint8_t body[APAGON_CHAIN_MAX];
	struct bundle_hdr h;
	int blen;

	if ((blen = chain_encode(body, sizeof body, &s->n[i].ch)) < 0)
		return blen;
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_CERT;
	h.precedence = PREC_ROUTINE;
	crypto_key_id(h.sender, s->n[i].pk);
	memcpy(h.recipient, bundle_broadcast_id, APAGON_KEYID);
	h.created = SIM_T0;
	h.lifetime = lifetime_code(30 * 86400);
	bundle_hdr_salt(&h);
	return bundle_build_public(out, cap, &h, body, (size_t)blen, &s->nk, s->n[i].sk);
}

/* Put a bundle into node i's store through the acceptance path. */
static int
store_into(struct sim *s, int i, const uint8_t *buf, size_t len, int64_t now_s, int own)
{
	struct accept_result res;
	struct accept_ctx *ax = &s->n[i].ax;
	int rc;

	if (accept_begin(ax) != MESH_OK)
		return -1;
	ax->own = own;
	rc = accept_bundle(ax, buf, len, now_s, &res);
	ax->own = 0;
	if (accept_commit(ax) != MESH_OK)
		return -1;
	return rc == MESH_OK || rc == MESH_EDUPLICATE ? 0 : rc;
}

static int
make_message(struct sim *s, size_t k)
{
	struct sim_msg *m = &s->m[k];
	struct sim_node *from = &s->n[m->from], *to = &s->n[m->to];
	static const int prec_map[SCN_NPREC] = { PREC_FLASH, PREC_IMMEDIATE, PREC_PRIORITY,
	    PREC_ROUTINE };
	uint8_t buf[1024];
	char text[96];
	struct bundle_hdr h;
	struct seal_keys sk;
	struct bundle b;
	int len;

	snprintf(text, sizeof text, "sim message %zu from n%d to n%d", k, m->from, m->to);
	memset(&h, 0, sizeof h);
	h.type = BUNDLE_MSG;
	h.precedence = (uint8_t)prec_map[m->prec];
	crypto_key_id(h.sender, from->pk);
	crypto_key_id(h.recipient, to->pk);
	h.sender_prekey = h.recipient_prekey = 1;
	h.created = SIM_T0 + (uint32_t)(m->at_ms / 1000);
	h.lifetime = lifetime_code(86400);
	bundle_hdr_salt(&h);
	memset(&sk, 0, sizeof sk);
	sk.sender_pk = from->pk;
	sk.recipient_pk = to->pk;
	sk.my_prekey_sk = from->pre_sk;
	sk.sender_prekey_pk = from->pre_pk;
	sk.recipient_prekey_pk = to->pre_pk;
	len = bundle_build_sealed(buf, sizeof buf, &h, (const uint8_t *)text, strlen(text), &sk,
	    &s->nk, from->sk);
	if (len < 0 || bundle_decode(&b, buf, (size_t)len, &s->nk) != MESH_OK)
		return -1;
	memcpy(m->id, b.id, APAGON_HASH);
	if ((m->raw = malloc((size_t)len)) == NULL)
		return -1;
	memcpy(m->raw, buf, (size_t)len);
	m->len = (size_t)len;
	return 0;
}

static int
add_contact(struct sim *s, uint64_t at, int a, int b)
{
	if (s->nc == s->capc) {
		size_t cap = s->capc ? 2 * s->capc : 4096;
		struct sim_contact *v = realloc(s->c, cap * sizeof *v);

		if (!v)
			return -1;
		s->c = v;
		s->capc = cap;
	}
	s->c[s->nc].at_ms = at;
	s->c[s->nc].a = a;
	s->c[s->nc].b = b;
	s->nc++;
	return 0;
}

struct sent_order {
	uint64_t at;
	size_t k;
};

static int
cmp_sent(const void *x, const void *y)
{
	const struct sent_order *a = x, *b = y;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return a->k < b->k ? -1 : a->k > b->k;
}

static int
cmp_contact(const void *x, const void *y)
{
	const struct sim_contact *a = x, *b = y;

	return a->at_ms < b->at_ms ? -1 : a->at_ms > b->at_ms;
}

/* ---------------- one contact ---------------- */

static void
contact_apagon(struct sim *s, const struct sim_contact *ct)
{
	struct session_config cfg;
	struct session *ss[2] = { NULL, NULL };
	static uint8_t buf[SIM_FRAME];
	uint64_t now = (uint64_t)SIM_T0 * 1000 + ct->at_ms, end = now + s->p.contact_ms;
	int who[2] = { ct->a, ct->b };

	for (int side = 0; side < 2; side++) {
		struct sim_node *n = &s->n[who[side]];

		memset(&cfg, 0, sizeof cfg);
		cfg.initiator = side == 0;
		cfg.ax = &n->ax;
		cfg.pk = n->pk;
		cfg.sk = n->sk;
		cfg.chain = &n->ch;
		cfg.max_frame = SIM_FRAME;
		cfg.received = on_received;
		cfg.cb_ctx = s;
		if (session_new(&ss[side], &cfg, now) != MESH_OK) {
			s->failed++;
			goto out;
		}
	}
	s->sessions++;
	while (now < end) {
		int moved = 0;

		s->now = now;
		for (int d = 0; d < 2; d++) {
			size_t len;

			while ((len = session_output(ss[d], buf, sizeof buf, now)) > 0) {
				moved = 1;
				s->cur_node = who[!d];
				session_input(ss[!d], buf, len, now);
			}
		}
		if (session_state(ss[0]) == SESSION_CLOSED || session_state(ss[1]) == SESSION_CLOSED)
			break;
		if (!moved) {
			/* Quiet: done once a reconciliation has completed; else wait for a timer. */
			int64_t t0 = session_timeout(ss[0], now), t1 = session_timeout(ss[1], now), t;

			if (session_stats(ss[0])->rounds >= 1)
				break;
			t = t0 < 0 ? t1 : (t1 < 0 || t0 < t1 ? t0 : t1);
			if (t < 0)
				break;
			now += (uint64_t)(t > SIM_HOP_MS ? t : SIM_HOP_MS);
			s->now = now;
			for (int d = 0; d < 2; d++)
				if (session_timeout(ss[d], now) == 0) {
					s->cur_node = who[d];
					session_tick(ss[d], now);
				}
			continue;
		}
		now += SIM_HOP_MS;
	}
	if (session_stats(ss[0])->rounds < 1)
		s->failed++;
out:
	for (int side = 0; side < 2; side++) {
		if (!ss[side])
			continue;
		const struct session_stats *st = session_stats(ss[side]);

		s->frames += st->frames_out;
		s->bytes += st->bytes_out;
		s->hs_bytes += st->hs_bytes_out;
		s->sync_bytes += st->sync_bytes_out;
		s->bundles_out += st->bundles_out;
		s->duplicates_in += st->bundles_dup;
		session_free(ss[side]);
	}
}

static void
contact_flood(struct sim *s, const struct sim_contact *ct)
{
	struct sim_node *a = &s->n[ct->a], *b = &s->n[ct->b];
	int64_t t = (int64_t)ct->at_ms;

	for (size_t k = 0; k < s->nm; k++) {
		struct sim_msg *m = &s->m[k];
		int ha = (a->held[k / 8] >> (k % 8)) & 1, hb = (b->held[k / 8] >> (k % 8)) & 1;

		if (m->at_ms > ct->at_ms)
			continue;
		/* Everything each end holds goes over, one bundle a frame. */
		s->f_frames += (uint64_t)(ha + hb);
		s->f_bytes += (uint64_t)(ha + hb) * m->len;
		if (ha && !hb) {
			b->held[k / 8] |= (uint8_t)(1u << (k % 8));
			if (m->to == ct->b && m->flood_got_ms < 0)
				m->flood_got_ms = t;
		} else if (hb && !ha) {
			a->held[k / 8] |= (uint8_t)(1u << (k % 8));
			if (m->to == ct->a && m->flood_got_ms < 0)
				m->flood_got_ms = t;
		}
	}
}

/* ---------------- metrics ---------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return NAN;
	k = (size_t)ceil(p / 100.0 * (double)n);
	return v[(k < 1 ? 1 : k) - 1];
}

static void
num(cJSON *o, const char *k, double v)
{
	if (isnan(v) || isinf(v))
		cJSON_AddNullToObject(o, k);
	else
		cJSON_AddNumberToObject(o, k, round(v * 1000) / 1000);
}

/* The figures of one mode; flood: use flood_got_ms. */
static cJSON *
mode_metrics(struct sim *s, int flood, uint64_t frames, uint64_t bytes, size_t *delivered)
{
	cJSON *j = cJSON_CreateObject(), *o;
	double *lat = calloc(s->nm + 1, sizeof *lat), *pl[SCN_NPREC];
	size_t nl = 0, npl[SCN_NPREC] = { 0 }, sent[SCN_NPREC] = { 0 }, dup = 0;

	for (int p = 0; p < SCN_NPREC; p++)
		pl[p] = calloc(s->nm + 1, sizeof *pl[p]);
	for (size_t k = 0; k < s->nm; k++) {
		const struct sim_msg *m = &s->m[k];
		int64_t got = flood ? m->flood_got_ms : m->got_ms;

		sent[m->prec]++;
		if (!flood && m->recv_count > 1)
			dup += (size_t)(m->recv_count - 1);
		if (got < 0)
			continue;
		lat[nl++] = (double)(got - (int64_t)m->at_ms);
		pl[m->prec][npl[m->prec]++] = (double)(got - (int64_t)m->at_ms);
	}
	qsort(lat, nl, sizeof *lat, cmp_double);
	num(j, "delivery_ratio", s->nm ? (double)nl / (double)s->nm : NAN);
	num(j, "latency_p50_ms", pct(lat, nl, 50));
	num(j, "latency_p95_ms", pct(lat, nl, 95));
	o = cJSON_AddObjectToObject(j, "latency_by_precedence");
	for (int p = 0; p < SCN_NPREC; p++) {
		cJSON *q = cJSON_AddObjectToObject(o, scenario_prec_name(p));

		qsort(pl[p], npl[p], sizeof *pl[p], cmp_double);
		cJSON_AddNumberToObject(q, "sent", (double)sent[p]);
		cJSON_AddNumberToObject(q, "delivered", (double)npl[p]);
		num(q, "p50_ms", pct(pl[p], npl[p], 50));
		num(q, "p95_ms", pct(pl[p], npl[p], 95));
		free(pl[p]);
	}
	num(j, "tx_per_delivered", nl ? (double)frames / (double)nl : NAN);
	num(j, "bytes_per_delivered", nl ? (double)bytes / (double)nl : NAN);
	if (!flood)
		cJSON_AddNumberToObject(j, "duplicates_shown", (double)dup);
	cJSON_AddNumberToObject(j, "tx_frames", (double)frames);
	cJSON_AddNumberToObject(j, "tx_bytes", (double)bytes);
	free(lat);
	*delivered = nl;
	return j;
}

/* ---------------- the run ---------------- */

static void
sim_free(struct sim *s)
{
	if (s->n)
		for (int i = 0; i < s->p.nodes; i++) {
			if (s->n[i].st)
				store_close(s->n[i].st);
			free(s->n[i].held);
			sodium_memzero(s->n[i].sk, sizeof s->n[i].sk);
		}
	for (size_t k = 0; k < s->nm; k++)
		free(s->m[k].raw);
	free(s->n);
	free(s->m);
	free(s->c);
	sodium_memzero(s->auth_sk, sizeof s->auth_sk);
}

int
drill_sim(const struct sim_params *p, const char *out)
{
	struct sim s;
	uint8_t network_key[APAGON_KEY];
	int64_t w0 = drill_mono_ms(), w_setup, w_apagon, w_flood = 0;
	uint64_t span = (uint64_t)p->minutes * 60000;
	size_t delivered = 0, fdelivered = 0, lost = 0;
	char path[DRILL_PATH_MAX + 32], *txt;
	cJSON *j, *cmp;
	FILE *f;
	int rc = -1, last_pct = -1;

	memset(&s, 0, sizeof s);
	s.p = *p;
	s.rng = p->seed * 0x9E3779B97F4A7C15ull + 1;
	if (sodium_init() < 0 || mkdir(out, 0700) < 0) {
		if (errno != EEXIST) {
			fprintf(stderr, "apagon-drill sim: cannot create %s: %s\n", out,
			    strerror(errno));
			return -1;
		}
	}
	crypto_sign_keygen(s.auth_pk, s.auth_sk);
	randombytes_buf(network_key, sizeof network_key);
	netkeys_derive(&s.nk, s.auth_pk, network_key);
	sodium_memzero(network_key, sizeof network_key);

	if ((s.n = calloc((size_t)p->nodes, sizeof *s.n)) == NULL ||
	    (s.m = calloc(p->messages ? p->messages : 1, sizeof *s.m)) == NULL)
		goto out;
	for (int i = 0; i < p->nodes; i++) {
		s.n[i].cluster = i / p->cluster;
		if (node_setup(&s, i) != 0 ||
		    (s.n[i].held = calloc(p->messages / 8 + 1, 1)) == NULL) {
			fprintf(stderr, "apagon-drill sim: cannot set up node %d\n", i);
			goto out;
		}
	}
	/* Every node knows every member who will send: their CERT bundles, through the
	 * acceptance path, as an enrollment-day export would carry them (one batch a
	 * node, as an import is). */
	{
		uint8_t (*certs)[1024] = calloc((size_t)p->senders, sizeof *certs);
		int *clen = calloc((size_t)p->senders, sizeof *clen);

		if (!certs || !clen) {
			free(certs);
			free(clen);
			goto out;
		}
		for (int k = 0; k < p->senders; k++)
			if ((clen[k] = cert_bundle(&s, k * (p->nodes / p->senders), certs[k],
			    sizeof certs[k])) < 0)
				clen[k] = 0;
		for (int i = 0; i < p->nodes; i++) {
			struct accept_ctx *ax = &s.n[i].ax;
			struct accept_result res;
			int bad = accept_begin(ax) != MESH_OK;

			for (int k = 0; k < p->senders && !bad; k++)
				bad = clen[k] == 0 || accept_bundle(ax, certs[k], (size_t)clen[k],
				    SIM_T0, &res) != MESH_OK;
			if (bad || accept_commit(ax) != MESH_OK) {
				fprintf(stderr, "apagon-drill sim: node %d refused a CERT bundle\n", i);
				free(certs);
				free(clen);
				goto out;
			}
		}
		free(certs);
		free(clen);
	}
	/* Traffic: in the first 60% of the run, random senders to random recipients. */
	s.nm = p->messages;
	for (size_t k = 0; k < s.nm; k++) {
		struct sim_msg *m = &s.m[k];
		double r = rnd01(&s);

		m->from = (int)(rnd(&s) % (uint64_t)p->senders) * (p->nodes / p->senders);
		do
			m->to = (int)(rnd(&s) % (uint64_t)p->nodes);
		while (m->to == m->from);
		m->prec = r < 0.1 ? SCN_FLASH : r < 0.3 ? SCN_IMMEDIATE : r < 0.6 ? SCN_PRIORITY :
		    SCN_ROUTINE;
		m->at_ms = (uint64_t)(rnd01(&s) * 0.6 * (double)span);
		m->got_ms = m->flood_got_ms = -1;
		if (make_message(&s, k) != 0)
			goto out;
	}
	/* Contacts: exponential intervals per node; 80% inside the cluster. */
	for (int i = 0; i < p->nodes; i++) {
		double t = 0;

		for (;;) {
			int b;

			t += -log(1 - rnd01(&s)) * p->contact_every_s * 1000.0;
			if (t >= (double)span)
				break;
			if (rnd01(&s) < 0.8 && p->cluster > 1) {
				int base = (i / p->cluster) * p->cluster, size = p->cluster;

				if (base + size > p->nodes)
					size = p->nodes - base;
				if (size < 2)
					continue;
				do
					b = base + (int)(rnd(&s) % (uint64_t)size);
				while (b == i);
			} else {
				do
					b = (int)(rnd(&s) % (uint64_t)p->nodes);
				while (b == i);
			}
			if (add_contact(&s, (uint64_t)t, i, b) != 0)
				goto out;
		}
	}
	qsort(s.c, s.nc, sizeof *s.c, cmp_contact);
	w_setup = drill_mono_ms() - w0;
	if (!p->quiet)
		printf("sim: %d nodes in clusters of %d, %zu contacts, %zu messages, %d min of "
		    "virtual time (setup %.1f s)\n", p->nodes, p->cluster, s.nc, s.nm, p->minutes,
		    w_setup / 1000.0);

	/* apagon: messages enter their sender's store at their time; contacts in order.
	 * Messages are kept sorted by ID (for the callbacks' lookup); `order` lists them
	 * by send time. */
	{
		size_t next = 0;
		struct sent_order *order;

		qsort(s.m, s.nm, sizeof *s.m, cmp_id);
		if ((order = malloc((s.nm + 1) * sizeof *order)) == NULL)
			goto out;
		for (size_t k = 0; k < s.nm; k++) {
			order[k].at = s.m[k].at_ms;
			order[k].k = k;
			/* flood: the sender holds it (contact_flood skips it until its time) */
			s.n[s.m[k].from].held[k / 8] |= (uint8_t)(1u << (k % 8));
		}
		qsort(order, s.nm, sizeof *order, cmp_sent);
		for (size_t ci = 0; ci < s.nc; ci++) {
			const struct sim_contact *ct = &s.c[ci];
			int pc = (int)(ci * 100 / (s.nc ? s.nc : 1));

			while (next < s.nm && s.m[order[next].k].at_ms <= ct->at_ms) {
				struct sim_msg *m = &s.m[order[next].k];

				if (store_into(&s, m->from, m->raw, m->len,
				    SIM_T0 + (int64_t)(m->at_ms / 1000), 1) != 0) {
					fprintf(stderr, "apagon-drill sim: a sender refused its own "
					    "message\n");
					free(order);
					goto out;
				}
				next++;
			}
			contact_apagon(&s, ct);
			if (!p->quiet && pc / 10 != last_pct / 10) {
				last_pct = pc;
				printf("sim: apagon %3d%% of contacts (virtual %4.1f min, wall %.1f s)\n",
				    pc, ct->at_ms / 60000.0, (drill_mono_ms() - w0) / 1000.0);
				fflush(stdout);
			}
		}
		free(order);
	}
	w_apagon = drill_mono_ms() - w0 - w_setup;
	/* Lost: delivered, then not in the recipient's store. */
	for (size_t k = 0; k < s.nm; k++)
		if (s.m[k].got_ms >= 0 && store_has_bundle(s.n[s.m[k].to].st, s.m[k].id) != 1)
			lost++;
	if (p->compare) {
		int64_t t = drill_mono_ms();

		for (size_t ci = 0; ci < s.nc; ci++)
			contact_flood(&s, &s.c[ci]);
		w_flood = drill_mono_ms() - t;
	}

	j = mode_metrics(&s, 0, s.frames, s.bytes, &delivered);
	cJSON_AddStringToObject(j, "mode", "sim");
	cJSON_AddNumberToObject(j, "lost_accepted", (double)lost);
	cJSON_AddNullToObject(j, "duty_cycle_max");
	cJSON_AddStringToObject(j, "duty_cycle_note", "no LoRa channel in the simulation yet: "
	    "the node has no LoRa transport, so no airtime is modelled");
	{
		cJSON *o = cJSON_AddObjectToObject(j, "model");

		cJSON_AddNumberToObject(o, "nodes", p->nodes);
		cJSON_AddNumberToObject(o, "cluster", p->cluster);
		cJSON_AddNumberToObject(o, "senders", p->senders);
		cJSON_AddNumberToObject(o, "messages", (double)s.nm);
		cJSON_AddNumberToObject(o, "minutes", p->minutes);
		cJSON_AddNumberToObject(o, "contact_every_s", p->contact_every_s);
		cJSON_AddNumberToObject(o, "contact_s", p->contact_ms / 1000.0);
		cJSON_AddNumberToObject(o, "contacts", (double)s.nc);
		cJSON_AddNumberToObject(o, "frame_bytes", SIM_FRAME);
		cJSON_AddNumberToObject(o, "seed", (double)p->seed);
		o = cJSON_AddObjectToObject(j, "sessions");
		cJSON_AddNumberToObject(o, "opened", (double)s.sessions);
		cJSON_AddNumberToObject(o, "without_a_full_round", (double)s.failed);
		cJSON_AddNumberToObject(o, "handshake_bytes", (double)s.hs_bytes);
		cJSON_AddNumberToObject(o, "sync_bytes", (double)s.sync_bytes);
		cJSON_AddNumberToObject(o, "bundles_sent", (double)s.bundles_out);
		cJSON_AddNumberToObject(o, "bundles_accepted", (double)s.accepted);
		cJSON_AddNumberToObject(o, "bundles_already_held", (double)s.duplicates_in);
		o = cJSON_AddObjectToObject(j, "timing");
		cJSON_AddNumberToObject(o, "setup_wall_s", w_setup / 1000.0);
		cJSON_AddNumberToObject(o, "apagon_wall_s", w_apagon / 1000.0);
		cJSON_AddNumberToObject(o, "flood_wall_s", w_flood / 1000.0);
	}
	if (p->compare) {
		cmp = mode_metrics(&s, 1, s.f_frames, s.f_bytes, &fdelivered);
		cJSON_AddStringToObject(cmp, "routing", "naive flooding: every contact, each end "
		    "sends every message it holds, one bundle a frame");
		cJSON_AddItemToObject(j, "flood", cmp);
		if (fdelivered && delivered && s.f_frames)
			num(j, "tx_per_delivered_vs_flood", ((double)s.frames / (double)delivered) /
			    ((double)s.f_frames / (double)fdelivered));
		if (fdelivered && delivered && s.f_bytes)
			num(j, "bytes_per_delivered_vs_flood", ((double)s.bytes / (double)delivered) /
			    ((double)s.f_bytes / (double)fdelivered));
	}
	txt = cJSON_Print(j);
	snprintf(path, sizeof path, "%.480s/metrics.json", out);
	if (!txt || (f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "apagon-drill sim: cannot write %s\n", path);
		cJSON_free(txt);
		cJSON_Delete(j);
		goto out;
	}
	fprintf(f, "%s\n", txt);
	fclose(f);
	if (!p->quiet) {
		cJSON *v;

		printf("sim: apagon  delivered %zu of %zu (%.3f), %.1f frames and %.0f bytes per "
		    "delivered, wall %.1f s\n", delivered, s.nm, s.nm ? (double)delivered /
		    (double)s.nm : 0.0, delivered ? (double)s.frames / (double)delivered : 0.0,
		    delivered ? (double)s.bytes / (double)delivered : 0.0, w_apagon / 1000.0);
		if (p->compare)
			printf("sim: flood   delivered %zu of %zu (%.3f), %.1f frames and %.0f bytes "
			    "per delivered\n", fdelivered, s.nm, s.nm ? (double)fdelivered /
			    (double)s.nm : 0.0, fdelivered ? (double)s.f_frames / (double)fdelivered :
			    0.0, fdelivered ? (double)s.f_bytes / (double)fdelivered : 0.0);
		if ((v = cJSON_GetObjectItem(j, "tx_per_delivered_vs_flood")) && cJSON_IsNumber(v))
			printf("sim: apagon / flood, frames per delivered: %.3f\n", v->valuedouble);
		printf("sim: %s\n", path);
	}
	cJSON_free(txt);
	cJSON_Delete(j);
	rc = 0;
out:
	sim_free(&s);
	return rc;
}
