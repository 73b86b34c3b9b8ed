/*
 * file_verify.c - checks every byte and invariant of one open file.
 *
 * Order: meta records, tensors (checksums, then the expected set and shapes
 * for the family), table records (header checksum, structure, every row's
 * checksum, zero padding, decodability), and last the content digest, which
 * is recomputed over the same bytes in the spec's order.  The first failure
 * stops the walk and names its place.
 */
#include "file_internal.h"

#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "schema.h"

typedef struct progress {
	lutdb_progress_fn fn;
	void *ctx;
	uint64_t done, total;
} progress;

static int tick(progress *p, uint64_t bytes)
{
	p->done += bytes;
	if (p->fn && p->fn(p->ctx, p->done, p->total))
		return lutdb_fail(LUTDB_EINTR, "verify cancelled");
	return LUTDB_OK;
}

static int verify_meta(lutdb_file *f, lutdb_digest_state *dg)
{
	lutdb_rec rec;
	int rc;

	lutdb_digest_reset(dg);
	for (size_t i = 0; i < f->nmeta; i++) {
		const lutdb_meta_ent *e = &f->meta[i];
		if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)))
			return lutdb_fail_prefix(rc, "%s: meta record \"%s\"", f->path, e->name);
		if ((rc = lutdb_rec_verify(&rec)))
			return lutdb_fail(rc, "%s: meta record \"%s\": checksum mismatch", f->path, e->name);
		if (strcmp(e->name, LUTDB_META_DIGEST))
			lutdb_digest_record(dg, e->name, strlen(e->name), e->rec, e->len);
	}
	return LUTDB_OK;
}

/* Block-quantized values decode: every block's scale is finite (writers
 * never store another, spec/FORMAT.md 10.10).  vals: n floats of scratch. */
static int decodes(int dtype, uint32_t block, const void *data, uint64_t n, float *vals)
{
	if (!lutdb_dtype_is_quantized(dtype))
		return LUTDB_OK;
	return lutdb_decode_f32(dtype, block, data, (size_t)n, vals);
}

/* A quantized tensor's blocks decode, a bounded chunk at a time (an
 * embedding can hold 10^8 values). */
static int tensor_decodes(const lutdb_file *f, const lutdb_tensor *t)
{
	enum { CHUNK = 1 << 16 };
	uint64_t bb = t->dtype == LUTDB_DTYPE_Q8_0 ? 34 : 18, n;
	float *v;
	int rc = LUTDB_OK;

	if (!lutdb_dtype_is_quantized(t->dtype))
		return LUTDB_OK;
	n = t->nbytes / bb * 32;
	if (!(v = malloc(CHUNK * sizeof *v)))
		return lutdb_fail(LUTDB_ENOMEM, "verify");
	for (uint64_t at = 0; at < n && rc == LUTDB_OK; at += CHUNK) {
		uint64_t k = n - at < CHUNK ? n - at : CHUNK;
		rc = decodes(t->dtype, 32, (const uint8_t *)t->data + at / 32 * bb, k, v);
	}
	free(v);
	return rc ? lutdb_fail_prefix(rc, "%s: tensor %s", f->path, t->name) : LUTDB_OK;
}

static int verify_tensors(lutdb_file *f, lutdb_digest_state *dg, progress *pr)
{
	lutdb_schema_ent *want = NULL;
	size_t nwant = 0;
	int rc;

	lutdb_digest_reset(dg);
	for (size_t i = 0; i < f->ntensors; i++) {
		lutdb_tensor t;
		if ((rc = lutdb_file_tensor_at(f, i, &t)))
			return rc;
		lutdb_rec rec;
		lutdb_rec_parse(f->tensors[i].rec, f->tensors[i].len, &rec);
		if ((rc = lutdb_rec_verify(&rec)))
			return lutdb_fail(rc, "%s: tensor %s: checksum mismatch", f->path, t.name);
		lutdb_digest_record(dg, t.name, strlen(t.name), f->tensors[i].rec, f->tensors[i].len);
		if ((rc = tensor_decodes(f, &t)))
			return rc;
		if ((rc = tick(pr, f->tensors[i].len)))
			return rc;
	}
	/* Shard files other than the one holding the dense weights store none. */
	if (f->ntensors == 0 && f->hdr.shard_count > 1)
		return LUTDB_OK;
	if ((rc = lutdb_schema_build(&f->cfg, f->hdr.family, LUTDB_SCHEMA_STORED, &want, &nwant)))
		return rc;
	if (nwant != f->ntensors) {
		rc = LUTDB_CORRUPT_BKPT("%s: %zu tensors stored, the model needs %zu", f->path, f->ntensors, nwant);
		goto out;
	}
	for (size_t i = 0; i < nwant; i++) {
		const lutdb_tensor_ent *e = &f->tensors[i];
		if (strcmp(e->name, want[i].name)) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s is stored where %s was expected", f->path, e->name,
						want[i].name);
			goto out;
		}
		if (e->th.ndim != want[i].ndim || e->th.dims[0] != want[i].dims[0] ||
		    (want[i].ndim == 2 && e->th.dims[1] != want[i].dims[1])) {
			rc = LUTDB_CORRUPT_BKPT("%s: tensor %s has the wrong shape for the config", f->path, e->name);
			goto out;
		}
	}
out:
	free(want);
	return rc;
}

static int verify_table(lutdb_file *f, lutdb_digest_state *dg, progress *pr)
{
	const lutdb_file_hdr *h = &f->hdr;
	uint8_t *scratch = NULL;
	float *vals = NULL;
	uint64_t nvals = (uint64_t)(h->layer_end - h->layer_begin) * h->layer_row_elems;
	int rc = LUTDB_OK;

	lutdb_digest_reset(dg);
	if (h->table_codec != LUTDB_CODEC_NONE && !(scratch = malloc(f->info.token_row_bytes)))
		return lutdb_fail(LUTDB_ENOMEM, "verify");
	if (lutdb_dtype_is_quantized(h->table_dtype) && !(vals = malloc(nvals * sizeof *vals))) {
		free(scratch);
		return lutdb_fail(LUTDB_ENOMEM, "verify");
	}
	for (uint32_t b = 0; b < f->nblocks; b++) {
		const lutdb_block_ent *e = &f->blocks[b];
		lutdb_rec rec;
		lutdb_table_hdr th;
		uint8_t key[LUTDB_TABLE_KEY_SIZE];
		if ((rc = lutdb_file_block_header(f, b, 1, &rec, &th)))
			goto out;
		for (uint32_t i = 0; i < th.token_count; i++) {
			lutdb_row row;
			if ((rc = lutdb_file_token_row(f, e->token_first + i, LUTDB_READ_VERIFY, scratch,
						       scratch ? f->info.token_row_bytes : 0, &row)))
				goto out;
			if ((rc = decodes(h->table_dtype, h->table_block, row.data, nvals, vals))) {
				lutdb_fail_prefix(rc, "%s: table key (layer %u, token %u)", f->path, h->layer_begin,
						  e->token_first + i);
				goto out;
			}
			if (h->table_codec == LUTDB_CODEC_NONE) {
				const uint8_t *pad = (const uint8_t *)row.data + th.row_bytes;
				for (uint32_t k = th.row_bytes; k < th.row_stride; k++, pad++)
					if (*pad) {
						rc = LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u): "
									"nonzero padding", f->path,
									h->layer_begin, e->token_first + i);
						goto out;
					}
			}
		}
		lutdb_table_key_encode(key, h->layer_begin, e->token_first);
		lutdb_digest_record(dg, key, sizeof key, e->rec, e->len);
		if ((rc = tick(pr, e->len)))
			goto out;
	}
out:
	free(scratch);
	free(vals);
	return rc;
}

int lutdb_file_verify(lutdb_file *f, lutdb_progress_fn fn, void *ctx)
{
	uint8_t dmeta[16], dtable[16], dtensors[16], digest[16];
	lutdb_digest_state *dg = lutdb_digest_new();
	progress pr = {fn, ctx, 0, 0};
	int rc;

	if (!dg)
		return lutdb_fail(LUTDB_ENOMEM, "verify");
	for (size_t i = 0; i < f->ntensors; i++)
		pr.total += f->tensors[i].len;
	for (uint32_t b = 0; b < f->nblocks; b++)
		pr.total += f->blocks[b].len;
	if ((rc = verify_meta(f, dg)))
		goto out;
	lutdb_digest_final(dg, dmeta);
	if ((rc = verify_tensors(f, dg, &pr)))
		goto out;
	lutdb_digest_final(dg, dtensors);
	if ((rc = verify_table(f, dg, &pr)))
		goto out;
	lutdb_digest_final(dg, dtable);
	lutdb_digest_combine(dmeta, dtable, dtensors, digest);
	if (memcmp(digest, f->info.digest, 16)) {
		char want[33], got[33];
		lutdb_hex16(f->info.digest, want);
		lutdb_hex16(digest, got);
		rc = lutdb_fail(LUTDB_ECHECKSUM, "%s: content digest %s does not match the stored %s", f->path, got,
				want);
	}
out:
	lutdb_digest_free(dg);
	return rc;
}
