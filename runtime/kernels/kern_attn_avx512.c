/*
 * kern_attn_avx512.c - the value side of causal attention with AVX-512F
 * (kernels.h, "causal attention").
 *
 * Each output is the AVX-512 lk_axpy's arithmetic term after term: from +0,
 * out = fma(p_s, v_s[j], out) in increasing s.  A tile holds 4 rows x 64
 * columns of sums in 16 registers, so each value row is loaded once for the
 * 4 query rows of the tile instead of once per row, and the sums never
 * leave registers until the last position; the columns of a tile and the
 * rows sharing it change no output's arithmetic.
 */
#include "kernels.h"

#include <immintrin.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#include "kern_isa_avx512.h"

#define AV_ROWS 4
#define AV_VECS 4 /* 16-float registers per row of a tile */

/* Rows [0, MR) of a tile, columns [c, c + nc) (nc <= 64): row i sums
 * positions 0 .. t + i. */
INL void tile(int MR, const float *P, size_t ldp, size_t t, const float *V, size_t ldv, size_t c, size_t nc,
	      float *O, size_t ldo)
{
	__m512 acc[AV_ROWS][AV_VECS];
	__mmask16 m[AV_VECS];
	UNROLL for (int k = 0; k < AV_VECS; k++)
		m[k] = rem_mask(nc > 16 * (size_t)k ? nc - 16 * (size_t)k : 0);
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int k = 0; k < AV_VECS; k++)
			acc[i][k] = _mm512_setzero_ps();
	/* positions every row of the tile sums */
	for (size_t s = 0; s <= t; s++) {
		const float *v = V + s * ldv + c;
		__m512 vv[AV_VECS];
		UNROLL for (int k = 0; k < AV_VECS; k++)
			vv[k] = _mm512_maskz_loadu_ps(m[k], v + 16 * k);
		UNROLL for (int i = 0; i < MR; i++) {
			const __m512 p = _mm512_set1_ps(P[(size_t)i * ldp + s]);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = _mm512_fmadd_ps(p, vv[k], acc[i][k]);
		}
	}
	/* the causal triangle: position t + j only for rows j .. MR - 1 */
	UNROLL for (int j = 1; j < MR; j++) {
		const float *v = V + (t + (size_t)j) * ldv + c;
		__m512 vv[AV_VECS];
		UNROLL for (int k = 0; k < AV_VECS; k++)
			vv[k] = _mm512_maskz_loadu_ps(m[k], v + 16 * k);
		UNROLL for (int i = j; i < MR; i++) {
			const __m512 p = _mm512_set1_ps(P[(size_t)i * ldp + t + (size_t)j]);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = _mm512_fmadd_ps(p, vv[k], acc[i][k]);
		}
	}
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int k = 0; k < AV_VECS; k++)
			_mm512_mask_storeu_ps(O + (size_t)i * ldo + c + 16 * k, m[k], acc[i][k]);
}

void lk_attn_values_avx512(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv,
			   size_t n, float *O, size_t ldo)
{
	const size_t cols = 16 * AV_VECS;
	size_t r = 0;
	for (; r + AV_ROWS <= rows; r += AV_ROWS)
		for (size_t c = 0; c < n; c += cols)
			tile(AV_ROWS, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < cols ? n - c : cols, O + r * ldo,
			     ldo);
	for (; r < rows; r++)
		for (size_t c = 0; c < n; c += cols)
			tile(1, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < cols ? n - c : cols, O + r * ldo, ldo);
}
