/*
 * file_writer_internal.h - the state of one file writer, shared by its two
 * sources: file_writer.c (the file, blobs, tensors, commit) and
 * file_writer_table.c (table blocks).  Not for other sources: they use
 * file_writer.h.
 */
#ifndef LUTDB_FILE_WRITER_INTERNAL_H
#define LUTDB_FILE_WRITER_INTERNAL_H

#include <lmdb.h>
#include <stdint.h>
#include <sys/types.h>

#include "file_writer.h"
#include "record.h"

struct lutdb_file_writer {
	char *out_path;
	char *tmp_path;         /* until the commit renames it to out_path */
	int fd;
	int overwrite;          /* else the rename must not replace out_path */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi_meta, dbi_tensors, dbi_table;
	uint64_t mapsize;       /* bytes of LMDB's map (and of the preallocation) */
	int map_advised;        /* MADV_RANDOM set on the map */
	lutdb_file_hdr hdr;
	uint32_t header_len;    /* LTBL header bytes: the rest of the first page */
	uint64_t row_bytes;     /* raw bytes of one token row */
	uint32_t row_stride;    /* codec none: row_bytes rounded up to 64 */
	uint32_t next_token;    /* next token expected by put_rows */
	/* The open table block. */
	uint32_t blk_first, blk_count, blk_filled;
	uint8_t *blk_rec;       /* codec none: the reserved record in the map */
	uint8_t *blk_img;       /* the block's record image: header, then rows */
	uint8_t *blk_raw;       /* other codecs: raw rows waiting to be encoded */
	uint8_t *shuffle_tmp;
	size_t blk_enc_cap;     /* other codecs: room for encoded rows in blk_img */
	/* The open tensor. */
	int in_tensor;
	int uses_quant;  /* a block-quantized tensor was added: the file is 1.1 */
	char tensor_name[LUTDB_NAME_MAX + 1];
	uint8_t *tensor_rec;
	size_t tensor_len;
	char last_tensor[LUTDB_NAME_MAX + 1];
	lutdb_digest_state *dg_table, *dg_tensors, *dg_meta;
	int failed;             /* a call failed: only abort is allowed */
};

/* LMDB and errno failures of the writer as lutdb codes, naming path and
 * what was being done. */
int lutdb_fw_mdb_fail(int rc, const char *what, const char *path);
int lutdb_fw_sys_fail(int err, const char *what, const char *path);

/* LUTDB_OK when w can take another call: it exists and no call failed. */
int lutdb_fw_usable(const lutdb_file_writer *w, const char *what);

/* The file offset of a value LMDB reserved at dst, or -1 (file_writer_table.c). */
off_t lutdb_fw_reserved_offset(lutdb_file_writer *w, uint8_t *dst);

#endif /* LUTDB_FILE_WRITER_INTERNAL_H */
