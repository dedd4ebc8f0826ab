/*
 * apagon-drill sim: many nodes in one process, on virtual time (docs/drills.md,
 * "Simulation"). Every node is the production sans-I/O core: its own SQLite store
 * (in memory), the acceptance path, and a real link session (mesh/session.c:
 * handshake, RIBLT reconciliation, transfer by precedence) for each meeting. Nothing
 * here reads the clock for the model; the wall clock only times the run.
 *
 * The contacts. By default nodes sit in clusters (a site, a team); each node starts a
 * contact with another node at exponential intervals, most often inside its own
 * cluster. Or they come from a trace file (sim_trace.h) or from random-waypoint
 * mobility (sim_mobility.h); such a contact keeps its session pair open while it
 * lasts and is played as a meeting at its start and one every SIM_RESYNC_MS, each
 * asking for a reconciliation. A meeting runs its session pair until it has nothing
 * left to say, with a fixed latency per exchange, within the meeting's time. Meetings are played one after another in time order, which is
 * exact for the store-and-forward model where a meeting moves what the two ends
 * hold. Messages are sealed MSG bundles from random senders to random recipients,
 * created at random times in the first 60% of the run.
 *
 * --compare also plays naive flooding on the same meetings and traffic: at every
 * meeting each end sends every message it holds (no reconciliation, no memory of the
 * peer), one bundle per frame. Both use frames of at most SIM_FRAME bytes (a radio's
 * frame, not MQTT's), so frame counts compare.
 *
 * --receipts turns the deliver hook on (sim_deliver): RECEIPT bundles flow back and
 * purge relays' copies. --radio lora plays the LoRa channel instead (sim_lora.c).
 * Not modelled: clock skew.
 */
#include "sim_core.h"

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
#include "../node/lora_air.h"
#include "sim_mobility.h"
#include "sim_trace.h"

#define SIM_FRAME       512             /* bytes per frame, both modes */
#define SIM_HOP_MS      20              /* one exchange on a contact */
#define SIM_RESYNC_MS   60000           /* a session's resync_ms default */
#define SIM_NODES_MAX   20000

/* xorshift64*: the model's randomness, seeded, independent of libsodium's. */
uint64_t
sim_rnd(struct sim *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

double
sim_rnd01(struct sim *s)
{
	return (double)(sim_rnd(s) >> 11) / 9007199254740992.0;
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct sim_msg *)a)->id, ((const struct sim_msg *)b)->id,
	    APAGON_HASH);
}

struct sim_msg *
sim_find_msg(struct sim *s, const uint8_t id[APAGON_HASH])
{
	struct sim_msg key;

	memcpy(key.id, id, APAGON_HASH);
	return bsearch(&key, s->m, s->nm, sizeof *s->m, cmp_id);
}

static void
on_received(void *ctx, const uint8_t id[APAGON_HASH], int prec)
{
	struct sim *s = ctx;
	struct sim_msg *m = sim_find_msg(s, id);

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

/* ---------------- delivery and receipts (--receipts) ---------------- */

static void
inbox_key(char key[48], const uint8_t id[APAGON_HASH])
{
	memcpy(key, "inbox:", 6);
	for (int i = 0; i < 16; i++)
		snprintf(key + 6 + 2 * i, 3, "%02x", id[i]);
}

/* A message for us: into the inbox (a record in the same transaction), a RECEIPT
 * sealed back to its sender and stored as our own, the message's copy purged, as
 * node/messages.c's node_deliver does. A receipt for us: the messages it names are
 * delivered, their copies and the receipt purged. */
static int
sim_deliver(void *ctx, const struct bundle *b, const uint8_t sender_pk[APAGON_SIGN_PK],
    int64_t now, struct accept_result *res)
{
	struct sim_hook *hk = ctx;
	struct sim *s = hk->s;
	struct sim_node *n = &s->n[hk->i];
	struct sim_msg *m;
	int rc;

	(void)res;
	if (b->h.type == BUNDLE_MSG) {
		struct bundle_hdr h;
		struct seal_keys k;
		struct accept_result rr;
		char key[48];
		int len, own = n->ax.own;

		inbox_key(key, b->id);
		if ((rc = store_meta_set(n->st, key, (const uint8_t *)"1", 1)) != MESH_OK)
			return rc;
		if ((m = sim_find_msg(s, b->id)) == NULL)
			return MESH_OK;
		memset(&h, 0, sizeof h);
		h.type = BUNDLE_RECEIPT;
		h.precedence = b->h.precedence;
		crypto_key_id(h.sender, n->pk);
		crypto_key_id(h.recipient, sender_pk);
		h.sender_prekey = h.recipient_prekey = 1;
		h.created = (uint32_t)now;
		h.lifetime = b->h.lifetime;
		bundle_hdr_salt(&h);
		memset(&k, 0, sizeof k);
		k.sender_pk = n->pk;
		k.recipient_pk = sender_pk;
		k.my_prekey_sk = n->pre_sk;
		k.sender_prekey_pk = n->pre_pk;
		k.recipient_prekey_pk = s->n[m->from].pre_pk;
		len = bundle_build_receipt(hk->rcpt, sizeof hk->rcpt, &h,
		    (const uint8_t (*)[APAGON_HASH])b->id, 1, (uint32_t)now, &k, &s->nk, n->sk);
		if (len < 0)
			return len;
		n->ax.own = 1;
		rc = accept_bundle(&n->ax, hk->rcpt, (size_t)len, now, &rr);
		n->ax.own = own;
		if (rc != MESH_OK)
			return rc;
		hk->rcpt_len = (size_t)len;
		s->receipts_made += !s->flood_pass;
		rc = store_purge_bundle(n->st, b->id);
		return rc == MESH_ENOTFOUND ? MESH_OK : rc;
	}
	if (b->h.type == BUNDLE_RECEIPT) {
		uint8_t ids[APAGON_RECEIPT_MAX_IDS][APAGON_HASH];
		int count = bundle_receipt_ids(b, ids, APAGON_RECEIPT_MAX_IDS);

		for (int i = 0; i < count; i++) {
			if ((m = sim_find_msg(s, ids[i])) == NULL || m->from != hk->i)
				continue;
			if (m->receipt_ms < 0 && !s->flood_pass)
				m->receipt_ms = (int64_t)(s->now - (uint64_t)SIM_T0 * 1000);
			if ((rc = store_purge_bundle(n->st, ids[i])) != MESH_OK && rc != MESH_ENOTFOUND)
				return rc;
		}
		rc = store_purge_bundle(n->st, b->id);
		return rc == MESH_ENOTFOUND ? MESH_OK : rc;
	}
	return MESH_OK;
}

/* Every node's store opened afresh, holding the CERT bundles of every sender (with
 * --receipts, also of every recipient: receipts are signed by them) through the
 * acceptance path, as an enrollment-day export would carry them (one batch a node,
 * as an import is). */
int
sim_stores_fresh(struct sim *s)
{
	const struct sim_params *p = &s->p;
	uint8_t *signer = calloc((size_t)p->nodes, 1), (*certs)[1024] = NULL;
	int *clen = NULL, ncert = 0, rc = -1;

	if (!signer)
		goto out;
	for (int k = 0; k < p->senders; k++)
		signer[k * (p->nodes / p->senders)] = 1;
	for (size_t k = 0; p->receipts && k < s->nm; k++)
		signer[s->m[k].to] = 1;
	for (int i = 0; i < p->nodes; i++)
		ncert += signer[i];
	if ((certs = calloc((size_t)ncert, sizeof *certs)) == NULL ||
	    (clen = calloc((size_t)ncert, sizeof *clen)) == NULL)
		goto out;
	for (int i = 0, k = 0; i < p->nodes; i++) {
		if (!signer[i])
			continue;
		if ((clen[k] = cert_bundle(s, i, certs[k], sizeof certs[k])) < 0)
			clen[k] = 0;
		k++;
	}
	for (int i = 0; i < p->nodes; i++) {
		struct sim_node *n = &s->n[i];
		struct accept_result res;
		int bad;

		if (n->st)
			store_close(n->st);
		n->st = NULL;
		memset(&n->ax, 0, sizeof n->ax);
		if (store_open(&n->st, ":memory:") != MESH_OK) {
			fprintf(stderr, "apagon-drill sim: cannot open a store for node %d\n", i);
			goto out;
		}
		n->ax.st = n->st;
		n->ax.nk = &s->nk;
		n->ax.skew = APAGON_DEFAULT_SKEW;
		n->ax.my_pk = n->pk;
		n->hook.s = s;
		n->hook.i = i;
		if (p->receipts) {
			n->ax.deliver = sim_deliver;
			n->ax.deliver_ctx = &n->hook;
		}
		bad = accept_begin(&n->ax) != MESH_OK;
		for (int k = 0; k < ncert && !bad; k++)
			bad = clen[k] == 0 || accept_bundle(&n->ax, certs[k], (size_t)clen[k],
			    SIM_T0, &res) != MESH_OK;
		if (bad || accept_commit(&n->ax) != MESH_OK) {
			fprintf(stderr, "apagon-drill sim: node %d refused a CERT bundle\n", i);
			goto out;
		}
	}
	rc = 0;
out:
	free(signer);
	free(certs);
	free(clen);
	return rc;
}

/* Put a bundle into node i's store through the acceptance path. */
int
sim_store_into(struct sim *s, int i, const uint8_t *buf, size_t len, int64_t now_s, int own)
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
add_contact(struct sim *s, uint64_t at, uint64_t dur, int a, int b)
{
	if (mesh_grow((void **)&s->c, &s->capc, s->nc + 1, sizeof *s->c, 4096) != 0)
		return -1;
	s->c[s->nc].at_ms = at;
	s->c[s->nc].dur_ms = dur;
	s->c[s->nc].a = a;
	s->c[s->nc].b = b;
	s->c[s->nc].link = -1;
	s->c[s->nc].first = s->c[s->nc].last = 1;
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

/* One meeting. A one-off opens a session pair and closes it; a meeting of a longer
 * contact opens the pair at its first meeting, asks for a reconciliation at each
 * later one, and closes it at its last. */
static void
contact_apagon(struct sim *s, const struct sim_contact *ct)
{
	struct session_config cfg;
	struct session *ss[2] = { NULL, NULL };
	static uint8_t buf[SIM_FRAME];
	uint64_t now = (uint64_t)SIM_T0 * 1000 + ct->at_ms, end = now + ct->dur_ms, base = 0;
	int who[2] = { ct->a, ct->b };
	struct sim_link *lk = ct->link >= 0 ? &s->links[ct->link] : NULL;

	if (lk && !ct->first) {
		if (!lk->ss[0] || !lk->ss[1]) {
			s->failed++;            /* it closed at an earlier meeting */
			return;
		}
		ss[0] = lk->ss[0];
		ss[1] = lk->ss[1];
		base = session_stats(ss[0])->rounds;
		session_resync(ss[0], now);
		goto run;
	}
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
		if (lk) {
			/* Kept open between meetings, which are what the model plays. */
			cfg.keepalive_ms = SIM_RESYNC_MS;
			cfg.idle_ms = 3 * SIM_RESYNC_MS;
		}
		if (session_new(&ss[side], &cfg, now) != MESH_OK) {
			s->failed++;
			goto out;
		}
	}
	s->sessions++;
run:
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

			if (session_stats(ss[0])->rounds > base)
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
	if (session_stats(ss[0])->rounds <= base)
		s->failed++;
	if (lk && !ct->last && session_state(ss[0]) != SESSION_CLOSED &&
	    session_state(ss[1]) != SESSION_CLOSED) {
		lk->ss[0] = ss[0];
		lk->ss[1] = ss[1];
		return;
	}
out:
	if (lk)
		lk->ss[0] = lk->ss[1] = NULL;
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

/* Lost: delivered, then not in the recipient's store. */
size_t
sim_lost(struct sim *s)
{
	size_t lost = 0;

	for (size_t k = 0; k < s->nm; k++) {
		struct store *st = s->n[s->m[k].to].st;
		char key[48];
		uint8_t v;
		size_t vl;

		if (s->m[k].got_ms < 0)
			continue;
		/* With receipts, a delivered message's copy is purged: its inbox record
		 * (written in the same transaction) is what must remain. */
		inbox_key(key, s->m[k].id);
		if (s->p.receipts ? store_meta_get(st, key, &v, 1, &vl) != MESH_OK :
		    store_has_bundle(st, s->m[k].id) != 1)
			lost++;
	}
	return lost;
}

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
	for (size_t k = 0; s->links && k < s->nlinks; k++) {
		session_free(s->links[k].ss[0]);
		session_free(s->links[k].ss[1]);
	}
	free(s->links);
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

/* --mobility walk|vehicle as random-waypoint parameters (docs/drills.md). */
void
sim_mob_params(const struct sim *s, struct mob_params *mp)
{
	int car = s->p.mobility == 2;

	memset(mp, 0, sizeof *mp);
	mp->nodes = s->p.nodes;
	mp->area_m = s->p.area_m;
	mp->speed_min = car ? 5 : 0.5;
	mp->speed_max = car ? 15 : 1.5;
	mp->pause_max_s = car ? 60 : 120;
	mp->range_m = s->p.range_m;
	mp->seed = s->p.seed;
}

/* Contacts from intervals (a trace, or mobility): the link's sessions open at the
 * start and stay open while the contact lasts; a meeting at the start and again
 * every SIM_RESYNC_MS, as a link session reconciles again every resync_ms
 * (mesh/session.h). */
static int
add_intervals(struct sim *s, const struct trace *tr, uint64_t span)
{
	if ((s->links = calloc(tr->n + 1, sizeof *s->links)) == NULL)
		return -1;
	s->nlinks = tr->n;
	for (size_t i = 0; i < tr->n; i++) {
		const struct trace_contact *c = &tr->c[i];

		for (uint64_t t = c->start_ms; t < c->end_ms && t < span; t += SIM_RESYNC_MS) {
			uint64_t d = c->end_ms - t;
			struct sim_contact *m;

			if (add_contact(s, t, d < SIM_RESYNC_MS ? d : SIM_RESYNC_MS, c->a, c->b) != 0)
				return -1;
			m = &s->c[s->nc - 1];
			m->link = (int)i;
			m->first = t == c->start_ms;
			m->last = t + SIM_RESYNC_MS >= c->end_ms || t + SIM_RESYNC_MS >= span;
		}
	}
	return 0;
}

/* Read and parse the trace file; on success nodes and minutes follow it unless given. */
static int
load_trace(struct sim_params *p, struct trace *tr)
{
	FILE *f = fopen(p->trace, "rb");
	char err[512], *text;
	size_t len;
	int rc;

	if (!f) {
		fprintf(stderr, "apagon-drill sim: cannot read %s: %s. Check the path\n", p->trace,
		    strerror(errno));
		return -1;
	}
	if ((text = malloc(TRACE_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	len = fread(text, 1, TRACE_FILE_MAX + 1, f);
	rc = ferror(f) ? -1 : 0;
	fclose(f);
	if (rc == 0 && trace_parse(tr, p->trace, text, len, p->nodes_set ? p->nodes : SIM_NODES_MAX,
	    err, sizeof err) != 0) {
		fprintf(stderr, "apagon-drill sim: %s\n", err);
		rc = -1;
	}
	free(text);
	if (rc != 0)
		return -1;
	if (!p->nodes_set)
		p->nodes = tr->nodes < 2 ? 2 : tr->nodes;
	if (!p->minutes_set) {
		uint64_t m = (tr->end_ms + 59999) / 60000;

		p->minutes = m < 1 ? 1 : m > 24 * 60 ? 24 * 60 : (int)m;
	}
	return 0;
}

int
drill_sim(const struct sim_params *params, const char *out)
{
	static struct sim s;
	const struct sim_params *p = &s.p;
	struct trace tr;
	uint8_t network_key[APAGON_KEY];
	int64_t w0 = drill_mono_ms(), w_setup, w_apagon = 0, w_flood = 0;
	uint64_t span;
	size_t delivered = 0, fdelivered = 0, lost = 0;
	char path[DRILL_PATH_MAX + 32], *txt, source[160];
	double duty_max = NAN, f_duty_max = NAN;
	cJSON *j, *cmp, *lora_info = NULL;
	FILE *f;
	int rc = -1, last_pct = -1;

	memset(&s, 0, sizeof s);
	memset(&tr, 0, sizeof tr);
	s.p = *params;
	s.rng = p->seed * 0x9E3779B97F4A7C15ull + 1;
	if (sodium_init() < 0 || mkdir(out, 0700) < 0) {
		if (errno != EEXIST) {
			fprintf(stderr, "apagon-drill sim: cannot create %s: %s\n", out,
			    strerror(errno));
			return -1;
		}
	}
	if (p->trace && load_trace(&s.p, &tr) != 0)
		return -1;
	if (s.p.senders > s.p.nodes)
		s.p.senders = s.p.nodes;
	if (!(s.p.area_m > 0))
		s.p.area_m = (p->lora ? 1000.0 : 100.0) * sqrt((double)p->nodes);
	span = (uint64_t)p->minutes * 60000;
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
	/* Traffic: in the first 60% of the run, random senders to random recipients. */
	s.nm = p->messages;
	for (size_t k = 0; k < s.nm; k++) {
		struct sim_msg *m = &s.m[k];
		double r = sim_rnd01(&s);

		m->from = (int)(sim_rnd(&s) % (uint64_t)p->senders) * (p->nodes / p->senders);
		do
			m->to = (int)(sim_rnd(&s) % (uint64_t)p->nodes);
		while (m->to == m->from);
		m->prec = r < 0.1 ? SCN_FLASH : r < 0.3 ? SCN_IMMEDIATE : r < 0.6 ? SCN_PRIORITY :
		    SCN_ROUTINE;
		m->at_ms = (uint64_t)(sim_rnd01(&s) * 0.6 * (double)span);
		m->got_ms = m->flood_got_ms = m->receipt_ms = -1;
		if (make_message(&s, k) != 0)
			goto out;
	}
	if (sim_stores_fresh(&s) != 0)
		goto out;
	if (p->lora) {
		snprintf(source, sizeof source, "the LoRa channel, nodes %s in %.0f m x %.0f m",
		    p->mobility ? "moving" : "static", p->area_m, p->area_m);
	} else if (p->trace) {
		snprintf(source, sizeof source, "contacts from %.100s (%zu)", p->trace, tr.n);
		if (add_intervals(&s, &tr, span) != 0)
			goto out;
	} else if (p->mobility) {
		struct mob_params mp;

		sim_mob_params(&s, &mp);
		if (mob_contacts(&mp, span, &tr) != 0) {
			fprintf(stderr, "apagon-drill sim: too many contacts from the mobility model "
			    "(over %d); use a larger --area or a shorter --range\n",
			    TRACE_CONTACTS_MAX);
			goto out;
		}
		snprintf(source, sizeof source, "random-waypoint %s in %.0f m x %.0f m, range "
		    "%.0f m (%zu contacts)", p->mobility == 2 ? "vehicles" : "walkers", p->area_m,
		    p->area_m, p->range_m, tr.n);
		if (add_intervals(&s, &tr, span) != 0)
			goto out;
	} else {
		snprintf(source, sizeof source, "random contacts in clusters of %d", p->cluster);
		/* Contacts: exponential intervals per node; 80% inside the cluster. */
		for (int i = 0; i < p->nodes; i++) {
			double t = 0;

			for (;;) {
				int b;

				t += -log(1 - sim_rnd01(&s)) * p->contact_every_s * 1000.0;
				if (t >= (double)span)
					break;
				if (sim_rnd01(&s) < 0.8 && p->cluster > 1) {
					int base = (i / p->cluster) * p->cluster, size = p->cluster;

					if (base + size > p->nodes)
						size = p->nodes - base;
					if (size < 2)
						continue;
					do
						b = base + (int)(sim_rnd(&s) % (uint64_t)size);
					while (b == i);
				} else {
					do
						b = (int)(sim_rnd(&s) % (uint64_t)p->nodes);
					while (b == i);
				}
				if (add_contact(&s, (uint64_t)t, p->contact_ms, i, b) != 0)
					goto out;
			}
		}
	}
	if (s.nc)
		qsort(s.c, s.nc, sizeof *s.c, cmp_contact);
	w_setup = drill_mono_ms() - w0;
	if (!p->quiet)
		printf("sim: %d nodes, %s, %zu meetings, %zu messages, %d min of virtual time "
		    "(setup %.1f s)\n", p->nodes, source, s.nc, s.nm, p->minutes, w_setup / 1000.0);

	qsort(s.m, s.nm, sizeof *s.m, cmp_id);
	if (p->lora) {
		if ((lora_info = cJSON_CreateObject()) == NULL ||
		    sim_lora(&s, lora_info, &lost, &duty_max, &f_duty_max, &w_apagon,
		    &w_flood) != 0)
			goto out;
	} else
	/* apagon: messages enter their sender's store at their time; contacts in order.
	 * Messages are kept sorted by ID (for the callbacks' lookup); `order` lists them
	 * by send time. */
	{
		size_t next = 0;
		struct sent_order *order;

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

				if (sim_store_into(&s, m->from, m->raw, m->len,
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
		w_apagon = drill_mono_ms() - w0 - w_setup;
		lost = sim_lost(&s);
	}
	if (p->compare && !p->lora) {
		int64_t t = drill_mono_ms();

		for (size_t ci = 0; ci < s.nc; ci++)
			contact_flood(&s, &s.c[ci]);
		w_flood = drill_mono_ms() - t;
	}

	j = mode_metrics(&s, 0, s.frames, s.bytes, &delivered);
	cJSON_AddStringToObject(j, "mode", "sim");
	cJSON_AddNumberToObject(j, "lost_accepted", (double)lost);
	if (p->lora) {
		num(j, "duty_cycle_max", duty_max);
		cJSON_AddStringToObject(j, "duty_cycle_note", "the largest share of one hour that "
		    "any node's duty-cycle limiter booked (firmware/duty.c, EU868 g3: 10 %)");
	} else {
		cJSON_AddNullToObject(j, "duty_cycle_max");
		cJSON_AddStringToObject(j, "duty_cycle_note", "pairwise contacts only: no LoRa "
		    "airtime in this run (use --radio lora)");
	}
	{
		cJSON *o = cJSON_AddObjectToObject(j, "model");

		cJSON_AddStringToObject(o, "contacts_from", source);

		cJSON_AddNumberToObject(o, "nodes", p->nodes);
		cJSON_AddNumberToObject(o, "cluster", p->cluster);
		cJSON_AddNumberToObject(o, "senders", p->senders);
		cJSON_AddNumberToObject(o, "messages", (double)s.nm);
		cJSON_AddNumberToObject(o, "minutes", p->minutes);
		cJSON_AddNumberToObject(o, "contact_every_s", p->contact_every_s);
		cJSON_AddNumberToObject(o, "contact_s", p->contact_ms / 1000.0);
		cJSON_AddNumberToObject(o, "contacts", (double)s.nc);
		cJSON_AddNumberToObject(o, "frame_bytes", p->lora ? LORA_FRAME_MAX : SIM_FRAME);
		cJSON_AddNumberToObject(o, "seed", (double)p->seed);
		if (p->lora) {
			cJSON_AddItemToObject(j, "lora", lora_info);
			lora_info = NULL;
		}
		o = cJSON_AddObjectToObject(j, "sessions");
		cJSON_AddNumberToObject(o, "opened", (double)s.sessions);
		cJSON_AddNumberToObject(o, "without_a_full_round", (double)s.failed);
		cJSON_AddNumberToObject(o, "handshake_bytes", (double)s.hs_bytes);
		cJSON_AddNumberToObject(o, "sync_bytes", (double)s.sync_bytes);
		cJSON_AddNumberToObject(o, "bundles_sent", (double)s.bundles_out);
		cJSON_AddNumberToObject(o, "bundles_accepted", (double)s.accepted);
		cJSON_AddNumberToObject(o, "bundles_already_held", (double)s.duplicates_in);
		if (p->receipts) {
			double *rl = calloc(s.nm + 1, sizeof *rl);
			size_t nr = 0;

			for (size_t k = 0; rl && k < s.nm; k++)
				if (s.m[k].receipt_ms >= 0)
					rl[nr++] = (double)(s.m[k].receipt_ms - (int64_t)s.m[k].at_ms);
			if (rl)
				qsort(rl, nr, sizeof *rl, cmp_double);
			o = cJSON_AddObjectToObject(j, "receipts");
			cJSON_AddNumberToObject(o, "made", (double)s.receipts_made);
			cJSON_AddNumberToObject(o, "back_at_sender", (double)nr);
			num(o, "round_trip_p50_ms", rl ? pct(rl, nr, 50) : NAN);
			num(o, "round_trip_p95_ms", rl ? pct(rl, nr, 95) : NAN);
			free(rl);
		}
		o = cJSON_AddObjectToObject(j, "timing");
		cJSON_AddNumberToObject(o, "setup_wall_s", w_setup / 1000.0);
		cJSON_AddNumberToObject(o, "apagon_wall_s", w_apagon / 1000.0);
		cJSON_AddNumberToObject(o, "flood_wall_s", w_flood / 1000.0);
	}
	if (p->compare) {
		cmp = mode_metrics(&s, 1, s.f_frames, s.f_bytes, &fdelivered);
		cJSON_AddStringToObject(cmp, "routing", p->lora ? "naive flooding: every node "
		    "relays every new bundle once (lora_flood's naive mode), same channel" :
		    "naive flooding: every contact, each end sends every message it holds, one "
		    "bundle a frame");
		if (p->lora)
			num(cmp, "duty_cycle_max", f_duty_max);
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
	cJSON_Delete(lora_info);
	trace_free(&tr);
	sim_free(&s);
	return rc;
}
