#!/usr/bin/env bash
# Runtime part: decode speed as a share of memory read bandwidth (F16 and F32,
# 1 and 2 threads), MoLE overhead against the same model without the expert
# term, prefill speed against SGEMM peak, anonymous memory while decoding
# (N 4 and N 16), decoding a table larger than memory inside a memory cgroup,
# and MoLKV decode speed at 512 and 2048 positions and with a window of 128.
# Baselines run in the same process tree, alternating; medians are reported.
set -u
. "$(dirname "$0")/lib.sh"
D=$LUTDB_BENCH_DIR/runtime
mkdir -p "$D"
T=$LUTDB_TOOLS
if [ "$(free_gb "$LUTDB_BENCH_DIR")" -lt 40 ]; then
	echo "runtime: needs 40 GB free in $LUTDB_BENCH_DIR (N 16 table is 15 GB)"; exit 1
fi
gen() { [ -f "$D/$1.lutdb" ] || "$T/gen_model" db "$D/$1.lutdb" "${@:2}" || exit 1; }
gen n4f16
gen n4f32 --dtype f32
gen n16f16 --experts 16
gen kv --family molkv --kv-dim 128 --kv-heads 4
gen kvw --family molkv --kv-dim 128 --kv-heads 4 --window 128
membw() { "$T/bench_membw" "$1" 1024 5 | sed -n 's/.*median=\([0-9.]*\).*/\1/p'; }
dec() { "$T/bench_decode" "$@" --tokens 48; }

# Decode as % of read bandwidth: alternate bandwidth and decode runs.
declare -A PCT TOKS
for dt in f16 f32; do
	for th in 1 2; do
		: >"$D/bw.t"; : >"$D/step.t"; : >"$D/bytes.t"; : >"$D/toks.t"
		for r in 1 2 3; do
			membw $th >>"$D/bw.t"
			dec "$D/n4$dt.lutdb" --threads $th >"$D/dec.txt"
			kv decode_step_ms_p50 <"$D/dec.txt" >>"$D/step.t"
			kv step_bytes <"$D/dec.txt" >>"$D/bytes.t"
			kv decode_tok_s <"$D/dec.txt" >>"$D/toks.t"
		done
		BW=$(median <"$D/bw.t"); ST=$(median <"$D/step.t"); BY=$(median <"$D/bytes.t")
		PCT[$dt$th]=$(echo "100 * $BY / ($ST / 1000) / ($BW * 10^9)" | bc -l)
		TOKS[$dt$th]=$(median <"$D/toks.t")
		echo "decode $dt threads=$th: bw=$BW GB/s step_p50=$ST ms bytes=$BY -> ${PCT[$dt$th]}%"
	done
done

# MoLE overhead: with the table read and mixed vs without the expert term.
: >"$D/on.t"; : >"$D/off.t"
for r in 1 2 3 4 5; do
	dec "$D/n4f16.lutdb" --threads 2 | kv decode_step_ms_p50 >>"$D/on.t"
	dec "$D/n4f16.lutdb" --threads 2 --no-experts | kv decode_step_ms_p50 >>"$D/off.t"
done
ON=$(median <"$D/on.t"); OFF=$(median <"$D/off.t")

# Prefill of 256 tokens at 2 threads against SGEMM peak on the model's shapes.
: >"$D/pf.t"; : >"$D/pg.t"; : >"$D/sg.t"
for r in 1 2 3; do
	"$T/bench_store" sgemm 256 768 3072 2 | kv sgemm_gflops >>"$D/sg.t"
	dec "$D/n4f16.lutdb" --threads 2 --prompt 256 >"$D/dec.txt"
	kv prefill_tok_s <"$D/dec.txt" >>"$D/pf.t"
	kv prefill_gflops <"$D/dec.txt" >>"$D/pg.t"
done
PF=$(median <"$D/pf.t"); PG=$(median <"$D/pg.t"); SG=$(median <"$D/sg.t")

# Anonymous memory while decoding, N 4 and N 16 (KV cache: 2 x L x positions x kv dim x 4 B).
{ peak_anon "$T/bench_decode" "$D/n4f16.lutdb" --threads 2 --tokens 48 >/dev/null; } 3>"$D/m4.t"
{ peak_anon "$T/bench_decode" "$D/n16f16.lutdb" --threads 2 --tokens 48 >/dev/null; } 3>"$D/m16.t"
read -r _ A4 <"$D/m4.t"; read -r _ A16 <"$D/m16.t"
KVMB=$(echo "2 * 12 * 256 * 768 * 4 / 1048576" | bc -l)

# Table larger than memory: N 16 (15 GB table) in a memory cgroup of dense
# weights + 512 MiB, distinct tokens so every step reads a cold row.
DENSE=$(dec "$D/n16f16.lutdb" --threads 2 --tokens 4 | kv dense_bytes)
LIMIT=$(echo "$DENSE + 512 * 1048576" | bc | cut -d. -f1)
CG=""
if [ -d /sys/fs/cgroup/memory ] && mkdir -p /sys/fs/cgroup/memory/lutdb-bench 2>/dev/null; then
	CG=/sys/fs/cgroup/memory/lutdb-bench
	echo "$LIMIT" >"$CG/memory.limit_in_bytes"
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir -p /sys/fs/cgroup/lutdb-bench 2>/dev/null; then
	CG=/sys/fs/cgroup/lutdb-bench
	echo "$LIMIT" >"$CG/memory.max"
fi
# 2000 distinct rows (590 MB) overflow the 512 MiB headroom: eviction happens.
"$T/bench_store" cold "$D/n16f16.lutdb" 1 >/dev/null # drops the file's pages
FREE=$("$T/bench_decode" "$D/n16f16.lutdb" --threads 2 --tokens 2000 --prompt 16 --distinct | kv decode_tok_s)
if [ -n "$CG" ]; then
	"$T/bench_store" cold "$D/n16f16.lutdb" 1 >/dev/null # drops the file's pages
	bash -c "echo \$\$ >$CG/cgroup.procs; exec $T/bench_decode $D/n16f16.lutdb --threads 2 --tokens 2000 --prompt 16 --distinct" >"$D/cg.txt"
	CGRC=$?
	LIM=$(kv decode_tok_s <"$D/cg.txt")
	FAILCNT=$(cat "$CG/memory.failcnt" 2>/dev/null || echo n/a)
	rmdir "$CG" 2>/dev/null
else
	CGRC=1; LIM=n/a; FAILCNT=n/a
fi
COLD=$("$T/bench_store" cold "$D/n16f16.lutdb" 100 | kv cold_pages_per_token_mean)

# MoLKV: decode at 512 and 2048 positions (W 0) and with W 128 at 2048.
K512=$(dec "$D/kv.lutdb" --threads 2 --context 512 | kv decode_tok_s)
K2048=$(dec "$D/kv.lutdb" --threads 2 --context 2048 | kv decode_tok_s)
KW=$(dec "$D/kvw.lutdb" --threads 2 --context 2048 | kv decode_tok_s)

printf '\n%-48s %12s %12s %8s  %s\n' "runtime (MoLE-160M geometry)" measured baseline ratio goal
for dt in f16 f32; do for th in 1 2; do
	goal=""; [ $dt = f16 ] && { [ $th = 1 ] && goal=">= 80%" || goal=">= 65%"; }
	printf '%-48s %8.1f tok/s %12s %7.1f%%  %s\n' "decode $dt, $th thread(s), % of read bandwidth" "${TOKS[$dt$th]}" "membw" "${PCT[$dt$th]}" "$goal"
done; done
printf '%-48s %9s ms %9s ms %8.3f  %s\n' "MoLE overhead: step with / without experts" "$ON" "$OFF" "$(echo "$ON / $OFF" | bc -l)" "<= 1.05"
printf '%-48s %8.0f tok/s %9s GF %7.1f%%  %s\n' "prefill 256 tokens, 2 threads (vs SGEMM peak)" "$PF" "$SG" "$(echo "100 * $PG / $SG" | bc -l)" ">= 1000 tok/s"
printf '%-48s %9.1f MB %9.1f MB %8s  %s\n' "RssAnon decoding: N 4 / N 16" "$(echo "$A4 / 1024" | bc -l)" "$(echo "$A16 / 1024" | bc -l)" "" "<= 64 MB + KV ($(printf %.1f "$KVMB") MB)"
printf '%-48s %8s tok/s %8s tok/s %8s  %s\n' "N 16 in cgroup (dense + 512 MiB) vs unconstrained" "$LIM" "$FREE" "$( [ "$LIM" != n/a ] && echo "$LIM / $FREE" | bc -l | cut -c1-5)" "not killed: $([ "$CGRC" = 0 ] && echo yes || echo NO) (failcnt $FAILCNT)"
printf '%-48s %12s %12s\n' "  cold pages per token (N 16 row: 72 pages + 1)" "$COLD" ""
printf '%-48s %8s tok/s %8s tok/s %8s\n' "MoLKV decode at 512 / 2048 positions (W 0)" "$K512" "$K2048" ""
printf '%-48s %8s tok/s\n' "MoLKV decode at 2048 positions, W 128" "$KW"
