/*
 * quant_avx512.c - the quantizers on 16 float32 lanes (AVX-512 F/BW/VL/DQ).
 *
 * Compiled with the Makefile's AVX512FLAGS and -ffp-contract=off, called by
 * quant.c only after it checked the CPU.  Every value goes through the same
 * float32 operations as quant.c, in the same order, so the bytes are the
 * scalar code's (tests/unit/test_quant_vector.c compares them bit for bit):
 *   max|x|          vmaxps over |x|: exact, and order-free for values >= 0
 *   scale, 1/d      the scalar steps (quant_steps.h), once per block
 *   x * id, x / sf  vmulps, vdivps: IEEE float32, rounded as the scalar ops
 *   roundf          trunc (vcvttps2dq), then the exact remainder v - t
 *                   compared with +-0.5: half away from zero, as quant.c
 *   NF index        the scalar code's branch-free search over the sorted
 *                   thresholds, with the thresholds gathered by vpermps
 * Bytes are narrowed by truncation (vpmovdb), as the scalar casts do.
 */
#include "quant.h"
#include "quant_steps.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include <immintrin.h>

/* |x| of 16 lanes, and whether one of them is NaN or infinite. */
static inline __m512 abs16(__m512 x)
{
	return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

static inline __mmask16 nonfinite16(__m512 a)
{
	return _mm512_cmpgt_epi32_mask(_mm512_castps_si512(a), _mm512_set1_epi32(0x7f7fffff));
}

/* roundf of 16 lanes (|v| < 2^31): quant.c's round_away. */
static inline __m512i round_away16(__m512 v)
{
	const __m512i one = _mm512_set1_epi32(1);
	__m512i t = _mm512_cvttps_epi32(v);
	__m512 f = _mm512_sub_ps(v, _mm512_cvtepi32_ps(t));

	t = _mm512_mask_add_epi32(t, _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, one);
	return _mm512_mask_sub_epi32(t, _mm512_cmp_ps_mask(f, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), t, one);
}

static int q8_0_block(const float *x, uint8_t *out)
{
	__m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
	__m512 a0 = abs16(x0), a1 = abs16(x1);
	float amax, d, id;
	uint16_t h;
	__m512 vid;

	if (nonfinite16(a0) | nonfinite16(a1))
		return 0;
	amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
	d = amax / 127.0f;
	if (!lq__scale_fits(d, &h))
		return 0;
	id = lq__recip_or_zero(d);
	vid = _mm512_set1_ps(id);
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	_mm_storeu_si128((__m128i *)(void *)(out + 2), _mm512_cvtepi32_epi8(round_away16(_mm512_mul_ps(x0, vid))));
	_mm_storeu_si128((__m128i *)(void *)(out + 18), _mm512_cvtepi32_epi8(round_away16(_mm512_mul_ps(x1, vid))));
	return 1;
}

static int q4_0_block(const float *x, uint8_t *out)
{
	__m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
	__m512 a0 = abs16(x0), a1 = abs16(x1);
	const __m512i fifteen = _mm512_set1_epi32(15);
	float amax, max = 0.0f, d, id;
	__m512i q0, q1;
	uint16_t h;
	__m512 vid, half8 = _mm512_set1_ps(8.5f);

	if (nonfinite16(a0) | nonfinite16(a1))
		return 0;
	amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
	/* quant.c keeps the first value of largest magnitude, +0.0 when all
	 * are zeros */
	if (amax > 0.0f) {
		__m512 m = _mm512_set1_ps(amax);
		uint32_t at = (uint32_t)_mm512_cmp_ps_mask(a0, m, _CMP_EQ_OQ) |
			      (uint32_t)_mm512_cmp_ps_mask(a1, m, _CMP_EQ_OQ) << 16;

		max = x[__builtin_ctz(at)];
	}
	d = max / -8.0f;
	if (!lq__scale_fits(d, &h))
		return 0;
	id = lq__recip_or_zero(d);
	vid = _mm512_set1_ps(id);
	q0 = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(x0, vid), half8)), fifteen);
	q1 = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(x1, vid), half8)), fifteen);
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	_mm_storeu_si128((__m128i *)(void *)(out + 2),
			 _mm512_cvtepi32_epi8(_mm512_or_si512(q0, _mm512_slli_epi32(q1, 4))));
	return 1;
}

/* NF scale: max|x| over the block, its F16 and the float32 divisor. */
static int nf_scale(const float *x, uint32_t block, uint16_t *h, float *sf)
{
	__m512 m = _mm512_setzero_ps();
	__mmask16 bad = 0;

	for (uint32_t j = 0; j < block; j += 16) {
		__m512 a = abs16(_mm512_loadu_ps(x + j));

		bad |= nonfinite16(a);
		m = _mm512_max_ps(m, a);
	}
	if (bad || !lq__scale_fits(_mm512_reduce_max_ps(m), h))
		return 0;
	*sf = lutdb_f16_to_f32(*h);
	return 1;
}

/* z = x / sf, or 0 when sf is 0 (quant.c's nf_z). */
static inline __m512 nf_z16(const float *x, __m512 vsf, int zero)
{
	return zero ? _mm512_setzero_ps() : _mm512_div_ps(_mm512_loadu_ps(x), vsf);
}

/* One step of the search: i += z > t[i + off] ? step : 0. */
static inline __m512i nf_step(__m512i i, __m512 z, __m512 t, int off, int step)
{
	__m512 ti = _mm512_permutexvar_ps(_mm512_add_epi32(i, _mm512_set1_epi32(off)), t);

	return _mm512_mask_add_epi32(i, _mm512_cmp_ps_mask(z, ti, _CMP_GT_OQ), i, _mm512_set1_epi32(step));
}

static inline __m512i nf4_index16(__m512 z, __m512 t)
{
	__m512i i = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(z, _mm512_set1_ps(lq_nf4_split[7]), _CMP_GT_OQ),
					   _mm512_set1_epi32(8));

	i = nf_step(i, z, t, 3, 4);
	i = nf_step(i, z, t, 1, 2);
	return nf_step(i, z, t, 0, 1);
}

static inline __m512i nf3_index16(__m512 z, __m512 t)
{
	__m512i i = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(z, _mm512_set1_ps(lq_nf3_split[3]), _CMP_GT_OQ),
					   _mm512_set1_epi32(4));

	i = nf_step(i, z, t, 1, 2);
	return nf_step(i, z, t, 0, 1);
}

static int nf4_block(const float *x, uint32_t block, __m512 t, uint8_t *out)
{
	uint16_t h;
	float sf;
	__m512 vsf;

	if (!nf_scale(x, block, &h, &sf))
		return 0;
	vsf = _mm512_set1_ps(sf);
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	for (uint32_t j = 0; j < block; j += 16) {
		__m512i i = nf4_index16(nf_z16(x + j, vsf, sf == 0.0f), t);
		/* value 2m in the low nibble of byte m, 2m + 1 in the high one */
		__m512i p = _mm512_or_si512(i, _mm512_srli_epi64(i, 28));

		_mm_storel_epi64((__m128i *)(void *)(out + 2 + j / 2), _mm512_cvtepi64_epi8(p));
	}
	return 1;
}

static int nf3_block(const float *x, uint32_t block, __m512 t, uint8_t *out)
{
	const __m512i shift = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 3, 6, 9, 12, 15, 18, 21);
	uint32_t bits[16];
	uint16_t h;
	float sf;
	__m512 vsf;

	if (!nf_scale(x, block, &h, &sf))
		return 0;
	vsf = _mm512_set1_ps(sf);
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	out += 2;
	for (uint32_t j = 0; j < block; j += 16, out += 6) {
		/* value i of a group of 8 in bits 3i..3i+2 of a 24-bit LE word */
		_mm512_storeu_si512(bits, _mm512_sllv_epi32(nf3_index16(nf_z16(x + j, vsf, sf == 0.0f), t), shift));
		for (int g = 0; g < 2; g++) {
			const uint32_t *b = bits + 8 * g;
			uint32_t w = b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7];

			out[3 * g] = (uint8_t)w;
			out[3 * g + 1] = (uint8_t)(w >> 8);
			out[3 * g + 2] = (uint8_t)(w >> 16);
		}
	}
	return 1;
}

size_t lq__quantize_avx512(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out)
{
	uint64_t bb = lq_block_bytes(dtype, block);
	float tab[16] = {0};
	__m512 t;
	size_t k;

	/* the thresholds, padded: the searches read t[0..14] (NF4), t[0..6] (NF3) */
	if (dtype == LQ_DTYPE_NF4)
		memcpy(tab, lq_nf4_split, sizeof lq_nf4_split);
	else if (dtype == LQ_DTYPE_NF3)
		memcpy(tab, lq_nf3_split, sizeof lq_nf3_split);
	t = _mm512_loadu_ps(tab);
	for (k = 0; k < nb; k++, x += block, out += bb) {
		int ok;

		switch (dtype) {
		case LQ_DTYPE_Q8_0: ok = q8_0_block(x, out); break;
		case LQ_DTYPE_Q4_0: ok = q4_0_block(x, out); break;
		case LQ_DTYPE_NF4: ok = nf4_block(x, block, t, out); break;
		default: ok = nf3_block(x, block, t, out); break;
		}
		if (!ok)
			break;
	}
	return k;
}

#else /* not built for AVX-512: quant.c never calls this */

size_t lq__quantize_avx512(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out)
{
	(void)dtype, (void)block, (void)x, (void)nb, (void)out;
	return 0;
}

#endif
