#!/usr/bin/env bash
# Issue 24, the fine-tuning budget: does the gap to the control close with more fine-tuning, and does pruning beat
# training the small model from scratch? The study CNN on ../shared/data/cifar10-animals at 32 px
# (benchmarks/train_baseline.sh, its own workspace). Cells filter-50, filter-70, weight-90, fine-tuned E = 3, 10, 30,
# 60 epochs at the parent's own rate with early stopping off, by two recipes:
#   - plateau: the rate starts at the parent's (1e-3) and halves when val_loss stalls (the pre-check's best);
#   - rewind:  the parent's recorded per-epoch rates replayed (--lr-schedule rewind).
# Each recipe and E has its control (the dense model fine-tuned alike); each cell and E has a scratch twin (its
# architecture from random weights at the lineage's compute, --scratch-budget flops), trained once, with plateau.
# filter-50 and its controls run a second seed. Each finished run's run.json is summarised into
# benchmarks/results/budget/ (benchmarks/summarize_run.py), which benchmarks/sections.py renders.
# Cheap cells first (E ascending), so a partial run already answers something. About 10 hours on 2 cores,
# resumable run by run (it spans sessions): bash benchmarks/budget.sh > budget.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${WS:-benchmarks/work/budget}
LR=${LR:-1e-3}
OUT=${RESULTS:-benchmarks/results/budget}  # where the run summaries go
mkdir -p "$WS" "$OUT"
WS="$WS" bash benchmarks/train_baseline.sh
EP=.venv/bin/edgeprune
if ! .venv/bin/python benchmarks/budget_parent.py "$WS/cifar-baseline/run.json" "$OUT"; then
  echo "the committed cells above come from another cifar-baseline; move them out of $OUT to start the study again"
  exit 1
fi

unset RECIPE  # given per call below (RECIPE="" cell ...); one exported by the caller would change every cell
cell() {  # cell NAME E OPTIONS...; with CELLS="name ...", only those. RECIPE: the study's (empty: prune's defaults)
  local name=$1 e=$2; shift 2
  local recipe_flags=${RECIPE-"--lr $LR --patience 0"}
  if [ -n "${CELLS:-}" ] && [[ " $CELLS " != *" $name "* ]]; then return; fi
  # a cell committed by an earlier session (same parent, checked above) is kept, unless CELLS asks for its run folder
  if [ -z "${CELLS:-}" ] && [ ! -f "$WS/$name/run.json" ] && [ -f "$OUT/$name.json" ]; then return; fi
  if [ ! -f "$WS/$name/run.json" ]; then
    echo "== $name: E=$e $* ($(date +%H:%M:%S))"
    # shellcheck disable=SC2086  # the recipe's flags split into words
    $EP prune cifar-baseline "$@" --epochs "$e" $recipe_flags -w "$WS" --out "$name" --force -q
  fi
  .venv/bin/python benchmarks/summarize_run.py "$WS/$name/run.json" "$OUT/$name.json"
}

for e in ${BUDGETS:-3 10 30 60}; do
  for seed in 42 1; do
    s=""; [ "$seed" = 42 ] || s="-s$seed"
    for recipe in plateau rewind; do
      twin=""; [ "$recipe" = plateau ] && twin="--scratch"
      cell "control-$recipe-e$e$s" "$e" --method none --lr-schedule "$recipe" --seed "$seed"
      cell "f50-$recipe-e$e$s" "$e" --method filter --ratio 0.5 --lr-schedule "$recipe" $twin --seed "$seed"
      [ "$seed" = 42 ] || continue  # the second seed: filter-50 and its controls only
      cell "f70-$recipe-e$e" "$e" --method filter --ratio 0.7 --lr-schedule "$recipe" $twin --seed "$seed"
      cell "w90-$recipe-e$e" "$e" --method weight --sparsity 0.9 --lr-schedule "$recipe" $twin --seed "$seed"
    done
  done
done
# Item 5: prune's shipped recipe (its default --lr, --patience and --lr-schedule; only E and the seed given) on
# filter-50 at E=30, beside the study's recipe on the same parent, seed and scratch twin, to decide the defaults
RECIPE="" cell f50-default-e30 30 --method filter --ratio 0.5 --seed 42
[ -n "${CELLS:-}" ] || echo "budget runs done"
