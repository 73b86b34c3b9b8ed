/*
 * kern_table_attn_avx512.c - the MoLKV head kernels (kernels.h, "MoLKV: one
 * expert head over a window") for AVX-512 (F/BW/VL/DQ) + FMA + F16C.
 *
 * The arithmetic is the avx512 table's per-vector one (kern_avx512.c for
 * the float types, kern_quant_avx512.c for the quantized ones): value
 * off + i in lane i % 16 of one accumulator, one fma per 16 values, the
 * last partial 16 zero-masked, hsum16; a sum of values is one fma per value
 * into y in vector order; a quantized value is code x F32(scale), one
 * rounding.  So every output is bitwise what lk_table_dot / lk_table_axpy
 * give.  kern_table_attn_avx2.c says what the single pass saves; here a
 * Q4_0 / NF4 / NF3 value is one vpermps of the block's 16 (8) scaled codes.
 *
 * 16 values from a multiple of 8 may cross a block's end (off = 8 mod 16),
 * or, in Q4_0, the middle of its block where the low nibbles end: those
 * are decoded as two halves of 8, from the two blocks (or nibble halves).
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")

#include "kern_isa_avx512.h"
#include "kern_quant_simd.h"

/* ---- quantized types: a block's scale once, then values by index ------------------------ */
/* Q8_0: the scale.  Q4_0, NF4: the values of codes 0..15 (Q4_0's code c is
 * c - 8), each code x scale as one float32 product, so looking one up gives
 * the value the per-vector kernels compute.  NF3: codes 0..7, twice (a
 * permute reads 4 index bits; bit 3 belongs to the next value). */
typedef __m512 bctx;

INL bctx bctx_of(int t, const unsigned char *blk)
{
	uint16_t h;
	memcpy(&h, blk, 2);
	const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
	switch (t) {
	case LQ_DTYPE_Q8_0: return d;
	case LQ_DTYPE_Q4_0:
		return _mm512_mul_ps(_mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7), d);
	case LQ_DTYPE_NF4: return _mm512_mul_ps(_mm512_loadu_ps(nf4), d);
	default: {
		__m256 c = _mm256_loadu_ps(nf3);
		return _mm512_mul_ps(_mm512_insertf32x8(_mm512_castps256_ps512(c), c, 1), d);
	}
	}
}

/* Lanes 0..7: values j .. j + 7 (j a multiple of 8) of the block at blk,
 * context c; lanes 8..15 unspecified. */
INL __m512 qdec8(int t, const unsigned char *blk, size_t j, bctx c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0: {
		__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + j)));
		return _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm512_castps512_ps256(c)));
	}
	case LQ_DTYPE_Q4_0: {
		__m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + (j & 15))));
		if (j >= 16)
			b = _mm256_srli_epi32(b, 4);
		return _mm512_permutexvar_ps(_mm512_zextsi256_si512(b), c);
	}
	case LQ_DTYPE_NF4: {
		__m256i q = _mm256_srlv_epi32(_mm256_set1_epi32((int)ld32(p + j / 2)),
					      _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
		return _mm512_permutexvar_ps(_mm512_zextsi256_si512(q), c);
	}
	default: {
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		__m256i q = _mm256_srlv_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21));
		return _mm512_permutexvar_ps(_mm512_zextsi256_si512(q), c);
	}
	}
}

/* 1 when values j .. j + 15 of a block are one load's (same block; for
 * Q4_0 the same nibble half). */
INL int whole16(int t, uint32_t B, size_t j)
{
	return t == LQ_DTYPE_Q4_0 ? j % 16 == 0 : j + 16 <= B;
}

/* Values j .. j + 15 of the block at blk (whole16(t, B, j)). */
INL __m512 qdec16(int t, const unsigned char *blk, size_t j, bctx c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0: {
		__m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p + j)));
		return _mm512_mul_ps(_mm512_cvtepi32_ps(q), c);
	}
	case LQ_DTYPE_Q4_0: {
		__m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
		return _mm512_permutexvar_ps(j == 16 ? _mm512_srli_epi32(b, 4) : b, c);
	}
	case LQ_DTYPE_NF4: { /* value j + i is nibble i of the 64-bit word at byte j / 2 */
		__m512i w = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(const void *)(p + j / 2)));
		w = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), w);
		w = _mm512_srlv_epi32(w, _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28));
		return _mm512_permutexvar_ps(w, c);
	}
	default: { /* NF3: two groups of 3 bytes (byte loads: no read past them) */
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w0 = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		uint32_t w1 = (uint32_t)g[3] | (uint32_t)g[4] << 8 | (uint32_t)g[5] << 16;
		__m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)w0)),
					       _mm256_set1_epi32((int)w1), 1);
		q = _mm512_srlv_epi32(q, _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 3, 6, 9, 12, 15, 18, 21));
		return _mm512_permutexvar_ps(q, c);
	}
	}
}

INL __m512 join8(__m512 lo, __m512 hi)
{
	return _mm512_insertf32x8(lo, _mm512_castps512_ps256(hi), 1);
}

/* The next 16 values of a block from j (rem >= 16 of the run left), or,
 * with rem < 16, the next rem in the low lanes (the rest unspecified; reads
 * only the blocks of those): from two blocks (or nibble halves) when they
 * cross one's end. */
INL __m512 qdec(int t, uint32_t B, size_t bb, const unsigned char *blk, size_t j, const bctx *c, size_t rem)
{
	if (rem > 8 && whole16(t, B, j))
		return qdec16(t, blk, j, *c);
	__m512 lo = qdec8(t, blk, j, *c);
	if (rem <= 8)
		return lo;
	if (j + 8 < B) /* Q4_0: the other nibble half of the same block */
		return join8(lo, qdec8(t, blk, j + 8, *c));
	return join8(lo, qdec8(t, blk + bb, 0, bctx_of(t, blk + bb)));
}

/* ---- the primitives kern_table_attn_body.h drives ------------------------------------- */
#define TA_W 16
typedef __m512 ta_v;
typedef __mmask16 ta_tail; /* a partial 16: its lanes */
#define ta_tail_of tail_mask
#define ta_zero _mm512_setzero_ps
#define ta_set1 _mm512_set1_ps
#define ta_ld _mm512_loadu_ps
#define ta_st _mm512_storeu_ps
#define ta_fma _mm512_fmadd_ps
#define ta_hsum hsum16
#define ta_ld_tail(p, m) _mm512_maskz_loadu_ps(m, p)
#define ta_st_tail(p, v, m) _mm512_mask_storeu_ps(p, m, v)
#define ta_keep(v, m) _mm512_maskz_mov_ps(m, v)
#define ta_prefetch(a) _mm_prefetch((const char *)(a), _MM_HINT_T0)
/* float types: kern_isa_avx512.h's ldw, and its ldw_mask as the body's ldw_tail */
#define ldw_tail ldw_mask

#define TA_SCORES lk_table_attn_scores_avx512
#define TA_VALUES lk_table_attn_values_avx512
#include "kern_table_attn_body.h"
