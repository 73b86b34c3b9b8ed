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

#ifdef __cplusplus
}
#endif
#endif
