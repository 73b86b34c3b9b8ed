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
 *
 * Then the MoLKV head kernels (lk_table_attn_scores, lk_table_attn_values)
 * of every ISA, for every kdt, float ones included: against the same ISA's
 * per-vector kernels bitwise and against the scalar ones within kernels.h's
 * bound, on windows that start past 0, of 1 and odd numbers of positions.
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

/* ---- the MoLKV head kernels (kernels.h, lk_table_attn_*) --------------------------------
 * Each ISA's scores and value sums against that ISA's per-vector kernels
 * (bitwise: kernels.h's contract) and against the scalar ones (within the
 * bound kernels.h states), for every kdt, on windows of positions whose
 * rows are separate buffers, each ending at an unreadable page (so no read
 * passes a row's last block used), some at odd addresses. */
typedef struct {
	int kdt;
	size_t P, N, ld, base, vbytes;
	gbuf *mem;                  /* [P] */
	const unsigned char **rows; /* [P] */
	float *deq;                 /* [P][N][ld], the values (NaN where a scale is) */
} window;

/* P positions of N vectors of ld values (type's block B; B 1: a float
 * type) after base bytes of something else. */
static window window_new(int type, uint32_t B, size_t P, size_t N, size_t ld, size_t base)
{
	window w = {.kdt = lk_dt(type, B), .P = P, .N = N, .ld = ld, .base = base};
	ck_assert_int_ne(w.kdt, 0);
	w.vbytes = lk_dt_bytes(w.kdt, ld);
	w.mem = malloc(P * sizeof *w.mem);
	w.rows = malloc(P * sizeof *w.rows);
	w.deq = malloc(P * N * ld * sizeof *w.deq);
	float *v = malloc(ld * sizeof *v);
	for (size_t s = 0; s < P; s++) {
		w.mem[s] = gbuf_new(base + N * w.vbytes);
		w.rows[s] = w.mem[s].p;
		memset(w.mem[s].p, 0xa5, base);
		for (size_t r = 0; r < N; r++) {
			unsigned char *dst = w.mem[s].p + base + r * w.vbytes;
			float *dq = w.deq + (s * N + r) * ld;
			if (B == 1) {
				for (size_t i = 0; i < ld; i++) {
					wset_random(type, dst, i);
					dq[i] = (float)wval(type, dst, i);
				}
				continue;
			}
			float *d1;
			fill_values(v, ld);
			unsigned char *q = quantized(type, B, v, ld, &d1);
			memcpy(dst, q, w.vbytes);
			memcpy(dq, d1, ld * sizeof *dq);
			free(q);
			free(d1);
		}
	}
	free(v);
	return w;
}

static void window_free(window *w)
{
	for (size_t s = 0; s < w->P; s++)
		gbuf_free(&w->mem[s]);
	free(w->mem);
	free(w->rows);
	free(w->deq);
}

/* Block k of vector r of position s damaged: its scale NaN; or infinite,
 * value 0 a non-zero code and values 1..7 the zero code (0 x inf: NaN), so
 * a run of value 0 alone is infinite, and NaN if a kernel let the values
 * past a run's end into its lanes. */
static void window_bad_block(window *w, size_t s, size_t r, size_t k, uint32_t B, int inf)
{
	const int type = lk_dt_dtype(w->kdt);
	unsigned char *blk = w->mem[s].p + w->base + r * w->vbytes + k * lq_block_bytes(type, B), *c = blk + 2;
	float *dq = w->deq + (s * w->N + r) * w->ld + k * B;
	wr16(blk, inf ? 0x7c00 : 0x7e00);
	for (size_t i = 0; i < B; i++)
		dq[i] = NAN;
	if (!inf)
		return;
	switch (type) {
	case LQ_DTYPE_Q8_0:
		c[0] = 5;
		memset(c + 1, 0, 7);
		break;
	case LQ_DTYPE_Q4_0: /* value j < 16: the low nibble of byte j, code 8 is 0 */
		for (int j = 0; j < 8; j++)
			c[j] = (unsigned char)((c[j] & 0xf0) | (j ? 8 : 3));
		break;
	case LQ_DTYPE_NF4: /* code 7 is 0.0, 15 is 1.0 */
		c[0] = 0x7f;
		memset(c + 1, 0x77, 3);
		break;
	default: /* NF3: code 3 is 0.0, 7 is 1.0 */
		wr16(c, 0xb6df); /* 7, then 3 seven times: 0b011 011 011 011 011 011 011 111 */
		c[2] = 0x6d;
		break;
	}
	dq[0] = INFINITY;
}

/* Within bound of each other, or both NaN, or the same infinity. */
static int near(float a, float b, double bound)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (isinf(a) || isinf(b))
		return a == b;
	return fabs((double)a - (double)b) <= bound;
}

/* Positions [s0, s0 + npos) of w, values [off, off + n): every ISA. */
static void check_attn(const window *w, size_t s0, size_t npos, size_t off, size_t n)
{
	const size_t N = w->N, k = npos * N;
	const unsigned char *const *rows = w->rows + s0;
	float *q = malloc((n + 1) * sizeof *q), *wt = malloc(k * sizeof *wt);
	float *sc = malloc(k * sizeof *sc), *sc0 = malloc(k * sizeof *sc0), *want = malloc((n + 1) * sizeof *want);
	float *out = malloc((n + 1) * sizeof *out), *out0 = malloc((n + 1) * sizeof *out0);
	for (size_t i = 0; i < n; i++)
		q[i] = rndf(-1, 1);
	for (size_t z = 0; z < k; z++)
		wt[z] = rndf(-1, 1);
	int isas[LK_ISA_COUNT], ni = nisas(isas);
	for (int ii = 0; ii < ni; ii++) {
		const lk_kernels *K = lk_kernels_for(isas[ii]);
		ck_assert_ptr_nonnull(K->table_attn_scores);
		K->table_attn_scores(w->kdt, rows, w->base, npos, N, w->ld, off, n, q, sc);
		for (size_t s = 0; s < npos; s++)
			for (size_t r = 0; r < N; r++) {
				float d = K->table_dot(w->kdt, rows[s] + w->base + r * w->vbytes, off, q, n);
				CHECK(same_value(sc[s * N + r], d), "%s kdt %d N %zu s %zu/%zu r %zu off %zu n %zu: score %.9g, "
				      "table_dot %.9g", K->name, w->kdt, N, s, npos, r, off, n, (double)sc[s * N + r],
				      (double)d);
			}
		for (size_t i = 0; i <= n; i++)
			out[i] = want[i] = 7.0f; /* overwritten, and nothing past n */
		K->table_attn_values(w->kdt, rows, w->base, npos, N, w->ld, off, n, wt, out);
		memset(want, 0, n * sizeof *want);
		for (size_t s = 0; s < npos; s++)
			for (size_t r = 0; r < N; r++)
				K->table_axpy(w->kdt, wt[s * N + r], rows[s] + w->base + r * w->vbytes, off, want, n);
		for (size_t i = 0; i <= n; i++)
			CHECK(same_value(out[i], want[i]), "%s kdt %d N %zu npos %zu off %zu n %zu: value %zu %.9g, "
			      "table_axpy %.9g", K->name, w->kdt, N, npos, off, n, i, (double)out[i], (double)want[i]);
		if (ii == 0) { /* the scalar table: the reference of the others */
			memcpy(sc0, sc, k * sizeof *sc);
			memcpy(out0, out, n * sizeof *out);
			continue;
		}
		/* kernels.h's bounds against the scalar table */
		for (size_t z = 0; z < k; z++) {
			const float *v = w->deq + ((s0 * N + z) * w->ld + off);
			double mag = 0;
			for (size_t i = 0; i < n; i++)
				mag += fabs((double)v[i] * q[i]);
			CHECK(near(sc[z], sc0[z], (double)(n + 16) * U * mag), "%s kdt %d score %zu: %.9g vs scalar %.9g",
			      K->name, w->kdt, z, (double)sc[z], (double)sc0[z]);
		}
		for (size_t i = 0; i < n; i++) {
			double mag = 0;
			for (size_t z = 0; z < k; z++)
				mag += fabs((double)wt[z] * w->deq[(s0 * N + z) * w->ld + off + i]);
			CHECK(near(out[i], out0[i], 2.0 * (double)(k + 1) * U * mag),
			      "%s kdt %d value %zu: %.9g vs scalar %.9g", K->name, w->kdt, i, (double)out[i], (double)out0[i]);
		}
	}
	free(q);
	free(wt);
	free(sc);
	free(sc0);
	free(want);
	free(out);
	free(out0);
}

/* Offsets (multiples of 8) and lengths: inside and across blocks, both
 * Q4_0 nibble halves, 8 mod 16 (16 values across a block's end), tails. */
static const size_t ATTN_OFF[] = {0, 8, 16, 24, 32, 40, 56, 64, 72, 120};
static const size_t ATTN_LEN[] = {1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 48, 64, 96, 192};
/* Windows (s0, npos) of a P = 23 window: one position, the first and the
 * last, odd counts, starts past 0 (a sliding window). */
static const size_t ATTN_WIN[][2] = {{0, 1}, {0, 23}, {5, 1}, {3, 7}, {22, 1}, {10, 13}, {1, 22}, {2, 2}};

static void attn_type(int type, uint32_t B)
{
	static const size_t NS[] = {1, 4, 5};
	const int light = under_valgrind() || test_quick();
	const size_t ld = B == 1 ? 200 : B == 32 ? 224 : (B < 256 ? 3 : 2) * (size_t)B;
	for (size_t ni = 0; ni < 3; ni++) {
		window w = window_new(type, B, 23, NS[ni], ld, 13 + ni);
		size_t combo = 0;
		for (size_t oi = 0; oi < sizeof ATTN_OFF / sizeof ATTN_OFF[0]; oi++)
			for (size_t li = 0; li < sizeof ATTN_LEN / sizeof ATTN_LEN[0] + 1; li++) {
				size_t off = ATTN_OFF[oi];
				/* the last length: the run to the vector's end */
				size_t n = li < sizeof ATTN_LEN / sizeof ATTN_LEN[0] ? ATTN_LEN[li] : ld - off;
				if (off + n > ld || (light && combo++ % 5 != 0))
					continue;
				const size_t *win = ATTN_WIN[(oi * 7 + li) % 8];
				check_attn(&w, win[0], win[1], off, n);
			}
		/* the end of the last position's row: every tail up to its guard page */
		for (size_t n = 1; n <= 40 && n <= ld; n += light ? 13 : 1) {
			size_t off = (ld - n) / 8 * 8;
			check_attn(&w, 22, 1, off, ld - off);
			check_attn(&w, 20, 3, off, n < ld - off ? n : ld - off);
		}
		if (B > 1) { /* a NaN scale reaches exactly the outputs that read its block */
			window_bad_block(&w, 4, NS[ni] - 1, 1, B, 0);
			check_attn(&w, 0, 23, 0, ld);
			check_attn(&w, 3, 3, B - 8, 16);
			check_attn(&w, 2, 5, 0, B);
			/* an infinite scale: the lanes past a run's end stay out */
			window_bad_block(&w, 6, 0, 1, B, 1);
			for (size_t n = 1; n < 8; n++)
				check_attn(&w, 6, 1, B, n);
			check_attn(&w, 5, 3, B - 8, 9);
		}
		window_free(&w);
	}
}

START_TEST(test_attn_float)
{
	for (size_t di = 0; di < 3; di++)
		attn_type(DTYPES[di], 1);
}
END_TEST

START_TEST(test_attn_quant)
{
	for (size_t ti = 0; ti < NTYPES; ti++)
		if (TYPES[ti].B <= 768)
			attn_type(TYPES[ti].type, TYPES[ti].B);
}
END_TEST

/* lk_table_attn_scores / _values follow lk_set_isa: they are the active
 * table's; lk_kernels_for answers NULL for an ISA the CPU (or build) lacks. */
START_TEST(test_attn_entry)
{
	window w = window_new(LQ_DTYPE_NF4, 64, 5, 4, 192, 3);
	float q[32], wt[20], a[20], b[20], oa[64], ob[64];
	for (int i = 0; i < 32; i++)
		q[i] = rndf(-1, 1);
	for (int i = 0; i < 20; i++)
		wt[i] = rndf(0, 1);
	for (int isa = 0; isa < LK_ISA_COUNT; isa++) {
		const lk_kernels *A = lk_kernels_for(isa);
		ck_assert_int_eq(A != NULL, lk_isa_supported(isa));
		if (!A)
			continue;
		ck_assert_str_eq(A->name, lk_isa_name(isa));
		ck_assert_int_eq(lk_set_isa(isa), 0);
		lk_table_attn_scores(w.kdt, w.rows, w.base, 5, 4, 192, 32, 32, q, a);
		A->table_attn_scores(w.kdt, w.rows, w.base, 5, 4, 192, 32, 32, q, b);
		ck_assert(memcmp(a, b, sizeof a) == 0);
		lk_table_attn_values(w.kdt, w.rows, w.base, 5, 4, 192, 64, 64, wt, oa);
		A->table_attn_values(w.kdt, w.rows, w.base, 5, 4, 192, 64, 64, wt, ob);
		ck_assert(memcmp(oa, ob, sizeof oa) == 0);
	}
	ck_assert_int_eq(lk_set_isa(lk_isa_best()), 0);
	window_free(&w);
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
	TCase *ta = tcase_create("attn");
	tcase_set_timeout(ta, 600);
	tcase_add_test(ta, test_attn_float);
	tcase_add_test(ta, test_attn_quant);
	tcase_add_test(ta, test_attn_entry);
	suite_add_tcase(s, ta);
	return s;
}

int main(void)
{
	return run_kernels_suite(qtable_suite());
}
