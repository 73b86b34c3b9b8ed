/*
 * test_tokenizer_bounds.c - hostile tokenizers and texts against the
 * tokenizer's time and memory bounds (issue 12, class 6): regex constructs
 * without a linear-time bound are refused at load (so at pack), the real
 * pre-tokenizer patterns still load and run, the regex work of one input
 * is bounded by a budget linear in its length, and encode's peak memory
 * per input byte stays within its documented bound.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lutdb_err.h"
#include "lutdb_tokenizer.h"
#include "skip.h"

#define HEAD "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],\"normalizer\":null,"
#define TAIL                                                                                         \
	"\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"BPE\",\"dropout\":null,"     \
	"\"unk_token\":null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"        \
	"\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{\"a\":0,\" \":1,\"x\":2},\"merges\":[]}}"

/* A tokenizer whose pre-tokenizer is one Split on pattern (JSON-escaped). */
static int split_load(const char *pattern_json, lutdb_tokenizer **t)
{
	char *json = malloc(strlen(pattern_json) + 1024);
	int rc;

	sprintf(json, HEAD "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},"
			   "\"behavior\":\"Isolated\",\"invert\":false}," TAIL, pattern_json);
	*t = (lutdb_tokenizer *)1;
	rc = lutdb_tokenizer_load(json, strlen(json), t);
	free(json);
	return rc;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- refused at load ------------------------------------------------------------------ */

START_TEST(nonlinear_constructs_are_refused)
{
	/* pattern (as in the JSON file), what the detail must say */
	static const char *const cases[][2] = {
		{"(a)\\\\1", "backreference"},
		{"(a)(b)\\\\2+", "backreference"},
		{"(?<n>a)\\\\k<n>", "named group"},
		{"a\\\\k<n>", "named backreference"},
		{"(a)\\\\g<1>", "subroutine call"},
		{"(?R)", "recursion"},
		{"(a)(?1)", "recursion"},
		{"(?(1)a|b)", "conditional"},
		{"(?C1)a", "callout"},
		{"(?>a+)b", "atomic group"},
		{"a++", "possessive"},
		{"a*+b", "possessive"},
		{"a**", "quantifier on a quantifier"},
		{"a{1,3}+", "quantifier on a quantifier"},
		{"(a+)+b", "repeated group"},
		{"(?:a*)*b", "repeated group"},
		{"(?:a|a)*b", "repeated group"},
		{"(?: |\\t)*[\\r\\n]", "repeated group"}, /* 50 KB of spaces: 18 s before */
		{"(?:x(?:a|b))+", "repeated group"},
		{"(?:\\\\s+x){2,}", "repeated group"},
		{"(?=\\\\s*x)", "look-around"},
		{"\\\\s+(?!\\\\S+x)", "look-around"},
		{"(?<=a{1,3})b", "look-around"},
		{"*a", "nothing to repeat"},
		{"(*CR)a", "nothing to repeat"},
		{"a|?b", "nothing to repeat"},
		{"^*a", "anchor"},
		{"(?=a)*b", "anchor or a look-around"},
		{"(?x) a", "extended mode"},
		{"a{3,2}", "n > m"},
		{"a{70000}", "over 65535"},
		{"(?~ab)", "absent operator"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		lutdb_tokenizer *t;
		int rc = split_load(cases[i][0], &t);

		ck_assert_msg(rc == LUTDB_ETOKENIZER, "pattern %s: expected ETOKENIZER, got %s (%s)", cases[i][0],
			      lutdb_strerror(rc), rc ? lutdb_errdetail() : "loaded");
		ck_assert_ptr_null(t);
		ck_assert_msg(strstr(lutdb_errdetail(), cases[i][1]) != NULL, "pattern %s: detail \"%s\" lacks \"%s\"",
			      cases[i][0], lutdb_errdetail(), cases[i][1]);
	}
}
END_TEST

/* The pre-tokenizer patterns of real Hugging Face tokenizers, and shapes
 * around the refused ones that stay allowed. */
START_TEST(real_patterns_still_load)
{
	static const char *const pats[] = {
		/* GPT-2, RoBERTa, Phi-2, Pythia */
		"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+",
		/* cl100k, Llama 3 */
		"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
		"[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
		/* Qwen 2 */
		"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*"
		"|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
		/* o200k (GPT-4o, Phi-4) */
		"[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+"
		"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+"
		"[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
		"[\\\\r\\\\n/]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
		/* DeepSeek V3's three Splits */
		"\\\\p{N}{1,3}",
		"[一-龥\\\\u3040-ゟ゠-ヿ]+",
		"[!\\\"#$%&'()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\\\r\\\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}\\\\p{M}]+"
		"| ?[\\\\p{P}\\\\p{S}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
		/* allowed shapes: optional groups, repeats of plain groups, tempered tokens */
		"(?:ab)+c", "(?:a+)?b", "(?:(?!x).)+", "x{,3}y", "a{2}b{2,}c{0,5}?", "\\\\x{41}+\\\\x41*",
		"a{,}", "{", "x{a}",
	};
	static const char text[] = "Hello, world! It's 2024: don't   stop\n\n  élan ÉLAN 東京 ｶﾀｶﾅ x{,}{ a";
	size_t i;

	for (i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		lutdb_tokenizer *t;
		uint32_t *ids = NULL;
		size_t n = 0;
		int rc = split_load(pats[i], &t);

		ck_assert_msg(rc == LUTDB_OK, "pattern %s refused: %s", pats[i], lutdb_errdetail());
		ck_assert_int_eq(lutdb_tokenizer_encode(t, text, sizeof text - 1, 0, &ids, &n), LUTDB_OK);
		lutdb_free(ids);
		lutdb_tokenizer_free(t);
	}
}
END_TEST

/* ---- the work budget -------------------------------------------------------------------- */

/* [ ]*[ ]*[\r\n] backtracks quadratically at every start position of a
 * space run: before the budget, 50,000 spaces took 3 s and 550,000 would
 * take 6 minutes (the step limit held each position, not the search); now
 * the search stops with LUTDB_ETOOBIG after a number of steps linear in the
 * length. */
START_TEST(backtracking_work_is_bounded_per_input)
{
	lutdb_tokenizer *t;
	size_t n = 50000;
	char *text = malloc(n);
	uint32_t *ids = (uint32_t *)1;
	size_t nids = 1;
	double t0;
	int rc;

	ck_assert_int_eq(split_load("[ ]*[ ]*[\\\\r\\\\n]", &t), LUTDB_OK);
	memset(text, ' ', n);
	t0 = now();
	rc = lutdb_tokenizer_encode(t, text, n, 0, &ids, &nids);
	ck_assert_msg(rc == LUTDB_ETOOBIG, "got %s: %s", lutdb_strerror(rc), lutdb_errdetail());
	ck_assert_ptr_null(ids);
	ck_assert_uint_eq(nids, 0);
	ck_assert_msg(strstr(lutdb_errdetail(), "regex work limit") && strstr(lutdb_errdetail(), "Split"),
		      "detail: %s", lutdb_errdetail());
	ck_assert_msg(now() - t0 < 20.0, "the budget took %.1f s to run out", now() - t0);
	/* the tokenizer is still usable */
	ck_assert_int_eq(lutdb_tokenizer_encode(t, "a \n", 3, 0, &ids, &nids), LUTDB_OK);
	lutdb_free(ids);
	lutdb_tokenizer_free(t);
	free(text);
}
END_TEST

/* The patterns of real tokenizers backtrack over a whitespace run once, at
 * its first position: long runs stay far inside the budget. */
START_TEST(real_patterns_on_long_runs_stay_within_budget)
{
	static const char *const pats[] = {
		"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+",
		"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
		"[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
		"[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+"
		"|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*"
		"|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n/]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
	};
	size_t n = 6u << 20, i, k;
	char *text = malloc(n);

	if (getenv("LUTDB_VALGRIND"))
		SKIP_TEST("6 MB texts under memcheck");
	/* 2 MB of spaces, 1 MB of capitals, then runs of 1..300 spaces,
	 * tabs and newlines between words */
	memset(text, ' ', 2u << 20);
	memset(text + (2u << 20), 'A', 1u << 20);
	for (i = 3u << 20, k = 0; i < n; k++) {
		size_t run = 1 + (k * 7919) % 300, w = 1 + k % 9;

		for (; run && i < n; run--, i++)
			text[i] = " \t \n"[(k + run) % 4];
		for (; w && i < n; w--, i++)
			text[i] = (char)('a' + (k + w) % 26);
	}
	for (i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		lutdb_tokenizer *t;
		uint32_t *ids = NULL;
		size_t nids = 0;

		ck_assert_int_eq(split_load(pats[i], &t), LUTDB_OK);
		ck_assert_msg(lutdb_tokenizer_encode(t, text, n, 0, &ids, &nids) == LUTDB_OK, "pattern %zu: %s", i,
			      lutdb_errdetail());
		lutdb_free(ids);
		lutdb_tokenizer_free(t);
	}
	free(text);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tokenizer-bounds");
	TCase *tc = tcase_create("bounds");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, nonlinear_constructs_are_refused);
	tcase_add_test(tc, real_patterns_still_load);
	tcase_add_test(tc, backtracking_work_is_bounded_per_input);
	tcase_add_test(tc, real_patterns_on_long_runs_stay_within_budget);
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
