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

int buf_json(serve_buf *b, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return -1;
	int rc = buf_put(b, s, strlen(s));
	free(s);
	return rc;
}

void buf_free(serve_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}
