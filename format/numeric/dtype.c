/*
 * dtype.c - element types and F32/F16/BF16 conversions.
 *
 * Rounding is to nearest, ties to even, overflowing to infinity, bit for bit
 * what torch 1.13's Tensor.to(torch.float16 / torch.bfloat16) produces on a
 * CPU tensor, NaNs included:
 *   F32 -> F16   NaN -> 0x7E00 | sign   (torch's canonical half NaN)
 *   F32 -> BF16  NaN -> 0xFFFF          (torch's vectorised kernel; its 0-dim
 *                                        scalar path gives 0x7FC0 instead)
 *   F16 -> F32   exact; a NaN is quieted (bit 22 set), payload kept, as
 *                F16C's vcvtph2ps and torch do
 *   BF16 -> F32  exact bit shift, NaN payload untouched
 * F16 <-> BF16 goes through F32 (the F32 step is exact).
 *
 * lutdb_convert uses convert_avx2.c when the CPU has AVX2 and F16C (cpu.h);
 * that path gives the same bits as the scalar functions here (tests check it).
 */
#include "numeric.h"

#include <string.h>

#include "cpu.h"

/* Implemented in convert_avx2.c (compiled with -mavx2 -mfma -mf16c).  Each
 * converts the largest multiple of its vector width and returns how many
 * elements it converted; the caller finishes the tail with the scalar code. */
size_t lutdb__f32_to_f16_avx2(void *dst, const void *src, size_t n);
size_t lutdb__f16_to_f32_avx2(void *dst, const void *src, size_t n);
size_t lutdb__f32_to_bf16_avx2(void *dst, const void *src, size_t n);
size_t lutdb__bf16_to_f32_avx2(void *dst, const void *src, size_t n);

size_t lutdb_dtype_size(int dtype)
{
	switch (dtype) {
	case LUTDB_DTYPE_F32: return 4;
	case LUTDB_DTYPE_F16: return 2;
	case LUTDB_DTYPE_BF16: return 2;
	}
	return 0;
}

const char *lutdb_dtype_name(int dtype)
{
	switch (dtype) {
	case LUTDB_DTYPE_F32: return "F32";
	case LUTDB_DTYPE_F16: return "F16";
	case LUTDB_DTYPE_BF16: return "BF16";
	}
	return NULL;
}

int lutdb_dtype_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "F32") == 0)
		return LUTDB_DTYPE_F32;
	if (strcmp(name, "F16") == 0)
		return LUTDB_DTYPE_F16;
	if (strcmp(name, "BF16") == 0)
		return LUTDB_DTYPE_BF16;
	return 0;
}

static inline uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static inline uint16_t f32bits_to_f16(uint32_t x)
{
	uint32_t sign = (x >> 16) & 0x8000u;
	uint32_t a = x & 0x7fffffffu;

	if (a > 0x7f800000u)            /* NaN */
		return (uint16_t)(sign | 0x7e00u);
	if (a >= 0x477ff000u)           /* >= 65520 (incl. inf): rounds to inf */
		return (uint16_t)(sign | 0x7c00u);
	if (a >= 0x38800000u) {         /* normal half: 2^-14 .. 65504 */
		/* Rebias the exponent (127 -> 15) and round the 13 dropped bits;
		 * a mantissa carry correctly bumps the exponent. */
		uint32_t r = a - ((uint32_t)(127 - 15) << 23);
		uint32_t h = r >> 13, rem = r & 0x1fffu;

		if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
			h++;
		return (uint16_t)(sign | h);
	}
	if (a <= 0x33000000u)           /* <= 2^-25: ties to even at zero */
		return (uint16_t)sign;
	{                               /* subnormal half: value / 2^-24 */
		uint32_t e = a >> 23;   /* 102..112 */
		uint32_t m = (a & 0x7fffffu) | 0x800000u;
		uint32_t s = 126u - e;  /* 14..24 */
		uint32_t h = m >> s;
		uint32_t rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);

		if (rem > half || (rem == half && (h & 1u)))
			h++;
		return (uint16_t)(sign | h);
	}
}

static inline uint32_t f16_to_f32bits(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;

	if (e == 0x1f) {
		if (m == 0)
			return sign | 0x7f800000u;
		return sign | 0x7fc00000u | (m << 13); /* quiet NaN */
	}
	if (e != 0)
		return sign | ((e + 127u - 15u) << 23) | (m << 13);
	if (m == 0)
		return sign;
	/* Subnormal: normalise.  value = m * 2^-24. */
	e = 127u - 15u + 1u;
	while ((m & 0x400u) == 0) {
		m <<= 1;
		e--;
	}
	return sign | (e << 23) | ((m & 0x3ffu) << 13);
}

static inline uint16_t f32bits_to_bf16(uint32_t x)
{
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return 0xffffu;
	return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

uint16_t lutdb_f32_to_f16(float f)
{
	return f32bits_to_f16(f32_bits(f));
}

float lutdb_f16_to_f32(uint16_t h)
{
	return bits_f32(f16_to_f32bits(h));
}

uint16_t lutdb_f32_to_bf16(float f)
{
	return f32bits_to_bf16(f32_bits(f));
}

float lutdb_bf16_to_f32(uint16_t b)
{
	return bits_f32((uint32_t)b << 16);
}

/* ---- bulk conversion ----------------------------------------------------- */
static int have_simd(void)
{
	return lutdb_cpu_has(LUTDB_CPU_AVX2 | LUTDB_CPU_F16C);
}

/* The byte helpers below take unaligned buffers: every element access goes
 * through memcpy, which compiles to plain loads and stores. */
static void f32_to_16(int to_bf16, uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

	if (have_simd()) {
		if (to_bf16)
			i = lutdb__f32_to_bf16_avx2(dst, src, n);
		else
			i = lutdb__f32_to_f16_avx2(dst, src, n);
	}
	for (; i < n; i++) {
		uint32_t x;
		uint16_t h;

		memcpy(&x, src + 4 * i, 4);
		h = to_bf16 ? f32bits_to_bf16(x) : f32bits_to_f16(x);
		memcpy(dst + 2 * i, &h, 2);
	}
}

static void f16_to_32(int from_bf16, uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

	if (have_simd()) {
		if (from_bf16)
			i = lutdb__bf16_to_f32_avx2(dst, src, n);
		else
			i = lutdb__f16_to_f32_avx2(dst, src, n);
	}
	for (; i < n; i++) {
		uint16_t h;
		uint32_t x;

		memcpy(&h, src + 2 * i, 2);
		x = from_bf16 ? (uint32_t)h << 16 : f16_to_f32bits(h);
		memcpy(dst + 4 * i, &x, 4);
	}
}

int lutdb_convert(int dst_dtype, void *dst, int src_dtype, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t ds = lutdb_dtype_size(dst_dtype), ss = lutdb_dtype_size(src_dtype);

	if (ds == 0 || ss == 0)
		return LUTDB_EINVAL;
	if (n == 0)
		return LUTDB_OK;
	if (dst_dtype == src_dtype) {
		memcpy(d, s, n * ds);
		return LUTDB_OK;
	}
	if (src_dtype == LUTDB_DTYPE_F32) {
		f32_to_16(dst_dtype == LUTDB_DTYPE_BF16, d, s, n);
		return LUTDB_OK;
	}
	if (dst_dtype == LUTDB_DTYPE_F32) {
		f16_to_32(src_dtype == LUTDB_DTYPE_BF16, d, s, n);
		return LUTDB_OK;
	}
	/* F16 <-> BF16 through F32, a cache-sized chunk at a time. */
	{
		float tmp[1024];

		while (n > 0) {
			size_t k = n < 1024 ? n : 1024;

			f16_to_32(src_dtype == LUTDB_DTYPE_BF16, (uint8_t *)tmp, s, k);
			f32_to_16(dst_dtype == LUTDB_DTYPE_BF16, d, (const uint8_t *)tmp, k);
			s += 2 * k;
			d += 2 * k;
			n -= k;
		}
	}
	return LUTDB_OK;
}
