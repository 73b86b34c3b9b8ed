/*
 * tok_json_fields.c - typed fields of tokenizer.json objects, shared by the
 * driver (tok_json.c: top level and components) and the model loader
 * (tok_json_model.c): each checks the JSON type, and the range or encoding
 * where one applies, and fails with LUTDB_ETOKENIZER naming the component
 * and the key.
 */
#include "tok_json.h"

#include <stdlib.h>
#include <string.h>

char *tj_dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Optional string field: absent or null gives *out NULL. */
int tj_get_str(const json_t *o, const char *key, const char *what, const char **out,
		   size_t *len)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	*len = 0;
	if (!v || json_is_null(v))
		return LUTDB_OK;
	if (!json_is_string(v))
		return FAIL("%s: \"%s\" must be a string", what, key);
	*out = json_string_value(v);
	*len = json_string_length(v);
	if (!tok_utf8_is_valid(*out, *len))
		return FAIL("%s: \"%s\" is not UTF-8", what, key);
	return LUTDB_OK;
}

/* Optional boolean field with a default. */
int tj_get_bool(const json_t *o, const char *key, const char *what, int dflt, int *out)
{
	const json_t *v = json_object_get(o, key);

	*out = dflt;
	if (!v || json_is_null(v))
		return LUTDB_OK;
	if (!json_is_boolean(v))
		return FAIL("%s: \"%s\" must be true or false", what, key);
	*out = json_is_true(v);
	return LUTDB_OK;
}

int tj_get_uint(const json_t *v, const char *what, const char *key, json_int_t max,
		    json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return FAIL("%s: \"%s\" must be an integer in [0, %lld]", what, key, (long long)max);
	*out = json_integer_value(v);
	return LUTDB_OK;
}

const char *tj_type_of(const json_t *o)
{
	const json_t *v = json_object_get(o, "type");

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A single-char string field (char in Rust). */
int tj_get_char(const json_t *o, const char *key, const char *what, uint32_t *cp,
		    char *utf8, int *ulen)
{
	const char *s;
	size_t n, l;
	int rc = tj_get_str(o, key, what, &s, &n);

	if (rc)
		return rc;
	if (!s || !n)
		return FAIL("%s: \"%s\" must be a one-character string", what, key);
	*cp = tok_utf8_decode(s, &l);
	if (l != n)
		return FAIL("%s: \"%s\" must be a one-character string", what, key);
	if (utf8)
		memcpy(utf8, s, n);
	if (ulen)
		*ulen = (int)n;
	return LUTDB_OK;
}

/* {"String": s} or {"Regex": r} */
int tj_get_pattern(const json_t *o, const char *what, struct tok_regex *re)
{
	const json_t *p = json_object_get(o, "pattern"), *v;
	int literal;

	if (!json_is_object(p))
		return FAIL("%s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", what);
	if ((v = json_object_get(p, "String")) != NULL)
		literal = 1;
	else if ((v = json_object_get(p, "Regex")) != NULL)
		literal = 0;
	else
		return FAIL("%s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", what);
	if (!json_is_string(v) || json_object_size(p) != 1)
		return FAIL("%s: \"pattern\" must hold one string", what);
	return tok_regex_compile(re, json_string_value(v), json_string_length(v), literal, what);
}

int tj_prepend_scheme(const json_t *o, const char *what, int *out)
{
	const char *s;
	size_t n;
	int aps, rc = tj_get_str(o, "prepend_scheme", what, &s, &n);

	if (rc)
		return rc;
	if (!s || !strcmp(s, "always"))
		*out = TPS_ALWAYS;
	else if (!strcmp(s, "first"))
		*out = TPS_FIRST;
	else if (!strcmp(s, "never"))
		*out = TPS_NEVER;
	else
		return FAIL("%s: prepend_scheme \"%s\" is not first, always or never", what, s);
	rc = tj_get_bool(o, "add_prefix_space", what, 1, &aps);
	if (rc)
		return rc;
	if (!aps) {
		if (*out != TPS_NEVER && s)
			return FAIL("%s: add_prefix_space does not match declared prepend_scheme", what);
		*out = TPS_NEVER;
	}
	return LUTDB_OK;
}
