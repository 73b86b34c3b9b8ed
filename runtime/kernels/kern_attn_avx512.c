/*
 * kern_attn_avx512.c - the value side of causal attention with AVX-512F
 * (kernels.h, "causal attention"): kern_attn_body.h's tile of 4 rows x 64
 * columns, in 16 registers, with the AVX-512 lk_axpy's arithmetic; the sums
 * never leave registers until the last position.
 */
#include "kernels.h"

#include <immintrin.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#include "kern_isa_avx512.h"

#define AV_W 16
#define AV_VECS 4
typedef __m512 av_v;
typedef struct {
	__mmask16 m[AV_VECS]; /* the lanes of each register's columns */
} av_cols;

INL av_cols av_cols_of(size_t nc)
{
	av_cols c;
	UNROLL for (int k = 0; k < AV_VECS; k++)
		c.m[k] = rem_mask(nc > 16 * (size_t)k ? nc - 16 * (size_t)k : 0);
	return c;
}

INL void av_ldrow(av_v vv[AV_VECS], const float *v, av_cols c)
{
	UNROLL for (int k = 0; k < AV_VECS; k++)
		vv[k] = _mm512_maskz_loadu_ps(c.m[k], v + 16 * k);
}

INL void av_strow(float *o, const av_v acc[AV_VECS], av_cols c)
{
	UNROLL for (int k = 0; k < AV_VECS; k++)
		_mm512_mask_storeu_ps(o + 16 * k, c.m[k], acc[k]);
}

#define av_zero _mm512_setzero_ps
#define av_set1 _mm512_set1_ps
#define av_fma(acc, p, v) _mm512_fmadd_ps(p, v, acc)

#define AV_VALUES lk_attn_values_avx512
#include "kern_attn_body.h"
