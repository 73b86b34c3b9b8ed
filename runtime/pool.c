/*
 * pool.c - fork-join thread pool: spin briefly, then sleep on a futex.
 *
 * Protocol (all shared state is atomic except the job description, which is
 * published by the release-increment of `gen` and retired by `pending`):
 *
 *   caller: lock; fn/ctx/ntasks = job; next = 0; pending = nthreads;
 *           gen++ (wake sleeping workers); run tasks claimed from `next`;
 *           pending-- ; wait until pending == 0; unlock.
 *   worker: wait until gen changes; run tasks claimed from `next`; pending--
 *           (the last one wakes a sleeping caller).
 *
 * Every participant - workers with no task too - checks out through
 * `pending`, so once it reads 0 no worker touches the job any more and the
 * next job may overwrite it.  Sleeping uses the Dekker pattern with seq_cst
 * atomics: the sleeper announces itself, re-checks the word and only then
 * calls FUTEX_WAIT on the value it saw; the waker changes the word first and
 * calls FUTEX_WAKE only if it sees a sleeper.  A wake can never be lost, and
 * the syscall is skipped entirely while everyone spins.
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long an idle worker or a waiting caller spins before sleeping. */
#define LK_POOL_SPIN_NS 200000L

struct lk_pool {
	int nthreads;
	int nworkers;
	pthread_t *threads;
	pthread_mutex_t run_lock;

	/* The job: written by the caller before gen is bumped. */
	lk_task_fn fn;
	void *ctx;
	int ntasks;

	_Alignas(64) _Atomic uint32_t gen; /* futex word of the workers */
	_Atomic int sleepers;              /* workers in (or entering) FUTEX_WAIT */
	_Atomic int stop;
	_Alignas(64) _Atomic int next;     /* next task to claim */
	_Alignas(64) _Atomic uint32_t pending; /* futex word of the caller */
	_Atomic int caller_sleeps;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	/* Spurious returns (EINTR, EAGAIN) are fine: every caller loops. */
	syscall(SYS_futex, (void *)(uintptr_t)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (void *)(uintptr_t)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Spins until *word != val or the spin budget is spent; returns the last
 * value read (acquire). */
static uint32_t spin_while_equal(_Atomic uint32_t *word, uint32_t val)
{
	uint32_t v = atomic_load_explicit(word, memory_order_acquire);
	if (v != val)
		return v;
	long deadline = now_ns() + LK_POOL_SPIN_NS;
	for (;;) {
		for (int i = 0; i < 64; i++) {
			cpu_relax();
			v = atomic_load_explicit(word, memory_order_acquire);
			if (v != val)
				return v;
		}
		if (now_ns() > deadline)
			return v;
	}
}

static void run_tasks(lk_pool *p)
{
	lk_task_fn fn = p->fn;
	void *ctx = p->ctx;
	int n = p->ntasks;
	for (;;) {
		int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
		if (t >= n)
			break;
		fn(ctx, t, n);
	}
}

static void *worker_main(void *arg)
{
	lk_pool *p = arg;
	uint32_t seen = 0;
	for (;;) {
		uint32_t g = spin_while_equal(&p->gen, seen);
		while (g == seen) {
			atomic_fetch_add(&p->sleepers, 1);
			g = atomic_load(&p->gen);
			if (g == seen)
				futex_wait(&p->gen, seen);
			atomic_fetch_sub(&p->sleepers, 1);
			g = atomic_load(&p->gen);
		}
		seen = g;
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			break;
		run_tasks(p);
		if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeps))
			futex_wake(&p->pending, 1);
	}
	return NULL;
}

int lk_pool_threads(const lk_pool *pool)
{
	return pool ? pool->nthreads : 1;
}

lk_pool *lk_pool_new(int nthreads)
{
	if (nthreads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (n > 1024 ? 1024 : (int)n) : 1;
	}
	lk_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->nthreads = nthreads;
	p->nworkers = 0;
	if (pthread_mutex_init(&p->run_lock, NULL) != 0) {
		free(p);
		return NULL;
	}
	atomic_init(&p->gen, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->stop, 0);
	atomic_init(&p->next, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->caller_sleeps, 0);
	if (nthreads > 1) {
		p->threads = calloc((size_t)nthreads - 1, sizeof *p->threads);
		if (!p->threads) {
			lk_pool_free(p);
			return NULL;
		}
		for (int i = 0; i < nthreads - 1; i++) {
			if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
				lk_pool_free(p);
				return NULL;
			}
			p->nworkers++;
		}
	}
	return p;
}

void lk_pool_free(lk_pool *p)
{
	if (!p)
		return;
	if (p->nworkers > 0) {
		pthread_mutex_lock(&p->run_lock);
		atomic_store_explicit(&p->stop, 1, memory_order_release);
		atomic_fetch_add(&p->gen, 1);
		futex_wake(&p->gen, INT_MAX);
		pthread_mutex_unlock(&p->run_lock);
		for (int i = 0; i < p->nworkers; i++)
			pthread_join(p->threads[i], NULL);
	}
	pthread_mutex_destroy(&p->run_lock);
	free(p->threads);
	free(p);
}

void lk_pool_run(lk_pool *p, lk_task_fn fn, void *ctx, int ntasks)
{
	if (ntasks <= 0)
		return;
	if (!p || p->nworkers == 0 || ntasks == 1) {
		for (int t = 0; t < ntasks; t++)
			fn(ctx, t, ntasks);
		return;
	}
	pthread_mutex_lock(&p->run_lock);
	p->fn = fn;
	p->ctx = ctx;
	p->ntasks = ntasks;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	atomic_store_explicit(&p->pending, (uint32_t)p->nworkers + 1, memory_order_relaxed);
	atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes the job */
	if (atomic_load(&p->sleepers) > 0)
		futex_wake(&p->gen, INT_MAX);

	run_tasks(p);

	uint32_t left = atomic_fetch_sub(&p->pending, 1) - 1;
	if (left != 0) {
		for (;;) {
			left = spin_while_equal(&p->pending, left);
			if (left == 0)
				break;
			atomic_store(&p->caller_sleeps, 1);
			left = atomic_load(&p->pending);
			if (left != 0)
				futex_wait(&p->pending, left);
			atomic_store(&p->caller_sleeps, 0);
			left = atomic_load_explicit(&p->pending, memory_order_acquire);
			if (left == 0)
				break;
		}
	}
	pthread_mutex_unlock(&p->run_lock);
}

void lk_split_range(size_t n, int ntasks, int task, size_t align, size_t *begin, size_t *end)
{
	if (ntasks <= 1 || task < 0 || task >= ntasks) {
		*begin = (ntasks <= 1 && task == 0) ? 0 : n;
		*end = n;
		return;
	}
	if (align == 0)
		align = 1;
	size_t blocks = n / align + (n % align != 0);
	size_t b0 = blocks / (size_t)ntasks * (size_t)task + blocks % (size_t)ntasks * (size_t)task / (size_t)ntasks;
	size_t b1 = blocks / (size_t)ntasks * (size_t)(task + 1) +
		    blocks % (size_t)ntasks * (size_t)(task + 1) / (size_t)ntasks;
	size_t s = b0 * align, e = b1 * align;
	*begin = s < n ? s : n;
	*end = e < n ? e : n;
}
