/*
 * session_sample.c - lutdb_sampler: greedy, or temperature -> top-k -> top-p
 * -> a draw with a seeded xoshiro256** generator.
 *
 * Candidates are ordered by (logit descending, id ascending), so the result
 * depends only on the logits and the seed.  Probabilities are computed in
 * double.  (A local implementation: runtime/sampler.h was not available when
 * this was written; the public API stays the same if it moves there.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

struct lutdb_sampler {
	lutdb_sampling p;
	int greedy;
	uint32_t vocab;
	uint64_t st[4];
	uint32_t *idx;  /* candidate ids */
	double *prob;   /* their weights */
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(lutdb_sampler *sp)
{
	uint64_t *s = sp->st, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Uniform in [0, 1). */
static double next_unit(lutdb_sampler *sp)
{
	return (double)(next_u64(sp) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t lutdb_argmax(const float *v, uint32_t n)
{
	uint32_t best = 0;
	for (uint32_t i = 0; i < n; i++)
		if (!isnan(v[i])) {
			best = i;
			break;
		}
	for (uint32_t i = best + 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
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
	if (p)
		sp->p = *p;
	sp->vocab = vocab;
	sp->greedy = !p || !(p->temperature > 0.0f);
	uint64_t x = sp->p.seed;
	for (int i = 0; i < 4; i++)
		sp->st[i] = splitmix64(&x);
	if (!sp->greedy && (!(sp->idx = malloc(vocab * sizeof *sp->idx)) ||
			    !(sp->prob = malloc(vocab * sizeof *sp->prob)))) {
		lutdb_sampler_free(sp);
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_sampler_new");
	}
	*out = sp;
	return LUTDB_OK;
}

void lutdb_sampler_free(lutdb_sampler *sp)
{
	if (!sp)
		return;
	free(sp->idx);
	free(sp->prob);
	free(sp);
}

/* Order: higher logit first, then lower id; NaN last. */
static int before(const float *v, uint32_t a, uint32_t b)
{
	float x = v[a], y = v[b];
	if (isnan(x) || isnan(y))
		return isnan(y) && (!isnan(x) || a < b);
	return x > y || (x == y && a < b);
}

static _Thread_local const float *sort_logits;

static int cmp_cand(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return before(sort_logits, a, b) ? -1 : before(sort_logits, b, a) ? 1 : 0;
}

/* Sift-down of a min-heap (by `before`: the root is the worst kept). */
static void heap_down(const float *v, uint32_t *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < n && before(v, h[w], h[l]))
			w = l;
		if (r < n && before(v, h[w], h[r]))
			w = r;
		if (w == i)
			return;
		uint32_t t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

uint32_t lutdb_sampler_next(lutdb_sampler *sp, const float *logits)
{
	const uint32_t V = sp->vocab;
	if (sp->greedy)
		return lutdb_argmax(logits, V);
	const double invt = 1.0 / (double)sp->p.temperature;
	const int use_p = sp->p.top_p > 0.0f && sp->p.top_p < 1.0f;
	uint32_t k = sp->p.top_k && sp->p.top_k < V ? sp->p.top_k : V, n;

	if (k < V) {
		/* the k best by a heap whose root is the worst kept */
		for (uint32_t i = 0; i < k; i++)
			sp->idx[i] = i;
		for (uint32_t i = k / 2; i-- > 0;)
			heap_down(logits, sp->idx, k, i);
		for (uint32_t i = k; i < V; i++)
			if (before(logits, i, sp->idx[0])) {
				sp->idx[0] = i;
				heap_down(logits, sp->idx, k, 0);
			}
		n = k;
	} else {
		for (uint32_t i = 0; i < V; i++)
			sp->idx[i] = i;
		n = V;
	}
	if (k < V || use_p) {
		sort_logits = logits;
		qsort(sp->idx, n, sizeof *sp->idx, cmp_cand);
	}
	/* softmax over the candidates, in double */
	double mx = -INFINITY, sum = 0.0;
	for (uint32_t i = 0; i < n; i++)
		if ((double)logits[sp->idx[i]] > mx)
			mx = (double)logits[sp->idx[i]];
	if (!isfinite(mx))
		return lutdb_argmax(logits, V);
	for (uint32_t i = 0; i < n; i++) {
		double z = ((double)logits[sp->idx[i]] - mx) * invt;
		sp->prob[i] = isnan(z) ? 0.0 : exp(z);
		sum += sp->prob[i];
	}
	if (use_p) {
		/* smallest prefix (sorted) whose probability reaches top_p */
		double need = (double)sp->p.top_p * sum, acc = 0.0;
		uint32_t keep = 0;
		while (keep < n && acc < need)
			acc += sp->prob[keep++];
		n = keep ? keep : 1;
		sum = acc > 0.0 ? acc : sp->prob[0];
	}
	double r = next_unit(sp) * sum, acc = 0.0;
	for (uint32_t i = 0; i < n; i++) {
		acc += sp->prob[i];
		if (r < acc)
			return sp->idx[i];
	}
	/* rounding: the last candidate with a nonzero weight */
	for (uint32_t i = n; i-- > 0;)
		if (sp->prob[i] > 0.0)
			return sp->idx[i];
	return sp->idx[0];
}
