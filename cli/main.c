/* main.c - the lutdb command: dispatch to one file per subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_cmd commands[] = {
	{"pack", cmd_pack, "pack a Hugging Face checkpoint directory into a database"},
	{"quantize", cmd_quantize, "convert a database's table and weights to other (quantized) dtypes"},
	{"info", cmd_info, "describe a database: model, sizes, overhead, provenance"},
	{"verify", cmd_verify, "check every checksum and invariant of a database"},
	{"get", cmd_get, "print one layer's table row of one token"},
	{"export", cmd_export, "write the reparameterized checkpoint back out"},
	{"shard", cmd_shard, "split a database into shard files and a manifest"},
	{"merge", cmd_merge, "join the shards of a manifest into one database file"},
	{"run", cmd_run, "generate token ids from a prompt"},
	{"eval", cmd_eval, "loss and perplexity of a token sequence"},
	{"tokenize", cmd_tokenize, "print the token ids of a text"},
	{"detokenize", cmd_detokenize, "print the text of token ids"},
	{"serve", cmd_serve, "serve the model over HTTP (OpenAI API shapes)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: lutdb COMMAND [ARGS]   (lutdb COMMAND --help for details)\n\n"
		   "lutdb " LUTDB_VERSION_STRING " - lookup-table database for Mixture-of-Lookup-Experts models\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\noptions:\n  --version   print the version\n  --help      this text\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* Every path below ends through cli_stdout_close: what was printed
	 * must have reached stdout for the status to be 0. */
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("lutdb %s (format %d.%d)\n", lutdb_libversion(), LUTDB_FORMAT_MAJOR, LUTDB_FORMAT_MINOR);
		return cli_stdout_close("version", 0);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return cli_stdout_close("help", 0);
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(argv[1], commands[i].name)) {
			cli_install_signals();
			/* Errors are one line: the command's own "bad option"
			 * message, not getopt's as well. */
			opterr = 0;
			return cli_stdout_close(commands[i].name, commands[i].run(argc - 1, argv + 1));
		}
	fprintf(stderr, "lutdb: unknown command '%s' (see 'lutdb --help')\n", argv[1]);
	return 2;
}
