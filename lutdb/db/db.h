/*
 * db.h - what the public handle offers other rooms beyond lutdb.h
 * (library-internal).
 */
#ifndef LUTDB_DB_H
#define LUTDB_DB_H

#include <stddef.h>

#include "lutdb.h"

/* The stored blobs (config.json, tokenizer.json, provenance.json, ...) in
 * name order, without the header and digest records: what a copy of the
 * database carries over (lutdb_shard, lutdb_merge).  For a shard set, the
 * first shard's.  Pointers as lutdb_blob_get(). */
size_t lutdb_db_blob_count(const lutdb_db *db);
int lutdb_db_blob_at(lutdb_db *db, size_t i, const char **name, const void **data, size_t *len);

#endif /* LUTDB_DB_H */
