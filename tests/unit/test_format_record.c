/*
 * test_format_record.c - table keys and the record layouts (common prefix,
 * LTEN, LTBL, LHDR): byte layouts checked against the offsets of the spec
 * (read back with this file's own little/big-endian helpers), checksums
 * against an independent XXH3 over the record with bytes [24,32) cut out,
 * every field check, every truncation and random byte flips.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lutdb_format.h"

static uint64_t rng = 777;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* The checksum definition, computed independently: XXH3-64 of the bytes
 * [0,24) followed by [32,end). */
static uint64_t ref_checksum(const uint8_t *rec, size_t end)
{
	uint8_t *tmp = malloc(end);
	uint64_t h;

	memcpy(tmp, rec, 24);
	memcpy(tmp + 24, rec + 32, end - 32);
	h = XXH3_64bits(tmp, end - 8);
	free(tmp);
	return h;
}

#define EXPECT(rc_expr, code, substr)                                                                     \
	do {                                                                                              \
		int rc_ = (rc_expr);                                                                      \
		ck_assert_msg(rc_ == (code), "%s: got %d (%s), want %d", #rc_expr, rc_, lutdb_errdetail(), (code)); \
		ck_assert_msg(strstr(lutdb_errdetail(), (substr)) != NULL, "detail \"%s\" lacks \"%s\"",        \
			      lutdb_errdetail(), (substr));                                                  \
	} while (0)

/* ---- keys ----------------------------------------------------------------- */

START_TEST(table_keys)
{
	uint8_t k[LUTDB_TABLE_KEY_SIZE], k2[LUTDB_TABLE_KEY_SIZE];
	static const uint8_t want[8] = { 0x01, 0x02, 0, 0, 0xa0, 0xb1, 0xc2, 0xd3 };
	uint32_t l, t;

	lutdb_table_key_encode(k, 0x0102, 0xa0b1c2d3u);
	ck_assert_int_eq(memcmp(k, want, 8), 0);
	ck_assert_int_eq(lutdb_table_key_decode(k, 8, &l, &t), LUTDB_OK);
	ck_assert_uint_eq(l, 0x0102);
	ck_assert_uint_eq(t, 0xa0b1c2d3u);
	/* Bytewise order is numeric (layer, token) order. */
	lutdb_table_key_encode(k, 3, 0xffffffffu);
	lutdb_table_key_encode(k2, 4, 0);
	ck_assert_int_lt(memcmp(k, k2, 8), 0);
	lutdb_table_key_encode(k, 4, 255);
	lutdb_table_key_encode(k2, 4, 256);
	ck_assert_int_lt(memcmp(k, k2, 8), 0);
	for (int i = 0; i < 1000; i++) {
		uint32_t ll = (uint32_t)next() & 0xffff, tt = (uint32_t)next();

		lutdb_table_key_encode(k, ll, tt);
		ck_assert_int_eq(lutdb_table_key_decode(k, 8, &l, &t), LUTDB_OK);
		ck_assert_uint_eq(l, ll);
		ck_assert_uint_eq(t, tt);
	}
	/* Wrong lengths and nonzero reserved bytes. */
	for (size_t n = 0; n < 16; n++)
		if (n != 8)
			EXPECT(lutdb_table_key_decode(k, n, &l, &t), LUTDB_ECORRUPT, "table key");
	k[2] = 1;
	EXPECT(lutdb_table_key_decode(k, 8, &l, &t), LUTDB_ECORRUPT, "reserved");
	k[2] = 0;
	k[3] = 0x80;
	EXPECT(lutdb_table_key_decode(k, 8, &l, &t), LUTDB_ECORRUPT, "reserved");
	EXPECT(lutdb_table_key_decode(NULL, 8, &l, &t), LUTDB_ECORRUPT, "table key");
}
END_TEST

/* ---- common prefix -------------------------------------------------------- */

/* A blob record of payload n: "LBLB" prefix + payload, sealed. */
static uint8_t *make_blob(size_t n, size_t *len)
{
	uint8_t *r = malloc(32 + n);

	lutdb_rec_write_prefix(r, LUTDB_REC_BLOB, 0, 0, 32, n);
	for (size_t i = 0; i < n; i++)
		r[32 + i] = (uint8_t)next();
	lutdb_rec_seal(r, 32, 32 + n, LUTDB_REC_BLOB);
	*len = 32 + n;
	return r;
}

START_TEST(prefix_layout)
{
	uint8_t r[64];
	lutdb_rec rec;
	size_t len;
	uint8_t *b;

	memset(r, 0xEE, sizeof r);
	lutdb_rec_write_prefix(r, LUTDB_REC_TABLE, LUTDB_DTYPE_BF16, LUTDB_CODEC_LZ4, 48, 16);
	ck_assert_int_eq(memcmp(r, "LTBL", 4), 0);
	ck_assert_uint_eq(le16(r + 4), 1);
	ck_assert_uint_eq(r[6], LUTDB_DTYPE_BF16);
	ck_assert_uint_eq(r[7], LUTDB_CODEC_LZ4);
	ck_assert_uint_eq(le32(r + 8), 48);
	ck_assert_uint_eq(le32(r + 12), 0);
	ck_assert_uint_eq(le64(r + 16), 16);
	ck_assert_uint_eq(le64(r + 24), 0);
	ck_assert_uint_eq(r[32], 0xEE); /* nothing past the prefix */
	lutdb_rec_write_prefix(r, LUTDB_REC_HEADER, 0, 0, 32, 256);
	ck_assert_int_eq(memcmp(r, "LHDR", 4), 0);
	lutdb_rec_write_prefix(r, LUTDB_REC_BLOB, 0, 0, 32, 256);
	ck_assert_int_eq(memcmp(r, "LBLB", 4), 0);
	lutdb_rec_write_prefix(r, LUTDB_REC_TENSOR, 1, 0, 112, 256);
	ck_assert_int_eq(memcmp(r, "LTEN", 4), 0);

	b = make_blob(1000, &len);
	ck_assert_int_eq(lutdb_rec_parse(b, len, &rec), LUTDB_OK);
	ck_assert_int_eq(rec.kind, LUTDB_REC_BLOB);
	ck_assert_int_eq(rec.dtype, 0);
	ck_assert_int_eq(rec.codec, 0);
	ck_assert_uint_eq(rec.header_len, 32);
	ck_assert_uint_eq(rec.payload_len, 1000);
	ck_assert_ptr_eq(rec.base, b);
	ck_assert_ptr_eq(rec.payload, b + 32);
	ck_assert_uint_eq(rec.checksum, le64(b + 24));
	ck_assert_uint_eq(rec.checksum, ref_checksum(b, len));
	ck_assert_int_eq(lutdb_rec_verify(&rec), LUTDB_OK);
	/* Checksum skips its own bytes and covers everything else. */
	ck_assert_uint_eq(lutdb_rec_checksum(b, 32, len, LUTDB_REC_BLOB), ref_checksum(b, len));
	b[24] ^= 1;
	ck_assert_uint_eq(lutdb_rec_checksum(b, 32, len, LUTDB_REC_BLOB), ref_checksum(b, len));
	ck_assert_int_eq(lutdb_rec_parse(b, len, &rec), LUTDB_OK);
	EXPECT(lutdb_rec_verify(&rec), LUTDB_ECHECKSUM, "checksum");
	b[24] ^= 1;
	b[len - 1] ^= 0x40;
	ck_assert_int_eq(lutdb_rec_parse(b, len, &rec), LUTDB_OK);
	EXPECT(lutdb_rec_verify(&rec), LUTDB_ECHECKSUM, "LBLB");
	b[len - 1] ^= 0x40;
	/* An empty blob is a valid record. */
	free(b);
	b = make_blob(0, &len);
	ck_assert_int_eq(lutdb_rec_parse(b, len, &rec), LUTDB_OK);
	ck_assert_int_eq(lutdb_rec_verify(&rec), LUTDB_OK);
	ck_assert_uint_eq(rec.checksum, XXH3_64bits(b, 24));
	free(b);
}
END_TEST

START_TEST(prefix_checks)
{
	size_t len;
	uint8_t *b = make_blob(64, &len), *c = malloc(len);
	lutdb_rec rec;

#define MUT(stmt, substr)                                                 \
	do {                                                              \
		memcpy(c, b, len);                                        \
		stmt;                                                     \
		EXPECT(lutdb_rec_parse(c, len, &rec), LUTDB_ECORRUPT, substr); \
	} while (0)
	MUT(c[0] = 'X', "magic");
	MUT(memcpy(c, "lblb", 4), "magic");
	MUT(c[4] = 2, "version");
	MUT(c[4] = 0, "version");
	MUT(c[5] = 1, "version");
	MUT(c[6] = 1, "dtype");
	MUT(c[7] = 1, "codec");
	MUT(put32(c + 8, 16), "header_len");
	MUT(put32(c + 8, 40), "header_len");
	MUT(put32(c + 8, 48), "header_len");
	MUT(put32(c + 8, 112), "header_len");
	MUT(put32(c + 8, 0xfffffff0u), "header_len");
	MUT(put32(c + 12, 1), "flags");
	MUT(put64(c + 16, 63), "payload_len");
	MUT(put64(c + 16, 65), "payload_len");
	MUT(put64(c + 16, UINT64_MAX), "payload_len");
	MUT(put64(c + 16, UINT64_MAX - 31), "payload_len"); /* header_len + payload_len wraps to 0 */
	MUT(memcpy(c, "LHDR", 4); c[6] = 2, "dtype");
#undef MUT
	/* Short inputs. */
	for (size_t n = 0; n < 32; n++)
		EXPECT(lutdb_rec_parse(b, n, &rec), LUTDB_ECORRUPT, "prefix");
	EXPECT(lutdb_rec_parse(NULL, 100, &rec), LUTDB_ECORRUPT, "record");
	free(b);
	free(c);
}
END_TEST

/* ---- LTEN ----------------------------------------------------------------- */

static uint8_t *make_tensor(int dtype, uint32_t ndim, const uint64_t *dims, size_t *len)
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

START_TEST(tensor_records)
{
	static const uint64_t dims[8] = { 3, 5, 2, 1, 1, 1, 2, 1 };
	lutdb_tensor_hdr th;
	lutdb_rec rec;
	size_t len;
	uint8_t *r = make_tensor(LUTDB_DTYPE_BF16, 3, dims, &len), *c;

	ck_assert_uint_eq(len, 112 + 3 * 5 * 2 * 2);
	ck_assert_int_eq(memcmp(r, "LTEN", 4), 0);
	ck_assert_uint_eq(r[6], LUTDB_DTYPE_BF16);
	ck_assert_uint_eq(le32(r + 8), 112);
	ck_assert_uint_eq(le32(r + 32), 3);
	ck_assert_uint_eq(le32(r + 36), 0);
	ck_assert_uint_eq(le64(r + 40), 3);
	ck_assert_uint_eq(le64(r + 48), 5);
	ck_assert_uint_eq(le64(r + 56), 2);
	for (int i = 3; i < 8; i++)
		ck_assert_uint_eq(le64(r + 40 + 8 * i), 0);
	ck_assert_uint_eq(le64(r + 104), 0);
	ck_assert_int_eq(lutdb_rec_parse(r, len, &rec), LUTDB_OK);
	ck_assert_int_eq(rec.kind, LUTDB_REC_TENSOR);
	ck_assert_int_eq(lutdb_rec_verify(&rec), LUTDB_OK);
	ck_assert_uint_eq(rec.checksum, ref_checksum(r, len));
	ck_assert_int_eq(lutdb_tensor_hdr_parse(&rec, &th), LUTDB_OK);
	ck_assert_int_eq(th.dtype, LUTDB_DTYPE_BF16);
	ck_assert_uint_eq(th.ndim, 3);
	ck_assert_uint_eq(th.dims[0], 3);
	ck_assert_uint_eq(th.dims[1], 5);
	ck_assert_uint_eq(th.dims[2], 2);
	ck_assert_uint_eq(th.dims[3], 0);
	free(r);
	/* 8 dims, F32. */
	r = make_tensor(LUTDB_DTYPE_F32, 8, dims, &len);
	ck_assert_int_eq(lutdb_rec_parse(r, len, &rec), LUTDB_OK);
	ck_assert_int_eq(lutdb_tensor_hdr_parse(&rec, &th), LUTDB_OK);
	ck_assert_uint_eq(th.ndim, 8);
	ck_assert_uint_eq(th.dims[7], 1);
	free(r);

	r = make_tensor(LUTDB_DTYPE_F16, 2, dims, &len);
	c = malloc(len);
#define MUT(stmt, code, substr)                                                      \
	do {                                                                         \
		memcpy(c, r, len);                                                   \
		stmt;                                                                \
		lutdb_rec_seal(c, 112, len, LUTDB_REC_TENSOR);                       \
		if (lutdb_rec_parse(c, len, &rec) == LUTDB_OK)                       \
			EXPECT(lutdb_tensor_hdr_parse(&rec, &th), code, substr);     \
		else                                                                 \
			ck_assert_msg(strstr(lutdb_errdetail(), substr), "%s", lutdb_errdetail()); \
	} while (0)
	MUT(put32(c + 32, 0), LUTDB_ECORRUPT, "ndim");
	MUT(put32(c + 32, 9), LUTDB_ECORRUPT, "ndim");
	MUT(put32(c + 32, 0xffffffffu), LUTDB_ECORRUPT, "ndim");
	MUT(put32(c + 32, 1), LUTDB_ECORRUPT, "unused dims[1]");
	MUT(put32(c + 32, 3), LUTDB_ECORRUPT, "dims[2] is 0");
	MUT(put64(c + 40, 0), LUTDB_ECORRUPT, "dims[0] is 0");
	MUT(put64(c + 96, 1), LUTDB_ECORRUPT, "unused dims[7]");
	MUT(put64(c + 40, 4), LUTDB_ECORRUPT, "payload_len");
	MUT(put64(c + 40, 1ull << 62), LUTDB_ECORRUPT, "overflow");
	MUT(put64(c + 40, 1ull << 40); put64(c + 48, 1ull << 40), LUTDB_ECORRUPT, "overflow");
	MUT(put64(c + 40, (1ull << 63) / 5 * 2); put64(c + 48, 5), LUTDB_ECORRUPT, "overflow");
	MUT(c[36] = 1, LUTDB_ECORRUPT, "reserved");
	MUT(c[111] = 1, LUTDB_ECORRUPT, "reserved");
	MUT(c[6] = 0, LUTDB_ECORRUPT, "dtype");
	MUT(c[6] = 4, LUTDB_ECORRUPT, "dtype");
	MUT(c[7] = 1, LUTDB_ECORRUPT, "codec");
	MUT(put32(c + 8, 128), LUTDB_ECORRUPT, "header_len");
#undef MUT
	/* An LTBL record handed to the tensor parser. */
	memcpy(c, r, len);
	memcpy(c, "LTBL", 4);
	ck_assert_int_eq(lutdb_rec_parse(c, len, &rec), LUTDB_OK);
	EXPECT(lutdb_tensor_hdr_parse(&rec, &th), LUTDB_ECORRUPT, "LTBL");
	free(c);
	free(r);
}
END_TEST

/* ---- LTBL ----------------------------------------------------------------- */

struct tbl {
	uint8_t *rec;
	size_t len;
	uint32_t header_len;
	uint8_t *raw; /* token_count rows of row_bytes */
};

static struct tbl make_table(int codec, int dtype, uint32_t header_len, uint32_t token_first, uint32_t count,
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

START_TEST(table_records)
{
	const uint32_t hl = 4096 - 16;
	lutdb_table_hdr h;
	lutdb_rec rec;

	ck_assert_uint_eq(lutdb_table_max_tokens(hl), (4080 - 64) / 16);
	ck_assert_uint_eq(lutdb_table_max_tokens(64), 0);
	ck_assert_uint_eq(lutdb_table_max_tokens(80), 1);
	ck_assert_uint_eq(lutdb_table_max_tokens(32), 0);
	ck_assert_uint_eq(lutdb_table_max_tokens(0), 0);
	ck_assert_uint_eq(lutdb_table_max_tokens(65536 - 16), (65520 - 64) / 16);

	for (int codec = 0; codec <= 2; codec++) {
		for (int dtype = 1; dtype <= 3; dtype++) {
			uint32_t rb = dtype == 1 ? 400 : 202;
			struct tbl t = make_table(codec, dtype, hl, 1000, 37, 2, 3, rb);
			uint8_t *row = malloc(rb);

			/* Layout at the spec's offsets. */
			ck_assert_int_eq(memcmp(t.rec, "LTBL", 4), 0);
			ck_assert_uint_eq(t.rec[6], dtype);
			ck_assert_uint_eq(t.rec[7], codec);
			ck_assert_uint_eq(le32(t.rec + 8), hl);
			ck_assert_uint_eq(le64(t.rec + 16), t.len - hl);
			ck_assert_uint_eq(le32(t.rec + 32), 1000);
			ck_assert_uint_eq(le32(t.rec + 36), 37);
			ck_assert_uint_eq(le32(t.rec + 40), 2);
			ck_assert_uint_eq(le32(t.rec + 44), 3);
			ck_assert_uint_eq(le32(t.rec + 48), rb);
			ck_assert_uint_eq(le32(t.rec + 52), codec == 0 ? (rb + 63) / 64 * 64 : 0);
			ck_assert_uint_eq(le64(t.rec + 56), 0);
			for (uint32_t b = 64 + 37 * 16; b < hl; b++)
				ck_assert_uint_eq(t.rec[b], 0);
			/* The checksum covers the header only. */
			ck_assert_uint_eq(le64(t.rec + 24), ref_checksum(t.rec, hl));
			ck_assert_int_eq(lutdb_rec_parse(t.rec, t.len, &rec), LUTDB_OK);
			ck_assert_int_eq(lutdb_rec_verify(&rec), LUTDB_OK);
			t.rec[t.len - 1] ^= 1; /* payload: not covered */
			ck_assert_int_eq(lutdb_rec_verify(&rec), LUTDB_OK);
			t.rec[t.len - 1] ^= 1;
			t.rec[hl - 1] ^= 1;
			EXPECT(lutdb_rec_verify(&rec), LUTDB_ECHECKSUM, "LTBL");
			t.rec[hl - 1] ^= 1;

			ck_assert_int_eq(lutdb_table_hdr_parse(&rec, &h), LUTDB_OK);
			ck_assert_uint_eq(h.token_first, 1000);
			ck_assert_uint_eq(h.token_count, 37);
			ck_assert_uint_eq(h.layer_first, 2);
			ck_assert_uint_eq(h.layer_count, 3);
			ck_assert_uint_eq(h.row_bytes, rb);
			ck_assert_ptr_eq(h.entries, t.rec + 64);
			/* Every row: checksum, bounds, decode. */
			for (uint32_t i = 0; i < 37; i++) {
				uint64_t sum;
				uint32_t off, len;

				lutdb_table_entry_get(&h, i, &sum, &off, &len);
				ck_assert_uint_eq(off, le32(t.rec + 64 + 16 * i + 8));
				ck_assert_uint_le((uint64_t)off + len, rec.payload_len);
				ck_assert_uint_eq(sum, XXH3_64bits(rec.payload + off, len));
				ck_assert_int_eq(lutdb_codec_decode(codec, lutdb_dtype_size(dtype), rec.payload + off, len, row, rb,
								    NULL),
						 LUTDB_OK);
				ck_assert_int_eq(memcmp(row, t.raw + (size_t)i * rb, rb), 0);
			}
			free(row);
			free(t.rec);
			free(t.raw);
		}
	}
	/* The smallest and the largest header. */
	{
		struct tbl t = make_table(0, 1, 80, 0, 1, 0, 1, 4);

		ck_assert_int_eq(lutdb_rec_parse(t.rec, t.len, &rec), LUTDB_OK);
		ck_assert_int_eq(lutdb_table_hdr_parse(&rec, &h), LUTDB_OK);
		free(t.rec);
		free(t.raw);
		t = make_table(1, 2, 65520, 0xffffffffu - 4090, 4091, 65535, 1, 2);
		ck_assert_int_eq(lutdb_rec_parse(t.rec, t.len, &rec), LUTDB_OK);
		ck_assert_int_eq(lutdb_table_hdr_parse(&rec, &h), LUTDB_OK);
		ck_assert_uint_eq(h.token_count, 4091);
		free(t.rec);
		free(t.raw);
	}
}
END_TEST

/* Mutates a valid table record, reseals it and expects the table parser (or
 * the prefix parser) to reject it with substr in the detail. */
static void table_reject(const struct tbl *t, void (*mut)(uint8_t *rec, size_t *len, void *arg), void *arg,
			 const char *substr)
{
	uint8_t *c = malloc(t->len + 4096);
	size_t len = t->len;
	lutdb_rec rec;
	lutdb_table_hdr h;
	int rc;

	memcpy(c, t->rec, t->len);
	memset(c + t->len, 0, 4096);
	mut(c, &len, arg);
	lutdb_rec_seal(c, le32(c + 8) <= len ? le32(c + 8) : 32, len, LUTDB_REC_TABLE);
	rc = lutdb_rec_parse(c, len, &rec);
	if (rc == LUTDB_OK)
		rc = lutdb_table_hdr_parse(&rec, &h);
	ck_assert_msg(rc == LUTDB_ECORRUPT, "%s: accepted (rc %d)", substr, rc);
	ck_assert_msg(strstr(lutdb_errdetail(), substr) != NULL, "detail \"%s\" lacks \"%s\"", lutdb_errdetail(),
		      substr);
	free(c);
}

struct put {
	size_t off;
	uint64_t val;
	int width;
	int64_t grow; /* change of record length (and payload_len) */
};

static void mut_put(uint8_t *c, size_t *len, void *arg)
{
	const struct put *p = arg;

	if (p->width == 1)
		c[p->off] = (uint8_t)p->val;
	else if (p->width == 4)
		put32(c + p->off, (uint32_t)p->val);
	else if (p->width == 8)
		put64(c + p->off, p->val);
	if (p->grow) {
		*len = (size_t)((int64_t)*len + p->grow);
		put64(c + 16, le64(c + 16) + (uint64_t)p->grow);
	}
}

/* token_count 9 with entry 9 cleared: the payload no longer matches. */
static void mut_drop_last(uint8_t *c, size_t *len, void *arg)
{
	put32(c + 36, 9);
	memset(c + 64 + 9 * 16, 0, 16);
}

#define REJECT(t, off, width, val, grow, substr)                                     \
	do {                                                                          \
		struct put p_ = { (off), (uint64_t)(val), (width), (grow) };          \
		table_reject((t), mut_put, &p_, (substr));                            \
	} while (0)

START_TEST(table_checks)
{
	const uint32_t hl = 1024 - 16; /* 59 entries */
	struct tbl n = make_table(LUTDB_CODEC_NONE, LUTDB_DTYPE_F16, hl, 64, 10, 0, 2, 128);
	struct tbl z = make_table(LUTDB_CODEC_LZ4, LUTDB_DTYPE_F32, hl, 64, 10, 0, 2, 256);
	uint32_t e0 = 64, e1 = 64 + 16; /* entry offsets */

	/* Common fields (both codecs). */
	for (int k = 0; k < 2; k++) {
		struct tbl *t = k ? &z : &n;

		REJECT(t, 36, 4, 0, 0, "token_count");
		REJECT(t, 36, 4, 60, 0, "token_count");
		REJECT(t, 36, 4, 0xffffffffu, 0, "token_count");
		REJECT(t, 32, 4, 0xfffffffcu, 0, "overflow");
		REJECT(t, 44, 4, 0, 0, "layer_count");
		REJECT(t, 40, 4, 65535, 0, "16-bit");
		REJECT(t, 44, 4, 65537, 0, "16-bit");
		REJECT(t, 48, 4, 0, 0, "row_bytes");
		REJECT(t, 48, 4, k ? 254 : 127, 0, "row_bytes");
		REJECT(t, 48, 4, 0x80000000u, 0, "row_bytes");
		REJECT(t, 56, 8, 1, 0, "reserved");
		REJECT(t, 63, 1, 0x80, 0, "reserved");
		REJECT(t, 64 + 10 * 16, 1, 1, 0, "padding");
		REJECT(t, hl - 1, 1, 1, 0, "padding");
		REJECT(t, 6, 1, 0, 0, "dtype");
		REJECT(t, 6, 1, 7, 0, "dtype");
		REJECT(t, 7, 1, 3, 0, "codec");
		REJECT(t, 8, 4, 64, 0, "header_len"); /* header_len 64 holds no entry; payload_len off */
	}
	/* codec none: fixed layout. */
	REJECT(&n, 52, 4, 96, 0, "row_stride");
	REJECT(&n, 52, 4, 64, 0, "row_stride");   /* < row_bytes */
	REJECT(&n, 52, 4, 0, 0, "row_stride");
	REJECT(&n, 52, 4, 192, 0, "payload_len"); /* consistent stride, wrong payload */
	REJECT(&n, 52, 4, 128, -1, "payload_len");
	REJECT(&n, 16, 8, 0, 0, "payload_len");   /* prefix: length mismatch */
	REJECT(&n, e1 + 8, 4, 129, 0, "row 1");
	REJECT(&n, e1 + 8, 4, 0, 0, "row 1");
	REJECT(&n, e0 + 12, 4, 127, 0, "row 0");
	REJECT(&n, e0 + 12, 4, 0xffffffffu, 0, "row 0");
	REJECT(&n, 36, 4, 9, 0, "padding"); /* entry 9 becomes padding */
	/* codec lz4: rows back to back. */
	REJECT(&z, 52, 4, 64, 0, "row_stride");
	REJECT(&z, e0 + 8, 4, 1, 0, "row 0");
	REJECT(&z, e1 + 8, 4, le32(z.rec + e1 + 8) + 1, 0, "row 1");
	REJECT(&z, e1 + 8, 4, le32(z.rec + e1 + 8) - 1, 0, "row 1");
	REJECT(&z, e0 + 12, 4, 0, 0, "row 0");
	REJECT(&z, e0 + 12, 4, 0xffffffffu, 0, "row 0");
	REJECT(&z, e0 + 12, 4, 0x10000, 0, "row 0");              /* beyond the lz4 bound */
	REJECT(&z, 64 + 9 * 16 + 12, 4, le32(z.rec + 64 + 9 * 16 + 12) + 1, 0, "past payload_len");
	REJECT(&z, 64 + 9 * 16 + 12, 4, le32(z.rec + 64 + 9 * 16 + 12) - 1, 0, "rows hold");
	REJECT(&z, 0, 0, 0, 7, "rows hold");                      /* trailing bytes */
	REJECT(&z, 36, 4, 9, 0, "padding");
	table_reject(&n, mut_drop_last, NULL, "payload_len");
	table_reject(&z, mut_drop_last, NULL, "rows hold");
	free(n.rec);
	free(n.raw);
	free(z.rec);
	free(z.raw);
}
END_TEST

/* ---- LHDR ----------------------------------------------------------------- */

static lutdb_file_hdr mole_hdr(void)
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

static lutdb_file_hdr molkv_hdr(void)
{
	lutdb_file_hdr h = mole_hdr();

	h.family = LUTDB_FAMILY_MOLKV;
	h.kv_dim = 128;
	h.kv_expert_heads = 4;
	h.kv_window = 256;
	h.layer_row_elems = 4 * (128 + 512);
	h.table_dtype = LUTDB_DTYPE_F32;
	h.table_codec = LUTDB_CODEC_SHUFFLE_LZ4;
	h.page_size = 65536;
	h.shard_index = 2;
	h.shard_count = 3;
	h.token_begin = 100;
	h.token_end = 200;
	h.layer_begin = 1;
	h.layer_end = 4;
	h.flags = 0;
	return h;
}

START_TEST(file_header_layout)
{
	lutdb_file_hdr h = molkv_hdr(), g;
	uint8_t p[256];

	memset(p, 0xEE, sizeof p);
	lutdb_file_hdr_write(p, &h);
	ck_assert_int_eq(memcmp(p, "LUTDB\r\n\x1a", 8), 0);
	ck_assert_uint_eq(p[8], 0x04);
	ck_assert_uint_eq(p[11], 0x01);
	ck_assert_uint_eq(le16(p + 12), 1);
	ck_assert_uint_eq(le16(p + 14), 0);
	ck_assert_uint_eq(le32(p + 16), 65536);
	ck_assert_uint_eq(p[20], 2);
	ck_assert_uint_eq(p[21], 2);
	ck_assert_uint_eq(p[22], LUTDB_DTYPE_F32);
	ck_assert_uint_eq(p[23], LUTDB_CODEC_SHUFFLE_LZ4);
	ck_assert_uint_eq(le32(p + 24), 32000);
	ck_assert_uint_eq(le32(p + 28), 512);
	ck_assert_uint_eq(le32(p + 32), 6);
	ck_assert_uint_eq(le32(p + 36), 4);
	ck_assert_uint_eq(le32(p + 40), 1024);
	ck_assert_uint_eq(le32(p + 44), 8);
	ck_assert_uint_eq(le32(p + 48), 2);
	ck_assert_uint_eq(le32(p + 52), 128);
	ck_assert_uint_eq(le32(p + 56), 4);
	ck_assert_uint_eq(le32(p + 60), 256);
	ck_assert_uint_eq(le32(p + 64), 64);
	ck_assert_uint_eq(le32(p + 68), 2560);
	ck_assert_uint_eq(le32(p + 72), 0);
	ck_assert_uint_eq(le32(p + 76), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(p[80 + i], 0xA0 + i);
	ck_assert_uint_eq(le32(p + 96), 2);
	ck_assert_uint_eq(le32(p + 100), 3);
	ck_assert_uint_eq(le32(p + 104), 100);
	ck_assert_uint_eq(le32(p + 108), 200);
	ck_assert_uint_eq(le32(p + 112), 1);
	ck_assert_uint_eq(le32(p + 116), 4);
	ck_assert_uint_eq(le64(p + 120), 500);
	ck_assert_uint_eq(le64(p + 128), 41);
	for (int i = 136; i < 256; i++)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_int_eq(lutdb_file_hdr_parse(p, 256, &g), LUTDB_OK);
	ck_assert_int_eq(memcmp(&g, &h, sizeof g), 0); /* designated init zeroed padding */
	h = mole_hdr();
	lutdb_file_hdr_write(p, &h);
	ck_assert_int_eq(lutdb_file_hdr_parse(p, 256, &g), LUTDB_OK);
	ck_assert_uint_eq(g.flags, LUTDB_FLAG_TIED);
	ck_assert_uint_eq(g.layer_row_elems, 2048);
	/* A full LHDR record round trip. */
	{
		uint8_t r[32 + 256];
		lutdb_rec rec;

		lutdb_rec_write_prefix(r, LUTDB_REC_HEADER, 0, 0, 32, 256);
		lutdb_file_hdr_write(r + 32, &h);
		lutdb_rec_seal(r, 32, sizeof r, LUTDB_REC_HEADER);
		ck_assert_int_eq(lutdb_rec_parse(r, sizeof r, &rec), LUTDB_OK);
		ck_assert_int_eq(rec.kind, LUTDB_REC_HEADER);
		ck_assert_int_eq(lutdb_rec_verify(&rec), LUTDB_OK);
		ck_assert_int_eq(lutdb_file_hdr_parse(rec.payload, (size_t)rec.payload_len, &g), LUTDB_OK);
	}
}
END_TEST

START_TEST(file_header_checks)
{
	lutdb_file_hdr h;
	uint8_t p[256], c[256];
	lutdb_file_hdr g;

#define HREJ(base, field_stmt, code, substr)                                     \
	do {                                                                     \
		h = base();                                                      \
		field_stmt;                                                      \
		lutdb_file_hdr_write(p, &h);                                     \
		EXPECT(lutdb_file_hdr_parse(p, 256, &g), code, substr);          \
	} while (0)
#define HOK(base, field_stmt)                                                    \
	do {                                                                     \
		h = base();                                                      \
		field_stmt;                                                      \
		lutdb_file_hdr_write(p, &h);                                     \
		ck_assert_msg(lutdb_file_hdr_parse(p, 256, &g) == LUTDB_OK, "%s", lutdb_errdetail()); \
	} while (0)
	HREJ(mole_hdr, h.major = 2, LUTDB_EVERSION, "2.0");
	HREJ(mole_hdr, h.major = 0, LUTDB_EVERSION, "version");
	HOK(mole_hdr, h.minor = 9);
	HREJ(mole_hdr, h.page_size = 2048, LUTDB_ECORRUPT, "page_size");
	HREJ(mole_hdr, h.page_size = 131072, LUTDB_ECORRUPT, "page_size");
	HREJ(mole_hdr, h.page_size = 6144, LUTDB_ECORRUPT, "page_size");
	HREJ(mole_hdr, h.page_size = 0, LUTDB_ECORRUPT, "page_size");
	HOK(mole_hdr, h.page_size = 8192);
	HREJ(mole_hdr, h.family = 0, LUTDB_ECORRUPT, "family");
	HREJ(mole_hdr, h.family = 3, LUTDB_ECORRUPT, "family");
	HREJ(mole_hdr, h.source_form = 0, LUTDB_ECORRUPT, "form");
	HREJ(mole_hdr, h.source_form = 3, LUTDB_ECORRUPT, "form");
	HREJ(mole_hdr, h.table_dtype = 0, LUTDB_ECORRUPT, "dtype");
	HREJ(mole_hdr, h.table_dtype = 16, LUTDB_ECORRUPT, "dtype");
	HREJ(mole_hdr, h.table_codec = 3, LUTDB_ECORRUPT, "codec");
	HREJ(mole_hdr, h.vocab = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.hidden = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.layers = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.experts = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.intermediate = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.heads = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.kv_heads = 0, LUTDB_ECORRUPT, "zero geometry");
	HREJ(mole_hdr, h.kv_heads = 3, LUTDB_ECORRUPT, "kv_heads");
	HREJ(mole_hdr, h.heads = 7; h.kv_heads = 7, LUTDB_ECORRUPT, "hidden 512 not a multiple of heads 7");
	HREJ(mole_hdr, h.kv_dim = 128, LUTDB_ECORRUPT, "MoLE");
	HREJ(mole_hdr, h.kv_expert_heads = 4, LUTDB_ECORRUPT, "MoLE");
	HREJ(mole_hdr, h.layer_row_elems = 2049, LUTDB_ECORRUPT, "layer_row_elems");
	HREJ(mole_hdr, h.layer_row_elems = 0, LUTDB_ECORRUPT, "layer_row_elems");
	/* N*d overflows 32 bits: layer_row_elems can never match. */
	HREJ(mole_hdr, h.experts = 1u << 22; h.hidden = 1u << 10; h.heads = 1; h.kv_heads = 1; h.layer_row_elems = 0,
	     LUTDB_ECORRUPT, "layer_row_elems");
	HREJ(molkv_hdr, h.kv_dim = 0, LUTDB_ECORRUPT, "MoLKV");
	HREJ(molkv_hdr, h.kv_expert_heads = 0, LUTDB_ECORRUPT, "MoLKV");
	HREJ(molkv_hdr, h.kv_expert_heads = 3, LUTDB_ECORRUPT, "divide");
	HREJ(molkv_hdr, h.kv_dim = 130; h.layer_row_elems = 4 * (130 + 512), LUTDB_ECORRUPT, "divide");
	HREJ(molkv_hdr, h.layer_row_elems = 4 * 512, LUTDB_ECORRUPT, "layer_row_elems");
	HREJ(molkv_hdr, h.kv_dim = 0xffffffffu; h.kv_expert_heads = 1; h.layer_row_elems = 0, LUTDB_ECORRUPT,
	     "layer_row_elems");
	/* Token row bytes: layers held x row elems x dtype size < 2^31. */
	HREJ(mole_hdr, h.experts = 1u << 20; h.hidden = 256; h.layer_row_elems = 1u << 28; h.heads = 8, LUTDB_ECORRUPT,
	     "2^31");
	HOK(mole_hdr, h.experts = 1u << 16; h.hidden = 4096; h.layer_row_elems = 1u << 28; h.layers = 6; h.layer_begin = 2;
	    h.layer_end = 5); /* 3 x 2^28 x 2 = 1.5 GiB */
	HREJ(mole_hdr, h.experts = 1u << 16; h.hidden = 4096; h.layer_row_elems = 1u << 28; h.layer_begin = 2;
	     h.layer_end = 6, LUTDB_ECORRUPT, "2^31");
	HREJ(mole_hdr, h.block_tokens = 0, LUTDB_ECORRUPT, "block_tokens");
	HREJ(mole_hdr, h.block_tokens = 252, LUTDB_ECORRUPT, "block_tokens");
	HOK(mole_hdr, h.block_tokens = 251);
	HREJ(mole_hdr, h.shard_count = 0, LUTDB_ECORRUPT, "shard");
	HREJ(mole_hdr, h.shard_index = 1, LUTDB_ECORRUPT, "shard");
	HREJ(mole_hdr, h.token_begin = 5; h.token_end = 5, LUTDB_ECORRUPT, "token range");
	HREJ(mole_hdr, h.token_begin = 6; h.token_end = 5, LUTDB_ECORRUPT, "token range");
	HREJ(mole_hdr, h.token_end = 32001, LUTDB_ECORRUPT, "token range");
	HREJ(mole_hdr, h.layer_end = 0, LUTDB_ECORRUPT, "layer range");
	HREJ(mole_hdr, h.layer_begin = 3; h.layer_end = 2, LUTDB_ECORRUPT, "layer range");
	HREJ(mole_hdr, h.layer_end = 7, LUTDB_ECORRUPT, "layer range");
	HREJ(mole_hdr, h.flags = 2, LUTDB_ECORRUPT, "flags");
	HREJ(mole_hdr, h.flags = 0x80000001u, LUTDB_ECORRUPT, "flags");
	HREJ(mole_hdr, h.layers = 70000; h.layer_end = 6, LUTDB_ECORRUPT, "16-bit");
#undef HREJ
#undef HOK
	/* Raw-byte damage. */
	h = mole_hdr();
	lutdb_file_hdr_write(p, &h);
	memcpy(c, p, 256);
	c[0] = 'l';
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "signature");
	memcpy(c, p, 256);
	c[7] = 0;
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "signature");
	memcpy(c, p, 256);
	put32(c + 8, 0x04030201u);
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "big-endian file or host");
	put32(c + 8, 0x01020305u);
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "byte-order");
	memcpy(c, p, 256);
	c[76] = 1;
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "reserved");
	for (int i = 136; i < 256; i += 17) {
		memcpy(c, p, 256);
		c[i] = 0x10;
		EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "reserved");
	}
	c[255] = 1;
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "reserved");
	EXPECT(lutdb_file_hdr_parse(p, 255, &g), LUTDB_ECORRUPT, "256");
	EXPECT(lutdb_file_hdr_parse(p, 0, &g), LUTDB_ECORRUPT, "256");
	EXPECT(lutdb_file_hdr_parse(NULL, 256, &g), LUTDB_ECORRUPT, "256");
}
END_TEST

/* ---- hostile: truncations and byte flips ---------------------------------- */

/* Full read path for one record: prefix, kind parse, checksum. */
static int read_record(const uint8_t *buf, size_t len)
{
	lutdb_rec rec;
	lutdb_tensor_hdr th;
	lutdb_table_hdr tb;
	lutdb_file_hdr fh;
	int rc = lutdb_rec_parse(buf, len, &rec);

	if (rc)
		return rc;
	if (rec.kind == LUTDB_REC_TENSOR)
		rc = lutdb_tensor_hdr_parse(&rec, &th);
	else if (rec.kind == LUTDB_REC_TABLE)
		rc = lutdb_table_hdr_parse(&rec, &tb);
	else if (rec.kind == LUTDB_REC_HEADER)
		rc = lutdb_file_hdr_parse(rec.payload, (size_t)rec.payload_len, &fh);
	if (rc)
		return rc;
	return lutdb_rec_verify(&rec);
}

struct sample {
	uint8_t *buf;
	size_t len, hdr;
	const char *what;
};

static size_t samples(struct sample *s)
{
	static const uint64_t dims[3] = { 7, 3, 5 };
	size_t n = 0, len;
	struct tbl t;
	lutdb_file_hdr h = mole_hdr();

	s[n].buf = make_blob(300, &len);
	s[n].len = len, s[n].hdr = len, s[n++].what = "LBLB";
	s[n].buf = make_tensor(LUTDB_DTYPE_F16, 3, dims, &len);
	s[n].len = len, s[n].hdr = len, s[n++].what = "LTEN";
	t = make_table(LUTDB_CODEC_NONE, LUTDB_DTYPE_BF16, 496, 128, 20, 0, 2, 64);
	free(t.raw);
	s[n].buf = t.rec, s[n].len = t.len, s[n].hdr = t.header_len, s[n++].what = "LTBL none";
	t = make_table(LUTDB_CODEC_SHUFFLE_LZ4, LUTDB_DTYPE_F32, 496, 128, 20, 0, 2, 96);
	free(t.raw);
	s[n].buf = t.rec, s[n].len = t.len, s[n].hdr = t.header_len, s[n++].what = "LTBL shuffle-lz4";
	s[n].buf = malloc(288);
	lutdb_rec_write_prefix(s[n].buf, LUTDB_REC_HEADER, 0, 0, 32, 256);
	lutdb_file_hdr_write(s[n].buf + 32, &h);
	lutdb_rec_seal(s[n].buf, 32, 288, LUTDB_REC_HEADER);
	s[n].len = 288, s[n].hdr = 288, s[n++].what = "LHDR";
	return n;
}

START_TEST(every_truncation)
{
	struct sample s[8];
	size_t ns = samples(s);

	for (size_t k = 0; k < ns; k++) {
		ck_assert_msg(read_record(s[k].buf, s[k].len) == LUTDB_OK, "%s: %s", s[k].what, lutdb_errdetail());
		for (size_t cut = 0; cut < s[k].len; cut++) {
			uint8_t *t = malloc(cut ? cut : 1); /* exact size: ASan sees over-reads */
			int rc;

			memcpy(t, s[k].buf, cut);
			rc = read_record(t, cut);
			ck_assert_msg(rc == LUTDB_ECORRUPT, "%s cut to %zu: rc %d", s[k].what, cut, rc);
			free(t);
		}
		free(s[k].buf);
	}
}
END_TEST

START_TEST(random_flips)
{
	struct sample s[8];
	size_t ns = samples(s);
	int counts[3] = { 0, 0, 0 };

	for (size_t k = 0; k < ns; k++) {
		uint8_t *t = malloc(s[k].len);

		for (int round = 0; round < 4000; round++) {
			int flips = 1 + (int)(next() % 3), rc;

			memcpy(t, s[k].buf, s[k].len);
			for (int f = 0; f < flips; f++) {
				/* Mostly the fixed fields, sometimes anywhere in the header. */
				size_t at = round % 2 ? next() % (s[k].hdr < 128 ? s[k].hdr : 128) : next() % s[k].hdr;

				t[at] ^= (uint8_t)(1 + next() % 255);
			}
			if (memcmp(t, s[k].buf, s[k].len) == 0)
				continue;
			rc = read_record(t, s[k].len);
			ck_assert_msg(rc == LUTDB_ECORRUPT || rc == LUTDB_ECHECKSUM || rc == LUTDB_EVERSION,
				      "%s: damaged header accepted (rc %d)", s[k].what, rc);
			counts[rc == LUTDB_ECORRUPT ? 0 : rc == LUTDB_ECHECKSUM ? 1 : 2]++;
		}
		free(t);
		free(s[k].buf);
	}
	printf("header flips: %d corrupt, %d checksum, %d version\n", counts[0], counts[1], counts[2]);
	ck_assert_int_gt(counts[0], 0);
	ck_assert_int_gt(counts[1], 0);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	s = suite_create("keys");
	tc = tcase_create("table");
	tcase_add_test(tc, table_keys);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);

	s = suite_create("record");
	tc = tcase_create("prefix");
	tcase_add_test(tc, prefix_layout);
	tcase_add_test(tc, prefix_checks);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("tensor");
	tc = tcase_create("LTEN");
	tcase_add_test(tc, tensor_records);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("table");
	tc = tcase_create("LTBL");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, table_records);
	tcase_add_test(tc, table_checks);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("file-header");
	tc = tcase_create("LHDR");
	tcase_add_test(tc, file_header_layout);
	tcase_add_test(tc, file_header_checks);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("record-hostile");
	tc = tcase_create("damage");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_truncation);
	tcase_add_test(tc, random_flips);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
