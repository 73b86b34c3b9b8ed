/*
 * tok_json_model.c - reads the BPE model and the added tokens of
 * tokenizer.json (ids assigned as `tokenizers` AddedVocabulary::add_tokens
 * does: the vocab id of the content if it has one, else counting up from
 * the model vocab size; the "id" fields are not used).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_json.h"

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

/* An optional string of the BPE model, copied: *out stays NULL when absent. */
static int bpe_string(const json_t *m, const char *key, char **out, size_t *len)
{
	const char *s;
	int rc = tj_get_str(m, key, "model BPE", &s, len);

	if (rc)
		return rc;
	if (s && !(*out = tj_dupn(s, *len)))
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
	return LUTDB_OK;
}

/* Dropout, the optional strings and the switches of the BPE model. */
static int load_bpe_options(struct tok_bpe *b, const json_t *m)
{
	const json_t *dropout = json_object_get(m, "dropout");
	int rc;

	if (dropout && !json_is_null(dropout) &&
	    !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
		return FAIL("model BPE: dropout must be null (randomized merges are not supported)");
	rc = bpe_string(m, "unk_token", &b->unk, &b->unk_len);
	if (!rc)
		rc = bpe_string(m, "continuing_subword_prefix", &b->prefix, &b->prefix_len);
	if (!rc)
		rc = bpe_string(m, "end_of_word_suffix", &b->suffix, &b->suffix_len);
	if (!rc)
		rc = tj_get_bool(m, "fuse_unk", "model BPE", 0, &b->fuse_unk);
	if (!rc)
		rc = tj_get_bool(m, "byte_fallback", "model BPE", 0, &b->byte_fallback);
	if (!rc)
		rc = tj_get_bool(m, "ignore_merges", "model BPE", 0, &b->ignore_merges);
	return rc;
}

/* The vocab (token -> id) and the tables derived from it: id -> token,
 * single code points below U+10000 -> id, and the <0xXX> byte-fallback
 * ids. */
static int load_bpe_vocab(struct tok_bpe *b, const json_t *vocab)
{
	const json_t *v;
	const char *k;
	size_t i, n;
	int rc;

	rc = tok_strmap_init(&b->vocab, json_object_size(vocab));
	if (rc)
		return rc;
	b->nvocab = json_object_size(vocab);
	b->max_id = 0;
	json_object_foreach((json_t *)(uintptr_t)vocab, k, v) {
		json_int_t id;

		rc = tj_get_uint(v, "model BPE", "vocab", TOK_MAX_VOCAB - 1, &id);
		if (rc)
			return rc;
		n = strlen(k);
		if (n > TOK_MAX_TOKEN_LEN)
			return lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: model BPE: vocab token of %zu bytes "
					  "(at most %u)", n, TOK_MAX_TOKEN_LEN);
		if (!tok_utf8_is_valid(k, n))
			return FAIL("model BPE: vocab token is not UTF-8");
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
	return LUTDB_OK;
}

/* One merge "a b" of the given rank: both parts and their concatenation
 * (without the second part's subword prefix) must be in the vocab.  tmp is
 * the caller's buffer for the concatenation. */
static int add_merge(struct tok_bpe *b, const char *a, size_t al, const char *c, size_t cl, size_t rank,
		     struct tok_buf *tmp)
{
	uint32_t ia, ic, in;
	int rc;

	if (!tok_strmap_get(&b->vocab, a, al, &ia))
		return FAIL("model BPE: merge %zu: token \"%.*s\" is not in the vocab", rank,
			    (int)(al > 64 ? 64 : al), a);
	if (!tok_strmap_get(&b->vocab, c, cl, &ic))
		return FAIL("model BPE: merge %zu: token \"%.*s\" is not in the vocab", rank,
			    (int)(cl > 64 ? 64 : cl), c);
	if (cl < b->prefix_len)
		return FAIL("model BPE: merge %zu: \"%.*s\" is shorter than the subword prefix", rank,
			    (int)(cl > 64 ? 64 : cl), c);
	tmp->len = 0;
	rc = tok_buf_put(tmp, a, al);
	if (!rc)
		rc = tok_buf_put(tmp, c + b->prefix_len, cl - b->prefix_len);
	if (rc)
		return rc;
	if (!tok_strmap_get(&b->vocab, tmp->p, tmp->len, &in))
		return FAIL("model BPE: merge %zu: token \"%.*s\" is not in the vocab", rank,
			    (int)(tmp->len > 64 ? 64 : tmp->len), tmp->p);
	return tok_bpe_add_merge(b, ia, ic, (uint32_t)rank, in);
}

/* The merges, in rank order (a "#version" line of a merges file skipped). */
static int load_bpe_merges(struct tok_bpe *b, const json_t *merges)
{
	struct tok_buf tmp = {0};
	const json_t *v;
	size_t i, rank = 0;
	int rc, legacy = -1;

	/* Every entry's shape first, allocating nothing: the map takes 32
	 * bytes per entry, and a list of 16M "" (48 MB) made it 512 MB before
	 * the first entry was read. */
	json_array_foreach(merges, i, v) {
		const char *a, *c;
		size_t al, cl;

		if (json_is_string(v) && !strncmp(json_string_value(v), "#version", 8))
			continue;
		rc = merge_tokens(v, &legacy, &a, &al, &c, &cl);
		if (rc == 1)
			rc = FAIL("model BPE: Merges text file invalid at line %zu", rank + 1);
		if (rc)
			return rc;
		rank++;
	}
	legacy = -1;
	rank = 0;
	rc = tok_bpe_build_merges(b, json_array_size(merges));
	if (rc)
		return rc;
	json_array_foreach(merges, i, v) {
		const char *a = NULL, *c = NULL;
		size_t al = 0, cl = 0;

		if (json_is_string(v) && !strncmp(json_string_value(v), "#version", 8))
			continue;
		rc = merge_tokens(v, &legacy, &a, &al, &c, &cl);
		if (rc == 1)
			rc = FAIL("model BPE: Merges text file invalid at line %zu", rank + 1);
		if (!rc)
			rc = add_merge(b, a, al, c, cl, rank, &tmp);
		if (rc)
			break;
		rank++;
	}
	tok_buf_free(&tmp);
	return rc;
}

int tj_load_model(struct lutdb_tokenizer *t, const json_t *m)
{
	struct tok_bpe *b = &t->bpe;
	const json_t *vocab, *merges;
	const char *ty = tj_type_of(m);
	int rc;

	if (!json_is_object(m))
		return FAIL("model: missing or not an object");
	if (!ty)
		return FAIL("model: missing \"type\"");
	if (strcmp(ty, "BPE"))
		return FAIL("model type \"%s\" is not supported (only BPE)", ty);
	strcpy(t->model_type, "BPE");
	b->serial = tok_bpe_next_serial();
	if ((rc = load_bpe_options(b, m)))
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
	if ((rc = load_bpe_vocab(b, vocab)))
		return rc;
	return load_bpe_merges(b, merges);
}

/* ---- added tokens ------------------------------------------------------------------------- */

static int cmp_added(const void *x, const void *y)
{
	const struct tok_added *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

int tj_load_added(struct lutdb_tokenizer *t, const json_t *arr)
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
		rc = tj_get_str(e, "content", "added_tokens", &s, &n);
		if (!rc && !s)
			rc = FAIL("added_tokens[%zu]: missing \"content\"", i);
		if (!rc && n > TOK_MAX_TOKEN_LEN)
			rc = lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: added_tokens[%zu]: %zu bytes (at most %u)", i,
					n, TOK_MAX_TOKEN_LEN);
		if (!rc)
			rc = tj_get_bool(e, "special", "added_tokens", 0, &f[4]);
		if (!rc)
			rc = tj_get_bool(e, "single_word", "added_tokens", 0, &f[0]);
		if (!rc)
			rc = tj_get_bool(e, "lstrip", "added_tokens", 0, &f[1]);
		if (!rc)
			rc = tj_get_bool(e, "rstrip", "added_tokens", 0, &f[2]);
		if (!rc)
			rc = tj_get_bool(e, "normalized", "added_tokens", !f[4], &f[3]);
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
		a.content = tj_dupn(s, n);
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

