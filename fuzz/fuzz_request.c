/*
 * fuzz_request.c - request bodies of `lutdb serve` (cli/serve/request.c):
 * serve_parse_completion, serve_parse_tokenize, serve_parse_detokenize.
 *
 * Input: one selector byte, then the body.  The selector's low bits pick the
 * endpoint, bit 2 whether the server has a tokenizer (a tiny byte-level BPE
 * embedded here, so a corpus needs no file), bit 3 a small context (8) or
 * a larger one (64).  Contracts on success: a prompt of 1..ctx ids below
 * the vocabulary, prompt + max_tokens within the context, at most 4 stop
 * entries of 1..256 bytes, logprobs -1..20, temperature in [0, 2], top_p
 * in (0, 1], a string prompt only with a tokenizer.  On failure: a status
 * of 400, 404, 413 or 500, a type and a message.
 *
 * The parser lives in the command's serve room, which the fuzz build does
 * not compile: its one source file is included here (white-box, as tests
 * may; request.c needs only the public headers and jansson).
 */
#include "fuzz_common.h"

#include "../cli/serve/request.c"

static const char tiny_tokenizer[] =
	"{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],\"normalizer\":null,"
	"\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
	"\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
	"\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
	"\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
	"\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,\"\\u0120a\":5},\"merges\":[\"a b\",\"\\u0120 a\"]}}";

static lutdb_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (lutdb_tokenizer_load(tiny_tokenizer, sizeof tiny_tokenizer - 1, &tok)) {
		fprintf(stderr, "fuzz_request: the embedded tokenizer does not load: %s\n", lutdb_errdetail());
		abort();
	}
	return 0;
}

static void check_err(const serve_err *e)
{
	FUZZ_CHECK(e->status == 400 || e->status == 404 || e->status == 413 || e->status == 500);
	FUZZ_CHECK(e->type && *e->type && e->message[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (!tok)
		LLVMFuzzerInitialize(NULL, NULL);
	const int sel = data[0];
	const char *body = (const char *)data + 1;
	const size_t len = size - 1;
	serve_limits lim = {.model_id = "m.lutdb", .vocab = 6, .ctx = sel & 8 ? 64 : 8, .tok = sel & 4 ? tok : NULL};
	serve_err e;
	uint32_t *ids;
	size_t n;

	switch (sel & 3) {
	case 0:
	case 3: {
		serve_req r;
		if (serve_parse_completion(body, len, &lim, &r, &e)) {
			check_err(&e);
			FUZZ_CHECK(!r.prompt && !r.prompt_text && !r.n_stop);
			break;
		}
		FUZZ_CHECK(r.n_prompt >= 1 && r.n_prompt <= lim.ctx && r.prompt);
		for (size_t i = 0; i < r.n_prompt; i++)
			FUZZ_CHECK(r.prompt[i] < lim.vocab);
		FUZZ_CHECK(r.n_prompt + r.max_tokens <= lim.ctx);
		FUZZ_CHECK(r.n_stop + r.n_stop_ids <= SERVE_STOP_MAX);
		for (uint32_t i = 0; i < r.n_stop; i++)
			FUZZ_CHECK(r.stop_len[i] >= 1 && r.stop_len[i] <= SERVE_STOP_LEN_MAX && lim.tok);
		for (uint32_t i = 0; i < r.n_stop_ids; i++)
			FUZZ_CHECK(r.stop_ids[i] < lim.vocab);
		FUZZ_CHECK(r.logprobs >= -1 && r.logprobs <= (int)SERVE_LOGPROBS_MAX);
		FUZZ_CHECK(r.temperature >= 0.0f && r.temperature <= 2.0f);
		FUZZ_CHECK(r.top_p > 0.0f && r.top_p <= 1.0f);
		FUZZ_CHECK(!r.prompt_text || lim.tok);
		FUZZ_CHECK(!r.include_usage || r.stream);
		serve_req_free(&r);
		break;
	}
	case 1:
		if (serve_parse_tokenize(body, len, &lim, &ids, &n, &e)) {
			check_err(&e);
			FUZZ_CHECK(!ids && !n);
			break;
		}
		FUZZ_CHECK(lim.tok && (n == 0 || ids));
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(ids[i] <= lutdb_tokenizer_max_id(tok));
		free(ids);
		break;
	case 2:
		if (serve_parse_detokenize(body, len, &lim, &ids, &n, &e)) {
			check_err(&e);
			FUZZ_CHECK(!ids && !n);
			break;
		}
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(ids[i] < lim.vocab);
		free(ids);
		break;
	}
	return 0;
}
