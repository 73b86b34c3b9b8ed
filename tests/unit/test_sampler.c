/*
 * test_sampler.c - lr_sample: greedy ties and NaN, the limits that must equal
 * greedy (temperature -> 0, top-k = 1, tiny top-p), the drawn distribution
 * (chi-square on small vocabularies with known probabilities, fixed seeds),
 * seed reproducibility, and equality with a naive full-sort implementation
 * written here (which checks the heap / partial-selection paths), and that
 * drawing allocates nothing (so it cannot fail).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lutdb_runtime.h"
#include "sampler.h"

/* ---- the allocator, as the library sees it --------------------------------------
 * The Makefile links this suite with -Wl,--wrap for malloc, calloc, realloc
 * and posix_memalign, so the library's (statically linked) allocations come
 * here: counted, and failing while alloc_fail is set. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t k);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t k);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);

static int alloc_fail;
static unsigned alloc_calls;

void *__wrap_malloc(size_t n)
{
	alloc_calls++;
	return alloc_fail ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t k)
{
	alloc_calls++;
	return alloc_fail ? NULL : __real_calloc(n, k);
}

void *__wrap_realloc(void *p, size_t n)
{
	alloc_calls++;
	return alloc_fail ? NULL : __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
	alloc_calls++;
	return alloc_fail ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n);
}

/* tests/run.sh sets LUTDB_VALGRIND when the suites run under memcheck:
 * the same checks on less data. */
static int under_valgrind(void)
{
	const char *v = getenv("LUTDB_VALGRIND");
	return v && *v;
}

static uint64_t tstate = 12345;
static double trand(void)
{
	uint64_t z = (tstate += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

/* ---- naive reference: full sort ---------------------------------------------- */
typedef struct {
	float l;
	uint32_t id;
} rc;

static int rc_cmp(const void *pa, const void *pb)
{
	const rc *a = pa, *b = pb;
	if (a->l != b->l)
		return a->l > b->l ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static double ref_sum4(const float *w, size_t n)
{
	double s[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < n; i++)
		s[i % 4] += (double)w[i];
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static uint32_t ref_sample(const float *l, size_t V, const lr_sampler_params *p, lr_rng *rng)
{
	uint32_t best = 0;
	int found = 0;
	for (size_t i = 0; i < V; i++)
		if (!isnan(l[i]) && (!found || l[i] > l[best])) {
			best = (uint32_t)i;
			found = 1;
		}
	if (p->greedy || !(p->temperature > 0.0f))
		return best;
	double u = lr_rng_uniform(rng);
	size_t k = p->top_k > 0 && (size_t)p->top_k < V ? (size_t)p->top_k : V;
	int use_p = p->top_p > 0.0f && p->top_p < 1.0f;
	float lmax = l[best], invt = 1.0f / p->temperature;
	if (!found || lmax == INFINITY || k == 1)
		return best;
	rc *c = malloc(V * sizeof *c);
	float *w = malloc(V * sizeof *w);
	size_t n = 0;
	for (size_t i = 0; i < V; i++)
		if (!isnan(l[i]))
			c[n++] = (rc){l[i], (uint32_t)i};
	qsort(c, n, sizeof *c, rc_cmp);
	uint32_t id = best;
	double acc = 0, r;
	size_t keep;
	if (k < V) {
		if (n > k)
			n = k;
		for (size_t i = 0; i < n; i++)
			w[i] = (c[i].l - lmax) * invt;
		lk_exp(w, n);
		double tot = ref_sum4(w, n);
		keep = n;
		if (use_p) {
			double need = (double)p->top_p * tot, cum = 0;
			for (size_t i = 0; i < n; i++) {
				cum += (double)w[i];
				if (cum >= need) {
					keep = i + 1;
					break;
				}
			}
			tot = cum;
		}
		r = u * tot;
		int hit = 0;
		for (size_t i = 0; i < keep && !hit; i++) {
			acc += (double)w[i];
			if (r < acc) {
				id = c[i].id;
				hit = 1;
			}
		}
		if (!hit)
			for (size_t i = keep; i-- > 0;)
				if (w[i] > 0) {
					id = c[i].id;
					break;
				}
	} else {
		for (size_t i = 0; i < V; i++)
			w[i] = isnan(l[i]) ? -INFINITY : (l[i] - lmax) * invt;
		lk_exp(w, V);
		double tot = ref_sum4(w, V);
		if (!use_p) {
			r = u * tot;
			int hit = 0;
			for (size_t i = 0; i < V && !hit; i++) {
				acc += (double)w[i];
				if (r < acc) {
					id = (uint32_t)i;
					hit = 1;
				}
			}
			if (!hit)
				for (size_t i = V; i-- > 0;)
					if (w[i] > 0) {
						id = (uint32_t)i;
						break;
					}
		} else {
			double need = (double)p->top_p * tot, cum = 0;
			keep = n;
			for (size_t i = 0; i < n; i++) {
				cum += (double)w[c[i].id];
				if (cum >= need) {
					keep = i + 1;
					break;
				}
			}
			r = u * cum;
			int hit = 0;
			for (size_t i = 0; i < keep && !hit; i++) {
				acc += (double)w[c[i].id];
				if (r < acc) {
					id = c[i].id;
					hit = 1;
				}
			}
			if (!hit)
				for (size_t i = keep; i-- > 0;)
					if (w[c[i].id] > 0) {
						id = c[i].id;
						break;
					}
		}
	}
	free(c);
	free(w);
	return id;
}

static lr_sampler_params params(float t, int k, float p)
{
	lr_sampler_params s = {t, k, p, 0, 0};
	return s;
}

/* ---- tests -------------------------------------------------------------------- */
START_TEST(test_argmax)
{
	float a[] = {1, 3, 3, 2};
	ck_assert_uint_eq(lr_argmax(a, 4), 1);
	float b[] = {NAN, 1, NAN, 5, 5, NAN};
	ck_assert_uint_eq(lr_argmax(b, 6), 3);
	float c[] = {NAN, NAN};
	ck_assert_uint_eq(lr_argmax(c, 2), 0);
	ck_assert_uint_eq(lr_argmax(c, 0), 0);
	float d[] = {-INFINITY, -INFINITY, -1e30f};
	ck_assert_uint_eq(lr_argmax(d, 3), 2);
	ck_assert_uint_eq(lr_argmax(d, 2), 0);
	float e[] = {-1, NAN, INFINITY, INFINITY};
	ck_assert_uint_eq(lr_argmax(e, 4), 2);
}
END_TEST

START_TEST(test_greedy)
{
	float l[] = {0.5f, 2.0f, NAN, 2.0f, -1.0f};
	lr_rng r0, r1;
	lr_rng_seed(&r0, 7);
	r1 = r0;
	lr_sample_scratch *sc = lr_sample_scratch_new(5);
	ck_assert_ptr_nonnull(sc);
	lr_sampler_params g = params(1.0f, 0, 1.0f);
	g.greedy = 1;
	ck_assert_uint_eq(lr_sample(l, 5, &g, &r0, NULL), 1);
	ck_assert_uint_eq(lr_sample(l, 5, NULL, &r0, NULL), 1);
	lr_sampler_params z = params(0.0f, 0, 1.0f);
	ck_assert_uint_eq(lr_sample(l, 5, &z, &r0, NULL), 1);
	z.temperature = -1.0f;
	ck_assert_uint_eq(lr_sample(l, 5, &z, &r0, NULL), 1);
	z.temperature = NAN;
	ck_assert_uint_eq(lr_sample(l, 5, &z, &r0, NULL), 1);
	/* greedy draws nothing */
	ck_assert(memcmp(&r0, &r1, sizeof r0) == 0);
	/* non-greedy draws exactly one */
	lr_sampler_params s = params(1.0f, 0, 1.0f);
	lr_sample(l, 5, &s, &r0, sc);
	lr_rng_next(&r1);
	ck_assert(memcmp(&r0, &r1, sizeof r0) == 0);
	/* degenerate inputs */
	float nn[] = {NAN, NAN, NAN};
	ck_assert_uint_eq(lr_sample(nn, 3, &s, &r0, sc), 0);
	float inf[] = {1, INFINITY, 3, INFINITY};
	ck_assert_uint_eq(lr_sample(inf, 4, &s, &r0, sc), 1);
	ck_assert_uint_eq(lr_sample(l, 0, &s, &r0, sc), 0);
	float one[] = {-3};
	ck_assert_uint_eq(lr_sample(one, 1, &s, &r0, sc), 0);
	lr_sample_scratch_free(sc);
}
END_TEST

START_TEST(test_limits_equal_greedy)
{
	const size_t V = 5003;
	float *l = malloc(V * sizeof *l);
	lr_sample_scratch *scratch = lr_sample_scratch_new(V);
	lr_rng rng;
	lr_rng_seed(&rng, 99);
	for (int trial = 0; trial < (under_valgrind() ? 4 : 40); trial++) {
		for (size_t i = 0; i < V; i++)
			l[i] = (float)(trand() * 20.0 - 10.0);
		if (trial % 3 == 0)
			l[trial * 7] = NAN;
		uint32_t g = lr_argmax(l, V);
		static const int KS[] = {0, 5, 300, 100000};
		for (size_t ki = 0; ki < 4; ki++) {
			lr_sampler_params p = params(1e-6f, KS[ki], 1.0f);
			ck_assert_uint_eq(lr_sample(l, V, &p, &rng, scratch), g); /* temperature -> 0 */
			p.temperature = 1e-30f;
			ck_assert_uint_eq(lr_sample(l, V, &p, &rng, scratch), g);
			p = params(1.0f, KS[ki], 1e-7f); /* tiny top-p */
			ck_assert_uint_eq(lr_sample(l, V, &p, &rng, scratch), g);
			p.temperature = 50.0f;
			ck_assert_uint_eq(lr_sample(l, V, &p, &rng, scratch), g);
		}
		for (float t = 0.25f; t < 100.0f; t *= 4.0f) { /* top-k = 1 */
			lr_sampler_params p = params(t, 1, 0.9f);
			ck_assert_uint_eq(lr_sample(l, V, &p, &rng, scratch), g);
		}
	}
	free(l);
	lr_sample_scratch_free(scratch);
}
END_TEST

/* Chi-square of n draws against expected probabilities q[0..m). */
static double chi2(const unsigned *count, const double *q, size_t m, unsigned n)
{
	double x = 0;
	for (size_t i = 0; i < m; i++) {
		double e = q[i] * n;
		if (e > 0)
			x += (count[i] - e) * (count[i] - e) / e;
		else
			ck_assert_uint_eq(count[i], 0);
	}
	return x;
}

/* chi-square quantiles at p = 0.999 for df = 1..9 */
static const double CHI2_999[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88};

START_TEST(test_distribution)
{
	const float l[8] = {1.0f, 2.5f, 0.0f, -1.0f, 2.0f, 0.5f, 1.5f, -3.0f};
	const unsigned N = under_valgrind() ? 20000 : 200000;
	struct {
		float t;
		int k;
		float p;
	} cases[] = {{1.0f, 0, 1.0f}, {0.7f, 0, 1.0f}, {2.0f, 5, 1.0f}, {1.0f, 0, 0.8f}, {1.3f, 4, 0.6f}};
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		lr_sampler_params p = params(cases[ci].t, cases[ci].k, cases[ci].p);
		/* expected: sorted by logit, top-k, prefix reaching top-p, renormalized */
		int ord[8];
		for (int i = 0; i < 8; i++)
			ord[i] = i;
		for (int i = 0; i < 8; i++)
			for (int j = i + 1; j < 8; j++)
				if (l[ord[j]] > l[ord[i]]) {
					int t = ord[i];
					ord[i] = ord[j];
					ord[j] = t;
				}
		int k = p.top_k > 0 && p.top_k < 8 ? p.top_k : 8;
		double w[8] = {0}, tot = 0, q[8] = {0};
		for (int i = 0; i < k; i++)
			tot += w[ord[i]] = exp(((double)l[ord[i]] - 2.5) / (double)p.temperature);
		int keep = k;
		if (p.top_p < 1.0f) {
			double cum = 0;
			for (int i = 0; i < k; i++) {
				cum += w[ord[i]];
				if (cum >= (double)p.top_p * tot) {
					keep = i + 1;
					break;
				}
			}
		}
		double kt = 0;
		for (int i = 0; i < keep; i++)
			kt += w[ord[i]];
		for (int i = 0; i < keep; i++)
			q[ord[i]] = w[ord[i]] / kt;
		unsigned count[8] = {0};
		lr_rng rng;
		lr_rng_seed(&rng, 2024 + ci);
		lr_sample_scratch *scratch = lr_sample_scratch_new(8);
		for (unsigned d = 0; d < N; d++)
			count[lr_sample(l, 8, &p, &rng, scratch)]++;
		lr_sample_scratch_free(scratch);
		double x = chi2(count, q, 8, N);
		fprintf(stderr, "sampler case %zu (T=%.2f k=%d p=%.2f): %d kept, chi2 = %.2f (limit %.2f)\n", ci,
			(double)p.temperature, p.top_k, (double)p.top_p, keep, x, CHI2_999[keep - 1]);
		ck_assert_msg(keep == 1 || x < CHI2_999[keep - 1], "case %zu chi2 %.2f", ci, x);
	}
}
END_TEST

START_TEST(test_seed_reproducible)
{
	const size_t V = 3000;
	float *l = malloc(V * sizeof *l);
	for (size_t i = 0; i < V; i++)
		l[i] = (float)(trand() * 6.0);
	lr_sampler_params p = params(1.0f, 0, 0.95f);
	lr_rng a, b, c;
	lr_rng_seed(&a, 42);
	lr_rng_seed(&b, 42);
	lr_rng_seed(&c, 43);
	lr_sample_scratch *sc = lr_sample_scratch_new(V);
	int differ = 0;
	int n = under_valgrind() ? 60 : 500;
	for (int i = 0; i < n; i++) {
		uint32_t x = lr_sample(l, V, &p, &a, sc), y = lr_sample(l, V, &p, &b, sc);
		ck_assert_uint_eq(x, y);
		differ += x != lr_sample(l, V, &p, &c, sc);
	}
	ck_assert_int_gt(differ, n * 8 / 10);
	/* the generator itself */
	lr_rng_seed(&a, 1);
	double s = 0;
	for (int i = 0; i < 100000; i++) {
		double u = lr_rng_uniform(&a);
		ck_assert(u >= 0.0 && u < 1.0);
		s += u;
	}
	ck_assert(fabs(s / 100000 - 0.5) < 0.01);
	lr_sample_scratch_free(sc);
	free(l);
}
END_TEST

START_TEST(test_vs_naive)
{
	static const size_t VS[] = {1, 2, 3, 50, 1000, 5000};
	static const float TS[] = {0.5f, 1.0f, 3.0f};
	static const float PS[] = {0.0f, 0.1f, 0.5f, 0.9f, 0.999f, 1.0f};
	for (size_t vi = 0; vi < sizeof VS / sizeof VS[0]; vi++) {
		size_t V = VS[vi];
		float *l = malloc(V * sizeof *l);
		lr_sample_scratch *scratch = lr_sample_scratch_new(V);
		const int KS[] = {0, 1, 3, 40, 300, (int)V - 1, (int)V + 5};
		for (int trial = 0; trial < (under_valgrind() ? 1 : 3); trial++) {
			for (size_t i = 0; i < V; i++) {
				/* coarse values: many ties */
				l[i] = (float)floor(trand() * 40.0) * 0.25f - (trial == 2 ? 100.0f : 0.0f);
				if (trand() < 0.02)
					l[i] = trand() < 0.5 ? NAN : -INFINITY;
			}
			for (size_t ti = 0; ti < 3; ti++)
				for (size_t ki = 0; ki < 7; ki++)
					for (size_t pi = 0; pi < 6; pi++) {
						lr_sampler_params p = params(TS[ti], KS[ki], PS[pi]);
						lr_rng a, b;
						lr_rng_seed(&a, trial * 1000 + ti * 100 + ki * 10 + pi);
						b = a;
						for (int d = 0; d < (under_valgrind() ? 2 : 8); d++) {
							uint32_t x = lr_sample(l, V, &p, &a, scratch);
							uint32_t y = ref_sample(l, V, &p, &b);
							ck_assert_msg(x == y, "V %zu T %g k %d p %g draw %d: %u vs %u", V,
								      (double)p.temperature, p.top_k, (double)p.top_p, d, x, y);
							ck_assert(x < V || V == 0);
							ck_assert(!isnan(l[x]) || V == 1);
						}
					}
		}
		free(l);
		lr_sample_scratch_free(scratch);
	}
}
END_TEST

START_TEST(test_large_vocab)
{
	const size_t V = 256000;
	float *l = malloc(V * sizeof *l);
	lr_sample_scratch *scratch = lr_sample_scratch_new(V);
	for (size_t i = 0; i < V; i++)
		l[i] = (float)(trand() * 12.0 - 6.0);
	struct {
		int k;
		float p;
	} cases[] = {{40, 1.0f}, {40, 0.9f}, {0, 0.9f}, {0, 0.5f}, {1000, 0.95f}, {0, 1.0f}};
	size_t ncases = under_valgrind() ? 3 : sizeof cases / sizeof cases[0];
	for (size_t ci = 0; ci < ncases; ci++) {
		lr_sampler_params p = params(0.8f, cases[ci].k, cases[ci].p);
		lr_rng a, b;
		lr_rng_seed(&a, ci);
		b = a;
		for (int d = 0; d < 3; d++)
			ck_assert_uint_eq(lr_sample(l, V, &p, &a, scratch), ref_sample(l, V, &p, &b));
	}
	free(l);
	lr_sample_scratch_free(scratch);
}
END_TEST

/* Drawing cannot fail: lutdb_sampler_new allocates everything a draw needs,
 * and lutdb_sampler_next allocates nothing - with every allocation failing
 * it draws exactly the ids it draws with a working allocator, on each path
 * (top-k by heap, top-k by selection, nucleus, all ids); and a sampler that
 * cannot get its memory is LUTDB_ENOMEM, not a greedy one. */
START_TEST(test_draw_allocates_nothing)
{
	const uint32_t V = 50000;
	float *l = malloc(V * sizeof *l);
	for (uint32_t i = 0; i < V; i++)
		l[i] = (float)(trand() * 6.0 - 3.0);
	struct {
		uint32_t k;
		float p;
	} cases[] = {{40, 1.0f}, {2000, 1.0f}, {0, 0.9f}, {0, 1.0f}, {3000, 0.8f}};
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		lutdb_sampling sp = {
			.size = sizeof sp, .temperature = 1.3f, .top_k = cases[ci].k, .top_p = cases[ci].p, .seed = 11};
		lutdb_sampler *a, *b;
		ck_assert_int_eq(lutdb_sampler_new(&sp, V, &a), LUTDB_OK);
		ck_assert_int_eq(lutdb_sampler_new(&sp, V, &b), LUTDB_OK);
		uint32_t want[6], got[6];
		for (int d = 0; d < 6; d++)
			want[d] = lutdb_sampler_next(a, l);
		alloc_calls = 0;
		alloc_fail = 1;
		for (int d = 0; d < 6; d++)
			got[d] = lutdb_sampler_next(b, l);
		alloc_fail = 0;
		ck_assert_msg(alloc_calls == 0, "case %zu: %u allocations while drawing", ci, alloc_calls);
		ck_assert_msg(!memcmp(want, got, sizeof want), "case %zu: draws differ without memory", ci);
		lutdb_sampler_free(a);
		lutdb_sampler_free(b);
	}
	lutdb_sampling sp = {.size = sizeof sp, .temperature = 1.0f, .top_p = 0.9f};
	lutdb_sampler *c = (lutdb_sampler *)&sp;
	alloc_fail = 1;
	int code = lutdb_sampler_new(&sp, V, &c);
	alloc_fail = 0;
	ck_assert_int_eq(code, LUTDB_ENOMEM);
	ck_assert_ptr_null(c);
	free(l);
}
END_TEST

static Suite *sampler_suite(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_argmax);
	tcase_add_test(tc, test_greedy);
	tcase_add_test(tc, test_limits_equal_greedy);
	tcase_add_test(tc, test_distribution);
	tcase_add_test(tc, test_seed_reproducible);
	tcase_add_test(tc, test_vs_naive);
	tcase_add_test(tc, test_large_vocab);
	tcase_add_test(tc, test_draw_allocates_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sampler_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
