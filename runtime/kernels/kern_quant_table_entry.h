/*
 * kern_quant_table_entry.h - the table entry points of one ISA, included at
 * the end of kern_quant_<isa>.c after that file's block decoders:
 *
 *   #define LKQ_ENTRY(name) name##_avx2
 *   #include "kern_quant_table_entry.h"
 *
 * The including file defines INL, tdot, tdot_at, taxpy and tcvt (its
 * ISA's loops over one type's blocks); what is left per ISA is only the
 * dispatch by type, which is the same everywhere and written once here.
 */

float LKQ_ENTRY(lkq_table_dot)(int kdt, const void *a, size_t off, const float *b, size_t n)
{
	float r = 0.0f;
	lkq_check_table("lk_table_dot", kdt, off);
#define F(t, B, bb, ...) r = tdot(t, B, bb, __VA_ARGS__)
	LKQ_BY_TYPE(kdt, F, a, off, b, n)
#undef F
	return r;
}

/* rows ldb bytes apart: the same index in the block, a block pointer per row */
INL void tmatvec(int t, uint32_t B, size_t bb, const unsigned char *W, size_t ldb, size_t off, size_t rows, size_t n,
		 const float *x, float *y)
{
	qpos c = qpos_at(W, B, bb, off);
	for (size_t r = 0; r < rows; r++, c.blk += ldb)
		y[r] = tdot_at(t, B, bb, c, x, n);
}

void LKQ_ENTRY(lkq_table_matvec)(int kdt, const void *W, size_t ldb, size_t off, size_t rows, size_t n,
				 const float *x, float *y)
{
	lkq_check_table("lk_table_matvec", kdt, off);
	LKQ_BY_TYPE(kdt, tmatvec, W, ldb, off, rows, n, x, y)
}

void LKQ_ENTRY(lkq_table_axpy)(int kdt, float alpha, const void *x, size_t off, float *y, size_t n)
{
	lkq_check_table("lk_table_axpy", kdt, off);
	LKQ_BY_TYPE(kdt, taxpy, alpha, x, off, y, n)
}

void LKQ_ENTRY(lkq_to_f32)(int kdt, const void *src, float *dst, size_t n)
{
	lkq_check_table("lk_to_f32", kdt, 0);
	LKQ_BY_TYPE(kdt, tcvt, src, dst, n)
}

#undef LKQ_ENTRY
