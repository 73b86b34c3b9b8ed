/* dtype_plan.c - storage dtypes of the table and of each tensor
 * (dtype_plan.h). */
#include "dtype_plan.h"

#include <string.h>

#include "fail.h"
#include "quant.h"

int lutdb_plan_table_dtype_ok(int dtype)
{
	return lutdb_dtype_size(dtype) != 0 || lq_is_quant(dtype);
}

int lutdb_plan_tensor_dtype_ok(int dtype)
{
	return lutdb_dtype_size(dtype) != 0 || dtype == LUTDB_DTYPE_Q8_0 || dtype == LUTDB_DTYPE_Q4_0;
}

int lutdb_plan_table_block(int dtype, uint32_t block, int family, uint32_t hidden, uint32_t kv_dim, uint32_t *out)
{
	int rc;

	*out = 0;
	if (!lq_is_quant(dtype)) {
		if (block)
			return lutdb_fail(LUTDB_EINVAL, "table block %u: a %s table has no blocks (the block size applies "
					  "to Q8_0, Q4_0, NF4 and NF3 tables)", block, lutdb_dtype_name(dtype));
		return LUTDB_OK;
	}
	if (!block)
		block = lq_default_block(dtype);
	/* Blocks never straddle vectors: B divides every vector length. */
	if ((rc = lq_check_len(dtype, block, hidden, "d")) ||
	    (family == LUTDB_FAMILY_MOLKV && (rc = lq_check_len(dtype, block, kv_dim, "dk"))))
		return rc;
	*out = block;
	return LUTDB_OK;
}

static const lutdb_tensor_dtype *find_override(const char *name, const lutdb_tensor_dtype *ov, size_t nov)
{
	for (size_t i = 0; i < nov; i++)
		if (ov[i].name && !strcmp(ov[i].name, name))
			return &ov[i];
	return NULL;
}

int lutdb_plan_check_overrides(const lutdb_schema_ent *st, size_t n, const lutdb_tensor_dtype *ov, size_t nov)
{
	for (size_t i = 0; i < nov; i++) {
		size_t k;
		if (!ov[i].name || !*ov[i].name)
			return lutdb_fail(LUTDB_EINVAL, "tensor dtype override %zu has no tensor name", i);
		if (!lutdb_plan_tensor_dtype_ok(ov[i].dtype))
			return lutdb_fail(LUTDB_EINVAL, "%s: dtype code %d is not a tensor dtype (F32, F16, BF16, Q8_0, "
					  "Q4_0)", ov[i].name, (int)ov[i].dtype);
		for (k = 0; k < n && strcmp(st[k].name, ov[i].name); k++)
			;
		if (k == n)
			return lutdb_fail(LUTDB_EINVAL, "tensor dtype override: the model stores no tensor %s",
					  ov[i].name);
		if (find_override(ov[i].name, ov, i))
			return lutdb_fail(LUTDB_EINVAL, "tensor dtype override: %s is named twice", ov[i].name);
	}
	return LUTDB_OK;
}

int lutdb_plan_tensor(const lutdb_schema_ent *s, int weight, int fallback, const lutdb_tensor_dtype *ov, size_t nov,
		      int *out)
{
	const lutdb_tensor_dtype *o = find_override(s->name, ov, nov);

	if (o) {
		if (lq_is_quant(o->dtype) && !s->quantizable)
			return lutdb_fail(LUTDB_EINVAL, "%s cannot be stored %s: norms, router weights and tensors whose "
					  "last dimension is not a multiple of 32 stay in a float dtype", s->name,
					  lutdb_dtype_name(o->dtype));
		*out = o->dtype;
	} else if (weight && (!lq_is_quant(weight) || s->quantizable)) {
		*out = weight;
	} else {
		*out = fallback;
	}
	return LUTDB_OK;
}
