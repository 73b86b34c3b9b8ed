/* ids_parse.c - lutdb_ids_parse: token id lists as the CLI takes them. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fail.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Up to 24 printable bytes of the item at p, for messages. */
static void item_text(const char *p, const char *end, char *buf, size_t cap)
{
	size_t k = 0;
	while (p < end && k + 1 < cap && !is_space(*p) && *p != ',') {
		buf[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
		p++;
	}
	buf[k] = '\0';
}

int lutdb_ids_parse(const char *text, size_t len, uint32_t **ids, size_t *n)
{
	const char *p = text, *end = text + len;
	uint32_t *v = NULL;
	size_t cnt = 0, cap = 0;
	char item[25];

	if (!ids || !n || (!text && len))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_ids_parse: NULL argument");
	*ids = NULL;
	*n = 0;
	for (;;) {
		int commas = 0;
		while (p < end && (is_space(*p) || *p == ',')) {
			if (*p == ',' && ++commas > 1 && cnt)
				goto empty_item;
			p++;
		}
		if (p >= end)
			break;
		if (*p < '0' || *p > '9') {
			item_text(p, end, item, sizeof item);
			free(v);
			return lutdb_fail(LUTDB_EINVAL, "'%s' (at byte %zu) is not a token id", item,
					  (size_t)(p - text));
		}
		const char *start = p;
		uint64_t x = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			x = x * 10 + (uint64_t)(*p - '0');
			if (x > UINT32_MAX) {
				item_text(start, end, item, sizeof item);
				free(v);
				return lutdb_fail(LUTDB_EINVAL, "token id %s (at byte %zu) is too large", item,
						  (size_t)(start - text));
			}
			p++;
		}
		if (p < end && !is_space(*p) && *p != ',') {
			p = start;
			goto bad;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			uint32_t *nv = realloc(v, nc * sizeof *nv);
			if (!nv) {
				free(v);
				return lutdb_fail(LUTDB_ENOMEM, "lutdb_ids_parse");
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = (uint32_t)x;
	}
	*ids = v;
	*n = cnt;
	return LUTDB_OK;
empty_item:
	free(v);
	return lutdb_fail(LUTDB_EINVAL, "empty item between commas (at byte %zu) in the id list",
			  (size_t)(p - text));
bad:
	item_text(p, end, item, sizeof item);
	free(v);
	return lutdb_fail(LUTDB_EINVAL, "'%s' (at byte %zu) is not a token id", item, (size_t)(p - text));
}
