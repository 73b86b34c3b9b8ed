/* cmd_eval.c - lutdb eval DB (--ids FILE | --text FILE) [--threads N] [--quiet] */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lutdb_runtime.h"
#include "text.h"

static const char help[] =
	"usage: lutdb eval DB (--ids FILE | --text FILE) [--threads N] [--quiet]\n\n"
	"Scores a token sequence with teacher forcing and prints, as the last line of\n"
	"stdout:  loss=<mean NLL, nats> ppl=<exp(loss)> tokens=<predicted tokens>\n"
	"A sequence longer than max_position_embeddings is cut into consecutive\n"
	"non-overlapping windows of that many tokens, each scored on its own (positions\n"
	"restart at 0); a window of n tokens predicts n - 1.\n\n"
	"  --ids FILE     token ids separated by commas and/or whitespace ('-': stdin)\n"
	"  --text FILE    text ('-': stdin), tokenized with the stored tokenizer into its own\n"
	"                 ids (no BOS added; special tokens written in it become their ids)\n"
	"  --threads N    compute threads (default: all cores); results do not depend on it\n"
	"  --quiet        no progress or statistics on stderr\n";

/* The sequence to score: ids, or text through the stored tokenizer. */
typedef struct eval_src {
	const char *ids_path;  /* --ids */
	const char *text_path; /* --text */
} eval_src;

/* The ids to score.  A stored tokenizer that cannot be loaded is reported
 * here (*exit_code); any other failure is returned for the caller to report. */
static int load_input(const eval_src *src, lutdb_db *db, uint32_t **ids, size_t *n, int *exit_code)
{
	const char *path = src->ids_path ? src->ids_path : src->text_path;
	lutdb_tokenizer *t = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	*exit_code = 0;
	if (src->text_path && !(t = cli_load_tokenizer("eval", db, exit_code)))
		return LUTDB_ETOKENIZER;
	/* A read failure's detail names the file already. */
	if ((rc = cli_read_input(path, &text, &len)) == LUTDB_OK) {
		rc = t ? lutdb_tokenizer_encode(t, text, len, 0, ids, n) : lutdb_ids_parse(text, len, ids, n);
		if (rc)
			rc = cli_error_prefix(rc, "%s", path);
	}
	lutdb_free(text);
	lutdb_tokenizer_free(t);
	return rc;
}

int cmd_eval(int argc, char **argv)
{
	enum { O_IDS = 256, O_TEXT, O_THREADS, O_QUIET };
	static const struct option opts[] = {{"ids", required_argument, 0, O_IDS},
					     {"text", required_argument, 0, O_TEXT},
					     {"threads", required_argument, 0, O_THREADS},
					     {"quiet", no_argument, 0, O_QUIET},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	eval_src src = {0};
	int threads = 0, quiet = 0, c, rc;
	uint64_t v;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_IDS: src.ids_path = optarg; break;
		case O_TEXT: src.text_path = optarg; break;
		case O_THREADS:
			if (cli_parse_uint(optarg, 1, 1024, &v))
				return cli_usage_error("eval", "--threads must be an integer from 1 to 1024");
			threads = (int)v;
			break;
		case O_QUIET: quiet = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage_error("eval", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("eval", argc - optind < 1 ? "expected DB" : "unexpected argument '%s'",
				       argv[optind + (argc - optind > 1)]);
	if (!src.ids_path == !src.text_path)
		return cli_usage_error("eval", "expected the sequence: --ids FILE or --text FILE");

	uint32_t *ids = NULL;
	size_t n = 0;
	lutdb_db *db = NULL;
	lutdb_model *model = NULL;
	lutdb_eval_result res;
	cli_progress pr;

	if ((rc = cli_open("eval", argv[optind], 0, &db)))
		goto out;
	if ((rc = load_input(&src, db, &ids, &n, &c))) {
		rc = c ? c : cli_fail("eval", rc);
		goto out;
	}
	if (n < 2) {
		rc = cli_usage_error("eval", "%s holds %zu token%s: at least 2 are needed",
				     src.ids_path ? src.ids_path : src.text_path, n, n == 1 ? "" : "s");
		goto out;
	}
	lutdb_model_opts mo = {.size = sizeof mo, .threads = threads};
	if ((rc = lutdb_model_new(db, &mo, &model))) {
		rc = cli_fail("eval", rc);
		goto out;
	}
	cli_progress_init(&pr, "eval", "windows", quiet);
	double t0 = cli_now();
	rc = lutdb_eval(model, ids, n, 0, cli_progress_cb, &pr, &res);
	double el = cli_now() - t0;
	cli_progress_done(&pr);
	if (rc) {
		rc = cli_fail("eval", rc);
		goto out;
	}
	if (!quiet)
		fprintf(stderr, "lutdb eval: %zu ids, %u windows of up to %u, %.1f ms (%.1f tok/s), %d threads\n", n,
			res.windows, lutdb_model_info(model)->max_position, el * 1e3, el > 0 ? (double)n / el : 0.0,
			lutdb_model_threads(model));
	if (printf("loss=%.8f ppl=%.8g tokens=%llu\n", res.loss, res.ppl, (unsigned long long)res.tokens) < 0 ||
	    fflush(stdout))
		rc = cli_fail("eval", cli_error(LUTDB_EIO, "stdout: write error"));
out:
	lutdb_model_free(model);
	lutdb_close(db);
	lutdb_free(ids);
	return rc;
}
