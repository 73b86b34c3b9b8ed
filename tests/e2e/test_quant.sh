#!/usr/bin/env bash
# Quantized tables and weights through the CLI (issue 13, spec/FORMAT.md
# section 10): pack and quantize per type, info (text and --json), get,
# export, verify, shard and merge; the error report; bad options naming the
# dimension; a manifest quantized into one file; float packs still 1.0.
# The bytes themselves are checked against the PyTorch reference by
# tests/unit/test_pack_quant.
. "$(dirname "$0")/lib.sh"
e2e_init quant
FX=$LUTDB_FIXTURES
MOLE=$FX/mole_rep_f16/ckpt         # d 64
MOLKV=$FX/molkv_train_f32/ckpt     # d 64, dk 32

jget() { # jget FILE EXPR: a value of info --json
	$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"j": j}))' "$1" "$2"
}

expect_ok "pack F16 (float: format 1.0)" lutdb pack "$MOLE" "$T/f16.lutdb" --quiet
lutdb info --json "$T/f16.lutdb" >"$T/f16.json"
check "a float pack is format 1.0 with table.block 0" \
	test "$(jget "$T/f16.json" 'j["format"], j["table"]["block"]')" = "('1.0', 0)"

for spec in "q8_0 32 Q8_0" "q4_0 32 Q4_0" "nf4 64 NF4" "nf4 32 NF4" "nf3 32 NF3"; do
	set -- $spec
	t=$1 b=$2 name=$3
	db=$T/mole.$t.$b.lutdb
	expect_ok "pack --table-dtype $t --table-block $b --weight-dtype q8_0" \
		lutdb pack "$MOLE" "$db" --table-dtype "$t" --table-block "$b" --weight-dtype q8_0
	check "pack $t reports the table's and the weights' error" \
		grep -q "^quantization error, table $name (block $b): .* relative RMS 0\.[0-9]*, max abs .* at layer [0-9]*, token [0-9]*, expert [0-9]*$" "$T/.err"
	check "pack $t reports the weights' error with the tensor" \
		grep -q "^quantization error, weights Q8_0: .* in [a-z_.0-9]*weight (element [0-9]*)$" "$T/.err"
	lutdb info --json "$db" >"$T/i.json"
	check "info --json: $name, block $b, format 1.1" \
		test "$(jget "$T/i.json" 'j["format"], j["table"]["dtype"], j["table"]["block"]')" = "('1.1', '$name', $b)"
	check "info: table line shows the block" grep -q "^table       $name (block $b), codec none" <(lutdb info "$db")
	check "info --tensors lists a norm as F16 and a projection as Q8_0" \
		bash -c "lutdb_() { \"$LUTDB_BIN\" \"\$@\"; }; out=\$(lutdb_ info --tensors '$db');
			grep -q '^  model.norm.weight  *F16 ' <<<\"\$out\" && grep -q '^  model.layers.0.self_attn.q_proj.weight  *Q8_0 ' <<<\"\$out\""
	expect_ok "verify $t" lutdb verify "$db"
	# get prints dequantized float32: --raw is 4 bytes per value.
	lutdb get "$db" --layer 1 --token 7 --raw >"$T/row.f32"
	check "get --raw: $(jget "$T/i.json" 'j["table"]["layer_row_elems"]') float32 values" \
		test "$(stat -c %s "$T/row.f32")" = "$((4 * $(jget "$T/i.json" 'j["table"]["layer_row_elems"]')))"
	check "get --json names the dtype and block" \
		grep -q "\"dtype\": \"$name\", \"block\": $b," <(lutdb get "$db" --layer 0 --token 3 --json)
done

# Q4_0 table: at most 0.30x the F16 table's bytes.
lutdb info --json "$T/mole.q4_0.32.lutdb" >"$T/q4.json"
check "Q4_0 table bytes <= 0.30 x F16 table bytes" \
	test "$(jget "$T/q4.json" 'j["table"]["bytes"]')" -le "$(($(jget "$T/f16.json" 'j["table"]["bytes"]') * 30 / 100))"

# Bad block sizes name the dimension; nothing is written.
expect_fail "NF4 block 64 does not divide dk = 32" 2 "NF4 block 64 does not divide dk = 32" \
	lutdb pack "$MOLKV" "$T/bad.lutdb" --table-dtype nf4 --table-block 64 --quiet
no_output "a refused pack leaves nothing" "$T/bad.lutdb"
expect_fail "NF4 block 128 does not divide d = 64" 2 "does not divide d = 64" \
	lutdb pack "$MOLE" "$T/bad.lutdb" --table-dtype nf4 --table-block 128 --quiet
expect_fail "NF3 block 48 is not a multiple of 32" 2 "48" \
	lutdb pack "$MOLE" "$T/bad.lutdb" --table-dtype nf3 --table-block 48 --quiet
expect_fail "Q8_0 takes only block 32" 2 "Q8_0" \
	lutdb pack "$MOLE" "$T/bad.lutdb" --table-dtype q8_0 --table-block 64 --quiet
expect_fail "--weight-dtype nf4 is refused" 2 "--weight-dtype must be" \
	lutdb pack "$MOLE" "$T/bad.lutdb" --weight-dtype nf4 --quiet
expect_fail "--dtype nf3 is refused" 2 "--table-dtype" lutdb pack "$MOLE" "$T/bad.lutdb" --dtype nf3 --quiet
expect_fail "--tensor-dtype on a norm" 2 "cannot be stored Q4_0" \
	lutdb pack "$MOLE" "$T/bad.lutdb" --tensor-dtype model.norm.weight=q4_0 --quiet
expect_fail "--tensor-dtype on no tensor" 2 "no tensor nosuch.weight" \
	lutdb pack "$MOLE" "$T/bad.lutdb" --tensor-dtype nosuch.weight=q8_0 --quiet
expect_fail "--tensor-dtype without =T" 2 "NAME=T" lutdb pack "$MOLE" "$T/bad.lutdb" --tensor-dtype lm_head.weight --quiet

# Overrides: the head at Q8_0 when the rest is Q4_0; --dtype q4_0 sets both parts.
expect_ok "pack --dtype q4_0 --tensor-dtype lm_head.weight=q8_0" \
	lutdb pack "$MOLE" "$T/ov.lutdb" --dtype q4_0 --tensor-dtype lm_head.weight=q8_0 --quiet
lutdb info --json "$T/ov.lutdb" >"$T/ov.json"
check "the head is Q8_0, the table and the projections Q4_0" \
	test "$(jget "$T/ov.json" '[t["dtype"] for t in j["tensors"]["list"] if t["name"] in ("lm_head.weight", "model.layers.0.mlp.up_proj.weight")], j["table"]["dtype"]')" = "(['Q8_0', 'Q4_0'], 'Q4_0')"

# quantize: from F32, equal to pack; from a manifest, one file.
expect_ok "pack F32" lutdb pack "$MOLKV" "$T/f32.lutdb" --dtype f32 --quiet
expect_ok "pack F32 + Q4_0 table + Q8_0 weights" \
	lutdb pack "$MOLKV" "$T/p.lutdb" --dtype f32 --table-dtype q4_0 --weight-dtype q8_0 --quiet
expect_ok "quantize the F32 database the same way" \
	lutdb quantize "$T/f32.lutdb" "$T/q.lutdb" --table-dtype q4_0 --weight-dtype q8_0 --threads 2
check "quantize reports the errors (MoLKV: key or value)" \
	grep -q "^quantization error, table Q4_0 (block 32): .* expert [0-9]* (\(key\|value\))$" "$T/.err"
for tok in 0 100 264; do
	check "quantize = pack: row of token $tok" \
		cmp -s <(lutdb get "$T/p.lutdb" --layer 1 --token $tok --raw) <(lutdb get "$T/q.lutdb" --layer 1 --token $tok --raw)
done
expect_ok "shard the quantized database by layer" lutdb shard "$T/q.lutdb" "$T/sh" --count 2 --by layer
expect_ok "verify the shards" lutdb verify "$T/sh/manifest.json"
check "get through the manifest = get from the file" \
	cmp -s <(lutdb get "$T/sh/manifest.json" --layer 1 --token 5 --raw) <(lutdb get "$T/q.lutdb" --layer 1 --token 5 --raw)
expect_ok "merge the shards" lutdb merge "$T/sh/manifest.json" "$T/m.lutdb"
check "merge gives back the digest" \
	test "$(lutdb info --json "$T/m.lutdb" | grep '"digest"')" = "$(lutdb info --json "$T/q.lutdb" | grep '"digest"')"
expect_ok "shard the F32 database by token" lutdb shard "$T/f32.lutdb" "$T/sh32" --count 3
expect_ok "quantize a manifest into one file" \
	lutdb quantize "$T/sh32/manifest.json" "$T/qm.lutdb" --table-dtype q4_0 --weight-dtype q8_0 --quiet
check "quantize of the manifest = quantize of the file" \
	cmp -s <(lutdb get "$T/qm.lutdb" --layer 0 --token 200 --raw) <(lutdb get "$T/q.lutdb" --layer 0 --token 200 --raw)
check "the result is one file" test "$(jget <(lutdb info --json "$T/qm.lutdb") 'j["shard"]["count"]')" = 1
expect_ok "quantize keeps a part not named (weights only)" \
	lutdb quantize "$T/q.lutdb" "$T/k.lutdb" --weight-dtype q4_0 --quiet
check "the table kept its Q4_0 bytes" \
	cmp -s <(lutdb get "$T/k.lutdb" --layer 1 --token 9 --raw) <(lutdb get "$T/q.lutdb" --layer 1 --token 9 --raw)
expect_fail "quantize: NF4 block 64 names dk" 2 "does not divide dk = 32" \
	lutdb quantize "$T/f32.lutdb" "$T/bad.lutdb" --table-dtype nf4 --quiet
no_output "a refused quantize leaves nothing" "$T/bad.lutdb"
expect_fail "quantize onto an existing directory" 5 "" lutdb quantize "$T/f32.lutdb" "$T/sh" --table-dtype q8_0 --quiet

# export writes dequantized values and says so.
expect_ok "export a quantized database (F16 default)" lutdb export "$T/q.lutdb" "$T/ex16" --quiet
check "export says what it dequantized" grep -q "^export: the Q4_0 table (block 32) is written dequantized as F16$" "$T/.err"
expect_ok "export --dtype f32" lutdb export "$T/q.lutdb" "$T/ex32" --dtype f32 --quiet
expect_ok "pack the F32 export back" lutdb pack "$T/ex32" "$T/back.lutdb" --dtype f32 --quiet
check "the exported F32 table is the dequantized table" \
	cmp -s <(lutdb get "$T/back.lutdb" --layer 1 --token 42 --raw) <(lutdb get "$T/q.lutdb" --layer 1 --token 42 --raw)

# The table paths of quantize: rows in the map widened (F32, F16) or decoded
# (Q4_0) by the pool's tasks, compressed rows staged by one thread, with and
# without the error report (--quiet does not measure it): the same bytes.
expect_ok "quantize the F32 database, --quiet, one thread" \
	lutdb quantize "$T/f32.lutdb" "$T/q1.lutdb" --table-dtype q4_0 --weight-dtype q8_0 --threads 1 --quiet
for tok in 0 77 264; do
	check "--quiet and one thread give the same rows: token $tok" \
		cmp -s <(lutdb get "$T/q1.lutdb" --layer 0 --token $tok --raw) <(lutdb get "$T/q.lutdb" --layer 0 --token $tok --raw)
done
expect_ok "requantize the Q4_0 table as Q8_0" \
	lutdb quantize "$T/q.lutdb" "$T/rq.lutdb" --table-dtype q8_0 --threads 2 --quiet
expect_ok "quantize its F32 export as Q8_0" \
	lutdb quantize "$T/back.lutdb" "$T/bq.lutdb" --table-dtype q8_0 --threads 2 --quiet
for tok in 0 42 264; do
	check "requantized = quantized from the dequantized floats: token $tok" \
		cmp -s <(lutdb get "$T/rq.lutdb" --layer 1 --token $tok --raw) <(lutdb get "$T/bq.lutdb" --layer 1 --token $tok --raw)
done
expect_ok "pack F16 with an lz4 table" lutdb pack "$MOLKV" "$T/z16.lutdb" --dtype f16 --codec lz4 --quiet
expect_ok "pack F16" lutdb pack "$MOLKV" "$T/p16.lutdb" --dtype f16 --quiet
expect_ok "quantize the lz4 F16 database as NF3" \
	lutdb quantize "$T/z16.lutdb" "$T/zq.lutdb" --table-dtype nf3 --table-block 32 --threads 2 --quiet
expect_ok "quantize the F16 database as NF3" \
	lutdb quantize "$T/p16.lutdb" "$T/pq.lutdb" --table-dtype nf3 --table-block 32 --threads 2 --quiet
for tok in 3 200; do
	check "staged rows = rows widened in the tasks: token $tok" \
		cmp -s <(lutdb get "$T/zq.lutdb" --layer 0 --token $tok --raw) <(lutdb get "$T/pq.lutdb" --layer 0 --token $tok --raw)
done

# A damaged row is found by the thread that reads it (a helper's step, not
# the first) and named.
lutdb get "$T/f32.lutdb" --layer 0 --token 201 --raw >"$T/row201.bin"
off=$(bytes_py find "$T/f32.lutdb" "$(head -c 64 "$T/row201.bin" | od -An -tx1 -v | tr -d ' \n')")
cp "$T/f32.lutdb" "$T/flip.lutdb"
bytes_py flip "$T/flip.lutdb" $((off + 40))
expect_fail "quantize of a damaged row names it" 4 "token 201" \
	lutdb quantize "$T/flip.lutdb" "$T/fq.lutdb" --table-dtype q8_0 --threads 2 --quiet
check "and the message says why" grep -q "row checksum mismatch" "$T/.err"
no_output "a failed quantize leaves nothing" "$T/fq.lutdb"

# Until the engine decodes quantized parts, run refuses them cleanly.
capture lutdb run "$T/q.lutdb" --prompt-ids 1,2,3 -n 2 --quiet
check "run on a quantized file: a clean refusal or a run, never a crash" test "$E2E_LAST_RC" -lt 64
e2e_finish
