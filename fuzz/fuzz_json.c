/*
 * fuzz_json.c - the bounded JSON loader (format/base/json_bounded.c)
 * against jansson itself.
 *
 * Input: one byte of flags (bit 0 JSON_ALLOW_NUL, bit 1 JSON_DECODE_ANY),
 * then the document.  Contracts:
 *   - what lutdb_json_scan calls valid, jansson parses, or refuses only for
 *     a reason of the document's own (a duplicate key, a number out of
 *     range, a NUL): lutdb_json_load words any other refusal as out of
 *     memory, so a scan more lenient than jansson would misreport bad
 *     input;
 *   - what the scan calls invalid, jansson refuses (unless the scan stopped
 *     at its depth cap, below jansson's);
 *   - what jansson allocates, counted here in glibc chunks through
 *     json_set_alloc_funcs at its peak, never exceeds the scan's
 *     alloc_bound: the memory bound lutdb_json_load enforces holds;
 *   - lutdb_json_load agrees: LUTDB_OK exactly when jansson parses (and
 *     the caps pass), otherwise a known code with the document named.
 */
#include <jansson.h>

#include "fuzz_common.h"
#include "json_bounded.h"

/* Every block jansson holds, in glibc chunks (as the scan counts them). */
static uint64_t held, peak;

static uint64_t chunk(uint64_t n)
{
	uint64_t c = (n + 8 + 15) & ~(uint64_t)15;

	if (n >= (128u << 10))
		return (n + 16 + 4095) & ~(uint64_t)4095;
	return c < 32 ? 32 : c;
}

static void *count_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(size_t) * 2);

	if (!p)
		return NULL;
	p[0] = n;
	held += chunk(n);
	if (held > peak)
		peak = held;
	return p + 2;
}

static void count_free(void *q)
{
	size_t *p = q;

	if (!p)
		return;
	p -= 2;
	held -= chunk(p[0]);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	lutdb_json_stats st;
	json_error_t err;
	json_t *root, *again = NULL;
	size_t flags;
	const char *doc;
	size_t len;
	int rc;

	if (!init) {
		json_object_seed(1); /* before the counting: jansson seeds once */
		json_set_alloc_funcs(count_malloc, count_free);
		init = 1;
	}
	if (size < 1)
		return 0;
	flags = (data[0] & 1 ? JSON_ALLOW_NUL : 0) | (data[0] & 2 ? JSON_DECODE_ANY : 0);
	doc = (const char *)data + 1;
	len = size - 1;

	lutdb_json_scan(doc, len, flags, &st);
	FUZZ_CHECK(st.valid || st.error_at <= len);
	held = peak = 0;
	root = json_loadb(doc, len, JSON_REJECT_DUPLICATES | flags, &err);
	FUZZ_CHECK(peak <= st.alloc_bound || st.too_deep);
	if (st.valid && !root) {
		enum json_error_code c = json_error_code(&err);

		if (!(c == json_error_duplicate_key || c == json_error_numeric_overflow ||
		      c == json_error_null_character || c == json_error_null_byte_in_key)) {
			fprintf(stderr, "scan says valid, jansson: %s (code %d, at %d)\n", err.text, (int)c, err.position);
			FUZZ_CHECK(!"scan more lenient than jansson");
		}
	}
	if (!st.valid && !st.too_deep && root) {
		fprintf(stderr, "scan refused at byte %zu, jansson parsed\n", st.error_at);
		FUZZ_CHECK(!"scan stricter than jansson");
	}

	{
		const lutdb_json_doc d = {"fuzz.json", 1u << 20, LUTDB_EBADINPUT, flags, LUTDB_ETOOBIG};

		rc = lutdb_json_load(&d, doc, len, &again);
		FUZZ_CHECK_RC(rc);
		if (rc == LUTDB_OK) {
			FUZZ_CHECK(again != NULL && root != NULL);
			FUZZ_CHECK(json_equal(root, again));
		} else {
			FUZZ_CHECK(again == NULL);
			FUZZ_CHECK(rc == LUTDB_EBADINPUT || rc == LUTDB_ETOOBIG || rc == LUTDB_ENOMEM);
			FUZZ_CHECK(strncmp(lutdb_errdetail(), "fuzz.json: ", 11) == 0);
			/* jansson parsed it: only a cap may refuse it */
			FUZZ_CHECK(!root || rc == LUTDB_ETOOBIG || st.too_deep);
		}
	}
	json_decref(again);
	json_decref(root);
	return 0;
}
