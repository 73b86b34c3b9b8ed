/*
 * kern_small_t_avx512.h - AVX-512 matmul of 16-bit weights for the token
 * counts of a batched decoding step (16..32): every weight matrix, and the
 * lm head's 38.6M weights, times one row per sequence.
 *
 * Included once by kern_avx512.c, after tile_pf() and before
 * kern_blocking.h, whose matmul_impl() hands it the rows it takes
 * (MM_SMALL_T).
 *
 * Why not the prefill tile (4 rows x 6 tokens, the F16 panel converted in
 * registers once per token tile): at T = 16 each 4-row panel is converted
 * 3 times per chunk on the FMA ports, and every chunk of X comes from L2
 * once per 4 rows (16 tokens x 768 floats are 48 KiB, all of L1).  Here a
 * panel is 8 rows, converted to F32 once per block of ST_CB columns into
 * an 8 KiB buffer, and tiles of 8 rows x 3 tokens (24 accumulators, 3 X
 * chunks and one W chunk in registers) read it: one conversion per panel
 * and half the X reads per FMA.  The accumulators wait in memory between
 * column blocks (acc_mem), so a block's W, X and accumulators stay in L1.
 * Measured (one thread, thread CPU time, best of 3 interleaved runs on a
 * shared machine, T = 16, weights from DRAM): 768x768 0.239 -> 0.219 ms,
 * 3072x768 0.965 -> 0.822, 768x3072 0.911 -> 0.731, the head 50304x768
 * 15.7 -> 13.9 ms; at T = 8 and 12 it was slower (the widening is shared
 * by fewer tokens), hence ST_MIN_T.
 *
 * Bitwise: each output still has ONE 16-lane accumulator fed
 * fma(w[c..c+16), x[c..c+16), acc) for c = 0, 16, ... in order, the last
 * partial chunk zero-masked in both operands, then hsum16 (by reduce16,
 * which adds the same lane pairs).  Storing an accumulator and loading it
 * back is exact, and the widened weights are exactly the values ldw()
 * converts in registers, so every output equals tile_pf's, lk_dot's and
 * the T = 1 matvec's: batch invariance holds.
 */
#ifndef LUTDB_KERN_SMALL_T_AVX512_H
#define LUTDB_KERN_SMALL_T_AVX512_H

#define ST_MR 8      /* rows of a panel */
#define ST_NT 3      /* tokens of a register tile */
#ifndef ST_CB
#define ST_CB 256    /* columns of a block: 8 KiB of widened W */
#endif
#define ST_MAX_T 32  /* tokens at most (the accumulators: 16 KiB) */
#define ST_MIN_T 16  /* fewer tokens: the prefill tile is as fast (measured at 8 and 12) */
#define ST_PF_LINES (ST_CB * 2 / 64) /* 64-byte lines of a block's row */

/* Rows [0, ST_MR) x columns [c0, c0 + n) of a 16-bit W (ldb bytes apart)
 * as F32 into buf (ST_CB floats apart), the partial last chunk zero-masked
 * as ldw_mask loads it. */
INL void st_widen(int dt, const unsigned char *W, size_t ldb, size_t c0, size_t n, float *buf)
{
	UNROLL for (int i = 0; i < ST_MR; i++) {
		const unsigned char *s = W + (size_t)i * ldb + c0 * 2;
		float *d = buf + (size_t)i * ST_CB;
		size_t c = 0;
		for (; c + 16 <= n; c += 16)
			_mm512_store_ps(d + c, ldw(dt, s + c * 2));
		if (c < n)
			_mm512_store_ps(d + c, ldw_mask(dt, s + c * 2, tail_mask(n - c)));
	}
}

/* ST_MR rows (buf) x NT tokens of X over the block's n columns (from X's
 * column c0): the accumulators acc_mem[i * ST_MAX_T + t] are loaded (zero
 * on the first block), fed chunk by chunk, and stored back.  Each chunk
 * also prefetches pf_step lines of the block the next panel reads in these
 * columns (pf, rows pf_ldb bytes apart), from its pf_line-th on. */
INL void st_tile(int NT, const float *buf, const float *X, size_t ldx, size_t c0, size_t n, int first,
		 __m512 *acc_mem, const unsigned char *pf, size_t pf_ldb, unsigned pf_line, unsigned pf_step)
{
	__m512 acc[ST_MR][ST_NT];
	UNROLL for (int i = 0; i < ST_MR; i++)
		UNROLL for (int t = 0; t < NT; t++)
			acc[i][t] = first ? _mm512_setzero_ps() : acc_mem[i * ST_MAX_T + t];
	size_t c = 0;
	for (; c + 16 <= n; c += 16, pf_line += pf_step) {
		/* the next panel's lines, spread over the block's tiles' chunks */
		for (unsigned j = 0; j < pf_step; j++) {
			const unsigned l = pf_line + j;
			if (l < ST_MR * ST_PF_LINES)
				_mm_prefetch((const char *)(pf + l / ST_PF_LINES * pf_ldb + l % ST_PF_LINES * 64),
					     _MM_HINT_T0);
		}
		__m512 xv[ST_NT];
		UNROLL for (int t = 0; t < NT; t++)
			xv[t] = _mm512_loadu_ps(X + (size_t)t * ldx + c0 + c);
		UNROLL for (int i = 0; i < ST_MR; i++) {
			__m512 wv = _mm512_load_ps(buf + (size_t)i * ST_CB + c);
			/* one load per W chunk, not a memory operand per FMA: the
			 * loads would then outnumber the FMAs */
			__asm__("" : "+v"(wv));
			UNROLL for (int t = 0; t < NT; t++)
				acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
		}
	}
	if (c < n) { /* the matrix's partial last chunk (buf holds zeros past it) */
		__mmask16 m = tail_mask(n - c);
		__m512 xv[ST_NT];
		UNROLL for (int t = 0; t < NT; t++)
			xv[t] = _mm512_maskz_loadu_ps(m, X + (size_t)t * ldx + c0 + c);
		UNROLL for (int i = 0; i < ST_MR; i++) {
			__m512 wv = _mm512_load_ps(buf + (size_t)i * ST_CB + c);
			UNROLL for (int t = 0; t < NT; t++)
				acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
		}
	}
	UNROLL for (int i = 0; i < ST_MR; i++)
		UNROLL for (int t = 0; t < NT; t++)
			acc_mem[i * ST_MAX_T + t] = acc[i][t];
}

/* Y[t*ldy + i] = hsum16(acc[i][t]) for the panel's rows and T tokens, two
 * tokens per reduce16: lanes 0..7 rows 0..7 of token t, lanes 8..15 those
 * of token t + 1 (zeros for a last odd token). */
INL void st_store(const __m512 *acc_mem, size_t T, float *Y, size_t ldy)
{
	for (size_t t = 0; t < T; t += 2) {
		const int two = t + 1 < T;
		__m512 v[16];
		UNROLL for (int e = 0; e < 16; e++) {
			const int i = e % 8, u = e / 8;
			v[4 * (e % 4) + e / 4] = u == 0 || two ? acc_mem[i * ST_MAX_T + (int)t + u]
							       : _mm512_setzero_ps();
		}
		__m512 r = reduce16(v);
		_mm256_storeu_ps(Y + t * ldy, _mm512_castps512_ps256(r));
		if (two)
			_mm256_storeu_ps(Y + (t + 1) * ldy, _mm512_extractf32x8_ps(r, 1));
	}
}

/* The outputs of the first rows / ST_MR * ST_MR rows of W (16-bit, ldb
 * bytes apart) for T tokens, ST_MIN_T <= T <= ST_MAX_T, cols > 0; returns
 * how many rows it computed (matmul_impl does the rest).  On the stack:
 * the 8 KiB buffer and 16 KiB of accumulators. */
INL size_t matmul_small_t(int dt, const unsigned char *W, size_t ldb, size_t rows, size_t cols, const float *X,
			  size_t T, size_t ldx, float *Y, size_t ldy)
{
	float buf[ST_MR * ST_CB] __attribute__((aligned(64)));
	__m512 acc_mem[ST_MR * ST_MAX_T];
	size_t r = 0;
	/* The widening reads its block all at once, with nothing to overlap
	 * its misses: so the tiles of each block prefetch the same columns of
	 * the next panel, one or two lines per chunk so that the tiles of a
	 * block cover all its ST_MR * ST_PF_LINES lines.  (The next block of
	 * the same panel instead, or the next panel's into L2, or 2 and 4
	 * panels ahead: 3-10% slower on the head from DRAM.) */
	const size_t ntiles = (T + ST_NT - 1) / ST_NT, chunks = ST_CB / 16;
	const unsigned pf_step = (unsigned)((ST_MR * ST_PF_LINES + ntiles * chunks - 1) / (ntiles * chunks));
	for (; r + ST_MR <= rows; r += ST_MR) {
		const unsigned char *w = W + r * ldb;
		for (size_t c0 = 0; c0 < cols; c0 += ST_CB) {
			const size_t n = cols - c0 < ST_CB ? cols - c0 : ST_CB;
			const unsigned char *pf = r + 2 * ST_MR <= rows ? w + ST_MR * ldb + c0 * 2 : w;
			st_widen(dt, w, ldb, c0, n, buf);
			size_t t = 0;
			unsigned line = 0, per_tile = (unsigned)chunks * pf_step;
			const int first = c0 == 0;
			for (; t + ST_NT <= T; t += ST_NT, line += per_tile)
				st_tile(ST_NT, buf, X + t * ldx, ldx, c0, n, first, acc_mem + t, pf, ldb, line,
					pf_step);
			if (T - t == 2)
				st_tile(2, buf, X + t * ldx, ldx, c0, n, first, acc_mem + t, pf, ldb, line, pf_step);
			else if (T - t == 1)
				st_tile(1, buf, X + t * ldx, ldx, c0, n, first, acc_mem + t, pf, ldb, line, pf_step);
		}
		st_store(acc_mem, T, Y + r, ldy);
	}
	return r;
}

#define MM_SMALL_T 1

#endif
