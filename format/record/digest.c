/*
 * digest.c - the content digest (XXH3-128) and hex formatting.
 *
 *   sub_digest(db) = XXH3-128 over the db's records in key order, each fed
 *                    as u32 LE key length, key, u64 LE value length, value
 *                    (the caller skips meta's "digest" record)
 *   file digest    = XXH3-128 over, for "meta", "table", "tensors" in that
 *                    order: u32 LE name length, name, the sub-digest's 16
 *                    canonical (big-endian) bytes
 */
#include "record.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bytes.h"

struct lutdb_digest_state {
	XXH3_state_t *xs;
};

lutdb_digest_state *lutdb_digest_new(void)
{
	lutdb_digest_state *s = malloc(sizeof *s);

	if (s == NULL)
		return NULL;
	s->xs = XXH3_createState();
	if (s->xs == NULL) {
		free(s);
		return NULL;
	}
	XXH3_128bits_reset(s->xs);
	return s;
}

void lutdb_digest_free(lutdb_digest_state *s)
{
	if (s == NULL)
		return;
	XXH3_freeState(s->xs);
	free(s);
}

void lutdb_digest_reset(lutdb_digest_state *s)
{
	XXH3_128bits_reset(s->xs);
}

void lutdb_digest_record(lutdb_digest_state *s, const void *key, size_t klen, const void *val, size_t vlen)
{
	uint8_t n[8];

	/* LMDB keys are at most 511 bytes: the u32 length never truncates. */
	wr32(n, (uint32_t)klen);
	XXH3_128bits_update(s->xs, n, 4);
	if (klen > 0)
		XXH3_128bits_update(s->xs, key, klen);
	wr64(n, (uint64_t)vlen);
	XXH3_128bits_update(s->xs, n, 8);
	if (vlen > 0)
		XXH3_128bits_update(s->xs, val, vlen);
}

void lutdb_digest_final(lutdb_digest_state *s, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->xs));
	memcpy(out, c.digest, 16);
}

void lutdb_digest_combine(const uint8_t meta[16], const uint8_t table[16], const uint8_t tensors[16],
			  uint8_t out[16])
{
	static const char *const names[3] = { LUTDB_DB_META, LUTDB_DB_TABLE, LUTDB_DB_TENSORS };
	const uint8_t *subs[3] = { meta, table, tensors };
	uint8_t buf[3 * (4 + 16 + 16)];
	size_t pos = 0, len;
	XXH128_canonical_t c;
	int i;

	for (i = 0; i < 3; i++) {
		len = strlen(names[i]);
		wr32(buf + pos, (uint32_t)len);
		memcpy(buf + pos + 4, names[i], len);
		memcpy(buf + pos + 4 + len, subs[i], 16);
		pos += 4 + len + 16;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, pos));
	memcpy(out, c.digest, 16);
}

void lutdb_hex16(const uint8_t in[16], char out[33])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[32] = '\0';
}
