/*
 * lutdb_err.h - the one list of lutdb error codes.
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

/* X(name, value, message, cli_exit_code) */
#define LUTDB_ERROR_LIST(X)                                                     \
	X(LUTDB_OK, 0, "success", 0)                                            \
	X(LUTDB_EINVAL, -1, "invalid argument", 2)                              \
	X(LUTDB_ENOMEM, -2, "out of memory", 1)                                 \
	X(LUTDB_EIO, -3, "I/O error", 5)                                        \
	X(LUTDB_ENOENT, -4, "not found", 6)                                     \
	X(LUTDB_ECORRUPT, -5, "database is damaged", 4)                         \
	X(LUTDB_EVERSION, -6, "unsupported format version", 4)                  \
	X(LUTDB_EBADINPUT, -7, "bad input checkpoint", 3)                       \
	X(LUTDB_ERANGE, -8, "value out of range", 2)                            \
	X(LUTDB_EEXIST, -9, "already exists", 5)                                \
	X(LUTDB_ENOSPC, -10, "no space left on device", 5)                      \
	X(LUTDB_ETOOBIG, -11, "size limit exceeded", 3)                         \
	X(LUTDB_ECHECKSUM, -12, "checksum mismatch", 4)                         \
	X(LUTDB_EINTR, -13, "interrupted", 130)                                 \
	X(LUTDB_EUNSUPPORTED, -14, "unsupported feature", 3)                    \
	X(LUTDB_ECONTEXT, -15, "context length exceeded", 2)                    \
	X(LUTDB_ETOKENIZER, -16, "bad tokenizer", 3)                            \
	X(LUTDB_ESHARD, -17, "shard mismatch", 4)                               \
	X(LUTDB_EINTERNAL, -18, "internal error", 1)

enum lutdb_error {
#define LUTDB_X_ENUM(name, value, msg, exit_code) name = value,
	LUTDB_ERROR_LIST(LUTDB_X_ENUM)
#undef LUTDB_X_ENUM
};

/* A static English sentence for code; never NULL ("unknown error" for
 * codes not in the list). */
const char *lutdb_strerror(int code);

/* The process exit status the lutdb command uses for code (README table). */
int lutdb_exit_code(int code);

/* Context of the last failure on the calling thread: a NUL-terminated string
 * owned by the library, valid until the next lutdb call on this thread.
 * Empty ("") when the last failure set no context. */
const char *lutdb_errdetail(void);

/* Library-internal: record context for the failure being returned; returns
 * code so callers can write `return lutdb_fail(LUTDB_EIO, "%s: %s", ...)`.
 * printf-style. */
int lutdb_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Library-internal: prefix the current detail with more context
 * ("file: " + old detail).  Returns code. */
int lutdb_fail_prefix(int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Clears the calling thread's detail. */
void lutdb_errclear(void);

/* Hostile-input failures: LUTDB_CORRUPT_BKPT(fmt, ...) returns
 * LUTDB_ECORRUPT with the given context and, in debug builds (LUTDB_DEBUG),
 * the source line of the check that fired. */
#ifdef LUTDB_DEBUG
#define LUTDB_CORRUPT_BKPT(...) lutdb_corrupt_at(__FILE__, __LINE__, __VA_ARGS__)
#else
#define LUTDB_CORRUPT_BKPT(...) lutdb_fail(LUTDB_ECORRUPT, __VA_ARGS__)
#endif
int lutdb_corrupt_at(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

#ifdef __cplusplus
}
#endif
#endif /* LUTDB_ERR_H */
