/* Logging to stderr, OpenBSD style (log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_prog = "apagond";
static int log_verbose;
static int log_journal;         /* prefix lines with "<N>" for journald */

void
log_init(const char *prog, int verbose)
{
	const char *js = getenv("JOURNAL_STREAM");

	log_prog = prog;
	log_verbose = verbose;
	log_journal = js != NULL && *js != '\0';
}

/* One line: priority or program name, the message, and errno's text if err > 0. */
static void
vlog(int prio, int err, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal)
		fprintf(stderr, "<%d>", prio);
	else
		fprintf(stderr, "%s: ", log_prog);
	if (err > 0)
		fprintf(stderr, "%s: %s\n", msg, strerror(err));
	else
		fprintf(stderr, "%s\n", msg);
	fflush(stderr);
}

/* syslog(3) priorities, as journald expects them. */
#define PRIO_ERR     3
#define PRIO_WARNING 4
#define PRIO_INFO    6
#define PRIO_DEBUG   7

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(PRIO_WARNING, err ? err : EIO, fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PRIO_WARNING, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PRIO_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose <= 0)
		return;
	va_start(ap, fmt);
	vlog(PRIO_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(PRIO_ERR, err ? err : EIO, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PRIO_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
