/*
 * fuzz_safetensors.c - safetensors headers: lutdb_st_header_len and
 * lutdb_st_parse on a whole file (u64 LE JSON length, JSON, data section).
 *
 * Contracts checked on success: tensors sorted by unique names of 1..255
 * bytes without NUL, known dtype, rank <= 8 with unused dims 0, byte ranges
 * of exactly numel * dtype size that tile [0, data_size) with no gap or
 * overlap, lutdb_st_find() finding each one, metadata sorted by key.  On
 * failure: an empty result and a known error code.
 */
#include "fuzz_common.h"
#include "safetensors.h"

static int by_begin(const void *a, const void *b)
{
	const lutdb_st_tensor *x = *(const lutdb_st_tensor *const *)a, *y = *(const lutdb_st_tensor *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t json_len = 0;
	lutdb_st_file f;
	int rc;

	rc = lutdb_st_header_len(data, size, &json_len);
	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(json_len == 0);
		if (size < 8)
			return 0;
		/* Parse the rest as JSON anyway: the parser must not care where
		 * its bytes came from. */
		json_len = size - 8;
	}
	FUZZ_CHECK(json_len <= size - 8);
	/* The JSON alone in an exact-size buffer: no NUL after it. */
	char *json = (char *)fuzz_dup(data + 8, (size_t)json_len);
	uint64_t data_size = size - 8 - json_len;
	rc = lutdb_st_parse(json, (size_t)json_len, data_size, &f);
	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(f.count == 0 && f.tensors == NULL && f.meta_count == 0 && f.meta == NULL);
		lutdb_st_free(&f);
		free(json);
		return 0;
	}
	FUZZ_CHECK(f.data_size == data_size);
	const lutdb_st_tensor **order = malloc((f.count ? f.count : 1) * sizeof *order);
	FUZZ_CHECK(order != NULL);
	for (size_t i = 0; i < f.count; i++) {
		const lutdb_st_tensor *t = &f.tensors[i];
		size_t esz = lutdb_dtype_size(t->dtype);
		FUZZ_CHECK(t->name && t->name_len >= 1 && t->name_len <= LUTDB_NAME_MAX &&
			   strlen(t->name) == t->name_len);
		FUZZ_CHECK(i == 0 || strcmp(f.tensors[i - 1].name, t->name) < 0);
		FUZZ_CHECK(esz != 0 && t->ndim <= LUTDB_TENSOR_MAX_DIMS);
		for (uint32_t k = t->ndim; k < LUTDB_TENSOR_MAX_DIMS; k++)
			FUZZ_CHECK(t->dims[k] == 0);
		uint64_t n = lutdb_st_numel(t);
		FUZZ_CHECK(t->begin <= t->end && t->end <= data_size);
		FUZZ_CHECK(n == 0 || esz <= UINT64_MAX / n);
		FUZZ_CHECK(t->end - t->begin == n * esz);
		FUZZ_CHECK(lutdb_st_find(&f, t->name) == t);
		order[i] = t;
	}
	/* Tiling: sorted by offset, contiguous from 0 to data_size. */
	qsort(order, f.count, sizeof *order, by_begin);
	uint64_t at = 0;
	for (size_t i = 0; i < f.count; i++) {
		FUZZ_CHECK(order[i]->begin == at);
		at = order[i]->end;
	}
	FUZZ_CHECK(at == data_size);
	for (size_t i = 0; i < f.meta_count; i++) {
		FUZZ_CHECK(f.meta[i].key && f.meta[i].value);
		FUZZ_CHECK(i == 0 || strcmp(f.meta[i - 1].key, f.meta[i].key) < 0);
	}
	FUZZ_CHECK(lutdb_st_find(&f, "") == NULL);
	free(order);
	lutdb_st_free(&f);
	free(json);
	return 0;
}
