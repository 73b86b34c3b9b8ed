#!/usr/bin/env bash
# The server under load: 16 concurrent streaming clients (tests/bench/
# serve_load.js, greedy, 8-id prompts, 64 ids each) against `lutdb serve
# --parallel 16` on the MoLE-160M-4E F16 database of bench_5_batch.sh, next
# to the library's batch-16 decode throughput (bench_batch) measured in the
# same run.  Goal: aggregate tokens/s >= 0.9x the library's.  Also p50/p99
# time to first token and inter-token latency.  A missed goal is marked
# MISSED (it does not fail make bench).  LUTDB_SERVE_BENCH_DB runs it on
# another database (a quick check of the script on a small model), with
# LUTDB_SERVE_BENCH_CTX positions per sequence (default 256).
#
# Like for like: bench_batch's figure is the median of pure decode steps of
# 16 sequences (every prompt fed before the clock starts), so the goal
# compares it with the server's steady state (serve_load.js decode_tok_s:
# every stream decoding, the prompts and the uneven start and end of the 16
# streams left out), at the same positions (8-id prompts, 62 timed steps
# after 2 warm ones: positions 10-71, the server's 8-71) and threads.  The
# end-to-end figure (first request to last id: the 16 prompts and the
# ramp-up and -down counted) is shown next to what the library would take
# for the same work in lockstep (the 128 prompt ids at its prefill rate,
# then 63 batch-16 steps).  The load client's own CPU time is printed: it
# runs on the same cores as the server.
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
"$T/bench_batch" "$DB" --threads 2 --runs 3 --steps $((TOKENS - 2)) --context $PROMPT --prefill $((CLIENTS * PROMPT)) \
	--batches $CLIENTS >"$D/serve-lib.txt" || exit 1
lib=$(sed -n "s/^batch=$CLIENTS .* tok_s=\([0-9.]*\) .*/\1/p" "$D/serve-lib.txt")
lib_step=$(sed -n "s/^batch=$CLIENTS step_ms=\([0-9.]*\) .*/\1/p" "$D/serve-lib.txt")
lib_pf=$(kv prefill_tok_s <"$D/serve-lib.txt")
# The same work in lockstep: every prompt id at the prefill rate, then one
# step per id after each stream's first (which the prompt's last position gives).
lib_e2e=$(echo "scale=3; $CLIENTS * $TOKENS / ($CLIENTS * $PROMPT / $lib_pf + ($TOKENS - 1) * $lib_step / 1000)" | bc)
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
# The server's own counters around the run (/metrics): steps and ids.
metrics() { curl -s --max-time 10 "http://127.0.0.1:$port/metrics" | sed -n "s/^lutdb_$1 //p" | grep . || echo 0; }
steps0=$(metrics steps_total) gen0=$(metrics generated_tokens_total) pos0=$(metrics step_positions_total)
secs0=$(metrics step_seconds_total)
node "$(dirname "$0")/serve_load.js" "$port" $CLIENTS $PROMPT $TOKENS "$vocab" | tee "$D/serve.txt" || exit 1
steps=$(($(metrics steps_total) - steps0)) gen=$(($(metrics generated_tokens_total) - gen0))
pos=$(($(metrics step_positions_total) - pos0))
step_secs=$(echo "$(metrics step_seconds_total) - $secs0" | bc)
kill -TERM $pid
wait $pid
trap - EXIT

got=$(kv decode_tok_s <"$D/serve.txt")
e2e=$(kv tok_s <"$D/serve.txt")
ratio=$(echo "scale=3; $got / $lib" | bc)
ok=$(echo "$ratio >= 0.9" | bc)
per_step() { [ "$steps" -gt 0 ] && echo "scale=2; $1 / $steps" | bc || echo n/a; }
echo "server_steps=$steps server_ids_per_step=$(per_step $gen) server_positions_per_step=$(per_step $pos)" \
	"server_step_ms=$(per_step "1000 * $step_secs")"
printf '\n%-48s %10s  %s\n' "server ($CLIENTS streaming clients, 2 threads)" measured goal
printf '%-48s %10.1f\n' "library batch-$CLIENTS decode tokens/s" "$lib"
printf '%-48s %10.1f\n' "server aggregate decode tokens/s (all streaming)" "$got"
printf '%-48s %10.3f  %s\n' "server / library" "$ratio" ">= 0.9$([ "$ok" = 1 ] || echo '  MISSED')"
printf '%-48s %10.1f\n' "library, same work in lockstep, tokens/s" "$lib_e2e"
printf '%-48s %10.1f\n' "server end to end tokens/s (prompts counted)" "$e2e"
printf '%-48s %10.3f\n' "server / library, end to end" "$(echo "scale=3; $e2e / $lib_e2e" | bc)"
printf '%-48s %10s\n' "server ids per step (mean)" "$(per_step $gen)"
printf '%-48s %10s\n' "server step ms (mean, prompt steps included)" "$(per_step "1000 * $step_secs")"
printf '%-48s %10s\n' "load client CPU seconds (same cores)" "$(kv client_cpu_s <"$D/serve.txt")"
printf '%-48s %10s\n' "time to first token p50 / p99 (ms)" "$(kv ttft_p50_ms <"$D/serve.txt") / $(kv ttft_p99_ms <"$D/serve.txt")"
printf '%-48s %10s\n' "inter-token latency p50 / p99 (ms)" "$(kv itl_p50_ms <"$D/serve.txt") / $(kv itl_p99_ms <"$D/serve.txt")"
exit 0
