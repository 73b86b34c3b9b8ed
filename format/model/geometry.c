/* geometry.c - sizes of table rows (geometry.h).  Sizes come from untrusted
 * headers too, so every product is checked: an overflow gives 0, which every
 * caller treats as an invalid geometry. */
#include "geometry.h"

#include "lutdb_types.h"

static uint64_t mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? 0 : r;
}

static uint64_t add(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? 0 : r;
}

uint64_t lutdb_geom_layer_elems(const lutdb_geometry *g)
{
	switch (g->family) {
	case LUTDB_FAMILY_MOLE: return mul(g->experts, g->hidden);
	case LUTDB_FAMILY_MOLKV: return mul(g->experts, (uint64_t)g->kv_dim + g->hidden);
	}
	return 0;
}

uint64_t lutdb_geom_vector_bytes(const lutdb_geometry *g, uint32_t len)
{
	return lutdb_dtype_bytes(g->dtype, g->block, len);
}

/* Bytes of the N key vectors of a layer's row (0 for MoLE). */
static uint64_t keys_bytes(const lutdb_geometry *g)
{
	return g->family == LUTDB_FAMILY_MOLKV ? mul(g->experts, lutdb_geom_vector_bytes(g, g->kv_dim)) : 0;
}

uint64_t lutdb_geom_layer_bytes(const lutdb_geometry *g)
{
	uint64_t values = mul(g->experts, lutdb_geom_vector_bytes(g, g->hidden));

	if (g->family != LUTDB_FAMILY_MOLE && g->family != LUTDB_FAMILY_MOLKV)
		return 0;
	if (values == 0 || (g->family == LUTDB_FAMILY_MOLKV && keys_bytes(g) == 0))
		return 0;
	return add(keys_bytes(g), values);
}

uint64_t lutdb_geom_value_offset(const lutdb_geometry *g, uint32_t n)
{
	return add(keys_bytes(g), mul(n, lutdb_geom_vector_bytes(g, g->hidden)));
}

uint64_t lutdb_geom_token_bytes(const lutdb_geometry *g, uint32_t nlayers)
{
	return mul(nlayers, lutdb_geom_layer_bytes(g));
}

uint64_t lutdb_geom_row_stride(uint64_t row_bytes)
{
	return row_bytes > UINT64_MAX - 63 ? 0 : (row_bytes + 63) & ~(uint64_t)63;
}
