/* testutil.h - small helpers shared by the Check suites (header-only). */
#ifndef LUTDB_TESTUTIL_H
#define LUTDB_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lutdb_err.h"

/* Directory of the reference fixtures (tests/ref/make_fixtures.py output);
 * a suite that needs them fails, not skips, when it is unset. */
static inline const char *fixtures_dir(void)
{
	const char *d = getenv("LUTDB_FIXTURES");
	ck_assert_msg(d && *d, "LUTDB_FIXTURES is not set: run the suite through tests/run.sh");
	return d;
}

/* A fresh scratch directory under $TMPDIR; caller frees the string. */
static inline char *scratch_dir(void)
{
	const char *t = getenv("TMPDIR");
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/lutdb-test-XXXXXX", t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(p));
	return p;
}

static inline void rm_rf(const char *path)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

/* Reads a whole file; aborts the test if it cannot. */
static inline void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *p = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	((char *)p)[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return p;
}

static inline void write_all(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static inline int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Parses "1,2, 3" into ids; returns count. */
static inline size_t parse_ids(const char *s, uint32_t *out, size_t max)
{
	size_t n = 0;
	while (*s && n < max) {
		while (*s == ',' || *s == ' ' || *s == '\n' || *s == '\t')
			s++;
		if (!*s)
			break;
		char *end;
		out[n++] = (uint32_t)strtoul(s, &end, 10);
		if (end == s)
			break;
		s = end;
	}
	return n;
}

/* Asserts that rc_expr returns code and that the thread's error detail
 * contains substr. */
#define EXPECT(rc_expr, code, substr)                                                               \
	do {                                                                                        \
		int rc_ = (rc_expr);                                                                \
		ck_assert_msg(rc_ == (code), "%s: got %d (%s), want %d", #rc_expr, rc_,             \
			      lutdb_errdetail(), (code));                                           \
		ck_assert_msg(strstr(lutdb_errdetail(), (substr)) != NULL, "detail \"%s\" lacks \"%s\"", \
			      lutdb_errdetail(), (substr));                                         \
	} while (0)

/* Runs a Check suite and returns the process exit status. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
