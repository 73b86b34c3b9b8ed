/*
 * pool.h - a small fork-join thread pool for the decoding engine.
 *
 * lk_pool_run() hands ntasks task indices to the pool's threads (the calling
 * thread takes part) and returns when every task has run.  It is cheap enough
 * to call a few dozen times per decoded token: idle workers spin briefly on
 * the job counter (100 us, yielding the CPU after the first 10 us), then
 * sleep on a futex; the caller likewise spins, then sleeps, until the last
 * task finishes.  The environment variable LUTDB_POOL_SPIN_US (read by
 * lk_pool_new) sets the spin time; 0 sleeps at once, which suits a machine
 * shared with other busy processes (and is the default under valgrind).  A worker that arrives after the caller
 * has claimed every task stays out of the job, so a descheduled worker never
 * delays lk_pool_run.  Which thread runs which task is not
 * fixed, so a task must compute the same thing whichever thread runs it (all
 * lutdb kernels do: see kernels.h).
 *
 * One lk_pool_run() at a time per pool: concurrent callers are serialized by
 * a mutex, and a task must not call lk_pool_run() on its own pool.
 */
#ifndef LUTDB_POOL_H
#define LUTDB_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lk_pool lk_pool;

typedef void (*lk_task_fn)(void *ctx, int task, int ntasks);

/* A pool of nthreads threads including the caller of lk_pool_run (so
 * nthreads - 1 workers are started).  nthreads <= 0: one per online CPU.
 * Returns NULL when out of memory or threads cannot be created. */
lk_pool *lk_pool_new(int nthreads);

/* Stops and joins the workers.  NULL is fine. */
void lk_pool_free(lk_pool *pool);

/* Threads of the pool (>= 1); 1 for NULL. */
int lk_pool_threads(const lk_pool *pool);

/* Runs fn(ctx, task, ntasks) for every task in [0, ntasks) and returns when
 * all have returned.  pool NULL or ntasks == 1 runs them on the caller, in
 * order.  ntasks <= 0 is a no-op. */
void lk_pool_run(lk_pool *pool, lk_task_fn fn, void *ctx, int ntasks);

/* Splits [0, n) into ntasks contiguous ranges whose boundaries are multiples
 * of align (align 0 or 1: no alignment) and sets task's [*begin, *end).  The
 * ranges cover [0, n) in order; sizes differ by at most align, and trailing
 * tasks may be empty when n is small. */
void lk_split_range(size_t n, int ntasks, int task, size_t align, size_t *begin, size_t *end);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_POOL_H */
