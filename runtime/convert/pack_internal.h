/* pack_internal.h - state shared by pack.c, reparam.c and pack_tokenizer.c. */
#ifndef LUTDB_PACK_INTERNAL_H
#define LUTDB_PACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "qconv.h"
#include "lutdb_pack.h"
#include "schema.h"

struct lk_pool;

typedef struct packer {
	const lutdb_pack_opts *o; /* completed by lutdb_pack_opts_resolve: every field
				     set (o->shards NULL: one file) */
	lutdb_ckpt *ck;
	const lutdb_config *cfg;
	int family, form;
	lutdb_schema_ent *schema; /* of the source form */
	size_t nschema;
	int table_dtype;
	uint32_t table_block;     /* B of a quantized table, else 0 */
	int weight_dtype;         /* the weight dtype named (0: none) */
	int float_dtype;          /* the dtype of tensors no weight dtype applies to
				     (0: the source's own) */
	uint32_t layer_row_elems;
	size_t token_row_elems;   /* layers * layer_row_elems */
	size_t row_bytes;         /* token row in the storage dtype */
	uint32_t block;           /* tokens per computed/copied block */
	void *rows;               /* block of rows in the storage dtype */
	char *tok_override;       /* --tokenizer file contents */
	size_t tok_override_len;
	char *provenance;         /* provenance.json text (jansson's allocation: free()) */
	lutdb_writer *w;          /* the output: one file or shards */
	/* reparam.c */
	struct lk_pool *pool;
	float *rows_f32;          /* block of rows in float32 */
	float *emb, *u, *h;       /* block embeddings, normed, expert hidden */
	/* quantization */
	struct lutdb_qrows *qrows; /* NULL for a float table */
	lutdb_qacc wacc;           /* error of the quantized tensors */
	int wq_dtype;              /* the first quantized tensor's dtype */
	char wmax_name[256];       /* the tensor holding wacc's maximum */
} packer;

/* Checks the caller's options (in may be NULL: all defaults) and completes
 * them into *o, every field holding the caller's value or its default (the
 * shard options stay the caller's: the writer checks them).  LUTDB_EINVAL /
 * LUTDB_EUNSUPPORTED as lutdb_pack() says. */
int lutdb_pack_opts_resolve(const lutdb_pack_opts *in, lutdb_pack_opts *o);

int lutdb_reparam_init(packer *p);
/* Computes rows_f32 for tokens [t0, t0 + nt). */
int lutdb_reparam_block(packer *p, uint32_t t0, uint32_t nt);
void lutdb_reparam_free(packer *p);

/* Rejects non-finite values, naming layer, token and expert. */
int lutdb_pack_check_rows(const packer *p, uint32_t t0, uint32_t nt, const void *rows);

/* Tokenizer checks (pack_tokenizer.c): executable, ids inside V. */
int lutdb_pack_check_tokenizer(packer *p);
int lutdb_pack_read_file(const char *path, char **data, size_t *len);

#endif
