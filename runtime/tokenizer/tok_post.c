/*
 * tok_post.c - post-processors on the ids of a single sequence: ByteLevel
 * (offsets only: ids unchanged) and TemplateProcessing (its `single`
 * template), applied in order for a Sequence.
 */
#include "tok_internal.h"
#include "fail.h"

#include <stdlib.h>
#include <string.h>

int tok_post_process(const struct lutdb_tokenizer *t, const uint32_t *ids, size_t n,
		     int add_special, uint32_t **out, size_t *nout)
{
	uint32_t *cur = NULL;
	size_t ncur = n, i, j;
	int rc = LUTDB_OK;

	*out = NULL;
	*nout = 0;
	cur = malloc((n ? n : 1) * sizeof *cur);
	if (!cur)
		return lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (ids)");
	if (n)
		memcpy(cur, ids, n * sizeof *cur);
	for (i = 0; i < t->npost; i++) {
		const struct tok_post *p = &t->post[i];
		size_t total = 0, k = 0;
		uint32_t *nx;

		if (p->kind != TPP_TEMPLATE)
			continue;
		for (j = 0; j < p->nitems; j++) {
			size_t add = p->items[j].is_seq ? ncur : add_special ? p->items[j].nids : 0;

			if (add > SIZE_MAX / 8 - total) {
				rc = lutdb_fail(LUTDB_ETOOBIG, "tokenizer: too many ids");
				goto out;
			}
			total += add;
		}
		nx = malloc((total ? total : 1) * sizeof *nx);
		if (!nx) {
			rc = lutdb_fail(LUTDB_ENOMEM, "tokenizer: out of memory (ids)");
			goto out;
		}
		for (j = 0; j < p->nitems; j++) {
			if (p->items[j].is_seq) {
				if (ncur)
					memcpy(nx + k, cur, ncur * sizeof *nx);
				k += ncur;
			} else if (add_special) {
				if (p->items[j].nids)
					memcpy(nx + k, p->items[j].ids, p->items[j].nids * sizeof *nx);
				k += p->items[j].nids;
			}
		}
		free(cur);
		cur = nx;
		ncur = total;
	}
	*out = cur;
	*nout = ncur;
	cur = NULL;
out:
	free(cur);
	return rc;
}

void tok_post_free(struct tok_post *p)
{
	size_t i;

	for (i = 0; i < p->nitems; i++)
		free(p->items[i].ids);
	free(p->items);
	p->items = NULL;
	p->nitems = 0;
}
