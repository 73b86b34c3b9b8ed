/*
 * test_pack_quant.c - quantized tables and weights (issue 13, spec/FORMAT.md
 * section 10) through pack, quantize, verify, shard and export, on the
 * PyTorch reference fixtures: every packed byte equals what the reference
 * (tests/ref/quant_ref.py, via make_fixtures.py's ref/quant/ files) writes
 * for every type and every case; quantize of an F32 database writes the
 * bytes pack writes; hostile and impossible block sizes are refused with
 * the dimension named.
 */
#include <jansson.h>
#include <math.h>

#include "checkpoint.h"
#include "record.h"
#include "lutdb.h"
#include "lutdb_pack.h"
#include "testutil.h"

typedef struct fcase {
	char name[64];
	char dir[4096];
	json_t *meta;
} fcase;

static fcase cases[32];
static int ncases;
static char *tmp;

static void load_cases(void)
{
	char p[4096];
	size_t len;
	if (ncases)
		return;
	snprintf(p, sizeof p, "%s/cases.txt", fixtures_dir());
	char *txt = read_all(p, &len), *save, *line;
	for (line = strtok_r(txt, "\n", &save); line && ncases < 32; line = strtok_r(NULL, "\n", &save)) {
		fcase *c = &cases[ncases++];
		snprintf(c->name, sizeof c->name, "%s", line);
		snprintf(c->dir, sizeof c->dir, "%s/%s", fixtures_dir(), line);
		snprintf(p, sizeof p, "%s/ref/meta.json", c->dir);
		c->meta = json_load_file(p, 0, NULL);
		ck_assert_ptr_nonnull(c->meta);
	}
	free(txt);
	ck_assert_int_ge(ncases, 11);
}

static const fcase *find_case(const char *name)
{
	for (int i = 0; i < ncases; i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	ck_abort_msg("no fixture case %s", name);
	return NULL;
}

static int is_train(const fcase *c)
{
	return !strcmp(json_string_value(json_object_get(c->meta, "form")), "train");
}

static void setup(void)
{
	load_cases();
	tmp = scratch_dir();
}

static void teardown(void)
{
	rm_rf(tmp);
	free(tmp);
}

/* The rep checkpoint the reference quantized: the case's own for a rep
 * case, the official F16 conversion for a training case. */
static void rep_src(const fcase *c, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", c->dir, is_train(c) ? "ref/rep_ckpt" : "ckpt");
}

static int pack_q(const char *src, const char *out, int dtype, int tdt, uint32_t block, int wdt,
		  lutdb_quant_report *rep)
{
	lutdb_pack_opts o = {.size = sizeof o, .dtype = dtype, .threads = 2, .table_dtype = tdt, .weight_dtype = wdt,
			     .table_block = block, .report = rep};
	return lutdb_pack(src, out, &o);
}

static lutdb_db *open_db(const char *path)
{
	lutdb_db *db = NULL;
	int rc = lutdb_open(path, 0, &db);
	ck_assert_msg(rc == LUTDB_OK, "open %s: %s", path, lutdb_errdetail());
	return db;
}

/* Every token row of db equals ref (V rows back to back). */
static void rows_equal(const char *what, lutdb_db *db, const uint8_t *ref, size_t ref_len)
{
	const lutdb_info *in = lutdb_get_info(db);
	void *scratch = malloc(in->token_row_bytes);
	ck_assert_uint_eq(ref_len, (uint64_t)in->vocab * in->token_row_bytes);
	for (uint32_t t = 0; t < in->vocab; t++) {
		lutdb_row r;
		ck_assert_int_eq(lutdb_token_row(db, t, LUTDB_READ_VERIFY, scratch, in->token_row_bytes, &r), LUTDB_OK);
		ck_assert_msg(!memcmp(r.data, ref + (size_t)t * in->token_row_bytes, in->token_row_bytes),
			      "%s: token %u's row differs from the reference's bytes", what, t);
	}
	free(scratch);
}

/* Tensors of db against ref/quant/weights.txt for weight type wname: the
 * listed ones hold the reference's bytes; every other one is a float. */
static void tensors_equal(const fcase *c, lutdb_db *db, const char *wname)
{
	char p[4300], name[300], ty[16];
	size_t len, wlen;
	unsigned long long off, n;
	int listed = 0;

	snprintf(p, sizeof p, "%s/ref/quant/weights.txt", c->dir);
	char *txt = read_all(p, &len), *save, *line;
	snprintf(p, sizeof p, "%s/ref/quant/weights.%s.q", c->dir, wname);
	uint8_t *w = read_all(p, &wlen);
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		ck_assert_int_eq(sscanf(line, "%15s %299s %llu %llu", ty, name, &off, &n), 4);
		if (strcmp(ty, wname))
			continue;
		lutdb_tensor t;
		ck_assert_msg(lutdb_tensor_get(db, name, &t) == LUTDB_OK, "%s: no tensor %s", c->name, name);
		ck_assert_msg(!strcmp(lutdb_dtype_name(t.dtype), wname), "%s: %s is %s, not %s", c->name, name,
			      lutdb_dtype_name(t.dtype), wname);
		ck_assert_uint_eq(t.nbytes, n);
		ck_assert_uint_le(off + n, wlen);
		ck_assert_msg(!memcmp(t.data, w + off, n), "%s: %s %s differs from the reference's bytes", c->name,
			      wname, name);
		listed++;
	}
	ck_assert_int_gt(listed, 0);
	for (size_t i = 0; i < lutdb_tensor_count(db); i++) {
		lutdb_tensor t;
		ck_assert_int_eq(lutdb_tensor_at(db, i, &t), LUTDB_OK);
		if (!lutdb_dtype_is_quantized(t.dtype))
			continue;
		listed--;
	}
	ck_assert_msg(listed == 0, "%s: quantized tensors that the reference does not quantize", c->name);
	free(txt);
	free(w);
}

static int weight_for(int i)
{
	return i % 2 ? LUTDB_DTYPE_Q4_0 : LUTDB_DTYPE_Q8_0;
}

/* Every case, every table type the reference wrote (B dividing d and dk),
 * weights alternating Q8_0 / Q4_0: the file's bytes are the reference's. */
START_TEST(pack_bytes_equal_reference)
{
	static const struct {
		int dt;
		uint32_t b;
		const char *file;
	} types[] = {{LUTDB_DTYPE_Q8_0, 32, "Q8_0-32"}, {LUTDB_DTYPE_Q4_0, 32, "Q4_0-32"}, {LUTDB_DTYPE_NF4, 32, "NF4-32"},
		     {LUTDB_DTYPE_NF4, 64, "NF4-64"},   {LUTDB_DTYPE_NF3, 32, "NF3-32"},   {LUTDB_DTYPE_NF3, 64, "NF3-64"}};
	int checked = 0;

	for (int ci = 0; ci < ncases; ci++) {
		const fcase *c = &cases[ci];
		char src[4200], out[4200], ref[4300];
		int any = 0;
		rep_src(c, src, sizeof src);
		for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
			size_t len;
			snprintf(ref, sizeof ref, "%s/ref/quant/table.%s.q", c->dir, types[k].file);
			if (!file_exists(ref))
				continue;
			int wdt = weight_for((int)k);
			lutdb_quant_report qr;
			snprintf(out, sizeof out, "%s/%s.%s.lutdb", tmp, c->name, types[k].file);
			int rc = pack_q(src, out, 0, types[k].dt, types[k].b, wdt, &qr);
			ck_assert_msg(rc == LUTDB_OK, "%s %s: %s", c->name, types[k].file, lutdb_errdetail());
			lutdb_db *db = open_db(out);
			const lutdb_info *in = lutdb_get_info(db);
			ck_assert_int_eq(in->format_minor, 1);
			ck_assert_int_eq(in->table_dtype, types[k].dt);
			ck_assert_uint_eq(in->table_block, types[k].b);
			uint8_t *r = read_all(ref, &len);
			rows_equal(c->name, db, r, len);
			free(r);
			tensors_equal(c, db, lutdb_dtype_name(wdt));
			ck_assert_msg(lutdb_verify(db, NULL, NULL) == LUTDB_OK, "%s: verify: %s", c->name,
				      lutdb_errdetail());
			/* The report covers every table value and every quantized weight. */
			ck_assert_int_eq(qr.table.dtype, types[k].dt);
			ck_assert_uint_eq(qr.table.values, (uint64_t)in->vocab * in->layers * in->layer_row_elems);
			ck_assert(qr.table.rel_rms > 0 && qr.table.rel_rms < 0.3);
			ck_assert(qr.table.max_abs > 0);
			ck_assert_uint_lt(qr.table.token, in->vocab);
			ck_assert_uint_lt(qr.table.layer, in->layers);
			ck_assert_uint_lt(qr.table.expert, in->experts);
			ck_assert_int_eq(qr.table.key, in->family == LUTDB_FAMILY_MOLKV ? qr.table.key != 0 : -1);
			ck_assert_int_eq(qr.weights.dtype, wdt);
			ck_assert(qr.weights.rel_rms > 0 && qr.weights.rel_rms < 0.2);
			lutdb_tensor wt;
			ck_assert_msg(lutdb_tensor_get(db, qr.weights.tensor, &wt) == LUTDB_OK, "report names %s",
				      qr.weights.tensor);
			lutdb_close(db);
			any = 1;
			checked++;
		}
		if (!any) {
			/* MoLKV with dk 16: no block type fits a key vector. */
			int rc = pack_q(src, out, 0, LUTDB_DTYPE_Q8_0, 0, 0, NULL);
			ck_assert_int_eq(rc, LUTDB_EINVAL);
			ck_assert_msg(strstr(lutdb_errdetail(), "dk = 16"), "%s: %s", c->name,
				      lutdb_errdetail());
			/* Weights alone still quantize, byte for byte. */
			snprintf(out, sizeof out, "%s/%s.w.lutdb", tmp, c->name);
			ck_assert_msg(pack_q(src, out, 0, 0, 0, LUTDB_DTYPE_Q4_0, NULL) == LUTDB_OK, "%s: %s", c->name,
				      lutdb_errdetail());
			lutdb_db *db = open_db(out);
			ck_assert_int_eq(lutdb_get_info(db)->format_minor, 1);
			ck_assert_uint_eq(lutdb_get_info(db)->table_block, 0);
			tensors_equal(c, db, "Q4_0");
			lutdb_close(db);
		}
	}
	ck_assert_int_ge(checked, 40);
}
END_TEST

/* Table and tensor records of db a and b are the same bytes. */
static void same_records(const char *what, lutdb_db *a, lutdb_db *b)
{
	const lutdb_info *ia = lutdb_get_info(a), *ib = lutdb_get_info(b);
	void *sa = malloc(ia->token_row_bytes), *sb = malloc(ib->token_row_bytes);
	ck_assert_int_eq(ia->table_dtype, ib->table_dtype);
	ck_assert_uint_eq(ia->table_block, ib->table_block);
	ck_assert_uint_eq(ia->token_row_bytes, ib->token_row_bytes);
	ck_assert_uint_eq(ia->block_tokens, ib->block_tokens);
	for (uint32_t t = 0; t < ia->vocab; t++) {
		lutdb_row ra, rb;
		ck_assert_int_eq(lutdb_token_row(a, t, 0, sa, ia->token_row_bytes, &ra), LUTDB_OK);
		ck_assert_int_eq(lutdb_token_row(b, t, 0, sb, ib->token_row_bytes, &rb), LUTDB_OK);
		ck_assert_msg(!memcmp(ra.data, rb.data, ia->token_row_bytes), "%s: token %u differs", what, t);
	}
	ck_assert_uint_eq(lutdb_tensor_count(a), lutdb_tensor_count(b));
	for (size_t i = 0; i < lutdb_tensor_count(a); i++) {
		lutdb_tensor ta, tb;
		ck_assert_int_eq(lutdb_tensor_at(a, i, &ta), LUTDB_OK);
		ck_assert_int_eq(lutdb_tensor_at(b, i, &tb), LUTDB_OK);
		ck_assert_str_eq(ta.name, tb.name);
		ck_assert_msg(ta.dtype == tb.dtype && ta.nbytes == tb.nbytes && !memcmp(ta.data, tb.data, ta.nbytes),
			      "%s: tensor %s differs", what, ta.name);
	}
	free(sa);
	free(sb);
}

static int quantize_db(const char *src, const char *out, int tdt, uint32_t block, int wdt, int threads,
		       lutdb_quant_report *rep)
{
	lutdb_db *db = open_db(src);
	lutdb_quantize_opts o = {.size = sizeof o, .table_dtype = tdt, .weight_dtype = wdt, .table_block = block,
				 .threads = threads, .report = rep};
	int rc = lutdb_quantize(db, out, &o);
	lutdb_close(db);
	return rc;
}

/* Quantizing an F32 database writes the table and tensor records pack
 * writes from the same checkpoint with the same options (training form:
 * the table computed in float32; rep form: copied), at any thread count. */
START_TEST(quantize_equals_pack)
{
	static const char *names[] = {"mole_train_f32", "molkv_train_f32", "mole_rep_f16", "mole_tied_gqa"};
	static const struct {
		int tdt;
		uint32_t b;
		int wdt;
	} opts[] = {{LUTDB_DTYPE_Q8_0, 0, LUTDB_DTYPE_Q4_0}, {LUTDB_DTYPE_Q4_0, 32, LUTDB_DTYPE_Q8_0},
		    {LUTDB_DTYPE_NF4, 32, 0},                  {LUTDB_DTYPE_NF3, 32, LUTDB_DTYPE_Q4_0}};

	for (size_t ci = 0; ci < sizeof names / sizeof names[0]; ci++) {
		const fcase *c = find_case(names[ci]);
		char src[4200], f32[4200], a[4200], b[4200];
		snprintf(src, sizeof src, "%s/ckpt", c->dir);
		snprintf(f32, sizeof f32, "%s/%s.f32.lutdb", tmp, c->name);
		ck_assert_int_eq(pack_q(src, f32, LUTDB_DTYPE_F32, 0, 0, 0, NULL), LUTDB_OK);
		for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
			lutdb_quant_report rp, rq;
			snprintf(a, sizeof a, "%s/%s.pack%zu.lutdb", tmp, c->name, k);
			snprintf(b, sizeof b, "%s/%s.quant%zu.lutdb", tmp, c->name, k);
			int rc = pack_q(src, a, LUTDB_DTYPE_F32, opts[k].tdt, opts[k].b, opts[k].wdt, &rp);
			ck_assert_msg(rc == LUTDB_OK, "%s: pack: %s", c->name, lutdb_errdetail());
			rc = quantize_db(f32, b, opts[k].tdt, opts[k].b, opts[k].wdt, 1 + (int)(k % 3), &rq);
			ck_assert_msg(rc == LUTDB_OK, "%s: quantize: %s", c->name, lutdb_errdetail());
			lutdb_db *da = open_db(a), *db = open_db(b);
			same_records(c->name, da, db);
			ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_OK);
			lutdb_close(da);
			lutdb_close(db);
			/* The same values quantized: the same error, the same place. */
			ck_assert(rp.table.rel_rms == rq.table.rel_rms && rp.table.max_abs == rq.table.max_abs);
			ck_assert_uint_eq(rp.table.token, rq.table.token);
			ck_assert(rp.weights.max_abs == rq.weights.max_abs);
			ck_assert_str_eq(rp.weights.tensor, rq.weights.tensor);
		}
	}
}
END_TEST

/* A manifest (split by layer and by token) quantizes into one file whose
 * records are those of quantizing the file; a part not named keeps its
 * bytes. */
START_TEST(quantize_manifest_and_keep)
{
	const fcase *c = find_case("mole_train_sharded");
	char src[4200], f32[4200], dir[4200], man[4300], a[4200], b[4200], k[4200];
	snprintf(src, sizeof src, "%s/ckpt", c->dir);
	snprintf(f32, sizeof f32, "%s/f32.lutdb", tmp);
	ck_assert_int_eq(pack_q(src, f32, LUTDB_DTYPE_F32, 0, 0, 0, NULL), LUTDB_OK);
	snprintf(a, sizeof a, "%s/a.lutdb", tmp);
	ck_assert_int_eq(quantize_db(f32, a, LUTDB_DTYPE_NF4, 64, LUTDB_DTYPE_Q8_0, 2, NULL), LUTDB_OK);
	for (int by_layer = 0; by_layer < 2; by_layer++) {
		lutdb_db *db = open_db(f32);
		lutdb_shard_opts so = {.size = sizeof so, .count = 3, .by_layer = by_layer};
		snprintf(dir, sizeof dir, "%s/sh%d", tmp, by_layer);
		ck_assert_int_eq(lutdb_shard(db, dir, &so, NULL, NULL), LUTDB_OK);
		lutdb_close(db);
		snprintf(man, sizeof man, "%s/manifest.json", dir);
		snprintf(b, sizeof b, "%s/b%d.lutdb", tmp, by_layer);
		ck_assert_msg(quantize_db(man, b, LUTDB_DTYPE_NF4, 64, LUTDB_DTYPE_Q8_0, 2, NULL) == LUTDB_OK, "%s",
			      lutdb_errdetail());
		lutdb_db *da = open_db(a), *dbb = open_db(b);
		ck_assert_uint_eq(lutdb_get_info(dbb)->shard_count, 1);
		same_records("manifest", da, dbb);
		lutdb_close(da);
		lutdb_close(dbb);
	}
	/* Weights only: the table keeps its NF4 bytes (and block). */
	snprintf(k, sizeof k, "%s/k.lutdb", tmp);
	ck_assert_int_eq(quantize_db(a, k, 0, 0, LUTDB_DTYPE_Q4_0, 1, NULL), LUTDB_OK);
	lutdb_db *da = open_db(a), *dk = open_db(k);
	const lutdb_info *ia = lutdb_get_info(da);
	void *s1 = malloc(ia->token_row_bytes), *s2 = malloc(ia->token_row_bytes);
	ck_assert_uint_eq(lutdb_get_info(dk)->table_block, 64);
	for (uint32_t t = 0; t < ia->vocab; t++) {
		lutdb_row r1, r2;
		ck_assert_int_eq(lutdb_token_row(da, t, 0, s1, ia->token_row_bytes, &r1), LUTDB_OK);
		ck_assert_int_eq(lutdb_token_row(dk, t, 0, s2, ia->token_row_bytes, &r2), LUTDB_OK);
		ck_assert(!memcmp(r1.data, r2.data, ia->token_row_bytes));
	}
	lutdb_tensor t;
	ck_assert_int_eq(lutdb_tensor_get(dk, "model.layers.0.mlp.up_proj.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_Q4_0);
	ck_assert_int_eq(lutdb_tensor_get(dk, "model.layers.0.router.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_F32);
	free(s1);
	free(s2);
	lutdb_close(da);
	lutdb_close(dk);
}
END_TEST

/* Sizes: a Q4_0 table takes at most 0.30x the F16 table's bytes; a float
 * pack stays format 1.0 with no block. */
START_TEST(sizes_and_versions)
{
	const fcase *c = find_case("mole_rep_f16");
	char src[4200], a[4200], b[4200];
	snprintf(src, sizeof src, "%s/ckpt", c->dir);
	snprintf(a, sizeof a, "%s/f16.lutdb", tmp);
	snprintf(b, sizeof b, "%s/q4.lutdb", tmp);
	ck_assert_int_eq(pack_q(src, a, 0, 0, 0, 0, NULL), LUTDB_OK);
	ck_assert_int_eq(pack_q(src, b, 0, LUTDB_DTYPE_Q4_0, 0, 0, NULL), LUTDB_OK);
	lutdb_db *da = open_db(a), *db = open_db(b);
	const lutdb_info *ia = lutdb_get_info(da), *ib = lutdb_get_info(db);
	ck_assert_int_eq(ia->format_minor, 0);
	ck_assert_uint_eq(ia->table_block, 0);
	ck_assert_int_eq(ia->table_dtype, LUTDB_DTYPE_F16);
	ck_assert_int_eq(ib->format_minor, 1);
	ck_assert_uint_eq(ib->table_block, 32);
	ck_assert_msg(ib->token_row_bytes * 100 <= ia->token_row_bytes * 30, "Q4_0 row %llu B vs F16 %llu B",
		      (unsigned long long)ib->token_row_bytes, (unsigned long long)ia->token_row_bytes);
	ck_assert_uint_eq(ib->token_row_bytes, lutdb_dtype_bytes(LUTDB_DTYPE_Q4_0, 32,
								  (uint64_t)ib->layers * ib->layer_row_elems));
	/* Dense weights kept: the same tensor bytes as the F16 pack. */
	for (size_t i = 0; i < lutdb_tensor_count(da); i++) {
		lutdb_tensor t1, t2;
		ck_assert_int_eq(lutdb_tensor_at(da, i, &t1), LUTDB_OK);
		ck_assert_int_eq(lutdb_tensor_at(db, i, &t2), LUTDB_OK);
		ck_assert(t1.nbytes == t2.nbytes && !memcmp(t1.data, t2.data, t1.nbytes));
	}
	lutdb_close(da);
	lutdb_close(db);
}
END_TEST

static void expect_pack_fail(const char *src, lutdb_pack_opts *o, int code, const char *substr)
{
	char out[4200];
	snprintf(out, sizeof out, "%s/bad.lutdb", tmp);
	int rc = lutdb_pack(src, out, o);
	ck_assert_msg(rc == code, "expected %d, got %d (%s)", code, rc, lutdb_errdetail());
	ck_assert_msg(strstr(lutdb_errdetail(), substr), "detail \"%s\" lacks \"%s\"", lutdb_errdetail(), substr);
	ck_assert(!file_exists(out));
}

/* Bad options are refused before anything is written, naming what. */
START_TEST(bad_options)
{
	const fcase *c = find_case("molkv_train_f32"); /* d 64, dk 32 */
	char src[4200];
	snprintf(src, sizeof src, "%s/ckpt", c->dir);
	lutdb_tensor_dtype router = {"model.layers.0.expert_query.weight", LUTDB_DTYPE_Q8_0};
	lutdb_tensor_dtype nosuch = {"model.layers.9.mlp.up_proj.weight", LUTDB_DTYPE_Q8_0};
	lutdb_tensor_dtype nf = {"lm_head.weight", LUTDB_DTYPE_NF4};
	struct {
		lutdb_pack_opts o;
		int code;
		const char *substr;
	} bad[] = {
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = LUTDB_DTYPE_NF4, .table_block = 64}, LUTDB_EINVAL,
		 "NF4 block 64 does not divide dk = 32"},
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = LUTDB_DTYPE_NF3, .table_block = 48}, LUTDB_EINVAL,
		 "48"},
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = LUTDB_DTYPE_NF4, .table_block = 0x80000000u},
		 LUTDB_EINVAL, "2147483648"},
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = LUTDB_DTYPE_Q8_0, .table_block = 64}, LUTDB_EINVAL,
		 "Q8_0"},
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = LUTDB_DTYPE_F16, .table_block = 32}, LUTDB_EINVAL,
		 "F16 table has no blocks"},
		{{.size = sizeof(lutdb_pack_opts), .weight_dtype = LUTDB_DTYPE_NF4}, LUTDB_EINVAL, "tables only"},
		{{.size = sizeof(lutdb_pack_opts), .dtype = LUTDB_DTYPE_NF3}, LUTDB_EINVAL, "tables only"},
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = (lutdb_dtype)20}, LUTDB_EINVAL, "20"},
		{{.size = sizeof(lutdb_pack_opts), .tensor_dtypes = &router, .tensor_dtype_count = 1}, LUTDB_EINVAL,
		 "expert_query.weight cannot be stored Q8_0"},
		{{.size = sizeof(lutdb_pack_opts), .tensor_dtypes = &nosuch, .tensor_dtype_count = 1}, LUTDB_EINVAL,
		 "no tensor model.layers.9"},
		{{.size = sizeof(lutdb_pack_opts), .tensor_dtypes = &nf, .tensor_dtype_count = 1}, LUTDB_EINVAL,
		 "not a tensor dtype"},
		{{.size = sizeof(lutdb_pack_opts), .table_dtype = LUTDB_DTYPE_Q4_0, .codec = LUTDB_CODEC_SHUFFLE_LZ4},
		 LUTDB_EINVAL, "shuffle-lz4"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_pack_fail(src, &bad[i].o, bad[i].code, bad[i].substr);
	/* The MoLE d = 64 names d. */
	snprintf(src, sizeof src, "%s/ckpt", find_case("mole_rep_f32")->dir);
	lutdb_pack_opts o = {.size = sizeof o, .table_dtype = LUTDB_DTYPE_NF4, .table_block = 128};
	expect_pack_fail(src, &o, LUTDB_EINVAL, "NF4 block 128 does not divide d = 64");
}
END_TEST

/* Per-tensor overrides: the head at Q8_0 when the rest is Q4_0, a tensor
 * kept float, and LZ4 on a quantized table reads back the same rows. */
START_TEST(overrides_and_lz4)
{
	const fcase *c = find_case("mole_rep_f32");
	char src[4200], a[4200], b[4200];
	snprintf(src, sizeof src, "%s/ckpt", c->dir);
	lutdb_tensor_dtype ov[] = {{"lm_head.weight", LUTDB_DTYPE_Q8_0}, {"model.embed_tokens.weight", LUTDB_DTYPE_F16}};
	lutdb_pack_opts o = {.size = sizeof o, .table_dtype = LUTDB_DTYPE_NF4, .weight_dtype = LUTDB_DTYPE_Q4_0,
			     .tensor_dtypes = ov, .tensor_dtype_count = 2, .codec = LUTDB_CODEC_LZ4};
	snprintf(a, sizeof a, "%s/ov.lutdb", tmp);
	ck_assert_msg(lutdb_pack(src, a, &o) == LUTDB_OK, "%s", lutdb_errdetail());
	o.codec = LUTDB_CODEC_NONE;
	snprintf(b, sizeof b, "%s/ov_raw.lutdb", tmp);
	ck_assert_int_eq(lutdb_pack(src, b, &o), LUTDB_OK);
	lutdb_db *da = open_db(a), *db = open_db(b);
	lutdb_tensor t;
	ck_assert_int_eq(lutdb_tensor_get(da, "lm_head.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_Q8_0);
	ck_assert_int_eq(lutdb_tensor_get(da, "model.embed_tokens.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_F16);
	ck_assert_int_eq(lutdb_tensor_get(da, "model.layers.1.self_attn.q_proj.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_Q4_0);
	ck_assert_int_eq(lutdb_tensor_get(da, "model.norm.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_F32);
	ck_assert_int_eq(lutdb_get_info(da)->table_codec, LUTDB_CODEC_LZ4);
	same_records("lz4", da, db);
	ck_assert_int_eq(lutdb_verify(da, NULL, NULL), LUTDB_OK);
	lutdb_close(da);
	lutdb_close(db);
}
END_TEST

/* export writes quantized parts decoded: as F32 exactly the values the
 * reference's bytes decode to (F16 by default). */
START_TEST(export_dequantized)
{
	const fcase *c = find_case("molkv_train_f32");
	char src[4200], a[4200], out[4200], ref[4300];
	size_t len;
	rep_src(c, src, sizeof src);
	snprintf(a, sizeof a, "%s/nf4.lutdb", tmp);
	ck_assert_int_eq(pack_q(src, a, 0, LUTDB_DTYPE_NF4, 32, LUTDB_DTYPE_Q8_0, NULL), LUTDB_OK);
	for (int as_f32 = 0; as_f32 < 2; as_f32++) {
		lutdb_db *db = open_db(a);
		const lutdb_info *in = lutdb_get_info(db);
		snprintf(out, sizeof out, "%s/ex%d", tmp, as_f32);
		ck_assert_int_eq(lutdb_export_as(db, out, 0, as_f32 ? LUTDB_DTYPE_F32 : (lutdb_dtype)0, NULL, NULL),
				 LUTDB_OK);
		lutdb_ckpt *ck;
		lutdb_ckpt_tensor t;
		ck_assert_int_eq(lutdb_ckpt_open(out, &ck), LUTDB_OK);
		ck_assert_int_eq(lutdb_ckpt_find(ck, "model.kv_table.weight", &t), LUTDB_OK);
		ck_assert_int_eq(t.dtype, as_f32 ? LUTDB_DTYPE_F32 : LUTDB_DTYPE_F16);
		uint64_t n = (uint64_t)in->vocab * in->layers * in->layer_row_elems;
		snprintf(ref, sizeof ref, "%s/ref/quant/table.NF4-32.q", c->dir);
		uint8_t *q = read_all(ref, &len);
		float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
		ck_assert_int_eq(lutdb_decode_f32(LUTDB_DTYPE_NF4, 32, q, n, want), LUTDB_OK);
		ck_assert_int_eq(lutdb_convert(LUTDB_DTYPE_F32, got, t.dtype, t.data, n), LUTDB_OK);
		for (uint64_t i = 0; i < n; i++) {
			float w = want[i];
			if (!as_f32) { /* the decoded value rounded to F16 */
				uint16_t h;
				lutdb_convert(LUTDB_DTYPE_F16, &h, LUTDB_DTYPE_F32, &want[i], 1);
				lutdb_convert(LUTDB_DTYPE_F32, &w, LUTDB_DTYPE_F16, &h, 1);
			}
			ck_assert_msg(got[i] == w, "value %llu: %g vs %g", (unsigned long long)i, (double)got[i],
				      (double)w);
		}
		ck_assert_int_eq(lutdb_ckpt_find(ck, "lm_head.weight", &t), LUTDB_OK);
		ck_assert_int_eq(t.dtype, as_f32 ? LUTDB_DTYPE_F32 : LUTDB_DTYPE_F16);
		ck_assert_int_eq(lutdb_ckpt_find(ck, "model.layers.0.expert_query.weight", &t), LUTDB_OK);
		ck_assert_int_eq(t.dtype, LUTDB_DTYPE_F16); /* float: as stored */
		free(q);
		free(want);
		free(got);
		lutdb_ckpt_close(ck);
		lutdb_close(db);
	}
}
END_TEST

/* verify decodes every quantized block: a row whose scale is infinite
 * (checksums made to match, as a forger would) is corruption, named by its
 * table key; get refuses to print it. */
START_TEST(verify_decodes_scales)
{
	const fcase *c = find_case("mole_rep_f32");
	char src[4200], a[4200];
	size_t len;
	snprintf(src, sizeof src, "%s/ckpt", c->dir);
	snprintf(a, sizeof a, "%s/q8.lutdb", tmp);
	ck_assert_int_eq(pack_q(src, a, 0, LUTDB_DTYPE_Q8_0, 0, 0, NULL), LUTDB_OK);
	/* Token 0's row is the first of the first table record; find it in
	 * the file by its bytes. */
	lutdb_db *db = open_db(a);
	const lutdb_info *in = lutdb_get_info(db);
	uint32_t row_bytes = (uint32_t)in->token_row_bytes, page = in->page_size, elems = in->layer_row_elems;
	lutdb_row r;
	ck_assert_int_eq(lutdb_token_row(db, 0, 0, NULL, 0, &r), LUTDB_OK);
	uint8_t *first = malloc(row_bytes);
	memcpy(first, r.data, row_bytes);
	lutdb_close(db);
	uint8_t *file = read_all(a, &len);
	uint8_t *at = memmem(file, len, first, row_bytes);
	ck_assert_ptr_nonnull(at);
	uint8_t *rec = at - (page - 16);
	ck_assert(!memcmp(rec, "LTBL", 4));
	/* Block 5's scale := +infinity (F16 0x7C00); reseal row and header. */
	at[5 * 34] = 0x00;
	at[5 * 34 + 1] = 0x7C;
	uint64_t sum;
	uint32_t off, ln;
	lutdb_rec prec;
	lutdb_table_hdr th;
	/* The record's own length: header + payload from its prefix. */
	uint64_t plen;
	memcpy(&plen, rec + 16, 8);
	ck_assert_int_eq(lutdb_rec_parse(rec, (size_t)(page - 16 + plen), &prec), LUTDB_OK);
	ck_assert_int_eq(lutdb_table_hdr_parse(&prec, &th), LUTDB_OK);
	lutdb_table_entry_get(&th, 0, &sum, &off, &ln);
	lutdb_table_entry_set(rec, 0, lutdb_xxh3(at, row_bytes), off, ln);
	lutdb_rec_seal(rec, page - 16, (size_t)(page - 16 + plen), LUTDB_REC_TABLE);
	write_all(a, file, len);
	free(file);
	free(first);
	db = open_db(a);
	int rc = lutdb_verify(db, NULL, NULL);
	ck_assert_msg(rc == LUTDB_ECORRUPT, "verify: %d %s", rc, lutdb_errdetail());
	ck_assert_msg(strstr(lutdb_errdetail(), "table key (layer 0, token 0)") && strstr(lutdb_errdetail(), "block 5"),
		      "%s", lutdb_errdetail());
	float *v = malloc(2 * elems * sizeof *v);
	ck_assert_int_eq(lutdb_token_row(db, 0, 0, NULL, 0, &r), LUTDB_OK); /* the bytes are intact */
	ck_assert_int_eq(lutdb_decode_f32(r.dtype, 32, r.data, r.nelems, v), LUTDB_ECORRUPT);
	free(v);
	lutdb_close(db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pack-quant");
	TCase *tc = tcase_create("fixtures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, pack_bytes_equal_reference);
	tcase_add_test(tc, quantize_equals_pack);
	tcase_add_test(tc, quantize_manifest_and_keep);
	tcase_add_test(tc, sizes_and_versions);
	tcase_add_test(tc, bad_options);
	tcase_add_test(tc, overrides_and_lz4);
	tcase_add_test(tc, export_dequantized);
	tcase_add_test(tc, verify_decodes_scales);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
