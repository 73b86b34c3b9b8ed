/*
 * record.h - the records, keys, file header, codecs and content digest of
 * the lutdb on-disk format: pure codecs, no I/O (library-internal).
 *
 * Byte layouts are specified in spec/FORMAT.md; this header mirrors them.
 * Every integer in a record is little-endian; LMDB keys are big-endian so that
 * LMDB's bytewise key order is numeric order.  Every decode function treats
 * its input as hostile: it checks every length and field and returns
 * LUTDB_ECORRUPT (with context via lutdb_errdetail()) instead of trusting it.
 */
#ifndef LUTDB_RECORD_H
#define LUTDB_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_types.h"


/* ---- checksums ----------------------------------------------------------- */
/* XXH3-64 with seed 0 (libxxhash). */
uint64_t lutdb_xxh3(const void *data, size_t len);

/* ---- codecs (table rows only; tensors and blobs are always codec none) --- */

/* Worst-case encoded size for n input bytes. */
size_t lutdb_codec_bound(int codec, size_t n);

/* Encodes src[0..n) into dst (capacity cap); elem is the dtype size (used by
 * the shuffle).  Returns LUTDB_OK and *out_len, or LUTDB_ETOOBIG if cap is too
 * small.  scratch: NULL or a buffer of n bytes (needed by SHUFFLE_LZ4). */
int lutdb_codec_encode(int codec, size_t elem, const void *src, size_t n, void *dst, size_t cap,
		       size_t *out_len, void *scratch);

/* Decodes exactly raw_len bytes into dst from src[0..n).  Any malformed input
 * or a size other than raw_len is LUTDB_ECORRUPT.  scratch as for encode. */
int lutdb_codec_decode(int codec, size_t elem, const void *src, size_t n, void *dst, size_t raw_len,
		       void *scratch);

/* ---- keys ---------------------------------------------------------------- */
/* Sub-database names. */
#define LUTDB_DB_META "meta"
#define LUTDB_DB_TENSORS "tensors"
#define LUTDB_DB_TABLE "table"

/* Table key: 8 bytes, u16 BE layer_first, u16 zero, u32 BE token_first. */
#define LUTDB_TABLE_KEY_SIZE 8
void lutdb_table_key_encode(uint8_t key[LUTDB_TABLE_KEY_SIZE], uint32_t layer_first, uint32_t token_first);
int lutdb_table_key_decode(const void *key, size_t len, uint32_t *layer_first, uint32_t *token_first);

/* Meta keys (ASCII, no NUL in the key). */
#define LUTDB_META_HEADER "lutdb"
#define LUTDB_META_DIGEST "digest"
#define LUTDB_META_CONFIG "config.json"
#define LUTDB_META_GENERATION "generation_config.json"
#define LUTDB_META_TOKENIZER "tokenizer.json"
#define LUTDB_META_TOKENIZER_CONFIG "tokenizer_config.json"
#define LUTDB_META_PROVENANCE "provenance.json"

/* Tensor names: 1..LUTDB_NAME_MAX bytes of UTF-8, no NUL. */
#define LUTDB_NAME_MAX 255

/* ---- records --------------------------------------------------------------
 * Every LMDB value in every sub-database is a record: a common 32-byte
 * prefix, a kind-specific header up to header_len, then the payload.
 *
 *  off size field
 *    0    4 magic       "LHDR" | "LBLB" | "LTEN" | "LTBL"
 *    4    2 version     record layout version, 1
 *    6    1 dtype       0 for LHDR/LBLB
 *    7    1 codec       0 except LTBL
 *    8    4 header_len  payload offset; multiple of 16, >= 32
 *   12    4 flags       0
 *   16    8 payload_len record length = header_len + payload_len exactly
 *   24    8 checksum    XXH3-64 of the record with these 8 bytes skipped
 *                       (LTBL: of the header only; rows have their own)
 */
#define LUTDB_REC_PREFIX 32
#define LUTDB_REC_VERSION 1
#define LUTDB_MAGIC_HEADER "LHDR"
#define LUTDB_MAGIC_BLOB "LBLB"
#define LUTDB_MAGIC_TENSOR "LTEN"
#define LUTDB_MAGIC_TABLE "LTBL"

enum lutdb_rec_kind { LUTDB_REC_HEADER = 1, LUTDB_REC_BLOB, LUTDB_REC_TENSOR, LUTDB_REC_TABLE };

typedef struct lutdb_rec {
	int kind;
	int dtype;
	int codec;
	uint32_t header_len;
	uint64_t payload_len;
	uint64_t checksum;
	const uint8_t *base;    /* record start (points into the input) */
	const uint8_t *payload; /* base + header_len */
} lutdb_rec;

/* Parses and bounds-checks the common prefix of a record of len bytes.
 * Does not verify the checksum (see lutdb_rec_verify). */
int lutdb_rec_parse(const void *data, size_t len, lutdb_rec *out);
/* Writes the common prefix (checksum field zero) into dst[0..32). */
void lutdb_rec_write_prefix(void *dst, int kind, int dtype, int codec, uint32_t header_len,
			    uint64_t payload_len);
/* Checksum of a record as defined above (LTBL: header bytes only). */
uint64_t lutdb_rec_checksum(const void *rec, size_t header_len, size_t total_len, int kind);
/* Stores the checksum into the record's prefix. */
void lutdb_rec_seal(void *rec, size_t header_len, size_t total_len, int kind);
/* LUTDB_OK if the stored checksum matches, LUTDB_ECHECKSUM otherwise. */
int lutdb_rec_verify(const lutdb_rec *rec);

/* -- LTEN: tensor record; header_len 112 ------------------------------------
 *   32  4 ndim (1..8)     36 4 reserved 0
 *   40 64 dims[8] u64 (unused entries 0)      104 8 reserved 0
 * payload: the elements, row-major, little-endian, payload_len =
 * lutdb_dtype_bytes(dtype, 32, prod(dims)) (Q8_0/Q4_0: the last dimension is
 * a multiple of 32).  In an overflow page the payload is 64-byte aligned. */
#define LUTDB_TENSOR_HEADER_LEN 112
#define LUTDB_TENSOR_MAX_DIMS 8
typedef struct lutdb_tensor_hdr {
	int dtype;
	uint32_t ndim;
	uint64_t dims[LUTDB_TENSOR_MAX_DIMS];
} lutdb_tensor_hdr;
void lutdb_tensor_hdr_write(void *dst, const lutdb_tensor_hdr *h, uint64_t payload_len);
/* Parses an LTEN record (prefix already parsed); checks ndim, dims, that the
 * product times dtype size equals payload_len without overflow. */
int lutdb_tensor_hdr_parse(const lutdb_rec *rec, lutdb_tensor_hdr *out);

/* -- LTBL: table block; header_len = page_size - 16 (rows start on a page) --
 *   32 4 token_first    36 4 token_count (>= 1)
 *   40 4 layer_first    44 4 layer_count (>= 1)
 *   48 4 row_bytes      raw bytes of one token row in this record
 *   52 4 row_stride     codec none: distance between rows (multiple of 64,
 *                       >= row_bytes); other codecs: 0
 *   56 8 reserved 0
 *   64 16*token_count   per row: u64 checksum (XXH3-64 of the row's stored
 *                       bytes), u32 offset (from payload start), u32 stored
 *                       length (codec none: offset = i*row_stride, length =
 *                       row_bytes)
 * payload: the rows; codec none: payload_len = token_count * row_stride with
 * zero padding; otherwise rows back to back, payload_len = sum of lengths. */
#define LUTDB_TABLE_HEADER_FIXED 64
#define LUTDB_TABLE_ROW_ENTRY 16
typedef struct lutdb_table_hdr {
	uint32_t token_first, token_count;
	uint32_t layer_first, layer_count;
	uint32_t row_bytes, row_stride;
	const uint8_t *entries; /* token_count entries of 16 bytes (in the input) */
} lutdb_table_hdr;
/* Largest token_count whose entries fit in a header of header_len bytes. */
uint32_t lutdb_table_max_tokens(uint32_t header_len);
void lutdb_table_hdr_write(void *dst, uint32_t header_len, int dtype, int codec, const lutdb_table_hdr *h,
			   uint64_t payload_len);
/* Row i's entry: writes and reads. */
void lutdb_table_entry_set(void *hdr_base, uint32_t i, uint64_t checksum, uint32_t offset, uint32_t length);
void lutdb_table_entry_get(const lutdb_table_hdr *h, uint32_t i, uint64_t *checksum, uint32_t *offset,
			   uint32_t *length);
/* Parses an LTBL record and checks every field and entry bound against the
 * payload (offsets + lengths inside payload_len; codec none: the fixed
 * layout). */
int lutdb_table_hdr_parse(const lutdb_rec *rec, lutdb_table_hdr *out);

/* -- LHDR: the file header, meta key "lutdb"; payload 256 bytes -------------
 *    0  8 signature    "LUTDB\r\n\x1a"
 *    8  4 byte_order   0x01020304 (reads 04 03 02 01 on disk: little-endian)
 *   12  2 major        14 2 minor   16 4 page_size ... (see struct and
 *   spec/FORMAT.md for the full table; the struct is in on-disk order)
 */
#define LUTDB_HEADER_PAYLOAD 256
#define LUTDB_SIGNATURE "LUTDB\r\n\x1a"
#define LUTDB_BYTE_ORDER_MARK 0x01020304u


typedef struct lutdb_file_hdr {
	uint16_t major, minor;
	uint32_t page_size;
	uint8_t family, source_form, table_dtype, table_codec;
	uint32_t vocab, hidden, layers, experts, intermediate;
	uint32_t heads, kv_heads, kv_dim, kv_expert_heads, kv_window;
	uint32_t block_tokens;     /* tokens per table record (last may hold fewer) */
	uint32_t layer_row_elems;  /* MoLE N*d, MoLKV N*(dk+d) */
	uint32_t flags;            /* bit 0: tied embeddings */
	uint32_t table_block;      /* B of a quantized table (offset 76, format 1.1); 0 for a float table */
	uint8_t pack_id[16];       /* random identity of one pack run */
	uint32_t shard_index, shard_count; /* 0, 1 when not sharded */
	uint32_t token_begin, token_end;   /* table rows held: [begin, end) */
	uint32_t layer_begin, layer_end;   /* layers held:     [begin, end) */
	uint64_t table_records;    /* LTBL records in this file */
	uint64_t tensor_count;     /* LTEN records in this file */
} lutdb_file_hdr;
#define LUTDB_FLAG_TIED 1u

void lutdb_file_hdr_write(void *payload, const lutdb_file_hdr *h);
/* Parses the 256-byte payload; checks signature, byte order, version
 * (LUTDB_EVERSION for an unknown major), and the internal consistency of the
 * geometry (nonzero sizes, ranges ordered and inside V and L, row elements
 * matching family and sizes, no overflow of row bytes). */
int lutdb_file_hdr_parse(const void *payload, size_t len, lutdb_file_hdr *out);

/* ---- content digest -------------------------------------------------------
 * sub_digest(db) = XXH3-128 over its records in key order, each as
 *   u32 LE key length, key, u64 LE value length, value
 * (meta skips the "digest" record).  The file digest is XXH3-128 over, for
 * each of "meta", "table", "tensors" in that order:
 *   u32 LE name length, name, 16-byte canonical (big-endian) sub_digest. */
typedef struct lutdb_digest_state lutdb_digest_state;
lutdb_digest_state *lutdb_digest_new(void);
void lutdb_digest_free(lutdb_digest_state *s);
void lutdb_digest_reset(lutdb_digest_state *s);
void lutdb_digest_record(lutdb_digest_state *s, const void *key, size_t klen, const void *val, size_t vlen);
/* Writes the 16-byte canonical digest of what was fed so far. */
void lutdb_digest_final(lutdb_digest_state *s, uint8_t out[16]);
void lutdb_digest_combine(const uint8_t meta[16], const uint8_t table[16], const uint8_t tensors[16],
			  uint8_t out[16]);
/* Lower-case hex of 16 bytes into out[33]. */
void lutdb_hex16(const uint8_t in[16], char out[33]);

#endif /* LUTDB_RECORD_H */
