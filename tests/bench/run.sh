#!/usr/bin/env bash
# make bench: runs every benchmark part (tests/bench/bench_*.sh) in order.
# Each part prints key=value lines and a short table; figures are ratios
# against a baseline measured in the same run.  Work files go to
# $LUTDB_BENCH_DIR (default /tmp/lutdb-bench) and are removed at the end
# unless LUTDB_BENCH_KEEP=1.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export LUTDB_BUILD="$ROOT/$BUILD"
export LUTDB_BIN="$ROOT/$BUILD/lutdb"
export LUTDB_TOOLS="$ROOT/$BUILD/tests/tools"
export LUTDB_BENCH_DIR=${LUTDB_BENCH_DIR:-/tmp/lutdb-bench}
mkdir -p "$LUTDB_BENCH_DIR"
status=0
for part in "$ROOT"/tests/bench/bench_*.sh; do
	echo "== $(basename "$part" .sh)"
	bash "$part" || status=1
done
[ "${LUTDB_BENCH_KEEP:-}" = 1 ] || rm -rf "$LUTDB_BENCH_DIR"
exit $status
