#!/usr/bin/env bash
# The study's CNN at 32 px on ../shared/data/cifar10-animals (the real-photo stand-in for Animals-10).
# 3,000 training photos per class (of 5,000), all 6,000 test photos. Resumable: re-running continues or skips.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${WS:-benchmarks/work/runs}
DATA=${DATA:-../shared/data/cifar10-animals}
if [ -f "$WS/cifar-baseline/run.json" ]; then echo "baseline exists"; exit 0; fi
if [ -d "$WS/.cifar-baseline.partial/ckpt" ]; then
  exec .venv/bin/edgeprune train --resume --out cifar-baseline -w "$WS"
fi
exec .venv/bin/edgeprune train --data "$DATA" --image-size 32 --limit-per-class 3000 --epochs 15 --lr 1e-3 \
  --augment light --patience 5 -w "$WS" --out cifar-baseline --force
