/*
 * lutdb_sampler.c - lutdb_sampler: the public face of sampler.h
 * (lk_sample: greedy, or temperature -> top-k -> top-p -> one draw from a
 * seeded xoshiro256** generator; candidates ordered by logit descending, id
 * ascending).  The sampler owns the generator state and lk_sample's scratch,
 * allocated here, so that drawing allocates nothing and cannot fail.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "engine_internal.h"
#include "sampler.h"
#include "fail.h"

struct lutdb_sampler {
	lk_sampler_params p;
	lk_rng rng;
	uint32_t vocab;
	lk_sample_scratch *scratch; /* NULL when greedy */
};

uint32_t lutdb_argmax(const float *v, uint32_t n)
{
	return lk_argmax(v, n);
}

int lutdb_sampler_new(const lutdb_sampling *p, uint32_t vocab, lutdb_sampler **out)
{
	lutdb_sampler *sp;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_sampler_new: out is NULL");
	*out = NULL;
	if (!vocab)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_sampler_new: empty vocabulary");
	if (p && (isnan(p->temperature) || isnan(p->top_p)))
		return lutdb_fail(LUTDB_EINVAL, "sampling: temperature and top-p must be numbers");
	if (!(sp = calloc(1, sizeof *sp)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_sampler_new");
	sp->vocab = vocab;
	sp->p.greedy = !p || !(p->temperature > 0.0f);
	if (p) {
		sp->p.temperature = p->temperature;
		sp->p.top_k = p->top_k > INT_MAX ? INT_MAX : (int)p->top_k;
		sp->p.top_p = p->top_p;
		sp->p.seed = p->seed;
	}
	lk_rng_seed(&sp->rng, sp->p.seed);
	if (!sp->p.greedy && !(sp->scratch = lk_sample_scratch_new(vocab))) {
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
	lk_sample_scratch_free(sp->scratch);
	free(sp);
}

uint32_t lutdb_sampler_next(lutdb_sampler *sp, const float *logits)
{
	if (sp->p.greedy)
		return lk_argmax(logits, sp->vocab);
	return lk_sample(logits, sp->vocab, &sp->p, &sp->rng, sp->scratch);
}
