/*
 * json_bounded.c - a JSON document from outside, parsed within a memory
 * bound (see json_bounded.h).
 *
 * The scan follows jansson 2.14's lexer and parser (src/load.c) byte for
 * byte, so that "valid" here means jansson reads the same tokens, and it
 * adds up what jansson allocates for them (src/value.c, src/hashtable.c),
 * in glibc malloc chunks.  fuzz/fuzz_json.c holds both to that: whatever
 * this scan calls valid jansson parses (or refuses only for the reasons
 * named in semantic()), whatever it calls invalid jansson refuses, and
 * what jansson allocates stays below alloc_bound.
 */
#include "json_bounded.h"

#include <string.h>

#include "fail.h"
#include "lutdb_err.h"

/* glibc's chunk for malloc(n): 8 bytes of header, 16-byte alignment, at
 * least 32; a request of 128 KiB or more is mmapped whole pages. */
static uint64_t chunk(uint64_t n)
{
	uint64_t c = (n + 8 + 15) & ~(uint64_t)15;

	if (n >= (128u << 10))
		return (n + 16 + 4095) & ~(uint64_t)4095;
	return c < 32 ? 32 : c;
}

/* jansson 2.14's allocations on LP64 (src/jansson_private.h, hashtable.h). */
#define J_OBJECT 72u   /* json_object_t: json_t + hashtable_t */
#define J_ARRAY 40u    /* json_array_t */
#define J_STRING 32u   /* json_string_t; the text is a second block */
#define J_NUMBER 24u   /* json_integer_t, json_real_t */
#define J_PAIR 56u     /* a member: hashtable pair, then key_len + 1 bytes */
#define J_BUCKET 16u   /* one hash bucket; an object starts with 8 */
#define J_SLOT 8u      /* one array entry; an array starts with 8 */
#define J_FIXED 1024u  /* the lexer, its first buffer, the hash seed */

static uint64_t pow2_at_least(uint64_t n, uint64_t min)
{
	uint64_t p = min;

	while (p < n)
		p *= 2;
	return p;
}

enum want {
	W_VALUE,          /* a value (after ':' or ',' in an array, or at the top) */
	W_VALUE_OR_CLOSE, /* just after '[' */
	W_KEY_OR_CLOSE,   /* just after '{' */
	W_KEY,            /* after ',' in an object */
	W_COLON,
	W_COMMA_OR_CLOSE,
	W_END
};

struct level {
	int is_object;
	uint64_t count;     /* members or elements */
	uint64_t key_chunk; /* the key whose value is being read (jansson holds it meanwhile) */
};

struct scan {
	const unsigned char *p;
	size_t len, i;
	struct level stack[LUTDB_JSON_MAX_DEPTH];
	size_t depth;
	uint64_t held;           /* persistent blocks so far */
	uint64_t path_keys;      /* keys held while their values are read */
	uint64_t max_path_keys;
	uint64_t max_regrow;     /* the largest table freed after a regrowth */
	size_t max_token;        /* longest token, as jansson saves it */
	lutdb_json_stats *st;
};

static int is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hexval(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Length of the valid UTF-8 sequence at p[0, n) (jansson's utf8_check_first
 * and utf8_check_full: no overlong forms, surrogates or values past
 * U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned u = p[0], k, i;
	uint32_t v;

	if (u < 0x80)
		return 1;
	if (u >= 0xC2 && u <= 0xDF)
		k = 2, v = u & 0x1F;
	else if (u >= 0xE0 && u <= 0xEF)
		k = 3, v = u & 0x0F;
	else if (u >= 0xF0 && u <= 0xF4)
		k = 4, v = u & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (k == 3 && v < 0x800) || (k == 4 && v < 0x10000))
		return 0;
	return k;
}

/* The \uXXXX escape at p (p[0] == 'u' and four hex digits), or -1. */
static long uescape(const unsigned char *p, size_t n)
{
	long v = 0;

	if (n < 5 || p[0] != 'u')
		return -1;
	for (int k = 1; k <= 4; k++) {
		int h = hexval(p[k]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A string at s->i (the opening quote): jansson's lex_scan_string.  On
 * success s->i is past the closing quote and *raw counts the bytes jansson
 * saves (both quotes included). */
static int scan_string(struct scan *s, size_t *raw)
{
	const unsigned char *p = s->p;
	size_t i = s->i + 1, n = s->len;

	while (i < n && p[i] != '"') {
		unsigned c = p[i];

		if (c <= 0x1F)
			return -1;
		if (c == '\\') {
			if (i + 1 >= n)
				return -1;
			c = p[i + 1];
			if (c == 'u') {
				long v = uescape(p + i + 1, n - i - 1);

				if (v < 0)
					return -1;
				i += 6;
				if (v >= 0xD800 && v <= 0xDBFF) {
					long w;

					if (i + 1 >= n || p[i] != '\\' || (w = uescape(p + i + 1, n - i - 1)) < 0 ||
					    w < 0xDC00 || w > 0xDFFF)
						return -1;
					i += 6;
				} else if (v >= 0xDC00 && v <= 0xDFFF)
					return -1;
			} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
				   c == 't')
				i += 2;
			else
				return -1;
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_len(p + i, n - i);

			if (!k)
				return -1;
			i += k;
			continue;
		}
		i++;
	}
	if (i >= n)
		return -1;
	*raw = i + 1 - s->i;
	s->i = i + 1;
	return 0;
}

/* A number at s->i: jansson's lex_scan_number. */
static int scan_number(struct scan *s)
{
	const unsigned char *p = s->p;
	size_t i = s->i, n = s->len;

	if (p[i] == '-')
		i++;
	if (i < n && p[i] == '0') {
		i++;
		if (i < n && is_digit(p[i]))
			return -1;
	} else if (i < n && is_digit(p[i])) {
		while (i < n && is_digit(p[i]))
			i++;
	} else
		return -1;
	if (i < n && p[i] == '.') {
		i++;
		if (i >= n || !is_digit(p[i]))
			return -1;
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit(p[i]))
			return -1;
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i - s->i > s->max_token)
		s->max_token = i - s->i;
	s->i = i;
	return 0;
}

/* true, false or null at s->i: jansson reads the whole run of letters. */
static int scan_literal(struct scan *s)
{
	size_t i = s->i, k;

	while (i < s->len && is_alpha(s->p[i]))
		i++;
	k = i - s->i;
	if (k > s->max_token)
		s->max_token = k;
	if (!((k == 4 && !memcmp(s->p + s->i, "true", 4)) || (k == 5 && !memcmp(s->p + s->i, "false", 5)) ||
	      (k == 4 && !memcmp(s->p + s->i, "null", 4))))
		return -1;
	s->i = i;
	return 0;
}

/* jansson reads one character past a number or a literal and puts it
 * back; a NUL byte put back reads as an empty buffer, so jansson skips it
 * ("[1\0]" parses). */
static void skip_unread_nul(struct scan *s)
{
	if (s->i < s->len && s->p[s->i] == '\0')
		s->i++;
}

/* A container ends (or the scan stops inside it): its table. */
static void close_level(struct scan *s)
{
	const struct level *l = &s->stack[--s->depth];
	uint64_t entry = l->is_object ? J_BUCKET : J_SLOT;
	uint64_t slots = pow2_at_least(l->count, 8);

	s->held += chunk(slots * entry);
	/* Growing the table allocates the new one before freeing the old. */
	if (slots > 8 && chunk(slots / 2 * entry) > s->max_regrow)
		s->max_regrow = chunk(slots / 2 * entry);
	s->path_keys -= l->key_chunk;
}

/* A value is complete: it counts in its container. */
static void value_done(struct scan *s, enum want *w)
{
	s->st->values++;
	if (s->depth == 0) {
		*w = W_END;
		return;
	}
	s->stack[s->depth - 1].count += !s->stack[s->depth - 1].is_object;
	*w = W_COMMA_OR_CLOSE;
}

/* The key of the member being read is released (',' or '}'). */
static void member_done(struct scan *s)
{
	struct level *l = &s->stack[s->depth - 1];

	s->path_keys -= l->key_chunk;
	l->key_chunk = 0;
}

/* One step at a non-blank byte; -1 on a byte jansson refuses there. */
static int step(struct scan *s, enum want *w)
{
	int c = s->p[s->i];
	size_t raw;

	switch (*w) {
	case W_KEY_OR_CLOSE:
	case W_KEY:
		if (c == '}' && *w == W_KEY_OR_CLOSE) {
			s->i++;
			close_level(s);
			value_done(s, w);
			return 0;
		}
		if (c != '"' || scan_string(s, &raw))
			return -1;
		if (raw > s->max_token)
			s->max_token = raw;
		s->stack[s->depth - 1].count++;
		s->st->members++;
		/* the member (a pair holding the decoded key, no longer than
		 * raw), and the key as lexed, held until the value is read */
		s->held += chunk(J_PAIR + raw - 2 + 1);
		s->stack[s->depth - 1].key_chunk = chunk(raw + 1);
		s->path_keys += chunk(raw + 1);
		if (s->path_keys > s->max_path_keys)
			s->max_path_keys = s->path_keys;
		*w = W_COLON;
		return 0;
	case W_COLON:
		if (c != ':')
			return -1;
		s->i++;
		*w = W_VALUE;
		return 0;
	case W_COMMA_OR_CLOSE: {
		int obj = s->stack[s->depth - 1].is_object;

		if (obj)
			member_done(s);
		if (c == ',') {
			s->i++;
			*w = obj ? W_KEY : W_VALUE;
			return 0;
		}
		if (c != (obj ? '}' : ']'))
			return -1;
		s->i++;
		close_level(s);
		value_done(s, w);
		return 0;
	}
	case W_END:
		return -1;
	case W_VALUE:
	case W_VALUE_OR_CLOSE:
		break;
	}
	if (c == ']' && *w == W_VALUE_OR_CLOSE) {
		s->i++;
		close_level(s);
		value_done(s, w);
		return 0;
	}
	if (c == '{' || c == '[') {
		if (s->depth == LUTDB_JSON_MAX_DEPTH) {
			s->st->too_deep = 1;
			return -1;
		}
		s->stack[s->depth++] = (struct level){c == '{', 0, 0};
		if (s->depth > s->st->max_depth)
			s->st->max_depth = s->depth;
		s->st->containers++;
		s->held += chunk(c == '{' ? J_OBJECT : J_ARRAY);
		s->i++;
		*w = c == '{' ? W_KEY_OR_CLOSE : W_VALUE_OR_CLOSE;
		return 0;
	}
	if (c == '"') {
		if (scan_string(s, &raw))
			return -1;
		if (raw > s->max_token)
			s->max_token = raw;
		s->held += chunk(J_STRING) + chunk(raw + 1);
	} else if (c == '-' || is_digit(c)) {
		if (scan_number(s))
			return -1;
		s->held += chunk(J_NUMBER);
		skip_unread_nul(s);
	} else if (is_alpha(c)) {
		if (scan_literal(s))
			return -1; /* true, false and null are shared: nothing held */
		skip_unread_nul(s);
	} else
		return -1;
	value_done(s, w);
	return 0;
}

void lutdb_json_scan(const char *text, size_t len, size_t flags, lutdb_json_stats *out)
{
	struct scan s;
	enum want w = W_VALUE;
	uint64_t strbuf;

	memset(out, 0, sizeof *out);
	memset(&s, 0, sizeof s);
	s.p = (const unsigned char *)(text ? text : "");
	s.len = text ? len : 0;
	s.st = out;
	for (;;) {
		while (s.i < s.len && is_ws(s.p[s.i]))
			s.i++;
		if (s.i == s.len) {
			out->valid = w == W_END;
			break;
		}
		/* Without JSON_DECODE_ANY jansson wants an object or an array. */
		if (w == W_VALUE && s.depth == 0 && out->values == 0 && !(flags & JSON_DECODE_ANY) &&
		    s.p[s.i] != '{' && s.p[s.i] != '[')
			break;
		if (step(&s, &w))
			break;
	}
	if (!out->valid) {
		out->error_at = s.i;
		/* jansson lexes the token there before it fails: as long as the
		 * rest of the input at most */
		if (s.len - s.i > s.max_token)
			s.max_token = s.len - s.i;
	}
	while (s.depth > 0)
		close_level(&s);
	/* The lexer's buffer doubles up to the longest token, old and new at
	 * once while it grows; the token's own copy; the keys of the open
	 * members; one table being regrown. */
	strbuf = pow2_at_least((uint64_t)s.max_token + 1, 16);
	out->alloc_bound = s.held + chunk(strbuf) + chunk(strbuf / 2) + chunk((uint64_t)s.max_token + 1) +
			   s.max_path_keys + s.max_regrow + J_FIXED;
}

/* jansson's refusals of a document whose bytes follow its grammar: the
 * document's fault, not the parse's. */
static int semantic(enum json_error_code code)
{
	return code == json_error_duplicate_key || code == json_error_numeric_overflow ||
	       code == json_error_null_character || code == json_error_null_byte_in_key ||
	       code == json_error_stack_overflow;
}

int lutdb_json_load(const lutdb_json_doc *doc, const char *text, size_t len, json_t **out)
{
	lutdb_json_stats st;
	json_error_t err;
	uint64_t budget;
	json_t *root;
	int big = doc->too_big ? doc->too_big : doc->bad;

	*out = NULL;
	if (!text && len)
		return lutdb_fail(LUTDB_EINVAL, "%s: NULL text", doc->name);
	if (len > doc->max_bytes)
		return lutdb_fail(big, "%s: %zu bytes exceed the cap of %zu bytes for this document", doc->name,
				  len, doc->max_bytes);
	lutdb_json_scan(text, len, doc->flags, &st);
	if (st.too_deep)
		return lutdb_fail(doc->bad, "%s: JSON nested deeper than %d levels (at byte %zu)", doc->name,
				  LUTDB_JSON_MAX_DEPTH, st.error_at);
	budget = (uint64_t)LUTDB_JSON_MEM_FACTOR * len + LUTDB_JSON_MEM_SLACK;
	if (st.alloc_bound > budget)
		return lutdb_fail(big, "%s: %zu values in %zu bytes of JSON would take %llu bytes to parse, "
				  "more than %u times the document (too many small values)", doc->name, st.values,
				  len, (unsigned long long)st.alloc_bound, LUTDB_JSON_MEM_FACTOR);
	root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES | doc->flags, &err);
	if (root) {
		*out = root;
		return LUTDB_OK;
	}
	/* jansson words an allocation that failed as a blank error, and as a
	 * syntax error when the lexer's buffer could not grow: bytes the scan
	 * found valid that jansson refuses for no reason of theirs ran out of
	 * memory. */
	if (json_error_code(&err) == json_error_out_of_memory || err.text[0] == '\0' ||
	    (st.valid && !semantic(json_error_code(&err))))
		return lutdb_fail(LUTDB_ENOMEM, "%s: out of memory parsing %zu bytes of JSON", doc->name, len);
	return lutdb_fail(doc->bad, "%s: not valid JSON: %s (line %d, column %d)", doc->name, err.text, err.line,
			  err.column);
}
