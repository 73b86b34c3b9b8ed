/* cpu.c - probing the CPU's instruction-set features (cpu.h). */
#include "cpu.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* The VNNI bits straight from CPUID (leaf 7: subleaf 0 ECX bit 11
 * AVX512_VNNI, subleaf 1 EAX bit 4 AVX-VNNI), which both compilers know;
 * probe() reports them only with the AVX-512 / AVX register state the
 * builtins have checked. */
static int has_avx512vnni(void)
{
	unsigned a, b, c, d;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 11));
}

static int has_avxvnni(void)
{
	unsigned a, b, c, d;
	/* subleaf 1 exists when subleaf 0 reports it in EAX */
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1)
		return 0;
	return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}

#if defined(__clang__)
/* clang 14's __builtin_cpu_supports does not know "f16c" (a compile error):
 * CPUID leaf 1, ECX bit 29, as gcc's builtin reads it. */
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
	f |= (f & LUTDB_CPU_AVX512F) && has_avx512vnni() ? LUTDB_CPU_AVX512VNNI : 0;
	f |= (f & LUTDB_CPU_AVX2) && has_avxvnni() ? LUTDB_CPU_AVXVNNI : 0;
	return f;
}
#elif defined(__aarch64__) && defined(__linux__)
/* The kernel's hwcaps (Linux and Android's bionic both have getauxval).
 * The bit numbers are the kernel's ABI (arch/arm64/include/uapi/asm/hwcap.h),
 * spelled out for C libraries whose headers lack the newer ones. */
#include <sys/auxv.h>

#define HWCAP_BIT_ASIMD (1ul << 1)
#define HWCAP_BIT_FPHP (1ul << 9)
#define HWCAP_BIT_ASIMDHP (1ul << 10)
#define HWCAP_BIT_ASIMDDP (1ul << 20)
#define HWCAP_BIT_SVE (1ul << 22)

static unsigned probe(void)
{
	unsigned long hw = getauxval(AT_HWCAP);
	unsigned f = 0;

	f |= hw & HWCAP_BIT_ASIMD ? LUTDB_CPU_ASIMD : 0;
	/* the optional ASIMD extensions only count with ASIMD itself */
	if (f & LUTDB_CPU_ASIMD) {
		f |= hw & HWCAP_BIT_ASIMDDP ? LUTDB_CPU_ASIMDDP : 0;
		f |= hw & HWCAP_BIT_ASIMDHP ? LUTDB_CPU_ASIMDHP : 0;
	}
	f |= hw & HWCAP_BIT_FPHP ? LUTDB_CPU_FPHP : 0;
	f |= hw & HWCAP_BIT_SVE ? LUTDB_CPU_SVE : 0;
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
