/*
 * kern_attn_neon.c - the value side of causal attention with aarch64 ASIMD
 * (kernels.h, "causal attention"; ARMv8.0, built for aarch64 only).
 *
 * Each output is the NEON lk_axpy's arithmetic term after term: from +0,
 * out = fma(p_s, v_s[j], out) (vfmaq_f32) in increasing s.  A tile holds 4
 * rows x 16 columns of sums in 16 of the 32 registers, so each value row is
 * loaded once for the 4 query rows of the tile; the columns of a tile and
 * the rows sharing it change no output's arithmetic.  Partial columns go
 * through a zero-padded copy, as the axpy's tail does.
 */
#include "kernels.h"

#include <arm_neon.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define AV_ROWS 4
#define AV_VECS 4 /* 4-float registers per row of a tile */
#define AV_COLS (4 * AV_VECS)

/* Byte loads and stores: any alignment (kernels.h). */
INL float32x4_t ld4(const float *p)
{
	return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)(const void *)p));
}

INL void st4(float *p, float32x4_t v)
{
	vst1q_u8((uint8_t *)(void *)p, vreinterpretq_u8_f32(v));
}

/* The value row's columns of the tile; a partial one zero-padded. */
INL void ldrow(float32x4_t vv[AV_VECS], const float *v, size_t nc)
{
	if (nc == AV_COLS) {
		UNROLL for (int k = 0; k < AV_VECS; k++)
			vv[k] = ld4(v + 4 * k);
		return;
	}
	float buf[AV_COLS] = {0};
	memcpy(buf, v, nc * sizeof(float));
	UNROLL for (int k = 0; k < AV_VECS; k++)
		vv[k] = ld4(buf + 4 * k);
}

/* Rows [0, MR) of a tile, columns [c, c + nc) (nc <= AV_COLS): row i sums
 * positions 0 .. t + i. */
INL void tile(int MR, const float *P, size_t ldp, size_t t, const float *V, size_t ldv, size_t c, size_t nc,
	      float *O, size_t ldo)
{
	float32x4_t acc[AV_ROWS][AV_VECS];
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int k = 0; k < AV_VECS; k++)
			acc[i][k] = vdupq_n_f32(0.0f);
	/* positions every row of the tile sums */
	for (size_t s = 0; s <= t; s++) {
		float32x4_t vv[AV_VECS];
		ldrow(vv, V + s * ldv + c, nc);
		UNROLL for (int i = 0; i < MR; i++) {
			const float32x4_t p = vdupq_n_f32(P[(size_t)i * ldp + s]);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = vfmaq_f32(acc[i][k], p, vv[k]);
		}
	}
	/* the causal triangle: position t + j only for rows j .. MR - 1 */
	UNROLL for (int j = 1; j < MR; j++) {
		float32x4_t vv[AV_VECS];
		ldrow(vv, V + (t + (size_t)j) * ldv + c, nc);
		UNROLL for (int i = j; i < MR; i++) {
			const float32x4_t p = vdupq_n_f32(P[(size_t)i * ldp + t + (size_t)j]);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = vfmaq_f32(acc[i][k], p, vv[k]);
		}
	}
	UNROLL for (int i = 0; i < MR; i++) {
		float *o = O + (size_t)i * ldo + c;
		if (nc == AV_COLS) {
			UNROLL for (int k = 0; k < AV_VECS; k++)
				st4(o + 4 * k, acc[i][k]);
		} else {
			float buf[AV_COLS];
			UNROLL for (int k = 0; k < AV_VECS; k++)
				st4(buf + 4 * k, acc[i][k]);
			memcpy(o, buf, nc * sizeof(float));
		}
	}
}

void lk_attn_values_neon(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv,
			 size_t n, float *O, size_t ldo)
{
	size_t r = 0;
	for (; r + AV_ROWS <= rows; r += AV_ROWS)
		for (size_t c = 0; c < n; c += AV_COLS)
			tile(AV_ROWS, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < AV_COLS ? n - c : AV_COLS,
			     O + r * ldo, ldo);
	for (; r < rows; r++)
		for (size_t c = 0; c < n; c += AV_COLS)
			tile(1, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < AV_COLS ? n - c : AV_COLS, O + r * ldo,
			     ldo);
}
