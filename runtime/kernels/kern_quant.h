/*
 * kern_quant.h - library-internal: the kernel dtype codes of the
 * block-quantized types (kernels.h, "block-quantized types"), the checks
 * every ISA's quantized entry points share, the ISA-neutral pieces of the
 * SIMD table kernels (qpos, LKQ_BY_TYPE), and those entry points.
 *
 * Per ISA (kern_quant_scalar.c, kern_quant_avx2.c, kern_quant_avx512.c,
 * kern_quant_neon.c):
 *   lkq_matvec_<isa>, lkq_matmul_<isa>   Q8_0/Q4_0 dense weights, integer dots
 *   lkq_table_dot_<isa>, lkq_table_matvec_<isa> (rows ldb bytes apart),
 *   lkq_table_axpy_<isa>, lkq_to_f32_<isa>
 *                                        every quantized kdt, float32 on the
 *                                        exact values
 * Each ISA's lk_kernels table routes quantized codes there; the float codes
 * never reach them.
 */
#ifndef LUTDB_KERN_QUANT_H
#define LUTDB_KERN_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "quant.h"

/* kdt = dtype | block << LKQ_BLOCK_SHIFT for NF4/NF3; the bare code for the
 * others (their block is implied). */
#define LKQ_BLOCK_SHIFT 8

/* Activation chunk of the dense kernels: x is quantized LKQ_CHUNK_BLOCKS
 * blocks (8192 values) at a time into a buffer on the stack; longer rows take
 * several passes, which the block-order fma chain makes exact (the partial
 * sum is y itself between passes). */
#define LKQ_CHUNK_BLOCKS 256

static inline int lkq_type(int kdt)
{
	return kdt & ((1 << LKQ_BLOCK_SHIFT) - 1);
}

static inline uint32_t lkq_block(int kdt)
{
	int t = lkq_type(kdt);
	if (t == LQ_DTYPE_Q8_0 || t == LQ_DTYPE_Q4_0)
		return 32;
	return (uint32_t)kdt >> LKQ_BLOCK_SHIFT;
}

/* 1 for a valid quantized kdt (any of the four types with a valid block). */
static inline int lkq_valid(int kdt)
{
	if (kdt <= 0)
		return 0;
	int t = lkq_type(kdt);
	uint32_t b = (uint32_t)kdt >> LKQ_BLOCK_SHIFT;
	if (t == LQ_DTYPE_Q8_0 || t == LQ_DTYPE_Q4_0)
		return b == 0;
	if (t == LQ_DTYPE_NF4 || t == LQ_DTYPE_NF3)
		return b >= 32 && b <= LQ_BLOCK_MAX && b % 32 == 0;
	return 0;
}

/* 1 for Q8_0 and Q4_0, the dense weight types. */
static inline int lkq_dense(int kdt)
{
	return kdt == LQ_DTYPE_Q8_0 || kdt == LQ_DTYPE_Q4_0;
}

/* Bytes of one block of a valid quantized kdt. */
static inline size_t lkq_block_bytes(int kdt)
{
	switch (lkq_type(kdt)) {
	case LQ_DTYPE_Q8_0: return 34;
	case LQ_DTYPE_Q4_0: return 18;
	case LQ_DTYPE_NF4: return 2 + lkq_block(kdt) / 2;
	default: return 2 + lkq_block(kdt) / 8 * 3;
	}
}

/* The SIMD table kernels' position in a quantized run; always inlined, as
 * the rest of their loops, so a constant n and B fold into them. */
#define LKQ_INL static inline __attribute__((always_inline))

/* Where value e of a quantized run is: its block and its index there. */
typedef struct {
	const unsigned char *blk;
	size_t j;
} qpos;

LKQ_INL qpos qpos_at(const unsigned char *p, uint32_t B, size_t bb, size_t e)
{
	qpos c = {p + e / B * bb, e % B};
	return c;
}

/* n (<= B) values on. */
LKQ_INL void qpos_adv(qpos *c, uint32_t B, size_t bb, size_t n)
{
	c->j += n;
	if (c->j >= B) {
		c->j -= B;
		c->blk += bb;
	}
}

/* The next position n values on (<= B), without moving c. */
LKQ_INL qpos qpos_next(qpos c, uint32_t B, size_t bb, size_t n)
{
	qpos_adv(&c, B, bb, n);
	return c;
}

/* Calls F(type, B, block bytes, ...) for a valid quantized kdt with the type
 * and, for Q8_0 and Q4_0, the block as constants, so each type gets its own
 * loop in the SIMD table kernels (the bytes are lkq_block_bytes()'s). */
#define LKQ_BY_TYPE(kdt, F, ...)                                                                    \
	switch (lkq_type(kdt)) {                                                                    \
	case LQ_DTYPE_Q8_0: F(LQ_DTYPE_Q8_0, 32, 34, __VA_ARGS__); break;                           \
	case LQ_DTYPE_Q4_0: F(LQ_DTYPE_Q4_0, 32, 18, __VA_ARGS__); break;                           \
	case LQ_DTYPE_NF4: F(LQ_DTYPE_NF4, lkq_block(kdt), 2 + lkq_block(kdt) / 2, __VA_ARGS__); break; \
	default: F(LQ_DTYPE_NF3, lkq_block(kdt), 2 + lkq_block(kdt) / 8 * 3, __VA_ARGS__); break;      \
	}

/* Aborts unless kdt is Q8_0/Q4_0 and the shape has whole blocks. */
void lkq_check_dense(const char *where, int kdt, size_t ld, size_t cols);
/* Aborts unless kdt is a valid quantized kdt and off a multiple of 8. */
void lkq_check_table(const char *where, int kdt, size_t off);

/* 1 when the dense kernels may use VNNI now (CPU feature feat, not turned
 * off by LUTDB_VNNI=0 or lk_set_vnni(0)). */
int lkq_vnni(unsigned feat);

#define LKQ_DECLARE(isa)                                                                           \
	void lkq_matvec_##isa(int kdt, const void *W, size_t ld, size_t rows, size_t cols,          \
			      const float *x, float *y);                                            \
	void lkq_matmul_##isa(int kdt, const void *W, size_t ld, size_t rows, size_t cols,          \
			      const float *X, size_t T, size_t ldx, float *Y, size_t ldy);          \
	float lkq_table_dot_##isa(int kdt, const void *a, size_t off, const float *b, size_t n);    \
	void lkq_table_matvec_##isa(int kdt, const void *W, size_t ldb, size_t off, size_t rows,    \
				    size_t n, const float *x, float *y);                            \
	void lkq_table_axpy_##isa(int kdt, float alpha, const void *x, size_t off, float *y,        \
				  size_t n);                                                        \
	void lkq_to_f32_##isa(int kdt, const void *src, float *dst, size_t n);

LKQ_DECLARE(scalar)
LKQ_DECLARE(avx2)
LKQ_DECLARE(avx512)
LKQ_DECLARE(neon)

/* Prefill with tokens in lanes (kern_quant_prefill.h): Q8_0 (q8 1) or
 * Q4_0 rows of ldb bytes, nb blocks; Y as lk_matmul.  -1 without memory
 * for its buffer (nothing written), else 0. */
int lkq_prefill_avx512(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		       size_t ldx, float *Y, size_t ldy);
int lkq_prefill_avx2(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		     size_t ldx, float *Y, size_t ldy);

#endif
