/* text.c - tokenizer loading and input reading for the text commands. */
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf;

	*data = NULL;
	*len = 0;
	if (!f)
		return cli_error(errno == ENOENT ? LUTDB_ENOENT : LUTDB_EIO, "%s: %s", path, strerror(errno));
	buf = malloc(cap + 1);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		if (cap >= INPUT_MAX) {
			free(buf);
			if (f != stdin)
				fclose(f);
			return cli_error(LUTDB_ETOOBIG, "%s: input larger than 1 GiB", path);
		}
		char *nb = realloc(buf, cap * 2 + 1);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int err = f != stdin ? (ferror(f) | fclose(f)) : ferror(f);
	if (!buf)
		return cli_error(LUTDB_ENOMEM, "%s", path);
	if (err) {
		free(buf);
		return cli_error(LUTDB_EIO, "%s: read error", path);
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return LUTDB_OK;
}
