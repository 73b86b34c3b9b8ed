/*
 * export.c - database -> reparameterized Hugging Face checkpoint.
 *
 * The table becomes model.moe_table.weight / model.kv_table.weight
 * [V, L * layer_row_elems] in the table dtype, the dense tensors are written
 * as stored, so a database packed from a rep checkpoint without --dtype
 * exports every tensor bit-identical to its source.  Tensors go into
 * safetensors files in name order, a new file starting when the next tensor
 * would pass max_shard_bytes (a larger tensor gets a file of its own).
 * Each file is written under a temporary name and published with link(2),
 * which fails rather than replace an existing file.  Block-quantized parts
 * have no safetensors dtype: they are decoded to float32 and written in the
 * caller's dequantization dtype (F16 by default), a block of rows or a
 * chunk of a tensor at a time.
 */
#include "lutdb_pack.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record.h"
#include "schema.h"
#include "fail.h"

#define EXPORT_DEFAULT_SHARD (2ull << 30)
#define WRITE_CHUNK (4u << 20)
/* Values decoded per step of a quantized part (a multiple of 32). */
#define DECODE_CHUNK (1u << 18)

typedef struct xt {
	char name[LUTDB_NAME_MAX + 1];
	int dtype;          /* as written */
	int src_dtype;      /* as stored (differs when dequantized) */
	uint32_t src_block;
	uint32_t ndim;
	uint64_t dims[LUTDB_MAX_DIMS];
	uint64_t nbytes;
	int is_table;
	const void *data;
} xt;

typedef struct exporter {
	lutdb_db *db;
	const char *dir;
	lutdb_progress_fn progress;
	void *ctx;
	uint64_t done, total;
	uint8_t *buf;
	size_t fill;
	float *f32;         /* decoding scratch (DECODE_CHUNK values) */
	void *conv;         /* DECODE_CHUNK values in the output dtype */
	int fd;
	const char *path;
} exporter;

static int sys_fail(int err, const char *path, const char *what)
{
	return lutdb_fail(err == ENOSPC ? LUTDB_ENOSPC : err == EEXIST ? LUTDB_EEXIST : LUTDB_EIO, "%s: %s: %s", path,
			  what, strerror(err));
}

static int flush(exporter *x)
{
	size_t off = 0;
	while (off < x->fill) {
		ssize_t n = write(x->fd, x->buf + off, x->fill - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sys_fail(errno, x->path, "write");
		}
		off += (size_t)n;
	}
	x->fill = 0;
	return LUTDB_OK;
}

static int put(exporter *x, const void *data, size_t len)
{
	const uint8_t *p = data;
	int rc;

	while (len) {
		size_t n = WRITE_CHUNK - x->fill < len ? WRITE_CHUNK - x->fill : len;
		memcpy(x->buf + x->fill, p, n);
		x->fill += n;
		p += n;
		len -= n;
		if (x->fill == WRITE_CHUNK && (rc = flush(x)))
			return rc;
	}
	x->done += (uint64_t)(p - (const uint8_t *)data);
	if (x->progress && x->progress(x->ctx, x->done, x->total))
		return lutdb_fail(LUTDB_EINTR, "export cancelled");
	return LUTDB_OK;
}

/* n values stored as (sdt, block) at src, written as ddt: decoded and
 * converted a chunk at a time.  A chunk holds whole blocks (chunks and
 * runs are multiples of the block, which divides every row). */
static int put_decoded(exporter *x, int ddt, int sdt, uint32_t block, const void *src, uint64_t n)
{
	uint64_t chunk = DECODE_CHUNK - DECODE_CHUNK % (block ? block : 1);
	int rc;

	for (uint64_t at = 0; at < n; at += chunk) {
		size_t k = n - at < chunk ? (size_t)(n - at) : (size_t)chunk;
		const uint8_t *s = (const uint8_t *)src + lutdb_dtype_bytes(sdt, block, at);
		if ((rc = lutdb_decode_f32(sdt, block, s, k, x->f32)) ||
		    (rc = lutdb_convert(ddt, x->conv, LUTDB_DTYPE_F32, x->f32, k)) ||
		    (rc = put(x, x->conv, k * lutdb_dtype_size(ddt))))
			return rc;
	}
	return LUTDB_OK;
}

static int put_table(exporter *x, const xt *tab)
{
	const lutdb_info *in = lutdb_get_info(x->db);
	void *scratch = NULL;
	lutdb_row row;
	int rc = LUTDB_OK;

	if (in->table_codec && !(scratch = malloc(in->token_row_bytes)))
		return lutdb_fail(LUTDB_ENOMEM, "export");
	for (uint32_t tok = 0; tok < in->vocab && rc == LUTDB_OK; tok++) {
		if ((rc = lutdb_token_row(x->db, tok, 0, scratch, scratch ? in->token_row_bytes : 0, &row)))
			break;
		if (tab->dtype == tab->src_dtype)
			rc = put(x, row.data, in->token_row_bytes);
		else if ((rc = put_decoded(x, tab->dtype, tab->src_dtype, tab->src_block, row.data, tab->dims[1])))
			lutdb_fail_prefix(rc, "%s: table row of token %u", lutdb_path(x->db), tok);
	}
	free(scratch);
	return rc;
}

static int put_tensor(exporter *x, const xt *t)
{
	uint64_t n = 1;
	int rc;

	if (t->dtype == t->src_dtype)
		return put(x, t->data, t->nbytes);
	for (uint32_t k = 0; k < t->ndim; k++)
		n *= t->dims[k];
	if ((rc = put_decoded(x, t->dtype, t->src_dtype, t->src_block, t->data, n)))
		lutdb_fail_prefix(rc, "%s: tensor %s", lutdb_path(x->db), t->name);
	return rc;
}

/* Writes one safetensors file holding tensors [a, b) and publishes it. */
static int write_file(exporter *x, const char *fname, const xt *ts, size_t a, size_t b)
{
	char *tmp = NULL, *final = NULL, *hdr = NULL;
	json_t *root = json_object();
	uint64_t off = 0, hlen;
	size_t n;
	int rc = LUTDB_OK;

	x->fd = -1;
	json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
	for (size_t i = a; i < b; i++) {
		json_t *shape = json_array();
		for (uint32_t k = 0; k < ts[i].ndim; k++)
			json_array_append_new(shape, json_integer((json_int_t)ts[i].dims[k]));
		json_object_set_new(root, ts[i].name,
				    json_pack("{s:s, s:o, s:[I,I]}", "dtype", lutdb_dtype_name(ts[i].dtype), "shape",
					      shape, "data_offsets", (json_int_t)off, (json_int_t)(off + ts[i].nbytes)));
		off += ts[i].nbytes;
	}
	hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	n = strlen(x->dir) + strlen(fname) + 32;
	tmp = malloc(n);
	final = malloc(n);
	if (!hdr || !tmp || !final) {
		rc = lutdb_fail(LUTDB_ENOMEM, "export");
		goto out;
	}
	snprintf(final, n, "%s/%s", x->dir, fname);
	snprintf(tmp, n, "%s/.%s.tmp.XXXXXX", x->dir, fname);
	x->path = final;
	if ((x->fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = sys_fail(errno, tmp, "create");
		goto out;
	}
	/* Header length padded with spaces to a multiple of 8 (data aligned). */
	hlen = (strlen(hdr) + 7) & ~7ull;
	uint8_t le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(hlen >> (8 * i));
	if ((rc = put(x, le, 8)) || (rc = put(x, hdr, strlen(hdr))) || (rc = put(x, "        ", hlen - strlen(hdr))))
		goto out;
	for (size_t i = a; i < b && rc == LUTDB_OK; i++)
		rc = ts[i].is_table ? put_table(x, &ts[i]) : put_tensor(x, &ts[i]);
	if (rc || (rc = flush(x)))
		goto out;
	if (fsync(x->fd) != 0) {
		rc = sys_fail(errno, tmp, "sync");
		goto out;
	}
	if (link(tmp, final) != 0) {
		rc = errno == EEXIST ? lutdb_fail(LUTDB_EEXIST, "%s: already exists; export never overwrites", final)
				     : sys_fail(errno, final, "publish");
		goto out;
	}
out:
	if (x->fd >= 0) {
		close(x->fd);
		unlink(tmp);
	}
	free(tmp);
	free(final);
	free(hdr);
	json_decref(root);
	return rc;
}

static int write_small(exporter *x, const char *name, const void *data, size_t len)
{
	char *path = malloc(strlen(x->dir) + strlen(name) + 2);
	int fd, rc = LUTDB_OK;

	if (!path)
		return lutdb_fail(LUTDB_ENOMEM, "export");
	sprintf(path, "%s/%s", x->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = errno == EEXIST ? lutdb_fail(LUTDB_EEXIST, "%s: already exists; export never overwrites", path)
				     : sys_fail(errno, path, "create");
	} else {
		if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
			rc = sys_fail(errno, path, "write");
		close(fd);
		if (rc)
			unlink(path);
	}
	free(path);
	return rc;
}

/* How a part is written: as stored, or decoded into ddt when quantized. */
static void set_out(xt *t, int ddt, uint64_t elems)
{
	t->src_dtype = t->dtype;
	if (lutdb_dtype_is_quantized(t->dtype)) {
		t->dtype = ddt;
		t->nbytes = elems * lutdb_dtype_size(ddt);
	}
}

static int collect(lutdb_db *db, int ddt, xt **out, size_t *n)
{
	const lutdb_info *in = lutdb_get_info(db);
	size_t cnt = lutdb_tensor_count(db);
	xt *ts = calloc(cnt + 1, sizeof *ts);
	int rc;

	if (!ts)
		return lutdb_fail(LUTDB_ENOMEM, "export");
	for (size_t i = 0; i < cnt; i++) {
		lutdb_tensor t;
		if ((rc = lutdb_tensor_at(db, i, &t))) {
			free(ts);
			return rc;
		}
		snprintf(ts[i].name, sizeof ts[i].name, "%s", t.name);
		ts[i].dtype = t.dtype;
		ts[i].ndim = t.ndim;
		memcpy(ts[i].dims, t.shape, sizeof ts[i].dims);
		ts[i].nbytes = t.nbytes;
		ts[i].data = t.data;
		ts[i].src_block = 32;
		uint64_t elems = 1;
		for (uint32_t k = 0; k < t.ndim; k++)
			elems *= t.shape[k];
		set_out(&ts[i], ddt, elems);
	}
	xt *tab = &ts[cnt];
	snprintf(tab->name, sizeof tab->name, "%s", lutdb_schema_table_name(in->family));
	tab->dtype = in->table_dtype;
	tab->ndim = 2;
	tab->dims[0] = in->vocab;
	tab->dims[1] = (uint64_t)in->layers * in->layer_row_elems;
	tab->nbytes = (uint64_t)in->vocab * in->token_row_bytes;
	tab->is_table = 1;
	tab->src_block = in->table_block;
	set_out(tab, ddt, tab->dims[0] * tab->dims[1]);
	/* Keep name order: insert the table where it sorts. */
	xt tmp = *tab;
	size_t pos = cnt;
	while (pos > 0 && strcmp(ts[pos - 1].name, tmp.name) > 0) {
		ts[pos] = ts[pos - 1];
		pos--;
	}
	ts[pos] = tmp;
	*out = ts;
	*n = cnt + 1;
	return LUTDB_OK;
}

int lutdb_export(lutdb_db *db, const char *outdir, uint64_t max_shard, lutdb_progress_fn progress, void *ctx)
{
	return lutdb_export_as(db, outdir, max_shard, (lutdb_dtype)0, progress, ctx);
}

int lutdb_export_as(lutdb_db *db, const char *outdir, uint64_t max_shard, lutdb_dtype ddt, lutdb_progress_fn progress,
		    void *ctx)
{
	const lutdb_info *in = lutdb_get_info(db);
	static const char *const blobs[] = {"config.json", "generation_config.json", "tokenizer.json",
					    "tokenizer_config.json"};
	exporter x = {.db = db, .dir = outdir, .progress = progress, .ctx = ctx, .fd = -1};
	xt *ts = NULL;
	size_t n = 0, nfiles = 0, *starts = NULL;
	json_t *wm = NULL;
	int rc;

	if (in->token_begin != 0 || in->token_end != in->vocab || in->layer_begin != 0 || in->layer_end != in->layers)
		return lutdb_fail(LUTDB_EINVAL, "%s: holds only part of the table (a shard); export the manifest",
				  lutdb_path(db));
	if (!max_shard)
		max_shard = EXPORT_DEFAULT_SHARD;
	if (!ddt)
		ddt = LUTDB_DTYPE_F16;
	if (!lutdb_dtype_size(ddt))
		return lutdb_fail(LUTDB_EINVAL, "lutdb_export_as: quantized parts are written as F16, BF16 or F32, not "
				  "dtype code %d", (int)ddt);
	/* Files go into outdir by name: not through a symbolic link, not into
	 * something that is not a directory. */
	if ((rc = lutdb_output_check(outdir, 1)))
		return rc;
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
		return sys_fail(errno, outdir, "cannot create directory");
	if ((rc = collect(db, ddt, &ts, &n)))
		return rc;
	x.buf = malloc(WRITE_CHUNK);
	x.f32 = malloc(DECODE_CHUNK * sizeof(float));
	x.conv = malloc(DECODE_CHUNK * sizeof(float));
	starts = calloc(n + 1, sizeof *starts);
	wm = json_object();
	if (!x.buf || !x.f32 || !x.conv || !starts || !wm) {
		rc = lutdb_fail(LUTDB_ENOMEM, "export");
		goto out;
	}
	uint64_t cur = 0;
	for (size_t i = 0; i < n; i++) {
		x.total += ts[i].nbytes;
		if (i == 0 || (cur && cur + ts[i].nbytes > max_shard)) {
			starts[nfiles++] = i;
			cur = 0;
		}
		cur += ts[i].nbytes;
	}
	starts[nfiles] = n;
	for (size_t k = 0; k < sizeof blobs / sizeof *blobs; k++) {
		const void *d;
		size_t len;
		if (lutdb_blob_get(db, blobs[k], &d, &len) == LUTDB_OK && (rc = write_small(&x, blobs[k], d, len)))
			goto out;
	}
	lutdb_errclear();
	for (size_t f = 0; f < nfiles; f++) {
		char fname[64];
		if (nfiles == 1)
			snprintf(fname, sizeof fname, "model.safetensors");
		else
			snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", f + 1, nfiles);
		for (size_t i = starts[f]; i < starts[f + 1]; i++)
			json_object_set_new(wm, ts[i].name, json_string(fname));
		if ((rc = write_file(&x, fname, ts, starts[f], starts[f + 1])))
			goto out;
	}
	if (nfiles > 1) {
		json_t *idx = json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)x.total, "weight_map", wm);
		char *txt = idx ? json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		rc = txt ? write_small(&x, "model.safetensors.index.json", txt, strlen(txt))
			 : lutdb_fail(LUTDB_ENOMEM, "export");
		free(txt);
		json_decref(idx);
	}
out:
	json_decref(wm);
	free(starts);
	free(x.buf);
	free(x.f32);
	free(x.conv);
	free(ts);
	return rc;
}
