#!/usr/bin/env bash
# Issue 14: what wins back the accuracy pruning costs, on ../shared/data/cifar10-animals at 32 px.
# Every variant and the controls fine-tune the same baseline for the same E epochs at the same rate; only the
# recipe differs (schedule, distillation, cuts). Each finished run's run.json is copied into
# benchmarks/results/recovery/, which benchmarks/sections.py renders. Resumable: finished runs are skipped.
# Takes about an hour on 2 cores; run it in the background:  bash benchmarks/recovery.sh > recovery.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${WS:-benchmarks/work/recovery}
E=${E:-10}
LR=${LR:-3e-4}
OUT=benchmarks/results/recovery
mkdir -p "$WS" "$OUT"
WS="$WS" bash benchmarks/train_baseline.sh
EP=.venv/bin/edgeprune

cell() {  # cell NAME OPTIONS...
  local name=$1; shift
  if [ ! -f "$WS/$name/run.json" ]; then
    echo "== $name: $*"
    $EP prune cifar-baseline "$@" --epochs "$E" --lr "$LR" -w "$WS" --out "$name" --force -q
  fi
  .venv/bin/python benchmarks/summarize_run.py "$WS/$name/run.json" "$OUT/$name.json"
}

for seed in ${SEEDS:-42}; do
  s=""; [ "$seed" = 42 ] || s="-s$seed"
  cell "control-plateau$s" --method none --seed "$seed"
  cell "control-cosine$s" --method none --lr-schedule cosine --seed "$seed"
  cell "f50-plateau$s" --method filter --ratio 0.5 --seed "$seed"
  cell "f50-cosine$s" --method filter --ratio 0.5 --lr-schedule cosine --seed "$seed"
  cell "f50-cosine-kd$s" --method filter --ratio 0.5 --lr-schedule cosine --distill --seed "$seed"
  cell "f50-cosine-steps3$s" --method filter --ratio 0.5 --lr-schedule cosine --steps 3 --seed "$seed"
  cell "f50-cosine-steps3-kd$s" --method filter --ratio 0.5 --lr-schedule cosine --steps 3 --distill --seed "$seed"
  cell "w90-plateau$s" --method weight --sparsity 0.9 --seed "$seed"
  cell "w90-cosine$s" --method weight --sparsity 0.9 --lr-schedule cosine --seed "$seed"
  cell "w90-cosine-kd$s" --method weight --sparsity 0.9 --lr-schedule cosine --distill --seed "$seed"
  cell "f70-plateau$s" --method filter --ratio 0.7 --seed "$seed"
  cell "f70-cosine$s" --method filter --ratio 0.7 --lr-schedule cosine --seed "$seed"
  cell "f70-cosine-steps3$s" --method filter --ratio 0.7 --lr-schedule cosine --steps 3 --seed "$seed"
  cell "f70-cosine-steps3-kd$s" --method filter --ratio 0.7 --lr-schedule cosine --steps 3 --distill --seed "$seed"
  # the parent (74 %) is a weaker teacher than its own control (78 % after E more epochs): teach with the control
  cell "f50-cosine-kdc$s" --method filter --ratio 0.5 --lr-schedule cosine --distill --teacher "control-cosine$s" --seed "$seed"
  cell "f50-cosine-kdc-a01-t10$s" --method filter --ratio 0.5 --lr-schedule cosine --distill --teacher "control-cosine$s" \
    --distill-alpha 0.1 --temperature 10 --seed "$seed"
  cell "w90-cosine-kdc$s" --method weight --sparsity 0.9 --lr-schedule cosine --distill --teacher "control-cosine$s" --seed "$seed"
  cell "f70-cosine-steps3-kdc$s" --method filter --ratio 0.7 --lr-schedule cosine --steps 3 --distill \
    --teacher "control-cosine$s" --seed "$seed"
done
# training noise: the control again with another seed (the paired s.e. covers only the choice of test images)
cell "control-cosine-s1" --method none --lr-schedule cosine --seed 1
echo "recovery runs done"
