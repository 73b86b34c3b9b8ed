/*
 * lutdb.h - the lutdb store: an LMDB-backed database holding a Mixture-of-
 * Lookup-Experts model (lookup tables keyed by layer and token id, dense
 * weights, config, tokenizer) in one file, or in shards listed by a manifest.
 *
 * Lifecycle
 *   lutdb_open()  -> use (info, tensors, rows, verify) -> lutdb_close().
 *   When lutdb_open() fails, *out is NULL, nothing needs closing, and
 *   lutdb_errdetail() says what failed where (file, key, offset).
 *
 * Zero-copy
 *   Tensor and row views point into the read-only memory map of the file.
 *   They are owned by the lutdb_db handle and stay valid until
 *   lutdb_close(); the bytes never change while the handle is open (files
 *   are immutable once written).  Never write through them.
 *
 * Threads
 *   An open lutdb_db is safe to use from any number of threads at once: all
 *   lookups go through indexes built at open time; the lazy once-per-row
 *   checksum bookkeeping uses atomics.  lutdb_writer is single-threaded.
 *
 * Errors
 *   Every fallible call returns LUTDB_OK (0) or a negative code from
 *   lutdb_err.h; lutdb_strerror() words it, lutdb_errdetail() gives context.
 */
#ifndef LUTDB_H
#define LUTDB_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_err.h"
#include "lutdb_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ----------------------------------------------------------------
 * The library's version (semantic versioning).  LUTDB_VERSION_NUMBER is
 * MAJOR * 1000000 + MINOR * 1000 + PATCH, so it compares as an integer.
 * lutdb_libversion() and lutdb_libversion_number() give the version of the
 * library actually linked, which may differ from these macros (the header
 * a program was compiled with).  The shared library's SONAME is
 * liblutdb.so.0 for every 0.x release; README.md ("Library ABI") says when
 * it changes. */
#define LUTDB_VERSION_MAJOR 0
#define LUTDB_VERSION_MINOR 2
#define LUTDB_VERSION_PATCH 0
#define LUTDB_VERSION_STRING "0.2.0"
#define LUTDB_VERSION_NUMBER (LUTDB_VERSION_MAJOR * 1000000 + LUTDB_VERSION_MINOR * 1000 + LUTDB_VERSION_PATCH)

/* LUTDB_VERSION_STRING of the linked library (static storage). */
LUTDB_API const char *lutdb_libversion(void);
/* LUTDB_VERSION_NUMBER of the linked library. */
LUTDB_API int lutdb_libversion_number(void);

#define LUTDB_MAX_DIMS 8

typedef struct lutdb_db lutdb_db;

/* ---- model description ---------------------------------------------------- */
typedef struct lutdb_info {
	int family;        /* 1 MoLE, 2 MoLKV */
	int source_form;   /* 1 training form, 2 reparameterized form */
	uint32_t vocab;    /* V */
	uint32_t hidden;   /* d */
	uint32_t layers;   /* L */
	uint32_t experts;  /* N */
	uint32_t intermediate; /* I */
	uint32_t heads, kv_heads, head_dim;
	uint32_t kv_dim;          /* MoLKV dk (0 for MoLE) */
	uint32_t kv_expert_heads; /* MoLKV H (0 for MoLE) */
	uint32_t kv_window;       /* MoLKV W, 0 = unlimited */
	uint32_t max_position;    /* max_position_embeddings */
	float rms_norm_eps, rope_theta;
	int tied;                 /* lm_head is embed_tokens */
	int table_dtype, table_codec;
	uint32_t layer_row_elems; /* elements of one layer's row: N*d or N*(dk+d) */
	uint64_t token_row_bytes; /* raw bytes of all layers' rows of one token */
	uint32_t block_tokens;    /* tokens per table record */
	int rows_in_place;        /* lutdb_token_row() points into the map (codec none,
				     not split by layer); otherwise pass a scratch */
	uint64_t table_records, tensor_count;
	/* What this file (or the shard set) holds. */
	uint32_t token_begin, token_end, layer_begin, layer_end;
	uint32_t shard_index, shard_count;
	uint8_t pack_id[16];
	uint8_t digest[16];       /* stored content digest */
	uint64_t file_bytes;      /* bytes on disk (all shards) */
	uint64_t raw_bytes;       /* table + tensor payload bytes, unpadded */
	uint16_t format_major, format_minor;
	uint32_t page_size;
} lutdb_info;

/* ---- open / close ---------------------------------------------------------- */
/* Open flags. */
#define LUTDB_OPEN_NOVERIFY 0x1u /* skip the once-per-row/tensor checksum check */
#define LUTDB_OPEN_WILLNEED 0x2u /* hint: the whole file will be read (verify, export) */

/* Opens a database file read-only (MDB_RDONLY | MDB_NOLOCK: no lock file, works
 * on read-only media).  Before LMDB touches the file its meta pages and B-tree
 * pages are validated (spec/SECURITY.md).  On failure *out is NULL. */
LUTDB_API int lutdb_open(const char *path, unsigned flags, lutdb_db **out);

/* Closes db; every pointer obtained from it becomes invalid.  NULL is a no-op. */
LUTDB_API void lutdb_close(lutdb_db *db);

/* The model description.  Owned by db, valid until lutdb_close(). */
LUTDB_API const lutdb_info *lutdb_get_info(const lutdb_db *db);

/* Path db was opened with.  Owned by db, valid until lutdb_close(). */
LUTDB_API const char *lutdb_path(const lutdb_db *db);

/* ---- blobs (config.json, tokenizer.json, ...) ----------------------------- */
/* Finds meta record name (e.g. "config.json").  *data points into the map
 * (not NUL-terminated), owned by db, valid until lutdb_close().
 * LUTDB_ENOENT if absent. */
LUTDB_API int lutdb_blob_get(lutdb_db *db, const char *name, const void **data, size_t *len);

/* ---- tensors -------------------------------------------------------------- */
typedef struct lutdb_tensor {
	const char *name;   /* owned by db, valid until lutdb_close() */
	int dtype;
	uint32_t ndim;
	uint64_t shape[LUTDB_MAX_DIMS];
	uint64_t nbytes;
	const void *data;   /* into the map, owned by db, valid until lutdb_close();
			       64-byte aligned when the record is in overflow
			       pages (> ~2 KB), else at any byte address (an
			       inline value follows its key): read it with
			       unaligned loads or memcpy */
} lutdb_tensor;

/* Looks a tensor up by its checkpoint name.  Unless opened with
 * LUTDB_OPEN_NOVERIFY, the tensor's checksum is checked on its first lookup
 * (LUTDB_ECHECKSUM if damaged).  LUTDB_ENOENT if absent. */
LUTDB_API int lutdb_tensor_get(lutdb_db *db, const char *name, lutdb_tensor *out);

/* Number of tensors and the i-th in name order (same ownership). */
LUTDB_API size_t lutdb_tensor_count(const lutdb_db *db);
LUTDB_API int lutdb_tensor_at(lutdb_db *db, size_t i, lutdb_tensor *out);

/* ---- table rows ----------------------------------------------------------- */
typedef struct lutdb_row {
	const void *data;   /* rows of layers [layer_first, layer_first+layer_count)
			       of one token, layer-major, layer_row_elems each */
	int dtype;
	uint32_t layer_first, layer_count;
	uint32_t nelems;    /* layer_count * layer_row_elems */
} lutdb_row;

/* Read flags. */
#define LUTDB_READ_VERIFY 0x1u /* check the row's checksum now, even if done before */

/* The row of every layer of token, as stored (the token row).  With codec
 * none, out->data points into the map: owned by db, valid until lutdb_close(),
 * 64-byte aligned.  With a compressing codec the row is decoded into scratch,
 * which must hold info->token_row_bytes bytes, and out->data == scratch;
 * scratch may be NULL for codec none.  The row's checksum is checked on its
 * first read (unless LUTDB_OPEN_NOVERIFY) or on every read with
 * LUTDB_READ_VERIFY.  LUTDB_ERANGE if token is outside [0, V) or not held by
 * this file. */
LUTDB_API int lutdb_token_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
		    lutdb_row *out);

/* One layer's row of token (layer_row_elems values): same rules. */
LUTDB_API int lutdb_layer_row(lutdb_db *db, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
		    size_t scratch_size, lutdb_row *out);

/* Hints that token's row will be read soon (madvise WILLNEED on its pages). */
LUTDB_API void lutdb_prefetch_token(lutdb_db *db, uint32_t token);

/* ---- progress ------------------------------------------------------------- */
/* Called with work done and total (same unit, e.g. rows or bytes); a nonzero
 * return cancels the operation, which then fails with LUTDB_EINTR. */
typedef int (*lutdb_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* ---- verification --------------------------------------------------------- */
/* Checks every record's checksum, every structural invariant (keys, ranges,
 * geometry, tensor shapes against the config, padding) and recomputes the
 * content digest.  Returns LUTDB_OK only if all hold; otherwise the first
 * failure's code, with the bad table key (layer, token) or tensor named in
 * lutdb_errdetail(). */
LUTDB_API int lutdb_verify(lutdb_db *db, lutdb_progress_fn progress, void *ctx);

/* ---- shards --------------------------------------------------------------- */
/* A model can be split into shard files listed by a manifest.json
 * (spec/FORMAT.md, "Shards"); lutdb_open() accepts the manifest's path and
 * then behaves exactly as for a single file. */
typedef struct lutdb_shard_opts {
	uint32_t count;     /* number of shards, or 0 */
	uint64_t max_size;  /* largest shard file in bytes, or 0 (exactly one of
			       count and max_size is nonzero) */
	int by_layer;       /* split by layer ranges instead of token ranges */
} lutdb_shard_opts;

/* Splits src (a file or a shard set) into outdir: the shard files and
 * outdir/manifest.json.  Everything is written into a temporary sibling
 * directory, the manifest last, which is then renamed to outdir (which must
 * not exist, or be empty).  progress gets bytes of rows copied. */
LUTDB_API int lutdb_shard(lutdb_db *src, const char *outdir, const lutdb_shard_opts *o, lutdb_progress_fn progress,
		void *ctx);

/* Writes src (usually a shard set) as one database file at out, crash-safe
 * as the writer.  Rows, tensors, blobs and the pack identity are copied, so
 * merging the shards of a file gives back that file's content digest. */
LUTDB_API int lutdb_merge(lutdb_db *src, const char *out, lutdb_progress_fn progress, void *ctx);

/* ---- writer --------------------------------------------------------------- */
typedef struct lutdb_writer lutdb_writer;

typedef struct lutdb_writer_params {
	int family, source_form;
	uint32_t vocab, hidden, layers, experts, intermediate;
	uint32_t heads, kv_heads, kv_dim, kv_expert_heads, kv_window;
	int tied;
	int table_dtype, table_codec;
	uint32_t block_tokens;               /* 0: the default (spec/FORMAT.md) */
	uint32_t token_begin, token_end;     /* table rows this file holds; 0,0 = all */
	uint32_t layer_begin, layer_end;     /* layers this file holds; 0,0 = all */
	uint32_t shard_index, shard_count;   /* 0,0 = not sharded */
	uint8_t pack_id[16];                 /* all zero: a fresh random id */
	uint64_t size_hint;                  /* expected payload bytes (tensors + table
						blobs); sizes the map and preallocates */
} lutdb_writer_params;

/* Starts writing the database that will appear at out_path on commit.  Writes
 * go to a private temporary file in the same directory (".NAME.tmp.XXXXXX",
 * MDB_NOLOCK, one append-ordered write transaction); out_path is untouched
 * until lutdb_writer_commit() renames the synced file into place.  Space is
 * preallocated from size_hint so a full disk fails here (LUTDB_ENOSPC), not
 * with a signal later.  Fails with LUTDB_EEXIST if out_path exists and
 * overwrite is 0. */
LUTDB_API int lutdb_writer_open(const char *out_path, const lutdb_writer_params *p, int overwrite, lutdb_writer **out);

/* Stores a meta blob (config.json, tokenizer.json, ...); data is copied. */
LUTDB_API int lutdb_writer_put_blob(lutdb_writer *w, const char *name, const void *data, size_t len);

/* Reserves a tensor record and returns in *payload where to write its
 * nbytes = prod(shape) * dtype size bytes; the pointer is valid until the next
 * writer call.  Tensors must be added in strictly increasing name order
 * (bytewise).  Finish with lutdb_writer_tensor_end(). */
LUTDB_API int lutdb_writer_tensor_begin(lutdb_writer *w, const char *name, int dtype, uint32_t ndim,
			      const uint64_t *shape, void **payload);
LUTDB_API int lutdb_writer_tensor_end(lutdb_writer *w);

/* Stores the rows of tokens [token_first, token_first + count) (each
 * token_row_bytes raw bytes of the table dtype, layer-major, for the file's
 * layer range), reading row i at rows + i * src_stride.  Rows are copied (and
 * encoded with the table codec).  Calls must cover the file's token range in
 * increasing order; the writer groups them into records of block_tokens. */
LUTDB_API int lutdb_writer_put_rows(lutdb_writer *w, uint32_t token_first, uint32_t count, const void *rows,
			  size_t src_stride);

/* Stores the header and digest records, commits, syncs, trims the file,
 * renames it to out_path and syncs the directory.  Frees w
 * (also on failure, after removing the temporary file). */
LUTDB_API int lutdb_writer_commit(lutdb_writer *w);

/* Discards everything: removes the temporary file and frees w.  NULL is a
 * no-op.  Safe to call on a writer whose previous call failed. */
LUTDB_API void lutdb_writer_abort(lutdb_writer *w);

/* Bytes of one token's row for these params (the file's layer range). */
LUTDB_API uint64_t lutdb_writer_token_row_bytes(const lutdb_writer *w);

/* Path of the temporary file (for signal handlers that must unlink it):
 * owned by w, valid until commit/abort. */
LUTDB_API const char *lutdb_writer_tmp_path(const lutdb_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_H */
