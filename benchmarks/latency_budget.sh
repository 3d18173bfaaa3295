#!/usr/bin/env bash
# Issue 13: the study CNN at 64 px on cifar10-animals (at 32 px the whole model runs in a fraction of a millisecond,
# near the per-invoke overhead that each segment's file pays again), probed, the probe measured on this machine
# (2 threads), the table checked, then pruned to 0.5x and 0.3x of the dense prediction and compared with uniform
# filter pruning at equal latency (benchmarks/latency_budget.py). Resumable.
# Probing takes minutes (hundreds of conversions); measuring and benching want an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
W=benchmarks/work/latency
WS=$W/runs
OUT=benchmarks/results/latency
DATA=${DATA:-../shared/data/cifar10-animals}
mkdir -p "$W" "$OUT"
EP=.venv/bin/edgeprune
if [ ! -f "$WS/cifar64-baseline/run.json" ]; then
  $EP train --data "$DATA" --image-size 64 --limit-per-class 2000 --epochs 8 --lr 1e-3 --augment light --patience 3 \
    -w "$WS" --out cifar64-baseline --force -q
fi
if [ ! -f "$W/probe/manifest.json" ]; then
  $EP latency probe cifar64-baseline -w "$WS" --formats fp32,int8 --round-to 8 --points 5 --variants 12 --fit-variants 4 \
    --out "$W/probe" -q
fi
if [ "${1:-}" != "probe-only" ]; then
  $EP latency measure "$W/probe" --threads 2 --json "$W/table.json" -q
  cp "$W/table.json" "$OUT/table.json"
  $EP latency check "$W/table.json" | tee "$OUT/check.txt"
  .venv/bin/python benchmarks/latency_budget.py
fi
