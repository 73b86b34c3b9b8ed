/*
 * model.c - lutdb_model: every dense weight resolved once to a view into the
 * database map, checked against the geometry; eos ids; the thread pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fail.h"
#include "opts.h"

/* The kernel dtype of a tensor stored as dtype with shape [rows, cols]
 * (cols 0: a vector), or 0 when the engine cannot compute with it: vectors
 * (the norms) are float; a matrix may also be Q8_0 or Q4_0 with rows of
 * whole 32-value blocks (what lk_matvec and lk_to_f32 need). */
static int mat_kdt(int dtype, uint32_t cols)
{
	if (dtype == LUTDB_DTYPE_F32 || dtype == LUTDB_DTYPE_F16 || dtype == LUTDB_DTYPE_BF16)
		return dtype;
	if (cols && cols % 32 == 0 && (dtype == LUTDB_DTYPE_Q8_0 || dtype == LUTDB_DTYPE_Q4_0))
		return lk_dt(dtype, 32);
	return 0;
}

/* Looks tensor name up and checks it is [rows, cols] (cols 0: 1-D [rows]),
 * in a dtype the engine computes with, of the bytes that shape takes. */
static int get_mat(lutdb_db *db, const char *name, uint32_t rows, uint32_t cols, lr_mat *out)
{
	lutdb_tensor t;
	int rc = lutdb_tensor_get(db, name, &t), kdt;

	if (rc == LUTDB_ENOENT)
		return lutdb_fail(LUTDB_ECORRUPT, "%s: tensor %s is missing", lutdb_path(db), name);
	if (rc)
		return rc;
	int ok = cols ? (t.ndim == 2 && t.shape[0] == rows && t.shape[1] == cols)
		      : (t.ndim == 1 && t.shape[0] == rows);
	if (ok && !(kdt = mat_kdt(t.dtype, cols)))
		return lutdb_fail(LUTDB_ECORRUPT, "%s: tensor %s [%u%s] cannot have dtype code %d%s", lutdb_path(db),
				  name, rows, cols ? ", ..." : "", t.dtype,
				  cols ? " (quantized rows need a multiple of 32 values)" : " (vectors stay float)");
	if (!ok || t.nbytes != lk_dt_bytes(kdt, (size_t)rows * (cols ? cols : 1)) || !t.data) {
		char got[128];
		int k = 0;
		for (uint32_t i = 0; i < t.ndim && i < LUTDB_MAX_DIMS && k < 100; i++)
			k += snprintf(got + k, sizeof got - (size_t)k, "%s%llu", i ? ", " : "",
				      (unsigned long long)t.shape[i]);
		got[k] = '\0';
		if (cols)
			return lutdb_fail(LUTDB_ECORRUPT, "%s: tensor %s has shape [%s], expected [%u, %u]",
					  lutdb_path(db), name, got, rows, cols);
		return lutdb_fail(LUTDB_ECORRUPT, "%s: tensor %s has shape [%s], expected [%u]", lutdb_path(db),
				  name, got, rows);
	}
	out->dtype = kdt;
	out->data = t.data;
	out->rows = cols ? rows : 1; /* a 1-D vector is one row */
	out->cols = cols ? cols : rows;
	return LUTDB_OK;
}

static uint64_t mat_bytes(const lr_mat *w)
{
	return lk_dt_bytes(w->dtype, (size_t)w->rows * w->cols);
}

/* The table's kernel dtype (m->tdt) and row layout: a float type, or a
 * block-quantized one whose blocks tile every vector; a token row is
 * layer_count x layer_row_elems values back to back, so layer l begins at
 * l x layer_row_bytes (whole blocks: l x bytes(layer_row_elems) =
 * bytes(l x layer_row_elems)). */
static int check_table(lutdb_model *m)
{
	const lutdb_info *in = m->info;
	const char *p = lutdb_path(m->db);
	const int kdt = lk_dt(in->table_dtype, in->table_block);

	if (!kdt)
		return lutdb_fail(LUTDB_ECORRUPT, "%s: unsupported table dtype code %d (block %u)", p, in->table_dtype,
				  in->table_block);
	const uint32_t B = lk_dt_block(kdt);
	const int quant = B > 1;
	if (in->hidden % B || (in->family == LUTDB_FAMILY_MOLKV && in->kv_dim % B))
		return lutdb_fail(LUTDB_ECORRUPT, "%s: table block %u does not divide the vector length %s = %u", p, B,
				  in->hidden % B ? "d" : "dk", in->hidden % B ? in->hidden : in->kv_dim);
	/* the MoLKV kernels read one expert head's chunk of a quantized vector,
	 * which must start on a whole group of 8 values */
	if (quant && in->family == LUTDB_FAMILY_MOLKV &&
	    ((in->kv_dim / in->kv_expert_heads) % 8 || (in->hidden / in->kv_expert_heads) % 8))
		return lutdb_fail(LUTDB_EUNSUPPORTED,
				  "%s: a quantized MoLKV table needs dk/H and d/H multiples of 8 (dk %u, d %u, H %u)", p,
				  in->kv_dim, in->hidden, in->kv_expert_heads);
	lutdb_geometry g = {in->family, in->experts, in->hidden, in->kv_dim, in->table_dtype, in->table_block};
	const uint64_t elems = lutdb_geom_layer_elems(&g);
	if (in->layer_row_elems != elems || elems > SIZE_MAX / in->layers ||
	    in->token_row_bytes != lutdb_geom_token_bytes(&g, in->layers) ||
	    in->token_row_bytes != lk_dt_bytes(kdt, (size_t)elems * in->layers) || !in->token_row_bytes)
		return lutdb_fail(LUTDB_ECORRUPT, "%s: table row size does not match the geometry", p);
	m->tdt = kdt;
	m->layer_row_bytes = lk_dt_bytes(kdt, (size_t)elems);
	return LUTDB_OK;
}

static int check_geometry(lutdb_model *m)
{
	const lutdb_info *in = m->info;
	const char *p = lutdb_path(m->db);

	if (in->family != LUTDB_FAMILY_MOLE && in->family != LUTDB_FAMILY_MOLKV)
		return lutdb_fail(LUTDB_EUNSUPPORTED, "%s: unknown model family %d", p, in->family);
	if (in->layer_begin != 0 || in->layer_end != in->layers || in->token_begin != 0 ||
	    in->token_end != in->vocab)
		return lutdb_fail(LUTDB_ESHARD,
				  "%s: this file holds layers [%u, %u) and tokens [%u, %u) of a model with %u "
				  "layers and %u tokens; open the shard manifest instead",
				  p, in->layer_begin, in->layer_end, in->token_begin, in->token_end, in->layers,
				  in->vocab);
	if (!in->vocab || !in->hidden || !in->layers || !in->experts || !in->intermediate || !in->heads ||
	    !in->kv_heads || !in->head_dim || in->head_dim % 2 || in->heads % in->kv_heads ||
	    !in->max_position)
		return lutdb_fail(LUTDB_ECORRUPT, "%s: inconsistent model geometry", p);
	if (in->family == LUTDB_FAMILY_MOLKV && (!in->kv_dim || !in->kv_expert_heads ||
						 in->kv_dim % in->kv_expert_heads || in->hidden % in->kv_expert_heads))
		return lutdb_fail(LUTDB_ECORRUPT, "%s: inconsistent MoLKV geometry", p);
	return check_table(m);
}

static int load_eos(lutdb_model *m)
{
	const void *data;
	size_t len;
	lutdb_config cfg;
	int rc = lutdb_blob_get(m->db, "config.json", &data, &len);

	if (rc)
		return rc == LUTDB_ENOENT ? lutdb_fail(LUTDB_ECORRUPT, "%s: config.json is missing", lutdb_path(m->db))
					  : rc;
	if ((rc = lutdb_config_parse(data, len, "config.json", &cfg)))
		return lutdb_fail_prefix(LUTDB_ECORRUPT, "%s: stored ", lutdb_path(m->db));
	rc = lutdb_blob_get(m->db, "generation_config.json", &data, &len);
	if (rc == LUTDB_OK) {
		if ((rc = lutdb_config_apply_generation(&cfg, data, len, "generation_config.json")))
			return lutdb_fail_prefix(LUTDB_ECORRUPT, "%s: stored ", lutdb_path(m->db));
	} else if (rc != LUTDB_ENOENT) {
		return rc;
	}
	m->n_eos = cfg.n_eos;
	memcpy(m->eos, cfg.eos, sizeof m->eos);
	return LUTDB_OK;
}

static int load_weights(lutdb_model *m)
{
	char name[160];
	int rc;

	if ((rc = get_mat(m->db, "model.embed_tokens.weight", m->V, m->d, &m->embed)) ||
	    (rc = get_mat(m->db, "model.norm.weight", m->d, 0, &m->final_norm)))
		return rc;
	if (m->info->tied)
		m->head = m->embed;
	else if ((rc = get_mat(m->db, "lm_head.weight", m->V, m->d, &m->head)))
		return rc;
	/* a step reads the whole head, one embedding row and the final norm */
	m->dense_bytes = mat_bytes(&m->head) + lk_dt_bytes(m->embed.dtype, m->d) + mat_bytes(&m->final_norm);
	const int mole = m->family == LUTDB_FAMILY_MOLE;
	for (uint32_t l = 0; l < m->L; l++) {
		lr_layer *layer = &m->layers[l];
		struct {
			const char *suffix;
			lr_mat *w;
			uint32_t rows, cols;
		} t[] = {
			{"self_attn.q_proj.weight", &layer->q, m->qd, m->d},
			{"self_attn.k_proj.weight", &layer->k, m->kvd, m->d},
			{"self_attn.v_proj.weight", &layer->v, m->kvd, m->d},
			{"self_attn.o_proj.weight", &layer->o, m->d, m->qd},
			{"mlp.up_proj.weight", &layer->up, m->I, m->d},
			{"mlp.down_proj.weight", &layer->down, m->d, m->I},
			{"input_layernorm.weight", &layer->in_norm, m->d, 0},
			{"post_attention_layernorm.weight", &layer->post_norm, m->d, 0},
			{mole ? "router.weight" : "expert_query.weight", &layer->gate, mole ? m->N : m->dk, m->d},
		};
		for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
			snprintf(name, sizeof name, "model.layers.%u.%s", l, t[i].suffix);
			if ((rc = get_mat(m->db, name, t[i].rows, t[i].cols, t[i].w)))
				return rc;
			m->dense_bytes += mat_bytes(t[i].w);
		}
	}
	return LUTDB_OK;
}

int lutdb_model_new(lutdb_db *db, const lutdb_model_opts *opts, lutdb_model **out)
{
	lutdb_model *m;
	int rc;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_model_new: out is NULL");
	*out = NULL;
	if (!db)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_model_new: db is NULL");
	if ((rc = lutdb_opts_check(opts, opts ? opts->size : 0, sizeof *opts,
				   LUTDB_OPTS_MIN(lutdb_model_opts, threads), "lutdb_model_new")))
		return rc;
	if (!(m = calloc(1, sizeof *m)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_model_new");
	m->db = db;
	m->info = lutdb_get_info(db);
	if ((rc = check_geometry(m)))
		goto fail;
	const lutdb_info *in = m->info;
	m->family = (lutdb_family)in->family;
	m->V = in->vocab;
	m->d = in->hidden;
	m->L = in->layers;
	m->N = in->experts;
	m->I = in->intermediate;
	m->heads = in->heads;
	m->kv_heads = in->kv_heads;
	m->hd = in->head_dim;
	m->qd = in->heads * in->head_dim;
	m->kvd = in->kv_heads * in->head_dim;
	const int molkv = in->family == LUTDB_FAMILY_MOLKV;
	m->dk = molkv ? in->kv_dim : 0;
	m->H = molkv ? in->kv_expert_heads : 0;
	m->W = molkv ? in->kv_window : 0;
	m->max_pos = in->max_position;
	m->eps = in->rms_norm_eps;
	m->theta = in->rope_theta;
	if (!(m->layers = calloc(m->L, sizeof *m->layers))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "lutdb_model_new");
		goto fail;
	}
	if ((rc = load_weights(m)) || (rc = load_eos(m)))
		goto fail;
	if (!(m->pool = lk_pool_new(LUTDB_OPT(opts, threads, 0)))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "lutdb_model_new: cannot start the compute threads");
		goto fail;
	}
	m->threads = lk_pool_threads(m->pool);
	*out = m;
	return LUTDB_OK;
fail:
	lutdb_model_free(m);
	return rc;
}

void lutdb_model_free(lutdb_model *m)
{
	if (!m)
		return;
	lk_pool_free(m->pool);
	free(m->layers);
	free(m);
}

const lutdb_info *lutdb_model_info(const lutdb_model *m)
{
	return m->info;
}

int lutdb_model_threads(const lutdb_model *m)
{
	return m->threads;
}

size_t lutdb_model_eos(const lutdb_model *m, const uint32_t **ids)
{
	if (ids)
		*ids = m->eos;
	return m->n_eos;
}

int lutdb_model_is_eos(const lutdb_model *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_eos; i++)
		if (m->eos[i] == id)
			return 1;
	return 0;
}

uint64_t lutdb_model_dense_bytes(const lutdb_model *m)
{
	return m->dense_bytes;
}
