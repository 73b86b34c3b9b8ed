/*
 * writer.c - the public writer: one model written as one database file, or
 * as shards and a manifest (lutdb.h, "writer").
 *
 * It is one file writer (file_writer.h) per output file, fed as if they
 * were one: blobs and tensors go to the first file (config.json to every
 * file, so that each shard opens and verifies on its own), table rows are
 * routed by token range (token split) or cut by layer range (layer split).
 * Without shard options it is simply the file writer for OUT.  Shards and
 * the manifest are written into a temporary sibling directory, the manifest
 * last, and the directory is renamed to OUTDIR at commit: the output
 * directory appears complete or not at all.
 */
#include "lutdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fail.h"
#include "file.h"
#include "file_writer.h"
#include "geometry.h"
#include "manifest.h"
#include "opts.h"
#include "plan.h"
#include "publish.h"
#include "record.h"
#include "writer_sized.h"

struct lutdb_writer {
	char *out;                  /* OUT: the file, or the shards' directory */
	int sharded;                /* OUT is a directory of shards and a manifest */
	char *tmp_dir;              /* sharded: where everything is written first,
				       NULL once renamed to OUT */
	lutdb_manifest m;           /* the files: names and ranges; sharded, their
				       sizes and digests once committed */
	lutdb_file_writer **files;  /* one per file; NULL before it is opened (token
				       split) and once committed */
	uint64_t layer_bytes;       /* bytes of one layer's row of one token */
	uint64_t max_size;          /* sharded: checked on the finished files */
	uint32_t vocab, layers;
	uint32_t next_token;        /* the next token put_rows expects */
	/* What opening a file needs, kept for the files opened later. */
	lutdb_writer_params p;
	lutdb_plan_model pm;
	int overwrite, sized;
	/* Token split: shard i is opened when its first row arrives and
	 * committed when its last one has, so one shard is open at a time
	 * (file descriptors, maps, block buffers and reserved disk for one
	 * shard, not for thousands); shards [0, done) are committed. */
	int by_token;
	size_t done;
	char *config;               /* config.json, for the shards opened later */
	size_t config_len;
};

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* The caller's option structs, size-checked and copied whole: fields past
 * the caller's size read as zero, the defaults. */
static int read_params(const lutdb_writer_params *in, lutdb_writer_params *p)
{
	int rc;

	memset(p, 0, sizeof *p);
	if (!in)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_writer_open: no parameters");
	if ((rc = lutdb_opts_check(in, in->size, sizeof *p, LUTDB_OPTS_MIN(lutdb_writer_params, config_bytes),
				   "lutdb_writer_open")))
		return rc;
	memcpy(p, in, in->size < sizeof *p ? in->size : sizeof *p);
	p->size = sizeof *p;
	/* The block-size default of a quantized table (spec/FORMAT.md 10.2). */
	if (lutdb_dtype_is_quantized(p->table_dtype) && p->table_block == 0)
		p->table_block = p->table_dtype == LUTDB_DTYPE_NF4 || p->table_dtype == LUTDB_DTYPE_NF3 ? 64 : 32;
	return LUTDB_OK;
}

static int read_shard_opts(const lutdb_shard_opts *in, lutdb_shard_opts *o, const char *what)
{
	int rc;

	memset(o, 0, sizeof *o);
	if (!in)
		return LUTDB_OK;
	if ((rc = lutdb_opts_check(in, in->size, sizeof *o, LUTDB_OPTS_MIN(lutdb_shard_opts, by_layer), what)))
		return rc;
	memcpy(o, in, in->size < sizeof *o ? in->size : sizeof *o);
	o->size = sizeof *o;
	if (o->count && o->max_size)
		return lutdb_fail(LUTDB_EINVAL, "shard options: set exactly one of count and max_size");
	return LUTDB_OK;
}

/* One file: the whole model at OUT. */
static int plan_one_file(lutdb_writer *w, int overwrite)
{
	struct stat st;
	int rc;

	/* Only a regular file may be replaced: not a device, a directory, or
	 * a symbolic link (lutdb_output_check says why).  Checked again just
	 * before the rename (publish.c). */
	if ((rc = lutdb_output_check(w->out, 0)))
		return rc;
	/* An early refusal for the common case; the commit's rename is what
	 * guarantees it (publish.h). */
	if (!overwrite && lstat(w->out, &st) == 0)
		return lutdb_fail(LUTDB_EEXIST, "%s: already exists", w->out);
	w->m.nshards = 1;
	w->m.split = LUTDB_SPLIT_TOKEN;
	if (!(w->m.shards = calloc(1, sizeof *w->m.shards)) || !(w->m.shards[0].file = strdup(w->out)))
		return lutdb_fail(LUTDB_ENOMEM, "writer");
	w->m.shards[0].token_end = w->vocab;
	w->m.shards[0].layer_end = w->layers;
	return LUTDB_OK;
}

/* Shards: the plan, then the temporary directory beside OUTDIR, which must
 * not exist or be an empty directory (removed here; the commit's rename
 * recreates it). */
static int plan_shards(lutdb_writer *w, const lutdb_plan_model *pm, const lutdb_shard_opts *o)
{
	struct stat st;
	int rc;

	if ((rc = lutdb_plan_shards(pm, o, &w->m)))
		return rc;
	w->sharded = 1;
	w->max_size = o->max_size;
	/* "OUTDIR/" names OUTDIR itself, and with the slash lstat would look
	 * through a symbolic link. */
	char *trim = w->out + strlen(w->out);
	while (trim > w->out + 1 && trim[-1] == '/')
		*--trim = '\0';
	if ((rc = lutdb_output_check(w->out, 1)))
		return rc;
	if (lstat(w->out, &st) == 0 && rmdir(w->out) != 0)
		return lutdb_fail(LUTDB_EEXIST, "%s: already exists and is not an empty directory", w->out);
	size_t n = strlen(w->out) + sizeof ".tmp.XXXXXX";
	if (!(w->tmp_dir = malloc(n)))
		return lutdb_fail(LUTDB_ENOMEM, "writer");
	snprintf(w->tmp_dir, n, "%s.tmp.XXXXXX", w->out);
	if ((rc = lutdb_tmp_create(w->tmp_dir, 1, NULL))) {
		free(w->tmp_dir);
		w->tmp_dir = NULL;
	}
	return rc;
}

/* Opens file i (shard i, or the one file): its part of the model, its
 * reservation (sized: every record it will hold is accounted for in pm,
 * by exact sizes or the caller's sizing fields), and config.json when the
 * writer has it already. */
static int open_file(lutdb_writer *w, size_t i)
{
	const lutdb_manifest_shard *s = &w->m.shards[i];
	lutdb_file_part part = {
		.token_begin = s->token_begin,
		.token_end = s->token_end,
		.layer_begin = s->layer_begin,
		.layer_end = s->layer_end,
		.shard_index = (uint32_t)i,
		.shard_count = (uint32_t)w->m.nshards,
		.size_hint = lutdb_plan_file_bytes(&w->pm, s->layer_end - s->layer_begin, s->token_begin, s->token_end,
						   i == 0),
		.slack = w->sized ? LUTDB_SLACK_SIZED : LUTDB_SLACK_UNSIZED,
	};
	/* Shards go into a directory of our own: nothing to overwrite. */
	char *path = w->sharded ? path_in(w->tmp_dir, s->file) : strdup(s->file);
	int rc;

	if (!path)
		return lutdb_fail(LUTDB_ENOMEM, "writer");
	rc = lutdb_file_writer_open(path, &w->p, &part, w->sharded || w->overwrite, &w->files[i]);
	free(path);
	if (rc == LUTDB_OK && w->config)
		rc = lutdb_file_writer_put_blob(w->files[i], LUTDB_META_CONFIG, w->config, w->config_len);
	return rc;
}

/* Every file of a layer split holds rows of every token, so they are all
 * open from the start; a token split opens its first shard (the dense
 * weights and blobs go there) and the others as their rows come. */
static int open_files(lutdb_writer *w)
{
	int rc;

	if (!(w->files = calloc(w->m.nshards, sizeof *w->files)))
		return lutdb_fail(LUTDB_ENOMEM, "writer");
	for (size_t i = 0; i < (w->by_token ? 1 : w->m.nshards); i++)
		if ((rc = open_file(w, i)))
			return rc;
	return LUTDB_OK;
}

/* Opens the writer; sizes (may be NULL) overrides the parameters' sizing
 * fields with exact figures. */
static int writer_open(const char *out_path, const lutdb_writer_params *params, const lutdb_shard_opts *shards,
		       int overwrite, const lutdb_plan_model *sizes, lutdb_writer **out)
{
	static const uint8_t zero[16];
	lutdb_writer_params p;
	lutdb_shard_opts so;
	lutdb_plan_model pm;
	lutdb_writer *w = NULL;
	int rc;

	*out = NULL;
	if (!out_path || !*out_path)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_writer_open: no output path");
	if ((rc = read_params(params, &p)) || (rc = read_shard_opts(shards, &so, "lutdb_writer_open")) ||
	    (rc = lutdb_file_writer_check(&p)))
		return rc;
	if (!(w = calloc(1, sizeof *w)) || !(w->out = strdup(out_path))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "writer");
		goto fail;
	}
	lutdb_geometry g = {p.family, p.experts, p.hidden, p.kv_dim, p.table_dtype, p.table_block};
	w->layer_bytes = lutdb_geom_layer_bytes(&g);
	w->vocab = p.vocab;
	w->layers = p.layers;
	/* One block size for every shard: the whole row's, so that shards of
	 * a file keep its records (and merge gives back its digest). */
	if (!p.block_tokens)
		p.block_tokens = lutdb_default_block_tokens(w->layer_bytes * p.layers);
	if (!memcmp(p.pack_id, zero, 16) && getrandom(p.pack_id, 16, 0) != 16) {
		rc = lutdb_fail(LUTDB_EIO, "pack id: getrandom: %s", strerror(errno));
		goto fail;
	}
	memcpy(w->m.pack_id, p.pack_id, 16);
	w->m.vocab = p.vocab;
	w->m.layers = p.layers;
	pm = (lutdb_plan_model){.vocab = p.vocab, .layers = p.layers, .block_tokens = p.block_tokens,
				.layer_bytes = w->layer_bytes};
	lutdb_plan_extra(&pm, &p);
	if (sizes) {
		pm.first_bytes = sizes->first_bytes;
		pm.config_bytes = sizes->config_bytes;
	}
	/* Each file reserves what it will hold, not a fixed allowance, unless
	 * the caller gave no sizes at all. */
	w->sized = sizes || p.dense_bytes || p.dense_records || p.config_bytes;
	w->p = p;
	w->pm = pm;
	w->overwrite = overwrite;
	rc = so.count || so.max_size ? plan_shards(w, &pm, &so) : plan_one_file(w, overwrite);
	w->by_token = w->m.split == LUTDB_SPLIT_TOKEN;
	if (rc || (rc = open_files(w)))
		goto fail;
	*out = w;
	return LUTDB_OK;
fail:
	lutdb_writer_abort(w);
	return rc;
}

int lutdb_writer_open(const char *out_path, const lutdb_writer_params *p, const lutdb_shard_opts *shards,
		      int overwrite, lutdb_writer **out)
{
	return writer_open(out_path, p, shards, overwrite, NULL, out);
}

int lutdb_writer_open_sized(const char *out_path, const lutdb_writer_params *p, const lutdb_shard_opts *shards,
			    int overwrite, uint64_t first_bytes, uint64_t config_bytes, lutdb_writer **out)
{
	lutdb_plan_model sizes = {.first_bytes = first_bytes, .config_bytes = config_bytes};
	return writer_open(out_path, p, shards, overwrite, &sizes, out);
}

int lutdb_writer_put_blob(lutdb_writer *w, const char *name, const void *data, size_t len)
{
	int every = name && !strcmp(name, LUTDB_META_CONFIG);
	int rc;

	if (!w)
		return lutdb_fail(LUTDB_EINVAL, "put_blob: no writer");
	if (w->next_token)
		return lutdb_fail(LUTDB_EINVAL, "put_blob: blobs come before the table rows");
	if (every && w->by_token && w->m.nshards > 1) {
		/* Kept for the shards not opened yet. */
		char *copy = malloc(len ? len : 1);
		if (!copy)
			return lutdb_fail(LUTDB_ENOMEM, "writer: config.json");
		memcpy(copy, data, len);
		free(w->config);
		w->config = copy;
		w->config_len = len;
	}
	for (size_t i = 0; i < (every ? w->m.nshards : 1); i++)
		if (w->files[i] && (rc = lutdb_file_writer_put_blob(w->files[i], name, data, len)))
			return rc;
	return LUTDB_OK;
}

int lutdb_writer_tensor_begin(lutdb_writer *w, const char *name, int dtype, uint32_t ndim, const uint64_t *shape,
			      void **payload)
{
	if (!w)
		return lutdb_fail(LUTDB_EINVAL, "tensor_begin: no writer");
	return lutdb_file_writer_tensor_begin(w->files[0], name, dtype, ndim, shape, payload);
}

int lutdb_writer_tensor_end(lutdb_writer *w)
{
	if (!w)
		return lutdb_fail(LUTDB_EINVAL, "tensor_end: no writer");
	return lutdb_file_writer_tensor_end(w->files[0]);
}

int lutdb_writer_put_rows(lutdb_writer *w, uint32_t token_first, uint32_t count, const void *rows, size_t src_stride)
{
	const uint8_t *base = rows;
	int rc;

	if (!w)
		return lutdb_fail(LUTDB_EINVAL, "put_rows: no writer");
	if (token_first != w->next_token || count > w->vocab - token_first)
		return lutdb_fail(LUTDB_EINVAL, "put_rows: tokens must arrive in order inside [0, %u)", w->vocab);
	/* A token split's shards come in token order: start at the first one
	 * not finished, stop at the first one past these rows. */
	for (size_t i = w->by_token ? w->done : 0; i < w->m.nshards; i++) {
		const lutdb_manifest_shard *s = &w->m.shards[i];
		if (w->by_token && s->token_begin >= token_first + count)
			break;
		uint32_t a = token_first > s->token_begin ? token_first : s->token_begin;
		uint32_t b = token_first + count < s->token_end ? token_first + count : s->token_end;
		if (a >= b)
			continue;
		const uint8_t *src = base + (size_t)(a - token_first) * src_stride + w->layer_bytes * s->layer_begin;
		if ((!w->files[i] && (rc = open_file(w, i))) ||
		    (rc = lutdb_file_writer_put_rows(w->files[i], a, b - a, src, src_stride)))
			return rc;
		if (w->by_token && w->m.nshards > 1 && b == s->token_end) {
			/* Its last row: finish it now (synced, trimmed, renamed
			 * inside the temporary directory). */
			rc = lutdb_file_writer_commit(w->files[i]);
			w->files[i] = NULL;
			w->done = i + 1;
			if (rc)
				return rc;
		}
	}
	w->next_token += count;
	return LUTDB_OK;
}

uint64_t lutdb_writer_token_row_bytes(const lutdb_writer *w)
{
	return w->layer_bytes * w->layers;
}

const char *lutdb_writer_tmp_path(const lutdb_writer *w)
{
	if (w->sharded)
		return w->tmp_dir;
	return w->files && w->files[0] ? lutdb_file_writer_tmp_path(w->files[0]) : NULL;
}

static int write_manifest(lutdb_writer *w)
{
	char *txt = lutdb_manifest_dump(&w->m), *path = path_in(w->tmp_dir, LUTDB_MANIFEST_NAME);
	int fd = -1, rc = LUTDB_OK;

	if (!txt || !path) {
		rc = lutdb_fail(LUTDB_ENOMEM, "manifest");
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, txt, strlen(txt)) != (ssize_t)strlen(txt) || fsync(fd) != 0)
		rc = lutdb_fail(errno == ENOSPC ? LUTDB_ENOSPC : LUTDB_EIO, "%s: cannot write manifest: %s", path,
				strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(txt);
	free(path);
	return rc;
}

/* Records each shard's size and content digest in the manifest, read back
 * through the reader (which also checks the file once more), and holds
 * each to max_size. */
static int describe_shards(lutdb_writer *w)
{
	int rc;

	for (size_t i = 0; i < w->m.nshards; i++) {
		lutdb_manifest_shard *s = &w->m.shards[i];
		char *p = path_in(w->tmp_dir, s->file);
		lutdb_file *f = NULL;
		rc = p ? lutdb_file_open(p, LUTDB_OPEN_NOVERIFY, &f) : lutdb_fail(LUTDB_ENOMEM, "writer");
		free(p);
		if (rc)
			return rc;
		s->bytes = lutdb_file_info(f)->file_bytes;
		memcpy(s->digest, lutdb_file_info(f)->digest, 16);
		lutdb_file_close(f);
		if (w->max_size && s->bytes > w->max_size)
			return lutdb_fail(LUTDB_EINTERNAL, "shard %s has %llu bytes, over max_size %llu (size "
					  "estimate)", s->file, (unsigned long long)s->bytes,
					  (unsigned long long)w->max_size);
	}
	return LUTDB_OK;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC), rc = LUTDB_OK;

	if (fd < 0)
		return lutdb_fail(LUTDB_EIO, "%s: open: %s", path, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = lutdb_fail(LUTDB_EIO, "%s: sync: %s", path, strerror(errno));
	close(fd);
	return rc;
}

int lutdb_writer_commit(lutdb_writer *w)
{
	int rc = LUTDB_OK;

	if (!w)
		return lutdb_fail(LUTDB_EINVAL, "commit: no writer");
	for (size_t i = w->done; i < w->m.nshards; i++) {
		if (!w->files[i]) {
			/* A token-split shard whose rows never came. */
			rc = lutdb_fail(LUTDB_EINVAL, "commit: table rows [%u, %u) not written (next %u)",
					w->m.shards[i].token_begin, w->m.shards[i].token_end, w->next_token);
			goto out;
		}
		rc = lutdb_file_writer_commit(w->files[i]);
		w->files[i] = NULL;
		if (rc)
			goto out;
	}
	if (!w->sharded)
		goto out;
	if ((rc = describe_shards(w)) || (rc = write_manifest(w)) || (rc = sync_dir(w->tmp_dir)))
		goto out;
	/* OUTDIR did not exist (or was an empty directory, removed) at open;
	 * whatever appeared there since is kept. */
	if ((rc = lutdb_publish(w->tmp_dir, w->out, 1, 0)))
		goto out;
	free(w->tmp_dir);
	w->tmp_dir = NULL;
	rc = lutdb_sync_parent(w->out);
out:
	/* Frees w; before the rename it also removes the temporary directory
	 * with whatever it holds. */
	lutdb_writer_abort(w);
	return rc;
}

static void remove_tmp_dir(lutdb_writer *w)
{
	for (size_t i = 0; i < w->m.nshards; i++) {
		char *p = path_in(w->tmp_dir, w->m.shards[i].file);
		if (p)
			unlink(p);
		free(p);
	}
	char *mp = path_in(w->tmp_dir, LUTDB_MANIFEST_NAME);
	if (mp)
		unlink(mp);
	free(mp);
	rmdir(w->tmp_dir);
}

void lutdb_writer_abort(lutdb_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; w->files && i < w->m.nshards; i++)
		lutdb_file_writer_abort(w->files[i]);
	if (w->tmp_dir)
		remove_tmp_dir(w);
	lutdb_manifest_free(&w->m);
	free(w->files);
	free(w->config);
	free(w->tmp_dir);
	free(w->out);
	free(w);
}
