#!/usr/bin/env bash
# Issue 26 at 32 px: the study CNN (benchmarks/train_baseline.sh), its weight-90 and filter-50 models, every export
# format (the converter's and LiteRT's quantizer's), then one bench of every file side by side
# (benchmarks/quantizer.py). Resumable. `bash benchmarks/quantizer.sh prepare` trains and exports only (a busy
# machine is fine); `bash benchmarks/quantizer.sh` also times, so run it with nothing else running.
set -euo pipefail
cd "$(dirname "$0")/.."
export WS=${WS:-benchmarks/work/runs}
EP=.venv/bin/edgeprune
EPOCHS=${EPOCHS:-5}
LR=${LR:-3e-4}
bash benchmarks/train_baseline.sh
[ -f "$WS/cifar-baseline-weight-90/run.json" ] || $EP prune cifar-baseline -w "$WS" --method weight --sparsity 0.9 \
  --epochs "$EPOCHS" --lr "$LR" --out cifar-baseline-weight-90 -q
[ -f "$WS/cifar-baseline-filter-50/run.json" ] || $EP prune cifar-baseline -w "$WS" --method filter --ratio 0.5 \
  --epochs "$EPOCHS" --lr "$LR" --out cifar-baseline-filter-50 -q
RUNS=(--run 32:dense=cifar-baseline --run 32:weight-90=cifar-baseline-weight-90 --run 32:filter-50=cifar-baseline-filter-50)
if [ "${1:-}" = prepare ]; then
  exec .venv/bin/python benchmarks/quantizer.py --workspace "$WS" "${RUNS[@]}" --prepare
fi
exec .venv/bin/python benchmarks/quantizer.py --workspace "$WS" "${RUNS[@]}"
