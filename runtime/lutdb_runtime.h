/*
 * lutdb_runtime.h - the decoding engine: runs a MoLE or MoLKV model straight
 * from an open lutdb database.
 *
 * Objects and lifecycle
 *   lutdb_db      (lutdb.h) the open store.  Must outlive every model made
 *                 from it.
 *   lutdb_model   made once per database by lutdb_model_new(): resolves every
 *                 dense weight to a pointer into the database map (checked
 *                 against the config, checksum verified on first lookup unless
 *                 the database was opened with LUTDB_OPEN_NOVERIFY) and owns
 *                 the compute thread pool.  Weights are never copied.
 *                 Immutable afterwards; free with lutdb_model_free() after its
 *                 sessions.
 *   lutdb_session one sequence being decoded: a KV cache preallocated for a
 *                 fixed capacity of positions (<= max_position_embeddings),
 *                 the table-row pointers of every position (MoLKV reads the
 *                 key/value experts of earlier tokens from them), and the
 *                 logits of the last position.  Many sessions may share one
 *                 model; one session must be used by one thread at a time.
 *   lutdb_sampler turns logits into a token id (greedy or temperature/top-k/
 *                 top-p with a seeded generator).
 *   lutdb_batch   several sequences decoded together (continuous batching):
 *                 a fixed number of slots, each with its own KV cache, that
 *                 sequences join and leave between steps; each step reads
 *                 every dense weight once for all of them.  Many batches
 *                 and sessions may share one model; a batch is used by one
 *                 thread at a time, except lutdb_batch_cancel (any thread).
 *
 * Threads and callbacks
 *   A model's compute threads are the caller's plus a pool the model owns;
 *   every callback (lutdb_logits_fn, lutdb_token_fn, lutdb_batch_event_fn,
 *   lutdb_eval's progress) runs synchronously on the thread that made the
 *   call that takes it,
 *   never on a pool thread, while no parallel work is in flight.  A
 *   callback may call the library on other objects (sample from the logits,
 *   feed another session, even of the same model), but not on the session
 *   it is called for: lutdb_session_feed or lutdb_generate of that session
 *   from its own callback fails with LUTDB_EINVAL, and resetting or freeing
 *   it there is undefined.  lutdb_eval's progress callback must not free
 *   the model.
 *
 * Memory
 *   Everything a session needs is allocated by lutdb_session_new: feeding
 *   and sampling allocate nothing.  Likewise a batch: lutdb_batch_new
 *   allocates every slot's KV cache, joining and stepping allocate nothing.
 *   Arrays the library allocates for the caller (lutdb_ids_parse) are
 *   released with lutdb_free().
 *
 * Numerics
 *   float32 compute; weights and table rows are upcast from their stored
 *   dtype in registers.  Block-quantized tables (Q8_0, Q4_0, NF4, NF3) are
 *   decoded exactly in registers as the experts are mixed.  With Q8_0 or
 *   Q4_0 dense weights, each activation vector a matrix multiplies is
 *   first rounded to 8-bit blocks of 32 (a float32 scale per block, ties to
 *   even) and the blocks are multiplied with integer dot products, as
 *   llama.cpp does: the logits then differ from float32 arithmetic on the
 *   dequantized weights by that rounding (runtime/kernels/kernels.h gives
 *   the rule; at most ~5% of the logits' RMS on the test models, about what
 *   Q8_0 weights cost by themselves; test_runtime_quant.c).  Logits are
 *   bit-identical from run to run, for any thread count, whether a prompt
 *   is fed at once or one token at a time,
 *   and whether a sequence is decoded alone (a session) or in a batch with
 *   any others (every output has a fixed reduction order, and no output of
 *   one sequence reads another's; see runtime/kernels/kernels.h).  They are
 *   not bit-identical across instruction sets (LUTDB_ISA).
 *
 * Errors
 *   Every fallible call returns LUTDB_OK or a negative code of lutdb_err.h
 *   with context in lutdb_errdetail().  Input errors (bad id, context full,
 *   bad argument) are detected before any state changes.
 */
#ifndef LUTDB_RUNTIME_H
#define LUTDB_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lutdb_model lutdb_model;
typedef struct lutdb_session lutdb_session;
typedef struct lutdb_sampler lutdb_sampler;

/* ---- model ------------------------------------------------------------------ */
/* Options (lutdb_err.h, "Option structs": set .size = sizeof the struct;
 * zeroed fields are the defaults):
 *     lutdb_model_opts o = {sizeof o};  o.threads = 2; */
typedef struct lutdb_model_opts {
	size_t size;
	int threads; /* compute threads including the caller; <= 0: one per online CPU */
} lutdb_model_opts;

/* Makes a model over db (opts may be NULL: defaults).  db must hold the whole
 * model (every layer and token: LUTDB_ESHARD for a single shard).  A missing
 * or misshapen tensor is LUTDB_ECORRUPT; a damaged one LUTDB_ECHECKSUM.
 * eos ids come from generation_config.json when stored, else config.json.
 * db stays owned by the caller and must stay open until lutdb_model_free().
 * On failure *out is NULL. */
LUTDB_API int lutdb_model_new(lutdb_db *db, const lutdb_model_opts *opts, lutdb_model **out);

/* Frees the model and its threads (not the db).  Free its sessions first.
 * NULL is a no-op. */
LUTDB_API void lutdb_model_free(lutdb_model *m);

/* The database's model description (owned by the db). */
LUTDB_API const lutdb_info *lutdb_model_info(const lutdb_model *m);

/* Compute threads (>= 1). */
LUTDB_API int lutdb_model_threads(const lutdb_model *m);

/* The eos ids: *ids points into m (valid until lutdb_model_free); returns how
 * many (0: the model has none and generation never stops early). */
LUTDB_API size_t lutdb_model_eos(const lutdb_model *m, const uint32_t **ids);

/* 1 when id is one of the eos ids. */
LUTDB_API int lutdb_model_is_eos(const lutdb_model *m, uint32_t id);

/* Bytes of dense weights one decode step reads (all projections, the lm head,
 * norms and one embedding row), table rows excluded. */
LUTDB_API uint64_t lutdb_model_dense_bytes(const lutdb_model *m);

/* ---- session ---------------------------------------------------------------- */
/* Session flags. */
#define LUTDB_SESSION_NO_EXPERTS 0x1u /* benchmarks only: skip the expert term
					 (no table reads; logits are wrong) */

typedef struct lutdb_session_opts {
	size_t size;       /* sizeof(lutdb_session_opts) */
	uint32_t capacity; /* positions to allocate; 0: max_position_embeddings */
	unsigned flags;    /* LUTDB_SESSION_* */
} lutdb_session_opts;

/* A fresh session (position 0) over m.  opts may be NULL.  A capacity above
 * max_position_embeddings is LUTDB_ECONTEXT.  Everything it needs is
 * allocated here (KV cache of capacity positions).  m must outlive it.
 * On failure *out is NULL. */
LUTDB_API int lutdb_session_new(lutdb_model *m, const lutdb_session_opts *opts, lutdb_session **out);

/* Frees the session.  NULL is a no-op. */
LUTDB_API void lutdb_session_free(lutdb_session *s);

/* Back to position 0 (an empty context); also clears a failed state. */
LUTDB_API void lutdb_session_reset(lutdb_session *s);

/* Positions fed so far / allocated. */
LUTDB_API uint32_t lutdb_session_position(const lutdb_session *s);
LUTDB_API uint32_t lutdb_session_capacity(const lutdb_session *s);

/* Receives the logits (vocab floats, valid only during the call) of position
 * pos.  Returning nonzero stops the feed, which then returns that value if
 * it is a negative lutdb code, else LUTDB_EINTR.  Runs on the feeding
 * thread; must not feed the session it reports on (see "Threads and
 * callbacks" above). */
typedef int (*lutdb_logits_fn)(void *ctx, uint32_t pos, const float *logits, uint32_t vocab);

/* Feeds n >= 1 token ids at the next positions: a batched prefill (prompt)
 * or a one-token decode step, same results either way.  Each id's table row
 * is prefetched as soon as the call starts.  With fn, the logits of every
 * fed position are computed and passed to fn in position order; without,
 * only the last position's.  Afterwards lutdb_session_logits() holds the
 * last position's logits.  A chunk's table rows are read and checked before
 * any of its arithmetic, so a damaged row fails the call before the chunk
 * changes anything.
 *   LUTDB_EINVAL    n == 0, the session failed before and was not reset, or
 *                   the call comes from one of this session's callbacks
 *   LUTDB_ERANGE    an id >= vocab (nothing is fed)
 *   LUTDB_ECONTEXT  position + n exceeds the capacity / max_position_embeddings
 *                   (nothing is fed)
 * Any other failure (a damaged table row, fn stopping) leaves the session
 * failed: call lutdb_session_reset() before using it again. */
LUTDB_API int lutdb_session_feed(lutdb_session *s, const uint32_t *ids, size_t n, lutdb_logits_fn fn, void *ctx);

/* Logits (vocab floats) of the last fed position, owned by s and valid until
 * the next feed/reset/free; NULL before the first successful feed. */
LUTDB_API const float *lutdb_session_logits(const lutdb_session *s);

/* ---- sampling --------------------------------------------------------------- */
typedef struct lutdb_sampling {
	size_t size;       /* sizeof(lutdb_sampling) */
	float temperature; /* <= 0: greedy (argmax, ties to the lowest id) */
	uint32_t top_k;    /* keep the k most likely ids; 0: all */
	float top_p;       /* keep the smallest set of most likely ids whose
			      probability reaches top_p; >= 1 (or <= 0): all */
	uint64_t seed;     /* random generator seed: same seed, same logits ->
			      same ids */
} lutdb_sampling;

/* A sampler for vocab ids (p NULL: greedy).  Temperature, then top-k, then
 * top-p, then one draw from the renormalised distribution with a
 * xoshiro256** generator seeded from p->seed (candidates ordered by logit
 * descending, id ascending; NaN logits never chosen).  Owns its generator
 * state and all the working memory a draw needs (LUTDB_ENOMEM here when it
 * cannot be had): one sampler per sequence, used by one thread at a time.
 * Free with lutdb_sampler_free() (NULL is a no-op).  On failure *out is
 * NULL. */
LUTDB_API int lutdb_sampler_new(const lutdb_sampling *p, uint32_t vocab, lutdb_sampler **out);
LUTDB_API void lutdb_sampler_free(lutdb_sampler *sp);

/* Picks the next id from logits (vocab floats; not modified).  Allocates
 * nothing and cannot fail. */
LUTDB_API uint32_t lutdb_sampler_next(lutdb_sampler *sp, const float *logits);

/* Index of the largest of n values, the lowest on ties (NaN never wins). */
LUTDB_API uint32_t lutdb_argmax(const float *v, uint32_t n);

/* ---- generation ------------------------------------------------------------- */
/* Receives every generated id as soon as it is chosen (before it is fed
 * back).  Returning nonzero stops generation (as lutdb_logits_fn).  Runs on
 * the generating thread; must not feed the session being generated. */
typedef int (*lutdb_token_fn)(void *ctx, uint32_t id);

typedef struct lutdb_generate_opts {
	size_t size;                    /* sizeof(lutdb_generate_opts) */
	uint32_t max_tokens;            /* ids to generate at most */
	const lutdb_sampling *sampling; /* NULL: greedy */
	int ignore_eos;                 /* 0: stop after an eos id (it is output) */
	lutdb_logits_fn on_logits;      /* optional: logits of every fed position
					   (the prompt's, then each generated id
					   fed back; the last id is not fed) */
	void *logits_ctx;
	lutdb_token_fn on_token;        /* optional */
	void *token_ctx;
} lutdb_generate_opts;

typedef struct lutdb_generate_stats {
	uint32_t prompt_tokens, generated, fed;
	double prefill_seconds; /* prompt feed, up to the first id */
	double decode_seconds;  /* the rest: decode steps and sampling */
} lutdb_generate_stats;

/* Feeds prompt (n ids, n may be 0 to continue from the session's last
 * logits) then generates up to max_tokens ids into out (room for
 * max_tokens), stopping after an eos id unless ignore_eos.  *n_out (and
 * stats, optional) say how far it got, also on failure.  When the context
 * fills up before max_tokens ids, the ids that fit are output and the call
 * returns LUTDB_ECONTEXT.  o may be NULL (defaults: nothing generated, the
 * prompt is fed).  The sampler is made (and its memory allocated) before
 * the prompt is fed. */
LUTDB_API int lutdb_generate(lutdb_session *s, const uint32_t *prompt, size_t n, const lutdb_generate_opts *o,
		   uint32_t *out, size_t *n_out, lutdb_generate_stats *stats);

/* ---- batched decoding ----------------------------------------------------------
 * A lutdb_batch decodes up to max_seqs sequences together.  A sequence
 * joins (lutdb_batch_join) with its prompt, sampling parameters and stop
 * rules and gets an id; every lutdb_batch_step() then
 *   - feeds every running sequence the id it generated last step, and up to
 *     prefill_tokens ids of the prompts of joining sequences (oldest join
 *     first), so a long prompt is fed in chunks between the running
 *     sequences' steps and never stalls them;
 *   - computes all those positions in one pass: each dense weight is read
 *     once for all of them, while attention reads each sequence's own KV
 *     cache and the expert term its own table rows;
 *   - samples the next id of every sequence whose prompt is done, applies
 *     its stop rules, and reports what happened through the callback.
 * A sequence leaves when it finishes (eos, a stop id, max_tokens, its
 * capacity) or is cancelled; its slot is free for a new join right after
 * its last event.  A sequence's logits, and so its ids for a given seed,
 * are bit-identical whether it runs alone, through lutdb_session_feed /
 * lutdb_generate, or batched with any others, at any thread count.
 *
 * Memory: lutdb_batch_new allocates every slot's KV cache for capacity
 * positions (L * capacity * kv_heads * head_dim * 8 bytes per slot), its
 * table-row pointers and prompt copy, and the buffers of a step of
 * max_seqs + prefill_tokens positions; join and step allocate nothing. */
typedef struct lutdb_batch lutdb_batch;

typedef struct lutdb_batch_opts {
	size_t size;             /* sizeof(lutdb_batch_opts) */
	uint32_t max_seqs;       /* sequences at once (slots); 0: 4; at most
				    LUTDB_BATCH_MAX_SEQS */
	uint32_t capacity;       /* positions per slot, prompt included; 0:
				    max_position_embeddings */
	uint32_t prefill_tokens; /* prompt ids fed per step, over all joining
				    sequences; 0: 64; at most max_seqs *
				    capacity and LUTDB_BATCH_MAX_PREFILL */
	unsigned flags;          /* LUTDB_SESSION_NO_EXPERTS (benchmarks only) */
} lutdb_batch_opts;

#define LUTDB_BATCH_MAX_SEQS 1024u
#define LUTDB_BATCH_MAX_PREFILL 65536u

/* A batch over m (opts may be NULL: defaults).  A capacity above
 * max_position_embeddings is LUTDB_ECONTEXT; max_seqs above
 * LUTDB_BATCH_MAX_SEQS is LUTDB_EINVAL; a larger prefill_tokens than its
 * limits is taken as the limit.  m must outlive it.  On failure *out is NULL. */
LUTDB_API int lutdb_batch_new(lutdb_model *m, const lutdb_batch_opts *opts, lutdb_batch **out);

/* Frees the batch and every sequence in it (no events).  Not while a step
 * or a lutdb_batch_cancel runs.  NULL is a no-op. */
LUTDB_API void lutdb_batch_free(lutdb_batch *b);

/* Sequence flags. */
#define LUTDB_SEQ_PROMPT_LOGITS 0x1u /* report the logits of every prompt
					position (LUTDB_EVENT_PROMPT) */
/* Stop ids a sequence may have. */
#define LUTDB_BATCH_MAX_STOP_IDS 64u

typedef struct lutdb_batch_seq_opts {
	size_t size;                    /* sizeof(lutdb_batch_seq_opts) */
	const lutdb_sampling *sampling; /* NULL: greedy; read during the join */
	uint32_t max_tokens;            /* ids to generate at most; 0: none (only
					   the prompt is fed) */
	int ignore_eos;                 /* 0: finish after an eos id (it is output) */
	const uint32_t *stop_ids;       /* finish after any of these ids (output);
					   read during the join */
	uint32_t n_stop_ids;            /* <= LUTDB_BATCH_MAX_STOP_IDS */
	uint32_t capacity;              /* positions this sequence may use, prompt
					   included; 0: the batch's (also the most) */
	unsigned flags;                 /* LUTDB_SEQ_* */
	void *user;                     /* handed back in every event (the batch
					   never touches what it points to) */
} lutdb_batch_seq_opts;

/* Adds a sequence with prompt (n >= 1 ids, copied) to a free slot and sets
 * *id (never 0, never reused by this batch).  Nothing is computed until the
 * next step.  Everything is checked before anything changes:
 *   LUTDB_EINVAL    n == 0, NULL arguments, a sampling temperature or top-p
 *                   that is NaN, too many stop ids, or a call from this
 *                   batch's event callback
 *   LUTDB_ERANGE    a prompt or stop id >= vocab
 *   LUTDB_ECONTEXT  n exceeds the sequence's capacity, or that capacity the
 *                   batch's
 *   LUTDB_ETOOBIG   every slot is taken (lutdb_batch_count() ==
 *                   lutdb_batch_max_seqs())
 * On failure *id is 0. */
LUTDB_API int lutdb_batch_join(lutdb_batch *b, const uint32_t *prompt, size_t n, const lutdb_batch_seq_opts *o,
			       uint64_t *id);

/* Asks sequence id to stop.  Safe from any thread at any time between
 * lutdb_batch_new and lutdb_batch_free, also during a step and from the
 * event callback.  Once the stepping thread sees the request the sequence
 * gets no more PROMPT or TOKEN events; its last event is an END with
 * LUTDB_FINISH_CANCELLED, at the end of the running step (asked during one)
 * or at the start of the next, and its slot is free after it.  A sequence
 * that finished before the request was seen keeps its own finish.
 * LUTDB_ENOENT when id is not in the batch (never joined, or finished);
 * asking twice is fine. */
LUTDB_API int lutdb_batch_cancel(lutdb_batch *b, uint64_t id);

/* Event kinds. */
#define LUTDB_EVENT_PROMPT 1 /* the logits of prompt position pos
				(LUTDB_SEQ_PROMPT_LOGITS only) */
#define LUTDB_EVENT_TOKEN 2  /* a generated id; finish says whether it was
				the last */
#define LUTDB_EVENT_END 3    /* finished without a new id: finish says why */

/* Why a sequence finished (lutdb_batch_event.finish). */
#define LUTDB_FINISH_NONE 0      /* still running */
#define LUTDB_FINISH_EOS 1       /* generated an eos id (the event's token) */
#define LUTDB_FINISH_STOP_ID 2   /* generated one of its stop ids (the token) */
#define LUTDB_FINISH_LENGTH 3    /* generated max_tokens ids */
#define LUTDB_FINISH_CONTEXT 4   /* its capacity is full: the token is the
				    last that fits */
#define LUTDB_FINISH_CANCELLED 5 /* lutdb_batch_cancel or the callback */
#define LUTDB_FINISH_ERROR 6     /* a table row of it failed to read (error) */

/* What happened to one sequence in a step.  The library sets size to the
 * size of its struct: fields past it are not there (an older library). */
typedef struct lutdb_batch_event {
	size_t size;
	uint64_t seq;         /* the sequence's id */
	void *user;           /* its lutdb_batch_seq_opts.user */
	int kind;             /* LUTDB_EVENT_* */
	int finish;           /* LUTDB_FINISH_*: nonzero on its last event */
	int error;            /* LUTDB_FINISH_ERROR: the lutdb code (context in
				 lutdb_errdetail() during the callback) */
	uint32_t token;       /* TOKEN: the generated id */
	uint32_t generated;   /* ids generated so far, this one included */
	uint32_t pos;         /* PROMPT, TOKEN: the position whose logits these
				 are (a TOKEN's id was sampled from them) */
	const float *logits;  /* PROMPT, TOKEN: vocab floats, owned by the batch,
				 valid only during the callback; else NULL.
				 A first TOKEN's are its last PROMPT's. */
	uint32_t vocab;
} lutdb_batch_event;

/* Receives the events of a step in order: per sequence in position order,
 * its last event last.  Runs on the stepping thread while no parallel work
 * is in flight; may call the library on other objects and
 * lutdb_batch_cancel on this batch, but not lutdb_batch_join or
 * lutdb_batch_step of it (LUTDB_EINVAL), nor free it.  Returning nonzero
 * for an event that does not finish its sequence cancels that sequence (as
 * lutdb_batch_cancel). */
typedef int (*lutdb_batch_event_fn)(void *ctx, const lutdb_batch_event *ev);

/* What a step did (set .size = sizeof; the library fills the fields that
 * fit). */
typedef struct lutdb_batch_stats {
	size_t size;
	uint32_t positions; /* positions computed: running ids + prompt ids */
	uint32_t prompt;    /* of which prompt ids */
	uint32_t tokens;    /* ids generated */
	uint32_t finished;  /* sequences that finished */
	uint32_t sequences; /* sequences in the batch afterwards */
} lutdb_batch_stats;

/* One step (see above): fn (optional) gets every event, stats (optional)
 * the counts.  With no sequence in the batch it does nothing.  A table row
 * that fails to read ends only its sequence (LUTDB_FINISH_ERROR), before
 * any arithmetic of the step.  Returns LUTDB_EINVAL for NULL b or a call
 * from this batch's callback; else LUTDB_OK. */
LUTDB_API int lutdb_batch_step(lutdb_batch *b, lutdb_batch_event_fn fn, void *ctx, lutdb_batch_stats *stats);

/* Sequences in the batch (joined, not finished), its slots, and the
 * positions of a slot. */
LUTDB_API uint32_t lutdb_batch_count(const lutdb_batch *b);
LUTDB_API uint32_t lutdb_batch_max_seqs(const lutdb_batch *b);
LUTDB_API uint32_t lutdb_batch_capacity(const lutdb_batch *b);

/* ---- evaluation ------------------------------------------------------------- */
typedef struct lutdb_eval_result {
	double loss;      /* mean negative log-likelihood, nats */
	double ppl;       /* exp(loss) */
	uint64_t tokens;  /* predicted tokens */
	uint32_t windows; /* windows scored */
} lutdb_eval_result;

/* Scores ids (n of them) with teacher forcing: consecutive non-overlapping
 * windows of `window` tokens (0: max_position_embeddings), each independent
 * (fresh context, positions from 0); a window of k tokens predicts k - 1.
 * Per-token NLL from float32 logits, summed in float64.  progress (optional)
 * gets windows done / total, on the calling thread after each window, and
 * may cancel (LUTDB_EINTR).  LUTDB_EINVAL when nothing is predicted
 * (n < 2); LUTDB_ERANGE for an id >= vocab. */
LUTDB_API int lutdb_eval(lutdb_model *m, const uint32_t *ids, size_t n, uint32_t window, lutdb_progress_fn progress,
	       void *progress_ctx, lutdb_eval_result *out);

/* ---- token id lists -------------------------------------------------------- */
/* Parses decimal token ids separated by commas and/or whitespace ("1,2, 3",
 * "1 2\n3"; at most one comma between two ids, leading/trailing separators
 * allowed) from text (len bytes, NUL not needed).  *ids is allocated for
 * the caller, who releases it with lutdb_free() (NULL when *n == 0).
 * Anything else - signs, letters, empty items ("1,,2"), a value above
 * 2^32-1 - is LUTDB_EINVAL naming the item and its byte offset.  Ids are not checked against a vocabulary (feeding does). */
LUTDB_API int lutdb_ids_parse(const char *text, size_t len, uint32_t **ids, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_RUNTIME_H */
