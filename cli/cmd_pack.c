/* cmd_pack.c - lutdb pack SRC OUT [--dtype ...] [--codec ...] [--threads N] [--quiet] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lutdb_types.h"
#include "lutdb_pack.h"

static const char help[] =
	"usage: lutdb pack SRC OUT [--dtype f16|bf16|f32] [--codec none|lz4] [--threads N]\n"
	"                  [--tokenizer PATH] [--block-tokens N] [--quiet]\n"
	"       lutdb pack SRC OUTDIR (--count N | --max-size SIZE) [--by token|layer] [...]\n\n"
	"Packs the Hugging Face checkpoint directory SRC (config.json and model.safetensors, or\n"
	"model.safetensors.index.json and its shards; MoLE or MoLKV, training or reparameterized\n"
	"form) into the database file OUT.  A training-form checkpoint is reparameterized: its\n"
	"lookup table is computed in float32.  OUT appears only when the pack succeeded.\n\n"
	"  --dtype T         storage dtype of the table and dense weights (default: f16 for a\n"
	"                    training-form source, the source's own dtypes for a rep source)\n"
	"  --codec C         table codec: none (default, zero-copy reads) or lz4 (byte shuffle\n"
	"                    + LZ4 per row; ~6%% smaller on BF16 tables, none on F16: see\n"
	"                    spec/FORMAT.md; lz4-noshuffle: plain LZ4)\n"
	"  --threads N       threads for the reparameterization (default: all cores)\n"
	"  --tokenizer PATH  store this tokenizer.json instead of the checkpoint's\n"
	"  --block-tokens N  tokens per table record (default: 16, or more for rows under\n"
	"                    16 KiB so records hold 256 KiB; see spec/FORMAT.md)\n"
	"  --count N         pack straight into N shards in OUTDIR (see lutdb shard --help)\n"
	"  --max-size SIZE   pack straight into shards of at most SIZE bytes (K, M, G)\n"
	"  --by token|layer  shard by token ranges (default) or layer ranges\n"
	"  --quiet           no progress bar\n";

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dtype", required_argument, 0, 'd'}, {"codec", required_argument, 0, 'c'},
		{"threads", required_argument, 0, 't'}, {"tokenizer", required_argument, 0, 'k'},
		{"block-tokens", required_argument, 0, 'b'}, {"quiet", no_argument, 0, 'q'},
		{"count", required_argument, 0, 'n'}, {"max-size", required_argument, 0, 's'},
		{"by", required_argument, 0, 'y'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	lutdb_pack_opts o = {.size = sizeof o};
	lutdb_shard_opts shards = {.size = sizeof shards};
	cli_progress pr;
	uint64_t v;
	int quiet = 0, c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!(o.dtype = cli_parse_dtype(optarg)))
				return cli_usage_error("pack", "--dtype must be f16, bf16 or f32, not '%s'", optarg);
			break;
		case 'c':
			if (!strcmp(optarg, "none"))
				o.codec = LUTDB_CODEC_NONE;
			else if (!strcmp(optarg, "lz4") || !strcmp(optarg, "shuffle-lz4"))
				o.codec = LUTDB_CODEC_SHUFFLE_LZ4; /* the measured winner: spec section 9 */
			else if (!strcmp(optarg, "lz4-noshuffle"))
				o.codec = LUTDB_CODEC_LZ4;
			else
				return cli_usage_error("pack", "--codec must be none or lz4, not '%s'", optarg);
			break;
		case 't':
			if (cli_parse_uint(optarg, 1, 1024, &v))
				return cli_usage_error("pack", "--threads must be an integer from 1 to 1024");
			o.threads = (int)v;
			break;
		case 'k': o.tokenizer = optarg; break;
		case 'b':
			if (cli_parse_uint(optarg, 1, 251, &v))
				return cli_usage_error("pack", "--block-tokens must be an integer from 1 to 251");
			o.block_tokens = (uint32_t)v;
			break;
		case 'n':
			if (cli_parse_uint(optarg, 1, 65535, &v))
				return cli_usage_error("pack", "--count must be an integer from 1 to 65535");
			shards.count = (uint32_t)v;
			break;
		case 's':
			if (cli_parse_size(optarg, &shards.max_size))
				return cli_usage_error("pack", "--max-size must be a size like 4095M or 2G, not '%s'", optarg);
			break;
		case 'y':
			if (strcmp(optarg, "token") && strcmp(optarg, "layer"))
				return cli_usage_error("pack", "--by must be token or layer");
			shards.by_layer = !strcmp(optarg, "layer");
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage_error("pack", "bad option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("pack", "expected SRC and OUT");
	if (shards.count && shards.max_size)
		return cli_usage_error("pack", "give at most one of --count and --max-size");
	if (shards.count || shards.max_size)
		o.shards = &shards;
	cli_progress_init(&pr, "pack", "rows", quiet);
	o.progress = cli_progress_cb;
	o.progress_ctx = &pr;
	rc = lutdb_pack(argv[optind], argv[optind + 1], &o);
	cli_progress_done(&pr);
	if (rc)
		return cli_fail("pack", rc);
	if (!quiet && pr.enabled)
		fprintf(stderr, "packed %s in %.1f s\n", argv[optind + 1], cli_now() - pr.start);
	return 0;
}
