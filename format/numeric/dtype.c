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
 * The scalar rules are in numeric.h (inline: the kernels use them too).
 * lutdb_convert uses convert_avx2.c when the CPU has AVX2 and F16C (cpu.h),
 * convert_neon.c on aarch64 (ASIMD); those paths give the same bits as the
 * scalar rules (test_format_dtype checks it, under qemu for aarch64).
 */
#include "numeric.h"

#include <string.h>

#include "cpu.h"

/* convert_avx2.c is built for x86 only (the Makefile's ARCH_SKIP); elsewhere
 * the scalar rules do all the work. */
#if defined(__x86_64__) || defined(__i386__)
#define LUTDB_CONVERT_AVX2 1
#else
#define LUTDB_CONVERT_AVX2 0
#endif

/* Implemented in convert_avx2.c (compiled with -mavx2 -mfma -mf16c).  Each
 * converts the largest multiple of its vector width and returns how many
 * elements it converted; the caller finishes the tail with the scalar code. */
size_t lutdb__f32_to_f16_avx2(void *dst, const void *src, size_t n);
size_t lutdb__f16_to_f32_avx2(void *dst, const void *src, size_t n);
size_t lutdb__f32_to_bf16_avx2(void *dst, const void *src, size_t n);
size_t lutdb__bf16_to_f32_avx2(void *dst, const void *src, size_t n);

/* convert_neon.c, the same contract with ASIMD, is built for aarch64 only. */
#if defined(__aarch64__)
#define LUTDB_CONVERT_NEON 1
#else
#define LUTDB_CONVERT_NEON 0
#endif
size_t lutdb__f32_to_f16_neon(void *dst, const void *src, size_t n);
size_t lutdb__f16_to_f32_neon(void *dst, const void *src, size_t n);
size_t lutdb__f32_to_bf16_neon(void *dst, const void *src, size_t n);
size_t lutdb__bf16_to_f32_neon(void *dst, const void *src, size_t n);

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
	/* The block-quantized codes are pinned (spec/FORMAT.md 6); their
	 * codec lives in format/quant, above this room. */
	case LUTDB_DTYPE_Q8_0: return "Q8_0";
	case LUTDB_DTYPE_Q4_0: return "Q4_0";
	case LUTDB_DTYPE_NF4: return "NF4";
	case LUTDB_DTYPE_NF3: return "NF3";
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

/* ---- bulk conversion ----------------------------------------------------- */
#if LUTDB_CONVERT_AVX2
static int have_simd(void)
{
	return lutdb_cpu_has(LUTDB_CPU_AVX2 | LUTDB_CPU_F16C);
}
#endif

/* The byte helpers below take unaligned buffers: every element access goes
 * through memcpy, which compiles to plain loads and stores. */
static void f32_to_16(int to_bf16, uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

#if LUTDB_CONVERT_AVX2
	if (have_simd()) {
		if (to_bf16)
			i = lutdb__f32_to_bf16_avx2(dst, src, n);
		else
			i = lutdb__f32_to_f16_avx2(dst, src, n);
	}
#endif
#if LUTDB_CONVERT_NEON
	if (lutdb_cpu_has(LUTDB_CPU_ASIMD))
		i = to_bf16 ? lutdb__f32_to_bf16_neon(dst, src, n) : lutdb__f32_to_f16_neon(dst, src, n);
#endif
	for (; i < n; i++) {
		uint32_t x;
		uint16_t h;

		memcpy(&x, src + 4 * i, 4);
		h = to_bf16 ? lutdb_f32_bits_to_bf16_bits(x) : lutdb_f32_bits_to_f16_bits(x);
		memcpy(dst + 2 * i, &h, 2);
	}
}

static void f16_to_32(int from_bf16, uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

#if LUTDB_CONVERT_AVX2
	if (have_simd()) {
		if (from_bf16)
			i = lutdb__bf16_to_f32_avx2(dst, src, n);
		else
			i = lutdb__f16_to_f32_avx2(dst, src, n);
	}
#endif
#if LUTDB_CONVERT_NEON
	if (lutdb_cpu_has(LUTDB_CPU_ASIMD))
		i = from_bf16 ? lutdb__bf16_to_f32_neon(dst, src, n) : lutdb__f16_to_f32_neon(dst, src, n);
#endif
	for (; i < n; i++) {
		uint16_t h;
		uint32_t x;

		memcpy(&h, src + 2 * i, 2);
		x = from_bf16 ? lutdb_bf16_bits_to_f32_bits(h) : lutdb_f16_bits_to_f32_bits(h);
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
