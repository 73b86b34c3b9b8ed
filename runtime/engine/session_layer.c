/*
 * session_layer.c - one decoder layer over a chunk of c positions p0.. :
 *
 *   x = RMSNorm_in(h); q, k, v = x Wq, x Wk, x Wv; RoPE(q, k); k, v -> cache
 *   h = h + o_proj(causal attention)
 *   x = RMSNorm_post(h); m = down(GELU(up(x)))
 *   MoLE:  E = sum_n softmax(router x)_n row[id_t][l][n]
 *   MoLKV: E_h = sum_{s,n} softmax_{s,n}(q_h . key[id_s][l][n]_h / sqrt(dk/H))
 *                value[id_s][l][n]_h, s in (t - W, t] (all s <= t if W == 0)
 *   h = (h + m) + E
 *
 * Rows of the table are read in place (s->rows[pos] points at the token row,
 * layer-major).  Every (position, head) output is computed by one task, in
 * one fixed order, so thread counts never change a bit.
 */
#include <math.h>
#include <string.h>

#include "engine_internal.h"

struct lctx {
	uint32_t l, p0;
};

static void attn_range(lutdb_session *s, void *ctx, int task, size_t b, size_t e)
{
	const struct lctx *a = ctx;
	const lutdb_model *m = s->m;
	float *sc = s->tscr + (size_t)task * s->tscr_len;
	const float scale = (float)sqrt((double)m->hd);
	const uint32_t group = m->heads / m->kv_heads, hd = m->hd;
	const size_t kvd = m->kvd;
	const float *Kl = s->kc + (size_t)a->l * s->cap * kvd, *Vl = s->vc + (size_t)a->l * s->cap * kvd;

	for (size_t idx = b; idx < e; idx++) {
		uint32_t i = (uint32_t)(idx / m->heads), j = (uint32_t)(idx % m->heads);
		uint32_t t = a->p0 + i, kh = j / group;
		const float *q = s->q + (size_t)i * m->qd + (size_t)j * hd;
		/* q . k_s for every s <= t: one matvec over the cache rows
		 * (row r of lk_matvec == lk_dot bitwise) */
		lk_matvec(LUTDB_DTYPE_F32, Kl + (size_t)kh * hd, kvd, (size_t)t + 1, hd, q, sc);
		for (uint32_t sp = 0; sp <= t; sp++)
			sc[sp] = sc[sp] / scale;
		lk_softmax(sc, (size_t)t + 1);
		float *o = s->att + (size_t)i * m->qd + (size_t)j * hd;
		memset(o, 0, hd * sizeof *o);
		for (uint32_t sp = 0; sp <= t; sp++)
			lk_axpy(LUTDB_DTYPE_F32, sc[sp], Vl + sp * kvd + (size_t)kh * hd, o, hd);
	}
}

static void mole_range(lutdb_session *s, void *ctx, int task, size_t b, size_t e)
{
	const struct lctx *a = ctx;
	const lutdb_model *m = s->m;
	const size_t vbytes = (size_t)m->d * m->tesz;

	for (size_t i = b; i < e; i++) {
		float *g = s->g + i * m->N, *o = s->ex + i * m->d;
		const unsigned char *row = s->rows[a->p0 + i] + a->l * m->layer_row_bytes;
		lk_softmax(g, m->N);
		memset(o, 0, m->d * sizeof *o);
		for (uint32_t n = 0; n < m->N; n++)
			lk_axpy(m->tdt, g[n], row + n * vbytes, o, m->d);
	}
}

static void molkv_range(lutdb_session *s, void *ctx, int task, size_t b, size_t e)
{
	const struct lctx *a = ctx;
	const lutdb_model *m = s->m;
	float *sc = s->tscr + (size_t)task * s->tscr_len;
	const uint32_t ck = m->dk / m->H, cv = m->d / m->H, N = m->N;
	const float scale = (float)sqrt((double)ck);
	const size_t es = m->tesz, voff = (size_t)N * m->dk * es;

	for (size_t idx = b; idx < e; idx++) {
		uint32_t i = (uint32_t)(idx / m->H), hh = (uint32_t)(idx % m->H);
		uint32_t t = a->p0 + i, s0 = (m->W && t + 1 > m->W) ? t + 1 - m->W : 0;
		const float *qh = s->g + (size_t)i * m->dk + (size_t)hh * ck;
		size_t k = 0;
		for (uint32_t sp = s0; sp <= t; sp++) {
			/* the N keys' head-hh chunks: rows of stride dk */
			const unsigned char *row = s->rows[sp] + a->l * m->layer_row_bytes;
			lk_matvec(m->tdt, row + (size_t)hh * ck * es, m->dk, N, ck, qh, sc + k);
			k += N;
		}
		for (size_t z = 0; z < k; z++)
			sc[z] = sc[z] / scale;
		lk_softmax(sc, k);
		float *o = s->ex + (size_t)i * m->d + (size_t)hh * cv;
		memset(o, 0, cv * sizeof *o);
		k = 0;
		for (uint32_t sp = s0; sp <= t; sp++) {
			const unsigned char *row = s->rows[sp] + a->l * m->layer_row_bytes + voff;
			for (uint32_t n = 0; n < N; n++)
				lk_axpy(m->tdt, sc[k++], row + ((size_t)n * m->d + (size_t)hh * cv) * es, o, cv);
		}
	}
}

int lr_layer_forward(lutdb_session *s, uint32_t l, uint32_t p0, uint32_t c, const uint32_t *ids)
{
	lutdb_model *m = s->m;
	const lr_layer *y = &m->layers[l];
	const size_t d = m->d, hd = m->hd, nd = (size_t)c * d;
	struct lctx a = {l, p0};
	int rc;

	/* attention */
	for (uint32_t i = 0; i < c; i++)
		lk_rmsnorm(s->x + i * d, s->h + i * d, y->in_norm.dtype, y->in_norm.data, d, m->eps);
	float *K = s->kc + ((size_t)l * s->cap + p0) * m->kvd, *V = s->vc + ((size_t)l * s->cap + p0) * m->kvd;
	lr_linear(s, &y->q, s->x, c, s->q, m->qd);
	lr_linear(s, &y->k, s->x, c, K, m->kvd);
	lr_linear(s, &y->v, s->x, c, V, m->kvd);
	for (uint32_t i = 0; i < c; i++) {
		const float *cs = s->rcos + (size_t)(p0 + i) * hd, *sn = s->rsin + (size_t)(p0 + i) * hd;
		for (uint32_t j = 0; j < m->heads; j++)
			lk_rope(s->q + (size_t)i * m->qd + j * hd, hd, cs, sn);
		for (uint32_t j = 0; j < m->kv_heads; j++)
			lk_rope(K + (size_t)i * m->kvd + j * hd, hd, cs, sn);
	}
	uint64_t span = (uint64_t)p0 + c;
	lr_parallel(s, (size_t)c * m->heads, (uint64_t)c * m->heads * span * hd * 2, attn_range, &a);
	lr_linear(s, &y->o, s->att, c, s->mm, d);
	for (size_t k = 0; k < nd; k++)
		s->h[k] = s->h[k] + s->mm[k];

	/* MLP */
	for (uint32_t i = 0; i < c; i++)
		lk_rmsnorm(s->x + i * d, s->h + i * d, y->post_norm.dtype, y->post_norm.data, d, m->eps);
	lr_linear(s, &y->up, s->x, c, s->u, m->I);
	lk_gelu_erf(s->u, (size_t)c * m->I);
	lr_linear(s, &y->down, s->u, c, s->mm, d);

	if (s->flags & LUTDB_SESSION_NO_EXPERTS) {
		for (size_t k = 0; k < nd; k++)
			s->h[k] = s->h[k] + s->mm[k];
		return LUTDB_OK;
	}

	/* experts: the rows are read once per chunk, after layer 0's
	 * attention and MLP (their prefetch overlaps that work) */
	if (l == 0 && (rc = lr_resolve_rows(s, p0, c, ids)))
		return rc;
	lr_linear(s, &y->gate, s->x, c, s->g, s->gw);
	if (m->family == 1) {
		lr_parallel(s, c, (uint64_t)c * m->N * d, mole_range, &a);
	} else {
		uint64_t w = m->W && m->W < span ? m->W : span;
		lr_parallel(s, (size_t)c * m->H, (uint64_t)c * w * m->N * (m->dk + d), molkv_range, &a);
	}
	for (size_t k = 0; k < nd; k++)
		s->h[k] = (s->h[k] + s->mm[k]) + s->ex[k];
	return LUTDB_OK;
}
