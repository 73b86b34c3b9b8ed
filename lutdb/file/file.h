/*
 * store_internal.h - limits and the open-database structure shared by the
 * store's source files (reader, verify, export).  Not installed.
 */
#ifndef LUTDB_STORE_INTERNAL_H
#define LUTDB_STORE_INTERNAL_H

#include <lmdb.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "geometry.h"
#include "lmdb_check.h"
#include "lmdb_layout.h"
#include "lutdb.h"
#include "record.h"

/* Tokens per table record unless the caller chooses (spec/FORMAT.md,
 * "Choosing the record granularity", has the measurements): at least 16, and
 * enough that a record's rows fill 256 KiB, so its header page costs at most
 * 1/64 of the table, at most 251 (what fits the header page). */
#define LUTDB_MIN_BLOCK_TOKENS 16
#define LUTDB_BLOCK_TARGET_BYTES (256u << 10)
uint32_t lutdb_default_block_tokens(uint64_t token_row_bytes);
/* A table record is kept below this many payload bytes (blocks shrink). */
#define LUTDB_MAX_BLOCK_BYTES (256ull << 20)
/* LMDB 0.9 stores value sizes in 32 bits. */
#define LUTDB_MAX_RECORD (0xFFFFFFFFull - 65536)
/* Caps on what an untrusted file may make the reader allocate. */
#define LUTDB_MAX_TENSORS 1000000u
#define LUTDB_MAX_META 64u

typedef struct lutdb_meta_ent {
	char name[LUTDB_NAME_MAX + 1];
	const uint8_t *rec;
	size_t len;
} lutdb_meta_ent;

typedef struct lutdb_tensor_ent {
	char name[LUTDB_NAME_MAX + 1];
	const uint8_t *rec;
	size_t len;
	lutdb_tensor_hdr th;
} lutdb_tensor_ent;

typedef struct lutdb_block_ent {
	const uint8_t *rec;
	size_t len;
	uint32_t token_first, token_count;
} lutdb_block_ent;

struct lutdb_db {
	char *path;
	unsigned flags;
	MDB_env *env;
	MDB_txn *txn;
	const uint8_t *map;
	uint64_t file_size;
	lutdb_file_hdr hdr;
	lutdb_config cfg;
	lutdb_info info;
	size_t nmeta;
	lutdb_meta_ent meta[LUTDB_MAX_META];
	size_t ntensors;
	lutdb_tensor_ent *tensors;          /* name order */
	_Atomic uint8_t *tensor_checked;
	uint32_t nblocks;
	lutdb_block_ent *blocks;            /* block b holds tokens of global block
					       (token_begin / bt) + b */
	_Atomic uint8_t *block_checked;
	_Atomic uint64_t *row_checked;      /* bit per token in [token_begin, token_end) */
	/* Opened through a manifest (multi.c): nshards > 0, the fields above
	 * except path/flags/info are unused, and lookups go to the shards. */
	size_t nshards;
	struct lutdb_db **shard;
	int split;                          /* LUTDB_SPLIT_TOKEN or _LAYER */
	uint16_t *token_shard;              /* token split: token -> shard */
	uint16_t *layer_shard;              /* layer split: layer -> shard */
};

/* multi.c: the shard-set versions of the public calls. */
int lutdb_multi_open(const char *path, unsigned flags, lutdb_db **out);
void lutdb_multi_close(lutdb_db *db);
int lutdb_multi_token_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			  lutdb_row *out);
int lutdb_multi_layer_row(lutdb_db *db, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			  size_t scratch_size, lutdb_row *out);
void lutdb_multi_prefetch(lutdb_db *db, uint32_t token);
int lutdb_multi_verify(lutdb_db *db, lutdb_progress_fn fn, void *ctx);

/* Stored blobs other than the header and digest records, in name order
 * (for a shard set: the first shard's).  Pointers as lutdb_blob_get. */
size_t lutdb_blob_count(lutdb_db *db);
int lutdb_blob_at(lutdb_db *db, size_t i, const char **name, const void **data, size_t *len);

/* Finds the meta record name; NULL if absent. */
const lutdb_meta_ent *lutdb_meta_find(const lutdb_db *db, const char *name);

/* Parses and (once) checks block b's header; fills *th. */
int lutdb_block_header(lutdb_db *db, uint32_t b, int force_check, lutdb_rec *rec, lutdb_table_hdr *th);


/* Internal lutdb_open flag: the file is a shard named by a manifest, so it
 * must be a database file; a manifest there is refused (a manifest naming
 * itself or another manifest would otherwise recurse without end). */
#define LUTDB_OPEN_SHARD_ 0x80000000u


#endif
