/*
 * kern_quant_prefill_avx512.c - lk_matmul of Q8_0/Q4_0 weights with tokens
 * in the 16 lanes of a 512-bit register (kern_quant_prefill.h), with
 * AVX512_VNNI's vpdpbusd or AVX512BW's vpmaddubsw + vpmaddwd.
 */
#include "kern_quant.h"

#include <immintrin.h>
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
