#!/usr/bin/env bash
# Issue 26: the study CNN at 32 px (benchmarks/train_baseline.sh) and at 64 px (PX=64: 10 epochs, the pruned models
# fine-tuned 3), its weight-90 and filter-50 models, every export format (the converter's and LiteRT's quantizer's),
# then one bench of every file side by side (benchmarks/quantizer.py). Resumable.
#   PX=32 bash benchmarks/quantizer.sh prepare; PX=64 bash benchmarks/quantizer.sh prepare   # train, prune, export
#   bash benchmarks/quantizer.sh                       # both sizes' files timed in one call: nothing else running
#   SIZES=32 bash benchmarks/quantizer.sh              # one size only
#   SKIP="--skip a16w8" ...                             # a format not made (said in the section)
set -euo pipefail
cd "$(dirname "$0")/.."
export WS=${WS:-benchmarks/work/runs}
EP=.venv/bin/edgeprune
EPOCHS=${EPOCHS:-5}
LR=${LR:-3e-4}
DATA=${DATA:-../shared/data/cifar10-animals}
PX=${PX:-32}
prepare() {  # $1: px, $2: the baseline's name
  if [ "$1" = 32 ]; then
    bash benchmarks/train_baseline.sh
  elif [ ! -f "$WS/$2/run.json" ]; then
    if [ -d "$WS/.$2.partial/ckpt" ]; then
      $EP train --resume --out "$2" -w "$WS" -q
    else
      $EP train --data "$DATA" --image-size "$1" --limit-per-class 3000 --epochs 10 --lr 1e-3 --augment light \
        -w "$WS" --out "$2" --force -q
    fi
  fi
  local ep=$EPOCHS
  [ "$1" = 32 ] || ep=3
  [ -f "$WS/$2-weight-90/run.json" ] || $EP prune "$2" -w "$WS" --method weight --sparsity 0.9 \
    --epochs "$ep" --lr "$LR" --out "$2-weight-90" -q
  [ -f "$WS/$2-filter-50/run.json" ] || $EP prune "$2" -w "$WS" --method filter --ratio 0.5 \
    --epochs "$ep" --lr "$LR" --out "$2-filter-50" -q
}
RUNS=()
for px in ${SIZES:-32 64}; do
  base=cifar-baseline
  [ "$px" = 32 ] || base=cifar$px-baseline
  if [ "${1:-}" = prepare ]; then
    [ "$px" = "$PX" ] || continue  # prepare one size per call (two may run at once)
    prepare "$px" "$base"
  fi
  [ -f "$WS/$base/run.json" ] || continue
  RUNS+=(--run "$px:dense=$base" --run "$px:weight-90=$base-weight-90" --run "$px:filter-50=$base-filter-50")
done
if [ "${1:-}" = prepare ]; then
  exec .venv/bin/python benchmarks/quantizer.py --workspace "$WS" "${RUNS[@]}" ${SKIP:-} --prepare
fi
exec .venv/bin/python benchmarks/quantizer.py --workspace "$WS" "${RUNS[@]}" ${SKIP:-}
