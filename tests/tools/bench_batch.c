/*
 * bench_batch - per-step decode time of a lutdb_batch at several batch
 * sizes, with the expert term and without it (LUTDB_SESSION_NO_EXPERTS),
 * next to the prefill throughput of the same process.
 *
 *   bench_batch DB [--threads N] [--batches 1,2,4,8,16,32] [--steps N]
 *                  [--runs N] [--context N] [--prefill N] [--cpu]
 *
 * For each batch size B and each of --runs runs (default 5), a batch with
 * the experts and one without, in alternating order (on/off, then off/on):
 * B sequences join with distinct random prompts of --context ids (default
 * 16), are stepped until every one is running, 2 untimed steps, then
 * --steps (default 32) timed steps of B decode positions each; a run's
 * figure is its median step.  Reported: the median over runs per mode,
 * their ratio, and aggregate tokens/s (B / step) as a share of the prefill
 * throughput: one sequence's prompt of --prefill ids (default 256) in one
 * step, best of 3 - the compute bound a batch approaches, and the issue's
 * baseline.  A second, labelled line: the same prefill with the logits of
 * every token (LUTDB_SEQ_PROMPT_LOGITS, as eval), which reads the lm head
 * per token as a batch step does per sequence; head_share= is the head's
 * part of a position's dense multiply-adds.
 *
 * Output: key=value lines (machine-readable), then a table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "lutdb_runtime.h"

#define MAX_BATCHES 16
#define WARM_STEPS 2

/* --cpu: steps and prefills timed by the process's CPU time instead of the
 * wall clock: with --threads 1 on a machine that others keep busy, the time
 * the step itself computed, which the queueing for a core does not change
 * (with more threads it also counts the pool's waiting, so it is for 1). */
static clockid_t g_clock = CLOCK_MONOTONIC;

static double now(void)
{
	struct timespec ts;
	clock_gettime(g_clock, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_batch: %s: %s (%s)\n", what, lutdb_errdetail(), lutdb_strerror(rc));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_batch DB [--threads N] [--batches 1,2,4,...] [--steps N] [--runs N] "
			"[--context N] [--prefill N] [--cpu]\n");
	exit(2);
}

static uint64_t rng = 88172645463325252ull;

static uint32_t rand_id(uint32_t V)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % V);
}

/* The median decode step (seconds) of B sequences with context-id prompts. */
static double decode_run(lutdb_model *m, uint32_t B, uint32_t context, int steps, unsigned flags)
{
	const uint32_t V = lutdb_model_info(m)->vocab;
	lutdb_batch_opts o = {.size = sizeof o,
			      .max_seqs = B,
			      .capacity = context + WARM_STEPS + (uint32_t)steps + 2,
			      .prefill_tokens = B * context, /* every prompt in one step */
			      .flags = flags};
	lutdb_batch_seq_opts so = {.size = sizeof so, .max_tokens = UINT32_MAX, .ignore_eos = 1};
	lutdb_batch *b;
	uint32_t *prompt = malloc(context * sizeof *prompt);
	double *st = malloc((size_t)steps * sizeof *st);
	uint64_t id;
	int rc;

	if ((rc = lutdb_batch_new(m, &o, &b)))
		die("batch", rc);
	for (uint32_t i = 0; i < B; i++) {
		for (uint32_t k = 0; k < context; k++)
			prompt[k] = rand_id(V);
		if ((rc = lutdb_batch_join(b, prompt, context, &so, &id)))
			die("join", rc);
	}
	lutdb_batch_stats s = {.size = sizeof s};
	do { /* the prompts */
		if ((rc = lutdb_batch_step(b, NULL, NULL, &s)))
			die("step", rc);
	} while (s.prompt);
	for (int k = -WARM_STEPS; k < steps; k++) {
		double t0 = now();
		if ((rc = lutdb_batch_step(b, NULL, NULL, &s)))
			die("step", rc);
		if (s.positions != B || s.tokens != B) {
			fprintf(stderr, "bench_batch: a step of %u positions, %u ids (want %u)\n", s.positions, s.tokens,
				B);
			exit(1);
		}
		if (k >= 0)
			st[k] = now() - t0;
	}
	double med = median(st, steps);
	lutdb_batch_free(b);
	free(prompt);
	free(st);
	return med;
}

/* Prefill tokens/s: one prompt of n ids in one step, best of 3.  flags
 * (LUTDB_SEQ_PROMPT_LOGITS): the logits of every position too, as eval
 * computes them, so the lm head is read for every token as a batch step
 * reads it for every sequence. */
static double prefill_rate(lutdb_model *m, uint32_t n, unsigned flags)
{
	const uint32_t V = lutdb_model_info(m)->vocab;
	lutdb_batch_opts o = {.size = sizeof o, .max_seqs = 1, .capacity = n, .prefill_tokens = n};
	lutdb_batch_seq_opts so = {.size = sizeof so, .flags = flags};
	lutdb_batch *b;
	uint32_t *prompt = malloc(n * sizeof *prompt);
	double best = 1e30;
	uint64_t id;
	int rc;

	if ((rc = lutdb_batch_new(m, &o, &b)))
		die("batch", rc);
	for (uint32_t k = 0; k < n; k++)
		prompt[k] = rand_id(V);
	for (int r = 0; r < 3; r++) {
		lutdb_batch_stats s = {.size = sizeof s};
		if ((rc = lutdb_batch_join(b, prompt, n, &so, &id)))
			die("join", rc);
		double t0 = now();
		if ((rc = lutdb_batch_step(b, NULL, NULL, &s)))
			die("prefill step", rc);
		double dt = now() - t0;
		if (s.prompt != n || s.finished != 1) {
			fprintf(stderr, "bench_batch: the prefill took more than one step\n");
			exit(1);
		}
		best = dt < best ? dt : best;
	}
	lutdb_batch_free(b);
	free(prompt);
	return (double)n / best;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int threads = 0, steps = 32, runs = 5, nb = 0, rc;
	long context = 16, prefill = 256;
	uint32_t batches[MAX_BATCHES];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
			steps = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--context") && i + 1 < argc) {
			context = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--prefill") && i + 1 < argc) {
			prefill = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--cpu")) {
			g_clock = CLOCK_PROCESS_CPUTIME_ID;
		} else if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
			for (char *p = argv[++i], *end; *p && nb < MAX_BATCHES; p = *end ? end + 1 : end) {
				long v = strtol(p, &end, 10);
				if (end == p || v < 1 || v > (long)LUTDB_BATCH_MAX_SEQS || (*end && *end != ','))
					usage();
				batches[nb++] = (uint32_t)v;
			}
		} else if (argv[i][0] == '-' || path) {
			usage();
		} else {
			path = argv[i];
		}
	}
	if (!path || steps < 1 || runs < 1 || context < 1 || prefill < 1)
		usage();
	if (!nb) {
		static const uint32_t dflt[] = {1, 2, 4, 8, 16, 32};
		memcpy(batches, dflt, sizeof dflt);
		nb = 6;
	}

	lutdb_db *db;
	lutdb_model *m;
	if ((rc = lutdb_open(path, 0, &db)))
		die(path, rc);
	lutdb_model_opts mo = {.size = sizeof mo, .threads = threads};
	if ((rc = lutdb_model_new(db, &mo, &m)))
		die("model", rc);
	const lutdb_info *in = lutdb_model_info(m);
	if ((uint64_t)context + WARM_STEPS + (uint64_t)steps + 2 > in->max_position ||
	    (uint64_t)prefill > in->max_position) {
		fprintf(stderr, "bench_batch: context + steps or prefill exceed max_position_embeddings %u\n",
			in->max_position);
		return 2;
	}
	printf("db=%s\n", path);
	printf("family=%s\n", in->family == 2 ? "molkv" : "mole");
	printf("vocab=%u hidden=%u layers=%u experts=%u intermediate=%u\n", in->vocab, in->hidden, in->layers,
	       in->experts, in->intermediate);
	printf("table_dtype=%d\n", in->table_dtype);
	printf("threads=%d\n", lutdb_model_threads(m));
	printf("isa=%s\n", lk_isa_name(lk_isa_active()));
	printf("steps=%d runs=%d context=%ld\n", steps, runs, context);
	printf("clock=%s\n", g_clock == CLOCK_MONOTONIC ? "wall" : "process_cpu");
	double pf = prefill_rate(m, (uint32_t)prefill, 0);
	double pfl = prefill_rate(m, (uint32_t)prefill, LUTDB_SEQ_PROMPT_LOGITS);
	printf("prefill_tokens=%ld\nprefill_tok_s=%.2f\nprefill_all_logits_tok_s=%.2f\n", prefill, pf, pfl);
	/* The lm head's share of a decode position's dense multiply-adds: a
	 * prefill computes it for its last position only, a batch step for
	 * every sequence (q, o: d x heads*head_dim; k, v: d x kv_heads*head_dim;
	 * up, down: d x I; the router's few rows left out). */
	const double d = in->hidden, qd = (double)in->heads * in->head_dim, kvd = (double)in->kv_heads * in->head_dim;
	const double layer = 2 * d * qd + 2 * d * kvd + 2 * d * in->intermediate, head = (double)in->vocab * d;
	printf("head_share=%.3f\n", head / (in->layers * layer + head));

	double on[MAX_BATCHES], off[MAX_BATCHES], *a = malloc((size_t)runs * sizeof *a),
						   *z = malloc((size_t)runs * sizeof *z);
	for (int k = 0; k < nb; k++) {
		for (int r = 0; r < runs; r++) { /* alternating: a drift hits both */
			if (r % 2 == 0) {
				a[r] = decode_run(m, batches[k], (uint32_t)context, steps, 0);
				z[r] = decode_run(m, batches[k], (uint32_t)context, steps, LUTDB_SESSION_NO_EXPERTS);
			} else {
				z[r] = decode_run(m, batches[k], (uint32_t)context, steps, LUTDB_SESSION_NO_EXPERTS);
				a[r] = decode_run(m, batches[k], (uint32_t)context, steps, 0);
			}
		}
		on[k] = median(a, runs);
		off[k] = median(z, runs);
		printf("batch=%u step_ms=%.4f step_ms_no_experts=%.4f ratio=%.4f tok_s=%.2f pct_prefill=%.1f\n",
		       batches[k], on[k] * 1e3, off[k] * 1e3, on[k] / off[k], batches[k] / on[k],
		       100.0 * batches[k] / on[k] / pf);
	}
	printf("\n%6s %10s %14s %7s %10s %12s\n", "batch", "step ms", "no-experts ms", "ratio", "tok/s", "% prefill");
	for (int k = 0; k < nb; k++)
		printf("%6u %10.3f %14.3f %7.3f %10.1f %11.1f%%\n", batches[k], on[k] * 1e3, off[k] * 1e3,
		       on[k] / off[k], batches[k] / on[k], 100.0 * batches[k] / on[k] / pf);
	printf("%6s %10s %14s %7s %10.1f %12s\n", "prefill", "", "", "", pf, "100.0%");
	/* not the goal's baseline: the same prefill with the head for every
	 * token, the work a batch step does per sequence */
	printf("%-40s %10.1f %11.1f%%\n", "prefill, logits of every token", pfl, 100.0 * pfl / pf);
	free(a);
	free(z);
	lutdb_model_free(m);
	lutdb_close(db);
	return 0;
}
