#!/usr/bin/env bash
# fuzz/build.sh - builds the libFuzzer harnesses (make fuzz).
#
# Every fuzz/fuzz_<target>.c becomes build-fuzz/fuzz_<target>, built with
# clang -fsanitize=fuzzer,address,undefined; the library sources are
# compiled (instrumented) straight into each binary, no liblutdb.a.
# Needs the Debian packages clang and libclang-rt-14-dev (make test-deps
# installs them).  OUT=dir overrides build-fuzz.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-build-fuzz}
CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [ -z "$CLANG" ]; then
	echo "fuzz/build.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi
# libFuzzer itself ships in compiler-rt: check it links before building all.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$CLANG" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
	cat "$probe/err" >&2
	echo "fuzz/build.sh: $CLANG cannot link libFuzzer (apt-get install libclang-rt-14-dev)" >&2
	exit 1
fi
echo "fuzz/build.sh: building into $OUT with $CLANG"
make --no-print-directory -f fuzz/fuzz.mk -j"$(nproc)" MODE=libfuzzer OUT="$OUT" CC="$CLANG"
find "$OUT" -maxdepth 1 -type f -perm -u+x -name 'fuzz_*' | sort | sed 's/^/built /'
