/* text.h - text helpers shared by tokenize, detokenize, run and eval. */
#ifndef LUTDB_CLI_TEXT_H
#define LUTDB_CLI_TEXT_H

#include <stddef.h>

#include "lutdb.h"
#include "lutdb_tokenizer.h"

/* Loads the tokenizer stored in db; prints the error (exit code returned
 * in *exit_code) and returns NULL when there is none or it is unusable. */
lutdb_tokenizer *cli_load_tokenizer(const char *cmd, lutdb_db *db, int *exit_code);

/* Reads all of a file ("-" for stdin) into a NUL-terminated buffer the
 * caller releases with lutdb_free(): only a regular file (else
 * LUTDB_EINVAL), at most 1 GiB (else LUTDB_ETOOBIG, read no further).
 * Returns a lutdb error code, its detail recorded for cli_fail(). */
int cli_read_input(const char *path, char **data, size_t *len);

#endif
