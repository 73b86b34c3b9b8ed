#!/usr/bin/env bash
# tests/lint/headers.sh BUILD HEADER... - every installed header compiles on
# its own and all together, as C11 and as C++11, under -Wall -Wextra
# -Werror -pedantic, seeing nothing but the installed headers (they include
# what they use).  Run by every build ($(BUILD)/headers.ok).
set -eu
BUILD=$1
shift
CC=${CC:-cc}
CXX=${CXX:-c++}
cd "$(dirname "$0")/../.."
dir=$BUILD/header-check
rm -rf "$dir"
mkdir -p "$dir/include"
cp "$@" "$dir/include/"
flags="-Wall -Wextra -Werror -pedantic -I$dir/include -fsyntax-only"
all=""
for h in "$@"; do
	name=$(basename "$h")
	all="$all#include \"$name\"\n"
	printf '#include "%s"\n#include "%s"\n' "$name" "$name" >"$dir/alone_${name%.h}.c"
	"$CC" -std=c11 $flags "$dir/alone_${name%.h}.c"
	"$CXX" -std=c++11 $flags -x c++ "$dir/alone_${name%.h}.c"
done
printf "$all" >"$dir/all.c"
"$CC" -std=c11 $flags "$dir/all.c"
"$CXX" -std=c++11 $flags -x c++ "$dir/all.c"
