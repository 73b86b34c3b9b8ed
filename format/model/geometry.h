/*
 * geometry.h - the one rule for the shape of a model's table rows
 * (spec/FORMAT.md, "Table rows").  The file header parser, the writer, the
 * reader, pack and the engine all size rows here, in 64-bit arithmetic.
 *
 * One layer's row of one token holds the N expert vectors of its family,
 * each stored in the table dtype:
 *   MoLE   N value vectors of d elements                    N * d elements
 *   MoLKV  N key vectors of dk elements, then N value
 *          vectors of d elements                            N * (dk + d)
 * A token row is the layer rows of consecutive layers, layer-major.  With
 * codec none, rows sit in a table record at a stride rounded up to 64 bytes.
 */
#ifndef LUTDB_GEOMETRY_H
#define LUTDB_GEOMETRY_H

#include <stdint.h>

typedef struct lutdb_geometry {
	int family;       /* LUTDB_FAMILY_* */
	uint32_t experts; /* N */
	uint32_t hidden;  /* d, the length of a value vector */
	uint32_t kv_dim;  /* dk, the length of a key vector (MoLKV); 0 for MoLE */
	int dtype;        /* table dtype (LUTDB_DTYPE_*) */
	uint32_t block;   /* B of a block-quantized dtype (it divides d and dk, so
			     each vector is whole blocks); ignored for floats */
} lutdb_geometry;

/* Elements of one layer's row: N * d or N * (dk + d); 0 for an unknown
 * family.  Never overflows (< 2^32 * 2^33). */
uint64_t lutdb_geom_layer_elems(const lutdb_geometry *g);

/* Bytes of one stored vector of len elements; 0 for an unknown dtype, or a
 * quantized one whose block does not divide len. */
uint64_t lutdb_geom_vector_bytes(const lutdb_geometry *g, uint32_t len);

/* Bytes of one layer's row; 0 for an unknown family or dtype. */
uint64_t lutdb_geom_layer_bytes(const lutdb_geometry *g);

/* Byte offset of value vector n in a layer's row (after the N keys of a
 * MoLKV row). */
uint64_t lutdb_geom_value_offset(const lutdb_geometry *g, uint32_t n);

/* Bytes of the token row of nlayers layers. */
uint64_t lutdb_geom_token_bytes(const lutdb_geometry *g, uint32_t nlayers);

/* Distance between raw (codec none) token rows of row_bytes bytes in a
 * table record: row_bytes rounded up to 64. */
uint64_t lutdb_geom_row_stride(uint64_t row_bytes);

#endif /* LUTDB_GEOMETRY_H */
