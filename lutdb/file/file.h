/*
 * file.h - one lutdb database file, read in place (library-internal: the
 * room's interface for the shard set, the public handle and the writers).
 *
 * A lutdb_file is one LMDB file that holds a whole model or one shard of it.
 * It knows nothing of manifests: a manifest (or anything else) given to
 * lutdb_file_open() is simply not a database file.  lutdb.h's rules hold for
 * everything here: views point into the file's read-only map and stay valid
 * until lutdb_file_close(); an open file is safe to use from any number of
 * threads; every failure says what and where in lutdb_errdetail().
 */
#ifndef LUTDB_FILE_H
#define LUTDB_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb.h"

typedef struct lutdb_file lutdb_file;

/* Opens the database file at path read-only (LUTDB_OPEN_* flags): validates
 * its LMDB structure, header, config and indexes (spec/SECURITY.md, 1.1).
 * Anything but a regular file at path is LUTDB_EINVAL (lutdb_input_open).
 * On failure *out is NULL. */
int lutdb_file_open(const char *path, unsigned flags, lutdb_file **out);
/* The same for the regular file of size bytes already open at fd (path
 * names it in details), which the caller keeps and closes: the store opens
 * a path once, decides what it is and reads that very file. */
int lutdb_file_open_fd(const char *path, int fd, uint64_t size, unsigned flags, lutdb_file **out);
/* NULL is a no-op. */
void lutdb_file_close(lutdb_file *f);

/* What the file holds: token and layer ranges, shard index and count as its
 * header says.  Owned by f. */
const lutdb_info *lutdb_file_info(const lutdb_file *f);
const char *lutdb_file_path(const lutdb_file *f);

/* Meta blobs by name, and the stored ones in name order without the
 * header and digest records (what a copy of the file must carry over). */
int lutdb_file_blob(lutdb_file *f, const char *name, const void **data, size_t *len);
size_t lutdb_file_blob_count(const lutdb_file *f);
int lutdb_file_blob_at(lutdb_file *f, size_t i, const char **name, const void **data, size_t *len);

/* Tensors by name and in name order (lutdb_tensor_get / _at). */
size_t lutdb_file_tensor_count(const lutdb_file *f);
int lutdb_file_tensor_at(lutdb_file *f, size_t i, lutdb_tensor *out);
int lutdb_file_tensor(lutdb_file *f, const char *name, lutdb_tensor *out);

/* Rows of the tokens and layers this file holds (lutdb_token_row /
 * lutdb_layer_row); LUTDB_ERANGE outside them. */
int lutdb_file_token_row(lutdb_file *f, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			 lutdb_row *out);
int lutdb_file_layer_row(lutdb_file *f, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			 size_t scratch_size, lutdb_row *out);
void lutdb_file_prefetch(lutdb_file *f, uint32_t token);

/* Checks every byte and invariant of the file (lutdb_verify). */
int lutdb_file_verify(lutdb_file *f, lutdb_progress_fn progress, void *ctx);

#endif /* LUTDB_FILE_H */
