/*
 * server.c - serve_run: brings the server up (model, tokenizer, batch,
 * scheduler, HTTP daemon), waits for a signal, and shuts down in order:
 * stop accepting, refuse what waits, let what runs finish until the
 * deadline (then cancel it), let connections drain, stop.
 *
 * Memory: the database is mapped once and shared; the anonymous memory is
 * the batch's KV caches (allocated here, once) plus per-connection buffers
 * bounded by SERVE_BODY_MAX and SERVE_OUT_MAX, for a bounded number of
 * connections.
 */
#include "mhd.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"

/* What /v1/models lists: the database file's base name (a shard set's
 * manifest.json: its folder's). */
static void model_id(const char *path, char *out, size_t n)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	if (!strcmp(b, "manifest.json") && b > path) {
		const char *e = b - 1, *d = e;
		while (d > path && d[-1] != '/')
			d--;
		snprintf(out, n, "%.*s", (int)(e - d), d);
		if (*out)
			return;
	}
	snprintf(out, n, "%s", b);
}

static void nap(double seconds)
{
	struct timespec t = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
	nanosleep(&t, NULL);
}

/* Jobs queued or running (mu). */
static uint32_t busy(server *s)
{
	pthread_mutex_lock(&s->mu);
	uint32_t n = s->qlen + s->running;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Requests whose answer is not yet sent in full (mu). */
static uint32_t answering(server *s)
{
	pthread_mutex_lock(&s->mu);
	uint32_t n = s->requests_open;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int serve_run(lutdb_db *db, const serve_opts *o, volatile sig_atomic_t *stop)
{
	server srv, *s = &srv;
	struct MHD_Daemon *d = NULL;
	const void *json;
	size_t len;
	unsigned port = 0;
	int rc;

	memset(s, 0, sizeof *s);
	s->o = *o;
	/* Tests only: a pause after every step (at most 1 s), so that what must
	 * overlap in time (a full queue, a cancelled or slow client, a shutdown
	 * with sequences running) does so on a model that decodes in microseconds. */
	const char *delay = getenv("LUTDB_SERVE_TEST_STEP_MS");
	if (delay && atoi(delay) > 0)
		s->step_delay = (atoi(delay) < 1000 ? atoi(delay) : 1000) * 1e-3;
	s->db = db;
	pthread_mutex_init(&s->mu, NULL);
	lutdb_model_opts mo = {.size = sizeof mo, .threads = o->threads};
	if ((rc = lutdb_model_new(db, &mo, &s->model)))
		goto out;
	const lutdb_info *in = lutdb_model_info(s->model);
	if (!s->o.ctx)
		s->o.ctx = in->max_position;
	rc = lutdb_blob_get(db, "tokenizer.json", &json, &len);
	if (rc == LUTDB_OK)
		rc = lutdb_tokenizer_load(json, len, &s->tok);
	else if (rc == LUTDB_ENOENT)
		rc = LUTDB_OK; /* served with id prompts */
	if (rc)
		goto out;
	lutdb_batch_opts bo = {.size = sizeof bo, .max_seqs = s->o.parallel, .capacity = s->o.ctx};
	if ((rc = lutdb_batch_new(s->model, &bo, &s->batch)))
		goto out;
	model_id(lutdb_path(db), s->model_id, sizeof s->model_id);
	s->lim = (serve_limits){.model_id = s->model_id, .vocab = in->vocab, .ctx = s->o.ctx, .tok = s->tok};
	if (mhd_load()) {
		rc = LUTDB_EIO;
		goto out;
	}
	if (sched_start(s)) {
		rc = LUTDB_ENOMEM;
		goto out;
	}
	if (!(d = http_start(s, &port))) {
		rc = LUTDB_EIO;
		goto out;
	}
	fprintf(stderr,
		"lutdb serve: listening on http://%s%s%s:%u (model %s, parallel %u, queue %u, ctx %u, %d threads%s)\n",
		strchr(o->host, ':') ? "[" : "", o->host, strchr(o->host, ':') ? "]" : "", port, s->model_id,
		s->o.parallel, s->o.queue, s->o.ctx, lutdb_model_threads(s->model),
		s->tok ? "" : ", no tokenizer: id prompts");
	while (!*stop)
		nap(0.05);

	/* Shutdown: no new connections, then what runs finishes by the deadline. */
	MHD_socket ls = mhd.quiesce_daemon(d);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	pthread_mutex_lock(&s->mu);
	s->draining = 1;
	s->deadline = serve_now() + o->shutdown_timeout;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	if (o->verbose)
		fprintf(stderr, "lutdb serve: shutting down (%u sequences, %.1f s at most)\n", busy(s),
			o->shutdown_timeout);
	double give_up = serve_now() + o->shutdown_timeout + 2.0;
	while (busy(s) && serve_now() < give_up)
		nap(0.02);
	/* A job that ended has still to be written by its connection's thread
	 * (a cut one: its 503), and stopping the daemon closes every connection
	 * at once: so wait for the answers, a stuck reader SERVE_DRAIN_SECONDS
	 * at most. */
	give_up = serve_now() + SERVE_DRAIN_SECONDS;
	while (answering(s) && serve_now() < give_up)
		nap(0.02);
	mhd.stop_daemon(d);
	d = NULL;
	rc = LUTDB_OK;
out:
	if (d)
		mhd.stop_daemon(d);
	sched_stop(s);
	lutdb_batch_free(s->batch);
	lutdb_tokenizer_free(s->tok);
	lutdb_model_free(s->model);
	pthread_mutex_destroy(&s->mu);
	return rc;
}
