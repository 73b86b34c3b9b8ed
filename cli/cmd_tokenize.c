/* cmd_tokenize.c - lutdb tokenize DB TEXT | lutdb detokenize DB IDS */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lutdb_runtime.h"
#include "text.h"

static const char tok_help[] =
	"usage: lutdb tokenize DB TEXT      (TEXT is one argument; - reads stdin)\n\n"
	"Prints the ids of TEXT under the tokenizer stored in DB, comma-separated, and nothing\n"
	"else on stdout.  These are the text's own ids (Hugging Face encode(text,\n"
	"add_special_tokens=False)): no BOS is added, and special tokens written in the text,\n"
	"such as <|endoftext|>, become their ids.  Invalid UTF-8 is read as the Hugging Face\n"
	"bindings read it: each invalid sequence becomes U+FFFD.\n";

static const char detok_help[] =
	"usage: lutdb detokenize DB IDS     (IDS separated by commas and/or spaces; - reads stdin)\n\n"
	"Prints the text of IDS under the tokenizer stored in DB; special tokens are written out\n"
	"as their text (skip_special_tokens=False).  The text is written exactly, with a final\n"
	"newline added only when stdout is a terminal.\n";

static int parse_flags(int argc, char **argv, const char *cmd, const char *help)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c;

	optind = 1;
	/* "+": stop at the first non-option, so TEXT may start with '-'. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return 0;
		}
		return cli_usage_error(cmd, "bad option");
	}
	if (argc - optind != 2)
		return cli_usage_error(cmd, "expected DB and %s", !strcmp(cmd, "tokenize") ? "TEXT" : "IDS");
	return -1;
}

int cmd_tokenize(int argc, char **argv)
{
	int rc = parse_flags(argc, argv, "tokenize", tok_help);
	lutdb_db *db = NULL;
	lutdb_tokenizer *t = NULL;
	char *in = NULL;
	size_t len, n = 0;
	uint32_t *ids = NULL;

	if (rc >= 0)
		return rc;
	const char *text = argv[optind + 1];
	if ((rc = cli_open("tokenize", argv[optind], LUTDB_OPEN_NOVERIFY, &db)))
		return rc;
	if (!(t = cli_load_tokenizer("tokenize", db, &rc)))
		goto out;
	if (!strcmp(text, "-")) {
		if ((rc = cli_read_input("-", &in, &len))) {
			rc = cli_fail("tokenize", rc);
			goto out;
		}
		text = in;
	} else {
		len = strlen(text);
	}
	if ((rc = lutdb_tokenizer_encode(t, text, len, 0, &ids, &n))) {
		rc = cli_fail("tokenize", rc);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", ids[i]);
	printf("\n");
	rc = fflush(stdout) ? cli_fail("tokenize", cli_error(LUTDB_EIO, "stdout: write error")) : 0;
out:
	lutdb_free(ids);
	lutdb_free(in);
	lutdb_tokenizer_free(t);
	lutdb_close(db);
	return rc;
}

int cmd_detokenize(int argc, char **argv)
{
	int rc = parse_flags(argc, argv, "detokenize", detok_help);
	lutdb_db *db = NULL;
	lutdb_tokenizer *t = NULL;
	char *in = NULL, *text = NULL;
	size_t len, n = 0, tlen = 0;
	uint32_t *ids = NULL;

	if (rc >= 0)
		return rc;
	const char *arg = argv[optind + 1];
	if (!strcmp(arg, "-")) {
		if ((rc = cli_read_input("-", &in, &len)))
			return cli_fail("detokenize", rc);
		arg = in;
	}
	if ((rc = lutdb_ids_parse(arg, strlen(arg), &ids, &n))) {
		lutdb_free(in);
		return cli_fail("detokenize", rc);
	}
	if ((rc = cli_open("detokenize", argv[optind], LUTDB_OPEN_NOVERIFY, &db)))
		goto out;
	if (!(t = cli_load_tokenizer("detokenize", db, &rc)))
		goto out;
	uint32_t V = lutdb_get_info(db)->vocab;
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= V) {
			rc = cli_fail("detokenize", cli_error(LUTDB_ERANGE, "id %u is out of range (vocabulary size %u)",
							       ids[i], V));
			goto out;
		}
	if ((rc = lutdb_tokenizer_decode(t, ids, n, 0, &text, &tlen))) {
		rc = cli_fail("detokenize", rc);
		goto out;
	}
	if (fwrite(text, 1, tlen, stdout) != tlen || (isatty(STDOUT_FILENO) && putchar('\n') == EOF) || fflush(stdout))
		rc = cli_fail("detokenize", cli_error(LUTDB_EIO, "stdout: write error"));
	else
		rc = 0;
out:
	lutdb_free(text);
	lutdb_free(ids);
	lutdb_free(in);
	lutdb_tokenizer_free(t);
	lutdb_close(db);
	return rc;
}
