/* cmd_verify.c - lutdb verify DB */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
	"usage: lutdb verify DB [--quiet]\n\n"
	"Checks every checksum (each record, each table row) and every structural invariant\n"
	"of DB, and recomputes its content digest.  Exit status 0 only if all hold; otherwise\n"
	"the first bad table key (layer, token) or tensor is named and the status is 4.\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	lutdb_db *db = NULL;
	cli_progress pr;
	int quiet = 0, c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		if (c == 'q')
			quiet = 1;
		else if (c == 'h') {
			fputs(help, stdout);
			return 0;
		} else
			return cli_usage_error("verify", "bad option");
	}
	if (argc - optind != 1)
		return cli_usage_error("verify", "expected DB");
	if ((rc = cli_open("verify", argv[optind], LUTDB_OPEN_WILLNEED, &db)))
		return rc;
	cli_progress_init(&pr, "verify", "bytes", quiet);
	rc = lutdb_verify(db, cli_progress_cb, &pr);
	cli_progress_done(&pr);
	if (rc) {
		rc = cli_fail("verify", rc);
	} else {
		const lutdb_info *i = lutdb_get_info(db);
		printf("%s: OK (%llu tensors, %u table rows, %llu records)\n", argv[optind],
		       (unsigned long long)i->tensor_count, i->token_end - i->token_begin,
		       (unsigned long long)i->table_records);
	}
	lutdb_close(db);
	return rc;
}
