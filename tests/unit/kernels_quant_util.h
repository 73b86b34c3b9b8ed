/* kernels_quant_util.h - the kernel variants (ISA x VNNI), quantized test data and guarded buffers for
 * test_kernels_quant.c and test_kernels_qtable.c (header-only). */
#ifndef LUTDB_KERNELS_QUANT_UTIL_H
#define LUTDB_KERNELS_QUANT_UTIL_H

#include <sys/mman.h>
#include <unistd.h>

#include "kernels_util.h"
#include "kern_quant.h"
#include "pool.h"
#include "quant.h"

/* Assertions for inner loops: Check's ck_assert_* report every passing
 * check to the parent process (a write per call), too slow for millions. */
#define CHECK(cond, ...)                                \
	do {                                            \
		if (!(cond))                            \
			ck_abort_msg(__VA_ARGS__);      \
	} while (0)
#define CHECK1(cond) CHECK(cond, "%s:%d: %s", __FILE__, __LINE__, #cond)

/* ---- variants: every ISA this CPU has, with and without VNNI where it has it ------------- */
typedef struct {
	int isa, vnni;
	const lk_kernels *K;
	char name[24];
} kvariant;

#define MAX_VARIANTS (2 * LK_ISA_COUNT)

static inline int kvariants(kvariant *v)
{
	int n = 0;
	for (int isa = 0; isa < LK_ISA_COUNT; isa++) {
		if (!lk_isa_supported(isa))
			continue;
		for (int vn = 0; vn <= lk_vnni_supported(isa); vn++) {
			v[n].isa = isa;
			v[n].vnni = vn;
			v[n].K = lk_kernels_for(isa);
			snprintf(v[n].name, sizeof v[n].name, "%s%s", lk_isa_name(isa), vn ? "+vnni" : "");
			n++;
		}
	}
	return n;
}

/* Makes v the active kernels (lk_* entry points and the table's quantized paths). */
static inline void kvariant_use(const kvariant *v)
{
	ck_assert_int_eq(lk_set_isa(v->isa), 0);
	if (v->vnni)
		ck_assert_int_eq(lk_set_vnni(1), 0);
	else
		ck_assert_int_eq(lk_set_vnni(0), 0);
}

static inline void kvariant_reset(void)
{
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
	(void)lk_set_vnni(1);
}

/* ---- data ------------------------------------------------------------------------------ */
/* Roughly normal (sum of four uniforms, variance 1). */
static inline float gauss1(void)
{
	double s = 0;
	for (int i = 0; i < 4; i++)
		s += (double)(rnd() >> 11) * 0x1p-53;
	return (float)((s - 2.0) * 1.7320508);
}

/* n values, normal with a magnitude that changes every 32 values (scales
 * of many sizes, from 2^-12 to 2^6) and an all-zero block now and then. */
static inline void fill_values(float *v, size_t n)
{
	float mag = 1.0f;
	for (size_t i = 0; i < n; i++) {
		if (i % 32 == 0) {
			uint64_t r = rnd();
			mag = r % 11 == 0 ? 0.0f : ldexpf(1.0f, (int)(r % 19) - 12);
		}
		v[i] = gauss1() * mag;
	}
}

/* Quantizes n values into a fresh buffer (malloc'd, exact size); *deq (if
 * not NULL) gets lq_dequantize's values. */
static inline unsigned char *quantized(int type, uint32_t B, const float *v, size_t n, float **deq)
{
	size_t bytes = lq_bytes(type, B, n);
	ck_assert(bytes > 0);
	unsigned char *q = malloc(bytes);
	ck_assert_int_eq(lq_quantize(type, B, v, n, q), LUTDB_OK);
	if (deq) {
		*deq = malloc(n * sizeof(float));
		ck_assert_int_eq(lq_dequantize(type, B, q, n, *deq), LUTDB_OK);
	}
	return q;
}

/* Bits equal, or both NaN. */
static inline int same_value(float a, float b)
{
	return same_bits(a, b) || (isnan(a) && isnan(b));
}

/* ---- guarded buffers: bytes that end where an unreadable page begins -------------------- */
typedef struct {
	void *map;
	size_t maplen;
	unsigned char *p;
} gbuf;

static inline gbuf gbuf_new(size_t bytes)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), data = (bytes + pg - 1) / pg * pg;
	gbuf g;
	g.maplen = data + pg;
	g.map = mmap(NULL, g.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(g.map != MAP_FAILED);
	ck_assert_int_eq(mprotect((unsigned char *)g.map + data, pg, PROT_NONE), 0);
	g.p = (unsigned char *)g.map + data - bytes;
	return g;
}

static inline void gbuf_free(gbuf *g)
{
	munmap(g->map, g->maplen);
}

#endif
