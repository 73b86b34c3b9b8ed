/*
 * kern_scalar.c - portable C11 kernels (the reference the SIMD tables are
 * tested against, and the fallback on CPUs without AVX2).
 *
 * Reduction order (fixed, see kernels.h): dot products keep 8 lane sums,
 * lane l taking elements c with c % 8 == l in increasing c, combined as
 * ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).  Products and sums are rounded
 * separately (ISO C: no contraction).  Weights are loaded with memcpy, so any
 * alignment is fine.
 */
#include "kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern_quant.h"
#include "numeric.h"

#define INL static inline __attribute__((always_inline))

/* ---- element loads ----------------------------------------------------------
 * F16 and BF16 go through format/numeric's conversions, the library's one
 * copy of them (torch's NaN rule included), so lk_to_f32 gives the bits
 * lutdb_convert gives. */
INL float ld_f32(const unsigned char *p, size_t i)
{
	float f;
	memcpy(&f, p + 4 * i, sizeof f);
	return f;
}

INL float ld_f16(const unsigned char *p, size_t i)
{
	uint16_t h;
	memcpy(&h, p + 2 * i, sizeof h);
	return lutdb_f16_to_f32(h);
}

INL float ld_bf16(const unsigned char *p, size_t i)
{
	uint16_t h;
	memcpy(&h, p + 2 * i, sizeof h);
	return lutdb_bf16_to_f32(h);
}

INL float reduce8(const float a[8])
{
	float b0 = a[0] + a[4], b1 = a[1] + a[5], b2 = a[2] + a[6], b3 = a[3] + a[7];
	return (b0 + b2) + (b1 + b3);
}

/* NR rows (NR a compile-time constant after inlining) of a dot product
 * sharing the x loads.  Each row's arithmetic is independent of NR. */
#define DEF_DOTN(NAME, LOAD)                                                               \
	INL void NAME(const unsigned char *W, size_t ldb, int nr, size_t cols, const float *x, \
		      float *out, size_t out_stride)                                           \
	{                                                                                  \
		float acc[4][8];                                                           \
		for (int r = 0; r < nr; r++)                                               \
			for (int l = 0; l < 8; l++)                                        \
				acc[r][l] = 0.0f;                                          \
		size_t c = 0;                                                              \
		for (; c + 8 <= cols; c += 8)                                              \
			for (int r = 0; r < nr; r++)                                       \
				for (int l = 0; l < 8; l++)                                \
					acc[r][l] += LOAD(W + (size_t)r * ldb, c + l) * x[c + l]; \
		for (size_t l = 0; c + l < cols; l++)                                      \
			for (int r = 0; r < nr; r++)                                       \
				acc[r][l] += LOAD(W + (size_t)r * ldb, c + l) * x[c + l];  \
		for (int r = 0; r < nr; r++)                                               \
			out[(size_t)r * out_stride] = reduce8(acc[r]);                     \
	}

DEF_DOTN(dotn_f32, ld_f32)
DEF_DOTN(dotn_f16, ld_f16)
DEF_DOTN(dotn_bf16, ld_bf16)

#define DEF_MATVEC(NAME, DOTN, ESZ)                                                          \
	static void NAME(const void *W, size_t ld, size_t rows, size_t cols, const float *x,   \
			 float *y)                                                             \
	{                                                                                    \
		const unsigned char *w = W;                                                  \
		size_t ldb = ld * (ESZ), r = 0;                                              \
		for (; r + 4 <= rows; r += 4)                                                \
			DOTN(w + r * ldb, ldb, 4, cols, x, y + r, 1);                        \
		for (; r < rows; r++)                                                        \
			DOTN(w + r * ldb, ldb, 1, cols, x, y + r, 1);                        \
	}

DEF_MATVEC(matvec_f32, dotn_f32, 4)
DEF_MATVEC(matvec_f16, dotn_f16, 2)
DEF_MATVEC(matvec_bf16, dotn_bf16, 2)

static void s_matvec(int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		     const float *x, float *y)
{
	switch (dtype) {
	case LUTDB_DTYPE_F32: matvec_f32(W, ld, rows, cols, x, y); break;
	case LUTDB_DTYPE_F16: matvec_f16(W, ld, rows, cols, x, y); break;
	case LUTDB_DTYPE_BF16: matvec_bf16(W, ld, rows, cols, x, y); break;
	default: lkq_matvec_scalar(dtype, W, ld, rows, cols, x, y); /* checks dtype */
	}
}

static float s_dot(int dtype, const void *a, const float *b, size_t n)
{
	float r = 0.0f;
	s_matvec(dtype, a, n, 1, n, b, &r);
	return r;
}

static void s_to_f32(int dtype, const void *src, float *dst, size_t n)
{
	const unsigned char *s = src;
	switch (dtype) {
	case LUTDB_DTYPE_F32: memmove(dst, src, n * sizeof(float)); break;
	case LUTDB_DTYPE_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = ld_f16(s, i);
		break;
	case LUTDB_DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			dst[i] = ld_bf16(s, i);
		break;
	default: lkq_to_f32_scalar(dtype, src, dst, n);
	}
}

/* Converts 4 rows at a time to float32 once and reuses them for every token.
 * The dot of a converted row is bitwise the dot of the original row (the
 * conversion is exact and the order the same), so this equals s_matvec. */
static void s_matmul(int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		     const float *X, size_t T, size_t ldx, float *Y, size_t ldy)
{
	if (lkq_valid(dtype)) {
		lkq_matmul_scalar(dtype, W, ld, rows, cols, X, T, ldx, Y, ldy);
		return;
	}
	if (dtype != LUTDB_DTYPE_F32 && dtype != LUTDB_DTYPE_F16 && dtype != LUTDB_DTYPE_BF16)
		lk_bad_dtype("lk_matmul", dtype);
	if (rows == 0 || T == 0)
		return;
	size_t esz = dtype == LUTDB_DTYPE_F32 ? 4 : 2;
	const unsigned char *w = W;
	float *buf = NULL;
	if (dtype != LUTDB_DTYPE_F32 && cols > 0)
		buf = malloc(4 * cols * sizeof(float));
	if (dtype != LUTDB_DTYPE_F32 && !buf) {
		/* Out of memory: same results, converting on the fly. */
		for (size_t t = 0; t < T; t++)
			s_matvec(dtype, W, ld, rows, cols, X + t * ldx, Y + t * ldy);
		return;
	}
	size_t r = 0;
	for (; r < rows; r += 4) {
		int nr = rows - r >= 4 ? 4 : (int)(rows - r);
		const unsigned char *panel;
		size_t pld;
		if (buf) {
			for (int i = 0; i < nr; i++)
				s_to_f32(dtype, w + (r + (size_t)i) * ld * esz, buf + (size_t)i * cols,
					 cols);
			panel = (const unsigned char *)buf;
			pld = cols * sizeof(float);
		} else {
			panel = w + r * ld * esz;
			pld = ld * sizeof(float);
		}
		for (size_t t = 0; t < T; t++) {
			if (nr == 4)
				dotn_f32(panel, pld, 4, cols, X + t * ldx, Y + t * ldy + r, 1);
			else
				for (int i = 0; i < nr; i++)
					dotn_f32(panel + (size_t)i * pld, pld, 1, cols, X + t * ldx,
						 Y + t * ldy + r + (size_t)i, 1);
		}
	}
	free(buf);
}

static void s_axpy(int dtype, float alpha, const void *x, float *y, size_t n)
{
	const unsigned char *s = x;
	switch (dtype) {
	case LUTDB_DTYPE_F32:
		for (size_t i = 0; i < n; i++)
			y[i] += alpha * ld_f32(s, i);
		break;
	case LUTDB_DTYPE_F16:
		for (size_t i = 0; i < n; i++)
			y[i] += alpha * ld_f16(s, i);
		break;
	case LUTDB_DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			y[i] += alpha * ld_bf16(s, i);
		break;
	default: lkq_table_axpy_scalar(dtype, alpha, x, 0, y, n);
	}
}

static float s_table_dot(int kdt, const void *a, size_t off, const float *b, size_t n)
{
	if (lkq_valid(kdt))
		return lkq_table_dot_scalar(kdt, a, off, b, n);
	return s_dot(kdt, (const unsigned char *)a + off * (kdt == LUTDB_DTYPE_F32 ? 4 : 2), b, n);
}

/* Row bytes of a table matrix: ld must be whole blocks. */
static size_t table_ldb(int kdt, size_t ld)
{
	size_t ldb = lk_dt_bytes(kdt, ld);
	if (ldb == 0 && ld != 0)
		lk_bad_dtype("lk_table_matvec (ld not whole blocks)", kdt);
	return ldb;
}

static void s_table_matvec(int kdt, const void *W, size_t ld, size_t off, size_t rows, size_t n,
			   const float *x, float *y)
{
	if (lkq_valid(kdt))
		lkq_table_matvec_scalar(kdt, W, table_ldb(kdt, ld), off, rows, n, x, y);
	else
		s_matvec(kdt, (const unsigned char *)W + off * (kdt == LUTDB_DTYPE_F32 ? 4 : 2), ld, rows, n, x, y);
}

static void s_table_axpy(int kdt, float alpha, const void *x, size_t off, float *y, size_t n)
{
	if (lkq_valid(kdt))
		lkq_table_axpy_scalar(kdt, alpha, x, off, y, n);
	else
		s_axpy(kdt, alpha, (const unsigned char *)x + off * (kdt == LUTDB_DTYPE_F32 ? 4 : 2), y, n);
}

static void s_rmsnorm(float *out, const float *x, int wdtype, const void *w, size_t n, float eps)
{
	if (wdtype != LUTDB_DTYPE_F32 && wdtype != LUTDB_DTYPE_F16 && wdtype != LUTDB_DTYPE_BF16)
		lk_bad_dtype("lk_rmsnorm", wdtype);
	if (n == 0)
		return;
	float acc[8] = {0};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++)
			acc[l] += x[i + (size_t)l] * x[i + (size_t)l];
	for (size_t l = 0; i + l < n; l++)
		acc[l] += x[i + l] * x[i + l];
	float mean = reduce8(acc) / (float)n;
	float r = 1.0f / sqrtf(mean + eps);
	const unsigned char *s = w;
	for (i = 0; i < n; i++) {
		float wv = wdtype == LUTDB_DTYPE_F32 ? ld_f32(s, i)
			   : wdtype == LUTDB_DTYPE_F16 ? ld_f16(s, i)
						       : ld_bf16(s, i);
		out[i] = wv * (x[i] * r);
	}
}

/* ---- exact-erf GELU ----------------------------------------------------------
 * Same algorithm as the SIMD versions (constants LKG_* in kernels.h), with plain
 * multiply-adds. */
static const float lkg_small_c[LKG_SMALL_N] = LKG_SMALL_C;
static const float lkg_big_c[LKG_BIG_N] = LKG_BIG_C;
static const float lkg_exp_c[LKG_EXP_N] = LKG_EXP_C;

INL float poly_eval(const float *c, int n, float s)
{
	float p = c[0];
	for (int i = 1; i < n; i++)
		p = p * s + c[i];
	return p;
}

/* e^y for y <= 0; results below FLT_MIN are flushed to 0. */
INL float exp_neg(float y)
{
	if (!(y >= LKG_EXP_MIN))
		return y != y ? y : 0.0f;
	float n = rintf(y * LKG_LOG2E);
	float r = y - n * LKG_LN2_HI;
	r = r - n * LKG_LN2_LO;
	float p = poly_eval(lkg_exp_c, LKG_EXP_N, r);
	return p * lutdb_bits_f32((uint32_t)((int32_t)n + 127) << 23);
}

INL float gelu1(float x)
{
	float t = fabsf(x);
	if (t < LKG_SPLIT) {
		float s = x * x;
		float p = poly_eval(lkg_small_c, LKG_SMALL_N, s);
		return s * p + 0.5f * x;
	}
	if (!(t <= LKG_CUT)) /* beyond the cut, or NaN */
		return x != x ? x : (x > 0.0f ? x : -0.0f);
	float rr = poly_eval(lkg_big_c, LKG_BIG_N, t);
	float q = exp_neg((-0.5f * t) * t + rr); /* Phi(-|x|) */
	return x > 0.0f ? x - x * q : x * q;
}

static void s_gelu_erf(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = gelu1(x[i]);
}

static void s_softmax(float *x, size_t n)
{
	if (n == 0)
		return;
	float m = -INFINITY;
	int nan = 0;
	for (size_t i = 0; i < n; i++) {
		if (x[i] > m)
			m = x[i];
		nan |= x[i] != x[i];
	}
	float acc[8] = {0};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++) {
			float e = exp_neg(x[i + (size_t)l] - m);
			x[i + (size_t)l] = e;
			acc[l] += e;
		}
	for (size_t l = 0; i + l < n; l++) {
		float e = exp_neg(x[i + l] - m);
		x[i + l] = e;
		acc[l] += e;
	}
	float s = reduce8(acc);
	if (nan || m == INFINITY || m == -INFINITY)
		s = NAN;
	for (i = 0; i < n; i++)
		x[i] = x[i] / s;
}

static void s_exp(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = expf(x[i]);
}

static void s_rope(float *v, size_t head_dim, const float *cos, const float *sin)
{
	size_t h = head_dim / 2;
	for (size_t i = 0; i < h; i++) {
		float a = v[i], b = v[i + h];
		float p0 = a * cos[i], p1 = b * sin[i];
		float p2 = b * cos[i + h], p3 = a * sin[i + h];
		v[i] = p0 - p1;
		v[i + h] = p2 + p3;
	}
}

const lk_kernels lk_kernels_scalar = {
	.name = "scalar",
	.matvec = s_matvec,
	.matmul = s_matmul,
	.dot = s_dot,
	.axpy = s_axpy,
	.to_f32 = s_to_f32,
	.rmsnorm = s_rmsnorm,
	.gelu_erf = s_gelu_erf,
	.softmax = s_softmax,
	.exp = s_exp,
	.rope = s_rope,
	.table_dot = s_table_dot,
	.table_axpy = s_table_axpy,
	.table_matvec = s_table_matvec,
	.table_attn_scores = lk_table_attn_scores_scalar,
	.table_attn_values = lk_table_attn_values_scalar,
	.attn_values = lk_attn_values_scalar,
};
