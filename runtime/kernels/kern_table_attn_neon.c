/*
 * kern_table_attn_neon.c - the MoLKV head kernels (kernels.h, "MoLKV: one
 * expert head over a window") for aarch64 ASIMD (ARMv8.0; no integer dots:
 * the arithmetic is float32 on the exact values).
 *
 * The arithmetic is the neon table's per-vector one (kern_neon.c for the
 * float types, kern_quant_neon.c for the quantized ones), which is
 * kern_avx2.c's order on register pairs (kern_neon_v8.h): value off + i in
 * lane i % 8 of one accumulator, one fma per 8 values, the last partial 8
 * zero-padded, hsum8; a sum of values is one fma per value into y in vector
 * order; a quantized value is code x F32(scale), one rounding.  So every
 * output is bitwise what lk_table_dot / lk_table_axpy give (the block
 * decoders below are written for a walk over whole blocks, and checked
 * against kern_quant_neon.c's by test_kernels_qtable under qemu).
 * kern_table_attn_avx2.c says what the single pass saves.
 */
#include "kern_quant.h"

#include <arm_neon.h>
#include <string.h>

#include "bytes.h"
#include "kern_neon_v8.h"
#include "numeric.h"

#define UNROLL _Pragma("GCC unroll 4")

/* ---- float types: kern_neon_v8.h's ldw, and the body's ldw_tail through its buffer ------- */
/* Lanes < n (n < 8) of v, the rest +0. */
INL v8f keep(v8f v, size_t n)
{
	static const int32_t lane[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	const int32x4_t vn = vdupq_n_s32((int32_t)n);
	v8f r = {vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v.lo), vcltq_s32(vld1q_s32(lane), vn))),
		 vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v.hi), vcltq_s32(vld1q_s32(lane + 4), vn)))};
	return r;
}

/* ---- quantized types: a block's scale once, then values by index ------------------------ */
/* d: the scale; NF4, NF3: tab = the values of codes 0..15 (0..7), each code
 * x scale as one float32 product, so looking one up gives the value
 * kern_quant_neon.c's dec8() computes. */
typedef struct {
	float d;
	float tab[16];
} bctx;

static const float *nf4 = lq_nf4_code, *nf3 = lq_nf3_code;

INL bctx bctx_of(int t, const unsigned char *blk)
{
	bctx c;
	c.d = lutdb_f16_to_f32(rd16(blk));
	if (t == LQ_DTYPE_NF4)
		for (int i = 0; i < 16; i++)
			c.tab[i] = nf4[i] * c.d;
	else if (t == LQ_DTYPE_NF3)
		for (int i = 0; i < 8; i++)
			c.tab[i] = nf3[i] * c.d;
	return c;
}

/* Values j .. j + 7 (j a multiple of 8) of the block at blk, whose context
 * is c. */
INL v8f qdec8(int t, const unsigned char *blk, size_t j, const bctx *c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0:
		return cvt8_s16(vmovl_s8(vld1_s8((const int8_t *)(const void *)(p + j))), c->d);
	case LQ_DTYPE_Q4_0: {
		uint8x8_t b = vld1_u8(p + (j & 15));
		b = vand_u8(j >= 16 ? vshr_n_u8(b, 4) : b, vdup_n_u8(15));
		return cvt8_s16(vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(b)), vdupq_n_s16(8)), c->d);
	}
	case LQ_DTYPE_NF4: { /* value j + i is nibble i of the 32-bit word at byte j / 2 */
		uint32_t w = rd32(p + j / 2);
		float v[8];
		for (int i = 0; i < 8; i++)
			v[i] = c->tab[(w >> (4 * i)) & 15u];
		return v8_ld(v);
	}
	default: { /* NF3: three bytes, value i in bits 3i..3i+2 */
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		float v[8];
		for (int i = 0; i < 8; i++)
			v[i] = c->tab[(w >> (3 * i)) & 7u];
		return v8_ld(v);
	}
	}
}

/* 8 values never cross a block's end (a block holds a whole number of 8s). */
INL v8f qdec(int t, uint32_t B, size_t bb, const unsigned char *blk, size_t j, const bctx *c, size_t rem)
{
	return qdec8(t, blk, j, c);
}

/* ---- the primitives kern_table_attn_body.h drives ------------------------------------- */
#define TA_W 8
typedef v8f ta_v;
typedef size_t ta_tail; /* a partial 8: its count */
#define ta_tail_of(n) (n)
#define ta_zero v8_zero
#define ta_set1 v8_set1
#define ta_ld v8_ld
#define ta_st v8_st
#define ta_fma v8_fma
#define ta_hsum hsum8
#define ta_ld_tail ldx_part
#define ta_st_tail st_part
#define ta_keep keep
#define ta_prefetch(a) __builtin_prefetch((const void *)(a), 0, 3)

#define TA_SCORES lk_table_attn_scores_neon
#define TA_VALUES lk_table_attn_values_neon
#include "kern_table_attn_body.h"
