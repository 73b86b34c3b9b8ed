/*
 * session.c - lutdb_session: one sequence (lr_seq: the KV cache and the
 * table-row pointers of every position) and the working memory of its
 * passes (lr_pass: a chunk of positions, the RoPE tables), all allocated
 * at creation (feeding allocates nothing); reset and accessors.  Feeding is
 * feed.c.
 */
#include <stdlib.h>

#include "engine_internal.h"
#include "fail.h"
#include "opts.h"

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
	s->flags = LUTDB_OPT(opts, flags, 0);
	const uint32_t chunk = cap < LR_CHUNK ? cap : LR_CHUNK;
	lr_seq_alloc(&s->seq, m, s->flags, cap, chunk, &bad);
	lr_pass_alloc(&s->pass, m, s->flags, chunk, 1, cap, &bad);
	s->logits = lr_alloc_floats(m->V, &bad);
	s->logits_block = lr_alloc_floats((size_t)LR_LOGIT_ROWS * m->V, &bad);
	if (bad) {
		lutdb_session_free(s);
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_session_new: KV cache and buffers for %u positions", cap);
	}
	*out = s;
	return LUTDB_OK;
}

void lutdb_session_free(lutdb_session *s)
{
	if (!s)
		return;
	lr_seq_free(&s->seq);
	lr_pass_free(&s->pass);
	free(s->logits);
	free(s->logits_block);
	free(s);
}

void lutdb_session_reset(lutdb_session *s)
{
	if (!s)
		return;
	s->seq.pos = 0;
	s->failed = 0;
	s->have_logits = 0;
}

uint32_t lutdb_session_position(const lutdb_session *s)
{
	return s->seq.pos;
}

uint32_t lutdb_session_capacity(const lutdb_session *s)
{
	return s->seq.cap;
}

const float *lutdb_session_logits(const lutdb_session *s)
{
	return s && s->have_logits ? s->logits : NULL;
}
