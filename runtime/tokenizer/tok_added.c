/*
 * tok_added.c - added tokens: the two leftmost-longest matchers (tokens
 * matched on the raw text, and `normalized` tokens matched on each
 * normalized piece) and AddedVocabulary::find_matches' handling of
 * single_word, lstrip and rstrip.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdlib.h>
#include <string.h>

static int trie_node(struct tok_trie *tr, uint8_t byte, uint32_t *idx)
{
	if (tr->n == tr->cap) {
		size_t nc = tr->cap ? tr->cap * 2 : 256;
		struct tok_trie_node *p = realloc(tr->nodes, nc * sizeof *p);

		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (added tokens)");
		tr->nodes = p;
		tr->cap = nc;
	}
	tr->nodes[tr->n].child = 0;
	tr->nodes[tr->n].sibling = 0;
	tr->nodes[tr->n].tok = -1;
	tr->nodes[tr->n].byte = byte;
	*idx = (uint32_t)tr->n++;
	return LUTDB_OK;
}

static int trie_insert(struct tok_trie *tr, const char *s, size_t n, int32_t tok)
{
	uint32_t cur = 0, *link;
	size_t i;
	int rc;

	link = &tr->root[(uint8_t)s[0]];
	for (i = 0;; i++) {
		uint8_t b = (uint8_t)s[i];

		if (i > 0) {
			link = &tr->nodes[cur].child;
			while (*link && tr->nodes[*link - 1].byte != b)
				link = &tr->nodes[*link - 1].sibling;
		}
		if (!*link) {
			uint32_t idx = 0;

			rc = trie_node(tr, b, &idx);
			if (rc)
				return rc;
			/* link may have moved with the realloc: recompute it */
			if (i == 0)
				link = &tr->root[b];
			else {
				link = &tr->nodes[cur].child;
				while (*link)
					link = &tr->nodes[*link - 1].sibling;
			}
			*link = idx + 1;
		}
		cur = *link - 1;
		if (i + 1 == n)
			break;
	}
	if (tr->nodes[cur].tok >= 0)
		return lutdb_fail(LUTDB_ETOKENIZER,
				  "tokenizer.json: added_tokens: two tokens match the same text \"%.*s\"",
				  (int)(n > 64 ? 64 : n), s);
	tr->nodes[cur].tok = tok;
	tr->empty = 0;
	return LUTDB_OK;
}

void tok_trie_free(struct tok_trie *tr)
{
	free(tr->nodes);
	memset(tr, 0, sizeof *tr);
	tr->empty = 1;
}

int tok_added_build(struct lutdb_tokenizer *t)
{
	size_t i;
	int rc;

	memset(&t->trie_raw, 0, sizeof t->trie_raw);
	memset(&t->trie_norm, 0, sizeof t->trie_norm);
	t->trie_raw.empty = t->trie_norm.empty = 1;
	for (i = 0; i < t->nadded; i++) {
		const struct tok_added *a = &t->added[i];
		const char *p = a->normalized && a->norm ? a->norm : a->content;
		size_t n = a->normalized && a->norm ? a->norm_len : a->len;

		if (n == 0)
			return lutdb_fail(LUTDB_ETOKENIZER,
					  "tokenizer.json: added_tokens: \"%s\" normalizes to nothing",
					  a->content);
		rc = trie_insert(a->normalized ? &t->trie_norm : &t->trie_raw, p, n, (int32_t)i);
		if (rc)
			return rc;
	}
	return LUTDB_OK;
}

/* Leftmost-longest match at or after *pos; returns the added index or -1. */
static int32_t trie_next(const struct tok_trie *tr, const char *s, size_t n, size_t *pos,
			 size_t *end)
{
	size_t i;

	for (i = *pos; i < n; i++) {
		uint32_t link = tr->root[(uint8_t)s[i]];
		int32_t best = -1;
		size_t j = i, bend = 0;

		while (link) {
			const struct tok_trie_node *nd = &tr->nodes[link - 1];

			j++;
			if (nd->tok >= 0) {
				best = nd->tok;
				bend = j;
			}
			if (j >= n)
				break;
			link = nd->child;
			while (link && tr->nodes[link - 1].byte != (uint8_t)s[j])
				link = tr->nodes[link - 1].sibling;
		}
		if (best >= 0) {
			*pos = i;
			*end = bend;
			return best;
		}
	}
	return -1;
}

/* Start of the last char of s[0..n) (n > 0). */
static size_t last_char(const char *s, size_t n)
{
	size_t i = n - 1;

	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	return i;
}

static int push_piece(const char *s, size_t a, size_t b, uint32_t id, uint32_t zlen,
		      uint32_t at0, struct tok_work *out)
{
	uint32_t pa0 = at0 && a < zlen, z = 0;

	if (b <= a)
		return LUTDB_OK; /* empty splits are dropped */
	if (pa0)
		z = (uint32_t)((zlen < b ? zlen : b) - a);
	return tok_work_push(out, s + a, b - a, id, z, pa0);
}

int tok_added_split(const struct lutdb_tokenizer *t, struct tok_match_ctx *m,
		    const struct tok_trie *trie, const char *s, size_t n, uint32_t zlen,
		    uint32_t at0, struct tok_work *out)
{
	size_t pos = 0, start_offset = 0;
	int rc;

	if (trie->empty || n == 0)
		return push_piece(s, 0, n, TOK_NO_ID, zlen, at0, out);
	for (;;) {
		size_t start, stop;
		int32_t k = trie_next(trie, s, n, &pos, &stop);
		const struct tok_added *a;

		if (k < 0)
			break;
		start = pos;
		pos = stop;
		a = &t->added[k];
		if (a->single_word) {
			int start_space = start == 0 ||
					  !tok_char_is(m, TOK_CLS_WORD, s + last_char(s, start),
						       start - last_char(s, start));
			int stop_space = stop == n || !tok_char_is(m, TOK_CLS_WORD, s + stop, n - stop);

			if (!start_space || !stop_space)
				continue;
		}
		if (a->lstrip) {
			size_t ns = start;

			while (ns > 0) {
				size_t c = last_char(s, ns);

				if (!tok_char_is(m, TOK_CLS_SPACE, s + c, ns - c))
					break;
				ns = c;
			}
			start = ns > start_offset ? ns : start_offset;
		}
		if (a->rstrip) {
			while (stop < n) {
				size_t l = tok_utf8_valid_len((const unsigned char *)s + stop, n - stop);

				if (!l || !tok_char_is(m, TOK_CLS_SPACE, s + stop, l))
					break;
				stop += l;
			}
		}
		if (start_offset < start) {
			rc = push_piece(s, start_offset, start, TOK_NO_ID, zlen, at0, out);
			if (rc)
				return rc;
		}
		rc = push_piece(s, start, stop, a->id, zlen, at0, out);
		if (rc)
			return rc;
		start_offset = stop;
	}
	if (start_offset != n)
		return push_piece(s, start_offset, n, TOK_NO_ID, zlen, at0, out);
	return LUTDB_OK;
}
