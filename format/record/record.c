/*
 * record.c - LMDB keys and the record layouts: common prefix, LTEN tensor
 * header, LTBL table header, LHDR file header.  Pure byte codecs, no I/O.
 *
 * Every parse function treats its input as hostile: each field is checked
 * before it is used, all size arithmetic is done in uint64_t with explicit
 * overflow checks, and failures return LUTDB_ECORRUPT via LUTDB_CORRUPT_BKPT
 * with the record kind and field in the detail (LUTDB_EVERSION for an
 * unknown major version in the file header).
 */
#include "record.h"

#include "bytes.h"
#include "fail.h"
#include "geometry.h"
#include "quant.h"

#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* a * b into *out; 0 on overflow. */
/* Element types a tensor may have: the floats, and ggml's two block types
 * (spec/FORMAT.md 10: NF4/NF3 are for tables only). */
static int tensor_dtype_known(int dtype)
{
	return lutdb_dtype_size(dtype) != 0 || dtype == LQ_DTYPE_Q8_0 || dtype == LQ_DTYPE_Q4_0;
}

static int table_dtype_known(int dtype)
{
	return lutdb_dtype_size(dtype) != 0 || lq_is_quant(dtype);
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	if (a != 0 && b > UINT64_MAX / a)
		return 0;
	*out = a * b;
	return 1;
}

/* ---- keys ---------------------------------------------------------------- */

void lutdb_table_key_encode(uint8_t key[LUTDB_TABLE_KEY_SIZE], uint32_t layer_first, uint32_t token_first)
{
	key[0] = (uint8_t)(layer_first >> 8);
	key[1] = (uint8_t)layer_first;
	key[2] = 0;
	key[3] = 0;
	key[4] = (uint8_t)(token_first >> 24);
	key[5] = (uint8_t)(token_first >> 16);
	key[6] = (uint8_t)(token_first >> 8);
	key[7] = (uint8_t)token_first;
}

int lutdb_table_key_decode(const void *key, size_t len, uint32_t *layer_first, uint32_t *token_first)
{
	const uint8_t *k = key;

	if (k == NULL || len != LUTDB_TABLE_KEY_SIZE)
		return LUTDB_CORRUPT_BKPT("table key: %zu bytes, expected %d", k ? len : 0, LUTDB_TABLE_KEY_SIZE);
	if (k[2] != 0 || k[3] != 0)
		return LUTDB_CORRUPT_BKPT("table key: reserved bytes %02x %02x are not zero", k[2], k[3]);
	if (layer_first)
		*layer_first = (uint32_t)k[0] << 8 | k[1];
	if (token_first)
		*token_first = (uint32_t)k[4] << 24 | (uint32_t)k[5] << 16 | (uint32_t)k[6] << 8 | k[7];
	return LUTDB_OK;
}

/* ---- common record prefix ------------------------------------------------ */

static const char *const magics[] = {
	[LUTDB_REC_HEADER] = LUTDB_MAGIC_HEADER,
	[LUTDB_REC_BLOB] = LUTDB_MAGIC_BLOB,
	[LUTDB_REC_TENSOR] = LUTDB_MAGIC_TENSOR,
	[LUTDB_REC_TABLE] = LUTDB_MAGIC_TABLE,
};

static const char *kind_name(int kind)
{
	if (kind >= LUTDB_REC_HEADER && kind <= LUTDB_REC_TABLE)
		return magics[kind];
	return "record";
}

int lutdb_rec_parse(const void *data, size_t len, lutdb_rec *out)
{
	const uint8_t *p = data;
	int kind = 0, k;
	uint16_t version;
	uint32_t header_len, flags;
	uint64_t payload_len;
	int dtype, codec;

	if (out)
		memset(out, 0, sizeof *out);
	if (p == NULL || len < LUTDB_REC_PREFIX)
		return LUTDB_CORRUPT_BKPT("record: %zu bytes, shorter than the %d-byte prefix", p ? len : 0,
					  LUTDB_REC_PREFIX);
	for (k = LUTDB_REC_HEADER; k <= LUTDB_REC_TABLE; k++)
		if (memcmp(p, magics[k], 4) == 0)
			kind = k;
	if (kind == 0)
		return LUTDB_CORRUPT_BKPT("record: bad magic %02x %02x %02x %02x", p[0], p[1], p[2], p[3]);
	version = rd16(p + 4);
	dtype = p[6];
	codec = p[7];
	header_len = rd32(p + 8);
	flags = rd32(p + 12);
	payload_len = rd64(p + 16);
	if (version != LUTDB_REC_VERSION)
		return LUTDB_CORRUPT_BKPT("%s record: layout version %u, expected %d", magics[kind], version,
					  LUTDB_REC_VERSION);
	if (header_len < LUTDB_REC_PREFIX || header_len % 16 != 0)
		return LUTDB_CORRUPT_BKPT("%s record: header_len %u (need a multiple of 16, >= %d)", magics[kind],
					  header_len, LUTDB_REC_PREFIX);
	if (header_len > len)
		return LUTDB_CORRUPT_BKPT("%s record: header_len %u exceeds the record length %zu", magics[kind],
					  header_len, len);
	if (payload_len != (uint64_t)(len - header_len))
		return LUTDB_CORRUPT_BKPT("%s record: header_len %u + payload_len %llu != record length %zu",
					  magics[kind], header_len, (unsigned long long)payload_len, len);
	if (flags != 0)
		return LUTDB_CORRUPT_BKPT("%s record: unknown flags 0x%x", magics[kind], flags);
	switch (kind) {
	case LUTDB_REC_HEADER:
	case LUTDB_REC_BLOB:
		if (dtype != 0 || codec != 0)
			return LUTDB_CORRUPT_BKPT("%s record: dtype %d codec %d, expected 0 0", magics[kind], dtype,
						  codec);
		if (header_len != LUTDB_REC_PREFIX)
			return LUTDB_CORRUPT_BKPT("%s record: header_len %u, expected %d", magics[kind], header_len,
						  LUTDB_REC_PREFIX);
		break;
	case LUTDB_REC_TENSOR:
		if (codec != LUTDB_CODEC_NONE)
			return LUTDB_CORRUPT_BKPT("LTEN record: codec %d, expected 0", codec);
		if (!tensor_dtype_known(dtype))
			return LUTDB_CORRUPT_BKPT("LTEN record: unknown dtype %d", dtype);
		if (header_len != LUTDB_TENSOR_HEADER_LEN)
			return LUTDB_CORRUPT_BKPT("LTEN record: header_len %u, expected %d", header_len,
						  LUTDB_TENSOR_HEADER_LEN);
		break;
	case LUTDB_REC_TABLE:
		if (!table_dtype_known(dtype))
			return LUTDB_CORRUPT_BKPT("LTBL record: unknown dtype %d", dtype);
		if (lutdb_codec_name(codec) == NULL)
			return LUTDB_CORRUPT_BKPT("LTBL record: unknown codec %d", codec);
		break;
	}
	if (out) {
		out->kind = kind;
		out->dtype = dtype;
		out->codec = codec;
		out->header_len = header_len;
		out->payload_len = payload_len;
		out->checksum = rd64(p + 24);
		out->base = p;
		out->payload = p + header_len;
	}
	return LUTDB_OK;
}

void lutdb_rec_write_prefix(void *dst, int kind, int dtype, int codec, uint32_t header_len, uint64_t payload_len)
{
	uint8_t *p = dst;

	memcpy(p, kind_name(kind), 4);
	wr16(p + 4, LUTDB_REC_VERSION);
	p[6] = (uint8_t)dtype;
	p[7] = (uint8_t)codec;
	wr32(p + 8, header_len);
	wr32(p + 12, 0);
	wr64(p + 16, payload_len);
	wr64(p + 24, 0);
}

uint64_t lutdb_rec_checksum(const void *rec, size_t header_len, size_t total_len, int kind)
{
	const uint8_t *p = rec;
	size_t end = kind == LUTDB_REC_TABLE ? header_len : total_len;
	XXH3_state_t st;

	/* Stack state (XXH_STATIC_LINKING_ONLY layout of the installed header);
	 * XXH3_INITSTATE makes reset safe on an uninitialised struct. */
	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, p, 24);
	if (end > LUTDB_REC_PREFIX)
		XXH3_64bits_update(&st, p + LUTDB_REC_PREFIX, end - LUTDB_REC_PREFIX);
	return (uint64_t)XXH3_64bits_digest(&st);
}

void lutdb_rec_seal(void *rec, size_t header_len, size_t total_len, int kind)
{
	wr64((uint8_t *)rec + 24, lutdb_rec_checksum(rec, header_len, total_len, kind));
}

int lutdb_rec_verify(const lutdb_rec *rec)
{
	uint64_t sum;

	if (rec == NULL || rec->base == NULL)
		return lutdb_fail(LUTDB_EINVAL, "record verify: no record");
	sum = lutdb_rec_checksum(rec->base, rec->header_len, (size_t)rec->header_len + (size_t)rec->payload_len,
				 rec->kind);
	if (sum != rec->checksum)
		return lutdb_fail(LUTDB_ECHECKSUM, "%s record: checksum mismatch (stored %016llx, computed %016llx)",
				  kind_name(rec->kind), (unsigned long long)rec->checksum,
				  (unsigned long long)sum);
	return LUTDB_OK;
}

/* ---- LTEN ---------------------------------------------------------------- */

void lutdb_tensor_hdr_write(void *dst, const lutdb_tensor_hdr *h, uint64_t payload_len)
{
	uint8_t *p = dst;
	uint32_t i;

	lutdb_rec_write_prefix(p, LUTDB_REC_TENSOR, h->dtype, LUTDB_CODEC_NONE, LUTDB_TENSOR_HEADER_LEN,
			       payload_len);
	memset(p + 32, 0, LUTDB_TENSOR_HEADER_LEN - 32);
	wr32(p + 32, h->ndim);
	for (i = 0; i < LUTDB_TENSOR_MAX_DIMS; i++)
		wr64(p + 40 + 8 * i, i < h->ndim ? h->dims[i] : 0);
}

int lutdb_tensor_hdr_parse(const lutdb_rec *rec, lutdb_tensor_hdr *out)
{
	const uint8_t *p;
	uint32_t ndim, i;
	uint64_t dims[LUTDB_TENSOR_MAX_DIMS], bytes, elems;

	if (out)
		memset(out, 0, sizeof *out);
	if (rec == NULL || rec->base == NULL)
		return lutdb_fail(LUTDB_EINVAL, "tensor header: no record");
	if (rec->kind != LUTDB_REC_TENSOR)
		return LUTDB_CORRUPT_BKPT("tensor record: found a %s record", kind_name(rec->kind));
	if (rec->header_len != LUTDB_TENSOR_HEADER_LEN)
		return LUTDB_CORRUPT_BKPT("LTEN record: header_len %u, expected %d", rec->header_len,
					  LUTDB_TENSOR_HEADER_LEN);
	p = rec->base;
	ndim = rd32(p + 32);
	if (ndim < 1 || ndim > LUTDB_TENSOR_MAX_DIMS)
		return LUTDB_CORRUPT_BKPT("LTEN record: ndim %u (need 1..%d)", ndim, LUTDB_TENSOR_MAX_DIMS);
	if (rd32(p + 36) != 0 || rd64(p + 104) != 0)
		return LUTDB_CORRUPT_BKPT("LTEN record: reserved header bytes are not zero");
	if (!tensor_dtype_known(rec->dtype))
		return LUTDB_CORRUPT_BKPT("LTEN record: unknown dtype %d", rec->dtype);
	/* Count elements first; the bytes follow from the dtype's rule. */
	bytes = 1;
	for (i = 0; i < LUTDB_TENSOR_MAX_DIMS; i++) {
		dims[i] = rd64(p + 40 + 8 * i);
		if (i < ndim && dims[i] == 0)
			return LUTDB_CORRUPT_BKPT("LTEN record: dims[%u] is 0", i);
		if (i >= ndim && dims[i] != 0)
			return LUTDB_CORRUPT_BKPT("LTEN record: unused dims[%u] = %llu, expected 0 (ndim %u)", i,
						  (unsigned long long)dims[i], ndim);
		if (i < ndim && !mul_u64(bytes, dims[i], &bytes))
			return LUTDB_CORRUPT_BKPT("LTEN record: tensor size overflows 64 bits at dims[%u]", i);
	}
	if (lq_is_quant(rec->dtype) && dims[ndim - 1] % LQ_BLOCK_GGML != 0)
		return LUTDB_CORRUPT_BKPT("LTEN record: %s tensor's last dimension %llu is not a multiple of %d",
					  lq_name(rec->dtype), (unsigned long long)dims[ndim - 1], LQ_BLOCK_GGML);
	elems = bytes;
	bytes = lutdb_dtype_bytes(rec->dtype, LQ_BLOCK_GGML, elems);
	if (bytes == 0)
		return LUTDB_CORRUPT_BKPT("LTEN record: %llu elements of %s overflow 64 bits", (unsigned long long)elems,
					  lutdb_dtype_name(rec->dtype));
	if (bytes != rec->payload_len)
		return LUTDB_CORRUPT_BKPT("LTEN record: dims give %llu bytes, payload_len is %llu",
					  (unsigned long long)bytes, (unsigned long long)rec->payload_len);
	if (out) {
		out->dtype = rec->dtype;
		out->ndim = ndim;
		memcpy(out->dims, dims, sizeof dims);
	}
	return LUTDB_OK;
}

/* ---- LTBL ---------------------------------------------------------------- */

uint32_t lutdb_table_max_tokens(uint32_t header_len)
{
	if (header_len < LUTDB_TABLE_HEADER_FIXED)
		return 0;
	return (header_len - LUTDB_TABLE_HEADER_FIXED) / LUTDB_TABLE_ROW_ENTRY;
}

void lutdb_table_hdr_write(void *dst, uint32_t header_len, int dtype, int codec, const lutdb_table_hdr *h,
			   uint64_t payload_len)
{
	uint8_t *p = dst;
	size_t used = LUTDB_TABLE_HEADER_FIXED + (size_t)h->token_count * LUTDB_TABLE_ROW_ENTRY;

	lutdb_rec_write_prefix(p, LUTDB_REC_TABLE, dtype, codec, header_len, payload_len);
	wr32(p + 32, h->token_first);
	wr32(p + 36, h->token_count);
	wr32(p + 40, h->layer_first);
	wr32(p + 44, h->layer_count);
	wr32(p + 48, h->row_bytes);
	wr32(p + 52, h->row_stride);
	wr64(p + 56, 0);
	/* Zero the padding after the entries; the entries themselves are left
	 * for lutdb_table_entry_set (before or after this call). */
	if (used < header_len)
		memset(p + used, 0, header_len - used);
}

void lutdb_table_entry_set(void *hdr_base, uint32_t i, uint64_t checksum, uint32_t offset, uint32_t length)
{
	uint8_t *e = (uint8_t *)hdr_base + LUTDB_TABLE_HEADER_FIXED + (size_t)i * LUTDB_TABLE_ROW_ENTRY;

	wr64(e, checksum);
	wr32(e + 8, offset);
	wr32(e + 12, length);
}

void lutdb_table_entry_get(const lutdb_table_hdr *h, uint32_t i, uint64_t *checksum, uint32_t *offset,
			   uint32_t *length)
{
	const uint8_t *e = h->entries + (size_t)i * LUTDB_TABLE_ROW_ENTRY;

	if (checksum)
		*checksum = rd64(e);
	if (offset)
		*offset = rd32(e + 8);
	if (length)
		*length = rd32(e + 12);
}

int lutdb_table_hdr_parse(const lutdb_rec *rec, lutdb_table_hdr *out)
{
	const uint8_t *p, *e;
	lutdb_table_hdr h;
	uint32_t maxtok, i;
	size_t elem, used;
	uint64_t pos;

	if (out)
		memset(out, 0, sizeof *out);
	if (rec == NULL || rec->base == NULL)
		return lutdb_fail(LUTDB_EINVAL, "table header: no record");
	if (rec->kind != LUTDB_REC_TABLE)
		return LUTDB_CORRUPT_BKPT("table record: found a %s record", kind_name(rec->kind));
	/* A quantized row is whole blocks, which the file header's B sizes:
	 * here any byte count, the file checks row_bytes exactly. */
	elem = lq_is_quant(rec->dtype) ? 1 : lutdb_dtype_size(rec->dtype);
	if (!table_dtype_known(rec->dtype) || lutdb_codec_name(rec->codec) == NULL)
		return LUTDB_CORRUPT_BKPT("LTBL record: unknown dtype %d or codec %d", rec->dtype, rec->codec);
	p = rec->base;
	memset(&h, 0, sizeof h);
	maxtok = lutdb_table_max_tokens(rec->header_len);
	if (maxtok == 0)
		return LUTDB_CORRUPT_BKPT("LTBL record: header_len %u holds no row entry", rec->header_len);
	h.token_first = rd32(p + 32);
	h.token_count = rd32(p + 36);
	h.layer_first = rd32(p + 40);
	h.layer_count = rd32(p + 44);
	h.row_bytes = rd32(p + 48);
	h.row_stride = rd32(p + 52);
	h.entries = p + LUTDB_TABLE_HEADER_FIXED;
	if (h.token_count < 1 || h.token_count > maxtok)
		return LUTDB_CORRUPT_BKPT("LTBL record: token_count %u (need 1..%u for header_len %u)",
					  h.token_count, maxtok, rec->header_len);
	if ((uint64_t)h.token_first + h.token_count > (uint64_t)UINT32_MAX + 1)
		return LUTDB_CORRUPT_BKPT("LTBL record: tokens %u + %u overflow 32 bits", h.token_first,
					  h.token_count);
	if (h.layer_count < 1)
		return LUTDB_CORRUPT_BKPT("LTBL record: layer_count is 0");
	/* Table keys hold layer_first in 16 bits. */
	if ((uint64_t)h.layer_first + h.layer_count > 65536u)
		return LUTDB_CORRUPT_BKPT("LTBL record: layers %u + %u exceed the 16-bit key range", h.layer_first,
					  h.layer_count);
	if (h.row_bytes == 0 || h.row_bytes % elem != 0 || h.row_bytes > (uint32_t)INT32_MAX)
		return LUTDB_CORRUPT_BKPT("LTBL record: row_bytes %u (need > 0, < 2^31, a multiple of %zu)",
					  h.row_bytes, elem);
	if (rd64(p + 56) != 0)
		return LUTDB_CORRUPT_BKPT("LTBL record: reserved bytes 56..63 are not zero");
	used = LUTDB_TABLE_HEADER_FIXED + (size_t)h.token_count * LUTDB_TABLE_ROW_ENTRY;
	if (!all_zero(p + used, rec->header_len - used))
		return LUTDB_CORRUPT_BKPT("LTBL record: header padding after %u entries is not zero", h.token_count);

	if (rec->codec == LUTDB_CODEC_NONE) {
		if (h.row_stride % 64 != 0 || h.row_stride < h.row_bytes)
			return LUTDB_CORRUPT_BKPT("LTBL record: row_stride %u (need a multiple of 64, >= row_bytes %u)",
						  h.row_stride, h.row_bytes);
		if ((uint64_t)h.token_count * h.row_stride != rec->payload_len)
			return LUTDB_CORRUPT_BKPT("LTBL record: payload_len %llu != token_count %u * row_stride %u",
						  (unsigned long long)rec->payload_len, h.token_count, h.row_stride);
		if ((uint64_t)(h.token_count - 1) * h.row_stride > UINT32_MAX)
			return LUTDB_CORRUPT_BKPT("LTBL record: row offsets overflow 32 bits (%u rows of %u bytes)",
						  h.token_count, h.row_stride);
		for (i = 0; i < h.token_count; i++) {
			e = h.entries + (size_t)i * LUTDB_TABLE_ROW_ENTRY;
			if (rd32(e + 8) != i * h.row_stride || rd32(e + 12) != h.row_bytes)
				return LUTDB_CORRUPT_BKPT("LTBL record: row %u at offset %u length %u, expected %u %u", i,
							  rd32(e + 8), rd32(e + 12), i * h.row_stride, h.row_bytes);
		}
	} else {
		uint64_t bound = lutdb_codec_bound(rec->codec, h.row_bytes);

		if (h.row_stride != 0)
			return LUTDB_CORRUPT_BKPT("LTBL record: row_stride %u with codec %s (must be 0)", h.row_stride,
						  lutdb_codec_name(rec->codec));
		pos = 0;
		for (i = 0; i < h.token_count; i++) {
			uint32_t off, len;

			e = h.entries + (size_t)i * LUTDB_TABLE_ROW_ENTRY;
			off = rd32(e + 8);
			len = rd32(e + 12);
			if (off != pos)
				return LUTDB_CORRUPT_BKPT("LTBL record: row %u at offset %u, expected %llu (rows back to back)",
							  i, off, (unsigned long long)pos);
			if (len == 0 || len > bound)
				return LUTDB_CORRUPT_BKPT("LTBL record: row %u stored length %u (need 1..%llu)", i, len,
							  (unsigned long long)bound);
			if ((uint64_t)off + len > rec->payload_len)
				return LUTDB_CORRUPT_BKPT("LTBL record: row %u [%u, +%u) runs past payload_len %llu", i, off,
							  len, (unsigned long long)rec->payload_len);
			pos += len;
		}
		if (pos != rec->payload_len)
			return LUTDB_CORRUPT_BKPT("LTBL record: rows hold %llu bytes, payload_len is %llu",
						  (unsigned long long)pos, (unsigned long long)rec->payload_len);
	}
	if (out)
		*out = h;
	return LUTDB_OK;
}

/* ---- LHDR ---------------------------------------------------------------- */

void lutdb_file_hdr_write(void *payload, const lutdb_file_hdr *h)
{
	uint8_t *p = payload;

	memset(p, 0, LUTDB_HEADER_PAYLOAD);
	memcpy(p, LUTDB_SIGNATURE, 8);
	wr32(p + 8, LUTDB_BYTE_ORDER_MARK);
	wr16(p + 12, h->major);
	wr16(p + 14, h->minor);
	wr32(p + 16, h->page_size);
	p[20] = h->family;
	p[21] = h->source_form;
	p[22] = h->table_dtype;
	p[23] = h->table_codec;
	wr32(p + 24, h->vocab);
	wr32(p + 28, h->hidden);
	wr32(p + 32, h->layers);
	wr32(p + 36, h->experts);
	wr32(p + 40, h->intermediate);
	wr32(p + 44, h->heads);
	wr32(p + 48, h->kv_heads);
	wr32(p + 52, h->kv_dim);
	wr32(p + 56, h->kv_expert_heads);
	wr32(p + 60, h->kv_window);
	wr32(p + 64, h->block_tokens);
	wr32(p + 68, h->layer_row_elems);
	wr32(p + 72, h->flags);
	wr32(p + 76, h->table_block);
	memcpy(p + 80, h->pack_id, 16);
	wr32(p + 96, h->shard_index);
	wr32(p + 100, h->shard_count);
	wr32(p + 104, h->token_begin);
	wr32(p + 108, h->token_end);
	wr32(p + 112, h->layer_begin);
	wr32(p + 116, h->layer_end);
	wr64(p + 120, h->table_records);
	wr64(p + 128, h->tensor_count);
}

/* The table block size B (offset 76; reserved and 0 in format 1.0): 0 for
 * a float table; for a quantized one a B its dtype allows that divides
 * every vector (d, and dk for MoLKV), so no block straddles two vectors.
 * A hostile B (0, 48, 2^31, not dividing d) is corruption, never a size. */
static int check_table_block(const lutdb_file_hdr *h)
{
	uint32_t b = h->table_block;

	if (!lq_is_quant(h->table_dtype)) {
		if (b != 0)
			return LUTDB_CORRUPT_BKPT("file header: table_block %u with a %s table (must be 0)", b,
						  lutdb_dtype_name(h->table_dtype));
		return LUTDB_OK;
	}
	if (h->table_codec == LUTDB_CODEC_SHUFFLE_LZ4)
		return LUTDB_CORRUPT_BKPT("file header: codec shuffle-lz4 with a %s table (it has no element size)",
					  lq_name(h->table_dtype));
	if (lq_check_block(h->table_dtype, b) != LUTDB_OK)
		return LUTDB_CORRUPT_BKPT("file header: %s table_block %u is not allowed (Q8_0 and Q4_0 take 32, NF4 "
					  "and NF3 a multiple of 32 in 32..%d)", lq_name(h->table_dtype), b, LQ_BLOCK_MAX);
	if (h->hidden % b != 0 || (h->family == LUTDB_FAMILY_MOLKV && h->kv_dim % b != 0))
		return LUTDB_CORRUPT_BKPT("file header: %s table_block %u does not divide %s = %u", lq_name(h->table_dtype),
					  b, h->hidden % b != 0 ? "d" : "dk", h->hidden % b != 0 ? h->hidden : h->kv_dim);
	return LUTDB_OK;
}

int lutdb_file_hdr_parse(const void *payload, size_t len, lutdb_file_hdr *out)
{
	const uint8_t *p = payload;
	lutdb_file_hdr h;
	uint32_t bom;
	int rc;
	uint64_t row_elems, row_bytes;

	if (out)
		memset(out, 0, sizeof *out);
	if (p == NULL || len != LUTDB_HEADER_PAYLOAD)
		return LUTDB_CORRUPT_BKPT("file header: payload of %zu bytes, expected %d", p ? len : 0,
					  LUTDB_HEADER_PAYLOAD);
	if (memcmp(p, LUTDB_SIGNATURE, 8) != 0)
		return LUTDB_CORRUPT_BKPT("file header: bad signature (not a lutdb file)");
	bom = rd32(p + 8);
	if (bom == 0x04030201u)
		return LUTDB_CORRUPT_BKPT("file header: byte-order mark 0x04030201: big-endian file or host");
	if (bom != LUTDB_BYTE_ORDER_MARK)
		return LUTDB_CORRUPT_BKPT("file header: bad byte-order mark 0x%08x", bom);

	memset(&h, 0, sizeof h);
	h.major = rd16(p + 12);
	h.minor = rd16(p + 14);
	if (h.major != LUTDB_FORMAT_MAJOR)
		return lutdb_fail(LUTDB_EVERSION, "file header: format version %u.%u (this build reads %d.x)",
				  h.major, h.minor, LUTDB_FORMAT_MAJOR);
	h.page_size = rd32(p + 16);
	h.family = p[20];
	h.source_form = p[21];
	h.table_dtype = p[22];
	h.table_codec = p[23];
	h.vocab = rd32(p + 24);
	h.hidden = rd32(p + 28);
	h.layers = rd32(p + 32);
	h.experts = rd32(p + 36);
	h.intermediate = rd32(p + 40);
	h.heads = rd32(p + 44);
	h.kv_heads = rd32(p + 48);
	h.kv_dim = rd32(p + 52);
	h.kv_expert_heads = rd32(p + 56);
	h.kv_window = rd32(p + 60);
	h.block_tokens = rd32(p + 64);
	h.layer_row_elems = rd32(p + 68);
	h.flags = rd32(p + 72);
	h.table_block = rd32(p + 76);
	memcpy(h.pack_id, p + 80, 16);
	h.shard_index = rd32(p + 96);
	h.shard_count = rd32(p + 100);
	h.token_begin = rd32(p + 104);
	h.token_end = rd32(p + 108);
	h.layer_begin = rd32(p + 112);
	h.layer_end = rd32(p + 116);
	h.table_records = rd64(p + 120);
	h.tensor_count = rd64(p + 128);

	if (h.page_size < 4096 || h.page_size > 65536 || (h.page_size & (h.page_size - 1)) != 0)
		return LUTDB_CORRUPT_BKPT("file header: page_size %u (need a power of two in 4096..65536)",
					  h.page_size);
	if (h.family != LUTDB_FAMILY_MOLE && h.family != LUTDB_FAMILY_MOLKV)
		return LUTDB_CORRUPT_BKPT("file header: unknown model family %u", h.family);
	if (h.source_form != LUTDB_FORM_TRAINING && h.source_form != LUTDB_FORM_REP)
		return LUTDB_CORRUPT_BKPT("file header: unknown source form %u", h.source_form);
	if (!table_dtype_known(h.table_dtype)) {
		if (h.minor > LUTDB_FORMAT_MINOR)
			return LUTDB_CORRUPT_BKPT("file header: unknown table dtype %u (the file is format %u.%u, "
						  "this build reads up to %d.%d: a newer lutdb wrote it)",
						  h.table_dtype, h.major, h.minor, LUTDB_FORMAT_MAJOR, LUTDB_FORMAT_MINOR);
		return LUTDB_CORRUPT_BKPT("file header: unknown table dtype %u", h.table_dtype);
	}
	if (lq_is_quant(h.table_dtype) && h.minor < 1)
		return LUTDB_CORRUPT_BKPT("file header: format %u.%u with a %s table (block-quantized tables are "
					  "format 1.1)", h.major, h.minor, lq_name(h.table_dtype));
	if (lutdb_codec_name(h.table_codec) == NULL)
		return LUTDB_CORRUPT_BKPT("file header: unknown table codec %u", h.table_codec);
	if (h.vocab == 0 || h.hidden == 0 || h.layers == 0 || h.experts == 0 || h.intermediate == 0 ||
	    h.heads == 0 || h.kv_heads == 0)
		return LUTDB_CORRUPT_BKPT("file header: zero geometry (vocab %u hidden %u layers %u experts %u "
					  "intermediate %u heads %u kv_heads %u)",
					  h.vocab, h.hidden, h.layers, h.experts, h.intermediate, h.heads, h.kv_heads);
	if (h.layers > 65536u)
		return LUTDB_CORRUPT_BKPT("file header: %u layers exceed the 16-bit table key range", h.layers);
	if (h.heads % h.kv_heads != 0)
		return LUTDB_CORRUPT_BKPT("file header: heads %u not a multiple of kv_heads %u", h.heads, h.kv_heads);
	if (h.hidden % h.heads != 0)
		return LUTDB_CORRUPT_BKPT("file header: hidden %u not a multiple of heads %u", h.hidden, h.heads);
	if (h.family == LUTDB_FAMILY_MOLE) {
		if (h.kv_dim != 0 || h.kv_expert_heads != 0)
			return LUTDB_CORRUPT_BKPT("file header: MoLE with kv_dim %u kv_expert_heads %u (must be 0)",
						  h.kv_dim, h.kv_expert_heads);
	} else {
		if (h.kv_dim == 0 || h.kv_expert_heads == 0)
			return LUTDB_CORRUPT_BKPT("file header: MoLKV with kv_dim %u kv_expert_heads %u (need nonzero)",
						  h.kv_dim, h.kv_expert_heads);
		if (h.kv_dim % h.kv_expert_heads != 0 || h.hidden % h.kv_expert_heads != 0)
			return LUTDB_CORRUPT_BKPT("file header: kv_expert_heads %u does not divide kv_dim %u and hidden %u",
						  h.kv_expert_heads, h.kv_dim, h.hidden);
	}
	if ((rc = check_table_block(&h)))
		return rc;
	lutdb_geometry g = {h.family, h.experts, h.hidden, h.kv_dim, h.table_dtype, h.table_block};
	row_elems = lutdb_geom_layer_elems(&g);
	if (row_elems != h.layer_row_elems)
		return LUTDB_CORRUPT_BKPT("file header: layer_row_elems %u, geometry gives %llu", h.layer_row_elems,
					  (unsigned long long)row_elems);
	if (h.block_tokens < 1 || h.block_tokens > lutdb_table_max_tokens(h.page_size - 16))
		return LUTDB_CORRUPT_BKPT("file header: block_tokens %u (need 1..%u for page_size %u)",
					  h.block_tokens, lutdb_table_max_tokens(h.page_size - 16), h.page_size);
	if (h.shard_count < 1 || h.shard_index >= h.shard_count)
		return LUTDB_CORRUPT_BKPT("file header: shard %u of %u", h.shard_index, h.shard_count);
	if (h.token_begin >= h.token_end || h.token_end > h.vocab)
		return LUTDB_CORRUPT_BKPT("file header: token range [%u, %u) not inside vocab %u", h.token_begin,
					  h.token_end, h.vocab);
	if (h.layer_begin >= h.layer_end || h.layer_end > h.layers)
		return LUTDB_CORRUPT_BKPT("file header: layer range [%u, %u) not inside %u layers", h.layer_begin,
					  h.layer_end, h.layers);
	row_bytes = lutdb_geom_token_bytes(&g, h.layer_end - h.layer_begin);
	if (row_bytes == 0 || row_bytes >= (uint64_t)1 << 31) /* 0: the product overflowed */
		return LUTDB_CORRUPT_BKPT("file header: token row of %llu bytes (%u layers x %u elements) is not below 2^31",
					  (unsigned long long)row_bytes, h.layer_end - h.layer_begin, h.layer_row_elems);
	if ((h.flags & ~LUTDB_FLAG_TIED) != 0)
		return LUTDB_CORRUPT_BKPT("file header: unknown flags 0x%x", h.flags);
	if (!all_zero(p + 136, LUTDB_HEADER_PAYLOAD - 136))
		return LUTDB_CORRUPT_BKPT("file header: reserved bytes are not zero");
	if (out)
		*out = h;
	return LUTDB_OK;
}
