/*
 * batch_step.c - lutdb_batch_step: one pass over every sequence of the
 * batch (batch_internal.h).
 *
 *   1. Cancellations asked since the last step end their sequences.
 *   2. Plan: every running sequence feeds the id it generated last step (one
 *      row each); joining sequences feed their prompts, oldest join first,
 *      prefill_tokens ids at most over all of them, so a long prompt goes in
 *      chunks and running sequences never wait for it.  Each span's table
 *      rows are resolved as it is added (rows.c, the step's only I/O): a row
 *      that fails ends its sequence alone, before any arithmetic.
 *   3. One pass (seq.c) over all rows: each dense weight read once.
 *   4. Logits of the rows that need them (a running sequence's row, the last
 *      row of a finished prompt, every prompt row with
 *      LUTDB_SEQ_PROMPT_LOGITS), the lm head read once per logit_block rows;
 *      sampling with each sequence's own generator; stop rules; events.
 *   5. Cancellations asked during the step (the callback) end their
 *      sequences, so their slots are free when the step returns.
 *
 * Batch invariance: a row's arithmetic reads only its own input row, its
 * own sequence's KV cache and table rows, and the weights (lk_matmul's rows
 * are bitwise lk_matvec's; attention and the expert term are computed per
 * (row, head) by one task in a fixed order).  A sequence's sampler state is
 * its own and advances once per generated id, as lutdb_generate's.  So a
 * sequence's logits and ids do not depend on its partners, on when it
 * joined, on how its prompt was chunked, or on the thread count.
 */
#include <string.h>

#include "batch_internal.h"
#include "fail.h"

/* A step in progress: where events go and what is counted. */
struct step {
	lutdb_batch *b;
	lutdb_batch_event_fn fn;
	void *ctx;
	lutdb_batch_stats st;
	uint32_t n_logits, block_first, block_n; /* rows needing logits; the block computed */
};

static int cancel_asked(lr_slot *s)
{
	uint64_t id = atomic_load(&s->id);
	return id && atomic_load(&s->cancel) == id;
}

/* Hands one event of slot s to the callback; a finishing event then frees
 * the slot, and a nonzero return from any other asks to cancel it. */
static void emit(struct step *t, lr_slot *s, int kind, int finish, int error, uint32_t token, uint32_t pos,
		 const float *logits)
{
	const uint64_t id = atomic_load(&s->id);
	const lutdb_batch_event ev = {
		.size = sizeof ev,
		.seq = id,
		.user = s->rules.user,
		.kind = kind,
		.finish = finish,
		.error = error,
		.token = token,
		.generated = s->generated,
		.pos = pos,
		.logits = logits,
		.vocab = logits ? t->b->m->V : 0,
	};
	int rc = t->fn ? t->fn(t->ctx, &ev) : 0;

	if (finish) {
		t->st.finished++;
		lr_batch_release(t->b, s);
	} else if (rc) {
		atomic_store(&s->cancel, id);
	}
}

/* Ends every sequence whose cancellation was asked. */
static void sweep_cancelled(struct step *t)
{
	lutdb_batch *b = t->b;
	for (uint32_t i = 0; i < b->max_seqs; i++)
		if (b->slots[i].state != LR_SLOT_FREE && cancel_asked(&b->slots[i]))
			emit(t, &b->slots[i], LUTDB_EVENT_END, LUTDB_FINISH_CANCELLED, 0, 0, 0, NULL);
}

/* Adds n positions of slot i (ids) to the pass and resolves their rows; a
 * row that fails ends the sequence instead. */
static void add_span(struct step *t, uint32_t i, const uint32_t *ids, uint32_t n)
{
	lutdb_batch *b = t->b;
	lr_slot *s = &b->slots[i];
	const lr_span *sp = lr_pass_add(&b->pass, &s->seq, ids, n);
	int rc = lr_rows_resolve(&b->pass, sp);

	if (rc) {
		lr_pass_drop(&b->pass);
		emit(t, s, LUTDB_EVENT_END, LUTDB_FINISH_ERROR, rc, 0, 0, NULL);
		return;
	}
	b->span_slot[b->pass.nspans - 1] = i;
}

/* The prompting slot joined first after the one with id `after`, or
 * max_seqs when none. */
static uint32_t next_prompt(const lutdb_batch *b, uint64_t after)
{
	uint32_t best = b->max_seqs;
	uint64_t best_id = UINT64_MAX;
	for (uint32_t i = 0; i < b->max_seqs; i++) {
		const lr_slot *s = &b->slots[i];
		uint64_t id = atomic_load(&s->id);
		if (s->state == LR_SLOT_PROMPT && id > after && id < best_id) {
			best = i;
			best_id = id;
		}
	}
	return best;
}

/* Step 2: the pass's spans, running sequences first. */
static void plan(struct step *t)
{
	lutdb_batch *b = t->b;
	uint32_t budget = b->prefill_tokens;
	uint64_t after = 0;

	lr_pass_begin(&b->pass);
	for (uint32_t i = 0; i < b->max_seqs; i++)
		if (b->slots[i].state == LR_SLOT_RUN)
			add_span(t, i, &b->slots[i].next, 1);
	while (budget) {
		uint32_t i = next_prompt(b, after);
		if (i == b->max_seqs)
			break;
		lr_slot *s = &b->slots[i];
		after = atomic_load(&s->id);
		uint32_t left = s->n_prompt - s->seq.pos, c = left < budget ? left : budget;
		add_span(t, i, s->prompt + s->seq.pos, c);
		budget -= c;
		/* the rows of its next chunk load while this step computes */
		const uint32_t *next = s->prompt + s->seq.pos + c;
		left -= c;
		lr_rows_prefetch(b->m, b->flags, next, left < b->prefill_tokens ? left : b->prefill_tokens);
	}
}

/* Whether span k ends its sequence's prompt. */
static int ends_prompt(const lutdb_batch *b, uint32_t k)
{
	const lr_slot *s = &b->slots[b->span_slot[k]];
	const lr_span *sp = &b->pass.spans[k];
	return s->state == LR_SLOT_PROMPT && sp->p0 + sp->c == s->n_prompt;
}

/* Step 4's list: the rows whose logits are needed, in row order, and
 * which of them pick their sequence's next id. */
static void list_logit_rows(struct step *t)
{
	lutdb_batch *b = t->b;
	uint32_t n = 0;

	for (uint32_t k = 0; k < b->pass.nspans; k++) {
		const lr_slot *s = &b->slots[b->span_slot[k]];
		const lr_span *sp = &b->pass.spans[k];
		const int picks = s->state == LR_SLOT_RUN || (ends_prompt(b, k) && s->rules.max_tokens);
		if (s->state == LR_SLOT_PROMPT && (s->rules.flags & LUTDB_SEQ_PROMPT_LOGITS)) {
			for (uint32_t i = 0; i < sp->c; i++) {
				b->logit_rows[n] = sp->row0 + i;
				b->logit_slot[n++] = 0;
			}
			if (picks)
				b->logit_slot[n - 1] = b->span_slot[k] + 1;
		} else if (picks) {
			b->logit_rows[n] = sp->row0 + sp->c - 1;
			b->logit_slot[n++] = b->span_slot[k] + 1;
		}
	}
	t->n_logits = n;
	t->block_first = t->block_n = 0;
}

/* The ids of the logits block: rows [first, first + n) of the list. */
struct pick_job {
	lutdb_batch *b;
	uint32_t first, n;
};

static void pick_task(void *ctx, int task, int ntasks)
{
	const struct pick_job *j = ctx;
	lutdb_batch *b = j->b;
	const uint32_t V = b->m->V;
	size_t begin, end;

	lk_split_range(j->n, ntasks, task, 1, &begin, &end);
	for (size_t i = begin; i < end; i++) {
		uint32_t slot = b->logit_slot[j->first + i];
		if (!slot)
			continue;
		lr_slot *s = &b->slots[slot - 1];
		const float *logits = b->logits + i * V;
		const lr_sampler_params *sp = &s->rules.sampling;
		b->picked[i] = sp->greedy ? lr_argmax(logits, V) : lr_sample(logits, V, sp, &s->rng, b->scratch[task]);
	}
}

/* The logits of the idx-th listed row, computing the block it starts when
 * the rows are taken in order, and picking that block's ids: on the pool,
 * each with its sequence's own generator, so the ids are those one thread
 * would pick. */
static const float *logits_of(struct step *t, uint32_t idx)
{
	lutdb_batch *b = t->b;
	if (idx >= t->block_first + t->block_n) {
		uint32_t left = t->n_logits - idx, picks = 0;
		t->block_first = idx;
		t->block_n = left < b->logit_block ? left : b->logit_block;
		lr_pass_logits(&b->pass, b->logit_rows + idx, t->block_n, b->logits);
		for (uint32_t i = 0; i < t->block_n; i++)
			picks += b->logit_slot[idx + i] != 0;
		struct pick_job j = {b, idx, t->block_n};
		int ntasks = b->m->threads < (int)picks ? b->m->threads : (int)picks;
		if (ntasks > 1)
			lk_pool_run(b->m->pool, pick_task, &j, ntasks);
		else if (picks)
			pick_task(&j, 0, 1);
	}
	return b->logits + (size_t)(idx - t->block_first) * b->m->V;
}

static int is_stop_id(const lr_rules *r, uint32_t id)
{
	for (uint32_t i = 0; i < r->n_stop; i++)
		if (r->stop[i] == id)
			return 1;
	return 0;
}

/* Slot s's next id, picked from the logits of its position pos: applies
 * its stop rules (in lutdb_generate's order) and reports it. */
static void next_token(struct step *t, lr_slot *s, uint32_t pos, const float *logits, uint32_t id)
{
	const lutdb_model *m = t->b->m;
	const lr_rules *r = &s->rules;
	int finish = LUTDB_FINISH_NONE;

	s->generated++;
	t->st.tokens++;
	if (!r->ignore_eos && lutdb_model_is_eos(m, id))
		finish = LUTDB_FINISH_EOS;
	else if (is_stop_id(r, id))
		finish = LUTDB_FINISH_STOP_ID;
	else if (s->generated >= r->max_tokens)
		finish = LUTDB_FINISH_LENGTH;
	else if (s->seq.pos >= r->cap)
		finish = LUTDB_FINISH_CONTEXT;
	if (!finish) {
		s->state = LR_SLOT_RUN;
		s->next = id;
		lr_rows_prefetch(m, t->b->flags, &id, 1);
	}
	emit(t, s, LUTDB_EVENT_TOKEN, finish, 0, id, pos, logits);
}

/* Step 4 for span k: its events, in position order. */
static void span_events(struct step *t, uint32_t k, uint32_t *idx)
{
	lutdb_batch *b = t->b;
	lr_slot *s = &b->slots[b->span_slot[k]];
	const lr_span *sp = &b->pass.spans[k];
	const int prompt = s->state == LR_SLOT_PROMPT, ends = ends_prompt(b, k);

	for (uint32_t i = 0; i < sp->c; i++) {
		if (*idx >= t->n_logits || b->logit_rows[*idx] != sp->row0 + i)
			continue;
		const uint32_t at = (*idx)++;
		const float *logits = logits_of(t, at);
		if (cancel_asked(s))
			continue; /* no more events but the cancellation's */
		if (prompt && (s->rules.flags & LUTDB_SEQ_PROMPT_LOGITS))
			emit(t, s, LUTDB_EVENT_PROMPT, LUTDB_FINISH_NONE, 0, 0, sp->p0 + i, logits);
		if (b->logit_slot[at] && !cancel_asked(s))
			next_token(t, s, sp->p0 + i, logits, b->picked[at - t->block_first]);
	}
	if (ends && !s->rules.max_tokens && !cancel_asked(s))
		emit(t, s, LUTDB_EVENT_END, LUTDB_FINISH_LENGTH, 0, 0, 0, NULL);
}

/* Copies the fields of st that fit in the caller's struct. */
static void copy_stats(lutdb_batch_stats *out, const lutdb_batch_stats *st)
{
	if (!out || out->size <= sizeof out->size)
		return;
	size_t n = (out->size < sizeof *st ? out->size : sizeof *st) - sizeof out->size;
	memcpy((char *)out + sizeof out->size, (const char *)st + sizeof st->size, n);
}

int lutdb_batch_step(lutdb_batch *b, lutdb_batch_event_fn fn, void *ctx, lutdb_batch_stats *stats)
{
	if (!b)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_step: NULL batch");
	if (b->in_step)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_batch_step: called from the batch's event callback");
	struct step t = {.b = b, .fn = fn, .ctx = ctx, .st = {.size = sizeof t.st}};
	b->in_step = 1;
	sweep_cancelled(&t);
	plan(&t);
	lr_pass *p = &b->pass;
	if (p->rows) {
		for (uint32_t k = 0; k < p->nspans; k++)
			if (b->slots[b->span_slot[k]].state == LR_SLOT_PROMPT)
				t.st.prompt += p->spans[k].c;
		t.st.positions = p->rows;
		lr_pass_forward(p);
		lr_pass_commit(p);
		list_logit_rows(&t);
		uint32_t idx = 0;
		for (uint32_t k = 0; k < p->nspans; k++)
			span_events(&t, k, &idx);
	}
	sweep_cancelled(&t);
	b->in_step = 0;
	t.st.sequences = b->count;
	copy_stats(stats, &t.st);
	return LUTDB_OK;
}
