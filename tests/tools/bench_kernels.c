/*
 * bench_kernels - throughput of the decode/prefill kernels on this machine.
 *
 *   bench_kernels [--quick] [--cpu] [--isa scalar|avx2|avx512|neon]
 *                 [--section mv,mm,qmv,qmm,qtab,gelu,pool,sample]
 *
 * matvec: GB/s of weights streamed at the decoder's shapes, per dtype and
 *   1/2 threads, as a fraction of the read bandwidth (the streaming sum of
 *   bench_membw) measured in this same run, interleaved with the matvec
 *   runs so that both see the same machine load.  "cold": the weights
 *   rotate through >= 512 MiB of copies, so every byte comes from DRAM, as in
 *   decoding a model larger than the cache; "hot": one copy, cache-resident.
 * matmul: GFLOP/s of prefill (T = 256 tokens) for lk_matmul against OpenBLAS
 *   cblas_sgemm on an F32 copy of W (the F16/BF16 -> F32 conversion timed
 *   too), and SGEMM's own peak on a 2048^3 product.
 * qmv: matvec of Q8_0 and Q4_0 weights (issue 13) at the MoLE-160M backbone's
 *   shapes (d 768, I 3072, V 32000) next to F16, as mv: GB/s of weight bytes
 *   read, % of the read bandwidth measured in the same run, 1 and 2 threads,
 *   cold and hot; "int8 w/o VNNI": the same with vpmaddubsw instead of
 *   vpdpbusd.  And tok/s of the dense part of a MoLE-160M decode step
 *   (12 layers of q k v o, up, down, and the head) from the cold figures.
 * qmm: prefill (T = 256) with Q8_0 and Q4_0 weights against F16 in the same
 *   run: GFLOP/s-equivalent (2 rows cols T per second) and the ratio.
 * qtab: the table kernels per type (ns per value): the MoLE mix (N = 4
 *   axpy of d = 768) and MoLKV key scores (dot of 32-value head chunks).
 * gelu: ns/element, cache-resident and streamed, next to memcpy.
 * pool: lk_pool_run round trip with empty tasks, back to back and after the
 *   workers went to sleep.
 * sample: lr_sample per call at V = 50304 and 256000.
 * Figures are medians of repeated runs.  GB = 1e9 bytes.  --cpu times the
 * single-thread runs by the thread's CPU time (robust on a shared machine).
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"
#include "pool.h"
#include "quant.h"
#include "sampler.h"
#include "stream_sum.h"

/* --cpu: single-thread figures from the calling thread's CPU time, which
 * a machine shared with other busy processes disturbs far less than wall
 * time (2-thread figures stay wall time: they need it). */
static int g_cpu;

static double now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The clock for a measurement run with `threads` threads. */
static double (*clk(int threads))(void)
{
	return g_cpu && threads == 1 ? now_cpu : now_wall;
}

static double now(void)
{
	return now_wall();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int g_quick;

/* ---- read bandwidth (stream_sum.h, as bench_membw) ------------------------- */
struct bw_job {
	const unsigned char *buf;
	size_t len;
	volatile uint64_t sink;
};

static void bw_task(void *ctx, int t, int nt)
{
	struct bw_job *j = ctx;
	size_t b, e;
	lk_split_range(j->len, nt, t, 4096, &b, &e);
	j->sink += stream_sum8(j->buf + b, e - b);
}

/* One timed streaming sum over len bytes: GB/s. */
static double membw_once(lk_pool *pool, const unsigned char *buf, size_t len)
{
	struct bw_job j = {buf, len, 0};
	double (*t)(void) = clk(lk_pool_threads(pool));
	double t0 = t();
	lk_pool_run(pool, bw_task, &j, lk_pool_threads(pool));
	return (double)len / (t() - t0) / 1e9;
}

/* ---- matvec ----------------------------------------------------------------------- */
#define ARENA_BYTES (1024ul << 20)

static const char *dt_name(int dt)
{
	return dt == LUTDB_DTYPE_F32 ? "F32" : dt == LUTDB_DTYPE_F16 ? "F16" : "BF16";
}

static size_t dt_size(int dt)
{
	return dt == LUTDB_DTYPE_F32 ? 4 : 2;
}

static void bench_matvec(lk_pool *pools[2], unsigned char *arena)
{
	static const size_t SH[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {50304, 768}};
	static const int DT[] = {LUTDB_DTYPE_F32, LUTDB_DTYPE_F16, LUTDB_DTYPE_BF16};
	const int reps = g_quick ? 5 : 11;
	double bw_samples[2][64];
	int nbw[2] = {0, 0};
	struct {
		double cold, hot;
	} res[4][3][2];
	float *x = malloc(8192 * sizeof(float)), *y = malloc(65536 * sizeof(float));
	for (int i = 0; i < 8192; i++)
		x[i] = (float)(i % 17) * 0.01f;
	for (int th = 0; th < 2; th++) {
		lk_pool *pool = pools[th];
		for (int s = 0; s < 4; s++)
			for (int d = 0; d < 3; d++) {
				size_t rows = SH[s][0], cols = SH[s][1], bytes = rows * cols * dt_size(DT[d]);
				size_t copies = (ARENA_BYTES / 2) / bytes;
				if (copies < 2)
					copies = 2;
				if (copies * bytes > ARENA_BYTES)
					copies = ARENA_BYTES / bytes;
				for (int k = 0; k < 3 && nbw[th] < 64; k++)
					bw_samples[th][nbw[th]++] = membw_once(pool, arena, ARENA_BYTES);
				double v[32], (*t)(void) = clk(th + 1);
				for (int r = 0; r < reps; r++) {
					double t0 = t();
					for (size_t c = 0; c < copies; c++)
						lk_matvec_mt(pool, DT[d], arena + c * bytes, cols, rows, cols, x, y);
					v[r] = (double)(copies * bytes) / (t() - t0) / 1e9;
				}
				res[s][d][th].cold = median(v, reps);
				/* hot: one matrix, repeated (L2/L3 resident when it fits) */
				size_t iters = (256ul << 20) / bytes + 1;
				for (int r = 0; r < reps; r++) {
					double t0 = t();
					for (size_t c = 0; c < iters; c++)
						lk_matvec_mt(pool, DT[d], arena, cols, rows, cols, x, y);
					v[r] = (double)(iters * bytes) / (t() - t0) / 1e9;
				}
				res[s][d][th].hot = median(v, reps);
			}
	}
	double bw[2] = {median(bw_samples[0], nbw[0]), median(bw_samples[1], nbw[1])};
	printf("\nread bandwidth (streaming sum, 8 streams/thread, 1 GiB, median of %d/%d samples interleaved): "
	       "1 thread %.1f GB/s, 2 threads %.1f GB/s\n",
	       nbw[0], nbw[1], bw[0], bw[1]);
	printf("\nmatvec (lk_matvec_mt, isa %s): GB/s of weights, %% of read bandwidth\n",
	       lk_isa_name(lk_isa_active()));
	printf("%-12s %-5s | %8s %5s %8s %5s | %8s %8s\n", "rows x cols", "dtype", "1T cold", "%bw",
	       "2T cold", "%bw", "1T hot", "2T hot");
	for (int s = 0; s < 4; s++)
		for (int d = 0; d < 3; d++) {
			char shp[32];
			snprintf(shp, sizeof shp, "%zux%zu", SH[s][0], SH[s][1]);
			printf("%-12s %-5s | %8.1f %4.0f%% %8.1f %4.0f%% | %8.1f %8.1f\n", shp, dt_name(DT[d]),
			       res[s][d][0].cold, 100 * res[s][d][0].cold / bw[0], res[s][d][1].cold,
			       100 * res[s][d][1].cold / bw[1], res[s][d][0].hot, res[s][d][1].hot);
		}
	free(x);
	free(y);
}

/* ---- matmul ------------------------------------------------------------------------- */
static double gflops(size_t m, size_t n, size_t k, double sec)
{
	return 2.0 * (double)m * (double)n * (double)k / sec / 1e9;
}

static void bench_matmul(lk_pool *pools[2], unsigned char *arena)
{
	static const size_t SH[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {50304, 768}};
	static const int DT[] = {LUTDB_DTYPE_F32, LUTDB_DTYPE_F16, LUTDB_DTYPE_BF16};
	const size_t T = 256;
	const int reps = g_quick ? 3 : 5;
	float *X = malloc(T * 3072 * sizeof(float));
	float *Y = malloc(T * 50304 * sizeof(float)), *Y2 = malloc(T * 50304 * sizeof(float));
	float *Y1 = malloc(T * 50304 * sizeof(float)), *Y21 = malloc(T * 50304 * sizeof(float));
	float *Wf = malloc(50304 * 768 * sizeof(float));
	for (size_t i = 0; i < T * 3072; i++)
		X[i] = (float)((i * 7) % 23) * 0.01f - 0.1f;

	/* SGEMM peak */
	double peak[2];
	{
		const size_t n = 2048;
		float *A = malloc(n * n * 4), *B = malloc(n * n * 4), *C = malloc(n * n * 4);
		for (size_t i = 0; i < n * n; i++)
			A[i] = B[i] = (float)(i % 13) * 0.1f;
		for (int th = 0; th < 2; th++) {
			openblas_set_num_threads(th + 1);
			double v[8], (*t)(void) = clk(th + 1);
			for (int r = 0; r < reps; r++) {
				double t0 = t();
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0f, A,
					    (int)n, B, (int)n, 0.0f, C, (int)n);
				v[r] = gflops(n, n, n, t() - t0);
			}
			peak[th] = median(v, reps);
		}
		free(A);
		free(B);
		free(C);
	}
	printf("\nmatmul, prefill T=%zu (GFLOP/s; SGEMM peak on 2048^3: 1T %.1f, 2T %.1f)\n", T, peak[0],
	       peak[1]);
	printf("  lutdb = lk_matmul_mt; sgemm+cvt = lk_to_f32(W) + cblas_sgemm (OpenBLAS %s);\n"
	       "  1T==2T: output bitwise equal with 1 and 2 threads, lutdb/sgemm; max rel diff lutdb vs sgemm\n",
	       openblas_get_corename());
	printf("%-12s %-5s | %7s %6s %9s | %7s %6s %9s | %-7s | %s\n", "rows x cols", "dtype", "1T lutdb", "%peak",
	       "sgemm+cvt", "2T lutdb", "%peak", "sgemm+cvt", "1T==2T", "max rel diff");
	for (int s = 0; s < 4; s++)
		for (int d = 0; d < 3; d++) {
			size_t rows = SH[s][0], cols = SH[s][1];
			const unsigned char *W = arena;
			double mine[2], blas[2], maxd = 0;
			for (int th = 0; th < 2; th++) {
				double v[8], (*t)(void) = clk(th + 1);
				openblas_set_num_threads(1);
				for (int r = 0; r < reps; r++) {
					double t0 = t();
					lk_matmul_mt(pools[th], DT[d], W, cols, rows, cols, X, T, cols, Y, rows);
					v[r] = gflops(T, rows, cols, t() - t0);
				}
				mine[th] = median(v, reps);
				if (th == 0)
					memcpy(Y1, Y, T * rows * sizeof(float));
				openblas_set_num_threads(th + 1);
				for (int r = 0; r < reps; r++) {
					double t0 = t();
					const float *wf = (const float *)(const void *)W;
					if (DT[d] != LUTDB_DTYPE_F32) {
						lk_to_f32(DT[d], W, Wf, rows * cols);
						wf = Wf;
					}
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)rows,
						    (int)cols, 1.0f, X, (int)cols, wf, (int)cols, 0.0f, Y2, (int)rows);
					v[r] = gflops(T, rows, cols, t() - t0);
				}
				blas[th] = median(v, reps);
				if (th == 0)
					memcpy(Y21, Y2, T * rows * sizeof(float));
			}
			/* bitwise equal with 1 and 2 threads? (lutdb: by construction) */
			int det_mine = memcmp(Y1, Y, T * rows * sizeof(float)) == 0;
			int det_blas = memcmp(Y21, Y2, T * rows * sizeof(float)) == 0;
			for (size_t i = 0; i < T * rows; i++) {
				double dd = fabs((double)Y[i] - (double)Y2[i]) / (fabs((double)Y2[i]) + 1e-3);
				maxd = dd > maxd ? dd : maxd;
			}
			char shp[32];
			snprintf(shp, sizeof shp, "%zux%zu", rows, cols);
			printf("%-12s %-5s | %7.1f %5.0f%% %9.1f | %7.1f %5.0f%% %9.1f | %s/%s | %.1e\n", shp,
			       dt_name(DT[d]), mine[0], 100 * mine[0] / peak[0], blas[0], mine[1],
			       100 * mine[1] / peak[1], blas[1], det_mine ? "yes" : "NO", det_blas ? "yes" : "no ", maxd);
		}
	openblas_set_num_threads(1);
	free(X);
	free(Y);
	free(Y2);
	free(Y1);
	free(Y21);
	free(Wf);
}

/* ---- quantized weights (issue 13) ------------------------------------------------------------ */
static const int QDT[] = {LUTDB_DTYPE_F16, LQ_DTYPE_Q8_0, LQ_DTYPE_Q4_0};
static const char *const QNAME[] = {"F16", "Q8_0", "Q4_0"};
/* MoLE-160M backbone: q k v o (d x d), up (I x d), down (d x I), head (V x d) */
static const size_t QSH[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {32000, 768}};
static const double QSH_PER_STEP[] = {12 * 4, 12, 12, 1};

/* Fills the arena with valid blocks of dtype (a quantized run of random
 * normal-ish values, repeated), so every multiple of the block bytes starts
 * a block. */
static void qfill(unsigned char *arena, int dt)
{
	const size_t n = 1u << 20;
	float *v = malloc(n * sizeof(float));
	unsigned char *q = malloc(n * 2);
	uint64_t z = 42;
	for (size_t i = 0; i < n; i++) {
		z = z * 6364136223846793005ull + 1442695040888963407ull;
		v[i] = (float)((double)(z >> 40) / 16777216.0 - 0.5) * 0.1f;
	}
	size_t len = lk_dt_bytes(dt, n);
	if (dt == LUTDB_DTYPE_F16)
		lutdb_convert(LUTDB_DTYPE_F16, q, LUTDB_DTYPE_F32, v, n);
	else if (lq_quantize(dt, 32, v, n, q) != 0)
		abort();
	for (size_t off = 0; off < ARENA_BYTES; off += len)
		memcpy(arena + off, q, ARENA_BYTES - off < len ? ARENA_BYTES - off : len);
	free(v);
	free(q);
}

static void bench_qmatvec(lk_pool *pools[2], unsigned char *arena)
{
	const int reps = g_quick ? 5 : 9;
	double bw_samples[2][96];
	int nbw[2] = {0, 0};
	struct {
		double cold, hot, base;
	} res[4][3][2];
	float *x = malloc(8192 * sizeof(float)), *y = malloc(65536 * sizeof(float));
	for (int i = 0; i < 8192; i++)
		x[i] = (float)(i % 17) * 0.01f - 0.08f;
	for (int d = 0; d < 3; d++) {
		qfill(arena, QDT[d]);
		for (int th = 0; th < 2; th++)
			for (int s = 0; s < 4; s++) {
				lk_pool *pool = pools[th];
				size_t rows = QSH[s][0], cols = QSH[s][1], bytes = lk_dt_bytes(QDT[d], rows * cols);
				size_t copies = (ARENA_BYTES / 2) / bytes;
				if (copies * bytes > ARENA_BYTES)
					copies = ARENA_BYTES / bytes;
				for (int k = 0; k < 2 && nbw[th] < 96; k++)
					bw_samples[th][nbw[th]++] = membw_once(pool, arena, ARENA_BYTES);
				double v[32], (*t)(void) = clk(th + 1);
				for (int vn = 0; vn < 2; vn++) {
					if (vn && (QDT[d] == LUTDB_DTYPE_F16 || !lk_vnni_active()))
						break;
					if (vn)
						lk_set_vnni(0);
					for (int r = 0; r < reps; r++) {
						double t0 = t();
						for (size_t c = 0; c < copies; c++)
							lk_matvec_mt(pool, QDT[d], arena + c * bytes, cols, rows, cols, x,
								     y);
						v[r] = (double)(copies * bytes) / (t() - t0) / 1e9;
					}
					if (vn) {
						res[s][d][th].base = median(v, reps);
						lk_set_vnni(1);
					} else {
						res[s][d][th].cold = median(v, reps);
						res[s][d][th].base = 0;
					}
				}
				size_t iters = (256ul << 20) / bytes + 1;
				for (int r = 0; r < reps; r++) {
					double t0 = t();
					for (size_t c = 0; c < iters; c++)
						lk_matvec_mt(pool, QDT[d], arena, cols, rows, cols, x, y);
					v[r] = (double)(iters * bytes) / (t() - t0) / 1e9;
				}
				res[s][d][th].hot = median(v, reps);
			}
	}
	double bw[2] = {median(bw_samples[0], nbw[0]), median(bw_samples[1], nbw[1])};
	printf("\nread bandwidth (streaming sum, 8 streams/thread, 1 GiB, median of %d/%d samples interleaved): "
	       "1 thread %.1f GB/s, 2 threads %.1f GB/s\n",
	       nbw[0], nbw[1], bw[0], bw[1]);
	printf("\nquantized matvec (lk_matvec_mt, isa %s, VNNI %s): GB/s of weight bytes, %% of read bandwidth\n",
	       lk_isa_name(lk_isa_active()), lk_vnni_active() ? "on" : "not available");
	printf("%-12s %-5s | %8s %5s %8s %5s | %8s %8s | %s\n", "rows x cols", "dtype", "1T cold", "%bw", "2T cold",
	       "%bw", "1T hot", "2T hot", "1T/2T cold int8 w/o VNNI");
	for (int s = 0; s < 4; s++)
		for (int d = 0; d < 3; d++) {
			char shp[32];
			snprintf(shp, sizeof shp, "%zux%zu", QSH[s][0], QSH[s][1]);
			printf("%-12s %-5s | %8.1f %4.0f%% %8.1f %4.0f%% | %8.1f %8.1f |", shp, QNAME[d],
			       res[s][d][0].cold, 100 * res[s][d][0].cold / bw[0], res[s][d][1].cold,
			       100 * res[s][d][1].cold / bw[1], res[s][d][0].hot, res[s][d][1].hot);
			if (res[s][d][0].base > 0)
				printf(" %.1f / %.1f", res[s][d][0].base, res[s][d][1].base);
			printf("\n");
		}
	/* the dense part of a decode step from the cold figures */
	printf("\nMoLE-160M dense weights per decode step (q k v o, up, down x 12, head; cold):\n");
	for (int d = 0; d < 3; d++) {
		double mb = 0, sec[2] = {0, 0};
		for (int s = 0; s < 4; s++) {
			double b = (double)lk_dt_bytes(QDT[d], QSH[s][0] * QSH[s][1]) * QSH_PER_STEP[s];
			mb += b / 1e6;
			for (int th = 0; th < 2; th++)
				sec[th] += b / (res[s][d][th].cold * 1e9);
		}
		printf("  %-5s %6.1f MB: 1T %6.1f tok/s (%4.0f%% of bw), 2T %6.1f tok/s (%4.0f%% of bw)\n", QNAME[d],
		       mb, 1 / sec[0], 100 * mb / 1e3 / sec[0] / bw[0], 1 / sec[1], 100 * mb / 1e3 / sec[1] / bw[1]);
	}
	free(x);
	free(y);
}

static void bench_qmatmul(lk_pool *pools[2], unsigned char *arena)
{
	const size_t T = 256;
	const int reps = g_quick ? 3 : 5;
	double g[4][3][2];
	float *X = malloc(T * 3072 * sizeof(float)), *Y = malloc(T * 32000 * sizeof(float));
	for (size_t i = 0; i < T * 3072; i++)
		X[i] = (float)((i * 7) % 23) * 0.01f - 0.1f;
	for (int d = 0; d < 3; d++) {
		qfill(arena, QDT[d]);
		for (int s = 0; s < 4; s++)
			for (int th = 0; th < 2; th++) {
				size_t rows = QSH[s][0], cols = QSH[s][1];
				double v[8], (*t)(void) = clk(th + 1);
				for (int r = 0; r < reps; r++) {
					double t0 = t();
					lk_matmul_mt(pools[th], QDT[d], arena, cols, rows, cols, X, T, cols, Y, rows);
					v[r] = gflops(T, rows, cols, t() - t0);
				}
				g[s][d][th] = median(v, reps);
			}
	}
	printf("\nquantized matmul, prefill T=%zu (lk_matmul_mt, GFLOP/s-equivalent: 2 rows cols T / s; x F16 of the "
	       "same run)\n", T);
	printf("%-12s %-5s | %8s %6s | %8s %6s\n", "rows x cols", "dtype", "1T", "x F16", "2T", "x F16");
	for (int s = 0; s < 4; s++)
		for (int d = 0; d < 3; d++) {
			char shp[32];
			snprintf(shp, sizeof shp, "%zux%zu", QSH[s][0], QSH[s][1]);
			printf("%-12s %-5s | %8.1f %6.2f | %8.1f %6.2f\n", shp, QNAME[d], g[s][d][0],
			       g[s][d][0] / g[s][0][0], g[s][d][1], g[s][d][1] / g[s][0][1]);
		}
	free(X);
	free(Y);
}

static void bench_qtable(void)
{
	static const struct {
		int type;
		uint32_t B;
		const char *name;
	} TT[] = {{LUTDB_DTYPE_F16, 1, "F16"},	   {LQ_DTYPE_Q8_0, 32, "Q8_0"},	   {LQ_DTYPE_Q4_0, 32, "Q4_0"},
		  {LQ_DTYPE_NF4, 64, "NF4/64"},	   {LQ_DTYPE_NF4, 128, "NF4/128"}, {LQ_DTYPE_NF3, 128, "NF3/128"},
		  {LQ_DTYPE_NF4, 768, "NF4/768"}};
	const size_t d = 768, N = 4, nv = N * d;
	const int reps = g_quick ? 5 : 11, it = 20000;
	float *v = malloc(nv * sizeof(float)), out[768], q[32], sc[4];
	unsigned char *buf = malloc(nv * 4);
	for (size_t i = 0; i < nv; i++)
		v[i] = (float)((i * 37) % 101) * 0.01f - 0.5f;
	for (int i = 0; i < 32; i++)
		q[i] = 0.1f * (float)(i % 5);
	printf("\ntable kernels (isa %s; ns per value, cache-resident; N = 4 vectors of d = 768)\n",
	       lk_isa_name(lk_isa_active()));
	printf("%-8s | %12s %12s\n", "type", "mix (axpy)", "key dot/32");
	double (*t)(void) = clk(1);
	for (size_t k = 0; k < sizeof TT / sizeof TT[0]; k++) {
		int kdt = lk_dt(TT[k].type, TT[k].B);
		if (TT[k].type == LUTDB_DTYPE_F16)
			lutdb_convert(LUTDB_DTYPE_F16, buf, LUTDB_DTYPE_F32, v, nv);
		else if (lq_quantize(TT[k].type, TT[k].B, v, nv, buf) != 0)
			abort();
		size_t vb = lk_dt_bytes(kdt, d);
		double a[16], b[16];
		for (int r = 0; r < reps; r++) {
			double t0 = t();
			for (int i = 0; i < it; i++)
				for (size_t n = 0; n < N; n++)
					lk_table_axpy(kdt, 0.25f, buf + n * vb, 0, out, d);
			a[r] = (t() - t0) / ((double)it * (double)nv) * 1e9;
			t0 = t();
			for (int i = 0; i < it; i++)
				for (size_t h = 0; h < d / 32; h += 4) /* head chunks of 32 of each key */
					lk_table_matvec(kdt, buf, d, 32 * h, N, 32, q, sc);
			b[r] = (t() - t0) / ((double)it * (double)(N * d / 4)) * 1e9;
		}
		printf("%-8s | %12.3f %12.3f\n", TT[k].name, median(a, reps), median(b, reps));
	}
	free(v);
	free(buf);
}

/* ---- gelu --------------------------------------------------------------------------------- */
static void bench_gelu(void)
{
	const int reps = g_quick ? 5 : 11;
	const size_t big = 64ul << 20, small = 16384;
	float *a = malloc(big * sizeof(float)), *b = malloc(big * sizeof(float));
	for (size_t i = 0; i < big; i++)
		a[i] = b[i] = (float)((double)(i % 20001) / 1000.0 - 10.0);
	printf("\ngelu_erf (ns/element, in place; x spread over [-10, 10])\n");
	printf("%-8s | %12s %12s\n", "isa", "16K (cache)", "64M (DRAM)");
	int saved = lk_isa_active();
	double v[16], (*tm)(void) = clk(1);
	for (int isa = 0; isa < LK_ISA_COUNT; isa++) {
		if (!lk_isa_supported(isa))
			continue;
		const lk_kernels *K = lk_kernels_for(isa);
		size_t it = 4096;
		for (int r = 0; r < reps; r++) {
			double t0 = tm();
			for (size_t k = 0; k < it; k++) {
				memcpy(a, b, small * sizeof(float));
				K->gelu_erf(a, small);
			}
			double t1 = tm();
			for (size_t k = 0; k < it; k++)
				memcpy(a, b, small * sizeof(float));
			double t2 = tm();
			v[r] = ((t1 - t0) - (t2 - t1)) / (double)(it * small) * 1e9;
		}
		double hot = median(v, reps);
		int rr = isa == LK_ISA_SCALAR ? 1 : (reps < 5 ? reps : 5);
		for (int r = 0; r < rr; r++) {
			double t0 = tm();
			K->gelu_erf(a, big);
			v[r] = (tm() - t0) / (double)big * 1e9;
		}
		printf("%-8s | %12.3f %12.3f\n", K->name, hot, median(v, rr));
	}
	for (int r = 0; r < 5; r++) {
		double t0 = tm();
		memcpy(a, b, big * sizeof(float));
		v[r] = (tm() - t0) / (double)big * 1e9;
	}
	printf("%-8s | %12s %12.3f   (memcpy of the same floats, for scale)\n", "memcpy", "", median(v, 5));
	lk_set_isa(saved);
	free(a);
	free(b);
}

/* ---- pool ---------------------------------------------------------------------------------- */
static void nop_task(void *ctx, int t, int nt)
{
	(void)ctx;
	(void)t;
	(void)nt;
}

/* A task that spins for ctx's microseconds (wall time). */
static void spin_task(void *ctx, int t, int nt)
{
	double us = *(const double *)ctx, t0 = now_wall();
	(void)t;
	(void)nt;
	while ((now_wall() - t0) * 1e6 < us)
		;
}

static void bench_pool(void)
{
	printf("\npool round trip (lk_pool_run, empty tasks, ntasks = threads)\n");
	for (int th = 1; th <= 2; th++) {
		lk_pool *p = lk_pool_new(th);
		const int n = g_quick ? 20000 : 200000;
		for (int i = 0; i < 1000; i++)
			lk_pool_run(p, nop_task, NULL, th);
		double t0 = now();
		for (int i = 0; i < n; i++)
			lk_pool_run(p, nop_task, NULL, th);
		double hot = (now() - t0) / n * 1e6;
		/* after the workers fell asleep */
		double v[32];
		int m = g_quick ? 9 : 25;
		for (int i = 0; i < m; i++) {
			usleep(2000);
			double t1 = now();
			lk_pool_run(p, nop_task, NULL, th);
			v[i] = (now() - t1) * 1e6;
		}
		printf("  %d thread%s: back to back %.3f us/call; after 2 ms idle (workers asleep) %.1f us\n",
		       th, th > 1 ? "s" : " ", hot, median(v, m));
		if (th > 1) {
			/* two 20 us tasks: 20 us if the worker takes one, 40 if not */
			double us = 20.0, w[64];
			int k = g_quick ? 21 : 63;
			for (int i = 0; i < k; i++) {
				double t1 = now_wall();
				lk_pool_run(p, spin_task, &us, 2);
				w[i] = (now_wall() - t1) * 1e6;
			}
			printf("  %d threads: two 20 us tasks take %.1f us (overhead over 20 us: %.1f us)\n", th,
			       median(w, k), median(w, k) - us);
		}
		lk_pool_free(p);
	}
}

/* ---- sampler -------------------------------------------------------------------------------- */
static void bench_sampler(void)
{
	static const size_t VS[] = {50304, 256000};
	struct {
		const char *name;
		lr_sampler_params p;
	} cases[] = {{"greedy", {0.0f, 0, 1.0f, 0, 1}},
		     {"T=0.8", {0.8f, 0, 1.0f, 0, 0}},
		     {"T=0.8 k=40", {0.8f, 40, 1.0f, 0, 0}},
		     {"T=0.8 p=0.9", {0.8f, 0, 0.9f, 0, 0}},
		     {"T=0.8 k=40 p=0.9", {0.8f, 40, 0.9f, 0, 0}}};
	printf("\nlr_sample (us/call; logits ~ N(0, 2.5^2)-like spread)\n%-18s", "");
	for (size_t v = 0; v < 2; v++)
		printf(" %9s%zu", "V=", VS[v]);
	printf("\n");
	float *l = malloc(256000 * sizeof(float));
	lr_sample_scratch *scratch = lr_sample_scratch_new(256000);
	lr_rng rng;
	lr_rng_seed(&rng, 1);
	for (size_t i = 0; i < 256000; i++) {
		double a = lr_rng_uniform(&rng), b = lr_rng_uniform(&rng), c = lr_rng_uniform(&rng);
		l[i] = (float)((a + b + c - 1.5) * 5.0);
	}
	for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
		printf("%-18s", cases[ci].name);
		for (size_t v = 0; v < 2; v++) {
			int n = g_quick ? 20 : 100;
			double vv[100];
			volatile uint32_t sink = 0;
			for (int r = 0; r < n; r++) {
				double t0 = now();
				sink += lr_sample(l, VS[v], &cases[ci].p, &rng, scratch);
				vv[r] = (now() - t0) * 1e6;
			}
			(void)sink;
			printf(" %11.1f", median(vv, n));
		}
		printf("\n");
	}
	free(l);
	lr_sample_scratch_free(scratch);
}

/* 1 when name is one of the comma-separated words of list. */
static int has_section(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t w = strcspn(p, ",");
		if (w == n && strncmp(p, name, n) == 0)
			return 1;
		p += w + (p[w] == ',');
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *sections = "mv,mm,qmv,qmm,qtab,gelu,pool,sample";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			g_quick = 1;
		} else if (strcmp(argv[i], "--cpu") == 0) {
			g_cpu = 1;
		} else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
			int isa = lk_isa_from_env(argv[++i]);
			lk_set_isa(isa);
		} else if (strcmp(argv[i], "--section") == 0 && i + 1 < argc) {
			sections = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_kernels [--quick] [--cpu] [--isa NAME] "
					"[--section mv,mm,qmv,qmm,qtab,gelu,pool,sample]\n");
			return 2;
		}
	}
	double la[3] = {0, 0, 0};
	FILE *lf = fopen("/proc/loadavg", "r");
	if (lf) {
		if (fscanf(lf, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
			la[0] = -1;
		fclose(lf);
	}
	printf("bench_kernels: isa %s (best %s), %ld CPUs online, load average %.2f, 1T clock: %s\n",
	       lk_isa_name(lk_isa_active()), lk_isa_name(lk_isa_best()), sysconf(_SC_NPROCESSORS_ONLN), la[0],
	       g_cpu ? "thread CPU time" : "wall");
	unsigned char *arena = NULL;
	int need_arena = 0;
	for (int i = 0; i < 4; i++)
		need_arena |= has_section(sections, (const char *[]){"mv", "mm", "qmv", "qmm"}[i]);
	if (need_arena) {
		arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (arena == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		/* every 16-bit word 0x3Cxx: ~1.x as F16, ~0.008 as BF16, normal F32 */
		for (size_t i = 0; i < ARENA_BYTES / 2; i++) {
			uint16_t h = (uint16_t)(0x3c00u | (i * 37u & 0xffu));
			memcpy(arena + 2 * i, &h, 2);
		}
	}
	openblas_set_num_threads(1);
	lk_pool *pools[2] = {lk_pool_new(1), lk_pool_new(2)};
	if (has_section(sections, "mv"))
		bench_matvec(pools, arena);
	if (has_section(sections, "mm"))
		bench_matmul(pools, arena);
	if (has_section(sections, "qmv"))
		bench_qmatvec(pools, arena);
	if (has_section(sections, "qmm"))
		bench_qmatmul(pools, arena);
	if (has_section(sections, "qtab"))
		bench_qtable();
	if (has_section(sections, "gelu"))
		bench_gelu();
	if (has_section(sections, "pool"))
		bench_pool();
	if (has_section(sections, "sample"))
		bench_sampler();
	lk_pool_free(pools[0]);
	lk_pool_free(pools[1]);
	if (arena)
		munmap(arena, ARENA_BYTES);
	return 0;
}
