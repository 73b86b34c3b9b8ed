/*
 * reparam.c - the lookup table of a training-form checkpoint, in float32.
 *
 * For a block of token ids: u = RMSNorm_{expert_layernorm}(embed[t]); per
 * layer and expert, value = down(GELU_erf(up(u))) and, for MoLKV, the keys
 * expert_keys @ u.  All products are OpenBLAS SGEMMs over the whole block
 * (block x d times d x I), written straight into the row buffer at the
 * layer/expert offset (ldc = token row length), so no copy follows.
 * Weights are upcast to float32 once per block and expert (exact for
 * F16/BF16); F32 sources are used in place.  The block size is chosen by
 * pack.c from a memory budget, so memory does not grow with V.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lutdb_types.h"
#include "pack_internal.h"
#include "pool.h"
#include "fail.h"

static int alloc_f32(float **p, size_t n)
{
	*p = malloc((n ? n : 1) * sizeof(float));
	return *p ? LUTDB_OK : lutdb_fail(LUTDB_ENOMEM, "reparameterization buffers");
}

int lutdb_reparam_init(packer *p)
{
	const lutdb_config *c = p->cfg;
	size_t b = p->block, d = c->hidden, inter = c->intermediate;
	int rc;

	p->pool = lk_pool_new(p->o->threads);
	if (!p->pool)
		return lutdb_fail(LUTDB_ENOMEM, "thread pool");
	openblas_set_num_threads(lk_pool_threads(p->pool));
	if ((rc = alloc_f32(&p->rows_f32, b * p->token_row_elems)) || (rc = alloc_f32(&p->emb, b * d)) ||
	    (rc = alloc_f32(&p->u, b * d)) || (rc = alloc_f32(&p->h, b * inter)) || (rc = alloc_f32(&p->w_up, inter * d)) ||
	    (rc = alloc_f32(&p->w_down, d * inter)))
		return rc;
	if (p->family == LUTDB_FAMILY_MOLKV && (rc = alloc_f32(&p->w_keys, (size_t)c->experts * c->kv_dim * d)))
		return rc;
	return LUTDB_OK;
}

void lutdb_reparam_free(packer *p)
{
	lk_pool_free(p->pool);
	p->pool = NULL;
	free(p->rows_f32);
	free(p->emb);
	free(p->u);
	free(p->h);
	free(p->w_up);
	free(p->w_down);
	free(p->w_keys);
	p->rows_f32 = p->emb = p->u = p->h = p->w_up = p->w_down = p->w_keys = NULL;
}

/* A weight as float32: in place when stored as F32, else upcast into buf. */
static const float *weight_f32(packer *p, const char *name, float *buf, int *rc)
{
	lutdb_ckpt_tensor t;

	if ((*rc = lutdb_ckpt_find(p->ck, name, &t)))
		return NULL;
	if (t.dtype == LUTDB_DTYPE_F32 && ((uintptr_t)t.data & 3) == 0)
		return t.data;
	lk_to_f32(t.dtype, t.data, buf, (size_t)(t.nbytes / lutdb_dtype_size(t.dtype)));
	return buf;
}

typedef struct gelu_job {
	float *h;
	size_t n;
} gelu_job;

static void gelu_task(void *ctx, int task, int ntasks)
{
	gelu_job *j = ctx;
	size_t b, e;

	lk_split_range(j->n, ntasks, task, 16, &b, &e);
	lk_gelu_erf(j->h + b, e - b);
}

int lutdb_reparam_block(packer *p, uint32_t t0, uint32_t nt)
{
	const lutdb_config *c = p->cfg;
	const int d = (int)c->hidden, inter = (int)c->intermediate, N = (int)c->experts, ldr = (int)p->token_row_elems;
	const int dk = (int)c->kv_dim;
	lutdb_ckpt_tensor emb, ln;
	char name[LUTDB_SCHEMA_NAME_MAX];
	int rc;

	if ((rc = lutdb_ckpt_find(p->ck, "model.embed_tokens.weight", &emb)))
		return rc;
	lk_to_f32(emb.dtype, (const uint8_t *)emb.data + (size_t)t0 * d * lutdb_dtype_size(emb.dtype), p->emb,
		  (size_t)nt * d);
	for (int l = 0; l < (int)c->layers; l++) {
		float *base = p->rows_f32 + (size_t)l * p->layer_row_elems;
		int voff = 0;
		snprintf(name, sizeof name, "model.layers.%d.expert_layernorm.weight", l);
		if ((rc = lutdb_ckpt_find(p->ck, name, &ln)))
			return rc;
		for (uint32_t t = 0; t < nt; t++)
			lk_rmsnorm(p->u + (size_t)t * d, p->emb + (size_t)t * d, ln.dtype, ln.data, (size_t)d,
				   c->rms_norm_eps);
		if (p->family == LUTDB_FAMILY_MOLKV) {
			snprintf(name, sizeof name, "model.layers.%d.expert_keys.weight", l);
			const float *wk = weight_f32(p, name, p->w_keys, &rc);
			if (!wk)
				return rc;
			/* keys[t, 0..N*dk) = u[t] . expert_keys^T */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, N * dk, d, 1.0f, p->u, d, wk, d,
				    0.0f, base, ldr);
			voff = N * dk;
		}
		for (int n = 0; n < N; n++) {
			snprintf(name, sizeof name, "model.layers.%d.experts.%d.up_proj.weight", l, n);
			const float *up = weight_f32(p, name, p->w_up, &rc);
			if (!up)
				return rc;
			snprintf(name, sizeof name, "model.layers.%d.experts.%d.down_proj.weight", l, n);
			const float *down = weight_f32(p, name, p->w_down, &rc);
			if (!down)
				return rc;
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, inter, d, 1.0f, p->u, d, up, d, 0.0f,
				    p->h, inter);
			gelu_job job = {p->h, (size_t)nt * inter};
			lk_pool_run(p->pool, gelu_task, &job, lk_pool_threads(p->pool));
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, d, inter, 1.0f, p->h, inter, down, inter, 0.0f,
				    base + voff + (size_t)n * d, ldr);
		}
	}
	return LUTDB_OK;
}
