/*
 * json_cases.h - helpers of the suites on JSON documents from outside
 * (test_json_caps.c, test_untrusted_lists.c), header-only: a growing
 * string, and one call of a parser in a child process, with its code, its
 * detail and how far its peak RSS rose (optionally under an address-space
 * limit).
 */
#ifndef LUTDB_TEST_JSON_CASES_H
#define LUTDB_TEST_JSON_CASES_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "json_bounded.h"
#include "lutdb_tokenizer.h"
#include "manifest.h"
#include "safetensors.h"
#include "testutil.h"

/* A growing string. */
typedef struct sb {
	char *p;
	size_t n, cap;
} sb;

static inline void sb_put(sb *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static inline void sb_str(sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Appends s repeated until the text is at least total bytes long. */
static inline void sb_fill(sb *b, const char *s, size_t total)
{
	size_t n = strlen(s);

	while (b->n + n <= total)
		sb_put(b, s, n);
}

/* Pads with spaces (valid JSON whitespace) to exactly total bytes. */
static inline void sb_pad(sb *b, size_t total)
{
	while (b->n < total)
		sb_put(b, " ", 1);
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What one call made in a child process: its code, its detail and how far
 * its peak resident memory rose above what the child had at the start. */
typedef struct outcome {
	int rc;
	long grew_kb;
	char detail[512];
} outcome;

typedef int (*job_fn)(const void *arg);

/* Runs fn(arg) in a child; with as_extra > 0, the child's address space is
 * first limited to what it maps now plus as_extra bytes.  Under memcheck
 * (make valgrind) a job without a limit runs in this process instead: a
 * forked child's exit would be leak-checked with the parent's documents
 * still held, and fail with valgrind's error status; here the job's own
 * leaks are found by the final check.  grew_kb is then 0 (not measured). */
static inline outcome in_child(job_fn fn, const void *arg, size_t as_extra)
{
	outcome o;
	int pfd[2];
	pid_t pid;

	memset(&o, 0, sizeof o);
	if (!as_extra && getenv("LUTDB_VALGRIND")) {
		o.rc = fn(arg);
		snprintf(o.detail, sizeof o.detail, "%s", lutdb_errdetail());
		return o;
	}
	ck_assert_int_eq(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rusage a, b;
		outcome r;

		memset(&r, 0, sizeof r);
		if (as_extra) {
			long pages = 0;
			FILE *f = fopen("/proc/self/statm", "r");
			struct rlimit rl;

			if (!f || fscanf(f, "%ld", &pages) != 1)
				_exit(3);
			fclose(f);
			rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + as_extra;
			if (setrlimit(RLIMIT_AS, &rl))
				_exit(3);
		}
		getrusage(RUSAGE_SELF, &a);
		r.rc = fn(arg);
		getrusage(RUSAGE_SELF, &b);
		r.grew_kb = b.ru_maxrss - a.ru_maxrss;
		snprintf(r.detail, sizeof r.detail, "%s", lutdb_errdetail());
		if (write(pfd[1], &r, sizeof r) != (ssize_t)sizeof r)
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &o, sizeof o), (ssize_t)sizeof o);
	close(pfd[0]);
	{
		int st;

		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	}
	return o;
}

/* A document for the jobs below. */
typedef struct doc_arg {
	const char *text;
	size_t len;
	const char *dir; /* the checkpoint directory, for ckpt_job */
} doc_arg;

static inline int config_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_config c;

	return lutdb_config_parse(a->text, a->len, "config.json", &c);
}

static inline int generation_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_config c;

	memset(&c, 0, sizeof c);
	return lutdb_config_apply_generation(&c, a->text, a->len, "generation_config.json");
}

static inline int manifest_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_manifest m;
	int rc = lutdb_manifest_parse(a->text, a->len, "manifest.json", &m);

	lutdb_manifest_free(&m);
	return rc;
}

static inline int safetensors_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_st_file f;
	int rc = lutdb_st_parse(a->text, a->len, 0, &f);

	lutdb_st_free(&f);
	return rc;
}

static inline int tokenizer_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_tokenizer *t = NULL;
	int rc = lutdb_tokenizer_load(a->text, a->len, &t);

	lutdb_tokenizer_free(t);
	return rc;
}

static inline int generic_job(const void *p)
{
	const doc_arg *a = p;
	const lutdb_json_doc d = {"doc.json", (size_t)1 << 30, LUTDB_EBADINPUT, 0, 0};
	json_t *root = NULL;
	int rc = lutdb_json_load(&d, a->text, a->len, &root);

	json_decref(root);
	return rc;
}

static inline int ckpt_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_ckpt *ck = NULL;
	int rc = lutdb_ckpt_open(a->dir, &ck);

	lutdb_ckpt_close(ck);
	return rc;
}

static inline outcome run_doc(job_fn fn, const char *text, size_t len)
{
	doc_arg a = {text, len, NULL};

	return in_child(fn, &a, 0);
}

#define OUTCOME_IS(o, code, substr)                                                                           \
	do {                                                                                                  \
		ck_assert_msg((o).rc == (code), "got %s (%s), want %s", lutdb_strerror((o).rc), (o).detail,   \
			      lutdb_strerror(code));                                                          \
		ck_assert_msg(strstr((o).detail, (substr)) != NULL, "detail \"%s\" lacks \"%s\"", (o).detail, \
			      (substr));                                                                      \
	} while (0)

/* Built with ASan or run under memcheck: their allocators add redzones,
 * a quarantine of freed blocks and bookkeeping to what a parse holds. */
static inline int instrumented(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 1;
#endif
#endif
	return getenv("LUTDB_VALGRIND") != NULL;
}

/* The most a parse of len bytes may grow peak RSS by, in KB: the
 * documented bound, four times over when instrumented. */
static inline long parse_bound_kb(size_t len)
{
	long kb = (long)((LUTDB_JSON_MEM_FACTOR * len + LUTDB_JSON_MEM_SLACK) >> 10);

	return instrumented() ? 4 * kb : kb;
}

/* What a document refused before it is parsed may cost, in KB. */
static inline long refused_kb(void)
{
	return instrumented() ? 8192 : 1024;
}

#endif /* LUTDB_TEST_JSON_CASES_H */
