/*
 * lmdb_check.h - validating an untrusted LMDB file before LMDB reads it
 * (lmdb_check.c says what is checked and why).
 */
#ifndef LUTDB_LMDB_CHECK_H
#define LUTDB_LMDB_CHECK_H

#include <stdint.h>

/* Checks the meta pages, every branch and leaf page and every overflow
 * extent of the file open at fd (path names it in error details), of
 * file_size bytes, through a private read-only mapping.  On success
 * *main_root is the page number of the main database's root.  Damage is
 * LUTDB_ECORRUPT naming the page. */
int lutdb_lmdb_validate(const char *path, int fd, uint64_t file_size, uint64_t *main_root);

#endif /* LUTDB_LMDB_CHECK_H */
