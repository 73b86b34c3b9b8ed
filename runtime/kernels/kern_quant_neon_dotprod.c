/*
 * kern_quant_neon_dotprod.c - the dense Q8_0/Q4_0 matvec and prefill with
 * the ARMv8.2 dot product (sdot, the prefill's by element), compiled with
 * -march=armv8.2-a+dotprod (the Makefile's DOTPRODFLAGS, for files named
 * *_dotprod.c) and called only
 * when getauxval reports asimddp (kern_quant_neon.c).  The integers, and so
 * the bits, are those of the ARMv8.0 path and of every ISA (kernels.h).
 */
#include "kern_quant_neon.h"

#define QN(name) lkqn_##name##_dotprod
#define QN_DOT(acc, w, x) vdotq_s32(acc, w, x)
#include "kern_quant_neon_dense.h"

#define QP(name) lkqnp_##name##_dotprod
#define QP_DOT4(acc, x, w, L) vdotq_laneq_s32(acc, x, w, L)
#include "kern_quant_neon_prefill.h"
