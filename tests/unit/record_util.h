/* record_util.h - byte helpers, reference checksum, record builders for test_format_record*.c (header-only). */
#ifndef LUTDB_RECORD_UTIL_H
#define LUTDB_RECORD_UTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include <xxhash.h>

#include "record.h"

static uint64_t rng = 777;

static inline uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The checksum definition, computed independently: XXH3-64 of the bytes
 * [0,24) followed by [32,end). */
static inline uint64_t ref_checksum(const uint8_t *rec, size_t end)
{
	uint8_t *tmp = malloc(end);
	uint64_t h;

	memcpy(tmp, rec, 24);
	memcpy(tmp + 24, rec + 32, end - 32);
	h = XXH3_64bits(tmp, end - 8);
	free(tmp);
	return h;
}


/* ---- record builders --------------------------------------------------------- */

/* A blob record of payload n: "LBLB" prefix + payload, sealed. */
static inline uint8_t *make_blob(size_t n, size_t *len)
{
	uint8_t *r = malloc(32 + n);

	lutdb_rec_write_prefix(r, LUTDB_REC_BLOB, 0, 0, 32, n);
	for (size_t i = 0; i < n; i++)
		r[32 + i] = (uint8_t)next();
	lutdb_rec_seal(r, 32, 32 + n, LUTDB_REC_BLOB);
	*len = 32 + n;
	return r;
}

/* An LTEN record of ndim dims, random payload, sealed. */
static inline uint8_t *make_tensor(int dtype, uint32_t ndim, const uint64_t *dims, size_t *len)
{
	lutdb_tensor_hdr h = { .dtype = dtype, .ndim = ndim };
	uint64_t n = lutdb_dtype_size(dtype);
	uint8_t *r;

	for (uint32_t i = 0; i < ndim; i++) {
		h.dims[i] = dims[i];
		n *= dims[i];
	}
	r = malloc(112 + n);
	memset(r, 0xEE, 112);
	lutdb_tensor_hdr_write(r, &h, n);
	for (size_t i = 0; i < n; i++)
		r[112 + i] = (uint8_t)next();
	lutdb_rec_seal(r, 112, 112 + n, LUTDB_REC_TENSOR);
	*len = 112 + n;
	return r;
}

/* An LTBL record of count rows of row_bytes (random-ish, kept in raw), encoded
 * with codec after a header of header_len bytes, sealed. */
struct tbl {
	uint8_t *rec;
	size_t len;
	uint32_t header_len;
	uint8_t *raw; /* token_count rows of row_bytes */
};

static inline struct tbl make_table(int codec, int dtype, uint32_t header_len, uint32_t token_first, uint32_t count,
				    uint32_t layer_first, uint32_t layers, uint32_t row_bytes)
{
	struct tbl t = { .header_len = header_len };
	uint32_t stride = (row_bytes + 63) / 64 * 64;
	size_t per = lutdb_codec_bound(codec, row_bytes) > stride ? lutdb_codec_bound(codec, row_bytes) : stride;
	size_t cap = header_len + (size_t)count * per;
	size_t off = 0, len;
	lutdb_table_hdr h = { token_first, count, layer_first, layers, row_bytes, codec == 0 ? stride : 0, NULL };

	t.raw = malloc((size_t)count * row_bytes);
	for (size_t i = 0; i < (size_t)count * row_bytes; i++)
		t.raw[i] = (uint8_t)(i % 5 == 0 ? next() : i / 3);
	t.rec = malloc(cap);
	memset(t.rec, 0xEE, cap);
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *dst = t.rec + header_len + off;

		if (codec == LUTDB_CODEC_NONE) {
			memcpy(dst, t.raw + (size_t)i * row_bytes, row_bytes);
			memset(dst + row_bytes, 0, stride - row_bytes);
			len = row_bytes;
			lutdb_table_entry_set(t.rec, i, lutdb_xxh3(dst, len), (uint32_t)off, (uint32_t)len);
			off += stride;
		} else {
			ck_assert_int_eq(lutdb_codec_encode(codec, lutdb_dtype_size(dtype), t.raw + (size_t)i * row_bytes,
							    row_bytes, dst, cap - header_len - off, &len, NULL),
					 LUTDB_OK);
			lutdb_table_entry_set(t.rec, i, lutdb_xxh3(dst, len), (uint32_t)off, (uint32_t)len);
			off += len;
		}
	}
	lutdb_table_hdr_write(t.rec, header_len, dtype, codec, &h, off);
	t.len = header_len + off;
	lutdb_rec_seal(t.rec, header_len, t.len, LUTDB_REC_TABLE);
	return t;
}

/* A MoLE file header: every field set, pack_id 0xA0.. */
static inline lutdb_file_hdr mole_hdr(void)
{
	lutdb_file_hdr h = {
		.major = 1, .minor = 0, .page_size = 4096, .family = LUTDB_FAMILY_MOLE,
		.source_form = LUTDB_FORM_REP, .table_dtype = LUTDB_DTYPE_BF16, .table_codec = LUTDB_CODEC_NONE,
		.vocab = 32000, .hidden = 512, .layers = 6, .experts = 4, .intermediate = 1024, .heads = 8,
		.kv_heads = 2, .kv_dim = 0, .kv_expert_heads = 0, .kv_window = 0, .block_tokens = 64,
		.layer_row_elems = 4 * 512, .flags = LUTDB_FLAG_TIED, .shard_index = 0, .shard_count = 1,
		.token_begin = 0, .token_end = 32000, .layer_begin = 0, .layer_end = 6, .table_records = 500,
		.tensor_count = 41,
	};

	for (int i = 0; i < 16; i++)
		h.pack_id[i] = (uint8_t)(0xA0 + i);
	return h;
}

#endif
