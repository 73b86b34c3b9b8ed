/*
 * db.c - the public handle: lutdb_open() decides once whether the path is a
 * database file or a shard manifest and binds the handle to that store's
 * operations (db_ops.h); every other call is one dispatch.
 */
#include "db.h"

#include <stdlib.h>
#include <unistd.h>

#include "db_ops.h"
#include "fail.h"
#include "file.h"
#include "set.h"

int lutdb_open(const char *path, unsigned flags, lutdb_db **out)
{
	const lutdb_store_ops *ops = &lutdb_file_store;
	lutdb_db *db;
	void *store = NULL;
	uint64_t size;
	int fd, rc;

	*out = NULL;
	lutdb_errclear();
	if (flags & ~(LUTDB_OPEN_NOVERIFY | LUTDB_OPEN_WILLNEED))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_open: unknown flags 0x%x", flags);
	if (!path)
		return lutdb_fail(LUTDB_EINVAL, "no database path");
	/* Opened once: what is sniffed is what is read.  The path is the
	 * caller's: anything but a regular file is a bad argument. */
	if ((rc = lutdb_input_open(path, LUTDB_EINVAL, &fd, &size)))
		return rc;
	if (lutdb_set_is_manifest(fd)) {
		lutdb_set *s = NULL;
		ops = &lutdb_set_store;
		rc = lutdb_set_open_fd(path, fd, size, flags, &s);
		store = s;
	} else {
		lutdb_file *f = NULL;
		rc = lutdb_file_open_fd(path, fd, size, flags, &f);
		store = f;
	}
	close(fd);
	if (rc)
		return rc;
	if (!(db = malloc(sizeof *db))) {
		ops->close(store);
		return lutdb_fail(LUTDB_ENOMEM, "%s: open", path);
	}
	db->ops = ops;
	db->store = store;
	*out = db;
	return LUTDB_OK;
}

void lutdb_close(lutdb_db *db)
{
	if (!db)
		return;
	db->ops->close(db->store);
	free(db);
}

const lutdb_info *lutdb_get_info(const lutdb_db *db)
{
	return db->ops->info(db->store);
}

const char *lutdb_path(const lutdb_db *db)
{
	return db->ops->path(db->store);
}

int lutdb_blob_get(lutdb_db *db, const char *name, const void **data, size_t *len)
{
	return db->ops->blob(db->store, name, data, len);
}

size_t lutdb_db_blob_count(const lutdb_db *db)
{
	return db->ops->blob_count(db->store);
}

int lutdb_db_blob_at(lutdb_db *db, size_t i, const char **name, const void **data, size_t *len)
{
	return db->ops->blob_at(db->store, i, name, data, len);
}

size_t lutdb_tensor_count(const lutdb_db *db)
{
	return db->ops->tensor_count(db->store);
}

int lutdb_tensor_at(lutdb_db *db, size_t i, lutdb_tensor *out)
{
	return db->ops->tensor_at(db->store, i, out);
}

int lutdb_tensor_get(lutdb_db *db, const char *name, lutdb_tensor *out)
{
	return db->ops->tensor(db->store, name, out);
}

int lutdb_token_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t scratch_size, lutdb_row *out)
{
	return db->ops->token_row(db->store, token, flags, scratch, scratch_size, out);
}

int lutdb_layer_row(lutdb_db *db, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
		    size_t scratch_size, lutdb_row *out)
{
	return db->ops->layer_row(db->store, layer, token, flags, scratch, scratch_size, out);
}

void lutdb_prefetch_token(lutdb_db *db, uint32_t token)
{
	db->ops->prefetch(db->store, token);
}

int lutdb_verify(lutdb_db *db, lutdb_progress_fn progress, void *ctx)
{
	return db->ops->verify(db->store, progress, ctx);
}
