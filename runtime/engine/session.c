/*
 * session.c - lutdb_session: the KV cache and per-position table rows, and
 * feeding ids through the model in chunks of up to LR_CHUNK positions.
 *
 * A chunk of c positions runs every layer as matrix-matrix products over its
 * c rows (lk_matmul, bitwise equal to c matrix-vector products), so a prompt
 * fed at once and fed one id at a time give identical logits.  Work inside a
 * layer is split over the model's pool by output rows (projections) or by
 * (position, head) pairs (attention, experts): every output is computed by
 * one task in a fixed order, whatever the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fail.h"

/* ---- parallel loops --------------------------------------------------------- */
struct par_job {
	lutdb_session *s;
	size_t n;
	lr_range_fn fn;
	void *ctx;
};

static void par_task(void *ctx, int task, int ntasks)
{
	const struct par_job *j = ctx;
	size_t b, e;
	lk_split_range(j->n, ntasks, task, 1, &b, &e);
	if (b < e)
		j->fn(j->s, j->ctx, task, b, e);
}

void lr_parallel(lutdb_session *s, size_t n, uint64_t work, lr_range_fn fn, void *ctx)
{
	struct par_job j = {s, n, fn, ctx};
	int nt = s->ntasks;

	if (!n)
		return;
	if ((size_t)nt > n)
		nt = (int)n;
	if (nt <= 1 || work < LR_MT_MIN_WORK)
		fn(s, ctx, 0, 0, n);
	else
		lk_pool_run(s->m->pool, par_task, &j, nt);
}

void lr_linear(lutdb_session *s, const lr_mat *w, const float *X, uint32_t c, float *Y, size_t ldy)
{
	if (c == 1)
		lk_matvec_mt(s->m->pool, w->dtype, w->data, w->cols, w->rows, w->cols, X, Y);
	else
		lk_matmul_mt(s->m->pool, w->dtype, w->data, w->cols, w->rows, w->cols, X, c, w->cols, Y,
			     ldy);
}

/* ---- lifecycle ------------------------------------------------------------- */
static void *alloc_f(size_t n, int *bad)
{
	void *p = NULL;
	if (*bad)
		return NULL;
	/* 64-byte aligned, rounded up to whole cache lines */
	if (posix_memalign(&p, 64, (n * sizeof(float) + 63) & ~(size_t)63))
		p = NULL;
	if (!p)
		*bad = 1;
	return p;
}

int lutdb_session_new(lutdb_model *m, const lutdb_session_opts *opts, lutdb_session **out)
{
	lutdb_session *s;
	uint32_t cap = opts ? opts->capacity : 0;
	int bad = 0;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_new: out is NULL");
	*out = NULL;
	if (!m)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_new: model is NULL");
	if (!cap)
		cap = m->max_pos;
	if (cap > m->max_pos)
		return lutdb_fail(LUTDB_ECONTEXT, "session capacity %u exceeds max_position_embeddings %u", cap,
				  m->max_pos);
	if (!(s = calloc(1, sizeof *s)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_session_new");
	s->m = m;
	s->cap = cap;
	s->flags = opts ? opts->flags : 0;
	s->chunk = cap < LR_CHUNK ? cap : LR_CHUNK;
	s->ntasks = m->threads;
	s->gw = m->family == 1 ? m->N : m->dk;
	size_t C = s->chunk, kvn = (size_t)m->L * cap * m->kvd;
	s->kc = alloc_f(kvn, &bad);
	s->vc = alloc_f(kvn, &bad);
	s->rcos = alloc_f((size_t)cap * m->hd, &bad);
	s->rsin = alloc_f((size_t)cap * m->hd, &bad);
	s->h = alloc_f(C * m->d, &bad);
	s->x = alloc_f(C * m->d, &bad);
	s->q = alloc_f(C * m->qd, &bad);
	s->att = alloc_f(C * m->qd, &bad);
	s->u = alloc_f(C * m->I, &bad);
	s->mm = alloc_f(C * m->d, &bad);
	s->ex = alloc_f(C * m->d, &bad);
	s->g = alloc_f(C * s->gw, &bad);
	s->logits = alloc_f(m->V, &bad);
	s->lchunk = alloc_f((size_t)LR_LOGIT_ROWS * m->V, &bad);
	/* scores of one (position, head): attention cap, MoLKV window * N */
	uint32_t span = m->W && m->W < cap ? m->W : cap;
	s->tscr_len = ((size_t)cap > (size_t)span * m->N ? cap : (size_t)span * m->N);
	s->tscr_len = (s->tscr_len + 15) & ~(size_t)15;
	s->tscr = alloc_f(s->tscr_len * (size_t)s->ntasks, &bad);
	if (!bad && !(s->rows = calloc(cap, sizeof *s->rows)))
		bad = 1;
	s->row_bytes = m->info->token_row_bytes;
	if (!bad && !m->info->rows_in_place && !(s->flags & LUTDB_SESSION_NO_EXPERTS)) {
		/* decoded rows: MoLE needs the chunk's; MoLKV the window's too */
		uint64_t slots = m->family == 1 ? C : (m->W ? (uint64_t)m->W - 1 + C : cap);
		s->nslots = (uint32_t)(slots < cap ? slots : cap);
		if (!(s->rowbuf = malloc((size_t)s->nslots * s->row_bytes)))
			bad = 1;
	}
	if (bad) {
		lutdb_session_free(s);
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_session_new: KV cache and buffers for %u positions", cap);
	}
	for (uint32_t p = 0; p < cap; p++)
		lk_rope_table(s->rcos + (size_t)p * m->hd, s->rsin + (size_t)p * m->hd, m->hd, m->theta, p);
	*out = s;
	return LUTDB_OK;
}

void lutdb_session_free(lutdb_session *s)
{
	if (!s)
		return;
	free(s->kc);
	free(s->vc);
	free(s->rcos);
	free(s->rsin);
	free(s->h);
	free(s->x);
	free(s->q);
	free(s->att);
	free(s->u);
	free(s->mm);
	free(s->ex);
	free(s->g);
	free(s->logits);
	free(s->lchunk);
	free(s->tscr);
	free(s->rows);
	free(s->rowbuf);
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

/* ---- rows ------------------------------------------------------------------ */
int lr_resolve_rows(lutdb_session *s, uint32_t p0, uint32_t c, const uint32_t *ids)
{
	lutdb_model *m = s->m;
	lutdb_row row;

	for (uint32_t i = 0; i < c; i++) {
		uint32_t p = p0 + i;
		unsigned char *scratch = s->rowbuf ? s->rowbuf + (size_t)(p % s->nslots) * s->row_bytes : NULL;
		int rc = lutdb_token_row(m->db, ids[i], 0, scratch, scratch ? s->row_bytes : 0, &row);
		if (rc)
			return rc;
		if (row.layer_first != 0 || row.layer_count != m->L || row.dtype != m->tdt)
			return lutdb_fail(LUTDB_ECORRUPT, "%s: table row of token %u has the wrong layout",
					  lutdb_path(m->db), ids[i]);
		s->rows[p] = row.data;
	}
	return LUTDB_OK;
}

/* ---- feed ------------------------------------------------------------------- */
static int final_logits(lutdb_session *s, uint32_t p0, uint32_t c, int last, lutdb_logits_fn fn, void *ctx)
{
	lutdb_model *m = s->m;
	const lr_mat *fn_w = &m->final_norm;

	if (!fn) {
		if (!last)
			return LUTDB_OK;
		const float *h = s->h + (size_t)(c - 1) * m->d;
		lk_rmsnorm(s->x, h, fn_w->dtype, fn_w->data, m->d, m->eps);
		lk_matvec_mt(m->pool, m->head.dtype, m->head.data, m->d, m->V, m->d, s->x, s->logits);
		s->have_logits = 1;
		return LUTDB_OK;
	}
	for (uint32_t r0 = 0; r0 < c; r0 += LR_LOGIT_ROWS) {
		uint32_t rn = c - r0 < LR_LOGIT_ROWS ? c - r0 : LR_LOGIT_ROWS;
		for (uint32_t i = 0; i < rn; i++)
			lk_rmsnorm(s->x + (size_t)i * m->d, s->h + (size_t)(r0 + i) * m->d, fn_w->dtype, fn_w->data,
				   m->d, m->eps);
		lr_linear(s, &m->head, s->x, rn, s->lchunk, m->V);
		for (uint32_t i = 0; i < rn; i++) {
			const float *row = s->lchunk + (size_t)i * m->V;
			int rc = fn(ctx, p0 + r0 + i, row, m->V);
			if (rc)
				return rc < 0 ? rc : lutdb_fail(LUTDB_EINTR, "stopped by the logits callback");
		}
	}
	if (last) {
		memcpy(s->logits, s->lchunk + (size_t)((c - 1) % LR_LOGIT_ROWS) * m->V, m->V * sizeof(float));
		s->have_logits = 1;
	}
	return LUTDB_OK;
}

static int feed_chunk(lutdb_session *s, const uint32_t *ids, uint32_t c, int last, lutdb_logits_fn fn,
		      void *ctx)
{
	lutdb_model *m = s->m;
	uint32_t p0 = s->pos;
	int rc;

	for (uint32_t i = 0; i < c; i++)
		lk_to_f32(m->embed.dtype, (const unsigned char *)m->embed.data + (size_t)ids[i] * m->d *
			  lr_esz(m->embed.dtype), s->h + (size_t)i * m->d, m->d);
	for (uint32_t l = 0; l < m->L; l++)
		if ((rc = lr_layer_forward(s, l, p0, c, ids)))
			return rc;
	if ((rc = final_logits(s, p0, c, last, fn, ctx)))
		return rc;
	s->pos = p0 + c;
	return LUTDB_OK;
}

int lutdb_session_feed(lutdb_session *s, const uint32_t *ids, size_t n, lutdb_logits_fn fn, void *ctx)
{
	if (!s || (!ids && n))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_feed: NULL argument");
	if (s->failed)
		return lutdb_fail(LUTDB_EINVAL, "session failed earlier: reset it first");
	if (!n)
		return lutdb_fail(LUTDB_EINVAL, "nothing to feed (no token ids)");
	lutdb_model *m = s->m;
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= m->V)
			return lutdb_fail(LUTDB_ERANGE, "token id %u (at index %zu) is outside the vocabulary [0, %u)",
					  ids[i], i, m->V);
	if (n > s->cap - s->pos) {
		if (s->pos + n > m->max_pos)
			return lutdb_fail(LUTDB_ECONTEXT,
					  "%zu positions needed (%u in context + %zu new), max_position_embeddings is %u",
					  (size_t)s->pos + n, s->pos, n, m->max_pos);
		return lutdb_fail(LUTDB_ECONTEXT, "%zu positions needed (%u in context + %zu new), session capacity is %u",
				  (size_t)s->pos + n, s->pos, n, s->cap);
	}
	s->have_logits = 0;
	size_t first = n < s->chunk ? n : s->chunk;
	if (!(s->flags & LUTDB_SESSION_NO_EXPERTS))
		for (size_t i = 0; i < first; i++)
			lutdb_prefetch_token(m->db, ids[i]);
	for (size_t off = 0; off < n;) {
		uint32_t c = (uint32_t)(n - off < s->chunk ? n - off : s->chunk);
		/* the next chunk's rows load while this one computes */
		if (!(s->flags & LUTDB_SESSION_NO_EXPERTS))
			for (size_t i = off + c; i < n && i < off + 2 * (size_t)c; i++)
				lutdb_prefetch_token(m->db, ids[i]);
		int rc = feed_chunk(s, ids + off, c, off + c == n, fn, ctx);
		if (rc) {
			s->failed = 1;
			return rc;
		}
		off += c;
	}
	return LUTDB_OK;
}
