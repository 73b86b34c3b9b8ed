#!/usr/bin/env bash
# Text in, text out through the CLI, on the demo MoLE with its BPE tokenizer:
# `lutdb tokenize` against the Hugging Face tokenizer (the npm `tokenizers`
# binding installed by tests/tokenizer/run.sh), detokenize round trips, stdin
# forms, run --prompt / --prompt-file / --prompt -, eval --text = eval --ids,
# and the tokenizer checks of pack.
. "$(dirname "$0")/lib.sh"
e2e_init text
DEMO=$E2E_ROOT/tests/demo
DB=$T/mole.lutdb
NODE_DIR=${LUTDB_NODE_DIR:-$LUTDB_BUILD/node}
export LUTDB_NODE_DIR=$NODE_DIR

demo_mole "pack the demo MoLE with its tokenizer" "$DB"
check "info shows the tokenizer" grep -q "^tokenizer   BPE, vocab 4096" <(lutdb info "$DB")

# The text's own ids, as Hugging Face encodes them.
texts=("A programmer" "Hello, world! It's 2026: don't panic." $'tabs\tand  spaces\n\nnew lines'
	"Naïve café, 東京, 한국어, العربية, 👩‍👩‍👧 <|endoftext|> after" "x = f(y) + 42  # code")
if [ -d "$NODE_DIR/node_modules/tokenizers" ]; then
	for i in "${!texts[@]}"; do
		node "$DEMO/tokenize_ids.js" "$DEMO/tokenizer.json" --text "${texts[$i]}" "$T/ref$i.ids" 2>/dev/null
		got=$(lutdb tokenize "$DB" "${texts[$i]}")
		check "tokenize #$i equals Hugging Face" test "$got" = "$(tr -d '\n' <"$T/ref$i.ids")"
	done
else
	fail "the Hugging Face reference is not installed in $NODE_DIR (run tests/tokenizer/run.sh)"
fi
for i in "${!texts[@]}"; do
	ids=$(lutdb tokenize "$DB" "${texts[$i]}")
	check "detokenize(tokenize(x)) == x #$i" test "$(lutdb detokenize "$DB" "$ids"; echo .)" = "${texts[$i]}."
done
check "tokenize - reads stdin" test "$(printf 'A programmer' | lutdb tokenize "$DB" -)" = "$(lutdb tokenize "$DB" 'A programmer')"
check "detokenize - reads stdin, spaces as separators" \
	test "$(echo "65 1919" | lutdb detokenize "$DB" -)" = "A programmer"
check "a special token written in the text is its id" test "$(lutdb tokenize "$DB" '<|endoftext|>')" = 4095
expect_fail "detokenize: id out of range" 2 "out of range" lutdb detokenize "$DB" 1,99999

# Generation from text: deterministic, the same from every prompt form.
expect_ok "run --prompt" lutdb run "$DB" --prompt "A programmer" -n 24 --quiet
out1=$E2E_LAST_OUT
check "run --prompt printed text" test -n "$out1"
printf 'A programmer' >"$T/prompt.txt"
check "run --prompt-file gives the same text" test "$(lutdb run "$DB" --prompt-file "$T/prompt.txt" -n 24 --quiet)" = "$out1"
check "run --prompt - gives the same text" test "$(printf 'A programmer' | lutdb run "$DB" --prompt - -n 24 --quiet)" = "$out1"
ids=$(lutdb run "$DB" --prompt-ids "$(lutdb tokenize "$DB" 'A programmer')" -n 24 --quiet | tail -n 1)
ids=${ids%,4095} # the eos id, which text output does not show
check "run --prompt = detokenized run --prompt-ids" test "$(lutdb detokenize "$DB" "$ids"; echo .)" = "$out1."

# eval --text scores the same ids as eval --ids.
printf 'Q: What do you call a programmer from Finland?\nA: Nerdic.\n' >"$T/t.txt"
lutdb tokenize "$DB" - <"$T/t.txt" >"$T/t.ids"
check "eval --text = eval --ids" test "$(lutdb eval "$DB" --text "$T/t.txt" --quiet | tail -n 1)" = \
	"$(lutdb eval "$DB" --ids "$T/t.ids" --quiet | tail -n 1)"

# Pack refuses a tokenizer whose ids do not fit V, and leaves nothing.
cp "$DEMO/tokenizer.json" "$T/big.json"
sed -i 's/"<|endoftext|>": 4095/"<|endoftext|>": 5000/; s/"id": 4095/"id": 5000/' "$T/big.json"
/usr/bin/python3 - "$T/big.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["model"]["vocab"]["zzzz_extra"] = 9000
json.dump(t, open(sys.argv[1], "w"))
PY
expect_fail "pack --tokenizer with ids past V" 3 "does not fit the model's vocabulary" \
	lutdb pack "$DEMO/models/mole" "$T/bad.lutdb" --tokenizer "$T/big.json"
no_output "pack --tokenizer with ids past V" "$T/bad.lutdb"
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$T/uni.json"
expect_fail "pack --tokenizer the runtime cannot execute" 3 "Unigram" \
	lutdb pack "$DEMO/models/mole" "$T/bad.lutdb" --tokenizer "$T/uni.json"
no_output "pack --tokenizer the runtime cannot execute" "$T/bad.lutdb"
e2e_finish
