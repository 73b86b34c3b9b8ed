/*
 * tok_decode.c - decoders (ByteLevel, ByteFallback, Fuse, Strip, Replace,
 * Metaspace; a Sequence is flattened at load), decode and the streaming
 * decoder (HF DecodeStream).
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdlib.h>
#include <string.h>

/* A list of token strings. */
struct toks {
	struct tok_buf buf;
	size_t *off, *len;
	size_t n, cap;
};

static int toks_push(struct toks *t, const char *s, size_t n)
{
	int rc;

	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		size_t *o = realloc(t->off, nc * sizeof *o), *l;

		if (!o)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (decode)");
		t->off = o;
		l = realloc(t->len, nc * sizeof *l);
		if (!l)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (decode)");
		t->len = l;
		t->cap = nc;
	}
	t->off[t->n] = t->buf.len;
	t->len[t->n] = n;
	rc = tok_buf_put(&t->buf, s, n);
	if (rc)
		return rc;
	t->n++;
	return LUTDB_OK;
}

/* Starts a token built piecewise with toks_append. */
static int toks_begin(struct toks *t)
{
	return toks_push(t, "", 0);
}

static int toks_append(struct toks *t, const char *s, size_t n)
{
	int rc = tok_buf_put(&t->buf, s, n);

	if (!rc)
		t->len[t->n - 1] += n;
	return rc;
}

static void toks_reset(struct toks *t)
{
	t->buf.len = 0;
	t->n = 0;
}

static void toks_free(struct toks *t)
{
	tok_buf_free(&t->buf);
	free(t->off);
	free(t->len);
	memset(t, 0, sizeof *t);
}

#define TOK(t, i) ((t)->buf.p + (t)->off[i])

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* u8::from_str_radix(s[0..2], 16): a leading '+' is accepted. */
static int parse_byte(const char *s)
{
	int a, b;

	if (s[0] == '+')
		return hexval(s[1]);
	a = hexval(s[0]);
	b = hexval(s[1]);
	return a < 0 || b < 0 ? -1 : a * 16 + b;
}

static int flush_bytes(struct toks *out, struct tok_buf *bytes)
{
	size_t i;
	int rc = LUTDB_OK;

	if (!bytes->len)
		return LUTDB_OK;
	if (tok_utf8_is_valid(bytes->p, bytes->len))
		rc = toks_push(out, bytes->p, bytes->len);
	else
		for (i = 0; i < bytes->len && !rc; i++)
			rc = toks_push(out, "\xEF\xBF\xBD", 3);
	bytes->len = 0;
	return rc;
}

/* ByteLevel: every token's chars map back to the bytes they stand for (a
 * token with a char outside the map stays as it is); the whole becomes one
 * token, invalid UTF-8 replaced. */
static int dec_bytelevel(const struct toks *in, struct toks *out)
{
	struct tok_buf tmp = {0};
	size_t i, j;
	/* every token becomes at most its own byte length */
	int rc = tok_buf_reserve(&tmp, in->buf.len);

	(void)tok_cp_to_byte(0); /* builds the table */
	for (i = 0; i < in->n && !rc; i++) {
		const char *s = TOK(in, i);
		size_t n = in->len[i], l, start = tmp.len;

		for (j = 0; j < n; j += l) {
			uint32_t cp = tok_utf8_decode(s + j, &l);
			int b = cp < 324 ? tok_cp_to_byte(cp) : -1;

			if (b < 0)
				break;
			tmp.p[tmp.len++] = (char)b;
		}
		if (j < n) {
			tmp.len = start;
			memcpy(tmp.p + tmp.len, s, n);
			tmp.len += n;
		}
	}
	if (!rc)
		rc = toks_begin(out);
	if (!rc) {
		size_t before = out->buf.len;

		rc = tok_utf8_lossy(&out->buf, tmp.p ? tmp.p : "", tmp.len);
		out->len[0] = out->buf.len - before;
	}
	tok_buf_free(&tmp);
	return rc;
}

/* ByteFallback: runs of <0xXX> tokens become their bytes (one U+FFFD per
 * byte when the run is not valid UTF-8). */
static int dec_bytefallback(const struct toks *in, struct toks *out)
{
	struct tok_buf bytes = {0};
	int rc = LUTDB_OK;

	for (size_t i = 0; i < in->n && !rc; i++) {
		const char *s = TOK(in, i);
		int b = -1;

		if (in->len[i] == 6 && !memcmp(s, "<0x", 3) && s[5] == '>')
			b = parse_byte(s + 3);
		if (b >= 0) {
			char c = (char)b;

			rc = tok_buf_put(&bytes, &c, 1);
			continue;
		}
		rc = flush_bytes(out, &bytes);
		if (!rc)
			rc = toks_push(out, s, in->len[i]);
	}
	if (!rc)
		rc = flush_bytes(out, &bytes);
	tok_buf_free(&bytes);
	return rc;
}

/* Fuse: all tokens into one. */
static int dec_fuse(const struct toks *in, struct toks *out)
{
	int rc = toks_begin(out);

	for (size_t i = 0; i < in->n && !rc; i++)
		rc = toks_append(out, TOK(in, i), in->len[i]);
	return rc;
}

/* Strip: up to d->start leading and d->stop trailing chars equal to d->cp
 * cut from every token (a stop longer than the token, or cuts that overlap,
 * are errors, where `tokenizers` panics). */
static int dec_strip(const struct tok_dec *d, const struct toks *in, struct toks *out)
{
	int rc = LUTDB_OK;

	for (size_t i = 0; i < in->n && !rc; i++) {
		const char *s = TOK(in, i);
		size_t n = in->len[i], l, j, k, nch = 0;
		size_t cut_start = 0, cut_stop = n;

		/* chars: walk forward for start, backward for stop */
		for (j = 0; j < n; j += l, nch++)
			(void)tok_utf8_decode(s + j, &l);
		for (k = 0, j = 0; k < d->start && j < n; k++) {
			uint32_t cp = tok_utf8_decode(s + j, &l);

			if (cp != d->cp)
				break;
			j += l;
			cut_start = j;
		}
		if (d->stop > nch)
			/* `tokenizers` indexes before the token start and panics */
			return lutdb_fail(LUTDB_ETOKENIZER, "tokenizer: decoder Strip: stop %zu is "
					  "longer than a token of %zu chars", d->stop, nch);
		for (k = 0, j = n; k < d->stop && j > 0; k++) {
			size_t c = j - 1;

			while (c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80)
				c--;
			if (tok_utf8_decode(s + c, &l) != d->cp)
				break;
			j = c;
			cut_stop = c;
		}
		if (cut_stop < cut_start)
			return lutdb_fail(LUTDB_ETOKENIZER, "tokenizer: decoder Strip: the cuts overlap "
					  "in a token of %zu chars", nch);
		rc = toks_push(out, s + cut_start, cut_stop - cut_start);
	}
	return rc;
}

/* Replace: every match of d->re in a token becomes d->content. */
static int dec_replace(const struct tok_dec *d, struct tok_match_ctx *m, const struct toks *in,
		       struct toks *out)
{
	struct tok_segs segs = {0};
	int rc = LUTDB_OK;

	for (size_t i = 0; i < in->n && !rc; i++) {
		const char *s = TOK(in, i);

		rc = tok_regex_find_matches(&d->re, m, s, in->len[i], &segs);
		if (!rc)
			rc = toks_begin(out);
		for (size_t j = 0; j < segs.n && !rc; j++) {
			if (segs.v[j].is_match)
				rc = toks_append(out, d->content, d->content_len);
			else
				rc = toks_append(out, s + segs.v[j].s, segs.v[j].e - segs.v[j].s);
		}
	}
	free(segs.v);
	return rc;
}

/* Metaspace: the replacement char becomes a space, except at the start of
 * the first token when a prefix space was prepended. */
static int dec_metaspace(const struct tok_dec *d, const struct toks *in, struct toks *out)
{
	int rc = LUTDB_OK;

	for (size_t i = 0; i < in->n && !rc; i++) {
		const char *s = TOK(in, i);
		size_t n = in->len[i], l;

		rc = toks_begin(out);
		for (size_t j = 0; j < n && !rc; j += l) {
			uint32_t cp = tok_utf8_decode(s + j, &l);

			if (cp != d->cp)
				rc = toks_append(out, s + j, l);
			else if (!(i == 0 && d->prepend_scheme != TPS_NEVER))
				rc = toks_append(out, " ", 1);
		}
	}
	return rc;
}

/* One decoder of the chain: the tokens of in become those of out. */
static int dec_step(const struct tok_dec *d, struct tok_match_ctx *m, struct toks *in,
		    struct toks *out)
{
	toks_reset(out);
	switch (d->kind) {
	case TD_BYTELEVEL: return dec_bytelevel(in, out);
	case TD_BYTEFALLBACK: return dec_bytefallback(in, out);
	case TD_FUSE: return dec_fuse(in, out);
	case TD_STRIP: return dec_strip(d, in, out);
	case TD_REPLACE: return dec_replace(d, m, in, out);
	case TD_METASPACE: return dec_metaspace(d, in, out);
	default: return lutdb_fail(LUTDB_EINTERNAL, "tokenizer: bad decoder kind");
	}
}

const char *tok_id_to_token(const struct lutdb_tokenizer *t, uint32_t id, size_t *len)
{
	size_t lo = 0, hi = t->nadded;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->added[mid].id == id) {
			const struct tok_added *a = &t->added[mid];

			if (a->normalized && a->norm) {
				*len = a->norm_len;
				return a->norm;
			}
			*len = a->len;
			return a->content;
		}
		if (t->added[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (id <= t->bpe.max_id && t->bpe.id_str && t->bpe.id_str[id]) {
		*len = t->bpe.id_len[id];
		return t->bpe.id_str[id];
	}
	return NULL;
}

static int decode_ids(const struct lutdb_tokenizer *t, struct tok_match_ctx *m,
		      const uint32_t *ids, size_t n, int skip_special, struct tok_buf *out)
{
	struct toks a = {0}, b = {0}, *cur = &a, *nxt = &b;
	size_t i, l;
	uint32_t dummy;
	int rc = LUTDB_OK;

	for (i = 0; i < n && !rc; i++) {
		const char *s = tok_id_to_token(t, ids[i], &l);

		if (!s)
			continue;
		if (skip_special && tok_strmap_get(&t->special_set, s, l, &dummy))
			continue;
		rc = toks_push(&a, s, l);
	}
	if (rc)
		goto out;
	if (!t->has_decoder) {
		for (i = 0; i < a.n && !rc; i++) {
			if (i)
				rc = tok_buf_put(out, " ", 1);
			if (!rc)
				rc = tok_buf_put(out, TOK(&a, i), a.len[i]);
		}
		goto out;
	}
	for (i = 0; i < t->ndec; i++) {
		struct toks *x;

		rc = dec_step(&t->dec[i], m, cur, nxt);
		if (rc)
			goto out;
		x = cur;
		cur = nxt;
		nxt = x;
	}
	for (i = 0; i < cur->n && !rc; i++)
		rc = tok_buf_put(out, TOK(cur, i), cur->len[i]);
out:
	if (!rc)
		rc = tok_buf_put(out, "", 0);
	toks_free(&a);
	toks_free(&b);
	return rc;
}

int lutdb_tokenizer_decode(const lutdb_tokenizer *t, const uint32_t *ids, size_t n,
			   int skip_special_tokens, char **text, size_t *len)
{
	struct tok_match_ctx m;
	struct tok_buf out = {0};
	int rc;

	if (text)
		*text = NULL;
	if (len)
		*len = 0;
	if (!t || !text || !len || (n && !ids))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_decode: NULL argument");
	rc = tok_match_ctx_init(&m);
	if (rc)
		return rc;
	rc = decode_ids(t, &m, ids, n, skip_special_tokens, &out);
	tok_match_ctx_free(&m);
	if (rc) {
		tok_buf_free(&out);
		return rc;
	}
	*text = out.p;
	*len = out.len;
	return LUTDB_OK;
}

/* ---- stream --------------------------------------------------------------- */

struct lutdb_tokenizer_stream {
	const struct lutdb_tokenizer *t;
	int skip;
	uint32_t *ids;
	size_t n, cap;
	struct tok_buf prefix;
	size_t prefix_index;
	struct tok_buf chunk, cur;
	struct tok_match_ctx m;
};

int lutdb_tokenizer_stream_new(const lutdb_tokenizer *t, int skip_special_tokens,
			       lutdb_tokenizer_stream **out)
{
	lutdb_tokenizer_stream *s;
	int rc;

	if (!out)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_stream_new: NULL argument");
	*out = NULL;
	if (!t)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_stream_new: NULL tokenizer");
	s = calloc(1, sizeof *s);
	if (!s)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (stream)");
	s->t = t;
	s->skip = skip_special_tokens;
	rc = tok_match_ctx_init(&s->m);
	if (!rc)
		rc = tok_buf_put(&s->prefix, "", 0);
	if (rc) {
		lutdb_tokenizer_stream_free(s);
		return rc;
	}
	*out = s;
	return LUTDB_OK;
}

static int ends_with_fffd(const struct tok_buf *b)
{
	return b->len >= 3 && !memcmp(b->p + b->len - 3, "\xEF\xBF\xBD", 3);
}

int lutdb_tokenizer_stream_step(lutdb_tokenizer_stream *s, uint32_t id, const char **text,
				size_t *len)
{
	int rc;

	if (!s || !text || !len)
		return lutdb_fail(LUTDB_EINVAL, "lutdb_tokenizer_stream_step: NULL argument");
	*text = "";
	*len = 0;
	if (s->prefix.len == 0 && s->n) {
		s->cur.len = 0;
		rc = decode_ids(s->t, &s->m, s->ids, s->n, s->skip, &s->cur);
		if (rc)
			return rc;
		if (!ends_with_fffd(&s->cur)) {
			s->prefix.len = 0;
			rc = tok_buf_put(&s->prefix, s->cur.p, s->cur.len);
			if (rc)
				return rc;
			s->prefix_index = s->n;
		}
	}
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		uint32_t *p = realloc(s->ids, nc * sizeof *p);

		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (stream)");
		s->ids = p;
		s->cap = nc;
	}
	s->ids[s->n++] = id;
	s->cur.len = 0;
	rc = decode_ids(s->t, &s->m, s->ids, s->n, s->skip, &s->cur);
	if (rc)
		return rc;
	if (s->cur.len > s->prefix.len && !ends_with_fffd(&s->cur)) {
		size_t new_prefix_index;

		if (memcmp(s->cur.p, s->prefix.p, s->prefix.len))
			return lutdb_fail(LUTDB_ETOKENIZER,
					  "tokenizer: stream decode: the text of id %u does not extend "
					  "the previous text", (unsigned)id);
		s->chunk.len = 0;
		rc = tok_buf_put(&s->chunk, s->cur.p + s->prefix.len, s->cur.len - s->prefix.len);
		if (rc)
			return rc;
		new_prefix_index = s->n - s->prefix_index;
		memmove(s->ids, s->ids + s->prefix_index, (s->n - s->prefix_index) * sizeof *s->ids);
		s->n -= s->prefix_index;
		s->prefix.len = 0;
		rc = decode_ids(s->t, &s->m, s->ids, s->n, s->skip, &s->prefix);
		if (rc)
			return rc;
		s->prefix_index = new_prefix_index;
		*text = s->chunk.p;
		*len = s->chunk.len;
	}
	return LUTDB_OK;
}

void lutdb_tokenizer_stream_free(lutdb_tokenizer_stream *s)
{
	if (!s)
		return;
	free(s->ids);
	tok_buf_free(&s->prefix);
	tok_buf_free(&s->chunk);
	tok_buf_free(&s->cur);
	tok_match_ctx_free(&s->m);
	free(s);
}

void tok_dec_free(struct tok_dec *d)
{
	tok_regex_free(&d->re);
	free(d->content);
	d->content = NULL;
}
