#!/usr/bin/env bash
# The study on real photos, one script: baseline, weight/filter/hybrid sweeps with a control, the key cells over
# more seeds, clustering, exports (fp32, int8), one bench of every file in interleaved rounds, the timing resolution
# and speed checks; then the small result files go to benchmarks/results/study/ and BENCHMARKS.md is written from
# them. Resumable: every step skips what is already done. About an hour on 2 cores; run it with nothing else running
# (the timings are side by side, but a busy machine widens their intervals):
#   bash benchmarks/study.sh > study.log 2>&1 &     (needs ../shared/data/cifar10-animals and `make venv`)
set -euo pipefail
cd "$(dirname "$0")/.."
W=benchmarks/work
export WS=${WS:-$W/runs}
EP=.venv/bin/edgeprune
PY=.venv/bin/python
SW=$W/sweep
SEEDS=$W/seeds
RES=benchmarks/results
EPOCHS=${EPOCHS:-3}
LR=${LR:-3e-4}
mkdir -p "$RES" "$W"
start=$(date +%s)
bash benchmarks/train_baseline.sh
$EP sweep cifar-baseline -w "$WS" --method weight,filter --values 0.3,0.5,0.7,0.9 --formats fp32,int8 \
  --control --epochs "$EPOCHS" --lr "$LR" --out "$SW" -q || true
$EP sweep cifar-baseline -w "$WS" --method hybrid --hybrid-ratio 0.3 --values 0.5,0.9 --formats fp32,int8 \
  --epochs "$EPOCHS" --lr "$LR" --out "$SW" -q || true
# 16-cluster sparsity-preserving clustering on top of the 90 % weight-pruned model (the size-floor goal)
if [ ! -f "$WS/cifar-w90-c16/run.json" ]; then
  $EP prune cifar-baseline-weight-90 -w "$WS" --method weight --sparsity 0.9 --schedule constant --epochs 2 --lr 1e-4 \
    --cluster 16 --out cifar-w90-c16 -q
fi
[ -f "$SW/exports/weight-90-c16/export.json" ] || $EP export cifar-w90-c16 -w "$WS" --formats fp32,int8 --out "$SW/exports/weight-90-c16" -q
# filter pruning at 0.5 rounded to multiples of 8 (SIMD-friendly widths)
if [ ! -f "$WS/cifar-f50-r8/run.json" ]; then
  $EP prune cifar-baseline -w "$WS" --method filter --ratio 0.5 --round-to 8 --epochs "$EPOCHS" --lr "$LR" --out cifar-f50-r8 -q
fi
[ -f "$SW/exports/filter-50-r8/export.json" ] || $EP export cifar-f50-r8 -w "$WS" --formats fp32,int8 --out "$SW/exports/filter-50-r8" -q
# the key cells with two more seeds, each against a control fine-tuned with its own seed (seed 42 is the sweep above)
$EP sweep cifar-baseline -w "$WS" --method weight --values 0.9 --seeds 1,2 --control --formats fp32 \
  --epochs "$EPOCHS" --lr "$LR" --out "$SEEDS" -q || true
$EP sweep cifar-baseline -w "$WS" --method filter --values 0.5,0.7 --seeds 1,2 --control --formats fp32 \
  --epochs "$EPOCHS" --lr "$LR" --out "$SEEDS" -q || true
[ -f "$W/sensitivity.json" ] || $EP sensitivity cifar-baseline -w "$WS" --out "$W/sensitivity.json" -q
[ -f "$W/train_seconds.txt" ] || echo "$(($(date +%s) - start))" > "$W/train_seconds.txt"
# every file side by side in one bench call at the defaults (interleaved rounds, intervals)
t=$(date +%s)
[ -f "$W/bench.json" ] || $EP bench "$SW"/exports/*/*.tflite --threads 2 --json "$W/bench.json" -q > /dev/null
[ -f "$W/bench_seconds.txt" ] || echo "$(($(date +%s) - t))" > "$W/bench_seconds.txt"
$PY benchmarks/bench_resolution.py "$SW/exports/dense/fp32.tflite" "$SW/exports/dense/int8.tflite"
$PY benchmarks/pipeline_speed.py --repeats 10 --json "$RES/pipeline_speed.json"
$PY benchmarks/bench_overhead.py "$SW/exports/dense/fp32.tflite" "$SW/exports/dense/int8.tflite" --json "$RES/bench_overhead.json"
[ ! -f .cache/pi-check/pi-check.json ] || cp .cache/pi-check/pi-check.json "$RES/pi_check.json"  # from `make pi-check`
$PY benchmarks/study_results.py --work "$W"
$PY benchmarks/sections.py
