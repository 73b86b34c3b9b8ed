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

/* ---- output ------------------------------------------------------------- */

/* Where a step's pieces go: the output list, which the last step hands to
 * the model every TOK_FLUSH_PIECES pieces (flush), so that the list of a
 * whole text's pre-tokens never exists. */
struct pre_out {
	struct tok_work *w;
	int (*flush)(void *ctx, struct tok_work *w);
	void *ctx;
};

#define TOK_FLUSH_PIECES 4096

static int out_flushed(struct pre_out *o)
{
	int rc;

	if (!o->flush || o->w->n < TOK_FLUSH_PIECES)
		return LUTDB_OK;
	rc = o->flush(o->ctx, o->w);
	tok_work_reset(o->w);
	return rc;
}

static int out_push(struct pre_out *o, const char *s, size_t len, uint32_t zlen, uint32_t at0)
{
	int rc = tok_work_push(o->w, s, len, TOK_NO_ID, zlen, at0);

	return rc ? rc : out_flushed(o);
}

/* ---- splitting ---------------------------------------------------------- */

/* NormalizedString::split's handling of the delimiter, one segment at a
 * time: the segments of a piece go in, its ranges come out (emitted as
 * pieces).  The merging behaviors keep one pending range; MergedWithNext,
 * which `tokenizers` computes from the end, merges a match with the
 * non-match right after it, which is the same thing read forwards. */
struct splitter {
	int behavior;
	const char *s;              /* the piece's bytes */
	const struct tok_piece *p;
	struct pre_out *o;
	uint32_t ps, pe;            /* the pending range */
	int have, prev_m;
};

/* Emits [a, b) of the piece, unless removed or empty. */
static int emit_range(struct splitter *sp, uint32_t a, uint32_t b, int remove)
{
	const struct tok_piece *p = sp->p;
	uint32_t at0, z = 0;

	if (remove || b == a)
		return LUTDB_OK;
	at0 = p->at0 && a < p->zlen;
	if (at0)
		z = (p->zlen < b ? p->zlen : b) - a;
	return out_push(sp->o, sp->s + a, b - a, z, at0);
}

static int split_feed(struct splitter *sp, const struct tok_seg *g)
{
	int m = g->is_match, rc = LUTDB_OK, extend;

	switch (sp->behavior) {
	case TB_ISOLATED:
	case TB_REMOVED:
		return emit_range(sp, g->s, g->e, sp->behavior == TB_REMOVED && m);
	case TB_CONTIGUOUS:
		extend = m == sp->prev_m && sp->have;
		break;
	case TB_MERGED_PREV:
		extend = m && !sp->prev_m && sp->have;
		break;
	case TB_MERGED_NEXT:
		extend = !m && sp->prev_m && sp->have;
		break;
	default:
		return lutdb_fail(LUTDB_EINTERNAL, "tokenizer: bad split behavior");
	}
	sp->prev_m = m;
	if (extend) {
		sp->pe = g->e;
		return LUTDB_OK;
	}
	if (sp->have)
		rc = emit_range(sp, sp->ps, sp->pe, 0);
	sp->ps = g->s;
	sp->pe = g->e;
	sp->have = 1;
	return rc;
}

static int split_end(struct splitter *sp)
{
	if (!sp->have)
		return LUTDB_OK;
	sp->have = 0;
	return emit_range(sp, sp->ps, sp->pe, 0);
}

/* The segments of the char predicate "is numeric" (Nd, Nl, No), one at a
 * time: a run of others, then each numeric char. */
struct numeric_iter {
	const char *s;
	size_t n, i, last;
	int started;
	struct tok_seg pend;
	int have_pend;
};

static int numeric_next(struct numeric_iter *it, struct tok_seg *g)
{
	size_t l;

	if (it->have_pend) {
		it->have_pend = 0;
		*g = it->pend;
		return 1;
	}
	if (!it->n) {
		if (it->started)
			return 0;
		it->started = 1;
		*g = (struct tok_seg){0, 0, 0};
		return 1;
	}
	it->started = 1;
	while (it->i < it->n) {
		size_t i = it->i;
		uint32_t cp = tok_utf8_decode(it->s + i, &l);
		utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);

		it->i += l;
		if (c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO) {
			struct tok_seg d = {(uint32_t)i, (uint32_t)(i + l), 1};

			if (it->last < i) {
				*g = (struct tok_seg){(uint32_t)it->last, (uint32_t)i, 0};
				it->pend = d;
				it->have_pend = 1;
			} else {
				*g = d;
			}
			it->last = i + l;
			return 1;
		}
	}
	if (it->n > it->last) {
		*g = (struct tok_seg){(uint32_t)it->last, (uint32_t)it->n, 0};
		it->last = it->n;
		return 1;
	}
	return 0;
}

/* Byte-level mapping of s[0..n) appended to the output as one piece. */
static int push_bytemapped(const char *s, size_t n, uint32_t zlen, uint32_t at0, struct pre_out *o)
{
	struct tok_work *w = o->w;
	size_t off = w->buf.len, i;
	uint32_t nz = 0;
	char *d;
	int rc = tok_buf_reserve(&w->buf, 2 * n);

	if (rc)
		return rc;
	d = w->buf.p + off;
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];

		*d++ = bmap.s[b][0];
		if (bmap.len[b] > 1)
			*d++ = bmap.s[b][1];
		if (i < zlen)
			nz += bmap.len[b];
	}
	w->buf.len = (size_t)(d - w->buf.p);
	w->buf.p[w->buf.len] = '\0';
	if (off > UINT32_MAX || w->buf.len - off > UINT32_MAX)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: text too large");
	rc = tok_work_push_ref(w, (uint32_t)off, (uint32_t)(w->buf.len - off), TOK_NO_ID, nz, at0);
	return rc ? rc : out_flushed(o);
}


static int step_bytelevel(const struct lutdb_tokenizer *t, const struct tok_pre *pt,
			  struct tok_match_ctx *m, const struct tok_piece *p, const char *s,
			  struct tok_pre_scratch *x, struct pre_out *o)
{
	struct tok_piece q = *p;
	struct tok_re_iter it;
	struct tok_seg g;
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
		return push_bytemapped(s, q.len, q.zlen, q.at0, o);
	tok_re_iter_init(&it, &t->gpt2_re, m, s, q.len);
	while ((rc = tok_re_iter_next(&it, &g)) == 1) {
		uint32_t at0, z = 0;

		if (g.e == g.s)
			continue;
		at0 = q.at0 && g.s < q.zlen;
		if (at0)
			z = (q.zlen < g.e ? q.zlen : g.e) - g.s;
		if ((rc = push_bytemapped(s + g.s, g.e - g.s, z, at0, o)))
			return rc;
	}
	return rc;
}

static int step_metaspace(const struct tok_pre *pt, const struct tok_piece *p, const char *s,
			  struct tok_pre_scratch *x, struct pre_out *o)
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
		return q.len ? out_push(o, b->p, q.len, q.zlen, q.at0) : LUTDB_OK;
	if (!q.len)
		return LUTDB_OK;
	/* split on the replacement char, MergedWithNext */
	{
		struct splitter sp = {TB_MERGED_NEXT, b->p, &q, o, 0, 0, 0, 0};
		size_t last = 0;
		struct tok_seg g;

		i = 0;
		while (i < q.len) {
			if (i + (size_t)pt->repl_len <= q.len &&
			    !memcmp(b->p + i, pt->repl, (size_t)pt->repl_len)) {
				if (last < i) {
					g = (struct tok_seg){(uint32_t)last, (uint32_t)i, 0};
					if ((rc = split_feed(&sp, &g)))
						return rc;
				}
				g = (struct tok_seg){(uint32_t)i, (uint32_t)(i + (size_t)pt->repl_len), 1};
				if ((rc = split_feed(&sp, &g)))
					return rc;
				i += (size_t)pt->repl_len;
				last = i;
			} else {
				size_t l = tok_utf8_valid_len((const unsigned char *)b->p + i, q.len - i);

				i += l ? l : 1;
			}
		}
		if (q.len > last) {
			g = (struct tok_seg){(uint32_t)last, q.len, 0};
			if ((rc = split_feed(&sp, &g)))
				return rc;
		}
		return split_end(&sp);
	}
}

/* Split (regex or string) and Digits: segments fed to a splitter. */
static int step_split(const struct tok_pre *pt, struct tok_match_ctx *m, const struct tok_piece *p,
		      const char *s, struct pre_out *o)
{
	struct splitter sp = {0};
	struct tok_re_iter it;
	struct numeric_iter nit = {0};
	struct tok_seg g;
	int rc;

	sp.behavior = pt->kind == TP_SPLIT ? pt->behavior : pt->individual_digits ? TB_ISOLATED : TB_CONTIGUOUS;
	sp.s = s;
	sp.p = p;
	sp.o = o;
	if (pt->kind == TP_SPLIT)
		tok_re_iter_init(&it, &pt->re, m, s, p->len);
	nit.s = s;
	nit.n = p->len;
	for (;;) {
		rc = pt->kind == TP_SPLIT ? tok_re_iter_next(&it, &g) : numeric_next(&nit, &g);
		if (rc <= 0)
			break;
		if (pt->kind == TP_SPLIT && pt->invert)
			g.is_match = !g.is_match;
		if ((rc = split_feed(&sp, &g)))
			return rc;
	}
	return rc ? rc : split_end(&sp);
}

static int run_step(const struct lutdb_tokenizer *t, const struct tok_pre *pt,
		    struct tok_match_ctx *m, const struct tok_work *in, struct tok_pre_scratch *x,
		    struct pre_out *o)
{
	size_t i;
	int rc = LUTDB_OK;

	tok_work_reset(o->w);
	for (i = 0; i < in->n && !rc; i++) {
		const struct tok_piece *p = &in->pc[i];
		const char *s = in->buf.p + p->off;

		if (p->id != TOK_NO_ID) {
			rc = tok_work_push(o->w, s, p->len, p->id, p->zlen, p->at0);
			if (!rc)
				rc = out_flushed(o);
			continue;
		}
		switch (pt->kind) {
		case TP_BYTELEVEL:
			rc = step_bytelevel(t, pt, m, p, s, x, o);
			break;
		case TP_METASPACE:
			rc = step_metaspace(pt, p, s, x, o);
			break;
		case TP_SPLIT:
		case TP_DIGITS:
			rc = step_split(pt, m, p, s, o);
			break;
		default:
			rc = lutdb_fail(LUTDB_EINTERNAL, "tokenizer: bad pre-tokenizer kind");
		}
	}
	return rc;
}

int tok_pretokenize(const struct lutdb_tokenizer *t, struct tok_match_ctx *m,
		    struct tok_pre_scratch *x, struct tok_work *in, struct tok_work *out,
		    int (*flush)(void *ctx, struct tok_work *w), void *ctx)
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
		struct pre_out o = {b, i + 1 == t->npre ? flush : NULL, ctx};

		rc = run_step(t, &t->pre[i], m, a, x, &o);
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
	tok_buf_free(&x->sbuf);
	memset(x, 0, sizeof *x);
}

void tok_pre_free(struct tok_pre *p)
{
	tok_regex_free(&p->re);
}
