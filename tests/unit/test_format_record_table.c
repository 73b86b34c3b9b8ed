/*
 * test_format_record_table.c - LTBL table records: the layout at the spec's
 * offsets for every codec and dtype, the header-only checksum, every row's
 * checksum, bounds and decode, the smallest and largest header; and every
 * field check (token/layer counts, row_bytes, row_stride, entries, padding,
 * payload_len), each rejected with its own detail.
 */
#include "record_util.h"
#include "testutil.h"

/* ---- LTBL ----------------------------------------------------------------- */

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

static Suite *suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("LTBL");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, table_records);
	tcase_add_test(tc, table_checks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
