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

#include "dtype_plan.h"
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
	o->table_dtype = LUTDB_OPT(in, table_dtype, (lutdb_dtype)0);
	o->weight_dtype = LUTDB_OPT(in, weight_dtype, (lutdb_dtype)0);
	o->table_block = LUTDB_OPT(in, table_block, 0u);
	o->tensor_dtypes = LUTDB_OPT(in, tensor_dtypes, NULL);
	o->tensor_dtype_count = LUTDB_OPT(in, tensor_dtype_count, (size_t)0);
	o->report = LUTDB_OPT(in, report, NULL);
	if (o->dtype && !lutdb_plan_tensor_dtype_ok(o->dtype))
		return lutdb_fail(LUTDB_EINVAL, "%s code %d is not a dtype for both parts (F32, F16, BF16, Q8_0, Q4_0; "
				  "NF4 and NF3 are for tables only)",
				  lutdb_dtype_name(o->dtype) ? lutdb_dtype_name(o->dtype) : "unknown dtype", (int)o->dtype);
	if (o->table_dtype && !lutdb_plan_table_dtype_ok(o->table_dtype))
		return lutdb_fail(LUTDB_EINVAL, "unknown table dtype code %d", (int)o->table_dtype);
	if (o->weight_dtype && !lutdb_plan_tensor_dtype_ok(o->weight_dtype))
		return lutdb_fail(LUTDB_EINVAL, "%s code %d is not a weight dtype (F32, F16, BF16, Q8_0, Q4_0; NF4 and "
				  "NF3 are for tables only)",
				  lutdb_dtype_name(o->weight_dtype) ? lutdb_dtype_name(o->weight_dtype) : "unknown dtype",
				  (int)o->weight_dtype);
	if (o->tensor_dtype_count && !o->tensor_dtypes)
		return lutdb_fail(LUTDB_EINVAL, "tensor_dtype_count %zu without tensor_dtypes", o->tensor_dtype_count);
	if (!lutdb_codec_name(o->codec))
		return lutdb_fail(LUTDB_EINVAL, "unknown codec code %d", (int)o->codec);
	return LUTDB_OK;
}
