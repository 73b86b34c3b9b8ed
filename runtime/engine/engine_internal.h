/*
 * engine_internal.h - internals of the decoding engine (lutdb_runtime.h).
 *
 *   model.c          lutdb_model: tensor views, geometry checks, eos, pool
 *   seq.c            lr_seq, one sequence's context (KV cache, table-row
 *                    pointers), and lr_pass, the working memory of a
 *                    forward pass over stacked rows: allocation, embedding,
 *                    the layers, the logits of chosen rows
 *   session.c        lutdb_session (one lr_seq, one lr_pass): allocation,
 *                    reset, accessors
 *   feed.c           lutdb_session_feed: chunk by chunk, the chunk's table
 *                    rows first, then the layers, then the logits
 *   batch.c          lutdb_batch: slots of sequences, join, cancel
 *                    (batch_internal.h: the slots)
 *   batch_step.c     lutdb_batch_step: which rows a step computes (every
 *                    running sequence's next id, joining prompts in chunks
 *                    under a budget), then rows, layers, logits, sampling,
 *                    stop rules and events
 *   rows.c           a span's table rows: looked up, checksum-checked and
 *                    decompressed into row slots - the only I/O of a pass,
 *                    and the only thing in it that can fail
 *   layer.c          one transformer layer over a pass's rows, pure
 *                    arithmetic on resolved rows: attention with each
 *                    sequence's KV cache, MLP, MoLE / MoLKV experts
 *   layer_molkv.c    its MoLKV expert term
 *   parallel.c       a layer's work split over the model's thread pool
 *   generate.c       lutdb_generate;  eval.c  lutdb_eval
 *   sampler.c/.h     lr_sample: greedy / temperature / top-k / top-p
 *   lutdb_sampler.c  lutdb_sampler, the public face of lr_sample
 *   ids_parse.c      lutdb_ids_parse
 *
 * Calls go one way: generate/eval -> feed -> seq (pass) -> rows (the store)
 * and layer -> parallel -> runtime/kernels; batch_step -> seq likewise.
 *
 * One forward pass computes R rows (positions) stacked in the pass's
 * buffers: a session's pass is one chunk of one sequence; a batch step's
 * holds one span per sequence it advances (a running sequence's next id, a
 * joining sequence's prompt chunk).  Every dense weight is read once per
 * pass for all R rows (lk_matmul over the stacked rows, bitwise equal to R
 * matrix-vector products), while attention reads each row's own sequence's
 * KV cache and the expert term its own sequence's table rows.  No output of
 * a row depends on another row, so a sequence's logits are the same bits
 * alone or batched (see batch_step.c).
 *
 * Model dimensions use the letters of spec/FORMAT.md (see struct
 * lutdb_model).  Buffers are float32 unless said; cap = a sequence's
 * capacity, R = the pass's rows:
 *   lr_seq (per sequence):
 *     key_cache, value_cache [L][cap][kvd]  keys (after RoPE) and values
 *     token_rows[cap]        the token row (every layer, table dtype) of the
 *                            id at each position: a pointer into the map with
 *                            codec none, else into a row slot
 *     row_slots              MoLKV, compressing codec: [nslots][row_bytes]
 *                            decoded rows, position p in slot p % nslots
 *                            (the window's earlier rows and a chunk's)
 *   lr_pass (per session or batch):
 *     rope_cos, rope_sin [cap][hd]   RoPE tables of every position
 *     row_seq, row_pos   [R]         each row's sequence and position
 *     hidden   [R][d]    the residual stream
 *     normed   [R][d]    RMSNorm of hidden: what the projections, the gate
 *                        and the lm head read
 *     query    [R][qd]   queries after RoPE
 *     new_keys, new_values [R][kvd]  the rows' keys (after RoPE) and values,
 *                        copied into each row's sequence's cache
 *     attn     [R][qd]   attention output of every head, before o_proj
 *     mlp      [R][I]    up projection, then GELU in place
 *     sublayer [R][d]    o_proj output, then the MLP's down projection
 *     experts  [R][d]    the expert term
 *     gate     [R][gate_width]  MoLE router logits (softmax in place) or
 *                        MoLKV expert queries
 *     row_slots          MoLE, compressing codec: [R][row_bytes], row r's
 *                        decoded token row (MoLE reads only the pass's rows)
 *     task_scores [ntasks][task_scores_len]: each pool task's attention
 *                        scores (a block of LR_ATTN_BLOCK rows) / MoLKV
 *                        scores.
 *   session: logits [V] of the last position; logits_block
 *   [LR_LOGIT_ROWS][V].  batch: logits_block [logit_rows][V].
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
#include "sampler.h"

/* Positions per prefill chunk (weights are streamed once per chunk). */
#define LR_CHUNK 64
/* Consecutive rows of a span whose causal attention is computed together
 * (layer.c): the keys and values are read once per block and head. */
#define LR_ATTN_BLOCK 4
/* Rows of logits computed at once when every position's logits are wanted. */
#define LR_LOGIT_ROWS 16
/* Below this many multiply-adds a parallel loop runs on the caller alone. */
#define LR_MT_MIN_WORK 65536

/* A weight in place: kernel dtype (kernels.h: F32, F16, BF16, or Q8_0 /
 * Q4_0 with rows of whole 32-value blocks), data in the map, rows x cols
 * (cols == ld). */
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
	int tdt;           /* table kernel dtype (kernels.h: lk_dt(dtype, block)) */
	size_t layer_row_bytes; /* bytes of one layer's slice of a token row */
	lr_mat embed, head, final_norm;
	lr_layer *layers;
	lk_pool *pool;
	int threads;
	uint32_t n_eos;
	uint32_t eos[LUTDB_MAX_EOS];
	uint64_t dense_bytes;
};

/* One sequence's context: what stays from one pass to the next. */
typedef struct lr_seq {
	uint32_t cap;                     /* positions allocated */
	uint32_t pos;                     /* positions computed */
	float *key_cache, *value_cache;   /* [L][cap][kvd] */
	const unsigned char **token_rows; /* [cap] */
	unsigned char *row_slots;         /* MoLKV, compressing codec: [nslots][row_bytes] */
	uint32_t nslots;
} lr_seq;

/* c consecutive positions p0.. of one sequence (ids[0, c)), computed at
 * rows row0.. of a pass. */
typedef struct lr_span {
	lr_seq *seq;
	const uint32_t *ids;
	uint32_t p0, c, row0;
} lr_span;

/* The working memory of forward passes over up to max_rows rows in up to
 * max_spans spans, for sequences of up to cap positions (see the layout
 * above), and the pass being computed (spans[0, nspans), rows). */
typedef struct lr_pass {
	lutdb_model *m;
	unsigned flags; /* LUTDB_SESSION_* */
	uint32_t max_rows, max_spans, cap;
	lr_span *spans;
	uint32_t nspans, rows;
	lr_seq **row_seq;
	uint32_t *row_pos;
	float *rope_cos, *rope_sin;
	float *hidden, *normed, *query, *new_keys, *new_values, *attn, *mlp, *sublayer, *experts, *gate;
	uint32_t gate_width; /* N (MoLE) or dk (MoLKV) */
	unsigned char *row_slots; /* MoLE, compressing codec: [max_rows][row_bytes] */
	size_t row_bytes;         /* bytes of a token row (all layers) */
	float *task_scores;       /* [ntasks][task_scores_len] */
	size_t task_scores_len;
	int ntasks;
} lr_pass;

struct lutdb_session {
	lutdb_model *m;
	lr_seq seq;
	lr_pass pass;
	unsigned flags;
	int failed, have_logits;
	int in_callback; /* a logits or token callback of this session is running */
	float *logits;       /* [V] of the last position */
	float *logits_block; /* [LR_LOGIT_ROWS][V] */
};

/* ---- seq.c: sequences and passes ---------------------------------------------- */
/* 64-byte aligned floats, rounded up to whole cache lines; sets *bad (and
 * returns NULL) on failure, and does nothing once *bad is set. */
float *lr_alloc_floats(size_t n, int *bad);

/* Allocates q's KV cache and row pointers for cap positions (and, MoLKV
 * with a compressing codec, the row slots of the window plus chunk
 * positions, chunk being the most a pass feeds it at once).  Sets *bad on
 * failure; lr_seq_free releases whatever was allocated. */
void lr_seq_alloc(lr_seq *q, const lutdb_model *m, unsigned flags, uint32_t cap, uint32_t chunk, int *bad);
void lr_seq_free(lr_seq *q);

/* Allocates p's buffers (see the layout above); sets *bad on failure;
 * lr_pass_free releases whatever was allocated.  Fills the RoPE tables. */
void lr_pass_alloc(lr_pass *p, lutdb_model *m, unsigned flags, uint32_t max_rows, uint32_t max_spans,
		   uint32_t cap, int *bad);
void lr_pass_free(lr_pass *p);

/* Starts an empty pass; lr_pass_add appends c >= 1 positions of q (from
 * q->pos, ids[0, c)) as the next rows.  The caller keeps within max_rows /
 * max_spans and the sequence's capacity. */
void lr_pass_begin(lr_pass *p);
lr_span *lr_pass_add(lr_pass *p, lr_seq *q, const uint32_t *ids, uint32_t c);
/* Removes the last span added (its rows failed to resolve). */
void lr_pass_drop(lr_pass *p);

/* Embeds every row and runs every layer over the pass (rows resolved
 * before: lr_rows_resolve).  Arithmetic only, cannot fail.  The positions'
 * keys and values are in their caches afterwards, but a sequence counts
 * them only after lr_pass_commit (its position moves past its span). */
void lr_pass_forward(lr_pass *p);
void lr_pass_commit(lr_pass *p);

/* The logits of k rows (rows[0, k), k >= 1) of a computed pass into
 * out[k][V]: the final norm, then the lm head, reading it once. */
void lr_pass_logits(lr_pass *p, const uint32_t *rows, uint32_t k, float *out);

/* ---- lutdb_sampler.c ------------------------------------------------------- */
/* Reads the caller's sampling parameters (any struct size, NULL: greedy)
 * into out, as lutdb_sampler_new does; LUTDB_EINVAL (naming what) for a
 * NaN temperature or top-p or a bad .size. */
int lr_sampling_read(const lutdb_sampling *p, const char *what, lr_sampler_params *out);

/* ---- rows.c: the I/O of a pass ------------------------------------------------ */
/* Hints that the rows of ids[0, n) will be read soon. */
void lr_rows_prefetch(const lutdb_model *m, unsigned flags, const uint32_t *ids, size_t n);

/* Resolves the token rows of span sp (its ids at its positions) into its
 * sequence's token_rows (decoding into row slots when the codec
 * compresses): looked up, checksum-checked, layout-checked.  Fails with the
 * store's code (LUTDB_ECHECKSUM, LUTDB_ECORRUPT, ...) and changes nothing
 * else that a later pass reads. */
int lr_rows_resolve(lr_pass *p, const lr_span *sp);

/* ---- layer.c: arithmetic only ------------------------------------------------ */
/* Runs layer l over the pass's rows (p->hidden rows [0, p->rows)), reading
 * the token rows resolved for them (and, MoLKV, the window's earlier ones)
 * and writing their keys and values into their sequences' caches.  No I/O,
 * cannot fail. */
void lr_layer_forward(lr_pass *p, uint32_t l);

/* ---- layer_molkv.c ------------------------------------------------------------ */
/* p->experts = the MoLKV expert term of layer l over the pass's rows, from
 * the expert queries in p->gate (layer.c's expert block). */
void lr_molkv_block(lr_pass *p, uint32_t l);

/* ---- parallel.c ------------------------------------------------------------ */
/* Runs fn over [0, n) items split into contiguous ranges, on the pool when
 * work (multiply-adds) is large enough; fn gets its task index (< p->ntasks)
 * for its scratch. */
typedef void (*lr_range_fn)(lr_pass *p, void *ctx, int task, size_t begin, size_t end);
void lr_parallel(lr_pass *p, size_t n, uint64_t work, lr_range_fn fn, void *ctx);

/* Y = X W^T for c rows of X (row stride w->cols), Y with row stride ldy:
 * one matvec when c == 1, else a matmul (bitwise the same per row). */
void lr_linear(const lutdb_model *m, const lr_mat *w, const float *X, uint32_t c, float *Y, size_t ldy);

#endif
