/*
 * test_untrusted_lists.c - long untrusted lists in JSON documents are
 * checked in O(n log n) or better, and their limits say which limit:
 *
 *   index     the checkpoint index's file list (sorted: 100,001 files are
 *             bad input at once), the files' order kept
 *   template  TemplateProcessing's pieces and special token ids
 *   merges    a merges list's shape checked before its map is made
 *   flooding  the tokenizer's maps seeded against keys crafted to collide
 */
#include "json_cases.h"
#include "time_scale.h"

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

/* The wall-clock bound of a check that once took 12 s: 5 s natively, times
 * LUTDB_TIME_SCALE under qemu (time_scale.h), where the slow path would take
 * as many times longer; none when instrumented. */
static int within_bound(double secs)
{
	return instrumented() || secs < 5.0 * time_scale();
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
	ck_assert_msg(within_bound(now_s() - t0), "took %.1f s", now_s() - t0);
	rm_rf(dir);
	free(dir);

	dir = ckpt_with_index(100000, 200000);
	a.dir = dir;
	t0 = now_s();
	o = in_child(ckpt_job, &a, 0);
	OUTCOME_IS(o, LUTDB_EBADINPUT, "f0.safetensors: missing weight file");
	ck_assert_msg(within_bound(now_s() - t0), "took %.1f s", now_s() - t0);
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
	ck_assert_msg(o.grew_kb <= parse_bound_kb(b.n), "%ld KB",
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
	ck_assert_msg(within_bound(now_s() - t0), "took %.1f s", now_s() - t0);
	free(b.p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lists");
	TCase *tc = tcase_create("lists");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, index_file_list);
	tcase_add_test(tc, index_file_order);
	tcase_add_test(tc, template_limits);
	tcase_add_test(tc, hash_flooding);
	tcase_add_test(tc, merges_shape_first);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
