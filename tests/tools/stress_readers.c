/*
 * stress_readers.c - many processes and threads reading one database.
 *
 *   stress_readers DB [--procs P] [--threads T] [--seconds S] [--seed N]
 *                     [--decode 0|1] [--prompts K] [--model-threads M]
 *
 * First a single-threaded reference run in this process: the XXH3-64 of
 * every token row (checked reads) and, when the engine can run the model,
 * the greedy continuation (4 ids) of K prompts of 3 ids.  Then P processes
 * (fork), each opening its own handle shared by T threads, read for S
 * seconds: random tokens, half with forced checksums (LUTDB_READ_VERIFY),
 * half with the lazy once-per-row check, a random layer view, a tensor
 * lookup, and (decode 1) greedy decodes of random prompts, each thread with
 * its own session over the process's one model (M compute threads, default
 * 1: the model's pool is then shared by T sessions).  Every row checksum and
 * every decoded id must equal the reference.
 *
 *   stress_readers DB --open-cost N
 *
 * Measures what a reader pays to open DB (spec/SECURITY.md quotes it): N
 * cold opens (the file's pages dropped from the page cache first with
 * posix_fadvise DONTNEED), N warm opens, the LMDB validation walk alone
 * (cold and warm), the pages resident after a cold open, a cold and a warm
 * first read of a row (lazy checksum included), and one lutdb_verify.
 *
 * Prints one line per process and a total line:
 *   total: P procs x T threads, S s: R reads, D decodes, 0 checksum errors,
 *   0 mismatches, 0 crashes
 * and exits 0 only when there were reads and no error, mismatch or crash.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lutdb.h"
#include "record.h"
#include "lutdb_runtime.h"

#define GEN 4
#define PROMPT 3

typedef struct shared {
	const char *path;
	uint32_t V, L;
	uint64_t row_bytes;
	int codec;
	uint64_t *row_sum;  /* reference XXH3-64 of each token row */
	uint32_t nprompts;
	uint32_t *prompts;  /* nprompts x PROMPT ids */
	uint32_t *gen;      /* nprompts x GEN reference ids */
	int decode, model_threads;
	double seconds;
	uint64_t seed;
	/* per process */
	lutdb_db *db;
	lutdb_model *model;
	_Atomic uint64_t reads, decodes, cksum_errors, mismatches, other_errors;
	_Atomic int first_error_set;
	char first_error[256];
} shared;

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void note_error(shared *sh, const char *what, int rc)
{
	int expected = 0;
	if (atomic_compare_exchange_strong(&sh->first_error_set, &expected, 1))
		snprintf(sh->first_error, sizeof sh->first_error, "%s: %s (%s)", what, lutdb_errdetail(),
			 lutdb_strerror(rc));
}

/* Greedy continuation of prompt p: GEN ids into out. */
static int decode_prompt(lutdb_model *m, const uint32_t *prompt, uint32_t *out)
{
	lutdb_session_opts so = {.size = sizeof so, .capacity = PROMPT + GEN};
	lutdb_session *s = NULL;
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = GEN, .ignore_eos = 1};
	size_t n = 0;
	int rc = lutdb_session_new(m, &so, &s);

	if (rc == LUTDB_OK)
		rc = lutdb_generate(s, prompt, PROMPT, &go, out, &n, NULL);
	if (rc == LUTDB_OK && n != GEN)
		rc = LUTDB_EINTERNAL;
	lutdb_session_free(s);
	return rc;
}

static void *worker(void *arg)
{
	shared *sh = ((void **)arg)[0];
	uint64_t rng = (uint64_t)(uintptr_t)((void **)arg)[1];
	void *scratch = sh->codec ? malloc(sh->row_bytes) : NULL;
	double end = now() + sh->seconds;
	uint64_t iter = 0;

	if (sh->codec && !scratch) {
		atomic_fetch_add(&sh->other_errors, 1);
		return NULL;
	}
	while (now() < end) {
		uint32_t t = (uint32_t)(next_rand(&rng) % sh->V);
		unsigned flags = (next_rand(&rng) & 1) ? LUTDB_READ_VERIFY : 0;
		lutdb_row row;
		int rc = lutdb_token_row(sh->db, t, flags, scratch, scratch ? sh->row_bytes : 0, &row);
		if (rc == LUTDB_ECHECKSUM) {
			atomic_fetch_add(&sh->cksum_errors, 1);
			note_error(sh, "token_row", rc);
		} else if (rc) {
			atomic_fetch_add(&sh->other_errors, 1);
			note_error(sh, "token_row", rc);
		} else if (lutdb_xxh3(row.data, sh->row_bytes) != sh->row_sum[t]) {
			atomic_fetch_add(&sh->mismatches, 1);
			note_error(sh, "row differs from the single-threaded read", LUTDB_OK);
		}
		atomic_fetch_add(&sh->reads, 1);
		/* A layer view must be the matching slice of the token row. */
		uint32_t l = (uint32_t)(next_rand(&rng) % sh->L);
		lutdb_row lr;
		rc = lutdb_layer_row(sh->db, l, t, flags, scratch, scratch ? sh->row_bytes : 0, &lr);
		if (rc) {
			atomic_fetch_add(rc == LUTDB_ECHECKSUM ? &sh->cksum_errors : &sh->other_errors, 1);
			note_error(sh, "layer_row", rc);
		} else if (!scratch) {
			size_t lb = (size_t)(sh->row_bytes / sh->L);
			if ((const uint8_t *)lr.data != (const uint8_t *)row.data + (size_t)l * lb) {
				atomic_fetch_add(&sh->mismatches, 1);
				note_error(sh, "layer view is not a slice of the token row", LUTDB_OK);
			}
		}
		if ((iter & 15) == 0) {
			size_t nt = lutdb_tensor_count(sh->db);
			lutdb_tensor tn;
			if (nt && (rc = lutdb_tensor_at(sh->db, (size_t)(next_rand(&rng) % nt), &tn))) {
				atomic_fetch_add(rc == LUTDB_ECHECKSUM ? &sh->cksum_errors : &sh->other_errors, 1);
				note_error(sh, "tensor_at", rc);
			}
		}
		if (sh->decode && sh->model && (iter & 7) == 0) {
			uint32_t p = (uint32_t)(next_rand(&rng) % sh->nprompts), out[GEN];
			rc = decode_prompt(sh->model, sh->prompts + (size_t)p * PROMPT, out);
			if (rc) {
				atomic_fetch_add(rc == LUTDB_ECHECKSUM ? &sh->cksum_errors : &sh->other_errors, 1);
				note_error(sh, "decode", rc);
			} else if (memcmp(out, sh->gen + (size_t)p * GEN, sizeof out)) {
				atomic_fetch_add(&sh->mismatches, 1);
				note_error(sh, "decoded ids differ from the single-threaded run", LUTDB_OK);
			}
			atomic_fetch_add(&sh->decodes, 1);
		}
		iter++;
	}
	free(scratch);
	return NULL;
}

/* One process: its own handle and model, nthreads threads.  Reports through
 * a pipe: reads decodes cksum mismatches other first_error. */
static int child(shared *sh, int nthreads, int idx, int fd)
{
	int rc = lutdb_open(sh->path, 0, &sh->db);
	pthread_t *th = calloc((size_t)nthreads, sizeof *th);
	void *(*args)[2] = calloc((size_t)nthreads, sizeof *args);

	if (rc || !th || !args) {
		dprintf(fd, "0 0 0 0 1 open: %s\n", lutdb_errdetail());
		return 1;
	}
	if (sh->decode) {
		lutdb_model_opts mo = {.size = sizeof mo, .threads = sh->model_threads};
		if ((rc = lutdb_model_new(sh->db, &mo, &sh->model))) {
			note_error(sh, "model", rc);
			atomic_fetch_add(&sh->other_errors, 1);
		}
	}
	for (int i = 0; i < nthreads; i++) {
		args[i][0] = sh;
		args[i][1] = (void *)(uintptr_t)(sh->seed * 1000003u + (uint64_t)idx * 64 + (uint64_t)i + 1);
		if (pthread_create(&th[i], NULL, worker, args[i])) {
			dprintf(fd, "0 0 0 0 1 pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	dprintf(fd, "%llu %llu %llu %llu %llu %s\n", (unsigned long long)sh->reads, (unsigned long long)sh->decodes,
		(unsigned long long)sh->cksum_errors, (unsigned long long)sh->mismatches,
		(unsigned long long)sh->other_errors, sh->first_error_set ? sh->first_error : "-");
	lutdb_model_free(sh->model);
	lutdb_close(sh->db);
	free(th);
	free(args);
	return 0;
}

static int reference(shared *sh)
{
	lutdb_db *db;
	int rc = lutdb_open(sh->path, 0, &db);

	if (rc) {
		fprintf(stderr, "stress_readers: %s (%s)\n", lutdb_errdetail(), lutdb_strerror(rc));
		return -1;
	}
	const lutdb_info *in = lutdb_get_info(db);
	sh->V = in->vocab;
	sh->L = in->layers;
	sh->row_bytes = in->token_row_bytes;
	sh->codec = in->table_codec;
	sh->row_sum = malloc(sh->V * sizeof *sh->row_sum);
	void *scratch = sh->codec ? malloc(sh->row_bytes) : NULL;
	if (!sh->row_sum || (sh->codec && !scratch)) {
		fprintf(stderr, "stress_readers: out of memory\n");
		return -1;
	}
	if (in->token_begin != 0 || in->token_end != in->vocab) {
		fprintf(stderr, "stress_readers: %s holds only tokens %u..%u\n", sh->path, in->token_begin,
			in->token_end - 1);
		return -1;
	}
	for (uint32_t t = 0; t < sh->V; t++) {
		lutdb_row row;
		if ((rc = lutdb_token_row(db, t, LUTDB_READ_VERIFY, scratch, scratch ? sh->row_bytes : 0, &row))) {
			fprintf(stderr, "stress_readers: reference read: %s (%s)\n", lutdb_errdetail(),
				lutdb_strerror(rc));
			return -1;
		}
		sh->row_sum[t] = lutdb_xxh3(row.data, sh->row_bytes);
	}
	free(scratch);
	if (sh->decode) {
		lutdb_model *m = NULL;
		lutdb_model_opts mo = {.size = sizeof mo, .threads = 1};
		sh->prompts = malloc((size_t)sh->nprompts * PROMPT * sizeof *sh->prompts);
		sh->gen = malloc((size_t)sh->nprompts * GEN * sizeof *sh->gen);
		if (!sh->prompts || !sh->gen)
			return -1;
		if (in->max_position < PROMPT + GEN || (rc = lutdb_model_new(db, &mo, &m))) {
			fprintf(stderr, "stress_readers: the engine cannot run this model (%s); rows only\n",
				in->max_position < PROMPT + GEN ? "context too short" : lutdb_errdetail());
			sh->decode = 0;
		} else {
			uint64_t r = sh->seed * 7919u + 17;
			for (uint32_t i = 0; i < sh->nprompts * PROMPT; i++)
				sh->prompts[i] = (uint32_t)(next_rand(&r) % sh->V);
			for (uint32_t p = 0; p < sh->nprompts; p++)
				if ((rc = decode_prompt(m, sh->prompts + (size_t)p * PROMPT, sh->gen + (size_t)p * GEN))) {
					fprintf(stderr, "stress_readers: reference decode: %s (%s)\n", lutdb_errdetail(),
						lutdb_strerror(rc));
					return -1;
				}
		}
		lutdb_model_free(m);
	}
	lutdb_close(db);
	return 0;
}

/* ---- open cost ------------------------------------------------------------ */
/* Library-internal (lutdb/lmdb_check.c), linked from liblutdb.a. */
int lutdb_lmdb_validate(const char *path, int fd, uint64_t file_size, uint64_t *main_root);

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static size_t resident_pages(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	size_t n = 0;
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	size_t pages = ((size_t)st.st_size + 4095) / 4096;
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	unsigned char *v = malloc(pages);
	if (m != MAP_FAILED && v && mincore(m, (size_t)st.st_size, v) == 0)
		for (size_t i = 0; i < pages; i++)
			n += v[i] & 1;
	if (m != MAP_FAILED)
		munmap(m, (size_t)st.st_size);
	free(v);
	close(fd);
	return n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int open_cost(const char *path, int n)
{
	double *t = calloc((size_t)n, sizeof *t), t0;
	lutdb_db *db;
	size_t res = 0;
	int rc;

	if (!t || n < 1)
		return 2;
	/* Cold: the whole open (validation walk, LMDB environment, indexes). */
	for (int i = 0; i < n; i++) {
		drop_cache(path);
		t0 = now();
		if ((rc = lutdb_open(path, 0, &db)))
			return fprintf(stderr, "open: %s\n", lutdb_errdetail()), 1;
		t[i] = now() - t0;
		if (i == 0)
			res = resident_pages(path);
		lutdb_close(db);
	}
	printf("open cold: median %.2f ms (n=%d); %zu pages resident after the first cold open\n", median(t, n) * 1e3,
	       n, res);
	for (int i = 0; i < n; i++) {
		t0 = now();
		if ((rc = lutdb_open(path, 0, &db)))
			return 1;
		t[i] = now() - t0;
		lutdb_close(db);
	}
	printf("open warm: median %.3f ms (n=%d)\n", median(t, n) * 1e3, n);
	/* The validation walk alone. */
	for (int cold = 1; cold >= 0; cold--) {
		for (int i = 0; i < n; i++) {
			int fd = open(path, O_RDONLY);
			struct stat st;
			uint64_t root;
			if (fd < 0 || fstat(fd, &st))
				return 1;
			if (cold) {
				close(fd);
				drop_cache(path);
				fd = open(path, O_RDONLY);
			}
			t0 = now();
			rc = lutdb_lmdb_validate(path, fd, (uint64_t)st.st_size, &root);
			t[i] = now() - t0;
			close(fd);
			if (rc)
				return 1;
		}
		printf("validation walk %s: median %.3f ms\n", cold ? "cold" : "warm", median(t, n) * 1e3);
	}
	/* First reads of rows: lazy checksum, cold and warm pages. */
	if ((rc = lutdb_open(path, 0, &db)))
		return 1;
	const lutdb_info *in = lutdb_get_info(db);
	void *scratch = in->table_codec ? malloc(in->token_row_bytes) : NULL;
	uint64_t r = 12345;
	double cold_sum = 0, warm_sum = 0, verify_sum = 0;
	int reads = 64;
	drop_cache(path);
	for (int i = 0; i < reads; i++) {
		uint32_t tok = (uint32_t)(next_rand(&r) % in->vocab);
		lutdb_row row;
		t0 = now();
		if (lutdb_token_row(db, tok, 0, scratch, scratch ? in->token_row_bytes : 0, &row))
			return 1;
		cold_sum += now() - t0;
		t0 = now();
		if (lutdb_token_row(db, tok, 0, scratch, scratch ? in->token_row_bytes : 0, &row))
			return 1;
		warm_sum += now() - t0;
		t0 = now();
		if (lutdb_token_row(db, tok, LUTDB_READ_VERIFY, scratch, scratch ? in->token_row_bytes : 0, &row))
			return 1;
		verify_sum += now() - t0;
	}
	printf("row read (%llu B): first read, cold pages, checksum %.1f us; again, checked already %.2f us; "
	       "forced checksum, warm %.1f us (means of %d)\n", (unsigned long long)in->token_row_bytes,
	       cold_sum / reads * 1e6, warm_sum / reads * 1e6, verify_sum / reads * 1e6, reads);
	lutdb_close(db);
	if ((rc = lutdb_open(path, LUTDB_OPEN_WILLNEED, &db)))
		return 1;
	t0 = now();
	rc = lutdb_verify(db, NULL, NULL);
	printf("verify: %s in %.2f s (%.0f MB/s, page cache as left by the reads above)\n", rc ? "FAILED" : "ok",
	       now() - t0, (double)lutdb_get_info(db)->file_bytes / (now() - t0) / 1e6);
	lutdb_close(db);
	free(scratch);
	free(t);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	shared sh;
	int procs = 4, threads = 4;

	memset(&sh, 0, sizeof sh);
	sh.seconds = 10;
	sh.seed = 1;
	sh.decode = 1;
	sh.nprompts = 16;
	sh.model_threads = 1;
	if (argc < 2) {
		fprintf(stderr, "usage: stress_readers DB [--procs P] [--threads T] [--seconds S] [--seed N] "
				"[--decode 0|1] [--prompts K] [--model-threads M]\n       stress_readers DB --open-cost N\n");
		return 2;
	}
	sh.path = argv[1];
	if (argc == 4 && !strcmp(argv[2], "--open-cost"))
		return open_cost(argv[1], atoi(argv[3]));
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--procs"))
			procs = atoi(v);
		else if (!strcmp(k, "--threads"))
			threads = atoi(v);
		else if (!strcmp(k, "--seconds"))
			sh.seconds = atof(v);
		else if (!strcmp(k, "--seed"))
			sh.seed = strtoull(v, NULL, 10);
		else if (!strcmp(k, "--decode"))
			sh.decode = atoi(v);
		else if (!strcmp(k, "--model-threads"))
			sh.model_threads = atoi(v);
		else if (!strcmp(k, "--prompts"))
			sh.nprompts = (uint32_t)atoi(v);
		else {
			fprintf(stderr, "stress_readers: unknown option %s\n", k);
			return 2;
		}
	}
	if (procs < 1 || threads < 1 || sh.nprompts < 1 || sh.seed == 0 || sh.model_threads < 1) {
		fprintf(stderr, "stress_readers: bad arguments\n");
		return 2;
	}
	if (reference(&sh))
		return 1;
	printf("reference: %u rows%s\n", sh.V, sh.decode ? ", greedy ids of the prompts" : " (no decode)");
	fflush(stdout);

	int *fds = calloc((size_t)procs, sizeof *fds);
	pid_t *pids = calloc((size_t)procs, sizeof *pids);
	if (!fds || !pids)
		return 1;
	for (int p = 0; p < procs; p++) {
		int pfd[2];
		if (pipe(pfd))
			return perror("pipe"), 1;
		pids[p] = fork();
		if (pids[p] < 0)
			return perror("fork"), 1;
		if (pids[p] == 0) {
			close(pfd[0]);
			_exit(child(&sh, threads, p, pfd[1]));
		}
		close(pfd[1]);
		fds[p] = pfd[0];
	}
	unsigned long long reads = 0, decodes = 0, cks = 0, mism = 0, other = 0;
	int crashes = 0;
	for (int p = 0; p < procs; p++) {
		char buf[512] = "";
		FILE *f = fdopen(fds[p], "r");
		int st = 0;
		if (!f || !fgets(buf, sizeof buf, f))
			buf[0] = '\0';
		if (f)
			fclose(f);
		waitpid(pids[p], &st, 0);
		unsigned long long a = 0, b = 0, c = 0, d = 0, e = 0;
		char first[400] = "-";
		int got = sscanf(buf, "%llu %llu %llu %llu %llu %399[^\n]", &a, &b, &c, &d, &e, first);
		if (WIFSIGNALED(st) || got < 5) {
			crashes++;
			printf("proc %d: crashed (%s)\n", p,
			       WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "no report");
			continue;
		}
		printf("proc %d: %llu reads, %llu decodes, %llu checksum errors, %llu mismatches, %llu other errors; "
		       "first error: %s\n", p, a, b, c, d, e, first);
		reads += a;
		decodes += b;
		cks += c;
		mism += d;
		other += e;
	}
	printf("total: %d procs x %d threads, %.0f s: %llu reads, %llu decodes, %llu checksum errors, "
	       "%llu mismatches, %llu other errors, %d crashes\n",
	       procs, threads, sh.seconds, reads, decodes, cks, mism, other, crashes);
	free(sh.row_sum);
	free(sh.prompts);
	free(sh.gen);
	free(fds);
	free(pids);
	return (reads > 0 && !cks && !mism && !other && !crashes && (!sh.decode || decodes > 0)) ? 0 : 1;
}
