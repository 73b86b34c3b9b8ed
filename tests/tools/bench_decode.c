/*
 * bench_decode - decode and prefill speed of the engine on a database.
 *
 *   bench_decode DB [--threads N] [--tokens N] [--prompt N] [--no-experts]
 *                   [--context N] [--distinct]
 *
 * Decode: after a 16-token prompt, N (default 64) one-token steps feeding
 * back the argmax (4 untimed warm-up steps first).  Prefill: a prompt of
 * --prompt tokens (default 256, clamped to max_position_embeddings), best
 * of 3.  --no-experts skips the expert term (no table reads): the baseline
 * of the "MoLE overhead" figure.
 *
 * Output: key=value lines (machine-readable).  Bytes a step must read:
 *   dense_bytes  every dense weight once (projections, lm head, norms, one
 *                embedding row)
 *   table_bytes  the table rows the step reads: its own token row (MoLE), or
 *                the rows of every position in the window (MoLKV), averaged
 *                over the timed steps
 *   kv_bytes     float32 KV cache read by attention (average)
 *   step_bytes   dense_bytes + table_bytes (+ kv_bytes in step_bytes_all)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "lutdb_runtime.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_decode: %s: %s (%s)\n", what, lutdb_errdetail(), lutdb_strerror(rc));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_decode DB [--threads N] [--tokens N] [--prompt N] [--no-experts]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int threads = 0, no_experts = 0, distinct = 0, rc;
	long tokens = 64, prompt_len = 256, context = -1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
			tokens = atol(argv[++i]);
		else if (!strcmp(argv[i], "--prompt") && i + 1 < argc)
			prompt_len = atol(argv[++i]);
		else if (!strcmp(argv[i], "--no-experts"))
			no_experts = 1;
		else if (!strcmp(argv[i], "--distinct"))
			distinct = 1;
		else if (!strcmp(argv[i], "--context") && i + 1 < argc)
			context = atol(argv[++i]);
		else if (argv[i][0] == '-' || path)
			usage();
		else
			path = argv[i];
	}
	if (!path || tokens < 1 || prompt_len < 1)
		usage();

	lutdb_db *db;
	lutdb_model *m;
	lutdb_session *s;
	if ((rc = lutdb_open(path, 0, &db)))
		die(path, rc);
	lutdb_model_opts mo = {.size = sizeof mo, .threads = threads};
	if ((rc = lutdb_model_new(db, &mo, &m)))
		die("model", rc);
	const lutdb_info *in = lutdb_model_info(m);
	uint32_t maxp = in->max_position, warm = 4, p0 = context > 0 ? (uint32_t)context : 16;
	if (p0 + warm + 1 > maxp)
		p0 = maxp > warm + 2 ? maxp - warm - 2 : 1;
	if ((uint64_t)p0 + warm + (uint64_t)tokens > maxp)
		tokens = (long)(maxp - p0 - warm);
	if (prompt_len > (long)maxp)
		prompt_len = maxp;
	uint32_t cap = (uint32_t)prompt_len > p0 + warm + (uint32_t)tokens ? (uint32_t)prompt_len
									  : p0 + warm + (uint32_t)tokens;
	lutdb_session_opts so = {
		.size = sizeof so, .capacity = cap, .flags = no_experts ? LUTDB_SESSION_NO_EXPERTS : 0};
	if ((rc = lutdb_session_new(m, &so, &s)))
		die("session", rc);

	uint32_t *ids = malloc((cap + warm + (size_t)tokens) * sizeof *ids);
	uint64_t x = 88172645463325252ull;
	for (uint32_t i = 0; i < cap + warm + (uint32_t)tokens; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ids[i] = (uint32_t)(x % in->vocab);
	}

	/* decode */
	if ((rc = lutdb_session_feed(s, ids, p0, NULL, NULL)))
		die("prompt", rc);
	double *st = malloc((size_t)tokens * sizeof *st), table_sum = 0, kv_sum = 0;
	uint32_t kvd = in->kv_heads * in->head_dim;
	for (long k = 0; k < (long)warm + tokens; k++) {
		uint32_t id = distinct ? ids[cap + k] : lutdb_argmax(lutdb_session_logits(s), in->vocab);
		uint32_t pos = lutdb_session_position(s);
		double t0 = now();
		if ((rc = lutdb_session_feed(s, &id, 1, NULL, NULL)))
			die("decode step", rc);
		double dt = now() - t0;
		if (k >= (long)warm) {
			st[k - warm] = dt;
			uint64_t rows = 1;
			if (in->family == 2)
				rows = in->kv_window && in->kv_window < pos + 1 ? in->kv_window : pos + 1;
			table_sum += no_experts ? 0.0 : (double)(rows * in->token_row_bytes);
			kv_sum += 2.0 * in->layers * (double)(pos + 1) * kvd * 4;
		}
	}
	double total = 0;
	for (long k = 0; k < tokens; k++)
		total += st[k];
	qsort(st, (size_t)tokens, sizeof *st, cmp_d);
	double dense = (double)lutdb_model_dense_bytes(m), table = table_sum / (double)tokens,
	       kv = kv_sum / (double)tokens, step = total / (double)tokens;

	/* prefill: best of 3 */
	double best = 1e30;
	for (int r = 0; r < 3; r++) {
		lutdb_session_reset(s);
		double t0 = now();
		if ((rc = lutdb_session_feed(s, ids, (size_t)prompt_len, NULL, NULL)))
			die("prefill", rc);
		double dt = now() - t0;
		best = dt < best ? dt : best;
	}

	printf("db=%s\n", path);
	printf("family=%s\n", in->family == 2 ? "molkv" : "mole");
	printf("vocab=%u hidden=%u layers=%u experts=%u intermediate=%u heads=%u kv_heads=%u\n", in->vocab,
	       in->hidden, in->layers, in->experts, in->intermediate, in->heads, in->kv_heads);
	if (in->family == 2)
		printf("kv_dim=%u kv_expert_heads=%u kv_window=%u\n", in->kv_dim, in->kv_expert_heads, in->kv_window);
	printf("table_dtype=%d table_codec=%d\n", in->table_dtype, in->table_codec);
	printf("threads=%d\n", lutdb_model_threads(m));
	printf("isa=%s\n", lk_isa_name(lk_isa_active()));
	printf("experts=%s\n", no_experts ? "off" : "on");
	printf("decode_tokens=%ld\n", tokens);
	printf("decode_context=%u..%ld\n", p0 + warm, (long)p0 + warm + tokens);
	printf("decode_tok_s=%.2f\n", 1.0 / step);
	printf("decode_step_ms=%.4f\n", step * 1e3);
	printf("decode_step_ms_min=%.4f\n", st[0] * 1e3);
	printf("decode_step_ms_p50=%.4f\n", st[tokens / 2] * 1e3);
	printf("decode_step_ms_p90=%.4f\n", st[(tokens * 9) / 10] * 1e3);
	printf("dense_bytes=%.0f\n", dense);
	printf("table_bytes=%.0f\n", table);
	printf("kv_bytes=%.0f\n", kv);
	printf("step_bytes=%.0f\n", dense + table);
	printf("step_bytes_all=%.0f\n", dense + table + kv);
	printf("decode_gb_s=%.3f\n", (dense + table + kv) / step / 1e9);
	printf("decode_gb_s_p50=%.3f\n", (dense + table + kv) / st[tokens / 2] / 1e9);
	printf("prefill_tokens=%ld\n", prompt_len);
	printf("prefill_ms=%.3f\n", best * 1e3);
	printf("prefill_tok_s=%.2f\n", (double)prompt_len / best);
	/* Matrix work per prefill token: 2 FLOPs per projection weight (attention
	 * scores and the table mix are small next to it). */
	double per_layer = 2.0 * in->hidden * in->hidden + 2.0 * in->hidden * in->kv_heads * in->head_dim +
			   2.0 * in->hidden * in->intermediate +
			   (double)in->hidden * (in->family == 2 ? in->kv_dim : in->experts);
	double flop = 2.0 * ((double)in->layers * per_layer + (double)in->vocab * in->hidden);
	printf("prefill_gflops=%.1f\n", flop * (double)prompt_len / best / 1e9);
	free(st);
	free(ids);
	lutdb_session_free(s);
	lutdb_model_free(m);
	lutdb_close(db);
	return 0;
}
