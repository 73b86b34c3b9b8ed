/*
 * tok_encode.c - the public tokenizer API: load / free, encode (the HF
 * pipeline: added tokens, normalizer, added normalized tokens,
 * pre-tokenizer, model, post-processor) and the information getters.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdlib.h>
#include <string.h>

int lutdb_tokenizer_load(const char *json, size_t len, lutdb_tokenizer **out)
{
	struct lutdb_tokenizer *t;
	int rc;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_load: NULL argument");
	*out = NULL;
	if (!json)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_load: NULL text");
	t = calloc(1, sizeof *t);
	if (!t)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory");
	t->trie_raw.empty = t->trie_norm.empty = 1;
	rc = tok_load_json(t, json, len);
	if (rc) {
		lutdb_tokenizer_free(t);
		return rc;
	}
	*out = t;
	return LUTDB_OK;
}

void lutdb_tokenizer_free(lutdb_tokenizer *t)
{
	size_t i;

	if (!t)
		return;
	tok_bpe_free(&t->bpe);
	if (t->norm)
		for (i = 0; i < t->nnorm; i++)
			tok_norm_free(&t->norm[i]);
	if (t->pre)
		for (i = 0; i < t->npre; i++)
			tok_pre_free(&t->pre[i]);
	if (t->dec)
		for (i = 0; i < t->ndec; i++)
			tok_dec_free(&t->dec[i]);
	if (t->post)
		for (i = 0; i < t->npost; i++)
			tok_post_free(&t->post[i]);
	free(t->norm);
	free(t->pre);
	free(t->dec);
	free(t->post);
	for (i = 0; i < t->nadded; i++) {
		free(t->added[i].content);
		free(t->added[i].norm);
	}
	free(t->added);
	tok_trie_free(&t->trie_raw);
	tok_trie_free(&t->trie_norm);
	tok_strmap_free(&t->added_map);
	tok_strmap_free(&t->added_norm_map);
	tok_strmap_free(&t->special_set);
	tok_regex_free(&t->gpt2_re);
	free(t);
}

/* The model's ids of the pieces of w, appended to the ids so far: the
 * pre-tokenizer's flush, and the pieces left at its end. */
struct model_ids {
	const struct lutdb_tokenizer *t;
	struct tok_bpe_scratch *bs;
	uint32_t *raw;
	size_t nraw, craw;
};

static int model_pieces(void *ctx, struct tok_work *w)
{
	struct model_ids *mi = ctx;
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++) {
		const struct tok_piece *p = &w->pc[i];

		if (p->id != TOK_NO_ID) {
			if (mi->nraw == mi->craw) {
				size_t nc = mi->craw ? mi->craw * 2 : 64;
				uint32_t *q = realloc(mi->raw, nc * sizeof *q);

				if (!q)
					return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (ids)");
				mi->raw = q;
				mi->craw = nc;
			}
			mi->raw[mi->nraw++] = p->id;
			continue;
		}
		rc = tok_bpe_tokenize(&mi->t->bpe, mi->bs, w->buf.p + p->off, p->len, &mi->raw, &mi->nraw,
				      &mi->craw);
		if (rc)
			return rc;
	}
	return LUTDB_OK;
}

int lutdb_tokenizer_encode(const lutdb_tokenizer *t, const char *text, size_t len,
			   int add_special_tokens, uint32_t **ids, size_t *n)
{
	struct tok_scratch *x = NULL;
	struct tok_work *a, *b;
	struct model_ids mi = {t, NULL, NULL, 0, 0};
	size_t i;
	int rc, owned = 1;

	if (ids)
		*ids = NULL;
	if (n)
		*n = 0;
	if (!t || !ids || !n || (len && !text))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_encode: NULL argument");
	if (len > TOK_MAX_INPUT)
		return lutdb_fail(LUTDB_ETOOBIG, "lutdb_tokenizer_encode: input of %zu bytes (limit %zu)",
				  len, (size_t)TOK_MAX_INPUT);
	x = tok_scratch_get(&owned);
	if (!x)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (scratch)");
	a = &x->a;
	b = &x->b;
	tok_match_ctx_budget(&x->m); /* a new input: a new regex work budget */
	tok_work_reset(a);
	tok_work_reset(b);
	if (!text)
		text = "";
	if (!tok_utf8_is_valid(text, len)) {
		x->fixed.len = 0;
		rc = tok_utf8_lossy(&x->fixed, text, len);
		if (rc)
			goto out;
		text = x->fixed.p;
		len = x->fixed.len;
	}
	/* room for the usual sizes up front: no realloc chains on long texts */
	rc = tok_buf_reserve(&a->buf, len + len / 2 + 16);
	if (!rc)
		rc = tok_buf_reserve(&b->buf, len + len / 8 + 16);
	if (rc)
		goto out;
	/* 1. added tokens matched on the raw text */
	rc = tok_added_split(t, &x->m, &t->trie_raw, text, len,
			     (uint32_t)tok_utf8_valid_len((const unsigned char *)text, len), 1, a);
	if (rc)
		goto out;
	/* 2. normalize the other pieces, then match the normalized added tokens */
	for (i = 0; i < a->n; i++) {
		const struct tok_piece *p = &a->pc[i];
		uint32_t z = p->zlen;

		if (p->id != TOK_NO_ID) {
			rc = tok_work_push(b, a->buf.p + p->off, p->len, p->id, p->zlen, p->at0);
			if (rc)
				goto out;
			continue;
		}
		if (t->nnorm == 0 && t->trie_norm.empty) {
			rc = tok_work_push(b, a->buf.p + p->off, p->len, TOK_NO_ID, p->zlen, p->at0);
			if (rc)
				goto out;
			continue;
		}
		x->nb.len = 0;
		rc = tok_normalize(t, &x->m, a->buf.p + p->off, p->len, &x->nb, &z);
		if (!rc)
			rc = tok_buf_put(&x->nb, "", 0);
		if (!rc)
			rc = tok_added_split(t, &x->m, &t->trie_norm, x->nb.p, x->nb.len, z, p->at0, b);
		if (rc)
			goto out;
	}
	/* 3. pre-tokenize: b -> a, and 4. the model, on the pre-tokens as the
	 * last step makes them (no list of a whole text's pre-tokens) */
	mi.bs = x->bs;
	rc = tok_pretokenize(t, &x->m, &x->pre, b, a, model_pieces, &mi);
	if (!rc)
		rc = model_pieces(&mi, a);
	if (rc)
		goto out;
	/* 5. post-process (a TemplateProcessing makes a new array) */
	for (i = 0; i < t->npost; i++)
		if (t->post[i].kind == TPP_TEMPLATE)
			break;
	if (i < t->npost) {
		rc = tok_post_process(t, mi.raw, mi.nraw, add_special_tokens, ids, n);
		if (rc)
			goto out;
		if (*n == 0) {
			free(*ids);
			*ids = NULL;
		}
	} else {
		*ids = mi.nraw ? mi.raw : NULL;
		*n = mi.nraw;
		if (mi.nraw)
			mi.raw = NULL;
	}
out:
	free(mi.raw);
	tok_scratch_put(x, owned);
	return rc;
}

size_t lutdb_tokenizer_vocab_size(const lutdb_tokenizer *t)
{
	return t ? t->vocab_size : 0;
}

uint32_t lutdb_tokenizer_max_id(const lutdb_tokenizer *t)
{
	return t ? t->max_id : 0;
}

const char *lutdb_tokenizer_model_type(const lutdb_tokenizer *t)
{
	return t ? t->model_type : "";
}

size_t lutdb_tokenizer_added_count(const lutdb_tokenizer *t)
{
	return t ? t->nadded : 0;
}

int lutdb_tokenizer_added_token(const lutdb_tokenizer *t, size_t i, uint32_t *id,
				const char **content, size_t *len, int *special)
{
	if (!t || i >= t->nadded)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_added_token: index %zu out of range", i);
	if (id)
		*id = t->added[i].id;
	if (content)
		*content = t->added[i].content;
	if (len)
		*len = t->added[i].len;
	if (special)
		*special = t->added[i].special;
	return LUTDB_OK;
}

uint32_t lutdb_tokenizer_bos_id(const lutdb_tokenizer *t)
{
	return t ? t->bos_id : LUTDB_TOKEN_NONE;
}

uint32_t lutdb_tokenizer_eos_id(const lutdb_tokenizer *t)
{
	return t ? t->eos_id : LUTDB_TOKEN_NONE;
}

int lutdb_tokenizer_token_to_id(const lutdb_tokenizer *t, const char *tok, size_t len,
				uint32_t *id)
{
	if (!t || (!tok && len) || !id)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_token_to_id: NULL argument");
	if (!tok)
		tok = "";
	/* the normalized form last: it is what id_to_token gives for a
	 * normalized added token, so that the two are inverses */
	if (tok_strmap_get(&t->added_map, tok, len, id) || tok_strmap_get(&t->bpe.vocab, tok, len, id) ||
	    tok_strmap_get(&t->added_norm_map, tok, len, id))
		return LUTDB_OK;
	return lutdb_fail(LUTDB_ENOENT, "tokenizer: token \"%.*s\" is not in the vocab",
			  (int)(len > 64 ? 64 : len), tok);
}

const char *lutdb_tokenizer_id_to_token(const lutdb_tokenizer *t, uint32_t id, size_t *len)
{
	size_t l = 0;
	const char *s = t ? tok_id_to_token(t, id, &l) : NULL;

	if (len)
		*len = s ? l : 0;
	return s;
}
