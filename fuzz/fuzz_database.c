/*
 * fuzz_database.c - whole database files, in the spirit of SQLite's
 * dbfuzz2: the input is written to a temporary file, opened with
 * lutdb_open (LMDB structure validation, header/config cross-checks,
 * indexes), then everything a reader can do is done to it: info, blobs,
 * every tensor, rows of the first, last and middle tokens (lazy and forced
 * checksums, every layer view, prefetch), out-of-range reads, lutdb_verify,
 * the stored tokenizer, and a 2-token decode through the engine.
 *
 * Checksums would stop most mutations at the first record, and a hostile
 * file has valid checksums anyway.  So each input runs twice: as given, and
 * (when that changes anything) with every record checksum, every table row
 * checksum and the content digest recomputed, so mutated headers, tensor
 * shapes, table layouts and configs reach the structural checks behind
 * them.  The fix-up walks the LMDB B-trees itself, and only after
 * lutdb_lmdb_validate accepted the file.
 *
 * Contracts: no crash, leak or UB; every failure has a known code; a view
 * returned by the library lies in readable memory of the stated size.
 */
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz_common.h"
#include "lmdb_layout.h"
#include "lutdb.h"
#include "record.h"
#include "lutdb_runtime.h"
#include "lutdb_tokenizer.h"

#define PG 4096u
#define ROW_SCRATCH_CAP (64u << 20)

static char path[256];

static void make_path(void)
{
	if (path[0])
		return;
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof path, "%s/lutdb-fuzz-db.%d", dir, (int)getpid());
}

static void remove_path(void)
{
	if (path[0])
		unlink(path);
}

static int write_file(const uint8_t *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t at = 0;

	if (fd < 0)
		return -1;
	while (at < n) {
		ssize_t w = write(fd, d + at, n - at);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		at += (size_t)w;
	}
	close(fd);
	return 0;
}

/* ---- checksum fix-up ------------------------------------------------------ */

typedef struct value {
	int db; /* 0 meta, 1 table, 2 tensors */
	const uint8_t *key;
	size_t klen;
	uint64_t off, len;
} value;

typedef struct walk {
	uint8_t *buf;
	size_t size;
	value *v;
	size_t n, cap;
	int bad;
} walk;

static int db_index(const uint8_t *name, size_t len)
{
	if (len == 4 && !memcmp(name, "meta", 4))
		return 0;
	if (len == 5 && !memcmp(name, "table", 5))
		return 1;
	if (len == 7 && !memcmp(name, "tensors", 7))
		return 2;
	return -1;
}

/* In-order walk (= key order) of a validated tree; db -1 is the main
 * database, whose sub-database records are followed. */
static void walk_tree(walk *w, uint64_t pgno, int db, unsigned depth)
{
	if (w->bad || depth > 32 || pgno >= w->size / PG) {
		w->bad = 1;
		return;
	}
	const uint8_t *pg = w->buf + pgno * PG;
	uint16_t flags = rd16(pg + PG_FLAGS_OFF), lower = rd16(pg + PG_LOWER_OFF);
	unsigned nkeys = lower >= PAGEHDRSZ ? (lower - PAGEHDRSZ) / 2 : 0;
	for (unsigned i = 0; i < nkeys && !w->bad; i++) {
		uint16_t off = rd16(pg + PAGEHDRSZ + 2 * i);
		if (off > PG - NODESIZE) {
			w->bad = 1;
			return;
		}
		const uint8_t *node = pg + off;
		uint16_t lo = rd16(node), hi = rd16(node + 2), nflags = rd16(node + 4), ksize = rd16(node + 6);
		const uint8_t *key = node + NODESIZE;
		if ((uint64_t)off + NODESIZE + ksize > PG) {
			w->bad = 1;
			return;
		}
		if (flags & P_BRANCH) {
			walk_tree(w, lo | (uint64_t)hi << 16 | (uint64_t)nflags << 32, db, depth + 1);
			continue;
		}
		uint64_t dsize = lo | (uint64_t)hi << 16, voff;
		if (nflags & F_SUBDATA) { /* sub-database record */
			int idx = db_index(key, ksize);
			if (db == -1 && idx >= 0 && (uint64_t)off + NODESIZE + ksize + MDB_DB_SIZE <= PG) {
				uint64_t root = rd64(key + ksize + MDB_DB_SIZE - 8); /* md_root, last field */
				if (root != UINT64_MAX)
					walk_tree(w, root, idx, depth + 1);
			}
			continue;
		}
		if (db < 0)
			continue;
		if (nflags & F_BIGDATA) { /* big value in overflow pages */
			if ((uint64_t)off + NODESIZE + ksize + 8 > PG) {
				w->bad = 1;
				return;
			}
			voff = rd64(key + ksize) * PG + PAGEHDRSZ;
		} else {
			voff = (uint64_t)(key + ksize - w->buf);
		}
		if (voff > w->size || dsize > w->size - voff) {
			w->bad = 1;
			return;
		}
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 256;
			value *nv = realloc(w->v, cap * sizeof *nv);
			FUZZ_CHECK(nv);
			w->v = nv;
			w->cap = cap;
		}
		w->v[w->n++] = (value){db, key, ksize, voff, dsize};
	}
}

static void fix_record(uint8_t *r, uint64_t len)
{
	lutdb_rec rec;
	int kind = 0;

	if (len < LUTDB_REC_PREFIX)
		return;
	if (lutdb_rec_parse(r, (size_t)len, &rec) == LUTDB_OK)
		kind = rec.kind;
	else if (!memcmp(r, LUTDB_MAGIC_TABLE, 4))
		kind = LUTDB_REC_TABLE;
	uint32_t hl = rd32(r + 8);
	if (hl < LUTDB_REC_PREFIX || hl > len)
		return;
	if (kind == LUTDB_REC_TABLE && hl >= LUTDB_TABLE_HEADER_FIXED) {
		uint32_t count = rd32(r + 36), max = lutdb_table_max_tokens(hl);
		for (uint32_t i = 0; i < count && i < max; i++) {
			uint8_t *e = r + LUTDB_TABLE_HEADER_FIXED + (size_t)i * LUTDB_TABLE_ROW_ENTRY;
			uint64_t o = rd32(e + 8), l = rd32(e + 12);
			if (hl + o + l <= len) {
				uint64_t s = lutdb_xxh3(r + hl + o, (size_t)l);
				memcpy(e, &s, 8);
			}
		}
	}
	lutdb_rec_seal(r, hl, (size_t)len, kind ? kind : LUTDB_REC_BLOB);
}

/* Recomputes every checksum and the digest in buf; 1 if anything changed. */
static int fixup(uint8_t *buf, size_t size)
{
	walk w = {buf, size, NULL, 0, 0, 0};
	uint64_t root = 0;
	int fd, rc, changed = 0;

	if (write_file(buf, size) || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	rc = lutdb_lmdb_validate(path, fd, size, &root);
	close(fd);
	if (rc)
		return 0;
	walk_tree(&w, root, -1, 0);
	if (w.bad) {
		free(w.v);
		return 0;
	}
	uint8_t *before = fuzz_dup(buf, size);
	value *digest = NULL;
	for (size_t i = 0; i < w.n; i++) {
		if (w.v[i].db == 0 && w.v[i].klen == 6 && !memcmp(w.v[i].key, "digest", 6)) {
			digest = &w.v[i];
			continue;
		}
		fix_record(buf + w.v[i].off, w.v[i].len);
	}
	if (digest && digest->len == LUTDB_REC_PREFIX + 16) {
		lutdb_digest_state *dg = lutdb_digest_new();
		uint8_t sub[3][16], total[16];
		FUZZ_CHECK(dg);
		for (int db = 0; db < 3; db++) {
			lutdb_digest_reset(dg);
			for (size_t i = 0; i < w.n; i++)
				if (w.v[i].db == db && &w.v[i] != digest)
					lutdb_digest_record(dg, w.v[i].key, w.v[i].klen, buf + w.v[i].off,
							    (size_t)w.v[i].len);
			lutdb_digest_final(dg, sub[db]);
		}
		lutdb_digest_free(dg);
		lutdb_digest_combine(sub[0], sub[1], sub[2], total);
		memcpy(buf + digest->off + LUTDB_REC_PREFIX, total, 16);
		fix_record(buf + digest->off, digest->len);
	}
	changed = memcmp(before, buf, size) != 0;
	free(before);
	free(w.v);
	return changed;
}

/* ---- what a reader does ------------------------------------------------------ */

static int progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	FUZZ_CHECK(done <= total);
	return 0;
}

/* Decodes a row as a reader of values would (get, export, the engine):
 * a hostile scale must be refused, never passed on as NaN or infinity. */
static void decode_row(const lutdb_row *row, uint32_t block)
{
	if (row->nelems > (1u << 20))
		return;
	float *v = malloc((size_t)row->nelems * sizeof *v + 1);
	FUZZ_CHECK(v);
	int rc = lutdb_decode_f32(row->dtype, block, row->data, row->nelems, v);
	FUZZ_CHECK_RC(rc);
	FUZZ_CHECK(rc == LUTDB_OK || (rc == LUTDB_ECORRUPT && lutdb_dtype_is_quantized(row->dtype)));
	if (rc == LUTDB_OK && lutdb_dtype_is_quantized(row->dtype))
		for (uint32_t i = 0; i < row->nelems; i++)
			FUZZ_CHECK(isfinite(v[i]));
	free(v);
}

static void read_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t ssize)
{
	const lutdb_info *in = lutdb_get_info(db);
	lutdb_row row;
	int rc = lutdb_token_row(db, token, flags, scratch, ssize, &row);

	FUZZ_CHECK_RC(rc);
	if (token >= in->token_end || token < in->token_begin)
		FUZZ_CHECK(rc == LUTDB_ERANGE);
	if (rc == LUTDB_OK) {
		FUZZ_CHECK(row.layer_first == in->layer_begin && row.layer_count == in->layer_end - in->layer_begin);
		FUZZ_CHECK(lutdb_dtype_bytes(row.dtype, in->table_block, row.nelems) == in->token_row_bytes);
		fuzz_touch(row.data, (size_t)in->token_row_bytes);
		decode_row(&row, in->table_block);
	}
	for (uint32_t l = in->layer_begin; l < in->layer_end && l < in->layer_begin + 4; l++) {
		rc = lutdb_layer_row(db, l, token, flags, scratch, ssize, &row);
		FUZZ_CHECK_RC(rc);
		if (rc == LUTDB_OK) {
			FUZZ_CHECK(row.nelems == in->layer_row_elems && row.layer_first == l);
			fuzz_touch(row.data, (size_t)lutdb_dtype_bytes(row.dtype, in->table_block, row.nelems));
			decode_row(&row, in->table_block);
		}
	}
	FUZZ_CHECK(lutdb_layer_row(db, in->layers, token, flags, scratch, ssize, &row) == LUTDB_ERANGE);
	lutdb_prefetch_token(db, token);
}

static void decode(lutdb_db *db)
{
	const lutdb_info *in = lutdb_get_info(db);
	lutdb_model_opts mo = {.size = sizeof mo, .threads = 1};
	lutdb_model *m = NULL;
	lutdb_session *s = NULL;
	int rc = lutdb_model_new(db, &mo, &m);

	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(m == NULL);
		return;
	}
	lutdb_session_opts so = {.size = sizeof so, .capacity = in->max_position < 4 ? in->max_position : 4};
	rc = lutdb_session_new(m, &so, &s);
	FUZZ_CHECK_RC(rc);
	if (rc == LUTDB_OK) {
		uint32_t ids[2] = {0, in->vocab - 1}, bad = in->vocab;
		FUZZ_CHECK(lutdb_session_feed(s, &bad, 1, NULL, NULL) == LUTDB_ERANGE);
		rc = lutdb_session_feed(s, ids, so.capacity >= 2 ? 2 : 1, NULL, NULL);
		FUZZ_CHECK_RC(rc);
		if (rc == LUTDB_OK) {
			const float *lg = lutdb_session_logits(s);
			FUZZ_CHECK(lg != NULL);
			uint32_t next = lutdb_argmax(lg, in->vocab);
			FUZZ_CHECK(next < in->vocab);
			if (lutdb_session_position(s) < lutdb_session_capacity(s)) {
				rc = lutdb_session_feed(s, &next, 1, NULL, NULL);
				FUZZ_CHECK_RC(rc);
			}
		}
		lutdb_session_free(s);
	}
	lutdb_model_free(m);
}

static void tokenizer(lutdb_db *db)
{
	const void *json;
	size_t len;
	lutdb_tokenizer *t = NULL;

	if (lutdb_blob_get(db, "tokenizer.json", &json, &len) != LUTDB_OK)
		return;
	if (lutdb_tokenizer_load(json, len, &t) != LUTDB_OK)
		return;
	uint32_t *ids = NULL;
	size_t n = 0;
	if (lutdb_tokenizer_encode(t, "Hello world", 11, 1, &ids, &n) == LUTDB_OK) {
		char *text = NULL;
		size_t tl;
		if (lutdb_tokenizer_decode(t, ids, n, 0, &text, &tl) == LUTDB_OK)
			free(text);
		free(ids);
	}
	lutdb_tokenizer_free(t);
}

static void exercise(const uint8_t *buf, size_t size)
{
	static const char *blobs[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
				      "provenance.json", "lutdb", "digest", "no such blob"};
	lutdb_db *db = (lutdb_db *)1;
	int rc;

	if (write_file(buf, size))
		return;
	rc = lutdb_open(path, 0, &db);
	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(db == NULL);
		return;
	}
	const lutdb_info *in = lutdb_get_info(db);
	FUZZ_CHECK(in->token_begin < in->token_end && in->token_end <= in->vocab);
	FUZZ_CHECK(in->layer_begin < in->layer_end && in->layer_end <= in->layers);
	FUZZ_CHECK(in->file_bytes == size);
	for (size_t i = 0; i < sizeof blobs / sizeof *blobs; i++) {
		const void *p;
		size_t len;
		rc = lutdb_blob_get(db, blobs[i], &p, &len);
		FUZZ_CHECK_RC(rc);
		if (rc == LUTDB_OK)
			fuzz_touch(p, len);
	}
	size_t nt = lutdb_tensor_count(db);
	for (size_t i = 0; i <= nt; i++) {
		lutdb_tensor t, t2;
		rc = lutdb_tensor_at(db, i, &t);
		FUZZ_CHECK_RC(rc);
		if (i == nt)
			FUZZ_CHECK(rc == LUTDB_ERANGE);
		if (rc)
			continue;
		uint64_t n = 1;
		for (uint32_t k = 0; k < t.ndim; k++)
			n *= t.shape[k];
		FUZZ_CHECK(lutdb_dtype_bytes(t.dtype, 32, n) == t.nbytes && t.ndim >= 1 && t.ndim <= LUTDB_MAX_DIMS);
		FUZZ_CHECK(!lutdb_dtype_is_quantized(t.dtype) || in->format_minor >= 1);
		fuzz_touch(t.data, (size_t)t.nbytes);
		FUZZ_CHECK(lutdb_tensor_get(db, t.name, &t2) == LUTDB_OK && t2.data == t.data);
	}
	void *scratch = NULL;
	size_t ssize = 0;
	if (in->table_codec != LUTDB_CODEC_NONE && in->token_row_bytes <= ROW_SCRATCH_CAP) {
		ssize = (size_t)in->token_row_bytes;
		scratch = malloc(ssize ? ssize : 1);
		FUZZ_CHECK(scratch);
	}
	if (in->table_codec == LUTDB_CODEC_NONE || scratch) {
		uint32_t toks[4] = {in->token_begin, in->token_end - 1, in->token_begin + (in->token_end - in->token_begin) / 2,
				    in->vocab};
		for (int i = 0; i < 4; i++) {
			read_row(db, toks[i], 0, scratch, ssize);
			read_row(db, toks[i], LUTDB_READ_VERIFY, scratch, ssize);
		}
		FUZZ_CHECK(lutdb_token_row(db, UINT32_MAX, 0, scratch, ssize, &(lutdb_row){0}) == LUTDB_ERANGE);
		rc = lutdb_verify(db, progress, NULL);
		FUZZ_CHECK_RC(rc);
	}
	free(scratch);
	tokenizer(db);
	if (in->table_codec == LUTDB_CODEC_NONE || in->token_row_bytes <= ROW_SCRATCH_CAP)
		decode(db);
	lutdb_close(db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	make_path();
	atexit(remove_path);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	make_path();
	uint8_t *buf = fuzz_dup(data, size);
	exercise(buf, size);
	if (fixup(buf, size))
		exercise(buf, size);
	free(buf);
	return 0;
}
