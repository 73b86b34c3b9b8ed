/*
 * checkpoint.h - a Hugging Face style checkpoint directory, read in place
 * (internal; used by pack and by tests).
 *
 * A checkpoint is config.json plus weights in model.safetensors, or in the
 * shards listed by model.safetensors.index.json; generation_config.json,
 * tokenizer.json and tokenizer_config.json are picked up when present.
 * Safetensors files are mapped read-only; tensor views point into the maps
 * and stay valid until lutdb_ckpt_close().
 */
#ifndef LUTDB_CHECKPOINT_H
#define LUTDB_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct lutdb_ckpt lutdb_ckpt;

typedef struct lutdb_ckpt_tensor {
	const char *name;   /* owned by the checkpoint */
	const char *file;   /* file name it came from */
	int dtype;
	uint32_t ndim;
	uint64_t dims[8];
	const void *data;   /* into the file's map */
	uint64_t nbytes;
} lutdb_ckpt_tensor;

typedef struct lutdb_ckpt_file {
	char *name;         /* relative to the directory */
	uint64_t size;
	uint8_t digest[16]; /* XXH3-128 of the whole file, canonical */
} lutdb_ckpt_file;

/* An optional small JSON file of the checkpoint, read into memory. */
typedef struct lutdb_ckpt_blob {
	const char *name;
	char *data;         /* NULL when absent */
	size_t len;
} lutdb_ckpt_blob;

int lutdb_ckpt_open(const char *dir, lutdb_ckpt **out);
void lutdb_ckpt_close(lutdb_ckpt *ck);

/* Parsed config.json (generation_config.json's eos applied). */
const lutdb_config *lutdb_ckpt_config(const lutdb_ckpt *ck);
/* Raw bytes of config.json and the optional files (NULL data if absent):
 * index 0 config.json, 1 generation_config.json, 2 tokenizer.json,
 * 3 tokenizer_config.json. */
#define LUTDB_CKPT_NBLOBS 4
const lutdb_ckpt_blob *lutdb_ckpt_blob_at(const lutdb_ckpt *ck, int i);

/* Looks up a tensor: LUTDB_ENOENT (with detail) when absent. */
int lutdb_ckpt_find(const lutdb_ckpt *ck, const char *name, lutdb_ckpt_tensor *out);
/* Whether name exists (no error detail). */
int lutdb_ckpt_has(const lutdb_ckpt *ck, const char *name);
size_t lutdb_ckpt_tensor_count(const lutdb_ckpt *ck);
void lutdb_ckpt_tensor_at(const lutdb_ckpt *ck, size_t i, lutdb_ckpt_tensor *out);

/* Weight files with sizes and digests (digests computed on first call). */
int lutdb_ckpt_files(lutdb_ckpt *ck, const lutdb_ckpt_file **files, size_t *n);

const char *lutdb_ckpt_dir(const lutdb_ckpt *ck);

#endif
