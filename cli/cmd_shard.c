/* cmd_shard.c - lutdb shard DB OUTDIR --count N | --max-size SIZE [--by token|layer]
 *               lutdb merge MANIFEST OUT */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char shard_help[] =
	"usage: lutdb shard DB OUTDIR (--count N | --max-size SIZE) [--by token|layer] [--quiet]\n\n"
	"Splits DB (a database file or a manifest) into shard files in OUTDIR plus\n"
	"OUTDIR/manifest.json.  Every shard is a complete database that verifies on its own;\n"
	"the dense weights, tokenizer and provenance go in the first shard, config.json in all.\n"
	"  --count N       N shards of equal token (or layer) ranges\n"
	"  --max-size SIZE every shard file at most SIZE bytes (suffixes K, M, G: binary; FAT32: 4095M)\n"
	"  --by token      split by token ranges (default); --by layer: by layer ranges\n"
	"OUTDIR must not exist or be empty; it appears complete or not at all.\n"
	"Readers take OUTDIR/manifest.json wherever they take a database.\n";

static const char merge_help[] =
	"usage: lutdb merge MANIFEST OUT [--quiet]\n\n"
	"Writes the sharded model of MANIFEST as one database file OUT, whose rows, tensors\n"
	"and content digest equal those of the database the shards were split from.\n";

int cmd_shard(int argc, char **argv)
{
	static const struct option opts[] = {{"count", required_argument, 0, 'c'}, {"max-size", required_argument, 0, 's'},
					     {"by", required_argument, 0, 'b'},    {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
	lutdb_shard_opts o = {.size = sizeof o};
	uint64_t v;
	int quiet = 0, c, rc;
	lutdb_db *db = NULL;
	cli_progress pr;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (cli_parse_uint(optarg, 1, 65535, &v))
				return cli_usage_error("shard", "--count must be an integer from 1 to 65535");
			o.count = (uint32_t)v;
			break;
		case 's':
			if (cli_parse_size(optarg, &o.max_size))
				return cli_usage_error("shard", "--max-size must be a size like 4095M or 2G, not '%s'", optarg);
			break;
		case 'b':
			if (strcmp(optarg, "token") && strcmp(optarg, "layer"))
				return cli_usage_error("shard", "--by must be token or layer");
			o.by_layer = !strcmp(optarg, "layer");
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(shard_help, stdout); return 0;
		default: return cli_usage_error("shard", "bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("shard", "expected DB and OUTDIR");
	if ((o.count == 0) == (o.max_size == 0))
		return cli_usage_error("shard", "give exactly one of --count and --max-size");
	if ((rc = cli_open("shard", argv[optind], 0, &db)))
		return rc;
	cli_progress_init(&pr, "shard", "bytes", quiet);
	rc = lutdb_shard(db, argv[optind + 1], &o, cli_progress_cb, &pr);
	cli_progress_done(&pr);
	lutdb_close(db);
	return rc ? cli_fail("shard", rc) : 0;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int quiet = 0, c, rc;
	lutdb_db *db = NULL;
	cli_progress pr;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		if (c == 'q')
			quiet = 1;
		else if (c == 'h') {
			fputs(merge_help, stdout);
			return 0;
		} else
			return cli_usage_error("merge", "bad option");
	}
	if (argc - optind != 2)
		return cli_usage_error("merge", "expected MANIFEST and OUT");
	if ((rc = cli_open("merge", argv[optind], 0, &db)))
		return rc;
	cli_progress_init(&pr, "merge", "bytes", quiet);
	rc = lutdb_merge(db, argv[optind + 1], cli_progress_cb, &pr);
	cli_progress_done(&pr);
	lutdb_close(db);
	return rc ? cli_fail("merge", rc) : 0;
}
