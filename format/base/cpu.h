/*
 * cpu.h - what this CPU (and its OS) can run, probed in one place
 * (library-internal).
 *
 * The bulk conversions (format/numeric) and the kernel tables
 * (runtime/kernels) both pick code paths by these features; which ISA the
 * kernels use, and the LUTDB_ISA override, stay with the kernels
 * (runtime/kernels/kernels.h).  A feature is reported only when the OS also
 * saves its registers (AVX state in XCR0), so a reported feature can run.
 */
#ifndef LUTDB_CPU_H
#define LUTDB_CPU_H

/* Feature bits. */
#define LUTDB_CPU_AVX2 0x01u
#define LUTDB_CPU_FMA 0x02u
#define LUTDB_CPU_F16C 0x04u
#define LUTDB_CPU_AVX512F 0x08u
#define LUTDB_CPU_AVX512BW 0x10u
#define LUTDB_CPU_AVX512VL 0x20u
#define LUTDB_CPU_AVX512DQ 0x40u
/* Integer dot products (vpdpbusd): AVX512_VNNI on 512/256-bit registers
 * (with AVX512VL), AVX-VNNI its VEX form for 256-bit registers. */
#define LUTDB_CPU_AVX512VNNI 0x80u
#define LUTDB_CPU_AVXVNNI 0x100u
/* aarch64, from getauxval(AT_HWCAP) (Linux and Android): ASIMD (NEON, in
 * every aarch64 CPU Linux runs on, but read like the rest); the ARMv8.2 dot
 * product sdot/udot (asimddp), which the Q8_0/Q4_0 kernels use; half-precision
 * arithmetic, scalar (fphp) and vector (asimdhp), reported but unused (the
 * kernels widen F16 with the base ISA's conversions and compute in float32);
 * SVE, reported, no kernel uses it. */
#define LUTDB_CPU_ASIMD 0x200u
#define LUTDB_CPU_ASIMDDP 0x400u
#define LUTDB_CPU_FPHP 0x800u
#define LUTDB_CPU_ASIMDHP 0x1000u
#define LUTDB_CPU_SVE 0x2000u

/* The features of this CPU: probed at the first call, then a load.  0 on
 * targets other than x86 and aarch64. */
unsigned lutdb_cpu_features(void);

/* 1 when the CPU has every feature in mask. */
static inline int lutdb_cpu_has(unsigned mask)
{
	return (lutdb_cpu_features() & mask) == mask;
}

#endif /* LUTDB_CPU_H */
