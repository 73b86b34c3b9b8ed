/* cmd_export.c - lutdb export DB OUTDIR [--max-shard-size SIZE] [--dtype f16|f32|bf16] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lutdb_pack.h"

static const char help[] =
	"usage: lutdb export DB OUTDIR [--max-shard-size SIZE] [--dtype f16|f32|bf16] [--quiet]\n\n"
	"Writes the reparameterized Hugging Face checkpoint held by DB into OUTDIR (created if\n"
	"needed; files already in it are never overwritten): config.json, the weights as\n"
	"model.safetensors, or as shards of at most SIZE bytes (default 2G; suffixes K, M, G)\n"
	"with model.safetensors.index.json, and the stored tokenizer and generation files.\n"
	"A database packed from a rep checkpoint without --dtype exports bit-identical tensors.\n"
	"Quantized parts (Q8_0, Q4_0, NF4, NF3) have no safetensors dtype: they are written\n"
	"dequantized, as F16 (default) or as --dtype says (f32 is exact), and export says so.\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {{"max-shard-size", required_argument, 0, 's'},
					     {"dtype", required_argument, 0, 'd'},
					     {"quiet", no_argument, 0, 'q'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	uint64_t max = 0;
	lutdb_dtype ddt = LUTDB_DTYPE_F16;
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
		case 'd':
			if (!(ddt = cli_parse_dtype(optarg)))
				return cli_usage_error("export", "--dtype must be f16, f32 or bf16, not '%s'", optarg);
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
	/* Say what is not written as stored. */
	{
		const lutdb_info *in = lutdb_get_info(db);
		size_t n8 = 0, n4 = 0;
		for (size_t i = 0; i < lutdb_tensor_count(db); i++) {
			lutdb_tensor t;
			if (lutdb_tensor_at(db, i, &t) != LUTDB_OK)
				continue;
			n8 += t.dtype == LUTDB_DTYPE_Q8_0;
			n4 += t.dtype == LUTDB_DTYPE_Q4_0;
		}
		if (lutdb_dtype_is_quantized(in->table_dtype))
			fprintf(stderr, "export: the %s table (block %u) is written dequantized as %s\n",
				lutdb_dtype_name(in->table_dtype), in->table_block, lutdb_dtype_name(ddt));
		if (n8 + n4)
			fprintf(stderr, "export: %zu Q8_0 and %zu Q4_0 tensors are written dequantized as %s\n", n8, n4,
				lutdb_dtype_name(ddt));
	}
	cli_progress_init(&pr, "export", "bytes", quiet);
	rc = lutdb_export_as(db, argv[optind + 1], max, ddt, cli_progress_cb, &pr);
	cli_progress_done(&pr);
	lutdb_close(db);
	return rc ? cli_fail("export", rc) : 0;
}
