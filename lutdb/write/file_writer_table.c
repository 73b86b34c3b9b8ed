/*
 * file_writer_table.c - the table of one file: rows grouped into records of
 * block_tokens tokens, encoded, checksummed and written in place.
 *
 * Why table blocks are written with pwrite(): a first store into a page of
 * the map faults it in, and the kernel fills such a page from the file
 * first (zeroes, for preallocated space) only for the store to overwrite
 * it.  On ext4 that zeroing was half of `lutdb shard`'s time.  A block is
 * therefore assembled in a heap image and written at its reserved place in
 * the map with pwrite(), which fills whole page-cache pages directly; the
 * page cache is shared with the map, so LMDB sees the same bytes.  LMDB
 * still stores each record's page header through the map, and the kernel
 * reads around a faulting page (zeroing up to megabytes ahead that pwrite
 * then overwrites), so the map is marked MADV_RANDOM: a fault fills one page.
 */
#include "file_writer_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "fail.h"
#include "lmdb_layout.h"

/* The file offset of a value LMDB reserved at dst, or -1 when it cannot
 * tell.  A value this large is an overflow run: dst is just past its page
 * header, which holds the page number.  The first such value also locates
 * the map, which is then marked MADV_RANDOM (see above). */
off_t lutdb_fw_reserved_offset(lutdb_file_writer *w, uint8_t *dst)
{
	uint8_t *pg = dst - PAGEHDRSZ;
	uint64_t pgno = rd64(pg + PG_PGNO_OFF);
	uint16_t flags = rd16(pg + PG_FLAGS_OFF);

	if ((uintptr_t)pg % w->hdr.page_size || !(flags & P_OVERFLOW) || pgno >= w->mapsize / w->hdr.page_size)
		return -1;
	if (!w->map_advised) {
		w->map_advised = 1;
		(void)madvise(pg - pgno * w->hdr.page_size, (size_t)w->mapsize, MADV_RANDOM); /* a hint */
	}
	return (off_t)(pgno * w->hdr.page_size + PAGEHDRSZ);
}

/* Writes len bytes of src as the value LMDB reserved at dst, through the
 * file; through the map should reserved_offset() not know the place (an
 * LMDB with another page layout). */
static int map_write(lutdb_file_writer *w, uint8_t *dst, const void *src, size_t len)
{
	const uint8_t *p = src;
	off_t off = lutdb_fw_reserved_offset(w, dst);

	if (off < 0) {
		memcpy(dst, src, len);
		return LUTDB_OK;
	}

	while (len) {
		ssize_t n = pwrite(w->fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->failed = 1;
			return lutdb_fw_sys_fail(n < 0 ? errno : EIO, "cannot write table block", w->tmp_path);
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return LUTDB_OK;
}

/* Tokens of the block that starts at token: blocks are aligned to global
 * multiples of block_tokens and clipped to the file's token range, so a
 * token's block is found by division in any shard. */
static uint32_t block_count_at(const lutdb_file_writer *w, uint32_t token)
{
	uint32_t bt = w->hdr.block_tokens;
	uint64_t end = ((uint64_t)token / bt + 1) * bt;

	if (end > w->hdr.token_end)
		end = w->hdr.token_end;
	return (uint32_t)(end - token);
}

static int block_open_none(lutdb_file_writer *w)
{
	uint8_t key[LUTDB_TABLE_KEY_SIZE];
	MDB_val k = {sizeof key, key}, v;
	int rc;

	lutdb_table_key_encode(key, w->hdr.layer_begin, w->blk_first);
	v.mv_data = NULL;
	v.mv_size = w->header_len + (size_t)w->blk_count * w->row_stride;
	rc = mdb_put(w->txn, w->dbi_table, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc) {
		w->failed = 1;
		return lutdb_fw_mdb_fail(rc, "table block", w->tmp_path);
	}
	w->blk_rec = v.mv_data;
	memset(w->blk_img, 0, w->header_len);
	return LUTDB_OK;
}

static void block_header(lutdb_file_writer *w, uint8_t *hdr, uint64_t payload_len)
{
	lutdb_table_hdr th = {
		.token_first = w->blk_first,
		.token_count = w->blk_count,
		.layer_first = w->hdr.layer_begin,
		.layer_count = w->hdr.layer_end - w->hdr.layer_begin,
		.row_bytes = (uint32_t)w->row_bytes,
		.row_stride = w->hdr.table_codec == LUTDB_CODEC_NONE ? w->row_stride : 0,
	};
	lutdb_table_hdr_write(hdr, w->header_len, w->hdr.table_dtype, w->hdr.table_codec, &th, payload_len);
}

/* Completes the open block: header, checksums, digest. */
static int block_close(lutdb_file_writer *w)
{
	uint8_t key[LUTDB_TABLE_KEY_SIZE];
	int rc;

	lutdb_table_key_encode(key, w->hdr.layer_begin, w->blk_first);
	if (w->hdr.table_codec == LUTDB_CODEC_NONE) {
		uint64_t payload = (uint64_t)w->blk_count * w->row_stride;
		/* Entries were set as rows arrived; the header write keeps them. */
		block_header(w, w->blk_img, payload);
		lutdb_rec_seal(w->blk_img, w->header_len, w->header_len + payload, LUTDB_REC_TABLE);
		lutdb_digest_record(w->dg_table, key, sizeof key, w->blk_img, w->header_len + payload);
		if ((rc = map_write(w, w->blk_rec, w->blk_img, w->header_len + payload)))
			return rc;
	} else {
		size_t esz = lutdb_dtype_size(w->hdr.table_dtype);
		size_t off = 0, len;
		uint8_t *enc = w->blk_img + w->header_len;
		memset(w->blk_img, 0, w->header_len);
		for (uint32_t i = 0; i < w->blk_count; i++) {
			rc = lutdb_codec_encode(w->hdr.table_codec, esz, w->blk_raw + (size_t)i * w->row_bytes,
						w->row_bytes, enc + off, w->blk_enc_cap - off, &len, w->shuffle_tmp);
			if (rc) {
				w->failed = 1;
				return lutdb_fail_prefix(rc, "table block at token %u", w->blk_first);
			}
			lutdb_table_entry_set(w->blk_img, i, lutdb_xxh3(enc + off, len), (uint32_t)off,
					      (uint32_t)len);
			off += len;
		}
		MDB_val k = {sizeof key, key}, v = {w->header_len + off, NULL};
		rc = mdb_put(w->txn, w->dbi_table, &k, &v, MDB_RESERVE | MDB_APPEND);
		if (rc) {
			w->failed = 1;
			return lutdb_fw_mdb_fail(rc, "table block", w->tmp_path);
		}
		block_header(w, w->blk_img, off);
		lutdb_rec_seal(w->blk_img, w->header_len, v.mv_size, LUTDB_REC_TABLE);
		lutdb_digest_record(w->dg_table, key, sizeof key, w->blk_img, v.mv_size);
		if ((rc = map_write(w, v.mv_data, w->blk_img, v.mv_size)))
			return rc;
	}
	w->hdr.table_records++;
	w->blk_filled = 0;
	w->blk_rec = NULL;
	return LUTDB_OK;
}

int lutdb_file_writer_put_rows(lutdb_file_writer *w, uint32_t token_first, uint32_t count, const void *rows,
			       size_t src_stride)
{
	const uint8_t *src = rows;
	int rc;

	if ((rc = lutdb_fw_usable(w, "put_rows")))
		return rc;
	if (w->in_tensor)
		return lutdb_fail(LUTDB_EINVAL, "put_rows: a tensor is open");
	if (token_first != w->next_token || count > w->hdr.token_end - token_first)
		return lutdb_fail(LUTDB_EINVAL, "put_rows: tokens must arrive in order inside [%u, %u)",
				  w->hdr.token_begin, w->hdr.token_end);
	for (uint32_t i = 0; i < count; i++, src += src_stride) {
		uint32_t t = token_first + i;
		if (!w->blk_filled) {
			w->blk_first = t;
			w->blk_count = block_count_at(w, t);
			if (w->hdr.table_codec == LUTDB_CODEC_NONE && (rc = block_open_none(w)))
				return rc;
		}
		uint32_t j = w->blk_filled;
		if (w->hdr.table_codec == LUTDB_CODEC_NONE) {
			uint8_t *dst = w->blk_img + w->header_len + (size_t)j * w->row_stride;
			memcpy(dst, src, w->row_bytes);
			memset(dst + w->row_bytes, 0, w->row_stride - w->row_bytes);
			lutdb_table_entry_set(w->blk_img, j, lutdb_xxh3(dst, w->row_bytes), j * w->row_stride,
					      (uint32_t)w->row_bytes);
		} else {
			memcpy(w->blk_raw + (size_t)j * w->row_bytes, src, w->row_bytes);
		}
		w->blk_filled++;
		w->next_token++;
		if (w->blk_filled == w->blk_count && (rc = block_close(w)))
			return rc;
	}
	return LUTDB_OK;
}
