/*
 * fuzz_regex_onig.c - the tokenizer's regexes against Oniguruma, the engine
 * Hugging Face `tokenizers` runs them on (differential).
 *
 * Input: a pattern, optionally a NUL and a text (made valid UTF-8 the way
 * encode does: every invalid sequence becomes U+FFFD).  When the
 * translator (runtime/tokenizer/tok_regex_xlat.c) accepts the pattern:
 *
 *   - Oniguruma must compile it too, with what `tokenizers` uses (the onig
 *     crate's Regex::new: UTF-8, no options, the default syntax); a pattern
 *     only we accept would let pack store a tokenizer Hugging Face cannot
 *     load;
 *   - the matches tok_regex_find_matches reports must be exactly those of
 *     the onig crate's find_iter, reproduced below on onig_search: the
 *     leftmost match from the end of the last one, an empty match right
 *     after the last match skipped by one character.
 *
 * A search that either engine gives up on (our work budget, Oniguruma's
 * retry limit) is not compared.  Patterns we refuse are not compared either:
 * refusing is always allowed.  Needs libonig (Debian libonig-dev, a test
 * package); it is linked only into this harness.
 */
#include "fuzz_common.h"
#include "tok_internal.h"

#include <oniguruma.h>

#define MAX_PATTERN 512
#define MAX_MATCHES 4096

struct span {
	size_t s, e;
};

static int onig_ready;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	OnigEncoding enc[1] = {ONIG_ENCODING_UTF8};

	(void)argc;
	(void)argv;
	onig_initialize(enc, 1);
	onig_ready = 1;
	return 0;
}

/* The onig crate's FindMatches over s[0, n); returns the number of matches,
 * or -1 when onig_search failed (a limit) or there were too many. */
static int onig_find_iter(regex_t *reg, const char *s, size_t n, struct span *out)
{
	const UChar *b = (const UChar *)s, *end = b + n;
	OnigRegion *region = onig_region_new();
	size_t last_end = 0, last_match_end = 0;
	int have_last = 0, k = 0;

	if (!region)
		abort();
	while (last_end <= n) {
		int r;

		onig_region_clear(region);
		r = onig_search(reg, b, end, b + last_end, end, region, ONIG_OPTION_NONE);
		if (r == ONIG_MISMATCH)
			break;
		if (r < 0 || k == MAX_MATCHES) {
			k = -1;
			break;
		}
		size_t ms = (size_t)region->beg[0], me = (size_t)region->end[0];

		if (me == ms && have_last && last_match_end == me) {
			size_t l = last_end < n ? tok_utf8_valid_len((const unsigned char *)s + last_end, n - last_end) : 1;

			last_end += l ? l : 1;
			continue;
		}
		last_end = me;
		last_match_end = me;
		have_last = 1;
		out[k].s = ms;
		out[k].e = me;
		k++;
	}
	onig_region_free(region, 1);
	return k;
}

/* Our matches: the match segments of tok_regex_find_matches. */
static int our_find_iter(const struct tok_regex *re, struct tok_match_ctx *m, const char *s, size_t n,
			 struct span *out)
{
	struct tok_segs segs = {0};
	int rc, k = 0;

	tok_match_ctx_budget(m);
	rc = tok_regex_find_matches(re, m, s, n, &segs);
	if (rc) {
		FUZZ_CHECK(rc == LUTDB_ETOOBIG || rc == LUTDB_ENOMEM);
		free(segs.v);
		return -1;
	}
	for (size_t i = 0; i < segs.n; i++) {
		if (!segs.v[i].is_match)
			continue;
		if (k == MAX_MATCHES) {
			k = -1;
			break;
		}
		out[k].s = segs.v[i].s;
		out[k].e = segs.v[i].e;
		k++;
	}
	free(segs.v);
	return k;
}

static void report(const char *pat, size_t plen, const char *s, size_t n, const struct span *a, int na,
		   const struct span *b, int nb)
{
	fprintf(stderr, "pattern \"%.*s\" on \"%.*s\" (%zu bytes)\n  ours:", (int)plen, pat, (int)(n > 200 ? 200 : n),
		s, n);
	for (int i = 0; i < na && i < 20; i++)
		fprintf(stderr, " [%zu,%zu)", a[i].s, a[i].e);
	fprintf(stderr, "%s\n  onig:", na > 20 ? " ..." : "");
	for (int i = 0; i < nb && i < 20; i++)
		fprintf(stderr, " [%zu,%zu)", b[i].s, b[i].e);
	fprintf(stderr, "%s\n", nb > 20 ? " ..." : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct span ours[MAX_MATCHES], theirs[MAX_MATCHES];
	size_t plen, tlen;
	const uint8_t *tx;
	struct tok_regex re;
	struct tok_match_ctx m;
	struct tok_buf text = {0};
	regex_t *reg = NULL;
	OnigErrorInfo einfo;

	if (!onig_ready)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_split(data, size, &plen, &tx, &tlen);
	if (plen > MAX_PATTERN)
		return 0;
	char *pat = (char *)fuzz_dup(data, plen);
	if (tok_regex_compile(&re, pat, plen, 0, "fuzz") != LUTDB_OK) {
		free(pat);
		return 0; /* refusing is always allowed */
	}
	int r = onig_new(&reg, (const UChar *)pat, (const UChar *)pat + plen, ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
			 ONIG_SYNTAX_DEFAULT, &einfo);
	if (r != ONIG_NORMAL) {
		UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];

		onig_error_code_to_str(msg, r, &einfo);
		fprintf(stderr, "pattern \"%.*s\": accepted by the translator, refused by Oniguruma: %s\n", (int)plen,
			pat, (const char *)msg);
		FUZZ_CHECK(!"a pattern Oniguruma refuses was accepted");
	}
	if (tok_match_ctx_init(&m) != LUTDB_OK)
		abort();
	if (tok_utf8_lossy(&text, tx ? (const char *)tx : "", tx ? tlen : 0) || tok_buf_put(&text, "", 0))
		abort();
	/* an empty text is never searched (Pattern::find_matches of tokenizers) */
	int na = text.len ? our_find_iter(&re, &m, text.p, text.len, ours) : -1;
	int nb = text.len ? onig_find_iter(reg, text.p, text.len, theirs) : -1;
	if (na >= 0 && nb >= 0) {
		int same = na == nb;

		for (int i = 0; same && i < na; i++)
			same = ours[i].s == theirs[i].s && ours[i].e == theirs[i].e;
		if (!same)
			report(pat, plen, text.p, text.len, ours, na, theirs, nb);
		FUZZ_CHECK(same);
	}
	tok_buf_free(&text);
	tok_match_ctx_free(&m);
	onig_free(reg);
	tok_regex_free(&re);
	free(pat);
	return 0;
}
