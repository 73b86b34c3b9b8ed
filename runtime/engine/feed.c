/*
 * feed.c - lutdb_session_feed: ids through the model in chunks of up to
 * LR_CHUNK positions.
 *
 * A chunk is one pass (seq.c) of one span and goes through three stages:
 *   1. its table rows are resolved (rows.c): the only I/O, and the only
 *      failure besides the logits callback;
 *   2. every layer runs over the chunk (layer.c), arithmetic only;
 *   3. the final norm and the lm head give the logits the caller asked for.
 * The rows were hinted to the kernel when the call started (the next
 * chunk's while this one computes), so they load while earlier work runs.
 *
 * Each layer runs as matrix-matrix products over the chunk's c rows
 * (lk_matmul, bitwise equal to c matrix-vector products), so a prompt fed
 * at once and fed one id at a time give identical logits.
 */
#include <string.h>

#include "engine_internal.h"
#include "fail.h"

/* The logits of the pass's c rows (positions p0..): to fn for every one, or
 * without fn only for the last of the feed (last). */
static int chunk_logits(lutdb_session *s, uint32_t p0, uint32_t c, int last, lutdb_logits_fn fn, void *ctx)
{
	const lutdb_model *m = s->m;
	uint32_t rows[LR_LOGIT_ROWS];

	if (!fn) {
		if (!last)
			return LUTDB_OK;
		rows[0] = c - 1;
		lr_pass_logits(&s->pass, rows, 1, s->logits);
		s->have_logits = 1;
		return LUTDB_OK;
	}
	for (uint32_t r0 = 0; r0 < c; r0 += LR_LOGIT_ROWS) {
		uint32_t rn = c - r0 < LR_LOGIT_ROWS ? c - r0 : LR_LOGIT_ROWS;
		for (uint32_t i = 0; i < rn; i++)
			rows[i] = r0 + i;
		lr_pass_logits(&s->pass, rows, rn, s->logits_block);
		for (uint32_t i = 0; i < rn; i++) {
			const float *row = s->logits_block + (size_t)i * m->V;
			s->in_callback = 1;
			int rc = fn(ctx, p0 + r0 + i, row, m->V);
			s->in_callback = 0;
			if (rc)
				return rc < 0 ? rc : lutdb_fail(LUTDB_EINTR, "stopped by the logits callback");
		}
	}
	if (last) {
		memcpy(s->logits, s->logits_block + (size_t)((c - 1) % LR_LOGIT_ROWS) * m->V, m->V * sizeof(float));
		s->have_logits = 1;
	}
	return LUTDB_OK;
}

/* One pass over ids[0, c) at the session's next positions. */
static int feed_chunk(lutdb_session *s, const uint32_t *ids, uint32_t c, int last, lutdb_logits_fn fn,
		      void *ctx)
{
	const uint32_t p0 = s->seq.pos;
	int rc;

	lr_pass_begin(&s->pass);
	const lr_span *sp = lr_pass_add(&s->pass, &s->seq, ids, c);
	if ((rc = lr_rows_resolve(&s->pass, sp)))
		return rc;
	lr_pass_forward(&s->pass);
	if ((rc = chunk_logits(s, p0, c, last, fn, ctx)))
		return rc;
	lr_pass_commit(&s->pass);
	return LUTDB_OK;
}

/* Checks what can be checked before anything changes. */
static int check_feed(const lutdb_session *s, const uint32_t *ids, size_t n)
{
	const lutdb_model *m = s->m;
	const lr_seq *q = &s->seq;

	if (s->in_callback)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_feed: called from a callback of the same session");
	if (s->failed)
		return lutdb_fail(LUTDB_EINVAL, "session failed earlier: reset it first");
	if (!n)
		return lutdb_fail(LUTDB_EINVAL, "nothing to feed (no token ids)");
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= m->V)
			return lutdb_fail(LUTDB_ERANGE, "token id %u (at index %zu) is outside the vocabulary [0, %u)",
					  ids[i], i, m->V);
	if (n > q->cap - q->pos) {
		if (q->pos + n > m->max_pos)
			return lutdb_fail(LUTDB_ECONTEXT,
					  "%zu positions needed (%u in context + %zu new), "
					  "max_position_embeddings is %u",
					  (size_t)q->pos + n, q->pos, n, m->max_pos);
		return lutdb_fail(LUTDB_ECONTEXT,
				  "%zu positions needed (%u in context + %zu new), session capacity is %u",
				  (size_t)q->pos + n, q->pos, n, q->cap);
	}
	return LUTDB_OK;
}

int lutdb_session_feed(lutdb_session *s, const uint32_t *ids, size_t n, lutdb_logits_fn fn, void *ctx)
{
	int rc;

	if (!s || (!ids && n))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_session_feed: NULL argument");
	if ((rc = check_feed(s, ids, n)))
		return rc;
	s->have_logits = 0;
	const uint32_t chunk = s->pass.max_rows;
	lr_rows_prefetch(s->m, s->flags, ids, n < chunk ? n : chunk);
	for (size_t off = 0; off < n;) {
		uint32_t c = (uint32_t)(n - off < chunk ? n - off : chunk);
		/* the next chunk's rows load while this one computes */
		size_t next = off + c, next_end = off + 2 * (size_t)c < n ? off + 2 * (size_t)c : n;
		if (next < next_end)
			lr_rows_prefetch(s->m, s->flags, ids + next, next_end - next);
		if ((rc = feed_chunk(s, ids + off, c, off + c == n, fn, ctx))) {
			s->failed = 1;
			return rc;
		}
		off += c;
	}
	return LUTDB_OK;
}
