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

/* Positions ahead whose bytes are prefetched (see kern_table_attn_avx2.c). */
#ifndef TA_PF_SCORES
#define TA_PF_SCORES 8
#endif
#ifndef TA_PF_VALUES
#define TA_PF_VALUES 3
#endif
/* Vectors of a position computed together. */
#define TA_R 4

#define DT_F32 LUTDB_DTYPE_F32
#define DT_F16 LUTDB_DTYPE_F16
#define DT_BF16 LUTDB_DTYPE_BF16

INL int is_float(int t)
{
	return t == DT_F32 || t == DT_F16 || t == DT_BF16;
}

/* ---- float types: kern_neon.c's loads -------------------------------------------------- */
INL size_t esz_of(int t)
{
	return t == DT_F32 ? 4 : 2;
}

INL v8f ldw(int t, const unsigned char *p)
{
	if (t == DT_F32)
		return v8_ld((const float *)(const void *)p);
	uint8x16_t b = vld1q_u8(p);
	v8f r;
	if (t == DT_F16) {
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

/* The first n (< 8) values at p, the rest +0; reads only those n. */
INL v8f ldw_part(int t, const unsigned char *p, size_t n)
{
	unsigned char buf[32] = {0};
	memcpy(buf, p, n * esz_of(t));
	return ldw(t, buf);
}

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

INL v8f cvt8_s16(int16x8_t q, float d) /* (float)q * d, 8 lanes */
{
	const float32x4_t vd = vdupq_n_f32(d);
	v8f r = {vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), vd),
		 vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(q)), vd)};
	return r;
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

/* ---- prefetch ------------------------------------------------------------------------ */
/* Bytes [first, last) of each of the N vectors from p on, ldb bytes apart:
 * every line. */
INL void prefetch_vectors(const unsigned char *p, size_t N, size_t ldb, size_t first, size_t last)
{
	for (size_t r = 0; r < N; r++) {
		const unsigned char *v = p + r * ldb;
		uintptr_t a = (uintptr_t)(v + first) & ~(uintptr_t)63, e = (uintptr_t)(v + last);
		for (; a < e; a += 64)
			__builtin_prefetch((const void *)a, 0, 3);
	}
}

/* The bytes values [off, off + n) of a vector occupy: whole blocks. */
INL void run_bytes(int t, uint32_t B, size_t bb, size_t off, size_t n, size_t *first, size_t *last)
{
	if (is_float(t)) {
		*first = off * esz_of(t);
		*last = (off + n) * esz_of(t);
	} else {
		*first = off / B * bb;
		*last = ((off + n - 1) / B + 1) * bb;
	}
}

/* ---- scores ---------------------------------------------------------------------------- */
/* y[r] = dot of vector r (R of them, ldb bytes apart from p) with q. */
INL void dots(int t, int R, uint32_t B, size_t bb, const unsigned char *p, size_t ldb, size_t off, size_t n,
	      const float *q, float *y)
{
	v8f acc[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		acc[r] = v8_zero();
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + 8 <= n; i += 8) {
			const v8f x = v8_ld(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = v8_fma(ldw(t, v + (size_t)r * ldb + i * es), x, acc[r]);
		}
		if (i < n) {
			const v8f x = ldx_part(q + i, n - i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = v8_fma(ldw_part(t, v + (size_t)r * ldb + i * es, n - i), x, acc[r]);
		}
	} else {
		const unsigned char *blk = p + off / B * bb;
		size_t j = off % B;
		bctx c[TA_R];
		UNROLL for (int r = 0; r < R; r++)
			c[r] = bctx_of(t, blk + (size_t)r * ldb);
		while (i + 8 <= n) {
			const v8f x = v8_ld(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = v8_fma(qdec8(t, blk + (size_t)r * ldb, j, &c[r]), x, acc[r]);
			i += 8;
			j += 8;
			if (j == B && i < n) { /* the next block (only when the run goes on: no read past it) */
				j = 0;
				blk += bb;
				UNROLL for (int r = 0; r < R; r++)
					c[r] = bctx_of(t, blk + (size_t)r * ldb);
			}
		}
		if (i < n) {
			const v8f x = ldx_part(q + i, n - i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = v8_fma(keep(qdec8(t, blk + (size_t)r * ldb, j, &c[r]), n - i), x, acc[r]);
		}
	}
	UNROLL for (int r = 0; r < R; r++)
		y[r] = hsum8(acc[r]);
}

INL void scores_t(int t, uint32_t B, size_t bb, const unsigned char *const *rows, size_t base, size_t npos,
		  size_t N, size_t ldb, size_t off, size_t n, const float *q, float *scores)
{
	size_t first, last;
	run_bytes(t, B, bb, off, n, &first, &last);
	for (size_t s = 0; s < npos && s < TA_PF_SCORES; s++)
		prefetch_vectors(rows[s] + base, N, ldb, first, last);
	for (size_t s = 0; s < npos; s++) {
		if (s + TA_PF_SCORES < npos)
			prefetch_vectors(rows[s + TA_PF_SCORES] + base, N, ldb, first, last);
		const unsigned char *p = rows[s] + base;
		float *y = scores + s * N;
		size_t r = 0;
		for (; r + TA_R <= N; r += TA_R)
			dots(t, TA_R, B, bb, p + r * ldb, ldb, off, n, q, y + r);
		for (; r < N; r++)
			dots(t, 1, B, bb, p + r * ldb, ldb, off, n, q, y + r);
	}
}

/* ---- value sums ------------------------------------------------------------------------ */
/* y[i] = fma(w[R-1], v_{R-1}[i], ... fma(w[0], v_0[i], y[i])): R vectors
 * ldb bytes apart from p, in order. */
INL void sums(int t, int R, uint32_t B, size_t bb, const unsigned char *p, size_t ldb, size_t off, size_t n,
	      const float *w, float *y)
{
	v8f al[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		al[r] = v8_set1(w[r]);
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + 8 <= n; i += 8) {
			v8f a = v8_ld(y + i);
			UNROLL for (int r = 0; r < R; r++)
				a = v8_fma(al[r], ldw(t, v + (size_t)r * ldb + i * es), a);
			v8_st(y + i, a);
		}
		if (i < n) {
			v8f a = ldx_part(y + i, n - i);
			UNROLL for (int r = 0; r < R; r++)
				a = v8_fma(al[r], ldw_part(t, v + (size_t)r * ldb + i * es, n - i), a);
			st_part(y + i, a, n - i);
		}
		return;
	}
	const unsigned char *blk = p + off / B * bb;
	size_t j = off % B;
	bctx c[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		c[r] = bctx_of(t, blk + (size_t)r * ldb);
	while (i + 8 <= n) {
		v8f a = v8_ld(y + i);
		UNROLL for (int r = 0; r < R; r++)
			a = v8_fma(al[r], qdec8(t, blk + (size_t)r * ldb, j, &c[r]), a);
		v8_st(y + i, a);
		i += 8;
		j += 8;
		if (j == B && i < n) {
			j = 0;
			blk += bb;
			UNROLL for (int r = 0; r < R; r++)
				c[r] = bctx_of(t, blk + (size_t)r * ldb);
		}
	}
	if (i < n) {
		v8f a = ldx_part(y + i, n - i);
		UNROLL for (int r = 0; r < R; r++)
			a = v8_fma(al[r], qdec8(t, blk + (size_t)r * ldb, j, &c[r]), a);
		st_part(y + i, a, n - i);
	}
}

INL void values_t(int t, uint32_t B, size_t bb, const unsigned char *const *rows, size_t base, size_t npos,
		  size_t N, size_t ldb, size_t off, size_t n, const float *w, float *out)
{
	size_t first, last;
	run_bytes(t, B, bb, off, n, &first, &last);
	memset(out, 0, n * sizeof *out);
	for (size_t s = 0; s < npos && s < TA_PF_VALUES; s++)
		prefetch_vectors(rows[s] + base, N, ldb, first, last);
	for (size_t s = 0; s < npos; s++) {
		if (s + TA_PF_VALUES < npos)
			prefetch_vectors(rows[s + TA_PF_VALUES] + base, N, ldb, first, last);
		const unsigned char *p = rows[s] + base;
		const float *ws = w + s * N;
		size_t r = 0;
		for (; r + TA_R <= N; r += TA_R)
			sums(t, TA_R, B, bb, p + r * ldb, ldb, off, n, ws + r, out);
		for (; r < N; r++)
			sums(t, 1, B, bb, p + r * ldb, ldb, off, n, ws + r, out);
	}
}

/* ---- entry points: one loop per type, the type a constant in it -------------------------- */
/* F(type, B, block bytes, ...) with the type and, for Q8_0 and Q4_0, the
 * block as constants (kern_quant_neon.c's LKQ_BY_TYPE). */
#define QBY_TYPE(kdt, F, ...)                                                                       \
	switch (lkq_type(kdt)) {                                                                    \
	case LQ_DTYPE_Q8_0: F(LQ_DTYPE_Q8_0, 32, 34, __VA_ARGS__); break;                           \
	case LQ_DTYPE_Q4_0: F(LQ_DTYPE_Q4_0, 32, 18, __VA_ARGS__); break;                           \
	case LQ_DTYPE_NF4: F(LQ_DTYPE_NF4, lkq_block(kdt), 2 + lkq_block(kdt) / 2, __VA_ARGS__); break; \
	default: F(LQ_DTYPE_NF3, lkq_block(kdt), 2 + lkq_block(kdt) / 8 * 3, __VA_ARGS__); break;      \
	}

/* Bytes from one vector to the next (ld whole blocks), and the checks of
 * the per-vector kernels. */
static size_t vector_bytes(int kdt, size_t ld, size_t off, const char *where)
{
	if (is_float(kdt))
		return ld * esz_of(kdt);
	lkq_check_table(where, kdt, off);
	size_t ldb = lk_dt_bytes(kdt, ld);
	if (ldb == 0 && ld != 0)
		lk_bad_dtype(where, kdt);
	return ldb;
}

#define BY_KDT(kdt, F, ...)                                                                          \
	switch (kdt) {                                                                               \
	case DT_F32: F(DT_F32, 1, 4, __VA_ARGS__); break;                                            \
	case DT_F16: F(DT_F16, 1, 2, __VA_ARGS__); break;                                            \
	case DT_BF16: F(DT_BF16, 1, 2, __VA_ARGS__); break;                                          \
	default: QBY_TYPE(kdt, F, __VA_ARGS__)                                                    \
	}

static void scores_neon(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N, size_t ld,
			size_t off, size_t n, const float *q, float *scores)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_scores");
	if (n == 0) {
		memset(scores, 0, npos * N * sizeof *scores);
		return;
	}
	BY_KDT(kdt, scores_t, rows, base, npos, N, ldb, off, n, q, scores)
}

static void values_neon(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N, size_t ld,
			size_t off, size_t n, const float *w, float *out)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_values");
	if (n == 0)
		return;
	BY_KDT(kdt, values_t, rows, base, npos, N, ldb, off, n, w, out)
}

const lk_table_attn lk_table_attn_neon = {
	.name = "neon",
	.scores = scores_neon,
	.values = values_neon,
};
