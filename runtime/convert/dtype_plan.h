/*
 * dtype_plan.h - which storage dtype each part of a model gets, shared by
 * pack and quantize so that the same options give the same bytes (internal
 * to runtime/convert).
 */
#ifndef LUTDB_DTYPE_PLAN_H
#define LUTDB_DTYPE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_pack.h"
#include "schema.h"

/* 1 if dtype may be a table's (F32 F16 BF16 Q8_0 Q4_0 NF4 NF3), a
 * tensor's (the first five). */
int lutdb_plan_table_dtype_ok(int dtype);
int lutdb_plan_tensor_dtype_ok(int dtype);

/* The table's block size: block (0: the default) checked for dtype and
 * against every vector length (d; MoLKV dk too).  A float table takes no
 * block (*out 0; a nonzero block is LUTDB_EINVAL).  Errors name the
 * dimension: "NF4 block 64 does not divide dk = 48". */
int lutdb_plan_table_block(int dtype, uint32_t block, int family, uint32_t hidden, uint32_t kv_dim, uint32_t *out);

/* Every override names a tensor of st[0..n) with a tensor dtype, once. */
int lutdb_plan_check_overrides(const lutdb_schema_ent *st, size_t n, const lutdb_tensor_dtype *ov, size_t nov);

/* The dtype tensor s is stored in: its override; else weight when weight
 * is a float dtype, or quantized and s quantizable; else fallback.  An
 * override that quantizes a tensor that must stay float is LUTDB_EINVAL. */
int lutdb_plan_tensor(const lutdb_schema_ent *s, int weight, int fallback, const lutdb_tensor_dtype *ov, size_t nov,
		      int *out);

#endif
