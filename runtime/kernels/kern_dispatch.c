/*
 * kern_dispatch.c - run-time choice of the kernel table (and of VNNI), the
 * lk_* entry points, the kernel dtype codes of the block-quantized types, the
 * multi-threaded matvec/matmul helpers and lk_rope_table.
 */
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kern_quant.h"
#include "lutdb_err.h"
#include "pool.h"

/* The features each ISA's table is compiled for (Makefile: AVX2FLAGS,
 * AVX512FLAGS; NEON is ARMv8.0's ASIMD, which needs no flag). */
static int cpu_has(int isa)
{
	const unsigned avx2 = LUTDB_CPU_AVX2 | LUTDB_CPU_FMA | LUTDB_CPU_F16C;
	const unsigned avx512 = avx2 | LUTDB_CPU_AVX512F | LUTDB_CPU_AVX512BW | LUTDB_CPU_AVX512VL |
				LUTDB_CPU_AVX512DQ;

	switch (isa) {
	case LK_ISA_SCALAR: return 1;
	case LK_ISA_AVX2: return lutdb_cpu_has(avx2);
	case LK_ISA_AVX512: return lutdb_cpu_has(avx512);
	case LK_ISA_NEON: return lutdb_cpu_has(LUTDB_CPU_ASIMD);
	default: return 0;
	}
}

static const lk_kernels *table_of(int isa)
{
	switch (isa) {
	case LK_ISA_SCALAR: return &lk_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
	case LK_ISA_AVX2: return &lk_kernels_avx2;
	case LK_ISA_AVX512: return &lk_kernels_avx512;
#elif defined(__aarch64__)
	case LK_ISA_NEON: return &lk_kernels_neon;
#endif
	default: return NULL;
	}
}

int lk_isa_supported(int isa)
{
	return isa >= 0 && isa < LK_ISA_COUNT && table_of(isa) && cpu_has(isa);
}

int lk_isa_best(void)
{
	for (int isa = LK_ISA_COUNT - 1; isa > 0; isa--)
		if (lk_isa_supported(isa))
			return isa;
	return LK_ISA_SCALAR;
}

const char *lk_isa_name(int isa)
{
	static const char *const names[LK_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};
	return isa >= 0 && isa < LK_ISA_COUNT ? names[isa] : NULL;
}

const lk_kernels *lk_kernels_for(int isa)
{
	return lk_isa_supported(isa) ? table_of(isa) : NULL;
}

static _Atomic int g_isa = -1;
static const lk_kernels *_Atomic g_active;

int lk_isa_from_env(const char *env)
{
	int isa = lk_isa_best();
	if (env && *env) {
		for (int i = 0; i < LK_ISA_COUNT; i++)
			if (strcmp(env, lk_isa_name(i)) == 0) {
				/* Another architecture's ISA: the best, as an unknown word */
				if (!table_of(i))
					return isa;
				/* An ISA the CPU lacks: the best one below it (of this
				 * architecture: scalar is the only one all share). */
				for (int j = i; j >= 0; j--)
					if (lk_isa_supported(j))
						return j < isa ? j : isa;
			}
	}
	return isa;
}

static const lk_kernels *init_active(void)
{
	int isa = lk_isa_from_env(getenv("LUTDB_ISA"));
	/* Racing first calls compute the same answer: benign. */
	atomic_store(&g_isa, isa);
	atomic_store(&g_active, table_of(isa));
	return table_of(isa);
}

const lk_kernels *lk_kernels_active(void)
{
	const lk_kernels *k = atomic_load_explicit(&g_active, memory_order_acquire);
	return k ? k : init_active();
}

int lk_isa_active(void)
{
	lk_kernels_active();
	return atomic_load(&g_isa);
}

int lk_set_isa(int isa)
{
	if (isa < 0 || isa >= LK_ISA_COUNT)
		return LUTDB_EINVAL;
	if (!lk_isa_supported(isa))
		return LUTDB_EUNSUPPORTED;
	atomic_store(&g_isa, isa);
	atomic_store(&g_active, table_of(isa));
	return 0;
}

void lk_bad_dtype(const char *where, int dtype)
{
	fprintf(stderr, "lutdb: %s: invalid dtype code %d (internal error)\n", where, dtype);
	abort();
}

/* ---- VNNI ------------------------------------------------------------------------ */
/* -1 until LUTDB_VNNI is read; then 1 when VNNI is turned off. */
static _Atomic int g_vnni_off = -1;

static int vnni_off(void)
{
	int off = atomic_load_explicit(&g_vnni_off, memory_order_relaxed);
	if (off < 0) {
		const char *e = getenv("LUTDB_VNNI");
		off = e && strcmp(e, "0") == 0;
		atomic_store_explicit(&g_vnni_off, off, memory_order_relaxed);
	}
	return off;
}

int lkq_vnni(unsigned feat)
{
	return lutdb_cpu_has(feat) && !vnni_off();
}

int lk_vnni_supported(int isa)
{
	if (!lk_isa_supported(isa))
		return 0;
	if (isa == LK_ISA_AVX2)
		return lutdb_cpu_has(LUTDB_CPU_AVXVNNI);
	if (isa == LK_ISA_AVX512)
		return lutdb_cpu_has(LUTDB_CPU_AVX512VNNI);
	if (isa == LK_ISA_NEON)
		return lutdb_cpu_has(LUTDB_CPU_ASIMDDP);
	return 0;
}

int lk_vnni_active(void)
{
	return lk_vnni_supported(lk_isa_active()) && !vnni_off();
}

int lk_set_vnni(int on)
{
	if (on && !lk_vnni_supported(LK_ISA_AVX2) && !lk_vnni_supported(LK_ISA_AVX512) &&
	    !lk_vnni_supported(LK_ISA_NEON))
		return LUTDB_EUNSUPPORTED;
	atomic_store_explicit(&g_vnni_off, !on, memory_order_relaxed);
	return 0;
}

/* ---- kernel dtypes ----------------------------------------------------------------- */
static int float_dtype(int dtype)
{
	return dtype == LUTDB_DTYPE_F32 || dtype == LUTDB_DTYPE_F16 || dtype == LUTDB_DTYPE_BF16;
}

int lk_dt(int dtype, uint32_t block)
{
	if (float_dtype(dtype))
		return block <= 1 ? dtype : 0;
	if (dtype == LQ_DTYPE_Q8_0 || dtype == LQ_DTYPE_Q4_0)
		return block == 0 || block == 32 ? dtype : 0;
	if ((dtype == LQ_DTYPE_NF4 || dtype == LQ_DTYPE_NF3) && block >= 32 && block <= LQ_BLOCK_MAX &&
	    block % 32 == 0)
		return dtype | (int)(block << LKQ_BLOCK_SHIFT);
	return 0;
}

int lk_dt_dtype(int kdt)
{
	if (float_dtype(kdt))
		return kdt;
	return lkq_valid(kdt) ? lkq_type(kdt) : 0;
}

uint32_t lk_dt_block(int kdt)
{
	if (float_dtype(kdt))
		return 1;
	return lkq_valid(kdt) ? lkq_block(kdt) : 0;
}

size_t lk_dt_bytes(int kdt, size_t n)
{
	if (float_dtype(kdt))
		return n > SIZE_MAX / 4 ? 0 : n * (kdt == LUTDB_DTYPE_F32 ? 4 : 2);
	if (!lkq_valid(kdt) || n % lkq_block(kdt) != 0)
		return 0;
	size_t nb = n / lkq_block(kdt), bb = lkq_block_bytes(kdt);
	return nb > SIZE_MAX / bb ? 0 : nb * bb;
}

void lkq_check_dense(const char *where, int kdt, size_t ld, size_t cols)
{
	if (!lkq_dense(kdt) || ld % 32 != 0 || cols % 32 != 0 || cols > ld) {
		fprintf(stderr, "lutdb: %s: dtype %d with ld %zu, cols %zu: not whole blocks of a dense type "
			"(internal error)\n", where, kdt, ld, cols);
		abort();
	}
}

void lkq_check_table(const char *where, int kdt, size_t off)
{
	if (!lkq_valid(kdt))
		lk_bad_dtype(where, kdt);
	if (off % 8 != 0) {
		fprintf(stderr, "lutdb: %s: offset %zu into quantized values is not a multiple of 8 (internal error)\n",
			where, off);
		abort();
	}
}

/* ---- entry points ---------------------------------------------------------- */
void lk_matvec(int dtype, const void *W, size_t ld, size_t rows, size_t cols, const float *x,
	       float *y)
{
	lk_kernels_active()->matvec(dtype, W, ld, rows, cols, x, y);
}

void lk_matmul(int dtype, const void *W, size_t ld, size_t rows, size_t cols, const float *X,
	       size_t T, size_t ldx, float *Y, size_t ldy)
{
	lk_kernels_active()->matmul(dtype, W, ld, rows, cols, X, T, ldx, Y, ldy);
}

float lk_dot(int dtype, const void *a, const float *b, size_t n)
{
	return lk_kernels_active()->dot(dtype, a, b, n);
}

void lk_axpy(int dtype, float alpha, const void *x, float *y, size_t n)
{
	lk_kernels_active()->axpy(dtype, alpha, x, y, n);
}

void lk_to_f32(int dtype, const void *src, float *dst, size_t n)
{
	lk_kernels_active()->to_f32(dtype, src, dst, n);
}

void lk_rmsnorm(float *out, const float *x, int wdtype, const void *w, size_t n, float eps)
{
	lk_kernels_active()->rmsnorm(out, x, wdtype, w, n, eps);
}

void lk_gelu_erf(float *x, size_t n)
{
	lk_kernels_active()->gelu_erf(x, n);
}

void lk_softmax(float *x, size_t n)
{
	lk_kernels_active()->softmax(x, n);
}

void lk_exp(float *x, size_t n)
{
	lk_kernels_active()->exp(x, n);
}

void lk_rope(float *v, size_t head_dim, const float *cos, const float *sin)
{
	lk_kernels_active()->rope(v, head_dim, cos, sin);
}

float lk_table_dot(int kdt, const void *a, size_t off, const float *b, size_t n)
{
	return lk_kernels_active()->table_dot(kdt, a, off, b, n);
}

void lk_table_axpy(int kdt, float alpha, const void *x, size_t off, float *y, size_t n)
{
	lk_kernels_active()->table_axpy(kdt, alpha, x, off, y, n);
}

void lk_table_matvec(int kdt, const void *W, size_t ld, size_t off, size_t rows, size_t n,
		     const float *x, float *y)
{
	lk_kernels_active()->table_matvec(kdt, W, ld, off, rows, n, x, y);
}

void lk_table_attn_scores(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
			  size_t ld, size_t off, size_t n, const float *q, float *scores)
{
	lk_kernels_active()->table_attn_scores(kdt, rows, base, npos, N, ld, off, n, q, scores);
}

void lk_table_attn_values(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
			  size_t ld, size_t off, size_t n, const float *w, float *out)
{
	lk_kernels_active()->table_attn_values(kdt, rows, base, npos, N, ld, off, n, w, out);
}

void lk_rope_table(float *cos, float *sin, size_t head_dim, float theta, uint32_t pos)
{
	size_t h = head_dim / 2;
	for (size_t i = 0; i < h; i++) {
		/* torch.arange(0, dim, 2).float() / dim, then base ** that, 1.0 / that */
		float e = (float)(2 * i) / (float)head_dim;
		float inv = 1.0f / powf(theta, e);
		float ang = (float)pos * inv;
		float c = cosf(ang), s = sinf(ang);
		cos[i] = cos[i + h] = c;
		sin[i] = sin[i + h] = s;
	}
}

/* The active ISA's, so that it matches the lk_axpy it stands for. */
void lk_attn_values(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n,
		    float *O, size_t ldo)
{
	lk_kernels_active()->attn_values(P, ldp, rows, t0, V, ldv, n, O, ldo);
}

/* ---- multi-threaded helpers ------------------------------------------------ */
#define LK_MT_ALIGN 16
/* Below this many weight elements per task, threading costs more than it
 * saves (pool round trip ~ a few us). */
#define LK_MT_MIN_ELEMS 32768

struct mt_job {
	const lk_kernels *k;
	int dtype;
	const unsigned char *W;
	size_t ld, rows, cols, ldb;
	const float *X;
	size_t T, ldx;
	float *Y;
	size_t ldy;
};

static void mt_matvec_task(void *ctx, int task, int ntasks)
{
	const struct mt_job *j = ctx;
	size_t b, e;
	lk_split_range(j->rows, ntasks, task, LK_MT_ALIGN, &b, &e);
	if (b < e)
		j->k->matvec(j->dtype, j->W + b * j->ldb, j->ld, e - b, j->cols, j->X,
			     j->Y + b);
}

static void mt_matmul_task(void *ctx, int task, int ntasks)
{
	const struct mt_job *j = ctx;
	size_t b, e;
	lk_split_range(j->rows, ntasks, task, LK_MT_ALIGN, &b, &e);
	if (b < e)
		j->k->matmul(j->dtype, j->W + b * j->ldb, j->ld, e - b, j->cols, j->X, j->T,
			     j->ldx, j->Y + b, j->ldy);
}

static int mt_tasks(lk_pool *pool, size_t rows, size_t work)
{
	int n = lk_pool_threads(pool);
	if (n <= 1 || rows < 2 * LK_MT_ALIGN || work < (size_t)LK_MT_MIN_ELEMS * 2)
		return 1;
	size_t maxn = rows / LK_MT_ALIGN;
	if ((size_t)n > maxn)
		n = (int)maxn;
	return n;
}

/* Bytes from one row of W to the next. */
static size_t row_bytes(int dtype, size_t ld, size_t cols, const char *where)
{
	switch (dtype) {
	case LUTDB_DTYPE_F32: return ld * 4;
	case LUTDB_DTYPE_F16:
	case LUTDB_DTYPE_BF16: return ld * 2;
	}
	lkq_check_dense(where, dtype, ld, cols);
	return ld / 32 * lkq_block_bytes(dtype);
}

void lk_matvec_mt(lk_pool *pool, int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		  const float *x, float *y)
{
	struct mt_job j = {lk_kernels_active(), dtype, W, ld, rows, cols, row_bytes(dtype, ld, cols, "lk_matvec"),
			   x, 1, 0, y, 0};
	int n = mt_tasks(pool, rows, rows * cols);
	if (n <= 1)
		j.k->matvec(dtype, W, ld, rows, cols, x, y);
	else
		lk_pool_run(pool, mt_matvec_task, &j, n);
}

void lk_matmul_mt(lk_pool *pool, int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		  const float *X, size_t T, size_t ldx, float *Y, size_t ldy)
{
	struct mt_job j = {lk_kernels_active(), dtype, W, ld, rows, cols, row_bytes(dtype, ld, cols, "lk_matmul"),
			   X, T, ldx, Y, ldy};
	int n = mt_tasks(pool, rows, rows * cols * (T ? T : 1));
	if (n <= 1)
		j.k->matmul(dtype, W, ld, rows, cols, X, T, ldx, Y, ldy);
	else
		lk_pool_run(pool, mt_matmul_task, &j, n);
}
