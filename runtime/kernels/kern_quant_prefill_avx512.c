/*
 * kern_quant_prefill_avx512.c - lk_matmul of Q8_0/Q4_0 weights (prefill,
 * batches) with AVX512_VNNI: tokens in the 16 lanes of a register.
 *
 * A matvec must reduce each row's 32 products per block across lanes; a
 * matmul has tokens to put there instead.  The activations of 16 tokens are
 * quantized (kernels.h's rule, act_block) and laid out so that one 64-byte
 * load gives, for one block and one group of 4 values, those 4 codes of each
 * of the 16 tokens; a weight's 4 codes, broadcast, then meet all 16 tokens
 * in one vpdpbusd, and 8 of them accumulate a whole block's integer sum per
 * token, with no reduction.  The float part is the matvec's, per output:
 * s = F32(d) * dx, then one fma per block in block order, so each output has
 * the bits of lk_matvec (and of every ISA).
 *
 * Register tile: MM_MR rows x MM_NT groups of 16 tokens; each row's 4-byte
 * broadcast serves MM_NT token registers.  Tokens are quantized MM_TB at a
 * time (a malloc'd buffer; without memory, the caller falls back to matvecs,
 * with the same bits).
 */
#include "kern_quant.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define INL static inline __attribute__((always_inline))

#include "kern_quant_simd.h"

#define Z_TARGET __attribute__((target("avx512vnni")))
#define MM_UNROLL _Pragma("GCC unroll 8")

#define MM_MR 4		/* rows of a tile */
#define MM_NT 2		/* token registers of a tile */
#define MM_TB 64	/* tokens quantized at a time: 4 groups of 16 */

/* The quantized tokens of one buffer fill: group g, block k: codes
 * q[((g nb + k) 8 + j) 16 + t] = values 4j..4j+3 of token 16g + t, and
 * dx, corr[(g nb + k) 16 + t]. */
typedef struct {
	size_t nb;
	int32_t *q, *corr;
	float *dx;
} mm_act;

/* Tokens [t0, t0 + nt) of X, blocks [k0, k0 + nb), into a (tokens from nt up
 * to the group's end are zeros). */
static void mm_quant(const float *X, size_t ldx, size_t t0, size_t nt, size_t k0, size_t nb, int32_t cq, mm_act *a)
{
	size_t groups = (nt + 15) / 16;
	a->nb = nb;
	for (size_t g = 0; g < groups; g++)
		for (size_t t = 0; t < 16; t++)
			for (size_t k = 0; k < nb; k++) {
				size_t gk = g * nb + k, tok = 16 * g + t;
				uint32_t w[8] = {0};
				float dx = 0.0f;
				int32_t sum = 0;
				if (tok < nt) {
					__m256i q;
					dx = act_block(X + (t0 + tok) * ldx + 32 * (k0 + k), &q, &sum);
					_mm256_storeu_si256((__m256i *)(void *)w, q);
				}
				for (int j = 0; j < 8; j++)
					a->q[(gk * 8 + (size_t)j) * 16 + t] = (int32_t)w[j];
				a->dx[gk * 16 + t] = dx;
				a->corr[gk * 16 + t] = cq * sum;
			}
}

INL int32_t ld32s(const unsigned char *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Rows [0, mr) of W (blocks of the chunk from W on) times token groups
 * g0 .. g0 + nt - 1 of a; Y of token 16 g + t at Yt + (16 g + t) ldy (only
 * the tnum tokens of the buffer that exist). */
Z_TARGET INL void mm_tile(int q8, int mr, int nt, const unsigned char *W, size_t ldb, const mm_act *a, size_t g0,
			  float *Yt, size_t ldy, size_t tnum, int first)
{
	const size_t bb = q8 ? 34 : 18, nb = a->nb;
	__m512 acc[MM_MR][MM_NT];
	float buf[16];
	MM_UNROLL for (int r = 0; r < mr; r++)
		MM_UNROLL for (int n = 0; n < nt; n++) {
			acc[r][n] = _mm512_setzero_ps();
			if (!first) {
				for (size_t t = 0; t < 16; t++) {
					size_t tok = 16 * (g0 + (size_t)n) + t;
					buf[t] = tok < tnum ? Yt[tok * ldy + (size_t)r] : 0.0f;
				}
				acc[r][n] = _mm512_loadu_ps(buf);
			}
		}
	for (size_t k = 0; k < nb; k++) {
		const unsigned char *wk = W + k * bb;
		const int32_t *xq[MM_NT];
		__m512i I[MM_MR][MM_NT];
		MM_UNROLL for (int n = 0; n < nt; n++) {
			size_t gk = (g0 + (size_t)n) * nb + k;
			xq[n] = a->q + gk * 128;
			__m512i c = _mm512_loadu_si512(a->corr + gk * 16);
			MM_UNROLL for (int r = 0; r < mr; r++)
				I[r][n] = c;
		}
		if (q8) {
			const __m512i bias = _mm512_set1_epi8((char)0x80);
			MM_UNROLL for (int j = 0; j < 8; j++) {
				__m512i xv[MM_NT];
				MM_UNROLL for (int n = 0; n < nt; n++)
					xv[n] = _mm512_loadu_si512(xq[n] + 16 * j);
				MM_UNROLL for (int r = 0; r < mr; r++) {
					__m512i b = _mm512_set1_epi32(ld32s(wk + (size_t)r * ldb + 2 + 4 * j));
					b = _mm512_xor_si512(b, bias);
					MM_UNROLL for (int n = 0; n < nt; n++)
						I[r][n] = _mm512_dpbusd_epi32(I[r][n], b, xv[n]);
				}
			}
		} else {
			const __m512i m4 = _mm512_set1_epi8(15);
			MM_UNROLL for (int j = 0; j < 4; j++) {
				__m512i xl[MM_NT], xh[MM_NT];
				MM_UNROLL for (int n = 0; n < nt; n++) {
					xl[n] = _mm512_loadu_si512(xq[n] + 16 * j);
					xh[n] = _mm512_loadu_si512(xq[n] + 16 * (j + 4));
				}
				MM_UNROLL for (int r = 0; r < mr; r++) {
					__m512i d = _mm512_set1_epi32(ld32s(wk + (size_t)r * ldb + 2 + 4 * j));
					__m512i lo = _mm512_and_si512(d, m4);
					__m512i hi = _mm512_and_si512(_mm512_srli_epi16(d, 4), m4);
					MM_UNROLL for (int n = 0; n < nt; n++) {
						I[r][n] = _mm512_dpbusd_epi32(I[r][n], lo, xl[n]);
						I[r][n] = _mm512_dpbusd_epi32(I[r][n], hi, xh[n]);
					}
				}
			}
		}
		MM_UNROLL for (int r = 0; r < mr; r++) {
			uint16_t h;
			memcpy(&h, wk + (size_t)r * ldb, 2);
			const __m512 dw = _mm512_set1_ps(_cvtsh_ss(h));
			MM_UNROLL for (int n = 0; n < nt; n++) {
				__m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(a->dx + ((g0 + (size_t)n) * nb + k) * 16));
				acc[r][n] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(I[r][n]), acc[r][n]);
			}
		}
	}
	MM_UNROLL for (int r = 0; r < mr; r++)
		MM_UNROLL for (int n = 0; n < nt; n++) {
			_mm512_storeu_ps(buf, acc[r][n]);
			for (size_t t = 0; t < 16; t++) {
				size_t tok = 16 * (g0 + (size_t)n) + t;
				if (tok < tnum)
					Yt[tok * ldy + (size_t)r] = buf[t];
			}
		}
}

/* The tile for run-time shapes: each (mr, nt) its own unrolled code. */
Z_TARGET static void mm_tile_any(int q8, int mr, int nt, const unsigned char *W, size_t ldb, const mm_act *a,
				 size_t g0, float *Yt, size_t ldy, size_t tnum, int first)
{
#define MM_CASE(MR, NT)                                                                      \
	case (MR)*4 + (NT):                                                                  \
		if (q8)                                                                      \
			mm_tile(1, MR, NT, W, ldb, a, g0, Yt, ldy, tnum, first);            \
		else                                                                         \
			mm_tile(0, MR, NT, W, ldb, a, g0, Yt, ldy, tnum, first);            \
		break;
	switch (mr * 4 + nt) {
		MM_CASE(4, 2)
		MM_CASE(4, 1)
		MM_CASE(3, 2)
		MM_CASE(3, 1)
		MM_CASE(2, 2)
		MM_CASE(2, 1)
		MM_CASE(1, 2)
		MM_CASE(1, 1)
	}
#undef MM_CASE
}

int lkq_prefill_avx512(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		       size_t ldx, float *Y, size_t ldy)
{
	const size_t groups = MM_TB / 16, blocks = LKQ_CHUNK_BLOCKS;
	mm_act a;
	a.q = malloc(groups * blocks * 128 * sizeof(int32_t));
	a.corr = malloc(groups * blocks * 16 * sizeof(int32_t));
	a.dx = malloc(groups * blocks * 16 * sizeof(float));
	if (!a.q || !a.corr || !a.dx) {
		free(a.q);
		free(a.corr);
		free(a.dx);
		return -1;
	}
	const size_t bb = q8 ? 34 : 18;
	for (size_t k0 = 0; k0 < nb; k0 += blocks) {
		size_t n = nb - k0 < blocks ? nb - k0 : blocks;
		for (size_t t0 = 0; t0 < T; t0 += MM_TB) {
			size_t nt = T - t0 < MM_TB ? T - t0 : MM_TB, ng = (nt + 15) / 16;
			mm_quant(X, ldx, t0, nt, k0, n, q8 ? -128 : -8, &a);
			for (size_t r = 0; r < rows; r += MM_MR) {
				int mr = rows - r < MM_MR ? (int)(rows - r) : MM_MR;
				const unsigned char *Wr = W + r * ldb + k0 * bb;
				for (size_t g = 0; g < ng; g += MM_NT) {
					int nt2 = ng - g < MM_NT ? (int)(ng - g) : MM_NT;
					mm_tile_any(q8, mr, nt2, Wr, ldb, &a, g, Y + t0 * ldy + r, ldy, nt, k0 == 0);
				}
			}
		}
	}
	free(a.q);
	free(a.corr);
	free(a.dx);
	return 0;
}
