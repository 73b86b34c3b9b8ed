/*
 * test_format_dtype.c - dtype helpers and F32/F16/BF16 conversions.
 *
 * Reference values come from torch, run at test time by the python3 that has
 * it (LUTDB_TEST_PYTHON, default /usr/bin/python3) with the script embedded
 * below: torch converts ~2.1M F32 bit patterns (special values, every
 * rounding midpoint of both formats +-1 ulp, uniform random bits, random
 * values in the F16 range) and all 65536 F16 and BF16 patterns to F32.  If
 * torch is missing the torch suite fails (make test installs python3-torch),
 * unless LUTDB_TEST_NO_TORCH=1 is set: then its four tests are reported as
 * skipped (skip.h), never as passed.  lutdb's own output is never used as
 * an expected value: the other suites check against IEEE arithmetic done in
 * double.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "numeric.h"
#include "skip.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t splitmix64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
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

/* Exact value of a finite F16 pattern, computed in double from the IEEE
 * definition (independent of lutdb). */
static double f16_value(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);

	return (h & 0x8000) ? -v : v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- dtype names ---------------------------------------------------------- */

START_TEST(dtype_helpers)
{
	ck_assert_uint_eq(lutdb_dtype_size(LUTDB_DTYPE_F32), 4);
	ck_assert_uint_eq(lutdb_dtype_size(LUTDB_DTYPE_F16), 2);
	ck_assert_uint_eq(lutdb_dtype_size(LUTDB_DTYPE_BF16), 2);
	ck_assert_uint_eq(lutdb_dtype_size(0), 0);
	ck_assert_uint_eq(lutdb_dtype_size(4), 0);
	ck_assert_uint_eq(lutdb_dtype_size(-1), 0);
	ck_assert_str_eq(lutdb_dtype_name(LUTDB_DTYPE_F32), "F32");
	ck_assert_str_eq(lutdb_dtype_name(LUTDB_DTYPE_F16), "F16");
	ck_assert_str_eq(lutdb_dtype_name(LUTDB_DTYPE_BF16), "BF16");
	ck_assert_ptr_null(lutdb_dtype_name(0));
	ck_assert_str_eq(lutdb_dtype_name(16), "Q8_0");
	ck_assert_str_eq(lutdb_dtype_name(19), "NF3");
	ck_assert_ptr_null(lutdb_dtype_name(20));
	ck_assert_int_eq(lutdb_dtype_from_name("F32"), LUTDB_DTYPE_F32);
	ck_assert_int_eq(lutdb_dtype_from_name("F16"), LUTDB_DTYPE_F16);
	ck_assert_int_eq(lutdb_dtype_from_name("BF16"), LUTDB_DTYPE_BF16);
	ck_assert_int_eq(lutdb_dtype_from_name("f32"), 0);
	ck_assert_int_eq(lutdb_dtype_from_name("F64"), 0);
	ck_assert_int_eq(lutdb_dtype_from_name("I64"), 0);
	ck_assert_int_eq(lutdb_dtype_from_name("BF16 "), 0);
	ck_assert_int_eq(lutdb_dtype_from_name(""), 0);
	ck_assert_int_eq(lutdb_dtype_from_name(NULL), 0);
}
END_TEST

/* ---- exhaustive F16 / BF16 ------------------------------------------------ */

START_TEST(f16_all_patterns)
{
	for (uint32_t i = 0; i < 65536; i++) {
		uint16_t h = (uint16_t)i;
		float f = lutdb_f16_to_f32(h);
		uint32_t fb = fbits(f);
		int e = (h >> 10) & 31, m = h & 1023;

		if (e == 31 && m != 0) {
			/* NaN: quieted, payload kept, sign kept; back to canonical. */
			ck_assert_msg(isnan(f), "f16 %04x not NaN", h);
			ck_assert_uint_eq(fb, ((uint32_t)(h & 0x8000) << 16) | 0x7fc00000u | ((uint32_t)m << 13));
			ck_assert_uint_eq(lutdb_f32_to_f16(f), (h & 0x8000) | 0x7e00);
			continue;
		}
		if (e == 31) {
			ck_assert(isinf(f));
			ck_assert_int_eq(signbit(f) != 0, (h & 0x8000) != 0);
		} else {
			ck_assert_msg((double)f == f16_value(h), "f16 %04x -> %a, want %a", h, (double)f, f16_value(h));
			ck_assert_int_eq(signbit(f) != 0, (h & 0x8000) != 0);
		}
		ck_assert_msg(lutdb_f32_to_f16(f) == h, "f16 %04x round trip -> %04x", h, lutdb_f32_to_f16(f));
	}
}
END_TEST

START_TEST(bf16_all_patterns)
{
	for (uint32_t i = 0; i < 65536; i++) {
		uint16_t b = (uint16_t)i;
		float f = lutdb_bf16_to_f32(b);

		ck_assert_uint_eq(fbits(f), (uint32_t)b << 16);
		if (isnan(f))
			ck_assert_uint_eq(lutdb_f32_to_bf16(f), 0xffff);
		else
			ck_assert_msg(lutdb_f32_to_bf16(f) == b, "bf16 %04x round trip -> %04x", b, lutdb_f32_to_bf16(f));
	}
}
END_TEST

/* Rounding checked against the IEEE definition in double: for every F16 and
 * its successor, the exact midpoint rounds to the even one, and one F32 ulp
 * either side rounds to the nearer one. */
START_TEST(f16_midpoints)
{
	for (uint32_t i = 0; i < 0x7c00; i++) {
		for (int s = 0; s < 2; s++) {
			uint16_t lo = (uint16_t)(i | (s ? 0x8000 : 0)), hi = (uint16_t)(lo + 1);
			double a = f16_value(lo);
			double b = (hi & 0x7fff) == 0x7c00 ? (s ? -65536.0 : 65536.0) : f16_value(hi);
			float mid = (float)((a + b) / 2); /* exact in F32 */
			uint16_t even = (lo & 1) ? hi : lo;

			ck_assert((double)mid == (a + b) / 2);
			ck_assert_msg(lutdb_f32_to_f16(mid) == even, "midpoint %a of %04x/%04x -> %04x", (double)mid, lo,
				      hi, lutdb_f32_to_f16(mid));
			ck_assert_uint_eq(lutdb_f32_to_f16(nextafterf(mid, 0.0f)), lo);
			ck_assert_uint_eq(lutdb_f32_to_f16(nextafterf(mid, s ? -INFINITY : INFINITY)), hi);
		}
	}
	/* Below the smallest subnormal's half: zero with sign. */
	ck_assert_uint_eq(lutdb_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);
	ck_assert_uint_eq(lutdb_f32_to_f16(-ldexpf(1.0f, -25)), 0x8000);
	ck_assert_uint_eq(lutdb_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)), 0x0001);
	ck_assert_uint_eq(lutdb_f32_to_f16(bitsf(1)), 0x0000);
	ck_assert_uint_eq(lutdb_f32_to_f16(bitsf(0x80000001u)), 0x8000);
	ck_assert_uint_eq(lutdb_f32_to_f16(65504.0f), 0x7bff);
	ck_assert_uint_eq(lutdb_f32_to_f16(65519.996f), 0x7bff);
	ck_assert_uint_eq(lutdb_f32_to_f16(65520.0f), 0x7c00);
	ck_assert_uint_eq(lutdb_f32_to_f16(bitsf(0x7f7fffffu)), 0x7c00);
	ck_assert_uint_eq(lutdb_f32_to_f16(-INFINITY), 0xfc00);
	ck_assert_uint_eq(lutdb_f32_to_f16(bitsf(0x7f812345u)), 0x7e00);
	ck_assert_uint_eq(lutdb_f32_to_f16(bitsf(0xffc00000u)), 0xfe00);
}
END_TEST

START_TEST(bf16_midpoints)
{
	for (uint32_t i = 0; i < 0x7f80; i++) {
		for (int s = 0; s < 2; s++) {
			uint32_t lo = i | (s ? 0x8000u : 0), hi = lo + 1;
			uint32_t mid = (lo << 16) + 0x8000u, even = (lo & 1) ? hi : lo;

			ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(lo << 16)), lo);
			ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(mid)), even);
			ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(mid - 1)), lo);
			ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(mid + 1)), hi);
		}
	}
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(0x7f7fffffu)), 0x7f80);
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(0x7f7f7fffu)), 0x7f7f);
	ck_assert_uint_eq(lutdb_f32_to_bf16(INFINITY), 0x7f80);
	ck_assert_uint_eq(lutdb_f32_to_bf16(-INFINITY), 0xff80);
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(0x7f800001u)), 0xffff);
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(0xffc00000u)), 0xffff);
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(1)), 0x0000);
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(0x00008000u)), 0x0000);
	ck_assert_uint_eq(lutdb_f32_to_bf16(bitsf(0x00018000u)), 0x0002);
}
END_TEST

/* ---- torch reference ------------------------------------------------------ */

static const char torch_script[] =
	"import sys\n"
	"import numpy as np\n"
	"import torch\n"
	"a = np.fromfile(sys.argv[1], dtype='<u4').view(np.float32)\n"
	"t = torch.from_numpy(a)\n"
	"h = t.to(torch.float16).view(torch.int16).numpy().view('<u2')\n"
	"b = t.to(torch.bfloat16).view(torch.int16).numpy().view('<u2')\n"
	"u = torch.from_numpy(np.arange(65536, dtype=np.uint16).view(np.int16))\n"
	"hf = u.view(torch.float16).float().view(torch.int32).numpy().view('<u4')\n"
	"bf = u.view(torch.bfloat16).float().view(torch.int32).numpy().view('<u4')\n"
	"with open(sys.argv[2], 'wb') as f:\n"
	"    for x in (h, b, hf, bf):\n"
	"        f.write(np.ascontiguousarray(x).tobytes())\n";

#define N_RANDOM (1u << 21)

static uint32_t *ref_in;   /* F32 patterns */
static size_t ref_n;
static uint16_t *ref_f16, *ref_bf16; /* torch results */
static uint32_t *ref_f16_f32, *ref_bf16_f32; /* 65536 each */
static int ref_state;      /* 0 not run, 1 ok, -1 failed, 2 skipped */
static char ref_error[1024];

static void push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 4096;
		*v = realloc(*v, *cap * sizeof **v);
		if (*v == NULL)
			abort();
	}
	(*v)[(*n)++] = x;
}

static void build_inputs(void)
{
	static const uint32_t special[] = {
		0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000, 0x3f800000, 0xbf800000,
		0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001,
		0x7fbfffff, 0x7fffffff, 0xffffffff, 0x7f812345, 0x7fa00000, 0x477fe000, 0x477fefff, 0x477ff000,
		0x477ff001, 0x47800000, 0x33000000, 0x33000001, 0x32ffffff, 0x33800000, 0x387fc000, 0x387fe000,
		0x38800000, 0x38000000, 0x337fffff, 0x33c00000, 0x33a00000,
	};
	size_t cap = 0, i;

	ref_n = 0;
	for (i = 0; i < sizeof special / sizeof special[0]; i++)
		push(&ref_in, &ref_n, &cap, special[i]);
	/* Every F16 midpoint (in F32 bits) and +-1 ulp, both signs. */
	for (i = 0; i < 0x7c00; i++) {
		double a = f16_value((uint16_t)i), b = i == 0x7bff ? 65536.0 : f16_value((uint16_t)(i + 1));
		uint32_t m = fbits((float)((a + b) / 2));

		for (uint32_t s = 0; s < 2; s++) {
			push(&ref_in, &ref_n, &cap, (m | s << 31) - 1);
			push(&ref_in, &ref_n, &cap, m | s << 31);
			push(&ref_in, &ref_n, &cap, (m | s << 31) + 1);
		}
	}
	/* Every BF16 midpoint +-1, both signs (including into the NaN range). */
	for (i = 0; i < 0x8000; i++) {
		for (uint32_t s = 0; s < 2; s++) {
			uint32_t m = ((uint32_t)i << 16 | s << 31) + 0x8000u;

			push(&ref_in, &ref_n, &cap, m - 1);
			push(&ref_in, &ref_n, &cap, m);
			push(&ref_in, &ref_n, &cap, m + 1);
		}
	}
	/* Random bit patterns, and random values inside the F16 range. */
	for (i = 0; i < N_RANDOM / 2; i++)
		push(&ref_in, &ref_n, &cap, (uint32_t)splitmix64());
	for (i = 0; i < N_RANDOM / 2; i++) {
		uint64_t r = splitmix64();
		uint32_t e = 127 - 26 + (uint32_t)(r % 43); /* 2^-26 .. 2^16 */

		push(&ref_in, &ref_n, &cap, (uint32_t)(r >> 32 & 0x807fffffu) | e << 23);
	}
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	void *p;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc(n > 0 ? (size_t)n : 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Runs torch once, before the suites fork. */
static void run_torch(void)
{
	const char *py = getenv("LUTDB_TEST_PYTHON");
	const char *tmp = getenv("TMPDIR");
	char dir[512], in[600], out[600], script[600], cmd[2400];
	FILE *f;
	uint8_t *res;
	size_t len = 0, want;
	int st;

	build_inputs();
	if (getenv("LUTDB_TEST_NO_TORCH") && strcmp(getenv("LUTDB_TEST_NO_TORCH"), "1") == 0) {
		ref_state = 2;
		return;
	}
	if (py == NULL || *py == '\0')
		py = "/usr/bin/python3";
	snprintf(dir, sizeof dir, "%s/lutdb-dtype-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		ref_state = -1;
		snprintf(ref_error, sizeof ref_error, "mkdtemp %s failed", dir);
		return;
	}
	snprintf(in, sizeof in, "%s/in.bin", dir);
	snprintf(out, sizeof out, "%s/out.bin", dir);
	snprintf(script, sizeof script, "%s/ref.py", dir);
	f = fopen(script, "w");
	if (f == NULL || fputs(torch_script, f) < 0 || fclose(f) != 0) {
		ref_state = -1;
		snprintf(ref_error, sizeof ref_error, "cannot write %s", script);
		return;
	}
	f = fopen(in, "wb");
	if (f == NULL) {
		ref_state = -1;
		snprintf(ref_error, sizeof ref_error, "cannot write %s", in);
		return;
	}
	for (size_t i = 0; i < ref_n; i++) {
		uint8_t b[4] = { (uint8_t)ref_in[i], (uint8_t)(ref_in[i] >> 8), (uint8_t)(ref_in[i] >> 16),
				 (uint8_t)(ref_in[i] >> 24) };
		fwrite(b, 1, 4, f);
	}
	fclose(f);
	snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", py, script, in, out);
	st = system(cmd);
	res = st == 0 ? slurp(out, &len) : NULL;
	want = ref_n * 2 * 2 + 65536 * 4 * 2;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
	if (res == NULL || len != want) {
		ref_state = -1;
		snprintf(ref_error, sizeof ref_error,
			 "torch reference failed (%s, exit status %d): install python3-torch or set "
			 "LUTDB_TEST_PYTHON, or LUTDB_TEST_NO_TORCH=1 to skip",
			 py, st);
		free(res);
		return;
	}
	/* Little-endian host (x86): the bytes are the arrays. */
	ref_f16 = (uint16_t *)(void *)res;
	ref_bf16 = ref_f16 + ref_n;
	ref_f16_f32 = (uint32_t *)(void *)(res + ref_n * 4);
	ref_bf16_f32 = ref_f16_f32 + 65536;
	ref_state = 1;
}

/* 0 when the reference was opted out of (the caller skips), 1 when it ran;
 * fails the test when it should have run and did not. */
static int torch_ready(void)
{
	if (ref_state == 2)
		return 0;
	ck_assert_msg(ref_state == 1, "%s", ref_error);
	return 1;
}
#define TORCH_OPTED_OUT "no torch reference (LUTDB_TEST_NO_TORCH=1)"

START_TEST(torch_f32_to_f16)
{
	size_t bad = 0;

	if (!torch_ready())
		SKIP_TEST(TORCH_OPTED_OUT);
	ck_assert_uint_ge(ref_n, 1000000);
	for (size_t i = 0; i < ref_n; i++) {
		uint16_t got = lutdb_f32_to_f16(bitsf(ref_in[i]));

		if (got != ref_f16[i] && bad++ < 10)
			fprintf(stderr, "f32 %08x: lutdb f16 %04x, torch %04x\n", ref_in[i], got, ref_f16[i]);
	}
	ck_assert_msg(bad == 0, "%zu of %zu F32->F16 conversions differ from torch", bad, ref_n);
}
END_TEST

START_TEST(torch_f32_to_bf16)
{
	size_t bad = 0;

	if (!torch_ready())
		SKIP_TEST(TORCH_OPTED_OUT);
	for (size_t i = 0; i < ref_n; i++) {
		uint16_t got = lutdb_f32_to_bf16(bitsf(ref_in[i]));

		if (got != ref_bf16[i] && bad++ < 10)
			fprintf(stderr, "f32 %08x: lutdb bf16 %04x, torch %04x\n", ref_in[i], got, ref_bf16[i]);
	}
	ck_assert_msg(bad == 0, "%zu of %zu F32->BF16 conversions differ from torch", bad, ref_n);
}
END_TEST

START_TEST(torch_16_to_f32)
{
	if (!torch_ready())
		SKIP_TEST(TORCH_OPTED_OUT);
	for (uint32_t i = 0; i < 65536; i++) {
		ck_assert_msg(fbits(lutdb_f16_to_f32((uint16_t)i)) == ref_f16_f32[i], "f16 %04x: %08x, torch %08x", i,
			      fbits(lutdb_f16_to_f32((uint16_t)i)), ref_f16_f32[i]);
		ck_assert_msg(fbits(lutdb_bf16_to_f32((uint16_t)i)) == ref_bf16_f32[i], "bf16 %04x: %08x, torch %08x",
			      i, fbits(lutdb_bf16_to_f32((uint16_t)i)), ref_bf16_f32[i]);
	}
}
END_TEST

/* The bulk path (AVX2 when present) against torch, at odd offsets and
 * lengths so the vector body, the tail and unaligned buffers all run. */
START_TEST(torch_bulk)
{
	uint8_t *dst, *src;
	size_t n;

	if (!torch_ready())
		SKIP_TEST(TORCH_OPTED_OUT);
	n = ref_n;
	src = malloc(n * 4 + 3);
	dst = malloc(n * 4 + 3);
	memcpy(src + 1, ref_in, n * 4);
	lutdb_convert(LUTDB_DTYPE_F16, dst + 3, LUTDB_DTYPE_F32, src + 1, n);
	ck_assert_int_eq(memcmp(dst + 3, ref_f16, n * 2), 0);
	lutdb_convert(LUTDB_DTYPE_BF16, dst + 1, LUTDB_DTYPE_F32, src + 1, n - 7);
	ck_assert_int_eq(memcmp(dst + 1, ref_bf16, (n - 7) * 2), 0);
	for (uint32_t i = 0; i < 65536; i++) {
		uint16_t h = (uint16_t)i;
		memcpy(src + 1 + 2 * i, &h, 2);
	}
	lutdb_convert(LUTDB_DTYPE_F32, dst + 2, LUTDB_DTYPE_F16, src + 1, 65536);
	ck_assert_int_eq(memcmp(dst + 2, ref_f16_f32, 65536 * 4), 0);
	lutdb_convert(LUTDB_DTYPE_F32, dst + 2, LUTDB_DTYPE_BF16, src + 1, 65536);
	ck_assert_int_eq(memcmp(dst + 2, ref_bf16_f32, 65536 * 4), 0);
	free(src);
	free(dst);
}
END_TEST

/* ---- bulk conversion ------------------------------------------------------ */

/* lutdb_convert (SIMD when available) equals the scalar functions element
 * by element, for every length 0..80 and offset 0..3, and on all patterns. */
START_TEST(convert_matches_scalar)
{
	enum { N = 80 };
	uint8_t src[4 * N + 8], dst[4 * N + 8], want[4 * N + 8];
	uint32_t *all;
	uint16_t *h16;

	for (size_t len = 0; len <= N; len++) {
		for (size_t off = 0; off < 4; off++) {
			for (size_t i = 0; i < sizeof src; i++)
				src[i] = (uint8_t)splitmix64();
			/* F32 -> F16 and BF16 */
			for (int to = LUTDB_DTYPE_F16; to <= LUTDB_DTYPE_BF16; to++) {
				memset(dst, 0xAA, sizeof dst);
				lutdb_convert(to, dst + off, LUTDB_DTYPE_F32, src + 3 - off, len);
				for (size_t i = 0; i < len; i++) {
					uint32_t x;
					uint16_t h;

					memcpy(&x, src + 3 - off + 4 * i, 4);
					h = to == LUTDB_DTYPE_F16 ? lutdb_f32_to_f16(bitsf(x)) : lutdb_f32_to_bf16(bitsf(x));
					memcpy(want + 2 * i, &h, 2);
				}
				ck_assert_int_eq(memcmp(dst + off, want, 2 * len), 0);
				ck_assert_uint_eq(dst[off + 2 * len], 0xAA); /* no write past the end */
			}
			/* F16 and BF16 -> F32 */
			for (int from = LUTDB_DTYPE_F16; from <= LUTDB_DTYPE_BF16; from++) {
				memset(dst, 0xAA, sizeof dst);
				lutdb_convert(LUTDB_DTYPE_F32, dst + off, from, src + off, len);
				for (size_t i = 0; i < len; i++) {
					uint16_t h;
					float f;

					memcpy(&h, src + off + 2 * i, 2);
					f = from == LUTDB_DTYPE_F16 ? lutdb_f16_to_f32(h) : lutdb_bf16_to_f32(h);
					memcpy(want + 4 * i, &f, 4);
				}
				ck_assert_int_eq(memcmp(dst + off, want, 4 * len), 0);
				ck_assert_uint_eq(dst[off + 4 * len], 0xAA);
			}
		}
	}
	/* Every 16-bit pattern through F16 <-> BF16 (via F32) and copies. */
	all = malloc(65536 * 4);
	h16 = malloc(65536 * 2);
	for (uint32_t i = 0; i < 65536; i++)
		h16[i] = (uint16_t)i;
	lutdb_convert(LUTDB_DTYPE_BF16, all, LUTDB_DTYPE_F16, h16, 65536);
	for (uint32_t i = 0; i < 65536; i++)
		ck_assert_uint_eq(((uint16_t *)all)[i], lutdb_f32_to_bf16(lutdb_f16_to_f32((uint16_t)i)));
	lutdb_convert(LUTDB_DTYPE_F16, all, LUTDB_DTYPE_BF16, h16, 65536);
	for (uint32_t i = 0; i < 65536; i++)
		ck_assert_uint_eq(((uint16_t *)all)[i], lutdb_f32_to_f16(lutdb_bf16_to_f32((uint16_t)i)));
	lutdb_convert(LUTDB_DTYPE_F16, all, LUTDB_DTYPE_F16, h16, 65536);
	ck_assert_int_eq(memcmp(all, h16, 65536 * 2), 0);
	/* Every F32 exponent with random mantissas: vector path vs scalar. */
	for (uint32_t i = 0; i < 65536; i++)
		all[i] = ((uint32_t)splitmix64() & 0x807fffffu) | (i & 0xffu) << 23;
	lutdb_convert(LUTDB_DTYPE_F16, h16, LUTDB_DTYPE_F32, all, 65536);
	for (uint32_t i = 0; i < 65536; i++)
		ck_assert_uint_eq(h16[i], lutdb_f32_to_f16(bitsf(all[i])));
	lutdb_convert(LUTDB_DTYPE_BF16, h16, LUTDB_DTYPE_F32, all, 65536);
	for (uint32_t i = 0; i < 65536; i++)
		ck_assert_uint_eq(h16[i], lutdb_f32_to_bf16(bitsf(all[i])));
	/* Unknown dtypes: nothing written. */
	memset(dst, 0x55, sizeof dst);
	lutdb_convert(0, dst, LUTDB_DTYPE_F32, src, 4);
	lutdb_convert(LUTDB_DTYPE_F32, dst, 9, src, 4);
	for (size_t i = 0; i < sizeof dst; i++)
		ck_assert_uint_eq(dst[i], 0x55);
	free(all);
	free(h16);
}
END_TEST

/* Throughput, logged only (no timed assertion); fewer elements under
 * memcheck and under qemu (LUTDB_TEST_QUICK), where it measures nothing. */
START_TEST(convert_throughput)
{
	const char *quick = getenv("LUTDB_TEST_QUICK");
	const size_t n = getenv("LUTDB_VALGRIND") || (quick && *quick && strcmp(quick, "0") != 0) ? 1u << 18 : 1u << 24;
	float *f = malloc(n * 4), *g = malloc(n * 4);
	uint16_t *h = malloc(n * 2);
	double t, best;
	struct {
		const char *what;
		int dst, src;
		void *d;
		const void *s;
	} runs[] = {
		{ "F32->F16 ", LUTDB_DTYPE_F16, LUTDB_DTYPE_F32, h, f },
		{ "F16->F32 ", LUTDB_DTYPE_F32, LUTDB_DTYPE_F16, g, h },
		{ "F32->BF16", LUTDB_DTYPE_BF16, LUTDB_DTYPE_F32, h, f },
		{ "BF16->F32", LUTDB_DTYPE_F32, LUTDB_DTYPE_BF16, g, h },
	};

	for (size_t i = 0; i < n; i++)
		f[i] = (float)(splitmix64() >> 40) * 0x1p-20f - 8.0f;
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		best = 1e9;
		for (int k = 0; k < 5; k++) {
			t = now();
			lutdb_convert(runs[r].dst, runs[r].d, runs[r].src, runs[r].s, n);
			t = now() - t;
			best = t < best ? t : best;
		}
		printf("convert %s: %7.0f Melem/s (%zu elements, best of 5)\n", runs[r].what, (double)n / best / 1e6, n);
	}
	/* Scalar reference loop for comparison. */
	t = now();
	for (size_t i = 0; i < n; i++)
		h[i] = lutdb_f32_to_f16(f[i]);
	t = now() - t;
	printf("scalar  F32->F16 : %7.0f Melem/s\n", (double)n / t / 1e6);
	t = now();
	for (size_t i = 0; i < n; i++)
		h[i] = lutdb_f32_to_bf16(f[i]);
	t = now() - t;
	printf("scalar  F32->BF16: %7.0f Melem/s\n", (double)n / t / 1e6);
	ck_assert_uint_eq(h[0], lutdb_f32_to_bf16(f[0]));
	free(f);
	free(g);
	free(h);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	run_torch();

	s = suite_create("dtype");
	tc = tcase_create("names");
	tcase_add_test(tc, dtype_helpers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);

	s = suite_create("ieee");
	tc = tcase_create("exhaustive");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, f16_all_patterns);
	tcase_add_test(tc, bf16_all_patterns);
	tcase_add_test(tc, f16_midpoints);
	tcase_add_test(tc, bf16_midpoints);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("torch");
	tc = tcase_create("reference");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, torch_f32_to_f16);
	tcase_add_test(tc, torch_f32_to_bf16);
	tcase_add_test(tc, torch_16_to_f32);
	tcase_add_test(tc, torch_bulk);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("convert");
	tc = tcase_create("bulk");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, convert_matches_scalar);
	tcase_add_test(tc, convert_throughput);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
