/*
 * test_format_quant.c - the block-quantized types (format/quant): Q8_0, Q4_0,
 * NF4, NF3.
 *
 * The expected bytes come from the PyTorch reference (tests/ref/quant_ref.py)
 * through the fixtures under $LUTDB_FIXTURES/quant (make_fixtures.py): for
 * every vector, lq_quantize must write exactly the reference's bytes (or
 * refuse what it refuses), and lq_dequantize must give its values bit for
 * bit.  A missing fixture directory fails the suite.  The rest needs no
 * fixtures: the spec's worked examples, sizes and block rules, refusals and
 * their details, tiny scales, every F16 scale pattern in hostile input
 * (checked against products done in double), the NF thresholds re-derived
 * from the code values, error bounds, and a throughput line per type.
 * Output buffers are exact-size heap blocks followed by a canary.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "numeric.h"
#include "quant.h"
#include "testutil.h"

static uint64_t rng = 0x5eed0013ull;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Roughly normal (sum of uniforms), scaled. */
static float gauss(float scale)
{
	double s = 0;

	for (int i = 0; i < 4; i++)
		s += (double)(next() >> 11) * 0x1p-53;
	return (float)((s - 2.0) * 1.7320508) * scale;
}

static uint32_t fbits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float bitsf(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const int TYPES[] = { LQ_DTYPE_Q8_0, LQ_DTYPE_Q4_0, LQ_DTYPE_NF4, LQ_DTYPE_NF3 };

#define CANARY 0xA5

/* An assertion for inner loops: Check's ck_assert_* report every passing
 * check to the parent process (a write per call), which is too slow for
 * millions of values. */
#define CHECK(cond, ...)                                \
	do {                                            \
		if (!(cond))                            \
			ck_abort_msg(__VA_ARGS__);      \
	} while (0)

/* Quantizes into an exact-size buffer followed by a canary; returns it
 * (caller frees) with the return code in *rc. */
static uint8_t *quant_guarded(int dtype, uint32_t block, const float *x, size_t n, int *rc)
{
	uint64_t len = lq_bytes(dtype, block, n);
	uint8_t *q;

	ck_assert_uint_gt(len, 0);
	q = malloc(len + 16);
	memset(q, CANARY, len + 16);
	*rc = lq_quantize(dtype, block, x, n, q);
	for (int i = 0; i < 16; i++)
		CHECK(q[len + i] == CANARY, "%s: write past the end", lq_name(dtype));
	return q;
}

/* Dequantizes from an exact-size copy of src into an exact-size buffer
 * followed by a canary. */
static int deq_guarded(int dtype, uint32_t block, const uint8_t *src, size_t n, float *out)
{
	uint64_t len = lq_bytes(dtype, block, n);
	uint8_t *s = malloc(len);
	uint8_t *d = malloc(n * 4 + 16);
	int rc;

	memcpy(s, src, len);
	memset(d, CANARY, n * 4 + 16);
	rc = lq_dequantize(dtype, block, s, n, (float *)d);
	for (int i = 0; i < 16; i++)
		CHECK(d[n * 4 + i] == CANARY, "%s: dequantize wrote past the end", lq_name(dtype));
	memcpy(out, d, n * 4);
	free(s);
	free(d);
	return rc;
}

static void hex_to_bytes(const char *hex, uint8_t *out, size_t *len)
{
	size_t n = 0;

	for (const char *p = hex; *p; p++) {
		unsigned v;

		if (*p == ' ')
			continue;
		ck_assert_int_eq(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p++;
	}
	*len = n;
}

/* ---- names, sizes, block rules -------------------------------------------- */

START_TEST(names)
{
	ck_assert_int_eq(LQ_DTYPE_Q8_0, 16);
	ck_assert_int_eq(LQ_DTYPE_Q4_0, 17);
	ck_assert_int_eq(LQ_DTYPE_NF4, 18);
	ck_assert_int_eq(LQ_DTYPE_NF3, 19);
	for (int t = -1; t < 70; t++) {
		int q = t >= 16 && t <= 19;

		ck_assert_int_eq(lq_is_quant(t), q);
		ck_assert_int_eq(lq_name(t) != NULL, q);
		ck_assert_uint_eq(lq_default_block(t), t == 16 || t == 17 ? 32 : q ? 64 : 0);
		if (q)
			ck_assert_int_eq(lq_from_name(lq_name(t)), t);
	}
	ck_assert_str_eq(lq_name(16), "Q8_0");
	ck_assert_str_eq(lq_name(17), "Q4_0");
	ck_assert_str_eq(lq_name(18), "NF4");
	ck_assert_str_eq(lq_name(19), "NF3");
	ck_assert_int_eq(lq_from_name("nf4"), 0);
	ck_assert_int_eq(lq_from_name("Q8_0 "), 0);
	ck_assert_int_eq(lq_from_name("F16"), 0);
	ck_assert_int_eq(lq_from_name(""), 0);
	ck_assert_int_eq(lq_from_name(NULL), 0);
}
END_TEST

START_TEST(block_rules)
{
	for (uint32_t b = 0; b <= 9000; b++) {
		int nf_ok = b >= 32 && b % 32 == 0 && b <= LQ_BLOCK_MAX;

		CHECK((lq_check_block(LQ_DTYPE_Q8_0, b) == LUTDB_OK) == (b == 32), "Q8_0 block %u", b);
		CHECK((lq_check_block(LQ_DTYPE_Q4_0, b) == LUTDB_OK) == (b == 32), "Q4_0 block %u", b);
		CHECK((lq_check_block(LQ_DTYPE_NF4, b) == LUTDB_OK) == nf_ok, "NF4 block %u", b);
		CHECK((lq_check_block(LQ_DTYPE_NF3, b) == LUTDB_OK) == nf_ok, "NF3 block %u", b);
		CHECK((lq_block_bytes(LQ_DTYPE_NF4, b) != 0) == nf_ok, "NF4 block bytes %u", b);
		CHECK((lq_block_bytes(LQ_DTYPE_Q8_0, b) != 0) == (b == 32), "Q8_0 block bytes %u", b);
	}
	/* the blocks the issue names */
	ck_assert_int_eq(lq_check_block(LQ_DTYPE_NF4, 768), LUTDB_OK);
	ck_assert_int_eq(lq_check_block(LQ_DTYPE_NF3, 128), LUTDB_OK);
	EXPECT(lq_check_block(LQ_DTYPE_Q8_0, 64), LUTDB_EINVAL, "Q8_0: block 64, only 32");
	EXPECT(lq_check_block(LQ_DTYPE_NF4, 48), LUTDB_EINVAL, "NF4: block 48 is not a multiple of 32");
	EXPECT(lq_check_block(LQ_DTYPE_NF3, 8224), LUTDB_EINVAL, "exceeds the maximum 8192");
	EXPECT(lq_check_block(LQ_DTYPE_NF3, 0), LUTDB_EINVAL, "not a multiple of 32");
	EXPECT(lq_check_block(2, 32), LUTDB_EINVAL, "dtype 2 is not a block-quantized type");
	EXPECT(lq_check_block(20, 32), LUTDB_EINVAL, "dtype 20");
	/* vector lengths, named */
	ck_assert_int_eq(lq_check_len(LQ_DTYPE_NF4, 768, 768, "d"), LUTDB_OK);
	ck_assert_int_eq(lq_check_len(LQ_DTYPE_NF4, 128, 768, "d"), LUTDB_OK);
	EXPECT(lq_check_len(LQ_DTYPE_NF4, 64, 48, "dk"), LUTDB_EINVAL, "NF4 block 64 does not divide dk = 48");
	EXPECT(lq_check_len(LQ_DTYPE_NF3, 768, 1024, "d"), LUTDB_EINVAL, "NF3 block 768 does not divide d = 1024");
	EXPECT(lq_check_len(LQ_DTYPE_Q4_0, 32, 80, "d"), LUTDB_EINVAL,
	       "Q4_0 needs vector lengths that are multiples of 32: d = 80");
	EXPECT(lq_check_len(LQ_DTYPE_Q8_0, 32, 0, "dk"), LUTDB_EINVAL, "dk = 0");
	EXPECT(lq_check_len(LQ_DTYPE_NF4, 50, 100, "d"), LUTDB_EINVAL, "not a multiple of 32");
}
END_TEST

START_TEST(sizes)
{
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_Q8_0, 32), 34);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_Q4_0, 32), 18);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF4, 32), 18);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF4, 64), 34);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF4, 768), 386);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF3, 32), 14);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF3, 128), 50);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF3, 768), 290);
	ck_assert_uint_eq(lq_block_bytes(LQ_DTYPE_NF3, 8192), 3074);
	ck_assert_uint_eq(lq_block_bytes(3, 32), 0);
	/* MoLE-160M-4E token row (L=12, N=4, d=768): F16 73,728 bytes */
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_Q8_0, 32, 36864), 39168);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_Q4_0, 32, 36864), 20736);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_NF4, 768, 36864), 18528);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_NF3, 128, 36864), 14400);
	ck_assert_msg(lq_bytes(LQ_DTYPE_Q4_0, 32, 36864) * 100 <= 30 * 73728, "Q4_0 above 0.30x F16");
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_NF4, 64, 0), 0);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_NF4, 64, 96), 0);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_NF4, 48, 96), 0);
	ck_assert_uint_eq(lq_bytes(17, 64, 64), 0);
	ck_assert_uint_eq(lq_bytes(40, 32, 64), 0);
	/* no overflow: the largest n whose byte count fits, and beyond */
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_Q8_0, 32, (UINT64_MAX / 34) * 32), (UINT64_MAX / 34) * 34);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_Q8_0, 32, (UINT64_MAX / 34 + 1) * 32), 0);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_Q8_0, 32, UINT64_MAX - 31), 0);
	ck_assert_uint_eq(lq_bytes(LQ_DTYPE_NF4, 8192, UINT64_MAX - 8191), (UINT64_MAX / 8192) * 4098);
	ck_assert_uint_gt(lq_bytes(LQ_DTYPE_NF3, 8192, (uint64_t)1 << 40), 0);
}
END_TEST

/* ---- the spec's worked examples (spec/FORMAT.md 10.8) ----------------------- */

struct example {
	int dtype;
	float x[8];
	int nx;
	const char *hex;
	float y[8];
};

static const struct example examples[] = {
	{ LQ_DTYPE_Q8_0, { 127.0f, -63.5f, 0.5f, -0.5f, 1.4999999f, 2.5f, -126.5f, 100.25f }, 8,
	  "003c 7fc001ff010381 64 000000000000000000000000000000000000000000000000",
	  { 127, -64, 1, -1, 1, 3, -127, 100 } },
	{ LQ_DTYPE_Q8_0, { 1.0f, 0.5f, -0.25f, 0.0039370079f }, 4,
	  "0820 7f40e001 00000000000000000000000000000000000000000000000000000000",
	  { 0.99993896484375f, 0.50390625f, -0.251953125f, 0.00787353515625f } },
	{ LQ_DTYPE_Q4_0, { -8.0f, 7.0f, 0.5f, -0.5f, 3.2f, -7.9f, 8.0f }, 7,
	  "003c 808f89888b808f 888888888888888888", { -8, 7, 1, 0, 3, -8, 7, 0 } },
	{ LQ_DTYPE_Q4_0, { 4.0f, -1.0f, 2.0f }, 3, "00b8 808a84 88888888888888888888888888",
	  { 4, -1, 2, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f } },
	{ LQ_DTYPE_NF4, { 2.0f, -2.0f, 0.0f, 1.0f, 0.5f, -0.25f, 0.08f, 1.9f }, 8,
	  "0040 0fc76af8 777777777777777777777777",
	  { 2, -2, 0, 0.8814196586608887f, 0.4922246038913727f, -0.1821000725030899f, 0.15916059911251068f, 2 } },
	{ LQ_DTYPE_NF3, { -4.0f, 4.0f, 1.0f, -1.0f, 2.0f, 3.0f, 0.3f }, 7, "0044 38556f dbb66d dbb66d dbb66d",
	  { -4, 4, 0.7333499193191528f, -0.9877259135246277f, 1.5279757976531982f, 2.491943359375f, 0, 0 } },
};

START_TEST(worked_examples)
{
	for (size_t e = 0; e < sizeof examples / sizeof examples[0]; e++) {
		const struct example *ex = &examples[e];
		float x[32] = { 0 }, y[32];
		uint8_t want[64];
		size_t wlen;
		int rc;
		uint8_t *q;

		memcpy(x, ex->x, sizeof(float) * (size_t)ex->nx);
		hex_to_bytes(ex->hex, want, &wlen);
		ck_assert_uint_eq(wlen, lq_bytes(ex->dtype, 32, 32));
		q = quant_guarded(ex->dtype, 32, x, 32, &rc);
		ck_assert_int_eq(rc, LUTDB_OK);
		for (size_t i = 0; i < wlen; i++)
			ck_assert_msg(q[i] == want[i], "example %zu (%s): byte %zu is %02x, want %02x", e,
				      lq_name(ex->dtype), i, q[i], want[i]);
		ck_assert_int_eq(deq_guarded(ex->dtype, 32, q, 32, y), LUTDB_OK);
		for (int i = 0; i < 8; i++)
			ck_assert_msg(fbits(y[i]) == fbits(ex->y[i]), "example %zu: value %d is %a, want %a", e, i,
				      (double)y[i], (double)ex->y[i]);
		for (int i = 8; i < 32; i++)
			ck_assert_msg(y[i] == 0, "example %zu: value %d", e, i);
		free(q);
	}
}
END_TEST

START_TEST(zero_blocks)
{
	float x[64], y[64];

	for (int sign = 0; sign < 2; sign++) {
		for (int i = 0; i < 64; i++)
			x[i] = sign ? -0.0f : 0.0f;
		for (size_t t = 0; t < 4; t++) {
			uint32_t b = lq_default_block(TYPES[t]);
			int rc;
			uint8_t *q = quant_guarded(TYPES[t], b, x, 64, &rc);
			uint64_t bb = lq_block_bytes(TYPES[t], b);

			ck_assert_int_eq(rc, LUTDB_OK);
			for (uint64_t k = 0; k < 64 / b; k++) {
				const uint8_t *p = q + k * bb;

				/* Q4_0: max stays +0.0, d = +0/-8 = -0.0 */
				ck_assert_uint_eq(rd16(p), TYPES[t] == LQ_DTYPE_Q4_0 ? 0x8000 : 0);
				for (uint64_t i = 2; i < bb; i++) {
					static const uint8_t nf3[3] = { 0xdb, 0xb6, 0x6d };
					uint8_t w = TYPES[t] == LQ_DTYPE_Q8_0 ? 0 : TYPES[t] == LQ_DTYPE_Q4_0 ? 0x88
						  : TYPES[t] == LQ_DTYPE_NF4 ? 0x77 : nf3[(i - 2) % 3];

					ck_assert_uint_eq(p[i], w);
				}
			}
			ck_assert_int_eq(deq_guarded(TYPES[t], b, q, 64, y), LUTDB_OK);
			for (int i = 0; i < 64; i++) {
				ck_assert(y[i] == 0);
				ck_assert_int_eq(signbit(y[i]) != 0, TYPES[t] == LQ_DTYPE_Q4_0);
			}
			free(q);
		}
	}
}
END_TEST

/* ---- fixtures: byte equality with the PyTorch reference --------------------- */

static void *read_fixture(const char *dir, const char *rel, size_t *len)
{
	char p[4096];

	snprintf(p, sizeof p, "%s/%s", dir, rel);
	return read_all(p, len);
}

START_TEST(reference_fixtures)
{
	char dir[4096], line[256];
	FILE *idx;
	int lines = 0, ok = 0, refused = 0, configs = 0;
	char seen[16][16];

	snprintf(dir, sizeof dir, "%s/quant", fixtures_dir());
	snprintf(line, sizeof line, "%s/index.txt", dir);
	idx = fopen(line, "r");
	ck_assert_msg(idx != NULL, "missing %s: run tests/ref/make_fixtures.py (tests/run.sh does)", line);
	while (fgets(line, sizeof line, idx)) {
		char name[16], set[64], status[16], rel[256];
		unsigned block;
		size_t n, len, qlen, ylen;
		float *x, *y;
		uint8_t *want, *q;
		int dtype, rc, known = 0;

		ck_assert_int_eq(sscanf(line, "%15s %u %63s %zu %15s", name, &block, set, &n, status), 5);
		dtype = lq_from_name(name);
		ck_assert_msg(dtype != 0, "index: type %s", name);
		snprintf(rel, sizeof rel, "%s-%u", name, block);
		for (int c = 0; c < configs; c++)
			known |= strcmp(seen[c], rel) == 0;
		if (!known) {
			ck_assert_int_lt(configs, 16);
			snprintf(seen[configs++], sizeof seen[0], "%s", rel);
		}
		snprintf(rel, sizeof rel, "in/%s.f32", set);
		x = read_fixture(dir, rel, &len);
		ck_assert_uint_eq(len, n * 4);
		q = quant_guarded(dtype, block, x, n, &rc);
		if (strcmp(status, "erange") == 0) {
			ck_assert_msg(rc == LUTDB_ERANGE, "%s-%u %s: rc %d, the reference refuses it", name, block, set,
				      rc);
			ck_assert_msg(strstr(lutdb_errdetail(), name) != NULL, "detail: %s", lutdb_errdetail());
			refused++;
		} else {
			ck_assert_str_eq(status, "ok");
			ck_assert_msg(rc == LUTDB_OK, "%s-%u %s: rc %d (%s)", name, block, set, rc, lutdb_errdetail());
			snprintf(rel, sizeof rel, "%s-%u/%s.q", name, block, set);
			want = read_fixture(dir, rel, &qlen);
			ck_assert_uint_eq(qlen, lq_bytes(dtype, block, n));
			for (size_t i = 0; i < qlen; i++)
				CHECK(q[i] == want[i], "%s-%u %s: byte %zu (block %zu) is %02x, reference %02x", name,
					      block, set, i, i / lq_block_bytes(dtype, block), q[i], want[i]);
			snprintf(rel, sizeof rel, "%s-%u/%s.f32", name, block, set);
			y = read_fixture(dir, rel, &ylen);
			ck_assert_uint_eq(ylen, n * 4);
			{
				float *got = malloc(n * 4);

				ck_assert_int_eq(deq_guarded(dtype, block, want, n, got), LUTDB_OK);
				for (size_t i = 0; i < n; i++)
					CHECK(fbits(got[i]) == fbits(y[i]), "%s-%u %s: value %zu is %a, reference %a",
						      name, block, set, i, (double)got[i], (double)y[i]);
				free(got);
			}
			free(want);
			free(y);
			ok++;
		}
		free(q);
		free(x);
		lines++;
	}
	fclose(idx);
	printf("quant fixtures: %d vectors, %d configurations, %d ok, %d refused\n", lines, configs, ok, refused);
	ck_assert_int_eq(configs, 10);
	ck_assert_msg(ok >= 150 && refused >= 40, "only %d ok, %d refused vectors", ok, refused);
}
END_TEST

/* Blocks are independent: a row quantized in pieces equals the whole. */
START_TEST(blocks_independent)
{
	enum { N = 3072 };
	float *x = malloc(N * 4);

	for (int i = 0; i < N; i++)
		x[i] = gauss(i % 768 < 5 ? 3.0f : 0.05f);
	for (size_t t = 0; t < 4; t++) {
		uint32_t blocks[] = { 32, 64, 128, 768 };

		for (size_t bi = 0; bi < 4; bi++) {
			uint32_t b = blocks[bi];
			uint64_t bb = lq_block_bytes(TYPES[t], b), len = lq_bytes(TYPES[t], b, N);
			uint8_t *whole, *part;
			int rc;

			if (lq_check_block(TYPES[t], b) != LUTDB_OK)
				continue;
			whole = quant_guarded(TYPES[t], b, x, N, &rc);
			ck_assert_int_eq(rc, LUTDB_OK);
			part = malloc(len);
			for (size_t k = 0; k < N / b; k++)
				ck_assert_int_eq(lq_quantize(TYPES[t], b, x + k * b, b, part + k * bb), LUTDB_OK);
			ck_assert_int_eq(memcmp(whole, part, len), 0);
			free(whole);
			free(part);
		}
	}
	free(x);
}
END_TEST

/* ---- refusals ------------------------------------------------------------- */

START_TEST(refuse_nonfinite)
{
	float x[128];
	uint8_t q[200];
	const float bad[3] = { NAN, INFINITY, -INFINITY };

	for (size_t t = 0; t < 4; t++) {
		for (int v = 0; v < 3; v++) {
			for (int at = 0; at < 128; at += 37) {
				char want[64];

				for (int i = 0; i < 128; i++)
					x[i] = gauss(1.0f);
				x[at] = bad[v];
				snprintf(want, sizeof want, "%s: value %d (block %d) is %s", lq_name(TYPES[t]), at,
					 at / 32, v == 0 ? "NaN" : "infinite");
				EXPECT(lq_quantize(TYPES[t], 32, x, 128, q), LUTDB_ERANGE, want);
			}
		}
	}
}
END_TEST

/* The F16 limit of each scale: refused at the first magnitude whose scale
 * rounds to infinity, accepted (scale 65504) one float32 below. */
START_TEST(refuse_overflow)
{
	const struct {
		int dtype;
		float limit;
		const char *what;
	} lim[] = {
		{ LQ_DTYPE_Q8_0, 127.0f * 65520.0f, "amax/127 = 65520" },
		{ LQ_DTYPE_Q4_0, 8.0f * 65520.0f, "max/-8 = " },
		{ LQ_DTYPE_NF4, 65520.0f, "max|x| = 65520" },
		{ LQ_DTYPE_NF3, 65520.0f, "max|x| = 65520" },
	};

	for (size_t i = 0; i < 4; i++) {
		for (int s = 0; s < 2; s++) {
			float x[64] = { 0 }, y[64];
			uint8_t q[68];
			float v = s ? -lim[i].limit : lim[i].limit;
			uint16_t h;

			x[40] = v;
			x[3] = 1.0f;
			EXPECT(lq_quantize(lim[i].dtype, 32, x, 64, q), LUTDB_ERANGE, "block 1: scale");
			ck_assert_msg(strstr(lutdb_errdetail(), lim[i].what) != NULL, "%s", lutdb_errdetail());
			ck_assert_msg(strstr(lutdb_errdetail(), "overflows F16") != NULL, "%s", lutdb_errdetail());
			x[40] = nextafterf(v, 0.0f);
			ck_assert_int_eq(lq_quantize(lim[i].dtype, 32, x, 64, q), LUTDB_OK);
			h = rd16(q + lq_block_bytes(lim[i].dtype, 32));
			/* Q4_0's d has the opposite sign of max */
			ck_assert_uint_eq(h, lim[i].dtype == LQ_DTYPE_Q4_0 && s == 0 ? 0xfbff : 0x7bff);
			ck_assert_int_eq(lq_dequantize(lim[i].dtype, 32, q, 64, y), LUTDB_OK);
			ck_assert(isfinite(y[40]) && fabsf(y[40] - x[40]) <= 0.04f * lim[i].limit);
		}
	}
}
END_TEST

START_TEST(refuse_arguments)
{
	float x[64] = { 0 }, y[64];
	uint8_t q[128];

	memset(q, 0x11, sizeof q);
	EXPECT(lq_quantize(LQ_DTYPE_NF4, 64, x, 96, q), LUTDB_EINVAL,
	       "96 values is not a positive multiple of the block 64");
	EXPECT(lq_quantize(LQ_DTYPE_NF4, 64, x, 0, q), LUTDB_EINVAL, "quantize: NF4: 0 values");
	EXPECT(lq_quantize(LQ_DTYPE_Q4_0, 64, x, 64, q), LUTDB_EINVAL, "quantize: Q4_0: block 64");
	EXPECT(lq_quantize(LQ_DTYPE_NF3, 32, NULL, 64, q), LUTDB_EINVAL, "NULL buffer");
	EXPECT(lq_quantize(LQ_DTYPE_NF3, 32, x, 64, NULL), LUTDB_EINVAL, "NULL buffer");
	EXPECT(lq_quantize(LUTDB_DTYPE_F16, 32, x, 64, q), LUTDB_EINVAL, "not a block-quantized type");
	for (size_t i = 0; i < sizeof q; i++)
		ck_assert_uint_eq(q[i], 0x11);
	EXPECT(lq_dequantize(LQ_DTYPE_NF4, 64, q, 32, y), LUTDB_EINVAL, "32 values is not");
	EXPECT(lq_dequantize(LQ_DTYPE_NF4, 64, NULL, 64, y), LUTDB_EINVAL, "NULL buffer");
	EXPECT(lq_dequantize(LQ_DTYPE_NF4, 64, q, 64, NULL), LUTDB_EINVAL, "NULL buffer");
	EXPECT(lq_dequantize(LQ_DTYPE_Q8_0, 128, q, 128, y), LUTDB_EINVAL, "dequantize: Q8_0: block 128");
}
END_TEST

/* 1/d overflows float32 for blocks of float32-subnormal magnitude: id = 0. */
START_TEST(tiny_scales)
{
	const float amax[] = { 0x1p-149f, 0x1p-146f, 1e-40f, 0x1p-127f };
	float x[32] = { 0 }, y[32];
	uint8_t q[34];

	for (size_t i = 0; i < 4; i++) {
		x[0] = amax[i];
		x[1] = -amax[i] / 2;
		ck_assert_int_eq(lq_quantize(LQ_DTYPE_Q8_0, 32, x, 32, q), LUTDB_OK);
		for (int j = 0; j < 34; j++)
			ck_assert_uint_eq(q[j], 0);
		ck_assert_int_eq(lq_quantize(LQ_DTYPE_Q4_0, 32, x, 32, q), LUTDB_OK);
		ck_assert_uint_eq(rd16(q), 0x8000);
		for (int j = 2; j < 18; j++)
			ck_assert_uint_eq(q[j], 0x88);
	}
	/* NF: F16(s) = 0 when s <= 2^-25: every index is the zero code */
	x[0] = 0x1p-25f;
	x[1] = -0x1p-26f;
	ck_assert_int_eq(lq_quantize(LQ_DTYPE_NF4, 32, x, 32, q), LUTDB_OK);
	ck_assert_uint_eq(rd16(q), 0);
	for (int j = 2; j < 18; j++)
		ck_assert_uint_eq(q[j], 0x77);
	/* F16-subnormal scale 2^-24 below s: |z| = 1.4, the end codes */
	x[0] = 1.4f * 0x1p-24f;
	x[1] = -1.4f * 0x1p-24f;
	ck_assert_int_eq(lq_quantize(LQ_DTYPE_NF4, 32, x, 32, q), LUTDB_OK);
	ck_assert_uint_eq(rd16(q), 1);
	ck_assert_uint_eq(q[2], 0x0f);
	ck_assert_int_eq(lq_dequantize(LQ_DTYPE_NF4, 32, q, 32, y), LUTDB_OK);
	ck_assert(y[0] == 0x1p-24f && y[1] == -0x1p-24f);
}
END_TEST

/* ---- hostile input --------------------------------------------------------- */

/* Independent decoder: every product in double (exact), rounded once. */
static float ref_value(int dtype, const uint8_t *blk, uint32_t j)
{
	uint16_t h = rd16(blk);
	int e = (h >> 10) & 31, m = h & 1023;
	double d = (e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25)) * ((h & 0x8000) ? -1 : 1);
	const uint8_t *q = blk + 2;

	if (dtype == LQ_DTYPE_Q8_0)
		return (float)((int8_t)q[j] * d);
	if (dtype == LQ_DTYPE_Q4_0)
		return (float)(((j < 16 ? q[j] & 15 : q[j - 16] >> 4) - 8) * d);
	if (dtype == LQ_DTYPE_NF4)
		return (float)((double)lq_nf4_code[(q[j / 2] >> (4 * (j % 2))) & 15] * d);
	{
		const uint8_t *g = q + 3 * (j / 8);
		uint32_t w = g[0] | (uint32_t)g[1] << 8 | (uint32_t)g[2] << 16;

		return (float)((double)lq_nf3_code[(w >> (3 * (j % 8))) & 7] * d);
	}
}

START_TEST(hostile_every_scale)
{
	for (size_t t = 0; t < 4; t++) {
		uint32_t b = 32;
		uint64_t bb = lq_block_bytes(TYPES[t], b);
		uint8_t blk[64];
		float y[32];

		for (uint32_t h = 0; h < 65536; h++) {
			int rc;

			for (uint64_t i = 2; i < bb; i++)
				blk[i] = (uint8_t)next();
			wr16(blk, (uint16_t)h);
			rc = deq_guarded(TYPES[t], b, blk, 32, y);
			if ((h & 0x7c00) == 0x7c00) {
				CHECK(rc == LUTDB_ECORRUPT, "scale %04x: rc %d", h, rc);
				CHECK(strstr(lutdb_errdetail(), "block 0: scale") != NULL, "%s", lutdb_errdetail());
				continue;
			}
			CHECK(rc == LUTDB_OK, "%s scale %04x: rc %d", lq_name(TYPES[t]), h, rc);
			for (uint32_t j = 0; j < 32; j++) {
				float want = ref_value(TYPES[t], blk, j);

				CHECK(fbits(y[j]) == fbits(want), "%s scale %04x value %u: %a != %a",
					      lq_name(TYPES[t]), h, j, (double)y[j], (double)want);
			}
		}
	}
}
END_TEST

/* A non-finite scale in a later block: ECORRUPT naming it, earlier blocks
 * decoded, nothing written past dst[n). */
START_TEST(hostile_later_block)
{
	const uint16_t bad[] = { 0x7c00, 0xfc00, 0x7c01, 0x7e00, 0xffff };

	for (size_t t = 0; t < 4; t++) {
		uint32_t b = TYPES[t] <= LQ_DTYPE_Q4_0 ? 32 : 128;
		uint64_t bb = lq_block_bytes(TYPES[t], b), len = lq_bytes(TYPES[t], b, 4 * b);
		uint8_t *q = malloc(len);
		float *y = malloc(4 * b * 4);

		for (uint64_t i = 0; i < len; i++)
			q[i] = (uint8_t)next();
		for (int k = 0; k < 4; k++)
			wr16(q + k * bb, 0x3c00);
		for (size_t i = 0; i < 5; i++) {
			char want[64];

			wr16(q + 2 * bb, bad[i]);
			snprintf(want, sizeof want, "%s block 2: scale 0x%04x is not finite", lq_name(TYPES[t]),
				 bad[i]);
			EXPECT(deq_guarded(TYPES[t], b, q, 4 * b, y), LUTDB_ECORRUPT, want);
			for (uint32_t j = 0; j < 2 * b; j++)
				CHECK(fbits(y[j]) == fbits(ref_value(TYPES[t], q + (j / b) * bb, j % b)), "value %u",
				      j);
		}
		free(q);
		free(y);
	}
}
END_TEST

/* ---- NF codes and the nearest-code rule ------------------------------------ */

START_TEST(nf_codes)
{
	/* the NF4 list */
	static const double nf4[16] = {
		-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
		-0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
		0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
		0.7229568362236023, 1.0,
	};
	/* spec 10.4 */
	static const double nf3[8] = {
		-1.0, -0.5350227952003479, -0.24693147838115692, 0.0, 0.1833374798297882, 0.38199394941329956,
		0.62298583984375, 1.0,
	};

	for (int i = 0; i < 16; i++)
		ck_assert_msg((double)lq_nf4_code[i] == nf4[i], "NF4 code %d", i);
	for (int i = 0; i < 8; i++)
		ck_assert_msg((double)lq_nf3_code[i] == nf3[i], "NF3 code %d", i);
}
END_TEST

/* The rule: the smallest index i minimising fabsf(z - code[i]) (a float32
 * subtraction).  Brute force over every code. */
static unsigned nearest(float z, const float *code, unsigned n)
{
	unsigned best = 0;
	float bd = fabsf(z - code[0]);

	for (unsigned i = 1; i < n; i++) {
		float d = fabsf(z - code[i]);

		if (d < bd) {
			bd = d;
			best = i;
		}
	}
	return best;
}

/* Index the quantizer gives z: a block with max 1.0 (F16 3C00), so z = x. */
static unsigned quant_index(int dtype, float z)
{
	float x[32] = { 0 };
	uint8_t q[18];

	x[0] = 1.0f;
	x[1] = z;
	CHECK(lq_quantize(dtype, 32, x, 32, q) == LUTDB_OK, "quantize %a", (double)z);
	CHECK(rd16(q) == 0x3c00, "scale %04x", rd16(q));
	if (dtype == LQ_DTYPE_NF4)
		return q[2] >> 4;
	return (q[2] >> 3) & 7;
}

START_TEST(nf_thresholds)
{
	for (int k = 0; k < 2; k++) {
		int dtype = k ? LQ_DTYPE_NF3 : LQ_DTYPE_NF4;
		const float *code = k ? lq_nf3_code : lq_nf4_code, *split = k ? lq_nf3_split : lq_nf4_split;
		unsigned n = k ? 8 : 16;

		for (unsigned i = 0; i + 1 < n; i++) {
			float t = split[i], up = nextafterf(t, 2.0f);
			float mid = (float)(((double)code[i] + code[i + 1]) / 2);

			/* tight: t picks i, the next float picks i + 1 */
			ck_assert_uint_eq(nearest(t, code, n), i);
			ck_assert_uint_eq(nearest(up, code, n), i + 1);
			ck_assert_msg(fabs((double)t - (mid)) < 1e-7, "split %u far from the midpoint", i);
			ck_assert_uint_eq(quant_index(dtype, t), i);
			ck_assert_uint_eq(quant_index(dtype, up), i + 1);
			ck_assert_uint_eq(quant_index(dtype, nextafterf(t, -2.0f)), i);
			ck_assert_uint_eq(quant_index(dtype, code[i]), i);
		}
		for (int r = 0; r < 20000; r++) {
			float z = (float)((double)(next() >> 11) * 0x1p-53 * 2.0 - 1.0);

			if (r % 4 == 0) /* a near-threshold z */
				z = bitsf(fbits(split[next() % (n - 1)]) + (uint32_t)(next() % 7) - 3u);
			CHECK(quant_index(dtype, z) == nearest(z, code, n), "%s: z = %a", lq_name(dtype), (double)z);
		}
	}
}
END_TEST

/* ---- round-trip error bounds ------------------------------------------------ */

START_TEST(error_bounds)
{
	enum { N = 768 * 16 };
	float *x = malloc(N * 4), *y = malloc(N * 4);
	const struct {
		int dtype;
		uint32_t block;
		double bound; /* in units of the block's scale (amax/127, amax/8, amax) */
	} c[] = {
		{ LQ_DTYPE_Q8_0, 32, 0.5 + 127 * 0x1p-11 + 1e-3 }, { LQ_DTYPE_Q4_0, 32, 1.0 + 8 * 0x1p-11 + 1e-3 },
		{ LQ_DTYPE_NF4, 64, 0.152 + 0x1p-10 },           { LQ_DTYPE_NF4, 768, 0.152 + 0x1p-10 },
		{ LQ_DTYPE_NF3, 128, 0.2325 + 0x1p-10 },         { LQ_DTYPE_NF3, 768, 0.2325 + 0x1p-10 },
	};

	for (int i = 0; i < N; i++)
		x[i] = gauss(1.0f) * expf(gauss(1.0f));
	for (size_t t = 0; t < sizeof c / sizeof c[0]; t++) {
		uint32_t b = c[t].block;
		int rc;
		uint8_t *q = quant_guarded(c[t].dtype, b, x, N, &rc);
		double se = 0, sx = 0;

		ck_assert_int_eq(rc, LUTDB_OK);
		ck_assert_int_eq(lq_dequantize(c[t].dtype, b, q, N, y), LUTDB_OK);
		for (int k = 0; k < N / (int)b; k++) {
			double amax = 0, worst = 0, unit;

			for (uint32_t j = 0; j < b; j++)
				amax = fmax(amax, fabs((double)x[k * b + j]));
			unit = c[t].dtype == LQ_DTYPE_Q8_0 ? amax / 127 : c[t].dtype == LQ_DTYPE_Q4_0 ? amax / 8 : amax;
			for (uint32_t j = 0; j < b; j++) {
				double e = fabs((double)x[k * b + j] - (double)y[k * b + j]);

				worst = fmax(worst, e);
				se += e * e;
				sx += (double)x[k * b + j] * x[k * b + j];
			}
			CHECK(worst <= c[t].bound * unit, "%s-%u block %d: error %g > %g", lq_name(c[t].dtype), b,
				      k, worst, c[t].bound * unit);
		}
		printf("%s-%u: relative RMS error %.4f\n", lq_name(c[t].dtype), b, sqrt(se / sx));
		free(q);
	}
	free(x);
	free(y);
}
END_TEST

/* ---- throughput (information only) --------------------------------------- */

START_TEST(throughput)
{
	enum { N = 768 * 342 }; /* 1.05 MB of float input */
	float *x = malloc(N * 4), *y = malloc(N * 4);
	uint8_t *q = malloc(N * 2);
	const struct {
		int dtype;
		uint32_t block;
	} c[] = { { LQ_DTYPE_Q8_0, 32 }, { LQ_DTYPE_Q4_0, 32 }, { LQ_DTYPE_NF4, 64 },
		  { LQ_DTYPE_NF4, 768 }, { LQ_DTYPE_NF3, 64 }, { LQ_DTYPE_NF3, 128 } };

	for (int i = 0; i < N; i++)
		x[i] = gauss(0.05f);
	for (size_t t = 0; t < sizeof c / sizeof c[0]; t++) {
		double bq = 1e9, bd = 1e9;

		for (int r = 0; r < 3; r++) {
			double t0 = now();

			ck_assert_int_eq(lq_quantize(c[t].dtype, c[t].block, x, N, q), LUTDB_OK);
			t0 = now() - t0;
			bq = t0 < bq ? t0 : bq;
			t0 = now();
			ck_assert_int_eq(lq_dequantize(c[t].dtype, c[t].block, q, N, y), LUTDB_OK);
			t0 = now() - t0;
			bd = t0 < bd ? t0 : bd;
		}
		printf("%-4s B=%-3u quantize %6.0f MB/s of float input, dequantize %6.0f MB/s of float output\n",
		       lq_name(c[t].dtype), c[t].block, N * 4 / bq / 1e6, N * 4 / bd / 1e6);
	}
	free(x);
	free(y);
	free(q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("quant");
	TCase *tc;

	tc = tcase_create("rules");
	tcase_add_test(tc, names);
	tcase_add_test(tc, block_rules);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, worked_examples);
	tcase_add_test(tc, zero_blocks);
	tcase_add_test(tc, nf_codes);
	suite_add_tcase(s, tc);

	tc = tcase_create("reference");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reference_fixtures);
	tcase_add_test(tc, blocks_independent);
	tcase_add_test(tc, nf_thresholds);
	tcase_add_test(tc, error_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, refuse_nonfinite);
	tcase_add_test(tc, refuse_overflow);
	tcase_add_test(tc, refuse_arguments);
	tcase_add_test(tc, tiny_scales);
	tcase_add_test(tc, hostile_every_scale);
	tcase_add_test(tc, hostile_later_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("speed");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, throughput);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
