/*
 * request.h - request bodies of `lutdb serve`, parsed and checked into plain
 * structs before anything else sees them.
 *
 * Every byte of a body comes from the network: the HTTP layer caps its size
 * before reading it (SERVE_BODY_MAX), and here every field is type-checked
 * and bounded (lengths, counts, ids against the vocabulary, the prompt and
 * max_tokens against the context) before anything is allocated with it.  A
 * rejected body fills a serve_err: the HTTP status and the fields of an
 * OpenAI error object.  fuzz/fuzz_request.c drives these functions.
 *
 * JSON goes through the store's bounded loader (format/base/json_bounded.h:
 * the size cap, then a linear scan that refuses a body whose jansson tree
 * would cost more than LUTDB_JSON_MEM_FACTOR times its size or nest deeper
 * than LUTDB_JSON_MAX_DEPTH, then jansson with duplicate keys rejected), so
 * a parse costs at most a bounded multiple of SERVE_BODY_MAX.
 */
#ifndef LUTDB_SERVE_REQUEST_H
#define LUTDB_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_tokenizer.h"

#define SERVE_BODY_MAX (1u << 20)   /* bytes of a request body (413 past it) */
#define SERVE_STOP_MAX 4u           /* entries of "stop", as OpenAI */
#define SERVE_STOP_LEN_MAX 256u     /* bytes of one stop string */
#define SERVE_LOGPROBS_MAX 20u      /* "logprobs": top-k per token */
#define SERVE_MODEL_LEN_MAX 256u    /* bytes of "model" */

/* A rejected request: HTTP status and the OpenAI error fields (static
 * strings but for message). */
typedef struct serve_err {
	int status;
	const char *type;  /* "invalid_request_error", ... */
	const char *param; /* the offending field, or NULL */
	const char *code;  /* "model_not_found", ... or NULL */
	char message[256];
} serve_err;

/* What the checks need to know about the server. */
typedef struct serve_limits {
	const char *model_id;       /* what /v1/models lists */
	uint32_t vocab;             /* ids must be below it */
	uint32_t ctx;               /* positions per sequence (--ctx-per-seq) */
	const lutdb_tokenizer *tok; /* NULL: the database has none (id prompts) */
} serve_limits;

/* A checked /v1/completions request.  Owns prompt, prompt_text, stop_ids
 * and stop strings; release with serve_req_free(). */
typedef struct serve_req {
	uint32_t *prompt;          /* the prompt's ids (n_prompt >= 1) */
	size_t n_prompt;
	char *prompt_text;         /* the prompt as given when it was a string, else NULL */
	size_t prompt_text_len;
	uint32_t max_tokens;       /* n_prompt + max_tokens <= ctx */
	float temperature;         /* [0, 2]; 0: greedy */
	float top_p;               /* (0, 1] */
	uint64_t seed;
	int has_seed;
	int stream, echo, return_tokens, include_usage;
	int logprobs;              /* -1: none; else 0..SERVE_LOGPROBS_MAX */
	uint32_t stop_ids[SERVE_STOP_MAX];
	uint32_t n_stop_ids;
	char *stop[SERVE_STOP_MAX]; /* stop strings (non-empty, NUL-terminated) */
	size_t stop_len[SERVE_STOP_MAX];
	uint32_t n_stop;
} serve_req;

/* Parses and checks a /v1/completions body (len bytes).  0 and a filled
 * *req, or -1 and *err (req then holds nothing to free). */
int serve_parse_completion(const char *body, size_t len, const serve_limits *lim, serve_req *req, serve_err *err);
void serve_req_free(serve_req *req);

/* /tokenize: {"content" | "prompt": string, "add_special_tokens": bool
 * (default true)}.  *ids allocated for the caller (lutdb_free). */
int serve_parse_tokenize(const char *body, size_t len, const serve_limits *lim, uint32_t **ids, size_t *n,
			 serve_err *err);
/* /detokenize: {"tokens": [ids]}.  *ids allocated for the caller (free). */
int serve_parse_detokenize(const char *body, size_t len, const serve_limits *lim, uint32_t **ids, size_t *n,
			   serve_err *err);

/* Fills err and returns -1, for `return serve_fail(err, 400, ...)`. */
int serve_fail(serve_err *err, int status, const char *type, const char *param, const char *code, const char *fmt,
	       ...) __attribute__((format(printf, 6, 7)));

#endif
