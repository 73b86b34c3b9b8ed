/*
 * reader.c - opening a lutdb file and looking up blobs, tensors and rows.
 *
 * Open validates the LMDB structure first (lmdb_check.c), then walks the
 * three sub-databases once and builds plain arrays of pointers into the map:
 * after that, lookups are array indexing (tensors: binary search by name) and
 * never call LMDB again, which is what makes a handle usable from many
 * threads.  Value bytes are not touched at open (overflow pages stay cold);
 * each tensor and each token row has its checksum checked on first use.
 */
#include "lutdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "fail.h"

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
static int in_map(const lutdb_db *db, const void *p, size_t len)
{
	const uint8_t *b = p;
	return b >= db->map && (uint64_t)(b - db->map) <= db->file_size && len <= db->file_size - (uint64_t)(b - db->map);
}

const lutdb_meta_ent *lutdb_meta_find(const lutdb_db *db, const char *name)
{
	for (size_t i = 0; i < db->nmeta; i++)
		if (!strcmp(db->meta[i].name, name))
			return &db->meta[i];
	return NULL;
}

/* A meta record, fully checked (meta records are small: always verified). */
static int meta_payload(lutdb_db *db, const char *name, int kind, const uint8_t **p, size_t *len)
{
	const lutdb_meta_ent *e = lutdb_meta_find(db, name);
	lutdb_rec rec;
	int rc;

	if (!e)
		return LUTDB_ENOENT;
	if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)))
		return lutdb_fail_prefix(rc, "%s: meta record \"%s\"", db->path, name);
	if (rec.kind != kind)
		return LUTDB_CORRUPT_BKPT("%s: meta record \"%s\" has the wrong kind", db->path, name);
	if ((rc = lutdb_rec_verify(&rec)))
		return lutdb_fail(rc, "%s: meta record \"%s\": checksum mismatch", db->path, name);
	*p = rec.payload;
	*len = rec.payload_len;
	return LUTDB_OK;
}

static int load_meta(lutdb_db *db, MDB_dbi dbi)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(db->txn, dbi, &c);

	if (rc)
		return mdb_fail(rc, db->path, "meta");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (db->nmeta == LUTDB_MAX_META) {
			rc = LUTDB_CORRUPT_BKPT("%s: more than %u meta records", db->path, LUTDB_MAX_META);
			goto out;
		}
		if (k.mv_size == 0 || k.mv_size > LUTDB_NAME_MAX || memchr(k.mv_data, 0, k.mv_size) ||
		    !in_map(db, v.mv_data, v.mv_size)) {
			rc = LUTDB_CORRUPT_BKPT("%s: bad meta key or value", db->path);
			goto out;
		}
		lutdb_meta_ent *e = &db->meta[db->nmeta++];
		memcpy(e->name, k.mv_data, k.mv_size);
		e->name[k.mv_size] = '\0';
		if (db->nmeta > 1 && strcmp(db->meta[db->nmeta - 2].name, e->name) >= 0) {
			rc = LUTDB_CORRUPT_BKPT("%s: meta record %s is out of key order", db->path, e->name);
			goto out;
		}
		e->rec = v.mv_data;
		e->len = v.mv_size;
	}
	rc = rc == MDB_NOTFOUND ? LUTDB_OK : mdb_fail(rc, db->path, "meta");
out:
	mdb_cursor_close(c);
	return rc;
}

static int load_tensors(lutdb_db *db, MDB_dbi dbi)
{
	MDB_stat st;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t i = 0;
	int rc;

	if ((rc = mdb_stat(db->txn, dbi, &st)))
		return mdb_fail(rc, db->path, "tensors");
	if (st.ms_entries != db->hdr.tensor_count || st.ms_entries > LUTDB_MAX_TENSORS)
		return LUTDB_CORRUPT_BKPT("%s: %zu tensor records, header says %llu", db->path,
					  (size_t)st.ms_entries, (unsigned long long)db->hdr.tensor_count);
	db->ntensors = st.ms_entries;
	db->tensors = calloc(db->ntensors ? db->ntensors : 1, sizeof *db->tensors);
	db->tensor_checked = calloc(db->ntensors ? db->ntensors : 1, 1);
	if (!db->tensors || !db->tensor_checked)
		return lutdb_fail(LUTDB_ENOMEM, "%s: tensor index", db->path);
	if ((rc = mdb_cursor_open(db->txn, dbi, &c)))
		return mdb_fail(rc, db->path, "tensors");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), i++) {
		lutdb_tensor_ent *e = &db->tensors[i];
		lutdb_rec rec;
		if (i == db->ntensors || k.mv_size == 0 || k.mv_size > LUTDB_NAME_MAX ||
		    memchr(k.mv_data, 0, k.mv_size) || !in_map(db, v.mv_data, v.mv_size)) {
			rc = LUTDB_CORRUPT_BKPT("%s: bad tensor key or value", db->path);
			goto out;
		}
		memcpy(e->name, k.mv_data, k.mv_size);
		e->name[k.mv_size] = '\0';
		e->rec = v.mv_data;
		e->len = v.mv_size;
		/* lutdb_lmdb_validate checks key order inside each page only: a
		 * forged tree can be out of order across pages, and the index is
		 * searched by bisection. */
		if (i > 0 && strcmp(db->tensors[i - 1].name, e->name) >= 0) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s is out of name order", db->path, e->name);
			goto out;
		}
		if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)) || (rc = lutdb_tensor_hdr_parse(&rec, &e->th))) {
			lutdb_fail_prefix(rc, "%s: tensor %s", db->path, e->name);
			goto out;
		}
		if (rec.kind != LUTDB_REC_TENSOR) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s: not a tensor record", db->path, e->name);
			goto out;
		}
	}
	rc = rc == MDB_NOTFOUND && i == db->ntensors ? LUTDB_OK
	     : rc == MDB_NOTFOUND ? LUTDB_CORRUPT_BKPT("%s: tensor count mismatch", db->path)
				  : mdb_fail(rc, db->path, "tensors");
out:
	mdb_cursor_close(c);
	return rc;
}

/* Blocks are aligned to global multiples of block_tokens, clipped to the
 * file's token range; the index holds one entry per block in that range. */
static int load_table(lutdb_db *db, MDB_dbi dbi)
{
	const lutdb_file_hdr *h = &db->hdr;
	uint32_t bt = h->block_tokens;
	uint32_t first_blk = h->token_begin / bt, last_blk = (h->token_end - 1) / bt;
	uint64_t row_stride = lutdb_geom_row_stride(db->info.token_row_bytes);
	MDB_stat st;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint32_t b = 0;
	int rc;

	db->nblocks = last_blk - first_blk + 1;
	if (h->table_records != db->nblocks)
		return LUTDB_CORRUPT_BKPT("%s: header says %llu table records, token range needs %u", db->path,
					  (unsigned long long)h->table_records, db->nblocks);
	/* The header is hostile too: the index is sized from it only once the
	 * table holds that many records (the count the LMDB validator checked
	 * against the B-tree it walked, so it is bounded by the file size). */
	if ((rc = mdb_stat(db->txn, dbi, &st)))
		return mdb_fail(rc, db->path, "table");
	if (st.ms_entries != db->nblocks)
		return LUTDB_CORRUPT_BKPT("%s: %zu table records, header says %u", db->path, (size_t)st.ms_entries,
					  db->nblocks);
	db->blocks = calloc(db->nblocks, sizeof *db->blocks);
	db->block_checked = calloc(db->nblocks, 1);
	db->row_checked = calloc(((size_t)(h->token_end - h->token_begin) + 63) / 64, sizeof(uint64_t));
	if (!db->blocks || !db->block_checked || !db->row_checked)
		return lutdb_fail(LUTDB_ENOMEM, "%s: table index", db->path);
	if ((rc = mdb_cursor_open(db->txn, dbi, &c)))
		return mdb_fail(rc, db->path, "table");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), b++) {
		uint32_t lf, tf;
		uint32_t want = b == 0 ? h->token_begin : (first_blk + b) * bt;
		uint32_t end = (first_blk + b + 1) * bt;
		if (end > h->token_end || end < want)
			end = h->token_end;
		if (b == db->nblocks || lutdb_table_key_decode(k.mv_data, k.mv_size, &lf, &tf) != LUTDB_OK) {
			rc = LUTDB_CORRUPT_BKPT("%s: table key #%u is malformed", db->path, b);
			goto out;
		}
		if (tf != want || lf != h->layer_begin) {
			rc = LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u) where (layer %u, token %u) "
						"was expected", db->path, lf, tf, h->layer_begin, want);
			goto out;
		}
		if (!in_map(db, v.mv_data, v.mv_size) || v.mv_size < h->page_size - 16 ||
		    (h->table_codec == LUTDB_CODEC_NONE &&
		     v.mv_size != h->page_size - 16 + (uint64_t)(end - want) * row_stride)) {
			rc = LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u): record size %zu is wrong",
						db->path, lf, tf, v.mv_size);
			goto out;
		}
		db->blocks[b].rec = v.mv_data;
		db->blocks[b].len = v.mv_size;
		db->blocks[b].token_first = want;
		db->blocks[b].token_count = end - want;
	}
	if (rc != MDB_NOTFOUND) {
		rc = mdb_fail(rc, db->path, "table");
		goto out;
	}
	rc = b == db->nblocks ? LUTDB_OK
			      : LUTDB_CORRUPT_BKPT("%s: %u table records, expected %u", db->path, b, db->nblocks);
out:
	mdb_cursor_close(c);
	return rc;
}

/* The config must describe the same model as the binary header. */
static int check_config(lutdb_db *db)
{
	const lutdb_file_hdr *h = &db->hdr;
	const lutdb_config *c = &db->cfg;

	if (c->vocab != h->vocab || c->hidden != h->hidden || c->layers != h->layers || c->experts != h->experts ||
	    c->intermediate != h->intermediate || c->heads != h->heads || c->kv_heads != h->kv_heads ||
	    c->tied != !!(h->flags & LUTDB_FLAG_TIED) ||
	    (h->family == LUTDB_FAMILY_MOLKV &&
	     (c->kv_dim != h->kv_dim || c->kv_expert_heads != h->kv_expert_heads || c->kv_window != h->kv_window)))
		return LUTDB_CORRUPT_BKPT("%s: config.json and the file header disagree on the geometry", db->path);
	return LUTDB_OK;
}

static void fill_info(lutdb_db *db)
{
	const lutdb_file_hdr *h = &db->hdr;
	lutdb_info *i = &db->info;

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
	i->max_position = db->cfg.max_position;
	i->rms_norm_eps = db->cfg.rms_norm_eps;
	i->rope_theta = db->cfg.rope_theta;
	i->tied = !!(h->flags & LUTDB_FLAG_TIED);
	i->table_dtype = h->table_dtype;
	i->table_codec = h->table_codec;
	i->layer_row_elems = h->layer_row_elems;
	lutdb_geometry g = {h->family, h->experts, h->hidden, h->kv_dim, h->table_dtype};
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
	i->file_bytes = db->file_size;
	i->format_major = h->major;
	i->format_minor = h->minor;
	i->page_size = h->page_size;
}

/* LMDB does not tell where it mapped the file (mdb_env_info's me_mapaddr is
 * the fixed-map address, NULL here).  The main database is one validated
 * page, root: a key LMDB returns from it lies inside that page, and the map
 * is page-aligned, so the map starts root pages before that page. */
static int find_map(lutdb_db *db, uint64_t root)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(db->txn, 1 /* MAIN_DBI */, &c);

	if (rc)
		return mdb_fail(rc, db->path, "main database");
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	mdb_cursor_close(c);
	if (rc)
		return mdb_fail(rc, db->path, "main database");
	db->map = (const uint8_t *)((uintptr_t)k.mv_data & ~(uintptr_t)(LUTDB_PAGE_SIZE - 1)) - root * LUTDB_PAGE_SIZE;
	return LUTDB_OK;
}

int lutdb_open(const char *path, unsigned flags, lutdb_db **out)
{
	lutdb_db *db = NULL;
	MDB_dbi dmeta, dtab, dten;
	struct stat st;
	const uint8_t *p;
	size_t len;
	uint64_t main_root = 0;
	int fd = -1, rc;

	*out = NULL;
	lutdb_errclear();
	if (!path)
		return lutdb_fail(LUTDB_EINVAL, "no database path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lutdb_fail(errno == ENOENT ? LUTDB_ENOENT : LUTDB_EIO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return lutdb_fail(LUTDB_EINVAL, "%s: not a regular file", path);
	}
	/* A database file starts with LMDB's meta page (page number 0); a shard
	 * manifest is a JSON object. */
	char first = 0;
	if (pread(fd, &first, 1, 0) == 1 && first == '{') {
		close(fd);
		if (flags & LUTDB_OPEN_SHARD_)
			return lutdb_fail(LUTDB_ESHARD, "%s: a manifest, not a shard database file", path);
		return lutdb_multi_open(path, flags, out);
	}
	rc = lutdb_lmdb_validate(path, fd, (uint64_t)st.st_size, &main_root);
	if (rc) {
		close(fd);
		return rc;
	}
	/* LMDB opens by name.  It gets the very file just validated, through
	 * /proc/self/fd, not whatever the path names by then: a file renamed
	 * over it in between would otherwise be read unvalidated.  Without
	 * /proc, the path. */
	char fdpath[40];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	const char *lmdb_path = access(fdpath, F_OK) == 0 ? fdpath : path;
	db = calloc(1, sizeof *db);
	if (!db || !(db->path = strdup(path))) {
		close(fd);
		rc = lutdb_fail(LUTDB_ENOMEM, "%s: open", path);
		goto fail;
	}
	db->flags = flags;
	db->file_size = (uint64_t)st.st_size;
	/* Map exactly the file: with MDB_RDONLY LMDB never writes, and with
	 * MDB_NOLOCK it creates no lock file (read-only media work). */
	if ((rc = mdb_env_create(&db->env)) || (rc = mdb_env_set_maxdbs(db->env, 4)) ||
	    (rc = mdb_env_set_mapsize(db->env, (size_t)db->file_size)) ||
	    (rc = mdb_env_open(db->env, lmdb_path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR | MDB_NORDAHEAD, 0)) ||
	    (rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &db->txn))) {
		close(fd);
		rc = mdb_fail(rc, path, "cannot open LMDB environment");
		goto fail;
	}
	close(fd);
	if ((rc = find_map(db, main_root)))
		goto fail;
	if ((rc = mdb_dbi_open(db->txn, LUTDB_DB_META, 0, &dmeta)) ||
	    (rc = mdb_dbi_open(db->txn, LUTDB_DB_TABLE, 0, &dtab)) ||
	    (rc = mdb_dbi_open(db->txn, LUTDB_DB_TENSORS, 0, &dten))) {
		rc = rc == MDB_NOTFOUND ? lutdb_fail(LUTDB_ECORRUPT, "%s: not a lutdb database (sub-databases "
						     "meta, table, tensors missing)", path)
					: mdb_fail(rc, path, "sub-database");
		goto fail;
	}
	if ((rc = load_meta(db, dmeta)))
		goto fail;
	rc = meta_payload(db, LUTDB_META_HEADER, LUTDB_REC_HEADER, &p, &len);
	if (rc == LUTDB_ENOENT)
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: not a lutdb database (no header record)", path);
	if (rc || (rc = lutdb_file_hdr_parse(p, len, &db->hdr))) {
		lutdb_fail_prefix(rc, "%s: header", path);
		goto fail;
	}
	rc = meta_payload(db, LUTDB_META_CONFIG, LUTDB_REC_BLOB, &p, &len);
	if (rc == LUTDB_ENOENT)
		rc = LUTDB_CORRUPT_BKPT("%s: config.json is missing", path);
	if (rc || (rc = lutdb_config_parse((const char *)p, len, "config.json", &db->cfg))) {
		if (rc == LUTDB_EBADINPUT || rc == LUTDB_EUNSUPPORTED)
			rc = lutdb_fail_prefix(LUTDB_ECORRUPT, "%s: stored config", path);
		goto fail;
	}
	rc = meta_payload(db, LUTDB_META_GENERATION, LUTDB_REC_BLOB, &p, &len);
	if (rc == LUTDB_OK)
		rc = lutdb_config_apply_generation(&db->cfg, (const char *)p, len, "generation_config.json");
	if (rc && rc != LUTDB_ENOENT) {
		if (rc == LUTDB_EBADINPUT)
			rc = lutdb_fail_prefix(LUTDB_ECORRUPT, "%s: stored generation config", path);
		goto fail;
	}
	rc = meta_payload(db, LUTDB_META_DIGEST, LUTDB_REC_BLOB, &p, &len);
	if (rc == LUTDB_ENOENT || (rc == LUTDB_OK && len != 16))
		rc = LUTDB_CORRUPT_BKPT("%s: digest record missing or malformed", path);
	if (rc)
		goto fail;
	memcpy(db->info.digest, p, 16);
	if ((rc = check_config(db)))
		goto fail;
	fill_info(db);
	if ((rc = load_tensors(db, dten)) || (rc = load_table(db, dtab)))
		goto fail;
	db->info.raw_bytes = (uint64_t)(db->hdr.token_end - db->hdr.token_begin) * db->info.token_row_bytes;
	for (size_t i = 0; i < db->ntensors; i++)
		db->info.raw_bytes += db->tensors[i].len - LUTDB_TENSOR_HEADER_LEN;
	if (flags & LUTDB_OPEN_WILLNEED)
		madvise((void *)(uintptr_t)db->map, db->file_size, MADV_SEQUENTIAL);
	*out = db;
	return LUTDB_OK;
fail:
	lutdb_close(db);
	return rc;
}

void lutdb_close(lutdb_db *db)
{
	if (!db)
		return;
	if (db->nshards)
		lutdb_multi_close(db);
	if (db->txn)
		mdb_txn_abort(db->txn);
	if (db->env)
		mdb_env_close(db->env);
	free(db->tensors);
	free((void *)(uintptr_t)db->tensor_checked);
	free(db->blocks);
	free((void *)(uintptr_t)db->block_checked);
	free((void *)(uintptr_t)db->row_checked);
	free(db->path);
	free(db);
}

const lutdb_info *lutdb_get_info(const lutdb_db *db)
{
	return &db->info;
}

const char *lutdb_path(const lutdb_db *db)
{
	return db->path;
}

int lutdb_blob_get(lutdb_db *db, const char *name, const void **data, size_t *len)
{
	const uint8_t *p;
	int rc;

	if (db->nshards)
		return lutdb_blob_get(db->shard[0], name, data, len);
	rc = meta_payload(db, name, LUTDB_REC_BLOB, &p, len);
	if (rc == LUTDB_ENOENT)
		return lutdb_fail(LUTDB_ENOENT, "%s: no %s stored", db->path, name);
	if (rc == LUTDB_OK)
		*data = p;
	return rc;
}

static int is_reserved(const char *name)
{
	return !strcmp(name, LUTDB_META_HEADER) || !strcmp(name, LUTDB_META_DIGEST);
}

size_t lutdb_blob_count(lutdb_db *db)
{
	size_t n = 0;

	if (db->nshards)
		return lutdb_blob_count(db->shard[0]);
	for (size_t i = 0; i < db->nmeta; i++)
		n += !is_reserved(db->meta[i].name);
	return n;
}

int lutdb_blob_at(lutdb_db *db, size_t i, const char **name, const void **data, size_t *len)
{
	if (db->nshards)
		return lutdb_blob_at(db->shard[0], i, name, data, len);
	for (size_t k = 0; k < db->nmeta; k++) {
		if (is_reserved(db->meta[k].name))
			continue;
		if (i-- == 0) {
			*name = db->meta[k].name;
			return lutdb_blob_get(db, db->meta[k].name, data, len);
		}
	}
	return lutdb_fail(LUTDB_ERANGE, "%s: blob index out of range", db->path);
}

/* ---- tensors ---------------------------------------------------------------- */
size_t lutdb_tensor_count(const lutdb_db *db)
{
	if (db->nshards)
		return lutdb_tensor_count(db->shard[0]);
	return db->ntensors;
}

int lutdb_tensor_at(lutdb_db *db, size_t i, lutdb_tensor *out)
{
	lutdb_tensor_ent *e;
	lutdb_rec rec;
	int rc;

	if (db->nshards)
		return lutdb_tensor_at(db->shard[0], i, out);
	if (i >= db->ntensors)
		return lutdb_fail(LUTDB_ERANGE, "%s: tensor index %zu out of range", db->path, i);
	e = &db->tensors[i];
	if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)))
		return lutdb_fail_prefix(rc, "%s: tensor %s", db->path, e->name);
	if (!(db->flags & LUTDB_OPEN_NOVERIFY) && !atomic_load_explicit(&db->tensor_checked[i], memory_order_acquire)) {
		if ((rc = lutdb_rec_verify(&rec)))
			return lutdb_fail(rc, "%s: tensor %s: checksum mismatch", db->path, e->name);
		atomic_store_explicit(&db->tensor_checked[i], 1, memory_order_release);
	}
	out->name = e->name;
	out->dtype = e->th.dtype;
	out->ndim = e->th.ndim;
	memcpy(out->shape, e->th.dims, sizeof out->shape);
	out->nbytes = rec.payload_len;
	out->data = rec.payload;
	return LUTDB_OK;
}

int lutdb_tensor_get(lutdb_db *db, const char *name, lutdb_tensor *out)
{
	size_t lo = 0, hi = db->ntensors;

	if (db->nshards)
		return lutdb_tensor_get(db->shard[0], name, out);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(db->tensors[mid].name, name);
		if (c == 0)
			return lutdb_tensor_at(db, mid, out);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lutdb_fail(LUTDB_ENOENT, "%s: no tensor %s", db->path, name);
}

/* ---- rows ------------------------------------------------------------------- */
int lutdb_block_header(lutdb_db *db, uint32_t b, int force_check, lutdb_rec *rec, lutdb_table_hdr *th)
{
	const lutdb_block_ent *e = &db->blocks[b];
	const lutdb_file_hdr *h = &db->hdr;
	int rc;

	if ((rc = lutdb_rec_parse(e->rec, e->len, rec)) || (rc = lutdb_table_hdr_parse(rec, th)))
		return lutdb_fail_prefix(rc, "%s: table key (layer %u, token %u)", db->path, h->layer_begin,
					 e->token_first);
	if (rec->kind != LUTDB_REC_TABLE || rec->header_len != h->page_size - 16 || rec->dtype != h->table_dtype ||
	    rec->codec != h->table_codec || th->token_first != e->token_first || th->token_count != e->token_count ||
	    th->layer_first != h->layer_begin || th->layer_count != h->layer_end - h->layer_begin ||
	    th->row_bytes != db->info.token_row_bytes)
		return LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u): record header does not match the "
					  "file header", db->path, h->layer_begin, e->token_first);
	if (force_check || !atomic_load_explicit(&db->block_checked[b], memory_order_acquire)) {
		if ((rc = lutdb_rec_verify(rec)))
			return lutdb_fail(rc, "%s: table key (layer %u, token %u): header checksum mismatch",
					  db->path, h->layer_begin, e->token_first);
		atomic_store_explicit(&db->block_checked[b], 1, memory_order_release);
	}
	return LUTDB_OK;
}

int lutdb_token_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
		    lutdb_row *out)
{
	const lutdb_file_hdr *h = &db->hdr;
	lutdb_rec rec;
	lutdb_table_hdr th;
	uint64_t sum;
	uint32_t off, len, b, i;
	int rc, check;

	if (db->nshards)
		return lutdb_multi_token_row(db, token, flags, scratch, scratch_size, out);
	if (token >= h->vocab)
		return lutdb_fail(LUTDB_ERANGE, "token %u is out of range (vocabulary size %u)", token, h->vocab);
	if (token < h->token_begin || token >= h->token_end)
		return lutdb_fail(LUTDB_ERANGE, "%s: token %u is not in this file (it holds tokens %u..%u)", db->path,
				  token, h->token_begin, h->token_end - 1);
	b = token / h->block_tokens - h->token_begin / h->block_tokens;
	i = token - db->blocks[b].token_first;
	size_t word = (token - h->token_begin) / 64;
	uint64_t bit = 1ull << ((token - h->token_begin) % 64);
	check = (flags & LUTDB_READ_VERIFY) ||
		(!(db->flags & LUTDB_OPEN_NOVERIFY) &&
		 !(atomic_load_explicit(&db->row_checked[word], memory_order_acquire) & bit));
	/* Fast path: once a raw block's header has passed its full check, a
	 * row's place follows from the file header alone (the hot path of
	 * decoding: no re-parse per read). */
	if (!check && h->table_codec == LUTDB_CODEC_NONE &&
	    atomic_load_explicit(&db->block_checked[b], memory_order_acquire)) {
		uint64_t stride = lutdb_geom_row_stride(db->info.token_row_bytes);
		out->data = db->blocks[b].rec + (h->page_size - 16) + (uint64_t)i * stride;
		out->dtype = h->table_dtype;
		out->layer_first = h->layer_begin;
		out->layer_count = h->layer_end - h->layer_begin;
		out->nelems = out->layer_count * h->layer_row_elems;
		return LUTDB_OK;
	}
	if ((rc = lutdb_block_header(db, b, flags & LUTDB_READ_VERIFY, &rec, &th)))
		return rc;
	lutdb_table_entry_get(&th, i, &sum, &off, &len);
	if (check) {
		if (lutdb_xxh3(rec.payload + off, len) != sum)
			return lutdb_fail(LUTDB_ECHECKSUM, "%s: table key (layer %u, token %u): row checksum mismatch",
					  db->path, h->layer_begin, token);
		atomic_fetch_or_explicit(&db->row_checked[word], bit, memory_order_acq_rel);
	}
	out->dtype = h->table_dtype;
	out->layer_first = h->layer_begin;
	out->layer_count = h->layer_end - h->layer_begin;
	out->nelems = out->layer_count * h->layer_row_elems;
	if (h->table_codec == LUTDB_CODEC_NONE) {
		out->data = rec.payload + off;
		return LUTDB_OK;
	}
	if (!scratch || scratch_size < db->info.token_row_bytes)
		return lutdb_fail(LUTDB_EINVAL, "%s: compressed table needs a scratch buffer of %llu bytes", db->path,
				  (unsigned long long)db->info.token_row_bytes);
	rc = lutdb_codec_decode(h->table_codec, lutdb_dtype_size(h->table_dtype), rec.payload + off, len, scratch,
				db->info.token_row_bytes, NULL);
	if (rc)
		return lutdb_fail_prefix(rc, "%s: table key (layer %u, token %u)", db->path, h->layer_begin, token);
	out->data = scratch;
	return LUTDB_OK;
}

int lutdb_layer_row(lutdb_db *db, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
		    size_t scratch_size, lutdb_row *out)
{
	const lutdb_file_hdr *h = &db->hdr;
	int rc;

	if (db->nshards)
		return lutdb_multi_layer_row(db, layer, token, flags, scratch, scratch_size, out);
	if (layer >= h->layers)
		return lutdb_fail(LUTDB_ERANGE, "layer %u is out of range (the model has %u layers)", layer, h->layers);
	if (layer < h->layer_begin || layer >= h->layer_end)
		return lutdb_fail(LUTDB_ERANGE, "%s: layer %u is not in this file (it holds layers %u..%u)", db->path,
				  layer, h->layer_begin, h->layer_end - 1);
	if ((rc = lutdb_token_row(db, token, flags, scratch, scratch_size, out)))
		return rc;
	out->data = (const uint8_t *)out->data +
		    (size_t)(db->info.token_row_bytes / (h->layer_end - h->layer_begin)) * (layer - h->layer_begin);
	out->layer_first = layer;
	out->layer_count = 1;
	out->nelems = h->layer_row_elems;
	return LUTDB_OK;
}

void lutdb_prefetch_token(lutdb_db *db, uint32_t token)
{
	const lutdb_file_hdr *h = &db->hdr;

	if (db->nshards) {
		lutdb_multi_prefetch(db, token);
		return;
	}
	if (token < h->token_begin || token >= h->token_end || h->table_codec != LUTDB_CODEC_NONE)
		return;
	uint32_t b = token / h->block_tokens - h->token_begin / h->block_tokens;
	const lutdb_block_ent *e = &db->blocks[b];
	uint64_t stride = lutdb_geom_row_stride(db->info.token_row_bytes);
	uintptr_t start = (uintptr_t)e->rec + (h->page_size - 16) + (token - e->token_first) * stride;
	uintptr_t page = (uintptr_t)h->page_size;
	uintptr_t lo = (start & ~(page - 1));
	/* The record header page (its checksums) is needed too. */
	madvise((void *)((uintptr_t)e->rec & ~(page - 1)), page, MADV_WILLNEED);
	madvise((void *)lo, start + db->info.token_row_bytes - lo, MADV_WILLNEED);
}
