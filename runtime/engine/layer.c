/*
 * layer.c - one decoder layer over a chunk of c positions p0.. :
 *
 *   x = RMSNorm_in(h); q, k, v = x Wq, x Wk, x Wv; RoPE(q, k); k, v -> cache
 *   h = h + o_proj(causal attention)
 *   x = RMSNorm_post(h); m = down(GELU(up(x)))
 *   MoLE:  E = sum_n softmax(router x)_n row[id_t][l][n]
 *   MoLKV: E_h = sum_{s,n} softmax_{s,n}(q_h . key[id_s][l][n]_h / sqrt(dk/H))
 *                value[id_s][l][n]_h, s in (t - W, t] (all s <= t if W == 0),
 *          q = expert_query x
 *   h = (h + m) + E
 *
 * (h: s->hidden, x: s->normed, m: s->sublayer, E: s->experts; see
 * engine_internal.h.)  Arithmetic only: the table rows were resolved and
 * checked before the chunk's first layer (rows.c), and s->token_rows[pos]
 * points at the token row of every position (layer-major).  Every
 * (position, head) output is computed by one task, in one fixed order, so
 * thread counts never change a bit.
 */
#include <math.h>
#include <string.h>

#include "engine_internal.h"

/* What the range functions below need besides the session. */
struct layer_at {
	uint32_t l, p0;
};

/* Causal attention of (position, head) pairs [b, e) of the chunk. */
static void attn_range(lutdb_session *s, void *ctx, int task, size_t b, size_t e)
{
	const struct layer_at *a = ctx;
	const lutdb_model *m = s->m;
	float *scores = s->task_scores + (size_t)task * s->task_scores_len;
	const float scale = (float)sqrt((double)m->hd);
	const uint32_t group = m->heads / m->kv_heads, hd = m->hd;
	const size_t kvd = m->kvd;
	const float *keys = s->key_cache + (size_t)a->l * s->cap * kvd;
	const float *values = s->value_cache + (size_t)a->l * s->cap * kvd;

	for (size_t idx = b; idx < e; idx++) {
		uint32_t i = (uint32_t)(idx / m->heads), head = (uint32_t)(idx % m->heads);
		uint32_t t = a->p0 + i, kv_head = head / group;
		const float *q = s->query + (size_t)i * m->qd + (size_t)head * hd;
		/* q . k_s for every s <= t: one matvec over the cache rows
		 * (row r of lk_matvec == lk_dot bitwise) */
		lk_matvec(LUTDB_DTYPE_F32, keys + (size_t)kv_head * hd, kvd, (size_t)t + 1, hd, q, scores);
		for (uint32_t sp = 0; sp <= t; sp++)
			scores[sp] = scores[sp] / scale;
		lk_softmax(scores, (size_t)t + 1);
		float *out = s->attn + (size_t)i * m->qd + (size_t)head * hd;
		memset(out, 0, hd * sizeof *out);
		for (uint32_t sp = 0; sp <= t; sp++)
			lk_axpy(LUTDB_DTYPE_F32, scores[sp], values + sp * kvd + (size_t)kv_head * hd, out, hd);
	}
}

/* MoLE expert term of chunk positions [b, e): the router-weighted sum of
 * the token's N expert vectors of layer l. */
static void mole_range(lutdb_session *s, void *ctx, int task, size_t b, size_t e)
{
	const struct layer_at *a = ctx;
	const lutdb_model *m = s->m;
	const size_t vec_bytes = (size_t)m->d * m->tesz;

	for (size_t i = b; i < e; i++) {
		float *weights = s->gate + i * m->N, *out = s->experts + i * m->d;
		const unsigned char *row = s->token_rows[a->p0 + i] + a->l * m->layer_row_bytes;
		lk_softmax(weights, m->N);
		memset(out, 0, m->d * sizeof *out);
		for (uint32_t n = 0; n < m->N; n++)
			lk_axpy(m->tdt, weights[n], row + n * vec_bytes, out, m->d);
	}
}

/* MoLKV expert term of (position, expert head) pairs [b, e): attention of
 * the expert query over the N keys of every token in the window, mixing
 * their values. */
static void molkv_range(lutdb_session *s, void *ctx, int task, size_t b, size_t e)
{
	const struct layer_at *a = ctx;
	const lutdb_model *m = s->m;
	float *scores = s->task_scores + (size_t)task * s->task_scores_len;
	const uint32_t key_chunk = m->dk / m->H, value_chunk = m->d / m->H, N = m->N;
	const float scale = (float)sqrt((double)key_chunk);
	const size_t es = m->tesz, values_off = (size_t)N * m->dk * es;

	for (size_t idx = b; idx < e; idx++) {
		uint32_t i = (uint32_t)(idx / m->H), head = (uint32_t)(idx % m->H);
		uint32_t t = a->p0 + i, s0 = (m->W && t + 1 > m->W) ? t + 1 - m->W : 0;
		const float *q = s->gate + (size_t)i * m->dk + (size_t)head * key_chunk;
		size_t k = 0;
		for (uint32_t sp = s0; sp <= t; sp++) {
			/* the N keys' head chunks: rows of stride dk */
			const unsigned char *row = s->token_rows[sp] + a->l * m->layer_row_bytes;
			lk_matvec(m->tdt, row + (size_t)head * key_chunk * es, m->dk, N, key_chunk, q, scores + k);
			k += N;
		}
		for (size_t z = 0; z < k; z++)
			scores[z] = scores[z] / scale;
		lk_softmax(scores, k);
		float *out = s->experts + (size_t)i * m->d + (size_t)head * value_chunk;
		memset(out, 0, value_chunk * sizeof *out);
		k = 0;
		for (uint32_t sp = s0; sp <= t; sp++) {
			const unsigned char *row = s->token_rows[sp] + a->l * m->layer_row_bytes + values_off;
			for (uint32_t n = 0; n < N; n++)
				lk_axpy(m->tdt, scores[k++], row + ((size_t)n * m->d + (size_t)head * value_chunk) * es,
					out, value_chunk);
		}
	}
}

/* h = h + o_proj(attention(RMSNorm_in(h))), appending the chunk's keys and
 * values to the cache. */
static void attention_block(lutdb_session *s, const lr_layer *w, struct layer_at *a, uint32_t c)
{
	const lutdb_model *m = s->m;
	const size_t d = m->d, hd = m->hd, nd = (size_t)c * d;
	const uint32_t p0 = a->p0;

	for (uint32_t i = 0; i < c; i++)
		lk_rmsnorm(s->normed + i * d, s->hidden + i * d, w->in_norm.dtype, w->in_norm.data, d, m->eps);
	float *keys = s->key_cache + ((size_t)a->l * s->cap + p0) * m->kvd;
	float *values = s->value_cache + ((size_t)a->l * s->cap + p0) * m->kvd;
	lr_linear(s, &w->q, s->normed, c, s->query, m->qd);
	lr_linear(s, &w->k, s->normed, c, keys, m->kvd);
	lr_linear(s, &w->v, s->normed, c, values, m->kvd);
	for (uint32_t i = 0; i < c; i++) {
		const float *cs = s->rope_cos + (size_t)(p0 + i) * hd, *sn = s->rope_sin + (size_t)(p0 + i) * hd;
		for (uint32_t j = 0; j < m->heads; j++)
			lk_rope(s->query + (size_t)i * m->qd + j * hd, hd, cs, sn);
		for (uint32_t j = 0; j < m->kv_heads; j++)
			lk_rope(keys + (size_t)i * m->kvd + j * hd, hd, cs, sn);
	}
	uint64_t span = (uint64_t)p0 + c;
	lr_parallel(s, (size_t)c * m->heads, (uint64_t)c * m->heads * span * hd * 2, attn_range, a);
	lr_linear(s, &w->o, s->attn, c, s->sublayer, d);
	for (size_t k = 0; k < nd; k++)
		s->hidden[k] = s->hidden[k] + s->sublayer[k];
}

/* s->sublayer = down(GELU(up(RMSNorm_post(h)))); s->normed keeps the norm
 * for the gate. */
static void mlp_block(lutdb_session *s, const lr_layer *w, uint32_t c)
{
	const lutdb_model *m = s->m;
	const size_t d = m->d;

	for (uint32_t i = 0; i < c; i++)
		lk_rmsnorm(s->normed + i * d, s->hidden + i * d, w->post_norm.dtype, w->post_norm.data, d, m->eps);
	lr_linear(s, &w->up, s->normed, c, s->mlp, m->I);
	lk_gelu_erf(s->mlp, (size_t)c * m->I);
	lr_linear(s, &w->down, s->mlp, c, s->sublayer, d);
}

/* s->experts = the MoLE or MoLKV term of the normed chunk. */
static void expert_block(lutdb_session *s, const lr_layer *w, struct layer_at *a, uint32_t c)
{
	const lutdb_model *m = s->m;
	const uint64_t span = (uint64_t)a->p0 + c;

	lr_linear(s, &w->gate, s->normed, c, s->gate, s->gate_width);
	if (m->family == LUTDB_FAMILY_MOLE) {
		lr_parallel(s, c, (uint64_t)c * m->N * m->d, mole_range, a);
	} else {
		uint64_t window = m->W && m->W < span ? m->W : span;
		lr_parallel(s, (size_t)c * m->H, (uint64_t)c * window * m->N * (m->dk + m->d), molkv_range,
			    a);
	}
}

void lr_layer_forward(lutdb_session *s, uint32_t l, uint32_t p0, uint32_t c)
{
	const lutdb_model *m = s->m;
	const lr_layer *w = &m->layers[l];
	const size_t nd = (size_t)c * m->d;
	struct layer_at a = {l, p0};

	attention_block(s, w, &a, c);
	mlp_block(s, w, c);
	if (s->flags & LUTDB_SESSION_NO_EXPERTS) {
		for (size_t k = 0; k < nd; k++)
			s->hidden[k] = s->hidden[k] + s->sublayer[k];
		return;
	}
	expert_block(s, w, &a, c);
	for (size_t k = 0; k < nd; k++)
		s->hidden[k] = (s->hidden[k] + s->sublayer[k]) + s->experts[k];
}
