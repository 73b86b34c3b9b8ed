/*
 * kern_neon.c - aarch64 ASIMD (NEON) kernels of the float types.
 *
 * Built for aarch64 only (the Makefile's ARCH_SKIP); ASIMD is part of every
 * aarch64 CPU Linux and Android run on, and nothing here needs more than
 * ARMv8.0: F16 weights are widened with fcvtl (vcvt_f32_f16, exact; a NaN is
 * quieted with its payload kept, as F16C and format/numeric do), BF16 by a
 * 16-bit shift, and all arithmetic is float32.  FP16 arithmetic (asimdhp)
 * stays unused: it would round differently, and no hardware here can show
 * that it is faster.
 *
 * Reduction order (fixed, see kernels.h): the AVX2 table's, on pairs of
 * 4-lane registers.  A dot product keeps ONE 8-lane accumulator per output
 * (lanes 0..3 in .lo, 4..7 in .hi), fed acc = fma(w[c..c+8), x[c..c+8), acc)
 * for c = 0, 8, 16, ... with the last partial chunk zero-padded, then reduced
 * by hsum8 ((lo + hi), lanes 0+2 / 1+3, then 0+1).  So matvec, matmul and
 * dot agree bitwise with each other whatever the blocking (kern_blocking.h),
 * and, since the fma and every rounding are the same operations, with the
 * AVX2 kernels too wherever those give the bits of plain IEEE arithmetic.
 * The element-wise kernels (exp, GELU, softmax, rmsnorm) follow kern_avx2.c
 * step by step for the same reason.
 */
#include "kernels.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kern_neon_v8.h"
#include "kern_quant.h"

#define UNROLL _Pragma("GCC unroll 16")

#define DT_F32 LUTDB_DTYPE_F32
#define DT_F16 LUTDB_DTYPE_F16
#define DT_BF16 LUTDB_DTYPE_BF16

/* ---- loads (ldw, ldx_part, st_part, hsum8: kern_neon_v8.h) ---------------- */
INL size_t esz_of(int dt)
{
	return dt == DT_F32 ? 4 : 2;
}

/* 8 elements from p, the first n (< 8) real and the rest zero. */
INL v8f ldw_part(int dt, const unsigned char *p, size_t n)
{
	unsigned char buf[32] = {0};
	memcpy(buf, p, n * esz_of(dt));
	return ldw(dt, buf);
}

/* ---- the shared dot-product tile --------------------------------------------
 * MR rows x NT tokens of 8-lane accumulators; pf (kern_blocking.h's prefetch
 * switch) is ignored: no measurement here could justify a prefetch. */
INL void tile_pf(int pf, int dt, int MR, int NT, const unsigned char *W, size_t ldb, const float *X,
		 size_t ldx, size_t cols, float *Y, size_t ldy)
{
	(void)pf;
	v8f acc[8][4];
	const size_t esz = esz_of(dt);
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int t = 0; t < NT; t++)
			acc[i][t] = v8_zero();
	size_t c = 0;
	for (; c + 8 <= cols; c += 8) {
		v8f w[8];
		UNROLL for (int i = 0; i < MR; i++)
			w[i] = ldw(dt, W + (size_t)i * ldb + c * esz);
		UNROLL for (int t = 0; t < NT; t++) {
			v8f xv = v8_ld(X + (size_t)t * ldx + c);
			UNROLL for (int i = 0; i < MR; i++)
				acc[i][t] = v8_fma(w[i], xv, acc[i][t]);
		}
	}
	if (c < cols) {
		size_t n = cols - c;
		v8f w[8];
		UNROLL for (int i = 0; i < MR; i++)
			w[i] = ldw_part(dt, W + (size_t)i * ldb + c * esz, n);
		UNROLL for (int t = 0; t < NT; t++) {
			v8f xv = ldx_part(X + (size_t)t * ldx + c, n);
			UNROLL for (int i = 0; i < MR; i++)
				acc[i][t] = v8_fma(w[i], xv, acc[i][t]);
		}
	}
	UNROLL for (int t = 0; t < NT; t++)
		UNROLL for (int i = 0; i < MR; i++)
			Y[(size_t)t * ldy + (size_t)i] = hsum8(acc[i][t]);
}

/* The matmul register tile: 2 rows x 4 tokens is 16 of the 32 registers for
 * the accumulators, 4 for the rows, 2 for a token. */
#define MM_MR 2
#define MM_NT 4
#define QK(name) lkq_##name##_neon
#include "kern_blocking.h"

/* ---- elementwise ------------------------------------------------------------- */
INL void to_f32_impl(int dt, const unsigned char *s, float *d, size_t n)
{
	size_t esz = esz_of(dt), i = 0;
	for (; i + 8 <= n; i += 8)
		v8_st(d + i, ldw(dt, s + i * esz));
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
	v8f a = v8_set1(alpha);
	for (; i + 8 <= n; i += 8)
		v8_st(y + i, v8_fma(a, ldw(dt, s + i * esz), v8_ld(y + i)));
	if (i < n)
		st_part(y + i, v8_fma(a, ldw_part(dt, s + i * esz, n - i), ldx_part(y + i, n - i)), n - i);
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

INL v8f ldx_rem(const float *p, size_t rem)
{
	return rem >= 8 ? v8_ld(p) : ldx_part(p, rem);
}

/* Sum of x[i]^2: chunk j of 8 goes to accumulator j % 4 (the partial last
 * chunk zero-padded), then (a0+a1)+(a2+a3), then hsum8 (kern_avx2.c's). */
INL float sumsq(const float *x, size_t n)
{
	v8f a0 = v8_zero(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		v8f v0 = v8_ld(x + i), v1 = v8_ld(x + i + 8);
		v8f v2 = v8_ld(x + i + 16), v3 = v8_ld(x + i + 24);
		a0 = v8_fma(v0, v0, a0);
		a1 = v8_fma(v1, v1, a1);
		a2 = v8_fma(v2, v2, a2);
		a3 = v8_fma(v3, v3, a3);
	}
#define SUMSQ_STEP(A)                             \
	if (i < n) {                              \
		v8f v = ldx_rem(x + i, n - i);    \
		A = v8_fma(v, v, A);              \
		i += 8;                           \
	}
	SUMSQ_STEP(a0)
	SUMSQ_STEP(a1)
	SUMSQ_STEP(a2)
	SUMSQ_STEP(a3)
#undef SUMSQ_STEP
	return hsum8(v8_add(v8_add(a0, a1), v8_add(a2, a3)));
}

INL void rmsnorm_impl(int dt, float *out, const float *x, const unsigned char *w, size_t n, float eps)
{
	float mean = sumsq(x, n) / (float)n;
	v8f r = v8_set1(1.0f / sqrtf(mean + eps));
	size_t esz = esz_of(dt), i = 0;
	for (; i + 8 <= n; i += 8)
		v8_st(out + i, v8_mul(ldw(dt, w + i * esz), v8_mul(v8_ld(x + i), r)));
	if (i < n)
		st_part(out + i, v8_mul(ldw_part(dt, w + i * esz, n - i), v8_mul(ldx_part(x + i, n - i), r)),
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

/* ---- exp, GELU (4 lanes: element-wise, so the width does not matter) ---------- */
static const float gelu_small_c[LKG_SMALL_N] = LKG_SMALL_C;
static const float gelu_big_c[LKG_BIG_N] = LKG_BIG_C;
static const float exp_c[LKG_EXP_N] = LKG_EXP_C;

INL float32x4_t horner(const float *c, int n, float32x4_t s)
{
	float32x4_t p = vdupq_n_f32(c[0]);
	UNROLL for (int i = 1; i < n; i++)
		p = vfmaq_f32(vdupq_n_f32(c[i]), p, s);
	return p;
}

INL float32x4_t pow2i(int32x4_t n) /* 2^n for -126 <= n <= 127, by its exponent bits */
{
	return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(127)), 23));
}

/* e^y for y <= 0; y < LKG_EXP_MIN or NaN gives 0. */
INL float32x4_t exp_neg(float32x4_t y)
{
	uint32x4_t ok = vcgeq_f32(y, vdupq_n_f32(LKG_EXP_MIN)); /* false for NaN */
	y = vmaxnmq_f32(y, vdupq_n_f32(LKG_EXP_MIN));
	float32x4_t n = vrndnq_f32(vmulq_f32(y, vdupq_n_f32(LKG_LOG2E)));
	float32x4_t r = vfmsq_f32(y, n, vdupq_n_f32(LKG_LN2_HI));
	r = vfmsq_f32(r, n, vdupq_n_f32(LKG_LN2_LO));
	float32x4_t p = horner(exp_c, LKG_EXP_N, r);
	float32x4_t e = vmulq_f32(p, pow2i(vcvtq_s32_f32(n)));
	return vreinterpretq_f32_u32(vandq_u32(ok, vreinterpretq_u32_f32(e)));
}

/* e^y over the whole float range: 2^n applied as two factors 2^(n>>1) and
 * 2^(n - (n>>1)), both normal, so subnormal results are rounded once. */
INL float32x4_t exp_full(float32x4_t y)
{
	uint32x4_t over = vcgtq_f32(y, vdupq_n_f32(88.7228394f));
	uint32x4_t nan = vmvnq_u32(vceqq_f32(y, y));
	float32x4_t yc = vmaxnmq_f32(vminnmq_f32(y, vdupq_n_f32(89.0f)), vdupq_n_f32(-104.0f));
	float32x4_t n = vrndnq_f32(vmulq_f32(yc, vdupq_n_f32(LKG_LOG2E)));
	float32x4_t r = vfmsq_f32(yc, n, vdupq_n_f32(LKG_LN2_HI));
	r = vfmsq_f32(r, n, vdupq_n_f32(LKG_LN2_LO));
	float32x4_t p = horner(exp_c, LKG_EXP_N, r);
	int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
	float32x4_t res = vmulq_f32(vmulq_f32(p, pow2i(n1)), pow2i(n2));
	res = vbslq_f32(over, vdupq_n_f32(INFINITY), res);
	return vbslq_f32(nan, y, res);
}

static void v_exp(float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v8f v = v8_ld(x + i);
		v.lo = exp_full(v.lo);
		v.hi = exp_full(v.hi);
		v8_st(x + i, v);
	}
	if (i < n) {
		v8f v = ldx_part(x + i, n - i);
		v.lo = exp_full(v.lo);
		v.hi = exp_full(v.hi);
		st_part(x + i, v, n - i);
	}
}

INL float32x4_t gelu4(float32x4_t x)
{
	float32x4_t t = vabsq_f32(x);
	float32x4_t s = vmulq_f32(x, x);
	float32x4_t gs = vfmaq_f32(vmulq_f32(x, vdupq_n_f32(0.5f)), s, horner(gelu_small_c, LKG_SMALL_N, s));
	uint32x4_t small = vcltq_f32(t, vdupq_n_f32(LKG_SPLIT));
	if (vminvq_u32(small) == 0xffffffffu)
		return gs;
	float32x4_t tc = vminnmq_f32(t, vdupq_n_f32(LKG_CUT)); /* a quiet NaN -> CUT */
	float32x4_t rr = horner(gelu_big_c, LKG_BIG_N, tc);
	float32x4_t y = vfmaq_f32(rr, vmulq_f32(tc, vdupq_n_f32(-0.5f)), tc);
	float32x4_t q = exp_neg(y);
	uint32x4_t pos = vcgtq_f32(x, vdupq_n_f32(0.0f));
	float32x4_t gb = vbslq_f32(pos, vfmsq_f32(x, x, q), vmulq_f32(x, q));
	uint32x4_t far = vcgtq_f32(t, vdupq_n_f32(LKG_CUT));
	gb = vbslq_f32(far, vbslq_f32(pos, x, vdupq_n_f32(-0.0f)), gb);
	return vbslq_f32(small, gs, gb);
}

static void v_gelu_erf(float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v8f v = v8_ld(x + i);
		v.lo = gelu4(v.lo);
		v.hi = gelu4(v.hi);
		v8_st(x + i, v);
	}
	if (i < n) {
		v8f v = ldx_part(x + i, n - i);
		v.lo = gelu4(v.lo);
		v.hi = gelu4(v.hi);
		st_part(x + i, v, n - i);
	}
}

/* ---- softmax ------------------------------------------------------------------ */
INL v8f exp_neg8(v8f y)
{
	v8f r = {exp_neg(y.lo), exp_neg(y.hi)};
	return r;
}

INL v8f v8_sub(v8f a, v8f b)
{
	v8f r = {vsubq_f32(a.lo, b.lo), vsubq_f32(a.hi, b.hi)};
	return r;
}

static void v_softmax(float *x, size_t n)
{
	if (n == 0)
		return;
	float32x4_t vm = vdupq_n_f32(-INFINITY);
	uint32x4_t vnan = vdupq_n_u32(0);
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		float32x4_t v = vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)(const void *)(x + i)));
		vnan = vorrq_u32(vnan, vmvnq_u32(vceqq_f32(v, v)));
		vm = vmaxnmq_f32(vm, v);
	}
	float m = vmaxnmvq_f32(vm);
	int nan = vmaxvq_u32(vnan) != 0;
	for (; i < n; i++) {
		nan |= x[i] != x[i];
		m = x[i] > m ? x[i] : m;
	}
	v8f mv = v8_set1(m);
	v8f a0 = v8_zero(), a1 = a0, a2 = a0, a3 = a0;
	i = 0;
	for (; i + 32 <= n; i += 32) {
		v8f e0 = exp_neg8(v8_sub(v8_ld(x + i), mv));
		v8f e1 = exp_neg8(v8_sub(v8_ld(x + i + 8), mv));
		v8f e2 = exp_neg8(v8_sub(v8_ld(x + i + 16), mv));
		v8f e3 = exp_neg8(v8_sub(v8_ld(x + i + 24), mv));
		v8_st(x + i, e0);
		v8_st(x + i + 8, e1);
		v8_st(x + i + 16, e2);
		v8_st(x + i + 24, e3);
		a0 = v8_add(a0, e0);
		a1 = v8_add(a1, e1);
		a2 = v8_add(a2, e2);
		a3 = v8_add(a3, e3);
	}
	/* Padding lanes hold -inf, so they add exp(-inf) = 0. */
#define SOFTMAX_STEP(A)                                                              \
	if (i < n) {                                                                 \
		size_t k = n - i >= 8 ? 8 : n - i;                                   \
		float buf[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,          \
				-INFINITY, -INFINITY, -INFINITY, -INFINITY};         \
		memcpy(buf, x + i, k * sizeof(float));                               \
		v8f e = exp_neg8(v8_sub(v8_ld(buf), mv));                            \
		st_part(x + i, e, k);                                                \
		A = v8_add(A, e);                                                    \
		i += 8;                                                              \
	}
	SOFTMAX_STEP(a0)
	SOFTMAX_STEP(a1)
	SOFTMAX_STEP(a2)
	SOFTMAX_STEP(a3)
#undef SOFTMAX_STEP
	float s = hsum8(v8_add(v8_add(a0, a1), v8_add(a2, a3)));
	if (nan || m == INFINITY || m == -INFINITY)
		s = NAN;
	float32x4_t sv = vdupq_n_f32(s);
	for (i = 0; i + 4 <= n; i += 4) {
		uint8_t *p = (uint8_t *)(void *)(x + i);
		vst1q_u8(p, vreinterpretq_u8_f32(vdivq_f32(vreinterpretq_f32_u8(vld1q_u8(p)), sv)));
	}
	for (; i < n; i++)
		x[i] = x[i] / s;
}

/* ---- RoPE ------------------------------------------------------------------------ */
/* Products and sums rounded separately (no fma), as PyTorch and kernels.h. */
static void v_rope(float *v, size_t head_dim, const float *cos, const float *sin)
{
	size_t h = head_dim / 2, i = 0;
	for (; i + 4 <= h; i += 4) {
		float32x4_t a = vld1q_f32(v + i), b = vld1q_f32(v + h + i);
		float32x4_t p0 = vmulq_f32(a, vld1q_f32(cos + i));
		float32x4_t p1 = vmulq_f32(b, vld1q_f32(sin + i));
		float32x4_t p2 = vmulq_f32(b, vld1q_f32(cos + h + i));
		float32x4_t p3 = vmulq_f32(a, vld1q_f32(sin + h + i));
		vst1q_f32(v + i, vsubq_f32(p0, p1));
		vst1q_f32(v + h + i, vaddq_f32(p2, p3));
	}
	for (; i < h; i++) {
		float a = v[i], b = v[i + h];
		float p0 = a * cos[i], p1 = b * sin[i];
		float p2 = b * cos[i + h], p3 = a * sin[i + h];
		v[i] = p0 - p1;
		v[i + h] = p2 + p3;
	}
}

const lk_kernels lk_kernels_neon = {
	.name = "neon",
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
	.table_attn_scores = lk_table_attn_scores_neon,
	.table_attn_values = lk_table_attn_values_neon,
	.attn_values = lk_attn_values_neon,
};
