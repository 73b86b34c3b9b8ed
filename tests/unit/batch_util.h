/*
 * batch_util.h - sequences run alone and in batches, for test_batch.c
 * (header-only).
 *
 * A bspec is one sequence: its prompt, sampling, stop rules and capacity,
 * and what it gives alone: lutdb_generate on a session of its capacity (one
 * thread), with the logits of every position it fed.  run_batch() runs
 * several bspecs through a lutdb_batch, joining each at its step (or as
 * soon as a slot is free), and checks every event against the run alone:
 * same ids, bitwise the same logits at the same positions, the same finish
 * reason; and that every running sequence got an id at every step.
 */
#ifndef LUTDB_BATCH_UTIL_H
#define LUTDB_BATCH_UTIL_H

#include "runtime_big.h"

#define BMAX_PROMPT 160
#define BMAX_GEN 40

typedef struct bspec {
	uint32_t prompt[BMAX_PROMPT];
	uint32_t n;
	lutdb_sampling sampling; /* temperature 0: greedy */
	uint32_t max_tokens, cap;
	int ignore_eos;
	uint32_t stop[4], n_stop;
	unsigned flags; /* LUTDB_SEQ_* */
	/* alone */
	uint32_t ids[BMAX_GEN];
	size_t n_ids;
	int finish;
	float *logits; /* [cap][V]: every fed position's */
	uint32_t V;
} bspec;

static inline int bspec_is_stop(const bspec *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n_stop; i++)
		if (s->stop[i] == id)
			return 1;
	return 0;
}

static inline int solo_logits_cb(void *ctx, uint32_t pos, const float *lg, uint32_t V)
{
	bspec *s = ctx;
	ck_assert_uint_lt(pos, s->cap);
	memcpy(s->logits + (size_t)pos * V, lg, V * sizeof *lg);
	return 0;
}

static inline int solo_token_cb(void *ctx, uint32_t id)
{
	return bspec_is_stop(ctx, id);
}

/* s alone on m: lutdb_generate with s's rules (stop ids through the token
 * callback), on a session of s's capacity. */
static inline void solo_run(lutdb_model *m, bspec *s)
{
	lutdb_session_opts so = {.size = sizeof so, .capacity = s->cap};
	lutdb_session *ss;
	lutdb_generate_opts go = {.size = sizeof go,
				  .max_tokens = s->max_tokens,
				  .sampling = s->sampling.temperature > 0 ? &s->sampling : NULL,
				  .ignore_eos = s->ignore_eos,
				  .on_logits = solo_logits_cb,
				  .logits_ctx = s,
				  .on_token = solo_token_cb,
				  .token_ctx = s};
	s->V = lutdb_model_info(m)->vocab;
	free(s->logits);
	s->logits = calloc((size_t)s->cap * s->V, sizeof(float));
	ck_assert_int_eq(lutdb_session_new(m, &so, &ss), LUTDB_OK);
	ck_assert_uint_le(s->max_tokens, BMAX_GEN);
	int rc = lutdb_generate(ss, s->prompt, s->n, &go, s->ids, &s->n_ids, NULL);
	ck_assert_msg(rc == LUTDB_OK || rc == LUTDB_ECONTEXT || rc == LUTDB_EINTR, "alone: %s (%s)", lutdb_errdetail(),
		      lutdb_strerror(rc));
	if (s->n_ids && !s->ignore_eos && lutdb_model_is_eos(m, s->ids[s->n_ids - 1]))
		s->finish = LUTDB_FINISH_EOS;
	else if (rc == LUTDB_EINTR)
		s->finish = LUTDB_FINISH_STOP_ID;
	else if (rc == LUTDB_ECONTEXT)
		s->finish = LUTDB_FINISH_CONTEXT;
	else
		s->finish = LUTDB_FINISH_LENGTH;
	lutdb_session_free(ss);
}

static inline lutdb_batch_seq_opts bspec_opts(const bspec *s, void *user)
{
	lutdb_batch_seq_opts o = {.size = sizeof o,
				  .sampling = &s->sampling,
				  .max_tokens = s->max_tokens,
				  .ignore_eos = s->ignore_eos,
				  .stop_ids = s->stop,
				  .n_stop_ids = s->n_stop,
				  .capacity = s->cap,
				  .flags = s->flags,
				  .user = user};
	return o;
}

/* One sequence in a batch run: its spec, when it joins, what it got. */
typedef struct brun {
	bspec *s;
	int join_at;
	int cancel_at_token; /* > 0: the callback returns 1 on this TOKEN event */
	uint64_t id;
	int joined, ended, finish, error;
	uint32_t ids[BMAX_GEN];
	size_t n_ids;
	uint32_t prompt_events;
	int running_before, tokens_this_step, joined_step, first_token_step;
	const char *tag;
	char detail[256]; /* lutdb_errdetail() at a LUTDB_FINISH_ERROR */
} brun;

/* Checks one event against the run alone. */
static inline int brun_event(void *ctx, const lutdb_batch_event *ev)
{
	brun *r = ev->user;
	const bspec *s = r->s;
	const uint32_t V = s->V;

	(void)ctx;
	ck_assert_uint_eq(ev->size, sizeof *ev);
	ck_assert_msg(!r->ended, "%s: an event after the last", r->tag);
	ck_assert_uint_eq(ev->seq, r->id);
	if (ev->kind == LUTDB_EVENT_PROMPT) {
		ck_assert(s->flags & LUTDB_SEQ_PROMPT_LOGITS);
		ck_assert_uint_eq(ev->pos, r->prompt_events);
		ck_assert_uint_lt(ev->pos, s->n);
		ck_assert_uint_eq(ev->vocab, V);
		ck_assert_msg(!memcmp(ev->logits, s->logits + (size_t)ev->pos * V, V * sizeof(float)),
			      "%s: prompt logits of position %u differ from the run alone by %g", r->tag, ev->pos,
			      max_abs(ev->logits, s->logits + (size_t)ev->pos * V, V));
		r->prompt_events++;
	} else if (ev->kind == LUTDB_EVENT_TOKEN) {
		size_t k = r->n_ids;
		ck_assert_msg(k < s->n_ids, "%s: more ids than alone (%zu)", r->tag, s->n_ids);
		ck_assert_uint_eq(ev->pos, s->n - 1 + k);
		ck_assert_uint_eq(ev->vocab, V);
		ck_assert_msg(!memcmp(ev->logits, s->logits + (size_t)ev->pos * V, V * sizeof(float)),
			      "%s: logits of position %u differ from the run alone by %g", r->tag, ev->pos,
			      max_abs(ev->logits, s->logits + (size_t)ev->pos * V, V));
		ck_assert_msg(ev->token == s->ids[k], "%s: id %zu is %u, alone %u", r->tag, k, ev->token, s->ids[k]);
		r->ids[r->n_ids++] = ev->token;
		ck_assert_uint_eq(ev->generated, r->n_ids);
		r->tokens_this_step++;
	} else {
		ck_assert_int_eq(ev->kind, LUTDB_EVENT_END);
		ck_assert_msg(ev->finish != LUTDB_FINISH_NONE, "%s: END without a reason", r->tag);
		ck_assert_ptr_null(ev->logits);
	}
	if (ev->finish) {
		r->ended = 1;
		r->finish = ev->finish;
		r->error = ev->error;
		if (ev->finish == LUTDB_FINISH_ERROR)
			snprintf(r->detail, sizeof r->detail, "%s", lutdb_errdetail());
		return 0;
	}
	return ev->kind == LUTDB_EVENT_TOKEN && (int)r->n_ids == r->cancel_at_token;
}

/* What a batch run uses besides its sequences. */
typedef struct bconf {
	uint32_t max_seqs, capacity, prefill_tokens; /* lutdb_batch_opts (0: defaults) */
	int max_steps;
} bconf;

/* Steps b until every run has joined and finished; checks that the step's
 * stats add up and that no running sequence went without an id. */
static inline int drive_batch(lutdb_batch *b, brun *runs, int nr, const bconf *c)
{
	int step = 0;
	uint32_t prefill = c->prefill_tokens ? c->prefill_tokens : 64;

	for (;;) {
		int waiting = 0, running = 0;
		for (int i = 0; i < nr; i++) {
			brun *r = &runs[i];
			if (r->joined || r->join_at > step) {
				waiting += !r->joined;
				continue;
			}
			lutdb_batch_seq_opts o = bspec_opts(r->s, r);
			int rc = lutdb_batch_join(b, r->s->prompt, r->s->n, &o, &r->id);
			if (rc == LUTDB_ETOOBIG) {
				ck_assert_uint_eq(lutdb_batch_count(b), lutdb_batch_max_seqs(b));
				waiting++;
				continue;
			}
			ck_assert_msg(rc == LUTDB_OK, "%s: join: %s (%s)", r->tag, lutdb_errdetail(),
				      lutdb_strerror(rc));
			r->joined = 1;
			r->joined_step = step;
		}
		if (!waiting && !lutdb_batch_count(b))
			return step;
		for (int i = 0; i < nr; i++) {
			brun *r = &runs[i];
			r->tokens_this_step = 0;
			r->running_before = r->joined && !r->ended && r->n_ids > 0;
			running += r->running_before;
		}
		lutdb_batch_stats st = {.size = sizeof st};
		ck_assert_int_eq(lutdb_batch_step(b, brun_event, NULL, &st), LUTDB_OK);
		ck_assert_uint_le(st.prompt, prefill);
		ck_assert_uint_eq(st.positions, st.prompt + (uint32_t)running);
		ck_assert_uint_eq(st.sequences, lutdb_batch_count(b));
		for (int i = 0; i < nr; i++) {
			brun *r = &runs[i];
			if (r->tokens_this_step && r->n_ids == 1)
				r->first_token_step = step;
			/* a running sequence gets an id at every step */
			if (r->running_before)
				ck_assert_msg(r->tokens_this_step == 1 ||
						      (r->ended && r->finish == LUTDB_FINISH_CANCELLED),
					      "%s: no id at step %d", r->tag, step);
		}
		ck_assert_int_lt(++step, c->max_steps ? c->max_steps : 100000);
	}
}

/* Runs runs[0, nr) through a new batch over m and checks each against its
 * run alone. */
static inline void run_batch(lutdb_model *m, brun *runs, int nr, const bconf *c)
{
	lutdb_batch_opts o = {.size = sizeof o,
			      .max_seqs = c->max_seqs,
			      .capacity = c->capacity,
			      .prefill_tokens = c->prefill_tokens};
	lutdb_batch *b;
	ck_assert_msg(lutdb_batch_new(m, &o, &b) == LUTDB_OK, "%s", lutdb_errdetail());
	drive_batch(b, runs, nr, c);
	for (int i = 0; i < nr; i++) {
		brun *r = &runs[i];
		const bspec *s = r->s;
		ck_assert_msg(r->ended, "%s: never finished", r->tag);
		/* the callback cancels at that id unless it is the last */
		if (r->cancel_at_token && r->cancel_at_token < (int)s->n_ids) {
			ck_assert_int_eq(r->finish, LUTDB_FINISH_CANCELLED);
			ck_assert_uint_eq(r->n_ids, (size_t)r->cancel_at_token);
			continue;
		}
		ck_assert_msg(r->finish == s->finish, "%s: finished %d, alone %d", r->tag, r->finish, s->finish);
		ck_assert_msg(r->n_ids == s->n_ids, "%s: %zu ids, alone %zu", r->tag, r->n_ids, s->n_ids);
		ck_assert_uint_eq(r->prompt_events, (s->flags & LUTDB_SEQ_PROMPT_LOGITS) ? s->n : 0);
	}
	ck_assert_uint_eq(lutdb_batch_count(b), 0);
	lutdb_batch_free(b);
}

/* ---- random sequences -------------------------------------------------------- */
static uint64_t brs;

static inline uint32_t brand(uint32_t n)
{
	brs = brs * 6364136223846793005ull + 1442695040888963407ull;
	return n ? (uint32_t)((brs >> 33) % n) : 0;
}

/* A random sequence for a model of vocabulary V and max_pos positions:
 * prompts of 1..max_prompt ids, greedy or seeded sampling, sometimes a
 * capacity it fills, stop ids, eos ignored, no ids at all, prompt logits. */
static inline void random_spec(bspec *s, uint32_t V, uint32_t max_pos, uint32_t max_prompt, uint32_t max_gen)
{
	memset(s, 0, sizeof *s);
	if (max_prompt > BMAX_PROMPT)
		max_prompt = BMAX_PROMPT;
	if (max_prompt > max_pos)
		max_prompt = max_pos;
	s->n = 1 + brand(max_prompt);
	for (uint32_t i = 0; i < s->n; i++)
		s->prompt[i] = brand(V);
	s->cap = brand(4) ? max_pos : s->n + brand(max_pos - s->n + 1);
	s->max_tokens = brand(10) ? 1 + brand(max_gen) : 0;
	s->sampling.size = sizeof s->sampling;
	if (brand(2)) {
		static const float temps[] = {0.6f, 1.0f, 1.4f};
		static const uint32_t ks[] = {0, 5, 40};
		static const float ps[] = {0.0f, 0.9f, 0.5f};
		s->sampling.temperature = temps[brand(3)];
		s->sampling.top_k = ks[brand(3)];
		s->sampling.top_p = ps[brand(3)];
		s->sampling.seed = brand(1000000);
	}
	s->ignore_eos = !brand(4);
	if (!brand(5))
		s->stop[s->n_stop++] = brand(V);
	if (!brand(5))
		s->flags |= LUTDB_SEQ_PROMPT_LOGITS;
}

#endif
