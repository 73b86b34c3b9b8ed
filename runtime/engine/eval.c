/*
 * eval.c - lutdb_eval: windowed, teacher-forced negative log-likelihood.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fail.h"

struct nll_ctx {
	const uint32_t *win;
	uint32_t len;
	double sum;
	uint64_t count;
};

/* -log softmax(logits)[next id]: max-shifted, exp in float, sum in double. */
static int nll_cb(void *ctx, uint32_t pos, const float *lg, uint32_t V)
{
	struct nll_ctx *c = ctx;

	if (pos + 1 >= c->len)
		return 0;
	float mx = lg[0];
	for (uint32_t i = 1; i < V; i++)
		mx = lg[i] > mx ? lg[i] : mx;
	double se = 0.0;
	for (uint32_t i = 0; i < V; i++)
		se += (double)expf(lg[i] - mx);
	double lse = (double)mx + log(se);
	c->sum += lse - (double)lg[c->win[pos + 1]];
	c->count++;
	return 0;
}

int lutdb_eval(lutdb_model *m, const uint32_t *ids, size_t n, uint32_t window, lutdb_progress_fn progress,
	       void *progress_ctx, lutdb_eval_result *out)
{
	lutdb_session *s = NULL;
	int rc;

	if (!m || !out || (!ids && n))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_eval: NULL argument");
	memset(out, 0, sizeof *out);
	if (!window)
		window = m->max_pos;
	if (window > m->max_pos)
		return lutdb_fail(LUTDB_ECONTEXT, "eval window %u exceeds max_position_embeddings %u", window,
				  m->max_pos);
	if (window < 2)
		return lutdb_fail(LUTDB_EINVAL, "eval window %u predicts nothing", window);
	if (n < 2)
		return lutdb_fail(LUTDB_EINVAL, "nothing to predict: %zu token id%s (at least 2 are needed)", n,
				  n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= m->V)
			return lutdb_fail(LUTDB_ERANGE, "token id %u (at index %zu) is outside the vocabulary [0, %u)",
					  ids[i], i, m->V);
	lutdb_session_opts so = {.size = sizeof so, .capacity = (uint32_t)(n < window ? n : window)};
	if ((rc = lutdb_session_new(m, &so, &s)))
		return rc;
	size_t nwin = (n + window - 1) / window;
	struct nll_ctx c = {0};
	for (size_t w = 0; w < nwin; w++) {
		size_t start = w * window, len = n - start < window ? n - start : window;
		if (len >= 2) {
			c.win = ids + start;
			c.len = (uint32_t)len;
			lutdb_session_reset(s);
			if ((rc = lutdb_session_feed(s, ids + start, len, nll_cb, &c)))
				goto done;
			out->windows++;
		}
		if (progress && progress(progress_ctx, w + 1, nwin)) {
			rc = lutdb_fail(LUTDB_EINTR, "eval cancelled after %zu of %zu windows", w + 1, nwin);
			goto done;
		}
	}
	out->tokens = c.count;
	out->loss = c.sum / (double)c.count;
	out->ppl = exp(out->loss);
done:
	lutdb_session_free(s);
	return rc;
}
