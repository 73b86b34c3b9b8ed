/*
 * config.h - model configuration from a Hugging Face config.json (internal).
 *
 * Missing keys take the defaults of transformers' LlamaConfig; MoLE/MoLKV
 * keys (num_experts, kv_expert_*) have no Llama default: num_experts is
 * required, kv_expert_dim/heads are required for MoLKV, kv_expert_window
 * defaults to 0.
 */
#ifndef LUTDB_CONFIG_H
#define LUTDB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define LUTDB_MAX_EOS 16
/* config.json and generation_config.json: real ones are a few KB
 * (generation_config.json under 1 KB); 1 MiB is a few hundred times that,
 * and bounds what every open of a database spends on its stored config
 * (spec/SECURITY.md section 1.8). */
#define LUTDB_CONFIG_JSON_MAX ((size_t)1 << 20)

typedef struct lutdb_config {
	uint32_t vocab, hidden, intermediate, layers, heads, kv_heads, head_dim;
	uint32_t max_position;
	float rms_norm_eps, rope_theta;
	int tied;
	uint32_t experts;                       /* 0 when the key is absent */
	uint32_t kv_dim, kv_expert_heads, kv_window;
	int has_kv_keys;                        /* kv_expert_dim present */
	int64_t bos_token_id;                   /* -1 when null */
	uint32_t n_eos;
	uint32_t eos[LUTDB_MAX_EOS];
} lutdb_config;

/* Parses config.json bytes (what = name used in error details; at most
 * LUTDB_CONFIG_JSON_MAX bytes, parsed by lutdb_json_load).  Checks the
 * types and ranges of every key it reads; rejects non-null rope_scaling and
 * heads not dividing hidden_size.  Family-specific checks are done by the
 * caller once the family is known (lutdb_config_check_family). */
int lutdb_config_parse(const char *json, size_t len, const char *what, lutdb_config *out);

/* eos_token_id from generation_config.json overrides config.json's (the
 * same cap).  Out of memory is LUTDB_ENOMEM; anything wrong with the
 * document LUTDB_EBADINPUT. */
int lutdb_config_apply_generation(lutdb_config *c, const char *json, size_t len, const char *what);

/* Family checks: MoLE needs num_experts; MoLKV also kv_expert_dim/heads with
 * H dividing both dk and d. */
int lutdb_config_check_family(const lutdb_config *c, int family, const char *what);

#endif
