#!/usr/bin/env bash
# demo.sh BUILD_DIR - packs the demo MoLE model and generates text from a prompt.
#
# Called by `make demo` after the build.  The model is tests/demo/models/mole
# (a small MoLE trained on the Debian fortunes, see tests/demo/README.md).  It
# is packed into BUILD_DIR/demo/mole.lutdb (training form -> lookup table,
# F16) and `lutdb run --prompt` continues the prompt (prompt.txt).  With a
# lutdb that has no text prompts yet, the prompt's committed ids (prompt.ids,
# from tokenize_ids.js --text) are fed instead and the generated ids are
# decoded with decode_ids.js when node is installed (no npm package needed),
# else with python3, else printed as ids.
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
"$LUTDB" info "$DB" >&2 || true

GEN=(-n 60 --temp 0.8 --top-k 40 --seed 42)
echo "== lutdb run (prompt: \"$PROMPT\") ${GEN[*]}" >&2
# A lutdb with text prompts encodes and decodes with the tokenizer stored in
# the database (it streams the generated text only, so the prompt is printed
# first).  An older one gets prompt.ids and the ids are decoded below.
if "$LUTDB" run --help 2>&1 | grep -q -- '--prompt TEXT'; then
	echo "----"
	printf '%s' "$PROMPT"
	"$LUTDB" run "$DB" --prompt "$PROMPT" "${GEN[@]}" --quiet
	echo "----"
	exit 0
fi
ids=$("$LUTDB" run "$DB" --prompt-ids "$(cat "$HERE/prompt.ids")" "${GEN[@]}" --quiet | tail -n 1)

all="$(cat "$HERE/prompt.ids"),$ids"
echo "ids: $all" >&2
echo "----"
if command -v node >/dev/null; then
	node "$HERE/decode_ids.js" "$HERE/tokenizer.json" "$all"
elif command -v python3 >/dev/null; then
	python3 - "$HERE/tokenizer.json" "$all" <<'PY'
import json, sys
tok = json.load(open(sys.argv[1], encoding="utf-8"))
inv = {i: s for s, i in tok["model"]["vocab"].items()}
special = {t["id"]: t["content"] for t in tok.get("added_tokens", [])}
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:]
n = 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
byte_of = {chr(c): b for b, c in zip(bs, cs)}
out = bytearray()
for x in sys.argv[2].replace(",", " ").split():
    i = int(x)
    out += special[i].encode() if i in special else bytes(byte_of[ch] for ch in inv[i])
print(out.decode("utf-8", errors="replace"))
PY
else
	echo "(no node or python3 to decode; ids above)"
fi
echo "----"
