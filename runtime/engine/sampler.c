/*
 * sampler.c - greedy / temperature / top-k / top-p sampling (see sampler.h).
 *
 * Cost for a vocabulary V: greedy is one pass.  top_k = k < V keeps a heap
 * of the k best (one pass plus rare sifts; partial selection for k > 256)
 * and sorts only those.  top_p over the whole vocabulary computes every
 * weight (vectorized lk_exp), buckets the weights to find a weight threshold
 * just below the nucleus, and radix-sorts only the ids above it: a few
 * linear passes over V plus a sort of about the nucleus.  Without top-k or
 * top-p the draw walks the ids in order.  All working memory comes with the
 * scratch (lr_sample_scratch_new): a draw allocates nothing.
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

void lr_rng_seed(lr_rng *rng, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

uint64_t lr_rng_next(lr_rng *rng)
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

double lr_rng_uniform(lr_rng *rng)
{
	return (double)(lr_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- argmax ------------------------------------------------------------------- */
uint32_t lr_argmax(const float *x, size_t n)
{
	/* pass 1: the maximum, 8 independent branchless lanes (NaN never
	 * compares greater); pass 2: the first index holding it */
	float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
		      -INFINITY, -INFINITY, -INFINITY, -INFINITY};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int l = 0; l < 8; l++)
			m[l] = x[i + (size_t)l] > m[l] ? x[i + (size_t)l] : m[l];
	for (; i < n; i++)
		m[0] = x[i] > m[0] ? x[i] : m[0];
	float mx = m[0];
	for (int l = 1; l < 8; l++)
		mx = m[l] > mx ? m[l] : mx;
	for (i = 0; i < n; i++)
		if (x[i] == mx)
			return (uint32_t)i;
	return 0; /* empty, or every value NaN */
}

/* ---- candidates -----------------------------------------------------------------
 * A candidate is one uint64: an order-preserving key of its logit, inverted
 * so that larger logits are smaller, in the high half and its id in the low
 * half.  Ascending uint64 order is then exactly the sampling order (higher
 * logit first, then lower id) - a total order, so every selection method
 * agrees - and comparisons are single integer compares. */
typedef uint64_t cand;

static inline cand mk_cand(float l, size_t id)
{
	uint32_t u;
	l = l + 0.0f; /* -0 -> +0: equal logits must give equal keys */
	memcpy(&u, &l, sizeof u);
	u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending key */
	return ((uint64_t)~u << 32) | (uint32_t)id;
}

static inline uint32_t cand_id(cand c)
{
	return (uint32_t)c;
}

static int cmp_cand(const void *pa, const void *pb)
{
	cand a = *(const cand *)pa, b = *(const cand *)pb;
	return a < b ? -1 : a > b;
}

static inline void swap_c(cand *c, size_t i, size_t j)
{
	cand t = c[i];
	c[i] = c[j];
	c[j] = t;
}

/* Max-heap of the kept candidates: the root is the worst kept. */
static void sift_down(cand *c, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < n && c[l] > c[w])
			w = l;
		if (r < n && c[r] > c[w])
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
			c[n++] = mk_cand(logits[i], i);
	for (size_t j = n / 2; j-- > 0;)
		sift_down(c, n, j);
	/* Later ids lose ties, so only a strictly larger logit can get in. */
	float worst = 0.0f;
	if (n)
		worst = logits[cand_id(c[0])];
	for (; i < V; i++)
		if (logits[i] > worst) {
			c[0] = mk_cand(logits[i], i);
			sift_down(c, n, 0);
			worst = logits[cand_id(c[0])];
		}
	return n;
}

/* Rearranges c[lo, hi) so that c[lo, kth) holds its best kth - lo entries
 * (any order).  Quickselect with median-of-3 pivots, sorting as the
 * fallback when pivots keep going wrong (never worse than O(n log n)). */
static void select_best(cand *c, size_t lo, size_t hi, size_t kth)
{
	int budget = 64;
	while (hi - lo > 16 && kth > lo && kth < hi) {
		if (budget-- == 0) {
			qsort(c + lo, hi - lo, sizeof *c, cmp_cand);
			return;
		}
		size_t mid = lo + (hi - lo) / 2, last = hi - 1;
		if (c[mid] < c[lo])
			swap_c(c, mid, lo);
		if (c[last] < c[lo])
			swap_c(c, last, lo);
		if (c[last] < c[mid])
			swap_c(c, last, mid);
		swap_c(c, mid, last); /* the median is the pivot */
		cand piv = c[last];
		size_t store = lo;
		/* branchless Lomuto: [lo, store) < piv <= [store, i) */
		for (size_t i = lo; i < last; i++) {
			cand x = c[i];
			c[i] = c[store];
			c[store] = x;
			store += x < piv;
		}
		swap_c(c, store, last);
		if (kth <= store)
			hi = store;
		else
			lo = store + 1;
	}
	if (kth > lo && kth < hi)
		qsort(c + lo, hi - lo, sizeof *c, cmp_cand);
}

/* Sorts n candidates ascending; tmp holds n more.  LSD radix sort on 8-bit
 * digits, skipping the digits that are the same in every candidate (the
 * unused high id bits), so about 7 linear passes for a large set. */
#define NDIG 8
static void sort_cands(cand *c, size_t n, cand *tmp, size_t (*hist)[256])
{
	if (n <= 256) {
		qsort(c, n, sizeof *c, cmp_cand);
		return;
	}
	memset(hist, 0, NDIG * sizeof *hist);
	for (size_t i = 0; i < n; i++)
		for (int d = 0; d < NDIG; d++)
			hist[d][(c[i] >> (8 * d)) & 255]++;
	cand *src = c, *dst = tmp;
	for (int d = 0; d < NDIG; d++) {
		size_t sum = 0, *h = hist[d];
		if (h[(src[0] >> (8 * d)) & 255] == n)
			continue; /* one bucket: nothing to do */
		for (int b = 0; b < 256; b++) {
			size_t t = h[b];
			h[b] = sum;
			sum += t;
		}
		for (size_t i = 0; i < n; i++)
			dst[h[(src[i] >> (8 * d)) & 255]++] = src[i];
		cand *t = src;
		src = dst;
		dst = t;
	}
	if (src != c)
		memcpy(c, src, n * sizeof *c);
}

/* Sum of w[0..n) in double: lane j takes i % 4 == j, then (0+1)+(2+3). */
static double sum4(const float *w, size_t n)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += (double)w[i];
		s1 += (double)w[i + 1];
		s2 += (double)w[i + 2];
		s3 += (double)w[i + 3];
	}
	if (i < n)
		s0 += (double)w[i];
	if (i + 1 < n)
		s1 += (double)w[i + 1];
	if (i + 2 < n)
		s2 += (double)w[i + 2];
	return (s0 + s1) + (s2 + s3);
}

/* First candidate (in the given order) whose running weight exceeds r;
 * rounding fallback: the last with a nonzero weight. */
static uint32_t draw(const cand *c, const float *w, int w_by_id, size_t n, double r)
{
	double acc = 0.0;
	for (size_t i = 0; i < n; i++) {
		acc += (double)w[w_by_id ? cand_id(c[i]) : i];
		if (r < acc)
			return cand_id(c[i]);
	}
	for (size_t i = n; i-- > 0;)
		if (w[w_by_id ? cand_id(c[i]) : i] > 0.0f)
			return cand_id(c[i]);
	return cand_id(c[0]);
}

/* Weights of all ids: exp((l - lmax) / T), NaN logits weigh 0. */
static void all_weights(const float *logits, size_t V, float lmax, float invt, float *w)
{
	for (size_t i = 0; i < V; i++) {
		float z = (logits[i] - lmax) * invt;
		w[i] = z == z ? z : -INFINITY;
	}
	lk_exp(w, V);
}

/* ---- scratch ------------------------------------------------------------------ */
struct lr_sample_scratch {
	size_t V;
	float *weights;          /* [V] */
	cand *cands, *sort_tmp;  /* [V] each */
	size_t (*hist)[256];     /* [NDIG] radix digit counts */
};

lr_sample_scratch *lr_sample_scratch_new(size_t V)
{
	lr_sample_scratch *sc = calloc(1, sizeof *sc);
	size_t n = V ? V : 1;

	if (!sc || n > SIZE_MAX / sizeof(cand))
		goto fail;
	sc->V = V;
	sc->weights = malloc(n * sizeof *sc->weights);
	sc->cands = malloc(n * sizeof *sc->cands);
	sc->sort_tmp = malloc(n * sizeof *sc->sort_tmp);
	sc->hist = malloc(NDIG * sizeof *sc->hist);
	if (!sc->weights || !sc->cands || !sc->sort_tmp || !sc->hist)
		goto fail;
	return sc;
fail:
	lr_sample_scratch_free(sc);
	return NULL;
}

void lr_sample_scratch_free(lr_sample_scratch *sc)
{
	if (!sc)
		return;
	free(sc->weights);
	free(sc->cands);
	free(sc->sort_tmp);
	free(sc->hist);
	free(sc);
}

/* ---- the draw ---------------------------------------------------------------------
 * What every sampling path shares: the logits, the shift and scale that
 * turn them into weights, top_p (1 when off) and the uniform draw u. */
struct draw_in {
	const float *logits;
	size_t V;
	float lmax, invt, top_p;
	double u;
};

/* The shortest best-first prefix of n candidates whose running weight
 * reaches need; sets *mass to that prefix's weight (all n if none does). */
static size_t nucleus_prefix(const cand *c, const float *w, int w_by_id, size_t n, double need, double *mass)
{
	double cum = 0.0;

	for (size_t i = 0; i < n; i++) {
		cum += (double)w[w_by_id ? cand_id(c[i]) : i];
		if (cum >= need) {
			*mass = cum;
			return i + 1;
		}
	}
	*mass = cum;
	return n;
}

/* top_k < V: the k best candidates, sorted best first, their weights in
 * that order, then top-p over them. */
static uint32_t sample_top_k(const struct draw_in *in, size_t k, lr_sample_scratch *sc)
{
	cand *c = sc->cands;
	float *w = sc->weights;
	size_t n;

	if (k <= 256) {
		n = top_k_heap(in->logits, in->V, k, c);
	} else {
		n = 0;
		for (size_t i = 0; i < in->V; i++)
			if (in->logits[i] == in->logits[i])
				c[n++] = mk_cand(in->logits[i], i);
		if (k < n) {
			select_best(c, 0, n, k);
			n = k;
		}
	}
	sort_cands(c, n, sc->sort_tmp, sc->hist);
	for (size_t i = 0; i < n; i++)
		w[i] = (in->logits[cand_id(c[i])] - in->lmax) * in->invt;
	lk_exp(w, n);
	double tot = sum4(w, n);
	size_t keep = n;
	if (in->top_p < 1.0f) /* never reaching the need keeps all n, with their mass */
		keep = nucleus_prefix(c, w, 0, n, (double)in->top_p * tot, &tot);
	return draw(c, w, 0, keep, in->u * tot);
}

/* Neither top-k nor top-p: every id, walked in id order. */
static uint32_t sample_all(const struct draw_in *in, uint32_t best, lr_sample_scratch *sc)
{
	float *w = sc->weights;
	const size_t V = in->V;

	all_weights(in->logits, V, in->lmax, in->invt, w);
	double r = in->u * sum4(w, V), acc = 0.0;
	for (size_t i = 0; i < V; i++) {
		acc += (double)w[i];
		if (r < acc)
			return (uint32_t)i;
	}
	for (size_t i = V; i-- > 0;) /* rounding: the last id with a weight */
		if (w[i] > 0.0f)
			return (uint32_t)i;
	return best;
}

/* The non-NaN ids whose weight's bucket is at least lowest, into c. */
static size_t cands_from_bucket(const float *logits, const float *w, size_t V, uint32_t lowest, cand *c)
{
	size_t n = 0;

	for (size_t i = 0; i < V; i++) {
		uint32_t b;
		memcpy(&b, &w[i], sizeof b);
		if ((b >> 20) >= lowest && logits[i] == logits[i])
			c[n++] = mk_cand(logits[i], i);
	}
	return n;
}

/* top-p over the whole vocabulary.  Weights never increase along the
 * sampling order, so {w >= theta} is a best-first prefix: bucket the weights
 * by their top 11 bits (1/8 binade), find the bucket where the mass from
 * the top reaches top_p (with a margin for summation order), and sort only
 * the ids at or above it. */
static uint32_t sample_nucleus(const struct draw_in *in, lr_sample_scratch *sc)
{
	float *w = sc->weights;
	cand *c = sc->cands;
	const size_t V = in->V;
	double mass[2048] = {0};

	all_weights(in->logits, V, in->lmax, in->invt, w);
	double need = (double)in->top_p * sum4(w, V), cum = 0.0;
	for (size_t i = 0; i < V; i++) {
		uint32_t b;
		memcpy(&b, &w[i], sizeof b);
		mass[b >> 20] += (double)w[i];
	}
	uint32_t lowest = 0;
	double from_top = 0.0;
	for (uint32_t b = 2048; b-- > 0;) {
		from_top += mass[b];
		if (from_top >= need * (1.0 + 1e-6)) {
			lowest = b;
			break;
		}
	}
	size_t n = cands_from_bucket(in->logits, w, V, lowest, c);
	sort_cands(c, n, sc->sort_tmp, sc->hist);
	size_t keep = nucleus_prefix(c, w, 1, n, need, &cum);
	if (cum < need && lowest > 0) {
		/* rounding left the prefix short: take every id */
		n = cands_from_bucket(in->logits, w, V, 0, c);
		sort_cands(c, n, sc->sort_tmp, sc->hist);
		keep = nucleus_prefix(c, w, 1, n, need, &cum);
	}
	return draw(c, w, 1, keep, in->u * cum);
}

uint32_t lr_sample(const float *logits, size_t V, const lr_sampler_params *p, lr_rng *rng, lr_sample_scratch *sc)
{
	if (V == 0)
		return 0;
	uint32_t best = lr_argmax(logits, V);
	if (!p || p->greedy || !(p->temperature > 0.0f))
		return best;
	const double u = lr_rng_uniform(rng); /* exactly one draw per call */
	const float lmax = logits[best];
	const size_t k = p->top_k > 0 && (size_t)p->top_k < V ? (size_t)p->top_k : V;
	const int use_p = p->top_p > 0.0f && p->top_p < 1.0f;
	if (lmax != lmax || lmax == INFINITY || k == 1)
		return best;
	struct draw_in in = {logits, V, lmax, 1.0f / p->temperature, use_p ? p->top_p : 1.0f, u};
	if (k < V)
		return sample_top_k(&in, k, sc);
	if (!use_p)
		return sample_all(&in, best, sc);
	return sample_nucleus(&in, sc);
}
