/* test_store.c - the store library: writer, reader, verify, damage. */
#include <dlfcn.h>
#include <fcntl.h>
#include <lmdb.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "lutdb.h"
#include "lutdb_types.h"
#include "record.h"
#include "schema.h"
#include "testutil.h"

/* A small MoLE geometry with awkward sizes (rows not a multiple of 64). */
#define V 37
#define D 8
#define L 3
#define NE 2
#define IM 4
#define BT 4

static const char config_json[] =
	"{\"vocab_size\": 37, \"hidden_size\": 8, \"intermediate_size\": 4, \"num_hidden_layers\": 3,"
	" \"num_attention_heads\": 2, \"num_experts\": 2, \"max_position_embeddings\": 16,"
	" \"architectures\": [\"MoleForCausalLM\"], \"model_type\": \"llama\"}";

static float row_value(uint32_t t, uint32_t i)
{
	return (float)((int)(t * 131 + i * 7) % 97 - 48) / 16.0f;
}

/* The test model's writer parameters. */
static lutdb_writer_params model_params(int dtype, int codec)
{
	lutdb_writer_params p = {
		.size = sizeof p, .family = LUTDB_FAMILY_MOLE, .source_form = LUTDB_FORM_REP, .vocab = V, .hidden = D,
		.layers = L, .experts = NE, .intermediate = IM, .heads = 2, .kv_heads = 2, .table_dtype = dtype,
		.table_codec = codec, .block_tokens = BT};
	return p;
}

/* Opens a writer for the test model at path (shards: NULL for one file). */
static lutdb_writer *open_writer_to(const char *path, int dtype, int codec, const lutdb_shard_opts *shards,
				    int overwrite)
{
	lutdb_writer_params p = model_params(dtype, codec);
	lutdb_writer *w;
	int rc = lutdb_writer_open(path, &p, shards, overwrite, &w);

	ck_assert_msg(rc == LUTDB_OK, "writer: %s", lutdb_errdetail());
	return w;
}

static lutdb_writer *open_writer(const char *path, int dtype, int codec, int overwrite)
{
	return open_writer_to(path, dtype, codec, NULL, overwrite);
}

/* Stores the test model's blobs, tensors and rows; returns token row bytes. */
static size_t fill_db(lutdb_writer *w, int dtype)
{
	lutdb_config cfg;
	lutdb_schema_ent *s;
	size_t ns, elems = (size_t)L * NE * D, esz = lutdb_dtype_size(dtype);
	float *f = malloc(elems * sizeof *f);
	uint8_t *rows = malloc(elems * esz);

	ck_assert_int_eq(lutdb_writer_put_blob(w, "config.json", config_json, strlen(config_json)), LUTDB_OK);
	ck_assert_int_eq(lutdb_config_parse(config_json, strlen(config_json), "t", &cfg), LUTDB_OK);
	ck_assert_int_eq(lutdb_schema_build(&cfg, LUTDB_FAMILY_MOLE, LUTDB_SCHEMA_STORED, &s, &ns), LUTDB_OK);
	for (size_t k = 0; k < ns; k++) {
		void *dst;
		uint64_t n = s[k].dims[0] * (s[k].ndim == 2 ? s[k].dims[1] : 1);
		ck_assert_int_eq(lutdb_writer_tensor_begin(w, s[k].name, LUTDB_DTYPE_F32, s[k].ndim, s[k].dims, &dst), 0);
		for (uint64_t i = 0; i < n; i++) { /* inline values sit at any byte address */
			float v = (float)(k + i);
			memcpy((uint8_t *)dst + i * sizeof v, &v, sizeof v);
		}
		ck_assert_int_eq(lutdb_writer_tensor_end(w), LUTDB_OK);
	}
	free(s);
	for (uint32_t t = 0; t < V; t++) {
		for (size_t i = 0; i < elems; i++)
			f[i] = row_value(t, (uint32_t)i);
		lutdb_convert(dtype, rows, LUTDB_DTYPE_F32, f, elems);
		ck_assert_int_eq(lutdb_writer_put_rows(w, t, 1, rows, 0), LUTDB_OK);
	}
	free(f);
	free(rows);
	return elems * esz;
}

/* Writes a database at path with table dtype/codec; returns token row bytes. */
static size_t make_db(const char *path, int dtype, int codec)
{
	lutdb_writer *w = open_writer(path, dtype, codec, 1);
	size_t n = fill_db(w, dtype);
	ck_assert_int_eq(lutdb_writer_commit(w), LUTDB_OK);
	return n;
}

static void open_ok(const char *p, unsigned flags, lutdb_db **db)
{
	int rc = lutdb_open(p, flags, db);
	ck_assert_msg(rc == LUTDB_OK, "open %s: %s (%s)", p, lutdb_errdetail(), lutdb_strerror(rc));
}

static char *dir;
static char path[4096];

static void setup(void)
{
	dir = scratch_dir();
	snprintf(path, sizeof path, "%s/t.lutdb", dir);
}

static void teardown(void)
{
	rm_rf(dir);
	free(dir);
}

static void check_rows(lutdb_db *db, int dtype)
{
	const lutdb_info *in = lutdb_get_info(db);
	size_t elems = (size_t)L * NE * D;
	float got[L * NE * D];
	void *scratch = malloc(in->token_row_bytes);

	for (uint32_t t = 0; t < V; t++) {
		lutdb_row r;
		ck_assert_int_eq(lutdb_token_row(db, t, 0, scratch, in->token_row_bytes, &r), LUTDB_OK);
		ck_assert_int_eq(r.nelems, elems);
		if (in->rows_in_place)
			ck_assert_uint_eq((uintptr_t)r.data % 64, 0);
		lutdb_convert(LUTDB_DTYPE_F32, got, dtype, r.data, elems);
		for (size_t i = 0; i < elems; i++)
			ck_assert_float_eq(got[i], row_value(t, (uint32_t)i));
		for (uint32_t l = 0; l < L; l++) {
			ck_assert_int_eq(lutdb_layer_row(db, l, t, 0, scratch, in->token_row_bytes, &r), LUTDB_OK);
			lutdb_convert(LUTDB_DTYPE_F32, got, dtype, r.data, (size_t)NE * D);
			ck_assert_float_eq(got[0], row_value(t, l * NE * D));
		}
	}
	free(scratch);
}

START_TEST(roundtrip_all_codecs)
{
	static const int dts[] = {LUTDB_DTYPE_F32, LUTDB_DTYPE_F16, LUTDB_DTYPE_BF16};
	for (int codec = 0; codec <= 2; codec++)
		for (int k = 0; k < 3; k++) {
			lutdb_db *db;
			make_db(path, dts[k], codec);
			open_ok(path, 0, &db);
			const lutdb_info *in = lutdb_get_info(db);
			ck_assert_int_eq(in->vocab, V);
			ck_assert_int_eq(in->table_codec, codec);
			ck_assert_int_eq(in->table_records, (V + BT - 1) / BT);
			check_rows(db, dts[k]);
			ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_OK);
			lutdb_close(db);
		}
}
END_TEST

START_TEST(tensors_and_blobs)
{
	lutdb_db *db;
	lutdb_tensor t;
	const void *data;
	size_t len;

	make_db(path, LUTDB_DTYPE_F16, 0);
	open_ok(path, 0, &db);
	ck_assert_int_eq(lutdb_tensor_get(db, "model.norm.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.ndim, 1);
	ck_assert_int_eq(t.shape[0], D);
	ck_assert_int_eq(t.dtype, LUTDB_DTYPE_F32);
	ck_assert_int_eq(t.nbytes, D * 4);
	ck_assert_int_eq(lutdb_tensor_get(db, "model.embed_tokens.weight", &t), LUTDB_OK);
	ck_assert_int_eq(t.shape[0], V);
	ck_assert_int_eq(t.shape[1], D);
	ck_assert_int_eq(lutdb_tensor_get(db, "no.such.tensor", &t), LUTDB_ENOENT);
	ck_assert_int_eq(lutdb_blob_get(db, "config.json", &data, &len), LUTDB_OK);
	ck_assert_int_eq(len, strlen(config_json));
	ck_assert_int_eq(memcmp(data, config_json, len), 0);
	ck_assert_int_eq(lutdb_blob_get(db, "tokenizer.json", &data, &len), LUTDB_ENOENT);
	lutdb_row r;
	ck_assert_int_eq(lutdb_token_row(db, V, 0, NULL, 0, &r), LUTDB_ERANGE);
	ck_assert_int_eq(lutdb_layer_row(db, L, 0, 0, NULL, 0, &r), LUTDB_ERANGE);
	lutdb_close(db);
}
END_TEST

/* The file holds every record once: no free pages, map size = file size,
 * and opening for reading writes no lock file. */
START_TEST(compact_and_lockless)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_stat st;
	MDB_envinfo ei;
	struct stat fs;
	char lock[4200];

	make_db(path, LUTDB_DTYPE_F16, 0);
	ck_assert_int_eq(stat(path, &fs), 0);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR, 0), 0);
	mdb_env_info(env, &ei);
	ck_assert_uint_eq(ei.me_mapsize, (uint64_t)fs.st_size);
	ck_assert_uint_eq((ei.me_last_pgno + 1) * 4096, (uint64_t)fs.st_size);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_stat(txn, 0, &st), 0); /* FREE_DBI */
	ck_assert_uint_eq(st.ms_entries, 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	snprintf(lock, sizeof lock, "%s-lock", path);
	lutdb_db *db;
	open_ok(path, 0, &db);
	lutdb_close(db);
	ck_assert(!file_exists(lock));
}
END_TEST

/* Offset of token t's row in the file (codec none). */
static off_t row_offset(const char *p, uint32_t t)
{
	lutdb_db *db;
	lutdb_row r;
	open_ok(p, LUTDB_OPEN_NOVERIFY, &db);
	ck_assert_int_eq(lutdb_token_row(db, t, 0, NULL, 0, &r), LUTDB_OK);
	lutdb_tensor t0;
	ck_assert_int_eq(lutdb_tensor_at(db, 0, &t0), LUTDB_OK);
	/* map base = any tensor pointer minus its offset: find via /proc maps is
	 * overkill; the reader exposes data pointers relative to the map, so scan
	 * the file for the row bytes instead. */
	size_t len = lutdb_get_info(db)->token_row_bytes;
	void *copy = malloc(len);
	memcpy(copy, r.data, len);
	lutdb_close(db);
	size_t flen;
	uint8_t *all = read_all(p, &flen);
	off_t found = -1;
	for (size_t i = 0; i + len <= flen; i += 64)
		if (!memcmp(all + i, copy, len)) {
			found = (off_t)i;
			break;
		}
	free(all);
	free(copy);
	ck_assert_int_ge(found, 0);
	return found;
}

static void flip(const char *p, off_t off)
{
	int fd = open(p, O_RDWR);
	uint8_t b;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

START_TEST(flipped_row_byte_is_found)
{
	lutdb_db *db;
	lutdb_row r;
	const uint32_t tok = 22;

	make_db(path, LUTDB_DTYPE_F16, 0);
	flip(path, row_offset(path, tok) + 5);
	open_ok(path, 0, &db);
	/* Other rows read fine; the damaged one fails its checked first read. */
	ck_assert_int_eq(lutdb_token_row(db, tok - 1, 0, NULL, 0, &r), LUTDB_OK);
	ck_assert_int_eq(lutdb_token_row(db, tok, 0, NULL, 0, &r), LUTDB_ECHECKSUM);
	ck_assert_ptr_nonnull(strstr(lutdb_errdetail(), "token 22"));
	ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_ECHECKSUM);
	ck_assert_ptr_nonnull(strstr(lutdb_errdetail(), "(layer 0, token 22)"));
	lutdb_close(db);
}
END_TEST

START_TEST(truncated_file_is_corrupt)
{
	struct stat st;
	lutdb_db *db;

	make_db(path, LUTDB_DTYPE_F16, 0);
	ck_assert_int_eq(stat(path, &st), 0);
	for (off_t cut = st.st_size - 4096; cut > 0; cut -= 4096 * 3) {
		ck_assert_int_eq(truncate(path, cut), 0);
		ck_assert_int_eq(lutdb_open(path, 0, &db), LUTDB_ECORRUPT);
		ck_assert_ptr_null(db);
	}
}
END_TEST

/* Random damage anywhere in a small file never crashes open/verify/reads. */
START_TEST(random_damage_never_crashes)
{
	size_t len;
	make_db(path, LUTDB_DTYPE_BF16, 1);
	uint8_t *orig = read_all(path, &len);
	srand(1234);
	for (int iter = 0; iter < 300; iter++) {
		uint8_t *m = malloc(len);
		memcpy(m, orig, len);
		int nflip = 1 + rand() % 4;
		for (int k = 0; k < nflip; k++) {
			size_t at = (size_t)rand() % len;
			/* Bias toward the B-tree pages and headers at the start. */
			if (rand() % 2)
				at %= 4 * 4096;
			m[at] = (uint8_t)rand();
		}
		write_all(path, m, len);
		free(m);
		lutdb_db *db = NULL;
		if (lutdb_open(path, 0, &db) == LUTDB_OK) {
			lutdb_verify(db, NULL, NULL);
			void *scratch = malloc(lutdb_get_info(db)->token_row_bytes);
			for (uint32_t t = 0; t < V; t++) {
				lutdb_row r;
				lutdb_token_row(db, t, 0, scratch, lutdb_get_info(db)->token_row_bytes, &r);
			}
			free(scratch);
			lutdb_close(db);
		}
	}
	free(orig);
}
END_TEST

/* A few KB file whose (checksummed, self-consistent) header and config
 * claim 16M tokens in one-token records, while the table holds none. */
#define LIAR_VOCAB 16000000u
static void put_meta(MDB_txn *txn, MDB_dbi dbi, const char *name, int kind, const void *payload, size_t len)
{
	uint8_t rec[4096];
	MDB_val k = {strlen(name), (void *)(uintptr_t)name}, v = {LUTDB_REC_PREFIX + len, rec};

	ck_assert_uint_le(LUTDB_REC_PREFIX + len, sizeof rec);
	lutdb_rec_write_prefix(rec, kind, 0, 0, LUTDB_REC_PREFIX, len);
	memcpy(rec + LUTDB_REC_PREFIX, payload, len);
	lutdb_rec_seal(rec, LUTDB_REC_PREFIX, LUTDB_REC_PREFIX + len, kind);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void make_lying_header(const char *p)
{
	static const char cfg[] = "{\"vocab_size\": 16000000, \"hidden_size\": 8, \"intermediate_size\": 4,"
				  " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_experts\": 1}";
	lutdb_file_hdr h = {.major = 1, .page_size = 4096, .family = LUTDB_FAMILY_MOLE, .source_form = LUTDB_FORM_REP,
			    .table_dtype = LUTDB_DTYPE_F16, .vocab = LIAR_VOCAB, .hidden = 8, .layers = 1, .experts = 1,
			    .intermediate = 4, .heads = 2, .kv_heads = 2, .block_tokens = 1, .layer_row_elems = 8,
			    .shard_count = 1, .token_end = LIAR_VOCAB, .layer_end = 1, .table_records = LIAR_VOCAB};
	uint8_t hdr[LUTDB_HEADER_PAYLOAD], digest[16] = {0};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, table, tensors;

	ck_assert_int_eq(lutdb_file_hdr_parse((lutdb_file_hdr_write(hdr, &h), hdr), sizeof hdr, NULL), LUTDB_OK);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
	ck_assert_int_eq(mdb_env_open(env, p, MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, LUTDB_DB_META, MDB_CREATE, &meta), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, LUTDB_DB_TABLE, MDB_CREATE, &table), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, LUTDB_DB_TENSORS, MDB_CREATE, &tensors), 0);
	put_meta(txn, meta, LUTDB_META_HEADER, LUTDB_REC_HEADER, hdr, sizeof hdr);
	put_meta(txn, meta, LUTDB_META_CONFIG, LUTDB_REC_BLOB, cfg, sizeof cfg - 1);
	put_meta(txn, meta, LUTDB_META_DIGEST, LUTDB_REC_BLOB, digest, sizeof digest);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	/* As lutdb's writer does: both meta pages give the file size as the
	 * map size (FORMAT.md, section 1), or the file is refused for that
	 * before its header is looked at. */
	struct stat st;
	int fd = open(p, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	uint64_t ms = (uint64_t)st.st_size;
	ck_assert_int_eq(pwrite(fd, &ms, 8, 32), 8);
	ck_assert_int_eq(pwrite(fd, &ms, 8, 4096 + 32), 8);
	close(fd);
}

/* Bounds this process's address space to 64 MB more than it maps now.
 * AddressSanitizer reserves terabytes of shadow and valgrind its own map,
 * so there the bound is reported as skipped. */
static void bound_address_space(void)
{
#if defined(__SANITIZE_ADDRESS__)
	fprintf(stderr, "SKIPPED: the 64 MB address-space bound (AddressSanitizer build)\n");
#else
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (getenv("LUTDB_VALGRIND")) {
		fprintf(stderr, "SKIPPED: the 64 MB address-space bound (under valgrind)\n");
		if (f)
			fclose(f);
		return;
	}
	if (!f || fscanf(f, "%lu", &pages) != 1)
		_exit(100);
	fclose(f);
	rlim_t vm = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
	struct rlimit rl = {vm, vm};
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		_exit(100);
#endif
}

/* The header is checked against the table before the index is sized from
 * it: the open fails as damaged, within 64 MB of address space (the old
 * reader allocated ~400 MB for this file before it looked at the table). */
START_TEST(lying_header_is_refused_before_allocating)
{
	struct stat st;
	int status;

	make_lying_header(path);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_lt(st.st_size, 64 << 10);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		lutdb_db *db = NULL;
		bound_address_space();
		int rc = lutdb_open(path, 0, &db);
		/* Refused by the check this is about, not an earlier one. */
		int ok = rc == LUTDB_ECORRUPT && !db && strstr(lutdb_errdetail(), "header says");
		if (ok)
			fprintf(stderr, "refused: %s\n", lutdb_errdetail());
		else
			fprintf(stderr, "open gave %s: %s\n", lutdb_strerror(rc), lutdb_errdetail());
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "open of the lying file: status 0x%x", status);
}
END_TEST

START_TEST(writer_abort_and_no_overwrite)
{
	lutdb_writer_params p = {.size = sizeof p, .family = LUTDB_FAMILY_MOLE, .source_form = LUTDB_FORM_REP,
				 .vocab = V, .hidden = D, .layers = L, .experts = NE, .intermediate = IM, .heads = 2,
				 .kv_heads = 2, .table_dtype = LUTDB_DTYPE_F16};
	lutdb_writer *w;
	char cmd[4300];

	ck_assert_int_eq(lutdb_writer_open(path, &p, NULL, 0, &w), LUTDB_OK);
	ck_assert_int_eq(lutdb_writer_put_blob(w, "config.json", "{}", 2), LUTDB_OK);
	/* Committing with the table incomplete fails and leaves nothing. */
	ck_assert_int_eq(lutdb_writer_commit(w), LUTDB_EINVAL);
	ck_assert(!file_exists(path));
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
	ck_assert_int_eq(system(cmd), 0);
	make_db(path, LUTDB_DTYPE_F16, 0);
	ck_assert_int_eq(lutdb_writer_open(path, &p, NULL, 0, &w), LUTDB_EEXIST);
	ck_assert_int_eq(lutdb_writer_open(path, &p, NULL, 1, &w), LUTDB_OK);
	lutdb_writer_abort(w);
	lutdb_writer_abort(NULL);
	ck_assert_int_eq(system(cmd), 256); /* only t.lutdb is left */
}
END_TEST

/* This program's renameat2() stands in for the C library's (the library is
 * linked statically, so its calls land here) and can play a file system
 * without RENAME_NOREPLACE. */
static int no_renameat2, renameat2_calls;
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	renameat2_calls++;
	if (no_renameat2) {
		errno = EINVAL;
		return -1;
	}
	int (*real)(int, const char *, int, const char *, unsigned) =
		(int (*)(int, const char *, int, const char *, unsigned))dlsym(RTLD_NEXT, "renameat2");
	ck_assert_ptr_nonnull(real);
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

/* Without overwrite, an OUT that appears while the writer works is never
 * replaced: the commit's rename refuses it (no check-then-rename window),
 * with RENAME_NOREPLACE or, without it, with link + unlink. */
START_TEST(no_overwrite_holds_at_commit)
{
	char cmd[4300];
	size_t len;

	snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s')\" = t.lutdb", dir);
	for (no_renameat2 = 0; no_renameat2 < 2; no_renameat2++) {
		lutdb_writer *w = open_writer(path, LUTDB_DTYPE_F16, 0, 0);
		fill_db(w, LUTDB_DTYPE_F16);
		write_all(path, "precious", 8);
		renameat2_calls = 0;
		ck_assert_int_eq(lutdb_writer_commit(w), LUTDB_EEXIST);
		ck_assert_int_eq(renameat2_calls, 1);
		char *got = read_all(path, &len);
		ck_assert_int_eq(len, 8);
		ck_assert_str_eq(got, "precious");
		free(got);
		ck_assert_msg(system(cmd) == 0, "the temporary file was left behind");
		/* Nothing in the way: the file is published, the temporary gone. */
		ck_assert_int_eq(unlink(path), 0);
		w = open_writer(path, LUTDB_DTYPE_F16, 0, 0);
		fill_db(w, LUTDB_DTYPE_F16);
		ck_assert_int_eq(lutdb_writer_commit(w), LUTDB_OK);
		ck_assert_msg(system(cmd) == 0, "the temporary file was left behind");
		lutdb_db *db;
		open_ok(path, 0, &db);
		ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_OK);
		lutdb_close(db);
		ck_assert_int_eq(unlink(path), 0);
	}
	no_renameat2 = 0;
}
END_TEST

/* This program's umask() counts the library's calls (it forwards them). */
static int umask_calls;
mode_t umask(mode_t mask)
{
	umask_calls++;
	mode_t (*real)(mode_t) = (mode_t(*)(mode_t))dlsym(RTLD_NEXT, "umask");
	ck_assert_ptr_nonnull(real);
	return real(mask);
}

/* The published file has mode 0666 less the umask, and the library never
 * calls umask() to learn it (a process-wide change that races with every
 * other thread creating files). */
START_TEST(published_mode_follows_umask_untouched)
{
	struct stat st;
	umask(027);
	umask_calls = 0;
	make_db(path, LUTDB_DTYPE_F16, 0);
	ck_assert_int_eq(umask_calls, 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	umask(022);
}
END_TEST

/* The public writer writes a model straight into shards: config.json in
 * every shard, tensors and other blobs in the first, rows where the split
 * puts them; the set reads as the single file does. */
START_TEST(writer_writes_shards)
{
	static const lutdb_shard_opts splits[] = {
		{.size = sizeof(lutdb_shard_opts), .count = 3},
		{.size = sizeof(lutdb_shard_opts), .count = 2, .by_layer = 1},
	};
	char out[4200], man[4300], shard[4400];

	for (size_t k = 0; k < sizeof splits / sizeof *splits; k++) {
		lutdb_db *db, *s;
		const void *data;
		size_t len;
		snprintf(out, sizeof out, "%s/set%zu", dir, k);
		lutdb_writer *w = open_writer_to(out, LUTDB_DTYPE_F16, 0, &splits[k], 0);
		ck_assert_ptr_nonnull(strstr(lutdb_writer_tmp_path(w), ".tmp."));
		fill_db(w, LUTDB_DTYPE_F16);
		ck_assert_int_eq(lutdb_writer_commit(w), LUTDB_OK);
		snprintf(man, sizeof man, "%s/manifest.json", out);
		open_ok(man, 0, &db);
		ck_assert_int_eq(lutdb_get_info(db)->shard_count, splits[k].count);
		ck_assert_int_eq(lutdb_verify(db, NULL, NULL), LUTDB_OK);
		check_rows(db, LUTDB_DTYPE_F16);
		lutdb_close(db);
		snprintf(shard, sizeof shard, "%s/model-00002-of-%05u.lutdb", out, splits[k].count);
		open_ok(shard, 0, &s);
		ck_assert_int_eq(lutdb_blob_get(s, "config.json", &data, &len), LUTDB_OK);
		ck_assert_int_eq(lutdb_tensor_count(s), 0);
		ck_assert_int_eq(lutdb_verify(s, NULL, NULL), LUTDB_OK);
		lutdb_close(s);
	}
}
END_TEST

/* Option structs carry their size: too small is LUTDB_EINVAL, a newer
 * caller's unknown fields LUTDB_EUNSUPPORTED unless zero. */
START_TEST(writer_option_structs_are_sized)
{
	struct {
		lutdb_writer_params p;
		uint64_t newer;
	} big;
	lutdb_shard_opts so = {.size = 0, .count = 2};
	lutdb_writer *w = (lutdb_writer *)&so;

	big.p = model_params(LUTDB_DTYPE_F16, 0);
	big.p.size = 0;
	ck_assert_int_eq(lutdb_writer_open(path, &big.p, NULL, 1, &w), LUTDB_EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(lutdb_writer_open(path, NULL, NULL, 1, &w), LUTDB_EINVAL);
	big.p.size = sizeof big;
	big.newer = 7;
	ck_assert_int_eq(lutdb_writer_open(path, &big.p, NULL, 1, &w), LUTDB_EUNSUPPORTED);
	big.newer = 0;
	big.p.size = sizeof big.p;
	ck_assert_int_eq(lutdb_writer_open(path, &big.p, &so, 1, &w), LUTDB_EINVAL);
	so.size = sizeof so;
	so.max_size = 1u << 20;
	ck_assert_int_eq(lutdb_writer_open(path, &big.p, &so, 1, &w), LUTDB_EINVAL);
	ck_assert_ptr_nonnull(strstr(lutdb_errdetail(), "exactly one of count and max_size"));
	big.p.size = sizeof big;
	ck_assert_int_eq(lutdb_writer_open(path, &big.p, NULL, 1, &w), LUTDB_OK);
	lutdb_writer_abort(w);
	ck_assert(!file_exists(path));
}
END_TEST

START_TEST(writer_rejects_bad_params)
{
	lutdb_writer_params p = {.size = sizeof p, .family = LUTDB_FAMILY_MOLKV, .source_form = LUTDB_FORM_REP,
				 .vocab = V, .hidden = D, .layers = L, .experts = NE, .intermediate = IM, .heads = 2,
				 .kv_heads = 2, .kv_dim = 6, .kv_expert_heads = 4, .table_dtype = LUTDB_DTYPE_F16};
	lutdb_writer *w = (lutdb_writer *)&p;

	/* H = 4 does not divide dk = 6. */
	ck_assert_int_eq(lutdb_writer_open(path, &p, NULL, 1, &w), LUTDB_EINVAL);
	ck_assert_ptr_null(w);
	ck_assert(!file_exists(path));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, roundtrip_all_codecs);
	tcase_add_test(tc, tensors_and_blobs);
	tcase_add_test(tc, compact_and_lockless);
	tcase_add_test(tc, flipped_row_byte_is_found);
	tcase_add_test(tc, truncated_file_is_corrupt);
	tcase_add_test(tc, random_damage_never_crashes);
	tcase_add_test(tc, writer_abort_and_no_overwrite);
	tcase_add_test(tc, writer_rejects_bad_params);
	tcase_add_test(tc, lying_header_is_refused_before_allocating);
	tcase_add_test(tc, no_overwrite_holds_at_commit);
	tcase_add_test(tc, published_mode_follows_umask_untouched);
	tcase_add_test(tc, writer_writes_shards);
	tcase_add_test(tc, writer_option_structs_are_sized);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
