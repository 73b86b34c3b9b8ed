/*
 * tok_json.h - helpers shared by the tokenizer.json readers (tok_json.c:
 * top level and components, tok_json_model.c: model and added tokens).
 */
#ifndef LUTDB_TOK_JSON_H
#define LUTDB_TOK_JSON_H

#include <jansson.h>

#include "tok_internal.h"
#include "fail.h"

#define FAIL(...) lutdb_fail(LUTDB_ETOKENIZER, "tokenizer.json: " __VA_ARGS__)

char *tj_dupn(const char *s, size_t n);
/* Optional string field: absent or null gives *out NULL; must be UTF-8. */
int tj_get_str(const json_t *o, const char *key, const char *what, const char **out, size_t *len);
/* Optional boolean field with a default. */
int tj_get_bool(const json_t *o, const char *key, const char *what, int dflt, int *out);
/* Integer in [0, max]. */
int tj_get_uint(const json_t *v, const char *what, const char *key, json_int_t max, json_int_t *out);
/* The "type" string of a component, or NULL. */
const char *tj_type_of(const json_t *o);
/* A one-char string field (a Rust char). */
int tj_get_char(const json_t *o, const char *key, const char *what, uint32_t *cp, char *utf8,
		int *ulen);
/* "pattern": {"String": s} or {"Regex": r}, compiled. */
int tj_get_pattern(const json_t *o, const char *what, struct tok_regex *re);
/* Metaspace prepend_scheme (with the legacy add_prefix_space). */
int tj_prepend_scheme(const json_t *o, const char *what, int *out);

int tj_load_model(struct lutdb_tokenizer *t, const json_t *m);
int tj_load_added(struct lutdb_tokenizer *t, const json_t *arr);

#endif /* LUTDB_TOK_JSON_H */
