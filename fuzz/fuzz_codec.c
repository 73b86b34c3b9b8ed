/*
 * fuzz_codec.c - table row codecs: lutdb_codec_decode of hostile bytes
 * (lz4 and shuffle-lz4, also none and unknown codes) into a buffer of a
 * random raw_len, and encode/decode round trips.
 *
 * Input: byte 0 codec (mod 4: none, lz4, shuffle-lz4, unknown), byte 1
 * element size (1, 2, 4, 8, 0 or 3), bytes 2..4 raw_len (17 bits, < 128 KiB),
 * byte 5 bit 0 scratch buffer or none, then the encoded row.  Contracts:
 * decode writes only inside dst (exact-size buffer) and succeeds only with
 * exactly raw_len bytes; re-encoding a decoded row decodes to the same
 * bytes; any input encodes (lz4 within lutdb_codec_bound) and decodes back
 * to itself.
 */
#include "fuzz_common.h"
#include "record.h"

static const size_t elems[] = {1, 2, 4, 8, 0, 3};

static void roundtrip(int codec, size_t elem, const uint8_t *raw, size_t n)
{
	size_t cap = lutdb_codec_bound(codec, n), len = 0;
	uint8_t *enc = malloc(cap ? cap : 1), *back = malloc(n ? n : 1);
	int rc;

	FUZZ_CHECK(enc && back);
	rc = lutdb_codec_encode(codec, elem, raw, n, enc, cap, &len, NULL);
	FUZZ_CHECK_RC(rc);
	if (codec == LUTDB_CODEC_SHUFFLE_LZ4 && elem != 2 && elem != 4)
		FUZZ_CHECK(rc == LUTDB_EINVAL);
	else if (codec >= LUTDB_CODEC_NONE && codec <= LUTDB_CODEC_SHUFFLE_LZ4)
		FUZZ_CHECK(rc == LUTDB_OK && len <= cap);
	if (rc == LUTDB_OK) {
		uint8_t *e = fuzz_dup(enc, len);
		rc = lutdb_codec_decode(codec, elem, e, len, back, n, NULL);
		FUZZ_CHECK(rc == LUTDB_OK);
		FUZZ_CHECK(n == 0 || !memcmp(back, raw, n));
		/* One byte short of the right length never decodes. */
		if (n > 0)
			FUZZ_CHECK(lutdb_codec_decode(codec, elem, e, len, back, n - 1, NULL) != LUTDB_OK);
		free(e);
	}
	free(enc);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 6)
		return 0;
	int codec = data[0] % 4;
	size_t elem = elems[data[1] % 6];
	size_t raw_len = (size_t)data[2] | (size_t)data[3] << 8 | (size_t)(data[4] & 0x01) << 16;
	int use_scratch = data[5] & 1;
	size_t n = size - 6;
	uint8_t *src = fuzz_dup(data + 6, n);
	uint8_t *dst = malloc(raw_len ? raw_len : 1);
	uint8_t *scratch = use_scratch ? malloc(raw_len ? raw_len : 1) : NULL;
	int rc;

	FUZZ_CHECK(dst && (!use_scratch || scratch));
	rc = lutdb_codec_decode(codec, elem, n ? src : NULL, n, dst, raw_len, scratch);
	FUZZ_CHECK_RC(rc);
	if (rc == LUTDB_OK) {
		FUZZ_CHECK(codec <= LUTDB_CODEC_SHUFFLE_LZ4);
		FUZZ_CHECK(codec != LUTDB_CODEC_NONE || n == raw_len);
		fuzz_touch(dst, raw_len);
		/* What decodes must survive its own round trip. */
		roundtrip(codec, elem, dst, raw_len);
	} else {
		FUZZ_CHECK(rc == LUTDB_ECORRUPT || rc == LUTDB_ENOMEM || rc == LUTDB_EINVAL);
	}
	/* Arbitrary bytes as a raw row, for each real codec. */
	roundtrip(LUTDB_CODEC_NONE, elem, src, n);
	roundtrip(LUTDB_CODEC_LZ4, elem, src, n);
	roundtrip(LUTDB_CODEC_SHUFFLE_LZ4, elem, src, n);
	free(scratch);
	free(dst);
	free(src);
	return 0;
}
