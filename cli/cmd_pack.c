/* cmd_pack.c - lutdb pack SRC OUT [--dtype ...] [--codec ...] [--threads N] [--quiet] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "quant_opts.h"
#include "lutdb_types.h"
#include "lutdb_pack.h"

static const char help[] =
	"usage: lutdb pack SRC OUT [--dtype T] [--table-dtype T] [--weight-dtype T] [--table-block B]\n"
	"                  [--tensor-dtype NAME=T ...] [--codec none|lz4] [--threads N]\n"
	"                  [--tokenizer PATH] [--block-tokens N] [--quiet]\n"
	"       lutdb pack SRC OUTDIR (--count N | --max-size SIZE) [--by token|layer] [...]\n\n"
	"Packs the Hugging Face checkpoint directory SRC (config.json and model.safetensors, or\n"
	"model.safetensors.index.json and its shards; MoLE or MoLKV, training or reparameterized\n"
	"form) into the database file OUT.  A training-form checkpoint is reparameterized: its\n"
	"lookup table is computed in float32.  OUT appears only when the pack succeeded.\n\n"
	"  --dtype T         storage dtype of the table and dense weights: f32, f16, bf16, q8_0\n"
	"                    or q4_0 (default: f16 for a training-form source, the source's own\n"
	"                    dtypes for a rep source)\n"
	"  --table-dtype T   the table's dtype, overriding --dtype: f32 f16 bf16 q8_0 q4_0 nf4 nf3\n"
	"  --weight-dtype T  the dense weights' dtype, overriding --dtype: f32 f16 bf16 q8_0 q4_0.\n"
	"                    q8_0/q4_0 apply to the projections, the MLP, the embedding and the\n"
	"                    head; norms, router weights and tensors whose rows are not a\n"
	"                    multiple of 32 keep the float dtype\n"
	"  --table-block B   values per block of an nf4/nf3 table: a multiple of 32 up to 8192\n"
	"                    dividing d (and dk), default 64; q8_0/q4_0 take only 32\n"
	"  --tensor-dtype NAME=T  store tensor NAME as T (repeatable), e.g.\n"
	"                    --tensor-dtype lm_head.weight=q8_0 with --weight-dtype q4_0\n"
	"  Quantized parts print their error: relative RMS and the largest absolute error\n"
	"  with its place (spec/FORMAT.md section 10 gives the types).\n"
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

/* A usage error, with the option list freed on the way out. */
#define USAGE(...)                                      \
	do {                                            \
		rc = cli_usage_error(__VA_ARGS__);      \
		goto out;                               \
	} while (0)

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dtype", required_argument, 0, 'd'}, {"codec", required_argument, 0, 'c'},
		{"threads", required_argument, 0, 't'}, {"tokenizer", required_argument, 0, 'k'},
		{"block-tokens", required_argument, 0, 'b'}, {"quiet", no_argument, 0, 'q'},
		{"count", required_argument, 0, 'n'}, {"max-size", required_argument, 0, 's'},
		{"by", required_argument, 0, 'y'}, CLI_QUANT_OPTIONS,
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	cli_quant_opts q = {0};
	lutdb_quant_report qr;
	lutdb_pack_opts o = {.size = sizeof o};
	lutdb_shard_opts shards = {.size = sizeof shards};
	cli_progress pr;
	uint64_t v;
	int quiet = 0, c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if ((rc = cli_quant_opt("pack", CLI_Q_DTYPE, optarg, &q)))
				goto out;
			break;
		case CLI_Q_TABLE_DTYPE:
		case CLI_Q_WEIGHT_DTYPE:
		case CLI_Q_TABLE_BLOCK:
		case CLI_Q_TENSOR_DTYPE:
			if ((rc = cli_quant_opt("pack", c, optarg, &q)))
				goto out;
			break;
		case 'c':
			if (!strcmp(optarg, "none"))
				o.codec = LUTDB_CODEC_NONE;
			else if (!strcmp(optarg, "lz4") || !strcmp(optarg, "shuffle-lz4"))
				o.codec = LUTDB_CODEC_SHUFFLE_LZ4; /* the measured winner: spec section 9 */
			else if (!strcmp(optarg, "lz4-noshuffle"))
				o.codec = LUTDB_CODEC_LZ4;
			else
				USAGE("pack", "--codec must be none or lz4, not '%s'", optarg);
			break;
		case 't':
			if (cli_parse_uint(optarg, 1, 1024, &v))
				USAGE("pack", "--threads must be an integer from 1 to 1024");
			o.threads = (int)v;
			break;
		case 'k': o.tokenizer = optarg; break;
		case 'b':
			if (cli_parse_uint(optarg, 1, 251, &v))
				USAGE("pack", "--block-tokens must be an integer from 1 to 251");
			o.block_tokens = (uint32_t)v;
			break;
		case 'n':
			if (cli_parse_uint(optarg, 1, 65535, &v))
				USAGE("pack", "--count must be an integer from 1 to 65535");
			shards.count = (uint32_t)v;
			break;
		case 's':
			if (cli_parse_size(optarg, &shards.max_size))
				USAGE("pack", "--max-size must be a size like 4095M or 2G, not '%s'", optarg);
			break;
		case 'y':
			if (strcmp(optarg, "token") && strcmp(optarg, "layer"))
				USAGE("pack", "--by must be token or layer");
			shards.by_layer = !strcmp(optarg, "layer");
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(help, stdout); rc = 0; goto out;
		default: USAGE("pack", "bad option");
		}
	}
	if (argc - optind != 2)
		USAGE("pack", "expected SRC and OUT");
	if (shards.count && shards.max_size)
		USAGE("pack", "give at most one of --count and --max-size");
	if (shards.count || shards.max_size)
		o.shards = &shards;
	o.dtype = q.dtype;
	o.table_dtype = q.table_dtype;
	o.weight_dtype = q.weight_dtype;
	o.table_block = q.table_block;
	o.tensor_dtypes = q.tensors;
	o.tensor_dtype_count = q.ntensors;
	o.report = &qr;
	/* --codec lz4 means shuffle + LZ4, which needs an element size: a
	 * block-quantized table gets plain LZ4. */
	if (o.codec == LUTDB_CODEC_SHUFFLE_LZ4 &&
	    lutdb_dtype_is_quantized(q.table_dtype ? q.table_dtype : q.dtype))
		o.codec = LUTDB_CODEC_LZ4;
	cli_progress_init(&pr, "pack", "rows", quiet);
	o.progress = cli_progress_cb;
	o.progress_ctx = &pr;
	rc = lutdb_pack(argv[optind], argv[optind + 1], &o);
	cli_progress_done(&pr);
	if (rc) {
		rc = cli_fail("pack", rc);
		goto out;
	}
	if (!quiet)
		cli_quant_report_print(stderr, &qr);
	if (!quiet && pr.enabled)
		fprintf(stderr, "packed %s in %.1f s\n", argv[optind + 1], cli_now() - pr.start);
out:
	cli_quant_opts_free(&q);
	return rc;
}
