/*
 * gen_model.c - random models at any geometry, for benchmarks.
 *
 *   gen_model ckpt OUTDIR [options]     training-form HF checkpoint
 *                                       (config.json + model.safetensors)
 *   gen_model db OUT.lutdb [options]    a database written directly with
 *                                       random table rows (no reparam), for
 *                                       runtime benchmarks of huge tables
 * options: --vocab V --hidden d --layers L --experts N --inter I --heads H
 *          --family mole|molkv --kv-dim dk --kv-heads H --window W
 *          --dtype f16|bf16|f32 --seed S
 * Values: uniform with the standard deviation of a 0.02-normal; norm
 * weights 1.  Benchmarks only measure speed and sizes, so any values do.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "lutdb.h"
#include "lutdb_types.h"
#include "schema.h"

typedef struct gen {
	uint32_t V, d, L, N, I, heads, dk, H, W;
	int family, dtype;
	uint64_t seed;
} gen;

static uint64_t rng;

static float urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0) * 0.0346f;
}

static void fill(int dtype, void *dst, size_t n, int ones)
{
	enum { CH = 4096 };
	float buf[CH];
	size_t esz = lutdb_dtype_size(dtype);
	for (size_t i = 0; i < n; i += CH) {
		size_t m = n - i < CH ? n - i : CH;
		for (size_t k = 0; k < m; k++)
			buf[k] = ones ? 1.0f + urand() : urand();
		lutdb_convert(dtype, (uint8_t *)dst + i * esz, LUTDB_DTYPE_F32, buf, m);
	}
}

static char *config_text(const gen *g)
{
	json_t *c = json_pack("{s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:b, s:i, s:i}",
			      "architectures", g->family == 2 ? "MolkvForCausalLM" : "MoleForCausalLM",
			      "model_type", g->family == 2 ? "molkv" : "llama", "vocab_size", (json_int_t)g->V,
			      "hidden_size", (json_int_t)g->d, "intermediate_size", (json_int_t)g->I,
			      "num_hidden_layers", (json_int_t)g->L, "num_attention_heads", (json_int_t)g->heads,
			      "num_key_value_heads", (json_int_t)g->heads, "max_position_embeddings", (json_int_t)4096,
			      "rms_norm_eps", 1e-5, "num_experts", (json_int_t)g->N, "tie_word_embeddings", 0,
			      "bos_token_id", 0, "eos_token_id", 0);
	if (g->family == 2) {
		json_object_set_new(c, "kv_expert_dim", json_integer(g->dk));
		json_object_set_new(c, "kv_expert_heads", json_integer(g->H));
		json_object_set_new(c, "kv_expert_window", json_integer(g->W));
	}
	char *s = json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(c);
	return s;
}

static int schema(const gen *g, int kind, lutdb_schema_ent **s, size_t *n, const char *cfg)
{
	lutdb_config c;
	if (lutdb_config_parse(cfg, strlen(cfg), "config", &c))
		return -1;
	return lutdb_schema_build(&c, g->family, kind, s, n);
}

static int write_ckpt(const gen *g, const char *dir)
{
	char path[4096], *cfg = config_text(g);
	lutdb_schema_ent *s;
	size_t n;
	FILE *f;
	json_t *hdr = json_object();
	uint64_t off = 0, esz = lutdb_dtype_size(g->dtype);

	if (mkdir(dir, 0755) && errno != EEXIST)
		return perror(dir), 1;
	snprintf(path, sizeof path, "%s/config.json", dir);
	f = fopen(path, "w");
	fputs(cfg, f);
	fclose(f);
	if (schema(g, LUTDB_SCHEMA_TRAINING, &s, &n, cfg))
		return fprintf(stderr, "bad geometry: %s\n", lutdb_errdetail()), 1;
	json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
	for (size_t i = 0; i < n; i++) {
		uint64_t cnt = s[i].dims[0] * (s[i].ndim == 2 ? s[i].dims[1] : 1);
		json_t *shape = s[i].ndim == 2 ? json_pack("[I,I]", (json_int_t)s[i].dims[0], (json_int_t)s[i].dims[1])
					       : json_pack("[I]", (json_int_t)s[i].dims[0]);
		json_object_set_new(hdr, s[i].name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", lutdb_dtype_name(g->dtype),
							     "shape", shape, "data_offsets", (json_int_t)off,
							     (json_int_t)(off + cnt * esz)));
		off += cnt * esz;
	}
	char *h = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	uint64_t hl = (strlen(h) + 7) & ~7ull;
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	f = fopen(path, "wb");
	fwrite(&hl, 8, 1, f);
	fputs(h, f);
	for (uint64_t k = strlen(h); k < hl; k++)
		fputc(' ', f);
	void *buf = malloc(64 << 20);
	for (size_t i = 0; i < n; i++) {
		uint64_t cnt = s[i].dims[0] * (s[i].ndim == 2 ? s[i].dims[1] : 1);
		int ones = s[i].ndim == 1;
		for (uint64_t done = 0; done < cnt;) {
			uint64_t m = cnt - done < (32u << 20) / 4 ? cnt - done : (32u << 20) / 4;
			fill(g->dtype, buf, m, ones);
			fwrite(buf, esz, m, f);
			done += m;
		}
	}
	if (fclose(f))
		return perror(path), 1;
	free(buf);
	free(h);
	free(cfg);
	free(s);
	json_decref(hdr);
	return 0;
}

static int write_db(const gen *g, const char *out)
{
	char *cfg = config_text(g);
	lutdb_schema_ent *s;
	size_t n;
	lutdb_writer *w;
	uint32_t rowel = g->family == 2 ? g->N * (g->dk + g->d) : g->N * g->d;
	size_t rowb = (size_t)g->L * rowel * lutdb_dtype_size(g->dtype);
	int rc;

	if (schema(g, LUTDB_SCHEMA_STORED, &s, &n, cfg))
		return fprintf(stderr, "bad geometry: %s\n", lutdb_errdetail()), 1;
	lutdb_writer_params p = {.size = sizeof p, .family = g->family, .source_form = 2, .vocab = g->V,
				 .hidden = g->d, .layers = g->L, .experts = g->N, .intermediate = g->I,
				 .heads = g->heads, .kv_heads = g->heads, .kv_dim = g->family == 2 ? g->dk : 0,
				 .kv_expert_heads = g->family == 2 ? g->H : 0, .kv_window = g->W,
				 .table_dtype = g->dtype, .dense_records = n, .config_bytes = strlen(cfg)};
	for (size_t i = 0; i < n; i++)
		p.dense_bytes += s[i].dims[0] * (s[i].ndim == 2 ? s[i].dims[1] : 1) * lutdb_dtype_size(g->dtype);
	if ((rc = lutdb_writer_open(out, &p, NULL, 1, &w)) ||
	    (rc = lutdb_writer_put_blob(w, "config.json", cfg, strlen(cfg))))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		void *dst;
		uint64_t cnt = s[i].dims[0] * (s[i].ndim == 2 ? s[i].dims[1] : 1);
		if ((rc = lutdb_writer_tensor_begin(w, s[i].name, g->dtype, s[i].ndim, s[i].dims, &dst)))
			goto fail;
		fill(g->dtype, dst, cnt, s[i].ndim == 1);
		if ((rc = lutdb_writer_tensor_end(w)))
			goto fail;
	}
	enum { BLK = 64 };
	void *rows = malloc(BLK * rowb);
	for (uint32_t t = 0; t < g->V; t += BLK) {
		uint32_t m = g->V - t < BLK ? g->V - t : BLK;
		fill(g->dtype, rows, (size_t)m * rowb / lutdb_dtype_size(g->dtype), 0);
		if ((rc = lutdb_writer_put_rows(w, t, m, rows, rowb)))
			goto fail;
	}
	free(rows);
	rc = lutdb_writer_commit(w);
	w = NULL;
	if (rc)
		goto fail;
	free(cfg);
	free(s);
	return 0;
fail:
	lutdb_writer_abort(w);
	fprintf(stderr, "gen_model: %s (%s)\n", lutdb_errdetail(), lutdb_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	gen g = {.V = 50304, .d = 768, .L = 12, .N = 4, .I = 3072, .heads = 12, .dk = 128, .H = 4, .W = 0,
		 .family = 1, .dtype = LUTDB_DTYPE_F16, .seed = 1};
	if (argc < 3)
		return fprintf(stderr, "usage: gen_model ckpt|db OUT [options]\n"), 2;
	for (int i = 3; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		uint32_t x = (uint32_t)strtoul(v, NULL, 10);
		if (!strcmp(k, "--vocab")) g.V = x;
		else if (!strcmp(k, "--hidden")) g.d = x;
		else if (!strcmp(k, "--layers")) g.L = x;
		else if (!strcmp(k, "--experts")) g.N = x;
		else if (!strcmp(k, "--inter")) g.I = x;
		else if (!strcmp(k, "--heads")) g.heads = x;
		else if (!strcmp(k, "--kv-dim")) g.dk = x;
		else if (!strcmp(k, "--kv-heads")) g.H = x;
		else if (!strcmp(k, "--window")) g.W = x;
		else if (!strcmp(k, "--seed")) g.seed = x;
		else if (!strcmp(k, "--family")) g.family = !strcmp(v, "molkv") ? 2 : 1;
		else if (!strcmp(k, "--dtype")) g.dtype = !strcmp(v, "f32") ? LUTDB_DTYPE_F32 : !strcmp(v, "bf16") ? LUTDB_DTYPE_BF16 : LUTDB_DTYPE_F16;
		else return fprintf(stderr, "gen_model: unknown option %s\n", k), 2;
	}
	rng = 0x9E3779B97F4A7C15ull ^ g.seed;
	return !strcmp(argv[1], "ckpt") ? write_ckpt(&g, argv[2]) : write_db(&g, argv[2]);
}
