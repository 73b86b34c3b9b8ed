/*
 * qconv.c - conversion into storage dtypes with quantization error
 * (qconv.h).  The quantizers themselves are format/quant's; this file
 * only routes values through float32 and keeps the books.
 */
#include "qconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "pool.h"
#include "quant.h"

/* Values converted per step of a tensor: bounded memory whatever its size. */
#define QCONV_CHUNK 65536u

void lutdb_qacc_merge(lutdb_qacc *into, const lutdb_qacc *from)
{
	if (from->n == 0)
		return;
	if (into->n == 0 || from->max_abs > into->max_abs) {
		into->max_abs = from->max_abs;
		into->max_at = from->max_at;
	}
	into->err2 += from->err2;
	into->ref2 += from->ref2;
	into->n += from->n;
}

/* Lanes of the error sums: value i goes to lane i % QACC_LANES, and the
 * lanes are added in order at the end, so the sums are independent chains
 * (one chain of double adds was the cost of the report) and still depend
 * only on the values, never on threads.  Four lanes keep every sum in a
 * register. */
#define QACC_LANES 4

static inline void qacc_lane(double xv, double yv, size_t i, double *e2, double *r2, double *mx, size_t *at)
{
	double e = fabs(xv - yv);

	*e2 += e * e;
	*r2 += xv * xv;
	if (e > *mx) {
		*mx = e;
		*at = i;
	}
}

/* The error of y against x[0..n) into a, value i standing at base + i.  The
 * maximum is the sequential scan's: its first place. */
static void qacc_add(lutdb_qacc *a, const float *x, const float *y, size_t n, uint64_t base)
{
	double e2[QACC_LANES] = {0}, r2[QACC_LANES] = {0}, mx[QACC_LANES];
	size_t at[QACC_LANES] = {0}, best = 0, i = 0;

	if (n == 0)
		return;
	for (int k = 0; k < QACC_LANES; k++)
		mx[k] = -1.0; /* below every |x - y|: a lane's first value is taken */
	if (n >= QACC_LANES) {
		/* the lanes as named locals, so that they live in registers */
		double e0 = 0, e1 = 0, e2_ = 0, e3 = 0, r0 = 0, r1 = 0, r2_ = 0, r3 = 0;
		double m0 = -1.0, m1 = -1.0, m2 = -1.0, m3 = -1.0;
		size_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;

		for (; i + QACC_LANES <= n; i += QACC_LANES) {
			qacc_lane(x[i], y[i], i, &e0, &r0, &m0, &a0);
			qacc_lane(x[i + 1], y[i + 1], i + 1, &e1, &r1, &m1, &a1);
			qacc_lane(x[i + 2], y[i + 2], i + 2, &e2_, &r2_, &m2, &a2);
			qacc_lane(x[i + 3], y[i + 3], i + 3, &e3, &r3, &m3, &a3);
		}
		e2[0] = e0, e2[1] = e1, e2[2] = e2_, e2[3] = e3;
		r2[0] = r0, r2[1] = r1, r2[2] = r2_, r2[3] = r3;
		mx[0] = m0, mx[1] = m1, mx[2] = m2, mx[3] = m3;
		at[0] = a0, at[1] = a1, at[2] = a2, at[3] = a3;
	}
	for (int k = 0; i + (size_t)k < n; k++)
		qacc_lane(x[i + k], y[i + k], i + k, &e2[k], &r2[k], &mx[k], &at[k]);
	for (int k = 0; k < QACC_LANES && (size_t)k < n; k++) {
		a->err2 += e2[k];
		a->ref2 += r2[k];
		/* the larger maximum, the earlier place on ties */
		if (k == 0 || mx[k] > mx[best] || (mx[k] == mx[best] && at[k] < at[best]))
			best = (size_t)k;
	}
	a->max_abs = mx[best];
	a->max_at = base + at[best];
	a->n = n;
}

int lutdb_qrun(int dtype, uint32_t block, const float *x, size_t n, void *dst, float *scratch, lutdb_qacc *acc,
	       uint64_t base)
{
	lutdb_qacc a = {0};
	int rc;

	if ((rc = lq_quantize(dtype, block, x, n, dst)))
		return rc;
	/* the decode and the sums cost as much as the quantizer: only when
	 * someone reads them */
	if (!acc)
		return LUTDB_OK;
	if ((rc = lq_dequantize(dtype, block, dst, n, scratch)))
		return rc;
	qacc_add(&a, x, scratch, n, base);
	lutdb_qacc_merge(acc, &a);
	return LUTDB_OK;
}

/* n values of sdt (tensor blocks of 32 when quantized) into float32. */
static int to_f32(float *dst, int sdt, const void *src, size_t n)
{
	if (lq_is_quant(sdt))
		return lq_dequantize(sdt, LQ_BLOCK_GGML, src, n, dst);
	return lutdb_convert(LUTDB_DTYPE_F32, dst, sdt, src, n);
}

int lutdb_qconv_tensor(int ddt, void *dst, int sdt, const void *src, uint64_t n, lutdb_qacc *acc)
{
	float *x = NULL, *back = NULL;
	int rc = LUTDB_OK;

	if (ddt == sdt) {
		memcpy(dst, src, (size_t)lutdb_dtype_bytes(sdt, LQ_BLOCK_GGML, n));
		return LUTDB_OK;
	}
	if (!lq_is_quant(ddt) && !lq_is_quant(sdt))
		return lutdb_convert(ddt, dst, sdt, src, (size_t)n);
	if (!(x = malloc(QCONV_CHUNK * sizeof *x)) || !(back = malloc(QCONV_CHUNK * sizeof *back))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "tensor conversion buffers");
		goto out;
	}
	/* Chunks are multiples of 32, so they hold whole blocks on both sides. */
	for (uint64_t at = 0; at < n; at += QCONV_CHUNK) {
		size_t k = n - at < QCONV_CHUNK ? (size_t)(n - at) : QCONV_CHUNK;
		const uint8_t *s = (const uint8_t *)src + lutdb_dtype_bytes(sdt, LQ_BLOCK_GGML, at);
		uint8_t *d = (uint8_t *)dst + lutdb_dtype_bytes(ddt, LQ_BLOCK_GGML, at);
		if ((rc = to_f32(x, sdt, s, k)))
			goto out;
		if (lq_is_quant(ddt))
			rc = lutdb_qrun(ddt, LQ_BLOCK_GGML, x, k, d, back, acc, at);
		else
			rc = lutdb_convert(ddt, d, LUTDB_DTYPE_F32, x, k);
		if (rc)
			goto out;
	}
out:
	free(x);
	free(back);
	return rc;
}

/* ---- table rows ------------------------------------------------------------ */

int lutdb_qrows_init(lutdb_qrows *q, int dtype, uint32_t block, size_t row_elems, size_t row_bytes,
		     struct lk_pool *pool)
{
	memset(q, 0, sizeof *q);
	q->dtype = dtype;
	q->block = block;
	q->row_elems = row_elems;
	q->row_bytes = row_bytes;
	q->pool = pool;
	q->measure = 1;
	q->ntasks = lk_pool_threads(pool);
	/* per task: the decoded row (measuring), then the widened input row */
	if (!(q->scratch = malloc((size_t)q->ntasks * 2 * row_elems * sizeof(float))))
		return lutdb_fail(LUTDB_ENOMEM, "quantization scratch of %zu rows", (size_t)q->ntasks);
	return LUTDB_OK;
}

void lutdb_qrows_free(lutdb_qrows *q)
{
	free(q->scratch);
	q->scratch = NULL;
}

typedef struct qrows_job {
	lutdb_qrows *q;
	const float *src;           /* float32 rows, or NULL: */
	lutdb_qrow_fetch fetch;     /* stored rows of sdt (sblock) to widen */
	void *fetch_ctx;
	int sdt;
	uint32_t sblock;
	uint8_t *dst;
	uint32_t nt, token0;
	lutdb_qacc *acc;   /* one per row: merged in token order afterwards, so
			      the sums do not depend on how rows met threads */
	int rc[64];
	uint32_t bad[64];
	char detail[64][256];
} qrows_job;

static void qrows_task(void *ctx, int task, int ntasks)
{
	qrows_job *j = ctx;
	lutdb_qrows *q = j->q;
	size_t b, e;

	float *scratch = q->scratch + (size_t)task * 2 * q->row_elems, *wide = scratch + q->row_elems;

	lk_split_range(j->nt, ntasks, task, 1, &b, &e);
	for (size_t i = b; i < e; i++) {
		uint64_t base = ((uint64_t)j->token0 + i) * q->row_elems;
		const float *x = j->src ? j->src + i * q->row_elems : wide;
		int rc = LUTDB_OK;

		/* widening here, a row at a time, keeps it in cache for the
		 * quantizer and spreads it over the threads */
		if (!j->src) {
			const void *row = NULL;

			if ((rc = j->fetch(j->fetch_ctx, j->token0 + (uint32_t)i, &row)) == LUTDB_OK)
				rc = lutdb_qrows_widen(wide, j->sdt, j->sblock, row, q->row_elems);
		}
		if (rc == LUTDB_OK)
			rc = lutdb_qrun(q->dtype, q->block, x, q->row_elems, j->dst + i * q->row_bytes, scratch,
					q->measure ? &j->acc[i] : NULL, base);
		if (rc) {
			/* The detail is per thread: carry it to the caller's. */
			j->rc[task] = rc;
			j->bad[task] = j->token0 + (uint32_t)i;
			snprintf(j->detail[task], sizeof j->detail[task], "%s", lutdb_errdetail());
			return;
		}
	}
}

int lutdb_qrows_widen(float *dst, int sdt, uint32_t sblock, const void *src, size_t n)
{
	if (lq_is_quant(sdt))
		return lq_dequantize(sdt, sblock, src, n, dst);
	return lutdb_convert(LUTDB_DTYPE_F32, dst, sdt, src, n);
}

static int qrows_go(lutdb_qrows *q, qrows_job *j, uint32_t nt, void *dst, uint32_t token0);

int lutdb_qrows_run(lutdb_qrows *q, const float *src, uint32_t nt, void *dst, uint32_t token0)
{
	qrows_job *j = calloc(1, sizeof *j);

	if (!j)
		return lutdb_fail(LUTDB_ENOMEM, "quantization job");
	j->src = src;
	return qrows_go(q, j, nt, dst, token0);
}

int lutdb_qrows_run_stored(lutdb_qrows *q, lutdb_qrow_fetch fetch, void *ctx, int sdt, uint32_t sblock, uint32_t nt,
			   void *dst, uint32_t token0)
{
	qrows_job *j = calloc(1, sizeof *j);

	if (!j)
		return lutdb_fail(LUTDB_ENOMEM, "quantization job");
	j->fetch = fetch;
	j->fetch_ctx = ctx;
	j->sdt = sdt;
	j->sblock = sblock;
	return qrows_go(q, j, nt, dst, token0);
}

/* Runs job j (its source set; freed here) on the pool. */
static int qrows_go(lutdb_qrows *q, qrows_job *j, uint32_t nt, void *dst, uint32_t token0)
{
	int ntasks = q->ntasks < 64 ? q->ntasks : 64, rc = LUTDB_OK;

	if (!(j->acc = calloc(nt ? nt : 1, sizeof *j->acc))) {
		free(j);
		return lutdb_fail(LUTDB_ENOMEM, "quantization job");
	}
	if ((uint32_t)ntasks > nt)
		ntasks = nt ? (int)nt : 1;
	j->q = q;
	j->dst = dst;
	j->nt = nt;
	j->token0 = token0;
	lk_pool_run(ntasks > 1 ? q->pool : NULL, qrows_task, j, ntasks);
	/* Merge in task order (= token order): the first failure and the first
	 * place of the maximum, whatever the thread count. */
	for (int t = 0; t < ntasks; t++) {
		if (j->rc[t]) {
			rc = lutdb_fail(j->rc[t], "table row of token %u: %s", j->bad[t], j->detail[t]);
			break;
		}
	}
	for (uint32_t i = 0; rc == LUTDB_OK && i < nt; i++)
		lutdb_qacc_merge(&q->acc, &j->acc[i]);
	free(j->acc);
	free(j);
	return rc;
}

void lutdb_qrow_place(int family, uint32_t experts, uint32_t hidden, uint32_t kv_dim, uint32_t layer_row_elems,
		      uint64_t e, uint32_t *layer, int *key, uint32_t *expert)
{
	uint64_t within = e % layer_row_elems, keys = family == LUTDB_FAMILY_MOLKV ? (uint64_t)experts * kv_dim : 0;

	*layer = (uint32_t)(e / layer_row_elems);
	*key = family == LUTDB_FAMILY_MOLKV ? within < keys : -1;
	*expert = (uint32_t)(within < keys ? within / kv_dim : (within - keys) / hidden);
}

void lutdb_qerror_fill(lutdb_quant_error *out, int dtype, uint32_t block, const lutdb_qacc *acc)
{
	out->dtype = dtype;
	out->block = block;
	out->values = acc->n;
	out->rel_rms = acc->ref2 > 0 ? sqrt(acc->err2) / sqrt(acc->ref2) : 0;
	out->max_abs = acc->max_abs;
}
