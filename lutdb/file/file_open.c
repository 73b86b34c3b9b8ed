/*
 * file_open.c - opening one lutdb file: validation, then the indexes.
 *
 * Open validates the LMDB structure first (lmdb_check.c), then walks the
 * three sub-databases once and builds plain arrays of pointers into the map:
 * after that, lookups are array indexing (tensors: binary search by name) and
 * never call LMDB again, which is what makes a handle usable from many
 * threads.  Value bytes are not touched at open (overflow pages stay cold);
 * each tensor and each token row has its checksum checked on first use
 * (file.c).  Everything read from the file is hostile until checked, and is
 * checked before anything is sized from it.
 */
#include "file_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "geometry.h"
#include "lmdb_check.h"
#include "lmdb_layout.h"

static int mdb_fail(int rc, const char *path, const char *what)
{
	if (rc == MDB_NOTFOUND)
		return LUTDB_CORRUPT_BKPT("%s: %s is missing", path, what);
	if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_VERSION_MISMATCH ||
	    rc == MDB_INCOMPATIBLE || rc == MDB_BAD_DBI)
		return LUTDB_CORRUPT_BKPT("%s: %s: %s", path, what, mdb_strerror(rc));
	if (rc == ENOMEM)
		return lutdb_fail(LUTDB_ENOMEM, "%s: %s: out of memory", path, what);
	return lutdb_fail(LUTDB_EIO, "%s: %s: %s", path, what, mdb_strerror(rc));
}

/* A value must lie inside the file (lmdb_check.c already proved it for the
 * pages; this keeps the reader honest if that ever changes). */
static int in_map(const lutdb_file *f, const void *p, size_t len)
{
	const uint8_t *b = p;
	return b >= f->map && (uint64_t)(b - f->map) <= f->file_size && len <= f->file_size - (uint64_t)(b - f->map);
}

static int load_meta(lutdb_file *f, MDB_dbi dbi)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(f->txn, dbi, &c);

	if (rc)
		return mdb_fail(rc, f->path, "meta");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (f->nmeta == LUTDB_MAX_META) {
			rc = LUTDB_CORRUPT_BKPT("%s: more than %u meta records", f->path, LUTDB_MAX_META);
			goto out;
		}
		if (k.mv_size == 0 || k.mv_size > LUTDB_NAME_MAX || memchr(k.mv_data, 0, k.mv_size) ||
		    !in_map(f, v.mv_data, v.mv_size)) {
			rc = LUTDB_CORRUPT_BKPT("%s: bad meta key or value", f->path);
			goto out;
		}
		lutdb_meta_ent *e = &f->meta[f->nmeta++];
		memcpy(e->name, k.mv_data, k.mv_size);
		e->name[k.mv_size] = '\0';
		if (f->nmeta > 1 && strcmp(f->meta[f->nmeta - 2].name, e->name) >= 0) {
			rc = LUTDB_CORRUPT_BKPT("%s: meta record %s is out of key order", f->path, e->name);
			goto out;
		}
		e->rec = v.mv_data;
		e->len = v.mv_size;
	}
	rc = rc == MDB_NOTFOUND ? LUTDB_OK : mdb_fail(rc, f->path, "meta");
out:
	mdb_cursor_close(c);
	return rc;
}

static int load_tensors(lutdb_file *f, MDB_dbi dbi)
{
	MDB_stat st;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t i = 0;
	int rc;

	if ((rc = mdb_stat(f->txn, dbi, &st)))
		return mdb_fail(rc, f->path, "tensors");
	if (st.ms_entries != f->hdr.tensor_count || st.ms_entries > LUTDB_MAX_TENSORS)
		return LUTDB_CORRUPT_BKPT("%s: %zu tensor records, header says %llu", f->path,
					  (size_t)st.ms_entries, (unsigned long long)f->hdr.tensor_count);
	f->ntensors = st.ms_entries;
	f->tensors = calloc(f->ntensors ? f->ntensors : 1, sizeof *f->tensors);
	f->tensor_checked = calloc(f->ntensors ? f->ntensors : 1, 1);
	if (!f->tensors || !f->tensor_checked)
		return lutdb_fail(LUTDB_ENOMEM, "%s: tensor index", f->path);
	if ((rc = mdb_cursor_open(f->txn, dbi, &c)))
		return mdb_fail(rc, f->path, "tensors");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), i++) {
		lutdb_tensor_ent *e = &f->tensors[i];
		lutdb_rec rec;
		if (i == f->ntensors || k.mv_size == 0 || k.mv_size > LUTDB_NAME_MAX ||
		    memchr(k.mv_data, 0, k.mv_size) || !in_map(f, v.mv_data, v.mv_size)) {
			rc = LUTDB_CORRUPT_BKPT("%s: bad tensor key or value", f->path);
			goto out;
		}
		memcpy(e->name, k.mv_data, k.mv_size);
		e->name[k.mv_size] = '\0';
		e->rec = v.mv_data;
		e->len = v.mv_size;
		/* lutdb_lmdb_validate checks key order inside each page only: a
		 * forged tree can be out of order across pages, and the index is
		 * searched by bisection. */
		if (i > 0 && strcmp(f->tensors[i - 1].name, e->name) >= 0) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s is out of name order", f->path, e->name);
			goto out;
		}
		if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)) || (rc = lutdb_tensor_hdr_parse(&rec, &e->th))) {
			lutdb_fail_prefix(rc, "%s: tensor %s", f->path, e->name);
			goto out;
		}
		if (rec.kind != LUTDB_REC_TENSOR) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s: not a tensor record", f->path, e->name);
			goto out;
		}
		/* Quantized tensors are format 1.1 (spec/FORMAT.md 10.11). */
		if (lutdb_dtype_is_quantized(e->th.dtype) && f->hdr.minor < 1) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s is %s in a format %u.%u file (block-quantized tensors "
						"are format 1.1)", f->path, e->name, lutdb_dtype_name(e->th.dtype),
						f->hdr.major, f->hdr.minor);
			goto out;
		}
	}
	rc = rc == MDB_NOTFOUND && i == f->ntensors ? LUTDB_OK
	     : rc == MDB_NOTFOUND ? LUTDB_CORRUPT_BKPT("%s: tensor count mismatch", f->path)
				  : mdb_fail(rc, f->path, "tensors");
out:
	mdb_cursor_close(c);
	return rc;
}

/* Blocks are aligned to global multiples of block_tokens, clipped to the
 * file's token range; the index holds one entry per block in that range. */
static int load_table(lutdb_file *f, MDB_dbi dbi)
{
	const lutdb_file_hdr *h = &f->hdr;
	uint32_t bt = h->block_tokens;
	uint32_t first_blk = h->token_begin / bt, last_blk = (h->token_end - 1) / bt;
	uint64_t row_stride = lutdb_geom_row_stride(f->info.token_row_bytes);
	MDB_stat st;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint32_t b = 0;
	int rc;

	f->nblocks = last_blk - first_blk + 1;
	if (h->table_records != f->nblocks)
		return LUTDB_CORRUPT_BKPT("%s: header says %llu table records, token range needs %u", f->path,
					  (unsigned long long)h->table_records, f->nblocks);
	/* The header is hostile too: the index is sized from it only once the
	 * table holds that many records (the count the LMDB validator checked
	 * against the B-tree it walked, so it is bounded by the file size). */
	if ((rc = mdb_stat(f->txn, dbi, &st)))
		return mdb_fail(rc, f->path, "table");
	if (st.ms_entries != f->nblocks)
		return LUTDB_CORRUPT_BKPT("%s: %zu table records, header says %u", f->path, (size_t)st.ms_entries,
					  f->nblocks);
	f->blocks = calloc(f->nblocks, sizeof *f->blocks);
	f->block_checked = calloc(f->nblocks, 1);
	f->row_checked = calloc(((size_t)(h->token_end - h->token_begin) + 63) / 64, sizeof(uint64_t));
	if (!f->blocks || !f->block_checked || !f->row_checked)
		return lutdb_fail(LUTDB_ENOMEM, "%s: table index", f->path);
	if ((rc = mdb_cursor_open(f->txn, dbi, &c)))
		return mdb_fail(rc, f->path, "table");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), b++) {
		uint32_t lf, tf;
		uint32_t want = b == 0 ? h->token_begin : (first_blk + b) * bt;
		uint32_t end = (first_blk + b + 1) * bt;
		if (end > h->token_end || end < want)
			end = h->token_end;
		if (b == f->nblocks || lutdb_table_key_decode(k.mv_data, k.mv_size, &lf, &tf) != LUTDB_OK) {
			rc = LUTDB_CORRUPT_BKPT("%s: table key #%u is malformed", f->path, b);
			goto out;
		}
		if (tf != want || lf != h->layer_begin) {
			rc = LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u) where (layer %u, token %u) "
						"was expected", f->path, lf, tf, h->layer_begin, want);
			goto out;
		}
		if (!in_map(f, v.mv_data, v.mv_size) || v.mv_size < h->page_size - 16 ||
		    (h->table_codec == LUTDB_CODEC_NONE &&
		     v.mv_size != h->page_size - 16 + (uint64_t)(end - want) * row_stride)) {
			rc = LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u): record size %zu is wrong",
						f->path, lf, tf, v.mv_size);
			goto out;
		}
		f->blocks[b].rec = v.mv_data;
		f->blocks[b].len = v.mv_size;
		f->blocks[b].token_first = want;
		f->blocks[b].token_count = end - want;
	}
	if (rc != MDB_NOTFOUND) {
		rc = mdb_fail(rc, f->path, "table");
		goto out;
	}
	rc = b == f->nblocks ? LUTDB_OK
			      : LUTDB_CORRUPT_BKPT("%s: %u table records, expected %u", f->path, b, f->nblocks);
out:
	mdb_cursor_close(c);
	return rc;
}

/* The config must describe the same model as the binary header. */
static int check_config(lutdb_file *f)
{
	const lutdb_file_hdr *h = &f->hdr;
	const lutdb_config *c = &f->cfg;

	if (c->vocab != h->vocab || c->hidden != h->hidden || c->layers != h->layers || c->experts != h->experts ||
	    c->intermediate != h->intermediate || c->heads != h->heads || c->kv_heads != h->kv_heads ||
	    c->tied != !!(h->flags & LUTDB_FLAG_TIED) ||
	    (h->family == LUTDB_FAMILY_MOLKV &&
	     (c->kv_dim != h->kv_dim || c->kv_expert_heads != h->kv_expert_heads || c->kv_window != h->kv_window)))
		return LUTDB_CORRUPT_BKPT("%s: config.json and the file header disagree on the geometry", f->path);
	return LUTDB_OK;
}

static void fill_info(lutdb_file *f)
{
	const lutdb_file_hdr *h = &f->hdr;
	lutdb_info *i = &f->info;

	i->family = h->family;
	i->source_form = h->source_form;
	i->vocab = h->vocab;
	i->hidden = h->hidden;
	i->layers = h->layers;
	i->experts = h->experts;
	i->intermediate = h->intermediate;
	i->heads = h->heads;
	i->kv_heads = h->kv_heads;
	i->head_dim = h->hidden / h->heads;
	i->kv_dim = h->kv_dim;
	i->kv_expert_heads = h->kv_expert_heads;
	i->kv_window = h->kv_window;
	i->max_position = f->cfg.max_position;
	i->rms_norm_eps = f->cfg.rms_norm_eps;
	i->rope_theta = f->cfg.rope_theta;
	i->tied = !!(h->flags & LUTDB_FLAG_TIED);
	i->table_dtype = h->table_dtype;
	i->table_codec = h->table_codec;
	i->layer_row_elems = h->layer_row_elems;
	i->table_block = h->table_block;
	lutdb_geometry g = {h->family, h->experts, h->hidden, h->kv_dim, h->table_dtype, h->table_block};
	i->token_row_bytes = lutdb_geom_token_bytes(&g, h->layer_end - h->layer_begin);
	i->block_tokens = h->block_tokens;
	i->rows_in_place = h->table_codec == LUTDB_CODEC_NONE;
	i->table_records = h->table_records;
	i->tensor_count = h->tensor_count;
	i->token_begin = h->token_begin;
	i->token_end = h->token_end;
	i->layer_begin = h->layer_begin;
	i->layer_end = h->layer_end;
	i->shard_index = h->shard_index;
	i->shard_count = h->shard_count;
	memcpy(i->pack_id, h->pack_id, 16);
	i->file_bytes = f->file_size;
	i->format_major = h->major;
	i->format_minor = h->minor;
	i->page_size = h->page_size;
}

/* LMDB does not tell where it mapped the file (mdb_env_info's me_mapaddr is
 * the fixed-map address, NULL here).  The main database is one validated
 * page, root: a key LMDB returns from it lies inside that page, and the map
 * is page-aligned, so the map starts root pages before that page. */
static int find_map(lutdb_file *f, uint64_t root)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(f->txn, 1 /* MAIN_DBI */, &c);

	if (rc)
		return mdb_fail(rc, f->path, "main database");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	mdb_cursor_close(c);
	if (rc)
		return mdb_fail(rc, f->path, "main database");
	f->map = (const uint8_t *)((uintptr_t)k.mv_data & ~(uintptr_t)(LUTDB_PAGE_SIZE - 1)) - root * LUTDB_PAGE_SIZE;
	return LUTDB_OK;
}

/* Validates the file open at fd (lmdb_check.c), then opens it in LMDB for
 * one read transaction and locates the map. */
static int open_lmdb(lutdb_file *f, int fd)
{
	uint64_t main_root = 0;
	char fdpath[40];
	int rc;

	if ((rc = lutdb_lmdb_validate(f->path, fd, f->file_size, &main_root)))
		return rc;
	/* LMDB opens by name.  It gets the very file just validated, through
	 * /proc/self/fd, not whatever the path names by then: a file renamed
	 * over it in between would otherwise be read unvalidated.  Without
	 * /proc, the path. */
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	const char *lmdb_path = access(fdpath, F_OK) == 0 ? fdpath : f->path;
	/* Map exactly the file: with MDB_RDONLY LMDB never writes, and with
	 * MDB_NOLOCK it creates no lock file (read-only media work). */
	if ((rc = mdb_env_create(&f->env)) || (rc = mdb_env_set_maxdbs(f->env, 4)) ||
	    (rc = mdb_env_set_mapsize(f->env, (size_t)f->file_size)) ||
	    (rc = mdb_env_open(f->env, lmdb_path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR | MDB_NORDAHEAD, 0)) ||
	    (rc = mdb_txn_begin(f->env, NULL, MDB_RDONLY, &f->txn)))
		return mdb_fail(rc, f->path, "cannot open LMDB environment");
	return find_map(f, main_root);
}

/* The records every file has: header, config (with the generation config
 * when stored) and content digest. */
static int read_meta_records(lutdb_file *f)
{
	const char *path = f->path;
	const uint8_t *p;
	size_t len;
	int rc;

	rc = lutdb_file_meta_payload(f, LUTDB_META_HEADER, LUTDB_REC_HEADER, &p, &len);
	if (rc == LUTDB_ENOENT)
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: not a lutdb database (no header record)", path);
	if (rc || (rc = lutdb_file_hdr_parse(p, len, &f->hdr)))
		return lutdb_fail_prefix(rc, "%s: header", path);
	rc = lutdb_file_meta_payload(f, LUTDB_META_CONFIG, LUTDB_REC_BLOB, &p, &len);
	if (rc == LUTDB_ENOENT)
		rc = LUTDB_CORRUPT_BKPT("%s: config.json is missing", path);
	if (rc || (rc = lutdb_config_parse((const char *)p, len, "config.json", &f->cfg))) {
		if (rc == LUTDB_EBADINPUT || rc == LUTDB_EUNSUPPORTED)
			rc = lutdb_fail_prefix(LUTDB_ECORRUPT, "%s: stored config", path);
		return rc;
	}
	rc = lutdb_file_meta_payload(f, LUTDB_META_GENERATION, LUTDB_REC_BLOB, &p, &len);
	if (rc == LUTDB_OK)
		rc = lutdb_config_apply_generation(&f->cfg, (const char *)p, len, "generation_config.json");
	if (rc && rc != LUTDB_ENOENT)
		return rc == LUTDB_EBADINPUT ? lutdb_fail_prefix(LUTDB_ECORRUPT, "%s: stored generation config", path)
					     : rc;
	rc = lutdb_file_meta_payload(f, LUTDB_META_DIGEST, LUTDB_REC_BLOB, &p, &len);
	if (rc == LUTDB_ENOENT || (rc == LUTDB_OK && len != 16))
		rc = LUTDB_CORRUPT_BKPT("%s: digest record missing or malformed", path);
	if (rc)
		return rc;
	memcpy(f->info.digest, p, 16);
	return LUTDB_OK;
}

int lutdb_file_open_fd(const char *path, int fd, uint64_t size, unsigned flags, lutdb_file **out)
{
	lutdb_file *f = NULL;
	MDB_dbi dmeta, dtab, dten;
	int rc;

	*out = NULL;
	if (!(f = calloc(1, sizeof *f)) || !(f->path = strdup(path))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s: open", path);
		goto fail;
	}
	f->flags = flags;
	f->file_size = size;
	if ((rc = open_lmdb(f, fd)))
		goto fail;
	if ((rc = mdb_dbi_open(f->txn, LUTDB_DB_META, 0, &dmeta)) ||
	    (rc = mdb_dbi_open(f->txn, LUTDB_DB_TABLE, 0, &dtab)) ||
	    (rc = mdb_dbi_open(f->txn, LUTDB_DB_TENSORS, 0, &dten))) {
		rc = rc == MDB_NOTFOUND ? lutdb_fail(LUTDB_ECORRUPT, "%s: not a lutdb database (sub-databases "
						     "meta, table, tensors missing)", path)
					: mdb_fail(rc, path, "sub-database");
		goto fail;
	}
	if ((rc = load_meta(f, dmeta)) || (rc = read_meta_records(f)) || (rc = check_config(f)))
		goto fail;
	fill_info(f);
	if ((rc = load_tensors(f, dten)) || (rc = load_table(f, dtab)))
		goto fail;
	f->info.raw_bytes = (uint64_t)(f->hdr.token_end - f->hdr.token_begin) * f->info.token_row_bytes;
	for (size_t i = 0; i < f->ntensors; i++)
		f->info.raw_bytes += f->tensors[i].len - LUTDB_TENSOR_HEADER_LEN;
	if (flags & LUTDB_OPEN_WILLNEED)
		madvise((void *)(uintptr_t)f->map, f->file_size, MADV_SEQUENTIAL);
	*out = f;
	return LUTDB_OK;
fail:
	lutdb_file_close(f);
	return rc;
}

int lutdb_file_open(const char *path, unsigned flags, lutdb_file **out)
{
	uint64_t size;
	int fd, rc;

	*out = NULL;
	if (!path)
		return lutdb_fail(LUTDB_EINVAL, "no database path");
	/* A path someone typed: anything but a regular file is a bad argument. */
	if ((rc = lutdb_input_open(path, LUTDB_EINVAL, &fd, &size)))
		return rc;
	rc = lutdb_file_open_fd(path, fd, size, flags, out);
	close(fd);
	return rc;
}

void lutdb_file_close(lutdb_file *f)
{
	if (!f)
		return;
	if (f->txn)
		mdb_txn_abort(f->txn);
	if (f->env)
		mdb_env_close(f->env);
	free(f->tensors);
	free((void *)(uintptr_t)f->tensor_checked);
	free(f->blocks);
	free((void *)(uintptr_t)f->block_checked);
	free((void *)(uintptr_t)f->row_checked);
	free(f->path);
	free(f);
}
