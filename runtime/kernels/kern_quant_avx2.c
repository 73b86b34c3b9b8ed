/*
 * kern_quant_avx2.c - AVX2 (+FMA, F16C) kernels of the block-quantized
 * types, with AVX-VNNI for the dense integer dots when the CPU has it.
 *
 * Dense Q8_0/Q4_0: kern_quant_dense.h, included twice (vpmaddubsw and
 * vpdpbusd); the arithmetic is kernels.h's, identical on every ISA.
 *
 * Tables: values are decoded 8 at a time into a register (dec8) and go
 * through kern_avx2.c's float order - one 8-lane accumulator fed by fma
 * from value off on, the last partial chunk zero-padded, then hsum8 - so
 * each result equals the F32 kernel on the decoded values bitwise.
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <string.h>

#include "cpu.h"

#define INL static inline __attribute__((always_inline))

#include "kern_isa_avx2.h"
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
#define QD_TARGET __attribute__((target("avxvnni")))
#define QD_DPBUSD(a, u, s) _mm256_dpbusd_avx_epi32(a, u, s)
#include "kern_quant_dense.h"
#undef QD
#undef QD_VNNI
#undef QD_TARGET
#undef QD_DPBUSD

void lkq_matvec_avx2(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *x, float *y)
{
	lkq_check_dense("lk_matvec", kdt, ld, cols);
	const int q8 = kdt == LQ_DTYPE_Q8_0;
	const size_t ldb = ld / 32 * (q8 ? 34 : 18), nb = cols / 32;
	if (nb == 0) {
		memset(y, 0, rows * sizeof *y);
		return;
	}
	if (lkq_vnni(LUTDB_CPU_AVXVNNI))
		matvec_vnni(q8, W, ldb, rows, nb, x, y);
	else
		matvec_base(q8, W, ldb, rows, nb, x, y);
}

void lkq_matmul_avx2(int kdt, const void *W, size_t ld, size_t rows, size_t cols, const float *X, size_t T,
		     size_t ldx, float *Y, size_t ldy)
{
	lkq_check_dense("lk_matmul", kdt, ld, cols);
	const int q8 = kdt == LQ_DTYPE_Q8_0;
	/* from 4 tokens on, tokens in lanes beat matvecs even with most lanes idle */
	if (T >= 4 && cols > 0 && rows > 0 &&
	    lkq_prefill_avx2(q8, W, ld / 32 * (q8 ? 34 : 18), rows, cols / 32, X, T, ldx, Y, ldy) == 0)
		return;
	for (size_t t = 0; t < T; t++)
		lkq_matvec_avx2(kdt, W, ld, rows, cols, X + t * ldx, Y + t * ldy);
}

/* ---- table vectors ------------------------------------------------------------------- */
/* The loops, for a constant type t (LKQ_BY_TYPE). */
INL float tdot_at(int t, uint32_t B, size_t bb, qpos c, const float *b, size_t n)
{
	__m256 acc = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		acc = _mm256_fmadd_ps(dec8(t, c.blk, c.j), _mm256_loadu_ps(b + i), acc);
		qpos_adv(&c, B, bb, 8);
	}
	if (i < n)
		acc = _mm256_fmadd_ps(keep(dec8(t, c.blk, c.j), n - i), ldx_part(b + i, n - i), acc);
	return hsum8(acc);
}

INL float tdot(int t, uint32_t B, size_t bb, const unsigned char *a, size_t off, const float *b, size_t n)
{
	return tdot_at(t, B, bb, qpos_at(a, B, bb, off), b, n);
}

INL void taxpy(int t, uint32_t B, size_t bb, float alpha, const unsigned char *x, size_t off, float *y, size_t n)
{
	qpos c = qpos_at(x, B, bb, off);
	const __m256 al = _mm256_set1_ps(alpha);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(al, dec8(t, c.blk, c.j), _mm256_loadu_ps(y + i)));
		qpos_adv(&c, B, bb, 8);
	}
	if (i < n) {
		float buf[8];
		_mm256_storeu_ps(buf, _mm256_fmadd_ps(al, dec8(t, c.blk, c.j), ldx_part(y + i, n - i)));
		memcpy(y + i, buf, (n - i) * sizeof(float));
	}
}

INL void tcvt(int t, uint32_t B, size_t bb, const unsigned char *src, float *dst, size_t n)
{
	qpos c = qpos_at(src, B, bb, 0);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		_mm256_storeu_ps(dst + i, dec8(t, c.blk, c.j));
		qpos_adv(&c, B, bb, 8);
	}
	if (i < n) {
		float buf[8];
		_mm256_storeu_ps(buf, dec8(t, c.blk, c.j));
		memcpy(dst + i, buf, (n - i) * sizeof(float));
	}
}

#define LKQ_ENTRY(name) name##_avx2
#include "kern_quant_table_entry.h"
