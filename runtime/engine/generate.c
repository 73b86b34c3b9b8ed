/*
 * generate.c - lutdb_generate: the prompt, then sample / feed back until an
 * eos id, max_tokens or a full context.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "fail.h"
#include "opts.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The caller's options (any size, NULL: defaults) as this library's struct. */
static int read_opts(const lutdb_generate_opts *o, lutdb_generate_opts *g)
{
	int rc = lutdb_opts_check(o, o ? o->size : 0, sizeof *o, LUTDB_OPTS_MIN(lutdb_generate_opts, token_ctx),
				  "lutdb_generate");

	*g = (lutdb_generate_opts){
		.size = sizeof *g,
		.max_tokens = LUTDB_OPT(o, max_tokens, 0),
		.sampling = LUTDB_OPT(o, sampling, NULL),
		.ignore_eos = LUTDB_OPT(o, ignore_eos, 0),
		.on_logits = LUTDB_OPT(o, on_logits, NULL),
		.logits_ctx = LUTDB_OPT(o, logits_ctx, NULL),
		.on_token = LUTDB_OPT(o, on_token, NULL),
		.token_ctx = LUTDB_OPT(o, token_ctx, NULL),
	};
	return rc;
}

int lutdb_generate(lutdb_session *s, const uint32_t *prompt, size_t n, const lutdb_generate_opts *o,
		   uint32_t *out, size_t *n_out, lutdb_generate_stats *stats)
{
	lutdb_generate_stats local;
	lutdb_generate_opts g;
	lutdb_sampler *sp = NULL;
	double t0, t1 = 0;
	int rc;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof *stats);
	if (n_out)
		*n_out = 0;
	if ((rc = read_opts(o, &g)))
		return rc;
	if (!s || !n_out || (!out && g.max_tokens) || (!prompt && n))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_generate: NULL argument");
	if (s->in_callback)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_generate: called from a callback of the same session");
	if (!n && !lutdb_session_logits(s))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_generate: no prompt and nothing in the context");
	if ((rc = lutdb_sampler_new(g.sampling, s->m->V, &sp)))
		return rc;
	stats->prompt_tokens = (uint32_t)n;
	t0 = now_s();
	if (n) {
		if ((rc = lutdb_session_feed(s, prompt, n, g.on_logits, g.logits_ctx)))
			goto out;
		stats->fed = (uint32_t)n;
	}
	stats->prefill_seconds = now_s() - t0;
	for (uint32_t k = 0; k < g.max_tokens; k++) {
		uint32_t id = lutdb_sampler_next(sp, s->logits);
		/* its table row starts loading while the id is handed out */
		lr_rows_prefetch(s->m, s->flags, &id, 1);
		if (k == 0) {
			t1 = now_s();
			stats->prefill_seconds = t1 - t0;
		}
		out[k] = id;
		*n_out = k + 1;
		stats->generated = k + 1;
		if (g.on_token) {
			s->in_callback = 1;
			rc = g.on_token(g.token_ctx, id);
			s->in_callback = 0;
			if (rc) {
				if (rc > 0)
					rc = lutdb_fail(LUTDB_EINTR, "generation stopped by the token callback");
				break;
			}
		}
		if ((!g.ignore_eos && lutdb_model_is_eos(s->m, id)) || k + 1 == g.max_tokens)
			break;
		if ((rc = lutdb_session_feed(s, &id, 1, g.on_logits, g.logits_ctx))) {
			if (rc == LUTDB_ECONTEXT)
				lutdb_fail(LUTDB_ECONTEXT,
					   "context full after %u of %u generated tokens: max_position_embeddings "
					   "is %u, session capacity %u",
					   k + 1, g.max_tokens, s->m->max_pos, s->seq.cap);
			break;
		}
		stats->fed++;
	}
	if (stats->generated)
		stats->decode_seconds = now_s() - t1;
out:
	lutdb_sampler_free(sp);
	return rc;
}
