/*
 * test_json_caps.c - JSON documents from outside: the bounded loader
 * (format/base/json_bounded.c) and every document that goes through it.
 *
 *   scan      the scan follows jansson's grammar; its allocation bound
 *             covers what jansson really allocates (mallinfo2), tightly
 *   caps      per document (config.json, generation_config.json,
 *             manifest.json, a safetensors header, tokenizer.json): one
 *             byte over the cap is refused naming the cap, a document at
 *             the cap is parsed; a bomb of tiny values under the cap is
 *             refused before jansson runs, with no memory spent; the
 *             largest real document of a kind parses within the
 *             documented multiple
 *   oom       an allocation failing anywhere in a parse (RLIMIT_AS in a
 *             child) is LUTDB_ENOMEM naming the document, never invalid JSON
 *
 * The untrusted lists inside those documents: test_untrusted_lists.c.
 */
#include <malloc.h>

#include "json_cases.h"
#include "skip.h"

/* ---- scan ---------------------------------------------------------------------------------------------------- */

/* The scan calls valid exactly what jansson parses (or refuses for the
 * document's own reasons), and invalid what jansson refuses. */
START_TEST(scan_follows_jansson)
{
	static const char *const docs[] = {
		"{}", "[]", " {} ", "{\"a\":1}", "[1,2.5,-0,1e5,-1.25E-3,true,false,null]", "{\"a\":{\"b\":[{}]}}",
		"\"s\"", "1", "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[01]", "[-]",
		"[1.]", "[1e]", "[.5]", "[tru]", "[truex]", "[nul]", "{} x", "{}{}", "[\"\\x\"]", "[\"\\u12\"]",
		"[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\ud83d\\ude00\"]", "[\"a\nb\"]",
		"[\"\xc3\xa9\"]", "[\"\xc0\x80\"]", "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]", "[\"\xe2\x82\"]",
		"\xef\xbb\xbf{}", "[1]\xc3\xa9", "{\"a\":1,\"a\":2}", "[99999999999999999999]", "[1e999]",
		"[\"\\u0000\"]", "{\"\\u0000\":1}", "[\"\x7f\"]", "[1 2]", "[\"a\" \"b\"]", "{\"a\":}", "[,1]",
	};
	size_t i;

	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		const char *d = docs[i];
		size_t n = strlen(d);
		lutdb_json_stats st;
		json_error_t err;
		json_t *root;

		lutdb_json_scan(d, n, 0, &st);
		root = json_loadb(d, n, JSON_REJECT_DUPLICATES, &err);
		if (root)
			ck_assert_msg(st.valid, "scan refuses \"%s\" (at %zu), jansson parses it", d, st.error_at);
		else if (!st.valid)
			ck_assert_msg(st.error_at <= n, "\"%s\"", d);
		else {
			enum json_error_code c = json_error_code(&err);

			ck_assert_msg(c == json_error_duplicate_key || c == json_error_numeric_overflow ||
					      c == json_error_null_character || c == json_error_null_byte_in_key,
				      "scan accepts \"%s\", jansson refuses it: %s", d, err.text);
		}
		json_decref(root);
	}
}
END_TEST

/* Documents of every shape: the bound is above what jansson holds once it
 * is done and within 25% of it (the bound is of the peak: a table being
 * regrown is held twice for a moment), so the factor it is held to means
 * what it says. */
START_TEST(scan_bounds_jansson)
{
	static const char *const units[] = {"{},", "[],", "0,", "\"a\",", "[\"a\",\"b\"],", "{\"k\":[1,2]},",
					    "{\"dtype\":\"F16\",\"shape\":[4096,4096],\"data_offsets\":[0,33554432]},",
					    "\"a rather longer string value, for the string blocks\","};
	size_t i;

	if (instrumented())
		SKIP_TEST("mallinfo2 does not see the sanitizer's or memcheck's allocator");
	json_object_seed(1);
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		sb b = {0};
		lutdb_json_stats st;
		struct mallinfo2 m0, m1;
		json_t *root;
		uint64_t used;

		sb_str(&b, "[");
		sb_fill(&b, units[i], 400000);
		b.p[b.n - 1] = ']';
		lutdb_json_scan(b.p, b.n, 0, &st);
		ck_assert(st.valid);
		m0 = mallinfo2();
		root = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, NULL);
		m1 = mallinfo2();
		ck_assert_ptr_nonnull(root);
		used = (uint64_t)(m1.uordblks + m1.hblkhd) - (uint64_t)(m0.uordblks + m0.hblkhd);
		printf("shape %-40.40s %6.2fx bound %6.2fx\n", units[i], (double)used / (double)b.n,
		       (double)st.alloc_bound / (double)b.n);
		ck_assert_msg(st.alloc_bound >= used, "%s: bound %llu < %llu", units[i],
			      (unsigned long long)st.alloc_bound, (unsigned long long)used);
		ck_assert_msg(st.alloc_bound <= used + used / 4 + 65536, "%s: bound %llu, jansson %llu", units[i],
			      (unsigned long long)st.alloc_bound, (unsigned long long)used);
		json_decref(root);
		free(b.p);
	}
}
END_TEST

/* The densest legitimate shape (a compact merges list) passes the factor;
 * tiny containers do not, and are refused before jansson runs. */
START_TEST(density_limit)
{
	static const struct {
		const char *unit;
		int ok;
	} shapes[] = {{"[\"a\",\"b\"],", 1}, {"0,", 1}, {"{},", 0}, {"[],", 0}, {"{\"a\":{}},", 0}};
	size_t i;

	for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		sb b = {0};
		outcome o;

		sb_str(&b, "{\"merges\":[");
		sb_fill(&b, shapes[i].unit, 8u << 20);
		b.p[b.n - 1] = ']';
		sb_str(&b, "}");
		o = run_doc(generic_job, b.p, b.n);
		if (shapes[i].ok) {
			ck_assert_msg(o.rc == LUTDB_OK, "%s: %s", shapes[i].unit, o.detail);
			ck_assert_msg(o.grew_kb <= parse_bound_kb(b.n),
				      "%s: %ld KB", shapes[i].unit, o.grew_kb);
		} else {
			OUTCOME_IS(o, LUTDB_EBADINPUT, "too many small values");
			ck_assert_msg(o.grew_kb < refused_kb(), "%s: refused after %ld KB", shapes[i].unit, o.grew_kb);
		}
		free(b.p);
	}
}
END_TEST

START_TEST(depth_limit)
{
	sb b = {0};
	int k;
	outcome o;

	for (k = 0; k < LUTDB_JSON_MAX_DEPTH; k++)
		sb_str(&b, "[");
	for (k = 0; k < LUTDB_JSON_MAX_DEPTH; k++)
		sb_str(&b, "]");
	o = run_doc(generic_job, b.p, b.n);
	ck_assert_msg(o.rc == LUTDB_OK, "%s", o.detail);
	b.n = 0;
	for (k = 0; k <= LUTDB_JSON_MAX_DEPTH; k++)
		sb_str(&b, "[");
	for (k = 0; k <= LUTDB_JSON_MAX_DEPTH; k++)
		sb_str(&b, "]");
	o = run_doc(generic_job, b.p, b.n);
	OUTCOME_IS(o, LUTDB_EBADINPUT, "nested deeper than 64 levels");
	free(b.p);
}
END_TEST

/* ---- caps per document ------------------------------------------------------------------------------------------ */

/* cap + 1 bytes refused naming the cap; exactly cap bytes parsed (the
 * caller's checks decide: want_at_cap); a bomb of want_bomb just under the
 * cap refused before any memory is spent. */
static void check_cap(job_fn fn, const char *what, const char *valid_doc, size_t cap, int want_at_cap,
		      int bad_code, const char *bomb_head, const char *bomb_unit, const char *bomb_tail)
{
	sb b = {0};
	char needle[96];
	outcome o;

	snprintf(needle, sizeof needle, "cap of %zu bytes", cap);
	sb_str(&b, valid_doc);
	sb_pad(&b, cap + 1);
	o = run_doc(fn, b.p, b.n);
	ck_assert_msg(o.rc != LUTDB_OK && o.rc != LUTDB_ENOMEM, "%s: cap + 1: %s", what, o.detail);
	OUTCOME_IS(o, o.rc, needle);
	ck_assert_msg(strstr(o.detail, what) != NULL, "%s not named: %s", what, o.detail);
	ck_assert_msg(o.grew_kb < refused_kb(), "%s: cap + 1 refused after %ld KB", what, o.grew_kb);

	b.n = cap;
	b.p[b.n] = '\0';
	o = run_doc(fn, b.p, b.n);
	ck_assert_msg(o.rc == want_at_cap, "%s at the cap: %s (%s)", what, lutdb_strerror(o.rc), o.detail);
	ck_assert_msg(o.grew_kb <= parse_bound_kb(b.n) + 4096,
		      "%s at the cap: %ld KB", what, o.grew_kb);
	printf("%s: %zu bytes at the cap: %s, peak RSS grew %ld KB\n", what, cap, lutdb_strerror(o.rc), o.grew_kb);

	b.n = 0;
	sb_str(&b, bomb_head);
	sb_fill(&b, bomb_unit, cap - strlen(bomb_tail) - 64);
	b.n--; /* the last unit's comma */
	sb_str(&b, bomb_tail);
	ck_assert_uint_le(b.n, cap);
	o = run_doc(fn, b.p, b.n);
	OUTCOME_IS(o, bad_code, "too many small values");
	ck_assert_msg(o.grew_kb < refused_kb(), "%s: bomb refused after %ld KB", what, o.grew_kb);
	printf("%s: %zu-byte bomb refused, peak RSS grew %ld KB\n", what, b.n, o.grew_kb);
	free(b.p);
}

START_TEST(cap_config)
{
	static const char cfg[] = "{\"vocab_size\":260,\"hidden_size\":64,\"intermediate_size\":128,"
				  "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_experts\":3}";

	check_cap(config_job, "config.json", cfg, LUTDB_CONFIG_JSON_MAX, LUTDB_OK, LUTDB_EBADINPUT,
		  "{\"id2label\":[", "{},", "]}");
	check_cap(generation_job, "generation_config.json", "{\"eos_token_id\":[1,2]}", LUTDB_CONFIG_JSON_MAX,
		  LUTDB_OK, LUTDB_EBADINPUT, "{\"bad_words_ids\":[", "[],", "]}");
}
END_TEST

START_TEST(cap_manifest)
{
	if (getenv("LUTDB_VALGRIND")) /* tens of MB scanned and parsed: minutes under memcheck */
		SKIP_TEST("minutes under memcheck (make test runs it)");
	check_cap(manifest_job, "manifest.json", "{}", LUTDB_MANIFEST_MAX, LUTDB_ECORRUPT, LUTDB_ECORRUPT,
		  "{\"shards\":[", "{},", "]}");
}
END_TEST

START_TEST(cap_safetensors)
{
	if (getenv("LUTDB_VALGRIND")) /* tens of MB scanned and parsed: minutes under memcheck */
		SKIP_TEST("minutes under memcheck (make test runs it)");
	check_cap(safetensors_job, "safetensors: header", "{}", LUTDB_ST_HEADER_MAX, LUTDB_OK, LUTDB_EBADINPUT,
		  "{\"__metadata__\":{\"a\":[", "[],", "]}}");
}
END_TEST

START_TEST(cap_tokenizer)
{
	if (getenv("LUTDB_VALGRIND")) /* tens of MB scanned and parsed: minutes under memcheck */
		SKIP_TEST("minutes under memcheck (make test runs it)");
	static const char tok[] = "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";

	check_cap(tokenizer_job, "tokenizer.json", tok, LUTDB_TOKENIZER_JSON_MAX, LUTDB_OK, LUTDB_ETOOBIG,
		  "{\"added_tokens\":[", "{},", "]}");
}
END_TEST

/* The largest manifest lutdb_manifest_dump can write (65535 shards,
 * 255-byte names, the largest numbers) fits the cap and parses within the
 * documented multiple. */
START_TEST(largest_manifest)
{
	lutdb_manifest m;
	char *dump;
	outcome o;
	size_t i, len;

	if (getenv("LUTDB_VALGRIND")) /* 65535 shards: minutes under memcheck */
		SKIP_TEST("minutes under memcheck (make test runs it)");
	memset(&m, 0, sizeof m);
	m.split = LUTDB_SPLIT_LAYER;
	m.vocab = UINT32_MAX;
	m.layers = 65535;
	m.nshards = LUTDB_MAX_SHARDS;
	m.shards = calloc(m.nshards, sizeof *m.shards);
	for (i = 0; i < m.nshards; i++) {
		lutdb_manifest_shard *s = &m.shards[i];

		s->file = malloc(256);
		memset(s->file, 'f', 255);
		snprintf(s->file + 245, 11, "%010zu", i);
		s->bytes = INT64_MAX;
		s->token_begin = 0;
		s->token_end = UINT32_MAX;
		s->layer_begin = (uint32_t)i;
		s->layer_end = (uint32_t)i + 1;
	}
	dump = lutdb_manifest_dump(&m);
	ck_assert_ptr_nonnull(dump);
	len = strlen(dump);
	ck_assert_uint_le(len, LUTDB_MANIFEST_MAX);
	o = run_doc(manifest_job, dump, len);
	ck_assert_msg(o.rc == LUTDB_OK, "%s", o.detail);
	ck_assert_msg(o.grew_kb <= parse_bound_kb(len), "%ld KB",
		      o.grew_kb);
	printf("largest manifest: %zu bytes, parsed with peak RSS grown by %ld KB (%.1fx)\n", len, o.grew_kb,
	       (double)o.grew_kb * 1024.0 / (double)len);
	free(dump);
	lutdb_manifest_free(&m);
}
END_TEST

/* ---- out of memory ----------------------------------------------------------------------------------------------- */

/* 1 when this system enforces RLIMIT_AS: a child limited to 64 MB cannot
 * allocate 512 MB.  qemu-user (make test-aarch64) does not pass the limit
 * to the host, where it would bound qemu's own mappings: there no limit
 * ever runs out, and the check cannot run. */
static int as_limit_enforced(void)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		struct rlimit rl = {64u << 20, 64u << 20};
		void *p = setrlimit(RLIMIT_AS, &rl) == 0 ? malloc(512u << 20) : NULL;
		_exit(p == NULL ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Every limit from 1 MB to 48 MB cuts the parse of a valid 2 MB document
 * somewhere else: each run either parses or says out of memory, naming the
 * document; none says invalid JSON. */
START_TEST(oom_is_enomem)
{
	static const struct {
		job_fn fn;
		const char *name;
		const char *head, *unit, *tail;
	} docs[] = {
		{generic_job, "doc.json", "{\"m\":[", "[12345,\"abcdef\"],", "]}"},
		{tokenizer_job, "tokenizer.json", "{\"added_tokens\":[", "{\"content\":\"abc\",\"special\":true},", "]}"},
		{manifest_job, "manifest.json", "{\"shards\":[", "{\"file\":\"a\",\"bytes\":1,\"tokens\":[0,1]},", "]}"},
	};
	size_t i, mb;

	if (instrumented())
		SKIP_TEST("an address-space limit breaks the sanitizer's or memcheck's own mappings");
	if (!as_limit_enforced())
		SKIP_TEST("this system does not enforce RLIMIT_AS (qemu-user ignores it)");
	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		sb b = {0};
		int enomem = 0, ok = 0;

		sb_str(&b, docs[i].head);
		sb_fill(&b, docs[i].unit, 2u << 20);
		b.n--;
		sb_str(&b, docs[i].tail);
		for (mb = 1; mb <= 48; mb += 1) {
			doc_arg a = {b.p, b.n, NULL};
			outcome o = in_child(docs[i].fn, &a, mb << 20);

			if (o.rc == LUTDB_ENOMEM) {
				enomem++;
				ck_assert_msg(strstr(o.detail, docs[i].name) && strstr(o.detail, "out of memory"),
					      "%s, %zu MB: %s", docs[i].name, mb, o.detail);
			} else {
				ck_assert_msg(!strstr(o.detail, "JSON"), "%s, %zu MB: %s (%s)", docs[i].name, mb,
					      lutdb_strerror(o.rc), o.detail);
				ok++;
			}
		}
		printf("%s: %d limits ran out of memory, %d did not\n", docs[i].name, enomem, ok);
		ck_assert_int_gt(enomem, 10);
		free(b.p);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *tc;

	tc = tcase_create("scan");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, scan_follows_jansson);
	tcase_add_test(tc, scan_bounds_jansson);
	tcase_add_test(tc, density_limit);
	tcase_add_test(tc, depth_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("caps");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, cap_config);
	tcase_add_test(tc, cap_manifest);
	tcase_add_test(tc, cap_safetensors);
	tcase_add_test(tc, cap_tokenizer);
	tcase_add_test(tc, largest_manifest);
	suite_add_tcase(s, tc);

	tc = tcase_create("oom");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, oom_is_enomem);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
