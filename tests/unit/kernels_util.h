/* kernels_util.h - sizes, dtypes, reference conversions and buffers for the test_kernels*.c suites (header-only). */
#ifndef LUTDB_KERNELS_UTIL_H
#define LUTDB_KERNELS_UTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lutdb_err.h"
#include "testutil.h"

static const size_t SIZES[] = {1, 7, 15, 16, 17, 63, 65, 768, 3072 + 5};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
static const int DTYPES[] = {LUTDB_DTYPE_F32, LUTDB_DTYPE_F16, LUTDB_DTYPE_BF16};
static const double U = 1.0 / 16777216.0; /* 2^-24, float32 unit roundoff */

/* tests/run.sh sets LUTDB_VALGRIND when the suites run under memcheck:
 * the same checks on fewer sizes and points. */
static inline int under_valgrind(void)
{
	const char *v = getenv("LUTDB_VALGRIND");
	return v && *v;
}

/* LUTDB_TEST_QUICK=1 (tests/arm/run.sh sets it for the runs under qemu,
 * where a step costs 20 to 50 times a native one): the heavy suites run
 * every code path on fewer random trials (tests/README.md says which). */
static inline int test_quick(void)
{
	const char *v = getenv("LUTDB_TEST_QUICK");
	return v && *v && strcmp(v, "0") != 0;
}

/* ---- helpers ---------------------------------------------------------------- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static inline float rndf(float lo, float hi)
{
	return lo + (hi - lo) * (float)((double)(rnd() >> 40) / 16777216.0);
}

static inline size_t esz(int dt)
{
	return dt == LUTDB_DTYPE_F32 ? 4 : 2;
}

static inline double half_ref(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	double s = (h & 0x8000) ? -1.0 : 1.0;
	if (e == 0)
		return s * ldexp(m, -24);
	if (e == 31)
		return m ? (double)NAN : s * (double)INFINITY;
	return s * ldexp(1024 + m, e - 25);
}

static inline double bf16_ref(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Element i of a dtype array, as double (exact). */
static inline double wval(int dt, const void *p, size_t i)
{
	const unsigned char *b = p;
	if (dt == LUTDB_DTYPE_F32) {
		float f;
		memcpy(&f, b + 4 * i, 4);
		return f;
	}
	uint16_t h;
	memcpy(&h, b + 2 * i, 2);
	return dt == LUTDB_DTYPE_F16 ? half_ref(h) : bf16_ref(h);
}

/* A random weight in roughly [-2, 2] (exactly representable in dt). */
static inline void wset_random(int dt, void *p, size_t i)
{
	unsigned char *b = p;
	uint64_t r = rnd();
	if (dt == LUTDB_DTYPE_F32) {
		float f = rndf(-2.0f, 2.0f);
		memcpy(b + 4 * i, &f, 4);
	} else if (dt == LUTDB_DTYPE_F16) {
		uint16_t h = (uint16_t)(((r & 1) << 15) | ((10 + (r >> 1) % 7) << 10) | ((r >> 8) & 1023));
		memcpy(b + 2 * i, &h, 2);
	} else {
		uint16_t h = (uint16_t)(((r & 1) << 15) | ((120 + (r >> 1) % 9) << 7) | ((r >> 8) & 127));
		memcpy(b + 2 * i, &h, 2);
	}
}

/* Buffer with its data at a chosen byte offset from a 64-byte boundary. */
typedef struct {
	void *base;
	unsigned char *p;
} obuf;

static inline obuf obuf_new(size_t bytes, size_t off)
{
	obuf b;
	b.base = aligned_alloc(64, ((bytes + off + 64) + 63) / 64 * 64);
	ck_assert_ptr_nonnull(b.base);
	b.p = (unsigned char *)b.base + off;
	return b;
}

static inline int nisas(int *isas)
{
	int n = 0;
	for (int i = 0; i < LK_ISA_COUNT; i++)
		if (lk_isa_supported(i))
			isas[n++] = i;
	return n;
}

static inline int same_bits(float a, float b)
{
	return memcmp(&a, &b, 4) == 0;
}

/* Lists the ISAs under test (stderr), then runs s. */
static inline int run_kernels_suite(Suite *s)
{
	int isas[LK_ISA_COUNT], n = nisas(isas);
	fprintf(stderr, "kernels: testing ISAs:");
	for (int k = 0; k < n; k++)
		fprintf(stderr, " %s", lk_isa_name(isas[k]));
	fprintf(stderr, "\n");
	return run_suite(s);
}

#endif
