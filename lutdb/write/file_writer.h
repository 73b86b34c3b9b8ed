/*
 * file_writer.h - writing one lutdb database file (library-internal: the
 * public lutdb_writer is one of these per output file).
 *
 * A file writer writes the part of a model that one file holds (its token
 * and layer ranges, its shard index) into a private temporary file beside
 * path, in one LMDB write transaction, and renames it to path at commit
 * (file_writer.c says why it works the way it does).  Calls follow the
 * public writer's rules (lutdb.h): blobs and tensors first, tensors in name
 * order, then rows in token order; after a failed call only abort.
 */
#ifndef LUTDB_FILE_WRITER_H
#define LUTDB_FILE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb.h"

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

typedef struct lutdb_file_writer lutdb_file_writer;

/* Which part of the model one file holds, and how large it may grow. */
typedef struct lutdb_file_part {
	uint32_t token_begin, token_end;   /* table rows held: [begin, end) */
	uint32_t layer_begin, layer_end;   /* layers of those rows: [begin, end) */
	uint32_t shard_index, shard_count; /* 0, 1 when not sharded */
	uint64_t size_hint;                /* upper bound of the file's bytes: sizes the map
					      and the preallocation */
	uint64_t slack;                    /* room beyond the estimate's own margins for
					      records it could not size (the writer
					      parameters' sizing fields all zero) */
} lutdb_file_part;

/* Slack of a file whose every record is sized (plan.h): the estimate is an
 * upper bound; this covers only rounding the estimate does not model. */
#define LUTDB_SLACK_SIZED (16ull << 10)
/* Slack of a file of a writer opened without sizing fields (lutdb.h,
 * lutdb_writer_params: "all zero suits ... under 64 MiB"). */
#define LUTDB_SLACK_UNSIZED (64ull << 20)

/* Checks the model parameters (p's geometry, dtype, codec, block_tokens)
 * the way a reader will, by building and parsing a header for the whole
 * model: LUTDB_EINVAL naming what is wrong. */
int lutdb_file_writer_check(const lutdb_writer_params *p);

/* Starts the file that will appear at path on commit.  p is the whole
 * model's parameters with pack_id and block_tokens chosen (the writer caps
 * block_tokens for its own rows); part says what this file holds.  With
 * overwrite 0 the commit fails with LUTDB_EEXIST rather than replace a file
 * at path.  On failure *out is NULL and nothing is left on disk. */
int lutdb_file_writer_open(const char *path, const lutdb_writer_params *p, const lutdb_file_part *part,
			   int overwrite, lutdb_file_writer **out);

int lutdb_file_writer_put_blob(lutdb_file_writer *w, const char *name, const void *data, size_t len);
int lutdb_file_writer_tensor_begin(lutdb_file_writer *w, const char *name, int dtype, uint32_t ndim,
				   const uint64_t *shape, void **payload);
int lutdb_file_writer_tensor_end(lutdb_file_writer *w);
/* Rows of tokens [token_first, token_first + count) of this file's token
 * range, each the file's layers (row_bytes), row i at rows + i * src_stride. */
int lutdb_file_writer_put_rows(lutdb_file_writer *w, uint32_t token_first, uint32_t count, const void *rows,
			       size_t src_stride);

/* Bytes of one token's row in this file (its layer range). */
uint64_t lutdb_file_writer_row_bytes(const lutdb_file_writer *w);
/* The temporary file's path (owned by w, valid until commit or abort). */
const char *lutdb_file_writer_tmp_path(const lutdb_file_writer *w);

/* Writes the header and digest records, commits, syncs, trims the file,
 * renames it to path and syncs the directory.  Frees w, also on failure
 * (after removing the temporary file). */
int lutdb_file_writer_commit(lutdb_file_writer *w);
/* Removes the temporary file and frees w.  NULL is a no-op. */
void lutdb_file_writer_abort(lutdb_file_writer *w);

#endif /* LUTDB_FILE_WRITER_H */
