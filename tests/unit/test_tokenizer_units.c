/*
 * test_tokenizer_units.c - tokenizer components on small hand-made
 * tokenizer.json files, hostile and malformed input, the stream decoder,
 * the information getters, concurrent use and unloading the shared library
 * (no thread key left behind).  (The corpus-wide comparison
 * with the HF references is test_tokenizer.c.)
 */
#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lutdb_err.h"
#include "lutdb_tokenizer.h"

#define HEAD "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
#define BPE(vocab, merges, extra)                                                          \
	"\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"                 \
	"\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false," \
	"\"byte_fallback\":false" extra ",\"vocab\":{" vocab "},\"merges\":[" merges "]}}"

static lutdb_tokenizer *load_ok(const char *json)
{
	lutdb_tokenizer *t = NULL;
	int rc = lutdb_tokenizer_load(json, strlen(json), &t);

	ck_assert_msg(rc == LUTDB_OK, "load failed: %s: %s\n%s", lutdb_strerror(rc),
		      lutdb_errdetail(), json);
	return t;
}

static void load_fails(const char *json, int code, const char *needle)
{
	lutdb_tokenizer *t = (lutdb_tokenizer *)1;
	int rc = lutdb_tokenizer_load(json, strlen(json), &t);

	ck_assert_msg(rc == code, "expected %s, got %s (%s) for\n%s", lutdb_strerror(code),
		      lutdb_strerror(rc), lutdb_errdetail(), json);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(lutdb_errdetail(), needle) != NULL,
		      "detail \"%s\" does not mention \"%s\"", lutdb_errdetail(), needle);
}

/* encode text and compare with the space-separated ids in want */
static void enc_is(const lutdb_tokenizer *t, const char *text, int special, const char *want)
{
	uint32_t *ids = NULL;
	size_t n = 0, i;
	char got[4096] = "";
	int rc = lutdb_tokenizer_encode(t, text, strlen(text), special, &ids, &n);

	ck_assert_msg(rc == LUTDB_OK, "encode: %s", lutdb_errdetail());
	for (i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%u", i ? " " : "", ids[i]);
	ck_assert_msg(!strcmp(got, want), "encode(\"%s\"): want [%s], got [%s]", text, want, got);
	lutdb_free(ids);
}

static void dec_is(const lutdb_tokenizer *t, const uint32_t *ids, size_t n, int skip,
		   const char *want)
{
	char *s = NULL;
	size_t l = 0;

	ck_assert_int_eq(lutdb_tokenizer_decode(t, ids, n, skip, &s, &l), LUTDB_OK);
	ck_assert_msg(l == strlen(want) && !memcmp(s, want, l), "decode: want \"%s\", got \"%s\"",
		      want, s);
	lutdb_free(s);
}

/* ---- split behaviors (HF docs example "the-final--countdown") ---------------- */

#define SPLIT_VOCAB                                                                  \
	"\"the\":0,\"-\":1,\"final\":2,\"countdown\":3,\"the-\":4,\"final-\":5,"     \
	"\"-final\":6,\"-countdown\":7,\"--\":8"

static lutdb_tokenizer *split_tok(const char *behavior)
{
	char json[2048];

	snprintf(json, sizeof json,
		 HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Split\","
		      "\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\",\"invert\":false},"
		      "\"post_processor\":null,\"decoder\":null,"
		 BPE(SPLIT_VOCAB, "", ",\"ignore_merges\":true"), behavior);
	return load_ok(json);
}

START_TEST(test_split_behaviors)
{
	static const char *const cases[][2] = {
		{"Removed", "0 2 3"},
		{"Isolated", "0 1 2 1 1 3"},
		{"MergedWithPrevious", "4 5 1 3"},
		{"MergedWithNext", "0 6 1 7"},
		{"Contiguous", "0 1 2 8 3"},
	};
	size_t i;

	for (i = 0; i < 5; i++) {
		lutdb_tokenizer *t = split_tok(cases[i][0]);

		enc_is(t, "the-final--countdown", 0, cases[i][1]);
		lutdb_tokenizer_free(t);
	}
}
END_TEST

/* ---- BPE: merge order, unk, fuse_unk, byte fallback ------------------------------ */

START_TEST(test_bpe_merges_unk)
{
	lutdb_tokenizer *t = load_ok(
		HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
		     "\"post_processor\":null,\"decoder\":null,"
		"\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
		"\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"c\":3,\"ab\":4,\"bc\":5,\"abc\":6},"
		"\"merges\":[\"b c\",\"a b\",\"a bc\"]}}");

	/* "b c" has the lowest rank: a + bc, then "a bc" */
	enc_is(t, "abc", 0, "6");
	enc_is(t, "abab", 0, "4 4");
	/* unknown chars fuse into one <unk> */
	enc_is(t, "xyab", 0, "0 4");
	enc_is(t, "axyzb", 0, "1 0 2");
	lutdb_tokenizer_free(t);
	t = load_ok(HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
			 "\"post_processor\":null,\"decoder\":{\"type\":\"ByteFallback\"},"
		    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,"
		    "\"vocab\":{\"<unk>\":0,\"<0xC3>\":1,\"<0xA9>\":2,\"a\":3},\"merges\":[]}}");
	enc_is(t, "a\xC3\xA9", 0, "3 1 2");
	{
		static const uint32_t ids[] = {3, 1, 2, 1};

		/* the byte run C3 A9 C3 is not UTF-8 as a whole: one U+FFFD per byte */
		dec_is(t, ids, 4, 0, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
		dec_is(t, ids, 3, 0, "a\xC3\xA9");
	}
	lutdb_tokenizer_free(t);
}
END_TEST

/* ---- added tokens: lstrip, rstrip, single_word, special skipping --------------- */

START_TEST(test_added_tokens)
{
	lutdb_tokenizer *t = load_ok(
		HEAD "\"added_tokens\":["
		"{\"id\":10,\"content\":\"<m>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":true,"
		"\"normalized\":false,\"special\":true},"
		"{\"id\":11,\"content\":\"ab\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,"
		"\"normalized\":true,\"special\":false}],"
		"\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
		BPE("\"a\":0,\"b\":1,\" \":2,\"x\":3", "", ""));
	uint32_t id;

	/* ids come from the vocab or count up from its size, as in HF (the "id"
	 * fields are not used): <m> = 4, ab = 5 */
	enc_is(t, "a  <m>  b", 0, "0 4 1");
	enc_is(t, "ab x", 0, "5 2 3");   /* single word: matched */
	enc_is(t, "xab", 0, "3 0 1");    /* inside a word: not matched */
	ck_assert_int_eq(lutdb_tokenizer_token_to_id(t, "ab", 2, &id), LUTDB_OK);
	ck_assert_uint_eq(id, 5);
	ck_assert_int_eq(lutdb_tokenizer_token_to_id(t, "<m>", 3, &id), LUTDB_OK);
	ck_assert_uint_eq(id, 4);
	ck_assert_int_eq(lutdb_tokenizer_token_to_id(t, "zz", 2, &id), LUTDB_ENOENT);
	{
		static const uint32_t ids[] = {0, 4, 1, 99};

		dec_is(t, ids, 4, 0, "a <m> b");
		dec_is(t, ids, 4, 1, "a b");
	}
	ck_assert_uint_eq(lutdb_tokenizer_vocab_size(t), 6);
	ck_assert_uint_eq(lutdb_tokenizer_max_id(t), 5);
	ck_assert_uint_eq(lutdb_tokenizer_added_count(t), 2);
	lutdb_tokenizer_free(t);

	/* A normalized added token whose normalized form differs ("e" + U+0301
	 * under NFC is U+00E9): id_to_token gives that form (decode uses it, as
	 * tokenizers does) and token_to_id maps both forms back (fuzz_tokenizer
	 * found the form unknown to token_to_id). */
	t = load_ok(HEAD "\"added_tokens\":["
		    "{\"id\":5,\"content\":\"e\u0301\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
		    "\"normalized\":true,\"special\":false}],"
		    "\"normalizer\":{\"type\":\"NFC\"},\"pre_tokenizer\":null,\"post_processor\":null,"
		    "\"decoder\":null," BPE("\"a\":0,\"b\":1", "", ""));
	{
		size_t len = 0;
		const char *tok = lutdb_tokenizer_id_to_token(t, 2, &len);

		ck_assert_ptr_nonnull(tok);
		ck_assert_uint_eq(len, 2);
		ck_assert_int_eq(memcmp(tok, "\xc3\xa9", 2), 0);
		ck_assert_int_eq(lutdb_tokenizer_token_to_id(t, tok, len, &id), LUTDB_OK);
		ck_assert_uint_eq(id, 2);
		ck_assert_int_eq(lutdb_tokenizer_token_to_id(t, "e\xcc\x81", 3, &id), LUTDB_OK);
		ck_assert_uint_eq(id, 2);
	}
	lutdb_tokenizer_free(t);
}
END_TEST

/* ---- template processing and bos/eos ------------------------------------------------ */

START_TEST(test_template)
{
	lutdb_tokenizer *t = load_ok(
		HEAD "\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"single_word\":false,"
		"\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
		"{\"id\":1,\"content\":\"</s>\",\"single_word\":false,\"lstrip\":false,"
		"\"rstrip\":false,\"normalized\":false,\"special\":true}],"
		"\"normalizer\":null,\"pre_tokenizer\":null,"
		"\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
		"{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\","
		"\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
		"\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[0],\"tokens\":[\"<s>\"]},"
		"\"</s>\":{\"id\":\"</s>\",\"ids\":[1],\"tokens\":[\"</s>\"]}}},\"decoder\":null,"
		BPE("\"<s>\":0,\"</s>\":1,\"a\":2", "", ""));

	enc_is(t, "aa", 1, "0 2 2 1");
	enc_is(t, "aa", 0, "2 2");
	enc_is(t, "", 1, "0 1");
	enc_is(t, "<s>a", 0, "0 2");
	ck_assert_uint_eq(lutdb_tokenizer_bos_id(t), 0);
	ck_assert_uint_eq(lutdb_tokenizer_eos_id(t), 1);
	ck_assert_str_eq(lutdb_tokenizer_model_type(t), "BPE");
	lutdb_tokenizer_free(t);
}
END_TEST

/* ---- stream decoding (the HF DecodeStream documentation examples) ------------- */

static void step_is(lutdb_tokenizer_stream *s, uint32_t id, const char *want)
{
	const char *c;
	size_t l;

	ck_assert_int_eq(lutdb_tokenizer_stream_step(s, id, &c, &l), LUTDB_OK);
	ck_assert_msg(l == strlen(want) && !memcmp(c, want, l), "step %u: want \"%s\", got \"%.*s\"",
		      id, want, (int)l, c);
}

START_TEST(test_stream)
{
	lutdb_tokenizer_stream *s;
	lutdb_tokenizer *t = load_ok(
		HEAD "\"added_tokens\":[],\"normalizer\":{\"type\":\"NFC\"},"
		"\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
		"\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,"
		"\"decoder\":{\"type\":\"ByteFallback\"},"
		"\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"<0x20>\":0,"
		"\"<0xC3>\":1,\"<0xA9>\":2,\" This\":3},\"merges\":[]}}");

	ck_assert_int_eq(lutdb_tokenizer_stream_new(t, 0, &s), LUTDB_OK);
	step_is(s, 0, " ");
	step_is(s, 1, "");
	step_is(s, 2, "\xC3\xA9");
	lutdb_tokenizer_stream_free(s);
	lutdb_tokenizer_free(t);

	t = load_ok(HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
			 "\"post_processor\":null,\"decoder\":{\"type\":\"Metaspace\","
			 "\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true},"
		    BPE("\"\xE2\x96\x81This\":0", "", ""));
	{
		static const uint32_t ids[] = {0, 0};

		dec_is(t, ids, 2, 0, "This This");
		dec_is(t, ids, 1, 0, "This");
	}
	ck_assert_int_eq(lutdb_tokenizer_stream_new(t, 0, &s), LUTDB_OK);
	step_is(s, 0, "This");
	step_is(s, 0, " This");
	lutdb_tokenizer_stream_free(s);
	lutdb_tokenizer_free(t);
}
END_TEST

/* A Strip of more than one character re-applies to each window DecodeStream
 * re-decodes, so its chunks need not spell the batch text.  The expected
 * chunks are HF's step_decode_stream run over the `tokenizers` package's
 * decode: tests/tokenizer/stream_ref.js prints them. */
START_TEST(test_stream_strip_window)
{
	static const uint32_t ids[] = {1, 1, 1, 1, 2};
	static const char *const want[] = {"", "", " ", "", "'"};
	lutdb_tokenizer_stream *s;
	lutdb_tokenizer *t = load_ok(
		HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,"
		"\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Fuse\"},"
		"{\"type\":\"Strip\",\"content\":\" \",\"start\":2,\"stop\":0}]},"
		BPE("\"a\":0,\" \":1,\"'\":2", "", ""));

	dec_is(t, ids, 5, 0, "  '");
	ck_assert_int_eq(lutdb_tokenizer_stream_new(t, 0, &s), LUTDB_OK);
	for (size_t i = 0; i < 5; i++)
		step_is(s, ids[i], want[i]);
	lutdb_tokenizer_stream_free(s);
	lutdb_tokenizer_free(t);
}
END_TEST

/* ---- invalid UTF-8 ----------------------------------------------------------------- */

START_TEST(test_invalid_utf8)
{
	lutdb_tokenizer *t = load_ok(
		HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
		"\"post_processor\":null,\"decoder\":null,"
		BPE("\"a\":0,\"\xEF\xBF\xBD\":1", "", ""));

	/* each maximal invalid subpart becomes one U+FFFD */
	enc_is(t, "a\x80\x80" "a", 0, "0 1 1 0");
	enc_is(t, "\xE2\x82" "a", 0, "1 0");
	enc_is(t, "\xF0\x9F\x98", 0, "1");
	enc_is(t, "\xC0\xAF", 0, "1 1");
	enc_is(t, "\xED\xA0\x80", 0, "1 1 1");
	lutdb_tokenizer_free(t);
}
END_TEST

/* ---- hostile and unsupported files --------------------------------------------------- */

#define MIN_OK HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"

START_TEST(test_rejects)
{
	lutdb_tokenizer *t = NULL;

	ck_assert_int_eq(lutdb_tokenizer_load(NULL, 0, &t), LUTDB_EINVAL);
	ck_assert_int_eq(lutdb_tokenizer_load("{}", 2, NULL), LUTDB_EINVAL);
	load_fails("", LUTDB_ETOKENIZER, "not valid JSON");
	load_fails("{\"model\":", LUTDB_ETOKENIZER, "not valid JSON");
	load_fails("[]", LUTDB_ETOKENIZER, "top level");
	load_fails("{}", LUTDB_ETOKENIZER, "model");
	load_fails("{\"model\":5}", LUTDB_ETOKENIZER, "model");
	load_fails("{\"version\":\"2.0\"," BPE("", "", ""), LUTDB_ETOKENIZER, "version");
	load_fails("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", LUTDB_ETOKENIZER,
		   "model type \"WordPiece\"");
	load_fails("{\"truncation\":{\"max_length\":5}," BPE("", "", ""), LUTDB_ETOKENIZER,
		   "truncation");
	load_fails("{\"normalizer\":{\"type\":\"Lowercase\"}," BPE("", "", ""), LUTDB_ETOKENIZER,
		   "normalizer type \"Lowercase\"");
	load_fails("{\"pre_tokenizer\":{\"type\":\"Whitespace\"}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "pre_tokenizer type \"Whitespace\"");
	load_fails("{\"decoder\":{\"type\":\"WordPiece\"}," BPE("", "", ""), LUTDB_ETOKENIZER,
		   "decoder type \"WordPiece\"");
	load_fails("{\"post_processor\":{\"type\":\"BertProcessing\"}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "post_processor type \"BertProcessing\"");
	load_fails("{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{},\"merges\":[]}}",
		   LUTDB_ETOKENIZER, "dropout");
	load_fails(MIN_OK BPE("\"a\":-1", "", ""), LUTDB_ETOKENIZER, "vocab");
	load_fails(MIN_OK BPE("\"a\":\"1\"", "", ""), LUTDB_ETOKENIZER, "vocab");
	load_fails(MIN_OK BPE("\"a\":1099511627776", "", ""), LUTDB_ETOKENIZER, "vocab");
	load_fails(MIN_OK BPE("\"a\":0,\"b\":0", "", ""), LUTDB_ETOKENIZER, "two tokens");
	load_fails(MIN_OK BPE("\"a\":0", "\"a b\"", ""), LUTDB_ETOKENIZER, "not in the vocab");
	load_fails(MIN_OK BPE("\"a\":0", "\"a a a\"", ""), LUTDB_ETOKENIZER, "Merges");
	load_fails(MIN_OK BPE("\"a\":0", "7", ""), LUTDB_ETOKENIZER, "merge");
	load_fails(MIN_OK "\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", LUTDB_ETOKENIZER,
		   "Missing vocab/merges");
	load_fails("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
		   "\"behavior\":\"Isolated\",\"invert\":false}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "does not compile");
	load_fails("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\bx\"},"
		   "\"behavior\":\"Isolated\",\"invert\":false}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "word boundary");
	load_fails("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[[:alpha:]]\"},"
		   "\"behavior\":\"Isolated\",\"invert\":false}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "POSIX");
	load_fails("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},"
		   "\"behavior\":\"Sideways\",\"invert\":false}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "behavior");
	load_fails("{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "one-character");
	load_fails("{\"added_tokens\":5," BPE("", "", ""), LUTDB_ETOKENIZER, "added_tokens");
	load_fails("{\"added_tokens\":[{\"id\":0,\"content\":7}]," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "content");
	load_fails("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
		   "{\"SpecialToken\":{\"id\":\"<x>\",\"type_id\":0}}],\"special_tokens\":{}},"
		   BPE("", "", ""), LUTDB_ETOKENIZER, "<x>");
	load_fails("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
		   "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}}],\"special_tokens\":{}},"
		   BPE("", "", ""), LUTDB_ETOKENIZER, "sequence A");
	load_fails("{\"normalizer\":{\"type\":\"NFC\"},\"pre_tokenizer\":{\"type\":\"Metaspace\","
		   "\"replacement\":\"_\",\"prepend_scheme\":\"first\"}," BPE("", "", ""),
		   LUTDB_ETOKENIZER, "first");
	{
		/* 200 nested Sequences */
		char *j = malloc(20000);
		size_t i;

		strcpy(j, "{\"normalizer\":");
		for (i = 0; i < 200; i++)
			strcat(j, "{\"type\":\"Sequence\",\"normalizers\":[");
		for (i = 0; i < 200; i++)
			strcat(j, "]}");
		strcat(j, "," BPE("", "", ""));
		load_fails(j, LUTDB_ETOKENIZER, "nested");
		free(j);
	}
}
END_TEST

/* Random mutations of a small valid file: never a crash. */
START_TEST(test_mutations)
{
	static const char base[] =
		HEAD "\"added_tokens\":[{\"id\":3,\"content\":\"<s>\",\"single_word\":false,"
		"\"lstrip\":true,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
		"\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},"
		"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}]},"
		"\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
		"\"pattern\":{\"Regex\":\"\\\\s+|\\\\p{L}+\"},\"behavior\":\"Isolated\",\"invert\":false},"
		"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
		"\"use_regex\":false}]},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
		BPE("\"a\":0,\"b\":1,\"ab\":2", "\"a b\"", "");
	char buf[sizeof base];
	unsigned seed = 12345;
	int i, ok = 0;

	for (i = 0; i < 3000; i++) {
		lutdb_tokenizer *t = NULL;
		int k, nmut = 1 + i % 4;

		memcpy(buf, base, sizeof base);
		for (k = 0; k < nmut; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % (sizeof base - 1)] = (char)((seed >> 20) & 0xff);
		}
		if (lutdb_tokenizer_load(buf, sizeof base - 1, &t) == LUTDB_OK) {
			uint32_t *ids = NULL;
			size_t n;

			ok++;
			ck_assert_int_eq(lutdb_tokenizer_encode(t, "ab <s> a\xC3\xA9 b", 12, 1, &ids, &n),
					 LUTDB_OK);
			lutdb_free(ids);
			lutdb_tokenizer_free(t);
		} else {
			ck_assert_ptr_null(t);
			ck_assert(lutdb_errdetail()[0] != '\0');
		}
	}
	ck_assert(ok > 0);
}
END_TEST

/* ---- concurrency: one tokenizer, many threads --------------------------------------- */

static lutdb_tokenizer *shared;
static void *worker(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 2000; i++) {
		uint32_t *ids = NULL;
		size_t n = 0;

		if (lutdb_tokenizer_encode(shared, "abc abab xyab abc", 17, 0, &ids, &n) || n != 9 ||
		    ids[0] != 6)
			return (void *)1;
		lutdb_free(ids);
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t th[4];
	void *r;
	int i;

	shared = load_ok(HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
			      "\"post_processor\":null,\"decoder\":null,"
			 "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
			 "\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"c\":3,\"ab\":4,\"bc\":5,\"abc\":6,"
			 "\" \":7},\"merges\":[\"b c\",\"a b\",\"a bc\"]}}");
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker, NULL), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], &r), 0);
		ck_assert_ptr_null(r);
	}
	lutdb_tokenizer_free(shared);
}
END_TEST

/* ---- unloading the shared library ----------------------------------------------
 * build/liblutdb.so is loaded with dlopen (this suite's own static copy is
 * not used), a tokenizer encodes on this thread and on a second one, which
 * then waits while the library is closed.  The library must leave nothing
 * behind: no pthread key (as many keys can be created after as before), and
 * no key destructor for the waiting thread to run when it exits, once the
 * code it pointed into is unmapped. */
struct so_api {
	int (*load)(const char *, size_t, lutdb_tokenizer **);
	int (*encode)(const lutdb_tokenizer *, const char *, size_t, int, uint32_t **, size_t *);
	void (*free_tok)(lutdb_tokenizer *);
	void (*free_mem)(void *);
};

/* How many more pthread keys this process can create. */
static unsigned free_keys(void)
{
	static pthread_key_t k[4096];
	unsigned n = 0;

	while (n < 4096 && pthread_key_create(&k[n], NULL) == 0)
		n++;
	for (unsigned i = 0; i < n; i++)
		pthread_key_delete(k[i]);
	return n;
}

struct waiter {
	const struct so_api *api;
	const lutdb_tokenizer *t;
	int encoded[2], go[2]; /* pipes */
};

static void *encode_then_wait(void *arg)
{
	struct waiter *w = arg;
	uint32_t *ids = NULL;
	size_t n = 0;
	char c = w->api->encode(w->t, "abc ab", 6, 0, &ids, &n) == LUTDB_OK && n == 4 ? 1 : 0;

	w->api->free_mem(ids);
	if (write(w->encoded[1], &c, 1) != 1 || read(w->go[0], &c, 1) != 1)
		return (void *)1;
	return NULL; /* the thread's key destructors, if any, run now */
}

START_TEST(test_unload_leaves_no_key)
{
	char exe[PATH_MAX], so[PATH_MAX + 32], c = 0;
	ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert(k > 0);
	exe[k] = '\0';
	*strrchr(exe, '/') = '\0'; /* BUILD/tests */
	*strrchr(exe, '/') = '\0'; /* BUILD */
	snprintf(so, sizeof so, "%s/liblutdb.so", exe);
	const char *json = HEAD "\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,"
			   "\"post_processor\":null,\"decoder\":null,"
			   BPE("\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\" \":4", "\"a b\"", "");
	unsigned before = free_keys();

	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "%s", dlerror());
	struct so_api api;
	*(void **)&api.load = dlsym(h, "lutdb_tokenizer_load");
	*(void **)&api.encode = dlsym(h, "lutdb_tokenizer_encode");
	*(void **)&api.free_tok = dlsym(h, "lutdb_tokenizer_free");
	*(void **)&api.free_mem = dlsym(h, "lutdb_free");
	ck_assert(api.load && api.encode && api.free_tok && api.free_mem);
	lutdb_tokenizer *t = NULL;
	ck_assert_int_eq(api.load(json, strlen(json), &t), LUTDB_OK);
	uint32_t *ids = NULL;
	size_t n = 0;
	ck_assert_int_eq(api.encode(t, "ab c", 4, 0, &ids, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 3);
	api.free_mem(ids);

	struct waiter w = {&api, t, {-1, -1}, {-1, -1}};
	pthread_t th;
	void *r = NULL;
	ck_assert(pipe(w.encoded) == 0 && pipe(w.go) == 0);
	ck_assert_int_eq(pthread_create(&th, NULL, encode_then_wait, &w), 0);
	ck_assert(read(w.encoded[0], &c, 1) == 1 && c == 1);
	api.free_tok(t);
	ck_assert_int_eq(dlclose(h), 0);
	ck_assert_msg(dlopen(so, RTLD_NOW | RTLD_NOLOAD) == NULL, "liblutdb.so is still loaded");
	ck_assert(write(w.go[1], &c, 1) == 1);
	ck_assert_int_eq(pthread_join(th, &r), 0); /* exits without a destructor into unmapped code */
	ck_assert_ptr_null(r);

	unsigned after = free_keys();
	ck_assert_msg(after == before, "the library left %d pthread key(s) behind", (int)(before - after));
	for (int i = 0; i < 2; i++) {
		close(w.encoded[i]);
		close(w.go[i]);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tokenizer-units");
	TCase *tc = tcase_create("units");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_split_behaviors);
	tcase_add_test(tc, test_bpe_merges_unk);
	tcase_add_test(tc, test_added_tokens);
	tcase_add_test(tc, test_template);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_stream_strip_window);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_unload_leaves_no_key);
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
