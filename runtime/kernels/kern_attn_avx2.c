/*
 * kern_attn_avx2.c - the value side of causal attention with AVX2 + FMA
 * (kernels.h, "causal attention"): kern_attn_body.h's tile of 4 rows x 16
 * columns, in 8 of the 16 registers, with the AVX2 lk_axpy's arithmetic.
 */
#include "kernels.h"

#include <immintrin.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define AV_W 8
#define AV_VECS 2
typedef __m256 av_v;
typedef struct {
	__m256i m[AV_VECS]; /* maskload/maskstore masks of each register's columns */
} av_cols;

/* The mask of maskload/maskstore for the first n (<= 8 used) lanes. */
INL __m256i lanes(size_t n)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n > 8 ? 8 : (int)n), idx);
}

INL av_cols av_cols_of(size_t nc)
{
	av_cols c;
	UNROLL for (int k = 0; k < AV_VECS; k++)
		c.m[k] = lanes(nc > 8 * (size_t)k ? nc - 8 * (size_t)k : 0);
	return c;
}

INL void av_ldrow(av_v vv[AV_VECS], const float *v, av_cols c)
{
	UNROLL for (int k = 0; k < AV_VECS; k++)
		vv[k] = _mm256_maskload_ps(v + 8 * k, c.m[k]);
}

INL void av_strow(float *o, const av_v acc[AV_VECS], av_cols c)
{
	UNROLL for (int k = 0; k < AV_VECS; k++)
		_mm256_maskstore_ps(o + 8 * k, c.m[k], acc[k]);
}

#define av_zero _mm256_setzero_ps
#define av_set1 _mm256_set1_ps
#define av_fma(acc, p, v) _mm256_fmadd_ps(p, v, acc)

#define AV_VALUES lk_attn_values_avx2
#include "kern_attn_body.h"
