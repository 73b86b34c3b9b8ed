/*
 * kern_attn_avx2.c - the value side of causal attention with AVX2 + FMA
 * (kernels.h, "causal attention").
 *
 * Each output is the AVX2 lk_axpy's arithmetic term after term: from +0,
 * out = fma(p_s, v_s[j], out) in increasing s.  A tile holds 4 rows x 16
 * columns of sums in 8 of the 16 registers, so each value row is loaded
 * once for the 4 query rows of the tile; the columns of a tile and the rows
 * sharing it change no output's arithmetic.
 */
#include "kernels.h"

#include <immintrin.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define AV_ROWS 4
#define AV_VECS 2 /* 8-float registers per row of a tile */

/* The mask of maskload/maskstore for the first n (<= 8 used) lanes. */
INL __m256i lanes(size_t n)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n > 8 ? 8 : (int)n), idx);
}

/* Rows [0, MR) of a tile, columns [c, c + nc) (nc <= 16): row i sums
 * positions 0 .. t + i. */
INL void tile(int MR, const float *P, size_t ldp, size_t t, const float *V, size_t ldv, size_t c, size_t nc,
	      float *O, size_t ldo)
{
	__m256 acc[AV_ROWS][AV_VECS];
	__m256i m[AV_VECS];
	UNROLL for (int k = 0; k < AV_VECS; k++)
		m[k] = lanes(nc > 8 * (size_t)k ? nc - 8 * (size_t)k : 0);
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int k = 0; k < AV_VECS; k++)
			acc[i][k] = _mm256_setzero_ps();
	/* positions every row of the tile sums */
	for (size_t s = 0; s <= t; s++) {
		const float *v = V + s * ldv + c;
		__m256 vv[AV_VECS];
		UNROLL for (int k = 0; k < AV_VECS; k++)
			vv[k] = _mm256_maskload_ps(v + 8 * k, m[k]);
		UNROLL for (int i = 0; i < MR; i++) {
			const __m256 p = _mm256_broadcast_ss(P + (size_t)i * ldp + s);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = _mm256_fmadd_ps(p, vv[k], acc[i][k]);
		}
	}
	/* the causal triangle: position t + j only for rows j .. MR - 1 */
	UNROLL for (int j = 1; j < MR; j++) {
		const float *v = V + (t + (size_t)j) * ldv + c;
		__m256 vv[AV_VECS];
		UNROLL for (int k = 0; k < AV_VECS; k++)
			vv[k] = _mm256_maskload_ps(v + 8 * k, m[k]);
		UNROLL for (int i = j; i < MR; i++) {
			const __m256 p = _mm256_broadcast_ss(P + (size_t)i * ldp + t + (size_t)j);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = _mm256_fmadd_ps(p, vv[k], acc[i][k]);
		}
	}
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int k = 0; k < AV_VECS; k++)
			_mm256_maskstore_ps(O + (size_t)i * ldo + c + 8 * k, m[k], acc[i][k]);
}

void lk_attn_values_avx2(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv,
			 size_t n, float *O, size_t ldo)
{
	const size_t cols = 8 * AV_VECS;
	size_t r = 0;
	for (; r + AV_ROWS <= rows; r += AV_ROWS)
		for (size_t c = 0; c < n; c += cols)
			tile(AV_ROWS, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < cols ? n - c : cols, O + r * ldo,
			     ldo);
	for (; r < rows; r++)
		for (size_t c = 0; c < n; c += cols)
			tile(1, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < cols ? n - c : cols, O + r * ldo, ldo);
}
