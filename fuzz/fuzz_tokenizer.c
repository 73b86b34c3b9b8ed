/*
 * fuzz_tokenizer.c - hostile tokenizer.json files and texts:
 * lutdb_tokenizer_load, then encode and decode (batch and streaming) of a
 * fixed text and of text taken from the input, the information getters,
 * and decoding of arbitrary ids.
 *
 * Input: tokenizer.json bytes, optionally a NUL and a text to encode (any
 * bytes, invalid UTF-8 included; without one, a short fixed text).
 *
 * Cheap per input, so that ten CPU-minutes run a million inputs: the
 * regexes are interpreted (a JIT compilation per load costs more than the
 * load; the JIT runs the same patterns in the unit tests), the streaming
 * check runs over the first STREAM_IDS ids with one skip_special_tokens
 * value per input, at most MAX_TEXT bytes of text are encoded and at most
 * MAX_RAW_IDS raw ids decoded (long texts are the unit tests' business).
 *
 * Contracts: a failed load sets *out to
 * NULL with a known code; encode fails only with ETOOBIG, ENOMEM or
 * ETOKENIZER (an unk_token missing from the vocab, as HF) and returns
 * ids of the vocabulary (<= max_id); decode returns NUL-terminated valid
 * UTF-8 of the stated length; the stream's chunks are valid UTF-8 and,
 * unless the text holds a U+FFFD, concatenate to a prefix of the batch
 * decode; token_to_id(id_to_token(id)) finds a token with that text.
 */
#include "fuzz_common.h"
#include "lutdb_tokenizer.h"
#include "tok_internal.h"

static const char fixed_text[] =
	"Hi, it's 3.14;\n\t  x \xc3\xa9t\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 <s></s><|endoftext|> \xff";

#define STREAM_IDS 24
#define MAX_RAW_IDS 64
#define MAX_TEXT 512

/* ASan's defaults cost more than the tokenizer does on a small input: its
 * 256 MiB quarantine keeps handing out fresh pages (a page fault each) and
 * it records 30 frames per allocation.  The environment still overrides. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16:malloc_context_size=8";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("LUTDB_TOKENIZER_NO_JIT", "1", 0);
	return 0;
}

/* Valid UTF-8 (shortest form, no surrogates, <= U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			k = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			k = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* Whether HF's DecodeStream spells the batch text for this tokenizer.  It
 * re-decodes a window of the last ids, and a Strip decoder of more than one
 * leading character strips again inside each window, so its chunks may spell
 * less than the batch decode (tests/tokenizer/stream_ref.js shows it on the
 * reference; test_tokenizer_units pins those chunks). */
static int stream_spells_batch(const lutdb_tokenizer *t)
{
	for (size_t i = 0; i < t->ndec; i++)
		if (t->dec[i].kind == TD_STRIP && t->dec[i].start > 1)
			return 0;
	return 1;
}

/* Batch decode of ids, and (with stream) the stream of its first
 * STREAM_IDS ids. */
static void check_decode(const lutdb_tokenizer *t, const uint32_t *ids, size_t n, int skip, int stream)
{
	char *text = NULL;
	size_t len = 0;
	int rc = lutdb_tokenizer_decode(t, ids, n, skip, &text, &len);

	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(rc == LUTDB_ENOMEM || rc == LUTDB_ETOOBIG || rc == LUTDB_ETOKENIZER);
		return;
	}
	FUZZ_CHECK(text && text[len] == '\0');
	FUZZ_CHECK(utf8_valid((const uint8_t *)text, len));
	if (!stream) {
		lutdb_free(text);
		return;
	}
	if (n > STREAM_IDS)
		n = STREAM_IDS; /* a prefix of the ids: its chunks spell a prefix of text */
	/* Streaming gives the same text. */
	int spells = !memmem(text, len, "\xef\xbf\xbd", 3) && stream_spells_batch(t);
	lutdb_tokenizer_stream *s = NULL;
	rc = lutdb_tokenizer_stream_new(t, skip, &s);
	FUZZ_CHECK_RC(rc);
	if (rc == LUTDB_OK) {
		size_t at = 0;
		int ok = 1;
		for (size_t i = 0; i < n && ok; i++) {
			const char *chunk;
			size_t cl;
			rc = lutdb_tokenizer_stream_step(s, ids[i], &chunk, &cl);
			FUZZ_CHECK_RC(rc);
			if (rc) {
				ok = 0;
				break;
			}
			FUZZ_CHECK(chunk && chunk[cl] == '\0');
			FUZZ_CHECK(utf8_valid((const uint8_t *)chunk, cl));
			/* Byte-fallback bytes that end up invalid UTF-8 become U+FFFD
			 * in the batch decode after the stream has emitted the valid
			 * prefix (HF DecodeStream does the same): only without a
			 * U+FFFD, and without a multi-character Strip, must the
			 * chunks spell the batch text. */
			if (!spells)
				continue;
			if (at + cl > len || memcmp(text + at, chunk, cl)) {
				fprintf(stderr, "stream chunk of id #%zu (%u) = \"%.*s\" at byte %zu; batch decode (skip %d) "
					"of %zu ids = \"%.*s\"\nids:", i, ids[i], (int)cl, chunk, at, skip, n, (int)len, text);
				for (size_t k = 0; k < n; k++)
					fprintf(stderr, " %u", ids[k]);
				fprintf(stderr, "\n");
			}
			FUZZ_CHECK(at + cl <= len && !memcmp(text + at, chunk, cl));
			at += cl;
		}
		lutdb_tokenizer_stream_free(s);
	}
	lutdb_free(text);
}

static void check_text(const lutdb_tokenizer *t, const char *text, size_t len, int stream_skip)
{
	for (int special = 0; special < 2; special++) {
		uint32_t *ids = (uint32_t *)1;
		size_t n = 1;
		int rc = lutdb_tokenizer_encode(t, text, len, special, &ids, &n);
		FUZZ_CHECK_RC(rc);
		if (rc) {
			FUZZ_CHECK(ids == NULL && n == 0);
			/* ETOKENIZER: what HF also fails on at encode time, e.g. an
			 * unk_token missing from the vocab when a piece needs it. */
			FUZZ_CHECK(rc == LUTDB_ENOMEM || rc == LUTDB_ETOOBIG || rc == LUTDB_ETOKENIZER);
			continue;
		}
		FUZZ_CHECK((n == 0) == (ids == NULL));
		uint32_t max = lutdb_tokenizer_max_id(t);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(ids[i] <= max);
		check_decode(t, ids, n, 0, stream_skip == 0);
		check_decode(t, ids, n, 1, stream_skip == 1);
		lutdb_free(ids);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t json_len, text_len;
	const uint8_t *text;
	lutdb_tokenizer *t = (lutdb_tokenizer *)1;

	fuzz_split(data, size, &json_len, &text, &text_len);
	if (text_len > MAX_TEXT)
		text_len = MAX_TEXT;
	char *json = (char *)fuzz_dup(data, json_len);
	int rc = lutdb_tokenizer_load(json, json_len, &t);
	free(json); /* the tokenizer must not keep pointers into it */
	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(t == NULL);
		FUZZ_CHECK(rc == LUTDB_ETOKENIZER || rc == LUTDB_ETOOBIG || rc == LUTDB_ENOMEM);
		return 0;
	}
	FUZZ_CHECK(t != NULL);
	int skip = (int)(size & 1);
	if (!text) {
		check_text(t, fixed_text, sizeof fixed_text - 1, skip);
	} else {
		char *tx = (char *)fuzz_dup(text, text_len);
		check_text(t, tx, text_len, skip);
		/* The text's bytes as ids too: in and out of the vocabulary. */
		size_t nid = text_len / 4 < MAX_RAW_IDS ? text_len / 4 : MAX_RAW_IDS;
		uint32_t *ids = malloc((nid ? nid : 1) * sizeof *ids);
		FUZZ_CHECK(ids);
		memcpy(ids, text, nid * 4);
		for (size_t i = 0; i < nid; i++)
			if (ids[i] & 0x80000000u)
				ids[i] %= (uint32_t)(lutdb_tokenizer_vocab_size(t) + 8);
		check_decode(t, ids, nid, 0, skip == 1);
		check_decode(t, ids, nid, 1, skip == 0);
		free(ids);
		free(tx);
	}
	/* Getters. */
	uint32_t max = lutdb_tokenizer_max_id(t);
	FUZZ_CHECK(lutdb_tokenizer_model_type(t) != NULL);
	(void)lutdb_tokenizer_vocab_size(t);
	uint32_t bos = lutdb_tokenizer_bos_id(t), eos = lutdb_tokenizer_eos_id(t);
	FUZZ_CHECK(bos == LUTDB_TOKEN_NONE || bos <= max);
	FUZZ_CHECK(eos == LUTDB_TOKEN_NONE || eos <= max);
	size_t na = lutdb_tokenizer_added_count(t);
	for (size_t i = 0; i < na; i++) {
		uint32_t id;
		const char *content;
		size_t len;
		int special;
		FUZZ_CHECK(lutdb_tokenizer_added_token(t, i, &id, &content, &len, &special) == LUTDB_OK);
		FUZZ_CHECK(id <= max && content);
		fuzz_touch(content, len);
	}
	for (uint32_t id = 0; id <= max && id < 64; id++) {
		size_t len;
		const char *tok = lutdb_tokenizer_id_to_token(t, id, &len);
		if (!tok)
			continue;
		uint32_t back;
		FUZZ_CHECK(lutdb_tokenizer_token_to_id(t, tok, len, &back) == LUTDB_OK);
		size_t len2;
		const char *tok2 = lutdb_tokenizer_id_to_token(t, back, &len2);
		FUZZ_CHECK(tok2 && len2 == len && !memcmp(tok, tok2, len));
	}
	lutdb_tokenizer_free(t);
	return 0;
}
