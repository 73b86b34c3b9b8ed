/*
 * kern_table_attn_body.h - the MoLKV head kernels' drivers (kernels.h,
 * "MoLKV: one expert head over a window") that every ISA shares: the walk
 * over the window's positions with its prefetch schedule, the N vectors of
 * a position in groups of TA_R, the dots and value sums over a run of
 * values, the float / quantized dispatch and the two entry points
 * (kernels.h's lk_table_attn_scores / _values for one ISA).  Only the ISA's primitives differ, so each
 * kern_table_attn_<isa>.c defines them and then includes this file once
 * (as kern_blocking.h is for the matmul kernels).
 *
 * The includer defines, before the include:
 *   INL, UNROLL                  always-inline, and the unroll pragma of its R loops
 *   TA_W                         the lanes of one vector register (8, 16)
 *   ta_v                         that register type (TA_W floats)
 *   ta_tail, ta_tail_of(n)       what selects the low n (< TA_W) lanes: a count or a mask
 *   ta_zero() ta_set1(w) ta_ld(p) ta_st(p, v) ta_fma(a, b, acc) (acc + a * b, fused)
 *   ta_hsum(v)                   the per-vector kernels' reduction tree
 *   ta_ld_tail(p, tl) ta_st_tail(p, v, tl) ta_keep(v, tl)
 *                                the low lanes of tl read (others +0), written, kept (others +0)
 *   ta_prefetch(a)               a prefetch of the line at a into every cache level
 *   ldw(t, p)                    TA_W values of float type t at p, as float32
 *   ldw_tail(t, p, tl)           the low lanes of tl of them, the others +0; reads only those
 *                                (TA_W == 8: the header's, through a zeroed buffer)
 *   bctx, bctx_of(t, blk)        a quantized block's context (its scale, or its scaled codes)
 *   qdec(t, B, bb, blk, j, c, rem)
 *                                values j .. j + TA_W - 1 of the block at blk (bb bytes, B
 *                                values; context c), or with rem < TA_W only the first rem
 *                                of them in the low lanes, the rest unspecified; j is a
 *                                multiple of 8 and TA_W values may run into the next block
 *   TA_SCORES, TA_VALUES         the names of the two entry points (lk_table_attn_scores_<isa>, ...)
 * and the arithmetic of each primitive is its table's per-vector kernel's, so every output
 * is bitwise what lk_table_dot / lk_table_axpy give.
 *
 * The quantized loops are the 8-lane files' former shape (while a whole TA_W is left, then
 * the tail), with the block change only while the run goes on: testing what is left before
 * each step instead (avx512's former shape) cost avx2 8% more instructions in the Q8_0 value
 * sums, a quarter of a MoLKV decode's (callgrind, bench_decode on a Q8_0 table).
 */
#ifndef LUTDB_KERN_TABLE_ATTN_BODY_H
#define LUTDB_KERN_TABLE_ATTN_BODY_H

#include <string.h>

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

INL size_t esz_of(int t)
{
	return t == DT_F32 ? 4 : 2;
}

#if TA_W == 8
/* ---- 8-lane ISAs: partial loads through a buffer ------------------------------------------ */
/* The first n (< 8) values at p, the rest +0; reads only those n. */
INL ta_v ldw_tail(int t, const unsigned char *p, size_t n)
{
	unsigned char buf[32] = {0};
	memcpy(buf, p, n * esz_of(t));
	return ldw(t, buf);
}
#endif

/* ---- a cursor over the quantized values of R vectors -------------------------------------
 * The R vectors' blocks are ldb bytes apart and move together: the position
 * (blk of vector 0, j) and each vector's block context, so a block's scale
 * is converted once per block, not once per TA_W values. */
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

/* The next TA_W values of vector r (rem >= TA_W of the run left), or, with
 * rem < TA_W, the next rem in the low lanes (the rest unspecified). */
INL ta_v qcur_get(const qcur *k, int t, uint32_t B, size_t bb, size_t ldb, int r, size_t rem)
{
	return qdec(t, B, bb, k->blk + (size_t)r * ldb, k->j, &k->c[r], rem);
}

/* TA_W values on; into the next block only when more of the run is left
 * (more), so no block past the run is read. */
INL void qcur_next(qcur *k, int t, int R, uint32_t B, size_t bb, size_t ldb, int more)
{
	k->j += TA_W;
#if TA_W == 8
	/* 8 values from a multiple of 8 end exactly at a block's end (B is a multiple of 8): this
	 * test lets the compiler run a block's steps as an inner loop */
	if (!(k->j == B && more))
		return;
	k->j = 0;
#else
	if (!(k->j >= B && more))
		return;
	k->j -= B;
#endif
	k->blk += bb;
	UNROLL for (int r = 0; r < R; r++)
		k->c[r] = bctx_of(t, k->blk + (size_t)r * ldb);
}

/* ---- prefetch ------------------------------------------------------------------------ */
/* Bytes [first, last) of each of the N vectors from p on, ldb bytes apart:
 * every line (only the first of each vector: 10-40% slower; none: 25-80%
 * slower, kvstep harness at 2048 positions, busy machine: each position's
 * row is elsewhere in the map, the hardware prefetcher cannot guess the
 * jump). */
INL void prefetch_vectors(const unsigned char *p, size_t N, size_t ldb, size_t first, size_t last)
{
	for (size_t r = 0; r < N; r++) {
		const unsigned char *v = p + r * ldb;
		uintptr_t a = (uintptr_t)(v + first) & ~(uintptr_t)63, e = (uintptr_t)(v + last);
		for (; a < e; a += 64)
			ta_prefetch(a);
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
/* y[r] = dot of vector r (R of them, ldb bytes apart from p) with q: value
 * off + i in lane i % TA_W of one accumulator, one fma per TA_W values, the
 * last partial TA_W zero-padded, then ta_hsum. */
INL void dots(int t, int R, uint32_t B, size_t bb, const unsigned char *p, size_t ldb, size_t off, size_t n,
	      const float *q, float *y)
{
	ta_v acc[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		acc[r] = ta_zero();
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + TA_W <= n; i += TA_W) {
			const ta_v x = ta_ld(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = ta_fma(ldw(t, v + (size_t)r * ldb + i * es), x, acc[r]);
		}
		if (i < n) {
			const ta_tail tl = ta_tail_of(n - i);
			const ta_v x = ta_ld_tail(q + i, tl);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = ta_fma(ldw_tail(t, v + (size_t)r * ldb + i * es, tl), x, acc[r]);
		}
	} else {
		qcur k;
		qcur_init(&k, t, R, B, bb, p, ldb, off);
		while (i + TA_W <= n) {
			const ta_v x = ta_ld(q + i);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = ta_fma(qcur_get(&k, t, B, bb, ldb, r, n - i), x, acc[r]);
			i += TA_W;
			qcur_next(&k, t, R, B, bb, ldb, i < n);
		}
		if (i < n) {
			const ta_tail tl = ta_tail_of(n - i);
			const ta_v x = ta_ld_tail(q + i, tl);
			UNROLL for (int r = 0; r < R; r++)
				acc[r] = ta_fma(ta_keep(qcur_get(&k, t, B, bb, ldb, r, n - i), tl), x, acc[r]);
		}
	}
	UNROLL for (int r = 0; r < R; r++)
		y[r] = ta_hsum(acc[r]);
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
 * ldb bytes apart from p, in order (one load and store of y for all R).
 * The lanes past the run in the last partial TA_W are computed from
 * whatever was decoded there and never stored. */
INL void sums(int t, int R, uint32_t B, size_t bb, const unsigned char *p, size_t ldb, size_t off, size_t n,
	      const float *w, float *y)
{
	ta_v al[TA_R];
	UNROLL for (int r = 0; r < R; r++)
		al[r] = ta_set1(w[r]);
	size_t i = 0;
	if (is_float(t)) {
		const size_t es = esz_of(t);
		const unsigned char *v = p + off * es;
		for (; i + TA_W <= n; i += TA_W) {
			ta_v a = ta_ld(y + i);
			UNROLL for (int r = 0; r < R; r++)
				a = ta_fma(al[r], ldw(t, v + (size_t)r * ldb + i * es), a);
			ta_st(y + i, a);
		}
		if (i < n) {
			const ta_tail tl = ta_tail_of(n - i);
			ta_v a = ta_ld_tail(y + i, tl);
			UNROLL for (int r = 0; r < R; r++)
				a = ta_fma(al[r], ldw_tail(t, v + (size_t)r * ldb + i * es, tl), a);
			ta_st_tail(y + i, a, tl);
		}
		return;
	}
	qcur k;
	qcur_init(&k, t, R, B, bb, p, ldb, off);
	while (i + TA_W <= n) {
		ta_v a = ta_ld(y + i);
		UNROLL for (int r = 0; r < R; r++)
			a = ta_fma(al[r], qcur_get(&k, t, B, bb, ldb, r, n - i), a);
		ta_st(y + i, a);
		i += TA_W;
		qcur_next(&k, t, R, B, bb, ldb, i < n);
	}
	if (i < n) {
		const ta_tail tl = ta_tail_of(n - i);
		ta_v a = ta_ld_tail(y + i, tl);
		UNROLL for (int r = 0; r < R; r++)
			a = ta_fma(al[r], qcur_get(&k, t, B, bb, ldb, r, n - i), a);
		ta_st_tail(y + i, a, tl);
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

void TA_SCORES(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N, size_t ld, size_t off,
	       size_t n, const float *q, float *scores)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_scores");
	if (n == 0) {
		memset(scores, 0, npos * N * sizeof *scores);
		return;
	}
	BY_KDT(kdt, scores_t, rows, base, npos, N, ldb, off, n, q, scores)
}

void TA_VALUES(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N, size_t ld, size_t off,
	       size_t n, const float *w, float *out)
{
	const size_t ldb = vector_bytes(kdt, ld, off, "lk_table_attn_values");
	if (n == 0)
		return;
	BY_KDT(kdt, values_t, rows, base, npos, N, ldb, off, n, w, out)
}

#endif
