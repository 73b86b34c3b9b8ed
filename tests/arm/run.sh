#!/usr/bin/env bash
# The aarch64 build's tests under qemu-user, once per CPU model:
#   -cpu max         every optional feature qemu has (asimddp: the sdot path)
#   -cpu cortex-a53  ARMv8.0: no dot product, no FP16 arithmetic
# so that every dispatch path of the NEON kernels runs.
#
#   tests/arm/run.sh BUILD            make test-aarch64: every Check suite and
#                                     every CLI end-to-end script but the ones
#                                     listed below, both CPUs at once
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
# suites and scripts run with LUTDB_TEST_QUICK=1 (set LUTDB_TEST_QUICK=0 for
# the native case sets): the heavy ones keep every code path on fewer random
# trials or smaller generated models (tests/README.md lists them); Check's
# per-test timeouts are four times the native ones (CK_TIMEOUT_MULTIPLIER);
# and every wall-clock bound of a script, with the delays it is measured
# against, is LUTDB_TIME_SCALE (default 20) times the native one
# (tests/e2e/lib.sh, scaled), as are the Check suites' (tests/unit/time_scale.h).
#
# Not run under qemu (they check the x86 toolchain's work, not the aarch64
# code): e2e/test_abi.sh compiles and links with the host compiler,
# e2e/test_make.sh checks the Makefile's plan (make -n, the same for every
# target), e2e/test_concurrency.sh builds its ThreadSanitizer binaries with
# the host clang, fuzz/replay.sh builds its harnesses with the host compiler, and
# tokenizer/run.sh drives the npm/PyTorch references (the tokenizer is
# portable C, and test_tokenizer_units runs here), and e2e/test_pagesize.sh
# preloads a shim into the program it runs (here qemu itself).  Every other
# tests/e2e/test_*.sh runs, a new one included.
#
# The full run gives each CPU its own tests/run.sh at once (LUTDB_ARM_SERIAL=1:
# one after the other): on two cores that halves the wall time, and the
# scaled bounds leave the timing checks their margin under that load.
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
TIME_SCALE=${LUTDB_TIME_SCALE:-20}
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
	# Every e2e script but the host-toolchain ones above.  test_demo.sh goes
	# first: its pack of the demo MoLE seeds the copy the later scripts take
	# (tests/e2e/lib.sh, demo_mole).
	scripts="tests/e2e/test_demo.sh"
	for s in tests/e2e/test_*.sh; do
		case $(basename "$s") in
		test_abi.sh | test_make.sh | test_concurrency.sh | test_pagesize.sh | test_demo.sh) ;;
		*) scripts="$scripts $s" ;;
		esac
	done
	# LUTDB_ARM_SCRIPTS: another list of e2e scripts (a part run again)
	scripts=${LUTDB_ARM_SCRIPTS-$scripts}
fi

# The npm packages the scripts compare with, installed once for both CPUs
# (each CPU's folder links to them): the Hugging Face tokenizer
# (e2e/test_text.sh) and the openai client (e2e/test_serve.sh), from their
# lock files, as tests/tokenizer/run.sh and test_serve.sh install them.
# A failure here fails the run (tests/README.md: make test provides them).
npm_failed=0
npm_ci() { # FROM DIR
	if [ ! -d "$2/node_modules" ] || ! cmp -s "$1/package-lock.json" "$2/package-lock.json"; then
		rm -rf "$2"
		mkdir -p "$2"
		cp "$1/package.json" "$1/package-lock.json" "$2/"
		if ! (cd "$2" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$2.log" 2>&1; then
			echo "aarch64: npm ci into $2 failed (see $2.log)"
			rm -f "$2/package-lock.json"
			npm_failed=$((npm_failed + 1))
		fi
	fi
}
if [[ " $scripts " == *test_text.sh* ]] || [[ " $scripts " == *test_serve.sh* ]]; then
	npm_ci tests/tokenizer "$ROOT/$BUILD/node"
	npm_ci tests/e2e/serve "$ROOT/$BUILD/node-serve"
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
	ln -s "$ROOT/$BUILD/node" "$W/node"
	ln -s "$ROOT/$BUILD/node-serve" "$W/node-serve"
	# (an empty list is "none" here: tests/run.sh reads an empty one as all)
	LUTDB_RUN_REF=0 LUTDB_RUN_SUITES="${suites:-none}" LUTDB_RUN_SCRIPTS="$scripts" LUTDB_AARCH64= \
		LUTDB_TEST_QUICK=${LUTDB_TEST_QUICK:-1} CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} \
		LUTDB_TIME_SCALE=$TIME_SCALE bash tests/run.sh "$W" >"$W/run.log" 2>&1
}

start=$(date +%s)
for cpu in $CPUS; do
	if [ $short -eq 1 ] || [ -z "${LUTDB_ARM_SERIAL:-}" ]; then
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
failed=$((failed + npm_failed))
echo "aarch64: $(($(date +%s) - start)) s for both CPUs (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "aarch64: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
