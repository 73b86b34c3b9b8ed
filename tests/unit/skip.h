/*
 * skip.h - a Check test that cannot run here says so (header-only).
 *
 * Check knows only pass and fail, so a test that returns early is counted
 * as passed.  SKIP_TEST prints one line "SKIP <test>: <reason>" on stdout
 * and returns; tests/run.sh counts those lines as skipped, not passed, and
 * repeats the reasons under its closing line.  Use it only for what the
 * rule in tests/README.md allows to be skipped (a capability of the
 * machine, a mode such as memcheck, an explicit opt-out); a dependency that
 * `make test` installs itself must fail the test when it is missing.
 */
#ifndef LUTDB_TEST_SKIP_H
#define LUTDB_TEST_SKIP_H

#include <stdio.h>
#include <string.h>

/* The test's name: START_TEST(name) defines the function name_fn. */
static inline void skip_line_(const char *fn, const char *reason)
{
	size_t n = strlen(fn);

	if (n > 3 && strcmp(fn + n - 3, "_fn") == 0)
		n -= 3;
	/* Flushed at once: the test runs in a forked child whose stdout is a file. */
	printf("SKIP %.*s: %s\n", (int)n, fn, reason);
	fflush(stdout);
}

/* Only in the body of a START_TEST function: it returns from it. */
#define SKIP_TEST(reason)                          \
	do {                                       \
		skip_line_(__func__, (reason));    \
		return;                            \
	} while (0)

#endif
