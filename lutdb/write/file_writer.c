/*
 * file_writer.c - builds one lutdb file: one LMDB write transaction on a
 * private temporary file, renamed into place when complete.  Table blocks
 * are file_writer_table.c's.
 *
 * Why one transaction: LMDB copies a page on write only once per
 * transaction, so a file written in a single transaction holds every record
 * exactly once and has no free pages (no stale copies).  MDB_WRITEMAP keeps
 * memory flat however big the file: dirty pages live in the shared file
 * mapping (page cache), and when the dirty list fills, LMDB's spill merely
 * clears flags instead of copying pages to malloc'd buffers.
 *
 * Why preallocate: with MDB_WRITEMAP a full disk would surface as SIGBUS on
 * a store into the map.  posix_fallocate() of the whole map up front turns
 * that into LUTDB_ENOSPC before any data is written.  The file is trimmed to
 * its last used page at commit.  A file size limit (RLIMIT_FSIZE) below the
 * map is refused up front for the same reason: writing past it would raise
 * SIGXFSZ, and the library does not change the process's signal handling.
 */
#include "file_writer_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "geometry.h"
#include "lmdb_layout.h"
#include "publish.h"

#define WRITER_PAGE LUTDB_PAGE_SIZE

int lutdb_fw_mdb_fail(int rc, const char *what, const char *path)
{
	if (rc == MDB_MAP_FULL)
		return lutdb_fail(LUTDB_EINTERNAL, "%s: %s: map size estimate too small (the writer parameters' "
				  "sizing fields)", path, what);
	if (rc == ENOSPC)
		return lutdb_fail(LUTDB_ENOSPC, "%s: %s: no space left on device", path, what);
	if (rc == EFBIG)
		return lutdb_fail(LUTDB_ENOSPC, "%s: %s: file size limit exceeded", path, what);
	if (rc == ENOMEM)
		return lutdb_fail(LUTDB_ENOMEM, "%s: %s: out of memory", path, what);
	return lutdb_fail(LUTDB_EIO, "%s: %s: %s", path, what, mdb_strerror(rc));
}

int lutdb_fw_sys_fail(int err, const char *what, const char *path)
{
	int code = (err == ENOSPC || err == EFBIG || err == EDQUOT) ? LUTDB_ENOSPC
		   : err == ENOMEM                                    ? LUTDB_ENOMEM
		   : err == ENOENT                                    ? LUTDB_ENOENT
		   : err == EEXIST                                    ? LUTDB_EEXIST
								      : LUTDB_EIO;
	return lutdb_fail(code, "%s: %s: %s", path, what, strerror(err));
}

uint32_t lutdb_default_block_tokens(uint64_t token_row_bytes)
{
	uint64_t stride = lutdb_geom_row_stride(token_row_bytes);
	uint64_t bt = stride ? (LUTDB_BLOCK_TARGET_BYTES + stride - 1) / stride : LUTDB_MIN_BLOCK_TOKENS;
	uint32_t maxbt = lutdb_table_max_tokens(LUTDB_PAGE_SIZE - 16);

	return bt < LUTDB_MIN_BLOCK_TOKENS ? LUTDB_MIN_BLOCK_TOKENS : bt > maxbt ? maxbt : (uint32_t)bt;
}

uint64_t lutdb_file_writer_row_bytes(const lutdb_file_writer *w)
{
	return w->row_bytes;
}

const char *lutdb_file_writer_tmp_path(const lutdb_file_writer *w)
{
	return w->tmp_path;
}

static char *dup_dir_tmp(const char *out_path)
{
	const char *slash = strrchr(out_path, '/');
	size_t dlen = slash ? (size_t)(slash - out_path + 1) : 0;
	const char *base = slash ? slash + 1 : out_path;
	size_t n = dlen + 1 + strlen(base) + sizeof ".tmp.XXXXXX";
	char *t = malloc(n);

	if (t)
		snprintf(t, n, "%.*s.%s.tmp.XXXXXX", (int)dlen, out_path, base);
	return t;
}

/* Fills in and validates the header of the file holding part of the model
 * p, by running it through the same parser readers use. */
static int build_header(const lutdb_writer_params *p, const lutdb_file_part *part, lutdb_file_hdr *h)
{
	uint8_t buf[LUTDB_HEADER_PAYLOAD];
	int rc;

	memset(h, 0, sizeof *h);
	h->major = LUTDB_FORMAT_MAJOR;
	/* 1.1 only when a block-quantized type is used (spec/FORMAT.md 10.11),
	 * so every other file stays byte for byte a 1.0 file; a quantized
	 * tensor raises it at commit. */
	h->minor = lutdb_dtype_is_quantized(p->table_dtype) ? 1 : 0;
	h->page_size = WRITER_PAGE;
	h->family = (uint8_t)p->family;
	h->source_form = (uint8_t)p->source_form;
	h->table_dtype = (uint8_t)p->table_dtype;
	h->table_codec = (uint8_t)p->table_codec;
	h->vocab = p->vocab;
	h->hidden = p->hidden;
	h->layers = p->layers;
	h->experts = p->experts;
	h->intermediate = p->intermediate;
	h->heads = p->heads;
	h->kv_heads = p->kv_heads;
	h->kv_dim = p->kv_dim;
	h->kv_expert_heads = p->kv_expert_heads;
	h->kv_window = p->kv_window;
	h->flags = p->tied ? LUTDB_FLAG_TIED : 0;
	h->table_block = p->table_block;
	if (lutdb_dtype_is_quantized(p->table_dtype) && !h->table_block)
		h->table_block = p->table_dtype == LUTDB_DTYPE_NF4 || p->table_dtype == LUTDB_DTYPE_NF3 ? 64 : 32;
	lutdb_geometry g = {p->family, p->experts, p->hidden, p->family == LUTDB_FAMILY_MOLKV ? p->kv_dim : 0,
			    p->table_dtype, h->table_block};
	uint64_t layer_elems = lutdb_geom_layer_elems(&g);
	if (layer_elems == 0 || layer_elems > UINT32_MAX)
		return lutdb_fail(LUTDB_EINVAL, "writer: %llu elements per layer row (need 1..2^32-1)",
				  (unsigned long long)layer_elems);
	h->layer_row_elems = (uint32_t)layer_elems;
	h->token_begin = part->token_begin;
	h->token_end = part->token_end;
	h->layer_begin = part->layer_begin;
	h->layer_end = part->layer_end;
	h->shard_index = part->shard_index;
	h->shard_count = part->shard_count;
	memcpy(h->pack_id, p->pack_id, 16);
	/* block_tokens: the spec's default, capped so that a record stays well
	 * under LMDB's 4 GiB value limit and its entries fit the header. */
	uint64_t row = lutdb_geom_token_bytes(&g, h->layer_end - h->layer_begin);
	uint32_t bt = p->block_tokens ? p->block_tokens : lutdb_default_block_tokens(row);
	uint32_t maxbt = lutdb_table_max_tokens(WRITER_PAGE - 16);
	if (bt > maxbt)
		bt = maxbt;
	while (bt > 1 && row && bt * lutdb_geom_row_stride(row) > LUTDB_MAX_BLOCK_BYTES)
		bt /= 2;
	h->block_tokens = bt;
	lutdb_file_hdr_write(buf, h);
	rc = lutdb_file_hdr_parse(buf, sizeof buf, h);
	if (rc)
		return lutdb_fail_prefix(LUTDB_EINVAL, "writer parameters");
	return LUTDB_OK;
}

int lutdb_file_writer_check(const lutdb_writer_params *p)
{
	lutdb_file_part whole = {.token_end = p->vocab, .layer_end = p->layers, .shard_count = 1};
	lutdb_file_hdr h;

	return build_header(p, &whole, &h);
}

int lutdb_file_writer_open(const char *out_path, const lutdb_writer_params *p, const lutdb_file_part *part,
			   int overwrite, lutdb_file_writer **out)
{
	lutdb_file_writer *w = NULL;
	struct rlimit fsize;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof *w);
	if (!w)
		return lutdb_fail(LUTDB_ENOMEM, "writer");
	w->fd = -1;
	w->overwrite = overwrite;
	if ((rc = build_header(p, part, &w->hdr)))
		goto fail;
	w->header_len = w->hdr.page_size - 16;
	lutdb_geometry g = {w->hdr.family, w->hdr.experts, w->hdr.hidden, w->hdr.kv_dim, w->hdr.table_dtype,
			    w->hdr.table_block};
	w->row_bytes = lutdb_geom_token_bytes(&g, w->hdr.layer_end - w->hdr.layer_begin);
	w->row_stride = (uint32_t)lutdb_geom_row_stride(w->row_bytes);
	w->next_token = w->hdr.token_begin;
	w->out_path = strdup(out_path);
	w->tmp_path = dup_dir_tmp(out_path);
	w->dg_table = lutdb_digest_new();
	w->dg_tensors = lutdb_digest_new();
	w->dg_meta = lutdb_digest_new();
	if (!w->out_path || !w->tmp_path || !w->dg_table || !w->dg_tensors || !w->dg_meta) {
		rc = lutdb_fail(LUTDB_ENOMEM, "writer");
		goto fail;
	}
	if ((rc = lutdb_tmp_create(w->tmp_path, 0, &w->fd))) {
		free(w->tmp_path);
		w->tmp_path = NULL;
		goto fail;
	}
	{
		size_t bt = w->hdr.block_tokens;
		if (w->hdr.table_codec == LUTDB_CODEC_NONE) {
			w->blk_img = malloc(w->header_len + bt * w->row_stride);
		} else {
			w->blk_enc_cap = bt * lutdb_codec_bound(w->hdr.table_codec, w->row_bytes);
			w->blk_img = malloc(w->header_len + w->blk_enc_cap);
			w->blk_raw = malloc(bt * w->row_bytes);
			w->shuffle_tmp = malloc(w->row_bytes);
		}
		if (!w->blk_img || (w->hdr.table_codec != LUTDB_CODEC_NONE && (!w->blk_raw || !w->shuffle_tmp))) {
			rc = lutdb_fail(LUTDB_ENOMEM, "writer: block buffers");
			goto fail;
		}
	}

	/* Map size: the file's size estimate, plus the per-record page
	 * rounding of table blocks and a codec's expansion of incompressible
	 * rows (under 1/255, LZ4_compressBound), plus the slack the writer
	 * chose.  All of it is preallocated, so it must be what this file can
	 * take, not a fixed allowance: 1500 shards of 64 MiB each made a
	 * 14 MB database fail with "no space left" on a disk with 63 GB free. */
	uint64_t blocks = (w->hdr.token_end - w->hdr.token_begin) / w->hdr.block_tokens + 2;
	uint64_t mapsize = part->size_hint + part->size_hint / 64 + blocks * 2 * WRITER_PAGE + part->slack;
	mapsize = (mapsize + WRITER_PAGE - 1) / WRITER_PAGE * WRITER_PAGE;
	w->mapsize = mapsize;
	/* A file size limit (ulimit -f) must be an error, not a SIGXFSZ kill. */
	if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY && mapsize > fsize.rlim_cur) {
		rc = lutdb_fail(LUTDB_ENOSPC, "%s: cannot reserve %llu bytes: file size limit exceeded (%llu bytes)",
				w->tmp_path, (unsigned long long)mapsize, (unsigned long long)fsize.rlim_cur);
		goto fail;
	}
	if ((rc = mdb_env_create(&w->env)) || (rc = mdb_env_set_maxdbs(w->env, 4)) ||
	    (rc = mdb_env_set_mapsize(w->env, (size_t)mapsize)) ||
	    (rc = mdb_env_open(w->env, w->tmp_path, MDB_NOSUBDIR | MDB_WRITEMAP | MDB_NOLOCK | MDB_NOSYNC, 0644))) {
		rc = lutdb_fw_mdb_fail(rc, "cannot create database", w->tmp_path);
		goto fail;
	}
	/* LMDB gives a new file the OS page size (sysconf, capped at 32 KiB) and
	 * has no setting for it; format 1 needs 4096-byte pages.  On a kernel
	 * with 16 KiB or 64 KiB pages (some arm64 systems) say so before writing
	 * anything, instead of a file every reader refuses.  Reading 4 KiB-page
	 * files works there: the map does not depend on the OS page. */
	MDB_stat st;
	if ((rc = mdb_env_stat(w->env, &st))) {
		rc = lutdb_fw_mdb_fail(rc, "cannot create database", w->tmp_path);
		goto fail;
	}
	if (st.ms_psize != WRITER_PAGE) {
		rc = lutdb_fail(LUTDB_EUNSUPPORTED,
				"%s: LMDB writes %u-byte pages on this system (its page size), and format 1 needs "
				"4096-byte pages: write the file on a system with 4 KiB pages (reading works with any)",
				w->tmp_path, st.ms_psize);
		goto fail;
	}
	rc = posix_fallocate(w->fd, 0, (off_t)mapsize);
	if (rc && rc != EOPNOTSUPP && rc != EINVAL) {
		rc = lutdb_fw_sys_fail(rc, "cannot reserve space", w->tmp_path);
		goto fail;
	}
	if ((rc = mdb_txn_begin(w->env, NULL, 0, &w->txn)) ||
	    (rc = mdb_dbi_open(w->txn, LUTDB_DB_META, MDB_CREATE, &w->dbi_meta)) ||
	    (rc = mdb_dbi_open(w->txn, LUTDB_DB_TABLE, MDB_CREATE, &w->dbi_table)) ||
	    (rc = mdb_dbi_open(w->txn, LUTDB_DB_TENSORS, MDB_CREATE, &w->dbi_tensors))) {
		rc = lutdb_fw_mdb_fail(rc, "cannot start transaction", w->tmp_path);
		goto fail;
	}
	*out = w;
	return LUTDB_OK;
fail:
	lutdb_file_writer_abort(w);
	return rc;
}

void lutdb_file_writer_abort(lutdb_file_writer *w)
{
	if (!w)
		return;
	if (w->txn)
		mdb_txn_abort(w->txn);
	if (w->env)
		mdb_env_close(w->env);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path)
		unlink(w->tmp_path);
	lutdb_digest_free(w->dg_table);
	lutdb_digest_free(w->dg_tensors);
	lutdb_digest_free(w->dg_meta);
	free(w->blk_img);
	free(w->blk_raw);
	free(w->shuffle_tmp);
	free(w->out_path);
	free(w->tmp_path);
	free(w);
}

int lutdb_fw_usable(const lutdb_file_writer *w, const char *what)
{
	if (!w)
		return lutdb_fail(LUTDB_EINVAL, "%s: no writer", what);
	if (w->failed)
		return lutdb_fail(LUTDB_EINVAL, "%s: writer already failed; abort it", what);
	return LUTDB_OK;
}

int lutdb_file_writer_put_blob(lutdb_file_writer *w, const char *name, const void *data, size_t len)
{
	MDB_val k, v;
	int rc;

	if ((rc = lutdb_fw_usable(w, "put_blob")))
		return rc;
	if (w->in_tensor || w->blk_filled)
		return lutdb_fail(LUTDB_EINVAL, "put_blob: a tensor or table block is open");
	if (!name || !*name || strlen(name) > LUTDB_NAME_MAX || !strcmp(name, LUTDB_META_HEADER) ||
	    !strcmp(name, LUTDB_META_DIGEST))
		return lutdb_fail(LUTDB_EINVAL, "put_blob: bad or reserved name");
	if (len > LUTDB_MAX_RECORD - LUTDB_REC_PREFIX)
		return lutdb_fail(LUTDB_ETOOBIG, "%s: %zu bytes is too large", name, len);
	k.mv_data = (void *)(uintptr_t)name;
	k.mv_size = strlen(name);
	v.mv_data = NULL;
	v.mv_size = LUTDB_REC_PREFIX + len;
	rc = mdb_put(w->txn, w->dbi_meta, &k, &v, MDB_RESERVE);
	if (rc) {
		w->failed = 1;
		return lutdb_fw_mdb_fail(rc, name, w->tmp_path);
	}
	lutdb_rec_write_prefix(v.mv_data, LUTDB_REC_BLOB, 0, 0, LUTDB_REC_PREFIX, len);
	if (len)
		memcpy((uint8_t *)v.mv_data + LUTDB_REC_PREFIX, data, len);
	lutdb_rec_seal(v.mv_data, LUTDB_REC_PREFIX, v.mv_size, LUTDB_REC_BLOB);
	return LUTDB_OK;
}

int lutdb_file_writer_tensor_begin(lutdb_file_writer *w, const char *name, int dtype, uint32_t ndim,
				   const uint64_t *shape, void **payload)
{
	lutdb_tensor_hdr th;
	/* Elements first; bytes by the dtype's rule below. */
	uint64_t n = 1;
	MDB_val k, v;
	int rc;

	if ((rc = lutdb_fw_usable(w, "tensor_begin")))
		return rc;
	if (w->in_tensor || w->blk_filled)
		return lutdb_fail(LUTDB_EINVAL, "tensor_begin: a tensor or table block is open");
	if (!name || !*name || strlen(name) > LUTDB_NAME_MAX)
		return lutdb_fail(LUTDB_EINVAL, "tensor_begin: bad tensor name");
	if (w->last_tensor[0] && strcmp(name, w->last_tensor) <= 0)
		return lutdb_fail(LUTDB_EINVAL, "%s: tensors must be added in increasing name order", name);
	if (!lutdb_dtype_size(dtype) && dtype != LUTDB_DTYPE_Q8_0 && dtype != LUTDB_DTYPE_Q4_0)
		return lutdb_fail(LUTDB_EINVAL, "%s: dtype %d is not a tensor dtype (F32, F16, BF16, Q8_0, Q4_0)", name,
				  dtype);
	if (!shape || ndim < 1 || ndim > LUTDB_TENSOR_MAX_DIMS)
		return lutdb_fail(LUTDB_EINVAL, "%s: rank %u (need 1..%d)", name, ndim, LUTDB_TENSOR_MAX_DIMS);
	memset(&th, 0, sizeof th);
	th.dtype = dtype;
	th.ndim = ndim;
	for (uint32_t i = 0; i < ndim; i++) {
		if (!shape[i] || shape[i] > LUTDB_MAX_RECORD || n > LUTDB_MAX_RECORD / shape[i])
			return lutdb_fail(LUTDB_ETOOBIG, "%s: tensor too large for one record (max %llu bytes)", name,
					  (unsigned long long)LUTDB_MAX_RECORD);
		n *= shape[i];
		th.dims[i] = shape[i];
	}
	if (lutdb_dtype_is_quantized(dtype) && shape[ndim - 1] % 32 != 0)
		return lutdb_fail(LUTDB_EINVAL, "%s: %s needs a last dimension that is a multiple of 32, not %llu", name,
				  lutdb_dtype_name(dtype), (unsigned long long)shape[ndim - 1]);
	n = lutdb_dtype_bytes(dtype, 32, n);
	if (lutdb_dtype_is_quantized(dtype))
		w->uses_quant = 1;
	if (n > LUTDB_MAX_RECORD - LUTDB_TENSOR_HEADER_LEN)
		return lutdb_fail(LUTDB_ETOOBIG, "%s: tensor too large for one record", name);
	k.mv_data = (void *)(uintptr_t)name;
	k.mv_size = strlen(name);
	v.mv_data = NULL;
	v.mv_size = LUTDB_TENSOR_HEADER_LEN + n;
	rc = mdb_put(w->txn, w->dbi_tensors, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc) {
		w->failed = 1;
		return lutdb_fw_mdb_fail(rc, name, w->tmp_path);
	}
	/* The caller stores the payload through the map: mark the map
	 * MADV_RANDOM (reserved_offset does, once) before those stores fault. */
	(void)lutdb_fw_reserved_offset(w, v.mv_data);
	lutdb_tensor_hdr_write(v.mv_data, &th, n);
	w->tensor_rec = v.mv_data;
	w->tensor_len = v.mv_size;
	w->in_tensor = 1;
	snprintf(w->tensor_name, sizeof w->tensor_name, "%s", name);
	*payload = w->tensor_rec + LUTDB_TENSOR_HEADER_LEN;
	return LUTDB_OK;
}

int lutdb_file_writer_tensor_end(lutdb_file_writer *w)
{
	int rc;

	if ((rc = lutdb_fw_usable(w, "tensor_end")))
		return rc;
	if (!w->in_tensor)
		return lutdb_fail(LUTDB_EINVAL, "tensor_end: no tensor open");
	lutdb_rec_seal(w->tensor_rec, LUTDB_TENSOR_HEADER_LEN, w->tensor_len, LUTDB_REC_TENSOR);
	lutdb_digest_record(w->dg_tensors, w->tensor_name, strlen(w->tensor_name), w->tensor_rec, w->tensor_len);
	memcpy(w->last_tensor, w->tensor_name, sizeof w->last_tensor);
	w->in_tensor = 0;
	w->hdr.tensor_count++;
	return LUTDB_OK;
}

/* Meta records are written in any order, so their digest is taken at commit
 * by walking the sub-database in key order. */
static int digest_meta(lutdb_file_writer *w, uint8_t out[16])
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(w->txn, w->dbi_meta, &c);

	if (rc)
		return lutdb_fw_mdb_fail(rc, "meta digest", w->tmp_path);
	lutdb_digest_reset(w->dg_meta);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size == strlen(LUTDB_META_DIGEST) && !memcmp(k.mv_data, LUTDB_META_DIGEST, k.mv_size))
			continue;
		lutdb_digest_record(w->dg_meta, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return lutdb_fw_mdb_fail(rc, "meta digest", w->tmp_path);
	lutdb_digest_final(w->dg_meta, out);
	return LUTDB_OK;
}

static int put_record(lutdb_file_writer *w, const char *name, int kind, const void *payload, size_t len)
{
	MDB_val k = {strlen(name), (void *)(uintptr_t)name}, v = {LUTDB_REC_PREFIX + len, NULL};
	int rc = mdb_put(w->txn, w->dbi_meta, &k, &v, MDB_RESERVE);

	if (rc)
		return lutdb_fw_mdb_fail(rc, name, w->tmp_path);
	lutdb_rec_write_prefix(v.mv_data, kind, 0, 0, LUTDB_REC_PREFIX, len);
	memcpy((uint8_t *)v.mv_data + LUTDB_REC_PREFIX, payload, len);
	lutdb_rec_seal(v.mv_data, LUTDB_REC_PREFIX, v.mv_size, kind);
	return LUTDB_OK;
}

int lutdb_file_writer_commit(lutdb_file_writer *w)
{
	uint8_t hdr[LUTDB_HEADER_PAYLOAD], dmeta[16], dtable[16], dtensors[16], digest[16];
	MDB_envinfo info;
	uint64_t used;
	int rc;

	if ((rc = lutdb_fw_usable(w, "commit")))
		goto fail;
	if (w->in_tensor || w->next_token != w->hdr.token_end) {
		rc = lutdb_fail(LUTDB_EINVAL, "commit: table rows [%u, %u) incomplete (next %u) or tensor open",
				w->hdr.token_begin, w->hdr.token_end, w->next_token);
		goto fail;
	}
	if (w->uses_quant)
		w->hdr.minor = 1;
	lutdb_file_hdr_write(hdr, &w->hdr);
	if ((rc = put_record(w, LUTDB_META_HEADER, LUTDB_REC_HEADER, hdr, sizeof hdr)) ||
	    (rc = digest_meta(w, dmeta)))
		goto fail;
	lutdb_digest_final(w->dg_table, dtable);
	lutdb_digest_final(w->dg_tensors, dtensors);
	lutdb_digest_combine(dmeta, dtable, dtensors, digest);
	if ((rc = put_record(w, LUTDB_META_DIGEST, LUTDB_REC_BLOB, digest, sizeof digest)))
		goto fail;
	rc = mdb_txn_commit(w->txn);
	w->txn = NULL;
	if (rc) {
		rc = lutdb_fw_mdb_fail(rc, "commit", w->tmp_path);
		goto fail;
	}
	if ((rc = mdb_env_sync(w->env, 1)) || (rc = mdb_env_info(w->env, &info))) {
		rc = lutdb_fw_mdb_fail(rc, "sync", w->tmp_path);
		goto fail;
	}
	used = ((uint64_t)info.me_last_pgno + 1) * w->hdr.page_size;
	mdb_env_close(w->env);
	w->env = NULL;
	/* Trim the preallocated tail and record the real size as the map size
	 * in both meta pages, so plain LMDB readers map exactly the file. */
	if (ftruncate(w->fd, (off_t)used) != 0) {
		rc = lutdb_fw_sys_fail(errno, "cannot trim", w->tmp_path);
		goto fail;
	}
	for (int m = 0; m < 2; m++) {
		uint64_t ms = used;
		off_t off = (off_t)m * w->hdr.page_size + (off_t)META_MAPSIZE_OFF;
		if (pwrite(w->fd, &ms, sizeof ms, off) != (ssize_t)sizeof ms) {
			rc = lutdb_fw_sys_fail(errno, "cannot write meta page", w->tmp_path);
			goto fail;
		}
	}
	if (fsync(w->fd) != 0) {
		rc = lutdb_fw_sys_fail(errno, "cannot sync", w->tmp_path);
		goto fail;
	}
	if ((rc = lutdb_publish(w->tmp_path, w->out_path, 0, w->overwrite)))
		goto fail;
	free(w->tmp_path);
	w->tmp_path = NULL; /* now out_path: abort must not unlink it */
	rc = lutdb_sync_parent(w->out_path);
fail:
	lutdb_file_writer_abort(w);
	return rc;
}
