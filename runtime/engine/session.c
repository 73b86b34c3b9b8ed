/*
 * session.c - lutdb_session: the KV cache, the RoPE tables, the table-row
 * pointers and slots of every position and the chunk buffers, all
 * allocated at creation (feeding allocates nothing); reset and accessors.
 * Feeding is feed.c.
 */
#include <stdlib.h>

#include "engine_internal.h"
#include "fail.h"
#include "opts.h"

/* 64-byte aligned floats, rounded up to whole cache lines; sets *bad (and
 * returns NULL) on failure, and does nothing once *bad is set. */
static float *alloc_floats(size_t n, int *bad)
{
	void *p = NULL;
	if (*bad)
		return NULL;
	if (posix_memalign(&p, 64, (n * sizeof(float) + 63) & ~(size_t)63))
		p = NULL;
	if (!p)
		*bad = 1;
	return p;
}

/* Scores one pool task needs: an attention row (up to cap positions) or a
 * MoLKV window's keys (window * N), rounded to 16 floats. */
static size_t task_scores_len(const lutdb_model *m, uint32_t cap)
{
	uint32_t span = m->W && m->W < cap ? m->W : cap;
	size_t len = (size_t)cap > (size_t)span * m->N ? cap : (size_t)span * m->N;
	return (len + 15) & ~(size_t)15;
}

/* Decoded-row slots a compressing codec needs: MoLE reads only the chunk's
 * rows, MoLKV also the window's earlier ones (all of them when unbounded). */
static uint32_t row_slot_count(const lutdb_model *m, uint32_t cap, uint32_t chunk)
{
	uint64_t slots = m->family == LUTDB_FAMILY_MOLE ? chunk : (m->W ? (uint64_t)m->W - 1 + chunk : cap);
	return (uint32_t)(slots < cap ? slots : cap);
}

int lutdb_session_new(lutdb_model *m, const lutdb_session_opts *opts, lutdb_session **out)
{
	lutdb_session *s;
	int bad = 0, rc;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_new: out is NULL");
	*out = NULL;
	if (!m)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_new: model is NULL");
	if ((rc = lutdb_opts_check(opts, opts ? opts->size : 0, sizeof *opts,
				   LUTDB_OPTS_MIN(lutdb_session_opts, flags), "lutdb_session_new")))
		return rc;
	uint32_t cap = LUTDB_OPT(opts, capacity, 0);
	if (!cap)
		cap = m->max_pos;
	if (cap > m->max_pos)
		return lutdb_fail(LUTDB_ECONTEXT, "session capacity %u exceeds max_position_embeddings %u", cap,
				  m->max_pos);
	if (!(s = calloc(1, sizeof *s)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_session_new");
	s->m = m;
	s->cap = cap;
	s->flags = LUTDB_OPT(opts, flags, 0);
	s->chunk = cap < LR_CHUNK ? cap : LR_CHUNK;
	s->ntasks = m->threads;
	s->gate_width = m->family == LUTDB_FAMILY_MOLE ? m->N : m->dk;
	size_t C = s->chunk, kv_floats = (size_t)m->L * cap * m->kvd;
	s->key_cache = alloc_floats(kv_floats, &bad);
	s->value_cache = alloc_floats(kv_floats, &bad);
	s->rope_cos = alloc_floats((size_t)cap * m->hd, &bad);
	s->rope_sin = alloc_floats((size_t)cap * m->hd, &bad);
	s->hidden = alloc_floats(C * m->d, &bad);
	s->normed = alloc_floats(C * m->d, &bad);
	s->query = alloc_floats(C * m->qd, &bad);
	s->attn = alloc_floats(C * m->qd, &bad);
	s->mlp = alloc_floats(C * m->I, &bad);
	s->sublayer = alloc_floats(C * m->d, &bad);
	s->experts = alloc_floats(C * m->d, &bad);
	s->gate = alloc_floats(C * s->gate_width, &bad);
	s->logits = alloc_floats(m->V, &bad);
	s->logits_block = alloc_floats((size_t)LR_LOGIT_ROWS * m->V, &bad);
	s->task_scores_len = task_scores_len(m, cap);
	s->task_scores = alloc_floats(s->task_scores_len * (size_t)s->ntasks, &bad);
	if (!bad && !(s->token_rows = calloc(cap, sizeof *s->token_rows)))
		bad = 1;
	s->row_bytes = m->info->token_row_bytes;
	if (!bad && !m->info->rows_in_place && !(s->flags & LUTDB_SESSION_NO_EXPERTS)) {
		s->nslots = row_slot_count(m, cap, s->chunk);
		if (!(s->row_slots = malloc((size_t)s->nslots * s->row_bytes)))
			bad = 1;
	}
	if (bad) {
		lutdb_session_free(s);
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_session_new: KV cache and buffers for %u positions", cap);
	}
	for (uint32_t p = 0; p < cap; p++)
		lk_rope_table(s->rope_cos + (size_t)p * m->hd, s->rope_sin + (size_t)p * m->hd, m->hd, m->theta, p);
	*out = s;
	return LUTDB_OK;
}

void lutdb_session_free(lutdb_session *s)
{
	if (!s)
		return;
	free(s->key_cache);
	free(s->value_cache);
	free(s->rope_cos);
	free(s->rope_sin);
	free(s->hidden);
	free(s->normed);
	free(s->query);
	free(s->attn);
	free(s->mlp);
	free(s->sublayer);
	free(s->experts);
	free(s->gate);
	free(s->logits);
	free(s->logits_block);
	free(s->task_scores);
	free(s->token_rows);
	free(s->row_slots);
	free(s);
}

void lutdb_session_reset(lutdb_session *s)
{
	if (!s)
		return;
	s->pos = 0;
	s->failed = 0;
	s->have_logits = 0;
}

uint32_t lutdb_session_position(const lutdb_session *s)
{
	return s->pos;
}

uint32_t lutdb_session_capacity(const lutdb_session *s)
{
	return s->cap;
}

const float *lutdb_session_logits(const lutdb_session *s)
{
	return s && s->have_logits ? s->logits : NULL;
}
