/* schema.c - the tensor lists of MoLE and MoLKV checkpoints. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "geometry.h"
#include "lutdb_types.h"

/* As many tensors as one safetensors file may hold (LUTDB_ST_MAX_TENSORS). */
#define SCHEMA_MAX_TENSORS 1000000u

const char *lutdb_family_name(int family)
{
	switch (family) {
	case LUTDB_FAMILY_MOLE: return "mole";
	case LUTDB_FAMILY_MOLKV: return "molkv";
	}
	return NULL;
}

const char *lutdb_form_name(int form)
{
	switch (form) {
	case LUTDB_FORM_TRAINING: return "training";
	case LUTDB_FORM_REP: return "rep";
	}
	return NULL;
}

const char *lutdb_schema_table_name(int family)
{
	return family == LUTDB_FAMILY_MOLKV ? "model.kv_table.weight" : "model.moe_table.weight";
}

typedef struct list {
	lutdb_schema_ent *e;
	size_t n, cap;
} list;

static int add(list *l, int layer, int expert, uint64_t d0, uint64_t d1, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#include <stdarg.h>
static int add(list *l, int layer, int expert, uint64_t d0, uint64_t d1, const char *fmt, ...)
{
	va_list ap;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		lutdb_schema_ent *e = realloc(l->e, cap * sizeof *e);
		if (!e)
			return LUTDB_ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	lutdb_schema_ent *s = &l->e[l->n++];
	memset(s, 0, sizeof *s);
	va_start(ap, fmt);
	vsnprintf(s->name, sizeof s->name, fmt, ap);
	va_end(ap);
	s->layer = layer;
	s->expert = expert;
	s->ndim = d1 ? 2 : 1;
	s->dims[0] = d0;
	s->dims[1] = d1;
	return LUTDB_OK;
}

/* Which tensors a weight dtype applies to (spec/FORMAT.md 10): the
 * matrices a decoding step streams (attention projections, MLP, embedding,
 * head).  Norm vectors, the router and MoLKV's expert_query stay float:
 * they are small and steer which expert vectors are mixed. */
static int quantizable(const lutdb_schema_ent *e)
{
	size_t n = strlen(e->name);
	const char *tail = "_proj.weight";
	size_t t = strlen(tail);

	if (e->ndim != 2 || e->dims[1] % 32 != 0 || e->is_table || e->expert >= 0)
		return 0;
	return !strcmp(e->name, "model.embed_tokens.weight") || !strcmp(e->name, "lm_head.weight") ||
	       (n > t && !strcmp(e->name + n - t, tail));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const lutdb_schema_ent *)a)->name, ((const lutdb_schema_ent *)b)->name);
}

int lutdb_schema_build(const lutdb_config *c, int family, int kind, lutdb_schema_ent **out, size_t *n)
{
	uint64_t V = c->vocab, d = c->hidden, I = c->intermediate, N = c->experts, dk = c->kv_dim;
	uint64_t hd = c->head_dim, qd = (uint64_t)c->heads * hd, kvd = (uint64_t)c->kv_heads * hd;
	int molkv = family == LUTDB_FAMILY_MOLKV;
	list l = {0};
	int rc = 0;

	/* config.json is untrusted and allows 65535 layers x 65535 experts:
	 * refuse a list no checkpoint can hold before building it (billions of
	 * entries would exhaust memory). */
	uint64_t per_layer = 9 + (kind == LUTDB_SCHEMA_TRAINING ? 1 + (uint64_t)molkv + 2 * N : 0);
	uint64_t total = 4 + (uint64_t)c->layers * per_layer;
	if (total > SCHEMA_MAX_TENSORS)
		return lutdb_fail(LUTDB_ETOOBIG, "config.json: %u layers with %u experts make %llu tensors (at most %u)",
				  c->layers, c->experts, (unsigned long long)total, SCHEMA_MAX_TENSORS);

	rc |= add(&l, -1, -1, V, d, "model.embed_tokens.weight");
	rc |= add(&l, -1, -1, d, 0, "model.norm.weight");
	if (!c->tied)
		rc |= add(&l, -1, -1, V, d, "lm_head.weight");
	if (kind == LUTDB_SCHEMA_REP) {
		lutdb_geometry g = {family, c->experts, c->hidden, molkv ? c->kv_dim : 0, LUTDB_DTYPE_F32, 0};
		rc |= add(&l, -1, -1, V, (uint64_t)c->layers * lutdb_geom_layer_elems(&g), "%s",
			  lutdb_schema_table_name(family));
		l.e[l.n - 1].is_table = 1;
	}
	for (int L = 0; L < (int)c->layers; L++) {
		rc |= add(&l, L, -1, qd, d, "model.layers.%d.self_attn.q_proj.weight", L);
		rc |= add(&l, L, -1, kvd, d, "model.layers.%d.self_attn.k_proj.weight", L);
		rc |= add(&l, L, -1, kvd, d, "model.layers.%d.self_attn.v_proj.weight", L);
		rc |= add(&l, L, -1, d, qd, "model.layers.%d.self_attn.o_proj.weight", L);
		rc |= add(&l, L, -1, I, d, "model.layers.%d.mlp.up_proj.weight", L);
		rc |= add(&l, L, -1, d, I, "model.layers.%d.mlp.down_proj.weight", L);
		rc |= add(&l, L, -1, d, 0, "model.layers.%d.input_layernorm.weight", L);
		rc |= add(&l, L, -1, d, 0, "model.layers.%d.post_attention_layernorm.weight", L);
		if (molkv)
			rc |= add(&l, L, -1, dk, d, "model.layers.%d.expert_query.weight", L);
		else
			rc |= add(&l, L, -1, N, d, "model.layers.%d.router.weight", L);
		if (kind != LUTDB_SCHEMA_TRAINING)
			continue;
		rc |= add(&l, L, -1, d, 0, "model.layers.%d.expert_layernorm.weight", L);
		if (molkv)
			rc |= add(&l, L, -1, N * dk, d, "model.layers.%d.expert_keys.weight", L);
		for (int e = 0; e < (int)N; e++) {
			rc |= add(&l, L, e, I, d, "model.layers.%d.experts.%d.up_proj.weight", L, e);
			rc |= add(&l, L, e, d, I, "model.layers.%d.experts.%d.down_proj.weight", L, e);
		}
	}
	if (rc) {
		free(l.e);
		return lutdb_fail(LUTDB_ENOMEM, "schema");
	}
	for (size_t i = 0; i < l.n; i++)
		l.e[i].quantizable = quantizable(&l.e[i]);
	qsort(l.e, l.n, sizeof *l.e, by_name);
	*out = l.e;
	*n = l.n;
	return LUTDB_OK;
}
