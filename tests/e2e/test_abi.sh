#!/usr/bin/env bash
# tests/e2e/test_abi.sh - the installed library as a third party meets it.
#
#   1. `make install DESTDIR=STAGE` puts exactly the documented files under
#      STAGE/PREFIX: bin/lutdb, lib/liblutdb.{a,so.0}, the liblutdb.so link,
#      lib/pkgconfig/lutdb.pc and the six public headers.
#   2. The shared library's SONAME is liblutdb.so.0, and `nm -D` lists
#      exactly the functions the installed headers declare LUTDB_API.
#   3. A C11 and a C++11 program, each including every installed header
#      and compiled with -Wall -Wextra -Werror -pedantic, build through
#      `pkg-config --cflags --libs lutdb` (linked to liblutdb.so.0) and
#      through `pkg-config --static` (liblutdb.a, no liblutdb.so needed), and
#      run: the version macros equal lutdb_libversion() and
#      lutdb_libversion_number(); lutdb_free() releases what the library
#      allocated; the C program packs a fixture with size-prefixed options,
#      opens it, decodes one token and tokenizes a text.
#   4. The installed command is one self-contained file (no liblutdb.so
#      needed) and reports the headers' version.
#   5. `make uninstall` with the same DESTDIR removes every file it installed.
# pkg-config reads the staged lutdb.pc through PKG_CONFIG_SYSROOT_DIR, as a
# packager's build would.
. "$(dirname "$0")/lib.sh"
e2e_init abi
cd "$T" || exit 1

# The build directory, relative to the repository as the Makefile takes it.
BUILD=${1:-${LUTDB_BUILD#"$E2E_ROOT"/}}
# Install with the PREFIX the build was made for, so lutdb.pc in the build
# directory is not rewritten under the developer's feet.
PREFIX=$(cat "$E2E_ROOT/$BUILD/.prefix" 2>/dev/null || echo /usr/local)
STAGE=$T/stage
ROOT=$STAGE$PREFIX
CC=${CC:-cc}
CXX=${CXX:-c++}

# An instrumented build (make asan) links its sanitizer runtimes into every
# program that uses the library.
SAN=
nm "$E2E_ROOT/$BUILD/liblutdb.a" 2>/dev/null | grep -q ' U __asan_' && SAN="-fsanitize=address,undefined"

mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$E2E_ROOT" BUILD="$BUILD" \
	PREFIX="$PREFIX" DESTDIR="$STAGE" "$@"; }

# ---- 1. make install ---------------------------------------------------------
expect_ok "make install DESTDIR=$STAGE PREFIX=$PREFIX" mk install || e2e_finish
installed=$(cd "$STAGE" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort)
expected=$(printf '%s\n' bin/lutdb lib/liblutdb.a lib/liblutdb.so lib/liblutdb.so.0 lib/pkgconfig/lutdb.pc \
	include/lutdb.h include/lutdb_err.h include/lutdb_types.h include/lutdb_runtime.h \
	include/lutdb_tokenizer.h include/lutdb_pack.h | sed "s|^|$PREFIX/|" | sort)
if [ "$installed" = "$expected" ]; then
	pass "installed exactly the $(grep -c '' <<<"$expected") documented files"
else
	fail "installed files differ from the documented set" "$(diff <(echo "$expected") <(echo "$installed"))"
fi
check "lib/liblutdb.so is a link to liblutdb.so.0" test "$(readlink "$ROOT/lib/liblutdb.so")" = liblutdb.so.0

# ---- 2. SONAME and exported symbols -------------------------------------------
soname=$(readelf -d "$ROOT/lib/liblutdb.so.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "SONAME is liblutdb.so.0 (got '$soname')" test "$soname" = liblutdb.so.0

nm -D --defined-only "$ROOT/lib/liblutdb.so.0" | awk '$2 ~ /^[A-Za-z]$/ && $2 != "U" {print $3}' | sort -u >exported
grep -h -o '^LUTDB_API [^(]*(' "$ROOT"/include/*.h | sed 's/($//; s/.*[ *]//' | sort -u >declared
if [ -s declared ] && cmp -s exported declared; then
	pass "nm -D lists exactly the $(grep -c '' declared) LUTDB_API functions of the installed headers"
else
	fail "nm -D and the installed headers' LUTDB_API functions differ" \
		"exported, not declared: $(comm -23 exported declared | tr '\n' ' ')" \
		"declared, not exported: $(comm -13 exported declared | tr '\n' ' ')"
fi

# ---- 3. C and C++ programs through pkg-config -----------------------------------
export PKG_CONFIG_SYSROOT_DIR=$STAGE PKG_CONFIG_PATH=$ROOT/lib/pkgconfig
VERSION=$(sed -n 's/^#define LUTDB_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/lutdb.h")
check "pkg-config --modversion lutdb is the header's version ($VERSION)" \
	test "$(pkg-config --modversion lutdb)" = "$VERSION"

cat >prog.c <<'EOF'
/* Every installed header, as a C program includes them; the library's
 * version, lutdb_free, and one round trip: pack, open, decode, tokenize. */
#include <lutdb_err.h>
#include <lutdb_types.h>
#include <lutdb.h>
#include <lutdb_runtime.h>
#include <lutdb_tokenizer.h>
#include <lutdb_pack.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #c, \
				lutdb_errdetail());                                        \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	CHECK(f && !fseek(f, 0, SEEK_END));
	*len = (size_t)ftell(f);
	rewind(f);
	CHECK((b = malloc(*len)) && fread(b, 1, *len, f) == *len);
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	char v[32];
	snprintf(v, sizeof v, "%d.%d.%d", LUTDB_VERSION_MAJOR, LUTDB_VERSION_MINOR, LUTDB_VERSION_PATCH);
	CHECK(LUTDB_VERSION_NUMBER == lutdb_libversion_number());
	CHECK(!strcmp(LUTDB_VERSION_STRING, lutdb_libversion()));
	CHECK(!strcmp(v, LUTDB_VERSION_STRING));
	CHECK(LUTDB_VERSION_NUMBER == LUTDB_VERSION_MAJOR * 1000000 + LUTDB_VERSION_MINOR * 1000 + LUTDB_VERSION_PATCH);
	CHECK(!strcmp(lutdb_strerror(LUTDB_ENOENT), "not found"));
	lutdb_free(NULL);

	/* argv: checkpoint, database to write, tokenizer.json */
	lutdb_pack_opts po = {.size = sizeof po, .dtype = LUTDB_DTYPE_F32, .threads = 1};
	lutdb_db *db;
	lutdb_model *m;
	lutdb_session *s;
	CHECK(argc == 4);
	CHECK(lutdb_pack(argv[1], argv[2], &po) == LUTDB_OK);
	CHECK(lutdb_open(argv[2], 0, &db) == LUTDB_OK);
	CHECK(lutdb_get_info(db)->table_dtype == LUTDB_DTYPE_F32);
	CHECK(!strcmp(lutdb_family_name(lutdb_get_info(db)->family), "mole"));
	CHECK(lutdb_model_new(db, NULL, &m) == LUTDB_OK);
	CHECK(lutdb_session_new(m, NULL, &s) == LUTDB_OK);
	uint32_t *ids;
	size_t n;
	CHECK(lutdb_ids_parse("1, 2 3", 6, &ids, &n) == LUTDB_OK && n == 3);
	CHECK(lutdb_session_feed(s, ids, n, NULL, NULL) == LUTDB_OK);
	uint32_t next = lutdb_argmax(lutdb_session_logits(s), lutdb_model_info(m)->vocab);
	CHECK(next < lutdb_model_info(m)->vocab);
	lutdb_free(ids);
	lutdb_session_free(s);
	lutdb_model_free(m);
	lutdb_close(db);

	size_t len, tlen;
	char *json = slurp(argv[3], &len), *text;
	lutdb_tokenizer *t;
	CHECK(lutdb_tokenizer_load(json, len, &t) == LUTDB_OK);
	free(json);
	CHECK(lutdb_tokenizer_encode(t, "Hello, world", 12, 0, &ids, &n) == LUTDB_OK && n > 0);
	CHECK(lutdb_tokenizer_decode(t, ids, n, 0, &text, &tlen) == LUTDB_OK);
	CHECK(tlen == 12 && !memcmp(text, "Hello, world", 12));
	lutdb_free(ids);
	lutdb_free(text);
	lutdb_tokenizer_free(t);
	printf("lutdb %s: next id %u\n", lutdb_libversion(), next);
	return 0;
}
EOF

cat >prog.cc <<'EOF'
// Every installed header, as a C++ program includes them (extern "C").
#include <lutdb_pack.h>
#include <lutdb_tokenizer.h>
#include <lutdb_runtime.h>
#include <lutdb.h>
#include <lutdb_types.h>
#include <lutdb_err.h>

#include <cstdio>
#include <cstring>
#include <string>

int main()
{
	std::string v = std::to_string(LUTDB_VERSION_MAJOR) + "." + std::to_string(LUTDB_VERSION_MINOR) + "." +
			std::to_string(LUTDB_VERSION_PATCH);
	if (LUTDB_VERSION_NUMBER != lutdb_libversion_number() || v != lutdb_libversion() ||
	    v != LUTDB_VERSION_STRING) {
		std::fprintf(stderr, "version: header %s (%d), library %s (%d)\n", LUTDB_VERSION_STRING,
			     LUTDB_VERSION_NUMBER, lutdb_libversion(), lutdb_libversion_number());
		return 1;
	}
	lutdb_pack_opts o{};
	o.size = sizeof o;
	o.dtype = LUTDB_DTYPE_BF16;
	o.codec = LUTDB_CODEC_SHUFFLE_LZ4;
	// No such checkpoint: a clean failure with a detail, through C++.
	if (lutdb_pack("/nonexistent-lutdb-abi", "/nonexistent-lutdb-abi/x.lutdb", &o) != LUTDB_EBADINPUT ||
	    !*lutdb_errdetail())
		return 1;
	uint32_t *ids = nullptr;
	size_t n = 0;
	if (lutdb_ids_parse("7 8", 3, &ids, &n) != LUTDB_OK || n != 2 || ids[1] != 8)
		return 1;
	lutdb_free(ids);
	lutdb_close(nullptr);
	lutdb_tokenizer_free(nullptr);
	std::printf("lutdb %s from C++: %s\n", lutdb_libversion(), lutdb_dtype_name(LUTDB_DTYPE_BF16));
	return 0;
}
EOF

CKPT=$LUTDB_FIXTURES/mole_rep_f16/ckpt
TOK=$E2E_ROOT/tests/demo/tokenizer.json
WFLAGS="-Wall -Wextra -Werror -pedantic"
# The programs' own compile and link lines: what pkg-config says, nothing else
# of ours.
build_prog() { # NAME COMPILER STD SRC LINKAGE
	local name=$1 comp=$2 std=$3 src=$4 link=$5 libs
	if [ "$link" = static ]; then
		# -l:liblutdb.a takes the archive although liblutdb.so sits next to it.
		libs=$(pkg-config --static --libs lutdb | sed 's/-llutdb\b/-l:liblutdb.a/')
	else
		libs=$(pkg-config --libs lutdb)
	fi
	# shellcheck disable=SC2046,SC2086
	expect_ok "$name: $comp $std via pkg-config ($link)" \
		$comp $std $WFLAGS $SAN $(pkg-config --cflags lutdb) "$src" -o "$name" $libs
}
needs_so() { readelf -d "$1" | grep -q 'NEEDED.*\[liblutdb\.so\.0\]'; }

build_prog c-shared "$CC" -std=c11 prog.c shared &&
	check "c-shared needs liblutdb.so.0" needs_so c-shared &&
	expect_ok "c-shared runs against the installed liblutdb.so.0: version, lutdb_free, pack, decode, tokenize" \
		env LD_LIBRARY_PATH="$ROOT/lib" ./c-shared "$CKPT" c-shared.lutdb "$TOK"
check "c-shared loaded the installed library" \
	grep -q "$ROOT/lib/liblutdb.so.0" <(env LD_LIBRARY_PATH="$ROOT/lib" ldd ./c-shared)

build_prog c-static "$CC" -std=c11 prog.c static &&
	check "c-static does not need liblutdb.so" eval '! needs_so c-static' &&
	expect_ok "c-static runs: version, lutdb_free, pack, decode, tokenize" ./c-static "$CKPT" c-static.lutdb "$TOK"

build_prog cxx-shared "$CXX" -std=c++11 prog.cc shared &&
	check "cxx-shared needs liblutdb.so.0" needs_so cxx-shared &&
	expect_ok "cxx-shared runs against the installed liblutdb.so.0" env LD_LIBRARY_PATH="$ROOT/lib" ./cxx-shared

build_prog cxx-static "$CXX" -std=c++11 prog.cc static &&
	check "cxx-static does not need liblutdb.so" eval '! needs_so cxx-static' &&
	expect_ok "cxx-static runs" ./cxx-static

# ---- 4. the installed command ------------------------------------------------------
check "bin/lutdb is self-contained (no liblutdb.so)" eval "! needs_so '$ROOT/bin/lutdb'"
out=$("$ROOT/bin/lutdb" --version 2>&1)
check "bin/lutdb --version says $VERSION ($out)" grep -q "^lutdb $VERSION " <<<"$out"

# ---- 5. make uninstall -----------------------------------------------------------
expect_ok "make uninstall DESTDIR=$STAGE PREFIX=$PREFIX" mk uninstall
left=$(cd "$STAGE" && find . \( -type f -o -type l \))
check "uninstall left no file${left:+ (left: $left)}" test -z "$left"

e2e_finish
