/*
 * quant_opts.c - the quantization options pack and quantize share
 * (--dtype, --table-dtype, --weight-dtype, --table-block, --tensor-dtype)
 * and the error report they print.
 */
#include "quant_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lutdb_dtype cli_parse_any_dtype(const char *s)
{
	static const struct {
		const char *lower, *spec;
		lutdb_dtype dt;
	} names[] = {
		{"q8_0", "Q8_0", LUTDB_DTYPE_Q8_0}, {"q4_0", "Q4_0", LUTDB_DTYPE_Q4_0},
		{"nf4", "NF4", LUTDB_DTYPE_NF4},    {"nf3", "NF3", LUTDB_DTYPE_NF3},
	};
	lutdb_dtype dt = cli_parse_dtype(s);

	for (size_t i = 0; !dt && i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].lower) || !strcmp(s, names[i].spec))
			dt = names[i].dt;
	return dt;
}

/* Table dtypes: all seven; weight dtypes: the first five. */
static int is_weight_dtype(lutdb_dtype dt)
{
	return dt && dt != LUTDB_DTYPE_NF4 && dt != LUTDB_DTYPE_NF3;
}

int cli_quant_opt(const char *cmd, int which, const char *arg, cli_quant_opts *q)
{
	lutdb_dtype dt;
	uint64_t v;

	switch (which) {
	case CLI_Q_DTYPE:
		if (!is_weight_dtype(dt = cli_parse_any_dtype(arg)))
			return cli_usage_error(cmd, "--dtype must be f32, f16, bf16, q8_0 or q4_0, not '%s' (nf4 and nf3 "
					       "are for tables: --table-dtype)", arg);
		q->dtype = dt;
		return 0;
	case CLI_Q_TABLE_DTYPE:
		if (!(dt = cli_parse_any_dtype(arg)))
			return cli_usage_error(cmd, "--table-dtype must be f32, f16, bf16, q8_0, q4_0, nf4 or nf3, not "
					       "'%s'", arg);
		q->table_dtype = dt;
		return 0;
	case CLI_Q_WEIGHT_DTYPE:
		if (!is_weight_dtype(dt = cli_parse_any_dtype(arg)))
			return cli_usage_error(cmd, "--weight-dtype must be f32, f16, bf16, q8_0 or q4_0, not '%s'", arg);
		q->weight_dtype = dt;
		return 0;
	case CLI_Q_TABLE_BLOCK:
		/* The library checks the rule per dtype and names the dimension;
		 * here only that it is a number. */
		if (cli_parse_uint(arg, 1, UINT32_MAX, &v))
			return cli_usage_error(cmd, "--table-block must be a positive integer (a multiple of 32), not "
					       "'%s'", arg);
		q->table_block = (uint32_t)v;
		return 0;
	case CLI_Q_TENSOR_DTYPE: {
		const char *eq = strrchr(arg, '=');
		lutdb_tensor_dtype *n;
		if (!eq || eq == arg || !is_weight_dtype(dt = cli_parse_any_dtype(eq + 1)))
			return cli_usage_error(cmd, "--tensor-dtype takes NAME=T with T f32, f16, bf16, q8_0 or q4_0, "
					       "not '%s'", arg);
		if (!(n = realloc(q->tensors, (q->ntensors + 1) * sizeof *n)))
			return cli_fail(cmd, cli_error(LUTDB_ENOMEM, "--tensor-dtype"));
		q->tensors = n;
		/* argv outlives the call: the name is the argument's prefix,
		 * cut at '=' in a copy. */
		char *name = strndup(arg, (size_t)(eq - arg));
		if (!name)
			return cli_fail(cmd, cli_error(LUTDB_ENOMEM, "--tensor-dtype"));
		q->tensors[q->ntensors].name = name;
		q->tensors[q->ntensors].dtype = dt;
		q->ntensors++;
		return 0;
	}
	}
	return cli_usage_error(cmd, "bad option");
}

void cli_quant_opts_free(cli_quant_opts *q)
{
	for (size_t i = 0; i < q->ntensors; i++)
		free((char *)(uintptr_t)q->tensors[i].name);
	free(q->tensors);
	q->tensors = NULL;
	q->ntensors = 0;
}

void cli_quant_report_print(FILE *f, const lutdb_quant_report *r)
{
	const lutdb_quant_error *t = &r->table, *w = &r->weights;

	if (t->dtype)
		fprintf(f,
			"quantization error, table %s (block %u): %llu values, relative RMS %.6f, max abs %.6g at "
			"layer %u, token %u, expert %u%s\n",
			lutdb_dtype_name(t->dtype), t->block, (unsigned long long)t->values, t->rel_rms, t->max_abs,
			t->layer, t->token, t->expert,
			t->key > 0 ? " (key)" : t->key == 0 ? " (value)" : "");
	if (w->dtype)
		fprintf(f,
			"quantization error, weights %s: %llu values, relative RMS %.6f, max abs %.6g in %s "
			"(element %llu)\n",
			lutdb_dtype_name(w->dtype), (unsigned long long)w->values, w->rel_rms, w->max_abs, w->tensor,
			(unsigned long long)w->index);
}
