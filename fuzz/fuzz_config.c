/*
 * fuzz_config.c - config.json and generation_config.json:
 * lutdb_config_parse, lutdb_config_apply_generation, the family checks and
 * the tensor schema the config implies (lutdb_schema_build).
 *
 * Input: config.json bytes, optionally a NUL and generation_config.json
 * bytes.  Contracts on success: positive sizes, heads dividing hidden_size,
 * kv heads dividing heads, head_dim = hidden / heads, a finite positive
 * rms_norm_eps and rope_theta, at most LUTDB_MAX_EOS eos ids; the family
 * check holding means MoLKV's H divides dk and d; every schema is sorted by
 * unique names with positive dims.
 */
#include <math.h>

#include "config.h"
#include "fuzz_common.h"
#include "lutdb_types.h"
#include "schema.h"

static void check_schema(const lutdb_config *c, int family, int kind)
{
	lutdb_schema_ent *s = NULL;
	size_t n = 0;
	int rc = lutdb_schema_build(c, family, kind, &s, &n);

	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(rc == LUTDB_ENOMEM || rc == LUTDB_ETOOBIG);
		return;
	}
	FUZZ_CHECK(n >= 2);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(s[i].ndim == 1 || s[i].ndim == 2);
		FUZZ_CHECK(s[i].dims[0] > 0 && (s[i].ndim == 1 || s[i].dims[1] > 0));
		FUZZ_CHECK(i == 0 || strcmp(s[i - 1].name, s[i].name) < 0);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t a_len, b_len;
	const uint8_t *b;
	lutdb_config c;
	int rc;

	fuzz_split(data, size, &a_len, &b, &b_len);
	char *cfg = (char *)fuzz_dup(data, a_len);
	rc = lutdb_config_parse(cfg, a_len, "config.json", &c);
	FUZZ_CHECK_RC(rc);
	free(cfg);
	if (rc)
		return 0;
	FUZZ_CHECK(c.vocab && c.hidden && c.intermediate && c.layers && c.heads && c.kv_heads && c.max_position);
	FUZZ_CHECK(c.hidden % c.heads == 0 && c.head_dim == c.hidden / c.heads && c.heads % c.kv_heads == 0);
	FUZZ_CHECK(isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0 && isfinite(c.rope_theta) && c.rope_theta > 0);
	FUZZ_CHECK(c.n_eos <= LUTDB_MAX_EOS);
	FUZZ_CHECK(c.bos_token_id >= -1 && c.bos_token_id <= (int64_t)UINT32_MAX);
	if (b) {
		char *gen = (char *)fuzz_dup(b, b_len);
		lutdb_config saved = c;
		rc = lutdb_config_apply_generation(&c, gen, b_len, "generation_config.json");
		FUZZ_CHECK_RC(rc);
		free(gen);
		FUZZ_CHECK(c.n_eos <= LUTDB_MAX_EOS);
		if (rc == LUTDB_OK) {
			/* Only the eos ids may change. */
			FUZZ_CHECK(c.vocab == saved.vocab && c.hidden == saved.hidden && c.layers == saved.layers &&
				   c.experts == saved.experts && c.heads == saved.heads && c.kv_heads == saved.kv_heads &&
				   c.max_position == saved.max_position && c.tied == saved.tied &&
				   c.kv_dim == saved.kv_dim && c.bos_token_id == saved.bos_token_id);
		}
	}
	for (int family = LUTDB_FAMILY_MOLE; family <= LUTDB_FAMILY_MOLKV; family++) {
		rc = lutdb_config_check_family(&c, family, "config.json");
		FUZZ_CHECK_RC(rc);
		if (rc)
			continue;
		FUZZ_CHECK(c.experts > 0);
		if (family == LUTDB_FAMILY_MOLKV)
			FUZZ_CHECK(c.kv_dim && c.kv_expert_heads && c.kv_dim % c.kv_expert_heads == 0 &&
				   c.hidden % c.kv_expert_heads == 0);
		for (int kind = LUTDB_SCHEMA_TRAINING; kind <= LUTDB_SCHEMA_STORED; kind++)
			check_schema(&c, family, kind);
	}
	return 0;
}
