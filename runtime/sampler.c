/*
 * sampler.c - greedy / temperature / top-k / top-p sampling (see sampler.h).
 *
 * Cost for a vocabulary V: greedy is one pass.  top_k = k < V keeps a heap
 * of the k best (one pass plus rare sifts; partial selection for k > 256)
 * and sorts only those.  top_p over the whole vocabulary computes every
 * weight (vectorized lk_exp), then selects and sorts the best candidates in
 * growing batches (64, 256, 1024, ...) until the batch that reaches top_p:
 * O(V) for peaked distributions, a full sort only when top_p asks for most
 * of a flat one.  Without top-k/top-p the draw walks the ids in order.
 */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* ---- generator -------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void lk_rng_seed(lk_rng *rng, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

uint64_t lk_rng_next(lk_rng *rng)
{
	uint64_t *s = rng->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

double lk_rng_uniform(lk_rng *rng)
{
	return (double)(lk_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- argmax ------------------------------------------------------------------- */
uint32_t lk_argmax(const float *x, size_t n)
{
	size_t i = 0, best;
	while (i < n && x[i] != x[i])
		i++;
	if (i == n)
		return 0;
	best = i;
	float bv = x[i];
	for (i++; i < n; i++)
		if (x[i] > bv) {
			bv = x[i];
			best = i;
		}
	return (uint32_t)best;
}

/* ---- candidates ----------------------------------------------------------------- */
typedef struct {
	float l;
	uint32_t id;
} cand;

/* The sampling order: higher logit first, then lower id (ids are unique, so
 * this is a total order and every selection method agrees). */
static inline int before(cand a, cand b)
{
	return a.l > b.l || (a.l == b.l && a.id < b.id);
}

static int cmp_cand(const void *pa, const void *pb)
{
	cand a = *(const cand *)pa, b = *(const cand *)pb;
	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static inline void swap_c(cand *c, size_t i, size_t j)
{
	cand t = c[i];
	c[i] = c[j];
	c[j] = t;
}

/* Heap whose root is the worst kept candidate. */
static void sift_down(cand *c, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < n && before(c[w], c[l]))
			w = l;
		if (r < n && before(c[w], c[r]))
			w = r;
		if (w == i)
			return;
		swap_c(c, i, w);
		i = w;
	}
}

/* The k best non-NaN logits, in any order; returns how many (<= k). */
static size_t top_k_heap(const float *logits, size_t V, size_t k, cand *c)
{
	size_t n = 0, i = 0;
	for (; i < V && n < k; i++)
		if (logits[i] == logits[i])
			c[n++] = (cand){logits[i], (uint32_t)i};
	for (size_t j = n / 2; j-- > 0;)
		sift_down(c, n, j);
	/* Later ids lose ties, so only a strictly larger logit gets in. */
	for (; i < V; i++)
		if (logits[i] > c[0].l) {
			c[0] = (cand){logits[i], (uint32_t)i};
			sift_down(c, n, 0);
		}
	return n;
}

/* Rearranges c[lo, hi) so that c[lo, kth) holds its best kth - lo entries
 * (any order).  Quickselect, median-of-3 pivots, sorting as the fallback
 * when the pivots keep going wrong (so never worse than O(n log n)). */
static void select_best(cand *c, size_t lo, size_t hi, size_t kth)
{
	int budget = 64;
	while (hi - lo > 16 && kth > lo && kth < hi) {
		if (budget-- == 0) {
			qsort(c + lo, hi - lo, sizeof *c, cmp_cand);
			return;
		}
		size_t mid = lo + (hi - lo) / 2, last = hi - 1;
		if (before(c[mid], c[lo]))
			swap_c(c, mid, lo);
		if (before(c[last], c[lo]))
			swap_c(c, last, lo);
		if (before(c[last], c[mid]))
			swap_c(c, last, mid);
		/* c[lo] <= c[mid] <= c[last] in sampling order: pivot = c[mid] */
		swap_c(c, mid, last);
		cand piv = c[last];
		size_t store = lo;
		for (size_t i = lo; i < last; i++)
			if (before(c[i], piv))
				swap_c(c, i, store++);
		swap_c(c, store, last);
		if (kth <= store)
			hi = store;
		else
			lo = store + 1;
	}
	if (kth > lo && kth < hi)
		qsort(c + lo, hi - lo, sizeof *c, cmp_cand);
}

/* First candidate (in the given order) whose running weight exceeds r;
 * rounding fallback: the last with a nonzero weight. */
static uint32_t draw(const cand *c, const float *w, int w_by_id, size_t n, double r)
{
	double acc = 0.0;
	for (size_t i = 0; i < n; i++) {
		acc += (double)w[w_by_id ? c[i].id : i];
		if (r < acc)
			return c[i].id;
	}
	for (size_t i = n; i-- > 0;)
		if (w[w_by_id ? c[i].id : i] > 0.0f)
			return c[i].id;
	return c[0].id;
}

uint32_t lk_sample(const float *logits, size_t V, const lk_sampler_params *p, lk_rng *rng,
		   float *scratch)
{
	if (V == 0)
		return 0;
	uint32_t best = lk_argmax(logits, V);
	if (!p || p->greedy || !(p->temperature > 0.0f))
		return best;
	const double u = lk_rng_uniform(rng); /* exactly one draw per call */
	const float lmax = logits[best], T = p->temperature;
	const size_t k = p->top_k > 0 && (size_t)p->top_k < V ? (size_t)p->top_k : V;
	const int use_p = p->top_p > 0.0f && p->top_p < 1.0f;
	if (lmax != lmax || lmax == INFINITY || k == 1)
		return best;

	float *own = NULL;
	if (!scratch) {
		own = malloc(LK_SAMPLE_SCRATCH_FLOATS(V) * sizeof(float));
		if (!own)
			return best;
		scratch = own;
	}
	float *w = scratch;                    /* V weights */
	cand *c = (cand *)(void *)(scratch + V); /* V candidates (2 floats each) */
	uint32_t id;

	if (k < V) {
		size_t n;
		if (k <= 256) {
			n = top_k_heap(logits, V, k, c);
		} else {
			n = 0;
			for (size_t i = 0; i < V; i++)
				if (logits[i] == logits[i])
					c[n++] = (cand){logits[i], (uint32_t)i};
			select_best(c, 0, n, k < n ? k : n);
			n = k < n ? k : n;
		}
		qsort(c, n, sizeof *c, cmp_cand);
		for (size_t i = 0; i < n; i++)
			w[i] = (c[i].l - lmax) / T;
		lk_exp(w, n);
		size_t keep = n;
		double tot = 0.0;
		for (size_t i = 0; i < n; i++)
			tot += (double)w[i];
		if (use_p) {
			double need = (double)p->top_p * tot, cum = 0.0;
			for (size_t i = 0; i < n; i++) {
				cum += (double)w[i];
				if (cum >= need) {
					keep = i + 1;
					break;
				}
			}
			tot = cum;
		}
		id = draw(c, w, 0, keep, u * tot);
	} else {
		for (size_t i = 0; i < V; i++)
			w[i] = logits[i] == logits[i] ? (logits[i] - lmax) / T : -INFINITY;
		lk_exp(w, V);
		double tot = 0.0;
		for (size_t i = 0; i < V; i++)
			tot += (double)w[i];
		if (!use_p) {
			/* every id, in id order */
			double r = u * tot, acc = 0.0;
			id = best;
			for (size_t i = 0; i < V; i++) {
				acc += (double)w[i];
				if (r < acc) {
					id = (uint32_t)i;
					break;
				}
			}
			if (!(r < acc))
				for (size_t i = V; i-- > 0;)
					if (w[i] > 0.0f) {
						id = (uint32_t)i;
						break;
					}
		} else {
			/* nucleus: sort best-first in growing batches until it is reached */
			size_t n = 0;
			for (size_t i = 0; i < V; i++)
				if (logits[i] == logits[i])
					c[n++] = (cand){logits[i], (uint32_t)i};
			double need = (double)p->top_p * tot, cum = 0.0;
			size_t keep = n, lo = 0, batch = 64;
			while (lo < n && keep == n) {
				size_t hi = n - lo > batch ? lo + batch : n;
				select_best(c, lo, n, hi);
				qsort(c + lo, hi - lo, sizeof *c, cmp_cand);
				for (size_t i = lo; i < hi; i++) {
					cum += (double)w[c[i].id];
					if (cum >= need) {
						keep = i + 1;
						break;
					}
				}
				lo = hi;
				batch *= 4;
			}
			id = draw(c, w, 1, keep, u * cum);
		}
	}
	free(own);
	return id;
}
