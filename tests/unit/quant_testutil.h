/*
 * quant_testutil.h - what the format/quant suites share (test_format_quant,
 * test_quant_edges): a seeded generator, float bit helpers, exact-size
 * guarded buffers with a canary, and a fast assertion for inner loops.
 * Header-only; every function is static inline so a suite that leaves one
 * unused still builds with -Werror.
 */
#ifndef LUTDB_QUANT_TESTUTIL_H
#define LUTDB_QUANT_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant.h"

static uint64_t rng = 0x5eed0013ull;

static inline uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Roughly normal (sum of uniforms), scaled. */
static inline float gauss(float scale)
{
	double s = 0;

	for (int i = 0; i < 4; i++)
		s += (double)(next() >> 11) * 0x1p-53;
	return (float)((s - 2.0) * 1.7320508) * scale;
}

static inline uint32_t fbits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float bitsf(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static inline double now(void)
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
static inline uint8_t *quant_guarded(int dtype, uint32_t block, const float *x, size_t n, int *rc)
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
static inline int deq_guarded(int dtype, uint32_t block, const uint8_t *src, size_t n, float *out)
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

static inline void hex_to_bytes(const char *hex, uint8_t *out, size_t *len)
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

#endif /* LUTDB_QUANT_TESTUTIL_H */
