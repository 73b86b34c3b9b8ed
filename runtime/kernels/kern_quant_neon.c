/*
 * kern_quant_neon.c - aarch64 ASIMD kernels of the block-quantized types.
 *
 * Dense Q8_0/Q4_0: kern_quant_neon_dense.h with the ARMv8.0 integer dot
 * (smull + sadalp: a product of two int8 fits int16, pairs are added into
 * int32), or kern_quant_neon_dotprod.c's sdot when the CPU has it (asimddp)
 * and LUTDB_VNNI=0 / lk_set_vnni(0) has not turned it off; the arithmetic is
 * kernels.h's, identical on every ISA.  lk_matmul from 4 tokens on puts
 * tokens in the lanes (kern_quant_neon_prefill.h, with the same two integer
 * dots); the same bits as one matvec per token, which it falls back to
 * without memory for its buffer.
 *
 * Tables: values are decoded 8 at a time into a register pair (dec8) and go
 * through kern_neon.c's float order - one 8-lane accumulator fed by fma from
 * value off on, the last partial chunk zero-padded, then hsum8 - so each
 * result equals the NEON F32 kernel on the decoded values bitwise.
 */
#include "kern_quant_neon.h"

#include "bytes.h"
#include "cpu.h"
#include "kern_neon_v8.h"
#include "numeric.h"

#define QN(name) lkqn_##name##_base
#define QN_DOT(acc, w, x)                                                                            \
	vpadalq_s16(vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(x))), vmull_high_s8(w, x))
#include "kern_quant_neon_dense.h"

/* sdot by element without sdot: the weight group L broadcast, the 16 byte
 * products (exact in int16), pairs added into int32 (saddlp), then each
 * token's two pairs (addp): every token's 4-value dot in its lane. */
INL int32x4_t qp_dot4_base(int32x4_t acc, int8x16_t x, int8x16_t wb)
{
	int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(x), vget_low_s8(wb)));
	int32x4_t hi = vpaddlq_s16(vmull_high_s8(x, wb));
	return vaddq_s32(acc, vpaddq_s32(lo, hi));
}
#define QP(name) lkqnp_##name##_base
#define QP_DOT4(acc, x, w, L) \
	qp_dot4_base(acc, x, vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(w), L)))
#include "kern_quant_neon_prefill.h"

void lkq_matvec_neon(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *x, float *y)
{
	lkq_check_dense("lk_matvec", kdt, ld, cols);
	const int q8 = kdt == LQ_DTYPE_Q8_0;
	const size_t ldb = ld / 32 * (q8 ? 34 : 18), nb = cols / 32;
	if (nb == 0) {
		memset(y, 0, rows * sizeof *y);
		return;
	}
	if (lkq_vnni(LUTDB_CPU_ASIMDDP))
		lkqn_matvec_dotprod(q8, W, ldb, rows, nb, x, y);
	else
		lkqn_matvec_base(q8, W, ldb, rows, nb, x, y);
}

void lkq_matmul_neon(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *X, size_t T,
		     size_t ldx, float *Y, size_t ldy)
{
	lkq_check_dense("lk_matmul", kdt, ld, cols);
	const int q8 = kdt == LQ_DTYPE_Q8_0;
	const size_t ldb = ld / 32 * (q8 ? 34 : 18), nb = cols / 32;
	/* from one full register of tokens on; fewer go through matvecs */
	if (T >= 4 && nb > 0 && rows > 0) {
		int rc = lkq_vnni(LUTDB_CPU_ASIMDDP) ? lkqnp_prefill_dotprod(q8, W, ldb, rows, nb, X, T, ldx, Y, ldy)
						       : lkqnp_prefill_base(q8, W, ldb, rows, nb, X, T, ldx, Y, ldy);
		if (rc == 0)
			return;
	}
	for (size_t t = 0; t < T; t++)
		lkq_matvec_neon(kdt, W, ld, rows, cols, X + t * ldx, Y + t * ldy);
}

/* ---- table vectors ------------------------------------------------------------------- */
static const float *nf4 = lq_nf4_code, *nf3 = lq_nf3_code;

/* Values j .. j + 7 of the block at blk (j a multiple of 8), each the
 * float32 product code x F32(scale) as lq_dequantize() gives; t is a
 * constant at every call, so the switch folds away. */
INL v8f dec8(int t, const unsigned char *blk, size_t j)
{
	const unsigned char *c = blk + 2;
	const float d = lutdb_f16_to_f32(rd16(blk));
	switch (t) {
	case LQ_DTYPE_Q8_0:
		return cvt8_s16(vmovl_s8(vld1_s8((const int8_t *)(const void *)(c + j))), d);
	case LQ_DTYPE_Q4_0: {
		uint8x8_t b = vld1_u8(c + (j & 15));
		b = vand_u8(j >= 16 ? vshr_n_u8(b, 4) : b, vdup_n_u8(15));
		return cvt8_s16(vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(b)), vdupq_n_s16(8)), d);
	}
	case LQ_DTYPE_NF4: {
		/* value j + i is nibble i of the 32-bit word at byte j / 2 */
		uint32_t w = rd32(c + j / 2);
		float v[8];
		for (int i = 0; i < 8; i++)
			v[i] = nf4[(w >> (4 * i)) & 15u];
		v8f r = v8_ld(v);
		return v8_mul(r, v8_set1(d));
	}
	default: { /* NF3: three bytes, value i in bits 3i..3i+2 */
		const unsigned char *g = c + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		float v[8];
		for (int i = 0; i < 8; i++)
			v[i] = nf3[(w >> (3 * i)) & 7u];
		return v8_mul(v8_ld(v), v8_set1(d));
	}
	}
}

/* Lanes < n (n < 8) of v, the rest +0. */
INL v8f keep(v8f v, size_t n)
{
	float m[8] = {0};
	for (size_t i = 0; i < n; i++)
		m[i] = 1.0f;
	const v8f mv = v8_ld(m);
	v8f r = {vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v.lo), vcgtq_f32(mv.lo, vdupq_n_f32(0.0f)))),
		 vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v.hi), vcgtq_f32(mv.hi, vdupq_n_f32(0.0f))))};
	return r;
}

INL float tdot_at(int t, uint32_t B, size_t bb, qpos c, const float *b, size_t n)
{
	v8f acc = v8_zero();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		acc = v8_fma(dec8(t, c.blk, c.j), v8_ld(b + i), acc);
		qpos_adv(&c, B, bb, 8);
	}
	if (i < n)
		acc = v8_fma(keep(dec8(t, c.blk, c.j), n - i), ldx_part(b + i, n - i), acc);
	return hsum8(acc);
}

INL float tdot(int t, uint32_t B, size_t bb, const unsigned char *a, size_t off, const float *b, size_t n)
{
	return tdot_at(t, B, bb, qpos_at(a, B, bb, off), b, n);
}

INL void taxpy(int t, uint32_t B, size_t bb, float alpha, const unsigned char *x, size_t off, float *y, size_t n)
{
	qpos c = qpos_at(x, B, bb, off);
	const v8f al = v8_set1(alpha);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v8_st(y + i, v8_fma(al, dec8(t, c.blk, c.j), v8_ld(y + i)));
		qpos_adv(&c, B, bb, 8);
	}
	if (i < n)
		st_part(y + i, v8_fma(al, dec8(t, c.blk, c.j), ldx_part(y + i, n - i)), n - i);
}

INL void tcvt(int t, uint32_t B, size_t bb, const unsigned char *src, float *dst, size_t n)
{
	qpos c = qpos_at(src, B, bb, 0);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		v8_st(dst + i, dec8(t, c.blk, c.j));
		qpos_adv(&c, B, bb, 8);
	}
	if (i < n)
		st_part(dst + i, dec8(t, c.blk, c.j), n - i);
}

#define LKQ_ENTRY(name) name##_neon
#include "kern_quant_table_entry.h"
