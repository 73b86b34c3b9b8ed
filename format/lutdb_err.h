/*
 * lutdb_err.h - the base of every lutdb header: the export macro, the one
 * list of error codes, and lutdb_free().
 *
 * Every fallible lutdb call returns an int: LUTDB_OK (0) on success or one of
 * the negative codes below.  The values are pinned: they are part of the ABI
 * and never renumbered; new codes are appended.  System errno values and LMDB
 * return codes never escape the library: they are mapped to these codes and
 * the original number is kept in the thread's error detail text.
 *
 * lutdb_strerror() words a code.  lutdb_errdetail() returns the context of the
 * last failure on the calling thread (file, key, offset, and in debug builds
 * the source line of the check that fired), e.g.
 *   "model.lutdb: table key (layer 3, token 77): checksum mismatch".
 */
#ifndef LUTDB_ERR_H
#define LUTDB_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions the shared library exports.  The library is built
 * with -fvisibility=hidden, so everything else stays internal. */
#if defined(__GNUC__) || defined(__clang__)
#define LUTDB_API __attribute__((visibility("default")))
#else
#define LUTDB_API
#endif

/* Option structs (lutdb_model_opts, lutdb_pack_opts, ...) begin with
 * `size_t size`, which the caller sets to the size of the struct it was
 * compiled with; a zero-initialised rest means "the defaults":
 *     lutdb_model_opts o = {.size = sizeof o};  o.threads = 2;       (C)
 *     lutdb_model_opts o{};  o.size = sizeof o;  o.threads = 2;     (C++)
 * ({sizeof o} alone trips -Wmissing-field-initializers, part of -Wextra.)
 * The library reads only the fields that fit in size and uses the default
 * for the others, so a struct that grows at its end keeps old programs
 * working.  A struct from a newer header (size larger than the library
 * knows) is accepted when its unknown fields are all zero, else the call
 * fails with LUTDB_EUNSUPPORTED; a size smaller than the first version of
 * the struct is LUTDB_EINVAL.  Passing NULL for an options pointer means
 * all defaults. */

/* X(name, value, message) */
#define LUTDB_ERROR_LIST(X)                                      \
	X(LUTDB_OK, 0, "success")                                \
	X(LUTDB_EINVAL, -1, "invalid argument")                  \
	X(LUTDB_ENOMEM, -2, "out of memory")                     \
	X(LUTDB_EIO, -3, "I/O error")                            \
	X(LUTDB_ENOENT, -4, "not found")                         \
	X(LUTDB_ECORRUPT, -5, "database is damaged")             \
	X(LUTDB_EVERSION, -6, "unsupported format version")      \
	X(LUTDB_EBADINPUT, -7, "bad input checkpoint")           \
	X(LUTDB_ERANGE, -8, "value out of range")                \
	X(LUTDB_EEXIST, -9, "already exists")                    \
	X(LUTDB_ENOSPC, -10, "no space left on device")          \
	X(LUTDB_ETOOBIG, -11, "size limit exceeded")             \
	X(LUTDB_ECHECKSUM, -12, "checksum mismatch")             \
	X(LUTDB_EINTR, -13, "interrupted")                       \
	X(LUTDB_EUNSUPPORTED, -14, "unsupported feature")        \
	X(LUTDB_ECONTEXT, -15, "context length exceeded")        \
	X(LUTDB_ETOKENIZER, -16, "bad tokenizer")                \
	X(LUTDB_ESHARD, -17, "shard mismatch")                   \
	X(LUTDB_EINTERNAL, -18, "internal error")

enum lutdb_error {
#define LUTDB_X_ENUM(name, value, msg) name = value,
	LUTDB_ERROR_LIST(LUTDB_X_ENUM)
#undef LUTDB_X_ENUM
};

/* A static English sentence for code; never NULL ("unknown error" for
 * codes not in the list). */
LUTDB_API const char *lutdb_strerror(int code);

/* Context of the last failure on the calling thread: a NUL-terminated string
 * owned by the library, valid until the next lutdb call on this thread.
 * Empty ("") when the last failure set no context. */
LUTDB_API const char *lutdb_errdetail(void);

/* Releases memory that a lutdb function allocated for the caller and said
 * so at its declaration (id arrays, decoded text, ...).  NULL is a no-op.
 * Use it rather than free(): the library and the program may not share an
 * allocator. */
LUTDB_API void lutdb_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_ERR_H */
