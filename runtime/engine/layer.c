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

/* Causal attention of (row, head) pairs [b, e) of the pass: each row's
 * query against its own sequence's cache. */
static void attn_range(lr_pass *p, void *ctx, int task, size_t b, size_t e)
{
	const uint32_t l = *(const uint32_t *)ctx;
	const lutdb_model *m = p->m;
	float *scores = p->task_scores + (size_t)task * p->task_scores_len;
	const float scale = (float)sqrt((double)m->hd);
	const uint32_t group = m->heads / m->kv_heads, hd = m->hd;
	const size_t kvd = m->kvd;

	for (size_t idx = b; idx < e; idx++) {
		uint32_t i = (uint32_t)(idx / m->heads), head = (uint32_t)(idx % m->heads);
		const lr_seq *q = p->row_seq[i];
		uint32_t t = p->row_pos[i], kv_head = head / group;
		const float *keys = q->key_cache + (size_t)l * q->cap * kvd;
		const float *values = q->value_cache + (size_t)l * q->cap * kvd;
		const float *query = p->query + (size_t)i * m->qd + (size_t)head * hd;
		/* q . k_s for every s <= t: one matvec over the cache rows
		 * (row r of lk_matvec == lk_dot bitwise) */
		lk_matvec(LUTDB_DTYPE_F32, keys + (size_t)kv_head * hd, kvd, (size_t)t + 1, hd, query, scores);
		for (uint32_t sp = 0; sp <= t; sp++)
			scores[sp] = scores[sp] / scale;
		lk_softmax(scores, (size_t)t + 1);
		float *out = p->attn + (size_t)i * m->qd + (size_t)head * hd;
		memset(out, 0, hd * sizeof *out);
		for (uint32_t sp = 0; sp <= t; sp++)
			lk_axpy(LUTDB_DTYPE_F32, scores[sp], values + sp * kvd + (size_t)kv_head * hd, out, hd);
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
	lr_parallel(p, (size_t)R * m->heads, attention_work(p), attn_range, &l);
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
