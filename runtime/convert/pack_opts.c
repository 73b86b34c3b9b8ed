/*
 * pack_opts.c - the caller's lutdb_pack_opts, checked and completed.
 *
 * lutdb_pack_opts is a size-prefixed option struct (lutdb_err.h, "Option
 * structs"): a program compiled against an older header passes a shorter
 * struct, one compiled against a newer header a longer one.  The rest of
 * pack reads only the completed copy made here, so it never has to ask
 * which fields the caller's struct holds.
 */
#include <string.h>

#include "fail.h"
#include "opts.h"
#include "pack_internal.h"

int lutdb_pack_opts_resolve(const lutdb_pack_opts *in, lutdb_pack_opts *o)
{
	int rc = lutdb_opts_check(in, in ? in->size : 0, sizeof *in, LUTDB_OPTS_MIN(lutdb_pack_opts, progress_ctx),
				  "lutdb_pack");

	if (rc)
		return rc;
	memset(o, 0, sizeof *o);
	o->size = sizeof *o;
	o->dtype = LUTDB_OPT(in, dtype, (lutdb_dtype)0);
	o->codec = LUTDB_OPT(in, codec, LUTDB_CODEC_NONE);
	o->threads = LUTDB_OPT(in, threads, 0);
	o->block_tokens = LUTDB_OPT(in, block_tokens, 0u);
	o->tokenizer = LUTDB_OPT(in, tokenizer, NULL);
	o->progress = LUTDB_OPT(in, progress, NULL);
	o->progress_ctx = LUTDB_OPT(in, progress_ctx, NULL);
	o->shards = LUTDB_OPT(in, shards, NULL);
	if (o->dtype && !lutdb_dtype_size(o->dtype))
		return lutdb_fail(LUTDB_EINVAL, "unknown dtype code %d", (int)o->dtype);
	if (!lutdb_codec_name(o->codec))
		return lutdb_fail(LUTDB_EINVAL, "unknown codec code %d", (int)o->codec);
	return LUTDB_OK;
}
