/*
 * test_kernels.c - ISA dispatch, to_f32, matvec/dot and matmul of every ISA
 * this CPU has, against plain double-precision loops written here, for all
 * dtypes, odd sizes, unaligned pointers; plus the determinism contract of
 * kernels.h (bitwise equality across row splits, pointer offsets,
 * matvec/matmul/dot and thread counts) and the dispatching entry points.
 * The vector kernels (axpy, rmsnorm, GELU, softmax, exp, RoPE) are in
 * test_kernels_vector.c.
 */
#include "kernels_util.h"
#include "pool.h"

/* ---- dispatch ------------------------------------------------------------------ */
START_TEST(test_dispatch)
{
	ck_assert(lk_isa_supported(LK_ISA_SCALAR));
	ck_assert(!lk_isa_supported(-1));
	ck_assert(!lk_isa_supported(LK_ISA_COUNT));
	ck_assert_str_eq(lk_isa_name(LK_ISA_SCALAR), "scalar");
	ck_assert_str_eq(lk_isa_name(LK_ISA_AVX2), "avx2");
	ck_assert_str_eq(lk_isa_name(LK_ISA_AVX512), "avx512");
	ck_assert_str_eq(lk_isa_name(LK_ISA_NEON), "neon");
	ck_assert_ptr_null(lk_isa_name(7));
	/* each build has its own architecture's tables: on aarch64 NEON (every
	 * aarch64 CPU has ASIMD) and no x86 one, on x86 no NEON */
#if defined(__aarch64__)
	ck_assert(lk_isa_supported(LK_ISA_NEON));
	ck_assert_int_eq(lk_isa_best(), LK_ISA_NEON);
	ck_assert(!lk_isa_supported(LK_ISA_AVX2) && !lk_isa_supported(LK_ISA_AVX512));
	ck_assert_int_eq(lk_isa_from_env("neon"), LK_ISA_NEON);
	ck_assert_int_eq(lk_isa_from_env("avx2"), LK_ISA_NEON); /* another architecture's: the best */
#else
	ck_assert(!lk_isa_supported(LK_ISA_NEON));
	ck_assert_ptr_null(lk_kernels_for(LK_ISA_NEON));
	ck_assert_int_eq(lk_isa_from_env("neon"), lk_isa_best());
#endif
	int best = lk_isa_best();
	ck_assert(lk_isa_supported(best));
	ck_assert_ptr_nonnull(lk_kernels_for(best));
	ck_assert_ptr_null(lk_kernels_for(99));
	ck_assert_int_eq(lk_set_isa(99), LUTDB_EINVAL);
	for (int i = 0; i < LK_ISA_COUNT; i++) {
		if (lk_isa_supported(i)) {
			ck_assert_int_eq(lk_set_isa(i), 0);
			ck_assert_int_eq(lk_isa_active(), i);
			ck_assert_ptr_eq(lk_kernels_active(), lk_kernels_for(i));
			ck_assert_str_eq(lk_kernels_active()->name, lk_isa_name(i));
		} else {
			ck_assert_int_eq(lk_set_isa(i), LUTDB_EUNSUPPORTED);
		}
	}
	/* LUTDB_ISA parsing: known names, fallback for unknown words */
	ck_assert_int_eq(lk_isa_from_env("scalar"), LK_ISA_SCALAR);
	ck_assert_int_eq(lk_isa_from_env(NULL), best);
	ck_assert_int_eq(lk_isa_from_env(""), best);
	ck_assert_int_eq(lk_isa_from_env("sse9"), best);
	ck_assert_int_eq(lk_isa_from_env("avx512"), best);
	if (lk_isa_supported(LK_ISA_AVX2))
		ck_assert_int_eq(lk_isa_from_env("avx2"), LK_ISA_AVX2);
	ck_assert_int_eq(lk_set_isa(best), 0);
}
END_TEST

/* ---- to_f32 ----------------------------------------------------------------------- */
START_TEST(test_to_f32_all_patterns)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	uint16_t *h = malloc(65536 * 2 + 2);
	float *out = malloc(65537 * 4);
	for (int dti = 1; dti < 3; dti++) {
		int dt = DTYPES[dti];
		for (int off = 0; off < 2; off++) {
			unsigned char *p = (unsigned char *)h + off;
			for (uint32_t i = 0; i < 65536; i++) {
				uint16_t v = (uint16_t)i;
				memcpy(p + 2 * i, &v, 2);
			}
			for (int k = 0; k < n; k++) {
				const lk_kernels *K = lk_kernels_for(isas[k]);
				out[65536] = 12345.0f;
				K->to_f32(dt, p, out, 65535); /* odd length: a tail */
				for (uint32_t i = 0; i < 65535; i++) {
					double ref = wval(dt, p, i);
					if (isnan(ref))
						ck_assert_msg(isnan(out[i]), "%s dt %d pattern %04x", K->name, dt, i);
					else
						ck_assert_msg((double)out[i] == ref && !signbit(out[i]) == !signbit(ref),
							      "%s dt %d pattern %04x: %g vs %g", K->name, dt, i,
							      (double)out[i], ref);
				}
				ck_assert(out[65536] == 12345.0f); /* no write past n */
			}
		}
	}
	/* F32 (and n = 0) */
	float src[37], dst[38];
	for (int i = 0; i < 37; i++)
		src[i] = rndf(-5, 5);
	for (int k = 0; k < n; k++) {
		const lk_kernels *K = lk_kernels_for(isas[k]);
		dst[37] = 7.0f;
		K->to_f32(LUTDB_DTYPE_F32, src, dst, 37);
		ck_assert(memcmp(src, dst, sizeof src) == 0 && dst[37] == 7.0f);
		K->to_f32(LUTDB_DTYPE_F16, src, dst, 0);
		ck_assert(dst[0] == src[0]);
	}
	free(h);
	free(out);
}
END_TEST

/* Every F16 and BF16 bit pattern - signalling NaNs included - becomes the
 * same float bits through every ISA's kernels as through lutdb_convert (the
 * one conversion rule, torch's: F16 -> F32 quiets a NaN keeping its payload;
 * BF16 -> F32 is a shift). */
START_TEST(test_to_f32_matches_convert)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	uint16_t *h = malloc(65536 * sizeof *h);
	uint32_t *want = malloc(65536 * sizeof *want), *got = malloc(65536 * sizeof *got);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	for (int dti = 1; dti < 3; dti++) {
		int dt = DTYPES[dti];
		ck_assert_int_eq(lutdb_convert(LUTDB_DTYPE_F32, want, dt, h, 65536), LUTDB_OK);
		for (int k = 0; k < n; k++) {
			const lk_kernels *K = lk_kernels_for(isas[k]);
			K->to_f32(dt, h, (float *)(void *)got, 65536);
			for (uint32_t i = 0; i < 65536; i++)
				ck_assert_msg(got[i] == want[i], "%s dt %d pattern %04x: %08x, lutdb_convert %08x",
					      K->name, dt, i, got[i], want[i]);
		}
	}
	/* a signalling F16 NaN is quieted with its payload (dtype.c) */
	uint16_t snan = 0x7c01;
	uint32_t q;
	ck_assert_int_eq(lutdb_convert(LUTDB_DTYPE_F32, &q, LUTDB_DTYPE_F16, &snan, 1), LUTDB_OK);
	ck_assert_uint_eq(q, 0x7fc02000u);
	free(h);
	free(want);
	free(got);
}
END_TEST

/* ---- matvec / dot ------------------------------------------------------------------ */
static double dot_ref(int dt, const void *w, const float *x, size_t n, double *absum)
{
	double s = 0, a = 0;
	for (size_t i = 0; i < n; i++) {
		double p = wval(dt, w, i) * (double)x[i];
		s += p;
		a += fabs(p);
	}
	*absum = a;
	return s;
}

/* Error bound of a float32 dot product of length n whose partial sums run in
 * chains of at most n/8 + 1 terms followed by a short tree. */
static double dot_tol(size_t n, double absum)
{
	return ((double)n / 8.0 + 10.0) * U * absum + 1e-30;
}

START_TEST(test_matvec_vs_reference)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	static const size_t ROWS[] = {1, 3, 8, 9, 17, 131};
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		for (size_t si = 0; si < NSIZES; si++) {
			size_t cols = SIZES[si];
			for (size_t ri = 0; ri < sizeof ROWS / sizeof ROWS[0]; ri++) {
				if (under_valgrind() && ri != 0 && ri != 3)
					continue;
				size_t rows = ROWS[ri], ld = cols + (ri & 1) * 3;
				size_t woff = (si + ri) % 4 + 1; /* never aligned, odd too */
				obuf wb = obuf_new(rows * ld * esz(dt), woff);
				obuf xb = obuf_new((cols + 1) * 4, 4 * ((si % 3) + 1));
				float *x = (float *)(void *)xb.p;
				for (size_t i = 0; i < rows * ld; i++)
					wset_random(dt, wb.p, i);
				for (size_t i = 0; i < cols; i++)
					x[i] = rndf(-1, 1);
				float *y = malloc((rows + 1) * 4);
				for (int k = 0; k < n; k++) {
					const lk_kernels *K = lk_kernels_for(isas[k]);
					y[rows] = 42.0f;
					K->matvec(dt, wb.p, ld, rows, cols, x, y);
					ck_assert(y[rows] == 42.0f);
					for (size_t r = 0; r < rows; r++) {
						double a, ref = dot_ref(dt, wb.p + r * ld * esz(dt), x, cols, &a);
						ck_assert_msg(fabs((double)y[r] - ref) <= dot_tol(cols, a),
							      "%s dt %d %zux%zu row %zu: %.9g vs %.9g", K->name,
							      dt, rows, cols, r, (double)y[r], ref);
						float dv = K->dot(dt, wb.p + r * ld * esz(dt), x, cols);
						ck_assert_msg(same_bits(dv, y[r]), "%s dot != matvec row", K->name);
					}
				}
				free(y);
				free(wb.base);
				free(xb.base);
			}
		}
	}
}
END_TEST

/* Writes the value v (exactly representable) as dt. */
static void wset_exact(int dt, void *p, size_t i, float v)
{
	unsigned char *b = p;
	uint32_t u;
	memcpy(&u, &v, 4);
	if (dt == LUTDB_DTYPE_F32) {
		memcpy(b + 4 * i, &v, 4);
	} else if (dt == LUTDB_DTYPE_BF16) {
		uint16_t h = (uint16_t)(u >> 16);
		memcpy(b + 2 * i, &h, 2);
	} else {
		/* normal halves only */
		int e = (int)((u >> 23) & 255) - 127 + 15;
		uint16_t h = (uint16_t)(((u >> 16) & 0x8000) | ((unsigned)e << 10) | ((u >> 13) & 1023));
		if (v == 0.0f)
			h = 0;
		memcpy(b + 2 * i, &h, 2);
	}
}

/* A single nonzero weight at every position of a row: exactly w*x (catches
 * dropped, doubled or misplaced tail elements, which tolerances could hide). */
START_TEST(test_matvec_onehot)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		for (size_t cols = 1; cols <= 70; cols++) {
			unsigned char *w = calloc(cols + 1, 4);
			float *x = malloc(cols * 4);
			for (size_t i = 0; i < cols; i++)
				x[i] = (float)(i + 1);
			for (size_t pos = 0; pos < cols; pos++) {
				memset(w, 0, (cols + 1) * 4);
				wset_exact(dt, w + 1, pos, -1.5f);
				for (int k = 0; k < n; k++) {
					const lk_kernels *K = lk_kernels_for(isas[k]);
					float y = K->dot(dt, w + 1, x, cols);
					ck_assert_msg(y == -1.5f * (float)(pos + 1), "%s dt %d cols %zu pos %zu: %g",
						      K->name, dt, cols, pos, (double)y);
				}
			}
			free(w);
			free(x);
		}
	}
}
END_TEST

/* Same values at different alignments, and any row split: bitwise equal. */
START_TEST(test_matvec_determinism)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	const size_t rows = 37, cols = 3072 + 5;
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		size_t bytes = rows * cols * esz(dt);
		obuf w0 = obuf_new(bytes, 0);
		for (size_t i = 0; i < rows * cols; i++)
			wset_random(dt, w0.p, i);
		float *x0 = malloc((cols + 16) * 4);
		for (size_t i = 0; i < cols; i++)
			x0[i] = rndf(-1, 1);
		float ref[37], y[37];
		for (int k = 0; k < n; k++) {
			const lk_kernels *K = lk_kernels_for(isas[k]);
			K->matvec(dt, w0.p, cols, rows, cols, x0, ref);
			for (size_t off = 1; off < (under_valgrind() ? 3u : 8u); off++) {
				obuf w1 = obuf_new(bytes, off);
				memcpy(w1.p, w0.p, bytes);
				float *x1 = x0 + 16 - off % 16;
				memmove(x1, x0, cols * 4);
				K->matvec(dt, w1.p, cols, rows, cols, x1, y);
				memmove(x0, x1, cols * 4);
				ck_assert_msg(memcmp(ref, y, sizeof y) == 0, "%s dt %d offset %zu", K->name, dt,
					      off);
				free(w1.base);
			}
			for (size_t split = 0; split <= rows; split += under_valgrind() ? 6 : 1) {
				memset(y, 0, sizeof y);
				K->matvec(dt, w0.p, cols, split, cols, x0, y);
				K->matvec(dt, w0.p + split * cols * esz(dt), cols, rows - split, cols, x0,
					  y + split);
				ck_assert_msg(memcmp(ref, y, sizeof y) == 0, "%s dt %d split %zu", K->name, dt,
					      split);
			}
			/* the dispatching and multi-threaded entry points */
			ck_assert_int_eq(lk_set_isa(isas[k]), 0);
			lk_matvec(dt, w0.p, cols, rows, cols, x0, y);
			ck_assert(memcmp(ref, y, sizeof y) == 0);
			for (int th = 1; th <= 3; th++) {
				lk_pool *pool = lk_pool_new(th);
				ck_assert_ptr_nonnull(pool);
				memset(y, 0, sizeof y);
				lk_matvec_mt(pool, dt, w0.p, cols, rows, cols, x0, y);
				ck_assert_msg(memcmp(ref, y, sizeof y) == 0, "%s mt %d", K->name, th);
				lk_pool_free(pool);
			}
		}
		free(w0.base);
		free(x0);
	}
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
}
END_TEST

/* Larger shapes through the multi-threaded path (where it really splits). */
START_TEST(test_matvec_mt_large)
{
	const size_t rows = 1000, cols = 768;
	lk_pool *pool = lk_pool_new(2);
	int isas[LK_ISA_COUNT], n = nisas(isas);
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		unsigned char *w = malloc(rows * cols * esz(dt));
		for (size_t i = 0; i < rows * cols; i++)
			wset_random(dt, w, i);
		float *x = malloc(cols * 4), *a = malloc(rows * 4), *b = malloc(rows * 4);
		for (size_t i = 0; i < cols; i++)
			x[i] = rndf(-1, 1);
		for (int k = 0; k < n; k++) {
			ck_assert_int_eq(lk_set_isa(isas[k]), 0);
			lk_matvec(dt, w, cols, rows, cols, x, a);
			lk_matvec_mt(pool, dt, w, cols, rows, cols, x, b);
			ck_assert(memcmp(a, b, rows * 4) == 0);
		}
		free(w);
		free(x);
		free(a);
		free(b);
	}
	lk_pool_free(pool);
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
}
END_TEST

/* ---- matmul ------------------------------------------------------------------------ */
START_TEST(test_matmul_equals_matvec)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	/* T 8..32: a batched step's rows, whose token remainders (2, 4, 1 on
	 * avx512; 1, 3 on avx2) go in one tile; 37 rows: a panel remainder.
	 * avx512's small-T path (T 16..32, 8-row panels in 256-column blocks):
	 * 300 and 520 columns end in a partial block (44 columns, 8 = a
	 * masked chunk alone), 768 in whole ones; T 16, 25, 32 leave 1, 1, 2
	 * tokens after its 3-token tiles */
	static const size_t TS[] = {1, 2, 5, 6, 7, 8, 13, 16, 25, 32, 40};
	static const size_t RS[] = {1, 3, 4, 5, 11, 16, 37};
	static const size_t CS[] = {1, 15, 17, 65, 300, 520, 768};
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		for (size_t ci = 0; ci < sizeof CS / sizeof CS[0]; ci++)
			for (size_t ri = 0; ri < sizeof RS / sizeof RS[0]; ri++)
				for (size_t ti = 0; ti < sizeof TS / sizeof TS[0]; ti++) {
					if (under_valgrind() && (ri + ti) % 3 != 0)
						continue;
					size_t cols = CS[ci], rows = RS[ri], T = TS[ti];
					size_t ld = cols + ci % 2, ldx = cols + 1 + ti % 3, ldy = rows + ri % 2;
					obuf wb = obuf_new(rows * ld * esz(dt), 1 + ti % 3);
					for (size_t i = 0; i < rows * ld; i++)
						wset_random(dt, wb.p, i);
					float *X = malloc(T * ldx * 4), *Y = malloc((T * ldy + 1) * 4);
					float *y = malloc(rows * 4);
					for (size_t i = 0; i < T * ldx; i++)
						X[i] = rndf(-1, 1);
					for (int k = 0; k < n; k++) {
						const lk_kernels *K = lk_kernels_for(isas[k]);
						for (size_t i = 0; i <= T * ldy; i++)
							Y[i] = -777.0f;
						K->matmul(dt, wb.p, ld, rows, cols, X, T, ldx, Y, ldy);
						ck_assert(Y[T * ldy] == -777.0f);
						for (size_t t = 0; t < T; t++) {
							K->matvec(dt, wb.p, ld, rows, cols, X + t * ldx, y);
							for (size_t r = 0; r < rows; r++) {
								ck_assert_msg(same_bits(Y[t * ldy + r], y[r]),
									      "%s dt %d %zux%zu T=%zu t=%zu r=%zu: %.9g vs %.9g",
									      K->name, dt, rows, cols, T, t, r,
									      (double)Y[t * ldy + r], (double)y[r]);
							}
							for (size_t r = rows; r < ldy && t + 1 < T; r++)
								ck_assert(Y[t * ldy + r] == -777.0f);
						}
					}
					free(wb.base);
					free(X);
					free(Y);
					free(y);
				}
	}
}
END_TEST

START_TEST(test_matmul_vs_reference_mt)
{
	/* A prefill-like shape across block boundaries, against float64, and
	 * the threaded entry point bitwise equal to the plain one. */
	const size_t rows = 70, cols = 3072 + 5, T = under_valgrind() ? 7 : 29;
	lk_pool *pool = lk_pool_new(2);
	int isas[LK_ISA_COUNT], n = nisas(isas);
	for (size_t d = 0; d < 3; d++) {
		int dt = DTYPES[d];
		unsigned char *w = malloc(rows * cols * esz(dt));
		for (size_t i = 0; i < rows * cols; i++)
			wset_random(dt, w, i);
		float *X = malloc(T * cols * 4), *A = malloc(T * rows * 4), *B = malloc(T * rows * 4);
		for (size_t i = 0; i < T * cols; i++)
			X[i] = rndf(-1, 1);
		for (int k = 0; k < n; k++) {
			ck_assert_int_eq(lk_set_isa(isas[k]), 0);
			lk_matmul(dt, w, cols, rows, cols, X, T, cols, A, rows);
			lk_matmul_mt(pool, dt, w, cols, rows, cols, X, T, cols, B, rows);
			ck_assert(memcmp(A, B, T * rows * 4) == 0);
			for (size_t t = 0; t < T; t += 7)
				for (size_t r = 0; r < rows; r++) {
					double a, ref = dot_ref(dt, w + r * cols * esz(dt), X + t * cols, cols, &a);
					ck_assert(fabs((double)A[t * rows + r] - ref) <= dot_tol(cols, a));
				}
		}
		free(w);
		free(X);
		free(A);
		free(B);
	}
	lk_pool_free(pool);
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
}
END_TEST

/* ---- dispatching entry points ------------------------------------------------------- */
START_TEST(test_entry_points)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	float w[19], x[19], y0[19], y1[19];
	for (int i = 0; i < 19; i++) {
		w[i] = rndf(-1, 1);
		x[i] = rndf(-1, 1);
	}
	for (int k = 0; k < n; k++) {
		const lk_kernels *K = lk_kernels_for(isas[k]);
		ck_assert_int_eq(lk_set_isa(isas[k]), 0);
		ck_assert(same_bits(lk_dot(LUTDB_DTYPE_F32, w, x, 19), K->dot(LUTDB_DTYPE_F32, w, x, 19)));
		memcpy(y0, x, sizeof x);
		memcpy(y1, x, sizeof x);
		lk_axpy(LUTDB_DTYPE_F32, 0.5f, w, y0, 19);
		K->axpy(LUTDB_DTYPE_F32, 0.5f, w, y1, 19);
		ck_assert(memcmp(y0, y1, sizeof y0) == 0);
		lk_to_f32(LUTDB_DTYPE_F32, w, y0, 19);
		ck_assert(memcmp(y0, w, sizeof w) == 0);
		lk_rmsnorm(y0, x, LUTDB_DTYPE_F32, w, 19, 1e-5f);
		K->rmsnorm(y1, x, LUTDB_DTYPE_F32, w, 19, 1e-5f);
		ck_assert(memcmp(y0, y1, sizeof y0) == 0);
		memcpy(y0, x, sizeof x);
		memcpy(y1, x, sizeof x);
		lk_gelu_erf(y0, 19);
		K->gelu_erf(y1, 19);
		ck_assert(memcmp(y0, y1, sizeof y0) == 0);
		memcpy(y0, x, sizeof x);
		memcpy(y1, x, sizeof x);
		lk_softmax(y0, 19);
		K->softmax(y1, 19);
		ck_assert(memcmp(y0, y1, sizeof y0) == 0);
		memcpy(y0, x, sizeof x);
		memcpy(y1, x, sizeof x);
		lk_exp(y0, 19);
		K->exp(y1, 19);
		ck_assert(memcmp(y0, y1, sizeof y0) == 0);
		memcpy(y0, x, 18 * 4);
		memcpy(y1, x, 18 * 4);
		lk_rope(y0, 18, w, w);
		K->rope(y1, 18, w, w);
		ck_assert(memcmp(y0, y1, 18 * 4) == 0);
		lk_matvec(LUTDB_DTYPE_F32, w, 19, 1, 19, x, y0);
		lk_matmul(LUTDB_DTYPE_F32, w, 19, 1, 19, x, 1, 19, y1, 1);
		ck_assert(same_bits(y0[0], y1[0]));
	}
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
}
END_TEST

static Suite *kernels_suite(void)
{
	Suite *s = suite_create("kernels");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_to_f32_all_patterns);
	tcase_add_test(tc, test_to_f32_matches_convert);
	tcase_add_test(tc, test_matvec_vs_reference);
	tcase_add_test(tc, test_matvec_onehot);
	tcase_add_test(tc, test_matvec_determinism);
	tcase_add_test(tc, test_matvec_mt_large);
	tcase_add_test(tc, test_matmul_equals_matvec);
	tcase_add_test(tc, test_matmul_vs_reference_mt);
	tcase_add_test(tc, test_entry_points);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_kernels_suite(kernels_suite());
}
