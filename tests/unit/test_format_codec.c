/*
 * test_format_codec.c - lutdb_xxh3 and the row codecs (none, lz4,
 * shuffle-lz4): round trips, the shuffle layout, encode limits, and hostile
 * decode input (every truncation, byte flips, garbage, wrong and huge
 * lengths).  Decode buffers are exact-size heap blocks followed by a canary
 * so out-of-bounds writes show up even without ASan.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <xxhash.h>

#include "record.h"

static uint64_t rng = 12345;

static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Table-like data: small F16/F32 values (compressible high bytes). */
static void fill(uint8_t *p, size_t n, int kind)
{
	for (size_t i = 0; i < n; i++) {
		if (kind == 0)
			p[i] = (uint8_t)next();
		else if (kind == 1)
			p[i] = (i % 2) ? (uint8_t)(0x38 + next() % 4) : (uint8_t)next();
		else
			p[i] = (uint8_t)(i % 16 + (i / 1000)); /* periodic */
	}
}

static void assert_corrupt(int rc)
{
	ck_assert_int_eq(rc, LUTDB_ECORRUPT);
	ck_assert_msg(lutdb_errdetail()[0] != '\0', "ECORRUPT without a detail");
#ifdef LUTDB_DEBUG
	ck_assert_msg(strstr(lutdb_errdetail(), "[check at ") != NULL, "no check line: %s", lutdb_errdetail());
#endif
}

/* Decodes into an exact-size buffer followed by a canary. */
static int decode_guarded(int codec, size_t elem, const void *src, size_t n, size_t raw_len, uint8_t *expect)
{
	uint8_t *dst = malloc(raw_len + 16);
	int rc;

	memset(dst, 0xC5, raw_len + 16);
	rc = lutdb_codec_decode(codec, elem, src, n, dst, raw_len, NULL);
	for (size_t i = 0; i < 16; i++)
		ck_assert_msg(dst[raw_len + i] == 0xC5, "decode wrote past raw_len");
	if (rc == LUTDB_OK && expect)
		ck_assert_int_eq(memcmp(dst, expect, raw_len), 0);
	free(dst);
	return rc;
}

START_TEST(xxh3_values)
{
	static const char abc[] = "abc";
	uint8_t buf[1000];

	ck_assert_uint_eq(lutdb_xxh3("", 0), 0x2D06800538D394C2ull); /* XXH3-64 of "" (xxHash docs) */
	ck_assert_uint_eq(lutdb_xxh3(abc, 3), XXH3_64bits_withSeed(abc, 3, 0));
	fill(buf, sizeof buf, 0);
	for (size_t n = 0; n <= sizeof buf; n += 37)
		ck_assert_uint_eq(lutdb_xxh3(buf, n), XXH3_64bits_withSeed(buf, n, 0));
	ck_assert_uint_ne(lutdb_xxh3(buf, 10), lutdb_xxh3(buf + 1, 10));
}
END_TEST

START_TEST(names_and_bounds)
{
	ck_assert_str_eq(lutdb_codec_name(LUTDB_CODEC_NONE), "none");
	ck_assert_str_eq(lutdb_codec_name(LUTDB_CODEC_LZ4), "lz4");
	ck_assert_str_eq(lutdb_codec_name(LUTDB_CODEC_SHUFFLE_LZ4), "shuffle-lz4");
	ck_assert_ptr_null(lutdb_codec_name(3));
	ck_assert_ptr_null(lutdb_codec_name(-1));
	ck_assert_uint_eq(lutdb_codec_bound(LUTDB_CODEC_NONE, 1000), 1000);
	ck_assert_uint_eq(lutdb_codec_bound(LUTDB_CODEC_LZ4, 1000), (size_t)LZ4_compressBound(1000));
	ck_assert_uint_eq(lutdb_codec_bound(LUTDB_CODEC_SHUFFLE_LZ4, 65536), (size_t)LZ4_compressBound(65536));
	ck_assert_uint_ge(lutdb_codec_bound(LUTDB_CODEC_LZ4, (size_t)LZ4_MAX_INPUT_SIZE + 1),
			  (size_t)LZ4_MAX_INPUT_SIZE + 1);
	ck_assert_uint_eq(lutdb_codec_bound(LUTDB_CODEC_LZ4, SIZE_MAX), SIZE_MAX);
	ck_assert_uint_eq(lutdb_codec_bound(7, 100), 0);
}
END_TEST

START_TEST(round_trips)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 255, 1000, 4096, 4099, 65537, 300001 };
	static const int codecs[] = { LUTDB_CODEC_NONE, LUTDB_CODEC_LZ4, LUTDB_CODEC_SHUFFLE_LZ4 };

	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t n = sizes[si];
		uint8_t *src = malloc(n + 1), *scratch = malloc(n + 1), *out = malloc(n + 1);

		for (int kind = 0; kind < 3; kind++) {
			fill(src, n, kind);
			for (size_t ci = 0; ci < 3; ci++) {
				for (size_t elem = 2; elem <= 4; elem += 2) {
					int c = codecs[ci];
					size_t cap = lutdb_codec_bound(c, n), len = 0;
					uint8_t *enc = malloc(cap + 1);

					ck_assert_int_eq(lutdb_codec_encode(c, elem, src, n, enc, cap, &len, (elem == 2) ? scratch : NULL),
							 LUTDB_OK);
					ck_assert_uint_le(len, cap);
					if (c == LUTDB_CODEC_NONE)
						ck_assert_uint_eq(len, n);
					if (kind == 2 && n >= 4096 && c != LUTDB_CODEC_NONE)
						ck_assert_uint_lt(len, n / 4); /* it does compress */
					ck_assert_int_eq(decode_guarded(c, elem, enc, len, n, src), LUTDB_OK);
					ck_assert_int_eq(lutdb_codec_decode(c, elem, enc, len, out, n, scratch), LUTDB_OK);
					ck_assert_int_eq(memcmp(out, src, n), 0);
					/* A wrong raw_len is corrupt, both ways. */
					assert_corrupt(decode_guarded(c, elem, enc, len, n + 1, NULL));
					if (n > 0)
						assert_corrupt(decode_guarded(c, elem, enc, len, n - 1, NULL));
					free(enc);
				}
			}
		}
		free(src);
		free(scratch);
		free(out);
	}
}
END_TEST

/* The shuffle's byte order, read back through plain LZ4. */
START_TEST(shuffle_layout)
{
	uint8_t src[11], enc[64], raw[11];
	size_t len;
	static const uint8_t want4[11] = { 0, 4, 1, 5, 2, 6, 3, 7, 8, 9, 10 };
	static const uint8_t want2[11] = { 0, 2, 4, 6, 8, 1, 3, 5, 7, 9, 10 };

	for (int i = 0; i < 11; i++)
		src[i] = (uint8_t)i;
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_SHUFFLE_LZ4, 4, src, 11, enc, sizeof enc, &len, NULL), LUTDB_OK);
	ck_assert_int_eq(LZ4_decompress_safe((const char *)enc, (char *)raw, (int)len, 11), 11);
	ck_assert_int_eq(memcmp(raw, want4, 11), 0);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_SHUFFLE_LZ4, 2, src, 11, enc, sizeof enc, &len, NULL), LUTDB_OK);
	ck_assert_int_eq(LZ4_decompress_safe((const char *)enc, (char *)raw, (int)len, 11), 11);
	ck_assert_int_eq(memcmp(raw, want2, 11), 0);
	/* Plain lz4 does not shuffle. */
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_LZ4, 4, src, 11, enc, sizeof enc, &len, NULL), LUTDB_OK);
	ck_assert_int_eq(LZ4_decompress_safe((const char *)enc, (char *)raw, (int)len, 11), 11);
	ck_assert_int_eq(memcmp(raw, src, 11), 0);
	/* Shuffled bytes from an independent LZ4 encoder decode back. */
	len = (size_t)LZ4_compress_default((const char *)want4, (char *)enc, 11, sizeof enc);
	ck_assert_int_eq(lutdb_codec_decode(LUTDB_CODEC_SHUFFLE_LZ4, 4, enc, len, raw, 11, NULL), LUTDB_OK);
	ck_assert_int_eq(memcmp(raw, src, 11), 0);
}
END_TEST

START_TEST(encode_limits)
{
	uint8_t src[4096], dst[8192];
	size_t len = 99;

	fill(src, sizeof src, 0);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_NONE, 2, src, 100, dst, 99, &len, NULL), LUTDB_ETOOBIG);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_LZ4, 2, src, sizeof src, dst, 100, &len, NULL), LUTDB_ETOOBIG);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_SHUFFLE_LZ4, 2, src, sizeof src, dst, 100, &len, NULL),
			 LUTDB_ETOOBIG);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_LZ4, 2, src, sizeof src, dst, 0, &len, NULL), LUTDB_ETOOBIG);
	/* Input beyond the LZ4 block limit is refused before any read. */
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_LZ4, 2, src, (size_t)LZ4_MAX_INPUT_SIZE + 1, dst, sizeof dst,
					    &len, NULL),
			 LUTDB_ETOOBIG);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_SHUFFLE_LZ4, 4, src, (size_t)UINT32_MAX + 10, dst, sizeof dst,
					    &len, NULL),
			 LUTDB_ETOOBIG);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_SHUFFLE_LZ4, 3, src, 12, dst, sizeof dst, &len, NULL), LUTDB_EINVAL);
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_SHUFFLE_LZ4, 1, src, 12, dst, sizeof dst, &len, NULL), LUTDB_EINVAL);
	ck_assert_int_eq(lutdb_codec_encode(9, 2, src, 12, dst, sizeof dst, &len, NULL), LUTDB_EINVAL);
	/* A huge capacity is clamped, not truncated to a negative int. */
	ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_LZ4, 2, src, 100, dst, (size_t)UINT32_MAX + 5, &len, NULL), LUTDB_OK);
	ck_assert_int_eq(decode_guarded(LUTDB_CODEC_LZ4, 2, dst, len, 100, src), LUTDB_OK);
}
END_TEST

START_TEST(decode_truncations)
{
	static const int codecs[] = { LUTDB_CODEC_LZ4, LUTDB_CODEC_SHUFFLE_LZ4 };
	const size_t n = 3000;
	uint8_t src[3000], enc[4096], *ext;
	size_t len, cut;

	for (int kind = 0; kind < 3; kind++) {
		fill(src, n, kind);
		for (int ci = 0; ci < 2; ci++) {
			ck_assert_int_eq(lutdb_codec_encode(codecs[ci], 2, src, n, enc, sizeof enc, &len, NULL), LUTDB_OK);
			for (cut = 0; cut < len; cut++) {
				/* Exact-size copy so a read past the end is an ASan error. */
				uint8_t *t = malloc(cut ? cut : 1);

				memcpy(t, enc, cut);
				assert_corrupt(decode_guarded(codecs[ci], 2, t, cut, n, NULL));
				free(t);
			}
			/* Trailing garbage after a valid block. */
			ext = malloc(len + 1);
			memcpy(ext, enc, len);
			ext[len] = 0;
			assert_corrupt(decode_guarded(codecs[ci], 2, ext, len + 1, n, NULL));
			free(ext);
		}
	}
	/* codec none: any size but raw_len. */
	assert_corrupt(decode_guarded(LUTDB_CODEC_NONE, 2, src, 99, 100, NULL));
	assert_corrupt(decode_guarded(LUTDB_CODEC_NONE, 2, src, 101, 100, NULL));
}
END_TEST

START_TEST(decode_flips_and_garbage)
{
	const size_t n = 2048;
	uint8_t src[2048], enc[4096], bad[4096];
	size_t len;
	int ok = 0, corrupt = 0;

	for (int round = 0; round < 3000; round++) {
		int c = round % 2 ? LUTDB_CODEC_LZ4 : LUTDB_CODEC_SHUFFLE_LZ4;
		size_t elem = round % 3 ? 2 : 4, flips = 1 + next() % 4;
		int rc;

		fill(src, n, 1 + round % 2);
		ck_assert_int_eq(lutdb_codec_encode(c, elem, src, n, enc, sizeof enc, &len, NULL), LUTDB_OK);
		memcpy(bad, enc, len);
		for (size_t f = 0; f < flips; f++)
			bad[next() % len] ^= (uint8_t)(1 + next() % 255);
		rc = decode_guarded(c, elem, bad, len, n, NULL);
		ck_assert(rc == LUTDB_OK || rc == LUTDB_ECORRUPT);
		rc == LUTDB_OK ? ok++ : corrupt++;
	}
	ck_assert_int_gt(corrupt, 0);
	printf("byte flips: %d decoded to raw_len, %d rejected as corrupt\n", ok, corrupt);
	/* Pure garbage of many sizes. */
	for (int round = 0; round < 3000; round++) {
		size_t gl = 1 + next() % 300, raw = next() % 5000;
		uint8_t *g = malloc(gl);
		int rc;

		for (size_t i = 0; i < gl; i++)
			g[i] = (uint8_t)next();
		rc = decode_guarded(round % 2 ? LUTDB_CODEC_LZ4 : LUTDB_CODEC_SHUFFLE_LZ4, 4, g, gl, raw, NULL);
		ck_assert(rc == LUTDB_OK || rc == LUTDB_ECORRUPT);
		free(g);
	}
}
END_TEST

START_TEST(decode_bad_lengths)
{
	uint8_t src[64] = { 0 }, dst[64];

	/* Empty input. */
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, src, 0, dst, 10, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_SHUFFLE_LZ4, 2, src, 0, dst, 10, NULL));
	/* Sizes beyond LZ4's int range are refused before touching memory:
	 * src and dst are tiny, the claimed lengths huge. */
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, src, (size_t)INT_MAX + 1, dst, 10, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, src, SIZE_MAX, dst, 10, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, src, 10, dst, (size_t)LZ4_MAX_INPUT_SIZE + 1, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, src, 10, dst, SIZE_MAX, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_SHUFFLE_LZ4, 2, src, 10, dst, SIZE_MAX, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_SHUFFLE_LZ4, 4, src, 10, dst, (size_t)UINT32_MAX + 1, NULL));
	/* More stored bytes than LZ4 can ever produce for raw_len. */
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, src, 64, dst, 8, NULL));
	/* Bad codec or element size (both come from disk). */
	assert_corrupt(lutdb_codec_decode(3, 2, src, 8, dst, 8, NULL));
	assert_corrupt(lutdb_codec_decode(-1, 2, src, 8, dst, 8, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_SHUFFLE_LZ4, 3, src, 8, dst, 8, NULL));
	assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_SHUFFLE_LZ4, 0, src, 8, dst, 8, NULL));
	/* An lz4 block that claims a long match before any output. */
	{
		static const uint8_t evil[] = { 0x0f, 0xff, 0xff, 0x00, 0x00 };

		assert_corrupt(decode_guarded(LUTDB_CODEC_LZ4, 2, evil, sizeof evil, 32, NULL));
	}
	/* Zero raw length: only the one-byte empty block is valid. */
	{
		uint8_t z = 0, nz = 0x10;
		size_t len;
		uint8_t enc[16];

		ck_assert_int_eq(lutdb_codec_encode(LUTDB_CODEC_LZ4, 2, src, 0, enc, sizeof enc, &len, NULL), LUTDB_OK);
		ck_assert_int_eq(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, enc, len, dst, 0, NULL), LUTDB_OK);
		ck_assert_int_eq(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, &z, 1, dst, 0, NULL), LUTDB_OK);
		assert_corrupt(lutdb_codec_decode(LUTDB_CODEC_LZ4, 2, &nz, 1, dst, 0, NULL));
	}
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	s = suite_create("xxh3");
	tc = tcase_create("values");
	tcase_add_test(tc, xxh3_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);

	s = suite_create("codec");
	tc = tcase_create("encode");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, names_and_bounds);
	tcase_add_test(tc, round_trips);
	tcase_add_test(tc, shuffle_layout);
	tcase_add_test(tc, encode_limits);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("codec-hostile");
	tc = tcase_create("decode");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, decode_truncations);
	tcase_add_test(tc, decode_flips_and_garbage);
	tcase_add_test(tc, decode_bad_lengths);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
