/*
 * test_format_record.c - table keys and the record layouts (common prefix,
 * LTEN): byte layouts checked against the offsets of the spec (read back
 * with record_util.h's own little-endian helpers), checksums against an
 * independent XXH3 over the record with bytes [24,32) cut out, every field
 * check; and, for every record kind (LBLB, LTEN, LTBL, LHDR), every
 * truncation and random byte flips.  LTBL is in test_format_record_table.c,
 * LHDR in test_format_record_header.c.
 */
#include "record_util.h"

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
