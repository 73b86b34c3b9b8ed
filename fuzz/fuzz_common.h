/*
 * fuzz_common.h - helpers shared by the libFuzzer harnesses in fuzz/.
 *
 * Every harness is one .c file defining LLVMFuzzerTestOneInput().  It is
 * linked either with libFuzzer (fuzz/build.sh: clang -fsanitize=fuzzer) or
 * with fuzz/replay_main.c (fuzz/replay.sh: any compiler, ASan + UBSan), which
 * runs it once on every file of the committed corpora.
 *
 * A harness must never fail on bad input: the library reports it with an
 * error code.  What the harness checks, beyond "no crash, no leak, no UB",
 * are the documented contracts: on success the results are consistent (a
 * parsed tensor lies inside the data section, a decoded row has the asked
 * length, ...), on failure the outputs are empty and an error detail is set.
 * A broken contract aborts through FUZZ_CHECK.
 */
#ifndef LUTDB_FUZZ_COMMON_H
#define LUTDB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lutdb_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                       \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: contract broken: %s (last detail: %s)\n",       \
				__FILE__, __LINE__, #cond, lutdb_errdetail());                  \
			abort();                                                               \
		}                                                                              \
	} while (0)

/* Every code a lutdb call may return is one of the pinned list. */
static inline int fuzz_known_code(int rc)
{
	return rc <= 0 && rc >= LUTDB_EINTERNAL;
}

/* A failure must come with a known code. */
#define FUZZ_CHECK_RC(rc) FUZZ_CHECK(fuzz_known_code(rc))

/* Reads every byte of [p, p+n) so ASan sees an out-of-bounds view at once;
 * the sum keeps the compiler from dropping the loads. */
static inline uint64_t fuzz_touch(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += b[i];
	return s;
}

/* Splits data at the first NUL: [0, *a_len) and the rest after the NUL
 * (b NULL when there is none). */
static inline void fuzz_split(const uint8_t *data, size_t size, size_t *a_len, const uint8_t **b, size_t *b_len)
{
	const uint8_t *z = memchr(data, 0, size);
	if (!z) {
		*a_len = size;
		*b = NULL;
		*b_len = 0;
		return;
	}
	*a_len = (size_t)(z - data);
	*b = z + 1;
	*b_len = size - *a_len - 1;
}

/* An exact-size heap copy of p[0..n) (ASan then sees a read past n). */
static inline uint8_t *fuzz_dup(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

#endif
