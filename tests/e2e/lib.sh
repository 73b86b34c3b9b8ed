#!/usr/bin/env bash
# tests/e2e/lib.sh - helpers for the end-to-end scripts (source it).
#
#   . "$(dirname "$0")/lib.sh"; e2e_init NAME
#   expect_fail DESC CODE SUBSTRING CMD...   CMD fails with exit CODE and one
#                                            stderr line containing SUBSTRING
#   expect_ok DESC CMD...                    CMD exits 0
#   check DESC COND...                       COND (a command) succeeds
#   no_output DESC OUT                       OUT and its temporary files absent
#   skip DESC REASON                         DESC cannot run here: counted as
#                                            skipped (never passed), REASON shown
#   lutdb ARGS...                            the CLI ($LUTDB_BIN), under memcheck
#                                            when LUTDB_VALGRIND is set
#   st_py OP ARGS...                         checkpoint surgery (safetensors and
#                                            config.json edits), see below
#   e2e_finish                               "N passed, N failed, N skipped",
#                                            exit status (0: none failed, some passed)
#   scaled SECONDS                           SECONDS times LUTDB_TIME_SCALE
#   demo_mole DESC OUT                       the demo MoLE packed into OUT (quick
#                                            mode: one pack per run, then copies)
#
# Environment (tests/run.sh sets it): LUTDB_BIN, LUTDB_FIXTURES, LUTDB_BUILD.
# tests/arm/run.sh also sets LUTDB_TIME_SCALE (how many times slower than
# native a step of the program is under qemu-user) and LUTDB_TEST_QUICK
# (E2E_QUICK=1: the heavy scripts' smaller models and fewer rounds).
# Run directly, this file checks that environment and prints its own
# closing line (tests/run.sh runs every tests/e2e/*.sh).
set -u

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${LUTDB_BUILD:=$E2E_ROOT/build}"
: "${LUTDB_BIN:=$LUTDB_BUILD/lutdb}"
: "${LUTDB_FIXTURES:=$LUTDB_BUILD/fixtures}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
E2E_PASSED=0
E2E_FAILED=0
E2E_SKIPPED=0
E2E_NAME=e2e
E2E_LAST_ERR=
E2E_LAST_OUT=
E2E_LAST_RC=0
# A wall-clock bound written for native speed, and every sleep or timeout
# such a bound is measured against, goes through `scaled`: under qemu the
# bound grows with the program's slowdown, and so does the delay it must stay
# under, so the check keeps its native margin and can still fail.  Anything
# but a number from 1 to 1000 is 1: a typo must not widen every bound.
E2E_TIME_SCALE=1
[[ ${LUTDB_TIME_SCALE:-} =~ ^[0-9]+(\.[0-9]+)?$ ]] &&
	awk -v k="$LUTDB_TIME_SCALE" 'BEGIN { exit !(k >= 1 && k <= 1000) }' && E2E_TIME_SCALE=$LUTDB_TIME_SCALE
E2E_QUICK=0
[ -n "${LUTDB_TEST_QUICK:-}" ] && [ "$LUTDB_TEST_QUICK" != 0 ] && E2E_QUICK=1

e2e_init() {
	E2E_NAME=$1
	T=$(mktemp -d "${TMPDIR:-/tmp}/lutdb-e2e-$1.XXXXXX")
	trap 'e2e_cleanup' EXIT
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		export LUTDB_TOKENIZER_NO_JIT=1
	fi
}

e2e_cleanup() {
	[ -n "${T:-}" ] && [ -d "$T" ] || return 0
	# Mounts a test made under $T (tmpfs, bind mounts), innermost first.
	awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts 2>/dev/null | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	command -v chattr >/dev/null && chattr -R -i "$T" 2>/dev/null
	chmod -R u+w "$T" 2>/dev/null
	rm -rf "$T"
}

pass() {
	E2E_PASSED=$((E2E_PASSED + 1))
	printf 'ok   %s\n' "$1"
}

fail() {
	E2E_FAILED=$((E2E_FAILED + 1))
	printf 'FAIL %s\n' "$1"
	shift
	for l in "$@"; do printf '       %s\n' "$l"; done
}

# Only for what tests/README.md allows to be skipped (a capability of the
# machine, a mode such as memcheck); a missing dependency that make test
# installs is a fail.
skip() {
	E2E_SKIPPED=$((E2E_SKIPPED + 1))
	printf 'skip %s: %s\n' "$1" "$2"
}

e2e_finish() {
	echo "$E2E_NAME: $E2E_PASSED passed, $E2E_FAILED failed, $E2E_SKIPPED skipped"
	[ "$E2E_FAILED" -eq 0 ] && [ "$E2E_PASSED" -gt 0 ]
	exit $?
}

# scaled SECONDS: SECONDS times the time scale (a decimal, for sleep,
# timeout, curl --max-time and comparisons).
scaled() {
	awk -v s="$1" -v k="$E2E_TIME_SCALE" 'BEGIN { printf "%.3f", s * k }'
}

# demo_mole DESC OUT: expect_ok DESC of `lutdb pack` of the demo MoLE
# (tests/demo/models/mole, --quiet) into OUT.  In quick mode (qemu, where
# that pack takes minutes) the first one of a run is kept as
# $LUTDB_BUILD/demo-mole.lutdb and the later ones copy it, saying so: the
# same binary wrote it the same way (test_demo.sh seeds it with demo.sh's).
demo_mole() {
	local desc=$1 out=$2 keep=$LUTDB_BUILD/demo-mole.lutdb
	if [ "$E2E_QUICK" = 1 ] && [ -s "$keep" ]; then
		expect_ok "$desc (quick mode: a copy of this run's first pack)" cp "$keep" "$out"
		return
	fi
	expect_ok "$desc" lutdb pack "$E2E_ROOT/tests/demo/models/mole" "$out" --quiet || return 1
	if [ "$E2E_QUICK" = 1 ]; then
		cp "$out" "$keep.tmp" && mv "$keep.tmp" "$keep"
	fi
}

# The CLI; under memcheck when LUTDB_VALGRIND is set (exit 99 on an error).
lutdb() {
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$LUTDB_BIN" "$@"
	else
		"$LUTDB_BIN" "$@"
	fi
}

# Runs CMD, keeping stdout, stderr and the exit status.
capture() {
	"$@" >"$T/.out" 2>"$T/.err"
	E2E_LAST_RC=$?
	E2E_LAST_OUT=$(cat "$T/.out")
	E2E_LAST_ERR=$(cat "$T/.err")
}

expect_fail() {
	local desc=$1 code=$2 sub=$3
	shift 3
	capture "$@"
	local lines
	lines=$(printf '%s' "$E2E_LAST_ERR" | grep -c '')
	if [ "$E2E_LAST_RC" -ne "$code" ]; then
		fail "$desc: exit $E2E_LAST_RC, expected $code" "stderr: $E2E_LAST_ERR"
	elif [ "$lines" -ne 1 ]; then
		fail "$desc: $lines stderr lines, expected one" "stderr: $E2E_LAST_ERR"
	elif ! grep -qF -- "$sub" <<<"$E2E_LAST_ERR"; then
		fail "$desc: message lacks \"$sub\"" "stderr: $E2E_LAST_ERR"
	else
		pass "$desc (exit $code: $E2E_LAST_ERR)"
		return 0
	fi
	return 1
}

expect_ok() {
	local desc=$1
	shift
	capture "$@"
	if [ "$E2E_LAST_RC" -eq 0 ]; then
		pass "$desc"
		return 0
	fi
	fail "$desc: exit $E2E_LAST_RC" "stderr: $E2E_LAST_ERR"
	return 1
}

check() {
	local desc=$1
	shift
	if "$@"; then
		pass "$desc"
		return 0
	fi
	fail "$desc"
	return 1
}

# Temporary files of a pack of OUT: .NAME.tmp.XXXXXX next to it.
tmp_files_of() {
	local dir base
	dir=$(dirname "$1")
	base=$(basename "$1")
	find "$dir" -maxdepth 1 -name ".$base.tmp.*" 2>/dev/null
}

# OUT absent and no temporary file of it left.
no_output() {
	local desc=$1 out=$2 left
	left=$(tmp_files_of "$out")
	if [ -e "$out" ]; then
		fail "$desc: $out exists"
	elif [ -n "$left" ]; then
		fail "$desc: temporary file left: $left"
	else
		pass "$desc: no output, no temporary file"
		return 0
	fi
	return 1
}

# A copy of fixture case CASE's checkpoint in DIR (symlinked weights unless
# they are to be edited: st_py writes new files, never through links).
ckpt_copy() {
	rm -rf "$2"
	cp -r "$LUTDB_FIXTURES/$1/ckpt" "$2"
}

# Checkpoint surgery:
#   st_py drop FILE NAME               remove tensor NAME
#   st_py reshape FILE NAME D0[,D1..]  give NAME that shape (data cut or padded)
#   st_py dtype FILE NAME DT           relabel NAME as dtype DT (data resized)
#   st_py overlap FILE                 make the second tensor start inside the first
#   st_py truncate FILE BYTES          drop the last BYTES bytes
#   st_py set FILE NAME INDEX VALUE    element INDEX of NAME := VALUE (inf, nan, 1.5)
#   st_py copy DST SRC NAME            add SRC's tensor NAME to DST
#   st_py config FILE KEY JSON         config.json: KEY := JSON (null deletes it)
#   st_py index_file FILE NAME SHARD   index: NAME lives in SHARD
st_py() {
	"$PY" - "$@" <<'PYEOF'
import json, math, struct, sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

def load(p):
    b = open(p, "rb").read()
    n = struct.unpack_from("<Q", b)[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", None)
    data = b[8 + n:]
    ts = {k: [v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]] for k, v in h.items()}
    return ts, meta

def save(p, ts, meta, raw_header=None):
    h = {} if meta is None else {"__metadata__": meta}
    off, chunks = 0, []
    for k in sorted(ts):
        dt, sh, b = ts[k]
        h[k] = {"dtype": dt, "shape": sh, "data_offsets": [off, off + len(b)]}
        off += len(b)
        chunks.append(b)
    if raw_header:
        raw_header(h)
    j = json.dumps(h).encode()
    open(p, "wb").write(struct.pack("<Q", len(j)) + j + b"".join(chunks))

def numel(sh):
    n = 1
    for d in sh:
        n *= d
    return n

op, args = sys.argv[1], sys.argv[2:]
if op == "drop":
    ts, meta = load(args[0]); del ts[args[1]]; save(args[0], ts, meta)
elif op == "reshape":
    ts, meta = load(args[0]); dt, sh, b = ts[args[1]]
    nsh = [int(x) for x in args[2].split(",")]
    want = numel(nsh) * SIZES[dt]
    ts[args[1]] = [dt, nsh, (b * (want // max(len(b), 1) + 1))[:want]]
    save(args[0], ts, meta)
elif op == "dtype":
    ts, meta = load(args[0]); dt, sh, b = ts[args[1]]
    want = numel(sh) * SIZES[args[2]]
    ts[args[1]] = [args[2], sh, (b * (want // max(len(b), 1) + 1))[:want]]
    save(args[0], ts, meta)
elif op == "overlap":
    ts, meta = load(args[0])
    def bend(h):
        ks = sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
        a, b = h[ks[0]]["data_offsets"], h[ks[1]]["data_offsets"]
        h[ks[1]]["data_offsets"] = [b[0] - 2, b[1] - 2]
    save(args[0], ts, meta, bend)
elif op == "truncate":
    b = open(args[0], "rb").read(); open(args[0], "wb").write(b[:len(b) - int(args[1])])
elif op == "set":
    ts, meta = load(args[0]); dt, sh, b = ts[args[1]]
    i, v = int(args[2]), float(args[3])
    b = bytearray(b)
    if dt == "F32":
        struct.pack_into("<f", b, 4 * i, v)
    elif dt == "F16":
        struct.pack_into("<e", b, 2 * i, v)
    else:  # BF16: the top half of the float32
        b[2 * i:2 * i + 2] = struct.pack("<f", v)[2:]
    ts[args[1]] = [dt, sh, bytes(b)]
    save(args[0], ts, meta)
elif op == "copy":
    ts, meta = load(args[0]); src, _ = load(args[1]); ts[args[2]] = src[args[2]]; save(args[0], ts, meta)
elif op == "config":
    c = json.load(open(args[0]))
    v = json.loads(args[2])
    if v is None and args[1] != "rope_scaling":
        c.pop(args[1], None)
    else:
        c[args[1]] = v
    json.dump(c, open(args[0], "w"), indent=2)
elif op == "index_file":
    c = json.load(open(args[0])); c["weight_map"][args[1]] = args[2]; json.dump(c, open(args[0], "w"), indent=2)
else:
    sys.exit("st_py: unknown op " + op)
PYEOF
}

# Byte surgery on any file:
#   bytes_py flip FILE OFFSET          XOR the byte at OFFSET with 0xFF
#   bytes_py zero FILE OFFSET LEN      zero LEN bytes from OFFSET
#   bytes_py find FILE HEX             offset of the first match (or -1)
#   bytes_py set32 FILE OFFSET VALUE   store a little-endian u32
bytes_py() {
	"$PY" - "$@" <<'PYEOF'
import struct, sys
op, p = sys.argv[1], sys.argv[2]
b = bytearray(open(p, "rb").read())
if op == "flip":
    b[int(sys.argv[3])] ^= 0xFF
elif op == "zero":
    o, n = int(sys.argv[3]), int(sys.argv[4]); b[o:o + n] = bytes(n)
elif op == "find":
    print(bytes(b).find(bytes.fromhex(sys.argv[3]))); sys.exit(0)
elif op == "set32":
    struct.pack_into("<I", b, int(sys.argv[3]), int(sys.argv[4]))
open(p, "wb").write(b)
PYEOF
}

# Run directly: check the environment the scripts need.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	E2E_NAME=lib
	T=$(mktemp -d "${TMPDIR:-/tmp}/lutdb-e2e-lib.XXXXXX")
	trap 'e2e_cleanup' EXIT
	check "LUTDB_BIN runs ($LUTDB_BIN --version)" "$LUTDB_BIN" --version
	check "fixtures present ($LUTDB_FIXTURES)" test -f "$LUTDB_FIXTURES/cases.txt"
	check "python3 with json/struct" "$PY" -c 'import json, struct'
	e2e_finish
fi
