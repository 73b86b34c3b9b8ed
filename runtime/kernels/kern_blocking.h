/*
 * kern_blocking.h - the loops around the dot-product tile that the SIMD
 * kernels share: matvec (rows in tiles of 8, read as 8 streams) and matmul
 * (register tiles of MM_MR rows x MM_NT tokens), with their dtype entry
 * points v_matvec, v_dot and v_matmul.
 *
 * Included once by each ISA's kern_<isa>.c, after it has defined INL,
 * DT_F32/DT_F16/DT_BF16, esz_of(), its tile_pf() (see kern_avx512.c),
 * MM_MR/MM_NT, its matmul register tile, and QK(name), the name of its
 * quantized kernel lkq_<name>_<isa> (kern_quant.h), which takes every other
 * dtype code (and aborts on an invalid one).  Every output's arithmetic is the
 * tile's, whatever the blocking here, so all ISAs' blockings agree bitwise
 * with their own lk_dot.
 */
#ifndef LUTDB_KERN_BLOCKING_H
#define LUTDB_KERN_BLOCKING_H

#ifndef MV_SPREAD
#define MV_SPREAD 1 /* matvec reads its rows as 8 far-apart streams; 0 disables */
#endif
#define tile(...) tile_pf(1, __VA_ARGS__)

/* ---- matvec ------------------------------------------------------------------ */
#ifndef MV_ROWS
#define MV_ROWS 8
#endif

/* Below this many rows per stream, matvec keeps adjacent rows together. */
#define MV_SPREAD_MIN_CHUNK 16

/* With MV_SPREAD, a matrix of at least 8 x MV_SPREAD_MIN_CHUNK rows is cut
 * into 8 equal runs of rows, and each 8-row tile takes one row from each:
 * the weights are read as 8 sequential streams far apart, the pattern the
 * hardware prefetcher follows best (bench_membw's baseline reads so too),
 * instead of 8 adjacent rows of 1.5 KB each, too short for the prefetcher.
 * F16 matrices from DRAM went from 63-68% to 75-81% of read bandwidth at
 * the MoLE-160M shapes (bench_kernels --section mv, same run, shared
 * machine), and a MoLE-160M F16 decode step from 24 to 19-21 ms (p50).
 * Each output's arithmetic is unchanged (it never depended on which rows
 * share a tile), so the bits are the same.  The software prefetch of the
 * next adjacent block is off there: the streams need none. */
INL void matvec_impl(int dt, const void *W, size_t ld, size_t rows, size_t cols, const float *x,
		     float *y)
{
	const unsigned char *w = W;
	size_t ldb = ld * esz_of(dt), r = 0;
#if MV_SPREAD
	if (rows >= 8 * MV_SPREAD_MIN_CHUNK) {
		size_t chunk = rows / 8;
		float t8[8];
		for (size_t j = 0; j < chunk; j++) {
			tile_pf(0, dt, 8, 1, w + j * ldb, chunk * ldb, x, 0, cols, t8, 0);
			for (int i = 0; i < 8; i++)
				y[j + (size_t)i * chunk] = t8[i];
		}
		r = 8 * chunk;
	}
#endif
	for (; r + MV_ROWS <= rows; r += MV_ROWS)
		tile(dt, MV_ROWS, 1, w + r * ldb, ldb, x, 0, cols, y + r, 0);
	for (; r < rows; r++)
		tile(dt, 1, 1, w + r * ldb, ldb, x, 0, cols, y + r, 0);
}

static void matvec_f32(const void *W, size_t ld, size_t rows, size_t cols, const float *x, float *y)
{
	matvec_impl(DT_F32, W, ld, rows, cols, x, y);
}
static void matvec_f16(const void *W, size_t ld, size_t rows, size_t cols, const float *x, float *y)
{
	matvec_impl(DT_F16, W, ld, rows, cols, x, y);
}
static void matvec_bf16(const void *W, size_t ld, size_t rows, size_t cols, const float *x,
			float *y)
{
	matvec_impl(DT_BF16, W, ld, rows, cols, x, y);
}

static void v_matvec(int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		     const float *x, float *y)
{
	switch (dtype) {
	case DT_F32: matvec_f32(W, ld, rows, cols, x, y); break;
	case DT_F16: matvec_f16(W, ld, rows, cols, x, y); break;
	case DT_BF16: matvec_bf16(W, ld, rows, cols, x, y); break;
	default: QK(matvec)(dtype, W, ld, rows, cols, x, y);
	}
}

static float v_dot(int dtype, const void *a, const float *b, size_t n)
{
	float r;
	switch (dtype) {
	case DT_F32: tile(DT_F32, 1, 1, a, 0, b, 0, n, &r, 0); break;
	case DT_F16: tile(DT_F16, 1, 1, a, 0, b, 0, n, &r, 0); break;
	case DT_BF16: tile(DT_BF16, 1, 1, a, 0, b, 0, n, &r, 0); break;
	default: QK(matvec)(dtype, a, n, 1, n, b, &r);
	}
	return r;
}

/* ---- matmul -------------------------------------------------------------------
 * Tokens in blocks whose X slice fits in L2; within a block every MM_MR-row W
 * panel is converted in registers and used against MM_NT tokens at a time. */
#ifndef MM_XBLOCK_BYTES
#define MM_XBLOCK_BYTES (384u * 1024u)
#endif

#ifdef MM_TAIL_TILES
/* (An ISA that defines MM_TAIL_TILES, the x86 ones.)  The last n < MM_NT
 * tokens of a token block in one MM_MR x n tile: the panel is widened once
 * for them instead of once per token.  A batched decoding step has 8-32
 * tokens: at 16 with 6-token tiles a panel was widened 6 times (two 6-token
 * tiles and four 1-token ones), now 3 (the last a 4-token tile).  Each
 * tile's per-output arithmetic does not depend on n, so the bits are the
 * same. */
INL void tail_tile(int pf, int dt, size_t n, const unsigned char *W, size_t ldb, const float *X, size_t ldx,
		   size_t cols, float *Y, size_t ldy)
{
	switch (n) {
#if MM_NT > 5
	case 5: tile_pf(pf, dt, MM_MR, 5, W, ldb, X, ldx, cols, Y, ldy); break;
#endif
#if MM_NT > 4
	case 4: tile_pf(pf, dt, MM_MR, 4, W, ldb, X, ldx, cols, Y, ldy); break;
#endif
#if MM_NT > 3
	case 3: tile_pf(pf, dt, MM_MR, 3, W, ldb, X, ldx, cols, Y, ldy); break;
#endif
	case 2: tile_pf(pf, dt, MM_MR, 2, W, ldb, X, ldx, cols, Y, ldy); break;
	default: tile_pf(pf, dt, MM_MR, 1, W, ldb, X, ldx, cols, Y, ldy); break;
	}
}
#endif

INL void matmul_impl(int dt, const void *W, size_t ld, size_t rows, size_t cols, const float *X,
		     size_t T, size_t ldx, float *Y, size_t ldy)
{
	const unsigned char *w = W;
	size_t ldb = ld * esz_of(dt);
#ifdef MM_SMALL_T
	/* (An ISA that defines MM_SMALL_T, the AVX-512 one.)  A batched
	 * decoding step's token counts with 16-bit weights: its own blocking
	 * for the rows it takes, the same bits (kern_small_t_avx512.h). */
	if (dt != DT_F32 && T >= ST_MIN_T && T <= ST_MAX_T && cols) {
		size_t done = matmul_small_t(dt, w, ldb, rows, cols, X, T, ldx, Y, ldy);
		w += done * ldb;
		rows -= done;
		Y += done;
	}
#endif
	size_t tb = cols ? MM_XBLOCK_BYTES / (cols * sizeof(float)) : T;
	tb = tb / MM_NT * MM_NT;
	if (tb < MM_NT)
		tb = MM_NT;
	for (size_t t0 = 0; t0 < T; t0 += tb) {
		size_t t1 = T - t0 < tb ? T : t0 + tb;
		size_t r = 0;
		for (; r + MM_MR <= rows; r += MM_MR) {
			size_t t = t0;
#ifdef MM_TAIL_TILES
			/* the first tile streams the panel from memory and prefetches
			 * the next one's (tile_pf's pf 2); the others find it in L1 */
			for (; t + MM_NT <= t1; t += MM_NT)
				tile_pf(t == t0 ? 2 : 0, dt, MM_MR, MM_NT, w + r * ldb, ldb, X + t * ldx, ldx, cols,
					Y + t * ldy + r, ldy);
			if (t < t1)
				tail_tile(t == t0 ? 2 : 0, dt, t1 - t, w + r * ldb, ldb, X + t * ldx, ldx, cols,
					  Y + t * ldy + r, ldy);
#else
			for (; t + MM_NT <= t1; t += MM_NT)
				tile(dt, MM_MR, MM_NT, w + r * ldb, ldb, X + t * ldx, ldx, cols,
				     Y + t * ldy + r, ldy);
			for (; t < t1; t++)
				tile(dt, MM_MR, 1, w + r * ldb, ldb, X + t * ldx, ldx, cols,
				     Y + t * ldy + r, ldy);
#endif
		}
		for (; r < rows; r++) {
			size_t t = t0;
			for (; t + MM_NT <= t1; t += MM_NT)
				tile(dt, 1, MM_NT, w + r * ldb, ldb, X + t * ldx, ldx, cols,
				     Y + t * ldy + r, ldy);
			for (; t < t1; t++)
				tile(dt, 1, 1, w + r * ldb, ldb, X + t * ldx, ldx, cols,
				     Y + t * ldy + r, ldy);
		}
	}
}

static void matmul_f32(const void *W, size_t ld, size_t rows, size_t cols, const float *X,
		       size_t T, size_t ldx, float *Y, size_t ldy)
{
	matmul_impl(DT_F32, W, ld, rows, cols, X, T, ldx, Y, ldy);
}
static void matmul_f16(const void *W, size_t ld, size_t rows, size_t cols, const float *X,
		       size_t T, size_t ldx, float *Y, size_t ldy)
{
	matmul_impl(DT_F16, W, ld, rows, cols, X, T, ldx, Y, ldy);
}
static void matmul_bf16(const void *W, size_t ld, size_t rows, size_t cols, const float *X,
			size_t T, size_t ldx, float *Y, size_t ldy)
{
	matmul_impl(DT_BF16, W, ld, rows, cols, X, T, ldx, Y, ldy);
}

static void v_matmul(int dtype, const void *W, size_t ld, size_t rows, size_t cols,
		     const float *X, size_t T, size_t ldx, float *Y, size_t ldy)
{
	switch (dtype) {
	case DT_F32: matmul_f32(W, ld, rows, cols, X, T, ldx, Y, ldy); break;
	case DT_F16: matmul_f16(W, ld, rows, cols, X, T, ldx, Y, ldy); break;
	case DT_BF16: matmul_bf16(W, ld, rows, cols, X, T, ldx, Y, ldy); break;
	default: QK(matmul)(dtype, W, ld, rows, cols, X, T, ldx, Y, ldy);
	}
}

#endif
