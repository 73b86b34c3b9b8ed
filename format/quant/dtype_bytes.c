/*
 * dtype_bytes.c - the public size rule of every dtype (lutdb_types.h):
 * float types by element size, block-quantized ones by whole blocks
 * (spec/FORMAT.md 10.2).  It lives with the block codec because only this
 * room knows a block's bytes; the float rule is numeric's lutdb_dtype_size.
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
