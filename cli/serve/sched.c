/*
 * sched.c - the scheduler thread: it alone owns the lutdb_batch.  Between
 * steps it admits queued jobs into free slots (FIFO) and, once shutting
 * down, fails what still waits and cancels what still runs past the
 * deadline; then it runs one step with the server lock released, so
 * connections queue, cancel and read while the model computes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"

double serve_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

job *job_new(server *s, serve_req *req)
{
	job *j = calloc(1, sizeof *j);
	pthread_condattr_t ca;

	if (!j) {
		serve_req_free(req);
		return NULL;
	}
	j->req = *req;
	memset(req, 0, sizeof *req);
	j->srv = s;
	j->refs = 1;
	j->status = 500;
	j->created = (long long)time(NULL);
	j->t_start = serve_now();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	return j;
}

void job_unref(job *j)
{
	if (!j || --j->refs > 0)
		return;
	pthread_cond_destroy(&j->cond);
	serve_req_free(&j->req);
	lutdb_tokenizer_stream_free(j->ts);
	buf_free(&j->pending);
	buf_free(&j->text);
	buf_free(&j->chunk);
	buf_free(&j->head);
	buf_free(&j->out);
	json_decref(j->ids);
	json_decref(j->lp);
	free(j);
}

int sched_submit(server *s, job *j)
{
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if (s->draining)
		rc = 503;
	else if (s->qlen >= s->o.queue && s->running + s->qlen >= s->o.parallel + s->o.queue)
		rc = 429;
	if (!rc) {
		j->refs++;
		j->state = JOB_QUEUED;
		snprintf(j->id, sizeof j->id, "cmpl-%llu", (unsigned long long)++s->next_id);
		if (!j->req.has_seed)
			j->req.seed = (uint64_t)(serve_now() * 1e9) ^ (s->next_id * 0x9E3779B97F4A7C15ull);
		if (s->qtail)
			s->qtail->next = j;
		else
			s->qhead = j;
		s->qtail = j;
		s->qlen++;
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static job *queue_pop(server *s)
{
	job *j = s->qhead;
	if (j) {
		s->qhead = j->next;
		if (!s->qhead)
			s->qtail = NULL;
		j->next = NULL;
		s->qlen--;
	}
	return j;
}

void sched_cancel(server *s, job *j)
{
	j->gone = 1;
	if (j->state == JOB_QUEUED) {
		job **p = &s->qhead, *prev = NULL;
		while (*p && *p != j) {
			prev = *p;
			p = &(*p)->next;
		}
		if (*p) {
			*p = j->next;
			if (s->qtail == j)
				s->qtail = prev;
			s->qlen--;
			j->state = JOB_DONE;
			job_unref(j); /* the scheduler's */
		}
	} else if (j->state == JOB_RUNNING) {
		lutdb_batch_cancel(s->batch, j->seq);
	}
}

/* Running jobs, by slot order of admission (at most parallel). */


static int on_event(void *ctx, const lutdb_batch_event *ev)
{
	server *s = ctx;
	job *j = ev->user;
	int rc = gen_event(s, j, ev);

	if (ev->finish) {
		pthread_mutex_lock(&s->mu);
		for (uint32_t i = 0; i < s->o.parallel; i++)
			if (s->run[i] == j)
				s->run[i] = NULL;
		s->running--;
		job_unref(j);
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

/* Moves queued jobs into free slots (mu held). */
static void admit(server *s)
{
	job *j;

	while (lutdb_batch_count(s->batch) < s->o.parallel && (j = queue_pop(s))) {
		const serve_req *r = &j->req;
		lutdb_sampling sp = {.size = sizeof sp, .temperature = r->temperature, .top_p = r->top_p, .seed = r->seed};
		lutdb_batch_seq_opts so = {.size = sizeof so,
					   .sampling = &sp,
					   .max_tokens = r->max_tokens,
					   .stop_ids = r->stop_ids,
					   .n_stop_ids = r->n_stop_ids,
					   .flags = r->echo && r->logprobs >= 0 ? LUTDB_SEQ_PROMPT_LOGITS : 0,
					   .user = j};
		if (j->gone) {
			j->state = JOB_DONE;
			job_unref(j);
			continue;
		}
		if (gen_start(s, j) || lutdb_batch_join(s->batch, r->prompt, r->n_prompt, &so, &j->seq)) {
			gen_fail(s, j, 500, "server_error", "the sequence could not join the batch");
			job_unref(j);
			continue;
		}
		j->state = JOB_RUNNING;
		j->prompt_tokens = (uint32_t)r->n_prompt;
		s->prompt_tokens += r->n_prompt;
		for (uint32_t i = 0; i < s->o.parallel; i++)
			if (!s->run[i]) {
				s->run[i] = j;
				break;
			}
		s->running++;
		if (s->running > s->running_peak)
			s->running_peak = s->running;
	}
}

/* Shutting down (mu held): what waits is refused; past the deadline, what
 * runs is cancelled (its END event fails it with 503). */
static void drain(server *s)
{
	job *j;

	while ((j = queue_pop(s))) {
		gen_fail(s, j, 503, "server_shutting_down", "the server is shutting down");
		job_unref(j);
	}
	if (serve_now() >= s->deadline)
		for (uint32_t i = 0; i < s->o.parallel; i++)
			if (s->run[i])
				lutdb_batch_cancel(s->batch, s->run[i]->seq);
}

static void *sched_main(void *arg)
{
	server *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		if (s->draining)
			drain(s);
		else
			admit(s);
		if (!lutdb_batch_count(s->batch)) {
			struct timespec t;
			clock_gettime(CLOCK_MONOTONIC, &t);
			t.tv_nsec += 50 * 1000000L;
			if (t.tv_nsec >= 1000000000L) {
				t.tv_sec++;
				t.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->wake, &s->mu, &t);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		lutdb_batch_stats st = {.size = sizeof st};
		double t0 = serve_now();
		lutdb_batch_step(s->batch, on_event, s, &st);
		double dt = serve_now() - t0;
		if (s->step_delay > 0) {
			/* whole seconds apart: tv_nsec must stay below 1e9, or
			 * nanosleep fails at once (EINVAL) and the delay of 1 s,
			 * the cap scaled tests reach under qemu, is lost */
			const time_t whole = (time_t)s->step_delay;
			struct timespec d = {whole, (long)((s->step_delay - (double)whole) * 1e9)};
			nanosleep(&d, NULL);
		}
		pthread_mutex_lock(&s->mu);
		s->steps++;
		s->step_positions += st.positions;
		s->step_seconds += dt;
		s->step_last = dt;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int sched_start(server *s)
{
	pthread_condattr_t ca;

	if (!(s->run = calloc(s->o.parallel, sizeof *s->run)))
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->sched, NULL, sched_main, s))
		return -1;
	s->sched_started = 1;
	return 0;
}

void sched_stop(server *s)
{
	if (s->sched_started) {
		pthread_mutex_lock(&s->mu);
		s->quit = 1;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->sched, NULL);
		s->sched_started = 0;
	}
	pthread_cond_destroy(&s->wake);
	free(s->run);
	s->run = NULL;
}
