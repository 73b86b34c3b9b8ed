/*
 * test_json_caps.c - JSON documents from outside: the bounded loader
 * (format/base/json_bounded.c) and every document that goes through it.
 *
 *   scan      the scan follows jansson's grammar; its allocation bound
 *             covers what jansson really allocates (mallinfo2), tightly
 *   caps      per document (config.json, generation_config.json,
 *             manifest.json, a safetensors header, tokenizer.json, the
 *             checkpoint index): one byte over the cap is refused naming
 *             the cap, a document at the cap is parsed; a bomb of tiny
 *             values under the cap is refused before jansson runs, with no
 *             memory spent; the largest real document of a kind parses
 *             within the documented multiple
 *   oom       an allocation failing anywhere in a parse (RLIMIT_AS in a
 *             child) is LUTDB_ENOMEM naming the document, never invalid JSON
 *   lists     untrusted lists checked in O(n log n): the checkpoint index's
 *             file list, the tokenizer's maps (seeded against crafted
 *             collisions); the TemplateProcessing limits say which limit
 */
#include <check.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "json_bounded.h"
#include "lutdb_tokenizer.h"
#include "manifest.h"
#include "safetensors.h"
#include "skip.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------------------------------- */

/* A growing string. */
typedef struct sb {
	char *p;
	size_t n, cap;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Appends s repeated until the text is at least total bytes long. */
static void sb_fill(sb *b, const char *s, size_t total)
{
	size_t n = strlen(s);

	while (b->n + n <= total)
		sb_put(b, s, n);
}

/* Pads with spaces (valid JSON whitespace) to exactly total bytes. */
static void sb_pad(sb *b, size_t total)
{
	while (b->n < total)
		sb_put(b, " ", 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What one call made in a child process: its code, its detail and how far
 * its peak resident memory rose above what the child had at the start. */
typedef struct outcome {
	int rc;
	long grew_kb;
	char detail[512];
} outcome;

typedef int (*job_fn)(const void *arg);

/* Runs fn(arg) in a child; with as_extra > 0, the child's address space is
 * first limited to what it maps now plus as_extra bytes. */
static outcome in_child(job_fn fn, const void *arg, size_t as_extra)
{
	outcome o;
	int pfd[2];
	pid_t pid;

	memset(&o, 0, sizeof o);
	ck_assert_int_eq(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rusage a, b;
		outcome r;

		memset(&r, 0, sizeof r);
		if (as_extra) {
			long pages = 0;
			FILE *f = fopen("/proc/self/statm", "r");
			struct rlimit rl;

			if (!f || fscanf(f, "%ld", &pages) != 1)
				_exit(3);
			fclose(f);
			rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + as_extra;
			if (setrlimit(RLIMIT_AS, &rl))
				_exit(3);
		}
		getrusage(RUSAGE_SELF, &a);
		r.rc = fn(arg);
		getrusage(RUSAGE_SELF, &b);
		r.grew_kb = b.ru_maxrss - a.ru_maxrss;
		snprintf(r.detail, sizeof r.detail, "%s", lutdb_errdetail());
		if (write(pfd[1], &r, sizeof r) != (ssize_t)sizeof r)
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &o, sizeof o), (ssize_t)sizeof o);
	close(pfd[0]);
	{
		int st;

		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	}
	return o;
}

/* A document for the jobs below. */
typedef struct doc_arg {
	const char *text;
	size_t len;
	const char *dir; /* the checkpoint directory, for ckpt_job */
} doc_arg;

static int config_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_config c;

	return lutdb_config_parse(a->text, a->len, "config.json", &c);
}

static int generation_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_config c;

	memset(&c, 0, sizeof c);
	return lutdb_config_apply_generation(&c, a->text, a->len, "generation_config.json");
}

static int manifest_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_manifest m;
	int rc = lutdb_manifest_parse(a->text, a->len, "manifest.json", &m);

	lutdb_manifest_free(&m);
	return rc;
}

static int safetensors_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_st_file f;
	int rc = lutdb_st_parse(a->text, a->len, 0, &f);

	lutdb_st_free(&f);
	return rc;
}

static int tokenizer_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_tokenizer *t = NULL;
	int rc = lutdb_tokenizer_load(a->text, a->len, &t);

	lutdb_tokenizer_free(t);
	return rc;
}

static int generic_job(const void *p)
{
	const doc_arg *a = p;
	const lutdb_json_doc d = {"doc.json", (size_t)1 << 30, LUTDB_EBADINPUT, 0, 0};
	json_t *root = NULL;
	int rc = lutdb_json_load(&d, a->text, a->len, &root);

	json_decref(root);
	return rc;
}

static int ckpt_job(const void *p)
{
	const doc_arg *a = p;
	lutdb_ckpt *ck = NULL;
	int rc = lutdb_ckpt_open(a->dir, &ck);

	lutdb_ckpt_close(ck);
	return rc;
}

static outcome run_doc(job_fn fn, const char *text, size_t len)
{
	doc_arg a = {text, len, NULL};

	return in_child(fn, &a, 0);
}

#define OUTCOME_IS(o, code, substr)                                                                           \
	do {                                                                                                  \
		ck_assert_msg((o).rc == (code), "got %s (%s), want %s", lutdb_strerror((o).rc), (o).detail,   \
			      lutdb_strerror(code));                                                          \
		ck_assert_msg(strstr((o).detail, (substr)) != NULL, "detail \"%s\" lacks \"%s\"", (o).detail, \
			      (substr));                                                                      \
	} while (0)

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
			ck_assert_msg(o.grew_kb <= (long)((LUTDB_JSON_MEM_FACTOR * b.n + LUTDB_JSON_MEM_SLACK) >> 10),
				      "%s: %ld KB", shapes[i].unit, o.grew_kb);
		} else {
			OUTCOME_IS(o, LUTDB_EBADINPUT, "too many small values");
			ck_assert_msg(o.grew_kb < 1024, "%s: refused after %ld KB", shapes[i].unit, o.grew_kb);
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
	ck_assert_msg(o.grew_kb < 1024, "%s: cap + 1 refused after %ld KB", what, o.grew_kb);

	b.n = cap;
	b.p[b.n] = '\0';
	o = run_doc(fn, b.p, b.n);
	ck_assert_msg(o.rc == want_at_cap, "%s at the cap: %s (%s)", what, lutdb_strerror(o.rc), o.detail);
	ck_assert_msg(o.grew_kb <= (long)((LUTDB_JSON_MEM_FACTOR * b.n + LUTDB_JSON_MEM_SLACK) >> 10) + 4096,
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
	ck_assert_msg(o.grew_kb < 1024, "%s: bomb refused after %ld KB", what, o.grew_kb);
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
	check_cap(manifest_job, "manifest.json", "{}", LUTDB_MANIFEST_MAX, LUTDB_ECORRUPT, LUTDB_ECORRUPT,
		  "{\"shards\":[", "{},", "]}");
}
END_TEST

START_TEST(cap_safetensors)
{
	check_cap(safetensors_job, "safetensors: header", "{}", LUTDB_ST_HEADER_MAX, LUTDB_OK, LUTDB_EBADINPUT,
		  "{\"__metadata__\":{\"a\":[", "[],", "]}}");
}
END_TEST

START_TEST(cap_tokenizer)
{
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
	ck_assert_msg(o.grew_kb <= (long)((LUTDB_JSON_MEM_FACTOR * len + LUTDB_JSON_MEM_SLACK) >> 10), "%ld KB",
		      o.grew_kb);
	printf("largest manifest: %zu bytes, parsed with peak RSS grown by %ld KB (%.1fx)\n", len, o.grew_kb,
	       (double)o.grew_kb * 1024.0 / (double)len);
	free(dump);
	lutdb_manifest_free(&m);
}
END_TEST

/* ---- out of memory ----------------------------------------------------------------------------------------------- */

static int under_sanitizer_or_valgrind(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 1;
#endif
#endif
	return getenv("LUTDB_VALGRIND") != NULL;
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

	if (under_sanitizer_or_valgrind())
		SKIP_TEST("an address-space limit breaks the sanitizer's or memcheck's own mappings");
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

/* ---- untrusted lists ----------------------------------------------------------------------------------------- */

static char *ckpt_with_index(size_t files, size_t tensors)
{
	char *dir = scratch_dir(), path[4300], *cfg;
	sb b = {0};
	size_t i, len;

	snprintf(path, sizeof path, "%s/mole_train_f32/ckpt/config.json", fixtures_dir());
	cfg = read_all(path, &len);
	snprintf(path, sizeof path, "%s/config.json", dir);
	write_all(path, cfg, len);
	free(cfg);
	sb_str(&b, "{\"weight_map\":{");
	for (i = 0; i < tensors; i++) {
		char e[96];

		snprintf(e, sizeof e, "%s\"t%zu\":\"f%zu.safetensors\"", i ? "," : "", i, i % files);
		sb_str(&b, e);
	}
	sb_str(&b, "}}");
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
	write_all(path, b.p, b.n);
	free(b.p);
	return dir;
}

/* 100,001 distinct files: refused as bad input at once (it took 12 s and
 * ended "out of memory"); 100,000 get as far as the first missing file. */
START_TEST(index_file_list)
{
	char *dir = ckpt_with_index(100001, 100001);
	doc_arg a = {NULL, 0, dir};
	double t0 = now_s();
	outcome o = in_child(ckpt_job, &a, 0);

	OUTCOME_IS(o, LUTDB_EBADINPUT, "names 100001 weight files (at most 100000)");
	ck_assert_msg(now_s() - t0 < 5.0, "took %.1f s", now_s() - t0);
	rm_rf(dir);
	free(dir);

	dir = ckpt_with_index(100000, 200000);
	a.dir = dir;
	t0 = now_s();
	o = in_child(ckpt_job, &a, 0);
	OUTCOME_IS(o, LUTDB_EBADINPUT, "f0.safetensors: missing weight file");
	ck_assert_msg(now_s() - t0 < 5.0, "took %.1f s", now_s() - t0);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* The weight files keep the order in which the index first names them. */
START_TEST(index_file_order)
{
	char *dir = scratch_dir(), src[4300], dst[4300], *idx;
	const char *names[] = {"config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
			       "model-00003-of-00003.safetensors"};
	const lutdb_ckpt_file *files;
	json_t *root, *wm, *rev;
	lutdb_ckpt *ck;
	size_t i, n, len;
	const char *k;
	json_t *v;

	for (i = 0; i < 4; i++) {
		char *d;

		snprintf(src, sizeof src, "%s/mole_train_sharded/ckpt/%s", fixtures_dir(), names[i]);
		snprintf(dst, sizeof dst, "%s/%s", dir, names[i]);
		d = read_all(src, &len);
		write_all(dst, d, len);
		free(d);
	}
	/* the index's entries in reverse: file 3 is named first */
	snprintf(src, sizeof src, "%s/mole_train_sharded/ckpt/model.safetensors.index.json", fixtures_dir());
	idx = read_all(src, &len);
	root = json_loadb(idx, len, 0, NULL);
	wm = json_object_get(root, "weight_map");
	rev = json_object();
	{
		const char **keys = malloc(json_object_size(wm) * sizeof *keys);
		size_t m = 0;

		json_object_foreach(wm, k, v)
			keys[m++] = k;
		while (m--)
			json_object_set(rev, keys[m], json_object_get(wm, keys[m]));
		free(keys);
	}
	json_object_set_new(root, "weight_map", rev);
	snprintf(dst, sizeof dst, "%s/model.safetensors.index.json", dir);
	ck_assert_int_eq(json_dump_file(root, dst, JSON_PRESERVE_ORDER), 0);
	json_decref(root);
	free(idx);

	ck_assert_msg(lutdb_ckpt_open(dir, &ck) == LUTDB_OK, "%s", lutdb_errdetail());
	ck_assert_int_eq(lutdb_ckpt_files(ck, &files, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(files[0].name, "model-00003-of-00003.safetensors");
	ck_assert_str_eq(files[1].name, "model-00002-of-00003.safetensors");
	ck_assert_str_eq(files[2].name, "model-00001-of-00003.safetensors");
	lutdb_ckpt_close(ck);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* TemplateProcessing over its limits says which limit (a 100k-piece
 * "single" was "must be an array"). */
START_TEST(template_limits)
{
	static const char tail[] = "},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
	sb b = {0};
	outcome o;
	size_t i;

	sb_str(&b, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[");
	for (i = 0; i < 100000; i++)
		sb_str(&b, i ? ",\"$A\"" : "\"$A\"");
	sb_str(&b, "],\"special_tokens\":{}");
	sb_str(&b, tail);
	o = run_doc(tokenizer_job, b.p, b.n);
	OUTCOME_IS(o, LUTDB_ETOOBIG, "\"single\" has 100000 pieces (at most 4096)");

	/* a special token of 3000 ids, used twice: 6000 ids added to every text */
	b.n = 0;
	sb_str(&b, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[\"<s>\",\"$A\",\"<s>\"],"
		   "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"tokens\":[],\"ids\":[");
	for (i = 0; i < 3000; i++)
		sb_str(&b, i ? ",0" : "0");
	sb_str(&b, "]}}");
	sb_str(&b, tail);
	o = run_doc(tokenizer_job, b.p, b.n);
	OUTCOME_IS(o, LUTDB_ETOOBIG, "adds more than 4096 special token ids");
	free(b.p);
}
END_TEST

/* A merges list of 4M "" (12 MB of JSON) is refused by its first entry
 * before the merges map is made: the map (32 bytes an entry, 256 MB here)
 * came first, on top of jansson's tree, past the documented bound. */
START_TEST(merges_shape_first)
{
	sb b = {0};
	outcome o;

	sb_str(&b, "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[");
	sb_fill(&b, "\"\",", 12u << 20);
	b.n--;
	sb_str(&b, "]}}");
	o = run_doc(tokenizer_job, b.p, b.n);
	OUTCOME_IS(o, LUTDB_ETOKENIZER, "Merges text file invalid at line 1");
	printf("4M empty merges: refused, peak RSS grew %ld KB (%.1fx)\n", o.grew_kb,
	       (double)o.grew_kb * 1024.0 / (double)b.n);
	ck_assert_msg(o.grew_kb <= (long)((LUTDB_JSON_MEM_FACTOR * b.n + LUTDB_JSON_MEM_SLACK) >> 10), "%ld KB",
		      o.grew_kb);
	free(b.p);
}
END_TEST

/* x with y = x ^ (x >> s) given y. */
static uint64_t unxorshift(uint64_t y, int s)
{
	uint64_t x = y;

	for (int i = 0; i < 64 / s + 1; i++)
		x = y ^ (x >> s);
	return x;
}

static uint64_t mul_inverse(uint64_t a)
{
	uint64_t x = a;

	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

/* A vocab of n printable 8-byte tokens that the unseeded tok_hash (FNV-1a
 * words from 0xcbf29ce484222325 ^ length, then the murmur finalizer) sends
 * to slot 0 of the 2^k-slot map the loader makes for them: each is that
 * hash run backwards from a chosen value. */
static void colliding_vocab(sb *b, size_t n, int k)
{
	const uint64_t P = 0x100000001b3ull, h0 = 0xcbf29ce484222325ull ^ 8;
	const uint64_t iP = mul_inverse(P), i1 = mul_inverse(0xff51afd7ed558ccdull);
	const uint64_t i2 = mul_inverse(0xc4ceb9fe1a85ec53ull);
	uint64_t r = 88172645463325252ull;
	size_t found = 0;

	while (found < n) {
		uint64_t h, w;
		unsigned char c[8];
		char e[64];
		int ok = 1;

		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		h = unxorshift(r << k, 33) * i2;
		h = unxorshift(h, 33) * i1;
		h = unxorshift(unxorshift(h, 33), 29) * iP;
		w = h ^ h0;
		memcpy(c, &w, 8);
		for (int i = 0; i < 8; i++)
			ok &= c[i] > 0x20 && c[i] < 0x7f && c[i] != '"' && c[i] != '\\';
		if (!ok)
			continue;
		snprintf(e, sizeof e, "%s\"%.8s\":%zu", found ? "," : "", (const char *)c, found);
		sb_str(b, e);
		found++;
	}
}

/* The vocab, merges and added-token maps are seeded per process: a vocab
 * of 60,000 tokens crafted to share one slot of an unseeded map loads in
 * well under a second (it took 36 s, quadratic in the tokens: 20,000 took
 * 4 s). */
START_TEST(hash_flooding)
{
	sb b = {0};
	size_t n = 60000, slots = 16;
	int k = 4;
	double t0;
	outcome o;

	while (slots < 2 * n + 2)
		slots *= 2, k++;
	sb_str(&b, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
	colliding_vocab(&b, n, k);
	sb_str(&b, "},\"merges\":[]}}");
	t0 = now_s();
	o = run_doc(tokenizer_job, b.p, b.n);
	ck_assert_msg(o.rc == LUTDB_OK, "%s", o.detail);
	printf("60000 crafted vocab tokens loaded in %.2f s\n", now_s() - t0);
	ck_assert_msg(now_s() - t0 < 5.0, "took %.1f s", now_s() - t0);
	free(b.p);
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

	tc = tcase_create("lists");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, index_file_list);
	tcase_add_test(tc, index_file_order);
	tcase_add_test(tc, template_limits);
	tcase_add_test(tc, hash_flooding);
	tcase_add_test(tc, merges_shape_first);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
