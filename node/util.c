/* Small pieces every part of node/ needs: errors, the clock, files, hex. */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

const char *
node_strerror(int err)
{
	if (err <= -1000)
		return strerror(-1000 - err);
	switch (err) {
	case NODE_ENOTENROLLED:
		return "this node is not enrolled yet: import the enrollment file from your IT office";
	case NODE_EWRONGFILE:
		return "this is an enrollment request: it goes to your IT office (apagon admin enroll)";
	case NODE_ESELF:
		return "that is this node's own key";
	}
	if (err <= -100)
		return crypto_strerror(err + 100);
	return mesh_strerror(err);
}

int64_t
node_now(void)
{
	const char *fake = getenv("APAGON_FAKE_TIME");

	if (fake && *fake)
		return strtoll(fake, NULL, 10);
	return (int64_t)time(NULL);
}

int
node_read_file(const char *path, uint8_t **buf, size_t *len, size_t max)
{
	struct stat sb;
	uint8_t *p = NULL;
	size_t got = 0;
	int fd, rc = 0;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NODE_SYS_ERR(errno);
	if (fstat(fd, &sb) < 0) {
		rc = NODE_SYS_ERR(errno);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = NODE_SYS_ERR(EINVAL);
		goto out;
	}
	if ((uint64_t)sb.st_size > max) {
		rc = NODE_SYS_ERR(EFBIG);
		goto out;
	}
	if (!(p = malloc((size_t)sb.st_size + 1))) {
		rc = NODE_SYS_ERR(ENOMEM);
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = NODE_SYS_ERR(n < 0 ? errno : EIO);
			goto out;
		}
		got += (size_t)n;
	}
	*buf = p;
	*len = got;
	p = NULL;
out:
	free(p);
	close(fd);
	return rc;
}

int
node_write_file(const char *path, const uint8_t *buf, size_t len, int mode)
{
	char tmp[4096];
	size_t off = 0;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return NODE_SYS_ERR(ENAMETOOLONG);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		return NODE_SYS_ERR(errno);
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = NODE_SYS_ERR(errno);
			break;
		}
		off += (size_t)n;
	}
	/* The file must be on disk before its name points at it. */
	if (rc == 0 && fsync(fd) < 0)
		rc = NODE_SYS_ERR(errno);
	if (close(fd) < 0 && rc == 0)
		rc = NODE_SYS_ERR(errno);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = NODE_SYS_ERR(errno);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

void
node_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void
node_free_wiped(void *p)
{
	if (!p)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}
