/*
 * error.c - how the lutdb command words a failure: one line on stderr,
 * "lutdb CMD: CONTEXT (WORDS)", and the exit status of README "Exit codes".
 *
 * The context is either the library's (lutdb_errdetail(), for a code a
 * library call returned) or the command's own, recorded by cli_error() for a
 * failure the command itself found (a write error on stdout, a missing input
 * file).  The library's detail buffer is the library's: the command never
 * writes into it, so it keeps its own here.
 *
 * The command runs on one thread, and every callback it passes to the
 * library (progress, logits, tokens) runs on the thread that made the call,
 * so one record is enough.  A record is pending from cli_error() until the
 * next cli_fail() prints it, and is used only for the code it was recorded
 * with: a library code never picks up a stale command detail.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* As long as the library's detail (format/base/err.c), so a prefixed
 * library detail is cut at the same length as before. */
#define CLI_DETAIL_MAX 512

static struct {
	int code; /* 0: nothing pending */
	char text[CLI_DETAIL_MAX];
} pending;

/* The context of a failure with code: the command's pending detail when it
 * recorded one for this code, else the library's. */
static const char *detail_for(int code)
{
	return pending.code && pending.code == code ? pending.text : lutdb_errdetail();
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pending.text, sizeof pending.text, fmt, ap);
	va_end(ap);
	pending.code = code;
	return code;
}

int cli_error_prefix(int code, const char *fmt, ...)
{
	char old[CLI_DETAIL_MAX];
	size_t n;
	va_list ap;

	snprintf(old, sizeof old, "%s", detail_for(code));
	va_start(ap, fmt);
	vsnprintf(pending.text, sizeof pending.text, fmt, ap);
	va_end(ap);
	n = strlen(pending.text);
	if (old[0] != '\0' && n + 2 < sizeof pending.text)
		snprintf(pending.text + n, sizeof pending.text - n, ": %.*s", (int)(sizeof pending.text - n - 3), old);
	pending.code = code;
	return code;
}

int cli_fail(const char *cmd, int rc)
{
	const char *d = detail_for(rc);

	if (d && *d)
		fprintf(stderr, "lutdb %s: %s (%s)\n", cmd, d, lutdb_strerror(rc));
	else
		fprintf(stderr, "lutdb %s: %s\n", cmd, lutdb_strerror(rc));
	pending.code = 0;
	return cli_exit_status(rc);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lutdb %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'lutdb %s --help')\n", cmd);
	return 2;
}

int cli_open(const char *cmd, const char *path, unsigned flags, lutdb_db **db)
{
	int rc = lutdb_open(path, flags, db);
	return rc ? cli_fail(cmd, rc) : 0;
}
