#!/usr/bin/env bash
# run.sh BUILD_DIR - tokenizer reference tests.
#
# Installs the pinned npm reference implementations into BUILD_DIR/node when
# missing (npm ci from package-lock.json), generates the reference fixtures
# into BUILD_DIR/tokenizer-fixtures when their inputs changed, then runs the
# Check binaries BUILD_DIR/tests/test_tokenizer* with LUTDB_TOK_FIXTURES set.
# Ends with "tokenizer: N passed, N failed, N skipped"; exits non-zero when
# anything fails or a prerequisite is missing.
set -euo pipefail

BUILD=${1:?usage: run.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
NODE_DIR="$BUILD/node"
FIX="$BUILD/tokenizer-fixtures"

# A missing prerequisite is a failure, not a skip (tests/README.md).
broken() {
	echo "tokenizer: $1" >&2
	echo "tokenizer: 0 passed, 1 failed, 0 skipped"
	exit 1
}
command -v node >/dev/null || broken "node is not installed (Debian: nodejs npm)"
[ -d /usr/share/games/fortunes ] || broken "the fortunes corpus is missing (Debian: fortunes)"

if [ ! -d "$NODE_DIR/node_modules/tokenizers" ] || ! cmp -s "$HERE/package-lock.json" "$NODE_DIR/package-lock.json"; then
	echo "tokenizer: installing reference packages into $NODE_DIR" >&2
	mkdir -p "$NODE_DIR"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

stamp=$( { cat "$HERE/make_fixtures.js" "$HERE/byte_level.js" "$HERE/corpus_extra.txt" "$HERE/package-lock.json";
	   ls -l /usr/share/games/fortunes; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$FIX/stamp" ] || [ "$(cat "$FIX/stamp")" != "$stamp" ]; then
	echo "tokenizer: generating reference fixtures into $FIX" >&2
	rm -rf "$FIX.tmp"
	LUTDB_NODE_DIR="$NODE_DIR" node "$HERE/make_fixtures.js" "$FIX.tmp"
	echo "$stamp" > "$FIX.tmp/stamp"
	rm -rf "$FIX"
	mv "$FIX.tmp" "$FIX"
fi

# The fixture suite (test_tokenizer_units needs no fixtures: tests/run.sh
# runs it with the other Check suites).
t="$BUILD/tests/test_tokenizer"
[ -x "$t" ] || broken "$t is missing (make tests-build)"
out="$BUILD/tokenizer-test.log"
rc=0
if [ -n "${LUTDB_VALGRIND:-}" ]; then
	LUTDB_TOK_STRIDE=${LUTDB_TOK_STRIDE:-97} LUTDB_TOK_FIXTURES="$FIX" CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite "$t" 2>&1 | tee "$out" || rc=1
else
	LUTDB_TOK_FIXTURES="$FIX" "$t" 2>&1 | tee "$out" || rc=1
fi
summary=$(grep -E '^[0-9]+%: Checks:' "$out" | tail -n 1)
checks=$(sed -n 's/.*Checks: \([0-9]*\).*/\1/p' <<<"$summary")
bad=$(sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1+\2/p' <<<"$summary")
bad=$((${bad:-1}))
checks=${checks:-0}
[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
[ "$checks" -eq 0 ] && [ "$bad" -eq 0 ] && bad=1 # no check ran: not a pass
# A test that cannot run prints "SKIP name: reason" (tests/unit/skip.h).
nskip=$(sed -n '/^SKIP /p' "$out" | wc -l)
sed -n 's/^SKIP /skip /p' "$out"
ok=$((checks - bad - nskip))
echo "tokenizer: $((ok > 0 ? ok : 0)) passed, $bad failed, $nskip skipped"
[ "$rc" -eq 0 ] && [ "$bad" -eq 0 ]
