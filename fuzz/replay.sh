#!/usr/bin/env bash
# fuzz/replay.sh BUILD - replays every committed fuzz corpus (make test).
#
# Builds each harness fuzz/fuzz_<target>.c with fuzz/replay_main.c instead of
# libFuzzer, with the library sources compiled under ASan + UBSan
# (-fno-sanitize-recover), into BUILD/fuzz-replay/, and runs it on every file
# of fuzz/corpus/<target>/.  With LUTDB_VALGRIND=1 (make valgrind) it builds
# without sanitizers and runs under memcheck instead.  One result per target,
# then the closing line "N passed, N failed"; exit 1 if any failed.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
if [ -n "${LUTDB_VALGRIND:-}" ]; then
	MODE=plain
	OUT="$BUILD/fuzz-replay-plain"
else
	MODE=replay
	OUT="$BUILD/fuzz-replay"
fi
CC=${CC:-cc}
mkdir -p "$OUT"
log="$OUT/build.log"
passed=0
failed=0

echo "fuzz replay: building harnesses ($MODE, $CC) into $OUT"
if ! make --no-print-directory -f fuzz/fuzz.mk -j"$(nproc)" MODE=$MODE OUT="$OUT" CC="$CC" >"$log" 2>&1; then
	tail -30 "$log"
	echo "fuzz replay: build failed (see $log)"
	echo "0 passed, 1 failed"
	exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export LUTDB_TOKENIZER_NO_JIT=${LUTDB_VALGRIND:+1}
[ -z "$LUTDB_TOKENIZER_NO_JIT" ] && unset LUTDB_TOKENIZER_NO_JIT

for src in fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	corpus="fuzz/corpus/$t"
	if [ ! -d "$corpus" ]; then
		echo "FAIL $t: no corpus directory $corpus"
		failed=$((failed + 1))
		continue
	fi
	start=$(date +%s.%N)
	if [ "$MODE" = plain ]; then
		out=$(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$OUT/$t" "$corpus" 2>&1)
	else
		out=$("$OUT/$t" "$corpus" 2>&1)
	fi
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	# An empty corpus would replay nothing and pass: a replay must run inputs.
	inputs=$(sed -n "s/^$t: \([0-9]*\) inputs.*/\1/p" <<<"$out" | tail -1)
	if [ $rc -eq 0 ] && [ "${inputs:-0}" -gt 0 ]; then
		echo "ok   $t: $inputs inputs ($secs s)"
		passed=$((passed + 1))
	elif [ $rc -eq 0 ]; then
		echo "FAIL $t: replayed no input (corpus $corpus is empty, or no \"$t: N inputs\" line)"
		tail -5 <<<"$out"
		failed=$((failed + 1))
	else
		echo "FAIL $t (exit $rc):"
		tail -40 <<<"$out"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
