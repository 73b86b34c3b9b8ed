/*
 * convert_avx2.c - AVX2/F16C bulk conversions for lutdb_convert (dtype.c).
 *
 * Compiled with -mavx2 -mfma -mf16c and only called after dtype.c checked
 * __builtin_cpu_supports.  Each function converts the largest multiple of its
 * vector width and returns that count; dtype.c converts the tail.  Results are
 * bit-identical to the scalar code in dtype.c:
 *   F32 -> F16   vcvtps2ph, round to nearest even; NaN lanes are replaced
 *                by 0x7E00 | sign (the hardware keeps a truncated payload)
 *   F16 -> F32   vcvtph2ps (exact; quiets NaN keeping the payload)
 *   F32 -> BF16  integer round to nearest even, NaN lanes -> 0xFFFF
 *   BF16 -> F32  zero-extend and shift left 16
 * Buffers may be unaligned (loadu/storeu throughout).
 */
#include <stddef.h>
#include <stdint.h>

size_t lutdb__f32_to_f16_avx2(void *dst, const void *src, size_t n);
size_t lutdb__f16_to_f32_avx2(void *dst, const void *src, size_t n);
size_t lutdb__f32_to_bf16_avx2(void *dst, const void *src, size_t n);
size_t lutdb__bf16_to_f32_avx2(void *dst, const void *src, size_t n);

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>

static inline __m128i f32x8_to_f16(__m256 v)
{
	__m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 unord = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);

	if (!_mm256_testz_ps(unord, unord)) {
		__m256i m32 = _mm256_castps_si256(unord);
		__m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m32), _mm256_extracti128_si256(m32, 1));
		__m128i canon = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16((short)0x8000)),
					     _mm_set1_epi16(0x7e00));

		h = _mm_blendv_epi8(h, canon, m16);
	}
	return h;
}

size_t lutdb__f32_to_f16_avx2(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256 a = _mm256_loadu_ps((const float *)(const void *)(s + 4 * i));
		__m256 b = _mm256_loadu_ps((const float *)(const void *)(s + 4 * i + 32));

		_mm_storeu_si128((__m128i *)(void *)(d + 2 * i), f32x8_to_f16(a));
		_mm_storeu_si128((__m128i *)(void *)(d + 2 * i + 16), f32x8_to_f16(b));
	}
	for (; i + 8 <= n; i += 8) {
		__m256 a = _mm256_loadu_ps((const float *)(const void *)(s + 4 * i));

		_mm_storeu_si128((__m128i *)(void *)(d + 2 * i), f32x8_to_f16(a));
	}
	return i;
}

size_t lutdb__f16_to_f32_avx2(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + 2 * i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 2 * i + 16));

		_mm256_storeu_ps((float *)(void *)(d + 4 * i), _mm256_cvtph_ps(a));
		_mm256_storeu_ps((float *)(void *)(d + 4 * i + 32), _mm256_cvtph_ps(b));
	}
	for (; i + 8 <= n; i += 8) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + 2 * i));

		_mm256_storeu_ps((float *)(void *)(d + 4 * i), _mm256_cvtph_ps(a));
	}
	return i;
}

/* Eight F32 bit patterns -> eight BF16 values in the low half of each lane. */
static inline __m256i f32x8_to_bf16_lanes(__m256i x)
{
	const __m256i one = _mm256_set1_epi32(1);
	const __m256i bias = _mm256_set1_epi32(0x7fff);
	const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
	const __m256i inf = _mm256_set1_epi32(0x7f800000);
	const __m256i low16 = _mm256_set1_epi32(0xffff);
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
	__m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, bias), lsb), 16);
	/* |x| > inf as signed 32-bit: both sides are non-negative. */
	__m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, absmask), inf);

	return _mm256_or_si256(r, _mm256_and_si256(nan, low16));
}

size_t lutdb__f32_to_bf16_avx2(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i + 32));
		/* packus interleaves 128-bit lanes: a0 b0 a1 b1; put them back. */
		__m256i p = _mm256_packus_epi32(f32x8_to_bf16_lanes(a), f32x8_to_bf16_lanes(b));

		p = _mm256_permute4x64_epi64(p, 0xD8);
		_mm256_storeu_si256((__m256i *)(void *)(d + 2 * i), p);
	}
	return i;
}

size_t lutdb__bf16_to_f32_avx2(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + 2 * i));
		__m256i lo = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(a)), 16);
		__m256i hi = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1)), 16);

		_mm256_storeu_si256((__m256i *)(void *)(d + 4 * i), lo);
		_mm256_storeu_si256((__m256i *)(void *)(d + 4 * i + 32), hi);
	}
	return i;
}

#else /* no AVX2/F16C at compile time: dtype.c never calls these */

size_t lutdb__f32_to_f16_avx2(void *dst, const void *src, size_t n) { return 0; }
size_t lutdb__f16_to_f32_avx2(void *dst, const void *src, size_t n) { return 0; }
size_t lutdb__f32_to_bf16_avx2(void *dst, const void *src, size_t n) { return 0; }
size_t lutdb__bf16_to_f32_avx2(void *dst, const void *src, size_t n) { return 0; }

#endif
