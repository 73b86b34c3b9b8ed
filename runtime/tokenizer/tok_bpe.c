/*
 * tok_bpe.c - the BPE model, as `tokenizers` models::bpe (merge_word and
 * Word::merge_all): the word's chars become symbols (with unk / byte
 * fallback), then merges are applied lowest rank first, leftmost first on
 * ties, through a binary heap with the same stale-entry checks.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct hent {
	uint64_t key;   /* rank << 32 | pos: lowest rank first, then leftmost */
	uint32_t nid;
};

struct wcache;

struct tok_bpe_scratch {
	uint32_t *c, *len;
	int32_t *prev, *next;
	size_t cap;
	struct hent *heap;
	size_t hn, hcap;
	struct tok_buf tmp;
	int cache_words;      /* keep a word cache (tok_bpe_scratch_cache_words) */
	struct wcache *cache; /* allocated at first use */
};

int tok_bpe_scratch_new(struct tok_bpe_scratch **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? LUTDB_OK : lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (BPE)");
}

void tok_bpe_scratch_cache_words(struct tok_bpe_scratch *s)
{
	s->cache_words = 1;
}

void tok_bpe_scratch_free(struct tok_bpe_scratch *s)
{
	if (!s)
		return;
	free(s->cache);
	free(s->c);
	free(s->len);
	free(s->prev);
	free(s->next);
	free(s->heap);
	tok_buf_free(&s->tmp);
	free(s);
}

static int scratch_reserve(struct tok_bpe_scratch *s, size_t n)
{
	size_t nc;

	if (n <= s->cap)
		return LUTDB_OK;
	nc = s->cap ? s->cap : 64;
	while (nc < n)
		nc *= 2;
	{
		uint32_t *c = realloc(s->c, nc * sizeof *c);
		uint32_t *l;
		int32_t *p, *q;

		if (!c)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (BPE)");
		s->c = c;
		l = realloc(s->len, nc * sizeof *l);
		if (!l)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (BPE)");
		s->len = l;
		p = realloc(s->prev, nc * sizeof *p);
		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (BPE)");
		s->prev = p;
		q = realloc(s->next, nc * sizeof *q);
		if (!q)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (BPE)");
		s->next = q;
	}
	s->cap = nc;
	return LUTDB_OK;
}

/* ---- merges map ----------------------------------------------------------- */

/* Seeded (tok_hash_seed): a merges list of pairs chosen to share a slot
 * would otherwise make building the map quadratic. */
static size_t mhash(uint64_t k, uint64_t seed, size_t mask)
{
	k ^= seed;
	k ^= k >> 31;
	k *= 0x9e3779b97f4a7c15ull;
	k ^= k >> 29;
	return (size_t)k & mask;
}

int tok_bpe_build_merges(struct tok_bpe *b, size_t expect)
{
	size_t ns = 16;

	while (ns < expect * 2 + 2)
		ns *= 2;
	b->merges = malloc(ns * sizeof *b->merges);
	if (!b->merges)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (merges)");
	memset(b->merges, 0xff, ns * sizeof *b->merges);
	b->mslots = ns;
	b->nmerges = 0;
	b->mseed = tok_hash_seed();
	return LUTDB_OK;
}

/* Inserts or replaces (a Rust HashMap collect keeps the last duplicate). */
int tok_bpe_add_merge(struct tok_bpe *b, uint32_t a, uint32_t c, uint32_t rank, uint32_t nid)
{
	uint64_t k = ((uint64_t)a << 32) | c;
	size_t i = mhash(k, b->mseed, b->mslots - 1);

	if ((b->nmerges + 1) * 2 > b->mslots)
		return lutdb_fail(LUTDB_EINTERNAL, "tokenizer: merges map full");
	while (b->merges[i].key != UINT64_MAX && b->merges[i].key != k)
		i = (i + 1) & (b->mslots - 1);
	if (b->merges[i].key == UINT64_MAX)
		b->nmerges++;
	b->merges[i].key = k;
	b->merges[i].rank = rank;
	b->merges[i].nid = nid;
	return LUTDB_OK;
}

static inline int merge_get(const struct tok_bpe *b, uint32_t a, uint32_t c, uint32_t *rank,
			    uint32_t *nid)
{
	uint64_t k = ((uint64_t)a << 32) | c;
	size_t i = mhash(k, b->mseed, b->mslots - 1);

	for (;;) {
		const struct tok_merge *e = &b->merges[i];
		uint64_t x = e->key;

		if (x == k) {
			*rank = e->rank;
			*nid = e->nid;
			return 1;
		}
		if (x == UINT64_MAX)
			return 0;
		i = (i + 1) & (b->mslots - 1);
	}
}

/* ---- heap (4-ary min-heap on rank, then position) ----------------------------- */

static int heap_push(struct tok_bpe_scratch *s, uint32_t rank, uint32_t pos, uint32_t nid)
{
	size_t i;
	struct hent x;

	if (s->hn == s->hcap) {
		size_t nc = s->hcap ? s->hcap * 2 : 64;
		struct hent *h = realloc(s->heap, nc * sizeof *h);

		if (!h)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (BPE heap)");
		s->heap = h;
		s->hcap = nc;
	}
	x.key = ((uint64_t)rank << 32) | pos;
	x.nid = nid;
	i = s->hn++;
	while (i > 0) {
		size_t p = (i - 1) / 4;

		if (s->heap[p].key <= x.key)
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = x;
	return LUTDB_OK;
}

static struct hent heap_pop(struct tok_bpe_scratch *s)
{
	struct hent top = s->heap[0], x;
	size_t i = 0, n = --s->hn;

	if (n == 0)
		return top;
	x = s->heap[n];
	for (;;) {
		size_t c = 4 * i + 1, m, k, e;
		uint64_t mk;

		if (c >= n)
			break;
		m = c;
		mk = s->heap[c].key;
		e = c + 4 < n ? c + 4 : n;
		for (k = c + 1; k < e; k++) {
			uint64_t kk = s->heap[k].key;

			m = kk < mk ? k : m;
			mk = kk < mk ? kk : mk;
		}
		if (x.key <= mk)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	s->heap[i] = x;
	return top;
}

/* ---- model ----------------------------------------------------------------- */

static inline int vocab_get(const struct tok_bpe *b, const char *s, size_t n, uint32_t *id)
{
	const unsigned char *u = (const unsigned char *)s;

	if (n == 1 && u[0] < 0x80) {
		*id = b->small_id[u[0]];
		return *id != TOK_NO_ID;
	}
	if (n == 2 && (u[0] & 0xE0) == 0xC0) {
		*id = b->small_id[((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu)];
		return *id != TOK_NO_ID;
	}
	if (n == 3 && (u[0] & 0xF0) == 0xE0) {
		*id = b->small_id[((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu)];
		return *id != TOK_NO_ID;
	}
	return tok_strmap_get(&b->vocab, s, n, id);
}

static int out_push(uint32_t **ids, size_t *n, size_t *cap, uint32_t id)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		uint32_t *p = realloc(*ids, nc * sizeof *p);

		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (ids)");
		*ids = p;
		*cap = nc;
	}
	(*ids)[(*n)++] = id;
	return LUTDB_OK;
}

static int add_sym(struct tok_bpe_scratch *s, size_t *ns, uint32_t c, uint32_t len)
{
	int rc = scratch_reserve(s, *ns + 1);

	if (rc)
		return rc;
	s->c[*ns] = c;
	s->len[*ns] = len;
	s->prev[*ns] = (int32_t)*ns - 1;
	s->next[*ns] = -1;
	if (*ns)
		s->next[*ns - 1] = (int32_t)*ns;
	(*ns)++;
	return LUTDB_OK;
}

/* The vocab string of the char w[i, i+l): the char itself, with the
 * continuing-subword prefix when it is not the first and the end-of-word
 * suffix when it is the last (built in s->tmp). */
static int char_string(const struct tok_bpe *b, struct tok_bpe_scratch *s, const char *w, size_t n, size_t i,
		       size_t l, const char **cs, size_t *csn)
{
	int rc = LUTDB_OK;

	*cs = w + i;
	*csn = l;
	if (!((i > 0 && b->prefix) || (i + l == n && b->suffix)))
		return LUTDB_OK;
	s->tmp.len = 0;
	if (i > 0 && b->prefix)
		rc = tok_buf_put(&s->tmp, b->prefix, b->prefix_len);
	if (!rc)
		rc = tok_buf_put(&s->tmp, w + i, l);
	if (!rc && i + l == n && b->suffix)
		rc = tok_buf_put(&s->tmp, b->suffix, b->suffix_len);
	if (rc)
		return rc;
	*cs = s->tmp.p;
	*csn = s->tmp.len;
	return LUTDB_OK;
}

/* The word's chars as symbols (models::bpe merge_word): a char in the vocab
 * is its id; else, with byte_fallback, its bytes' <0xXX> ids; else the unk
 * id (consecutive unknowns fused with fuse_unk); else nothing.  Sets *ns. */
static int word_symbols(const struct tok_bpe *b, struct tok_bpe_scratch *s, const char *w, size_t n,
			size_t *ns)
{
	size_t i = 0, k;
	uint32_t id, unk_id = TOK_NO_ID, unk_len = 0;
	int rc, have_unk = 0;

	while (i < n) {
		size_t l = tok_utf8_valid_len((const unsigned char *)w + i, n - i);
		const char *cs;
		size_t csn;

		if (!l)
			l = 1;
		if ((rc = char_string(b, s, w, n, i, l, &cs, &csn)))
			return rc;
		if (vocab_get(b, cs, csn, &id)) {
			if (have_unk) {
				rc = add_sym(s, ns, unk_id, unk_len);
				if (rc)
					return rc;
				have_unk = 0;
			}
			rc = add_sym(s, ns, id, (uint32_t)l);
			if (rc)
				return rc;
			i += l;
			continue;
		}
		if (b->byte_fallback) {
			for (k = 0; k < csn; k++)
				if (b->byte_fb[(unsigned char)cs[k]] == TOK_NO_ID)
					break;
			if (k == csn) {
				for (k = 0; k < csn; k++) {
					rc = add_sym(s, ns, b->byte_fb[(unsigned char)cs[k]], 1);
					if (rc)
						return rc;
				}
				i += l;
				continue;
			}
		}
		if (b->unk) {
			uint32_t u;

			if (!tok_strmap_get(&b->vocab, b->unk, b->unk_len, &u))
				return lutdb_fail(LUTDB_ETOKENIZER,
						  "tokenizer.json: model: unk_token \"%s\" is not in the vocab",
						  b->unk);
			if (have_unk && b->fuse_unk) {
				unk_len += (uint32_t)l;
			} else {
				if (have_unk) {
					rc = add_sym(s, ns, unk_id, unk_len);
					if (rc)
						return rc;
				}
				unk_id = u;
				unk_len = (uint32_t)l;
				have_unk = 1;
			}
		}
		i += l;
	}
	if (have_unk)
		return add_sym(s, ns, unk_id, unk_len);
	return LUTDB_OK;
}

/* Pushes the merge of symbols p and its next one, if the merges have it. */
static int push_pair(const struct tok_bpe *b, struct tok_bpe_scratch *s, uint32_t p, uint32_t next)
{
	uint32_t rank, nid;

	if (!merge_get(b, s->c[p], s->c[next], &rank, &nid))
		return LUTDB_OK;
	return heap_push(s, rank, p, nid);
}

/* Word::merge_all: the lowest-rank pair first (leftmost on ties), through a
 * heap whose stale entries (a symbol merged away, or a pair that changed)
 * are skipped; a merged-away symbol keeps length 0. */
static int merge_all(const struct tok_bpe *b, struct tok_bpe_scratch *s, size_t ns)
{
	int rc;

	s->hn = 0;
	for (size_t k = 0; k + 1 < ns; k++)
		if ((rc = push_pair(b, s, (uint32_t)k, (uint32_t)k + 1)))
			return rc;
	while (s->hn) {
		struct hent top = heap_pop(s);
		uint32_t p = (uint32_t)top.key, rank, nid;
		int32_t nx;

		if (s->len[p] == 0 || s->next[p] == -1)
			continue;
		nx = s->next[p];
		if (!merge_get(b, s->c[p], s->c[nx], &rank, &nid) || nid != top.nid)
			continue;
		s->c[p] = top.nid;
		s->len[p] += s->len[nx];
		s->next[p] = s->next[nx];
		s->len[nx] = 0;
		if (s->next[nx] > -1 && (size_t)s->next[nx] < ns)
			s->prev[s->next[nx]] = (int32_t)p;
		if (s->prev[p] >= 0 && (rc = push_pair(b, s, (uint32_t)s->prev[p], p)))
			return rc;
		if (s->next[p] >= 0 && (size_t)s->next[p] < ns && (rc = push_pair(b, s, p, (uint32_t)s->next[p])))
			return rc;
	}
	return LUTDB_OK;
}

/* The ids of one word, appended to *ids. */
static int bpe_word(const struct tok_bpe *b, struct tok_bpe_scratch *s, const char *w,
		    size_t n, uint32_t **ids, size_t *nids, size_t *cap)
{
	size_t ns = 0;
	uint32_t id;
	int rc;

	if (n == 0)
		return LUTDB_OK;
	if (n > UINT32_MAX / 2)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: word too long");
	if (b->ignore_merges && vocab_get(b, w, n, &id))
		return out_push(ids, nids, cap, id);
	if ((rc = word_symbols(b, s, w, n, &ns)) || (rc = merge_all(b, s, ns)))
		return rc;
	for (size_t k = 0; k < ns; k++) {
		if (s->len[k] == 0)
			continue;
		if ((rc = out_push(ids, nids, cap, s->c[k])))
			return rc;
	}
	return LUTDB_OK;
}

/* ---- per-thread word cache ----------------------------------------------------
 * Words repeat, so a thread's scratch (tok_scratch.c) keeps the ids of the
 * words it tokenized last (for one tokenizer at a time, keyed by its load
 * serial; cleared when full).  The tokenizer itself stays immutable.
 */

#define CACHE_SLOTS    (1u << 17)
#define CACHE_MAX_ENT  (CACHE_SLOTS / 2)
#define CACHE_MAX_WORD 64
#define CACHE_ARENA    (CACHE_MAX_ENT * 48u)   /* bytes: records of ~48 bytes on average */

/* A record in the arena, 4-byte aligned: header, key bytes, padding, ids. */
struct wrec {
	uint16_t klen, nids;
};

struct wcache {
	uint64_t owner;
	struct wslot {
		uint32_t h;                /* hash of the word */
		uint32_t off;              /* arena offset + 1; 0 = empty */
	} slots[CACHE_SLOTS];
	size_t n, used;
	uint32_t arena[CACHE_ARENA / 4];
};

static void cache_clear(struct wcache *c, uint64_t owner)
{
	c->owner = owner;
	memset(c->slots, 0, sizeof c->slots);
	c->n = c->used = 0;
}

/* The scratch's cache, for the tokenizer of serial owner; NULL without one
 * (not wanted, or out of memory: then it is not tried again). */
static struct wcache *cache_get(struct tok_bpe_scratch *s, uint64_t owner)
{
	if (!s->cache_words)
		return NULL;
	if (!s->cache) {
		if (!(s->cache = malloc(sizeof *s->cache))) {
			s->cache_words = 0;
			return NULL;
		}
		cache_clear(s->cache, owner);
	}
	if (s->cache->owner != owner)
		cache_clear(s->cache, owner);
	return s->cache;
}

int tok_bpe_tokenize(const struct tok_bpe *b, struct tok_bpe_scratch *s, const char *w,
		     size_t n, uint32_t **ids, size_t *nids, size_t *cap)
{
	struct wcache *c;
	uint32_t h;
	size_t i, before, words, k, cnt;
	int rc;

	if (n == 0 || n > CACHE_MAX_WORD || !(c = cache_get(s, b->serial)))
		return bpe_word(b, s, w, n, ids, nids, cap);
	h = (uint32_t)tok_hash(w, n);
	i = h & (CACHE_SLOTS - 1);
	while (c->slots[i].off) {
		if (c->slots[i].h == h) {
			const uint32_t *r = c->arena + c->slots[i].off - 1;
			struct wrec hd;

			memcpy(&hd, r, sizeof hd);
			if (hd.klen == n && !memcmp(r + 1, w, n)) {
				const uint32_t *v = r + 1 + (n + 3) / 4;

				if (*cap - *nids < hd.nids) {
					size_t nc = *cap ? *cap : 64;
					uint32_t *p;

					while (nc - *nids < hd.nids)
						nc *= 2;
					p = realloc(*ids, nc * sizeof *p);
					if (!p)
						return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (ids)");
					*ids = p;
					*cap = nc;
				}
				/* A word may give no ids (nothing of it in the
				 * vocabulary): *ids can still be NULL then. */
				if (hd.nids)
					memcpy(*ids + *nids, v, hd.nids * sizeof *v);
				*nids += hd.nids;
				return LUTDB_OK;
			}
		}
		i = (i + 1) & (CACHE_SLOTS - 1);
	}
	before = *nids;
	rc = bpe_word(b, s, w, n, ids, nids, cap);
	if (rc)
		return rc;
	cnt = *nids - before;
	words = 1 + (n + 3) / 4 + cnt;
	if (cnt > UINT16_MAX || words * 4 > CACHE_ARENA)
		return LUTDB_OK;
	if (c->n >= CACHE_MAX_ENT || c->used + words > CACHE_ARENA / 4) {
		cache_clear(c, b->serial);
		i = h & (CACHE_SLOTS - 1);
	}
	{
		uint32_t *r = c->arena + c->used;
		struct wrec hd;

		hd.klen = (uint16_t)n;
		hd.nids = (uint16_t)cnt;
		memcpy(r, &hd, sizeof hd);
		r[(n + 3) / 4] = 0; /* padding bytes of the last key word */
		memcpy(r + 1, w, n);
		for (k = 0; k < cnt; k++)
			r[1 + (n + 3) / 4 + k] = (*ids)[before + k];
		c->slots[i].h = h;
		c->slots[i].off = (uint32_t)c->used + 1;
		c->used += words;
		c->n++;
	}
	return LUTDB_OK;
}

void tok_bpe_free(struct tok_bpe *b)
{
	tok_strmap_free(&b->vocab);
	free(b->id_str); /* the strings live in the vocab map */
	free(b->id_len);
	free(b->merges);
	free(b->small_id);
	free(b->unk);
	free(b->prefix);
	free(b->suffix);
	memset(b, 0, sizeof *b);
}

uint64_t tok_bpe_next_serial(void)
{
	static atomic_uint_fast64_t serial;

	return (uint64_t)atomic_fetch_add(&serial, 1) + 1;
}
