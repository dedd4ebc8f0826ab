/*
 * Logging for the daemon, in the manner of OpenBSD's log.c: log_warn appends the
 * text of errno, log_warnx does not. Everything goes to stderr, one line per call;
 * under systemd (JOURNAL_STREAM is set) each line starts with its syslog priority,
 * "<4>", which journald reads (sd-daemon(3)). The core never logs: it counts, and
 * node/ decides what to say.
 */
#ifndef APAGON_LOG_H
#define APAGON_LOG_H

#define LOG_FMT(a, b) __attribute__((format(printf, a, b)))

/* Name lines with `prog`; verbose > 0 lets log_debug through. */
void log_init(const char *prog, int verbose);
void log_warn(const char *fmt, ...) LOG_FMT(1, 2);
void log_warnx(const char *fmt, ...) LOG_FMT(1, 2);
void log_info(const char *fmt, ...) LOG_FMT(1, 2);
void log_debug(const char *fmt, ...) LOG_FMT(1, 2);
/* Start-up only: log and exit(1). fatal appends errno's text, fatalx does not. */
void fatal(const char *fmt, ...) LOG_FMT(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_FMT(1, 2) __attribute__((noreturn));

#endif
