/*
 * kern_quant_simd.h - pieces the AVX2 and AVX-512 quantized kernels share
 * (kern_quant_avx2.c, kern_quant_avx512.c include it once, each compiled
 * for its ISA): the activation of the dense kernels (kernels.h's rule, laid
 * out as kern_quant_dense.h reads it), the rows of a dense tile and their
 * scales, and dec8(), which decodes 8 values of any quantized table type
 * into a register.  The 8-lane reduction and partial loads the AVX2 table
 * loops add are kern_isa_avx2.h's (not included here: the AVX-512 files,
 * which include this one, have their own ldw).
 */
#ifndef LUTDB_KERN_QUANT_SIMD_H
#define LUTDB_KERN_QUANT_SIMD_H

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kern_quant.h"

#ifndef INL
#define INL static inline __attribute__((always_inline))
#endif
/* the 8 rows of a tile: unrolled, so their registers stay registers */
#define QD_UNROLL _Pragma("GCC unroll 8")

/* ---- the activation (kernels.h's rule, kern_quant_dense.h's layout) ------------- */
typedef struct {
	size_t nb;
	float dx[LKQ_CHUNK_BLOCKS];
	int32_t corr[LKQ_CHUNK_BLOCKS];
	_Alignas(32) unsigned char q[LKQ_CHUNK_BLOCKS / 2 * 64];
} qd_act;

INL float hmax8(__m256 v)
{
	__m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	a = _mm_max_ps(a, _mm_movehl_ps(a, a));
	a = _mm_max_ss(a, _mm_movehdup_ps(a));
	return _mm_cvtss_f32(a);
}

INL int32_t hsum8i(__m256i v)
{
	__m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	a = _mm_add_epi32(a, _mm_unpackhi_epi64(a, a));
	a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 1));
	return _mm_cvtsi128_si32(a);
}

/* One block of 32 values by kernels.h's rule: its 32 codes in order into
 * q, the sum of the codes into *sum; returns dx. */
INL float act_block(const float *xk, __m256i *q, int32_t *sum)
{
	const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
	__m256 v[4], m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
	for (int i = 0; i < 4; i++) {
		v[i] = _mm256_loadu_ps(xk + 8 * i);
		__m256 av = _mm256_andnot_ps(sign, v[i]);
		bad = _mm256_or_ps(bad, _mm256_cmp_ps(av, big, _CMP_NLE_UQ)); /* NaN, inf */
		m = _mm256_max_ps(m, av);
	}
	float amax = hmax8(m);
	if (_mm256_movemask_ps(bad) || amax == 0.0f) {
		*q = _mm256_setzero_si256();
		*sum = 0;
		return _mm256_movemask_ps(bad) ? NAN : 0.0f;
	}
	float d = amax / 127.0f, id = 127.0f / amax;
	if (!(id <= FLT_MAX))
		id = 0.0f;
	const __m256 vid = _mm256_set1_ps(id);
	__m256i qi[4];
	for (int i = 0; i < 4; i++)
		qi[i] = _mm256_cvtps_epi32(
			_mm256_round_ps(_mm256_mul_ps(v[i], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	*sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3])));
	/* ggml's packing: 16-bit and 8-bit packs work per 128-bit lane */
	__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
	*q = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	return d;
}

/* Blocks [0, nb) of x into a; cq: the correction per unit of sum(q). */
static inline void act_quant(const float *x, size_t nb, int32_t cq, qd_act *a)
{
	a->nb = nb;
	for (size_t k = 0; k < nb; k++) {
		unsigned char *lo = a->q + k / 2 * 64 + (k & 1) * 16, *hi = lo + 32;
		__m256i q;
		int32_t sum;
		a->dx[k] = act_block(x + 32 * k, &q, &sum);
		a->corr[k] = cq * sum;
		_mm_storeu_si128((__m128i *)(void *)lo, _mm256_castsi256_si128(q));
		_mm_storeu_si128((__m128i *)(void *)hi, _mm256_extracti128_si256(q, 1));
	}
	if (nb & 1) {
		unsigned char *lo = a->q + nb / 2 * 64 + 16;
		memset(lo, 0, 16);
		memset(lo + 32, 0, 16);
	}
}

/* ---- rows and their scales --------------------------------------------------------- */
#define QD_SPREAD_MIN 16

typedef struct {
	int64_t off[8];
	__m256i idx; /* off as 32 bits, when they fit */
	int narrow;
} qd_rows;

/* Rows stride bytes apart; rows >= mr read row 0's scales. */
INL void qd_rows_set(qd_rows *ro, size_t stride, int mr)
{
	int32_t o32[8];
	for (int i = 0; i < 8; i++) {
		ro->off[i] = i < mr ? (int64_t)(stride * (size_t)i) : 0;
		o32[i] = (int32_t)ro->off[i];
	}
	ro->narrow = stride * 7 <= INT32_MAX;
	ro->idx = _mm256_loadu_si256((const __m256i *)(const void *)o32);
}

/* The F16 scales at base + off[i] as floats (a gather reads 4 bytes: the
 * scale and the block's first two code bytes). */
INL __m256 scales8(const unsigned char *base, const qd_rows *ro)
{

	__m128i h;
	const __m256i pick = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8,
					      9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
	if (ro->narrow) {
		__m256i g = _mm256_i32gather_epi32((const int *)(const void *)base, ro->idx, 1);
		g = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(g, pick), 0x08);
		h = _mm256_castsi256_si128(g);
	} else {
		__m256i i0 = _mm256_loadu_si256((const __m256i *)(const void *)ro->off);
		__m256i i1 = _mm256_loadu_si256((const __m256i *)(const void *)(ro->off + 4));
		__m128i g0 = _mm256_i64gather_epi32((const int *)(const void *)base, i0, 1);
		__m128i g1 = _mm256_i64gather_epi32((const int *)(const void *)base, i1, 1);
		__m256i g = _mm256_inserti128_si256(_mm256_castsi128_si256(g0), g1, 1);
		g = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(g, pick), 0x08);
		h = _mm256_castsi256_si128(g);
	}
	return _mm256_cvtph_ps(h);
}

/* ---- table vectors: 8 values in a register ----------------------------------------- */
static const float *nf4 = lq_nf4_code, *nf3 = lq_nf3_code;

INL uint32_t ld32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Values j .. j + 7 of the block at blk (j a multiple of 8); t is a
 * constant at every call, so the switch folds away. */
INL __m256 dec8(int t, const unsigned char *blk, size_t j)
{
	const unsigned char *c = blk + 2;
	uint16_t h;
	memcpy(&h, blk, 2);
	const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
	__m256i q;
	switch (t) {
	case LQ_DTYPE_Q8_0:
		q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(c + j)));
		return _mm256_mul_ps(_mm256_cvtepi32_ps(q), d);
	case LQ_DTYPE_Q4_0: {
		__m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(c + (j & 15)));
		b = _mm_and_si128(_mm_srl_epi16(b, _mm_cvtsi32_si128(j >= 16 ? 4 : 0)), _mm_set1_epi8(15));
		q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(b), _mm256_set1_epi32(8));
		return _mm256_mul_ps(_mm256_cvtepi32_ps(q), d);
	}
	case LQ_DTYPE_NF4: {
		/* value j + i is nibble i of the 32-bit word at byte j / 2 */
		q = _mm256_srlv_epi32(_mm256_set1_epi32((int)ld32(c + j / 2)),
				      _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
		q = _mm256_and_si256(q, _mm256_set1_epi32(15));
		__m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(nf4), q);
		__m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(nf4 + 8), q);
		__m256 v = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(q, 28)));
		return _mm256_mul_ps(v, d);
	}
	default: { /* NF3: three bytes, value i in bits 3i..3i+2 */
		const unsigned char *g = c + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		q = _mm256_srlv_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21));
		q = _mm256_and_si256(q, _mm256_set1_epi32(7));
		return _mm256_mul_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(nf3), q), d);
	}
	}
}

#endif
