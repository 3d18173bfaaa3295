#!/usr/bin/env bash
# The study on real photos, one script: baseline, weight/filter/hybrid sweeps with a control, clustering, exports
# (fp32, int8), benches side by side on this CPU, the speed checks, then BENCHMARKS.md.
# Resumable: every step skips what is already done. About an hour on 2 cores.
#   bash benchmarks/study.sh            (needs ../shared/data/cifar10-animals and `make venv`)
set -euo pipefail
cd "$(dirname "$0")/.."
export WS=${WS:-benchmarks/work/runs}
EP=.venv/bin/edgeprune
SW=benchmarks/work/sweep
RES=benchmarks/results
EPOCHS=${EPOCHS:-3}
LR=${LR:-3e-4}
mkdir -p "$RES"
start=$(date +%s)
bash benchmarks/train_baseline.sh
$EP sweep cifar-baseline -w "$WS" --method weight,filter --values 0.3,0.5,0.7,0.9 --formats fp32,int8 \
  --bench --control --epochs "$EPOCHS" --lr "$LR" --out "$SW" -q || true
$EP sweep cifar-baseline -w "$WS" --method hybrid --hybrid-ratio 0.3 --values 0.5,0.9 --formats fp32,int8 \
  --bench --epochs "$EPOCHS" --lr "$LR" --out "$SW" -q || true
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
$EP sensitivity cifar-baseline -w "$WS" --out "$RES/sensitivity.json" --force -q
# every file side by side in one bench call, three times; BENCHMARKS.md takes the median p50 of the three
for i in 1 2 3; do
  $EP bench "$SW"/exports/*/*.tflite --threads 2 --runs 300 --json "$RES/bench-cpu-$i.json" --force -q > /dev/null || true
done
.venv/bin/python benchmarks/pipeline_speed.py --json "$RES/pipeline_speed.json"
.venv/bin/python benchmarks/bench_overhead.py "$SW/exports/dense/fp32.tflite" "$SW/exports/dense/int8.tflite" --json "$RES/bench_overhead.json"
end=$(date +%s)
echo "$((end - start))" > "$RES/wall_seconds.txt"
.venv/bin/python benchmarks/write_benchmarks.py
