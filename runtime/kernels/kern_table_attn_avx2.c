/*
 * kern_table_attn_avx2.c - the MoLKV head kernels (kernels.h, "MoLKV: one
 * expert head over a window") for AVX2 + FMA + F16C.
 *
 * The arithmetic is the avx2 table's per-vector one (kern_avx2.c for the
 * float types, kern_quant_avx2.c for the quantized ones): value off + i in
 * lane i % 8 of one accumulator, one fma per 8 values, the last partial 8
 * zero-padded, hsum8; a sum of values is one fma per value into y in vector
 * order; a quantized value is code x F32(scale), one rounding.  So every
 * output is bitwise what lk_table_dot / lk_table_axpy give.
 *
 * What one pass over the window saves (the per-vector calls cost more than
 * their arithmetic at 32- and 192-value chunks): the dispatch and checks of
 * 1 + N calls per position; the block's scale, converted once per block
 * instead of every 8 values, and for Q4_0 / NF4 / NF3 the block's 16 (8)
 * possible values (code x scale, the same products) computed once per block
 * so a value is one permute; the N vectors of a position in flight
 * together (their dots share the query loads, their sums one load and store
 * of y); and the next positions' bytes fetched while this one is computed
 * (each position's row is elsewhere in the map: the hardware prefetcher
 * cannot guess the jump).
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 4")

#include "kern_quant_simd.h"

/* Positions ahead whose bytes are prefetched: a position's scores are ~30
 * instructions, its value sums ~10 times that. */
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

/* ---- float types: kern_avx2.c's loads -------------------------------------------------- */
INL size_t esz_of(int t)
{
	return t == DT_F32 ? 4 : 2;
}

INL __m256 ldw(int t, const unsigned char *p)
{
	if (t == DT_F32)
		return _mm256_loadu_ps((const float *)(const void *)p);
	__m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
	if (t == DT_F16)
		return _mm256_cvtph_ps(h);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The first n (< 8) values at p, the rest +0; reads only those n. */
INL __m256 ldw_part(int t, const unsigned char *p, size_t n)
{
	unsigned char buf[32] = {0};
	memcpy(buf, p, n * esz_of(t));
	return ldw(t, buf);
}

INL void st_part(float *p, __m256 v, size_t n)
{
	float buf[8];
	_mm256_storeu_ps(buf, v);
	memcpy(p, buf, n * sizeof(float));
}

/* ---- quantized types: a block's scale once, then values by index ------------------------ */
/* Q8_0: a = the scale.  Q4_0, NF4: a, b = the values of codes 0..7 and
 * 8..15 (Q4_0's code c is c - 8), each code x scale as one float32 product,
 * so looking one up gives the value dec8() computes.  NF3: a = codes 0..7. */
typedef struct {
	__m256 a, b;
} bctx;

INL bctx bctx_of(int t, const unsigned char *blk)
{
	uint16_t h;
	memcpy(&h, blk, 2);
	const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
	bctx c = {d, d};
	switch (t) {
	case LQ_DTYPE_Q8_0: break;
	case LQ_DTYPE_Q4_0:
		c.a = _mm256_mul_ps(_mm256_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1), d);
		c.b = _mm256_mul_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), d);
		break;
	case LQ_DTYPE_NF4:
		c.a = _mm256_mul_ps(_mm256_loadu_ps(nf4), d);
		c.b = _mm256_mul_ps(_mm256_loadu_ps(nf4 + 8), d);
		break;
	default: c.a = _mm256_mul_ps(_mm256_loadu_ps(nf3), d); break;
	}
	return c;
}

/* Lane i: entry (idx_i & 15) of the 16 values of c (permutes read the low 3
 * bits; bit 3, moved to the sign, picks the half). */
INL __m256 pick16(__m256i idx, bctx c)
{
	__m256 lo = _mm256_permutevar8x32_ps(c.a, idx), hi = _mm256_permutevar8x32_ps(c.b, idx);
	return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* Values j .. j + 7 (j a multiple of 8) of the block at blk, whose context
 * is c. */
INL __m256 qdec8(int t, const unsigned char *blk, size_t j, bctx c)
{
	const unsigned char *p = blk + 2;
	switch (t) {
	case LQ_DTYPE_Q8_0: {
		__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + j)));
		return _mm256_mul_ps(_mm256_cvtepi32_ps(q), c.a);
	}
	case LQ_DTYPE_Q4_0: { /* values 0..15 are the low nibbles of bytes 0..15, 16..31 the high */
		__m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + (j & 15))));
		return pick16(j >= 16 ? _mm256_srli_epi32(b, 4) : b, c);
	}
	case LQ_DTYPE_NF4: /* value j + i is nibble i of the 32-bit word at byte j / 2 */
		return pick16(_mm256_srlv_epi32(_mm256_set1_epi32((int)ld32(p + j / 2)),
						_mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
			      c);
	default: { /* NF3: three bytes, value i in bits 3i..3i+2 */
		const unsigned char *g = p + j / 8 * 3;
		uint32_t w = (uint32_t)g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;
		__m256i q = _mm256_srlv_epi32(_mm256_set1_epi32((int)w), _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21));
		return _mm256_permutevar8x32_ps(c.a, q);
	}
	}
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
	__m256 acc[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		acc[r] = _mm256_setzero_ps();
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + 8 <= n; i += 8) {
			const __m256 x = _mm256_loadu_ps(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm256_fmadd_ps(ldw(t, v + (size_t)r * ldb + i * es), x, acc[r]);
		}
		if (i < n) {
			const __m256 x = ldx_part(q + i, n - i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm256_fmadd_ps(ldw_part(t, v + (size_t)r * ldb + i * es, n - i), x, acc[r]);
		}
	} else {
		const unsigned char *blk = p + off / B * bb;
		size_t j = off % B;
		bctx c[TA_R];
		UNROLL for (int r = 0; r < R; r++)
			c[r] = bctx_of(t, blk + (size_t)r * ldb);
		while (i + 8 <= n) {
			const __m256 x = _mm256_loadu_ps(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm256_fmadd_ps(qdec8(t, blk + (size_t)r * ldb, j, c[r]), x, acc[r]);
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
			const __m256 x = ldx_part(q + i, n - i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = _mm256_fmadd_ps(keep(qdec8(t, blk + (size_t)r * ldb, j, c[r]), n - i), x, acc[r]);
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
	__m256 al[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		al[r] = _mm256_set1_ps(w[r]);
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + 8 <= n; i += 8) {
			__m256 a = _mm256_loadu_ps(y + i);
			UNROLL for (int r = 0; r < R; r++)
				a = _mm256_fmadd_ps(al[r], ldw(t, v + (size_t)r * ldb + i * es), a);
			_mm256_storeu_ps(y + i, a);
		}
		if (i < n) {
			__m256 a = ldx_part(y + i, n - i);
			UNROLL for (int r = 0; r < R; r++)
				a = _mm256_fmadd_ps(al[r], ldw_part(t, v + (size_t)r * ldb + i * es, n - i), a);
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
		__m256 a = _mm256_loadu_ps(y + i);
		UNROLL for (int r = 0; r < R; r++)
			a = _mm256_fmadd_ps(al[r], qdec8(t, blk + (size_t)r * ldb, j, c[r]), a);
		_mm256_storeu_ps(y + i, a);
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
		__m256 a = ldx_part(y + i, n - i);
		UNROLL for (int r = 0; r < R; r++)
			a = _mm256_fmadd_ps(al[r], qdec8(t, blk + (size_t)r * ldb, j, c[r]), a);
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

static void scores_avx2(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N, size_t ld,
			size_t off, size_t n, const float *q, float *scores)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_scores");
	if (n == 0) {
		memset(scores, 0, npos * N * sizeof *scores);
		return;
	}
	BY_KDT(kdt, scores_t, rows, base, npos, N, ldb, off, n, q, scores)
}

static void values_avx2(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N, size_t ld,
			size_t off, size_t n, const float *w, float *out)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_values");
	if (n == 0)
		return;
	BY_KDT(kdt, values_t, rows, base, npos, N, ldb, off, n, w, out)
}

const lk_table_attn lk_table_attn_avx2 = {
	.name = "avx2",
	.scores = scores_avx2,
	.values = values_avx2,
};
