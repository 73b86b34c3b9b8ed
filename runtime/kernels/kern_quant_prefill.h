/*
 * kern_quant_prefill.h - lk_matmul of Q8_0/Q4_0 weights (prefill, batches)
 * with tokens in the lanes of a register; included by
 * kern_quant_prefill_avx512.c (16 lanes) and kern_quant_prefill_avx2.c (8),
 * once per integer dot (vpdpbusd, or vpmaddubsw + vpmaddwd).
 *
 * A matvec must reduce each row's 32 products per block across lanes; a
 * matmul has tokens to put there instead.  The activations of PF_G tokens
 * are quantized (kernels.h's rule, act_block) and laid out so that one load
 * gives, for one block and one group of 4 values, those 4 codes of each of
 * the PF_G tokens; a weight's 4 codes, broadcast, then meet all of them in
 * one integer dot, and 8 of those accumulate a whole block's integer sum per
 * token, with no reduction.  The float part is the matvec's, per output:
 * s = F32(d) * dx, then one fma per block in block order, so each output has
 * the bits of lk_matvec (and of every ISA).
 *
 * Register tile: PF_MR rows x PF_NT registers of PF_G tokens; each row's
 * broadcast serves PF_NT token registers.  Tokens are quantized PF_TB at a
 * time into a malloc'd buffer (without memory PF(run) returns -1 and the
 * caller falls back to matvecs, with the same bits).
 *
 * The including file defines PF(name), PF_TARGET, PF_VNNI, PF_G, PF_MR,
 * PF_NT, PF_TB, the vector types PF_VI / PF_VF and the operations used
 * below (PF_LDI, PF_LDF, PF_STF, PF_BCAST32, PF_SET1F, PF_SET1B, PF_XOR,
 * PF_AND, PF_SRL4, PF_CVTF, PF_MULF, PF_FMA, PF_ZEROF and PF_DPB(acc, u8,
 * s8), the 4-byte dot products of unsigned u8 and signed s8 added to acc;
 * without VNNI also PF_ABS8 and PF_NEG8(x, w): x negated where w < 0).
 * Optional: PF_ACT_BLOCK, a faster act_block with its contract and bits
 * (act_block when not defined), and PF_STORE4(Y, ldy, r0, r1, r2, r3),
 * which stores the G outputs of 4 rows token by token (Y + t ldy).
 */
#ifndef PF_ACT_BLOCK
#define PF_ACT_BLOCK act_block
#endif

/* The quantized tokens of one buffer fill: group g, block k: codes
 * q[((g nb + k) 8 + j) G + t] = values 4j..4j+3 of token G g + t, and
 * dx, corr[(g nb + k) G + t]. */
typedef struct {
	size_t nb;
	int32_t *q, *corr;
	float *dx;
} PF(act);

/* Tokens [t0, t0 + nt) of X, blocks [k0, k0 + nb), into a (tokens from nt up
 * to the group's end are zeros). */
static void PF(quant)(const float *X, size_t ldx, size_t t0, size_t nt, size_t k0, size_t nb, int32_t cq,
		      PF(act) *a)
{
	const size_t G = PF_G, groups = (nt + G - 1) / G;
	a->nb = nb;
	for (size_t g = 0; g < groups; g++)
		for (size_t t = 0; t < G; t++)
			for (size_t k = 0; k < nb; k++) {
				size_t gk = g * nb + k, tok = G * g + t;
				uint32_t w[8] = {0};
				float dx = 0.0f;
				int32_t sum = 0;
				if (tok < nt) {
					__m256i q;
					dx = PF_ACT_BLOCK(X + (t0 + tok) * ldx + 32 * (k0 + k), &q, &sum);
					_mm256_storeu_si256((__m256i *)(void *)w, q);
				}
				for (int j = 0; j < 8; j++)
					a->q[(gk * 8 + (size_t)j) * G + t] = (int32_t)w[j];
				a->dx[gk * G + t] = dx;
				a->corr[gk * G + t] = cq * sum;
			}
}

/* Rows [0, mr) of W (blocks of the chunk from W on) times token registers
 * g0 .. g0 + nt - 1 of a; Y of token G g + t at Yt + (G g + t) ldy (only the
 * tnum tokens of the buffer that exist). */
PF_TARGET INL void PF(tile)(int q8, int mr, int nt, const unsigned char *W, size_t ldb, const PF(act) *a, size_t g0,
			    float *Yt, size_t ldy, size_t tnum, int first)
{
	const size_t G = PF_G, bb = q8 ? 34 : 18, nb = a->nb;
	PF_VF acc[PF_MR][PF_NT];
	float buf[PF_G];
	PF_UNROLL for (int r = 0; r < mr; r++)
		PF_UNROLL for (int n = 0; n < nt; n++) {
			acc[r][n] = PF_ZEROF();
			if (!first) {
				for (size_t t = 0; t < G; t++) {
					size_t tok = G * (g0 + (size_t)n) + t;
					buf[t] = tok < tnum ? Yt[tok * ldy + (size_t)r] : 0.0f;
				}
				acc[r][n] = PF_LDF(buf);
			}
		}
	for (size_t k = 0; k < nb; k++) {
		const unsigned char *wk = W + k * bb;
		const int32_t *xq[PF_NT];
		PF_VI I[PF_MR][PF_NT];
		PF_UNROLL for (int n = 0; n < nt; n++) {
			size_t gk = (g0 + (size_t)n) * nb + k;
			xq[n] = a->q + gk * 8 * G;
			PF_VI c = PF_LDI(a->corr + gk * G);
			PF_UNROLL for (int r = 0; r < mr; r++)
				I[r][n] = c;
		}
		if (q8) {
			PF_UNROLL for (int j = 0; j < 8; j++) {
				PF_VI xv[PF_NT];
				PF_UNROLL for (int n = 0; n < nt; n++)
					xv[n] = PF_LDI(xq[n] + G * (size_t)j);
				PF_UNROLL for (int r = 0; r < mr; r++) {
					PF_VI b = PF_BCAST32(ld32s(wk + (size_t)r * ldb + 2 + 4 * j));
#if PF_VNNI
					/* unsigned w + 128; the correction takes back 128 sum(x) */
					b = PF_XOR(b, PF_SET1B(0x80));
					PF_UNROLL for (int n = 0; n < nt; n++)
						I[r][n] = PF_DPB(I[r][n], b, xv[n]);
#else
					/* |w| times x with w's sign: no 16-bit saturation */
					PF_VI ab = PF_ABS8(b);
					PF_UNROLL for (int n = 0; n < nt; n++)
						I[r][n] = PF_DPB(I[r][n], ab, PF_NEG8(xv[n], b));
#endif
				}
			}
		} else {
			PF_UNROLL for (int j = 0; j < 4; j++) {
				PF_VI xl[PF_NT], xh[PF_NT];
				PF_UNROLL for (int n = 0; n < nt; n++) {
					xl[n] = PF_LDI(xq[n] + G * (size_t)j);
					xh[n] = PF_LDI(xq[n] + G * (size_t)(j + 4));
				}
				PF_UNROLL for (int r = 0; r < mr; r++) {
					PF_VI d = PF_BCAST32(ld32s(wk + (size_t)r * ldb + 2 + 4 * j));
					PF_VI lo = PF_AND(d, PF_SET1B(15));
					PF_VI hi = PF_AND(PF_SRL4(d), PF_SET1B(15));
					PF_UNROLL for (int n = 0; n < nt; n++) {
						I[r][n] = PF_DPB(I[r][n], lo, xl[n]);
						I[r][n] = PF_DPB(I[r][n], hi, xh[n]);
					}
				}
			}
		}
		PF_UNROLL for (int r = 0; r < mr; r++) {
			uint16_t h;
			memcpy(&h, wk + (size_t)r * ldb, 2);
			const PF_VF dw = PF_SET1F(_cvtsh_ss(h));
			PF_UNROLL for (int n = 0; n < nt; n++) {
				PF_VF s = PF_MULF(dw, PF_LDF(a->dx + ((g0 + (size_t)n) * nb + k) * G));
				acc[r][n] = PF_FMA(s, PF_CVTF(I[r][n]), acc[r][n]);
			}
		}
	}
#ifdef PF_STORE4
	if (mr == 4) {
		/* each token's 4 rows in one store, not 4 scalars (a whole group;
		 * the buffer's last partial one below) */
		PF_UNROLL for (int n = 0; n < nt; n++)
			if (G * (g0 + (size_t)n) + G <= tnum)
				PF_STORE4(Yt + G * (g0 + (size_t)n) * ldy, ldy, acc[0][n], acc[1][n], acc[2][n],
					  acc[3][n]);
		PF_UNROLL for (int n = 0; n < nt; n++) {
			if (G * (g0 + (size_t)n) + G <= tnum)
				continue;
			PF_UNROLL for (int r = 0; r < 4; r++) {
				PF_STF(buf, acc[r][n]);
				for (size_t t = 0; t < G; t++) {
					size_t tok = G * (g0 + (size_t)n) + t;
					if (tok < tnum)
						Yt[tok * ldy + (size_t)r] = buf[t];
				}
			}
		}
		return;
	}
#endif
	PF_UNROLL for (int r = 0; r < mr; r++)
		PF_UNROLL for (int n = 0; n < nt; n++) {
			PF_STF(buf, acc[r][n]);
			for (size_t t = 0; t < G; t++) {
				size_t tok = G * (g0 + (size_t)n) + t;
				if (tok < tnum)
					Yt[tok * ldy + (size_t)r] = buf[t];
			}
		}
}

/* The tile for run-time shapes: each (mr, nt) its own unrolled code. */
PF_TARGET static void PF(tile_any)(int q8, int mr, int nt, const unsigned char *W, size_t ldb, const PF(act) *a,
				   size_t g0, float *Yt, size_t ldy, size_t tnum, int first)
{
#define PF_CASE(MR, NT)                                                                      \
	case (MR)*4 + (NT):                                                                  \
		if (q8)                                                                      \
			PF(tile)(1, MR, NT, W, ldb, a, g0, Yt, ldy, tnum, first);           \
		else                                                                         \
			PF(tile)(0, MR, NT, W, ldb, a, g0, Yt, ldy, tnum, first);           \
		break;
	switch (mr * 4 + nt) {
#if PF_MR >= 4
		PF_CASE(4, 2)
		PF_CASE(4, 1)
		PF_CASE(3, 2)
		PF_CASE(3, 1)
#endif
		PF_CASE(2, 2)
		PF_CASE(2, 1)
		PF_CASE(1, 2)
		PF_CASE(1, 1)
	}
#undef PF_CASE
}

static int PF(run)(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		   size_t ldx, float *Y, size_t ldy)
{
	const size_t G = PF_G, groups = PF_TB / PF_G, blocks = LKQ_CHUNK_BLOCKS, bb = q8 ? 34 : 18;
	PF(act) a;
	a.q = malloc(groups * blocks * 8 * G * sizeof(int32_t));
	a.corr = malloc(groups * blocks * G * sizeof(int32_t));
	a.dx = malloc(groups * blocks * G * sizeof(float));
	if (!a.q || !a.corr || !a.dx) {
		free(a.q);
		free(a.corr);
		free(a.dx);
		return -1;
	}
	for (size_t k0 = 0; k0 < nb; k0 += blocks) {
		size_t n = nb - k0 < blocks ? nb - k0 : blocks;
		for (size_t t0 = 0; t0 < T; t0 += PF_TB) {
			size_t nt = T - t0 < PF_TB ? T - t0 : PF_TB, ng = (nt + G - 1) / G;
			PF(quant)(X, ldx, t0, nt, k0, n, q8 ? (PF_VNNI ? -128 : 0) : -8, &a);
			for (size_t r = 0; r < rows; r += PF_MR) {
				int mr = rows - r < PF_MR ? (int)(rows - r) : PF_MR;
				const unsigned char *Wr = W + r * ldb + k0 * bb;
				for (size_t g = 0; g < ng; g += PF_NT) {
					int ntg = ng - g < PF_NT ? (int)(ng - g) : PF_NT;
					PF(tile_any)(q8, mr, ntg, Wr, ldb, &a, g, Y + t0 * ldy + r, ldy, nt, k0 == 0);
				}
			}
		}
	}
	free(a.q);
	free(a.corr);
	free(a.dx);
	return 0;
}
