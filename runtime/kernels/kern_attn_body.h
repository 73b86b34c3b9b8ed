/*
 * kern_attn_body.h - the value side of causal attention (kernels.h,
 * "causal attention") for a SIMD ISA: the tile loop and the walk over tiles
 * that kern_attn_{avx2,avx512,neon}.c share.  Each of them defines its
 * primitives and then includes this file once (as kern_table_attn_body.h
 * is for the MoLKV head kernels).
 *
 * Each output is the ISA's lk_axpy arithmetic term after term: from +0,
 * out = fma(p_s, v_s[j], out) in increasing s.  A tile holds AV_ROWS rows x
 * AV_VECS registers of sums, so each value row is loaded once for the
 * AV_ROWS query rows of the tile; the columns of a tile and the rows
 * sharing it change no output's arithmetic.
 *
 * The includer defines, before the include:
 *   INL, UNROLL            always-inline, and the unroll pragma of the tile loops
 *   AV_W, AV_VECS          floats per register, registers per row of a tile
 *   av_v                   that register type (AV_W floats)
 *   av_cols, av_cols_of(nc) what a tile's nc (<= AV_W * AV_VECS) columns need
 *                          to be read and written (lane masks, or the count)
 *   av_zero() av_set1(x) av_fma(acc, p, v) (acc + p * v, fused)
 *   av_ldrow(vv, v, cols)  the tile's columns of value row v into vv[AV_VECS],
 *                          those past the last +0; reads only the tile's columns
 *   av_strow(o, acc, cols) writes a row's sums acc[AV_VECS] to the tile's columns of o
 *   AV_VALUES              the entry point's name (lk_attn_values_<isa>)
 */
#define AV_ROWS 4
#define AV_COLS (AV_W * AV_VECS)

/* Rows [0, MR) of a tile, columns [c, c + nc) (nc <= AV_COLS): row i sums
 * positions 0 .. t + i. */
INL void av_tile(int MR, const float *P, size_t ldp, size_t t, const float *V, size_t ldv, size_t c, size_t nc,
		 float *O, size_t ldo)
{
	const av_cols cols = av_cols_of(nc);
	av_v acc[AV_ROWS][AV_VECS];
	UNROLL for (int i = 0; i < MR; i++)
		UNROLL for (int k = 0; k < AV_VECS; k++)
			acc[i][k] = av_zero();
	/* positions every row of the tile sums */
	for (size_t s = 0; s <= t; s++) {
		av_v vv[AV_VECS];
		av_ldrow(vv, V + s * ldv + c, cols);
		UNROLL for (int i = 0; i < MR; i++) {
			const av_v p = av_set1(P[(size_t)i * ldp + s]);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = av_fma(acc[i][k], p, vv[k]);
		}
	}
	/* the causal triangle: position t + j only for rows j .. MR - 1 */
	UNROLL for (int j = 1; j < MR; j++) {
		av_v vv[AV_VECS];
		av_ldrow(vv, V + (t + (size_t)j) * ldv + c, cols);
		UNROLL for (int i = j; i < MR; i++) {
			const av_v p = av_set1(P[(size_t)i * ldp + t + (size_t)j]);
			UNROLL for (int k = 0; k < AV_VECS; k++)
				acc[i][k] = av_fma(acc[i][k], p, vv[k]);
		}
	}
	UNROLL for (int i = 0; i < MR; i++)
		av_strow(O + (size_t)i * ldo + c, acc[i], cols);
}

/* lk_attn_values: whole tiles of AV_ROWS rows, then the rows left one by one. */
void AV_VALUES(const float *P, size_t ldp, size_t rows, size_t t0, const float *V, size_t ldv, size_t n, float *O,
	       size_t ldo)
{
	size_t r = 0;
	for (; r + AV_ROWS <= rows; r += AV_ROWS)
		for (size_t c = 0; c < n; c += AV_COLS)
			av_tile(AV_ROWS, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < AV_COLS ? n - c : AV_COLS,
				O + r * ldo, ldo);
	for (; r < rows; r++)
		for (size_t c = 0; c < n; c += AV_COLS)
			av_tile(1, P + r * ldp, ldp, t0 + r, V, ldv, c, n - c < AV_COLS ? n - c : AV_COLS, O + r * ldo,
				ldo);
}
