/*
 * json_cost - what parsing a JSON document costs, against the bound
 * lutdb_json_load enforces (format/base/json_bounded.h).
 *
 *   json_cost FILE [nul]       one line: bytes, values, containers, depth,
 *                              the scan's alloc_bound and its ratio to the
 *                              bytes, what jansson really allocated
 *                              (mallinfo2) and the peak RSS of the process
 *   json_cost FILE load        lutdb_json_load instead (no size cap): its
 *                              result and the peak RSS of the process
 *
 * FLAGS: "nul" adds JSON_ALLOW_NUL (the tokenizer's flag).  The file is
 * parsed with jansson directly (no caps), so the numbers of a document the
 * loader refuses can be seen too.  Exit 0 when jansson parsed it, 1 if not.
 * spec/SECURITY.md section 1.8 was measured with it.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "json_bounded.h"
#include "lutdb_err.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t)n + 1)) && fread(b, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	lutdb_json_stats st;
	json_error_t err;
	struct mallinfo2 m0, m1;
	struct rusage ru;
	size_t len = 0, flags = JSON_REJECT_DUPLICATES;
	char *text;
	json_t *root;

	if (argc < 2) {
		fprintf(stderr, "usage: json_cost FILE [nul]\n");
		return 2;
	}
	if (argc > 2 && !strcmp(argv[2], "nul"))
		flags |= JSON_ALLOW_NUL;
	if (!(text = slurp(argv[1], &len))) {
		perror(argv[1]);
		return 2;
	}
	if (argc > 2 && !strcmp(argv[2], "load")) {
		const lutdb_json_doc d = {argv[1], (size_t)-1, LUTDB_EBADINPUT, 0, 0};
		int rc = lutdb_json_load(&d, text, len, &root);

		getrusage(RUSAGE_SELF, &ru);
		printf("bytes=%zu load=%s maxrss=%ldKB (%.2fx) %s\n", len, lutdb_strerror(rc), ru.ru_maxrss,
		       (double)ru.ru_maxrss * 1024.0 / (double)len, rc ? lutdb_errdetail() : "");
		json_decref(root);
		free(text);
		return rc ? 1 : 0;
	}
	lutdb_json_scan(text, len, flags, &st);
	json_object_seed(1); /* the seed's own allocation, out of the count */
	m0 = mallinfo2();
	root = json_loadb(text, len, flags, &err);
	m1 = mallinfo2();
	getrusage(RUSAGE_SELF, &ru);
	printf("bytes=%zu values=%zu containers=%zu members=%zu depth=%zu valid=%d bound=%llu (%.2fx) "
	       "jansson=%llu (%.2fx) maxrss=%ldKB%s%s\n",
	       len, st.values, st.containers, st.members, st.max_depth, st.valid,
	       (unsigned long long)st.alloc_bound, len ? (double)st.alloc_bound / (double)len : 0.0,
	       (unsigned long long)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd),
	       len ? (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / (double)len : 0.0, ru.ru_maxrss,
	       root ? "" : " error=", root ? "" : err.text);
	json_decref(root);
	free(text);
	return root ? 0 : 1;
}
