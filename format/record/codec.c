/*
 * codec.c - XXH3 checksum and the table-row codecs (none, lz4, shuffle-lz4).
 *
 * Decoding treats its input as hostile: sizes are checked against LZ4's int
 * limits before any call, LZ4_decompress_safe never reads past src+n nor
 * writes past dst+raw_len, and anything but exactly raw_len decoded bytes is
 * LUTDB_ECORRUPT.
 */
#include "record.h"
#include "fail.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <xxhash.h>

uint64_t lutdb_xxh3(const void *data, size_t len)
{
	return (uint64_t)XXH3_64bits(data, len);
}

const char *lutdb_codec_name(int codec)
{
	switch (codec) {
	case LUTDB_CODEC_NONE: return "none";
	case LUTDB_CODEC_LZ4: return "lz4";
	case LUTDB_CODEC_SHUFFLE_LZ4: return "shuffle-lz4";
	}
	return NULL;
}

size_t lutdb_codec_bound(int codec, size_t n)
{
	switch (codec) {
	case LUTDB_CODEC_NONE:
		return n;
	case LUTDB_CODEC_LZ4:
	case LUTDB_CODEC_SHUFFLE_LZ4:
		if (n <= (size_t)LZ4_MAX_INPUT_SIZE)
			return (size_t)LZ4_compressBound((int)n);
		/* Cannot be encoded (encode says ETOOBIG); same formula, saturating. */
		return n > SIZE_MAX - n / 255 - 16 ? SIZE_MAX : n + n / 255 + 16;
	}
	return 0;
}

/* Byte shuffle: out holds byte 0 of every element, then byte 1, ...; the
 * n % elem tail bytes are copied as they are. */
static void shuffle(uint8_t *out, const uint8_t *in, size_t n, size_t elem)
{
	size_t ne = n / elem, i, b;

	if (elem == 2) {
		uint8_t *o0 = out, *o1 = out + ne;

		for (i = 0; i < ne; i++) {
			o0[i] = in[2 * i];
			o1[i] = in[2 * i + 1];
		}
	} else if (elem == 4) {
		uint8_t *o0 = out, *o1 = out + ne, *o2 = out + 2 * ne, *o3 = out + 3 * ne;

		for (i = 0; i < ne; i++) {
			o0[i] = in[4 * i];
			o1[i] = in[4 * i + 1];
			o2[i] = in[4 * i + 2];
			o3[i] = in[4 * i + 3];
		}
	} else {
		for (b = 0; b < elem; b++)
			for (i = 0; i < ne; i++)
				out[b * ne + i] = in[i * elem + b];
	}
	memcpy(out + ne * elem, in + ne * elem, n - ne * elem);
}

static void unshuffle(uint8_t *out, const uint8_t *in, size_t n, size_t elem)
{
	size_t ne = n / elem, i, b;

	if (elem == 2) {
		const uint8_t *i0 = in, *i1 = in + ne;

		for (i = 0; i < ne; i++) {
			out[2 * i] = i0[i];
			out[2 * i + 1] = i1[i];
		}
	} else if (elem == 4) {
		const uint8_t *i0 = in, *i1 = in + ne, *i2 = in + 2 * ne, *i3 = in + 3 * ne;

		for (i = 0; i < ne; i++) {
			out[4 * i] = i0[i];
			out[4 * i + 1] = i1[i];
			out[4 * i + 2] = i2[i];
			out[4 * i + 3] = i3[i];
		}
	} else {
		for (b = 0; b < elem; b++)
			for (i = 0; i < ne; i++)
				out[i * elem + b] = in[b * ne + i];
	}
	memcpy(out + ne * elem, in + ne * elem, n - ne * elem);
}

static int lz4_encode(const void *src, size_t n, void *dst, size_t cap, size_t *out_len)
{
	int r;

	if (n > (size_t)LZ4_MAX_INPUT_SIZE)
		return lutdb_fail(LUTDB_ETOOBIG, "lz4: %zu input bytes exceed the LZ4 block limit of %d", n,
				  LZ4_MAX_INPUT_SIZE);
	if (cap > (size_t)INT_MAX)
		cap = (size_t)INT_MAX;
	r = LZ4_compress_default(src, dst, (int)n, (int)cap);
	if (r <= 0)
		return lutdb_fail(LUTDB_ETOOBIG, "lz4: %zu input bytes do not fit in %zu output bytes", n, cap);
	*out_len = (size_t)r;
	return LUTDB_OK;
}

int lutdb_codec_encode(int codec, size_t elem, const void *src, size_t n, void *dst, size_t cap,
		       size_t *out_len, void *scratch)
{
	int rc;
	void *buf;

	if (out_len == NULL || (n > 0 && (src == NULL || dst == NULL)))
		return lutdb_fail(LUTDB_EINVAL, "codec encode: NULL buffer");
	switch (codec) {
	case LUTDB_CODEC_NONE:
		if (cap < n)
			return lutdb_fail(LUTDB_ETOOBIG, "codec none: %zu bytes do not fit in %zu", n, cap);
		if (n > 0)
			memcpy(dst, src, n);
		*out_len = n;
		return LUTDB_OK;
	case LUTDB_CODEC_LZ4:
		return lz4_encode(src, n, dst, cap, out_len);
	case LUTDB_CODEC_SHUFFLE_LZ4:
		if (elem != 2 && elem != 4)
			return lutdb_fail(LUTDB_EINVAL, "codec shuffle-lz4: element size %zu (need 2 or 4)", elem);
		if (n > (size_t)LZ4_MAX_INPUT_SIZE)
			return lutdb_fail(LUTDB_ETOOBIG, "lz4: %zu input bytes exceed the LZ4 block limit of %d",
					  n, LZ4_MAX_INPUT_SIZE);
		buf = scratch;
		if (buf == NULL && (buf = malloc(n ? n : 1)) == NULL)
			return lutdb_fail(LUTDB_ENOMEM, "codec shuffle-lz4: %zu-byte scratch buffer", n);
		shuffle(buf, src, n, elem);
		rc = lz4_encode(buf, n, dst, cap, out_len);
		if (buf != scratch)
			free(buf);
		return rc;
	}
	return lutdb_fail(LUTDB_EINVAL, "codec encode: unknown codec %d", codec);
}

static int lz4_decode(const char *what, const void *src, size_t n, void *dst, size_t raw_len)
{
	int r;

	if (n == 0)
		return LUTDB_CORRUPT_BKPT("%s row: empty compressed block", what);
	if (n > (size_t)INT_MAX)
		return LUTDB_CORRUPT_BKPT("%s row: compressed length %zu exceeds the LZ4 int limit", what, n);
	if (raw_len > (size_t)LZ4_MAX_INPUT_SIZE)
		return LUTDB_CORRUPT_BKPT("%s row: raw length %zu exceeds the LZ4 block limit", what, raw_len);
	if (n > (size_t)LZ4_compressBound((int)raw_len))
		return LUTDB_CORRUPT_BKPT("%s row: %zu compressed bytes exceed the bound %d for %zu raw bytes",
					  what, n, LZ4_compressBound((int)raw_len), raw_len);
	r = LZ4_decompress_safe(src, dst, (int)n, (int)raw_len);
	if (r < 0)
		return LUTDB_CORRUPT_BKPT("%s row: malformed LZ4 block (%zu bytes, error %d)", what, n, r);
	if ((size_t)r != raw_len)
		return LUTDB_CORRUPT_BKPT("%s row: decoded %d bytes, expected %zu", what, r, raw_len);
	return LUTDB_OK;
}

int lutdb_codec_decode(int codec, size_t elem, const void *src, size_t n, void *dst, size_t raw_len,
		       void *scratch)
{
	int rc;
	void *buf;

	if ((n > 0 && src == NULL) || (raw_len > 0 && dst == NULL))
		return lutdb_fail(LUTDB_EINVAL, "codec decode: NULL buffer");
	switch (codec) {
	case LUTDB_CODEC_NONE:
		if (n != raw_len)
			return LUTDB_CORRUPT_BKPT("none row: stored %zu bytes, expected %zu", n, raw_len);
		if (n > 0)
			memcpy(dst, src, n);
		return LUTDB_OK;
	case LUTDB_CODEC_LZ4:
		return lz4_decode("lz4", src, n, dst, raw_len);
	case LUTDB_CODEC_SHUFFLE_LZ4:
		if (elem != 2 && elem != 4)
			return LUTDB_CORRUPT_BKPT("shuffle-lz4 row: element size %zu (need 2 or 4)", elem);
		if (raw_len > (size_t)LZ4_MAX_INPUT_SIZE) /* before sizing the scratch buffer */
			return LUTDB_CORRUPT_BKPT("shuffle-lz4 row: raw length %zu exceeds the LZ4 block limit",
						  raw_len);
		buf = scratch;
		if (buf == NULL && (buf = malloc(raw_len ? raw_len : 1)) == NULL)
			return lutdb_fail(LUTDB_ENOMEM, "codec shuffle-lz4: %zu-byte scratch buffer", raw_len);
		rc = lz4_decode("shuffle-lz4", src, n, buf, raw_len);
		if (rc == LUTDB_OK)
			unshuffle(dst, buf, raw_len, elem);
		if (buf != scratch)
			free(buf);
		return rc;
	}
	return LUTDB_CORRUPT_BKPT("row: unknown codec %d", codec);
}
