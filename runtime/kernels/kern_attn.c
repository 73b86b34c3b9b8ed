/*
 * kern_attn.c - the value side of causal attention, portable C11
 * (kernels.h, "causal attention"): the reference the SIMD versions of each
 * ISA are tested against, and the scalar table's kernel.
 *
 * Each output is s_axpy's arithmetic (kern_scalar.c) term after term: from
 * +0, out = out + p_s * v_s[j] in increasing s, product and sum rounded
 * separately (ISO C: no contraction).  The tile only shares each value
 * row's loads between the rows of a block; no output's arithmetic depends
 * on which rows share a tile or on how the columns are cut.
 */
#include "kernels.h"

#include <string.h>

#define INL static inline __attribute__((always_inline))

/* Rows and columns of a tile: 4 x 16 floats of sums stay in registers. */
#define AV_ROWS 4
#define AV_COLS 16

/* Rows [0, mr) of a tile, columns [c, c + nc): row i sums positions 0 ..
 * t + i. */
INL void tile(int mr, const float *P, size_t ldp, size_t t, const float *V, size_t ldv, size_t c, size_t nc,
	      float *O, size_t ldo)
{
	float acc[AV_ROWS][AV_COLS];
	for (int i = 0; i < mr; i++)
		for (size_t j = 0; j < AV_COLS; j++)
			acc[i][j] = 0.0f;
	for (size_t s = 0; s <= t + (size_t)mr - 1; s++) {
		const float *v = V + s * ldv + c;
		for (int i = 0; i < mr; i++) {
			if (s > t + (size_t)i) /* past row i's own position */
				continue;
			const float p = P[(size_t)i * ldp + s];
			for (size_t j = 0; j < nc; j++)
				acc[i][j] += p * v[j];
		}
	}
	for (int i = 0; i < mr; i++)
		memcpy(O + (size_t)i * ldo + c, acc[i], nc * sizeof(float));
}

void lk_attn_values_scalar(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv,
			   size_t n, float *O, size_t ldo)
{
	for (size_t r = 0; r < rows; r += AV_ROWS) {
		int mr = rows - r < AV_ROWS ? (int)(rows - r) : AV_ROWS;
		for (size_t c = 0; c < n; c += AV_COLS) {
			size_t nc = n - c < AV_COLS ? n - c : AV_COLS;
			if (mr == AV_ROWS)
				tile(AV_ROWS, P + r * ldp, ldp, t0 + r, V, ldv, c, nc, O + r * ldo, ldo);
			else
				tile(mr, P + r * ldp, ldp, t0 + r, V, ldv, c, nc, O + r * ldo, ldo);
		}
	}
}
