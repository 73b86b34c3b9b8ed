#!/usr/bin/env bash
# tests/e2e/test_make.sh - `make` with no target builds everything.
#
# The README says "`make` alone builds build/lutdb, build/liblutdb.{a,so}
# and build/lutdb.pc"; the Makefile once began with a FORCE rule, so plain
# `make` did nothing.  `make -n` (nothing is run) with no target must plan
# the same as `make -n all`: the link of the command and of both libraries,
# the .pc file and the layering and header lints, into a fresh BUILD and,
# with -B, into the default build/.  LUTDB_MAKE_ROOT checks another tree
# (an old checkout, to see the test fail there).
. "$(dirname "$0")/lib.sh"
e2e_init make
ROOT=${LUTDB_MAKE_ROOT:-$E2E_ROOT}
B=$T/fresh

# plan NAME ARGS...: the commands `make -n ARGS` would run, in $T/NAME.plan.
# Run from make test, the outer make's flags and variables would reach this
# one: through MAKEFLAGS, and as environment variables, since make exports
# the variables of its command line to its recipes (make asan sets BUILD,
# OPT and EXTRA_CFLAGS).  It starts from an empty environment instead.
plan() {
	local name=$1
	shift
	env -i PATH="$PATH" HOME="${HOME:-/}" \
		make --no-print-directory -C "$ROOT" -n "$@" >"$T/$name.plan" 2>"$T/$name.err"
}

# plans_all PLANFILE DIR: the plan builds everything `make install` installs.
plans_all() {
	local p=$1 d=$2 missing=()
	grep -qE -- "-o $d/lutdb( |$)" "$p" || missing+=("link of $d/lutdb")
	grep -qE -- "-shared .*-o $d/liblutdb\.so( |$)" "$p" || missing+=("link of $d/liblutdb.so")
	grep -qE -- "^ar rcs $d/liblutdb\.a " "$p" || missing+=("archive $d/liblutdb.a")
	grep -qF -- "> $d/lutdb.pc" "$p" || missing+=("$d/lutdb.pc")
	grep -qF -- "tests/lint/layers.sh $d" "$p" || missing+=("the layering lint")
	grep -qF -- "tests/lint/headers.sh $d" "$p" || missing+=("the header lint")
	if [ ${#missing[@]} -gt 0 ]; then
		(IFS=,; echo "missing from the plan: ${missing[*]}; it begins:")
		head -c 600 "$p"
		return 1
	fi
}

check_plan() { # DESC PLANFILE DIR
	local why
	if why=$(plans_all "$2" "$3"); then
		pass "$1 ($(grep -c '' "$2") commands)"
	else
		fail "$1" "$why" "$(cat "${2%.plan}.err")"
	fi
}

if plan none BUILD="$B"; then
	check_plan "make with no target plans the whole build into a fresh BUILD" "$T/none.plan" "$B"
else
	fail "make -n with no target failed" "$(tail -5 "$T/none.err")"
fi
check "make -n BUILD=<fresh> ran nothing (no $B)" test ! -e "$B"
if plan all BUILD="$B" all; then
	check "make with no target plans the same as make all" cmp -s "$T/none.plan" "$T/all.plan"
else
	fail "make -n all failed" "$(tail -5 "$T/all.err")"
fi
# The README's words: plain `make`, default BUILD.  -B plans every step even
# when build/ is up to date.
if plan default -B; then
	check_plan "make with no target and no BUILD plans build/lutdb, build/liblutdb.{a,so}, build/lutdb.pc" \
		"$T/default.plan" build
else
	fail "make -n -B with no target failed" "$(tail -5 "$T/default.err")"
fi
e2e_finish
