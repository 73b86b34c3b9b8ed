/*
 * manifest.h - the shard manifest (manifest.json), parsed and written
 * (internal).  spec/FORMAT.md "Shards" defines the document.
 */
#ifndef LUTDB_MANIFEST_H
#define LUTDB_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define LUTDB_MANIFEST_NAME "manifest.json"
#define LUTDB_MAX_SHARDS 65535u
/* The largest manifest lutdb_manifest_dump writes, 65535 shards with
 * 255-byte names and the largest numbers, is 30.7 MiB. */
#define LUTDB_MANIFEST_MAX (32u << 20)

enum lutdb_split { LUTDB_SPLIT_TOKEN = 1, LUTDB_SPLIT_LAYER = 2 };

typedef struct lutdb_manifest_shard {
	char *file;             /* plain file name, relative to the manifest */
	uint64_t bytes;
	uint8_t digest[16];     /* the shard's content digest */
	uint32_t token_begin, token_end, layer_begin, layer_end;
} lutdb_manifest_shard;

typedef struct lutdb_manifest {
	int split;
	uint8_t pack_id[16];
	uint32_t vocab, layers;
	size_t nshards;
	lutdb_manifest_shard *shards;
} lutdb_manifest;

/* Parses and checks a manifest (hostile input; at most LUTDB_MANIFEST_MAX
 * bytes, parsed by lutdb_json_load): version, plain file names, ranges that
 * tile [0, V) x [0, L) in order along the split axis.  LUTDB_ECORRUPT or
 * LUTDB_EVERSION for a bad manifest, LUTDB_ENOMEM when out of memory. */
int lutdb_manifest_parse(const char *json, size_t len, const char *what, lutdb_manifest *out);
void lutdb_manifest_free(lutdb_manifest *m);
/* Serializes m (caller frees the string). */
char *lutdb_manifest_dump(const lutdb_manifest *m);

#endif
