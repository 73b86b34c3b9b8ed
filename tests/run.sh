#!/usr/bin/env bash
# Runs every test: the PyTorch reference self-checks, every Check suite
# (build/tests/test_*), the tokenizer reference suite and the end-to-end CLI
# scripts (tests/e2e/*.sh).  Prints one closing line "N passed, N failed"
# and exits non-zero if anything failed or did not run.
#   tests/run.sh BUILD_DIR          (make test)
#   LUTDB_VALGRIND=1 tests/run.sh   (make valgrind: CLI runs under memcheck)
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export LUTDB_FIXTURES="$ROOT/$BUILD/fixtures"
export LUTDB_BIN="$ROOT/$BUILD/lutdb"
export LUTDB_BUILD="$ROOT/$BUILD"
export TMPDIR=${TMPDIR:-/tmp}
passed=0
failed=0
log="$ROOT/$BUILD/test-logs"
mkdir -p "$log"

note() { printf '%-40s %s\n' "$1" "$2"; }

# 1. Reference fixtures (generated, never committed) and their self-checks.
if /usr/bin/python3 tests/ref/make_fixtures.py "$LUTDB_FIXTURES" >"$log/fixtures.log" 2>&1 &&
   /usr/bin/python3 tests/ref/check_ref.py "$LUTDB_FIXTURES" >"$log/check_ref.log" 2>&1; then
	line=$(tail -n 1 "$log/check_ref.log")
	p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$line")
	passed=$((passed + ${p:-1}))
	note "reference (check_ref.py)" "$line"
else
	failed=$((failed + 1))
	note "reference (check_ref.py)" "FAILED (see $log/check_ref.log)"
	cat "$log/fixtures.log" "$log/check_ref.log" 2>/dev/null | tail -20
fi

# 2. Check suites.
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	if [ "$name" = test_tokenizer ] && [ -x tests/tokenizer/run.sh ]; then
		continue # run by the tokenizer driver below, with its fixtures
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
	if [ $rc -ne 0 ] || [ -z "$checks" ]; then
		failed=$((failed + (fails > 0 ? fails : 1)))
		passed=$((passed + ${checks:-0} - (fails > 0 ? fails : 0)))
		note "$name" "FAILED: ${summary:-no summary (exit $rc)}"
		grep -E ':[EF]:' "$log/$name.log" | head -20
		[ -z "$summary" ] && tail -20 "$log/$name.log"
	else
		passed=$((passed + checks))
		note "$name" "$summary"
	fi
done

# 3. Scripts that print their own "N passed, N failed" closing line.
for s in tests/tokenizer/run.sh tests/e2e/test_*.sh fuzz/replay.sh; do
	[ -f "$s" ] || continue
	name=$(basename "$(dirname "$s")")/$(basename "$s")
	bash "$s" "$BUILD" >"$log/${name//\//_}.log" 2>&1
	rc=$?
	line=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log/${name//\//_}.log" | tail -n 1)
	p=$(sed -n 's/^\([a-z-]*: \)\{0,1\}\([0-9]*\) passed.*/\2/p' <<<"$line")
	f=$(sed -n 's/.* passed, \([0-9]*\) failed.*/\1/p' <<<"$line")
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		failed=$((failed + (${f:-0} > 0 ? ${f:-0} : 1)))
		passed=$((passed + ${p:-0}))
		note "$name" "FAILED: ${line:-no summary (exit $rc)}"
		tail -25 "$log/${name//\//_}.log"
	else
		passed=$((passed + p))
		note "$name" "$line"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
