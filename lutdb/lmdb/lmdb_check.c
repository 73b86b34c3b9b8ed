/*
 * lmdb_check.c - validates an untrusted LMDB file before LMDB reads it.
 *
 * LMDB 0.9 trusts its own pages: a bad page number, node offset or key size
 * in a branch or leaf page makes a read-only cursor read outside the map and
 * die by SIGSEGV, and a file shorter than its meta page claims makes it touch
 * pages past EOF (SIGBUS).  So before mdb_env_open() this walks what a
 * read-only LMDB transaction will dereference, through a private read-only
 * mapping, checking every field against the file:
 *
 *   - both meta pages (flags, magic, version, page size, map size equal to
 *     the file size) and, for the meta LMDB will pick (the larger txnid),
 *     last_pg against the file size (the file ends exactly at that page:
 *     neither truncated nor followed by trailing bytes) and the main
 *     database record;
 *   - every branch and leaf page of the main database and of each named
 *     sub-database: page number, flags, lower/upper bounds, every node
 *     offset, key and data bounds, key order, uniform leaf depth, no page
 *     reachable twice (no cycles, no shared pages);
 *   - every overflow (big value) extent: inside last_pg and not overlapping
 *     another page in use.  Overflow pages themselves are not read (a read
 *     transaction never looks at them: the value size comes from the leaf),
 *     which keeps this O(B-tree pages), not O(file).
 *   - named sub-database records: exact size, no flags LMDB would interpret
 *     differently (dupsort, integer or reverse keys).
 *
 * The free-page database is not walked: read-only transactions never read
 * it.  The layout constants below are LMDB 0.9's on-disk format for 64-bit
 * hosts (lmdb.h/mdb.c), in lmdb_layout.h; spec/SECURITY.md lists them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "lmdb_layout.h"
#include "lmdb_check.h"
#include "fail.h"

#define MAX_DEPTH 32u       /* far beyond any real tree of this file size */

typedef struct walker {
	const char *path;
	const uint8_t *map;
	uint64_t size, psize, npages; /* npages = last_pg + 1 */
	uint8_t *seen;                /* bit per page */
	uint64_t leaves, branches, overflow, entries;
	int leaf_depth;
} walker;

static int mark(walker *w, uint64_t pgno, uint64_t count, const char *what)
{
	if (pgno < 2 || pgno >= w->npages || count > w->npages - pgno)
		return LUTDB_CORRUPT_BKPT("%s: %s page %llu (+%llu) outside the file's %llu pages", w->path, what,
					  (unsigned long long)pgno, (unsigned long long)count,
					  (unsigned long long)w->npages);
	for (uint64_t p = pgno; p < pgno + count; p++) {
		if (w->seen[p >> 3] & (1u << (p & 7)))
			return LUTDB_CORRUPT_BKPT("%s: page %llu is used twice", w->path, (unsigned long long)p);
		w->seen[p >> 3] |= (uint8_t)(1u << (p & 7));
	}
	return LUTDB_OK;
}

typedef struct db_rec {
	uint16_t flags, depth;
	uint64_t branch, leaf, overflow, entries, root;
} db_rec;

static void read_db(const uint8_t *p, db_rec *d)
{
	d->flags = rd16(p + 4);
	d->depth = rd16(p + 6);
	d->branch = rd64(p + 8);
	d->leaf = rd64(p + 16);
	d->overflow = rd64(p + 24);
	d->entries = rd64(p + 32);
	d->root = rd64(p + 40);
}

static int walk_db(walker *w, const db_rec *d, const char *name, int is_main);

/* Checks one page and recurses into children (branch) or named databases
 * (leaf of the main database). */
static int walk_page(walker *w, uint64_t pgno, unsigned depth, const char *name, int is_main)
{
	const uint8_t *pg, *prev_key = NULL;
	size_t prev_len = 0;
	uint16_t flags, lower, upper;
	unsigned nkeys;
	int rc;

	if (depth > MAX_DEPTH)
		return LUTDB_CORRUPT_BKPT("%s: %s: B-tree deeper than %u", w->path, name, MAX_DEPTH);
	if ((rc = mark(w, pgno, 1, name)))
		return rc;
	pg = w->map + pgno * w->psize;
	flags = rd16(pg + PG_FLAGS_OFF);
	lower = rd16(pg + PG_LOWER_OFF);
	upper = rd16(pg + PG_UPPER_OFF);
	if (rd64(pg) != pgno)
		return LUTDB_CORRUPT_BKPT("%s: %s: page %llu claims to be page %llu", w->path, name,
					  (unsigned long long)pgno, (unsigned long long)rd64(pg));
	if ((flags != P_BRANCH && flags != P_LEAF) || lower < PAGEHDRSZ || lower > upper || upper > w->psize ||
	    (lower - PAGEHDRSZ) % 2)
		return LUTDB_CORRUPT_BKPT("%s: %s: page %llu has a bad header (flags %#x, lower %u, upper %u)", w->path,
					  name, (unsigned long long)pgno, flags, lower, upper);
	nkeys = (lower - PAGEHDRSZ) / 2;
	if (nkeys == 0 || (flags == P_BRANCH && nkeys < 2 && depth > 1))
		return LUTDB_CORRUPT_BKPT("%s: %s: page %llu has %u keys", w->path, name, (unsigned long long)pgno,
					  nkeys);
	if (flags == P_BRANCH)
		w->branches++;
	else {
		w->leaves++;
		if (w->leaf_depth == 0)
			w->leaf_depth = (int)depth;
		else if (w->leaf_depth != (int)depth)
			return LUTDB_CORRUPT_BKPT("%s: %s: leaves at depths %d and %u", w->path, name, w->leaf_depth,
						  depth);
	}
	for (unsigned i = 0; i < nkeys; i++) {
		uint16_t off = rd16(pg + PAGEHDRSZ + 2 * i);
		if (off < upper || off > w->psize - NODESIZE)
			return LUTDB_CORRUPT_BKPT("%s: %s: page %llu node %u at offset %u is out of bounds", w->path,
						  name, (unsigned long long)pgno, i, off);
		const uint8_t *node = pg + off;
		uint16_t lo = rd16(node), hi = rd16(node + 2), nflags = rd16(node + 4), ksize = rd16(node + 6);
		const uint8_t *key = node + NODESIZE;
		if ((uint64_t)off + NODESIZE + ksize > w->psize)
			return LUTDB_CORRUPT_BKPT("%s: %s: page %llu node %u key overruns the page", w->path, name,
						  (unsigned long long)pgno, i);
		/* Keys are in strictly increasing bytewise order; a branch page's
		 * first key is unused by LMDB (implicitly the lowest). */
		if (!(flags == P_BRANCH && i == 0)) {
			if (prev_key) {
				size_t m = prev_len < ksize ? prev_len : ksize;
				int c = memcmp(prev_key, key, m);
				if (c > 0 || (c == 0 && prev_len >= ksize))
					return LUTDB_CORRUPT_BKPT("%s: %s: page %llu keys out of order at node %u",
								  w->path, name, (unsigned long long)pgno, i);
			}
			prev_key = key;
			prev_len = ksize;
		}
		if (flags == P_BRANCH) {
			uint64_t child = lo | ((uint64_t)hi << 16) | ((uint64_t)nflags << 32);
			if ((rc = walk_page(w, child, depth + 1, name, is_main)))
				return rc;
			continue;
		}
		uint64_t dsize = lo | ((uint64_t)hi << 16);
		const uint8_t *data = key + ksize;
		w->entries++;
		if (nflags & ~(F_BIGDATA | F_SUBDATA))
			return LUTDB_CORRUPT_BKPT("%s: %s: page %llu node %u has flags %#x (duplicates are not used)",
						  w->path, name, (unsigned long long)pgno, i, nflags);
		if (nflags & F_BIGDATA) {
			if (nflags & F_SUBDATA || (uint64_t)(data - pg) + 8 > w->psize)
				return LUTDB_CORRUPT_BKPT("%s: %s: page %llu node %u: bad big-value node", w->path,
							  name, (unsigned long long)pgno, i);
			uint64_t opg = rd64(data);
			uint64_t count = (dsize + PAGEHDRSZ + w->psize - 1) / w->psize;
			if ((rc = mark(w, opg, count, name)))
				return rc;
			w->overflow += count;
			continue;
		}
		if ((uint64_t)(data - pg) + dsize > w->psize)
			return LUTDB_CORRUPT_BKPT("%s: %s: page %llu node %u data overruns the page", w->path, name,
						  (unsigned long long)pgno, i);
		if (nflags & F_SUBDATA) {
			char sub[64];
			db_rec d;
			if (!is_main || dsize != MDB_DB_SIZE || ksize == 0 || ksize >= sizeof sub)
				return LUTDB_CORRUPT_BKPT("%s: %s: page %llu node %u: bad sub-database record", w->path,
							  name, (unsigned long long)pgno, i);
			memcpy(sub, key, ksize);
			sub[ksize] = '\0';
			read_db(data, &d);
			walker saved = *w;
			w->leaves = w->branches = w->overflow = w->entries = 0;
			w->leaf_depth = 0;
			rc = walk_db(w, &d, sub, 0);
			saved.seen = w->seen;
			*w = saved;
			if (rc)
				return rc;
		} else if (is_main) {
			return LUTDB_CORRUPT_BKPT("%s: main database holds a plain record", w->path);
		}
	}
	return LUTDB_OK;
}

static int walk_db(walker *w, const db_rec *d, const char *name, int is_main)
{
	int rc;

	if (d->flags != 0)
		return LUTDB_CORRUPT_BKPT("%s: database %s has flags %#x (lutdb uses none)", w->path, name, d->flags);
	if (d->root == P_INVALID_V) {
		if (d->depth || d->entries || d->branch || d->leaf || d->overflow)
			return LUTDB_CORRUPT_BKPT("%s: empty database %s has nonzero counts", w->path, name);
		return LUTDB_OK;
	}
	if (d->depth == 0 || d->depth > MAX_DEPTH)
		return LUTDB_CORRUPT_BKPT("%s: database %s has depth %u", w->path, name, d->depth);
	if ((rc = walk_page(w, d->root, 1, name, is_main)))
		return rc;
	if (w->leaf_depth != d->depth || w->leaves != d->leaf || w->branches != d->branch ||
	    w->overflow != d->overflow || (!is_main && w->entries != d->entries))
		return LUTDB_CORRUPT_BKPT("%s: database %s: page or entry counts disagree with its record", w->path,
					  name);
	return LUTDB_OK;
}

int lutdb_lmdb_validate(const char *path, int fd, uint64_t file_size, uint64_t *main_root)
{
	uint8_t meta[2][160];
	walker w;
	db_rec main_db;
	void *map = MAP_FAILED;
	int pick, rc;

	memset(&w, 0, sizeof w);
	w.path = path;
	if (file_size < 2 * 4096)
		return LUTDB_CORRUPT_BKPT("%s: %llu bytes is too small for a database", path,
					  (unsigned long long)file_size);
	for (int i = 0; i < 2; i++) {
		/* Meta 1 sits one page (of meta 0's size) after meta 0. */
		uint64_t off = i ? w.psize : 0;
		if (pread(fd, meta[i], sizeof meta[i], (off_t)off) != (ssize_t)sizeof meta[i])
			return lutdb_fail(LUTDB_EIO, "%s: cannot read meta page %d", path, i);
		if (!(rd16(meta[i] + PG_FLAGS_OFF) & P_META) || rd32(meta[i] + 16) != MDB_MAGIC_V)
			return lutdb_fail(LUTDB_ECORRUPT, "%s: not an LMDB file (bad meta page %d)", path, i);
		if (rd32(meta[i] + 20) != MDB_DATA_VERSION_V)
			return LUTDB_CORRUPT_BKPT("%s: LMDB data version %u is not supported", path,
						  rd32(meta[i] + 20));
		/* mm_psize = mm_dbs[0].md_pad; lutdb files use 4 KiB pages.  Both
		 * metas: LMDB takes the page size from the one it picks (the
		 * larger txnid), so an unchecked meta 1 could set any size (a
		 * zero divides by zero, a huge one maps past EOF: SIGBUS). */
		uint64_t psize = rd32(meta[i] + META_DBS_OFF);
		if (psize != LUTDB_PAGE_SIZE)
			return LUTDB_CORRUPT_BKPT("%s: page size %llu (meta page %d) is not supported", path,
						  (unsigned long long)psize, i);
		w.psize = psize;
	}
	pick = rd64(meta[0] + META_TXNID_OFF) < rd64(meta[1] + META_TXNID_OFF);
	w.npages = rd64(meta[pick] + META_LASTPG_OFF) + 1;
	if (w.npages < 3 || w.npages > file_size / w.psize)
		return LUTDB_CORRUPT_BKPT("%s: the meta page claims %llu pages but the file holds %llu (truncated?)",
					  path, (unsigned long long)w.npages, (unsigned long long)(file_size / w.psize));
	/* A lutdb file ends at its last page, and both metas' map size is the
	 * file size (FORMAT.md, section 1): bytes past the map are nothing
	 * LMDB reads, so a file carrying them is not one lutdb wrote (junk
	 * appended, or a file hidden behind a database). */
	if (file_size != w.npages * w.psize)
		return LUTDB_CORRUPT_BKPT("%s: %llu bytes follow the last page (page %llu): the file is %llu bytes, "
					  "its LMDB map %llu (trailing bytes)", path,
					  (unsigned long long)(file_size - w.npages * w.psize),
					  (unsigned long long)(w.npages - 1), (unsigned long long)file_size,
					  (unsigned long long)(w.npages * w.psize));
	for (int i = 0; i < 2; i++)
		if (rd64(meta[i] + META_MAPSIZE_OFF) != file_size)
			return LUTDB_CORRUPT_BKPT("%s: meta page %d gives the map size as %llu bytes, the file has %llu",
						  path, i, (unsigned long long)rd64(meta[i] + META_MAPSIZE_OFF),
						  (unsigned long long)file_size);
	read_db(meta[pick] + META_DBS_OFF + MDB_DB_SIZE, &main_db);
	/* The main database holds the three sub-database records: one page. */
	if (main_db.depth != 1 || main_db.root == P_INVALID_V)
		return LUTDB_CORRUPT_BKPT("%s: main database has depth %u (a lutdb file has one page)", path,
					  main_db.depth);
	*main_root = main_db.root;
	w.seen = calloc((size_t)(w.npages + 7) / 8, 1);
	if (!w.seen)
		return lutdb_fail(LUTDB_ENOMEM, "%s: validation bitmap", path);
	map = mmap(NULL, (size_t)(w.npages * w.psize), PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = lutdb_fail(errno == ENOMEM ? LUTDB_ENOMEM : LUTDB_EIO, "%s: cannot map: %s", path, strerror(errno));
		goto out;
	}
	/* Only B-tree pages are read: no readahead of the data around them. */
	madvise(map, (size_t)(w.npages * w.psize), MADV_RANDOM);
	w.map = map;
	rc = walk_db(&w, &main_db, "main", 1);
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)(w.npages * w.psize));
	free(w.seen);
	return rc;
}
