/*
 * kern_quant_neon.h - pieces the aarch64 quantized kernels share
 * (kern_quant_neon.c, and kern_quant_neon_dotprod.c, which is compiled for
 * ARMv8.2 + dot product): the activation of the dense kernels by kernels.h's
 * rule, the tokens-in-lanes layout of the prefill's activations, and the
 * entry points of the dense kernels of each file.
 */
#ifndef LUTDB_KERN_QUANT_NEON_H
#define LUTDB_KERN_QUANT_NEON_H

#include <arm_neon.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kern_quant.h"

#ifndef INL
#define INL static inline __attribute__((always_inline))
#endif

/* One activation chunk: block k's 32 codes at q[32k..), its dx[k]. */
typedef struct {
	size_t nb;
	float dx[LKQ_CHUNK_BLOCKS];
	int8_t q[LKQ_CHUNK_BLOCKS * 32];
} qn_act;

/* One block of 32 values by kernels.h's rule: the codes to q; returns dx.
 * fcvtns rounds to nearest, ties to even, whatever the FPCR says. */
INL float qn_act_block(const float *x, int8_t *q)
{
	float32x4_t v[8];
	float32x4_t m = vdupq_n_f32(0.0f);
	uint32x4_t ok = vdupq_n_u32(0xffffffffu);
	for (int i = 0; i < 8; i++) {
		v[i] = vld1q_f32(x + 4 * i);
		float32x4_t a = vabsq_f32(v[i]);
		ok = vandq_u32(ok, vcleq_f32(a, vdupq_n_f32(FLT_MAX))); /* false: NaN, inf */
		m = vmaxq_f32(m, a);
	}
	int bad = vminvq_u32(ok) == 0;
	float amax = bad ? 0.0f : vmaxvq_f32(m);
	if (bad || amax == 0.0f) {
		memset(q, 0, 32);
		return bad ? NAN : 0.0f;
	}
	float d = amax / 127.0f, id = 127.0f / amax;
	if (!(id <= FLT_MAX))
		id = 0.0f;
	const float32x4_t vid = vdupq_n_f32(id);
	for (int i = 0; i < 8; i += 2) {
		int32x4_t a = vcvtnq_s32_f32(vmulq_f32(v[i], vid));
		int32x4_t b = vcvtnq_s32_f32(vmulq_f32(v[i + 1], vid));
		int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b)); /* |code| <= 127 */
		vst1_s8(q + 4 * i, vmovn_s16(h));
	}
	return d;
}

/* Blocks [0, nb) of x into a. */
static inline void qn_act_quant(const float *x, size_t nb, qn_act *a)
{
	a->nb = nb;
	for (size_t k = 0; k < nb; k++)
		a->dx[k] = qn_act_block(x + 32 * k, a->q + 32 * k);
}

/* ---- prefill with tokens in lanes (kern_quant_neon_prefill.h) ----------------------
 * The activations of QNP_TB tokens at a time, 4 tokens to a register: for
 * token group g, block k and value group j (values 4j..4j+3), the 16 bytes
 * q[((g nb + k) 8 + j) 16 ..) are those 4 codes of tokens 4g .. 4g + 3, and
 * dx[(g nb + k) 4 + t] is token 4g + t's dx of block k.  Tokens past the
 * last (up to the group's end) are zeros. */
#define QNP_TB 64

typedef struct {
	size_t nb;
	int8_t *q;
	float *dx;
} qnp_act;

/* A buffer for QNP_TB tokens of LKQ_CHUNK_BLOCKS blocks (576 KiB: on the
 * heap, not the stack); -1 without memory. */
static inline int qnp_alloc(qnp_act *a)
{
	a->q = malloc((size_t)QNP_TB * LKQ_CHUNK_BLOCKS * 32);
	a->dx = malloc((size_t)QNP_TB * LKQ_CHUNK_BLOCKS * sizeof(float));
	if (!a->q || !a->dx) {
		free(a->q);
		free(a->dx);
		return -1;
	}
	return 0;
}

static inline void qnp_free(qnp_act *a)
{
	free(a->q);
	free(a->dx);
}

/* Tokens [t0, t0 + nt) of X (nt <= QNP_TB), blocks [k0, k0 + nb), into a. */
static inline void qnp_quant(const float *X, size_t ldx, size_t t0, size_t nt, size_t k0, size_t nb, qnp_act *a)
{
	const size_t groups = (nt + 3) / 4;
	a->nb = nb;
	for (size_t g = 0; g < groups; g++)
		for (size_t t = 0; t < 4; t++)
			for (size_t k = 0; k < nb; k++) {
				size_t gk = g * nb + k, tok = 4 * g + t;
				int8_t q[32] = {0};
				float dx = 0.0f;
				if (tok < nt)
					dx = qn_act_block(X + (t0 + tok) * ldx + 32 * (k0 + k), q);
				for (size_t j = 0; j < 8; j++)
					memcpy(a->q + (gk * 8 + j) * 16 + 4 * t, q + 4 * j, 4);
				a->dx[gk * 4 + t] = dx;
			}
}

/* The dense matvec of each file: Q8_0 (q8 1) or Q4_0 rows of ldb bytes,
 * nb >= 1 blocks. */
void lkqn_matvec_base(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *x, float *y);
void lkqn_matvec_dotprod(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *x,
			 float *y);
/* The prefill of each file: lk_matmul's T tokens of X into Y, bitwise T
 * matvecs; -1 without memory for its buffer (nothing written), else 0. */
int lkqnp_prefill_base(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		      size_t ldx, float *Y, size_t ldy);
int lkqnp_prefill_dotprod(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X,
			 size_t T, size_t ldx, float *Y, size_t ldy);

#endif
