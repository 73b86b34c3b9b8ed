/* db_set.c - the public handle over a shard set (lutdb/set).  Blobs and
 * tensors are the first shard's; rows and verify are the set's own. */
#include "db_ops.h"
#include "set.h"

static void s_close(void *s)
{
	lutdb_set_close(s);
}

static const lutdb_info *s_info(const void *s)
{
	return lutdb_set_info(s);
}

static const char *s_path(const void *s)
{
	return lutdb_set_path(s);
}

static int s_blob(void *s, const char *name, const void **data, size_t *len)
{
	return lutdb_file_blob(lutdb_set_first(s), name, data, len);
}

static size_t s_blob_count(const void *s)
{
	return lutdb_file_blob_count(lutdb_set_first(s));
}

static int s_blob_at(void *s, size_t i, const char **name, const void **data, size_t *len)
{
	return lutdb_file_blob_at(lutdb_set_first(s), i, name, data, len);
}

static size_t s_tensor_count(const void *s)
{
	return lutdb_file_tensor_count(lutdb_set_first(s));
}

static int s_tensor_at(void *s, size_t i, lutdb_tensor *out)
{
	return lutdb_file_tensor_at(lutdb_set_first(s), i, out);
}

static int s_tensor(void *s, const char *name, lutdb_tensor *out)
{
	return lutdb_file_tensor(lutdb_set_first(s), name, out);
}

static int s_token_row(void *s, uint32_t token, unsigned flags, void *scratch, size_t scratch_size, lutdb_row *out)
{
	return lutdb_set_token_row(s, token, flags, scratch, scratch_size, out);
}

static int s_layer_row(void *s, uint32_t layer, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
		       lutdb_row *out)
{
	return lutdb_set_layer_row(s, layer, token, flags, scratch, scratch_size, out);
}

static void s_prefetch(void *s, uint32_t token)
{
	lutdb_set_prefetch(s, token);
}

static int s_verify(void *s, lutdb_progress_fn progress, void *ctx)
{
	return lutdb_set_verify(s, progress, ctx);
}

const lutdb_store_ops lutdb_set_store = {
	.close = s_close,
	.info = s_info,
	.path = s_path,
	.blob = s_blob,
	.blob_count = s_blob_count,
	.blob_at = s_blob_at,
	.tensor_count = s_tensor_count,
	.tensor_at = s_tensor_at,
	.tensor = s_tensor,
	.token_row = s_token_row,
	.layer_row = s_layer_row,
	.prefetch = s_prefetch,
	.verify = s_verify,
};
