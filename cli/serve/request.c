/* request.c - parsing and checking request bodies (request.h says the rules). */
#include "request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_bounded.h"
#include "lutdb_err.h"

#define BAD "invalid_request_error"

int serve_fail(serve_err *err, int status, const char *type, const char *param, const char *code, const char *fmt,
	       ...)
{
	va_list ap;

	err->status = status;
	err->type = type;
	err->param = param;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* The body as a JSON object, or NULL and a 400 (413 over the caps).  The
 * store's bounded loader refuses, before jansson allocates anything, a
 * body whose tree would cost more than LUTDB_JSON_MEM_FACTOR times its
 * size or nest deeper than LUTDB_JSON_MAX_DEPTH: with every connection
 * holding at most one body, the parse trees stay a bounded constant. */
static json_t *load_object(const char *body, size_t len, serve_err *err)
{
	static const lutdb_json_doc doc = {.name = "request body", .max_bytes = SERVE_BODY_MAX, .bad = LUTDB_EINVAL,
					   .too_big = LUTDB_ETOOBIG};
	json_t *root = NULL;
	int rc = lutdb_json_load(&doc, body, len, &root);

	if (rc == LUTDB_ENOMEM) {
		serve_fail(err, 500, "server_error", NULL, NULL, "out of memory parsing the body");
		return NULL;
	}
	if (rc == LUTDB_ETOOBIG) {
		serve_fail(err, 413, BAD, NULL, "request_too_large", "%s", lutdb_errdetail());
		return NULL;
	}
	if (rc) {
		serve_fail(err, 400, BAD, NULL, NULL, "malformed JSON body: %s", lutdb_errdetail());
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		serve_fail(err, 400, BAD, NULL, NULL, "the request body must be a JSON object");
		return NULL;
	}
	return root;
}

/* A field that is absent or null counts as not given. */
static json_t *field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v && !json_is_null(v) ? v : NULL;
}

static int get_bool(json_t *o, const char *key, int def, int *out, serve_err *err)
{
	json_t *v = field(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return serve_fail(err, 400, BAD, key, NULL, "'%s' must be a boolean", key);
	*out = json_is_true(v);
	return 0;
}

/* A number in [lo, hi] (integers accepted). */
static int get_number(json_t *o, const char *key, double lo, double hi, double def, double *out, serve_err *err)
{
	json_t *v = field(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_number(v))
		return serve_fail(err, 400, BAD, key, NULL, "'%s' must be a number", key);
	double d = json_number_value(v);
	if (!isfinite(d) || d < lo || d > hi)
		return serve_fail(err, 400, BAD, key, NULL, "'%s' must be in [%g, %g]", key, lo, hi);
	*out = d;
	return 0;
}

/* Token ids from a JSON array (each 0 <= id < vocab, at most max of them);
 * *ids allocated with malloc. */
static int get_ids(json_t *a, const char *key, const serve_limits *lim, size_t max, uint32_t **ids, size_t *n,
		   serve_err *err)
{
	size_t count = json_array_size(a);

	*ids = NULL;
	*n = 0;
	if (count > max)
		return serve_fail(err, 400, BAD, key, "context_length_exceeded",
				  "'%s' holds %zu ids; this server's context is %u tokens", key, count, lim->ctx);
	for (size_t i = 0; i < count; i++) {
		json_t *v = json_array_get(a, i);
		if (!json_is_integer(v))
			return serve_fail(err, 400, BAD, key, NULL, "'%s' must be an array of integer token ids", key);
		json_int_t id = json_integer_value(v);
		if (id < 0 || (uint64_t)id >= lim->vocab)
			return serve_fail(err, 400, BAD, key, NULL, "'%s': token id %lld is out of range (vocab %u)", key,
					  (long long)id, lim->vocab);
	}
	if (!count)
		return 0;
	if (!(*ids = malloc(count * sizeof **ids)))
		return serve_fail(err, 500, "server_error", NULL, NULL, "out of memory");
	for (size_t i = 0; i < count; i++)
		(*ids)[i] = (uint32_t)json_integer_value(json_array_get(a, i));
	*n = count;
	return 0;
}

/* Text through the stored tokenizer (400 when there is none). */
static int encode(const serve_limits *lim, const char *key, const char *text, size_t len, int special,
		  uint32_t **ids, size_t *n, serve_err *err)
{
	uint32_t *got = NULL;
	size_t ng = 0;

	if (!lim->tok)
		return serve_fail(err, 400, BAD, key, NULL,
				  "this database holds no tokenizer: give '%s' as an array of token ids", key);
	int rc = lutdb_tokenizer_encode(lim->tok, text, len, special, &got, &ng);
	if (rc)
		return serve_fail(err, 500, "server_error", key, NULL, "tokenizer: %s", lutdb_strerror(rc));
	*ids = NULL;
	if (ng && !(*ids = malloc(ng * sizeof **ids))) {
		lutdb_free(got);
		return serve_fail(err, 500, "server_error", NULL, NULL, "out of memory");
	}
	if (ng)
		memcpy(*ids, got, ng * sizeof **ids);
	lutdb_free(got);
	*n = ng;
	return 0;
}

/* "prompt": a string, an array of ids, or an array holding one of those. */
static int get_prompt(json_t *o, const serve_limits *lim, serve_req *req, serve_err *err)
{
	json_t *p = field(o, "prompt");

	if (!p)
		return serve_fail(err, 400, BAD, "prompt", NULL, "'prompt' is required");
	if (json_is_array(p) && json_array_size(p) == 1 &&
	    (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
		p = json_array_get(p, 0);
	else if (json_is_array(p) && json_array_size(p) > 1 && !json_is_integer(json_array_get(p, 0)))
		return serve_fail(err, 400, BAD, "prompt", NULL, "one prompt per request: 'prompt' holds %zu",
				  json_array_size(p));
	if (json_is_string(p)) {
		size_t len = json_string_length(p);
		if (!(req->prompt_text = malloc(len + 1)))
			return serve_fail(err, 500, "server_error", NULL, NULL, "out of memory");
		memcpy(req->prompt_text, json_string_value(p), len + 1);
		req->prompt_text_len = len;
		if (encode(lim, "prompt", req->prompt_text, len, 1, &req->prompt, &req->n_prompt, err))
			return -1;
		if (req->n_prompt > lim->ctx)
			return serve_fail(err, 400, BAD, "prompt", "context_length_exceeded",
					  "the prompt is %zu tokens; this server's context is %u tokens", req->n_prompt,
					  lim->ctx);
	} else if (json_is_array(p)) {
		if (get_ids(p, "prompt", lim, lim->ctx, &req->prompt, &req->n_prompt, err))
			return -1;
	} else {
		return serve_fail(err, 400, BAD, "prompt", NULL, "'prompt' must be a string or an array of token ids");
	}
	if (!req->n_prompt)
		return serve_fail(err, 400, BAD, "prompt", NULL, "the prompt is empty (it holds no tokens)");
	return 0;
}

/* "stop": a string, an array of up to 4 strings, or ids (an id or an
 * array of ids; each is one stop id). */
static int get_stop(json_t *o, const serve_limits *lim, serve_req *req, serve_err *err)
{
	json_t *s = field(o, "stop");
	json_t *one[1];
	size_t count;

	if (!s)
		return 0;
	if (json_is_array(s)) {
		count = json_array_size(s);
	} else {
		one[0] = s;
		count = 1;
	}
	if (count > SERVE_STOP_MAX)
		return serve_fail(err, 400, BAD, "stop", NULL, "'stop' holds %zu entries; at most %u", count,
				  SERVE_STOP_MAX);
	for (size_t i = 0; i < count; i++) {
		json_t *v = json_is_array(s) ? json_array_get(s, i) : one[0];
		if (json_is_integer(v)) {
			json_int_t id = json_integer_value(v);
			if (id < 0 || (uint64_t)id >= lim->vocab)
				return serve_fail(err, 400, BAD, "stop", NULL, "'stop': token id %lld is out of range (vocab %u)",
						  (long long)id, lim->vocab);
			req->stop_ids[req->n_stop_ids++] = (uint32_t)id;
		} else if (json_is_string(v)) {
			size_t len = json_string_length(v);
			if (!lim->tok)
				return serve_fail(err, 400, BAD, "stop", NULL,
						  "this database holds no tokenizer: give 'stop' as token ids");
			if (!len || len > SERVE_STOP_LEN_MAX)
				return serve_fail(err, 400, BAD, "stop", NULL, "a stop string must be 1 to %u bytes",
						  SERVE_STOP_LEN_MAX);
			if (!(req->stop[req->n_stop] = malloc(len + 1)))
				return serve_fail(err, 500, "server_error", NULL, NULL, "out of memory");
			memcpy(req->stop[req->n_stop], json_string_value(v), len + 1);
			req->stop_len[req->n_stop++] = len;
		} else {
			return serve_fail(err, 400, BAD, "stop", NULL, "'stop' must be strings or token ids");
		}
	}
	return 0;
}

/* Options OpenAI has and this server does not: accepted only at their
 * neutral value, so a client never gets silently different behaviour. */
static int check_unsupported(json_t *o, serve_err *err)
{
	static const char *const zero[] = {"presence_penalty", "frequency_penalty"};
	json_t *v;

	for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
		if ((v = field(o, zero[i])) && (!json_is_number(v) || json_number_value(v) != 0.0))
			return serve_fail(err, 400, BAD, zero[i], NULL, "'%s' is not supported (only 0)", zero[i]);
	if ((v = field(o, "best_of")) && (!json_is_integer(v) || json_integer_value(v) != 1))
		return serve_fail(err, 400, BAD, "best_of", NULL, "'best_of' is not supported (only 1)");
	if ((v = field(o, "n")) && (!json_is_integer(v) || json_integer_value(v) != 1))
		return serve_fail(err, 400, BAD, "n", NULL, "'n' must be 1 (one choice per request)");
	if ((v = field(o, "suffix")))
		return serve_fail(err, 400, BAD, "suffix", NULL, "'suffix' is not supported");
	if ((v = field(o, "logit_bias")) && (!json_is_object(v) || json_object_size(v)))
		return serve_fail(err, 400, BAD, "logit_bias", NULL, "'logit_bias' is not supported");
	return 0;
}

static int parse_completion(json_t *o, const serve_limits *lim, serve_req *req, serve_err *err)
{
	json_t *v;
	double d;

	if ((v = field(o, "model"))) {
		if (!json_is_string(v) || json_string_length(v) > SERVE_MODEL_LEN_MAX)
			return serve_fail(err, 400, BAD, "model", NULL, "'model' must be a string");
		if (strcmp(json_string_value(v), lim->model_id) || strlen(json_string_value(v)) != json_string_length(v))
			return serve_fail(err, 404, BAD, "model", "model_not_found",
					  "The model '%.*s' does not exist; this server serves '%s'",
					  (int)json_string_length(v) > 64 ? 64 : (int)json_string_length(v),
					  json_string_value(v), lim->model_id);
	}
	if (check_unsupported(o, err) || get_prompt(o, lim, req, err) || get_stop(o, lim, req, err))
		return -1;
	req->max_tokens = 16;
	if ((v = field(o, "max_tokens"))) {
		if (!json_is_integer(v))
			return serve_fail(err, 400, BAD, "max_tokens", NULL, "'max_tokens' must be an integer");
		json_int_t m = json_integer_value(v);
		if (m < 0)
			return serve_fail(err, 400, BAD, "max_tokens", NULL, "'max_tokens' must be >= 0");
		if ((uint64_t)m > lim->ctx - req->n_prompt)
			return serve_fail(err, 400, BAD, "max_tokens", "context_length_exceeded",
					  "this server's context is %u tokens; you requested %zu (%zu in the prompt, "
					  "%lld in the completion)",
					  lim->ctx, req->n_prompt + (size_t)m, req->n_prompt, (long long)m);
		req->max_tokens = (uint32_t)m;
	} else if (req->max_tokens > lim->ctx - req->n_prompt) {
		req->max_tokens = (uint32_t)(lim->ctx - req->n_prompt);
	}
	if (get_number(o, "temperature", 0.0, 2.0, 1.0, &d, err))
		return -1;
	req->temperature = (float)d;
	if (get_number(o, "top_p", 0.0, 1.0, 1.0, &d, err))
		return -1;
	if (d <= 0.0)
		return serve_fail(err, 400, BAD, "top_p", NULL, "'top_p' must be in (0, 1]");
	req->top_p = (float)d;
	if ((v = field(o, "seed"))) {
		if (!json_is_integer(v))
			return serve_fail(err, 400, BAD, "seed", NULL, "'seed' must be an integer");
		req->seed = (uint64_t)json_integer_value(v);
		req->has_seed = 1;
	}
	req->logprobs = -1;
	if ((v = field(o, "logprobs"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SERVE_LOGPROBS_MAX)
			return serve_fail(err, 400, BAD, "logprobs", NULL, "'logprobs' must be an integer from 0 to %u",
					  SERVE_LOGPROBS_MAX);
		req->logprobs = (int)json_integer_value(v);
	}
	if (get_bool(o, "stream", 0, &req->stream, err) || get_bool(o, "echo", 0, &req->echo, err) ||
	    get_bool(o, "return_tokens", 0, &req->return_tokens, err))
		return -1;
	if ((v = field(o, "stream_options"))) {
		if (!json_is_object(v))
			return serve_fail(err, 400, BAD, "stream_options", NULL, "'stream_options' must be an object");
		if (!req->stream)
			return serve_fail(err, 400, BAD, "stream_options", NULL,
					  "'stream_options' is only allowed with 'stream': true");
		if (get_bool(v, "include_usage", 0, &req->include_usage, err))
			return -1;
	}
	if ((v = field(o, "user")) && !json_is_string(v))
		return serve_fail(err, 400, BAD, "user", NULL, "'user' must be a string");
	return 0;
}

int serve_parse_completion(const char *body, size_t len, const serve_limits *lim, serve_req *req, serve_err *err)
{
	json_t *o;
	int rc;

	memset(req, 0, sizeof *req);
	if (len > SERVE_BODY_MAX)
		return serve_fail(err, 413, BAD, NULL, "request_too_large", "the body is over %u bytes", SERVE_BODY_MAX);
	if (!(o = load_object(body, len, err)))
		return -1;
	rc = parse_completion(o, lim, req, err);
	json_decref(o);
	if (rc)
		serve_req_free(req);
	return rc;
}

void serve_req_free(serve_req *req)
{
	if (!req)
		return;
	free(req->prompt);
	free(req->prompt_text);
	for (uint32_t i = 0; i < req->n_stop; i++)
		free(req->stop[i]);
	memset(req, 0, sizeof *req);
}

int serve_parse_tokenize(const char *body, size_t len, const serve_limits *lim, uint32_t **ids, size_t *n,
			 serve_err *err)
{
	json_t *o, *v;
	int special = 1, rc = -1;
	const char *key = "content";

	*ids = NULL;
	*n = 0;
	if (len > SERVE_BODY_MAX)
		return serve_fail(err, 413, BAD, NULL, "request_too_large", "the body is over %u bytes", SERVE_BODY_MAX);
	if (!(o = load_object(body, len, err)))
		return -1;
	if (!(v = field(o, key)))
		v = field(o, key = "prompt");
	if (!v || !json_is_string(v)) {
		serve_fail(err, 400, BAD, "content", NULL, "'content' must be a string");
		goto out;
	}
	if (get_bool(o, "add_special_tokens", 1, &special, err))
		goto out;
	rc = encode(lim, key, json_string_value(v), json_string_length(v), special, ids, n, err);
out:
	json_decref(o);
	return rc;
}

int serve_parse_detokenize(const char *body, size_t len, const serve_limits *lim, uint32_t **ids, size_t *n,
			   serve_err *err)
{
	json_t *o, *v;
	int rc = -1;

	*ids = NULL;
	*n = 0;
	if (len > SERVE_BODY_MAX)
		return serve_fail(err, 413, BAD, NULL, "request_too_large", "the body is over %u bytes", SERVE_BODY_MAX);
	if (!(o = load_object(body, len, err)))
		return -1;
	if (!(v = field(o, "tokens")) || !json_is_array(v))
		serve_fail(err, 400, BAD, "tokens", NULL, "'tokens' must be an array of token ids");
	else if (!lim->tok)
		serve_fail(err, 400, BAD, "tokens", NULL, "this database holds no tokenizer");
	else
		rc = get_ids(v, "tokens", lim, SERVE_BODY_MAX, ids, n, err);
	json_decref(o);
	return rc;
}
