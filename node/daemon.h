/*
 * apagond's engine: one process, one hand-written poll() loop (OpenBSD ntpd, Redis
 * ae). It holds the unlocked node, the links of DIR/apagon.conf (transport.h) and the
 * control socket (control.h), and drives them with the current time:
 *
 *   poll timeout = min(transports' deadlines, link retries, housekeeping, sessions)
 *
 * Signal handlers only set volatile sig_atomic_t flags: SIGHUP reloads the config (a
 * broken new config is reported and the old one kept), SIGTERM and SIGINT end the
 * loop cleanly. A link that fails is logged and retried with backoff; the daemon never
 * exits because of one.
 */
#ifndef APAGON_DAEMON_H
#define APAGON_DAEMON_H

#include <stdint.h>

struct node;
struct daemon;

/* Housekeeping (node_maintain) period. */
#define DAEMON_MAINTAIN_MS (5 * 60 * 1000)

/* Monotonic milliseconds, for timers only (never on the wire or in the store). */
uint64_t daemon_now_ms(void);

/*
 * Start serving the node in `dir` (the caller keeps ownership of `n` and closes it
 * after daemon_close): read DIR/apagon.conf, listen on DIR/control.sock, open the
 * links. -EINVAL for a broken config (errors logged with file and line),
 * -EADDRINUSE when another daemon serves `dir`, other -errno. *out is NULL on failure.
 */
int daemon_open(struct daemon **out, struct node *n, const char *dir);

/* Run until SIGTERM or SIGINT. Installs the signal handlers. 0 on a clean stop. */
int daemon_run(struct daemon *);

/* Close the links (peers are told goodbye), the control socket, and free. */
void daemon_close(struct daemon *);

#endif
