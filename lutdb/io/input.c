/*
 * input.c - opening and reading files from outside (lutdb.h, "files from
 * outside").
 *
 * open(2) of a FIFO for reading blocks until a writer appears, and open(2)
 * of some devices has effects of its own (a tape rewinds), so the type is
 * checked before the open, with stat(2).  The path can be swapped between
 * that check and the open: the open is O_NONBLOCK, so it cannot hang
 * whatever it meets, and the type is checked again on the descriptor
 * before a byte is read.  Reads are bounded by the caller's cap, not by
 * what the file or the pipe is willing to give.
 */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "lutdb.h"

/* What a file that is not a regular file is, for the message. */
static const char *kind_of(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISLNK(m)  ? "a symbolic link"
			     : "of an unknown type";
}

static int open_failed(int err, const char *path)
{
	int code = err == ENOENT || err == ENOTDIR ? LUTDB_ENOENT : err == ENOMEM ? LUTDB_ENOMEM : LUTDB_EIO;
	return lutdb_fail(code, "%s: %s", path, strerror(err));
}

/* A caller's code for a refusal: one of the negative codes, else EINVAL. */
static int code_or_einval(int code)
{
	return code < 0 ? code : LUTDB_EINVAL;
}

int lutdb_input_open(const char *path, int not_regular, int *fd, uint64_t *size)
{
	struct stat st;
	int flags;

	if (fd)
		*fd = -1;
	if (size)
		*size = 0;
	if (!path || !*path || !fd || !size)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_input_open: no path");
	not_regular = code_or_einval(not_regular);
	if (stat(path, &st) != 0)
		return open_failed(errno, path);
	if (!S_ISREG(st.st_mode))
		return lutdb_fail(not_regular, "%s: not a regular file (%s)", path, kind_of(st.st_mode));
	*fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0)
		return open_failed(errno, path);
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int rc = lutdb_fail(not_regular, "%s: not a regular file (%s; replaced while being opened)", path,
				    kind_of(st.st_mode));
		close(*fd);
		*fd = -1;
		return rc;
	}
	/* Regular files never block; the flag goes so that the descriptor
	 * behaves as an ordinary one for whoever reads it next. */
	if ((flags = fcntl(*fd, F_GETFL)) != -1)
		(void)fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK);
	*size = (uint64_t)st.st_size;
	return LUTDB_OK;
}

/* Waits until a descriptor someone left non-blocking (standard input, say)
 * has data or an end. */
static int wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int lutdb_input_read_fd(int fd, const char *what, uint64_t size_hint, uint64_t cap, int too_big, char **data,
			size_t *len)
{
	/* One byte past the cap is how a longer input is told from one of
	 * exactly cap bytes; keep cap + 2 (that byte and the NUL) in size_t. */
	const uint64_t max_cap = SIZE_MAX / 2;
	size_t have = 0, room;
	char *buf;
	int rc = LUTDB_OK;

	*data = NULL;
	*len = 0;
	too_big = code_or_einval(too_big);
	if (cap > max_cap)
		cap = max_cap;
	/* A regular file's size is known: room for it and the byte that shows
	 * its end.  Otherwise start small and double. */
	room = (size_t)(size_hint && size_hint <= cap ? size_hint + 1 : cap + 1 < 65536 ? cap + 1 : 65536);
	if (!(buf = malloc(room + 1)))
		return lutdb_fail(LUTDB_ENOMEM, "%s: %zu bytes", what, room + 1);
	for (;;) {
		if (have == room) {
			if (have > cap) {
				rc = lutdb_fail(too_big, "%s: more than %llu bytes, the most this input may hold", what,
						(unsigned long long)cap);
				goto out;
			}
			size_t grow = room <= (cap + 1) / 2 ? room * 2 : (size_t)cap + 1;
			char *nb = realloc(buf, grow + 1);
			if (!nb) {
				rc = lutdb_fail(LUTDB_ENOMEM, "%s: %zu bytes", what, grow + 1);
				goto out;
			}
			buf = nb;
			room = grow;
		}
		ssize_t n = read(fd, buf + have, room - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_readable(fd) == 0)
				continue;
			rc = lutdb_fail(LUTDB_EIO, "%s: read error: %s", what, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > cap) {
			rc = lutdb_fail(too_big, "%s: more than %llu bytes, the most this input may hold", what,
					(unsigned long long)cap);
			goto out;
		}
	}
	buf[have] = '\0';
	*data = buf;
	*len = have;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int lutdb_input_read(const char *path, uint64_t cap, unsigned flags, int not_regular, int too_big, char **data,
		     size_t *len)
{
	uint64_t size;
	int fd, rc;

	if (data)
		*data = NULL;
	if (len)
		*len = 0;
	if (!path || !*path || !data || !len)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_input_read: no path");
	if (flags & ~LUTDB_INPUT_STDIN)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_input_read: unknown flags 0x%x", flags);
	if ((flags & LUTDB_INPUT_STDIN) && !strcmp(path, "-"))
		return lutdb_input_read_fd(STDIN_FILENO, "standard input", 0, cap, too_big, data, len);
	if ((rc = lutdb_input_open(path, not_regular, &fd, &size)))
		return rc;
	if (size > cap)
		rc = lutdb_fail(code_or_einval(too_big), "%s: %llu bytes, over the %llu this input may hold", path,
				(unsigned long long)size, (unsigned long long)cap);
	else
		rc = lutdb_input_read_fd(fd, path, size, cap, too_big, data, len);
	close(fd);
	return rc;
}
