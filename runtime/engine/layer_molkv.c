/*
 * layer_molkv.c - the MoLKV expert term of one layer over the rows of a pass
 * (layer.c has the rest of the layer):
 *
 *   E_h = sum_{s,n} softmax_{s,n}(q_h . key[id_s][l][n]_h / sqrt(dk/H))
 *         value[id_s][l][n]_h, s in (t - W, t] (all s <= t if W == 0),
 *   q = expert_query x
 *
 * (E: p->experts, q: p->gate; see engine_internal.h.)  Arithmetic only, on
 * the token rows resolved before the pass (rows.c); every (row, head)
 * output is computed by one task, in one fixed order, from its own row and
 * its own sequence only, so neither thread counts nor the other rows of the
 * pass change a bit.
 */
#include <math.h>
#include <string.h>

#include "engine_internal.h"

/* MoLKV expert term of (row, expert head) pairs [b, e): attention of the
 * expert query over the N keys of every token in the row's sequence's
 * window, mixing their values.  A layer's slice of a token row is its N
 * keys [N][dk], then its N values [N][d]; a head reads its chunk of each.
 * One kernel call scores the whole window and one sums its values
 * (kernels.h, "MoLKV"), decoding a quantized table in registers: the bits
 * of one lk_table_dot per key and one lk_table_axpy per value, in position
 * order, without 1 + N calls per position. */
static void molkv_range(lr_pass *p, void *ctx, int task, size_t b, size_t e)
{
	const uint32_t l = *(const uint32_t *)ctx;
	const lutdb_model *m = p->m;
	float *scores = p->task_scores + (size_t)task * p->task_scores_len;
	const uint32_t key_chunk = m->dk / m->H, value_chunk = m->d / m->H, N = m->N;
	const float scale = (float)sqrt((double)key_chunk);
	const size_t keys_at = (size_t)l * m->layer_row_bytes;
	const size_t values_at = keys_at + lk_dt_bytes(m->tdt, (size_t)N * m->dk);

	for (size_t idx = b; idx < e; idx++) {
		uint32_t i = (uint32_t)(idx / m->H), head = (uint32_t)(idx % m->H);
		uint32_t t = p->row_pos[i], s0 = (m->W && t + 1 > m->W) ? t + 1 - m->W : 0;
		const unsigned char *const *rows = p->row_seq[i]->token_rows + s0;
		const size_t npos = (size_t)t + 1 - s0, k = npos * N;
		const float *q = p->gate + (size_t)i * m->dk + (size_t)head * key_chunk;
		lk_table_attn_scores(m->tdt, rows, keys_at, npos, N, m->dk, (size_t)head * key_chunk, key_chunk, q,
				     scores);
		for (size_t z = 0; z < k; z++)
			scores[z] = scores[z] / scale;
		lk_softmax(scores, k);
		float *out = p->experts + (size_t)i * m->d + (size_t)head * value_chunk;
		lk_table_attn_values(m->tdt, rows, values_at, npos, N, m->d, (size_t)head * value_chunk, value_chunk,
				     scores, out);
	}
}

/* Multiply-adds of the MoLKV expert term over the pass's rows. */
static uint64_t molkv_work(const lr_pass *p)
{
	const lutdb_model *m = p->m;
	uint64_t keys = 0;
	for (uint32_t i = 0; i < p->rows; i++) {
		uint64_t t = (uint64_t)p->row_pos[i] + 1;
		keys += m->W && m->W < t ? m->W : t;
	}
	return keys * m->N * (m->dk + m->d);
}

void lr_molkv_block(lr_pass *p, uint32_t l)
{
	lr_parallel(p, (size_t)p->rows * p->m->H, molkv_work(p), molkv_range, &l);
}
