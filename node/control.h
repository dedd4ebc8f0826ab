/*
 * The control socket, DIR/control.sock (mode 0600): newline-delimited JSON-RPC 2.0
 * (https://www.jsonrpc.org/specification) for the CLI and other local clients.
 *
 * This file owns the socket, the clients and the framing; what each method does is
 * the daemon's (the `call` hook). Several clients may be connected at once. None can
 * hold up the loop: sockets are non-blocking, a request line may be at most
 * CONTROL_LINE_MAX bytes, and a client whose unread output passes CONTROL_OUT_MAX is
 * dropped, as is one that sends anything that is not a JSON-RPC request. Every drop
 * is counted. Subscribed clients receive events as JSON-RPC notifications.
 */
#ifndef APAGON_CONTROL_H
#define APAGON_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define CONTROL_SOCKET    "control.sock"
#define CONTROL_CLIENTS   32
#define CONTROL_LINE_MAX  (256 << 10)   /* a 32 KiB text escaped as JSON fits */
/* Unread output a client may have. One answer is always let through on its own (an
 * inbox can be big); past this, a client that does not read is dropped. */
#define CONTROL_OUT_MAX   (1 << 20)

/* JSON-RPC error codes (spec section 5.1), and ours. */
#define RPC_PARSE_ERROR      -32700
#define RPC_INVALID_REQUEST  -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS   -32602
#define RPC_INTERNAL_ERROR   -32603
#define RPC_FAILED           1          /* the request was fine; doing it failed */

struct control;
struct control_client;

/*
 * Handle one request. Returns the result (the caller frees it), or NULL with *code and
 * msg set; *data (may stay NULL) is attached to the error. `client` may be marked
 * subscribed with control_subscribe().
 */
typedef cJSON *(*control_call_fn)(void *ctx, struct control_client *client,
    const char *method, const cJSON *params, int *code, char *msg, size_t cap, cJSON **data);

/*
 * Listen on `path`. A live socket there means another daemon runs: -EADDRINUSE. A
 * stale one is replaced. *out is NULL on failure.
 */
int control_open(struct control **out, const char *path, control_call_fn call, void *ctx);
/* Stop listening, drop every client, unlink the socket. */
void control_close(struct control *);

/* The client side, for the CLI and tools: a connected socket to DIR/control.sock, or
 * -1 (errno set) when no daemon answers there. */
int control_dial(const char *dir);

/* Fill up to `max` pollfds (listener and clients); returns how many. */
int control_pollfds(struct control *, struct pollfd *pfds, int max);
/* Read and handle requests on the pollfds control_pollfds() filled last. Replies are
 * only queued: the daemon commits what they report first. */
void control_ready(struct control *, const struct pollfd *pfds, int n);
/* Send what is queued (replies, events); free the clients that are done. */
void control_flush(struct control *);
/* The commit behind this turn's replies failed: drop every client that got one, so
 * none hears of success (its connection closes unanswered). */
void control_discard(struct control *);

/* Queue an event for every subscribed client (sent by control_flush()). Takes
 * ownership of params. */
void control_notify(struct control *, const char *method, cJSON *params);
/* The same, only for the clients that subscribed with message texts (with_text) or
 * without them (!with_text). */
void control_notify_texts(struct control *, const char *method, cJSON *params,
    int with_text);
/* Make cJSON zero every block it frees, process-wide: requests, replies and events
 * carry message texts. */
void control_json_wipe(void);
/* Whether any client is subscribed: events nobody hears need not be built. */
int control_listening(const struct control *);
/* Whether any client is subscribed with message texts (with_text) or without. */
int control_listening_texts(const struct control *, int with_text);
/* with_text 0: this client's message.received events leave the text out, and the
 * daemon does not open it for them. */
void control_subscribe(struct control_client *, int with_text);

struct control_stats {
	int clients, subscribers;
	int64_t accepted, requests, notifications;
	int64_t dropped_overflow, dropped_garbage, dropped_toolong, refused_full;
};
void control_get_stats(const struct control *, struct control_stats *);

#endif
