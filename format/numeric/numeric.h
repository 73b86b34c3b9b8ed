/*
 * numeric.h - number formats of the lutdb file: F32, F16 and BF16 elements
 * and their exact conversions (library-internal; the public part is in
 * lutdb_types.h).
 *
 * Rounding and NaN rules are torch's, bit for bit (dtype.c says how); this
 * is the only copy of them in the library.
 */
#ifndef LUTDB_NUMERIC_H
#define LUTDB_NUMERIC_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_types.h"

/* Code for a safetensors dtype string ("F32", "F16", "BF16"), or 0. */
int lutdb_dtype_from_name(const char *name);

/* Scalar conversions.  float -> F16/BF16 rounds to nearest, ties to even,
 * overflowing to infinity, exactly as torch's Tensor.to(). NaN stays NaN,
 * canonicalised bit for bit as torch's CPU tensor kernels do: F16 0x7E00 |
 * sign, BF16 0xFFFF.  F16 -> F32 quiets a NaN (payload kept); BF16 -> F32
 * is an exact shift. */
uint16_t lutdb_f32_to_f16(float f);
float lutdb_f16_to_f32(uint16_t h);
uint16_t lutdb_f32_to_bf16(float f);
float lutdb_bf16_to_f32(uint16_t b);

#endif /* LUTDB_NUMERIC_H */
