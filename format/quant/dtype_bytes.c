/*
 * dtype_bytes.c - the public size rule of every dtype (lutdb_types.h):
 * float types by element size, block-quantized ones by whole blocks
 * (spec/FORMAT.md 10.2).  It lives with the block codec because only this
 * room knows a block's bytes; the float rule is numeric's lutdb_dtype_size.
 * lutdb_decode_f32 is the public decoder of every dtype, for readers
 * (get, export) that see only the public headers.
 */
#include "lutdb_types.h"

#include "quant.h"

uint64_t lutdb_dtype_bytes(int dtype, uint32_t block, uint64_t n)
{
	uint64_t size = lutdb_dtype_size(dtype), r;

	if (lq_is_quant(dtype))
		return lq_bytes(dtype, block, n);
	if (size == 0 || __builtin_mul_overflow(n, size, &r))
		return 0;
	return r;
}

int lutdb_dtype_is_quantized(int dtype)
{
	return lq_is_quant(dtype);
}

int lutdb_decode_f32(int dtype, uint32_t block, const void *src, size_t n, float *dst)
{
	if (lq_is_quant(dtype))
		return lq_dequantize(dtype, block, src, n, dst);
	return lutdb_convert(LUTDB_DTYPE_F32, dst, dtype, src, n);
}
