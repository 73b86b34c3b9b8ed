/*
 * shardset.h - writing one model into one file or into shards (internal).
 *
 * A shard set is N writers, one per shard, fed as if they were one: blobs
 * and tensors go to the first shard (config.json to every shard, so each is
 * a valid file on its own), table rows are routed by token range (token
 * split) or cut by layer range (layer split).  With N = 1 in file mode it is
 * simply the writer for OUT.  In directory mode the shards and the manifest
 * are written into a temporary sibling directory, the manifest last, and the
 * directory is renamed to its name at commit: the output directory appears
 * complete or not at all.
 */
#ifndef LUTDB_SHARDSET_H
#define LUTDB_SHARDSET_H

#include "lutdb.h"
#include "manifest.h"

/* Tokens per table record unless the caller chooses (spec/FORMAT.md,
 * "Choosing the record granularity", has the measurements): at least 16, and
 * enough that a record's rows fill 256 KiB, so its header page costs at most
 * 1/64 of the table, at most 251 (what fits the header page). */
#define LUTDB_MIN_BLOCK_TOKENS 16
#define LUTDB_BLOCK_TARGET_BYTES (256u << 10)
uint32_t lutdb_default_block_tokens(uint64_t token_row_bytes);
/* A table record is kept below this many payload bytes (blocks shrink). */
#define LUTDB_MAX_BLOCK_BYTES (256ull << 20)
/* LMDB 0.9 stores value sizes in 32 bits. */
#define LUTDB_MAX_RECORD (0xFFFFFFFFull - 65536)

typedef struct lutdb_shardset lutdb_shardset;

/* How to split: by count or by a size limit, along tokens or layers. */
typedef struct lutdb_split_opts {
	int split;           /* LUTDB_SPLIT_TOKEN (default when 0) or _LAYER */
	uint32_t count;      /* number of shards, or 0 */
	uint64_t max_size;   /* bytes per shard file, or 0 */
} lutdb_split_opts;

/* What the first shard holds besides table rows (for size planning). */
typedef struct lutdb_shard_extra {
	uint64_t first_bytes;   /* file bytes of the dense tensors and blobs (first shard) */
	uint64_t config_bytes;  /* file bytes of config.json (every shard) */
} lutdb_shard_extra;

/* Adds the file bytes a record of key_len + value_len bytes takes: its
 * overflow pages when LMDB stores it out of line, else twice its node size
 * (leaf pages are at least half full). */
void lutdb_shard_extra_add(uint64_t *bytes, size_t key_len, uint64_t value_len);

/* Opens a shard set.  out is a file path when split is NULL (one file), else
 * the output directory (must not exist, or be empty).  base: the model's
 * writer parameters (ranges and shard fields are filled in here). */
int lutdb_shardset_open(const char *out, const lutdb_split_opts *split, const lutdb_writer_params *base,
			const lutdb_shard_extra *extra, lutdb_shardset **ss);

/* config.json goes to every shard, any other blob to the first. */
int lutdb_shardset_put_blob(lutdb_shardset *ss, const char *name, const void *data, size_t len);
/* Tensors go to the first shard (see lutdb_writer_tensor_begin). */
int lutdb_shardset_tensor_begin(lutdb_shardset *ss, const char *name, int dtype, uint32_t ndim, const uint64_t *shape,
				void **payload);
int lutdb_shardset_tensor_end(lutdb_shardset *ss);
/* Full token rows (all layers) of tokens [t0, t0 + n), row i at
 * rows + i * stride; each shard takes its part. */
int lutdb_shardset_put_rows(lutdb_shardset *ss, uint32_t t0, uint32_t n, const void *rows, size_t stride);
/* Commits every shard, then the manifest, then publishes.  Frees ss. */
int lutdb_shardset_commit(lutdb_shardset *ss);
/* Removes everything written; frees ss.  NULL is a no-op. */
void lutdb_shardset_abort(lutdb_shardset *ss);

/* Copies an open database (file or shard set) into out, re-split by split
 * (NULL: one file).  Rows, tensors, blobs and the pack identity are kept, so
 * `merge` reproduces the original file's content digest. */
int lutdb_reshard(lutdb_db *src, const char *out, const lutdb_split_opts *split, lutdb_progress_fn progress,
		  void *ctx);

#endif
