/*
 * multi.c - a sharded model opened through its manifest.
 *
 * The handle holds one lutdb_db per shard.  At open every shard is checked
 * against the manifest (size, content digest, pack identity, index, ranges)
 * and against the first shard's geometry, so a missing, truncated, swapped
 * or foreign shard is refused there, by name.  Lookups then cost one array
 * read: token -> shard (token split) or layer -> shard (layer split).
 * Dense weights, config and tokenizer live in the first shard.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "manifest.h"
#include "file.h"
#include "fail.h"

static int read_manifest(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	int rc = LUTDB_OK;

	*buf = NULL;
	if (!f)
		return lutdb_fail(errno == ENOENT ? LUTDB_ENOENT : LUTDB_EIO, "%s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) || (uint64_t)st.st_size > LUTDB_MANIFEST_MAX) {
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: manifest too large", path);
	} else if (!(*buf = malloc((size_t)st.st_size + 1))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
	} else if (fread(*buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		rc = lutdb_fail(LUTDB_EIO, "%s: read error", path);
	}
	*len = (size_t)st.st_size;
	fclose(f);
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* Everything that must agree between shards of one model. */
static int same_model(const lutdb_info *a, const lutdb_info *b)
{
	return a->family == b->family && a->vocab == b->vocab && a->hidden == b->hidden && a->layers == b->layers &&
	       a->experts == b->experts && a->intermediate == b->intermediate && a->heads == b->heads &&
	       a->kv_heads == b->kv_heads && a->kv_dim == b->kv_dim && a->kv_expert_heads == b->kv_expert_heads &&
	       a->kv_window == b->kv_window && a->tied == b->tied && a->table_dtype == b->table_dtype &&
	       a->table_codec == b->table_codec && a->block_tokens == b->block_tokens &&
	       a->layer_row_elems == b->layer_row_elems && a->source_form == b->source_form;
}

static int check_shard(lutdb_db *db, const lutdb_manifest *m, size_t i, const char *mpath)
{
	const lutdb_manifest_shard *ms = &m->shards[i];
	const lutdb_info *in = lutdb_get_info(db->shard[i]), *first = lutdb_get_info(db->shard[0]);
	const char *f = ms->file;

	if (memcmp(in->pack_id, m->pack_id, 16))
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s belongs to another pack (foreign shard)", mpath, f);
	if (in->shard_index != i || in->shard_count != m->nshards)
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s is shard %u of %u, the manifest lists it as %zu of %zu "
				  "(swapped shard)", mpath, f, in->shard_index + 1, in->shard_count, i + 1, m->nshards);
	if (in->file_bytes != ms->bytes)
		return lutdb_fail(LUTDB_ESHARD, "%s: shard %s has %llu bytes, the manifest says %llu (truncated or "
				  "replaced)", mpath, f, (unsigned long long)in->file_bytes, (unsigned long long)ms->bytes);
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

int lutdb_multi_open(const char *path, unsigned flags, lutdb_db **out)
{
	lutdb_db *db = calloc(1, sizeof *db);
	lutdb_manifest m = {0};
	char *json = NULL, *dir = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (!db || !(db->path = strdup(path)) || !(dir = strdup(path))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
		goto fail;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	db->flags = flags;
	if ((rc = read_manifest(path, &json, &len)) || (rc = lutdb_manifest_parse(json, len, path, &m)))
		goto fail;
	db->split = m.split;
	db->shard = calloc(m.nshards, sizeof *db->shard);
	if (!db->shard) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
		goto fail;
	}
	db->nshards = m.nshards;
	for (size_t i = 0; i < m.nshards; i++) {
		size_t n = strlen(dir) + strlen(m.shards[i].file) + 2;
		char *sp = malloc(n);
		if (!sp) {
			rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
			goto fail;
		}
		snprintf(sp, n, "%s/%s", dir, m.shards[i].file);
		rc = lutdb_open(sp, flags | LUTDB_OPEN_SHARD_, &db->shard[i]);
		if (rc == LUTDB_ENOENT)
			lutdb_fail(rc, "%s: shard %s is missing", path, m.shards[i].file);
		else if (rc)
			lutdb_fail_prefix(rc, "%s: shard %s", path, m.shards[i].file);
		free(sp);
		if (rc || (rc = check_shard(db, &m, i, path)))
			goto fail;
	}
	/* The whole model's description: the first shard's, widened. */
	lutdb_info *in = &db->info;
	*in = *lutdb_get_info(db->shard[0]);
	in->token_begin = 0;
	in->token_end = in->vocab;
	in->layer_begin = 0;
	in->layer_end = in->layers;
	in->shard_index = 0;
	in->shard_count = (uint32_t)m.nshards;
	in->rows_in_place = in->rows_in_place && m.split == LUTDB_SPLIT_TOKEN;
	lutdb_geometry g = {in->family, in->experts, in->hidden, in->kv_dim, in->table_dtype};
	in->token_row_bytes = lutdb_geom_token_bytes(&g, in->layers);
	in->file_bytes = in->raw_bytes = in->table_records = 0;
	XXH3_state_t *xs = XXH3_createState();
	if (!xs) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s: digest of the shard set", path);
		goto fail;
	}
	XXH3_128bits_reset(xs);
	for (size_t i = 0; i < m.nshards; i++) {
		const lutdb_info *si = lutdb_get_info(db->shard[i]);
		in->file_bytes += si->file_bytes;
		in->raw_bytes += si->raw_bytes;
		in->table_records += si->table_records;
		XXH3_128bits_update(xs, si->digest, 16);
	}
	/* The set's digest: XXH3-128 over the shards' digests in order. */
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(xs));
	XXH3_freeState(xs);
	memcpy(in->digest, c.digest, 16);
	if (m.split == LUTDB_SPLIT_TOKEN) {
		db->token_shard = malloc((size_t)in->vocab * sizeof *db->token_shard);
		for (size_t i = 0; db->token_shard && i < m.nshards; i++)
			for (uint32_t t = m.shards[i].token_begin; t < m.shards[i].token_end; t++)
				db->token_shard[t] = (uint16_t)i;
	} else {
		db->layer_shard = malloc((size_t)in->layers * sizeof *db->layer_shard);
		for (size_t i = 0; db->layer_shard && i < m.nshards; i++)
			for (uint32_t l = m.shards[i].layer_begin; l < m.shards[i].layer_end; l++)
				db->layer_shard[l] = (uint16_t)i;
	}
	if (!db->token_shard && !db->layer_shard) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", path);
		goto fail;
	}
	*out = db;
	rc = LUTDB_OK;
	goto done;
fail:
	lutdb_close(db);
done:
	lutdb_manifest_free(&m);
	free(json);
	free(dir);
	return rc;
}

void lutdb_multi_close(lutdb_db *db)
{
	for (size_t i = 0; i < db->nshards; i++)
		lutdb_close(db->shard[i]);
	free(db->shard);
	free(db->token_shard);
	free(db->layer_shard);
}

int lutdb_multi_token_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			  lutdb_row *out)
{
	const lutdb_info *in = &db->info;
	int rc;

	if (token >= in->vocab)
		return lutdb_fail(LUTDB_ERANGE, "token %u is out of range (vocabulary size %u)", token, in->vocab);
	if (db->split == LUTDB_SPLIT_TOKEN)
		return lutdb_token_row(db->shard[db->token_shard[token]], token, flags, scratch, scratch_size, out);
	/* Layer split: the token's rows are in every shard; assemble them. */
	if (!scratch || scratch_size < in->token_row_bytes)
		return lutdb_fail(LUTDB_EINVAL, "%s: a layer-sharded model needs a scratch buffer of %llu bytes to "
				  "read whole token rows (or read per layer)", db->path,
				  (unsigned long long)in->token_row_bytes);
	uint8_t *dst = scratch;
	for (size_t i = 0; i < db->nshards; i++) {
		const lutdb_info *si = lutdb_get_info(db->shard[i]);
		lutdb_row r;
		if ((rc = lutdb_token_row(db->shard[i], token, flags, dst, si->token_row_bytes, &r)))
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

int lutdb_multi_layer_row(lutdb_db *db, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			  size_t scratch_size, lutdb_row *out)
{
	const lutdb_info *in = &db->info;

	if (layer >= in->layers)
		return lutdb_fail(LUTDB_ERANGE, "layer %u is out of range (the model has %u layers)", layer, in->layers);
	if (token >= in->vocab)
		return lutdb_fail(LUTDB_ERANGE, "token %u is out of range (vocabulary size %u)", token, in->vocab);
	lutdb_db *s = db->split == LUTDB_SPLIT_TOKEN ? db->shard[db->token_shard[token]] : db->shard[db->layer_shard[layer]];
	return lutdb_layer_row(s, layer, token, flags, scratch, scratch_size, out);
}

void lutdb_multi_prefetch(lutdb_db *db, uint32_t token)
{
	if (token >= db->info.vocab)
		return;
	if (db->split == LUTDB_SPLIT_TOKEN)
		lutdb_prefetch_token(db->shard[db->token_shard[token]], token);
	else
		for (size_t i = 0; i < db->nshards; i++)
			lutdb_prefetch_token(db->shard[i], token);
}

typedef struct span {
	lutdb_progress_fn fn;
	void *ctx;
	uint64_t base, total;
} span;

static int span_cb(void *ctx, uint64_t done, uint64_t total)
{
	span *s = ctx;
	(void)total;
	return s->fn ? s->fn(s->ctx, s->base + done, s->total) : 0;
}

int lutdb_multi_verify(lutdb_db *db, lutdb_progress_fn fn, void *ctx)
{
	span s = {fn, ctx, 0, db->info.file_bytes};
	int rc;

	for (size_t i = 0; i < db->nshards; i++) {
		if ((rc = lutdb_verify(db->shard[i], span_cb, &s)))
			return rc;
		s.base += lutdb_get_info(db->shard[i])->file_bytes;
	}
	return LUTDB_OK;
}
