/*
 * lutdb.h - the lutdb store: an LMDB-backed database holding a Mixture-of-
 * Lookup-Experts model (lookup tables keyed by layer and token id, dense
 * weights, config, tokenizer) in one file, or in shards listed by a manifest.
 *
 * Handles and their lifecycle
 *   lutdb_db      lutdb_open() -> lookups, lutdb_verify(), lutdb_shard(),
 *                 lutdb_merge() -> lutdb_close().  When lutdb_open() fails,
 *                 *out is NULL, nothing needs closing, and lutdb_errdetail()
 *                 says what failed where (file, key, offset).
 *   lutdb_writer  lutdb_writer_open() -> blobs, tensors, then rows ->
 *                 lutdb_writer_commit() (frees it, whatever its result) or
 *                 lutdb_writer_abort().  When lutdb_writer_open() fails, *out
 *                 is NULL and nothing is left on disk.
 *   lutdb_close() and lutdb_writer_abort() accept NULL.
 *
 * Zero-copy
 *   Tensor, row and blob views, names, lutdb_get_info() and lutdb_path()
 *   point into memory owned by the lutdb_db handle, most of it the read-only
 *   memory map of the file.  They stay valid until lutdb_close() of that
 *   handle; the bytes never change while it is open (files are immutable
 *   once written).  Never write through them, never free them.
 *
 * Threads
 *   An open lutdb_db is safe to use from any number of threads at once: all
 *   lookups go through indexes built at open time; the lazy once-per-row
 *   checksum bookkeeping uses atomics.  lutdb_close() must not race with
 *   any other call on the same handle.  A lutdb_writer belongs to one
 *   thread at a time (calls on it must not overlap).  Progress callbacks
 *   run on the thread that made the call, synchronously (see "progress").
 *
 * Errors
 *   Every fallible call returns LUTDB_OK (0) or a negative code from
 *   lutdb_err.h; lutdb_strerror() words it, lutdb_errdetail() gives context.
 *   Details speak of this API (function and option names), never of the
 *   lutdb command line.
 *
 * Process
 *   No function declared here changes process-wide state: no umask, signal
 *   disposition, environment or working-directory change, no thread left
 *   running.
 */
#ifndef LUTDB_H
#define LUTDB_H

#include <stddef.h>
#include <stdint.h>

#include "lutdb_err.h"
#include "lutdb_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ----------------------------------------------------------------
 * The library's version (semantic versioning).  LUTDB_VERSION_NUMBER is
 * MAJOR * 1000000 + MINOR * 1000 + PATCH, so it compares as an integer.
 * lutdb_libversion() and lutdb_libversion_number() give the version of the
 * library actually linked, which may differ from these macros (the header
 * a program was compiled with).  The shared library's SONAME is
 * liblutdb.so.0 for every 0.x release; README.md ("Library ABI") says when
 * it changes. */
#define LUTDB_VERSION_MAJOR 0
#define LUTDB_VERSION_MINOR 2
#define LUTDB_VERSION_PATCH 0
#define LUTDB_VERSION_STRING "0.2.0"
#define LUTDB_VERSION_NUMBER (LUTDB_VERSION_MAJOR * 1000000 + LUTDB_VERSION_MINOR * 1000 + LUTDB_VERSION_PATCH)

/* LUTDB_VERSION_STRING of the linked library (static storage). */
LUTDB_API const char *lutdb_libversion(void);
/* LUTDB_VERSION_NUMBER of the linked library. */
LUTDB_API int lutdb_libversion_number(void);

#define LUTDB_MAX_DIMS 8

typedef struct lutdb_db lutdb_db;

/* ---- model description ---------------------------------------------------- */
typedef struct lutdb_info {
	int family;        /* lutdb_family: LUTDB_FAMILY_MOLE or _MOLKV */
	int source_form;   /* lutdb_form: LUTDB_FORM_TRAINING or _REP */
	uint32_t vocab;    /* V */
	uint32_t hidden;   /* d */
	uint32_t layers;   /* L */
	uint32_t experts;  /* N */
	uint32_t intermediate; /* I */
	uint32_t heads, kv_heads, head_dim;
	uint32_t kv_dim;          /* MoLKV dk (0 for MoLE) */
	uint32_t kv_expert_heads; /* MoLKV H (0 for MoLE) */
	uint32_t kv_window;       /* MoLKV W, 0 = unlimited */
	uint32_t max_position;    /* max_position_embeddings */
	float rms_norm_eps, rope_theta;
	int tied;                 /* lm_head is embed_tokens */
	int table_dtype;          /* lutdb_dtype */
	int table_codec;          /* lutdb_codec */
	uint32_t layer_row_elems; /* elements of one layer's row: N*d or N*(dk+d) */
	uint64_t token_row_bytes; /* raw bytes of all layers' rows of one token:
				     lutdb_dtype_bytes(table_dtype, table_block,
				     layer count * layer_row_elems) */
	uint32_t block_tokens;    /* tokens per table record */
	int rows_in_place;        /* lutdb_token_row() points into the map (codec none,
				     not split by layer); otherwise pass a scratch */
	uint64_t table_records, tensor_count;
	/* What this file (or the shard set) holds. */
	uint32_t token_begin, token_end, layer_begin, layer_end;
	uint32_t shard_index, shard_count;
	uint8_t pack_id[16];
	uint8_t digest[16];       /* stored content digest; of a shard set: XXH3-128
				     over its shards' digests in order */
	uint64_t file_bytes;      /* bytes on disk (all shards) */
	uint64_t raw_bytes;       /* table + tensor payload bytes, unpadded */
	uint16_t format_major, format_minor;
	uint32_t page_size;
	uint32_t table_block;     /* B, values per block of a block-quantized table
				     (32 for Q8_0 and Q4_0, the packed B for NF4
				     and NF3); 0 for a float table (F32, F16, BF16).
				     Layer l of a token row begins at byte
				     lutdb_dtype_bytes(table_dtype, table_block,
				     l * layer_row_elems) */
} lutdb_info;

/* ---- open / close ---------------------------------------------------------- */
/* Open flags; every other bit must be 0 (LUTDB_EINVAL). */
#define LUTDB_OPEN_NOVERIFY 0x1u /* skip the once-per-row/tensor checksum check */
#define LUTDB_OPEN_WILLNEED 0x2u /* hint: the whole file will be read (verify, export) */

/* Opens a database read-only: a database file, or the manifest.json of a
 * shard set (then every shard is opened and checked against it, and the
 * handle behaves exactly as for a single file).  Files are opened with
 * MDB_RDONLY | MDB_NOLOCK (no lock file; works on read-only media); before
 * LMDB touches a file its meta pages and B-tree pages are validated
 * (spec/SECURITY.md).  On success *out is a new handle the caller closes
 * with lutdb_close(); on failure *out is NULL. */
LUTDB_API int lutdb_open(const char *path, unsigned flags, lutdb_db **out);

/* Closes db and frees it; every pointer obtained from it becomes invalid.
 * NULL is a no-op. */
LUTDB_API void lutdb_close(lutdb_db *db);

/* The model description.  Owned by db, valid until lutdb_close(). */
LUTDB_API const lutdb_info *lutdb_get_info(const lutdb_db *db);

/* Path db was opened with.  Owned by db, valid until lutdb_close(). */
LUTDB_API const char *lutdb_path(const lutdb_db *db);

/* ---- blobs (config.json, tokenizer.json, ...) ----------------------------- */
/* Finds meta record name (e.g. "config.json").  *data points into the map
 * (not NUL-terminated), owned by db, valid until lutdb_close().
 * LUTDB_ENOENT if absent. */
LUTDB_API int lutdb_blob_get(lutdb_db *db, const char *name, const void **data, size_t *len);

/* ---- tensors -------------------------------------------------------------- */
typedef struct lutdb_tensor {
	const char *name;   /* owned by db, valid until lutdb_close() */
	int dtype;          /* lutdb_dtype: F32, F16, BF16, or Q8_0 / Q4_0 (blocks
			       of 32 along the last dimension, row-major) */
	uint32_t ndim;
	uint64_t shape[LUTDB_MAX_DIMS]; /* the logical shape, also when quantized */
	uint64_t nbytes;    /* lutdb_dtype_bytes(dtype, 32, product of shape) */
	const void *data;   /* into the map, owned by db, valid until lutdb_close();
			       64-byte aligned when the record is in overflow
			       pages (> ~2 KB), else at any byte address (an
			       inline value follows its key): read it with
			       unaligned loads or memcpy */
} lutdb_tensor;

/* Looks a tensor up by its checkpoint name.  Unless opened with
 * LUTDB_OPEN_NOVERIFY, the tensor's checksum is checked on its first lookup
 * (LUTDB_ECHECKSUM if damaged).  LUTDB_ENOENT if absent. */
LUTDB_API int lutdb_tensor_get(lutdb_db *db, const char *name, lutdb_tensor *out);

/* Number of tensors and the i-th in name order (same ownership). */
LUTDB_API size_t lutdb_tensor_count(const lutdb_db *db);
LUTDB_API int lutdb_tensor_at(lutdb_db *db, size_t i, lutdb_tensor *out);

/* ---- table rows ----------------------------------------------------------- */
typedef struct lutdb_row {
	const void *data;   /* rows of layers [layer_first, layer_first+layer_count)
			       of one token, layer-major, layer_row_elems each:
			       into the map or into the caller's scratch (below).
			       Quantized: the layers' values as one run of blocks
			       (lutdb_info's table_block), no padding */
	int dtype;          /* lutdb_dtype */
	uint32_t layer_first, layer_count;
	uint32_t nelems;    /* layer_count * layer_row_elems */
} lutdb_row;

/* Read flags. */
#define LUTDB_READ_VERIFY 0x1u /* check the row's checksum now, even if done before */

/* The row of every layer of token, as stored (the token row).  When
 * info->rows_in_place (codec none, not split by layer), out->data points
 * into the map: owned by db, valid until lutdb_close(), 64-byte aligned, and
 * scratch may be NULL.  Otherwise (a compressing codec, or a shard set split
 * by layer, whose token row lives in several files) the row is built in
 * scratch, which must hold info->token_row_bytes bytes, and out->data points
 * into it: the caller's memory, valid as long as scratch is.  The row's
 * checksum is checked on its first read (unless LUTDB_OPEN_NOVERIFY) or on
 * every read with LUTDB_READ_VERIFY.  LUTDB_ERANGE if token is outside
 * [0, V) or not held by this file. */
LUTDB_API int lutdb_token_row(lutdb_db *db, uint32_t token, unsigned flags, void *scratch, size_t scratch_size,
			      lutdb_row *out);

/* One layer's row of token (layer_row_elems values): same rules, except
 * that with codec none it always points into the map (a layer's row lies in
 * one file). */
LUTDB_API int lutdb_layer_row(lutdb_db *db, uint32_t layer, uint32_t token, unsigned flags, void *scratch,
			      size_t scratch_size, lutdb_row *out);

/* Hints that token's row will be read soon (madvise WILLNEED on its pages);
 * nothing for a token outside [0, V) or a compressed table. */
LUTDB_API void lutdb_prefetch_token(lutdb_db *db, uint32_t token);

/* ---- progress ------------------------------------------------------------- */
/* Called with work done and total (same unit, e.g. rows or bytes); a nonzero
 * return cancels the operation, which then fails with LUTDB_EINTR.  It runs
 * on the thread that called the operation, synchronously, between units of
 * work, never concurrently with itself.  It may call lutdb functions,
 * including lookups on the database being read (handles are thread-safe),
 * but must not close or free a handle or writer the running operation uses;
 * a failing call it makes replaces the thread's lutdb_errdetail(). */
typedef int (*lutdb_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* ---- verification --------------------------------------------------------- */
/* Checks every record's checksum, every structural invariant (keys, ranges,
 * geometry, tensor shapes against the config, padding) and recomputes the
 * content digest; of a shard set, of every shard in order.  Returns
 * LUTDB_OK only if all hold; otherwise the first failure's code, with the
 * bad table key (layer, token) or tensor named in lutdb_errdetail().
 * progress (may be NULL) gets bytes checked. */
LUTDB_API int lutdb_verify(lutdb_db *db, lutdb_progress_fn progress, void *ctx);

/* ---- shards --------------------------------------------------------------- */
/* A model can be split into shard files listed by a manifest.json
 * (spec/FORMAT.md, "Shards"); lutdb_open() accepts the manifest's path.
 * Size-prefixed (lutdb_err.h, "Option structs"):
 *     lutdb_shard_opts o = {.size = sizeof o};  o.count = 4; */
typedef struct lutdb_shard_opts {
	size_t size;        /* sizeof(lutdb_shard_opts) */
	uint32_t count;     /* number of shards, or 0 */
	uint64_t max_size;  /* largest shard file in bytes, or 0 (at most one of
			       count and max_size is nonzero) */
	int by_layer;       /* split by layer ranges instead of token ranges */
} lutdb_shard_opts;

/* Splits src (a file or a shard set) into outdir, as o says (exactly one of
 * count and max_size): the shard files and outdir/manifest.json.
 * Everything is written into a temporary sibling directory, the manifest
 * last, which is then renamed to outdir: outdir must not exist, or be an
 * empty directory (not a symbolic link to one: LUTDB_EINVAL), and whatever
 * appears there meanwhile is never replaced (LUTDB_EEXIST).  progress (may be NULL) gets bytes of rows copied. */
LUTDB_API int lutdb_shard(lutdb_db *src, const char *outdir, const lutdb_shard_opts *o, lutdb_progress_fn progress,
			  void *ctx);

/* Writes src (usually a shard set) as one database file at out (a regular
 * file there is replaced; anything else is refused, as for
 * lutdb_writer_open), crash-safe as the writer.  Rows, tensors, blobs and the
 * pack identity are copied, so merging the shards of a file gives back
 * that file's content digest.  progress as for lutdb_shard. */
LUTDB_API int lutdb_merge(lutdb_db *src, const char *out, lutdb_progress_fn progress, void *ctx);

/* ---- files from outside ----------------------------------------------------
 * How every lutdb tool treats a path it is given, for programs that take
 * paths from strangers too (spec/SECURITY.md, "Paths").
 *
 * An input is opened only if it is a regular file: it is checked with
 * stat() first, then opened with O_NONBLOCK (so a FIFO swapped in between
 * cannot hang the call) and checked again on the descriptor, and only then
 * read.  A FIFO, device, socket or directory is refused with the code the
 * caller gives for its input (a path a user typed is LUTDB_EINVAL; a file
 * another file names is that file's damage: LUTDB_EBADINPUT for a
 * checkpoint, LUTDB_ESHARD for a manifest's shard), naming the path and
 * what it is.  A missing file is LUTDB_ENOENT, other failures LUTDB_EIO. */

/* Flag of lutdb_input_read(): the path "-" means standard input, which may
 * be anything (a pipe, a terminal, a device) and is read up to the cap. */
#define LUTDB_INPUT_STDIN 0x1u

/* Opens the regular file at path read-only (O_CLOEXEC, blocking mode)
 * without ever blocking on it.  not_regular: the code (a negative
 * LUTDB_E* value) for anything but a regular file.  On success *fd is a
 * descriptor the caller closes and *size the file's size; on failure *fd
 * is -1. */
LUTDB_API int lutdb_input_open(const char *path, int not_regular, int *fd, uint64_t *size);

/* Reads the whole regular file at path (or, with LUTDB_INPUT_STDIN, "-":
 * standard input) into a new buffer.  A file over cap bytes is refused by
 * its size before a byte is read, and no read goes past cap + 1 bytes
 * (standard input, a file that grows): both fail with too_big, naming the
 * path and the cap.  not_regular as for lutdb_input_open().  On success
 * *data holds *len bytes plus a terminating NUL, allocated for the caller,
 * who releases it with lutdb_free(); on failure *data is NULL and *len 0. */
LUTDB_API int lutdb_input_read(const char *path, uint64_t cap, unsigned flags, int not_regular, int too_big,
			       char **data, size_t *len);

/* Whether a lutdb writer may put its output at path: absent, or (is_dir 0)
 * a regular file it would replace, or (is_dir 1) a directory it would fill.
 * A symbolic link is LUTDB_EINVAL (writing through it would change a file
 * elsewhere than the one named, replacing it would detach it: name the
 * target instead); a directory where a file goes, a regular file where a
 * directory goes, a device, FIFO or socket is LUTDB_EEXIST.  Nothing is
 * created or changed.  The writers call it when they start and again just
 * before they rename their output into place. */
LUTDB_API int lutdb_output_check(const char *path, int is_dir);

/* ---- writer --------------------------------------------------------------- */
/* Writes one model: as one database file, or as shards and a manifest. */
typedef struct lutdb_writer lutdb_writer;

/* What the model is.  Size-prefixed (lutdb_err.h, "Option structs"):
 *     lutdb_writer_params p = {.size = sizeof p};  p.family = LUTDB_FAMILY_MOLE; ...
 * Which rows each file holds is the writer's business (shard options). */
typedef struct lutdb_writer_params {
	size_t size;                  /* sizeof(lutdb_writer_params) */
	int family;                   /* lutdb_family */
	int source_form;              /* lutdb_form */
	uint32_t vocab, hidden, layers, experts, intermediate;
	uint32_t heads, kv_heads;
	uint32_t kv_dim, kv_expert_heads, kv_window; /* MoLKV dk, H, W; 0 for MoLE */
	int tied;                     /* lm_head is embed_tokens */
	int table_dtype;              /* lutdb_dtype */
	int table_codec;              /* lutdb_codec */
	uint32_t block_tokens;        /* 0: the default (spec/FORMAT.md) */
	uint8_t pack_id[16];          /* all zero: a fresh random id */
	/* Sizing.  The writer sizes the table itself; for the rest it needs
	 * these, to reserve each file's disk space up front and, with a
	 * max_size, to plan how many rows each shard takes.  Upper bounds are
	 * fine (a record larger than they allow fails with LUTDB_EINTERNAL);
	 * each file then reserves about what it will hold.  All zero suits a
	 * model whose tensors and blobs take under 64 MiB, at the price of
	 * reserving 64 MiB more than needed for every file (every shard). */
	uint64_t dense_bytes;         /* sum of every tensor's nbytes and every blob's
					 length, config.json excepted */
	uint64_t dense_records;       /* how many tensors and blobs that is */
	uint64_t config_bytes;        /* length of config.json (every shard stores it) */
	uint32_t table_block;         /* block-quantized table_dtype: B (0: the
					 default, 32 for Q8_0/Q4_0, 64 for NF4/NF3);
					 must divide d (and dk for MoLKV).  Must be
					 0 for a float table */
} lutdb_writer_params;

/* Starts writing the model that will appear at out_path on commit: one
 * database file when shards is NULL or sets neither count nor max_size;
 * otherwise a directory of shard files and manifest.json, which must not
 * exist or be an empty directory (see lutdb_shard).  A file is written to a
 * private temporary file in the same directory (".NAME.tmp.XXXXXX",
 * MDB_NOLOCK, one append-ordered write transaction), shards into a
 * temporary sibling directory ("OUTDIR.tmp.XXXXXX"); out_path is untouched
 * until lutdb_writer_commit() renames the synced result into place.  Each
 * file's space is reserved from the sizing fields before any data goes
 * into it, so a full disk or a file size limit is LUTDB_ENOSPC, never a
 * signal: from this call for the file (a layer split: every shard; a
 * token split: the first), and for each further shard of a token split
 * from the lutdb_writer_put_rows() call that brings its first row.  A
 * token split's shard is finished (synced, trimmed) as its last row
 * arrives, so one is open at a time, whatever the shard count.  With overwrite
 * 0, an existing file at out_path fails here with LUTDB_EEXIST, and one
 * that appears before the commit makes the commit fail the same way;
 * overwrite 1 replaces a regular file atomically (a shard directory is
 * never replaced).  Whatever else is at out_path is refused here and left
 * untouched, as lutdb_output_check() says: a symbolic link (LUTDB_EINVAL),
 * a device, FIFO, socket or directory (LUTDB_EEXIST).  On success *out is a writer for lutdb_writer_commit() or
 * lutdb_writer_abort(); on failure NULL. */
LUTDB_API int lutdb_writer_open(const char *out_path, const lutdb_writer_params *p, const lutdb_shard_opts *shards,
				int overwrite, lutdb_writer **out);

/* Stores a meta blob (config.json, tokenizer.json, ...); data is copied.
 * config.json goes to every shard, every other blob to the first. */
LUTDB_API int lutdb_writer_put_blob(lutdb_writer *w, const char *name, const void *data, size_t len);

/* Reserves a tensor record and returns in *payload where to write its
 * nbytes = lutdb_dtype_bytes(dtype, 32, prod(shape)) bytes (dtype F32, F16,
 * BF16, Q8_0 or Q4_0; a quantized tensor's last dimension is a multiple of
 * 32): memory owned by w, valid until
 * the next writer call.  Tensors go to the first shard and must be added in
 * strictly increasing name order (bytewise).  Finish with
 * lutdb_writer_tensor_end(). */
LUTDB_API int lutdb_writer_tensor_begin(lutdb_writer *w, const char *name, int dtype, uint32_t ndim,
					const uint64_t *shape, void **payload);
LUTDB_API int lutdb_writer_tensor_end(lutdb_writer *w);

/* Stores the rows of tokens [token_first, token_first + count), each
 * lutdb_writer_token_row_bytes() raw bytes of the table dtype (quantized:
 * the row's blocks, as lutdb_row says), all layers,
 * layer-major, reading row i at rows + i * src_stride.  Rows are copied
 * (and encoded with the table codec; each shard takes its tokens or
 * layers).  Calls must cover [0, vocab) in increasing order, after every
 * blob and tensor (a blob after the first row is LUTDB_EINVAL); the writer
 * groups rows into records of block_tokens.  LUTDB_ENOSPC when the shard
 * these rows start cannot reserve its space (lutdb_writer_open). */
LUTDB_API int lutdb_writer_put_rows(lutdb_writer *w, uint32_t token_first, uint32_t count, const void *rows,
				    size_t src_stride);

/* Stores each file's header and digest records, commits, syncs and trims
 * it; for shards writes the manifest last; renames the result to out_path
 * and syncs the directory.  Frees w, also on failure (after removing the
 * temporary output). */
LUTDB_API int lutdb_writer_commit(lutdb_writer *w);

/* Discards everything: removes the temporary output and frees w.  NULL is
 * a no-op.  Safe to call on a writer whose previous call failed. */
LUTDB_API void lutdb_writer_abort(lutdb_writer *w);

/* Bytes of one token's row as lutdb_writer_put_rows() takes it. */
LUTDB_API uint64_t lutdb_writer_token_row_bytes(const lutdb_writer *w);

/* Path of the temporary output (for signal handlers that must remove it):
 * the file, or for shards the directory.  Owned by w, valid until commit
 * or abort. */
LUTDB_API const char *lutdb_writer_tmp_path(const lutdb_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_H */
