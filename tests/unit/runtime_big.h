/* runtime_big.h - larger random models (written, packed into tmpdir) for the test_runtime*.c suites (header-only). */
#ifndef LUTDB_RUNTIME_BIG_H
#define LUTDB_RUNTIME_BIG_H

#include "runtime_cases.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static inline float urand(float a)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (float)((double)(rs >> 11) * (2.0 / 9007199254740992.0) - 1.0) * a;
}

typedef struct bigm {
	const char *tag;
	int family; /* 1 MoLE, 2 MoLKV */
	uint32_t V, d, heads, kv_heads, I, L, N, dk, H, W, max_pos;
	int dtype, codec; /* pack options */
	int table_dtype, weight_dtype; /* 0: dtype's */
	uint32_t table_block;
} bigm;

/* The last two are quantized (issue 13): every property the suites check on
 * the float models holds for quantized weights (integer dot products on
 * 8-bit activation blocks) and tables (decoded in registers) too. */
static const bigm bigs[] = {
	{"big_mole", 1, 1536, 256, 8, 2, 512, 2, 4, 0, 0, 0, 160, LUTDB_DTYPE_F32, 0, 0, 0, 0},
	{"big_molkv", 2, 1024, 256, 8, 4, 384, 2, 3, 64, 4, 0, 160, LUTDB_DTYPE_F16, 0, 0, 0, 0},
	{"big_molkv_w", 2, 1024, 256, 8, 8, 384, 2, 3, 64, 4, 7, 160, LUTDB_DTYPE_BF16, 2, 0, 0, 0},
	{"big_mole_q4nf4", 1, 1536, 256, 8, 2, 512, 2, 4, 0, 0, 0, 160, LUTDB_DTYPE_F16, 0, LUTDB_DTYPE_NF4,
	 LUTDB_DTYPE_Q4_0, 64},
	{"big_molkv_q8", 2, 1024, 256, 8, 4, 384, 2, 3, 64, 4, 7, 160, LUTDB_DTYPE_F32, 0, LUTDB_DTYPE_Q8_0,
	 LUTDB_DTYPE_Q8_0, 32},
};

struct st_t {
	char name[96];
	uint64_t r, c; /* c 0: 1-D */
	float scale, base;
};

static inline int st_cmp(const void *a, const void *b)
{
	return strcmp(((const struct st_t *)a)->name, ((const struct st_t *)b)->name);
}

/* Writes a rep-form F32 checkpoint of g (config.json + model.safetensors). */
static inline void write_big_ckpt(const bigm *g, const char *dir)
{
	struct st_t t[64];
	int nt = 0;
	uint32_t hd = g->d / g->heads, slot = g->d + (g->family == 2 ? g->dk : 0);
#define ADD(nm, rr, cc, sc, bs)                                                                               \
	do {                                                                                                  \
		snprintf(t[nt].name, sizeof t[nt].name, "%s", nm);                                            \
		t[nt].r = rr;                                                                                 \
		t[nt].c = cc;                                                                                 \
		t[nt].scale = sc;                                                                             \
		t[nt].base = bs;                                                                              \
		nt++;                                                                                         \
	} while (0)
	ADD("model.embed_tokens.weight", g->V, g->d, 0.1f, 0);
	ADD("lm_head.weight", g->V, g->d, 0.1f, 0);
	ADD("model.norm.weight", g->d, 0, 0.2f, 1);
	ADD(g->family == 1 ? "model.moe_table.weight" : "model.kv_table.weight", g->V, (uint64_t)g->L * g->N * slot,
	    0.3f, 0);
	for (uint32_t l = 0; l < g->L; l++) {
		char n[96];
#define LADD(sfx, rr, cc, sc, bs)                                                                             \
	do {                                                                                                  \
		snprintf(n, sizeof n, "model.layers.%u.%s", l, sfx);                                          \
		ADD(n, rr, cc, sc, bs);                                                                       \
	} while (0)
		LADD("self_attn.q_proj.weight", g->heads * hd, g->d, 0.12f, 0);
		LADD("self_attn.k_proj.weight", g->kv_heads * hd, g->d, 0.12f, 0);
		LADD("self_attn.v_proj.weight", g->kv_heads * hd, g->d, 0.08f, 0);
		LADD("self_attn.o_proj.weight", g->d, g->heads * hd, 0.08f, 0);
		LADD("mlp.up_proj.weight", g->I, g->d, 0.08f, 0);
		LADD("mlp.down_proj.weight", g->d, g->I, 0.08f, 0);
		LADD("input_layernorm.weight", g->d, 0, 0.2f, 1);
		LADD("post_attention_layernorm.weight", g->d, 0, 0.2f, 1);
		if (g->family == 1)
			LADD("router.weight", g->N, g->d, 0.2f, 0);
		else
			LADD("expert_query.weight", g->dk, g->d, 0.2f, 0);
	}
	qsort(t, (size_t)nt, sizeof *t, st_cmp);
	json_t *hdr = json_object();
	uint64_t off = 0;
	for (int i = 0; i < nt; i++) {
		uint64_t n = t[i].r * (t[i].c ? t[i].c : 1);
		json_t *shape = t[i].c ? json_pack("[I, I]", (json_int_t)t[i].r, (json_int_t)t[i].c)
				       : json_pack("[I]", (json_int_t)t[i].r);
		json_object_set_new(hdr, t[i].name,
				    json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
					      (json_int_t)off, (json_int_t)(off + n * 4)));
		off += n * 4;
	}
	char *h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	size_t hl = strlen(h), pad = (8 - hl % 8) % 8;
	char p[4300];
	mkdir(dir, 0755);
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	uint64_t total = hl + pad;
	ck_assert_int_eq(fwrite(&total, 8, 1, f), 1);
	ck_assert_int_eq(fwrite(h, 1, hl, f), hl);
	ck_assert_int_eq(fwrite("        ", 1, pad, f), pad);
	for (int i = 0; i < nt; i++) {
		uint64_t n = t[i].r * (t[i].c ? t[i].c : 1);
		float buf[1024];
		for (uint64_t k = 0; k < n; k += 1024) {
			size_t m = n - k < 1024 ? (size_t)(n - k) : 1024;
			for (size_t j = 0; j < m; j++)
				buf[j] = t[i].base + urand(t[i].scale);
			ck_assert_int_eq(fwrite(buf, 4, m, f), m);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
	free(h);
	json_decref(hdr);
	json_t *cfg = json_pack("{s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:f, s:I, s:I, s:I, s:I, s:b, s:s}",
				"architectures", g->family == 1 ? "MoleForCausalLM" : "MolkvForCausalLM", "model_type",
				g->family == 1 ? "llama" : "molkv", "vocab_size", (json_int_t)g->V, "hidden_size",
				(json_int_t)g->d, "intermediate_size", (json_int_t)g->I, "num_hidden_layers",
				(json_int_t)g->L, "num_attention_heads", (json_int_t)g->heads, "num_key_value_heads",
				(json_int_t)g->kv_heads, "hidden_act", "gelu", "rms_norm_eps", 1e-5,
				"max_position_embeddings", (json_int_t)g->max_pos, "bos_token_id", (json_int_t)1,
				"eos_token_id", (json_int_t)2, "num_experts", (json_int_t)g->N, "tie_word_embeddings", 0,
				"torch_dtype", "float32");
	if (g->family == 2) {
		json_object_set_new(cfg, "kv_expert_dim", json_integer(g->dk));
		json_object_set_new(cfg, "kv_expert_heads", json_integer(g->H));
		json_object_set_new(cfg, "kv_expert_window", json_integer(g->W));
	}
	snprintf(p, sizeof p, "%s/config.json", dir);
	ck_assert_int_eq(json_dump_file(cfg, p, JSON_INDENT(2)), 0);
	json_decref(cfg);
#undef LADD
#undef ADD
}

static inline void big_db(const bigm *g, char *db, size_t n)
{
	char dir[4300];
	snprintf(db, n, "%s/%s.lutdb", tmpdir, g->tag);
	if (file_exists(db))
		return;
	snprintf(dir, sizeof dir, "%s/%s-ckpt", tmpdir, g->tag);
	rs = 0x9e3779b97f4a7c15ull ^ (uint64_t)g->V * 131 ^ g->W;
	write_big_ckpt(g, dir);
	lutdb_pack_opts o = {.size = sizeof o, .dtype = g->dtype, .codec = g->codec, .threads = 2,
			     .table_dtype = g->table_dtype, .weight_dtype = g->weight_dtype, .table_block = g->table_block};
	ck_assert_msg(lutdb_pack(dir, db, &o) == LUTDB_OK, "%s: %s", g->tag, lutdb_errdetail());
}

#endif
