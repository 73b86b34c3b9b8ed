/*
 * db_ops.h - what a store behind the public lutdb_db handle provides
 * (private to lutdb/db).
 *
 * lutdb_open() decides once what the path names, a database file or a
 * shard manifest, and binds the handle to that store's table of operations;
 * every public call is then one indirect call.  A new kind of store (a
 * remote reader, say) is one more table, and nothing else changes.
 */
#ifndef LUTDB_DB_OPS_H
#define LUTDB_DB_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb.h"

typedef struct lutdb_store_ops {
	void (*close)(void *store);
	const lutdb_info *(*info)(const void *store);
	const char *(*path)(const void *store);
	int (*blob)(void *store, const char *name, const void **data, size_t *len);
	size_t (*blob_count)(const void *store);
	int (*blob_at)(void *store, size_t i, const char **name, const void **data, size_t *len);
	size_t (*tensor_count)(const void *store);
	int (*tensor_at)(void *store, size_t i, lutdb_tensor *out);
	int (*tensor)(void *store, const char *name, lutdb_tensor *out);
	int (*token_row)(void *store, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			 lutdb_row *out);
	int (*layer_row)(void *store, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			 size_t scratch_size, lutdb_row *out);
	void (*prefetch)(void *store, uint32_t token);
	int (*verify)(void *store, lutdb_progress_fn progress, void *ctx);
} lutdb_store_ops;

/* One database file (lutdb/file) and a shard set (lutdb/set). */
extern const lutdb_store_ops lutdb_file_store;
extern const lutdb_store_ops lutdb_set_store;

struct lutdb_db {
	const lutdb_store_ops *ops;
	void *store;                /* a lutdb_file or a lutdb_set */
};

#endif /* LUTDB_DB_OPS_H */
