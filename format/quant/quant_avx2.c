/*
 * quant_avx2.c - the quantizers on 8 float32 lanes (AVX2).
 *
 * Compiled with the Makefile's AVX2FLAGS and -ffp-contract=off, called by
 * quant.c only after it checked the CPU.  The same float32 operations as
 * quant.c in the same order (see quant_avx512.c for the list), so the bytes
 * are the scalar code's (tests/unit/test_quant_vector.c compares them bit
 * for bit).  The NF index counts the thresholds below z, one compare each:
 * the count the scalar binary search finds, as the thresholds are sorted.
 * Bytes are narrowed by truncation (mask to 8 bits, then unsigned packs that
 * cannot saturate), as the scalar casts do.
 */
#include "quant.h"
#include "quant_steps.h"

#if defined(__AVX2__)
#include <immintrin.h>

static inline __m256 abs8(__m256 x)
{
	return _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x7fffffff)));
}

/* all-ones lanes where |x| (from abs8) is NaN or infinite */
static inline __m256i nonfinite8(__m256 a)
{
	return _mm256_cmpgt_epi32(_mm256_castps_si256(a), _mm256_set1_epi32(0x7f7fffff));
}

static inline float hmax8(__m256 m)
{
	__m128 v = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));

	v = _mm_max_ps(v, _mm_movehl_ps(v, v));
	v = _mm_max_ss(v, _mm_movehdup_ps(v));
	return _mm_cvtss_f32(v);
}

/* 32 int32 lanes (4 vectors, in order) -> their low bytes. */
static inline void store_bytes32(uint8_t *out, __m256i a, __m256i b, __m256i c, __m256i d)
{
	const __m256i low = _mm256_set1_epi32(0xff);
	__m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, low), _mm256_and_si256(b, low));
	__m256i cd = _mm256_packus_epi32(_mm256_and_si256(c, low), _mm256_and_si256(d, low));
	/* the packs interleave 128-bit halves: dword order 0 4 1 5 2 6 3 7 */
	__m256i p = _mm256_packus_epi16(ab, cd);

	p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)(void *)out, p);
}

/* 16 int32 lanes -> their low bytes. */
static inline void store_bytes16(uint8_t *out, __m256i a, __m256i b)
{
	const __m256i low = _mm256_set1_epi32(0xff);
	__m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, low), _mm256_and_si256(b, low));
	__m128i p;

	ab = _mm256_permute4x64_epi64(ab, 0xD8);
	p = _mm_packus_epi16(_mm256_castsi256_si128(ab), _mm256_extracti128_si256(ab, 1));
	_mm_storeu_si128((__m128i *)(void *)out, p);
}

static inline __m256i round_away8(__m256 v)
{
	__m256i t = _mm256_cvttps_epi32(v);
	__m256 f = _mm256_sub_ps(v, _mm256_cvtepi32_ps(t));
	/* compare masks are -1: subtracting adds one, adding subtracts one */
	__m256i up = _mm256_castps_si256(_mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
	__m256i dn = _mm256_castps_si256(_mm256_cmp_ps(f, _mm256_set1_ps(-0.5f), _CMP_LE_OQ));

	return _mm256_add_epi32(_mm256_sub_epi32(t, up), dn);
}

/* Loads a block of 32, |x| of each, and whether all are finite. */
static inline int load32(const float *x, __m256 v[4], __m256 a[4], float *amax)
{
	__m256i bad = _mm256_setzero_si256();

	for (int i = 0; i < 4; i++) {
		v[i] = _mm256_loadu_ps(x + 8 * i);
		a[i] = abs8(v[i]);
		bad = _mm256_or_si256(bad, nonfinite8(a[i]));
	}
	*amax = hmax8(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3])));
	return _mm256_testz_si256(bad, bad);
}

static int q8_0_block(const float *x, uint8_t *out)
{
	__m256 v[4], a[4], vid;
	__m256i q[4];
	float amax, d, id;
	uint16_t h;

	if (!load32(x, v, a, &amax))
		return 0;
	d = amax / 127.0f;
	if (!lq__scale_fits(d, &h))
		return 0;
	id = lq__recip_or_zero(d);
	vid = _mm256_set1_ps(id);
	for (int i = 0; i < 4; i++)
		q[i] = round_away8(_mm256_mul_ps(v[i], vid));
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	store_bytes32(out + 2, q[0], q[1], q[2], q[3]);
	return 1;
}

static int q4_0_block(const float *x, uint8_t *out)
{
	__m256 v[4], a[4], vid;
	__m256i q[4];
	float amax, max = 0.0f, d, id;
	uint16_t h;

	if (!load32(x, v, a, &amax))
		return 0;
	/* quant.c keeps the first value of largest magnitude, +0.0 when all
	 * are zeros */
	if (amax > 0.0f) {
		__m256 m = _mm256_set1_ps(amax);
		uint32_t at = 0;

		for (int i = 0; i < 4; i++)
			at |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a[i], m, _CMP_EQ_OQ)) << (8 * i);
		max = x[__builtin_ctz(at)];
	}
	d = max / -8.0f;
	if (!lq__scale_fits(d, &h))
		return 0;
	id = lq__recip_or_zero(d);
	vid = _mm256_set1_ps(id);
	for (int i = 0; i < 4; i++)
		q[i] = _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[i], vid),
									  _mm256_set1_ps(8.5f))),
					_mm256_set1_epi32(15));
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	/* value j in the low nibble of byte j, value j + 16 in the high one */
	store_bytes16(out + 2, _mm256_or_si256(q[0], _mm256_slli_epi32(q[2], 4)),
		      _mm256_or_si256(q[1], _mm256_slli_epi32(q[3], 4)));
	return 1;
}

static int nf_scale(const float *x, uint32_t block, uint16_t *h, float *sf)
{
	__m256 m = _mm256_setzero_ps();
	__m256i bad = _mm256_setzero_si256();

	for (uint32_t j = 0; j < block; j += 8) {
		__m256 a = abs8(_mm256_loadu_ps(x + j));

		bad = _mm256_or_si256(bad, nonfinite8(a));
		m = _mm256_max_ps(m, a);
	}
	if (!_mm256_testz_si256(bad, bad) || !lq__scale_fits(hmax8(m), h))
		return 0;
	*sf = lutdb_f16_to_f32(*h);
	return 1;
}

/* The NF indexes of x[0..8) into idx: the number of thresholds t[0..nt)
 * below z = x / sf (z = 0 when sf is 0, quant.c's nf_z). */
static inline void nf_index8(const float *x, float sf, const float *t, int nt, uint32_t idx[8])
{
	__m256 z = sf == 0.0f ? _mm256_setzero_ps() : _mm256_div_ps(_mm256_loadu_ps(x), _mm256_set1_ps(sf));
	__m256i n = _mm256_setzero_si256();

	for (int i = 0; i < nt; i++)
		n = _mm256_sub_epi32(n, _mm256_castps_si256(_mm256_cmp_ps(z, _mm256_set1_ps(t[i]), _CMP_GT_OQ)));
	_mm256_storeu_si256((__m256i *)(void *)idx, n);
}

static int nf4_block(const float *x, uint32_t block, uint8_t *out)
{
	uint32_t idx[8];
	uint16_t h;
	float sf;

	if (!nf_scale(x, block, &h, &sf))
		return 0;
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	for (uint32_t j = 0; j < block; j += 8) {
		nf_index8(x + j, sf, lq_nf4_split, 15, idx);
		for (int i = 0; i < 4; i++)
			out[2 + j / 2 + i] = (uint8_t)(idx[2 * i] | idx[2 * i + 1] << 4);
	}
	return 1;
}

static int nf3_block(const float *x, uint32_t block, uint8_t *out)
{
	uint32_t idx[8];
	uint16_t h;
	float sf;

	if (!nf_scale(x, block, &h, &sf))
		return 0;
	out[0] = (uint8_t)h;
	out[1] = (uint8_t)(h >> 8);
	out += 2;
	for (uint32_t j = 0; j < block; j += 8, out += 3) {
		uint32_t w = 0;

		nf_index8(x + j, sf, lq_nf3_split, 7, idx);
		/* value i of the group in bits 3i..3i+2 of a 24-bit LE word */
		for (int i = 0; i < 8; i++)
			w |= idx[i] << (3 * i);
		out[0] = (uint8_t)w;
		out[1] = (uint8_t)(w >> 8);
		out[2] = (uint8_t)(w >> 16);
	}
	return 1;
}

size_t lq__quantize_avx2(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out)
{
	uint64_t bb = lq_block_bytes(dtype, block);
	size_t k;

	for (k = 0; k < nb; k++, x += block, out += bb) {
		int ok;

		switch (dtype) {
		case LQ_DTYPE_Q8_0: ok = q8_0_block(x, out); break;
		case LQ_DTYPE_Q4_0: ok = q4_0_block(x, out); break;
		case LQ_DTYPE_NF4: ok = nf4_block(x, block, out); break;
		default: ok = nf3_block(x, block, out); break;
		}
		if (!ok)
			break;
	}
	return k;
}

#else /* not built for AVX2: quant.c never calls this */

size_t lq__quantize_avx2(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out)
{
	(void)dtype, (void)block, (void)x, (void)nb, (void)out;
	return 0;
}

#endif
