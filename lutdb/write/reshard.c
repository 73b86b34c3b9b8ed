/*
 * reshard.c - lutdb_shard and lutdb_merge: an open database (a file or a
 * shard set) copied through the public writer into shards or one file.
 *
 * Rows, tensors, blobs and the pack identity are copied as stored, and
 * every shard uses the source's block size, so the records of a file split
 * and merged again are the file's own: merge gives back its content digest.
 */
#include "lutdb.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fail.h"
#include "opts.h"
#include "plan.h"
#include "record.h"
#include "writer_sized.h"

/* The writer parameters that reproduce src, and the file bytes of its
 * records (plan.h) but config.json's, and config.json's. */
static int params_of(lutdb_db *src, lutdb_writer_params *p, uint64_t *first_bytes, uint64_t *config_bytes)
{
	const lutdb_info *in = lutdb_get_info(src);
	int rc;

	*p = (lutdb_writer_params){
		.size = sizeof *p, .family = in->family, .source_form = in->source_form, .vocab = in->vocab,
		.hidden = in->hidden, .layers = in->layers, .experts = in->experts, .intermediate = in->intermediate,
		.heads = in->heads, .kv_heads = in->kv_heads, .kv_dim = in->kv_dim,
		.kv_expert_heads = in->kv_expert_heads, .kv_window = in->kv_window, .tied = in->tied,
		.table_dtype = in->table_dtype, .table_codec = in->table_codec, .block_tokens = in->block_tokens,
		.table_block = in->table_block};
	memcpy(p->pack_id, in->pack_id, 16);
	*first_bytes = *config_bytes = 0;
	for (size_t i = 0; i < lutdb_db_blob_count(src); i++) {
		const char *name;
		const void *d;
		size_t len;
		if ((rc = lutdb_db_blob_at(src, i, &name, &d, &len)))
			return rc;
		lutdb_plan_add_record(!strcmp(name, LUTDB_META_CONFIG) ? config_bytes : first_bytes, strlen(name),
				      LUTDB_REC_PREFIX + len);
	}
	for (size_t i = 0; i < lutdb_tensor_count(src); i++) {
		lutdb_tensor t;
		if ((rc = lutdb_tensor_at(src, i, &t)))
			return rc;
		lutdb_plan_add_record(first_bytes, strlen(t.name), LUTDB_TENSOR_HEADER_LEN + t.nbytes);
	}
	return LUTDB_OK;
}

static int copy_dense(lutdb_db *src, lutdb_writer *w)
{
	int rc;

	for (size_t i = 0; i < lutdb_db_blob_count(src); i++) {
		const char *name;
		const void *d;
		size_t len;
		if ((rc = lutdb_db_blob_at(src, i, &name, &d, &len)) || (rc = lutdb_writer_put_blob(w, name, d, len)))
			return rc;
	}
	for (size_t i = 0; i < lutdb_tensor_count(src); i++) {
		lutdb_tensor t;
		void *dst;
		if ((rc = lutdb_tensor_at(src, i, &t)) ||
		    (rc = lutdb_writer_tensor_begin(w, t.name, t.dtype, t.ndim, t.shape, &dst)))
			return rc;
		memcpy(dst, t.data, t.nbytes);
		if ((rc = lutdb_writer_tensor_end(w)))
			return rc;
	}
	return LUTDB_OK;
}

static int copy_rows(lutdb_db *src, lutdb_writer *w, lutdb_progress_fn progress, void *ctx)
{
	const lutdb_info *in = lutdb_get_info(src);
	uint64_t total = (uint64_t)in->vocab * in->token_row_bytes;
	void *scratch = malloc(in->token_row_bytes);
	int rc = LUTDB_OK;

	if (!scratch)
		return lutdb_fail(LUTDB_ENOMEM, "copy of the table rows");
	for (uint32_t t = 0; t < in->vocab; t++) {
		lutdb_row r;
		if ((rc = lutdb_token_row(src, t, 0, scratch, in->token_row_bytes, &r)) ||
		    (rc = lutdb_writer_put_rows(w, t, 1, r.data, 0)))
			break;
		if (progress && (t % 64 == 63 || t + 1 == in->vocab) &&
		    progress(ctx, (uint64_t)(t + 1) * in->token_row_bytes, total)) {
			rc = lutdb_fail(LUTDB_EINTR, "cancelled");
			break;
		}
	}
	free(scratch);
	return rc;
}

/* Copies src into out, as shards (so) or as one file (so NULL). */
static int reshard(lutdb_db *src, const char *out, const lutdb_shard_opts *so, lutdb_progress_fn progress,
		   void *ctx)
{
	lutdb_writer_params p;
	lutdb_writer *w = NULL;
	uint64_t first_bytes, config_bytes;
	int rc;

	if ((rc = params_of(src, &p, &first_bytes, &config_bytes)) ||
	    (rc = lutdb_writer_open_sized(out, &p, so, 1, first_bytes, config_bytes, &w)))
		return rc;
	if ((rc = copy_dense(src, w)) || (rc = copy_rows(src, w, progress, ctx))) {
		lutdb_writer_abort(w);
		return rc;
	}
	return lutdb_writer_commit(w);
}

int lutdb_shard(lutdb_db *src, const char *outdir, const lutdb_shard_opts *o, lutdb_progress_fn progress, void *ctx)
{
	int rc;

	if (!o)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_shard: no shard options");
	if ((rc = lutdb_opts_check(o, o->size, sizeof *o, LUTDB_OPTS_MIN(lutdb_shard_opts, by_layer), "lutdb_shard")))
		return rc;
	if ((LUTDB_OPT(o, count, 0) == 0) == (LUTDB_OPT(o, max_size, 0) == 0))
		return lutdb_fail(LUTDB_EINVAL, "shard options: set exactly one of count and max_size");
	return reshard(src, outdir, o, progress, ctx);
}

int lutdb_merge(lutdb_db *src, const char *out, lutdb_progress_fn progress, void *ctx)
{
	return reshard(src, out, NULL, progress, ctx);
}
