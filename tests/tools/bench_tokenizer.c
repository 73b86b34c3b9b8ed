/*
 * bench_tokenizer - single-thread throughput of lutdb_tokenizer_encode and
 * _decode.
 *
 *   bench_tokenizer TOKENIZER_JSON TEXT_FILE [MODE [SECONDS]]
 *
 * MODE: "whole" (one encode call for the whole file), "records" (fortune
 * records, split at lines holding only "%"; the default) or "lines".
 * SECONDS (default 2) bounds each measurement; "rN" runs exactly N encode
 * rounds instead (for `perf stat`).  Prints MB/s of input text for encode
 * and of output text for decode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lutdb_err.h"
#include "lutdb_tokenizer.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(1);
	}
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	b[n] = '\0';
	*len = (size_t)n;
	return b;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: the fair measure on a shared machine. */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct span {
	size_t off, len;
};

int main(int argc, char **argv)
{
	const char *mode = argc > 3 ? argv[3] : "records";
	double secs = argc > 4 && argv[4][0] != 'r' ? atof(argv[4]) : 2.0, t0, el, c0, cel;
	size_t fixed = argc > 4 && argv[4][0] == 'r' ? (size_t)atol(argv[4] + 1) : 0;
	size_t jlen, tlen, nsp = 0, i, bytes = 0, ntok = 0, rounds = 0, dbytes = 0;
	char *json, *text;
	struct span *sp;
	lutdb_tokenizer *t = NULL;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: %s TOKENIZER_JSON TEXT_FILE [whole|records|lines [SECONDS]]\n",
			argv[0]);
		return 2;
	}
	json = slurp(argv[1], &jlen);
	text = slurp(argv[2], &tlen);
	t0 = now();
	rc = lutdb_tokenizer_load(json, jlen, &t);
	if (rc) {
		fprintf(stderr, "load: %s: %s\n", lutdb_strerror(rc), lutdb_errdetail());
		return 1;
	}
	printf("load: %.1f ms\n", (now() - t0) * 1e3);
	sp = malloc((tlen + 2) * sizeof *sp);
	if (!sp)
		return 1;
	if (!strcmp(mode, "whole")) {
		sp[nsp].off = 0;
		sp[nsp++].len = tlen;
	} else {
		int rec = !strcmp(mode, "records");
		size_t s = 0;

		for (i = 0; i <= tlen; i++) {
			if (i < tlen && text[i] != '\n')
				continue;
			if (rec) {
				if (i + 2 <= tlen && text[i + 1] == '%' && (i + 2 == tlen || text[i + 2] == '\n')) {
					sp[nsp].off = s;
					sp[nsp++].len = i + 1 - s;
					s = i + 3;
					i += 2;
				} else if (i == tlen && s < tlen) {
					sp[nsp].off = s;
					sp[nsp++].len = tlen - s;
				}
			} else {
				if (i > s) {
					sp[nsp].off = s;
					sp[nsp++].len = i - s;
				}
				s = i + 1;
			}
		}
	}
	t0 = now();
	c0 = cpu();
	do {
		for (i = 0; i < nsp; i++) {
			uint32_t *ids;
			size_t n;

			rc = lutdb_tokenizer_encode(t, text + sp[i].off, sp[i].len, 0, &ids, &n);
			if (rc) {
				fprintf(stderr, "encode: %s\n", lutdb_errdetail());
				return 1;
			}
			bytes += sp[i].len;
			ntok += n;
			lutdb_free(ids);
		}
		rounds++;
		el = now() - t0;
	} while (fixed ? rounds < fixed : el < secs);
	cel = cpu() - c0;
	printf("encode (%s, %zu calls/round, %zu rounds): %.2f MB/s wall, %.2f MB/s of CPU time, "
	       "%.0f tokens/s, %.3f bytes/token\n",
	       mode, nsp, rounds, (double)bytes / el / 1e6, (double)bytes / cel / 1e6,
	       (double)ntok / el, (double)bytes / (double)(ntok ? ntok : 1));
	/* decode throughput over whole-text ids */
	{
		uint32_t *ids;
		size_t n, r = 0;

		rc = lutdb_tokenizer_encode(t, text, tlen, 0, &ids, &n);
		if (rc)
			return 1;
		t0 = now();
		do {
			char *d;
			size_t dl;

			rc = lutdb_tokenizer_decode(t, ids, n, 0, &d, &dl);
			if (rc)
				return 1;
			dbytes += dl;
			lutdb_free(d);
			r++;
			el = now() - t0;
		} while (el < secs / 2);
		printf("decode: %.2f MB/s of text (%zu ids)\n", (double)dbytes / el / 1e6, n);
		lutdb_free(ids);
	}
	free(sp);
	free(json);
	free(text);
	lutdb_tokenizer_free(t);
	return 0;
}
