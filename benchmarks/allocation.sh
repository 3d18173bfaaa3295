#!/usr/bin/env bash
# Issue 24, item 4: allocation at equal latency (benchmarks/allocation.py says what is compared). It runs in the budget
# study's workspace: the uniform cell and its control are the study's E=30 plateau runs. Their run folders are needed
# (the models and their test answers), so they are trained here whenever this workspace lacks them, even where an
# earlier session committed their summaries, f50's scratch twin included (about an hour). The latency table is the
# study CNN's at 32 px, probed and measured by the first half of benchmarks/optimize.sh.
#   bash benchmarks/allocation.sh pick      # the uniform cell, its control, then candidate widths timed (quiet)
#   bash benchmarks/allocation.sh prepare   # prune and export the picks (may share the machine)
#   bash benchmarks/allocation.sh           # what is missing, then the files side by side: nothing else running
set -euo pipefail
cd "$(dirname "$0")/.."
export WS=${WS:-benchmarks/work/budget} E=${E:-30}  # E: the fine-tuning epochs of every model compared
[ -f benchmarks/work/optimize/table.json ] || { echo "no latency table: run benchmarks/optimize.sh's probe and measure steps first (its lines up to table.json)"; exit 1; }
CELLS="control-plateau-e$E f50-plateau-e$E" BUDGETS=$E bash benchmarks/budget.sh
[ -f "$WS/alloc-sensitivity.json" ] || .venv/bin/edgeprune sensitivity cifar-baseline -w "$WS" \
  --out "$WS/alloc-sensitivity.json" -q
exec .venv/bin/python benchmarks/allocation.py "$@"
