/*
 * test_quant_vector.c - the vector quantizers (format/quant/quant_avx2.c,
 * quant_avx512.c) against the scalar reference path (lq_quantize_scalar),
 * bit for bit.
 *
 * The scalar code is what the PyTorch reference fixtures check
 * (test_format_quant); here every path this CPU can run must write the same
 * bytes for every type and block size, on inputs chosen to hit each rounding
 * rule: random blocks at many scales, exact .5 ties of roundf (Q8_0) and of
 * the +8.5 truncation (Q4_0), values on, just below and just above every NF
 * threshold and code midpoint, zeros of both signs, all-equal blocks,
 * float32 subnormals and the tiny scales whose reciprocal overflows, scales
 * at the F16 overflow edge, and NaN/infinity in a later block.  A vector
 * path may stop before a block only when the scalar code refuses that block;
 * lq_quantize (the dispatched path) must give the scalar code's return code,
 * detail and bytes.  Buffers are deliberately misaligned.  On a CPU without
 * AVX2 only the dispatched path is compared (it is then the scalar one).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "fail.h"
#include "quant.h"
#include "quant_steps.h"
#include "testutil.h"

static uint64_t rng = 0x7ec70013ull;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float uniform(float lo, float hi)
{
	return lo + (hi - lo) * (float)((double)(next() >> 11) * 0x1p-53);
}

/* Checks' ck_assert_* write to the parent per call: too slow per value. */
#define CHECK(cond, ...)                           \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

typedef size_t (*vector_fn)(int dtype, uint32_t block, const float *x, size_t nb, uint8_t *out);

static const struct {
	const char *name;
	vector_fn fn;
	unsigned need;
} PATHS[] = {
#if defined(__x86_64__) || defined(__i386__)
	{ "AVX2", lq__quantize_avx2, LUTDB_CPU_AVX2 | LUTDB_CPU_FMA | LUTDB_CPU_F16C },
	{ "AVX-512", lq__quantize_avx512,
	  LUTDB_CPU_AVX512F | LUTDB_CPU_AVX512BW | LUTDB_CPU_AVX512VL | LUTDB_CPU_AVX512DQ | LUTDB_CPU_AVX2 |
		  LUTDB_CPU_FMA | LUTDB_CPU_F16C },
#endif
	{ NULL, NULL, 0 },
};

static const struct {
	int dtype;
	uint32_t block;
} CASES[] = {
	{ LQ_DTYPE_Q8_0, 32 }, { LQ_DTYPE_Q4_0, 32 }, { LQ_DTYPE_NF4, 32 },  { LQ_DTYPE_NF4, 64 },
	{ LQ_DTYPE_NF4, 96 },  { LQ_DTYPE_NF4, 768 }, { LQ_DTYPE_NF4, 8192 }, { LQ_DTYPE_NF3, 32 },
	{ LQ_DTYPE_NF3, 64 },  { LQ_DTYPE_NF3, 160 }, { LQ_DTYPE_NF3, 768 }, { LQ_DTYPE_NF3, 8192 },
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static int paths_run;

/* x[0..nb*block) through every path this CPU has, against the scalar code:
 * same bytes, and a vector path stops only before a block the scalar code
 * refuses.  Input and output sit at odd offsets. */
static void compare(int dtype, uint32_t block, const float *xin, size_t nb, const char *what)
{
	size_t n = nb * block, bb = (size_t)lq_block_bytes(dtype, block);
	float *xbuf = malloc((n + 1) * sizeof *xbuf), *x = xbuf + 1;
	uint8_t *ref = malloc(nb * bb), *got = malloc(nb * bb + 4), *out = got + 3; /* a canary byte after */
	char detail[512];
	int rc_ref, rc;

	memcpy(x, xin, n * sizeof *x);
	memset(ref, 0xEE, nb * bb);
	rc_ref = lq_quantize_scalar(dtype, block, x, n, ref);
	snprintf(detail, sizeof detail, "%s", lutdb_errdetail());

	/* the dispatched path: the scalar code's result in every respect */
	memset(got, 0xEE, nb * bb + 4);
	rc = lq_quantize(dtype, block, x, n, out);
	CHECK(rc == rc_ref, "%s B=%u %s: lq_quantize %d, scalar %d", lq_name(dtype), block, what, rc, rc_ref);
	if (rc == LUTDB_OK)
		CHECK(memcmp(out, ref, nb * bb) == 0, "%s B=%u %s: lq_quantize bytes differ", lq_name(dtype), block,
		      what);
	else
		CHECK(strcmp(detail, lutdb_errdetail()) == 0, "%s B=%u %s: detail \"%s\" vs scalar \"%s\"",
		      lq_name(dtype), block, what, lutdb_errdetail(), detail);

	for (int p = 0; PATHS[p].fn; p++) {
		size_t k;

		if (!lutdb_cpu_has(PATHS[p].need))
			continue;
		paths_run |= 1 << p;
		memset(got, 0xEE, nb * bb + 4);
		k = PATHS[p].fn(dtype, block, x, nb, out);
		CHECK(k <= nb, "%s: %zu blocks of %zu", PATHS[p].name, k, nb);
		for (size_t b = 0; b < k; b++)
			CHECK(memcmp(out + b * bb, ref + b * bb, bb) == 0, "%s %s B=%u %s: block %zu differs",
			      PATHS[p].name, lq_name(dtype), block, what, b);
		CHECK(got[0] == 0xEE && got[1] == 0xEE && got[2] == 0xEE, "%s: wrote before dst", PATHS[p].name);
		if (k < nb)
			CHECK(lq_quantize_scalar(dtype, block, x + k * block, block, got) != LUTDB_OK,
			      "%s %s B=%u %s: stopped at block %zu, which the scalar code takes", PATHS[p].name,
			      lq_name(dtype), block, what, k);
		else
			CHECK(out[nb * bb] == 0xEE, "%s: wrote past the end", PATHS[p].name);
	}
	free(xbuf);
	free(ref);
	free(got);
}

/* ---- random blocks ------------------------------------------------------- */

START_TEST(random_blocks)
{
	static const float scales[] = { 1e-30f, 1e-6f, 0.05f, 1.0f, 300.0f, 5e4f, 8e6f };
	size_t nb = 24;

	for (size_t c = 0; c < NCASES; c++) {
		uint32_t B = CASES[c].block;
		size_t blocks = B >= 768 ? 3 : nb;
		float *x = malloc(blocks * B * sizeof *x);

		for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
			for (int r = 0; r < 4; r++) {
				for (size_t i = 0; i < blocks * B; i++)
					x[i] = uniform(-1, 1) * scales[s] * (r == 3 ? uniform(0, 1) : 1.0f);
				compare(CASES[c].dtype, B, x, blocks, "random");
			}
		}
		free(x);
	}
}
END_TEST

/* ---- ties and thresholds ------------------------------------------------- */

/* Q8_0: amax 127 gives d = 1 and id = 1, so every x + k/2 is an exact tie of
 * roundf; with amax 127 * 2^e the ties scale exactly. */
START_TEST(q8_0_ties)
{
	float x[32 * 8];

	for (int e = -20; e <= 8; e += 4) {
		float s = ldexpf(1.0f, e);

		for (int b = 0; b < 8; b++) {
			for (int j = 0; j < 32; j++) {
				float v = (float)((int)(next() % 254) - 127) + 0.5f;

				x[b * 32 + j] = (j % 3 == 0 ? v : (float)((int)(next() % 255) - 127)) * s;
			}
			x[b * 32 + (int)(next() % 32)] = (b & 1 ? -127.0f : 127.0f) * s;
		}
		compare(LQ_DTYPE_Q8_0, 32, x, 8, "ties");
	}
	/* the just-off ties: one ulp either side */
	for (int b = 0; b < 8; b++)
		for (int j = 0; j < 32; j++) {
			float v = (float)((int)(next() % 254) - 127) + 0.5f;

			x[b * 32 + j] = j == 0 ? 127.0f : nextafterf(v, j & 1 ? INFINITY : -INFINITY);
		}
	compare(LQ_DTYPE_Q8_0, 32, x, 8, "ties +-1 ulp");
}
END_TEST

/* Q4_0: max -8 gives d = 1, id = 1, w = x + 8.5: halves of x land w on
 * integers, where truncation turns; +8 clamps at 15. */
START_TEST(q4_0_ties)
{
	float x[32 * 8];

	for (int e = -12; e <= 8; e += 4) {
		float s = ldexpf(1.0f, e);

		for (int b = 0; b < 8; b++) {
			for (int j = 0; j < 32; j++)
				x[b * 32 + j] = ((float)((int)(next() % 32)) * 0.5f - 8.0f) * s;
			/* the extreme, first on ties (+8 and -8 both present) */
			x[b * 32 + (int)(next() % 32)] = (b & 1 ? 8.0f : -8.0f) * s;
			x[b * 32 + 31] = (b & 1 ? -8.0f : 8.0f) * s;
		}
		compare(LQ_DTYPE_Q4_0, 32, x, 8, "ties");
		for (int i = 0; i < 32 * 8; i++)
			if (i % 32 != 31)
				x[i] = nextafterf(x[i], i & 1 ? INFINITY : -INFINITY);
		compare(LQ_DTYPE_Q4_0, 32, x, 8, "ties +-1 ulp");
	}
}
END_TEST

/* NF: with max|x| = 1 the F16 scale is 1 and z = x, so the values are placed
 * on each threshold, one ulp either side, and on the code midpoints. */
START_TEST(nf_thresholds)
{
	for (int t = 0; t < 2; t++) {
		int dtype = t ? LQ_DTYPE_NF3 : LQ_DTYPE_NF4;
		const float *split = t ? lq_nf3_split : lq_nf4_split;
		const float *code = t ? lq_nf3_code : lq_nf4_code;
		unsigned ns = t ? 7 : 15;
		float x[64 * 4];

		for (int scale = 0; scale < 3; scale++) {
			/* scale 2: max 0.75 (F16 exact), z = x / 0.75 near the splits */
			float s = scale == 0 ? 1.0f : scale == 1 ? 0.25f : 0.75f;

			for (int i = 0; i < 64 * 4; i++) {
				unsigned k = (unsigned)(next() % ns);
				float v;

				switch (i % 5) {
				case 0: v = split[k]; break;
				case 1: v = nextafterf(split[k], -INFINITY); break;
				case 2: v = nextafterf(split[k], INFINITY); break;
				case 3: v = (code[k] + code[k + 1]) / 2.0f; break;
				default: v = code[k]; break;
				}
				x[i] = v * s;
			}
			for (int b = 0; b < 4; b++)
				x[b * 64 + (b % 64)] = (b & 1 ? -1.0f : 1.0f) * s;
			compare(dtype, 32, x, 8, "thresholds");
			compare(dtype, 64, x, 4, "thresholds");
		}
	}
}
END_TEST

/* ---- edges: zeros, equal blocks, subnormals, overflow, non-finite ---------- */

static void fill_case(float *x, size_t n, int kind)
{
	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case 0: x[i] = 0.0f; break;
		case 1: x[i] = -0.0f; break;
		case 2: x[i] = i & 1 ? -0.0f : 0.0f; break;
		case 3: x[i] = 0.3f; break;                              /* all equal */
		case 4: x[i] = -1234.5f; break;                          /* all equal, negative */
		case 5: x[i] = ldexpf(uniform(-1, 1), -140); break;      /* float32 subnormals */
		case 6: x[i] = ldexpf(1.0f, -149) * (float)(i % 7); break; /* tiny, 1/d overflows */
		case 7: x[i] = ldexpf(uniform(-1, 1), -125); break;      /* 1/d at the edge */
		case 8: x[i] = i % 32 == 5 ? 1e-3f : ldexpf(uniform(-1, 1), -30); break;
		case 9: x[i] = (i & 1 ? -1.0f : 1.0f) * 65504.0f * 127.0f; break; /* Q8_0 scale 65504 */
		case 10: x[i] = uniform(-1, 1) * 65519.0f; break;        /* NF scale below 65520 */
		case 11: x[i] = (i % 32 == 7 ? 65520.0f : 1.0f) * (i & 1 ? -1.0f : 1.0f); break;
		case 12: x[i] = (i % 64 == 9 ? -65504.0f * 8.0f : 3.0f); break; /* Q4_0 scale 65504 */
		case 13: x[i] = i % 32 == 0 ? 65504.0f * 128.0f : 1.0f; break;  /* Q8_0 overflow */
		case 14: x[i] = uniform(-1, 1); break;
		default: x[i] = uniform(-4, 4); break;
		}
	}
}

START_TEST(edge_blocks)
{
	for (size_t c = 0; c < NCASES; c++) {
		uint32_t B = CASES[c].block;
		size_t nb = B >= 768 ? 2 : 6;
		float *x = malloc(nb * B * sizeof *x);
		char what[64];

		for (int kind = 0; kind < 16; kind++) {
			fill_case(x, nb * B, kind);
			snprintf(what, sizeof what, "edge case %d", kind);
			compare(CASES[c].dtype, B, x, nb, what);
			/* the same in the last block only, after good ones */
			fill_case(x, nb * B, 14);
			fill_case(x + (nb - 1) * B, B, kind);
			compare(CASES[c].dtype, B, x, nb, what);
		}
		/* NaN and infinities in a later block, at every lane position of
		 * a vector */
		for (int bad = 0; bad < 3; bad++)
			for (uint32_t at = 0; at < 32; at += 5) {
				fill_case(x, nb * B, 15);
				x[(nb / 2) * B + (at * 7) % B] = bad == 0 ? NAN : bad == 1 ? INFINITY : -INFINITY;
				snprintf(what, sizeof what, "non-finite %d at %u", bad, at);
				compare(CASES[c].dtype, B, x, nb, what);
			}
		free(x);
	}
	/* every path this CPU reports was compared */
	for (int p = 0; PATHS[p].fn; p++)
		if (lutdb_cpu_has(PATHS[p].need))
			ck_assert_msg(paths_run & (1 << p), "%s was not compared", PATHS[p].name);
	printf("quant vector: lq_quantize takes path %d (0 scalar, 2 AVX2, 3 AVX-512)\n", lq_quantize_isa());
}
END_TEST

int main(void)
{
	Suite *s = suite_create("quant_vector");
	TCase *tc = tcase_create("vector_vs_scalar");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, random_blocks);
	tcase_add_test(tc, q8_0_ties);
	tcase_add_test(tc, q4_0_ties);
	tcase_add_test(tc, nf_thresholds);
	tcase_add_test(tc, edge_blocks);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
