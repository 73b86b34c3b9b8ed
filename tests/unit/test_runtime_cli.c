/*
 * test_runtime_cli.c - the lutdb run / lutdb eval commands (LUTDB_BIN) on
 * the reference fixtures (LUTDB_FIXTURES): greedy ids and eval loss of every
 * case, --dump-logits rows, eos, seeded sampling across thread counts, and
 * one-line errors for bad input, context overflow and a damaged database.
 */
#include <stdarg.h>
#include <sys/wait.h>

#include "kernels.h"
#include "runtime_big.h"

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

static Suite *suite(void)
{
	Suite *s = suite_create("runtime-cli");
	TCase *tl = tcase_create("cli");
	tcase_set_timeout(tl, 600);
	tcase_add_test(tl, cli_run_greedy_every_case);
	tcase_add_test(tl, cli_run_dump_and_counts);
	tcase_add_test(tl, cli_run_eos_and_sampling);
	tcase_add_test(tl, cli_bad_input);
	tcase_add_test(tl, cli_eval_every_case);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	/* The CLI children run this process's kernels, so that their logits
	 * can be compared bitwise with in-process ones: the ISAs reduce in
	 * different orders, and under valgrind (no AVX-512) this process runs
	 * AVX2 while a native child would pick AVX-512. */
	setenv("LUTDB_ISA", lk_isa_name(lk_isa_active()), 1);
	return run_runtime_suite(suite());
}
