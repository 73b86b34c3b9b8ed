#!/usr/bin/env bash
# fuzz/run.sh SECONDS [TARGET...] - runs each libFuzzer harness (built by
# fuzz/build.sh) for SECONDS, one at a time (make fuzz FUZZ_SECONDS=N).
#
# New inputs go to build-fuzz/corpus/<target>/ (seeded from the committed
# fuzz/corpus/<target>/, which is only read); a crash is saved under
# build-fuzz/artifacts/<target>/.  To keep a crash as a regression input,
# copy it into fuzz/corpus/<target>/ once the bug is fixed.  Per target it
# prints executions, exec/s, coverage (libFuzzer's cov: and ft: from its
# final stats), the corpus size and the CPU seconds used, then "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${1:-60}
shift || true
OUT=${OUT:-build-fuzz}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for s in fuzz/fuzz_*.c; do targets+=("$(basename "$s" .c)"); done
fi
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
passed=0
failed=0
printf '%-18s %12s %9s %7s %7s %7s %9s  %s\n' target executions exec/s cov ft corpus cpu_s result
for t in "${targets[@]}"; do
	bin="$OUT/$t"
	if [ ! -x "$bin" ]; then
		echo "$t: $bin missing (run fuzz/build.sh)"
		failed=$((failed + 1))
		continue
	fi
	work="$OUT/corpus/$t"
	art="$OUT/artifacts/$t"
	mkdir -p "$work" "$art"
	opts=(-max_total_time="$SECS" -print_final_stats=1 -timeout=30 -rss_limit_mb=4096
		-artifact_prefix="$art/")
	[ -f "fuzz/dict/$t.dict" ] && opts+=(-dict="fuzz/dict/$t.dict")
	[ -f "fuzz/options/$t" ] && read -r -a extra <"fuzz/options/$t" && opts+=("${extra[@]}")
	log="$OUT/$t.log"
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%U %S' -o "$OUT/$t.time" "$bin" "${opts[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1
	else
		"$bin" "${opts[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1
	fi
	rc=$?
	cpu=$(awk 'END { if (NF == 2) printf "%.0f", $1 + $2 }' "$OUT/$t.time" 2>/dev/null)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
	if [ $rc -eq 0 ]; then
		result=ok
		passed=$((passed + 1))
	else
		result="FAILED (exit $rc, see $log; input in $art/)"
		failed=$((failed + 1))
	fi
	printf '%-18s %12s %9s %7s %7s %7s %9s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${cpu:-?}" "$result"
	[ $rc -ne 0 ] && grep -E 'ERROR|SUMMARY|contract broken|runtime error' "$log" | head -5
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
