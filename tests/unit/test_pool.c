/*
 * test_pool.c - lk_pool: every task runs exactly once, results written by
 * workers are visible to the caller, sleeping/waking, concurrent callers,
 * oversubscription, and lk_split_range's partition properties.
 *
 * Also run once by hand under ThreadSanitizer:
 *   cc -fsanitize=thread -g -O1 ... tests/unit/test_pool.c runtime/pool.c
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

#define MAXT 4096

/* tests/run.sh sets LUTDB_VALGRIND when the suites run under memcheck:
 * the same checks with fewer rounds. */
static int rounds(int n)
{
	const char *v = getenv("LUTDB_VALGRIND");
	return v && *v ? (n + 9) / 10 : n;
}

struct count_ctx {
	_Atomic int hits[MAXT];
	int plain[MAXT]; /* written without atomics: needs the pool's ordering */
	_Atomic int bad_ntasks;
	int expect_ntasks;
};

static void count_task(void *vctx, int task, int ntasks)
{
	struct count_ctx *c = vctx;
	if (ntasks != c->expect_ntasks || task < 0 || task >= ntasks)
		atomic_fetch_add(&c->bad_ntasks, 1);
	else {
		atomic_fetch_add(&c->hits[task], 1);
		c->plain[task] += task + 1;
	}
}

static void check_round(lk_pool *p, struct count_ctx *c, int ntasks)
{
	for (int i = 0; i < MAXT; i++) {
		atomic_store(&c->hits[i], 0);
		c->plain[i] = 0;
	}
	atomic_store(&c->bad_ntasks, 0);
	c->expect_ntasks = ntasks;
	lk_pool_run(p, count_task, c, ntasks);
	ck_assert_int_eq(atomic_load(&c->bad_ntasks), 0);
	for (int i = 0; i < MAXT; i++) {
		ck_assert_int_eq(atomic_load(&c->hits[i]), i < ntasks ? 1 : 0);
		ck_assert_int_eq(c->plain[i], i < ntasks ? i + 1 : 0);
	}
}

START_TEST(test_each_task_once)
{
	static struct count_ctx c;
	for (int th = 1; th <= (rounds(10) < 10 ? 2 : 4); th++) {
		lk_pool *p = lk_pool_new(th);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(lk_pool_threads(p), th);
		static const int NT[] = {0, 1, 2, 3, 7, 64, 1000, MAXT};
		for (size_t k = 0; k < sizeof NT / sizeof NT[0]; k++)
			check_round(p, &c, NT[k]);
		lk_pool_free(p);
	}
	lk_pool_free(NULL);
	ck_assert_int_eq(lk_pool_threads(NULL), 1);
	lk_pool *all = lk_pool_new(0);
	ck_assert_ptr_nonnull(all);
	ck_assert_int_eq(lk_pool_threads(all), (int)sysconf(_SC_NPROCESSORS_ONLN));
	check_round(all, &c, 5);
	lk_pool_free(all);
}
END_TEST

static void order_task(void *vctx, int task, int ntasks)
{
	int *log = vctx;
	log[log[0] + 1] = task;
	log[0]++;
}

START_TEST(test_null_pool_inline)
{
	int log[16] = {0};
	lk_pool_run(NULL, order_task, log, 5);
	ck_assert_int_eq(log[0], 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(log[i + 1], i);
	lk_pool_run(NULL, order_task, log, 0);
	lk_pool_run(NULL, order_task, log, -3);
	ck_assert_int_eq(log[0], 5);
}
END_TEST

/* Sum of a big array in slices: results through plain memory. */
struct sum_ctx {
	const uint32_t *v;
	size_t n;
	uint64_t part[64];
};

static void sum_task(void *vctx, int task, int ntasks)
{
	struct sum_ctx *c = vctx;
	size_t b, e;
	lk_split_range(c->n, ntasks, task, 16, &b, &e);
	uint64_t s = 0;
	for (size_t i = b; i < e; i++)
		s += c->v[i];
	c->part[task] = s;
}

START_TEST(test_many_rounds_and_sleep)
{
	const size_t n = 100003;
	uint32_t *v = malloc(n * sizeof *v);
	uint64_t want = 0;
	for (size_t i = 0; i < n; i++) {
		v[i] = (uint32_t)(i * 2654435761u);
		want += v[i];
	}
	lk_pool *p = lk_pool_new(3);
	struct sum_ctx c = {v, n, {0}};
	for (int round = 0; round < rounds(3000); round++) {
		int nt = 1 + round % 9;
		memset(c.part, 0, sizeof c.part);
		lk_pool_run(p, sum_task, &c, nt);
		uint64_t got = 0;
		for (int t = 0; t < nt; t++)
			got += c.part[t];
		ck_assert_uint_eq(got, want);
		if (round % 500 == 0)
			usleep(3000); /* let the workers fall asleep */
	}
	lk_pool_free(p);
	free(v);
}
END_TEST

/* Several application threads share one pool: runs are serialized. */
struct caller_arg {
	lk_pool *pool;
	int failures;
};

static void *caller_main(void *varg)
{
	struct caller_arg *a = varg;
	struct count_ctx *c = calloc(1, sizeof *c);
	for (int r = 0; r < rounds(300); r++) {
		int nt = 1 + r % 17;
		for (int i = 0; i < nt; i++) {
			atomic_store(&c->hits[i], 0);
			c->plain[i] = 0;
		}
		c->expect_ntasks = nt;
		lk_pool_run(a->pool, count_task, c, nt);
		for (int i = 0; i < nt; i++)
			if (atomic_load(&c->hits[i]) != 1 || c->plain[i] != i + 1)
				a->failures++;
	}
	free(c);
	return NULL;
}

START_TEST(test_concurrent_callers)
{
	lk_pool *p = lk_pool_new(2);
	pthread_t th[3];
	struct caller_arg args[3];
	for (int i = 0; i < 3; i++) {
		args[i].pool = p;
		args[i].failures = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, caller_main, &args[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].failures, 0);
	}
	lk_pool_free(p);
}
END_TEST

START_TEST(test_oversubscribed)
{
	/* more threads than CPUs: late workers must not stall or corrupt runs */
	static struct count_ctx c;
	lk_pool *p = lk_pool_new(rounds(10) < 10 ? 4 : 9);
	for (int r = 0; r < rounds(60); r++)
		check_round(p, &c, 1 + r % 23);
	lk_pool_free(p);
	/* create and destroy quickly, with and without work */
	for (int r = 0; r < rounds(20); r++) {
		lk_pool *q = lk_pool_new(1 + r % 4);
		if (r % 2)
			check_round(q, &c, 3);
		lk_pool_free(q);
	}
}
END_TEST

START_TEST(test_no_spin)
{
	/* LUTDB_POOL_SPIN_US=0: every hand-over goes through the futexes */
	static struct count_ctx c;
	setenv("LUTDB_POOL_SPIN_US", "0", 1);
	lk_pool *p = lk_pool_new(3);
	unsetenv("LUTDB_POOL_SPIN_US");
	ck_assert_ptr_nonnull(p);
	for (int r = 0; r < rounds(60); r++)
		check_round(p, &c, 1 + r % 7);
	lk_pool_free(p);
}
END_TEST

START_TEST(test_split_range)
{
	static const size_t NS[] = {0, 1, 5, 15, 16, 17, 100, 768, 3072, 50304, 50311};
	static const size_t AL[] = {0, 1, 8, 16, 64};
	for (size_t a = 0; a < sizeof AL / sizeof AL[0]; a++)
		for (size_t ni = 0; ni < sizeof NS / sizeof NS[0]; ni++)
			for (int nt = 1; nt <= 9; nt++) {
				size_t n = NS[ni], al = AL[a] ? AL[a] : 1, prev = 0, mn = SIZE_MAX, mx = 0;
				for (int t = 0; t < nt; t++) {
					size_t b, e;
					lk_split_range(n, nt, t, AL[a], &b, &e);
					ck_assert_uint_eq(b, prev);
					ck_assert(e >= b && e <= n);
					if (e < n)
						ck_assert_uint_eq(e % al, 0);
					prev = e;
					if (e - b < mn)
						mn = e - b;
					if (e - b > mx)
						mx = e - b;
				}
				ck_assert_uint_eq(prev, n);
				ck_assert_msg(mx - mn <= al, "n %zu nt %d align %zu: %zu..%zu", n, nt, al, mn, mx);
			}
	size_t b, e;
	lk_split_range(10, 0, 0, 16, &b, &e);
	ck_assert(b == 0 && e == 10);
	lk_split_range(10, 2, 5, 16, &b, &e);
	ck_assert(b == 10 && e == 10);
	lk_split_range(10, 2, -1, 16, &b, &e);
	ck_assert(b == e);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_each_task_once);
	tcase_add_test(tc, test_null_pool_inline);
	tcase_add_test(tc, test_many_rounds_and_sleep);
	tcase_add_test(tc, test_concurrent_callers);
	tcase_add_test(tc, test_oversubscribed);
	tcase_add_test(tc, test_no_spin);
	tcase_add_test(tc, test_split_range);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
