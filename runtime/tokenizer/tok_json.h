/*
 * tok_json.h - reading tokenizer.json.
 *
 *   tok_json.c         the driver: top level, normalizers, pre-tokenizers,
 *                      decoders, post-processor (tok_load_json)
 *   tok_json_model.c   the BPE model and the added tokens
 *   tok_json_fields.c  typed fields, used by both
 *
 * Calls go one way: tok_json.c -> tok_json_model.c -> tok_json_fields.c
 * (and tok_json.c -> tok_json_fields.c).
 */
#ifndef LUTDB_TOK_JSON_H
#define LUTDB_TOK_JSON_H

#include <jansson.h>

#include "fail.h"
#include "json_bounded.h"
#include "tok_internal.h"

#define FAIL(...) lutdb_fail(LUTDB_ETOKENIZER, "tokenizer.json: " __VA_ARGS__)

/* ---- typed fields (tok_json_fields.c) -------------------------------------- */
/* A NUL-terminated copy of s[0, n), or NULL when out of memory. */
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

/* ---- the model and added tokens (tok_json_model.c) ------------------------- */
int tj_load_model(struct lutdb_tokenizer *t, const json_t *m);
int tj_load_added(struct lutdb_tokenizer *t, const json_t *arr);

#endif /* LUTDB_TOK_JSON_H */
