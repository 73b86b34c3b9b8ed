/*
 * quantize.c - lutdb_quantize(): an existing database (a file or a shard
 * set) rewritten as one file with its table and dense weights in other
 * dtypes, without the checkpoint.
 *
 * Values go through float32 exactly as in pack (qconv.h): a stored float
 * row or tensor is widened, a quantized one decoded, then converted or
 * quantized by the same code with the same block size.  So an F32 database
 * quantizes into the bytes pack writes from the checkpoint it came from.
 * A part whose dtype (and block) does not change is copied byte for byte.
 * The writer gives the crash safety: a private temporary file renamed into
 * place on commit.
 */
#include "lutdb_pack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dtype_plan.h"
#include "fail.h"
#include "opts.h"
#include "pool.h"
#include "qconv.h"
#include "quant.h"
#include "record.h"
#include "schema.h"

/* Rows per step: bounded memory (float32 rows and stored rows) whatever V. */
#define QUANTIZE_ROWS_BUDGET (64u << 20)

/* The meta blobs a lutdb writer stores (spec/FORMAT.md 5), copied as they
 * are; the header and digest are the new file's own. */
static const char *const blob_names[] = {LUTDB_META_CONFIG, LUTDB_META_GENERATION, LUTDB_META_TOKENIZER,
					 LUTDB_META_TOKENIZER_CONFIG, LUTDB_META_PROVENANCE};
#define NBLOBS (sizeof blob_names / sizeof blob_names[0])

typedef struct quantizer {
	lutdb_quantize_opts o;
	lutdb_db *src;
	const lutdb_info *in;
	lutdb_config cfg;
	lutdb_schema_ent *schema; /* stored tensors, by name */
	size_t nschema;
	int table_dtype;
	uint32_t table_block;
	int *tensor_dt;           /* per source tensor (name order) */
	lutdb_writer *w;
	lk_pool *pool;
	lutdb_qrows qrows;
	int have_qrows;
	lutdb_qacc wacc;
	char wmax_name[256];
	lutdb_quant_report rep;
} quantizer;

static int read_opts(const lutdb_quantize_opts *in, lutdb_quantize_opts *o)
{
	int rc = lutdb_opts_check(in, in ? in->size : 0, sizeof *in, LUTDB_OPTS_MIN(lutdb_quantize_opts, report),
				  "lutdb_quantize");

	if (rc)
		return rc;
	memset(o, 0, sizeof *o);
	if (in)
		memcpy(o, in, in->size < sizeof *o ? in->size : sizeof *o);
	o->size = sizeof *o;
	if (o->table_dtype && !lutdb_plan_table_dtype_ok(o->table_dtype))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_quantize: unknown table dtype code %d", (int)o->table_dtype);
	if (o->weight_dtype && !lutdb_plan_tensor_dtype_ok(o->weight_dtype))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_quantize: %s code %d is not a weight dtype (F32, F16, BF16, "
				  "Q8_0, Q4_0; NF4 and NF3 are for tables only)",
				  lutdb_dtype_name(o->weight_dtype) ? lutdb_dtype_name(o->weight_dtype) : "unknown dtype",
				  (int)o->weight_dtype);
	if (o->tensor_dtype_count && !o->tensor_dtypes)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_quantize: tensor_dtype_count without tensor_dtypes");
	return LUTDB_OK;
}

/* The new dtypes: the table's and its block, each tensor's. */
static int plan(quantizer *q)
{
	const lutdb_info *in = q->in;
	const void *cj;
	size_t cl, nt = lutdb_tensor_count(q->src);
	uint32_t block;
	int rc;

	if ((rc = lutdb_blob_get(q->src, LUTDB_META_CONFIG, &cj, &cl)) ||
	    (rc = lutdb_config_parse(cj, cl, "config.json", &q->cfg)) ||
	    (rc = lutdb_schema_build(&q->cfg, in->family, LUTDB_SCHEMA_STORED, &q->schema, &q->nschema)))
		return rc;
	q->table_dtype = q->o.table_dtype ? (int)q->o.table_dtype : in->table_dtype;
	block = q->o.table_block;
	if (!block && q->table_dtype == in->table_dtype)
		block = in->table_block;
	if ((rc = lutdb_plan_table_block(q->table_dtype, block, in->family, in->hidden, in->kv_dim, &q->table_block)))
		return lutdb_fail_prefix(rc, "table");
	if ((rc = lutdb_plan_check_overrides(q->schema, q->nschema, q->o.tensor_dtypes, q->o.tensor_dtype_count)))
		return rc;
	if (!(q->tensor_dt = calloc(nt ? nt : 1, sizeof *q->tensor_dt)))
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_quantize");
	for (size_t i = 0; i < nt; i++) {
		lutdb_tensor t;
		lutdb_schema_ent key, *s;
		if ((rc = lutdb_tensor_at(q->src, i, &t)))
			return rc;
		snprintf(key.name, sizeof key.name, "%s", t.name);
		s = bsearch(&key, q->schema, q->nschema, sizeof key, (int (*)(const void *, const void *))strcmp);
		if (!s)
			return lutdb_fail(LUTDB_ECORRUPT, "%s: tensor %s is not part of the model", lutdb_path(q->src),
					  t.name);
		if ((rc = lutdb_plan_tensor(s, q->o.weight_dtype, t.dtype, q->o.tensor_dtypes,
					    q->o.tensor_dtype_count, &q->tensor_dt[i])))
			return rc;
	}
	return LUTDB_OK;
}

static uint64_t tensor_elems(const lutdb_tensor *t)
{
	uint64_t n = 1;
	for (uint32_t k = 0; k < t->ndim; k++)
		n *= t->shape[k];
	return n;
}

static int open_writer(quantizer *q, const char *out_path)
{
	const lutdb_info *in = q->in;
	lutdb_writer_params p = {
		.size = sizeof p, .family = in->family, .source_form = in->source_form, .vocab = in->vocab,
		.hidden = in->hidden, .layers = in->layers, .experts = in->experts, .intermediate = in->intermediate,
		.heads = in->heads, .kv_heads = in->kv_heads, .kv_dim = in->kv_dim,
		.kv_expert_heads = in->kv_expert_heads, .kv_window = in->kv_window, .tied = in->tied,
		.table_dtype = q->table_dtype, .table_block = q->table_block,
		/* block_tokens 0: the default for the new row size, as pack. */
		.table_codec = in->table_codec,
	};
	/* shuffle-lz4 needs an element size, which blocks lack. */
	if (lutdb_dtype_is_quantized(q->table_dtype) && p.table_codec == LUTDB_CODEC_SHUFFLE_LZ4)
		p.table_codec = LUTDB_CODEC_LZ4;
	for (size_t i = 0; i < NBLOBS; i++) {
		const void *d;
		size_t len;
		if (lutdb_blob_get(q->src, blob_names[i], &d, &len))
			continue;
		if (i == 0) {
			p.config_bytes = len;
		} else {
			p.dense_bytes += len;
			p.dense_records++;
		}
	}
	for (size_t i = 0; i < lutdb_tensor_count(q->src); i++) {
		lutdb_tensor t;
		int rc = lutdb_tensor_at(q->src, i, &t);
		if (rc)
			return rc;
		p.dense_bytes += lutdb_dtype_bytes(q->tensor_dt[i], 32, tensor_elems(&t));
		p.dense_records++;
	}
	return lutdb_writer_open(out_path, &p, NULL, 1, &q->w);
}

static int put_blobs(quantizer *q)
{
	for (size_t i = 0; i < NBLOBS; i++) {
		const void *d;
		size_t len;
		int rc;
		if (lutdb_blob_get(q->src, blob_names[i], &d, &len))
			continue;
		if ((rc = lutdb_writer_put_blob(q->w, blob_names[i], d, len)))
			return rc;
	}
	return LUTDB_OK;
}

static int put_tensors(quantizer *q)
{
	for (size_t i = 0; i < lutdb_tensor_count(q->src); i++) {
		lutdb_tensor t;
		lutdb_qacc acc = {0};
		void *dst;
		int rc;
		if ((rc = lutdb_tensor_at(q->src, i, &t)) ||
		    (rc = lutdb_writer_tensor_begin(q->w, t.name, q->tensor_dt[i], t.ndim, t.shape, &dst)))
			return rc;
		if ((rc = lutdb_qconv_tensor(q->tensor_dt[i], dst, t.dtype, t.data, tensor_elems(&t),
					      q->o.report ? &acc : NULL)))
			return lutdb_fail_prefix(rc, "%s: tensor %s", lutdb_path(q->src), t.name);
		if (acc.n && (q->wacc.n == 0 || acc.max_abs > q->wacc.max_abs))
			snprintf(q->wmax_name, sizeof q->wmax_name, "%s", t.name);
		lutdb_qacc_merge(&q->wacc, &acc);
		if (lutdb_dtype_is_quantized(q->tensor_dt[i]) && !q->rep.weights.dtype)
			q->rep.weights.dtype = q->tensor_dt[i];
		if ((rc = lutdb_writer_tensor_end(q->w)))
			return rc;
	}
	return LUTDB_OK;
}

/* The table when it is quantized from rows in the map: the pool's tasks
 * read, widen and quantize each row in one pass (lutdb_qrows_run_stored),
 * one step of rows on a helper thread while this thread hands the step
 * before to the writer (which stays on the thread that opened it), so
 * checksumming and copying the output overlap the quantizing. */
typedef struct table_step {
	quantizer *q;
	uint32_t t0, nt;
	uint8_t *rows;
	int rc;
	char detail[512]; /* the helper thread's lutdb_errdetail() */
} table_step;

/* lutdb_qrow_fetch: rows_in_place, so the row is in the map, valid while
 * the database is open, and no scratch is needed; thread-safe as the
 * handle is. */
static int fetch_row(void *ctx, uint32_t token, const void **row)
{
	lutdb_row r;
	int rc = lutdb_token_row(ctx, token, 0, NULL, 0, &r);

	if (rc == LUTDB_OK)
		*row = r.data;
	return rc;
}

static void *quantize_step(void *arg)
{
	table_step *s = arg;
	const lutdb_info *in = s->q->in;

	s->rc = lutdb_qrows_run_stored(&s->q->qrows, fetch_row, s->q->src, in->table_dtype, in->table_block, s->nt,
				       s->rows, s->t0);
	if (s->rc)
		snprintf(s->detail, sizeof s->detail, "%s", lutdb_errdetail());
	return NULL;
}

static int put_table_in_place(quantizer *q, uint32_t step, uint8_t *rows[2], uint64_t out_row)
{
	const uint32_t vocab = q->in->vocab;
	table_step cur = {.q = q, .t0 = 0, .nt = step < vocab ? step : vocab, .rows = rows[0]}, next;
	int rc = LUTDB_OK;

	quantize_step(&cur);
	for (;;) {
		uint32_t t1 = cur.t0 + cur.nt;
		pthread_t helper;
		int started = 0;

		if (cur.rc)
			return lutdb_fail(cur.rc, "%s", cur.detail);
		if (t1 < vocab) {
			next = (table_step){.q = q, .t0 = t1, .nt = vocab - t1 < step ? vocab - t1 : step,
					    .rows = cur.rows == rows[0] ? rows[1] : rows[0]};
			/* without a thread, the step runs after the write */
			started = pthread_create(&helper, NULL, quantize_step, &next) == 0;
		}
		rc = lutdb_writer_put_rows(q->w, cur.t0, cur.nt, cur.rows, out_row);
		if (rc == LUTDB_OK && q->o.progress && q->o.progress(q->o.progress_ctx, t1, vocab))
			rc = lutdb_fail(LUTDB_EINTR, "quantize cancelled");
		if (started)
			pthread_join(helper, NULL);
		if (rc || t1 >= vocab)
			return rc;
		if (!started)
			quantize_step(&next);
		cur = next;
	}
}

/* The table otherwise (a copy, a float dtype, or rows that are not in the
 * map): this thread reads and widens step rows into f32, then they are
 * quantized on the pool or converted. */
static int put_table_staged(quantizer *q, uint32_t step, uint8_t *rows, uint64_t out_row, int copy, float *f32)
{
	const lutdb_info *in = q->in;
	size_t elems = (size_t)in->layers * in->layer_row_elems;
	uint8_t *scratch = malloc(in->token_row_bytes);
	int rc = LUTDB_OK;

	if (!scratch)
		return lutdb_fail(LUTDB_ENOMEM, "lutdb_quantize: row scratch");
	for (uint32_t t0 = 0; t0 < in->vocab; t0 += step) {
		uint32_t nt = in->vocab - t0 < step ? in->vocab - t0 : step;
		for (uint32_t i = 0; i < nt; i++) {
			lutdb_row r;
			if ((rc = lutdb_token_row(q->src, t0 + i, 0, scratch, in->token_row_bytes, &r)))
				goto out;
			if (copy)
				memcpy(rows + (size_t)i * out_row, r.data, out_row);
			else if ((rc = lutdb_qrows_widen(f32 + (size_t)i * elems, r.dtype, in->table_block, r.data,
							 elems)))
				goto out;
		}
		if (q->have_qrows)
			rc = lutdb_qrows_run(&q->qrows, f32, nt, rows, t0);
		else if (!copy)
			rc = lutdb_convert(q->table_dtype, rows, LUTDB_DTYPE_F32, f32, (size_t)nt * elems);
		if (rc || (rc = lutdb_writer_put_rows(q->w, t0, nt, rows, out_row)))
			goto out;
		if (q->o.progress && q->o.progress(q->o.progress_ctx, t0 + nt, in->vocab)) {
			rc = lutdb_fail(LUTDB_EINTR, "quantize cancelled");
			goto out;
		}
	}
out:
	free(scratch);
	return rc;
}

static int put_table(quantizer *q)
{
	const lutdb_info *in = q->in;
	size_t elems = (size_t)in->layers * in->layer_row_elems;
	uint64_t out_row = lutdb_dtype_bytes(q->table_dtype, q->table_block, elems);
	int copy = q->table_dtype == in->table_dtype && q->table_block == in->table_block;
	int quant = lutdb_dtype_is_quantized(q->table_dtype) && !copy;
	/* float32 rows are staged only when this thread widens them */
	int in_place = quant && in->rows_in_place;
	uint64_t per = out_row + (!copy && !in_place ? elems * sizeof(float) : 0);
	uint32_t step = (uint32_t)(QUANTIZE_ROWS_BUDGET / (per ? per : 1));
	uint8_t *rows[2] = {NULL, NULL};
	float *f32 = NULL;
	int rc = LUTDB_OK;

	/* two steps in flight, and at least 8 steps, so that the first,
	 * which nothing overlaps, is a small part */
	if (in_place) {
		step /= 2;
		if (step > in->vocab / 8 + 1)
			step = in->vocab / 8 + 1;
	}
	if (step < 1)
		step = 1;
	if (step > in->vocab)
		step = in->vocab;
	if (!(rows[0] = malloc((size_t)step * out_row)) || (in_place && !(rows[1] = malloc((size_t)step * out_row))) ||
	    (!copy && !in_place && !(f32 = malloc((size_t)step * elems * sizeof *f32)))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "lutdb_quantize: row buffers");
		goto out;
	}
	if (quant) {
		if ((rc = lutdb_qrows_init(&q->qrows, q->table_dtype, q->table_block, elems, out_row, q->pool)))
			goto out;
		q->have_qrows = 1;
		/* the error is for the report; without one, quantizing is all */
		q->qrows.measure = q->o.report != NULL;
	}
	rc = in_place ? put_table_in_place(q, step, rows, out_row)
		      : put_table_staged(q, step, rows[0], out_row, copy, f32);
	if (rc)
		goto out;
	if (q->have_qrows && q->qrows.measure) {
		const lutdb_qacc *a = &q->qrows.acc;
		lutdb_quant_error *e = &q->rep.table;
		lutdb_qerror_fill(e, q->table_dtype, q->table_block, a);
		e->token = (uint32_t)(a->max_at / elems);
		lutdb_qrow_place(in->family, in->experts, in->hidden, in->kv_dim, in->layer_row_elems, a->max_at % elems,
				 &e->layer, &e->key, &e->expert);
	}
out:
	if (q->have_qrows)
		lutdb_qrows_free(&q->qrows);
	q->have_qrows = 0;
	free(rows[0]);
	free(rows[1]);
	free(f32);
	return rc;
}

int lutdb_quantize(lutdb_db *src, const char *out_path, const lutdb_quantize_opts *opts)
{
	quantizer q;
	int rc;

	memset(&q, 0, sizeof q);
	if (!src || !out_path || !*out_path)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_quantize: no database or output path");
	if ((rc = read_opts(opts, &q.o)))
		return rc;
	q.src = src;
	q.in = lutdb_get_info(src);
	if ((rc = plan(&q)))
		goto out;
	if (!(q.pool = lk_pool_new(q.o.threads))) {
		rc = lutdb_fail(LUTDB_ENOMEM, "thread pool");
		goto out;
	}
	if ((rc = open_writer(&q, out_path)) || (rc = put_blobs(&q)) || (rc = put_tensors(&q)) ||
	    (rc = put_table(&q)))
		goto out;
	rc = lutdb_writer_commit(q.w);
	q.w = NULL;
	if (rc == LUTDB_OK && q.o.report) {
		if (q.wacc.n) {
			lutdb_qerror_fill(&q.rep.weights, q.rep.weights.dtype, 32, &q.wacc);
			snprintf(q.rep.weights.tensor, sizeof q.rep.weights.tensor, "%s", q.wmax_name);
			q.rep.weights.index = q.wacc.max_at;
		} else {
			memset(&q.rep.weights, 0, sizeof q.rep.weights);
		}
		*q.o.report = q.rep;
	}
out:
	lutdb_writer_abort(q.w);
	lk_pool_free(q.pool);
	free(q.tensor_dt);
	free(q.schema);
	return rc;
}
