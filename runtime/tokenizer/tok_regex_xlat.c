/*
 * tok_regex_xlat.c - the patterns of tokenizer.json, from Oniguruma (Ruby
 * syntax, what `tokenizers` compiles) to PCRE2, with the constructs that
 * cannot run in bounded time refused.
 *
 * Two jobs in one left-to-right pass:
 *
 * 1. Translation.  The escapes whose sets differ between the engines
 *    become explicit Unicode sets, \uHHHH becomes \x{HHHH}, {,n} becomes
 *    {0,n}; an invalid interval ("{", "{,}", "{x}") is a literal brace in
 *    Oniguruma and is escaped.  Constructs whose meaning would differ and
 *    that are not translated are refused.
 *
 * 2. Linear-time shape.  PCRE2 backtracks.  Backreferences and subroutine
 *    calls are not regular at all; nested repeats ((a+)+, (a|a)*) and
 *    alternations under a repeat backtrack exponentially on a failing
 *    input; a repeat inside a look-around, an atomic group or a possessive
 *    quantifier scans the rest of the text at every start position without
 *    PCRE2 counting it as backtracking, so the work limit (tok_regex.c)
 *    could not see it.  All of those are refused.  None of the Hugging Face
 *    pre-tokenizer patterns in use needs them (GPT-2, cl100k / Llama 3, Qwen
 *    2, o200k, DeepSeek, Tekken: one level of repeats over single
 *    characters or classes, non-repeated (?i:...) groups, the single-character
 *    look-ahead (?!\S)).  What remains is polynomial per start position, and
 *    the per-input work budget of tok_regex.c bounds it.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdio.h>
#include <string.h>

#define MAX_GROUP_DEPTH 64
#define MAX_REPEAT 65535 /* PCRE2's largest repeat count */

static int reject(const char *what, const char *why)
{
	return lutdb_fail(LUTDB_ETOKENIZER, "tokenizer.json: %s: regex %s is not supported", what,
			  why);
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* What the item before the current position is, for a quantifier. */
enum last_item {
	LAST_NONE,   /* nothing repeatable: pattern or group start, '|', (?i) */
	LAST_ATOM,   /* a character, class or escape */
	LAST_GROUP,  /* a group just closed: its flags are in x->closed */
	LAST_ANCHOR, /* ^ $ \A \z \Z or a look-around: not repeatable */
	LAST_QUANT,  /* a greedy quantifier: may take a lazy '?' */
	LAST_FIXED,  /* an interval {n}: '?' after it is not lazy in Oniguruma */
	LAST_LAZY,   /* a quantifier with its '?': nothing more may follow */
};

/* An open group: whether it holds (at any depth) a repeat of more than
 * one and an alternation, and whether it is a look-around.
 *
 * Oniguruma refuses a quantifier on an anchor (^ $ \A \z \Z, a
 * look-around), and a (?: group is transparent there: (?:\A)? is \A?, and
 * an alternation is refused when any alternative is such an anchor,
 * (?:a|\A)?.  A concatenation (\Aa), a capture or a (?i: group is a
 * target it allows.  PCRE2 allows them all, so the translator tracks the
 * shape of each alternative: how many items it has (0, 1, 2 = more) and
 * whether the first is an anchor. */
struct group {
	unsigned char has_repeat, has_alt, look;
	unsigned char behind;   /* a look-behind (or inside one) */
	unsigned char implicit; /* opened by (?i): closes with its enclosing group */
	unsigned char icase;    /* (?i) in force inside */
	unsigned char plain;    /* a (?: group: transparent to Oniguruma's quantifier check */
	unsigned char items;    /* items of the current alternative, at most 2 */
	unsigned char first_anchor; /* the current alternative's first item is an anchor */
	unsigned char alt_anchor;   /* a finished alternative was one anchor */
};

/* The state of a translation: the pattern p[0, n), the position i, whether
 * i is inside a character class, the open groups and the output. */
struct xlat {
	const char *p;
	size_t n, i;
	int in_class; /* 0 outside, 1 inside, 2 at its first position (a ']' there is literal) */
	struct tok_buf *o;
	const char *what;
	struct group g[MAX_GROUP_DEPTH + 1]; /* g[0]: the whole pattern */
	int depth, look_depth;
	enum last_item last;
	struct group closed;
	char prev_lit;          /* the previous item, when an ASCII letter */
	char cls_prev;          /* in a class: 's' after a set escape, '-' after a range dash */
};

/* An item (an atom, a class, a group or an anchor) begins in the
 * innermost group's current alternative. */
static void item_begins(struct xlat *x, int anchor)
{
	struct group *g = &x->g[x->depth];

	if (g->items < 2)
		g->items++;
	if (g->items == 1)
		g->first_anchor = (unsigned char)anchor;
}

/* The current alternative of g ends ('|' or the group's ')'). */
static void alternative_ends(struct group *g)
{
	if (g->items == 1 && g->first_anchor)
		g->alt_anchor = 1;
	g->items = 0;
}

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
	else
		item_begins(x, d == 'A' || d == 'z' || d == 'Z');
	x->last = LAST_ATOM;
	x->prev_lit = 0;
	if (in_class) {
		/* a set (\s, \w, \p{..}, ...) cannot end a range: Oniguruma
		 * refuses it, PCRE2 reads the '-' as a literal */
		int set = strchr("sSdDwWhHpP", d) != NULL;

		if (set && x->cls_prev == '-')
			return reject(what, "with a range to a class escape");
		x->cls_prev = set ? 's' : 0;
	}
	if ((d == 'x' || d == 'u') && x->g[x->depth].icase)
		return reject(what, "with \\x or \\u under (?i) (Oniguruma folds some characters to two)");
	switch (d) {
	case 's': return tok_buf_put(o, "\\p{White_Space}", 15);
	case 'S': return tok_buf_put(o, "\\P{White_Space}", 15);
	case 'd': return tok_buf_put(o, "\\p{Nd}", 6);
	case 'D': return tok_buf_put(o, "\\P{Nd}", 6);
	case 'w':
		if (in_class)
			return tok_buf_put(o, TOK_W_CLASS, strlen(TOK_W_CLASS));
		return tok_buf_put(o, "[" TOK_W_CLASS "]", strlen(TOK_W_CLASS) + 2);
	case 'W':
		if (in_class)
			return reject(what, "\\W inside a character class");
		return tok_buf_put(o, "[^" TOK_W_CLASS "]", strlen(TOK_W_CLASS) + 3);
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
		/* a plain name (letters, digits, '_', an optional leading '^'):
		 * the engines loosen names differently (spaces, case) */
		j++;
		if (j < n && p[j] == '^')
			j++;
		while (j < n && ((p[j] >= 'a' && p[j] <= 'z') || (p[j] >= 'A' && p[j] <= 'Z') ||
				 (p[j] >= '0' && p[j] <= '9') || p[j] == '_'))
			j++;
		if (j >= n || p[j] != '}')
			return reject(what, "with a \\p{ that is not a plain name and a }");
		x->i = j + 1;
		return tok_buf_put(o, p + i - 2, j + 1 - (i - 2));
	}
	case 'b':
	case 'B':
		if (!in_class || d == 'B')
			return reject(what, "with \\b or \\B (word boundary)");
		return tok_buf_put(o, "\\b", 2);
	case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
		if (in_class)
			return reject(what, "with an octal escape \\1-\\9 in a class");
		return reject(what, "with a backreference (\\1-\\9: not a regular language, no linear-time bound)");
	case 'k':
		return reject(what, "with a named backreference \\k (no linear-time bound)");
	case 'g':
		return reject(what, "with a subroutine call \\g (recursion: no linear-time bound)");
	case 'A': case 'z': case 'Z':
		if (!in_class && x->g[x->depth].behind)
			return reject(what, "with an anchor inside a look-behind");
		if (!in_class)
			x->last = LAST_ANCHOR;
		return tok_buf_put(o, p + i - 2, 2);
	case 'x': {
		/* \xHH or \x{H...}: copied whole, so that its braces are not
		 * read as an interval */
		size_t j = i;

		if (j < n && p[j] == '{') {
			for (j++; j < n && is_hex(p[j]); j++)
				;
			/* at most 6 digits (Oniguruma refuses more than 8, PCRE2
			 * more than 10FFFF) */
			if (j >= n || p[j] != '}' || j == i + 1 || j > i + 7)
				return reject(what, "with a malformed \\x{...} escape");
			j++;
		} else {
			/* \xHH is a byte in Oniguruma (UTF-8 is then assembled
			 * from bytes), a code point in PCRE2: the same only below
			 * 0x80 */
			while (j < n && j < i + 2 && is_hex(p[j]))
				j++;
			if (j == i || p[i] > '7')
				return reject(what, "with \\xHH outside 00-7F (a byte in Oniguruma; write \\x{HHHH})");
		}
		x->i = j;
		return tok_buf_put(o, p + i - 2, j - (i - 2));
	}
	case 't': case 'n': case 'r': case 'f': case 'a': case 'e': case '0':
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
	if ((unsigned char)c >= 0x80 && x->g[x->depth].icase)
		return reject(x->what, "with a non-ASCII character under (?i) (Oniguruma folds some to two characters)");
	if (c == '-' && x->cls_prev == 's' && !(i + 1 < n && p[i + 1] == ']'))
		return reject(x->what, "with a range from a class escape");
	x->cls_prev = c == '-' && x->in_class == 1 ? '-' : 0;
	if (c == ']' && x->in_class > 1)
		x->in_class = 1; /* ']' right after '[' or '[^' is literal */
	else
		x->in_class = c == ']' ? 0 : 1;
	x->i++;
	return tok_buf_put(x->o, p + i, 1);
}

static int group_open(struct xlat *x, int look)
{
	if (x->depth == MAX_GROUP_DEPTH)
		return reject(x->what, "with groups nested more than 64 deep");
	if (x->g[x->depth].behind)
		return reject(x->what, "with a group inside a look-behind (Oniguruma refuses captures there)");
	x->depth++;
	memset(&x->g[x->depth], 0, sizeof x->g[x->depth]);
	x->g[x->depth].look = (unsigned char)look;
	x->g[x->depth].icase = x->g[x->depth - 1].icase;
	x->prev_lit = 0;
	x->look_depth += look;
	x->last = LAST_NONE;
	return LUTDB_OK;
}

/* Closes the innermost group (its ')' is emitted). */
static int pop_group(struct xlat *x)
{
	int anchor;

	x->prev_lit = 0;
	alternative_ends(&x->g[x->depth]);
	x->closed = x->g[x->depth--];
	x->look_depth -= x->closed.look;
	x->g[x->depth].has_repeat |= x->closed.has_repeat;
	x->g[x->depth].has_alt |= x->closed.has_alt;
	/* a look-around is an anchor to Oniguruma, and so is a (?: group
	 * with an alternative that is one (see struct group) */
	anchor = x->closed.look || (x->closed.plain && x->closed.alt_anchor);
	item_begins(x, anchor);
	x->last = anchor ? LAST_ANCHOR : LAST_GROUP;
	return tok_buf_put(x->o, ")", 1);
}

/* Closes the groups that (?i) opened inside the innermost real group. */
static int close_implicit(struct xlat *x)
{
	int rc = LUTDB_OK;

	while (!rc && x->depth > 0 && x->g[x->depth].implicit)
		rc = pop_group(x);
	return rc;
}

/* ')' outside a class.  An unbalanced one is copied: PCRE2 refuses it. */
static int group_close(struct xlat *x)
{
	int rc = close_implicit(x);

	x->i++;
	if (rc)
		return rc;
	if (x->depth > 0)
		return pop_group(x);
	return tok_buf_put(x->o, ")", 1);
}

/* A group "(?..." at p[i]: the forms both engines read alike are copied,
 * any other is rejected. */
static int xlat_group(struct xlat *x)
{
	const char *p = x->p;
	const size_t n = x->n, i = x->i;
	size_t j = i + 2;
	const char c = j < n ? p[j] : '\0';

	if (c == ':' || c == '=' || c == '!') {
		x->i += 3;
		if (group_open(x, c != ':'))
			return LUTDB_ETOKENIZER;
		x->g[x->depth].plain = c == ':';
		return tok_buf_put(x->o, p + i, 3);
	}
	if (c == '<' && j + 1 < n && (p[j + 1] == '=' || p[j + 1] == '!')) {
		x->i += 4;
		if (group_open(x, 1))
			return LUTDB_ETOKENIZER;
		x->g[x->depth].behind = 1;
		return tok_buf_put(x->o, p + i, 4);
	}
	if (c == '>')
		return reject(x->what, "with an atomic group (?> (its scans are not bounded by the work limit)");
	if (c == '<' || c == 'P' || c == '\'')
		return reject(x->what, "with a named group (named groups go with backreferences)");
	if (c == '(')
		return reject(x->what, "with a conditional (?( (no linear-time bound)");
	if (c == 'R' || c == '&' || (c >= '0' && c <= '9') || c == '+')
		return reject(x->what, "with recursion or a subroutine call (no linear-time bound)");
	if (c == 'C')
		return reject(x->what, "with a callout (?C");
	if (c == '~')
		return reject(x->what, "with an absent operator (?~");
	while (j < n && (p[j] == 'i' || p[j] == '-'))
		j++;
	if (j < n && (p[j] == ':' || p[j] == ')') && j > i + 2) {
		int rc;

		x->i = j + 1;
		if (group_open(x, 0))
			return LUTDB_ETOKENIZER;
		{
			/* the flags: i before a '-' sets, after it clears */
			size_t k;
			int on = 1;

			for (k = i + 2; k < j; k++) {
				if (p[k] == '-')
					on = 0;
				else
					x->g[x->depth].icase = (unsigned char)on;
			}
		}
		/* (?i) applies to the rest of the enclosing group in both
		 * engines, but in Oniguruma the alternatives that follow are
		 * inside it: a(?i)b|c is a(?i:b|c).  So it becomes (?i: closed
		 * with the enclosing group. */
		x->g[x->depth].implicit = p[j] == ')';
		rc = tok_buf_put(x->o, p + i, j - i);
		return rc ? rc : tok_buf_put(x->o, ":", 1);
	}
	if (j < n && p[j] == 'x')
		return reject(x->what, "with extended mode (?x)");
	return reject(x->what, "with a (? group form other than (?: (?= (?! (?<= (?<! (?i) (?i:");
}

/* Reads an interval {n}, {n,}, {n,m} or {,m} at p[i] as Oniguruma does.
 * Returns 1 with [*lo, *hi] (*hi -1: unbounded) and *end just past the
 * '}', 0 when it is not one (the '{' is then a literal), or -1 when a
 * number is over Oniguruma's 100000: an error there even when no '}'
 * follows. */
static int read_interval(const char *p, size_t n, size_t i, long *lo, long *hi, size_t *end)
{
	size_t j = i + 1, k;
	int no_low;

	*lo = 0;
	for (k = j; k < n && p[k] >= '0' && p[k] <= '9'; k++)
		if (*lo <= 1000000)
			*lo = *lo * 10 + (p[k] - '0');
	no_low = k == j;
	if (*lo > 100000)
		return -1;
	j = k;
	if (j < n && p[j] == ',') {
		j++;
		*hi = 0;
		for (k = j; k < n && p[k] >= '0' && p[k] <= '9'; k++)
			if (*hi <= 1000000)
				*hi = *hi * 10 + (p[k] - '0');
		if (*hi > 100000)
			return -1;
		if (k == j) {
			if (no_low)
				return 0;
			*hi = -1;
		}
		j = k;
	} else {
		if (no_low)
			return 0;
		*hi = *lo;
	}
	if (j >= n || p[j] != '}')
		return 0;
	*end = j + 1;
	return 1;
}

/* A quantifier at p[i] (*, +, ?, or an interval), with the largest count
 * it allows (max > 1 is a repeat), checked against what it repeats. */
static int quantify(struct xlat *x, int repeat)
{
	struct group *cur = &x->g[x->depth];

	switch (x->last) {
	case LAST_NONE:
		return reject(x->what, "with a quantifier that has nothing to repeat");
	case LAST_ANCHOR:
		return reject(x->what, "with a quantifier on an anchor or a look-around");
	case LAST_QUANT:
	case LAST_FIXED:
	case LAST_LAZY:
		return reject(x->what, "with a quantifier on a quantifier (a possessive or nested repeat)");
	case LAST_GROUP:
		if (repeat && (x->closed.has_repeat || x->closed.has_alt))
			return reject(x->what, "with a repeated group that holds a repeat or an alternation "
					       "(exponential backtracking, as in (a+)+ or (a|a)*)");
		break;
	case LAST_ATOM:
		break;
	}
	if (repeat && x->look_depth)
		return reject(x->what, "with a repeat inside a look-around (it rescans the text at every position)");
	if (repeat)
		cur->has_repeat = 1;
	x->last = LAST_QUANT;
	return LUTDB_OK;
}

/* Under (?i), Oniguruma folds a few characters to two (ß to "ss", the
 * ligature ﬁ to "fi", ...) and matches them against two pattern letters,
 * or two text letters against one of them; PCRE2 folds one to one.  So
 * under (?i) no non-ASCII literal, and none of the ASCII pairs that such a
 * character folds to (ss, st, ff, fi, fl): the real patterns have none
 * ((?i:'s|'t|'re|'ve|'m|'ll|'d)). */
static int fold_check(struct xlat *x, char c)
{
	char l = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c), prev = x->prev_lit;

	if ((unsigned char)c >= 0x80)
		return reject(x->what, "with a non-ASCII character under (?i) (Oniguruma folds some to two characters)");
	if ((prev == 's' && (l == 's' || l == 't')) || (prev == 'f' && (l == 'f' || l == 'i' || l == 'l')))
		return reject(x->what, "with ss, st, ff, fi or fl under (?i) (Oniguruma matches them to one character)");
	x->prev_lit = l >= 'a' && l <= 'z' ? l : 0;
	return LUTDB_OK;
}

/* One item outside a character class at p[i]. */
static int xlat_item(struct xlat *x)
{
	const char *p = x->p;
	const size_t n = x->n, i = x->i;
	const char c = p[i];
	const char prev_lit = x->prev_lit;
	long lo, hi;
	size_t end;
	int rc;

	x->prev_lit = 0; /* any item but a literal letter ends a pair (fold_check) */
	switch (c) {
	case '\\':
		return xlat_escape(x);
	case '[': {
		size_t j = i + 1;

		if (j < n && p[j] == '^')
			j++;
		x->i = j;
		x->in_class = 2; /* first position: a ']' here is literal */
		x->cls_prev = 0;
		item_begins(x, 0);
		x->last = LAST_ATOM;
		return tok_buf_put(x->o, p + i, j - i);
	}
	case '(':
		if (i + 1 < n && p[i + 1] == '?')
			return xlat_group(x);
		if (i + 1 < n && p[i + 1] == '*')
			return reject(x->what, "with a quantifier that has nothing to repeat");
		x->i++;
		if ((rc = group_open(x, 0)))
			return rc;
		return tok_buf_put(x->o, "(", 1);
	case ')':
		return group_close(x);
	case '|':
		x->g[x->depth].has_alt = 1;
		alternative_ends(&x->g[x->depth]);
		x->last = LAST_NONE;
		x->i++;
		return tok_buf_put(x->o, "|", 1);
	case '*':
	case '+':
	case '?':
		if (c == '?' && x->last == LAST_FIXED)
			return reject(x->what, "with {n}? (optional in Oniguruma, lazy in PCRE2)");
		if (c == '?' && x->last == LAST_QUANT) {
			x->last = LAST_LAZY; /* lazy: the same repeat */
			x->i++;
			return tok_buf_put(x->o, "?", 1);
		}
		if ((rc = quantify(x, c != '?')))
			return rc;
		x->i++;
		return tok_buf_put(x->o, p + i, 1);
	case '{':
		rc = read_interval(p, n, i, &lo, &hi, &end);
		if (rc < 0)
			return reject(x->what, "with a repeat count over 65535");
		if (rc == 0) {
			item_begins(x, 0);
			x->last = LAST_ATOM;
			x->i++;
			return tok_buf_put(x->o, "\\{", 2); /* a literal brace in Oniguruma */
		}
		if (lo > MAX_REPEAT || hi > MAX_REPEAT)
			return reject(x->what, "with a repeat count over 65535");
		if (hi >= 0 && lo > hi)
			return reject(x->what, "with an interval {n,m} where n > m (possessive in Oniguruma)");
		if ((rc = quantify(x, hi < 0 || hi > 1)))
			return rc;
		if (!memchr(p + i, ',', end - i))
			x->last = LAST_FIXED; /* {n}, not {n,n} */
		x->i = end;
		{
			char q[32];
			int l = hi < 0 ? snprintf(q, sizeof q, "{%ld,}", lo) : hi == lo ? snprintf(q, sizeof q, "{%ld}", lo)
								 : snprintf(q, sizeof q, "{%ld,%ld}", lo, hi);
			return tok_buf_put(x->o, q, (size_t)l);
		}
	case '^':
	case '$':
		if (x->g[x->depth].behind)
			return reject(x->what, "with an anchor inside a look-behind");
		item_begins(x, 1);
		x->last = LAST_ANCHOR;
		x->i++;
		return tok_buf_put(x->o, p + i, 1);
	default:
		x->prev_lit = prev_lit;
		if (x->g[x->depth].icase && (rc = fold_check(x, c)))
			return rc;
		item_begins(x, 0);
		x->last = LAST_ATOM;
		x->i++;
		return tok_buf_put(x->o, p + i, 1);
	}
}

int tok_regex_translate(const char *p, size_t n, struct tok_buf *o, const char *what)
{
	struct xlat x;
	int rc = 0;

	memset(&x, 0, sizeof x);
	x.p = p;
	x.n = n;
	x.o = o;
	x.what = what;
	while (x.i < n && !rc)
		rc = x.in_class ? (p[x.i] == '\\' ? xlat_escape(&x) : xlat_class_char(&x)) : xlat_item(&x);
	if (!rc && x.in_class)
		return reject(what, "with an unterminated character class");
	return rc ? rc : close_implicit(&x);
}
