/*
 * test_kernels_qtable.c - the table kernels of the block-quantized types
 * (lk_table_dot, lk_table_axpy, lk_table_matvec, and lk_axpy / lk_to_f32 on
 * quantized codes) of every ISA this CPU has: Q8_0, Q4_0, NF4 and NF3 with
 * blocks from 32 to 8192.
 *
 * kernels.h promises that each gives bitwise what the same ISA's F32 kernel
 * gives on the decoded values; the decoded values come from format/quant's
 * lq_dequantize (tested against the PyTorch reference), so every check here
 * is a comparison with the F32 kernel on lq_dequantize's output: every
 * offset class (multiples of 8, inside and across blocks, the two Q4_0
 * nibble halves), lengths with tails, unaligned data.  Then every F16 scale
 * pattern (NaN and infinite ones of a damaged file included) against the
 * formula code x scale, a NaN scale's reach, and reads that stop at the
 * last block used (guard pages).
 */
#include "bytes.h"
#include "kernels_quant_util.h"

typedef struct {
	int type;
	uint32_t B;
} qtype;

static const qtype TYPES[] = {
	{LQ_DTYPE_Q8_0, 32}, {LQ_DTYPE_Q4_0, 32}, {LQ_DTYPE_NF4, 32},  {LQ_DTYPE_NF4, 64},
	{LQ_DTYPE_NF4, 128}, {LQ_DTYPE_NF4, 768}, {LQ_DTYPE_NF3, 32},  {LQ_DTYPE_NF3, 64},
	{LQ_DTYPE_NF3, 128}, {LQ_DTYPE_NF3, 768}, {LQ_DTYPE_NF4, 8192}, {LQ_DTYPE_NF3, 8192},
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

static const size_t LENS[] = {1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 48, 100, 192};

/* ---- every kernel against the F32 kernel on lq_dequantize's values ----------------------- */
START_TEST(test_table_vs_f32)
{
	int isas[LK_ISA_COUNT], ni = nisas(isas);
	for (size_t ti = 0; ti < NTYPES; ti++) {
		const qtype q = TYPES[ti];
		const int kdt = lk_dt(q.type, q.B);
		/* whole blocks: 3 of 32, 2 of 64, 2 of the others */
		const size_t nv = q.B == 32 ? 96 : 2 * (size_t)q.B;
		const size_t bytes = lq_bytes(q.type, q.B, nv);
		float *v = malloc(nv * 4), *deq, *b = malloc(nv * 4), *y0 = malloc((nv + 1) * 4);
		float *y1 = malloc((nv + 1) * 4), *y2 = malloc((nv + 1) * 4);
		fill_values(v, nv);
		unsigned char *q0 = quantized(q.type, q.B, v, nv, &deq);
		obuf qb = obuf_new(bytes, ti % 3 + 1);
		memcpy(qb.p, q0, bytes);
		for (size_t i = 0; i <= nv; i++) {
			b[i < nv ? i : 0] = rndf(-1, 1);
			y0[i] = rndf(-2, 2);
		}
		/* offsets: around the first block's end and the next blocks' */
		size_t offs[16], no = 0;
		for (size_t o = 0; o < 48 && o < nv; o += 8)
			offs[no++] = o;
		for (size_t o = q.B > 16 ? q.B - 16 : 0; o <= q.B + 16 && o < nv && q.B >= 64; o += 8)
			offs[no++] = o;
		for (int k = 0; k < ni; k++) {
			const lk_kernels *K = lk_kernels_for(isas[k]);
			for (size_t oi = 0; oi < no; oi++)
				for (size_t li = 0; li < sizeof LENS / sizeof LENS[0] + 1; li++) {
					size_t off = offs[oi];
					size_t n = li < sizeof LENS / sizeof LENS[0] ? LENS[li] : nv - off;
					if (off + n > nv || (under_valgrind() && (oi + li) % 4 != 0))
						continue;
					float d1 = K->table_dot(kdt, qb.p, off, b, n);
					float d2 = K->dot(LUTDB_DTYPE_F32, deq + off, b, n);
					CHECK(same_bits(d1, d2), "%s %s/%u off %zu n %zu: dot %.9g, F32 %.9g", K->name,
						      lq_name(q.type), q.B, off, n, (double)d1, (double)d2);
					float alpha = rndf(-2, 2);
					memcpy(y1, y0, (n + 1) * 4);
					memcpy(y2, y0, (n + 1) * 4);
					y1[n] = y2[n] = 5.0f;
					K->table_axpy(kdt, alpha, qb.p, off, y1, n);
					K->axpy(LUTDB_DTYPE_F32, alpha, deq + off, y2, n);
					CHECK(memcmp(y1, y2, (n + 1) * 4) == 0, "%s %s/%u off %zu n %zu: axpy", K->name,
						      lq_name(q.type), q.B, off, n);
				}
			/* offset 0: lk_axpy's and lk_to_f32's quantized paths */
			for (size_t li = 0; li < sizeof LENS / sizeof LENS[0] + 1; li++) {
				size_t n = li < sizeof LENS / sizeof LENS[0] ? LENS[li] : nv;
				if (n > nv)
					continue;
				memcpy(y1, y0, (n + 1) * 4);
				memcpy(y2, y0, (n + 1) * 4);
				K->axpy(kdt, 0.75f, qb.p, y1, n);
				K->table_axpy(kdt, 0.75f, qb.p, 0, y2, n);
				CHECK1(memcmp(y1, y2, (n + 1) * 4) == 0);
				y1[n] = 3.0f;
				K->to_f32(kdt, qb.p, y1, n);
				CHECK(memcmp(y1, deq, n * 4) == 0 && y1[n] == 3.0f, "%s %s/%u to_f32 n %zu", K->name,
					      lq_name(q.type), q.B, n);
			}
		}
		free(v);
		free(deq);
		free(b);
		free(y0);
		free(y1);
		free(y2);
		free(q0);
		free(qb.base);
	}
}
END_TEST

/* ---- lk_table_matvec, the entry points, the float kdt ------------------------------------ */
START_TEST(test_table_matvec)
{
	int isas[LK_ISA_COUNT], ni = nisas(isas);
	const size_t rows = 16, dk = 128;
	static const size_t OFF[] = {0, 32, 40, 96};
	static const size_t N[] = {32, 8, 24, 17};
	for (size_t ti = 0; ti < NTYPES; ti++) {
		const qtype q = TYPES[ti];
		if (q.B > dk)
			continue;
		const int kdt = lk_dt(q.type, q.B);
		float *v = malloc(rows * dk * 4), *deq, x[128], y1[16], y2[16];
		fill_values(v, rows * dk);
		unsigned char *w = quantized(q.type, q.B, v, rows * dk, &deq);
		for (size_t i = 0; i < dk; i++)
			x[i] = rndf(-1, 1);
		for (int k = 0; k < ni; k++) {
			ck_assert_int_eq(lk_set_isa(isas[k]), 0);
			const lk_kernels *K = lk_kernels_active();
			for (int c = 0; c < 4; c++) {
				lk_table_matvec(kdt, w, dk, OFF[c], rows, N[c], x, y1);
				lk_matvec(LUTDB_DTYPE_F32, deq + OFF[c], dk, rows, N[c], x, y2);
				CHECK(memcmp(y1, y2, sizeof y1) == 0, "%s %s/%u matvec off %zu", K->name,
					      lq_name(q.type), q.B, OFF[c]);
				float d = lk_table_dot(kdt, w, OFF[c], x, N[c]);
				CHECK1(same_bits(d, K->table_dot(kdt, w, OFF[c], x, N[c])));
				memcpy(y1, x, sizeof y1);
				memcpy(y2, x, sizeof y2);
				lk_table_axpy(kdt, -1.25f, w, OFF[c], y1, 16);
				K->table_axpy(kdt, -1.25f, w, OFF[c], y2, 16);
				CHECK1(memcmp(y1, y2, sizeof y1) == 0);
			}
		}
		free(v);
		free(deq);
		free(w);
	}
	/* float kdt (F32, F16, BF16): the plain kernels at value off */
	uint32_t wbuf[16 * 64];
	const unsigned char *h = (const unsigned char *)wbuf;
	float x[64], y1[16], y2[16];
	for (int i = 0; i < 64; i++)
		x[i] = rndf(-1, 1);
	for (size_t di = 0; di < 3; di++) {
		const int dt = DTYPES[di];
		const size_t es = lutdb_dtype_size(dt);
		for (size_t i = 0; i < 16 * 64; i++)
			wset_random(dt, wbuf, i);
		for (int k = 0; k < ni; k++) {
			ck_assert_int_eq(lk_set_isa(isas[k]), 0);
			lk_table_matvec(dt, h, 64, 5, 16, 37, x, y1);
			lk_matvec(dt, h + 5 * es, 64, 16, 37, x, y2);
			CHECK(memcmp(y1, y2, sizeof y1) == 0, "%s %s matvec", lk_isa_name(isas[k]), lutdb_dtype_name(dt));
			CHECK(same_bits(lk_table_dot(dt, h, 3, x, 50), lk_dot(dt, h + 3 * es, x, 50)), "%s %s dot",
			      lk_isa_name(isas[k]), lutdb_dtype_name(dt));
			memcpy(y1, x, sizeof y1);
			memcpy(y2, x, sizeof y2);
			lk_table_axpy(dt, 0.5f, h, 9, y1, 16);
			lk_axpy(dt, 0.5f, h + 9 * es, y2, 16);
			CHECK(memcmp(y1, y2, sizeof y1) == 0, "%s %s axpy", lk_isa_name(isas[k]), lutdb_dtype_name(dt));
		}
	}
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
}
END_TEST

/* ---- every F16 scale pattern: the formula, NaN and infinities included --------------------- */

/* Code value of value j of a block (the spec's decode, in double). */
static double code_of(const qtype *q, const unsigned char *blk, size_t j)
{
	const unsigned char *c = blk + 2;
	switch (q->type) {
	case LQ_DTYPE_Q8_0: return (int8_t)c[j];
	case LQ_DTYPE_Q4_0: return (double)((j < 16 ? c[j] & 15 : c[j - 16] >> 4)) - 8;
	case LQ_DTYPE_NF4: return lq_nf4_code[j % 2 ? c[j / 2] >> 4 : c[j / 2] & 15];
	default: return lq_nf3_code[(rd32(c + j / 8 * 3) >> (3 * (j % 8))) & 7];
	}
}

START_TEST(test_table_scales)
{
	int isas[LK_ISA_COUNT], ni = nisas(isas);
	for (size_t ti = 0; ti < 4; ti++) { /* B = 32 of each type */
		const qtype q = TYPES[ti == 3 ? 6 : ti];
		const int kdt = lk_dt(q.type, q.B);
		const size_t bb = lq_block_bytes(q.type, 32);
		unsigned char blk[40] = {0};
		for (size_t j = 2; j < bb; j++)
			blk[j] = (unsigned char)(j * 37 + 11); /* every code position differs */
		float out[32], ones[32];
		for (int j = 0; j < 32; j++)
			ones[j] = 1.0f;
		for (uint32_t h = 0; h < 65536; h += under_valgrind() ? 61 : 1) {
			wr16(blk, (uint16_t)h);
			double s = half_ref((uint16_t)h);
			for (int k = 0; k < ni; k++) {
				const lk_kernels *K = lk_kernels_for(isas[k]);
				K->to_f32(kdt, blk, out, 32);
				for (size_t j = 0; j < 32; j++) {
					/* one float32 product of two exact float32 values */
					float want = (float)code_of(&q, blk, j) * (float)s;
					CHECK(same_value(out[j], want), "%s %s scale %04x value %zu: %g vs %g", K->name,
						      lq_name(q.type), h, j, (double)out[j], (double)want);
				}
				float d = K->table_dot(kdt, blk, 0, ones, 32);
				CHECK1(same_value(d, K->dot(LUTDB_DTYPE_F32, out, ones, 32)));
			}
		}
	}
}
END_TEST

/* ---- a NaN scale reaches exactly its block's values; reads stop at the last block -------- */
START_TEST(test_table_hostile_and_bounds)
{
	int isas[LK_ISA_COUNT], ni = nisas(isas);
	for (size_t ti = 0; ti < NTYPES; ti++) {
		const qtype q = TYPES[ti];
		if (q.B > 768)
			continue;
		const int kdt = lk_dt(q.type, q.B);
		const size_t nv = 3 * (size_t)q.B, bytes = lq_bytes(q.type, q.B, nv);
		float *v = malloc(nv * 4), *b = malloc(nv * 4), *y = malloc(nv * 4), *y2 = malloc(nv * 4), *deq;
		fill_values(v, nv);
		for (size_t i = 0; i < nv; i++)
			b[i] = rndf(-1, 1);
		unsigned char *q0 = quantized(q.type, q.B, v, nv, &deq);
		gbuf g = gbuf_new(bytes); /* the run ends at an unreadable page */
		memcpy(g.p, q0, bytes);
		for (int k = 0; k < ni; k++) {
			const lk_kernels *K = lk_kernels_for(isas[k]);
			/* every tail up to the guard: last values of the run, from
			 * each multiple of 8 of the last block */
			for (size_t off = nv - q.B; off < nv; off += under_valgrind() ? 40 : 8) {
				size_t n = nv - off;
				float d = K->table_dot(kdt, g.p, off, b, n);
				CHECK1(same_bits(d, K->dot(LUTDB_DTYPE_F32, deq + off, b, n)));
				for (size_t m = 1; m <= n && m <= 17; m++) /* short reads inside the last block too */
					CHECK1(same_bits(K->table_dot(kdt, g.p, off, b, m),
							    K->dot(LUTDB_DTYPE_F32, deq + off, b, m)));
				memset(y, 0, n * 4);
				memset(y2, 0, n * 4);
				K->table_axpy(kdt, 1.0f, g.p, off, y, n);
				K->axpy(LUTDB_DTYPE_F32, 1.0f, deq + off, y2, n);
				CHECK1(memcmp(y, y2, n * 4) == 0);
			}
			K->to_f32(kdt, g.p, y, nv);
			CHECK1(memcmp(y, deq, nv * 4) == 0);
		}
		/* NaN scale in the middle block */
		wr16(g.p + lq_block_bytes(q.type, q.B), 0x7e00);
		for (int k = 0; k < ni; k++) {
			const lk_kernels *K = lk_kernels_for(isas[k]);
			CHECK1(isnan(K->table_dot(kdt, g.p, 0, b, nv)));
			CHECK1(isnan(K->table_dot(kdt, g.p, q.B + 8, b, 8)));
			CHECK1(same_bits(K->table_dot(kdt, g.p, 0, b, q.B), K->dot(LUTDB_DTYPE_F32, deq, b, q.B)));
			CHECK1(same_bits(K->table_dot(kdt, g.p, 2 * q.B, b, q.B),
					    K->dot(LUTDB_DTYPE_F32, deq + 2 * q.B, b, q.B)));
			memset(y, 0, nv * 4);
			memset(y2, 0, nv * 4);
			K->table_axpy(kdt, 1.0f, g.p, 0, y, nv);
			K->axpy(LUTDB_DTYPE_F32, 1.0f, deq, y2, nv);
			for (size_t i = 0; i < nv; i++)
				CHECK(i >= q.B && i < 2 * q.B ? isnan(y[i]) : same_bits(y[i], y2[i]),
					      "%s %s/%u value %zu", K->name, lq_name(q.type), q.B, i);
		}
		gbuf_free(&g);
		free(v);
		free(b);
		free(y);
		free(y2);
		free(deq);
		free(q0);
	}
}
END_TEST

static Suite *qtable_suite(void)
{
	Suite *s = suite_create("kernels_qtable");
	TCase *tc = tcase_create("table");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_table_vs_f32);
	tcase_add_test(tc, test_table_matvec);
	tcase_add_test(tc, test_table_scales);
	tcase_add_test(tc, test_table_hostile_and_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_kernels_suite(qtable_suite());
}
