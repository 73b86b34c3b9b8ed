/*
 * tok_json.c - reads tokenizer.json (jansson) into a compiled tokenizer.
 *
 * The file is hostile input: every field is type-checked, sizes are capped
 * and any component or option that cannot be executed exactly is rejected
 * with LUTDB_ETOKENIZER and a detail naming it.
 */
#include "tok_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) lutdb_fail(LUTDB_ETOKENIZER, "tokenizer.json: " __VA_ARGS__)

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Optional string field: absent or null gives *out NULL. */
static int get_str(const json_t *o, const char *key, const char *what, const char **out,
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
static int get_bool(const json_t *o, const char *key, const char *what, int dflt, int *out)
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

static int get_uint(const json_t *v, const char *what, const char *key, json_int_t max,
		    json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return FAIL("%s: \"%s\" must be an integer in [0, %lld]", what, key, (long long)max);
	*out = json_integer_value(v);
	return LUTDB_OK;
}

static const char *type_of(const json_t *o)
{
	const json_t *v = json_object_get(o, "type");

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A single-char string field (char in Rust). */
static int get_char(const json_t *o, const char *key, const char *what, uint32_t *cp,
		    char *utf8, int *ulen)
{
	const char *s;
	size_t n, l;
	int rc = get_str(o, key, what, &s, &n);

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
static int get_pattern(const json_t *o, const char *what, struct tok_regex *re)
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

static int prepend_scheme(const json_t *o, const char *what, int *out)
{
	const char *s;
	size_t n;
	int aps, rc = get_str(o, "prepend_scheme", what, &s, &n);

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
	rc = get_bool(o, "add_prefix_space", what, 1, &aps);
	if (rc)
		return rc;
	if (!aps) {
		if (*out != TPS_NEVER && s)
			return FAIL("%s: add_prefix_space does not match declared prepend_scheme", what);
		*out = TPS_NEVER;
	}
	return LUTDB_OK;
}

/* ---- normalizers ------------------------------------------------------------ */

static int load_norm(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = type_of(o), *s;
	struct tok_norm *nm;
	size_t n;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("normalizer: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "normalizers"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("normalizer: Sequence nested too deeply");
		if (!json_is_array(a))
			return FAIL("normalizer: Sequence needs a \"normalizers\" array");
		json_array_foreach(a, i, e) {
			rc = load_norm(t, e, depth + 1);
			if (rc)
				return rc;
		}
		return LUTDB_OK;
	}
	if (t->nnorm >= TOK_MAX_STEPS)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: normalizer: more than %u steps",
				  TOK_MAX_STEPS);
	nm = &t->norm[t->nnorm];
	memset(nm, 0, sizeof *nm);
	if (!strcmp(ty, "NFC"))
		nm->kind = TN_NFC;
	else if (!strcmp(ty, "NFKC"))
		nm->kind = TN_NFKC;
	else if (!strcmp(ty, "Prepend") || !strcmp(ty, "Replace")) {
		int repl = !strcmp(ty, "Replace");

		nm->kind = repl ? TN_REPLACE : TN_PREPEND;
		rc = get_str(o, repl ? "content" : "prepend", repl ? "normalizer Replace"
				 : "normalizer Prepend", &s, &n);
		if (rc)
			return rc;
		if (!s)
			return FAIL("normalizer %s: missing \"%s\"", ty, repl ? "content" : "prepend");
		nm->content = dupn(s, n);
		nm->content_len = n;
		if (!nm->content)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		t->nnorm++;
		if (repl)
			return get_pattern(o, "normalizer Replace", &nm->re);
		return LUTDB_OK;
	} else
		return FAIL("normalizer type \"%s\" is not supported", ty);
	t->nnorm++;
	return LUTDB_OK;
}

/* ---- pre-tokenizers ------------------------------------------------------------ */

static int load_pre(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = type_of(o), *s;
	struct tok_pre *p;
	size_t n;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("pre_tokenizer: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "pretokenizers"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("pre_tokenizer: Sequence nested too deeply");
		if (!json_is_array(a))
			return FAIL("pre_tokenizer: Sequence needs a \"pretokenizers\" array");
		json_array_foreach(a, i, e) {
			rc = load_pre(t, e, depth + 1);
			if (rc)
				return rc;
		}
		return LUTDB_OK;
	}
	if (t->npre >= TOK_MAX_STEPS)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: pre_tokenizer: more than %u steps",
				  TOK_MAX_STEPS);
	p = &t->pre[t->npre];
	memset(p, 0, sizeof *p);
	if (!strcmp(ty, "ByteLevel")) {
		p->kind = TP_BYTELEVEL;
		rc = get_bool(o, "add_prefix_space", "pre_tokenizer ByteLevel", 1, &p->add_prefix_space);
		if (!rc)
			rc = get_bool(o, "use_regex", "pre_tokenizer ByteLevel", 1, &p->use_regex);
		if (rc)
			return rc;
		t->need_gpt2_re |= p->use_regex;
		t->byte_level = 1;
	} else if (!strcmp(ty, "Split")) {
		p->kind = TP_SPLIT;
		t->npre++;
		rc = get_pattern(o, "pre_tokenizer Split", &p->re);
		t->npre--;
		if (!rc)
			rc = get_bool(o, "invert", "pre_tokenizer Split", 0, &p->invert);
		if (!rc)
			rc = get_str(o, "behavior", "pre_tokenizer Split", &s, &n);
		if (rc) {
			tok_pre_free(p);
			return rc;
		}
		if (s && !strcmp(s, "Removed"))
			p->behavior = TB_REMOVED;
		else if (s && !strcmp(s, "Isolated"))
			p->behavior = TB_ISOLATED;
		else if (s && !strcmp(s, "MergedWithPrevious"))
			p->behavior = TB_MERGED_PREV;
		else if (s && !strcmp(s, "MergedWithNext"))
			p->behavior = TB_MERGED_NEXT;
		else if (s && !strcmp(s, "Contiguous"))
			p->behavior = TB_CONTIGUOUS;
		else {
			tok_pre_free(p);
			return FAIL("pre_tokenizer Split: behavior \"%s\" is not supported",
				    s ? s : "(missing)");
		}
	} else if (!strcmp(ty, "Metaspace")) {
		p->kind = TP_METASPACE;
		rc = get_char(o, "replacement", "pre_tokenizer Metaspace", &p->repl_cp, p->repl,
			      &p->repl_len);
		if (!rc)
			rc = prepend_scheme(o, "pre_tokenizer Metaspace", &p->prepend_scheme);
		if (!rc)
			rc = get_bool(o, "split", "pre_tokenizer Metaspace", 1, &p->split);
		if (rc)
			return rc;
	} else if (!strcmp(ty, "Digits")) {
		p->kind = TP_DIGITS;
		rc = get_bool(o, "individual_digits", "pre_tokenizer Digits", 0,
			      &p->individual_digits);
		if (rc)
			return rc;
	} else
		return FAIL("pre_tokenizer type \"%s\" is not supported", ty);
	t->npre++;
	return LUTDB_OK;
}

/* ---- decoders ------------------------------------------------------------------- */

static int load_dec(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = type_of(o), *s;
	struct tok_dec *d;
	size_t n;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("decoder: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "decoders"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("decoder: Sequence nested too deeply");
		if (!json_is_array(a))
			return FAIL("decoder: Sequence needs a \"decoders\" array");
		json_array_foreach(a, i, e) {
			rc = load_dec(t, e, depth + 1);
			if (rc)
				return rc;
		}
		return LUTDB_OK;
	}
	if (t->ndec >= TOK_MAX_STEPS)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: decoder: more than %u steps",
				  TOK_MAX_STEPS);
	d = &t->dec[t->ndec];
	memset(d, 0, sizeof *d);
	if (!strcmp(ty, "ByteLevel"))
		d->kind = TD_BYTELEVEL;
	else if (!strcmp(ty, "ByteFallback"))
		d->kind = TD_BYTEFALLBACK;
	else if (!strcmp(ty, "Fuse"))
		d->kind = TD_FUSE;
	else if (!strcmp(ty, "Strip")) {
		json_int_t a, b;

		d->kind = TD_STRIP;
		rc = get_char(o, "content", "decoder Strip", &d->cp, NULL, NULL);
		if (!rc)
			rc = get_uint(json_object_get(o, "start"), "decoder Strip", "start", 1 << 20, &a);
		if (!rc)
			rc = get_uint(json_object_get(o, "stop"), "decoder Strip", "stop", 1 << 20, &b);
		if (rc)
			return rc;
		d->start = (size_t)a;
		d->stop = (size_t)b;
	} else if (!strcmp(ty, "Metaspace")) {
		d->kind = TD_METASPACE;
		rc = get_char(o, "replacement", "decoder Metaspace", &d->cp, NULL, NULL);
		if (!rc)
			rc = prepend_scheme(o, "decoder Metaspace", &d->prepend_scheme);
		if (rc)
			return rc;
	} else if (!strcmp(ty, "Replace")) {
		d->kind = TD_REPLACE;
		rc = get_str(o, "content", "decoder Replace", &s, &n);
		if (rc)
			return rc;
		if (!s)
			return FAIL("decoder Replace: missing \"content\"");
		d->content = dupn(s, n);
		d->content_len = n;
		if (!d->content)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		t->ndec++;
		return get_pattern(o, "decoder Replace", &d->re);
	} else
		return FAIL("decoder type \"%s\" is not supported", ty);
	t->ndec++;
	return LUTDB_OK;
}

/* ---- post-processors ---------------------------------------------------------------- */

static int tpl_item(const json_t *specials, const json_t *e, struct tok_tpl_item *it)
{
	const json_t *sp, *st = NULL, *ids, *x;
	const char *id = NULL;
	size_t i;

	memset(it, 0, sizeof *it);
	if (json_is_string(e)) {
		id = json_string_value(e);
		if (id[0] == '$') {
			const char *c = strchr(id, ':');
			size_t l = c ? (size_t)(c - id) : strlen(id);

			if ((l == 1) || (l == 2 && (id[1] == 'A' || id[1] == 'a'))) {
				it->is_seq = 1;
				return LUTDB_OK;
			}
			return FAIL("post_processor TemplateProcessing: single template piece \"%s\" "
				    "is not supported", id);
		}
		{
			const char *c = strchr(id, ':');

			if (c)
				return FAIL("post_processor TemplateProcessing: template piece \"%s\" with "
					    "a type id is not supported in string form", id);
		}
	} else if (json_is_object(e) && (sp = json_object_get(e, "Sequence")) != NULL) {
		const json_t *v = json_object_get(sp, "id");

		if (!json_is_string(v) || strcmp(json_string_value(v), "A"))
			return FAIL("post_processor TemplateProcessing: the single template may only "
				    "use sequence A");
		it->is_seq = 1;
		return LUTDB_OK;
	} else if (json_is_object(e) && (st = json_object_get(e, "SpecialToken")) != NULL) {
		const json_t *v = json_object_get(st, "id");

		if (!json_is_string(v))
			return FAIL("post_processor TemplateProcessing: SpecialToken needs an \"id\"");
		id = json_string_value(v);
	} else
		return FAIL("post_processor TemplateProcessing: bad template piece");
	sp = json_object_get(specials, id);
	if (!json_is_object(sp))
		return FAIL("post_processor TemplateProcessing: missing SpecialToken(s) with id(s) "
			    "`%s`", id);
	ids = json_object_get(sp, "ids");
	if (!json_is_array(ids) || json_array_size(ids) > 4096)
		return FAIL("post_processor TemplateProcessing: special token \"%s\" needs \"ids\"", id);
	it->nids = json_array_size(ids);
	it->ids = malloc((it->nids ? it->nids : 1) * sizeof *it->ids);
	if (!it->ids)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
	json_array_foreach(ids, i, x) {
		json_int_t v;
		int rc = get_uint(x, "post_processor TemplateProcessing", "ids", UINT32_MAX - 1, &v);

		if (rc)
			return rc;
		it->ids[i] = (uint32_t)v;
	}
	return LUTDB_OK;
}

static int load_post(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = type_of(o);
	struct tok_post *p;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("post_processor: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "processors"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("post_processor: Sequence nested too deeply");
		if (!json_is_array(a))
			return FAIL("post_processor: Sequence needs a \"processors\" array");
		json_array_foreach(a, i, e) {
			rc = load_post(t, e, depth + 1);
			if (rc)
				return rc;
		}
		return LUTDB_OK;
	}
	if (t->npost >= TOK_MAX_STEPS)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: post_processor: more than %u steps",
				  TOK_MAX_STEPS);
	p = &t->post[t->npost];
	memset(p, 0, sizeof *p);
	if (!strcmp(ty, "ByteLevel")) {
		p->kind = TPP_BYTELEVEL;
	} else if (!strcmp(ty, "TemplateProcessing")) {
		const json_t *single = json_object_get(o, "single"), *e;
		const json_t *specials = json_object_get(o, "special_tokens");
		size_t i;

		p->kind = TPP_TEMPLATE;
		if (!json_is_array(single) || json_array_size(single) > 4096)
			return FAIL("post_processor TemplateProcessing: \"single\" must be an array");
		if (specials && !json_is_object(specials))
			return FAIL("post_processor TemplateProcessing: \"special_tokens\" must be an "
				    "object");
		t->npost++; /* owned from here on, freed with the tokenizer */
		p->items = calloc(json_array_size(single) + 1, sizeof *p->items);
		if (!p->items)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		json_array_foreach(single, i, e) {
			rc = tpl_item(specials, e, &p->items[i]);
			p->nitems = i + 1;
			if (rc)
				return rc;
		}
		return LUTDB_OK;
	} else
		return FAIL("post_processor type \"%s\" is not supported", ty);
	t->npost++;
	return LUTDB_OK;
}

/* ---- model ------------------------------------------------------------------------------- */

static int merge_tokens(const json_t *e, int *legacy, const char **a, size_t *al, const char **b,
			size_t *bl)
{
	if (json_is_string(e)) {
		const char *s = json_string_value(e), *sp;
		size_t n = json_string_length(e);

		if (*legacy == 0)
			return FAIL("model: merges mix strings and pairs");
		*legacy = 1;
		sp = memchr(s, ' ', n);
		if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
			return 1; /* BadMerges */
		*a = s;
		*al = (size_t)(sp - s);
		*b = sp + 1;
		*bl = n - *al - 1;
		return LUTDB_OK;
	}
	if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
	    json_is_string(json_array_get(e, 1))) {
		if (*legacy == 1)
			return FAIL("model: merges mix strings and pairs");
		*legacy = 0;
		*a = json_string_value(json_array_get(e, 0));
		*al = json_string_length(json_array_get(e, 0));
		*b = json_string_value(json_array_get(e, 1));
		*bl = json_string_length(json_array_get(e, 1));
		return LUTDB_OK;
	}
	return FAIL("model: each merge must be \"a b\" or [\"a\", \"b\"]");
}

static int load_model(struct lutdb_tokenizer *t, const json_t *m)
{
	struct tok_bpe *b = &t->bpe;
	const json_t *vocab, *merges, *v, *dropout;
	const char *ty = type_of(m), *k, *s;
	struct tok_buf tmp = {0};
	size_t i, n, rank = 0;
	int rc, legacy = -1;

	if (!json_is_object(m))
		return FAIL("model: missing or not an object");
	if (!ty)
		return FAIL("model: missing \"type\"");
	if (strcmp(ty, "BPE"))
		return FAIL("model type \"%s\" is not supported (only BPE)", ty);
	strcpy(t->model_type, "BPE");
	b->serial = tok_bpe_next_serial();
	dropout = json_object_get(m, "dropout");
	if (dropout && !json_is_null(dropout) &&
	    !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
		return FAIL("model BPE: dropout must be null (randomized merges are not supported)");
#define OPTSTR(key, field, flen)                                                         \
	do {                                                                                 \
		rc = get_str(m, key, "model BPE", &s, &n);                                   \
		if (rc)                                                                      \
			return rc;                                                           \
		if (s && !(b->field = dupn(s, n)))                                           \
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");         \
		b->flen = n;                                                                 \
	} while (0)
	OPTSTR("unk_token", unk, unk_len);
	OPTSTR("continuing_subword_prefix", prefix, prefix_len);
	OPTSTR("end_of_word_suffix", suffix, suffix_len);
#undef OPTSTR
	rc = get_bool(m, "fuse_unk", "model BPE", 0, &b->fuse_unk);
	if (!rc)
		rc = get_bool(m, "byte_fallback", "model BPE", 0, &b->byte_fallback);
	if (!rc)
		rc = get_bool(m, "ignore_merges", "model BPE", 0, &b->ignore_merges);
	if (rc)
		return rc;
	vocab = json_object_get(m, "vocab");
	merges = json_object_get(m, "merges");
	if (!json_is_object(vocab) || !json_is_array(merges))
		return FAIL("model BPE: Missing vocab/merges");
	if (json_object_size(vocab) > TOK_MAX_VOCAB)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: model BPE: vocab of %zu entries "
				  "(limit %u)", json_object_size(vocab), TOK_MAX_VOCAB);
	if (json_array_size(merges) > TOK_MAX_MERGES)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: model BPE: %zu merges (limit %u)",
				  json_array_size(merges), TOK_MAX_MERGES);
	rc = tok_strmap_init(&b->vocab, json_object_size(vocab));
	if (rc)
		return rc;
	b->nvocab = json_object_size(vocab);
	b->max_id = 0;
	json_object_foreach((json_t *)(uintptr_t)vocab, k, v) {
		json_int_t id;

		rc = get_uint(v, "model BPE", "vocab", TOK_MAX_VOCAB - 1, &id);
		if (rc)
			return rc;
		n = strlen(k);
		if (n > TOK_MAX_TOKEN_LEN || !tok_utf8_is_valid(k, n))
			return FAIL("model BPE: vocab token too long or not UTF-8");
		rc = tok_strmap_set(&b->vocab, k, n, (uint32_t)id);
		if (rc)
			return rc;
		if ((uint32_t)id > b->max_id)
			b->max_id = (uint32_t)id;
	}
	b->id_str = calloc((size_t)b->max_id + 1, sizeof *b->id_str);
	b->id_len = calloc((size_t)b->max_id + 1, sizeof *b->id_len);
	if (!b->id_str || !b->id_len)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (vocab)");
	for (i = 0; i < b->vocab.n; i++) {
		uint32_t id = b->vocab.eval[i];

		if (b->id_str[id])
			return FAIL("model BPE: id %u is given to two tokens", (unsigned)id);
		b->id_str[id] = b->vocab.keys.p + b->vocab.eoff[i];
		b->id_len[id] = b->vocab.elen[i];
	}
	b->small_id = malloc(0x10000 * sizeof *b->small_id);
	if (!b->small_id)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (vocab)");
	memset(b->small_id, 0xff, 0x10000 * sizeof *b->small_id);
	for (i = 0; i < b->vocab.n; i++) {
		const char *k0 = b->vocab.keys.p + b->vocab.eoff[i];
		size_t l, kl = b->vocab.elen[i];
		uint32_t cp;

		if (kl == 0 || kl > 3)
			continue;
		cp = tok_utf8_decode(k0, &l);
		if (l == kl && cp < 0x10000)
			b->small_id[cp] = b->vocab.eval[i];
	}
	for (i = 0; i < 256; i++) {
		char name[8];

		snprintf(name, sizeof name, "<0x%02X>", (unsigned)i);
		if (!tok_strmap_get(&b->vocab, name, 6, &b->byte_fb[i]))
			b->byte_fb[i] = TOK_NO_ID;
	}
	rc = tok_bpe_build_merges(b, json_array_size(merges));
	if (rc)
		return rc;
	json_array_foreach(merges, i, v) {
		const char *a = NULL, *c = NULL;
		size_t al = 0, cl = 0;
		uint32_t ia, ic, in;

		if (json_is_string(v) && !strncmp(json_string_value(v), "#version", 8))
			continue;
		rc = merge_tokens(v, &legacy, &a, &al, &c, &cl);
		if (rc == 1)
			return FAIL("model BPE: Merges text file invalid at line %zu", rank + 1);
		if (rc)
			goto out;
		if (!tok_strmap_get(&b->vocab, a, al, &ia) || !tok_strmap_get(&b->vocab, c, cl, &ic)) {
			rc = FAIL("model BPE: merge %zu: token \"%.*s\" is not in the vocab", rank,
				  (int)(tok_strmap_get(&b->vocab, a, al, &ia) ? (cl > 64 ? 64 : cl)
					: (al > 64 ? 64 : al)),
				  tok_strmap_get(&b->vocab, a, al, &ia) ? c : a);
			goto out;
		}
		if (cl < b->prefix_len) {
			rc = FAIL("model BPE: merge %zu: \"%.*s\" is shorter than the subword prefix",
				  rank, (int)(cl > 64 ? 64 : cl), c);
			goto out;
		}
		tmp.len = 0;
		rc = tok_buf_put(&tmp, a, al);
		if (!rc)
			rc = tok_buf_put(&tmp, c + b->prefix_len, cl - b->prefix_len);
		if (rc)
			goto out;
		if (!tok_strmap_get(&b->vocab, tmp.p, tmp.len, &in)) {
			rc = FAIL("model BPE: merge %zu: token \"%.*s\" is not in the vocab", rank,
				  (int)(tmp.len > 64 ? 64 : tmp.len), tmp.p);
			goto out;
		}
		rc = tok_bpe_add_merge(b, ia, ic, (uint32_t)rank, in);
		if (rc)
			goto out;
		rank++;
	}
	rc = LUTDB_OK;
out:
	tok_buf_free(&tmp);
	return rc;
}

/* ---- added tokens ------------------------------------------------------------------------- */

static int cmp_added(const void *x, const void *y)
{
	const struct tok_added *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

static int load_added(struct lutdb_tokenizer *t, const json_t *arr)
{
	struct tok_match_ctx m;
	struct tok_strmap idx = {0}; /* id -> index in t->added */
	uint32_t next_id = (uint32_t)t->bpe.nvocab;
	const json_t *e;
	size_t i;
	int rc;

	if (!arr || json_is_null(arr))
		return LUTDB_OK;
	if (!json_is_array(arr))
		return FAIL("added_tokens: must be an array");
	if (json_array_size(arr) > TOK_MAX_ADDED)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: %zu added tokens (limit %u)",
				  json_array_size(arr), TOK_MAX_ADDED);
	t->added = calloc(json_array_size(arr) + 1, sizeof *t->added);
	if (!t->added)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
	rc = tok_match_ctx_init(&m);
	if (!rc)
		rc = tok_strmap_init(&idx, json_array_size(arr));
	json_array_foreach(arr, i, e) {
		struct tok_added a = {0}, *slot;
		const char *s;
		size_t n;
		uint32_t id, k;
		int f[5];

		if (rc)
			break;
		if (!json_is_object(e)) {
			rc = FAIL("added_tokens[%zu]: must be an object", i);
			break;
		}
		rc = get_str(e, "content", "added_tokens", &s, &n);
		if (!rc && !s)
			rc = FAIL("added_tokens[%zu]: missing \"content\"", i);
		if (!rc && n > TOK_MAX_TOKEN_LEN)
			rc = lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: added_tokens[%zu] too long", i);
		if (!rc)
			rc = get_bool(e, "special", "added_tokens", 0, &f[4]);
		if (!rc)
			rc = get_bool(e, "single_word", "added_tokens", 0, &f[0]);
		if (!rc)
			rc = get_bool(e, "lstrip", "added_tokens", 0, &f[1]);
		if (!rc)
			rc = get_bool(e, "rstrip", "added_tokens", 0, &f[2]);
		if (!rc)
			rc = get_bool(e, "normalized", "added_tokens", !f[4], &f[3]);
		if (rc)
			break;
		if (n == 0)
			continue;
		a.single_word = (uint8_t)f[0];
		a.lstrip = (uint8_t)f[1];
		a.rstrip = (uint8_t)f[2];
		a.normalized = (uint8_t)f[3];
		a.special = (uint8_t)f[4];
		if (tok_strmap_get(&t->added_map, s, n, &id) && tok_strmap_get(&idx, (char *)&id, 4, &k)) {
			const struct tok_added *o = &t->added[k];

			if (o->single_word == a.single_word && o->lstrip == a.lstrip &&
			    o->rstrip == a.rstrip && o->normalized == a.normalized &&
			    o->special == a.special)
				continue;
		} else if (!tok_strmap_get(&t->bpe.vocab, s, n, &id)) {
			if (next_id >= TOK_MAX_VOCAB) {
				rc = lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: added token ids over %u",
						TOK_MAX_VOCAB);
				break;
			}
			id = next_id++;
		}
		a.content = dupn(s, n);
		a.len = n;
		a.id = id;
		if (!a.content) {
			rc = lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
			break;
		}
		if (a.normalized && t->nnorm) {
			struct tok_buf nb = {0};
			uint32_t z = 0;

			rc = tok_normalize(t, &m, s, n, &nb, &z);
			if (!rc && (nb.len != n || memcmp(nb.p, s, n))) {
				a.norm = nb.p;
				a.norm_len = nb.len;
				nb.p = NULL;
			}
			tok_buf_free(&nb);
		}
		if (!rc)
			rc = tok_strmap_set(&t->added_map, s, n, id);
		if (!rc && a.special)
			rc = tok_strmap_set(&t->special_set, s, n, 1);
		if (!rc && tok_strmap_get(&idx, (char *)&id, 4, &k)) {
			slot = &t->added[k];
			free(slot->content);
			free(slot->norm);
			*slot = a;
		} else if (!rc) {
			rc = tok_strmap_set(&idx, (char *)&id, 4, (uint32_t)t->nadded);
			if (!rc)
				t->added[t->nadded++] = a;
		}
		if (rc) {
			free(a.content);
			free(a.norm);
		}
	}
	tok_match_ctx_free(&m);
	tok_strmap_free(&idx);
	if (rc)
		return rc;
	qsort(t->added, t->nadded, sizeof *t->added, cmp_added);
	return tok_added_build(t);
}

/* ---- top level ------------------------------------------------------------------------- */

static uint32_t named_special(const struct lutdb_tokenizer *t, const char *const *names)
{
	size_t i, j;

	for (j = 0; names[j]; j++)
		for (i = 0; i < t->nadded; i++)
			if (t->added[i].special && !strcmp(t->added[i].content, names[j]))
				return t->added[i].id;
	return LUTDB_TOKEN_NONE;
}

static void find_bos_eos(struct lutdb_tokenizer *t)
{
	static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>",
					  NULL};
	static const char *const eos[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>",
					  NULL};
	size_t i, j;

	t->bos_id = t->eos_id = LUTDB_TOKEN_NONE;
	for (i = 0; i < t->npost; i++) {
		const struct tok_post *p = &t->post[i];

		if (p->kind != TPP_TEMPLATE)
			continue;
		for (j = 0; j < p->nitems; j++) {
			if (!p->items[j].is_seq)
				continue;
			if (j > 0 && !p->items[j - 1].is_seq && p->items[j - 1].nids == 1)
				t->bos_id = p->items[j - 1].ids[0];
			if (j + 1 < p->nitems && !p->items[j + 1].is_seq && p->items[j + 1].nids == 1)
				t->eos_id = p->items[j + 1].ids[0];
		}
	}
	if (t->bos_id == LUTDB_TOKEN_NONE)
		t->bos_id = named_special(t, bos);
	if (t->eos_id == LUTDB_TOKEN_NONE)
		t->eos_id = named_special(t, eos);
}

int tok_load_json(struct lutdb_tokenizer *t, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *root;
	const json_t *v;
	size_t i;
	int rc;

	root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return FAIL("not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			    jerr.column);
	if (!json_is_object(root)) {
		rc = FAIL("top level must be an object");
		goto out;
	}
	v = json_object_get(root, "version");
	if (v && !(json_is_string(v) && !strcmp(json_string_value(v), "1.0"))) {
		rc = FAIL("Unknown tokenizer version (expected \"1.0\")");
		goto out;
	}
	if ((v = json_object_get(root, "truncation")) && !json_is_null(v)) {
		rc = FAIL("truncation must be null (truncation is not supported)");
		goto out;
	}
	if ((v = json_object_get(root, "padding")) && !json_is_null(v)) {
		rc = FAIL("padding must be null (padding is not supported)");
		goto out;
	}
	t->norm = calloc(TOK_MAX_STEPS, sizeof *t->norm);
	t->pre = calloc(TOK_MAX_STEPS, sizeof *t->pre);
	t->dec = calloc(TOK_MAX_STEPS, sizeof *t->dec);
	t->post = calloc(TOK_MAX_STEPS, sizeof *t->post);
	if (!t->norm || !t->pre || !t->dec || !t->post) {
		rc = lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		goto out;
	}
	rc = tok_strmap_init(&t->added_map, 16);
	if (!rc)
		rc = tok_strmap_init(&t->special_set, 16);
	if (!rc && (v = json_object_get(root, "normalizer")) && !json_is_null(v))
		rc = load_norm(t, v, 0);
	if (!rc && (v = json_object_get(root, "pre_tokenizer")) && !json_is_null(v))
		rc = load_pre(t, v, 0);
	if (!rc && (v = json_object_get(root, "post_processor")) && !json_is_null(v))
		rc = load_post(t, v, 0);
	if (!rc && (v = json_object_get(root, "decoder")) && !json_is_null(v)) {
		t->has_decoder = 1;
		rc = load_dec(t, v, 0);
	}
	if (!rc)
		rc = load_model(t, json_object_get(root, "model"));
	if (rc)
		goto out;
	for (i = 0; i < t->npre; i++) {
		size_t j;

		if (t->pre[i].kind != TP_METASPACE || t->pre[i].prepend_scheme != TPS_FIRST)
			continue;
		for (j = 0; j < t->nnorm; j++)
			if (t->norm[j].kind == TN_NFC || t->norm[j].kind == TN_NFKC) {
				rc = FAIL("pre_tokenizer Metaspace with prepend_scheme \"first\" after a "
					  "Unicode (NFC/NFKC) normalizer is not supported");
				goto out;
			}
	}
	if (t->need_gpt2_re) {
		static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
					   "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

		rc = tok_regex_compile(&t->gpt2_re, gpt2, sizeof gpt2 - 1, 0,
				       "pre_tokenizer ByteLevel");
		if (rc)
			goto out;
	}
	rc = load_added(t, json_object_get(root, "added_tokens"));
	if (rc)
		goto out;
	t->vocab_size = t->bpe.nvocab;
	t->max_id = t->bpe.nvocab ? t->bpe.max_id : 0;
	for (i = 0; i < t->nadded; i++) {
		uint32_t dummy;

		if (!tok_strmap_get(&t->bpe.vocab, t->added[i].content, t->added[i].len, &dummy))
			t->vocab_size++;
		if (t->added[i].id > t->max_id)
			t->max_id = t->added[i].id;
	}
	find_bos_eos(t);
out:
	json_decref(root);
	return rc;
}
