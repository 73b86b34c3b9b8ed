/*
 * kern_table_attn_avx512.c - the MoLKV head kernels (kernels.h, "MoLKV: one
 * expert head over a window") for AVX-512 (F/BW/VL/DQ) + FMA + F16C.
 *
 * The arithmetic is the avx512 table's per-vector one (kern_avx512.c for
 * the float types, kern_quant_avx512.c for the quantized ones): value
 * off + i in lane i % 16 of one accumulator, one fma per 16 values, the
 * last partial 16 zero-masked, hsum16; a sum of values is one fma per value
 * into y in vector order; a quantized value is code x F32(scale), one
 * rounding.  So every output is bitwise what lk_table_dot / lk_table_axpy
 * give.  kern_table_attn_avx2.c says what the single pass saves; here a
 * Q4_0 / NF4 / NF3 value is one vpermps of the block's 16 (8) scaled codes.
 *
 * 16 values from a multiple of 8 may cross a block's end (off = 8 mod 16),
 * or, in Q4_0, the middle of its block where the low nibbles end: those
 * are decoded as two halves of 8, from the two blocks (or nibble halves).
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")

#include "kern_quant_simd.h"

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

INL __mmask16 lanes(size_t n) /* the low n (< 16) lanes */
{
	return (__mmask16)((1u << n) - 1u);
}

/* kern_avx512.c's and kern_quant_avx512.c's reduction tree */
INL float hsum16(__m512 v)
{
	__m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
	__m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	__m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	__m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
	return _mm_cvtss_f32(d);
}

/* ---- float types: kern_avx512.c's loads -------------------------------------------------- */
INL size_t esz_of(int t)
{
	return t == DT_F32 ? 4 : 2;
}

INL __m512 ldw(int t, const unsigned char *p)
{
	if (t == DT_F32)
		return _mm512_loadu_ps(p);
	__m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
	if (t == DT_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The lanes of m, the others +0; reads only those. */
INL __m512 ldw_mask(int t, const unsigned char *p, __mmask16 m)
{
	if (t == DT_F32)
		return _mm512_maskz_loadu_ps(m, p);
	__m256i h = _mm256_maskz_loadu_epi16(m, p);
	if (t == DT_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ---- quantized types: a block's scale once, then values by index ------------------------ */
/* Q8_0: the scale.  Q4_0, NF4: the values of codes 0..15 (Q4_0's code c is
 * c - 8), each code x scale as one float32 product, so looking one up gives
 * the value the per-vector kernels compute.  NF3: codes 0..7, twice (a
 * permute reads 4 index bits; bit 3 belongs to the next value). */
typedef __m512 bctx;

INL bctx bctx_of(int t, const unsigned char *blk)
{
	uint16_t h;
	memcpy(&h, blk, 2);
	const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
	switch (t) {
	case LQ_DTYPE_Q8_0: return d;
	case LQ_DTYPE_Q4_0:
		return _mm512_mul_ps(_mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7), d);
	case LQ_DTYPE_NF4: return _mm512_mul_ps(_mm512_loadu_ps(nf4), d);
	default: {
		__m256 c = _mm256_loadu_ps(nf3);
		return _mm512_mul_ps(_mm512_insertf32x8(_mm512_castps256_ps512(c), c, 1), d);
	}
	}
}

/* Lanes 0..7: values j .. j + 7 (j a multiple of 8) of the block at blk,
 * context c; lanes 8..15 unspecified. */
INL __m512 qdec8(int t, const unsigned char *blk, size_t j, bctx c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0: {
		__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + j)));
		return _mm512_castps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm512_castps512_ps256(c)));
	}
	case LQ_DTYPE_Q4_0: {
		__m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + (j & 15))));
		if (j >= 16)
			b = _mm256_srli_epi32(b, 4);
		return _mm512_permutexvar_ps(_mm512_zextsi256_si512(b), c);
	}
	case LQ_DTYPE_NF4: {
		__m256i q = _mm256_srlv_epi32(_mm256_set1_epi32((int)ld32(p + j / 2)),
					      _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
		return _mm512_permutexvar_ps(_mm512_zextsi256_si512(q), c);
	}
	default: {
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		__m256i q = _mm256_srlv_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21));
		return _mm512_permutexvar_ps(_mm512_zextsi256_si512(q), c);
	}
	}
}

/* 1 when values j .. j + 15 of a block are one load's (same block; for
 * Q4_0 the same nibble half). */
INL int whole16(int t, uint32_t B, size_t j)
{
	return t == LQ_DTYPE_Q4_0 ? j % 16 == 0 : j + 16 <= B;
}

/* Values j .. j + 15 of the block at blk (whole16(t, B, j)). */
INL __m512 qdec16(int t, const unsigned char *blk, size_t j, bctx c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0: {
		__m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p + j)));
		return _mm512_mul_ps(_mm512_cvtepi32_ps(q), c);
	}
	case LQ_DTYPE_Q4_0: {
		__m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
		return _mm512_permutexvar_ps(j == 16 ? _mm512_srli_epi32(b, 4) : b, c);
	}
	case LQ_DTYPE_NF4: { /* value j + i is nibble i of the 64-bit word at byte j / 2 */
		__m512i w = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(const void *)(p + j / 2)));
		w = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), w);
		w = _mm512_srlv_epi32(w, _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28));
		return _mm512_permutexvar_ps(w, c);
	}
	default: { /* NF3: two groups of 3 bytes (byte loads: no read past them) */
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w0 = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		uint32_t w1 = (uint32_t)g[3] | (uint32_t)g[4] << 8 | (uint32_t)g[5] << 16;
		__m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)w0)),
					       _mm256_set1_epi32((int)w1), 1);
		q = _mm512_srlv_epi32(q, _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 3, 6, 9, 12, 15, 18, 21));
		return _mm512_permutexvar_ps(q, c);
	}
	}
}

INL __m512 join8(__m512 lo, __m512 hi)
{
	return _mm512_insertf32x8(lo, _mm512_castps512_ps256(hi), 1);
}

/* ---- a cursor over the values of R vectors ------------------------------------------------
 * The R vectors' blocks are ldb bytes apart and move together: the position
 * (blk of vector 0, j) and each vector's block context. */
typedef struct {
	const unsigned char *blk;
	size_t j;
	bctx c[TA_R];
} qcur;

INL void qcur_init(qcur *k, int t, int R, uint32_t B, size_t bb, const unsigned char *p, size_t ldb, size_t off)
{
	k->blk = p + off / B * bb;
	k->j = off % B;
	UNROLL for (int r = 0; r < R; r++)
		k->c[r] = bctx_of(t, k->blk + (size_t)r * ldb);
}

/* The next 16 values of vector r (rem >= 16 of the run left), or, with
 * rem < 16, the next rem in the low lanes (the rest unspecified; reads
 * only the blocks of those). */
INL __m512 qcur_get(const qcur *k, int t, uint32_t B, size_t bb, size_t ldb, int r, size_t rem)
{
	const unsigned char *blk = k->blk + (size_t)r * ldb;
	if (rem > 8 && whole16(t, B, k->j))
		return qdec16(t, blk, k->j, k->c[r]);
	__m512 lo = qdec8(t, blk, k->j, k->c[r]);
	if (rem <= 8)
		return lo;
	if (k->j + 8 < B) /* Q4_0: the other nibble half of the same block */
		return join8(lo, qdec8(t, blk, k->j + 8, k->c[r]));
	return join8(lo, qdec8(t, blk + bb, 0, bctx_of(t, blk + bb)));
}

/* 16 values on, when rem > 16 of the run are left (so the next block, if
 * reached, is read). */
INL void qcur_next(qcur *k, int t, int R, uint32_t B, size_t bb, size_t ldb)
{
	k->j += 16;
	if (k->j < B)
		return;
	k->j -= B;
	k->blk += bb;
	UNROLL for (int r = 0; r < R; r++)
		k->c[r] = bctx_of(t, k->blk + (size_t)r * ldb);
}

/* ---- prefetch ------------------------------------------------------------------------ */
/* Bytes [first, last) of each of the N vectors from p on, ldb bytes apart:
 * every line (only the first of each vector: 10-40% slower; none: 25-80%
 * slower, kvstep harness at 2048 positions, busy machine). */
INL void prefetch_vectors(const unsigned char *p, size_t N, size_t ldb, size_t first, size_t last)
{
	for (size_t r = 0; r < N; r++) {
		const unsigned char *v = p + r * ldb;
		uintptr_t a = (uintptr_t)(v + first) & ~(uintptr_t)63, e = (uintptr_t)(v + last);
		for (; a < e; a += 64)
			_mm_prefetch((const char *)a, _MM_HINT_T0);
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
	__m512 acc[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		acc[r] = _mm512_setzero_ps();
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + 16 <= n; i += 16) {
			const __m512 x = _mm512_loadu_ps(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm512_fmadd_ps(ldw(t, v + (size_t)r * ldb + i * es), x, acc[r]);
		}
		if (i < n) {
			const __mmask16 m = lanes(n - i);
			const __m512 x = _mm512_maskz_loadu_ps(m, q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm512_fmadd_ps(ldw_mask(t, v + (size_t)r * ldb + i * es, m), x, acc[r]);
		}
	} else {
		qcur k;
		qcur_init(&k, t, R, B, bb, p, ldb, off);
		for (;;) {
			const size_t rem = n - i;
			if (rem < 16) {
				const __mmask16 m = lanes(rem);
				const __m512 x = _mm512_maskz_loadu_ps(m, q + i);
				UNROLL for (int r = 0; r < R; r++)
					acc[r] = _mm512_fmadd_ps(_mm512_maskz_mov_ps(m, qcur_get(&k, t, B, bb, ldb, r, rem)),
								 x, acc[r]);
				break;
			}
			const __m512 x = _mm512_loadu_ps(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm512_fmadd_ps(qcur_get(&k, t, B, bb, ldb, r, rem), x, acc[r]);
			i += 16;
			if (i == n)
				break;
			qcur_next(&k, t, R, B, bb, ldb);
		}
	}
	UNROLL for (int r = 0; r < R; r++)
		y[r] = hsum16(acc[r]);
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
	__m512 al[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		al[r] = _mm512_set1_ps(w[r]);
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + 16 <= n; i += 16) {
			__m512 a = _mm512_loadu_ps(y + i);
			UNROLL for (int r = 0; r < R; r++)
				a = _mm512_fmadd_ps(al[r], ldw(t, v + (size_t)r * ldb + i * es), a);
			_mm512_storeu_ps(y + i, a);
		}
		if (i < n) {
			const __mmask16 m = lanes(n - i);
			__m512 a = _mm512_maskz_loadu_ps(m, y + i);
			UNROLL for (int r = 0; r < R; r++)
				a = _mm512_fmadd_ps(al[r], ldw_mask(t, v + (size_t)r * ldb + i * es, m), a);
			_mm512_mask_storeu_ps(y + i, m, a);
		}
		return;
	}
	qcur k;
	qcur_init(&k, t, R, B, bb, p, ldb, off);
	for (;;) {
		const size_t rem = n - i;
		if (rem < 16) {
			const __mmask16 m = lanes(rem);
			__m512 a = _mm512_maskz_loadu_ps(m, y + i);
			UNROLL for (int r = 0; r < R; r++)
				a = _mm512_fmadd_ps(al[r], qcur_get(&k, t, B, bb, ldb, r, rem), a);
			_mm512_mask_storeu_ps(y + i, m, a);
			return;
		}
		__m512 a = _mm512_loadu_ps(y + i);
		UNROLL for (int r = 0; r < R; r++)
			a = _mm512_fmadd_ps(al[r], qcur_get(&k, t, B, bb, ldb, r, rem), a);
		_mm512_storeu_ps(y + i, a);
		i += 16;
		if (i == n)
			return;
		qcur_next(&k, t, R, B, bb, ldb);
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
	default: LKQ_BY_TYPE(kdt, F, __VA_ARGS__)                                                    \
	}

static void scores_avx512(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
			  size_t ld, size_t off, size_t n, const float *q, float *scores)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_scores");
	if (n == 0) {
		memset(scores, 0, npos * N * sizeof *scores);
		return;
	}
	BY_KDT(kdt, scores_t, rows, base, npos, N, ldb, off, n, q, scores)
}

static void values_avx512(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
			  size_t ld, size_t off, size_t n, const float *w, float *out)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_values");
	if (n == 0)
		return;
	BY_KDT(kdt, values_t, rows, base, npos, N, ldb, off, n, w, out)
}

const lk_table_attn lk_table_attn_avx512 = {
	.name = "avx512",
	.scores = scores_avx512,
	.values = values_avx512,
};
