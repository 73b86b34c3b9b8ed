/*
 * json_bounded.h - parsing a JSON document from outside within a memory
 * bound (library-internal).
 *
 * Jansson builds a tree with one allocation per value, per object member and
 * per string, and a hash table per object: a document of tiny values ("{}"
 * repeated, [[],[],...]) costs 80-100 times its size, and a failed
 * allocation comes back as a blank or misleading parse error.  So every
 * document from outside goes through lutdb_json_load, which
 *
 *   1. refuses a document larger than its cap (lutdb_json_doc.max_bytes)
 *      before reading a byte of it;
 *   2. scans it once (lutdb_json_scan: linear, no allocation) with jansson's
 *      own grammar, counting what jansson will allocate for it, and refuses
 *      it when that exceeds LUTDB_JSON_MEM_FACTOR times its size (plus
 *      LUTDB_JSON_MEM_SLACK) or when it nests deeper than
 *      LUTDB_JSON_MAX_DEPTH: peak memory while parsing is then at most the
 *      document plus that bound;
 *   3. parses it with jansson (JSON_REJECT_DUPLICATES always) and words a
 *      failure: a syntax error with its line and column, and an allocation
 *      that failed as LUTDB_ENOMEM naming the document.
 *
 * spec/SECURITY.md ("Caps on documents") lists each document's cap and the
 * peak memory measured at it.
 */
#ifndef LUTDB_JSON_BOUNDED_H
#define LUTDB_JSON_BOUNDED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Container nesting allowed (jansson's own limit is 2048): real documents
 * nest fewer than 10 levels. */
#define LUTDB_JSON_MAX_DEPTH 64
/* Refused when jansson would hold more than this many times the document
 * (plus the slack, for small documents).  Real documents need 3x (a
 * manifest) to 16x (a compact tokenizer.json); the densest legitimate
 * shape, a compact merges list of one-letter ["a","b"] pairs, 29x; "{}"
 * repeated needs 75x, "[]" repeated 45x.  spec/SECURITY.md section 1.8 has
 * the measurements. */
#define LUTDB_JSON_MEM_FACTOR 32u
#define LUTDB_JSON_MEM_SLACK ((size_t)1 << 20)

/* A kind of document and its limits. */
typedef struct lutdb_json_doc {
	const char *name; /* names it in every error: "config.json", "manifest.json" */
	size_t max_bytes; /* size cap, checked first */
	int bad;          /* the code of a document refused: LUTDB_EBADINPUT, LUTDB_ECORRUPT, ... */
	size_t flags;     /* extra jansson decoding flags (JSON_ALLOW_NUL) */
	int too_big;      /* the code of one over the size or memory cap; 0: bad */
} lutdb_json_doc;

/* What one scan found.  valid says the bytes follow jansson's grammar
 * (jansson may still refuse them: a duplicate key, a number out of range,
 * a NUL where it is not allowed); otherwise error_at is the offset of the
 * first byte that does not, and the counts cover the bytes before it,
 * which is all jansson reads before it fails too. */
typedef struct lutdb_json_stats {
	int valid;
	int too_deep;          /* stopped at a container nested deeper than LUTDB_JSON_MAX_DEPTH */
	size_t error_at;
	size_t values;         /* every value, containers included */
	size_t containers;
	size_t members;        /* object members, over all objects */
	size_t max_depth;      /* deepest container nesting */
	uint64_t alloc_bound;  /* bytes jansson holds at most at one time, malloc overhead included */
} lutdb_json_stats;

/* Scans text[0, len) with jansson's grammar (flags: JSON_DECODE_ANY allows
 * a scalar at the top).  Linear in len, no allocation, never fails. */
void lutdb_json_scan(const char *text, size_t len, size_t flags, lutdb_json_stats *out);

/* Parses a document from outside: the caps above, then jansson.  On success
 * *out is the caller's (json_decref); on failure *out is NULL and the code
 * is doc->bad (too large, too dense, too deep, invalid JSON, duplicate key,
 * ...) or LUTDB_ENOMEM, with a detail that starts with doc->name.  It does
 * not check the top-level type.  Over a cap, the code is doc->too_big when
 * set. */
int lutdb_json_load(const lutdb_json_doc *doc, const char *text, size_t len, json_t **out);

#endif /* LUTDB_JSON_BOUNDED_H */
