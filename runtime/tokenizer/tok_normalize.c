/*
 * tok_normalize.c - normalizers: NFC, NFKC, Replace, Prepend (a Sequence is
 * flattened into the list at load).
 *
 * Each piece the added-token pass leaves is normalized on its own, as
 * `tokenizers` does.  zlen (bytes aligned to original offset 0) follows the
 * alignment rules of NormalizedString::replace / prepend.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static int unicode_norm(int compat, const char *s, size_t n, struct tok_buf *out)
{
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t r;
	utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
	size_t i;
	int rc;

	/* ASCII is invariant under NFC and NFKC. */
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			break;
	if (i == n)
		return tok_buf_put(out, s, n);
	if (compat)
		opt |= UTF8PROC_COMPAT;
	if (n > (size_t)1 << 40)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: text too large to normalize");
	r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
	if (r < 0)
		return lutdb_fail(r == UTF8PROC_ERROR_NOMEM ? LUTDB_ENOMEM : LUTDB_EINTERNAL,
				  "tokenizer: %s normalization failed: %s", compat ? "NFKC" : "NFC",
				  utf8proc_errmsg(r));
	rc = tok_buf_put(out, dst, (size_t)r);
	free(dst);
	return rc;
}

int tok_normalize_one(const struct tok_norm *nm, struct tok_match_ctx *m, const char *s,
		      size_t n, struct tok_buf *out, uint32_t *zlen)
{
	struct tok_segs segs = {0};
	size_t i, start = out->len;
	uint32_t z = *zlen, nz = 0;
	int rc = LUTDB_OK, done = 0;

	switch (nm->kind) {
	case TN_NFC:
	case TN_NFKC:
		rc = unicode_norm(nm->kind == TN_NFKC, s, n, out);
		if (!rc && z) {
			/* Only the first char keeps offset 0 (Metaspace "first" with a
			 * Unicode normalizer is rejected at load, so this is a bound). */
			size_t l = out->len > start ? tok_utf8_valid_len((const unsigned char *)out->p + start,
									 out->len - start) : 0;
			*zlen = (uint32_t)l;
		}
		return rc;
	case TN_PREPEND:
		if (n == 0)
			return LUTDB_OK;
		rc = tok_buf_put(out, nm->content, nm->content_len);
		if (!rc)
			rc = tok_buf_put(out, s, n);
		if (z)
			*zlen = (uint32_t)(nm->content_len + z);
		return rc;
	case TN_REPLACE:
		rc = tok_regex_find_matches(&nm->re, m, s, n, &segs);
		if (rc)
			goto out;
		for (i = 0; i < segs.n && !rc; i++) {
			const struct tok_seg *g = &segs.v[i];

			if (g->is_match) {
				rc = tok_buf_put(out, nm->content, nm->content_len);
				if (!done && nm->content_len) {
					if (g->e > 0 && g->e - 1 < z)
						nz += (uint32_t)nm->content_len;
					else
						done = 1;
				}
			} else {
				rc = tok_buf_put(out, s + g->s, g->e - g->s);
				if (!done && g->e > g->s) {
					uint32_t k = z > g->s ? (z < g->e ? z : g->e) - g->s : 0;

					nz += k;
					if (k < g->e - g->s)
						done = 1;
				}
			}
		}
		*zlen = nz;
		break;
	default:
		rc = lutdb_fail(LUTDB_EINTERNAL, "tokenizer: bad normalizer kind");
	}
out:
	free(segs.v);
	return rc;
}

int tok_normalize(const struct lutdb_tokenizer *t, struct tok_match_ctx *m, const char *s,
		  size_t n, struct tok_buf *out, uint32_t *zlen)
{
	struct tok_buf a = {0}, b = {0};
	const char *cur = s;
	size_t curn = n, i;
	int rc = LUTDB_OK;

	if (t->nnorm == 0)
		return tok_buf_put(out, s, n);
	if (t->nnorm == 1)
		return tok_normalize_one(&t->norm[0], m, s, n, out, zlen);
	for (i = 0; i < t->nnorm; i++) {
		struct tok_buf *dst = (i & 1) ? &b : &a;

		dst->len = 0;
		rc = tok_normalize_one(&t->norm[i], m, cur, curn, dst, zlen);
		if (rc)
			goto out;
		rc = tok_buf_put(dst, "", 0); /* make sure p is non-NULL */
		if (rc)
			goto out;
		cur = dst->p;
		curn = dst->len;
	}
	rc = tok_buf_put(out, cur, curn);
out:
	tok_buf_free(&a);
	tok_buf_free(&b);
	return rc;
}

void tok_norm_free(struct tok_norm *nm)
{
	tok_regex_free(&nm->re);
	free(nm->content);
	nm->content = NULL;
}
