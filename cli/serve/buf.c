/* buf.c - growable byte buffers (job.h). */
#include <stdlib.h>
#include <string.h>

#include "job.h"

int buf_put(serve_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int put_cb(const char *s, size_t n, void *b)
{
	return buf_put(b, s, n);
}

/* Straight into b: no intermediate string per event. */
int buf_json(serve_buf *b, const json_t *v)
{
	size_t len = b->len;
	if (json_dump_callback(v, put_cb, b, JSON_COMPACT | JSON_ENCODE_ANY)) {
		b->len = len; /* nothing half-written stays */
		if (b->p)
			b->p[len] = '\0';
		return -1;
	}
	return 0;
}

void buf_free(serve_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}
