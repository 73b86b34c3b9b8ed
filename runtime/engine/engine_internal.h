/*
 * engine_internal.h - internals of the decoding engine (lutdb_runtime.h).
 *
 *   model.c          lutdb_model: tensor views, geometry checks, eos, pool
 *   session.c        lutdb_session: allocation, feed (chunking, rows, logits)
 *   session_layer.c  one transformer layer over a chunk of positions:
 *                    attention with the KV cache, MLP, MoLE / MoLKV experts
 *   session_sample.c lutdb_sampler (wraps sampler.h)
 *   session_gen.c    lutdb_generate, lutdb_eval
 *
 * Layouts (all float32 unless said):
 *   KV cache   kc/vc[l][pos][kvd], kvd = kv_heads * head_dim (after RoPE for k)
 *   rope       rcos/rsin[pos][head_dim]
 *   rows[pos]  the token row (all layers, table dtype) of the id at pos: a
 *              pointer into the map with codec none, else into rowbuf
 *   chunk      h/x[C][d], q/att[C][qd], u[C][I], mm/ex[C][d], g[C][gw]
 */
#ifndef LUTDB_ENGINE_INTERNAL_H
#define LUTDB_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "geometry.h"
#include "kernels.h"
#include "lutdb_runtime.h"
#include "pool.h"

/* Positions per prefill chunk (weights are streamed once per chunk). */
#define LR_CHUNK 64
/* Rows of logits computed at once when every position's logits are wanted. */
#define LR_LOGIT_ROWS 16
/* Below this many multiply-adds a parallel loop runs on the caller alone. */
#define LR_MT_MIN_WORK 65536

/* A weight in place: dtype, data in the map, rows x cols (cols == ld). */
typedef struct lr_mat {
	int dtype;
	const void *data;
	uint32_t rows, cols;
} lr_mat;

typedef struct lr_layer {
	lr_mat q, k, v, o, up, down;
	lr_mat gate; /* MoLE router [N, d]; MoLKV expert_query [dk, d] */
	lr_mat in_norm, post_norm;
} lr_layer;

struct lutdb_model {
	lutdb_db *db;
	const lutdb_info *info;
	int family; /* 1 MoLE, 2 MoLKV */
	uint32_t V, d, L, N, I, heads, kv_heads, hd, qd, kvd, dk, H, W, max_pos;
	float eps, theta;
	int tdt;             /* table dtype */
	size_t tesz;         /* its element size */
	size_t layer_row_bytes;
	lr_mat embed, head, final_norm;
	lr_layer *layers;
	lk_pool *pool;
	int threads;
	uint32_t n_eos;
	uint32_t eos[LUTDB_MAX_EOS];
	uint64_t dense_bytes;
};

struct lutdb_session {
	lutdb_model *m;
	uint32_t cap, pos, chunk;
	unsigned flags;
	int failed, have_logits;
	float *kc, *vc;
	float *rcos, *rsin;
	const unsigned char **rows;
	unsigned char *rowbuf; /* codec != none: nslots decoded token rows */
	uint32_t nslots;
	size_t row_bytes;
	float *h, *x, *q, *att, *u, *mm, *ex, *g;
	uint32_t gw;           /* width of g: N (MoLE) or dk (MoLKV) */
	float *logits;         /* [V] of the last position */
	float *lchunk;         /* [LR_LOGIT_ROWS][V] */
	float *tscr;           /* per-task score scratch */
	size_t tscr_len;
	int ntasks;
};

/* Element size of a storage dtype (2 or 4). */
static inline size_t lr_esz(int dtype)
{
	return dtype == LUTDB_DTYPE_F32 ? 4 : 2;
}

/* Runs one layer over chunk rows [0, c) at positions p0.. (session_layer.c).
 * Resolves the chunk's table rows on layer 0 (before the expert term). */
int lr_layer_forward(lutdb_session *s, uint32_t l, uint32_t p0, uint32_t c, const uint32_t *ids);

/* Reads the table rows of ids at positions p0.. into s->rows. */
int lr_resolve_rows(lutdb_session *s, uint32_t p0, uint32_t c, const uint32_t *ids);

/* Runs fn over [0, n) items split into contiguous ranges, on the pool when
 * work (multiply-adds) is large enough; fn gets its task index (< s->ntasks)
 * for its scratch. */
typedef void (*lr_range_fn)(lutdb_session *s, void *ctx, int task, size_t begin, size_t end);
void lr_parallel(lutdb_session *s, size_t n, uint64_t work, lr_range_fn fn, void *ctx);

/* y = W x for c rows of X (ldx = W.cols), Y with row stride ldy. */
void lr_linear(lutdb_session *s, const lr_mat *w, const float *X, uint32_t c, float *Y, size_t ldy);

#endif
