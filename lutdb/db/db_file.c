/* db_file.c - the public handle over one database file (lutdb/file). */
#include "db_ops.h"
#include "file.h"

static void f_close(void *s)
{
	lutdb_file_close(s);
}

static const lutdb_info *f_info(const void *s)
{
	return lutdb_file_info(s);
}

static const char *f_path(const void *s)
{
	return lutdb_file_path(s);
}

static int f_blob(void *s, const char *name, const void **data, size_t *len)
{
	return lutdb_file_blob(s, name, data, len);
}

static size_t f_blob_count(const void *s)
{
	return lutdb_file_blob_count(s);
}

static int f_blob_at(void *s, size_t i, const char **name, const void **data, size_t *len)
{
	return lutdb_file_blob_at(s, i, name, data, len);
}

static size_t f_tensor_count(const void *s)
{
	return lutdb_file_tensor_count(s);
}

static int f_tensor_at(void *s, size_t i, lutdb_tensor *out)
{
	return lutdb_file_tensor_at(s, i, out);
}

static int f_tensor(void *s, const char *name, lutdb_tensor *out)
{
	return lutdb_file_tensor(s, name, out);
}

static int f_token_row(void *s, uint32_t token, unsigned flags, void *scratch, size_t scratch_size, lutdb_row *out)
{
	return lutdb_file_token_row(s, token, flags, scratch, scratch_size, out);
}

static int f_layer_row(void *s, uint32_t layer, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
		       lutdb_row *out)
{
	return lutdb_file_layer_row(s, layer, token, flags, scratch, scratch_size, out);
}

static void f_prefetch(void *s, uint32_t token)
{
	lutdb_file_prefetch(s, token);
}

static int f_verify(void *s, lutdb_progress_fn progress, void *ctx)
{
	return lutdb_file_verify(s, progress, ctx);
}

const lutdb_store_ops lutdb_file_store = {
	.close = f_close,
	.info = f_info,
	.path = f_path,
	.blob = f_blob,
	.blob_count = f_blob_count,
	.blob_at = f_blob_at,
	.tensor_count = f_tensor_count,
	.tensor_at = f_tensor_at,
	.tensor = f_tensor,
	.token_row = f_token_row,
	.layer_row = f_layer_row,
	.prefetch = f_prefetch,
	.verify = f_verify,
};
