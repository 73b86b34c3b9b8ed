/*
 * kern_quant_avx512.c - AVX-512 (F/BW/VL/DQ) kernels of the block-quantized
 * types, with AVX512_VNNI for the dense integer dots when the CPU has it.
 *
 * Dense Q8_0/Q4_0: kern_quant_dense.h, included twice (vpmaddubsw and
 * vpdpbusd); the arithmetic is kernels.h's, identical on every ISA.
 *
 * Tables: values are decoded 16 at a time into a register (dec16) and go
 * through kern_avx512.c's float order - one 16-lane accumulator fed by fma
 * from value off on, the last partial chunk zero-masked, then hsum16 - so
 * each result equals the F32 kernel on the decoded values bitwise.
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <string.h>

#include "cpu.h"

#define INL static inline __attribute__((always_inline))

#include "kern_isa_avx512.h"
#include "kern_quant_simd.h"

#define QD(name) name##_base
#define QD_VNNI 0
#define QD_TARGET
#include "kern_quant_dense.h"
#undef QD
#undef QD_VNNI
#undef QD_TARGET

#define QD(name) name##_vnni
#define QD_VNNI 1
#define QD_TARGET __attribute__((target("avx512vnni")))
#define QD_DPBUSD(a, u, s) _mm256_dpbusd_epi32(a, u, s)
#include "kern_quant_dense.h"
#undef QD
#undef QD_VNNI
#undef QD_TARGET
#undef QD_DPBUSD

void lkq_matvec_avx512(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *x, float *y)
{
	lkq_check_dense("lk_matvec", kdt, ld, cols);
	const int q8 = kdt == LQ_DTYPE_Q8_0;
	const size_t ldb = ld / 32 * (q8 ? 34 : 18), nb = cols / 32;
	if (nb == 0) {
		memset(y, 0, rows * sizeof *y);
		return;
	}
	if (lkq_vnni(LUTDB_CPU_AVX512VNNI))
		matvec_vnni(q8, W, ldb, rows, nb, x, y);
	else
		matvec_base(q8, W, ldb, rows, nb, x, y);
}

void lkq_matmul_avx512(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *X, size_t T,
		       size_t ldx, float *Y, size_t ldy)
{
	lkq_check_dense("lk_matmul", kdt, ld, cols);
	const int q8 = kdt == LQ_DTYPE_Q8_0;
	/* from 4 tokens on, tokens in lanes beat matvecs even with most lanes idle */
	if (T >= 4 && cols > 0 && rows > 0 &&
	    lkq_prefill_avx512(q8, W, ld / 32 * (q8 ? 34 : 18), rows, cols / 32, X, T, ldx, Y, ldy) == 0)
		return;
	for (size_t t = 0; t < T; t++)
		lkq_matvec_avx512(kdt, W, ld, rows, cols, X + t * ldx, Y + t * ldy);
}

/* ---- table vectors ------------------------------------------------------------------- */
/* Values j .. j + 15 from c on (j a multiple of 8).  When they are not 16
 * values of one block that one load takes (a block boundary, or the two
 * nibble halves of a Q4_0 block), two dec8. */
INL __m512 dec16(int t, uint32_t B, size_t bb, qpos c)
{
	const size_t j = c.j;
	if (t == LQ_DTYPE_Q4_0 ? j % 16 != 0 : j + 16 > B) {
		qpos d = qpos_next(c, B, bb, 8);
		return _mm512_insertf32x8(_mm512_castps256_ps512(dec8(t, c.blk, j)), dec8(t, d.blk, d.j), 1);
	}
	const unsigned char *blk = c.blk, *cd = blk + 2;
	uint16_t h;
	memcpy(&h, blk, 2);
	const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
	__m512i q;
	switch (t) {
	case LQ_DTYPE_Q8_0:
		q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(cd + j)));
		return _mm512_mul_ps(_mm512_cvtepi32_ps(q), d);
	case LQ_DTYPE_Q4_0: {
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)cd);
		if (j == 16)
			b = _mm_srli_epi16(b, 4);
		q = _mm512_cvtepu8_epi32(_mm_and_si128(b, _mm_set1_epi8(15)));
		return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(8))), d);
	}
	case LQ_DTYPE_NF4: {
		/* value j + i is nibble i of the 64-bit word at byte j / 2 */
		uint64_t w;
		memcpy(&w, cd + j / 2, 8);
		q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)(uint32_t)w)),
				       _mm256_set1_epi32((int)(uint32_t)(w >> 32)), 1);
		q = _mm512_srlv_epi32(q, _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28));
		q = _mm512_and_si512(q, _mm512_set1_epi32(15));
		return _mm512_mul_ps(_mm512_permutexvar_ps(q, _mm512_loadu_ps(nf4)), d);
	}
	default: { /* NF3: two groups of 3 bytes */
		const unsigned char *g = cd + j / 8 * 3;
		uint32_t w0 = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		uint32_t w1 = (uint32_t)g[3] | (uint32_t)g[4] << 8 | (uint32_t)g[5] << 16;
		q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)w0)),
				       _mm256_set1_epi32((int)w1), 1);
		q = _mm512_srlv_epi32(q, _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 3, 6, 9, 12, 15, 18, 21));
		q = _mm512_and_si512(q, _mm512_set1_epi32(7));
		__m512 codes = _mm512_castps256_ps512(_mm256_loadu_ps(nf3));
		return _mm512_mul_ps(_mm512_permutexvar_ps(q, codes), d);
	}
	}
}

/* The last rem (1..15) values from c on, the other lanes +0: decodes only
 * the 8-value groups that hold them (the run may end after the first). */
INL __m512 dec_tail(int t, uint32_t B, size_t bb, qpos c, size_t rem)
{
	__m512 v = rem > 8 ? dec16(t, B, bb, c) : _mm512_castps256_ps512(dec8(t, c.blk, c.j));
	return _mm512_maskz_mov_ps((__mmask16)((1u << rem) - 1u), v);
}

/* The loops, for a constant type t (LKQ_BY_TYPE). */
INL float tdot_at(int t, uint32_t B, size_t bb, qpos c, const float *b, size_t n)
{
	__m512 acc = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		acc = _mm512_fmadd_ps(dec16(t, B, bb, c), _mm512_loadu_ps(b + i), acc);
		qpos_adv(&c, B, bb, 16);
	}
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
		acc = _mm512_fmadd_ps(dec_tail(t, B, bb, c, n - i), _mm512_maskz_loadu_ps(m, b + i), acc);
	}
	return hsum16(acc);
}

INL float tdot(int t, uint32_t B, size_t bb, const unsigned char *a, size_t off, const float *b, size_t n)
{
	return tdot_at(t, B, bb, qpos_at(a, B, bb, off), b, n);
}

INL void taxpy(int t, uint32_t B, size_t bb, float alpha, const unsigned char *x, size_t off, float *y, size_t n)
{
	qpos c = qpos_at(x, B, bb, off);
	const __m512 al = _mm512_set1_ps(alpha);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		_mm512_storeu_ps(y + i, _mm512_fmadd_ps(al, dec16(t, B, bb, c), _mm512_loadu_ps(y + i)));
		qpos_adv(&c, B, bb, 16);
	}
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
		__m512 v = _mm512_fmadd_ps(al, dec_tail(t, B, bb, c, n - i), _mm512_maskz_loadu_ps(m, y + i));
		_mm512_mask_storeu_ps(y + i, m, v);
	}
}

INL void tcvt(int t, uint32_t B, size_t bb, const unsigned char *src, float *dst, size_t n)
{
	qpos c = qpos_at(src, B, bb, 0);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		_mm512_storeu_ps(dst + i, dec16(t, B, bb, c));
		qpos_adv(&c, B, bb, 16);
	}
	if (i < n)
		_mm512_mask_storeu_ps(dst + i, (__mmask16)((1u << (n - i)) - 1u), dec_tail(t, B, bb, c, n - i));
}

#define LKQ_ENTRY(name) name##_avx512
#include "kern_quant_table_entry.h"
