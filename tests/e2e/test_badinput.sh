#!/usr/bin/env bash
# tests/e2e/test_badinput.sh - the bad-input catalogue.
#
# Every bad input gets exactly one line on stderr holding a stable
# substring, and the documented exit code (README, "Exit codes"): 2 usage,
# 3 bad input checkpoint or tokenizer, 4 damaged database, 5 I/O or output
# exists, 6 not found.  Every failed pack leaves no OUT and no temporary
# file behind.  Bad checkpoints are made from the reference fixtures at
# test time (tests/e2e/lib.sh: st_py, bytes_py).
. "$(dirname "$0")/lib.sh"
e2e_init badinput
cd "$T" || exit 1
F=$LUTDB_FIXTURES

# ---- damaged checkpoints: pack fails with 3, nothing at OUT -----------------
bad_pack() { # DESC CODE SUBSTRING SRC [pack options]
	local desc=$1 code=$2 sub=$3 src=$4
	shift 4
	expect_fail "pack: $desc" "$code" "$sub" lutdb pack "$src" "$T/out.lutdb" --quiet --threads 2 "$@"
	no_output "pack: $desc" "$T/out.lutdb"
}

ckpt_copy mole_train_f32 c_noconfig
rm c_noconfig/config.json
bad_pack "missing config.json" 3 "config.json: missing" c_noconfig

ckpt_copy mole_train_f32 c_missing
st_py drop c_missing/model.safetensors model.layers.1.router.weight
bad_pack "missing tensor" 3 "tensor model.layers.1.router.weight is missing" c_missing

ckpt_copy mole_train_f32 c_shape
st_py reshape c_shape/model.safetensors model.layers.1.router.weight 4,64
bad_pack "wrong shape" 3 "model.layers.1.router.weight has shape [4, 64], config.json implies [3, 64]" c_shape

ckpt_copy mole_train_f32 c_i64
st_py dtype c_i64/model.safetensors model.norm.weight I64
bad_pack "unknown dtype I64" 3 "dtype I64 is not supported" c_i64

ckpt_copy mole_train_f32 c_trunc
st_py truncate c_trunc/model.safetensors 100
bad_pack "truncated safetensors" 3 "truncated" c_trunc

ckpt_copy mole_train_f32 c_overlap
st_py overlap c_overlap/model.safetensors
bad_pack "overlapping data offsets" 3 "overlaps tensor" c_overlap

ckpt_copy mole_train_sharded c_noshard
rm c_noshard/model-00002-of-00003.safetensors
bad_pack "index names a missing shard" 3 "model-00002-of-00003.safetensors: missing weight file" c_noshard

ckpt_copy mole_train_sharded c_twice
st_py copy c_twice/model-00001-of-00003.safetensors c_twice/model-00002-of-00003.safetensors \
	model.layers.0.mlp.up_proj.weight
bad_pack "tensor in two shards" 3 "model.layers.0.mlp.up_proj.weight is in another file" c_twice

ckpt_copy mole_train_f32 c_inf
st_py set c_inf/model.safetensors model.layers.1.experts.0.down_proj.weight 5 inf
bad_pack "infinite expert weight (training form)" 3 "table value of layer 1, token 0, expert 0 is not finite" c_inf

ckpt_copy mole_rep_f32 c_nan
# rep form: row 42 of the table [V, L*N*d]; element 200 is layer 1 (N*d = 128), expert 1
st_py set c_nan/model.safetensors model.moe_table.weight $((42 * 256 + 200)) nan
bad_pack "NaN in a rep table row" 3 "table value of layer 1, token 42, expert 1 is not finite" c_nan

ckpt_copy mole_train_f32 c_rope
st_py config c_rope/config.json rope_scaling '{"type": "linear", "factor": 2.0}'
bad_pack "non-null rope_scaling" 3 "rope_scaling must be null" c_rope

ckpt_copy molkv_train_f32 c_kvheads
st_py config c_kvheads/config.json kv_expert_heads 3
bad_pack "MoLKV H not dividing dk" 3 "kv_expert_heads 3 must divide both kv_expert_dim 32" c_kvheads

ckpt_copy mole_train_f32 c_heads
st_py config c_heads/config.json num_attention_heads 5
bad_pack "heads not dividing hidden_size" 3 "num_attention_heads 5 does not divide hidden_size 64" c_heads

ckpt_copy mole_train_f32 c_fewer
st_py config c_fewer/config.json num_experts 2
bad_pack "num_experts below the tensors" 3 "router.weight has shape [3, 64], config.json implies [2, 64]" c_fewer

ckpt_copy mole_train_f32 c_more
st_py config c_more/config.json num_experts 4
bad_pack "num_experts above the tensors" 3 "experts.3.down_proj.weight is missing" c_more

ckpt_copy mole_train_f32 c_eps
st_py config c_eps/config.json rms_norm_eps 1e-85
bad_pack "rms_norm_eps below float range" 3 "rms_norm_eps\" must be a positive number" c_eps

ckpt_copy mole_train_f32 c_huge
st_py config c_huge/config.json num_hidden_layers 65535
st_py config c_huge/config.json num_experts 65535
bad_pack "65535 layers x 65535 experts (no memory exhaustion)" 3 "make 8590327804 tensors (at most 1000000)" c_huge

printf '{"version": "1.0", "model": ' >bad_tokenizer.json
bad_pack "unparsable --tokenizer" 3 "not valid JSON" "$F/mole_rep_f16/ckpt" --tokenizer bad_tokenizer.json

bad_pack "not a checkpoint directory" 3 "not a checkpoint directory" "$T/nonexistent"

# ---- damaged databases: 4 ---------------------------------------------------
expect_ok "pack the reference database (mole_rep_f32)" \
	lutdb pack "$F/mole_rep_f32/ckpt" good.lutdb --quiet --threads 2
cp good.lutdb trunc.lutdb
truncate -s $(($(stat -c %s good.lutdb) / 2)) trunc.lutdb
expect_fail "open a truncated database" 4 "(truncated?)" lutdb info trunc.lutdb
expect_fail "verify a truncated database" 4 "(truncated?)" lutdb verify trunc.lutdb

# A row's bytes: with an F32 table, `get --raw` prints the stored bytes.
lutdb get good.lutdb --layer 0 --token 77 --raw >row77.bin
hex=$(head -c 64 row77.bin | od -An -tx1 -v | tr -d ' \n')
off=$(bytes_py find good.lutdb "$hex")
cp good.lutdb rowflip.lutdb
bytes_py flip rowflip.lutdb $((off + 40))
expect_fail "verify names the damaged row" 4 "table key (layer 0, token 77): row checksum mismatch" \
	lutdb verify rowflip.lutdb
expect_fail "get of the damaged row" 4 "(layer 0, token 77): row checksum mismatch" \
	lutdb get rowflip.lutdb --layer 1 --token 77
expect_ok "get of an intact row of the same file" lutdb get rowflip.lutdb --layer 0 --token 78

off=$(bytes_py find good.lutdb "$(printf 'LUTDB\r\n\032' | od -An -tx1 | tr -d ' \n')")
cp good.lutdb hdrflip.lutdb
bytes_py flip hdrflip.lutdb $((off + 24)) # the vocabulary size
expect_fail "flipped byte in the file header" 4 "meta record \"lutdb\": checksum mismatch" lutdb info hdrflip.lutdb

cp good.lutdb meta0.lutdb
bytes_py zero meta0.lutdb 0 4096
expect_fail "zero-filled meta page" 4 "not an LMDB file (bad meta page 0)" lutdb info meta0.lutdb

cp good.lutdb psize.lutdb
bytes_py set32 psize.lutdb $((4096 + 40)) 0 # meta page 1 (the newer): page size 0
expect_fail "meta page 1 with page size 0" 4 "page size 0 (meta page 1) is not supported" lutdb verify psize.lutdb

head -c 20000 /dev/urandom | base64 >text.lutdb
expect_fail "not an LMDB file" 4 "not an LMDB file" lutdb info text.lutdb
: >empty.lutdb
expect_fail "empty file" 4 "too small for a database" lutdb verify empty.lutdb
mkdir dir.lutdb
expect_fail "directory instead of a file" 2 "not a regular file" lutdb info dir.lutdb
expect_fail "missing database file" 6 "No such file or directory" lutdb info nonexistent.lutdb

mkdir selfref
printf '{"lutdb_manifest": 1, "format": "1.0", "pack_id": "%s", "split": "token", "vocab": 260, "layers": 2, "shards": [{"file": "manifest.json", "bytes": 1, "digest": "%s", "tokens": [0, 260], "layers": [0, 2]}]}\n' \
	00112233445566778899aabbccddeeff 00112233445566778899aabbccddeeff >selfref/manifest.json
expect_fail "manifest naming itself as a shard" 4 "a manifest, not a shard database file" lutdb info selfref/manifest.json

# ---- bad arguments: 2 --------------------------------------------------------
expect_fail "unknown command" 2 "unknown command 'frobnicate'" lutdb frobnicate
expect_fail "unknown option" 2 "bad option" lutdb pack --bogus "$F/mole_rep_f16/ckpt" out.lutdb
no_output "pack with an unknown option" out.lutdb
expect_fail "bad --dtype" 2 "--dtype must be f32, f16, bf16, q8_0 or q4_0, not 'f8'" \
	lutdb pack "$F/mole_rep_f16/ckpt" out.lutdb --dtype f8
no_output "pack with a bad --dtype" out.lutdb
expect_fail "pack without OUT" 2 "expected SRC and OUT" lutdb pack "$F/mole_rep_f16/ckpt"
expect_fail "get --layer out of range" 2 "layer 2 is out of range (the model has 2 layers)" \
	lutdb get good.lutdb --layer 2 --token 0
expect_fail "get --token >= V" 2 "token 260 is out of range (vocabulary size 260)" \
	lutdb get good.lutdb --layer 0 --token 260
expect_fail "get --token not a number" 2 "--token must be a non-negative integer" \
	lutdb get good.lutdb --layer 0 --token -1

# ---- lutdb run: 2 ------------------------------------------------------------
expect_fail "run with an id >= V" 2 "token id 260 (at index 1) is outside the vocabulary" \
	lutdb run good.lutdb --prompt-ids 1,260 --threads 1
expect_fail "run with an empty prompt" 2 "empty prompt" lutdb run good.lutdb --prompt-ids "" --threads 1
expect_fail "run with a subnormal --temp says so" 2 "--temp 1e-45 is below the smallest normal float" \
	lutdb run good.lutdb --prompt-ids 1 --temp 1e-45
expect_fail "run with a subnormal --top-p says so" 2 "--top-p 1e-40 is below the smallest normal float" \
	lutdb run good.lutdb --prompt-ids 1 --temp 1 --top-p 1e-40
expect_fail "run with a negative --temp gives the range" 2 "--temp must be a number from 0 to 1e6, not '-1'" \
	lutdb run good.lutdb --prompt-ids 1 --temp -1
expect_fail "run with a prompt longer than the context" 2 "max_position_embeddings is 32" \
	lutdb run good.lutdb --prompt-ids "$(seq -s, 1 40)" -n 1 --threads 1 --quiet
expect_fail "run generating past the context" 2 "context length exceeded" \
	lutdb run good.lutdb --prompt-ids 1,2,3 -n 100 --threads 1 --quiet
expect_fail "run with a malformed id list" 2 "--prompt-ids" lutdb run good.lutdb --prompt-ids "1,,2" --threads 1

# ---- files that are not regular files (tests/e2e/test_paths.sh has the rest) ----
mkfifo db.fifo
expect_fail "a FIFO as the database (no hang)" 2 "not a regular file (a FIFO)" timeout "$(scaled 20)" "$LUTDB_BIN" info db.fifo
expect_fail "eval --ids /dev/zero (refused before reading)" 2 "not a regular file (a character device)" \
	timeout "$(scaled 20)" "$LUTDB_BIN" eval good.lutdb --ids /dev/zero
lutdb shard good.lutdb sh3 --count 2 --quiet
rm sh3/model-00002-of-00002.lutdb
mkdir sh3/model-00002-of-00002.lutdb
expect_fail "a shard that is a directory" 4 "not a regular file (a directory)" lutdb info sh3/manifest.json
ckpt_copy mole_rep_f16 c_cfgfifo
rm c_cfgfifo/config.json
mkfifo c_cfgfifo/config.json
bad_pack "config.json a FIFO (no hang)" 3 "config.json: not a regular file (a FIFO)" c_cfgfifo
expect_fail "pack onto a FIFO" 5 "is a FIFO, not a regular file" lutdb pack "$F/mole_rep_f16/ckpt" db.fifo --quiet
check "pack left the FIFO a FIFO" test -p db.fifo
ln -s good.lutdb link.lutdb
expect_fail "merge onto a symbolic link" 2 "is a symbolic link" lutdb merge good.lutdb link.lutdb --quiet
check "merge left the link a link" test -L link.lutdb
cp good.lutdb junk.lutdb
head -c 1048576 /dev/zero >>junk.lutdb
expect_fail "verify a database with 1 MiB of junk appended" 4 "1048576 bytes follow the last page" \
	lutdb verify junk.lutdb
stdout_full() { "$@" >/dev/full; }
expect_fail "info --json with stdout on /dev/full" 5 "stdout: write error" stdout_full lutdb info good.lutdb --json

# ---- I/O: 5 ------------------------------------------------------------------
expect_ok "pack into a fresh file" lutdb pack "$F/mole_rep_f16/ckpt" o1.lutdb --quiet --threads 2
mkdir o2.lutdb
expect_fail "pack onto a directory" 5 "o2.lutdb" lutdb pack "$F/mole_rep_f16/ckpt" o2.lutdb --quiet --threads 2
check "pack onto a directory left it alone" test -d o2.lutdb
[ -z "$(tmp_files_of "$T/o2.lutdb")" ] && pass "pack onto a directory: no temporary file" ||
	fail "pack onto a directory: temporary file left"
expect_fail "pack into a missing directory" 6 "No such file or directory" \
	lutdb pack "$F/mole_rep_f16/ckpt" "$T/nodir/o.lutdb" --quiet --threads 2
mkdir exp && touch exp/config.json
expect_fail "export never overwrites a file" 5 "exp/config.json" lutdb export good.lutdb exp
check "export left the existing file empty" test ! -s exp/config.json

e2e_finish
