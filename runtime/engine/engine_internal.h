/*
 * engine_internal.h - internals of the decoding engine (lutdb_runtime.h).
 *
 *   model.c          lutdb_model: tensor views, geometry checks, eos, pool
 *   session.c        lutdb_session: allocation, reset, accessors
 *   feed.c           lutdb_session_feed: chunk by chunk, the chunk's table
 *                    rows first, then the layers, then the logits
 *   rows.c           a chunk's table rows: looked up, checksum-checked and
 *                    decompressed into the session's row slots - the only
 *                    I/O of a feed, and (with the logits callback) the only
 *                    thing in it that can fail
 *   layer.c          one transformer layer over a chunk of positions, pure
 *                    arithmetic on resolved rows: attention with the KV
 *                    cache, MLP, MoLE / MoLKV experts
 *   parallel.c       a layer's work split over the model's thread pool
 *   generate.c       lutdb_generate;  eval.c  lutdb_eval
 *   sampler.c/.h     lr_sample: greedy / temperature / top-k / top-p
 *   lutdb_sampler.c  lutdb_sampler, the public face of lr_sample
 *   ids_parse.c      lutdb_ids_parse
 *
 * Calls go one way: generate/eval -> feed -> rows (the store) and
 * layer -> parallel -> runtime/kernels.
 *
 * Model dimensions use the letters of spec/FORMAT.md (see struct
 * lutdb_model).  Session buffers, all float32 unless said; C = the chunk
 * (positions computed together), cap = the session's capacity:
 *   key_cache, value_cache [L][cap][kvd]  keys (after RoPE) and values
 *   rope_cos, rope_sin     [cap][hd]      RoPE tables of every position
 *   token_rows[cap]        the token row (every layer, table dtype) of the
 *                          id at each position: a pointer into the map with
 *                          codec none, else into row_slots
 *   row_slots              [nslots][token_row_bytes] decoded rows; position
 *                          p uses slot p % nslots (MoLE keeps the chunk's,
 *                          MoLKV the window's too)
 *   per chunk position:
 *     hidden   [C][d]   the residual stream
 *     normed   [C][d]   RMSNorm of hidden: what the projections, the gate
 *                       and the lm head read
 *     query    [C][qd]  queries after RoPE
 *     attn     [C][qd]  attention output of every head, before o_proj
 *     mlp      [C][I]   up projection, then GELU in place
 *     sublayer [C][d]   o_proj output, then the MLP's down projection
 *     experts  [C][d]   the expert term
 *     gate     [C][gate_width]  MoLE router logits (softmax in place) or
 *                       MoLKV expert queries
 *   logits [V] of the last position; logits_block [LR_LOGIT_ROWS][V];
 *   task_scores [ntasks][task_scores_len]: each pool task's attention /
 *   MoLKV scores.
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
	lutdb_family family;
	uint32_t V;        /* vocabulary */
	uint32_t d;        /* hidden size */
	uint32_t L;        /* layers */
	uint32_t N;        /* experts per layer */
	uint32_t I;        /* MLP intermediate size */
	uint32_t heads, kv_heads, hd; /* attention heads, KV heads, head dim */
	uint32_t qd, kvd;  /* heads * hd, kv_heads * hd */
	uint32_t dk;       /* MoLKV expert key size (0 for MoLE) */
	uint32_t H;        /* MoLKV expert heads (0 for MoLE) */
	uint32_t W;        /* MoLKV window in positions, 0: unbounded */
	uint32_t max_pos;
	float eps, theta;  /* RMSNorm epsilon, RoPE base */
	int tdt;           /* table dtype */
	size_t tesz;       /* its element size */
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
	int in_callback; /* a logits or token callback of this session is running */
	float *key_cache, *value_cache;
	float *rope_cos, *rope_sin;
	const unsigned char **token_rows;
	unsigned char *row_slots; /* codec != none: nslots decoded token rows */
	uint32_t nslots;
	size_t row_bytes;
	float *hidden, *normed, *query, *attn, *mlp, *sublayer, *experts, *gate;
	uint32_t gate_width; /* N (MoLE) or dk (MoLKV) */
	float *logits;       /* [V] of the last position */
	float *logits_block; /* [LR_LOGIT_ROWS][V] */
	float *task_scores;  /* [ntasks][task_scores_len] */
	size_t task_scores_len;
	int ntasks;
};

/* Element size of a storage dtype (2 or 4). */
static inline size_t lr_esz(int dtype)
{
	return dtype == LUTDB_DTYPE_F32 ? 4 : 2;
}

/* ---- rows.c: the I/O of a feed ----------------------------------------------- */
/* Hints that the rows of ids[0, n) will be read soon. */
void lr_rows_prefetch(const lutdb_session *s, const uint32_t *ids, size_t n);

/* Resolves the token rows of ids[0, c) for positions p0.. into
 * s->token_rows (decoding into the row slots when the codec compresses):
 * looked up, checksum-checked, layout-checked.  Fails with the store's code
 * (LUTDB_ECHECKSUM, LUTDB_ECORRUPT, ...) and changes nothing else. */
int lr_rows_resolve(lutdb_session *s, uint32_t p0, uint32_t c, const uint32_t *ids);

/* ---- layer.c: arithmetic only ------------------------------------------------ */
/* Runs layer l over the chunk's c positions p0.. (s->hidden rows [0, c)),
 * reading the token rows resolved for them (and, MoLKV, the window's
 * earlier ones).  No I/O, cannot fail. */
void lr_layer_forward(lutdb_session *s, uint32_t l, uint32_t p0, uint32_t c);

/* ---- parallel.c ------------------------------------------------------------ */
/* Runs fn over [0, n) items split into contiguous ranges, on the pool when
 * work (multiply-adds) is large enough; fn gets its task index (< s->ntasks)
 * for its scratch. */
typedef void (*lr_range_fn)(lutdb_session *s, void *ctx, int task, size_t begin, size_t end);
void lr_parallel(lutdb_session *s, size_t n, uint64_t work, lr_range_fn fn, void *ctx);

/* Y = X W^T for c rows of X (row stride w->cols), Y with row stride ldy:
 * one matvec when c == 1, else a matmul (bitwise the same per row). */
void lr_linear(lutdb_session *s, const lr_mat *w, const float *X, uint32_t c, float *Y, size_t ldy);

#endif
