#!/usr/bin/env bash
# train_all.sh - every training run of the demo, one after another, resumable.
#
#   nohup nice -n 10 bash tests/demo/train_all.sh > build/demo-train.out 2>&1 &
#
# Runs train.py for each (family, seed) of the plan below, one process at a
# time, one torch thread.  Each run saves its state (weights, optimizer, RNG,
# step) in $DEMO_STATE/<family>-s<seed>/state.pt every few minutes and resumes
# from it when started again; a finished run leaves done.json there and is
# skipped.  So after a kill, or in a later session, the same command carries
# on where it stopped.  The default seed's checkpoints are the committed demo
# models (tests/demo/models/<family>); the other seeds' checkpoints stay in
# $DEMO_STATE/<family>-s<seed>/out (not committed, eval_ref.py reads them).
# Logs: tests/demo/logs/<family>-s<seed>.log.
#
# Environment: DEMO_STATE (default build/demo-train), DEMO_DATA (default
# build/demo-data, made by prepare_data.sh when missing), TRAIN_ARGS (extra
# train.py options for every run; changing a setting makes train.py refuse
# an existing state).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=${DEMO_STATE:-$ROOT/build/demo-train}
DATA=${DEMO_DATA:-$ROOT/build/demo-data}
PY=/usr/bin/python3
DEFAULT_SEED=1234
# The order: the three demo models first, then the other seeds.
PLAN="mole:1234 dense:1234 molkv:1234 mole:1235 molkv:1235 mole:1236 molkv:1236 dense:1235 dense:1236"

[ -f "$DATA/extra.ids" ] || bash "$HERE/prepare_data.sh" "$DATA"
mkdir -p "$STATE" "$HERE/logs"
for run in $PLAN; do
	fam=${run%%:*}
	seed=${run##*:}
	dir=$STATE/$fam-s$seed
	if [ -f "$dir/done.json" ]; then
		echo "train_all: $fam seed $seed done ($(cat "$dir/done.json"))"
		continue
	fi
	if [ "$seed" = "$DEFAULT_SEED" ]; then out=$HERE/models/$fam; else out=$dir/out; fi
	echo "train_all: $fam seed $seed -> $out ($(date -u +%H:%M:%S))"
	# shellcheck disable=SC2086
	"$PY" "$HERE/train.py" --family "$fam" --seed "$seed" --data "$DATA" --state "$dir" \
		--out "$out" --log "$HERE/logs/$fam-s$seed.log" --threads 1 ${TRAIN_ARGS:-}
done
echo "train_all: all runs done ($(date -u +%H:%M:%S))"
