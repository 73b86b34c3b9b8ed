/*
 * bench_membw - read bandwidth of this machine: a streaming sum over a 1 GiB
 * buffer split between N threads (the lutdb pool, as the decoder uses it),
 * median of several runs.  The baseline bench_kernels divides matvec
 * throughput by.
 *
 *   bench_membw [threads] [MiB] [runs]      defaults: 1 1024 7
 *
 * Prints one line: "membw threads=N size=1024MiB runs=7 median=XX.X GB/s
 * (min .. max; 8 streams per thread) [1 stream: median YY.Y]".  Each thread
 * reads its slice as 8 interleaved streams (a single stream is limited by
 * the hardware prefetcher here); GB = 1e9 bytes.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "pool.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sum of 64-bit words, 8 independent 256-bit accumulators, 256 bytes per
 * iteration: far more load throughput than any memory system has. */
__attribute__((target("avx2"))) static uint64_t sum_avx2(const unsigned char *p, size_t n)
{
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
		a7 = a0;
	size_t i = 0;
	for (; i + 256 <= n; i += 256) {
		a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(const void *)(p + i)));
		a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32)));
		a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 64)));
		a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 96)));
		a4 = _mm256_add_epi64(a4, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 128)));
		a5 = _mm256_add_epi64(a5, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 160)));
		a6 = _mm256_add_epi64(a6, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 192)));
		a7 = _mm256_add_epi64(a7, _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 224)));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)),
			      _mm256_add_epi64(_mm256_add_epi64(a4, a5), _mm256_add_epi64(a6, a7)));
	uint64_t l[4];
	_mm256_storeu_si256((__m256i *)(void *)l, a0);
	uint64_t s = l[0] + l[1] + l[2] + l[3];
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		s += v;
	}
	return s;
}

/* The same sum reading 8 equal parts of the range in lockstep, 64 bytes
 * from each in turn: 8 concurrent streams, as a matvec over 8 rows has.
 * On this machine one stream is limited by the hardware prefetcher
 * (22-31 GB/s) where 8 reach 35-36 GB/s (1 thread, measured), so this is
 * the read bandwidth figure. */
__attribute__((target("avx2"))) static uint64_t sum8_avx2(const unsigned char *p, size_t n)
{
	size_t part = n / 8 / 64 * 64;
	__m256i a[8];
	for (int s = 0; s < 8; s++)
		a[s] = _mm256_setzero_si256();
	for (size_t i = 0; i < part; i += 64)
		for (int s = 0; s < 8; s++) {
			const unsigned char *q = p + (size_t)s * part + i;
			a[s] = _mm256_add_epi64(a[s], _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(const void *)q),
								       _mm256_loadu_si256((const __m256i *)(const void *)(q + 32))));
		}
	for (int s = 1; s < 8; s++)
		a[0] = _mm256_add_epi64(a[0], a[s]);
	uint64_t l[4];
	_mm256_storeu_si256((__m256i *)(void *)l, a[0]);
	return l[0] + l[1] + l[2] + l[3] + sum_avx2(p + 8 * part, n - 8 * part);
}

static uint64_t sum_sse2(const unsigned char *p, size_t n)
{
	__m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 64 <= n; i += 64) {
		a0 = _mm_add_epi64(a0, _mm_loadu_si128((const __m128i *)(const void *)(p + i)));
		a1 = _mm_add_epi64(a1, _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16)));
		a2 = _mm_add_epi64(a2, _mm_loadu_si128((const __m128i *)(const void *)(p + i + 32)));
		a3 = _mm_add_epi64(a3, _mm_loadu_si128((const __m128i *)(const void *)(p + i + 48)));
	}
	a0 = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
	uint64_t l[2];
	_mm_storeu_si128((__m128i *)(void *)l, a0);
	uint64_t s = l[0] + l[1];
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		s += v;
	}
	return s;
}

struct job {
	const unsigned char *buf;
	size_t len;
	int avx2, streams;
	uint64_t sums[64];
};

static void task(void *ctx, int t, int nt)
{
	struct job *j = ctx;
	size_t b, e;
	lk_split_range(j->len, nt, t, 4096, &b, &e);
	j->sums[t & 63] += !j->avx2 ? sum_sse2(j->buf + b, e - b)
			   : j->streams == 8 ? sum8_avx2(j->buf + b, e - b)
					     : sum_avx2(j->buf + b, e - b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
	int runs = argc > 3 ? atoi(argv[3]) : 7;
	if (threads < 1 || threads > 64 || mib < 1 || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: bench_membw [threads 1..64] [MiB] [runs]\n");
		return 2;
	}
	size_t len = mib << 20;
	unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = i * 0x9e3779b97f4a7c15ull;
		memcpy(buf + i, &v, 8);
	}
	lk_pool *pool = lk_pool_new(threads);
	if (!pool) {
		fprintf(stderr, "bench_membw: cannot start %d threads\n", threads);
		return 1;
	}
	struct job j = {buf, len, __builtin_cpu_supports("avx2"), 8, {0}};
	lk_pool_run(pool, task, &j, threads); /* warm up */
	double *gbs = calloc((size_t)runs, sizeof *gbs), *gb1 = calloc((size_t)runs, sizeof *gb1);
	for (int r = 0; r < runs; r++) { /* interleaved: 8 streams, then 1 */
		double t0 = now();
		j.streams = 8;
		lk_pool_run(pool, task, &j, threads);
		double t1 = now();
		j.streams = 1;
		lk_pool_run(pool, task, &j, threads);
		gbs[r] = (double)len / (t1 - t0) / 1e9;
		gb1[r] = (double)len / (now() - t1) / 1e9;
	}
	qsort(gbs, (size_t)runs, sizeof *gbs, cmp_double);
	qsort(gb1, (size_t)runs, sizeof *gb1, cmp_double);
	uint64_t chk = 0;
	for (int t = 0; t < 64; t++)
		chk += j.sums[t];
	printf("membw threads=%d size=%zuMiB runs=%d median=%.1f GB/s (min %.1f max %.1f; 8 streams per thread) "
	       "[1 stream: median %.1f] [chk %llx]\n",
	       threads, mib, runs, gbs[runs / 2], gbs[0], gbs[runs - 1], gb1[runs / 2],
	       (unsigned long long)(chk & 0xfff));
	free(gb1);
	free(gbs);
	lk_pool_free(pool);
	munmap(buf, len);
	return 0;
}
