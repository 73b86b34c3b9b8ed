/*
 * pack_tokenizer.c - what pack checks about a tokenizer before storing it:
 * the runtime must be able to execute it exactly (lutdb_tokenizer_load
 * rejects anything it cannot), and every id it can produce must be a row of
 * the model's table (max id < V).
 */
#include <stdlib.h>

#include "lutdb.h"
#include "lutdb_types.h"
#include "lutdb_tokenizer.h"
#include "pack_internal.h"
#include "fail.h"

/* tokenizer.json's own cap, checked on the file's size before it is read. */
#define TOKENIZER_FILE_MAX LUTDB_TOKENIZER_JSON_MAX

int lutdb_pack_read_file(const char *path, char **data, size_t *len)
{
	/* The path the caller gave (--tokenizer): anything but a regular file
	 * is a bad argument; an oversized one a bad tokenizer. */
	return lutdb_input_read(path, TOKENIZER_FILE_MAX, 0, LUTDB_EINVAL, LUTDB_ETOKENIZER, data, len);
}

int lutdb_pack_check_tokenizer(packer *p)
{
	const lutdb_ckpt_blob *b = lutdb_ckpt_blob_at(p->ck, 2);
	const char *json = p->tok_override ? p->tok_override : b->data;
	size_t len = p->tok_override ? p->tok_override_len : b->len;
	const char *what = p->o->tokenizer ? p->o->tokenizer : "tokenizer.json";
	lutdb_tokenizer *t = NULL;
	int rc;

	if (!json)
		return LUTDB_OK;
	if ((rc = lutdb_tokenizer_load(json, len, &t)))
		return lutdb_fail_prefix(LUTDB_ETOKENIZER, "%s", what);
	if (lutdb_tokenizer_max_id(t) >= p->cfg->vocab)
		rc = lutdb_fail(LUTDB_ETOKENIZER, "%s: token id %u does not fit the model's vocabulary of %u", what,
				lutdb_tokenizer_max_id(t), p->cfg->vocab);
	lutdb_tokenizer_free(t);
	return rc;
}
