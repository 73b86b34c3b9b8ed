/*
 * file_internal.h - the open file's indexes, shared by the file reader's own
 * sources (file_open.c builds them, file.c looks things up in them,
 * file_verify.c walks them).  Not for other rooms: they use file.h.
 */
#ifndef LUTDB_FILE_INTERNAL_H
#define LUTDB_FILE_INTERNAL_H

#include <lmdb.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "file.h"
#include "record.h"

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

struct lutdb_file {
	char *path;
	unsigned flags;                     /* LUTDB_OPEN_* */
	MDB_env *env;
	MDB_txn *txn;                       /* one read transaction, open until close */
	const uint8_t *map;
	uint64_t file_size;
	lutdb_file_hdr hdr;
	lutdb_config cfg;
	lutdb_info info;
	size_t nmeta;
	lutdb_meta_ent meta[LUTDB_MAX_META];  /* name order */
	size_t ntensors;
	lutdb_tensor_ent *tensors;          /* name order */
	_Atomic uint8_t *tensor_checked;
	uint32_t nblocks;
	lutdb_block_ent *blocks;            /* block b holds tokens of global block
					       (token_begin / bt) + b */
	_Atomic uint8_t *block_checked;
	_Atomic uint64_t *row_checked;      /* bit per token in [token_begin, token_end) */
};

/* The meta record name; NULL if absent. */
const lutdb_meta_ent *lutdb_file_meta_find(const lutdb_file *f, const char *name);

/* A meta record's payload, fully checked (kind and checksum: meta records
 * are small, so they are always verified).  LUTDB_ENOENT if absent. */
int lutdb_file_meta_payload(lutdb_file *f, const char *name, int kind, const uint8_t **p, size_t *len);

/* Parses block b's record header, checks it against the file header and
 * (once, or every time with force_check) its checksum; fills *rec, *th. */
int lutdb_file_block_header(lutdb_file *f, uint32_t b, int force_check, lutdb_rec *rec, lutdb_table_hdr *th);

#endif /* LUTDB_FILE_INTERNAL_H */
