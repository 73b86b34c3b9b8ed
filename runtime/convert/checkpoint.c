/* checkpoint.c - reading a Hugging Face checkpoint directory in place. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "lutdb.h"
#include "lutdb_err.h"
#include "lutdb_types.h"
#include "lutdb_tokenizer.h"
#include "safetensors.h"
#include "fail.h"
#include "json_bounded.h"

/* tokenizer_config.json is stored byte for byte, never parsed: only a
 * bound on what is read. */
#define BLOB_FILE_MAX (256u << 20)
/* model.safetensors.index.json lists every tensor with its file: about 100
 * bytes each (DeepSeek-V3's 92k tensors take 9 MB), so the cap is the
 * safetensors header's, for as many tensors. */
#define INDEX_JSON_MAX LUTDB_ST_HEADER_MAX
#define INDEX_NAME "model.safetensors.index.json"
#define MAX_SHARDS 100000u

typedef struct st_map {
	char *name;
	uint8_t *map;
	uint64_t size;
	lutdb_st_file st;
	const uint8_t *data;
	int digested;
	uint8_t digest[16];
} st_map;

typedef struct ent {
	const char *name;
	int file;
	size_t idx; /* in that file's lutdb_st_file */
} ent;

struct lutdb_ckpt {
	char *dir;
	lutdb_config cfg;
	lutdb_ckpt_blob blobs[LUTDB_CKPT_NBLOBS];
	st_map *files;
	size_t nfiles;
	ent *ents;
	size_t nents;
	lutdb_ckpt_file *finfo;
};

static const char *const blob_names[LUTDB_CKPT_NBLOBS] = {
	"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"};
/* Each one's cap (spec/SECURITY.md section 1.8), checked on the file's size
 * before a byte is read: the parser's cap, where it is parsed. */
static const size_t blob_caps[LUTDB_CKPT_NBLOBS] = {
	LUTDB_CONFIG_JSON_MAX, LUTDB_CONFIG_JSON_MAX, LUTDB_TOKENIZER_JSON_MAX, BLOB_FILE_MAX};

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Reads a whole small file; LUTDB_ENOENT if it does not exist.
 * Only a regular file of at most cap bytes is read: anything else in a
 * checkpoint is a bad checkpoint. */
static int read_small(const char *dir, const char *name, size_t cap, char **data, size_t *len)
{
	char *path = join(dir, name);
	int rc;

	*data = NULL;
	*len = 0;
	if (!path)
		return lutdb_fail(LUTDB_ENOMEM, "%s", name);
	rc = lutdb_input_read(path, cap, 0, LUTDB_EBADINPUT, LUTDB_EBADINPUT, data, len);
	free(path);
	return rc;
}

static int map_file(lutdb_ckpt *ck, st_map *m)
{
	char *path = join(ck->dir, m->name);
	uint64_t jlen;
	int fd = -1, rc;

	if (!path)
		return lutdb_fail(LUTDB_ENOMEM, "%s", m->name);
	/* A weight file the checkpoint names that is a FIFO, device or
	 * directory is a bad checkpoint. */
	rc = lutdb_input_open(path, LUTDB_EBADINPUT, &fd, &m->size);
	if (rc == LUTDB_ENOENT)
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: missing weight file", path);
	if (rc)
		goto out;
	if (m->size < 8) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: not a safetensors file (too short)", path);
		goto out;
	}
	m->map = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		rc = lutdb_fail(LUTDB_EIO, "%s: cannot map: %s", path, strerror(errno));
		goto out;
	}
	madvise(m->map, m->size, MADV_SEQUENTIAL);
	if ((rc = lutdb_st_header_len(m->map, m->size, &jlen)) ||
	    (rc = lutdb_st_parse((const char *)m->map + 8, (size_t)jlen, m->size - 8 - jlen, &m->st))) {
		lutdb_fail_prefix(rc, "%s", path);
		goto out;
	}
	m->data = m->map + 8 + jlen;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const ent *)a)->name, ((const ent *)b)->name);
}

static int plain_name(const char *s)
{
	return *s && *s != '.' && !strchr(s, '/') && strlen(s) < 4096;
}

/* A file name the index gives, and where it first appears. */
typedef struct named {
	const char *name; /* into the index's JSON */
	size_t first;
} named;

static int by_name_then_first(const void *a, const void *b)
{
	const named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->first > y->first) - (x->first < y->first);
}

static int by_first(const void *a, const void *b)
{
	const named *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

/* The distinct file names of the index's weight_map, in the order they
 * first appear (the order pack records them in): by sorting, O(n log n),
 * where looking each one up among those seen took 12 s for 100,001 names. */
static int index_files(lutdb_ckpt *ck, json_t *wm)
{
	size_t n = json_object_size(wm), m = 0, k = 0;
	named *v = malloc((n ? n : 1) * sizeof *v);
	const char *name;
	json_t *val;
	int rc = LUTDB_OK;

	if (!v)
		return lutdb_fail(LUTDB_ENOMEM, "%s/" INDEX_NAME ": %zu entries", ck->dir, n);
	json_object_foreach(wm, name, val) {
		const char *f = json_string_value(val);

		if (!f || !plain_name(f)) {
			rc = lutdb_fail(LUTDB_EBADINPUT, "%s/" INDEX_NAME ": tensor %.255s: the file must be a plain "
					"file name of fewer than 4096 bytes", ck->dir, name);
			goto out;
		}
		v[m] = (named){f, m};
		m++;
	}
	qsort(v, m, sizeof *v, by_name_then_first);
	for (size_t i = 0; i < m; i++)
		if (i == 0 || strcmp(v[i].name, v[k - 1].name))
			v[k++] = v[i];
	if (k > MAX_SHARDS) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s/" INDEX_NAME ": names %zu weight files (at most %u)", ck->dir, k,
				MAX_SHARDS);
		goto out;
	}
	qsort(v, k, sizeof *v, by_first);
	ck->files = calloc(k + 1, sizeof *ck->files);
	if (!ck->files) {
		rc = lutdb_fail(LUTDB_ENOMEM, "checkpoint");
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		if (!(ck->files[i].name = strdup(v[i].name))) {
			rc = lutdb_fail(LUTDB_ENOMEM, "checkpoint");
			goto out;
		}
		ck->nfiles++;
	}
out:
	free(v);
	return rc;
}

/* Lists weight files: the index's shard files, or model.safetensors. */
static int list_files(lutdb_ckpt *ck, json_t **index_map)
{
	const lutdb_json_doc doc = {INDEX_NAME, INDEX_JSON_MAX, LUTDB_EBADINPUT, 0, 0};
	char *idx = NULL;
	size_t len;
	json_t *root = NULL, *wm;
	int rc = read_small(ck->dir, INDEX_NAME, INDEX_JSON_MAX, &idx, &len);

	*index_map = NULL;
	if (rc == LUTDB_ENOENT) {
		ck->files = calloc(1, sizeof *ck->files);
		if (!ck->files || !(ck->files[0].name = strdup("model.safetensors")))
			return lutdb_fail(LUTDB_ENOMEM, "checkpoint");
		ck->nfiles = 1;
		return LUTDB_OK;
	}
	if (rc)
		return rc;
	rc = lutdb_json_load(&doc, idx, len, &root);
	free(idx);
	if (rc)
		return lutdb_fail_prefix(rc, "%s", ck->dir);
	if (!json_is_object(root) || !json_is_object(wm = json_object_get(root, "weight_map"))) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s/" INDEX_NAME ": no \"weight_map\" object", ck->dir);
		goto out;
	}
	if ((rc = index_files(ck, wm)))
		goto out;
	if (ck->nfiles == 0) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s/" INDEX_NAME ": empty weight_map", ck->dir);
		goto out;
	}
	*index_map = json_incref(wm);
out:
	json_decref(root);
	return rc;
}

int lutdb_ckpt_open(const char *dir, lutdb_ckpt **out)
{
	lutdb_ckpt *ck = calloc(1, sizeof *ck);
	json_t *index_map = NULL;
	struct stat st;
	size_t total = 0;
	int rc;

	*out = NULL;
	if (!ck || !(ck->dir = strdup(dir))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "checkpoint");
		goto fail;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: not a checkpoint directory", dir);
		goto fail;
	}
	for (int i = 0; i < LUTDB_CKPT_NBLOBS; i++) {
		ck->blobs[i].name = blob_names[i];
		rc = read_small(dir, blob_names[i], blob_caps[i], &ck->blobs[i].data, &ck->blobs[i].len);
		if (rc == LUTDB_ENOENT && i == 0)
			rc = lutdb_fail(LUTDB_EBADINPUT, "%s/config.json: missing", dir);
		if (rc && rc != LUTDB_ENOENT)
			goto fail;
	}
	if ((rc = lutdb_config_parse(ck->blobs[0].data, ck->blobs[0].len, "config.json", &ck->cfg)))
		goto fail_ctx;
	if (ck->blobs[1].data &&
	    (rc = lutdb_config_apply_generation(&ck->cfg, ck->blobs[1].data, ck->blobs[1].len,
						"generation_config.json")))
		goto fail_ctx;
	if ((rc = list_files(ck, &index_map)))
		goto fail;
	for (size_t i = 0; i < ck->nfiles; i++) {
		if ((rc = map_file(ck, &ck->files[i])))
			goto fail;
		total += ck->files[i].st.count;
	}
	ck->ents = calloc(total ? total : 1, sizeof *ck->ents);
	if (!ck->ents) {
		rc = lutdb_fail(LUTDB_ENOMEM, "checkpoint");
		goto fail;
	}
	for (size_t f = 0; f < ck->nfiles; f++)
		for (size_t i = 0; i < ck->files[f].st.count; i++) {
			const char *name = ck->files[f].st.tensors[i].name;
			if (index_map) {
				const char *want = json_string_value(json_object_get(index_map, name));
				if (!want || strcmp(want, ck->files[f].name)) {
					rc = lutdb_fail(LUTDB_EBADINPUT, "%s/%s: tensor %s is %s the index", dir,
							ck->files[f].name, name, want ? "in another file in" : "not in");
					goto fail;
				}
			}
			ck->ents[ck->nents++] = (ent){name, (int)f, i};
		}
	qsort(ck->ents, ck->nents, sizeof *ck->ents, ent_cmp);
	for (size_t i = 1; i < ck->nents; i++)
		if (!strcmp(ck->ents[i].name, ck->ents[i - 1].name)) {
			rc = lutdb_fail(LUTDB_EBADINPUT, "%s: tensor %s is present in both %s and %s", dir,
					ck->ents[i].name, ck->files[ck->ents[i - 1].file].name,
					ck->files[ck->ents[i].file].name);
			goto fail;
		}
	if (index_map && json_object_size(index_map) != ck->nents) {
		const char *name;
		json_t *v;
		json_object_foreach(index_map, name, v) {
			if (!lutdb_ckpt_has(ck, name)) {
				rc = lutdb_fail(LUTDB_EBADINPUT, "%s: tensor %s is listed in the index but not in %s", dir,
						name, json_string_value(v));
				goto fail;
			}
		}
	}
	json_decref(index_map);
	*out = ck;
	return LUTDB_OK;
fail_ctx:
	lutdb_fail_prefix(rc, "%s", dir);
fail:
	json_decref(index_map);
	lutdb_ckpt_close(ck);
	return rc;
}

void lutdb_ckpt_close(lutdb_ckpt *ck)
{
	if (!ck)
		return;
	for (int i = 0; i < LUTDB_CKPT_NBLOBS; i++)
		free(ck->blobs[i].data);
	for (size_t i = 0; i < ck->nfiles; i++) {
		if (ck->files[i].map)
			munmap(ck->files[i].map, ck->files[i].size);
		lutdb_st_free(&ck->files[i].st);
		free(ck->files[i].name);
	}
	free(ck->files);
	free(ck->ents);
	free(ck->finfo);
	free(ck->dir);
	free(ck);
}

const lutdb_config *lutdb_ckpt_config(const lutdb_ckpt *ck)
{
	return &ck->cfg;
}

const lutdb_ckpt_blob *lutdb_ckpt_blob_at(const lutdb_ckpt *ck, int i)
{
	return &ck->blobs[i];
}

const char *lutdb_ckpt_dir(const lutdb_ckpt *ck)
{
	return ck->dir;
}

size_t lutdb_ckpt_tensor_count(const lutdb_ckpt *ck)
{
	return ck->nents;
}

void lutdb_ckpt_tensor_at(const lutdb_ckpt *ck, size_t i, lutdb_ckpt_tensor *out)
{
	const ent *e = &ck->ents[i];
	const st_map *m = &ck->files[e->file];
	const lutdb_st_tensor *t = &m->st.tensors[e->idx];

	out->name = t->name;
	out->file = m->name;
	out->dtype = t->dtype;
	out->ndim = t->ndim;
	memcpy(out->dims, t->dims, sizeof out->dims);
	out->data = m->data + t->begin;
	out->nbytes = t->end - t->begin;
}

static const ent *lookup(const lutdb_ckpt *ck, const char *name)
{
	ent key = {name, 0, 0};
	return bsearch(&key, ck->ents, ck->nents, sizeof *ck->ents, ent_cmp);
}

int lutdb_ckpt_has(const lutdb_ckpt *ck, const char *name)
{
	return lookup(ck, name) != NULL;
}

int lutdb_ckpt_find(const lutdb_ckpt *ck, const char *name, lutdb_ckpt_tensor *out)
{
	const ent *e = lookup(ck, name);

	if (!e)
		return lutdb_fail(LUTDB_ENOENT, "%s: tensor %s is missing", ck->dir, name);
	lutdb_ckpt_tensor_at(ck, (size_t)(e - ck->ents), out);
	return LUTDB_OK;
}

int lutdb_ckpt_files(lutdb_ckpt *ck, const lutdb_ckpt_file **files, size_t *n)
{
	if (!ck->finfo) {
		ck->finfo = calloc(ck->nfiles, sizeof *ck->finfo);
		if (!ck->finfo)
			return lutdb_fail(LUTDB_ENOMEM, "checkpoint");
		for (size_t i = 0; i < ck->nfiles; i++) {
			XXH128_canonical_t c;
			XXH128_canonicalFromHash(&c, XXH3_128bits(ck->files[i].map, ck->files[i].size));
			ck->finfo[i].name = ck->files[i].name;
			ck->finfo[i].size = ck->files[i].size;
			memcpy(ck->finfo[i].digest, c.digest, 16);
		}
	}
	*files = ck->finfo;
	*n = ck->nfiles;
	return LUTDB_OK;
}
