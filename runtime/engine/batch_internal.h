/*
 * batch_internal.h - lutdb_batch (lutdb_runtime.h, "batched decoding"):
 * its slots and what a step needs; shared by batch.c (new, join, cancel)
 * and batch_step.c (the step).
 *
 * A slot is free, or holds one sequence that is prompting (its prompt is
 * being fed, prefill_tokens ids per step at most, shared with the other
 * prompting slots oldest join first) or running (it has generated an id,
 * which the next step feeds).  Slot ids and cancel requests are atomics so
 * that lutdb_batch_cancel may run on any thread: a request names the id it
 * cancels, and ids are never reused, so a request that arrives after its
 * sequence finished never touches the slot's next sequence.
 */
#ifndef LUTDB_BATCH_INTERNAL_H
#define LUTDB_BATCH_INTERNAL_H

#include <stdatomic.h>

#include "engine_internal.h"

enum { LR_SLOT_FREE, LR_SLOT_PROMPT, LR_SLOT_RUN };

/* What a join sets (lutdb_batch_seq_opts, checked). */
typedef struct lr_rules {
	lr_sampler_params sampling;
	uint32_t cap;        /* the sequence's capacity (<= the batch's) */
	uint32_t max_tokens;
	int ignore_eos;
	unsigned flags;      /* LUTDB_SEQ_* */
	void *user;
	uint32_t n_stop;
	uint32_t stop[LUTDB_BATCH_MAX_STOP_IDS];
} lr_rules;

typedef struct lr_slot {
	_Atomic uint64_t id;     /* the sequence's id; 0 when free */
	_Atomic uint64_t cancel; /* == id: cancellation asked */
	int state;               /* LR_SLOT_* */
	lr_seq seq;              /* KV cache of the batch's capacity */
	lr_rules rules;
	lr_rng rng;              /* seeded from rules.sampling.seed at the join */
	uint32_t *prompt;        /* [batch capacity]: the prompt's copy */
	uint32_t n_prompt;
	uint32_t next;           /* running: the id the next step feeds */
	uint32_t generated;
} lr_slot;

struct lutdb_batch {
	lutdb_model *m;
	unsigned flags;               /* LUTDB_SESSION_* */
	uint32_t max_seqs, cap, prefill_tokens;
	uint32_t count;               /* sequences in the batch */
	uint64_t last_id;             /* ids grow with join order */
	int in_step;                  /* a step (and maybe its callback) runs */
	lr_slot *slots;               /* [max_seqs] */
	lr_pass pass;                 /* max_seqs + prefill_tokens rows */
	uint32_t *span_slot;          /* [max_seqs]: the slot of each span */
	uint32_t *logit_rows;         /* [pass rows]: the rows whose logits a step needs */
	uint32_t *logit_slot;         /* [pass rows]: of such a row that picks its
					 sequence's next id, the slot + 1; else 0 */
	uint32_t logit_block;         /* rows of logits computed at once */
	float *logits;                /* [logit_block][V] */
	uint32_t *picked;             /* [logit_block]: the ids picked from them */
	lr_sample_scratch **scratch;  /* [threads]: the sampler's working memory
					 of each pool task */
};

/* Empties slot s (its sequence left) and counts it out. */
void lr_batch_release(lutdb_batch *b, lr_slot *s);

#endif
