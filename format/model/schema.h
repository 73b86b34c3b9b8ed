/*
 * schema.h - which tensors a model has, by family and form (internal).
 *
 * One list drives pack (what to read and check), verify (what must be
 * stored), export (what to write) and the runtime (what to look up).
 */
#ifndef LUTDB_SCHEMA_H
#define LUTDB_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define LUTDB_SCHEMA_NAME_MAX 96

/* Which tensor set. */
enum lutdb_schema_kind {
	LUTDB_SCHEMA_TRAINING = 1, /* checkpoint in training form */
	LUTDB_SCHEMA_REP = 2,      /* checkpoint in reparameterized form */
	LUTDB_SCHEMA_STORED = 3,   /* what a lutdb file stores: rep form minus the table */
};

typedef struct lutdb_schema_ent {
	char name[LUTDB_SCHEMA_NAME_MAX];
	uint32_t ndim;
	uint64_t dims[2];
	int layer;   /* -1 for model-level tensors */
	int expert;  /* -1 unless an expert's weight */
	int is_table;
	int quantizable; /* a weight dtype (Q8_0/Q4_0) applies: projections, MLP,
			    embedding, head, when the last dim is a multiple of 32 */
} lutdb_schema_ent;

/* Builds the list for family (LUTDB_FAMILY_*), kind and config c (tied
 * embeddings drop lm_head).  *out is malloc'd, sorted by name; free() it. */
int lutdb_schema_build(const lutdb_config *c, int family, int kind, lutdb_schema_ent **out, size_t *n);

/* Name of the table tensor of a rep checkpoint for family. */
const char *lutdb_schema_table_name(int family);

#endif
