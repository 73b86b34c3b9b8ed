/*
 * tok_util.c - tokenizer helpers: byte buffers, UTF-8, a string -> u32 hash
 * map and the piece lists the encode pipeline passes between stages.
 */
#include "tok_internal.h"
#include "fail.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- buffer ------------------------------------------------------------- */

int tok_buf_reserve(struct tok_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX / 2 - b->len)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: buffer size overflow");
	need = b->len + extra + 1;
	if (need <= b->cap)
		return LUTDB_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (%zu bytes)", cap);
	b->p = p;
	b->cap = cap;
	return LUTDB_OK;
}

int tok_buf_put(struct tok_buf *b, const void *s, size_t n)
{
	int rc = tok_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return LUTDB_OK;
}

void tok_buf_free(struct tok_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Returns the length of the valid sequence at s (1..4), or -(k) where k >= 1
 * is the length of the maximal subpart of an ill-formed sequence. */
static int utf8_step(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	int need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return -1;
	for (i = 1; i <= need; i++) {
		if ((size_t)i >= n)
			return -i;
		if (s[i] < lo || s[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

size_t tok_utf8_valid_len(const unsigned char *s, size_t n)
{
	int k;

	if (!n)
		return 0;
	k = utf8_step(s, n);
	return k > 0 ? (size_t)k : 0;
}

int tok_utf8_is_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		int k;

		if (u[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_step(u + i, n - i);
		if (k < 0)
			return 0;
		i += (size_t)k;
	}
	return 1;
}

uint32_t tok_utf8_decode(const char *s, size_t *len)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] < 0x80) {
		*len = 1;
		return u[0];
	}
	if (u[0] < 0xE0) {
		*len = 2;
		return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
	}
	if (u[0] < 0xF0) {
		*len = 3;
		return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) |
		       (u[2] & 0x3F);
	}
	*len = 4;
	return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
	       ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

size_t tok_utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

int tok_utf8_lossy(struct tok_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc;

	rc = tok_buf_reserve(b, n + n / 2 + 4);
	if (rc)
		return rc;
	while (i < n) {
		int k = u[i] < 0x80 ? 1 : utf8_step(u + i, n - i);

		if (k > 0) {
			i += (size_t)k;
			continue;
		}
		rc = tok_buf_put(b, s + run, i - run);
		if (!rc)
			rc = tok_buf_put(b, "\xEF\xBF\xBD", 3);
		if (rc)
			return rc;
		i += (size_t)(-k);
		run = i;
	}
	return tok_buf_put(b, s + run, n - run);
}

/* ---- hashing and the string map ------------------------------------------ */

/* The process's secret hash seed.  Without one, tok_hash can be run
 * backwards: tokens that all land in one slot take a second each to
 * generate, and a tokenizer.json of 20,000 of them took 4 s to load,
 * quadratic in their number (hours for 1M).  The maps' contents never
 * depend on the seed, only where entries sit. */
static uint64_t hash_seed;
static pthread_once_t hash_seed_once = PTHREAD_ONCE_INIT;

static void hash_seed_init(void)
{
	uint64_t s = 0;
	struct timespec ts;

	if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&s ^ (uint64_t)ts.tv_sec;
	}
	hash_seed = s;
}

uint64_t tok_hash_seed(void)
{
	pthread_once(&hash_seed_once, hash_seed_init);
	return hash_seed;
}

uint64_t tok_hash(const void *p, size_t n)
{
	/* FNV-1a over 8-byte words from a secret start, then a final
	 * avalanche. */
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull ^ tok_hash_seed() ^ n;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

int tok_strmap_init(struct tok_strmap *m, size_t expect)
{
	size_t ns = 16;

	memset(m, 0, sizeof *m);
	while (ns < expect * 2 + 2)
		ns *= 2;
	m->slots = calloc(ns, sizeof *m->slots);
	if (!m->slots)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (map)");
	m->nslots = ns;
	return LUTDB_OK;
}

static int strmap_grow(struct tok_strmap *m)
{
	size_t ns = m->nslots * 2, i;
	uint32_t *slots = calloc(ns, sizeof *slots);

	if (!slots)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (map)");
	for (i = 0; i < m->n; i++) {
		size_t h = (size_t)tok_hash(m->keys.p + m->eoff[i], m->elen[i]) & (ns - 1);

		while (slots[h])
			h = (h + 1) & (ns - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = ns;
	return LUTDB_OK;
}

static size_t strmap_find(const struct tok_strmap *m, const char *k, size_t klen, uint64_t h)
{
	size_t i = (size_t)h & (m->nslots - 1);

	for (;;) {
		uint32_t e = m->slots[i];

		if (!e)
			return i;
		e--;
		if (m->elen[e] == klen && !memcmp(m->keys.p + m->eoff[e], k, klen))
			return i;
		i = (i + 1) & (m->nslots - 1);
	}
}

int tok_strmap_set(struct tok_strmap *m, const char *k, size_t klen, uint32_t val)
{
	size_t i;
	int rc;

	if (klen > UINT32_MAX / 2 || m->keys.len > UINT32_MAX - klen - 1 || m->n >= UINT32_MAX - 1)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: map too large");
	if ((m->n + 1) * 4 > m->nslots * 3) {
		rc = strmap_grow(m);
		if (rc)
			return rc;
	}
	i = strmap_find(m, k, klen, tok_hash(k, klen));
	if (m->slots[i]) {
		m->eval[m->slots[i] - 1] = val;
		return LUTDB_OK;
	}
	if (m->n == m->ecap) {
		size_t nc = m->ecap ? m->ecap * 2 : 64;
		uint32_t *a = realloc(m->eoff, nc * sizeof *a);

		if (!a)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (map)");
		m->eoff = a;
		a = realloc(m->elen, nc * sizeof *a);
		if (!a)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (map)");
		m->elen = a;
		a = realloc(m->eval, nc * sizeof *a);
		if (!a)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (map)");
		m->eval = a;
		m->ecap = nc;
	}
	m->eoff[m->n] = (uint32_t)m->keys.len;
	m->elen[m->n] = (uint32_t)klen;
	m->eval[m->n] = val;
	rc = tok_buf_put(&m->keys, k, klen);
	if (rc)
		return rc;
	m->keys.len++; /* keep the NUL: keys are C strings too */
	m->n++;
	m->slots[i] = (uint32_t)m->n;
	return LUTDB_OK;
}

int tok_strmap_get(const struct tok_strmap *m, const char *k, size_t klen, uint32_t *val)
{
	size_t i;

	if (!m->nslots)
		return 0;
	i = strmap_find(m, k, klen, tok_hash(k, klen));
	if (!m->slots[i])
		return 0;
	*val = m->eval[m->slots[i] - 1];
	return 1;
}

void tok_strmap_free(struct tok_strmap *m)
{
	free(m->slots);
	free(m->eoff);
	free(m->elen);
	free(m->eval);
	tok_buf_free(&m->keys);
	memset(m, 0, sizeof *m);
}

/* ---- pieces ------------------------------------------------------------- */

int tok_work_push_ref(struct tok_work *w, uint32_t off, uint32_t len, uint32_t id, uint32_t zlen,
		      uint32_t at0)
{
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 32;
		struct tok_piece *p = realloc(w->pc, nc * sizeof *p);

		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (pieces)");
		w->pc = p;
		w->cap = nc;
	}
	w->pc[w->n].off = off;
	w->pc[w->n].len = len;
	w->pc[w->n].id = id;
	w->pc[w->n].zlen = at0 ? zlen : 0;
	w->pc[w->n].at0 = at0;
	w->n++;
	return LUTDB_OK;
}

int tok_work_push(struct tok_work *w, const char *s, size_t len, uint32_t id, uint32_t zlen,
		  uint32_t at0)
{
	size_t off = w->buf.len;
	int rc = tok_buf_put(&w->buf, s, len);

	if (rc)
		return rc;
	if (off > UINT32_MAX - len)
		return lutdb_fail(LUTDB_ETOOBIG, "tokenizer: text too large");
	return tok_work_push_ref(w, (uint32_t)off, (uint32_t)len, id, zlen, at0);
}

void tok_work_reset(struct tok_work *w)
{
	w->buf.len = 0;
	if (w->buf.p)
		w->buf.p[0] = '\0';
	w->n = 0;
}

void tok_work_free(struct tok_work *w)
{
	tok_buf_free(&w->buf);
	free(w->pc);
	w->pc = NULL;
	w->n = w->cap = 0;
}

int tok_segs_push(struct tok_segs *v, uint32_t s, uint32_t e, int is_match)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 64;
		struct tok_seg *p = realloc(v->v, nc * sizeof *p);

		if (!p)
			return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (segments)");
		v->v = p;
		v->cap = nc;
	}
	v->v[v->n].s = s;
	v->v[v->n].e = e;
	v->v[v->n].is_match = is_match;
	v->n++;
	return LUTDB_OK;
}
