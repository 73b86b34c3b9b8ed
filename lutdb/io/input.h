/*
 * input.h - reading files from outside (library-internal; the public half
 * is lutdb.h's "files from outside").
 *
 * The store reads a manifest from the descriptor it already opened and
 * sniffed, rather than opening the path a second time (a file swapped in
 * between would be read unchecked); this is that read.
 */
#ifndef LUTDB_INPUT_H
#define LUTDB_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Reads fd from its current offset to its end into a new NUL-terminated
 * buffer (*data, *len; free() it), never more than cap + 1 bytes: more than
 * cap fails with too_big, naming what.  size_hint (the file's size, or 0
 * when unknown) sizes the first allocation, so a regular file is read with
 * one allocation and no copy.  On failure *data is NULL and *len 0. */
int lutdb_input_read_fd(int fd, const char *what, uint64_t size_hint, uint64_t cap, int too_big, char **data,
			size_t *len);

#endif /* LUTDB_INPUT_H */
