/* cmd_quantize.c - lutdb quantize DB OUT [--table-dtype T] [--weight-dtype T] [--table-block B]
 *                  [--tensor-dtype NAME=T ...] [--threads N] [--quiet] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lutdb_pack.h"
#include "quant_opts.h"

static const char help[] =
	"usage: lutdb quantize DB OUT [--table-dtype T] [--weight-dtype T] [--table-block B]\n"
	"                      [--tensor-dtype NAME=T ...] [--threads N] [--quiet]\n\n"
	"Writes the model in DB (a database file, or a shard manifest) as the single database\n"
	"file OUT with its table and dense weights converted, without the checkpoint.  A part\n"
	"whose dtype is not named keeps its stored dtype and bytes.  Quantizing an F32 database\n"
	"gives the table and tensor records pack writes from the same checkpoint with the same\n"
	"options.  OUT appears only when the whole conversion succeeded.\n\n"
	"  --table-dtype T   f32 f16 bf16 q8_0 q4_0 nf4 nf3\n"
	"  --weight-dtype T  f32 f16 bf16 q8_0 q4_0 (q8_0/q4_0: projections, MLP, embedding and\n"
	"                    head; the other tensors keep their dtype)\n"
	"  --table-block B   values per block of an nf4/nf3 table (a multiple of 32 dividing d and\n"
	"                    dk; default 64, or the stored one when the table dtype is kept)\n"
	"  --tensor-dtype NAME=T  store tensor NAME as T (repeatable)\n"
	"  --threads N       threads quantizing the table (default: all cores)\n"
	"  --quiet           no progress bar and no error report\n\n"
	"It prints, per quantized part, the relative RMS error and the largest absolute error with\n"
	"its place (layer, token, expert; or the tensor).\n";

#define USAGE(...)                                      \
	do {                                            \
		rc = cli_usage_error(__VA_ARGS__);      \
		goto out;                               \
	} while (0)

int cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_QUANT_OPTIONS, {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	lutdb_quantize_opts o = {.size = sizeof o};
	cli_quant_opts q = {0};
	lutdb_quant_report qr;
	lutdb_db *db = NULL;
	cli_progress pr;
	uint64_t v;
	int quiet = 0, c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case CLI_Q_TABLE_DTYPE:
		case CLI_Q_WEIGHT_DTYPE:
		case CLI_Q_TABLE_BLOCK:
		case CLI_Q_TENSOR_DTYPE:
			if ((rc = cli_quant_opt("quantize", c, optarg, &q)))
				goto out;
			break;
		case 't':
			if (cli_parse_uint(optarg, 1, 1024, &v))
				USAGE("quantize", "--threads must be an integer from 1 to 1024");
			o.threads = (int)v;
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(help, stdout); goto out;
		default: USAGE("quantize", "bad option");
		}
	}
	if (argc - optind != 2)
		USAGE("quantize", "expected DB and OUT");
	o.table_dtype = q.table_dtype;
	o.weight_dtype = q.weight_dtype;
	o.table_block = q.table_block;
	o.tensor_dtypes = q.tensors;
	o.tensor_dtype_count = q.ntensors;
	/* --quiet prints no report: not asking for one spares measuring it */
	o.report = quiet ? NULL : &qr;
	if ((rc = cli_open("quantize", argv[optind], 0, &db)))
		goto out;
	cli_progress_init(&pr, "quantize", "rows", quiet);
	o.progress = cli_progress_cb;
	o.progress_ctx = &pr;
	rc = lutdb_quantize(db, argv[optind + 1], &o);
	cli_progress_done(&pr);
	if (rc) {
		rc = cli_fail("quantize", rc);
		goto out;
	}
	if (!quiet)
		cli_quant_report_print(stderr, &qr);
out:
	lutdb_close(db);
	cli_quant_opts_free(&q);
	return rc;
}
