/*
 * test_safetensors.c - strict safetensors header parsing: the length prefix,
 * valid headers (all three dtypes, scalars, zero-size tensors, metadata,
 * lookup), and hostile headers (bad JSON, wrong types, unknown and
 * unsupported dtypes, overflowing shapes, offsets past the data, gaps,
 * overlaps, duplicate names, the tensor-count cap).  Every rejection must
 * name the tensor concerned.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skip.h"
#include "testutil.h"

#include "safetensors.h"


/* Parses a NUL-terminated JSON string (json_len = strlen). */
static int parse(const char *json, uint64_t data_size, lutdb_st_file *f)
{
	return lutdb_st_parse(json, strlen(json), data_size, f);
}

/* Expects rejection with code and substr; the output must come back empty. */
static void reject(const char *json, uint64_t data_size, int code, const char *substr)
{
	lutdb_st_file f;
	int rc;

	memset(&f, 0xAB, sizeof f);
	rc = parse(json, data_size, &f);
	ck_assert_msg(rc == code, "json %s: got %d (%s), want %d", json, rc, lutdb_errdetail(), code);
	ck_assert_msg(strstr(lutdb_errdetail(), substr) != NULL, "json %s: detail \"%s\" lacks \"%s\"", json,
		      lutdb_errdetail(), substr);
	ck_assert_ptr_null(f.tensors);
	ck_assert_uint_eq(f.count, 0);
	ck_assert_ptr_null(f.meta);
	lutdb_st_free(&f);
}

#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

/* ---- length prefix -------------------------------------------------------- */

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(header_length)
{
	uint8_t p[8];
	uint64_t n = 77;

	le64(p, 100);
	ck_assert_int_eq(lutdb_st_header_len(p, 108, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 100);
	ck_assert_int_eq(lutdb_st_header_len(p, 1000, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 100);
	EXPECT(lutdb_st_header_len(p, 107, &n), LUTDB_EBADINPUT, "past the end");
	ck_assert_uint_eq(n, 0);
	EXPECT(lutdb_st_header_len(p, 7, &n), LUTDB_EBADINPUT, "shorter than");
	EXPECT(lutdb_st_header_len(p, 0, &n), LUTDB_EBADINPUT, "shorter than");
	le64(p, 100000000);
	ck_assert_int_eq(lutdb_st_header_len(p, 100000008, &n), LUTDB_OK);
	le64(p, 100000001);
	EXPECT(lutdb_st_header_len(p, UINT64_MAX, &n), LUTDB_EBADINPUT, "cap");
	le64(p, UINT64_MAX);
	EXPECT(lutdb_st_header_len(p, UINT64_MAX, &n), LUTDB_EBADINPUT, "cap");
	le64(p, UINT64_MAX - 7); /* 8 + len wraps to 0 */
	EXPECT(lutdb_st_header_len(p, 100, &n), LUTDB_EBADINPUT, "cap");
	le64(p, 1);
	EXPECT(lutdb_st_header_len(p, 100, &n), LUTDB_EBADINPUT, "too short");
	le64(p, 0);
	EXPECT(lutdb_st_header_len(p, 100, &n), LUTDB_EBADINPUT, "too short");
	/* Little-endian: the high byte matters. */
	memset(p, 0, 8);
	p[1] = 1;
	ck_assert_int_eq(lutdb_st_header_len(p, 264, &n), LUTDB_OK);
	ck_assert_uint_eq(n, 256);
	EXPECT(lutdb_st_header_len(NULL, 100, &n), LUTDB_EINVAL, "NULL");
}
END_TEST

/* ---- valid headers -------------------------------------------------------- */

START_TEST(valid_header)
{
	/* Declared out of name and offset order; padded with spaces as the
	 * reference writer does. */
	const char *json = "{"
		"\"__metadata__\":{\"format\":\"pt\",\"author\":\"x\\u00e9\"},"
		T("model.embed_tokens.weight", "BF16", "[4,3]", 24, 48) ","
		T("a.scalar", "F32", "[]", 48, 52) ","
		T("b.empty", "F16", "[0,5]", 52, 52) ","
		T("lm_head.weight", "F32", "[2,3]", 0, 24) ","
		T("z.half", "F16", "[1,1,1,1,1,1,1,2]", 52, 56)
		"}     ";
	lutdb_st_file f;
	const lutdb_st_tensor *t;

	ck_assert_msg(parse(json, 56, &f) == LUTDB_OK, "%s", lutdb_errdetail());
	ck_assert_uint_eq(f.count, 5);
	ck_assert_uint_eq(f.data_size, 56);
	/* Sorted by name. */
	ck_assert_str_eq(f.tensors[0].name, "a.scalar");
	ck_assert_str_eq(f.tensors[1].name, "b.empty");
	ck_assert_str_eq(f.tensors[2].name, "lm_head.weight");
	ck_assert_str_eq(f.tensors[3].name, "model.embed_tokens.weight");
	ck_assert_str_eq(f.tensors[4].name, "z.half");

	t = lutdb_st_find(&f, "model.embed_tokens.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->dtype, LUTDB_DTYPE_BF16);
	ck_assert_uint_eq(t->ndim, 2);
	ck_assert_uint_eq(t->dims[0], 4);
	ck_assert_uint_eq(t->dims[1], 3);
	ck_assert_uint_eq(t->dims[2], 0);
	ck_assert_uint_eq(t->begin, 24);
	ck_assert_uint_eq(t->end, 48);
	ck_assert_uint_eq(t->name_len, strlen("model.embed_tokens.weight"));
	ck_assert_uint_eq(lutdb_st_numel(t), 12);

	t = lutdb_st_find(&f, "a.scalar");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->dtype, LUTDB_DTYPE_F32);
	ck_assert_uint_eq(t->ndim, 0);
	ck_assert_uint_eq(lutdb_st_numel(t), 1);

	t = lutdb_st_find(&f, "b.empty");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->ndim, 2);
	ck_assert_uint_eq(lutdb_st_numel(t), 0);
	ck_assert_uint_eq(t->begin, t->end);

	t = lutdb_st_find(&f, "z.half");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->ndim, 8);
	ck_assert_uint_eq(t->dims[7], 2);

	ck_assert_ptr_null(lutdb_st_find(&f, "lm_head"));
	ck_assert_ptr_null(lutdb_st_find(&f, "lm_head.weight2"));
	ck_assert_ptr_null(lutdb_st_find(&f, ""));
	ck_assert_ptr_null(lutdb_st_find(&f, "__metadata__"));
	ck_assert_ptr_null(lutdb_st_find(&f, NULL));
	ck_assert_ptr_null(lutdb_st_find(NULL, "a.scalar"));

	ck_assert_uint_eq(f.meta_count, 2);
	ck_assert_str_eq(f.meta[0].key, "author");
	ck_assert_str_eq(f.meta[0].value, "x\xc3\xa9");
	ck_assert_str_eq(f.meta[1].key, "format");
	ck_assert_str_eq(f.meta[1].value, "pt");
	lutdb_st_free(&f);
	ck_assert_ptr_null(f.tensors);
	lutdb_st_free(&f); /* twice is fine */
}
END_TEST

START_TEST(valid_edge_cases)
{
	lutdb_st_file f;
	char name[300], json[1024];

	/* Empty header, empty data. */
	ck_assert_int_eq(parse("{}", 0, &f), LUTDB_OK);
	ck_assert_uint_eq(f.count, 0);
	ck_assert_ptr_null(lutdb_st_find(&f, "x"));
	lutdb_st_free(&f);
	ck_assert_int_eq(parse("{\"__metadata__\":{}}", 0, &f), LUTDB_OK);
	lutdb_st_free(&f);
	/* Not NUL-terminated: only json_len bytes are read. */
	{
		char buf[64];
		const char *j = "{" T("w", "F16", "[2]", 0, 4) "}";
		size_t n = strlen(j);

		memcpy(buf, j, n);
		memset(buf + n, 'Z', sizeof buf - n);
		ck_assert_int_eq(lutdb_st_parse(buf, n, 4, &f), LUTDB_OK);
		ck_assert_uint_eq(f.count, 1);
		lutdb_st_free(&f);
	}
	/* A 255-byte name is allowed (UTF-8 counts bytes). */
	memset(name, 'n', 255);
	name[255] = 0;
	snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
	ck_assert_int_eq(parse(json, 4, &f), LUTDB_OK);
	ck_assert_uint_eq(f.tensors[0].name_len, 255);
	ck_assert_ptr_nonnull(lutdb_st_find(&f, name));
	lutdb_st_free(&f);
	/* Several zero-size tensors at the same offset, between others. */
	ck_assert_int_eq(parse("{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[0]", 4, 4) "," T("c", "F16", "[0,3]", 4, 4)
			       "," T("d", "F32", "[1]", 4, 8) "," T("e", "BF16", "[0]", 8, 8) "}",
			       8, &f),
			 LUTDB_OK);
	ck_assert_uint_eq(f.count, 5);
	lutdb_st_free(&f);
	/* Key order inside an entry does not matter. */
	ck_assert_int_eq(parse("{\"w\":{\"data_offsets\":[0,2],\"shape\":[],\"dtype\":\"BF16\"}}", 2, &f), LUTDB_OK);
	lutdb_st_free(&f);
}
END_TEST

/* ---- hostile headers ------------------------------------------------------ */

START_TEST(bad_json)
{
	reject("", 0, LUTDB_EBADINPUT, "not valid JSON");
	reject("{", 0, LUTDB_EBADINPUT, "not valid JSON");
	reject("{}}", 0, LUTDB_EBADINPUT, "not valid JSON");
	reject("{} x", 0, LUTDB_EBADINPUT, "not valid JSON");
	reject("[]", 0, LUTDB_EBADINPUT, "not a JSON object");
	reject("[{}]", 0, LUTDB_EBADINPUT, "not a JSON object");
	reject("\"str\"", 0, LUTDB_EBADINPUT, "JSON");
	reject("42", 0, LUTDB_EBADINPUT, "JSON");
	reject("null", 0, LUTDB_EBADINPUT, "JSON");
	reject("{'a':1}", 0, LUTDB_EBADINPUT, "not valid JSON");
	reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],}}", 4, LUTDB_EBADINPUT, "not valid JSON");
	/* Invalid UTF-8 in a name. */
	reject("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LUTDB_EBADINPUT, "JSON");
	/* Embedded NUL inside the buffer. */
	{
		lutdb_st_file f;
		static const char j[] = "{}\0{}";

		EXPECT(lutdb_st_parse(j, sizeof j - 1, 0, &f), LUTDB_EBADINPUT, "JSON");
	}
	/* A NUL escaped into a name or metadata. */
	reject("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LUTDB_EBADINPUT, "NUL byte");
	reject("{\"__metadata__\":{\"k\":\"v\\u0000\"}}", 0, LUTDB_EBADINPUT, "\\u0000");
	/* Deep nesting is bounded by the parser, not the stack. */
	{
		size_t depth = 100000;
		char *deep = malloc(2 * depth + 16);
		lutdb_st_file f;

		strcpy(deep, "{\"a\":");
		memset(deep + 5, '[', depth);
		memset(deep + 5 + depth, ']', depth);
		strcpy(deep + 5 + 2 * depth, "}");
		EXPECT(parse(deep, 0, &f), LUTDB_EBADINPUT, "JSON");
		free(deep);
	}
}
END_TEST

START_TEST(bad_entries)
{
	reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	       "\"data_offsets\":[4,8]}}",
	       8, LUTDB_EBADINPUT, "duplicate");
	reject("{\"w\":[1,2]}", 0, LUTDB_EBADINPUT, "\"w\": entry is not a JSON object");
	reject("{\"w\":\"F32\"}", 0, LUTDB_EBADINPUT, "\"w\"");
	reject("{\"w\":null}", 0, LUTDB_EBADINPUT, "\"w\"");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, LUTDB_EBADINPUT, "\"w\": entry must have exactly");
	reject("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, LUTDB_EBADINPUT, "\"w\"");
	reject("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LUTDB_EBADINPUT, "\"w\"");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, LUTDB_EBADINPUT,
	       "\"w\": entry must have exactly");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"dtype\":\"F16\"}}", 4, LUTDB_EBADINPUT,
	       "JSON"); /* duplicate key inside an entry */
	reject("{\"w\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, LUTDB_EBADINPUT, "\"w\": dtype is not a string");
	reject("{" T("w", "F17", "[1]", 0, 4) "}", 4, LUTDB_EBADINPUT, "\"w\": unknown dtype \"F17\"");
	reject("{" T("w", "f32", "[1]", 0, 4) "}", 4, LUTDB_EBADINPUT, "unknown dtype");
	reject("{" T("w", "", "[1]", 0, 4) "}", 4, LUTDB_EBADINPUT, "unknown dtype");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, LUTDB_EBADINPUT, "\"w\": shape is not an array");
	reject("{" T("w", "F32", "[-1]", 0, 4) "}", 4, LUTDB_EBADINPUT, "\"w\": shape[0]");
	reject("{" T("w", "F32", "[1,2.0]", 0, 8) "}", 8, LUTDB_EBADINPUT, "\"w\": shape[1]");
	reject("{" T("w", "F32", "[\"1\"]", 0, 4) "}", 4, LUTDB_EBADINPUT, "shape[0]");
	reject("{" T("w", "F32", "[[1]]", 0, 4) "}", 4, LUTDB_EBADINPUT, "shape[0]");
	reject("{" T("w", "F32", "[true]", 0, 4) "}", 4, LUTDB_EBADINPUT, "shape[0]");
	reject("{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, LUTDB_EBADINPUT, "\"w\": 9 dimensions");
	reject("{" T("w", "F32", "[99999999999999999999]", 0, 4) "}", 4, LUTDB_EBADINPUT, "JSON");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, LUTDB_EBADINPUT, "\"w\": data_offsets");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 8, LUTDB_EBADINPUT, "\"w\": data_offsets");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 8, LUTDB_EBADINPUT, "data_offsets");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8, LUTDB_EBADINPUT, "data_offsets");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 8, LUTDB_EBADINPUT, "data_offsets");
	reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 8, LUTDB_EBADINPUT, "data_offsets");
	reject("{" T("w", "F32", "[1]", 4, 0) "}", 4, LUTDB_EBADINPUT, "\"w\": data_offsets [4, 0] end before");
	/* Names. */
	reject("{" T("", "F32", "[1]", 0, 4) "}", 4, LUTDB_EBADINPUT, "empty name");
	{
		char name[300], json[1024];

		memset(name, 'n', 256);
		name[256] = 0;
		snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
		reject(json, 4, LUTDB_EBADINPUT, "name of 256 bytes");
	}
	/* Metadata. */
	reject("{\"__metadata__\":[\"a\"]}", 0, LUTDB_EBADINPUT, "__metadata__");
	reject("{\"__metadata__\":\"a\"}", 0, LUTDB_EBADINPUT, "__metadata__");
	reject("{\"__metadata__\":{\"k\":1}}", 0, LUTDB_EBADINPUT, "\"k\" is not a string");
	reject("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, LUTDB_EBADINPUT, "\"k\"");
	reject("{\"__metadata__\":{},\"__metadata__\":{}}", 0, LUTDB_EBADINPUT, "JSON");
}
END_TEST

START_TEST(bad_sizes)
{
	/* Shape and dtype against the byte range. */
	reject("{" T("w", "F32", "[2,3]", 0, 20) "}", 20, LUTDB_EBADINPUT, "\"w\": shape and dtype F32 give 24 bytes, data_offsets hold 20");
	reject("{" T("w", "BF16", "[2,3]", 0, 24) "}", 24, LUTDB_EBADINPUT, "\"w\": shape and dtype BF16 give 12");
	reject("{" T("w", "F16", "[]", 0, 4) "}", 4, LUTDB_EBADINPUT, "give 2 bytes");
	reject("{" T("w", "F16", "[0]", 0, 2) "}", 2, LUTDB_EBADINPUT, "give 0 bytes");
	/* Overflowing shapes. */
	reject("{" T("w", "F32", "[4611686018427387904]", 0, 0) "}", 0, LUTDB_EBADINPUT, "\"w\": shape overflows");
	reject("{" T("w", "F32", "[4294967296,4294967296]", 0, 0) "}", 0, LUTDB_EBADINPUT, "\"w\": shape overflows");
	reject("{" T("w", "F16", "[9223372036854775807,2]", 0, 0) "}", 0, LUTDB_EBADINPUT, "overflows");
	reject("{" T("w", "BF16", "[3074457345618258603,3]", 0, 2) "}", 2, LUTDB_EBADINPUT, "overflows");
	/* Past the data section: a truncated file. */
	reject("{" T("w", "F32", "[2]", 0, 8) "}", 7, LUTDB_EBADINPUT, "\"w\": data_offsets [0, 8] run past the 7-byte data section");
	reject("{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 4, 8) "}", 6, LUTDB_EBADINPUT, "\"b\"");
	reject("{" T("w", "F32", "[1]", 9223372036854775800, 9223372036854775804) "}", 100, LUTDB_EBADINPUT, "run past");
}
END_TEST

START_TEST(bad_tiling)
{
	/* Gap between tensors. */
	reject("{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12, LUTDB_EBADINPUT,
	       "gap of 4 bytes between tensor \"a\" (ends at 4) and tensor \"b\"");
	/* Leading unused bytes. */
	reject("{" T("a", "F32", "[1]", 4, 8) "}", 8, LUTDB_EBADINPUT, "4 unused bytes at the start");
	/* Overlap, partial and identical ranges. */
	reject("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12, LUTDB_EBADINPUT, "overlaps");
	reject("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 0, 8) "}", 8, LUTDB_EBADINPUT,
	       "tensor \"b\" [0, 8) overlaps tensor \"a\" [0, 8)");
	reject("{" T("a", "F32", "[4]", 0, 16) "," T("b", "F32", "[1]", 4, 8) "}", 16, LUTDB_EBADINPUT, "overlaps");
	/* A zero-size tensor inside another one. */
	reject("{" T("a", "F32", "[4]", 0, 16) "," T("z", "F32", "[0]", 8, 8) "}", 16, LUTDB_EBADINPUT, "\"z\"");
	/* Trailing bytes after the last tensor. */
	reject("{" T("a", "F32", "[1]", 0, 4) "}", 5, LUTDB_EBADINPUT, "tensors end at byte 4 (after \"a\") but the data section holds 5");
	reject("{}", 1, LUTDB_EBADINPUT, "no tensors but a 1-byte data section");
	reject("{\"__metadata__\":{}}", 3, LUTDB_EBADINPUT, "no tensors");
}
END_TEST

START_TEST(unsupported_dtypes)
{
	static const char *const dts[] = { "I64", "F64", "U8", "BOOL", "I8", "I16", "U16", "I32", "U32", "U64",
					   "F8_E4M3", "F8_E5M2" };
	static const unsigned sz[] = { 8, 8, 1, 1, 1, 2, 2, 4, 4, 8, 1, 1 };
	char json[512], want[128];

	for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
		snprintf(json, sizeof json,
			 "{\"ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
			 "\"position_ids\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[4,%u]}}",
			 dts[i], 4 + 3 * sz[i]);
		snprintf(want, sizeof want, "tensor \"position_ids\": dtype %s is not supported", dts[i]);
		reject(json, 4 + 3 * sz[i], LUTDB_EUNSUPPORTED, want);
		/* A damaged file is reported as damaged, not as unsupported. */
		reject(json, 5 + 3 * sz[i], LUTDB_EBADINPUT, "data section holds");
	}
	/* Sub-byte types have no byte size: unsupported at once. */
	reject("{" T("w", "F4", "[2]", 0, 1) "}", 1, LUTDB_EUNSUPPORTED, "\"w\": dtype F4");
}
END_TEST

/* Random damage to a valid header: never a crash, always a clean code. */
START_TEST(random_damage)
{
	const char *base = "{\"__metadata__\":{\"format\":\"pt\"},"
		T("a", "F32", "[2,3]", 0, 24) "," T("bb", "BF16", "[4]", 24, 32) "," T("c", "F16", "[]", 32, 34) "}";
	size_t n = strlen(base);
	char *buf = malloc(n);
	uint64_t r = 99;
	int ok = 0, bad = 0;

	for (int round = 0; round < 20000; round++) {
		lutdb_st_file f;
		size_t len = n;
		int rc;

		memcpy(buf, base, n);
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		if (round % 3 == 0)
			len = (size_t)(r >> 33) % n; /* truncation */
		else
			buf[(r >> 33) % n] = (char)(r >> 20);
		rc = lutdb_st_parse(buf, len, 34, &f);
		ck_assert(rc == LUTDB_OK || rc == LUTDB_EBADINPUT || rc == LUTDB_EUNSUPPORTED);
		if (rc == LUTDB_OK) {
			ok++;
			for (size_t i = 0; i < f.count; i++)
				ck_assert_uint_le(f.tensors[i].end, 34);
		} else {
			bad++;
			ck_assert_ptr_null(f.tensors);
		}
		lutdb_st_free(&f);
	}
	printf("safetensors damage: %d accepted, %d rejected\n", ok, bad);
	ck_assert_int_gt(bad, 0);
	free(buf);
}
END_TEST

/* The tensor-count cap: 1,000,001 zero-size tensors (about 15 s, nearly all
 * of it jansson decoding 55 MB of JSON, so only the rejection is tested). */
START_TEST(tensor_cap)
{
	size_t n = LUTDB_ST_MAX_TENSORS + 1, cap = n * 64 + 64, pos = 0;
	char *json;
	lutdb_st_file f;

	if (getenv("LUTDB_VALGRIND")) /* minutes under memcheck; trivial logic, run by make test */
		SKIP_TEST("minutes under memcheck (make test runs it)");
	json = malloc(cap);
	json[pos++] = '{';
	for (size_t i = 0; i < n; i++)
		pos += (size_t)snprintf(json + pos, cap - pos, "%s\"t%zu\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
					i ? "," : "", i);
	json[pos++] = '}';
	EXPECT(lutdb_st_parse(json, pos, 0, &f), LUTDB_EBADINPUT, "cap of 1000000 tensors");
	ck_assert_ptr_null(f.tensors);
	lutdb_st_free(&f);
	free(json);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;

	s = suite_create("st-length");
	tc = tcase_create("prefix");
	tcase_add_test(tc, header_length);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);

	s = suite_create("st-valid");
	tc = tcase_create("parse");
	tcase_add_test(tc, valid_header);
	tcase_add_test(tc, valid_edge_cases);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("st-hostile");
	tc = tcase_create("reject");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bad_json);
	tcase_add_test(tc, bad_entries);
	tcase_add_test(tc, bad_sizes);
	tcase_add_test(tc, bad_tiling);
	tcase_add_test(tc, unsupported_dtypes);
	tcase_add_test(tc, random_damage);
	suite_add_tcase(s, tc);
	tc = tcase_create("cap");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, tensor_cap);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	srunner_run_all(sr, CK_NORMAL);
	{
		int failed = srunner_ntests_failed(sr);

		srunner_free(sr);
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;
	}
}
