/* cmd_run.c - lutdb run DB (--prompt-ids IDS | --prompt TEXT | --prompt-file FILE) [-n N] [sampling]
 *             [--threads N] [--dump-logits FILE] */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lutdb_runtime.h"
#include "text.h"

static const char help[] =
	"usage: lutdb run DB (--prompt-ids IDS | --prompt TEXT | --prompt-file FILE) [-n N]\n"
	"                 [--greedy | --temp T [--top-k K] [--top-p P] [--seed S]]\n"
	"                 [--threads N] [--dump-logits FILE] [--quiet]\n\n"
	"Feeds the prompt through the model and generates up to N tokens; statistics go to\n"
	"stderr.  Generation stops after an eos id.\n"
	"With --prompt-ids the generated ids are printed comma-separated as the last line of\n"
	"stdout (the eos id included).  With a text prompt the generated text is streamed to\n"
	"stdout as it is produced (special tokens such as the eos are not shown), then a newline.\n\n"
	"  --prompt-ids IDS    prompt token ids, separated by commas and/or whitespace,\n"
	"                      used as given (no BOS is added)\n"
	"  --prompt TEXT       prompt text ('-': read stdin), tokenized with the stored\n"
	"                      tokenizer; its post-processor adds BOS where its template says so\n"
	"  --prompt-file FILE  prompt text read from FILE\n"
	"  -n, --tokens N      ids to generate at most (default 32; 0: none)\n"
	"  --greedy            pick the most likely id (the default)\n"
	"  --temp T            sample at temperature T (0: greedy)\n"
	"  --top-k K           with --temp: keep the K most likely ids (default 0: all)\n"
	"  --top-p P           with --temp: keep the most likely ids up to probability P\n"
	"                      (default 1: all)\n"
	"  --seed S            with --temp: random seed (default 0; same seed, same ids)\n"
	"  --threads N         compute threads (default: all cores); results do not\n"
	"                      depend on it\n"
	"  --dump-logits FILE  write float32 little-endian logits, one row of vocab_size per\n"
	"                      position fed: the prompt's, then each generated id fed back\n"
	"  --quiet             no statistics on stderr\n\n"
	"The prompt plus the generated ids must fit in max_position_embeddings: when the\n"
	"context fills up, the ids generated so far are printed and the command fails.\n";

/* Where the prompt comes from: ids as given, or text through the stored
 * tokenizer (--prompt TEXT, --prompt -, --prompt-file FILE). */
typedef struct prompt_src {
	const char *ids;  /* --prompt-ids */
	const char *text; /* --prompt ("-": stdin) */
	const char *file; /* --prompt-file */
} prompt_src;

static int load_prompt(const prompt_src *src, const lutdb_tokenizer *t, uint32_t **ids, size_t *n)
{
	char *in = NULL;
	size_t len;
	int rc;

	if (src->ids) {
		rc = lutdb_ids_parse(src->ids, strlen(src->ids), ids, n);
		return rc ? cli_error_prefix(rc, "--prompt-ids") : LUTDB_OK;
	}
	const char *text = src->text;
	if (src->file || !strcmp(text, "-")) {
		if ((rc = cli_read_input(src->file ? src->file : "-", &in, &len)))
			return rc;
		text = in;
	} else {
		len = strlen(text);
	}
	rc = lutdb_tokenizer_encode(t, text, len, 1, ids, n);
	lutdb_free(in);
	return rc;
}

/* Where generation prints, for the token and logits callbacks (they run on
 * the thread that called lutdb_generate: this one). */
struct run_out {
	FILE *dump;
	const char *dump_path;
	lutdb_tokenizer_stream *stream; /* text prompt: print text, not ids */
	size_t printed;
	int io_error;
};

static int on_token(void *ctx, uint32_t id)
{
	struct run_out *o = ctx;
	int bad;

	if (o->stream) {
		const char *text;
		size_t len;
		int rc = lutdb_tokenizer_stream_step(o->stream, id, &text, &len);
		if (rc)
			return rc;
		bad = (len && fwrite(text, 1, len, stdout) != len) || fflush(stdout);
	} else {
		bad = printf("%s%u", o->printed ? "," : "", id) < 0 || fflush(stdout);
	}
	if (bad) {
		o->io_error = 1;
		return cli_error(LUTDB_EIO, "stdout: write error");
	}
	o->printed++;
	return cli_stop ? cli_error(LUTDB_EINTR, "interrupted") : 0;
}

static int on_logits(void *ctx, uint32_t pos, const float *logits, uint32_t vocab)
{
	struct run_out *o = ctx;
	if (fwrite(logits, sizeof *logits, vocab, o->dump) != vocab)
		return cli_error(LUTDB_EIO, "%s: write error: %s", o->dump_path, strerror(errno));
	return cli_stop ? cli_error(LUTDB_EINTR, "interrupted") : 0;
}

/* What the command line asks for. */
typedef struct run_args {
	const char *db;
	prompt_src src;
	lutdb_sampling sampling; /* used when sample is set */
	int sample;              /* --temp given: sample; else greedy */
	uint64_t tokens;         /* -n: ids to generate at most */
	int threads, quiet;
	const char *dump_path;   /* --dump-logits */
} run_args;

/* Fills a from the command line.  Returns -1 to go on, else the exit status
 * (after --help, or a usage error already printed). */
static int parse_args(int argc, char **argv, run_args *a)
{
	enum { O_PROMPT_IDS = 256, O_PROMPT, O_PROMPT_FILE, O_GREEDY, O_TEMP, O_TOPK, O_TOPP, O_SEED, O_THREADS,
	       O_DUMP, O_QUIET };
	static const struct option opts[] = {
		{"prompt-ids", required_argument, 0, O_PROMPT_IDS}, {"tokens", required_argument, 0, 'n'},
		{"prompt", required_argument, 0, O_PROMPT},         {"prompt-file", required_argument, 0, O_PROMPT_FILE},
		{"greedy", no_argument, 0, O_GREEDY},               {"temp", required_argument, 0, O_TEMP},
		{"top-k", required_argument, 0, O_TOPK},            {"top-p", required_argument, 0, O_TOPP},
		{"seed", required_argument, 0, O_SEED},             {"threads", required_argument, 0, O_THREADS},
		{"dump-logits", required_argument, 0, O_DUMP},      {"quiet", no_argument, 0, O_QUIET},
		{"help", no_argument, 0, 'h'},                      {0, 0, 0, 0}};
	int greedy = 0, have_sampling_opt = 0, c, rc;
	uint64_t v;

	memset(a, 0, sizeof *a);
	a->sampling = (lutdb_sampling){.size = sizeof a->sampling, .temperature = 0.0f, .top_k = 0, .top_p = 1.0f,
				       .seed = 0};
	a->tokens = 32;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROMPT_IDS: a->src.ids = optarg; break;
		case O_PROMPT: a->src.text = optarg; break;
		case O_PROMPT_FILE: a->src.file = optarg; break;
		case 'n':
			if (cli_parse_uint(optarg, 0, 1u << 30, &a->tokens))
				return cli_usage_error("run", "-n must be a non-negative integer, not '%s'", optarg);
			break;
		case O_GREEDY: greedy = 1; break;
		case O_TEMP:
			if ((rc = cli_parse_float(optarg, 0.0f, 1e6f, &a->sampling.temperature)) == CLI_FLOAT_TINY)
				return cli_usage_error("run", "--temp %s is below the smallest normal float (1.2e-38): "
							      "give 0 for greedy, or a larger temperature", optarg);
			if (rc)
				return cli_usage_error("run", "--temp must be a number from 0 to 1e6, not '%s'", optarg);
			a->sample = 1;
			break;
		case O_TOPK:
			if (cli_parse_uint(optarg, 0, UINT32_MAX, &v))
				return cli_usage_error("run", "--top-k must be a non-negative integer, not '%s'", optarg);
			a->sampling.top_k = (uint32_t)v;
			have_sampling_opt = 1;
			break;
		case O_TOPP:
			if ((rc = cli_parse_float(optarg, 0.0f, 1.0f, &a->sampling.top_p)) == CLI_FLOAT_TINY)
				return cli_usage_error("run", "--top-p %s is below the smallest normal float (1.2e-38): "
							      "give a probability in [1.2e-38, 1]", optarg);
			if (rc || a->sampling.top_p <= 0.0f)
				return cli_usage_error("run", "--top-p must be a number in (0, 1], not '%s'", optarg);
			have_sampling_opt = 1;
			break;
		case O_SEED:
			if (cli_parse_uint(optarg, 0, UINT64_MAX, &v))
				return cli_usage_error("run", "--seed must be a non-negative integer, not '%s'", optarg);
			a->sampling.seed = v;
			have_sampling_opt = 1;
			break;
		case O_THREADS:
			if (cli_parse_uint(optarg, 1, 1024, &v))
				return cli_usage_error("run", "--threads must be an integer from 1 to 1024");
			a->threads = (int)v;
			break;
		case O_DUMP: a->dump_path = optarg; break;
		case O_QUIET: a->quiet = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage_error("run", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("run", argc - optind < 1 ? "expected DB" : "unexpected argument '%s'",
				       argv[optind + (argc - optind > 1)]);
	if (!!a->src.ids + !!a->src.text + !!a->src.file != 1)
		return cli_usage_error("run", "expected one prompt: --prompt-ids IDS, --prompt TEXT or --prompt-file FILE");
	if (greedy && a->sample)
		return cli_usage_error("run", "--greedy and --temp exclude each other");
	if (have_sampling_opt && !a->sample)
		return cli_usage_error("run", "--top-k, --top-p and --seed need --temp");
	a->db = argv[optind];
	return -1;
}

/* Statistics line on stderr (after a successful run). */
static void print_stats(const lutdb_generate_stats *st, const lutdb_model *model)
{
	double dt = st->decode_seconds, pt = st->prefill_seconds;

	fprintf(stderr,
		"lutdb run: prompt %u tokens in %.1f ms (%.1f tok/s); generated %u in %.1f ms "
		"(%.1f tok/s); %d threads\n",
		st->prompt_tokens, pt * 1e3, pt > 0 ? st->prompt_tokens / pt : 0.0, st->generated, dt * 1e3,
		dt > 0 && st->generated > 1 ? (st->generated - 1) / dt : 0.0, lutdb_model_threads(model));
}

/* Feeds the prompt (np >= 1 ids) and generates, printing as it goes: text
 * through tok when the prompt was text, else ids.  Returns a lutdb code
 * for the caller to report. */
static int generate(lutdb_db *db, const run_args *a, const lutdb_tokenizer *tok, const uint32_t *prompt, size_t np)
{
	lutdb_model *model = NULL;
	lutdb_session *sess = NULL;
	uint32_t *gen = NULL;
	size_t ngen = 0;
	struct run_out out = {0};
	lutdb_generate_stats st;
	int rc;

	if (tok && (rc = lutdb_tokenizer_stream_new(tok, 1, &out.stream)))
		goto out;
	lutdb_model_opts mo = {.size = sizeof mo, .threads = a->threads};
	if ((rc = lutdb_model_new(db, &mo, &model)))
		goto out;
	const lutdb_info *in = lutdb_model_info(model);
	/* the prompt plus every generated id but the last is fed */
	uint64_t need = (uint64_t)np + (a->tokens ? a->tokens - 1 : 0);
	lutdb_session_opts so = {.size = sizeof so,
				 .capacity = (uint32_t)(need < in->max_position ? need : in->max_position)};
	if ((rc = lutdb_session_new(model, &so, &sess)))
		goto out;
	/* at most max_position + 1 ids can come out (the context bounds them) */
	uint64_t room = a->tokens < in->max_position + 1ull ? a->tokens : in->max_position + 1ull;
	if (room && !(gen = malloc(room * sizeof *gen))) {
		rc = cli_error(LUTDB_ENOMEM, "run");
		goto out;
	}
	if (a->dump_path) {
		if (!(out.dump = fopen(a->dump_path, "wb"))) {
			rc = cli_error(LUTDB_EIO, "%s: %s", a->dump_path, strerror(errno));
			goto out;
		}
		out.dump_path = a->dump_path;
	}
	lutdb_generate_opts go = {.size = sizeof go,
				  .max_tokens = (uint32_t)a->tokens,
				  .sampling = a->sample ? &a->sampling : NULL,
				  .on_logits = out.dump ? on_logits : NULL,
				  .logits_ctx = &out,
				  .on_token = on_token,
				  .token_ctx = &out};
	rc = lutdb_generate(sess, prompt, np, &go, gen, &ngen, &st);
	if (!out.io_error && (!rc || out.printed) && (printf("\n") < 0 || fflush(stdout)) && !rc)
		rc = cli_error(LUTDB_EIO, "stdout: write error");
	if (out.dump) {
		if (fclose(out.dump) && !rc)
			rc = cli_error(LUTDB_EIO, "%s: write error: %s", a->dump_path, strerror(errno));
		out.dump = NULL;
	}
	if (!a->quiet && !rc && (st.fed || st.generated))
		print_stats(&st, model);
out:
	if (out.dump)
		fclose(out.dump);
	lutdb_session_free(sess);
	lutdb_model_free(model);
	lutdb_tokenizer_stream_free(out.stream);
	free(gen);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	run_args a;
	lutdb_db *db = NULL;
	lutdb_tokenizer *tok = NULL;
	uint32_t *prompt = NULL;
	size_t np = 0;
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	if ((rc = cli_open("run", a.db, 0, &db)))
		return rc;
	if (!a.src.ids && !(tok = cli_load_tokenizer("run", db, &rc)))
		goto out;
	if ((rc = load_prompt(&a.src, tok, &prompt, &np))) {
		rc = cli_fail("run", rc);
		goto out;
	}
	if (!np) {
		rc = cli_usage_error("run", "empty prompt: it holds no %s", a.src.ids ? "ids" : "tokens");
		goto out;
	}
	if ((rc = generate(db, &a, tok, prompt, np)))
		rc = cli_fail("run", rc);
out:
	lutdb_free(prompt);
	lutdb_tokenizer_free(tok);
	lutdb_close(db);
	return rc;
}
