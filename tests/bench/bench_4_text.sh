#!/usr/bin/env bash
# Text part: tokenizer encode throughput (single thread, GPT-2 tokenizer.json,
# the Debian fortunes corpus split into records) against js-tiktoken (GPT-2
# ranks) on the same text, alternating, medians; time to first token for a
# 64-token prompt on the demo MoLE.
set -u
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$LUTDB_BENCH_DIR/text
mkdir -p "$D"
# The GPT-2 tokenizer.json and the npm references come from the tokenizer
# test driver (tests/tokenizer/run.sh builds them under BUILD).
[ -f "$LUTDB_BUILD/tokenizer-fixtures/gpt2.json" ] || bash "$ROOT/tests/tokenizer/run.sh" "$LUTDB_BUILD" >/dev/null 2>&1
TOK=$LUTDB_BUILD/tokenizer-fixtures/gpt2.json
cat $(ls -d /usr/share/games/fortunes/* | grep -v '\.dat$' | grep -v '\.u8$' | grep -v '/off$') >"$D/fortunes.txt"
MB=$(echo "$(stat -c %s "$D/fortunes.txt") / 1000000" | bc -l)
: >"$D/c.t"; : >"$D/js.t"
for r in 1 2 3; do
	"$LUTDB_TOOLS/bench_tokenizer" "$TOK" "$D/fortunes.txt" records 3 |
		sed -n 's/^encode.*: \([0-9.]*\) MB\/s wall.*/\1/p' >>"$D/c.t"
	LUTDB_NODE_DIR=$LUTDB_BUILD/node node "$ROOT/tests/tokenizer/bench_ref.js" "$D/fortunes.txt" |
		sed -n 's/^js-tiktoken.*: \([0-9.]*\) MB\/s wall.*/\1/p' >>"$D/js.t"
done
C=$(median <"$D/c.t"); JS=$(median <"$D/js.t")
# Time to first token: the engine's prefill of 64 tokens (best of 3) plus one
# sampling, and the whole `lutdb run -n 1` command (open, model, prefill).
"$LUTDB_BIN" pack "$ROOT/tests/demo/models/mole" "$D/demo.lutdb" --quiet
PF=$("$LUTDB_TOOLS/bench_decode" "$D/demo.lutdb" --prompt 64 --tokens 8 | kv prefill_ms)
IDS=$(seq 100 163 | paste -sd,)
: >"$D/run.t"
for r in 1 2 3 4 5; do
	s=$(date +%s.%N)
	"$LUTDB_BIN" run "$D/demo.lutdb" --prompt-ids "$IDS" -n 1 --quiet >/dev/null
	e=$(date +%s.%N)
	echo "($e - $s) * 1000" | bc -l >>"$D/run.t"
done
RUN=$(median <"$D/run.t")
printf '\n%-48s %12s %12s %8s  %s\n' "text" measured baseline ratio goal
printf '%-48s %7.1f MB/s %7.2f MB/s %8.1f  %s\n' "tokenizer encode, 1 thread (GPT-2, fortunes) vs js-tiktoken" "$C" "$JS" "$(echo "$C / $JS" | bc -l)" ">= 20 MB/s, >= 3x"
printf '%-48s %9.2f ms\n' "time to first token, 64-token prompt (engine)" "$PF"
printf '%-48s %9.2f ms\n' "  whole lutdb run -n 1 (open + load + prefill)" "$RUN"
echo "corpus: $(printf %.2f "$MB") MB of Debian fortunes"
rm -rf "$D"
