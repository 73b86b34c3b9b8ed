/*
 * stdout.c - the last word on standard output.
 *
 * stdio buffers what a command prints, so a write to a full disk, a closed
 * pipe end or /dev/full usually fails only when the buffer is flushed,
 * which for most commands is at exit, after they have decided they
 * succeeded.  A script would then get truncated JSON and status 0.  So
 * every command's output is checked here, once, as it ends: the stream's
 * sticky error flag (set by any failed write along the way) and the final
 * flush and close.  Commands that stream (run, get --raw) also check as
 * they go, to stop early; this catches everything else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>

#include "cli.h"

int cli_stdout_close(const char *cmd, int status)
{
	int pending = __fpending(stdout) > 0, had_error = ferror(stdout), err = 0;

	if (fclose(stdout) != 0)
		err = errno;
	/* A stdout that was closed before the command ran (>&-) is fine as
	 * long as nothing was written to it. */
	if (!had_error && (err == 0 || (err == EBADF && !pending)))
		return status;
	/* A command that failed has said why on its one line already. */
	if (status != 0)
		return status;
	return cli_fail(cmd, cli_error(LUTDB_EIO, "stdout: write error%s%s", err ? ": " : "", err ? strerror(err) : ""));
}
