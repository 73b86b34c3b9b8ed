/*
 * kern_quant_neon_prefill.h - lk_matmul of Q8_0/Q4_0 weights with tokens in
 * the 4 int32 lanes of an ASIMD register, included once by
 * kern_quant_neon.c (QP_DOT4 built from smull + saddlp + addp, ARMv8.0) and
 * once by kern_quant_neon_dotprod.c (QP_DOT4 = sdot by element, ARMv8.2).
 * The NEON form of kern_quant_prefill.h (the x86 tile with tokens in lanes).
 *
 * A matvec reduces each row's block products across lanes; a matmul has
 * tokens to put there instead.  qnp_quant (kern_quant_neon.h) lays out the
 * activation codes of 4 tokens so that one 16-byte load holds, for one
 * block and one group of 4 values, those 4 codes of each token; a weight
 * register holds 4 such groups of one row, and QP_DOT4 with a lane picks
 * one group and dots it with every token's at once, so 8 of them give each
 * token's exact block sum in its lane, with no reduction.  The float part
 * is the matvec's (kern_quant_neon_dense.h), per output: s = F32(d) * dx in
 * that operand order (which NaN wins), then one fma per block in block
 * order, so each output has the bits of lk_matvec and of every ISA.
 *
 * Register tile: QP_MR rows x QP_NT registers of 4 tokens: 8 float
 * accumulators, 8 integer ones and the 8 weight registers of 4 rows fit the
 * 32 registers with room for the activation load.
 *
 * The including file defines
 *   QP(name)                 this copy's name for function name
 *   QP_DOT4(acc, x, w, L)    acc (int32x4) + in lane i the dot product of
 *                            bytes 4i..4i+3 of x with bytes 4L..4L+3 of w
 *                            (L a constant 0..3)
 */

#define QP_MR 4
#define QP_NT 2

/* The weights of row c's block as two registers of 4 groups each: values
 * 0..15 and 16..31 (Q4_0: byte j holds value j low, j + 16 high). */
INL void QP(wload)(int q8, const unsigned char *c, int8x16_t *w0, int8x16_t *w1)
{
	if (q8) {
		*w0 = vreinterpretq_s8_u8(vld1q_u8(c));
		*w1 = vreinterpretq_s8_u8(vld1q_u8(c + 16));
	} else {
		const uint8x16_t b = vld1q_u8(c);
		const int8x16_t eight = vdupq_n_s8(8);
		*w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(15))), eight);
		*w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);
	}
}

/* Rows [0, mr) of W (ldb bytes apart, the chunk's blocks from W on) times
 * token registers g0 .. g0 + nt - 1 of a; token 4 g + t's outputs at
 * Yt + (4 g + t) ldy (only the tnum tokens of the buffer that exist); the
 * chains continue from Yt unless first. */
INL void QP(tile)(int q8, int mr, int nt, const unsigned char *W, size_t ldb, const qnp_act *a, size_t g0,
		  float *Yt, size_t ldy, size_t tnum, int first)
{
	const size_t bb = q8 ? 34 : 18, nb = a->nb;
	float32x4_t acc[QP_MR][QP_NT];
	float buf[4];
	for (int r = 0; r < mr; r++)
		for (int n = 0; n < nt; n++) {
			for (size_t t = 0; t < 4; t++) {
				size_t tok = 4 * (g0 + (size_t)n) + t;
				buf[t] = !first && tok < tnum ? Yt[tok * ldy + (size_t)r] : 0.0f;
			}
			acc[r][n] = vld1q_f32(buf);
		}
	for (size_t k = 0; k < nb; k++) {
		const unsigned char *wk = W + k * bb;
		int8x16_t w[QP_MR][2];
		int32x4_t I[QP_MR][QP_NT];
		uint16_t h[4] = {0, 0, 0, 0};
		for (int r = 0; r < mr; r++) {
			QP(wload)(q8, wk + (size_t)r * ldb + 2, &w[r][0], &w[r][1]);
			memcpy(&h[r], wk + (size_t)r * ldb, 2);
			for (int n = 0; n < nt; n++)
				I[r][n] = vdupq_n_s32(0);
		}
		for (int n = 0; n < nt; n++) {
			const int8_t *xq = a->q + ((g0 + (size_t)n) * nb + k) * 128;
#define QP_STEP(J)                                                                          \
	do {                                                                                \
		const int8x16_t xv = vld1q_s8(xq + 16 * (J));                               \
		for (int r = 0; r < mr; r++)                                                \
			I[r][n] = QP_DOT4(I[r][n], xv, w[r][(J) / 4], (J) % 4);             \
	} while (0)
			QP_STEP(0);
			QP_STEP(1);
			QP_STEP(2);
			QP_STEP(3);
			QP_STEP(4);
			QP_STEP(5);
			QP_STEP(6);
			QP_STEP(7);
#undef QP_STEP
		}
		/* the matvec tile's exact F16 widening of the scales */
		float d[4];
		vst1q_f32(d, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h))));
		for (int r = 0; r < mr; r++) {
			const float32x4_t dw = vdupq_n_f32(d[r]);
			for (int n = 0; n < nt; n++) {
				float32x4_t s = vmulq_f32(dw, vld1q_f32(a->dx + ((g0 + (size_t)n) * nb + k) * 4));
				acc[r][n] = vfmaq_f32(acc[r][n], s, vcvtq_f32_s32(I[r][n]));
			}
		}
	}
	for (int r = 0; r < mr; r++)
		for (int n = 0; n < nt; n++) {
			vst1q_f32(buf, acc[r][n]);
			for (size_t t = 0; t < 4; t++) {
				size_t tok = 4 * (g0 + (size_t)n) + t;
				if (tok < tnum)
					Yt[tok * ldy + (size_t)r] = buf[t];
			}
		}
}

/* The tile for run-time shapes: each (mr, nt) its own unrolled code. */
static void QP(tile_any)(int q8, int mr, int nt, const unsigned char *W, size_t ldb, const qnp_act *a, size_t g0,
			 float *Yt, size_t ldy, size_t tnum, int first)
{
#define QP_CASE(MR, NT)                                                                     \
	case (MR)*4 + (NT):                                                                 \
		if (q8)                                                                     \
			QP(tile)(1, MR, NT, W, ldb, a, g0, Yt, ldy, tnum, first);          \
		else                                                                        \
			QP(tile)(0, MR, NT, W, ldb, a, g0, Yt, ldy, tnum, first);          \
		break;
	switch (mr * 4 + nt) {
		QP_CASE(4, 2)
		QP_CASE(4, 1)
		QP_CASE(3, 2)
		QP_CASE(3, 1)
		QP_CASE(2, 2)
		QP_CASE(2, 1)
		QP_CASE(1, 2)
		QP_CASE(1, 1)
	}
#undef QP_CASE
}

int QP(prefill)(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		size_t ldx, float *Y, size_t ldy)
{
	const size_t bb = q8 ? 34 : 18;
	qnp_act a;
	if (qnp_alloc(&a))
		return -1;
	for (size_t k0 = 0; k0 < nb; k0 += LKQ_CHUNK_BLOCKS) {
		size_t n = nb - k0 < LKQ_CHUNK_BLOCKS ? nb - k0 : LKQ_CHUNK_BLOCKS;
		for (size_t t0 = 0; t0 < T; t0 += QNP_TB) {
			size_t nt = T - t0 < QNP_TB ? T - t0 : QNP_TB, ng = (nt + 3) / 4;
			qnp_quant(X, ldx, t0, nt, k0, n, &a);
			for (size_t r = 0; r < rows; r += QP_MR) {
				int mr = rows - r < QP_MR ? (int)(rows - r) : QP_MR;
				const unsigned char *Wr = W + r * ldb + k0 * bb;
				for (size_t g = 0; g < ng; g += QP_NT) {
					int ntg = ng - g < QP_NT ? (int)(ng - g) : QP_NT;
					QP(tile_any)(q8, mr, ntg, Wr, ldb, &a, g, Y + t0 * ldy + r, ldy, nt, k0 == 0);
				}
			}
		}
	}
	qnp_free(&a);
	return 0;
}
