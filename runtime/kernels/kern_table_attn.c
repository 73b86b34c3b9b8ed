/*
 * kern_table_attn.c - the MoLKV head kernels (kernels.h, "MoLKV: one expert
 * head over a window"), portable C11: the reference the SIMD ones are
 * tested against, and the fallback without AVX2.
 *
 * Written as exactly what the contract says - the scalar table kernels, one
 * vector at a time - so they are that by construction; the SIMD files
 * (kern_table_attn_avx2.c, _avx512.c, _neon.c) do the same arithmetic in one
 * pass over the window.
 */
#include "kernels.h"

#include <string.h>

#include "kern_quant.h"

/* Bytes from one vector of a position to the next: ld whole blocks. */
static size_t vector_bytes(int kdt, size_t ld, const char *where)
{
	size_t ldb = lk_dt_bytes(kdt, ld);
	if (ldb == 0 && ld != 0)
		lk_bad_dtype(where, kdt);
	return ldb;
}

void lk_table_attn_scores_scalar(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *q, float *scores)
{
	const size_t ldb = vector_bytes(kdt, ld, "lk_table_attn_scores (ld not whole blocks)");
	for (size_t s = 0; s < npos; s++)
		for (size_t r = 0; r < N; r++)
			scores[s * N + r] = lk_kernels_scalar.table_dot(kdt, rows[s] + base + r * ldb, off, q, n);
}

void lk_table_attn_values_scalar(int kdt, const unsigned char *const *rows, size_t base, size_t npos, size_t N,
				 size_t ld, size_t off, size_t n, const float *w, float *out)
{
	const size_t ldb = vector_bytes(kdt, ld, "lk_table_attn_values (ld not whole blocks)");
	memset(out, 0, n * sizeof *out);
	for (size_t s = 0; s < npos; s++)
		for (size_t r = 0; r < N; r++)
			lk_kernels_scalar.table_axpy(kdt, w[s * N + r], rows[s] + base + r * ldb, off, out, n);
}
