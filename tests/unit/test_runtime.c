/*
 * test_runtime.c - the decoding engine against the PyTorch reference fixtures
 * (tests/ref/make_fixtures.py; LUTDB_FIXTURES), plus eos, context limits,
 * bad ids, the ids parser and the sampler rules.  Thread determinism on
 * larger random models is in test_runtime_threads.c, the lutdb run / lutdb
 * eval commands in test_runtime_cli.c.
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
#include "runtime_cases.h"

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
		packed(c, "ckpt", LUTDB_DTYPE_F32, 1 + (k % 2), "lz4", dbz, sizeof dbz);
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
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = 8, .ignore_eos = 1};
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
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = 8, .ignore_eos = 1};
	lutdb_session_reset(r.s);
	ck_assert_int_eq(lutdb_generate(r.s, ids, maxp - 2, &go, out, &ng, NULL), LUTDB_ECONTEXT);
	ck_assert_uint_eq(ng, 3);
	/* a capacity above max_position is refused; below it is the limit */
	lutdb_session *s2;
	lutdb_session_opts so = {.size = sizeof so, .capacity = maxp + 1};
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
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = 4};
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
	lutdb_free(v);
	ck_assert_int_eq(lutdb_ids_parse("4294967295", 10, &v, &n), LUTDB_OK);
	ck_assert_uint_eq(v[0], UINT32_MAX);
	lutdb_free(v);
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
	lutdb_sampling g = {.size = sizeof g, .temperature = 0};
	ck_assert_int_eq(lutdb_sampler_new(&g, V, &a), LUTDB_OK);
	ck_assert_uint_eq(lutdb_sampler_next(a, lg), 7);
	lutdb_sampler_free(a);
	/* top-k 1 and a tiny top-p are greedy whatever the seed */
	for (uint64_t seed = 0; seed < 20; seed++) {
		lutdb_sampling k1 = {.size = sizeof k1, .temperature = 1.5f, .top_k = 1, .top_p = 1, .seed = seed};
		lutdb_sampling p0 = {.size = sizeof p0, .temperature = 1.5f, .top_p = 1e-6f, .seed = seed};
		ck_assert_int_eq(lutdb_sampler_new(&k1, V, &a), LUTDB_OK);
		ck_assert_int_eq(lutdb_sampler_new(&p0, V, &b), LUTDB_OK);
		ck_assert_uint_eq(lutdb_sampler_next(a, lg), 7);
		ck_assert_uint_eq(lutdb_sampler_next(b, lg), 7);
		lutdb_sampler_free(a);
		lutdb_sampler_free(b);
	}
	/* same seed, same draws; top-k 3 stays within the 3 best */
	lutdb_sampling t = {.size = sizeof t, .temperature = 5.0f, .top_k = 3, .top_p = 1, .seed = 42};
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

/* Option structs grow without breaking callers (lutdb_err.h, "Option
 * structs"): a struct from a newer header (larger size) is accepted when
 * the fields this library does not know are zero, else LUTDB_EUNSUPPORTED;
 * a size below the first version (0: .size not set) is LUTDB_EINVAL; NULL
 * means all defaults. */
START_TEST(option_struct_sizes)
{
	const fcase *c = find_case("mole_rep_f32");
	char db[4300];
	rt r;
	lutdb_model *m;
	lutdb_session *s;
	lutdb_sampler *sp;
	pack_f32(c, db, sizeof db);
	rt_open(&r, db, 1, 0);
	struct {
		lutdb_session_opts o;
		uint64_t newer;
	} grown = {{sizeof grown, 3, 0}, 0};
	ck_assert_int_eq(lutdb_session_new(r.m, &grown.o, &s), LUTDB_OK);
	ck_assert_uint_eq(lutdb_session_capacity(s), 3);
	lutdb_session_free(s);
	grown.newer = 1;
	ck_assert_int_eq(lutdb_session_new(r.m, &grown.o, &s), LUTDB_EUNSUPPORTED);
	ck_assert_ptr_null(s);
	/* smaller than the first version of the struct (which ends with flags) */
	lutdb_session_opts old = {offsetof(lutdb_session_opts, flags), 5, LUTDB_SESSION_NO_EXPERTS};
	ck_assert_int_eq(lutdb_session_new(r.m, &old, &s), LUTDB_EINVAL);
	lutdb_session_opts zero = {0};
	ck_assert_int_eq(lutdb_session_new(r.m, &zero, &s), LUTDB_EINVAL);
	ck_assert(strstr(lutdb_errdetail(), ".size") != NULL);
	lutdb_model_opts mo = {0, 2};
	ck_assert_int_eq(lutdb_model_new(r.db, &mo, &m), LUTDB_EINVAL);
	ck_assert_ptr_null(m);
	mo.size = sizeof mo;
	ck_assert_int_eq(lutdb_model_new(r.db, &mo, &m), LUTDB_OK);
	ck_assert_int_eq(lutdb_model_threads(m), 2);
	lutdb_model_free(m);
	lutdb_sampling smp = {.temperature = 1.0f, .seed = 3};
	ck_assert_int_eq(lutdb_sampler_new(&smp, r.V, &sp), LUTDB_EINVAL);
	ck_assert_ptr_null(sp);
	uint32_t ids[2] = {1, 2}, out[2];
	size_t ng;
	lutdb_generate_opts go = {.max_tokens = 2};
	ck_assert_int_eq(lutdb_generate(r.s, ids, 2, &go, out, &ng, NULL), LUTDB_EINVAL);
	ck_assert_uint_eq(lutdb_session_position(r.s), 0); /* nothing fed */
	ck_assert_int_eq(lutdb_generate(r.s, ids, 2, NULL, out, &ng, NULL), LUTDB_OK); /* defaults */
	ck_assert_uint_eq(ng, 0);
	ck_assert_uint_eq(lutdb_session_position(r.s), 2);
	rt_close(&r);
}
END_TEST

/* A callback must not feed its own session: lutdb_session_feed and
 * lutdb_generate called from a logits or token callback of that session
 * fail with LUTDB_EINVAL and change nothing, and the outer call goes on to
 * the logits it gives without the attempt. */
struct reenter {
	lutdb_session *s;
	int calls, inner_rc[2];
};

static int reenter_logits(void *ctx, uint32_t pos, const float *lg, uint32_t V)
{
	struct reenter *e = ctx;
	uint32_t id = 1, out[1];
	size_t ng;
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = 1};
	e->inner_rc[0] = lutdb_session_feed(e->s, &id, 1, NULL, NULL);
	e->inner_rc[1] = lutdb_generate(e->s, &id, 1, &go, out, &ng, NULL);
	e->calls++;
	return 0;
}

static int reenter_token(void *ctx, uint32_t id)
{
	struct reenter *e = ctx;
	e->inner_rc[0] = lutdb_session_feed(e->s, &id, 1, NULL, NULL);
	e->calls++;
	return 0;
}

START_TEST(callback_reentry_refused)
{
	const fcase *c = find_case("mole_rep_f32");
	char db[4300];
	rt r, ref;
	pack_f32(c, db, sizeof db);
	rt_open(&r, db, 1, 0);
	rt_open(&ref, db, 1, 0);
	uint32_t ids[3] = {3, 1, 4};
	struct reenter e = {r.s, 0, {0, 0}};
	ck_assert_int_eq(lutdb_session_feed(r.s, ids, 3, reenter_logits, &e), LUTDB_OK);
	ck_assert_int_eq(e.calls, 3);
	ck_assert_int_eq(e.inner_rc[0], LUTDB_EINVAL);
	ck_assert_int_eq(e.inner_rc[1], LUTDB_EINVAL);
	ck_assert_uint_eq(lutdb_session_position(r.s), 3);
	ck_assert_int_eq(lutdb_session_feed(ref.s, ids, 3, NULL, NULL), LUTDB_OK);
	ck_assert(!memcmp(lutdb_session_logits(r.s), lutdb_session_logits(ref.s), r.V * sizeof(float)));
	/* the token callback of lutdb_generate */
	uint32_t out[3];
	size_t ng;
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = 3, .ignore_eos = 1, .on_token = reenter_token,
				  .token_ctx = &e};
	e.calls = 0;
	e.inner_rc[0] = 0;
	lutdb_session_reset(r.s);
	ck_assert_int_eq(lutdb_generate(r.s, ids, 3, &go, out, &ng, NULL), LUTDB_OK);
	ck_assert_uint_eq(ng, 3);
	ck_assert_int_eq(e.calls, 3);
	ck_assert_int_eq(e.inner_rc[0], LUTDB_EINVAL);
	ck_assert_uint_eq(lutdb_session_position(r.s), 5); /* prompt + 2 fed back */
	rt_close(&r);
	rt_close(&ref);
}
END_TEST

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
	tcase_add_test(tc, option_struct_sizes);
	tcase_add_test(tc, callback_reentry_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_runtime_suite(suite());
}
