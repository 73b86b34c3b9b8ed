/*
 * pack.c - checkpoint directory -> lutdb database.
 *
 * Steps: open the checkpoint (config + safetensors, mapped), recognise the
 * family and form from the tensor names, check every tensor against the
 * schema the config implies (nothing missing, nothing unexpected, every
 * shape right), then write: meta blobs, dense tensors in name order
 * (converted to the storage dtype straight into the map), and the table in
 * token order, either copied from a rep checkpoint or computed by
 * reparam.c.  Any failure aborts the writer, so nothing appears at OUT.
 */
#include "lutdb_pack.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "dtype_plan.h"
#include "geometry.h"
#include "pool.h"
#include "record.h"
#include "pack_internal.h"
#include "schema.h"
#include "fail.h"

/* Memory for one block of finished table rows (storage dtype); the token
 * block size follows from it, so memory is flat in V. */
#define PACK_ROWS_BUDGET (192u << 20)

static int detect(packer *p)
{
	const lutdb_ckpt *ck = p->ck;

	if (lutdb_ckpt_has(ck, "model.moe_table.weight")) {
		p->family = LUTDB_FAMILY_MOLE;
		p->form = LUTDB_FORM_REP;
	} else if (lutdb_ckpt_has(ck, "model.kv_table.weight")) {
		p->family = LUTDB_FAMILY_MOLKV;
		p->form = LUTDB_FORM_REP;
	} else if (lutdb_ckpt_has(ck, "model.layers.0.expert_keys.weight") ||
		   lutdb_ckpt_has(ck, "model.layers.0.expert_query.weight")) {
		p->family = LUTDB_FAMILY_MOLKV;
		p->form = LUTDB_FORM_TRAINING;
	} else if (lutdb_ckpt_has(ck, "model.layers.0.router.weight") ||
		   lutdb_ckpt_has(ck, "model.layers.0.experts.0.up_proj.weight")) {
		p->family = LUTDB_FAMILY_MOLE;
		p->form = LUTDB_FORM_TRAINING;
	} else {
		return lutdb_fail(LUTDB_EBADINPUT, "%s: not a MoLE or MoLKV checkpoint (no lookup table, router, "
				  "expert or expert-key tensors)", lutdb_ckpt_dir(ck));
	}
	return lutdb_config_check_family(p->cfg, p->family, "config.json");
}

static void shape_str(char *buf, size_t n, uint32_t ndim, const uint64_t *dims)
{
	size_t k = (size_t)snprintf(buf, n, "[");
	for (uint32_t i = 0; i < ndim && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
}

/* Every expected tensor present with the configured shape; nothing else. */
static int check_tensors(packer *p)
{
	const char *dir = lutdb_ckpt_dir(p->ck);
	char got[96], want[96];
	int rc;

	if ((rc = lutdb_schema_build(p->cfg, p->family, p->form == LUTDB_FORM_REP ? LUTDB_SCHEMA_REP
										: LUTDB_SCHEMA_TRAINING,
				     &p->schema, &p->nschema)))
		return rc;
	for (size_t i = 0; i < p->nschema; i++) {
		const lutdb_schema_ent *s = &p->schema[i];
		lutdb_ckpt_tensor t;
		if (lutdb_ckpt_find(p->ck, s->name, &t))
			return lutdb_fail(LUTDB_EBADINPUT, "%s: tensor %s is missing", dir, s->name);
		if (t.ndim != s->ndim || t.dims[0] != s->dims[0] || (s->ndim == 2 && t.dims[1] != s->dims[1])) {
			shape_str(got, sizeof got, t.ndim, t.dims);
			shape_str(want, sizeof want, s->ndim, s->dims);
			return lutdb_fail(LUTDB_EBADINPUT, "%s/%s: tensor %s has shape %s, config.json implies %s", dir,
					  t.file, s->name, got, want);
		}
	}
	for (size_t i = 0; i < lutdb_ckpt_tensor_count(p->ck); i++) {
		lutdb_ckpt_tensor t;
		lutdb_ckpt_tensor_at(p->ck, i, &t);
		lutdb_schema_ent key;
		snprintf(key.name, sizeof key.name, "%s", t.name);
		if (bsearch(&key, p->schema, p->nschema, sizeof key, (int (*)(const void *, const void *))strcmp))
			continue;
		size_t n = strlen(t.name);
		/* A tied head saved anyway is the embedding; RoPE caches are derived. */
		if ((p->cfg->tied && !strcmp(t.name, "lm_head.weight")) ||
		    (n > 20 && !strcmp(t.name + n - 20, "rotary_emb.inv_freq")))
			continue;
		return lutdb_fail(LUTDB_EBADINPUT, "%s/%s: unexpected tensor %s: not part of a %s model with this "
				  "config.json (check num_hidden_layers, num_experts)", dir, t.file, t.name,
				  p->family == LUTDB_FAMILY_MOLKV ? "MoLKV" : "MoLE");
	}
	return LUTDB_OK;
}

static const char *dtype_lower(int dt)
{
	switch (dt) {
	case LUTDB_DTYPE_F32: return "f32";
	case LUTDB_DTYPE_F16: return "f16";
	case LUTDB_DTYPE_BF16: return "bf16";
	case LUTDB_DTYPE_Q8_0: return "q8_0";
	case LUTDB_DTYPE_Q4_0: return "q4_0";
	case LUTDB_DTYPE_NF4: return "nf4";
	case LUTDB_DTYPE_NF3: return "nf3";
	}
	return "source";
}

/* 1 when a dtype of spec/FORMAT.md section 10 will be stored. */
static int uses_quant(const packer *p)
{
	int any = lutdb_dtype_is_quantized(p->table_dtype) || lutdb_dtype_is_quantized(p->weight_dtype);

	for (size_t i = 0; i < p->o->tensor_dtype_count; i++)
		any |= lutdb_dtype_is_quantized(p->o->tensor_dtypes[i].dtype);
	return any;
}

/* provenance.json, built before the writer opens so that its exact length
 * sizes the first file (a guess either wasted disk or overflowed the map
 * with many weight files). */
static int make_provenance(packer *p)
{
	const lutdb_ckpt_file *files;
	size_t n;
	char ts[32], hex[33];
	time_t now = time(NULL);
	struct tm tm;
	json_t *root = NULL, *arr;
	int rc;

	if ((rc = lutdb_ckpt_files(p->ck, &files, &n)))
		return rc;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		lutdb_hex16(files[i].digest, hex);
		json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "name", files[i].name, "bytes",
						     (json_int_t)files[i].size, "xxh3_128", hex));
	}
	root = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:s, s:i}}", "tool", "lutdb " LUTDB_VERSION_STRING,
			 "format", uses_quant(p) ? "1.1" : "1.0", "packed_at", ts, "source", "path", lutdb_ckpt_dir(p->ck),
			 "form", p->form == LUTDB_FORM_REP ? "reparameterized" : "training", "files", arr, "options",
			 "dtype", dtype_lower(p->o->dtype), "codec", lutdb_codec_name(p->o->codec),
			 "threads", p->o->threads);
	/* The quantization options, only when used: a float pack's provenance
	 * stays as before. */
	if (root && uses_quant(p)) {
		json_t *opts = json_object_get(root, "options");
		json_object_set_new(opts, "table_dtype", json_string(dtype_lower(p->table_dtype)));
		json_object_set_new(opts, "table_block", json_integer(p->table_block));
		json_object_set_new(opts, "weight_dtype", json_string(dtype_lower(p->weight_dtype)));
		for (size_t i = 0; i < p->o->tensor_dtype_count; i++) {
			json_t *ov = json_object_get(opts, "tensor_dtypes");
			if (!ov)
				json_object_set_new(opts, "tensor_dtypes", ov = json_object());
			json_object_set_new(ov, p->o->tensor_dtypes[i].name,
					    json_string(dtype_lower(p->o->tensor_dtypes[i].dtype)));
		}
	}
	if (!root || !(p->provenance = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)))
		rc = lutdb_fail(LUTDB_ENOMEM, "provenance");
	json_decref(root);
	return rc;
}

static int put_blobs(packer *p)
{
	int rc;

	for (int i = 0; i < LUTDB_CKPT_NBLOBS; i++) {
		const lutdb_ckpt_blob *b = lutdb_ckpt_blob_at(p->ck, i);
		const char *data = b->data;
		size_t len = b->len;
		if (i == 2 && p->tok_override) {
			data = p->tok_override;
			len = p->tok_override_len;
		}
		if (data && (rc = lutdb_writer_put_blob(p->w, b->name, data, len)))
			return rc;
	}
	return lutdb_writer_put_blob(p->w, LUTDB_META_PROVENANCE, p->provenance, strlen(p->provenance));
}

/* Float dtype of a part no quantized dtype applies to: the forced float
 * one, F16 from training form, or the source's own. */
static int float_dtype(const packer *p, int src_dtype)
{
	if (p->float_dtype)
		return p->float_dtype;
	return p->form == LUTDB_FORM_TRAINING ? LUTDB_DTYPE_F16 : src_dtype;
}

/* Stored dtype of tensor s of the stored schema (dtype_plan.h). */
static int tensor_dtype(const packer *p, const lutdb_schema_ent *s, int src_dtype, int *out)
{
	return lutdb_plan_tensor(s, p->weight_dtype, float_dtype(p, src_dtype), p->o->tensor_dtypes,
				 p->o->tensor_dtype_count, out);
}

static int put_tensors(packer *p)
{
	lutdb_schema_ent *st = NULL;
	size_t n;
	int rc;

	if ((rc = lutdb_schema_build(p->cfg, p->family, LUTDB_SCHEMA_STORED, &st, &n)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		lutdb_ckpt_tensor t;
		void *dst;
		uint64_t count = st[i].dims[0] * (st[i].ndim == 2 ? st[i].dims[1] : 1);
		int dt;
		if ((rc = lutdb_ckpt_find(p->ck, st[i].name, &t)))
			break;
		if ((rc = tensor_dtype(p, &st[i], t.dtype, &dt)) ||
		    (rc = lutdb_writer_tensor_begin(p->w, t.name, dt, t.ndim, t.dims, &dst)))
			break;
		lutdb_qacc acc = {0};
		if ((rc = lutdb_qconv_tensor(dt, dst, t.dtype, t.data, count, &acc))) {
			lutdb_fail_prefix(rc, "%s: tensor %s", lutdb_ckpt_dir(p->ck), t.name);
			break;
		}
		if (acc.n && (p->wacc.n == 0 || acc.max_abs > p->wacc.max_abs))
			snprintf(p->wmax_name, sizeof p->wmax_name, "%s", t.name);
		lutdb_qacc_merge(&p->wacc, &acc);
		if (lutdb_dtype_is_quantized(dt) && !p->wq_dtype)
			p->wq_dtype = dt;
		if ((rc = lutdb_writer_tensor_end(p->w)))
			break;
	}
	free(st);
	return rc;
}

/* First non-finite value of n elements of dtype, or -1. */
static int64_t first_nonfinite(int dtype, const void *v, size_t n)
{
	if (dtype == LUTDB_DTYPE_F32) {
		const uint32_t *u = v;
		for (size_t i = 0; i < n; i++)
			if ((u[i] & 0x7F800000u) == 0x7F800000u)
				return (int64_t)i;
	} else {
		const uint16_t *u = v;
		uint16_t mask = dtype == LUTDB_DTYPE_F16 ? 0x7C00 : 0x7F80;
		for (size_t i = 0; i < n; i++)
			if ((u[i] & mask) == mask)
				return (int64_t)i;
	}
	return -1;
}

int lutdb_pack_check_rows(const packer *p, uint32_t t0, uint32_t nt, const void *rows)
{
	size_t per = p->token_row_elems;
	/* A quantized table is checked on its float32 rows, before the
	 * quantizer (which would only name a block). */
	int dt = p->qrows ? LUTDB_DTYPE_F32 : p->table_dtype;
	int64_t bad = first_nonfinite(dt, rows, (size_t)nt * per);

	if (bad < 0)
		return LUTDB_OK;
	uint64_t tok = t0 + (uint64_t)bad / per, e = (uint64_t)bad % per;
	uint64_t layer = e / p->layer_row_elems, within = e % p->layer_row_elems;
	const char *part = "value";
	uint64_t expert;
	if (p->family == LUTDB_FAMILY_MOLKV && within < (uint64_t)p->cfg->experts * p->cfg->kv_dim) {
		part = "key";
		expert = within / p->cfg->kv_dim;
	} else {
		if (p->family == LUTDB_FAMILY_MOLKV)
			within -= (uint64_t)p->cfg->experts * p->cfg->kv_dim;
		expert = within / p->cfg->hidden;
	}
	return lutdb_fail(LUTDB_EBADINPUT, "%s: table %s of layer %llu, token %llu, expert %llu is not finite in %s",
			  lutdb_ckpt_dir(p->ck), part, (unsigned long long)layer, (unsigned long long)tok,
			  (unsigned long long)expert, lutdb_dtype_name(dt));
}

static int report(packer *p, uint64_t done)
{
	if (p->o->progress && p->o->progress(p->o->progress_ctx, done, p->cfg->vocab))
		return lutdb_fail(LUTDB_EINTR, "pack cancelled");
	return LUTDB_OK;
}

/* Rep form: copy (and convert) the stored table rows. */
static int put_table_copy(packer *p)
{
	lutdb_ckpt_tensor t;
	size_t src_row;
	int rc = lutdb_ckpt_find(p->ck, lutdb_schema_table_name(p->family), &t);

	if (rc)
		return rc;
	src_row = p->token_row_elems * lutdb_dtype_size(t.dtype);
	for (uint32_t t0 = 0; t0 < p->cfg->vocab; t0 += p->block) {
		uint32_t nt = p->cfg->vocab - t0 < p->block ? p->cfg->vocab - t0 : p->block;
		const uint8_t *src = (const uint8_t *)t.data + (size_t)t0 * src_row;
		if (p->qrows) {
			lutdb_convert(LUTDB_DTYPE_F32, p->rows_f32, t.dtype, src, (size_t)nt * p->token_row_elems);
			if ((rc = lutdb_pack_check_rows(p, t0, nt, p->rows_f32)) ||
			    (rc = lutdb_qrows_run(p->qrows, p->rows_f32, nt, p->rows, t0)))
				return rc;
		} else {
			lutdb_convert(p->table_dtype, p->rows, t.dtype, src, (size_t)nt * p->token_row_elems);
			if ((rc = lutdb_pack_check_rows(p, t0, nt, p->rows)))
				return rc;
		}
		if ((rc = lutdb_writer_put_rows(p->w, t0, nt, p->rows, p->row_bytes)) || (rc = report(p, t0 + nt)))
			return rc;
	}
	return LUTDB_OK;
}

/* The quantizer of a quantized table's rows, on the pack's pool. */
static int qrows_start(packer *p)
{
	if (!lutdb_dtype_is_quantized(p->table_dtype))
		return LUTDB_OK;
	if (!(p->qrows = calloc(1, sizeof *p->qrows)))
		return lutdb_fail(LUTDB_ENOMEM, "pack");
	return lutdb_qrows_init(p->qrows, p->table_dtype, p->table_block, p->token_row_elems, p->row_bytes, p->pool);
}

static void qrows_stop(packer *p, lutdb_quant_error *out)
{
	if (!p->qrows)
		return;
	if (out) {
		const lutdb_qacc *a = &p->qrows->acc;
		uint64_t per = p->token_row_elems;
		lutdb_qerror_fill(out, p->table_dtype, p->table_block, a);
		out->token = (uint32_t)(a->max_at / per);
		lutdb_qrow_place(p->family, p->cfg->experts, p->cfg->hidden, p->cfg->kv_dim, p->layer_row_elems,
				 a->max_at % per, &out->layer, &out->key, &out->expert);
	}
	lutdb_qrows_free(p->qrows);
	free(p->qrows);
	p->qrows = NULL;
}

/* Rep form: the pool and float32 rows a quantized table needs. */
static int put_table_copy_q(packer *p, lutdb_quant_error *err)
{
	int rc = LUTDB_OK;

	if (lutdb_dtype_is_quantized(p->table_dtype)) {
		p->pool = lk_pool_new(p->o->threads);
		p->rows_f32 = malloc((size_t)p->block * p->token_row_elems * sizeof(float));
		if (!p->pool || !p->rows_f32)
			rc = lutdb_fail(LUTDB_ENOMEM, "pack: quantization buffers");
	}
	if (rc == LUTDB_OK && (rc = qrows_start(p)) == LUTDB_OK)
		rc = put_table_copy(p);
	qrows_stop(p, rc ? NULL : err);
	lk_pool_free(p->pool);
	p->pool = NULL;
	free(p->rows_f32);
	p->rows_f32 = NULL;
	return rc;
}

static int put_table_reparam(packer *p, lutdb_quant_error *err)
{
	int rc = lutdb_reparam_init(p);

	if (rc == LUTDB_OK)
		rc = qrows_start(p);
	for (uint32_t t0 = 0; rc == LUTDB_OK && t0 < p->cfg->vocab; t0 += p->block) {
		uint32_t nt = p->cfg->vocab - t0 < p->block ? p->cfg->vocab - t0 : p->block;
		if ((rc = lutdb_reparam_block(p, t0, nt)))
			break;
		if (p->qrows) {
			if ((rc = lutdb_pack_check_rows(p, t0, nt, p->rows_f32)) ||
			    (rc = lutdb_qrows_run(p->qrows, p->rows_f32, nt, p->rows, t0)))
				break;
		} else {
			lutdb_convert(p->table_dtype, p->rows, LUTDB_DTYPE_F32, p->rows_f32,
				      (size_t)nt * p->token_row_elems);
			if ((rc = lutdb_pack_check_rows(p, t0, nt, p->rows)))
				break;
		}
		if ((rc = lutdb_writer_put_rows(p->w, t0, nt, p->rows, p->row_bytes)) || (rc = report(p, t0 + nt)))
			break;
	}
	qrows_stop(p, rc ? NULL : err);
	lutdb_reparam_free(p);
	return rc;
}

/* The writer's sizing fields: what the database holds besides table rows
 * (dense tensors in their stored dtypes, blobs, config.json). */
static int dense_sizes(const packer *p, lutdb_writer_params *wp)
{
	lutdb_schema_ent *st;
	size_t n;
	int rc;

	if ((rc = lutdb_schema_build(p->cfg, p->family, LUTDB_SCHEMA_STORED, &st, &n)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		lutdb_ckpt_tensor t;
		int dt;
		if (lutdb_ckpt_find(p->ck, st[i].name, &t))
			continue;
		if ((rc = tensor_dtype(p, &st[i], t.dtype, &dt)))
			break;
		wp->dense_bytes += lutdb_dtype_bytes(dt, 32, st[i].dims[0] * (st[i].ndim == 2 ? st[i].dims[1] : 1));
		wp->dense_records++;
	}
	free(st);
	if (rc)
		return rc;
	wp->config_bytes = lutdb_ckpt_blob_at(p->ck, 0)->len;
	for (int i = 1; i < LUTDB_CKPT_NBLOBS; i++)
		if (lutdb_ckpt_blob_at(p->ck, i)->data) {
			wp->dense_bytes += lutdb_ckpt_blob_at(p->ck, i)->len;
			wp->dense_records++;
		}
	/* provenance.json, and the --tokenizer replacement */
	wp->dense_bytes += strlen(p->provenance) + p->tok_override_len;
	wp->dense_records += 2;
	return LUTDB_OK;
}

/* The dtypes of the two parts (lutdb_pack_opts): the table's and its block,
 * the weight dtype and the float dtype of what it does not apply to; the
 * overrides checked against the stored schema. */
static int plan_dtypes(packer *p)
{
	const lutdb_pack_opts *o = p->o;
	lutdb_schema_ent *st = NULL;
	size_t n;
	int rc;

	p->float_dtype = lutdb_dtype_size(o->dtype) ? o->dtype : 0;
	p->weight_dtype = o->weight_dtype ? o->weight_dtype : o->dtype;
	if (o->table_dtype || o->dtype) {
		p->table_dtype = o->table_dtype ? o->table_dtype : o->dtype;
	} else {
		lutdb_ckpt_tensor tab;
		int src_dt = LUTDB_DTYPE_F32;
		if (p->form == LUTDB_FORM_REP && !lutdb_ckpt_find(p->ck, lutdb_schema_table_name(p->family), &tab))
			src_dt = tab.dtype;
		p->table_dtype = float_dtype(p, src_dt);
	}
	if ((rc = lutdb_plan_table_block(p->table_dtype, o->table_block, p->family, p->cfg->hidden,
					 p->family == LUTDB_FAMILY_MOLKV ? p->cfg->kv_dim : 0, &p->table_block)))
		return lutdb_fail_prefix(rc, "table");
	if (lutdb_dtype_is_quantized(p->table_dtype) && o->codec == LUTDB_CODEC_SHUFFLE_LZ4)
		return lutdb_fail(LUTDB_EINVAL, "codec shuffle-lz4 shuffles by element size, which a %s table does not "
				  "have: use lz4-noshuffle (LUTDB_CODEC_LZ4) or none", lutdb_dtype_name(p->table_dtype));
	if ((rc = lutdb_schema_build(p->cfg, p->family, LUTDB_SCHEMA_STORED, &st, &n)))
		return rc;
	rc = lutdb_plan_check_overrides(st, n, o->tensor_dtypes, o->tensor_dtype_count);
	free(st);
	return rc;
}

int lutdb_pack(const char *src, const char *out_path, const lutdb_pack_opts *opts)
{
	lutdb_pack_opts o;
	packer p;
	int rc;

	memset(&p, 0, sizeof p);
	if ((rc = lutdb_pack_opts_resolve(opts, &o)))
		return rc;
	p.o = &o;
	if ((rc = lutdb_ckpt_open(src, &p.ck)))
		return rc;
	p.cfg = lutdb_ckpt_config(p.ck);
	if ((rc = detect(&p)) || (rc = check_tensors(&p)))
		goto out;
	if (p.o->tokenizer && (rc = lutdb_pack_read_file(p.o->tokenizer, &p.tok_override, &p.tok_override_len)))
		goto out;
	if ((rc = lutdb_pack_check_tokenizer(&p)))
		goto out;
	if ((rc = plan_dtypes(&p)))
		goto out;
	lutdb_geometry g = {p.family, p.cfg->experts, p.cfg->hidden,
			    p.family == LUTDB_FAMILY_MOLKV ? p.cfg->kv_dim : 0, p.table_dtype, p.table_block};
	p.layer_row_elems = (uint32_t)lutdb_geom_layer_elems(&g);
	p.token_row_elems = (size_t)p.cfg->layers * p.layer_row_elems;
	p.row_bytes = (size_t)lutdb_geom_token_bytes(&g, p.cfg->layers);
	{
		/* float32 rows too: computed (training form) or to quantize. */
		int f32_rows = p.form == LUTDB_FORM_TRAINING || lutdb_dtype_is_quantized(p.table_dtype);
		uint64_t per = p.row_bytes + (f32_rows ? p.token_row_elems * 4 : 0);
		uint64_t b = PACK_ROWS_BUDGET / (per ? per : 1);
		b = b < 16 ? 16 : b > 2048 ? 2048 : b & ~15ull;
		p.block = (uint32_t)b;
	}
	p.rows = malloc((size_t)p.block * p.row_bytes);
	if (!p.rows) {
		rc = lutdb_fail(LUTDB_ENOMEM, "pack: row buffer of %zu bytes", (size_t)p.block * p.row_bytes);
		goto out;
	}
	lutdb_writer_params wp = {
		.size = sizeof wp,
		.family = p.family,
		.source_form = p.form,
		.vocab = p.cfg->vocab,
		.hidden = p.cfg->hidden,
		.layers = p.cfg->layers,
		.experts = p.cfg->experts,
		.intermediate = p.cfg->intermediate,
		.heads = p.cfg->heads,
		.kv_heads = p.cfg->kv_heads,
		.kv_dim = p.family == LUTDB_FAMILY_MOLKV ? p.cfg->kv_dim : 0,
		.kv_expert_heads = p.family == LUTDB_FAMILY_MOLKV ? p.cfg->kv_expert_heads : 0,
		.kv_window = p.family == LUTDB_FAMILY_MOLKV ? p.cfg->kv_window : 0,
		.tied = p.cfg->tied,
		.table_dtype = p.table_dtype,
		.table_codec = p.o->codec,
		.block_tokens = p.o->block_tokens,
		.table_block = p.table_block,
	};
	if ((rc = make_provenance(&p)) || (rc = dense_sizes(&p, &wp)))
		goto out;
	if ((rc = lutdb_writer_open(out_path, &wp, p.o->shards, 1, &p.w)) || (rc = put_blobs(&p)) || (rc = put_tensors(&p)))
		goto out;
	lutdb_quant_report qr;
	memset(&qr, 0, sizeof qr);
	rc = p.form == LUTDB_FORM_REP ? put_table_copy_q(&p, &qr.table) : put_table_reparam(&p, &qr.table);
	if (rc)
		goto out;
	rc = lutdb_writer_commit(p.w);
	p.w = NULL;
	if (rc == LUTDB_OK && p.o->report) {
		if (p.wacc.n) {
			lutdb_qerror_fill(&qr.weights, p.wq_dtype, 32, &p.wacc);
			snprintf(qr.weights.tensor, sizeof qr.weights.tensor, "%s", p.wmax_name);
			qr.weights.index = p.wacc.max_at;
		}
		*p.o->report = qr;
	}
out:
	lutdb_writer_abort(p.w);
	free(p.rows);
	free(p.schema);
	free(p.tok_override);
	free(p.provenance);
	lutdb_ckpt_close(p.ck);
	return rc;
}
