/*
 * kern_isa_avx2.h - the AVX2 primitives the 8-lane kernels share
 * (kern_avx2.c, kern_quant_avx2.c, kern_table_attn_avx2.c): the float-type
 * loader, the zero-padded partial loads and stores, the lane mask and the
 * reduction tree.  Include it only from *_avx2.c files, which the Makefile
 * compiles with AVX2FLAGS (the AVX-512 files have their own ldw:
 * kern_isa_avx512.h).
 *
 * Reduction order (kernels.h's contract for this ISA): hsum8 adds the
 * 128-bit halves, then lanes 0+2 / 1+3, then lanes 0+1.  Every 8-lane dot
 * product ends in this tree (kern_neon_v8.h repeats it on register pairs),
 * which is why the float, quantized and MoLKV kernels agree bitwise; change
 * it here and all of them change together.
 */
#ifndef LUTDB_KERN_ISA_AVX2_H
#define LUTDB_KERN_ISA_AVX2_H

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "lutdb_types.h"

#ifndef INL
#define INL static inline __attribute__((always_inline))
#endif

/* 8 values of float type dt (F32, F16, BF16) at p, as float32 (exact). */
INL __m256 ldw(int dt, const unsigned char *p)
{
	if (dt == LUTDB_DTYPE_F32)
		return _mm256_loadu_ps((const float *)(const void *)p);
	__m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
	if (dt == LUTDB_DTYPE_F16)
		return _mm256_cvtph_ps(h);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* 8 floats from p, the first n (< 8) real and the rest +0 (AVX2 has no
 * masked load of 16-bit values, so partial loads go through a buffer). */
INL __m256 ldx_part(const float *p, size_t n)
{
	float buf[8] = {0};
	memcpy(buf, p, n * sizeof(float));
	return _mm256_loadu_ps(buf);
}

/* The first n (< 8) lanes of v to p. */
INL void st_part(float *p, __m256 v, size_t n)
{
	float buf[8];
	_mm256_storeu_ps(buf, v);
	memcpy(p, buf, n * sizeof(float));
}

/* Lanes < n of v, the rest +0. */
INL __m256 keep(__m256 v, size_t n)
{
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane)));
}

/* The fixed tree (see the top of this file). */
INL float hsum8(__m256 v)
{
	__m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	__m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	__m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
	return _mm_cvtss_f32(d);
}

#endif
