/*
 * lutdb_pack.h - converting a trained checkpoint into a lutdb database, and
 * back (export).
 *
 * lutdb_pack() reads a Hugging Face style checkpoint directory of a MoLE or
 * MoLKV model in training or reparameterized form (recognised from the
 * tensor names), checks it completely against its config.json, computes the
 * lookup table when needed (float32, streaming blocks of token ids so memory
 * stays bounded whatever the vocabulary size) and writes the database
 * crash-safely: nothing appears at out_path unless the whole pack succeeded.
 *
 * Threads and callbacks
 *   The table is computed on a thread pool that lutdb_pack() starts and
 *   joins (opts->threads threads, the caller's included); no process-wide
 *   setting (such as a BLAS library's thread count) is changed.  The
 *   progress callback of lutdb_pack() and lutdb_export() runs on the thread
 *   that called them, between two blocks of work, while the call's other
 *   threads are idle and no lock is held.  It may call any lutdb function
 *   (another pack or export included) except on the same output path; what
 *   it leaves in lutdb_errdetail() is overwritten if the call then fails.
 *   Returning nonzero cancels the call, which fails with LUTDB_EINTR:
 *   lutdb_pack() leaves nothing at out_path, lutdb_export() keeps the files
 *   it had completed (each appears whole or not at all).
 */
#ifndef LUTDB_PACK_H
#define LUTDB_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb.h"
#include "lutdb_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- quantization ----------------------------------------------------------
 * Tables may be stored Q8_0, Q4_0, NF4 or NF3, dense weights Q8_0 or Q4_0
 * (spec/FORMAT.md section 10).  Which dense tensors a weight dtype applies
 * to: the attention projections, the MLP, the embedding and the output
 * head.  Norm vectors, router weights (MoLKV: expert_query) and any tensor
 * whose last dimension is not a multiple of 32 keep a float dtype. */

/* One per-tensor storage dtype (llama.cpp users keep the head or the
 * embedding at Q8_0 when the rest is Q4_0).  Pointers are read during the
 * call only. */
typedef struct lutdb_tensor_dtype {
	const char *name;   /* a stored tensor's name, e.g. "lm_head.weight" */
	lutdb_dtype dtype;  /* F32, F16, BF16, Q8_0 or Q4_0 */
} lutdb_tensor_dtype;

/* The error one part's quantization introduced, x the value before and x'
 * the value the stored bytes decode to. */
typedef struct lutdb_quant_error {
	int dtype;          /* the part's block-quantized dtype; 0 when nothing of
			       the part was quantized (the rest is then 0) */
	uint32_t block;     /* B */
	uint64_t values;    /* values quantized */
	double rel_rms;     /* sqrt(sum (x - x')^2) / sqrt(sum x^2); 0 when every
			       x is 0 */
	double max_abs;     /* the largest |x - x'| */
	/* Where max_abs first occurs, in storage order.  Table: layer, token,
	 * expert, and key: MoLKV 1 in a key vector, 0 in a value vector; MoLE -1.
	 * Weights: the tensor's name and the element's row-major index. */
	uint32_t layer, token, expert;
	int key;
	char tensor[256];
	uint64_t index;
} lutdb_quant_error;

/* What pack and quantize report when asked (their report option). */
typedef struct lutdb_quant_report {
	lutdb_quant_error table, weights;
} lutdb_quant_report;

/* Options of lutdb_pack(), a size-prefixed option struct (lutdb_err.h,
 * "Option structs"): set size, leave what you do not need zero:
 *     lutdb_pack_opts o = {.size = sizeof o, .threads = 4};     (C)
 *     lutdb_pack_opts o{};  o.size = sizeof o;  o.threads = 4;  (C++) */
typedef struct lutdb_pack_opts {
	size_t size;            /* sizeof(lutdb_pack_opts) of the caller's header */
	lutdb_dtype dtype;      /* storage dtype of the table and the dense weights;
				   0: F16 for a training-form source, the source's
				   own dtypes for a rep source */
	lutdb_codec codec;      /* table codec; 0 is LUTDB_CODEC_NONE (the default) */
	int threads;            /* table computation threads, the caller's included;
				   <= 0: one per online CPU */
	uint32_t block_tokens;  /* tokens per table record; 0: the format's default */
	const char *tokenizer;  /* NULL, or the path of a tokenizer.json that replaces
				   or adds one; read during the call */
	const lutdb_shard_opts *shards; /* NULL: out_path is one database file; else
				   (count or max_size nonzero) out_path is a directory
				   that receives the shards and manifest.json.  Read
				   during the call only */
	lutdb_progress_fn progress; /* optional: tokens done / total (see above) */
	void *progress_ctx;
	/* Quantization (format 1.1).  dtype above may also be Q8_0 or Q4_0: it
	 * sets both parts, and the tensors a weight dtype does not apply to
	 * keep their float default. */
	lutdb_dtype table_dtype;  /* 0: dtype's choice; else the table's dtype,
				     any of F32 F16 BF16 Q8_0 Q4_0 NF4 NF3 */
	lutdb_dtype weight_dtype; /* 0: dtype's choice; else the dense weights'
				     dtype, F32 F16 BF16 Q8_0 or Q4_0 */
	uint32_t table_block;     /* B of a quantized table; 0: the default (32
				     for Q8_0/Q4_0, which take only 32; 64 for
				     NF4/NF3, which take a multiple of 32 up to
				     8192).  It must divide d (MoLKV: and dk):
				     LUTDB_EINVAL naming the dimension otherwise.
				     Nonzero with a float table: LUTDB_EINVAL */
	const lutdb_tensor_dtype *tensor_dtypes; /* overrides per tensor, applied
				     last; an unknown name, or a quantized dtype
				     for a tensor that must stay float, is
				     LUTDB_EINVAL.  Read during the call only */
	size_t tensor_dtype_count;
	lutdb_quant_report *report; /* optional: on success, the error each
				     quantized part introduced */
} lutdb_pack_opts;

/* Packs checkpoint directory src into the database file out_path (a
 * regular file there is replaced atomically; a symbolic link, device, FIFO,
 * socket or directory is refused and left untouched, as lutdb_writer_open
 * says), or straight into shards (opts->shards).  Every file of src is read
 * only if it is a regular file (lutdb.h, "files from outside").  opts
 * NULL: all defaults.  LUTDB_EINVAL for options of a size below this
 * struct's first version or an unknown dtype or codec; LUTDB_EUNSUPPORTED
 * for options from a newer header that set a field this library does not
 * know. */
LUTDB_API int lutdb_pack(const char *src, const char *out_path, const lutdb_pack_opts *opts);

/* Options of lutdb_quantize(), size-prefixed like lutdb_pack_opts.  A part
 * whose dtype is not named keeps its stored dtype (and bytes). */
typedef struct lutdb_quantize_opts {
	size_t size;              /* sizeof(lutdb_quantize_opts) */
	lutdb_dtype table_dtype;  /* 0: keep; else as lutdb_pack_opts */
	lutdb_dtype weight_dtype; /* 0: keep; else as lutdb_pack_opts (a float
				     dtype converts every tensor, dequantizing
				     quantized ones) */
	uint32_t table_block;     /* 0: the stored B when the table dtype is
				     kept, else the default; as lutdb_pack_opts */
	const lutdb_tensor_dtype *tensor_dtypes; /* as lutdb_pack_opts */
	size_t tensor_dtype_count;
	int threads;              /* threads quantizing the table, the caller's
				     included; <= 0: one per online CPU */
	lutdb_progress_fn progress; /* optional: tokens done / V, on the calling
				     thread, as lutdb_pack's */
	void *progress_ctx;
	lutdb_quant_report *report; /* optional, as lutdb_pack_opts */
} lutdb_quantize_opts;

/* Writes the model held by src (a file or a shard set) as one database
 * file at out_path, with its table and dense weights converted as o says,
 * from their stored values (dequantized first when they are quantized),
 * without the checkpoint.  Quantizing an F32 database gives table and
 * tensor records byte for byte those lutdb_pack() writes from the same
 * checkpoint with the same options.  Blobs (config, tokenizer, provenance)
 * are copied; block_tokens is the default for the new row size; a
 * quantized table never uses codec shuffle-lz4 (it becomes lz4).  As
 * crash-safe as lutdb_pack: nothing appears at out_path unless the whole
 * call succeeded (a regular file there is replaced atomically; anything
 * else is refused as lutdb_writer_open says).  LUTDB_EINVAL for bad
 * options (dtypes, a block that does not divide a dimension, unknown
 * tensor names), LUTDB_ERANGE for a value a quantizer refuses (non-finite,
 * or a scale beyond F16), naming where. */
LUTDB_API int lutdb_quantize(lutdb_db *src, const char *out_path, const lutdb_quantize_opts *o);

/* Writes the reparameterized Hugging Face checkpoint held by db into outdir
 * (created if absent; existing files in it are never overwritten; an outdir
 * that is a symbolic link is LUTDB_EINVAL, one that exists and is not a
 * directory LUTDB_EEXIST, as lutdb_output_check() says): config.json, the
 * tensors in safetensors files of at most max_shard_bytes each (0: 2 GiB)
 * with model.safetensors.index.json when there are several, and the stored
 * tokenizer/generation files.  progress (optional) gets bytes written /
 * total, on the calling thread (see above). */
LUTDB_API int lutdb_export(lutdb_db *db, const char *outdir, uint64_t max_shard_bytes, lutdb_progress_fn progress,
			   void *ctx);

/* As lutdb_export(), choosing the dtype the block-quantized parts (a Q8_0,
 * Q4_0, NF4 or NF3 table, Q8_0/Q4_0 tensors) are written in: safetensors
 * has no such types, so their values are decoded (scale times code,
 * float32) and stored as dequant_dtype: LUTDB_DTYPE_F16 (also for 0) or
 * LUTDB_DTYPE_F32 (exact), or BF16.  Float parts are written as stored.
 * lutdb_export() is lutdb_export_as() with 0. */
LUTDB_API int lutdb_export_as(lutdb_db *db, const char *outdir, uint64_t max_shard_bytes, lutdb_dtype dequant_dtype,
			      lutdb_progress_fn progress, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
