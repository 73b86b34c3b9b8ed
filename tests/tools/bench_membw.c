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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "pool.h"
#include "stream_sum.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Without stream_sum.h's SIMD (x86 without AVX2): 64-bit words. */
static uint64_t sum_plain(const unsigned char *p, size_t n)
{
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		uint64_t v[4];
		memcpy(v, p + i, 32);
		s0 += v[0];
		s1 += v[1];
		s2 += v[2];
		s3 += v[3];
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		s0 += v;
	}
	return s0 + s1 + s2 + s3;
}

struct job {
	const unsigned char *buf;
	size_t len;
	int simd, streams;
	uint64_t sums[64];
};

static void task(void *ctx, int t, int nt)
{
	struct job *j = ctx;
	size_t b, e;
	lk_split_range(j->len, nt, t, 4096, &b, &e);
	j->sums[t & 63] += !j->simd ? sum_plain(j->buf + b, e - b)
			   : j->streams == 8 ? stream_sum8(j->buf + b, e - b)
					     : stream_sum(j->buf + b, e - b);
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
	struct job j = {buf, len, stream_simd(), 8, {0}};
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
