/*
 * sampler.h - next-token sampling: greedy, or temperature -> top-k -> top-p
 * -> one draw from a seeded xoshiro256** generator.
 *
 * Candidates are ordered by (logit descending, id ascending); NaN logits are
 * never candidates.  With the same logits, parameters and generator state
 * the same id comes out: the result depends on nothing else (not on how the
 * top-k / top-p sets are found: a heap for small k, partial selection
 * otherwise, never a full sort of the vocabulary unless top-p needs it).
 *
 * Non-greedy lr_sample() always consumes exactly one uniform draw, so the
 * generator's position depends only on the number of non-greedy calls.
 */
#ifndef LUTDB_SAMPLER_H
#define LUTDB_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	float temperature; /* <= 0 (or NaN): greedy */
	int top_k;         /* keep the k best ids; <= 0 or >= V: all */
	float top_p;       /* keep the smallest best-first set whose probability
			      reaches top_p; <= 0, >= 1 or NaN: all; tiny: greedy */
	uint64_t seed;     /* for lr_rng_seed() by the caller (not read by lr_sample) */
	int greedy;        /* nonzero: argmax whatever the rest says */
} lr_sampler_params;

/* xoshiro256** state, seeded through splitmix64. */
typedef struct {
	uint64_t s[4];
} lr_rng;

void lr_rng_seed(lr_rng *rng, uint64_t seed);
uint64_t lr_rng_next(lr_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double lr_rng_uniform(lr_rng *rng);

/* Index of the largest of n values: the lowest index on ties; NaN never
 * wins; 0 when n == 0 or every value is NaN. */
uint32_t lr_argmax(const float *x, size_t n);

/* lr_sample's working memory for vocabularies of up to V ids: weights,
 * candidates, the radix sort's buffer and digit counts.  Allocated once,
 * so that lr_sample never allocates and cannot fail.  _new returns NULL
 * when out of memory; _free accepts NULL. */
typedef struct lr_sample_scratch lr_sample_scratch;
lr_sample_scratch *lr_sample_scratch_new(size_t V);
void lr_sample_scratch_free(lr_sample_scratch *sc);

/* Picks an id in [0, V) from logits (not modified).
 *   greedy (p NULL, p->greedy, temperature <= 0): lr_argmax;
 *   otherwise w_i = exp((logit_i - max) * (1 / temperature)) (lk_exp; NaN
 *   logits weigh 0), keep the top_k best, then the shortest best-first
 *   prefix whose running weight reaches top_p * total, and draw
 *   r = u * (kept weight): the first kept candidate, best first, whose
 *   running weight exceeds r.  Running weights are summed in double in that
 *   order; totals in double over 4 lanes (i % 4), lanes added (0+1)+(2+3):
 *   over the k kept, best first, or over all ids when top_k is off.
 *   Without top-k and top-p the draw walks the ids in id order.
 * A +inf logit wins outright (lowest such id).  sc: made for at least V ids;
 * it may be NULL only when the call is greedy.  Allocates nothing. */
uint32_t lr_sample(const float *logits, size_t V, const lr_sampler_params *p, lr_rng *rng,
		   lr_sample_scratch *sc);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_SAMPLER_H */
