/*
 * test_format_record_header.c - the LHDR file header: every field at the
 * spec's offset, parse round trips (bare and as a sealed LHDR record), and
 * every field check and raw-byte damage (signature, byte order, reserved
 * bytes, length) rejected with its own detail.
 */
#include "record_util.h"
#include "testutil.h"

/* ---- LHDR ----------------------------------------------------------------- */

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
	HREJ(mole_hdr, h.table_dtype = 20, LUTDB_ECORRUPT, "dtype");
	/* A newer minor's unknown code says who wrote it. */
	HREJ(mole_hdr, h.table_dtype = 20; h.minor = 2, LUTDB_ECORRUPT, "newer lutdb");
	/* Format 1.1: block-quantized tables and their block size at 76. */
	HREJ(mole_hdr, h.table_dtype = 16; h.table_block = 32, LUTDB_ECORRUPT, "format 1.1");
	HOK(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_Q8_0; h.table_block = 32);
	HOK(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_Q4_0; h.table_block = 32);
	HOK(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF4; h.table_block = 512);
	HOK(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF3; h.table_block = 128);
	HOK(molkv_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF4; h.table_block = 128;
	    h.table_codec = LUTDB_CODEC_LZ4);
	HREJ(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_Q8_0; h.table_block = 0, LUTDB_ECORRUPT,
	     "Q8_0 table_block 0");
	HREJ(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_Q4_0; h.table_block = 64, LUTDB_ECORRUPT,
	     "Q4_0 table_block 64");
	HREJ(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF4; h.table_block = 48, LUTDB_ECORRUPT,
	     "NF4 table_block 48");
	HREJ(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF4; h.table_block = 0x80000000u, LUTDB_ECORRUPT,
	     "table_block 2147483648");
	HREJ(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF3; h.table_block = 8224, LUTDB_ECORRUPT,
	     "table_block 8224");
	/* 1024 is an allowed NF block but does not divide d = 512 (MoLE), and
	 * 256 does not divide dk = 128 (MoLKV). */
	HREJ(mole_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF4; h.table_block = 1024, LUTDB_ECORRUPT,
	     "does not divide d = 512");
	HREJ(molkv_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_NF4; h.table_block = 256;
	     h.table_codec = LUTDB_CODEC_NONE, LUTDB_ECORRUPT, "does not divide dk = 128");
	HREJ(molkv_hdr, h.minor = 1; h.table_dtype = LUTDB_DTYPE_Q8_0; h.table_block = 32, LUTDB_ECORRUPT,
	     "shuffle-lz4");
	HREJ(mole_hdr, h.table_block = 32, LUTDB_ECORRUPT, "table_block 32 with a BF16 table");
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
	c[76] = 1; /* table_block, 0 for a float table */
	EXPECT(lutdb_file_hdr_parse(c, 256, &g), LUTDB_ECORRUPT, "table_block");
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

static Suite *suite(void)
{
	Suite *s = suite_create("file-header");
	TCase *tc = tcase_create("LHDR");
	tcase_add_test(tc, file_header_layout);
	tcase_add_test(tc, file_header_checks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
