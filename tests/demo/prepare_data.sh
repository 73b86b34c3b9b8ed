#!/usr/bin/env bash
# prepare_data.sh [OUT_DIR] - the demo's corpus, split, tokenizer and ids.
#
#   1. make_corpus.py: the Debian `fortunes` files -> OUT/train.jsonl,
#      OUT/heldout.jsonl (every 20th fortune held out), OUT/train.txt,
#      OUT/heldout.txt; extra training text from other Debian packages
#      (fortune-anarchism, fortunes-bofh-excuses, tfortunes, jargon-text; all
#      public domain), deduplicated against the held-out -> OUT/extra.jsonl
#   2. tests/tokenizer/train_bpe.js: byte-level BPE, 4096 tokens with
#      <|endoftext|> (id 4095), trained on OUT/train.txt only -> OUT/tokenizer.json
#   3. tokenize_ids.js: OUT/train.ids, OUT/heldout.ids and OUT/extra.ids,
#      each document followed by the <|endoftext|> id
#
# OUT defaults to build/demo-data.  The committed tests/demo/tokenizer.json
# is used for step 3 unless RETRAIN_TOKENIZER=1 (then the fresh one is also
# compared with it).  The committed tests/demo/heldout.ids is compared with
# the regenerated one.  npm packages: LUTDB_NODE_DIR (default build/node),
# installed from tests/tokenizer/package-lock.json when missing, as
# tests/tokenizer/run.sh does.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/build/demo-data}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export LUTDB_NODE_DIR=${LUTDB_NODE_DIR:-$ROOT/build/node}

bash "$ROOT/tests/deps.sh" fortunes fortune-anarchism fortunes-bofh-excuses tfortunes jargon-text
command -v node >/dev/null || { echo "prepare_data: node is not installed (Debian: nodejs npm)" >&2; exit 1; }
if [ ! -d "$LUTDB_NODE_DIR/node_modules/tokenizers" ]; then
	echo "prepare_data: installing npm packages into $LUTDB_NODE_DIR" >&2
	mkdir -p "$LUTDB_NODE_DIR"
	cp "$ROOT/tests/tokenizer/package.json" "$ROOT/tests/tokenizer/package-lock.json" "$LUTDB_NODE_DIR/"
	(cd "$LUTDB_NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

/usr/bin/python3 "$HERE/make_corpus.py" "$OUT"
if [ "${RETRAIN_TOKENIZER:-0}" = 1 ] || [ ! -f "$HERE/tokenizer.json" ]; then
	node "$ROOT/tests/tokenizer/train_bpe.js" "$OUT/train.txt" "$OUT/tokenizer.json" 4096
	if [ -f "$HERE/tokenizer.json" ]; then
		cmp -s "$OUT/tokenizer.json" "$HERE/tokenizer.json" &&
			echo "prepare_data: retrained tokenizer is identical to tests/demo/tokenizer.json" >&2 ||
			echo "prepare_data: NOTE retrained tokenizer differs from tests/demo/tokenizer.json" >&2
	fi
else
	cp "$HERE/tokenizer.json" "$OUT/tokenizer.json"
fi
node "$HERE/tokenize_ids.js" "$OUT/tokenizer.json" --jsonl "$OUT/train.jsonl" "$OUT/train.ids"
node "$HERE/tokenize_ids.js" "$OUT/tokenizer.json" --jsonl "$OUT/heldout.jsonl" "$OUT/heldout.ids"
node "$HERE/tokenize_ids.js" "$OUT/tokenizer.json" --jsonl "$OUT/extra.jsonl" "$OUT/extra.ids"
if [ -f "$HERE/heldout.ids" ]; then
	cmp -s "$OUT/heldout.ids" "$HERE/heldout.ids" &&
		echo "prepare_data: heldout.ids matches tests/demo/heldout.ids" >&2 ||
		echo "prepare_data: NOTE heldout.ids differs from tests/demo/heldout.ids" >&2
fi
echo "prepare_data: $OUT ready" >&2
