/*
 * rows.c - the table rows of a pass: its only I/O.
 *
 * lutdb_session_feed (feed.c) and lutdb_batch_step (batch_step.c) hint rows
 * as early as they can and resolve a span's rows before any of the pass's
 * arithmetic: each row is looked up, its checksum checked on first read,
 * and, with a compressing codec, decoded into a row slot (the pass's for
 * MoLE, which reads only the pass's rows; the sequence's for MoLKV, which
 * also reads the window's earlier ones).  So a damaged row fails here, with
 * the store's code and context, and the layers (layer.c) only ever see rows
 * that passed.
 */
#include "engine_internal.h"
#include "fail.h"

void lr_rows_prefetch(const lutdb_model *m, unsigned flags, const uint32_t *ids, size_t n)
{
	if (flags & LUTDB_SESSION_NO_EXPERTS)
		return;
	for (size_t i = 0; i < n; i++)
		lutdb_prefetch_token(m->db, ids[i]);
}

/* Where position pos (row row of the pass) of q decodes its row, or NULL
 * when rows are read in place. */
static unsigned char *row_slot(const lr_pass *p, const lr_seq *q, uint32_t row, uint32_t pos)
{
	if (p->row_slots)
		return p->row_slots + (size_t)row * p->row_bytes;
	if (q->row_slots)
		return q->row_slots + (size_t)(pos % q->nslots) * p->row_bytes;
	return NULL;
}

int lr_rows_resolve(lr_pass *p, const lr_span *sp)
{
	const lutdb_model *m = p->m;
	lutdb_row row;

	if (p->flags & LUTDB_SESSION_NO_EXPERTS)
		return LUTDB_OK;
	for (uint32_t i = 0; i < sp->c; i++) {
		uint32_t pos = sp->p0 + i;
		unsigned char *slot = row_slot(p, sp->seq, sp->row0 + i, pos);
		int rc = lutdb_token_row(m->db, sp->ids[i], 0, slot, slot ? p->row_bytes : 0, &row);
		if (rc)
			return rc;
		if (row.layer_first != 0 || row.layer_count != m->L || row.dtype != lk_dt_dtype(m->tdt))
			return lutdb_fail(LUTDB_ECORRUPT, "%s: table row of token %u has the wrong layout",
					  lutdb_path(m->db), sp->ids[i]);
		sp->seq->token_rows[pos] = row.data;
	}
	return LUTDB_OK;
}
