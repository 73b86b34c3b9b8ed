/*
 * kern_attn_neon.c - the value side of causal attention with aarch64 ASIMD
 * (kernels.h, "causal attention"; ARMv8.0, built for aarch64 only):
 * kern_attn_body.h's tile of 4 rows x 16 columns, in 16 of the 32
 * registers, with the NEON lk_axpy's arithmetic (vfmaq_f32).  Partial
 * columns go through a zero-padded copy, as the axpy's tail does.
 */
#include "kernels.h"

#include <arm_neon.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define AV_W 4
#define AV_VECS 4
typedef float32x4_t av_v;
typedef size_t av_cols; /* the tile's column count */
#define av_cols_of(nc) (nc)

/* Byte loads and stores: any alignment (kernels.h). */
INL float32x4_t ld4(const float *p)
{
	return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)(const void *)p));
}

INL void st4(float *p, float32x4_t v)
{
	vst1q_u8((uint8_t *)(void *)p, vreinterpretq_u8_f32(v));
}

INL void av_ldrow(av_v vv[AV_VECS], const float *v, size_t nc)
{
	if (nc == AV_W * AV_VECS) {
		UNROLL for (int k = 0; k < AV_VECS; k++)
			vv[k] = ld4(v + 4 * k);
		return;
	}
	float buf[AV_W * AV_VECS] = {0};
	memcpy(buf, v, nc * sizeof(float));
	UNROLL for (int k = 0; k < AV_VECS; k++)
		vv[k] = ld4(buf + 4 * k);
}

INL void av_strow(float *o, const av_v acc[AV_VECS], size_t nc)
{
	if (nc == AV_W * AV_VECS) {
		UNROLL for (int k = 0; k < AV_VECS; k++)
			st4(o + 4 * k, acc[k]);
		return;
	}
	float buf[AV_W * AV_VECS];
	UNROLL for (int k = 0; k < AV_VECS; k++)
		st4(buf + 4 * k, acc[k]);
	memcpy(o, buf, nc * sizeof(float));
}

#define av_zero() vdupq_n_f32(0.0f)
#define av_set1 vdupq_n_f32
#define av_fma(acc, p, v) vfmaq_f32(acc, p, v)

#define AV_VALUES lk_attn_values_neon
#include "kern_attn_body.h"
