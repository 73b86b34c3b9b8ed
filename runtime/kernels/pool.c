/*
 * pool.c - fork-join thread pool: spin briefly, then sleep on a futex.
 *
 * Protocol.  The job description (fn, ctx, ntasks) and the task counter
 * `next` are guarded by `state` = gen << 32 | CLOSED | active:
 *
 *   caller: lock; write the job; next = 0; state = gen << 32 (open, nobody
 *           in); bump the futex word `gen` (wake sleepers); claim and run
 *           tasks from `next` until none is left; close the job (fetch_or
 *           CLOSED); wait until active == 0; unlock.
 *   worker: wait until `gen` changes; ENTER by a CAS active + 1 that only
 *           succeeds while state still holds that gen and is not CLOSED;
 *           claim and run tasks; LEAVE (active - 1; the last one out of a
 *           closed job bumps `done` and wakes a sleeping caller).
 *
 * A worker that comes late (descheduled, still asleep) finds the job closed
 * and never touches it, so the caller never waits for threads that took no
 * task: on an oversubscribed machine it simply runs the tasks itself.  Once
 * the caller has closed the job and seen active == 0, nobody reads the job
 * any more and the next one may overwrite it.  Sleeping uses the Dekker
 * pattern with seq_cst atomics: the sleeper announces itself, re-checks, and
 * only then calls FUTEX_WAIT on the value it saw; the waker changes the word
 * first and calls FUTEX_WAKE only when it sees a sleeper.  No wake-up can be
 * lost and no syscall is made while everyone spins.  ThreadSanitizer sees
 * only atomics and a mutex (tested with -fsanitize=thread).
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Helgrind does not model C11 atomics: when its header is around, tell it
 * which words are atomics and where the happens-before edges are (client
 * requests are a few no-op instructions outside valgrind). */
#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#define ON_VALGRIND() RUNNING_ON_VALGRIND
#define HG_ATOMIC(x) VALGRIND_HG_DISABLE_CHECKING(&(x), sizeof(x))
#define HG_BEFORE(x) ANNOTATE_HAPPENS_BEFORE(x)
#define HG_AFTER(x) ANNOTATE_HAPPENS_AFTER(x)
#endif
#endif
#ifndef HG_ATOMIC
#define ON_VALGRIND() 0
#define HG_ATOMIC(x) ((void)0)
#define HG_BEFORE(x) ((void)0)
#define HG_AFTER(x) ((void)0)
#endif

/* How long an idle worker or a waiting caller spins before sleeping, and
 * after how long its spin starts yielding the CPU between checks (so that
 * on an oversubscribed machine spinners do not starve the thread they wait
 * for). */
#define LK_POOL_SPIN_NS 100000L /* LUTDB_POOL_SPIN_US overrides */
#define LK_POOL_YIELD_NS 10000L

#define ST_CLOSED (1ull << 31)
#define ST_ACTIVE 0x7fffffffull

struct lk_pool {
	int nthreads;
	int nworkers;
	long spin_ns;
	pthread_t *threads;
	pthread_mutex_t run_lock;

	/* The job: written by the caller while no worker is inside. */
	lk_task_fn fn;
	void *ctx;
	int ntasks;

	/* One cache line for what a worker reads to start. */
	_Alignas(64) _Atomic uint32_t gen; /* futex word of idle workers */
	_Atomic int next;                  /* next task to claim */
	_Atomic uint64_t state;            /* gen << 32 | CLOSED | active */
	_Atomic int sleepers;              /* workers in (or entering) FUTEX_WAIT */
	_Atomic int stop;
	_Alignas(64) _Atomic uint32_t done; /* futex word of the caller */
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
static uint32_t spin_while_equal(_Atomic uint32_t *word, uint32_t val, long spin_ns)
{
	uint32_t v = atomic_load_explicit(word, memory_order_acquire);
	if (v != val)
		return v;
	long t0 = now_ns(), t = t0;
	for (;;) {
		for (int i = 0; i < 32; i++) {
			cpu_relax();
			v = atomic_load_explicit(word, memory_order_acquire);
			if (v != val)
				return v;
		}
		t = now_ns();
		if (t - t0 > spin_ns)
			return v;
		if (t - t0 > LK_POOL_YIELD_NS)
			sched_yield();
	}
}

/* Spins until no worker is inside the (closed) job; 1 if so, 0 when the
 * budget ran out. */
static int spin_until_idle(lk_pool *p)
{
	if (!(atomic_load_explicit(&p->state, memory_order_acquire) & ST_ACTIVE))
		return 1;
	long t0 = now_ns(), t = t0;
	for (;;) {
		for (int i = 0; i < 32; i++) {
			cpu_relax();
			if (!(atomic_load_explicit(&p->state, memory_order_acquire) & ST_ACTIVE))
				return 1;
		}
		t = now_ns();
		if (t - t0 > p->spin_ns)
			return 0;
		if (t - t0 > LK_POOL_YIELD_NS)
			sched_yield();
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
		uint32_t g = spin_while_equal(&p->gen, seen, p->spin_ns);
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
		/* enter, unless the job is over or already replaced */
		uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);
		int in = 0;
		while ((uint32_t)(s >> 32) == g && !(s & ST_CLOSED)) {
			if (atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acquire,
								  memory_order_relaxed)) {
				HG_AFTER(&p->state);
				in = 1;
				break;
			}
		}
		if (!in)
			continue;
		run_tasks(p);
		HG_BEFORE(&p->done);
		s = atomic_fetch_sub(&p->state, 1);
		if ((s & ST_CLOSED) && (s & ST_ACTIVE) == 1) {
			atomic_fetch_add(&p->done, 1);
			if (atomic_load(&p->caller_sleeps))
				futex_wake(&p->done, 1);
		}
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
	/* Under valgrind threads take turns on one lock: spinning would only
	 * burn whole time slices, so sleep at once. */
	p->spin_ns = ON_VALGRIND() ? 0 : LK_POOL_SPIN_NS;
	const char *env = getenv("LUTDB_POOL_SPIN_US");
	if (env && *env) {
		char *end;
		long us = strtol(env, &end, 10);
		if (*end == 0 && us >= 0 && us <= 10000000L)
			p->spin_ns = us * 1000L;
	}
	if (pthread_mutex_init(&p->run_lock, NULL) != 0) {
		free(p);
		return NULL;
	}
	atomic_init(&p->gen, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->stop, 0);
	atomic_init(&p->next, 0);
	atomic_init(&p->state, ST_CLOSED);
	atomic_init(&p->done, 0);
	atomic_init(&p->caller_sleeps, 0);
	HG_ATOMIC(p->gen);
	HG_ATOMIC(p->next);
	HG_ATOMIC(p->state);
	HG_ATOMIC(p->sleepers);
	HG_ATOMIC(p->stop);
	HG_ATOMIC(p->done);
	HG_ATOMIC(p->caller_sleeps);
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
	uint32_t g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	HG_BEFORE(&p->state);
	atomic_store_explicit(&p->state, (uint64_t)g << 32, memory_order_release);
	atomic_store(&p->gen, g); /* seq_cst: publishes the job, then look for sleepers */
	if (atomic_load(&p->sleepers) > 0)
		futex_wake(&p->gen, INT_MAX);

	run_tasks(p);

	/* Every task is claimed; close the door and wait for those inside. */
	uint64_t s = atomic_fetch_or(&p->state, ST_CLOSED);
	if (s & ST_ACTIVE) {
		while (!spin_until_idle(p)) {
			atomic_store(&p->caller_sleeps, 1);
			uint32_t d = atomic_load(&p->done);
			if (atomic_load(&p->state) & ST_ACTIVE)
				futex_wait(&p->done, d);
			atomic_store(&p->caller_sleeps, 0);
		}
	}
	HG_AFTER(&p->done);
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
