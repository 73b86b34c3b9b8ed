/*
 * test_runtime_threads.c - engine properties on larger random models
 * (runtime_big.h: MoLE, MoLKV, MoLKV with a window; F32, F16, BF16, one table compressed;
 * quantized: Q4_0 weights with an NF4 table, Q8_0 weights with a Q8_0 table):
 * 1, 2 and 3 threads, prefill in pieces and one token at a time all give
 * bit-identical logits, sampled generation and eval; and the engine reads
 * weights and table rows in place (no copies); a damaged table row fails a
 * feed before any of its chunk's arithmetic.
 */
#include "engine_internal.h" /* white-box checks: pointers into the map */
#include "runtime_big.h"

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
	/* the quantized models are what they say */
	ck_assert_int_eq(lutdb_model_info(r1.m)->table_dtype, g->table_dtype ? g->table_dtype : g->dtype);
	if (g->weight_dtype) {
		lutdb_tensor t;
		ck_assert_int_eq(lutdb_tensor_get(r1.db, "model.layers.1.mlp.up_proj.weight", &t), LUTDB_OK);
		ck_assert_int_eq(t.dtype, g->weight_dtype);
	}
	float *a = logits_of(&r1, ids, n, 0), *b = logits_of(&r2, ids, n, 0), *c = logits_of(&r3, ids, n, 37),
	      *d = logits_of(&r2, ids, n, 1);
	size_t bytes = n * r1.V * sizeof(float);
	ck_assert_msg(!memcmp(a, b, bytes), "%s: 1 vs 2 threads differ by %g", g->tag, max_abs(a, b, n * r1.V));
	ck_assert_msg(!memcmp(a, c, bytes), "%s: 1 vs 3 threads differ by %g", g->tag, max_abs(a, c, n * r1.V));
	ck_assert_msg(!memcmp(a, d, bytes), "%s: prefill vs one by one differ by %g", g->tag,
		      max_abs(a, d, n * r1.V));
	/* sampled generation: same seed, same ids, any thread count */
	lutdb_sampling sp = {.size = sizeof sp, .temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = 7};
	lutdb_generate_opts go = {.size = sizeof go, .max_tokens = 8, .sampling = &sp, .ignore_eos = 1};
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
		ck_assert_ptr_eq((const void *)r.s->seq.token_rows[i], row.data);
	}
	ck_assert_ptr_null(r.s->seq.row_slots);
	ck_assert_ptr_null(r.s->pass.row_slots);
	rt_close(&r);
}
END_TEST

/* A damaged table row fails the feed before any of its chunk's arithmetic:
 * the chunk's rows are read and checked before layer 0 runs (rows.c), so
 * the error is the store's and nothing of the chunk reaches the KV cache.
 * The positions fed before are intact: after a reset the session decodes as
 * on an undamaged file. */
START_TEST(big_damaged_row_fails_before_arithmetic)
{
	const bigm *g = &bigs[_i]; /* codec none: the row's bytes are in the file */
	char db[4300], bad[4400];
	uint32_t good[4] = {5, 9, 100, 1000}, hit[4] = {3, 700, 1, 2};
	big_db(g, db, sizeof db);
	lutdb_db *h;
	lutdb_row row;
	unsigned char pat[64];
	ck_assert_int_eq(lutdb_open(db, 0, &h), LUTDB_OK);
	ck_assert_int_eq(lutdb_token_row(h, 700, 0, NULL, 0, &row), LUTDB_OK);
	memcpy(pat, (const unsigned char *)row.data + 256, sizeof pat);
	lutdb_close(h);
	size_t len;
	unsigned char *f = read_all(db, &len), *at = memmem(f, len, pat, sizeof pat);
	ck_assert_ptr_nonnull(at);
	at[10] ^= 0x40;
	snprintf(bad, sizeof bad, "%s.damaged", db);
	write_all(bad, f, len);
	free(f);

	rt r, ref;
	rt_open(&r, bad, 2, 0);
	rt_open(&ref, db, 2, 0);
	ck_assert_int_eq(lutdb_session_feed(r.s, good, 4, NULL, NULL), LUTDB_OK);
	const lutdb_model *m = r.m;
	float *keys = r.s->seq.key_cache + 4 * (size_t)m->kvd; /* layer 0, positions 4.. */
	size_t key_bytes = 4 * (size_t)m->kvd * sizeof(float);
	unsigned char *before = malloc(key_bytes);
	memset(keys, 0xa5, key_bytes);
	memcpy(before, keys, key_bytes);
	int rc = lutdb_session_feed(r.s, hit, 4, NULL, NULL);
	ck_assert_msg(rc == LUTDB_ECHECKSUM, "%s: %s (%s)", g->tag, lutdb_strerror(rc), lutdb_errdetail());
	ck_assert_msg(!memcmp(keys, before, key_bytes), "%s: layer 0 ran before the rows were checked", g->tag);
	ck_assert_uint_eq(lutdb_session_position(r.s), 4);
	ck_assert_int_eq(lutdb_session_feed(r.s, good, 1, NULL, NULL), LUTDB_EINVAL); /* failed: reset first */
	lutdb_session_reset(r.s);
	ck_assert_int_eq(lutdb_session_feed(r.s, good, 4, NULL, NULL), LUTDB_OK);
	ck_assert_int_eq(lutdb_session_feed(ref.s, good, 4, NULL, NULL), LUTDB_OK);
	ck_assert(!memcmp(lutdb_session_logits(r.s), lutdb_session_logits(ref.s), r.V * sizeof(float)));
	free(before);
	rt_close(&r);
	rt_close(&ref);
	unlink(bad);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("runtime-threads");
	TCase *tb = tcase_create("big");
	tcase_set_timeout(tb, 600);
	tcase_add_loop_test(tb, big_threads_bit_identical, 0, (int)(sizeof bigs / sizeof *bigs));
	tcase_add_test(tb, big_no_weight_copies);
	tcase_add_loop_test(tb, big_damaged_row_fails_before_arithmetic, 0, 2);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	return run_runtime_suite(suite());
}
