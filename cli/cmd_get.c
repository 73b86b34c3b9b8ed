/* cmd_get.c - lutdb get DB --layer L --token T [--raw | --json] */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lutdb_types.h"

static const char help[] =
	"usage: lutdb get DB --layer L --token T [--raw | --json]\n\n"
	"Prints layer L's table row of token T in the table's own order: MoLE, N expert\n"
	"vectors of d values; MoLKV, N keys of dk values then N values of d.  Values are\n"
	"converted from the storage dtype to float32 (exactly; a quantized table's values are\n"
	"decoded from their blocks: scale times code).  Default: one line per\n"
	"vector, values separated by spaces; --json: a JSON object; --raw: float32\n"
	"little-endian bytes on stdout, nothing else.  The row's checksum is checked.\n";

int cmd_get(int argc, char **argv)
{
	static const struct option opts[] = {{"layer", required_argument, 0, 'l'}, {"token", required_argument, 0, 't'},
					     {"raw", no_argument, 0, 'r'},         {"json", no_argument, 0, 'j'},
					     {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
	const char *layer_s = NULL, *token_s = NULL;
	int raw = 0, js = 0, c, rc;
	uint64_t layer, token;
	lutdb_db *db = NULL;
	lutdb_row row;
	float *v = NULL;
	void *scratch = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': layer_s = optarg; break;
		case 't': token_s = optarg; break;
		case 'r': raw = 1; break;
		case 'j': js = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage_error("get", "bad option");
		}
	}
	if (argc - optind != 1 || !layer_s || !token_s)
		return cli_usage_error("get", "expected DB --layer L --token T");
	if (raw && js)
		return cli_usage_error("get", "--raw and --json exclude each other");
	if (cli_parse_uint(layer_s, 0, UINT32_MAX, &layer))
		return cli_usage_error("get", "--layer must be a non-negative integer, not '%s'", layer_s);
	if (cli_parse_uint(token_s, 0, UINT32_MAX, &token))
		return cli_usage_error("get", "--token must be a non-negative integer, not '%s'", token_s);
	if ((rc = cli_open("get", argv[optind], 0, &db)))
		return rc;
	const lutdb_info *in = lutdb_get_info(db);
	if (in->table_codec && !(scratch = malloc(in->token_row_bytes))) {
		rc = cli_fail("get", cli_error(LUTDB_ENOMEM, "get"));
		goto out;
	}
	if ((rc = lutdb_layer_row(db, (uint32_t)layer, (uint32_t)token, LUTDB_READ_VERIFY, scratch,
				  scratch ? in->token_row_bytes : 0, &row))) {
		rc = cli_fail("get", rc);
		goto out;
	}
	if (!(v = malloc(row.nelems * sizeof *v))) {
		rc = cli_fail("get", cli_error(LUTDB_ENOMEM, "get"));
		goto out;
	}
	/* A quantized row decodes to the values its blocks define. */
	if ((rc = lutdb_decode_f32(row.dtype, in->table_block, row.data, row.nelems, v))) {
		rc = cli_fail("get", rc);
		goto out;
	}
	uint32_t N = in->experts, d = in->hidden, dk = in->kv_dim;
	if (raw) {
		if (fwrite(v, sizeof *v, row.nelems, stdout) != row.nelems || fflush(stdout)) {
			rc = cli_fail("get", cli_error(LUTDB_EIO, "stdout: write error: %s", strerror(errno)));
			goto out;
		}
	} else if (js) {
		printf("{\"layer\": %llu, \"token\": %llu, \"family\": \"%s\", \"dtype\": \"%s\", \"block\": %u, \"experts\": %u, "
		       "\"hidden\": %u, \"kv_expert_dim\": %u, \"row\": [", (unsigned long long)layer,
		       (unsigned long long)token, in->family == LUTDB_FAMILY_MOLKV ? "molkv" : "mole", lutdb_dtype_name(row.dtype), in->table_block, N, d, dk);
		for (uint32_t i = 0; i < row.nelems; i++)
			printf("%s%.9g", i ? ", " : "", (double)v[i]);
		printf("]}\n");
	} else {
		uint32_t k = 0;
		for (uint32_t vec = 0; vec < (in->family == LUTDB_FAMILY_MOLKV ? 2 * N : N); vec++) {
			uint32_t len = (in->family == LUTDB_FAMILY_MOLKV && vec < N) ? dk : d;
			for (uint32_t i = 0; i < len; i++, k++)
				printf("%s%.9g", i ? " " : "", (double)v[k]);
			printf("\n");
		}
	}
	rc = 0;
out:
	free(v);
	free(scratch);
	lutdb_close(db);
	return rc;
}
