/*
 * lutdb_safetensors.h - strict safetensors header parsing (no I/O).
 *
 * A safetensors file is: u64 LE json_len, json_len bytes of JSON (an object
 * mapping tensor names to {"dtype", "shape", "data_offsets"} plus an optional
 * "__metadata__" object of strings), then the data section.  The caller reads
 * the first 8 bytes, calls lutdb_st_header_len, reads the JSON, and calls
 * lutdb_st_parse with data_size = file_size - 8 - json_len.
 *
 * Parsing is strict: any deviation is LUTDB_EBADINPUT with a detail naming
 * the tensor (lutdb_errdetail()); a well-formed tensor of a dtype lutdb does
 * not hold (I64, F64, U8, BOOL, ...) is LUTDB_EUNSUPPORTED, reported only
 * once the whole header is otherwise valid.
 */
#ifndef LUTDB_SAFETENSORS_H
#define LUTDB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* JSON header cap, bytes: room for LUTDB_ST_MAX_TENSORS entries of about
 * 100 bytes (real headers: 10 KB to a few MB). */
#define LUTDB_ST_HEADER_MAX 100000000u
#define LUTDB_ST_MAX_TENSORS 1000000u  /* tensor count cap */
#define LUTDB_ST_METADATA "__metadata__"

typedef struct lutdb_st_tensor {
	char *name;        /* NUL-terminated, 1..LUTDB_NAME_MAX bytes, no NUL inside */
	size_t name_len;
	int dtype;         /* LUTDB_DTYPE_F32 / F16 / BF16 */
	uint32_t ndim;     /* 0..LUTDB_TENSOR_MAX_DIMS; 0 = scalar (one element) */
	uint64_t dims[LUTDB_TENSOR_MAX_DIMS]; /* unused entries 0 */
	uint64_t begin, end; /* byte range relative to the data section start */
} lutdb_st_tensor;

typedef struct lutdb_st_meta {
	char *key, *value; /* NUL-terminated UTF-8 (no NUL inside) */
} lutdb_st_meta;

typedef struct lutdb_st_file {
	lutdb_st_tensor *tensors; /* sorted by name (bytewise), names unique */
	size_t count;
	lutdb_st_meta *meta;      /* "__metadata__" entries sorted by key */
	size_t meta_count;
	uint64_t data_size;       /* bytes of the data section; tensors tile it */
} lutdb_st_file;

/* Reads the 8-byte LE JSON length from first8 and checks it against the cap
 * (LUTDB_ST_HEADER_MAX), a minimum of 2 bytes ("{}") and the file size
 * (8 + json_len <= file_size).  LUTDB_EBADINPUT on failure. */
int lutdb_st_header_len(const void *first8, uint64_t file_size, uint64_t *json_len);

/* Parses json[0..json_len) (need not be NUL-terminated; at most
 * LUTDB_ST_HEADER_MAX bytes, parsed by lutdb_json_load, so out of memory is
 * LUTDB_ENOMEM).  On success fills
 * *out, which the caller releases with lutdb_st_free; on failure *out is
 * empty (freeing it is still safe). */
int lutdb_st_parse(const char *json, size_t json_len, uint64_t data_size, lutdb_st_file *out);
void lutdb_st_free(lutdb_st_file *f);

/* Tensor called name, or NULL (binary search). */
const lutdb_st_tensor *lutdb_st_find(const lutdb_st_file *f, const char *name);

/* Element count of a tensor (1 for a scalar).  Never overflows for a tensor
 * returned by lutdb_st_parse. */
uint64_t lutdb_st_numel(const lutdb_st_tensor *t);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_SAFETENSORS_H */
