/*
 * layer.c - one decoder layer over the rows of a pass (positions of one or
 * more sequences):
 *
 *   x = RMSNorm_in(h); q, k, v = x Wq, x Wk, x Wv; RoPE(q, k); k, v -> cache
 *   h = h + o_proj(causal attention)
 *   x = RMSNorm_post(h); m = down(GELU(up(x)))
 *   MoLE:  E = sum_n softmax(router x)_n row[id_t][l][n]
 *   MoLKV: E_h = sum_{s,n} softmax_{s,n}(q_h . key[id_s][l][n]_h / sqrt(dk/H))
 *                value[id_s][l][n]_h, s in (t - W, t] (all s <= t if W == 0),
 *          q = expert_query x  (layer_molkv.c)
 *   h = (h + m) + E
 *
 * (h: p->hidden, x: p->normed, m: p->sublayer, E: p->experts; see
 * engine_internal.h.)  Arithmetic only: the table rows were resolved and
 * checked before the pass's first layer (rows.c), and each sequence's
 * token_rows[pos] points at the token row of every position (layer-major).
 * Every (row, head) output is computed by one task, in one fixed order,
 * from its own row and its own sequence only, so neither thread counts nor
 * the other rows of the pass change a bit.
 */
#include <math.h>
#include <string.h>

#include "engine_internal.h"

/* The pass's attention blocks: each span's rows in runs of LR_ATTN_BLOCK
 * (the last one shorter). */
static uint32_t attn_blocks(const lr_pass *p)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < p->nspans; k++)
		n += (p->spans[k].c + LR_ATTN_BLOCK - 1) / LR_ATTN_BLOCK;
	return n;
}

/* Block gb (< attn_blocks) of the pass: its span, and in *first its first
 * row's index in the span. */
static const lr_span *attn_block_at(const lr_pass *p, uint32_t gb, uint32_t *first)
{
	uint32_t k = 0;
	for (;; k++) {
		uint32_t nb = (p->spans[k].c + LR_ATTN_BLOCK - 1) / LR_ATTN_BLOCK;
		if (gb < nb)
			break;
		gb -= nb;
	}
	*first = gb * LR_ATTN_BLOCK;
	return &p->spans[k];
}

/* Causal attention of (head, block) pairs [b, e) of the pass, head-major
 * (pair head * blocks + block), so that a split into contiguous ranges
 * gives every task whole heads of the early and the late, costlier rows
 * alike.  A block's rows are consecutive positions t0 .. t0 + rows - 1 of
 * one sequence; each key and value row is read once for all of them.
 * Every row's arithmetic is the one it has alone (a decoding step is a
 * block of one row): its scores are lk_dot's (a column of lk_matmul is
 * lk_matvec bitwise; the positions past the row's own that the rectangle
 * also scores are left out of its softmax), its output the lk_axpy chain
 * over its positions (lk_attn_values). */
static void attn_range(lr_pass *p, void *ctx, int task, size_t b, size_t e)
{
	const uint32_t l = *(const uint32_t *)ctx;
	const lutdb_model *m = p->m;
	float *scores = p->task_scores + (size_t)task * p->task_scores_len;
	const float scale = (float)sqrt((double)m->hd);
	const uint32_t group = m->heads / m->kv_heads, hd = m->hd, nblocks = attn_blocks(p);
	const size_t kvd = m->kvd, qd = m->qd;

	for (size_t idx = b; idx < e; idx++) {
		uint32_t head = (uint32_t)(idx / nblocks), kv_head = head / group, first;
		const lr_span *sp = attn_block_at(p, (uint32_t)(idx % nblocks), &first);
		const uint32_t rows = sp->c - first < LR_ATTN_BLOCK ? sp->c - first : LR_ATTN_BLOCK;
		const uint32_t t0 = sp->p0 + first, npos = t0 + rows;
		const lr_seq *q = sp->seq;
		const float *keys = q->key_cache + (size_t)l * q->cap * kvd + (size_t)kv_head * hd;
		const float *values = q->value_cache + (size_t)l * q->cap * kvd + (size_t)kv_head * hd;
		const size_t row0 = (size_t)sp->row0 + first;
		/* scores[i * npos + s] = q_i . k_s for s < npos */
		lk_matmul(LUTDB_DTYPE_F32, keys, kvd, npos, hd, p->query + row0 * qd + (size_t)head * hd, rows, qd,
			  scores, npos);
		for (uint32_t i = 0; i < rows; i++) {
			float *si = scores + (size_t)i * npos;
			for (uint32_t s = 0; s <= t0 + i; s++)
				si[s] = si[s] / scale;
			lk_softmax(si, (size_t)t0 + i + 1);
		}
		lk_attn_values(scores, npos, rows, t0, values, kvd, hd, p->attn + row0 * qd + (size_t)head * hd, qd);
	}
}

/* MoLE expert term of rows [b, e): the router-weighted sum of the token's
 * N expert vectors of layer l, decoded in registers as they are mixed
 * (lk_table_axpy: no row of floats, whatever the table dtype). */
static void mole_range(lr_pass *p, void *ctx, int task, size_t b, size_t e)
{
	const uint32_t l = *(const uint32_t *)ctx;
	const lutdb_model *m = p->m;

	for (size_t i = b; i < e; i++) {
		float *weights = p->gate + i * m->N, *out = p->experts + i * m->d;
		const unsigned char *row = p->row_seq[i]->token_rows[p->row_pos[i]] + l * m->layer_row_bytes;
		lk_softmax(weights, m->N);
		memset(out, 0, m->d * sizeof *out);
		for (uint32_t n = 0; n < m->N; n++)
			lk_table_axpy(m->tdt, weights[n], row, (size_t)n * m->d, out, m->d);
	}
}

/* Multiply-adds of attention over the pass's rows (each row reads its
 * positions 0..t), for lr_parallel's threshold. */
static uint64_t attention_work(const lr_pass *p)
{
	uint64_t span = 0;
	for (uint32_t k = 0; k < p->nspans; k++)
		span += (uint64_t)p->spans[k].c * (p->spans[k].p0 + p->spans[k].c);
	return span * p->m->heads * p->m->hd * 2;
}

/* h = h + o_proj(attention(RMSNorm_in(h))), appending the rows' keys and
 * values to their sequences' caches. */
static void attention_block(lr_pass *p, const lr_layer *w, uint32_t l)
{
	const lutdb_model *m = p->m;
	const uint32_t R = p->rows;
	const size_t d = m->d, hd = m->hd, kvd = m->kvd, nd = (size_t)R * d;

	for (uint32_t i = 0; i < R; i++)
		lk_rmsnorm(p->normed + i * d, p->hidden + i * d, w->in_norm.dtype, w->in_norm.data, d, m->eps);
	lr_linear(m, &w->q, p->normed, R, p->query, m->qd);
	lr_linear(m, &w->k, p->normed, R, p->new_keys, kvd);
	lr_linear(m, &w->v, p->normed, R, p->new_values, kvd);
	for (uint32_t i = 0; i < R; i++) {
		const size_t pos = p->row_pos[i];
		const float *cs = p->rope_cos + pos * hd, *sn = p->rope_sin + pos * hd;
		for (uint32_t j = 0; j < m->heads; j++)
			lk_rope(p->query + (size_t)i * m->qd + j * hd, hd, cs, sn);
		for (uint32_t j = 0; j < m->kv_heads; j++)
			lk_rope(p->new_keys + (size_t)i * kvd + j * hd, hd, cs, sn);
	}
	for (uint32_t k = 0; k < p->nspans; k++) {
		const lr_span *sp = &p->spans[k];
		const size_t at = ((size_t)l * sp->seq->cap + sp->p0) * kvd;
		const size_t bytes = (size_t)sp->c * kvd * sizeof(float);
		memcpy(sp->seq->key_cache + at, p->new_keys + (size_t)sp->row0 * kvd, bytes);
		memcpy(sp->seq->value_cache + at, p->new_values + (size_t)sp->row0 * kvd, bytes);
	}
	lr_parallel(p, (size_t)attn_blocks(p) * m->heads, attention_work(p), attn_range, &l);
	lr_linear(m, &w->o, p->attn, R, p->sublayer, d);
	for (size_t k = 0; k < nd; k++)
		p->hidden[k] = p->hidden[k] + p->sublayer[k];
}

/* p->sublayer = down(GELU(up(RMSNorm_post(h)))); p->normed keeps the norm
 * for the gate. */
static void mlp_block(lr_pass *p, const lr_layer *w)
{
	const lutdb_model *m = p->m;
	const uint32_t R = p->rows;
	const size_t d = m->d;

	for (uint32_t i = 0; i < R; i++)
		lk_rmsnorm(p->normed + i * d, p->hidden + i * d, w->post_norm.dtype, w->post_norm.data, d, m->eps);
	lr_linear(m, &w->up, p->normed, R, p->mlp, m->I);
	lk_gelu_erf(p->mlp, (size_t)R * m->I);
	lr_linear(m, &w->down, p->mlp, R, p->sublayer, d);
}

/* p->experts = the MoLE or MoLKV term of the normed rows. */
static void expert_block(lr_pass *p, const lr_layer *w, uint32_t l)
{
	const lutdb_model *m = p->m;
	const uint32_t R = p->rows;

	lr_linear(m, &w->gate, p->normed, R, p->gate, p->gate_width);
	if (m->family == LUTDB_FAMILY_MOLE)
		lr_parallel(p, R, (uint64_t)R * m->N * m->d, mole_range, &l);
	else
		lr_molkv_block(p, l);
}

void lr_layer_forward(lr_pass *p, uint32_t l)
{
	const lutdb_model *m = p->m;
	const lr_layer *w = &m->layers[l];
	const size_t nd = (size_t)p->rows * m->d;

	attention_block(p, w, l);
	mlp_block(p, w);
	if (p->flags & LUTDB_SESSION_NO_EXPERTS) {
		for (size_t k = 0; k < nd; k++)
			p->hidden[k] = p->hidden[k] + p->sublayer[k];
		return;
	}
	expert_block(p, w, l);
	for (size_t k = 0; k < nd; k++)
		p->hidden[k] = (p->hidden[k] + p->sublayer[k]) + p->experts[k];
}
