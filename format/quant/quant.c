/*
 * quant.c - Q8_0, Q4_0, NF4 and NF3: quantize and dequantize, scalar C11.
 *
 * The rules are spec/FORMAT.md section 10, step by step; the comments below
 * say which choices are ggml's and which are ours.  Each float32 operation is
 * written as its own statement and rounded on its own: that needs float
 * evaluation in float (checked below) and no contraction of a*b+c into an FMA
 * (-ffp-contract=off for this folder; clang also honours the pragma).  Then
 * the bytes do not depend on the compiler, its flags or the CPU.
 *
 * Quantizers see trusted floats but refuse NaN, infinities and scales that
 * overflow F16 (LUTDB_ERANGE).  Dequantizers see a file's bytes: every
 * pattern decodes except a non-finite scale (LUTDB_ECORRUPT), and all reads
 * stay inside the n values' blocks.
 */
#include "quant.h"

#include "bytes.h"
#include "fail.h"
#include "numeric.h"
#include "quant_steps.h"
#include "cpu.h"

#include <float.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "quant.c needs float expressions evaluated in float (FLT_EVAL_METHOD 0)"
#endif
#if defined(__FAST_MATH__)
#error "quant.c must not be built with -ffast-math: the spec fixes every rounding"
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- code values ---------------------------------------------------------- */

/* QLoRA / bitsandbytes NF4, float32. */
const float lq_nf4_code[16] = {
	-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
	-0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
	0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
	0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* NF3: bitsandbytes' NF4 construction for 3 bits (spec 10.4). */
const float lq_nf3_code[8] = {
	-1.0f, -0.5350227952003479f, -0.24693147838115692f, 0.0f,
	0.1833374798297882f, 0.38199394941329956f, 0.62298583984375f, 1.0f,
};

/* Thresholds of the nearest-code rule (float32 distances, ties to the lower
 * index), exact, in hex: within 3e-8 of the midpoints, never above them. */
const float lq_nf4_split[15] = {
	-0x1.b239b2p-1f, -0x1.38a4e2p-1f, -0x1.d70900p-2f, -0x1.5bd4eep-2f, -0x1.e079dap-3f,
	-0x1.1a7178p-3f, -0x1.74f0e2p-5f, 0x1.45f5fep-5f, 0x1.ec90c4p-4f, 0x1.a0cfc0p-3f,
	0x1.2b05a8p-2f, 0x1.8ea7f2p-2f, 0x1.00da06p-1f, 0x1.491b5ep-1f, 0x1.b913b2p-1f,
};

const float lq_nf3_split[7] = {
	-0x1.88f742p-1f, -0x1.905c50p-2f, -0x1.f9b736p-4f, 0x1.7779a4p-4f,
	0x1.21731ep-2f, 0x1.01465ap-1f, 0x1.9f7c00p-1f,
};

/* ---- names and sizes ------------------------------------------------------- */

int lq_is_quant(int dtype)
{
	return dtype >= LQ_DTYPE_Q8_0 && dtype <= LQ_DTYPE_NF3;
}

const char *lq_name(int dtype)
{
	switch (dtype) {
	case LQ_DTYPE_Q8_0: return "Q8_0";
	case LQ_DTYPE_Q4_0: return "Q4_0";
	case LQ_DTYPE_NF4: return "NF4";
	case LQ_DTYPE_NF3: return "NF3";
	}
	return NULL;
}

int lq_from_name(const char *name)
{
	int t;

	if (name == NULL)
		return 0;
	for (t = LQ_DTYPE_Q8_0; t <= LQ_DTYPE_NF3; t++)
		if (strcmp(name, lq_name(t)) == 0)
			return t;
	return 0;
}

uint32_t lq_default_block(int dtype)
{
	if (dtype == LQ_DTYPE_Q8_0 || dtype == LQ_DTYPE_Q4_0)
		return LQ_BLOCK_GGML;
	if (dtype == LQ_DTYPE_NF4 || dtype == LQ_DTYPE_NF3)
		return LQ_BLOCK_DEFAULT_NF;
	return 0;
}

int lq_check_block(int dtype, uint32_t block)
{
	if (!lq_is_quant(dtype))
		return lutdb_fail(LUTDB_EINVAL, "dtype %d is not a block-quantized type", dtype);
	if (dtype == LQ_DTYPE_Q8_0 || dtype == LQ_DTYPE_Q4_0) {
		if (block != LQ_BLOCK_GGML)
			return lutdb_fail(LUTDB_EINVAL, "%s: block %u, only %d is allowed", lq_name(dtype), block,
					  LQ_BLOCK_GGML);
		return LUTDB_OK;
	}
	if (block == 0 || block % 32 != 0)
		return lutdb_fail(LUTDB_EINVAL, "%s: block %u is not a multiple of 32", lq_name(dtype), block);
	if (block > LQ_BLOCK_MAX)
		return lutdb_fail(LUTDB_EINVAL, "%s: block %u exceeds the maximum %d", lq_name(dtype), block,
				  LQ_BLOCK_MAX);
	return LUTDB_OK;
}

int lq_check_len(int dtype, uint32_t block, uint64_t len, const char *dim)
{
	int rc = lq_check_block(dtype, block);

	if (rc != LUTDB_OK)
		return rc;
	if (dim == NULL)
		dim = "vector length";
	if (len == 0 || len % block != 0) {
		if (dtype == LQ_DTYPE_Q8_0 || dtype == LQ_DTYPE_Q4_0)
			return lutdb_fail(LUTDB_EINVAL, "%s needs vector lengths that are multiples of %u: %s = %llu",
					  lq_name(dtype), block, dim, (unsigned long long)len);
		return lutdb_fail(LUTDB_EINVAL, "%s block %u does not divide %s = %llu", lq_name(dtype), block, dim,
				  (unsigned long long)len);
	}
	return LUTDB_OK;
}

uint64_t lq_block_bytes(int dtype, uint32_t block)
{
	if (!lq_is_quant(dtype) || block == 0 || block % 32 != 0 || block > LQ_BLOCK_MAX)
		return 0;
	switch (dtype) {
	case LQ_DTYPE_Q8_0: return block == LQ_BLOCK_GGML ? 2u + LQ_BLOCK_GGML : 0;
	case LQ_DTYPE_Q4_0: return block == LQ_BLOCK_GGML ? 2u + LQ_BLOCK_GGML / 2 : 0;
	case LQ_DTYPE_NF4: return 2u + (uint64_t)block / 2;
	}
	return 2u + (uint64_t)block * 3 / 8; /* NF3 */
}

uint64_t lq_bytes(int dtype, uint32_t block, uint64_t n)
{
	uint64_t bb = lq_block_bytes(dtype, block), nb;

	if (bb == 0 || n == 0 || n % block != 0)
		return 0;
	nb = n / block;
	if (nb > UINT64_MAX / bb)
		return 0;
	return nb * bb;
}

/* ---- float32 helpers ------------------------------------------------------- */

/* lq__fbits, lq__finite32, lq__recip_or_zero: quant_steps.h, shared with
 * the vector paths. */
static inline float abs32(float f)
{
	uint32_t u = lq__fbits(f) & 0x7fffffffu;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* C's roundf (halfway cases away from zero) for |v| < 2^31, without libm:
 * v - trunc(v) is exact in float32, so the test on it is exact. */
static inline int round_away(float v)
{
	int t = (int)v;
	float f = v - (float)t;

	return t + (f >= 0.5f) - (f <= -0.5f); /* branch-free: the halves are data */
}

/* Refuses a non-finite value of block k of x[0..block). */
static int check_finite(int dtype, const float *x, uint32_t block, size_t k)
{
	uint32_t j;

	for (j = 0; j < block; j++)
		if (!lq__finite32(x[j]))
			return lutdb_fail(LUTDB_ERANGE, "%s: value %zu (block %zu) is %s", lq_name(dtype),
					  k * block + j, k, x[j] != x[j] ? "NaN" : "infinite");
	return LUTDB_OK;
}

/* F16 of a block's float32 scale; refused when it rounds to infinity. */
static int scale_f16(int dtype, float s, size_t k, const char *what, uint16_t *out)
{
	uint16_t h = lutdb_f32_to_f16(s);

	if ((h & 0x7fffu) == 0x7c00u)
		return lutdb_fail(LUTDB_ERANGE, "%s: block %zu: scale %s = %.9g overflows F16 (limit 65504)",
				  lq_name(dtype), k, what, (double)s);
	*out = h;
	return LUTDB_OK;
}

/* ---- quantize ----------------------------------------------------------------
 * Each takes one block of x and writes its bytes at out. */

static int q8_0_block(const float *x, size_t k, uint8_t *out)
{
	float amax = 0.0f, d, id;
	uint16_t h = 0;
	int j, rc;

	for (j = 0; j < 32; j++) {
		float a = abs32(x[j]);

		if (a > amax)
			amax = a;
	}
	d = amax / 127.0f;
	if ((rc = scale_f16(LQ_DTYPE_Q8_0, d, k, "amax/127", &h)) != LUTDB_OK)
		return rc;
	id = lq__recip_or_zero(d); /* from the float32 d, not F16(d): ggml's choice */
	wr16(out, h);
	for (j = 0; j < 32; j++) {
		float v = x[j] * id;

		/* |v| <= 127 (a few ulps of rounding stay below 127.5) */
		out[2 + j] = (uint8_t)(int8_t)round_away(v);
	}
	return LUTDB_OK;
}

static int q4_0_block(const float *x, size_t k, uint8_t *out)
{
	float amax = 0.0f, max = 0.0f, d, id;
	uint16_t h = 0;
	int j, rc;

	/* The value of largest magnitude, the first one on ties; max stays +0.0
	 * for a block of zeros (of either sign), so d is then -0.0 (F16 0x8000). */
	for (j = 0; j < 32; j++) {
		float a = abs32(x[j]);

		if (amax < a) {
			amax = a;
			max = x[j];
		}
	}
	d = max / -8.0f;
	if ((rc = scale_f16(LQ_DTYPE_Q4_0, d, k, "max/-8", &h)) != LUTDB_OK)
		return rc;
	id = lq__recip_or_zero(d);
	wr16(out, h);
	for (j = 0; j < 16; j++) {
		float v0 = x[j] * id, v1 = x[j + 16] * id;
		float w0 = v0 + 8.5f, w1 = v1 + 8.5f;
		/* (int8_t)(w) truncates toward zero; w is in [0.49, 16.51] */
		int q0 = (int)w0, q1 = (int)w1;

		if (q0 > 15)
			q0 = 15;
		if (q1 > 15)
			q1 = 15;
		out[2 + j] = (uint8_t)(q0 | q1 << 4);
	}
	return LUTDB_OK;
}

/* Index of the code nearest to z: the number of thresholds below z, found by
 * a branch-free binary search over the sorted thresholds. */
static inline unsigned nf4_index(float z)
{
	const float *t = lq_nf4_split;
	unsigned i = z > t[7] ? 8u : 0u;

	i += z > t[i + 3] ? 4u : 0u;
	i += z > t[i + 1] ? 2u : 0u;
	i += z > t[i] ? 1u : 0u;
	return i;
}

static inline unsigned nf3_index(float z)
{
	const float *t = lq_nf3_split;
	unsigned i = z > t[3] ? 4u : 0u;

	i += z > t[i + 1] ? 2u : 0u;
	i += z > t[i] ? 1u : 0u;
	return i;
}

/* NF scale: F16 of max|x|, and the float32 divisor (0 means z = 0). */
static int nf_scale(int dtype, const float *x, uint32_t block, size_t k, uint16_t *h, float *sf)
{
	float s = 0.0f;
	uint32_t j;
	int rc;

	for (j = 0; j < block; j++) {
		float a = abs32(x[j]);

		if (a > s)
			s = a;
	}
	if ((rc = scale_f16(dtype, s, k, "max|x|", h)) != LUTDB_OK)
		return rc;
	*sf = lutdb_f16_to_f32(*h);
	return LUTDB_OK;
}

static inline float nf_z(float x, float sf)
{
	/* a float32 division by the F16 scale; 0 when that scale is 0 (max|x|
	 * at most 2^-25) */
	return sf != 0.0f ? x / sf : 0.0f;
}

static int nf4_block(const float *x, uint32_t block, size_t k, uint8_t *out)
{
	uint16_t h = 0;
	float sf;
	uint32_t j;
	int rc;

	if ((rc = nf_scale(LQ_DTYPE_NF4, x, block, k, &h, &sf)) != LUTDB_OK)
		return rc;
	wr16(out, h);
	for (j = 0; j < block; j += 2) {
		unsigned lo = nf4_index(nf_z(x[j], sf));
		unsigned hi = nf4_index(nf_z(x[j + 1], sf));

		out[2 + j / 2] = (uint8_t)(lo | hi << 4);
	}
	return LUTDB_OK;
}

static int nf3_block(const float *x, uint32_t block, size_t k, uint8_t *out)
{
	uint16_t h = 0;
	float sf;
	uint32_t j;
	int rc;

	if ((rc = nf_scale(LQ_DTYPE_NF3, x, block, k, &h, &sf)) != LUTDB_OK)
		return rc;
	wr16(out, h);
	out += 2;
	for (j = 0; j < block; j += 8) {
		uint32_t w = 0;
		unsigned i;

		/* value i of the group in bits 3i..3i+2 of a 24-bit LE word */
		for (i = 0; i < 8; i++)
			w |= (uint32_t)nf3_index(nf_z(x[j + i], sf)) << (3 * i);
		out[0] = (uint8_t)w;
		out[1] = (uint8_t)(w >> 8);
		out[2] = (uint8_t)(w >> 16);
		out += 3;
	}
	return LUTDB_OK;
}

/* Shared argument checks of lq_quantize and lq_dequantize. */
static int check_args(const char *fn, int dtype, uint32_t block, size_t n, const void *in, const void *out)
{
	int rc = lq_check_block(dtype, block);

	if (rc != LUTDB_OK)
		return lutdb_fail_prefix(rc, "%s", fn);
	if (n == 0 || n % block != 0)
		return lutdb_fail(LUTDB_EINVAL, "%s: %s: %zu values is not a positive multiple of the block %u", fn,
				  lq_name(dtype), n, block);
	if (in == NULL || out == NULL)
		return lutdb_fail(LUTDB_EINVAL, "%s: NULL buffer", fn);
	return LUTDB_OK;
}

/* Blocks [k, nb) by the scalar code: the reference path. */
static int quantize_scalar(int dtype, uint32_t block, const float *x, size_t k, size_t nb, uint8_t *out)
{
	uint64_t bb = lq_block_bytes(dtype, block);
	int rc;

	for (x += k * block, out += k * bb; k < nb; k++, x += block, out += bb) {
		if ((rc = check_finite(dtype, x, block, k)) != LUTDB_OK)
			return rc;
		switch (dtype) {
		case LQ_DTYPE_Q8_0: rc = q8_0_block(x, k, out); break;
		case LQ_DTYPE_Q4_0: rc = q4_0_block(x, k, out); break;
		case LQ_DTYPE_NF4: rc = nf4_block(x, block, k, out); break;
		default: rc = nf3_block(x, block, k, out); break;
		}
		if (rc != LUTDB_OK)
			return rc;
	}
	return LUTDB_OK;
}

/* ---- the vector paths --------------------------------------------------------
 * quant_avx2.c and quant_avx512.c, built for x86 only (the Makefile's
 * ARCH_SKIP), write the scalar code's bytes faster; elsewhere the scalar code
 * does all the work. */
typedef size_t (*vector_fn)(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out);

static vector_fn vector_path(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* the features each file is compiled for (AVX512FLAGS, AVX2FLAGS) */
	if (lutdb_cpu_has(LUTDB_CPU_AVX512F | LUTDB_CPU_AVX512BW | LUTDB_CPU_AVX512VL | LUTDB_CPU_AVX512DQ |
			  LUTDB_CPU_AVX2 | LUTDB_CPU_FMA | LUTDB_CPU_F16C))
		return lq__quantize_avx512;
	if (lutdb_cpu_has(LUTDB_CPU_AVX2 | LUTDB_CPU_FMA | LUTDB_CPU_F16C))
		return lq__quantize_avx2;
#endif
	return NULL;
}

static int quantize_with(vector_fn vec, int dtype, uint32_t block, const float *x, size_t n, void *dst)
{
	uint8_t *out = dst;
	uint64_t bb = lq_block_bytes(dtype, block);
	size_t k = 0, nb;
	int rc;

	if ((rc = check_args("quantize", dtype, block, n, x, dst)) != LUTDB_OK)
		return rc;
	nb = n / block;
	while (k < nb) {
		size_t end = nb;

		/* the vector path stops before a block it leaves to the scalar
		 * code, which refuses it with the spec's detail */
		if (vec) {
			k += vec(dtype, block, x + k * block, nb - k, out + k * bb);
			end = k < nb ? k + 1 : nb;
		}
		if ((rc = quantize_scalar(dtype, block, x, k, end, out)) != LUTDB_OK)
			return rc;
		k = end;
	}
	return LUTDB_OK;
}

int lq_quantize(int dtype, uint32_t block, const float *x, size_t n, void *dst)
{
	return quantize_with(vector_path(), dtype, block, x, n, dst);
}

int lq_quantize_scalar(int dtype, uint32_t block, const float *x, size_t n, void *dst)
{
	return quantize_with(NULL, dtype, block, x, n, dst);
}

int lq_quantize_isa(void)
{
	vector_fn v = vector_path();

	return v == NULL ? 0 : v == lq__quantize_avx2 ? 2 : 3;
}

/* ---- dequantize ---------------------------------------------------------- */

int lq_dequantize(int dtype, uint32_t block, const void *src, size_t n, float *dst)
{
	const uint8_t *p = src;
	uint64_t bb = lq_block_bytes(dtype, block);
	size_t k, nb;
	int rc;

	if ((rc = check_args("dequantize", dtype, block, n, src, dst)) != LUTDB_OK)
		return rc;
	nb = n / block;
	for (k = 0; k < nb; k++, p += bb, dst += block) {
		uint16_t h = rd16(p);
		const uint8_t *q = p + 2;
		float d;
		uint32_t j;

		if ((h & 0x7c00u) == 0x7c00u)
			return LUTDB_CORRUPT_BKPT("%s block %zu: scale 0x%04x is not finite", lq_name(dtype), k, h);
		d = lutdb_f16_to_f32(h);
		switch (dtype) {
		case LQ_DTYPE_Q8_0:
			/* exact products: 8-bit integer times an 11-bit significand */
			for (j = 0; j < 32; j++)
				dst[j] = (float)(int8_t)q[j] * d;
			break;
		case LQ_DTYPE_Q4_0:
			for (j = 0; j < 16; j++) {
				dst[j] = (float)((int)(q[j] & 15u) - 8) * d;
				dst[j + 16] = (float)((int)(q[j] >> 4) - 8) * d;
			}
			break;
		case LQ_DTYPE_NF4:
			for (j = 0; j < block; j += 2, q++) {
				dst[j] = lq_nf4_code[*q & 15u] * d;
				dst[j + 1] = lq_nf4_code[*q >> 4] * d;
			}
			break;
		default: /* NF3 */
			for (j = 0; j < block; j += 8, q += 3) {
				uint32_t w = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16;
				unsigned i;

				for (i = 0; i < 8; i++)
					dst[j + i] = lq_nf3_code[(w >> (3 * i)) & 7u] * d;
			}
			break;
		}
	}
	return LUTDB_OK;
}
