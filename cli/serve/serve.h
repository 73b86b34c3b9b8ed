/*
 * serve.h - `lutdb serve`: an OpenAI-compatible HTTP server over one
 * database (cli/cmd_serve.c parses the command line and calls serve_run).
 *
 * The room (cli/serve/):
 *   serve.h / server.c   serve_run: model, tokenizer, scheduler and HTTP
 *                        daemon up; the signal wait; the orderly shutdown
 *   request.[ch]         request bodies parsed and checked into plain structs
 *   job.[ch]             one completion request between its connection and
 *                        the scheduler (shared state, reference counted)
 *   gen.c                what a sequence's events make: text (stop strings,
 *                        hold-back), ids, logprobs, SSE chunks, the body
 *   sched.c              the scheduler thread: FIFO queue, the lutdb_batch,
 *                        steps, cancellation, the shutdown deadline
 *   http.c               libmicrohttpd glue: routing, API key, body caps,
 *                        waiting on a job, streaming, disconnects, access log
 *   oai.c                OpenAI-shaped JSON: errors, models, ids, logprobs
 *   metrics.c            GET /metrics (Prometheus text)
 *   buf.c                growable byte buffers with a cap
 *   mhd.[ch]             libmicrohttpd, loaded with dlopen when serving
 */
#ifndef LUTDB_SERVE_H
#define LUTDB_SERVE_H

#include <signal.h>
#include <stdint.h>

#include "lutdb.h"

typedef struct serve_opts {
	const char *host;        /* listen address (default 127.0.0.1) */
	unsigned port;           /* 0: any free port (the startup line says which) */
	uint32_t parallel;       /* sequences decoded together */
	uint32_t queue;          /* requests waiting for a slot */
	int threads;             /* compute threads (<= 0: all cores) */
	uint32_t ctx;            /* positions per sequence (0: max_position_embeddings) */
	const char *api_key;     /* NULL: none */
	double shutdown_timeout; /* seconds running sequences get after SIGTERM */
	int verbose;
} serve_opts;

/* Serves db until *stop becomes nonzero (the CLI's signal flag), then shuts
 * down in order.  Returns LUTDB_OK or a lutdb code (context in
 * lutdb_errdetail() or already printed to stderr). */
int serve_run(lutdb_db *db, const serve_opts *o, volatile sig_atomic_t *stop);

#endif
