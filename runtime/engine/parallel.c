/*
 * parallel.c - a layer's work split over the model's thread pool.
 *
 * Work is split by output (rows of a projection, (row, head) pairs of
 * attention and experts): every output is computed by one task in one fixed
 * order, so the thread count never changes a bit (runtime/kernels/kernels.h,
 * "Determinism").
 */
#include "engine_internal.h"

struct par_job {
	lr_pass *p;
	size_t n;
	lr_range_fn fn;
	void *ctx;
};

static void par_task(void *ctx, int task, int ntasks)
{
	const struct par_job *j = ctx;
	size_t b, e;
	lk_split_range(j->n, ntasks, task, 1, &b, &e);
	if (b < e)
		j->fn(j->p, j->ctx, task, b, e);
}

void lr_parallel(lr_pass *p, size_t n, uint64_t work, lr_range_fn fn, void *ctx)
{
	struct par_job j = {p, n, fn, ctx};
	int nt = p->ntasks;

	if (!n)
		return;
	if ((size_t)nt > n)
		nt = (int)n;
	if (nt <= 1 || work < LR_MT_MIN_WORK)
		fn(p, ctx, 0, 0, n);
	else
		lk_pool_run(p->m->pool, par_task, &j, nt);
}

void lr_linear(const lutdb_model *m, const lr_mat *w, const float *X, uint32_t c, float *Y, size_t ldy)
{
	if (c == 1)
		lk_matvec_mt(m->pool, w->dtype, w->data, w->cols, w->rows, w->cols, X, Y);
	else
		lk_matmul_mt(m->pool, w->dtype, w->data, w->cols, w->rows, w->cols, X, c, w->cols, Y,
			     ldy);
}
