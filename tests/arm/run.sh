#!/usr/bin/env bash
# The aarch64 build's tests under qemu-user, once per CPU model:
#   -cpu max         every optional feature qemu has (asimddp: the sdot path)
#   -cpu cortex-a53  ARMv8.0: no dot product, no FP16 arithmetic
# so that every dispatch path of the NEON kernels runs.
#
#   tests/arm/run.sh BUILD            make test-aarch64: every Check suite and
#                                     the CLI end-to-end scripts (list below)
#   tests/arm/run.sh --short BUILD    make test's aarch64 part: the kernel suites
#                                     and one decode against the PyTorch reference
#
# BUILD is the aarch64 build folder (build-aarch64).  For each CPU it makes
# BUILD/qemu-CPU/ (--short: BUILD/qemu-short-CPU/), where lutdb and every test program are small scripts that
# exec the real one under qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu CPU,
# and runs tests/run.sh on that folder: the same counting, the same rules
# (tests/README.md).  The fixtures are made on this machine by
# /usr/bin/python3, as for the native run (LUTDB_FIXTURES, or BUILD/fixtures).
# Closing line: "aarch64: N passed, N failed, N skipped" over both CPUs.
#
# Under qemu a step of the program costs 20 to 50 times a native one, so the
# suites run with LUTDB_TEST_QUICK=1 (set LUTDB_TEST_QUICK=0 for the native
# case sets): the heavy ones keep every code path on fewer random trials
# (tests/README.md lists them), and Check's per-test timeouts are four
# times the native ones (CK_TIMEOUT_MULTIPLIER).
#
# Not run under qemu (they check the x86 toolchain's work, not the aarch64
# code): e2e/test_abi.sh and e2e/test_make.sh compile and link with the host
# compiler, e2e/test_concurrency.sh builds its ThreadSanitizer binaries with
# the host clang, fuzz/replay.sh replays through the x86 fuzz build, and
# tokenizer/run.sh drives the npm/PyTorch references (the tokenizer is
# portable C, and test_tokenizer_units runs here), and e2e/test_pagesize.sh
# preloads a shim into the program it runs (here qemu itself).
set -u
short=0
if [ "${1:-}" = --short ]; then
	short=1
	shift
fi
BUILD=${1:-build-aarch64}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
QEMU=${LUTDB_QEMU:-qemu-aarch64}
SYSROOT=${LUTDB_QEMU_SYSROOT:-/usr/aarch64-linux-gnu}
CPUS=${LUTDB_QEMU_CPUS:-max cortex-a53}
passed=0
failed=0
skipped=0

if ! command -v "$QEMU" >/dev/null; then
	echo "aarch64: $QEMU is missing (make aarch64-deps installs qemu-user)"
	echo "aarch64: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
if [ ! -x "$BUILD/lutdb" ]; then
	echo "aarch64: $BUILD/lutdb was not built (make aarch64)"
	echo "aarch64: 0 passed, 1 failed, 0 skipped"
	exit 1
fi

fixtures=${LUTDB_FIXTURES:-$ROOT/$BUILD/fixtures}
if [ ! -f "$fixtures/MANIFEST" ]; then
	mkdir -p "$ROOT/$BUILD/test-logs"
	if ! /usr/bin/python3 tests/ref/make_fixtures.py "$fixtures" >"$ROOT/$BUILD/test-logs/fixtures.log" 2>&1; then
		echo "aarch64: the reference fixtures could not be made (see $BUILD/test-logs/fixtures.log)"
		echo "aarch64: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
fi

# wrap REAL WRAPPER CPU: a script that runs REAL under qemu with CPU.
wrap() {
	printf '#!/bin/sh\nexec %s -L %s -cpu %s %s "$@"\n' "$QEMU" "$SYSROOT" "$3" "$1" >"$2"
	chmod +x "$2"
}

# short: the kernel suites, the bulk conversions (test_format_dtype: the
# NEON path against the scalar rules and torch) and test_runtime, whose
# fidelity cases decode the reference models and compare the logits with
# PyTorch's.
if [ $short -eq 1 ]; then
	suites="test_kernels test_kernels_vector test_kernels_quant test_kernels_qtable test_runtime test_format_dtype"
	scripts=""
else
	suites=""
	for src in tests/unit/test_*.c; do
		suites="$suites $(basename "$src" .c)"
	done
	# LUTDB_ARM_SUITES: another list of Check suites (a part run again)
	suites=${LUTDB_ARM_SUITES-$suites}
	# LUTDB_ARM_SCRIPTS: another list of e2e scripts (a part run again)
	scripts=${LUTDB_ARM_SCRIPTS:-"tests/e2e/test_badinput.sh tests/e2e/test_crash.sh tests/e2e/test_paths.sh \
tests/e2e/test_text.sh tests/e2e/test_demo.sh"}
fi

# The wrapper folder of CPU: its own for each mode, so that make test and a
# make test-aarch64 can run at once.
wdir() {
	[ $short -eq 1 ] && echo "$BUILD/qemu-short-$1" || echo "$BUILD/qemu-$1"
}

# run_cpu CPU: tests/run.sh on the wrapper folder, its log in run.log there.
run_cpu() {
	local cpu=$1 W s t
	W=$(wdir "$1")
	rm -rf "$W"
	mkdir -p "$W/tests/tools" "$W/test-logs"
	wrap "$ROOT/$BUILD/lutdb" "$W/lutdb" "$cpu"
	for s in $suites; do
		[ -x "$BUILD/tests/$s" ] && wrap "$ROOT/$BUILD/tests/$s" "$W/tests/$s" "$cpu"
	done
	for t in "$BUILD"/tests/tools/*; do
		[ -x "$t" ] && [ -f "$t" ] && wrap "$ROOT/$t" "$W/tests/tools/$(basename "$t")" "$cpu"
	done
	ln -s "$fixtures" "$W/fixtures"
	LUTDB_RUN_REF=0 LUTDB_RUN_SUITES="$suites" LUTDB_RUN_SCRIPTS="$scripts" LUTDB_AARCH64= \
		LUTDB_TEST_QUICK=${LUTDB_TEST_QUICK:-1} CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} \
		bash tests/run.sh "$W" >"$W/run.log" 2>&1
}

# The short part runs both CPUs at once (make test's budget); the full run
# one after the other, so the e2e scripts' timing checks get the machine.
for cpu in $CPUS; do
	if [ $short -eq 1 ]; then
		run_cpu "$cpu" &
	else
		run_cpu "$cpu"
	fi
done
wait
for cpu in $CPUS; do
	W=$(wdir "$cpu")
	line=$(tail -n 1 "$W/run.log")
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		skipped=$((skipped + BASH_REMATCH[3]))
	else
		failed=$((failed + 1))
	fi
	sed "s/^/[$cpu] /" "$W/run.log"
done
echo "aarch64: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
