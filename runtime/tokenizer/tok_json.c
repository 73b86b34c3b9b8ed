/*
 * tok_json.c - reads tokenizer.json (jansson) into a compiled tokenizer.
 *
 * The file is hostile input: every field is type-checked, sizes are capped
 * and any component or option that cannot be executed exactly is rejected
 * with LUTDB_ETOKENIZER and a detail naming it.  The model and the added
 * tokens are read by tok_json_model.c; the typed-field helpers both use are
 * in tok_json_fields.c.
 */
#include "tok_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- normalizers ------------------------------------------------------------ */

static int load_norm(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = tj_type_of(o), *s;
	struct tok_norm *nm;
	size_t n;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("normalizer: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "normalizers"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("normalizer: Sequence nested more than %d deep", TOK_MAX_DEPTH);
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
		rc = tj_get_str(o, repl ? "content" : "prepend", repl ? "normalizer Replace"
				 : "normalizer Prepend", &s, &n);
		if (rc)
			return rc;
		if (!s)
			return FAIL("normalizer %s: missing \"%s\"", ty, repl ? "content" : "prepend");
		nm->content = tj_dupn(s, n);
		nm->content_len = n;
		if (!nm->content)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		t->nnorm++;
		if (repl)
			return tj_get_pattern(o, "normalizer Replace", &nm->re);
		return LUTDB_OK;
	} else
		return FAIL("normalizer type \"%s\" is not supported", ty);
	t->nnorm++;
	return LUTDB_OK;
}

/* ---- pre-tokenizers ------------------------------------------------------------ */

static int load_pre(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = tj_type_of(o), *s;
	struct tok_pre *p;
	size_t n;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("pre_tokenizer: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "pretokenizers"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("pre_tokenizer: Sequence nested more than %d deep", TOK_MAX_DEPTH);
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
		rc = tj_get_bool(o, "add_prefix_space", "pre_tokenizer ByteLevel", 1, &p->add_prefix_space);
		if (!rc)
			rc = tj_get_bool(o, "use_regex", "pre_tokenizer ByteLevel", 1, &p->use_regex);
		if (rc)
			return rc;
		t->need_gpt2_re |= p->use_regex;
		t->byte_level = 1;
	} else if (!strcmp(ty, "Split")) {
		p->kind = TP_SPLIT;
		rc = tj_get_pattern(o, "pre_tokenizer Split", &p->re);
		if (!rc)
			rc = tj_get_bool(o, "invert", "pre_tokenizer Split", 0, &p->invert);
		if (!rc)
			rc = tj_get_str(o, "behavior", "pre_tokenizer Split", &s, &n);
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
		rc = tj_get_char(o, "replacement", "pre_tokenizer Metaspace", &p->repl_cp, p->repl,
			      &p->repl_len);
		if (!rc)
			rc = tj_prepend_scheme(o, "pre_tokenizer Metaspace", &p->prepend_scheme);
		if (!rc)
			rc = tj_get_bool(o, "split", "pre_tokenizer Metaspace", 1, &p->split);
		if (rc)
			return rc;
	} else if (!strcmp(ty, "Digits")) {
		p->kind = TP_DIGITS;
		rc = tj_get_bool(o, "individual_digits", "pre_tokenizer Digits", 0,
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
	const char *ty = tj_type_of(o), *s;
	struct tok_dec *d;
	size_t n;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("decoder: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "decoders"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("decoder: Sequence nested more than %d deep", TOK_MAX_DEPTH);
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
		rc = tj_get_char(o, "content", "decoder Strip", &d->cp, NULL, NULL);
		if (!rc)
			rc = tj_get_uint(json_object_get(o, "start"), "decoder Strip", "start", 1 << 20, &a);
		if (!rc)
			rc = tj_get_uint(json_object_get(o, "stop"), "decoder Strip", "stop", 1 << 20, &b);
		if (rc)
			return rc;
		d->start = (size_t)a;
		d->stop = (size_t)b;
	} else if (!strcmp(ty, "Metaspace")) {
		d->kind = TD_METASPACE;
		rc = tj_get_char(o, "replacement", "decoder Metaspace", &d->cp, NULL, NULL);
		if (!rc)
			rc = tj_prepend_scheme(o, "decoder Metaspace", &d->prepend_scheme);
		if (rc)
			return rc;
	} else if (!strcmp(ty, "Replace")) {
		d->kind = TD_REPLACE;
		rc = tj_get_str(o, "content", "decoder Replace", &s, &n);
		if (rc)
			return rc;
		if (!s)
			return FAIL("decoder Replace: missing \"content\"");
		d->content = tj_dupn(s, n);
		d->content_len = n;
		if (!d->content)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		t->ndec++;
		return tj_get_pattern(o, "decoder Replace", &d->re);
	} else
		return FAIL("decoder type \"%s\" is not supported", ty);
	t->ndec++;
	return LUTDB_OK;
}

/* ---- post-processors ---------------------------------------------------------------- */

/* A template is copied out per use of each special token, and its ids are
 * added to every encoded text: real ones add one to three ids. */
#define TPL_MAX_ITEMS 4096u
#define TPL_MAX_IDS 4096u

/* One piece of the single template; *budget counts down the special token
 * ids the template may still add. */
static int tpl_item(const json_t *specials, const json_t *e, struct tok_tpl_item *it, size_t *budget)
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
	if (!json_is_array(ids))
		return FAIL("post_processor TemplateProcessing: special token \"%s\" needs \"ids\"", id);
	if (*budget < json_array_size(ids))
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: post_processor TemplateProcessing: the single "
				  "template adds more than %u special token ids", TPL_MAX_IDS);
	*budget -= json_array_size(ids);
	it->nids = json_array_size(ids);
	it->ids = malloc((it->nids ? it->nids : 1) * sizeof *it->ids);
	if (!it->ids)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
	json_array_foreach(ids, i, x) {
		json_int_t v;
		int rc = tj_get_uint(x, "post_processor TemplateProcessing", "ids", UINT32_MAX - 1, &v);

		if (rc)
			return rc;
		it->ids[i] = (uint32_t)v;
	}
	return LUTDB_OK;
}

static int load_post(struct lutdb_tokenizer *t, const json_t *o, int depth)
{
	const char *ty = tj_type_of(o);
	struct tok_post *p;
	int rc;

	if (!json_is_object(o) || !ty)
		return FAIL("post_processor: must be an object with a \"type\"");
	if (!strcmp(ty, "Sequence")) {
		const json_t *a = json_object_get(o, "processors"), *e;
		size_t i;

		if (depth >= TOK_MAX_DEPTH)
			return FAIL("post_processor: Sequence nested more than %d deep", TOK_MAX_DEPTH);
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

		size_t budget = TPL_MAX_IDS;

		p->kind = TPP_TEMPLATE;
		if (!json_is_array(single))
			return FAIL("post_processor TemplateProcessing: \"single\" must be an array");
		if (json_array_size(single) > TPL_MAX_ITEMS)
			return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: post_processor TemplateProcessing: "
					  "\"single\" has %zu pieces (at most %u)", json_array_size(single),
					  TPL_MAX_ITEMS);
		if (specials && !json_is_object(specials))
			return FAIL("post_processor TemplateProcessing: \"special_tokens\" must be an "
				    "object");
		t->npost++; /* owned from here on, freed with the tokenizer */
		p->items = calloc(json_array_size(single) + 1, sizeof *p->items);
		if (!p->items)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
		json_array_foreach(single, i, e) {
			rc = tpl_item(specials, e, &p->items[i], &budget);
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
	const lutdb_json_doc doc = {"tokenizer.json", LUTDB_TOKENIZER_JSON_MAX, LUTDB_ETOKENIZER, JSON_ALLOW_NUL,
				    LUTDB_ETOOBIG};
	json_t *root;
	const json_t *v;
	size_t i;
	int rc;

	if ((rc = lutdb_json_load(&doc, text, len, &root)))
		return rc;
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
		rc = tj_load_model(t, json_object_get(root, "model"));
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
	rc = tj_load_added(t, json_object_get(root, "added_tokens"));
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
	/* TemplateProcessing emits its special_tokens ids as written, whether
	 * or not a token has them: they count for max_id too (pack checks
	 * max_id < V, so every id encode can return is a table row). */
	for (i = 0; i < t->npost; i++)
		for (size_t k = 0; t->post[i].kind == TPP_TEMPLATE && k < t->post[i].nitems; k++)
			for (size_t j = 0; j < t->post[i].items[k].nids; j++)
				if (t->post[i].items[k].ids[j] > t->max_id)
					t->max_id = t->post[i].items[k].ids[j];
	find_bos_eos(t);
out:
	json_decref(root);
	return rc;
}
