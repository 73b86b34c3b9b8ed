/*
 * seq.c - lr_seq, one sequence's context, and lr_pass, a forward pass over
 * the stacked rows of one or more sequences (engine_internal.h has the
 * layout).
 *
 * A session and a batch compute through the same pass: a session's pass is
 * one span (a chunk of its one sequence), a batch step's one span per
 * sequence it advances.  Rows never mix: every projection is a matmul over
 * the stacked rows (each output row bitwise a matvec of its own input row),
 * and attention and the expert term read only the row's own sequence.  So
 * which rows share a pass never changes a row's bits.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

float *lr_alloc_floats(size_t n, int *bad)
{
	void *p = NULL;
	if (*bad)
		return NULL;
	if (n > (SIZE_MAX - 63) / sizeof(float) || posix_memalign(&p, 64, (n * sizeof(float) + 63) & ~(size_t)63))
		p = NULL;
	if (!p)
		*bad = 1;
	return p;
}

/* Decoded-row slots a MoLKV sequence needs with a compressing codec: the
 * window's earlier rows and up to chunk new ones (all of them when the
 * window is unbounded).  MoLE reads only the pass's rows: the pass keeps
 * those. */
static uint32_t seq_slot_count(const lutdb_model *m, uint32_t cap, uint32_t chunk)
{
	uint64_t slots = m->W ? (uint64_t)m->W - 1 + chunk : cap;
	return (uint32_t)(slots < cap ? slots : cap);
}

void lr_seq_alloc(lr_seq *q, const lutdb_model *m, unsigned flags, uint32_t cap, uint32_t chunk, int *bad)
{
	size_t kv_floats = (size_t)m->L * cap * m->kvd;

	memset(q, 0, sizeof *q);
	q->cap = cap;
	q->key_cache = lr_alloc_floats(kv_floats, bad);
	q->value_cache = lr_alloc_floats(kv_floats, bad);
	if (!*bad && !(q->token_rows = calloc(cap ? cap : 1, sizeof *q->token_rows)))
		*bad = 1;
	const int decodes = !m->info->rows_in_place && !(flags & LUTDB_SESSION_NO_EXPERTS);
	if (!*bad && decodes && m->family == LUTDB_FAMILY_MOLKV) {
		q->nslots = seq_slot_count(m, cap, chunk);
		if (!(q->row_slots = malloc((size_t)q->nslots * m->info->token_row_bytes)))
			*bad = 1;
	}
}

void lr_seq_free(lr_seq *q)
{
	if (!q)
		return;
	free(q->key_cache);
	free(q->value_cache);
	free(q->token_rows);
	free(q->row_slots);
	memset(q, 0, sizeof *q);
}

/* Scores one pool task needs: an attention block (LR_ATTN_BLOCK rows of
 * up to cap positions) or a MoLKV window's keys (window * N), rounded to 16
 * floats. */
static size_t task_scores_len(const lutdb_model *m, uint32_t cap)
{
	uint32_t span = m->W && m->W < cap ? m->W : cap;
	size_t attn = (size_t)cap * LR_ATTN_BLOCK;
	size_t len = attn > (size_t)span * m->N ? attn : (size_t)span * m->N;
	return (len + 15) & ~(size_t)15;
}

void lr_pass_alloc(lr_pass *p, lutdb_model *m, unsigned flags, uint32_t max_rows, uint32_t max_spans,
		   uint32_t cap, int *bad)
{
	const size_t R = max_rows;

	memset(p, 0, sizeof *p);
	p->m = m;
	p->flags = flags;
	p->max_rows = max_rows;
	p->max_spans = max_spans;
	p->cap = cap;
	p->ntasks = m->threads;
	p->gate_width = m->family == LUTDB_FAMILY_MOLE ? m->N : m->dk;
	p->row_bytes = m->info->token_row_bytes;
	p->rope_cos = lr_alloc_floats((size_t)cap * m->hd, bad);
	p->rope_sin = lr_alloc_floats((size_t)cap * m->hd, bad);
	p->hidden = lr_alloc_floats(R * m->d, bad);
	p->normed = lr_alloc_floats(R * m->d, bad);
	p->query = lr_alloc_floats(R * m->qd, bad);
	p->new_keys = lr_alloc_floats(R * m->kvd, bad);
	p->new_values = lr_alloc_floats(R * m->kvd, bad);
	p->attn = lr_alloc_floats(R * m->qd, bad);
	p->mlp = lr_alloc_floats(R * m->I, bad);
	p->sublayer = lr_alloc_floats(R * m->d, bad);
	p->experts = lr_alloc_floats(R * m->d, bad);
	p->gate = lr_alloc_floats(R * p->gate_width, bad);
	p->task_scores_len = task_scores_len(m, cap);
	p->task_scores = lr_alloc_floats(p->task_scores_len * (size_t)p->ntasks, bad);
	if (!*bad && (!(p->spans = calloc(max_spans, sizeof *p->spans)) ||
		      !(p->row_seq = calloc(R, sizeof *p->row_seq)) || !(p->row_pos = calloc(R, sizeof *p->row_pos))))
		*bad = 1;
	const int decodes = !m->info->rows_in_place && !(flags & LUTDB_SESSION_NO_EXPERTS);
	if (!*bad && decodes && m->family == LUTDB_FAMILY_MOLE && !(p->row_slots = malloc(R * p->row_bytes)))
		*bad = 1;
	if (*bad)
		return;
	for (uint32_t pos = 0; pos < cap; pos++)
		lk_rope_table(p->rope_cos + (size_t)pos * m->hd, p->rope_sin + (size_t)pos * m->hd, m->hd, m->theta,
			      pos);
}

void lr_pass_free(lr_pass *p)
{
	if (!p)
		return;
	free(p->rope_cos);
	free(p->rope_sin);
	free(p->hidden);
	free(p->normed);
	free(p->query);
	free(p->new_keys);
	free(p->new_values);
	free(p->attn);
	free(p->mlp);
	free(p->sublayer);
	free(p->experts);
	free(p->gate);
	free(p->task_scores);
	free(p->spans);
	free(p->row_seq);
	free(p->row_pos);
	free(p->row_slots);
	memset(p, 0, sizeof *p);
}

void lr_pass_begin(lr_pass *p)
{
	p->nspans = 0;
	p->rows = 0;
}

lr_span *lr_pass_add(lr_pass *p, lr_seq *q, const uint32_t *ids, uint32_t c)
{
	lr_span *sp = &p->spans[p->nspans++];

	*sp = (lr_span){q, ids, q->pos, c, p->rows};
	for (uint32_t i = 0; i < c; i++) {
		p->row_seq[p->rows + i] = q;
		p->row_pos[p->rows + i] = q->pos + i;
	}
	p->rows += c;
	return sp;
}

void lr_pass_drop(lr_pass *p)
{
	p->rows -= p->spans[--p->nspans].c;
}

void lr_pass_forward(lr_pass *p)
{
	const lutdb_model *m = p->m;
	/* a quantized embedding row is whole blocks, decoded exactly */
	const size_t embed_row_bytes = lk_dt_bytes(m->embed.dtype, m->d);

	for (uint32_t k = 0; k < p->nspans; k++) {
		const lr_span *sp = &p->spans[k];
		for (uint32_t i = 0; i < sp->c; i++) {
			const unsigned char *row =
				(const unsigned char *)m->embed.data + (size_t)sp->ids[i] * embed_row_bytes;
			lk_to_f32(m->embed.dtype, row, p->hidden + (size_t)(sp->row0 + i) * m->d, m->d);
		}
	}
	for (uint32_t l = 0; l < m->L; l++)
		lr_layer_forward(p, l);
}

void lr_pass_commit(lr_pass *p)
{
	for (uint32_t k = 0; k < p->nspans; k++)
		p->spans[k].seq->pos = p->spans[k].p0 + p->spans[k].c;
}

void lr_pass_logits(lr_pass *p, const uint32_t *rows, uint32_t k, float *out)
{
	const lutdb_model *m = p->m;
	const lr_mat *norm = &m->final_norm;

	/* the normed rows of the last layer are spent: pack the chosen rows'
	 * final norms at its front */
	for (uint32_t i = 0; i < k; i++)
		lk_rmsnorm(p->normed + (size_t)i * m->d, p->hidden + (size_t)rows[i] * m->d, norm->dtype, norm->data,
			   m->d, m->eps);
	lr_linear(m, &m->head, p->normed, k, out, m->V);
}
