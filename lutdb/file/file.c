/*
 * file.c - looking up blobs, tensors and rows in an open lutdb file.
 *
 * Everything here reads the indexes file_open.c built: no LMDB call, no
 * lock, so any number of threads can look up at once.  A tensor or a row
 * has its checksum checked on first use (unless LUTDB_OPEN_NOVERIFY); the
 * "checked" marks are atomics, so two threads checking the same row at once
 * only repeat work.
 */
#include "file_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fail.h"
#include "geometry.h"
#include "lmdb_layout.h"

const lutdb_meta_ent *lutdb_file_meta_find(const lutdb_file *f, const char *name)
{
	for (size_t i = 0; i < f->nmeta; i++)
		if (!strcmp(f->meta[i].name, name))
			return &f->meta[i];
	return NULL;
}

/* A meta record, fully checked (meta records are small: always verified). */
int lutdb_file_meta_payload(lutdb_file *f, const char *name, int kind, const uint8_t **p, size_t *len)
{
	const lutdb_meta_ent *e = lutdb_file_meta_find(f, name);
	lutdb_rec rec;
	int rc;

	if (!e)
		return LUTDB_ENOENT;
	if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)))
		return lutdb_fail_prefix(rc, "%s: meta record \"%s\"", f->path, name);
	if (rec.kind != kind)
		return LUTDB_CORRUPT_BKPT("%s: meta record \"%s\" has the wrong kind", f->path, name);
	if ((rc = lutdb_rec_verify(&rec)))
		return lutdb_fail(rc, "%s: meta record \"%s\": checksum mismatch", f->path, name);
	*p = rec.payload;
	*len = rec.payload_len;
	return LUTDB_OK;
}

const lutdb_info *lutdb_file_info(const lutdb_file *f)
{
	return &f->info;
}

const char *lutdb_file_path(const lutdb_file *f)
{
	return f->path;
}

int lutdb_file_blob(lutdb_file *f, const char *name, const void **data, size_t *len)
{
	const uint8_t *p;
	int rc;

	rc = lutdb_file_meta_payload(f, name, LUTDB_REC_BLOB, &p, len);
	if (rc == LUTDB_ENOENT)
		return lutdb_fail(LUTDB_ENOENT, "%s: no %s stored", f->path, name);
	if (rc == LUTDB_OK)
		*data = p;
	return rc;
}

static int is_reserved(const char *name)
{
	return !strcmp(name, LUTDB_META_HEADER) || !strcmp(name, LUTDB_META_DIGEST);
}

size_t lutdb_file_blob_count(const lutdb_file *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nmeta; i++)
		n += !is_reserved(f->meta[i].name);
	return n;
}

int lutdb_file_blob_at(lutdb_file *f, size_t i, const char **name, const void **data, size_t *len)
{
	for (size_t k = 0; k < f->nmeta; k++) {
		if (is_reserved(f->meta[k].name))
			continue;
		if (i-- == 0) {
			*name = f->meta[k].name;
			return lutdb_file_blob(f, f->meta[k].name, data, len);
		}
	}
	return lutdb_fail(LUTDB_ERANGE, "%s: blob index out of range", f->path);
}

/* ---- tensors ---------------------------------------------------------------- */
size_t lutdb_file_tensor_count(const lutdb_file *f)
{
	return f->ntensors;
}

int lutdb_file_tensor_at(lutdb_file *f, size_t i, lutdb_tensor *out)
{
	lutdb_tensor_ent *e;
	lutdb_rec rec;
	int rc;

	if (i >= f->ntensors)
		return lutdb_fail(LUTDB_ERANGE, "%s: tensor index %zu out of range", f->path, i);
	e = &f->tensors[i];
	if ((rc = lutdb_rec_parse(e->rec, e->len, &rec)))
		return lutdb_fail_prefix(rc, "%s: tensor %s", f->path, e->name);
	if (!(f->flags & LUTDB_OPEN_NOVERIFY) && !atomic_load_explicit(&f->tensor_checked[i], memory_order_acquire)) {
		if ((rc = lutdb_rec_verify(&rec)))
			return lutdb_fail(rc, "%s: tensor %s: checksum mismatch", f->path, e->name);
		atomic_store_explicit(&f->tensor_checked[i], 1, memory_order_release);
	}
	out->name = e->name;
	out->dtype = e->th.dtype;
	out->ndim = e->th.ndim;
	memcpy(out->shape, e->th.dims, sizeof out->shape);
	out->nbytes = rec.payload_len;
	out->data = rec.payload;
	return LUTDB_OK;
}

int lutdb_file_tensor(lutdb_file *f, const char *name, lutdb_tensor *out)
{
	size_t lo = 0, hi = f->ntensors;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->tensors[mid].name, name);
		if (c == 0)
			return lutdb_file_tensor_at(f, mid, out);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lutdb_fail(LUTDB_ENOENT, "%s: no tensor %s", f->path, name);
}

/* ---- rows ------------------------------------------------------------------- */
/* The view of a whole token row of this file (every layer it holds). */
static void whole_row(const lutdb_file *f, const void *data, lutdb_row *out)
{
	const lutdb_file_hdr *h = &f->hdr;

	out->data = data;
	out->dtype = h->table_dtype;
	out->layer_first = h->layer_begin;
	out->layer_count = h->layer_end - h->layer_begin;
	out->nelems = out->layer_count * h->layer_row_elems;
}

int lutdb_file_block_header(lutdb_file *f, uint32_t b, int force_check, lutdb_rec *rec, lutdb_table_hdr *th)
{
	const lutdb_block_ent *e = &f->blocks[b];
	const lutdb_file_hdr *h = &f->hdr;
	int rc;

	if ((rc = lutdb_rec_parse(e->rec, e->len, rec)) || (rc = lutdb_table_hdr_parse(rec, th)))
		return lutdb_fail_prefix(rc, "%s: table key (layer %u, token %u)", f->path, h->layer_begin,
					 e->token_first);
	if (rec->kind != LUTDB_REC_TABLE || rec->header_len != h->page_size - 16 || rec->dtype != h->table_dtype ||
	    rec->codec != h->table_codec || th->token_first != e->token_first || th->token_count != e->token_count ||
	    th->layer_first != h->layer_begin || th->layer_count != h->layer_end - h->layer_begin ||
	    th->row_bytes != f->info.token_row_bytes)
		return LUTDB_CORRUPT_BKPT("%s: table key (layer %u, token %u): record header does not match the "
					  "file header", f->path, h->layer_begin, e->token_first);
	if (force_check || !atomic_load_explicit(&f->block_checked[b], memory_order_acquire)) {
		if ((rc = lutdb_rec_verify(rec)))
			return lutdb_fail(rc, "%s: table key (layer %u, token %u): header checksum mismatch",
					  f->path, h->layer_begin, e->token_first);
		atomic_store_explicit(&f->block_checked[b], 1, memory_order_release);
	}
	return LUTDB_OK;
}

int lutdb_file_token_row(lutdb_file *f, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			 lutdb_row *out)
{
	const lutdb_file_hdr *h = &f->hdr;
	lutdb_rec rec;
	lutdb_table_hdr th;
	uint64_t sum;
	uint32_t off, len, b, i;
	int rc, check;

	if (token >= h->vocab)
		return lutdb_fail(LUTDB_ERANGE, "token %u is out of range (vocabulary size %u)", token, h->vocab);
	if (token < h->token_begin || token >= h->token_end)
		return lutdb_fail(LUTDB_ERANGE, "%s: token %u is not in this file (it holds tokens %u..%u)", f->path,
				  token, h->token_begin, h->token_end - 1);
	b = token / h->block_tokens - h->token_begin / h->block_tokens;
	i = token - f->blocks[b].token_first;
	size_t word = (token - h->token_begin) / 64;
	uint64_t bit = 1ull << ((token - h->token_begin) % 64);
	check = (flags & LUTDB_READ_VERIFY) ||
		(!(f->flags & LUTDB_OPEN_NOVERIFY) &&
		 !(atomic_load_explicit(&f->row_checked[word], memory_order_acquire) & bit));
	/* Fast path: once a raw block's header has passed its full check, a
	 * row's place follows from the file header alone (the hot path of
	 * decoding: no re-parse per read). */
	if (!check && h->table_codec == LUTDB_CODEC_NONE &&
	    atomic_load_explicit(&f->block_checked[b], memory_order_acquire)) {
		uint64_t stride = lutdb_geom_row_stride(f->info.token_row_bytes);
		whole_row(f, f->blocks[b].rec + (h->page_size - 16) + (uint64_t)i * stride, out);
		return LUTDB_OK;
	}
	if ((rc = lutdb_file_block_header(f, b, flags & LUTDB_READ_VERIFY, &rec, &th)))
		return rc;
	lutdb_table_entry_get(&th, i, &sum, &off, &len);
	if (check) {
		if (lutdb_xxh3(rec.payload + off, len) != sum)
			return lutdb_fail(LUTDB_ECHECKSUM, "%s: table key (layer %u, token %u): row checksum mismatch",
					  f->path, h->layer_begin, token);
		atomic_fetch_or_explicit(&f->row_checked[word], bit, memory_order_acq_rel);
	}
	if (h->table_codec == LUTDB_CODEC_NONE) {
		whole_row(f, rec.payload + off, out);
		return LUTDB_OK;
	}
	if (!scratch || scratch_size < f->info.token_row_bytes)
		return lutdb_fail(LUTDB_EINVAL, "%s: compressed table needs a scratch buffer of %llu bytes", f->path,
				  (unsigned long long)f->info.token_row_bytes);
	rc = lutdb_codec_decode(h->table_codec, lutdb_dtype_size(h->table_dtype), rec.payload + off, len, scratch,
				f->info.token_row_bytes, NULL);
	if (rc)
		return lutdb_fail_prefix(rc, "%s: table key (layer %u, token %u)", f->path, h->layer_begin, token);
	whole_row(f, scratch, out);
	return LUTDB_OK;
}

int lutdb_file_layer_row(lutdb_file *f, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			 size_t scratch_size, lutdb_row *out)
{
	const lutdb_file_hdr *h = &f->hdr;
	int rc;

	if (layer >= h->layers)
		return lutdb_fail(LUTDB_ERANGE, "layer %u is out of range (the model has %u layers)", layer, h->layers);
	if (layer < h->layer_begin || layer >= h->layer_end)
		return lutdb_fail(LUTDB_ERANGE, "%s: layer %u is not in this file (it holds layers %u..%u)", f->path,
				  layer, h->layer_begin, h->layer_end - 1);
	if ((rc = lutdb_file_token_row(f, token, flags, scratch, scratch_size, out)))
		return rc;
	out->data = (const uint8_t *)out->data +
		    (size_t)(f->info.token_row_bytes / (h->layer_end - h->layer_begin)) * (layer - h->layer_begin);
	out->layer_first = layer;
	out->layer_count = 1;
	out->nelems = h->layer_row_elems;
	return LUTDB_OK;
}

/* The OS page size: madvise wants an address on one of its pages, which
 * are 16 KiB or 64 KiB on some arm64 kernels, not the file's 4096-byte
 * pages (a map starts on an OS page, so a file page is on one only when its
 * offset is a multiple of the OS page).  sysconf's answer does not change;
 * read once, as a relaxed atomic, since readers call this from many
 * threads. */
static uintptr_t os_page_size(void)
{
	static _Atomic uintptr_t cached;
	uintptr_t p = atomic_load_explicit(&cached, memory_order_relaxed);
	if (p == 0) {
		long v = sysconf(_SC_PAGESIZE);
		/* a power of two, or the format's page as before */
		p = v > 0 && ((unsigned long)v & ((unsigned long)v - 1)) == 0 ? (uintptr_t)v : LUTDB_PAGE_SIZE;
		atomic_store_explicit(&cached, p, memory_order_relaxed);
	}
	return p;
}

void lutdb_file_prefetch(lutdb_file *f, uint32_t token)
{
	const lutdb_file_hdr *h = &f->hdr;

	if (token < h->token_begin || token >= h->token_end || h->table_codec != LUTDB_CODEC_NONE)
		return;
	uint32_t b = token / h->block_tokens - h->token_begin / h->block_tokens;
	const lutdb_block_ent *e = &f->blocks[b];
	uint64_t stride = lutdb_geom_row_stride(f->info.token_row_bytes);
	uintptr_t start = (uintptr_t)e->rec + (h->page_size - 16) + (token - e->token_first) * stride;
	uintptr_t page = os_page_size();
	uintptr_t lo = start & ~(page - 1), rec = (uintptr_t)e->rec & ~(page - 1);
	/* The record header page (its checksums) is needed too.  (A hint: its
	 * failure changes nothing, so its result is not checked.) */
	madvise((void *)rec, (uintptr_t)e->rec + h->page_size - rec, MADV_WILLNEED);
	madvise((void *)lo, start + f->info.token_row_bytes - lo, MADV_WILLNEED);
}
