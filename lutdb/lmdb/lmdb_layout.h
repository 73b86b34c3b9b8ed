/*
 * lmdb_layout.h - the parts of LMDB 0.9's on-disk page layout (64-bit
 * hosts; lmdb.h/mdb.c) that lutdb reads directly: the validator walks
 * untrusted files with them, the writer finds where LMDB put a record.
 * spec/SECURITY.md lists them.
 */
#ifndef LUTDB_LMDB_LAYOUT_H
#define LUTDB_LMDB_LAYOUT_H

/* The LMDB page size of every lutdb file (format 1, whatever the OS page
 * size). */
#define LUTDB_PAGE_SIZE 4096u

/* Page header (MDB_page): pgno u64 at 0, pad u16 at 8, flags u16 at 10,
 * then lower/upper u16 at 12/14 or, for an overflow run, its page count
 * u32 at 12. */
#define PAGEHDRSZ 16u
#define PG_PGNO_OFF 0u
#define PG_FLAGS_OFF 10u
#define PG_LOWER_OFF 12u
#define PG_UPPER_OFF 14u
#define PG_PAGES_OFF 12u
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08

/* Leaf and branch nodes. */
#define NODESIZE 8u
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02

/* Meta page. */
#define MDB_MAGIC_V 0xBEEFC0DEu
#define MDB_DATA_VERSION_V 1u
#define P_INVALID_V UINT64_MAX
#define MDB_DB_SIZE 48u     /* sizeof(MDB_db) */
#define META_MAPSIZE_OFF 32u /* page offset of mm_mapsize (after mm_address, 8 bytes) */
#define META_DBS_OFF 40u    /* page offset of mm_dbs[0] (free db) */
#define META_LASTPG_OFF 136u
#define META_TXNID_OFF 144u

#endif
