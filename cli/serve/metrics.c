/* metrics.c - GET /metrics: Prometheus text exposition format 0.0.4. */
#include <stdio.h>

#include "job.h"

int metrics_text(server *s, serve_buf *out)
{
	char t[3072];
	int n;

	pthread_mutex_lock(&s->mu);
	n = snprintf(t, sizeof t,
		     "# HELP lutdb_requests_total HTTP requests answered, by status class.\n"
		     "# TYPE lutdb_requests_total counter\n"
		     "lutdb_requests_total{code=\"2xx\"} %llu\n"
		     "lutdb_requests_total{code=\"4xx\"} %llu\n"
		     "lutdb_requests_total{code=\"5xx\"} %llu\n"
		     "# HELP lutdb_prompt_tokens_total Prompt tokens of admitted completions.\n"
		     "# TYPE lutdb_prompt_tokens_total counter\n"
		     "lutdb_prompt_tokens_total %llu\n"
		     "# HELP lutdb_generated_tokens_total Tokens generated.\n"
		     "# TYPE lutdb_generated_tokens_total counter\n"
		     "lutdb_generated_tokens_total %llu\n"
		     "# HELP lutdb_queue_depth Completions waiting for a batch slot.\n"
		     "# TYPE lutdb_queue_depth gauge\n"
		     "lutdb_queue_depth %u\n"
		     "# HELP lutdb_batch_size Sequences decoding together now.\n"
		     "# TYPE lutdb_batch_size gauge\n"
		     "lutdb_batch_size %u\n"
		     "# HELP lutdb_batch_size_max The most sequences that decoded together.\n"
		     "# TYPE lutdb_batch_size_max gauge\n"
		     "lutdb_batch_size_max %u\n"
		     "# HELP lutdb_batch_slots Sequences that may decode together (--parallel).\n"
		     "# TYPE lutdb_batch_slots gauge\n"
		     "lutdb_batch_slots %u\n"
		     "# HELP lutdb_steps_total Batch steps run.\n"
		     "# TYPE lutdb_steps_total counter\n"
		     "lutdb_steps_total %llu\n"
		     "# HELP lutdb_step_positions_total Positions computed by batch steps.\n"
		     "# TYPE lutdb_step_positions_total counter\n"
		     "lutdb_step_positions_total %llu\n"
		     "# HELP lutdb_step_seconds_total Time spent in batch steps.\n"
		     "# TYPE lutdb_step_seconds_total counter\n"
		     "lutdb_step_seconds_total %.6f\n"
		     "# HELP lutdb_step_seconds_last Duration of the last batch step.\n"
		     "# TYPE lutdb_step_seconds_last gauge\n"
		     "lutdb_step_seconds_last %.6f\n"
		     "# HELP lutdb_time_to_first_token_seconds Time from request to first token.\n"
		     "# TYPE lutdb_time_to_first_token_seconds summary\n"
		     "lutdb_time_to_first_token_seconds_sum %.6f\n"
		     "lutdb_time_to_first_token_seconds_count %llu\n",
		     (unsigned long long)s->req_by_class[2], (unsigned long long)s->req_by_class[4],
		     (unsigned long long)s->req_by_class[5], (unsigned long long)s->prompt_tokens,
		     (unsigned long long)s->gen_tokens, s->qlen, s->running, s->running_peak, s->o.parallel, (unsigned long long)s->steps,
		     (unsigned long long)s->step_positions, s->step_seconds, s->step_last, s->ttft_sum,
		     (unsigned long long)s->ttft_count);
	pthread_mutex_unlock(&s->mu);
	return n < 0 || (size_t)n >= sizeof t ? -1 : buf_put(out, t, (size_t)n);
}
