/*
 * batch.c - lutdb_batch: its slots, each with a KV cache allocated once
 * (joining and stepping allocate nothing), joining, cancelling and the
 * accessors.  The step is batch_step.c; batch_internal.h has the slots.
 */
#include <stdlib.h>
#include <string.h>

#include "batch_internal.h"
#include "fail.h"
#include "opts.h"

/* Sequences a batch holds when the caller does not say. */
#define LR_BATCH_DEFAULT_SEQS 4

/* The caller's options (any size, NULL: defaults), checked. */
static int read_opts(const lutdb_model *m, const lutdb_batch_opts *o, lutdb_batch *b)
{
	int rc = lutdb_opts_check(o, o ? o->size : 0, sizeof *o, LUTDB_OPTS_MIN(lutdb_batch_opts, flags),
				  "lutdb_batch_new");
	if (rc)
		return rc;
	b->max_seqs = LUTDB_OPT(o, max_seqs, 0);
	b->cap = LUTDB_OPT(o, capacity, 0);
	b->prefill_tokens = LUTDB_OPT(o, prefill_tokens, 0);
	b->flags = LUTDB_OPT(o, flags, 0);
	if (!b->max_seqs)
		b->max_seqs = LR_BATCH_DEFAULT_SEQS;
	if (b->max_seqs > LUTDB_BATCH_MAX_SEQS)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_new: %u sequences, at most %u", b->max_seqs,
				  LUTDB_BATCH_MAX_SEQS);
	if (!b->cap)
		b->cap = m->max_pos;
	if (b->cap > m->max_pos)
		return lutdb_fail(LUTDB_ECONTEXT, "batch capacity %u exceeds max_position_embeddings %u", b->cap,
				  m->max_pos);
	if (!b->prefill_tokens)
		b->prefill_tokens = LR_CHUNK;
	/* more than every slot's whole prompt is never fed at once; the cap
	 * keeps a step's rows (and their buffers' sizes) far from overflow */
	if ((uint64_t)b->prefill_tokens > (uint64_t)b->max_seqs * b->cap)
		b->prefill_tokens = b->max_seqs * b->cap;
	if (b->prefill_tokens > LUTDB_BATCH_MAX_PREFILL)
		b->prefill_tokens = LUTDB_BATCH_MAX_PREFILL;
	return LUTDB_OK;
}

int lutdb_batch_new(lutdb_model *m, const lutdb_batch_opts *opts, lutdb_batch **out)
{
	lutdb_batch *b;
	int bad = 0, rc;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_new: out is NULL");
	*out = NULL;
	if (!m)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_new: model is NULL");
	if (!(b = calloc(1, sizeof *b)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_batch_new");
	b->m = m;
	if ((rc = read_opts(m, opts, b))) {
		free(b);
		return rc;
	}
	const uint32_t rows = b->max_seqs + b->prefill_tokens;
	/* a step's logits are computed for every running sequence at once (the
	 * lm head read once), prompt logits in blocks of the same size */
	b->logit_block = b->max_seqs > LR_LOGIT_ROWS ? b->max_seqs : LR_LOGIT_ROWS;
	if (!(b->slots = calloc(b->max_seqs, sizeof *b->slots)) ||
	    !(b->span_slot = calloc(b->max_seqs, sizeof *b->span_slot)) ||
	    !(b->logit_rows = calloc(rows, sizeof *b->logit_rows)) ||
	    !(b->logit_slot = calloc(rows, sizeof *b->logit_slot)) ||
	    !(b->picked = calloc(b->logit_block, sizeof *b->picked)) ||
	    !(b->scratch = calloc((size_t)m->threads, sizeof *b->scratch)))
		bad = 1;
	for (int i = 0; i < m->threads && !bad; i++)
		if (!(b->scratch[i] = lr_sample_scratch_new(m->V)))
			bad = 1;
	for (uint32_t i = 0; i < b->max_seqs && !bad; i++) {
		lr_slot *s = &b->slots[i];
		atomic_init(&s->id, 0);
		atomic_init(&s->cancel, 0);
		lr_seq_alloc(&s->seq, m, b->flags, b->cap, b->prefill_tokens, &bad);
		if (!bad && !(s->prompt = malloc((size_t)b->cap * sizeof *s->prompt)))
			bad = 1;
	}
	lr_pass_alloc(&b->pass, m, b->flags, rows, b->max_seqs, b->cap, &bad);
	b->logits = lr_alloc_floats((size_t)b->logit_block * m->V, &bad);
	if (bad) {
		rc = lutdb_fail(LUTDB_ENOMEM, "lutdb_batch_new: KV caches for %u sequences of %u positions",
				b->max_seqs, b->cap);
		lutdb_batch_free(b);
		return rc;
	}
	*out = b;
	return LUTDB_OK;
}

void lutdb_batch_free(lutdb_batch *b)
{
	if (!b)
		return;
	for (uint32_t i = 0; b->slots && i < b->max_seqs; i++) {
		lr_seq_free(&b->slots[i].seq);
		free(b->slots[i].prompt);
	}
	free(b->slots);
	free(b->span_slot);
	free(b->logit_rows);
	free(b->logit_slot);
	free(b->picked);
	lr_pass_free(&b->pass);
	free(b->logits);
	for (int i = 0; b->scratch && i < b->m->threads; i++)
		lr_sample_scratch_free(b->scratch[i]);
	free(b->scratch);
	free(b);
}

/* The caller's sequence options (any size, NULL: defaults) for a prompt of
 * n ids, checked against the model and the batch. */
static int read_rules(const lutdb_batch *b, const lutdb_batch_seq_opts *o, size_t n, lr_rules *r)
{
	const lutdb_model *m = b->m;
	int rc = lutdb_opts_check(o, o ? o->size : 0, sizeof *o, LUTDB_OPTS_MIN(lutdb_batch_seq_opts, user),
				  "lutdb_batch_join");

	memset(r, 0, sizeof *r);
	if (rc || (rc = lr_sampling_read(LUTDB_OPT(o, sampling, NULL), "lutdb_batch_join: sampling", &r->sampling)))
		return rc;
	const uint32_t *stop = LUTDB_OPT(o, stop_ids, NULL);
	r->n_stop = LUTDB_OPT(o, n_stop_ids, 0);
	if (r->n_stop > LUTDB_BATCH_MAX_STOP_IDS || (r->n_stop && !stop))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_join: %u stop ids%s (at most %u)", r->n_stop,
				  r->n_stop && !stop ? " at NULL" : "", LUTDB_BATCH_MAX_STOP_IDS);
	for (uint32_t i = 0; i < r->n_stop; i++) {
		if (stop[i] >= m->V)
			return lutdb_fail(LUTDB_ERANGE, "stop id %u (at index %u) is outside the vocabulary [0, %u)",
					  stop[i], i, m->V);
		r->stop[i] = stop[i];
	}
	r->cap = LUTDB_OPT(o, capacity, 0);
	if (!r->cap)
		r->cap = b->cap;
	if (r->cap > b->cap)
		return lutdb_fail(LUTDB_ECONTEXT, "sequence capacity %u exceeds the batch's %u", r->cap, b->cap);
	if (n > r->cap)
		return lutdb_fail(LUTDB_ECONTEXT, "a prompt of %zu ids does not fit the sequence's capacity of %u", n,
				  r->cap);
	r->max_tokens = LUTDB_OPT(o, max_tokens, 0);
	r->ignore_eos = LUTDB_OPT(o, ignore_eos, 0);
	r->flags = LUTDB_OPT(o, flags, 0);
	r->user = LUTDB_OPT(o, user, NULL);
	return LUTDB_OK;
}

int lutdb_batch_join(lutdb_batch *b, const uint32_t *prompt, size_t n, const lutdb_batch_seq_opts *o,
		     uint64_t *id)
{
	lr_slot *s = NULL;
	lr_rules rules;
	int rc;

	if (id)
		*id = 0;
	if (!b || !id || (!prompt && n))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_join: NULL argument");
	if (b->in_step)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_join: called from the batch's event callback");
	if (!n)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_join: empty prompt (a sequence needs at least one id)");
	for (size_t i = 0; i < n; i++)
		if (prompt[i] >= b->m->V)
			return lutdb_fail(LUTDB_ERANGE, "token id %u (at index %zu) is outside the vocabulary [0, %u)",
					  prompt[i], i, b->m->V);
	/* the request first: a full batch is not an error of the request */
	if ((rc = read_rules(b, o, n, &rules)))
		return rc;
	for (uint32_t i = 0; i < b->max_seqs && !s; i++)
		if (b->slots[i].state == LR_SLOT_FREE)
			s = &b->slots[i];
	if (!s)
		return lutdb_fail(LUTDB_ETOOBIG, "the batch is full: %u sequences", b->max_seqs);
	s->rules = rules;
	lr_rng_seed(&s->rng, rules.sampling.seed);
	memcpy(s->prompt, prompt, n * sizeof *prompt);
	s->n_prompt = (uint32_t)n;
	s->seq.pos = 0;
	s->generated = 0;
	s->state = LR_SLOT_PROMPT;
	*id = ++b->last_id;
	/* the id last: a cancel that sees it finds the slot ready */
	atomic_store(&s->cancel, 0);
	atomic_store(&s->id, *id);
	b->count++;
	/* the first chunk's rows start loading now */
	lr_rows_prefetch(b->m, b->flags, prompt, n < b->prefill_tokens ? n : b->prefill_tokens);
	return LUTDB_OK;
}

void lr_batch_release(lutdb_batch *b, lr_slot *s)
{
	atomic_store(&s->id, 0);
	s->state = LR_SLOT_FREE;
	b->count--;
}

int lutdb_batch_cancel(lutdb_batch *b, uint64_t id)
{
	if (!b || !id)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_cancel: %s", b ? "id 0" : "NULL batch");
	for (uint32_t i = 0; i < b->max_seqs; i++) {
		lr_slot *s = &b->slots[i];
		if (atomic_load(&s->id) == id) {
			/* if the sequence finishes meanwhile, the request names
			 * an id no later sequence has */
			atomic_store(&s->cancel, id);
			return LUTDB_OK;
		}
	}
	return lutdb_fail(LUTDB_ENOENT, "no sequence %llu in the batch", (unsigned long long)id);
}

uint32_t lutdb_batch_count(const lutdb_batch *b)
{
	return b->count;
}

uint32_t lutdb_batch_max_seqs(const lutdb_batch *b)
{
	return b->max_seqs;
}

uint32_t lutdb_batch_capacity(const lutdb_batch *b)
{
	return b->cap;
}
