/*
 * kern_table_attn_avx2.c - the MoLKV head kernels (kernels.h, "MoLKV: one
 * expert head over a window") for AVX2 + FMA + F16C.
 *
 * The arithmetic is the avx2 table's per-vector one (kern_avx2.c for the
 * float types, kern_quant_avx2.c for the quantized ones): value off + i in
 * lane i % 8 of one accumulator, one fma per 8 values, the last partial 8
 * zero-padded, hsum8; a sum of values is one fma per value into y in vector
 * order; a quantized value is code x F32(scale), one rounding.  So every
 * output is bitwise what lk_table_dot / lk_table_axpy give.
 *
 * What one pass over the window saves (the per-vector calls cost more than
 * their arithmetic at 32- and 192-value chunks): the dispatch and checks of
 * 1 + N calls per position; the block's scale, converted once per block
 * instead of every 8 values, and for Q4_0 / NF4 / NF3 the block's 16 (8)
 * possible values (code x scale, the same products) computed once per block
 * so a value is one permute; the N vectors of a position in flight
 * together (their dots share the query loads, their sums one load and store
 * of y); and the next positions' bytes fetched while this one is computed
 * (each position's row is elsewhere in the map: the hardware prefetcher
 * cannot guess the jump).
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")

#include "kern_isa_avx2.h" /* float types: ldw, and the body's ldw_tail through its buffer */
#include "kern_quant_simd.h"

/* ---- quantized types: a block's scale once, then values by index ------------------------ */
/* Q8_0: a = the scale.  Q4_0, NF4: a, b = the values of codes 0..7 and
 * 8..15 (Q4_0's code c is c - 8), each code x scale as one float32 product,
 * so looking one up gives the value dec8() computes.  NF3: a = codes 0..7. */
typedef struct {
	__m256 a, b;
} bctx;

INL bctx bctx_of(int t, const unsigned char *blk)
{
	uint16_t h;
	memcpy(&h, blk, 2);
	const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
	bctx c = {d, d};
	switch (t) {
	case LQ_DTYPE_Q8_0: break;
	case LQ_DTYPE_Q4_0:
		c.a = _mm256_mul_ps(_mm256_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1), d);
		c.b = _mm256_mul_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), d);
		break;
	case LQ_DTYPE_NF4:
		c.a = _mm256_mul_ps(_mm256_loadu_ps(nf4), d);
		c.b = _mm256_mul_ps(_mm256_loadu_ps(nf4 + 8), d);
		break;
	default: c.a = _mm256_mul_ps(_mm256_loadu_ps(nf3), d); break;
	}
	return c;
}

/* Lane i: entry (idx_i & 15) of the 16 values of c (permutes read the low 3
 * bits; bit 3, moved to the sign, picks the half). */
INL __m256 pick16(__m256i idx, const bctx *c)
{
	__m256 lo = _mm256_permutevar8x32_ps(c->a, idx), hi = _mm256_permutevar8x32_ps(c->b, idx);
	return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* Values j .. j + 7 (j a multiple of 8) of the block at blk, whose context
 * is c. */
INL __m256 qdec8(int t, const unsigned char *blk, size_t j, const bctx *c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0: {
		__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + j)));
		return _mm256_mul_ps(_mm256_cvtepi32_ps(q), c->a);
	}
	case LQ_DTYPE_Q4_0: { /* values 0..15 are the low nibbles of bytes 0..15, 16..31 the high */
		__m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + (j & 15))));
		return pick16(j >= 16 ? _mm256_srli_epi32(b, 4) : b, c);
	}
	case LQ_DTYPE_NF4: /* value j + i is nibble i of the 32-bit word at byte j / 2 */
		return pick16(_mm256_srlv_epi32(_mm256_set1_epi32((int)ld32(p + j / 2)),
						_mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
			      c);
	default: { /* NF3: three bytes, value i in bits 3i..3i+2 */
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		__m256i q = _mm256_srlv_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21));
		return _mm256_permutevar8x32_ps(c->a, q);
	}
	}
}

/* 8 values never cross a block's end (a block holds a whole number of 8s). */
INL __m256 qdec(int t, uint32_t B, size_t bb, const unsigned char *blk, size_t j, const bctx *c, size_t rem)
{
	return qdec8(t, blk, j, c);
}

/* ---- the primitives kern_table_attn_body.h drives ------------------------------------- */
#define TA_W 8
typedef __m256 ta_v;
typedef size_t ta_tail; /* a partial 8: its count */
#define ta_tail_of(n) (n)
#define ta_zero _mm256_setzero_ps
#define ta_set1 _mm256_set1_ps
#define ta_ld _mm256_loadu_ps
#define ta_st _mm256_storeu_ps
#define ta_fma _mm256_fmadd_ps
#define ta_hsum hsum8
#define ta_ld_tail ldx_part
#define ta_st_tail st_part
#define ta_keep keep
#define ta_prefetch(a) _mm_prefetch((const char *)(a), _MM_HINT_T0)

#define TA_SCORES lk_table_attn_scores_avx2
#define TA_VALUES lk_table_attn_values_avx2
#include "kern_table_attn_body.h"
