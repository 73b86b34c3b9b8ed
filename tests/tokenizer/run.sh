#!/usr/bin/env bash
# run.sh BUILD_DIR - tokenizer reference tests.
#
# Installs the pinned npm reference implementations into BUILD_DIR/node when
# missing (npm ci from package-lock.json), generates the reference fixtures
# into BUILD_DIR/tokenizer-fixtures when their inputs changed, then runs the
# Check binaries BUILD_DIR/tests/test_tokenizer* with LUTDB_TOK_FIXTURES set.
# Exits non-zero when anything fails.
set -euo pipefail

BUILD=${1:?usage: run.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
NODE_DIR="$BUILD/node"
FIX="$BUILD/tokenizer-fixtures"

command -v node >/dev/null || { echo "tokenizer: node is not installed (Debian: nodejs npm)" >&2; exit 1; }
[ -d /usr/share/games/fortunes ] || { echo "tokenizer: the fortunes corpus is missing (Debian: fortunes)" >&2; exit 1; }

if [ ! -d "$NODE_DIR/node_modules/tokenizers" ] || ! cmp -s "$HERE/package-lock.json" "$NODE_DIR/package-lock.json"; then
	echo "tokenizer: installing reference packages into $NODE_DIR" >&2
	mkdir -p "$NODE_DIR"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

stamp=$( { cat "$HERE/make_fixtures.js" "$HERE/corpus_extra.txt" "$HERE/package-lock.json";
	   ls -l /usr/share/games/fortunes; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$FIX/stamp" ] || [ "$(cat "$FIX/stamp")" != "$stamp" ]; then
	echo "tokenizer: generating reference fixtures into $FIX" >&2
	rm -rf "$FIX.tmp"
	LUTDB_NODE_DIR="$NODE_DIR" node "$HERE/make_fixtures.js" "$FIX.tmp"
	echo "$stamp" > "$FIX.tmp/stamp"
	rm -rf "$FIX"
	mv "$FIX.tmp" "$FIX"
fi

status=0
found=0
for t in "$BUILD"/tests/test_tokenizer*; do
	[ -x "$t" ] || continue
	found=1
	echo "tokenizer: $(basename "$t")" >&2
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		LUTDB_TOK_FIXTURES="$FIX" CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full "$t" || status=1
	else
		LUTDB_TOK_FIXTURES="$FIX" "$t" || status=1
	fi
done
[ "$found" = 1 ] || { echo "tokenizer: no test binaries in $BUILD/tests (make tests-build)" >&2; exit 1; }
exit $status
