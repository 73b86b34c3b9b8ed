/*
 * lutdb_types.h - the codes the lutdb file format pins (spec/FORMAT.md):
 * storage dtypes, table codecs, model families and checkpoint forms, with
 * their names.  The numeric values are stored on disk and are part of the
 * ABI: they never change; new ones are appended.
 */
#ifndef LUTDB_TYPES_H
#define LUTDB_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The newest version of the file format (spec/FORMAT.md) this library
 * reads and writes.  Files that use none of the block-quantized dtypes are
 * still written as 1.0 (spec/FORMAT.md, 10.11). */
#define LUTDB_FORMAT_MAJOR 1
#define LUTDB_FORMAT_MINOR 1

/* Element types of tensors and table rows; 0 is never valid. */
typedef enum lutdb_dtype {
	LUTDB_DTYPE_F32 = 1,
	LUTDB_DTYPE_F16 = 2,
	LUTDB_DTYPE_BF16 = 3,
	/* Block-quantized types of format 1.1 (spec/FORMAT.md, section 10): a
	 * run of n values is n / B blocks, each an F16 scale and small codes.
	 * B is 32 for Q8_0 and Q4_0 (and for every quantized tensor); NF4 and
	 * NF3 tables choose it (a multiple of 32, 32..8192; lutdb_info's
	 * table_block).  Size them with lutdb_dtype_bytes(). */
	LUTDB_DTYPE_Q8_0 = 16, /* ggml's: 32 x int8 and an F16 scale, 34 bytes */
	LUTDB_DTYPE_Q4_0 = 17, /* ggml's: 32 x 4-bit and an F16 scale, 18 bytes */
	LUTDB_DTYPE_NF4 = 18,  /* NormalFloat4 (QLoRA): B x 4-bit + F16 scale; tables only */
	LUTDB_DTYPE_NF3 = 19,  /* NormalFloat3: B x 3-bit + F16 scale; tables only */
	/* 20..63 reserved for more block-quantized types */
} lutdb_dtype;

/* How table rows are stored (tensors and blobs are always NONE). */
typedef enum lutdb_codec {
	LUTDB_CODEC_NONE = 0,        /* raw: rows are read in place */
	LUTDB_CODEC_LZ4 = 1,         /* LZ4 block format */
	LUTDB_CODEC_SHUFFLE_LZ4 = 2, /* byte-shuffle by element size, then LZ4 */
} lutdb_codec;

/* Which model a database holds. */
typedef enum lutdb_family {
	LUTDB_FAMILY_MOLE = 1,  /* Mixture of Lookup Experts */
	LUTDB_FAMILY_MOLKV = 2, /* Mixture of Lookup Key-Value experts */
} lutdb_family;

/* The form of the checkpoint a database was packed from. */
typedef enum lutdb_form {
	LUTDB_FORM_TRAINING = 1, /* experts as MLPs, reparameterized at pack */
	LUTDB_FORM_REP = 2,      /* the lookup table itself */
} lutdb_form;

/* Bytes per element of a float dtype (F32 4, F16 and BF16 2); 0 for the
 * block-quantized dtypes (an element has no whole-byte size: use
 * lutdb_dtype_bytes()) and for an unknown code. */
LUTDB_API size_t lutdb_dtype_size(int dtype);
/* Bytes of n values of dtype stored as one run: n * size for a float dtype
 * (block is ignored), (n / block) blocks for a block-quantized one.  0 for
 * an unknown dtype, a block the dtype does not allow (Q8_0/Q4_0: 32;
 * NF4/NF3: a multiple of 32 in 32..8192), n not a multiple of block, or a
 * result that does not fit in 64 bits.  Layer l of a table row begins at
 * byte lutdb_dtype_bytes(table_dtype, table_block, l * layer_row_elems). */
LUTDB_API uint64_t lutdb_dtype_bytes(int dtype, uint32_t block, uint64_t n);
/* 1 for Q8_0, Q4_0, NF4 and NF3, else 0. */
LUTDB_API int lutdb_dtype_is_quantized(int dtype);
/* "F32", "F16", "BF16" (safetensors spelling), "Q8_0", "Q4_0", "NF4", "NF3"
 * (spec/FORMAT.md), or NULL for an unknown code. */
LUTDB_API const char *lutdb_dtype_name(int dtype);
/* "none", "lz4", "shuffle-lz4", or NULL for an unknown code. */
LUTDB_API const char *lutdb_codec_name(int codec);
/* "mole", "molkv", or NULL. */
LUTDB_API const char *lutdb_family_name(int family);
/* "training", "rep", or NULL. */
LUTDB_API const char *lutdb_form_name(int form);

/* Decodes n values stored as dtype (any dtype above; a block-quantized one
 * with its block size, n a multiple of it) from src into float32 at dst,
 * exactly as the format defines the value (spec/FORMAT.md).  src is
 * treated as untrusted: only its lutdb_dtype_bytes(dtype, block, n) bytes
 * are read; a block whose scale is infinite or NaN is LUTDB_ECORRUPT
 * (naming the block).  LUTDB_EINVAL for an unknown dtype, a bad block or
 * n.  Buffers may be unaligned and must not overlap. */
LUTDB_API int lutdb_decode_f32(int dtype, uint32_t block, const void *src, size_t n, float *dst);

/* Converts n elements from src (src_dtype) to dst (dst_dtype); any pair of
 * the float dtypes above (F32, F16, BF16), same-dtype is a copy; float -> F16/BF16 rounds to
 * nearest even exactly as torch's Tensor.to().  Buffers may be unaligned
 * and must not overlap.  LUTDB_EINVAL for an unknown or block-quantized
 * dtype (nothing is written). */
LUTDB_API int lutdb_convert(int dst_dtype, void *dst, int src_dtype, const void *src, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_TYPES_H */
