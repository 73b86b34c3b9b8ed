/*
 * kern_neon_v8.h - the aarch64 ASIMD primitives the NEON kernels share
 * (kern_neon.c, kern_quant_neon.c, kern_table_attn_neon.c): eight float32
 * lanes as a pair of registers, the float-type loader, the decode of 8
 * quantized codes, the zero-padded partial loads and stores, and the
 * reduction tree.  Byte loads and stores: any pointer may be unaligned.
 *
 * Reduction order (kernels.h's contract): kern_isa_avx2.h's, on register
 * pairs - one 8-lane accumulator, then hsum8 ((lo + hi), lanes 0+2 / 1+3,
 * then 0+1) - so the NEON kernels agree bitwise with each other and with
 * the AVX2 ones wherever those give plain IEEE arithmetic.
 */
#ifndef LUTDB_KERN_NEON_V8_H
#define LUTDB_KERN_NEON_V8_H

#include <arm_neon.h>
#include <stddef.h>
#include <string.h>

#include "lutdb_types.h"

#ifndef INL
#define INL static inline __attribute__((always_inline))
#endif

/* Eight float32 lanes as two ASIMD registers: the unit of every reduction
 * here, so that the order is kern_avx2.c's. */
typedef struct {
	float32x4_t lo, hi;
} v8f;

INL v8f v8_set1(float a)
{
	v8f r = {vdupq_n_f32(a), vdupq_n_f32(a)};
	return r;
}

INL v8f v8_zero(void)
{
	return v8_set1(0.0f);
}

/* Bytes in, floats out: byte loads have no alignment requirement, so every
 * pointer may be unaligned (kernels.h). */
INL v8f v8_ld(const float *p)
{
	const uint8_t *b = (const uint8_t *)(const void *)p;
	v8f r = {vreinterpretq_f32_u8(vld1q_u8(b)), vreinterpretq_f32_u8(vld1q_u8(b + 16))};
	return r;
}

INL void v8_st(float *p, v8f v)
{
	uint8_t *b = (uint8_t *)(void *)p;
	vst1q_u8(b, vreinterpretq_u8_f32(v.lo));
	vst1q_u8(b + 16, vreinterpretq_u8_f32(v.hi));
}

INL v8f v8_fma(v8f a, v8f b, v8f acc) /* acc + a * b, fused */
{
	v8f r = {vfmaq_f32(acc.lo, a.lo, b.lo), vfmaq_f32(acc.hi, a.hi, b.hi)};
	return r;
}

INL v8f v8_fms(v8f acc, v8f a, v8f b) /* acc - a * b, fused */
{
	v8f r = {vfmsq_f32(acc.lo, a.lo, b.lo), vfmsq_f32(acc.hi, a.hi, b.hi)};
	return r;
}

INL v8f v8_mul(v8f a, v8f b)
{
	v8f r = {vmulq_f32(a.lo, b.lo), vmulq_f32(a.hi, b.hi)};
	return r;
}

INL v8f v8_add(v8f a, v8f b)
{
	v8f r = {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)};
	return r;
}

/* 8 values of float type dt (F32, F16, BF16) at p, as float32: F16 widened
 * by fcvtl (exact; a NaN quieted with its payload kept, as F16C does), BF16
 * by a 16-bit shift. */
INL v8f ldw(int dt, const unsigned char *p)
{
	if (dt == LUTDB_DTYPE_F32)
		return v8_ld((const float *)(const void *)p);
	uint8x16_t b = vld1q_u8(p);
	v8f r;
	if (dt == LUTDB_DTYPE_F16) {
		float16x8_t h = vreinterpretq_f16_u8(b);
		r.lo = vcvt_f32_f16(vget_low_f16(h));
		r.hi = vcvt_high_f32_f16(h);
	} else {
		uint16x8_t h = vreinterpretq_u16_u8(b);
		r.lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
		r.hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
	}
	return r;
}

/* (float)q * d, 8 lanes: a quantized block's codes times its scale, one
 * rounding (kernels.h's value of a code). */
INL v8f cvt8_s16(int16x8_t q, float d)
{
	const float32x4_t vd = vdupq_n_f32(d);
	v8f r = {vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), vd),
		 vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(q)), vd)};
	return r;
}

/* The fixed tree of kern_avx2.c's hsum8: (l0+l4)+(l2+l6) + (l1+l5)+(l3+l7). */
INL float hsum8(v8f v)
{
	float32x4_t b = vaddq_f32(v.lo, v.hi);
	float32x2_t c = vadd_f32(vget_low_f32(b), vget_high_f32(b));
	return vget_lane_f32(c, 0) + vget_lane_f32(c, 1);
}

/* 8 floats from p, the first n (< 8) real and the rest zero. */
INL v8f ldx_part(const float *p, size_t n)
{
	float buf[8] = {0};
	memcpy(buf, p, n * sizeof(float));
	return v8_ld(buf);
}

/* The first n (< 8) lanes of v to p. */
INL void st_part(float *p, v8f v, size_t n)
{
	float buf[8];
	v8_st(buf, v);
	memcpy(p, buf, n * sizeof(float));
}

#endif
