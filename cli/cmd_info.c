/* cmd_info.c - lutdb info DB [--json] [--tensors] */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lutdb_tokenizer.h"

static const char help[] =
	"usage: lutdb info DB [--json] [--tensors]\n\n"
	"Describes DB: format version, model family and the form it was packed from, geometry,\n"
	"table dtype, block size (quantized tables) and codec, table rows and bytes, tensors by\n"
	"dtype, tokenizer, file bytes against raw bytes (the format's overhead) and provenance.\n"
	"--tensors lists every tensor with its dtype, shape and bytes.  With --json, stdout\n"
	"holds only a JSON document (table.dtype, table.block, table.bytes; tensors.list).\n";

static const char *family_name(int f)
{
	return f == LUTDB_FAMILY_MOLKV ? "molkv" : "mole";
}

/* Lower-case hex of 16 bytes into out[33]. */
static void hex16(const uint8_t in[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* Human size, decimal units: "3.71 GB". */
static void human(uint64_t b, char *buf, size_t n)
{
	const char *u[] = {"B", "KB", "MB", "GB", "TB"};
	double v = (double)b;
	int i = 0;

	while (v >= 1000.0 && i < 4) {
		v /= 1000.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)b);
	else
		snprintf(buf, n, "%.2f %s", v, u[i]);
}

static json_t *tokenizer_json(lutdb_db *db)
{
	const void *data;
	size_t len;
	lutdb_tokenizer *t = NULL;
	json_t *o, *sp;

	if (lutdb_blob_get(db, "tokenizer.json", &data, &len) != LUTDB_OK)
		return json_null();
	if (lutdb_tokenizer_load(data, len, &t) != LUTDB_OK)
		return json_pack("{s:b, s:s}", "present", 1, "error", lutdb_errdetail());
	sp = json_array();
	for (size_t i = 0; i < lutdb_tokenizer_added_count(t); i++) {
		uint32_t id;
		const char *content;
		size_t clen;
		int special;
		if (lutdb_tokenizer_added_token(t, i, &id, &content, &clen, &special) == LUTDB_OK && special)
			json_array_append_new(sp, json_pack("{s:i, s:s%}", "id", (int)id, "content", content, clen));
	}
	o = json_pack("{s:b, s:s, s:I, s:o}", "present", 1, "model", lutdb_tokenizer_model_type(t), "vocab_size",
		      (json_int_t)lutdb_tokenizer_vocab_size(t), "special_tokens", sp);
	lutdb_tokenizer_free(t);
	return o;
}

#define PROVENANCE_MAX ((size_t)1 << 20)

static json_t *build(lutdb_db *db)
{
	const lutdb_info *i = lutdb_get_info(db);
	char pid[33], dig[33];
	const void *prov;
	size_t plen;
	json_t *provenance = json_null(), *blobs = json_array();
	uint64_t tensor_bytes = 0;

	hex16(i->pack_id, pid);
	hex16(i->digest, dig);
	/* provenance.json is informational and comes from the file: pack writes
	 * a few KB, so a larger one is not parsed (jansson can take 80 times
	 * a document's size; spec/SECURITY.md section 1.8). */
	if (lutdb_blob_get(db, "provenance.json", &prov, &plen) == LUTDB_OK && plen <= PROVENANCE_MAX) {
		json_decref(provenance);
		provenance = json_loadb(prov, plen, 0, NULL);
		if (!provenance)
			provenance = json_null();
	}
	const char *names[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"};
	for (size_t k = 0; k < 4; k++) {
		const void *d;
		size_t l;
		if (lutdb_blob_get(db, names[k], &d, &l) == LUTDB_OK)
			json_array_append_new(blobs, json_string(names[k]));
	}
	/* Each tensor's dtype (quantized weights keep norms and the router in
	 * a float dtype), and a count per dtype for the summary line. */
	json_t *tlist = json_array(), *tdtypes = json_object();
	for (size_t k = 0; k < lutdb_tensor_count(db); k++) {
		lutdb_tensor t;
		if (lutdb_tensor_at(db, k, &t) != LUTDB_OK)
			continue;
		tensor_bytes += t.nbytes;
		json_t *shape = json_array();
		for (uint32_t d = 0; d < t.ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)t.shape[d]));
		const char *dn = lutdb_dtype_name(t.dtype) ? lutdb_dtype_name(t.dtype) : "?";
		json_array_append_new(tlist, json_pack("{s:s, s:s, s:o, s:I}", "name", t.name, "dtype", dn, "shape",
						       shape, "bytes", (json_int_t)t.nbytes));
		json_int_t c = json_integer_value(json_object_get(tdtypes, dn));
		json_object_set_new(tdtypes, dn, json_integer(c + 1));
	}
	uint64_t rows = i->token_end - i->token_begin;
	json_t *geo = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "vocab",
				(json_int_t)i->vocab, "hidden", (json_int_t)i->hidden, "layers", (json_int_t)i->layers,
				"experts", (json_int_t)i->experts, "intermediate", (json_int_t)i->intermediate, "heads",
				(json_int_t)i->heads, "kv_heads", (json_int_t)i->kv_heads, "kv_expert_dim",
				(json_int_t)i->kv_dim, "kv_expert_heads", (json_int_t)i->kv_expert_heads,
				"kv_expert_window", (json_int_t)i->kv_window, "max_position", (json_int_t)i->max_position,
				"head_dim", (json_int_t)i->head_dim, "tied_embeddings", i->tied);
	json_t *table = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:[I,I], s:[I,I]}", "dtype",
				  lutdb_dtype_name(i->table_dtype), "block", (json_int_t)i->table_block, "codec", lutdb_codec_name(i->table_codec), "rows",
				  (json_int_t)rows, "token_row_bytes", (json_int_t)i->token_row_bytes, "layer_row_elems",
				  (json_int_t)i->layer_row_elems, "bytes", (json_int_t)(rows * i->token_row_bytes),
				  "records", (json_int_t)i->table_records, "block_tokens", (json_int_t)i->block_tokens,
				  "tokens", (json_int_t)i->token_begin, (json_int_t)i->token_end, "layers",
				  (json_int_t)i->layer_begin, (json_int_t)i->layer_end);
	char fmt[16];
	snprintf(fmt, sizeof fmt, "%u.%u", i->format_major, i->format_minor);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:o, s:o}, s:o, s:{s:I, s:I, s:f}, s:s, s:s, "
			 "s:{s:I, s:I}, s:o, s:o}",
			 "path", lutdb_path(db), "format", fmt, "family",
			 family_name(i->family), "packed_from", i->source_form == LUTDB_FORM_REP ? "reparameterized" : "training",
			 "geometry", geo, "table", table, "tensors", "count", (json_int_t)i->tensor_count, "bytes",
			 (json_int_t)tensor_bytes, "dtypes", tdtypes, "list", tlist, "tokenizer", tokenizer_json(db), "size", "file_bytes",
			 (json_int_t)i->file_bytes, "raw_bytes", (json_int_t)i->raw_bytes, "overhead_percent",
			 i->raw_bytes ? 100.0 * ((double)i->file_bytes / (double)i->raw_bytes - 1.0) : 0.0, "pack_id",
			 pid, "digest", dig, "shard", "index", (json_int_t)i->shard_index, "count",
			 (json_int_t)i->shard_count, "stored_files", blobs, "provenance", provenance);
}

static void print_text(json_t *j, int list_tensors)
{
	json_t *g = json_object_get(j, "geometry"), *t = json_object_get(j, "table"), *s = json_object_get(j, "size");
	json_t *tok = json_object_get(j, "tokenizer"), *prov = json_object_get(j, "provenance");
	char fb[32], rb[32], tb[32], xb[32];
#define I(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
#define S(o, k) (json_string_value(json_object_get((o), (k))) ? json_string_value(json_object_get((o), (k))) : "?")
	human((uint64_t)I(s, "file_bytes"), fb, sizeof fb);
	human((uint64_t)I(s, "raw_bytes"), rb, sizeof rb);
	human((uint64_t)I(t, "bytes"), tb, sizeof tb);
	human((uint64_t)I(json_object_get(j, "tensors"), "bytes"), xb, sizeof xb);
	printf("file        %s\n", S(j, "path"));
	printf("format      lutdb %s\n", S(j, "format"));
	printf("family      %s (packed from %s form)\n", !strcmp(S(j, "family"), "molkv") ? "MoLKV" : "MoLE",
	       S(j, "packed_from"));
	printf("geometry    V %lld  d %lld  L %lld  N %lld  I %lld  heads %lld (kv %lld, head_dim %lld)%s\n",
	       I(g, "vocab"), I(g, "hidden"), I(g, "layers"), I(g, "experts"), I(g, "intermediate"), I(g, "heads"),
	       I(g, "kv_heads"), I(g, "head_dim"), json_is_true(json_object_get(g, "tied_embeddings")) ? "  tied" : "");
	if (!strcmp(S(j, "family"), "molkv"))
		printf("key-value   dk %lld  H %lld  W %lld%s\n", I(g, "kv_expert_dim"), I(g, "kv_expert_heads"),
		       I(g, "kv_expert_window"), I(g, "kv_expert_window") ? "" : " (unlimited)");
	printf("context     %lld positions\n", I(g, "max_position"));
	char blk[32] = "";
	if (I(t, "block"))
		snprintf(blk, sizeof blk, " (block %lld)", I(t, "block"));
	printf("table       %s%s, codec %s, %lld rows x %lld B = %s in %lld records of %lld tokens\n", S(t, "dtype"),
	       blk, S(t, "codec"), I(t, "rows"), I(t, "token_row_bytes"), tb, I(t, "records"), I(t, "block_tokens"));
	printf("tensors     %lld, %s", I(json_object_get(j, "tensors"), "count"), xb);
	{
		const char *dn;
		json_t *cnt;
		const char *sep = ": ";
		json_object_foreach(json_object_get(json_object_get(j, "tensors"), "dtypes"), dn, cnt) {
			printf("%s%lld %s%s", sep, (long long)json_integer_value(cnt), dn,
			       !strcmp(dn, "Q8_0") || !strcmp(dn, "Q4_0") ? " (block 32)" : "");
			sep = ", ";
		}
		printf("\n");
	}
	if (list_tensors) {
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(json_object_get(j, "tensors"), "list"), k, e) {
			printf("  %-48s %-5s [", S(e, "name"), S(e, "dtype"));
			size_t d;
			json_t *v;
			json_array_foreach(json_object_get(e, "shape"), d, v)
				printf("%s%lld", d ? ", " : "", (long long)json_integer_value(v));
			printf("]  %lld B\n", I(e, "bytes"));
		}
	}
	if (I(json_object_get(j, "shard"), "count") > 1)
		printf("shards      %lld files (manifest)\n", I(json_object_get(j, "shard"), "count"));
	if (json_is_object(tok) && json_object_get(tok, "model")) {
		printf("tokenizer   %s, vocab %lld, special:", S(tok, "model"), I(tok, "vocab_size"));
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(tok, "special_tokens"), k, e) {
			if (k == 8) {
				printf(" ... (%zu)", json_array_size(json_object_get(tok, "special_tokens")));
				break;
			}
			printf(" %s=%lld", S(e, "content"), I(e, "id"));
		}
		printf("\n");
	} else {
		printf("tokenizer   %s\n", json_is_object(tok) ? "present but not executable" : "none");
	}
	printf("size        %s on disk, %s raw: overhead %.3f%%\n", fb, rb,
	       json_real_value(json_object_get(s, "overhead_percent")));
	printf("digest      %s\npack id     %s\n", S(j, "digest"), S(j, "pack_id"));
	if (json_is_object(prov)) {
		json_t *src = json_object_get(prov, "source");
		printf("provenance  %s, packed %s from %s form at %s\n", S(prov, "tool"), S(prov, "packed_at"),
		       S(src, "form"), S(src, "path"));
		size_t k;
		json_t *f;
		json_array_foreach(json_object_get(src, "files"), k, f)
			printf("            %s  %lld bytes  xxh3-128 %s\n", S(f, "name"), I(f, "bytes"), S(f, "xxh3_128"));
	}
#undef I
#undef S
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"tensors", no_argument, 0, 't'},
					     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	lutdb_db *db = NULL;
	int as_json = 0, list_tensors = 0, c, rc;
	json_t *j;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j')
			as_json = 1;
		else if (c == 't')
			list_tensors = 1;
		else if (c == 'h') {
			fputs(help, stdout);
			return 0;
		} else
			return cli_usage_error("info", "bad option");
	}
	if (argc - optind != 1)
		return cli_usage_error("info", "expected DB");
	if ((rc = cli_open("info", argv[optind], 0, &db)))
		return rc;
	j = build(db);
	if (!j) {
		lutdb_close(db);
		return cli_fail("info", cli_error(LUTDB_ENOMEM, "info"));
	}
	if (as_json) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
	} else {
		print_text(j, list_tensors);
	}
	json_decref(j);
	lutdb_close(db);
	return 0;
}
