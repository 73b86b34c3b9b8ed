#!/usr/bin/env bash
# The tokenizer's time bounds through the CLI (issue 12, class 6): pack
# refuses a tokenizer whose regex has no linear-time bound (a backreference,
# a nested repeat), and `lutdb tokenize` of a text on which an accepted
# pattern backtracks quadratically stops at the work budget with exit 3
# instead of running for minutes.  (Memory per input byte and the full list
# of refused constructs: tests/unit/test_tokenizer_bounds.c.)
. "$(dirname "$0")/lib.sh"
e2e_init tokenizer-bounds
DEMO=$E2E_ROOT/tests/demo

# The demo tokenizer with a Split(pattern) in front of its pre-tokenizer.
with_split() { # PATTERN OUT
	/usr/bin/python3 - "$DEMO/tokenizer.json" "$1" "$2" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
split = {"type": "Split", "pattern": {"Regex": sys.argv[2]}, "behavior": "Isolated", "invert": False}
t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [split, t["pre_tokenizer"]]}
json.dump(t, open(sys.argv[3], "w"))
PY
}

with_split '(a)\1' "$T/backref.json"
expect_fail "pack --tokenizer with a backreference" 3 "backreference" \
	lutdb pack "$DEMO/models/mole" "$T/bad.lutdb" --quiet --tokenizer "$T/backref.json"
no_output "pack --tokenizer with a backreference" "$T/bad.lutdb"

with_split '(?:\s+x)+' "$T/nested.json"
expect_fail "pack --tokenizer with a nested repeat" 3 "repeated group" \
	lutdb pack "$DEMO/models/mole" "$T/bad.lutdb" --quiet --tokenizer "$T/nested.json"
no_output "pack --tokenizer with a nested repeat" "$T/bad.lutdb"

# Accepted, but quadratic on a space run without a newline: before the
# budget 50,000 spaces took 3 s and 550,000 would take minutes.
with_split '[ ]*[ ]*[\r\n]' "$T/quad.json"
expect_ok "pack --tokenizer with a quadratic but regular pattern" \
	lutdb pack "$DEMO/models/mole" "$T/quad.lutdb" --quiet --tokenizer "$T/quad.json"
if [ -n "${LUTDB_VALGRIND:-}" ]; then
	skip "tokenize 550 KB and 4 MB texts" "minutes under memcheck"
	e2e_finish
fi
head -c 550000 /dev/zero | tr '\0' ' ' >"$T/spaces.txt"
start=$(date +%s)
expect_fail "tokenize 550 KB on which the pattern backtracks quadratically" 3 "regex work limit" \
	lutdb tokenize "$T/quad.lutdb" - <"$T/spaces.txt"
secs=$(($(date +%s) - start))
# 60 s natively (scaled under qemu, where minutes become hours).
limit=$(printf '%.0f' "$(scaled 60)")
check "the work budget stopped it in under $limit s (took ${secs} s)" test "$secs" -lt "$limit"
expect_ok "the same database tokenizes ordinary text" lutdb tokenize "$T/quad.lutdb" "a b
c"

# A long whitespace run with the demo's own (GPT-2 style) tokenizer: one
# pre-token, within the budget.
demo_mole "pack the demo MoLE" "$T/mole.lutdb"
head -c 4000000 /dev/zero | tr '\0' ' ' >"$T/spaces4m.txt"
expect_ok "tokenize 4 MB of spaces with the demo tokenizer" lutdb tokenize "$T/mole.lutdb" - <"$T/spaces4m.txt"
e2e_finish
