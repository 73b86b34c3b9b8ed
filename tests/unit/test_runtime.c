/*
 * test_runtime.c - the decoding engine against the PyTorch reference fixtures
 * (tests/ref/make_fixtures.py; LUTDB_FIXTURES), plus engine properties on
 * larger random models, and the lutdb run / lutdb eval commands (LUTDB_BIN).
 *
 * Per case (every case of cases.txt):
 *   - the checkpoint packed as F32: prompt logits within 1e-4 of logits.f32,
 *     greedy ids == greedy.ids, eval loss within 1e-4 of eval.txt (same count);
 *   - the F16 rep form (ref/rep_ckpt of a training case, ckpt of an F16 rep
 *     case) packed as stored: logits within 1e-3 of logits_rep_f16.f32 (or
 *     logits.f32), greedy and eval likewise;
 *   - prefill == one token at a time, codec lz4 == none, bitwise.
 * Observed figures are printed (test log) for the record.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "lutdb.h"
#include "lutdb_format.h"
#include "lutdb_pack.h"
#include "engine_internal.h" /* white-box checks: pointers into the map */
#include "lutdb_runtime.h"
#include "testutil.h"

#define MAXCASES 32
#define MAXIDS 4096

typedef struct fcase {
	char name[64];
	char dir[4096];
	json_t *meta;
} fcase;

static fcase cases[MAXCASES];
static int ncases;
static char tmpdir[4096];

static void load_cases(void)
{
	char p[4200];
	size_t len;
	if (ncases)
		return;
	snprintf(p, sizeof p, "%s/cases.txt", fixtures_dir());
	char *txt = read_all(p, &len), *save, *line;
	for (line = strtok_r(txt, "\n", &save); line && ncases < MAXCASES; line = strtok_r(NULL, "\n", &save)) {
		fcase *c = &cases[ncases++];
		snprintf(c->name, sizeof c->name, "%s", line);
		snprintf(c->dir, sizeof c->dir, "%s/%s", fixtures_dir(), line);
		snprintf(p, sizeof p, "%s/ref/meta.json", c->dir);
		c->meta = json_load_file(p, 0, NULL);
		ck_assert_msg(c->meta != NULL, "%s: cannot read meta.json", p);
	}
	free(txt);
	ck_assert_int_ge(ncases, 11);
}

static const char *ms(const fcase *c, const char *k)
{
	const char *v = json_string_value(json_object_get(c->meta, k));
	return v ? v : "";
}

static int is_train(const fcase *c)
{
	return !strncmp(ms(c, "form"), "train", 5);
}

/* Has an F16 rep form to test: training cases (ref/rep_ckpt) and F16 rep cases. */
static int has_rep16(const fcase *c)
{
	return is_train(c) || !strcmp(ms(c, "dtype"), "F16");
}

static void ref_path(const fcase *c, const char *file, char *out, size_t n)
{
	snprintf(out, n, "%s/ref/%s", c->dir, file);
}

static size_t load_ids(const char *path, uint32_t *ids)
{
	size_t len;
	char *t = read_all(path, &len);
	size_t n = parse_ids(t, ids, MAXIDS);
	free(t);
	return n;
}

static float *load_f32(const char *path, size_t *n)
{
	size_t len;
	float *v = read_all(path, &len);
	*n = len / 4;
	return v;
}

static double load_loss(const char *path, long *tokens)
{
	size_t len;
	char *t = read_all(path, &len);
	double loss = 0;
	ck_assert_int_eq(sscanf(t, "loss=%lf tokens=%ld", &loss, tokens), 2);
	free(t);
	return loss;
}

/* Packs c's sub (checkpoint dir) once per process tree into tmpdir; returns
 * the database path in out.  kind names the variant. */
static void packed(const fcase *c, const char *sub, int dtype, int codec, const char *kind, char *out, size_t n)
{
	char src[4200];
	snprintf(out, n, "%s/%s.%s.lutdb", tmpdir, c->name, kind);
	if (file_exists(out))
		return;
	lutdb_pack_opts o = {.dtype = dtype, .codec = codec, .threads = 2};
	snprintf(src, sizeof src, "%s/%s", c->dir, sub);
	int rc = lutdb_pack(src, out, &o);
	ck_assert_msg(rc == LUTDB_OK, "%s: pack %s failed: %s (%s)", c->name, sub, lutdb_errdetail(),
		      lutdb_strerror(rc));
}

static void pack_f32(const fcase *c, char *out, size_t n)
{
	packed(c, "ckpt", LUTDB_F32, 0, "f32", out, n);
}

static void pack_rep16(const fcase *c, char *out, size_t n)
{
	packed(c, is_train(c) ? "ref/rep_ckpt" : "ckpt", 0, 0, "rep16", out, n);
}

/* ---- engine helpers ---------------------------------------------------------- */
typedef struct rt {
	lutdb_db *db;
	lutdb_model *m;
	lutdb_session *s;
	uint32_t V;
} rt;

static void rt_open(rt *r, const char *path, int threads, uint32_t cap)
{
	lutdb_model_opts mo = {.threads = threads};
	lutdb_session_opts so = {.capacity = cap};
	ck_assert_msg(lutdb_open(path, 0, &r->db) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	ck_assert_msg(lutdb_model_new(r->db, &mo, &r->m) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	ck_assert_msg(lutdb_session_new(r->m, &so, &r->s) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	r->V = lutdb_model_info(r->m)->vocab;
}

static void rt_close(rt *r)
{
	lutdb_session_free(r->s);
	lutdb_model_free(r->m);
	lutdb_close(r->db);
	memset(r, 0, sizeof *r);
}

typedef struct collect {
	float *buf;
	size_t rows, max_rows;
	uint32_t next_pos;
} collect;

static int collect_cb(void *ctx, uint32_t pos, const float *lg, uint32_t V)
{
	collect *c = ctx;
	ck_assert_uint_lt(c->rows, c->max_rows);
	ck_assert_uint_eq(pos, c->next_pos);
	c->next_pos++;
	memcpy(c->buf + c->rows * V, lg, V * sizeof *lg);
	c->rows++;
	return 0;
}

/* Logits of every position of ids fed in pieces of `piece` (0: at once). */
static float *logits_of(rt *r, const uint32_t *ids, size_t n, size_t piece)
{
	collect c = {malloc(n * r->V * sizeof(float)), 0, n, 0};
	lutdb_session_reset(r->s);
	for (size_t off = 0; off < n;) {
		size_t k = piece && n - off > piece ? piece : n - off;
		int rc = lutdb_session_feed(r->s, ids + off, k, collect_cb, &c);
		ck_assert_msg(rc == LUTDB_OK, "feed: %s (%s)", lutdb_errdetail(), lutdb_strerror(rc));
		/* the last row is also kept by the session */
		ck_assert(!memcmp(lutdb_session_logits(r->s), c.buf + (c.rows - 1) * r->V, r->V * sizeof(float)));
		off += k;
	}
	ck_assert_uint_eq(c.rows, n);
	return c.buf;
}

static double max_abs(const float *a, const float *b, size_t n)
{
	double w = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		if (!(d <= w))
			w = d;
	}
	return w;
}

static size_t greedy(rt *r, const uint32_t *prompt, size_t n, uint32_t max, uint32_t *out)
{
	lutdb_generate_opts go = {.max_tokens = max};
	size_t got = 0;
	lutdb_session_reset(r->s);
	int rc = lutdb_generate(r->s, prompt, n, &go, out, &got, NULL);
	ck_assert_msg(rc == LUTDB_OK, "generate: %s (%s)", lutdb_errdetail(), lutdb_strerror(rc));
	return got;
}

/* One fidelity pass: db against logits/greedy/eval reference files. */
static void fidelity(const fcase *c, const char *db, const char *logits_f, const char *greedy_f, const char *eval_f,
		     double tol, const char *label)
{
	char p[4300];
	uint32_t prompt[MAXIDS], want[MAXIDS], got[MAXIDS], ev[MAXIDS];
	size_t nref;
	rt r;

	rt_open(&r, db, 2, 0);
	ref_path(c, "prompt.ids", p, sizeof p);
	size_t T = load_ids(p, prompt);
	ref_path(c, logits_f, p, sizeof p);
	float *ref = load_f32(p, &nref);
	ck_assert_uint_eq(nref, T * r.V);
	float *lg = logits_of(&r, prompt, T, 0);
	double err = max_abs(lg, ref, nref);
	ck_assert_msg(err <= tol, "%s %s: logits differ by %g (> %g)", c->name, label, err, tol);

	ref_path(c, greedy_f, p, sizeof p);
	size_t nw = load_ids(p, want);
	size_t ng = greedy(&r, prompt, T, (uint32_t)nw, got);
	ck_assert_msg(ng == nw && !memcmp(got, want, nw * sizeof *got), "%s %s: greedy ids differ", c->name, label);

	ref_path(c, "eval.ids", p, sizeof p);
	size_t ne = load_ids(p, ev);
	long want_tokens;
	ref_path(c, eval_f, p, sizeof p);
	double want_loss = load_loss(p, &want_tokens);
	lutdb_eval_result res;
	ck_assert_int_eq(lutdb_eval(r.m, ev, ne, 0, NULL, NULL, &res), LUTDB_OK);
	ck_assert_int_eq((long)res.tokens, want_tokens);
	double lerr = fabs(res.loss - want_loss);
	ck_assert_msg(lerr <= 1e-4, "%s %s: loss %.8f vs %.8f", c->name, label, res.loss, want_loss);
	ck_assert(fabs(res.ppl - exp(res.loss)) <= 1e-9 * res.ppl);
	printf("fidelity %-20s %-6s logits_max_abs=%.3g loss_err=%.3g greedy=ok tokens=%ld\n", c->name, label, err,
	       lerr, want_tokens);
	free(lg);
	free(ref);
	rt_close(&r);
}

/* ---- fidelity ------------------------------------------------------------------ */
START_TEST(fidelity_f32)
{
	load_cases();
	for (int k = 0; k < ncases; k++) {
		char db[4300];
		pack_f32(&cases[k], db, sizeof db);
		fidelity(&cases[k], db, "logits.f32", "greedy.ids", "eval.txt", 1e-4, "f32");
	}
}
END_TEST

START_TEST(fidelity_rep_f16)
{
	int tested = 0;
	load_cases();
	for (int k = 0; k < ncases; k++) {
		const fcase *c = &cases[k];
		char db[4300];
		if (!has_rep16(c))
			continue;
		pack_rep16(c, db, sizeof db);
		if (is_train(c))
			fidelity(c, db, "logits_rep_f16.f32", "greedy_rep_f16.ids", "eval_rep_f16.txt", 1e-3, "rep16");
		else
			fidelity(c, db, "logits.f32", "greedy.ids", "eval.txt", 1e-3, "rep16");
		tested++;
	}
	ck_assert_int_ge(tested, 10);
}
END_TEST

/* Prompt + greedy continuation fed at once, one by one, in pieces of 3:
 * bitwise the same (kernels promise matmul == matvec). */
START_TEST(incremental_equals_prefill)
{
	load_cases();
	for (int k = 0; k < ncases; k++) {
		const fcase *c = &cases[k];
		char db[4300], p[4300];
		uint32_t ids[MAXIDS];
		rt r;
		pack_f32(c, db, sizeof db);
		rt_open(&r, db, 1, 0);
		ref_path(c, "eval.ids", p, sizeof p);
		size_t n = load_ids(p, ids);
		if (n > 32)
			n = 32;
		float *a = logits_of(&r, ids, n, 0), *b = logits_of(&r, ids, n, 1), *d = logits_of(&r, ids, n, 3);
		double e1 = max_abs(a, b, n * r.V), e3 = max_abs(a, d, n * r.V);
		ck_assert_msg(e1 <= 1e-5 && e3 <= 1e-5, "%s: incremental differs by %g / %g", c->name, e1, e3);
		ck_assert_msg(!memcmp(a, b, n * r.V * sizeof(float)) && !memcmp(a, d, n * r.V * sizeof(float)),
			      "%s: incremental not bit-identical", c->name);
		free(a);
		free(b);
		free(d);
		rt_close(&r);
	}
}
END_TEST

/* A compressed table (rows decoded into the session's buffers) gives the
 * same logits as the zero-copy one. */
START_TEST(codec_lz4_same_logits)
{
	load_cases();
	for (int k = 0; k < ncases; k++) {
		const fcase *c = &cases[k];
		char db[4300], dbz[4300], p[4300];
		uint32_t ids[MAXIDS];
		rt r, z;
		pack_f32(c, db, sizeof db);
		packed(c, "ckpt", LUTDB_F32, 1 + (k % 2), "lz4", dbz, sizeof dbz);
		rt_open(&r, db, 1, 0);
		rt_open(&z, dbz, 2, 0);
		ck_assert_int_ne(lutdb_model_info(z.m)->table_codec, 0);
		ref_path(c, "eval.ids", p, sizeof p);
		size_t n = load_ids(p, ids);
		if (n > 32)
			n = 32;
		float *a = logits_of(&r, ids, n, 0), *b = logits_of(&z, ids, n, 5);
		ck_assert_msg(!memcmp(a, b, n * r.V * sizeof(float)), "%s: lz4 logits differ", c->name);
		free(a);
		free(b);
		rt_close(&r);
		rt_close(&z);
	}
}
END_TEST

/* ---- eos, context, bad ids -------------------------------------------------- */
static void set_eos_json(const char *path, json_t *eos)
{
	json_t *j = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(j);
	json_object_set_new(j, "eos_token_id", eos);
	ck_assert_int_eq(json_dump_file(j, path, JSON_INDENT(2)), 0);
	json_decref(j);
}

/* Copies c's ckpt with eos replaced: config.json gets cfg_eos, and when
 * gen_eos is not NULL a generation_config.json gets gen_eos.  Packs it. */
static void pack_with_eos(const fcase *c, json_t *cfg_eos, json_t *gen_eos, const char *tag, char *db, size_t n)
{
	char dir[4300], cmd[9000], p[4400];
	snprintf(dir, sizeof dir, "%s/%s-%s-ckpt", tmpdir, c->name, tag);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/ckpt' '%s' && rm -f '%s/generation_config.json'", dir,
		 c->dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(p, sizeof p, "%s/config.json", dir);
	set_eos_json(p, cfg_eos);
	if (gen_eos) {
		snprintf(p, sizeof p, "%s/generation_config.json", dir);
		write_all(p, "{\"bos_token_id\": 1}\n", 20);
		set_eos_json(p, gen_eos);
	}
	snprintf(db, n, "%s/%s-%s.lutdb", tmpdir, c->name, tag);
	lutdb_pack_opts o = {.dtype = LUTDB_F32, .threads = 1};
	ck_assert_msg(lutdb_pack(dir, db, &o) == LUTDB_OK, "%s", lutdb_errdetail());
}

static const fcase *find_case(const char *name)
{
	load_cases();
	for (int k = 0; k < ncases; k++)
		if (!strcmp(cases[k].name, name))
			return &cases[k];
	ck_abort_msg("fixture case %s missing", name);
	return NULL;
}

START_TEST(eos_stops_generation)
{
	const fcase *c = find_case("mole_train_f32");
	char db[4300], p[4300];
	uint32_t prompt[MAXIDS], want[MAXIDS], got[MAXIDS];
	ref_path(c, "prompt.ids", p, sizeof p);
	size_t T = load_ids(p, prompt);
	ref_path(c, "greedy.ids", p, sizeof p);
	size_t nw = load_ids(p, want);
	ck_assert_uint_ge(nw, 5);
	ck_assert(want[1] != want[3] && want[0] != want[3] && want[2] != want[3]);

	/* config.json alone: an int */
	rt r;
	pack_with_eos(c, json_integer(want[2]), NULL, "eos1", db, sizeof db);
	rt_open(&r, db, 1, 0);
	const uint32_t *e;
	ck_assert_uint_eq(lutdb_model_eos(r.m, &e), 1);
	ck_assert_uint_eq(e[0], want[2]);
	size_t ng = greedy(&r, prompt, T, 8, got);
	ck_assert_uint_eq(ng, 3); /* the eos id is output */
	ck_assert(!memcmp(got, want, 3 * sizeof *got));
	/* ignore_eos runs to max_tokens */
	lutdb_generate_opts go = {.max_tokens = 8, .ignore_eos = 1};
	lutdb_session_reset(r.s);
	ck_assert_int_eq(lutdb_generate(r.s, prompt, T, &go, got, &ng, NULL), LUTDB_OK);
	ck_assert_uint_eq(ng, 8);
	rt_close(&r);

	/* generation_config.json's list overrides config.json's id */
	pack_with_eos(c, json_integer(want[1]), json_pack("[I, I]", (json_int_t)9999, (json_int_t)want[3]), "eos2",
		      db, sizeof db);
	rt_open(&r, db, 1, 0);
	ck_assert_uint_eq(lutdb_model_eos(r.m, &e), 2);
	ck_assert(lutdb_model_is_eos(r.m, want[3]) && !lutdb_model_is_eos(r.m, want[1]));
	ng = greedy(&r, prompt, T, 8, got);
	ck_assert_uint_eq(ng, 4);
	ck_assert(!memcmp(got, want, 4 * sizeof *got));
	rt_close(&r);
}
END_TEST

START_TEST(context_limit)
{
	const fcase *c = find_case("molkv_window");
	char db[4300], p[4300];
	uint32_t ids[MAXIDS], out[16];
	size_t ng;
	rt r;
	pack_f32(c, db, sizeof db);
	rt_open(&r, db, 1, 0);
	uint32_t maxp = lutdb_model_info(r.m)->max_position;
	ck_assert_uint_eq(lutdb_session_capacity(r.s), maxp);
	ref_path(c, "eval.ids", p, sizeof p);
	size_t n = load_ids(p, ids);
	ck_assert_uint_gt(n, maxp + 1);
	/* too long at once: nothing fed, session intact */
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, maxp + 1, NULL, NULL), LUTDB_ECONTEXT);
	ck_assert(strstr(lutdb_errdetail(), "max_position_embeddings") != NULL);
	ck_assert_uint_eq(lutdb_session_position(r.s), 0);
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, maxp - 2, NULL, NULL), LUTDB_OK);
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 3, NULL, NULL), LUTDB_ECONTEXT);
	ck_assert_uint_eq(lutdb_session_position(r.s), maxp - 2);
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 2, NULL, NULL), LUTDB_OK);
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 1, NULL, NULL), LUTDB_ECONTEXT);
	/* generation fills the context, outputs what fits, then fails */
	lutdb_generate_opts go = {.max_tokens = 8, .ignore_eos = 1};
	lutdb_session_reset(r.s);
	ck_assert_int_eq(lutdb_generate(r.s, ids, maxp - 2, &go, out, &ng, NULL), LUTDB_ECONTEXT);
	ck_assert_uint_eq(ng, 3);
	/* a capacity above max_position is refused; below it is the limit */
	lutdb_session *s2;
	lutdb_session_opts so = {.capacity = maxp + 1};
	ck_assert_int_eq(lutdb_session_new(r.m, &so, &s2), LUTDB_ECONTEXT);
	ck_assert_ptr_null(s2);
	so.capacity = 4;
	ck_assert_int_eq(lutdb_session_new(r.m, &so, &s2), LUTDB_OK);
	ck_assert_int_eq(lutdb_session_feed(s2, ids, 5, NULL, NULL), LUTDB_ECONTEXT);
	ck_assert_int_eq(lutdb_session_feed(s2, ids, 4, NULL, NULL), LUTDB_OK);
	lutdb_session_free(s2);
	rt_close(&r);
}
END_TEST

START_TEST(bad_ids)
{
	const fcase *c = find_case("mole_rep_f32");
	char db[4300];
	rt r;
	pack_f32(c, db, sizeof db);
	rt_open(&r, db, 1, 0);
	uint32_t ids[3] = {1, r.V, 2};
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 3, NULL, NULL), LUTDB_ERANGE);
	ck_assert(strstr(lutdb_errdetail(), "vocabulary") != NULL);
	ck_assert_uint_eq(lutdb_session_position(r.s), 0);
	ck_assert_ptr_null(lutdb_session_logits(r.s));
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 0, NULL, NULL), LUTDB_EINVAL);
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 1, NULL, NULL), LUTDB_OK);
	ck_assert_ptr_nonnull(lutdb_session_logits(r.s));
	lutdb_eval_result res;
	ck_assert_int_eq(lutdb_eval(r.m, ids, 3, 0, NULL, NULL, &res), LUTDB_ERANGE);
	ck_assert_int_eq(lutdb_eval(r.m, ids, 1, 0, NULL, NULL, &res), LUTDB_EINVAL);
	uint32_t out[4];
	size_t ng;
	lutdb_generate_opts go = {.max_tokens = 4};
	ck_assert_int_eq(lutdb_generate(r.s, ids + 1, 1, &go, out, &ng, NULL), LUTDB_ERANGE);
	ck_assert_uint_eq(ng, 0);
	rt_close(&r);
}
END_TEST

START_TEST(ids_parser)
{
	uint32_t *v;
	size_t n;
	const char *ok = " 1,2, 3\n4\t5 ,6,\n";
	ck_assert_int_eq(lutdb_ids_parse(ok, strlen(ok), &v, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 6);
	for (uint32_t i = 0; i < 6; i++)
		ck_assert_uint_eq(v[i], i + 1);
	free(v);
	ck_assert_int_eq(lutdb_ids_parse("4294967295", 10, &v, &n), LUTDB_OK);
	ck_assert_uint_eq(v[0], UINT32_MAX);
	free(v);
	ck_assert_int_eq(lutdb_ids_parse(" \n", 2, &v, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(v);
	const char *bad[] = {"1,a", "1,,2", "-1", "1.5", "0x10", "4294967296", "1;2", "12b", "+3"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(lutdb_ids_parse(bad[i], strlen(bad[i]), &v, &n) == LUTDB_EINVAL, "accepted '%s'", bad[i]);
		ck_assert_ptr_null(v);
	}
}
END_TEST

START_TEST(sampler_rules)
{
	enum { V = 50 };
	float lg[V];
	for (int i = 0; i < V; i++)
		lg[i] = (float)((i * 37) % V) * 0.1f;
	lg[7] = lg[11] = 10.0f; /* a tie: the lower id wins */
	ck_assert_uint_eq(lutdb_argmax(lg, V), 7);
	lutdb_sampler *a, *b;
	lutdb_sampling g = {.temperature = 0};
	ck_assert_int_eq(lutdb_sampler_new(&g, V, &a), LUTDB_OK);
	ck_assert_uint_eq(lutdb_sampler_next(a, lg), 7);
	lutdb_sampler_free(a);
	/* top-k 1 and a tiny top-p are greedy whatever the seed */
	for (uint64_t seed = 0; seed < 20; seed++) {
		lutdb_sampling k1 = {.temperature = 1.5f, .top_k = 1, .top_p = 1, .seed = seed};
		lutdb_sampling p0 = {.temperature = 1.5f, .top_p = 1e-6f, .seed = seed};
		ck_assert_int_eq(lutdb_sampler_new(&k1, V, &a), LUTDB_OK);
		ck_assert_int_eq(lutdb_sampler_new(&p0, V, &b), LUTDB_OK);
		ck_assert_uint_eq(lutdb_sampler_next(a, lg), 7);
		ck_assert_uint_eq(lutdb_sampler_next(b, lg), 7);
		lutdb_sampler_free(a);
		lutdb_sampler_free(b);
	}
	/* same seed, same draws; top-k 3 stays within the 3 best */
	lutdb_sampling t = {.temperature = 5.0f, .top_k = 3, .top_p = 1, .seed = 42};
	ck_assert_int_eq(lutdb_sampler_new(&t, V, &a), LUTDB_OK);
	ck_assert_int_eq(lutdb_sampler_new(&t, V, &b), LUTDB_OK);
	int seen[V] = {0};
	for (int i = 0; i < 300; i++) {
		uint32_t x = lutdb_sampler_next(a, lg);
		ck_assert_uint_eq(x, lutdb_sampler_next(b, lg));
		seen[x]++;
	}
	/* the third best is the largest (i*37)%V*0.1 below 10: 4.9 at i with (i*37)%50 == 49 */
	int third = -1;
	for (int i = 0; i < V; i++)
		if ((i * 37) % V == 49)
			third = i;
	ck_assert(seen[7] > 0 && seen[11] > 0 && seen[third] > 0);
	ck_assert_int_eq(seen[7] + seen[11] + seen[third], 300);
	lutdb_sampler_free(a);
	lutdb_sampler_free(b);
}
END_TEST


/* ---- larger random models: threads, chunking, windows ------------------------- */
static uint64_t rs = 0x9e3779b97f4a7c15ull;

static float urand(float a)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (float)((double)(rs >> 11) * (2.0 / 9007199254740992.0) - 1.0) * a;
}

typedef struct bigm {
	const char *tag;
	int family; /* 1 MoLE, 2 MoLKV */
	uint32_t V, d, heads, kv_heads, I, L, N, dk, H, W, max_pos;
	int dtype, codec; /* pack options */
} bigm;

static const bigm bigs[] = {
	{"big_mole", 1, 1536, 256, 8, 2, 512, 2, 4, 0, 0, 0, 160, LUTDB_F32, 0},
	{"big_molkv", 2, 1024, 256, 8, 4, 384, 2, 3, 64, 4, 0, 160, LUTDB_F16, 0},
	{"big_molkv_w", 2, 1024, 256, 8, 8, 384, 2, 3, 64, 4, 7, 160, LUTDB_BF16, 2},
};

struct st_t {
	char name[96];
	uint64_t r, c; /* c 0: 1-D */
	float scale, base;
};

static int st_cmp(const void *a, const void *b)
{
	return strcmp(((const struct st_t *)a)->name, ((const struct st_t *)b)->name);
}

/* Writes a rep-form F32 checkpoint of g (config.json + model.safetensors). */
static void write_big_ckpt(const bigm *g, const char *dir)
{
	struct st_t t[64];
	int nt = 0;
	uint32_t hd = g->d / g->heads, slot = g->d + (g->family == 2 ? g->dk : 0);
#define ADD(nm, rr, cc, sc, bs)                                                                               \
	do {                                                                                                  \
		snprintf(t[nt].name, sizeof t[nt].name, "%s", nm);                                            \
		t[nt].r = rr;                                                                                 \
		t[nt].c = cc;                                                                                 \
		t[nt].scale = sc;                                                                             \
		t[nt].base = bs;                                                                              \
		nt++;                                                                                         \
	} while (0)
	ADD("model.embed_tokens.weight", g->V, g->d, 0.1f, 0);
	ADD("lm_head.weight", g->V, g->d, 0.1f, 0);
	ADD("model.norm.weight", g->d, 0, 0.2f, 1);
	ADD(g->family == 1 ? "model.moe_table.weight" : "model.kv_table.weight", g->V, (uint64_t)g->L * g->N * slot,
	    0.3f, 0);
	for (uint32_t l = 0; l < g->L; l++) {
		char n[96];
#define LADD(sfx, rr, cc, sc, bs)                                                                             \
	do {                                                                                                  \
		snprintf(n, sizeof n, "model.layers.%u.%s", l, sfx);                                          \
		ADD(n, rr, cc, sc, bs);                                                                       \
	} while (0)
		LADD("self_attn.q_proj.weight", g->heads * hd, g->d, 0.12f, 0);
		LADD("self_attn.k_proj.weight", g->kv_heads * hd, g->d, 0.12f, 0);
		LADD("self_attn.v_proj.weight", g->kv_heads * hd, g->d, 0.08f, 0);
		LADD("self_attn.o_proj.weight", g->d, g->heads * hd, 0.08f, 0);
		LADD("mlp.up_proj.weight", g->I, g->d, 0.08f, 0);
		LADD("mlp.down_proj.weight", g->d, g->I, 0.08f, 0);
		LADD("input_layernorm.weight", g->d, 0, 0.2f, 1);
		LADD("post_attention_layernorm.weight", g->d, 0, 0.2f, 1);
		if (g->family == 1)
			LADD("router.weight", g->N, g->d, 0.2f, 0);
		else
			LADD("expert_query.weight", g->dk, g->d, 0.2f, 0);
	}
	qsort(t, (size_t)nt, sizeof *t, st_cmp);
	json_t *hdr = json_object();
	uint64_t off = 0;
	for (int i = 0; i < nt; i++) {
		uint64_t n = t[i].r * (t[i].c ? t[i].c : 1);
		json_t *shape = t[i].c ? json_pack("[I, I]", (json_int_t)t[i].r, (json_int_t)t[i].c)
				       : json_pack("[I]", (json_int_t)t[i].r);
		json_object_set_new(hdr, t[i].name,
				    json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
					      (json_int_t)off, (json_int_t)(off + n * 4)));
		off += n * 4;
	}
	char *h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	size_t hl = strlen(h), pad = (8 - hl % 8) % 8;
	char p[4300];
	mkdir(dir, 0755);
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	uint64_t total = hl + pad;
	ck_assert_int_eq(fwrite(&total, 8, 1, f), 1);
	ck_assert_int_eq(fwrite(h, 1, hl, f), hl);
	ck_assert_int_eq(fwrite("        ", 1, pad, f), pad);
	for (int i = 0; i < nt; i++) {
		uint64_t n = t[i].r * (t[i].c ? t[i].c : 1);
		float buf[1024];
		for (uint64_t k = 0; k < n; k += 1024) {
			size_t m = n - k < 1024 ? (size_t)(n - k) : 1024;
			for (size_t j = 0; j < m; j++)
				buf[j] = t[i].base + urand(t[i].scale);
			ck_assert_int_eq(fwrite(buf, 4, m, f), m);
		}
	}
	ck_assert_int_eq(fclose(f), 0);
	free(h);
	json_decref(hdr);
	json_t *cfg = json_pack("{s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:f, s:I, s:I, s:I, s:I, s:b, s:s}",
				"architectures", g->family == 1 ? "MoleForCausalLM" : "MolkvForCausalLM", "model_type",
				g->family == 1 ? "llama" : "molkv", "vocab_size", (json_int_t)g->V, "hidden_size",
				(json_int_t)g->d, "intermediate_size", (json_int_t)g->I, "num_hidden_layers",
				(json_int_t)g->L, "num_attention_heads", (json_int_t)g->heads, "num_key_value_heads",
				(json_int_t)g->kv_heads, "hidden_act", "gelu", "rms_norm_eps", 1e-5,
				"max_position_embeddings", (json_int_t)g->max_pos, "bos_token_id", (json_int_t)1,
				"eos_token_id", (json_int_t)2, "num_experts", (json_int_t)g->N, "tie_word_embeddings", 0,
				"torch_dtype", "float32");
	if (g->family == 2) {
		json_object_set_new(cfg, "kv_expert_dim", json_integer(g->dk));
		json_object_set_new(cfg, "kv_expert_heads", json_integer(g->H));
		json_object_set_new(cfg, "kv_expert_window", json_integer(g->W));
	}
	snprintf(p, sizeof p, "%s/config.json", dir);
	ck_assert_int_eq(json_dump_file(cfg, p, JSON_INDENT(2)), 0);
	json_decref(cfg);
}

static void big_db(const bigm *g, char *db, size_t n)
{
	char dir[4300];
	snprintf(db, n, "%s/%s.lutdb", tmpdir, g->tag);
	if (file_exists(db))
		return;
	snprintf(dir, sizeof dir, "%s/%s-ckpt", tmpdir, g->tag);
	rs = 0x9e3779b97f4a7c15ull ^ (uint64_t)g->V * 131 ^ g->W;
	write_big_ckpt(g, dir);
	lutdb_pack_opts o = {.dtype = g->dtype, .codec = g->codec, .threads = 2};
	ck_assert_msg(lutdb_pack(dir, db, &o) == LUTDB_OK, "%s: %s", g->tag, lutdb_errdetail());
}

static size_t big_ids(const bigm *g, uint32_t *ids, size_t n)
{
	uint64_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (uint32_t)((x >> 33) % g->V);
	}
	return n;
}

/* 1, 2 and 3 threads; at once, in pieces, one by one: all bit-identical. */
START_TEST(big_threads_bit_identical)
{
	const bigm *g = &bigs[_i];
	char db[4300];
	uint32_t ids[200];
	rt r1, r2, r3;
	big_db(g, db, sizeof db);
	size_t n = big_ids(g, ids, 150);
	rt_open(&r1, db, 1, 0);
	rt_open(&r2, db, 2, 0);
	rt_open(&r3, db, 3, 0);
	ck_assert_int_eq(lutdb_model_threads(r2.m), 2);
	float *a = logits_of(&r1, ids, n, 0), *b = logits_of(&r2, ids, n, 0), *c = logits_of(&r3, ids, n, 37),
	      *d = logits_of(&r2, ids, n, 1);
	size_t bytes = n * r1.V * sizeof(float);
	ck_assert_msg(!memcmp(a, b, bytes), "%s: 1 vs 2 threads differ by %g", g->tag, max_abs(a, b, n * r1.V));
	ck_assert_msg(!memcmp(a, c, bytes), "%s: 1 vs 3 threads differ by %g", g->tag, max_abs(a, c, n * r1.V));
	ck_assert_msg(!memcmp(a, d, bytes), "%s: prefill vs one by one differ by %g", g->tag,
		      max_abs(a, d, n * r1.V));
	/* sampled generation: same seed, same ids, any thread count */
	lutdb_sampling sp = {.temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = 7};
	lutdb_generate_opts go = {.max_tokens = 8, .sampling = &sp, .ignore_eos = 1};
	uint32_t o1[8], o2[8];
	size_t n1, n2;
	lutdb_session_reset(r1.s);
	lutdb_session_reset(r2.s);
	ck_assert_int_eq(lutdb_generate(r1.s, ids, 100, &go, o1, &n1, NULL), LUTDB_OK);
	ck_assert_int_eq(lutdb_generate(r2.s, ids, 100, &go, o2, &n2, NULL), LUTDB_OK);
	ck_assert(n1 == 8 && n2 == 8 && !memcmp(o1, o2, sizeof o1));
	/* eval over several windows (positions restart) is thread-independent */
	uint32_t ev[400];
	size_t ne = big_ids(g, ev, 400);
	lutdb_eval_result e1, e2;
	ck_assert_int_eq(lutdb_eval(r1.m, ev, ne, 0, NULL, NULL, &e1), LUTDB_OK);
	ck_assert_int_eq(lutdb_eval(r2.m, ev, ne, 0, NULL, NULL, &e2), LUTDB_OK);
	ck_assert(e1.loss == e2.loss && e1.tokens == e2.tokens);
	ck_assert_uint_eq(e1.windows, 3);
	ck_assert_uint_eq(e1.tokens, 159 + 159 + 79);
	ck_assert(isfinite(e1.loss) && e1.loss > 0);
	/* the first window scored alone gives its share of the sum */
	lutdb_eval_result w1;
	ck_assert_int_eq(lutdb_eval(r1.m, ev, 160, 0, NULL, NULL, &w1), LUTDB_OK);
	ck_assert_uint_eq(w1.tokens, 159);
	free(a);
	free(b);
	free(c);
	free(d);
	rt_close(&r1);
	rt_close(&r2);
	rt_close(&r3);
}
END_TEST

/* The engine reads weights and table rows in place: every weight view and
 * every position's row pointer is the database's own (no copies). */
START_TEST(big_no_weight_copies)
{
	const bigm *g = &bigs[0];
	char db[4300];
	uint32_t ids[8] = {5, 9, 5, 700, 1535, 0, 3, 3};
	rt r;
	big_db(g, db, sizeof db);
	rt_open(&r, db, 1, 0);
	uint64_t expect = 0;
	uint32_t hd = g->d / g->heads;
	expect += (uint64_t)g->V * g->d * 4 + g->d * 4 + g->d * 4; /* lm_head, one embed row, final norm */
	expect += (uint64_t)g->L * ((uint64_t)g->heads * hd * g->d * 2 + (uint64_t)g->kv_heads * hd * g->d * 2 +
				    (uint64_t)g->I * g->d * 2 + 2 * g->d + (uint64_t)g->N * g->d) * 4;
	ck_assert_uint_eq(lutdb_model_dense_bytes(r.m), expect);
	lutdb_tensor t;
	const lutdb_model *m = r.m;
	ck_assert_int_eq(lutdb_tensor_get(r.db, "lm_head.weight", &t), LUTDB_OK);
	ck_assert_ptr_eq(m->head.data, t.data);
	ck_assert_int_eq(lutdb_tensor_get(r.db, "model.embed_tokens.weight", &t), LUTDB_OK);
	ck_assert_ptr_eq(m->embed.data, t.data);
	for (uint32_t l = 0; l < g->L; l++) {
		char n[128];
		snprintf(n, sizeof n, "model.layers.%u.mlp.down_proj.weight", l);
		ck_assert_int_eq(lutdb_tensor_get(r.db, n, &t), LUTDB_OK);
		ck_assert_ptr_eq(m->layers[l].down.data, t.data);
		snprintf(n, sizeof n, "model.layers.%u.self_attn.q_proj.weight", l);
		ck_assert_int_eq(lutdb_tensor_get(r.db, n, &t), LUTDB_OK);
		ck_assert_ptr_eq(m->layers[l].q.data, t.data);
	}
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 8, NULL, NULL), LUTDB_OK);
	for (int i = 0; i < 8; i++) {
		lutdb_row row;
		ck_assert_int_eq(lutdb_token_row(r.db, ids[i], 0, NULL, 0, &row), LUTDB_OK);
		ck_assert_ptr_eq((const void *)r.s->rows[i], row.data);
	}
	ck_assert_ptr_null(r.s->rowbuf);
	rt_close(&r);
}
END_TEST

static void add_big_tests(TCase *tc)
{
	tcase_add_loop_test(tc, big_threads_bit_identical, 0, (int)(sizeof bigs / sizeof *bigs));
	tcase_add_test(tc, big_no_weight_copies);
}

/* ---- the lutdb command ---------------------------------------------------------- */
static const char *bin(void)
{
	const char *b = getenv("LUTDB_BIN");
	ck_assert_msg(b && *b, "LUTDB_BIN is not set: run the suite through tests/run.sh");
	return b;
}

typedef struct cres {
	int status;
	char *out, *err;
	size_t out_len;
} cres;

/* Runs "$LUTDB_BIN args" (a shell fragment) and captures everything. */
static cres run_cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cres run_cli(const char *fmt, ...)
{
	char args[16384], cmd[20000], po[4300], pe[4300];
	va_list ap;
	cres r;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(po, sizeof po, "%s/cli.out", tmpdir);
	snprintf(pe, sizeof pe, "%s/cli.err", tmpdir);
	snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", bin(), args, po, pe);
	int st = system(cmd);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
	size_t el;
	r.out = read_all(po, &r.out_len);
	r.err = read_all(pe, &el);
	return r;
}

static void cres_free(cres *r)
{
	free(r->out);
	free(r->err);
}

/* The last line of stdout (without its newline); "" if none. */
static const char *last_line(cres *r)
{
	size_t n = r->out_len;
	if (n && r->out[n - 1] == '\n')
		r->out[--n] = '\0';
	char *nl = strrchr(r->out, '\n');
	return nl ? nl + 1 : r->out;
}

static int lines(const char *s)
{
	int k = 0;
	for (; *s; s++)
		k += *s == '\n';
	return k;
}

static char *file_text(const char *path)
{
	size_t len;
	char *t = read_all(path, &len);
	while (len && (t[len - 1] == '\n' || t[len - 1] == '\r'))
		t[--len] = '\0';
	return t;
}

START_TEST(cli_run_greedy_every_case)
{
	load_cases();
	for (int k = 0; k < ncases; k++) {
		const fcase *c = &cases[k];
		char db[4300], p[4300];
		pack_f32(c, db, sizeof db);
		ref_path(c, "prompt.ids", p, sizeof p);
		char *prompt = file_text(p);
		ref_path(c, "greedy.ids", p, sizeof p);
		char *want = file_text(p);
		cres r = run_cli("run '%s' --prompt-ids '%s' -n 8 --threads 2", db, prompt);
		ck_assert_msg(r.status == 0, "%s: exit %d: %s", c->name, r.status, r.err);
		ck_assert_msg(!strcmp(last_line(&r), want), "%s: '%s' vs '%s'", c->name, last_line(&r), want);
		cres_free(&r);
		/* whitespace-separated ids are the same prompt */
		for (char *q = prompt; *q; q++)
			if (*q == ',')
				*q = (k % 2) ? ' ' : '\n';
		r = run_cli("run '%s' --greedy --prompt-ids '%s' --tokens 8", db, prompt);
		ck_assert_msg(r.status == 0 && !strcmp(last_line(&r), want), "%s (spaces): %s", c->name, r.err);
		cres_free(&r);
		free(prompt);
		free(want);
	}
}
END_TEST

START_TEST(cli_run_dump_and_counts)
{
	const fcase *c = find_case("molkv_train_f32");
	char db[4300], p[4300], dump[4300];
	uint32_t prompt[MAXIDS], g[MAXIDS];
	pack_f32(c, db, sizeof db);
	ref_path(c, "prompt.ids", p, sizeof p);
	char *ptxt = file_text(p);
	size_t T = load_ids(p, prompt);
	ref_path(c, "greedy.ids", p, sizeof p);
	size_t ng = load_ids(p, g);
	snprintf(dump, sizeof dump, "%s/dump.f32", tmpdir);
	cres r = run_cli("run '%s' --prompt-ids '%s' -n 8 --dump-logits '%s'", db, ptxt, dump);
	ck_assert_msg(r.status == 0, "%s", r.err);
	cres_free(&r);
	size_t nd, nref;
	float *d = load_f32(dump, &nd);
	ref_path(c, "logits.f32", p, sizeof p);
	float *ref = load_f32(p, &nref);
	uint32_t V = (uint32_t)(nref / T);
	ck_assert_uint_eq(nd, (T + 7) * V);
	ck_assert(max_abs(d, ref, nref) <= 1e-4);
	/* the rows after the prompt are those of the fed-back greedy ids */
	rt e;
	uint32_t all[MAXIDS];
	memcpy(all, prompt, T * sizeof *all);
	memcpy(all + T, g, ng * sizeof *all);
	rt_open(&e, db, 1, 0);
	float *lg = logits_of(&e, all, T + 7, 0);
	ck_assert(!memcmp(lg, d, nd * sizeof(float)));
	free(lg);
	rt_close(&e);
	free(d);
	free(ref);
	/* -n 1: prompt rows only; -n 0: an empty line, no rows */
	r = run_cli("run '%s' --prompt-ids '%s' -n 1 --dump-logits '%s'", db, ptxt, dump);
	ck_assert_int_eq(r.status, 0);
	d = load_f32(dump, &nd);
	ck_assert_uint_eq(nd, T * V);
	free(d);
	cres_free(&r);
	r = run_cli("run '%s' --prompt-ids '%s' -n 0 --dump-logits '%s'", db, ptxt, dump);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "\n");
	d = load_f32(dump, &nd);
	ck_assert_uint_eq(nd, T * V);
	free(d);
	cres_free(&r);
	/* --help shows the defaults */
	r = run_cli("run --help");
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "default 32") && strstr(r.out, "--prompt-ids") && strstr(r.out, "--seed"));
	cres_free(&r);
	free(ptxt);
}
END_TEST

START_TEST(cli_run_eos_and_sampling)
{
	const fcase *c = find_case("mole_train_f32");
	char db[4300], p[4300], d1[4300], d2[4300];
	uint32_t want[MAXIDS];
	ref_path(c, "greedy.ids", p, sizeof p);
	load_ids(p, want);
	pack_with_eos(c, json_integer(want[2]), NULL, "clieos", db, sizeof db);
	ref_path(c, "prompt.ids", p, sizeof p);
	char *ptxt = file_text(p), exp[64];
	cres r = run_cli("run '%s' --prompt-ids '%s' -n 8", db, ptxt);
	snprintf(exp, sizeof exp, "%u,%u,%u", want[0], want[1], want[2]);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(last_line(&r), exp);
	cres_free(&r);
	/* sampling: same seed, same ids and logits for 1 and 2 threads (big model) */
	char big[4300];
	big_db(&bigs[1], big, sizeof big);
	snprintf(d1, sizeof d1, "%s/s1.f32", tmpdir);
	snprintf(d2, sizeof d2, "%s/s2.f32", tmpdir);
	cres a = run_cli("run '%s' --prompt-ids '5 6 7 8 9 10 11 12 13' -n 20 --temp 0.8 --top-k 40 --top-p 0.9 "
			 "--seed 3 --threads 1 --dump-logits '%s'", big, d1);
	cres b = run_cli("run '%s' --prompt-ids '5 6 7 8 9 10 11 12 13' -n 20 --temp 0.8 --top-k 40 --top-p 0.9 "
			 "--seed 3 --threads 2 --dump-logits '%s'", big, d2);
	ck_assert_msg(a.status == 0 && b.status == 0, "%s %s", a.err, b.err);
	ck_assert_str_eq(last_line(&a), last_line(&b));
	size_t n1, n2;
	float *x1 = load_f32(d1, &n1), *x2 = load_f32(d2, &n2);
	ck_assert(n1 == n2 && n1 > 0 && !memcmp(x1, x2, n1 * 4));
	free(x1);
	free(x2);
	cres_free(&a);
	cres_free(&b);
	free(ptxt);
}
END_TEST

/* Copies db and flips one byte inside the embedding tensor's payload. */
static void damage_copy(const char *db, const char *out)
{
	lutdb_db *h;
	lutdb_tensor t;
	size_t len;
	ck_assert_int_eq(lutdb_open(db, 0, &h), LUTDB_OK);
	ck_assert_int_eq(lutdb_tensor_get(h, "model.embed_tokens.weight", &t), LUTDB_OK);
	unsigned char pat[64];
	memcpy(pat, t.data, sizeof pat);
	lutdb_close(h);
	unsigned char *f = read_all(db, &len);
	unsigned char *at = memmem(f, len, pat, sizeof pat);
	ck_assert_ptr_nonnull(at);
	at[100] ^= 0x10;
	write_all(out, f, len);
	free(f);
}

START_TEST(cli_bad_input)
{
	const fcase *c = find_case("mole_tied_gqa");
	char db[4300], bad[4300], p[4300], f[4300];
	pack_f32(c, db, sizeof db);
	struct {
		const char *args;
		const char *needle;
	} cases_[] = {
		{"--prompt-ids '1,2,999999'", "vocabulary"},
		{"--prompt-ids '1,2,258'", "vocabulary"},
		{"--prompt-ids '1,x,2'", "not a token id"},
		{"--prompt-ids '1,-2'", "not a token id"},
		{"--prompt-ids ''", "empty prompt"},
		{"--prompt-ids ' , '", "empty prompt"},
		{"--prompt-ids '1 2' -n abc", "-n"},
		{"--prompt-ids '1 2' --temp hot", "--temp"},
		{"--prompt-ids '1 2' --greedy --temp 1", "exclude"},
		{"--prompt-ids '1 2' --threads 0", "--threads"},
		{"", "--prompt-ids"},
	};
	for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
		cres r = run_cli("run '%s' %s", db, cases_[i].args);
		ck_assert_msg(r.status != 0, "accepted: %s", cases_[i].args);
		ck_assert_msg(lines(r.err) == 1 && strstr(r.err, cases_[i].needle), "%s: stderr '%s'", cases_[i].args,
			      r.err);
		ck_assert_msg(!strstr(r.out, ","), "%s: output on failure", cases_[i].args);
		cres_free(&r);
	}
	/* context: a prompt longer than max_position; a generation that overflows */
	char longp[1000] = "", *q = longp;
	for (int i = 0; i < 33; i++)
		q += sprintf(q, "%s%d", i ? "," : "", 3 + i);
	cres r = run_cli("run '%s' --prompt-ids '%s' -n 4", db, longp);
	ck_assert_int_ne(r.status, 0);
	ck_assert_msg(lines(r.err) == 1 && strstr(r.err, "max_position_embeddings"), "%s", r.err);
	cres_free(&r);
	longp[strlen(longp) - 6] = '\0'; /* 31 ids: 2 generated ids fit */
	r = run_cli("run '%s' --prompt-ids '%s' -n 8", db, longp);
	ck_assert_int_ne(r.status, 0);
	ck_assert_msg(lines(r.err) == 1 && strstr(r.err, "context"), "%s", r.err);
	ck_assert_int_eq(lines(r.out), 1);
	cres_free(&r);
	/* damaged database */
	snprintf(bad, sizeof bad, "%s/damaged.lutdb", tmpdir);
	damage_copy(db, bad);
	r = run_cli("run '%s' --prompt-ids '1,2,3' -n 2", bad);
	ck_assert_int_ne(r.status, 0);
	ck_assert_msg(lines(r.err) == 1 && strstr(r.err, "checksum"), "%s", r.err);
	cres_free(&r);
	r = run_cli("run '%s/nonexistent.lutdb' --prompt-ids '1,2,3'", tmpdir);
	ck_assert_int_ne(r.status, 0);
	ck_assert_int_eq(lines(r.err), 1);
	cres_free(&r);
	/* eval */
	snprintf(f, sizeof f, "%s/one.ids", tmpdir);
	write_all(f, "5\n", 2);
	const char *eargs[] = {"one.ids", "none.ids", "bad.ids", "big.ids"};
	snprintf(p, sizeof p, "%s/bad.ids", tmpdir);
	write_all(p, "1,2,abc\n", 8);
	snprintf(p, sizeof p, "%s/big.ids", tmpdir);
	write_all(p, "1,2,4000\n", 9);
	for (size_t i = 0; i < sizeof eargs / sizeof *eargs; i++) {
		char a[4400];
		snprintf(a, sizeof a, "--ids '%s/%s'", tmpdir, eargs[i]);
		r = run_cli("eval '%s' %s", db, a);
		ck_assert_msg(r.status != 0 && lines(r.err) == 1, "eval %s: %d '%s'", a, r.status, r.err);
		cres_free(&r);
	}
	r = run_cli("eval '%s' --ids '%s/big.ids'", bad, tmpdir);
	ck_assert_int_ne(r.status, 0);
	cres_free(&r);
}
END_TEST

START_TEST(cli_eval_every_case)
{
	load_cases();
	for (int k = 0; k < ncases; k++) {
		const fcase *c = &cases[k];
		char db[4300], p[4300];
		long tokens, got_tokens;
		double loss, got_loss, ppl;
		pack_f32(c, db, sizeof db);
		ref_path(c, "eval.txt", p, sizeof p);
		loss = load_loss(p, &tokens);
		ref_path(c, "eval.ids", p, sizeof p);
		cres r = run_cli("eval '%s' --ids '%s' --threads %d", db, p, 1 + k % 2);
		ck_assert_msg(r.status == 0, "%s: %s", c->name, r.err);
		const char *l = last_line(&r);
		ck_assert_msg(sscanf(l, "loss=%lf ppl=%lf tokens=%ld", &got_loss, &ppl, &got_tokens) == 3, "%s: '%s'",
			      c->name, l);
		ck_assert_int_eq(got_tokens, tokens);
		ck_assert_msg(fabs(got_loss - loss) <= 1e-4, "%s: loss %.8f vs %.8f", c->name, got_loss, loss);
		ck_assert(fabs(ppl - exp(got_loss)) <= 1e-6 * ppl);
		cres_free(&r);
		/* stdin */
		if (k == 0) {
			char a[4400];
			snprintf(a, sizeof a, "eval '%s' --ids - < '%s'", db, p);
			r = run_cli("%s", a);
			ck_assert_int_eq(r.status, 0);
			ck_assert(sscanf(last_line(&r), "loss=%lf", &got_loss) == 1 && fabs(got_loss - loss) <= 1e-4);
			cres_free(&r);
		}
	}
}
END_TEST

static void add_cli_tests(TCase *tc)
{
	tcase_add_test(tc, cli_run_greedy_every_case);
	tcase_add_test(tc, cli_run_dump_and_counts);
	tcase_add_test(tc, cli_run_eos_and_sampling);
	tcase_add_test(tc, cli_bad_input);
	tcase_add_test(tc, cli_eval_every_case);
}

static Suite *suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = tcase_create("fixtures");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, fidelity_f32);
	tcase_add_test(tc, fidelity_rep_f16);
	tcase_add_test(tc, incremental_equals_prefill);
	tcase_add_test(tc, codec_lz4_same_logits);
	tcase_add_test(tc, eos_stops_generation);
	tcase_add_test(tc, context_limit);
	tcase_add_test(tc, bad_ids);
	tcase_add_test(tc, ids_parser);
	tcase_add_test(tc, sampler_rules);
	suite_add_tcase(s, tc);
	TCase *tb = tcase_create("big");
	tcase_set_timeout(tb, 600);
	add_big_tests(tb);
	suite_add_tcase(s, tb);
	TCase *tl = tcase_create("cli");
	tcase_set_timeout(tl, 600);
	add_cli_tests(tl);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/lutdb-runtime-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	int rc = run_suite(suite());
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
