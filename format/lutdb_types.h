/*
 * lutdb_types.h - the codes the lutdb file format pins (spec/FORMAT.md):
 * storage dtypes, table codecs, model families and checkpoint forms, with
 * their names.  The numeric values are stored on disk and are part of the
 * ABI: they never change; new ones are appended.
 */
#ifndef LUTDB_TYPES_H
#define LUTDB_TYPES_H

#include <stddef.h>

#include "lutdb_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The newest version of the file format (spec/FORMAT.md) this library
 * reads and writes. */
#define LUTDB_FORMAT_MAJOR 1
#define LUTDB_FORMAT_MINOR 0

/* Element types of tensors and table rows; 0 is never valid. */
typedef enum lutdb_dtype {
	LUTDB_DTYPE_F32 = 1,
	LUTDB_DTYPE_F16 = 2,
	LUTDB_DTYPE_BF16 = 3,
	/* 16..63 reserved for block-quantized types */
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

/* Bytes per element, or 0 for an unknown code. */
LUTDB_API size_t lutdb_dtype_size(int dtype);
/* "F32", "F16", "BF16" (safetensors spelling), or NULL for an unknown code. */
LUTDB_API const char *lutdb_dtype_name(int dtype);
/* "none", "lz4", "shuffle-lz4", or NULL for an unknown code. */
LUTDB_API const char *lutdb_codec_name(int codec);
/* "mole", "molkv", or NULL. */
LUTDB_API const char *lutdb_family_name(int family);
/* "training", "rep", or NULL. */
LUTDB_API const char *lutdb_form_name(int form);

/* Converts n elements from src (src_dtype) to dst (dst_dtype); any pair of
 * the dtypes above, same-dtype is a copy; float -> F16/BF16 rounds to
 * nearest even exactly as torch's Tensor.to().  Buffers may be unaligned
 * and must not overlap.  LUTDB_EINVAL for an unknown dtype (nothing is
 * written). */
LUTDB_API int lutdb_convert(int dst_dtype, void *dst, int src_dtype, const void *src, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_TYPES_H */
