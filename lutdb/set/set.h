/*
 * set.h - a sharded model: the database files a manifest lists, read as one
 * (library-internal: the room's interface for the public handle).
 *
 * A lutdb_set is an array of lutdb_file, one per shard, plus the manifest.
 * At open every shard is checked against the manifest and the first shard
 * (spec/FORMAT.md, "Shards"); then a row is one array lookup away.  Dense
 * weights, config, tokenizer and every other blob live in the first shard,
 * which lutdb_set_first() gives for those lookups.  Same rules as lutdb.h:
 * views stay valid until lutdb_set_close(); safe from many threads at once.
 */
#ifndef LUTDB_SET_H
#define LUTDB_SET_H

#include <stdint.h>

#include "file.h"
#include "lutdb.h"

typedef struct lutdb_set lutdb_set;

/* Opens the shard set whose manifest.json is at path (LUTDB_OPEN_* flags,
 * passed on to every shard).  Every shard must be a regular file in the
 * manifest's directory (a symbolic link there may point only to a file in
 * that directory): anything else is LUTDB_ESHARD.  On failure *out is
 * NULL. */
int lutdb_set_open(const char *path, unsigned flags, lutdb_set **out);
/* The same for the manifest of size bytes already open at fd (path names
 * it and its directory), which the caller keeps and closes. */
int lutdb_set_open_fd(const char *path, int fd, uint64_t size, unsigned flags, lutdb_set **out);
/* Whether the file open at fd is a manifest rather than a database file:
 * its first byte is '{'. */
int lutdb_set_is_manifest(int fd);
/* NULL is a no-op. */
void lutdb_set_close(lutdb_set *s);

/* The whole model: every token and layer, shard_count the number of
 * shards, file_bytes their sum, digest the set's (XXH3-128 over the shards'
 * digests in order).  Owned by s. */
const lutdb_info *lutdb_set_info(const lutdb_set *s);
const char *lutdb_set_path(const lutdb_set *s);

/* The first shard: it holds the dense weights and every blob. */
lutdb_file *lutdb_set_first(const lutdb_set *s);

/* Rows, as lutdb_token_row / lutdb_layer_row.  A token row of a
 * layer-split set is assembled from every shard into scratch. */
int lutdb_set_token_row(lutdb_set *s, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			lutdb_row *out);
int lutdb_set_layer_row(lutdb_set *s, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			size_t scratch_size, lutdb_row *out);
void lutdb_set_prefetch(lutdb_set *s, uint32_t token);

/* Verifies every shard in order (lutdb_file_verify); progress counts the
 * bytes of all shards. */
int lutdb_set_verify(lutdb_set *s, lutdb_progress_fn progress, void *ctx);

#endif /* LUTDB_SET_H */
