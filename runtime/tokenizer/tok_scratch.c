/*
 * tok_scratch.c - the encoder's working memory, kept per thread.
 *
 * Buffers, regex match data and BPE scratch (with its word cache) are kept
 * per thread between calls, so a loaded tokenizer stays immutable and
 * encoding allocates little; buffers that grew past SCRATCH_KEEP bytes are
 * released after each call.
 *
 * Lifetime.  One pthread key, created at the first encode, holds each
 * thread's scratch; its destructor frees the scratch when the thread
 * exits.  Every thread's scratch is also on a list, so that when the
 * library is unloaded (dlclose, or the end of a program that links it
 * statically) the key is deleted - a thread that outlives the library must
 * not run a destructor whose code is gone, and the process must not be left
 * with a key it can never reuse - and the scratch of the threads still
 * alive is freed then (or, for a thread inside an encode at that moment,
 * when that call returns).  After the unload an encode gets a private
 * scratch per call.  The list and the key's state are guarded by one
 * mutex, taken twice per encode (get and put), never while encoding.
 */
#include "tok_internal.h"

#include <pthread.h>
#include <stdlib.h>

#define SCRATCH_KEEP ((size_t)4 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t key;
static enum { KEY_NONE, KEY_LIVE, KEY_GONE } key_state; /* GONE: failed or deleted */
static struct tok_scratch *threads;                     /* the threads' scratch */

static void scratch_free(struct tok_scratch *x)
{
	if (!x)
		return;
	tok_work_free(&x->a);
	tok_work_free(&x->b);
	tok_buf_free(&x->fixed);
	tok_buf_free(&x->nb);
	tok_bpe_scratch_free(x->bs);
	tok_match_ctx_free(&x->m);
	tok_pre_scratch_free(&x->pre);
	free(x);
}

static struct tok_scratch *scratch_new(void)
{
	struct tok_scratch *x = calloc(1, sizeof *x);

	if (!x)
		return NULL;
	if (tok_match_ctx_init(&x->m) || tok_bpe_scratch_new(&x->bs)) {
		scratch_free(x);
		return NULL;
	}
	return x;
}

/* Under lock. */
static void list_remove(struct tok_scratch *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		threads = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

/* The key's destructor: the thread is exiting. */
static void thread_exit(void *p)
{
	struct tok_scratch *x = p;

	pthread_mutex_lock(&lock);
	if (key_state != KEY_LIVE) {
		/* the unload freed it already (a thread exiting during it) */
		pthread_mutex_unlock(&lock);
		return;
	}
	list_remove(x);
	pthread_mutex_unlock(&lock);
	scratch_free(x);
}

/* The library is being unloaded: no key left behind, no destructor left to
 * run, no scratch left allocated but that of a call in progress. */
__attribute__((destructor)) static void tok_scratch_unload(void)
{
	struct tok_scratch *x, *next;

	pthread_mutex_lock(&lock);
	if (key_state == KEY_LIVE)
		pthread_key_delete(key);
	key_state = KEY_GONE;
	for (x = threads; x; x = next) {
		next = x->next;
		x->prev = x->next = NULL;
		if (x->busy)
			x->orphaned = 1; /* freed by tok_scratch_put */
		else
			scratch_free(x);
	}
	threads = NULL;
	pthread_mutex_unlock(&lock);
}

/* The thread's scratch, made on its first use; NULL when it cannot be had. */
static struct tok_scratch *thread_scratch(void)
{
	struct tok_scratch *x;

	if (key_state == KEY_NONE)
		key_state = pthread_key_create(&key, thread_exit) ? KEY_GONE : KEY_LIVE;
	if (key_state != KEY_LIVE)
		return NULL;
	if ((x = pthread_getspecific(key)) != NULL)
		return x;
	if (!(x = scratch_new()))
		return NULL;
	if (pthread_setspecific(key, x)) {
		scratch_free(x);
		return NULL;
	}
	tok_bpe_scratch_cache_words(x->bs);
	x->next = threads;
	if (threads)
		threads->prev = x;
	threads = x;
	return x;
}

struct tok_scratch *tok_scratch_get(int *owned)
{
	struct tok_scratch *x;

	pthread_mutex_lock(&lock);
	x = thread_scratch();
	if (x && !x->busy) {
		x->busy = 1;
		pthread_mutex_unlock(&lock);
		*owned = 0;
		return x;
	}
	pthread_mutex_unlock(&lock);
	*owned = 1;
	return scratch_new();
}

static void shrink_work(struct tok_work *w)
{
	if (w->buf.cap > SCRATCH_KEEP || w->cap * sizeof *w->pc > SCRATCH_KEEP)
		tok_work_free(w);
	else
		tok_work_reset(w);
}

static void shrink_buf(struct tok_buf *b)
{
	if (b->cap > SCRATCH_KEEP)
		tok_buf_free(b);
	else
		b->len = 0;
}

void tok_scratch_put(struct tok_scratch *x, int owned)
{
	int orphaned;

	if (!x)
		return;
	if (owned) {
		scratch_free(x);
		return;
	}
	shrink_work(&x->a);
	shrink_work(&x->b);
	shrink_buf(&x->fixed);
	shrink_buf(&x->nb);
	shrink_buf(&x->pre.sbuf);
	pthread_mutex_lock(&lock);
	x->busy = 0;
	orphaned = x->orphaned;
	pthread_mutex_unlock(&lock);
	if (orphaned)
		scratch_free(x);
}
