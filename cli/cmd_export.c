/* cmd_export.c - lutdb export DB OUTDIR [--max-shard-size SIZE] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lutdb_pack.h"

static const char help[] =
	"usage: lutdb export DB OUTDIR [--max-shard-size SIZE] [--quiet]\n\n"
	"Writes the reparameterized Hugging Face checkpoint held by DB into OUTDIR (created if\n"
	"needed; files already in it are never overwritten): config.json, the weights as\n"
	"model.safetensors, or as shards of at most SIZE bytes (default 2G; suffixes K, M, G)\n"
	"with model.safetensors.index.json, and the stored tokenizer and generation files.\n"
	"A database packed from a rep checkpoint without --dtype exports bit-identical tensors.\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {{"max-shard-size", required_argument, 0, 's'},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	uint64_t max = 0;
	int quiet = 0, c, rc;
	lutdb_db *db = NULL;
	cli_progress pr;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_size(optarg, &max))
				return cli_usage_error("export", "--max-shard-size must be a size like 500M or 2G");
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage_error("export", "bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("export", "expected DB and OUTDIR");
	if ((rc = cli_open("export", argv[optind], LUTDB_OPEN_WILLNEED, &db)))
		return rc;
	cli_progress_init(&pr, "export", "bytes", quiet);
	rc = lutdb_export(db, argv[optind + 1], max, cli_progress_cb, &pr);
	cli_progress_done(&pr);
	lutdb_close(db);
	return rc ? cli_fail("export", rc) : 0;
}
