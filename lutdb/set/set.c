/*
 * set.c - a sharded model opened through its manifest.
 *
 * The set holds one lutdb_file per shard.  At open every shard is checked
 * against the manifest (size, content digest, pack identity, index, ranges)
 * and against the first shard's geometry, so a missing, truncated, swapped
 * or foreign shard is refused there, by name.  Lookups then cost one array
 * read: token -> shard (token split) or layer -> shard (layer split).
 * Dense weights, config and tokenizer live in the first shard.
 */
#include "set.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "fail.h"
#include "geometry.h"
#include "input.h"
#include "manifest.h"

struct lutdb_set {
	char *path;                 /* of the manifest */
	lutdb_info info;            /* the whole model */
	size_t nshards;
	lutdb_file **shard;
	int split;                  /* LUTDB_SPLIT_TOKEN or _LAYER */
	uint16_t *token_shard;      /* token split: token -> shard */
	uint16_t *layer_shard;      /* layer split: layer -> shard */
};

int lutdb_set_is_manifest(int fd)
{
	char first = 0;

	/* A manifest is a JSON object; a database file starts with LMDB's
	 * meta page, whose first byte is its page number, 0. */
	return pread(fd, &first, 1, 0) == 1 && first == '{';
}

/* The manifest open at fd (size bytes), read in full: at most
 * LUTDB_MANIFEST_MAX bytes, refused by its size before a byte is read. */
static int read_manifest(const char *path, int fd, uint64_t size, char **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (size > LUTDB_MANIFEST_MAX)
		return lutdb_fail(LUTDB_ECORRUPT, "%s: manifest of %llu bytes exceeds the cap of %u bytes", path,
				  (unsigned long long)size, LUTDB_MANIFEST_MAX);
	return lutdb_input_read_fd(fd, path, size, LUTDB_MANIFEST_MAX, LUTDB_ECORRUPT, buf, len);
}

/* Everything that must agree between shards of one model. */
static int same_model(const lutdb_info *a, const lutdb_info *b)
{
	return a->family == b->family && a->vocab == b->vocab && a->hidden == b->hidden && a->layers == b->layers &&
	       a->experts == b->experts && a->intermediate == b->intermediate && a->heads == b->heads &&
	       a->kv_heads == b->kv_heads && a->kv_dim == b->kv_dim && a->kv_expert_heads == b->kv_expert_heads &&
	       a->kv_window == b->kv_window && a->tied == b->tied && a->table_dtype == b->table_dtype &&
	       a->table_block == b->table_block &&
	       a->table_codec == b->table_codec && a->block_tokens == b->block_tokens &&
	       a->layer_row_elems == b->layer_row_elems && a->source_form == b->source_form;
}

static int check_shard(const lutdb_set *s, const lutdb_manifest *m, size_t i)
{
	const lutdb_manifest_shard *ms = &m->shards[i];
	const lutdb_info *in = lutdb_file_info(s->shard[i]), *first = lutdb_file_info(s->shard[0]);
	const char *f = ms->file, *mpath = s->path;

	if (memcmp(in->pack_id, m->pack_id, 16))
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s belongs to another pack (foreign shard)", mpath, f);
	if (in->shard_index != i || in->shard_count != m->nshards)
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s is shard %u of %u, the manifest lists it as %zu of %zu "
				  "(swapped shard)", mpath, f, in->shard_index + 1, in->shard_count, i + 1, m->nshards);
	if (in->file_bytes != ms->bytes)
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s has %llu bytes, the manifest says %llu (truncated or "
				  "replaced)", mpath, f, (unsigned long long)in->file_bytes,
				  (unsigned long long)ms->bytes);
	if (memcmp(in->digest, ms->digest, 16))
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s has another content digest than the manifest's", mpath, f);
	if (in->token_begin != ms->token_begin || in->token_end != ms->token_end ||
	    in->layer_begin != ms->layer_begin || in->layer_end != ms->layer_end || in->vocab != m->vocab ||
	    in->layers != m->layers)
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s holds other rows than the manifest says", mpath, f);
	if (!same_model(in, first))
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s describes another model than the first shard", mpath, f);
	if ((i == 0) != (in->tensor_count > 0))
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s: dense weights belong in the first shard only", mpath, f);
	return LUTDB_OK;
}

/* The directory of the file open at fd, canonical (symbolic links
 * resolved), in a new string: from the kernel's own record of what was
 * opened (/proc/self/fd), else from the path. */
static char *opened_dir(int fd, const char *path)
{
	char link[40], *real = NULL, *slash;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	real = realpath(link, NULL);
	if (!real)
		real = realpath(path, NULL);
	if (real && (slash = strrchr(real, '/')))
		slash[slash == real ? 1 : 0] = '\0';
	return real;
}

/* SECURITY.md: shards live in the manifest's directory.  A name there may
 * be a symbolic link, but only to a file in that same directory: the
 * manifest's author must not make a reader open files elsewhere. */
static int check_inside(const char *sp, int fd, const char *real_dir)
{
	char *d = opened_dir(fd, sp);
	int rc = LUTDB_OK;

	if (!d)
		return lutdb_fail(errno == ENOMEM ? LUTDB_ENOMEM : LUTDB_EIO, "cannot resolve: %s", strerror(errno));
	if (strcmp(d, real_dir))
		rc = lutdb_fail(LUTDB_ESHARD, "a link to a file in %s, outside the manifest's directory %s", d,
				real_dir);
	free(d);
	return rc;
}

/* Opens shard i, which the manifest names relative to its own directory dir
 * (real_dir, canonical), as a database file: a regular file in that
 * directory, and never another manifest (a manifest naming itself would
 * recurse without end).  The shard is opened once; its checks and its
 * reading use that one descriptor. */
static int open_shard(lutdb_set *s, const lutdb_manifest *m, const char *dir, const char *real_dir, size_t i,
		      unsigned flags)
{
	const char *name = m->shards[i].file;
	size_t n = strlen(dir) + strlen(name) + 2;
	char *sp = malloc(n);
	uint64_t size = 0;
	int fd = -1, rc;

	if (!sp)
		return lutdb_fail(LUTDB_ENOMEM, "%s", s->path);
	snprintf(sp, n, "%s/%s", dir, name);
	/* A shard the manifest names that is a directory, FIFO or device is
	 * a damaged shard set, not a bad argument. */
	rc = lutdb_input_open(sp, LUTDB_ESHARD, &fd, &size);
	if (rc == LUTDB_OK)
		rc = check_inside(sp, fd, real_dir);
	if (rc == LUTDB_OK && lutdb_set_is_manifest(fd))
		rc = lutdb_fail(LUTDB_ESHARD, "a manifest, not a shard database file");
	if (rc == LUTDB_OK)
		rc = lutdb_file_open_fd(sp, fd, size, flags, &s->shard[i]);
	if (fd >= 0)
		close(fd);
	free(sp);
	if (rc == LUTDB_ENOENT)
		return lutdb_fail(rc, "%s: shard %s is missing", s->path, name);
	if (rc)
		return lutdb_fail_prefix(rc, "%s: shard %s", s->path, name);
	return check_shard(s, m, i);
}

/* The whole model's description: the first shard's, widened to every
 * token and layer, with the sizes summed and the set's digest. */
static int describe(lutdb_set *s)
{
	lutdb_info *in = &s->info;
	XXH128_canonical_t c;
	XXH3_state_t *xs = XXH3_createState();

	if (!xs)
		return lutdb_fail(LUTDB_ENOMEM, "%s: digest of the shard set", s->path);
	*in = *lutdb_file_info(s->shard[0]);
	in->token_begin = 0;
	in->token_end = in->vocab;
	in->layer_begin = 0;
	in->layer_end = in->layers;
	in->shard_index = 0;
	in->shard_count = (uint32_t)s->nshards;
	in->rows_in_place = in->rows_in_place && s->split == LUTDB_SPLIT_TOKEN;
	lutdb_geometry g = {in->family, in->experts, in->hidden, in->kv_dim, in->table_dtype, in->table_block};
	in->token_row_bytes = lutdb_geom_token_bytes(&g, in->layers);
	in->file_bytes = in->raw_bytes = in->table_records = 0;
	XXH3_128bits_reset(xs);
	for (size_t i = 0; i < s->nshards; i++) {
		const lutdb_info *si = lutdb_file_info(s->shard[i]);
		in->file_bytes += si->file_bytes;
		in->raw_bytes += si->raw_bytes;
		in->table_records += si->table_records;
		XXH3_128bits_update(xs, si->digest, 16);
	}
	/* The set's digest: XXH3-128 over the shards' digests in order. */
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(xs));
	XXH3_freeState(xs);
	memcpy(in->digest, c.digest, 16);
	return LUTDB_OK;
}

/* token -> shard (token split) or layer -> shard (layer split). */
static int build_routes(lutdb_set *s, const lutdb_manifest *m)
{
	if (s->split == LUTDB_SPLIT_TOKEN) {
		if (!(s->token_shard = malloc((size_t)s->info.vocab * sizeof *s->token_shard)))
			return lutdb_fail(LUTDB_ENOMEM, "%s", s->path);
		for (size_t i = 0; i < m->nshards; i++)
			for (uint32_t t = m->shards[i].token_begin; t < m->shards[i].token_end; t++)
				s->token_shard[t] = (uint16_t)i;
	} else {
		if (!(s->layer_shard = malloc((size_t)s->info.layers * sizeof *s->layer_shard)))
			return lutdb_fail(LUTDB_ENOMEM, "%s", s->path);
		for (size_t i = 0; i < m->nshards; i++)
			for (uint32_t l = m->shards[i].layer_begin; l < m->shards[i].layer_end; l++)
				s->layer_shard[l] = (uint16_t)i;
	}
	return LUTDB_OK;
}

int lutdb_set_open_fd(const char *path, int fd, uint64_t size, unsigned flags, lutdb_set **out)
{
	lutdb_set *s = calloc(1, sizeof *s);
	lutdb_manifest m = {0};
	char *json = NULL, *dir = NULL, *real_dir = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (!s || !(s->path = strdup(path)) || !(dir = strdup(path))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
		goto out;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");
	if ((rc = read_manifest(path, fd, size, &json, &len)) || (rc = lutdb_manifest_parse(json, len, path, &m)))
		goto out;
	if (!(real_dir = realpath(dir, NULL))) {
		rc = lutdb_fail(errno == ENOMEM ? LUTDB_ENOMEM : LUTDB_EIO, "%s: cannot resolve its directory: %s", path,
				strerror(errno));
		goto out;
	}
	s->split = m.split;
	if (!(s->shard = calloc(m.nshards, sizeof *s->shard))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
		goto out;
	}
	s->nshards = m.nshards;
	for (size_t i = 0; i < m.nshards; i++)
		if ((rc = open_shard(s, &m, dir, real_dir, i, flags)))
			goto out;
	if ((rc = describe(s)) || (rc = build_routes(s, &m)))
		goto out;
	*out = s;
	s = NULL;
out:
	lutdb_set_close(s);
	lutdb_manifest_free(&m);
	free(json);
	free(dir);
	free(real_dir);
	return rc;
}

int lutdb_set_open(const char *path, unsigned flags, lutdb_set **out)
{
	uint64_t size;
	int fd, rc;

	*out = NULL;
	if ((rc = lutdb_input_open(path, LUTDB_EINVAL, &fd, &size)))
		return rc;
	rc = lutdb_set_open_fd(path, fd, size, flags, out);
	close(fd);
	return rc;
}

void lutdb_set_close(lutdb_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->shard && i < s->nshards; i++)
		lutdb_file_close(s->shard[i]);
	free(s->shard);
	free(s->token_shard);
	free(s->layer_shard);
	free(s->path);
	free(s);
}

const lutdb_info *lutdb_set_info(const lutdb_set *s)
{
	return &s->info;
}

const char *lutdb_set_path(const lutdb_set *s)
{
	return s->path;
}

lutdb_file *lutdb_set_first(const lutdb_set *s)
{
	return s->shard[0];
}

int lutdb_set_token_row(lutdb_set *s, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			lutdb_row *out)
{
	const lutdb_info *in = &s->info;
	int rc;

	if (token >= in->vocab)
		return lutdb_fail(LUTDB_ERANGE, "token %u is out of range (vocabulary size %u)", token, in->vocab);
	if (s->split == LUTDB_SPLIT_TOKEN)
		return lutdb_file_token_row(s->shard[s->token_shard[token]], token, flags, scratch, scratch_size, out);
	/* Layer split: the token's rows are in every shard; assemble them. */
	if (!scratch || scratch_size < in->token_row_bytes)
		return lutdb_fail(LUTDB_EINVAL, "%s: a layer-sharded model needs a scratch buffer of %llu bytes to "
				  "read whole token rows (or read per layer)", s->path,
				  (unsigned long long)in->token_row_bytes);
	uint8_t *dst = scratch;
	for (size_t i = 0; i < s->nshards; i++) {
		const lutdb_info *si = lutdb_file_info(s->shard[i]);
		lutdb_row r;
		if ((rc = lutdb_file_token_row(s->shard[i], token, flags, dst, si->token_row_bytes, &r)))
			return rc;
		if (r.data != dst)
			memcpy(dst, r.data, si->token_row_bytes);
		dst += si->token_row_bytes;
	}
	out->data = scratch;
	out->dtype = in->table_dtype;
	out->layer_first = 0;
	out->layer_count = in->layers;
	out->nelems = in->layers * in->layer_row_elems;
	return LUTDB_OK;
}

int lutdb_set_layer_row(lutdb_set *s, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			size_t scratch_size, lutdb_row *out)
{
	const lutdb_info *in = &s->info;

	if (layer >= in->layers)
		return lutdb_fail(LUTDB_ERANGE, "layer %u is out of range (the model has %u layers)", layer,
				  in->layers);
	if (token >= in->vocab)
		return lutdb_fail(LUTDB_ERANGE, "token %u is out of range (vocabulary size %u)", token, in->vocab);
	lutdb_file *f = s->split == LUTDB_SPLIT_TOKEN ? s->shard[s->token_shard[token]]
						       : s->shard[s->layer_shard[layer]];
	return lutdb_file_layer_row(f, layer, token, flags, scratch, scratch_size, out);
}

void lutdb_set_prefetch(lutdb_set *s, uint32_t token)
{
	if (token >= s->info.vocab)
		return;
	if (s->split == LUTDB_SPLIT_TOKEN)
		lutdb_file_prefetch(s->shard[s->token_shard[token]], token);
	else
		for (size_t i = 0; i < s->nshards; i++)
			lutdb_file_prefetch(s->shard[i], token);
}

/* Each shard's verify reports its own bytes; the caller sees the set's. */
typedef struct span {
	lutdb_progress_fn fn;
	void *ctx;
	uint64_t base, total;
} span;

static int span_cb(void *ctx, uint64_t done, uint64_t total)
{
	span *sp = ctx;
	(void)total;
	return sp->fn ? sp->fn(sp->ctx, sp->base + done, sp->total) : 0;
}

int lutdb_set_verify(lutdb_set *s, lutdb_progress_fn fn, void *ctx)
{
	span sp = {fn, ctx, 0, s->info.file_bytes};
	int rc;

	for (size_t i = 0; i < s->nshards; i++) {
		if ((rc = lutdb_file_verify(s->shard[i], span_cb, &sp)))
			return rc;
		sp.base += lutdb_file_info(s->shard[i])->file_bytes;
	}
	return LUTDB_OK;
}
