#!/usr/bin/env bash
# The server under load: 16 concurrent streaming clients (tests/bench/
# serve_load.js, greedy, 8-id prompts, 64 ids each) against `lutdb serve
# --parallel 16` on the MoLE-160M-4E F16 database of bench_5_batch.sh, next
# to the library's batch-16 decode throughput (bench_batch) measured in the
# same run at a similar context (16 positions, 32 steps).  Goal: aggregate tokens/s >= 0.9x the library's.  Also
# p50/p99 time to first token and inter-token latency.  A missed goal is
# marked MISSED (it does not fail make bench).  LUTDB_SERVE_BENCH_DB runs it
# on another database (a quick check of the script on a small model), with
# LUTDB_SERVE_BENCH_CTX positions per sequence (default 256).
set -u -o pipefail
. "$(dirname "$0")/lib.sh"
D=$LUTDB_BENCH_DIR/batch
mkdir -p "$D"
T=$LUTDB_TOOLS
DB=${LUTDB_SERVE_BENCH_DB:-$D/n4f16.lutdb}
CLIENTS=16 PROMPT=8 TOKENS=64
if [ ! -f "$DB" ]; then
	if [ "$(free_gb "$LUTDB_BENCH_DIR")" -lt 8 ]; then
		echo "serve: needs 8 GB free in $LUTDB_BENCH_DIR (the F16 table is 3.7 GB)"; exit 1
	fi
	"$T/gen_model" db "$DB" || exit 1
fi
"$T/bench_batch" "$DB" --threads 2 --runs 3 --steps 32 --context 16 --prefill 64 --batches 16 >"$D/serve-lib.txt" || exit 1
lib=$(sed -n 's/^batch=16 .* tok_s=\([0-9.]*\) .*/\1/p' "$D/serve-lib.txt")
vocab=$(sed -n 's/^vocab=\([0-9]*\) .*/\1/p' "$D/serve-lib.txt")

log=$D/serve.log
"$LUTDB_BIN" serve "$DB" --port 0 --threads 2 --parallel $CLIENTS --ctx-per-seq ${LUTDB_SERVE_BENCH_CTX:-256} 2>"$log" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null' EXIT
port=
for i in $(seq 600); do
	port=$(sed -n 's/^lutdb serve: listening on http:\/\/[^ ]*:\([0-9]*\) .*/\1/p' "$log")
	[ -n "$port" ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || { echo "serve: the server did not start"; cat "$log"; exit 1; }
# One warm-up request (the first touches every weight page), then the run.
node "$(dirname "$0")/serve_load.js" "$port" 1 $PROMPT 8 "$vocab" >/dev/null || exit 1
node "$(dirname "$0")/serve_load.js" "$port" $CLIENTS $PROMPT $TOKENS "$vocab" | tee "$D/serve.txt" || exit 1
kill -TERM $pid
wait $pid
trap - EXIT

got=$(kv tok_s <"$D/serve.txt")
ratio=$(echo "scale=3; $got / $lib" | bc)
ok=$(echo "$ratio >= 0.9" | bc)
printf '\n%-48s %10s  %s\n' "server (16 streaming clients, 2 threads)" measured goal
printf '%-48s %10.1f\n' "library batch-16 decode tokens/s" "$lib"
printf '%-48s %10.1f\n' "server aggregate tokens/s" "$got"
printf '%-48s %10.3f  %s\n' "server / library" "$ratio" ">= 0.9$([ "$ok" = 1 ] || echo '  MISSED')"
printf '%-48s %10s\n' "time to first token p50 / p99 (ms)" "$(kv ttft_p50_ms <"$D/serve.txt") / $(kv ttft_p99_ms <"$D/serve.txt")"
printf '%-48s %10s\n' "inter-token latency p50 / p99 (ms)" "$(kv itl_p50_ms <"$D/serve.txt") / $(kv itl_p99_ms <"$D/serve.txt")"
exit 0
