/*
 * kern_avx2.c - AVX2 + FMA + F16C kernels.
 *
 * Reduction order (fixed, see kernels.h): a dot product keeps ONE 8-lane
 * accumulator per output, fed acc = fma(w[c..c+8), x[c..c+8), acc) for
 * c = 0, 8, 16, ... with the last partial chunk zero-padded (copied to a
 * small buffer: AVX2 has no 16-bit masked load), then reduced by the fixed
 * tree hsum8 (128-bit halves, lanes 0+2/1+3, lanes 0+1).  matvec (rows in
 * blocks of 8) and matmul (3x4 register tiles of rows x tokens) use that
 * same per-output sequence, so they agree bitwise with each other and with
 * lk_dot whatever the blocking.
 */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kern_quant.h"

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#include "kern_isa_avx2.h"

#ifndef MV_PF16
#define MV_PF16 1
#endif

#define DT_F32 LUTDB_DTYPE_F32
#define DT_F16 LUTDB_DTYPE_F16
#define DT_BF16 LUTDB_DTYPE_BF16

/* ---- loads (ldw, ldx_part, st_part, hsum8: kern_isa_avx2.h) --------------- */
INL size_t esz_of(int dt)
{
	return dt == DT_F32 ? 4 : 2;
}

/* 8 elements from p, the first n (< 8) real and the rest zero. */
INL __m256 ldw_part(int dt, const unsigned char *p, size_t n)
{
	unsigned char buf[32] = {0};
	memcpy(buf, p, n * esz_of(dt));
	return ldw(dt, buf);
}

/* ---- the shared dot-product tile --------------------------------------------
 * pf allows the 16-bit matvec prefetch of the rows MR further on; tile() is
 * tile_pf with pf = 1. */
INL void tile_pf(int pf, int dt, int MR, int NT, const unsigned char *W, size_t ldb, const float *X,
		 size_t ldx, size_t cols, float *Y, size_t ldy)
{
	__m256 acc[8][4];
	const size_t esz = esz_of(dt);
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int t = 0; t < NT; t++)
			acc[i][t] = _mm256_setzero_ps();
#if MV_PF16
	/* pf 2: a matmul panel's first token tile, which reads W from memory */
	const int pf16 = pf && (NT == 1 || pf == 2) && MR > 1 && esz == 2 && cols <= 2048;
#endif
	size_t c = 0;
	for (; c + 8 <= cols; c += 8) {
		__m256 w[8];
#if MV_PF16
		/* as kern_avx512.c: 16-bit matvec rows are too short for the
		 * hardware prefetcher; fetch the next block's same column */
		if (pf16 && (c & 24) == 0)
			UNROLL for (int i = 0; i < MR; i++)
				_mm_prefetch((const char *)(W + (size_t)(i + MR) * ldb + c * esz), _MM_HINT_T0);
#endif
		UNROLL for (int i = 0; i < MR; i++)
			w[i] = ldw(dt, W + (size_t)i * ldb + c * esz);
		UNROLL for (int t = 0; t < NT; t++) {
			__m256 xv = _mm256_loadu_ps(X + (size_t)t * ldx + c);
			UNROLL for (int i = 0; i < MR; i++)
				acc[i][t] = _mm256_fmadd_ps(w[i], xv, acc[i][t]);
		}
	}
	if (c < cols) {
		size_t n = cols - c;
		__m256 w[8];
		UNROLL for (int i = 0; i < MR; i++)
			w[i] = ldw_part(dt, W + (size_t)i * ldb + c * esz, n);
		UNROLL for (int t = 0; t < NT; t++) {
			__m256 xv = ldx_part(X + (size_t)t * ldx + c, n);
			UNROLL for (int i = 0; i < MR; i++)
				acc[i][t] = _mm256_fmadd_ps(w[i], xv, acc[i][t]);
		}
	}
	UNROLL for (int t = 0; t < NT; t++)
		UNROLL for (int i = 0; i < MR; i++)
			Y[(size_t)t * ldy + (size_t)i] = hsum8(acc[i][t]);
}

/* The ISA's matmul register tile: rows x tokens. */
#define MM_MR 3
#define MM_NT 4
/* the token remainder of a matmul block in one tile (kern_blocking.h) */
#define MM_TAIL_TILES 1
#define QK(name) lkq_##name##_avx2
#include "kern_blocking.h"

/* ---- elementwise ------------------------------------------------------------- */
INL void to_f32_impl(int dt, const unsigned char *s, float *d, size_t n)
{
	size_t esz = esz_of(dt), i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(d + i, ldw(dt, s + i * esz));
	if (i < n)
		st_part(d + i, ldw_part(dt, s + i * esz, n - i), n - i);
}

static void v_to_f32(int dtype, const void *src, float *dst, size_t n)
{
	switch (dtype) {
	case DT_F32: memmove(dst, src, n * sizeof(float)); break;
	case DT_F16: to_f32_impl(DT_F16, src, dst, n); break;
	case DT_BF16: to_f32_impl(DT_BF16, src, dst, n); break;
	default: QK(to_f32)(dtype, src, dst, n);
	}
}

INL void axpy_impl(int dt, float alpha, const unsigned char *s, float *y, size_t n)
{
	size_t esz = esz_of(dt), i = 0;
	__m256 a = _mm256_set1_ps(alpha);
	for (; i + 16 <= n; i += 16) {
		__m256 y0 = _mm256_fmadd_ps(a, ldw(dt, s + i * esz), _mm256_loadu_ps(y + i));
		__m256 y1 = _mm256_fmadd_ps(a, ldw(dt, s + (i + 8) * esz), _mm256_loadu_ps(y + i + 8));
		_mm256_storeu_ps(y + i, y0);
		_mm256_storeu_ps(y + i + 8, y1);
	}
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, ldw(dt, s + i * esz), _mm256_loadu_ps(y + i)));
	if (i < n)
		st_part(y + i, _mm256_fmadd_ps(a, ldw_part(dt, s + i * esz, n - i), ldx_part(y + i, n - i)),
			n - i);
}

static void v_axpy(int dtype, float alpha, const void *x, float *y, size_t n)
{
	switch (dtype) {
	case DT_F32: axpy_impl(DT_F32, alpha, x, y, n); break;
	case DT_F16: axpy_impl(DT_F16, alpha, x, y, n); break;
	case DT_BF16: axpy_impl(DT_BF16, alpha, x, y, n); break;
	default: QK(table_axpy)(dtype, alpha, x, 0, y, n);
	}
}

static float v_table_dot(int kdt, const void *a, size_t off, const float *b, size_t n)
{
	if (lkq_valid(kdt))
		return QK(table_dot)(kdt, a, off, b, n);
	return v_dot(kdt, (const unsigned char *)a + off * esz_of(kdt), b, n);
}

static void v_table_matvec(int kdt, const void *W, size_t ld, size_t off, size_t rows, size_t n,
			   const float *x, float *y)
{
	if (!lkq_valid(kdt)) {
		v_matvec(kdt, (const unsigned char *)W + off * esz_of(kdt), ld, rows, n, x, y);
		return;
	}
	size_t ldb = lk_dt_bytes(kdt, ld);
	if (ldb == 0 && ld != 0)
		lk_bad_dtype("lk_table_matvec (ld not whole blocks)", kdt);
	QK(table_matvec)(kdt, W, ldb, off, rows, n, x, y);
}

static void v_table_axpy(int kdt, float alpha, const void *x, size_t off, float *y, size_t n)
{
	if (lkq_valid(kdt))
		QK(table_axpy)(kdt, alpha, x, off, y, n);
	else
		v_axpy(kdt, alpha, (const unsigned char *)x + off * esz_of(kdt), y, n);
}

INL __m256 ldx_rem(const float *p, size_t rem)
{
	return rem >= 8 ? _mm256_loadu_ps(p) : ldx_part(p, rem);
}

/* Sum of x[i]^2: chunk j of 8 goes to accumulator j % 4 (the partial last
 * chunk zero-padded), then (a0+a1)+(a2+a3), then hsum8. */
INL float sumsq(const float *x, size_t n)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		__m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
		__m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
		a0 = _mm256_fmadd_ps(v0, v0, a0);
		a1 = _mm256_fmadd_ps(v1, v1, a1);
		a2 = _mm256_fmadd_ps(v2, v2, a2);
		a3 = _mm256_fmadd_ps(v3, v3, a3);
	}
#define SUMSQ_STEP(A)                                      \
	if (i < n) {                                       \
		__m256 v = ldx_rem(x + i, n - i);          \
		A = _mm256_fmadd_ps(v, v, A);              \
		i += 8;                                    \
	}
	SUMSQ_STEP(a0)
	SUMSQ_STEP(a1)
	SUMSQ_STEP(a2)
	SUMSQ_STEP(a3)
#undef SUMSQ_STEP
	return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

INL void rmsnorm_impl(int dt, float *out, const float *x, const unsigned char *w, size_t n,
		      float eps)
{
	float mean = sumsq(x, n) / (float)n;
	__m256 r = _mm256_set1_ps(1.0f / sqrtf(mean + eps));
	size_t esz = esz_of(dt), i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i,
				 _mm256_mul_ps(ldw(dt, w + i * esz), _mm256_mul_ps(_mm256_loadu_ps(x + i), r)));
	if (i < n)
		st_part(out + i,
			_mm256_mul_ps(ldw_part(dt, w + i * esz, n - i), _mm256_mul_ps(ldx_part(x + i, n - i), r)),
			n - i);
}

static void v_rmsnorm(float *out, const float *x, int wdtype, const void *w, size_t n, float eps)
{
	if (n == 0) {
		if (wdtype < DT_F32 || wdtype > DT_BF16)
			lk_bad_dtype("lk_rmsnorm", wdtype);
		return;
	}
	switch (wdtype) {
	case DT_F32: rmsnorm_impl(DT_F32, out, x, w, n, eps); break;
	case DT_F16: rmsnorm_impl(DT_F16, out, x, w, n, eps); break;
	case DT_BF16: rmsnorm_impl(DT_BF16, out, x, w, n, eps); break;
	default: lk_bad_dtype("lk_rmsnorm", wdtype);
	}
}

/* ---- exp, GELU ------------------------------------------------------------- */
static const float gelu_small_c[LKG_SMALL_N] = LKG_SMALL_C;
static const float gelu_big_c[LKG_BIG_N] = LKG_BIG_C;
static const float exp_c[LKG_EXP_N] = LKG_EXP_C;

INL __m256 horner(const float *c, int n, __m256 s)
{
	__m256 p = _mm256_set1_ps(c[0]);
	UNROLL for (int i = 1; i < n; i++)
		p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(c[i]));
	return p;
}

/* e^y for y <= 0; y < LKG_EXP_MIN or NaN gives 0. */
INL __m256 exp_neg(__m256 y)
{
	__m256 ok = _mm256_cmp_ps(y, _mm256_set1_ps(LKG_EXP_MIN), _CMP_GE_OQ);
	y = _mm256_max_ps(y, _mm256_set1_ps(LKG_EXP_MIN));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(LKG_LOG2E)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LKG_LN2_HI), y);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LKG_LN2_LO), r);
	__m256 p = horner(exp_c, LKG_EXP_N, r);
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_and_ps(ok, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* e^y over the whole float range: 2^n applied as two factors 2^(n>>1) and
 * 2^(n - (n>>1)), both normal, so subnormal results are rounded once. */
INL __m256 exp_full(__m256 y)
{
	__m256 over = _mm256_cmp_ps(y, _mm256_set1_ps(88.7228394f), _CMP_GT_OQ);
	__m256 nan = _mm256_cmp_ps(y, y, _CMP_UNORD_Q);
	__m256 yc = _mm256_max_ps(_mm256_min_ps(y, _mm256_set1_ps(89.0f)), _mm256_set1_ps(-104.0f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(yc, _mm256_set1_ps(LKG_LOG2E)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LKG_LN2_HI), yc);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LKG_LN2_LO), r);
	__m256 p = horner(exp_c, LKG_EXP_N, r);
	__m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
	__m256i n2 = _mm256_sub_epi32(ni, n1), b = _mm256_set1_epi32(127);
	__m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, b), 23));
	__m256 e2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, b), 23));
	__m256 res = _mm256_mul_ps(_mm256_mul_ps(p, e1), e2);
	res = _mm256_blendv_ps(res, _mm256_set1_ps(INFINITY), over);
	return _mm256_blendv_ps(res, y, nan);
}

static void v_exp(float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, exp_full(_mm256_loadu_ps(x + i)));
	if (i < n)
		st_part(x + i, exp_full(ldx_part(x + i, n - i)), n - i);
}

INL __m256 gelu8(__m256 x)
{
	const __m256 signbit = _mm256_set1_ps(-0.0f);
	__m256 t = _mm256_andnot_ps(signbit, x);
	__m256 s = _mm256_mul_ps(x, x);
	__m256 gs = _mm256_fmadd_ps(s, horner(gelu_small_c, LKG_SMALL_N, s),
				    _mm256_mul_ps(x, _mm256_set1_ps(0.5f)));
	__m256 small = _mm256_cmp_ps(t, _mm256_set1_ps(LKG_SPLIT), _CMP_LT_OQ);
	if (_mm256_movemask_ps(small) == 0xff)
		return gs;
	__m256 tc = _mm256_min_ps(t, _mm256_set1_ps(LKG_CUT)); /* NaN -> CUT */
	__m256 rr = horner(gelu_big_c, LKG_BIG_N, tc);
	__m256 y = _mm256_fmadd_ps(_mm256_mul_ps(tc, _mm256_set1_ps(-0.5f)), tc, rr);
	__m256 q = exp_neg(y);
	__m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
	__m256 gb = _mm256_blendv_ps(_mm256_mul_ps(x, q), _mm256_fnmadd_ps(x, q, x), pos);
	__m256 far = _mm256_cmp_ps(t, _mm256_set1_ps(LKG_CUT), _CMP_GT_OQ);
	gb = _mm256_blendv_ps(gb, _mm256_blendv_ps(signbit, x, pos), far);
	return _mm256_blendv_ps(gb, gs, small);
}

static void v_gelu_erf(float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
	if (i < n)
		st_part(x + i, gelu8(ldx_part(x + i, n - i)), n - i);
}

/* ---- softmax ------------------------------------------------------------------ */
static void v_softmax(float *x, size_t n)
{
	if (n == 0)
		return;
	__m256 vm = _mm256_set1_ps(-INFINITY), vnan = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
		vm = _mm256_max_ps(vm, v);
	}
	float m = -INFINITY;
	int nan = _mm256_movemask_ps(vnan) != 0;
	for (; i < n; i++) {
		nan |= x[i] != x[i];
		m = x[i] > m ? x[i] : m;
	}
	float lanes[8];
	_mm256_storeu_ps(lanes, vm);
	for (int l = 0; l < 8; l++)
		m = lanes[l] > m ? lanes[l] : m;
	__m256 mv = _mm256_set1_ps(m);
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	i = 0;
	for (; i + 32 <= n; i += 32) {
		__m256 e0 = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
		__m256 e1 = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv));
		__m256 e2 = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + i + 16), mv));
		__m256 e3 = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(x + i + 24), mv));
		_mm256_storeu_ps(x + i, e0);
		_mm256_storeu_ps(x + i + 8, e1);
		_mm256_storeu_ps(x + i + 16, e2);
		_mm256_storeu_ps(x + i + 24, e3);
		a0 = _mm256_add_ps(a0, e0);
		a1 = _mm256_add_ps(a1, e1);
		a2 = _mm256_add_ps(a2, e2);
		a3 = _mm256_add_ps(a3, e3);
	}
	/* Padding lanes hold -inf, so they add exp(-inf) = 0. */
#define SOFTMAX_STEP(A)                                                              \
	if (i < n) {                                                                 \
		size_t k = n - i >= 8 ? 8 : n - i;                                   \
		float buf[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,          \
				-INFINITY, -INFINITY, -INFINITY, -INFINITY};         \
		memcpy(buf, x + i, k * sizeof(float));                               \
		__m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(buf), mv));         \
		st_part(x + i, e, k);                                                \
		A = _mm256_add_ps(A, e);                                             \
		i += 8;                                                              \
	}
	SOFTMAX_STEP(a0)
	SOFTMAX_STEP(a1)
	SOFTMAX_STEP(a2)
	SOFTMAX_STEP(a3)
#undef SOFTMAX_STEP
	float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	if (nan || m == INFINITY || m == -INFINITY)
		s = NAN;
	__m256 sv = _mm256_set1_ps(s);
	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), sv));
	for (; i < n; i++)
		x[i] = x[i] / s;
}

/* ---- RoPE ------------------------------------------------------------------------ */
static void v_rope(float *v, size_t head_dim, const float *cos, const float *sin)
{
	size_t h = head_dim / 2, i = 0;
	for (; i + 8 <= h; i += 8) {
		__m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + h + i);
		__m256 p0 = _mm256_mul_ps(a, _mm256_loadu_ps(cos + i));
		__m256 p1 = _mm256_mul_ps(b, _mm256_loadu_ps(sin + i));
		__m256 p2 = _mm256_mul_ps(b, _mm256_loadu_ps(cos + h + i));
		__m256 p3 = _mm256_mul_ps(a, _mm256_loadu_ps(sin + h + i));
		_mm256_storeu_ps(v + i, _mm256_sub_ps(p0, p1));
		_mm256_storeu_ps(v + h + i, _mm256_add_ps(p2, p3));
	}
	for (; i < h; i++) {
		float a = v[i], b = v[i + h];
		float p0 = a * cos[i], p1 = b * sin[i];
		float p2 = b * cos[i + h], p3 = a * sin[i + h];
		v[i] = p0 - p1;
		v[i + h] = p2 + p3;
	}
}

const lk_kernels lk_kernels_avx2 = {
	.name = "avx2",
	.matvec = v_matvec,
	.matmul = v_matmul,
	.dot = v_dot,
	.axpy = v_axpy,
	.to_f32 = v_to_f32,
	.rmsnorm = v_rmsnorm,
	.gelu_erf = v_gelu_erf,
	.softmax = v_softmax,
	.exp = v_exp,
	.rope = v_rope,
	.table_dot = v_table_dot,
	.table_axpy = v_table_axpy,
	.table_matvec = v_table_matvec,
	.table_attn_scores = lk_table_attn_scores_avx2,
	.table_attn_values = lk_table_attn_values_avx2,
	.attn_values = lk_attn_values_avx2,
};
