/*
 * gen.c - what a sequence's events make (job.h): the text through the
 * tokenizer's stream decoder with stop strings matched on it, the ids, the
 * logprobs, and the bytes published for the connection: one SSE chunk per
 * generated id when streaming, else the whole body at the end.
 *
 * Stop strings: text that could still be the start of a stop string is held
 * back (j->pending) until the next ids decide; a match ends the sequence
 * with the text before it (OpenAI: the stop sequence is not returned).  A
 * stop id ends it too; its text is left out like a stop string's, while the
 * id itself stays in "tokens" (as an eos id does, as `lutdb run` prints it).
 */
#include <stdio.h>
#include <string.h>

#include "job.h"

/* The "choices[0]" object of what is unpublished (takes j->text, j->ids,
 * j->lp; they are renewed for the next chunk). */
static json_t *take_choice(server *s, job *j, const char *finish)
{
	json_t *c = json_pack("{s:s%, s:i, s:o?, s:s?}", "text", j->text.p ? j->text.p : "", j->text.len, "index", 0,
			      "logprobs", j->lp ? j->lp : json_null(), "finish_reason", finish);

	if (c && j->ids)
		json_object_set_new(c, "tokens", j->ids);
	else
		json_decref(j->ids);
	j->ids = j->req.return_tokens ? json_array() : NULL;
	j->lp = j->req.logprobs >= 0 ? oai_logprobs_new() : NULL;
	j->text.len = 0;
	return c;
}

/* The usage object, with extra ids generated but not yet counted in j. */
static json_t *usage(const job *j, uint32_t extra)
{
	uint32_t done = j->completion_tokens + extra;
	return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)j->prompt_tokens, "completion_tokens", (int)done,
			 "total_tokens", (int)(j->prompt_tokens + done));
}

static json_t *envelope(const job *j, const server *s, json_t *choices)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", j->id, "object", "text_completion", "created",
			 (json_int_t)j->created, "model", s->model_id, "choices", choices);
}

/* "data: JSON\n\n" onto out (takes v). */
static int sse(serve_buf *out, json_t *v)
{
	int bad = !v || buf_put(out, "data: ", 6) || buf_json(out, v) || buf_put(out, "\n\n", 2);
	json_decref(v);
	return bad ? -1 : 0;
}

/* A string literal onto a buffer. */
#define PUT(b, lit) buf_put(b, lit, sizeof lit - 1)

/* Appends a JSON integer array's elements, comma-separated. */
static int put_ints(serve_buf *c, const json_t *a)
{
	char t[24];
	for (size_t i = 0; i < json_array_size(a); i++) {
		int n = snprintf(t, sizeof t, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
				 json_integer_value(json_array_get(a, i)));
		if (buf_put(c, t, (size_t)n))
			return -1;
	}
	return 0;
}

/* A streamed chunk, "data: {...}\n\n", written straight into c: the bytes
 * take_choice + envelope + json_dumps would give (the same keys in the same
 * order, compact), at a tenth of the instructions: this runs for every id
 * of every stream on the stepping thread while the step's other thread
 * waits.  Jansson still escapes the text (and refuses invalid UTF-8, as
 * json_pack does) and writes the logprobs.  The envelope's head is the same
 * for every chunk of a job: written once into j->head. */
static int stream_chunk(server *s, job *j, const char *finish, serve_buf *c)
{
	int bad = 0;

	if (!j->head.len) {
		json_t *m = json_string(s->model_id);
		char t[192];
		int n = snprintf(t, sizeof t,
				 "data: {\"id\":\"%s\",\"object\":\"text_completion\","
				 "\"created\":%lld,\"model\":",
				 j->id, j->created);
		bad = !m || n < 0 || (size_t)n >= sizeof t || buf_put(&j->head, t, (size_t)n) ||
		      buf_json(&j->head, m) || PUT(&j->head, ",\"choices\":[{\"text\":");
		json_decref(m);
		if (bad) {
			j->head.len = 0;
			return -1;
		}
	}
	if (buf_put(c, j->head.p, j->head.len))
		return -1;
	if (!j->text.len) {
		bad = PUT(c, "\"\"");
	} else {
		json_t *t = json_stringn(j->text.p, j->text.len);
		bad = !t || buf_json(c, t);
		json_decref(t);
	}
	bad = bad || PUT(c, ",\"index\":0,\"logprobs\":") || (j->lp ? buf_json(c, j->lp) : PUT(c, "null")) ||
	      PUT(c, ",\"finish_reason\":") ||
	      (finish ? PUT(c, "\"") || buf_put(c, finish, strlen(finish)) || PUT(c, "\"")
		      : PUT(c, "null")) ||
	      (j->ids && (PUT(c, ",\"tokens\":[") || put_ints(c, j->ids) || PUT(c, "]"))) ||
	      PUT(c, "}]}\n\n");
	/* Renewed for the next chunk, as take_choice does. */
	if (j->ids)
		json_array_clear(j->ids);
	if (j->lp) {
		json_decref(j->lp);
		j->lp = oai_logprobs_new();
	}
	j->text.len = 0;
	return bad ? -1 : 0;
}

/* The bytes of one publication into j->chunk, formatted by the scheduler
 * thread before it takes the lock (so connections reading out and queueing
 * never wait on JSON building): a streamed chunk (with finish, also the
 * usage chunk and [DONE]), or a non-streamed job's whole body.  token: the
 * id just generated, not yet in completion_tokens.  Returns -1 when out of
 * memory. */
static int format_chunk(server *s, job *j, const char *finish, int token)
{
	serve_buf *c = &j->chunk;
	int bad;

	c->len = 0;
	if (!j->req.stream) { /* the whole body, with its usage */
		json_t *ch = take_choice(s, j, finish);
		json_t *v = ch ? envelope(j, s, json_pack("[o]", ch)) : NULL;
		bad = !v || json_object_set_new(v, "usage", usage(j, (uint32_t)token)) || buf_json(c, v);
		json_decref(v);
		return bad ? -1 : 0;
	}
	bad = stream_chunk(s, j, finish, c);
	if (!bad && finish && j->req.include_usage) {
		json_t *u = envelope(j, s, json_array());
		if (!u || json_object_set_new(u, "usage", usage(j, (uint32_t)token))) {
			json_decref(u);
			bad = -1;
		} else {
			bad = sse(c, u);
		}
	}
	if (!bad && finish)
		bad = buf_put(c, "data: [DONE]\n\n", 14);
	return bad ? -1 : 0;
}

/* Publishes what is unpublished; with finish, the sequence's end; token:
 * it carries a newly generated id (counted here, under the same lock).
 * Returns nonzero when the connection is gone or too far behind (cancel). */
static int publish(server *s, job *j, const char *finish, int token)
{
	int cancel, bad = 0;

	if (j->req.stream || finish)
		bad = format_chunk(s, j, finish, token);
	pthread_mutex_lock(&s->mu);
	if (token) {
		j->completion_tokens++;
		s->gen_tokens++;
		if (!j->first_sent) {
			j->first_sent = 1;
			s->ttft_sum += serve_now() - j->t_start;
			s->ttft_count++;
		}
	}
	if (!(cancel = j->gone || j->state == JOB_DONE)) {
		if (j->req.stream) {
			if (bad || j->out.len - j->sent > SERVE_OUT_MAX || buf_put(&j->out, j->chunk.p, j->chunk.len)) {
				j->gone = 1; /* a reader this far behind is dropped */
				cancel = 1;
			}
		} else if (finish) {
			j->status = bad || buf_put(&j->out, j->chunk.p, j->chunk.len) ? 500 : 200;
		}
		if (finish || cancel)
			j->state = JOB_DONE;
		pthread_cond_broadcast(&j->cond);
	}
	pthread_mutex_unlock(&s->mu);
	return cancel;
}

void gen_fail(server *s, job *j, int status, const char *type, const char *message)
{
	json_t *e = oai_error(status, type, NULL, NULL, message);

	if (j->state == JOB_DONE)
		goto out;
	if (j->req.stream) {
		sse(&j->out, e);
		e = NULL;
		buf_put(&j->out, "data: [DONE]\n\n", 14);
	} else {
		j->out.len = 0;
		j->status = status;
		if (!e || buf_json(&j->out, e))
			j->status = 500;
	}
	j->state = JOB_DONE;
	pthread_cond_broadcast(&j->cond);
out:
	json_decref(e);
}

/* The text of one prompt id, for echoed logprobs. */
static int piece_of(server *s, uint32_t id, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	return s->tok ? lutdb_tokenizer_decode(s->tok, &id, 1, 1, text, len) : 0;
}

int gen_start(server *s, job *j)
{
	const serve_req *r = &j->req;
	char *text = NULL;
	size_t len = 0;
	int rc = -1;

	if (s->tok && lutdb_tokenizer_stream_new(s->tok, 1, &j->ts))
		return -1;
	j->ids = r->return_tokens ? json_array() : NULL;
	j->lp = r->logprobs >= 0 ? oai_logprobs_new() : NULL;
	if ((r->return_tokens && !j->ids) || (r->logprobs >= 0 && !j->lp))
		return -1;
	if (!r->echo)
		return 0;
	if (r->prompt_text) {
		if (buf_put(&j->text, r->prompt_text, r->prompt_text_len))
			return -1;
	} else if (s->tok) {
		if (lutdb_tokenizer_decode(s->tok, r->prompt, r->n_prompt, 1, &text, &len) || buf_put(&j->text, text, len))
			goto out;
	}
	j->decoded = j->text.len;
	for (size_t i = 0; j->ids && i < r->n_prompt; i++)
		if (json_array_append_new(j->ids, json_integer(r->prompt[i])))
			goto out;
	if (j->lp) {
		lutdb_free(text);
		if (piece_of(s, r->prompt[0], &text, &len) ||
		    oai_logprob(s, j->lp, r->prompt[0], text, len, 0, NULL, 0, 0))
			goto out;
		j->prompt_off = len;
	}
	rc = 0;
out:
	lutdb_free(text);
	return rc;
}

/* The longest end of p that a stop string begins with (held back). */
static size_t stop_prefix(const job *j, const char *p, size_t n)
{
	size_t best = 0;

	for (uint32_t i = 0; i < j->req.n_stop; i++)
		for (size_t k = j->req.stop_len[i] - 1; k > best; k--)
			if (k <= n && !memcmp(p + n - k, j->req.stop[i], k)) {
				best = k;
				break;
			}
	return best;
}

/* Where the first stop string starts in p, or -1. */
static long stop_match(const job *j, const char *p, size_t n)
{
	long at = -1;

	for (uint32_t i = 0; i < j->req.n_stop; i++) {
		const char *m = memmem(p, n, j->req.stop[i], j->req.stop_len[i]);
		if (m && (at < 0 || m - p < at))
			at = m - p;
	}
	return at;
}

static int on_token(server *s, job *j, const lutdb_batch_event *ev)
{
	const char *piece = "";
	size_t len = 0;
	const char *finish = NULL;

	if (j->ts && ev->finish != LUTDB_FINISH_STOP_ID && lutdb_tokenizer_stream_step(j->ts, ev->token, &piece, &len))
		return -1;
	if (j->lp && oai_logprob(s, j->lp, ev->token, piece, len, j->decoded, ev->logits, ev->vocab, j->req.logprobs))
		return -1;
	j->decoded += len;
	if (j->ids && json_array_append_new(j->ids, json_integer(ev->token)))
		return -1;
	if (buf_put(&j->pending, piece, len))
		return -1;
	long at = stop_match(j, j->pending.p, j->pending.len);
	size_t emit = j->pending.len;
	if (at >= 0) {
		emit = (size_t)at;
		j->stopped = 1;
		finish = "stop";
	} else if (ev->finish) {
		finish = ev->finish == LUTDB_FINISH_LENGTH || ev->finish == LUTDB_FINISH_CONTEXT ? "length" : "stop";
	} else {
		emit -= stop_prefix(j, j->pending.p, j->pending.len);
	}
	if (buf_put(&j->text, j->pending.p, emit))
		return -1;
	memmove(j->pending.p, j->pending.p + emit, j->pending.len - emit);
	j->pending.len -= emit;
	if (publish(s, j, finish, 1))
		return 1;
	return j->stopped;
}

int gen_event(server *s, job *j, const lutdb_batch_event *ev)
{
	if (j->stopped)
		return 1;
	switch (ev->kind) {
	case LUTDB_EVENT_PROMPT: {
		char *text;
		size_t len;
		if (!j->lp || ev->pos + 1 >= j->req.n_prompt)
			return 0;
		uint32_t id = j->req.prompt[ev->pos + 1];
		if (piece_of(s, id, &text, &len))
			return -1;
		int rc = oai_logprob(s, j->lp, id, text, len, j->prompt_off, ev->logits, ev->vocab, j->req.logprobs);
		j->prompt_off += len;
		lutdb_free(text);
		return rc;
	}
	case LUTDB_EVENT_TOKEN:
		if (on_token(s, j, ev) < 0) {
			pthread_mutex_lock(&s->mu);
			gen_fail(s, j, 500, "server_error", "out of memory decoding the completion");
			pthread_mutex_unlock(&s->mu);
			return 1;
		}
		return j->stopped;
	default: /* END */
		if (ev->finish == LUTDB_FINISH_LENGTH) {
			publish(s, j, "length", 0);
			return 0;
		}
		pthread_mutex_lock(&s->mu);
		if (ev->finish == LUTDB_FINISH_ERROR)
			gen_fail(s, j, 500, "server_error", "a table row of the database failed to read");
		else if (!j->gone)
			gen_fail(s, j, 503, "server_shutting_down", "the server is shutting down");
		else
			j->state = JOB_DONE;
		pthread_cond_broadcast(&j->cond);
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
}
