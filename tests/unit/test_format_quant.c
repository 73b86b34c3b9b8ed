/*
 * test_format_quant.c - the block-quantized types (format/quant): Q8_0, Q4_0,
 * NF4, NF3.
 *
 * The expected bytes come from the PyTorch reference (tests/ref/quant_ref.py)
 * through the fixtures under $LUTDB_FIXTURES/quant (make_fixtures.py): for
 * every vector, lq_quantize must write exactly the reference's bytes (or
 * refuse what it refuses), and lq_dequantize must give its values bit for
 * bit.  A missing fixture directory fails the suite.  The rest needs no
 * fixtures: the spec's worked examples, sizes and block rules, zero blocks,
 * blocks quantized alone or together, the NF thresholds re-derived from the
 * code values, error bounds, and a throughput line per type.  Output
 * buffers are exact-size heap blocks followed by a canary.
 *
 * What the quantizers refuse and what hostile bytes decode to are
 * test_quant_edges; the vector paths against the scalar one,
 * test_quant_vector.
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
#include "quant_testutil.h"

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

	tc = tcase_create("speed");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, throughput);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
