/*
 * kern_avx512.c - AVX-512 (F/BW/VL/DQ) + FMA + F16C kernels.
 *
 * Reduction order (fixed, see kernels.h): a dot product keeps ONE 16-lane
 * accumulator per output, fed acc = fma(w[c..c+16), x[c..c+16), acc) for
 * c = 0, 16, 32, ... with the last partial chunk loaded zero-masked, then
 * reduced by the fixed tree hsum16 (256-bit halves, 128-bit halves, lanes
 * 0+2/1+3, lanes 0+1).  matvec (rows in blocks of 8) and matmul (4x6 register
 * tiles of rows x tokens; for 16-32 tokens of 16-bit weights, 8x3 tiles on
 * panels widened to F32, kern_small_t_avx512.h) use that same per-output
 * sequence, so they agree bitwise with each other and with lk_dot whatever
 * the blocking.
 */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kern_quant.h"

#define INL static inline __attribute__((always_inline))

#include "kern_isa_avx512.h"
#define UNROLL _Pragma("GCC unroll 16")

/* matvec of 16-bit weights: 64-byte loads (see tile()); 0 disables */
#ifndef MV_WIDE16
#define MV_WIDE16 1
#endif
/* matvec software prefetch of 16-bit weights (see tile()); 0 disables */
#ifndef MV_PF16
#define MV_PF16 1
#endif

#define DT_F32 LUTDB_DTYPE_F32
#define DT_F16 LUTDB_DTYPE_F16
#define DT_BF16 LUTDB_DTYPE_BF16

/* ---- loads (ldw, ldw_mask, the masks, hsum16: kern_isa_avx512.h) ---------- */
INL size_t esz_of(int dt)
{
	return dt == DT_F32 ? 4 : 2;
}

/* Sixteen hsum16 at once, bitwise: element 4q + j of the result is
 * hsum16(v[4j + q]).  Every level adds exactly the lane pairs hsum16 adds
 * (i/i+8, then i/i+4, i/i+2, i/i+1 of each vector), only several vectors
 * at a time: 15 adds and 30 shuffles instead of 16 x 8 operations. */
INL __m512 reduce16(const __m512 v[16])
{
	__m512 t[8], u[4], w[2];
	for (int i = 0; i < 8; i++) /* lane i + lane i+8: [b(v2i) | b(v2i+1)] */
		t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
				     _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
	for (int i = 0; i < 4; i++) /* i + i+4: 128-bit lane q = c(v[4i + q]) */
		u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
				     _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
	for (int i = 0; i < 2; i++) /* i + i+2 */
		w[i] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
				     _mm512_shuffle_ps(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
	/* 0 + 1 */
	return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
			     _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* ---- the shared dot-product tile -------------------------------------------
 * MR rows of W (ldb bytes apart) times NT vectors of X (ldx floats apart):
 * Y[t*ldy + i] = dot(W_i, X_t).  MR and NT are compile-time constants after
 * inlining; each output's arithmetic does not depend on them.  pf allows
 * the 16-bit matvec prefetch of the rows MR further on; tile() is tile_pf
 * with pf = 1. */
INL void tile_pf(int pf, int dt, int MR, int NT, const unsigned char *W, size_t ldb, const float *X,
		 size_t ldx, size_t cols, float *Y, size_t ldy)
{
	__m512 acc[8][6];
	const size_t esz = esz_of(dt);
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int t = 0; t < NT; t++)
			acc[i][t] = _mm512_setzero_ps();
#if MV_PF16
	/* pf 2: a matmul panel's first token tile, which reads W from memory */
	const int pf16 = pf && (NT == 1 || pf == 2) && MR > 1 && esz == 2 && cols <= 2048;
#endif
	size_t c = 0;
#if MV_WIDE16
	if (NT == 1 && esz == 2 && cols <= 2048) {
		/* matvec of short 16-bit rows: one 64-byte load per row and line
		 * (two 32-byte loads of the same line hold two load-queue entries
		 * on one miss), then the two 16-element halves in order: the same
		 * chain as the loop below.  +4..6% GB/s from DRAM at 768 columns,
		 * -8% for F16 rows of 3072 (measured, 3 repeats), hence the limit */
		for (; c + 32 <= cols; c += 32) {
#if MV_PF16
			if (pf16) /* every iteration is one line per row here */
				UNROLL for (int i = 0; i < MR; i++)
					_mm_prefetch((const char *)(W + (size_t)(i + MR) * ldb + c * esz), _MM_HINT_T0);
#endif
			__m512 x0 = _mm512_loadu_ps(X + c), x1 = _mm512_loadu_ps(X + c + 16);
			UNROLL for (int i = 0; i < MR; i++) {
				__m512i raw = _mm512_loadu_si512(W + (size_t)i * ldb + c * esz);
				__m256i h0 = _mm512_castsi512_si256(raw), h1 = _mm512_extracti64x4_epi64(raw, 1);
				__m512 w0, w1;
				if (dt == DT_F16) {
					w0 = _mm512_cvtph_ps(h0);
					w1 = _mm512_cvtph_ps(h1);
				} else {
					w0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h0), 16));
					w1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h1), 16));
				}
				acc[i][0] = _mm512_fmadd_ps(w0, x0, acc[i][0]);
				acc[i][0] = _mm512_fmadd_ps(w1, x1, acc[i][0]);
			}
		}
	}
#endif
	for (; c + 16 <= cols; c += 16) {
		__m512 w[8];
#if MV_PF16
		/* matvec of 16-bit weights: rows of 768 F16 are only 24 lines,
		 * too short for the hardware stream prefetcher to ramp up on
		 * each block of 8 rows, so fetch the same column of the next
		 * block (one prefetch per row and line).  +20..50% GB/s from
		 * DRAM at 768 columns; nothing for F32 (-5%) or rows of
		 * 3072 (-8..+20%), hence only up to 2048 columns. */
		if (pf16 && (c & 16) == 0)
			UNROLL for (int i = 0; i < MR; i++)
				_mm_prefetch((const char *)(W + (size_t)(i + MR) * ldb + c * esz), _MM_HINT_T0);
#endif
		UNROLL for (int i = 0; i < MR; i++)
			w[i] = ldw(dt, W + (size_t)i * ldb + c * esz);
		UNROLL for (int t = 0; t < NT; t++) {
			__m512 xv = _mm512_loadu_ps(X + (size_t)t * ldx + c);
			UNROLL for (int i = 0; i < MR; i++)
				acc[i][t] = _mm512_fmadd_ps(w[i], xv, acc[i][t]);
		}
	}
	if (c < cols) {
		__mmask16 m = tail_mask(cols - c);
		__m512 w[8];
		UNROLL for (int i = 0; i < MR; i++)
			w[i] = ldw_mask(dt, W + (size_t)i * ldb + c * esz, m);
		UNROLL for (int t = 0; t < NT; t++) {
			__m512 xv = _mm512_maskz_loadu_ps(m, X + (size_t)t * ldx + c);
			UNROLL for (int i = 0; i < MR; i++)
				acc[i][t] = _mm512_fmadd_ps(w[i], xv, acc[i][t]);
		}
	}
	if (MR == 8 && NT == 1) {
		/* result element i = row i */
		__m512 v[16];
		UNROLL for (int i = 0; i < 16; i++)
			v[i] = _mm512_setzero_ps();
		UNROLL for (int i = 0; i < 8; i++)
			v[4 * (i % 4) + i / 4] = acc[i][0];
		_mm256_storeu_ps(Y, _mm512_castps512_ps256(reduce16(v)));
		return;
	}
	int t0 = 0;
	if (MR == 4) {
		/* 128-bit lane q of the result = rows 0..3 of token t0 + q */
		UNROLL for (; t0 + 4 <= NT; t0 += 4) {
			__m512 v[16];
			UNROLL for (int j = 0; j < 4; j++)
				UNROLL for (int q = 0; q < 4; q++)
					v[4 * j + q] = acc[j][t0 + q];
			__m512 r = reduce16(v);
			_mm_storeu_ps(Y + (size_t)t0 * ldy, _mm512_castps512_ps128(r));
			_mm_storeu_ps(Y + (size_t)(t0 + 1) * ldy, _mm512_extractf32x4_ps(r, 1));
			_mm_storeu_ps(Y + (size_t)(t0 + 2) * ldy, _mm512_extractf32x4_ps(r, 2));
			_mm_storeu_ps(Y + (size_t)(t0 + 3) * ldy, _mm512_extractf32x4_ps(r, 3));
		}
	}
	UNROLL for (int t = t0; t < NT; t++)
		UNROLL for (int i = 0; i < MR; i++)
			Y[(size_t)t * ldy + (size_t)i] = hsum16(acc[i][t]);
}

/* The ISA's matmul register tile: rows x tokens. */
#ifndef MM_MR
#define MM_MR 4
#define MM_NT 6
#endif
/* the token remainder of a matmul block in one tile (kern_blocking.h) */
#define MM_TAIL_TILES 1
#define QK(name) lkq_##name##_avx512
/* small token counts (a batched decoding step): matmul_small_t */
#include "kern_small_t_avx512.h"
#include "kern_blocking.h"

/* ---- elementwise ------------------------------------------------------------- */
INL void to_f32_impl(int dt, const unsigned char *s, float *d, size_t n)
{
	size_t esz = esz_of(dt), i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(d + i, ldw(dt, s + i * esz));
	if (i < n) {
		__mmask16 m = tail_mask(n - i);
		_mm512_mask_storeu_ps(d + i, m, ldw_mask(dt, s + i * esz, m));
	}
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
	__m512 a = _mm512_set1_ps(alpha);
	for (; i + 32 <= n; i += 32) {
		__m512 y0 = _mm512_fmadd_ps(a, ldw(dt, s + i * esz), _mm512_loadu_ps(y + i));
		__m512 y1 = _mm512_fmadd_ps(a, ldw(dt, s + (i + 16) * esz), _mm512_loadu_ps(y + i + 16));
		_mm512_storeu_ps(y + i, y0);
		_mm512_storeu_ps(y + i + 16, y1);
	}
	for (; i < n; i += 16) {
		__mmask16 m = rem_mask(n - i);
		__m512 v = _mm512_fmadd_ps(a, ldw_mask(dt, s + i * esz, m), _mm512_maskz_loadu_ps(m, y + i));
		_mm512_mask_storeu_ps(y + i, m, v);
	}
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

/* Sum of x[i]^2: chunk j of 16 goes to accumulator j % 4 (the partial last
 * chunk zero-masked), then (a0+a1)+(a2+a3), then hsum16. */
INL float sumsq(const float *x, size_t n)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		__m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
		__m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
		a0 = _mm512_fmadd_ps(v0, v0, a0);
		a1 = _mm512_fmadd_ps(v1, v1, a1);
		a2 = _mm512_fmadd_ps(v2, v2, a2);
		a3 = _mm512_fmadd_ps(v3, v3, a3);
	}
	/* At most 4 chunks are left: the next accumulators in turn. */
#define SUMSQ_STEP(A)                                                        \
	if (i < n) {                                                         \
		__m512 v = _mm512_maskz_loadu_ps(rem_mask(n - i), x + i);    \
		A = _mm512_fmadd_ps(v, v, A);                                \
		i += 16;                                                     \
	}
	SUMSQ_STEP(a0)
	SUMSQ_STEP(a1)
	SUMSQ_STEP(a2)
	SUMSQ_STEP(a3)
#undef SUMSQ_STEP
	return hsum16(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

INL void rmsnorm_impl(int dt, float *out, const float *x, const unsigned char *w, size_t n,
		      float eps)
{
	float mean = sumsq(x, n) / (float)n;
	__m512 r = _mm512_set1_ps(1.0f / sqrtf(mean + eps));
	size_t esz = esz_of(dt);
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = rem_mask(n - i);
		__m512 xv = _mm512_maskz_loadu_ps(m, x + i);
		__m512 wv = ldw_mask(dt, w + i * esz, m);
		_mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(wv, _mm512_mul_ps(xv, r)));
	}
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

INL __m512 horner(const float *c, int n, __m512 s)
{
	__m512 p = _mm512_set1_ps(c[0]);
	UNROLL for (int i = 1; i < n; i++)
		p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(c[i]));
	return p;
}

/* e^y for y <= 0; y < LKG_EXP_MIN or NaN gives 0. */
INL __m512 exp_neg(__m512 y)
{
	__mmask16 ok = _mm512_cmp_ps_mask(y, _mm512_set1_ps(LKG_EXP_MIN), _CMP_GE_OQ);
	y = _mm512_max_ps(y, _mm512_set1_ps(LKG_EXP_MIN));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(LKG_LOG2E)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LKG_LN2_HI), y);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LKG_LN2_LO), r);
	__m512 p = horner(exp_c, LKG_EXP_N, r);
	__m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
	return _mm512_maskz_mul_ps(ok, p, _mm512_castsi512_ps(e));
}

/* e^y over the whole float range: 2^n applied as two factors 2^(n>>1) and
 * 2^(n - (n>>1)), both normal, so subnormal results are rounded once. */
INL __m512 exp_full(__m512 y)
{
	__mmask16 over = _mm512_cmp_ps_mask(y, _mm512_set1_ps(88.7228394f), _CMP_GT_OQ);
	__mmask16 nan = _mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q);
	__m512 yc = _mm512_max_ps(_mm512_min_ps(y, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(yc, _mm512_set1_ps(LKG_LOG2E)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LKG_LN2_HI), yc);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LKG_LN2_LO), r);
	__m512 p = horner(exp_c, LKG_EXP_N, r);
	__m512i ni = _mm512_cvtps_epi32(n), n1 = _mm512_srai_epi32(ni, 1);
	__m512i n2 = _mm512_sub_epi32(ni, n1), b = _mm512_set1_epi32(127);
	__m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, b), 23));
	__m512 e2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, b), 23));
	__m512 res = _mm512_mul_ps(_mm512_mul_ps(p, e1), e2);
	res = _mm512_mask_mov_ps(res, over, _mm512_set1_ps(INFINITY));
	return _mm512_mask_mov_ps(res, nan, y);
}

static void v_exp(float *x, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(x + i, exp_full(_mm512_loadu_ps(x + i)));
	if (i < n) {
		__mmask16 m = tail_mask(n - i);
		_mm512_mask_storeu_ps(x + i, m, exp_full(_mm512_maskz_loadu_ps(m, x + i)));
	}
}

INL __m512 gelu16(__m512 x)
{
	__m512 t = _mm512_abs_ps(x);
	__m512 s = _mm512_mul_ps(x, x);
	__m512 gs = _mm512_fmadd_ps(s, horner(gelu_small_c, LKG_SMALL_N, s),
				    _mm512_mul_ps(x, _mm512_set1_ps(0.5f)));
	__mmask16 small = _mm512_cmp_ps_mask(t, _mm512_set1_ps(LKG_SPLIT), _CMP_LT_OQ);
	if (small == 0xffff)
		return gs;
	__m512 tc = _mm512_min_ps(t, _mm512_set1_ps(LKG_CUT)); /* NaN -> CUT */
	__m512 rr = horner(gelu_big_c, LKG_BIG_N, tc);
	__m512 y = _mm512_fmadd_ps(_mm512_mul_ps(tc, _mm512_set1_ps(-0.5f)), tc, rr);
	__m512 q = exp_neg(y);
	__mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
	__m512 gb = _mm512_mask_blend_ps(pos, _mm512_mul_ps(x, q), _mm512_fnmadd_ps(x, q, x));
	__mmask16 far = _mm512_cmp_ps_mask(t, _mm512_set1_ps(LKG_CUT), _CMP_GT_OQ);
	gb = _mm512_mask_blend_ps(far, gb, _mm512_mask_blend_ps(pos, _mm512_set1_ps(-0.0f), x));
	return _mm512_mask_blend_ps(small, gb, gs);
}

static void v_gelu_erf(float *x, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(x + i, gelu16(_mm512_loadu_ps(x + i)));
	if (i < n) {
		__mmask16 m = tail_mask(n - i);
		_mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
	}
}

/* ---- softmax ------------------------------------------------------------------ */
static void v_softmax(float *x, size_t n)
{
	if (n == 0)
		return;
	const __m512 ninf = _mm512_set1_ps(-INFINITY);
	__m512 vm = ninf;
	__mmask16 nan = 0;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_loadu_ps(x + i);
		nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
		vm = _mm512_max_ps(vm, v);
	}
	if (i < n) {
		__m512 v = _mm512_mask_loadu_ps(ninf, tail_mask(n - i), x + i);
		nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
		vm = _mm512_max_ps(vm, v);
	}
	float m = _mm512_reduce_max_ps(vm);
	__m512 mv = _mm512_set1_ps(m);
	/* exp and sum: chunk j to accumulator j % 4, as sumsq(). */
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	i = 0;
	for (; i + 64 <= n; i += 64) {
		__m512 e0 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
		__m512 e1 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mv));
		__m512 e2 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + i + 32), mv));
		__m512 e3 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(x + i + 48), mv));
		_mm512_storeu_ps(x + i, e0);
		_mm512_storeu_ps(x + i + 16, e1);
		_mm512_storeu_ps(x + i + 32, e2);
		_mm512_storeu_ps(x + i + 48, e3);
		a0 = _mm512_add_ps(a0, e0);
		a1 = _mm512_add_ps(a1, e1);
		a2 = _mm512_add_ps(a2, e2);
		a3 = _mm512_add_ps(a3, e3);
	}
#define SOFTMAX_STEP(A)                                                                  \
	if (i < n) {                                                                     \
		__mmask16 k = rem_mask(n - i);                                           \
		__m512 e = exp_neg(_mm512_sub_ps(_mm512_mask_loadu_ps(ninf, k, x + i), mv)); \
		_mm512_mask_storeu_ps(x + i, k, e);                                      \
		A = _mm512_add_ps(A, e);                                                 \
		i += 16;                                                                 \
	}
	SOFTMAX_STEP(a0)
	SOFTMAX_STEP(a1)
	SOFTMAX_STEP(a2)
	SOFTMAX_STEP(a3)
#undef SOFTMAX_STEP
	float s = hsum16(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
	if (nan || m == INFINITY || m == -INFINITY)
		s = NAN;
	__m512 sv = _mm512_set1_ps(s);
	for (i = 0; i < n; i += 16) {
		__mmask16 k = rem_mask(n - i);
		_mm512_mask_storeu_ps(x + i, k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), sv));
	}
}

/* ---- RoPE ------------------------------------------------------------------------ */
static void v_rope(float *v, size_t head_dim, const float *cos, const float *sin)
{
	size_t h = head_dim / 2;
	for (size_t i = 0; i < h; i += 16) {
		__mmask16 m = rem_mask(h - i);
		__m512 a = _mm512_maskz_loadu_ps(m, v + i), b = _mm512_maskz_loadu_ps(m, v + h + i);
		__m512 p0 = _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, cos + i));
		__m512 p1 = _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m, sin + i));
		__m512 p2 = _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m, cos + h + i));
		__m512 p3 = _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, sin + h + i));
		_mm512_mask_storeu_ps(v + i, m, _mm512_sub_ps(p0, p1));
		_mm512_mask_storeu_ps(v + h + i, m, _mm512_add_ps(p2, p3));
	}
}

const lk_kernels lk_kernels_avx512 = {
	.name = "avx512",
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
	.table_attn_scores = lk_table_attn_scores_avx512,
	.table_attn_values = lk_table_attn_values_avx512,
	.attn_values = lk_attn_values_avx512,
};
