/*
 * bench_store.c - storage measurements for `make bench`.
 *
 *   bench_store cold DB [samples]      cold pages read per token row after
 *                                      dropping the file's pages (mincore)
 *   bench_store warm DB [rounds]       warm zero-copy token-row read vs a
 *                                      plain read of the same bytes from a
 *                                      flat mmap of a raw file (A/B, median)
 *   bench_store codec DB [samples]     lz4 and shuffle-lz4 ratio on rows
 *   bench_store sgemm ROWS D I THREADS SGEMM GFLOP/s on the pack's shapes
 *   bench_store grain OUTDIR V ROWBYTES B...  file/raw and cold pages per
 *                                      token for table records of B tokens
 * Output: key=value lines.
 */
#include <cblas.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lutdb.h"
#include "record.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "bench_store: %s: %s (%s)\n", what, lutdb_errdetail(), lutdb_strerror(rc));
	return 1;
}

static void drop_pages(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

typedef struct resident {
	uint8_t *map;
	size_t len;
	unsigned char *vec;
} resident;

static void res_open(resident *r, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	fstat(fd, &st);
	r->len = (size_t)st.st_size;
	r->map = mmap(NULL, r->len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	r->vec = malloc(r->len / 4096 + 1);
}

static size_t res_count(resident *r)
{
	size_t n = 0;
	mincore(r->map, r->len, r->vec);
	for (size_t i = 0; i < (r->len + 4095) / 4096; i++)
		n += r->vec[i] & 1;
	return n;
}

/* Cold pages per token: fresh page cache, open, then first (checked) reads
 * of tokens in distinct records. */
static int cold(const char *path, int samples, double *mean_out)
{
	resident r;
	lutdb_db *db;
	int rc;
	size_t total = 0, lo = SIZE_MAX, hi = 0;

	drop_pages(path);
	res_open(&r, path);
	if ((rc = lutdb_open(path, 0, &db)))
		return die(path, rc);
	const lutdb_info *in = lutdb_get_info(db);
	size_t at_open = res_count(&r);
	void *scratch = malloc(in->token_row_bytes);
	for (int s = 0; s < samples; s++) {
		uint32_t t = (uint32_t)(next() % in->vocab);
		size_t before = res_count(&r);
		lutdb_row row;
		if ((rc = lutdb_token_row(db, t, LUTDB_READ_VERIFY, scratch, in->token_row_bytes, &row)))
			return die("row", rc);
		size_t d = res_count(&r) - before;
		total += d;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	double mean = (double)total / samples;
	printf("cold_pages_at_open=%zu\ncold_pages_per_token_mean=%.2f\ncold_pages_per_token_min=%zu\n"
	       "cold_pages_per_token_max=%zu\ncold_pages_row_minimum=%llu\n",
	       at_open, mean, lo, hi, (unsigned long long)((in->token_row_bytes + 4095) / 4096));
	if (mean_out)
		*mean_out = mean;
	free(scratch);
	lutdb_close(db);
	munmap(r.map, r.len);
	free(r.vec);
	return 0;
}

static uint64_t sum_words(const void *p, size_t n)
{
	const uint64_t *w = p;
	uint64_t s = 0;
	for (size_t i = 0; i < n / 8; i++)
		s += w[i];
	return s;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int warm(const char *path, int rounds)
{
	lutdb_db *db;
	int rc = lutdb_open(path, 0, &db);
	if (rc)
		return die(path, rc);
	const lutdb_info *in = lutdb_get_info(db);
	if (in->table_codec)
		return fprintf(stderr, "warm: needs codec none\n"), 1;
	size_t rb = in->token_row_bytes;
	uint32_t M = in->vocab < 4096 ? in->vocab : 4096;
	char raw[] = "/tmp/lutdb-bench-raw-XXXXXX";
	int fd = mkstemp(raw);
	for (uint32_t t = 0; t < M; t++) {
		lutdb_row row;
		if ((rc = lutdb_token_row(db, t, 0, NULL, 0, &row)))
			return die("row", rc);
		if (write(fd, row.data, rb) != (ssize_t)rb)
			return perror("raw"), 1;
	}
	uint8_t *flat = mmap(NULL, (size_t)M * rb, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	unlink(raw);
	enum { READS = 20000 };
	uint32_t *seq = malloc(READS * sizeof *seq);
	for (int i = 0; i < READS; i++)
		seq[i] = (uint32_t)(next() % M);
	double ta[64], tb[64];
	volatile uint64_t sink = 0;
	if (rounds > 64)
		rounds = 64;
	for (int r = -1; r < rounds; r++) { /* round -1 warms both */
		double t0 = now();
		for (int i = 0; i < READS; i++) {
			lutdb_row row;
			lutdb_token_row(db, seq[i], 0, NULL, 0, &row);
			sink += sum_words(row.data, rb);
		}
		double t1 = now();
		for (int i = 0; i < READS; i++)
			sink += sum_words(flat + (size_t)seq[i] * rb, rb);
		double t2 = now();
		if (r >= 0) {
			ta[r] = (t1 - t0) / READS;
			tb[r] = (t2 - t1) / READS;
		}
	}
	double ratio[64];
	for (int r = 0; r < rounds; r++)
		ratio[r] = ta[r] / tb[r];
	qsort(ta, (size_t)rounds, sizeof *ta, cmp_d);
	qsort(tb, (size_t)rounds, sizeof *tb, cmp_d);
	qsort(ratio, (size_t)rounds, sizeof *ratio, cmp_d);
	printf("warm_row_bytes=%zu\nwarm_lutdb_ns_per_row=%.0f\nwarm_flat_ns_per_row=%.0f\nwarm_ratio_median=%.3f\n", rb,
	       ta[rounds / 2] * 1e9, tb[rounds / 2] * 1e9, ratio[rounds / 2]);
	(void)sink;
	munmap(flat, (size_t)M * rb);
	free(seq);
	lutdb_close(db);
	return 0;
}

static int codec(const char *path, int samples)
{
	lutdb_db *db;
	int rc = lutdb_open(path, 0, &db);
	if (rc)
		return die(path, rc);
	const lutdb_info *in = lutdb_get_info(db);
	size_t rb = in->token_row_bytes, esz = lutdb_dtype_size(in->table_dtype);
	size_t cap = lutdb_codec_bound(LUTDB_CODEC_SHUFFLE_LZ4, rb);
	uint8_t *enc = malloc(cap), *tmp = malloc(rb), *dec = malloc(rb);
	for (int c = 1; c <= 2; c++) {
		uint64_t raw = 0, out = 0;
		double td = 0;
		for (int s = 0; s < samples; s++) {
			lutdb_row row;
			size_t len;
			if ((rc = lutdb_token_row(db, (uint32_t)(next() % in->vocab), 0, tmp, rb, &row)))
				return die("row", rc);
			if ((rc = lutdb_codec_encode(c, esz, row.data, rb, enc, cap, &len, tmp == row.data ? dec : tmp)))
				return die("encode", rc);
			double t0 = now();
			lutdb_codec_decode(c, esz, enc, len, dec, rb, tmp == row.data ? NULL : tmp);
			td += now() - t0;
			raw += rb;
			out += len;
		}
		printf("codec_%s_ratio=%.4f\ncodec_%s_decode_GBps=%.2f\n", lutdb_codec_name(c), (double)out / (double)raw,
		       lutdb_codec_name(c), (double)raw / td / 1e9);
	}
	lutdb_close(db);
	free(enc);
	free(tmp);
	free(dec);
	return 0;
}

void openblas_set_num_threads(int);

static int sgemm(int rows, int d, int inter, int threads)
{
	float *u = malloc(sizeof(float) * (size_t)rows * d), *w = malloc(sizeof(float) * (size_t)inter * d);
	float *h = malloc(sizeof(float) * (size_t)rows * inter), *o = malloc(sizeof(float) * (size_t)rows * d);
	for (size_t i = 0; i < (size_t)rows * d; i++)
		u[i] = (float)(next() % 1000) * 1e-3f;
	for (size_t i = 0; i < (size_t)inter * d; i++)
		w[i] = (float)(next() % 1000) * 1e-3f;
	openblas_set_num_threads(threads);
	double best = 0;
	for (int r = 0; r < 5; r++) {
		double t0 = now();
		int reps = 4;
		for (int k = 0; k < reps; k++) {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, inter, d, 1, u, d, w, d, 0, h, inter);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d, inter, 1, h, inter, w, inter, 0, o, d);
		}
		double gf = reps * 4.0 * rows * d * (double)inter / (now() - t0) / 1e9;
		best = gf > best ? gf : best;
	}
	printf("sgemm_gflops=%.1f\n", best);
	free(u);
	free(w);
	free(h);
	free(o);
	return 0;
}

/* Table-record granularity: same rows in records of B tokens. */
static int grain(const char *dir, uint32_t V, uint32_t rowbytes, int nb, char **bs)
{
	static const char cfgfmt[] = "{\"vocab_size\": %u, \"hidden_size\": %u, \"intermediate_size\": 8, "
				     "\"num_hidden_layers\": 1, \"num_attention_heads\": 1, \"num_experts\": 1}";
	char cfg[256], path[4096];
	uint32_t d = rowbytes / 2;
	uint8_t *row = calloc(1, rowbytes);
	snprintf(cfg, sizeof cfg, cfgfmt, V, d);
	for (int k = 0; k < nb; k++) {
		uint32_t B = (uint32_t)atoi(bs[k]);
		lutdb_writer *w;
		lutdb_writer_params p = {.size = sizeof p, .family = 1, .source_form = 2, .vocab = V, .hidden = d,
					 .layers = 1, .experts = 1, .intermediate = 8, .heads = 1, .kv_heads = 1,
					 .table_dtype = LUTDB_DTYPE_F16, .block_tokens = B,
					 .config_bytes = strlen(cfg)};
		int rc;
		snprintf(path, sizeof path, "%s/grain-%u.lutdb", dir, B);
		if ((rc = lutdb_writer_open(path, &p, NULL, 1, &w)) ||
		    (rc = lutdb_writer_put_blob(w, "config.json", cfg, strlen(cfg))))
			return die("grain", rc);
		for (uint32_t t = 0; t < V; t++) {
			memset(row, (int)(t & 0x3f), rowbytes);
			if ((rc = lutdb_writer_put_rows(w, t, 1, row, 0)))
				return die("grain", rc);
		}
		if ((rc = lutdb_writer_commit(w)))
			return die("grain", rc);
		struct stat st;
		stat(path, &st);
		printf("grain_B%u_file_over_raw=%.4f\n", B, (double)st.st_size / ((double)V * rowbytes));
		double mean;
		rng = 88172645463325252ull;
		printf("grain_B=%u\n", B);
		fflush(stdout);
		if (cold(path, 64, &mean))
			return 1;
		unlink(path);
	}
	free(row);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "cold"))
		return cold(argv[2], argc > 3 ? atoi(argv[3]) : 200, NULL);
	if (argc >= 3 && !strcmp(argv[1], "warm"))
		return warm(argv[2], argc > 3 ? atoi(argv[3]) : 7);
	if (argc >= 3 && !strcmp(argv[1], "codec"))
		return codec(argv[2], argc > 3 ? atoi(argv[3]) : 500);
	if (argc >= 6 && !strcmp(argv[1], "sgemm"))
		return sgemm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (argc >= 6 && !strcmp(argv[1], "grain"))
		return grain(argv[2], (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), argc - 5, argv + 5);
	fprintf(stderr, "usage: bench_store cold|warm|codec DB [n] | sgemm ROWS D I THREADS | grain DIR V ROWBYTES B...\n");
	return 2;
}
