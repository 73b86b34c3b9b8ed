/*
 * lutdb_sampler.c - lutdb_sampler: the public face of sampler.h
 * (lr_sample: greedy, or temperature -> top-k -> top-p -> one draw from a
 * seeded xoshiro256** generator; candidates ordered by logit descending, id
 * ascending).  The sampler owns the generator state and lr_sample's scratch,
 * allocated here, so that drawing allocates nothing and cannot fail.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "engine_internal.h"
#include "fail.h"
#include "opts.h"
#include "sampler.h"

struct lutdb_sampler {
	lr_sampler_params p;
	lr_rng rng;
	uint32_t vocab;
	lr_sample_scratch *scratch; /* NULL when greedy */
};

uint32_t lutdb_argmax(const float *v, uint32_t n)
{
	return lr_argmax(v, n);
}

int lr_sampling_read(const lutdb_sampling *p, const char *what, lr_sampler_params *out)
{
	int rc;

	if ((rc = lutdb_opts_check(p, p ? p->size : 0, sizeof *p, LUTDB_OPTS_MIN(lutdb_sampling, seed), what)))
		return rc;
	const float temperature = LUTDB_OPT(p, temperature, 0.0f), top_p = LUTDB_OPT(p, top_p, 0.0f);
	const uint32_t top_k = LUTDB_OPT(p, top_k, 0);
	if (isnan(temperature) || isnan(top_p))
		return lutdb_fail(LUTDB_EINVAL, "sampling: temperature and top-p must be numbers");
	out->greedy = !(temperature > 0.0f);
	out->temperature = temperature;
	out->top_k = top_k > INT_MAX ? INT_MAX : (int)top_k;
	out->top_p = top_p;
	out->seed = LUTDB_OPT(p, seed, 0);
	return LUTDB_OK;
}

int lutdb_sampler_new(const lutdb_sampling *p, uint32_t vocab, lutdb_sampler **out)
{
	lr_sampler_params params;
	lutdb_sampler *sp;
	int rc;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_sampler_new: out is NULL");
	*out = NULL;
	if (!vocab)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_sampler_new: empty vocabulary");
	if ((rc = lr_sampling_read(p, "lutdb_sampler_new", &params)))
		return rc;
	if (!(sp = calloc(1, sizeof *sp)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_sampler_new");
	sp->vocab = vocab;
	sp->p = params;
	lr_rng_seed(&sp->rng, sp->p.seed);
	if (!sp->p.greedy && !(sp->scratch = lr_sample_scratch_new(vocab))) {
		free(sp);
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_sampler_new");
	}
	*out = sp;
	return LUTDB_OK;
}

void lutdb_sampler_free(lutdb_sampler *sp)
{
	if (!sp)
		return;
	lr_sample_scratch_free(sp->scratch);
	free(sp);
}

uint32_t lutdb_sampler_next(lutdb_sampler *sp, const float *logits)
{
	if (sp->p.greedy)
		return lr_argmax(logits, sp->vocab);
	return lr_sample(logits, sp->vocab, &sp->p, &sp->rng, sp->scratch);
}
