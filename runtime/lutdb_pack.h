/*
 * lutdb_pack.h - converting a trained checkpoint into a lutdb database, and
 * back (export).
 *
 * lutdb_pack() reads a Hugging Face style checkpoint directory of a MoLE or
 * MoLKV model in training or reparameterized form (recognised from the
 * tensor names), checks it completely against its config.json, computes the
 * lookup table when needed (float32, OpenBLAS SGEMM, streaming blocks of
 * token ids so memory stays bounded whatever the vocabulary size) and writes
 * the database crash-safely: nothing appears at out_path unless the whole
 * pack succeeded.
 */
#ifndef LUTDB_PACK_H
#define LUTDB_PACK_H

#include "lutdb.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lutdb_pack_opts {
	int dtype;              /* LUTDB_DTYPE_F32/F16/BF16, or 0: F16 for a training-form
				   source, the source's own dtypes for a rep source */
	int codec;              /* table codec: 0 none (default), 1 lz4, 2 shuffle-lz4 */
	int threads;            /* 0: all online CPUs */
	uint32_t block_tokens;  /* 0: the format's default */
	const char *tokenizer;  /* NULL, or a tokenizer.json that replaces/adds one */
	lutdb_shard_opts shards;/* count or max_size nonzero: out_path is a directory
				   that receives shards and manifest.json */
	lutdb_progress_fn progress; /* called with tokens done / total; may cancel */
	void *progress_ctx;
} lutdb_pack_opts;

/* Packs checkpoint directory src into the database file out_path (replaced
 * atomically if it exists), or straight into shards (opts->shards). */
LUTDB_API int lutdb_pack(const char *src, const char *out_path, const lutdb_pack_opts *opts);

/* Writes the reparameterized Hugging Face checkpoint held by db into outdir
 * (created; existing files in it are never overwritten): config.json, the
 * tensors in safetensors files of at most max_shard_bytes each (0: 2 GiB)
 * with model.safetensors.index.json when there are several, and the stored
 * tokenizer/generation files.  progress gets bytes written / total. */
LUTDB_API int lutdb_export(lutdb_db *db, const char *outdir, uint64_t max_shard_bytes, lutdb_progress_fn progress,
		 void *ctx);

#ifdef __cplusplus
}
#endif
#endif
