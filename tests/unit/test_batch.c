/*
 * test_batch.c - batched decoding (lutdb_batch, lutdb_runtime.h).
 *
 * Batch invariance: 32 random sequences per model (prompts, greedy or
 * seeded sampling, capacities they fill, stop ids, eos ignored or not,
 * prompt logits) are run alone with lutdb_generate, then in batches of
 * 1..32 random partners with random join times, fewer slots than
 * sequences now and then (joins wait for a free slot), prompts fed in
 * chunks of 1..64 ids between the running sequences' steps, on 1 and 2
 * threads: every id, every logits row (bitwise) and every finish reason is
 * the run alone's, and every running sequence gets an id at every step
 * (batch_util.h).  Models: every fixture case packed as F32, as its F16 rep
 * form, and as BF16 with a compressed table (lz4 / shuffle-lz4), and the
 * three larger random models of runtime_big.h (MoLE F32; MoLKV F16; MoLKV
 * BF16, windowed, compressed) with prompts longer than a chunk.
 * LUTDB_TEST_QUICK (the runs under qemu): the same 32 sequences per
 * fixture model in batches of 2, 8 and 32, each on one thread count in
 * turn (2, 1, 2), each fixture case packed as F32 plus one of its F16 and
 * BF16 forms in turn; the big models 8 sequences in batches of 3 and 8:
 * every path, a fifth of the runs or less.
 *
 * Then: cancellation (between steps, from the callback, from another
 * thread) leaves the others alone and frees the slot; capacity, stop ids,
 * max_tokens 0 and prompt logits; a long prompt interleaved with running
 * sequences; a damaged table row ends only its sequence; every input error
 * of join, the options' sizes, and the callback's limits.
 */
#include <pthread.h>

#include "batch_util.h"
#include "kernels_util.h"

/* A database with models of 1 and 2 threads. */
typedef struct bmod {
	lutdb_db *db;
	lutdb_model *m1, *m2;
	uint32_t V, max_pos;
} bmod;

static void bmod_open(bmod *x, const char *path)
{
	lutdb_model_opts o1 = {.size = sizeof o1, .threads = 1}, o2 = {.size = sizeof o2, .threads = 2};
	ck_assert_msg(lutdb_open(path, 0, &x->db) == LUTDB_OK, "%s: %s", path, lutdb_errdetail());
	ck_assert_int_eq(lutdb_model_new(x->db, &o1, &x->m1), LUTDB_OK);
	ck_assert_int_eq(lutdb_model_new(x->db, &o2, &x->m2), LUTDB_OK);
	ck_assert_int_eq(lutdb_model_threads(x->m2), 2);
	x->V = lutdb_model_info(x->m1)->vocab;
	x->max_pos = lutdb_model_info(x->m1)->max_position;
}

static void bmod_close(bmod *x)
{
	lutdb_model_free(x->m1);
	lutdb_model_free(x->m2);
	lutdb_close(x->db);
}

/* ---- batch invariance ------------------------------------------------------------ */
#define NSPEC 32
static bspec specs[NSPEC];

/* The random sequences of db run alone, then in batches of sizes[] (at
 * most NSPEC; under memcheck, and for the big models in quick mode, only as
 * many sequences as the largest). */
static void invariance(const char *tag, const char *db, uint64_t seed, uint32_t max_prompt, uint32_t max_gen,
		       const int *sizes, int nsizes)
{
	int nspec = 0;
	for (int i = 0; i < nsizes; i++)
		nspec = sizes[i] > nspec ? sizes[i] : nspec;
	if (!under_valgrind() && !(test_quick() && max_prompt > 64))
		nspec = NSPEC;
	static const uint32_t prefills[] = {0, 1, 3, 8};
	bmod x;
	brun runs[NSPEC];
	char tags[NSPEC][128];
	int perm[NSPEC], nruns = 0, nseqs = 0;
	size_t nids = 0;

	int finishes[LUTDB_FINISH_ERROR + 1] = {0}, sampled = 0;
	bmod_open(&x, db);
	brs = seed;
	for (int i = 0; i < nspec; i++) {
		random_spec(&specs[i], x.V, x.max_pos, max_prompt, max_gen);
		solo_run(x.m1, &specs[i]);
		if (specs[i].n_ids > 1 && !brand(4)) { /* a stop id it meets */
			specs[i].stop[specs[i].n_stop++] = specs[i].ids[1 + brand((uint32_t)specs[i].n_ids - 1)];
			solo_run(x.m1, &specs[i]);
		}
		finishes[specs[i].finish]++;
		sampled += specs[i].sampling.temperature > 0;
	}
	for (int si = 0; si < nsizes; si++) {
		/* quick: one thread count per size, 2 and 1 in turn */
		int t_lo = test_quick() ? 2 - si % 2 : 1, t_hi = test_quick() ? t_lo : 2;
		for (int threads = t_lo; threads <= t_hi; threads++) {
			const int B = sizes[si];
			for (int i = 0; i < nspec; i++)
				perm[i] = i;
			for (int i = 0; i < B; i++) { /* B random partners */
				int j = i + (int)brand((uint32_t)(nspec - i)), t = perm[i];
				perm[i] = perm[j];
				perm[j] = t;
			}
			for (int i = 0; i < B; i++) {
				snprintf(tags[i], sizeof tags[i], "%s: batch of %d, %d threads, seq %d", tag, B,
					 threads, perm[i]);
				runs[i] = (brun){.s = &specs[perm[i]], .join_at = (int)brand(12), .tag = tags[i]};
			}
			bconf c = {.max_seqs = (uint32_t)(B > 2 && !brand(3) ? B - B / 3 : B),
				   .prefill_tokens = prefills[brand(4)]};
			run_batch(threads == 1 ? x.m1 : x.m2, runs, B, &c);
			nruns++;
			nseqs += B;
			for (int i = 0; i < B; i++)
				nids += runs[i].n_ids;
		}
	}
	printf("invariance %-28s %d batches, %d sequences, %zu ids bit-identical to alone; of the %d: %d sampled, "
	       "finished eos %d, stop id %d, length %d, context %d\n",
	       tag, nruns, nseqs, nids, nspec, sampled, finishes[LUTDB_FINISH_EOS], finishes[LUTDB_FINISH_STOP_ID],
	       finishes[LUTDB_FINISH_LENGTH], finishes[LUTDB_FINISH_CONTEXT]);
	for (int i = 0; i < nspec; i++) {
		free(specs[i].logits);
		specs[i].logits = NULL;
	}
	bmod_close(&x);
}

START_TEST(invariance_fixtures)
{
	static const int full_sizes[] = {1, 2, 3, 5, 8, 13, 16, 24, 32};
	static const int vg_sizes[] = {3, 8}, quick_sizes[] = {2, 8, 32};
	const int vg = under_valgrind(), quick = test_quick();
	const int *sizes = quick ? quick_sizes : full_sizes, nsizes = quick ? 3 : 9;
	char db[4300], tag[128];

	load_cases();
	ck_assert_int_lt(_i, ncases);
	const fcase *c = &cases[_i];
	/* F32, with the reference's third greedy id as eos: one the model
	 * likes, so that sequences meet it */
	uint32_t want[MAXIDS];
	char p[4300];
	ref_path(c, "greedy.ids", p, sizeof p);
	ck_assert_uint_ge(load_ids(p, want), 3);
	pack_with_eos(c, json_integer(want[2]), NULL, "eos", db, sizeof db);
	snprintf(tag, sizeof tag, "%s f32 eos %u", c->name, want[2]);
	invariance(tag, db, 1000 + (uint64_t)_i, 24, 16, vg ? vg_sizes : sizes, vg ? 2 : nsizes);
	if (vg)
		return;
	/* quick: the F16 form on even cases that have one, BF16 on the rest */
	int f16_turn = !quick || _i % 2 == 0, bf16_turn = !quick || _i % 2 == 1 || !has_rep16(c);
	if (has_rep16(c) && f16_turn) {
		pack_rep16(c, db, sizeof db);
		snprintf(tag, sizeof tag, "%s rep16", c->name);
		invariance(tag, db, 2000 + (uint64_t)_i, 24, 16, sizes, nsizes);
	}
	if (bf16_turn) {
		/* both codecs: quick mode's BF16 turns are mostly the odd cases */
		const int codec = quick ? 1 + (_i / 2) % 2 : 1 + _i % 2;
		packed(c, "ckpt", LUTDB_DTYPE_BF16, codec, "bf16z", db, sizeof db);
		snprintf(tag, sizeof tag, "%s bf16 codec %d", c->name, codec);
		invariance(tag, db, 3000 + (uint64_t)_i, 24, 16, sizes, nsizes);
	}
}
END_TEST

START_TEST(invariance_big)
{
	static const int sizes[] = {2, 5, 16, 32}, vg_sizes[] = {4}, quick_sizes[] = {3, 8};
	const int vg = under_valgrind(), quick = test_quick();
	char db[4300];

	big_db(&bigs[_i], db, sizeof db);
	invariance(bigs[_i].tag, db, 4000 + (uint64_t)_i, 150, 24, vg ? vg_sizes : quick ? quick_sizes : sizes,
		   vg ? 1 : quick ? 2 : 4);
}
END_TEST

/* ---- targeted runs ------------------------------------------------------------------ */
/* The greedy spec of prompt ids from seed, alone on m. */
static void greedy_spec(bspec *s, lutdb_model *m, uint32_t n, uint32_t cap, uint32_t max_tokens, uint64_t seed)
{
	uint32_t V = lutdb_model_info(m)->vocab;
	memset(s, 0, sizeof *s);
	brs = seed;
	s->n = n;
	for (uint32_t i = 0; i < n; i++)
		s->prompt[i] = brand(V);
	s->cap = cap;
	s->max_tokens = max_tokens;
	s->ignore_eos = 1;
	s->sampling.size = sizeof s->sampling;
	solo_run(m, s);
}

/* A sequence's capacity ends it (the last id that fits is output, as
 * lutdb_generate does), a stop id ends it, max_tokens 0 feeds only the
 * prompt, a prompt that fills the capacity gets one id; prompt logits come
 * in position order. */
START_TEST(capacity_stop_and_prompt_logits)
{
	const fcase *c = find_case("molkv_window");
	char db[4300];
	bmod x;
	bspec s[5];
	brun runs[5];

	pack_f32(c, db, sizeof db);
	bmod_open(&x, db);
	greedy_spec(&s[0], x.m1, 5, 8, 20, 11); /* room for 4 ids */
	ck_assert_int_eq(s[0].finish, LUTDB_FINISH_CONTEXT);
	ck_assert_uint_eq(s[0].n_ids, 4);
	greedy_spec(&s[1], x.m1, 6, 32, 12, 12);
	ck_assert_uint_ge(s[1].n_ids, 5);
	uint32_t k = 2; /* stop at the first id not seen before it */
	while (k < s[1].n_ids && (s[1].ids[k] == s[1].ids[0] || s[1].ids[k] == s[1].ids[1]))
		k++;
	ck_assert_uint_lt(k, s[1].n_ids);
	s[1].stop[s[1].n_stop++] = s[1].ids[k];
	solo_run(x.m1, &s[1]);
	ck_assert_int_eq(s[1].finish, LUTDB_FINISH_STOP_ID);
	ck_assert_uint_eq(s[1].n_ids, k + 1);
	greedy_spec(&s[2], x.m1, 7, 32, 0, 13);
	s[2].flags = LUTDB_SEQ_PROMPT_LOGITS;
	ck_assert_int_eq(s[2].finish, LUTDB_FINISH_LENGTH);
	ck_assert_uint_eq(s[2].n_ids, 0);
	greedy_spec(&s[3], x.m1, 6, 6, 9, 14); /* the prompt fills it */
	ck_assert_int_eq(s[3].finish, LUTDB_FINISH_CONTEXT);
	ck_assert_uint_eq(s[3].n_ids, 1);
	greedy_spec(&s[4], x.m1, 9, 32, 5, 15);
	s[4].flags = LUTDB_SEQ_PROMPT_LOGITS;
	ck_assert_int_eq(s[4].finish, LUTDB_FINISH_LENGTH);
	for (int i = 0; i < 5; i++)
		runs[i] = (brun){.s = &s[i], .join_at = i, .tag = "capacity"};
	bconf conf = {.max_seqs = 3, .prefill_tokens = 4};
	run_batch(x.m2, runs, 5, &conf);
	ck_assert_uint_eq(runs[2].prompt_events, 7);
	ck_assert_uint_eq(runs[4].prompt_events, 9);
	for (int i = 0; i < 5; i++)
		free(s[i].logits);
	bmod_close(&x);
}
END_TEST

/* A 150-id prompt joins three running sequences with 16 prompt ids per
 * step: it takes 10 steps, during which every running sequence gets an id
 * at every step (drive_batch checks that), and it decodes as alone. */
START_TEST(long_prompt_interleaved)
{
	char db[4300];
	bmod x;
	bspec s[4];
	brun runs[4];

	big_db(&bigs[2], db, sizeof db);
	bmod_open(&x, db);
	for (int i = 0; i < 3; i++)
		greedy_spec(&s[i], x.m1, 3 + (uint32_t)i, 160, 30, 20 + (uint64_t)i);
	greedy_spec(&s[3], x.m1, 150, 160, 5, 30);
	for (int i = 0; i < 4; i++)
		runs[i] = (brun){.s = &s[i], .join_at = i == 3 ? 3 : 0, .tag = i == 3 ? "long prompt" : "running"};
	bconf conf = {.max_seqs = 4, .prefill_tokens = 16};
	run_batch(x.m2, runs, 4, &conf);
	/* joined at step 3, its prompt took steps 3..12, its first id came at
	 * the last of them */
	ck_assert_int_eq(runs[3].joined_step, 3);
	ck_assert_int_eq(runs[3].first_token_step, 3 + 150 / 16);
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge((int)runs[i].n_ids, runs[3].first_token_step);
	for (int i = 0; i < 4; i++)
		free(s[i].logits);
	bmod_close(&x);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------------ */
struct canceller {
	lutdb_batch *b;
	uint64_t id;
	int rc;
};

static void *cancel_thread(void *arg)
{
	struct canceller *c = arg;
	c->rc = lutdb_batch_cancel(c->b, c->id);
	return NULL;
}

/* What the cancel test's callback does besides checking: on the first id
 * of run `from`, cancels run `victim` from another thread. */
struct cancel_ctx {
	lutdb_batch *b;
	brun *from, *victim;
	int done;
};

static int cancel_event(void *ctx, const lutdb_batch_event *ev)
{
	struct cancel_ctx *c = ctx;
	if (!c->done && ev->user == c->from && ev->kind == LUTDB_EVENT_TOKEN) {
		struct canceller t = {c->b, c->victim->id, -1};
		pthread_t th;
		ck_assert_int_eq(pthread_create(&th, NULL, cancel_thread, &t), 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_int_eq(t.rc, LUTDB_OK);
		c->done = 1;
	}
	return brun_event(NULL, ev);
}

/* Four sequences: one cancelled between steps, one by its callback's
 * return, one from another thread during a step; the fourth decodes as
 * alone, and a sequence joining a freed slot too. */
START_TEST(cancel_leaves_others)
{
	char db[4300];
	bmod x;
	bspec s[5];
	brun r[5];
	lutdb_batch *b;
	lutdb_batch_opts o = {.size = sizeof o, .max_seqs = 4};

	big_db(&bigs[1], db, sizeof db);
	bmod_open(&x, db);
	for (int i = 0; i < 5; i++) {
		greedy_spec(&s[i], x.m1, 4 + (uint32_t)i, 160, 12, 40 + (uint64_t)i);
		r[i] = (brun){.s = &s[i], .tag = "cancel"};
	}
	r[1].cancel_at_token = 3;
	ck_assert_int_eq(lutdb_batch_new(x.m2, &o, &b), LUTDB_OK);
	for (int i = 0; i < 4; i++) {
		lutdb_batch_seq_opts so = bspec_opts(&s[i], &r[i]);
		ck_assert_int_eq(lutdb_batch_join(b, s[i].prompt, s[i].n, &so, &r[i].id), LUTDB_OK);
		r[i].joined = 1;
	}
	struct cancel_ctx cc = {b, &r[3], &r[2], 0};
	for (int step = 0; step < 40 && lutdb_batch_count(b); step++) {
		if (step == 4) {
			ck_assert_uint_eq(r[0].n_ids, 4);
			ck_assert_int_eq(lutdb_batch_cancel(b, r[0].id), LUTDB_OK);
			ck_assert_int_eq(lutdb_batch_cancel(b, r[0].id), LUTDB_OK); /* twice: one end */
			ck_assert(!r[0].ended);
		}
		if (step == 6) {
			/* r[0..2] were cancelled, their slots are free: r[4] joins one */
			ck_assert_int_eq(lutdb_batch_count(b), 1);
			lutdb_batch_seq_opts so = bspec_opts(&s[4], &r[4]);
			ck_assert_int_eq(lutdb_batch_join(b, s[4].prompt, s[4].n, &so, &r[4].id), LUTDB_OK);
			ck_assert_uint_gt(r[4].id, r[3].id);
		}
		ck_assert_int_eq(lutdb_batch_step(b, cancel_event, &cc, NULL), LUTDB_OK);
		if (step == 0) { /* cancelled from another thread during the step: ended in it */
			ck_assert(r[2].ended && r[2].finish == LUTDB_FINISH_CANCELLED);
			ck_assert_uint_le(r[2].n_ids, 1);
		}
		if (step == 2) { /* the callback returned 1 on its third id */
			ck_assert(r[1].ended && r[1].finish == LUTDB_FINISH_CANCELLED);
			ck_assert_uint_eq(r[1].n_ids, 3);
		}
		if (step == 4) { /* ended at the start of the step, before an id */
			ck_assert(r[0].ended && r[0].finish == LUTDB_FINISH_CANCELLED);
			ck_assert_uint_eq(r[0].n_ids, 4);
		}
	}
	ck_assert_uint_eq(lutdb_batch_count(b), 0);
	for (int i = 3; i < 5; i++) {
		ck_assert(r[i].ended && r[i].finish == s[i].finish);
		ck_assert_uint_eq(r[i].n_ids, s[i].n_ids);
	}
	EXPECT(lutdb_batch_cancel(b, r[3].id), LUTDB_ENOENT, "no sequence");
	EXPECT(lutdb_batch_cancel(b, 0), LUTDB_EINVAL, "id 0");
	lutdb_batch_free(b);
	for (int i = 0; i < 5; i++)
		free(s[i].logits);
	bmod_close(&x);
}
END_TEST

/* ---- a damaged row -------------------------------------------------------------------- */
/* Token 700's table row is damaged: the sequence that feeds it ends with
 * LUTDB_FINISH_ERROR (LUTDB_ECHECKSUM) before the step's arithmetic, the
 * others decode as alone on the undamaged file. */
START_TEST(damaged_row_ends_one)
{
	char db[4300], bad[4400];
	unsigned char pat[64];
	lutdb_db *h;
	lutdb_row row;
	bmod good, x;
	bspec s[3];
	brun r[3];

	big_db(&bigs[0], db, sizeof db);
	ck_assert_int_eq(lutdb_open(db, 0, &h), LUTDB_OK);
	ck_assert_int_eq(lutdb_token_row(h, 700, 0, NULL, 0, &row), LUTDB_OK);
	memcpy(pat, (const unsigned char *)row.data + 256, sizeof pat);
	lutdb_close(h);
	size_t len;
	unsigned char *f = read_all(db, &len), *at = memmem(f, len, pat, sizeof pat);
	ck_assert_ptr_nonnull(at);
	at[10] ^= 0x40;
	snprintf(bad, sizeof bad, "%s.damaged-batch", db);
	write_all(bad, f, len);
	free(f);
	bmod_open(&good, db);
	for (int i = 0; i < 3; i++) {
		greedy_spec(&s[i], good.m1, 20, 160, 10, 50 + (uint64_t)i);
		for (uint32_t k = 0; k < s[i].n; k++)
			ck_assert_uint_ne(s[i].prompt[k], 700);
	}
	s[1].prompt[13] = 700; /* in its prompt's second chunk of 8 */
	solo_run(good.m1, &s[1]);
	bmod_open(&x, bad);
	for (int i = 0; i < 3; i++)
		r[i] = (brun){.s = &s[i], .tag = "damaged"};
	lutdb_batch *b;
	lutdb_batch_opts o = {.size = sizeof o, .max_seqs = 3, .prefill_tokens = 8};
	ck_assert_int_eq(lutdb_batch_new(x.m2, &o, &b), LUTDB_OK);
	for (int i = 0; i < 3; i++) {
		lutdb_batch_seq_opts so = bspec_opts(&s[i], &r[i]);
		ck_assert_int_eq(lutdb_batch_join(b, s[i].prompt, s[i].n, &so, &r[i].id), LUTDB_OK);
		r[i].joined = 1;
	}
	for (int step = 0; step < 60 && lutdb_batch_count(b); step++)
		ck_assert_int_eq(lutdb_batch_step(b, brun_event, NULL, NULL), LUTDB_OK);
	ck_assert_uint_eq(lutdb_batch_count(b), 0);
	ck_assert_msg(r[1].ended && r[1].finish == LUTDB_FINISH_ERROR, "finish %d", r[1].finish);
	ck_assert_int_eq(r[1].error, LUTDB_ECHECKSUM);
	ck_assert_msg(strstr(r[1].detail, "checksum") != NULL, "detail: %s", r[1].detail);
	ck_assert_uint_eq(r[1].n_ids, 0);
	for (int i = 0; i < 3; i += 2) {
		ck_assert(r[i].ended && r[i].finish == s[i].finish);
		ck_assert_uint_eq(r[i].n_ids, s[i].n_ids);
	}
	lutdb_batch_free(b);
	bmod_close(&x);
	bmod_close(&good);
	for (int i = 0; i < 3; i++)
		free(s[i].logits);
	unlink(bad);
}
END_TEST

/* ---- the API's rules -------------------------------------------------------------------- */
START_TEST(join_checks)
{
	const fcase *c = find_case("mole_rep_f32");
	char db[4300];
	bmod x;
	lutdb_batch *b;
	uint64_t id = 7, id2;
	uint32_t p[20] = {3, 1, 4, 1, 5}, stop[LUTDB_BATCH_MAX_STOP_IDS + 1] = {0};

	pack_f32(c, db, sizeof db);
	bmod_open(&x, db);
	lutdb_batch_opts o = {.size = sizeof o, .max_seqs = 2, .capacity = 16, .prefill_tokens = 100};
	EXPECT(lutdb_batch_new(NULL, &o, &b), LUTDB_EINVAL, "model");
	EXPECT(lutdb_batch_new(x.m1, &o, NULL), LUTDB_EINVAL, "out");
	o.max_seqs = LUTDB_BATCH_MAX_SEQS + 1;
	EXPECT(lutdb_batch_new(x.m1, &o, &b), LUTDB_EINVAL, "sequences");
	ck_assert_ptr_null(b);
	o.max_seqs = 2;
	o.capacity = x.max_pos + 1;
	EXPECT(lutdb_batch_new(x.m1, &o, &b), LUTDB_ECONTEXT, "max_position_embeddings");
	o.capacity = 16;
	o.size = 0;
	EXPECT(lutdb_batch_new(x.m1, &o, &b), LUTDB_EINVAL, ".size");
	o.size = sizeof o;
	ck_assert_int_eq(lutdb_batch_new(x.m1, &o, &b), LUTDB_OK);
	ck_assert_uint_eq(lutdb_batch_max_seqs(b), 2);
	ck_assert_uint_eq(lutdb_batch_capacity(b), 16);
	lutdb_batch_seq_opts so = {.size = sizeof so, .max_tokens = 3};
	EXPECT(lutdb_batch_join(b, p, 0, &so, &id), LUTDB_EINVAL, "empty prompt");
	ck_assert_uint_eq(id, 0);
	EXPECT(lutdb_batch_join(b, p, 5, &so, NULL), LUTDB_EINVAL, "NULL");
	EXPECT(lutdb_batch_join(b, NULL, 5, &so, &id), LUTDB_EINVAL, "NULL");
	p[2] = x.V;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_ERANGE, "index 2");
	p[2] = 4;
	EXPECT(lutdb_batch_join(b, p, 17, &so, &id), LUTDB_ECONTEXT, "capacity of 16");
	so.capacity = 17;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_ECONTEXT, "exceeds the batch's 16");
	so.capacity = 4;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_ECONTEXT, "capacity of 4");
	so.capacity = 0;
	so.stop_ids = stop;
	so.n_stop_ids = LUTDB_BATCH_MAX_STOP_IDS + 1;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_EINVAL, "stop ids");
	so.n_stop_ids = 2;
	stop[1] = x.V + 5;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_ERANGE, "stop id");
	stop[1] = 9;
	lutdb_sampling smp = {.size = sizeof smp, .temperature = NAN};
	so.sampling = &smp;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_EINVAL, "temperature");
	smp.size = 0;
	smp.temperature = 1;
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_EINVAL, ".size");
	smp.size = sizeof smp;
	struct {
		lutdb_batch_seq_opts o;
		uint64_t newer;
	} grown = {so, 1};
	grown.o.size = sizeof grown;
	EXPECT(lutdb_batch_join(b, p, 5, &grown.o, &id), LUTDB_EUNSUPPORTED, "lutdb_batch_join");
	grown.newer = 0;
	grown.o.n_stop_ids = 0; /* a run of known length: 3 ids */
	grown.o.ignore_eos = 1;
	ck_assert_int_eq(lutdb_batch_join(b, p, 5, &grown.o, &id), LUTDB_OK);
	ck_assert_int_eq(lutdb_batch_join(b, p, 16, NULL, &id2), LUTDB_OK); /* defaults */
	ck_assert(id && id2 && id != id2);
	ck_assert_uint_eq(lutdb_batch_count(b), 2);
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_ETOOBIG, "full");
	ck_assert_uint_eq(id, 0);
	p[0] = x.V; /* a bad request is told so even when the batch is full */
	EXPECT(lutdb_batch_join(b, p, 5, &so, &id), LUTDB_ERANGE, "vocabulary");
	/* NULL fn: the sequences still advance.  Both prompts fit one step;
	 * the second (NULL options: max_tokens 0) finishes after it, the
	 * first after 3 ids */
	lutdb_batch_stats st = {.size = sizeof st};
	ck_assert_int_eq(lutdb_batch_step(b, NULL, NULL, &st), LUTDB_OK);
	ck_assert_uint_eq(st.positions, 5 + 16);
	ck_assert_uint_eq(st.prompt, 5 + 16);
	ck_assert_uint_eq(st.tokens, 1);
	ck_assert_uint_eq(st.finished, 1);
	ck_assert_uint_eq(st.sequences, 1);
	/* an older, smaller stats struct gets only what fits */
	struct {
		size_t size;
		uint32_t positions, canary;
	} old = {offsetof(lutdb_batch_stats, prompt), 99, 77};
	ck_assert_int_eq(lutdb_batch_step(b, NULL, NULL, (lutdb_batch_stats *)&old), LUTDB_OK);
	ck_assert_uint_eq(old.positions, 1);
	ck_assert_uint_eq(old.canary, 77);
	ck_assert_int_eq(lutdb_batch_step(b, NULL, NULL, &st), LUTDB_OK);
	ck_assert_uint_eq(st.tokens, 1);
	ck_assert_uint_eq(st.finished, 1);
	ck_assert_uint_eq(lutdb_batch_count(b), 0);
	ck_assert_int_eq(lutdb_batch_step(b, NULL, NULL, &st), LUTDB_OK); /* empty: nothing */
	ck_assert_uint_eq(st.positions, 0);
	EXPECT(lutdb_batch_step(NULL, NULL, NULL, NULL), LUTDB_EINVAL, "NULL");
	lutdb_batch_free(b);
	lutdb_batch_free(NULL);
	bmod_close(&x);
}
END_TEST

/* The callback may not join or step its batch (LUTDB_EINVAL) but may cancel
 * and may use another batch of the same model. */
struct reenter {
	lutdb_batch *b, *other;
	const uint32_t *p;
	int calls, rc_join, rc_step, rc_other;
};

static int reenter_event(void *ctx, const lutdb_batch_event *ev)
{
	struct reenter *e = ctx;
	uint64_t id;
	lutdb_batch_seq_opts so = {.size = sizeof so, .max_tokens = 1};
	e->calls++;
	e->rc_join = lutdb_batch_join(e->b, e->p, 3, &so, &id);
	e->rc_step = lutdb_batch_step(e->b, NULL, NULL, NULL);
	e->rc_other = lutdb_batch_join(e->other, e->p, 3, &so, &id);
	if (e->rc_other == LUTDB_OK)
		e->rc_other = lutdb_batch_step(e->other, NULL, NULL, NULL);
	return 0;
}

START_TEST(callback_limits)
{
	const fcase *c = find_case("mole_rep_f32");
	char db[4300];
	bmod x;
	uint32_t p[3] = {7, 8, 9};
	uint64_t id;
	struct reenter e = {0};

	pack_f32(c, db, sizeof db);
	bmod_open(&x, db);
	lutdb_batch_opts o = {.size = sizeof o, .max_seqs = 4, .capacity = 8};
	ck_assert_int_eq(lutdb_batch_new(x.m1, &o, &e.b), LUTDB_OK);
	ck_assert_int_eq(lutdb_batch_new(x.m1, &o, &e.other), LUTDB_OK);
	e.p = p;
	lutdb_batch_seq_opts so = {.size = sizeof so, .max_tokens = 2};
	ck_assert_int_eq(lutdb_batch_join(e.b, p, 3, &so, &id), LUTDB_OK);
	ck_assert_int_eq(lutdb_batch_step(e.b, reenter_event, &e, NULL), LUTDB_OK);
	ck_assert_int_eq(e.calls, 1);
	ck_assert_int_eq(e.rc_join, LUTDB_EINVAL);
	ck_assert_int_eq(e.rc_step, LUTDB_EINVAL);
	ck_assert_int_eq(e.rc_other, LUTDB_OK);
	ck_assert_uint_eq(lutdb_batch_count(e.b), 1);
	ck_assert_int_eq(lutdb_batch_step(e.b, reenter_event, &e, NULL), LUTDB_OK);
	ck_assert_uint_eq(lutdb_batch_count(e.b), 0);
	lutdb_batch_free(e.b);
	lutdb_batch_free(e.other);
	bmod_close(&x);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("batch");
	TCase *ti = tcase_create("invariance");
	tcase_set_timeout(ti, 1200);
	tcase_add_loop_test(ti, invariance_fixtures, 0, 11);
	tcase_add_loop_test(ti, invariance_big, 0, (int)(sizeof bigs / sizeof *bigs));
	suite_add_tcase(s, ti);
	TCase *tr = tcase_create("rules");
	tcase_set_timeout(tr, 600);
	tcase_add_test(tr, capacity_stop_and_prompt_logits);
	tcase_add_test(tr, long_prompt_interleaved);
	tcase_add_test(tr, cancel_leaves_others);
	tcase_add_test(tr, damaged_row_ends_one);
	tcase_add_test(tr, join_checks);
	tcase_add_test(tr, callback_limits);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	return run_runtime_suite(suite());
}
