/*
 * writer_sized.h - the public writer opened with exact sizes (library-
 * internal, for lutdb_shard and lutdb_merge).
 *
 * lutdb_writer_open() sizes the files from the parameters' totals, with
 * room for records of any name and size.  A copy of an open database knows
 * every record it will write, so it plans with their exact file bytes: the
 * shards of `lutdb shard --max-size` are as large as the limit allows.
 */
#ifndef LUTDB_WRITER_SIZED_H
#define LUTDB_WRITER_SIZED_H

#include <stdint.h>

#include "lutdb.h"

/* lutdb_writer_open(), with first_bytes the file bytes of every tensor and
 * blob but config.json, and config_bytes those of config.json
 * (lutdb_plan_add_record); p's sizing fields are ignored. */
int lutdb_writer_open_sized(const char *out_path, const lutdb_writer_params *p, const lutdb_shard_opts *shards,
			    int overwrite, uint64_t first_bytes, uint64_t config_bytes, lutdb_writer **out);

#endif /* LUTDB_WRITER_SIZED_H */
