/* publish.c - renaming finished output into place without replacing what
 * appeared there meanwhile (publish.h). */
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "lutdb.h"

static int exists(const char *final)
{
	return lutdb_fail(LUTDB_EEXIST, "%s: already exists", final);
}

static int rename_failed(int err, const char *final)
{
	int code = err == ENOSPC || err == EDQUOT ? LUTDB_ENOSPC : err == ENOENT ? LUTDB_ENOENT : LUTDB_EIO;
	return lutdb_fail(code, "%s: cannot rename into place: %s", final, strerror(err));
}

/* The kernel or file system has no RENAME_NOREPLACE. */
static int noreplace_unsupported(int err)
{
	return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == ENOTSUP;
}

int lutdb_publish(const char *tmp, const char *final, int is_dir, int replace)
{
	struct stat st;

	if (replace) {
		/* rename(2) replaces whatever final is: make sure, once more
		 * and as late as can be, that it is a file a writer may
		 * replace (it was checked when the writer started). */
		int rc = lutdb_output_check(final, is_dir);
		if (rc)
			return rc;
		return rename(tmp, final) == 0 ? LUTDB_OK : rename_failed(errno, final);
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
		return LUTDB_OK;
	if (errno == EEXIST)
		return exists(final);
	if (!noreplace_unsupported(errno))
		return rename_failed(errno, final);
	if (is_dir) {
		/* rename(2) never replaces a file or a non-empty directory with
		 * a directory. */
		if (rename(tmp, final) == 0)
			return LUTDB_OK;
		return errno == EEXIST || errno == ENOTEMPTY || errno == ENOTDIR ? exists(final)
										 : rename_failed(errno, final);
	}
	/* link(2) fails with EEXIST rather than replace; the temporary name
	 * then goes.  Should unlink fail, a second name of the published file
	 * stays behind, which nothing reads. */
	if (link(tmp, final) == 0) {
		(void)unlink(tmp);
		return LUTDB_OK;
	}
	if (errno == EEXIST)
		return exists(final);
	if (errno != EPERM && !noreplace_unsupported(errno))
		return rename_failed(errno, final);
	/* No hard links either (FAT, some network file systems): the best
	 * this can do is a check, then the rename. */
	if (lstat(final, &st) == 0)
		return exists(final);
	return rename(tmp, final) == 0 ? LUTDB_OK : rename_failed(errno, final);
}

int lutdb_tmp_create(char *templ, int is_dir, int *fd)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = strlen(templ);
	uint8_t rnd[6];

	if (fd)
		*fd = -1;
	if (n < 6 || strcmp(templ + n - 6, "XXXXXX"))
		return lutdb_fail(LUTDB_EINTERNAL, "%s: temporary name template", templ);
	for (int attempt = 0; attempt < 100; attempt++) {
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			return lutdb_fail(LUTDB_EIO, "getrandom: %s", strerror(errno));
		for (int i = 0; i < 6; i++)
			templ[n - 6 + i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
		int made = is_dir ? mkdir(templ, 0777)
				  : (*fd = open(templ, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
		if (made >= 0)
			return LUTDB_OK;
		if (errno != EEXIST)
			break;
	}
	int err = errno;
	return lutdb_fail(err == ENOSPC || err == EDQUOT ? LUTDB_ENOSPC : err == ENOENT ? LUTDB_ENOENT
			  : err == EEXIST ? LUTDB_EEXIST : LUTDB_EIO,
			  "%s: cannot create %s: %s", templ, is_dir ? "directory" : "temporary file", strerror(err));
}

int lutdb_sync_parent(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int fd, rc = LUTDB_OK;

	if (!dir)
		return lutdb_fail(LUTDB_ENOMEM, "sync");
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) != 0 && errno != EINVAL)
			rc = lutdb_fail(errno == ENOSPC ? LUTDB_ENOSPC : LUTDB_EIO, "%s: cannot sync directory: %s",
					slash ? dir : ".", strerror(errno));
		close(fd);
	}
	free(dir);
	return rc;
}
