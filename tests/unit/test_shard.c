/* test_shard.c - shards and manifests: split, read through, merge, refuse. */
#include <dlfcn.h>
#include <fcntl.h>
#include <jansson.h>
#include <xxhash.h>
#include <sys/wait.h>

#include "lutdb.h"
#include "lutdb_types.h"
#include "lutdb_pack.h"
#include "lutdb_runtime.h"
#include "testutil.h"
#include "time_scale.h"

static char *tmp;
static char single[4200];

/* This program's XXH3_createState() stands in for libxxhash's (the library
 * is linked statically, so its calls land here) and fails on request. */
static int fail_xxh3_state;
XXH3_state_t *XXH3_createState(void)
{
	if (fail_xxh3_state)
		return NULL;
	XXH3_state_t *(*real)(void) = (XXH3_state_t * (*)(void)) dlsym(RTLD_NEXT, "XXH3_createState");
	ck_assert_ptr_nonnull(real);
	return real();
}

/* Likewise umask(), which counts the library's calls. */
static int umask_calls;
mode_t umask(mode_t mask)
{
	umask_calls++;
	mode_t (*real)(mode_t) = (mode_t(*)(mode_t))dlsym(RTLD_NEXT, "umask");
	ck_assert_ptr_nonnull(real);
	return real(mask);
}

/* Likewise renameat2(), which can play a file system without
 * RENAME_NOREPLACE. */
static int no_renameat2;
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	if (no_renameat2) {
		errno = EINVAL;
		return -1;
	}
	int (*real)(int, const char *, int, const char *, unsigned) =
		(int (*)(int, const char *, int, const char *, unsigned))dlsym(RTLD_NEXT, "renameat2");
	ck_assert_ptr_nonnull(real);
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

static void pack_case(const char *name, const char *out, const lutdb_shard_opts *so)
{
	char src[4200];
	lutdb_pack_opts o = {.size = sizeof o, .threads = 2, .shards = so};
	snprintf(src, sizeof src, "%s/%s/ckpt", fixtures_dir(), name);
	int rc = lutdb_pack(src, out, &o);
	ck_assert_msg(rc == LUTDB_OK, "pack %s: %s", name, lutdb_errdetail());
}

static void setup(void)
{
	tmp = scratch_dir();
	snprintf(single, sizeof single, "%s/single.lutdb", tmp);
	pack_case("mole_train_sharded", single, NULL); /* L 3, V 300, BF16 source */
}

static void teardown(void)
{
	rm_rf(tmp);
	free(tmp);
}

static lutdb_db *open_ok(const char *p)
{
	lutdb_db *db;
	int rc = lutdb_open(p, 0, &db);
	ck_assert_msg(rc == LUTDB_OK, "open %s: %s (%s)", p, lutdb_errdetail(), lutdb_strerror(rc));
	return db;
}

static void shard_ok(const char *src, const char *dir, uint32_t count, uint64_t max, int by_layer)
{
	lutdb_db *db = open_ok(src);
	lutdb_shard_opts o = {sizeof o, count, max, by_layer};
	int rc = lutdb_shard(db, dir, &o, NULL, NULL);
	ck_assert_msg(rc == LUTDB_OK, "shard: %s", lutdb_errdetail());
	lutdb_close(db);
}

/* Every row (whole and per layer) and tensor of b equals a's, byte for byte. */
static void same_content(lutdb_db *a, lutdb_db *b)
{
	const lutdb_info *ia = lutdb_get_info(a), *ib = lutdb_get_info(b);
	ck_assert_int_eq(ia->vocab, ib->vocab);
	ck_assert_int_eq(ia->layers, ib->layers);
	ck_assert_uint_eq(ia->token_row_bytes, ib->token_row_bytes);
	size_t rb = ia->token_row_bytes, lb = rb / ia->layers;
	void *sa = malloc(rb), *sb = malloc(rb);
	for (uint32_t t = 0; t < ia->vocab; t++) {
		lutdb_row ra, rb_;
		ck_assert_int_eq(lutdb_token_row(a, t, 0, sa, rb, &ra), LUTDB_OK);
		ck_assert_int_eq(lutdb_token_row(b, t, 0, sb, rb, &rb_), LUTDB_OK);
		ck_assert_int_eq(memcmp(ra.data, rb_.data, rb), 0);
		for (uint32_t l = 0; l < ia->layers; l++) {
			ck_assert_int_eq(lutdb_layer_row(b, l, t, 0, sb, rb, &rb_), LUTDB_OK);
			ck_assert_int_eq(memcmp((const uint8_t *)ra.data + l * lb, rb_.data, lb), 0);
		}
	}
	ck_assert_uint_eq(lutdb_tensor_count(a), lutdb_tensor_count(b));
	for (size_t i = 0; i < lutdb_tensor_count(a); i++) {
		lutdb_tensor ta, tb;
		ck_assert_int_eq(lutdb_tensor_at(a, i, &ta), LUTDB_OK);
		ck_assert_int_eq(lutdb_tensor_get(b, ta.name, &tb), LUTDB_OK);
		ck_assert_uint_eq(ta.nbytes, tb.nbytes);
		ck_assert_int_eq(memcmp(ta.data, tb.data, ta.nbytes), 0);
	}
	free(sa);
	free(sb);
}

START_TEST(token_and_layer_splits_read_identically)
{
	static const struct { uint32_t count; int by_layer; } v[] = {{1, 0}, {2, 0}, {3, 0}, {7, 0}, {2, 1}, {3, 1}};
	lutdb_db *a = open_ok(single);
	for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
		char dir[4300], man[4400];
		snprintf(dir, sizeof dir, "%s/s%zu", tmp, k);
		snprintf(man, sizeof man, "%s/manifest.json", dir);
		shard_ok(single, dir, v[k].count, 0, v[k].by_layer);
		lutdb_db *b = open_ok(man);
		ck_assert_int_eq(lutdb_get_info(b)->shard_count, v[k].count);
		ck_assert_int_eq(lutdb_verify(b, NULL, NULL), LUTDB_OK);
		same_content(a, b);
		lutdb_close(b);
		/* Each shard file verifies on its own. */
		char f[4400];
		snprintf(f, sizeof f, "%s/model-%05u-of-%05u.lutdb", dir, v[k].count, v[k].count);
		lutdb_db *s = open_ok(f);
		ck_assert_int_eq(lutdb_verify(s, NULL, NULL), LUTDB_OK);
		lutdb_close(s);
	}
	lutdb_close(a);
}
END_TEST

START_TEST(merge_gives_back_the_original)
{
	char dir[4300], man[4400], merged[4300];
	snprintf(dir, sizeof dir, "%s/s", tmp);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	snprintf(merged, sizeof merged, "%s/merged.lutdb", tmp);
	shard_ok(single, dir, 3, 0, 1);
	lutdb_db *m = open_ok(man);
	ck_assert_int_eq(lutdb_merge(m, merged, NULL, NULL), LUTDB_OK);
	lutdb_close(m);
	lutdb_db *a = open_ok(single), *b = open_ok(merged);
	ck_assert_int_eq(lutdb_verify(b, NULL, NULL), LUTDB_OK);
	ck_assert_int_eq(memcmp(lutdb_get_info(a)->digest, lutdb_get_info(b)->digest, 16), 0);
	ck_assert_int_eq(lutdb_get_info(b)->shard_count, 1);
	same_content(a, b);
	lutdb_close(a);
	lutdb_close(b);
}
END_TEST

START_TEST(one_token_per_shard_and_limits)
{
	char dir[4300];
	lutdb_db *a = open_ok(single);
	const lutdb_info *in = lutdb_get_info(a);
	lutdb_shard_opts o = {.size = sizeof o};

	/* More shards than layers (by layer) or tokens: clear errors. */
	snprintf(dir, sizeof dir, "%s/x", tmp);
	o.count = in->layers + 1;
	o.by_layer = 1;
	ck_assert_int_eq(lutdb_shard(a, dir, &o, NULL, NULL), LUTDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(lutdb_errdetail(), "more shards than layers"));
	o.by_layer = 0;
	o.count = in->vocab + 1;
	ck_assert_int_eq(lutdb_shard(a, dir, &o, NULL, NULL), LUTDB_EINVAL);
	/* --max-size smaller than one token row. */
	o.count = 0;
	o.max_size = in->token_row_bytes / 2;
	ck_assert_int_eq(lutdb_shard(a, dir, &o, NULL, NULL), LUTDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(lutdb_errdetail(), "too small"));
	ck_assert(!file_exists(dir));
	/* One token per shard: V shards. */
	o.max_size = 0;
	o.count = in->vocab;
	ck_assert_int_eq(lutdb_shard(a, dir, &o, NULL, NULL), LUTDB_OK);
	char man[4400];
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	lutdb_db *b = open_ok(man);
	ck_assert_int_eq(lutdb_verify(b, NULL, NULL), LUTDB_OK);
	same_content(a, b);
	lutdb_close(b);
	lutdb_close(a);
}
END_TEST

START_TEST(max_size_is_respected)
{
	struct stat st;
	lutdb_db *a = open_ok(single);
	uint64_t total = lutdb_get_info(a)->file_bytes;
	lutdb_close(a);
	for (int by_layer = 0; by_layer < 2; by_layer++) {
		char dir[4300], man[4400];
		/* Layer shards carry every token of a layer: a coarser unit. */
		uint64_t max = by_layer ? total * 9 / 10 : total * 3 / 4;
		snprintf(dir, sizeof dir, "%s/m%d", tmp, by_layer);
		snprintf(man, sizeof man, "%s/manifest.json", dir);
		shard_ok(single, dir, 0, max, by_layer);
		lutdb_db *b = open_ok(man);
		uint32_t n = lutdb_get_info(b)->shard_count;
		ck_assert_uint_ge(n, 2);
		for (uint32_t i = 1; i <= n; i++) {
			char f[4500];
			snprintf(f, sizeof f, "%s/model-%05u-of-%05u.lutdb", dir, i, n);
			ck_assert_int_eq(stat(f, &st), 0);
			ck_assert_uint_le((uint64_t)st.st_size, max);
		}
		lutdb_close(b);
	}
}
END_TEST

static void expect_open_fails(const char *man, int code, const char *needle)
{
	lutdb_db *db = NULL;
	int rc = lutdb_open(man, 0, &db);
	ck_assert_msg(rc == code, "expected %d, got %d: %s", code, rc, lutdb_errdetail());
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(lutdb_errdetail(), needle), "'%s' not in '%s'", needle, lutdb_errdetail());
}

START_TEST(damaged_shard_sets_are_refused)
{
	char dir[4300], man[4400], f1[4400], f2[4400], t[4400], other[4300], odir[4300];
	snprintf(dir, sizeof dir, "%s/s", tmp);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	snprintf(f1, sizeof f1, "%s/model-00001-of-00003.lutdb", dir);
	snprintf(f2, sizeof f2, "%s/model-00002-of-00003.lutdb", dir);
	snprintf(t, sizeof t, "%s/t.lutdb", dir);
	shard_ok(single, dir, 3, 0, 0);
	/* Missing. */
	ck_assert_int_eq(rename(f2, t), 0);
	expect_open_fails(man, LUTDB_ENOENT, "model-00002-of-00003.lutdb is missing");
	/* Swapped. */
	ck_assert_int_eq(rename(f1, f2), 0);
	ck_assert_int_eq(rename(t, f1), 0);
	expect_open_fails(man, LUTDB_ESHARD, "swapped");
	ck_assert_int_eq(rename(f1, t), 0);
	ck_assert_int_eq(rename(f2, f1), 0);
	ck_assert_int_eq(rename(t, f2), 0);
	lutdb_db *ok = open_ok(man);
	lutdb_close(ok);
	/* Foreign: the same model packed again has another pack id. */
	snprintf(other, sizeof other, "%s/other.lutdb", tmp);
	snprintf(odir, sizeof odir, "%s/o", tmp);
	pack_case("mole_train_sharded", other, NULL);
	shard_ok(other, odir, 3, 0, 0);
	char of2[4400], cmd[9000];
	snprintf(of2, sizeof of2, "%s/model-00002-of-00003.lutdb", odir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s.bak' && cp '%s' '%s'", f2, f2, of2, f2);
	ck_assert_int_eq(system(cmd), 0);
	expect_open_fails(man, LUTDB_ESHARD, "foreign");
	snprintf(cmd, sizeof cmd, "mv '%s.bak' '%s'", f2, f2);
	ck_assert_int_eq(system(cmd), 0);
	/* Truncated. */
	struct stat st;
	ck_assert_int_eq(stat(f2, &st), 0);
	ck_assert_int_eq(truncate(f2, st.st_size - 4096), 0);
	expect_open_fails(man, LUTDB_ECORRUPT, "model-00002-of-00003.lutdb");
	/* A damaged manifest. */
	write_all(man, "{\"lutdb_manifest\": 1, \"split\": \"token\"}", 38);
	expect_open_fails(man, LUTDB_ECORRUPT, "manifest");
}
END_TEST

/* Writes a token-split manifest of n one-token shards (none of them on
 * disk) into dir/manifest.json; shard dup (if < n) repeats shard 0's name. */
static void write_big_manifest(const char *dir, const char *man, uint32_t n, uint32_t dup)
{
	size_t cap = 200 + (size_t)n * 160, len = 0;
	char *j = malloc(cap);
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	len += (size_t)snprintf(j + len, cap - len,
				"{\"lutdb_manifest\": 1, \"format\": \"1.0\", \"pack_id\": \"%032d\", "
				"\"split\": \"token\", \"vocab\": %u, \"layers\": 1, \"shards\": [", 0, n);
	for (uint32_t i = 0; i < n; i++)
		len += (size_t)snprintf(j + len, cap - len,
					"%s{\"file\": \"s%05u.lutdb\", \"bytes\": 1, \"digest\": \"%032d\", "
					"\"tokens\": [%u, %u], \"layers\": [0, 1]}",
					i ? ", " : "", i == dup ? 0 : i, 0, i, i + 1);
	len += (size_t)snprintf(j + len, cap - len, "]}");
	ck_assert_uint_lt(len, cap);
	write_all(man, j, len);
	free(j);
}

/* The duplicate-name check of a 65535-shard manifest (the format's cap) is
 * not quadratic: `lutdb info` reports the first missing shard at once
 * (it took about 5 s when every name was compared with every other). */
START_TEST(largest_manifest_is_checked_quickly)
{
	const char *bin = getenv("LUTDB_BIN");
	char dir[4300], man[4400], cmd[9400], out[4400];
	size_t len;

	ck_assert_msg(bin && *bin, "LUTDB_BIN is not set: run the suite through tests/run.sh");
	snprintf(dir, sizeof dir, "%s/big", tmp);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	snprintf(out, sizeof out, "%s/info.err", tmp);
	write_big_manifest(dir, man, 65535, UINT32_MAX);
	/* 3 s natively, times LUTDB_TIME_SCALE under qemu (time_scale.h): the
	 * quadratic check it guards against took about 5 s natively */
	const int secs = (int)(3.0 * time_scale() + 0.5);
	snprintf(cmd, sizeof cmd, "timeout %d '%s' info '%s' >/dev/null 2>'%s'", secs, bin, man, out);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 124, "lutdb info did not finish within %d s", secs);
	ck_assert_int_eq(WEXITSTATUS(st), 6); /* LUTDB_ENOENT */
	char *err = read_all(out, &len);
	ck_assert_msg(strstr(err, "shard s00000.lutdb is missing") && strchr(err, '\n') == err + len - 1,
		      "expected one line naming the missing shard, got: %s", err);
	free(err);
	/* Duplicates are still found, however far apart. */
	snprintf(dir, sizeof dir, "%s/dup", tmp);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	write_big_manifest(dir, man, 65535, 65534);
	expect_open_fails(man, LUTDB_ECORRUPT, "shard file s00000.lutdb is listed twice");
}
END_TEST

/* Opening a set computes its digest over the shards'; a refused hash state
 * is LUTDB_ENOMEM, not a crash. */
START_TEST(hash_state_refused_is_enomem)
{
	char dir[4300], man[4400];
	lutdb_db *db = (lutdb_db *)&db;
	snprintf(dir, sizeof dir, "%s/s", tmp);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	shard_ok(single, dir, 2, 0, 0);
	fail_xxh3_state = 1;
	int rc = lutdb_open(man, 0, &db);
	fail_xxh3_state = 0;
	ck_assert_int_eq(rc, LUTDB_ENOMEM);
	ck_assert_ptr_null(db);
	lutdb_close(open_ok(man));
}
END_TEST

/* The library speaks of its API (the shard options' fields), never of the
 * command line's flags: a program calling it has no --count. */
START_TEST(errors_name_options_not_cli_flags)
{
	char dir[4300];
	lutdb_db *a = open_ok(single);
	const lutdb_info *in = lutdb_get_info(a);
	const lutdb_shard_opts bad[] = {
		{sizeof *bad, in->layers + 1, 0, 1},           /* more shards than layers */
		{sizeof *bad, 5000, 0, 0},                     /* more shards than written at once */
		{sizeof *bad, 0, in->token_row_bytes / 2, 0},  /* max_size below one row */
		{sizeof *bad, 2, 1u << 30, 0},                 /* both count and max_size */
		{sizeof *bad, 0, 0, 0},                        /* neither */
	};

	snprintf(dir, sizeof dir, "%s/x", tmp);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_int_eq(lutdb_shard(a, dir, &bad[i], NULL, NULL), LUTDB_EINVAL);
		ck_assert_msg(*lutdb_errdetail() && !strstr(lutdb_errdetail(), "--"),
			      "options #%zu: detail names a CLI flag or nothing: '%s'", i, lutdb_errdetail());
	}
	ck_assert(!file_exists(dir));
	lutdb_close(a);
}
END_TEST

typedef struct squatter {
	const char *out;
	int as_dir, done;
} squatter;

/* Progress callback that creates OUTDIR (an empty directory or a file) while
 * lutdb_shard is still writing. */
static int squat(void *ctx, uint64_t done, uint64_t total)
{
	squatter *q = ctx;
	if (!q->done++) {
		if (q->as_dir)
			ck_assert_int_eq(mkdir(q->out, 0777), 0);
		else
			write_all(q->out, "precious", 8);
	}
	return 0;
}

/* OUTDIR created by someone else after lutdb_shard started is never
 * replaced: the commit fails with LUTDB_EEXIST and leaves it as it is. */
START_TEST(outdir_created_meanwhile_is_kept)
{
	char out[4300], cmd[4500];
	lutdb_db *a = open_ok(single);
	lutdb_shard_opts o = {.size = sizeof o, .count = 2};

	for (int as_dir = 0; as_dir < 2; as_dir++) {
		snprintf(out, sizeof out, "%s/out%d", tmp, as_dir);
		squatter q = {out, as_dir, 0};
		ck_assert_int_eq(lutdb_shard(a, out, &o, squat, &q), LUTDB_EEXIST);
		ck_assert_int_ge(q.done, 1);
		if (as_dir) {
			snprintf(cmd, sizeof cmd, "test -d '%s' && test -z \"$(ls -A '%s')\"", out, out);
			ck_assert_msg(system(cmd) == 0, "the empty directory was replaced");
		} else {
			size_t len;
			char *got = read_all(out, &len);
			ck_assert_str_eq(got, "precious");
			free(got);
		}
		snprintf(cmd, sizeof cmd, "test -z \"$(ls -d '%s'.tmp.* 2>/dev/null)\"", out);
		ck_assert_msg(system(cmd) == 0, "the temporary directory was left behind");
	}
	/* Without RENAME_NOREPLACE, rename(2) still refuses to put a directory
	 * over a file. */
	snprintf(out, sizeof out, "%s/out2", tmp);
	squatter q = {out, 0, 0};
	no_renameat2 = 1;
	int rc = lutdb_shard(a, out, &o, squat, &q);
	no_renameat2 = 0;
	ck_assert_int_eq(rc, LUTDB_EEXIST);
	size_t len;
	char *got = read_all(out, &len);
	ck_assert_str_eq(got, "precious");
	free(got);
	lutdb_close(a);
}
END_TEST

/* The shard directory and its files have the modes the umask gives, and the
 * library never calls umask() to learn it. */
START_TEST(shard_modes_follow_umask_untouched)
{
	char dir[4300], f[4400];
	struct stat st;
	snprintf(dir, sizeof dir, "%s/s", tmp);
	umask(027);
	umask_calls = 0;
	shard_ok(single, dir, 2, 0, 0);
	ck_assert_int_eq(umask_calls, 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0750);
	snprintf(f, sizeof f, "%s/manifest.json", dir);
	ck_assert_int_eq(stat(f, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	snprintf(f, sizeof f, "%s/model-00002-of-00002.lutdb", dir);
	ck_assert_int_eq(stat(f, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	umask(022);
}
END_TEST

START_TEST(pack_straight_into_shards)
{
	char dir[4300], man[4400];
	lutdb_shard_opts o = {.size = sizeof o, .count = 2, .by_layer = 1};
	snprintf(dir, sizeof dir, "%s/p", tmp);
	snprintf(man, sizeof man, "%s/manifest.json", dir);
	pack_case("mole_train_sharded", dir, &o);
	lutdb_db *a = open_ok(single), *b = open_ok(man);
	ck_assert_int_eq(lutdb_verify(b, NULL, NULL), LUTDB_OK);
	same_content(a, b);
	lutdb_close(a);
	lutdb_close(b);
	/* Packing into an existing non-empty directory is refused, untouched. */
	o.by_layer = 0;
	char src[4200];
	lutdb_pack_opts po = {.size = sizeof po, .shards = &o};
	snprintf(src, sizeof src, "%s/mole_train_sharded/ckpt", fixtures_dir());
	ck_assert_int_eq(lutdb_pack(src, dir, &po), LUTDB_EEXIST);
	ck_assert(file_exists(man));
}
END_TEST

/* Decoding through a manifest gives the same logits, bit for bit. */
START_TEST(logits_through_manifest_are_identical)
{
	static const uint32_t prompt[] = {1, 17, 200, 5, 99, 42};
	for (int by_layer = 0; by_layer < 2; by_layer++) {
		char dir[4300], man[4400];
		snprintf(dir, sizeof dir, "%s/r%d", tmp, by_layer);
		snprintf(man, sizeof man, "%s/manifest.json", dir);
		shard_ok(single, dir, 3, 0, by_layer);
		float *logits[2];
		const char *paths[2] = {single, man};
		uint32_t V = 0;
		for (int k = 0; k < 2; k++) {
			lutdb_db *db = open_ok(paths[k]);
			lutdb_model *m;
			lutdb_session *s;
			ck_assert_msg(lutdb_model_new(db, NULL, &m) == LUTDB_OK, "%s", lutdb_errdetail());
			ck_assert_int_eq(lutdb_session_new(m, NULL, &s), LUTDB_OK);
			ck_assert_msg(lutdb_session_feed(s, prompt, 6, NULL, NULL) == LUTDB_OK, "%s", lutdb_errdetail());
			V = lutdb_get_info(db)->vocab;
			logits[k] = malloc(V * sizeof(float));
			memcpy(logits[k], lutdb_session_logits(s), V * sizeof(float));
			lutdb_session_free(s);
			lutdb_model_free(m);
			lutdb_close(db);
		}
		ck_assert_int_eq(memcmp(logits[0], logits[1], V * sizeof(float)), 0);
		free(logits[0]);
		free(logits[1]);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("shard");
	TCase *tc = tcase_create("shard");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, token_and_layer_splits_read_identically);
	tcase_add_test(tc, merge_gives_back_the_original);
	tcase_add_test(tc, one_token_per_shard_and_limits);
	tcase_add_test(tc, max_size_is_respected);
	tcase_add_test(tc, damaged_shard_sets_are_refused);
	tcase_add_test(tc, pack_straight_into_shards);
	tcase_add_test(tc, logits_through_manifest_are_identical);
	tcase_add_test(tc, largest_manifest_is_checked_quickly);
	tcase_add_test(tc, hash_state_refused_is_enomem);
	tcase_add_test(tc, errors_name_options_not_cli_flags);
	tcase_add_test(tc, outdir_created_meanwhile_is_kept);
	tcase_add_test(tc, shard_modes_follow_umask_untouched);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
