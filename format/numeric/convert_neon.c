/*
 * convert_neon.c - aarch64 ASIMD bulk conversions for lutdb_convert
 * (dtype.c), the counterpart of convert_avx2.c.
 *
 * Built only for aarch64 (the Makefile's ARCH_SKIP), where ASIMD is part of
 * the base ISA; dtype.c still calls these only when getauxval reports asimd
 * (cpu.h).  Each function converts the largest multiple of its vector width
 * and returns that count; dtype.c converts the tail.  Results are
 * bit-identical to the scalar rules of numeric.h:
 *   F32 -> F16   fcvtn, round to nearest even (the FPCR's default mode,
 *                which the library never changes; FZ does not matter: an
 *                F32 subnormal is far below the smallest F16 subnormal, and
 *                rounds to a signed zero either way); NaN lanes are replaced
 *                by 0x7E00 | sign (fcvtn keeps a truncated payload)
 *   F16 -> F32   fcvtl (exact; quiets a NaN keeping its payload, as the
 *                scalar rule; F16 subnormals are exact normal floats)
 *   F32 -> BF16  integer round to nearest even, NaN lanes -> 0xFFFF
 *   BF16 -> F32  shift left 16 (shll)
 * Buffers may be unaligned: byte loads and stores (vld1q_u8) throughout.
 */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

size_t lutdb__f32_to_f16_neon(void *dst, const void *src, size_t n);
size_t lutdb__f16_to_f32_neon(void *dst, const void *src, size_t n);
size_t lutdb__f32_to_bf16_neon(void *dst, const void *src, size_t n);
size_t lutdb__bf16_to_f32_neon(void *dst, const void *src, size_t n);

/* Four floats from 16 bytes at any alignment. */
static inline float32x4_t ld4f(const uint8_t *p)
{
	return vreinterpretq_f32_u8(vld1q_u8(p));
}

static inline uint16x4_t f32x4_to_f16(float32x4_t v)
{
	uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));
	/* v == v is false exactly in the NaN lanes */
	uint16x4_t num = vmovn_u32(vceqq_f32(v, v));
	uint16x4_t canon = vorr_u16(vand_u16(h, vdup_n_u16(0x8000)), vdup_n_u16(0x7e00));
	return vbsl_u16(num, h, canon);
}

size_t lutdb__f32_to_f16_neon(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint16x8_t h = vcombine_u16(f32x4_to_f16(ld4f(s + 4 * i)), f32x4_to_f16(ld4f(s + 4 * i + 16)));
		vst1q_u8(d + 2 * i, vreinterpretq_u8_u16(h));
	}
	return i;
}

size_t lutdb__f16_to_f32_neon(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(s + 2 * i));
		vst1q_u8(d + 4 * i, vreinterpretq_u8_f32(vcvt_f32_f16(vget_low_f16(h))));
		vst1q_u8(d + 4 * i + 16, vreinterpretq_u8_f32(vcvt_high_f32_f16(h)));
	}
	return i;
}

/* Four F32 bit patterns -> four BF16 values: (x + 0x7fff + lsb) >> 16, NaN
 * lanes 0xFFFF (the scalar rule). */
static inline uint16x4_t f32x4_to_bf16(uint32x4_t x)
{
	uint32x4_t lsb = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
	uint16x4_t r = vshrn_n_u32(vaddq_u32(vaddq_u32(x, vdupq_n_u32(0x7fff)), lsb), 16);
	uint32x4_t nan = vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
	return vorr_u16(r, vmovn_u32(nan));
}

size_t lutdb__f32_to_bf16_neon(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint32x4_t a = vreinterpretq_u32_u8(vld1q_u8(s + 4 * i));
		uint32x4_t b = vreinterpretq_u32_u8(vld1q_u8(s + 4 * i + 16));
		vst1q_u8(d + 2 * i, vreinterpretq_u8_u16(vcombine_u16(f32x4_to_bf16(a), f32x4_to_bf16(b))));
	}
	return i;
}

size_t lutdb__bf16_to_f32_neon(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(s + 2 * i));
		vst1q_u8(d + 4 * i, vreinterpretq_u8_u32(vshll_n_u16(vget_low_u16(h), 16)));
		vst1q_u8(d + 4 * i + 16, vreinterpretq_u8_u32(vshll_high_n_u16(h, 16)));
	}
	return i;
}
