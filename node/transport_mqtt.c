/*
 * The MQTT transport: a local mosquitto broker carries frames between the nodes that
 * use it (docs/mqtt.md). libmosquitto runs inside our poll() loop through
 * mosquitto_socket(), mosquitto_want_write() and mosquitto_loop_read/write/misc();
 * its own thread is never started.
 *
 * The broker learns nothing about members. Topic names come from the network key:
 *
 *   P/a          announcements: "token T is here" (hello, reply, bye)
 *   P/n/HEX(T)   frames for the node whose current token is T
 *
 * where P is 16 hex digits of H(MQTT_TOPIC, key = network key) and T a random 16-byte
 * token each daemon draws per broker when it starts. Every payload is sealed:
 *
 *   0     1      2            18
 *   +-----+------+------------+-------------------------------------------+
 *   | ver | kind | salt (16)  | ChaCha20-Poly1305(k_msg, 0, ad, plaintext) |
 *   +-----+------+------------+-------------------------------------------+
 *   k_mqtt = H(MQTT_KEY, key = network key)
 *   k_msg  = H(MQTT_MSG, key = k_mqtt, salt)          single-use key, zero nonce
 *   ad     = ver || kind || topic                      a frame cannot be moved
 *   announce plaintext: token (16) || flags (1)
 *   frame plaintext:    sender token (16) || frame
 *
 * so whoever lacks the network key can neither read nor forge anything, and garbage is
 * refused by the tag before it costs more. The broker is never the source of truth:
 * frames are fire-and-forget (QoS 0) and the sync session above retries from SQLite.
 */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <sodium.h>

#include "config.h"
#include "log.h"
#include "node.h"

#define MQTT_VERSION     1
#define MQTT_KIND_ANNOUNCE 1
#define MQTT_KIND_FRAME  2
#define MQTT_TOKEN       16
#define MQTT_SALT        16
#define MQTT_HDR         (2 + MQTT_SALT)
#define MQTT_OVERHEAD    (MQTT_HDR + APAGON_TAG)
#define MQTT_MAX_PAYLOAD (MQTT_OVERHEAD + MQTT_TOKEN + TRANSPORT_MAX_FRAME)

/* Announcement flags. */
#define ANN_HELLO        0      /* periodic: "still here" */
#define ANN_FIRST        1      /* just connected: everyone answers, sessions restart */
#define ANN_REPLY        2      /* the answer, sent to the newcomer's own topic */
#define ANN_BYE          3      /* leaving (also our last will) */
/* Announcement plaintext: token (16) || flag (1) || sequence number (8, big-endian). */
#define ANN_LEN          (MQTT_TOKEN + 1 + 8)
#define ANN_SEQ_WILL     UINT64_MAX     /* the last will's: nothing can follow it */
#define MQTT_GONE        64             /* tokens that said goodbye, remembered */

#define MQTT_ANNOUNCE_MS (30 * 1000)
#define MQTT_PEER_TTL_MS (3 * MQTT_ANNOUNCE_MS + 5000)  /* three missed hellos */
#define MQTT_PEERS_MAX   256
#define MQTT_CONNECT_MS  (10 * 1000)                    /* CONNACK must come by then */
#define MQTT_BACKOFF_MIN 1000
#define MQTT_BACKOFF_MAX (60 * 1000)
/* Messages handled per second, with a burst of four seconds' worth; the rest of a
 * flood is dropped unread, before any crypto, and counted. */
#define MQTT_RX_RATE     2000
#define MQTT_RX_BURST    (4 * MQTT_RX_RATE)
/* Packets per loop_read() call, so a flood cannot hold the loop. */
#define MQTT_READ_BATCH  64

enum mqtt_state { MQTT_WAITING, MQTT_CONNECTING, MQTT_UP };

static const char *const state_names[] = { "waiting", "connecting", "connected" };

struct mqtt {
	struct transport *t;
	struct mosquitto *mosq;
	char host[CONF_VAL_MAX + 1];
	int port, keepalive, tls;
	enum mqtt_state state;
	int closing;                    /* mqtt_close(): a disconnect is ours */
	uint64_t now_ms;
	uint64_t retry_ms;              /* WAITING: when to connect next */
	uint64_t backoff_ms;
	uint64_t deadline_ms;           /* CONNECTING: give up at */
	uint64_t announce_ms;           /* UP: next hello */
	int64_t up_since;
	char last_error[128];

	uint8_t key[APAGON_KEY];        /* k_mqtt */
	uint8_t token[MQTT_TOKEN];
	char prefix[17];
	char topic_announce[24];
	char topic_self[24 + 2 * MQTT_TOKEN];

	struct transport_peer *peers;
	int npeers;
	uint64_t ann_seq;               /* our last announcement's sequence number */
	struct gone {                   /* tokens that left, with their last number */
		uint8_t token[MQTT_TOKEN];
		uint64_t seq;
	} gone[MQTT_GONE];
	int gone_next;

	double rx_tokens;               /* flood bucket */
	uint64_t rx_fill_ms;

	struct {
		int64_t rx_messages, rx_frames, rx_announces, tx_frames, tx_announces;
		int64_t rx_bytes, tx_bytes;
		int64_t rej_topic, rej_empty_topic, rej_oversize, rej_short, rej_version;
		int64_t rej_auth, rej_decode, rej_unknown_peer, rej_flood, rej_peers_full;
		int64_t rej_stale;
		int64_t tx_errors, connects, disconnects, connect_failures;
	} n;
};

static void
hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ---------------- sealing ---------------- */

/* Seal plaintext for `topic` into out (MQTT_OVERHEAD + plen bytes). */
static void
seal(const struct mqtt *m, uint8_t *out, int kind, const char *topic,
    const uint8_t *plain, size_t plen)
{
	uint8_t k[APAGON_KEY], ad[2 + 128];
	size_t tlen = strlen(topic);

	out[0] = MQTT_VERSION;
	out[1] = (uint8_t)kind;
	randombytes_buf(out + 2, MQTT_SALT);
	crypto_hash_ctx(k, sizeof k, APAGON_CTX_MQTT_MSG, out + 2, MQTT_SALT, m->key, sizeof m->key);
	memcpy(ad, out, 2);
	memcpy(ad + 2, topic, tlen);
	crypto_aead_seal(out + MQTT_HDR, plain, plen, ad, 2 + tlen, k);
	sodium_memzero(k, sizeof k);
}

/* Open a payload received on `topic`. Returns the plaintext length or -1. */
static int
open_sealed(const struct mqtt *m, uint8_t *plain, const uint8_t *in, size_t len,
    const char *topic)
{
	uint8_t k[APAGON_KEY], ad[2 + 128];
	size_t tlen = strlen(topic);
	int rc;

	if (len < MQTT_OVERHEAD || tlen > 128)
		return -1;
	crypto_hash_ctx(k, sizeof k, APAGON_CTX_MQTT_MSG, in + 2, MQTT_SALT, m->key, sizeof m->key);
	memcpy(ad, in, 2);
	memcpy(ad + 2, topic, tlen);
	rc = crypto_aead_open(plain, in + MQTT_HDR, len - MQTT_HDR, ad, 2 + tlen, k);
	sodium_memzero(k, sizeof k);
	return rc == 0 ? (int)(len - MQTT_OVERHEAD) : -1;
}

static void
node_topic(const struct mqtt *m, char *out, size_t cap, const uint8_t token[MQTT_TOKEN])
{
	char h[2 * MQTT_TOKEN + 1];

	hex(h, token, MQTT_TOKEN);
	snprintf(out, cap, "%s/n/%s", m->prefix, h);
}

/* ---------------- peers ---------------- */

/* A peer, with the sequence number of the newest announcement heard from it. */
struct mqtt_peer {
	struct transport_peer tp;       /* first: the transport's lists hold these */
	uint64_t seq;
};

static struct transport_peer *
peer_find(struct mqtt *m, const uint8_t token[MQTT_TOKEN])
{
	for (struct transport_peer *p = m->peers; p; p = p->next)
		if (p->addr_len == MQTT_TOKEN && sodium_memcmp(p->addr, token, MQTT_TOKEN) == 0)
			return p;
	return NULL;
}

static struct transport_peer *
peer_add(struct mqtt *m, const uint8_t token[MQTT_TOKEN])
{
	struct transport_peer *p;
	char h[9];

	if (m->npeers >= MQTT_PEERS_MAX) {
		m->n.rej_peers_full++;
		return NULL;
	}
	if ((p = calloc(1, sizeof(struct mqtt_peer))) == NULL)
		return NULL;
	p->t = m->t;
	memcpy(p->addr, token, MQTT_TOKEN);
	p->addr_len = MQTT_TOKEN;
	/* The lower token opens the session; both ends see both tokens. */
	p->initiator = memcmp(m->token, token, MQTT_TOKEN) < 0;
	hex(h, token, 4);
	snprintf(p->label, sizeof p->label, "%s/%s", m->t->section, h);
	p->up_at = (int64_t)time(NULL);
	p->last_ms = m->now_ms;
	p->next = m->peers;
	m->peers = p;
	m->npeers++;
	if (m->t->ev.peer_up)
		m->t->ev.peer_up(m->t->ev.ctx, p);
	return p;
}

static void
peer_remove(struct mqtt *m, struct transport_peer *p)
{
	for (struct transport_peer **pp = &m->peers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			m->npeers--;
			if (m->t->ev.peer_down)
				m->t->ev.peer_down(m->t->ev.ctx, p);
			free(p);
			return;
		}
	}
}

static void
peers_clear(struct mqtt *m)
{
	while (m->peers)
		peer_remove(m, m->peers);
}

/* ---------------- publishing ---------------- */

static int
publish_sealed(struct mqtt *m, const char *topic, int kind, const uint8_t *plain, size_t plen)
{
	uint8_t *buf;
	size_t len = MQTT_OVERHEAD + plen;
	int rc;

	if ((buf = malloc(len)) == NULL)
		return -ENOMEM;
	seal(m, buf, kind, topic, plain, plen);
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, buf, 0, false);
	free(buf);
	if (rc != MOSQ_ERR_SUCCESS) {
		m->n.tx_errors++;
		return rc == MOSQ_ERR_NO_CONN ? -ENOTCONN : rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EIO;
	}
	m->n.tx_bytes += (int64_t)len;
	return 0;
}

static void
ann_plain(uint8_t out[ANN_LEN], const uint8_t token[MQTT_TOKEN], int flags, uint64_t seq)
{
	memcpy(out, token, MQTT_TOKEN);
	out[MQTT_TOKEN] = (uint8_t)flags;
	for (int i = 0; i < 8; i++)
		out[MQTT_TOKEN + 1 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

static void
announce(struct mqtt *m, const char *topic, int flags)
{
	uint8_t plain[ANN_LEN];

	ann_plain(plain, m->token, flags, ++m->ann_seq);
	if (publish_sealed(m, topic, MQTT_KIND_ANNOUNCE, plain, sizeof plain) == 0)
		m->n.tx_announces++;
}

/*
 * A new token for each connection to the broker, and the last will that goes with it.
 * The will (a "bye" numbered ANN_SEQ_WILL) ends its token for good at every node that
 * hears it, so the next connection must not reuse the token.
 */
static int
new_token(struct mqtt *m)
{
	uint8_t plain[ANN_LEN], will[MQTT_OVERHEAD + ANN_LEN];

	randombytes_buf(m->token, sizeof m->token);
	node_topic(m, m->topic_self, sizeof m->topic_self, m->token);
	m->ann_seq = 0;
	ann_plain(plain, m->token, ANN_BYE, ANN_SEQ_WILL);
	seal(m, will, MQTT_KIND_ANNOUNCE, m->topic_announce, plain, sizeof plain);
	return mosquitto_will_set(m->mosq, m->topic_announce, (int)sizeof will, will, 0, false) ==
	    MOSQ_ERR_SUCCESS ? 0 : -EINVAL;
}

/* ---------------- connection ---------------- */

/* libmosquitto's text for rc, without its full stop, for our sentences. */
static const char *
mosq_err(int rc, char *buf, size_t cap)
{
	size_t n;

	if (rc == MOSQ_ERR_TLS) {
		snprintf(buf, cap, "TLS handshake failed: is the broker's certificate signed by "
		    "tls-ca, for this host?");
		return buf;
	}
	snprintf(buf, cap, "%s", rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

static void
schedule_retry(struct mqtt *m, const char *why)
{
	uint64_t jitter = randombytes_uniform((uint32_t)(m->backoff_ms / 4 + 1));

	snprintf(m->last_error, sizeof m->last_error, "%s", why);
	m->state = MQTT_WAITING;
	m->up_since = 0;
	m->retry_ms = m->now_ms + m->backoff_ms + jitter;
	log_warnx("%s: broker %s:%d: %s; retrying in %llu s", m->t->name, m->host, m->port, why,
	    (unsigned long long)((m->backoff_ms + jitter + 999) / 1000));
	m->backoff_ms = m->backoff_ms * 2 > MQTT_BACKOFF_MAX ? MQTT_BACKOFF_MAX : m->backoff_ms * 2;
	peers_clear(m);
}

/* The connection is gone (or never came): drop the socket, wait, try again. */
static void
went_down(struct mqtt *m, const char *why)
{
	if (m->state == MQTT_WAITING)
		return;
	if (m->state == MQTT_UP)
		m->n.disconnects++;
	else
		m->n.connect_failures++;
	/* Closes the socket; no DISCONNECT can get through a dead connection anyway. */
	mosquitto_disconnect(m->mosq);
	schedule_retry(m, why);
}

static void
try_connect(struct mqtt *m)
{
	char why[160], e[128];
	int rc;

	m->state = MQTT_CONNECTING;
	m->deadline_ms = m->now_ms + MQTT_CONNECT_MS;
	if (new_token(m) != 0) {
		went_down(m, "cannot set the last will");
		return;
	}
	rc = mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(why, sizeof why, "cannot connect: %s", mosq_err(rc, e, sizeof e));
		went_down(m, why);
	}
}

static void
on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;
	char why[160];

	(void)mosq;
	if (rc != 0) {
		snprintf(why, sizeof why, "refused the connection: %s", mosquitto_connack_string(rc));
		went_down(m, why);
		return;
	}
	m->state = MQTT_UP;
	m->up_since = (int64_t)time(NULL);
	m->backoff_ms = MQTT_BACKOFF_MIN;
	m->last_error[0] = '\0';
	m->n.connects++;
	log_info("%s: connected to broker %s:%d%s", m->t->name, m->host, m->port,
	    m->tls ? " (tls)" : "");
	if (mosquitto_subscribe(m->mosq, NULL, m->topic_announce, 0) != MOSQ_ERR_SUCCESS ||
	    mosquitto_subscribe(m->mosq, NULL, m->topic_self, 0) != MOSQ_ERR_SUCCESS) {
		went_down(m, "cannot subscribe");
		return;
	}
	announce(m, m->topic_announce, ANN_FIRST);
	m->announce_ms = m->now_ms + MQTT_ANNOUNCE_MS;
}

static void
on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;
	char why[160], e[128];

	(void)mosq;
	if (m->closing)
		return;
	snprintf(why, sizeof why, "connection lost: %s", mosq_err(rc, e, sizeof e));
	went_down(m, why);
}

/* A token bucket: 1 if this message may be looked at. */
static int
rx_allowed(struct mqtt *m)
{
	uint64_t dt = m->now_ms - m->rx_fill_ms;

	m->rx_fill_ms = m->now_ms;
	m->rx_tokens += (double)dt * MQTT_RX_RATE / 1000.0;
	if (m->rx_tokens > MQTT_RX_BURST)
		m->rx_tokens = MQTT_RX_BURST;
	if (m->rx_tokens < 1.0)
		return 0;
	m->rx_tokens -= 1.0;
	return 1;
}

static void
on_announce(struct mqtt *m, const uint8_t *plain, int plen, int on_own_topic)
{
	const uint8_t *token = plain;
	struct transport_peer *p;
	uint64_t seq;
	int flags;

	if (plen != ANN_LEN || plain[MQTT_TOKEN] > ANN_BYE) {
		m->n.rej_decode++;
		return;
	}
	flags = plain[MQTT_TOKEN];
	seq = 0;
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | plain[MQTT_TOKEN + 1 + i];
	if (sodium_memcmp(token, m->token, MQTT_TOKEN) == 0)
		return;                 /* our own, echoed by the broker */
	m->n.rx_announces++;
	p = peer_find(m, token);
	/*
	 * Sealed announcements cannot be forged without the network key, but anyone on
	 * the broker can publish one again. Only a number higher than the last one heard
	 * from its token counts: a replayed "first" or "bye" cannot tear a session down,
	 * and a token that said goodbye cannot be brought back.
	 */
	for (int i = 0; i < MQTT_GONE && !p; i++) {
		if (sodium_memcmp(m->gone[i].token, token, MQTT_TOKEN) == 0 &&
		    seq <= m->gone[i].seq) {
			m->n.rej_stale++;
			return;
		}
	}
	if (p && seq <= ((struct mqtt_peer *)p)->seq) {
		m->n.rej_stale++;
		return;
	}
	if (flags == ANN_BYE) {
		if (p) {
			memcpy(m->gone[m->gone_next].token, token, MQTT_TOKEN);
			m->gone[m->gone_next].seq = seq;
			m->gone_next = (m->gone_next + 1) % MQTT_GONE;
			peer_remove(m, p);
		}
		return;
	}
	if (p && flags == ANN_FIRST) {
		/* It reconnected: whatever session we had with it is stale. */
		peer_remove(m, p);
		p = NULL;
	}
	if (!p) {
		if ((p = peer_add(m, token)) == NULL)
			return;
		/* Tell a newcomer we are here, on its own topic. */
		if (!on_own_topic || flags != ANN_REPLY) {
			char topic[sizeof m->topic_self];

			node_topic(m, topic, sizeof topic, token);
			announce(m, topic, ANN_REPLY);
		}
	} else if (flags == ANN_FIRST) {
		char topic[sizeof m->topic_self];

		node_topic(m, topic, sizeof topic, token);
		announce(m, topic, ANN_REPLY);
	}
	((struct mqtt_peer *)p)->seq = seq;
	p->last_ms = m->now_ms;
}

static void
on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct mqtt *m = obj;
	struct transport_peer *p;
	uint8_t *plain;
	int is_announce, is_self, plen;

	(void)mosq;
	m->n.rx_messages++;
	if (!rx_allowed(m)) {
		m->n.rej_flood++;
		return;
	}
	if (!msg->topic || !msg->topic[0]) {
		m->n.rej_empty_topic++;
		return;
	}
	is_announce = strcmp(msg->topic, m->topic_announce) == 0;
	is_self = strcmp(msg->topic, m->topic_self) == 0;
	if (!is_announce && !is_self) {
		m->n.rej_topic++;
		return;
	}
	if (msg->payloadlen < 0 || (size_t)msg->payloadlen > MQTT_MAX_PAYLOAD) {
		m->n.rej_oversize++;
		return;
	}
	if ((size_t)msg->payloadlen < MQTT_OVERHEAD + MQTT_TOKEN) {
		m->n.rej_short++;
		return;
	}
	if (((const uint8_t *)msg->payload)[0] != MQTT_VERSION) {
		m->n.rej_version++;
		return;
	}
	m->n.rx_bytes += msg->payloadlen;
	if ((plain = malloc((size_t)msg->payloadlen)) == NULL)
		return;
	plen = open_sealed(m, plain, msg->payload, (size_t)msg->payloadlen, msg->topic);
	if (plen < 0) {
		m->n.rej_auth++;
		goto out;
	}
	switch (((const uint8_t *)msg->payload)[1]) {
	case MQTT_KIND_ANNOUNCE:
		on_announce(m, plain, plen, is_self);
		break;
	case MQTT_KIND_FRAME:
		if (!is_self || plen < MQTT_TOKEN) {
			m->n.rej_decode++;
			break;
		}
		if ((p = peer_find(m, plain)) == NULL) {
			/* A frame from a token we never heard announce: ask it to introduce
			 * itself rather than guess. */
			m->n.rej_unknown_peer++;
			break;
		}
		p->last_ms = m->now_ms;
		p->rx_frames++;
		p->rx_bytes += (uint64_t)(plen - MQTT_TOKEN);
		m->n.rx_frames++;
		if (m->t->ev.frame)
			m->t->ev.frame(m->t->ev.ctx, p, plain + MQTT_TOKEN, (size_t)(plen - MQTT_TOKEN));
		break;
	default:
		m->n.rej_decode++;
	}
out:
	sodium_memzero(plain, (size_t)msg->payloadlen);
	free(plain);
}

/* ---------------- the ops ---------------- */

static int
read_password(const char *path, char *out, size_t cap)
{
	uint8_t *buf;
	size_t len, n = 0;
	int rc;

	if ((rc = node_read_file(path, &buf, &len, 4096)) != 0)
		return rc <= -1000 ? -(-1000 - rc) : -EIO;
	while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '\0')
		n++;
	if (n >= cap) {
		sodium_memzero(buf, len);
		free(buf);
		return -ENAMETOOLONG;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
	sodium_memzero(buf, len);
	free(buf);
	return 0;
}

static void mqtt_close(struct transport *t);

static int
mqtt_open(struct transport *t, const struct conf_section *s)
{
	struct mqtt *m;
	char path[4096], pass[1024], client_id[32], h[25];
	uint8_t id[12], topic_key[16];
	const char *user = conf_get(s, "username");
	int rc;

	if (!t->network_key)
		return -ENOKEY;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return -ENOMEM;
	t->ctx = m;
	m->t = t;
	snprintf(m->host, sizeof m->host, "%s", conf_get(s, "host"));
	m->tls = conf_get(s, "tls-ca") != NULL;
	m->port = (int)conf_get_int(s, "port", m->tls ? 8883 : 1883);
	m->keepalive = (int)conf_get_int(s, "keepalive", 30);
	m->backoff_ms = MQTT_BACKOFF_MIN;
	m->rx_tokens = MQTT_RX_BURST;

	crypto_hash_ctx(m->key, sizeof m->key, APAGON_CTX_MQTT_KEY, NULL, 0, t->network_key,
	    APAGON_KEY);
	crypto_hash_ctx(topic_key, sizeof topic_key, APAGON_CTX_MQTT_TOPIC, NULL, 0,
	    t->network_key, APAGON_KEY);
	hex(m->prefix, topic_key, 8);
	snprintf(m->topic_announce, sizeof m->topic_announce, "%s/a", m->prefix);
	/* The token (and the topic it names) is drawn at each connection: new_token(). */

	/* The client ID is random too: the broker's logs learn nothing lasting. */
	randombytes_buf(id, sizeof id);
	hex(h, id, sizeof id);
	snprintf(client_id, sizeof client_id, "apagon-%s", h);
	if ((m->mosq = mosquitto_new(client_id, true, m)) == NULL) {
		rc = errno ? -errno : -ENOMEM;
		goto fail;
	}
	/* Frames are small and a session's exchange is request-response: Nagle would hold
	 * each one back for the previous one's ACK. */
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_message_callback_set(m->mosq, on_message);
	if (user || conf_get(s, "password-file")) {
		pass[0] = '\0';
		if (conf_get_path(s, "password-file", path, sizeof path) == 0 &&
		    (rc = read_password(path, pass, sizeof pass)) != 0) {
			snprintf(t->error, sizeof t->error, "cannot read password-file %.100s: %s; "
			    "fix the path or the file's permissions", path, strerror(-rc));
			goto fail;
		}
		rc = mosquitto_username_pw_set(m->mosq, user ? user : "", pass[0] ? pass : NULL);
		sodium_memzero(pass, sizeof pass);
		if (rc != MOSQ_ERR_SUCCESS) {
			rc = -EINVAL;
			goto fail;
		}
	}
	if (m->tls) {
		conf_get_path(s, "tls-ca", path, sizeof path);
		if ((rc = mosquitto_tls_set(m->mosq, path, NULL, NULL, NULL, NULL)) != MOSQ_ERR_SUCCESS) {
			snprintf(t->error, sizeof t->error, "cannot use tls-ca %.120s: %s", path,
			    mosquitto_strerror(rc));
			rc = -EINVAL;
			goto fail;
		}
	}
	m->state = MQTT_WAITING;
	m->retry_ms = 0;                /* connect on the first ready() */
	return 0;
fail:
	mqtt_close(t);
	return rc < 0 ? rc : -EIO;
}

static int
mqtt_pollfd(const struct transport *t, short *events)
{
	const struct mqtt *m = t->ctx;
	int fd;

	if (m->state == MQTT_WAITING || (fd = mosquitto_socket(m->mosq)) < 0)
		return -1;
	*events = POLLIN;
	if (mosquitto_want_write(m->mosq))
		*events |= POLLOUT;
	return fd;
}

static int
mqtt_ready(struct transport *t, short revents, uint64_t now_ms)
{
	struct mqtt *m = t->ctx;
	struct transport_peer *p, *next;
	char e[128];
	int rc;

	m->now_ms = now_ms;
	if (m->state == MQTT_WAITING) {
		if (now_ms >= m->retry_ms)
			try_connect(m);
		return 0;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		rc = mosquitto_loop_read(m->mosq, MQTT_READ_BATCH);
		if (rc != MOSQ_ERR_SUCCESS && m->state != MQTT_WAITING) {
			went_down(m, mosq_err(rc, e, sizeof e));
			return 0;
		}
	}
	if (m->state != MQTT_WAITING && mosquitto_want_write(m->mosq)) {
		rc = mosquitto_loop_write(m->mosq, MQTT_READ_BATCH);
		if (rc != MOSQ_ERR_SUCCESS && m->state != MQTT_WAITING) {
			went_down(m, mosq_err(rc, e, sizeof e));
			return 0;
		}
	}
	if (m->state == MQTT_WAITING)
		return 0;
	if (mosquitto_loop_misc(m->mosq) != MOSQ_ERR_SUCCESS && m->state != MQTT_WAITING) {
		went_down(m, "keepalive failed");
		return 0;
	}
	if (m->state == MQTT_CONNECTING && now_ms >= m->deadline_ms) {
		went_down(m, "no answer to CONNECT");
		return 0;
	}
	if (m->state != MQTT_UP)
		return 0;
	if (now_ms >= m->announce_ms) {
		announce(m, m->topic_announce, ANN_HELLO);
		m->announce_ms = now_ms + MQTT_ANNOUNCE_MS;
	}
	for (p = m->peers; p; p = next) {
		next = p->next;
		if (now_ms - p->last_ms > MQTT_PEER_TTL_MS)
			peer_remove(m, p);
	}
	return 0;
}

static int64_t
mqtt_timeout(const struct transport *t, uint64_t now_ms)
{
	const struct mqtt *m = t->ctx;
	uint64_t at;

	switch (m->state) {
	case MQTT_WAITING:
		return m->retry_ms > now_ms ? (int64_t)(m->retry_ms - now_ms) : 0;
	case MQTT_CONNECTING:
		at = m->deadline_ms;
		break;
	case MQTT_UP:
	default:
		at = m->announce_ms;
		for (const struct transport_peer *p = m->peers; p; p = p->next)
			if (p->last_ms + MQTT_PEER_TTL_MS + 1 < at)
				at = p->last_ms + MQTT_PEER_TTL_MS + 1;
		break;
	}
	/* loop_misc() sends the keepalive PINGREQ: run it often enough that it is never
	 * more than a quarter keepalive late. */
	if (now_ms + (uint64_t)m->keepalive * 250 < at)
		at = now_ms + (uint64_t)m->keepalive * 250;
	return at > now_ms ? (int64_t)(at - now_ms) : 0;
}

static int
mqtt_send(struct transport *t, const struct transport_peer *p, const uint8_t *buf, size_t len)
{
	struct mqtt *m = t->ctx;
	char topic[sizeof m->topic_self];
	uint8_t *plain;
	int rc;

	if (m->state != MQTT_UP)
		return -ENOTCONN;
	if (len > TRANSPORT_MAX_FRAME)
		return -EMSGSIZE;
	if ((plain = malloc(MQTT_TOKEN + len)) == NULL)
		return -ENOMEM;
	memcpy(plain, m->token, MQTT_TOKEN);
	memcpy(plain + MQTT_TOKEN, buf, len);
	node_topic(m, topic, sizeof topic, p->addr);
	rc = publish_sealed(m, topic, MQTT_KIND_FRAME, plain, MQTT_TOKEN + len);
	free(plain);
	if (rc == 0) {
		m->n.tx_frames++;
		((struct transport_peer *)p)->tx_frames++;
		((struct transport_peer *)p)->tx_bytes += len;
	}
	return rc;
}

static void
mqtt_close(struct transport *t)
{
	struct mqtt *m = t->ctx;

	if (!m)
		return;
	m->closing = 1;
	if (m->mosq) {
		if (m->state == MQTT_UP) {
			announce(m, m->topic_announce, ANN_BYE);
			mosquitto_disconnect(m->mosq);
			/* Best effort: flush the goodbye before the socket closes. */
			for (int i = 0; i < 4 && mosquitto_want_write(m->mosq); i++)
				if (mosquitto_loop_write(m->mosq, 8) != MOSQ_ERR_SUCCESS)
					break;
		}
		m->state = MQTT_WAITING;
		mosquitto_destroy(m->mosq);
	}
	peers_clear(m);
	sodium_memzero(m->key, sizeof m->key);
	free(m);
	t->ctx = NULL;
}

static void
mqtt_info(const struct transport *t, struct transport_info *ti)
{
	const struct mqtt *m = t->ctx;

	memset(ti, 0, sizeof *ti);
	ti->state = state_names[m->state];
	snprintf(ti->endpoint, sizeof ti->endpoint, "%s:%d%s", m->host, m->port,
	    m->tls ? " (tls)" : "");
	if (m->state == MQTT_UP || !m->last_error[0])
		snprintf(ti->detail, sizeof ti->detail, "topics %s/#", m->prefix);
	else
		snprintf(ti->detail, sizeof ti->detail, "%s", m->last_error);
	ti->up_since = m->up_since;
	ti->retry_in_ms = m->state == MQTT_WAITING && m->retry_ms > m->now_ms ?
	    (int64_t)(m->retry_ms - m->now_ms) : -1;
	ti->peers = m->npeers;
}

static struct transport_peer *
mqtt_peers(const struct transport *t)
{
	return ((const struct mqtt *)t->ctx)->peers;
}

static void
mqtt_stats(const struct transport *t, void (*fn)(void *, const char *, int64_t), void *ctx)
{
	const struct mqtt *m = t->ctx;

	fn(ctx, "rx_messages", m->n.rx_messages);
	fn(ctx, "rx_frames", m->n.rx_frames);
	fn(ctx, "rx_announces", m->n.rx_announces);
	fn(ctx, "rx_bytes", m->n.rx_bytes);
	fn(ctx, "tx_frames", m->n.tx_frames);
	fn(ctx, "tx_announces", m->n.tx_announces);
	fn(ctx, "tx_bytes", m->n.tx_bytes);
	fn(ctx, "tx_errors", m->n.tx_errors);
	fn(ctx, "rejected.topic", m->n.rej_topic);
	fn(ctx, "rejected.empty_topic", m->n.rej_empty_topic);
	fn(ctx, "rejected.oversize", m->n.rej_oversize);
	fn(ctx, "rejected.short", m->n.rej_short);
	fn(ctx, "rejected.version", m->n.rej_version);
	fn(ctx, "rejected.auth", m->n.rej_auth);
	fn(ctx, "rejected.decode", m->n.rej_decode);
	fn(ctx, "rejected.unknown_peer", m->n.rej_unknown_peer);
	fn(ctx, "rejected.flood", m->n.rej_flood);
	fn(ctx, "rejected.peers_full", m->n.rej_peers_full);
	fn(ctx, "rejected.stale_announcement", m->n.rej_stale);
	fn(ctx, "connects", m->n.connects);
	fn(ctx, "disconnects", m->n.disconnects);
	fn(ctx, "connect_failures", m->n.connect_failures);
}

const struct transport_ops transport_mqtt_ops = {
	.name = "mqtt",
	.open = mqtt_open,
	.pollfd = mqtt_pollfd,
	.ready = mqtt_ready,
	.timeout = mqtt_timeout,
	.send = mqtt_send,
	.close = mqtt_close,
	.info = mqtt_info,
	.peers = mqtt_peers,
	.stats = mqtt_stats,
};
