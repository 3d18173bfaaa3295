#!/usr/bin/env bash
# Issue 25: `edgeprune optimize` on the cifar10-animals study CNN at 32 px (benchmarks/train_baseline.sh), with this
# machine as the device. The baseline is probed and the probe measured here (2 threads) into a latency table; then
# optimize runs at 0.5x and 0.25x of the dense fp32 prediction, and at 0.5x with a size budget; each pick is
# re-measured in a separate bench call beside the dense fp32 file (benchmarks/optimize.py). Resumable.
#   bash benchmarks/optimize.sh probe     # conversions only: may share the machine
#   bash benchmarks/optimize.sh           # measure, optimize, re-bench: nothing else running
#   bash benchmarks/optimize.sh repick    # finished optimizes pick again from their own bench files, then re-bench
set -euo pipefail
cd "$(dirname "$0")/.."
export WS=${WS:-benchmarks/work/runs}
W=benchmarks/work/optimize
EP=.venv/bin/edgeprune
mkdir -p "$W"
[ -f "$WS/cifar-baseline/run.json" ] || bash benchmarks/train_baseline.sh
if [ ! -f "$W/probe/manifest.json" ]; then
  $EP latency probe cifar-baseline -w "$WS" --formats fp32,int8 --round-to 8 --points 5 --variants 12 --fit-variants 4 \
    --out "$W/probe" --force -q
fi
[ "${1:-}" = probe ] && exit 0
if [ ! -f "$W/table.json" ]; then
  $EP latency measure "$W/probe" --threads 2 --json "$W/table.json.partial" -q
  mv "$W/table.json.partial" "$W/table.json"
fi
exec .venv/bin/python benchmarks/optimize.py --workspace "$WS" --table "$W/table.json" --work "$W" \
  $([ "${1:-}" = repick ] && echo --repick)
