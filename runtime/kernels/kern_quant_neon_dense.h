/*
 * kern_quant_neon_dense.h - the dense Q8_0/Q4_0 matvec on ASIMD registers,
 * included once by kern_quant_neon.c (QN_DOT with smull + sadalp, ARMv8.0)
 * and once by kern_quant_neon_dotprod.c (QN_DOT with sdot, ARMv8.2).  The
 * including file defines
 *
 *   QN(name)            this copy's name for function name
 *   QN_DOT(acc, w, x)   acc (int32x4) + the products of the 16 int8 pairs
 *                       of w and x, in any grouping (integer sums are exact)
 *
 * The arithmetic is the one kernels.h fixes for every ISA: a tile takes 4
 * rows (rows in the 4 lanes); per block, each row's exact integer sum
 * (pairwise adds of the partial sums), then s = F32(d) * dx and one fma per
 * block and row, in block order.  So the bits are the portable kernel's.
 */

/* Partial sums of one row's block (codes at c) with the activation's block. */
INL int32x4_t QN(blockdot)(int q8, const unsigned char *c, const int8_t *xq)
{
	const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
	int8x16_t w0, w1;
	if (q8) {
		w0 = vreinterpretq_s8_u8(vld1q_u8(c));
		w1 = vreinterpretq_s8_u8(vld1q_u8(c + 16));
	} else {
		/* byte j: value j in the low nibble, value j + 16 in the high one */
		const uint8x16_t b = vld1q_u8(c);
		const int8x16_t eight = vdupq_n_s8(8);
		w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), eight);
		w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);
	}
	int32x4_t acc = QN_DOT(vdupq_n_s32(0), w0, x0);
	return QN_DOT(acc, w1, x1);
}

/* mr <= 4 rows from W (ldb bytes apart) over the chunk's blocks; y[i * ys]
 * holds row i's chain (read unless first).  Rows >= mr repeat row 0. */
INL void QN(tile)(int q8, int mr, const unsigned char *W, size_t ldb, const qn_act *xa, float *y, size_t ys,
		  int first)
{
	const size_t bb = q8 ? 34 : 18;
	const unsigned char *rp[4];
	float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
	for (int i = 0; i < 4; i++)
		rp[i] = W + (i < mr ? (size_t)i * ldb : 0);
	if (!first)
		for (int i = 0; i < mr; i++)
			buf[i] = y[(size_t)i * ys];
	float32x4_t acc = vld1q_f32(buf);
	for (size_t k = 0; k < xa->nb; k++) {
		const size_t o = k * bb;
		const int8_t *xq = xa->q + 32 * k;
		int32x4_t p0 = QN(blockdot)(q8, rp[0] + o + 2, xq);
		int32x4_t p1 = mr > 1 ? QN(blockdot)(q8, rp[1] + o + 2, xq) : vdupq_n_s32(0);
		int32x4_t p2 = mr > 2 ? QN(blockdot)(q8, rp[2] + o + 2, xq) : vdupq_n_s32(0);
		int32x4_t p3 = mr > 3 ? QN(blockdot)(q8, rp[3] + o + 2, xq) : vdupq_n_s32(0);
		int32x4_t is = vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
		uint16_t h[4];
		for (int i = 0; i < 4; i++)
			memcpy(&h[i], rp[i] + o, 2);
		float32x4_t d = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
		float32x4_t s = vmulq_f32(d, vdupq_n_f32(xa->dx[k]));
		acc = vfmaq_f32(acc, s, vcvtq_f32_s32(is));
	}
	vst1q_f32(buf, acc);
	for (int i = 0; i < mr; i++)
		y[(size_t)i * ys] = buf[i];
}

void QN(matvec)(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *x, float *y)
{
	qn_act xa;
	for (size_t k0 = 0; k0 < nb; k0 += LKQ_CHUNK_BLOCKS) {
		size_t n = nb - k0 < LKQ_CHUNK_BLOCKS ? nb - k0 : LKQ_CHUNK_BLOCKS;
		const unsigned char *Wk = W + k0 * (q8 ? 34 : 18);
		qn_act_quant(x + 32 * k0, n, &xa);
		size_t r = 0;
		for (; r + 4 <= rows; r += 4)
			QN(tile)(q8, 4, Wk + r * ldb, ldb, &xa, y + r, 1, k0 == 0);
		if (r < rows)
			QN(tile)(q8, (int)(rows - r), Wk + r * ldb, ldb, &xa, y + r, 1, k0 == 0);
	}
}
