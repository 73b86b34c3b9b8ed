/* shardset.c - one model written as one file or as shards + manifest. */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "geometry.h"
#include "lmdb_layout.h"
#include "record.h"
#include "fail.h"
#include "publish.h"

struct lutdb_shardset {
	int dir_mode;
	char *final_dir;     /* dir mode: the output directory */
	char *tmp_dir;       /* dir mode: where everything is written first */
	lutdb_manifest m;
	lutdb_writer **w;    /* per shard; NULL once committed */
	uint64_t full_row;   /* bytes of a full token row */
	uint64_t layer_bytes;/* bytes of one layer's row */
	uint64_t max_size;   /* --max-size, checked on the finished files */
};

static int sys_fail(int err, const char *path, const char *what)
{
	return lutdb_fail(err == ENOSPC ? LUTDB_ENOSPC : err == EEXIST || err == ENOTEMPTY ? LUTDB_EEXIST
			  : err == ENOENT ? LUTDB_ENOENT : LUTDB_EIO,
			  "%s: %s: %s", path, what, strerror(err));
}

/* Bytes a shard file takes, pessimistically: page-rounded records plus
 * B-tree and meta pages (spec/FORMAT.md sections 3 and 9). */
static uint64_t est_bytes(const lutdb_writer_params *p, uint64_t row_bytes, uint32_t tb, uint32_t te,
			  const lutdb_shard_extra *x, int first)
{
	const uint64_t pg = LUTDB_PAGE_SIZE;
	/* 2 meta pages, main and named-database roots, branch pages, slack. */
	uint64_t stride = lutdb_geom_row_stride(row_bytes), bt = p->block_tokens, pages = 10;
	uint64_t blocks = (uint64_t)(te - 1) / bt - tb / bt + 1;
	/* Each block: a header page plus its rows; rows of the edge blocks are
	 * fewer, counting every block as full keeps this an upper bound. */
	uint64_t rows_in_full = (te - tb) < bt ? (te - tb) : bt;
	pages += blocks * (1 + (rows_in_full * stride + pg - 1) / pg) + blocks / 100 + 2;
	pages += (x->config_bytes + pg - 1) / pg + 1;
	if (first)
		pages += (x->first_bytes + pg - 1) / pg + 1;
	return pages * pg;
}

void lutdb_shard_extra_add(uint64_t *bytes, size_t key_len, uint64_t value_len)
{
	/* LMDB puts a node out of line when 8 + key + value > (4096 - 16) / 2. */
	if (8 + key_len + value_len > (LUTDB_PAGE_SIZE - 16) / 2)
		*bytes += (value_len + 16 + LUTDB_PAGE_SIZE - 1) / LUTDB_PAGE_SIZE * LUTDB_PAGE_SIZE +
			  2 * (8 + key_len + 8);
	else
		*bytes += 2 * (8 + key_len + value_len + 2);
}

static int plan(lutdb_manifest *m, const lutdb_split_opts *o, const lutdb_writer_params *p, uint64_t layer_bytes,
		const lutdb_shard_extra *x)
{
	uint32_t V = p->vocab, L = p->layers;
	int tok = o->split != LUTDB_SPLIT_LAYER;
	uint32_t axis = tok ? V : L;
	uint32_t begin[LUTDB_MAX_SHARDS > 4096 ? 4096 : LUTDB_MAX_SHARDS];
	size_t n = 0;

	m->split = tok ? LUTDB_SPLIT_TOKEN : LUTDB_SPLIT_LAYER;
	if (o->count) {
		if (o->count > axis)
			return lutdb_fail(LUTDB_EINVAL, "shard count %u: more shards than %s (%u)", o->count,
					  tok ? "tokens" : "layers", axis);
		if (o->count > sizeof begin / sizeof *begin)
			return lutdb_fail(LUTDB_EINVAL, "shard count %u: at most %zu shards are written at once", o->count,
					  sizeof begin / sizeof *begin);
		for (n = 0; n < o->count; n++)
			begin[n] = (uint32_t)((uint64_t)axis * n / o->count);
	} else {
		uint32_t a = 0;
		while (a < axis) {
			if (n == sizeof begin / sizeof *begin)
				return lutdb_fail(LUTDB_EINVAL, "shard max_size %llu: more than %zu shards needed",
						  (unsigned long long)o->max_size, n);
			/* Largest end whose estimate fits (the estimate grows with end). */
			uint32_t lo = a, hi = axis;
			while (lo < hi) {
				uint32_t mid = lo + (hi - lo + 1) / 2;
				uint64_t e = tok ? est_bytes(p, layer_bytes * L, a, mid, x, n == 0)
						 : est_bytes(p, layer_bytes * (mid - a), 0, V, x, n == 0);
				if (e <= o->max_size)
					lo = mid;
				else
					hi = mid - 1;
			}
			if (lo == a) {
				uint64_t need = tok ? est_bytes(p, layer_bytes * L, a, a + 1, x, n == 0)
						    : est_bytes(p, layer_bytes, 0, V, x, n == 0);
				return lutdb_fail(LUTDB_EINVAL, "shard max_size %llu is too small: %s needs %llu bytes",
						  (unsigned long long)o->max_size,
						  n == 0 ? "the first shard (dense weights and one table row)"
							 : tok ? "one token row" : "one layer of every token",
						  (unsigned long long)need);
			}
			begin[n++] = a;
			a = lo;
		}
	}
	m->nshards = n;
	m->shards = calloc(n, sizeof *m->shards);
	if (!m->shards)
		return lutdb_fail(LUTDB_ENOMEM, "shard plan");
	for (size_t i = 0; i < n; i++) {
		lutdb_manifest_shard *s = &m->shards[i];
		uint32_t e = i + 1 < n ? begin[i + 1] : axis;
		s->token_begin = tok ? begin[i] : 0;
		s->token_end = tok ? e : V;
		s->layer_begin = tok ? 0 : begin[i];
		s->layer_end = tok ? L : e;
		char name[64];
		snprintf(name, sizeof name, "model-%05zu-of-%05zu.lutdb", i + 1, n);
		if (!(s->file = strdup(name)))
			return lutdb_fail(LUTDB_ENOMEM, "shard plan");
	}
	return LUTDB_OK;
}

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int lutdb_shardset_open(const char *out, const lutdb_split_opts *split, const lutdb_writer_params *base,
			const lutdb_shard_extra *extra, lutdb_shardset **out_ss)
{
	lutdb_shardset *ss = calloc(1, sizeof *ss);
	lutdb_writer_params p = *base;
	int rc;

	*out_ss = NULL;
	if (!ss)
		return lutdb_fail(LUTDB_ENOMEM, "shard set");
	lutdb_geometry g = {p.family, p.experts, p.hidden, p.family == LUTDB_FAMILY_MOLKV ? p.kv_dim : 0,
			    p.table_dtype};
	ss->layer_bytes = lutdb_geom_layer_bytes(&g);
	ss->full_row = ss->layer_bytes * p.layers;
	/* One block size for every shard: the whole row's, so that shards of
	 * a file keep its records (and merge gives back its digest). */
	if (!p.block_tokens)
		p.block_tokens = lutdb_default_block_tokens(ss->full_row);
	static const uint8_t zero[16];
	if (!memcmp(p.pack_id, zero, 16) && getrandom(p.pack_id, 16, 0) != 16) {
		rc = sys_fail(errno, "getrandom", "pack id");
		goto fail;
	}
	memcpy(ss->m.pack_id, p.pack_id, 16);
	ss->m.vocab = p.vocab;
	ss->m.layers = p.layers;
	ss->dir_mode = split != NULL;
	if (!split) {
		ss->m.nshards = 1;
		ss->m.split = LUTDB_SPLIT_TOKEN;
		ss->m.shards = calloc(1, sizeof *ss->m.shards);
		if (!ss->m.shards || !(ss->m.shards[0].file = strdup(out))) {
			rc = lutdb_fail(LUTDB_ENOMEM, "shard set");
			goto fail;
		}
		ss->m.shards[0].token_end = p.vocab;
		ss->m.shards[0].layer_end = p.layers;
	} else {
		if ((split->count == 0) == (split->max_size == 0)) {
			rc = lutdb_fail(LUTDB_EINVAL, "shard options: set exactly one of count and max_size");
			goto fail;
		}
		if ((rc = plan(&ss->m, split, &p, ss->layer_bytes, extra)))
			goto fail;
		ss->max_size = split->max_size;
		struct stat st;
		if (stat(out, &st) == 0 && (!S_ISDIR(st.st_mode) || rmdir(out) != 0)) {
			rc = lutdb_fail(LUTDB_EEXIST, "%s: already exists and is not an empty directory", out);
			goto fail;
		}
		/* rmdir above removed an empty OUT; the final rename recreates it. */
		size_t n = strlen(out) + 32;
		ss->final_dir = strdup(out);
		ss->tmp_dir = malloc(n);
		if (!ss->final_dir || !ss->tmp_dir) {
			rc = lutdb_fail(LUTDB_ENOMEM, "shard set");
			goto fail;
		}
		char *trim = ss->final_dir + strlen(ss->final_dir);
		while (trim > ss->final_dir + 1 && trim[-1] == '/')
			*--trim = '\0';
		snprintf(ss->tmp_dir, n, "%s.tmp.XXXXXX", ss->final_dir);
		if ((rc = lutdb_tmp_create(ss->tmp_dir, 1, NULL))) {
			free(ss->tmp_dir);
			ss->tmp_dir = NULL;
			goto fail;
		}
	}
	ss->w = calloc(ss->m.nshards, sizeof *ss->w);
	if (!ss->w) {
		rc = lutdb_fail(LUTDB_ENOMEM, "shard set");
		goto fail;
	}
	for (size_t i = 0; i < ss->m.nshards; i++) {
		lutdb_manifest_shard *s = &ss->m.shards[i];
		lutdb_writer_params q = p;
		q.token_begin = s->token_begin;
		q.token_end = s->token_end;
		q.layer_begin = s->layer_begin;
		q.layer_end = s->layer_end;
		q.shard_index = (uint32_t)i;
		q.shard_count = (uint32_t)ss->m.nshards;
		uint64_t rb = ss->layer_bytes * (s->layer_end - s->layer_begin);
		q.size_hint = est_bytes(&p, rb, s->token_begin, s->token_end, extra, i == 0);
		char *path = ss->dir_mode ? path_in(ss->tmp_dir, s->file) : strdup(s->file);
		if (!path) {
			rc = lutdb_fail(LUTDB_ENOMEM, "shard set");
			goto fail;
		}
		rc = lutdb_writer_open(path, &q, 1, &ss->w[i]);
		free(path);
		if (rc)
			goto fail;
	}
	*out_ss = ss;
	return LUTDB_OK;
fail:
	lutdb_shardset_abort(ss);
	return rc;
}

static void remove_tmp_dir(lutdb_shardset *ss)
{
	if (!ss->tmp_dir)
		return;
	for (size_t i = 0; i < ss->m.nshards; i++) {
		char *p = path_in(ss->tmp_dir, ss->m.shards[i].file);
		if (p)
			unlink(p);
		free(p);
	}
	char *mp = path_in(ss->tmp_dir, LUTDB_MANIFEST_NAME);
	if (mp)
		unlink(mp);
	free(mp);
	rmdir(ss->tmp_dir);
}

void lutdb_shardset_abort(lutdb_shardset *ss)
{
	if (!ss)
		return;
	for (size_t i = 0; ss->w && i < ss->m.nshards; i++)
		lutdb_writer_abort(ss->w[i]);
	if (ss->dir_mode)
		remove_tmp_dir(ss);
	lutdb_manifest_free(&ss->m);
	free(ss->w);
	free(ss->tmp_dir);
	free(ss->final_dir);
	free(ss);
}

int lutdb_shardset_put_blob(lutdb_shardset *ss, const char *name, const void *data, size_t len)
{
	int every = !strcmp(name, LUTDB_META_CONFIG);
	int rc;

	for (size_t i = 0; i < (every ? ss->m.nshards : 1); i++)
		if ((rc = lutdb_writer_put_blob(ss->w[i], name, data, len)))
			return rc;
	return LUTDB_OK;
}

int lutdb_shardset_tensor_begin(lutdb_shardset *ss, const char *name, int dtype, uint32_t ndim, const uint64_t *shape,
				void **payload)
{
	return lutdb_writer_tensor_begin(ss->w[0], name, dtype, ndim, shape, payload);
}

int lutdb_shardset_tensor_end(lutdb_shardset *ss)
{
	return lutdb_writer_tensor_end(ss->w[0]);
}

int lutdb_shardset_put_rows(lutdb_shardset *ss, uint32_t t0, uint32_t n, const void *rows, size_t stride)
{
	const uint8_t *base = rows;
	int rc;

	for (size_t i = 0; i < ss->m.nshards; i++) {
		const lutdb_manifest_shard *s = &ss->m.shards[i];
		uint32_t a = t0 > s->token_begin ? t0 : s->token_begin;
		uint32_t b = t0 + n < s->token_end ? t0 + n : s->token_end;
		if (a >= b)
			continue;
		const uint8_t *src = base + (size_t)(a - t0) * stride + ss->layer_bytes * s->layer_begin;
		if ((rc = lutdb_writer_put_rows(ss->w[i], a, b - a, src, stride)))
			return rc;
	}
	return LUTDB_OK;
}

static int fsync_path(const char *path, int dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC), rc = LUTDB_OK;
	if (fd < 0)
		return sys_fail(errno, path, "open");
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = sys_fail(errno, path, "sync");
	close(fd);
	return rc;
}

static int write_manifest(lutdb_shardset *ss)
{
	char *txt = lutdb_manifest_dump(&ss->m), *path = path_in(ss->tmp_dir, LUTDB_MANIFEST_NAME);
	int fd = -1, rc = LUTDB_OK;

	if (!txt || !path) {
		rc = lutdb_fail(LUTDB_ENOMEM, "manifest");
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, txt, strlen(txt)) != (ssize_t)strlen(txt) || fsync(fd) != 0)
		rc = sys_fail(errno, path, "cannot write manifest");
out:
	if (fd >= 0)
		close(fd);
	free(txt);
	free(path);
	return rc;
}

int lutdb_shardset_commit(lutdb_shardset *ss)
{
	int rc = LUTDB_OK;

	for (size_t i = 0; i < ss->m.nshards; i++) {
		rc = lutdb_writer_commit(ss->w[i]);
		ss->w[i] = NULL;
		if (rc)
			goto out;
	}
	if (!ss->dir_mode)
		goto out;
	/* Record each shard's size and content digest, read back through the
	 * reader (which also checks the file once more). */
	for (size_t i = 0; i < ss->m.nshards; i++) {
		char *p = path_in(ss->tmp_dir, ss->m.shards[i].file);
		lutdb_db *db = NULL;
		rc = p ? lutdb_open(p, LUTDB_OPEN_NOVERIFY, &db) : lutdb_fail(LUTDB_ENOMEM, "shard set");
		free(p);
		if (rc)
			goto out;
		ss->m.shards[i].bytes = lutdb_get_info(db)->file_bytes;
		memcpy(ss->m.shards[i].digest, lutdb_get_info(db)->digest, 16);
		lutdb_close(db);
		if (ss->max_size && ss->m.shards[i].bytes > ss->max_size) {
			rc = lutdb_fail(LUTDB_EINTERNAL, "shard %s has %llu bytes, over max_size %llu (size estimate)",
					ss->m.shards[i].file, (unsigned long long)ss->m.shards[i].bytes,
					(unsigned long long)ss->max_size);
			goto out;
		}
	}
	if ((rc = write_manifest(ss)) || (rc = fsync_path(ss->tmp_dir, 1)))
		goto out;
	/* OUTDIR did not exist (or was an empty directory, removed) at open;
	 * whatever appeared there since is kept. */
	if ((rc = lutdb_publish(ss->tmp_dir, ss->final_dir, 1, 0)))
		goto out;
	free(ss->tmp_dir);
	ss->tmp_dir = NULL;
	rc = lutdb_sync_parent(ss->final_dir);
out:
	/* Frees ss; before the rename it also removes the temporary directory
	 * with whatever it holds. */
	lutdb_shardset_abort(ss);
	return rc;
}

int lutdb_reshard(lutdb_db *src, const char *out, const lutdb_split_opts *split, lutdb_progress_fn progress,
		  void *ctx)
{
	const lutdb_info *in = lutdb_get_info(src);
	lutdb_shard_extra x = {0};
	lutdb_shardset *ss = NULL;
	void *scratch = NULL;
	int rc;

	for (size_t i = 0; i < lutdb_db_blob_count(src); i++) {
		const char *name;
		const void *d;
		size_t len;
		if ((rc = lutdb_db_blob_at(src, i, &name, &d, &len)))
			return rc;
		lutdb_shard_extra_add(!strcmp(name, LUTDB_META_CONFIG) ? &x.config_bytes : &x.first_bytes,
				      strlen(name), LUTDB_REC_PREFIX + len);
	}
	for (size_t i = 0; i < lutdb_tensor_count(src); i++) {
		lutdb_tensor t;
		if ((rc = lutdb_tensor_at(src, i, &t)))
			return rc;
		lutdb_shard_extra_add(&x.first_bytes, strlen(t.name), LUTDB_TENSOR_HEADER_LEN + t.nbytes);
	}
	lutdb_writer_params p = {
		.family = in->family, .source_form = in->source_form, .vocab = in->vocab, .hidden = in->hidden,
		.layers = in->layers, .experts = in->experts, .intermediate = in->intermediate, .heads = in->heads,
		.kv_heads = in->kv_heads, .kv_dim = in->kv_dim, .kv_expert_heads = in->kv_expert_heads,
		.kv_window = in->kv_window, .tied = in->tied, .table_dtype = in->table_dtype,
		.table_codec = in->table_codec, .block_tokens = in->block_tokens};
	memcpy(p.pack_id, in->pack_id, 16);
	if ((rc = lutdb_shardset_open(out, split, &p, &x, &ss)))
		return rc;
	for (size_t i = 0; i < lutdb_db_blob_count(src); i++) {
		const char *name;
		const void *d;
		size_t len;
		if ((rc = lutdb_db_blob_at(src, i, &name, &d, &len)) || (rc = lutdb_shardset_put_blob(ss, name, d, len)))
			goto fail;
	}
	for (size_t i = 0; i < lutdb_tensor_count(src); i++) {
		lutdb_tensor t;
		void *dst;
		if ((rc = lutdb_tensor_at(src, i, &t)) ||
		    (rc = lutdb_shardset_tensor_begin(ss, t.name, t.dtype, t.ndim, t.shape, &dst)))
			goto fail;
		memcpy(dst, t.data, t.nbytes);
		if ((rc = lutdb_shardset_tensor_end(ss)))
			goto fail;
	}
	if (!(scratch = malloc(in->token_row_bytes))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "reshard");
		goto fail;
	}
	for (uint32_t t = 0; t < in->vocab; t++) {
		lutdb_row r;
		if ((rc = lutdb_token_row(src, t, 0, scratch, in->token_row_bytes, &r)) ||
		    (rc = lutdb_shardset_put_rows(ss, t, 1, r.data, 0)))
			goto fail;
		if (progress && (t % 64 == 63 || t + 1 == in->vocab) &&
		    progress(ctx, (uint64_t)(t + 1) * in->token_row_bytes, (uint64_t)in->vocab * in->token_row_bytes)) {
			rc = lutdb_fail(LUTDB_EINTR, "cancelled");
			goto fail;
		}
	}
	free(scratch);
	return lutdb_shardset_commit(ss);
fail:
	free(scratch);
	lutdb_shardset_abort(ss);
	return rc;
}

int lutdb_shard(lutdb_db *src, const char *outdir, const lutdb_shard_opts *o, lutdb_progress_fn progress, void *ctx)
{
	lutdb_split_opts so = {o->by_layer ? LUTDB_SPLIT_LAYER : LUTDB_SPLIT_TOKEN, o->count, o->max_size};
	return lutdb_reshard(src, outdir, &so, progress, ctx);
}

int lutdb_merge(lutdb_db *src, const char *out, lutdb_progress_fn progress, void *ctx)
{
	return lutdb_reshard(src, out, NULL, progress, ctx);
}
