/*
 * fuzz_record.c - record layouts (format/record.c): the common prefix
 * (lutdb_rec_parse / lutdb_rec_verify), LTEN tensor headers, LTBL table
 * headers with their row entries (and decoding each row as a reader would),
 * and the LHDR file header.
 *
 * Input: one record, as an LMDB value would hold it.  The same bytes are
 * also parsed as a bare 256-byte LHDR payload (from offset 0 and, for a
 * record, from offset 32), so header fields are reached without a valid
 * prefix.  Contracts on success: the payload lies inside the input; a
 * tensor's dims multiply to its payload; a table's entries lie inside the
 * payload (codec none: the fixed stride layout), and a row that decodes
 * has exactly row_bytes; a file header's ranges are ordered and inside the
 * geometry, its row fits below 2^31, and writing it back gives the bytes
 * parsed.
 */
#include "fuzz_common.h"
#include "quant.h"
#include "record.h"

#include <math.h>

#define ROW_CAP (1u << 22) /* decode rows up to 4 MiB */

static void file_header(const uint8_t *p, size_t n)
{
	lutdb_file_hdr h;
	int rc = lutdb_file_hdr_parse(p, n, &h);

	FUZZ_CHECK_RC(rc);
	if (rc)
		return;
	FUZZ_CHECK(n == LUTDB_HEADER_PAYLOAD);
	FUZZ_CHECK(h.major == LUTDB_FORMAT_MAJOR);
	FUZZ_CHECK(h.token_begin < h.token_end && h.token_end <= h.vocab);
	FUZZ_CHECK(h.layer_begin < h.layer_end && h.layer_end <= h.layers && h.layers <= 65536);
	FUZZ_CHECK(h.shard_index < h.shard_count && h.block_tokens >= 1);
	FUZZ_CHECK(h.hidden % h.heads == 0 && h.heads % h.kv_heads == 0);
	uint64_t row = lutdb_dtype_bytes(h.table_dtype, h.table_block,
					 (uint64_t)(h.layer_end - h.layer_begin) * h.layer_row_elems);
	FUZZ_CHECK(row > 0 && row < (1ull << 31));
	/* Format 1.1: a quantized table's block is allowed and divides every
	 * vector; a float table has none. */
	if (lq_is_quant(h.table_dtype)) {
		FUZZ_CHECK(h.minor >= 1 && lq_check_block(h.table_dtype, h.table_block) == LUTDB_OK);
		FUZZ_CHECK(h.hidden % h.table_block == 0 && (h.kv_dim % h.table_block) == 0);
		FUZZ_CHECK(h.table_codec != LUTDB_CODEC_SHUFFLE_LZ4);
	} else {
		FUZZ_CHECK(h.table_block == 0);
	}
	uint8_t back[LUTDB_HEADER_PAYLOAD];
	lutdb_file_hdr_write(back, &h);
	FUZZ_CHECK(!memcmp(back, p, LUTDB_HEADER_PAYLOAD));
}

/* Decodes len bytes of a quantized run at every block size that tiles
 * them exactly (32, 64, 128, 768): hostile scales and codes.  Contract:
 * LUTDB_OK with finite values, or LUTDB_ECORRUPT for a non-finite scale. */
static void dequantize_all(int dtype, const uint8_t *p, size_t len)
{
	static const uint32_t blocks[] = {32, 64, 128, 768};

	if (!lq_is_quant(dtype) || len > ROW_CAP)
		return;
	for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
		uint64_t bb = lq_block_bytes(dtype, blocks[k]);
		if (!bb || len % bb)
			continue;
		size_t n = (size_t)(len / bb) * blocks[k];
		float *v = malloc(n * sizeof *v + 1);
		FUZZ_CHECK(v);
		uint8_t *src = fuzz_dup(p, len); /* exact size: ASan sees any overread */
		int rc = lq_dequantize(dtype, blocks[k], src, n, v);
		FUZZ_CHECK_RC(rc);
		FUZZ_CHECK(rc == LUTDB_OK || rc == LUTDB_ECORRUPT);
		for (size_t i = 0; rc == LUTDB_OK && i < n; i++)
			FUZZ_CHECK(isfinite(v[i]));
		free(src);
		free(v);
	}
}

static void table(const lutdb_rec *rec)
{
	lutdb_table_hdr th;
	int rc = lutdb_table_hdr_parse(rec, &th);

	FUZZ_CHECK_RC(rc);
	if (rc)
		return;
	/* Quantized rows are whole blocks, sized by the file header's B:
	 * any byte count here. */
	size_t esz = lq_is_quant(rec->dtype) ? 1 : lutdb_dtype_size(rec->dtype);
	FUZZ_CHECK(th.token_count >= 1 && th.token_count <= lutdb_table_max_tokens(rec->header_len));
	FUZZ_CHECK(th.layer_count >= 1 && th.row_bytes > 0 && th.row_bytes % esz == 0);
	FUZZ_CHECK(th.entries == rec->base + LUTDB_TABLE_HEADER_FIXED);
	uint8_t *raw = th.row_bytes <= ROW_CAP ? malloc(th.row_bytes) : NULL;
	for (uint32_t i = 0; i < th.token_count; i++) {
		uint64_t sum;
		uint32_t off, len;
		lutdb_table_entry_get(&th, i, &sum, &off, &len);
		FUZZ_CHECK((uint64_t)off + len <= rec->payload_len);
		if (rec->codec == LUTDB_CODEC_NONE) {
			FUZZ_CHECK(len == th.row_bytes && off == (uint64_t)i * th.row_stride);
			if (i < 2)
				dequantize_all(rec->dtype, rec->payload + off, len);
			continue;
		}
		/* What lutdb_token_row does: checksum of the stored bytes, then
		 * decode into exactly row_bytes. */
		(void)(lutdb_xxh3(rec->payload + off, len) == sum);
		if (!raw)
			continue;
		uint8_t *src = fuzz_dup(rec->payload + off, len);
		rc = lutdb_codec_decode(rec->codec, esz, src, len, raw, th.row_bytes, NULL);
		FUZZ_CHECK_RC(rc);
		FUZZ_CHECK(rc == LUTDB_OK || rc == LUTDB_ECORRUPT || rc == LUTDB_ENOMEM);
		if (rc == LUTDB_OK) {
			fuzz_touch(raw, th.row_bytes);
			if (i < 2)
				dequantize_all(rec->dtype, raw, th.row_bytes);
		}
		free(src);
	}
	free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lutdb_rec rec;
	int rc;

	file_header(data, size);
	if (size >= LUTDB_REC_PREFIX + LUTDB_HEADER_PAYLOAD)
		file_header(data + LUTDB_REC_PREFIX, LUTDB_HEADER_PAYLOAD);
	rc = lutdb_rec_parse(data, size, &rec);
	FUZZ_CHECK_RC(rc);
	if (rc)
		return 0;
	FUZZ_CHECK(rec.base == data && rec.payload == data + rec.header_len);
	FUZZ_CHECK(rec.header_len >= LUTDB_REC_PREFIX && rec.header_len % 16 == 0);
	FUZZ_CHECK((uint64_t)rec.header_len + rec.payload_len == size);
	rc = lutdb_rec_verify(&rec);
	FUZZ_CHECK(rc == LUTDB_OK || rc == LUTDB_ECHECKSUM);
	if (rc == LUTDB_OK) {
		/* Sealing a verified record changes nothing. */
		uint8_t *copy = fuzz_dup(data, size);
		lutdb_rec_seal(copy, rec.header_len, size, rec.kind);
		FUZZ_CHECK(!memcmp(copy, data, size));
		free(copy);
	}
	switch (rec.kind) {
	case LUTDB_REC_TENSOR: {
		lutdb_tensor_hdr th;
		rc = lutdb_tensor_hdr_parse(&rec, &th);
		FUZZ_CHECK_RC(rc);
		if (rc == LUTDB_OK) {
			uint64_t n = 1;
			FUZZ_CHECK(th.ndim >= 1 && th.ndim <= LUTDB_TENSOR_MAX_DIMS);
			for (uint32_t i = 0; i < th.ndim; i++)
				n *= th.dims[i];
			FUZZ_CHECK(lutdb_dtype_bytes(th.dtype, 32, n) == rec.payload_len);
			/* Tensors are Q8_0/Q4_0 with blocks of 32 along the rows. */
			FUZZ_CHECK(th.dtype != LQ_DTYPE_NF4 && th.dtype != LQ_DTYPE_NF3);
			if (lq_is_quant(th.dtype)) {
				FUZZ_CHECK(th.dims[th.ndim - 1] % 32 == 0);
				if (rec.payload_len <= ROW_CAP) {
					float *v = malloc((size_t)n * sizeof *v + 1);
					FUZZ_CHECK(v);
					rc = lq_dequantize(th.dtype, 32, rec.payload, (size_t)n, v);
					FUZZ_CHECK(rc == LUTDB_OK || rc == LUTDB_ECORRUPT);
					free(v);
				}
			}
		}
		break;
	}
	case LUTDB_REC_TABLE:
		table(&rec);
		break;
	case LUTDB_REC_HEADER:
		file_header(rec.payload, (size_t)rec.payload_len);
		break;
	default:
		break;
	}
	/* A record of one kind is never parsed as another. */
	lutdb_tensor_hdr th2;
	lutdb_table_hdr tb2;
	if (rec.kind != LUTDB_REC_TENSOR)
		FUZZ_CHECK(lutdb_tensor_hdr_parse(&rec, &th2) == LUTDB_ECORRUPT);
	if (rec.kind != LUTDB_REC_TABLE)
		FUZZ_CHECK(lutdb_table_hdr_parse(&rec, &tb2) == LUTDB_ECORRUPT);
	return 0;
}
