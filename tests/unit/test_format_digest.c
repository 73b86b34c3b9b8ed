/*
 * test_format_digest.c - content digest and hex formatting, checked against
 * an independent one-shot XXH3-128 over the serialisation the spec defines.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "record.h"

static void canon(XXH128_hash_t h, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, 16);
}

/* Appends one record as u32 LE klen, key, u64 LE vlen, value. */
static size_t ser(uint8_t *buf, size_t pos, const void *k, size_t kl, const void *v, size_t vl)
{
	for (int i = 0; i < 4; i++)
		buf[pos++] = (uint8_t)(kl >> (8 * i));
	memcpy(buf + pos, k, kl);
	pos += kl;
	for (int i = 0; i < 8; i++)
		buf[pos++] = (uint8_t)((uint64_t)vl >> (8 * i));
	memcpy(buf + pos, v, vl);
	return pos + vl;
}

START_TEST(hex)
{
	uint8_t in[16];
	char out[33];

	for (int i = 0; i < 16; i++)
		in[i] = (uint8_t)(i * 17);
	memset(out, 'x', sizeof out);
	lutdb_hex16(in, out);
	ck_assert_str_eq(out, "00112233445566778899aabbccddeeff");
	memset(in, 0xff, 16);
	lutdb_hex16(in, out);
	ck_assert_str_eq(out, "ffffffffffffffffffffffffffffffff");
	ck_assert_uint_eq(strlen(out), 32);
}
END_TEST

START_TEST(empty_digest)
{
	lutdb_digest_state *s = lutdb_digest_new();
	uint8_t d[16];
	char hx[33];

	ck_assert_ptr_nonnull(s);
	lutdb_digest_final(s, d);
	lutdb_hex16(d, hx);
	/* XXH3-128 of no input, canonical (xxHash's sanity-test vector). */
	ck_assert_str_eq(hx, "99aa06d3014798d86001c324468d497f");
	lutdb_digest_free(s);
	lutdb_digest_free(NULL);
}
END_TEST

START_TEST(records)
{
	lutdb_digest_state *s = lutdb_digest_new(), *t = lutdb_digest_new();
	uint8_t *buf = malloc(1 << 20), *val = malloc(70000), d[16], e[16];
	size_t pos = 0;
	uint8_t key[8];

	for (size_t i = 0; i < 70000; i++)
		val[i] = (uint8_t)(i * 31 + (i >> 9));
	/* Several records, including empty keys/values and a large value. */
	static const size_t vlens[] = { 0, 1, 15, 16, 17, 240, 241, 1024, 65537, 70000 };
	for (size_t r = 0; r < sizeof vlens / sizeof vlens[0]; r++) {
		lutdb_table_key_encode(key, (uint32_t)r, (uint32_t)(r * 1000));
		lutdb_digest_record(s, key, r == 0 ? 0 : 8, val, vlens[r]);
		pos = ser(buf, pos, key, r == 0 ? 0 : 8, val, vlens[r]);
	}
	lutdb_digest_final(s, d);
	canon(XXH3_128bits(buf, pos), e);
	ck_assert_int_eq(memcmp(d, e, 16), 0);
	/* final does not consume: calling it again gives the same. */
	lutdb_digest_final(s, e);
	ck_assert_int_eq(memcmp(d, e, 16), 0);
	/* Order matters; the length prefixes separate key from value. */
	lutdb_digest_record(t, "ab", 2, "c", 1);
	lutdb_digest_final(t, d);
	lutdb_digest_reset(t);
	lutdb_digest_record(t, "a", 1, "bc", 2);
	lutdb_digest_final(t, e);
	ck_assert_int_ne(memcmp(d, e, 16), 0);
	pos = ser(buf, 0, "a", 1, "bc", 2);
	canon(XXH3_128bits(buf, pos), d);
	ck_assert_int_eq(memcmp(d, e, 16), 0);
	/* Reset returns to the empty digest. */
	lutdb_digest_reset(s);
	lutdb_digest_final(s, d);
	canon(XXH3_128bits("", 0), e);
	ck_assert_int_eq(memcmp(d, e, 16), 0);
	lutdb_digest_free(s);
	lutdb_digest_free(t);
	free(buf);
	free(val);
}
END_TEST

START_TEST(combine)
{
	uint8_t m[16], tb[16], tn[16], out[16], want[16], buf[128];
	size_t pos = 0;
	static const char *const names[3] = { "meta", "table", "tensors" };
	const uint8_t *subs[3] = { m, tb, tn };

	for (int i = 0; i < 16; i++) {
		m[i] = (uint8_t)i;
		tb[i] = (uint8_t)(0x40 + i);
		tn[i] = (uint8_t)(0x80 + i);
	}
	for (int k = 0; k < 3; k++) {
		size_t n = strlen(names[k]);

		buf[pos++] = (uint8_t)n;
		buf[pos++] = 0;
		buf[pos++] = 0;
		buf[pos++] = 0;
		memcpy(buf + pos, names[k], n);
		pos += n;
		memcpy(buf + pos, subs[k], 16);
		pos += 16;
	}
	ck_assert_uint_eq(pos, 3 * 20 + 4 + 5 + 7);
	lutdb_digest_combine(m, tb, tn, out);
	canon(XXH3_128bits(buf, pos), want);
	ck_assert_int_eq(memcmp(out, want, 16), 0);
	/* Swapping two sub-digests changes the result. */
	lutdb_digest_combine(tb, m, tn, want);
	ck_assert_int_ne(memcmp(out, want, 16), 0);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	s = suite_create("hex");
	tc = tcase_create("hex16");
	tcase_add_test(tc, hex);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);

	s = suite_create("digest");
	tc = tcase_create("xxh3-128");
	tcase_add_test(tc, empty_digest);
	tcase_add_test(tc, records);
	tcase_add_test(tc, combine);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
