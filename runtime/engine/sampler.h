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
 * Non-greedy lk_sample() always consumes exactly one uniform draw, so the
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
	uint64_t seed;     /* for lk_rng_seed() by the caller (not read by lk_sample) */
	int greedy;        /* nonzero: argmax whatever the rest says */
} lk_sampler_params;

/* xoshiro256** state, seeded through splitmix64. */
typedef struct {
	uint64_t s[4];
} lk_rng;

void lk_rng_seed(lk_rng *rng, uint64_t seed);
uint64_t lk_rng_next(lk_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double lk_rng_uniform(lk_rng *rng);

/* Index of the largest of n values: the lowest index on ties; NaN never
 * wins; 0 when n == 0 or every value is NaN. */
uint32_t lk_argmax(const float *x, size_t n);

/* lk_sample's working memory for vocabularies of up to V ids: weights,
 * candidates, the radix sort's buffer and digit counts.  Allocated once,
 * so that lk_sample never allocates and cannot fail.  _new returns NULL
 * when out of memory; _free accepts NULL. */
typedef struct lk_sample_scratch lk_sample_scratch;
lk_sample_scratch *lk_sample_scratch_new(size_t V);
void lk_sample_scratch_free(lk_sample_scratch *sc);

/* Picks an id in [0, V) from logits (not modified).
 *   greedy (p NULL, p->greedy, temperature <= 0): lk_argmax;
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
uint32_t lk_sample(const float *logits, size_t V, const lk_sampler_params *p, lk_rng *rng,
		   lk_sample_scratch *sc);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_SAMPLER_H */
