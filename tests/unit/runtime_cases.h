/* runtime_cases.h - fixture cases, packing and engine helpers for the test_runtime*.c suites (header-only). */
#ifndef LUTDB_RUNTIME_CASES_H
#define LUTDB_RUNTIME_CASES_H

#include <jansson.h>
#include <math.h>

#include "lutdb.h"
#include "record.h"
#include "lutdb_pack.h"
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
static char tmpdir[4096]; /* per process: run_runtime_suite makes and removes it */

static inline void load_cases(void)
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

static inline const char *ms(const fcase *c, const char *k)
{
	const char *v = json_string_value(json_object_get(c->meta, k));
	return v ? v : "";
}

static inline int is_train(const fcase *c)
{
	return !strncmp(ms(c, "form"), "train", 5);
}

/* Has an F16 rep form to test: training cases (ref/rep_ckpt) and F16 rep cases. */
static inline int has_rep16(const fcase *c)
{
	return is_train(c) || !strcmp(ms(c, "dtype"), "F16");
}

static inline void ref_path(const fcase *c, const char *file, char *out, size_t n)
{
	snprintf(out, n, "%s/ref/%s", c->dir, file);
}

static inline size_t load_ids(const char *path, uint32_t *ids)
{
	size_t len;
	char *t = read_all(path, &len);
	size_t n = parse_ids(t, ids, MAXIDS);
	free(t);
	return n;
}

static inline float *load_f32(const char *path, size_t *n)
{
	size_t len;
	float *v = read_all(path, &len);
	*n = len / 4;
	return v;
}

static inline double load_loss(const char *path, long *tokens)
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
static inline void packed(const fcase *c, const char *sub, int dtype, int codec, const char *kind, char *out,
			  size_t n)
{
	char src[4200];
	snprintf(out, n, "%s/%s.%s.lutdb", tmpdir, c->name, kind);
	if (file_exists(out))
		return;
	lutdb_pack_opts o = {.size = sizeof o, .dtype = dtype, .codec = codec, .threads = 2};
	snprintf(src, sizeof src, "%s/%s", c->dir, sub);
	int rc = lutdb_pack(src, out, &o);
	ck_assert_msg(rc == LUTDB_OK, "%s: pack %s failed: %s (%s)", c->name, sub, lutdb_errdetail(),
		      lutdb_strerror(rc));
}

static inline void pack_f32(const fcase *c, char *out, size_t n)
{
	packed(c, "ckpt", LUTDB_DTYPE_F32, 0, "f32", out, n);
}

static inline void pack_rep16(const fcase *c, char *out, size_t n)
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

static inline void rt_open(rt *r, const char *path, int threads, uint32_t cap)
{
	lutdb_model_opts mo = {.size = sizeof mo, .threads = threads};
	lutdb_session_opts so = {.size = sizeof so, .capacity = cap};
	ck_assert_msg(lutdb_open(path, 0, &r->db) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	ck_assert_msg(lutdb_model_new(r->db, &mo, &r->m) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	ck_assert_msg(lutdb_session_new(r->m, &so, &r->s) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	r->V = lutdb_model_info(r->m)->vocab;
}

static inline void rt_close(rt *r)
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

static inline int collect_cb(void *ctx, uint32_t pos, const float *lg, uint32_t V)
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
static inline float *logits_of(rt *r, const uint32_t *ids, size_t n, size_t piece)
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

static inline double max_abs(const float *a, const float *b, size_t n)
{
	double w = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		if (!(d <= w))
			w = d;
	}
	return w;
}

static inline size_t greedy(rt *r, const uint32_t *prompt, size_t n, uint32_t max, uint32_t *out)
{
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = max};
	size_t got = 0;
	lutdb_session_reset(r->s);
	int rc = lutdb_generate(r->s, prompt, n, &go, out, &got, NULL);
	ck_assert_msg(rc == LUTDB_OK, "generate: %s (%s)", lutdb_errdetail(), lutdb_strerror(rc));
	return got;
}

/* ---- eos: a checkpoint copy with eos ids replaced ---------------------------- */
static inline void set_eos_json(const char *path, json_t *eos)
{
	json_t *j = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(j);
	json_object_set_new(j, "eos_token_id", eos);
	ck_assert_int_eq(json_dump_file(j, path, JSON_INDENT(2)), 0);
	json_decref(j);
}

/* Copies c's ckpt with eos replaced: config.json gets cfg_eos, and when
 * gen_eos is not NULL a generation_config.json gets gen_eos.  Packs it. */
static inline void pack_with_eos(const fcase *c, json_t *cfg_eos, json_t *gen_eos, const char *tag, char *db,
				 size_t n)
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
	lutdb_pack_opts o = {.size = sizeof o, .dtype = LUTDB_DTYPE_F32, .threads = 1};
	ck_assert_msg(lutdb_pack(dir, db, &o) == LUTDB_OK, "%s", lutdb_errdetail());
}

static inline const fcase *find_case(const char *name)
{
	load_cases();
	for (int k = 0; k < ncases; k++)
		if (!strcmp(cases[k].name, name))
			return &cases[k];
	ck_abort_msg("fixture case %s missing", name);
	return NULL;
}

/* Runs s with tmpdir a fresh scratch directory, removed afterwards. */
static inline int run_runtime_suite(Suite *s)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/lutdb-runtime-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	int rc = run_suite(s);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}

#endif
