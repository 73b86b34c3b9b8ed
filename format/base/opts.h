/*
 * opts.h - reading the size-prefixed option structs of the public API
 * (lutdb_err.h, "Option structs"), library-internal.
 *
 *   int rc = lutdb_opts_check(o, o ? o->size : 0, sizeof *o, LUTDB_OPTS_MIN(lutdb_model_opts, threads),
 *                             "lutdb_model_new");
 *   int threads = LUTDB_OPT(o, threads, 0);
 */
#ifndef LUTDB_OPTS_H
#define LUTDB_OPTS_H

#include <stddef.h>

/* The field's value when the caller's struct (of o->size bytes) holds it,
 * else dflt; o may be NULL. */
#define LUTDB_OPT(o, field, dflt)                                                                      \
	((o) != NULL && (o)->size >= offsetof(__typeof__(*(o)), field) + sizeof((o)->field) ? (o)->field \
											   : (dflt))

/* Bytes of the first version of a struct: up to and including field. */
#define LUTDB_OPTS_MIN(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* LUTDB_OK when o is NULL or size is in [min, known] or larger with every
 * byte past known zero; otherwise LUTDB_EINVAL (too small) or
 * LUTDB_EUNSUPPORTED (nonzero fields this library does not know), with a
 * detail naming what (the function). */
int lutdb_opts_check(const void *o, size_t size, size_t known, size_t min, const char *what);

#endif /* LUTDB_OPTS_H */
