/*
 * test_kernels_quant.c - the dense Q8_0/Q4_0 kernels (matvec, matmul, dot
 * and the _mt helpers) of every ISA this CPU has, with and without VNNI,
 * and the kernel dtype codes.
 *
 * The dense arithmetic is fixed by kernels.h (activation quantization,
 * exact integer block sums, one fma per block); ref_dot() below writes it
 * again independently (lrintf, int64 sums, a different decode of the codes)
 * and every variant must give its bits.  Against float64 on the exactly
 * dequantized weights (lq_dequantize), the error must stay within the
 * bound of the activation rounding plus the float32 chain; the activation
 * rounding's cost is measured and printed.  Then the determinism contract
 * bitwise (row splits, matmul == matvec == dot, 1..3 threads, alignment,
 * every variant), hostile scales and codes, non-finite activations, and
 * reads that stop at the last block (guard pages).
 */
#include <float.h>

#include "bytes.h"
#include "kernels_quant_util.h"

static const int DENSE[] = {LQ_DTYPE_Q8_0, LQ_DTYPE_Q4_0};

/* ---- the rule of kernels.h, written independently -------------------------------------- */
static void ref_act(const float *x, size_t nb, int8_t *q, float *dx)
{
	for (size_t k = 0; k < nb; k++) {
		const float *xk = x + 32 * k;
		int bad = 0;
		float amax = 0.0f;
		for (int j = 0; j < 32; j++) {
			if (!isfinite(xk[j]))
				bad = 1;
			else
				amax = fmaxf(amax, fabsf(xk[j]));
		}
		memset(q + 32 * k, 0, 32);
		if (bad) {
			dx[k] = NAN;
		} else if (amax == 0.0f) {
			dx[k] = 0.0f;
		} else {
			dx[k] = amax / 127.0f;
			float id = 127.0f / amax;
			if (isinf(id))
				id = 0.0f;
			for (int j = 0; j < 32; j++) {
				long v = lrintf(xk[j] * id); /* default rounding: nearest, ties to even */
				CHECK1(v >= -127 && v <= 127);
				q[32 * k + (size_t)j] = (int8_t)v;
			}
		}
	}
}

/* Integer code of value j (0..31) of a block. */
static int ref_code(int type, const unsigned char *blk, int j)
{
	if (type == LQ_DTYPE_Q8_0)
		return (int8_t)blk[2 + j];
	unsigned b = blk[2 + (j & 15)];
	return (int)(j < 16 ? b & 15 : b >> 4) - 8;
}

static float ref_dot(int type, const unsigned char *w, const int8_t *q, const float *dx, size_t nb)
{
	size_t bb = type == LQ_DTYPE_Q8_0 ? 34 : 18;
	float acc = 0.0f;
	for (size_t k = 0; k < nb; k++) {
		const unsigned char *blk = w + k * bb;
		int64_t isum = 0;
		for (int j = 0; j < 32; j++)
			isum += (int64_t)ref_code(type, blk, j) * q[32 * k + (size_t)j];
		float s = (float)half_ref(rd16(blk)) * dx[k];
		acc = fmaf(s, (float)isum, acc);
	}
	return acc;
}

/* y = the rule for rows x cols of W (ld values per row). */
static void ref_matvec(int type, const unsigned char *W, size_t ld, size_t rows, size_t cols, const float *x,
		       float *y)
{
	size_t nb = cols / 32, ldb = lk_dt_bytes(type, ld);
	int8_t *q = malloc(cols + 1);
	float *dx = malloc((nb + 1) * sizeof(float));
	ref_act(x, nb, q, dx);
	for (size_t r = 0; r < rows; r++)
		y[r] = ref_dot(type, W + r * ldb, q, dx, nb);
	free(q);
	free(dx);
}

/* A random matrix of rows x ld values (quantized from normal values of
 * changing magnitude) and a random activation. */
static unsigned char *rand_matrix(int type, size_t rows, size_t ld, float **deq)
{
	float *v = malloc(rows * ld * sizeof(float));
	fill_values(v, rows * ld);
	unsigned char *q = quantized(type, 32, v, rows * ld, deq);
	free(v);
	return q;
}

static void rand_act(float *x, size_t n)
{
	fill_values(x, n);
	if (n >= 96) { /* one block with a single large value, one of subnormals */
		x[40] = 300.0f;
		for (int j = 64; j < 96; j++)
			x[j] = ldexpf(gauss1(), -140);
	}
}

/* ---- kernel dtype codes ------------------------------------------------------------------ */
START_TEST(test_dt_codes)
{
	ck_assert_int_eq(lk_dt(LUTDB_DTYPE_F16, 0), LUTDB_DTYPE_F16);
	ck_assert_int_eq(lk_dt(LUTDB_DTYPE_F32, 1), LUTDB_DTYPE_F32);
	ck_assert_int_eq(lk_dt(LUTDB_DTYPE_BF16, 32), 0);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_Q8_0, 32), LQ_DTYPE_Q8_0);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_Q4_0, 0), LQ_DTYPE_Q4_0);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_Q4_0, 64), 0);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_NF4, 64), LQ_DTYPE_NF4 | 64 << 8);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_NF3, 8192), LQ_DTYPE_NF3 | 8192 << 8);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_NF4, 0), 0);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_NF4, 48), 0);
	ck_assert_int_eq(lk_dt(LQ_DTYPE_NF3, 8224), 0);
	ck_assert_int_eq(lk_dt(7, 0), 0);
	ck_assert_int_eq(lk_dt(20, 64), 0);
	ck_assert_int_eq(lk_dt_dtype(lk_dt(LQ_DTYPE_NF3, 96)), LQ_DTYPE_NF3);
	ck_assert_uint_eq(lk_dt_block(lk_dt(LQ_DTYPE_NF3, 96)), 96);
	ck_assert_uint_eq(lk_dt_block(LQ_DTYPE_Q8_0), 32);
	ck_assert_uint_eq(lk_dt_block(LUTDB_DTYPE_BF16), 1);
	ck_assert_int_eq(lk_dt_dtype(LQ_DTYPE_NF4), 0); /* NF without a block */
	ck_assert_int_eq(lk_dt_dtype(LQ_DTYPE_Q8_0 | 32 << 8), 0);
	ck_assert_uint_eq(lk_dt_bytes(LUTDB_DTYPE_F16, 7), 14);
	ck_assert_uint_eq(lk_dt_bytes(LQ_DTYPE_Q8_0, 31), 0);
	static const int T[] = {LQ_DTYPE_Q8_0, LQ_DTYPE_Q4_0, LQ_DTYPE_NF4, LQ_DTYPE_NF3};
	static const uint32_t BS[] = {32, 64, 128, 768, 8192};
	for (int t = 0; t < 4; t++)
		for (int b = 0; b < 5; b++) {
			int kdt = lk_dt(T[t], BS[b]);
			if (t < 2 && b > 0) {
				ck_assert_int_eq(kdt, 0);
				continue;
			}
			ck_assert_int_ne(kdt, 0);
			for (uint64_t n = 0; n <= 3 * (uint64_t)BS[b]; n += BS[b] / 2)
				ck_assert_uint_eq(lk_dt_bytes(kdt, n), n ? lq_bytes(T[t], BS[b], n) : 0);
		}
}
END_TEST

/* ---- every variant computes the rule, bit for bit ------------------------------------------ */
START_TEST(test_dense_rule)
{
	kvariant v[MAX_VARIANTS];
	int nv = kvariants(v);
	static const size_t COLS[] = {32, 64, 96, 768, 3072, 8192 + 96};
	static const size_t ROWS[] = {1, 3, 8, 9, 17, 131};
	for (int ti = 0; ti < 2; ti++) {
		int type = DENSE[ti];
		for (size_t ci = 0; ci < sizeof COLS / sizeof COLS[0]; ci++)
			for (size_t ri = 0; ri < sizeof ROWS / sizeof ROWS[0]; ri++) {
				size_t cols = COLS[ci], rows = ROWS[ri], ld = cols + 32 * (ri % 2);
				if ((under_valgrind() || cols > 4096) && (ri + ci) % 3 != 0)
					continue;
				unsigned char *w0 = rand_matrix(type, rows, ld, NULL);
				size_t bytes = lk_dt_bytes(type, rows * ld);
				obuf wb = obuf_new(bytes, (ci + ri) % 5 + 1); /* never aligned */
				memcpy(wb.p, w0, bytes);
				obuf xb = obuf_new(cols * 4, 4 * (ri % 3) + 4);
				float *x = (float *)(void *)xb.p, *ref = malloc(rows * 4), *y = malloc((rows + 1) * 4);
				rand_act(x, cols);
				ref_matvec(type, wb.p, ld, rows, cols, x, ref);
				for (int k = 0; k < nv; k++) {
					kvariant_use(&v[k]);
					y[rows] = 42.0f;
					v[k].K->matvec(type, wb.p, ld, rows, cols, x, y);
					CHECK1(y[rows] == 42.0f);
					for (size_t r = 0; r < rows; r++) {
						CHECK(same_bits(y[r], ref[r]), "%s %s %zux%zu row %zu: %.9g, rule %.9g",
						      v[k].name, lq_name(type), rows, cols, r, (double)y[r],
						      (double)ref[r]);
						float d = v[k].K->dot(type, wb.p + r * lk_dt_bytes(type, ld), x, cols);
						CHECK(same_bits(d, y[r]), "%s dot != matvec row", v[k].name);
					}
				}
				free(w0);
				free(wb.base);
				free(xb.base);
				free(ref);
				free(y);
			}
	}
	kvariant_reset();
}
END_TEST

/* ---- against float64 on the exact weights; the activation rounding's cost ------------------ */
START_TEST(test_dense_accuracy)
{
	const size_t rows = under_valgrind() ? 24 : 192;
	static const size_t COLS[] = {768, 3072};
	for (int ti = 0; ti < 2; ti++) {
		int type = DENSE[ti];
		for (int ci = 0; ci < 2; ci++) {
			size_t cols = COLS[ci], nb = cols / 32, bb = type == LQ_DTYPE_Q8_0 ? 34 : 18;
			/* realistic data: normal weights and activations, no magnitude games */
			float *wv = malloc(rows * cols * 4), *x = malloc(cols * 4), *deq, *y = malloc(rows * 4);
			for (size_t i = 0; i < rows * cols; i++)
				wv[i] = gauss1() * 0.02f;
			for (size_t i = 0; i < cols; i++)
				x[i] = gauss1();
			unsigned char *w = quantized(type, 32, wv, rows * cols, &deq);
			int8_t *q = malloc(cols);
			float *dx = malloc(nb * 4);
			ref_act(x, nb, q, dx);
			lk_matvec(type, w, cols, rows, cols, x, y);
			double se = 0, sy = 0, worst = 0;
			for (size_t r = 0; r < rows; r++) {
				const float *wr = deq + r * cols;
				const unsigned char *blk = w + r * lk_dt_bytes(type, cols);
				double exact = 0, act_bound = 0, chain = 0;
				for (size_t k = 0; k < nb; k++) {
					double isum = 0;
					for (size_t j = 32 * k; j < 32 * k + 32; j++) {
						double e = fabs((double)x[j] - (double)dx[k] * q[j]);
						/* at most half a step (and the float32 steps of dx, id) */
						CHECK1(e <= (double)dx[k] * (0.5 + 1e-5));
						act_bound += fabs((double)wr[j]) * e;
						exact += (double)wr[j] * x[j];
						isum += (double)ref_code(type, blk + k * bb, (int)(j - 32 * k)) * q[j];
					}
					chain += fabs(half_ref(rd16(blk + k * bb)) * dx[k] * isum);
				}
				double tol = act_bound + (double)(nb + 2) * U * chain + 1e-30;
				double err = fabs((double)y[r] - exact);
				CHECK(err <= tol, "%s %zu cols row %zu: error %.3g > bound %.3g", lq_name(type),
				      cols, r, err, tol);
				se += err * err;
				sy += exact * exact;
				worst = err / tol > worst ? err / tol : worst;
			}
			double rel = sqrt(se / sy);
			printf("dense %s x %zu: activation int8 rounding costs %.2e relative RMS error of y "
			       "(largest error %.0f%% of its bound)\n",
			       lq_name(type), cols, rel, 100 * worst);
			CHECK(rel < 0.01, "relative RMS error %.3g", rel); /* ~0.3% expected */
			free(wv);
			free(x);
			free(deq);
			free(y);
			free(w);
			free(q);
			free(dx);
		}
	}
}
END_TEST

/* ---- determinism: splits, matmul, threads, variants ---------------------------------------- */
START_TEST(test_dense_determinism)
{
	kvariant v[MAX_VARIANTS];
	int nv = kvariants(v);
	const size_t rows = 1000, cols = 768, T = under_valgrind() ? 5 : 13;
	for (int ti = 0; ti < 2; ti++) {
		int type = DENSE[ti];
		size_t ldb = lk_dt_bytes(type, cols);
		unsigned char *w = rand_matrix(type, rows, cols, NULL);
		float *X = malloc(T * (cols + 8) * 4), *ref = malloc(rows * 4), *y = malloc(rows * 4);
		float *Y = malloc(T * (rows + 3) * 4), *Y2 = malloc(T * (rows + 3) * 4);
		for (size_t t = 0; t < T; t++)
			rand_act(X + t * (cols + 8), cols);
		ref_matvec(type, w, cols, rows, cols, X, ref);
		for (int k = 0; k < nv; k++) {
			const lk_kernels *K = v[k].K;
			kvariant_use(&v[k]);
			/* the spread path (>= 128 rows) and any split of the rows */
			K->matvec(type, w, cols, rows, cols, X, y);
			CHECK(memcmp(y, ref, rows * 4) == 0, "%s", v[k].name);
			for (size_t split = 0; split <= rows; split += under_valgrind() ? 333 : 37) {
				memset(y, 0, rows * 4);
				K->matvec(type, w, cols, split, cols, X, y);
				K->matvec(type, w + split * ldb, cols, rows - split, cols, X, y + split);
				CHECK(memcmp(y, ref, rows * 4) == 0, "%s split %zu", v[k].name, split);
			}
			/* matmul == T matvecs (ldx, ldy with gaps) */
			K->matmul(type, w, cols, rows, cols, X, T, cols + 8, Y, rows + 3);
			for (size_t t = 0; t < T; t++) {
				K->matvec(type, w, cols, rows, cols, X + t * (cols + 8), y);
				CHECK(memcmp(Y + t * (rows + 3), y, rows * 4) == 0, "%s matmul token %zu", v[k].name,
				      t);
			}
			/* threads */
			for (int th = 1; th <= 3; th++) {
				lk_pool *pool = lk_pool_new(th);
				ck_assert_ptr_nonnull(pool);
				lk_matvec_mt(pool, type, w, cols, rows, cols, X, y);
				CHECK(memcmp(y, ref, rows * 4) == 0, "%s mt %d", v[k].name, th);
				lk_matmul_mt(pool, type, w, cols, rows, cols, X, T, cols + 8, Y2, rows + 3);
				for (size_t t = 0; t < T; t++)
					CHECK(memcmp(Y + t * (rows + 3), Y2 + t * (rows + 3), rows * 4) == 0,
						      "%s matmul mt %d", v[k].name, th);
				lk_pool_free(pool);
			}
		}
		free(w);
		free(X);
		free(ref);
		free(y);
		free(Y);
		free(Y2);
	}
	kvariant_reset();
}
END_TEST

/* Small shapes through matmul: every row and token tail. */
static void matmul_case(const kvariant *v, int nv, int type, size_t rows, size_t cols, size_t T, size_t pad)
{
	size_t ld = cols + 32 * (pad % 2), ldx = cols + pad % 3, ldy = rows + pad % 2;
	unsigned char *w = rand_matrix(type, rows, ld, NULL);
	float *X = malloc(T * ldx * 4), *Y = malloc((T * ldy + 1) * 4), *y = malloc(rows * 4);
	for (size_t t = 0; t < T; t++)
		rand_act(X + t * ldx, cols);
	for (int k = 0; k < nv; k++) {
		kvariant_use(&v[k]);
		for (size_t i = 0; i <= T * ldy; i++)
			Y[i] = -777.0f;
		v[k].K->matmul(type, w, ld, rows, cols, X, T, ldx, Y, ldy);
		CHECK1(Y[T * ldy] == -777.0f);
		for (size_t t = 0; t < T; t++) {
			ref_matvec(type, w, ld, rows, cols, X + t * ldx, y);
			for (size_t r = 0; r < rows; r++)
				CHECK(same_bits(Y[t * ldy + r], y[r]), "%s %s %zux%zu T %zu: t %zu r %zu", v[k].name,
				      lq_name(type), rows, cols, T, t, r);
			for (size_t r = rows; r < ldy && t + 1 < T; r++)
				CHECK1(Y[t * ldy + r] == -777.0f);
		}
	}
	free(w);
	free(X);
	free(Y);
	free(y);
}

START_TEST(test_dense_matmul_shapes)
{
	kvariant v[MAX_VARIANTS];
	int nv = kvariants(v);
	/* tokens: below and above the prefill kernel's 4, its groups of 16 and
	 * its buffers of 64; columns: one block, odd counts, two activation
	 * chunks (8192 + 64) */
	static const size_t TS[] = {1, 2, 3, 4, 5, 16, 17, 33, 64, 70};
	static const size_t RS[] = {1, 4, 7, 16, 19};
	static const size_t CS[] = {32, 96, 256, 8192 + 64};
	for (int ti = 0; ti < 2; ti++)
		for (size_t ci = 0; ci < 4; ci++)
			for (size_t ri = 0; ri < 5; ri++)
				for (size_t tt = 0; tt < 10; tt++) {
					if ((under_valgrind() || ci == 3) && (ri + tt + ci) % 4 != 0)
						continue;
					matmul_case(v, nv, DENSE[ti], RS[ri], CS[ci], TS[tt], tt);
				}
	kvariant_reset();
}
END_TEST

/* ---- hostile scales and codes, special activations, bounds --------------------------------- */
START_TEST(test_dense_hostile)
{
	kvariant v[MAX_VARIANTS];
	int nv = kvariants(v);
	const size_t rows = 21, cols = 160, nb = cols / 32;
	static const uint16_t BAD[] = {0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00};
	for (int ti = 0; ti < 2; ti++) {
		int type = DENSE[ti];
		size_t bb = type == LQ_DTYPE_Q8_0 ? 34 : 18, ldb = nb * bb, bytes = rows * ldb;
		/* the weights end where an unreadable page begins */
		gbuf g = gbuf_new(bytes);
		unsigned char *w = rand_matrix(type, rows, cols, NULL);
		memcpy(g.p, w, bytes);
		/* non-finite scales in one block of rows 2, 4, 5, 7, 8; every
		 * code -128 (Q8_0) in row 11, random bytes in rows 12..; the
		 * largest finite scale in row 12 */
		static const size_t BAD_ROW[] = {2, 4, 5, 7, 8};
		for (int i = 0; i < 5; i++)
			wr16(g.p + BAD_ROW[i] * ldb + (size_t)i % nb * bb, BAD[i]);
		for (size_t r = 11; r < rows; r++)
			for (size_t k = 0; k < nb; k++) {
				unsigned char *blk = g.p + r * ldb + k * bb;
				for (size_t j = 2; j < bb; j++)
					blk[j] = r == 11 && type == LQ_DTYPE_Q8_0 ? 0x80 : (unsigned char)rnd();
				if (r == 12)
					wr16(blk, 0x7bff); /* 65504 */
			}
		float x[5 * 32], ref[21], y[21];
		rand_act(x, cols);
		x[7] = -127.0f; /* a block whose q reaches -127 against codes of -128 */
		for (int k = 0; k < nv; k++) {
			kvariant_use(&v[k]);
			ref_matvec(type, g.p, cols, rows, cols, x, ref);
			v[k].K->matvec(type, g.p, cols, rows, cols, x, y);
			for (size_t r = 0; r < rows; r++) {
				CHECK(same_value(y[r], ref[r]), "%s %s row %zu: %g vs %g", v[k].name, lq_name(type), r,
					      (double)y[r], (double)ref[r]);
				int bad = r == 2 || r == 4 || r == 5 || r == 7 || r == 8;
				CHECK(!bad == !!isfinite(y[r]), "%s row %zu: %g", v[k].name, r, (double)y[r]);
			}
			/* the last row alone, and dot: its last block is the last bytes before the guard */
			v[k].K->matvec(type, g.p + (rows - 1) * ldb, cols, 1, cols, x, y);
			CHECK1(same_value(y[0], ref[rows - 1]));
			/* an odd number of blocks up to the guard (the pair code must
			 * read only the last one) */
			float r3;
			ref_matvec(type, g.p + bytes - 3 * bb, 96, 1, 96, x, &r3);
			CHECK1(same_value(v[k].K->dot(type, g.p + bytes - 3 * bb, x, 96), r3));
		}
		/* activations: NaN or inf in a block -> NaN; zeros -> exact 0 */
		float xs[5 * 32];
		for (int c = 0; c < 3; c++) {
			memcpy(xs, x, sizeof xs);
			if (c == 0)
				xs[100] = NAN;
			else if (c == 1)
				xs[33] = -INFINITY;
			else
				memset(xs, 0, sizeof xs);
			for (int k = 0; k < nv; k++) {
				kvariant_use(&v[k]);
				v[k].K->matvec(type, w, cols, rows, cols, xs, y);
				for (size_t r = 0; r < rows; r++)
					CHECK(c < 2 ? isnan(y[r]) : same_bits(y[r], 0.0f), "%s case %d row %zu: %g",
						      v[k].name, c, r, (double)y[r]);
			}
		}
		/* the same activations as tokens of a prefill (lk_matmul from 4
		 * tokens on quantizes them in its own code): each token's outputs
		 * are its matvec's bits, whatever its neighbours in the lanes */
		enum { NTOK = 20 };
		float *X = malloc(NTOK * cols * sizeof(float)), *Y = malloc(NTOK * rows * sizeof(float));
		for (size_t t = 0; t < NTOK; t++) {
			memcpy(X + t * cols, x, sizeof x);
			X[t * cols + (t * 37) % cols] *= (float)(t + 1);
		}
		X[3 * cols + 100] = NAN;
		X[5 * cols + 33] = -INFINITY;
		X[6 * cols + 70] = INFINITY;
		memset(X + 7 * cols, 0, cols * sizeof(float));
		for (size_t j = 0; j < 32; j++) { /* 127 / amax overflows: every code 0 */
			X[9 * cols + 64 + j] = j % 3 ? 1e-38f : -2e-38f;
			X[11 * cols + 96 + j] = j == 5 ? -0.0f : 0.0f;
		}
		for (int k = 0; k < nv; k++) {
			kvariant_use(&v[k]);
			v[k].K->matmul(type, w, cols, rows, cols, X, NTOK, cols, Y, rows);
			for (size_t t = 0; t < NTOK; t++) {
				v[k].K->matvec(type, w, cols, rows, cols, X + t * cols, y);
				const float *yt = Y + t * rows;
				for (size_t r = 0; r < rows; r++)
					CHECK(same_value(yt[r], y[r]), "%s %s token %zu row %zu: %g vs matvec %g",
					      v[k].name, lq_name(type), t, r, (double)yt[r], (double)y[r]);
				if (t == 3 || t == 5 || t == 6)
					CHECK(isnan(yt[0]), "%s token %zu: %g", v[k].name, t, (double)yt[0]);
				if (t == 7)
					CHECK(same_bits(yt[0], 0.0f), "%s token 7: %g", v[k].name, (double)yt[0]);
			}
		}
		free(X);
		free(Y);
		free(w);
		gbuf_free(&g);
	}
	kvariant_reset();
}
END_TEST

/* ---- the dispatching entry points and the VNNI switch ------------------------------------- */
START_TEST(test_dense_entry_points)
{
	kvariant v[MAX_VARIANTS];
	int nv = kvariants(v);
	const size_t rows = 40, cols = 256;
	for (int ti = 0; ti < 2; ti++) {
		int type = DENSE[ti];
		unsigned char *w = rand_matrix(type, rows, cols, NULL);
		float x[256], a[40], b[40];
		rand_act(x, cols);
		for (int k = 0; k < nv; k++) {
			kvariant_use(&v[k]);
			ck_assert_int_eq(lk_isa_active(), v[k].isa);
			ck_assert_int_eq(lk_vnni_active(), v[k].vnni);
			lk_matvec(type, w, cols, rows, cols, x, a);
			v[k].K->matvec(type, w, cols, rows, cols, x, b);
			CHECK1(memcmp(a, b, sizeof a) == 0);
			lk_matmul(type, w, cols, rows, cols, x, 1, cols, b, rows);
			CHECK1(memcmp(a, b, sizeof a) == 0);
			CHECK1(same_bits(lk_dot(type, w, x, cols), a[0]));
		}
		free(w);
	}
	/* lk_set_vnni: off always possible; on only where a table can use it */
	ck_assert_int_eq(lk_set_vnni(0), 0);
	ck_assert_int_eq(lk_vnni_active(), 0);
	int any = lk_vnni_supported(LK_ISA_AVX2) || lk_vnni_supported(LK_ISA_AVX512) ||
		  lk_vnni_supported(LK_ISA_NEON);
	ck_assert_int_eq(lk_set_vnni(1), any ? 0 : LUTDB_EUNSUPPORTED);
	ck_assert_int_eq(lk_vnni_supported(LK_ISA_SCALAR), 0);
	ck_assert_int_eq(lk_vnni_supported(99), 0);
	fprintf(stderr, "kernels: VNNI on this CPU: avx2 %d, avx512 %d, neon (sdot) %d\n",
		lk_vnni_supported(LK_ISA_AVX2), lk_vnni_supported(LK_ISA_AVX512), lk_vnni_supported(LK_ISA_NEON));
	kvariant_reset();
}
END_TEST

static Suite *quant_suite(void)
{
	Suite *s = suite_create("kernels_quant");
	TCase *tc = tcase_create("dense");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_dt_codes);
	tcase_add_test(tc, test_dense_rule);
	tcase_add_test(tc, test_dense_accuracy);
	tcase_add_test(tc, test_dense_determinism);
	tcase_add_test(tc, test_dense_matmul_shapes);
	tcase_add_test(tc, test_dense_hostile);
	tcase_add_test(tc, test_dense_entry_points);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_kernels_suite(quant_suite());
}
