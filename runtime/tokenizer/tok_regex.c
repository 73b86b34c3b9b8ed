/*
 * tok_regex.c - the regexes of tokenizer.json, run on PCRE2.
 *
 * `tokenizers` compiles Split / Replace patterns with Oniguruma (Ruby
 * syntax, UTF-8) and iterates matches with the onig crate's find_iter.  This
 * file translates the pattern escapes whose meaning differs between the two
 * engines and reproduces find_iter's handling of empty matches.  Constructs
 * whose meaning would differ and that are not translated are rejected.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Oniguruma's Unicode \w: Alphabetic, Mark, Decimal_Number,
 * Connector_Punctuation, Join_Control. */
#define W_CLASS "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}"

static int reject(const char *what, const char *why)
{
	return lutdb_fail(LUTDB_ETOKENIZER, "tokenizer.json: %s: regex %s is not supported", what,
			  why);
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The state of a translation: the pattern p[0, n), the position i, whether
 * i is inside a character class, and the output. */
struct xlat {
	const char *p;
	size_t n, i;
	int in_class; /* 0 outside, 1 inside, 2 at its first position (a ']' there is literal) */
	struct tok_buf *o;
	const char *what;
};

/* The escape at p[i] (a backslash): the class escapes whose sets differ
 * between the engines become explicit Unicode sets, \uHHHH becomes \x{HHHH},
 * escapes that mean the same are copied, the rest are rejected. */
static int xlat_escape(struct xlat *x)
{
	const char *p = x->p, *what = x->what;
	const size_t n = x->n;
	struct tok_buf *o = x->o;
	char d;

	if (x->i + 1 >= n)
		return reject(what, "ending in a lone backslash");
	d = p[x->i + 1];
	x->i += 2;
	const size_t i = x->i; /* just past the escape's letter */
	const int in_class = x->in_class != 0;
	if (x->in_class)
		x->in_class = 1;
	switch (d) {
	case 's': return tok_buf_put(o, "\\p{White_Space}", 15);
	case 'S': return tok_buf_put(o, "\\P{White_Space}", 15);
	case 'd': return tok_buf_put(o, "\\p{Nd}", 6);
	case 'D': return tok_buf_put(o, "\\P{Nd}", 6);
	case 'w':
		if (in_class)
			return tok_buf_put(o, W_CLASS, strlen(W_CLASS));
		return tok_buf_put(o, "[" W_CLASS "]", strlen(W_CLASS) + 2);
	case 'W':
		if (in_class)
			return reject(what, "\\W inside a character class");
		return tok_buf_put(o, "[^" W_CLASS "]", strlen(W_CLASS) + 3);
	case 'h':
		return in_class ? tok_buf_put(o, "0-9a-fA-F", 9) : tok_buf_put(o, "[0-9a-fA-F]", 11);
	case 'H':
		if (in_class)
			return reject(what, "\\H inside a character class");
		return tok_buf_put(o, "[^0-9a-fA-F]", 12);
	case 'u': {
		int rc;
		if (i + 4 > n || !is_hex(p[i]) || !is_hex(p[i + 1]) || !is_hex(p[i + 2]) || !is_hex(p[i + 3]))
			return reject(what, "with a malformed \\u escape");
		rc = tok_buf_put(o, "\\x{", 3);
		if (!rc)
			rc = tok_buf_put(o, p + i, 4);
		if (!rc)
			rc = tok_buf_put(o, "}", 1);
		x->i += 4;
		return rc;
	}
	case 'p':
	case 'P': {
		size_t j = i;

		if (j >= n || p[j] != '{')
			return reject(what, "with \\p not followed by {name}");
		while (j < n && p[j] != '}')
			j++;
		if (j >= n)
			return reject(what, "with an unterminated \\p{");
		x->i = j + 1;
		return tok_buf_put(o, p + i - 2, j + 1 - (i - 2));
	}
	case 'b':
	case 'B':
		if (!in_class || d == 'B')
			return reject(what, "with \\b or \\B (word boundary)");
		return tok_buf_put(o, "\\b", 2);
	case 'x': case 't': case 'n': case 'r': case 'f': case 'a': case 'e':
	case 'A': case 'z': case 'Z': case '0': case '1': case '2': case '3':
	case '4': case '5': case '6': case '7': case '8': case '9':
		return tok_buf_put(o, p + i - 2, 2);
	default:
		if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z')) {
			char why[48];

			snprintf(why, sizeof why, "with the escape \\%c", d);
			return reject(what, why);
		}
		return tok_buf_put(o, p + i - 2, 2);
	}
}

/* A character inside a class (not an escape): nested classes, POSIX
 * brackets and intersections are rejected, ']' closes the class unless it
 * is the first character. */
static int xlat_class_char(struct xlat *x)
{
	const char *p = x->p;
	const size_t n = x->n, i = x->i;
	const char c = p[i];

	if (c == '[') {
		if (i + 1 < n && p[i + 1] == ':')
			return reject(x->what, "with a POSIX bracket class");
		return reject(x->what, "with a nested character class");
	}
	if (c == '&' && i + 1 < n && p[i + 1] == '&')
		return reject(x->what, "with a class intersection (&&)");
	if (c == ']' && x->in_class > 1)
		x->in_class = 1; /* ']' right after '[' or '[^' is literal */
	else
		x->in_class = c == ']' ? 0 : 1;
	x->i++;
	return tok_buf_put(x->o, p + i, 1);
}

/* A group "(?..." at p[i]: the forms both engines read alike are copied,
 * any other is rejected. */
static int xlat_group(struct xlat *x)
{
	const char *p = x->p;
	const size_t n = x->n, i = x->i;
	size_t j = i + 2;

	if (j < n && (p[j] == ':' || p[j] == '=' || p[j] == '!' || p[j] == '>')) {
		x->i += 3;
		return tok_buf_put(x->o, p + i, 3);
	}
	if (j + 1 < n && p[j] == '<' && (p[j + 1] == '=' || p[j + 1] == '!')) {
		x->i += 4;
		return tok_buf_put(x->o, p + i, 4);
	}
	while (j < n && (p[j] == 'i' || p[j] == 'x' || p[j] == '-'))
		j++;
	if (j < n && (p[j] == ':' || p[j] == ')') && j > i + 2) {
		x->i = j + 1;
		return tok_buf_put(x->o, p + i, j + 1 - i);
	}
	return reject(x->what, "with a (? group form other than (?: (?= (?! (?<= (?<! (?> (?i) (?x)");
}

/* Translates an Oniguruma (Ruby syntax) pattern to PCRE2 syntax. */
static int translate(const char *p, size_t n, struct tok_buf *o, const char *what)
{
	struct xlat x = {p, n, 0, 0, o, what};
	int rc = 0;

	while (x.i < n && !rc) {
		const size_t i = x.i;
		const char c = p[i];

		if (c == '\\') {
			rc = xlat_escape(&x);
		} else if (x.in_class) {
			rc = xlat_class_char(&x);
		} else if (c == '[') {
			size_t j = i + 1;

			if (j < n && p[j] == '^')
				j++;
			rc = tok_buf_put(o, p + i, j - i);
			x.i = j;
			x.in_class = 2; /* first position: a ']' here is literal */
		} else if (c == '(' && i + 1 < n && p[i + 1] == '?') {
			rc = xlat_group(&x);
		} else if (c == '{' && i + 1 < n && p[i + 1] == ',') {
			rc = tok_buf_put(o, "{0", 2); /* Oniguruma reads {,n} as {0,n} */
			x.i++;
		} else {
			rc = tok_buf_put(o, p + i, 1);
			x.i++;
		}
	}
	if (!rc && x.in_class)
		return reject(what, "with an unterminated character class");
	return rc;
}

int tok_regex_compile(struct tok_regex *re, const char *pat, size_t len, int literal,
		      const char *what)
{
	struct tok_buf o = {0};
	pcre2_compile_context *cc = NULL;
	int err = 0, rc;
	PCRE2_SIZE eoff = 0;
	uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK;

	memset(re, 0, sizeof *re);
	if (len > TOK_MAX_REGEX_LEN) {
		rc = lutdb_fail(LUTDB_ETOOBIG, "tokenizer.json: %s: pattern of %zu bytes (limit %u)",
				what, len, TOK_MAX_REGEX_LEN);
		goto out;
	}
	if (!tok_utf8_is_valid(pat, len)) {
		rc = lutdb_fail(LUTDB_ETOKENIZER, "tokenizer.json: %s: pattern is not UTF-8", what);
		goto out;
	}
	if (literal) {
		opts |= PCRE2_LITERAL;
		rc = tok_buf_put(&o, pat, len);
	} else {
		opts |= PCRE2_UCP | PCRE2_MULTILINE; /* Ruby syntax: ^ and $ are line anchors */
		rc = tok_buf_put(&o, "", 0);
		if (!rc)
			rc = translate(pat, len, &o, what);
	}
	if (rc)
		goto out;
	cc = pcre2_compile_context_create(NULL);
	if (!cc) {
		rc = lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (regex)");
		goto out;
	}
	pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
	pcre2_set_bsr(cc, PCRE2_BSR_UNICODE);
	re->code = pcre2_compile((PCRE2_SPTR)o.p, o.len, opts, &err, &eoff, cc);
	if (!re->code) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(err, msg, sizeof msg);
		rc = lutdb_fail(LUTDB_ETOKENIZER,
				"tokenizer.json: %s: regex does not compile: %s at offset %zu", what,
				(const char *)msg, (size_t)eoff);
		goto out;
	}
	/* LUTDB_TOKENIZER_NO_JIT=1: interpreted matching (same results), for
	 * memcheck, which cannot follow JIT code */
	{
		const char *nj = getenv("LUTDB_TOKENIZER_NO_JIT");

		re->jit = !(nj && *nj && strcmp(nj, "0")) &&
			  pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
	}
	rc = LUTDB_OK;
out:
	pcre2_compile_context_free(cc);
	tok_buf_free(&o);
	return rc;
}

void tok_regex_free(struct tok_regex *re)
{
	pcre2_code_free(re->code);
	re->code = NULL;
}

int tok_match_ctx_init(struct tok_match_ctx *m)
{
	memset(m, 0, sizeof *m);
	m->md = pcre2_match_data_create(1, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	if (!m->md || !m->mctx) {
		tok_match_ctx_free(m);
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (regex match data)");
	}
	return LUTDB_OK;
}

void tok_match_ctx_free(struct tok_match_ctx *m)
{
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	pcre2_jit_stack_free(m->jstack);
	memset(m, 0, sizeof *m);
}

/* One search from start; returns 1 with [*ms, *me), 0 for no match. */
static int search(const struct tok_regex *re, struct tok_match_ctx *m, const char *s, size_t n,
		  size_t start, size_t *ms, size_t *me)
{
	int r;

	for (;;) {
		r = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, m->md,
				m->mctx);
		if (r == PCRE2_ERROR_JIT_STACKLIMIT && !m->jstack) {
			m->jstack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, NULL);
			if (!m->jstack)
				return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (JIT stack)");
			pcre2_jit_stack_assign(m->mctx, NULL, m->jstack);
			continue;
		}
		break;
	}
	if (r == PCRE2_ERROR_NOMATCH)
		return 0;
	if (r < 0) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(r, msg, sizeof msg);
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: regex match failed: %s",
				  (const char *)msg);
	}
	{
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);

		*ms = ov[0];
		*me = ov[1];
		if (*me < *ms) /* \K tricks: never produced by accepted patterns */
			*me = *ms;
	}
	return 1;
}

int tok_regex_find_matches(const struct tok_regex *re, struct tok_match_ctx *m, const char *s,
			   size_t n, struct tok_segs *out)
{
	size_t prev = 0, last_end = 0, last_match_end = 0, ms = 0, me = 0;
	int have_last = 0, rc;

	out->n = 0;
	if (n == 0)
		return tok_segs_push(out, 0, 0, 0);
	while (last_end <= n) {
		rc = search(re, m, s, n, last_end, &ms, &me);
		if (rc < 0)
			return rc;
		if (!rc)
			break;
		if (me == ms && have_last && last_match_end == me) {
			size_t l = 1;

			if (last_end < n) {
				l = tok_utf8_valid_len((const unsigned char *)s + last_end, n - last_end);
				if (!l)
					l = 1;
			}
			last_end += l;
			continue;
		}
		last_end = me;
		last_match_end = me;
		have_last = 1;
		if (prev != ms) {
			rc = tok_segs_push(out, (uint32_t)prev, (uint32_t)ms, 0);
			if (rc)
				return rc;
		}
		rc = tok_segs_push(out, (uint32_t)ms, (uint32_t)me, 1);
		if (rc)
			return rc;
		prev = me;
	}
	if (prev != n)
		return tok_segs_push(out, (uint32_t)prev, (uint32_t)n, 0);
	return LUTDB_OK;
}

/* ---- single-char classes of the Rust `regex` crate (\s, \w) ---------------- */

#include <pthread.h>

static pcre2_code *cls_code[2];
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;

static void cls_init(void)
{
	static const char *pats[2] = {"\\p{White_Space}", "[" W_CLASS "]"};
	int i, err;
	PCRE2_SIZE eoff;

	for (i = 0; i < 2; i++) {
		cls_code[i] = pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED,
					    PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &eoff, NULL);
		if (cls_code[i] && !getenv("LUTDB_TOKENIZER_NO_JIT"))
			pcre2_jit_compile(cls_code[i], PCRE2_JIT_COMPLETE);
	}
}

int tok_char_is(struct tok_match_ctx *m, int cls, const char *s, size_t n)
{
	size_t l;

	pthread_once(&cls_once, cls_init);
	if (!n || !cls_code[cls])
		return 0;
	l = tok_utf8_valid_len((const unsigned char *)s, n);
	if (!l)
		return 0;
	return pcre2_match(cls_code[cls], (PCRE2_SPTR)s, l, 0, PCRE2_NO_UTF_CHECK, m->md, NULL) > 0;
}
