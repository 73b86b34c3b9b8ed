#!/usr/bin/env bash
# tests/e2e/test_json.sh - JSON documents from outside, through the CLI.
#
# Each document has a cap, checked before it is parsed, and its parse stays
# within 32 times its size (spec/SECURITY.md section 1.8): one byte over the
# cap is refused naming the cap; a bomb of tiny values under the cap is
# refused at once, with little memory; out of memory while parsing (ulimit
# -v) is exit 1 "out of memory", never invalid JSON; an untrusted list (the
# checkpoint index's files) is checked in O(n log n).
. "$(dirname "$0")/lib.sh"
e2e_init json
cd "$T" || exit 1
F=$LUTDB_FIXTURES
PYJ=$PY

# Peak RSS of a run of the CLI, in KB (no memcheck: its own memory counts).
peak_kb() {
	/usr/bin/time -f '%M' -o "$T/.rss" "$LUTDB_BIN" "$@" >/dev/null 2>&1
	tail -1 "$T/.rss"
}

# DESC MAX_KB CMD...: the run's peak RSS stays under MAX_KB.
rss_under() {
	local desc=$1 max=$2 kb
	shift 2
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		skip "$desc" "memcheck's own memory would be measured"
		return
	fi
	kb=$(peak_kb "$@")
	if [ -n "$kb" ] && [ "$kb" -lt "$max" ]; then
		pass "$desc ($kb KB)"
	else
		fail "$desc: peak RSS ${kb:-?} KB, expected under $max KB"
	fi
}

# DESC SECONDS CMD...: CMD (expected to fail) ends within SECONDS (native;
# times LUTDB_TIME_SCALE under qemu, where the slow parse it guards against
# is as many times slower).
fast() {
	local desc=$1 secs t0 t1
	secs=$(scaled "$2")
	shift 2
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		skip "$desc" "memcheck is too slow to time"
		return
	fi
	t0=$(date +%s.%N)
	"$LUTDB_BIN" "$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	if awk -v a="$t0" -v b="$t1" -v s="$secs" 'BEGIN { exit !(b - a < s) }'; then
		pass "$desc ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s)"
	else
		fail "$desc: took more than $secs s"
	fi
}

# FILE BYTES HEAD UNIT TAIL: HEAD, UNIT repeated (comma-separated), TAIL,
# at most BYTES long.
bomb() {
	"$PYJ" - "$@" <<'EOF'
import sys
path, n, head, unit, tail = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
k = (n - len(head) - len(tail)) // (len(unit) + 1)
open(path, "w").write(head + ",".join([unit] * k) + tail)
EOF
}

# FILE BYTES: FILE (JSON) padded with spaces to BYTES.
pad_to() {
	"$PYJ" - "$1" "$2" <<'EOF'
import sys
p, n = sys.argv[1], int(sys.argv[2])
s = open(p).read().rstrip()
open(p, "w").write(s + " " * (n - len(s)))
EOF
}

# DESC: false (and a skip) under memcheck, where the documents of tens of MB
# below take minutes.
not_under_memcheck() {
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		skip "$1" "tens of MB under memcheck take minutes (make test runs it)"
		return 1
	fi
}

pack_out() { # DESC CODE SUBSTRING SRC [pack options]
	local desc=$1 code=$2 sub=$3 src=$4
	shift 4
	expect_fail "pack: $desc" "$code" "$sub" lutdb pack "$src" "$T/out.lutdb" --quiet --threads 2 "$@"
	no_output "pack: $desc" "$T/out.lutdb"
}

# ---- config.json and generation_config.json: 1 MiB -----------------------------------
ckpt_copy mole_rep_f16 c_big
pad_to c_big/config.json $((1048576 + 1))
pack_out "config.json one byte over its cap" 3 "config.json: 1048577 bytes, over the 1048576 this input may hold" c_big

ckpt_copy mole_rep_f16 c_atcap
pad_to c_atcap/config.json 1048576
expect_ok "pack: config.json at its cap" lutdb pack c_atcap "$T/atcap.lutdb" --quiet --threads 2
expect_ok "info of a database whose config.json is at the cap" lutdb info "$T/atcap.lutdb"

ckpt_copy mole_rep_f16 c_bomb
bomb c_bomb/config.json 1000000 '{"id2label": [' '{}' ']}'
pack_out "config.json of a million bytes of {}" 3 "too many small values" c_bomb
rss_under "pack: the config.json bomb costs no memory" 60000 pack c_bomb "$T/out.lutdb" --quiet

ckpt_copy mole_rep_f16 c_gen
printf '{"eos_token_id": 2}' >c_gen/generation_config.json
pad_to c_gen/generation_config.json $((1048576 + 1))
pack_out "generation_config.json one byte over its cap" 3 "generation_config.json: 1048577 bytes, over the 1048576" c_gen

# ---- tokenizer.json: 64 MiB, 32 times in memory -------------------------------------------
if not_under_memcheck "pack: tokenizer.json of 60 MiB of {}"; then
	ckpt_copy mole_rep_f16 c_tok
	bomb c_tok/tokenizer.json $((60 << 20)) '{"added_tokens": [' '{}' ']}'
	pack_out "tokenizer.json of 60 MiB of {}" 3 "too many small values" c_tok
	rss_under "pack: the tokenizer bomb costs about its own size" $((200 << 10)) pack c_tok "$T/out.lutdb" --quiet
	fast "pack: the tokenizer bomb is refused at once" 10 pack c_tok "$T/out.lutdb" --quiet
fi

# One byte over the cap is refused by the file's size, before a byte of it
# is read (lutdb_input_read): the command's memory does not grow with it.
if not_under_memcheck "pack: tokenizer.json one byte over its cap"; then
	ckpt_copy mole_rep_f16 c_tbig
	printf '{}' >c_tbig/tokenizer.json
	pad_to c_tbig/tokenizer.json $((67108864 + 1))
	pack_out "tokenizer.json one byte over its cap" 3 "tokenizer.json: 67108865 bytes, over the 67108864" c_tbig
	rss_under "pack: tokenizer.json over its cap is not read" $((40 << 10)) pack c_tbig "$T/out.lutdb" --quiet
	pack_out "--tokenizer one byte over its cap" 3 "tokenizer.json: 67108865 bytes, over the 67108864" \
		"$F/mole_rep_f16/ckpt" --tokenizer c_tbig/tokenizer.json
	rm -rf c_tbig
fi

"$PYJ" - "$E2E_ROOT/tests/demo/tokenizer.json" tpl.json <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["post_processor"] = {"type": "TemplateProcessing", "single": ["$A"] * 100000, "pair": [], "special_tokens": {}}
json.dump(t, open(sys.argv[2], "w"))
EOF
pack_out "TemplateProcessing of 100,000 pieces" 3 '"single" has 100000 pieces (at most 4096)' \
	"$F/mole_rep_f16/ckpt" --tokenizer tpl.json

# ---- the checkpoint index: 100,000,000 bytes, at most 100,000 files -----------------------
index_of() { # DIR FILES TENSORS
	"$PYJ" - "$@" <<'EOF'
import json, sys
d, files, tensors = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wm = {"t%d" % i: "f%d.safetensors" % (i % files) for i in range(tensors)}
json.dump({"metadata": {}, "weight_map": wm}, open(d + "/model.safetensors.index.json", "w"))
EOF
}
ckpt_copy mole_rep_f16 c_idx
rm c_idx/model.safetensors
index_of c_idx 100001 100001
pack_out "index naming 100,001 files" 3 "names 100001 weight files (at most 100000)" c_idx
fast "pack: the 100,001-file index is refused at once" 10 pack c_idx "$T/out.lutdb" --quiet
index_of c_idx 100000 200000
pack_out "index naming 100,000 files, the first missing" 3 "f0.safetensors: missing weight file" c_idx
fast "pack: the 100,000-file index is checked at once" 10 pack c_idx "$T/out.lutdb" --quiet

# ---- manifest.json: 32 MiB ------------------------------------------------------------------
mkdir m_big m_bomb
printf '{}' >m_big/manifest.json
pad_to m_big/manifest.json $((33554432 + 1))
expect_fail "manifest one byte over its cap" 4 "manifest of 33554433 bytes exceeds the cap of 33554432 bytes" \
	lutdb info m_big/manifest.json
if not_under_memcheck "info: a manifest of 32 MiB of {}"; then
	bomb m_bomb/manifest.json $((32 << 20)) '{"shards": [' '{}' ']}'
	expect_fail "manifest of 32 MiB of {}" 4 "too many small values" lutdb info m_bomb/manifest.json
	rss_under "info: the manifest bomb costs about its own size" $((150 << 10)) info m_bomb/manifest.json
	fast "info: the manifest bomb is refused at once" 10 info m_bomb/manifest.json
fi

# ---- out of memory while parsing: exit 1, "out of memory", never invalid JSON ----------------
# A valid manifest of 65,535 shards (15 MB, about 80 MB parsed) naming
# shards that do not exist, under address-space limits from just above
# what the command needs without it.
mkdir m_oom
"$PYJ" - m_oom/manifest.json <<'EOF'
import json, sys
n = 65535
sh = [{"file": "s%05d.lutdb" % i, "bytes": 1, "digest": "0" * 32, "tokens": [i, i + 1], "layers": [0, 2]}
      for i in range(n)]
json.dump({"lutdb_manifest": 1, "format": "1.0", "pack_id": "0" * 32, "split": "token", "vocab": n,
           "layers": 2, "shards": sh}, open(sys.argv[1], "w"), indent=2)
EOF
if [ -n "${LUTDB_VALGRIND:-}" ]; then
	skip "info under address-space limits" "memcheck needs its own address space"
elif ! (ulimit -v $((20 << 10)); exec "$LUTDB_BIN" --version) >/dev/null 2>&1; then
	# the smallest limit below; under qemu-user the limit is the emulator's
	skip "info under address-space limits" \
		"this build cannot start under 20 MB (a sanitizer reserves terabytes; qemu-user's JIT buffer is 128 MB)"
else
	oom=0 other=0 bad=0
	for mb in 20 30 40 50 60 70 80 100 120 160; do
		( ulimit -v $((mb << 10)); exec "$LUTDB_BIN" info m_oom/manifest.json ) >/dev/null 2>"$T/.err"
		rc=$?
		# Just under the limit that lets the parse finish, the next allocation
		# fails instead ("manifest.json (out of memory)": also a true report).
		# Where that band lies moves with the binary (main: 96-98 MB; with the
		# quantized kernels linked in, 100 MB), so both count as out of memory.
		if [ $rc -eq 1 ] && grep -q "manifest.json: out of memory parsing\|manifest.json (out of memory)" "$T/.err"; then
			oom=$((oom + 1))
		elif grep -q "JSON\|line -1" "$T/.err" || [ $rc -eq 1 ]; then
			bad=$((bad + 1))
			echo "       ulimit -v $mb MB: exit $rc: $(head -1 "$T/.err")"
		else
			other=$((other + 1))
		fi
	done
	if [ $bad -eq 0 ] && [ $oom -gt 0 ] && [ $other -gt 0 ]; then
		pass "info under 10 address-space limits: $oom out of memory parsing (exit 1), $other past the parse"
	else
		fail "info under address-space limits: $bad misreported, $oom out of memory, $other past the parse"
	fi
fi

e2e_finish
