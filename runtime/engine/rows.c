/*
 * rows.c - the table rows of a chunk: the only I/O of a feed.
 *
 * lutdb_session_feed (feed.c) hints every chunk's rows as early as it can
 * (the first chunk's when the call starts, each next chunk's while the one
 * before computes) and resolves a chunk's rows before any of the chunk's
 * arithmetic: each row is looked up, its checksum checked on first read,
 * and, with a compressing codec, decoded into the session's row slots.  So a
 * damaged row fails the feed here, with the store's code and context, and
 * the layers (layer.c) only ever see rows that passed.
 */
#include "engine_internal.h"
#include "fail.h"

void lr_rows_prefetch(const lutdb_session *s, const uint32_t *ids, size_t n)
{
	if (s->flags & LUTDB_SESSION_NO_EXPERTS)
		return;
	for (size_t i = 0; i < n; i++)
		lutdb_prefetch_token(s->m->db, ids[i]);
}

int lr_rows_resolve(lutdb_session *s, uint32_t p0, uint32_t c, const uint32_t *ids)
{
	const lutdb_model *m = s->m;
	lutdb_row row;

	if (s->flags & LUTDB_SESSION_NO_EXPERTS)
		return LUTDB_OK;
	for (uint32_t i = 0; i < c; i++) {
		uint32_t p = p0 + i;
		unsigned char *slot = s->row_slots ? s->row_slots + (size_t)(p % s->nslots) * s->row_bytes : NULL;
		int rc = lutdb_token_row(m->db, ids[i], 0, slot, slot ? s->row_bytes : 0, &row);
		if (rc)
			return rc;
		if (row.layer_first != 0 || row.layer_count != m->L || row.dtype != m->tdt)
			return lutdb_fail(LUTDB_ECORRUPT, "%s: table row of token %u has the wrong layout",
					  lutdb_path(m->db), ids[i]);
		s->token_rows[p] = row.data;
	}
	return LUTDB_OK;
}
