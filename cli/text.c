/* text.c - tokenizer loading and input reading for the text commands. */
#include "text.h"

#include <stdio.h>

#include "cli.h"

#define INPUT_MAX (1ull << 30)

lutdb_tokenizer *cli_load_tokenizer(const char *cmd, lutdb_db *db, int *exit_code)
{
	const void *json;
	size_t len;
	lutdb_tokenizer *t = NULL;
	int rc = lutdb_blob_get(db, "tokenizer.json", &json, &len);

	if (rc == LUTDB_ENOENT)
		rc = cli_error(LUTDB_ENOENT, "%s holds no tokenizer.json (pack with --tokenizer PATH)", lutdb_path(db));
	if (rc == LUTDB_OK && (rc = lutdb_tokenizer_load(json, len, &t)))
		cli_error_prefix(rc, "%s: stored tokenizer.json", lutdb_path(db));
	if (rc)
		*exit_code = cli_fail(cmd, rc);
	return t;
}

int cli_read_input(const char *path, char **data, size_t *len)
{
	/* A path typed on the command line: not a regular file (a FIFO would
	 * hang, /dev/zero never ends) is a bad argument; "-" is standard
	 * input, whatever it is, read up to the cap. */
	int rc = lutdb_input_read(path, INPUT_MAX, LUTDB_INPUT_STDIN, LUTDB_EINVAL, LUTDB_ETOOBIG, data, len);
	return rc ? cli_error(rc, "%s", lutdb_errdetail()) : LUTDB_OK;
}
