#!/usr/bin/env bash
# Shards part: shard and merge throughput against a plain copy of the same
# bytes (cp, then sync of the copy, since shard and merge write durably), and decode speed through a 4-shard manifest against the single
# file.  A/B runs alternate; medians are reported.
set -u
. "$(dirname "$0")/lib.sh"
D=$LUTDB_BENCH_DIR/shard
mkdir -p "$D"
DB=$LUTDB_BENCH_DIR/store/m.lutdb
if [ ! -f "$DB" ]; then
	"$LUTDB_TOOLS/gen_model" db "$D/m.lutdb" || exit 1
	DB=$D/m.lutdb
fi
if [ "$(free_gb "$LUTDB_BENCH_DIR")" -lt 14 ]; then
	echo "shard: needs 14 GB free in $LUTDB_BENCH_DIR"; exit 1
fi
BYTES=$(stat -c %s "$DB")
cat "$DB" >/dev/null # warm: every run reads from the page cache
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null || exit 1; e=$(date +%s.%N); echo "$e - $s" | bc; }
for r in 1 2 3; do
	rm -rf "$D/copy" "$D/s4" "$D/merged.lutdb"
	# The baseline is a durable copy: shard and merge fsync what they write.
	echo "$(t sh -c "cp '$DB' '$D/copy' && sync '$D/copy'")" >>"$D/cp.t"
	rm -f "$D/copy"
	echo "$(t "$LUTDB_BIN" shard "$DB" "$D/s4" --count 4 --quiet)" >>"$D/shard.t"
	echo "$(t "$LUTDB_BIN" merge "$D/s4/manifest.json" "$D/merged.lutdb" --quiet)" >>"$D/merge.t"
done
CP=$(median <"$D/cp.t")
SH=$(median <"$D/shard.t")
MG=$(median <"$D/merge.t")
MB=$(echo "$BYTES / 1000000" | bc)
cmp <("$LUTDB_BIN" info "$DB" --json | grep '"digest"') <("$LUTDB_BIN" info "$D/merged.lutdb" --json | grep '"digest"') &&
	echo "merge: content digest equal to the original"
rm -f "$D/merged.lutdb"
# Decode through the manifest vs the single file, alternating.
for r in 1 2 3; do
	"$LUTDB_TOOLS/bench_decode" "$DB" --threads 2 --tokens 64 | kv decode_tok_s >>"$D/dec1.t"
	"$LUTDB_TOOLS/bench_decode" "$D/s4/manifest.json" --threads 2 --tokens 64 | kv decode_tok_s >>"$D/dec4.t"
done
D1=$(median <"$D/dec1.t")
D4=$(median <"$D/dec4.t")
printf '\n%-44s %14s %14s %8s  %s\n' "shards ($MB MB database)" measured baseline ratio goal
printf '%-44s %9.0f MB/s %9.0f MB/s %8.2f  %s\n' "shard --count 4 vs cp" "$(echo "$MB / $SH" | bc -l)" "$(echo "$MB / $CP" | bc -l)" "$(echo "$CP / $SH" | bc -l)" ">= 0.80"
printf '%-44s %9.0f MB/s %9.0f MB/s %8.2f  %s\n' "merge vs cp" "$(echo "$MB / $MG" | bc -l)" "$(echo "$MB / $CP" | bc -l)" "$(echo "$CP / $MG" | bc -l)" ">= 0.80"
printf '%-44s %9s tok/s %8s tok/s %8.3f  %s\n' "decode, 4-shard manifest vs file (2 thr)" "$D4" "$D1" "$(echo "$D4 / $D1" | bc -l)" ">= 0.98"
rm -rf "$D"
