#!/usr/bin/env bash
# demo.sh BUILD_DIR - packs the demo MoLE model and generates text from a prompt.
#
# Called by `make demo` after the build.  The model is tests/demo/models/mole
# (a small MoLE trained on the Debian fortunes, see tests/demo/README.md).  It
# is packed into BUILD_DIR/demo/mole.lutdb (training form -> lookup table,
# F16), and `lutdb run --prompt` continues the prompt (prompt.txt) with the
# tokenizer stored in the database.  The text goes to stdout between two
# "----" lines; pack and run statistics go to stderr.
set -euo pipefail
BUILD=${1:?usage: demo.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LUTDB="$BUILD/lutdb"
PROMPT=$(cat "$HERE/prompt.txt")
DB="$BUILD/demo/mole.lutdb"
[ -x "$LUTDB" ] || { echo "demo: $LUTDB is missing (run make first)" >&2; exit 1; }
mkdir -p "$BUILD/demo"

echo "== lutdb pack tests/demo/models/mole $DB" >&2
"$LUTDB" pack "$HERE/models/mole" "$DB" --quiet
"$LUTDB" info "$DB" >&2

GEN=(-n 60 --temp 0.8 --top-k 40 --seed 42)
echo "== lutdb run $DB --prompt \"$PROMPT\" ${GEN[*]}" >&2
# lutdb run streams the generated text only, so the prompt is printed first.
echo "----"
printf '%s' "$PROMPT"
"$LUTDB" run "$DB" --prompt "$PROMPT" "${GEN[@]}" --quiet
echo "----"
