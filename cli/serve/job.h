/*
 * job.h - the server's shared state, and one completion request (a job)
 * between its HTTP connection and the scheduler.
 *
 * Ownership and locking: a job is reference counted (its connection holds
 * one reference, the scheduler another while the job is queued or running)
 * and every field under "shared" is read and written with server.mu held.
 * The fields under "scheduler" are touched only by the scheduler thread,
 * which turns the sequence's events into bytes and publishes them into
 * `out` under the lock; the connection only ever takes bytes out of `out`.
 * So the step loop never waits on a connection: a reader that falls
 * SERVE_OUT_MAX bytes behind is cancelled instead.
 */
#ifndef LUTDB_SERVE_JOB_H
#define LUTDB_SERVE_JOB_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "lutdb_runtime.h"
#include "lutdb_tokenizer.h"
#include "request.h"
#include "serve.h"

#define SERVE_OUT_MAX (1u << 20) /* bytes a streaming client may fall behind */
#define SERVE_DRAIN_SECONDS 5.0 /* shutdown: the last answers are written within it */

typedef struct serve_buf {
	char *p;
	size_t len, cap;
} serve_buf;

/* Appends (p stays NUL-terminated); -1 when out of memory. */
int buf_put(serve_buf *b, const char *s, size_t n);
/* Appends a JSON value's compact text. */
int buf_json(serve_buf *b, const json_t *v);
void buf_free(serve_buf *b);

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct job job;
typedef struct server server;

struct job {
	/* shared (server.mu) */
	job *next;         /* queue link */
	int refs;
	int state;         /* JOB_* */
	int gone;          /* the connection went away: cancel, publish nothing */
	int status;        /* HTTP status of a non-streamed reply */
	serve_buf out;     /* bytes for the connection: SSE events, or the body */
	size_t sent;       /* of out, taken by the connection */
	uint64_t seq;      /* the batch's id while running */
	pthread_cond_t cond;
	uint32_t prompt_tokens, completion_tokens;

	/* immutable after creation */
	serve_req req;
	server *srv;
	char id[40];
	long long created;
	double t_start;

	/* scheduler */
	lutdb_tokenizer_stream *ts;
	serve_buf pending;     /* decoded text held back (could start a stop string) */
	serve_buf text;        /* text not yet published (streaming: this chunk's) */
	serve_buf chunk;       /* the bytes of one publication, formatted outside the lock */
	serve_buf head;        /* streaming: every chunk's first bytes (gen.c) */
	json_t *ids;           /* ids not yet published (return_tokens) */
	json_t *lp;            /* logprobs not yet published, or NULL */
	size_t decoded;        /* bytes of text decoded so far (echo included): text_offset */
	size_t prompt_off;     /* echo with logprobs: text_offset of the next prompt token */
	const char *finish;    /* "stop", "length" once known */
	int stopped;           /* a stop string matched: later events are ignored */
	int first_sent;        /* time to first token recorded */
};

struct server {
	serve_opts o;
	lutdb_db *db;
	lutdb_model *model;
	lutdb_batch *batch;
	lutdb_tokenizer *tok;
	serve_limits lim;
	char model_id[256];

	pthread_mutex_t mu;
	pthread_cond_t wake;   /* the scheduler: a job queued, a stop */
	job *qhead, *qtail;
	uint32_t qlen;
	int draining;          /* SIGTERM: no new jobs; running ones until deadline */
	double deadline;
	int quit;              /* the scheduler thread ends */
	uint32_t requests_open; /* requests begun and not yet answered in full (http.c) */
	uint64_t next_id;
	job **run;             /* the running jobs (parallel entries, NULL: free) */
	pthread_t sched;
	int sched_started;

	/* metrics (mu) */
	uint64_t req_total, req_by_class[6]; /* [status / 100] */
	uint64_t prompt_tokens, gen_tokens, steps, step_positions;
	double step_seconds, step_last;
	uint32_t running, running_peak;
	double step_delay;     /* LUTDB_SERVE_TEST_STEP_MS: tests only (server.c) */
	double ttft_sum;
	uint64_t ttft_count;
};

double serve_now(void);

/* A new job for req (taken over: req is zeroed), one reference.  NULL when
 * out of memory (req freed). */
job *job_new(server *s, serve_req *req);
/* Drops a reference; with s->mu held. */
void job_unref(job *j);

/* Queues j (a reference for the scheduler).  0, or the HTTP status of a
 * refusal: 429 (queue full), 503 (shutting down). */
int sched_submit(server *s, job *j);
/* The connection of j went away: cancel it (with s->mu held). */
void sched_cancel(server *s, job *j);
int sched_start(server *s);
/* Stops the scheduler thread (after the HTTP daemon) and joins it. */
void sched_stop(server *s);

/* gen.c: a sequence's start (after the join), its events, its end.  With
 * s->mu NOT held: they take it to publish.  on_event returns nonzero to
 * cancel the sequence. */
int gen_start(server *s, job *j);
int gen_event(server *s, job *j, const lutdb_batch_event *ev);
/* Ends j with an error (status, message) or, for a streaming job that has
 * begun, with the end of its stream; with s->mu held. */
void gen_fail(server *s, job *j, int status, const char *type, const char *message);

/* oai.c */
json_t *oai_error(int status, const char *type, const char *param, const char *code, const char *message);
json_t *oai_models(const server *s);
/* One logprobs entry appended to lp (legacy completions shape): token
 * string, its log-probability (NULL logits: null) and the top k. */
int oai_logprob(const server *s, json_t *lp, uint32_t id, const char *piece, size_t piece_len, size_t offset,
		const float *logits, uint32_t vocab, int k);
json_t *oai_logprobs_new(void);

/* metrics.c */
int metrics_text(server *s, serve_buf *out);

/* http.c */
struct MHD_Daemon;
struct MHD_Daemon *http_start(server *s, unsigned *port);

#endif
