#!/usr/bin/env bash
# Issue 15: the same 6-cell sweep with the local executor and with Ray (a local Ray instance on this machine,
# CPUS_PER_CELL CPUs per cell, 1 by default, recorded in wall.json), on ../shared/data/cifar10-animals at 32 px, 1 fine-tuning epoch per cell so the
# whole comparison takes minutes. Writes each results.jsonl and the wall times into benchmarks/results/ray_sweep/.
# Run it on an otherwise idle machine: the two executors are timed one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${WS:-benchmarks/work/recovery}  # holds cifar-baseline (benchmarks/train_baseline.sh)
OUT=benchmarks/results/ray_sweep
CPUS_PER_CELL=${CPUS_PER_CELL:-1}
mkdir -p "$OUT"
WS="$WS" bash benchmarks/train_baseline.sh
GRID=(--method weight,filter --values 0.5,0.9 --control --epochs 1 --lr 3e-4 --formats fp32)
# fresh workspaces: no cell may be re-used from an earlier run
for ex in local ray; do
  rm -rf "benchmarks/work/ray_sweep/$ex"
  mkdir -p "benchmarks/work/ray_sweep/$ex"
  cp -r "$WS/cifar-baseline" "benchmarks/work/ray_sweep/$ex/"
done
wall() {  # wall EXECUTOR ARGS...: run the sweep, print its wall seconds
  local ex=$1; shift
  local t0; t0=$(date +%s.%N)
  .venv/bin/edgeprune sweep cifar-baseline "${GRID[@]}" -w "benchmarks/work/ray_sweep/$ex" \
    --out "benchmarks/work/ray_sweep/$ex/sweep" -q "$@" >/dev/null 2>"benchmarks/work/ray_sweep/$ex.err" || true
  python3 -c "import time,sys; print(round(time.time() - float(sys.argv[1]), 1))" "$t0"
}
local_s=$(wall local)
ray_s=$(wall ray --executor ray --cpus-per-cell "$CPUS_PER_CELL")
cp benchmarks/work/ray_sweep/local/sweep/results.jsonl "$OUT/local.jsonl"
cp benchmarks/work/ray_sweep/ray/sweep/results.jsonl "$OUT/ray.jsonl"
python3 - "$local_s" "$ray_s" "$OUT/wall.json" "$CPUS_PER_CELL" <<'PY'
import json, os, platform, sys
doc = {"local_wall_seconds": float(sys.argv[1]), "ray_wall_seconds": float(sys.argv[2]), "cpus": os.cpu_count(),
       "machine": platform.machine(), "grid": "weight,filter x 0.5,0.9 + dense + control, 1 epoch, fp32",
       "cpus_per_cell": float(sys.argv[4])}
open(sys.argv[3], "w").write(json.dumps(doc, indent=2) + "\n")
PY
cat "$OUT/wall.json"
