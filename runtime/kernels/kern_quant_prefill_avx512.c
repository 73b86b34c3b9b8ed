/*
 * kern_quant_prefill_avx512.c - lk_matmul of Q8_0/Q4_0 weights with tokens
 * in the 16 lanes of a 512-bit register (kern_quant_prefill.h), with
 * AVX512_VNNI's vpdpbusd or AVX512BW's vpmaddubsw + vpmaddwd.
 */
#include "kern_quant.h"

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#define INL static inline __attribute__((always_inline))

#include "kern_quant_simd.h"

INL int32_t ld32s(const unsigned char *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

#define PF_UNROLL _Pragma("GCC unroll 8")
#define PF_G 16
#define PF_MR 4
#define PF_NT 2
#define PF_TB 64
#define PF_VI __m512i
#define PF_VF __m512
#define PF_LDI(p) _mm512_loadu_si512((const void *)(p))
#define PF_LDF(p) _mm512_loadu_ps(p)
#define PF_STF(p, v) _mm512_storeu_ps(p, v)
#define PF_BCAST32(x) _mm512_set1_epi32(x)
#define PF_SET1F(x) _mm512_set1_ps(x)
#define PF_SET1B(c) _mm512_set1_epi8((char)(c))
#define PF_XOR(a, b) _mm512_xor_si512(a, b)
#define PF_AND(a, b) _mm512_and_si512(a, b)
#define PF_SRL4(a) _mm512_srli_epi16(a, 4)
#define PF_CVTF(a) _mm512_cvtepi32_ps(a)
#define PF_MULF(a, b) _mm512_mul_ps(a, b)
#define PF_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define PF_ZEROF() _mm512_setzero_ps()
#define PF_ABS8(a) _mm512_abs_epi8(a)
#define PF_NEG8(x, w) _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x)

/* act_block (kern_quant_simd.h) in two 512-bit registers: the same rule
 * step by step (the exact max, the same two float32 divisions, the product
 * rounded to nearest even by the conversion itself), so the same codes, sum
 * and dx; the codes narrowed in order by vpmovsdb (|q| <= 127: nothing
 * saturates) instead of packs and a permute, and no array of registers
 * for the compiler to keep on the stack.  A prefill quantizes every token
 * once per matmul and thread: 16% of the tile's time before, 13% after. */
INL float pf_act_block(const float *xk, __m256i *q, int32_t *sum)
{
	const __m512 big = _mm512_set1_ps(FLT_MAX);
	const __m512 v0 = _mm512_loadu_ps(xk), v1 = _mm512_loadu_ps(xk + 16);
	const __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
	const __mmask16 bad = _mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ);
	const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
	if (bad || amax == 0.0f) {
		*q = _mm256_setzero_si256();
		*sum = 0;
		return bad ? NAN : 0.0f;
	}
	float d = amax / 127.0f, id = 127.0f / amax;
	if (!(id <= FLT_MAX))
		id = 0.0f;
	const __m512 vid = _mm512_set1_ps(id);
	/* a macro: the rounding argument must be a constant expression */
#define PF_EVEN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
	const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid), PF_EVEN);
	const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid), PF_EVEN);
#undef PF_EVEN
	*sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
	*q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtsepi32_epi8(q0)), _mm512_cvtsepi32_epi8(q1), 1);
	return d;
}
#define PF_ACT_BLOCK pf_act_block

/* Rows 0..3 of 16 tokens (lanes) to Y + t ldy, 16 bytes per token: a 4x4
 * transpose in each 128-bit lane (unpack, then shuffle: register q, lane
 * j = token 4j + q), then one store per token.  The scalar loop it
 * replaces (a buffer, then 64 loads, tests and stores per 16 tokens) was
 * 13% of the tile's time. */
INL void pf_store4(float *Y, size_t ldy, __m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
	const __m512 t0 = _mm512_unpacklo_ps(a0, a1), t1 = _mm512_unpackhi_ps(a0, a1);
	const __m512 t2 = _mm512_unpacklo_ps(a2, a3), t3 = _mm512_unpackhi_ps(a2, a3);
	const __m512 u0 = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
	const __m512 u1 = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
	const __m512 u2 = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
	const __m512 u3 = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
#define PF_STORE_LANE(j)                                                                 \
	do {                                                                             \
		_mm_storeu_ps(Y + (4 * (j)) * ldy, _mm512_extractf32x4_ps(u0, j));     \
		_mm_storeu_ps(Y + (4 * (j) + 1) * ldy, _mm512_extractf32x4_ps(u1, j)); \
		_mm_storeu_ps(Y + (4 * (j) + 2) * ldy, _mm512_extractf32x4_ps(u2, j)); \
		_mm_storeu_ps(Y + (4 * (j) + 3) * ldy, _mm512_extractf32x4_ps(u3, j)); \
	} while (0)
	PF_STORE_LANE(0);
	PF_STORE_LANE(1);
	PF_STORE_LANE(2);
	PF_STORE_LANE(3);
#undef PF_STORE_LANE
}
#define PF_STORE4(Y, ldy, a0, a1, a2, a3) pf_store4(Y, ldy, a0, a1, a2, a3)

#define PF(name) pf_base_##name
#define PF_TARGET
#define PF_VNNI 0
#define PF_DPB(acc, u, s) _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)))
#include "kern_quant_prefill.h"
#undef PF
#undef PF_TARGET
#undef PF_VNNI
#undef PF_DPB

#define PF(name) pf_vnni_##name
#define PF_TARGET __attribute__((target("avx512vnni")))
#define PF_VNNI 1
#define PF_DPB(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#include "kern_quant_prefill.h"

int lkq_prefill_avx512(int q8, const unsigned char *W, size_t ldb, size_t rows, size_t nb, const float *X, size_t T,
		       size_t ldx, float *Y, size_t ldy)
{
	if (lkq_vnni(LUTDB_CPU_AVX512VNNI))
		return pf_vnni_run(q8, W, ldb, rows, nb, X, T, ldx, Y, ldy);
	return pf_base_run(q8, W, ldb, rows, nb, X, T, ldx, Y, ldy);
}
