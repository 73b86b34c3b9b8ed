/* cpu.c - probing the CPU's instruction-set features (cpu.h). */
#include "cpu.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#if defined(__clang__)
/* clang 14's __builtin_cpu_supports does not know "f16c" (a compile error):
 * CPUID leaf 1, ECX bit 29, as gcc's builtin reads it. */
#include <cpuid.h>
static int has_f16c(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#else
static int has_f16c(void)
{
	return __builtin_cpu_supports("f16c");
}
#endif

/* libgcc's (or compiler-rt's) CPU model, which also checks that the OS
 * enabled the AVX and AVX-512 register state. */
static unsigned probe(void)
{
	unsigned f = 0;

	__builtin_cpu_init();
	f |= __builtin_cpu_supports("avx2") ? LUTDB_CPU_AVX2 : 0;
	f |= __builtin_cpu_supports("fma") ? LUTDB_CPU_FMA : 0;
	f |= has_f16c() ? LUTDB_CPU_F16C : 0;
	f |= __builtin_cpu_supports("avx512f") ? LUTDB_CPU_AVX512F : 0;
	f |= __builtin_cpu_supports("avx512bw") ? LUTDB_CPU_AVX512BW : 0;
	f |= __builtin_cpu_supports("avx512vl") ? LUTDB_CPU_AVX512VL : 0;
	f |= __builtin_cpu_supports("avx512dq") ? LUTDB_CPU_AVX512DQ : 0;
	return f;
}
#else
static unsigned probe(void)
{
	return 0;
}
#endif

/* The probe's answer plus a "known" bit; racing first calls store the same
 * value, so relaxed atomics suffice. */
#define KNOWN 0x80000000u
static _Atomic unsigned features;

unsigned lutdb_cpu_features(void)
{
	unsigned f = atomic_load_explicit(&features, memory_order_relaxed);

	if (!(f & KNOWN)) {
		f = probe() | KNOWN;
		atomic_store_explicit(&features, f, memory_order_relaxed);
	}
	return f & ~KNOWN;
}
