/*
 * quant.h - the block-quantized element types of format 1.1 (library-internal,
 * prefix lq_).
 *
 *   Q8_0  ggml's: blocks of 32 values, F16 scale d + 32 int8     34 bytes
 *   Q4_0  ggml's: blocks of 32 values, F16 scale d + 16 bytes    18 bytes
 *   NF4   QLoRA NormalFloat4: blocks of B, F16 scale + B/2 bytes
 *   NF3   NormalFloat3: blocks of B, F16 scale + 3B/8 bytes
 *
 * spec/FORMAT.md section 10 is normative: byte layouts, every float32 step of
 * the quantizers, ties, the inputs they refuse.  quant.c implements it in
 * portable scalar C11 and must be compiled with -ffp-contract=off (and
 * FLT_EVAL_METHOD 0, checked at compile time) so that each step is rounded on
 * its own: then every build on every machine writes the same bytes.
 * tests/ref/quant_ref.py is the independent reference it is tested against.
 *
 * Every function is pure, thread-safe and allocates nothing.  A failure
 * returns a negative LUTDB_E* code and sets the calling thread's
 * lutdb_errdetail() (the type, block index and value involved).
 */
#ifndef LUTDB_QUANT_H
#define LUTDB_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dtype codes, pinned (the format's reserved range 16..63). */
#define LQ_DTYPE_Q8_0 16
#define LQ_DTYPE_Q4_0 17
#define LQ_DTYPE_NF4 18
#define LQ_DTYPE_NF3 19

/* Block sizes B.  Q8_0 and Q4_0 take only 32.  NF4 and NF3 take any multiple
 * of 32 from 32 to LQ_BLOCK_MAX (8192, one scale per vector up to d = 8192),
 * default 64. */
#define LQ_BLOCK_GGML 32
#define LQ_BLOCK_MAX 8192
#define LQ_BLOCK_DEFAULT_NF 64

/* 1 for the four codes above, else 0. */
int lq_is_quant(int dtype);

/* "Q8_0", "Q4_0", "NF4", "NF3" (the spec's and `info --json`'s spelling), or
 * NULL for any other code.  Static strings. */
const char *lq_name(int dtype);

/* The code for one of those exact names (case-sensitive), or 0; NULL -> 0. */
int lq_from_name(const char *name);

/* The block pack uses when none is given: 32 for Q8_0/Q4_0, 64 for NF4/NF3;
 * 0 for other codes. */
uint32_t lq_default_block(int dtype);

/* LUTDB_OK if block is allowed for dtype (see LQ_BLOCK_*), else LUTDB_EINVAL
 * with the rule in the detail ("NF4: block 48 is not a multiple of 32"). */
int lq_check_block(int dtype, uint32_t block);

/* For pack: LUTDB_OK if a vector of len values can be stored as whole blocks
 * (blocks never straddle vectors), else LUTDB_EINVAL naming the dimension:
 * dim is what len is called ("d", "dk"), e.g. "NF4 block 64 does not divide
 * dk = 48".  Checks the block first (lq_check_block). */
int lq_check_len(int dtype, uint32_t block, uint64_t len, const char *dim);

/* Bytes of one block: 34 (Q8_0), 18 (Q4_0), 2 + B/2 (NF4), 2 + 3B/8 (NF3);
 * 0 for an invalid dtype or block. */
uint64_t lq_block_bytes(int dtype, uint32_t block);

/* Bytes of n values, (n / B) blocks back to back (a token row, a tensor); 0
 * when dtype or block is invalid, n is 0 or not a multiple of block, or the
 * result would not fit in 64 bits. */
uint64_t lq_bytes(int dtype, uint32_t block, uint64_t n);

/* Quantizes x[0..n) into dst[0..lq_bytes(dtype, block, n)), block by block,
 * following the spec exactly.  x and dst must not overlap; dst may be
 * unaligned.
 *   LUTDB_EINVAL  bad dtype or block, n not a positive multiple of block,
 *                 NULL pointer (nothing written)
 *   LUTDB_ERANGE  a value is NaN or infinite, or a block's scale overflows
 *                 F16 (Q8_0 amax/127, Q4_0 max/-8, NF max|x| at or above
 *                 65520 in magnitude); the detail names the block and value
 * On an error the contents of dst are unspecified. */
int lq_quantize(int dtype, uint32_t block, const float *x, size_t n, void *dst);

/* lq_quantize on the scalar code alone: the reference the vector paths
 * (AVX2, AVX-512, picked at run time by lq_quantize) are tested against.
 * Same bytes, same errors. */
int lq_quantize_scalar(int dtype, uint32_t block, const float *x, size_t n, void *dst);

/* Which path lq_quantize takes on this CPU: 0 scalar, 2 AVX2, 3 AVX-512
 * (for tests and their messages). */
int lq_quantize_isa(void);

/* Decodes n values from src[0..lq_bytes(dtype, block, n)) into dst[0..n).
 * src is untrusted (a file's bytes): every byte pattern decodes except a
 * scale whose F16 exponent is all ones, which writers never store:
 *   LUTDB_EINVAL    bad dtype or block, n not a positive multiple of block,
 *                   NULL pointer (nothing written)
 *   LUTDB_ECORRUPT  a block's scale is infinite or NaN; the detail names the
 *                   block.  Blocks before it are decoded, the rest of dst is
 *                   unspecified.
 * Never reads outside src[0..lq_bytes) and never writes outside dst[0..n). */
int lq_dequantize(int dtype, uint32_t block, const void *src, size_t n, float *dst);

/* The NF code values, ascending (spec section 10.4): index i decodes to
 * code[i] * scale. */
extern const float lq_nf4_code[16];
extern const float lq_nf3_code[8];

/* The nearest-code rule as thresholds: split[i] is the largest float32 z
 * whose float32 distance to code[i] is at most its distance to code[i+1].
 * The index of z is the number of split[i] below z.  Pinned; the tests
 * re-derive them from the codes. */
extern const float lq_nf4_split[15];
extern const float lq_nf3_split[7];

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_QUANT_H */
