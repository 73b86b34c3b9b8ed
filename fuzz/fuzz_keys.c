/*
 * fuzz_keys.c - table keys (format/record.c): lutdb_table_key_decode on
 * any bytes, and the encode/decode round trip.
 *
 * Contracts: only 8-byte keys with zero reserved bytes decode; a decoded key
 * encodes back to the same 8 bytes; the layer is below 2^16; NULL outputs
 * are allowed; encoding any (layer < 2^16, token) decodes to itself, and
 * the bytewise order of encoded keys is the numeric (layer, token) order
 * (what LMDB's key order relies on).
 */
#include "bytes.h"
#include "fuzz_common.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t layer = 0, token = 0;
	uint8_t *key = fuzz_dup(data, size);
	int rc = lutdb_table_key_decode(size ? key : NULL, size, &layer, &token);

	FUZZ_CHECK_RC(rc);
	FUZZ_CHECK(lutdb_table_key_decode(size ? key : NULL, size, NULL, NULL) == rc);
	if (rc == LUTDB_OK) {
		uint8_t back[LUTDB_TABLE_KEY_SIZE];
		FUZZ_CHECK(size == LUTDB_TABLE_KEY_SIZE && key[2] == 0 && key[3] == 0 && layer < 65536);
		lutdb_table_key_encode(back, layer, token);
		FUZZ_CHECK(!memcmp(back, key, LUTDB_TABLE_KEY_SIZE));
	} else {
		FUZZ_CHECK(rc == LUTDB_ECORRUPT);
		FUZZ_CHECK(size != LUTDB_TABLE_KEY_SIZE || key[2] || key[3]);
	}
	free(key);
	/* Two keys from 16 bytes: round trip and order. */
	if (size >= 16) {
		uint32_t l1 = rd32(data) & 0xFFFF, t1 = rd32(data + 4), l2 = rd32(data + 8) & 0xFFFF,
			 t2 = rd32(data + 12);
		uint8_t k1[LUTDB_TABLE_KEY_SIZE], k2[LUTDB_TABLE_KEY_SIZE];
		uint32_t a, b;
		lutdb_table_key_encode(k1, l1, t1);
		lutdb_table_key_encode(k2, l2, t2);
		FUZZ_CHECK(lutdb_table_key_decode(k1, sizeof k1, &a, &b) == LUTDB_OK && a == l1 && b == t1);
		int c = memcmp(k1, k2, LUTDB_TABLE_KEY_SIZE);
		int want = l1 != l2 ? (l1 < l2 ? -1 : 1) : t1 != t2 ? (t1 < t2 ? -1 : 1) : 0;
		FUZZ_CHECK((c < 0 ? -1 : c > 0) == want);
	}
	return 0;
}
