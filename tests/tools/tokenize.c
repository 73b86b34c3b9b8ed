/*
 * tokenize - run a tokenizer.json from the command line (lutdb_tokenizer).
 *
 *   tokenize TOKENIZER_JSON [-s] < text      ids of stdin, one line of numbers
 *                                            (-s: add special tokens)
 *   tokenize TOKENIZER_JSON -d [-k] < ids    text of the ids on stdin
 *                                            (-k: skip special tokens)
 *   tokenize TOKENIZER_JSON -t < ids         stream-decode, one chunk per line
 *   tokenize TOKENIZER_JSON -i               vocab size, max id, bos / eos,
 *                                            added tokens
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lutdb_err.h"
#include "lutdb_tokenizer.h"

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, r;
	char *b = malloc(cap + 1);

	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);

			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
	}
	if (b)
		b[n] = '\0';
	*len = n;
	return b;
}

static uint32_t *parse_ids(const char *s, size_t *n)
{
	size_t cap = 64;
	uint32_t *v = malloc(cap * sizeof *v);
	char *end;

	*n = 0;
	while (v && *s) {
		unsigned long x = strtoul(s, &end, 10);

		if (end == s) {
			s++;
			continue;
		}
		if (*n == cap) {
			uint32_t *nv = realloc(v, cap * 2 * sizeof *v);

			if (!nv) {
				free(v);
				return NULL;
			}
			v = nv;
			cap *= 2;
		}
		v[(*n)++] = (uint32_t)x;
		s = end;
	}
	return v;
}

static int fail(int rc, const char *what)
{
	fprintf(stderr, "tokenize: %s: %s: %s\n", what, lutdb_strerror(rc), lutdb_errdetail());
	return rc == LUTDB_ETOKENIZER ? 3 : 1;
}

int main(int argc, char **argv)
{
	int special = 0, decode = 0, skip = 0, stream = 0, info = 0, rc, i;
	size_t jlen, len, n, k;
	char *json, *in;
	FILE *f;
	lutdb_tokenizer *t = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: %s TOKENIZER_JSON [-s | -d [-k] | -t | -i]\n", argv[0]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		special |= !strcmp(argv[i], "-s");
		decode |= !strcmp(argv[i], "-d");
		skip |= !strcmp(argv[i], "-k");
		stream |= !strcmp(argv[i], "-t");
		info |= !strcmp(argv[i], "-i");
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	json = read_all(f, &jlen);
	fclose(f);
	if (!json)
		return 1;
	rc = lutdb_tokenizer_load(json, jlen, &t);
	free(json);
	if (rc)
		return fail(rc, argv[1]);
	if (info) {
		printf("model %s, vocab %zu, max id %u, bos %d, eos %d\n", lutdb_tokenizer_model_type(t),
		       lutdb_tokenizer_vocab_size(t), lutdb_tokenizer_max_id(t),
		       (int)lutdb_tokenizer_bos_id(t), (int)lutdb_tokenizer_eos_id(t));
		for (k = 0; k < lutdb_tokenizer_added_count(t); k++) {
			uint32_t id;
			const char *c;
			size_t cl;
			int sp;

			lutdb_tokenizer_added_token(t, k, &id, &c, &cl, &sp);
			printf("%u\t%s\t%.*s\n", id, sp ? "special" : "added", (int)cl, c);
		}
		lutdb_tokenizer_free(t);
		return 0;
	}
	in = read_all(stdin, &len);
	if (!in)
		return 1;
	if (decode || stream) {
		uint32_t *ids = parse_ids(in, &n);

		if (!ids)
			return 1;
		if (stream) {
			lutdb_tokenizer_stream *s;

			rc = lutdb_tokenizer_stream_new(t, skip, &s);
			for (k = 0; !rc && k < n; k++) {
				const char *c;
				size_t cl;

				rc = lutdb_tokenizer_stream_step(s, ids[k], &c, &cl);
				if (!rc)
					printf("%u\t%.*s\n", ids[k], (int)cl, c);
			}
			lutdb_tokenizer_stream_free(s);
		} else {
			char *text;
			size_t tl;

			rc = lutdb_tokenizer_decode(t, ids, n, skip, &text, &tl);
			if (!rc) {
				fwrite(text, 1, tl, stdout);
				lutdb_free(text);
			}
		}
		free(ids);
	} else {
		uint32_t *ids;

		rc = lutdb_tokenizer_encode(t, in, len, special, &ids, &n);
		for (k = 0; !rc && k < n; k++)
			printf("%s%u", k ? " " : "", ids[k]);
		if (!rc) {
			printf("\n");
			lutdb_free(ids);
		}
	}
	free(in);
	lutdb_tokenizer_free(t);
	return rc ? fail(rc, "stdin") : 0;
}
