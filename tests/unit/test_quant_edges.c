/*
 * test_quant_edges.c - the edges of the block-quantized types (format/quant):
 * what the quantizers refuse (NaN, infinities, scales beyond F16, bad
 * arguments) with which detail, blocks of float32-subnormal magnitude, and
 * what hostile bytes decode to: every F16 scale pattern checked against
 * products done in double, and a non-finite scale in a later block.
 *
 * Split from test_format_quant (the byte layout against the PyTorch
 * reference, the spec's rules and examples); the vector paths against the
 * scalar one are test_quant_vector.  Needs no fixtures.  Output buffers are
 * exact-size heap blocks followed by a canary.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "numeric.h"
#include "quant.h"
#include "testutil.h"
#include "quant_testutil.h"

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

int main(void)
{
	Suite *s = suite_create("quant_edges");
	TCase *tc = tcase_create("refusals");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, refuse_nonfinite);
	tcase_add_test(tc, refuse_overflow);
	tcase_add_test(tc, refuse_arguments);
	tcase_add_test(tc, tiny_scales);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hostile_every_scale);
	tcase_add_test(tc, hostile_later_block);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
