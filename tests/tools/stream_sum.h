/*
 * stream_sum.h - the streaming sums whose speed is the read-bandwidth
 * baseline: bench_membw prints it, bench_kernels divides matvec
 * throughput by it in the same run.  One copy, so both measure the same.
 *
 * stream_sum(p, n) reads one stream, stream_sum8(p, n) 8 in lockstep (see
 * sum8_avx2); stream_simd() says whether this CPU runs them (AVX2 on x86;
 * ASIMD, which every aarch64 CPU has, on aarch64).
 */
#ifndef LUTDB_STREAM_SUM_H
#define LUTDB_STREAM_SUM_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

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

static inline int stream_simd(void)
{
	return __builtin_cpu_supports("avx2");
}
#define stream_sum sum_avx2
#define stream_sum8 sum8_avx2

#elif defined(__aarch64__)
#include <arm_neon.h>

/* The same sums on 128-bit registers: 8 accumulators, 128 bytes per
 * iteration. */
static inline uint64_t stream_sum(const unsigned char *p, size_t n)
{
	uint64x2_t a[8];
	for (int s = 0; s < 8; s++)
		a[s] = vdupq_n_u64(0);
	size_t i = 0;
	for (; i + 128 <= n; i += 128)
		for (int s = 0; s < 8; s++)
			a[s] = vaddq_u64(a[s], vreinterpretq_u64_u8(vld1q_u8(p + i + 16 * (size_t)s)));
	for (int s = 1; s < 8; s++)
		a[0] = vaddq_u64(a[0], a[s]);
	uint64_t r = vgetq_lane_u64(a[0], 0) + vgetq_lane_u64(a[0], 1);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		r += v;
	}
	return r;
}

/* 8 equal parts in lockstep, 64 bytes from each in turn (sum8_avx2's). */
static inline uint64_t stream_sum8(const unsigned char *p, size_t n)
{
	size_t part = n / 8 / 64 * 64;
	uint64x2_t a[8];
	for (int s = 0; s < 8; s++)
		a[s] = vdupq_n_u64(0);
	for (size_t i = 0; i < part; i += 64)
		for (int s = 0; s < 8; s++) {
			const unsigned char *q = p + (size_t)s * part + i;
			uint64x2_t v = vaddq_u64(vreinterpretq_u64_u8(vld1q_u8(q)), vreinterpretq_u64_u8(vld1q_u8(q + 16)));
			v = vaddq_u64(v, vaddq_u64(vreinterpretq_u64_u8(vld1q_u8(q + 32)),
						   vreinterpretq_u64_u8(vld1q_u8(q + 48))));
			a[s] = vaddq_u64(a[s], v);
		}
	for (int s = 1; s < 8; s++)
		a[0] = vaddq_u64(a[0], a[s]);
	return vgetq_lane_u64(a[0], 0) + vgetq_lane_u64(a[0], 1) + stream_sum(p + 8 * part, n - 8 * part);
}

static inline int stream_simd(void)
{
	return 1;
}
#else
#error "stream_sum.h: no streaming sum for this architecture"
#endif

#endif
