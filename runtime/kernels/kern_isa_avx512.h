/*
 * kern_isa_avx512.h - the AVX-512 primitives the 16-lane kernels share
 * (kern_avx512.c, kern_quant_avx512.c, kern_table_attn_avx512.c,
 * kern_attn_avx512.c): the float-type loaders, the lane masks and the
 * reduction tree.  Include it only from *_avx512.c files, which the Makefile
 * compiles with AVX512FLAGS.
 *
 * Reduction order (kernels.h's contract for this ISA): hsum16 adds the
 * 256-bit halves, then the 128-bit halves, then lanes 0+2 / 1+3, then
 * lanes 0+1.  Every 16-lane dot product ends in this tree, which is why the
 * float, quantized and MoLKV kernels agree bitwise; change it here and all
 * of them change together.
 */
#ifndef LUTDB_KERN_ISA_AVX512_H
#define LUTDB_KERN_ISA_AVX512_H

#include <immintrin.h>
#include <stddef.h>

#include "lutdb_types.h"

#ifndef INL
#define INL static inline __attribute__((always_inline))
#endif

/* 16 values of float type dt (F32, F16, BF16) at p, as float32 (exact). */
INL __m512 ldw(int dt, const unsigned char *p)
{
	if (dt == LUTDB_DTYPE_F32)
		return _mm512_loadu_ps(p);
	__m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
	if (dt == LUTDB_DTYPE_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The lanes of m, the others +0; reads only those. */
INL __m512 ldw_mask(int dt, const unsigned char *p, __mmask16 m)
{
	if (dt == LUTDB_DTYPE_F32)
		return _mm512_maskz_loadu_ps(m, p);
	__m256i h = _mm256_maskz_loadu_epi16(m, p);
	if (dt == LUTDB_DTYPE_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Mask of the low n (< 16) lanes. */
INL __mmask16 tail_mask(size_t n)
{
	return (__mmask16)((1u << n) - 1u);
}

/* Mask of min(rem, 16) low lanes. */
INL __mmask16 rem_mask(size_t rem)
{
	return rem >= 16 ? (__mmask16)0xffff : tail_mask(rem);
}

/* The fixed tree (see the top of this file). */
INL float hsum16(__m512 v)
{
	__m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
	__m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	__m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	__m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
	return _mm_cvtss_f32(d);
}

#endif
