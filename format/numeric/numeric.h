/*
 * numeric.h - number formats of the lutdb file: F32, F16 and BF16 elements
 * and their exact conversions (library-internal; the public part is in
 * lutdb_types.h).
 *
 * Rounding and NaN rules are torch's, bit for bit (dtype.c says how).  The
 * scalar conversions below are the only copy of those rules in the library:
 * lutdb_convert (dtype.c, with its AVX2/F16C path that gives the same bits)
 * and the kernels' portable loads (runtime/kernels/kern_scalar.c) both use
 * them; they are inline because the kernels call them per element.
 */
#ifndef LUTDB_NUMERIC_H
#define LUTDB_NUMERIC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lutdb_types.h"

/* Code for a safetensors dtype string ("F32", "F16", "BF16"), or 0. */
int lutdb_dtype_from_name(const char *name);

static inline uint32_t lutdb_f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float lutdb_bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

/* ---- F32 <- F16 / BF16: exact ------------------------------------------------
 * F16 -> F32 quiets a NaN (sets bit 22) and keeps its payload, as F16C's
 * vcvtph2ps and torch do; BF16 -> F32 is an exact shift that leaves a NaN's
 * payload (and a signalling NaN) untouched. */
static inline uint32_t lutdb_f16_bits_to_f32_bits(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t o = (uint32_t)(h & 0x7fffu) << 13; /* exponent and mantissa in place */
	uint32_t e = o & 0x0f800000u;                /* the 5-bit half exponent */

	if (e == 0x0f800000u) {                      /* inf, NaN */
		o |= 0x7f800000u;
		if (o & 0x007fffffu)
			o |= 0x00400000u;
	} else if (e != 0) {                         /* normal: rebias 15 -> 127 */
		o += (uint32_t)(127 - 15) << 23;
	} else {
		/* zero or subnormal m * 2^-24: build the normal float
		 * 2^-14 * (1 + m/1024) and subtract 2^-14.  Both are normal and
		 * the difference is exact, so this holds under flush-to-zero
		 * too. */
		o += 113u << 23;
		o = lutdb_f32_bits(lutdb_bits_f32(o) - lutdb_bits_f32(113u << 23));
	}
	return o | sign;
}

static inline uint32_t lutdb_bf16_bits_to_f32_bits(uint16_t b)
{
	return (uint32_t)b << 16;
}

/* ---- F32 -> F16 / BF16: round to nearest, ties to even -----------------------
 * Overflow goes to infinity, exactly as torch's Tensor.to().  NaN stays NaN,
 * canonicalised bit for bit as torch's CPU tensor kernels do: F16 0x7E00 |
 * sign, BF16 0xFFFF. */
static inline uint16_t lutdb_f32_bits_to_f16_bits(uint32_t x)
{
	uint32_t sign = (x >> 16) & 0x8000u;
	uint32_t a = x & 0x7fffffffu;

	if (a > 0x7f800000u) /* NaN */
		return (uint16_t)(sign | 0x7e00u);
	if (a >= 0x477ff000u) /* >= 65520 (incl. inf): rounds to inf */
		return (uint16_t)(sign | 0x7c00u);
	if (a >= 0x38800000u) { /* normal half: 2^-14 .. 65504 */
		/* Rebias the exponent (127 -> 15) and round the 13 dropped bits;
		 * a mantissa carry correctly bumps the exponent. */
		uint32_t r = a - ((uint32_t)(127 - 15) << 23);
		uint32_t h = r >> 13, rem = r & 0x1fffu;

		if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
			h++;
		return (uint16_t)(sign | h);
	}
	if (a <= 0x33000000u) /* <= 2^-25: ties to even at zero */
		return (uint16_t)sign;
	/* subnormal half: value / 2^-24 */
	uint32_t e = a >> 23; /* 102..112 */
	uint32_t m = (a & 0x7fffffu) | 0x800000u;
	uint32_t s = 126u - e; /* 14..24 */
	uint32_t h = m >> s;
	uint32_t rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);

	if (rem > half || (rem == half && (h & 1u)))
		h++;
	return (uint16_t)(sign | h);
}

static inline uint16_t lutdb_f32_bits_to_bf16_bits(uint32_t x)
{
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return 0xffffu;
	return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* The same on floats. */
static inline uint16_t lutdb_f32_to_f16(float f)
{
	return lutdb_f32_bits_to_f16_bits(lutdb_f32_bits(f));
}

static inline float lutdb_f16_to_f32(uint16_t h)
{
	return lutdb_bits_f32(lutdb_f16_bits_to_f32_bits(h));
}

static inline uint16_t lutdb_f32_to_bf16(float f)
{
	return lutdb_f32_bits_to_bf16_bits(lutdb_f32_bits(f));
}

static inline float lutdb_bf16_to_f32(uint16_t b)
{
	return lutdb_bits_f32(lutdb_bf16_bits_to_f32_bits(b));
}

#endif /* LUTDB_NUMERIC_H */
