/*
 * kern_quant_scalar.c - portable C11 kernels of the block-quantized types:
 * the reference the SIMD ones are tested against (bitwise for the dense
 * Q8_0/Q4_0 kernels, whose arithmetic kernels.h fixes for every ISA), and the
 * fallback on CPUs without AVX2.
 *
 * Dense: the activation is quantized by act_block(), the rule of kernels.h;
 * each block's integer dot is exact in int32 and the float32 part is one
 * fmaf() per block in block order (fmaf is exact by definition, so any libm
 * gives the same bits).
 *
 * Tables: values are decoded 8 at a time (dec8) and go through the order of
 * kern_scalar.c's float kernels - 8 lane sums, lane l taking values
 * off + l, off + l + 8, ..., combined as reduce8 - so each result equals the
 * F32 kernel on the decoded values bitwise.
 */
#include "kern_quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "bytes.h"
#include "numeric.h"

#define INL static inline __attribute__((always_inline))

/* ---- the activation rule (kernels.h) ------------------------------------------ */

/* The nearest integer to v, ties to even, for |v| < 2^30, whatever the
 * rounding mode: v - trunc(v) is exact. */
INL int32_t round_even(float v)
{
	int32_t t = (int32_t)v;
	float f = v - (float)t;
	if (f > 0.5f || (f == 0.5f && (t & 1)))
		return t + 1;
	if (f < -0.5f || (f == -0.5f && (t & 1)))
		return t - 1;
	return t;
}

/* Quantizes x[0..32) to q and returns dx. */
static float act_block(const float *x, int8_t *q)
{
	float amax = 0.0f;
	int bad = 0;
	for (int j = 0; j < 32; j++) {
		float a = fabsf(x[j]);
		if (!(a <= FLT_MAX))
			bad = 1; /* NaN or infinite */
		else if (a > amax)
			amax = a;
	}
	if (bad || amax == 0.0f) {
		memset(q, 0, 32);
		return bad ? NAN : 0.0f;
	}
	float d = amax / 127.0f, id = 127.0f / amax;
	if (!(id <= FLT_MAX))
		id = 0.0f;
	for (int j = 0; j < 32; j++)
		q[j] = (int8_t)round_even(x[j] * id);
	return d;
}

/* ---- dense weights --------------------------------------------------------------- */

/* y[r] continues its chain over blocks [k0, k0 + nb) of every row (first:
 * from +0.0) with the activation's blocks q[0..32 nb), dx[0..nb). */
static void dense_pass(int kdt, const unsigned char *W, size_t ldb, size_t rows, size_t k0, size_t nb,
		       const int8_t *q, const float *dx, float *y, int first)
{
	const size_t bb = lkq_block_bytes(kdt);
	for (size_t r = 0; r < rows; r++) {
		const unsigned char *w = W + r * ldb + k0 * bb;
		float acc = first ? 0.0f : y[r];
		for (size_t k = 0; k < nb; k++, w += bb) {
			const int8_t *qk = q + 32 * k;
			const unsigned char *c = w + 2;
			int32_t isum = 0;
			if (kdt == LQ_DTYPE_Q8_0) {
				for (int j = 0; j < 32; j++)
					isum += (int32_t)(int8_t)c[j] * qk[j];
			} else {
				for (int j = 0; j < 16; j++)
					isum += ((int32_t)(c[j] & 15) - 8) * qk[j] +
						((int32_t)(c[j] >> 4) - 8) * qk[j + 16];
			}
			float s = lutdb_f16_to_f32(rd16(w)) * dx[k];
			acc = fmaf(s, (float)isum, acc);
		}
		y[r] = acc;
	}
}

void lkq_matvec_scalar(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *x,
		       float *y)
{
	lkq_check_dense("lk_matvec", kdt, ld, cols);
	const unsigned char *w = W;
	const size_t ldb = ld / 32 * lkq_block_bytes(kdt), nb = cols / 32;
	int8_t q[LKQ_CHUNK_BLOCKS * 32];
	float dx[LKQ_CHUNK_BLOCKS];
	if (nb == 0) {
		for (size_t r = 0; r < rows; r++)
			y[r] = 0.0f;
		return;
	}
	for (size_t k0 = 0; k0 < nb; k0 += LKQ_CHUNK_BLOCKS) {
		size_t n = nb - k0 < LKQ_CHUNK_BLOCKS ? nb - k0 : LKQ_CHUNK_BLOCKS;
		for (size_t k = 0; k < n; k++)
			dx[k] = act_block(x + 32 * (k0 + k), q + 32 * k);
		dense_pass(kdt, w, ldb, rows, k0, n, q, dx, y, k0 == 0);
	}
}

/* T matvecs: the portable path has nothing to share between tokens that
 * would be worth the bookkeeping. */
void lkq_matmul_scalar(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *X,
		       size_t T, size_t ldx, float *Y, size_t ldy)
{
	lkq_check_dense("lk_matmul", kdt, ld, cols);
	for (size_t t = 0; t < T; t++)
		lkq_matvec_scalar(kdt, W, ld, rows, cols, X + t * ldx, Y + t * ldy);
}

/* ---- table vectors --------------------------------------------------------------- */

/* Values e .. e + 7 (e a multiple of 8, so all in one block) of the run at p. */
static void dec8(int kdt, const unsigned char *p, size_t e, float *o)
{
	const uint32_t B = lkq_block(kdt);
	const unsigned char *blk = p + e / B * lkq_block_bytes(kdt), *c = blk + 2;
	const size_t j = e % B;
	const float d = lutdb_f16_to_f32(rd16(blk));
	switch (lkq_type(kdt)) {
	case LQ_DTYPE_Q8_0:
		for (int i = 0; i < 8; i++)
			o[i] = (float)(int8_t)c[j + (size_t)i] * d;
		break;
	case LQ_DTYPE_Q4_0: {
		const unsigned sh = j >= 16 ? 4 : 0;
		for (int i = 0; i < 8; i++)
			o[i] = (float)((int)((c[(j & 15) + (size_t)i] >> sh) & 15u) - 8) * d;
		break;
	}
	case LQ_DTYPE_NF4:
		for (int i = 0; i < 8; i += 2) {
			unsigned b = c[(j + (size_t)i) / 2];
			o[i] = lq_nf4_code[b & 15u] * d;
			o[i + 1] = lq_nf4_code[b >> 4] * d;
		}
		break;
	default: { /* NF3: 8 values in a 24-bit word */
		const unsigned char *g = c + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		for (int i = 0; i < 8; i++)
			o[i] = lq_nf3_code[(w >> (3 * i)) & 7u] * d;
		break;
	}
	}
}

/* kern_scalar.c's reduce8 */
INL float reduce8(const float a[8])
{
	float b0 = a[0] + a[4], b1 = a[1] + a[5], b2 = a[2] + a[6], b3 = a[3] + a[7];
	return (b0 + b2) + (b1 + b3);
}

float lkq_table_dot_scalar(int kdt, const void *a, size_t off, const float *b, size_t n)
{
	lkq_check_table("lk_table_dot", kdt, off);
	float acc[8] = {0}, v[8];
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		dec8(kdt, a, off + i, v);
		for (int l = 0; l < 8; l++)
			acc[l] += v[l] * b[i + (size_t)l];
	}
	if (i < n) {
		dec8(kdt, a, off + i, v);
		for (size_t l = 0; i + l < n; l++)
			acc[l] += v[l] * b[i + l];
	}
	return reduce8(acc);
}

void lkq_table_matvec_scalar(int kdt, const void *W, size_t ldb, size_t off, size_t rows, size_t n, const float *x,
			     float *y)
{
	for (size_t r = 0; r < rows; r++)
		y[r] = lkq_table_dot_scalar(kdt, (const unsigned char *)W + r * ldb, off, x, n);
}

void lkq_table_axpy_scalar(int kdt, float alpha, const void *x, size_t off, float *y, size_t n)
{
	lkq_check_table("lk_table_axpy", kdt, off);
	float v[8];
	for (size_t i = 0; i < n; i += 8) {
		dec8(kdt, x, off + i, v);
		for (size_t l = 0; l < 8 && i + l < n; l++)
			y[i + l] += alpha * v[l];
	}
}

void lkq_to_f32_scalar(int kdt, const void *src, float *dst, size_t n)
{
	lkq_check_table("lk_to_f32", kdt, 0);
	float v[8];
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		dec8(kdt, src, i, dst + i);
	if (i < n) {
		dec8(kdt, src, i, v);
		memcpy(dst + i, v, (n - i) * sizeof(float));
	}
}
