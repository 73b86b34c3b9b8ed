/* quant_opts.h - the quantization options of pack and quantize
 * (quant_opts.c). */
#ifndef LUTDB_CLI_QUANT_OPTS_H
#define LUTDB_CLI_QUANT_OPTS_H

#include <stdio.h>

#include "cli.h"
#include "lutdb_pack.h"

typedef struct cli_quant_opts {
	lutdb_dtype dtype, table_dtype, weight_dtype;
	uint32_t table_block;
	lutdb_tensor_dtype *tensors; /* --tensor-dtype, names allocated */
	size_t ntensors;
} cli_quant_opts;

enum { CLI_Q_DTYPE = 0x100, CLI_Q_TABLE_DTYPE, CLI_Q_WEIGHT_DTYPE, CLI_Q_TABLE_BLOCK, CLI_Q_TENSOR_DTYPE };

/* getopt_long entries for the options above (--dtype excepted: the
 * commands list it themselves). */
#define CLI_QUANT_OPTIONS                                                                                    \
	{"table-dtype", required_argument, 0, CLI_Q_TABLE_DTYPE},                                            \
		{"weight-dtype", required_argument, 0, CLI_Q_WEIGHT_DTYPE},                                  \
		{"table-block", required_argument, 0, CLI_Q_TABLE_BLOCK},                                    \
		{"tensor-dtype", required_argument, 0, CLI_Q_TENSOR_DTYPE}

/* f32 f16 bf16 q8_0 q4_0 nf4 nf3 (and the spec's upper-case names) ->
 * dtype; 0 for anything else. */
lutdb_dtype cli_parse_any_dtype(const char *s);

/* Parses the value of option which (CLI_Q_*); 0, or prints the usage error
 * and returns its exit status. */
int cli_quant_opt(const char *cmd, int which, const char *arg, cli_quant_opts *q);
void cli_quant_opts_free(cli_quant_opts *q);

/* "quantization error, table NF4 (block 64): ..." per quantized part. */
void cli_quant_report_print(FILE *f, const lutdb_quant_report *r);

#endif
