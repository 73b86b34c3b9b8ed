/*
 * plan.h - how big a file of a model will be, and how a model is split
 * into shards (library-internal, for the writer).
 *
 * Estimates are upper bounds of file bytes, counting page-rounded records,
 * table header pages and B-tree pages (spec/FORMAT.md sections 3 and 9):
 * they size each file's map and preallocation, and with a max_size they
 * decide how many rows each shard takes.
 */
#ifndef LUTDB_PLAN_H
#define LUTDB_PLAN_H

#include <stdint.h>

#include "lutdb.h"
#include "manifest.h"

/* A writer creates at most this many files at once (each holds an LMDB
 * environment and a mapping open until the commit). */
#define LUTDB_MAX_OPEN_SHARDS 4096u

/* What the planner needs to know of a model. */
typedef struct lutdb_plan_model {
	uint32_t vocab, layers, block_tokens;
	uint64_t layer_bytes;   /* bytes of one layer's row of one token */
	uint64_t first_bytes;   /* file bytes of the dense tensors and blobs (first shard only) */
	uint64_t config_bytes;  /* file bytes of config.json (every shard) */
} lutdb_plan_model;

/* Fills the sizing fields of pm from the writer parameters' (upper bounds
 * for records of unknown name and size). */
void lutdb_plan_extra(lutdb_plan_model *pm, const lutdb_writer_params *p);

/* Adds to *bytes the file bytes of a record of key_len + value_len bytes
 * (exact sizing, when every record is known: lutdb_shard, lutdb_merge). */
void lutdb_plan_add_record(uint64_t *bytes, size_t key_len, uint64_t value_len);

/* Upper bound of the bytes of a file holding tokens [tb, te) of nlayers
 * layers; first: it also holds the dense tensors and blobs. */
uint64_t lutdb_plan_file_bytes(const lutdb_plan_model *pm, uint32_t nlayers, uint32_t tb, uint32_t te, int first);

/* Splits the model into shards as o says (count or max_size, by token or
 * by layer): fills m's split, nshards and each shard's file name and
 * ranges.  LUTDB_EINVAL, naming the options, when it cannot. */
int lutdb_plan_shards(const lutdb_plan_model *pm, const lutdb_shard_opts *o, lutdb_manifest *m);

#endif /* LUTDB_PLAN_H */
