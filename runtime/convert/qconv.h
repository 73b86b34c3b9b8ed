/*
 * qconv.h - converting values into a storage dtype for pack and quantize,
 * block-quantized ones included, and measuring the error quantization
 * introduces (internal to runtime/convert).
 *
 * Every conversion goes through float32: a quantized source is decoded
 * first (format/quant), so pack from a checkpoint and quantize from an F32
 * database feed the quantizer the same floats and write the same bytes.
 */
#ifndef LUTDB_QCONV_H
#define LUTDB_QCONV_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_pack.h"

struct lk_pool;

/* The error of a run of quantized values: sums in double, and the first
 * place of the largest absolute error (an index the caller interprets). */
typedef struct lutdb_qacc {
	double err2, ref2, max_abs;
	uint64_t n, max_at;
} lutdb_qacc;

/* Adds from into into; a later maximum wins only when strictly larger, so
 * merging in storage order keeps the first place. */
void lutdb_qacc_merge(lutdb_qacc *into, const lutdb_qacc *from);

/* Quantizes x[0..n) (n a multiple of block) as dtype into dst, decodes it
 * back into scratch[0..n) and adds the error to acc, value i standing at
 * base + i; with acc NULL it only quantizes (scratch unused).  LUTDB_ERANGE
 * from the quantizer (non-finite value, scale beyond F16) with its
 * detail. */
int lutdb_qrun(int dtype, uint32_t block, const float *x, size_t n, void *dst, float *scratch, lutdb_qacc *acc,
	       uint64_t base);

/* Converts n values of a tensor from sdt at src to ddt at dst; either may
 * be Q8_0/Q4_0 (blocks of 32 along the rows, n a multiple of 32).  Same
 * dtype: a copy of the bytes.  acc (may be NULL) gets the error when ddt is
 * quantized and sdt is not the same dtype.  A quantized source whose
 * scale is not finite is LUTDB_ECORRUPT. */
int lutdb_qconv_tensor(int ddt, void *dst, int sdt, const void *src, uint64_t n, lutdb_qacc *acc);

/* Table rows: token rows of row_elems float32 values to the table dtype,
 * quantized on a pool, one token per unit of work. */
typedef struct lutdb_qrows {
	int dtype;
	uint32_t block;
	size_t row_elems, row_bytes;
	struct lk_pool *pool; /* borrowed; NULL: the caller's thread */
	int ntasks;
	float *scratch;       /* ntasks * 2 * row_elems */
	int measure;          /* 1 (init's default): keep acc; 0: quantize only */
	lutdb_qacc acc;       /* every row so far, token-major indexes */
} lutdb_qrows;

int lutdb_qrows_init(lutdb_qrows *q, int dtype, uint32_t block, size_t row_elems, size_t row_bytes,
		     struct lk_pool *pool);
void lutdb_qrows_free(lutdb_qrows *q);
/* Converts nt rows at src (row_elems floats apart) into dst (row_bytes
 * apart), token token0 first.  On a failure the detail names the token. */
int lutdb_qrows_run(lutdb_qrows *q, const float *src, uint32_t nt, void *dst, uint32_t token0);

/* The same from stored rows: each task fetches its rows itself
 * (fetch(ctx, token, &row) sets row to token's row of row_elems values of
 * sdt: F32, F16, BF16, or a quantized type in blocks of sblock; it runs on
 * the pool's threads at once, so it must be thread-safe), widens each into
 * float32 and quantizes it while it is in cache: no float32 copy of the
 * step, and reading (its checksums) and widening spread over the threads.
 * A fetch error or a quantized row whose scale is not finite
 * (LUTDB_ECORRUPT) fails the run with the token in the detail. */
typedef int (*lutdb_qrow_fetch)(void *ctx, uint32_t token, const void **row);
int lutdb_qrows_run_stored(lutdb_qrows *q, lutdb_qrow_fetch fetch, void *ctx, int sdt, uint32_t sblock, uint32_t nt,
			   void *dst, uint32_t token0);

/* n stored values of sdt (blocks of sblock when quantized) into float32. */
int lutdb_qrows_widen(float *dst, int sdt, uint32_t sblock, const void *src, size_t n);

/* Where element e of a token row lies: layer, MoLKV key (1) or value (0)
 * vector (MoLE: -1), expert. */
void lutdb_qrow_place(int family, uint32_t experts, uint32_t hidden, uint32_t kv_dim, uint32_t layer_row_elems,
		      uint64_t e, uint32_t *layer, int *key, uint32_t *expert);

/* A report entry from an accumulator (rel_rms, max_abs; places are the
 * caller's). */
void lutdb_qerror_fill(lutdb_quant_error *out, int dtype, uint32_t block, const lutdb_qacc *acc);

#endif
