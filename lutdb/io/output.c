/*
 * output.c - what may stand where a writer puts its output (lutdb.h,
 * lutdb_output_check).
 *
 * Writers build their output under a temporary name and rename(2) it into
 * place, and rename replaces whatever the name holds: run as root, a pack
 * to /dev/null would turn the system's /dev/null into a regular file.  So
 * only what the writer itself would produce may be replaced: a regular file
 * (or, for shards and export, a directory).  lstat(2), not stat(2): a
 * symbolic link is refused as such, neither followed (that would replace a
 * file elsewhere than the one named) nor replaced (that would silently
 * detach the link).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fail.h"
#include "lutdb.h"

static const char *kind_of(mode_t m)
{
	return S_ISREG(m)    ? "a regular file"
	       : S_ISDIR(m)  ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
			     : "of an unknown type";
}

int lutdb_output_check(const char *path, int is_dir)
{
	struct stat st;

	if (!path || !*path)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_output_check: no path");
	if (lstat(path, &st) != 0) {
		/* Absent: the writer creates it (a missing parent directory
		 * fails there, with its own message). */
		if (errno == ENOENT || errno == ENOTDIR)
			return LUTDB_OK;
		return lutdb_fail(LUTDB_EIO, "%s: %s", path, strerror(errno));
	}
	if (S_ISLNK(st.st_mode))
		return lutdb_fail(LUTDB_EINVAL, "%s: is a symbolic link; output is never written through or over "
				  "one (name its target instead)", path);
	if (is_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode))
		return LUTDB_OK;
	return lutdb_fail(LUTDB_EEXIST, "%s: exists and is %s, not %s: refused, left untouched", path,
			  kind_of(st.st_mode), is_dir ? "a directory" : "a regular file");
}
