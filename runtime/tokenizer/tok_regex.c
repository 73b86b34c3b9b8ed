/*
 * tok_regex.c - the regexes of tokenizer.json, run on PCRE2.
 *
 * `tokenizers` compiles Split / Replace patterns with Oniguruma (Ruby
 * syntax, UTF-8) and iterates matches with the onig crate's find_iter.
 * tok_regex_xlat.c translates a pattern to PCRE2 and refuses what cannot run
 * in bounded time; this file compiles it and reproduces find_iter, including
 * its handling of empty matches, under a work budget.
 *
 * The work budget.  PCRE2's match limit counts backtracking steps, but
 * restarts the count at every start position of one pcre2_match call, so a
 * per-call limit does not bound a search (n positions x the limit).  And it
 * does not count the characters a repeat runs over when PCRE2 has made the
 * repeat possessive.  So patterns are compiled with PCRE2_NO_AUTO_POSSESS
 * (every character a repeat takes and gives back is then a counted step;
 * tok_regex_xlat.c refuses explicit possessives, atomic groups and repeats
 * in look-arounds, the other uncounted scans), and the steps of all the
 * searches of one input are charged to one budget: TOK_RE_STEPS_BASE plus
 * TOK_RE_STEPS_PER_BYTE for every byte (and every call) given to
 * tok_regex_find_matches.  Since PCRE2 does not report how many steps a
 * search used, each start position is charged its limit: a search runs with
 * the limit TOK_RE_FIRST_LIMIT and is charged that for every position it
 * tried; when one position needs more, the positions are retried one at a
 * time (PCRE2's offset limit), the expensive one with a limit doubled until
 * it is decided.  The charge is then at most 2 x TOK_RE_FIRST_LIMIT per
 * position plus 4 x the steps the expensive positions really needed, and
 * the search fails with LUTDB_ETOOBIG once the budget is spent.  Valid
 * tokenizers on any text stay far below it (a cl100k whitespace run of k
 * bytes costs about 2k steps at its first position).
 *
 * String patterns (PCRE2_LITERAL in effect) are searched with memmem, which
 * is linear (two-way) where a PCRE2 literal of m bytes costs m per position.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	snprintf(re->what, sizeof re->what, "%s", what);
	if (literal && len > 0) {
		/* a string: memmem, no PCRE2 (see above) */
		if (!(re->lit = malloc(len))) {
			rc = lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (regex)");
			goto out;
		}
		memcpy(re->lit, pat, len);
		re->lit_len = len;
		rc = LUTDB_OK;
		goto out;
	}
	if (literal) {
		opts |= PCRE2_LITERAL;
		rc = tok_buf_put(&o, "", 0);
	} else {
		/* Ruby syntax: ^ and $ are line anchors.  No auto-possessive
		 * repeats: their scans would escape the work budget. */
		opts |= PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NO_AUTO_POSSESS | PCRE2_USE_OFFSET_LIMIT;
		rc = tok_buf_put(&o, "", 0);
		if (!rc)
			rc = tok_regex_translate(pat, len, &o, what);
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
	free(re->lit);
	re->lit = NULL;
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
	tok_match_ctx_budget(m);
	return LUTDB_OK;
}

void tok_match_ctx_budget(struct tok_match_ctx *m)
{
	m->budget = TOK_RE_STEPS_BASE;
}

void tok_match_ctx_free(struct tok_match_ctx *m)
{
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	pcre2_jit_stack_free(m->jstack);
	memset(m, 0, sizeof *m);
}

/* One pcre2_match from start with the given step limit, trying start
 * positions up to olim (PCRE2_UNSET: all).  Returns 1 with [*ms, *me), 0 for
 * no match, 2 when the limit was hit, or an error. */
static int match_once(const struct tok_regex *re, struct tok_match_ctx *m, const char *s, size_t n,
		      size_t start, uint32_t limit, PCRE2_SIZE olim, size_t *ms, size_t *me)
{
	int r;

	pcre2_set_match_limit(m->mctx, limit);
	pcre2_set_offset_limit(m->mctx, olim);
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
	if (r == PCRE2_ERROR_MATCHLIMIT)
		return 2;
	if (r < 0) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(r, msg, sizeof msg);
		return lutdb_fail(r == PCRE2_ERROR_NOMEMORY ? LUTDB_ENOMEM : LUTDB_ETOOBIG,
				  "tokenizer: %s: regex match failed: %s", re->what, (const char *)msg);
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

/* Takes steps from the input's budget. */
static int charge(const struct tok_regex *re, struct tok_match_ctx *m, uint64_t steps, size_t n)
{
	if (steps <= m->budget) {
		m->budget -= steps;
		return LUTDB_OK;
	}
	m->budget = 0;
	return lutdb_fail(LUTDB_ETOOBIG,
			  "tokenizer: %s: regex work limit reached on a text of %zu bytes (%u steps per byte): "
			  "the pattern backtracks too much on this input", re->what, n, TOK_RE_STEPS_PER_BYTE);
}

/* The leftmost match at or after start, under the budget (see the top of
 * the file); returns 1 with [*ms, *me), 0 for no match, or an error. */
static int search(const struct tok_regex *re, struct tok_match_ctx *m, const char *s, size_t n,
		  size_t start, size_t *ms, size_t *me)
{
	size_t pos = start;
	int r;

	for (;;) {
		/* every position from pos, each with the first limit */
		r = match_once(re, m, s, n, pos, TOK_RE_FIRST_LIMIT, PCRE2_UNSET, ms, me);
		if (r < 0)
			return r;
		if (r != 2) {
			size_t tried = (r ? *ms : n) - pos + 1;
			int rc = charge(re, m, (uint64_t)tried * TOK_RE_FIRST_LIMIT, n);

			return rc ? rc : r;
		}
		/* A position needed more: retry them one at a time up to it
		 * (the failed call's work charged with each), then double the
		 * limit of that one until it is decided. */
		for (;;) {
			uint32_t limit = TOK_RE_FIRST_LIMIT;
			int rc = charge(re, m, 2u * TOK_RE_FIRST_LIMIT, n);

			while (!rc && (r = match_once(re, m, s, n, pos, limit, pos, ms, me)) == 2) {
				limit = limit > UINT32_MAX / 2 ? UINT32_MAX : limit * 2;
				rc = charge(re, m, limit, n);
			}
			if (rc)
				return rc;
			if (r != 0)
				return r; /* a match starting at pos, or an error */
			if (pos >= n)
				return 0;
			{
				size_t l = tok_utf8_valid_len((const unsigned char *)s + pos, n - pos);

				pos += l ? l : 1;
			}
			if (limit > TOK_RE_FIRST_LIMIT)
				break; /* that was the expensive one: all positions again */
		}
	}
}

/* The leftmost occurrence of the string at or after start. */
static int search_literal(const struct tok_regex *re, const char *s, size_t n, size_t start,
			  size_t *ms, size_t *me)
{
	const char *f = start < n ? memmem(s + start, n - start, re->lit, re->lit_len) : NULL;

	if (!f)
		return 0;
	*ms = (size_t)(f - s);
	*me = *ms + re->lit_len;
	return 1;
}

void tok_re_iter_init(struct tok_re_iter *it, const struct tok_regex *re, struct tok_match_ctx *m,
		      const char *s, size_t n)
{
	memset(it, 0, sizeof *it);
	it->re = re;
	it->m = m;
	it->s = s;
	it->n = n;
	if (n)
		m->budget += TOK_RE_STEPS_PER_BYTE * ((uint64_t)n + 1); /* this text's share */
}

/* The onig crate's find_iter, turned into segments as Pattern::find_matches
 * of tokenizers does: the text before a match, the match, ..., the rest. */
int tok_re_iter_next(struct tok_re_iter *it, struct tok_seg *g)
{
	const struct tok_regex *re = it->re;
	size_t ms = 0, me = 0;
	int rc;

	for (;;) {
		if (it->iq < it->nq) {
			*g = it->q[it->iq++];
			return 1;
		}
		if (it->done)
			return 0;
		it->nq = it->iq = 0;
		if (it->n == 0) {
			it->done = 1;
			it->q[it->nq++] = (struct tok_seg){0, 0, 0};
			continue;
		}
		rc = it->last_end > it->n ? 0
		     : re->lit ? search_literal(re, it->s, it->n, it->last_end, &ms, &me)
			       : search(re, it->m, it->s, it->n, it->last_end, &ms, &me);
		if (rc < 0)
			return rc;
		if (!rc) {
			it->done = 1;
			if (it->prev != it->n)
				it->q[it->nq++] = (struct tok_seg){(uint32_t)it->prev, (uint32_t)it->n, 0};
			continue;
		}
		if (me == ms && it->have_last && it->last_match_end == me) {
			/* no empty match right after the last match: on by a char */
			size_t l = 1;

			if (it->last_end < it->n) {
				l = tok_utf8_valid_len((const unsigned char *)it->s + it->last_end, it->n - it->last_end);
				if (!l)
					l = 1;
			}
			it->last_end += l;
			continue;
		}
		it->last_end = me;
		it->last_match_end = me;
		it->have_last = 1;
		if (it->prev != ms)
			it->q[it->nq++] = (struct tok_seg){(uint32_t)it->prev, (uint32_t)ms, 0};
		it->q[it->nq++] = (struct tok_seg){(uint32_t)ms, (uint32_t)me, 1};
		it->prev = me;
	}
}

int tok_regex_find_matches(const struct tok_regex *re, struct tok_match_ctx *m, const char *s,
			   size_t n, struct tok_segs *out)
{
	struct tok_re_iter it;
	struct tok_seg g;
	int rc;

	out->n = 0;
	tok_re_iter_init(&it, re, m, s, n);
	while ((rc = tok_re_iter_next(&it, &g)) == 1)
		if ((rc = tok_segs_push(out, g.s, g.e, g.is_match)))
			return rc;
	return rc;
}

/* ---- single-char classes of the Rust `regex` crate (\s, \w) ---------------- */

#include <pthread.h>

static pcre2_code *cls_code[2];
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;

static void cls_init(void)
{
	static const char *pats[2] = {"\\p{White_Space}", "[" TOK_W_CLASS "]"};
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
