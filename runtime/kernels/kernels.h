/*
 * kernels.h - compute kernels of the decoding engine (internal API, prefix lk_).
 *
 * Every kernel exists as portable scalar C and, per architecture, for its
 * SIMD instruction sets: on x86-64 AVX2 (+FMA, F16C) and AVX-512
 * (F/BW/VL/DQ), on aarch64 NEON (ASIMD, ARMv8.0; the Q8_0/Q4_0 dense kernels
 * also with the ARMv8.2 dot product).  A build has the tables of its own
 * architecture only (the Makefile's ARCH).  The best one the CPU supports is
 * chosen once, at the first call; the environment variable
 * LUTDB_ISA=scalar|avx2|avx512|neon overrides the choice (an ISA the CPU
 * lacks falls back to the best supported one below it, an unknown word or
 * another architecture's ISA to the best).  Tests and benches may switch with
 * lk_set_isa() or call one ISA's table (lk_kernels_for()).
 *
 * Weights ("W", "w", "a", "x" in a dtype) are read in place: any pointer may
 * be unaligned (F32 weights even at odd addresses); they are converted to
 * float32 in registers (F16 exactly via F16C, BF16 exactly by a shift; the
 * portable kernels use format/numeric's conversions, so every ISA gives the
 * bits lutdb_convert gives, NaNs included) and all arithmetic is float32.
 * dtype is LUTDB_DTYPE_F32, _F16 or _BF16 (see lutdb_types.h) or a
 * block-quantized kernel dtype (section "block-quantized types" below says
 * which kernels take which); any other code is a programming error and
 * aborts.
 *
 * Determinism: within one ISA the value of every output element depends only
 * on the input values - never on the thread count, on how rows or tokens are
 * split between calls, or on pointer alignment.  Reductions use a fixed
 * blocking from element 0 and a fixed reduction tree per ISA; there is no
 * alignment peeling and no atomics.  Stronger, and tested:
 *   - lk_matvec row r == lk_dot(W + r*ld, x) bitwise, whatever rows/blocking;
 *   - lk_matmul column t == lk_matvec with x = X[t] bitwise (prefill and
 *     decode produce identical logits).
 * Different ISAs may differ in the last bits (they are compared with
 * tolerances in tests/unit/test_kernels.c and test_kernels_vector.c), except
 * the dense Q8_0/Q4_0 kernels, whose arithmetic is fixed for every ISA
 * (below) and tested bitwise (test_kernels_quant.c).
 *
 * Buffers: outputs must not overlap inputs unless stated (rmsnorm allows
 * out == x; gelu/softmax/rope work in place).  Sizes of 0 are no-ops.
 */
#ifndef LUTDB_KERNELS_H
#define LUTDB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lk_pool;

/* ---- instruction sets ----------------------------------------------------- */
enum lk_isa { LK_ISA_SCALAR = 0, LK_ISA_AVX2 = 1, LK_ISA_AVX512 = 2, LK_ISA_NEON = 3, LK_ISA_COUNT = 4 };

/* 1 when this CPU (and OS) can run isa. SCALAR always can. */
int lk_isa_supported(int isa);
/* Best supported ISA (ignores LUTDB_ISA). */
int lk_isa_best(void);
/* ISA in use (after LUTDB_ISA and lk_set_isa). */
int lk_isa_active(void);
/* "scalar", "avx2", "avx512", "neon", or NULL for an unknown code. */
const char *lk_isa_name(int isa);
/* The ISA that LUTDB_ISA=value selects: value's ISA if supported, else the
 * best supported one below it; NULL, empty or unknown words: the best. */
int lk_isa_from_env(const char *value);
/* Selects isa for all following lk_* calls of the process; returns 0, or
 * LUTDB_EUNSUPPORTED (CPU lacks it) / LUTDB_EINVAL (unknown code).  Meant for
 * tests and benches: not to be called while other threads run kernels. */
int lk_set_isa(int isa);

/* ---- kernels (dispatch to the active ISA) ---------------------------------- */

/* y[r] = sum_c W[r*ld + c] * x[c] for r < rows, c < cols.  ld >= cols is in
 * elements.  The decode hot path: streams W once. */
void lk_matvec(int dtype, const void *W, size_t ld, size_t rows, size_t cols, const float *x,
	       float *y);

/* Y[t*ldy + r] = sum_c W[r*ld + c] * X[t*ldx + c] for t < T, r < rows:
 * prefill of T tokens.  Bitwise equal to T calls of lk_matvec. */
void lk_matmul(int dtype, const void *W, size_t ld, size_t rows, size_t cols, const float *X,
	       size_t T, size_t ldx, float *Y, size_t ldy);

/* sum_i a[i] * b[i]; bitwise equal to a one-row lk_matvec. */
float lk_dot(int dtype, const void *a, const float *b, size_t n);

/* y[i] += alpha * x[i] (mixing expert rows). */
void lk_axpy(int dtype, float alpha, const void *x, float *y, size_t n);

/* dst[i] = (float)src[i] (exact). */
void lk_to_f32(int dtype, const void *src, float *dst, size_t n);

/* out[i] = w[i] * (x[i] * (1 / sqrtf(mean(x^2) + eps))), PyTorch's
 * weight * (x * rsqrt(var + eps)); mean accumulated in float32 in a fixed
 * order.  out may equal x. */
void lk_rmsnorm(float *out, const float *x, int wdtype, const void *w, size_t n, float eps);

/* In place x = 0.5 * x * (1 + erf(x / sqrt(2))) (exact-erf GELU).  Max abs
 * error <= 2e-7 * max(1, |x|); gelu(+inf) = +inf, gelu(-inf) = -0 (the
 * limit), NaN stays NaN. */
void lk_gelu_erf(float *x, size_t n);

/* In place softmax: x = exp(x - max) / sum.  Results below FLT_MIN may be
 * flushed to 0.  All -inf (or any NaN) gives NaN, as PyTorch. */
void lk_softmax(float *x, size_t n);

/* In place x = e^x, max error ~1 ulp (correct to within 2 ulp including
 * subnormal results); e^x overflows to +inf above 88.72, underflows to 0
 * below -103.97; NaN stays NaN.  Element-wise: a result depends only on its
 * input (the sampler relies on that). */
void lk_exp(float *x, size_t n);

/* In place rotate-half RoPE on one head: v' = v*cos + rotate_half(v)*sin,
 * rotate_half(v) = cat(-v[h:], v[:h]), h = head_dim/2 (head_dim even).
 * Products and the sum are rounded separately, exactly like PyTorch. */
void lk_rope(float *v, size_t head_dim, const float *cos, const float *sin);

/* cos/sin tables (head_dim floats each, concat(angles, angles)) for position
 * pos, computed exactly as transformers' default RoPE in float32:
 * inv_freq[i] = 1 / powf(theta, (float)(2i) / (float)head_dim),
 * angle = (float)pos * inv_freq[i], cos = cosf(angle), sin = sinf(angle). */
void lk_rope_table(float *cos, float *sin, size_t head_dim, float theta, uint32_t pos);

/* ---- multi-threaded helpers ------------------------------------------------ */
/* lk_matvec / lk_matmul with rows split over pool's threads (row ranges
 * aligned to 16).  pool may be NULL (single-threaded).  Results are bitwise
 * those of the single-threaded call. */
void lk_matvec_mt(struct lk_pool *pool, int dtype, const void *W, size_t ld, size_t rows,
		  size_t cols, const float *x, float *y);
void lk_matmul_mt(struct lk_pool *pool, int dtype, const void *W, size_t ld, size_t rows,
		  size_t cols, const float *X, size_t T, size_t ldx, float *Y, size_t ldy);

/* ---- block-quantized types ----------------------------------------------------
 * Q8_0, Q4_0, NF4 and NF3 (format/quant/quant.h; spec/FORMAT.md section 10
 * gives every byte): blocks of B values, each an F16 scale and B small codes.
 * A kernel dtype ("kdt") is the element type with its block size:
 *
 *   kdt = lk_dt(dtype, B)
 *
 * LUTDB_DTYPE_F32/_F16/_BF16 are their own kdt (B = 1), and so are
 * LQ_DTYPE_Q8_0 and LQ_DTYPE_Q4_0 (B = 32, the only block they have), so a
 * tensor's stored dtype code can be passed as it is.  NF4 and NF3 carry B
 * (a multiple of 32 up to 8192) in the code: lk_dt(LQ_DTYPE_NF4, 64) is
 * LQ_DTYPE_NF4 | 64 << 8.  Every kernel that takes a dtype takes a kdt.
 *
 * Quantized data is read in place at any alignment.  A run of n values is
 * n / B blocks back to back, lk_dt_bytes(kdt, n) bytes; a pointer to
 * quantized values points at the start of a block, and the kernels read the
 * whole blocks of the values they use.  A row of a quantized matrix with
 * leading dimension ld (values, a multiple of B) is lk_dt_bytes(kdt, ld)
 * bytes.  Values decode exactly as spec 10 and lq_dequantize() say: one
 * float32 product F32(scale) x code.  Nothing is validated here (the store
 * checks sizes; a kdt or shape that breaks the rules below aborts as any
 * invalid dtype does): a NaN or infinite F16 scale from a damaged file is
 * used as it is, so the outputs that read its block become NaN or +-inf;
 * nothing traps, other outputs do not change.
 *
 * Dense weights: lk_matvec, lk_matmul, lk_dot and the _mt helpers take
 * Q8_0 and Q4_0 (not NF4/NF3) with cols, ld and (for lk_dot) n multiples of
 * 32, and compute with integer dot products.  Each call quantizes its
 * activation x (each token of X) in blocks of 32, like ggml's q8_0 but with
 * a float32 scale and ties to even:
 *
 *   for block k of x (values x_j, j < 32):
 *     a value is NaN or infinite:  dx_k = NaN and every q_j = 0
 *     amax = max |x_j| (exact) = 0:  dx_k = 0 and every q_j = 0
 *     else  dx_k = amax / 127,  id = 127 / amax   (float32 divisions; id = 0
 *           when 127 / amax overflows, i.e. amax < about 3.7e-37, so every
 *           q_j = 0)
 *           q_j = x_j * id (a float32 product) rounded to the nearest
 *           integer, ties to even; |q_j| <= 127
 *
 * Then, with d_k the F16 scale of the weights' block k and w_kj its integer
 * codes (Q8_0: q; Q4_0: q - 8):
 *
 *   isum_k = sum_j w_kj * q_j                  exact (|isum_k| < 2^19)
 *   s_k    = F32(d_k) * dx_k                   a float32 product
 *   y      = fma(s_K, isum_K, ... fma(s_1, isum_1, fma(s_0, isum_0, +0.0)))
 *
 * one fused multiply-add per block, in block order (K = cols / 32 - 1).  The
 * portable kernels compute exactly this (fmaf), and the SIMD ones, with or
 * without VNNI, compute the same integers and the same float32 operations:
 * these kernels give the same bits on every ISA, for any blocking, row split,
 * thread count or alignment; matmul equals matvec and dot bitwise as for the
 * float types.  A NaN activation gives NaN outputs, an infinite one NaN too.
 * The error against the float32 product with the exact weights is the
 * activation rounding, at most dx_k / 2 per value (0.4% of the block's
 * largest magnitude; ~0.5% relative RMS on y for normal data, measured in
 * test_kernels_quant), plus the float32 roundings of the chain.
 *
 * (How: a matvec tile keeps 8 rows in the lanes of a register and reduces
 * each row's integer partial sums with a transposing tree; lk_matmul from 4
 * tokens on, with AVX512_VNNI, puts 16 tokens in the lanes instead and needs
 * no reduction.  kern_quant_dense.h and kern_quant_prefill_avx512.c.  On
 * NEON the matvec is kern_quant_neon_dense.h, and lk_matmul from 4 tokens
 * puts 4 tokens in the lanes (smull + saddlp + addp, or sdot by element):
 * kern_quant_neon_prefill.h.)
 *
 * Table vectors: lk_table_* below (and lk_axpy, lk_to_f32) take every kdt
 * and compute in float32 on the exact values, decoded in registers (no row
 * of floats in memory): each gives bitwise what the same ISA's
 * LUTDB_DTYPE_F32 kernel gives on lq_dequantize()'s output. */

/* The kdt of dtype with block B: the float types need B 0 or 1, Q8_0 and
 * Q4_0 B 0 or 32, NF4 and NF3 a multiple of 32 from 32 to 8192.  0 when the
 * pair is invalid. */
int lk_dt(int dtype, uint32_t block);
/* The element type of a valid kdt (LUTDB_DTYPE_* or LQ_DTYPE_*), its block
 * size (1 for the float types), and the bytes of n values: 0 when kdt is
 * invalid or n is not a multiple of the block. */
int lk_dt_dtype(int kdt);
uint32_t lk_dt_block(int kdt);
size_t lk_dt_bytes(int kdt, size_t n);

/* Table vectors (MoLE expert vectors, MoLKV keys and values): values
 * [off, off + n) of vectors stored from p on, for every kdt.  For a
 * quantized kdt, p is the start of a block and off a multiple of 8. */
/* sum_i v[off + i] * b[i] == lk_dot(LUTDB_DTYPE_F32, v + off, b, n). */
float lk_table_dot(int kdt, const void *a, size_t off, const float *b, size_t n);
/* y[i] += alpha * v[off + i] == lk_axpy(LUTDB_DTYPE_F32, ...). */
void lk_table_axpy(int kdt, float alpha, const void *x, size_t off, float *y, size_t n);
/* y[r] = lk_table_dot of row r, rows ld values apart (ld a multiple of the
 * block): the N keys of a MoLKV row. */
void lk_table_matvec(int kdt, const void *W, size_t ld, size_t off, size_t rows, size_t n,
		     const float *x, float *y);

/* ---- MoLKV: one expert head over a window, one call each (kern_table_attn*.c) ----
 * A MoLKV layer keeps, per position s of a sequence, N key vectors of dk
 * values and N value vectors of d values in the token row of the id there;
 * an expert head scores its query chunk against every key's chunk of every
 * position in its window and sums the value chunks with the softmax of the
 * scores.  Rows are not contiguous (each position's row is wherever its id's
 * row is), so positions come as an array of row pointers: position s's N
 * vectors of ld values start at rows[s] + base (bytes; vector r at
 * r * lk_dt_bytes(kdt, ld) bytes on, ld whole blocks), and each call reads
 * values [off, off + n) of every one (a quantized kdt: off a multiple of 8;
 * a chunk may be part of a block, whose scale still applies).  rows[] and
 * the rows are read only during the call.
 *
 * Bits: within one ISA each output is exactly what the per-vector table
 * kernels give - a score is that ISA's lk_table_dot of its vector, the
 * value sum that ISA's lk_table_axpy of every vector in order (s, then r)
 * into zeros - so the whole head's result does not depend on the call's
 * blocking, prefetching, the thread count or the window's start, and a
 * prefill gives the bits of an incremental decode.  Across ISAs they differ
 * as the table kernels do (fused or separate rounding, 8 or 16 lanes): a
 * SIMD table's score is within (n + 16) u sum_i |v_i q_i| of the scalar
 * table's, a value sum within 2 (npos N + 1) u sum |w v| (u = 2^-24; NaN
 * where the scalar one is NaN, the same infinity where it is infinite).
 * tests/unit/test_kernels_qtable.c checks both. */
/* scores[s * N + r] = lk_table_dot(kdt, vector r of position s, off, q, n)
 * for s < npos, r < N. */
void lk_table_attn_scores(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
			  size_t ld, size_t off, size_t n, const float *q, float *scores);
/* out[i] = sum over s < npos, r < N in that order of
 * w[s * N + r] * value off + i of vector r of position s, for i < n: out
 * zeroed, then lk_table_axpy(kdt, w[s * N + r], ...) one vector after the
 * other.  out must not overlap w. */
void lk_table_attn_values(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
			  size_t ld, size_t off, size_t n, const float *w, float *out);

/* VNNI: the Q8_0/Q4_0 dense kernels of the avx2 and avx512 tables use
 * vpdpbusd (AVX-VNNI, AVX512_VNNI) when the CPU has it, else vpmaddubsw +
 * vpmaddwd; those of the neon table use the ARMv8.2 dot product sdot when
 * the CPU has it (asimddp), else smull + sadalp: the same integer sums, so
 * the same bits.  "VNNI" below means whichever integer dot instruction the
 * ISA has.  LUTDB_VNNI=0 in the environment turns it off. */
/* 1 when isa's table can use VNNI on this CPU. */
int lk_vnni_supported(int isa);
/* 1 when the active table uses VNNI. */
int lk_vnni_active(void);
/* on = 0 turns VNNI off for every table, on = 1 back on where supported
 * (LUTDB_EUNSUPPORTED when no table of this CPU can use it).  For tests and
 * benches, as lk_set_isa. */
int lk_set_vnni(int on);

/* ---- causal attention (kern_attn*.c) ----------------------------------------
 * The value side of causal attention for a block of consecutive positions
 * of one sequence, the value rows read once for every query row of a tile
 * instead of once per (row, position) as lk_axpy calls would:
 *
 *   O[i*ldo + j] = sum_{s <= t0 + i} P[i*ldp + s] * V[s*ldv + j]
 *
 * for i < rows, j < n: row i is the query at position t0 + i and sums the
 * value rows of positions 0 .. t0 + i (V[s*ldv ..], F32) with its weights
 * P[i*ldp ..].  Bitwise, row i equals n zeros followed by one lk_axpy(F32,
 * P[i*ldp + s], V + s*ldv, ., n) for s = 0, 1, .. t0 + i, on the same ISA
 * (the terms added in increasing s, each as that ISA's axpy adds it: a
 * fused multiply-add on AVX2, AVX-512 and NEON, a product and a sum in the
 * scalar table); so it does not depend on rows, t0 (given the row's
 * position), the blocking or the thread count.  O must not overlap P or V. */
void lk_attn_values(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n,
		    float *O, size_t ldo);

/* ---- per-ISA tables (tests, benches) --------------------------------------- */
typedef struct lk_kernels {
	const char *name;
	void (*matvec)(int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		       const float *x, float *y);
	void (*matmul)(int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		       const float *X, size_t T, size_t ldx, float *Y, size_t ldy);
	float (*dot)(int dtype, const void *a, const float *b, size_t n);
	void (*axpy)(int dtype, float alpha, const void *x, float *y, size_t n);
	void (*to_f32)(int dtype, const void *src, float *dst, size_t n);
	void (*rmsnorm)(float *out, const float *x, int wdtype, const void *w, size_t n, float eps);
	void (*gelu_erf)(float *x, size_t n);
	void (*softmax)(float *x, size_t n);
	void (*exp)(float *x, size_t n);
	void (*rope)(float *v, size_t head_dim, const float *cos, const float *sin);
	float (*table_dot)(int kdt, const void *a, size_t off, const float *b, size_t n);
	void (*table_axpy)(int kdt, float alpha, const void *x, size_t off, float *y, size_t n);
	void (*table_matvec)(int kdt, const void *W, size_t ld, size_t off, size_t rows, size_t n,
			     const float *x, float *y);
	void (*table_attn_scores)(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				  size_t ld, size_t off, size_t n, const float *q, float *scores);
	void (*table_attn_values)(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				  size_t ld, size_t off, size_t n, const float *w, float *out);
	void (*attn_values)(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv,
			    size_t n, float *O, size_t ldo);
} lk_kernels;

/* The table of isa, or NULL when unknown or unsupported by this CPU. */
const lk_kernels *lk_kernels_for(int isa);
/* The active table (never NULL). */
const lk_kernels *lk_kernels_active(void);

/* ---- library-internal: exact-erf GELU and exp constants ----------------------
 * Shared by kern_scalar.c, kern_avx2.c and kern_avx512.c.  With t = |x|:
 *   t <  LKG_SPLIT: gelu = 0.5*x + s*P(s), s = x*x, P(s) ~ (Phi(x) - 1/2)/x
 *   t <= LKG_CUT:   q = Phi(-t) = exp(-t*t/2 + R(t)), R(t) ~ log Phi(-t) + t*t/2,
 *                   gelu = x - x*q (x > 0) or x*q (x < 0)
 *   beyond:         gelu = x (x > 0) or -0 (x < 0)
 * P (degree 4) and R (degree 8, in t) are near-minimax fits (Lawson-weighted
 * least squares on 4000 Chebyshev nodes against 40-digit mpmath values),
 * fit errors 4e-9 (absolute, on gelu) and 5e-8 (on R); the exp polynomial
 * (degree 6 on |r| <= ln2/2) has relative error 1.9e-9.  Simulated float32
 * evaluation gives a max error of 7.1e-8 * max(1, |x|) on [-10, 10], most
 * of it the final rounding.  Coefficients are in Horner order (highest
 * degree first). */
#define LKG_SPLIT 1.0f
#define LKG_CUT 6.0f
#define LKG_SMALL_N 5
#define LKG_SMALL_C                                                                  \
	{ 9.097565635e-05f, -1.161715481e-03f, 9.961115196e-03f, -6.648772210e-02f,  \
	  3.989420831e-01f }
#define LKG_BIG_N 9
#define LKG_BIG_C                                                                    \
	{ 9.265477274e-08f, -3.801941830e-06f, 7.141808601e-05f, -8.205395425e-04f,  \
	  6.522804033e-03f, -3.871784359e-02f, 1.837915331e-01f, -7.989578843e-01f,  \
	  -6.929073334e-01f }
#define LKG_EXP_N 7
#define LKG_EXP_C                                                                    \
	{ 1.383682247e-03f, 8.374822326e-03f, 4.166822508e-02f, 1.666641980e-01f,    \
	  4.999999106e-01f, 1.0f, 1.0f }
/* e^y = 2^n * e^r, n = rint(y*log2e), r = y - n*ln2 (Cody-Waite, LN2_HI has
 * 9 trailing zero bits so n*LN2_HI is exact for |n| <= 256).  Inputs below
 * LKG_EXP_MIN (e^y < FLT_MIN) give 0. */
#define LKG_LOG2E 1.44269504088896341f
#define LKG_LN2_HI 0.693145751953125f
#define LKG_LN2_LO 1.428606765330187e-06f
#define LKG_EXP_MIN -87.3365448f

/* Library-internal: the tables themselves (call only when supported) and the
 * abort for an invalid dtype code. */
extern const lk_kernels lk_kernels_scalar;
extern const lk_kernels lk_kernels_avx2;
extern const lk_kernels lk_kernels_avx512;
extern const lk_kernels lk_kernels_neon;

/* Library-internal: each ISA's MoLKV head kernels (kern_table_attn*.c) and
 * lk_attn_values (kern_attn*.c), its table's entries. */
void lk_table_attn_scores_scalar(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *q, float *scores);
void lk_table_attn_values_scalar(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *w, float *out);
void lk_attn_values_scalar(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n,
			  float *O, size_t ldo);
void lk_table_attn_scores_avx2(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *q, float *scores);
void lk_table_attn_values_avx2(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *w, float *out);
void lk_attn_values_avx2(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n,
			  float *O, size_t ldo);
void lk_table_attn_scores_avx512(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *q, float *scores);
void lk_table_attn_values_avx512(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *w, float *out);
void lk_attn_values_avx512(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n,
			  float *O, size_t ldo);
void lk_table_attn_scores_neon(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *q, float *scores);
void lk_table_attn_values_neon(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *w, float *out);
void lk_attn_values_neon(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n,
			  float *O, size_t ldo);

void lk_bad_dtype(const char *where, int dtype)
#if defined(__GNUC__)
	__attribute__((noreturn, cold))
#endif
	;

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_KERNELS_H */
