#!/usr/bin/env bash
# Storage part (issue: foundation): pack throughput against SGEMM peak, pack
# peak anonymous memory and its growth with V, file/raw bytes, cold pages per
# token row, warm zero-copy row reads against a flat mmap, codec ratios, and
# the table-record granularity measurements behind spec/FORMAT.md section 9.
set -u
. "$(dirname "$0")/lib.sh"
D=$LUTDB_BENCH_DIR/store
mkdir -p "$D"
V=50304 d=768 L=12 N=4 I=3072 H=12
THREADS=$(nproc)
if [ "$(free_gb "$LUTDB_BENCH_DIR")" -lt 12 ]; then
	echo "store: needs 12 GB free in $LUTDB_BENCH_DIR"; exit 1
fi
"$LUTDB_TOOLS/gen_model" ckpt "$D/ckpt" --vocab $V --hidden $d --layers $L --experts $N --inter $I --heads $H || exit 1
"$LUTDB_TOOLS/gen_model" ckpt "$D/ckpt-v4" --vocab $((V / 4)) --hidden $d --layers $L --experts $N --inter $I --heads $H || exit 1
# Rows per reparameterization block, as pack chooses them (192 MiB budget).
ROWS=$(( (192 * 1048576 / (L * N * d * 6)) / 16 * 16 ))
sg() { "$LUTDB_TOOLS/bench_store" sgemm $ROWS $d $I $THREADS | kv sgemm_gflops; }
s1=$(sg)
{ peak_anon "$LUTDB_BIN" pack "$D/ckpt" "$D/m.lutdb" --quiet --threads $THREADS; } 3>"$D/pack.t" || exit 1
s2=$(sg)
{ peak_anon "$LUTDB_BIN" pack "$D/ckpt-v4" "$D/m4.lutdb" --quiet --threads $THREADS; } 3>"$D/pack4.t" || exit 1
s3=$(sg)
read -r T MEM <"$D/pack.t"
read -r T4 MEM4 <"$D/pack4.t"
SG=$(printf '%s\n' "$s1" "$s2" "$s3" | median)
FLOP=$(echo "$V * $L * $N * 4 * $d * $I" | bc)
FLOP4=$(echo "($V / 4) * $L * $N * 4 * $d * $I" | bc)
PG=$(echo "scale=1; $FLOP / $T / 10^9" | bc)
PG4=$(echo "scale=1; $FLOP4 / $T4 / 10^9" | bc)
"$LUTDB_BIN" info "$D/m.lutdb" --json >"$D/info.json"
FILE=$(grep -m1 '"file_bytes"' "$D/info.json" | tr -dc 0-9)
RAW=$(grep -m1 '"raw_bytes"' "$D/info.json" | tr -dc 0-9)
"$LUTDB_TOOLS/bench_store" cold "$D/m.lutdb" 200 >"$D/cold.txt"
"$LUTDB_TOOLS/bench_store" warm "$D/m.lutdb" 9 >"$D/warm.txt"
"$LUTDB_TOOLS/bench_store" codec "$D/m.lutdb" 500 >"$D/codec.txt"
"$LUTDB_TOOLS/bench_store" grain "$D" 8192 73728 1 4 16 64 >"$D/grain.txt"
cat "$D/cold.txt" "$D/warm.txt" "$D/codec.txt" "$D/grain.txt"
printf '\n%-44s %14s %14s %8s  %s\n' "storage (MoLE-160M-4E, F16, $THREADS threads)" measured baseline ratio goal
printf '%-44s %11s GF %11s GF %8.2f  %s\n' "pack reparameterization vs SGEMM peak" "$PG" "$SG" "$(echo "$PG / $SG" | bc -l)" ">= 0.70"
printf '%-44s %11s GF %11s GF %8.2f  %s\n' "  same, V/4 checkpoint" "$PG4" "$SG" "$(echo "$PG4 / $SG" | bc -l)" ""
printf '%-44s %11s MB %11s MB %8.2f  %s\n' "pack peak RssAnon (V vs V/4)" "$((MEM / 1024))" "$((MEM4 / 1024))" "$(echo "$MEM / $MEM4" | bc -l)" "<= 512 MB, flat in V"
printf '%-44s %14s %14s %8.4f  %s\n' "file bytes / raw bytes" "$FILE" "$RAW" "$(echo "$FILE / $RAW" | bc -l)" "<= 1.02"
printf '%-44s %14s %14s %8.2f  %s\n' "cold pages per token row (mean, min row)" "$(kv cold_pages_per_token_mean <"$D/cold.txt")" "$(kv cold_pages_row_minimum <"$D/cold.txt")" "$(echo "$(kv cold_pages_per_token_mean <"$D/cold.txt") / $(kv cold_pages_row_minimum <"$D/cold.txt")" | bc -l)" "= min (+1 header page)"
printf '%-44s %11s ns %11s ns %8s  %s\n' "warm zero-copy row read vs flat mmap" "$(kv warm_lutdb_ns_per_row <"$D/warm.txt")" "$(kv warm_flat_ns_per_row <"$D/warm.txt")" "$(kv warm_ratio_median <"$D/warm.txt")" "<= 1.15"
printf '%-44s %14s %14s %8s\n' "lz4 / shuffle-lz4 size ratio (random model)" "$(kv codec_lz4_ratio <"$D/codec.txt")" "$(kv codec_shuffle-lz4_ratio <"$D/codec.txt")" ""
echo "pack wall seconds: $T (V) and $T4 (V/4)"
