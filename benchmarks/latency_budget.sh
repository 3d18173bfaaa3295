#!/usr/bin/env bash
# Issue 13: probe the study CNN (32 px, cifar10-animals), measure the probe on this machine (2 threads), check the
# table, then prune to 0.5x and 0.3x of the dense prediction and compare with uniform filter pruning at equal
# latency (benchmarks/latency_budget.py). Resumable. Probing takes minutes (hundreds of conversions); measuring and
# benching want an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=benchmarks/work/recovery
W=benchmarks/work/latency
OUT=benchmarks/results/latency
mkdir -p "$W" "$OUT"
WS="$WS" bash benchmarks/train_baseline.sh
EP=.venv/bin/edgeprune
if [ ! -f "$W/probe/manifest.json" ]; then
  $EP latency probe cifar-baseline -w "$WS" --formats fp32,int8 --round-to 8 --points 5 --variants 12 --out "$W/probe" -q
fi
if [ "${1:-}" != "probe-only" ]; then
  $EP latency measure "$W/probe" --threads 2 --runs 100 --json "$W/table.json" -q
  cp "$W/table.json" "$OUT/table.json"
  $EP latency check "$W/table.json" | tee "$OUT/check.txt"
  .venv/bin/python benchmarks/latency_budget.py
fi
