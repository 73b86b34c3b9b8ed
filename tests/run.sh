#!/usr/bin/env bash
# Runs every test: the PyTorch reference self-checks, every Check suite
# (one per tests/unit/test_*.c), the tokenizer reference suite, the
# end-to-end CLI scripts (tests/e2e/test_*.sh) and the fuzz corpus replay.
# Closing line: "N passed, N failed, N skipped", after the reason of every
# skip.  Exits non-zero if anything failed or did not run, and, with
# LUTDB_TEST_STRICT=1, if anything was skipped.  What may be skipped and what
# must fail is the rule in tests/README.md.
#   tests/run.sh BUILD_DIR          (make test)
#   LUTDB_VALGRIND=1 tests/run.sh   (make valgrind: CLI runs under memcheck)
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# make test / make asan run this script from make: a test that runs make
# itself must not inherit that make's command-line variables (BUILD,
# EXTRA_CFLAGS, ...) through MAKEFLAGS.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
export LUTDB_FIXTURES="$ROOT/$BUILD/fixtures"
export LUTDB_QFIXTURES="$ROOT/$BUILD/qfixtures"
export LUTDB_BIN="$ROOT/$BUILD/lutdb"
export LUTDB_BUILD="$ROOT/$BUILD"
export TMPDIR=${TMPDIR:-/tmp}
passed=0
failed=0
skipped=0
skips=() # "where: what: why", shown above the closing line
log="$ROOT/$BUILD/test-logs"
mkdir -p "$log"

note() { printf '%-40s %s\n' "$1" "$2"; }

# parse_summary LINE: "[name: ]N passed, N failed[, N skipped]" into P F S;
# fails on anything else, so a missing or mangled line is never a pass.
parse_summary() {
	[[ $1 =~ ^([a-z-]+:\ )?([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]] || return 1
	P=${BASH_REMATCH[2]}
	F=${BASH_REMATCH[3]}
	S=${BASH_REMATCH[5]:-0}
}

# collect_skips WHERE LOG PATTERN: the skip lines of a log ("SKIP what: why",
# "skip what: why"), for the listing.
collect_skips() {
	local l
	while IFS= read -r l; do
		skips+=("$1: ${l#* }")
	done < <(grep -E "$3" "$2")
}

# tests/arm/run.sh runs this script on the aarch64 build through qemu, with
# LUTDB_RUN_REF=0 (the fixtures are there already), LUTDB_RUN_SUITES (the
# Check suites to run, default all) and LUTDB_RUN_SCRIPTS (the scripts).
RUN_REF=${LUTDB_RUN_REF:-1}
SUITES=${LUTDB_RUN_SUITES-}
SCRIPTS=${LUTDB_RUN_SCRIPTS-tests/tokenizer/run.sh $(echo tests/e2e/test_*.sh) fuzz/replay.sh}

# 1. Reference fixtures (generated, never committed) and their self-checks.
if [ "$RUN_REF" = 0 ]; then
	: # made by the caller
elif /usr/bin/python3 tests/ref/make_fixtures.py "$LUTDB_FIXTURES" >"$log/fixtures.log" 2>&1 &&
   /usr/bin/python3 tests/ref/check_ref.py "$LUTDB_FIXTURES" >"$log/check_ref.log" 2>&1; then
	fixtures_ok=1
	line=$(tail -n 1 "$log/check_ref.log")
	if parse_summary "$line" && [ "$F" -eq 0 ] && [ "$S" -eq 0 ] && [ "$P" -gt 0 ]; then
		passed=$((passed + P))
		note "reference (check_ref.py)" "$line"
	else
		failed=$((failed + 1))
		note "reference (check_ref.py)" "FAILED: exit 0 but no \"N passed, 0 failed\" closing line: '$line'"
	fi
else
	failed=$((failed + 1))
	note "reference (check_ref.py)" "FAILED (see $log/check_ref.log)"
	cat "$log/fixtures.log" "$log/check_ref.log" 2>/dev/null | tail -20
fi

# The fixtures are byte-identical on every run (tests/ref/README.md): made
# again elsewhere, every file has the same sha256.
if [ -n "${fixtures_ok:-}" ]; then
	again=$(mktemp -d "$TMPDIR/lutdb-fixtures.XXXXXX")
	if /usr/bin/python3 tests/ref/make_fixtures.py "$again" >"$log/fixtures-again.log" 2>&1 &&
	   cmp -s "$LUTDB_FIXTURES/MANIFEST" "$again/MANIFEST"; then
		passed=$((passed + 1))
		note "reference (fixtures made twice)" "byte-identical: $(grep -c '' "$again/MANIFEST") files"
	else
		failed=$((failed + 1))
		note "reference (fixtures made twice)" "FAILED: the second run differs (see $log/fixtures-again.log)"
		diff "$LUTDB_FIXTURES/MANIFEST" "$again/MANIFEST" 2>&1 | head -10
	fi
	rm -rf "$again"
fi

# Reference logits of quantized models (tests/ref/quant_logits.py), read by
# test_runtime_quant; a failure here shows up as that suite's failure too.
if ! /usr/bin/python3 tests/ref/quant_logits.py "$LUTDB_QFIXTURES" >"$log/quant_logits.log" 2>&1; then
	failed=$((failed + 1))
	note "reference (quant_logits.py)" "FAILED (see $log/quant_logits.log)"
	tail -20 "$log/quant_logits.log"
fi

# 2. Check suites: every tests/unit/test_*.c has its binary.  A test that
# cannot run here prints "SKIP name: reason" (tests/unit/skip.h): Check
# counts it as passed, so it is moved from passed to skipped.
for src in tests/unit/test_*.c; do
	name=$(basename "$src" .c)
	t="$BUILD/tests/$name"
	[ -n "$SUITES" ] && [[ " $SUITES " != *" $name "* ]] && continue
	[ "$name" = test_tokenizer ] && continue # run by tests/tokenizer/run.sh below, with its fixtures
	if [ ! -x "$t" ]; then
		failed=$((failed + 1))
		note "$name" "FAILED: $t was not built (make tests-build)"
		continue
	fi
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$t" >"$log/$name.log" 2>&1
	else
		"$t" >"$log/$name.log" 2>&1
	fi
	rc=$?
	summary=$(grep -E '^[0-9]+%: Checks:' "$log/$name.log" | tail -n 1)
	checks=$(sed -n 's/.*Checks: \([0-9]*\).*/\1/p' <<<"$summary")
	fails=$(sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1+\2/p' <<<"$summary")
	fails=$((${fails:-0}))
	nskip=$(grep -c '^SKIP ' "$log/$name.log")
	skipped=$((skipped + nskip))
	collect_skips "$name" "$log/$name.log" '^SKIP '
	skipnote=$([ "$nskip" -gt 0 ] && echo ", $nskip skipped")
	if [ $rc -ne 0 ] || [ -z "$checks" ] || [ "${checks:-0}" -eq 0 ]; then
		failed=$((failed + (fails > 0 ? fails : 1)))
		ok=$((${checks:-0} - (fails > 0 ? fails : 0) - nskip))
		passed=$((passed + (ok > 0 ? ok : 0)))
		note "$name" "FAILED: ${summary:-no summary (exit $rc)}${skipnote}"
		grep -E ':[EF]:' "$log/$name.log" | head -20
		[ -z "$summary" ] && tail -20 "$log/$name.log"
	else
		passed=$((passed + checks - nskip))
		note "$name" "$summary$skipnote"
	fi
done

# 3. Scripts that print their own "N passed, N failed[, N skipped]" closing
# line (and "skip what: why" for each skip).
for s in $SCRIPTS; do
	name=$(basename "$(dirname "$s")")/$(basename "$s")
	slog="$log/${name//\//_}.log"
	if [ ! -f "$s" ]; then
		failed=$((failed + 1))
		note "$name" "FAILED: $s is missing"
		continue
	fi
	bash "$s" "$BUILD" >"$slog" 2>&1
	rc=$?
	line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$slog" | tail -n 1)
	P=0 F=0 S=0
	parse_summary "$line"
	ok=$?
	skipped=$((skipped + S))
	collect_skips "$name" "$slog" '^skip '
	if [ $rc -ne 0 ] || [ $ok -ne 0 ] || [ "$F" -ne 0 ] || [ "$P" -eq 0 ]; then
		failed=$((failed + (F > 0 ? F : 1)))
		passed=$((passed + P))
		note "$name" "FAILED: ${line:-no summary (exit $rc)}"
		tail -25 "$slog"
	else
		passed=$((passed + P))
		note "$name" "$line"
	fi
done

# 4. The aarch64 part (make test sets LUTDB_AARCH64 to the aarch64 build):
# the kernel suites and a decode against the reference under qemu, both CPUs
# (tests/arm/run.sh --short).  Each of its checks counts here.
if [ -n "${LUTDB_AARCH64:-}" ]; then
	alog="$log/aarch64-short.log"
	LUTDB_FIXTURES="$LUTDB_FIXTURES" bash tests/arm/run.sh --short "$LUTDB_AARCH64" >"$alog" 2>&1
	rc=$?
	line=$(grep -E '^aarch64: [0-9]+ passed, [0-9]+ failed' "$alog" | tail -n 1)
	P=0 F=0 S=0
	parse_summary "${line#aarch64: }" # (parse_summary's labels have no digits)
	ok=$?
	skipped=$((skipped + S))
	if [ $rc -ne 0 ] || [ $ok -ne 0 ] || [ "$F" -ne 0 ] || [ "$P" -eq 0 ]; then
		failed=$((failed + (F > 0 ? F : 1)))
		passed=$((passed + P))
		note "aarch64 (qemu, tests/arm/run.sh --short)" "FAILED: ${line:-no summary (exit $rc)}"
		grep -E 'FAILED|:[EF]:' "$alog" | head -20
	else
		passed=$((passed + P))
		note "aarch64 (qemu, tests/arm/run.sh --short)" "$line"
	fi
fi

if [ ${#skips[@]} -gt 0 ]; then
	echo "skipped (not counted as passed):"
	printf '  %s\n' "${skips[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
if [ -n "${LUTDB_TEST_STRICT:-}" ] && [ "$skipped" -gt 0 ]; then
	echo "LUTDB_TEST_STRICT is set: the $skipped skipped checks fail this run"
	exit 1
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
