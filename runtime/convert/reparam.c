/*
 * reparam.c - the lookup table of a training-form checkpoint, in float32.
 *
 * For a block of token ids: u = RMSNorm_{expert_layernorm}(embed[t]); per
 * layer and expert, value = down(GELU_erf(up(u))) and, for MoLKV, the keys
 * expert_keys @ u.  Every product is one lk_matmul over the whole block
 * (block x d times d x I), split by weight rows over the pack's own thread
 * pool and written straight into the row buffer at the layer/expert offset
 * (ldy = token row length), so no copy follows.  Weights are read in place
 * in their stored dtype and upcast in registers (exact for F16/BF16).  The
 * block size is chosen by pack.c from a memory budget, so memory does not
 * grow with V.
 *
 * Why not BLAS: OpenBLAS (0.3.21, Debian 12) has only a process-wide thread
 * count, so limiting a pack to opts->threads meant changing it for every
 * other user of BLAS in the process, and it starts its own threads at load.
 * lk_matmul runs on a pool this pack owns; its reduction order is fixed, so
 * the table no longer depends on the BLAS build or the CPU it detects, only
 * on the ISA (as decoding does).
 */
#include <stdio.h>
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
	if ((rc = alloc_f32(&p->rows_f32, b * p->token_row_elems)) || (rc = alloc_f32(&p->emb, b * d)) ||
	    (rc = alloc_f32(&p->u, b * d)) || (rc = alloc_f32(&p->h, b * inter)))
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
	p->rows_f32 = p->emb = p->u = p->h = NULL;
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
	const size_t d = c->hidden, inter = c->intermediate, N = c->experts, ldr = p->token_row_elems;
	const size_t dk = c->kv_dim;
	lutdb_ckpt_tensor emb, ln, w;
	char name[LUTDB_SCHEMA_NAME_MAX];
	int rc;

	if ((rc = lutdb_ckpt_find(p->ck, "model.embed_tokens.weight", &emb)))
		return rc;
	lk_to_f32(emb.dtype, (const uint8_t *)emb.data + (size_t)t0 * d * lutdb_dtype_size(emb.dtype), p->emb,
		  (size_t)nt * d);
	for (uint32_t l = 0; l < c->layers; l++) {
		float *base = p->rows_f32 + (size_t)l * p->layer_row_elems;
		size_t voff = 0;
		snprintf(name, sizeof name, "model.layers.%u.expert_layernorm.weight", l);
		if ((rc = lutdb_ckpt_find(p->ck, name, &ln)))
			return rc;
		for (uint32_t t = 0; t < nt; t++)
			lk_rmsnorm(p->u + (size_t)t * d, p->emb + (size_t)t * d, ln.dtype, ln.data, d, c->rms_norm_eps);
		if (p->family == LUTDB_FAMILY_MOLKV) {
			/* keys[t, 0..N*dk) = expert_keys (N*dk x d) . u[t] */
			snprintf(name, sizeof name, "model.layers.%u.expert_keys.weight", l);
			if ((rc = lutdb_ckpt_find(p->ck, name, &w)))
				return rc;
			lk_matmul_mt(p->pool, w.dtype, w.data, d, N * dk, d, p->u, nt, d, base, ldr);
			voff = N * dk;
		}
		for (uint32_t n = 0; n < N; n++) {
			/* h[t] = GELU(up (I x d) . u[t]); value[t, n] = down (d x I) . h[t] */
			snprintf(name, sizeof name, "model.layers.%u.experts.%u.up_proj.weight", l, n);
			if ((rc = lutdb_ckpt_find(p->ck, name, &w)))
				return rc;
			lk_matmul_mt(p->pool, w.dtype, w.data, d, inter, d, p->u, nt, d, p->h, inter);
			gelu_job job = {p->h, (size_t)nt * inter};
			lk_pool_run(p->pool, gelu_task, &job, lk_pool_threads(p->pool));
			snprintf(name, sizeof name, "model.layers.%u.experts.%u.down_proj.weight", l, n);
			if ((rc = lutdb_ckpt_find(p->ck, name, &w)))
				return rc;
			lk_matmul_mt(p->pool, w.dtype, w.data, inter, d, inter, p->h, nt, inter, base + voff + n * d, ldr);
		}
	}
	return LUTDB_OK;
}
