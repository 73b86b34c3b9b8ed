/*
 * safetensors.c - strict safetensors header parsing (see lutdb_safetensors.h).
 *
 * The JSON is decoded by lutdb_json_load (a size cap, a bound on the memory
 * jansson takes, JSON_REJECT_DUPLICATES); this file only checks the decoded
 * structure.  Every failure names the tensor concerned.
 * Order of checks: JSON validity, per-entry structure and sizes, then the
 * tiling of the data section (sorted by offset: contiguous from 0, no gap or
 * overlap, ending exactly at data_size), and only then unsupported dtypes, so
 * a damaged file is reported as damaged rather than unsupported.
 */
#include "safetensors.h"
#include "fail.h"
#include "json_bounded.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Every dtype of the safetensors format, with its element size; code 0 is a
 * dtype lutdb does not hold.  Sub-byte types (F4, F6_*) have size 0. */
static const struct st_dtype {
	const char *name;
	int code;
	unsigned bytes;
} st_dtypes[] = {
	{ "F32", LUTDB_DTYPE_F32, 4 }, { "F16", LUTDB_DTYPE_F16, 2 }, { "BF16", LUTDB_DTYPE_BF16, 2 },
	{ "BOOL", 0, 1 },  { "U8", 0, 1 },      { "I8", 0, 1 },      { "F8_E5M2", 0, 1 },
	{ "F8_E4M3", 0, 1 }, { "F8_E8M0", 0, 1 }, { "I16", 0, 2 },   { "U16", 0, 2 },
	{ "I32", 0, 4 },   { "U32", 0, 4 },     { "F64", 0, 8 },     { "I64", 0, 8 },
	{ "U64", 0, 8 },   { "C64", 0, 8 },     { "F4", 0, 0 },      { "F6_E2M3", 0, 0 },
	{ "F6_E3M2", 0, 0 },
};

static const struct st_dtype *st_dtype_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
		if (strcmp(st_dtypes[i].name, name) == 0)
			return &st_dtypes[i];
	return NULL;
}

int lutdb_st_header_len(const void *first8, uint64_t file_size, uint64_t *json_len)
{
	const uint8_t *p = first8;
	uint64_t n = 0;
	int i;

	if (p == NULL || json_len == NULL)
		return lutdb_fail(LUTDB_EINVAL, "safetensors: NULL argument");
	*json_len = 0;
	if (file_size < 8)
		return lutdb_fail(LUTDB_EBADINPUT, "safetensors: file of %llu bytes is shorter than the 8-byte header length",
				  (unsigned long long)file_size);
	for (i = 7; i >= 0; i--)
		n = n << 8 | p[i];
	if (n > LUTDB_ST_HEADER_MAX)
		return lutdb_fail(LUTDB_EBADINPUT, "safetensors: header length %llu exceeds the %u-byte cap",
				  (unsigned long long)n, LUTDB_ST_HEADER_MAX);
	if (n < 2)
		return lutdb_fail(LUTDB_EBADINPUT, "safetensors: header length %llu is too short for a JSON object",
				  (unsigned long long)n);
	if (n > file_size - 8)
		return lutdb_fail(LUTDB_EBADINPUT,
				  "safetensors: header length %llu runs past the end of the %llu-byte file (truncated?)",
				  (unsigned long long)n, (unsigned long long)file_size);
	*json_len = n;
	return LUTDB_OK;
}

void lutdb_st_free(lutdb_st_file *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->count; i++)
		free(f->tensors[i].name);
	for (i = 0; i < f->meta_count; i++) {
		free(f->meta[i].key);
		free(f->meta[i].value);
	}
	free(f->tensors);
	free(f->meta);
	memset(f, 0, sizeof *f);
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const lutdb_st_tensor *)a)->name, ((const lutdb_st_tensor *)b)->name);
}

static int cmp_meta(const void *a, const void *b)
{
	return strcmp(((const lutdb_st_meta *)a)->key, ((const lutdb_st_meta *)b)->key);
}

static int cmp_offset(const void *a, const void *b)
{
	const lutdb_st_tensor *x = *(const lutdb_st_tensor *const *)a, *y = *(const lutdb_st_tensor *const *)b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Reads a JSON integer >= 0. */
static int get_u64(const json_t *v, uint64_t *out)
{
	json_int_t i;

	if (!json_is_integer(v))
		return 0;
	i = json_integer_value(v);
	if (i < 0)
		return 0;
	*out = (uint64_t)i;
	return 1;
}

#define BAD(...) lutdb_fail(LUTDB_EBADINPUT, __VA_ARGS__)

static int parse_metadata(json_t *obj, lutdb_st_file *out)
{
	const char *key;
	json_t *val;
	size_t n = 0;

	if (!json_is_object(obj))
		return BAD("safetensors: \"__metadata__\" is not a JSON object");
	out->meta = calloc(json_object_size(obj) ? json_object_size(obj) : 1, sizeof *out->meta);
	if (out->meta == NULL)
		return lutdb_fail(LUTDB_ENOMEM, "safetensors: metadata of %zu entries", json_object_size(obj));
	json_object_foreach (obj, key, val) {
		size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));

		if (memchr(key, '\0', klen) != NULL)
			return BAD("safetensors: \"__metadata__\" key contains a NUL byte");
		if (!json_is_string(val))
			return BAD("safetensors: \"__metadata__\" entry \"%.64s\" is not a string", key);
		if (memchr(json_string_value(val), '\0', json_string_length(val)) != NULL)
			return BAD("safetensors: \"__metadata__\" entry \"%.64s\" contains a NUL byte", key);
		out->meta[n].key = dupn(key, klen);
		out->meta[n].value = dupn(json_string_value(val), json_string_length(val));
		if (out->meta[n].key == NULL || out->meta[n].value == NULL) {
			free(out->meta[n].key);
			free(out->meta[n].value);
			return lutdb_fail(LUTDB_ENOMEM, "safetensors: metadata entry");
		}
		n++;
		out->meta_count = n;
	}
	qsort(out->meta, out->meta_count, sizeof *out->meta, cmp_meta);
	return LUTDB_OK;
}

/* Parses one tensor entry into *t (name already set); *unsup receives the
 * dtype entry when the dtype is a safetensors type lutdb does not hold. */
static int parse_tensor(const char *name, json_t *v, uint64_t data_size, lutdb_st_tensor *t,
			const struct st_dtype **unsup)
{
	json_t *jd, *js, *jo;
	const struct st_dtype *dt;
	uint64_t bytes, x;
	size_t i, nd;

	*unsup = NULL;
	if (!json_is_object(v))
		return BAD("safetensors: tensor \"%s\": entry is not a JSON object", name);
	jd = json_object_get(v, "dtype");
	js = json_object_get(v, "shape");
	jo = json_object_get(v, "data_offsets");
	if (jd == NULL || js == NULL || jo == NULL || json_object_size(v) != 3)
		return BAD("safetensors: tensor \"%s\": entry must have exactly the keys dtype, shape, data_offsets",
			   name);
	if (!json_is_string(jd))
		return BAD("safetensors: tensor \"%s\": dtype is not a string", name);
	dt = st_dtype_lookup(json_string_value(jd));
	if (dt == NULL)
		return BAD("safetensors: tensor \"%s\": unknown dtype \"%.32s\"", name, json_string_value(jd));
	if (dt->bytes == 0) /* sub-byte packing: no byte size to check against */
		return lutdb_fail(LUTDB_EUNSUPPORTED, "safetensors: tensor \"%s\": dtype %s is not supported "
				  "(lutdb holds F32, F16, BF16)", name, dt->name);
	if (!json_is_array(js))
		return BAD("safetensors: tensor \"%s\": shape is not an array", name);
	nd = json_array_size(js);
	if (nd > LUTDB_TENSOR_MAX_DIMS)
		return BAD("safetensors: tensor \"%s\": %zu dimensions (at most %d)", name, nd, LUTDB_TENSOR_MAX_DIMS);
	bytes = dt->bytes;
	for (i = 0; i < nd; i++) {
		if (!get_u64(json_array_get(js, i), &x))
			return BAD("safetensors: tensor \"%s\": shape[%zu] is not a non-negative integer", name, i);
		t->dims[i] = x;
		if (x != 0 && bytes > UINT64_MAX / x)
			return BAD("safetensors: tensor \"%s\": shape overflows 64 bits at shape[%zu]", name, i);
		bytes *= x;
	}
	t->ndim = (uint32_t)nd;
	if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_u64(json_array_get(jo, 0), &t->begin) ||
	    !get_u64(json_array_get(jo, 1), &t->end))
		return BAD("safetensors: tensor \"%s\": data_offsets is not [begin, end] of non-negative integers", name);
	if (t->begin > t->end)
		return BAD("safetensors: tensor \"%s\": data_offsets [%llu, %llu] end before they begin", name,
			   (unsigned long long)t->begin, (unsigned long long)t->end);
	if (t->end > data_size)
		return BAD("safetensors: tensor \"%s\": data_offsets [%llu, %llu] run past the %llu-byte data section "
			   "(truncated file?)", name, (unsigned long long)t->begin, (unsigned long long)t->end,
			   (unsigned long long)data_size);
	if (bytes != t->end - t->begin)
		return BAD("safetensors: tensor \"%s\": shape and dtype %s give %llu bytes, data_offsets hold %llu", name,
			   dt->name, (unsigned long long)bytes, (unsigned long long)(t->end - t->begin));
	t->dtype = dt->code;
	if (dt->code == 0)
		*unsup = dt;
	return LUTDB_OK;
}

/* Checks that the tensors tile [0, data_size) exactly. */
static int check_tiling(lutdb_st_file *f)
{
	lutdb_st_tensor **by = NULL;
	uint64_t pos = 0;
	size_t i;
	int rc = LUTDB_OK;

	if (f->count == 0) {
		if (f->data_size != 0)
			return BAD("safetensors: no tensors but a %llu-byte data section", (unsigned long long)f->data_size);
		return LUTDB_OK;
	}
	by = malloc(f->count * sizeof *by);
	if (by == NULL)
		return lutdb_fail(LUTDB_ENOMEM, "safetensors: %zu tensors", f->count);
	for (i = 0; i < f->count; i++)
		by[i] = &f->tensors[i];
	qsort(by, f->count, sizeof *by, cmp_offset);
	for (i = 0; i < f->count && rc == LUTDB_OK; i++) {
		const lutdb_st_tensor *t = by[i];

		if (t->begin > pos)
			rc = i == 0 ? BAD("safetensors: %llu unused bytes at the start of the data section, before tensor \"%s\"",
					  (unsigned long long)t->begin, t->name)
				    : BAD("safetensors: gap of %llu bytes between tensor \"%s\" (ends at %llu) and tensor \"%s\"",
					  (unsigned long long)(t->begin - pos), by[i - 1]->name, (unsigned long long)pos,
					  t->name);
		else if (t->begin < pos)
			rc = BAD("safetensors: tensor \"%s\" [%llu, %llu) overlaps tensor \"%s\" [%llu, %llu)", t->name,
				 (unsigned long long)t->begin, (unsigned long long)t->end, by[i - 1]->name,
				 (unsigned long long)by[i - 1]->begin, (unsigned long long)by[i - 1]->end);
		else
			pos = t->end;
	}
	if (rc == LUTDB_OK && pos != f->data_size)
		rc = BAD("safetensors: tensors end at byte %llu (after \"%s\") but the data section holds %llu bytes",
			 (unsigned long long)pos, by[f->count - 1]->name, (unsigned long long)f->data_size);
	free(by);
	return rc;
}

int lutdb_st_parse(const char *json, size_t json_len, uint64_t data_size, lutdb_st_file *out)
{
	const lutdb_json_doc doc = {"safetensors: header", LUTDB_ST_HEADER_MAX, LUTDB_EBADINPUT, 0, 0};
	json_t *root, *val;
	const char *key;
	const struct st_dtype *unsup = NULL, *u;
	const char *unsup_name = NULL;
	size_t n, cap, i;
	int rc = LUTDB_OK;

	if (out == NULL || (json == NULL && json_len > 0))
		return lutdb_fail(LUTDB_EINVAL, "safetensors: NULL argument");
	memset(out, 0, sizeof *out);
	out->data_size = data_size;
	if ((rc = lutdb_json_load(&doc, json ? json : "", json_len, &root)))
		return rc;
	if (!json_is_object(root)) {
		json_decref(root);
		return BAD("safetensors: header is not a JSON object");
	}
	cap = json_object_size(root);
	if (cap > (size_t)LUTDB_ST_MAX_TENSORS + 1 ||
	    (cap == (size_t)LUTDB_ST_MAX_TENSORS + 1 && json_object_get(root, LUTDB_ST_METADATA) == NULL)) {
		json_decref(root);
		return BAD("safetensors: %zu entries exceed the cap of %u tensors", cap, LUTDB_ST_MAX_TENSORS);
	}
	out->tensors = calloc(cap ? cap : 1, sizeof *out->tensors);
	if (out->tensors == NULL) {
		json_decref(root);
		return lutdb_fail(LUTDB_ENOMEM, "safetensors: %zu tensors", cap);
	}
	n = 0;
	json_object_foreach (root, key, val) {
		size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
		lutdb_st_tensor *t;

		if (klen == sizeof LUTDB_ST_METADATA - 1 && memcmp(key, LUTDB_ST_METADATA, klen) == 0) {
			rc = parse_metadata(val, out);
			if (rc != LUTDB_OK)
				break;
			continue;
		}
		if (klen == 0) {
			rc = BAD("safetensors: tensor with an empty name");
			break;
		}
		if (memchr(key, '\0', klen) != NULL) {
			rc = BAD("safetensors: tensor name \"%s\" contains a NUL byte", key);
			break;
		}
		if (klen > LUTDB_NAME_MAX) {
			rc = BAD("safetensors: tensor \"%.64s...\": name of %zu bytes (at most %d)", key, klen,
				 LUTDB_NAME_MAX);
			break;
		}
		t = &out->tensors[n];
		if ((t->name = dupn(key, klen)) == NULL) {
			rc = lutdb_fail(LUTDB_ENOMEM, "safetensors: tensor name");
			break;
		}
		t->name_len = klen;
		out->count = ++n;
		rc = parse_tensor(t->name, val, data_size, t, &u);
		if (rc != LUTDB_OK)
			break;
		if (u != NULL && unsup == NULL) {
			unsup = u;
			unsup_name = t->name;
		}
	}
	json_decref(root);
	if (rc == LUTDB_OK)
		rc = check_tiling(out);
	if (rc == LUTDB_OK && unsup != NULL)
		rc = lutdb_fail(LUTDB_EUNSUPPORTED, "safetensors: tensor \"%s\": dtype %s is not supported "
				"(lutdb holds F32, F16, BF16)", unsup_name, unsup->name);
	if (rc == LUTDB_OK) {
		qsort(out->tensors, out->count, sizeof *out->tensors, cmp_name);
		for (i = 1; i < out->count; i++)
			if (strcmp(out->tensors[i - 1].name, out->tensors[i].name) == 0) {
				rc = BAD("safetensors: duplicate tensor name \"%s\"", out->tensors[i].name);
				break;
			}
	}
	if (rc != LUTDB_OK)
		lutdb_st_free(out);
	return rc;
}

const lutdb_st_tensor *lutdb_st_find(const lutdb_st_file *f, const char *name)
{
	size_t lo = 0, hi;

	if (f == NULL || name == NULL)
		return NULL;
	hi = f->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, f->tensors[mid].name);

		if (c == 0)
			return &f->tensors[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

uint64_t lutdb_st_numel(const lutdb_st_tensor *t)
{
	uint64_t n = 1;
	uint32_t i;

	for (i = 0; i < t->ndim && i < LUTDB_TENSOR_MAX_DIMS; i++)
		n *= t->dims[i];
	return n;
}
