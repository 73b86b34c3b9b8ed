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
#include "time_scale.h"

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
		/* what the differential fuzzer (fuzz_regex_onig) found to differ */
		{"\\\\xe9", "xHH outside 00-7F"},
		{" {3}?x", "{n}?"},
		{"\\\\p{ L }", "plain name"},
		{"(?i)ss", "ss, st, ff, fi or fl"},
		{"(?i:fi)", "ss, st, ff, fi or fl"},
		{"(?i)Ã", "non-ASCII"},
		{"(?<=(a))b", "inside a look-behind"},
		{"(?<=a$)b", "inside a look-behind"},
		{"[\\\\w-z]", "range from a class escape"},
		{"[a-\\\\d]", "range to a class escape"},
		{"a{100001,", "over 65535"},
		{"\\\\x{1234567}", "malformed"},
		/* Oniguruma sees through (?: to an anchor alternative: (?:\A)? is \A? */
		{"()?((?:\\\\A)?)?", "quantifier on an anchor"},
		{"(?:^)?a", "quantifier on an anchor"},
		{"(?:a|\\\\z)?", "quantifier on an anchor"},
		{"(?:a|(?:b|$))*", "quantifier on an anchor"},
		{"(?:a|(?=b))?", "quantifier on an anchor"},
		{"(?:\\\\A|)?", "quantifier on an anchor"},
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
		"a{,}", "{", "x{a}", "a{2,2}?", "(?i)s(?-i)s", "(?i:'s|'t|'re|'ve|'m|'ll|'d)", "[\\\\w-]", "(?<=ab|c)d",
		"x(?i)a|b",
		/* anchors under a quantifier that Oniguruma allows: a capture, a (?i: group, a concatenation */
		"(\\\\A)?a", "(?i:a|\\\\A)?", "(?:\\\\Aa|b)?", "(?:a|\\\\A\\\\z)?", "(?:a(?i)|\\\\A)?",
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
	if (!getenv("LUTDB_VALGRIND")) /* memcheck runs it 50 times slower; qemu: time_scale.h */
		ck_assert_msg(now() - t0 < 20.0 * time_scale(), "the budget took %.1f s to run out", now() - t0);
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


/* ---- memory per input byte -------------------------------------------------------------- */

/* GPT-2's byte -> character map (bytes_to_unicode). */
static unsigned byte_cp(unsigned b)
{
	unsigned n = 0, i;

	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
		return b;
	for (i = 0; i < b; i++)
		if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE))
			n++;
	return 256 + n;
}

static size_t put_cp(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	o[0] = (char)(0xC0 | (cp >> 6));
	o[1] = (char)(0x80 | (cp & 0x3F));
	return 2;
}

/* A byte-level BPE tokenizer: the 256 byte characters, then merges of
 * space runs (up to 16) and of a few letter pairs.  pre: the
 * pre_tokenizer JSON. */
static lutdb_tokenizer *bytelevel_tok(const char *pre)
{
	static const char *const merges[][2] = {
		{"Ġ", "Ġ"}, {"ĠĠ", "ĠĠ"}, {"ĠĠĠĠ", "ĠĠĠĠ"}, {"ĠĠĠĠĠĠĠĠ", "ĠĠĠĠĠĠĠĠ"},
		{"t", "h"}, {"th", "e"}, {"Ġ", "the"}, {"e", "r"}, {"i", "n"}, {"a", "n"}, {"o", "n"},
		{"Ġ", "a"}, {"Ġ", "t"}, {"e", "s"}, {"r", "e"},
	};
	size_t cap = 64 << 10, len = 0, i, id = 0;
	char *j = malloc(cap), tok[8];
	lutdb_tokenizer *t = NULL;

	len += (size_t)sprintf(j + len, HEAD "\"pre_tokenizer\":%s,\"post_processor\":null,"
			       "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"dropout\":null,"
			       "\"unk_token\":null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
			       "\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{", pre);
	for (i = 0; i < 256; i++, id++) {
		size_t l = put_cp(tok, byte_cp((unsigned)i));

		if (tok[0] == '"' || tok[0] == '\\')
			len += (size_t)sprintf(j + len, "%s\"\\%c\":%zu", id ? "," : "", tok[0], id);
		else
			len += (size_t)sprintf(j + len, "%s\"%.*s\":%zu", id ? "," : "", (int)l, tok, id);
	}
	for (i = 0; i < sizeof merges / sizeof merges[0]; i++, id++)
		len += (size_t)sprintf(j + len, ",\"%s%s\":%zu", merges[i][0], merges[i][1], id);
	len += (size_t)sprintf(j + len, "},\"merges\":[");
	for (i = 0; i < sizeof merges / sizeof merges[0]; i++)
		len += (size_t)sprintf(j + len, "%s\"%s %s\"", i ? "," : "", merges[i][0], merges[i][1]);
	len += (size_t)sprintf(j + len, "]}}");
	ck_assert_msg(lutdb_tokenizer_load(j, len, &t) == LUTDB_OK, "%s", lutdb_errdetail());
	free(j);
	return t;
}

#define BYTELEVEL "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"
#define ONE_WORD "null" /* no pre-tokenizer: the whole text is one BPE word, as with Llama 2 */

/* Text like prose: words, punctuation, digits, newlines, some UTF-8. */
static void prose(char *t, size_t n)
{
	static const char *const words[] = {"the", "of", "and", "tokenizer", "a", "in", "is", "that",
					    "caf\xc3\xa9", "2024", "lookup", "table", "\xe6\x9d\xb1\xe4\xba\xac",
					    "model's", "expert", "re-run", "x"};
	unsigned seed = 7;
	size_t i = 0;

	while (i < n) {
		const char *w;
		size_t l;

		seed = seed * 1103515245u + 12345u;
		w = words[(seed >> 16) % (sizeof words / sizeof words[0])];
		l = strlen(w);
		if (i + l + 2 > n)
			break;
		memcpy(t + i, w, l);
		i += l;
		t[i++] = (seed >> 8) % 11 == 0 ? '\n' : (seed >> 8) % 7 == 0 ? ',' : ' ';
	}
	memset(t + i, ' ', n - i);
}

/* Peak memory of one encode of a text of n bytes (made by fill), in bytes
 * per input byte, measured in a child process: its peak RSS after the encode
 * less its peak before (the text itself, the tokenizer and a warmed-up
 * encoder are already there). */
static double encode_bytes_per_byte(const char *pre, void (*fill)(char *, size_t), size_t n, size_t *nids_out)
{
	int fd[2];
	pid_t pid;
	double r[2] = {-1, 0};

	ck_assert(pipe(fd) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		lutdb_tokenizer *t = bytelevel_tok(pre);
		char *text = malloc(n);
		uint32_t *ids = NULL;
		size_t nids = 0;
		struct rusage ru0, ru1;

		fill(text, n);
		/* warm up: the thread's scratch and word cache exist before */
		if (lutdb_tokenizer_encode(t, text, 4096, 0, &ids, &nids) == LUTDB_OK)
			lutdb_free(ids);
		getrusage(RUSAGE_SELF, &ru0);
		if (lutdb_tokenizer_encode(t, text, n, 0, &ids, &nids) == LUTDB_OK) {
			getrusage(RUSAGE_SELF, &ru1);
			r[0] = (double)(ru1.ru_maxrss - ru0.ru_maxrss) * 1024.0 / (double)n;
			r[1] = (double)nids;
		}
		if (write(fd[1], r, sizeof r) != sizeof r)
			_exit(2);
		_exit(0);
	}
	close(fd[1]);
	ck_assert(read(fd[0], r, sizeof r) == sizeof r);
	close(fd[0]);
	waitpid(pid, NULL, 0);
	*nids_out = (size_t)r[1];
	return r[0];
}

static void fill_spaces(char *t, size_t n)
{
	memset(t, ' ', n);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* The documented bound (spec/SECURITY.md): peak memory of an encode per
 * input byte, beyond the input itself. */
START_TEST(encode_memory_per_byte)
{
	static const struct {
		const char *what, *pre;
		void (*fill)(char *, size_t);
		size_t n;
		double bound;
	} cases[] = {
		{"32 MB of prose, GPT-2 byte-level", BYTELEVEL, prose, 32u << 20, 8.0},
		{"32 MB of spaces, GPT-2 byte-level (one pre-token)", BYTELEVEL, fill_spaces, 32u << 20, 24.0},
		{"8 MB of prose as one word (no pre-tokenizer)", ONE_WORD, prose, 8u << 20, 24.0},
	};
	size_t i;

#ifdef UNDER_ASAN
	SKIP_TEST("AddressSanitizer's allocator changes what RSS measures");
#endif
	if (getenv("LUTDB_VALGRIND"))
		SKIP_TEST("32 MB texts under memcheck");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t nids = 0;
		double t0 = now(), b = encode_bytes_per_byte(cases[i].pre, cases[i].fill, cases[i].n, &nids);

		printf("encode memory: %s: %.2f bytes per input byte, %zu ids, %.1f s\n", cases[i].what, b, nids,
		       now() - t0);
		fflush(stdout);
		ck_assert_msg(b >= 0, "%s: encode failed", cases[i].what);
		ck_assert_msg(b <= cases[i].bound, "%s: %.2f bytes per input byte (bound %.0f)", cases[i].what, b,
			      cases[i].bound);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tokenizer-bounds");
	TCase *tc = tcase_create("bounds");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, nonlinear_constructs_are_refused);
	tcase_add_test(tc, real_patterns_still_load);
	tcase_add_test(tc, backtracking_work_is_bounded_per_input);
	tcase_add_test(tc, real_patterns_on_long_runs_stay_within_budget);
	tcase_add_test(tc, encode_memory_per_byte);
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
