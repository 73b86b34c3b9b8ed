/*
 * tok_pretok.c - pre-tokenizers: ByteLevel, Split, Metaspace, Digits (a
 * Sequence is flattened at load).
 *
 * Each step maps the piece list to a new one exactly as the corresponding
 * `tokenizers` PreTokenizer does on a PreTokenizedString: pieces that are
 * added tokens pass through, every other piece is split (empty results
 * dropped) and possibly transformed.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- GPT-2 byte <-> char ------------------------------------------------ */

static int byte_is_direct(unsigned b)
{
	return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_to_cp(uint8_t b)
{
	unsigned n = 0, i;

	if (byte_is_direct(b))
		return b;
	for (i = 0; i < b; i++)
		if (!byte_is_direct(i))
			n++;
	return 256 + n;
}


/* UTF-8 of the char of each byte: built once (idempotent, race-free: every
 * thread writes the same bytes before publishing through the flag). */
static struct {
	char s[256][2];
	uint8_t len[256];
	int16_t cp2b[324];
} bmap;
static void bmap_init(void)
{
	unsigned b;

	for (b = 0; b < 324; b++)
		bmap.cp2b[b] = -1;
	for (b = 0; b < 256; b++)
		bmap.cp2b[tok_byte_to_cp((uint8_t)b)] = (int16_t)b;

	for (b = 0; b < 256; b++) {
		char tmp[4];
		size_t l = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), tmp);

		bmap.s[b][0] = tmp[0];
		bmap.s[b][1] = l > 1 ? tmp[1] : 0;
		bmap.len[b] = (uint8_t)l;
	}
}

#include <pthread.h>
static pthread_once_t bmap_once = PTHREAD_ONCE_INIT;

int tok_cp_to_byte(uint32_t cp)
{
	pthread_once(&bmap_once, bmap_init);
	return cp < 324 ? bmap.cp2b[cp] : -1;
}

/* ---- splitting ---------------------------------------------------------- */


static int ranges_push(struct ranges *r, uint32_t s, uint32_t e, int remove)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		struct range *p = realloc(r->v, nc * sizeof *p);

		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (splits)");
		r->v = p;
		r->cap = nc;
	}
	r->v[r->n].s = s;
	r->v[r->n].e = e;
	r->v[r->n].remove = remove;
	r->n++;
	return LUTDB_OK;
}

/* NormalizedString::split's handling of the delimiter. */
static int apply_behavior(const struct tok_segs *g, int behavior, struct ranges *r)
{
	size_t i;
	int prev = 0, rc = LUTDB_OK;

	r->n = 0;
	switch (behavior) {
	case TB_ISOLATED:
	case TB_REMOVED:
		for (i = 0; i < g->n && !rc; i++)
			rc = ranges_push(r, g->v[i].s, g->v[i].e,
					 behavior == TB_REMOVED && g->v[i].is_match);
		return rc;
	case TB_CONTIGUOUS:
		for (i = 0; i < g->n && !rc; i++) {
			int m = g->v[i].is_match;

			if (m == prev && r->n)
				r->v[r->n - 1].e = g->v[i].e;
			else
				rc = ranges_push(r, g->v[i].s, g->v[i].e, 0);
			prev = m;
		}
		return rc;
	case TB_MERGED_PREV:
		for (i = 0; i < g->n && !rc; i++) {
			int m = g->v[i].is_match;

			if (m && !prev && r->n)
				r->v[r->n - 1].e = g->v[i].e;
			else
				rc = ranges_push(r, g->v[i].s, g->v[i].e, 0);
			prev = m;
		}
		return rc;
	case TB_MERGED_NEXT:
		for (i = g->n; i-- > 0 && !rc;) {
			int m = g->v[i].is_match;

			if (m && !prev && r->n)
				r->v[r->n - 1].s = g->v[i].s;
			else
				rc = ranges_push(r, g->v[i].s, g->v[i].e, 0);
			prev = m;
		}
		for (i = 0; i < r->n / 2; i++) {
			struct range x = r->v[i];

			r->v[i] = r->v[r->n - 1 - i];
			r->v[r->n - 1 - i] = x;
		}
		return rc;
	}
	return lutdb_fail(LUTDB_EINTERNAL, "tokenizer: bad split behavior");
}

/* Pushes the kept, non-empty slices of piece p (bytes at s) into out. */
static int push_slices(const struct ranges *r, const char *s, const struct tok_piece *p,
		       struct tok_work *out)
{
	size_t i;
	int rc;

	for (i = 0; i < r->n; i++) {
		const struct range *x = &r->v[i];
		uint32_t at0, z = 0;

		if (x->remove || x->e == x->s)
			continue;
		at0 = p->at0 && x->s < p->zlen;
		if (at0)
			z = (p->zlen < x->e ? p->zlen : x->e) - x->s;
		rc = tok_work_push(out, s + x->s, x->e - x->s, TOK_NO_ID, z, at0);
		if (rc)
			return rc;
	}
	return LUTDB_OK;
}

/* Segments of the char predicate "is numeric" (Nd, Nl, No). */
static int numeric_segs(const char *s, size_t n, struct tok_segs *g)
{
	size_t i = 0, last = 0, l;
	int rc;

	g->n = 0;
	if (!n)
		return tok_segs_push(g, 0, 0, 0);
	while (i < n) {
		uint32_t cp = tok_utf8_decode(s + i, &l);
		utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);

		if (c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO) {
			if (last < i) {
				rc = tok_segs_push(g, (uint32_t)last, (uint32_t)i, 0);
				if (rc)
					return rc;
			}
			rc = tok_segs_push(g, (uint32_t)i, (uint32_t)(i + l), 1);
			if (rc)
				return rc;
			last = i + l;
		}
		i += l;
	}
	if (n > last)
		return tok_segs_push(g, (uint32_t)last, (uint32_t)n, 0);
	return LUTDB_OK;
}

/* Byte-level mapping of s[0..n) appended to out as one piece. */
static int push_bytemapped(const char *s, size_t n, uint32_t zlen, uint32_t at0,
			   struct tok_work *out)
{
	size_t off = out->buf.len, i;
	uint32_t nz = 0;
	char *d;
	int rc = tok_buf_reserve(&out->buf, 2 * n);

	if (rc)
		return rc;
	d = out->buf.p + off;
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];

		*d++ = bmap.s[b][0];
		if (bmap.len[b] > 1)
			*d++ = bmap.s[b][1];
		if (i < zlen)
			nz += bmap.len[b];
	}
	out->buf.len = (size_t)(d - out->buf.p);
	out->buf.p[out->buf.len] = '\0';
	return tok_work_push_ref(out, (uint32_t)off, (uint32_t)(out->buf.len - off), TOK_NO_ID, nz,
				 at0);
}


static int step_bytelevel(const struct lutdb_tokenizer *t, const struct tok_pre *pt,
			  struct tok_match_ctx *m, const struct tok_piece *p, const char *s,
			  struct tok_pre_scratch *x, struct tok_work *out)
{
	struct tok_piece q = *p;
	size_t i;
	int rc;

	if (pt->add_prefix_space && s[0] != ' ') {
		x->sbuf.len = 0;
		rc = tok_buf_put(&x->sbuf, " ", 1);
		if (!rc)
			rc = tok_buf_put(&x->sbuf, s, p->len);
		if (rc)
			return rc;
		s = x->sbuf.p;
		q.len++;
		if (q.zlen)
			q.zlen++;
	}
	if (!pt->use_regex)
		return push_bytemapped(s, q.len, q.zlen, q.at0, out);
	rc = tok_regex_find_matches(&t->gpt2_re, m, s, q.len, &x->segs);
	if (rc)
		return rc;
	for (i = 0; i < x->segs.n; i++) {
		const struct tok_seg *g = &x->segs.v[i];
		uint32_t at0, z = 0;

		if (g->e == g->s)
			continue;
		at0 = q.at0 && g->s < q.zlen;
		if (at0)
			z = (q.zlen < g->e ? q.zlen : g->e) - g->s;
		rc = push_bytemapped(s + g->s, g->e - g->s, z, at0, out);
		if (rc)
			return rc;
	}
	return LUTDB_OK;
}

static int step_metaspace(const struct tok_pre *pt, const struct tok_piece *p, const char *s,
			  struct tok_pre_scratch *x, struct tok_work *out)
{
	struct tok_buf *b = &x->sbuf;
	struct tok_piece q = *p;
	size_t i, nz = 0;
	int rc, done = 0, pre = 0;

	b->len = 0;
	/* replace ' ' by the replacement (NormalizedString::replace) */
	for (i = 0; i < p->len; i++) {
		if (s[i] == ' ') {
			rc = tok_buf_put(b, pt->repl, (size_t)pt->repl_len);
			if (!done) {
				if (i < p->zlen)
					nz += (size_t)pt->repl_len;
				else
					done = 1;
			}
		} else {
			rc = tok_buf_put(b, s + i, 1);
			if (!done) {
				if (i < p->zlen)
					nz++;
				else
					done = 1;
			}
		}
		if (rc)
			return rc;
	}
	q.zlen = (uint32_t)nz;
	q.len = (uint32_t)b->len;
	{
		int starts = b->len >= (size_t)pt->repl_len && !memcmp(b->p, pt->repl, (size_t)pt->repl_len);

		if (pt->prepend_scheme == TPS_ALWAYS)
			pre = !starts;
		else if (pt->prepend_scheme == TPS_FIRST)
			pre = !starts && p->at0;
	}
	if (pre && q.len) {
		size_t old = b->len;

		rc = tok_buf_reserve(b, (size_t)pt->repl_len);
		if (rc)
			return rc;
		memmove(b->p + pt->repl_len, b->p, old);
		memcpy(b->p, pt->repl, (size_t)pt->repl_len);
		b->len = old + (size_t)pt->repl_len;
		q.len = (uint32_t)b->len;
		if (q.zlen)
			q.zlen += (uint32_t)pt->repl_len;
	}
	if (!pt->split)
		return q.len ? tok_work_push(out, b->p, q.len, TOK_NO_ID, q.zlen, q.at0) : LUTDB_OK;
	/* split on the replacement char, MergedWithNext */
	{
		struct tok_segs *g = &x->segs;
		size_t last = 0;

		g->n = 0;
		i = 0;
		if (!q.len)
			return LUTDB_OK;
		while (i < q.len) {
			if (i + (size_t)pt->repl_len <= q.len &&
			    !memcmp(b->p + i, pt->repl, (size_t)pt->repl_len)) {
				if (last < i && (rc = tok_segs_push(g, (uint32_t)last, (uint32_t)i, 0)))
					return rc;
				rc = tok_segs_push(g, (uint32_t)i, (uint32_t)(i + (size_t)pt->repl_len), 1);
				if (rc)
					return rc;
				i += (size_t)pt->repl_len;
				last = i;
			} else {
				size_t l = tok_utf8_valid_len((const unsigned char *)b->p + i, q.len - i);

				i += l ? l : 1;
			}
		}
		if (q.len > last && (rc = tok_segs_push(g, (uint32_t)last, q.len, 0)))
			return rc;
		rc = apply_behavior(g, TB_MERGED_NEXT, &x->rg);
		if (rc)
			return rc;
		return push_slices(&x->rg, b->p, &q, out);
	}
}

static int run_step(const struct lutdb_tokenizer *t, const struct tok_pre *pt,
		    struct tok_match_ctx *m, const struct tok_work *in, struct tok_pre_scratch *x,
		    struct tok_work *out)
{
	size_t i;
	int rc = LUTDB_OK;

	tok_work_reset(out);
	for (i = 0; i < in->n && !rc; i++) {
		const struct tok_piece *p = &in->pc[i];
		const char *s = in->buf.p + p->off;

		if (p->id != TOK_NO_ID) {
			rc = tok_work_push(out, s, p->len, p->id, p->zlen, p->at0);
			continue;
		}
		switch (pt->kind) {
		case TP_BYTELEVEL:
			rc = step_bytelevel(t, pt, m, p, s, x, out);
			break;
		case TP_METASPACE:
			rc = step_metaspace(pt, p, s, x, out);
			break;
		case TP_SPLIT:
		case TP_DIGITS:
			if (pt->kind == TP_SPLIT)
				rc = tok_regex_find_matches(&pt->re, m, s, p->len, &x->segs);
			else
				rc = numeric_segs(s, p->len, &x->segs);
			if (rc)
				break;
			if (pt->kind == TP_SPLIT && pt->invert) {
				size_t j;

				for (j = 0; j < x->segs.n; j++)
					x->segs.v[j].is_match = !x->segs.v[j].is_match;
			}
			rc = apply_behavior(&x->segs,
					    pt->kind == TP_SPLIT ? pt->behavior
					    : pt->individual_digits ? TB_ISOLATED : TB_CONTIGUOUS,
					    &x->rg);
			if (!rc)
				rc = push_slices(&x->rg, s, p, out);
			break;
		default:
			rc = lutdb_fail(LUTDB_EINTERNAL, "tokenizer: bad pre-tokenizer kind");
		}
	}
	return rc;
}

int tok_pretokenize(const struct lutdb_tokenizer *t, struct tok_match_ctx *m,
		    struct tok_pre_scratch *x, struct tok_work *in, struct tok_work *out)
{
	struct tok_work *a = in, *b = out;
	size_t i;
	int rc = LUTDB_OK;

	pthread_once(&bmap_once, bmap_init);
	if (t->npre == 0) {
		struct tok_work tmp = *in;

		*in = *out;
		*out = tmp;
		return LUTDB_OK;
	}
	for (i = 0; i < t->npre; i++) {
		rc = run_step(t, &t->pre[i], m, a, x, b);
		if (rc)
			goto out;
		{
			struct tok_work *tmp = a;

			a = b;
			b = tmp;
		}
	}
	if (a != out) {
		struct tok_work tmp = *in;

		*in = *out;
		*out = tmp;
	}
out:
	return rc;
}

void tok_pre_scratch_free(struct tok_pre_scratch *x)
{
	free(x->segs.v);
	free(x->rg.v);
	tok_buf_free(&x->sbuf);
	memset(x, 0, sizeof *x);
}

void tok_pre_free(struct tok_pre *p)
{
	tok_regex_free(&p->re);
}
