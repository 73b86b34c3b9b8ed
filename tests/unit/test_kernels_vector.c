/*
 * test_kernels_vector.c - the vector kernels of every ISA this CPU has:
 * axpy, rmsnorm (also in place), GELU (erf), softmax, exp and RoPE, against
 * plain double-precision loops (RoPE: the PyTorch float32 steps, bitwise),
 * for all dtypes, odd lengths (tails), unaligned pointers and special values
 * (infinities, NaN, subnormals); no write past n.  And the value side of
 * causal attention (lk_attn_values) bitwise against its axpy chain.
 */
#include <float.h>

#include "kernels_util.h"

/* ---- axpy ---------------------------------------------------------------------------- */
START_TEST(test_axpy)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		for (size_t si = 0; si < NSIZES; si++) {
			size_t len = SIZES[si];
			obuf xb = obuf_new(len * esz(dt), 1 + si % 3);
			for (size_t i = 0; i < len; i++)
				wset_random(dt, xb.p, i);
			float *y0 = malloc((len + 1) * 4), *y = malloc((len + 1) * 4);
			for (size_t i = 0; i < len; i++)
				y0[i] = rndf(-3, 3);
			float alpha = rndf(-2, 2);
			for (int k = 0; k < n; k++) {
				const lk_kernels *K = lk_kernels_for(isas[k]);
				memcpy(y, y0, len * 4);
				y[len] = 9.0f;
				K->axpy(dt, alpha, xb.p, y, len);
				ck_assert(y[len] == 9.0f);
				for (size_t i = 0; i < len; i++) {
					double p = (double)alpha * wval(dt, xb.p, i);
					double ref = (double)y0[i] + p;
					ck_assert_msg(fabs((double)y[i] - ref) <= 2 * U * (fabs(y0[i]) + fabs(p)) + 1e-37,
						      "%s dt %d n %zu i %zu", K->name, dt, len, i);
				}
			}
			free(xb.base);
			free(y0);
			free(y);
		}
	}
}
END_TEST

/* ---- rmsnorm ----------------------------------------------------------------------- */
START_TEST(test_rmsnorm)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	const float eps = 1e-6f;
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		for (size_t si = 0; si < NSIZES; si++) {
			size_t len = SIZES[si];
			obuf wb = obuf_new(len * esz(dt), 3);
			for (size_t i = 0; i < len; i++)
				wset_random(dt, wb.p, i);
			float *x = malloc(len * 4), *out = malloc((len + 1) * 4), *inpl = malloc(len * 4);
			for (size_t i = 0; i < len; i++)
				x[i] = rndf(-4, 4);
			double ss = 0;
			for (size_t i = 0; i < len; i++)
				ss += (double)x[i] * (double)x[i];
			double r = 1.0 / sqrt(ss / (double)len + (double)eps);
			for (int k = 0; k < n; k++) {
				const lk_kernels *K = lk_kernels_for(isas[k]);
				out[len] = 5.0f;
				K->rmsnorm(out, x, dt, wb.p, len, eps);
				ck_assert(out[len] == 5.0f);
				memcpy(inpl, x, len * 4);
				K->rmsnorm(inpl, inpl, dt, wb.p, len, eps); /* in place */
				ck_assert(memcmp(inpl, out, len * 4) == 0);
				for (size_t i = 0; i < len; i++) {
					double ref = wval(dt, wb.p, i) * (double)x[i] * r;
					double tol = ((double)len / 8.0 + 12.0) * U * fabs(ref) + 1e-30;
					ck_assert_msg(fabs((double)out[i] - ref) <= tol, "%s dt %d n %zu i %zu: %.9g vs %.9g",
						      K->name, dt, len, i, (double)out[i], ref);
				}
			}
			free(wb.base);
			free(x);
			free(out);
			free(inpl);
		}
	}
	/* zeros: finite (eps), all zero out */
	float z[5] = {0}, w[5] = {1, 1, 1, 1, 1}, o[5];
	for (int k = 0; k < n; k++) {
		lk_kernels_for(isas[k])->rmsnorm(o, z, LUTDB_DTYPE_F32, w, 5, 1e-6f);
		for (int i = 0; i < 5; i++)
			ck_assert(o[i] == 0.0f);
	}
}
END_TEST

/* ---- GELU ------------------------------------------------------------------------------ */
static double gelu_ref(double x)
{
	/* x * Phi(x), with erfc where 1 + erf would cancel */
	return x < 0 ? 0.5 * x * erfc(-x / sqrt(2.0)) : 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

START_TEST(test_gelu)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	const size_t N = under_valgrind() ? 40001 : 400001; /* [-10, 10] step 5e-5 */
	float *x0 = malloc((N + 64) * 4), *x = malloc((N + 64) * 4);
	size_t m = 0;
	for (size_t i = 0; i < N; i++)
		x0[m++] = (float)(-10.0 + 20.0 * (double)i / (double)(N - 1));
	const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, -1e-40f, 0.999999f, 1.0f,
				 -1.0f, 1.0000001f, -1.0000001f, 5.999999f, 6.0f, 6.0000005f,
				 -6.0f, -6.0000005f, 13.0f, -13.0f, 100.0f, -100.0f, 1e10f,
				 -1e10f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX};
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
		x0[m++] = special[i];
	for (int k = 0; k < n; k++) {
		const lk_kernels *K = lk_kernels_for(isas[k]);
		memcpy(x, x0, m * 4);
		K->gelu_erf(x, m);
		double worst = 0;
		float wx = 0;
		for (size_t i = 0; i < m; i++) {
			double ref = gelu_ref(x0[i]);
			double err = fabs((double)x[i] - ref) / fmax(1.0, fabs((double)x0[i]));
			ck_assert_msg(err <= 2e-7, "%s gelu(%.9g) = %.9g, want %.9g (err %.3g)", K->name,
				      (double)x0[i], (double)x[i], ref, err);
			if (err > worst) {
				worst = err;
				wx = x0[i];
			}
		}
		fprintf(stderr, "gelu %s: max err %.3g * max(1,|x|) at x = %.9g\n", K->name, worst,
			(double)wx);
		/* specials */
		float s[5] = {INFINITY, -INFINITY, NAN, -NAN, 0.0f};
		K->gelu_erf(s, 5);
		ck_assert(s[0] == INFINITY);
		ck_assert(s[1] == 0.0f);
		ck_assert(isnan(s[2]) && isnan(s[3]));
		ck_assert(s[4] == 0.0f);
		/* every length (tails) and offset: element-wise, so equal to the big run */
		for (size_t len = 0; len < 40; len++)
			for (size_t off = 0; off < 3; off++) {
				float buf[48];
				memcpy(buf + off, x0 + (len * 1009) % (m - 48), len * 4);
				buf[off + len] = 3.0f;
				K->gelu_erf(buf + off, len);
				ck_assert(buf[off + len] == 3.0f);
				memcpy(x, x0 + (len * 1009) % (m - 48), len * 4);
				K->gelu_erf(x, len);
				ck_assert(memcmp(buf + off, x, len * 4) == 0);
			}
	}
	free(x0);
	free(x);
}
END_TEST

/* ---- softmax --------------------------------------------------------------------------- */
START_TEST(test_softmax)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	for (size_t si = 0; si < NSIZES; si++) {
		size_t len = SIZES[si];
		float *x0 = malloc(len * 4), *x = malloc((len + 1) * 4);
		for (size_t i = 0; i < len; i++)
			x0[i] = rndf(-30, 30);
		if (len > 5)
			x0[3] = -INFINITY;
		double m = -INFINITY, s = 0;
		for (size_t i = 0; i < len; i++)
			m = fmax(m, x0[i]);
		for (size_t i = 0; i < len; i++)
			s += exp((double)x0[i] - m);
		for (int k = 0; k < n; k++) {
			const lk_kernels *K = lk_kernels_for(isas[k]);
			memcpy(x, x0, len * 4);
			x[len] = 2.0f;
			K->softmax(x, len);
			ck_assert(x[len] == 2.0f);
			double tot = 0;
			for (size_t i = 0; i < len; i++) {
				double ref = exp((double)x0[i] - m) / s;
				tot += (double)x[i];
				/* exp of (x - m) rounded: relative error ~ |x - m| * u */
				double tol = ref == 0 ? 1e-37 : (8.0 + fabs((double)x0[i] - m) + (double)len / 8.0) * U * ref + 1e-37;
				ck_assert_msg(fabs((double)x[i] - ref) <= tol, "%s n %zu i %zu: %.9g vs %.9g", K->name,
					      len, i, (double)x[i], ref);
			}
			ck_assert(fabs(tot - 1.0) < 1e-5);
		}
		free(x0);
		free(x);
	}
	for (int k = 0; k < n; k++) {
		const lk_kernels *K = lk_kernels_for(isas[k]);
		float a[3] = {-INFINITY, -INFINITY, -INFINITY};
		K->softmax(a, 3);
		ck_assert(isnan(a[0]) && isnan(a[2]));
		float b[20] = {0};
		b[17] = NAN;
		K->softmax(b, 20);
		ck_assert(isnan(b[0]));
		float c[1] = {123.0f};
		K->softmax(c, 1);
		ck_assert(c[0] == 1.0f);
		float d[18] = {0};
		d[9] = 1000.0f; /* the others underflow to exactly 0 */
		K->softmax(d, 18);
		ck_assert(d[9] == 1.0f && d[0] == 0.0f && d[17] == 0.0f);
	}
}
END_TEST

/* ---- exp ------------------------------------------------------------------------------ */
START_TEST(test_exp)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	const size_t N = under_valgrind() ? 40001 : 400001; /* [-110, 95] */
	float *x0 = malloc((N + 32) * 4), *x = malloc((N + 32) * 4);
	size_t m = 0;
	for (size_t i = 0; i < N; i++)
		x0[m++] = (float)(-110.0 + 205.0 * (double)i / (double)(N - 1));
	const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1.0f, -1.0f, 88.72f, 88.7228f, 88.723f,
				 -87.33f, -87.34f, -100.0f, -103.9f, -104.0f, -1e30f, 1e30f, FLT_MAX,
				 -FLT_MAX, INFINITY, -INFINITY};
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
		x0[m++] = special[i];
	for (int k = 0; k < n; k++) {
		const lk_kernels *K = lk_kernels_for(isas[k]);
		memcpy(x, x0, m * 4);
		K->exp(x, m);
		double worst = 0;
		for (size_t i = 0; i < m; i++) {
			double ref = exp((double)x0[i]);
			double got = x[i];
			if (ref > (double)FLT_MAX * (1 - 1e-6)) {
				ck_assert_msg(got >= (double)FLT_MAX * (1 - 1e-6), "%s exp(%.9g) = %g", K->name,
					      (double)x0[i], got);
				continue;
			}
			/* 2 ulp of a normal result; 1.5 subnormal steps below FLT_MIN */
			double err = fabs(got - ref), ulp = ref >= (double)FLT_MIN ? ref * 2 * U * 2 : 0.0;
			ck_assert_msg(err <= ulp + 1.5 * ldexp(1.0, -149), "%s exp(%.9g) = %.9g, want %.9g",
				      K->name, (double)x0[i], got, ref);
			if (ref >= (double)FLT_MIN && err / ref > worst)
				worst = err / ref;
		}
		fprintf(stderr, "exp %s: max rel err %.3g (%.2f ulp)\n", K->name, worst, worst / (2 * U));
		float s[3] = {NAN, INFINITY, -INFINITY};
		K->exp(s, 3);
		ck_assert(isnan(s[0]) && s[1] == INFINITY && s[2] == 0.0f);
		for (size_t len = 0; len < 40; len++) {
			float buf[41];
			memcpy(buf, x0 + (len * 5003) % (m - 48), len * 4);
			buf[len] = 3.0f;
			K->exp(buf, len);
			ck_assert(buf[len] == 3.0f);
			memcpy(x, x0 + (len * 5003) % (m - 48), len * 4);
			K->exp(x, len);
			ck_assert(memcmp(buf, x, len * 4) == 0);
		}
	}
	free(x0);
	free(x);
}
END_TEST

/* ---- RoPE ---------------------------------------------------------------------------------- */
START_TEST(test_rope)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	static const size_t HD[] = {2, 8, 14, 32, 34, 64, 80, 128, 256};
	for (size_t hi = 0; hi < sizeof HD / sizeof HD[0]; hi++) {
		size_t hd = HD[hi], h = hd / 2;
		float *cs = malloc(hd * 4), *sn = malloc(hd * 4), *v0 = malloc(hd * 4), *v = malloc((hd + 1) * 4);
		float *want = malloc(hd * 4);
		for (uint32_t pos = 0; pos < 3000; pos += 997) {
			lk_rope_table(cs, sn, hd, 10000.0f, pos);
			for (size_t i = 0; i < h; i++) {
				/* the PyTorch float32 steps */
				float e = (float)(2 * i) / (float)hd;
				float inv = 1.0f / powf(10000.0f, e);
				float ang = (float)pos * inv;
				ck_assert(same_bits(cs[i], cosf(ang)) && same_bits(cs[i + h], cosf(ang)));
				ck_assert(same_bits(sn[i], sinf(ang)) && same_bits(sn[i + h], sinf(ang)));
				/* and close to the exact angle */
				double ea = (double)pos * pow(10000.0, -(double)(2 * i) / (double)hd);
				ck_assert(fabs(cos(ea) - (double)cs[i]) <= 2e-7 + fabs(ea) * 10 * U);
			}
			if (pos == 0)
				for (size_t i = 0; i < hd; i++)
					ck_assert(cs[i] == 1.0f && sn[i] == 0.0f);
			for (size_t i = 0; i < hd; i++)
				v0[i] = rndf(-3, 3);
			/* v*cos + rotate_half(v)*sin, each product rounded, then the sum */
			for (size_t i = 0; i < hd; i++) {
				float rot = i < h ? -v0[i + h] : v0[i - h];
				float p0 = v0[i] * cs[i], p1 = rot * sn[i];
				want[i] = p0 + p1;
			}
			for (int k = 0; k < n; k++) {
				const lk_kernels *K = lk_kernels_for(isas[k]);
				memcpy(v, v0, hd * 4);
				v[hd] = 4.0f;
				K->rope(v, hd, cs, sn);
				ck_assert(v[hd] == 4.0f);
				ck_assert_msg(memcmp(v, want, hd * 4) == 0, "%s hd %zu pos %u", K->name, hd, pos);
			}
		}
		free(cs);
		free(sn);
		free(v0);
		free(v);
		free(want);
	}
}
END_TEST

/* ---- attention values ------------------------------------------------------------------ */
/* lk_attn_values of one ISA against that ISA's lk_axpy chain (zeros, then
 * one axpy per position in increasing order), bitwise: rows 1..9 from
 * positions t0 = 0, 5, 30, head sizes with every tail, strided P, V and O,
 * no write past a row's n columns; the SIMD ISAs also bitwise against each
 * other (all fused multiply-adds), every ISA against a double-precision
 * sum.  The weights hold exact zeros (softmax underflow), products that
 * round to -0, and a NaN value row that only the rows at or after its
 * position may see. */
static void attn_values_case(const int *isas, int n, size_t rows, size_t t0, size_t hd, int nan_at)
{
	const size_t npos = t0 + rows, ldp = npos + 3, ldv = hd + 5, ldo = hd + 2;
	float *P = malloc(rows * ldp * 4), *V = malloc(npos * ldv * 4);
	float *O = malloc(rows * ldo * 4), *want = malloc(rows * hd * 4), *simd = malloc(rows * hd * 4);
	for (size_t i = 0; i < rows * ldp; i++)
		P[i] = rndf(0, 1);
	for (size_t i = 0; i < npos * ldv; i++)
		V[i] = rndf(-2, 2);
	for (size_t i = 0; i < rows; i++) {
		P[i * ldp + (i * 7) % (t0 + i + 1)] = 0.0f;
		if (t0 + i >= 1) { /* the first term -1e-50 rounds to -0 */
			P[i * ldp] = 1e-30f;
			V[0] = -1e-20f;
		}
	}
	if (nan_at >= 0)
		for (size_t j = 0; j < hd; j++)
			V[(size_t)nan_at * ldv + j] = NAN;
	int have_simd = 0;
	for (int k = 0; k < n; k++) {
		const lk_kernels *K = lk_kernels_for(isas[k]);
		ck_assert_ptr_nonnull(K->attn_values);
		for (size_t i = 0; i < rows; i++) {
			float *w = want + i * hd;
			memset(w, 0, hd * 4);
			for (size_t s = 0; s <= t0 + i; s++)
				K->axpy(LUTDB_DTYPE_F32, P[i * ldp + s], V + s * ldv, w, hd);
		}
		for (size_t i = 0; i < rows * ldo; i++)
			O[i] = 7.0f;
		K->attn_values(P, ldp, rows, t0, V, ldv, hd, O, ldo);
		for (size_t i = 0; i < rows; i++) {
			for (size_t j = 0; j < hd; j++)
				ck_assert_msg(same_bits(O[i * ldo + j], want[i * hd + j]),
					      "%s rows %zu t0 %zu hd %zu: row %zu col %zu %.9g vs axpy %.9g", K->name,
					      rows, t0, hd, i, j, (double)O[i * ldo + j], (double)want[i * hd + j]);
			for (size_t j = hd; j < ldo; j++)
				ck_assert(O[i * ldo + j] == 7.0f);
			int sees_nan = nan_at >= 0 && (size_t)nan_at <= t0 + i;
			for (size_t j = 0; j < hd; j++) {
				double ref = 0, mag = 0;
				for (size_t s = 0; s <= t0 + i; s++) {
					ref += (double)P[i * ldp + s] * (double)V[s * ldv + j];
					mag += fabs((double)P[i * ldp + s] * (double)V[s * ldv + j]);
				}
				double o = (double)O[i * ldo + j];
				if (sees_nan)
					ck_assert(isnan(o));
				else
					ck_assert_msg(fabs(o - ref) <= 2.0 * (double)(t0 + i + 2) * U * mag + 1e-37,
						      "%s row %zu col %zu: %.9g vs %.9g", K->name, i, j, o, ref);
			}
		}
		if (isas[k] != LK_ISA_SCALAR) {
			for (size_t i = 0; i < rows; i++) {
				if (have_simd)
					ck_assert(memcmp(simd + i * hd, O + i * ldo, hd * 4) == 0);
				else
					memcpy(simd + i * hd, O + i * ldo, hd * 4);
			}
			have_simd = 1;
		}
	}
	free(P);
	free(V);
	free(O);
	free(want);
	free(simd);
}

START_TEST(test_attn_values)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	static const size_t hds[] = {1, 7, 16, 17, 24, 63, 64, 65, 80, 128, 130};
	static const size_t t0s[] = {0, 5, 30};
	for (size_t rows = 1; rows <= 9; rows++)
		for (size_t a = 0; a < sizeof t0s / sizeof t0s[0]; a++)
			for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
				attn_values_case(isas, n, rows, t0s[a], hds[h], -1);
	/* a NaN value row at the block's third position: rows 0 and 1 do not
	 * reach it (the causal triangle), rows from 2 on do */
	attn_values_case(isas, n, 7, 5, 64, 7);
	attn_values_case(isas, n, 4, 0, 17, 2);
	/* the dispatching entry point is the active ISA's */
	for (int k = 0; k < n; k++) {
		ck_assert_int_eq(lk_set_isa(isas[k]), 0);
		float P[3] = {0.25f, 0.5f, 0.25f}, V[3 * 20], O1[20], O2[20];
		for (int i = 0; i < 60; i++)
			V[i] = rndf(-1, 1);
		lk_attn_values(P, 3, 1, 2, V, 20, 20, O1, 20);
		lk_kernels_for(isas[k])->attn_values(P, 3, 1, 2, V, 20, 20, O2, 20);
		ck_assert(memcmp(O1, O2, sizeof O1) == 0);
	}
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
	ck_assert_ptr_null(lk_kernels_for(LK_ISA_COUNT));
}
END_TEST

static Suite *kernels_suite(void)
{
	Suite *s = suite_create("kernels-vector");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_axpy);
	tcase_add_test(tc, test_rmsnorm);
	tcase_add_test(tc, test_gelu);
	tcase_add_test(tc, test_softmax);
	tcase_add_test(tc, test_exp);
	tcase_add_test(tc, test_rope);
	tcase_add_test(tc, test_attn_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_kernels_suite(kernels_suite());
}
