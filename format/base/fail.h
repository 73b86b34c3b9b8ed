/*
 * fail.h - recording the context of a failure (library-internal).
 *
 * A failing function returns its code through one of these, which also
 * writes the calling thread's detail text (lutdb_errdetail()):
 *   return lutdb_fail(LUTDB_EIO, "%s: %s", path, strerror(errno));
 */
#ifndef LUTDB_FAIL_H
#define LUTDB_FAIL_H

#include "lutdb_err.h"

/* Records context for the failure being returned; returns code.
 * printf-style. */
int lutdb_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current detail with more context ("file: " + old detail).
 * Returns code. */
int lutdb_fail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
int lutdb_corrupt_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* LUTDB_FAIL_H */
