/*
 * quant_steps.h - the float32 steps of the quantizers that the scalar code
 * (quant.c) and the vector code (quant_avx2.c, quant_avx512.c) share
 * (library-internal, format/quant only).
 *
 * One definition of each step, so the vector paths cannot drift from the
 * spec's rounding: they vectorize the per-value work and call these for the
 * per-block scale.  Built, like the rest of the folder, with
 * -ffp-contract=off.
 */
#ifndef LUTDB_QUANT_STEPS_H
#define LUTDB_QUANT_STEPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "numeric.h"

static inline uint32_t lq__fbits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static inline int lq__finite32(float f)
{
	return (lq__fbits(f) & 0x7f800000u) != 0x7f800000u;
}

/* ggml's `d ? 1/d : 0`, extended: 0 also when 1/d overflows float32 (d below
 * about 2^-128, a block of float32-subnormal magnitudes), where ggml's
 * x*inf and its int conversion are undefined. */
static inline float lq__recip_or_zero(float d)
{
	float r;

	if (d == 0.0f)
		return 0.0f;
	r = 1.0f / d;
	return lq__finite32(r) ? r : 0.0f;
}

/* The F16 bits of a block's float32 scale, and whether they are finite: a
 * scale that rounds to infinity is refused (the scalar code reports it). */
static inline int lq__scale_fits(float s, uint16_t *h)
{
	*h = lutdb_f32_to_f16(s);
	return (*h & 0x7fffu) != 0x7c00u;
}

/* The vector paths (quant_avx2.c, quant_avx512.c).  Each quantizes whole
 * blocks of x[0..nb*block) into out, front to back, and returns how many it
 * wrote: all nb, or fewer when it meets a block holding a NaN or infinity
 * or whose scale overflows F16.  quant.c then runs the scalar code on that
 * block, which refuses it with the spec's detail.  dtype and block are
 * valid (lq_check_block); the bytes are the scalar code's, bit for bit. */
size_t lq__quantize_avx2(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out);
size_t lq__quantize_avx512(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out);

#endif /* LUTDB_QUANT_STEPS_H */
