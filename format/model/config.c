/* config.c - config.json parsing with LlamaConfig defaults. */
#include "config.h"

#include <jansson.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "lutdb_err.h"
#include "lutdb_types.h"
#include "fail.h"
#include "json_bounded.h"

/* Upper bound on any size in a config: keeps every product below in 64 bits
 * and rejects absurd (hostile) values early. */
#define CONFIG_DIM_MAX (1u << 24)

static int get_u32(json_t *root, const char *key, uint32_t def, int required, uint32_t max, const char *what,
		   uint32_t *out)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		if (required)
			return lutdb_fail(LUTDB_EBADINPUT, "%s: missing \"%s\"", what, key);
		*out = def;
		return LUTDB_OK;
	}
	if (!json_is_integer(v))
		return lutdb_fail(LUTDB_EBADINPUT, "%s: \"%s\" must be an integer", what, key);
	json_int_t i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		return lutdb_fail(LUTDB_EBADINPUT, "%s: \"%s\" = %lld is out of range (0..%u)", what, key,
				  (long long)i, max);
	*out = (uint32_t)i;
	return LUTDB_OK;
}

static int get_float(json_t *root, const char *key, double def, const char *what, float *out)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		*out = (float)def;
		return LUTDB_OK;
	}
	if (!json_is_number(v))
		return lutdb_fail(LUTDB_EBADINPUT, "%s: \"%s\" must be a number", what, key);
	double d = json_number_value(v);
	/* Stored as float: 1e-85 would become 0 and 1e300 infinity. */
	if (!isfinite(d) || d < (double)FLT_MIN || d > (double)FLT_MAX)
		return lutdb_fail(LUTDB_EBADINPUT, "%s: \"%s\" must be a positive number in float range", what, key);
	*out = (float)d;
	return LUTDB_OK;
}

static int get_eos(json_t *root, const char *what, lutdb_config *c)
{
	json_t *v = json_object_get(root, "eos_token_id");

	if (!v)
		return 1; /* absent: caller keeps the current value */
	c->n_eos = 0;
	if (json_is_null(v))
		return LUTDB_OK;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || i > UINT32_MAX)
			return lutdb_fail(LUTDB_EBADINPUT, "%s: eos_token_id out of range", what);
		c->eos[c->n_eos++] = (uint32_t)i;
		return LUTDB_OK;
	}
	if (!json_is_array(v))
		return lutdb_fail(LUTDB_EBADINPUT, "%s: eos_token_id must be an integer or a list", what);
	if (json_array_size(v) > LUTDB_MAX_EOS)
		return lutdb_fail(LUTDB_EBADINPUT, "%s: eos_token_id lists %zu ids (at most %d)", what,
				  json_array_size(v), LUTDB_MAX_EOS);
	size_t k;
	json_t *e;
	json_array_foreach(v, k, e) {
		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > UINT32_MAX)
			return lutdb_fail(LUTDB_EBADINPUT, "%s: eos_token_id[%zu] is not a token id", what, k);
		c->eos[c->n_eos++] = (uint32_t)json_integer_value(e);
	}
	return LUTDB_OK;
}

static json_t *load(const char *json, size_t len, const char *what, int *rc)
{
	const lutdb_json_doc doc = {what, LUTDB_CONFIG_JSON_MAX, LUTDB_EBADINPUT, 0, 0};
	json_t *root;

	if ((*rc = lutdb_json_load(&doc, json, len, &root)))
		return NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		*rc = lutdb_fail(LUTDB_EBADINPUT, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

int lutdb_config_parse(const char *json, size_t len, const char *what, lutdb_config *c)
{
	int rc;
	json_t *root = load(json, len, what, &rc);
	json_t *v;

	if (!root)
		return rc;
	memset(c, 0, sizeof *c);
	/* LlamaConfig defaults. */
	if ((rc = get_u32(root, "vocab_size", 32000, 0, CONFIG_DIM_MAX, what, &c->vocab)) ||
	    (rc = get_u32(root, "hidden_size", 4096, 0, CONFIG_DIM_MAX, what, &c->hidden)) ||
	    (rc = get_u32(root, "intermediate_size", 11008, 0, CONFIG_DIM_MAX, what, &c->intermediate)) ||
	    (rc = get_u32(root, "num_hidden_layers", 32, 0, 65535, what, &c->layers)) ||
	    (rc = get_u32(root, "num_attention_heads", 32, 0, 65535, what, &c->heads)) ||
	    (rc = get_u32(root, "num_key_value_heads", c->heads, 0, 65535, what, &c->kv_heads)) ||
	    (rc = get_u32(root, "max_position_embeddings", 2048, 0, CONFIG_DIM_MAX, what, &c->max_position)) ||
	    (rc = get_float(root, "rms_norm_eps", 1e-6, what, &c->rms_norm_eps)) ||
	    (rc = get_float(root, "rope_theta", 10000.0, what, &c->rope_theta)) ||
	    (rc = get_u32(root, "num_experts", 0, 0, 65535, what, &c->experts)) ||
	    (rc = get_u32(root, "kv_expert_dim", 0, 0, CONFIG_DIM_MAX, what, &c->kv_dim)) ||
	    (rc = get_u32(root, "kv_expert_heads", 0, 0, 65535, what, &c->kv_expert_heads)) ||
	    (rc = get_u32(root, "kv_expert_window", 0, 0, UINT32_MAX, what, &c->kv_window)))
		goto out;
	c->has_kv_keys = json_object_get(root, "kv_expert_dim") != NULL;
	if (c->vocab == 0 || c->hidden == 0 || c->intermediate == 0 || c->layers == 0 || c->heads == 0 ||
	    c->kv_heads == 0 || c->max_position == 0) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: vocab_size, hidden_size, intermediate_size, "
				"num_hidden_layers, num_attention_heads, num_key_value_heads and "
				"max_position_embeddings must be positive", what);
		goto out;
	}
	if (c->hidden % c->heads != 0) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: num_attention_heads %u does not divide hidden_size %u", what,
				c->heads, c->hidden);
		goto out;
	}
	if (c->heads % c->kv_heads != 0) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: num_key_value_heads %u does not divide num_attention_heads %u",
				what, c->kv_heads, c->heads);
		goto out;
	}
	c->head_dim = c->hidden / c->heads;
	v = json_object_get(root, "head_dim");
	if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) != (json_int_t)c->head_dim)) {
		rc = lutdb_fail(LUTDB_EBADINPUT, "%s: head_dim must equal hidden_size / num_attention_heads (%u)",
				what, c->head_dim);
		goto out;
	}
	v = json_object_get(root, "rope_scaling");
	if (v && !json_is_null(v)) {
		rc = lutdb_fail(LUTDB_EUNSUPPORTED, "%s: rope_scaling must be null (scaled RoPE is not supported)",
				what);
		goto out;
	}
	v = json_object_get(root, "tie_word_embeddings");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			rc = lutdb_fail(LUTDB_EBADINPUT, "%s: tie_word_embeddings must be true or false", what);
			goto out;
		}
		c->tied = json_is_true(v);
	}
	v = json_object_get(root, "bos_token_id");
	c->bos_token_id = 1;
	if (v) {
		if (json_is_null(v))
			c->bos_token_id = -1;
		else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= UINT32_MAX)
			c->bos_token_id = json_integer_value(v);
		else {
			rc = lutdb_fail(LUTDB_EBADINPUT, "%s: bos_token_id must be a token id or null", what);
			goto out;
		}
	}
	c->n_eos = 1;
	c->eos[0] = 2;
	rc = get_eos(root, what, c);
	if (rc == 1)
		rc = LUTDB_OK;
out:
	json_decref(root);
	return rc;
}

int lutdb_config_apply_generation(lutdb_config *c, const char *json, size_t len, const char *what)
{
	int rc;
	json_t *root = load(json, len, what, &rc);

	if (!root)
		return rc;
	rc = get_eos(root, what, c);
	if (rc == 1)
		rc = LUTDB_OK;
	json_decref(root);
	return rc;
}

int lutdb_config_check_family(const lutdb_config *c, int family, const char *what)
{
	if (c->experts == 0)
		return lutdb_fail(LUTDB_EBADINPUT, "%s: missing \"num_experts\"", what);
	if (family != LUTDB_FAMILY_MOLKV)
		return LUTDB_OK;
	if (c->kv_dim == 0 || c->kv_expert_heads == 0)
		return lutdb_fail(LUTDB_EBADINPUT, "%s: MoLKV needs positive \"kv_expert_dim\" and \"kv_expert_heads\"",
				  what);
	if (c->kv_dim % c->kv_expert_heads != 0 || c->hidden % c->kv_expert_heads != 0)
		return lutdb_fail(LUTDB_EBADINPUT,
				  "%s: kv_expert_heads %u must divide both kv_expert_dim %u and hidden_size %u", what,
				  c->kv_expert_heads, c->kv_dim, c->hidden);
	return LUTDB_OK;
}
