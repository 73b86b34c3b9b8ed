/* manifest.c - manifest.json: strict parsing (lutdb_json_load, then every
 * field checked) and writing (jansson). */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lutdb_err.h"
#include "record.h"
#include "fail.h"
#include "json_bounded.h"

static int parse_hex16(const char *s, uint8_t out[16])
{
	if (!s || strlen(s) != 32)
		return -1;
	for (int i = 0; i < 16; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int get_range(json_t *o, const char *key, uint32_t *b, uint32_t *e)
{
	json_t *a = json_object_get(o, key);
	if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_integer(json_array_get(a, 0)) ||
	    !json_is_integer(json_array_get(a, 1)))
		return -1;
	json_int_t x = json_integer_value(json_array_get(a, 0)), y = json_integer_value(json_array_get(a, 1));
	if (x < 0 || y <= x || y > UINT32_MAX)
		return -1;
	*b = (uint32_t)x;
	*e = (uint32_t)y;
	return 0;
}

static int plain_file(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= LUTDB_NAME_MAX && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

typedef struct name_at {
	const char *name;
	size_t index;
} name_at;

static int by_name_then_index(const void *a, const void *b)
{
	const name_at *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The index of the first shard whose file name an earlier shard already
 * has, or n: by sorting (O(n log n)), where comparing every pair of up to
 * 65535 names took seconds.  Entries without a file name are skipped (the
 * main loop refuses them).  LUTDB_ENOMEM if the sort buffer is refused. */
static int first_repeated_name(json_t *arr, size_t n, size_t *out)
{
	name_at *v = malloc((n ? n : 1) * sizeof *v);
	size_t m = 0;

	*out = n;
	if (!v)
		return LUTDB_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *f = json_string_value(json_object_get(json_array_get(arr, i), "file"));
		if (f)
			v[m++] = (name_at){f, i};
	}
	qsort(v, m, sizeof *v, by_name_then_index);
	/* In a run of equal names, every entry after the run's first repeats it. */
	for (size_t k = 1; k < m; k++)
		if (!strcmp(v[k - 1].name, v[k].name) && v[k].index < *out)
			*out = v[k].index;
	free(v);
	return LUTDB_OK;
}

int lutdb_manifest_parse(const char *json, size_t len, const char *what, lutdb_manifest *m)
{
	const lutdb_json_doc doc = {what, LUTDB_MANIFEST_MAX, LUTDB_ECORRUPT, 0, 0};
	json_t *root = NULL, *arr, *v;
	int rc;

	memset(m, 0, sizeof *m);
	if ((rc = lutdb_json_load(&doc, json, len, &root)))
		return rc;
	if (!json_is_object(root)) {
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: not a JSON object", what);
		goto out;
	}
	v = json_object_get(root, "lutdb_manifest");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		rc = lutdb_fail(json_is_integer(v) ? LUTDB_EVERSION : LUTDB_ECORRUPT,
				"%s: not a lutdb manifest of version 1", what);
		goto out;
	}
	const char *split = json_string_value(json_object_get(root, "split"));
	m->split = split && !strcmp(split, "token") ? LUTDB_SPLIT_TOKEN : split && !strcmp(split, "layer") ? LUTDB_SPLIT_LAYER : 0;
	json_t *jv = json_object_get(root, "vocab"), *jl = json_object_get(root, "layers");
	arr = json_object_get(root, "shards");
	if (!m->split || parse_hex16(json_string_value(json_object_get(root, "pack_id")), m->pack_id) ||
	    !json_is_integer(jv) || json_integer_value(jv) <= 0 || json_integer_value(jv) > UINT32_MAX ||
	    !json_is_integer(jl) || json_integer_value(jl) <= 0 || json_integer_value(jl) > 65536 ||
	    !json_is_array(arr) || json_array_size(arr) == 0) {
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: manifest fields split, pack_id, vocab, layers or shards are "
				"missing or malformed", what);
		goto out;
	}
	if (json_array_size(arr) > LUTDB_MAX_SHARDS) {
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: lists %zu shards (at most %u)", what, json_array_size(arr),
				LUTDB_MAX_SHARDS);
		goto out;
	}
	m->vocab = (uint32_t)json_integer_value(jv);
	m->layers = (uint32_t)json_integer_value(jl);
	m->nshards = json_array_size(arr);
	m->shards = calloc(m->nshards, sizeof *m->shards);
	if (!m->shards) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", what);
		goto out;
	}
	size_t repeat;
	if (first_repeated_name(arr, m->nshards, &repeat)) {
		rc = lutdb_fail(LUTDB_ENOMEM, "%s", what);
		goto out;
	}
	uint32_t next = 0;
	for (size_t i = 0; i < m->nshards; i++) {
		json_t *s = json_array_get(arr, i), *b = json_object_get(s, "bytes");
		lutdb_manifest_shard *sh = &m->shards[i];
		const char *f = json_string_value(json_object_get(s, "file"));
		if (f && strlen(f) > LUTDB_NAME_MAX) {
			rc = lutdb_fail(LUTDB_ECORRUPT, "%s: shard #%zu: file name of %zu bytes (at most %d)", what, i,
					strlen(f), LUTDB_NAME_MAX);
			goto out;
		}
		if (!json_is_object(s) || !plain_file(f) || !json_is_integer(b) || json_integer_value(b) <= 0 ||
		    parse_hex16(json_string_value(json_object_get(s, "digest")), sh->digest) ||
		    get_range(s, "tokens", &sh->token_begin, &sh->token_end) ||
		    get_range(s, "layers", &sh->layer_begin, &sh->layer_end)) {
			rc = lutdb_fail(LUTDB_ECORRUPT, "%s: shard #%zu is malformed (file, bytes, digest, tokens, layers)",
					what, i);
			goto out;
		}
		if (!(sh->file = strdup(f))) {
			rc = lutdb_fail(LUTDB_ENOMEM, "%s", what);
			goto out;
		}
		sh->bytes = (uint64_t)json_integer_value(b);
		/* The shards tile the table along the split axis, in order. */
		int tok = m->split == LUTDB_SPLIT_TOKEN;
		uint32_t b0 = tok ? sh->token_begin : sh->layer_begin, e0 = tok ? sh->token_end : sh->layer_end;
		uint32_t ob = tok ? sh->layer_begin : sh->token_begin, oe = tok ? sh->layer_end : sh->token_end;
		if (b0 != next || ob != 0 || oe != (tok ? m->layers : m->vocab) || e0 > (tok ? m->vocab : m->layers)) {
			rc = lutdb_fail(LUTDB_ECORRUPT, "%s: shard #%zu (%s) does not continue the %s ranges", what, i, f,
					tok ? "token" : "layer");
			goto out;
		}
		next = e0;
		if (i == repeat) {
			rc = lutdb_fail(LUTDB_ECORRUPT, "%s: shard file %s is listed twice", what, f);
			goto out;
		}
	}
	if (next != (m->split == LUTDB_SPLIT_TOKEN ? m->vocab : m->layers))
		rc = lutdb_fail(LUTDB_ECORRUPT, "%s: the shards do not cover the whole table", what);
out:
	json_decref(root);
	if (rc)
		lutdb_manifest_free(m);
	return rc;
}

void lutdb_manifest_free(lutdb_manifest *m)
{
	if (!m || !m->shards)
		return;
	for (size_t i = 0; i < m->nshards; i++)
		free(m->shards[i].file);
	free(m->shards);
	m->shards = NULL;
	m->nshards = 0;
}

char *lutdb_manifest_dump(const lutdb_manifest *m)
{
	char hex[33];
	json_t *arr = json_array(), *root;
	char *s;

	for (size_t i = 0; i < m->nshards; i++) {
		const lutdb_manifest_shard *sh = &m->shards[i];
		lutdb_hex16(sh->digest, hex);
		json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:[I,I], s:[I,I]}", "file", sh->file, "bytes",
						     (json_int_t)sh->bytes, "digest", hex, "tokens",
						     (json_int_t)sh->token_begin, (json_int_t)sh->token_end, "layers",
						     (json_int_t)sh->layer_begin, (json_int_t)sh->layer_end));
	}
	lutdb_hex16(m->pack_id, hex);
	root = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:o}", "lutdb_manifest", 1, "format", "1.0", "pack_id", hex,
			 "split", m->split == LUTDB_SPLIT_LAYER ? "layer" : "token", "vocab", (json_int_t)m->vocab,
			 "layers", (json_int_t)m->layers, "shards", arr);
	s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	return s;
}
