#!/usr/bin/env bash
# quant_quality.sh BUILD_DIR - held-out loss and file size of the demo models
# (tests/demo/models: dense, MoLE, MoLKV) per table and weight type (issue 13).
#
# Each model is packed as shipped (F16 weights and table) and with one part
# quantized: the table in Q8_0, Q4_0, NF4 and NF3 (blocks that divide d = 192
# and, for MoLKV, dk = 64: 64, and 192 = one scale per vector where dk allows),
# or the dense weights in Q8_0 / Q4_0 (F16 table).  `lutdb eval --ids
# heldout.ids` scores the held-out fortunes; the greedy column counts how
# many of the first 32 greedy ids after prompt.txt equal the F16 pack's.
# The table is the README's.
# Takes about a minute per model on one thread.
set -euo pipefail
BUILD=${1:?usage: quant_quality.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LUTDB="$BUILD/lutdb"
W="$BUILD/demo-quant"
mkdir -p "$W"

loss() { "$LUTDB" eval "$1" --ids "$HERE/heldout.ids" --threads 1 --quiet | sed -n 's/.*loss[= ]\([0-9.]*\).*/\1/p' | head -1; }
size() { stat -c %s "$1"; }
# the first 32 greedy ids after the demo prompt (argmax of the dumped logits
# from the prompt's last position on: each is the id fed back next; fewer
# when an eos id stops the run)
greedy() {
	local ids
	ids=$("$LUTDB" tokenize "$1" "$(cat "$HERE/prompt.txt")")
	"$LUTDB" run "$1" --prompt-ids "$ids" -n 32 --greedy --threads 1 --quiet --dump-logits "$W/logits.f32" >/dev/null
	/usr/bin/python3 -c 'import sys, numpy as np
v, p = int(sys.argv[2]), len(sys.argv[3].split(","))
a = np.fromfile(sys.argv[1], "<f4").reshape(-1, v)
print(",".join(str(int(i)) for i in a[p - 1:].argmax(1)))' "$W/logits.f32" "$2" "$ids"
}
# how many leading ids of a list agree with the baseline's, "n/length"
agree() { /usr/bin/python3 -c 'import sys, itertools
a, b = sys.argv[1].split(","), sys.argv[2].split(",")
print("%d/%d" % (sum(1 for _ in itertools.takewhile(lambda p: p[0] == p[1], zip(a, b))), len(b)))' "$1" "$2"; }
table_bytes() { "$LUTDB" info "$1" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["table"]["bytes"])'; }

printf '| model | variant | file MB | table MB | table / F16 table | held-out loss | vs F16 | greedy ids = F16 |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for m in dense mole molkv; do
	variants=("f16:" "table Q8_0:--table-dtype q8_0" "table Q4_0:--table-dtype q4_0"
		"table NF4 B64:--table-dtype nf4 --table-block 64" "table NF3 B64:--table-dtype nf3 --table-block 64")
	[ $m != molkv ] && variants+=("table NF4 B192:--table-dtype nf4 --table-block 192"
		"table NF3 B192:--table-dtype nf3 --table-block 192")
	variants+=("weights Q8_0:--weight-dtype q8_0" "weights Q4_0:--weight-dtype q4_0"
		"weights Q4_0, table NF4 B64:--weight-dtype q4_0 --table-dtype nf4 --table-block 64")
	base="" basetab="" basegreedy=""
	for v in "${variants[@]}"; do
		name=${v%%:*} opts=${v#*:}
		db="$W/$m-$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').lutdb"
		# shellcheck disable=SC2086
		[ -f "$db" ] || "$LUTDB" pack "$HERE/models/$m" "$db" $opts --quiet >/dev/null 2>&1 ||
			{ printf '| %s | %s | pack failed | | | | |\n' "$m" "$name"; continue; }
		l=$(loss "$db"); s=$(size "$db"); t=$(table_bytes "$db"); g=$(greedy "$db" 4096)
		[ -z "$base" ] && { base=$l; basetab=$t; basegreedy=$g; }
		printf '| %s | %s | %.2f | %.2f | %.3f | %.4f | %+.4f | %s |\n' "$m" "$name" "$(echo "$s / 1000000" | bc -l)" \
			"$(echo "$t / 1000000" | bc -l)" "$(echo "$t / $basetab" | bc -l)" "$l" "$(echo "$l - $base" | bc -l)" \
			"$(agree "$g" "$basegreedy")"
	done
done
