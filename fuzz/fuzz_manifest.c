/*
 * fuzz_manifest.c - shard manifests (manifest.json): lutdb_manifest_parse
 * and lutdb_manifest_dump, then lutdb_open of the manifest next to real
 * shard files, and reads, verify and a 2-token decode through the set.
 *
 * At start-up the harness writes a tiny deterministic model with the writer
 * API (fixed pack id, so the seeds stay valid) and splits it with
 * lutdb_shard into 3 token shards and 2 layer shards, all in one private
 * directory together with the unsplit file.  Each input is then written
 * there as manifest.json and opened.  FUZZ_MANIFEST_SEEDS=DIR writes the
 * two real manifests into DIR as seeds (fuzz/mkseeds.py does).
 *
 * Contracts: a parsed manifest holds plain file names and ranges that tile
 * the split axis in order and cover the other one; dump then parse gives
 * the same manifest; an opened set describes the whole model; failures have
 * known codes; no crash, leak, UB or unbounded recursion.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"
#include "lutdb.h"
#include "numeric.h"
#include "lutdb_runtime.h"
#include "manifest.h"
#include "schema.h"

static char dir[256], setdir[320], mpath[360];

static const char config[] =
	"{\"vocab_size\": 40, \"hidden_size\": 8, \"intermediate_size\": 8, \"num_hidden_layers\": 3, "
	"\"num_attention_heads\": 2, \"num_key_value_heads\": 2, \"max_position_embeddings\": 8, "
	"\"num_experts\": 2, \"bos_token_id\": 0, \"eos_token_id\": 1}";

static void fatal(const char *what, int rc)
{
	fprintf(stderr, "fuzz_manifest setup: %s: %s (%s)\n", what, lutdb_errdetail(), lutdb_strerror(rc));
	abort();
}

static void fill(void *dst, size_t n, uint32_t seed)
{
	/* Small tensors sit inline in LMDB leaf pages at any byte address. */
	uint8_t *b = dst;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		uint16_t h = lutdb_f32_to_f16((float)((int)(seed >> 16) % 200 - 100) / 1000.0f);
		memcpy(b + 2 * i, &h, 2);
	}
}

static void make_model(const char *out)
{
	lutdb_config c;
	lutdb_schema_ent *s;
	size_t n;
	lutdb_writer *w;
	int rc;

	if ((rc = lutdb_config_parse(config, sizeof config - 1, "config", &c)) ||
	    (rc = lutdb_schema_build(&c, LUTDB_FAMILY_MOLE, LUTDB_SCHEMA_STORED, &s, &n)))
		fatal("config", rc);
	lutdb_writer_params p = {.size = sizeof p, .family = 1, .source_form = 2, .vocab = 40, .hidden = 8,
				 .layers = 3, .experts = 2, .intermediate = 8, .heads = 2, .kv_heads = 2,
				 .table_dtype = LUTDB_DTYPE_F16, .block_tokens = 4};
	for (int i = 0; i < 16; i++)
		p.pack_id[i] = (uint8_t)(0xA0 + i);
	if ((rc = lutdb_writer_open(out, &p, NULL, 1, &w)) ||
	    (rc = lutdb_writer_put_blob(w, "config.json", config, sizeof config - 1)))
		fatal("writer", rc);
	for (size_t i = 0; i < n; i++) {
		void *dst;
		if ((rc = lutdb_writer_tensor_begin(w, s[i].name, LUTDB_DTYPE_F16, s[i].ndim, s[i].dims, &dst)))
			fatal("tensor", rc);
		fill(dst, s[i].dims[0] * (s[i].ndim == 2 ? s[i].dims[1] : 1), (uint32_t)i);
		if ((rc = lutdb_writer_tensor_end(w)))
			fatal("tensor", rc);
	}
	uint16_t rows[40 * 3 * 2 * 8];
	fill(rows, sizeof rows / 2, 7);
	if ((rc = lutdb_writer_put_rows(w, 0, 40, rows, 3 * 2 * 8 * 2)) || (rc = lutdb_writer_commit(w)))
		fatal("rows", rc);
	free(s);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long n;
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) || !(b = malloc((size_t)n + 1)) ||
	    fread(b, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Moves every file of sub into setdir; returns its manifest text. */
static char *collect(const char *sub, size_t *len)
{
	char from[600], to[700], *m;
	DIR *d = opendir(sub);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "manifest.json"))
			continue;
		snprintf(from, sizeof from, "%s/%s", sub, e->d_name);
		snprintf(to, sizeof to, "%s/%s", setdir, e->d_name);
		if (rename(from, to))
			abort();
	}
	closedir(d);
	snprintf(from, sizeof from, "%s/manifest.json", sub);
	m = slurp(from, len);
	unlink(from);
	rmdir(sub);
	return m;
}

static void cleanup(void)
{
	char p[700];
	DIR *d;
	struct dirent *e;

	if (!setdir[0] || !(d = opendir(setdir)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/%s", setdir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(setdir);
	rmdir(dir);
}

static void setup(void)
{
	char src[400], tok[400], lay[400];
	lutdb_db *db;
	int rc;

	if (dir[0])
		return;
	snprintf(dir, sizeof dir, "%s/lutdb-fuzz-manifest.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(setdir, sizeof setdir, "%s/set", dir);
	snprintf(mpath, sizeof mpath, "%s/manifest.json", setdir);
	mkdir(setdir, 0700);
	atexit(cleanup);
	snprintf(src, sizeof src, "%s/model.lutdb", setdir);
	snprintf(tok, sizeof tok, "%s/tok", dir);
	snprintf(lay, sizeof lay, "%s/lay", dir);
	make_model(src);
	if ((rc = lutdb_open(src, 0, &db)))
		fatal("open", rc);
	lutdb_shard_opts to = {.size = sizeof to, .count = 3}, lo = {.size = sizeof lo, .count = 2, .by_layer = 1};
	if ((rc = lutdb_shard(db, tok, &to, NULL, NULL)) || (rc = lutdb_shard(db, lay, &lo, NULL, NULL)))
		fatal("shard", rc);
	lutdb_close(db);
	size_t tl, ll;
	char *mt = collect(tok, &tl), *ml = collect(lay, &ll);
	const char *seeds = getenv("FUZZ_MANIFEST_SEEDS");
	if (seeds) {
		char p[600];
		FILE *f;
		snprintf(p, sizeof p, "%s/seed-token-split.json", seeds);
		if (!(f = fopen(p, "wb")) || fwrite(mt, 1, tl, f) != tl || fclose(f))
			abort();
		snprintf(p, sizeof p, "%s/seed-layer-split.json", seeds);
		if (!(f = fopen(p, "wb")) || fwrite(ml, 1, ll, f) != ll || fclose(f))
			abort();
	}
	free(mt);
	free(ml);
	/* Things a hostile manifest may name: junk, a directory. */
	FILE *f = fopen(strcat(strcpy(src, setdir), "/junk.lutdb"), "wb");
	if (f) {
		fputs("not a database", f);
		fclose(f);
	}
	mkdir(strcat(strcpy(src, setdir), "/subdir"), 0700);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

static void check_parse(const uint8_t *data, size_t size)
{
	char *json = (char *)fuzz_dup(data, size);
	lutdb_manifest m, m2;
	int rc = lutdb_manifest_parse(json, size, "manifest.json", &m);

	free(json);
	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(m.shards == NULL && m.nshards == 0);
		return;
	}
	int tok = m.split == LUTDB_SPLIT_TOKEN;
	FUZZ_CHECK(tok || m.split == LUTDB_SPLIT_LAYER);
	FUZZ_CHECK(m.nshards >= 1 && m.vocab >= 1 && m.layers >= 1 && m.layers <= 65536);
	uint32_t next = 0;
	for (size_t i = 0; i < m.nshards; i++) {
		const lutdb_manifest_shard *s = &m.shards[i];
		FUZZ_CHECK(s->file && s->file[0] && s->file[0] != '.' && !strchr(s->file, '/'));
		FUZZ_CHECK(s->token_begin < s->token_end && s->token_end <= m.vocab);
		FUZZ_CHECK(s->layer_begin < s->layer_end && s->layer_end <= m.layers);
		FUZZ_CHECK((tok ? s->token_begin : s->layer_begin) == next);
		FUZZ_CHECK(tok ? (s->layer_begin == 0 && s->layer_end == m.layers)
			       : (s->token_begin == 0 && s->token_end == m.vocab));
		next = tok ? s->token_end : s->layer_end;
	}
	FUZZ_CHECK(next == (tok ? m.vocab : m.layers));
	char *d = lutdb_manifest_dump(&m);
	FUZZ_CHECK(d);
	rc = lutdb_manifest_parse(d, strlen(d), "dump", &m2);
	FUZZ_CHECK(rc == LUTDB_OK);
	FUZZ_CHECK(m2.split == m.split && m2.vocab == m.vocab && m2.layers == m.layers && m2.nshards == m.nshards &&
		   !memcmp(m2.pack_id, m.pack_id, 16));
	for (size_t i = 0; i < m.nshards; i++)
		FUZZ_CHECK(!strcmp(m.shards[i].file, m2.shards[i].file) && m.shards[i].bytes == m2.shards[i].bytes &&
			   !memcmp(m.shards[i].digest, m2.shards[i].digest, 16) &&
			   m.shards[i].token_begin == m2.shards[i].token_begin &&
			   m.shards[i].token_end == m2.shards[i].token_end &&
			   m.shards[i].layer_begin == m2.shards[i].layer_begin &&
			   m.shards[i].layer_end == m2.shards[i].layer_end);
	free(d);
	lutdb_manifest_free(&m2);
	lutdb_manifest_free(&m);
}

static void check_open(const uint8_t *data, size_t size)
{
	FILE *f = fopen(mpath, "wb");
	lutdb_db *db = (lutdb_db *)1;
	int rc;

	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	rc = lutdb_open(mpath, 0, &db);
	FUZZ_CHECK_RC(rc);
	if (rc) {
		FUZZ_CHECK(db == NULL);
		return;
	}
	const lutdb_info *in = lutdb_get_info(db);
	FUZZ_CHECK(in->token_begin == 0 && in->token_end == in->vocab && in->layer_begin == 0 &&
		   in->layer_end == in->layers);
	uint32_t toks[3] = {0, in->vocab / 2, in->vocab - 1};
	for (int i = 0; i < 3; i++) {
		lutdb_row row;
		if (lutdb_token_row(db, toks[i], LUTDB_READ_VERIFY, NULL, 0, &row) == LUTDB_OK)
			fuzz_touch(row.data, (size_t)in->token_row_bytes);
		for (uint32_t l = 0; l < in->layers; l++)
			if (lutdb_layer_row(db, l, toks[i], 0, NULL, 0, &row) == LUTDB_OK)
				fuzz_touch(row.data, (size_t)lutdb_dtype_bytes(row.dtype, in->table_block, row.nelems));
	}
	rc = lutdb_verify(db, NULL, NULL);
	FUZZ_CHECK_RC(rc);
	lutdb_model_opts mo = {.size = sizeof mo, .threads = 1};
	lutdb_model *m = NULL;
	if (lutdb_model_new(db, &mo, &m) == LUTDB_OK) {
		lutdb_session_opts so = {.size = sizeof so, .capacity = 2};
		lutdb_session *s = NULL;
		if (lutdb_session_new(m, &so, &s) == LUTDB_OK) {
			uint32_t ids[2] = {0, in->vocab - 1};
			if (lutdb_session_feed(s, ids, 2, NULL, NULL) == LUTDB_OK)
				FUZZ_CHECK(lutdb_session_logits(s) != NULL);
			lutdb_session_free(s);
		}
		lutdb_model_free(m);
	}
	lutdb_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	check_parse(data, size);
	check_open(data, size);
	return 0;
}
