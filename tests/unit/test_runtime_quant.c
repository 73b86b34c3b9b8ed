/*
 * test_runtime_quant.c - the engine on quantized databases (issue 13) against
 * the PyTorch reference on the dequantized values (tests/ref/quant_logits.py,
 * written to LUTDB_QFIXTURES, default build/qfixtures; tests/run.sh makes it).
 *
 * Per model (MoLE and MoLKV, rep form, F32) and per tag of tags.txt, the
 * checkpoint is packed with the tag's table or weight type:
 *   - table-T-B: only the table is quantized (dense weights F32).  The
 *     engine computes in float32 on the exact dequantized values, so the
 *     prompt logits are within 1e-4 of the reference's, the greedy ids are
 *     the reference's and the eval loss is within 1e-4.
 *   - weights-T: projections, MLP, embedding and head in Q8_0 / Q4_0 (norms,
 *     router and expert query stay F32).  The kernels also round every
 *     activation vector to 8-bit blocks (runtime/kernels/kernels.h), which
 *     the reference does not: the logits differ from the reference on the
 *     dequantized weights by that rounding.  It is measured and bounded
 *     (WEIGHTS_LOGIT_TOL, WEIGHTS_LOSS_TOL, relative to the logits' RMS),
 *     and printed next to what quantizing the weights costs by itself (the
 *     reference on dequantized weights against the reference on F32).
 * Thread counts, prefill against one token at a time and batches with
 * quantized models are in test_runtime_threads.c and test_batch.c
 * (runtime_big.h's quantized models).
 */
#include "runtime_big.h"

/* Quantized weights, the engine against the reference that rounds
 * activations as the kernels do: prompt logits (drawn away from rounding
 * ties, quant_logits.py) within 1e-4; the eval loss within 1e-3 (its 88
 * predictions round ~150k products; a product within a few ulps of a tie
 * may round the other way in the engine's float order, which moves the
 * loss by ~1e-4: seen once).  Against the reference on the dequantized
 * weights (no activation rounding) the difference is the rounding's cost:
 * bounded as a fraction of the logits' RMS and in loss.  Measured (2026-12):
 * max abs 3.5-4.7% of the RMS (0.043-0.056 on logits of RMS 1.2; Q8_0
 * weights alone move them by 0.054) and 1e-4 to 1.1e-3 nats; the bounds
 * leave about 2x. */
#define ROUNDED_LOGIT_TOL 1e-4
#define ROUNDED_LOSS_TOL 1e-3
#define WEIGHTS_LOGIT_TOL 0.1
#define WEIGHTS_LOSS_TOL 3e-3

#define MAXTAGS 16

typedef struct qtag {
	char tag[64], part[16], type[16];
	uint32_t block;
} qtag;

static char qdir[4096];
static qtag tags[MAXTAGS];
static int ntags;
static const char *const models[] = {"qmole", "qmolkv"};
#define NMODELS 2

static void load_tags(void)
{
	char p[4200];
	size_t len;
	const char *env = getenv("LUTDB_QFIXTURES");

	if (ntags)
		return;
	snprintf(qdir, sizeof qdir, "%s", env && *env ? env : "build/qfixtures");
	snprintf(p, sizeof p, "%s/tags.txt", qdir);
	ck_assert_msg(file_exists(p), "%s is missing: run /usr/bin/python3 tests/ref/quant_logits.py %s", p, qdir);
	char *txt = read_all(p, &len), *save, *line;
	for (line = strtok_r(txt, "\n", &save); line && ntags < MAXTAGS; line = strtok_r(NULL, "\n", &save)) {
		qtag *t = &tags[ntags++];
		ck_assert_int_eq(sscanf(line, "%63s %15s %15s %u", t->tag, t->part, t->type, &t->block), 4);
	}
	free(txt);
	ck_assert_int_ge(ntags, 10);
}

static int dtype_of(const char *name)
{
	static const struct {
		const char *name;
		int dtype;
	} t[] = {{"Q8_0", LUTDB_DTYPE_Q8_0}, {"Q4_0", LUTDB_DTYPE_Q4_0}, {"NF4", LUTDB_DTYPE_NF4},
		 {"NF3", LUTDB_DTYPE_NF3}};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (!strcmp(t[i].name, name))
			return t[i].dtype;
	return 0;
}

/* Packs model's checkpoint with tag t's types (F32 for the rest) into tmpdir. */
static void pack_tag(const char *model, const qtag *t, char *db, size_t n)
{
	char src[4200];
	lutdb_pack_opts o = {.size = sizeof o, .dtype = LUTDB_DTYPE_F32, .threads = 2};

	if (!strcmp(t->part, "table")) {
		o.table_dtype = dtype_of(t->type);
		o.table_block = t->block;
	} else if (!strcmp(t->part, "weights")) {
		o.weight_dtype = dtype_of(t->type);
	}
	snprintf(src, sizeof src, "%s/%s/ckpt", qdir, model);
	snprintf(db, n, "%s/%s.%s.lutdb", tmpdir, model, t->tag);
	if (file_exists(db))
		return;
	int rc = lutdb_pack(src, db, &o);
	ck_assert_msg(rc == LUTDB_OK, "%s %s: pack failed: %s (%s)", model, t->tag, lutdb_errdetail(),
		      lutdb_strerror(rc));
}

static void qpath(const char *model, const char *tag, const char *file, char *out, size_t n)
{
	if (tag)
		snprintf(out, n, "%s/%s/%s/%s", qdir, model, tag, file);
	else
		snprintf(out, n, "%s/%s/%s", qdir, model, file);
}

static double rms(const float *a, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * a[i];
	return sqrt(s / (double)n);
}

/* What one packed tag gives against its reference files. */
typedef struct qresult {
	double logit_err, logit_rms, loss, loss_err;
	int greedy_same;
	uint32_t greedy_n;
	float *lg; /* the prompt logits, [T][V]; the caller frees */
	size_t nlg;
} qresult;

static void run_tag(const char *model, const qtag *t, qresult *res)
{
	char db[4300], p[4400];
	uint32_t prompt[MAXIDS], want[MAXIDS], got[MAXIDS], ev[MAXIDS];
	size_t nref;
	long want_tokens;
	rt r;

	pack_tag(model, t, db, sizeof db);
	rt_open(&r, db, 2, 0);
	const lutdb_info *in = lutdb_model_info(r.m);
	if (!strcmp(t->part, "table")) {
		ck_assert_int_eq(in->table_dtype, dtype_of(t->type));
		ck_assert_uint_eq(in->table_block, t->block);
	} else {
		ck_assert_int_eq(in->table_dtype, LUTDB_DTYPE_F32);
	}
	qpath(model, NULL, "prompt.ids", p, sizeof p);
	size_t T = load_ids(p, prompt);
	qpath(model, t->tag, "logits.f32", p, sizeof p);
	float *ref = load_f32(p, &nref);
	ck_assert_uint_eq(nref, T * r.V);
	float *lg = logits_of(&r, prompt, T, 0);
	res->lg = lg;
	res->nlg = nref;
	res->logit_err = max_abs(lg, ref, nref);
	res->logit_rms = rms(ref, nref);

	qpath(model, t->tag, "greedy.ids", p, sizeof p);
	size_t nw = load_ids(p, want);
	size_t ng = greedy(&r, prompt, T, (uint32_t)nw, got);
	res->greedy_n = (uint32_t)nw;
	res->greedy_same = 0;
	while (res->greedy_same < (int)ng && res->greedy_same < (int)nw && got[res->greedy_same] == want[res->greedy_same])
		res->greedy_same++;

	qpath(model, NULL, "eval.ids", p, sizeof p);
	size_t ne = load_ids(p, ev);
	qpath(model, t->tag, "eval.txt", p, sizeof p);
	double want_loss = load_loss(p, &want_tokens);
	lutdb_eval_result er;
	ck_assert_int_eq(lutdb_eval(r.m, ev, ne, 0, NULL, NULL, &er), LUTDB_OK);
	ck_assert_int_eq((long)er.tokens, want_tokens);
	res->loss = er.loss;
	res->loss_err = fabs(er.loss - want_loss);
	free(ref);
	rt_close(&r);
}

/* Table-only quantization and the unquantized baseline: the reference's
 * logits to 1e-4, its greedy ids, its eval loss to 1e-4. */
START_TEST(table_types_match_reference)
{
	load_tags();
	int tested = 0;
	for (int k = 0; k < NMODELS; k++) {
		for (int i = 0; i < ntags; i++) {
			const qtag *t = &tags[i];
			qresult q;
			if (!strcmp(t->part, "weights"))
				continue;
			run_tag(models[k], t, &q);
			printf("quant %-7s %-14s logits_max_abs=%.3g loss=%.6f loss_err=%.3g greedy=%d/%u\n",
			       models[k], t->tag, q.logit_err, q.loss, q.loss_err, q.greedy_same, q.greedy_n);
			ck_assert_msg(q.logit_err <= 1e-4, "%s %s: logits differ by %g", models[k], t->tag, q.logit_err);
			ck_assert_msg(q.greedy_same == (int)q.greedy_n, "%s %s: greedy ids differ from position %d",
				      models[k], t->tag, q.greedy_same);
			ck_assert_msg(q.loss_err <= 1e-4, "%s %s: loss differs by %g", models[k], t->tag, q.loss_err);
			free(q.lg);
			tested++;
		}
	}
	ck_assert_int_ge(tested, 16);
}
END_TEST

/* Reference logits of model's tag, for the cost of quantized weights alone. */
static double ref_vs_f32(const char *model, const char *tag)
{
	char p[4400];
	size_t na, nb;
	qpath(model, tag, "logits.f32", p, sizeof p);
	float *a = load_f32(p, &na);
	qpath(model, "f32", "logits.f32", p, sizeof p);
	float *b = load_f32(p, &nb);
	ck_assert_uint_eq(na, nb);
	double e = max_abs(a, b, na);
	free(a);
	free(b);
	return e;
}

/* The engine against the reference that rounds activations as the kernels
 * do (logits_rounded.f32, eval_rounded.txt): max abs logit and loss
 * differences. */
static void rounded_errors(const char *model, const qtag *t, const float *lg, double loss, double *lerr,
			   double *loss_err)
{
	char p[4400];
	size_t n;
	long tokens;
	qpath(model, t->tag, "logits_rounded.f32", p, sizeof p);
	float *ref = load_f32(p, &n);
	*lerr = max_abs(lg, ref, n);
	qpath(model, t->tag, "eval_rounded.txt", p, sizeof p);
	*loss_err = fabs(loss - load_loss(p, &tokens));
	free(ref);
}

/* Quantized dense weights: the engine computes what the rounding reference
 * computes; the activation rounding is measured against the reference on
 * the dequantized weights and bounded. */
START_TEST(weight_types_bounded)
{
	load_tags();
	int tested = 0;
	for (int k = 0; k < NMODELS; k++) {
		for (int i = 0; i < ntags; i++) {
			const qtag *t = &tags[i];
			qresult q;
			if (strcmp(t->part, "weights"))
				continue;
			run_tag(models[k], t, &q);
			double rel = q.logit_err / q.logit_rms, wq = ref_vs_f32(models[k], t->tag);
			double rerr, rloss;
			rounded_errors(models[k], t, q.lg, q.loss, &rerr, &rloss);
			printf("quant %-7s %-14s engine_vs_ref_with_activation_rounding: logits_max_abs=%.3g loss_err=%.3g\n",
			       models[k], t->tag, rerr, rloss);
			ck_assert_msg(rerr <= ROUNDED_LOGIT_TOL, "%s %s: logits differ from the rounding reference by %g",
				      models[k], t->tag, rerr);
			ck_assert_msg(rloss <= ROUNDED_LOSS_TOL, "%s %s: loss differs from the rounding reference by %g",
				      models[k], t->tag, rloss);
			printf("quant %-7s %-14s engine_vs_ref_on_dequantized: logits_max_abs=%.3g (%.3g of rms %.3g) "
			       "loss_err=%.3g greedy=%d/%u; ref_dequantized_vs_f32 logits_max_abs=%.3g; loss=%.6f\n",
			       models[k], t->tag, q.logit_err, rel, q.logit_rms, q.loss_err, q.greedy_same, q.greedy_n, wq,
			       q.loss);
			ck_assert_msg(rel <= WEIGHTS_LOGIT_TOL, "%s %s: logits differ by %g (%g of their rms)", models[k],
				      t->tag, q.logit_err, rel);
			ck_assert_msg(q.loss_err <= WEIGHTS_LOSS_TOL, "%s %s: loss differs by %g", models[k], t->tag,
				      q.loss_err);
			free(q.lg);
			tested++;
		}
	}
	ck_assert_int_ge(tested, 4);
}
END_TEST

/* The packed weights are what the engine was asked to decode: quantized
 * matrices, float norms, router / expert query. */
START_TEST(weight_dtypes_as_packed)
{
	load_tags();
	for (int k = 0; k < NMODELS; k++) {
		for (int i = 0; i < ntags; i++) {
			const qtag *t = &tags[i];
			char db[4300];
			lutdb_db *d;
			lutdb_tensor w;
			if (strcmp(t->part, "weights"))
				continue;
			pack_tag(models[k], t, db, sizeof db);
			ck_assert_int_eq(lutdb_open(db, 0, &d), LUTDB_OK);
			ck_assert_int_eq(lutdb_tensor_get(d, "model.layers.1.mlp.down_proj.weight", &w), LUTDB_OK);
			ck_assert_int_eq(w.dtype, dtype_of(t->type));
			ck_assert_int_eq(lutdb_tensor_get(d, "model.embed_tokens.weight", &w), LUTDB_OK);
			ck_assert_int_eq(w.dtype, dtype_of(t->type));
			ck_assert_int_eq(lutdb_tensor_get(d, "model.layers.0.input_layernorm.weight", &w), LUTDB_OK);
			ck_assert_int_eq(w.dtype, LUTDB_DTYPE_F32);
			lutdb_close(d);
		}
	}
}
END_TEST

/* A quantized MoLKV table whose expert-head chunks are not whole groups of
 * 8 values (dk / H = 4) packs, but the engine refuses it with a clear
 * error at model load instead of aborting in a kernel. */
START_TEST(molkv_head_chunk_refused)
{
	static const bigm g = {"molkv_dk32_h8", 2, 64, 256, 8, 8, 128, 1, 2, 32, 8, 0, 32, LUTDB_DTYPE_F32, 0,
			       LUTDB_DTYPE_Q8_0, 0, 32};
	char dir[4300], db[4300];
	lutdb_db *d;
	lutdb_model *m = NULL;
	snprintf(dir, sizeof dir, "%s/%s-ckpt", tmpdir, g.tag);
	snprintf(db, sizeof db, "%s/%s.lutdb", tmpdir, g.tag);
	write_big_ckpt(&g, dir);
	lutdb_pack_opts o = {.size = sizeof o, .dtype = g.dtype, .table_dtype = g.table_dtype, .threads = 1};
	ck_assert_msg(lutdb_pack(dir, db, &o) == LUTDB_OK, "%s", lutdb_errdetail());
	ck_assert_int_eq(lutdb_open(db, 0, &d), LUTDB_OK);
	ck_assert_int_eq(lutdb_get_info(d)->table_dtype, LUTDB_DTYPE_Q8_0);
	int rc = lutdb_model_new(d, NULL, &m);
	ck_assert_int_eq(rc, LUTDB_EUNSUPPORTED);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(lutdb_errdetail(), "dk/H and d/H multiples of 8"), "%s", lutdb_errdetail());
	lutdb_close(d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("runtime-quant");
	TCase *tc = tcase_create("quant");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, table_types_match_reference);
	tcase_add_test(tc, weight_types_bounded);
	tcase_add_test(tc, weight_dtypes_as_packed);
	tcase_add_test(tc, molkv_head_chunk_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_runtime_suite(suite());
}
