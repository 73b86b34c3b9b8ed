/* plan.c - file size estimates and shard plans for the writer (plan.h). */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "geometry.h"
#include "lmdb_layout.h"
#include "record.h"

/* The file bytes a record of key_len + value_len bytes takes: its overflow
 * pages when LMDB stores it out of line, else twice its node size (leaf
 * pages are at least half full). */
static uint64_t record_bytes(size_t key_len, uint64_t value_len)
{
	/* LMDB puts a node out of line when 8 + key + value > (4096 - 16) / 2. */
	if (8 + key_len + value_len > (LUTDB_PAGE_SIZE - 16) / 2)
		return (value_len + 16 + LUTDB_PAGE_SIZE - 1) / LUTDB_PAGE_SIZE * LUTDB_PAGE_SIZE +
		       2 * (8 + key_len + 8);
	return 2 * (8 + key_len + value_len + 2);
}

void lutdb_plan_add_record(uint64_t *bytes, size_t key_len, uint64_t value_len)
{
	*bytes += record_bytes(key_len, value_len);
}

void lutdb_plan_extra(lutdb_plan_model *pm, const lutdb_writer_params *p)
{
	/* Names and single sizes are unknown: a record takes at most its
	 * payload plus a tensor header, its overflow run's page rounding and
	 * a node with the longest key (record_bytes's first case, rounded up
	 * by a whole page; its second case is always less). */
	const uint64_t per_record = LUTDB_TENSOR_HEADER_LEN + 16 + LUTDB_PAGE_SIZE - 1 + 2 * (8 + LUTDB_NAME_MAX + 8);

	pm->first_bytes = p->dense_bytes + p->dense_records * per_record;
	pm->config_bytes = record_bytes(strlen(LUTDB_META_CONFIG), LUTDB_REC_PREFIX + p->config_bytes);
}

uint64_t lutdb_plan_file_bytes(const lutdb_plan_model *pm, uint32_t nlayers, uint32_t tb, uint32_t te, int first)
{
	const uint64_t pg = LUTDB_PAGE_SIZE;
	/* 2 meta pages, main and named-database roots, branch pages, slack. */
	uint64_t stride = lutdb_geom_row_stride(pm->layer_bytes * nlayers), bt = pm->block_tokens, pages = 10;
	uint64_t blocks = (uint64_t)(te - 1) / bt - tb / bt + 1;
	/* Each block: a header page plus its rows; rows of the edge blocks are
	 * fewer, counting every block as full keeps this an upper bound. */
	uint64_t rows_in_full = (te - tb) < bt ? (te - tb) : bt;
	pages += blocks * (1 + (rows_in_full * stride + pg - 1) / pg) + blocks / 100 + 2;
	pages += (pm->config_bytes + pg - 1) / pg + 1;
	if (first)
		pages += (pm->first_bytes + pg - 1) / pg + 1;
	return pages * pg;
}

int lutdb_plan_shards(const lutdb_plan_model *pm, const lutdb_shard_opts *o, lutdb_manifest *m)
{
	uint32_t V = pm->vocab, L = pm->layers;
	int tok = !o->by_layer;
	uint32_t axis = tok ? V : L;
	uint32_t begin[LUTDB_MAX_OPEN_SHARDS];
	size_t n = 0;

	m->split = tok ? LUTDB_SPLIT_TOKEN : LUTDB_SPLIT_LAYER;
	if (o->count) {
		if (o->count > axis)
			return lutdb_fail(LUTDB_EINVAL, "shard count %u: more shards than %s (%u)", o->count,
					  tok ? "tokens" : "layers", axis);
		if (o->count > sizeof begin / sizeof *begin)
			return lutdb_fail(LUTDB_EINVAL, "shard count %u: at most %zu shards are written at once",
					  o->count, sizeof begin / sizeof *begin);
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
				uint64_t e = tok ? lutdb_plan_file_bytes(pm, L, a, mid, n == 0)
						 : lutdb_plan_file_bytes(pm, mid - a, 0, V, n == 0);
				if (e <= o->max_size)
					lo = mid;
				else
					hi = mid - 1;
			}
			if (lo == a) {
				uint64_t need = tok ? lutdb_plan_file_bytes(pm, L, a, a + 1, n == 0)
						    : lutdb_plan_file_bytes(pm, 1, 0, V, n == 0);
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
