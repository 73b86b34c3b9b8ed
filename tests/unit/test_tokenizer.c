/*
 * test_tokenizer.c - the lutdb tokenizer against reference fixtures.
 *
 * LUTDB_TOK_FIXTURES names the directory tests/tokenizer/make_fixtures.js
 * wrote (tests/tokenizer/run.sh sets it).  Every test fails when it is unset
 * or empty, or when a fixture is missing: a run without references is not a
 * pass.
 *
 * For each tokenizer and every corpus item: ids of encode (without, and when
 * the tokenizer has a template, with special tokens) equal those of the HF
 * `tokenizers` library; decode of the reference ids equals its text;
 * byte-level tokenizers round-trip; the stream decoder's chunks add up to
 * decode; invalid UTF-8 encodes as the references' U+FFFD-replaced string.
 * Agreement with the secondary references (js-tiktoken, gpt-3-encoder,
 * llama-tokenizer-js, llama3-tokenizer-js, @huggingface/tokenizers) is
 * counted and printed, not asserted: they are not exact HF executors.
 *
 * LUTDB_TOK_STRIDE=N checks every Nth item only (run.sh sets it under
 * valgrind).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lutdb_err.h"
#include "lutdb_tokenizer.h"

static const char *const NAMES[] = {
	"gpt2", "neox", "gpt2-variant-a", "gpt2-variant-b", "cl100k",
	"llama3", "llama2", "llama2-metaspace", "llama2-metaspace-split",
	"gpt2-prefix", "gpt2-suffix",
};
#define NNAMES (sizeof NAMES / sizeof NAMES[0])
#define MAX_REPORT 8

static const char *fixture_dir(void)
{
	const char *d = getenv("LUTDB_TOK_FIXTURES");

	ck_assert_msg(d && *d, "LUTDB_TOK_FIXTURES is not set: run tests/tokenizer/run.sh BUILD_DIR "
			       "(it generates the reference fixtures)");
	return d;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	ck_assert_msg(f != NULL, "cannot open fixture %s", path);
	for (;;) {
		size_t r;

		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap + 1);
			ck_assert(buf != NULL);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Next line of buf starting at *pos (NUL-terminated in place); NULL at end. */
static char *next_line(char *buf, size_t len, size_t *pos, size_t *llen)
{
	char *s, *e;

	if (*pos >= len)
		return NULL;
	s = buf + *pos;
	e = memchr(s, '\n', len - *pos);
	if (!e)
		e = buf + len;
	*e = '\0';
	*llen = (size_t)(e - s);
	*pos = (size_t)(e - buf) + 1;
	return s;
}

static int ids_equal(const json_t *arr, const uint32_t *ids, size_t n)
{
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) != n)
		return 0;
	for (i = 0; i < n; i++)
		if ((uint32_t)json_integer_value(json_array_get(arr, i)) != ids[i])
			return 0;
	return 1;
}

static uint32_t *json_ids(const json_t *arr, size_t *n)
{
	size_t i;
	uint32_t *v;

	*n = json_array_size(arr);
	v = malloc((*n + 1) * sizeof *v);
	ck_assert(v != NULL);
	for (i = 0; i < *n; i++)
		v[i] = (uint32_t)json_integer_value(json_array_get(arr, i));
	return v;
}

static void show_ids(const char *label, const uint32_t *ids, size_t n)
{
	size_t i;

	fprintf(stderr, "    %s:", label);
	for (i = 0; i < n && i < 40; i++)
		fprintf(stderr, " %u", ids[i]);
	fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

static void show_json_ids(const char *label, const json_t *arr)
{
	size_t n;
	uint32_t *v = json_ids(arr, &n);

	show_ids(label, v, n);
	free(v);
}

static lutdb_tokenizer *load_fixture(const char *dir, const char *name)
{
	char path[4096];
	size_t len;
	char *json;
	lutdb_tokenizer *t = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	json = slurp(path, &len);
	rc = lutdb_tokenizer_load(json, len, &t);
	free(json);
	ck_assert_msg(rc == LUTDB_OK, "%s: load failed: %s: %s", name, lutdb_strerror(rc),
		      lutdb_errdetail());
	return t;
}

/* Concatenation of the stream decoder's chunks for ids. */
static char *stream_all(const lutdb_tokenizer *t, const uint32_t *ids, size_t n, int skip,
			size_t *outlen)
{
	lutdb_tokenizer_stream *s = NULL;
	size_t cap = 256, len = 0, i;
	char *out = malloc(cap);

	ck_assert(out != NULL);
	ck_assert_int_eq(lutdb_tokenizer_stream_new(t, skip, &s), LUTDB_OK);
	for (i = 0; i < n; i++) {
		const char *c;
		size_t cl;

		ck_assert_int_eq(lutdb_tokenizer_stream_step(s, ids[i], &c, &cl), LUTDB_OK);
		while (len + cl + 1 > cap) {
			cap *= 2;
			out = realloc(out, cap);
			ck_assert(out != NULL);
		}
		memcpy(out + len, c, cl);
		len += cl;
	}
	out[len] = '\0';
	*outlen = len;
	lutdb_tokenizer_stream_free(s);
	return out;
}

static int ends_fffd(const char *s, size_t n)
{
	return n >= 3 && !memcmp(s + n - 3, "\xEF\xBF\xBD", 3);
}

struct counts {
	size_t items, ids_bad, sids_bad, dec_bad, sdec_bad, rt_bad, stream_bad;
};

static void report(size_t *nrep, const char *name, size_t item, const char *what,
		   const char *text)
{
	if ((*nrep)++ >= MAX_REPORT)
		return;
	fprintf(stderr, "  %s item %zu: %s mismatch; text: \"%.120s\"\n", name, item, what, text);
}

static void check_item(const lutdb_tokenizer *t, const char *name, size_t item, const char *text,
		       size_t tlen, const json_t *rec, int roundtrip, struct counts *c,
		       size_t *nrep, json_t *agree)
{
	uint32_t *ids = NULL, *sids = NULL, *rids;
	size_t n = 0, sn = 0, rn, dl;
	char *dec = NULL;
	const json_t *v, *alt;
	int rc;

	rc = lutdb_tokenizer_encode(t, text, tlen, 0, &ids, &n);
	ck_assert_msg(rc == LUTDB_OK, "%s: encode failed: %s", name, lutdb_errdetail());
	if (!ids_equal(json_object_get(rec, "ids"), ids, n)) {
		c->ids_bad++;
		report(nrep, name, item, "ids", text);
		if (*nrep <= MAX_REPORT) {
			show_json_ids("want", json_object_get(rec, "ids"));
			show_ids("got ", ids, n);
		}
	}
	/* decode of the reference ids */
	rids = json_ids(json_object_get(rec, "ids"), &rn);
	rc = lutdb_tokenizer_decode(t, rids, rn, 0, &dec, &dl);
	ck_assert_msg(rc == LUTDB_OK, "%s: decode failed: %s", name, lutdb_errdetail());
	v = json_object_get(rec, "dec");
	if (!json_is_string(v) || json_string_length(v) != dl || memcmp(json_string_value(v), dec, dl)) {
		c->dec_bad++;
		report(nrep, name, item, "decode", text);
		if (*nrep <= MAX_REPORT)
			fprintf(stderr, "    want \"%.120s\"\n    got  \"%.120s\"\n",
				json_is_string(v) ? json_string_value(v) : "?", dec);
	}
	/* stream decoding adds up to decode (every 16th item: it is quadratic-ish) */
	if (item % 16 == 0 && !ends_fffd(dec, dl)) {
		size_t sl;
		char *st = stream_all(t, rids, rn, 0, &sl);

		if (sl != dl || memcmp(st, dec, dl)) {
			c->stream_bad++;
			report(nrep, name, item, "stream decode", text);
		}
		free(st);
	}
	lutdb_free(dec);
	dec = NULL;
	free(rids);
	if (roundtrip) {
		rc = lutdb_tokenizer_decode(t, ids, n, 0, &dec, &dl);
		ck_assert_int_eq(rc, LUTDB_OK);
		if (dl != tlen || memcmp(dec, text, tlen)) {
			c->rt_bad++;
			report(nrep, name, item, "round trip", text);
		}
		lutdb_free(dec);
		dec = NULL;
	}
	if ((v = json_object_get(rec, "sids")) != NULL) {
		rc = lutdb_tokenizer_encode(t, text, tlen, 1, &sids, &sn);
		ck_assert_int_eq(rc, LUTDB_OK);
		if (!ids_equal(v, sids, sn)) {
			c->sids_bad++;
			report(nrep, name, item, "ids with special tokens", text);
			if (*nrep <= MAX_REPORT) {
				show_json_ids("want", v);
				show_ids("got ", sids, sn);
			}
		}
		lutdb_free(sids);
		rids = json_ids(v, &rn);
		rc = lutdb_tokenizer_decode(t, rids, rn, 1, &dec, &dl);
		ck_assert_int_eq(rc, LUTDB_OK);
		v = json_object_get(rec, "sdec");
		if (!json_is_string(v) || json_string_length(v) != dl ||
		    memcmp(json_string_value(v), dec, dl)) {
			c->sdec_bad++;
			report(nrep, name, item, "decode skipping special tokens", text);
		}
		lutdb_free(dec);
		free(rids);
	}
	alt = json_object_get(rec, "alt");
	if (json_is_object(alt)) {
		const char *k;
		json_t *a;

		json_object_foreach((json_t *)(uintptr_t)alt, k, a) {
			json_t *cnt = json_object_get(agree, k);
			json_int_t prev = cnt ? json_integer_value(cnt) : 0;

			json_object_set_new(agree, k, json_integer(prev + (ids_equal(a, ids, n) ? 1 : 0)));
		}
	}
	lutdb_free(ids);
	c->items++;
}

static void check_invalid(const lutdb_tokenizer *t, const char *dir, const char *name,
			  struct counts *c, size_t *nrep)
{
	char path[4096];
	size_t blen, rlen, bpos = 0, rpos = 0, item = 0, ll;
	char *bin, *ref, *line;

	snprintf(path, sizeof path, "%s/invalid.bin", dir);
	bin = slurp(path, &blen);
	snprintf(path, sizeof path, "%s/%s.invalid.jsonl", dir, name);
	ref = slurp(path, &rlen);
	while ((line = next_line(ref, rlen, &rpos, &ll)) != NULL) {
		json_error_t err;
		json_t *rec = json_loadb(line, ll, JSON_ALLOW_NUL, &err);
		const char *s = bin + bpos, *e;
		uint32_t *ids = NULL;
		size_t n = 0;

		ck_assert_msg(rec != NULL, "%s.invalid.jsonl: %s", name, err.text);
		e = memmem(s, blen - bpos, "\0\n", 2);
		ck_assert_msg(e != NULL, "invalid.bin: record %zu missing", item);
		ck_assert_int_eq(lutdb_tokenizer_encode(t, s, (size_t)(e - s), 0, &ids, &n), LUTDB_OK);
		if (!ids_equal(json_object_get(rec, "ids"), ids, n)) {
			c->ids_bad++;
			report(nrep, name, item, "invalid UTF-8 ids", "(binary)");
		}
		lutdb_free(ids);
		json_decref(rec);
		bpos = (size_t)(e - bin) + 2;
		item++;
	}
	ck_assert_msg(item > 0, "%s.invalid.jsonl is empty", name);
	free(bin);
	free(ref);
}

static json_t *manifest_entry(const char *dir, const char *name)
{
	char path[4096];
	json_error_t err;
	json_t *m, *e, *found = NULL;
	size_t i;

	snprintf(path, sizeof path, "%s/manifest.json", dir);
	m = json_load_file(path, 0, &err);
	ck_assert_msg(m != NULL, "%s: %s", path, err.text);
	json_array_foreach(m, i, e) {
		if (!strcmp(json_string_value(json_object_get(e, "name")), name)) {
			found = e;
			json_incref(found);
		}
	}
	json_decref(m);
	ck_assert_msg(found != NULL, "%s: no fixture for tokenizer \"%s\"", path, name);
	return found;
}

START_TEST(test_reference)
{
	const char *dir = fixture_dir(), *name = NAMES[_i];
	char path[4096];
	size_t clen, rlen, cpos = 0, rpos = 0, l1, l2, nrep = 0;
	char *corpus, *ref, *cl, *rl;
	json_t *entry = manifest_entry(dir, name), *agree = json_object();
	int roundtrip = json_is_true(json_object_get(entry, "roundtrip"));
	lutdb_tokenizer *t = load_fixture(dir, name);
	struct counts c = {0};
	const char *k, *st = getenv("LUTDB_TOK_STRIDE");
	size_t stride = st && atol(st) > 0 ? (size_t)atol(st) : 1, line = 0;
	json_t *v;

	snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
	corpus = slurp(path, &clen);
	snprintf(path, sizeof path, "%s/%s.ref.jsonl", dir, name);
	ref = slurp(path, &rlen);
	while ((cl = next_line(corpus, clen, &cpos, &l1)) != NULL) {
		json_error_t err;
		json_t *text, *rec;

		rl = next_line(ref, rlen, &rpos, &l2);
		ck_assert_msg(rl != NULL, "%s.ref.jsonl is shorter than corpus.jsonl", name);
		if (line++ % stride)
			continue;
		text = json_loadb(cl, l1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
		rec = json_loadb(rl, l2, JSON_ALLOW_NUL, &err);
		ck_assert_msg(text && json_is_string(text) && rec, "fixture line %zu: %s", c.items,
			      err.text);
		check_item(t, name, c.items, json_string_value(text), json_string_length(text), rec,
			   roundtrip, &c, &nrep, agree);
		json_decref(text);
		json_decref(rec);
	}
	check_invalid(t, dir, name, &c, &nrep);
	fprintf(stderr,
		"tokenizer %s: %zu items vs HF tokenizers: ids %zu bad, with-special ids %zu bad, "
		"decode %zu bad, skip-special decode %zu bad, round trip %zu bad, stream %zu bad\n",
		name, c.items, c.ids_bad, c.sids_bad, c.dec_bad, c.sdec_bad, c.rt_bad, c.stream_bad);
	json_object_foreach(agree, k, v)
		fprintf(stderr, "tokenizer %s: secondary reference %s agrees on %lld/%zu items\n", name,
			k, (long long)json_integer_value(v), c.items);
	ck_assert_msg(c.items > 0, "%s: empty corpus", name);
	ck_assert_msg(c.ids_bad + c.sids_bad + c.dec_bad + c.sdec_bad + c.rt_bad + c.stream_bad == 0,
		      "%s: %zu ids, %zu special ids, %zu decode, %zu special decode, %zu round-trip, "
		      "%zu stream mismatches (first ones above)",
		      name, c.ids_bad, c.sids_bad, c.dec_bad, c.sdec_bad, c.rt_bad, c.stream_bad);
	free(corpus);
	free(ref);
	json_decref(agree);
	json_decref(entry);
	lutdb_tokenizer_free(t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tokenizer-reference");
	TCase *tc = tcase_create("fixtures");

	tcase_set_timeout(tc, 1800);
	tcase_add_loop_test(tc, test_reference, 0, (int)NNAMES);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (getenv("LUTDB_VALGRIND")) /* memcheck cannot follow PCRE2 JIT code */
		setenv("LUTDB_TOKENIZER_NO_JIT", "1", 1);
	sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
